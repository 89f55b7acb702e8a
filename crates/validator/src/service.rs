//! The service's loop: follow the best and finalized blocks for the panels this account sits
//! on, and judge each order in this account's round, one at a time (a replay takes the
//! machine's threads); drill listed machines (see [`drill`]).
//!
//! For a seat on a panel (see docs/chain.md, "Validator assignment"):
//!
//! 1. before its round, wait for it (an earlier member may judge first);
//! 2. in its round, fetch what the judgement reads and replay it in the bounded verifier process;
//!    the verdict and the report are kept before anything is sent;
//! 3. submit `verify_pot` with its nonce recorded, so that after a crash the call is settled,
//!    never repeated; once it is final, publish the signed report to the indexer;
//! 4. when the bundle's storage cannot be reached, retry until its round ends; the last member of
//!    the panel then fails the proof (the trainer chose the storage; see docs/validator-guide.md)
//!    while an earlier one leaves it to the next.

use crate::ValidatorError;
use crate::config::Settings;
use crate::fetch::{self, FetchFailure};
use crate::judgement::{Judgement, Stage, write_atomically};
use crate::replay::{ReplayArgs, Replayed};
use futures::StreamExt;
use matrixai_chain::keys::Keypair;
use matrixai_chain::runtime::hashrate_market::Event;
use matrixai_chain::storage::Storage;
use matrixai_chain::verification_report::{
    self, JudgedTask, ReportVerdict, SignedReport, VerificationReport,
};
use matrixai_chain::{
    AccountId, ChainClient, ChainError, MachineId, Order, OrderId, OrderStatus, Verdict, ids,
    runtime,
};
use matrixai_pot::{Commitment, Sha256Hex, TaskSpec};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

mod drill;

/// Longest wait for a proof's challenge block to be final (a panel is seen on the best chain
/// a block after it, about two before it is final).
const CHALLENGE_FINALITY: Duration = Duration::from_secs(60);
/// Pause before an order whose judgement hit an error is taken up again.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// Pause between two attempts to reach a bundle's storage.
const REFETCH_AFTER: Duration = Duration::from_secs(5);
/// Longest fetch of a judgement's bundle files, or of its dataset.
const FETCH_TIME_LIMIT: Duration = Duration::from_secs(30 * 60);
/// Attempts at publishing a report within one pass over its judgement.
const PUBLISH_ATTEMPTS: u32 = 3;
/// Longest wait for a call recorded in flight before a restart to settle.
const PENDING_CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Best blocks before the end of its round at which a validator that still cannot reach the
/// bundle stops trying, so that its verdict still lands in its round: the next attempt would
/// come up to two blocks later, and the verdict takes one or two more to be included.
const ROUND_END_MARGIN: u64 = 5;

/// This account's seat on an order's panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    /// The block the panel's first round starts: names the judgement.
    pub panel_from: u32,
    pub round_start: u64,
    pub round_end: u64,
    /// No member after this one.
    pub last: bool,
    pub task: JudgedTask,
}

impl Seat {
    /// `me`'s seat on the panel judging `order` now, if any.
    pub fn of(order: &Order, me: &AccountId) -> Option<Self> {
        let judging = order.judging.as_ref()?;
        let panel = &judging.panel.0;
        let round = panel.iter().position(|member| member == me)? as u64;
        let task = match order.status {
            OrderStatus::PotSubmitted => JudgedTask::Proof {
                challenge_block: order.seed_block?,
            },
            OrderStatus::Disputed => JudgedTask::Dispute {
                segment: order.dispute.as_ref()?.segment,
            },
            _ => return None,
        };
        let round_blocks = u64::from(judging.round_blocks);
        let round_start = u64::from(judging.from) + round * round_blocks;
        Some(Self {
            panel_from: judging.from,
            round_start,
            round_end: round_start + round_blocks,
            last: round + 1 == panel.len() as u64,
            task,
        })
    }
}

/// What to do with an order after a pass over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Done,
    /// Take it up again once this block is finalized (its round starts).
    AtBlock(u64),
    /// Take it up again after a pause (its storage was unreachable).
    After(Duration),
}

