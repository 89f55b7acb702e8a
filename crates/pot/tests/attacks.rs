//! The attack suite: every cheating bundle is rejected, for the right reason, on each model.

mod common;

use common::{challenge, example, exec};
use matrixai_pot::attacks::{self, Attack};
use matrixai_pot::{Verdict, Verifier};

/// Builds the attack's bundle and verifies it with s = 4 sampled segments.
fn assert_rejected(model: &str, attack: Attack) {
    let ex = example(model);
    let exec = exec();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let summary = attacks::build(attack, &ex.spec, &ex.data, &exec, &bundle).unwrap();
    let commitment = matrixai_pot::Commitment::new(&summary, "file:///bundle").unwrap();
    let report = Verifier::new(&ex.spec, &ex.data, &exec).unwrap().verify(
        &bundle,
        challenge(7),
        4,
        Some(&commitment),
    );
    assert_eq!(
        report.verdict,
        Verdict::Reject,
        "{model} {attack:?} was accepted"
    );
    assert!(
        report.has(attack.expected_rejection()),
        "{model} {attack:?}: expected {}, got {:?}",
        attack.expected_rejection(),
        report.reasons
    );
    // A consistent forgery never trips the integrity checks: the protocol itself catches it.
    for code in [
        "malformed_bundle",
        "manifest_mismatch",
        "merkle_root_mismatch",
        "commitment_mismatch",
        "checkpoint_leaf_mismatch",
    ] {
        assert!(
            !report.has(code),
            "{model} {attack:?}: unexpected {code}: {:?}",
            report.reasons
        );
    }
    if attack.expected_rejection() == "segment_replay_mismatch" {
        let failing = report
            .segments
            .iter()
            .find(|s| !s.params_match)
            .expect("a failing segment");
        let d = &failing.distances;
        assert!(
            d.l2 > 0.0 && d.linf > 0.0 && d.l1 > 0.0,
            "{model} {attack:?}: {d:?}"
        );
        assert!(d.cosine < 1.0, "{model} {attack:?}: {d:?}");
    }
}

macro_rules! attack_tests {
    ($($test:ident: $model:literal, $attack:ident;)*) => {
        $(
            #[test]
            fn $test() {
                assert_rejected($model, Attack::$attack);
            }
        )*
    };
}

attack_tests! {
    iris_fewer_steps: "iris-softmax", FewerSteps;
    iris_fewer_steps_relabelled: "iris-softmax", FewerStepsRelabelled;
    iris_init_seed_changed: "iris-softmax", InitSeedChanged;
    iris_learning_rate_changed: "iris-softmax", LearningRateChanged;
    iris_optimizer_changed: "iris-softmax", OptimizerChanged;
    iris_data_subset: "iris-softmax", DataSubset;
    iris_flipped_labels: "iris-softmax", FlippedLabels;
    iris_shuffle_seed_changed: "iris-softmax", ShuffleSeedChanged;
    iris_interpolated_checkpoints: "iris-softmax", InterpolatedCheckpoints;
    iris_blindfold_top_q: "iris-softmax", BlindfoldTopQ;
    iris_final_model_swapped: "iris-softmax", FinalModelSwapped;
    iris_accuracy_inflated: "iris-softmax", AccuracyInflated;

    mlp_fewer_steps: "digits-mlp", FewerSteps;
    mlp_fewer_steps_relabelled: "digits-mlp", FewerStepsRelabelled;
    mlp_init_seed_changed: "digits-mlp", InitSeedChanged;
    mlp_learning_rate_changed: "digits-mlp", LearningRateChanged;
    mlp_optimizer_changed: "digits-mlp", OptimizerChanged;
    mlp_data_subset: "digits-mlp", DataSubset;
    mlp_flipped_labels: "digits-mlp", FlippedLabels;
    mlp_shuffle_seed_changed: "digits-mlp", ShuffleSeedChanged;
    mlp_interpolated_checkpoints: "digits-mlp", InterpolatedCheckpoints;
    mlp_blindfold_top_q: "digits-mlp", BlindfoldTopQ;
    mlp_final_model_swapped: "digits-mlp", FinalModelSwapped;
    mlp_accuracy_inflated: "digits-mlp", AccuracyInflated;

    cnn_fewer_steps: "digits-cnn", FewerSteps;
    cnn_fewer_steps_relabelled: "digits-cnn", FewerStepsRelabelled;
    cnn_init_seed_changed: "digits-cnn", InitSeedChanged;
    cnn_learning_rate_changed: "digits-cnn", LearningRateChanged;
    cnn_optimizer_changed: "digits-cnn", OptimizerChanged;
    cnn_data_subset: "digits-cnn", DataSubset;
    cnn_flipped_labels: "digits-cnn", FlippedLabels;
    cnn_shuffle_seed_changed: "digits-cnn", ShuffleSeedChanged;
    cnn_interpolated_checkpoints: "digits-cnn", InterpolatedCheckpoints;
    cnn_blindfold_top_q: "digits-cnn", BlindfoldTopQ;
    cnn_final_model_swapped: "digits-cnn", FinalModelSwapped;
    cnn_accuracy_inflated: "digits-cnn", AccuracyInflated;
}

