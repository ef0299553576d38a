//! `/api/v1/sandboxTokens`: tokens for the sandbox API (DESIGN.md §1.4), at most 5 per org,
//! permission category `api_credentials`.
//!
//! A token is `pcs_` + 32 random bytes in base64url (47 characters). Only its SHA-256 and its last
//! 4 characters are stored, so the value is returned exactly once: in the answer to create and to
//! regenerate. Lists show the hint (`maskedToken: "pcs_****abcd"`); the portal's "reveal" can show
//! the value it just received, never an older one — a lost token is regenerated, not recovered.
//! That is the point of storing it hashed: a database leak yields no usable token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use portcullis_jose::base64url;
use portcullis_policy::credentials::{
    MAX_SANDBOX_TOKENS, SANDBOX_TOKEN_BYTES, SANDBOX_TOKEN_PREFIX, SandboxTokenInput,
    sandbox_token_hint,
};
use portcullis_policy::permissions::Category;
use portcullis_store::{SandboxTokenRecord, StoreError};
use serde::Serialize;
use serde_json::json;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::secrets::{random_bytes, sha256_hex};
use crate::state::AppState;
use crate::time::rfc3339;

/// A sandbox token as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxTokenView {
    id: String,
    name: String,
    /// The token's last 4 characters.
    hint: String,
    /// `pcs_****` and the hint.
    masked_token: String,
    /// The full value: only in the answers to create and regenerate.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    version: i64,
    created_at: String,
    updated_at: String,
    last_modified_by: String,
}

fn view(record: SandboxTokenRecord, token: Option<String>) -> SandboxTokenView {
    SandboxTokenView {
        masked_token: format!("{SANDBOX_TOKEN_PREFIX}****{}", record.hint),
        id: record.id,
        name: record.name,
        hint: record.hint,
        token,
        version: record.version,
        created_at: rfc3339(record.created_at),
        updated_at: rfc3339(record.updated_at),
        last_modified_by: record.last_modified_by,
    }
}

fn not_found(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found("sandbox token"),
        other => other.into(),
    }
}

/// A new token value with its stored hash and hint.
fn new_token() -> Result<(String, String, String), ApiError> {
    let bytes = random_bytes(SANDBOX_TOKEN_BYTES)
        .ok_or_else(|| ApiError::internal(&"system random source failed"))?;
    let token = format!("{SANDBOX_TOKEN_PREFIX}{}", base64url::encode(&bytes));
    let hash = sha256_hex(token.as_bytes());
    let hint = sandbox_token_hint(&token);
    Ok((token, hash, hint))
}

fn checked(input: &SandboxTokenInput) -> Result<(), ApiError> {
    let errors = input.field_errors();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_fields(&errors))
    }
}

/// `GET /api/v1/sandboxTokens`: `{items, limit}`; values are never listed.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, false)?;
    let items: Vec<SandboxTokenView> = state
        .store
        .list_sandbox_tokens(state.org)
        .await?
        .into_iter()
        .map(|r| view(r, None))
        .collect();
    Ok(Json(json!({"items": items, "limit": MAX_SANDBOX_TOKENS})))
}

/// `POST /api/v1/sandboxTokens` `{name}`: 201 with the value (shown this once); 409 past 5.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<SandboxTokenInput>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    checked(&input)?;
    let (token, hash, hint) = new_token()?;
    let record = state
        .store
        .create_sandbox_token(
            state.org,
            &input.name,
            &hash,
            &hint,
            MAX_SANDBOX_TOKENS,
            &principal.actor(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view(record, Some(token)))))
}

/// `PUT /api/v1/sandboxTokens/{id}` `{name, version?}`: renames; the value stays.
pub async fn rename(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SandboxTokenInput>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    checked(&input)?;
    let record = state
        .store
        .rename_sandbox_token(
            state.org,
            &id,
            input.version,
            &input.name,
            &principal.actor(),
        )
        .await
        .map_err(not_found)?;
    Ok(Json(view(record, None)))
}

/// `POST /api/v1/sandboxTokens/{id}/regenerate`: a new value (returned this once); the old one
/// stops working at once.
pub async fn regenerate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    let (token, hash, hint) = new_token()?;
    let record = state
        .store
        .regenerate_sandbox_token(state.org, &id, &hash, &hint, &principal.actor())
        .await
        .map_err(not_found)?;
    Ok(Json(view(record, Some(token))))
}

/// `DELETE /api/v1/sandboxTokens/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::ApiCredentials, true)?;
    state
        .store
        .delete_sandbox_token(state.org, &id, &principal.actor())
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}
