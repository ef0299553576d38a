//! `POST|GET|DELETE /api/v1/authenticatedSession`: the legacy Cloud Service API Key session
//! (DESIGN.md §1.4), for clients written against the product Portcullis is modelled on.
//!
//! Sign-in takes `{apiKey, username, password, timestamp}`: `timestamp` is milliseconds since the
//! epoch as a string, within 2 hours of the server clock; `apiKey` is the org's key obfuscated
//! with that timestamp (`policy::credentials::obfuscate_api_key`), compared in constant time;
//! username and password are an admin's, checked by the same function and lockout as the portal
//! login. Success sets `JSESSIONID` (HttpOnly, SameSite=Strict, Secure over https; 5-minute idle
//! expiry; stored as SHA-256), which then authorizes the cloud service API with the admin's role
//! and needs no CSRF token. The cookie keeps its name under https (clients written for the
//! original product look for `JSESSIONID`) and `Path=/` (routes accepting `api_key` read it on
//! any path); the cloud service API checks it against the store on every call, so a session
//! ended on any node is refused at once; its absolute lifetime is `session_max_lifetime`.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use portcullis_policy::FieldError;
use portcullis_policy::credentials::{check_api_key, check_timestamp, obfuscate_api_key};
use portcullis_store::{AuditResult, Interface, now_ms};
use serde::{Deserialize, Serialize};

use crate::api::api_key;
use crate::api::session::{ApiKeyCheck, SignInFlow, audit, check_credentials, cookie, removal};
use crate::auth::ApiErrorWithChallenge;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::secrets::random_token;
use crate::secrets::sha256_hex;
use crate::state::ControlState;
use crate::time::rfc3339;
use portcullis_runtime::legacy::{LEGACY_COOKIE, LegacySession, session_hash_from};

/// The sign-in body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacyLoginRequest {
    /// The Cloud Service API Key obfuscated with `timestamp` (DESIGN.md §1.4).
    api_key: String,
    /// An admin's login.
    username: String,
    /// That admin's password.
    password: String,
    /// Milliseconds since the epoch, as a string, within 2 hours of the server's clock.
    timestamp: String,
}

/// A legacy session as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LegacySessionView {
    /// The admin's login.
    username: String,
    /// Always `api_key`: how this session was opened.
    auth_type: &'static str,
    created_at: String,
    last_activity_at: String,
    /// The session ends this long after its last use.
    idle_timeout_seconds: u64,
    /// When it ends unless used again (never later than its absolute lifetime allows).
    expires_at: String,
}

fn view(
    state: &ControlState,
    login: &str,
    created_at: i64,
    last_seen_at: i64,
) -> LegacySessionView {
    let idle = state.settings.legacy_session_idle;
    let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
    let max_ms = i64::try_from(state.settings.session_max_lifetime.as_millis()).unwrap_or(i64::MAX);
    LegacySessionView {
        username: login.to_owned(),
        auth_type: "api_key",
        created_at: rfc3339(created_at),
        last_activity_at: rfc3339(last_seen_at),
        idle_timeout_seconds: idle.as_secs(),
        expires_at: rfc3339(
            last_seen_at
                .saturating_add(idle_ms)
                .min(created_at.saturating_add(max_ms)),
        ),
    }
}

fn field_errors(request: &LegacyLoginRequest, now: i64) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if check_api_key(&request.api_key).is_err() {
        errors.push(FieldError::new(
            "apiKey",
            "must be the 12-character obfuscated API key (letters and digits)".into(),
        ));
    }
    if request.username.is_empty() {
        errors.push(FieldError::new("username", "required".into()));
    }
    if request.password.is_empty() {
        errors.push(FieldError::new("password", "required".into()));
    }
    if let Err(message) = check_timestamp(&request.timestamp, now) {
        errors.push(FieldError::new("timestamp", message));
    }
    errors
}

/// Whether `sent` is the org's key obfuscated with `timestamp` (constant time in the compared
/// bytes).
async fn check_api_key_sent(
    state: &ControlState,
    sent: &str,
    timestamp: &str,
) -> Result<ApiKeyCheck, ApiError> {
    let Some(record) = state.store.get_api_key(state.org).await? else {
        return Ok(ApiKeyCheck::NotConfigured);
    };
    let key = api_key::open(state, &record)?;
    let matches = obfuscate_api_key(&key, timestamp).is_some_and(|expected| {
        crate::secrets::constant_time_eq(expected.as_bytes(), sent.as_bytes())
    });
    Ok(if matches {
        ApiKeyCheck::Match
    } else {
        ApiKeyCheck::Mismatch
    })
}

