//! `GET /api/v1/status` (the operations endpoints `/healthz`, `/readyz` and `/metrics` are the
//! gateway's).

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Serialize;

use crate::state::ControlState;

/// The answer of `GET /api/v1/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// Portcullis version.
    #[schema(value_type = String)]
    version: &'static str,
    /// The deployment's cloud name (the `<cloud>` of API-role scopes).
    cloud_name: String,
    /// The org id (the `<orgId>` of API-role scopes).
    org_id: i64,
    /// Base URL of this API.
    api_base_url: String,
}

/// Version, cloud name, org id and the API base URL.
#[utoipa::path(
    get,
    path = "/api/v1/status",
    tag = "meta",
    operation_id = "getStatus",
    security(()),
    responses((status = 200, description = "What this deployment is.", body = StatusView))
)]
pub async fn status(State(state): State<ControlState>) -> impl IntoResponse {
    Json(StatusView {
        version: env!("CARGO_PKG_VERSION"),
        cloud_name: state.settings.cloud_name.clone(),
        org_id: state.org,
        api_base_url: api_base_url(&state.settings),
    })
}

/// The cloud service API's base URL as clients reach it (the portal shows the same).
pub fn api_base_url(settings: &crate::state::ControlSettings) -> String {
    format!("{}/api/v1", settings.public_base_url)
}
