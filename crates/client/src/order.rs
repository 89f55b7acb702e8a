//! Status inquiry: where each order stands, as a persistent state machine per order, written
//! atomically to `WORK_DIR/orders/ORDER_ID/state.json` at every transition.
//!
//! accepted → fetching → training (epoch, step, loss) → uploading → completed → proof
//! submitted → settled, or failed (with the reason the buyer reads on chain) from any of them.

use crate::{ClientError, files};
pub use matrixai_chain::PendingCall;
use matrixai_chain::{OrderId, ids};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Accepted,
    Fetching,
    Training,
    Uploading,
    /// `order_completed` is on chain; the proof is next.
    Completed,
    /// `submit_pot` is on chain; a validator judges it.
    ProofSubmitted,
    /// Paid, refunded or expired on chain: nothing more to do.
    Settled,
    Failed,
}

impl Status {
    /// No more work for the agent.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Settled | Self::Failed)
    }
}

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderState {
    pub v: u32,
    pub order_id: String,
    pub status: Status,
    /// Milliseconds since the Unix epoch of the last transition.
    pub updated_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_steps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_ppm: Option<u32>,
    /// The result recorded with `order_completed` or `order_failed` (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The commitment for `submit_pot` (JSON), kept from upload until it is on chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<String>,
    /// Why the order failed or how it ended, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The next training log sequence number.
    #[serde(default)]
    pub next_log_seq: u64,
    /// A chain call submitted and not yet known finalized or lost: after a crash the agent
    /// waits for it rather than calling again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_call: Option<PendingCall>,
}

impl OrderState {
    pub fn dir(work_dir: &Path, order_id: &OrderId) -> PathBuf {
        work_dir.join("orders").join(ids::uuid(order_id))
    }

    fn path(work_dir: &Path, order_id: &OrderId) -> PathBuf {
        Self::dir(work_dir, order_id).join("state.json")
    }

    pub fn new(order_id: &OrderId) -> Self {
        Self {
            v: 1,
            order_id: ids::uuid(order_id),
            status: Status::Accepted,
            updated_ms: now_ms(),
            epoch: None,
            step: None,
            total_steps: None,
            loss: None,
            accuracy_ppm: None,
            result: None,
            commitment: None,
            note: None,
            next_log_seq: 0,
            pending_call: None,
        }
    }

    pub fn load(work_dir: &Path, order_id: &OrderId) -> Result<Option<Self>, ClientError> {
        files::read_json(&Self::path(work_dir, order_id))
    }

    /// Every order this work directory has seen, most recently updated first.
    pub fn all(work_dir: &Path) -> Result<Vec<Self>, ClientError> {
        let dir = work_dir.join("orders");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ClientError::io(&dir, e)),
        };
        let mut states = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ClientError::io(&dir, e))?;
            if let Some(state) = files::read_json::<Self>(&entry.path().join("state.json"))? {
                states.push(state);
            }
        }
        states.sort_by_key(|state| std::cmp::Reverse(state.updated_ms));
        Ok(states)
    }

    /// Moves to `status` and writes the state durably.
    pub fn transition(&mut self, work_dir: &Path, status: Status) -> Result<(), ClientError> {
        self.status = status;
        self.save(work_dir)
    }

    pub fn save(&mut self, work_dir: &Path) -> Result<(), ClientError> {
        self.updated_ms = now_ms();
        let id = ids::parse_uuid(&self.order_id).expect("written from an id");
        files::write_json(&Self::path(work_dir, &id), self)
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_persist_and_list_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = ([1u8; 16], [2u8; 16]);
        assert_eq!(OrderState::load(dir.path(), &first).unwrap(), None);
        let mut a = OrderState::new(&first);
        a.transition(dir.path(), Status::Fetching).unwrap();
        let mut b = OrderState::new(&second);
        b.step = Some(10);
        b.transition(dir.path(), Status::Training).unwrap();
        a.transition(dir.path(), Status::Failed).unwrap();
        // Written later than `b`, whatever the clock's resolution.
        a.updated_ms = b.updated_ms + 1;
        files::write_json(&OrderState::path(dir.path(), &first), &a).unwrap();
        assert_eq!(
            OrderState::load(dir.path(), &second).unwrap(),
            Some(b.clone())
        );
        let all = OrderState::all(dir.path()).unwrap();
        assert_eq!(
            all.iter().map(|s| s.status).collect::<Vec<_>>(),
            [Status::Failed, Status::Training]
        );
        assert!(all[0].status.is_final() && !all[1].status.is_final());
    }
}
