//! From a finalized block's events to rows: the raw events, and the machines, orders,
//! validators, faucet claims and totals they change. A [`Batch`] applies consecutive blocks
//! inside one database transaction and writes the cursor with them, so a batch is either
//! wholly indexed or not at all.

use crate::db::DbError;
use crate::ids;
use crate::store::{Cursor, EventRow, MachineRow, OrderRow, Totals, Writer};
use matrixai_chain::machine_metadata::MachineMetadata;
use matrixai_chain::runtime::{faucet, hashrate_market};
use matrixai_chain::{Hash, Verdict};
use std::collections::HashMap;

/// A finalized block's hashrate-market and faucet events.
#[derive(Debug, Clone)]
pub struct IndexedBlock {
    pub number: u64,
    pub hash: Hash,
    pub timestamp_ms: u64,
    pub events: Vec<ChainEvent>,
}

/// One event with its place in the block and its fields as JSON.
#[derive(Debug, Clone)]
pub struct ChainEvent {
    pub index: u32,
    /// `None` for events of block initialization (expiries) or finalization.
    pub extrinsic_index: Option<u32>,
    pub pallet: String,
    pub name: String,
    pub fields: serde_json::Value,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    Market(hashrate_market::Event),
    Faucet(faucet::Event),
}

/// Rows changed by the blocks applied so far, written by [`Batch::commit`].
#[derive(Default)]
pub struct Batch {
    machines: HashMap<String, MachineRow>,
    orders: HashMap<(String, i64), OrderRow>,
    latest_order: HashMap<String, i64>,
    events: Vec<EventRow>,
    totals: Option<Totals>,
    cursor: Option<Cursor>,
    blocks: usize,
}

impl Batch {
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    pub fn events(&self) -> usize {
        self.events.len()
    }

    /// Applies one block; blocks must come in order, each right after the previous.
    pub async fn apply(
        &mut self,
        writer: &mut Writer<'_>,
        block: &IndexedBlock,
    ) -> Result<(), DbError> {
        let number = block.number as i64;
        let block_hash = ids::hash(&block.hash);
        for event in &block.events {
            let mut row = EventRow {
                block_number: number,
                event_index: i64::from(event.index),
                block_hash: block_hash.clone(),
                timestamp_ms: block.timestamp_ms as i64,
                extrinsic_index: event.extrinsic_index.map(i64::from),
                pallet: event.pallet.clone(),
                name: event.name.clone(),
                machine_id: None,
                order_id: None,
                account: None,
                fields_json: event.fields.to_string(),
            };
            match &event.kind {
                EventKind::Market(market) => {
                    self.apply_market(writer, number, market, &mut row).await?;
                }
                EventKind::Faucet(faucet::Event::Claimed {
                    who,
                    amount,
                    next_claim_at,
                }) => {
                    row.account = Some(ids::account(who));
                    writer
                        .insert_claim(
                            number,
                            i64::from(event.index),
                            &ids::account(who),
                            *amount,
                            i64::from(*next_claim_at),
                        )
                        .await?;
                    self.totals(writer).await?.claimed += amount;
                }
                EventKind::Faucet(faucet::Event::ToppedUp { who, .. }) => {
                    row.account = Some(ids::account(who));
                }
            }
            self.events.push(row);
        }
        self.cursor = Some(Cursor {
            block_number: block.number,
            block_hash,
        });
        self.blocks += 1;
        Ok(())
    }

    /// Writes the changed rows and the cursor; the caller commits the transaction.
    pub async fn commit(self, writer: &mut Writer<'_>, now_ms: i64) -> Result<(), DbError> {
        writer.insert_events(&self.events).await?;
        writer.save_machines(self.machines.values()).await?;
        writer.save_orders(self.orders.values()).await?;
        if let Some(totals) = &self.totals {
            writer.save_totals(totals).await?;
        }
        if let Some(cursor) = &self.cursor {
            writer.set_cursor(cursor, now_ms).await?;
        }
        Ok(())
    }

    async fn totals(&mut self, writer: &mut Writer<'_>) -> Result<&mut Totals, DbError> {
        if self.totals.is_none() {
            self.totals = Some(writer.totals().await?);
        }
        Ok(self.totals.as_mut().expect("loaded above"))
    }

