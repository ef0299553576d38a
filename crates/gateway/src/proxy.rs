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
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use portcullis_policy::target::{self, RequestTarget};

use portcullis_http::ApiError;
use portcullis_runtime::cookies::portcullis_cookie_names;

use crate::GatewayState;
use crate::forward_auth;
use crate::trust::{self, METHOD_OVERRIDES, OriginalRequestError};

/// Default time allowed to open a connection to an upstream.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time allowed for an upstream's response headers.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pooled HTTP/1.1 client for upstreams: plain TCP for `http://`, rustls (aws-lc-rs provider,
/// the Mozilla roots of `webpki-roots`, certificates and host names verified) for `https://`.
type UpstreamClient = Client<HttpsConnector<HttpConnector>, Body>;

/// Upstream base URLs parsed so far, by their text. Routes name a handful of upstreams, and
/// parsing one costs more than the rest of the proxy's request handling; bounded so that a
/// long-running node whose routes change often cannot grow it.
const UPSTREAM_BASES: usize = 4096;

/// The HTTP client for upstreams and its limits.
pub struct Upstreams {
    client: Result<UpstreamClient, String>,
    response_timeout: Duration,
    bases: quick_cache::sync::Cache<String, Arc<UpstreamBase>>,
}

/// An upstream's base URL, parsed by the `url` crate (which normalises scheme, host and port).
#[derive(Debug)]
struct UpstreamBase {
    /// `scheme://host[:port]`, without user name or password.
    origin: String,
    /// The base URL's path without its trailing `/`; every target is appended to it.
    path: String,
    /// `Authorization: Basic` from the URL's user name and password, when it has them.
    basic_auth: Option<HeaderValue>,
}

impl UpstreamBase {
    fn parse(upstream: &str) -> Option<Self> {
        let mut url = url::Url::parse(upstream).ok()?;
        let basic_auth = basic_auth(&url);
        if basic_auth.is_some() {
            url.set_username("").ok()?;
            url.set_password(None).ok()?;
        }
        let origin = url[..url::Position::BeforePath].to_owned();
        let path = url.path().trim_end_matches('/').to_owned();
        Some(Self {
            origin,
            path,
            basic_auth,
        })
    }
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("available", &self.client.is_ok())
            .field("response_timeout", &self.response_timeout)
            .field("bases", &self.bases.len())
            .finish()
    }
}

impl Upstreams {
    /// A client with the given connect and response-header timeouts.
    pub fn new(connect_timeout: Duration, response_timeout: Duration) -> Self {
        let client = upstream_client(connect_timeout);
        if let Err(err) = &client {
            tracing::error!(%err, "reverse proxy disabled: cannot build the upstream HTTP client");
        }
        Self {
            client,
            response_timeout,
            bases: quick_cache::sync::Cache::new(UPSTREAM_BASES),
        }
    }

    /// The parsed base of `upstream`, parsed on first use.
    fn base(&self, upstream: &str) -> Option<Arc<UpstreamBase>> {
        if let Some(base) = self.bases.get(upstream) {
            return Some(base);
        }
        let base = Arc::new(UpstreamBase::parse(upstream)?);
        self.bases.insert(upstream.to_owned(), Arc::clone(&base));
        Some(base)
    }
}

/// hyper's pooled client rather than reqwest: the proxy already holds an `http::Request` and
/// wants an `http::Response` back, and reqwest's URL round trip, request builder and extra
/// service layers cost more per request than the upstream call itself. It never follows
/// redirects (they belong to the client; following them here would let an upstream send the
/// verified identity headers somewhere else) and reads no proxy settings from the environment.
fn upstream_client(connect_timeout: Duration) -> Result<UpstreamClient, String> {
    let mut http = HttpConnector::new();
    // `https://` upstreams go through the TLS layer below, which needs the TCP connector to
    // accept that scheme.
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    // Requests and answers are small writes on a reused connection: Nagle's algorithm would hold
    // them back for the peer's delayed ACK.
    http.set_nodelay(true);
    // An explicit provider: the process links both rustls providers, so there is no implicit one.
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| err.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        // Idle pooled connections are closed after 90 s; the timer is what enforces it.
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https))
}

