//! Choosing a backend for a request: one `Balancer` trait, one module per algorithm.
//!
//! Interface as agreed in lb-config.md, plus two additions (nothing removed or changed):
//! - `Balancer::set_weight` (default no-op) lets slow start lower a backend's effective weight
//!   without rebuilding the balancer. Weighted round robin, sticky cookie (its fallback), least
//!   connections and power of two honour it; round robin ignores weights and consistent hashing
//!   keeps the weights its table was built with.
//! - `build_keyed` takes a stable identity per backend (its address, say). Consistent hashing
//!   derives each backend's Maglev permutation from it, so a rebuilt table after a backend is
//!   removed from the middle of the list moves little more than that backend's keys (10.3% of
//!   keys when 1 of 10 backends goes, in the unit test). `build` uses the index
//!   as identity, which is fine as long as backends are only appended.
//!
//! Consistent hashing ignores `seed` (its table depends only on the backends, so keys keep their
//! backend across config updates); `seed` only drives power of two choices.
//!
//! Every balancer is shared by the worker threads through `&self`; `pick` never allocates.
//! Round robin, least connections, power of two and consistent hashing are lock-free; smooth
//! weighted round robin (and sticky cookie's fallback to it) updates every current weight per
//! pick and takes a short mutex.

mod consistent_hash;
pub(crate) mod hash;
mod least_connections;
mod power_of_two;
mod round_robin;
mod sticky_cookie;
mod weighted_round_robin;

use std::net::IpAddr;

pub use consistent_hash::ConsistentHash;
pub use least_connections::LeastConnections;
pub use power_of_two::PowerOfTwo;
pub use round_robin::RoundRobin;
pub use sticky_cookie::{
    parse_sticky_cookie, write_sticky_cookie_value, StickyCookie, StickyIdentities,
};
pub use weighted_round_robin::WeightedRoundRobin;

/// What the engine knows about a request when it picks a backend.
#[derive(Clone, Copy, Debug)]
pub struct PickContext<'a> {
    /// The client's address (hashed by consistent hashing when `hash_key` is None).
    pub client_ip: IpAddr,
    /// The header or cookie value to hash on; None hashes `client_ip` instead.
    pub hash_key: Option<&'a [u8]>,
    /// The index of the backend a valid sticky cookie names (see `StickyIdentities`).
    pub sticky: Option<usize>,
}

/// A backend selection algorithm, shared by all worker threads.
pub trait Balancer: Send + Sync {
    /// Picks a backend index among those for which `eligible(i)` is true (healthy, not ejected,
    /// under its connection limit); None if none is eligible.
    fn pick(&self, ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize>;
    /// Connection accounting for least_connections / power_of_two (no-op for others).
    fn on_start(&self, _backend: usize) {}
    /// Ends what `on_start` began.
    fn on_finish(&self, _backend: usize) {}
    /// Sets a backend's effective weight (slow start ramps it up to the configured weight).
    /// Weights below 1 count as 1. No-op for algorithms that ignore weights.
    fn set_weight(&self, _backend: usize, _weight: u32) {}
}

/// One backend as the balancer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendSpec {
    /// Effective weight; slow start may lower it.
    pub weight: u32,
}

/// The algorithms of the configuration contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlgorithmKind {
    RoundRobin,
    WeightedRoundRobin,
    LeastConnections,
    PowerOfTwo,
    ConsistentHash,
    StickyCookie,
}

/// Builds a balancer over `backends`; `seed` seeds the random choices of power of two.
/// Consistent hashing ignores it: its table depends only on the backends, so that keys keep
/// their backend across rebuilds (see `build_keyed`).
pub fn build(kind: AlgorithmKind, backends: &[BackendSpec], seed: u64) -> Box<dyn Balancer> {
    let identities: Vec<[u8; 8]> = (0..backends.len() as u64).map(u64::to_le_bytes).collect();
    let identities: Vec<&[u8]> = identities.iter().map(|id| id.as_slice()).collect();
    build_keyed(kind, backends, &identities, seed)
}

