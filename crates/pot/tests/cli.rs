//! The `matrixai-pot` binary end to end: train, inspect, verify, and a rejection exit code.

use std::fs;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_matrixai-pot");
const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/specs/iris-softmax.json");
const CHALLENGE: &str = "5f3a0000000000000000000000000000000000000000000000000000000000a1";

#[test]
fn train_inspect_verify_and_reject() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let train = Command::new(BIN)
        .args(["train", "--spec", SPEC, "--out"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let commitment: serde_json::Value = serde_json::from_slice(&train.stdout).unwrap();
    assert_eq!(commitment["v"], 1);
    assert!(train.stdout.len() <= 1024);
    let commitment_file = dir.path().join("commitment.json");
    fs::write(&commitment_file, &train.stdout).unwrap();

    let inspect = Command::new(BIN)
        .arg("inspect")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(inspect.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(summary["root"], commitment["root"]);
    assert_eq!(summary["checkpoints"], 201);

    let inspect_spec = Command::new(BIN).args(["inspect", SPEC]).output().unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&inspect_spec.stdout).unwrap();
    assert_eq!(plan["total_steps"], 12000);
    assert_eq!(plan["parameters"], 15);

    let verify = |extra: &[&str]| {
        Command::new(BIN)
            .args([
                "verify",
                "--spec",
                SPEC,
                "--challenge",
                CHALLENGE,
                "--bundle",
            ])
            .arg(&bundle)
            .arg("--commitment")
            .arg(&commitment_file)
            .args(extra)
            .output()
            .unwrap()
    };
    let accepted = verify(&["--segments", "4", "--threads", "2"]);
    assert_eq!(
        accepted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&accepted.stdout).unwrap();
    assert_eq!(report["verdict"], "accept");
    assert_eq!(report["segments"].as_array().unwrap().len(), 4);

    let model = bundle.join("model.bin");
    let mut bytes = fs::read(&model).unwrap();
    bytes[20] ^= 0x40;
    fs::write(&model, bytes).unwrap();
    let rejected = verify(&[]);
    assert_eq!(rejected.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&rejected.stdout).unwrap();
    assert_eq!(report["verdict"], "reject");
    assert_eq!(report["reasons"][0]["code"], "manifest_mismatch");
}

#[test]
fn invalid_spec_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(SPEC).unwrap()).unwrap();
    value["checkpoint_interval"] = 0.into();
    fs::write(&spec, serde_json::to_vec(&value).unwrap()).unwrap();
    let output = Command::new(BIN)
        .args(["train", "--out"])
        .arg(dir.path().join("b"))
        .arg("--spec")
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("checkpoint_interval must be at least 1")
    );
}
