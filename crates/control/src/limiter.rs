//! The cloud service API's rate limiter: each request is counted under its rule
//! ([`portcullis_policy::governance::RateLimits::rule`]) in two fixed windows.
//!
//! - The **short** window (1 s, 1 min) is counted here, in memory, per node: a burst limit
//!   whose job is to bound what one caller makes one node do, and which a store round trip per
//!   request would cost more than it saves. A cluster of `n` nodes behind a balancer lets a
//!   caller make up to `n` times the short limit in one window.
//! - The **long** window (1 h) is counted in the store (`rate_counters`, one atomic upsert per
//!   request): every node of a cluster shares it, so the hourly quota holds across nodes.
//!
//! A short window starts at the caller's first request in it; a long window is aligned on
//! multiples of its length since the Unix epoch (so every node names the same window). A
//! request refused by the short window is not counted in the long one. When the store cannot
//! be reached the long window is not enforced (logged): limits never take the API down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};

use portcullis_policy::governance::{Rule, Window};
use portcullis_store::Store;

/// Short windows kept in memory before the ended ones are first dropped.
const PRUNE_AT: usize = 10_000;
/// Most short windows kept at all (about 100 bytes each). Past it, callers without a window are
/// not counted in the short window (their long window still is): a flood of distinct callers
/// must neither exhaust memory nor lock everyone else out.
const MAX_SHORT_WINDOWS: usize = 200_000;
/// How often ended long-window counters are deleted from the store.
const STORE_PRUNE_EVERY_MS: i64 = 10 * 60 * 1000;

/// Where one window stands after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowState {
    /// The window's limit.
    pub limit: u32,
    /// Requests left in it (0 when refused).
    pub remaining: u32,
    /// Seconds until it resets (at least 1).
    pub reset_s: u64,
    /// Whether this request was over the limit.
    pub refused: bool,
}

