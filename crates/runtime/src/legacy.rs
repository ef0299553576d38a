//! Legacy API-key sessions (`JSESSIONID`, DESIGN.md §1.4) as the request path sees them: a small
//! in-memory cache in front of the store, so forward auth (`/authz`, routes accepting `api_key`)
//! and the cloud service API can check a session without a store query on every request.
//!
//! Invariants:
//! - idle expiry is decided here, in memory, to the millisecond: every use moves `last_seen`;
//! - the store is consulted on a miss and at most every [`LegacySessions::revalidate_interval`]
//!   per session (which also writes the last use back, for other nodes and restarts), so a
//!   session ended on another node stops working here within that interval (≤ 10 s);
//! - a session ended on this node (sign-out, API key change, admin change) is removed here before
//!   the change is answered, and the epoch counter keeps a lookup that raced with the removal from
//!   putting the stale session back: it stops working at once.
//! - a store failure on a miss or a revalidation refuses the session (fail closed);
//! - a session older than the absolute lifetime ([`LegacySessions::new`]) is refused, in memory
//!   and in the store, however active it is;
//! - sessions ended on another node (password or role change, delete, API key change) are
//!   dropped here when the node follows the store's session changes ([`crate::cluster`]):
//!   milliseconds after the commit on PostgreSQL (`NOTIFY`), at most one `config_poll` (1 s)
//!   if a notification is lost; the cloud service API always asks the store
//!   ([`LegacySessions::authenticate_fresh`]), so there the staleness is zero.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum_extra::extract::CookieJar;
use http::HeaderMap;
use portcullis_store::{Store, StoreError, now_ms};

use crate::sha256_hex;

/// The legacy session cookie.
pub const LEGACY_COOKIE: &str = "JSESSIONID";

/// Most cached sessions; past it, idle entries are dropped (and, failing that, all of them: the
/// store still has them).
const MAX_ENTRIES: usize = 100_000;

/// The longest time between two store checks of one session.
const MAX_REVALIDATE: Duration = Duration::from_secs(10);

/// A live legacy session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySession {
    /// SHA-256 of the session id (hex).
    pub id_hash: String,
    /// The admin who signed in.
    pub admin_id: String,
    /// Their login (the identity forwarded upstream and the audit actor).
    pub login: String,
    /// Created (ms).
    pub created_at: i64,
    /// Last use (ms), this request included.
    pub last_seen_at: i64,
}

#[derive(Debug)]
struct Entry {
    org: i64,
    admin_id: String,
    login: String,
    created_at: i64,
    last_seen: AtomicI64,
    checked: AtomicI64,
}

/// The default absolute lifetime of a session (12 hours).
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The cache.
#[derive(Debug)]
pub struct LegacySessions {
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    /// Bumped by every removal; a store lookup only caches its result if no removal happened
    /// while it was running.
    epoch: AtomicU64,
    /// Absolute lifetime (ms) from sign-in.
    max_lifetime_ms: i64,
}

impl Default for LegacySessions {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LIFETIME)
    }
}

