//! The dashboard, the portal's landing page: the whole cluster's access decisions per minute
//! over the last hour (allowed and denied, stacked bars), the top rejection reasons, key
//! freshness per server and the nodes. The chart is an SVG the server writes (plain rectangles
//! in a `viewBox`, no script, no library): the data is small and fixed in shape, and an SVG
//! from the template needs no chart library to ship or trust.
//!
//! Every node writes its counts per minute to the store with its heartbeat
//! (`runtime::decisions`); this node's current minute is read from memory, so a request shows
//! at once.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use portcullis_policy::permissions::Category;
use portcullis_runtime::decisions;
use portcullis_store::now_ms;

use super::pages::{Chrome, render};
use super::{PageError, PortalAdmin, view};
use crate::api::servers;
use crate::state::ControlState;

/// Minutes shown.
const MINUTES: i64 = 60;
/// A node is "up" when its last heartbeat is this recent.
const UP_WITHIN_MS: i64 = 10_000;
/// The plot area inside the SVG's `viewBox` (0 0 600 190).
const PLOT_LEFT: f64 = 44.0;
const PLOT_RIGHT: f64 = 596.0;
const PLOT_TOP: f64 = 10.0;
const PLOT_BOTTOM: f64 = 160.0;

/// One minute's stacked bar, in `viewBox` units.
pub(super) struct Bar {
    pub(super) x: String,
    pub(super) width: String,
    pub(super) allowed_y: String,
    pub(super) allowed_h: String,
    pub(super) denied_y: String,
    pub(super) denied_h: String,
    /// `14:05 UTC`.
    pub(super) label: String,
    pub(super) allowed: u64,
    pub(super) denied: u64,
}

/// One server's key freshness.
struct Freshness {
    id: String,
    name: String,
    enabled: bool,
    health: &'static str,
    label: &'static str,
    last_success: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    chart_title: &'static str,
    bars: Vec<Bar>,
    /// The highest minute (allowed + denied), the y axis' top.
    max: u64,
    total_allowed: u64,
    total_denied: u64,
    /// (reason code, count), most frequent first, at most 8.
    reasons: Vec<(String, u64)>,
    servers: Option<Vec<Freshness>>,
    /// (up, listed) nodes, when the admin may see them.
    nodes: Option<(usize, usize)>,
}

fn fmt(value: f64) -> String {
    format!("{value:.1}")
}

/// The stacked bars of `minutes` (allowed, denied), oldest first, scaled to `max`.
pub(super) fn bars(first_minute: i64, minutes: &[(u64, u64)], max: u64) -> Vec<Bar> {
    let count = minutes.len().max(1);
    #[allow(clippy::cast_precision_loss)]
    let slot = (PLOT_RIGHT - PLOT_LEFT) / count as f64;
    #[allow(clippy::cast_precision_loss)]
    let scale = (PLOT_BOTTOM - PLOT_TOP) / max.max(1) as f64;
    minutes
        .iter()
        .enumerate()
        .map(|(i, (allowed, denied))| {
            #[allow(clippy::cast_precision_loss)]
            let x = PLOT_LEFT + slot * i as f64;
            #[allow(clippy::cast_precision_loss)]
            let allowed_h = *allowed as f64 * scale;
            #[allow(clippy::cast_precision_loss)]
            let denied_h = *denied as f64 * scale;
            let minute = first_minute + i64::try_from(i).unwrap_or(0);
            let label = view::absolute(minute * 60_000)
                .get(11..16)
                .map_or_else(String::new, |hm| format!("{hm} UTC"));
            Bar {
                x: fmt(x + 0.75),
                width: fmt((slot - 1.5).max(0.5)),
                allowed_y: fmt(PLOT_BOTTOM - allowed_h),
                allowed_h: fmt(allowed_h),
                denied_y: fmt(PLOT_BOTTOM - allowed_h - denied_h),
                denied_h: fmt(denied_h),
                label,
                allowed: *allowed,
                denied: *denied,
            }
        })
        .collect()
}

/// The last hour's decisions: per minute (allowed, denied), oldest first, and the denial reasons.
pub(super) struct Hour {
    /// The first minute shown (minutes since the epoch).
    pub(super) first: i64,
    pub(super) minutes: Vec<(u64, u64)>,
    pub(super) reasons: BTreeMap<String, u64>,
}

