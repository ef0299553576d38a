//! Access decisions per minute, for the portal's dashboard (cluster-wide): the gateway counts
//! every forward-auth decision here (lock-free, beside its own `/metrics` counters), and the
//! heartbeat task writes this node's counts of the current minute to the store's
//! `decision_minutes` table, one row per node and minute, so any node can show the whole
//! cluster's last hour. Counting never touches the store; a write that fails is retried at the
//! next heartbeat.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};

use arc_swap::ArcSwap;

use portcullis_store::now_ms;

use crate::Runtime;
use crate::counters::{LabelCounters, REJECTION_LABELS};

/// The reasons of a `deny` decision besides the token rejections ([`REJECTION_LABELS`]), sorted:
/// every `decide("deny", Some(..))` of the gateway.
pub const DENY_REASONS: &[&str] = &[
    "insufficient_scope",
    "invalid_request",
    "invalid_request_target",
    "invalid_session",
    "no_credentials",
    "no_route",
    "store_unavailable",
];

/// Every `deny` reason: [`DENY_REASONS`] and the token rejections, sorted (built once).
pub fn deny_labels() -> &'static [&'static str] {
    static LABELS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    LABELS.get_or_init(|| {
        let mut labels: Vec<&'static str> = DENY_REASONS
            .iter()
            .chain(REJECTION_LABELS)
            .copied()
            .collect();
        labels.sort_unstable();
        labels.dedup();
        labels
    })
}

/// How many rows a node keeps: a day of minutes (older ones are deleted as new ones are written).
pub const KEEP_MINUTES: i64 = 24 * 60;

/// One server's allowed and denied decisions.
#[derive(Debug, Default)]
struct ServerCounts {
    allowed: AtomicU64,
    denied: AtomicU64,
}

/// Decision counts since start (lock-free: atomics, and the per-server table read through an
/// `ArcSwap`; a server's entry is added once, the first time it decides).
#[derive(Debug)]
pub struct Decisions {
    allowed: AtomicU64,
    denied: AtomicU64,
    reasons: LabelCounters,
    servers: ArcSwap<BTreeMap<String, Arc<ServerCounts>>>,
}

impl Default for Decisions {
    fn default() -> Self {
        Self {
            allowed: AtomicU64::new(0),
            denied: AtomicU64::new(0),
            reasons: LabelCounters::new(deny_labels()),
            servers: ArcSwap::from_pointee(BTreeMap::new()),
        }
    }
}

/// Decision counts: totals since start, or the part of one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecisionTotals {
    /// Allowed decisions.
    pub allowed: u64,
    /// Denied decisions.
    pub denied: u64,
    /// Denied decisions by reason.
    pub reasons: BTreeMap<&'static str, u64>,
    /// (allowed, denied) by the name of the server whose token was judged.
    pub servers: BTreeMap<String, (u64, u64)>,
}

