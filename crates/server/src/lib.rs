//! The HTTP edge of Portcullis, composed: the data plane (`portcullis-gateway`: forward auth,
//! the reverse proxy, the sandbox API, operations endpoints and metrics) and the control plane
//! (`portcullis-control`: the cloud service API, sessions, credentials, declarative files and the
//! admin portal) under one router and one [`AppState`], over the shared live configuration
//! (`portcullis-runtime`).
//!
//! This crate only wires: it derives each plane's settings from [`Settings`], builds both states
//! over one [`portcullis_runtime::Runtime`], merges the two routers and wraps them in the
//! cross-cutting layers (request id, trace, `nosniff`, `no-store`, latency). The modules the
//! binary and the tests use are re-exported under their old paths.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod runtime;
pub mod state;
pub mod tls;

pub use portcullis_control::{
    API_PREFIX, api, api_routes, auth, bearer, declarative, error, extract, json, keycheck,
    openapi, portal, public_api_routes, secrets, time,
};
pub use portcullis_gateway::{
    challenge, forward_auth, metrics, ops, proxy, ratelimit, sandbox, trust,
};
pub use portcullis_runtime::{cluster, legacy};
pub use state::{AppState, Settings};

use portcullis_control::API_PREFIX as API;
use portcullis_control::error::ApiError;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Redirect;
use axum::routing::{any, get};
use axum::{Router, ServiceExt as _};
use portcullis_gateway::GatewayState;
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The request id header set on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The full application of a single listener: the control plane's routes (`/api/v1`,
/// `/portal/`) merged with the gateway's (`/authz`, `/sandbox/v1`, operations, `/`, the
/// reverse-proxy fallback), inside the layers every answer gets.
pub fn router(state: AppState) -> App {
    let control = portcullis_control::router(&state.control).with_state(state.control.clone());
    let gateway = portcullis_gateway::router().with_state(state.gateway.clone());
    with_layers(control.merge(gateway), &state)
}

/// The main listener when the portal and the API have their own (`PORTCULLIS_ADMIN_LISTEN`): the
/// data plane only. `/api/v1` and `/portal` answer the JSON 404 here (never proxied, so an
/// upstream cannot be reached under Portcullis's own paths either).
pub fn main_router(state: AppState) -> App {
    let hidden = || async { ApiError::not_found("endpoint") };
    let gateway = Router::new()
        .route(API, any(hidden))
        .route(&format!("{API}/{{*rest}}"), any(hidden))
        .route(portcullis_control::portal::PREFIX, any(hidden))
        .route(
            &format!("{}/{{*rest}}", portcullis_control::portal::PREFIX),
            any(hidden),
        )
        .with_state(state.gateway.clone())
        .merge(portcullis_gateway::router().with_state(state.gateway.clone()));
    with_layers(gateway, &state)
}

/// The admin listener (`PORTCULLIS_ADMIN_LISTEN`): the portal and `/api/v1` only; `/` redirects
/// to the portal; anything else is the JSON 404.
pub fn admin_router(state: AppState) -> App {
    let control = portcullis_control::router(&state.control)
        .route(
            "/",
            get(|| async { Redirect::to(portcullis_control::portal::HOME) }),
        )
        .fallback(|| async { ApiError::not_found("endpoint") })
        .with_state(state.control.clone());
    with_layers(control, &state)
}

