//! `/.well-known/oauth-protected-resource` (RFC 9728): the cloud service API's document, and
//! `/.well-known/oauth-protected-resource/<path>` for each route with an upstream. Public, built
//! from the current snapshot (`policy::resource_metadata`), so it follows every change.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use portcullis_http::error::ApiError;
use portcullis_policy::resource_metadata;

use crate::GatewayState;

/// The cloud service API's protected resource metadata.
pub async fn api(State(state): State<GatewayState>) -> Response {
    let snapshot = state.runtime.snapshot.load();
    Json(resource_metadata::api_document(
        &snapshot,
        &state.settings.public_base_url,
        &state.settings.cloud_name,
        state.runtime.org,
    ))
    .into_response()
}

/// A route's protected resource metadata; 404 when no route with an upstream has that path.
pub async fn route(State(state): State<GatewayState>, Path(rest): Path<String>) -> Response {
    let snapshot = state.runtime.snapshot.load();
    let path = format!("/{rest}");
    match resource_metadata::route_document(&snapshot, &state.settings.public_base_url, &path) {
        Some(document) => Json(document).into_response(),
        None => ApiError::not_found("protected resource").into_response(),
    }
}
