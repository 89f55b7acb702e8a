//! Task match: the agent shares the machine, then follows finalized market events and trains
//! every order placed on it. At start-up it also takes up an order placed while it was down.
//!
//! Per order: read the task spec from the order's metadata; refuse early, with `order_failed`
//! and a reason the buyer reads, what this machine cannot do (an invalid spec, too little memory
//! or offered disk, a training longer than the order); fetch the dataset (bounded, resumable,
//! sha256 checked); train with the Proof-of-Training engine, streaming signed log records to the
//! indexer; upload the bundle; `order_completed`, then `submit_pot`. Before each chain call the
//! order's on-chain status is read, and each call's nonce is recorded before it is sent, so
//! that nothing is reported twice, even across a crash.
//!
//! After a crash or a restart each order resumes where it stood: a dataset already fetched (and
//! checked) is kept, a partial download continues, training continues from its last checkpoint
//! (same bundle in the end: the engine is deterministic), a finished bundle is not trained
//! again, and a call in flight is waited for.

use crate::config::Settings;
use crate::device::Device;
use crate::order::{OrderState, Status, now_ms};
use crate::progress::Progress;
use crate::{ClientError, assess, share};
use futures::StreamExt;
use matrixai_chain::keys::Keypair;
use matrixai_chain::machine_metadata::MachineMetadata;
use matrixai_chain::order_result::{Delivery, FailureCode, OrderResult};
use matrixai_chain::runtime::hashrate_market::Event;
use matrixai_chain::runtime::runtime_types::pallet_hashrate_market::types::OrderStatus;
use matrixai_chain::storage::{Storage, StorageError};
use matrixai_chain::training_log::{LogBatch, LogLevel, LogMetrics, LogRecord};
use matrixai_chain::{AccountId, ChainClient, MachineId, Order, OrderId, Payload, ids, runtime};
use matrixai_pot::estimate::{MachineSpeed, estimate};
use matrixai_pot::{
    BundleSummary, Commitment, Exec, PreparedData, TaskSpec, TrainingPlan, train_bundle,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Share of the machine's memory an order may use.
const MEMORY_SHARE: f64 = 0.8;
/// Wait before an order that stopped on the agent's side (the node or the disk away) is taken
/// up again.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// How long a call recorded in flight before a restart may stay in the node's pool.
const PENDING_CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Why an order cannot be done: what goes into `order_failed`.
struct Refusal {
    code: FailureCode,
    reason: String,
}

impl Refusal {
    fn new(code: FailureCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// The running agent of one machine.
pub struct Agent {
    settings: Settings,
    client: ChainClient,
    owner: Keypair,
    me: AccountId,
    machine_id: MachineId,
    device: Device,
    speed: MachineSpeed,
    storage: Storage,
    http: reqwest::Client,
    /// Held while an order trains or a drill runs: one computation at a time, so that a
    /// drill measures the machine and not the machine shared with an order.
    busy: tokio::sync::Mutex<()>,
}

/// Why a drill was not answered.
#[derive(Debug, thiserror::Error)]
pub enum DrillRefusal {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is not a validator of the chain")]
    NotAValidator(String),
    #[error("the machine is training an order; drill it later")]
    Busy,
    #[error("{0}")]
    Failed(String),
}

impl Agent {
    /// Connects, shares the machine (registering it if needed) and returns the agent.
    pub async fn start(settings: Settings, budget: &assess::Budget) -> Result<Self, ClientError> {
        let owner = settings.account.keypair()?;
        let me = matrixai_chain::keys::account_id(&owner);
        let client = ChainClient::connect(&settings.node).await?;
        let shared = share::share(&settings, &client, &owner, budget, &Progress::detect()).await?;
        let machine_id = ids::parse_uuid(&shared.machine_id).expect("a machine id");
        let machine = client
            .finalized_state()
            .await?
            .machine(machine_id)
            .await?
            .ok_or_else(|| ClientError::Refused("the machine vanished from the chain".into()))?;
        let performance = MachineMetadata::parse(&machine.metadata.0)?.performance;
        tracing::info!(machine = %shared.machine_id, index = performance.index, "machine shared");
        let storage = Storage::new(settings.backends.clone());
        Ok(Self {
            device: Device::detect(&settings.work_dir)?,
            speed: performance.machine_speed(),
            settings,
            client,
            owner,
            me,
            machine_id,
            storage,
            http: matrixai_chain::storage::http_client(),
            busy: tokio::sync::Mutex::new(()),
        })
    }

    /// Answers a validator's drill (docs/validator-guide.md, "Verified performance"): a
    /// challenge for this machine, signed by a validator of the chain, trained at once unless an
    /// order is training; the transcript root signed with the owner's key.
    pub async fn answer_drill(
        &self,
        signed: &matrixai_chain::drill::Signed,
    ) -> Result<matrixai_chain::drill::DrillAnswer, DrillRefusal> {
        use matrixai_chain::drill::{DrillAnswer, DrillChallenge, VERSION};
        let (challenge, validator) =
            DrillChallenge::verify(signed).map_err(|e| DrillRefusal::Invalid(e.to_string()))?;
        if challenge.v != VERSION || challenge.machine_id != ids::uuid(&self.machine_id) {
            return Err(DrillRefusal::Invalid(format!(
                "a drill of version {} for machine {}; this is machine {} (version {VERSION})",
                challenge.v,
                challenge.machine_id,
                ids::uuid(&self.machine_id)
            )));
        }
        let seed = challenge
            .seed_bytes()
            .map_err(|e| DrillRefusal::Invalid(e.to_string()))?;
        // Busy first: answering a busy machine's drills costs nothing.
        let _busy = self.busy.try_lock().map_err(|_| DrillRefusal::Busy)?;
        let validators = async { self.client.finalized_state().await?.validators().await }
            .await
            .map_err(|e| DrillRefusal::Failed(format!("the chain cannot be read: {e}")))?;
        if !validators.contains(&validator) {
            return Err(DrillRefusal::NotAValidator(validator.to_string()));
        }
        if !(1..=matrixai_pot::drill::MAX_EPOCHS).contains(&challenge.epochs) {
            return Err(DrillRefusal::Invalid(format!(
                "a drill trains 1 to {} epochs, not {}",
                matrixai_pot::drill::MAX_EPOCHS,
                challenge.epochs
            )));
        }
        let spec = matrixai_pot::drill::spec(seed, challenge.epochs);
        let threads = self.settings.threads;
        tracing::info!(validator = %validator, epochs = spec.epochs, "drill");
        let answer = tokio::task::spawn_blocking(move || {
            matrixai_pot::drill::run(&spec, &Exec::new(threads, None)?)
        })
        .await
        .expect("a drill does not panic")
        .map_err(|e| DrillRefusal::Failed(e.to_string()))?;
        Ok(DrillAnswer::sign(
            &signed.document,
            answer.root.0,
            &self.owner,
        ))
    }

    pub fn machine_id(&self) -> MachineId {
        self.machine_id
    }

    /// Takes orders until `shutdown` turns true. A lost node connection is retried with
    /// backoff; each (re)connection first takes up the machine's open order, if any.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) -> Result<(), ClientError> {
        matrixai_chain::events::follow_until_shutdown(shutdown, || self.clone().follow()).await;
        Ok(())
    }

    async fn follow(self: Arc<Self>) -> Result<(), ClientError> {
        // Subscribe before looking at the machine, so no order falls between the two.
        let events = self.client.market_events().await?;
        let mut events = std::pin::pin!(events);
        let (work, mut queue) = mpsc::unbounded_channel::<OrderId>();
        let worker = {
            let agent = self.clone();
            let retry = work.clone();
            tokio::spawn(async move {
                // One order at a time: the chain rents a machine to one order at a time.
                while let Some(order_id) = queue.recv().await {
                    if let Err(error) = agent.process(order_id).await {
                        tracing::error!(order = %ids::uuid(&order_id), %error, retry_in = ?RETRY_AFTER, "order not finished");
                        let retry = retry.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(RETRY_AFTER).await;
                            let _ = retry.send(order_id);
                        });
                    }
                }
            })
        };
        let state = self.client.finalized_state().await?;
        if let Some(order_id) = state
            .machine(self.machine_id)
            .await?
            .and_then(|machine| machine.last_order)
        {
            let _ = work.send(order_id);
        }
        while let Some(event) = events.next().await {
            let event = event?;
            match event.event {
                Event::OrderPlaced {
                    order_id,
                    machine_id,
                    ..
                } if machine_id == self.machine_id => {
                    let _ = work.send(order_id);
                }
                Event::OrderSettled { order_id, .. }
                | Event::OrderExpired { order_id, .. }
                | Event::PotVerified { order_id, .. } => {
                    self.note_outcome(order_id, &event.event)?;
                }
                _ => {}
            }
        }
        worker.abort();
        Ok(())
    }

    /// Records how an order this machine trained ended on chain.
    fn note_outcome(&self, order_id: OrderId, event: &Event) -> Result<(), ClientError> {
        let work_dir = &self.settings.work_dir;
        let Some(mut state) = OrderState::load(work_dir, &order_id)? else {
            return Ok(());
        };
        let (status, note) = match event {
            Event::OrderSettled { paid, .. } => {
                (Status::Settled, format!("paid {}", crate::tokens(*paid)))
            }
            Event::OrderExpired {
                refunded, slashed, ..
            } => (
                Status::Failed,
                format!(
                    "expired on chain: buyer refunded {}, slashed {}",
                    crate::tokens(*refunded),
                    crate::tokens(*slashed)
                ),
            ),
            Event::PotVerified { verdict, .. } => (
                state.status,
                format!("the validator's verdict: {verdict:?}"),
            ),
            _ => return Ok(()),
        };
        state.note = Some(note);
        state.transition(work_dir, status)
    }

    /// Takes one order as far as it can go; an order already finished is left alone.
    pub async fn process(&self, order_id: OrderId) -> Result<(), ClientError> {
        let work_dir = self.settings.work_dir.clone();
        let mut state =
            OrderState::load(&work_dir, &order_id)?.unwrap_or_else(|| OrderState::new(&order_id));
        if state.status.is_final() {
            return Ok(());
        }
        self.settle_pending_call(&mut state).await?;
        let Some(order) = self.client.finalized_state().await?.order(order_id).await? else {
            // Closed on chain while the agent was away (or just before it wrote so): failed by
            // this agent if it recorded a failure, else settled or expired.
            let failed = state.result.as_deref().is_some_and(|result| {
                matches!(
                    OrderResult::parse(result.as_bytes()),
                    Ok(OrderResult::Failed(_))
                )
            });
            state.note.get_or_insert_with(|| "closed on chain".into());
            let status = if failed {
                Status::Failed
            } else {
                Status::Settled
            };
            return state.transition(&work_dir, status);
        };
        if order.seller != self.me || order.machine_id != self.machine_id {
            return Ok(());
        }
        match order.status {
            OrderStatus::Training => {}
            OrderStatus::Completed => return self.prove(order_id, &mut state).await,
            _ => {
                if state.status != Status::ProofSubmitted {
                    state.transition(&work_dir, Status::ProofSubmitted)?;
                }
                return Ok(());
            }
        }
        if state.status == Status::Accepted {
            state.save(&work_dir)?;
            tracing::info!(order = %state.order_id, "order accepted");
        }
        let training = {
            let _busy = self.busy.lock().await;
            self.train(order_id, &order, &mut state).await?
        };
        match training {
            Ok(delivery) => {
                self.complete(order_id, &mut state, delivery).await?;
                self.prove(order_id, &mut state).await
            }
            Err(refusal) => self.fail(order_id, &mut state, refusal).await,
        }
    }

    /// From the spec to an uploaded bundle; `Ok(Err(_))` is the order's failure, `Err(_)` the
    /// agent's (retried later).
    async fn train(
        &self,
        order_id: OrderId,
        order: &Order,
        state: &mut OrderState,
    ) -> Result<Result<(Delivery, Commitment), Refusal>, ClientError> {
        let work_dir = &self.settings.work_dir;
        let order_dir = OrderState::dir(work_dir, &order_id);
        let spec = match TaskSpec::from_json(&order.metadata.0) {
            Ok(spec) => spec,
            Err(error) => {
                return Ok(Err(Refusal::new(
                    FailureCode::InvalidSpec,
                    error.to_string(),
                )));
            }
        };
        let plan = match spec.validate() {
            Ok(plan) => plan,
            Err(error) => {
                return Ok(Err(Refusal::new(
                    FailureCode::InvalidSpec,
                    error.to_string(),
                )));
            }
        };
        // Checked when the order is taken, not again when it resumes later in its time.
        if state.status == Status::Accepted
            && let Err(refusal) = self.check_capacity(&spec, &plan, order).await?
        {
            return Ok(Err(refusal));
        }
        let bundle_dir = order_dir.join("bundle");
        let trained = matches!(state.status, Status::Uploading | Status::Completed)
            .then(|| BundleSummary::read(&bundle_dir, &spec).ok())
            .flatten();
        let summary = match trained {
            // Trained before an interruption: only the upload is left.
            Some(summary) => summary,
            None => {
                state.transition(work_dir, Status::Fetching)?;
                let dataset = match self.fetch_dataset(&spec, &order_dir).await? {
                    Ok(dataset) => dataset,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                match self
                    .train_bundle(order_id, order, &spec, &plan, dataset, &bundle_dir, state)
                    .await?
                {
                    Ok(summary) => summary,
                    Err(refusal) => return Ok(Err(refusal)),
                }
            }
        };

        let bundle_uri = match self
            .storage
            .put_dir(&self.settings.storage, &state.order_id, &bundle_dir)
            .await
        {
            Ok(uri) => uri,
            Err(error) => {
                return Ok(Err(Refusal::new(
                    FailureCode::StorageError,
                    error.to_string(),
                )));
            }
        };
        let commitment = Commitment::new(&summary, &bundle_uri)?;
        let delivery = Delivery {
            model_uri: format!("{bundle_uri}{}", matrixai_pot::bundle::MODEL_FILE),
            model_sha256: hex::encode(summary.transcript.final_model_sha256.0),
            accuracy_ppm: summary.transcript.accuracy_ppm,
            bundle_uri,
        };
        Ok(Ok((delivery, commitment)))
    }

    /// The order's CSV dataset in the order's directory (kept from an earlier attempt when its
    /// sha256 is right, a partial download resumed); `None` for a bundled one.
    async fn fetch_dataset(
        &self,
        spec: &TaskSpec,
        order_dir: &std::path::Path,
    ) -> Result<Result<Option<std::path::PathBuf>, Refusal>, ClientError> {
        match &spec.dataset {
            matrixai_pot::spec::DatasetSpec::Bundled { .. } => Ok(Ok(None)),
            matrixai_pot::spec::DatasetSpec::Csv { uri, sha256, .. } => {
                let mut expected = [0u8; 32];
                if hex::decode_to_slice(sha256, &mut expected).is_err() {
                    return Ok(Err(Refusal::new(
                        FailureCode::InvalidSpec,
                        "dataset.sha256 is not 64 hex digits",
                    )));
                }
                let dest = order_dir.join("dataset.csv");
                let limit = u64::from(self.settings.disk_gb) * 1_000_000_000;
                match self.storage.fetch(uri, &dest, limit, Some(&expected)).await {
                    Ok(_) => Ok(Ok(Some(dest))),
                    Err(StorageError::TooLarge { .. }) => Ok(Err(Refusal::new(
                        FailureCode::InsufficientResources,
                        format!(
                            "the dataset {uri} is larger than the {} GB of disk this machine offers",
                            self.settings.disk_gb
                        ),
                    ))),
                    Err(error @ StorageError::Mismatch { .. }) => Ok(Err(Refusal::new(
                        FailureCode::DatasetMismatch,
                        error.to_string(),
                    ))),
                    Err(
                        error @ (StorageError::Unreachable { .. }
                        | StorageError::NotFound { .. }
                        | StorageError::Unsupported(_)),
                    ) => Ok(Err(Refusal::new(
                        FailureCode::DatasetUnavailable,
                        error.to_string(),
                    ))),
                    Err(error @ StorageError::Io { .. }) => {
                        Err(ClientError::Refused(error.to_string()))
                    }
                }
            }
        }
    }

    /// Trains into `bundle_dir`, from its last checkpoint when an interrupted run of this spec
    /// is there, streaming progress to the state and the indexer; ends in `Uploading`.
    #[allow(clippy::too_many_arguments)]
    async fn train_bundle(
        &self,
        order_id: OrderId,
        order: &Order,
        spec: &TaskSpec,
        plan: &TrainingPlan,
        dataset: Option<std::path::PathBuf>,
        bundle_dir: &std::path::Path,
        state: &mut OrderState,
    ) -> Result<Result<BundleSummary, Refusal>, ClientError> {
        let work_dir = &self.settings.work_dir;
        if bundle_dir.exists()
            && !bundle_dir
                .join(matrixai_pot::bundle::PROGRESS_FILE)
                .exists()
        {
            // Not a run to resume (a finished bundle of an unfinished state, or debris).
            std::fs::remove_dir_all(bundle_dir).map_err(|e| ClientError::io(bundle_dir, e))?;
        }
        // Steps are recorded only while training: some means an interrupted run.
        let resumed_from = state.step;
        state.total_steps = Some(plan.total_steps);
        state.transition(work_dir, Status::Training)?;
        let mut logs = self.log_stream(order_id, order.placed_at, state.next_log_seq);
        logs.send(
            LogLevel::Info,
            if resumed_from.is_some() {
                format!(
                    "training resumed after an interruption: {} steps in all",
                    plan.total_steps
                )
            } else {
                format!("training started: {} steps", plan.total_steps)
            },
            None,
        );
        let (progress, mut checkpoints) = mpsc::unbounded_channel::<(u64, f32)>();
        let threads = self.settings.threads;
        let forged = self.settings.dishonest_forge_segments.clone();
        let training = {
            let (spec, bundle_dir) = (spec.clone(), bundle_dir.to_path_buf());
            tokio::task::spawn_blocking(move || {
                let exec = Exec::new(threads, None)?;
                let data = PreparedData::for_spec(&spec, dataset.as_deref())?;
                if forged.is_empty() {
                    train_bundle(&spec, &data, &bundle_dir, &exec, |step, loss| {
                        let _ = progress.send((step, loss));
                    })
                } else {
                    tracing::warn!(segments = ?forged, "forging segments instead of training them");
                    if bundle_dir.exists() {
                        std::fs::remove_dir_all(&bundle_dir)
                            .map_err(|e| matrixai_pot::PotError::io(&bundle_dir, e))?;
                    }
                    matrixai_pot::attacks::forge_segments(&spec, &data, &exec, &forged, &bundle_dir)
                }
            })
        };
        let steps_per_epoch = plan.steps_per_epoch.max(1);
        while let Some((step, loss)) = checkpoints.recv().await {
            let epoch = u32::try_from(step / steps_per_epoch).unwrap_or(u32::MAX);
            state.step = Some(step);
            state.epoch = Some(epoch);
            state.loss = Some(loss);
            if step > 0 && Some(step) != resumed_from {
                logs.send(
                    LogLevel::Info,
                    format!("step {step}/{}: loss {loss:.5}", plan.total_steps),
                    Some(LogMetrics {
                        epoch: Some(epoch),
                        step: Some(step),
                        loss: Some(f64::from(loss)),
                        accuracy: None,
                    }),
                );
            }
            state.next_log_seq = logs.next_seq;
            state.save(work_dir)?;
        }
        let summary = match training.await.expect("training does not panic") {
            Ok(summary) => summary,
            Err(error) => {
                logs.send(LogLevel::Error, format!("training failed: {error}"), None);
                state.next_log_seq = logs.finish().await;
                let code = match error {
                    matrixai_pot::PotError::Dataset(_) => FailureCode::DatasetMismatch,
                    _ => FailureCode::TrainingError,
                };
                return Ok(Err(Refusal::new(code, error.to_string())));
            }
        };
        let accuracy_ppm = summary.transcript.accuracy_ppm;
        logs.send(
            LogLevel::Info,
            format!(
                "training done: evaluation accuracy {:.4}",
                f64::from(accuracy_ppm) / 1e6
            ),
            Some(LogMetrics {
                epoch: Some(spec.epochs),
                step: Some(plan.total_steps),
                loss: state.loss.map(f64::from),
                accuracy: Some(f64::from(accuracy_ppm) / 1e6),
            }),
        );
        state.accuracy_ppm = Some(accuracy_ppm);
        state.next_log_seq = logs.finish().await;
        state.transition(work_dir, Status::Uploading)?;
        Ok(Ok(summary))
    }

    /// Whether this machine can do the order in time, within its memory and offered disk.
    async fn check_capacity(
        &self,
        spec: &TaskSpec,
        plan: &TrainingPlan,
        order: &Order,
    ) -> Result<Result<(), Refusal>, ClientError> {
        let arch = &plan.architecture;
        let floats = arch.parameter_count() * 2
            + plan.optimizer_state_len
            + arch.workspace_per_sample() * plan.batch_size as usize
            + (plan.shape.rows * plan.shape.feature_len()) as usize;
        let memory_mb = (floats * 4) as f64 / (1024.0 * 1024.0);
        let available_mb = self.device.ram_mb as f64 * MEMORY_SHARE;
        if memory_mb > available_mb {
            return Ok(Err(Refusal::new(
                FailureCode::InsufficientResources,
                format!(
                    "needs about {memory_mb:.0} MB of memory; this machine offers {available_mb:.0} MB"
                ),
            )));
        }
        let checkpoint_bytes = matrixai_pot::bundle::checkpoint_file_bytes(
            arch.parameter_count(),
            plan.optimizer_state_len,
        );
        let disk = plan.checkpoint_steps().len() as u64 * checkpoint_bytes
            + matrixai_pot::bundle::model_file_bytes(arch.parameter_count())
            + plan.shape.rows * (plan.shape.feature_len() + 1) * 24;
        let offered = u64::from(self.settings.disk_gb) * 1_000_000_000;
        if disk > offered {
            return Ok(Err(Refusal::new(
                FailureCode::InsufficientResources,
                format!(
                    "needs about {:.2} GB of disk for the dataset and proof; this machine offers {} GB",
                    disk as f64 / 1e9,
                    self.settings.disk_gb
                ),
            )));
        }
        let estimate = match estimate(spec, &self.speed) {
            Ok(estimate) => estimate,
            Err(error) => {
                return Ok(Err(Refusal::new(
                    FailureCode::InvalidSpec,
                    error.to_string(),
                )));
            }
        };
        let state = self.client.finalized_state().await?;
        let block_ms = state
            .at()
            .constants()
            .entry(runtime::constants().babe().expected_block_time())
            .map_err(matrixai_chain::ChainError::from)?;
        let blocks_left = u64::from(order.deadline).saturating_sub(state.block_number());
        let seconds_left = blocks_left as f64 * block_ms as f64 / 1000.0;
        let needed = estimate.needed_s();
        if needed > seconds_left {
            return Ok(Err(Refusal::new(
                FailureCode::DurationTooShort,
                format!(
                    "training needs about {:.0} s (estimate {:.0} s), the order leaves {seconds_left:.0} s before its deadline; order more hours",
                    needed, estimate.total_s
                ),
            )));
        }
        Ok(Ok(()))
    }

    async fn complete(
        &self,
        order_id: OrderId,
        state: &mut OrderState,
        (delivery, commitment): (Delivery, Commitment),
    ) -> Result<(), ClientError> {
        let result = OrderResult::Completed(delivery.clone()).to_bytes()?;
        state.result = Some(String::from_utf8(result.clone()).expect("JSON"));
        state.commitment = Some(String::from_utf8(commitment.to_json()?).expect("JSON"));
        state.save(&self.settings.work_dir)?;
        let call = runtime::tx().hashrate_market().order_completed(
            order_id,
            result,
            delivery.accuracy_ppm,
        );
        self.submit_once(state, &call).await?;
        state.transition(&self.settings.work_dir, Status::Completed)?;
        tracing::info!(order = %state.order_id, accuracy_ppm = delivery.accuracy_ppm, "order completed");
        Ok(())
    }

    /// `submit_pot` with the commitment kept in the state.
    async fn prove(&self, order_id: OrderId, state: &mut OrderState) -> Result<(), ClientError> {
        let Some(commitment) = state.commitment.clone() else {
            return Err(ClientError::Refused(format!(
                "order {} is completed on chain but this work directory has no commitment for it",
                state.order_id
            )));
        };
        let call = runtime::tx()
            .hashrate_market()
            .submit_pot(order_id, commitment.into_bytes());
        self.submit_once(state, &call).await?;
        state.transition(&self.settings.work_dir, Status::ProofSubmitted)?;
        tracing::info!(order = %state.order_id, "proof of training submitted");
        Ok(())
    }

    async fn fail(
        &self,
        order_id: OrderId,
        state: &mut OrderState,
        refusal: Refusal,
    ) -> Result<(), ClientError> {
        tracing::warn!(order = %state.order_id, code = ?refusal.code, reason = %refusal.reason, "order failed");
        let result = OrderResult::failed(refusal.code, &refusal.reason).to_bytes()?;
        state.result = Some(String::from_utf8(result.clone()).expect("JSON"));
        state.note = Some(refusal.reason);
        state.save(&self.settings.work_dir)?;
        let still_open = self
            .client
            .finalized_state()
            .await?
            .order(order_id)
            .await?
            .is_some_and(|order| order.status == OrderStatus::Training);
        if still_open {
            let call = runtime::tx()
                .hashrate_market()
                .order_failed(order_id, result);
            self.submit_once(state, &call).await?;
        }
        state.transition(&self.settings.work_dir, Status::Failed)
    }

    /// Submits `call` with its nonce recorded in the state first, so that after a crash
    /// [`Self::settle_pending_call`] knows whether it made it.
    async fn submit_once<Call: Payload>(
        &self,
        state: &mut OrderState,
        call: &Call,
    ) -> Result<(), ClientError> {
        let pending = self.client.prepare_call(call, &self.me).await?;
        state.pending_call = Some(pending.clone());
        state.save(&self.settings.work_dir)?;
        let work_dir = &self.settings.work_dir;
        self.client
            .submit_pending(call, &self.owner, &pending, || {
                state.pending_call = None;
                state.save(work_dir)
            })
            .await??;
        Ok(())
    }

    /// Waits until the call recorded in flight is in a finalized block or known lost, so that
    /// the order's on-chain state read next tells whether to call again.
    async fn settle_pending_call(&self, state: &mut OrderState) -> Result<(), ClientError> {
        let Some(pending) = state.pending_call.clone() else {
            return Ok(());
        };
        self.client
            .settle_pending(&pending, &self.me, PENDING_CALL_TIMEOUT)
            .await?;
        tracing::info!(order = %state.order_id, call = %pending.call, "a call in flight before the restart is settled");
        state.pending_call = None;
        state.save(&self.settings.work_dir)
    }

    fn log_stream(&self, order_id: OrderId, placed_at: u32, next_seq: u64) -> LogStream {
        LogStream::start(
            self.http.clone(),
            format!(
                "{}/api/log/add",
                self.settings.indexer.trim_end_matches('/')
            ),
            self.owner.clone(),
            order_id,
            placed_at,
            next_seq,
        )
    }
}

/// Training log records on their way to the indexer: numbered, batched, signed by the seller.
/// The indexer being away never stops training; records that could not be delivered are
/// logged locally.
struct LogStream {
    records: mpsc::UnboundedSender<LogRecord>,
    sender: tokio::task::JoinHandle<()>,
    next_seq: u64,
}

impl LogStream {
    fn start(
        http: reqwest::Client,
        url: String,
        seller: Keypair,
        order_id: OrderId,
        placed_at: u32,
        next_seq: u64,
    ) -> Self {
        let (records, mut incoming) = mpsc::unbounded_channel::<LogRecord>();
        let sender = tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                let mut batch = vec![first];
                while batch.len() < matrixai_chain::training_log::MAX_RECORDS_PER_BATCH {
                    match incoming.try_recv() {
                        Ok(record) => batch.push(record),
                        Err(_) => break,
                    }
                }
                let batch = LogBatch {
                    order_id,
                    placed_at,
                    records: batch,
                };
                if let Err(error) = post(&http, &url, &batch, &seller).await {
                    tracing::warn!(order = %ids::uuid(&order_id), %error, "training log not delivered to the indexer");
                }
            }
        });
        Self {
            records,
            sender,
            next_seq,
        }
    }

    fn send(&mut self, level: LogLevel, message: String, metrics: Option<LogMetrics>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        tracing::info!(seq, "{message}");
        let _ = self.records.send(LogRecord {
            seq,
            timestamp_ms: now_ms(),
            level,
            message,
            metrics,
        });
    }

    /// Delivers what is queued and returns the next sequence number.
    async fn finish(self) -> u64 {
        drop(self.records);
        let _ = self.sender.await;
        self.next_seq
    }
}

/// Posts a signed batch; retried a few times (about 15 s in all) while the indexer is away or
/// has not indexed the order's block yet (404), since it follows the same finalized blocks as
/// the agent and may be a moment behind.
async fn post(
    http: &reqwest::Client,
    url: &str,
    batch: &LogBatch,
    seller: &Keypair,
) -> Result<(), String> {
    let signature = batch.sign(seller).map_err(|e| e.to_string())?;
    let body = batch.request_body(&signature);
    let mut delay = Duration::from_millis(250);
    let mut attempts_left = 6;
    loop {
        attempts_left -= 1;
        let error = match http.post(url).json(&body).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let retry = status == reqwest::StatusCode::NOT_FOUND || status.is_server_error();
                if !retry {
                    return Err(format!("{status}: {text}"));
                }
                format!("{status}: {text}")
            }
            Err(error) => error.to_string(),
        };
        if attempts_left == 0 {
            return Err(error);
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}
