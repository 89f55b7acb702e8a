//! Cheating bundles: the attacks the verifier must reject.
//!
//! Each builder produces an internally consistent bundle (correct manifest, Merkle root and
//! file formats) so that a rejection comes from the protocol's checks, not from sloppiness.
//! Used by the attack test suite and by the detection-probability benchmark.

use std::path::Path;

use crate::bundle::{BundleSummary, BundleWriter};
use crate::dataset::PreparedData;
use crate::error::PotError;
use crate::kernels::Exec;
use crate::spec::{OptimizerSpec, TaskSpec, TrainingPlan};
use crate::train::{Checkpoint, Trainer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Trains half the ordered epochs and says so in the transcript.
    FewerSteps,
    /// Trains half the ordered steps and labels them as the full schedule (the checkpoint of
    /// claimed step s is the state after s / 2 real steps).
    FewerStepsRelabelled,
    /// Starts from another init seed (the rest honest).
    InitSeedChanged,
    /// Trains with twice the ordered learning rate.
    LearningRateChanged,
    /// Changes the optimizer's other hyperparameters (SGD momentum and Nesterov, Adam betas).
    OptimizerChanged,
    /// Trains on the first half of the training rows, repeated to the full count.
    DataSubset,
    /// Trains with 10% of the training labels changed to another class.
    FlippedLabels,
    /// Trains with another data-order seed.
    ShuffleSeedChanged,
    /// Checkpoints on the straight line from init to an honestly trained final model, with
    /// tiny updates per step (the "infinitesimal update" spoof of Fang et al. 2023).
    InterpolatedCheckpoints,
    /// Honest training only for the three segments with the largest honest update and the
    /// last one, interpolation elsewhere (blindfold top-Q, Fang et al. 2023).
    BlindfoldTopQ,
    /// Honest transcript, but model.bin holds another model (trained from another init seed).
    FinalModelSwapped,
    /// Honest bundle claiming 10 percentage points more accuracy than the model has.
    AccuracyInflated,
}

impl Attack {
    pub const ALL: [Attack; 12] = [
        Attack::FewerSteps,
        Attack::FewerStepsRelabelled,
        Attack::InitSeedChanged,
        Attack::LearningRateChanged,
        Attack::OptimizerChanged,
        Attack::DataSubset,
        Attack::FlippedLabels,
        Attack::ShuffleSeedChanged,
        Attack::InterpolatedCheckpoints,
        Attack::BlindfoldTopQ,
        Attack::FinalModelSwapped,
        Attack::AccuracyInflated,
    ];

    /// The rejection code the verifier must give.
    pub fn expected_rejection(self) -> &'static str {
        match self {
            Attack::FewerSteps => "step_count_mismatch",
            Attack::InitSeedChanged => "initial_checkpoint_mismatch",
            Attack::FinalModelSwapped => "final_model_mismatch",
            Attack::AccuracyInflated => "accuracy_claim_mismatch",
            _ => "segment_replay_mismatch",
        }
    }
}

/// Every checkpoint of an honest run, step 0 first.
pub fn honest_checkpoints(
    spec: &TaskSpec,
    plan: &TrainingPlan,
    data: &PreparedData,
    exec: &Exec,
) -> Result<Vec<Checkpoint>, PotError> {
    let mut checkpoints = Vec::new();
    Trainer::new(spec, plan, data, exec)?.train(|checkpoint| {
        checkpoints.push(checkpoint.clone());
        Ok(())
    })?;
    Ok(checkpoints)
}

/// Writes `checkpoints` as a bundle for `claimed_spec`, claiming `accuracy_ppm`.
pub fn write_bundle(
    out: &Path,
    claimed_spec: &TaskSpec,
    checkpoints: &[Checkpoint],
    final_params: &[f32],
    accuracy_ppm: u32,
    eval_rows: u64,
) -> Result<BundleSummary, PotError> {
    let mut writer = BundleWriter::create(out, claimed_spec)?;
    for checkpoint in checkpoints {
        writer.write_checkpoint(checkpoint)?;
    }
    writer.finish(final_params, accuracy_ppm, eval_rows)
}

/// Trains `actual_spec` on `actual_data` and presents it as a run of `claimed_spec`.
fn train_as(
    out: &Path,
    claimed_spec: &TaskSpec,
    actual_spec: &TaskSpec,
    actual_data: &PreparedData,
    honest_data: &PreparedData,
    exec: &Exec,
) -> Result<BundleSummary, PotError> {
    let plan = actual_spec.validate()?;
    let checkpoints = honest_checkpoints(actual_spec, &plan, actual_data, exec)?;
    let last = checkpoints.last().expect("at least checkpoint 0");
    let claimed_plan = claimed_spec.validate()?;
    let evaluation =
        Trainer::new(claimed_spec, &claimed_plan, honest_data, exec)?.evaluate(&last.params);
    write_bundle(
        out,
        claimed_spec,
        &checkpoints,
        &last.params,
        evaluation.accuracy_ppm(),
        evaluation.rows,
    )
}

