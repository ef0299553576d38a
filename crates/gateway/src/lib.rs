//! The data plane of Portcullis (axum): forward auth (`/authz`), the reverse proxy (the router's
//! fallback), the sandbox API (`/sandbox/v1`), the operations endpoints (`/healthz`, `/readyz`,
//! `/metrics`) and the metrics registry with its latency layer.
//!
//! `/authz` reads from request to decision here plus `policy` and `jose`: [`trust`] says which
//! headers describe the request, [`forward_auth::decide`] is the one decision (the proxy calls it
//! too), tokens are validated by `portcullis_runtime::validate`, every RFC 6750 answer is a
//! [`challenge::Challenge`].
//!
//! What it does not know: portal sessions, CSRF, password hashing, the admin portal, the cloud
//! service API or declarative files (all `portcullis-control`, which it never depends on). Its
//! state is narrow ([`GatewayState`]): the runtime, its metrics, the upstream client, the sandbox
//! rate limiter and [`GatewaySettings`].
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod forward_auth;
pub mod metrics;
pub mod ops;
pub mod proxy;
pub mod ratelimit;
pub mod sandbox;
pub mod tls_health;
pub mod trust;
pub mod well_known;

pub use portcullis_http::challenge;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use portcullis_http::ApiError;
use portcullis_runtime::Runtime;

use crate::metrics::Metrics;
use crate::proxy::Upstreams;
use crate::ratelimit::RateLimiter;
use crate::trust::{ForwardAuthMode, TrustedProxies};
use portcullis_policy::resource_metadata::WELL_KNOWN;

/// Deployment settings the gateway needs.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The deployment's cloud name (the `<cloud>` of API-role scopes the sandbox evaluates).
    pub cloud_name: String,
    /// Which header family describes the original request at `/authz` (`PORTCULLIS_FORWARD_AUTH`).
    pub forward_auth: ForwardAuthMode,
    /// Proxies whose `X-Forwarded-*` headers are believed (`PORTCULLIS_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// Time allowed to connect to a reverse-proxy upstream.
    pub upstream_connect_timeout: Duration,
    /// Time allowed for a reverse-proxy upstream's response headers (then 504).
    pub upstream_response_timeout: Duration,
    /// Whether the deployment is served over https (the proxy's `X-Forwarded-Proto`).
    pub https: bool,
    /// Idle timeout of legacy API-key sessions (the `api_key` credential of routes).
    pub legacy_session_idle: Duration,
    /// Sandbox API requests per second per client address, sustained.
    pub sandbox_rate_per_s: f64,
    /// Sandbox API requests per client address at once.
    pub sandbox_burst: u32,
    /// The base URL clients reach this deployment at (RFC 9728 documents name resources by it).
    pub public_base_url: String,
    /// Where `/` redirects when no route with an upstream claims it (the composer sets the
    /// portal's home); `None`: `/` is the reverse proxy's like any other path.
    pub root_redirect: Option<String>,
}

/// Everything a gateway handler can reach.
#[derive(Clone)]
pub struct GatewayState {
    /// The live configuration (snapshot, token validation, legacy sessions, counters).
    pub runtime: Arc<Runtime>,
    /// The gateway's counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The reverse proxy's upstream client.
    pub upstreams: Arc<Upstreams>,
    /// Per-client budget of the sandbox API.
    pub limiter: Arc<RateLimiter>,
    /// Settings.
    pub settings: Arc<GatewaySettings>,
    /// What the TLS listeners report (empty without TLS).
    pub tls: Arc<tls_health::TlsHealth>,
}

impl GatewayState {
    /// Counts a forward-auth decision (`allow` / `deny` with its reason): in `/metrics` and in
    /// the runtime's decision counts the portal's dashboard shows (both lock-free).
    pub fn decide(&self, result: &'static str, reason: Option<&'static str>) {
        self.metrics.decide(result, reason);
        self.runtime.decisions.record(result == "allow", reason);
    }

    /// [`GatewayState::decide`] for a decision on a token of `server` (counted per server too,
    /// for the server's page).
    pub fn decide_for(
        &self,
        server: Option<&str>,
        result: &'static str,
        reason: Option<&'static str>,
    ) {
        self.decide(result, reason);
        if let Some(server) = server {
            self.runtime
                .decisions
                .record_server(server, result == "allow");
        }
    }
}

impl GatewayState {
    /// State over `runtime` with fresh metrics, an upstream client and a rate limiter built
    /// from `settings`.
    pub fn new(runtime: Arc<Runtime>, settings: GatewaySettings) -> Self {
        let upstreams = Upstreams::new(
            settings.upstream_connect_timeout,
            settings.upstream_response_timeout,
        );
        let limiter = RateLimiter::new(settings.sandbox_rate_per_s, settings.sandbox_burst);
        Self {
            runtime,
            metrics: Arc::new(Metrics::default()),
            upstreams: Arc::new(upstreams),
            limiter: Arc::new(limiter),
            settings: Arc::new(settings),
            tls: Arc::default(),
        }
    }
}

/// Largest JSON body the sandbox API accepts.
pub use portcullis_http::json::MAX_BODY_BYTES;

/// The gateway's router: `/authz` (and below), `/sandbox/v1`, `/healthz`, `/readyz`,
/// `/metrics`, `/`, and the reverse proxy as the fallback. Without the cross-cutting layers
/// (request id, trace, latency): the composer adds them around both planes.
pub fn router() -> Router<GatewayState> {
    let sandbox = Router::new()
        .route("/evaluate", post(sandbox::evaluate))
        .fallback(|| async { ApiError::not_found("sandbox API endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .nest("/sandbox/v1", sandbox)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route(WELL_KNOWN, get(well_known::api))
        .route(&format!("{WELL_KNOWN}/{{*rest}}"), get(well_known::route))
        .route("/authz", any(forward_auth::authz))
        .route("/authz/{*rest}", any(forward_auth::authz))
        .route("/", any(root))
        .fallback(proxy::proxy)
}

/// `/`: the reverse proxy's when a route with an upstream matches it (an operator may put a whole
/// site behind Portcullis), else a redirect to [`GatewaySettings::root_redirect`].
async fn root(State(state): State<GatewayState>, request: Request) -> Response {
    let Some(home) = state.settings.root_redirect.clone() else {
        return proxy::proxy(State(state), request).await;
    };
    // Decided on the same canonical host and target as the proxy; a request the proxy would
    // refuse as ambiguous goes to it for that answer.
    let host = trust::request_host(request.headers(), request.uri());
    let target = portcullis_policy::target::canonicalize_target(
        request
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .as_bytes(),
    );
    let proxied = match (host, target) {
        (Ok(host), Ok(target)) => state
            .runtime
            .snapshot
            .load()
            .routes
            .route(request.method().as_str(), host.as_ref(), &target)
            .is_some_and(|route| route.definition.upstream.is_some()),
        _ => true,
    };
    if proxied {
        proxy::proxy(State(state), request).await
    } else {
        Redirect::to(&home).into_response()
    }
}
