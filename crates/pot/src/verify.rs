//! The verifier: from spec + bundle + challenge seed to a structured verdict.
//!
//! Checks, in order: the manifest (the exact file set the transcript implies, each file with the
//! size the spec implies), the spec, the transcript's schedule and Merkle root, that
//! checkpoint 0 is init(seed), the final model, the evaluation accuracy, the on-chain
//! commitment, and finally an exact replay of segments drawn from the challenge seed (the last
//! segment always among them). A file is opened only when a check uses it, and then its size
//! must match the manifest and its content its sha256 there or, for a checkpoint, its leaf; so a
//! validator needs only the manifest, spec, transcript, model and 2s checkpoint files. A
//! malformed or cheating bundle gives a rejection with reasons, never a panic or an unbounded
//! allocation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use serde::Serialize;

use crate::bundle::{
    self, MANIFEST_FILE, MODEL_FILE, Manifest, ManifestEntry, SPEC_FILE, TRANSCRIPT_FILE,
};
use crate::chacha::{CounterRng, derive_key};
use crate::commitment::Commitment;
use crate::dataset::PreparedData;
use crate::error::PotError;
use crate::kernels::Exec;
use crate::spec::{TaskSpec, TrainingPlan, limits};
use crate::train::{Checkpoint, Trainer};
use crate::transcript::{Sha256Hex, Transcript, merkle_root, tensor_hash};

/// 2: `challenge_seed` is absent and `disputed_segment` present when a dispute is judged.
pub const REPORT_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accept,
    Reject,
}

/// Why a bundle was rejected; `code` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Rejection {
    /// Missing, unreadable, oversized, unparsable or wrongly shaped content.
    MalformedBundle {
        detail: String,
    },
    /// A file's size or sha256 differs from the manifest.
    ManifestMismatch {
        path: String,
        detail: String,
    },
    /// The bundle was made for another spec than the order's.
    SpecMismatch {
        detail: String,
    },
    /// The transcript's steps or checkpoints differ from what the order implies.
    StepCountMismatch {
        expected_steps: u64,
        claimed_steps: u64,
        expected_checkpoints: usize,
        claimed_checkpoints: usize,
    },
    MerkleRootMismatch {
        claimed: Sha256Hex,
        computed: Sha256Hex,
    },
    /// A checkpoint file's content differs from its transcript leaf.
    CheckpointLeafMismatch {
        step: u64,
    },
    /// Checkpoint 0 is not init(seed) with zero optimizer state and loss 0.
    InitialCheckpointMismatch,
    /// Replaying the segment from its committed start did not reproduce its committed end.
    SegmentReplayMismatch {
        segment: usize,
        start_step: u64,
        end_step: u64,
    },
    /// model.bin is not the last checkpoint's parameters.
    FinalModelMismatch {
        detail: String,
    },
    AccuracyClaimMismatch {
        claimed_ppm: u32,
        recomputed_ppm: u32,
    },
    AccuracyBelowMinimum {
        accuracy_ppm: u32,
        min_ppm: u32,
    },
    /// The bundle differs from the commitment submitted on chain.
    CommitmentMismatch {
        field: String,
    },
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MalformedBundle { .. } => "malformed_bundle",
            Rejection::ManifestMismatch { .. } => "manifest_mismatch",
            Rejection::SpecMismatch { .. } => "spec_mismatch",
            Rejection::StepCountMismatch { .. } => "step_count_mismatch",
            Rejection::MerkleRootMismatch { .. } => "merkle_root_mismatch",
            Rejection::CheckpointLeafMismatch { .. } => "checkpoint_leaf_mismatch",
            Rejection::InitialCheckpointMismatch => "initial_checkpoint_mismatch",
            Rejection::SegmentReplayMismatch { .. } => "segment_replay_mismatch",
            Rejection::FinalModelMismatch { .. } => "final_model_mismatch",
            Rejection::AccuracyClaimMismatch { .. } => "accuracy_claim_mismatch",
            Rejection::AccuracyBelowMinimum { .. } => "accuracy_below_minimum",
            Rejection::CommitmentMismatch { .. } => "commitment_mismatch",
        }
    }
}

