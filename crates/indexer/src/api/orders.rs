//! Orders: an account's orders as buyer or seller, one order with its chain history.

use super::machines::EventView;
use super::{
    ApiError, ApiJson, ApiPath, ApiQuery, AppState, Paging, default_page_size, first_page,
    parse_account, parse_id,
};
use crate::db::Database;
use crate::store::{EVENT_COLUMNS, EventRow, ORDER_COLUMNS, OrderRow};
use axum::extract::State;
use sea_query::{Cond, Expr, ExprTrait, Order, Query};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

/// Every status an order can have. Open: `training`, `completed` (result reported, proof due),
/// `pot_submitted`, `verified` (in its dispute window), `disputed`. Closed: `settled` (paid to
/// the seller), `rejected` (the proof failed: refunded, collateral slashed), `forged` (a dispute
/// proved a forged segment), `failed` (the seller gave up), `expired` (no result before the
/// deadline), `proof_expired` (a result but no proof in time).
pub const STATUSES: [&str; 11] = [
    "training",
    "completed",
    "pot_submitted",
    "verified",
    "disputed",
    "settled",
    "rejected",
    "forged",
    "failed",
    "expired",
    "proof_expired",
];

/// An order as indexed. Amounts are decimal strings in the smallest unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    /// Block of its `OrderPlaced` event: with the id, what identifies this order.
    pub placed_at: i64,
    pub buyer: String,
    pub seller: String,
    pub machine_id: String,
    pub duration_hours: i64,
    pub price_per_hour: String,
    pub escrow: String,
    pub collateral: String,
    pub deadline: i64,
    /// The order's metadata (the task spec JSON) as placed.
    pub metadata: String,
    pub status: String,
    pub closed: bool,
    pub result: Option<String>,
    pub score: Option<i64>,
    /// The Proof-of-Training commitment as submitted.
    pub proof: Option<String>,
    /// The block whose hash seeds the verifier's challenge.
    pub challenge_block: Option<i64>,
    /// Validators drawn to judge the proof or the dispute, in round order.
    pub panel: Vec<String>,
    /// `pass`, `fail`, `unjudged` (no validator judged: stands as passed) or `forged`.
    pub verdict: Option<String>,
    pub verified_by: Option<String>,
    pub dispute_until: Option<i64>,
    pub disputer: Option<String>,
    pub dispute_segment: Option<i64>,
    pub refunded: Option<String>,
    pub slashed: Option<String>,
    pub paid: Option<String>,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

