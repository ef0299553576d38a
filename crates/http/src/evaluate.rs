//! The body of a token evaluation (`{token, method?, host?, path?}`) and its checks, shared by
//! the sandbox API (`POST /sandbox/v1/evaluate`, gateway) and the portal's Test a Token (on the
//! admin's session, control plane): both ask `policy::sandbox::evaluate` the same question.

use portcullis_policy::FieldError;
use portcullis_policy::sandbox::RouteRequest;
use portcullis_policy::target::{self, INVALID_REQUEST_TARGET};
use serde::Deserialize;

use crate::ApiError;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The JWT to evaluate.
    pub token: String,
    /// HTTP method of the upstream request (default `GET` when a path is given).
    #[serde(default)]
    pub method: Option<String>,
    /// Host of the upstream request, for routes that match on it.
    #[serde(default)]
    pub host: Option<String>,
    /// Path of the upstream request; without it, the token is evaluated for the cloud service API
    /// (API roles).
    #[serde(default)]
    pub path: Option<String>,
}

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// Checks the body's fields and turns method/host/path into the route request, if any.
pub fn route_request(body: &EvaluateRequest) -> Result<Option<RouteRequest>, ApiError> {
    let mut errors = Vec::new();
    if body.token.trim().is_empty() {
        errors.push(FieldError::new(
            "token",
            "required: the JWT to evaluate".into(),
        ));
    }
    let method = body.method.as_deref().map(str::to_ascii_uppercase);
    if method.as_deref().is_some_and(|m| !METHODS.contains(&m)) {
        errors.push(FieldError::new(
            "method",
            "an HTTP method (GET, POST, ...)".into(),
        ));
    }
    // The same canonical target and host the live pipeline decides on: a path the gateway would
    // refuse with 400 is a field error here, with the same reason.
    let target = match &body.path {
        Some(path) => {
            match target::canonicalize_target(path.as_bytes()) {
                Ok(target) if target.authority().is_none() => Some(target),
                Ok(_) => {
                    errors.push(FieldError::new(
                        "path",
                        "a path (and query), not an absolute URL: give the host in `host`".into(),
                    ));
                    None
                }
                Err(err) => {
                    errors.push(FieldError::new(
                    "path",
                    format!("{INVALID_REQUEST_TARGET}: {err} (the gateway refuses this target with 400)"),
                ));
                    None
                }
            }
        }
        None => {
            if body.method.is_some() || body.host.is_some() {
                errors.push(FieldError::new(
                    "path",
                    "required when method or host is given (without a path, the token is evaluated for the cloud service API)".into(),
                ));
            }
            None
        }
    };
    let host = match body.host.as_deref().map(target::canonical_host) {
        Some(Ok(host)) => Some(host),
        Some(Err(err)) => {
            errors.push(FieldError::new(
                "host",
                format!("a host name (optionally with a port), without scheme or path: {err}"),
            ));
            None
        }
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    Ok(target.map(|target| RouteRequest {
        method: method.unwrap_or_else(|| "GET".to_owned()),
        host,
        target,
    }))
}