    async fn machine(
        &mut self,
        writer: &mut Writer<'_>,
        machine_id: &str,
    ) -> Result<Option<&mut MachineRow>, DbError> {
        if !self.machines.contains_key(machine_id) {
            match writer.machine(machine_id).await? {
                Some(machine) => {
                    self.machines.insert(machine_id.to_string(), machine);
                }
                None => {
                    tracing::warn!(machine_id, "event for a machine that was never added");
                    return Ok(None);
                }
            }
        }
        Ok(self.machines.get_mut(machine_id))
    }

    async fn order(
        &mut self,
        writer: &mut Writer<'_>,
        order_id: &str,
    ) -> Result<Option<&mut OrderRow>, DbError> {
        if !self.latest_order.contains_key(order_id) {
            match writer.latest_order(order_id).await? {
                Some(order) => {
                    self.latest_order
                        .insert(order_id.to_string(), order.placed_at);
                    self.orders
                        .insert((order_id.to_string(), order.placed_at), order);
                }
                None => {
                    tracing::warn!(order_id, "event for an order that was never placed");
                    return Ok(None);
                }
            }
        }
        let placed_at = self.latest_order[order_id];
        Ok(self.orders.get_mut(&(order_id.to_string(), placed_at)))
    }

    /// Closes an order with `status`, frees its machine, slashes the machine's deposit, delists
    /// it when `delist`, and records the outcome in the machine's reliability.
    #[allow(clippy::too_many_arguments)]
    async fn close_order(
        &mut self,
        writer: &mut Writer<'_>,
        number: i64,
        order_id: &str,
        status: &str,
        slashed: u128,
        delist: bool,
        succeeded: bool,
    ) -> Result<(), DbError> {
        let Some(order) = self.order(writer, order_id).await? else {
            return Ok(());
        };
        order.status = status.to_string();
        order.closed = true;
        order.closed_at = Some(number);
        order.updated_at = number;
        let machine_id = order.machine_id.clone();
        if let Some(machine) = self.machine(writer, &machine_id).await? {
            machine.deposit = machine.deposit.saturating_sub(slashed);
            if machine.rented_by.as_deref() == Some(order_id) {
                machine.rented_by = None;
            }
            if delist {
                machine.listed = false;
            }
            machine.record_outcome(succeeded);
            machine.updated_at = number;
        }
        Ok(())
    }

    /// The order left training and proof: its machine may serve the next one.
    async fn release_machine(
        &mut self,
        writer: &mut Writer<'_>,
        number: i64,
        order_id: &str,
        machine_id: &str,
    ) -> Result<(), DbError> {
        if let Some(machine) = self.machine(writer, machine_id).await?
            && machine.rented_by.as_deref() == Some(order_id)
        {
            machine.rented_by = None;
            machine.updated_at = number;
        }
        Ok(())
    }

