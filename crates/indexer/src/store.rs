//! The indexed rows and how they are read from and written to the database: one struct per
//! table, loaded and saved as a whole (the follower changes rows in memory and writes each
//! changed row once per batch).

use crate::db::{Backend, DbError, Tx, execute, fetch_optional};
use sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A machine as indexed: what the chain says, its metadata's searchable fields, and its record.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineRow {
    pub machine_id: String,
    pub owner: String,
    /// The metadata bytes as text (lossy only for bytes that are not UTF-8).
    pub metadata: String,
    /// Why the metadata is not a valid `MachineMetadata`; `None` when it is.
    pub metadata_error: Option<String>,
    pub gpu_model: Option<String>,
    pub gpu_count: i64,
    pub gpu_memory_mb: Option<i64>,
    pub cpu_model: Option<String>,
    pub cpu_cores: Option<i64>,
    pub ram_mb: Option<i64>,
    pub region: Option<String>,
    pub performance_index: Option<f64>,
    pub deposit: u128,
    pub listed: bool,
    pub price_per_hour: Option<u128>,
    pub max_duration_hours: Option<i64>,
    pub disk_gb: Option<i64>,
    /// The order renting the machine (in training or awaiting its verdict).
    pub rented_by: Option<String>,
    /// Exponentially decayed count of finished orders, and of those that paid out.
    pub outcome_weight: f64,
    pub success_weight: f64,
    pub orders_total: i64,
    pub orders_succeeded: i64,
    pub orders_failed: i64,
    pub added_at: i64,
    pub updated_at: i64,
    pub removed_at: Option<i64>,
}

/// An order instance, keyed by its id and the block that placed it (ids are reusable).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRow {
    pub order_id: String,
    pub placed_at: i64,
    pub buyer: String,
    pub seller: String,
    pub machine_id: String,
    pub duration_hours: i64,
    pub price_per_hour: u128,
    pub escrow: u128,
    pub collateral: u128,
    pub deadline: i64,
    pub metadata: String,
    pub status: String,
    pub closed: bool,
    pub result: Option<String>,
    pub score: Option<i64>,
    pub proof: Option<String>,
    pub challenge_block: Option<i64>,
    pub panel_json: Option<String>,
    pub verdict: Option<String>,
    pub verified_by: Option<String>,
    pub dispute_until: Option<i64>,
    pub disputer: Option<String>,
    pub dispute_segment: Option<i64>,
    pub refunded: Option<u128>,
    pub slashed: Option<u128>,
    pub paid: Option<u128>,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

/// One hashrate-market or faucet event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub block_number: i64,
    pub event_index: i64,
    pub block_hash: String,
    pub timestamp_ms: i64,
    pub extrinsic_index: Option<i64>,
    pub pallet: String,
    pub name: String,
    pub machine_id: Option<String>,
    pub order_id: Option<String>,
    pub account: Option<String>,
    pub fields_json: String,
}

/// Running sums over the market's history.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    pub volume_placed: u128,
    pub volume_paid: u128,
    pub volume_refunded: u128,
    pub claimed: u128,
}

/// The last block whose rows are all in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub block_number: u64,
    pub block_hash: String,
}

pub const MACHINE_COLUMNS: [&str; 30] = [
    "machine_id",
    "owner",
    "metadata",
    "metadata_error",
    "gpu_model",
    "gpu_count",
    "gpu_memory_mb",
    "cpu_model",
    "cpu_cores",
    "ram_mb",
    "region",
    "performance_index",
    "deposit",
    "listed",
    "price_per_hour",
    "price_key",
    "max_duration_hours",
    "disk_gb",
    "value_key",
    "rented_by",
    "outcome_weight",
    "success_weight",
    "performance_key",
    "reliability_key",
    "orders_total",
    "orders_succeeded",
    "orders_failed",
    "added_at",
    "updated_at",
    "removed_at",
];

