//! The node's command line refuses an unknown `--chain` with a message that names it and the
//! chains it knows.

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
