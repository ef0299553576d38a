//! `/api/v1/routes`: upstream API routes and their policies (DESIGN.md §1.3).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_policy::permissions::Category;
use portcullis_policy::routes::RouteDefinition;
use portcullis_store::{PendingKind, RouteRecord, StagedObject, StagedWrite, StoreError};
use serde::Serialize;
use serde_json::Value;

use crate::api::activation;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::IdPath;
use crate::json::{self, ApiJson};
use crate::request_schemas::RouteRequest;
use crate::state::ControlState;

/// A list of routes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RouteList {
    /// The routes, by name.
    items: Vec<RouteRecord>,
}

fn not_found(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found("route"),
        other => other.into(),
    }
}

fn parse(body: Value) -> Result<(RouteDefinition, Option<i64>), ApiError> {
    let (definition, version): (RouteDefinition, _) =
        json::parse_versioned(body, &["id", "createdAt", "updatedAt"])?;
    let errors = definition.field_errors();
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    Ok((definition, version))
}

/// List.
#[utoipa::path(
    get,
    path = "/api/v1/routes",
    tag = "routes",
    operation_id = "listRoutes",
    responses((status = 200, description = "Every route of the org, by name.", body = RouteList))
)]
pub async fn list(
    State(state): State<ControlState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Routes, false)?;
    Ok(Json(RouteList {
        items: state.store.list_routes(state.org).await?,
    }))
}

/// Get one.
#[utoipa::path(
    get,
    path = "/api/v1/routes/{id}",
    tag = "routes",
    operation_id = "getRoute",
    params(("id" = String, Path, description = "The route's id.")),
    responses((status = 200, description = "The route.", body = RouteRecord))
)]
pub async fn get(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Routes, false)?;
    Ok(Json(
        state
            .store
            .get_route(state.org, &id)
            .await
            .map_err(not_found)?,
    ))
}

/// Create.
#[utoipa::path(
    post,
    path = "/api/v1/routes",
    tag = "routes",
    operation_id = "createRoute",
    request_body = RouteRequest,
    responses(
        (status = 201, description = "Created: it applies from the next request on.", body = RouteRecord),
        (status = 202, description = "Staged (the org's `activation` is `staged`): the pending change, live once activated.", body = activation::PendingView),
        (status = 409, description = "The name is in use.", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ControlState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Category::Routes, true)?;
    let (definition, _) = parse(body)?;
    if activation::is_staged(&state).await? {
        let write = StagedWrite::Create(StagedObject::Route(definition));
        return activation::stage(&state, &principal, write, not_found).await;
    }
    let record = state
        .store
        .create_route(state.org, &definition, &principal.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

/// Replace.
#[utoipa::path(
    put,
    path = "/api/v1/routes/{id}",
    tag = "routes",
    operation_id = "replaceRoute",
    params(("id" = String, Path, description = "The route's id.")),
    request_body = RouteRequest,
    responses(
        (status = 200, description = "Replaced.", body = RouteRecord),
        (status = 202, description = "Staged (the org's `activation` is `staged`): the pending change, live once activated.", body = activation::PendingView),
        (status = 409, description = "The name is in use, or `version` is stale (`version_conflict`).", body = ErrorBody),
    )
)]
pub async fn replace(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Category::Routes, true)?;
    let (definition, version) = parse(body)?;
    if activation::is_staged(&state).await? {
        let write = StagedWrite::Replace {
            id,
            expected_version: version,
            object: StagedObject::Route(definition),
        };
        return activation::stage(&state, &principal, write, not_found).await;
    }
    let record = state
        .store
        .update_route(state.org, &id, version, &definition, &principal.actor())
        .await
        .map_err(not_found)?;
    Ok(Json(record).into_response())
}

/// Delete.
#[utoipa::path(
    delete,
    path = "/api/v1/routes/{id}",
    tag = "routes",
    operation_id = "deleteRoute",
    params(("id" = String, Path, description = "The route's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 202, description = "Staged (the org's `activation` is `staged`): the pending change, live once activated.", body = activation::PendingView),
    )
)]
pub async fn delete(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    principal.require(Category::Routes, true)?;
    if activation::is_staged(&state).await? {
        let write = StagedWrite::Delete {
            kind: PendingKind::Routes,
            id,
            expected_version: None,
        };
        return activation::stage(&state, &principal, write, not_found).await;
    }
    state
        .store
        .delete_route(state.org, &id, &principal.actor())
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
