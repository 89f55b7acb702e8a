//! Market statistics, health and Prometheus metrics.

use super::orders::STATUSES;
use super::{ApiError, ApiJson, AppState};
use crate::db::DbError;
use crate::store::balance;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sea_query::{Expr, ExprTrait, Query};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use utoipa::ToSchema;

/// The market at the indexed height. Amounts are decimal strings in the smallest unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// Registered (not removed) machines.
    pub machines: i64,
    pub listed: i64,
    /// Machines renting to an order in training or awaiting its verdict.
    pub rented: i64,
    /// Orders per status, every status present.
    pub orders_by_status: BTreeMap<String, i64>,
    /// Everything buyers paid into escrow (orders and renewals).
    pub volume_placed: String,
    /// Paid out to sellers.
    pub volume_paid: String,
    /// Refunded to buyers.
    pub volume_refunded: String,
    pub faucet_claimed: String,
    pub validators: i64,
    pub indexed_block: u64,
    pub finalized_block: u64,
}

#[utoipa::path(get, path = "/api/stats", responses((status = 200, body = Stats), (status = 503, body = super::ErrorBody, description = "the database cannot be read")))]
pub async fn stats(State(state): State<AppState>) -> Result<ApiJson<Stats>, ApiError> {
    let db = &state.database;
    let machines = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "machines")
        .expr_as(
            Expr::cust("COUNT(CASE WHEN listed = 1 THEN 1 END)"),
            "listed",
        )
        .expr_as(
            Expr::cust("COUNT(CASE WHEN rented_by IS NOT NULL THEN 1 END)"),
            "rented",
        )
        .from("machines")
        .and_where(Expr::col("removed_at").is_null())
        .to_owned();
    let row = db
        .fetch_optional(&machines)
        .await?
        .ok_or_else(|| DbError::Corrupt("no aggregate row".into()))?;
    let count = |name: &str| -> Result<i64, DbError> { integer(&row, name) };
    let (machines, listed, rented) = (count("machines")?, count("listed")?, count("rented")?);

    let by_status = Query::select()
        .column("status")
        .expr_as(Expr::cust("COUNT(*)"), "orders")
        .from("orders")
        .group_by_col("status")
        .to_owned();
    let mut orders_by_status: BTreeMap<String, i64> =
        STATUSES.iter().map(|s| (s.to_string(), 0)).collect();
    for row in db.fetch_all(&by_status).await? {
        let status: String = row.try_get("status").map_err(DbError::from)?;
        orders_by_status.insert(status, integer(&row, "orders")?);
    }
    let totals = Query::select()
        .columns(["volume_placed", "volume_paid", "volume_refunded", "claimed"])
        .from("totals")
        .to_owned();
    let (mut placed, mut paid, mut refunded, mut claimed) = (0, 0, 0, 0);
    if let Some(row) = db.fetch_optional(&totals).await? {
        placed = balance(&row, "volume_placed")?;
        paid = balance(&row, "volume_paid")?;
        refunded = balance(&row, "volume_refunded")?;
        claimed = balance(&row, "claimed")?;
    }
    let validators = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "validators")
        .from("validators")
        .and_where(Expr::col("active").eq(1))
        .to_owned();
    let validators = match db.fetch_optional(&validators).await? {
        Some(row) => integer(&row, "validators")?,
        None => 0,
    };
    Ok(ApiJson(Stats {
        machines,
        listed,
        rented,
        orders_by_status,
        volume_placed: placed.to_string(),
        volume_paid: paid.to_string(),
        volume_refunded: refunded.to_string(),
        faucet_claimed: claimed.to_string(),
        validators,
        indexed_block: state.progress.indexed.load(Ordering::Relaxed),
        finalized_block: state.progress.finalized.load(Ordering::Relaxed),
    }))
}

/// A COUNT (BIGINT on every backend; SUM is avoided: MySQL returns DECIMAL, which sqlx's Any
/// driver cannot read).
fn integer(row: &sqlx::any::AnyRow, name: &str) -> Result<i64, DbError> {
    Ok(row.try_get::<i64, _>(name)?)
}

/// Whether the indexer keeps up with the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unhealthy`.
    pub status: String,
    pub connected: bool,
    pub indexed_block: u64,
    pub finalized_block: u64,
    /// Finalized blocks not yet indexed.
    pub lag: u64,
    /// Seconds since the follower last committed a batch or saw a new finalized head.
    pub seconds_since_progress: u64,
    pub error: Option<String>,
}

/// The chain spec of the chain followed, for a light client (the web UI's smoldot).
#[utoipa::path(get, path = "/api/chain-spec",
    responses((status = 200, description = "the raw chain spec", content_type = "application/json", body = Object),
        (status = 404, body = super::ErrorBody, description = "the indexer was started without `--chain-spec`")))]
pub async fn chain_spec(State(state): State<AppState>) -> Result<Response, ApiError> {
    let spec = state.chain_spec.clone().ok_or_else(|| {
        ApiError::not_found(
            "this indexer serves no chain spec: start it with --chain-spec FILE (MATRIXAI_CHAIN_SPEC)",
        )
    })?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        spec,
    )
        .into_response())
}

/// 200 while the follower keeps up; 503 when it is disconnected, or behind by more than the
/// allowed lag without progress for a while (stuck).
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Response {
    let progress = &state.progress;
    let lag = progress.lag();
    let since = progress.since_progress();
    let connected = progress.connected.load(Ordering::Relaxed);
    let stuck = lag > state.max_lag && since > state.stuck_after;
    let healthy = connected && !stuck;
    let health = Health {
        status: if healthy { "ok" } else { "unhealthy" }.into(),
        connected,
        indexed_block: progress.indexed.load(Ordering::Relaxed),
        finalized_block: progress.finalized.load(Ordering::Relaxed),
        lag,
        seconds_since_progress: since.as_secs(),
        error: progress.last_error.lock().expect("not poisoned").clone(),
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(health)).into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let progress = &state.progress;
    metrics::gauge!("indexer_finalized_block")
        .set(progress.finalized.load(Ordering::Relaxed) as f64);
    metrics::gauge!("indexer_lag_blocks").set(progress.lag() as f64);
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
