//! Forward auth (DESIGN.md §6): `/authz` answers nginx `auth_request`, Traefik `ForwardAuth`,
//! Caddy `forward_auth` and Envoy `ext_authz` (HTTP, path prefix) with 200 plus identity
//! headers, or 401/403 with an RFC 6750 `WWW-Authenticate` challenge.
//!
//! Credentials by route policy: `oauth` = an `Authorization: Bearer` JWT (validated through the
//! verified-token cache, then the route's servers, scopes and claim rules); `api_key` = a live
//! legacy session cookie `JSESSIONID` (the admin's login forwarded as the subject); `none` =
//! public. A route accepting both uses the bearer token when one is sent.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use portcullis_policy::routes::{CompiledRoute, CredentialType, RouteDenial, RoutePolicy};

use crate::state::AppState;
use crate::{bearer, legacy};

/// The request the proxy asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRequest {
    /// Method.
    pub method: String,
    /// Host, if known.
    pub host: Option<String>,
    /// Path (query stripped by the matcher).
    pub path: String,
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// Reads the original request from the proxy's conventions: `X-Forwarded-*` (Traefik, Caddy),
/// `X-Original-*` (nginx), or, for Envoy with a path prefix, the method and the path after `/authz`.
pub fn original_request(method: &Method, uri: &Uri, headers: &HeaderMap) -> OriginalRequest {
    let host = header_text(headers, "x-forwarded-host")
        .or_else(|| header_text(headers, "x-original-host"))
        .or_else(|| header_text(headers, "host"))
        .map(str::to_owned);
    if let Some(uri) =
        header_text(headers, "x-forwarded-uri").or_else(|| header_text(headers, "x-original-uri"))
    {
        let method = header_text(headers, "x-forwarded-method")
            .or_else(|| header_text(headers, "x-original-method"))
            .unwrap_or("GET");
        return OriginalRequest {
            method: method.to_ascii_uppercase(),
            host,
            path: uri.to_owned(),
        };
    }
    let path = uri.path().strip_prefix("/authz").unwrap_or("/");
    OriginalRequest {
        method: method.as_str().to_owned(),
        host,
        path: if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        },
    }
}

fn challenge(status: StatusCode, code: &str, value: String, description: &str) -> Response {
    let mut response = (
        status,
        axum::Json(serde_json::json!({"code": code, "message": description})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// `GET|POST|... /authz` and below.
pub async fn authz(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request = original_request(&method, &uri, &headers);
    let snapshot = state.snapshot.load_full();
    let Some(route) =
        snapshot
            .routes
            .route(&request.method, request.host.as_deref(), &request.path)
    else {
        return no_route(&state);
    };
    decide(&state, route, &headers, uri.query()).await
}

/// The answer when no route matches: deny (DESIGN.md §1.3).
pub(crate) fn no_route(state: &AppState) -> Response {
    state.metrics.decide("deny", Some("no_route"));
    (
        StatusCode::FORBIDDEN,
        axum::Json(
            serde_json::json!({"code": "no_route", "message": "no route allows this request"}),
        ),
    )
        .into_response()
}

/// Decides one request against `route`'s policy: 200 with the identity headers to forward,
/// or the 401/403 challenge. Shared by forward auth and the reverse proxy so both apply exactly
/// the same rules.
pub(crate) async fn decide(
    state: &AppState,
    route: &CompiledRoute,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let policy = &route.definition.policy;
    if policy.credentials.contains(&CredentialType::None) {
        state.metrics.decide("allow", None);
        return StatusCode::OK.into_response();
    }
    let accepts_oauth = policy.credentials.contains(&CredentialType::Oauth);
    if !(accepts_oauth && headers.contains_key(header::AUTHORIZATION)) {
        if policy.credentials.contains(&CredentialType::ApiKey)
            && let Some(hash) = legacy::session_hash_from(headers)
        {
            return api_key_session(state, policy, &route.definition.name, &hash).await;
        }
        // RFC 6750 §3: no credentials → a challenge without an error code.
        state.metrics.decide("deny", Some("no_credentials"));
        return challenge(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Bearer realm=\"portcullis\"".into(),
            "credentials required",
        );
    }
    let token = match bearer::token_from_headers(headers, query) {
        Ok(token) => token,
        Err(err) => {
            state.metrics.decide("deny", Some("invalid_request"));
            return err.into_response();
        }
    };
    let verified = match bearer::validate(state, &token).await {
        Ok(verified) => verified,
        Err(rejected) => {
            let code = rejected.rejection.code();
            state.metrics.reject(code);
            state.metrics.decide("deny", Some(code));
            tracing::info!(reason = code, detail = %rejected, route = %route.definition.name, "forward auth: token rejected");
            let description = rejected.rejection.client_description();
            return challenge(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                format!(
                    "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"{description}\""
                ),
                description,
            );
        }
    };
    // The payload is parsed into a map only for routes with claim rules (and memoised with the
    // cached token); scope-only routes never pay for it.
    let no_claims = serde_json::Map::new();
    let claims = if policy.claims.is_empty() {
        &no_claims
    } else {
        verified.claims()
    };
    if let Err(denial) = route.authorize(&verified.server_name, &verified.scopes, claims) {
        state.metrics.decide("deny", Some("insufficient_scope"));
        tracing::info!(route = %route.definition.name, %denial, "forward auth: policy denied");
        let scope = match &denial {
            RouteDenial::MissingScopes(scopes) => format!(", scope=\"{scopes}\""),
            _ => String::new(),
        };
        return challenge(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("Bearer realm=\"portcullis\", error=\"insufficient_scope\"{scope}"),
            "the token does not grant access to this resource",
        );
    }
    state.metrics.decide("allow", None);
    state
        .metrics
        .tokens_accepted
        .fetch_add(1, Ordering::Relaxed);
    allowed(policy.identity_headers(&verified))
}

/// 200 with the identity headers (those that are valid HTTP headers).
fn allowed(identity: Vec<(&str, String)>) -> Response {
    let mut response = StatusCode::OK.into_response();
    for (name, value) in identity {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(&value))
        else {
            continue;
        };
        response.headers_mut().insert(name, value);
    }
    response
}

/// The `api_key` credential: a live legacy API-key session (`JSESSIONID`). Usually answered from
/// the in-memory session cache; a store failure on a cache miss denies (fail closed). Scope and
/// claim rules are about OAuth tokens and do not apply: the session is an admin's.
async fn api_key_session(
    state: &AppState,
    policy: &RoutePolicy,
    route: &str,
    hash: &str,
) -> Response {
    let session = state
        .legacy_sessions
        .authenticate(
            &state.store,
            state.org,
            hash,
            state.settings.legacy_session_idle,
        )
        .await;
    match session {
        Ok(Some(session)) => {
            state.metrics.decide("allow", None);
            allowed(policy.session_identity_headers(&session.login))
        }
        Ok(None) => {
            state.metrics.decide("deny", Some("invalid_session"));
            challenge(
                StatusCode::UNAUTHORIZED,
                "invalid_session",
                "Bearer realm=\"portcullis\"".into(),
                "the API key session expired or ended",
            )
        }
        Err(err) => {
            state.metrics.decide("deny", Some("store_unavailable"));
            tracing::warn!(%err, route, "forward auth: cannot check an API key session; denying");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"code": "store_unavailable", "message": "the session cannot be checked right now"})),
            )
                .into_response()
        }
    }
}
