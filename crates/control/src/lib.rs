//! The control plane of Portcullis (axum): the cloud service API under `/api/v1` (sessions,
//! CSRF, the bearer-token → API-role mapping, credentials, OpenAPI), declarative configuration
//! files, secrets at rest and password hashing ([`secrets`]), and the admin portal under
//! `/portal/` ([`portal`], a separate module tree that uses the API's public functions only).
//!
//! Handlers are thin: they authenticate (`auth`), parse strictly (`json`), call the pure
//! `policy` crate for rules and the `store` for persistence, and convert every failure once
//! through [`error::ApiError`]. After every successful change the snapshot is rebuilt
//! (`portcullis_runtime::rebuild`) before the answer.
//!
//! What it does not do: forward auth, the reverse proxy, the sandbox API, metrics or the
//! operations endpoints (the gateway's); it never depends on `portcullis-gateway`.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod auth;
pub mod bearer;
pub mod declarative;
pub mod extract;
pub mod governance;
pub mod keycheck;
pub mod limiter;
pub mod openapi;
pub mod portal;
pub mod principal;
pub mod request_schemas;
pub mod secrets;
pub mod state;
pub mod time;

pub use portcullis_http::{error, json};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::routing::{MethodFilter, MethodRouter, on};

pub use state::{ControlSettings, ControlState};

use crate::api::routes as api_routes;
use crate::api::{
    admins, api_key, audit, legacy_session, ops, roles, sandbox_tokens, servers, session,
};
use crate::error::ApiError;

/// The API's prefix.
pub const API_PREFIX: &str = "/api/v1";

/// One operation of the cloud service API: method, path below [`API_PREFIX`], handler, access.
type Operation = (Method, &'static str, MethodRouter<ControlState>, Access);

/// Builds the operation table; the method and the handler's method filter come from one token,
/// so a row cannot serve another method than it names.
macro_rules! operations {
    ($(($method:ident, $path:literal, $handler:path $(, $access:ident)?)),* $(,)?) => {
        vec![$((
            Method::$method,
            $path,
            on(MethodFilter::$method, $handler),
            operations!(@access $($access)?),
        )),*]
    };
    (@access public) => { Access::Public };
    (@access) => { Access::Credentials };
}

/// Who may call an operation: its row in [`api_operations`] says it, and nothing else does
/// (the OpenAPI document's `security` is held to it by `tests/openapi.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: no credentials needed (status, the document, the two sign-in endpoints).
    Public,
    /// A session, a bearer token or a legacy API-key session.
    Credentials,
}

/// Every operation of the cloud service API. The router is built from this table and nothing
/// else, so [`api_routes`] is exactly what it serves under `/api/v1`; `tests/openapi.rs` holds
/// the OpenAPI document ([`openapi::ApiDoc`]) to the same list, so an operation added here
/// without a `#[utoipa::path]` annotation (or the reverse) fails the test.
fn api_operations() -> Vec<Operation> {
    operations![
        (GET, "/status", ops::status, public),
        (GET, "/status/pending", crate::api::activation::list),
        (POST, "/status/activate", crate::api::activation::activate),
        (
            DELETE,
            "/status/pending/{id}",
            crate::api::activation::discard
        ),
        (GET, "/openapi.json", openapi::openapi_json, public),
        (POST, "/auth/login", session::login, public),
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
        (
            POST,
            "/authenticatedSession",
            legacy_session::create,
            public
        ),
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
        (GET, "/orgSettings", crate::api::org_settings::get),
        (PUT, "/orgSettings", crate::api::org_settings::replace),
    ]
}

/// Every `(method, full path)` the router serves under `/api/v1` (paths in OpenAPI's `{id}`
/// form, which is also axum's).
pub fn api_routes() -> Vec<(Method, String)> {
    api_operations()
        .into_iter()
        .map(|(method, path, _, _)| (method, format!("{API_PREFIX}{path}")))
        .collect()
}

/// The operations anyone may call without credentials, from the router's own table.
pub fn public_api_routes() -> Vec<(Method, String)> {
    api_operations()
        .into_iter()
        .filter(|(_, _, _, access)| *access == Access::Public)
        .map(|(method, path, _, _)| (method, format!("{API_PREFIX}{path}")))
        .collect()
}

/// The `/api/v1` router, from [`api_operations`].
fn api_router(state: &ControlState) -> Router<ControlState> {
    let mut by_path: std::collections::BTreeMap<&'static str, MethodRouter<ControlState>> =
        std::collections::BTreeMap::new();
    for (_, path, handler, _) in api_operations() {
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            governance::govern,
        ))
}

/// The control plane's router: `/api/v1` and the portal under `/portal/`.
pub fn router(state: &ControlState) -> Router<ControlState> {
    Router::new()
        .nest(API_PREFIX, api_router(state))
        .merge(portal::router())
}

/// After a successful change through the API, rebuild the snapshot before answering, so the
/// change takes effect on the very next request (DESIGN.md §2).
async fn apply_changes(
    axum::extract::State(state): axum::extract::State<ControlState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let changes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let response = next.run(request).await;
    if changes && response.status().is_success() {
        portcullis_runtime::rebuild_or_log(&state.runtime).await;
    }
    response
}
