//! `/metrics` in the Prometheus text format: the gateway's own counters (forward-auth decisions,
//! proxied requests) and latency histograms, rendered with the runtime's counters (tokens,
//! snapshot rebuilds, key fetches; `portcullis_runtime::counters`). Label values are bounded:
//! rejection reasons are `Rejection::code()`s, servers are configured names.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use portcullis_runtime::counters::{Counters, LabelCounters};
use portcullis_runtime::decisions::deny_labels;

/// Upper bounds (seconds) of the latency buckets: fine below 5 ms, where the hot path lives
/// (DESIGN.md §5: p99 under 5 ms), coarse above.
const BUCKETS: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

/// A Prometheus histogram with fixed buckets, lock-free so the hot path never waits on it.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        // Cumulative buckets are summed at render time; here only the first fitting one counts.
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Which part of the server a request went to (the latency histogram's label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/authz` (forward auth).
    ForwardAuth,
    /// `/api/v1` (cloud service API).
    Api,
    /// `/sandbox/v1`.
    Sandbox,
    /// `/metrics`, `/healthz`, `/readyz`.
    Operations,
    /// Everything else: the reverse proxy and the portal.
    Other,
}

impl Endpoint {
    const ALL: [Endpoint; 5] = [
        Endpoint::ForwardAuth,
        Endpoint::Api,
        Endpoint::Sandbox,
        Endpoint::Operations,
        Endpoint::Other,
    ];

    /// Classifies a request path.
    pub fn of(path: &str) -> Self {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/authz") {
            Endpoint::ForwardAuth
        } else if under("/api") {
            Endpoint::Api
        } else if under("/sandbox") {
            Endpoint::Sandbox
        } else if matches!(path, "/metrics" | "/healthz" | "/readyz") {
            Endpoint::Operations
        } else {
            Endpoint::Other
        }
    }

    fn label(self) -> &'static str {
        match self {
            Endpoint::ForwardAuth => "authz",
            Endpoint::Api => "api",
            Endpoint::Sandbox => "sandbox",
            Endpoint::Operations => "operations",
            Endpoint::Other => "proxy_or_portal",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The proxied-request outcomes, sorted.
const PROXY_OUTCOMES: &[&str] = &["ok", "timeout", "unreachable"];

/// The gateway's counters and histograms. Counters updated per request are lock-free. The deny
/// reasons are `runtime::decisions::deny_labels()` (the dashboard counts the same decisions).
#[derive(Debug)]
pub struct Metrics {
    allowed: AtomicU64,
    denied: LabelCounters,
    /// Decisions outside `allow` without a reason and `deny` with one (none today).
    other_decisions: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    proxied: LabelCounters,
    /// Time to response headers, by [`Endpoint`].
    pub request_latency: [Histogram; 5],
    /// Time to an upstream's response headers (reverse proxy).
    pub upstream_latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            allowed: AtomicU64::new(0),
            denied: LabelCounters::new(deny_labels()),
            other_decisions: Mutex::default(),
            proxied: LabelCounters::new(PROXY_OUTCOMES),
            request_latency: Default::default(),
            upstream_latency: Histogram::default(),
        }
    }
}

impl Metrics {
    /// Records one request's time to its response headers.
    pub fn observe_latency(&self, endpoint: Endpoint, elapsed: std::time::Duration) {
        self.request_latency[endpoint.index()].observe(elapsed);
    }

    /// Counts a forward-auth decision (`allow` / `deny`) with its reason (lock-free).
    pub fn decide(&self, result: &'static str, reason: Option<&'static str>) {
        match (result, reason) {
            ("allow", None) => {
                self.allowed.fetch_add(1, Ordering::Relaxed);
            }
            ("deny", Some(reason)) => self.denied.add(reason),
            (result, reason) => {
                *self
                    .other_decisions
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry((result, reason.unwrap_or("")))
                    .or_default() += 1;
            }
        }
    }

    /// Counts a proxied request by outcome (`ok`, `timeout`, `unreachable`; lock-free).
    pub fn proxied(&self, outcome: &'static str) {
        self.proxied.add(outcome);
    }