/// The `JSESSIONID` cookie of a request, hashed as stored.
pub fn session_hash_from(headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(LEGACY_COOKIE)
        .map(|c| c.value())
        .filter(|v| !v.is_empty())
        .map(|v| sha256_hex(v.as_bytes()))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl LegacySessions {
    /// An empty cache whose sessions end `max_lifetime` after sign-in, however active.
    pub fn new(max_lifetime: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            max_lifetime_ms: millis(max_lifetime),
        }
    }

    /// How often a cached session is checked against the store: a third of the idle timeout, at
    /// most 10 s (so the store's last-use time never lags far enough to expire an active session).
    pub fn revalidate_interval(idle: Duration) -> Duration {
        (idle / 3).min(MAX_REVALIDATE)
    }

    /// The live session under `id_hash` in `org`, marking it used now; `None` when it does not
    /// exist, ended, was idle for longer than `idle` or is older than the absolute lifetime.
    /// Usually answered from memory (see the module's invariants for how fast a session ended on
    /// another node stops working here).
    pub async fn authenticate(
        &self,
        store: &Store,
        org: i64,
        id_hash: &str,
        idle: Duration,
    ) -> Result<Option<LegacySession>, StoreError> {
        self.lookup(store, org, id_hash, idle, false).await
    }

    /// Like [`LegacySessions::authenticate`], but always checks the store (one indexed read and
    /// a conditional write), so a session ended on any node is refused at once. For the cloud
    /// service API, which reads the store for the admin anyway.
    pub async fn authenticate_fresh(
        &self,
        store: &Store,
        org: i64,
        id_hash: &str,
        idle: Duration,
    ) -> Result<Option<LegacySession>, StoreError> {
        self.lookup(store, org, id_hash, idle, true).await
    }

    async fn lookup(
        &self,
        store: &Store,
        org: i64,
        id_hash: &str,
        idle: Duration,
        fresh: bool,
    ) -> Result<Option<LegacySession>, StoreError> {
        let idle_ms = millis(idle);
        let revalidate_ms = millis(Self::revalidate_interval(idle));
        for _ in 0..3 {
            let now = now_ms();
            let cached = self.read().get(id_hash).cloned();
            if let Some(entry) = &cached {
                if entry.org != org {
                    return Ok(None);
                }
                if now - entry.last_seen.load(Ordering::Acquire) > idle_ms
                    || now.saturating_sub(entry.created_at) > self.max_lifetime_ms
                {
                    self.forget(id_hash);
                    // Expired is a deny either way, and the store's copy expires on its next
                    // read too: a failed delete only leaves work for the daily cleanup.
                    if let Err(err) = store.delete_legacy_session(org, id_hash).await {
                        tracing::warn!(%err, "cannot delete an idle-expired API key session");
                    }
                    return Ok(None);
                }
                if !fresh && now - entry.checked.load(Ordering::Acquire) < revalidate_ms {
                    entry.last_seen.fetch_max(now, Ordering::AcqRel);
                    return Ok(Some(entry.session(id_hash, now)));
                }
            }
            let epoch = self.epoch.load(Ordering::Acquire);
            // Memory decided idleness above; the store's copy of the last use may lag by up to
            // one revalidation interval, so it is given that much slack here.
            let store_idle = if cached.is_some() {
                idle_ms.saturating_add(revalidate_ms)
            } else {
                idle_ms
            };
            let Some(record) = store
                .touch_legacy_session_within(org, id_hash, store_idle, self.max_lifetime_ms)
                .await?
            else {
                self.forget(id_hash);
                return Ok(None);
            };
            let login = match store.get_admin(org, &record.admin_id).await {
                Ok(admin) => admin.login,
                Err(StoreError::NotFound) => {
                    self.forget(id_hash);
                    return Ok(None);
                }
                Err(err) => return Err(err),
            };
            let entry = Arc::new(Entry {
                org,
                admin_id: record.admin_id,
                login,
                created_at: record.created_at,
                last_seen: AtomicI64::new(now),
                checked: AtomicI64::new(now),
            });
            let mut entries = self.write();
            if self.epoch.load(Ordering::Acquire) != epoch {
                // A session was ended while we read the store: read again rather than risk
                // putting back the one that ended.
                continue;
            }
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, e| now - e.last_seen.load(Ordering::Acquire) <= idle_ms);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(id_hash.to_owned(), Arc::clone(&entry));
            return Ok(Some(entry.session(id_hash, now)));
        }
        // Three lookups each raced with a removal: refuse rather than guess.
        Ok(None)
    }

    /// Forgets one session (it was ended).
    pub fn forget(&self, id_hash: &str) {
        self.remove(|hash, _| hash == id_hash);
    }

    /// Forgets every session of `org` (its API key changed).
    pub fn forget_org(&self, org: i64) {
        self.remove(|_, entry| entry.org == org);
    }

    /// Forgets every session of an admin (changed or deleted).
    pub fn forget_admin(&self, admin_id: &str) {
        self.remove(|_, entry| entry.admin_id == admin_id);
    }

    /// Forgets every cached session (they are read from the store again on next use).
    pub fn clear(&self) {
        self.remove(|_, _| true);
    }

    /// Number of cached sessions.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn remove(&self, matches: impl Fn(&str, &Entry) -> bool) {
        let mut entries = self.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.retain(|hash, entry| !matches(hash, entry));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Entry>>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Entry>>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entry {
    fn session(&self, id_hash: &str, now: i64) -> LegacySession {
        LegacySession {
            id_hash: id_hash.to_owned(),
            admin_id: self.admin_id.clone(),
            login: self.login.clone(),
            created_at: self.created_at,
            last_seen_at: now,
        }
    }
}
