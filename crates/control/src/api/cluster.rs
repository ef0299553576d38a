//! `GET /api/v1/cluster/nodes`: every node of the deployment with its heartbeat, the
//! configuration version it applied, and its own key-fetch status per server (DESIGN.md §4).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use portcullis_policy::permissions::Category;
use portcullis_store::now_ms;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::ControlState;
use crate::time::rfc3339;
use portcullis_runtime::cluster::{NODE_FORGOTTEN_AFTER, NODE_STALE_AFTER};

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `GET /api/v1/cluster/nodes`.
#[utoipa::path(
    get,
    path = "/api/v1/cluster/nodes",
    tag = "cluster",
    operation_id = "listClusterNodes",
    responses(
        (status = 200, description = "Every node seen in the last day: heartbeat, applied configuration version (`configCurrent`), state (`up` / `unreachable`) and its own key-fetch status per server.", body = std::collections::HashMap<String, serde_json::Value>),
    )
)]
pub async fn nodes(
    State(state): State<ControlState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::AuthorizationServers, false)?;
    let now = now_ms();
    let current = state.store.config_version().await?;
    let nodes = state
        .store
        .list_nodes(now - millis(NODE_FORGOTTEN_AFTER))
        .await?;
    let names: BTreeMap<String, String> = state
        .store
        .list_servers(state.org)
        .await?
        .into_iter()
        .map(|record| (record.id, record.definition.name))
        .collect();
    let mut key_status: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for status in state.store.list_node_key_status(state.org).await? {
        key_status.entry(status.node_id).or_default().push(json!({
            "serverId": status.server_id,
            "serverName": names.get(&status.server_id),
            "lastSuccessfulFetchAt": status.last_successful_fetch_at.map(rfc3339),
            "lastFetchAttemptAt": rfc3339(status.last_fetch_attempt_at),
            "lastFetchError": status.last_fetch_error,
        }));
    }
    let items: Vec<Value> = nodes
        .into_iter()
        .map(|node| {
            let reachable = now - node.heartbeat_at <= millis(NODE_STALE_AFTER);
            json!({
                "id": node.id,
                "address": node.address,
                "version": node.software_version,
                "startedAt": rfc3339(node.started_at),
                "heartbeatAt": rfc3339(node.heartbeat_at),
                "state": if reachable { "up" } else { "unreachable" },
                "configVersion": node.config_version,
                "configCurrent": node.config_version >= current,
                "self": node.id == state.runtime.settings.node_id,
                "keyStatus": key_status.remove(&node.id).unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(json!({ "configVersion": current, "items": items })))
}
