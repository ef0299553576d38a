//! Test a Token on the admin's own session: `POST /portal/token-tester/evaluate` (session
//! cookie + CSRF header, like every session call) answers what the sandbox API answers for the
//! same body, from the same `policy::sandbox::evaluate` over the live snapshot. It needs the
//! permission to view API credentials (the category sandbox tokens belong to); sandbox tokens
//! stay for callers of the sandbox API that are not signed in.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use portcullis_http::evaluate::{EvaluateRequest, route_request};
use portcullis_policy::permissions::Category;
use portcullis_policy::sandbox::evaluate as evaluate_token;

use crate::error::ApiError;
use crate::json;
use crate::principal::Principal;
use crate::state::ControlState;

/// The evaluation, or the API's error answer.
pub async fn evaluate(
    State(state): State<ControlState>,
    principal: Principal,
    body: Bytes,
) -> Response {
    match run(&state, &principal, &body) {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

fn run(state: &ControlState, principal: &Principal, body: &[u8]) -> Result<Response, ApiError> {
    if !principal.permissions.allows(Category::ApiCredentials, true) {
        return Err(ApiError::forbidden(
            "testing a token needs Full on API credentials (as minting a sandbox token does)"
                .to_owned(),
        ));
    }
    let request: EvaluateRequest = json::parse(body)?;
    let route = route_request(&request)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let snapshot = state.runtime.snapshot.load_full();
    let report = evaluate_token(
        &snapshot,
        request.token.trim(),
        now,
        &state.settings.cloud_name,
        state.org,
        route,
    );
    Ok(Json(report).into_response())
}