    async fn apply_market(
        &mut self,
        writer: &mut Writer<'_>,
        number: i64,
        event: &hashrate_market::Event,
        row: &mut EventRow,
    ) -> Result<(), DbError> {
        use hashrate_market::Event as E;
        match event {
            E::MachineAdded {
                machine_id,
                owner,
                deposit,
                metadata,
            } => {
                let id = ids::uuid(machine_id);
                row.machine_id = Some(id.clone());
                row.account = Some(ids::account(owner));
                let machine = new_machine(&id, &ids::account(owner), *deposit, &metadata.0, number);
                self.machines.insert(id, machine);
            }
            E::MachineRemoved {
                machine_id, owner, ..
            } => {
                let id = ids::uuid(machine_id);
                row.machine_id = Some(id.clone());
                row.account = Some(ids::account(owner));
                if let Some(machine) = self.machine(writer, &id).await? {
                    machine.removed_at = Some(number);
                    machine.listed = false;
                    machine.deposit = 0;
                    machine.updated_at = number;
                }
            }
            E::DepositAdded {
                machine_id,
                owner,
                deposit,
                ..
            } => {
                let id = ids::uuid(machine_id);
                row.machine_id = Some(id.clone());
                row.account = Some(ids::account(owner));
                if let Some(machine) = self.machine(writer, &id).await? {
                    machine.deposit = *deposit;
                    machine.updated_at = number;
                }
            }
            E::OfferMade {
                machine_id,
                owner,
                offer,
                deposit,
            } => {
                let id = ids::uuid(machine_id);
                row.machine_id = Some(id.clone());
                row.account = Some(ids::account(owner));
                if let Some(machine) = self.machine(writer, &id).await? {
                    machine.listed = true;
                    machine.price_per_hour = Some(offer.price_per_hour);
                    machine.max_duration_hours = Some(i64::from(offer.max_duration_hours));
                    machine.disk_gb = Some(i64::from(offer.disk_gb));
                    machine.deposit = *deposit;
                    machine.updated_at = number;
                }
            }
            E::OfferCancelled { machine_id, owner } => {
                let id = ids::uuid(machine_id);
                row.machine_id = Some(id.clone());
                row.account = Some(ids::account(owner));
                if let Some(machine) = self.machine(writer, &id).await? {
                    machine.listed = false;
                    machine.updated_at = number;
                }
            }
            E::OrderPlaced {
                order_id,
                buyer,
                seller,
                machine_id,
                duration_hours,
                price_per_hour,
                total,
                collateral,
                deadline,
                metadata,
            } => {
                let id = ids::uuid(order_id);
                let machine = ids::uuid(machine_id);
                row.order_id = Some(id.clone());
                row.machine_id = Some(machine.clone());
                row.account = Some(ids::account(buyer));
                let order = OrderRow {
                    order_id: id.clone(),
                    placed_at: number,
                    buyer: ids::account(buyer),
                    seller: ids::account(seller),
                    machine_id: machine.clone(),
                    duration_hours: i64::from(*duration_hours),
                    price_per_hour: *price_per_hour,
                    escrow: *total,
                    collateral: *collateral,
                    deadline: i64::from(*deadline),
                    metadata: String::from_utf8_lossy(&metadata.0).into_owned(),
                    status: "training".into(),
                    closed: false,
                    result: None,
                    score: None,
                    proof: None,
                    challenge_block: None,
                    panel_json: None,
                    verdict: None,
                    verified_by: None,
                    dispute_until: None,
                    disputer: None,
                    dispute_segment: None,
                    refunded: None,
                    slashed: None,
                    paid: None,
                    updated_at: number,
                    closed_at: None,
                };
                self.latest_order.insert(id.clone(), number);
                self.orders.insert((id.clone(), number), order);
                self.totals(writer).await?.volume_placed += total;
                if let Some(machine) = self.machine(writer, &machine).await? {
                    machine.rented_by = Some(id);
                    machine.orders_total += 1;
                    machine.updated_at = number;
                }
            }
            E::OrderRenewed {
                order_id,
                buyer,
                extra_amount,
                duration_hours,
                escrow,
                collateral,
                deadline,
                ..
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                row.account = Some(ids::account(buyer));
                if let Some(order) = self.order(writer, &id).await? {
                    order.duration_hours = i64::from(*duration_hours);
                    order.escrow = *escrow;
                    order.collateral = *collateral;
                    order.deadline = i64::from(*deadline);
                    order.updated_at = number;
                    row.machine_id = Some(order.machine_id.clone());
                }
                self.totals(writer).await?.volume_placed += extra_amount;
            }
            E::OrderCompleted {
                order_id,
                seller,
                machine_id,
                score,
                result,
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                row.machine_id = Some(ids::uuid(machine_id));
                row.account = Some(ids::account(seller));
                if let Some(order) = self.order(writer, &id).await? {
                    order.status = "completed".into();
                    order.score = Some(i64::from(*score));
                    order.result = Some(String::from_utf8_lossy(&result.0).into_owned());
                    order.updated_at = number;
                }
            }
            E::OrderFailed {
                order_id,
                seller,
                machine_id,
                refunded,
                slashed,
                result,
                ..
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                row.machine_id = Some(ids::uuid(machine_id));
                row.account = Some(ids::account(seller));
                if let Some(order) = self.order(writer, &id).await? {
                    order.result = Some(String::from_utf8_lossy(&result.0).into_owned());
                    order.refunded = Some(*refunded);
                    order.slashed = Some(*slashed);
                }
                self.close_order(writer, number, &id, "failed", *slashed, false, false)
                    .await?;
                self.totals(writer).await?.volume_refunded += refunded;
            }
            E::PotSubmitted {
                order_id,
                seller,
                machine_id,
                proof,
                challenge_block,
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                row.machine_id = Some(ids::uuid(machine_id));
                row.account = Some(ids::account(seller));
                if let Some(order) = self.order(writer, &id).await? {
                    order.status = "pot_submitted".into();
                    order.proof = Some(String::from_utf8_lossy(&proof.0).into_owned());
                    order.challenge_block = Some(i64::from(*challenge_block));
                    order.updated_at = number;
                }
            }
            E::PanelDrawn {
                order_id,
                panel,
                from,
                ..
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                let panel: Vec<String> = panel.0.iter().map(ids::account).collect();
                if let Some(order) = self.order(writer, &id).await? {
                    order.panel_json = Some(serde_json::json!(panel).to_string());
                    order.updated_at = number;
                    row.machine_id = Some(order.machine_id.clone());
                    let placed_at = order.placed_at;
                    writer
                        .insert_panel_seats(&id, placed_at, i64::from(*from), &panel)
                        .await?;
                }
            }
            E::PotVerified {
                order_id,
                validator,
                verdict,
                machine_id,
                refunded,
                slashed,
                dispute_until,
                ..
            } => {
                let id = ids::uuid(order_id);
                let machine = ids::uuid(machine_id);
                row.order_id = Some(id.clone());
                row.machine_id = Some(machine.clone());
                row.account = Some(ids::account(validator));
                if let Some(order) = self.order(writer, &id).await? {
                    order.verdict = Some(verdict_name(verdict).into());
                    order.verified_by = Some(ids::account(validator));
                    order.dispute_until = dispute_until.map(i64::from);
                    order.updated_at = number;
                    if *verdict == Verdict::Fail {
                        order.refunded = Some(*refunded);
                        order.slashed = Some(*slashed);
                    } else {
                        order.status = "verified".into();
                    }
                }
                if *verdict == Verdict::Fail {
                    self.close_order(writer, number, &id, "rejected", *slashed, true, false)
                        .await?;
                    self.totals(writer).await?.volume_refunded += refunded;
                } else {
                    self.release_machine(writer, number, &id, &machine).await?;
                }
            }
            E::PotUnjudged {
                order_id,
                dispute_until,
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                let mut machine = None;
                if let Some(order) = self.order(writer, &id).await? {
                    order.status = "verified".into();
                    order.verdict = Some("unjudged".into());
                    order.dispute_until = Some(i64::from(*dispute_until));
                    order.updated_at = number;
                    machine = Some(order.machine_id.clone());
                }
                if let Some(machine) = machine {
                    row.machine_id = Some(machine.clone());
                    self.release_machine(writer, number, &id, &machine).await?;
                }
            }
            E::DisputeRaised {
                order_id,
                disputer,
                segment,
                ..
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                row.account = Some(ids::account(disputer));
                if let Some(order) = self.order(writer, &id).await? {
                    order.status = "disputed".into();
                    order.disputer = Some(ids::account(disputer));
                    order.dispute_segment = Some(i64::from(*segment));
                    order.updated_at = number;
                    row.machine_id = Some(order.machine_id.clone());
                }
            }
            E::DisputeResolved {
                order_id,
                validator,
                verdict,
                machine_id,
                refunded,
                slashed,
                dispute_until,
                ..
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                row.machine_id = Some(ids::uuid(machine_id));
                row.account = Some(ids::account(validator));
                if let Some(order) = self.order(writer, &id).await? {
                    order.updated_at = number;
                    order.dispute_until = dispute_until.map(i64::from);
                    if *verdict == Verdict::Fail {
                        order.verdict = Some("forged".into());
                        order.refunded = Some(*refunded);
                        order.slashed = Some(*slashed);
                    } else {
                        order.status = "verified".into();
                    }
                }
                if *verdict == Verdict::Fail {
                    self.close_order(writer, number, &id, "forged", *slashed, true, false)
                        .await?;
                    self.totals(writer).await?.volume_refunded += refunded;
                }
            }
            E::DisputeUnjudged {
                order_id,
                disputer,
                dispute_until,
                ..
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                row.account = Some(ids::account(disputer));
                if let Some(order) = self.order(writer, &id).await? {
                    order.status = "verified".into();
                    order.dispute_until = dispute_until.map(i64::from);
                    order.updated_at = number;
                    row.machine_id = Some(order.machine_id.clone());
                }
            }
            E::OrderSettled {
                order_id,
                seller,
                machine_id,
                paid,
                ..
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                row.machine_id = Some(ids::uuid(machine_id));
                row.account = Some(ids::account(seller));
                if let Some(order) = self.order(writer, &id).await? {
                    order.paid = Some(*paid);
                }
                self.close_order(writer, number, &id, "settled", 0, false, true)
                    .await?;
                self.totals(writer).await?.volume_paid += paid;
            }
            E::OrderExpired {
                order_id,
                buyer,
                machine_id,
                refunded,
                slashed,
                ..
            } => {
                let id = ids::uuid(order_id);
                row.order_id = Some(id.clone());
                row.machine_id = Some(ids::uuid(machine_id));
                row.account = Some(ids::account(buyer));
                let mut status = "expired";
                if let Some(order) = self.order(writer, &id).await? {
                    if order.status == "completed" {
                        status = "proof_expired";
                    }
                    order.refunded = Some(*refunded);
                    order.slashed = Some(*slashed);
                }
                self.close_order(writer, number, &id, status, *slashed, true, false)
                    .await?;
                self.totals(writer).await?.volume_refunded += refunded;
            }
            E::ValidatorAdded { validator } => {
                row.account = Some(ids::account(validator));
                writer
                    .set_validator(&ids::account(validator), true, number)
                    .await?;
            }
            E::ValidatorRemoved { validator } => {
                row.account = Some(ids::account(validator));
                writer
                    .set_validator(&ids::account(validator), false, number)
                    .await?;
            }
        }
        Ok(())
    }
}