/// Adds RFC 9728 §5.1's `resource_metadata` to every `Bearer` challenge of the `portcullis`
/// realm: the route's document for a reverse-proxied route, else the cloud service API's (the
/// sandbox realm is not an OAuth-protected resource and gets none).
///
/// It also times every request to its response headers, by endpoint (the gateway's latency
/// histograms): one middleware, so one boxed future per request rather than two.
async fn edge(
    axum::extract::State(state): axum::extract::State<Arc<GatewayState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let endpoint = metrics::Endpoint::of(request.uri().path());
    // Only what is needed to find the route later, and only looked at when the answer is a
    // challenge: allowed requests pay for two cheap clones, not a second canonicalisation.
    let method = request.method().clone();
    let uri = request.uri().clone();
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => Some(host.clone()),
        _ => None,
    };
    let mut response = next.run(request).await;
    state.metrics.observe_latency(endpoint, started.elapsed());
    let Some(challenge) = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
    else {
        return response;
    };
    let ours = challenge == "Bearer realm=\"portcullis\""
        || challenge.starts_with("Bearer realm=\"portcullis\",");
    if !ours || challenge.contains("resource_metadata=") {
        return response;
    }
    let proxied_path = proxied_resource_path(&state, &method, &uri, host);
    let url = portcullis_policy::resource_metadata::metadata_url(
        &state.settings.public_base_url,
        proxied_path.as_deref(),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("{challenge}, resource_metadata=\"{url}\"")) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The resource path of the route with an upstream that served this request, if any (the same
/// canonical host and target the proxy decided on).
fn proxied_resource_path(
    state: &GatewayState,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    host: Option<HeaderValue>,
) -> Option<String> {
    let path = uri.path();
    if path.starts_with("/api/") || path.starts_with("/authz") || path.starts_with("/sandbox/") {
        return None;
    }
    let target = portcullis_policy::target::canonicalize_target(
        uri.path_and_query()
            .map_or("/", |pq| pq.as_str())
            .as_bytes(),
    )
    .ok()?;
    let mut headers = axum::http::HeaderMap::new();
    if let Some(host) = host {
        headers.insert(header::HOST, host);
    }
    let host = trust::request_host(&headers, uri).ok()?;
    let snapshot = state.runtime.snapshot.load();
    let route = snapshot
        .routes
        .route(method.as_str(), host.as_ref(), &target)?;
    portcullis_policy::resource_metadata::route_resource_path(route).map(str::to_owned)
}

/// What a listener serves: the router inside the layers every answer gets.
pub type App = BoxCloneSyncService<axum::extract::Request, axum::response::Response, Infallible>;

/// The layers every answer gets: request id, trace, `no-store`, `nosniff`, latency metrics and
/// the RFC 9728 parameter on challenges.
///
/// They wrap the router once, as one stack. (`Router::layer` would wrap every route's boxed
/// service instead, and every request would clone and drop that whole boxed stack: about a
/// fifth of the instructions of a cached `/authz` decision, see `bench/hot-path.md`.)
fn with_layers(router: Router, state: &AppState) -> App {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let stack = ServiceBuilder::new()
        .map_response(|response: axum::http::Response<_>| response.map(axum::body::Body::new))
        .layer(SetRequestIdLayer::new(request_id.clone(), RandomRequestId))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(state.gateway.clone()),
            edge,
        ))
        .service(router);
    BoxCloneSyncService::new(stack)
}

/// Request ids: random version-4 UUIDs from aws-lc's user-space DRBG. tower-http's
/// `MakeRequestUuid` asks the kernel (`getrandom(2)`, one system call) for every request; the
/// DRBG is seeded from the kernel and costs no system call per id. Random rather than a counter,
/// so an id tells a client nothing about how many requests a node serves.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        use aws_lc_rs::rand::{SecureRandom, SystemRandom};
        let mut bytes = [0u8; 16];
        SystemRandom::new().fill(&mut bytes).ok()?;
        bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 9562 variant
        let mut text = [0u8; 36];
        let mut at = 0;
        for (i, byte) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                text[at] = b'-';
                at += 1;
            }
            text[at] = HEX[usize::from(byte >> 4)];
            text[at + 1] = HEX[usize::from(byte & 0x0f)];
            at += 2;
        }
        HeaderValue::from_bytes(&text).ok().map(RequestId::new)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A bound listener and, for TLS, its rustls configuration.
pub struct Listener {
    /// The socket.
    pub tcp: tokio::net::TcpListener,
    /// `Some` to terminate TLS on it (see [`tls`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves one router on one listener until `stop` says so.
async fn run(
    listener: Listener,
    app: App,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    match listener.tls {
        None => {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener.tcp, app)
                .with_graceful_shutdown(stopped)
                .await
        }
        Some(config) => {
            // Under TLS, browsers are told to keep to https (RFC 6797).
            let app = BoxCloneSyncService::new(
                ServiceBuilder::new()
                    .layer(SetResponseHeaderLayer::if_not_present(
                        header::STRICT_TRANSPORT_SECURITY,
                        HeaderValue::from_static("max-age=31536000"),
                    ))
                    .service(app),
            );
            tls::serve(listener.tcp, config, app, stopped).await
        }
    }
}

/// Serves `state` on `main` (everything, or with `admin` the data plane only) and on `admin`
/// (the portal and the API) until `shutdown` completes, then drains every listener.
pub async fn serve_listeners(
    main: Listener,
    admin: Option<Listener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let result = match admin {
        None => run(main, router(state.clone()), stop_rx).await,
        Some(admin) => {
            let (main_result, admin_result) = tokio::join!(
                run(main, main_router(state.clone()), stop_rx.clone()),
                run(admin, admin_router(state.clone()), stop_rx),
            );
            main_result.and(admin_result)
        }
    };
    tokio::time::timeout(Duration::from_secs(5), state.store.close())
        .await
        .ok();
    result
}

/// Serves `state` on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tokio::time::timeout(Duration::from_secs(5), state.store.close())
        .await
        .ok();
    Ok(())
}
