//! The verified-token cache: a repeated token skips the signature check.
//!
//! Keyed by SHA-256 of the **whole** token (never the signature alone, which an attacker could
//! pair with another payload). An entry is used only while the token is within `exp` + skew and
//! while the server that verified it still has the same generation (keys and settings unchanged)
//! and is enabled, so invalidating a server is O(1): bump its generation. Authorization (roles,
//! routes) is never cached here; callers evaluate it per request from the returned token.

use std::sync::Arc;

use portcullis_jose::sha256;
use quick_cache::sync::Cache;

use crate::rejection::Rejected;
use crate::validator::{Validator, VerifiedToken};

/// The cache key of a token: SHA-256 of the whole token. Only [`TokenKey::of`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    /// The key of `token`.
    pub fn of(token: &str) -> Self {
        Self(sha256(token.as_bytes()))
    }
}

/// A bounded, concurrent cache of verified tokens.
pub struct VerifiedTokenCache {
    entries: Cache<[u8; 32], Arc<VerifiedToken>>,
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
        self.get_keyed(&TokenKey::of(token), now, validator)
    }

    fn get_keyed(
        &self,
        key: &TokenKey,
        now: f64,
        validator: &Validator,
    ) -> Option<Arc<VerifiedToken>> {
        let entry = self.entries.get(&key.0)?;
        if now < entry.valid_until && validator.is_current(&entry.server_id, entry.generation) {
            Some(entry)
        } else {
            self.entries.remove(&key.0);
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
        self.validate_keyed(&TokenKey::of(token), token, now, validator)
    }

    /// [`Self::validate`] with the token's key computed by the caller ([`TokenKey::of`] of
    /// this same `token`), so a caller that validates twice (the unknown-`kid` retry) hashes
    /// the token once, and a miss hashes it once for the lookup and the insert.
    pub fn validate_keyed(
        &self,
        key: &TokenKey,
        token: &str,
        now: f64,
        validator: &Validator,
    ) -> Result<(Arc<VerifiedToken>, CacheOutcome), Rejected> {
        debug_assert!(*key == TokenKey::of(token), "the key of another token");
        if let Some(hit) = self.get_keyed(key, now, validator) {
            return Ok((hit, CacheOutcome::Hit));
        }
        let verified = Arc::new(validator.validate(token, now)?);
        self.entries.insert(key.0, Arc::clone(&verified));
        Ok((verified, CacheOutcome::Miss))
    }

    /// Drops every entry (e.g. on a global settings change).
    pub fn clear(&self) {
        self.entries.clear();
    }
}
