//! Who is calling: an OAuth bearer token (`Authorization`), an admin session (portal cookie +
//! CSRF token), or a legacy API-key session (`JSESSIONID`, no CSRF token: the cookie is
//! `SameSite=Strict` and only the legacy login sets it). Handlers take a [`Principal`] and ask it
//! for a permission.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum_extra::extract::CookieJar;
use portcullis_http::Challenge;
use portcullis_http::challenge::REALM;
use portcullis_policy::permissions::{Category, Permissions};
use portcullis_store::{Interface, RoleKind, StoreError};

use crate::error::ApiError;
use crate::secrets::{constant_time_eq, session_hash};
use crate::state::ControlState;

pub use crate::principal::{CredentialKind, Principal, client_ip};

pub use portcullis_runtime::cookies::{
    CSRF_COOKIE, SECURE_CSRF_COOKIE, SECURE_SESSION_COOKIE, SESSION_COOKIE, portcullis_cookie_names,
};
/// The CSRF header.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's name in this deployment: `__Host-portcullis_session` when it is served
/// over https, else `portcullis_session`. Only this name is read: under https an unprefixed
/// cookie may have been planted by a sibling host and is ignored.
pub fn session_cookie_name(settings: &crate::state::ControlSettings) -> &'static str {
    if settings.secure_cookies() {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The CSRF cookie's name in this deployment (see [`session_cookie_name`]).
pub fn csrf_cookie_name(settings: &crate::state::ControlSettings) -> &'static str {
    if settings.secure_cookies() {
        SECURE_CSRF_COOKIE
    } else {
        CSRF_COOKIE
    }
}

/// The portal session id sent with a request (under this deployment's cookie name).
pub fn session_id_from(
    headers: &axum::http::HeaderMap,
    settings: &crate::state::ControlSettings,
) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(session_cookie_name(settings))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The header the portal's script sends so its calls are audited as `Admin UI`.
pub const INTERFACE_HEADER: &str = "x-portcullis-interface";
/// The value of [`INTERFACE_HEADER`] that marks the portal.
pub const ADMIN_UI: &str = "admin-ui";

/// `Admin UI` when the portal's script made the call, else `API`. It is only a label in the
/// audit log: the actor and the permissions are the session's either way, so a script that sends
/// the header can mislabel nothing but its own admin's changes.
pub fn session_interface(headers: &axum::http::HeaderMap) -> Interface {
    match headers.get(INTERFACE_HEADER).and_then(|v| v.to_str().ok()) {
        Some(ADMIN_UI) => Interface::AdminUi,
        _ => Interface::Api,
    }
}

/// A live admin session with its admin and the admin's effective permissions.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// The signed-in admin.
    pub admin: portcullis_store::AdminRecord,
    /// The admin role's permissions.
    pub permissions: Permissions,
    /// The session's CSRF token (the portal puts it in its pages).
    pub csrf_token: String,
    /// The stored form of the session id.
    pub hash: String,
}