/// Like `build`, with a stable identity per backend (same length as `backends`) that keeps
/// consistent hashing stable across rebuilds; the other algorithms ignore it.
pub fn build_keyed(
    kind: AlgorithmKind,
    backends: &[BackendSpec],
    identities: &[&[u8]],
    seed: u64,
) -> Box<dyn Balancer> {
    assert_eq!(backends.len(), identities.len(), "one identity per backend");
    let weights: Vec<u32> = backends.iter().map(|b| b.weight.max(1)).collect();
    match kind {
        AlgorithmKind::RoundRobin => Box::new(RoundRobin::new(backends.len())),
        AlgorithmKind::WeightedRoundRobin => Box::new(WeightedRoundRobin::new(&weights)),
        AlgorithmKind::LeastConnections => Box::new(LeastConnections::new(&weights)),
        AlgorithmKind::PowerOfTwo => Box::new(PowerOfTwo::new(&weights, seed)),
        AlgorithmKind::ConsistentHash => Box::new(ConsistentHash::new(&weights, identities)),
        AlgorithmKind::StickyCookie => Box::new(StickyCookie::new(&weights)),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the per-algorithm statistical tests.
    use super::{Balancer, PickContext};
    use std::net::{IpAddr, Ipv4Addr};

    pub fn ctx() -> PickContext<'static> {
        PickContext {
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            hash_key: None,
            sticky: None,
        }
    }

    /// Counts how often each backend is picked over `picks` picks.
    pub fn histogram(
        balancer: &dyn Balancer,
        backends: usize,
        picks: usize,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Vec<usize> {
        let mut counts = vec![0; backends];
        for _ in 0..picks {
            let i = balancer
                .pick(&ctx(), eligible)
                .expect("an eligible backend");
            assert!(eligible(i), "picked ineligible backend {i}");
            counts[i] += 1;
        }
        counts
    }

    /// The largest |observed - expected| / expected over all backends with a nonzero share.
    pub fn max_relative_deviation(counts: &[usize], shares: &[f64]) -> f64 {
        let total: usize = counts.iter().sum();
        let share_sum: f64 = shares.iter().sum();
        counts
            .iter()
            .zip(shares)
            .filter(|(_, share)| **share > 0.0)
            .map(|(&count, share)| {
                let expected = total as f64 * share / share_sum;
                (count as f64 - expected).abs() / expected
            })
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::ctx;
    use super::*;

    const ALL: [AlgorithmKind; 6] = [
        AlgorithmKind::RoundRobin,
        AlgorithmKind::WeightedRoundRobin,
        AlgorithmKind::LeastConnections,
        AlgorithmKind::PowerOfTwo,
        AlgorithmKind::ConsistentHash,
        AlgorithmKind::StickyCookie,
    ];

    fn specs(weights: &[u32]) -> Vec<BackendSpec> {
        weights
            .iter()
            .map(|&weight| BackendSpec { weight })
            .collect()
    }

    #[test]
    fn no_algorithm_returns_an_ineligible_backend() {
        let backends = specs(&[1, 3, 2, 5, 1, 1, 4]);
        for kind in ALL {
            let balancer = build(kind, &backends, 42);
            for mask in 1u32..(1 << backends.len()) {
                let eligible = |i: usize| mask & (1 << i) != 0;
                for client in 0..20u8 {
                    let key = [client];
                    let ctx = PickContext {
                        client_ip: IpAddr::from([10, 0, 0, client]),
                        hash_key: (client % 2 == 0).then_some(&key[..]),
                        sticky: Some(usize::from(client) % 9),
                    };
                    let i = balancer.pick(&ctx, &eligible).unwrap();
                    assert!(eligible(i), "{kind:?} picked {i} with mask {mask:b}");
                }
            }
        }
    }

    #[test]
    fn every_algorithm_returns_none_when_nothing_is_eligible() {
        for kind in ALL {
            let balancer = build(kind, &specs(&[1, 2, 3]), 1);
            assert_eq!(balancer.pick(&ctx(), &|_| false), None, "{kind:?}");
            let empty = build(kind, &[], 1);
            assert_eq!(
                empty.pick(&ctx(), &|_| true),
                None,
                "{kind:?} with no backends"
            );
        }
    }

    #[test]
    fn a_single_backend_gets_everything() {
        for kind in ALL {
            let balancer = build(kind, &specs(&[7]), 3);
            for _ in 0..100 {
                assert_eq!(balancer.pick(&ctx(), &|_| true), Some(0), "{kind:?}");
            }
        }
    }

    #[test]
    fn consistent_hashing_keeps_keys_across_rebuilds_whatever_the_seed() {
        let backends = specs(&[1, 1, 1, 1, 1]);
        let ids: Vec<String> = (0..5).map(|i| format!("10.0.0.{i}:80")).collect();
        let ids: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes()).collect();
        let first = build_keyed(AlgorithmKind::ConsistentHash, &backends, &ids, 1);
        let rebuilt = build_keyed(AlgorithmKind::ConsistentHash, &backends, &ids, 2);
        for user in 0..1000 {
            let key = format!("user-{user}");
            let ctx = PickContext {
                hash_key: Some(key.as_bytes()),
                ..ctx()
            };
            assert_eq!(first.pick(&ctx, &|_| true), rebuilt.pick(&ctx, &|_| true));
        }
    }

    #[test]
    fn balancers_are_shared_across_threads() {
        for kind in ALL {
            let balancer = build(kind, &specs(&[1, 2, 3, 4]), 9);
            std::thread::scope(|scope| {
                for _ in 0..4 {
                    scope.spawn(|| {
                        for _ in 0..2000 {
                            let i = balancer.pick(&ctx(), &|i| i != 2).unwrap();
                            assert_ne!(i, 2);
                            balancer.on_start(i);
                            balancer.on_finish(i);
                        }
                    });
                }
            });
        }
    }
}
