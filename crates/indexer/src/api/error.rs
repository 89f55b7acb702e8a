//! The API's one error type: a status and the JSON body `{ "error": "...", "code": "..." }`.

use crate::db::DbError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What was wrong and what to do.
    pub error: String,
    /// A stable machine-readable code, e.g. `invalid_request`, `not_found`.
    pub code: String,
}

/// The error responses of an endpoint that reads a JSON body.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// A value is out of range or names nothing valid.
    #[response(status = 400)]
    Invalid(#[to_schema] ErrorBody),
    /// The body is larger than 2 MiB.
    #[response(status = 413)]
    TooLarge(#[to_schema] ErrorBody),
    /// The body is not `application/json`.
    #[response(status = 415)]
    NotJson(#[to_schema] ErrorBody),
    /// The JSON does not have the request's shape (missing, unknown or mistyped fields).
    #[response(status = 422)]
    WrongShape(#[to_schema] ErrorBody),
    /// The database cannot be read.
    #[response(status = 503)]
    Unavailable(#[to_schema] ErrorBody),
}

/// The error responses of an endpoint addressed by an id in its path.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum LookupErrors {
    /// The id or a query parameter is malformed.
    #[response(status = 400)]
    Invalid(#[to_schema] ErrorBody),
    /// Nothing has this id.
    #[response(status = 404)]
    NotFound(#[to_schema] ErrorBody),
    /// The database cannot be read.
    #[response(status = 503)]
    Unavailable(#[to_schema] ErrorBody),
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "bad_signature",
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            error: self.message,
            code: self.code.to_string(),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "database_unavailable",
            message: format!("the index cannot be read right now: {error}"),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "invalid_request",
        };
        Self {
            status,
            code,
            message: rejection.body_text(),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}