pub const ORDER_COLUMNS: [&str; 28] = [
    "order_id",
    "placed_at",
    "buyer",
    "seller",
    "machine_id",
    "duration_hours",
    "price_per_hour",
    "escrow",
    "collateral",
    "deadline",
    "metadata",
    "status",
    "closed",
    "result",
    "score",
    "proof",
    "challenge_block",
    "panel_json",
    "verdict",
    "verified_by",
    "dispute_until",
    "disputer",
    "dispute_segment",
    "refunded",
    "slashed",
    "paid",
    "updated_at",
    "closed_at",
];

pub const EVENT_COLUMNS: [&str; 11] = [
    "block_number",
    "event_index",
    "block_hash",
    "timestamp_ms",
    "extrinsic_index",
    "pallet",
    "name",
    "machine_id",
    "order_id",
    "account",
    "fields_json",
];

/// Laplace's rule of succession over the decayed counts: no history is `None` ("new"), one
/// success is 2/3, never exactly 0 or 1.
pub fn reliability(success_weight: f64, outcome_weight: f64) -> Option<f64> {
    (outcome_weight > 0.0).then(|| (success_weight + 1.0) / (outcome_weight + 2.0))
}

/// `price_key` of a machine without a price: after every price in ascending order.
pub const NO_PRICE: f64 = 1e300;
/// The other sort keys of a machine without the value (no valid metadata, no history): below
/// every real value, so last in descending order.
pub const MISSING: f64 = -1.0;

/// How much an earlier outcome counts against the next one.
pub const OUTCOME_DECAY: f64 = 0.95;

impl MachineRow {
    /// Records a finished order: older outcomes decay by [`OUTCOME_DECAY`] per newer one.
    pub fn record_outcome(&mut self, succeeded: bool) {
        self.outcome_weight = self.outcome_weight * OUTCOME_DECAY + 1.0;
        self.success_weight = self.success_weight * OUTCOME_DECAY + f64::from(u8::from(succeeded));
        if succeeded {
            self.orders_succeeded += 1;
        } else {
            self.orders_failed += 1;
        }
    }

    pub fn reliability(&self) -> Option<f64> {
        reliability(self.success_weight, self.outcome_weight)
    }

    /// Performance index per MAI of hourly price.
    pub fn performance_per_price(&self) -> Option<f64> {
        let price = self.price_per_hour? as f64 / matrixai_chain::UNIT as f64;
        let index = self.performance_index?;
        (price > 0.0).then(|| index / price)
    }

    fn values(&self) -> Vec<Expr> {
        vec![
            Expr::val(self.machine_id.clone()),
            Expr::val(self.owner.clone()),
            Expr::val(self.metadata.clone()),
            Expr::val(self.metadata_error.clone()),
            Expr::val(self.gpu_model.clone()),
            Expr::val(self.gpu_count),
            Expr::val(self.gpu_memory_mb),
            Expr::val(self.cpu_model.clone()),
            Expr::val(self.cpu_cores),
            Expr::val(self.ram_mb),
            Expr::val(self.region.clone()),
            Expr::val(self.performance_index),
            Expr::val(self.deposit.to_string()),
            Expr::val(i64::from(self.listed)),
            Expr::val(self.price_per_hour.map(|p| p.to_string())),
            Expr::val(self.price_per_hour.map_or(NO_PRICE, |p| p as f64)),
            Expr::val(self.max_duration_hours),
            Expr::val(self.disk_gb),
            Expr::val(self.performance_per_price().unwrap_or(MISSING)),
            Expr::val(self.rented_by.clone()),
            Expr::val(self.outcome_weight),
            Expr::val(self.success_weight),
            Expr::val(self.performance_index.unwrap_or(MISSING)),
            Expr::val(self.reliability().unwrap_or(MISSING)),
            Expr::val(self.orders_total),
            Expr::val(self.orders_succeeded),
            Expr::val(self.orders_failed),
            Expr::val(self.added_at),
            Expr::val(self.updated_at),
            Expr::val(self.removed_at),
        ]
    }