/// The whole cluster's decisions of the last hour, or those on tokens of `server` only (then
/// without reasons). This node's current minute comes from memory (fresher than its last
/// write).
pub(super) async fn last_hour(
    state: &ControlState,
    server: Option<&str>,
) -> Result<Hour, PageError> {
    let (this_minute, live) = decisions::current_minute(&state.runtime);
    let first = this_minute - (MINUTES - 1);
    let mut minutes = vec![(0u64, 0u64); usize::try_from(MINUTES).unwrap_or(60)];
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let node = &state.runtime.settings.node_id;
    let mut add = |minute: i64, allowed: u64, denied: u64| {
        if let Some(slot) = usize::try_from(minute - first)
            .ok()
            .and_then(|i| minutes.get_mut(i))
        {
            slot.0 += allowed;
            slot.1 += denied;
        }
    };
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    for row in state.store.decision_minutes(state.org, first).await? {
        if row.minute == this_minute && &row.node_id == node {
            continue;
        }
        match server {
            None => {
                add(row.minute, count(row.allowed), count(row.denied));
                for (reason, n) in row.reasons {
                    *reasons.entry(reason).or_default() += count(n);
                }
            }
            Some(name) => {
                if let Some([a, d]) = row.servers.get(name) {
                    add(row.minute, count(*a), count(*d));
                }
            }
        }
    }
    match server {
        None => {
            add(this_minute, live.allowed, live.denied);
            for (reason, n) in live.reasons {
                *reasons.entry(reason.to_owned()).or_default() += n;
            }
        }
        Some(name) => {
            if let Some((a, d)) = live.servers.get(name) {
                add(this_minute, *a, *d);
            }
        }
    }
    Ok(Hour {
        first,
        minutes,
        reasons,
    })
}

/// `GET /portal/dashboard`: every signed-in admin sees the decisions; servers and nodes with
/// the permission to view authorization servers.
pub async fn dashboard(
    State(state): State<ControlState>,
    admin: PortalAdmin,
) -> Result<Response, PageError> {
    let now = now_ms();
    let hour = last_hour(&state, None).await?;
    let (first, minutes, reasons) = (hour.first, hour.minutes, hour.reasons);
    let max = minutes.iter().map(|(a, d)| a + d).max().unwrap_or(0);
    let total_allowed = minutes.iter().map(|(a, _)| a).sum();
    let total_denied = minutes.iter().map(|(_, d)| d).sum();
    let mut reasons: Vec<(String, u64)> = reasons.into_iter().filter(|(_, n)| *n > 0).collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    reasons.truncate(8);

    let can_see_servers = admin
        .permissions()
        .allows(Category::AuthorizationServers, false);
    let (servers, nodes) = if can_see_servers {
        let servers = state
            .store
            .list_servers(state.org)
            .await?
            .into_iter()
            .map(|record| {
                let last_success = record
                    .status
                    .last_successful_fetch_at
                    .map_or_else(|| "never".to_owned(), |ms| view::relative(now, ms));
                let name = record.definition.name.clone();
                let id = record.id.clone();
                let enabled = record.definition.enabled;
                let (health, label) = match servers::view(record).status.keys_source {
                    servers::KeysSource::Fresh => ("fresh", "Keys fresh"),
                    servers::KeysSource::StaleButUsable => ("stale", "Keys stale"),
                    servers::KeysSource::None | servers::KeysSource::Expired => {
                        ("failing", "Keys failing")
                    }
                };
                Freshness {
                    id,
                    name,
                    enabled,
                    health,
                    label,
                    last_success,
                }
            })
            .collect();
        let listed = state.store.list_nodes(now - 10 * 60_000).await?;
        let up = listed
            .iter()
            .filter(|n| n.heartbeat_at >= now - UP_WITHIN_MS)
            .count();
        (Some(servers), Some((up, listed.len())))
    } else {
        (None, None)
    };
    render(&DashboardPage {
        chrome: Chrome::new(
            &admin,
            "Dashboard",
            super::pages::HOME,
            None::<&'static str>,
        ),
        chart_title: "Allowed and denied decisions per minute, last 60 minutes",
        bars: bars(first, &minutes, max),
        max,
        total_allowed,
        total_denied,
        reasons,
        servers,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_denied_on_allowed_within_the_plot() {
        let bars = bars(0, &[(0, 0), (2, 2), (4, 0)], 4);
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[0].allowed_h, "0.0");
        // Full height is the plot's 150 units: 2 + 2 of 4 is 75 + 75.
        assert_eq!(bars[1].allowed_h, "75.0");
        assert_eq!(bars[1].denied_y, "10.0");
        assert_eq!(bars[2].allowed_y, "10.0");
        assert_eq!(bars[0].label, "00:00 UTC");
    }
}
