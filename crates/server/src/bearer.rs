//! OAuth 2.0 bearer tokens on the cloud service API (DESIGN.md §1.2, §2; RFC 6750): the token is
//! validated against the snapshot (through the verified-token cache), its `<cloud>::<org>::<role>`
//! scopes are mapped to API roles, and the union of their permissions authorizes the request.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use portcullis_policy::Rejection;
use portcullis_policy::cache::CacheOutcome;

use crate::auth::{CredentialKind, Principal, client_ip};
use crate::error::ApiError;
use crate::runtime;
use crate::state::AppState;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// 400 `invalid_request` (RFC 6750 §3.1).
fn invalid_request(description: &str) -> ApiError {
    let mut err = ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", description);
    err.www_authenticate = Some(format!(
        "Bearer realm=\"portcullis\", error=\"invalid_request\", error_description=\"{description}\""
    ));
    err
}

/// Extracts the token from `Authorization: Bearer <token>`; anything else there is malformed,
/// and a token also sent as `access_token` in the query is a token in two places.
pub fn extract_token(parts: &Parts) -> Result<String, ApiError> {
    token_from_headers(&parts.headers, parts.uri.query())
}

/// [`extract_token`] over headers and a query string.
pub fn token_from_headers(
    headers: &axum::http::HeaderMap,
    query: Option<&str>,
) -> Result<String, ApiError> {
    let values: Vec<_> = headers.get_all(header::AUTHORIZATION).iter().collect();
    if values.len() != 1 {
        return Err(invalid_request("send exactly one Authorization header"));
    }
    let value = values[0]
        .to_str()
        .map_err(|_| invalid_request("the Authorization header is not ASCII"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| invalid_request("use Authorization: Bearer <token>"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(invalid_request("use Authorization: Bearer <token>"));
    }
    let token = token.trim();
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() || !token.chars().all(token68) {
        return Err(invalid_request("the bearer token is malformed"));
    }
    if query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("access_token="))) {
        return Err(invalid_request("send the token in one place only"));
    }
    Ok(token.to_owned())
}

/// Authenticates a bearer-token caller.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let token = extract_token(parts)?;
    let verified = match validate(state, &token).await {
        Ok(verified) => verified,
        Err(rejected) => {
            state.metrics.reject(rejected.rejection.code());
            tracing::info!(reason = rejected.rejection.code(), detail = %rejected, "bearer token rejected");
            let description = rejected.rejection.client_description();
            let mut err = ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", description);
            err.www_authenticate = Some(format!(
                "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"{description}\""
            ));
            return Err(err);
        }
    };
    let cloud = &state.settings.cloud_name;
    let Some(grant) = state
        .snapshot
        .load()
        .grant(&verified.scopes, cloud, state.org)
    else {
        state.metrics.reject("no_api_role");
        let example = format!("{cloud}::{}::<role>", state.org);
        let mut err = ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!(
                "the token's scopes name no API role of this organization (expected {example})"
            ),
        );
        err.www_authenticate = Some(format!(
            "Bearer realm=\"portcullis\", error=\"insufficient_scope\", scope=\"{example}\""
        ));
        return Err(err);
    };
    state
        .metrics
        .tokens_accepted
        .fetch_add(1, Ordering::Relaxed);
    Ok(Principal {
        kind: CredentialKind::Bearer,
        name: format!("oauth-{}$@{}.{cloud}", grant.roles.join(","), state.org),
        permissions: grant.permissions,
        client_ip: client_ip(parts),
        admin_id: None,
        session_hash: None,
        interface: portcullis_store::Interface::Api,
    })
}

/// Validates through the cache (counting hits); on an unknown `kid`, asks the key manager for one rate-limited
/// refetch (waiting up to 2 s) and validates once more against the rebuilt snapshot.
pub async fn validate(
    state: &AppState,
    token: &str,
) -> Result<std::sync::Arc<portcullis_policy::VerifiedToken>, portcullis_policy::Rejected> {
    let snapshot = state.snapshot.load_full();
    match cached_validate(state, token, &snapshot.validator) {
        Ok((verified, outcome)) => {
            if outcome == CacheOutcome::Hit {
                state
                    .metrics
                    .token_cache_hits
                    .fetch_add(1, Ordering::Relaxed);
            }
            Ok(verified)
        }
        Err(rejected) => {
            let Rejection::UnknownKid { .. } = rejected.rejection else {
                return Err(rejected);
            };
            let Some((id, definition)) = rejected
                .server
                .as_deref()
                .and_then(|name| snapshot.servers.iter().find(|(_, d)| d.name == name))
                .cloned()
            else {
                return Err(rejected);
            };
            if !state.keys.refetch_for_unknown_kid(&id, &definition).await {
                return Err(rejected);
            }
            runtime::rebuild_or_log(state).await;
            let snapshot = state.snapshot.load_full();
            cached_validate(state, token, &snapshot.validator).map(|(verified, _)| verified)
        }
    }
}

/// Through the verified-token cache, unless the deployment turned it off (then every request
/// pays a full verification: the benchmark's cache-miss case, or an operator's choice).
fn cached_validate(
    state: &AppState,
    token: &str,
    validator: &portcullis_policy::Validator,
) -> Result<
    (
        std::sync::Arc<portcullis_policy::VerifiedToken>,
        CacheOutcome,
    ),
    portcullis_policy::Rejected,
> {
    if state.settings.token_cache {
        state.token_cache.validate(token, now(), validator)
    } else {
        validator
            .validate(token, now())
            .map(|verified| (std::sync::Arc::new(verified), CacheOutcome::Miss))
    }
}