    pub fn from_row(row: &AnyRow) -> Result<Self, DbError> {
        Ok(Self {
            machine_id: row.try_get("machine_id")?,
            owner: row.try_get("owner")?,
            metadata: row.try_get("metadata")?,
            metadata_error: row.try_get("metadata_error")?,
            gpu_model: row.try_get("gpu_model")?,
            gpu_count: row.try_get("gpu_count")?,
            gpu_memory_mb: row.try_get("gpu_memory_mb")?,
            cpu_model: row.try_get("cpu_model")?,
            cpu_cores: row.try_get("cpu_cores")?,
            ram_mb: row.try_get("ram_mb")?,
            region: row.try_get("region")?,
            performance_index: row.try_get("performance_index")?,
            deposit: balance(row, "deposit")?,
            listed: row.try_get::<i64, _>("listed")? != 0,
            price_per_hour: optional_balance(row, "price_per_hour")?,
            max_duration_hours: row.try_get("max_duration_hours")?,
            disk_gb: row.try_get("disk_gb")?,
            rented_by: row.try_get("rented_by")?,
            outcome_weight: row.try_get("outcome_weight")?,
            success_weight: row.try_get("success_weight")?,
            orders_total: row.try_get("orders_total")?,
            orders_succeeded: row.try_get("orders_succeeded")?,
            orders_failed: row.try_get("orders_failed")?,
            added_at: row.try_get("added_at")?,
            updated_at: row.try_get("updated_at")?,
            removed_at: row.try_get("removed_at")?,
        })
    }
}

impl OrderRow {
    /// Whether the order still occupies its machine (training or awaiting its verdict).
    pub fn occupies_machine(&self) -> bool {
        matches!(
            self.status.as_str(),
            "training" | "completed" | "pot_submitted"
        )
    }

    fn values(&self) -> Vec<Expr> {
        vec![
            Expr::val(self.order_id.clone()),
            Expr::val(self.placed_at),
            Expr::val(self.buyer.clone()),
            Expr::val(self.seller.clone()),
            Expr::val(self.machine_id.clone()),
            Expr::val(self.duration_hours),
            Expr::val(self.price_per_hour.to_string()),
            Expr::val(self.escrow.to_string()),
            Expr::val(self.collateral.to_string()),
            Expr::val(self.deadline),
            Expr::val(self.metadata.clone()),
            Expr::val(self.status.clone()),
            Expr::val(i64::from(self.closed)),
            Expr::val(self.result.clone()),
            Expr::val(self.score),
            Expr::val(self.proof.clone()),
            Expr::val(self.challenge_block),
            Expr::val(self.panel_json.clone()),
            Expr::val(self.verdict.clone()),
            Expr::val(self.verified_by.clone()),
            Expr::val(self.dispute_until),
            Expr::val(self.disputer.clone()),
            Expr::val(self.dispute_segment),
            Expr::val(self.refunded.map(|b| b.to_string())),
            Expr::val(self.slashed.map(|b| b.to_string())),
            Expr::val(self.paid.map(|b| b.to_string())),
            Expr::val(self.updated_at),
            Expr::val(self.closed_at),
        ]
    }

