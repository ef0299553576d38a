//! The counters the runtime and the token checks of both planes update: accepted and rejected
//! bearer tokens, verified-token cache hits, snapshot rebuilds and their failures, key fetches.
//! The gateway's `/metrics` renders them beside its own (decisions, proxy, latency). Label
//! values are bounded: rejection reasons are `Rejection::code()`s, servers are configured ids.
//!
//! Counters updated per request are lock-free: [`LabelCounters`] keeps one `AtomicU64` per label
//! of a closed, sorted table (found by binary search over `&'static str`s, no hashing, no lock).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use portcullis_keys::manager::RefreshResult;

/// Every reason a bearer token or a request target is rejected with
/// (`portcullis_rejections_total{reason=...}`), sorted: `policy::Rejection::code()`,
/// `policy::target::TargetError::code()`, the gateway's `OriginalRequestError::code()` and the
/// control plane's `no_api_role`.
pub const REJECTION_LABELS: &[&str] = &[
    "alg_hmac",
    "alg_key_mismatch",
    "alg_none",
    "alg_not_allowed",
    "alg_unsupported",
    "asterisk_form",
    "aud_mismatch",
    "aud_missing",
    "authority_form",
    "authority_mismatch",
    "backslash",
    "claim_malformed",
    "client_id_mismatch",
    "client_id_missing",
    "conflicting_host",
    "control_character",
    "dot_segment",
    "double_encoding",
    "empty",
    "empty_host",
    "empty_segment",
    "encoded_separator",
    "exp_missing",
    "expired",
    "fragment",
    "header_b64",
    "header_bad_json",
    "header_bad_kid",
    "header_bad_typ",
    "header_crit",
    "header_missing_alg",
    "header_nonce",
    "iat_in_future",
    "id_token",
    "incomplete_routing_headers",
    "invalid_character",
    "invalid_host",
    "invalid_method",
    "invalid_percent_encoding",
    "invalid_port",
    "invalid_utf8",
    "issuer_mismatch",
    "issuer_unknown",
    "key_issuer_mismatch",
    "kid_unknown",
    "method_override",
    "missing_routing_headers",
    "no_api_role",
    "no_compatible_key",
    "no_keys",
    "not_origin_form",
    "not_yet_valid",
    "numeric_date_out_of_range",
    "parameter_dot_segment",
    "parameter_empty_segment",
    "payload_bad_json",
    "repeated_routing_header",
    "routing_header_not_text",
    "routing_headers_disagree",
    "server_disabled",
    "signature_invalid",
    "signature_missing",
    "token_bad_base64",
    "token_empty",
    "token_encrypted",
    "token_lifetime_exceeded",
    "token_malformed",
    "too_long",
    "typ_not_at_jwt",
    "typ_wrong",
    "underscored_routing_header",
    "unexpected_query",
    "userinfo",
];

/// One lock-free counter per label of a closed, sorted label table. A label outside the table
/// (a code added without adding it here: a debug build panics so tests catch it) is still
/// counted, in a locked map that the known labels never touch.
#[derive(Debug)]
pub struct LabelCounters {
    labels: &'static [&'static str],
    counts: Box<[AtomicU64]>,
    unknown: Mutex<BTreeMap<&'static str, u64>>,
}

impl LabelCounters {
    /// Counters for `labels`, which must be sorted and unique.
    pub fn new(labels: &'static [&'static str]) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0] < w[1]), "labels not sorted");
        Self {
            labels,
            counts: labels.iter().map(|_| AtomicU64::new(0)).collect(),
            unknown: Mutex::default(),
        }
    }

    /// Adds one to `label`.
    pub fn add(&self, label: &'static str) {
        match self.labels.binary_search(&label) {
            Ok(i) => {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                debug_assert!(false, "metric label {label:?} is missing from its table");
                *self
                    .unknown
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(label)
                    .or_default() += 1;
            }
        }
    }

    /// The labels counted at least once with their counts, sorted by label.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        let mut out: Vec<(&'static str, u64)> = self
            .labels
            .iter()
            .zip(self.counts.iter())
            .map(|(label, n)| (*label, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        out.extend(
            self.unknown
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|(label, n)| (*label, *n)),
        );
        out.sort_unstable();
        out
    }
}

