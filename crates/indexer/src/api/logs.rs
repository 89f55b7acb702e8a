//! Training logs: batches signed by the order's seller (see `matrixai_chain::training_log`),
//! stored once per (order, sequence number), listed and streamed live.

use super::orders::find_order;
use super::{ApiError, ApiJson, ApiPath, ApiQuery, AppState, parse_id, parse_signature};
use crate::db::{DbError, execute};
use crate::follower::now_ms;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use matrixai_chain::training_log::{LogBatch, LogLevel, LogRecord};
use sea_query::{Cond, Expr, ExprTrait, Order, Query};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;
use std::convert::Infallible;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::{IntoParams, ToSchema};

/// Most records kept for one order.
pub const MAX_RECORDS_PER_ORDER: i64 = 100_000;
/// Most records on one page of `/api/log/list`.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// `/api/log/add`'s request: records of one order signed by its seller.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogAddRequest {
    pub order_id: String,
    /// Block of the order's `OrderPlaced` event.
    pub placed_at: u32,
    #[schema(value_type = Vec<LogRecordSchema>)]
    pub records: Vec<LogRecord>,
    /// sr25519 signature of the seller over the canonical encoding (docs/indexer.md), 0x-hex.
    pub signature: String,
}

/// A training log record (the shape of `matrixai_chain::training_log::LogRecord`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogRecordSchema {
    pub seq: u64,
    pub timestamp_ms: u64,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
    pub metrics: Option<MetricsSchema>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MetricsSchema {
    pub epoch: Option<u32>,
    pub step: Option<u64>,
    pub loss: Option<f64>,
    pub accuracy: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogAddResponse {
    /// Records stored now.
    pub accepted: usize,
    /// Records that were already stored, identical (a replay changes nothing).
    pub duplicates: usize,
}

/// `/api/log/list`'s request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogListRequest {
    pub order_id: String,
    /// Which order with this id; default the latest.
    pub placed_at: Option<i64>,
    /// First sequence number to return (default 0).
    #[serde(default)]
    pub from_seq: u64,
    /// At most this many records (default 100, at most 1000).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Only records at this level or above.
    pub level: Option<LogLevelName>,
    /// Only records whose message contains this text.
    pub search: Option<String>,
}

