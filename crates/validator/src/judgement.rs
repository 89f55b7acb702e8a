//! Where each judgement stands, one JSON file per panel seat in
//! `WORK_DIR/judgements/ORDER_ID-FROM.json` (`FROM`: the block the panel's first round starts,
//! which tells a proof's panel from a later dispute's), written atomically at every step:
//!
//! verifying → decided (verdict and report kept) → submitted, or abstained (with why).
//!
//! A verdict is decided once and kept: a restart submits the kept verdict rather than
//! verifying again, and a call recorded in flight is settled before anything else.

use crate::ValidatorError;
use matrixai_chain::verification_report::{JudgedTask, ReportVerdict};
use matrixai_chain::{OrderId, PendingCall, ids};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where a judgement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Fetching and replaying.
    Verifying,
    /// The verdict is known and the report written; `verify_pot` is next.
    Decided,
    /// `verify_pot` is on chain (or the order moved on meanwhile).
    Submitted,
    /// This validator gave up its round (its reason in `note`); the next one judges.
    Abstained,
}

/// `judgements/ORDER_ID-FROM.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Judgement {
    pub v: u32,
    pub order_id: String,
    /// The block the panel's first round starts.
    pub panel_from: u32,
    pub task: JudgedTask,
    pub stage: Stage,
    /// Milliseconds since the Unix epoch of the last step.
    pub updated_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ReportVerdict>,
    /// The report's file in the work directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    /// Why, for people: the rejection, or why this validator abstained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_call: Option<PendingCall>,
    /// The indexer has the report (or refused it for good).
    #[serde(default)]
    pub published: bool,
}

impl Judgement {
    pub fn new(order_id: &OrderId, panel_from: u32, task: JudgedTask) -> Self {
        Self {
            v: 1,
            order_id: ids::uuid(order_id),
            panel_from,
            task,
            stage: Stage::Verifying,
            updated_ms: now_ms(),
            decision: None,
            report: None,
            note: None,
            pending_call: None,
            published: false,
        }
    }

    fn path(work_dir: &Path, order_id: &str, panel_from: u32) -> PathBuf {
        work_dir
            .join("judgements")
            .join(format!("{order_id}-{panel_from}.json"))
    }

    /// The judgement of this panel seat, if one was started.
    pub fn load(
        work_dir: &Path,
        order_id: &OrderId,
        panel_from: u32,
    ) -> Result<Option<Self>, ValidatorError> {
        let path = Self::path(work_dir, &ids::uuid(order_id), panel_from);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                ValidatorError::Refused(format!(
                    "{} is damaged ({e}); move it away to judge the order again",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ValidatorError::io(&path, e)),
        }
    }

    /// Every judgement of the work directory, oldest panel first.
    pub fn load_all(work_dir: &Path) -> Result<Vec<Self>, ValidatorError> {
        let dir = work_dir.join("judgements");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ValidatorError::io(&dir, e)),
        };
        let mut judgements = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| ValidatorError::io(&dir, e))?.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                let bytes = std::fs::read(&path).map_err(|e| ValidatorError::io(&path, e))?;
                match serde_json::from_slice::<Self>(&bytes) {
                    Ok(judgement) => judgements.push(judgement),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "skipping a damaged judgement: {e}")
                    }
                }
            }
        }
        judgements.sort_by_key(|judgement| judgement.panel_from);
        Ok(judgements)
    }

    /// Writes the judgement (a temporary file renamed over the old one).
    pub fn save(&mut self, work_dir: &Path) -> Result<(), ValidatorError> {
        self.updated_ms = now_ms();
        let path = Self::path(work_dir, &self.order_id, self.panel_from);
        write_atomically(
            &path,
            &serde_json::to_vec_pretty(self).expect("a judgement serialises"),
        )
    }

    pub fn advance(&mut self, work_dir: &Path, stage: Stage) -> Result<(), ValidatorError> {
        self.stage = stage;
        self.save(work_dir)
    }
}

/// Writes `bytes` to `path` whole or not at all, durably (its directory is created): a
/// staging file of this writer's own, synced, renamed over `path`, and the rename synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ValidatorError> {
    use std::io::Write;
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir).map_err(|e| ValidatorError::io(dir, e))?;
    let staging = dir.join(format!(
        ".{}.{}-{}.tmp",
        path.file_name().expect("a file name").to_string_lossy(),
        std::process::id(),
        WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut file = std::fs::File::create(&staging).map_err(|e| ValidatorError::io(&staging, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| ValidatorError::io(&staging, e))?;
    std::fs::rename(&staging, path).map_err(|e| ValidatorError::io(path, e))?;
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| ValidatorError::io(dir, e))
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judgements_round_trip_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let order = [7u8; 16];
        assert_eq!(Judgement::load(dir.path(), &order, 12).unwrap(), None);
        let mut proof = Judgement::new(
            &order,
            12,
            JudgedTask::Proof {
                challenge_block: 11,
            },
        );
        proof.save(dir.path()).unwrap();
        let mut dispute = Judgement::new(&order, 40, JudgedTask::Dispute { segment: 3 });
        dispute.decision = Some(ReportVerdict::Fail);
        dispute.advance(dir.path(), Stage::Decided).unwrap();
        assert_eq!(
            Judgement::load(dir.path(), &order, 40).unwrap(),
            Some(dispute.clone())
        );
        assert_eq!(
            Judgement::load_all(dir.path()).unwrap(),
            vec![proof, dispute]
        );
        std::fs::write(
            dir.path()
                .join("judgements")
                .join(format!("{}-40.json", ids::uuid(&order))),
            b"{",
        )
        .unwrap();
        let error = Judgement::load(dir.path(), &order, 40)
            .unwrap_err()
            .to_string();
        assert!(error.contains("damaged"), "{error}");
    }
}
