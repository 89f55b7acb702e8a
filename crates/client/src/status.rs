//! Status inquiry over HTTP: `matrixai-client run` serves where each order stands as JSON on a
//! local address (default 127.0.0.1:8090), the same states `matrixai-client status` prints.
//!
//! - `GET /status`: `{"orders": [state, ...]}`, most recently updated first;
//! - `GET /status/{order}`: one order's state, 404 when this machine never took it.
//!
//! Errors are `{"error": "...", "code": "..."}` like the indexer's.

use crate::order::OrderState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::path::PathBuf;

/// The routes over the work directory whose orders they show.
pub fn router(work_dir: PathBuf) -> axum::Router {
    axum::Router::new()
        .route("/status", get(all))
        .route("/status/{order}", get(one))
        .with_state(work_dir)
}

async fn all(State(work_dir): State<PathBuf>) -> Response {
    match OrderState::all(&work_dir) {
        Ok(orders) => Json(serde_json::json!({ "orders": orders })).into_response(),
        Err(error) => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "state_unreadable",
            error.to_string(),
        ),
    }
}

async fn one(State(work_dir): State<PathBuf>, Path(order): Path<String>) -> Response {
    let Some(id) = matrixai_chain::ids::parse_uuid(&order) else {
        return failure(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            format!("{order:?} is not an order id (a UUID)"),
        );
    };
    match OrderState::load(&work_dir, &id) {
        Ok(Some(state)) => Json(state).into_response(),
        Ok(None) => failure(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("this machine never took order {order}"),
        ),
        Err(error) => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "state_unreadable",
            error.to_string(),
        ),
    }
}

pub(crate) fn failure(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": message, "code": code })),
    )
        .into_response()
}