fn default_limit() -> u32 {
    100
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevelName {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl From<LogLevelName> for LogLevel {
    fn from(level: LogLevelName) -> Self {
        match level {
            LogLevelName::Trace => Self::Trace,
            LogLevelName::Debug => Self::Debug,
            LogLevelName::Info => Self::Info,
            LogLevelName::Warn => Self::Warn,
            LogLevelName::Error => Self::Error,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogRecordView {
    pub seq: u64,
    pub timestamp_ms: u64,
    pub level: String,
    pub message: String,
    pub epoch: Option<i64>,
    pub step: Option<i64>,
    pub loss: Option<f64>,
    pub accuracy: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    pub order_id: String,
    pub placed_at: i64,
    pub items: Vec<LogRecordView>,
    /// Where the next page starts: the last returned sequence number plus one.
    pub next_seq: u64,
}

/// Records the API stored, for the live tails.
#[derive(Debug, Clone)]
pub struct LogAdded {
    pub order_id: String,
    pub placed_at: i64,
    pub records: Vec<LogRecordView>,
}

fn view(record: &LogRecord) -> LogRecordView {
    let metrics = record.metrics.unwrap_or_default();
    LogRecordView {
        seq: record.seq,
        timestamp_ms: record.timestamp_ms,
        level: record.level.as_str().to_string(),
        message: record.message.clone(),
        epoch: metrics.epoch.map(i64::from),
        step: metrics.step.map(|s| s as i64),
        loss: metrics.loss,
        accuracy: metrics.accuracy,
    }
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<LogRecordView, DbError> {
    Ok(LogRecordView {
        seq: row.try_get::<i64, _>("seq")? as u64,
        timestamp_ms: row.try_get::<i64, _>("timestamp_ms")? as u64,
        level: row.try_get("level")?,
        message: row.try_get("message")?,
        epoch: row.try_get("epoch")?,
        step: row.try_get("step")?,
        loss: row.try_get("loss")?,
        accuracy: row.try_get("accuracy")?,
    })
}

const LOG_COLUMNS: [&str; 8] = [
    "seq",
    "timestamp_ms",
    "level",
    "message",
    "epoch",
    "step",
    "loss",
    "accuracy",
];

/// Whether a stored record says the same as a submitted one.
fn same(stored: &LogRecordView, submitted: &LogRecordView) -> bool {
    stored.timestamp_ms == submitted.timestamp_ms
        && stored.level == submitted.level
        && stored.message == submitted.message
        && stored.epoch == submitted.epoch
        && stored.step == submitted.step
        && stored.loss.map(f64::to_bits) == submitted.loss.map(f64::to_bits)
        && stored.accuracy.map(f64::to_bits) == submitted.accuracy.map(f64::to_bits)
}

#[utoipa::path(post, path = "/api/log/add", request_body = LogAddRequest,
    responses((status = 200, body = LogAddResponse), super::BodyErrors,
        (status = 403, body = super::ErrorBody, description = "the signature is not the order seller's"),
        (status = 404, body = super::ErrorBody, description = "no such order is indexed (yet)"),
        (status = 409, body = super::ErrorBody, description = "a sequence number is used by a different record"),
        (status = 429, body = super::ErrorBody, description = "the order's log is full")))]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LogAddRequest>,
) -> Result<ApiJson<LogAddResponse>, ApiError> {
    let order_id = parse_id("order_id", &request.order_id)?;
    let signature = parse_signature(&request.signature)?;
    let batch = LogBatch {
        order_id: crate::ids::parse_uuid(&order_id).expect("parsed above"),
        placed_at: request.placed_at,
        records: request.records,
    };
    batch
        .check()
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let db = &state.database;
    let placed_at = i64::from(request.placed_at);
    let order = find_order(db, &order_id, Some(placed_at))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no order {order_id} placed at block #{placed_at} is indexed (yet)"
            ))
        })?;
    let seller = crate::ids::parse_account(&order.seller)
        .ok_or_else(|| ApiError::from(DbError::Corrupt(format!("seller {}", order.seller))))?;
    batch
        .verify(&signature, &seller)
        .map_err(|error| ApiError::forbidden(error.to_string()))?;

    let mut tx = db.begin().await?;
    let backend = db.backend();
    let seqs: Vec<i64> = batch.records.iter().map(|r| r.seq as i64).collect();
    let existing_select = Query::select()
        .columns(LOG_COLUMNS)
        .from("logs")
        .cond_where(
            Cond::all()
                .add(Expr::col("order_id").eq(order_id.as_str()))
                .add(Expr::col("placed_at").eq(placed_at))
                .add(Expr::col("seq").is_in(seqs)),
        )
        .to_owned();
    let (sql, values) = db.render(&existing_select);
    let mut existing = HashMap::new();
    for row in sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
        .fetch_all(&mut *tx)
        .await
        .map_err(DbError::from)?
    {
        let record = from_row(&row)?;
        existing.insert(record.seq, record);
    }
    let mut fresh = Vec::new();
    for record in &batch.records {
        let submitted = view(record);
        match existing.get(&record.seq) {
            Some(stored) if same(stored, &submitted) => {}
            Some(_) => {
                return Err(ApiError::conflict(format!(
                    "record {} of order {order_id} is already stored with different content; sequence numbers are used once",
                    record.seq
                )));
            }
            None => fresh.push(submitted),
        }
    }
    let count = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "stored")
        .from("logs")
        .and_where(Expr::col("order_id").eq(order_id.as_str()))
        .and_where(Expr::col("placed_at").eq(placed_at))
        .to_owned();
    let (sql, values) = db.render(&count);
    let stored: i64 = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get("stored"))
        .map_err(DbError::from)?;
    if stored + fresh.len() as i64 > MAX_RECORDS_PER_ORDER {
        return Err(ApiError {
            status: axum::http::StatusCode::TOO_MANY_REQUESTS,
            code: "log_full",
            message: format!(
                "order {order_id} already has {stored} log records; at most {MAX_RECORDS_PER_ORDER} are kept"
            ),
        });
    }
    if !fresh.is_empty() {
        let received = now_ms();
        let mut insert = Query::insert()
            .into_table("logs")
            .columns([
                "order_id",
                "placed_at",
                "seq",
                "timestamp_ms",
                "level",
                "message",
                "epoch",
                "step",
                "loss",
                "accuracy",
                "received_ms",
            ])
            .to_owned();
        for record in &fresh {
            insert.values_panic([
                Expr::val(order_id.clone()),
                Expr::val(placed_at),
                Expr::val(record.seq as i64),
                Expr::val(record.timestamp_ms as i64),
                Expr::val(record.level.clone()),
                Expr::val(record.message.clone()),
                Expr::val(record.epoch),
                Expr::val(record.step),
                Expr::val(record.loss),
                Expr::val(record.accuracy),
                Expr::val(received),
            ]);
        }
        execute(&mut tx, backend, &insert).await?;
    }
    tx.commit().await.map_err(DbError::from)?;
    let accepted = fresh.len();
    if accepted > 0 {
        metrics::counter!("indexer_log_records_total").increment(accepted as u64);
        let _ = state.logs.send(LogAdded {
            order_id,
            placed_at,
            records: fresh,
        });
    }
    Ok(ApiJson(LogAddResponse {
        accepted,
        duplicates: batch.records.len() - accepted,
    }))
}

