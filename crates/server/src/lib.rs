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

pub use portcullis_control::{
    API_PREFIX, api, api_routes, auth, bearer, declarative, error, extract, json, keycheck,
    openapi, portal, public_api_routes, secrets, time,
};
pub use portcullis_gateway::{
    challenge, forward_auth, metrics, ops, proxy, ratelimit, sandbox, trust,
};
pub use portcullis_runtime::{cluster, legacy};
pub use state::{AppState, Settings};

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The request id header set on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The full router: the control plane's routes (`/api/v1`, `/portal/`) merged with the
/// gateway's (`/authz`, `/sandbox/v1`, operations, `/`, the reverse-proxy fallback), inside the
/// layers every answer gets.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let control = portcullis_control::router(&state.control).with_state(state.control.clone());
    let gateway = portcullis_gateway::router().with_state(state.gateway.clone());
    control
        .merge(gateway)
        .layer(axum::middleware::from_fn_with_state(
            state.gateway,
            metrics::measure_latency,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
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