impl Default for Upstreams {
    fn default() -> Self {
        Self::new(DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT)
    }
}

// Header names as `HeaderName` constants rather than `&str`: a lookup by `&str` parses and
// validates the name on every call, twice per proxied request for each of these.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Removes the hop-by-hop headers, including those `Connection` names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
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
    let Some(url) = upstream_url(&state.upstreams, upstream, &target) else {
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
    for name in &METHOD_OVERRIDES {
        headers.remove(name);
    }
    if headers.contains_key(header::COOKIE) {
        strip_own_cookies(&mut headers);
    }
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

    let (uri, basic_auth) = url;
    if let Some(credentials) = basic_auth
        && !headers.contains_key(header::AUTHORIZATION)
    {
        headers.insert(header::AUTHORIZATION, credentials);
    }
    let body = if has_body { body } else { Body::empty() };
    let mut outgoing = axum::http::Request::new(body);
    *outgoing.method_mut() = parts.method;
    *outgoing.uri_mut() = uri;
    *outgoing.headers_mut() = headers;

    let started = Instant::now();
    let sent =
        tokio::time::timeout(state.upstreams.response_timeout, client.request(outgoing)).await;
    state.metrics.upstream_latency.observe(started.elapsed());
    let upstream_response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(err)) if is_timeout(&err) => {
            return upstream_failure(&state, route, "timeout", &error_chain(&err));
        }
        Ok(Err(err)) => {
            return upstream_failure(&state, route, "unreachable", &error_chain(&err));
        }
        Err(_) => {
            return upstream_failure(&state, route, "timeout", "no response headers in time");
        }
    };
    state.metrics.proxied("ok");
    let (mut response_parts, upstream_body) = upstream_response.into_parts();
    remove_hop_by_hop(&mut response_parts.headers);
    if response_parts.headers.contains_key(header::SET_COOKIE) {
        drop_own_set_cookies(&mut response_parts.headers);
    }
    // The answer's head is rebuilt as HTTP/1.1 with no extensions; the body streams through.
    let mut response = Response::new(Body::new(upstream_body));
    *response.status_mut() = response_parts.status;
    *response.headers_mut() = response_parts.headers;
    response
}

