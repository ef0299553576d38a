//! `/api/v1/apiRoles` and `/api/v1/adminRoles`: named permission sets.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_policy::permissions::RoleInput;
use portcullis_store::{PendingKind, RoleKind, RoleRecord, StagedObject, StagedWrite, StoreError};
use serde::Serialize;
use serde_json::Value;

use crate::api::activation;
use crate::auth::{Principal, category_for_kind};
use crate::error::{ApiError, ErrorBody};
use crate::extract::IdPath;
use crate::json::{self, ApiJson};
use crate::request_schemas::RoleRequest;
use crate::state::ControlState;

/// A list of roles.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleList {
    /// The roles, by name.
    items: Vec<RoleRecord>,
}

fn not_found(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found("role"),
        other => other.into(),
    }
}

fn parse_role(body: Value) -> Result<(RoleInput, Option<i64>), ApiError> {
    let (input, version): (RoleInput, _) =
        json::parse_versioned(body, &["id", "builtin", "createdAt", "updatedAt"])?;
    let errors = input.field_errors();
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    Ok((input, version))
}

fn max_roles(state: &ControlState, kind: RoleKind) -> i64 {
    match kind {
        RoleKind::Api => state.settings.max_api_roles,
        RoleKind::Admin => state.settings.max_admin_roles,
    }
}

/// Handlers for one role kind, with their OpenAPI annotations (`$tag` names the paths and
/// operation ids: `/api/v1/apiRoles`, `listApiRoles`, ...).
macro_rules! role_handlers {
    ($module:ident, $kind:expr, $list_path:tt, $item_path:tt, $tag:tt,
     $list_op:tt, $create_op:tt, $get_op:tt, $replace_op:tt, $delete_op:tt) => {
        /// Handlers for this role kind.
        pub mod $module {
            use super::*;

            /// List.
            #[utoipa::path(
                get,
                path = $list_path,
                tag = $tag,
                operation_id = $list_op,
                responses((status = 200, description = "Every role of this kind, by name.", body = RoleList))
            )]
            pub async fn list(State(state): State<ControlState>, principal: Principal) -> Result<impl IntoResponse, ApiError> {
                principal.require(category_for_kind($kind), false)?;
                Ok(Json(RoleList { items: state.store.list_roles(state.org, $kind).await? }))
            }

            /// Get one.
            #[utoipa::path(
                get,
                path = $item_path,
                tag = $tag,
                operation_id = $get_op,
                params(("id" = String, Path, description = "The role's id.")),
                responses((status = 200, description = "The role.", body = RoleRecord))
            )]
            pub async fn get(State(state): State<ControlState>, principal: Principal, IdPath(id): IdPath) -> Result<impl IntoResponse, ApiError> {
                principal.require(category_for_kind($kind), false)?;
                Ok(Json(state.store.get_role(state.org, $kind, &id).await.map_err(not_found)?))
            }

            /// Create.
            #[utoipa::path(
                post,
                path = $list_path,
                tag = $tag,
                operation_id = $create_op,
                request_body = RoleRequest,
                responses(
                    (status = 201, description = "Created.", body = RoleRecord),
                    (status = 202, description = "Staged (the org's `activation` is `staged`): the pending change, live once activated.", body = activation::PendingView),
                    (status = 409, description = "The name is in use (`conflict`) or the org's role limit is reached (`limit_exceeded`).", body = ErrorBody),
                )
            )]
            pub async fn create(State(state): State<ControlState>, principal: Principal, ApiJson(body): ApiJson<Value>) -> Result<Response, ApiError> {
                principal.require(category_for_kind($kind), true)?;
                let (input, _) = parse_role(body)?;
                if activation::is_staged(&state).await? {
                    let write = StagedWrite::Create(StagedObject::Role { kind: $kind, input });
                    return activation::stage(&state, &principal, write, not_found).await;
                }
                let role = state.store.create_role(state.org, $kind, &input, max_roles(&state, $kind), &principal.actor()).await?;
                Ok((StatusCode::CREATED, Json(role)).into_response())
            }

            /// Replace.
            #[utoipa::path(
                put,
                path = $item_path,
                tag = $tag,
                operation_id = $replace_op,
                params(("id" = String, Path, description = "The role's id.")),
                request_body = RoleRequest,
                responses(
                    (status = 200, description = "Replaced.", body = RoleRecord),
                    (status = 202, description = "Staged (the org's `activation` is `staged`): the pending change, live once activated.", body = activation::PendingView),
                    (status = 409, description = "The name is in use, the role is built in, or `version` is stale (`version_conflict`).", body = ErrorBody),
                )
            )]
            pub async fn replace(
                State(state): State<ControlState>,
                principal: Principal,
                IdPath(id): IdPath,
                ApiJson(body): ApiJson<Value>,
            ) -> Result<Response, ApiError> {
                principal.require(category_for_kind($kind), true)?;
                let (input, version) = parse_role(body)?;
                if activation::is_staged(&state).await? {
                    let write = StagedWrite::Replace { id, expected_version: version, object: StagedObject::Role { kind: $kind, input } };
                    return activation::stage(&state, &principal, write, not_found).await;
                }
                let role = state.store.update_role(state.org, $kind, &id, version, &input, &principal.actor()).await.map_err(not_found)?;
                Ok(Json(role).into_response())
            }

            /// Delete.
            #[utoipa::path(
                delete,
                path = $item_path,
                tag = $tag,
                operation_id = $delete_op,
                params(("id" = String, Path, description = "The role's id.")),
                responses(
                    (status = 204, description = "Deleted."),
                    (status = 202, description = "Staged (the org's `activation` is `staged`): the pending change, live once activated.", body = activation::PendingView),
                    (status = 409, description = "The role is built in or still assigned.", body = ErrorBody),
                )
            )]
            pub async fn delete(State(state): State<ControlState>, principal: Principal, IdPath(id): IdPath) -> Result<Response, ApiError> {
                principal.require(category_for_kind($kind), true)?;
                if activation::is_staged(&state).await? {
                    let kind = if $kind == RoleKind::Api { PendingKind::ApiRoles } else { PendingKind::AdminRoles };
                    let write = StagedWrite::Delete { kind, id, expected_version: None };
                    return activation::stage(&state, &principal, write, not_found).await;
                }
                state.store.delete_role(state.org, $kind, &id, &principal.actor()).await.map_err(not_found)?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
        }
    };
}

role_handlers!(
    api_roles,
    RoleKind::Api,
    "/api/v1/apiRoles",
    "/api/v1/apiRoles/{id}",
    "apiRoles",
    "listApiRoles",
    "createApiRole",
    "getApiRole",
    "replaceApiRole",
    "deleteApiRole"
);
role_handlers!(
    admin_roles,
    RoleKind::Admin,
    "/api/v1/adminRoles",
    "/api/v1/adminRoles/{id}",
    "adminRoles",
    "listAdminRoles",
    "createAdminRole",
    "getAdminRole",
    "replaceAdminRole",
    "deleteAdminRole"
);
