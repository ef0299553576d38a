//! `/api/v1/apiKey`: the org's one Cloud Service API Key (DESIGN.md §1.4), permission category
//! `api_credentials`.
//!
//! The key is sealed with the deployment's secret key before it reaches the store and opened
//! only to show it, compare it or check a legacy login. `GET` shows it masked; the full value is
//! returned by the calls that set it (add, edit, regenerate: the caller needs to copy it) and by
//! `POST /api/v1/apiKey/reveal`, which needs `full` access and is audited. Why not in full on
//! `GET`: the key is a long-lived shared secret that opens API sessions; a `GET` is what view-only
//! roles, page loads, browser history tools and HAR captures see, while a reveal is a deliberate,
//! recorded act by someone allowed to change the key anyway.
//!
//! Every change ends the legacy sessions opened with the old key (in the store, in the same
//! transaction, and in this node's session cache before answering).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use portcullis_policy::credentials::{API_KEY_LEN, check_api_key, mask_api_key};
use portcullis_policy::permissions::Category;
use portcullis_store::{ApiKeyChange, ApiKeyRecord, AuditEntry, AuditResult, StoreError};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::secrets::{Purpose, SealError, SecretKey, random_alphanumeric};
use crate::state::AppState;
use crate::time::rfc3339;

/// The API key as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// The key, or its masked form (`**********Ab`).
    api_key: String,
    /// Whether `api_key` is masked.
    masked: bool,
    /// Actor of the last change.
    last_modified_by: String,
    /// Time of the last change (RFC 3339).
    last_modified_on: String,
}

/// Body of add (`apiKey` optional: omitted = random) and edit (`apiKey` required).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyInput {
    #[serde(default)]
    api_key: Option<String>,
}

fn view(record: &ApiKeyRecord, key: &str, masked: bool) -> ApiKeyView {
    ApiKeyView {
        api_key: if masked {
            mask_api_key(key)
        } else {
            key.to_owned()
        },
        masked,
        last_modified_by: record.last_modified_by.clone(),
        last_modified_on: rfc3339(record.last_modified_at),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("Cloud Service API Key")
}

fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => not_found(),
        other => other.into(),
    }
}

/// The deployment's secret key, or 503: without it no secret is stored (fail closed).
pub fn secret_key(state: &AppState) -> Result<&SecretKey, ApiError> {
    state.settings.secret_key.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "secret_key_unavailable",
            "no secret key is configured for secrets at rest (PORTCULLIS_SECRET_KEY_FILE)",
        )
    })
}

/// Maps a failure to open or seal the key to an answer: another node's secret key is a
/// deployment problem the admin can fix (503); anything else is logged as internal.
pub fn seal_error(err: SealError) -> ApiError {
    match err {
        SealError::WrongKey { .. } => {
            tracing::warn!(%err, "cannot open the Cloud Service API Key");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "secret_key_mismatch",
                err.to_string(),
            )
        }
        other => ApiError::internal(&other),
    }
}

/// Opens the stored key.
pub fn open(state: &AppState, record: &ApiKeyRecord) -> Result<String, ApiError> {
    let bytes = secret_key(state)?
        .open(Purpose::ApiKey, state.org, &record.sealed)
        .map_err(seal_error)?;
    String::from_utf8(bytes).map_err(|e| ApiError::internal(&e))
}

fn seal(state: &AppState, key: &str) -> Result<String, ApiError> {
    secret_key(state)?
        .seal(Purpose::ApiKey, state.org, key.as_bytes())
        .map_err(seal_error)
}

fn random_key() -> Result<String, ApiError> {
    random_alphanumeric(API_KEY_LEN)
        .ok_or_else(|| ApiError::internal(&"system random source failed"))
}

fn checked(field_value: &str) -> Result<(), ApiError> {
    check_api_key(field_value).map_err(|message| ApiError::invalid_field("apiKey", message))
}

async fn current(state: &AppState) -> Result<(ApiKeyRecord, String), ApiError> {
    let record = state
        .store
        .get_api_key(state.org)
        .await?
        .ok_or_else(not_found)?;
    let key = open(state, &record)?;
    Ok((record, key))
}

/// `GET /api/v1/apiKey`: the key masked, who changed it last and when; 404 when none exists.
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, false)?;
    let (record, key) = current(&state).await?;
    Ok(Json(view(&record, &key, true)))
}

/// `POST /api/v1/apiKey/reveal`: the key in full (needs `full` access; audited).
pub async fn reveal(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    let (record, key) = current(&state).await?;
    let entry = AuditEntry {
        action: "reveal".into(),
        category: Category::ApiCredentials.name().into(),
        resource: "apiKey".into(),
        result: AuditResult::Success,
        before: None,
        after: None,
        detail: None,
    };
    state
        .store
        .append_audit(state.org, &principal.actor(), &entry)
        .await?;
    Ok(Json(view(&record, &key, false)))
}

/// `POST /api/v1/apiKey`: adds the key (the given value, or a random one) when none exists;
/// 409 otherwise.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<ApiKeyInput>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    let key = match input.api_key {
        Some(key) => {
            checked(&key)?;
            key
        }
        None => random_key()?,
    };
    let record = state
        .store
        .create_api_key(state.org, &seal(&state, &key)?, &principal.actor())
        .await?;
    state.legacy_sessions.forget_org(state.org);
    Ok((StatusCode::CREATED, Json(view(&record, &key, false))))
}

/// `PUT /api/v1/apiKey`: a new value, which must differ from the current one.
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<ApiKeyInput>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    let key = input
        .api_key
        .ok_or_else(|| ApiError::invalid_field("apiKey", "required"))?;
    checked(&key)?;
    let (record, old) = current(&state).await?;
    if aws_lc_rs::constant_time::verify_slices_are_equal(key.as_bytes(), old.as_bytes()).is_ok() {
        return Err(ApiError::invalid_field(
            "apiKey",
            "must differ from the current key",
        ));
    }
    change(
        &state,
        &principal,
        record.version,
        &key,
        ApiKeyChange::Update,
    )
    .await
}

/// `POST /api/v1/apiKey/regenerate`: a new random value.
pub async fn regenerate(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    let (record, old) = current(&state).await?;
    let mut key = random_key()?;
    while key == old {
        key = random_key()?;
    }
    change(
        &state,
        &principal,
        record.version,
        &key,
        ApiKeyChange::Regenerate,
    )
    .await
}

async fn change(
    state: &AppState,
    principal: &Principal,
    version: i64,
    key: &str,
    how: ApiKeyChange,
) -> Result<Json<ApiKeyView>, ApiError> {
    let result = state
        .store
        .replace_api_key(
            state.org,
            version,
            &seal(state, key)?,
            how,
            &principal.actor(),
        )
        .await;
    // Whatever the outcome, sessions cached here are re-read from the store next time.
    state.legacy_sessions.forget_org(state.org);
    let record = result.map_err(store_error)?;
    Ok(Json(view(&record, key, false)))
}

/// `DELETE /api/v1/apiKey`: removes the key; legacy logins are impossible until a new one is added.
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    let result = state
        .store
        .delete_api_key(state.org, &principal.actor())
        .await;
    state.legacy_sessions.forget_org(state.org);
    result.map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}
