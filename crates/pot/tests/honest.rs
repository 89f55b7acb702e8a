//! Determinism of the engine and acceptance of honest bundles.

mod common;

use common::{challenge, example, exec};
use matrixai_pot::{Exec, Verdict, Verifier, train_bundle};

fn root_with(name: &str, exec: &Exec) -> (String, String) {
    let ex = example(name);
    let dir = tempfile::tempdir().unwrap();
    let summary = train_bundle(
        &ex.spec,
        &ex.data,
        &dir.path().join("bundle"),
        exec,
        |_, _| {},
    )
    .unwrap();
    (
        summary.transcript.root.to_string(),
        summary.transcript.final_model_sha256.to_string(),
    )
}

/// Same spec, same bytes: across repeated runs, 1, 2 and 3 threads, and any split of the
/// rows between tasks (which is what a different core count or cache size would change).
fn assert_bit_identical(name: &str) {
    let reference = root_with(name, &Exec::single_thread());
    assert_eq!(
        root_with(name, &Exec::single_thread()),
        reference,
        "{name}: repeated run"
    );
    for (threads, rows_per_task) in [(2, None), (2, Some(1)), (3, Some(7)), (1, Some(3))] {
        let exec = Exec::new(threads, rows_per_task).unwrap();
        assert_eq!(
            root_with(name, &exec),
            reference,
            "{name}: {threads} threads, {rows_per_task:?} rows per task"
        );
    }
}

#[test]
fn iris_softmax_is_bit_identical_across_runs_and_threads() {
    assert_bit_identical("iris-softmax");
}

#[test]
fn digits_mlp_is_bit_identical_across_runs_and_threads() {
    assert_bit_identical("digits-mlp");
}

#[test]
fn digits_cnn_is_bit_identical_across_runs_and_threads() {
    assert_bit_identical("digits-cnn");
}

/// Honest bundles of every example pass under many challenges and sample sizes.
#[test]
fn honest_bundles_of_every_example_are_accepted() {
    for name in [
        "iris-softmax",
        "digits-mlp",
        "digits-cnn",
        "breast-cancer-mlp",
    ] {
        let ex = example(name);
        let exec = exec();
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        let summary = train_bundle(&ex.spec, &ex.data, &bundle, &exec, |_, _| {}).unwrap();
        assert!(
            summary.transcript.accuracy_ppm >= ex.spec.min_eval_accuracy_ppm,
            "{name} trains to its minimum"
        );
        let verifier = Verifier::new(&ex.spec, &ex.data, &exec).unwrap();
        let checked = verifier.check_bundle(&bundle, None);
        assert!(checked.reasons.is_empty(), "{name}: {:?}", checked.reasons);
        for (seed, segments) in [(1, 1), (2, 4), (3, 4), (4, 16), (5, usize::MAX)] {
            let report = verifier.replay_challenge(&checked, challenge(seed), segments);
            assert_eq!(
                report.verdict,
                Verdict::Accept,
                "{name}: {:?}",
                report.reasons
            );
            assert_eq!(report.segments.len(), segments.min(report.segments_total));
            assert_eq!(
                *report.segments_sampled.last().unwrap(),
                report.segments_total - 1,
                "last segment sampled"
            );
            for segment in &report.segments {
                assert_eq!((segment.distances.l1, segment.distances.linf), (0.0, 0.0));
                assert_eq!(segment.distances.cosine, 1.0);
            }
        }
    }
}

#[test]
fn an_order_with_a_higher_minimum_is_not_met() {
    let ex = example("iris-softmax");
    let exec = exec();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ex.spec.clone();
    spec.min_eval_accuracy_ppm = 1_000_000;
    let bundle = dir.path().join("bundle");
    let summary = train_bundle(&spec, &ex.data, &bundle, &exec, |_, _| {}).unwrap();
    assert!(summary.transcript.accuracy_ppm < 1_000_000);
    let report =
        Verifier::new(&spec, &ex.data, &exec)
            .unwrap()
            .verify(&bundle, challenge(1), 4, None);
    assert_eq!(report.verdict, Verdict::Reject);
    assert!(report.has("accuracy_below_minimum"), "{:?}", report.reasons);
    assert_eq!(report.reasons.len(), 1, "{:?}", report.reasons);
}

/// A CSV dataset named by file:// URI and sha256 trains and verifies like a bundled one, and a
/// file whose sha256 differs from the spec's is refused.
#[test]
fn csv_dataset_by_uri_and_sha256() {
    use matrixai_pot::dataset::BundledDataset;
    use matrixai_pot::{PreparedData, Sha256Hex, TaskSpec};

    let raw = BundledDataset::Iris.load().unwrap();
    let mut csv = String::new();
    for (row, label) in raw.features.chunks(raw.feature_len).zip(&raw.labels) {
        let values: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        csv.push_str(&format!("{},{label}\n", values.join(",")));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iris.csv");
    std::fs::write(&path, &csv).unwrap();
    let mut value: serde_json::Value =
        serde_json::from_str(matrixai_pot::examples::IRIS_SOFTMAX).unwrap();
    value["dataset"] = serde_json::json!({
        "source": "csv",
        "uri": format!("file://{}", path.display()),
        "sha256": Sha256Hex::of(csv.as_bytes()).to_string(),
        "rows": 150,
        "input_shape": [4],
        "classes": 3,
    });
    let spec = TaskSpec::from_json(&serde_json::to_vec(&value).unwrap()).unwrap();
    let data = PreparedData::for_spec(&spec, None).unwrap();
    let exec = exec();
    let bundle = dir.path().join("bundle");
    let summary = train_bundle(&spec, &data, &bundle, &exec, |_, _| {}).unwrap();
    // Same rows, same split and seeds: the same training as the bundled dataset.
    assert_eq!(
        summary.transcript.root.to_string(),
        root_with("iris-softmax", &exec).0
    );
    let report = Verifier::new(&spec, &data, &exec)
        .unwrap()
        .verify(&bundle, challenge(9), 4, None);
    assert_eq!(report.verdict, Verdict::Accept, "{:?}", report.reasons);

    std::fs::write(&path, csv.replace("5.1,3.5", "5.1,3.6")).unwrap();
    let error = PreparedData::for_spec(&spec, None).unwrap_err().to_string();
    assert!(error.contains("does not match the spec's"), "{error}");
}
