//! Staged configuration (issue 14): with the org's `activation` set to `staged`, the writes of
//! servers, routes and roles answer **202** with the pending change they made, and nothing
//! changes for tokens until `POST /api/v1/status/activate` applies every pending change in one
//! transaction. `GET /api/v1/status/pending` lists them with a per-field diff against the active
//! configuration; `DELETE /api/v1/status/pending/{id}` withdraws one; signing out activates what
//! the admin left pending.
//!
//! Credentials (the Cloud Service API Key, sandbox tokens) stay immediate in staged mode, on
//! purpose: revoking a leaked secret must never wait for an activation, and a secret shown once
//! must work when it is shown.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_policy::governance::Activation;
use portcullis_policy::permissions::{Category, Permissions};
use portcullis_store::{
    ActivationReport, PendingChange, PendingKind, RoleCaps, StagedWrite, StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::IdPath;
use crate::state::ControlState;

/// The header that marks an answer as a pending (not yet active) change.
pub const ACTIVATION_HEADER: &str = "x-portcullis-activation";

/// Whether the org stages its changes, as committed now (read from the store, not the node's
/// snapshot: a write must follow the mode of the moment it is made; the store checks it again
/// inside the staging transaction).
pub async fn is_staged(state: &ControlState) -> Result<bool, ApiError> {
    let settings = state.store.get_org_settings(state.org).await?;
    Ok(settings.activation == Activation::Staged)
}

/// Stages `write` as the caller's pending change and answers 202 with it (204 when it withdrew
/// the caller's own pending create).
pub async fn stage(
    state: &ControlState,
    principal: &Principal,
    write: StagedWrite,
    not_found: fn(StoreError) -> ApiError,
) -> Result<Response, ApiError> {
    let staged = state
        .store
        .stage(state.org, &write, &principal.actor())
        .await
        .map_err(not_found)?;
    let mut response = match staged {
        Some(change) => (StatusCode::ACCEPTED, Json(PendingView::new(change))).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    response
        .headers_mut()
        .insert(ACTIVATION_HEADER, HeaderValue::from_static("pending"));
    Ok(response)
}

/// The permission category of a kind of pending change.
pub fn category(kind: PendingKind) -> Category {
    match kind {
        PendingKind::AuthorizationServers => Category::AuthorizationServers,
        PendingKind::Routes => Category::Routes,
        PendingKind::ApiRoles => Category::ApiRoles,
        PendingKind::AdminRoles => Category::Admins,
    }
}

/// One changed field of a pending change.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// Where, as a JSON Pointer (RFC 6901) into the object (`""`: the whole object).
    pub path: String,
    /// The active value (absent: the field is added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The pending value (absent: the field is removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// A pending change as the API shows it: the stored change and its diff.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingView {
    /// The change.
    #[serde(flatten)]
    pub change: PendingChange,
    /// What it changes, field by field (a create lists its top-level fields as added, a delete
    /// as removed).
    pub diff: Vec<FieldChange>,
}

impl PendingView {
    /// The view of `change`, with its diff.
    pub fn new(change: PendingChange) -> Self {
        let mut diff = Vec::new();
        diff_values("", change.before.as_ref(), change.after.as_ref(), &mut diff);
        Self { change, diff }
    }
}

/// Appends the differences between `before` and `after` under `path`: objects are compared
/// member by member, anything else (arrays included: a list of audiences is one setting) as a
/// whole.
fn diff_values(
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<FieldChange>,
) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                diff_values(&format!("{path}/{escaped}"), b.get(key), a.get(key), out);
            }
        }
        (None, Some(Value::Object(a))) | (Some(Value::Null), Some(Value::Object(a)))
            if path.is_empty() =>
        {
            for (key, value) in a {
                out.push(FieldChange {
                    path: format!("/{key}"),
                    before: None,
                    after: Some(value.clone()),
                });
            }
        }
        (Some(Value::Object(b)), None) if path.is_empty() => {
            for (key, value) in b {
                out.push(FieldChange {
                    path: format!("/{key}"),
                    before: Some(value.clone()),
                    after: None,
                });
            }
        }
        (b, a) if b == a => {}
        (b, a) => out.push(FieldChange {
            path: path.to_owned(),
            before: b.cloned(),
            after: a.cloned(),
        }),
    }
}

/// The answer of `GET /api/v1/status/pending`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PendingList {
    /// The pending changes the caller may see, in the order activation applies them.
    items: Vec<PendingView>,
}

/// The answer of `POST /api/v1/status/activate`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivationResult {
    /// The changes applied, in order (empty: nothing was pending).
    activated: Vec<PendingView>,
    /// The configuration version every node converges on.
    config_version: i64,
}

