//! Forward auth (DESIGN.md §6): `/authz` answers nginx `auth_request`, Traefik `ForwardAuth`,
//! Caddy `forward_auth` and Envoy `ext_authz` (HTTP, path prefix) with 200 plus identity
//! headers, or 401/403 with an RFC 6750 `WWW-Authenticate` challenge.
//!
//! Credentials by route policy: `oauth` = an `Authorization: Bearer` JWT (validated through the
//! verified-token cache, then the route's servers, scopes and claim rules); `api_key` = a live
//! legacy session cookie `JSESSIONID` (the admin's login forwarded as the subject); `none` =
//! public. A route accepting both uses the bearer token when one is sent.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_policy::routes::{CompiledRoute, CredentialType, RouteDenial, RoutePolicy};
use portcullis_policy::target::INVALID_REQUEST_TARGET;

use portcullis_http::challenge::REALM;
use portcullis_http::{ApiError, Challenge};
use portcullis_runtime::legacy;
use portcullis_runtime::validate::{bearer_token, validate};

use crate::GatewayState;
use crate::trust::{self, OriginalRequestError};

/// 400 `invalid_request_target`: the request (or the headers describing it) can be read more
/// than one way, so no decision is made on it (fail closed). The precise reason is logged and
/// counted; the client gets one clear message.
pub(crate) fn invalid_target(state: &GatewayState, err: &OriginalRequestError) -> Response {
    state.runtime.counters.reject(err.code());
    state.decide("deny", Some(INVALID_REQUEST_TARGET));
    tracing::info!(reason = err.code(), detail = %err, "request target refused");
    ApiError::new(
        StatusCode::BAD_REQUEST,
        INVALID_REQUEST_TARGET,
        format!("{err}: send a normalised path (no dot segments, encoded separators, empty segments or control characters) and describe the request once"),
    ).into_response()
}

/// The TCP peer of a request, when the listener recorded it.
pub(crate) fn peer_of(request: &Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer)
}

/// `GET|POST|... /authz` and below.
pub async fn authz(State(state): State<GatewayState>, request: Request) -> Response {
    // A peer the listener did not record is not trusted (fail closed).
    let trusted_peer =
        peer_of(&request).is_some_and(|peer| state.settings.trusted_proxies.contains(peer.ip()));
    let (parts, _body) = request.into_parts();
    let original = match trust::original_request(
        state.settings.forward_auth,
        trusted_peer,
        &parts.method,
        &parts.uri,
        &parts.headers,
    ) {
        Ok(original) => original,
        Err(err) => return invalid_target(&state, &err),
    };
    let snapshot = state.runtime.snapshot.load_full();
    let Some(route) = snapshot.routes.route(
        original.method.as_str(),
        original.host.as_ref(),
        &original.target,
    ) else {
        return no_route(&state);
    };
    decide(&state, route, &parts.headers, original.target.query()).await
}

/// The answer when no route matches: deny (DESIGN.md §1.3).
pub(crate) fn no_route(state: &GatewayState) -> Response {
    state.decide("deny", Some("no_route"));
    ApiError::new(
        StatusCode::FORBIDDEN,
        "no_route",
        "no route allows this request",
    )
    .into_response()
}