/// The outcome of one attempt at a judgement.
enum Attempt {
    Decided,
    /// A storage could not be reached: the trainer's (the bundle) or the buyer's (the dataset).
    Unreachable {
        reason: String,
        trainers_storage: bool,
    },
    Abstain(String),
}

/// The running service.
pub struct Validator {
    settings: Settings,
    /// Replaced by a fresh connection at each session (a lost connection does not come back).
    client: std::sync::RwLock<ChainClient>,
    key: Keypair,
    me: AccountId,
    storage: Storage,
    http: reqwest::Client,
    /// Orders whose verdict is sent and awaits finality in a task of its own, which alone
    /// writes their judgement meanwhile.
    in_flight: Arc<Mutex<HashSet<OrderId>>>,
    /// Held by a replay or a drill: one computation at a time.
    compute: tokio::sync::Mutex<()>,
}

/// A worker's queue (orders to judge, machines to drill): an id is in it at most once.
struct Queue<Id> {
    sender: mpsc::UnboundedSender<Id>,
    queued: Arc<Mutex<HashSet<Id>>>,
}

impl<Id> Clone for Queue<Id> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            queued: self.queued.clone(),
        }
    }
}

impl<Id: Copy + Eq + std::hash::Hash> Queue<Id> {
    fn new() -> (Self, mpsc::UnboundedReceiver<Id>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let queue = Self {
            sender,
            queued: Arc::default(),
        };
        (queue, receiver)
    }

    fn push(&self, id: Id) {
        if lock(&self.queued).insert(id) {
            let _ = self.sender.send(id);
        }
    }

    /// The worker took `id` off the queue.
    fn taken(&self, id: &Id) {
        lock(&self.queued).remove(id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Aborts a task when dropped: a session's worker ends with its session, whichever way.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Removes a judgement's scratch files whichever way the judgement ends.
struct Scratch(Vec<std::path::PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
        }
    }
}

impl Validator {
    /// Connects and checks that the account is one of the chain's validators.
    pub async fn start(settings: Settings) -> Result<Self, ValidatorError> {
        let key = settings.account.keypair()?;
        let me = matrixai_chain::keys::account_id(&key);
        let client = ChainClient::connect(&settings.node).await?;
        let validators = client.finalized_state().await?.validators().await?;
        if !validators.contains(&me) {
            return Err(ValidatorError::Refused(format!(
                "{me} is not a validator of this chain; root adds one with hashrate_market.add_validator"
            )));
        }
        std::fs::create_dir_all(&settings.work_dir)
            .map_err(|e| ValidatorError::io(&settings.work_dir, e))?;
        tracing::info!(validator = %me, dry_run = settings.dry_run, work_dir = %settings.work_dir.display(), "validator started");
        Ok(Self {
            storage: Storage::new(settings.storage.clone()),
            settings,
            client: std::sync::RwLock::new(client),
            key,
            me,
            http: matrixai_chain::storage::http_client(),
            in_flight: Arc::default(),
            compute: tokio::sync::Mutex::new(()),
        })
    }

    pub fn account(&self) -> &AccountId {
        &self.me
    }

