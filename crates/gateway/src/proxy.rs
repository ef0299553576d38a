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
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use portcullis_policy::target::{self, RequestTarget};

use portcullis_http::ApiError;
use portcullis_runtime::cookies::portcullis_cookie_names;

use crate::GatewayState;
use crate::forward_auth;
use crate::trust::{self, METHOD_OVERRIDE_HEADERS, OriginalRequestError};

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

fn error(status: StatusCode, code: &'static str, message: &str) -> Response {
    ApiError::new(status, code, message).into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "not found")
}

/// The router's fallback: proxy requests that match a route with an upstream; 404 otherwise.
pub async fn proxy(State(state): State<GatewayState>, request: Request) -> Response {
    let peer = forward_auth::peer_of(&request);
    let (parts, body) = request.into_parts();
    // The decision and the upstream request use one canonical target (DESIGN.md §6): what is
    // matched is byte for byte what is forwarded, and anything ambiguous is refused here.
    let host = match trust::request_host(&parts.headers, &parts.uri) {
        Ok(host) => host,
        Err(err) => return forward_auth::invalid_target(&state, &err),
    };
    let raw_target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let target = match target::canonicalize_target(raw_target.as_bytes()) {
        Ok(target) => target,
        Err(err) => {
            return forward_auth::invalid_target(&state, &OriginalRequestError::Target(err));
        }
    };
    if let Err(err) = trust::check_method_override(&parts.headers, &parts.method) {
        return forward_auth::invalid_target(&state, &err);
    }
    let snapshot = state.runtime.snapshot.load_full();
    let Some(route) = snapshot
        .routes
        .route(parts.method.as_str(), host.as_ref(), &target)
    else {
        return not_found();
    };
    // A route without an upstream is for forward auth only; its paths are not served here.
    let Some(upstream) = route.definition.upstream.as_deref() else {
        return not_found();
    };
    let decision = forward_auth::decide(&state, route, &parts.headers, target.query()).await;
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
    let Some(url) = upstream_url(upstream, &target) else {
        tracing::error!(route = %route.definition.name, upstream, "reverse proxy: the upstream URL cannot carry the canonical target unchanged");
        return error(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the route's upstream URL is invalid",
        );
    };

    let policy = &route.definition.policy;
    // Decided before the hop-by-hop headers go: a chunked upload has a body but no length.
    let forwarded_host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .map(str::to_owned);
    let has_body = parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let mut headers = parts.headers;
    remove_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    for name in METHOD_OVERRIDE_HEADERS {
        headers.remove(name);
    }
    strip_own_cookies(&mut headers);
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
    forwarded_headers(&state, &mut headers, peer, forwarded_host.as_deref());

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
    drop_own_set_cookies(&mut response_headers);
    let mut response = Response::new(Body::from_stream(upstream_response.bytes_stream()));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    response
}

/// `X-Forwarded-For`, `-Host` and `-Proto` for the upstream. A client's own `X-Forwarded-For`
/// is extended only when it came through a trusted proxy; from anyone else it is replaced, so an
/// upstream never reads an address the client made up.
fn forwarded_headers(
    state: &GatewayState,
    headers: &mut HeaderMap,
    peer: Option<SocketAddr>,
    host: Option<&str>,
) {
    let previous = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    headers.remove("x-forwarded-for");
    if let Some(peer) = peer {
        let ip = peer.ip().to_canonical().to_string();
        let trusted = state.settings.trusted_proxies.contains(peer.ip());
        let value = if trusted && !previous.is_empty() {
            format!("{previous}, {ip}")
        } else {
            ip
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert("x-forwarded-for", value);
        }
    }
    match host.and_then(|h| HeaderValue::from_str(h).ok()) {
        Some(host) => {
            headers.insert("x-forwarded-host", host);
        }
        None => {
            headers.remove("x-forwarded-host");
        }
    }
    let proto = if state.settings.https {
        "https"
    } else {
        "http"
    };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
}

/// The upstream URL for `target`: the upstream's base URL with the canonical path appended and
/// the query as received. `None` when the URL parser would change a byte of either (it
/// normalises some paths itself): nothing may sit between the decision and what is sent.
fn upstream_url(upstream: &str, target: &RequestTarget) -> Option<reqwest::Url> {
    let base = reqwest::Url::parse(upstream).ok()?;
    let base_path = base.path().trim_end_matches('/');
    let path = format!("{base_path}{}", target.path());
    let mut url = base.clone();
    url.set_path(&path);
    url.set_query(target.query());
    (url.path() == path && url.query() == target.query()).then_some(url)
}

/// Whether `name` is one of Portcullis's own cookies (sessions, CSRF, the legacy API-key
/// session): an upstream must never see them, or a malicious or logging upstream could replay an
/// admin's session.
fn is_own_cookie(name: &str) -> bool {
    portcullis_cookie_names()
        .iter()
        .any(|own| own.eq_ignore_ascii_case(name.trim()))
}

/// Removes Portcullis's cookies from every `Cookie` header, keeping the application's.
fn strip_own_cookies(headers: &mut HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b';'))
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !is_own_cookie(pair.split('=').next().unwrap_or(pair)))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if kept.is_empty() {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
        headers.insert(header::COOKIE, value);
    }
}

/// Drops an upstream's `Set-Cookie` for one of Portcullis's cookie names: an upstream must not
/// be able to plant or overwrite an admin session or CSRF cookie.
fn drop_own_set_cookies(headers: &mut HeaderMap) {
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|value| {
            let name = value
                .as_bytes()
                .split(|b| *b == b'=')
                .next()
                .and_then(|n| std::str::from_utf8(n).ok());
            !name.is_some_and(is_own_cookie)
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in kept {
        headers.append(header::SET_COOKIE, value);
    }
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
    state: &GatewayState,
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
