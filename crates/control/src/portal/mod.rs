//! The admin portal (DESIGN.md §6 "Portal"): server-rendered pages over the same session as the
//! cloud service API, with small hand-written scripts that call the JSON API for every change.
//!
//! What lives here: page handlers that read the store and render askama templates (automatic
//! HTML escaping; `crates/control/templates/`), the embedded CSS and scripts
//! (`crates/control/assets/`, see [`assets`]), and the security headers every portal response
//! carries. What does not: business rules. Field checks, permissions, lockout and CSRF are the
//! API's; the scripts send the API's requests and show its `{code, message, fields}` answers, so
//! the portal cannot accept what the API refuses.

pub mod assets;
mod dashboard;
mod pages;
mod plain;
mod server_page;
mod settings_page;
mod tester;
mod view;

pub use pages::HOME;

/// Where every portal page lives.
pub const PREFIX: &str = "/portal";

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use portcullis_policy::permissions::{Category, Permissions};

use crate::auth::{AdminSession, admin_session, session_id_from};
use crate::error::ApiError;
use crate::state::ControlState;

/// `Content-Security-Policy` of every portal response: scripts and styles only from our own
/// embedded files (no inline script, no inline style, no `eval`), no plugins, no framing, no
/// `<base>` rewriting, forms post only to us.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; \
     object-src 'none'; base-uri 'none'; form-action 'self'";

/// The portal's routes: everything under `/portal/` (one reserved prefix, so the portal never
/// shadows an upstream path the reverse proxy serves). `/` is the gateway's: it redirects to
/// [`HOME`] (the composer says so) unless a route with an upstream claims it.
pub fn router() -> Router<ControlState> {
    Router::new()
        .route("/portal", get(|| async { Redirect::to(pages::HOME) }))
        .route("/portal/", get(|| async { Redirect::to(pages::HOME) }))
        .route("/portal/login", get(pages::login))
        .route(pages::HOME, get(dashboard::dashboard))
        .route(pages::SERVERS, get(pages::servers))
        .route(
            "/portal/authorization-servers/{id}",
            get(server_page::server_page),
        )
        .route("/portal/api-roles", get(pages::api_roles))
        .route("/portal/admin-roles", get(pages::admin_roles))
        .route("/portal/admins", get(pages::admins))
        .route("/portal/routes", get(pages::routes))
        .route("/portal/audit-log", get(pages::audit_log))
        .route("/portal/credentials/api-key", get(pages::api_key))
        .route(
            "/portal/credentials/sandbox-tokens",
            get(pages::sandbox_tokens),
        )
        .route("/portal/token-tester", get(pages::token_tester))
        .route(
            "/portal/token-tester/evaluate",
            axum::routing::post(tester::evaluate).layer(axum::extract::DefaultBodyLimit::max(
                crate::json::MAX_BODY_BYTES,
            )),
        )
        .route("/portal/cluster", get(pages::cluster))
        .route("/portal/org-settings", get(settings_page::org_settings))
        .route(settings_page::PENDING, get(settings_page::pending_changes))
        .route("/portal/assets/{name}", get(assets::serve))
        // The whole prefix is the portal's: an unknown page is the portal's 404, never proxied.
        .route(
            "/portal/{*rest}",
            axum::routing::any(|| async { PageError::Api(ApiError::not_found("portal page")) }),
        )
        .layer(axum::middleware::map_response(security_headers))
}

/// Adds the portal's security headers (kept if a handler set its own).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// Why a page was not rendered.
#[derive(Debug)]
pub enum PageError {
    /// No live session: go to the sign-in page, then come back to `next`.
    SignIn {
        /// The page to return to (a local path).
        next: String,
    },
    /// An API-style error (503 when the store is down, 404, ...).
    Api(ApiError),
    /// The signed-in admin may not view the page: a 403 inside the portal's layout, naming the
    /// permission the page needs.
    Forbidden(Box<pages::ForbiddenPage>),
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        PageError::Api(err)
    }
}

impl From<portcullis_store::StoreError> for PageError {
    fn from(err: portcullis_store::StoreError) -> Self {
        PageError::Api(err.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn { next } => {
                let target = format!("/portal/login?next={}", view::query_escape(&next));
                Redirect::to(&target).into_response()
            }
            PageError::Forbidden(page) => match askama::Template::render(&*page) {
                Ok(html) => (StatusCode::FORBIDDEN, Html(html)).into_response(),
                Err(cause) => {
                    tracing::error!(%cause, "rendering the forbidden page failed");
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
                }
            },
            PageError::Api(err) => {
                let page = pages::ErrorPage {
                    status: err.status.as_u16(),
                    message: err.message,
                };
                match askama::Template::render(&page) {
                    Ok(html) => (err.status, Html(html)).into_response(),
                    Err(cause) => {
                        tracing::error!(%cause, "rendering the error page failed");
                        (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
                    }
                }
            }
        }
    }
}

/// The signed-in admin of a portal page. A missing or expired session redirects to `/login`.
#[derive(Debug, Clone)]
pub struct PortalAdmin(
    pub AdminSession,
    pub Option<portcullis_runtime::ReadOnly>,
    /// How many configuration changes wait for activation (the pending-changes bar).
    pub i64,
);

impl PortalAdmin {
    /// Fails with a 403 page unless the admin may view `category`.
    pub fn require_view(&self, category: Category) -> Result<(), PageError> {
        if self.0.permissions.allows(category, false) {
            Ok(())
        } else {
            Err(PageError::Forbidden(Box::new(pages::ForbiddenPage::new(
                self, category,
            ))))
        }
    }

    /// Fails with a 403 page unless the admin has Full on `category`.
    pub fn require_full(&self, category: Category) -> Result<(), PageError> {
        if self.0.permissions.allows(category, true) {
            Ok(())
        } else {
            Err(PageError::Forbidden(Box::new(
                pages::ForbiddenPage::needing(self, category, "Full"),
            )))
        }
    }

    /// Whether the admin may change `category` (buttons are hidden otherwise; the API decides).
    pub fn can_write(&self, category: Category) -> bool {
        self.0.permissions.allows(category, true)
    }

    /// The admin's permissions.
    pub fn permissions(&self) -> Permissions {
        self.0.permissions
    }
}

impl FromRequestParts<ControlState> for PortalAdmin {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ControlState,
    ) -> Result<Self, Self::Rejection> {
        let next = parts
            .uri
            .path_and_query()
            .map_or_else(|| pages::HOME.to_owned(), |pq| pq.as_str().to_owned());
        let Some(session_id) = session_id_from(&parts.headers, &state.settings) else {
            return Err(PageError::SignIn { next });
        };
        match admin_session(state, &session_id).await? {
            Some(session) => {
                // The bar is a convenience: a store that cannot count must not take the page.
                let pending = match state.store.pending_counts(state.org).await {
                    Ok(counts) => counts.total,
                    Err(err) => {
                        tracing::warn!(%err, "pending changes could not be counted");
                        0
                    }
                };
                Ok(PortalAdmin(session, state.runtime.read_only(), pending))
            }
            None => Err(PageError::SignIn { next }),
        }
    }
}