    fn client(&self) -> ChainClient {
        self.client
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Judges until `shutdown` turns true; a lost node connection is retried with backoff.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> Result<(), ValidatorError> {
        let this = Arc::new(self);
        matrixai_chain::events::follow_until_shutdown(shutdown, || this.clone().follow()).await;
        Ok(())
    }

    async fn follow(self: Arc<Self>) -> Result<(), ValidatorError> {
        let client = ChainClient::connect(&self.settings.node).await?;
        *self
            .client
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = client.clone();
        // Subscribe before looking at open orders, so no panel falls between the two.
        let events = client.market_events().await?;
        let mut events = std::pin::pin!(events);
        let (queue, mut taken) = Queue::new();
        let _worker = {
            let this = self.clone();
            let queue = queue.clone();
            AbortOnDrop(tokio::spawn(async move {
                while let Some(order_id) = taken.recv().await {
                    queue.taken(&order_id);
                    let next = match this.process(order_id, &queue).await {
                        Ok(next) => next,
                        Err(error) => {
                            tracing::error!(order = %ids::uuid(&order_id), %error, retry_in = ?RETRY_AFTER, "judgement not finished");
                            Next::After(RETRY_AFTER)
                        }
                    };
                    this.schedule(order_id, next, &queue);
                }
            }))
        };
        let (drills, _driller, _redrill) = self.clone().drill_workers();
        // Reports a past session kept but could not publish (the indexer was down).
        let _republish = {
            let this = self.clone();
            AbortOnDrop(tokio::spawn(async move {
                let judgements = match Judgement::load_all(&this.settings.work_dir) {
                    Ok(judgements) => judgements,
                    Err(error) => {
                        tracing::warn!(%error, "reading the judgements to republish");
                        return;
                    }
                };
                for mut judgement in judgements {
                    let done = matches!(judgement.stage, Stage::Submitted | Stage::Abstained);
                    if done && judgement.decision.is_some() && !judgement.published {
                        if let Err(error) = this.publish(&mut judgement).await {
                            tracing::warn!(order = %judgement.order_id, %error, "report not republished");
                        }
                    }
                }
            }))
        };
        // Panels seen on the best chain, about two blocks before they are final: a verdict
        // then lands two blocks sooner (its challenge seed is still read from a final block).
        let _best_panels = {
            let (this, queue) = (self.clone(), queue.clone());
            let best = client.best_market_events().await?;
            AbortOnDrop(tokio::spawn(async move {
                let mut best = std::pin::pin!(best);
                while let Some(event) = best.next().await {
                    match event {
                        Ok(event) => {
                            if let Event::PanelDrawn {
                                order_id, panel, ..
                            } = event.event
                                && panel.0.contains(&this.me)
                            {
                                queue.push(order_id);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "following the best chain; finalized panels only");
                            break;
                        }
                    }
                }
            }))
        };
        for (order_id, order) in client.finalized_state().await?.open_orders().await? {
            if Seat::of(&order, &self.me).is_some() {
                queue.push(order_id);
            }
        }
        while let Some(event) = events.next().await {
            match event?.event {
                Event::PanelDrawn {
                    order_id, panel, ..
                } if panel.0.contains(&self.me) => queue.push(order_id),
                Event::MachineAdded { machine_id, .. } | Event::OfferMade { machine_id, .. } => {
                    drills.push(machine_id)
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The session's drill worker, and the task that queues every listed machine now and then
    /// again at least hourly (each is drilled when due: see [`drill`]).
    fn drill_workers(self: Arc<Self>) -> (Queue<MachineId>, AbortOnDrop, AbortOnDrop) {
        let (drills, mut taken) = Queue::new();
        let worker = {
            let (this, drills) = (self.clone(), drills.clone());
            AbortOnDrop(tokio::spawn(async move {
                let mut unreachable = std::collections::HashMap::new();
                while let Some(machine_id) = taken.recv().await {
                    drills.taken(&machine_id);
                    let attempts = unreachable.remove(&machine_id).unwrap_or(0);
                    let (pause, attempts) = match this.drill(machine_id, attempts).await {
                        Ok(drill::DrillNext::Done) => continue,
                        Ok(drill::DrillNext::After(pause, attempts)) => (pause, attempts),
                        Err(error) => {
                            tracing::error!(machine = %ids::uuid(&machine_id), %error, retry_in = ?RETRY_AFTER, "drill not finished");
                            (RETRY_AFTER, attempts)
                        }
                    };
                    unreachable.insert(machine_id, attempts);
                    let drills = drills.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(pause).await;
                        drills.push(machine_id);
                    });
                }
            }))
        };
        let redrill = {
            let drills = drills.clone();
            AbortOnDrop(tokio::spawn(async move {
                let Some(interval) = self.settings.drill_interval else {
                    return;
                };
                loop {
                    match self.machines_to_drill().await {
                        Ok(machines) => machines.into_iter().for_each(|id| drills.push(id)),
                        Err(error) => tracing::warn!(%error, "listing machines to drill"),
                    }
                    tokio::time::sleep(interval.min(Duration::from_secs(3600))).await;
                }
            }))
        };
        (drills, worker, redrill)
    }

    fn schedule(&self, order_id: OrderId, next: Next, queue: &Queue<OrderId>) {
        let queue = queue.clone();
        match next {
            Next::Done => {}
            Next::After(pause) => {
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    queue.push(order_id);
                });
            }
            Next::AtBlock(block) => {
                let client = self.client();
                tokio::spawn(async move {
                    let waited = client
                        .wait_for_finalized_block(block, Duration::from_secs(24 * 3600))
                        .await;
                    if let Err(error) = waited {
                        tracing::warn!(%error, "waiting for a round to start");
                    }
                    queue.push(order_id);
                });
            }
        }
    }

    /// Takes one judgement as far as it can go now.
    async fn process(
        self: &Arc<Self>,
        order_id: OrderId,
        queue: &Queue<OrderId>,
    ) -> Result<Next, ValidatorError> {
        if lock(&self.in_flight).contains(&order_id) {
            return Ok(Next::After(RETRY_AFTER));
        }
        let work_dir = self.settings.work_dir.clone();
        let client = self.client();
        // The best chain: a panel is judged as soon as it is drawn. Should that block be
        // dropped by a fork (never on a one-authority chain), the verdict fails on chain and
        // this seat abstains, leaving the panel to its next member.
        let state = client.best_state().await?;
        let Some(order) = state.order(order_id).await? else {
            return Ok(Next::Done);
        };
        let Some(seat) = Seat::of(&order, &self.me) else {
            return Ok(Next::Done);
        };
        let mut judgement = Judgement::load(&work_dir, &order_id, seat.panel_from)?
            .unwrap_or_else(|| Judgement::new(&order_id, seat.panel_from, seat.task));
        if matches!(judgement.stage, Stage::Submitted | Stage::Abstained) {
            if judgement.decision.is_some() && !judgement.published {
                self.publish(&mut judgement).await?;
            }
            return Ok(Next::Done);
        }
        if let Some(pending) = judgement.pending_call.clone() {
            client
                .settle_pending(&pending, &self.me, PENDING_CALL_TIMEOUT)
                .await?;
            judgement.pending_call = None;
            let now = client.finalized_state().await?;
            let still_to_judge = now
                .order(order_id)
                .await?
                .and_then(|order| Seat::of(&order, &self.me))
                .is_some_and(|now| now.panel_from == seat.panel_from);
            if still_to_judge {
                tracing::info!(order = %judgement.order_id, "the verdict in flight before the restart was lost; sending it again");
                judgement.save(&work_dir)?;
                return Ok(Next::After(Duration::ZERO));
            }
            judgement.note = Some("the order moved on while a verdict was in flight".into());
            return judgement
                .advance(&work_dir, Stage::Submitted)
                .map(|()| Next::Done);
        }
        let now = state.block_number();
        if now >= seat.round_end {
            judgement.note = Some(format!(
                "this validator's round ended at block #{} before it judged",
                seat.round_end
            ));
            judgement.advance(&work_dir, Stage::Abstained)?;
            return Ok(Next::Done);
        }
        if now < seat.round_start {
            tracing::info!(order = %judgement.order_id, round_start = seat.round_start, "waiting for this validator's round");
            return Ok(Next::AtBlock(seat.round_start));
        }
        if judgement.stage == Stage::Verifying {
            match self.judge(order_id, &order, &seat, &mut judgement).await? {
                Attempt::Decided => {}
                Attempt::Abstain(reason) => {
                    tracing::warn!(order = %judgement.order_id, %reason, "abstaining");
                    judgement.note = Some(reason);
                    judgement.advance(&work_dir, Stage::Abstained)?;
                    return Ok(Next::Done);
                }
                Attempt::Unreachable {
                    reason,
                    trainers_storage,
                } => {
                    let stop_at = seat.round_end.saturating_sub(ROUND_END_MARGIN);
                    if client.best_block_number().await? < stop_at {
                        tracing::warn!(order = %judgement.order_id, %reason, retry_in = ?REFETCH_AFTER, "storage unreachable");
                        return Ok(Next::After(REFETCH_AFTER));
                    }
                    // The buyer's dataset is not the trainer's to keep available.
                    if !seat.last || !trainers_storage {
                        judgement.note = Some(format!(
                            "unreachable through this validator's round: {reason}"
                        ));
                        judgement.advance(&work_dir, Stage::Abstained)?;
                        return Ok(Next::Done);
                    }
                    let reason = format!(
                        "bundle_unavailable: unreachable through every judging round: {reason}"
                    );
                    self.decide(
                        order_id,
                        &order,
                        &seat,
                        &mut judgement,
                        Decided::unfetched(reason),
                    )
                    .await?;
                }
            }
        }
        if self.settings.dry_run {
            if !judgement.published {
                self.publish(&mut judgement).await?;
            }
            tracing::info!(order = %judgement.order_id, decision = ?judgement.decision, "dry run: verdict not submitted");
            return Ok(Next::Done);
        }
        // The verdict first, then the report: the report names a panel the indexer knows only
        // once final, and the verdict should not wait for that.
        self.submit(order_id, judgement, queue.clone()).await?;
        Ok(Next::Done)
    }

    /// One attempt: fetch, replay, decide.
    async fn judge(
        &self,
        order_id: OrderId,
        order: &Order,
        seat: &Seat,
        judgement: &mut Judgement,
    ) -> Result<Attempt, ValidatorError> {
        let parsed = TaskSpec::from_json(&order.metadata.0)
            .and_then(|spec| spec.validate().map(|plan| (spec, plan)));
        let (spec, plan) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                let reason =
                    format!("invalid_spec: a proof for an order whose spec is invalid ({error})");
                self.decide(order_id, order, seat, judgement, Decided::unfetched(reason))
                    .await?;
                return Ok(Attempt::Decided);
            }
        };
        let proof = order.proof.as_ref().map(|proof| proof.0.as_slice());
        let commitment = match proof.map(Commitment::from_json) {
            Some(Ok(commitment)) => commitment,
            Some(Err(error)) => {
                let reason = format!("malformed_commitment: {error}");
                self.decide(order_id, order, seat, judgement, Decided::unfetched(reason))
                    .await?;
                return Ok(Attempt::Decided);
            }
            None => return Ok(Attempt::Abstain("the order has no proof on chain".into())),
        };
        let waiting = Instant::now();
        let (challenge, segments) = match seat.task {
            JudgedTask::Proof { challenge_block } => {
                let client = self.client();
                client
                    .wait_for_finalized_block(u64::from(challenge_block), CHALLENGE_FINALITY)
                    .await?;
                let Some(hash) = client
                    .finalized_block_hash(u64::from(challenge_block))
                    .await?
                else {
                    return Ok(Attempt::Abstain(format!(
                        "the challenge block #{challenge_block} is not finalized"
                    )));
                };
                let seed = hash.0;
                let sampled = matrixai_pot::verify::sample_segments(
                    seed,
                    plan.segment_count(),
                    self.settings.segments as usize,
                );
                (Some(Sha256Hex(seed)), sampled)
            }
            JudgedTask::Dispute { segment } => (
                None,
                usize::try_from(segment)
                    .ok()
                    .filter(|&segment| segment < plan.segment_count())
                    .into_iter()
                    .collect(),
            ),
        };

