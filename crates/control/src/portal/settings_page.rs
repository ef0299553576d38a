//! `GET /portal/org-settings`: the org's governance settings (read-only mode, rate limits). Every
//! admin sees them; the page's script changes them through `PUT /api/v1/orgSettings`, which
//! only a Super Admin may call (the buttons are shown to Super Admins only; the API decides).

use askama::Template;
use axum::response::Response;
use portcullis_policy::permissions::Permissions;

use super::pages::{Chrome, render};
use super::{PageError, PortalAdmin};

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
