//! Operations endpoints: `/healthz`, `/readyz`, `/api/v1/status`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

/// Alive.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({"status": "ok"})))
}

/// Ready: the store answers.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "store": "ok"})),
        ),
        Err(err) => {
            tracing::warn!(%err, "readiness: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "degraded", "store": "unreachable"})),
            )
        }
    }
}

/// Version, cloud name, org id and the API base URL.
pub async fn status(State(state): State<AppState>) -> impl IntoResponse {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "cloudName": state.settings.cloud_name,
        "orgId": state.org,
        "apiBaseUrl": api_base_url(&state.settings),
    }))
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