        // Waiting for the seed costs time, not work: the report keeps it apart from the fetch.
        let challenge_wait_seconds = waiting.elapsed().as_secs_f64();
        let started = Instant::now();
        let name = format!("{}-{}", judgement.order_id, seat.panel_from);
        let bundle_dir = self.settings.work_dir.join("bundles").join(&name);
        let inputs = self.settings.work_dir.join("inputs");
        let spec_path = inputs.join(format!("{name}.spec.json"));
        let commitment_path = inputs.join(format!("{name}.commitment.json"));
        let _scratch = Scratch(vec![
            bundle_dir.clone(),
            spec_path.clone(),
            commitment_path.clone(),
        ]);
        if !self.settings.allow_file_uris && commitment.bundle_uri.starts_with("file://") {
            let reason = format!(
                "bundle_unavailable: {} is a file on the trainer's machine, which validators do not read; bundles go to s3://, ipfs:// or http(s)://",
                commitment.bundle_uri
            );
            self.decide(order_id, order, seat, judgement, Decided::unfetched(reason))
                .await?;
            return Ok(Attempt::Decided);
        }
        // The trainer's bundle first: a bundle that is not there fails before the buyer's
        // dataset costs a download.
        let checkpoints = fetch::checkpoints_of(&plan, &segments);
        let fetching = fetch::bundle(&self.storage, &commitment, &plan, &checkpoints, &bundle_dir);
        let fetched = match tokio::time::timeout(FETCH_TIME_LIMIT, fetching).await {
            Err(_) => Err(FetchFailure::Unreachable(format!(
                "{}: not fetched within {FETCH_TIME_LIMIT:?}",
                commitment.bundle_uri
            ))),
            Ok(fetched) => fetched?,
        };
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(FetchFailure::Unreachable(reason)) => {
                return Ok(Attempt::Unreachable {
                    reason,
                    trainers_storage: true,
                });
            }
            Err(FetchFailure::Fault(reason)) => {
                let mut decided = Decided::unfetched(format!("bundle_unavailable: {reason}"));
                decided.challenge_wait_seconds = challenge_wait_seconds;
                decided.fetch_seconds = started.elapsed().as_secs_f64();
                self.decide(order_id, order, seat, judgement, decided)
                    .await?;
                return Ok(Attempt::Decided);
            }
        };
        let dataset_uri = match &spec.dataset {
            matrixai_pot::spec::DatasetSpec::Csv { uri, .. } => Some(uri.as_str()),
            matrixai_pot::spec::DatasetSpec::Bundled { .. } => None,
        };
        if !self.settings.allow_file_uris
            && dataset_uri.is_some_and(|uri| uri.starts_with("file://"))
        {
            return Ok(Attempt::Abstain(
                "the order's dataset is a file:// URI, which validators do not read".into(),
            ));
        }
        let datasets = self.settings.work_dir.join("datasets");
        let fetching = fetch::dataset(
            &self.storage,
            &spec,
            &datasets,
            self.settings.max_dataset_bytes,
        );
        let data = match tokio::time::timeout(FETCH_TIME_LIMIT, fetching).await {
            Err(_) => Err(FetchFailure::Unreachable(format!(
                "the order's dataset was not fetched within {FETCH_TIME_LIMIT:?}"
            ))),
            Ok(data) => data?,
        };
        let data = match data {
            Ok(data) => data,
            Err(FetchFailure::Fault(reason) | FetchFailure::Unreachable(reason)) => {
                return Ok(Attempt::Unreachable {
                    reason,
                    trainers_storage: false,
                });
            }
        };
        let fetch_seconds = started.elapsed().as_secs_f64();

