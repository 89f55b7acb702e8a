//! Example task specs (also in `crates/pot/specs/`), used by tests, benchmarks and docs.

pub const IRIS_SOFTMAX: &str = include_str!("../specs/iris-softmax.json");
pub const DIGITS_MLP: &str = include_str!("../specs/digits-mlp.json");
pub const DIGITS_CNN: &str = include_str!("../specs/digits-cnn.json");
pub const BREAST_CANCER_MLP: &str = include_str!("../specs/breast-cancer-mlp.json");

/// (name, spec JSON) of every example.
pub const ALL: [(&str, &str); 4] = [
    ("iris-softmax", IRIS_SOFTMAX),
    ("digits-mlp", DIGITS_MLP),
    ("digits-cnn", DIGITS_CNN),
    ("breast-cancer-mlp", BREAST_CANCER_MLP),
];
