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
pub mod extract;
pub mod forward_auth;
pub mod json;
pub mod keycheck;
pub mod legacy;
pub mod metrics;
pub mod openapi;
pub mod portal;
pub mod proxy;
pub mod ratelimit;
pub mod runtime;
pub mod sandbox;
pub mod secrets;
pub mod state;
pub mod time;
pub mod trust;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::{MethodFilter, MethodRouter, get, on, post};
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

/// The API's prefix.
pub const API_PREFIX: &str = "/api/v1";

/// One operation of the cloud service API: method, path below [`API_PREFIX`], handler.
type Operation = (Method, &'static str, MethodRouter<AppState>);

/// Builds the operation table; the method and the handler's method filter come from one token,
/// so a row cannot serve another method than it names.
macro_rules! operations {
    ($(($method:ident, $path:literal, $handler:path)),* $(,)?) => {
        vec![$((Method::$method, $path, on(MethodFilter::$method, $handler))),*]
    };
}

/// Every operation of the cloud service API. The router is built from this table and nothing
/// else, so [`api_routes`] is exactly what it serves under `/api/v1`; `tests/openapi.rs` holds
/// the OpenAPI document ([`openapi::ApiDoc`]) to the same list, so an operation added here
/// without a `#[utoipa::path]` annotation (or the reverse) fails the test.
fn api_operations() -> Vec<Operation> {
    operations![
        (GET, "/status", ops::status),
        (GET, "/openapi.json", openapi::openapi_json),
        (POST, "/auth/login", session::login),
        (POST, "/auth/logout", session::logout),
        (GET, "/authorizationServers", servers::list),
        (POST, "/authorizationServers", servers::create),
        (POST, "/authorizationServers/validate", servers::validate),
        (GET, "/authorizationServers/{id}", servers::get),
        (PUT, "/authorizationServers/{id}", servers::replace),
        (DELETE, "/authorizationServers/{id}", servers::delete),
        (POST, "/authorizationServers/{id}/refresh", servers::refresh),
        (GET, "/apiRoles", roles::api_roles::list),
        (POST, "/apiRoles", roles::api_roles::create),
        (GET, "/apiRoles/{id}", roles::api_roles::get),
        (PUT, "/apiRoles/{id}", roles::api_roles::replace),
        (DELETE, "/apiRoles/{id}", roles::api_roles::delete),
        (GET, "/adminRoles", roles::admin_roles::list),
        (POST, "/adminRoles", roles::admin_roles::create),
        (GET, "/adminRoles/{id}", roles::admin_roles::get),
        (PUT, "/adminRoles/{id}", roles::admin_roles::replace),
        (DELETE, "/adminRoles/{id}", roles::admin_roles::delete),
        (GET, "/admins", admins::list),
        (POST, "/admins", admins::create),
        (GET, "/admins/{id}", admins::get),
        (PUT, "/admins/{id}", admins::replace),
        (DELETE, "/admins/{id}", admins::delete),
        (GET, "/routes", api_routes::list),
        (POST, "/routes", api_routes::create),
        (GET, "/routes/{id}", api_routes::get),
        (PUT, "/routes/{id}", api_routes::replace),
        (DELETE, "/routes/{id}", api_routes::delete),
        (GET, "/auditLogs", audit::list),
        (GET, "/auditLogs.csv", audit::csv),
        (GET, "/authenticatedSession", legacy_session::get),
        (POST, "/authenticatedSession", legacy_session::create),
        (DELETE, "/authenticatedSession", legacy_session::delete),
        (GET, "/apiKey", api_key::get),
        (POST, "/apiKey", api_key::create),
        (PUT, "/apiKey", api_key::replace),
        (DELETE, "/apiKey", api_key::delete),
        (POST, "/apiKey/regenerate", api_key::regenerate),
        (POST, "/apiKey/reveal", api_key::reveal),
        (GET, "/sandboxTokens", sandbox_tokens::list),
        (POST, "/sandboxTokens", sandbox_tokens::create),
        (PUT, "/sandboxTokens/{id}", sandbox_tokens::rename),
        (DELETE, "/sandboxTokens/{id}", sandbox_tokens::delete),
        (
            POST,
            "/sandboxTokens/{id}/regenerate",
            sandbox_tokens::regenerate
        ),
        (GET, "/cluster/nodes", crate::api::cluster::nodes),
    ]
}

/// Every `(method, full path)` the router serves under `/api/v1` (paths in OpenAPI's `{id}`
/// form, which is also axum's).
pub fn api_routes() -> Vec<(Method, String)> {
    api_operations()
        .into_iter()
        .map(|(method, path, _)| (method, format!("{API_PREFIX}{path}")))
        .collect()
}

/// The `/api/v1` router, from [`api_operations`].
fn api_router(state: &AppState) -> Router<AppState> {
    let mut by_path: std::collections::BTreeMap<&'static str, MethodRouter<AppState>> =
        std::collections::BTreeMap::new();
    for (_, path, handler) in api_operations() {
        let merged = match by_path.remove(path) {
            Some(existing) => existing.merge(handler),
            None => handler,
        };
        by_path.insert(path, merged);
    }
    let mut api = Router::new();
    for (path, handler) in by_path {
        api = api.route(path, handler);
    }
    api.fallback(|| async { ApiError::not_found("API endpoint") })
        // A known path with another method: 405 with `Allow` (set by axum) and the JSON error
        // body like every other API error.
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed here; see the Allow header",
            )
        })
        .layer(DefaultBodyLimit::max(json::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            apply_changes,
        ))
}

/// The full router.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let sandbox = Router::new()
        .route("/evaluate", post(sandbox::evaluate))
        .fallback(|| async { ApiError::not_found("sandbox API endpoint") })
        .layer(DefaultBodyLimit::max(json::MAX_BODY_BYTES));
    Router::new()
        .nest(API_PREFIX, api_router(&state))
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
