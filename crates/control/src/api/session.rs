//! `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`: admin sign-in with lockout.

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use portcullis_store::{Actor, AuditEntry, AuditResult, Interface, now_ms};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

use crate::auth::{
    CredentialKind, Principal, csrf_cookie_name, session_cookie_name, session_interface,
};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::secrets::{hash_password, random_token, session_hash, verify_password};
use crate::state::ControlState;

/// Failed sign-ins within [`LOCKOUT_WINDOW_MS`] that lock an admin.
pub const LOCKOUT_THRESHOLD: i64 = 5;
/// The window for counting failures.
pub const LOCKOUT_WINDOW_MS: i64 = 60_000;
/// How long a lock lasts.
pub const LOCKOUT_MS: i64 = 5 * 60_000;

/// The sign-in body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The admin's login.
    login: String,
    /// The admin's password.
    password: String,
}

/// The signed-in admin, as the sign-in answer shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedInAdmin {
    /// Admin id.
    id: String,
    /// Login.
    login: String,
    /// Display name.
    name: String,
    /// Admin role id.
    role_id: String,
}

/// The sign-in answer (the session itself is the `portcullis_session` cookie).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// Send as `X-CSRF-Token` on every change made with this session (also set as the
    /// `portcullis_csrf` cookie).
    csrf_token: String,
    /// Who signed in.
    admin: SignedInAdmin,
}

pub(crate) fn audit(
    login: &str,
    ip: Option<String>,
    interface: Interface,
    action: &str,
    result: AuditResult,
    detail: Option<String>,
) -> (Actor, AuditEntry) {
    (
        Actor {
            name: login.to_owned(),
            client_ip: ip,
            interface,
        },
        AuditEntry {
            action: action.into(),
            category: "admins".into(),
            resource: login.to_owned(),
            result,
            before: None,
            after: None,
            detail,
        },
    )
}

/// A session cookie: `Path=/` (see [`COOKIE_PATH`]), `SameSite=Strict`, `Secure` under https.
pub(crate) fn cookie(
    name: &'static str,
    value: String,
    http_only: bool,
    secure: bool,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path(COOKIE_PATH)
        .http_only(http_only)
        .secure(secure)
        .same_site(SameSite::Strict)
        .build()
}

/// The `Path` of every session cookie. It is the narrowest that works: the portal session is
/// read by the pages under `/portal/` and by the API under `/api/v1/`, whose only common prefix is
/// `/`; the `__Host-` names used under https require `Path=/` anyway; `JSESSIONID` is read by the
/// API and by routes that accept the `api_key` credential, which can be any path (the reverse
/// proxy never forwards these cookies upstream).
pub const COOKIE_PATH: &str = "/";

/// The cookie that clears `name`, whether or not the request sent it (add it to the jar; a
/// `__Host-` cookie is only replaced by one with the same attributes).
pub(crate) fn removal(name: &'static str, secure: bool) -> Cookie<'static> {
    let mut cookie = Cookie::build((name, ""))
        .path(COOKIE_PATH)
        .secure(secure)
        .http_only(true)
        .same_site(SameSite::Strict)
        .build();
    cookie.make_removal();
    cookie
}

/// Which sign-in flow checks credentials: both share one lockout (DESIGN.md §1.4, §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFlow {
    /// `POST /api/v1/auth/login` (portal and API session), audited under the interface the call
    /// came through (`Admin UI` from the portal's sign-in page).
    Portal(Interface),
    /// `POST /api/v1/authenticatedSession` (legacy API-key session).
    ApiKeySession,
}

impl SignInFlow {
    fn interface(self) -> Interface {
        match self {
            SignInFlow::Portal(interface) => interface,
            SignInFlow::ApiKeySession => Interface::Api,
        }
    }

    fn detail(self, what: &str) -> String {
        match self {
            SignInFlow::Portal(_) => what.to_owned(),
            SignInFlow::ApiKeySession => format!("API key session: {what}"),
        }
    }
}

/// The legacy flow's verdict on the obfuscated API key, made by the caller (in constant time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyCheck {
    /// The key matches.
    Match,
    /// The key does not match.
    Mismatch,
    /// The org has no API key: nobody can sign in this way.
    NotConfigured,
}

