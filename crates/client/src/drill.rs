//! `POST /drill` on the agent's status address: a validator's drill, answered with the drill's
//! transcript root signed by the machine's owner (docs/validator-guide.md, "Verified
//! performance").
//!
//! Errors are `{"error": "...", "code": "..."}` like the status routes': 400 `invalid_drill`,
//! 403 `not_a_validator`, 503 `busy` (an order is training, or the agent is still starting:
//! try later), 500 `drill_failed`.

use crate::agent::{Agent, DrillRefusal};
use crate::status::failure;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use matrixai_chain::drill::{MAX_DOCUMENT_BYTES, Signed};
use std::sync::Arc;

/// The agent, once it has started (the address serves before the machine is shared).
pub type StartedAgent = Arc<tokio::sync::OnceCell<Arc<Agent>>>;

pub fn router(agent: StartedAgent) -> axum::Router {
    axum::Router::new()
        .route("/drill", post(drill))
        .layer(DefaultBodyLimit::max(2 * MAX_DOCUMENT_BYTES))
        .with_state(agent)
}

async fn drill(State(agent): State<StartedAgent>, body: Bytes) -> Response {
    let Some(agent) = agent.get() else {
        return failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the agent is starting; drill it later".into(),
        );
    };
    let signed: Signed = match serde_json::from_slice(&body) {
        Ok(signed) => signed,
        Err(error) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "invalid_drill",
                format!("the body is not a signed drill challenge: {error}"),
            );
        }
    };
    match agent.answer_drill(&signed).await {
        Ok(answer) => Json(answer).into_response(),
        Err(refusal) => {
            let (status, code) = match &refusal {
                DrillRefusal::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_drill"),
                DrillRefusal::NotAValidator(_) => (StatusCode::FORBIDDEN, "not_a_validator"),
                DrillRefusal::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
                DrillRefusal::Failed(_) => (StatusCode::INTERNAL_SERVER_ERROR, "drill_failed"),
            };
            failure(status, code, refusal.to_string())
        }
    }
}
