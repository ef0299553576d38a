//! The sandbox API (DESIGN.md §1.4, §6): `POST /sandbox/v1/evaluate` `{token, method?, host?,
//! path?}`, authorized by a sandbox token (`Authorization: Bearer pcs_...` or `?api_token=`),
//! answers the evaluation trace the live pipeline would produce (`policy::sandbox::evaluate`).
//!
//! No side effects: the evaluation is pure (no key fetch, no verified-token cache, no metrics, no
//! audit); the only store access is the token lookup. It is rate limited per client address
//! (default 5/s, burst 20, `Settings::sandbox_rate_per_s`/`sandbox_burst`), before the token is
//! even looked up: each call costs a signature verification and a store read, the callers need
//! not be admins, and a debugging developer never comes near that pace — without a budget the
//! endpoint would be a free verification oracle and a store load generator.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use portcullis_policy::credentials::is_sandbox_token_shape;
use portcullis_policy::sandbox::evaluate as evaluate_token;

use portcullis_http::evaluate::{EvaluateRequest, route_request};
use portcullis_http::{ApiError, Challenge, json};
use portcullis_runtime::sha256_hex;

use crate::GatewayState;

const REALM: &str = "portcullis-sandbox";

/// The sandbox token from the `Authorization` header or the `api_token` query parameter (RFC
/// 6750 §2.1, §2.3): exactly one place, a Bearer scheme, a token68 value.
fn sandbox_token(headers: &HeaderMap, uri: &Uri) -> Result<String, ApiError> {
    let invalid = |m: &str| ApiError::from(Challenge::invalid_request(REALM, m));
    let from_query: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("api_token="))
        .map(str::to_owned)
        .collect();
    let from_header: Vec<_> = headers.get_all(header::AUTHORIZATION).iter().collect();
    let token = match (from_header.as_slice(), from_query.as_slice()) {
        ([], []) => {
            return Err(Challenge::new(
                REALM,
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send a sandbox token: Authorization: Bearer <token> or ?api_token=<token>",
            )
            .into());
        }
        ([value], []) => {
            let value = value
                .to_str()
                .map_err(|_| invalid("the Authorization header is not ASCII"))?;
            let (scheme, token) = value
                .split_once(' ')
                .ok_or_else(|| invalid("use Authorization: Bearer <token>"))?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(invalid("use Authorization: Bearer <token>"));
            }
            token.trim().to_owned()
        }
        ([], [token]) => token.clone(),
        _ => return Err(invalid("send the sandbox token in one place only")),
    };
    if token.is_empty() {
        return Err(invalid("the sandbox token is empty"));
    }
    Ok(token)
}

fn invalid_token() -> ApiError {
    Challenge::invalid_token(REALM, "unknown or revoked sandbox token").into()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `POST /sandbox/v1/evaluate`.
pub async fn evaluate(
    State(state): State<GatewayState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match run(&state, peer, &uri, &headers, &body).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn run(
    state: &GatewayState,
    peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let client = crate::trust::client_ip(headers, peer, &state.settings.trusted_proxies);
    if let Err(wait) = state.limiter.check(client) {
        let seconds = wait.as_secs() + 1;
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many sandbox requests from this address; retry in {seconds} s"),
        )
        .into_response();
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    let token = sandbox_token(headers, uri)?;
    if !is_sandbox_token_shape(&token) {
        return Err(invalid_token());
    }
    state
        .runtime
        .store
        .find_sandbox_token(state.runtime.org, &sha256_hex(token.as_bytes()))
        .await?
        .ok_or_else(invalid_token)?;
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    let request: EvaluateRequest = json::parse(body)?;
    let route = route_request(&request)?;
    let snapshot = state.runtime.snapshot.load_full();
    let report = evaluate_token(
        &snapshot,
        request.token.trim(),
        now(),
        &state.settings.cloud_name,
        state.runtime.org,
        route,
    );
    Ok(axum::Json(report).into_response())
}