/// `a + (b - a) * t`, element by element.
fn lerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter().zip(b).map(|(&x, &y)| x + (y - x) * t).collect()
}

fn update_size(a: &Checkpoint, b: &Checkpoint) -> f64 {
    a.params
        .iter()
        .zip(&b.params)
        .map(|(&x, &y)| f64::from(y - x).powi(2))
        .sum()
}

/// Builds the bundle of `attack` against the order `spec` on its honest `data`.
pub fn build(
    attack: Attack,
    spec: &TaskSpec,
    data: &PreparedData,
    exec: &Exec,
    out: &Path,
) -> Result<BundleSummary, PotError> {
    let plan = spec.validate()?;
    let mut cheat = spec.clone();
    match attack {
        Attack::FewerSteps => {
            cheat.epochs = (spec.epochs / 2).max(1);
            if cheat.epochs == spec.epochs {
                return Err(PotError::AttackNotApplicable(
                    "a one-epoch order has no fewer-epoch variant".into(),
                ));
            }
            train_as(out, spec, &cheat, data, data, exec)
        }
        Attack::FewerStepsRelabelled => {
            cheat.epochs = spec.epochs.div_ceil(2);
            cheat.checkpoint_interval = 1;
            let every_step = honest_checkpoints(&cheat, &cheat.validate()?, data, exec)?;
            let relabelled: Vec<Checkpoint> = plan
                .checkpoint_steps()
                .into_iter()
                .map(|step| Checkpoint {
                    step,
                    ..every_step[(step / 2) as usize].clone()
                })
                .collect();
            let last = relabelled
                .last()
                .expect("at least checkpoint 0")
                .params
                .clone();
            let evaluation = Trainer::new(spec, &plan, data, exec)?.evaluate(&last);
            write_bundle(
                out,
                spec,
                &relabelled,
                &last,
                evaluation.accuracy_ppm(),
                evaluation.rows,
            )
        }
        Attack::InitSeedChanged => {
            cheat.init_seed = spec.init_seed.wrapping_add(1);
            train_as(out, spec, &cheat, data, data, exec)
        }
        Attack::LearningRateChanged => {
            match &mut cheat.optimizer {
                OptimizerSpec::Sgd { lr, .. } | OptimizerSpec::Adam { lr, .. } => *lr *= 2.0,
            }
            train_as(out, spec, &cheat, data, data, exec)
        }
        Attack::OptimizerChanged => {
            cheat.optimizer = match spec.optimizer {
                OptimizerSpec::Sgd {
                    lr,
                    momentum,
                    weight_decay,
                    nesterov,
                } => OptimizerSpec::Sgd {
                    lr,
                    momentum: momentum * 0.5,
                    weight_decay,
                    nesterov: !nesterov && momentum > 0.0,
                },
                OptimizerSpec::Adam {
                    lr,
                    eps,
                    weight_decay,
                    ..
                } => OptimizerSpec::Adam {
                    lr,
                    beta1: 0.8,
                    beta2: 0.99,
                    eps,
                    weight_decay,
                },
            };
            train_as(out, spec, &cheat, data, data, exec)
        }
        Attack::DataSubset => {
            let mut subset = data.clone();
            let half = data.train_rows().div_ceil(2);
            for row in half..data.train_rows() {
                let source = row - half;
                subset.train_labels[row] = data.train_labels[source];
                let len = data.feature_len;
                subset.train_features[row * len..(row + 1) * len]
                    .copy_from_slice(&data.train_features[source * len..(source + 1) * len]);
            }
            train_as(out, spec, spec, &subset, data, exec)
        }
        Attack::FlippedLabels => {
            let mut flipped = data.clone();
            for label in flipped.train_labels.iter_mut().step_by(10) {
                *label = (*label + 1) % data.classes as u32;
            }
            train_as(out, spec, spec, &flipped, data, exec)
        }
        Attack::ShuffleSeedChanged => {
            cheat.data_order_seed = spec.data_order_seed.wrapping_add(1);
            train_as(out, spec, &cheat, data, data, exec)
        }
        Attack::InterpolatedCheckpoints => {
            let honest = honest_checkpoints(spec, &plan, data, exec)?;
            let (first, last) = (&honest[0], honest.last().expect("at least checkpoint 0"));
            let total = plan.total_steps as f32;
            let forged: Vec<Checkpoint> = honest
                .iter()
                .map(|h| Checkpoint {
                    step: h.step,
                    params: if h.step == plan.total_steps {
                        last.params.clone()
                    } else {
                        lerp(&first.params, &last.params, h.step as f32 / total)
                    },
                    optimizer_state: if h.step == 0 {
                        h.optimizer_state.clone()
                    } else {
                        vec![0.0; h.optimizer_state.len()]
                    },
                    loss: h.loss,
                })
                .collect();
            let evaluation = Trainer::new(spec, &plan, data, exec)?.evaluate(&last.params);
            write_bundle(
                out,
                spec,
                &forged,
                &last.params,
                evaluation.accuracy_ppm(),
                evaluation.rows,
            )
        }
        Attack::BlindfoldTopQ => {
            let honest = honest_checkpoints(spec, &plan, data, exec)?;
            let segments = honest.len() - 1;
            let mut by_update: Vec<usize> = (0..segments).collect();
            by_update.sort_by(|&a, &b| {
                update_size(&honest[b], &honest[b + 1])
                    .total_cmp(&update_size(&honest[a], &honest[a + 1]))
            });
            let trained: Vec<usize> = by_update
                .into_iter()
                .take(3)
                .chain([segments - 1])
                .collect();
            let target = &honest[segments].params;
            let mut trainer = Trainer::new(spec, &plan, data, exec)?;
            let mut forged = vec![honest[0].clone()];
            for segment in 0..segments {
                let mut next = forged[segment].clone();
                let end = honest[segment + 1].step;
                if trained.contains(&segment) {
                    trainer.run_until(&mut next, end)?;
                } else {
                    next.params = lerp(&next.params, target, 1.0 / (segments - segment) as f32);
                    next.step = end;
                    next.loss = honest[segment + 1].loss;
                }
                forged.push(next);
            }
            let last = forged.last().expect("at least one segment").params.clone();
            let evaluation = trainer.evaluate(&last);
            write_bundle(
                out,
                spec,
                &forged,
                &last,
                evaluation.accuracy_ppm(),
                evaluation.rows,
            )
        }
        Attack::FinalModelSwapped => {
            let honest = honest_checkpoints(spec, &plan, data, exec)?;
            cheat.init_seed = spec.init_seed.wrapping_add(1);
            let other = honest_checkpoints(&cheat, &plan, data, exec)?;
            let swapped = &other.last().expect("at least checkpoint 0").params;
            let evaluation = Trainer::new(spec, &plan, data, exec)?.evaluate(swapped);
            write_bundle(
                out,
                spec,
                &honest,
                swapped,
                evaluation.accuracy_ppm(),
                evaluation.rows,
            )
        }
        Attack::AccuracyInflated => {
            let honest = honest_checkpoints(spec, &plan, data, exec)?;
            let last = &honest.last().expect("at least checkpoint 0").params;
            let evaluation = Trainer::new(spec, &plan, data, exec)?.evaluate(last);
            let real = evaluation.accuracy_ppm();
            if real >= 1_000_000 - 1 {
                return Err(PotError::AttackNotApplicable(
                    "the honest model is already perfect; nothing to inflate".into(),
                ));
            }
            write_bundle(
                out,
                spec,
                &honest,
                last,
                (real + 100_000).min(1_000_000),
                evaluation.rows,
            )
        }
    }
}

/// An honest run in which the `forged` segments were skipped: their end is the start moved
/// half-way along the honest update, and honest training resumes from there. Exactly the
/// `forged` segments then fail replay, which measures detection against the cheated fraction.
pub fn forge_segments(
    spec: &TaskSpec,
    data: &PreparedData,
    exec: &Exec,
    forged: &[usize],
    out: &Path,
) -> Result<BundleSummary, PotError> {
    let plan = spec.validate()?;
    let steps = plan.checkpoint_steps();
    let mut trainer = Trainer::new(spec, &plan, data, exec)?;
    let mut chain = vec![trainer.initial_checkpoint()];
    for segment in 0..steps.len() - 1 {
        let start = &chain[segment];
        let mut next = start.clone();
        trainer.run_until(&mut next, steps[segment + 1])?;
        if forged.contains(&segment) {
            next.params = lerp(&start.params, &next.params, 0.5);
        }
        chain.push(next);
    }
    let last = chain.last().expect("at least checkpoint 0").params.clone();
    let evaluation = trainer.evaluate(&last);
    write_bundle(
        out,
        spec,
        &chain,
        &last,
        evaluation.accuracy_ppm(),
        evaluation.rows,
    )
}
