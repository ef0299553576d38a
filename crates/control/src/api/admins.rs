//! `/api/v1/admins`: portal and API users.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use portcullis_policy::FieldError;
use portcullis_policy::config::check_name;
use portcullis_policy::permissions::Category;
use portcullis_store::{AdminRecord, NewAdmin, StoreError};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::IdPath;
use crate::json::ApiJson;
use crate::secrets::hash_password;
use crate::state::ControlState;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// An admin as sent by a client.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminInput {
    /// Sign-in name: 1 to 64 letters, digits, `-`, `_`, `.`; unique in the org.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    login: String,
    /// Display name (at most 128 characters).
    #[serde(default)]
    #[schema(max_length = 128)]
    name: String,
    /// The id of an admin role of the org.
    role_id: String,
    /// At least 12 characters. Required on create; on replace, omitted keeps the current
    /// password.
    #[serde(default)]
    #[schema(min_length = 12)]
    password: Option<String>,
    /// Replace only: the version this change is based on (409 `version_conflict` when stale).
    #[serde(default)]
    version: Option<i64>,
}

/// A list of admins.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AdminList)]
pub struct AdminList {
    /// The admins, by login.
    items: Vec<AdminRecord>,
}

fn check(input: &AdminInput, creating: bool) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Err(message) = check_name(&input.login) {
        errors.push(FieldError::new("login", message));
    }
    if input.name.chars().count() > 128 {
        errors.push(FieldError::new("name", "at most 128 characters".into()));
    }
    match &input.password {
        None if creating => errors.push(FieldError::new("password", "required".into())),
        Some(p) if p.chars().count() < MIN_PASSWORD_CHARS => {
            errors.push(FieldError::new(
                "password",
                format!("at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        _ => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_fields(&errors))
    }
}

fn not_found(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found("admin"),
        other => other.into(),
    }
}

/// List.
#[utoipa::path(
    get,
    path = "/api/v1/admins",
    tag = "admins",
    operation_id = "listAdmins",
    responses((status = 200, description = "Every admin of the org (never a password hash).", body = AdminList))
)]
pub async fn list(
    State(state): State<ControlState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Admins, false)?;
    Ok(Json(AdminList {
        items: state.store.list_admins(state.org).await?,
    }))
}

/// Get one.
#[utoipa::path(
    get,
    path = "/api/v1/admins/{id}",
    tag = "admins",
    operation_id = "getAdmin",
    params(("id" = String, Path, description = "The admin's id.")),
    responses((status = 200, description = "The admin.", body = AdminRecord))
)]
pub async fn get(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Admins, false)?;
    Ok(Json(
        state
            .store
            .get_admin(state.org, &id)
            .await
            .map_err(not_found)?,
    ))
}

/// Create.
#[utoipa::path(
    post,
    path = "/api/v1/admins",
    tag = "admins",
    operation_id = "createAdmin",
    request_body = AdminInput,
    responses(
        (status = 201, description = "Created.", body = AdminRecord),
        (status = 409, description = "The login is in use.", body = ErrorBody),
        (status = 422, description = "A field is invalid, the password is missing or short, or `roleId` names no admin role.", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ControlState>,
    principal: Principal,
    ApiJson(input): ApiJson<AdminInput>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Admins, true)?;
    check(&input, true)?;
    let password_hash = hash_password(input.password.as_deref().unwrap_or_default())?;
    let admin = NewAdmin {
        login: input.login,
        name: input.name,
        password_hash,
        role_id: input.role_id,
    };
    let record = state
        .store
        .create_admin(state.org, &admin, &principal.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Replace.
#[utoipa::path(
    put,
    path = "/api/v1/admins/{id}",
    tag = "admins",
    operation_id = "replaceAdmin",
    params(("id" = String, Path, description = "The admin's id.")),
    request_body = AdminInput,
    responses(
        (status = 200, description = "Replaced. A new password or role ends every session of the admin (portal and legacy) on every node.", body = AdminRecord),
        (status = 409, description = "The login is in use, or `version` is stale (`version_conflict`).", body = ErrorBody),
        (status = 422, description = "A field is invalid, the password is short, or `roleId` names no admin role.", body = ErrorBody),
    )
)]
pub async fn replace(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<AdminInput>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Admins, true)?;
    check(&input, false)?;
    let password_hash = match &input.password {
        Some(p) => hash_password(p)?,
        None => String::new(),
    };
    let update = NewAdmin {
        login: input.login,
        name: input.name,
        password_hash,
        role_id: input.role_id,
    };
    let record = state
        .store
        .update_admin(state.org, &id, input.version, &update, &principal.actor())
        .await
        .map_err(not_found)?;
    // The store ended the admin's sessions in the same transaction when the password or role
    // changed (and recorded the change for the other nodes); this node's legacy-session cache
    // drops them before answering (and a renamed admin's, which must forward the new login).
    state.runtime.legacy_sessions.forget_admin(&id);
    Ok(Json(record))
}

/// Delete.
#[utoipa::path(
    delete,
    path = "/api/v1/admins/{id}",
    tag = "admins",
    operation_id = "deleteAdmin",
    params(("id" = String, Path, description = "The admin's id.")),
    responses(
        (status = 204, description = "Deleted, with its sessions."),
        (status = 409, description = "The last admin cannot be deleted.", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Admins, true)?;
    state
        .store
        .delete_admin(state.org, &id, &principal.actor())
        .await
        .map_err(not_found)?;
    // Their sessions (portal and legacy) ended in the same transaction, recorded for the other
    // nodes; this node's cache drops them before answering.
    state.runtime.legacy_sessions.forget_admin(&id);
    Ok(StatusCode::NO_CONTENT)
}