    pub fn from_row(row: &AnyRow) -> Result<Self, DbError> {
        Ok(Self {
            order_id: row.try_get("order_id")?,
            placed_at: row.try_get("placed_at")?,
            buyer: row.try_get("buyer")?,
            seller: row.try_get("seller")?,
            machine_id: row.try_get("machine_id")?,
            duration_hours: row.try_get("duration_hours")?,
            price_per_hour: balance(row, "price_per_hour")?,
            escrow: balance(row, "escrow")?,
            collateral: balance(row, "collateral")?,
            deadline: row.try_get("deadline")?,
            metadata: row.try_get("metadata")?,
            status: row.try_get("status")?,
            closed: row.try_get::<i64, _>("closed")? != 0,
            result: row.try_get("result")?,
            score: row.try_get("score")?,
            proof: row.try_get("proof")?,
            challenge_block: row.try_get("challenge_block")?,
            panel_json: row.try_get("panel_json")?,
            verdict: row.try_get("verdict")?,
            verified_by: row.try_get("verified_by")?,
            dispute_until: row.try_get("dispute_until")?,
            disputer: row.try_get("disputer")?,
            dispute_segment: row.try_get("dispute_segment")?,
            refunded: optional_balance(row, "refunded")?,
            slashed: optional_balance(row, "slashed")?,
            paid: optional_balance(row, "paid")?,
            updated_at: row.try_get("updated_at")?,
            closed_at: row.try_get("closed_at")?,
        })
    }
}

impl EventRow {
    fn values(&self) -> Vec<Expr> {
        vec![
            Expr::val(self.block_number),
            Expr::val(self.event_index),
            Expr::val(self.block_hash.clone()),
            Expr::val(self.timestamp_ms),
            Expr::val(self.extrinsic_index),
            Expr::val(self.pallet.clone()),
            Expr::val(self.name.clone()),
            Expr::val(self.machine_id.clone()),
            Expr::val(self.order_id.clone()),
            Expr::val(self.account.clone()),
            Expr::val(self.fields_json.clone()),
        ]
    }

    pub fn from_row(row: &AnyRow) -> Result<Self, DbError> {
        Ok(Self {
            block_number: row.try_get("block_number")?,
            event_index: row.try_get("event_index")?,
            block_hash: row.try_get("block_hash")?,
            timestamp_ms: row.try_get("timestamp_ms")?,
            extrinsic_index: row.try_get("extrinsic_index")?,
            pallet: row.try_get("pallet")?,
            name: row.try_get("name")?,
            machine_id: row.try_get("machine_id")?,
            order_id: row.try_get("order_id")?,
            account: row.try_get("account")?,
            fields_json: row.try_get("fields_json")?,
        })
    }
}

/// A u128 stored as decimal text.
pub fn balance(row: &AnyRow, column: &str) -> Result<u128, DbError> {
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|_| DbError::Corrupt(format!("{column} is not an amount: {text:?}")))
}

fn optional_balance(row: &AnyRow, column: &str) -> Result<Option<u128>, DbError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| {
        text.parse()
            .map_err(|_| DbError::Corrupt(format!("{column} is not an amount: {text:?}")))
    })
    .transpose()
}

/// Reads and writes of the follower, inside its transaction.
pub struct Writer<'a> {
    pub tx: &'a mut Tx,
    pub backend: Backend,
}

