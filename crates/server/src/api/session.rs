//! `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`: admin sign-in with lockout.

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use portcullis_store::{Actor, AuditEntry, AuditResult, Interface, now_ms};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

use crate::auth::{
    CSRF_COOKIE, Principal, SESSION_COOKIE, hash_password, random_token, session_hash,
    session_interface, verify_password,
};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;

/// Failed sign-ins within [`LOCKOUT_WINDOW_MS`] that lock an admin.
pub const LOCKOUT_THRESHOLD: i64 = 5;
/// The window for counting failures.
pub const LOCKOUT_WINDOW_MS: i64 = 60_000;
/// How long a lock lasts.
pub const LOCKOUT_MS: i64 = 5 * 60_000;

/// The sign-in body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    login: String,
    password: String,
}

fn audit(
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

fn cookie(name: &'static str, value: String, http_only: bool, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(http_only)
        .secure(secure)
        .same_site(SameSite::Strict)
        .build()
}

/// Signs an admin in: a fresh session id every time (no fixation), a CSRF token, lockout after
/// repeated failures. The answer never says whether the login exists.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let ip = Some(peer.ip().to_string());
    let interface = session_interface(&headers);
    let invalid = || ApiError::unauthenticated("wrong login or password");
    let admin = state
        .store
        .find_admin_by_login(state.org, &request.login)
        .await?;
    let Some(admin) = admin else {
        // Spend the same time as a real check, so timing does not reveal which logins exist.
        let _ = verify_password(&request.password, &DUMMY_HASH);
        let (actor, entry) = audit(
            &request.login,
            ip,
            interface,
            "sign_in",
            AuditResult::Failure,
            Some("unknown login".into()),
        );
        state.store.append_audit(state.org, &actor, &entry).await?;
        return Err(invalid());
    };
    let now = now_ms();
    if let Some(until) = admin.locked_until.filter(|until| *until > now) {
        let (actor, entry) = audit(
            &admin.login,
            ip,
            interface,
            "sign_in",
            AuditResult::Failure,
            Some("locked".into()),
        );
        state.store.append_audit(state.org, &actor, &entry).await?;
        let minutes = (until - now + 59_999) / 60_000;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "locked",
            format!("too many failed sign-ins; try again in {minutes} minute(s)"),
        ));
    }
    if !verify_password(&request.password, &admin.password_hash) {
        let locked = state
            .store
            .record_login_failure(
                state.org,
                &admin.id,
                LOCKOUT_THRESHOLD,
                LOCKOUT_WINDOW_MS,
                LOCKOUT_MS,
            )
            .await?;
        let detail = if locked {
            "wrong password; admin locked for 5 minutes"
        } else {
            "wrong password"
        };
        let (actor, entry) = audit(
            &admin.login,
            ip,
            interface,
            "sign_in",
            AuditResult::Failure,
            Some(detail.into()),
        );
        state.store.append_audit(state.org, &actor, &entry).await?;
        return Err(invalid());
    }
    state
        .store
        .clear_login_failures(state.org, &admin.id)
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
        .add(cookie(SESSION_COOKIE, session_id, true, secure))
        .add(cookie(CSRF_COOKIE, csrf.clone(), false, secure));
    Ok((
        jar,
        Json(
            json!({"csrfToken": csrf, "admin": {"id": admin.id, "login": admin.login, "name": admin.name, "roleId": admin.role_id}}),
        ),
    ))
}

/// Ends the caller's session.
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(hash) = &principal.session_hash {
        state.store.delete_session(hash).await?;
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
    let jar = jar
        .remove(Cookie::build(SESSION_COOKIE).path("/"))
        .remove(Cookie::build(CSRF_COOKIE).path("/"));
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
    state: &AppState,
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