impl WindowState {
    fn new(window: Window, count: u64, end_ms: i64, now: i64) -> Self {
        let limit = u64::from(window.limit);
        let ms = u64::try_from(end_ms.saturating_sub(now)).unwrap_or(0);
        Self {
            limit: window.limit,
            remaining: u32::try_from(limit.saturating_sub(count)).unwrap_or(0),
            reset_s: ms.div_ceil(1000).max(1),
            refused: count > limit,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Short {
    start_ms: i64,
    length_ms: i64,
    count: u64,
}

/// The limiter's in-memory part (short windows) and its store bookkeeping.
#[derive(Debug, Default)]
pub struct ApiLimiter {
    short: Mutex<ShortWindows>,
    last_store_prune_ms: AtomicI64,
}

/// The short windows, and the size at which ended ones are next dropped. The threshold doubles
/// past what a prune leaves, so pruning stays amortised O(1) per request even when most windows
/// are live (a scan on every request would let a flood of callers cost everyone).
#[derive(Debug, Default)]
struct ShortWindows {
    windows: HashMap<(String, String), Short>,
    prune_at: usize,
    /// The cap was reported (once per time it is reached, not once per request).
    warned: bool,
    /// When a full map was last pruned (at most once a second: windows end, room comes back).
    full_pruned_ms: i64,
}

/// A window's length; never 0 (stored settings are checked on write, but a zero-length window
/// read back from an edited row must not divide by zero on the request path).
/// How long a request waits for the shared hour window's counter.
const STORE_COUNT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

fn window_ms(window: Window) -> i64 {
    i64::from(window.window_seconds.max(1)) * 1000
}

impl ApiLimiter {
    /// Counts a request of `caller` under `rule` in its short window at `now` (Unix ms).
    pub fn count_short(&self, caller: &str, rule: &Rule, now: i64) -> WindowState {
        let window = rule.limits.short;
        let length_ms = window_ms(window);
        let mut guard = self.short.lock().unwrap_or_else(PoisonError::into_inner);
        let short = &mut *guard;
        let full = short.windows.len() >= MAX_SHORT_WINDOWS;
        if short.windows.len() >= short.prune_at.max(PRUNE_AT)
            || (full && now - short.full_pruned_ms >= 1000)
        {
            if full {
                short.full_pruned_ms = now;
            }
            short.windows.retain(|_, s| s.start_ms + s.length_ms > now);
            short.prune_at = (short.windows.len() * 2).max(PRUNE_AT);
            short.warned = short.windows.len() >= MAX_SHORT_WINDOWS && short.warned;
        }
        let key = (caller.to_owned(), rule.name.clone());
        if short.windows.len() >= MAX_SHORT_WINDOWS && !short.windows.contains_key(&key) {
            if !short.warned {
                short.warned = true;
                tracing::warn!(
                    windows = short.windows.len(),
                    "rate limits: too many callers at once; new callers' burst windows are not counted until some end"
                );
            }
            return WindowState::new(window, 0, now + length_ms, now);
        }
        let entry = short.windows.entry(key).or_insert(Short {
            start_ms: now,
            length_ms,
            count: 0,
        });
        if entry.start_ms + entry.length_ms <= now || entry.length_ms != length_ms {
            *entry = Short {
                start_ms: now,
                length_ms,
                count: 0,
            };
        }
        let limit = u64::from(window.limit);
        // A refused request does not use up the window (it stays at the limit).
        let count = if entry.count < limit {
            entry.count += 1;
            entry.count
        } else {
            limit + 1
        };
        WindowState::new(window, count, entry.start_ms + entry.length_ms, now)
    }

    /// Counts a request of `caller` under `rule` in its long window, in the store shared by
    /// every node. `None` when the store could not count it (not enforced then).
    pub async fn count_long(
        &self,
        store: &Store,
        org: i64,
        caller: &str,
        rule: &Rule,
        now: i64,
    ) -> Option<WindowState> {
        let window = rule.limits.long;
        let length_ms = window_ms(window);
        let start = now - now.rem_euclid(length_ms);
        self.prune_store(store, now);
        let name = format!("{}/{}s", rule.name, window.window_seconds);
        // Bounded: a slow or unreachable store must not hold every API request for the pool's
        // timeout. The long window then fails open (a fairness control, not an access
        // control; the per-node short window still bounds bursts).
        match tokio::time::timeout(
            STORE_COUNT_TIMEOUT,
            store.count_request(org, caller, &name, start),
        )
        .await
        {
            Ok(Ok(count)) => Some(WindowState::new(
                window,
                u64::try_from(count).unwrap_or(0),
                start + length_ms,
                now,
            )),
            Ok(Err(err)) => {
                tracing::warn!(%err, "rate limits: could not count in the store; long window not enforced");
                None
            }
            Err(_) => {
                tracing::warn!(
                    "rate limits: the store did not count in time; long window not enforced"
                );
                None
            }
        }
    }

    /// Deletes ended counters (older than a day, the longest window) now and then, off the
    /// request's path.
    fn prune_store(&self, store: &Store, now: i64) {
        let last = self.last_store_prune_ms.load(Ordering::Relaxed);
        if now - last < STORE_PRUNE_EVERY_MS
            || self
                .last_store_prune_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(err) = store.prune_rate_counters(now - 24 * 3600 * 1000).await {
                tracing::debug!(%err, "could not prune rate-limit counters");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use portcullis_policy::governance::{WeightLimits, Window};

    use super::*;

    fn rule(limit: u32, seconds: u32) -> Rule {
        let window = Window {
            limit,
            window_seconds: seconds,
        };
        Rule {
            name: "heavy".to_owned(),
            limits: WeightLimits {
                short: window,
                long: window,
            },
        }
    }

    #[test]
    fn the_short_window_refuses_past_its_limit_until_it_ends() {
        let limiter = ApiLimiter::default();
        let rule = rule(2, 60);
        let t0 = 1_000_000;
        let first = limiter.count_short("a", &rule, t0);
        assert_eq!(
            (first.remaining, first.refused, first.reset_s),
            (1, false, 60)
        );
        assert!(!limiter.count_short("a", &rule, t0 + 1).refused);
        let third = limiter.count_short("a", &rule, t0 + 20_500);
        assert_eq!(
            (third.remaining, third.refused, third.reset_s),
            (0, true, 40)
        );
        // Another caller has its own window; the window ends exactly at start + length.
        assert!(!limiter.count_short("b", &rule, t0 + 20_500).refused);
        assert!(limiter.count_short("a", &rule, t0 + 59_999).refused);
        assert!(!limiter.count_short("a", &rule, t0 + 60_000).refused);
    }

    #[test]
    fn a_flood_of_callers_is_bounded_and_known_callers_stay_counted() {
        let limiter = ApiLimiter::default();
        let rule = rule(1, 60);
        let t0 = 1_000_000;
        assert!(!limiter.count_short("known", &rule, t0).refused);
        for n in 0..MAX_SHORT_WINDOWS {
            limiter.count_short(&format!("flood-{n}"), &rule, t0);
        }
        let windows = limiter.short.lock().unwrap().windows.len();
        assert_eq!(
            windows, MAX_SHORT_WINDOWS,
            "the map stops growing at its cap"
        );
        // A caller already counted is still refused; a new one is let through uncounted.
        assert!(limiter.count_short("known", &rule, t0 + 1).refused);
        assert!(!limiter.count_short("late", &rule, t0 + 1).refused);
        assert!(!limiter.count_short("late", &rule, t0 + 2).refused);
        // Once the windows end, the next prune makes room again.
        assert!(!limiter.count_short("later", &rule, t0 + 60_000).refused);
        assert!(limiter.count_short("later", &rule, t0 + 60_001).refused);
        assert!(limiter.short.lock().unwrap().windows.len() < 10);
    }
}
