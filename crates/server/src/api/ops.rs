//! Operations endpoints: `/healthz`, `/readyz`, `/api/v1/status`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;

use crate::state::AppState;

/// Alive.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({"status": "ok"})))
}

/// Ready (DESIGN.md §4): the store answers, or this node serves from its last-good
/// configuration (then 200 with `"status": "degraded"`, so a load balancer keeps sending the
/// traffic the node can still decide). Not ready before a configuration was ever loaded.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let applied = state
        .applied_config_version
        .load(std::sync::atomic::Ordering::SeqCst);
    match state.store.ping().await {
        Ok(()) if applied > 0 => (
            StatusCode::OK,
            Json(json!({"status": "ready", "store": "ok", "configVersion": applied})),
        ),
        Ok(()) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting", "store": "ok", "configVersion": null})),
        ),
        Err(err) => {
            tracing::warn!(%err, "readiness: store unreachable");
            let status = if applied > 0 {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (
                status,
                Json(json!({
                    "status": "degraded",
                    "store": "unreachable",
                    "configVersion": (applied > 0).then_some(applied),
                    "message": "the configuration database is unreachable: deciding from the last loaded configuration and keys; changes cannot be saved",
                })),
            )
        }
    }
}

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
pub async fn status(State(state): State<AppState>) -> impl IntoResponse {
    Json(StatusView {
        version: env!("CARGO_PKG_VERSION"),
        cloud_name: state.settings.cloud_name.clone(),
        org_id: state.org,
        api_base_url: api_base_url(&state.settings),
    })
}

/// The cloud service API's base URL as clients reach it (the portal shows the same).
pub fn api_base_url(settings: &crate::state::Settings) -> String {
    format!("{}/api/v1", settings.public_base_url)
}

/// Prometheus metrics.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        {
            let now = portcullis_store::now_ms();
            let ages: Vec<(String, f64, usize)> = state
                .keys
                .key_summary()
                .into_iter()
                .map(|(id, fetched_at, count)| {
                    (id, (now - fetched_at).max(0) as f64 / 1000.0, count)
                })
                .collect();
            state.metrics.render_with_keys(&ages)
        },
    )
}