/// Distances between the committed and the replayed end of a segment, each normalised by the
/// segment's own (replayed) update so that figures compare across models and segments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentDistances {
    /// sum|committed - replayed| / sum|replayed - start|
    pub l1: f64,
    /// ||committed - replayed||_2 / ||replayed - start||_2
    pub l2: f64,
    /// max|committed - replayed| / max|replayed - start|
    pub linf: f64,
    /// cosine between the committed update and the replayed update (1 = same direction).
    pub cosine: f64,
    /// Largest per-tensor 1-Wasserstein distance between the committed and replayed value
    /// distributions, over that tensor's mean |update|.
    pub layer_distribution_max: f64,
    pub layers: Vec<LayerDistance>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerDistance {
    pub tensor: String,
    pub wasserstein: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentReport {
    pub segment: usize,
    pub start_step: u64,
    pub end_step: u64,
    pub params_match: bool,
    pub optimizer_match: bool,
    pub loss_match: bool,
    pub committed_loss: f32,
    pub replayed_loss: f32,
    pub distances: SegmentDistances,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AccuracyReport {
    pub claimed_ppm: u32,
    pub recomputed_ppm: u32,
    pub min_ppm: u32,
    pub eval_rows: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub v: u32,
    pub verdict: Verdict,
    pub reasons: Vec<Rejection>,
    pub spec_sha256: Sha256Hex,
    pub root: Option<Sha256Hex>,
    pub total_steps: u64,
    pub segments_total: usize,
    /// The seed the replayed segments were drawn from (a proof's judgement).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_seed: Option<Sha256Hex>,
    /// The one segment a dispute names (a dispute's judgement).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disputed_segment: Option<u32>,
    pub segments_sampled: Vec<usize>,
    pub segments: Vec<SegmentReport>,
    pub accuracy: Option<AccuracyReport>,
}

impl Report {
    pub fn has(&self, code: &str) -> bool {
        self.reasons.iter().any(|reason| reason.code() == code)
    }
}

/// What the static checks established, ready for challenge replays.
pub struct CheckedBundle {
    dir: std::path::PathBuf,
    /// The manifest's checkpoint entries, by step; read (and hashed) only when sampled.
    checkpoints: BTreeMap<u64, Listed>,
    pub reasons: Vec<Rejection>,
    pub transcript: Option<Transcript>,
    pub accuracy: Option<AccuracyReport>,
    /// False when the schedule or checkpoint files make segment replay meaningless.
    replayable: bool,
}

/// Size and sha256 a manifest lists for one file.
#[derive(Debug, Clone, Copy)]
struct Listed {
    bytes: u64,
    sha256: Sha256Hex,
}

impl From<&ManifestEntry> for Listed {
    fn from(entry: &ManifestEntry) -> Self {
        Self {
            bytes: entry.bytes,
            sha256: entry.sha256,
        }
    }
}

/// Verifies bundles of one order.
pub struct Verifier<'a> {
    spec: &'a TaskSpec,
    plan: TrainingPlan,
    data: &'a PreparedData,
    exec: &'a Exec,
}

impl<'a> Verifier<'a> {
    pub fn new(
        spec: &'a TaskSpec,
        data: &'a PreparedData,
        exec: &'a Exec,
    ) -> Result<Self, PotError> {
        let plan = spec.validate()?;
        // Fails early if the data does not fit the spec.
        Trainer::new(spec, &plan, data, exec)?;
        Ok(Self {
            spec,
            plan,
            data,
            exec,
        })
    }

    /// Full verification: static checks, then replay of `segments` segments from the challenge.
    pub fn verify(
        &self,
        dir: &Path,
        challenge_seed: [u8; 32],
        segments: usize,
        commitment: Option<&Commitment>,
    ) -> Report {
        let checked = self.check_bundle(dir, commitment);
        self.replay_challenge(&checked, challenge_seed, segments)
    }

    /// A dispute's judgement: the static checks, then the replay of exactly `segment` (0-based,
    /// from checkpoint `segment` to `segment + 1`). A segment the training does not have replays
    /// as nothing, so only the static checks decide.
    pub fn judge_dispute(
        &self,
        dir: &Path,
        segment: u32,
        commitment: Option<&Commitment>,
    ) -> Report {
        let checked = self.check_bundle(dir, commitment);
        let segments = usize::try_from(segment)
            .ok()
            .filter(|&index| index < self.plan.segment_count())
            .into_iter()
            .collect();
        let mut report = self.replay(&checked, segments);
        report.disputed_segment = Some(segment);
        report
    }

    fn expected_checkpoint_bytes(&self) -> u64 {
        bundle::checkpoint_file_bytes(
            self.plan.architecture.parameter_count(),
            self.plan.optimizer_state_len,
        )
    }

    /// Everything but the replay of challenged segments.
    pub fn check_bundle(&self, dir: &Path, commitment: Option<&Commitment>) -> CheckedBundle {
        let mut checked = CheckedBundle {
            dir: dir.to_path_buf(),
            checkpoints: BTreeMap::new(),
            reasons: Vec::new(),
            transcript: None,
            accuracy: None,
            replayable: false,
        };
        let malformed = |detail: String| Rejection::MalformedBundle { detail };

        // Manifest.
        let manifest_bytes =
            match bundle::read_bundle_file(dir, MANIFEST_FILE, bundle::MAX_MANIFEST_BYTES) {
                Ok(bytes) => bytes,
                Err(e) => {
                    checked
                        .reasons
                        .push(malformed(format!("{MANIFEST_FILE}: {e}")));
                    return checked;
                }
            };
        let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
            Ok(m) => m,
            Err(e) => {
                checked
                    .reasons
                    .push(malformed(format!("{MANIFEST_FILE}: {e}")));
                return checked;
            }
        };
        if manifest.v != bundle::BUNDLE_VERSION {
            checked.reasons.push(malformed(format!(
                "{MANIFEST_FILE}: version {} is not supported",
                manifest.v
            )));
            return checked;
        }
        if manifest.files.len() as u64 > limits::MAX_CHECKPOINTS + 3 {
            checked.reasons.push(malformed(format!(
                "{MANIFEST_FILE} lists {} files",
                manifest.files.len()
            )));
            return checked;
        }
        if let Some(commitment) = commitment
            && Sha256Hex::of(&manifest_bytes) != commitment.bundle_sha256
        {
            checked.reasons.push(Rejection::CommitmentMismatch {
                field: "bundle_sha256".into(),
            });
        }
        // Sorted into the files a bundle has; checkpoints by step, as `parse_checkpoint_path`
        // gives one path per step (so a repeated step is a repeated path).
        let mut named: BTreeMap<&str, Listed> = BTreeMap::new();
        let mut checkpoint_entries: BTreeMap<u64, (&str, Listed)> = BTreeMap::new();
        let mut others: BTreeSet<&str> = BTreeSet::new();
        for entry in &manifest.files {
            let path = entry.path.as_str();
            if !is_safe_relative_path(path) {
                checked
                    .reasons
                    .push(malformed(format!("{MANIFEST_FILE}: unsafe path {path:?}")));
                return checked;
            }
            let repeated = if let Some(step) = bundle::parse_checkpoint_path(path) {
                checkpoint_entries
                    .insert(step, (path, entry.into()))
                    .is_some()
            } else if [SPEC_FILE, TRANSCRIPT_FILE, MODEL_FILE].contains(&path) {
                named.insert(path, entry.into()).is_some()
            } else {
                !others.insert(path)
            };
            if repeated {
                checked
                    .reasons
                    .push(malformed(format!("{MANIFEST_FILE}: {path} listed twice")));
                return checked;
            }
        }
        for path in others {
            checked
                .reasons
                .push(malformed(format!("unexpected file {path} in the manifest")));
        }

        let read_listed = |path: &str, max_bytes: u64, reasons: &mut Vec<Rejection>| {
            read_listed_file(dir, named.get(path).copied(), path, max_bytes)
                .map_err(|r| reasons.push(r))
                .ok()
        };

        // Spec.
        if let Some(bytes) = read_listed(SPEC_FILE, limits::MAX_SPEC_BYTES, &mut checked.reasons)
            && bytes != self.spec.canonical_json()
        {
            checked.reasons.push(Rejection::SpecMismatch {
                detail: format!("{SPEC_FILE} differs from the order's spec"),
            });
        }

        // Transcript: schedule and root.
        let Some(transcript_bytes) = read_listed(
            TRANSCRIPT_FILE,
            bundle::max_transcript_bytes(&self.plan),
            &mut checked.reasons,
        ) else {
            return checked;
        };
        let transcript: Transcript = match serde_json::from_slice(&transcript_bytes) {
            Ok(t) => t,
            Err(e) => {
                checked
                    .reasons
                    .push(malformed(format!("{TRANSCRIPT_FILE}: {e}")));
                return checked;
            }
        };
        if transcript.v != bundle::BUNDLE_VERSION {
            checked.reasons.push(malformed(format!(
                "{TRANSCRIPT_FILE}: version {} is not supported",
                transcript.v
            )));
            return checked;
        }
        if transcript.spec_sha256.0 != self.spec.sha256() {
            checked.reasons.push(Rejection::SpecMismatch {
                detail: "transcript.spec_sha256 names another spec".into(),
            });
        }
        let computed_root = merkle_root(&transcript.leaves);
        if computed_root != transcript.root {
            checked.reasons.push(Rejection::MerkleRootMismatch {
                claimed: transcript.root,
                computed: computed_root,
            });
        }
        if let Some(commitment) = commitment {
            for (field, differs) in [
                ("root", commitment.root != transcript.root),
                (
                    "final_model",
                    commitment.final_model != transcript.final_model_sha256,
                ),
                (
                    "accuracy_ppm",
                    commitment.accuracy_ppm != transcript.accuracy_ppm,
                ),
            ] {
                if differs {
                    checked.reasons.push(Rejection::CommitmentMismatch {
                        field: field.into(),
                    });
                }
            }
        }
        let expected_steps = self.plan.checkpoint_steps();
        let interval = u64::from(self.spec.checkpoint_interval);
        if transcript.checkpoint_interval != interval {
            checked.reasons.push(malformed(format!(
                "{TRANSCRIPT_FILE}: checkpoint_interval is {}, the order's spec says {interval}",
                transcript.checkpoint_interval
            )));
        }
        let schedule_ok = transcript.checkpoint_interval == interval
            && transcript.total_steps == self.plan.total_steps
            && transcript.leaves.len() == expected_steps.len()
            && transcript
                .leaves
                .iter()
                .zip(&expected_steps)
                .all(|(leaf, &step)| leaf.step == step);
        if !schedule_ok {
            checked.reasons.push(Rejection::StepCountMismatch {
                expected_steps: self.plan.total_steps,
                claimed_steps: transcript
                    .total_steps
                    .max(transcript.leaves.last().map_or(0, |leaf| leaf.step)),
                expected_checkpoints: expected_steps.len(),
                claimed_checkpoints: transcript.leaves.len(),
            });
        }

        // The manifest lists exactly the files the transcript explains, checkpoints and model
        // with exactly the size the spec's shapes imply. Files are opened, and their size and
        // content checked, when a check reads them: a checkpoint outside the sampled segments is
        // never opened, as its leaf is already bound by the root (see docs/proof-of-training.md).
        let claimed_steps: BTreeSet<u64> = transcript.leaves.iter().map(|leaf| leaf.step).collect();
        let mut checkpoints_ok = true;
        for &step in &claimed_steps {
            if !checkpoint_entries.contains_key(&step) {
                checked.reasons.push(malformed(format!(
                    "{} is missing from the manifest",
                    bundle::checkpoint_path(step)
                )));
                checkpoints_ok = false;
            }
        }
        let checkpoint_bytes = self.expected_checkpoint_bytes();
        for (step, (path, listed)) in &checkpoint_entries {
            if !claimed_steps.contains(step) {
                checked
                    .reasons
                    .push(malformed(format!("unexpected file {path} in the manifest")));
            } else if listed.bytes != checkpoint_bytes {
                checked.reasons.push(malformed(format!(
                    "{path}: the manifest lists {} bytes, the spec's shapes give {checkpoint_bytes}",
                    listed.bytes
                )));
                checkpoints_ok = false;
            }
        }
        let params_len = self.plan.architecture.parameter_count();
        let model_bytes = bundle::model_file_bytes(params_len);
        if let Some(listed) = named
            .get(MODEL_FILE)
            .filter(|listed| listed.bytes != model_bytes)
        {
            checked.reasons.push(malformed(format!(
                "{MODEL_FILE}: the manifest lists {} bytes, the spec's shapes give {model_bytes}",
                listed.bytes
            )));
        }

        // Checkpoint 0 against init(seed), by its leaf.
        let init_ok = transcript.leaves.first().is_some_and(|leaf| {
            leaf.step == 0
                && leaf.loss.to_bits() == 0.0f32.to_bits()
                && leaf.params_sha256
                    == tensor_hash(
                        &self
                            .plan
                            .architecture
                            .initial_parameters(self.spec.init_seed),
                    )
                && leaf.optimizer_sha256 == tensor_hash(&vec![0.0; self.plan.optimizer_state_len])
        });
        if !init_ok {
            checked.reasons.push(Rejection::InitialCheckpointMismatch);
        }

        // Final model and accuracy.
        if let Some(bytes) = read_listed(MODEL_FILE, model_bytes, &mut checked.reasons) {
            match bundle::decode_model(&bytes, params_len) {
                Err(e) => checked
                    .reasons
                    .push(malformed(format!("{MODEL_FILE}: {e}"))),
                Ok(params) => {
                    if Sha256Hex::of(&bytes) != transcript.final_model_sha256 {
                        checked.reasons.push(Rejection::FinalModelMismatch {
                            detail: "model.bin's sha256 differs from transcript.final_model_sha256"
                                .into(),
                        });
                    }
                    if transcript.leaves.last().map(|leaf| leaf.params_sha256)
                        != Some(tensor_hash(&params))
                    {
                        checked.reasons.push(Rejection::FinalModelMismatch {
                            detail: "model.bin's parameters differ from the last checkpoint's"
                                .into(),
                        });
                    }
                    let mut trainer = Trainer::new(self.spec, &self.plan, self.data, self.exec)
                        .expect("checked in Verifier::new");
                    let evaluation = trainer.evaluate(&params);
                    let recomputed = evaluation.accuracy_ppm();
                    let report = AccuracyReport {
                        claimed_ppm: transcript.accuracy_ppm,
                        recomputed_ppm: recomputed,
                        min_ppm: self.spec.min_eval_accuracy_ppm,
                        eval_rows: evaluation.rows,
                    };
                    // The evaluation is deterministic: the claim is the recomputed figure or false.
                    if transcript.accuracy_ppm != recomputed
                        || transcript.eval_rows != evaluation.rows
                    {
                        checked.reasons.push(Rejection::AccuracyClaimMismatch {
                            claimed_ppm: transcript.accuracy_ppm,
                            recomputed_ppm: recomputed,
                        });
                    }
                    if recomputed < self.spec.min_eval_accuracy_ppm {
                        checked.reasons.push(Rejection::AccuracyBelowMinimum {
                            accuracy_ppm: recomputed,
                            min_ppm: self.spec.min_eval_accuracy_ppm,
                        });
                    }
                    checked.accuracy = Some(report);
                }
            }
        }
        checked.replayable = schedule_ok && checkpoints_ok;
        checked.transcript = Some(transcript);
        checked.checkpoints = checkpoint_entries
            .into_iter()
            .map(|(step, (_, listed))| (step, listed))
            .collect();
        checked
    }

    /// Replays the segments drawn from `challenge_seed` and builds the report.
    pub fn replay_challenge(
        &self,
        checked: &CheckedBundle,
        challenge_seed: [u8; 32],
        segments: usize,
    ) -> Report {
        let sampled = sample_segments(challenge_seed, self.plan.segment_count(), segments);
        let mut report = self.replay(checked, sampled);
        report.challenge_seed = Some(Sha256Hex(challenge_seed));
        report
    }

    /// Replays `sampled` (ascending segment indices) and builds the report.
    fn replay(&self, checked: &CheckedBundle, sampled: Vec<usize>) -> Report {
        let segments_total = self.plan.segment_count();
        let mut reasons = checked.reasons.clone();
        let mut segment_reports = Vec::new();
        if let (true, Some(transcript)) = (checked.replayable, &checked.transcript) {
            let mut trainer = Trainer::new(self.spec, &self.plan, self.data, self.exec)
                .expect("checked in Verifier::new");
            for &segment in &sampled {
                match self.replay_segment(checked, transcript, segment, &mut trainer) {
                    Ok(report) => {
                        if !(report.params_match && report.optimizer_match && report.loss_match) {
                            reasons.push(Rejection::SegmentReplayMismatch {
                                segment,
                                start_step: report.start_step,
                                end_step: report.end_step,
                            });
                        }
                        segment_reports.push(report);
                    }
                    Err(rejection) => reasons.push(rejection),
                }
            }
        }
        Report {
            v: REPORT_VERSION,
            verdict: if reasons.is_empty() {
                Verdict::Accept
            } else {
                Verdict::Reject
            },
            reasons,
            spec_sha256: Sha256Hex(self.spec.sha256()),
            root: checked.transcript.as_ref().map(|t| t.root),
            total_steps: self.plan.total_steps,
            segments_total,
            challenge_seed: None,
            disputed_segment: None,
            segments_sampled: if checked.replayable {
                sampled
            } else {
                Vec::new()
            },
            segments: segment_reports,
            accuracy: checked.accuracy,
        }
    }

    /// Reads checkpoint `index` (size against the manifest, shapes, content against its leaf).
    ///
    /// The file's sha256 is not compared with the manifest's: the header checks and the two
    /// tensor hashes of the leaf fix every byte of the file, so that digest could only confirm
    /// what the leaf already binds, at the cost of hashing the file twice.
    fn load_checkpoint(
        &self,
        checked: &CheckedBundle,
        transcript: &Transcript,
        index: usize,
    ) -> Result<Checkpoint, Rejection> {
        let leaf = &transcript.leaves[index];
        let path = bundle::checkpoint_path(leaf.step);
        let (bytes, _) = read_listed_sized(
            &checked.dir,
            checked.checkpoints.get(&leaf.step).copied(),
            &path,
            self.expected_checkpoint_bytes(),
        )?;
        let (mut checkpoint, [params_sha256, optimizer_sha256]) = bundle::decode_checkpoint_hashed(
            &bytes,
            self.plan.architecture.parameter_count(),
            self.plan.optimizer_state_len,
        )
        .map_err(|e| Rejection::MalformedBundle {
            detail: format!("{path}: {e}"),
        })?;
        if checkpoint.step != leaf.step
            || params_sha256 != leaf.params_sha256
            || optimizer_sha256 != leaf.optimizer_sha256
        {
            return Err(Rejection::CheckpointLeafMismatch { step: leaf.step });
        }
        checkpoint.loss = leaf.loss;
        Ok(checkpoint)
    }

    fn replay_segment(
        &self,
        checked: &CheckedBundle,
        transcript: &Transcript,
        segment: usize,
        trainer: &mut Trainer,
    ) -> Result<SegmentReport, Rejection> {
        let start = self.load_checkpoint(checked, transcript, segment)?;
        let committed = self.load_checkpoint(checked, transcript, segment + 1)?;
        let mut replayed = start.clone();
        if let Err(e) = trainer.run_until(&mut replayed, committed.step) {
            // A start that makes honest training diverge cannot have produced a finite end.
            tracing::warn!(segment, "replay failed: {e}");
            return Ok(SegmentReport {
                segment,
                start_step: start.step,
                end_step: committed.step,
                params_match: false,
                optimizer_match: false,
                loss_match: false,
                committed_loss: committed.loss,
                replayed_loss: f32::NAN,
                distances: distances(
                    &self.plan,
                    &start.params,
                    &replayed.params,
                    &committed.params,
                ),
            });
        }
        // `committed` hashes to its leaf (checked on loading), so the replayed end hashes to the
        // leaf exactly when it equals `committed` bit for bit: no need to hash it again.
        let params_match = same_bits(&replayed.params, &committed.params);
        Ok(SegmentReport {
            segment,
            start_step: start.step,
            end_step: committed.step,
            params_match,
            optimizer_match: same_bits(&replayed.optimizer_state, &committed.optimizer_state),
            loss_match: replayed.loss.to_bits() == committed.loss.to_bits(),
            committed_loss: committed.loss,
            replayed_loss: replayed.loss,
            distances: if params_match {
                SegmentDistances::identical(&self.plan)
            } else {
                distances(
                    &self.plan,
                    &start.params,
                    &replayed.params,
                    &committed.params,
                )
            },
        })
    }
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Reads a file the manifest lists, at most `max_bytes`, and checks its size and sha256.
fn read_listed_file(
    dir: &Path,
    entry: Option<Listed>,
    path: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, Rejection> {
    let (bytes, entry) = read_listed_sized(dir, entry, path, max_bytes)?;
    let sha256 = Sha256Hex::of(&bytes);
    if sha256 != entry.sha256 {
        return Err(Rejection::ManifestMismatch {
            path: path.to_string(),
            detail: format!(
                "{} bytes with sha256 {sha256}, the manifest lists {} bytes with {}",
                bytes.len(),
                entry.bytes,
                entry.sha256
            ),
        });
    }
    Ok(bytes)
}

/// Reads a file the manifest lists, at most `max_bytes`, and checks its size only. For
/// checkpoints, whose every byte the caller checks against the transcript leaf instead.
fn read_listed_sized(
    dir: &Path,
    entry: Option<Listed>,
    path: &str,
    max_bytes: u64,
) -> Result<(Vec<u8>, Listed), Rejection> {
    let entry = entry.ok_or_else(|| Rejection::MalformedBundle {
        detail: format!("{path} is missing from the manifest"),
    })?;
    let bytes =
        bundle::read_bundle_file(dir, path, max_bytes).map_err(|e| Rejection::MalformedBundle {
            detail: format!("{path}: {e}"),
        })?;
    if bytes.len() as u64 != entry.bytes {
        return Err(Rejection::ManifestMismatch {
            path: path.to_string(),
            detail: format!("{} bytes, the manifest lists {}", bytes.len(), entry.bytes),
        });
    }
    Ok((bytes, entry))
}

/// A manifest path must stay inside the bundle: relative, plain names, no `..`.
fn is_safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 200
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Segments to replay: the last one, plus `count - 1` others drawn without replacement from
/// the ChaCha20 stream "challenge" keyed by the seed (partial Fisher-Yates); all if `count`
/// covers them. At least the last segment is always replayed, even for `count` = 0.
/// Returned in ascending order.
pub fn sample_segments(challenge_seed: [u8; 32], total: usize, count: usize) -> Vec<usize> {
    let count = count.max(1);
    if total == 0 {
        return Vec::new();
    }
    if count >= total {
        return (0..total).collect();
    }
    let mut rng = CounterRng::new(derive_key("challenge", &challenge_seed), 0);
    let mut candidates: Vec<usize> = (0..total - 1).collect();
    for i in 0..count - 1 {
        let j = i + rng.next_below((candidates.len() - i) as u64) as usize;
        candidates.swap(i, j);
    }
    let mut chosen = candidates[..count - 1].to_vec();
    chosen.push(total - 1);
    chosen.sort_unstable();
    chosen
}

/// Probability that `sampled` segments (the last always among them) catch at least one of
/// `forged` forged segments out of `total`, when the last segment is honest:
/// 1 - C(total - 1 - forged, sampled - 1) / C(total - 1, sampled - 1).
pub fn detection_probability(total: usize, forged: usize, sampled: usize) -> f64 {
    if total == 0 || sampled == 0 || forged == 0 {
        return 0.0;
    }
    let others = total - 1;
    let draws = (sampled - 1).min(others);
    let mut miss = 1.0f64;
    for i in 0..draws {
        miss *= others.saturating_sub(forged).saturating_sub(i) as f64 / (others - i) as f64;
    }
    1.0 - miss
}

impl SegmentDistances {
    /// What [`distances`] gives when the committed end equals the replayed one bit for bit,
    /// without its per-tensor sorts (the honest case, so the cost of every accepted segment).
    fn identical(plan: &TrainingPlan) -> Self {
        Self {
            l1: 0.0,
            l2: 0.0,
            linf: 0.0,
            cosine: 1.0,
            layer_distribution_max: 0.0,
            layers: plan
                .architecture
                .tensors
                .iter()
                .map(|tensor| LayerDistance {
                    tensor: tensor.name.clone(),
                    wasserstein: 0.0,
                })
                .collect(),
        }
    }
}

fn distances(
    plan: &TrainingPlan,
    start: &[f32],
    replayed: &[f32],
    committed: &[f32],
) -> SegmentDistances {
    let (mut l1_d, mut l1_u, mut l2_d, mut l2_u, mut max_d, mut max_u) =
        (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let (mut dot, mut committed_norm) = (0.0f64, 0.0f64);
    for ((&s, &r), &c) in start.iter().zip(replayed).zip(committed) {
        let (s, r, c) = (f64::from(s), f64::from(r), f64::from(c));
        let (deviation, update, committed_update) = (c - r, r - s, c - s);
        l1_d += deviation.abs();
        l1_u += update.abs();
        l2_d += deviation * deviation;
        l2_u += update * update;
        max_d = max_d.max(deviation.abs());
        max_u = max_u.max(update.abs());
        dot += update * committed_update;
        committed_norm += committed_update * committed_update;
    }
    let ratio = |numerator: f64, denominator: f64| {
        if numerator == 0.0 {
            0.0
        } else {
            numerator / denominator.max(f64::MIN_POSITIVE)
        }
    };
    let cosine = if l1_d == 0.0 || (l2_u == 0.0 && committed_norm == 0.0) {
        1.0
    } else if l2_u == 0.0 || committed_norm == 0.0 {
        0.0
    } else {
        dot / (l2_u.sqrt() * committed_norm.sqrt())
    };
    let layers: Vec<LayerDistance> = plan
        .architecture
        .tensors
        .iter()
        .map(|tensor| {
            let range = tensor.offset..tensor.offset + tensor.len;
            let mut c: Vec<f64> = committed[range.clone()]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let mut r: Vec<f64> = replayed[range.clone()]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            c.sort_by(f64::total_cmp);
            r.sort_by(f64::total_cmp);
            let n = tensor.len.max(1) as f64;
            let transport: f64 = c.iter().zip(&r).map(|(a, b)| (a - b).abs()).sum::<f64>() / n;
            let mean_update: f64 = replayed[range.clone()]
                .iter()
                .zip(&start[range])
                .map(|(&r, &s)| (f64::from(r) - f64::from(s)).abs())
                .sum::<f64>()
                / n;
            LayerDistance {
                tensor: tensor.name.clone(),
                wasserstein: ratio(transport, mean_update),
            }
        })
        .collect();
    SegmentDistances {
        l1: ratio(l1_d, l1_u),
        l2: ratio(l2_d.sqrt(), l2_u.sqrt()),
        linf: ratio(max_d, max_u),
        cosine,
        layer_distribution_max: layers.iter().map(|l| l.wasserstein).fold(0.0, f64::max),
        layers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_always_includes_the_last_segment_and_is_distinct() {
        for seed in 0..50u8 {
            let sampled = sample_segments([seed; 32], 40, 6);
            assert_eq!(sampled.len(), 6);
            assert_eq!(*sampled.last().unwrap(), 39);
            let mut unique = sampled.clone();
            unique.dedup();
            assert_eq!(unique, sampled);
        }
        assert_eq!(sample_segments([1; 32], 3, 16), vec![0, 1, 2]);
        assert_eq!(sample_segments([1; 32], 30, 0), vec![29]);
        assert_ne!(
            sample_segments([1; 32], 100, 4),
            sample_segments([2; 32], 100, 4)
        );
    }

    #[test]
    fn detection_probability_formula() {
        assert_eq!(detection_probability(10, 0, 4), 0.0);
        assert_eq!(detection_probability(10, 3, 1), 0.0);
        // 9 other segments, 3 forged, 1 extra draw: 3/9.
        assert!((detection_probability(10, 3, 2) - 3.0 / 9.0).abs() < 1e-12);
        assert_eq!(detection_probability(10, 9, 2), 1.0);
        assert_eq!(detection_probability(10, 50, 2), 1.0);
        assert_eq!(detection_probability(0, 1, 2), 0.0);
    }

    /// The shortcut for an exactly reproduced segment gives what the full computation gives.
    #[test]
    fn identical_distances_equal_the_computed_ones() {
        let spec = TaskSpec::from_json(crate::examples::DIGITS_CNN.as_bytes()).unwrap();
        let plan = spec.validate().unwrap();
        let start = plan.architecture.initial_parameters(1);
        let end = plan.architecture.initial_parameters(2);
        assert_eq!(
            distances(&plan, &start, &end, &end),
            SegmentDistances::identical(&plan)
        );
        let mut off = end.clone();
        off[3] += 0.5;
        assert_ne!(
            distances(&plan, &start, &end, &off),
            SegmentDistances::identical(&plan)
        );
    }

    #[test]
    fn unsafe_paths_are_refused() {
        assert!(is_safe_relative_path("checkpoints/step-0000000001.ckpt"));
        for path in ["../x", "/etc/passwd", "a/../../b", "", "a\\b", "a b"] {
            assert!(!is_safe_relative_path(path), "{path}");
        }
    }
}