fn verifier_segments(spec: &matrixai_pot::TaskSpec) -> usize {
    spec.validate().unwrap().segment_count()
}

/// Replay catches a forged segment only when sampled: the measured rejection rate over many
/// challenges follows 1 - C(N-1-m, s-1) / C(N-1, s-1), and sampling s = 1 (the honest last
/// segment alone) never catches it.
#[test]
fn detection_rate_follows_the_sampling_formula() {
    let ex = example("iris-softmax");
    let exec = exec();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let segments = verifier_segments(&ex.spec);
    let forged: Vec<usize> = (0..segments - 1).step_by(10).collect(); // 10% of the segments
    attacks::forge_segments(&ex.spec, &ex.data, &exec, &forged, &bundle).unwrap();
    let verifier = Verifier::new(&ex.spec, &ex.data, &exec).unwrap();
    let checked = verifier.check_bundle(&bundle, None);
    assert!(checked.reasons.is_empty(), "{:?}", checked.reasons);
    let full = verifier.replay_challenge(&checked, challenge(0), usize::MAX);
    let failing: Vec<usize> = full
        .segments
        .iter()
        .filter(|s| !s.params_match)
        .map(|s| s.segment)
        .collect();
    assert_eq!(failing, forged, "exactly the forged segments fail replay");
    let trials = 300;
    for sampled in [1usize, 4, 8] {
        let rejected = (0..trials)
            .filter(|&t| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&(t as u64).to_le_bytes());
                verifier.replay_challenge(&checked, seed, sampled).verdict == Verdict::Reject
            })
            .count();
        let measured = rejected as f64 / trials as f64;
        let predicted =
            matrixai_pot::verify::detection_probability(segments, forged.len(), sampled);
        let sigma = (predicted * (1.0 - predicted) / trials as f64).sqrt();
        assert!(
            (measured - predicted).abs() <= 5.0 * sigma + 1e-9,
            "s = {sampled}: measured {measured}, predicted {predicted}"
        );
        if sampled == 1 {
            assert_eq!(rejected, 0);
        }
    }
}

/// A dispute replays exactly the segment it names: the forged one fails, an honest one or one
/// the training does not have passes, whatever the challenge would have sampled.
#[test]
fn a_dispute_judges_exactly_the_named_segment() {
    let ex = example("iris-softmax");
    let exec = exec();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let segments = verifier_segments(&ex.spec);
    let forged = segments / 2;
    attacks::forge_segments(&ex.spec, &ex.data, &exec, &[forged], &bundle).unwrap();
    let verifier = Verifier::new(&ex.spec, &ex.data, &exec).unwrap();

    let report = verifier.judge_dispute(&bundle, forged as u32, None);
    assert_eq!(report.verdict, Verdict::Reject, "{:?}", report.reasons);
    assert!(report.has("segment_replay_mismatch"));
    assert_eq!(report.segments_sampled, vec![forged]);
    assert_eq!(report.disputed_segment, Some(forged as u32));
    assert_eq!(report.challenge_seed, None);

    for honest in [0, forged + 1, segments - 1] {
        let report = verifier.judge_dispute(&bundle, honest as u32, None);
        assert_eq!(report.verdict, Verdict::Accept, "segment {honest}");
        assert_eq!(report.segments.len(), 1);
        assert_eq!(report.segments[0].segment, honest);
    }
    let beyond = verifier.judge_dispute(&bundle, segments as u32, None);
    assert_eq!(beyond.verdict, Verdict::Accept);
    assert!(beyond.segments.is_empty());
}