/// Checks an admin's login and password, with the lockout every sign-in flow shares: 5 failures
/// within a minute lock the admin for 5 minutes, whichever flow they came through. Attempts are
/// counted atomically before the password is checked (`Store::claim_login_attempt`), so 20
/// parallel wrong passwords check 5 passwords and get 15 `429 locked` answers. For the
/// legacy flow, `api_key` is the caller's verdict on the obfuscated key; a wrong (or absent) key
/// is a failed sign-in like a wrong password. Unknown logins cost one argon2
/// verification too, and every outcome is audited; the answer never says which part was wrong.
pub async fn check_credentials(
    state: &ControlState,
    login: &str,
    password: &str,
    ip: Option<String>,
    flow: SignInFlow,
    api_key: Option<ApiKeyCheck>,
) -> Result<portcullis_store::AdminRecord, ApiError> {
    let invalid = || match flow {
        SignInFlow::Portal(_) => ApiError::unauthenticated("wrong login or password"),
        SignInFlow::ApiKeySession => {
            ApiError::unauthenticated("wrong API key, username or password")
        }
    };
    let admin = state.store.find_admin_by_login(state.org, login).await?;
    let Some(admin) = admin else {
        // Spend the same time as a real check, so timing does not reveal which logins exist.
        let _ = verify_password(password, &DUMMY_HASH);
        let (actor, entry) = audit(
            login,
            ip,
            flow.interface(),
            "sign_in",
            AuditResult::Failure,
            Some(flow.detail("unknown login")),
        );
        state.store.append_audit(state.org, &actor, &entry).await?;
        return Err(invalid());
    };
    let now = now_ms();
    let locked = |until: Option<i64>| {
        let minutes = (until.map_or(LOCKOUT_MS, |until| until - now).max(1) + 59_999) / 60_000;
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "locked",
            format!("too many failed sign-ins; try again in {minutes} minute(s)"),
        )
    };
    // Every attempt takes one of the window's slots before its password is checked (one atomic
    // update in the store): parallel attempts cannot check more passwords than the limit.
    let claimed = match admin.locked_until.filter(|until| *until > now) {
        Some(_) => None,
        None => {
            state
                .store
                .claim_login_attempt(state.org, &admin.id, LOCKOUT_THRESHOLD, LOCKOUT_WINDOW_MS)
                .await?
        }
    };
    let Some(attempt) = claimed else {
        let (actor, entry) = audit(
            &admin.login,
            ip,
            flow.interface(),
            "sign_in",
            AuditResult::Failure,
            Some(flow.detail("locked")),
        );
        state.store.append_audit(state.org, &actor, &entry).await?;
        return Err(locked(admin.locked_until.filter(|until| *until > now)));
    };
    let password_ok = verify_password(password, &admin.password_hash);
    let key = api_key.unwrap_or(ApiKeyCheck::Match);
    let key_ok = key == ApiKeyCheck::Match;
    if !(password_ok && key_ok) {
        // The attempt that used the window's last slot locks the admin when it fails.
        let locked = attempt >= LOCKOUT_THRESHOLD;
        if locked {
            state
                .store
                .lock_admin(state.org, &admin.id, LOCKOUT_MS)
                .await?;
        }
        // The audit log (admins only) says which part was wrong: a right password with a wrong
        // API key means the password is known to someone.
        let what = match (password_ok, key) {
            (false, ApiKeyCheck::Match) => "wrong password",
            (true, ApiKeyCheck::Mismatch) => "wrong API key (the password was right)",
            (false, ApiKeyCheck::Mismatch) => "wrong password and API key",
            (true, _) => "no API key is configured (the password was right)",
            (false, _) => "wrong password; no API key is configured",
        };
        let detail = if locked {
            format!("{what}; admin locked for 5 minutes")
        } else {
            what.to_owned()
        };
        let (actor, entry) = audit(
            &admin.login,
            ip,
            flow.interface(),
            "sign_in",
            AuditResult::Failure,
            Some(flow.detail(&detail)),
        );
        state.store.append_audit(state.org, &actor, &entry).await?;
        return Err(invalid());
    }
    state
        .store
        .clear_login_failures(state.org, &admin.id)
        .await?;
    Ok(admin)
}

