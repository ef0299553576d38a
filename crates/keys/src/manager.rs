//! The key manager (DESIGN.md §3): keeps every enabled server's last good key set in memory and
//! in the store, refreshes it on schedule, and refetches once, rate-limited, when a token names
//! an unknown `kid`.
//!
//! Invariants:
//! - a failed fetch never replaces the last good keys (in memory or in the store);
//! - keys older than the server's `max_stale_s` are not handed out (`keys_for` answers `None`);
//! - at most one fetch per server is in flight (single-flight), and unknown-`kid` refetches
//!   happen at most once per [`UNKNOWN_KID_REFETCH_INTERVAL`] per server, so a flood of random
//!   `kid`s costs no extra fetches;
//! - the store is written after memory, and a store failure is logged, not fatal: a node keeps
//!   validating with what it fetched even while the database is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use portcullis_jose::JwkSet;
use portcullis_policy::ServerDefinition;
use portcullis_store::{FetchOutcome, ServerRecord, Store, now_ms};
use tokio::sync::watch;

use crate::discovery::discover_from_metadata_url;
use crate::fetch::{Fetcher, Validators};
use crate::validate::{JwksUpdate, fetch_jwks_if_modified};

/// Minimum time between two unknown-`kid` refetches of one server.
pub const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long a request waits for an unknown-`kid` refetch.
pub const UNKNOWN_KID_WAIT: Duration = Duration::from_secs(2);
/// `Cache-Control: max-age` may shorten the refresh interval down to this, never further.
pub const MIN_MAX_AGE_INTERVAL: Duration = Duration::from_secs(300);
/// Absolute floor of the refresh interval.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Servers looked at between two yields of the refresh schedule's scan (a few hundred
/// microseconds of one core each).
const SCAN_CHUNK: usize = 1_000;

/// First retry delay after a failed fetch (doubles up to the refresh interval).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// A server's current key set.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The parsed set.
    pub set: Arc<JwkSet>,
    /// When it was fetched successfully (Unix ms).
    pub fetched_at_ms: i64,
    /// Changes whenever the key set's content changes.
    pub fingerprint: u64,
    validators: Validators,
}

#[derive(Debug, Default)]
struct Schedule {
    next_due: Option<Instant>,
    failures: u32,
    in_flight: bool,
    last_kid_refetch: Option<Instant>,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshResult {
    /// New keys are in use.
    Updated,
    /// The IdP confirmed the keys are current (304 or identical content).
    Unchanged,
    /// The fetch failed; the previous keys stay.
    Failed(String),
    /// Skipped: another fetch of this server is in flight, or the rate limit applies.
    Skipped,
}

/// The key manager of one org.
pub struct KeyManager {
    store: Store,
    org: i64,
    fetcher: Arc<Fetcher>,
    entries: Mutex<HashMap<String, KeyEntry>>,
    schedule: Mutex<HashMap<String, Schedule>>,
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    changes: watch::Sender<u64>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager")
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

fn fingerprint(text: &[u8]) -> u64 {
    let digest = portcullis_jose::sha256(text);
    u64::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ])
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The refresh interval for `definition`, shortened by `max-age` within the design's bounds,
/// with ±10 % jitter so many nodes and servers do not fetch in lockstep.
pub fn refresh_interval(
    definition: &ServerDefinition,
    max_age: Option<Duration>,
    jitter_seed: u64,
) -> Duration {
    let configured = Duration::from_secs(u64::from(definition.refresh_interval_s));
    let mut interval = match max_age {
        Some(age) => configured.min(age.max(MIN_MAX_AGE_INTERVAL)),
        None => configured,
    };
    interval = interval.max(MIN_REFRESH_INTERVAL);
    let spread = interval.as_millis() as u64 / 10;
    let offset = if spread == 0 {
        0
    } else {
        jitter_seed % (2 * spread)
    };
    Duration::from_millis(interval.as_millis() as u64 - spread + offset)
}

impl KeyManager {
    /// A manager; `changes` ticks whenever any server's keys change.
    pub fn new(store: Store, org: i64, fetcher: Arc<Fetcher>) -> (Arc<Self>, watch::Receiver<u64>) {
        let (changes, receiver) = watch::channel(0);
        let manager = KeyManager {
            store,
            org,
            fetcher,
            entries: Mutex::new(HashMap::new()),
            schedule: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
            changes,
        };
        (Arc::new(manager), receiver)
    }