    /// Every decision counted at least once, sorted by (result, reason).
    fn decisions(&self) -> Vec<((&'static str, &'static str), u64)> {
        let mut out = Vec::new();
        let allowed = self.allowed.load(Ordering::Relaxed);
        if allowed > 0 {
            out.push((("allow", ""), allowed));
        }
        out.extend(
            self.denied
                .nonzero()
                .into_iter()
                .map(|(reason, n)| (("deny", reason), n)),
        );
        out.extend(
            self.other_decisions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|(key, n)| (*key, *n)),
        );
        out.sort_unstable();
        out
    }

    /// The Prometheus text exposition. `key_ages` lists, per server id, the age in seconds of
    /// the keys in use and how many there are (read from the key manager at scrape time).
    pub fn render_with_keys(
        &self,
        counters: &Counters,
        key_ages: &[(String, f64, usize)],
    ) -> String {
        let mut out = self.render(counters);
        let _ = writeln!(
            out,
            "# HELP portcullis_key_age_seconds Age of the keys in use, by server (time since the last successful fetch).\n# TYPE portcullis_key_age_seconds gauge"
        );
        for (server, age, _) in key_ages {
            let _ = writeln!(
                out,
                "portcullis_key_age_seconds{{server=\"{server}\"}} {age}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP portcullis_keys Keys in use, by server.\n# TYPE portcullis_keys gauge"
        );
        for (server, _, count) in key_ages {
            let _ = writeln!(out, "portcullis_keys{{server=\"{server}\"}} {count}");
        }
        out
    }

    /// The Prometheus text exposition of the counters (the runtime's and the gateway's) and
    /// histograms.
    pub fn render(&self, counters: &Counters) -> String {
        let mut out = String::new();
        counters.render_tokens(&mut out);
        let _ = writeln!(
            out,
            "# HELP portcullis_decisions_total Forward-auth decisions by result and reason.\n# TYPE portcullis_decisions_total counter"
        );
        for ((result, reason), n) in self.decisions() {
            let _ = writeln!(
                out,
                "portcullis_decisions_total{{result=\"{result}\",reason=\"{reason}\"}} {n}"
            );
        }
        counters.render_fetches(&mut out);
        let _ = writeln!(
            out,
            "# HELP portcullis_proxy_requests_total Reverse-proxied requests by outcome.\n# TYPE portcullis_proxy_requests_total counter"
        );
        for (outcome, n) in self.proxied.nonzero() {
            let _ = writeln!(
                out,
                "portcullis_proxy_requests_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP portcullis_request_duration_seconds Time to response headers, by endpoint.\n# TYPE portcullis_request_duration_seconds histogram"
        );
        for endpoint in Endpoint::ALL {
            self.request_latency[endpoint.index()].render(
                &mut out,
                "portcullis_request_duration_seconds",
                &format!("endpoint=\"{}\"", endpoint.label()),
            );
        }
        let _ = writeln!(
            out,
            "# HELP portcullis_upstream_duration_seconds Time to an upstream's response headers (reverse proxy).\n# TYPE portcullis_upstream_duration_seconds histogram"
        );
        self.upstream_latency
            .render(&mut out, "portcullis_upstream_duration_seconds", "");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_runtime::counters::REJECTION_LABELS;
    use portcullis_runtime::decisions::DENY_REASONS;

    #[test]
    fn histogram_buckets_are_cumulative_and_count_everything() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut out = String::new();
        h.render(&mut out, "x", "");
        assert!(out.contains("x_bucket{le=\"0.0001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"30\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
    }

    #[test]
    fn decisions_render_sorted_by_result_and_reason() {
        assert!(DENY_REASONS.windows(2).all(|w| w[0] < w[1]));
        let metrics = Metrics::default();
        metrics.decide("deny", Some("no_route"));
        metrics.decide("allow", None);
        metrics.decide("deny", Some("expired"));
        metrics.decide("deny", Some("no_route"));
        metrics.proxied("timeout");
        metrics.proxied("ok");
        let out = metrics.render(&Counters::default());
        assert!(
            out.contains(concat!(
                "# TYPE portcullis_decisions_total counter\n",
                "portcullis_decisions_total{result=\"allow\",reason=\"\"} 1\n",
                "portcullis_decisions_total{result=\"deny\",reason=\"expired\"} 1\n",
                "portcullis_decisions_total{result=\"deny\",reason=\"no_route\"} 2\n",
                "# HELP portcullis_key_fetches_total"
            )),
            "{out}"
        );
        assert!(
            out.contains(concat!(
                "# TYPE portcullis_proxy_requests_total counter\n",
                "portcullis_proxy_requests_total{outcome=\"ok\"} 1\n",
                "portcullis_proxy_requests_total{outcome=\"timeout\"} 1\n",
                "# HELP"
            )),
            "{out}"
        );
    }

    #[test]
    fn every_request_target_refusal_has_a_counter() {
        use crate::trust::OriginalRequestError as E;
        use portcullis_policy::target::TargetError;
        for err in [
            E::Target(TargetError::Empty),
            E::Host(TargetError::InvalidHost),
            E::Repeated("x"),
            E::Underscored(String::new()),
            E::NotText("x"),
            E::InvalidMethod,
            E::Incomplete("x"),
            E::Missing,
            E::Disagree {
                first: "a",
                second: "b",
                what: "c",
            },
            E::AuthorityMismatch,
            E::MethodOverride,
            E::ConflictingHost,
        ] {
            assert!(REJECTION_LABELS.contains(&err.code()), "{}", err.code());
        }
    }

    #[test]
    fn endpoints_are_classified_by_path_segment() {
        assert_eq!(Endpoint::of("/authz"), Endpoint::ForwardAuth);
        assert_eq!(Endpoint::of("/authz/orders"), Endpoint::ForwardAuth);
        assert_eq!(Endpoint::of("/authzx"), Endpoint::Other);
        assert_eq!(Endpoint::of("/api/v1/status"), Endpoint::Api);
        assert_eq!(Endpoint::of("/metrics"), Endpoint::Operations);
        assert_eq!(Endpoint::of("/orders/1"), Endpoint::Other);
    }
}