/// `POST /api/v1/authenticatedSession`: signs in and sets `JSESSIONID`.
#[utoipa::path(
    post,
    path = "/api/v1/authenticatedSession",
    tag = "session",
    operation_id = "createLegacySession",
    security(()),
    request_body = LegacyLoginRequest,
    responses(
        (status = 200, description = "Signed in: the `JSESSIONID` cookie is set (5-minute idle expiry).", body = LegacySessionView),
        (status = 401, description = "Wrong API key, username or password.", body = crate::error::ErrorBody),
        (status = 429, description = "Too many failed sign-ins: locked for a while.", body = crate::error::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ControlState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(request): ApiJson<LegacyLoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let now = now_ms();
    let errors = field_errors(&request, now);
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    let ip = Some(crate::principal::peer_client_ip(
        &headers,
        peer,
        &state.settings.trusted_proxies,
    ));
    let key_check = check_api_key_sent(&state, &request.api_key, &request.timestamp).await?;
    let admin = check_credentials(
        &state,
        &request.username,
        &request.password,
        ip.clone(),
        SignInFlow::ApiKeySession,
        Some(key_check),
    )
    .await?;
    let session_id = random_token(32)?;
    state
        .store
        .create_legacy_session(&sha256_hex(session_id.as_bytes()), state.org, &admin.id)
        .await?;
    let (actor, entry) = audit(
        &admin.login,
        ip,
        Interface::Api,
        "sign_in",
        AuditResult::Success,
        Some("API key session".into()),
    );
    state.store.append_audit(state.org, &actor, &entry).await?;
    let jar = jar.add(cookie(
        LEGACY_COOKIE,
        session_id,
        true,
        state.settings.secure_cookies(),
    ));
    Ok((jar, Json(view(&state, &admin.login, now, now))))
}

async fn current(
    state: &ControlState,
    headers: &HeaderMap,
) -> Result<LegacySession, ApiErrorWithChallenge> {
    let ended = || {
        ApiErrorWithChallenge(ApiError::unauthenticated(
            "no API key session: sign in with POST /api/v1/authenticatedSession",
        ))
    };
    let hash = session_hash_from(headers).ok_or_else(ended)?;
    state
        .runtime
        .legacy_sessions
        .authenticate_fresh(
            &state.store,
            state.org,
            &hash,
            state.settings.legacy_session_idle,
        )
        .await
        .map_err(|e| ApiErrorWithChallenge(e.into()))?
        .ok_or_else(ended)
}

/// `GET /api/v1/authenticatedSession`: the caller's legacy session (and a use of it).
#[utoipa::path(
    get,
    path = "/api/v1/authenticatedSession",
    tag = "session",
    operation_id = "getLegacySession",
    responses(
        (status = 200, description = "The caller's legacy session.", body = LegacySessionView),
        (status = 401, description = "No live legacy session.", body = crate::error::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<ControlState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiErrorWithChallenge> {
    let session = current(&state, &headers).await?;
    Ok(Json(view(
        &state,
        &session.login,
        session.created_at,
        session.last_seen_at,
    )))
}

/// `DELETE /api/v1/authenticatedSession`: ends the caller's legacy session.
#[utoipa::path(
    delete,
    path = "/api/v1/authenticatedSession",
    tag = "session",
    operation_id = "deleteLegacySession",
    responses(
        (status = 204, description = "Signed out."),
        (status = 401, description = "No live legacy session.", body = crate::error::ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<ControlState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    principal: Option<crate::auth::Principal>,
) -> Result<impl IntoResponse, ApiErrorWithChallenge> {
    let session = current(&state, &headers).await?;
    // Staged configuration: what this admin left pending goes live as they leave (issue 14),
    // as through `/auth/logout`.
    if let Some(principal) = principal.filter(|p| {
        p.kind == crate::principal::CredentialKind::ApiKeySession
            && p.session_hash.as_deref() == Some(session.id_hash.as_str())
    }) {
        crate::api::activation::activate_at_sign_out(&state, &principal).await;
    }
    let result = state
        .store
        .delete_legacy_session(state.org, &session.id_hash)
        .await;
    state.runtime.legacy_sessions.forget(&session.id_hash);
    result.map_err(|e| ApiErrorWithChallenge(e.into()))?;
    let (actor, entry) = audit(
        &session.login,
        Some(crate::principal::peer_client_ip(
            &headers,
            peer,
            &state.settings.trusted_proxies,
        )),
        Interface::Api,
        "sign_out",
        AuditResult::Success,
        Some("API key session".into()),
    );
    state
        .store
        .append_audit(state.org, &actor, &entry)
        .await
        .map_err(|e| ApiErrorWithChallenge(e.into()))?;
    let jar = jar.add(removal(LEGACY_COOKIE, state.settings.secure_cookies()));
    Ok((jar, StatusCode::NO_CONTENT))
}