    /// Adopts the last good keys recorded in the store when they are newer than what memory
    /// holds (start-up, and fetches made by the API's key check or by other nodes).
    pub fn sync_from_records(&self, records: &[ServerRecord]) {
        let mut changed = false;
        let mut first_due = Vec::new();
        {
            let mut entries = lock(&self.entries);
            for record in records {
                let (Some(text), Some(at)) = (
                    &record.last_good_jwks,
                    record.status.last_successful_fetch_at,
                ) else {
                    continue;
                };
                if entries
                    .get(&record.id)
                    .is_some_and(|e| e.fetched_at_ms >= at)
                {
                    continue;
                }
                match JwkSet::parse(text.as_bytes()) {
                    Ok(set) if set.has_usable_key() => {
                        let entry = KeyEntry {
                            set: Arc::new(set),
                            fetched_at_ms: at,
                            fingerprint: fingerprint(text.as_bytes()),
                            validators: Validators::default(),
                        };
                        entries.insert(record.id.clone(), entry);
                        changed = true;
                        // Keys someone else fetched just now need no fetch of our own yet: the
                        // first refresh is due when they reach the refresh interval (so N nodes
                        // learning of a new server do not all call its IdP at once).
                        let age = Duration::from_millis(u64::try_from(now_ms() - at).unwrap_or(0));
                        let seed = fingerprint(record.id.as_bytes());
                        let interval = refresh_interval(&record.definition, None, seed);
                        first_due.push((record.id.clone(), interval.saturating_sub(age)));
                    }
                    _ => {
                        tracing::warn!(server = %record.definition.name, "stored last-good JWKS is unusable; ignoring it")
                    }
                }
            }
            let known: std::collections::HashSet<&str> =
                records.iter().map(|r| r.id.as_str()).collect();
            let before = entries.len();
            entries.retain(|id, _| known.contains(id.as_str()));
            changed |= entries.len() != before;
        }
        {
            let now = Instant::now();
            let mut schedule = lock(&self.schedule);
            for (id, wait) in first_due {
                let slot = schedule.entry(id).or_default();
                if slot.next_due.is_none() {
                    slot.next_due = Some(now + wait);
                }
            }
        }
        if changed {
            self.notify();
        }
    }

    /// The keys to validate `server_id`'s tokens with at `now_ms`, unless they are older than the
    /// server's `max_stale_s` (then nothing: tokens are rejected rather than checked against keys
    /// the IdP may have revoked long ago).
    pub fn keys_for(
        &self,
        server_id: &str,
        definition: &ServerDefinition,
        now_ms: i64,
    ) -> Option<KeyEntry> {
        let entries = lock(&self.entries);
        let entry = entries.get(server_id)?;
        let max_stale_ms = i64::from(definition.max_stale_s) * 1000;
        (now_ms - entry.fetched_at_ms <= max_stale_ms).then(|| entry.clone())
    }

    /// Per server id: when its keys in use were fetched (Unix ms) and how many usable keys they
    /// hold. For the key-age gauges; cheap (one lock, no I/O).
    pub fn key_summary(&self) -> Vec<(String, i64, usize)> {
        lock(&self.entries)
            .iter()
            .map(|(id, entry)| (id.clone(), entry.fetched_at_ms, entry.set.keys().len()))
            .collect()
    }

