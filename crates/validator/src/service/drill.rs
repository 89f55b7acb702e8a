//! Drills: verifying the speed listed machines claim (docs/validator-guide.md, "Verified
//! performance"; the exchange in `matrixai_chain::drill`).
//!
//! Every listed machine that registered a drill URL is drilled when the validator first sees it
//! (at start, or when it is added or re-listed) and again once per `--drill-interval-h`: a
//! challenge with a fresh random seed, timed from sending it to receiving the answer, then
//! recomputed here. The report is kept in `WORK_DIR/drills/MACHINE.json` and published to the
//! indexer. A machine busy training an order is asked again later; one that cannot be reached
//! after a few attempts is reported unreachable.

use super::Validator;
use crate::ValidatorError;
use crate::judgement::{now_ms, write_atomically};
use matrixai_chain::drill::{
    DrillAnswer, DrillChallenge, DrillReport, DrillVerdict, MAX_DOCUMENT_BYTES, VERSION,
};
use matrixai_chain::machine_metadata::MachineMetadata;
use matrixai_chain::{MachineId, ids};
use matrixai_pot::Exec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Pause before asking a machine busy with an order (or still starting) again.
const BUSY_RETRY: Duration = Duration::from_secs(30);
/// Pause between attempts to reach a machine's agent, and how many before it is reported
/// unreachable.
const UNREACHABLE_RETRY: Duration = Duration::from_secs(20);
const UNREACHABLE_ATTEMPTS: u32 = 3;
/// Longest wait for an answer: a machine ten times slower than it claims still answers.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// `WORK_DIR/drills/MACHINE.json`: the last drill of a machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillRecord {
    pub report: DrillReport,
    /// The indexer took the report.
    pub published: bool,
}

impl DrillRecord {
    fn path(work_dir: &std::path::Path, machine_id: &MachineId) -> PathBuf {
        work_dir
            .join("drills")
            .join(format!("{}.json", ids::uuid(machine_id)))
    }

    pub fn load(
        work_dir: &std::path::Path,
        machine_id: &MachineId,
    ) -> Result<Option<Self>, ValidatorError> {
        let path = Self::path(work_dir, machine_id);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ValidatorError::Refused(format!("{}: {e}", path.display()))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(ValidatorError::io(&path, error)),
        }
    }

    fn save(
        &self,
        work_dir: &std::path::Path,
        machine_id: &MachineId,
    ) -> Result<(), ValidatorError> {
        let path = Self::path(work_dir, machine_id);
        let dir = path.parent().expect("a drills directory");
        std::fs::create_dir_all(dir).map_err(|e| ValidatorError::io(dir, e))?;
        write_atomically(
            &path,
            &serde_json::to_vec_pretty(self).expect("a record serialises"),
        )
    }
}

/// What to do with a machine after a pass.
pub enum DrillNext {
    /// Nothing until the interval has passed (or the machine is re-listed).
    Done,
    /// Ask again after a pause, counting unreachable attempts.
    After(Duration, u32),
}

/// One exchange's outcome short of a report.
enum Exchange {
    Answered {
        answer: DrillAnswer,
        elapsed: Duration,
    },
    Busy,
    Unreachable(String),
}