pub fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
    }
}

/// A freshly added machine, its metadata's searchable fields filled when the metadata parses.
pub fn new_machine(
    machine_id: &str,
    owner: &str,
    deposit: u128,
    metadata: &[u8],
    number: i64,
) -> MachineRow {
    let parsed = MachineMetadata::parse(metadata);
    let valid = parsed.as_ref().ok();
    let first_gpu = valid.and_then(|m| m.hardware.gpus.first());
    MachineRow {
        machine_id: machine_id.to_string(),
        owner: owner.to_string(),
        metadata: String::from_utf8_lossy(metadata).into_owned(),
        metadata_error: parsed.as_ref().err().map(ToString::to_string),
        gpu_model: first_gpu.map(|gpu| gpu.model.clone()),
        gpu_count: valid.map_or(0, |m| i64::from(m.gpu_count())),
        gpu_memory_mb: first_gpu.map(|gpu| gpu.memory_mb as i64),
        cpu_model: valid.map(|m| m.hardware.cpu.model.clone()),
        cpu_cores: valid.map(|m| i64::from(m.hardware.cpu.cores)),
        ram_mb: valid.map(|m| m.hardware.ram_mb as i64),
        region: valid.map(|m| m.region.clone()),
        performance_index: valid.map(|m| m.performance.index),
        deposit,
        listed: false,
        price_per_hour: None,
        max_duration_hours: None,
        disk_gb: None,
        rented_by: None,
        outcome_weight: 0.0,
        success_weight: 0.0,
        orders_total: 0,
        orders_succeeded: 0,
        orders_failed: 0,
        added_at: number,
        updated_at: number,
        removed_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_that_does_not_parse_is_kept_and_marked() {
        let machine = new_machine("m", "o", 5, b"{\"gpu\": \"lots\"}", 3);
        assert!(machine.metadata_error.is_some());
        assert_eq!(machine.metadata, "{\"gpu\": \"lots\"}");
        assert_eq!(machine.gpu_count, 0);
        assert_eq!(machine.performance_index, None);

        let bytes = matrixai_chain::machine_metadata::example("eu-west", 2.5)
            .to_bytes()
            .unwrap();
        let machine = new_machine("m", "o", 5, &bytes, 3);
        assert_eq!(machine.metadata_error, None);
        assert_eq!(machine.region.as_deref(), Some("eu-west"));
        assert_eq!(machine.gpu_model.as_deref(), Some("NVIDIA H200"));
        assert_eq!(machine.gpu_count, 1);
        assert_eq!(machine.performance_index, Some(2.5));
    }
}