/// The runtime's counters.
#[derive(Debug)]
pub struct Counters {
    /// Accepted bearer tokens.
    pub tokens_accepted: AtomicU64,
    /// Verified-token cache hits.
    pub token_cache_hits: AtomicU64,
    /// Snapshot rebuilds.
    pub snapshot_rebuilds: AtomicU64,
    /// Failed snapshot rebuilds (store unreachable).
    pub snapshot_rebuild_failures: AtomicU64,
    /// Full rebuilds from the store timed (read, keys, compile, swap), and their total and last
    /// duration in microseconds: what a configuration change costs a node at its size.
    full_rebuilds: AtomicU64,
    full_rebuild_micros: AtomicU64,
    last_rebuild_micros: AtomicU64,
    rejections: LabelCounters,
    fetches: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            tokens_accepted: AtomicU64::new(0),
            token_cache_hits: AtomicU64::new(0),
            snapshot_rebuilds: AtomicU64::new(0),
            snapshot_rebuild_failures: AtomicU64::new(0),
            full_rebuilds: AtomicU64::new(0),
            full_rebuild_micros: AtomicU64::new(0),
            last_rebuild_micros: AtomicU64::new(0),
            rejections: LabelCounters::new(REJECTION_LABELS),
            fetches: Mutex::default(),
        }
    }
}

impl Counters {
    /// Records how long one full rebuild from the store took.
    pub fn rebuild_took(&self, took: std::time::Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.full_rebuilds.fetch_add(1, Ordering::Relaxed);
        self.full_rebuild_micros
            .fetch_add(micros, Ordering::Relaxed);
        self.last_rebuild_micros.store(micros, Ordering::Relaxed);
    }

    /// Counts a rejected token by reason code (lock-free).
    pub fn reject(&self, code: &'static str) {
        self.rejections.add(code);
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
        let seconds = |micros: &AtomicU64| micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP portcullis_snapshot_rebuild_duration_seconds Full snapshot rebuilds from the store (read, keys, compile, swap).\n# TYPE portcullis_snapshot_rebuild_duration_seconds summary\nportcullis_snapshot_rebuild_duration_seconds_sum {}\nportcullis_snapshot_rebuild_duration_seconds_count {}",
            seconds(&self.full_rebuild_micros),
            self.full_rebuilds.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP portcullis_snapshot_rebuild_last_seconds How long the last full snapshot rebuild took.\n# TYPE portcullis_snapshot_rebuild_last_seconds gauge\nportcullis_snapshot_rebuild_last_seconds {}",
            seconds(&self.last_rebuild_micros),
        );
        let _ = writeln!(
            out,
            "# HELP portcullis_rejections_total Rejected bearer tokens by reason.\n# TYPE portcullis_rejections_total counter"
        );
        for (reason, n) in self.rejections.nonzero() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_policy::target::TargetError;

    #[test]
    fn the_rejection_table_is_sorted_and_holds_every_target_code() {
        assert!(REJECTION_LABELS.windows(2).all(|w| w[0] < w[1]));
        for err in [
            TargetError::Empty,
            TargetError::TooLong,
            TargetError::NotOriginForm,
            TargetError::AsteriskForm,
            TargetError::AuthorityForm,
            TargetError::Fragment,
            TargetError::DotSegment,
            TargetError::ParameterDotSegment,
            TargetError::ParameterEmptySegment,
            TargetError::EmptySegment,
            TargetError::EncodedSeparator,
            TargetError::Backslash,
            TargetError::DoubleEncoding,
            TargetError::ControlCharacter,
            TargetError::InvalidPercentEncoding,
            TargetError::InvalidUtf8,
            TargetError::InvalidCharacter,
            TargetError::UserInfo,
            TargetError::EmptyHost,
            TargetError::InvalidHost,
            TargetError::InvalidPort,
            TargetError::UnexpectedQuery,
        ] {
            assert!(REJECTION_LABELS.contains(&err.code()), "{}", err.code());
        }
    }

    #[test]
    fn rejections_render_like_a_sorted_map() {
        let counters = Counters::default();
        counters.reject("expired");
        counters.reject("alg_none");
        counters.reject("expired");
        let mut out = String::new();
        counters.render_tokens(&mut out);
        assert!(
            out.ends_with(
                "# TYPE portcullis_rejections_total counter\nportcullis_rejections_total{reason=\"alg_none\"} 1\nportcullis_rejections_total{reason=\"expired\"} 2\n"
            ),
            "{out}"
        );
    }
}
