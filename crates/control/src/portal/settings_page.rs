//! `GET /portal/org-settings`: the org's governance settings (activation, read-only mode, rate
//! limits). Every admin sees them; the page's script changes them through
//! `PUT /api/v1/orgSettings`, which only a Super Admin may call (the buttons are shown to Super
//! Admins only; the API decides). `GET /portal/pending-changes`: the staged changes waiting for
//! activation, with their diffs, Activate and Discard.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use portcullis_policy::permissions::Permissions;
use portcullis_store::{PendingAction, PendingChange, PendingKind};

use super::pages::{Chrome, render};
use super::{PageError, PortalAdmin};
use crate::api::activation;
use crate::state::ControlState;

#[derive(Template)]
#[template(path = "org_settings.html")]
struct OrgSettingsPage {
    chrome: Chrome,
    can_write: bool,
}

/// The page (its script reads `GET /api/v1/orgSettings`).
pub async fn org_settings(admin: PortalAdmin) -> Result<Response, PageError> {
    render(&OrgSettingsPage {
        can_write: admin.permissions() == Permissions::FULL,
        chrome: Chrome::new(
            &admin,
            "Org Settings",
            "/portal/org-settings",
            "org_settings.js",
        ),
    })
}

/// The pending-changes page (the bar on every page links here).
pub const PENDING: &str = "/portal/pending-changes";

/// One field of a change, as the page shows it.
struct FieldRow {
    path: String,
    before: String,
    after: String,
}

/// One pending change, as the page shows it.
struct ChangeRow {
    id: String,
    /// The version shown: Activate sends it, so a change edited since is refused, not applied
    /// unseen.
    version: i64,
    /// The admin has Full on its category.
    can_activate: bool,
    heading: String,
    staged_by: String,
    staged_at: String,
    fields: Vec<FieldRow>,
    can_discard: bool,
}

#[derive(Template)]
#[template(path = "pending.html")]
struct PendingPage {
    chrome: Chrome,
    changes: Vec<ChangeRow>,
    /// Hidden from the page: changes of categories the admin may not view.
    hidden: usize,
    can_activate: bool,
}

fn show(value: Option<&serde_json::Value>) -> String {
    match value {
        None => "—".to_owned(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

fn heading(change: &PendingChange) -> String {
    let what = match change.kind {
        PendingKind::AuthorizationServers => "authorization server",
        PendingKind::Routes => "route",
        PendingKind::ApiRoles => "API role",
        PendingKind::AdminRoles => "admin role",
    };
    let verb = match change.action {
        PendingAction::Create => "Create",
        PendingAction::Replace => "Change",
        PendingAction::Delete => "Delete",
    };
    format!("{verb} {what} “{}”", change.name)
}

/// Every pending change the admin may view, with its diff; Discard for its author (or a Super
/// Admin); Activate applies the shown changes of the categories the admin has Full on, at the
/// versions shown.
pub async fn pending_changes(
    State(state): State<ControlState>,
    admin: PortalAdmin,
) -> Result<Response, PageError> {
    let permissions = admin.permissions();
    let super_admin = permissions == Permissions::FULL;
    let all = state
        .store
        .list_pending(state.org)
        .await
        .map_err(|e| PageError::Api(e.into()))?;
    let total = all.len();
    let changes: Vec<ChangeRow> = all
        .into_iter()
        .filter(|c| permissions.allows(activation::category(c.kind), false))
        .map(|change| {
            let can_discard = super_admin || change.staged_by == admin.0.admin.login;
            let can_activate = permissions.allows(activation::category(change.kind), true);
            let view = activation::PendingView::new(change);
            ChangeRow {
                heading: heading(&view.change),
                staged_at: crate::time::rfc3339(view.change.staged_at),
                fields: view
                    .diff
                    .iter()
                    .map(|d| FieldRow {
                        path: if d.path.is_empty() {
                            "(whole object)".to_owned()
                        } else {
                            d.path.clone()
                        },
                        before: show(d.before.as_ref()),
                        after: show(d.after.as_ref()),
                    })
                    .collect(),
                id: view.change.id,
                version: view.change.version,
                can_activate,
                staged_by: view.change.staged_by,
                can_discard,
            }
        })
        .collect();
    let can_activate = changes.iter().any(|c| c.can_activate);
    render(&PendingPage {
        hidden: total - changes.len(),
        changes,
        can_activate,
        chrome: Chrome::new(&admin, "Pending Changes", PENDING, "pending.js"),
    })
}
