//! The node's command line: an unknown `--chain` is refused with a message that names it and the
//! chains it knows; the `testnet` spec carries its bootnodes, token and authorities; `benchmark
//! storage` measures ParityDB and writes a DbWeight file like the runtime's.

use matrixai_chain::testing::node_binary;
use std::process::{Command, Output};

/// A `matrixai-node` command: the built node, or `MATRIXAI_NODE`.
fn node() -> Command {
    Command::new(node_binary().unwrap_or_else(|error| panic!("{error}")))
}

/// Runs `command`, which must succeed.
fn succeed(command: &mut Command) -> Output {
    let output = command.output().expect("matrixai-node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn assert_refuses_unknown_chain(args: &[&str]) {
    let base_path = tempfile::tempdir().expect("a temporary base path");
    let output = node()
        .args(args)
        .arg("--base-path")
        .arg(base_path.path())
        .output()
        .expect("matrixai-node runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "`matrixai-node {}` must fail; stderr:\n{stderr}",
        args.join(" ")
    );
    assert!(
        stderr.contains("unknown chain `nope`") && stderr.contains("`dev`, `local`, `testnet`"),
        "stderr must name the unknown chain and the known ones:\n{stderr}"
    );
}

#[test]
fn build_spec_rejects_unknown_chain() {
    assert_refuses_unknown_chain(&["build-spec", "--chain", "nope"]);
}

#[test]
fn node_rejects_unknown_chain() {
    assert_refuses_unknown_chain(&["--chain", "nope"]);
}

#[test]
fn testnet_spec_has_bootnodes_and_token() {
    let output = succeed(node().args(["build-spec", "--chain", "testnet"]));
    let spec = String::from_utf8(output.stdout).expect("the spec is UTF-8 JSON");
    assert!(spec.contains(r#""chainType": "Live""#), "{spec}");
    assert_eq!(
        spec.matches("/dns/boot-").count(),
        3,
        "three bootnodes:\n{spec}"
    );
    assert!(spec.contains(r#""tokenSymbol": "MAI""#) && spec.contains(r#""tokenDecimals": 12"#));
    assert!(spec.contains(r#""ss58Format": 1616"#), "{spec}");
    assert!(spec.contains(r#""name": "MatrixAI Testnet""#), "{spec}");
}

#[test]
fn benchmark_storage_writes_db_weights() {
    let work = tempfile::tempdir().expect("a temporary directory");
    // The dev genesis' 42 keys, in blocks of 10 writes: small, but every step of the real run.
    succeed(
        node()
            .args(["benchmark", "storage", "--chain", "dev", "--db", "paritydb"])
            .args(["--state-version", "1", "--batch-size", "10"])
            .arg("--base-path")
            .arg(work.path().join("db"))
            .arg("--weight-path")
            .arg(work.path()),
    );
    let weights = std::fs::read_to_string(work.path().join("paritydb_weights.rs"))
        .expect("benchmark storage writes paritydb_weights.rs");
    let price = |op: &str| -> u64 {
        let line = weights
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{op}: ")))
            .unwrap_or_else(|| panic!("no `{op}:` price in:\n{weights}"));
        line.trim_start()[op.len() + 2..]
            .split(' ')
            .next()
            .and_then(|ns| ns.replace('_', "").parse().ok())
            .unwrap_or_else(|| panic!("unreadable price: {line}"))
    };
    let (read, write) = (price("read"), price("write"));
    assert!(read > 0 && write > 0, "read {read} ns, write {write} ns");
}
