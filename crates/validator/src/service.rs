//! The service's loop: follow finalized blocks for the panels this account sits on, and judge
//! each order in this account's round, one at a time (a replay takes the machine's threads).
//!
//! For a seat on a panel (see docs/chain.md, "Validator assignment"):
//!
//! 1. before its round, wait for it (an earlier member may judge first);
//! 2. in its round, fetch what the judgement reads and replay it in the bounded verifier process;
//!    the verdict and the report are kept before anything is sent;
//! 3. publish the signed report to the indexer, then submit `verify_pot` with its nonce
//!    recorded, so that after a crash the call is settled, never repeated;
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
    AccountId, ChainClient, ChainError, DispatchFailure, Order, OrderId, OrderStatus, Verdict, ids,
    runtime,
};
use matrixai_pot::{Commitment, Sha256Hex, TaskSpec};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Pause before an order whose judgement hit an error is taken up again.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// Pause between two attempts to reach a bundle's storage.
const REFETCH_AFTER: Duration = Duration::from_secs(5);
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
    Unreachable(String),
    Abstain(String),
}

/// The running service.
pub struct Validator {
    settings: Settings,
    client: ChainClient,
    key: Keypair,
    me: AccountId,
    storage: Storage,
    http: reqwest::Client,
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
            client,
            key,
            me,
            http: matrixai_chain::storage::http_client(),
        })
    }

    pub fn account(&self) -> &AccountId {
        &self.me
    }

    /// Judges until `shutdown` turns true; a lost node connection is retried with backoff.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> Result<(), ValidatorError> {
        let this = Arc::new(self);
        matrixai_chain::events::follow_until_shutdown(shutdown, || this.clone().follow()).await;
        Ok(())
    }

    async fn follow(self: Arc<Self>) -> Result<(), ValidatorError> {
        // Subscribe before looking at open orders, so no panel falls between the two.
        let events = self.client.market_events().await?;
        let mut events = std::pin::pin!(events);
        let (work, mut queue) = mpsc::unbounded_channel::<OrderId>();
        let worker = {
            let this = self.clone();
            let again = work.clone();
            tokio::spawn(async move {
                while let Some(order_id) = queue.recv().await {
                    let next = match this.process(order_id, &again).await {
                        Ok(next) => next,
                        Err(error) => {
                            tracing::error!(order = %ids::uuid(&order_id), %error, retry_in = ?RETRY_AFTER, "judgement not finished");
                            Next::After(RETRY_AFTER)
                        }
                    };
                    this.schedule(order_id, next, &again);
                }
            })
        };
        for (order_id, order) in self.client.finalized_state().await?.open_orders().await? {
            if Seat::of(&order, &self.me).is_some() {
                let _ = work.send(order_id);
            }
        }
        while let Some(event) = events.next().await {
            if let Event::PanelDrawn {
                order_id, panel, ..
            } = event?.event
                && panel.0.contains(&self.me)
            {
                let _ = work.send(order_id);
            }
        }
        worker.abort();
        Ok(())
    }

    fn schedule(&self, order_id: OrderId, next: Next, queue: &mpsc::UnboundedSender<OrderId>) {
        let queue = queue.clone();
        match next {
            Next::Done => {}
            Next::After(pause) => {
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    let _ = queue.send(order_id);
                });
            }
            Next::AtBlock(block) => {
                let client = self.client.clone();
                tokio::spawn(async move {
                    let waited = client
                        .wait_for_finalized_block(block, Duration::from_secs(24 * 3600))
                        .await;
                    if let Err(error) = waited {
                        tracing::warn!(%error, "waiting for a round to start");
                    }
                    let _ = queue.send(order_id);
                });
            }
        }
    }

    /// Takes one judgement as far as it can go now.
    async fn process(
        &self,
        order_id: OrderId,
        queue: &mpsc::UnboundedSender<OrderId>,
    ) -> Result<Next, ValidatorError> {
        let work_dir = self.settings.work_dir.clone();
        let state = self.client.finalized_state().await?;
        let Some(order) = state.order(order_id).await? else {
            return Ok(Next::Done);
        };
        let Some(seat) = Seat::of(&order, &self.me) else {
            return Ok(Next::Done);
        };
        let mut judgement = Judgement::load(&work_dir, &order_id, seat.panel_from)?
            .unwrap_or_else(|| Judgement::new(&order_id, seat.panel_from, seat.task));
        if matches!(judgement.stage, Stage::Submitted | Stage::Abstained) {
            return Ok(Next::Done);
        }
        if let Some(pending) = judgement.pending_call.clone() {
            self.client
                .settle_pending(&pending, &self.me, PENDING_CALL_TIMEOUT)
                .await?;
            judgement.pending_call = None;
            let now = self.client.finalized_state().await?;
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
                Attempt::Unreachable(reason) => {
                    let stop_at = seat.round_end.saturating_sub(ROUND_END_MARGIN);
                    if self.client.best_block_number().await? < stop_at {
                        tracing::warn!(order = %judgement.order_id, %reason, retry_in = ?REFETCH_AFTER, "storage unreachable");
                        return Ok(Next::After(REFETCH_AFTER));
                    }
                    if !seat.last {
                        judgement.note = Some(format!(
                            "the bundle stayed unreachable through this validator's round: {reason}"
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
            tracing::info!(order = %judgement.order_id, decision = ?judgement.decision, "dry run: verdict not submitted");
            return Ok(Next::Done);
        }
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
        let started = Instant::now();
        let spec = match TaskSpec::from_json(&order.metadata.0) {
            Ok(spec) => spec,
            Err(error) => {
                let reason =
                    format!("invalid_spec: a proof for an order whose spec is invalid ({error})");
                self.decide(order_id, order, seat, judgement, Decided::unfetched(reason))
                    .await?;
                return Ok(Attempt::Decided);
            }
        };
        let plan = match spec.validate() {
            Ok(plan) => plan,
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
        let (challenge, segments) = match seat.task {
            JudgedTask::Proof { challenge_block } => {
                let Some(hash) = self
                    .client
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

        let name = format!("{}-{}", judgement.order_id, seat.panel_from);
        let bundle_dir = self.settings.work_dir.join("bundles").join(&name);
        let data = match fetch::dataset(
            &self.storage,
            &spec,
            &self.settings.work_dir.join("datasets"),
            self.settings.max_dataset_bytes,
        )
        .await?
        {
            Ok(data) => data,
            Err(FetchFailure::Fault(reason) | FetchFailure::Unreachable(reason)) => {
                return Ok(Attempt::Unreachable(reason));
            }
        };
        let checkpoints = fetch::checkpoints_of(&plan, &segments);
        let fetched =
            match fetch::bundle(&self.storage, &commitment, &plan, &checkpoints, &bundle_dir)
                .await?
            {
                Ok(fetched) => fetched,
                Err(FetchFailure::Unreachable(reason)) => return Ok(Attempt::Unreachable(reason)),
                Err(FetchFailure::Fault(reason)) => {
                    let mut decided = Decided::unfetched(format!("bundle_unavailable: {reason}"));
                    decided.fetch_seconds = started.elapsed().as_secs_f64();
                    self.decide(order_id, order, seat, judgement, decided)
                        .await?;
                    return Ok(Attempt::Decided);
                }
            };
        let fetch_seconds = started.elapsed().as_secs_f64();

        let inputs = self.settings.work_dir.join("inputs");
        let spec_path = inputs.join(format!("{name}.spec.json"));
        let commitment_path = inputs.join(format!("{name}.commitment.json"));
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
            fetch_seconds,
            replay_seconds,
            verification: Some(report),
        };
        self.decide(order_id, order, seat, judgement, decided)
            .await?;
        for path in [&spec_path, &commitment_path] {
            let _ = std::fs::remove_file(path);
        }
        // The disk a judgement takes is freed as soon as it is decided.
        let _ = std::fs::remove_dir_all(&bundle_dir);
        Ok(Attempt::Decided)
    }

    /// Keeps the verdict and its report, then publishes the report.
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
        self.publish(&signed).await;
        Ok(())
    }

    /// Posts the signed report to the indexer; a failure is logged, the report stays in the
    /// work directory.
    async fn publish(&self, signed: &SignedReport) {
        let Some(indexer) = &self.settings.indexer else {
            return;
        };
        let body = signed.request_body(&self.me, &signed.sign(&self.key));
        let url = format!("{indexer}/api/report");
        for attempt in 1..=3u32 {
            match self.http.post(&url).json(&body).send().await {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    tracing::warn!(%url, %status, %text, "the indexer refused the report");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%url, %error, attempt, "cannot reach the indexer");
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
            }
        }
    }

    /// Sends `verify_pot` with the kept verdict, its nonce recorded first, and leaves its
    /// finalization to a task of its own, so that the next judgement's verdict does not wait
    /// for this one's blocks.
    async fn submit(
        &self,
        order_id: OrderId,
        mut judgement: Judgement,
        queue: mpsc::UnboundedSender<OrderId>,
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
        let pending = self.client.prepare_call(&call, &self.me).await?;
        judgement.pending_call = Some(pending.clone());
        judgement.save(&work_dir)?;
        let in_flight = match self
            .client
            .send_with_nonce(&call, &self.key, pending.nonce)
            .await
        {
            Ok(in_flight) => in_flight,
            Err(error) => return settle(&work_dir, &mut judgement, Err(error)),
        };
        tokio::spawn(async move {
            let outcome = in_flight.finalized().await;
            if let Err(error) = settle(&work_dir, &mut judgement, outcome) {
                tracing::error!(order = %judgement.order_id, %error, retry_in = ?RETRY_AFTER, "verdict not settled");
                tokio::time::sleep(RETRY_AFTER).await;
                let _ = queue.send(order_id);
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
        Err(ChainError::Failed(failed)) if lost_the_seat(&failed.failure) => {
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

/// The runtime refused the verdict because the seat is gone: the round passed, or the order
/// moved on or closed meanwhile.
fn lost_the_seat(failure: &DispatchFailure) -> bool {
    use runtime::hashrate_market::Error;
    matches!(
        failure,
        DispatchFailure::HashrateMarket(
            Error::NotAssigned | Error::WrongOrderState | Error::OrderOverdue | Error::UnknownOrder
        )
    )
}

/// A verdict and what backs it.
struct Decided {
    verdict: ReportVerdict,
    reason: Option<String>,
    fetched_files: usize,
    fetched_bytes: u64,
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
