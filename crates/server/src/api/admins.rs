//! `/api/v1/admins`: portal and API users.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use portcullis_policy::FieldError;
use portcullis_policy::config::check_name;
use portcullis_policy::permissions::Category;
use portcullis_store::{NewAdmin, StoreError};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Principal, hash_password};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// An admin as sent by a client.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminInput {
    login: String,
    #[serde(default)]
    name: String,
    role_id: String,
    /// Required on create; on replace, omitted keeps the current password.
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    version: Option<i64>,
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
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Admins, false)?;
    Ok(Json(
        json!({ "items": state.store.list_admins(state.org).await? }),
    ))
}

/// Get one.
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
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
pub async fn create(
    State(state): State<AppState>,
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
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
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
    // A renamed admin's legacy sessions must forward the new login at once.
    state.legacy_sessions.forget_admin(&id);
    Ok(Json(record))
}

/// Delete.
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Admins, true)?;
    state
        .store
        .delete_admin(state.org, &id, &principal.actor())
        .await
        .map_err(not_found)?;
    // Their legacy sessions went with them in the store (cascade); forget them here too.
    state.legacy_sessions.forget_admin(&id);
    Ok(StatusCode::NO_CONTENT)
}
