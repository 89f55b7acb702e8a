//! Determinism of the engine and acceptance of honest bundles.

mod common;

use common::{challenge, example, exec};
use matrixai_pot::{train_bundle, Exec, Verdict, Verifier};

fn root_with(name: &str, exec: &Exec) -> (String, String) {
    let ex = example(name);
    let dir = tempfile::tempdir().unwrap();
    let summary = train_bundle(&ex.spec, &ex.data, &dir.path().join("bundle"), exec, |_, _| {}).unwrap();
    (summary.transcript.root.to_string(), summary.transcript.final_model_sha256.to_string())
}

/// Same spec, same bytes: across repeated runs, 1, 2 and 3 threads, and any split of the
/// rows between tasks (which is what a different core count or cache size would change).
fn assert_bit_identical(name: &str) {
    let reference = root_with(name, &Exec::single_thread());
    assert_eq!(root_with(name, &Exec::single_thread()), reference, "{name}: repeated run");
    for (threads, rows_per_task) in [(2, None), (2, Some(1)), (3, Some(7)), (1, Some(3))] {
        let exec = Exec::new(threads, rows_per_task).unwrap();
        assert_eq!(root_with(name, &exec), reference, "{name}: {threads} threads, {rows_per_task:?} rows per task");
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
    for name in ["iris-softmax", "digits-mlp", "digits-cnn", "breast-cancer-mlp"] {
        let ex = example(name);
        let exec = exec();
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        let summary = train_bundle(&ex.spec, &ex.data, &bundle, &exec, |_, _| {}).unwrap();
        assert!(summary.transcript.accuracy_ppm >= ex.spec.min_eval_accuracy_ppm, "{name} trains to its minimum");
        let verifier = Verifier::new(&ex.spec, &ex.data, &exec).unwrap();
        let checked = verifier.check_bundle(&bundle, None);
        assert!(checked.reasons.is_empty(), "{name}: {:?}", checked.reasons);
        for (seed, segments) in [(1, 1), (2, 4), (3, 4), (4, 16), (5, usize::MAX)] {
            let report = verifier.replay_challenge(&checked, challenge(seed), segments);
            assert_eq!(report.verdict, Verdict::Accept, "{name}: {:?}", report.reasons);
            assert_eq!(report.segments.len(), segments.min(report.segments_total));
            assert_eq!(*report.segments_sampled.last().unwrap(), report.segments_total - 1, "last segment sampled");
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
    let report = Verifier::new(&spec, &ex.data, &exec).unwrap().verify(&bundle, challenge(1), 4, None);
    assert_eq!(report.verdict, Verdict::Reject);
    assert!(report.has("accuracy_below_minimum"), "{:?}", report.reasons);
    assert_eq!(report.reasons.len(), 1, "{:?}", report.reasons);
}
