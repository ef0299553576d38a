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
/// histograms). A tower layer with its own future rather than `axum::middleware::from_fn`: that
/// boxes a future and clones the inner service on every request (≈ 1.5 % of a cached `/authz`
/// decision's time in a `perf` profile).
#[derive(Clone)]
struct EdgeLayer(Arc<GatewayState>);

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Edge {
            inner,
            state: Arc::clone(&self.0),
        }
    }
}

/// The service of [`EdgeLayer`].
#[derive(Clone)]
struct Edge<S> {
    inner: S,
    state: Arc<GatewayState>,
}

/// What [`Edge`] keeps of a request until its answer: when it started, and only what is needed
/// to find the route again when the answer is a challenge (allowed requests pay for two cheap
/// clones, not a second canonicalisation).
struct EdgeRequest {
    state: Arc<GatewayState>,
    started: std::time::Instant,
    endpoint: metrics::Endpoint,
    method: axum::http::Method,
    uri: axum::http::Uri,
    host: Option<HeaderValue>,
}

impl<S> tower::Service<axum::extract::Request> for Edge<S>
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        >,
{
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let mut hosts = request.headers().get_all(header::HOST).iter();
        let host = match (hosts.next(), hosts.next()) {
            (Some(host), None) => Some(host.clone()),
            _ => None,
        };
        let edge = EdgeRequest {
            state: Arc::clone(&self.state),
            started: std::time::Instant::now(),
            endpoint: metrics::Endpoint::of(request.uri().path()),
            method: request.method().clone(),
            uri: request.uri().clone(),
            host,
        };
        EdgeFuture {
            inner: self.inner.call(request),
            edge: Some(edge),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Edge`]: the inner answer, then [`EdgeRequest::finish`].
    struct EdgeFuture<F> {
        #[pin]
        inner: F,
        edge: Option<EdgeRequest>,
    }
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<axum::response::Response, Infallible>>,
{
    type Output = Result<axum::response::Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = std::task::ready!(this.inner.poll(cx));
        // Polled again after completion only by a broken executor; the answer passes unchanged.
        let response = match this.edge.take() {
            Some(edge) => edge.finish(response),
            None => response,
        };
        std::task::Poll::Ready(Ok(response))
    }
}

impl EdgeRequest {
    /// Records the latency and adds `resource_metadata` to a challenge of ours.
    fn finish(self, mut response: axum::response::Response) -> axum::response::Response {
        let state = &self.state;
        state
            .metrics
            .observe_latency(self.endpoint, self.started.elapsed());
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
        let proxied_path = proxied_resource_path(state, &self.method, &self.uri, self.host);
        let url = portcullis_policy::resource_metadata::metadata_url(
            &state.settings.public_base_url,
            proxied_path.as_deref(),
        );
        if let Ok(value) =
            HeaderValue::from_str(&format!("{challenge}, resource_metadata=\"{url}\""))
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
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
        .layer(EdgeLayer(Arc::new(state.gateway.clone())))
        .service(router);
    BoxCloneSyncService::new(stack)
}

/// Request ids: random version-4 UUIDs from aws-lc's user-space DRBG. tower-http's
/// `MakeRequestUuid` asks the kernel (`getrandom(2)`, one system call) for every request; the
/// DRBG is seeded from the kernel and costs no system call per id. Random rather than a counter,
/// so an id tells a client nothing about how many requests a node serves.
#[derive(Clone, Copy)]
struct RandomRequestId;

/// Random bytes for [`RandomRequestId`], drawn from the DRBG [`ID_BATCH`] ids at a time: each
/// DRBG call has a fixed cost (locking, reseed bookkeeping, an `RDRAND` read that is slow under
/// a hypervisor) that one id per call paid on every request (≈ 2.7 % of a cached `/authz`
/// decision's time in a `perf` profile). Ids are not secrets, so holding some ahead is harmless.
struct IdBytes {
    bytes: [u8; 16 * ID_BATCH],
    used: usize,
}

const ID_BATCH: usize = 64;

thread_local! {
    static ID_BYTES: std::cell::RefCell<IdBytes> = const {
        std::cell::RefCell::new(IdBytes { bytes: [0; 16 * ID_BATCH], used: 16 * ID_BATCH })
    };
}

/// 16 fresh random bytes (never handed out twice); `None` if the DRBG fails.
fn random_id_bytes() -> Option<[u8; 16]> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    ID_BYTES.with_borrow_mut(|batch| {
        if batch.used == batch.bytes.len() {
            SystemRandom::new().fill(&mut batch.bytes).ok()?;
            batch.used = 0;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(batch.bytes.get(batch.used..batch.used + 16)?);
        batch.used += 16;
        Some(id)
    })
}

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let mut bytes = random_id_bytes()?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_version_4_uuids_across_batches() {
        let request = axum::http::Request::new(());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 * ID_BATCH + 1 {
            let id = RandomRequestId.make_request_id(&request).unwrap();
            let text = id.header_value().to_str().unwrap().to_owned();
            let groups: Vec<usize> = text.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{text}");
            assert!(
                text.bytes().all(|b| b == b'-' || HEX.contains(&b)),
                "{text}"
            );
            assert_eq!(&text[14..15], "4", "version: {text}");
            assert!("89ab".contains(&text[19..20]), "variant: {text}");
            assert!(seen.insert(text), "an id was handed out twice");
        }
    }
}