impl From<ActivationReport> for ActivationResult {
    fn from(report: ActivationReport) -> Self {
        Self {
            activated: report.applied.into_iter().map(PendingView::new).collect(),
            config_version: report.config_version,
        }
    }
}

fn caps(state: &ControlState) -> RoleCaps {
    RoleCaps {
        api: state.settings.max_api_roles,
        admin: state.settings.max_admin_roles,
    }
}

/// List the pending changes (those of the categories the caller may read).
#[utoipa::path(
    get,
    path = "/api/v1/status/pending",
    tag = "meta",
    operation_id = "listPendingChanges",
    responses((status = 200, description = "The pending changes, each with its diff against the active configuration.", body = PendingList))
)]
pub async fn list(
    State(state): State<ControlState>,
    principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    let items = state
        .store
        .list_pending(state.org)
        .await?
        .into_iter()
        .filter(|change| principal.permissions.allows(category(change.kind), false))
        .map(PendingView::new)
        .collect();
    Ok(Json(PendingList { items }))
}

/// One pending change chosen for activation, at the version the caller reviewed.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectedChange {
    /// The pending change's id.
    pub id: String,
    /// Its `version` as reviewed (a change edited since is refused with 409).
    pub version: i64,
}

/// The body of `POST /api/v1/status/activate` (optional: no body or `{}` activates everything
/// pending).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// Exactly these changes (the rest stay pending); omitted: every pending change.
    #[serde(default)]
    pub changes: Option<Vec<SelectedChange>>,
}

/// Reads the optional body: none, `null` and `{}` all mean "everything pending". Only objects
/// are read as objects: serde would also take `[]` (or `[["id", 1]]` for a change) as a struct,
/// which the document does not allow.
fn activate_request(body: &[u8]) -> Result<ActivateRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActivateRequest::default());
    }
    let value: Value = crate::json::parse(body)?;
    match &value {
        Value::Null => return Ok(ActivateRequest::default()),
        Value::Object(members) => {
            if let Some(Value::Array(changes)) = members.get("changes")
                && let Some(n) = changes.iter().position(|c| !c.is_object())
            {
                return Err(ApiError::invalid_field(
                    &format!("changes[{n}]"),
                    "must be an object with `id` and `version`",
                ));
            }
        }
        _ => return Err(ApiError::bad_request("the body must be a JSON object")),
    }
    crate::json::parse(body)
}

/// Apply pending changes, atomically.
#[utoipa::path(
    post,
    path = "/api/v1/status/activate",
    tag = "meta",
    operation_id = "activate",
    request_body = Option<ActivateRequest>,
    responses(
        (status = 200, description = "The changes applied in one transaction (one configuration version on every node); audited per object and as `activate` with the objects it changed. `activated` is empty when nothing was pending.", body = ActivationResult),
        (status = 403, description = "The caller may not change a category with a selected (or, without a selection, any) pending change.", body = ErrorBody),
        (status = 409, description = "A selected change was edited, discarded or activated meanwhile, an object changed since its change was staged, a name is in use or a limit is reached (`pending_conflict`, `conflict`, `limit_exceeded`): nothing was applied.", body = ErrorBody),
    )
)]
pub async fn activate(
    State(state): State<ControlState>,
    principal: Principal,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let request = activate_request(&body)?;
    let pending = state.store.list_pending(state.org).await?;
    // What is activated is exactly what was checked here (and, with a selection, what the
    // caller reviewed): a change staged or edited meanwhile makes it a 409 or stays pending,
    // never rides along unseen.
    let selection: Vec<(String, i64)> = match request.changes {
        None => {
            for change in &pending {
                principal.require(category(change.kind), true)?;
            }
            pending.iter().map(|c| (c.id.clone(), c.version)).collect()
        }
        Some(chosen) => {
            for selected in &chosen {
                if let Some(change) = pending.iter().find(|c| c.id == selected.id) {
                    principal.require(category(change.kind), true)?;
                }
            }
            chosen.into_iter().map(|c| (c.id, c.version)).collect()
        }
    };
    let report = state
        .store
        .activate(
            state.org,
            Some(&selection),
            caps(&state),
            &principal.actor(),
            None,
        )
        .await?;
    if !report.applied.is_empty() {
        tracing::info!(
            changes = report.applied.len(),
            config_version = report.config_version,
            by = %principal.name,
            "configuration activated"
        );
    }
    Ok(Json(ActivationResult::from(report)))
}

