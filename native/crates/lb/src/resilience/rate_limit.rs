//! Per-client token-bucket rate limiting in bounded memory. Buckets live in a fixed-size,
//! set-associative table keyed by a keyed hash of the client address; when a set is full, the
//! bucket idle longest is evicted (a newcomer, or an evicted client coming back, starts with a
//! full bucket: eviction can only make the limiter more lenient, never block a client it
//! should not). The table is split into independently locked shards so a few worker threads
//! rarely meet on the same lock.
//!
//! IPv6 clients are limited per /64 prefix: a single host usually controls a whole /64 and
//! could otherwise rotate addresses to get a fresh bucket per request.

use std::net::IpAddr;
use std::sync::Mutex;

use crate::balance::hash::siphash;

const SHARDS: usize = 64;
const WAYS: usize = 8;

/// One client's token bucket: `burst` tokens at most, refilled at `rate` per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket at `now_ms`.
    pub fn full(burst: f64, now_ms: u64) -> Self {
        TokenBucket {
            tokens: burst,
            last_ms: now_ms,
        }
    }

    /// Refills for the time since the last call, then takes one token if there is one.
    pub fn try_take(&mut self, rate_per_second: f64, burst: f64, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.tokens = (self.tokens + elapsed as f64 * rate_per_second / 1000.0).min(burst);
        self.last_ms = self.last_ms.max(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Clone, Copy)]
struct Entry {
    key: u64,
    bucket: TokenBucket,
}

/// A lock over `sets_per_shard * WAYS` entries.
type Shard = Mutex<Box<[Option<Entry>]>>;

/// Per-client-address rate limiter with a fixed memory footprint.
pub struct RateLimiter {
    rate_per_second: f64,
    burst: f64,
    shards: Box<[Shard]>,
    sets_per_shard: usize,
    k0: u64,
    k1: u64,
}