impl Writer<'_> {
    pub async fn cursor(&mut self) -> Result<Option<Cursor>, DbError> {
        let select = Query::select()
            .columns(["block_number", "block_hash"])
            .from("index_cursor")
            .to_owned();
        let row = fetch_optional(self.tx, self.backend, &select).await?;
        row.map(|row| {
            Ok(Cursor {
                block_number: row.try_get::<i64, _>("block_number")? as u64,
                block_hash: row.try_get("block_hash")?,
            })
        })
        .transpose()
    }

    pub async fn set_cursor(&mut self, cursor: &Cursor, now_ms: i64) -> Result<(), DbError> {
        let insert = Query::insert()
            .into_table("index_cursor")
            .columns(["id", "block_number", "block_hash", "updated_ms"])
            .values_panic([
                Expr::val(1i64),
                Expr::val(cursor.block_number as i64),
                Expr::val(cursor.block_hash.clone()),
                Expr::val(now_ms),
            ])
            .on_conflict(
                OnConflict::column("id")
                    .update_columns(["block_number", "block_hash", "updated_ms"])
                    .to_owned(),
            )
            .to_owned();
        execute(self.tx, self.backend, &insert).await?;
        Ok(())
    }

    pub async fn machine(&mut self, machine_id: &str) -> Result<Option<MachineRow>, DbError> {
        let select = Query::select()
            .columns(MACHINE_COLUMNS)
            .from("machines")
            .and_where(Expr::col("machine_id").eq(machine_id))
            .to_owned();
        fetch_optional(self.tx, self.backend, &select)
            .await?
            .map(|row| MachineRow::from_row(&row))
            .transpose()
    }

    /// The latest instance of the order with this id.
    pub async fn latest_order(&mut self, order_id: &str) -> Result<Option<OrderRow>, DbError> {
        let select = Query::select()
            .columns(ORDER_COLUMNS)
            .from("orders")
            .and_where(Expr::col("order_id").eq(order_id))
            .order_by("placed_at", Order::Desc)
            .limit(1)
            .to_owned();
        fetch_optional(self.tx, self.backend, &select)
            .await?
            .map(|row| OrderRow::from_row(&row))
            .transpose()
    }

    pub async fn totals(&mut self) -> Result<Totals, DbError> {
        let select = Query::select()
            .columns(["volume_placed", "volume_paid", "volume_refunded", "claimed"])
            .from("totals")
            .to_owned();
        let Some(row) = fetch_optional(self.tx, self.backend, &select).await? else {
            return Ok(Totals::default());
        };
        Ok(Totals {
            volume_placed: balance(&row, "volume_placed")?,
            volume_paid: balance(&row, "volume_paid")?,
            volume_refunded: balance(&row, "volume_refunded")?,
            claimed: balance(&row, "claimed")?,
        })
    }

    pub async fn save_totals(&mut self, totals: &Totals) -> Result<(), DbError> {
        let columns = ["volume_placed", "volume_paid", "volume_refunded", "claimed"];
        let insert = Query::insert()
            .into_table("totals")
            .columns(["id"].into_iter().chain(columns))
            .values_panic([
                Expr::val(1i64),
                Expr::val(totals.volume_placed.to_string()),
                Expr::val(totals.volume_paid.to_string()),
                Expr::val(totals.volume_refunded.to_string()),
                Expr::val(totals.claimed.to_string()),
            ])
            .on_conflict(OnConflict::column("id").update_columns(columns).to_owned())
            .to_owned();
        execute(self.tx, self.backend, &insert).await?;
        Ok(())
    }

    pub async fn save_machines<'m>(
        &mut self,
        machines: impl IntoIterator<Item = &'m MachineRow>,
    ) -> Result<(), DbError> {
        for chunk in chunks(machines, 32) {
            let mut insert = Query::insert()
                .into_table("machines")
                .columns(MACHINE_COLUMNS)
                .to_owned();
            for machine in chunk {
                insert.values_panic(machine.values());
            }
            insert.on_conflict(
                OnConflict::column("machine_id")
                    .update_columns(MACHINE_COLUMNS[1..].iter().copied())
                    .to_owned(),
            );
            execute(self.tx, self.backend, &insert).await?;
        }
        Ok(())
    }

    pub async fn save_orders<'o>(
        &mut self,
        orders: impl IntoIterator<Item = &'o OrderRow>,
    ) -> Result<(), DbError> {
        for chunk in chunks(orders, 32) {
            let mut insert = Query::insert()
                .into_table("orders")
                .columns(ORDER_COLUMNS)
                .to_owned();
            for order in chunk {
                insert.values_panic(order.values());
            }
            insert.on_conflict(
                OnConflict::columns(["order_id", "placed_at"])
                    .update_columns(ORDER_COLUMNS[2..].iter().copied())
                    .to_owned(),
            );
            execute(self.tx, self.backend, &insert).await?;
        }
        Ok(())
    }

    pub async fn insert_events(&mut self, events: &[EventRow]) -> Result<(), DbError> {
        for chunk in events.chunks(64) {
            let mut insert = Query::insert()
                .into_table("events")
                .columns(EVENT_COLUMNS)
                .to_owned();
            for event in chunk {
                insert.values_panic(event.values());
            }
            execute(self.tx, self.backend, &insert).await?;
        }
        Ok(())
    }

    pub async fn insert_claim(
        &mut self,
        block_number: i64,
        event_index: i64,
        account: &str,
        amount: u128,
        next_claim_at: i64,
    ) -> Result<(), DbError> {
        let insert = Query::insert()
            .into_table("faucet_claims")
            .columns([
                "block_number",
                "event_index",
                "account",
                "amount",
                "next_claim_at",
            ])
            .values_panic([
                Expr::val(block_number),
                Expr::val(event_index),
                Expr::val(account.to_string()),
                Expr::val(amount.to_string()),
                Expr::val(next_claim_at),
            ])
            .to_owned();
        execute(self.tx, self.backend, &insert).await?;
        Ok(())
    }

    /// The seats of a panel drawn for an order: who may publish a report on it.
    pub async fn insert_panel_seats(
        &mut self,
        order_id: &str,
        placed_at: i64,
        panel_from: i64,
        validators: &[String],
    ) -> Result<(), DbError> {
        if validators.is_empty() {
            return Ok(());
        }
        let mut insert = Query::insert()
            .into_table("panel_seats")
            .columns([
                "order_id",
                "placed_at",
                "panel_from",
                "validator",
                "round_index",
            ])
            .to_owned();
        for (round, validator) in validators.iter().enumerate() {
            insert.values_panic([
                Expr::val(order_id.to_string()),
                Expr::val(placed_at),
                Expr::val(panel_from),
                Expr::val(validator.clone()),
                Expr::val(round as i64),
            ]);
        }
        execute(self.tx, self.backend, &insert).await?;
        Ok(())
    }

    pub async fn set_validator(
        &mut self,
        account: &str,
        active: bool,
        block_number: i64,
    ) -> Result<(), DbError> {
        let insert = Query::insert()
            .into_table("validators")
            .columns(["account", "active", "updated_at"])
            .values_panic([
                Expr::val(account.to_string()),
                Expr::val(i64::from(active)),
                Expr::val(block_number),
            ])
            .on_conflict(
                OnConflict::column("account")
                    .update_columns(["active", "updated_at"])
                    .to_owned(),
            )
            .to_owned();
        execute(self.tx, self.backend, &insert).await?;
        Ok(())
    }
}

