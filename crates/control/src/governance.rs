//! API governance on `/api/v1` (issue 14), one middleware in front of every operation:
//!
//! 1. **Read-only** ([`portcullis_runtime::Runtime::read_only`]: `PORTCULLIS_READ_ONLY` or the
//!    org's `readOnly`): every write answers 403 `STATE_READONLY`, except the operations in
//!    [`WRITABLE_WHEN_READ_ONLY`]. Reads and every token decision (`/authz`, the proxy: the
//!    gateway's, not behind this layer) keep working. Every `/api/v1` answer carries
//!    `X-Portcullis-Mode: read-only` meanwhile.
//! 2. **Rate limits** ([`crate::limiter`]): the caller is authenticated once here (the result is kept in
//!    the request for the handler's [`Principal`] extractor, so nothing is done twice) and the
//!    request counted under its rule; over a limit it answers 429 `rate_limited` with
//!    `Retry-After` (header and body); every limited answer carries `X-RateLimit-Limit`,
//!    `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds) of its tightest window.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::principal::{Authenticated, Principal};
use crate::state::ControlState;
use portcullis_runtime::deployment::{client_ip, client_key};

/// The header that tells clients the API is read-only.
pub const MODE_HEADER: &str = "x-portcullis-mode";

/// The writes still served in read-only mode: signing in and out (portal and legacy sessions),
/// checks that save nothing, and the settings resource that switches read-only off.
pub const WRITABLE_WHEN_READ_ONLY: [(Method, &str); 7] = [
    (Method::POST, "/api/v1/auth/login"),
    (Method::POST, "/api/v1/auth/logout"),
    (Method::POST, "/api/v1/authenticatedSession"),
    (Method::DELETE, "/api/v1/authenticatedSession"),
    (Method::POST, "/api/v1/authorizationServers/validate"),
    (Method::POST, "/api/v1/apiKey/reveal"),
    (Method::PUT, SETTINGS_PATH),
];

/// The settings resource is never rate limited: limits set too low must not lock the Super
/// Admin out of repairing them.
pub const SETTINGS_PATH: &str = "/api/v1/orgSettings";

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// 403 `STATE_READONLY`.
pub fn read_only_error() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "STATE_READONLY",
        "the organization is in read-only mode (maintenance): changes are refused; reads and token decisions work as usual",
    )
}

/// The middleware (see the module documentation).
pub async fn govern(State(state): State<ControlState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = format!("{}{}", crate::API_PREFIX, request.uri().path());
    let read_only = state.runtime.read_only().is_some();
    let mut response = if read_only
        && is_write(&method)
        && !WRITABLE_WHEN_READ_ONLY
            .iter()
            .any(|(m, p)| *m == method && *p == path)
    {
        read_only_error().into_response()
    } else {
        limited(&state, request, next, &method, &path).await
    };
    if read_only {
        response
            .headers_mut()
            .insert(MODE_HEADER, HeaderValue::from_static("read-only"));
    }
    response
}

async fn limited(
    state: &ControlState,
    request: Request,
    next: Next,
    method: &Method,
    path: &str,
) -> Response {
    if !state.runtime.settings.rate_limits {
        return next.run(request).await;
    }
    let settings = state.runtime.org_settings.load_full();
    if !settings.rate_limits.enabled {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let principal = Principal::from_request_parts(&mut parts, state)
        .await
        .map_err(|e| e.0);
    let (caller, interactive) = match &principal {
        Ok(p) => (
            p.caller.clone(),
            p.kind == crate::principal::CredentialKind::Session,
        ),
        // Signed out: by the client's address (what a trusted proxy vouches for, else the
        // peer), IPv6 by its /64; behind a proxy, every caller would otherwise share its budget.
        Err(_) => (
            match parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            {
                Some(peer) => format!(
                    "ip:{}",
                    client_key(client_ip(
                        &parts.headers,
                        peer.0,
                        &state.settings.trusted_proxies
                    ))
                ),
                None => "ip:".to_owned(),
            },
            false,
        ),
    };
    // A Super Admin's `PUT /orgSettings` is never limited (limits set too low must not lock out
    // their repair); anyone else's is, so the exemption is no unthrottled way to try credentials.
    let settings_repair = *method == Method::PUT
        && path == SETTINGS_PATH
        && principal
            .as_ref()
            .is_ok_and(|p| p.permissions == portcullis_policy::permissions::Permissions::FULL);
    parts.extensions.insert(Authenticated(principal));
    let request = Request::from_parts(parts, body);
    if settings_repair {
        return next.run(request).await;
    }
    let Some(rule) = settings
        .rate_limits
        .rule(method.as_str(), path, interactive)
    else {
        return next.run(request).await;
    };
    let now = portcullis_store::now_ms();
    let short = state.limiter.count_short(&caller, &rule, now);
    let short_s = rule.limits.short.window_seconds;
    let (window, seconds) = if short.refused {
        (short, short_s)
    } else {
        match state
            .limiter
            .count_long(&state.store, state.org, &caller, &rule, now)
            .await
        {
            Some(long) if long.refused || long.remaining < short.remaining => {
                (long, rule.limits.long.window_seconds)
            }
            _ => (short, short_s),
        }
    };
    let mut response = if window.refused {
        tracing::info!(%caller, rule = %rule.name, retry_after = window.reset_s, "rate limited");
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many requests: at most {} per {} s for this kind of request ({}); retry in {} s",
                window.limit, seconds, rule.name, window.reset_s
            ),
        );
        error.retry_after = Some(window.reset_s);
        error.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", u64::from(window.limit)),
        ("x-ratelimit-remaining", u64::from(window.remaining)),
        ("x-ratelimit-reset", window.reset_s),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    response
}
