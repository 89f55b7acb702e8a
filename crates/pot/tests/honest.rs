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

/// Every file of a bundle directory, by path relative to it.
fn files_of(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// An interrupted training resumes from its last checkpoint and ends with the same bundle, byte
/// for byte, as an uninterrupted one: after a stop at each checkpoint, after a torn progress
/// line, and after a checkpoint file lost with its line kept.
#[test]
fn interrupted_training_resumes_to_the_same_bundle() {
    use matrixai_pot::BundleSummary;
    use matrixai_pot::bundle::PROGRESS_FILE;
    let ex = example("digits-mlp");
    let plan = ex.spec.validate().unwrap();
    let steps = plan.checkpoint_steps();
    assert!(steps.len() >= 4, "several checkpoints to stop at");
    let exec = Exec::single_thread();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let reference = train_bundle(&ex.spec, &ex.data, &whole, &exec, |_, _| {}).unwrap();
    let reference_files = files_of(&whole);
    assert!(
        !whole.join(PROGRESS_FILE).exists(),
        "finished: no progress file"
    );
    assert_eq!(BundleSummary::read(&whole, &ex.spec).unwrap(), reference);

    let stop_at = |out: &std::path::Path, stop: u64| {
        // A panic is as abrupt as a kill for the bundle: nothing runs after it.
        let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            train_bundle(&ex.spec, &ex.data, out, &exec, |step, _| {
                assert!(step != stop, "interrupted at step {step}");
            })
        }));
        assert!(interrupted.is_err(), "stopped at step {stop}");
    };
    for (index, &stop) in steps.iter().enumerate().skip(1).step_by(2) {
        let out = dir.path().join(format!("stopped-{stop}"));
        stop_at(&out, stop);
        let mut resumed_at = None;
        let summary = train_bundle(&ex.spec, &ex.data, &out, &exec, |step, _| {
            resumed_at.get_or_insert(step);
        })
        .unwrap();
        assert_eq!(
            resumed_at,
            Some(stop),
            "resumed from the last checkpoint, #{index}"
        );
        assert_eq!(
            summary, reference,
            "same transcript after a stop at step {stop}"
        );
        assert_eq!(
            files_of(&out),
            reference_files,
            "same files after a stop at step {stop}"
        );
    }

    // A torn last line, and a checkpoint whose file is gone though its line was written.
    let out = dir.path().join("torn");
    stop_at(&out, steps[3]);
    let progress = out.join(PROGRESS_FILE);
    let mut text = std::fs::read_to_string(&progress).unwrap();
    text.push_str("{\"step\":");
    std::fs::write(&progress, &text).unwrap();
    std::fs::remove_file(out.join(matrixai_pot::bundle::checkpoint_path(steps[3]))).unwrap();
    let mut resumed_at = None;
    let summary = train_bundle(&ex.spec, &ex.data, &out, &exec, |step, _| {
        resumed_at.get_or_insert(step);
    })
    .unwrap();
    assert_eq!(resumed_at, Some(steps[2]));
    assert_eq!(summary, reference);
    assert_eq!(files_of(&out), reference_files);

    // Another spec's run is not resumed: the directory is refused, as any non-empty one.
    let out = dir.path().join("other");
    stop_at(&out, steps[2]);
    let other = example("iris-softmax");
    let error = train_bundle(&other.spec, &other.data, &out, &exec, |_, _| {}).unwrap_err();
    assert!(error.to_string().contains("not empty"), "{error}");
}
