//! The page of one authorization server (`/portal/authorization-servers/{id}`): its settings,
//! the keys in use (from the last good JWKS), the last fetch with its error in plain words, and
//! each node's own key status.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_jose::JwkSet;
use portcullis_keys::validate::{ReportedKey, reported_keys};
use portcullis_policy::permissions::Category;
use portcullis_store::{NodeKeyStatus, StoreError, now_ms};

use super::dashboard::{Bar, bars, last_hour};
use super::pages::{Chrome, SERVERS, render};
use super::{PageError, PortalAdmin, plain, view};
use crate::api::servers;
use crate::error::ApiError;
use crate::state::ControlState;

/// A time as "3 min ago (2025-01-31 14:05:09 UTC)", or "never".
fn when(now: i64, at: Option<i64>) -> String {
    at.map_or_else(
        || "never".to_owned(),
        |ms| format!("{} ({})", view::relative(now, ms), view::absolute(ms)),
    )
}

/// A key in use, with when its id was first and last seen in a good fetch.
struct KeyRow {
    key: ReportedKey,
    first_seen: String,
    last_seen: String,
}

/// One recorded fetch.
struct FetchRow {
    at: String,
    ok: bool,
    error: Option<(&'static str, String)>,
}

/// One node's view of this server's keys.
struct NodeRow {
    node: String,
    last_success: String,
    last_attempt: String,
    error: Option<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "server.html")]
struct ServerPage {
    chrome: Chrome,
    name: String,
    description: String,
    enabled: bool,
    health: &'static str,
    health_label: &'static str,
    /// (label, value) of the settings, in the form's order.
    settings: Vec<(&'static str, String)>,
    keys: Vec<KeyRow>,
    fetches: Vec<FetchRow>,
    last_success: String,
    last_attempt: String,
    keys_until: Option<String>,
    error: Option<(&'static str, String)>,
    nodes: Vec<NodeRow>,
    chart_title: String,
    bars: Vec<Bar>,
    max: u64,
    total_allowed: u64,
    total_denied: u64,
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// `GET /portal/authorization-servers/{id}`.
pub async fn server_page(
    State(state): State<ControlState>,
    admin: PortalAdmin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    admin.require_view(Category::AuthorizationServers)?;
    let record = match state.store.get_server(state.org, &id).await {
        Ok(record) => record,
        Err(StoreError::NotFound) => {
            return Err(PageError::Api(ApiError::not_found("authorization server")));
        }
        Err(err) => return Err(err.into()),
    };
    let now = now_ms();
    let nodes = state
        .store
        .list_node_key_status(state.org)
        .await?
        .into_iter()
        .filter(|s: &NodeKeyStatus| s.server_id == record.id)
        .map(|s| NodeRow {
            node: s.node_id,
            last_success: when(now, s.last_successful_fetch_at),
            last_attempt: when(now, Some(s.last_fetch_attempt_at)),
            error: s.last_fetch_error.as_deref().map(plain::fetch_error),
        })
        .collect();
    let status = record.status.clone();
    let seen = state.store.keys_seen(state.org, &record.id).await?;
    let keys = record
        .last_good_jwks
        .as_deref()
        .and_then(|jwks| JwkSet::parse(jwks.as_bytes()).ok())
        .map(|set| reported_keys(&set))
        .unwrap_or_default()
        .into_iter()
        .map(|key| {
            let times = seen
                .iter()
                .find(|s| key.kid.as_deref() == Some(s.kid.as_str()));
            KeyRow {
                first_seen: when(now, times.map(|s| s.first_seen_at)),
                last_seen: when(now, times.map(|s| s.last_seen_at)),
                key,
            }
        })
        .collect();
    let fetches = state
        .store
        .key_fetches(state.org, &record.id)
        .await?
        .into_iter()
        .map(|f| FetchRow {
            at: when(now, Some(f.at)),
            ok: f.ok,
            error: f.error.as_deref().map(plain::fetch_error),
        })
        .collect();
    let d = record.definition.clone();
    let hour = last_hour(&state, Some(&d.name)).await?;
    let max = hour.minutes.iter().map(|(a, n)| a + n).max().unwrap_or(0);
    let total_allowed = hour.minutes.iter().map(|(a, _)| a).sum();
    let total_denied = hour.minutes.iter().map(|(_, n)| n).sum();
    let chart_title = format!(
        "Decisions on tokens of {} per minute, last 60 minutes",
        d.name
    );
    let (health, health_label) = match servers::view(record).status.keys_source {
        servers::KeysSource::Fresh => ("fresh", "Keys fresh"),
        servers::KeysSource::StaleButUsable => ("stale", "Keys stale"),
        servers::KeysSource::None | servers::KeysSource::Expired => ("failing", "Keys failing"),
    };
    let settings = vec![
        ("Preset", d.preset.name().to_owned()),
        (
            "Metadata URL",
            d.metadata_url.clone().unwrap_or_else(|| "none".to_owned()),
        ),
        (
            "JWKS URL",
            d.jwks_uri
                .clone()
                .unwrap_or_else(|| "from discovery".to_owned()),
        ),
        (
            "Issuer",
            d.issuer.clone().unwrap_or_else(|| "any".to_owned()),
        ),
        ("Audiences", list(&d.audiences)),
        ("Client IDs", list(&d.client_ids)),
        (
            "Allowed algorithms",
            d.allowed_algs
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("Scope claims", list(&d.scope_claims)),
        ("Client-ID claims", list(&d.client_id_claims)),
        ("Clock skew", format!("{} s", d.clock_skew_s)),
        (
            "Longest token lifetime",
            format!("{} s", d.max_token_lifetime_s),
        ),
        ("Refresh interval", format!("{} s", d.refresh_interval_s)),
        (
            "Keep last good keys while failing",
            format!("{} s", d.max_stale_s),
        ),
        (
            "Key host certificates",
            if d.verify_tls {
                "checked"
            } else {
                "not checked"
            }
            .to_owned(),
        ),
    ];
    render(&ServerPage {
        chrome: Chrome::new(
            &admin,
            "Authorization server",
            SERVERS,
            None::<&'static str>,
        ),
        name: d.name,
        description: d.description,
        enabled: d.enabled,
        health,
        health_label,
        settings,
        keys,
        fetches,
        last_success: when(now, status.last_successful_fetch_at),
        last_attempt: when(now, status.last_fetch_attempt_at),
        keys_until: status
            .last_successful_fetch_at
            .map(|ms| view::absolute(ms.saturating_add(i64::from(d.max_stale_s) * 1000))),
        error: status.last_fetch_error.as_deref().map(plain::fetch_error),
        nodes,
        chart_title,
        bars: bars(hour.first, &hour.minutes, max),
        max,
        total_allowed,
        total_denied,
    })
}