/// Whether the upstream call failed for lack of time (the connect timeout surfaces as an I/O
/// error of kind `TimedOut` somewhere in the chain): 504 rather than 502.
fn is_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = cause.source();
    }
    false
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
    let previous = if headers.contains_key(&X_FORWARDED_FOR) {
        headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        String::new()
    };
    headers.remove(&X_FORWARDED_FOR);
    if let Some(peer) = peer {
        let ip = peer.ip().to_canonical().to_string();
        let trusted = state.settings.trusted_proxies.contains(peer.ip());
        let value = if trusted && !previous.is_empty() {
            format!("{previous}, {ip}")
        } else {
            ip
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    match host.and_then(|h| HeaderValue::from_str(h).ok()) {
        Some(host) => {
            headers.insert(X_FORWARDED_HOST, host);
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }
    let proto = if state.settings.https {
        "https"
    } else {
        "http"
    };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
}

/// The upstream URI for `target`: the upstream's base URL with the canonical path appended and
/// the query as received, plus the `Authorization: Basic` value when the base URL carries a user
/// name (as the previous client sent it; the URI itself never carries the credentials). `None`
/// when the URI would not carry a byte of either unchanged: nothing may sit between the
/// decision and what is sent.
fn upstream_url(
    upstreams: &Upstreams,
    upstream: &str,
    target: &RequestTarget,
) -> Option<(Uri, Option<HeaderValue>)> {
    let base = upstreams.base(upstream)?;
    let query = target.query();
    let path_len = base.path.len() + target.path().len();
    let mut text =
        String::with_capacity(base.origin.len() + path_len + query.map_or(0, |q| q.len() + 1));
    text.push_str(&base.origin);
    text.push_str(&base.path);
    text.push_str(target.path());
    if let Some(query) = query {
        text.push('?');
        text.push_str(query);
    }
    let path = text
        .get(base.origin.len()..base.origin.len() + path_len)?
        .to_owned();
    let uri = Uri::try_from(text).ok()?;
    (uri.path() == path && uri.query() == query).then(|| (uri, base.basic_auth.clone()))
}

/// `Basic` credentials from the URL's user name and password (percent-decoded), marked
/// sensitive so that they never appear in logs.
fn basic_auth(url: &url::Url) -> Option<HeaderValue> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |part: &str| percent_encoding::percent_decode_str(part).collect::<Vec<u8>>();
    let mut credentials = decode(url.username());
    credentials.push(b':');
    if let Some(password) = url.password() {
        credentials.extend(decode(password));
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
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

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn url_for(upstream: &str, target: &str) -> Option<(Uri, Option<HeaderValue>)> {
        let upstreams = Upstreams::default();
        let target = target::canonicalize_target(target.as_bytes()).unwrap();
        upstream_url(&upstreams, upstream, &target)
    }

    #[test]
    fn the_upstream_uri_carries_base_path_target_and_query_unchanged() {
        // (upstream, target, expected URI)
        let cases = [
            (
                "http://127.0.0.1:8080",
                "/orders/42",
                "http://127.0.0.1:8080/orders/42",
            ),
            (
                "http://backend/",
                "/a?x=1&y=%20",
                "http://backend/a?x=1&y=%20",
            ),
            (
                "https://backend:8443/base/",
                "/v1/items?q",
                "https://backend:8443/base/v1/items?q",
            ),
            ("http://BACKEND:80/base", "/x", "http://backend/base/x"),
            ("http://backend/base#frag", "/x?", "http://backend/base/x?"),
        ];
        for (upstream, target, expected) in cases {
            let (uri, auth) = url_for(upstream, target).unwrap();
            assert_eq!(uri.to_string(), expected, "{upstream} + {target}");
            assert!(auth.is_none(), "{upstream}");
        }
    }

    #[test]
    fn user_info_becomes_basic_credentials_and_leaves_the_uri() {
        let (uri, auth) = url_for("https://user%40x:p%3Ass@backend/base", "/a").unwrap();
        assert_eq!(uri.to_string(), "https://backend/base/a");
        let auth = auth.unwrap();
        assert!(auth.is_sensitive());
        // base64("user@x:p:ss")
        assert_eq!(auth, "Basic dXNlckB4OnA6c3M=");
        let (_, auth) = url_for("http://only-user@backend", "/").unwrap();
        assert_eq!(auth.unwrap(), "Basic b25seS11c2VyOg==");
    }

    #[test]
    fn a_cached_base_answers_like_a_fresh_one() {
        let upstreams = Upstreams::default();
        let first = target::canonicalize_target(b"/one?a=1").unwrap();
        let second = target::canonicalize_target(b"/two").unwrap();
        let (uri, _) = upstream_url(&upstreams, "http://backend/p", &first).unwrap();
        assert_eq!(uri.to_string(), "http://backend/p/one?a=1");
        let (uri, _) = upstream_url(&upstreams, "http://backend/p", &second).unwrap();
        assert_eq!(uri.to_string(), "http://backend/p/two");
        assert_eq!(upstreams.bases.len(), 1);
        assert!(upstream_url(&upstreams, "not a url", &second).is_none());
    }

    #[test]
    fn a_timed_out_connect_anywhere_in_the_chain_is_a_timeout() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let timed_out = Wrapper(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"));
        let refused = Wrapper(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert!(is_timeout(&timed_out));
        assert!(!is_timeout(&refused));
        assert_eq!(error_chain(&refused), "client error (Connect): refused");
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "x-private, keep-alive"),
            ("x-private", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("proxy-connection", "keep-alive"),
            ("x-kept", "yes"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        remove_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-kept"]);
    }
}