/// Decides one request against `route`'s policy: 200 with the identity headers to forward,
/// or the 401/403 challenge. Shared by forward auth and the reverse proxy so both apply exactly
/// the same rules.
pub(crate) async fn decide(
    state: &GatewayState,
    route: &CompiledRoute,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let policy = &route.definition.policy;
    let has_authorization = headers.contains_key(header::AUTHORIZATION);
    let public = policy.credentials.contains(&CredentialType::None);
    if public && !has_authorization {
        state.decide("allow", None);
        return allowed(policy, Vec::new());
    }
    // A token that is sent is always checked: on a public route too, so an invalid token is
    // never downgraded to an anonymous request.
    let accepts_oauth = public || policy.credentials.contains(&CredentialType::Oauth);
    if !(accepts_oauth && has_authorization) {
        if policy.credentials.contains(&CredentialType::ApiKey)
            && let Some(hash) = legacy::session_hash_from(headers)
        {
            return api_key_session(state, policy, &route.definition.name, &hash).await;
        }
        // RFC 6750 §3: no credentials → a challenge without an error code.
        state.decide("deny", Some("no_credentials"));
        return Challenge::new(
            REALM,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "credentials required",
        )
        .into_response();
    }
    let token = match bearer_token(headers, query) {
        Ok(token) => token,
        Err(malformed) => {
            state.decide("deny", Some("invalid_request"));
            return Challenge::invalid_request(REALM, malformed.0).into_response();
        }
    };
    let verified = match validate(&state.runtime, token).await {
        Ok(verified) => verified,
        Err(rejected) => {
            let code = rejected.rejection.code();
            state.runtime.counters.reject(code);
            state.decide_for(rejected.server.as_deref(), "deny", Some(code));
            tracing::info!(reason = code, detail = %rejected, route = %route.definition.name, "forward auth: token rejected");
            let description = rejected.rejection.client_description();
            return Challenge::invalid_token(REALM, description).into_response();
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
        state.decide_for(
            Some(&verified.server_name),
            "deny",
            Some("insufficient_scope"),
        );
        tracing::info!(route = %route.definition.name, %denial, "forward auth: policy denied");
        let challenge = Challenge::insufficient_scope(
            REALM,
            "the token does not grant access to this resource",
        );
        return match &denial {
            RouteDenial::MissingScopes(scopes) => challenge.scope(scopes.to_string()),
            _ => challenge,
        }
        .into_response();
    }
    state.decide_for(Some(&verified.server_name), "allow", None);
    state
        .runtime
        .counters
        .tokens_accepted
        .fetch_add(1, Ordering::Relaxed);
    allowed(policy, policy.identity_headers(&verified))
}

/// 200 with the identity headers. Every header the route forwards is in the answer, empty when
/// there is no value (or the value is not valid header text): proxies that copy the answer's
/// headers onto the upstream request (nginx `auth_request_set` + `proxy_set_header`, Caddy
/// `copy_headers`, Traefik `authResponseHeaders`) then overwrite or drop a client-sent copy
/// instead of letting it through.
fn allowed(policy: &RoutePolicy, identity: Vec<(&str, String)>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    let mut identity: Vec<(&str, Option<String>)> = identity
        .into_iter()
        .map(|(name, value)| (name, Some(value)))
        .collect();
    // Each header name is parsed once: the route's headers with their value or empty, then any
    // identity header the route does not list (the session default `X-Auth-Subject`).
    for name in policy.forward_claims.keys() {
        let value = identity
            .iter_mut()
            .find(|(identity_name, _)| *identity_name == name.as_str())
            .and_then(|(_, value)| value.take());
        insert_identity(headers, name, value);
    }
    for (name, value) in identity {
        if value.is_some() {
            insert_identity(headers, name, value);
        }
    }
    response
}

/// One identity header; a value that is not valid header text is sent empty.
fn insert_identity(headers: &mut HeaderMap, name: &str, value: Option<String>) {
    let Ok(name) = HeaderName::try_from(name) else {
        return;
    };
    // The String becomes the header value's buffer (no copy); the same checks as `from_str`.
    let value = value
        .and_then(|value| HeaderValue::try_from(value).ok())
        .unwrap_or_else(|| HeaderValue::from_static(""));
    headers.insert(name, value);
}

/// The `api_key` credential: a live legacy API-key session (`JSESSIONID`). Usually answered from
/// the in-memory session cache; a store failure on a cache miss denies (fail closed). Scope and
/// claim rules are about OAuth tokens and do not apply: the session is an admin's.
async fn api_key_session(
    state: &GatewayState,
    policy: &RoutePolicy,
    route: &str,
    hash: &str,
) -> Response {
    let runtime = &state.runtime;
    let session = runtime
        .legacy_sessions
        .authenticate(
            &runtime.store,
            runtime.org,
            hash,
            state.settings.legacy_session_idle,
        )
        .await;
    match session {
        Ok(Some(session)) => {
            state.decide("allow", None);
            allowed(policy, policy.session_identity_headers(&session.login))
        }
        Ok(None) => {
            state.decide("deny", Some("invalid_session"));
            Challenge::new(
                REALM,
                StatusCode::UNAUTHORIZED,
                "invalid_session",
                "the API key session expired or ended",
            )
            .into_response()
        }
        Err(err) => {
            state.decide("deny", Some("store_unavailable"));
            tracing::warn!(%err, route, "forward auth: cannot check an API key session; denying");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the session cannot be checked right now",
            )
            .into_response()
        }
    }
}
