//! Reverse proxy (DESIGN.md §6): a request that none of Portcullis's own endpoints handles and
//! whose host/path match a route with an `upstream` is decided exactly as forward auth decides
//! it, then streamed to the upstream and the answer streamed back.
//!
//! What crosses the proxy, and why:
//! - hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and the headers it names, `Keep-Alive`,
//!   `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`) are removed both ways: they
//!   describe one connection, not the message;
//! - the client's `Authorization` is removed unless the route keeps it, so upstreams never see
//!   bearer tokens they do not need;
//! - every header the route forwards as identity (and every `X-Auth-*` header) is removed from
//!   the client's request before the verified values are added: a client must not be able to
//!   claim an identity by sending the header itself;
//! - `X-Forwarded-For`, `X-Forwarded-Host` and `X-Forwarded-Proto` tell the upstream who asked.
//!
//! Bodies are streamed, never buffered. Upstream failures map to 502 (unreachable, refused,
//! broken response) and 504 (no response headers within the timeout); redirects are passed to
//! the client, never followed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::forward_auth;
use crate::state::AppState;

/// Default time allowed to open a connection to an upstream.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time allowed for an upstream's response headers.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP client for upstreams and its limits.
#[derive(Debug)]
pub struct Upstreams {
    client: Result<reqwest::Client, String>,
    response_timeout: Duration,
}

impl Upstreams {
    /// A client with the given connect and response-header timeouts.
    pub fn new(connect_timeout: Duration, response_timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            // Redirects belong to the client; following them here would let an upstream send
            // the verified identity headers somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|err| err.to_string());
        if let Err(err) = &client {
            tracing::error!(%err, "reverse proxy disabled: cannot build the upstream HTTP client");
        }
        Self {
            client,
            response_timeout,
        }
    }
}

impl Default for Upstreams {
    fn default() -> Self {
        Self::new(DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT)
    }
}

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the hop-by-hop headers, including those `Connection` names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::try_from(token.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"code": code, "message": message})),
    )
        .into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "not found")
}

/// The router's fallback: proxy requests that match a route with an upstream; 404 otherwise.
pub async fn proxy(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.host())
        .map(str::to_owned);
    let snapshot = state.snapshot.load_full();
    let Some(route) =
        snapshot
            .routes
            .route(parts.method.as_str(), host.as_deref(), parts.uri.path())
    else {
        return not_found();
    };
    // A route without an upstream is for forward auth only; its paths are not served here.
    let Some(upstream) = route.definition.upstream.as_deref() else {
        return not_found();
    };
    let decision = forward_auth::decide(&state, route, &parts.headers, parts.uri.query()).await;
    if !decision.status().is_success() {
        return decision;
    }
    let Ok(client) = &state.upstreams.client else {
        return error(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the reverse proxy is not available",
        );
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let target = format!("{}{path_and_query}", upstream.trim_end_matches('/'));
    let Ok(url) = reqwest::Url::parse(&target) else {
        tracing::error!(route = %route.definition.name, %target, "reverse proxy: invalid upstream URL");
        return error(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the route's upstream URL is invalid",
        );
    };

    let policy = &route.definition.policy;
    // Decided before the hop-by-hop headers go: a chunked upload has a body but no length.
    let has_body = parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let mut headers = parts.headers;
    remove_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    if !policy.keep_authorization {
        headers.remove(header::AUTHORIZATION);
    }
    let spoofable: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            name.as_str().starts_with("x-auth-")
                || policy
                    .forward_claims
                    .keys()
                    .any(|forwarded| name.as_str().eq_ignore_ascii_case(forwarded))
        })
        .cloned()
        .collect();
    for name in spoofable {
        headers.remove(name);
    }
    for (name, value) in decision.headers() {
        headers.insert(name.clone(), value.clone());
    }
    forwarded_headers(&state, &mut headers, &parts.extensions, host.as_deref());

    let mut outgoing = client.request(parts.method.clone(), url).headers(headers);
    if has_body {
        outgoing = outgoing.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }

    let started = Instant::now();
    let sent = tokio::time::timeout(state.upstreams.response_timeout, outgoing.send()).await;
    state.metrics.upstream_latency.observe(started.elapsed());
    let upstream_response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(err)) if err.is_timeout() => {
            return upstream_failure(&state, route, "timeout", &err.to_string());
        }
        Ok(Err(err)) => {
            return upstream_failure(&state, route, "unreachable", &error_chain(&err));
        }
        Err(_) => {
            return upstream_failure(&state, route, "timeout", "no response headers in time");
        }
    };
    state.metrics.proxied("ok");
    let status = upstream_response.status();
    let mut response_headers = upstream_response.headers().clone();
    remove_hop_by_hop(&mut response_headers);
    let mut response = Response::new(Body::from_stream(upstream_response.bytes_stream()));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    response
}

fn forwarded_headers(
    state: &AppState,
    headers: &mut HeaderMap,
    extensions: &axum::http::Extensions,
    host: Option<&str>,
) {
    if let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<SocketAddr>>() {
        let ip = peer.ip().to_string();
        let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(previous) => format!("{previous}, {ip}"),
            None => ip,
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert("x-forwarded-for", value);
        }
    }
    if let Some(host) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
        headers.insert("x-forwarded-host", host);
    }
    let proto = if state.settings.secure_cookies() {
        "https"
    } else {
        "http"
    };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn upstream_failure(
    state: &AppState,
    route: &portcullis_policy::routes::CompiledRoute,
    outcome: &'static str,
    detail: &str,
) -> Response {
    state.metrics.proxied(outcome);
    tracing::warn!(route = %route.definition.name, outcome, detail, "reverse proxy: upstream failed");
    if outcome == "timeout" {
        error(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "the upstream did not answer in time",
        )
    } else {
        error(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the upstream could not be reached",
        )
    }
}