    fn notify(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn gate(&self, server_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(lock(&self.gates).entry(server_id.to_owned()).or_default())
    }

    /// Refreshes every enabled server that is due. Returns the servers fetched and how it went.
    pub async fn refresh_due(
        &self,
        servers: &[(String, ServerDefinition)],
    ) -> Vec<(String, RefreshResult)> {
        let now = Instant::now();
        // Runs every tick over every server (10,000 in the scale benchmark), on a worker thread
        // that also serves requests: linear in the servers, and no allocation for a server
        // already scheduled. In chunks, yielding between them: the whole scan of 10,000 servers
        // took ≈ 3 ms of one core, a stall every second for the requests queued behind it.
        let mut due: Vec<&(String, ServerDefinition)> = Vec::new();
        let mut enabled = 0;
        for (i, chunk) in servers.chunks(SCAN_CHUNK).enumerate() {
            if i > 0 {
                tokio::task::yield_now().await;
            }
            let mut schedule = lock(&self.schedule);
            due.extend(chunk.iter().filter(|(id, definition)| {
                if !definition.enabled {
                    return false;
                }
                enabled += 1;
                let slot = match schedule.get(id.as_str()) {
                    Some(slot) => slot,
                    None => schedule.entry(id.clone()).or_default(),
                };
                !slot.in_flight && slot.next_due.is_none_or(|due| due <= now)
            }));
        }
        {
            // Every enabled server has an entry now, so a longer schedule holds entries of
            // servers deleted or disabled since: pruned (a re-enabled server starts afresh).
            let mut schedule = lock(&self.schedule);
            if schedule.len() > enabled {
                let live: std::collections::HashSet<&str> = servers
                    .iter()
                    .filter(|(_, definition)| definition.enabled)
                    .map(|(id, _)| id.as_str())
                    .collect();
                schedule.retain(|id, _| live.contains(id.as_str()));
            }
        }
        let mut results = Vec::new();
        for (id, definition) in due {
            let result = self.refresh(id, definition).await;
            results.push((id.clone(), result));
        }
        results
    }

    /// Fetches one server's keys now (single-flight), records the outcome and schedules the next.
    pub async fn refresh(&self, server_id: &str, definition: &ServerDefinition) -> RefreshResult {
        let gate = self.gate(server_id);
        let Ok(_guard) = gate.try_lock() else {
            return RefreshResult::Skipped;
        };
        lock(&self.schedule)
            .entry(server_id.to_owned())
            .or_default()
            .in_flight = true;
        let result = self.fetch_and_record(server_id, definition).await;
        let mut schedule = lock(&self.schedule);
        let slot = schedule.entry(server_id.to_owned()).or_default();
        slot.in_flight = false;
        let seed = now_ms().unsigned_abs() ^ fingerprint(server_id.as_bytes());
        let interval = refresh_interval(definition, None, seed);
        match &result.0 {
            RefreshResult::Failed(_) => {
                slot.failures = slot.failures.saturating_add(1);
                let backoff =
                    RETRY_AFTER_FAILURE.saturating_mul(1 << slot.failures.min(6).saturating_sub(1));
                slot.next_due = Some(Instant::now() + backoff.min(interval));
            }
            _ => {
                slot.failures = 0;
                let interval = refresh_interval(definition, result.1, seed);
                slot.next_due = Some(Instant::now() + interval);
            }
        }
        result.0
    }

    /// Called when a token names a `kid` the server's set lacks: one refetch, at most once per
    /// [`UNKNOWN_KID_REFETCH_INTERVAL`] per server, waiting at most [`UNKNOWN_KID_WAIT`].
    /// Returns true when the keys changed (the caller validates again).
    pub async fn refetch_for_unknown_kid(
        &self,
        server_id: &str,
        definition: &ServerDefinition,
    ) -> bool {
        self.refetch_unknown_kid(server_id, definition)
            .await
            .is_some()
    }

    /// [`Self::refetch_for_unknown_kid`] for a request: the fetch updates memory only and its
    /// recording in the store runs in the background, so the request never waits on a store
    /// query. When the keys changed, returns the fingerprint they had before (0 when there were
    /// none), so the caller can derive the server's new generation without reading the store.
    pub async fn refetch_unknown_kid(
        &self,
        server_id: &str,
        definition: &ServerDefinition,
    ) -> Option<u64> {
        {
            let mut schedule = lock(&self.schedule);
            let slot = schedule.entry(server_id.to_owned()).or_default();
            if slot
                .last_kid_refetch
                .is_some_and(|at| at.elapsed() < UNKNOWN_KID_REFETCH_INTERVAL)
            {
                return None;
            }
            slot.last_kid_refetch = Some(Instant::now());
        }
        let before = lock(&self.entries).get(server_id).map(|e| e.fingerprint);
        let refreshed = tokio::time::timeout(UNKNOWN_KID_WAIT, async {
            let gate = self.gate(server_id);
            // Single-flight: if a refresh is already running, wait for it instead of fetching again.
            let _guard = gate.lock().await;
            let after_wait = lock(&self.entries).get(server_id).map(|e| e.fingerprint);
            if after_wait != before {
                return;
            }
            let (result, _, pending) = self.fetch_into_memory(server_id, definition).await;
            self.report(definition, &result);
            if let Some(pending) = pending {
                let (store, org, id) = (self.store.clone(), self.org, server_id.to_owned());
                let name = definition.name.clone();
                tokio::spawn(async move { persist(&store, org, &id, &name, pending).await });
            }
        })
        .await;
        if refreshed.is_err() {
            tracing::warn!(server = %definition.name, "unknown-kid refetch did not finish within 2 s");
        }
        let after = lock(&self.entries).get(server_id).map(|e| e.fingerprint);
        (after != before).then_some(before.unwrap_or(0))
    }

    async fn fetch_and_record(
        &self,
        server_id: &str,
        definition: &ServerDefinition,
    ) -> (RefreshResult, Option<Duration>) {
        let (result, max_age, pending) = self.fetch_into_memory(server_id, definition).await;
        if let Some(pending) = pending {
            persist(&self.store, self.org, server_id, &definition.name, pending).await;
        }
        self.report(definition, &result);
        (result, max_age)
    }

    /// Logs a fetch's outcome and announces changed keys.
    fn report(&self, definition: &ServerDefinition, result: &RefreshResult) {
        match result {
            RefreshResult::Updated => {
                tracing::info!(server = %definition.name, "keys updated");
                self.notify();
            }
            RefreshResult::Failed(error) => {
                tracing::warn!(server = %definition.name, %error, "key fetch failed; keeping the last good keys")
            }
            _ => {}
        }
    }

    /// Fetches one server's keys into memory (no store query); returns what is left to record.
    async fn fetch_into_memory(
        &self,
        server_id: &str,
        definition: &ServerDefinition,
    ) -> (RefreshResult, Option<Duration>, Option<Pending>) {
        let validators = lock(&self.entries)
            .get(server_id)
            .map(|e| e.validators.clone())
            .unwrap_or_default();
        let outcome = self.fetch(definition, &validators).await;
        match outcome {
            Ok(JwksUpdate::Modified(fetched)) => {
                let body = fetched.fetched.body.clone();
                let print = fingerprint(&body);
                let max_age = fetched.fetched.cache.max_age;
                let key_ids: Vec<String> = fetched.set.key_ids().map(str::to_owned).collect();
                let entry = KeyEntry {
                    set: Arc::new(fetched.set),
                    fetched_at_ms: now_ms(),
                    fingerprint: print,
                    validators: Validators {
                        etag: fetched.fetched.cache.etag.clone(),
                        last_modified: fetched.fetched.cache.last_modified.clone(),
                    },
                };
                let same = lock(&self.entries)
                    .insert(server_id.to_owned(), entry)
                    .is_some_and(|old| old.fingerprint == print);
                let jwks = String::from_utf8_lossy(&body).into_owned();
                let result = if same {
                    RefreshResult::Unchanged
                } else {
                    RefreshResult::Updated
                };
                let record = FetchOutcome::Success { jwks, key_ids };
                (result, max_age, Some(Pending::Record(record)))
            }
            Ok(JwksUpdate::NotModified(not_modified)) => {
                let key_ids: Option<Vec<String>> = {
                    let mut entries = lock(&self.entries);
                    entries.get_mut(server_id).map(|entry| {
                        entry.fetched_at_ms = now_ms();
                        entry.set.key_ids().map(str::to_owned).collect()
                    })
                };
                let Some(key_ids) = key_ids else {
                    return (
                        RefreshResult::Failed("304 without cached keys".into()),
                        None,
                        None,
                    );
                };
                (
                    RefreshResult::Unchanged,
                    not_modified.cache.max_age,
                    Some(Pending::NotModified(key_ids)),
                )
            }
            Err(error) => (
                RefreshResult::Failed(error.clone()),
                None,
                Some(Pending::Record(FetchOutcome::Failure { error })),
            ),
        }
    }

    async fn fetch(
        &self,
        definition: &ServerDefinition,
        validators: &Validators,
    ) -> Result<JwksUpdate, String> {
        // The server's own TLS settings (verify_tls, CA bundle) apply to metadata and JWKS alike.
        let fetcher = self
            .fetcher
            .for_server(definition)
            .map_err(|e| e.to_string())?;
        let jwks_uri = match (&definition.metadata_url, &definition.jwks_uri) {
            (Some(metadata), _) => {
                discover_from_metadata_url(&fetcher, metadata, definition.issuer.as_deref())
                    .await
                    .map_err(|e| e.to_string())?
                    .jwks_uri
            }
            (None, Some(jwks)) => jwks.clone(),
            (None, None) => return Err("no JWKS URL or metadata URL configured".into()),
        };
        fetch_jwks_if_modified(&fetcher, &jwks_uri, validators)
            .await
            .map_err(|e| e.to_string())
    }
}

/// What a fetch leaves to record in the store.
enum Pending {
    /// Record this outcome.
    Record(FetchOutcome),
    /// A 304: the stored JWKS is unchanged; re-recording success only bumps the fetch time.
    NotModified(Vec<String>),
}

/// Records a fetch in the store (a failure to do so is logged: the keys stay in memory).
async fn persist(store: &Store, org: i64, server_id: &str, name: &str, pending: Pending) {
    let record = match pending {
        Pending::Record(record) => record,
        Pending::NotModified(key_ids) => match store.get_server(org, server_id).await {
            Ok(record) => FetchOutcome::Success {
                jwks: record.last_good_jwks.unwrap_or_default(),
                key_ids,
            },
            Err(_) => return,
        },
    };
    if let Err(err) = store.record_fetch(org, server_id, &record).await {
        tracing::warn!(server = %name, %err, "could not record the key fetch in the store; keys stay in memory");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(refresh: u32) -> ServerDefinition {
        let mut def = serde_json::from_value::<portcullis_policy::ServerInput>(
            serde_json::json!({"name": "x", "jwksUri": "https://x/keys"}),
        )
        .unwrap()
        .resolve();
        def.refresh_interval_s = refresh;
        def
    }

    /// A key manager over a fresh SQLite store in its own temporary directory.
    async fn manager(name: &str) -> Arc<KeyManager> {
        let dir = std::env::temp_dir().join(format!("portcullis-{name}-{}", std::process::id()));
        let store = Store::open(&format!("sqlite://{}/store.db", dir.display()))
            .await
            .unwrap();
        let fetcher = Arc::new(crate::Fetcher::new(crate::FetchPolicy::default()).unwrap());
        KeyManager::new(store, 1, fetcher).0
    }

    #[test]
    fn interval_bounds_and_jitter() {
        let hour = definition(3600);
        for seed in [0, 1, 12_345, u64::MAX] {
            let i = refresh_interval(&hour, None, seed);
            assert!(
                i >= Duration::from_secs(3240) && i <= Duration::from_secs(3960),
                "{i:?}"
            );
            // max-age shortens, but not below 300 s (±10 %).
            let short = refresh_interval(&hour, Some(Duration::from_secs(10)), seed);
            assert!(
                short >= Duration::from_secs(270) && short <= Duration::from_secs(330),
                "{short:?}"
            );
            let long = refresh_interval(&hour, Some(Duration::from_secs(86_400)), seed);
            assert!(long <= Duration::from_secs(3960));
        }
        let minute = definition(60);
        assert!(refresh_interval(&minute, None, 7) >= Duration::from_secs(54));
    }

    #[tokio::test]
    async fn the_scan_in_chunks_sees_every_server() {
        let manager = manager("chunks").await;
        let count = 2 * SCAN_CHUNK + SCAN_CHUNK / 2;
        let servers: Vec<(String, ServerDefinition)> = (0..count)
            .map(|i| (format!("s{i}"), definition(3600)))
            .collect();
        let later = Instant::now() + Duration::from_secs(600);
        {
            let mut schedule = lock(&manager.schedule);
            // Every server but the last of each chunk is scheduled for later (the last ones
            // are in flight: not due either), and one deleted server lingers.
            for (i, (id, _)) in servers.iter().enumerate() {
                let slot = schedule.entry(id.clone()).or_default();
                slot.next_due = Some(later);
                slot.in_flight = i % SCAN_CHUNK == SCAN_CHUNK - 1;
            }
            schedule.insert("deleted".to_owned(), Schedule::default());
        }
        assert!(manager.refresh_due(&servers).await.is_empty());
        let schedule = lock(&manager.schedule);
        assert_eq!(
            schedule.len(),
            count,
            "the deleted server is pruned, no live one"
        );
        assert!(servers.iter().all(|(id, _)| schedule.contains_key(id)));
    }

    #[tokio::test]
    async fn the_schedule_forgets_deleted_and_disabled_servers() {
        let manager = manager("schedule").await;
        let mut off = definition(3600);
        off.enabled = false;
        {
            let mut schedule = lock(&manager.schedule);
            for id in ["deleted", "disabled"] {
                schedule.insert(id.to_owned(), Schedule::default());
            }
        }
        // Nothing enabled: nothing is due (no fetch starts), and both old entries go.
        let due = manager
            .refresh_due(&[("disabled".to_owned(), off.clone())])
            .await;
        assert!(due.is_empty());
        assert!(lock(&manager.schedule).is_empty());
    }
}
