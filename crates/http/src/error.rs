//! The one error type of the HTTP API: `{"code", "message", "fields"}` with a 4xx/5xx status
//! (DESIGN.md §6). Every handler returns it; store and validation errors convert once, here.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_policy::FieldError;
use portcullis_policy::config::fields_map;
use portcullis_store::{Conflict, StoreError};
use serde::Serialize;

/// An API error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Field-level messages (camelCase field → message).
    pub fields: BTreeMap<String, String>,
    /// A `WWW-Authenticate` challenge to send (RFC 6750 answers).
    pub www_authenticate: Option<String>,
    /// Seconds until a refused request may be retried (429 answers): sent as `Retry-After` and
    /// as `retryAfter` in the body.
    pub retry_after: Option<u64>,
}

/// The error body every API failure carries (schema `Error` in the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    /// Stable machine-readable code (`validation_failed`, `not_found`, `conflict`, ...).
    #[schema(value_type = String, example = "validation_failed")]
    pub code: &'a str,
    /// Human-readable message.
    #[schema(value_type = String)]
    pub message: &'a str,
    /// Field path (camelCase, `match.methods`, `policy.claims[0].path`) → what is wrong with it;
    /// omitted when no field is at fault.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, String>, required = false)]
    pub fields: &'a BTreeMap<String, String>,
    /// 429 answers only: seconds until the request may be retried (also the `Retry-After`
    /// header).
    #[serde(rename = "retryAfter", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>, required = false, example = 42)]
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error without field details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            www_authenticate: None,
            retry_after: None,
        }
    }
    /// 400 `invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    /// 422 `validation_failed` with field messages.
    pub fn invalid_fields(errors: &[FieldError]) -> Self {
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "some fields are invalid",
        );
        err.fields = fields_map(errors);
        err
    }
    /// 422 for one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid_fields(&[FieldError::new(field, message.into())])
    }
    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }
    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 500, with the cause logged and not shown.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: &self.message,
            fields: &self.fields,
            retry_after: self.retry_after,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if let Some(challenge) = self
            .www_authenticate
            .as_deref()
            .and_then(|c| axum::http::HeaderValue::from_str(c).ok())
        {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::Conflict(Conflict::Duplicate { field, value }) => {
                let mut e = ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("{field} `{value}` is already in use"),
                );
                e.fields
                    .insert(field.to_owned(), "already in use".to_owned());
                e
            }
            StoreError::Conflict(conflict @ Conflict::StaleVersion { .. }) => ApiError::new(
                StatusCode::CONFLICT,
                "version_conflict",
                conflict.to_string(),
            ),
            StoreError::Conflict(Conflict::Pending(message)) => {
                ApiError::new(StatusCode::CONFLICT, "pending_conflict", message)
            }
            StoreError::Conflict(conflict) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", conflict.to_string())
            }
            StoreError::UnknownReference { field, message } => {
                ApiError::invalid_field(field, message)
            }
            StoreError::LimitExceeded(message) => {
                ApiError::new(StatusCode::CONFLICT, "limit_exceeded", message)
            }
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the configuration database is unavailable; changes cannot be saved right now (tokens are still being validated)",
                )
            }
            other => ApiError::internal(&other),
        }
    }
}
