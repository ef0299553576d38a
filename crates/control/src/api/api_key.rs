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
use crate::state::ControlState;
use crate::time::rfc3339;

/// The API key as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyInput {
    /// Exactly 12 characters `[A-Za-z0-9]`.
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
pub fn secret_key(state: &ControlState) -> Result<&SecretKey, ApiError> {
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
pub fn open(state: &ControlState, record: &ApiKeyRecord) -> Result<String, ApiError> {
    let bytes = secret_key(state)?
        .open(Purpose::ApiKey, state.org, &record.sealed)
        .map_err(seal_error)?;
    String::from_utf8(bytes).map_err(|e| ApiError::internal(&e))
}

fn seal(state: &ControlState, key: &str) -> Result<String, ApiError> {
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

async fn current(state: &ControlState) -> Result<(ApiKeyRecord, String), ApiError> {
    let record = state
        .store
        .get_api_key(state.org)
        .await?
        .ok_or_else(not_found)?;
    let key = open(state, &record)?;
    Ok((record, key))
}

/// `GET /api/v1/apiKey`: the key masked, who changed it last and when; 404 when none exists.
#[utoipa::path(
    get,
    path = "/api/v1/apiKey",
    tag = "apiCredentials",
    operation_id = "getApiKey",
    responses(
        (status = 200, description = "The key, masked (reveal shows it in full).", body = ApiKeyView),
        (status = 404, description = "No key exists.", body = crate::error::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<ControlState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, false)?;
    let (record, key) = current(&state).await?;
    Ok(Json(view(&record, &key, true)))
}

/// `POST /api/v1/apiKey/reveal`: the key in full (needs `full` access; audited).
#[utoipa::path(
    post,
    path = "/api/v1/apiKey/reveal",
    tag = "apiCredentials",
    operation_id = "revealApiKey",
    responses(
        (status = 200, description = "The key in full (audited).", body = ApiKeyView),
        (status = 404, description = "No key exists.", body = crate::error::ErrorBody),
    )
)]
pub async fn reveal(
    State(state): State<ControlState>,
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
#[utoipa::path(
    post,
    path = "/api/v1/apiKey",
    tag = "apiCredentials",
    operation_id = "createApiKey",
    request_body = ApiKeyInput,
    responses(
        (status = 201, description = "Created (the key in full: copy it now).", body = ApiKeyView),
        (status = 409, description = "A key already exists.", body = crate::error::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ControlState>,
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
    state.runtime.legacy_sessions.forget_org(state.org);
    Ok((StatusCode::CREATED, Json(view(&record, &key, false))))
}

/// `PUT /api/v1/apiKey`: a new value, which must differ from the current one.
#[utoipa::path(
    put,
    path = "/api/v1/apiKey",
    tag = "apiCredentials",
    operation_id = "replaceApiKey",
    request_body = ApiKeyInput,
    responses(
        (status = 200, description = "Changed; the old key stopped working.", body = ApiKeyView),
        (status = 404, description = "No key exists.", body = crate::error::ErrorBody),
    )
)]
pub async fn replace(
    State(state): State<ControlState>,
    principal: Principal,
    ApiJson(input): ApiJson<ApiKeyInput>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    let key = input
        .api_key
        .ok_or_else(|| ApiError::invalid_field("apiKey", "required"))?;
    checked(&key)?;
    let (record, old) = current(&state).await?;
    if crate::secrets::constant_time_eq(key.as_bytes(), old.as_bytes()) {
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
#[utoipa::path(
    post,
    path = "/api/v1/apiKey/regenerate",
    tag = "apiCredentials",
    operation_id = "regenerateApiKey",
    responses(
        (status = 200, description = "A new random key; the old one stopped working.", body = ApiKeyView),
        (status = 404, description = "No key exists.", body = crate::error::ErrorBody),
    )
)]
pub async fn regenerate(
    State(state): State<ControlState>,
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
    state: &ControlState,
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
    state.runtime.legacy_sessions.forget_org(state.org);
    let record = result.map_err(store_error)?;
    Ok(Json(view(&record, key, false)))
}

/// `DELETE /api/v1/apiKey`: removes the key; legacy logins are impossible until a new one is added.
#[utoipa::path(
    delete,
    path = "/api/v1/apiKey",
    tag = "apiCredentials",
    operation_id = "deleteApiKey",
    responses(
        (status = 204, description = "Deleted; legacy sessions opened with it ended."),
        (status = 404, description = "No key exists.", body = crate::error::ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<ControlState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    let result = state
        .store
        .delete_api_key(state.org, &principal.actor())
        .await;
    state.runtime.legacy_sessions.forget_org(state.org);
    result.map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}
