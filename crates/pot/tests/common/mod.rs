//! Shared helpers of the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::OnceLock;

use matrixai_pot::{Exec, PreparedData, TaskSpec, examples};

pub struct Example {
    pub spec: TaskSpec,
    pub data: PreparedData,
}

fn load(json: &str) -> Example {
    let spec = TaskSpec::from_json(json.as_bytes()).expect("example spec is valid");
    let data = PreparedData::for_spec(&spec, None).expect("bundled data loads");
    Example { spec, data }
}

pub fn example(name: &str) -> &'static Example {
    static IRIS: OnceLock<Example> = OnceLock::new();
    static MLP: OnceLock<Example> = OnceLock::new();
    static CNN: OnceLock<Example> = OnceLock::new();
    static CANCER: OnceLock<Example> = OnceLock::new();
    match name {
        "iris-softmax" => IRIS.get_or_init(|| load(examples::IRIS_SOFTMAX)),
        "digits-mlp" => MLP.get_or_init(|| load(examples::DIGITS_MLP)),
        "digits-cnn" => CNN.get_or_init(|| load(examples::DIGITS_CNN)),
        "breast-cancer-mlp" => CANCER.get_or_init(|| load(examples::BREAST_CANCER_MLP)),
        other => panic!("no example {other}"),
    }
}

pub fn exec() -> Exec {
    Exec::single_thread()
}

/// A challenge seed as a validator would take it from a block hash.
pub fn challenge(n: u8) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[0] = n;
    seed[31] = 0x5a;
    seed
}
