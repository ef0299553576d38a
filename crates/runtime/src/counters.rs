//! The counters the runtime and the token checks of both planes update: accepted and rejected
//! bearer tokens, verified-token cache hits, snapshot rebuilds and their failures, key fetches.
//! The gateway's `/metrics` renders them beside its own (decisions, proxy, latency). Label
//! values are bounded: rejection reasons are `Rejection::code()`s, servers are configured ids.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use portcullis_keys::manager::RefreshResult;

/// The runtime's counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// Accepted bearer tokens.
    pub tokens_accepted: AtomicU64,
    /// Verified-token cache hits.
    pub token_cache_hits: AtomicU64,
    /// Snapshot rebuilds.
    pub snapshot_rebuilds: AtomicU64,
    /// Failed snapshot rebuilds (store unreachable).
    pub snapshot_rebuild_failures: AtomicU64,
    rejections: Mutex<BTreeMap<&'static str, u64>>,
    fetches: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl Counters {
    /// Counts a rejected token by reason code.
    pub fn reject(&self, code: &'static str) {
        *self
            .rejections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(code)
            .or_default() += 1;
    }

    /// Counts a key fetch by server id and outcome.
    pub fn record_fetch(&self, server_id: &str, result: &RefreshResult) {
        let outcome = match result {
            RefreshResult::Updated => "updated",
            RefreshResult::Unchanged => "unchanged",
            RefreshResult::Failed(_) => "failed",
            RefreshResult::Skipped => return,
        };
        *self
            .fetches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((server_id.to_owned(), outcome))
            .or_default() += 1;
    }

    /// Appends the token and snapshot counters and the rejections (Prometheus text).
    pub fn render_tokens(&self, out: &mut String) {
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            out,
            "portcullis_tokens_accepted_total",
            "Bearer tokens accepted.",
            self.tokens_accepted.load(Ordering::Relaxed),
        );
        counter(
            out,
            "portcullis_token_cache_hits_total",
            "Verified-token cache hits.",
            self.token_cache_hits.load(Ordering::Relaxed),
        );
        counter(
            out,
            "portcullis_snapshot_rebuilds_total",
            "Configuration snapshot rebuilds.",
            self.snapshot_rebuilds.load(Ordering::Relaxed),
        );
        counter(
            out,
            "portcullis_snapshot_rebuild_failures_total",
            "Configuration refreshes (rebuilds and version checks) that failed because the store was unreachable; the current snapshot stays.",
            self.snapshot_rebuild_failures.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP portcullis_rejections_total Rejected bearer tokens by reason.\n# TYPE portcullis_rejections_total counter"
        );
        for (reason, n) in self
            .rejections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "portcullis_rejections_total{{reason=\"{reason}\"}} {n}"
            );
        }
    }

    /// Appends the key-fetch counters (Prometheus text).
    pub fn render_fetches(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP portcullis_key_fetches_total JWKS fetches by server and outcome.\n# TYPE portcullis_key_fetches_total counter"
        );
        for ((server, outcome), n) in self
            .fetches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "portcullis_key_fetches_total{{server=\"{server}\",outcome=\"{outcome}\"}} {n}"
            );
        }
    }
}