impl RateLimiter {
    /// A limiter allowing `rate_per_second` requests per second per client with bursts of
    /// `burst`, tracking at least `capacity` clients at once (rounded up to fill the table);
    /// `seed` keys the address hash so clients cannot aim at one set.
    pub fn new(rate_per_second: f64, burst: u32, capacity: usize, seed: u64) -> Self {
        let sets_per_shard = capacity.div_ceil(SHARDS * WAYS).max(1);
        RateLimiter {
            rate_per_second,
            burst: f64::from(burst.max(1)),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(vec![None; sets_per_shard * WAYS].into_boxed_slice()))
                .collect(),
            sets_per_shard,
            k0: seed,
            k1: seed ^ 0x7261_7465_6c69_6d69,
        }
    }

    /// How many clients the table holds at most.
    pub fn capacity(&self) -> usize {
        SHARDS * self.sets_per_shard * WAYS
    }

    fn key_of(&self, ip: IpAddr) -> u64 {
        let mut bytes = [0u8; 9];
        let used = match ip {
            IpAddr::V4(v4) => {
                bytes[..4].copy_from_slice(&v4.octets());
                4
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => {
                    bytes[..4].copy_from_slice(&v4.octets());
                    4
                }
                None => {
                    bytes[..8].copy_from_slice(&v6.octets()[..8]);
                    bytes[8] = 6; // keeps a /64 from colliding with an IPv4 address by design
                    9
                }
            },
        };
        siphash(self.k0, self.k1, &bytes[..used])
    }

    /// Whether a request from `ip` at `now_ms` is within its rate (and takes a token if so).
    pub fn allow(&self, ip: IpAddr, now_ms: u64) -> bool {
        let key = self.key_of(ip);
        let shard = &self.shards[(key % SHARDS as u64) as usize];
        let set = ((key / SHARDS as u64) % self.sets_per_shard as u64) as usize;
        let mut entries = shard.lock().unwrap_or_else(|poison| poison.into_inner());
        let ways = &mut entries[set * WAYS..(set + 1) * WAYS];
        let slot = match ways.iter().position(|e| e.is_some_and(|e| e.key == key)) {
            Some(found) => found,
            None => {
                // An empty way, else the one idle longest.
                let victim = ways
                    .iter()
                    .position(Option::is_none)
                    .or_else(|| (0..WAYS).min_by_key(|&w| ways[w].map_or(0, |e| e.bucket.last_ms)))
                    .unwrap_or(0);
                ways[victim] = Some(Entry {
                    key,
                    bucket: TokenBucket::full(self.burst, now_ms),
                });
                victim
            }
        };
        match &mut ways[slot] {
            Some(entry) => entry
                .bucket
                .try_take(self.rate_per_second, self.burst, now_ms),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_bucket_allows_the_burst_then_the_rate() {
        let mut bucket = TokenBucket::full(5.0, 0);
        assert_eq!((0..10).filter(|_| bucket.try_take(10.0, 5.0, 0)).count(), 5);
        assert!(!bucket.try_take(10.0, 5.0, 99));
        assert!(
            bucket.try_take(10.0, 5.0, 100),
            "one token per 100 ms at 10/s"
        );
        assert!(!bucket.try_take(10.0, 5.0, 150));
        // A long pause refills only up to the burst.
        assert_eq!(
            (0..10)
                .filter(|_| bucket.try_take(10.0, 5.0, 60_000))
                .count(),
            5
        );
    }

    #[test]
    fn each_client_has_its_own_bucket() {
        let limiter = RateLimiter::new(1.0, 3, 1000, 1);
        let a = ip("192.0.2.1");
        let b = ip("192.0.2.2");
        assert_eq!((0..10).filter(|_| limiter.allow(a, 0)).count(), 3);
        assert_eq!((0..10).filter(|_| limiter.allow(b, 0)).count(), 3);
        assert!(!limiter.allow(a, 999));
        assert!(limiter.allow(a, 1000));
        assert!(
            limiter.allow(ip("::ffff:192.0.2.2"), 1000),
            "mapped IPv4 is the same client"
        );
        assert!(!limiter.allow(b, 1000));
    }

    #[test]
    fn sustained_rate_matches_the_configuration() {
        let limiter = RateLimiter::new(100.0, 10, 1000, 2);
        let client = ip("198.51.100.7");
        // Offer 1000 requests per second for 10 s: 10 burst + 100/s * 10 s get through.
        let allowed = (0..10_000u64).filter(|&t| limiter.allow(client, t)).count();
        assert!((1009..=1011).contains(&allowed), "{allowed}");
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_slash_64() {
        let limiter = RateLimiter::new(1.0, 2, 1000, 3);
        assert!(limiter.allow(ip("2001:db8:1:2::1"), 0));
        assert!(limiter.allow(ip("2001:db8:1:2:ffff::9"), 0));
        assert!(!limiter.allow(ip("2001:db8:1:2::abcd"), 0));
        assert!(limiter.allow(ip("2001:db8:1:3::1"), 0), "another /64");
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_clients() {
        let limiter = RateLimiter::new(1.0, 1, 4096, 4);
        assert_eq!(limiter.capacity(), 4096);
        // 100k distinct clients, one request each: all allowed (fresh buckets), table unchanged.
        for i in 0..100_000u32 {
            assert!(limiter.allow(IpAddr::from(i.to_be_bytes()), u64::from(i)));
        }
        assert_eq!(limiter.capacity(), 4096);
        // A client active during the flood keeps being limited: recently used entries survive.
        let steady = ip("203.0.113.5");
        let limiter = RateLimiter::new(1.0, 1, 4096, 4);
        let mut allowed = 0;
        for t in 0..20_000u64 {
            limiter.allow(IpAddr::from((t as u32 + 1).to_be_bytes()), t);
            if limiter.allow(steady, t) {
                allowed += 1;
            }
        }
        assert!((20..=22).contains(&allowed), "{allowed}");
    }

    #[test]
    fn shared_between_threads() {
        let limiter = RateLimiter::new(1.0, 100, 1000, 5);
        let client = ip("192.0.2.9");
        let allowed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        if limiter.allow(client, 0) {
                            allowed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.into_inner(), 100);
    }
}