impl From<OrderRow> for OrderView {
    fn from(row: OrderRow) -> Self {
        Self {
            panel: row
                .panel_json
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default(),
            order_id: row.order_id,
            placed_at: row.placed_at,
            buyer: row.buyer,
            seller: row.seller,
            machine_id: row.machine_id,
            duration_hours: row.duration_hours,
            price_per_hour: row.price_per_hour.to_string(),
            escrow: row.escrow.to_string(),
            collateral: row.collateral.to_string(),
            deadline: row.deadline,
            metadata: row.metadata,
            status: row.status,
            closed: row.closed,
            result: row.result,
            score: row.score,
            proof: row.proof,
            challenge_block: row.challenge_block,
            verdict: row.verdict,
            verified_by: row.verified_by,
            dispute_until: row.dispute_until,
            disputer: row.disputer,
            dispute_segment: row.dispute_segment,
            refunded: row.refunded.map(|b| b.to_string()),
            slashed: row.slashed.map(|b| b.to_string()),
            paid: row.paid.map(|b| b.to_string()),
            updated_at: row.updated_at,
            closed_at: row.closed_at,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Buyer,
    Seller,
    /// Either (default).
    #[default]
    Any,
}

/// `/api/order/mine`'s request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderMineRequest {
    /// SS58 address or 0x-hex account id.
    pub account: String,
    #[serde(default)]
    pub role: Role,
    /// Only orders in one of these statuses (see `OrderView.status`).
    pub status: Option<Vec<String>>,
    /// Page number, from 1 (default 1).
    #[serde(default = "first_page")]
    #[schema(minimum = 1, default = 1)]
    pub page: u32,
    /// Items per page, 1 to 100 (default 20).
    #[serde(default = "default_page_size")]
    #[schema(minimum = 1, maximum = 100, default = 20)]
    pub page_size: u32,
}

impl OrderMineRequest {
    fn paging(&self) -> Paging {
        Paging {
            page: self.page,
            page_size: self.page_size,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
    pub items: Vec<OrderView>,
}

/// An order with every event of its life.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDetail {
    pub order: OrderView,
    /// Oldest first, from `OrderPlaced`.
    pub history: Vec<EventView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrderInstance {
    /// Which order with this id (ids are reusable once an order closes): the block of its
    /// `OrderPlaced`. Default: the latest.
    pub placed_at: Option<i64>,
}

#[utoipa::path(post, path = "/api/order/mine", request_body = OrderMineRequest,
    responses((status = 200, body = OrderPage), super::BodyErrors))]
pub async fn mine(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<OrderMineRequest>,
) -> Result<ApiJson<OrderPage>, ApiError> {
    let (limit, offset) = request.paging().limits()?;
    let account = parse_account("account", &request.account)?;
    let mut condition = match request.role {
        Role::Buyer => Cond::all().add(Expr::col("buyer").eq(account.as_str())),
        Role::Seller => Cond::all().add(Expr::col("seller").eq(account.as_str())),
        Role::Any => Cond::all().add(
            Cond::any()
                .add(Expr::col("buyer").eq(account.as_str()))
                .add(Expr::col("seller").eq(account.as_str())),
        ),
    };
    if let Some(statuses) = &request.status {
        if let Some(unknown) = statuses.iter().find(|s| !STATUSES.contains(&s.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown status {unknown:?}; statuses are {}",
                STATUSES.join(", ")
            )));
        }
        condition = condition.add(Expr::col("status").is_in(statuses.iter().map(String::as_str)));
    }
    let db = &state.database;
    let count = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "total")
        .from("orders")
        .cond_where(condition.clone())
        .to_owned();
    let total: i64 = match db.fetch_optional(&count).await? {
        Some(row) => row.try_get("total").map_err(crate::db::DbError::from)?,
        None => 0,
    };
    let select = Query::select()
        .columns(ORDER_COLUMNS)
        .from("orders")
        .cond_where(condition)
        .order_by("placed_at", Order::Desc)
        .order_by("order_id", Order::Asc)
        .limit(limit)
        .offset(offset)
        .to_owned();
    let mut items = Vec::new();
    for row in db.fetch_all(&select).await? {
        items.push(OrderRow::from_row(&row)?.into());
    }
    Ok(ApiJson(OrderPage {
        total,
        page: request.paging().page,
        page_size: request.paging().page_size,
        items,
    }))
}

/// The order with this id placed at `placed_at`, or its latest instance.
pub async fn find_order(
    db: &Database,
    order_id: &str,
    placed_at: Option<i64>,
) -> Result<Option<OrderRow>, ApiError> {
    let mut select = Query::select()
        .columns(ORDER_COLUMNS)
        .from("orders")
        .and_where(Expr::col("order_id").eq(order_id))
        .order_by("placed_at", Order::Desc)
        .limit(1)
        .to_owned();
    if let Some(placed_at) = placed_at {
        select.and_where(Expr::col("placed_at").eq(placed_at));
    }
    Ok(db
        .fetch_optional(&select)
        .await?
        .map(|row| OrderRow::from_row(&row))
        .transpose()?)
}

#[utoipa::path(get, path = "/api/order/{id}", params(("id" = String, Path, description = "order id (UUID)"), OrderInstance),
    responses((status = 200, body = OrderDetail), super::LookupErrors))]
pub async fn detail(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(instance): ApiQuery<OrderInstance>,
) -> Result<ApiJson<OrderDetail>, ApiError> {
    let id = parse_id("order id", &id)?;
    let db = &state.database;
    let order = find_order(db, &id, instance.placed_at)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order {id} was placed")))?;
    let mut condition = Cond::all()
        .add(Expr::col("order_id").eq(id.as_str()))
        .add(Expr::col("block_number").gte(order.placed_at));
    if let Some(closed_at) = order.closed_at {
        condition = condition.add(Expr::col("block_number").lte(closed_at));
    }
    let history = events_where(db, condition).await?;
    Ok(ApiJson(OrderDetail {
        order: order.into(),
        history,
    }))
}

/// Events matching `condition`, oldest first (at most 1000).
pub async fn events_where(db: &Database, condition: Cond) -> Result<Vec<EventView>, ApiError> {
    let select = Query::select()
        .columns(EVENT_COLUMNS)
        .from("events")
        .cond_where(condition)
        .order_by("block_number", Order::Asc)
        .order_by("event_index", Order::Asc)
        .limit(1000)
        .to_owned();
    let mut events = Vec::new();
    for row in db.fetch_all(&select).await? {
        events.push(EventRow::from_row(&row)?.into());
    }
    Ok(events)
}

