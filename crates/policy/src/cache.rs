//! The verified-token cache: a repeated token skips the signature check.
//!
//! Keyed by the **whole** token (never the signature alone, which an attacker could pair with
//! another payload): a hit is an exact byte-for-byte match, so no two tokens can ever share an
//! entry. (It was keyed by SHA-256 of the token; hashing a kilobyte with SHA-256 was ≈ 2.5 % of
//! a cached `/authz` decision's time, where the cache's own hash and one comparison cost a
//! fraction of that. The price is the token's bytes per entry: ≈ 1 KB for an RS256 token; the
//! scale server's cache, full of EdDSA tokens, measured +46 MiB, within the scale target.)
//!
//! An entry is used only while the token is within `exp` + skew and while the server that
//! verified it still has the same generation (keys and settings unchanged) and is enabled, so
//! invalidating a server is O(1): bump its generation. Authorization (roles, routes) is never
//! cached here; callers evaluate it per request from the returned token.

use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::rejection::Rejected;
use crate::validator::{Validator, VerifiedToken};

/// A bounded, concurrent cache of verified tokens.
pub struct VerifiedTokenCache {
    entries: Cache<Box<str>, Arc<VerifiedToken>>,
}

impl std::fmt::Debug for VerifiedTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokenCache")
            .field("len", &self.entries.len())
            .finish()
    }
}

/// Whether [`VerifiedTokenCache::validate`] answered from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Served from the cache.
    Hit,
    /// Fully validated (and stored if accepted).
    Miss,
}

impl VerifiedTokenCache {
    /// A cache holding at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity.max(1)),
        }
    }

    /// Number of entries (including ones not yet noticed as expired).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// A cached verification of `token` still valid at `now` under `validator`.
    pub fn get(&self, token: &str, now: f64, validator: &Validator) -> Option<Arc<VerifiedToken>> {
        let entry = self.entries.get(token)?;
        if now < entry.valid_until && validator.is_current(&entry.server_id, entry.generation) {
            Some(entry)
        } else {
            self.entries.remove(token);
            None
        }
    }

    /// Validates `token`, from the cache when possible; accepted tokens are cached.
    pub fn validate(
        &self,
        token: &str,
        now: f64,
        validator: &Validator,
    ) -> Result<(Arc<VerifiedToken>, CacheOutcome), Rejected> {
        if let Some(hit) = self.get(token, now, validator) {
            return Ok((hit, CacheOutcome::Hit));
        }
        let verified = Arc::new(validator.validate(token, now)?);
        self.entries.insert(token.into(), Arc::clone(&verified));
        Ok((verified, CacheOutcome::Miss))
    }

    /// Drops every entry (e.g. on a global settings change).
    pub fn clear(&self) {
        self.entries.clear();
    }
}
