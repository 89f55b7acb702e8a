//! The marketplace HTTP API (axum): small handlers over [`AppState`], one error type
//! ([`ApiError`]), the OpenAPI document at `/api-docs/openapi.json` and Swagger UI at `/docs`.

mod drills;
mod error;
mod logs;
mod machines;
mod orders;
mod reports;
mod status;

pub use error::{ApiError, BodyErrors, ErrorBody, LookupErrors};

use crate::db::Database;
use crate::follower::{Committed, Progress};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::broadcast;
use tower_http::cors::CorsLayer;
use tower_http::services::{ServeDir, ServeFile};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// Largest request body; a log batch at its bounds fits.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Most items on one page.
pub const MAX_PAGE_SIZE: u32 = 100;

/// What every handler reads.
#[derive(Clone)]
pub struct AppState {
    pub database: Database,
    pub progress: Arc<Progress>,
    /// Batches the follower committed (the live log tail also listens for new records).
    pub committed: broadcast::Sender<Committed>,
    pub logs: broadcast::Sender<logs::LogAdded>,
    /// `/health` fails when the follower is this many blocks behind and has not moved for
    /// [`Self::stuck_after`].
    pub max_lag: u64,
    pub stuck_after: std::time::Duration,
    /// Served at `/api/chain-spec` when the indexer was given one.
    pub chain_spec: Option<axum::body::Bytes>,
    metrics: PrometheusHandle,
}

impl AppState {
    pub fn new(
        database: Database,
        progress: Arc<Progress>,
        committed: broadcast::Sender<Committed>,
    ) -> Self {
        Self {
            database,
            progress,
            committed,
            logs: broadcast::channel(1024).0,
            max_lag: 10,
            stuck_after: std::time::Duration::from_secs(60),
            chain_spec: None,
            metrics: prometheus(),
        }
    }
}

/// The process's Prometheus recorder, installed on first use.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; /metrics shows only its own"
                );
            }
            handle
        })
        .clone()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MatrixAI-Indexing API",
        description = "The MatrixAI marketplace as indexed from finalized blocks: machines, orders with their chain history, training logs, validators' verification and drill reports, statistics."
    ),
    paths(
        machines::filter,
        machines::market,
        machines::mine,
        machines::detail,
        orders::mine,
        orders::detail,
        orders::estimate,
        logs::add,
        logs::list,
        logs::stream,
        reports::add,
        reports::list,
        drills::add,
        drills::list,
        status::stats,
        status::health,
        status::chain_spec,
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// The API's routes with their state, and the web UI's files from `ui_dir` when one is given.
pub fn router(state: AppState, ui_dir: Option<&Path>) -> Router {
    let router = Router::new()
        .route("/api/machine/filter", post(machines::filter))
        .route("/api/machine/market", post(machines::market))
        .route("/api/machine/mine", post(machines::mine))
        .route("/api/machine/{id}", get(machines::detail))
        .route("/api/order/mine", post(orders::mine))
        .route("/api/order/estimate", post(orders::estimate))
        .route("/api/order/{id}", get(orders::detail))
        .route("/api/log/add", post(logs::add))
        .route("/api/log/list", post(logs::list))
        .route("/api/log/stream/{id}", get(logs::stream))
        .route("/api/report", post(reports::add))
        .route("/api/order/{id}/reports", get(reports::list))
        .route("/api/drill", post(drills::add))
        .route("/api/machine/{id}/drills", get(drills::list))
        .route("/api/stats", get(status::stats))
        .route("/api/chain-spec", get(status::chain_spec))
        .route("/health", get(status::health))
        .route("/metrics", get(status::metrics))
        .route("/api/{*unknown}", any(not_found))
        .merge(SwaggerUi::new("/docs").url("/api-docs/openapi.json", ApiDoc::openapi()));
    let router = match ui_dir {
        // A path the UI routes (`/orders/ID`) is no file: it gets index.html, which routes it.
        Some(dir) => router
            .fallback_service(ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")))),
        None => router.fallback(not_found),
    };
    router
        .layer(axum::middleware::from_fn(count_requests))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CorsLayer::permissive())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; the OpenAPI document is at /api-docs/openapi.json")
}

async fn count_requests(request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |path| path.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("indexer_http_requests_total", "path" => path.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("indexer_http_request_seconds", "path" => path)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A JSON object body whose rejections are [`ApiError`]s. Only an object is a request (serde
/// would also read a struct from an array of its fields).
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<serde_json::Value>::from_request(request, state).await?;
        if !value.is_object() {
            return Err(ApiError {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_request",
                message: "the body must be a JSON object".into(),
            });
        }
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|error| ApiError {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_request",
                message: format!("the body does not have the request's shape: {error}"),
            })
    }
}

/// Path parameters whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// Which page of a list: pages count from 1. Requests carry `page` and `page_size` fields
/// (defaults 1 and 20).
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: u32,
    pub page_size: u32,
}

pub fn first_page() -> u32 {
    1
}

pub fn default_page_size() -> u32 {
    20
}

impl Paging {
    /// Checks the bounds; returns (limit, offset).
    pub fn limits(self) -> Result<(u64, u64), ApiError> {
        if self.page == 0 || self.page > i32::MAX as u32 {
            return Err(ApiError::bad_request("page counts from 1 to 2^31 - 1"));
        }
        if self.page_size == 0 || self.page_size > MAX_PAGE_SIZE {
            return Err(ApiError::bad_request(format!(
                "page_size must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        let limit = u64::from(self.page_size);
        Ok((limit, u64::from(self.page - 1) * limit))
    }
}

/// Parses a machine or order id from a request.
pub fn parse_id(what: &str, text: &str) -> Result<String, ApiError> {
    crate::ids::parse_uuid(text)
        .map(|id| crate::ids::uuid(&id))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{what} {text:?} is not an id: expected a UUID such as 0f8e2c1a-6d3b-4e5f-9a7b-1c2d3e4f5a6b"
            ))
        })
}

/// Parses an sr25519 signature from a request: 0x and 128 hex digits.
pub fn parse_signature(text: &str) -> Result<[u8; 64], ApiError> {
    text.strip_prefix("0x")
        .and_then(|digits| hex::decode(digits).ok())
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| ApiError::bad_request("signature must be 0x and 128 hex digits (64 bytes)"))
}

/// Parses an account (SS58 or 0x-hex) from a request into the indexed spelling.
pub fn parse_account(what: &str, text: &str) -> Result<String, ApiError> {
    crate::ids::parse_account(text)
        .map(|account| crate::ids::account(&account))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{what} {text:?} is not an account: expected an SS58 address or 0x and 64 hex digits"
            ))
        })
}

/// Parses an amount in the chain's smallest unit, given as a decimal string.
pub fn parse_balance(what: &str, text: &str) -> Result<u128, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "{what} {text:?} is not an amount: expected a decimal string of the smallest unit (1 MAI = 10^12)"
        ))
    })
}
