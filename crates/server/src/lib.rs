//! The HTTP edge of Portcullis (axum): the cloud service API under `/api/v1`, forward auth
//! (`/authz`), the sandbox API (`/sandbox/v1`), the reverse proxy, operations endpoints, and the
//! admin portal under `/portal/` (server-rendered pages over the API's session; see [`portal`]).
//!
//! Handlers are thin: they authenticate (`auth`), parse strictly (`json`), call the pure
//! `policy` crate for rules and the `store` for persistence, and convert every failure once
//! through [`error::ApiError`]. Nothing below this crate knows HTTP.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod auth;
pub mod bearer;
pub mod cluster;
pub mod declarative;
pub mod error;
pub mod forward_auth;
pub mod json;
pub mod keycheck;
pub mod legacy;
pub mod metrics;
pub mod portal;
pub mod proxy;
pub mod ratelimit;
pub mod runtime;
pub mod sandbox;
pub mod secrets;
pub mod state;
pub mod time;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use state::{AppState, Settings};

use crate::api::routes as api_routes;
use crate::api::{
    admins, api_key, audit, legacy_session, ops, roles, sandbox_tokens, servers, session,
};
use crate::error::ApiError;

/// The request id header set on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The full router.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let api = Router::new()
        .route("/status", get(ops::status))
        .route("/auth/login", post(session::login))
        .route("/auth/logout", post(session::logout))
        .route(
            "/authenticatedSession",
            get(legacy_session::get)
                .post(legacy_session::create)
                .delete(legacy_session::delete),
        )
        .route(
            "/apiKey",
            get(api_key::get)
                .post(api_key::create)
                .put(api_key::replace)
                .delete(api_key::delete),
        )
        .route("/apiKey/regenerate", post(api_key::regenerate))
        .route("/apiKey/reveal", post(api_key::reveal))
        .route(
            "/sandboxTokens",
            get(sandbox_tokens::list).post(sandbox_tokens::create),
        )
        .route(
            "/sandboxTokens/{id}",
            axum::routing::put(sandbox_tokens::rename).delete(sandbox_tokens::delete),
        )
        .route(
            "/sandboxTokens/{id}/regenerate",
            post(sandbox_tokens::regenerate),
        )
        .route(
            "/authorizationServers",
            get(servers::list).post(servers::create),
        )
        .route("/authorizationServers/validate", post(servers::validate))
        .route(
            "/authorizationServers/{id}",
            get(servers::get)
                .put(servers::replace)
                .delete(servers::delete),
        )
        .route("/authorizationServers/{id}/refresh", post(servers::refresh))
        .route(
            "/apiRoles",
            get(roles::api_roles::list).post(roles::api_roles::create),
        )
        .route(
            "/apiRoles/{id}",
            get(roles::api_roles::get)
                .put(roles::api_roles::replace)
                .delete(roles::api_roles::delete),
        )
        .route(
            "/adminRoles",
            get(roles::admin_roles::list).post(roles::admin_roles::create),
        )
        .route(
            "/adminRoles/{id}",
            get(roles::admin_roles::get)
                .put(roles::admin_roles::replace)
                .delete(roles::admin_roles::delete),
        )
        .route("/admins", get(admins::list).post(admins::create))
        .route(
            "/admins/{id}",
            get(admins::get).put(admins::replace).delete(admins::delete),
        )
        .route("/routes", get(api_routes::list).post(api_routes::create))
        .route(
            "/routes/{id}",
            get(api_routes::get)
                .put(api_routes::replace)
                .delete(api_routes::delete),
        )
        .route("/auditLogs", get(audit::list))
        .route("/auditLogs.csv", get(audit::csv))
        .route("/cluster/nodes", get(crate::api::cluster::nodes))
        .fallback(|| async { ApiError::not_found("API endpoint") })
        .layer(DefaultBodyLimit::max(json::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            apply_changes,
        ));
    let sandbox = Router::new()
        .route("/evaluate", post(sandbox::evaluate))
        .fallback(|| async { ApiError::not_found("sandbox API endpoint") })
        .layer(DefaultBodyLimit::max(json::MAX_BODY_BYTES));
    Router::new()
        .nest("/api/v1", api)
        .nest("/sandbox/v1", sandbox)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/authz", axum::routing::any(forward_auth::authz))
        .route("/authz/{*rest}", axum::routing::any(forward_auth::authz))
        .merge(portal::router())
        .fallback(proxy::proxy)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state,
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

/// After a successful change through the API, rebuild the snapshot before answering, so the
/// change takes effect on the very next request (DESIGN.md §2).
async fn apply_changes(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let changes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let response = next.run(request).await;
    if changes && response.status().is_success() {
        runtime::rebuild_or_log(&state).await;
    }
    response
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