impl DecisionTotals {
    /// What was counted after `base` (an earlier reading of the same totals).
    pub fn since(&self, base: &DecisionTotals) -> DecisionTotals {
        DecisionTotals {
            allowed: self.allowed.saturating_sub(base.allowed),
            denied: self.denied.saturating_sub(base.denied),
            reasons: self
                .reasons
                .iter()
                .map(|(r, n)| {
                    (
                        *r,
                        n.saturating_sub(base.reasons.get(r).copied().unwrap_or(0)),
                    )
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
            servers: self
                .servers
                .iter()
                .map(|(name, (a, d))| {
                    let (base_a, base_d) = base.servers.get(name).copied().unwrap_or((0, 0));
                    (
                        name.clone(),
                        (a.saturating_sub(base_a), d.saturating_sub(base_d)),
                    )
                })
                .filter(|(_, (a, d))| *a > 0 || *d > 0)
                .collect(),
        }
    }
}

impl Decisions {
    /// Counts a decision; a denial with its reason.
    pub fn record(&self, allowed: bool, reason: Option<&'static str>) {
        if allowed {
            self.allowed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.denied.fetch_add(1, Ordering::Relaxed);
            if let Some(reason) = reason {
                self.reasons.add(reason);
            }
        }
    }

    /// Counts a decision on a token of `server` (besides [`Decisions::record`]).
    pub fn record_server(&self, server: &str, allowed: bool) {
        // Counted through the loaded table itself: no `Arc` clone (two atomic writes on a shared
        // cache line) per decision.
        if !self.count_server(server, allowed) {
            // The first decision for this server: add its entry (rare; never on a hot path
            // twice for the same server).
            self.servers.rcu(|table| {
                let mut table = BTreeMap::clone(table);
                table.entry(server.to_owned()).or_default();
                table
            });
            self.count_server(server, allowed);
        }
    }

    /// Adds one to `server`'s count; false when it has no entry yet.
    fn count_server(&self, server: &str, allowed: bool) -> bool {
        let table = self.servers.load();
        let Some(counts) = table.get(server) else {
            return false;
        };
        let counter = if allowed {
            &counts.allowed
        } else {
            &counts.denied
        };
        counter.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The totals since start.
    pub fn totals(&self) -> DecisionTotals {
        DecisionTotals {
            allowed: self.allowed.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            reasons: self.reasons.nonzero().into_iter().collect(),
            servers: self
                .servers
                .load()
                .iter()
                .map(|(name, c)| {
                    (
                        name.clone(),
                        (
                            c.allowed.load(Ordering::Relaxed),
                            c.denied.load(Ordering::Relaxed),
                        ),
                    )
                })
                .collect(),
        }
    }
}

/// Which minute this node is counting, and the totals when it began.
#[derive(Debug, Default)]
pub struct MinuteBook {
    minute: i64,
    base: DecisionTotals,
    last: DecisionTotals,
    written: Option<(i64, DecisionTotals)>,
}

impl MinuteBook {
    /// Moves to `minute` (a new minute starts from the last totals seen) and answers the
    /// counts of the current minute as of `totals`.
    pub fn current(&mut self, minute: i64, totals: DecisionTotals) -> DecisionTotals {
        if minute != self.minute {
            self.base = std::mem::take(&mut self.last);
            self.minute = minute;
        }
        let part = totals.since(&self.base);
        self.last = totals;
        part
    }
}

/// The minute (since the epoch) of `ms`.
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(60_000)
}

/// This node's counts of the current minute, as of now (for the dashboard, fresher than the
/// stored row).
pub fn current_minute(runtime: &Runtime) -> (i64, DecisionTotals) {
    let minute = minute_of(now_ms());
    let totals = runtime.decisions.totals();
    let part = runtime
        .decision_book
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .current(minute, totals);
    (minute, part)
}

/// Writes this node's row for the current minute when it changed (called every heartbeat).
pub async fn publish(runtime: &Runtime) {
    let (minute, part) = current_minute(runtime);
    let unchanged = runtime
        .decision_book
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .written
        .as_ref()
        .is_some_and(|(m, w)| *m == minute && *w == part);
    if unchanged || (part.allowed == 0 && part.denied == 0) {
        return;
    }
    let reasons: BTreeMap<String, i64> = part
        .reasons
        .iter()
        .map(|(r, n)| ((*r).to_owned(), i64::try_from(*n).unwrap_or(i64::MAX)))
        .collect();
    let servers: BTreeMap<String, [i64; 2]> = part
        .servers
        .iter()
        .map(|(name, (a, d))| {
            let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            (name.clone(), [count(*a), count(*d)])
        })
        .collect();
    let result = runtime
        .store
        .record_decision_minute(
            runtime.org,
            &runtime.settings.node_id,
            minute,
            i64::try_from(part.allowed).unwrap_or(i64::MAX),
            i64::try_from(part.denied).unwrap_or(i64::MAX),
            &reasons,
            &servers,
            minute - KEEP_MINUTES,
        )
        .await;
    match result {
        Ok(()) => {
            runtime
                .decision_book
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .written = Some((minute, part));
        }
        Err(err) => tracing::debug!(%err, "decision counts not written (store unreachable)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_counts_from_the_totals_seen_when_it_began() {
        let decisions = Decisions::default();
        let mut book = MinuteBook::default();
        decisions.record(true, None);
        decisions.record(false, Some("expired"));
        let first = book.current(10, decisions.totals());
        assert_eq!((first.allowed, first.denied), (1, 1));
        assert_eq!(first.reasons.get("expired"), Some(&1));
        decisions.record(false, Some("no_route"));
        decisions.record_server("okta", false);
        let next = book.current(11, decisions.totals());
        assert_eq!(next.servers.get("okta"), Some(&(0, 1)));
        // The denial seen after the last reading of minute 10 counts in minute 11.
        assert_eq!((next.allowed, next.denied), (0, 1));
        assert_eq!(
            next.reasons.keys().copied().collect::<Vec<_>>(),
            ["no_route"]
        );
        assert_eq!(minute_of(125_000), 2);
        assert!(deny_labels().windows(2).all(|w| w[0] < w[1]));
    }
}