/// Signs an admin in: a fresh session id every time (no fixation), a CSRF token, lockout after
/// repeated failures. The answer never says whether the login exists.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "session",
    operation_id = "login",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in: the session cookie `portcullis_session` (HttpOnly) and the `portcullis_csrf` cookie are set (`__Host-portcullis_session` and `__Host-portcullis_csrf` when the deployment is served over https).", body = LoginResponse,
            headers(("set-cookie" = String, description = "`portcullis_session` and `portcullis_csrf` (`__Host-` prefixed under https)"))),
        (status = 401, description = "Wrong login or password (the answer does not say which).", body = crate::error::ErrorBody),
        (status = 429, description = "Too many failed sign-ins for this admin: locked for a while.", body = crate::error::ErrorBody),
    )
)]
pub async fn login(
    State(state): State<ControlState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let ip = Some(crate::principal::peer_client_ip(
        &headers,
        peer,
        &state.settings.trusted_proxies,
    ));
    let interface = session_interface(&headers);
    let admin = check_credentials(
        &state,
        &request.login,
        &request.password,
        ip.clone(),
        SignInFlow::Portal(interface),
        None,
    )
    .await?;
    let session_id = random_token(32)?;
    let csrf = random_token(32)?;
    state
        .store
        .create_session(&session_hash(&session_id), state.org, &admin.id, &csrf)
        .await?;
    let (actor, entry) = audit(
        &admin.login,
        ip,
        interface,
        "sign_in",
        AuditResult::Success,
        None,
    );
    state.store.append_audit(state.org, &actor, &entry).await?;
    let secure = state.settings.secure_cookies();
    let jar = jar
        .add(cookie(
            session_cookie_name(&state.settings),
            session_id,
            true,
            secure,
        ))
        .add(cookie(
            csrf_cookie_name(&state.settings),
            csrf.clone(),
            false,
            secure,
        ));
    Ok((
        jar,
        Json(LoginResponse {
            csrf_token: csrf,
            admin: SignedInAdmin {
                id: admin.id,
                login: admin.login,
                name: admin.name,
                role_id: admin.role_id,
            },
        }),
    ))
}

/// Ends the caller's session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "session",
    operation_id = "logout",
    responses((status = 204, description = "Signed out: the session is deleted and its cookies cleared. With staged activation, the changes this admin left pending are activated first (a refusal leaves them pending and does not stop the sign-out)."))
)]
pub async fn logout(
    State(state): State<ControlState>,
    principal: Principal,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    // Staged configuration: what this admin left pending goes live as they leave (issue 14).
    crate::api::activation::activate_at_sign_out(&state, &principal).await;
    if let Some(hash) = &principal.session_hash {
        match principal.kind {
            CredentialKind::ApiKeySession => {
                state.store.delete_legacy_session(state.org, hash).await?;
                state.runtime.legacy_sessions.forget(hash);
            }
            _ => state.store.delete_session(hash).await?,
        }
    }
    let (actor, entry) = audit(
        &principal.name,
        principal.client_ip.clone(),
        principal.interface,
        "sign_out",
        AuditResult::Success,
        None,
    );
    state.store.append_audit(state.org, &actor, &entry).await?;
    let secure = state.settings.secure_cookies();
    let jar = jar
        .add(removal(session_cookie_name(&state.settings), secure))
        .add(removal(csrf_cookie_name(&state.settings), secure));
    Ok((jar, StatusCode::NO_CONTENT))
}

/// A real argon2id hash of a random secret, so unknown logins cost the same as known ones.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    random_token(24)
        .and_then(|secret| hash_password(&secret))
        .unwrap_or_default()
});

/// Creates the first admin when the org has none (first start): with `password` when given,
/// else a random one printed once to the log. Returns the password when it was generated.
pub async fn bootstrap_admin(
    state: &ControlState,
    password: Option<&str>,
) -> Result<Option<String>, ApiError> {
    if state.store.count_admins(state.org).await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(p) => (p.to_owned(), false),
        None => (random_token(18)?, true),
    };
    let super_admin = state
        .store
        .list_roles(state.org, portcullis_store::RoleKind::Admin)
        .await?
        .into_iter()
        .find(|r| r.builtin)
        .ok_or_else(|| ApiError::internal(&"built-in Super Admin role missing"))?;
    let admin = portcullis_store::NewAdmin {
        login: "admin".into(),
        name: "Administrator".into(),
        password_hash: hash_password(&password)?,
        role_id: super_admin.id,
    };
    state
        .store
        .create_admin(
            state.org,
            &admin,
            &Actor::system("system", Interface::System),
        )
        .await?;
    Ok(generated.then_some(password))
}
