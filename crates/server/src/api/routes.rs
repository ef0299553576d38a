//! `/api/v1/routes`: upstream API routes and their policies (DESIGN.md §1.3).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use portcullis_policy::permissions::Category;
use portcullis_policy::routes::RouteDefinition;
use portcullis_store::StoreError;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::json::{self, ApiJson};
use crate::state::AppState;

fn not_found(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found("route"),
        other => other.into(),
    }
}

fn parse(body: Value) -> Result<(RouteDefinition, Option<i64>), ApiError> {
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
    for read_only in ["id", "createdAt", "updatedAt"] {
        members.remove(read_only);
    }
    let bytes = serde_json::to_vec(&Value::Object(members)).map_err(|e| ApiError::internal(&e))?;
    let definition: RouteDefinition = json::parse(&bytes)?;
    let errors = definition.field_errors();
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    Ok((definition, version))
}

/// List.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Routes, false)?;
    Ok(Json(
        json!({ "items": state.store.list_routes(state.org).await? }),
    ))
}

/// Get one.
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
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
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Routes, true)?;
    let (definition, _) = parse(body)?;
    let record = state
        .store
        .create_route(state.org, &definition, &principal.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Replace.
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Routes, true)?;
    let (definition, version) = parse(body)?;
    let record = state
        .store
        .update_route(state.org, &id, version, &definition, &principal.actor())
        .await
        .map_err(not_found)?;
    Ok(Json(record))
}

/// Delete.
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::Routes, true)?;
    state
        .store
        .delete_route(state.org, &id, &principal.actor())
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}