#[utoipa::path(post, path = "/api/log/list", request_body = LogListRequest,
    responses((status = 200, body = LogPage), super::BodyErrors, (status = 404, body = super::ErrorBody, description = "no such order")))]
pub async fn list(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LogListRequest>,
) -> Result<ApiJson<LogPage>, ApiError> {
    let order_id = parse_id("order_id", &request.order_id)?;
    if request.limit == 0 || request.limit > MAX_LIST_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIST_LIMIT}"
        )));
    }
    let from_seq = i64::try_from(request.from_seq)
        .map_err(|_| ApiError::bad_request("from_seq is too large"))?;
    let order = find_order(&state.database, &order_id, request.placed_at)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order {order_id} was placed")))?;
    let mut condition = Cond::all()
        .add(Expr::col("order_id").eq(order_id.as_str()))
        .add(Expr::col("placed_at").eq(order.placed_at))
        .add(Expr::col("seq").gte(from_seq));
    if let Some(level) = request.level {
        let minimum = LogLevel::from(level);
        let names: Vec<&str> = [
            LogLevel::Trace,
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ]
        .into_iter()
        .filter(|l| *l >= minimum)
        .map(LogLevel::as_str)
        .collect();
        condition = condition.add(Expr::col("level").is_in(names));
    }
    if let Some(search) = &request.search {
        if search.len() > 256 {
            return Err(ApiError::bad_request("search is at most 256 bytes"));
        }
        let escaped = search
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        condition = condition.add(
            Expr::col("message")
                .like(sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    let select = Query::select()
        .columns(LOG_COLUMNS)
        .from("logs")
        .cond_where(condition)
        .order_by("seq", Order::Asc)
        .limit(u64::from(request.limit))
        .to_owned();
    let mut items = Vec::new();
    for row in state.database.fetch_all(&select).await? {
        items.push(from_row(&row)?);
    }
    let next_seq = items.last().map_or(request.from_seq, |last| last.seq + 1);
    Ok(ApiJson(LogPage {
        order_id,
        placed_at: order.placed_at,
        items,
        next_seq,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// Which order with this id; default the latest.
    pub placed_at: Option<i64>,
    /// Replay stored records from this sequence number before the live ones (default 0).
    pub from_seq: Option<u64>,
}

/// The live tail of an order's log as Server-Sent Events: stored records from `from_seq`, then
/// each new one as it is added. Each event is `log` with a `LogRecordView` as data.
#[utoipa::path(get, path = "/api/log/stream/{id}", params(("id" = String, Path, description = "order id (UUID)"), StreamParams),
    responses((status = 200, description = "text/event-stream of `log` events", content_type = "text/event-stream"), super::LookupErrors))]
pub async fn stream(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let order_id = parse_id("order id", &id)?;
    let order = find_order(&state.database, &order_id, params.placed_at)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order {order_id} was placed")))?;
    // Subscribe before reading the stored records, so nothing added in between is missed.
    let live = BroadcastStream::new(state.logs.subscribe());
    let from_seq = i64::try_from(params.from_seq.unwrap_or(0))
        .map_err(|_| ApiError::bad_request("from_seq is too large"))?;
    let select = Query::select()
        .columns(LOG_COLUMNS)
        .from("logs")
        .and_where(Expr::col("order_id").eq(order_id.as_str()))
        .and_where(Expr::col("placed_at").eq(order.placed_at))
        .and_where(Expr::col("seq").gte(from_seq))
        .order_by("seq", Order::Asc)
        .limit(u64::from(MAX_LIST_LIMIT))
        .to_owned();
    let mut stored = Vec::new();
    for row in state.database.fetch_all(&select).await? {
        stored.push(from_row(&row)?);
    }
    let mut sent: std::collections::HashSet<u64> = stored.iter().map(|r| r.seq).collect();
    let placed_at = order.placed_at;
    let backlog = futures::stream::iter(stored);
    let live = live
        .filter_map(move |added| {
            let order_id = order_id.clone();
            async move {
                match added {
                    Ok(added) if added.order_id == order_id && added.placed_at == placed_at => {
                        Some(futures::stream::iter(added.records))
                    }
                    _ => None,
                }
            }
        })
        .flatten()
        .filter(move |record| {
            let first_time = record.seq as i64 >= from_seq && sent.insert(record.seq);
            async move { first_time }
        });
    let events = backlog.chain(live).map(|record| {
        Ok(Event::default()
            .event("log")
            .id(record.seq.to_string())
            .json_data(&record)
            .unwrap_or_else(|_| Event::default().event("log")))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
