//! `/api/v1/orgSettings`: the org's governance settings (activation, read-only, rate limits),
//! one versioned resource per org. Anyone signed in may read them; only a Super Admin (every
//! permission) may change them, and the change is audited (`enable_read_only`,
//! `disable_read_only` or `update` of `orgSettings`).

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use portcullis_policy::governance::OrgSettingsInput;
use portcullis_policy::permissions::Permissions;
use portcullis_store::OrgSettingsRecord;
use serde_json::Value;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::json::{self, ApiJson};
use crate::request_schemas::OrgSettingsRequest;
use crate::state::ControlState;

fn parse(body: Value) -> Result<(OrgSettingsInput, Option<i64>), ApiError> {
    let (input, version): (OrgSettingsInput, _) = json::parse_versioned(body, &["updatedAt"])?;
    let errors = input.field_errors();
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    Ok((input, version))
}

/// Read the org's settings.
#[utoipa::path(
    get,
    path = "/api/v1/orgSettings",
    tag = "orgSettings",
    operation_id = "getOrgSettings",
    responses((status = 200, description = "The org's settings.", body = OrgSettingsRecord))
)]
pub async fn get(
    State(state): State<ControlState>,
    _principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.get_org_settings(state.org).await?))
}

/// Replace the org's settings (Super Admin). Served in read-only mode too: it is how read-only
/// is switched off.
#[utoipa::path(
    put,
    path = "/api/v1/orgSettings",
    tag = "orgSettings",
    operation_id = "replaceOrgSettings",
    request_body = OrgSettingsRequest,
    responses(
        (status = 200, description = "Replaced; every node applies it within about a second.", body = OrgSettingsRecord),
        (status = 403, description = "Only a Super Admin (every permission) may change the org's settings.", body = ErrorBody),
        (status = 409, description = "`version` is stale (`version_conflict`).", body = ErrorBody),
    )
)]
pub async fn replace(
    State(state): State<ControlState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    if principal.permissions != Permissions::FULL {
        return Err(ApiError::forbidden(
            "only a Super Admin (every permission) may change the org's settings",
        ));
    }
    let (input, version) = parse(body)?;
    let saved = state
        .store
        .put_org_settings(state.org, version, &input, &principal.actor())
        .await?;
    Ok(Json(saved))
}