        write_atomically(&spec_path, &spec.canonical_json())?;
        write_atomically(&commitment_path, &commitment.to_json()?)?;
        let args = ReplayArgs {
            spec: spec_path.clone(),
            bundle: bundle_dir.clone(),
            data,
            commitment: commitment_path.clone(),
            challenge,
            segments: self.settings.segments,
            dispute: match seat.task {
                JudgedTask::Dispute { segment } => Some(segment),
                JudgedTask::Proof { .. } => None,
            },
            threads: self.settings.threads,
        };
        let _compute = self.compute.lock().await;
        let replay_started = Instant::now();
        let replayed = crate::replay::replay(
            &args,
            self.settings.time_limit,
            self.settings.memory_limit_bytes,
        )
        .await?;
        let replay_seconds = replay_started.elapsed().as_secs_f64();
        let report = match replayed {
            Replayed::Report(report) => report,
            Replayed::TimedOut => {
                return Ok(Attempt::Abstain(format!(
                    "the replay ran past the time limit of {:?}",
                    self.settings.time_limit
                )));
            }
            Replayed::Crashed(detail) => {
                return Ok(Attempt::Abstain(format!(
                    "the verifier process failed: {detail}"
                )));
            }
        };
        let accepted = report["verdict"] == "accept";
        let decided = Decided {
            verdict: if accepted {
                ReportVerdict::Pass
            } else {
                ReportVerdict::Fail
            },
            reason: (!accepted).then(|| rejection_summary(&report)),
            fetched_files: fetched.files,
            fetched_bytes: fetched.bytes,
            challenge_wait_seconds,
            fetch_seconds,
            replay_seconds,
            verification: Some(report),
        };
        self.decide(order_id, order, seat, judgement, decided)
            .await?;
        Ok(Attempt::Decided)
    }

    /// Keeps the verdict and its report (published next, before the verdict is sent).
    async fn decide(
        &self,
        order_id: OrderId,
        order: &Order,
        seat: &Seat,
        judgement: &mut Judgement,
        decided: Decided,
    ) -> Result<(), ValidatorError> {
        let commitment = order
            .proof
            .as_ref()
            .and_then(|proof| Commitment::from_json(&proof.0).ok());
        let report = VerificationReport {
            v: verification_report::VERSION,
            order_id: judgement.order_id.clone(),
            validator: self.me.to_string(),
            panel_from: seat.panel_from,
            task: seat.task,
            verdict: decided.verdict,
            reason: decided.reason.clone(),
            bundle_uri: commitment
                .as_ref()
                .map_or_else(String::new, |c| c.bundle_uri.clone()),
            bundle_sha256: commitment
                .as_ref()
                .map_or_else(String::new, |c| c.bundle_sha256.to_string()),
            fetched_files: decided.fetched_files,
            fetched_bytes: decided.fetched_bytes,
            challenge_wait_seconds: decided.challenge_wait_seconds,
            fetch_seconds: decided.fetch_seconds,
            replay_seconds: decided.replay_seconds,
            verification: decided.verification,
        };
        let signed = SignedReport::new(order_id, &report);
        let path = self
            .settings
            .work_dir
            .join("reports")
            .join(format!("{}-{}.json", judgement.order_id, seat.panel_from));
        write_atomically(&path, signed.report.as_bytes())?;
        judgement.decision = Some(decided.verdict);
        judgement.note = decided.reason;
        judgement.report = Some(path);
        judgement.advance(&self.settings.work_dir, Stage::Decided)?;
        tracing::info!(order = %judgement.order_id, verdict = ?decided.verdict, reason = ?judgement.note, "judged");
        Ok(())
    }

    /// Posts the judgement's report, signed, to the indexer, and records that it did. A
    /// report the indexer cannot take yet (its panel not indexed, a server error, no
    /// connection) is tried again a few times, then at the judgement's next pass; a refused
    /// one is logged and left in the work directory.
    async fn publish(&self, judgement: &mut Judgement) -> Result<(), ValidatorError> {
        let (Some(indexer), Some(path)) = (&self.settings.indexer, &judgement.report) else {
            return Ok(());
        };
        let report = std::fs::read_to_string(path).map_err(|e| ValidatorError::io(path, e))?;
        let order_id = ids::parse_uuid(&judgement.order_id)
            .ok_or_else(|| ValidatorError::Refused(format!("{} names no order", path.display())))?;
        let signed = SignedReport {
            order_id,
            panel_from: judgement.panel_from,
            report,
        };
        let body = signed.request_body(&self.me, &signed.sign(&self.key));
        let url = format!("{indexer}/api/report");
        for attempt in 1..=PUBLISH_ATTEMPTS {
            let retry = match self.http.post(&url).json(&body).send().await {
                Ok(response) if response.status().is_success() => {
                    judgement.published = true;
                    return judgement.save(&self.settings.work_dir);
                }
                Ok(response)
                    if response.status() == reqwest::StatusCode::NOT_FOUND
                        || response.status().is_server_error() =>
                {
                    format!("the indexer answered {}", response.status())
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    tracing::warn!(%url, %status, %text, "the indexer refused the report");
                    judgement.published = true;
                    return judgement.save(&self.settings.work_dir);
                }
                Err(error) => error.to_string(),
            };
            tracing::warn!(%url, reason = %retry, attempt, "report not published yet");
            tokio::time::sleep(Duration::from_secs(2 * u64::from(attempt))).await;
        }
        Ok(())
    }

    /// Sends `verify_pot` with the kept verdict, its nonce recorded first, and leaves its
    /// finalization to a task of its own, so that the next judgement's verdict does not wait
    /// for this one's blocks.
    async fn submit(
        self: &Arc<Self>,
        order_id: OrderId,
        mut judgement: Judgement,
        queue: Queue<OrderId>,
    ) -> Result<(), ValidatorError> {
        let verdict = match judgement.decision {
            Some(ReportVerdict::Pass) => Verdict::Pass,
            Some(ReportVerdict::Fail) => Verdict::Fail,
            None => {
                return Err(ValidatorError::Refused(format!(
                    "judgement {}-{} is decided without a verdict",
                    judgement.order_id, judgement.panel_from
                )));
            }
        };
        let work_dir = self.settings.work_dir.clone();
        let call = runtime::tx()
            .hashrate_market()
            .verify_pot(order_id, verdict);
        let client = self.client();
        let pending = client.prepare_call(&call, &self.me).await?;
        judgement.pending_call = Some(pending.clone());
        judgement.save(&work_dir)?;
        let in_flight = match client
            .send_with_nonce(&call, &self.key, pending.nonce)
            .await
        {
            Ok(in_flight) => in_flight,
            Err(error) => {
                settle(&work_dir, &mut judgement, Err(error))?;
                return self.publish(&mut judgement).await;
            }
        };
        lock(&self.in_flight).insert(order_id);
        let this = self.clone();
        tokio::spawn(async move {
            let outcome = in_flight.finalized().await;
            let settled = settle(&work_dir, &mut judgement, outcome);
            lock(&this.in_flight).remove(&order_id);
            match settled {
                Ok(()) => {
                    if let Err(error) = this.publish(&mut judgement).await {
                        tracing::warn!(order = %judgement.order_id, %error, "report not published");
                    }
                }
                Err(error) => {
                    tracing::error!(order = %judgement.order_id, %error, retry_in = ?RETRY_AFTER, "verdict not settled");
                    tokio::time::sleep(RETRY_AFTER).await;
                    queue.push(order_id);
                }
            }
        });
        Ok(())
    }
}

