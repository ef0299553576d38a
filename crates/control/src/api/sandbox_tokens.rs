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

use crate::auth::Principal;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::secrets::{random_bytes, sha256_hex};
use crate::state::ControlState;
use crate::time::rfc3339;

/// A sandbox token as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// The list answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SandboxTokenList {
    /// The org's tokens (values are never listed).
    items: Vec<SandboxTokenView>,
    /// How many tokens an org may have.
    limit: usize,
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
#[utoipa::path(
    get,
    path = "/api/v1/sandboxTokens",
    tag = "apiCredentials",
    operation_id = "listSandboxTokens",
    responses(
        (status = 200, description = "The org's sandbox tokens, masked.", body = SandboxTokenList),
    )
)]
pub async fn list(
    State(state): State<ControlState>,
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
    Ok(Json(SandboxTokenList {
        items,
        limit: MAX_SANDBOX_TOKENS as usize,
    }))
}

/// `POST /api/v1/sandboxTokens` `{name}`: 201 with the value (shown this once); 409 past 5.
#[utoipa::path(
    post,
    path = "/api/v1/sandboxTokens",
    tag = "apiCredentials",
    operation_id = "createSandboxToken",
    request_body = SandboxTokenInput,
    responses(
        (status = 201, description = "Created: `token` holds the value, shown this once.", body = SandboxTokenView),
        (status = 409, description = "The name is in use, or the org has 5 tokens.", body = crate::error::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ControlState>,
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
#[utoipa::path(
    put,
    path = "/api/v1/sandboxTokens/{id}",
    tag = "apiCredentials",
    operation_id = "renameSandboxToken",
    params(("id" = String, Path, description = "The sandbox token's id.")),
    request_body = SandboxTokenInput,
    responses(
        (status = 200, description = "Renamed (the value is unchanged).", body = SandboxTokenView),
        (status = 409, description = "The name is in use, or the version is stale.", body = crate::error::ErrorBody),
    )
)]
pub async fn rename(
    State(state): State<ControlState>,
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
#[utoipa::path(
    post,
    path = "/api/v1/sandboxTokens/{id}/regenerate",
    tag = "apiCredentials",
    operation_id = "regenerateSandboxToken",
    params(("id" = String, Path, description = "The sandbox token's id.")),
    responses(
        (status = 200, description = "A new value in `token`, shown this once; the old one stopped working.", body = SandboxTokenView),
    )
)]
pub async fn regenerate(
    State(state): State<ControlState>,
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
#[utoipa::path(
    delete,
    path = "/api/v1/sandboxTokens/{id}",
    tag = "apiCredentials",
    operation_id = "deleteSandboxToken",
    params(("id" = String, Path, description = "The sandbox token's id.")),
    responses(
        (status = 204, description = "Deleted; the token stopped working."),
    )
)]
pub async fn delete(
    State(state): State<ControlState>,
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
