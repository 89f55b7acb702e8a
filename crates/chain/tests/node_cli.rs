//! The node's command line: an unknown `--chain` is refused with a message that names it and the
//! chains it knows; the `testnet` spec carries its bootnodes, token and authorities.

use matrixai_chain::testing::node_binary;
use std::process::Command;

fn assert_refuses_unknown_chain(args: &[&str]) {
    let binary = node_binary().unwrap_or_else(|error| panic!("{error}"));
    let base_path = tempfile::tempdir().expect("a temporary base path");
    let output = Command::new(&binary)
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
    let binary = node_binary().unwrap_or_else(|error| panic!("{error}"));
    let output = Command::new(&binary)
        .args(["build-spec", "--chain", "testnet"])
        .output()
        .expect("matrixai-node runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let spec = String::from_utf8(output.stdout).expect("the spec is UTF-8 JSON");
    assert!(spec.contains(r#""chainType": "Live""#), "{spec}");
    assert_eq!(spec.matches("/dns/boot-").count(), 3, "three bootnodes:\n{spec}");
    assert!(spec.contains(r#""tokenSymbol": "MAI""#) && spec.contains(r#""tokenDecimals": 12"#));
    assert!(spec.contains(r#""ss58Format": 1616"#), "{spec}");
    assert!(spec.contains(r#""name": "MatrixAI Testnet""#), "{spec}");
}