/// Records how a verdict sent ended: on chain, refused because the seat is gone, or still in
/// flight (kept recorded for the next pass, which waits for it).
fn settle(
    work_dir: &std::path::Path,
    judgement: &mut Judgement,
    outcome: Result<matrixai_chain::Finalized, ChainError>,
) -> Result<(), ValidatorError> {
    match outcome {
        Ok(finalized) => {
            tracing::info!(order = %judgement.order_id, block = finalized.block_number, verdict = ?judgement.decision, "verdict submitted");
            judgement.pending_call = None;
            judgement.advance(work_dir, Stage::Submitted)
        }
        // Refused in a block: the seat is gone (the round passed, the order moved on) or the
        // account may no longer judge. Sending it again would only pay the fee again.
        Err(ChainError::Failed(failed)) => {
            judgement.pending_call = None;
            judgement.note = Some(format!("verify_pot refused: {}", failed.failure));
            judgement.advance(work_dir, Stage::Abstained)
        }
        Err(error) => {
            if !error.may_still_land() {
                judgement.pending_call = None;
                judgement.save(work_dir)?;
            }
            Err(error.into())
        }
    }
}

/// A verdict and what backs it.
struct Decided {
    verdict: ReportVerdict,
    reason: Option<String>,
    fetched_files: usize,
    fetched_bytes: u64,
    challenge_wait_seconds: f64,
    fetch_seconds: f64,
    replay_seconds: f64,
    verification: Option<serde_json::Value>,
}