/// `/api/order/estimate`'s request: a task spec and the machine that would train it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    /// The task spec (docs/proof-of-training.md, "Task spec"), as the order's metadata carries it.
    /// Read as any JSON, so that a spec that does not fit says why in a 422 (`invalid_spec`).
    #[schema(value_type = matrixai_pot::TaskSpec)]
    pub spec: serde_json::Value,
    pub machine_id: String,
}

/// How long the spec trains on the machine and what ordering it costs (docs/estimation.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct EstimateResponse {
    pub machine_id: String,
    /// The spec in canonical JSON: the bytes to send as `place_order`'s `metadata`.
    pub spec_json: String,
    /// Its sha256 (hex), the id the trainer and validator know the spec by.
    pub spec_sha256: String,
    /// Seconds, by part, and in total.
    pub download_s: f64,
    pub train_s: f64,
    pub checkpoint_s: f64,
    pub evaluate_s: f64,
    pub total_s: f64,
    /// Hours to order so that the machine's agent accepts the order: the estimate times 1.5
    /// plus a minute for reporting, rounded up.
    pub hours: u32,
    /// The machine's current price per hour (decimal string in the smallest unit); absent when
    /// it is not listed.
    pub price_per_hour: Option<String>,
    /// `hours × price_per_hour`.
    pub cost: Option<String>,
    /// Whether `hours` is within the offer's maximum duration.
    pub within_max_duration: Option<bool>,
}

#[utoipa::path(post, path = "/api/order/estimate", request_body = EstimateRequest,
    responses((status = 200, body = EstimateResponse), super::BodyErrors,
        (status = 404, body = super::ErrorBody, description = "no such machine"),
        (status = 422, body = super::ErrorBody, description = "the spec is invalid, or the machine has no performance figures")))]
pub async fn estimate(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<EstimateRequest>,
) -> Result<ApiJson<EstimateResponse>, ApiError> {
    let machine_id = parse_id("machine_id", &request.machine_id)?;
    let invalid = |message: String| ApiError {
        status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        code: "invalid_spec",
        message,
    };
    let spec_bytes = serde_json::to_vec(&request.spec).expect("a JSON value serializes");
    let spec = matrixai_pot::TaskSpec::from_json(&spec_bytes)
        .map_err(|error| invalid(format!("spec: {error}")))?;
    let spec_json = spec.canonical_json();
    if spec_json.len() > matrixai_chain::MAX_ORDER_METADATA_BYTES {
        return Err(invalid(format!(
            "spec: {} bytes in canonical JSON, above the {} an order's metadata holds on chain",
            spec_json.len(),
            matrixai_chain::MAX_ORDER_METADATA_BYTES
        )));
    }
    let select = Query::select()
        .columns(crate::store::MACHINE_COLUMNS)
        .from("machines")
        .and_where(Expr::col("machine_id").eq(machine_id.as_str()))
        .and_where(Expr::col("removed_at").is_null())
        .to_owned();
    let machine = state
        .database
        .fetch_optional(&select)
        .await?
        .map(|row| crate::store::MachineRow::from_row(&row))
        .transpose()?
        .ok_or_else(|| ApiError::not_found(format!("no machine {machine_id} is registered")))?;
    let performance =
        matrixai_chain::machine_metadata::MachineMetadata::parse(machine.metadata.as_bytes())
            .map_err(|error| ApiError {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                code: "no_performance",
                message: format!(
                    "machine {machine_id} has no readable performance figures: {error}"
                ),
            })?
            .performance;
    let estimate = matrixai_pot::estimate::estimate(&spec, &performance.machine_speed())
        .map_err(|error| invalid(format!("spec: {error}")))?;
    let hours = estimate.hours_to_order();
    let price = machine.price_per_hour.filter(|_| machine.listed);
    Ok(ApiJson(EstimateResponse {
        machine_id,
        spec_sha256: hex::encode(spec.sha256()),
        spec_json: String::from_utf8(spec_json).expect("serde_json writes UTF-8"),
        download_s: estimate.download_s,
        train_s: estimate.train_s,
        checkpoint_s: estimate.checkpoint_s,
        evaluate_s: estimate.evaluate_s,
        total_s: estimate.total_s,
        hours,
        price_per_hour: price.map(|p| p.to_string()),
        cost: price.map(|p| p.saturating_mul(u128::from(hours)).to_string()),
        within_max_duration: machine
            .max_duration_hours
            .filter(|_| machine.listed)
            .map(|max| i64::from(hours) <= max),
    }))
}