fn chunks<T>(items: impl IntoIterator<Item = T>, size: usize) -> Vec<Vec<T>> {
    let mut chunks: Vec<Vec<T>> = Vec::new();
    for item in items {
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < size => chunk.push(item),
            _ => chunks.push(vec![item]),
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reliability_is_unknown_without_history_and_favours_recent_outcomes() {
        assert_eq!(reliability(0.0, 0.0), None);
        let mut machine_recovering = blank();
        let mut machine_declining = blank();
        for _ in 0..10 {
            machine_recovering.record_outcome(false);
            machine_declining.record_outcome(true);
        }
        for _ in 0..10 {
            machine_recovering.record_outcome(true);
            machine_declining.record_outcome(false);
        }
        let recovering = machine_recovering.reliability().unwrap();
        let declining = machine_declining.reliability().unwrap();
        assert!(
            recovering > 0.5 && declining < 0.5,
            "{recovering} {declining}"
        );
        assert_eq!(machine_recovering.orders_failed, 10);
        let mut one_success = blank();
        one_success.record_outcome(true);
        assert!((one_success.reliability().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    fn blank() -> MachineRow {
        MachineRow {
            machine_id: String::new(),
            owner: String::new(),
            metadata: String::new(),
            metadata_error: None,
            gpu_model: None,
            gpu_count: 0,
            gpu_memory_mb: None,
            cpu_model: None,
            cpu_cores: None,
            ram_mb: None,
            region: None,
            performance_index: None,
            deposit: 0,
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
            added_at: 0,
            updated_at: 0,
            removed_at: None,
        }
    }
}
