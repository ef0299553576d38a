//! `GET /api/v1/status` (the operations endpoints `/healthz`, `/readyz` and `/metrics` are the
//! gateway's).

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Serialize;

use portcullis_policy::governance::Activation;
use portcullis_store::PendingCounts;

use crate::auth::Principal;
use crate::error::ApiError;
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
    /// Signed-in callers only: `PENDING` when staged changes wait for activation, else `ACTIVE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    activation: Option<ActivationState>,
    /// Signed-in callers only: how changes take effect (`immediate` or `staged`).
    #[serde(skip_serializing_if = "Option::is_none")]
    activation_mode: Option<Activation>,
    /// Signed-in callers only: how many changes are pending, by kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_changes: Option<PendingCounts>,
}

/// Whether the active configuration is all there is.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActivationState {
    /// Nothing waits for activation.
    Active,
    /// Staged changes wait for activation.
    Pending,
}

/// Version, cloud name, org id and the API base URL; for a signed-in caller also whether
/// changes are pending activation (anonymous callers learn nothing of the org's activity).
#[utoipa::path(
    get,
    path = "/api/v1/status",
    tag = "meta",
    operation_id = "getStatus",
    security(()),
    responses((status = 200, description = "What this deployment is.", body = StatusView))
)]
pub async fn status(
    State(state): State<ControlState>,
    principal: Option<Principal>,
) -> Result<impl IntoResponse, ApiError> {
    let mut view = StatusView {
        version: env!("CARGO_PKG_VERSION"),
        cloud_name: state.settings.cloud_name.clone(),
        org_id: state.org,
        api_base_url: api_base_url(&state.settings),
        activation: None,
        activation_mode: None,
        pending_changes: None,
    };
    if let Some(principal) = principal {
        let mut counts = state.store.pending_counts(state.org).await?;
        // Only what the caller may see; the rest is not theirs to know about.
        let may_view = |kind| {
            principal
                .permissions
                .allows(crate::api::activation::category(kind), false)
        };
        use portcullis_store::PendingKind;
        if !may_view(PendingKind::AuthorizationServers) {
            counts.authorization_servers = 0;
        }
        if !may_view(PendingKind::Routes) {
            counts.routes = 0;
        }
        if !may_view(PendingKind::ApiRoles) {
            counts.api_roles = 0;
        }
        if !may_view(PendingKind::AdminRoles) {
            counts.admin_roles = 0;
        }
        counts.total =
            counts.authorization_servers + counts.routes + counts.api_roles + counts.admin_roles;
        let settings = state.store.get_org_settings(state.org).await?;
        view.activation = Some(if counts.total > 0 {
            ActivationState::Pending
        } else {
            ActivationState::Active
        });
        view.activation_mode = Some(settings.activation);
        view.pending_changes = Some(counts);
    }
    Ok(Json(view))
}

/// The cloud service API's base URL as clients reach it (the portal shows the same).
pub fn api_base_url(settings: &crate::state::ControlSettings) -> String {
    format!("{}/api/v1", settings.public_base_url)
}