/// Looks up the session `session_id` (idle timeout and absolute lifetime applied, marked used
/// now) with its admin and role. `None` when there is no such session, it expired, or it belongs
/// to another org. Shared by the API's [`Principal`] and the portal's pages, so both read
/// sessions the same way. Always a store read: a session ended on any node (sign-out, password
/// or role change, delete) is refused by every node as soon as that change commits.
pub async fn admin_session(
    state: &ControlState,
    session_id: &str,
) -> Result<Option<AdminSession>, ApiError> {
    let hash = session_hash(session_id);
    let idle_ms = i64::try_from(state.settings.session_idle.as_millis()).unwrap_or(i64::MAX);
    let max_age_ms =
        i64::try_from(state.settings.session_max_lifetime.as_millis()).unwrap_or(i64::MAX);
    let Some(session) = state
        .store
        .touch_session_within(&hash, idle_ms, max_age_ms)
        .await?
        .filter(|s| s.org_id == state.org)
    else {
        return Ok(None);
    };
    // An admin deleted while signed in has no session any more.
    let admin = match state.store.get_admin(state.org, &session.admin_id).await {
        Ok(admin) => admin,
        Err(portcullis_store::StoreError::NotFound) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    let role = state
        .store
        .get_role(state.org, RoleKind::Admin, &admin.role_id)
        .await?;
    Ok(Some(AdminSession {
        admin,
        permissions: role.permissions,
        csrf_token: session.csrf_token,
        hash,
    }))
}

fn unauthenticated() -> ApiError {
    ApiError::unauthenticated(
        "sign in (POST /api/v1/auth/login or POST /api/v1/authenticatedSession) or send a bearer token",
    )
}

/// The principal of a legacy API-key session: the session, the admin and the role from the
/// store (the API is not the hot path; a session ended on any node is refused at once).
async fn legacy_principal(
    parts: &Parts,
    state: &ControlState,
    hash: String,
) -> Result<Principal, ApiError> {
    let ended = || {
        ApiError::unauthenticated(
            "the API key session expired or ended; sign in again (POST /api/v1/authenticatedSession)",
        )
    };
    let session = state
        .runtime
        .legacy_sessions
        .authenticate_fresh(
            &state.store,
            state.org,
            &hash,
            state.settings.legacy_session_idle,
        )
        .await?
        .ok_or_else(ended)?;
    let admin = match state.store.get_admin(state.org, &session.admin_id).await {
        Ok(admin) => admin,
        Err(StoreError::NotFound) => return Err(ended()),
        Err(err) => return Err(err.into()),
    };
    let role = state
        .store
        .get_role(state.org, RoleKind::Admin, &admin.role_id)
        .await?;
    Ok(Principal {
        kind: CredentialKind::ApiKeySession,
        name: admin.login,
        permissions: role.permissions,
        client_ip: client_ip(parts, &state.settings.trusted_proxies),
        caller: format!("apikey:{}", admin.id),
        admin_id: Some(admin.id),
        session_hash: Some(hash),
        interface: Interface::Api,
    })
}

/// For public operations that show more to a signed-in caller (`GET /api/v1/status`): any
/// authentication failure is simply "anonymous".
impl axum::extract::OptionalFromRequestParts<ControlState> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ControlState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Principal as FromRequestParts<ControlState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

impl FromRequestParts<ControlState> for Principal {
    type Rejection = ApiErrorWithChallenge;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ControlState,
    ) -> Result<Self, Self::Rejection> {
        // Already authenticated by the governance layer (rate limits): the same answer.
        if let Some(crate::principal::Authenticated(done)) = parts.extensions.get() {
            return done.clone().map_err(ApiErrorWithChallenge);
        }
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return crate::bearer::authenticate(parts, state)
                .await
                .map_err(ApiErrorWithChallenge);
        }
        // The portal session wins when a browser holds both cookies: it is the one with CSRF
        // protection.
        let Some(session_id) = session_id_from(&parts.headers, &state.settings) else {
            return match portcullis_runtime::legacy::session_hash_from(&parts.headers) {
                Some(hash) => legacy_principal(parts, state, hash)
                    .await
                    .map_err(ApiErrorWithChallenge),
                None => Err(ApiErrorWithChallenge(unauthenticated())),
            };
        };
        let session = admin_session(state, &session_id)
            .await
            .map_err(ApiErrorWithChallenge)?
            .ok_or_else(|| {
                ApiErrorWithChallenge(ApiError::unauthenticated(
                    "the session expired; sign in again",
                ))
            })?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
                return Err(ApiErrorWithChallenge(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "missing or wrong X-CSRF-Token header for a session-authenticated change",
                )));
            }
        }
        let interface = session_interface(&parts.headers);
        let AdminSession {
            admin,
            permissions,
            hash,
            ..
        } = session;
        Ok(Principal {
            kind: CredentialKind::Session,
            name: admin.login,
            permissions,
            client_ip: client_ip(parts, &state.settings.trusted_proxies),
            caller: format!("session:{}", admin.id),
            admin_id: Some(admin.id),
            session_hash: Some(hash),
            interface,
        })
    }
}

/// An [`ApiError`] that adds `WWW-Authenticate: Bearer realm="portcullis"` to 401 answers
/// (RFC 6750 §3: no credentials → no error code in the challenge).
#[derive(Debug)]
pub struct ApiErrorWithChallenge(pub ApiError);

impl axum::response::IntoResponse for ApiErrorWithChallenge {
    fn into_response(self) -> axum::response::Response {
        let status = self.0.status;
        let mut response = self.0.into_response();
        if status == StatusCode::UNAUTHORIZED
            && !response.headers().contains_key(header::WWW_AUTHENTICATE)
        {
            let challenge = Challenge::new(REALM, status, "unauthenticated", "").www_authenticate();
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// Whether a principal was given at all (used to pick 401 vs 403 in docs and tests).
pub fn category_for_kind(kind: RoleKind) -> Category {
    match kind {
        RoleKind::Api => Category::ApiRoles,
        RoleKind::Admin => Category::Admins,
    }
}
