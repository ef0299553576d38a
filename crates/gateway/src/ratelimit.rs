//! A per-client token bucket, for endpoints that do real work for callers who need not be admins
//! (the sandbox API). In memory and per node: it bounds what one client can make one node do,
//! which is the cost it protects; it is not a quota.
//!
//! Clients are keyed by [`client_key`]: an IPv4 address as is, an IPv6 address by its /64 (one
//! subscriber usually holds a whole /64, so per-address buckets would hand it 2^64 of them), an
//! IPv4-mapped IPv6 address as the IPv4 address. The caller passes the client address it
//! believes (the peer, or the one a trusted proxy reported).
//!
//! Memory is bounded: at most [`MAX_CLIENTS`] buckets, in a `quick_cache` (S3-FIFO). When full,
//! the entry evicted is one that was not used recently (or was only seen once), never the whole
//! table: a flood of new addresses cannot reset a busy client's bucket, and each check is O(1)
//! under one short lock.

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most clients tracked at once.
pub const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by client key.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<quick_cache::unsync::Cache<IpAddr, Bucket>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .field("clients", &self.len())
            .finish()
    }
}

pub use portcullis_runtime::deployment::client_key;

impl RateLimiter {
    /// `per_second` requests sustained, `burst` at once, for at most [`MAX_CLIENTS`] clients.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self::with_capacity(per_second, burst, MAX_CLIENTS)
    }

    /// Like [`RateLimiter::new`], tracking at most `clients` clients (at least one).
    pub fn with_capacity(per_second: f64, burst: u32, clients: usize) -> Self {
        Self {
            per_second: per_second.max(0.001),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(quick_cache::unsync::Cache::new(clients.max(1))),
        }
    }

    /// Takes one token for `client` (keyed by [`client_key`]), or says how long until one is
    /// available.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let key = client_key(client);
        let fresh = Bucket {
            tokens: self.burst,
            updated: now,
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let admitted =
            buckets.get_mut_or_insert_with(&key, || Ok::<_, std::convert::Infallible>(fresh));
        let mut unadmitted = fresh;
        let bucket: &mut Bucket = match admitted {
            Ok(Some(mut entry)) => return self.take(&mut entry, now),
            // Only with a zero-weight capacity, which `with_capacity` rules out: a full bucket.
            Ok(None) | Err(_) => &mut unadmitted,
        };
        self.take(bucket, now)
    }

    fn take(&self, bucket: &mut Bucket, now: Instant) -> Result<(), Duration> {
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }

    /// Number of clients tracked.
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no client is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn burst_then_refusal_per_client() {
        let limiter = RateLimiter::new(1.0, 3);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
        }
        let wait = limiter.check(a).unwrap_err();
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1));
        assert!(
            limiter.check(b).is_ok(),
            "another client has its own bucket"
        );
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let limiter = RateLimiter::new(0.001, 2);
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.check(one).is_ok());
        assert!(limiter.check(same_64).is_ok());
        assert!(
            limiter.check(one).is_err(),
            "rotating the interface id does not buy a new bucket"
        );
        assert!(
            limiter.check(other_64).is_ok(),
            "the next /64 is another client"
        );
        assert_eq!(
            client_key(same_64),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn ipv4_mapped_is_the_ipv4_client() {
        let limiter = RateLimiter::new(0.001, 1);
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
        assert!(limiter.check(v4).is_ok());
        assert!(limiter.check(mapped).is_err(), "same client, same bucket");
        assert!(limiter.check("192.0.2.8".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_flood_of_new_clients_neither_grows_the_table_nor_resets_a_busy_client() {
        let limiter = RateLimiter::with_capacity(0.001, 3, 100);
        let hot: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(hot).is_ok());
        }
        assert!(limiter.check(hot).is_err(), "hot client used its burst");
        for i in 0..20_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = limiter.check(ip);
            if i % 500 == 0 {
                // The busy client keeps coming back (and keeps being refused).
                assert!(limiter.check(hot).is_err(), "after {i} new clients");
            }
            assert!(limiter.len() <= 100 + 10, "bounded: {}", limiter.len());
        }
        assert!(
            limiter.check(hot).is_err(),
            "the flood did not give the busy client a fresh bucket"
        );
        assert!(limiter.len() <= 110);
    }

    #[test]
    fn ipv6_flood_from_one_prefix_is_one_client() {
        let limiter = RateLimiter::with_capacity(0.001, 5, 100);
        let mut allowed = 0;
        for i in 0..1_000u128 {
            let ip = IpAddr::V6(Ipv6Addr::from(
                0x2001_0db8_0000_0001_0000_0000_0000_0000u128 + i,
            ));
            if limiter.check(ip).is_ok() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 5);
        assert_eq!(limiter.len(), 1);
    }
}