impl Decided {
    /// A failing verdict reached before any replay.
    fn unfetched(reason: String) -> Self {
        Self {
            verdict: ReportVerdict::Fail,
            reason: Some(reason),
            fetched_files: 0,
            fetched_bytes: 0,
            challenge_wait_seconds: 0.0,
            fetch_seconds: 0.0,
            replay_seconds: 0.0,
            verification: None,
        }
    }
}

/// `code: detail; code: detail` from the verifier's reasons.
fn rejection_summary(report: &serde_json::Value) -> String {
    let reasons: Vec<String> = report["reasons"]
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .map(|reason| {
                    let code = reason["code"].as_str().unwrap_or("rejected");
                    let mut fields = reason.clone();
                    if let Some(object) = fields.as_object_mut() {
                        object.remove("code");
                    }
                    match fields.as_object() {
                        Some(object) if !object.is_empty() => format!("{code}: {fields}"),
                        _ => code.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if reasons.is_empty() {
        "rejected".into()
    } else {
        reasons.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_read_as_code_and_detail() {
        let report = serde_json::json!({
            "verdict": "reject",
            "reasons": [
                {"code": "initial_checkpoint_mismatch"},
                {"code": "segment_replay_mismatch", "segment": 3, "start_step": 30, "end_step": 40},
            ],
        });
        let summary = rejection_summary(&report);
        assert!(
            summary.starts_with("initial_checkpoint_mismatch; segment_replay_mismatch: {"),
            "{summary}"
        );
        assert!(summary.contains("\"segment\":3"), "{summary}");
    }
}
