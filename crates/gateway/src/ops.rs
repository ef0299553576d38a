//! Operations endpoints: `/healthz`, `/readyz`, `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::GatewayState;

/// Alive.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({"status": "ok"})))
}

/// Ready (DESIGN.md §4): the store answers, or this node serves from its last-good
/// configuration (then 200 with `"status": "degraded"`, so a load balancer keeps sending the
/// traffic the node can still decide). Not ready before a configuration was ever loaded.
pub async fn readyz(State(state): State<GatewayState>) -> impl IntoResponse {
    let applied = state
        .runtime
        .applied_config_version
        .load(std::sync::atomic::Ordering::SeqCst);
    let (status, Json(mut body)) = store_readiness(&state, applied).await;
    // A refused certificate reload does not stop serving (the old pair is in use), but an
    // operator looking here should see it.
    if let Some(reason) = state.tls.last_refusal() {
        body["tls"] = json!({"lastRefusedReload": reason});
    }
    // Read-only does not make a node unready (decisions are served as ever); it is said here
    // so an operator sees it, with where it comes from.
    body["mode"] = match state.runtime.read_only() {
        Some(read_only) => json!({"name": "read-only", "source": read_only.source()}),
        None => json!({"name": "read-write"}),
    };
    (status, Json(body))
}

async fn store_readiness(
    state: &GatewayState,
    applied: i64,
) -> (StatusCode, Json<serde_json::Value>) {
    match state.runtime.store.ping().await {
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

/// Prometheus metrics.
pub async fn metrics(State(state): State<GatewayState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        {
            let now = portcullis_store::now_ms();
            let ages: Vec<(String, f64, usize)> = state
                .runtime
                .keys
                .key_summary()
                .into_iter()
                .map(|(id, fetched_at, count)| {
                    (id, (now - fetched_at).max(0) as f64 / 1000.0, count)
                })
                .collect();
            let mut text = state
                .metrics
                .render_with_keys(&state.runtime.counters, &ages);
            text.push_str(&state.tls.render());
            text
        },
    )
}
