//! `/api/v1/apiRoles` and `/api/v1/adminRoles`: named permission sets.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use portcullis_policy::permissions::RoleInput;
use portcullis_store::{RoleKind, StoreError};
use serde_json::{Value, json};

use crate::auth::{Principal, category_for_kind};
use crate::error::ApiError;
use crate::json::{self, ApiJson};
use crate::state::AppState;

fn not_found(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found("role"),
        other => other.into(),
    }
}

fn parse_role(body: Value) -> Result<(RoleInput, Option<i64>), ApiError> {
    let Value::Object(mut members) = body else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let version = match members.remove("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| ApiError::invalid_field("version", "must be an integer"))?,
        ),
    };
    for read_only in ["id", "builtin", "createdAt", "updatedAt"] {
        members.remove(read_only);
    }
    let bytes = serde_json::to_vec(&Value::Object(members)).map_err(|e| ApiError::internal(&e))?;
    let input: RoleInput = json::parse(&bytes)?;
    let errors = input.field_errors();
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    Ok((input, version))
}

fn max_roles(state: &AppState, kind: RoleKind) -> i64 {
    match kind {
        RoleKind::Api => state.settings.max_api_roles,
        RoleKind::Admin => state.settings.max_admin_roles,
    }
}

/// Handlers for one role kind.
macro_rules! role_handlers {
    ($module:ident, $kind:expr) => {
        /// Handlers for this role kind.
        pub mod $module {
            use super::*;

            /// List.
            pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<impl IntoResponse, ApiError> {
                principal.require(category_for_kind($kind), false)?;
                Ok(Json(json!({ "items": state.store.list_roles(state.org, $kind).await? })))
            }

            /// Get one.
            pub async fn get(State(state): State<AppState>, principal: Principal, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
                principal.require(category_for_kind($kind), false)?;
                Ok(Json(state.store.get_role(state.org, $kind, &id).await.map_err(not_found)?))
            }

            /// Create.
            pub async fn create(State(state): State<AppState>, principal: Principal, ApiJson(body): ApiJson<Value>) -> Result<impl IntoResponse, ApiError> {
                principal.require(category_for_kind($kind), true)?;
                let (input, _) = parse_role(body)?;
                let role = state.store.create_role(state.org, $kind, &input, max_roles(&state, $kind), &principal.actor()).await?;
                Ok((StatusCode::CREATED, Json(role)))
            }

            /// Replace.
            pub async fn replace(
                State(state): State<AppState>,
                principal: Principal,
                Path(id): Path<String>,
                ApiJson(body): ApiJson<Value>,
            ) -> Result<impl IntoResponse, ApiError> {
                principal.require(category_for_kind($kind), true)?;
                let (input, version) = parse_role(body)?;
                let role = state.store.update_role(state.org, $kind, &id, version, &input, &principal.actor()).await.map_err(not_found)?;
                Ok(Json(role))
            }

            /// Delete.
            pub async fn delete(State(state): State<AppState>, principal: Principal, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
                principal.require(category_for_kind($kind), true)?;
                state.store.delete_role(state.org, $kind, &id, &principal.actor()).await.map_err(not_found)?;
                Ok(StatusCode::NO_CONTENT)
            }
        }
    };
}

role_handlers!(api_roles, RoleKind::Api);
role_handlers!(admin_roles, RoleKind::Admin);