impl Validator {
    /// Drills `machine_id` if it is listed, registered a drill URL and is due; `unreachable` is
    /// how many earlier attempts found nobody.
    pub(super) async fn drill(
        &self,
        machine_id: MachineId,
        unreachable: u32,
    ) -> Result<DrillNext, ValidatorError> {
        let Some(interval) = self.settings.drill_interval else {
            return Ok(DrillNext::Done);
        };
        let work_dir = &self.settings.work_dir;
        let Some(machine) = self
            .client()
            .finalized_state()
            .await?
            .machine(machine_id)
            .await?
        else {
            return Ok(DrillNext::Done);
        };
        let Ok(metadata) = MachineMetadata::parse(&machine.metadata.0) else {
            return Ok(DrillNext::Done);
        };
        let (Some(url), Some(_)) = (&metadata.drill_url, &machine.offer) else {
            return Ok(DrillNext::Done);
        };
        let claimed = metadata.performance.train_samples_per_s;
        let last = DrillRecord::load(work_dir, &machine_id)?;
        if let Some(last) = &last {
            let age = Duration::from_millis(now_ms().saturating_sub(last.report.at_ms));
            let due = age >= interval || last.report.claimed_samples_per_s != claimed;
            if !due {
                if !last.published {
                    self.publish_drill(&machine_id, last.clone()).await?;
                }
                return Ok(DrillNext::Done);
            }
        }

        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the OS random source");
        let (spec, predicted_s) = match matrixai_pot::drill::sized_for(
            seed,
            &metadata.performance.machine_speed(),
        ) {
            Ok(sized) => sized,
            Err(error) => {
                tracing::warn!(machine = %ids::uuid(&machine_id), %error, "registered figures predict nothing; not drilled");
                return Ok(DrillNext::Done);
            }
        };
        let challenge = DrillChallenge {
            v: VERSION,
            machine_id: ids::uuid(&machine_id),
            validator: self.me.to_string(),
            seed: hex::encode(seed),
            epochs: spec.epochs,
        };
        let signed = challenge.sign(&self.key);
        // No replay of ours runs meanwhile: on a machine shared with an agent (a devnet), it
        // would slow the drill down.
        let _compute = self.compute.lock().await;
        let at_ms = now_ms();
        let mut report = DrillReport {
            v: VERSION,
            machine_id: ids::uuid(&machine_id),
            owner: machine.owner.to_string(),
            validator: self.me.to_string(),
            seed: hex::encode(seed),
            epochs: spec.epochs,
            samples: 0,
            claimed_samples_per_s: claimed,
            predicted_s,
            elapsed_s: None,
            measured_samples_per_s: None,
            verdict: DrillVerdict::Unreachable,
            reason: None,
            at_ms,
        };
        match self.exchange(url, &signed).await {
            Exchange::Busy => {
                tracing::info!(machine = %ids::uuid(&machine_id), "machine busy with an order; drilling later");
                return Ok(DrillNext::After(BUSY_RETRY, unreachable));
            }
            Exchange::Unreachable(reason) if unreachable + 1 < UNREACHABLE_ATTEMPTS => {
                tracing::warn!(machine = %ids::uuid(&machine_id), %reason, "drill unanswered; trying again");
                return Ok(DrillNext::After(UNREACHABLE_RETRY, unreachable + 1));
            }
            Exchange::Unreachable(reason) => report.reason = Some(reason),
            Exchange::Answered { answer, elapsed } => {
                let threads = self.settings.threads;
                let expected = tokio::task::spawn_blocking(move || {
                    matrixai_pot::drill::run(&spec, &Exec::new(threads, None)?)
                })
                .await
                .expect("a drill does not panic")
                .map_err(|e| ValidatorError::Refused(format!("the drill does not train: {e}")))?;
                report.samples = expected.samples;
                let elapsed_s = elapsed.as_secs_f64();
                report.elapsed_s = Some(elapsed_s);
                match answer.verify(&signed.document, &machine.owner) {
                    Ok(root) if root == expected.root.0 => {
                        report.measured_samples_per_s =
                            Some(expected.samples as f64 / elapsed_s.max(1e-9));
                        report.verdict = DrillVerdict::for_time(elapsed_s, predicted_s);
                        if report.verdict == DrillVerdict::Contradicted {
                            report.reason = Some(format!(
                                "answered in {elapsed_s:.2} s where the registered figures predict {predicted_s:.2} s (at most {:.2} s passes)",
                                predicted_s / matrixai_chain::drill::VERIFIED_SHARE
                            ));
                        }
                    }
                    Ok(_) => {
                        report.verdict = DrillVerdict::WrongAnswer;
                        report.reason = Some("the root is not the drill's transcript root".into());
                    }
                    Err(error) => {
                        report.verdict = DrillVerdict::WrongAnswer;
                        report.reason = Some(error.to_string());
                    }
                }
            }
        }
        tracing::info!(
            machine = %ids::uuid(&machine_id),
            verdict = ?report.verdict,
            elapsed_s = report.elapsed_s.unwrap_or_default(),
            predicted_s,
            "drilled"
        );
        let record = DrillRecord {
            report,
            published: false,
        };
        record.save(work_dir, &machine_id)?;
        self.publish_drill(&machine_id, record).await?;
        Ok(DrillNext::Done)
    }

    /// Sends the challenge and times the answer.
    async fn exchange(&self, url: &str, signed: &matrixai_chain::drill::Signed) -> Exchange {
        let endpoint = format!("{}/drill", url.trim_end_matches('/'));
        let started = Instant::now();
        let response = self
            .http
            .post(&endpoint)
            .json(signed)
            .timeout(ANSWER_TIMEOUT)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) => return Exchange::Unreachable(format!("{endpoint}: {error}")),
        };
        let status = response.status();
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Exchange::Busy;
        }
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return Exchange::Unreachable(format!("{endpoint}: {error}")),
        };
        let elapsed = started.elapsed();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return Exchange::Unreachable(format!("{endpoint} answered {status}: {text}"));
        }
        if body.len() > MAX_DOCUMENT_BYTES {
            return Exchange::Unreachable(format!("{endpoint} answered {} bytes", body.len()));
        }
        match serde_json::from_slice(&body) {
            Ok(answer) => Exchange::Answered { answer, elapsed },
            Err(error) => {
                Exchange::Unreachable(format!("{endpoint} answered no drill answer: {error}"))
            }
        }
    }

    /// Posts the signed report to the indexer (`POST /api/drill`), once.
    async fn publish_drill(
        &self,
        machine_id: &MachineId,
        mut record: DrillRecord,
    ) -> Result<(), ValidatorError> {
        let Some(indexer) = &self.settings.indexer else {
            return Ok(());
        };
        let url = format!("{indexer}/api/drill");
        let signed = record.report.sign(&self.key);
        match self.http.post(&url).json(&signed).send().await {
            Ok(response)
                if response.status().is_success()
                    || response.status().is_client_error()
                        && response.status() != reqwest::StatusCode::NOT_FOUND =>
            {
                if !response.status().is_success() {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    tracing::warn!(%url, %status, %text, "the indexer refused the drill report");
                }
                record.published = true;
                record.save(&self.settings.work_dir, machine_id)
            }
            Ok(response) => {
                tracing::warn!(%url, status = %response.status(), "drill report not published yet");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%url, %error, "drill report not published yet");
                Ok(())
            }
        }
    }

    /// Every machine on chain, for the drills due at a session's start.
    pub(super) async fn machines_to_drill(&self) -> Result<Vec<MachineId>, ValidatorError> {
        if self.settings.drill_interval.is_none() {
            return Ok(Vec::new());
        }
        let machines = self.client().finalized_state().await?.machines().await?;
        Ok(machines
            .into_iter()
            .filter(|(_, machine)| machine.offer.is_some())
            .map(|(id, _)| id)
            .collect())
    }
}