/// Withdraw one pending change (its author, or a Super Admin).
#[utoipa::path(
    delete,
    path = "/api/v1/status/pending/{id}",
    tag = "meta",
    operation_id = "discardPendingChange",
    params(("id" = String, Path, description = "The pending change's id.")),
    responses(
        (status = 204, description = "Withdrawn; audited as `discard`."),
        (status = 409, description = "Another admin staged it (`pending_conflict`).", body = ErrorBody),
    )
)]
pub async fn discard(
    State(state): State<ControlState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let super_admin = principal.permissions == Permissions::FULL;
    state
        .store
        .discard_pending(state.org, &id, super_admin, &principal.actor())
        .await
        .map_err(|err| match err {
            StoreError::NotFound => ApiError::not_found("pending change"),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// At sign-out: activates what the admin left pending, as far as their permissions *now*
/// allow (a role reduced since staging keeps those changes pending). A refusal (an object moved
/// on, a limit) must not keep anyone signed in: it is logged, and the changes stay pending for
/// someone to activate or discard.
pub async fn activate_at_sign_out(state: &ControlState, principal: &Principal) {
    if state.runtime.read_only().is_some() {
        // Read-only refuses every change, activations included; signing out still works.
        tracing::info!(by = %principal.name, "read-only: pending changes not activated at sign-out");
        return;
    }
    let pending = match state.store.list_pending(state.org).await {
        Ok(pending) => pending,
        Err(err) => {
            tracing::warn!(%err, by = %principal.name, "pending changes could not be read at sign-out; they stay pending");
            return;
        }
    };
    let (mine, kept): (Vec<_>, Vec<_>) = pending
        .iter()
        .filter(|c| c.staged_by == principal.name)
        .partition(|c| principal.permissions.allows(category(c.kind), true));
    if !kept.is_empty() {
        tracing::warn!(changes = kept.len(), by = %principal.name, "pending changes the admin may no longer make stay pending at sign-out");
    }
    if mine.is_empty() {
        return;
    }
    let selection: Vec<(String, i64)> = mine.iter().map(|c| (c.id.clone(), c.version)).collect();
    let result = state
        .store
        .activate(
            state.org,
            Some(&selection),
            caps(state),
            &principal.actor(),
            Some(format!("at the sign-out of {}", principal.name)),
        )
        .await;
    match result {
        Ok(report) if report.applied.is_empty() => {}
        Ok(report) => {
            tracing::info!(
                changes = report.applied.len(),
                config_version = report.config_version,
                by = %principal.name,
                "configuration activated at sign-out"
            );
            portcullis_runtime::rebuild_or_log(&state.runtime).await;
        }
        Err(err) => {
            tracing::warn!(%err, by = %principal.name, "the admin's pending changes could not be activated at sign-out; they stay pending");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn diff(before: Option<Value>, after: Option<Value>) -> Vec<FieldChange> {
        let mut out = Vec::new();
        diff_values("", before.as_ref(), after.as_ref(), &mut out);
        out
    }

    #[test]
    fn a_replace_lists_only_the_fields_that_change() {
        let before = json!({"name": "a", "audiences": ["x"], "claims": {"sub": "1", "t/~": 2}});
        let after = json!({"name": "a", "audiences": ["x", "y"], "claims": {"sub": "1", "t/~": 3}, "new": true});
        let changes = diff(Some(before), Some(after));
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["/audiences", "/claims/t~1~0", "/new"]);
        assert_eq!(changes[0].after, Some(json!(["x", "y"])));
        assert_eq!(changes[2].before, None);
    }

    #[test]
    fn the_activation_body_is_an_object_or_nothing() {
        for empty in [&b""[..], b" \n", b"null", b"{}"] {
            assert!(activate_request(empty).unwrap().changes.is_none());
        }
        let chosen = activate_request(br#"{"changes":[{"id":"a","version":2}]}"#).unwrap();
        assert_eq!(chosen.changes.unwrap()[0].version, 2);
        for refused in [
            &br#"[]"#[..],
            br#"[["a",1]]"#,
            br#"{"changes":[["a",1]]}"#,
            b"3",
        ] {
            assert!(activate_request(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn a_create_adds_and_a_delete_removes_every_field() {
        let object = json!({"name": "a", "enabled": true});
        let created = diff(None, Some(object.clone()));
        assert_eq!(created.len(), 2);
        assert!(
            created
                .iter()
                .all(|c| c.before.is_none() && c.after.is_some())
        );
        let deleted = diff(Some(object), None);
        assert_eq!(deleted.len(), 2);
        assert!(
            deleted
                .iter()
                .all(|c| c.after.is_none() && c.before.is_some())
        );
        assert!(diff(Some(json!({"a": 1})), Some(json!({"a": 1}))).is_empty());
    }
}
