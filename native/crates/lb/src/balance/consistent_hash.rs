//! Consistent hashing with a Maglev lookup table (Eisenbud et al., NSDI 2016): each backend
//! fills table slots in the order of its own permutation, taking turns, so every backend owns an
//! almost equal share of the table (in proportion to weight) and removing one backend reassigns
//! little more than its own slots. A request hashes its key to a slot; when the slot's backend
//! is not eligible, the walk continues through the table with a stride taken from the key's
//! hash, which spreads that backend's keys evenly over the others (neighbouring slots are
//! correlated in a Maglev table, a per-key stride is not) and leaves every other key in place.

use super::hash::{hash_ip, siphash};
use super::{Balancer, PickContext};

/// Table sizes: primes, the smallest one at least `SLOTS_PER_BACKEND` times the backend count
/// is used, so each backend owns many slots and shares stay within about 1% of each other.
const TABLE_PRIMES: [usize; 8] = [
    65_537, 131_071, 262_139, 524_287, 1_048_573, 2_097_143, 4_194_301, 8_388_593,
];
const SLOTS_PER_BACKEND: usize = 100;
/// Slots walked before checking that any backend at all is eligible (which is O(backends)),
/// so that an empty pool costs one scan instead of a walk over the whole table.
const SHORT_WALK: usize = 64;

/// Fixed SipHash key. Not a secret on purpose: the mapping must be the same in every rebuilt
/// table (config updates, restarts, other proxy instances) for keys to keep their backend, and a
/// client can learn which backend its key lands on by trying anyway.
const K0: u64 = 0x6d61_676c_6576_2d6b;
const K1: u64 = 0x7468_6563_6c6f_7564;

/// Maglev consistent hashing on a header, cookie or the client address.
pub struct ConsistentHash {
    table: Box<[u32]>,
    backends: usize,
}

impl ConsistentHash {
    /// A table for backends with these weights and stable identities (their addresses, say):
    /// the same backends always give the same table.
    pub fn new(weights: &[u32], identities: &[&[u8]]) -> Self {
        let wanted = weights.len().saturating_mul(SLOTS_PER_BACKEND);
        let size = TABLE_PRIMES
            .into_iter()
            .find(|&p| p >= wanted)
            .unwrap_or(TABLE_PRIMES[TABLE_PRIMES.len() - 1]);
        Self::with_table_size(weights, identities, size)
    }

    /// Like `new` with an explicit table size, which must be prime (so every skip visits
    /// every slot).
    pub fn with_table_size(weights: &[u32], identities: &[&[u8]], size: usize) -> Self {
        assert_eq!(weights.len(), identities.len(), "one identity per backend");
        assert!(u32::try_from(weights.len()).is_ok(), "too many backends");
        let table = if weights.is_empty() {
            Box::default()
        } else {
            populate(weights, identities, size)
        };
        ConsistentHash {
            table,
            backends: weights.len(),
        }
    }

    /// The key's first slot and the stride of its walk (nonzero; the size is prime, so the
    /// walk visits every slot).
    fn probe_of(&self, ctx: &PickContext<'_>) -> (usize, usize) {
        let hash = match ctx.hash_key {
            Some(key) => siphash(K0, K1, key),
            None => hash_ip(K0, K1, ctx.client_ip),
        };
        let size = self.table.len() as u64;
        let slot = hash % size;
        let stride = 1 + hash.rotate_left(32) % (size - 1);
        (slot as usize, stride as usize)
    }

    #[cfg(test)]
    fn slots_owned(&self) -> Vec<usize> {
        let mut owned = vec![0; self.backends];
        for &b in self.table.iter() {
            owned[b as usize] += 1;
        }
        owned
    }
}

/// Fills a table of `size` slots (prime) by letting backends take turns along their own
/// permutations; a backend of weight w takes w / max_weight turns per round.
fn populate(weights: &[u32], identities: &[&[u8]], size: usize) -> Box<[u32]> {
    const EMPTY: u32 = u32::MAX;
    let size64 = size as u64;
    let permutations: Vec<(u64, u64)> = identities
        .iter()
        .map(|id| {
            let offset = siphash(K0, K1, id) % size64;
            let skip = siphash(K1, K0, id) % (size64 - 1) + 1;
            (offset, skip)
        })
        .collect();
    let max_weight = u64::from(weights.iter().copied().max().unwrap_or(1).max(1));
    let mut credit = vec![0u64; weights.len()];
    let mut next = vec![0u64; weights.len()];
    let mut table = vec![EMPTY; size];
    let mut filled = 0;
    while filled < size {
        for (i, &weight) in weights.iter().enumerate() {
            credit[i] += u64::from(weight.max(1));
            while credit[i] >= max_weight {
                credit[i] -= max_weight;
                let (offset, skip) = permutations[i];
                let mut slot = ((offset + next[i] * skip) % size64) as usize;
                while table[slot] != EMPTY {
                    next[i] += 1;
                    slot = ((offset + next[i] * skip) % size64) as usize;
                }
                table[slot] = i as u32;
                next[i] += 1;
                filled += 1;
                if filled == size {
                    return table.into_boxed_slice();
                }
            }
        }
    }
    table.into_boxed_slice()
}

impl Balancer for ConsistentHash {
    fn pick(&self, ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        if self.backends == 0 {
            return None;
        }
        let size = self.table.len();
        let (start, stride) = self.probe_of(ctx);
        let walk = |from: usize, steps: usize| {
            (from..from + steps)
                .map(|k| self.table[(start + k * stride) % size] as usize)
                .find(|&b| eligible(b))
        };
        if let Some(b) = walk(0, SHORT_WALK.min(size)) {
            return Some(b);
        }
        if !(0..self.backends).any(eligible) {
            return None;
        }
        walk(SHORT_WALK, size)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::max_relative_deviation;
    use super::*;
    use std::net::IpAddr;

    fn identities(names: &[String]) -> Vec<&[u8]> {
        names.iter().map(|n| n.as_bytes()).collect()
    }

    fn names(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("10.0.0.{i}:80")).collect()
    }

    fn key_ctx(key: &[u8]) -> PickContext<'_> {
        PickContext {
            client_ip: IpAddr::from([127, 0, 0, 1]),
            hash_key: Some(key),
            sticky: None,
        }
    }

    /// The backend picked for each of `keys` keys, all backends eligible except `down`.
    fn assignment(ch: &ConsistentHash, keys: u32, down: Option<usize>) -> Vec<usize> {
        (0..keys)
            .map(|k| {
                let key = format!("user-{k}");
                ch.pick(&key_ctx(key.as_bytes()), &|b| Some(b) != down)
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn table_sizes_are_prime() {
        for p in TABLE_PRIMES {
            assert!((2..).take_while(|d| d * d <= p).all(|d| p % d != 0), "{p}");
        }
        assert_eq!(
            ConsistentHash::new(&[1; 3], &[b"a", b"b", b"c"])
                .table
                .len(),
            65_537
        );
        let many = names(1000);
        assert_eq!(
            ConsistentHash::new(&[1; 1000], &identities(&many))
                .table
                .len(),
            131_071
        );
    }

    #[test]
    fn slots_are_shared_almost_exactly_and_keys_spread_within_a_few_percent() {
        let names = names(10);
        let ch = ConsistentHash::new(&[1; 10], &identities(&names));
        let owned = ch.slots_owned();
        assert!(owned.iter().all(|&s| s.abs_diff(6554) <= 1), "{owned:?}");
        let mut counts = vec![0; 10];
        for b in assignment(&ch, 100_000, None) {
            counts[b] += 1;
        }
        let deviation = max_relative_deviation(&counts, &[1.0; 10]);
        println!("keys per backend {counts:?}, max relative deviation {deviation:.4}");
        assert!(deviation < 0.04, "{counts:?}");
    }

    #[test]
    fn weights_set_the_share_of_the_table() {
        let names = names(3);
        let ch = ConsistentHash::new(&[1, 2, 5], &identities(&names));
        let owned = ch.slots_owned();
        assert!(
            max_relative_deviation(&owned, &[1.0, 2.0, 5.0]) < 0.001,
            "{owned:?}"
        );
    }

    #[test]
    fn the_same_key_always_goes_to_the_same_backend() {
        let names = names(7);
        let ch = ConsistentHash::new(&[1; 7], &identities(&names));
        let again = ConsistentHash::new(&[1; 7], &identities(&names));
        assert_eq!(assignment(&ch, 2000, None), assignment(&again, 2000, None));
        let by_ip = |ip: [u8; 4]| {
            let ctx = PickContext {
                client_ip: IpAddr::from(ip),
                hash_key: None,
                sticky: None,
            };
            ch.pick(&ctx, &|_| true).unwrap()
        };
        let clients: Vec<usize> = (0..=255).map(|i| by_ip([192, 168, 1, i])).collect();
        let distinct: std::collections::HashSet<_> = clients.iter().collect();
        assert_eq!(
            distinct.len(),
            7,
            "client addresses spread over all backends"
        );
        assert!((0..=255).all(|i| by_ip([192, 168, 1, i]) == clients[usize::from(i)]));
    }

    #[test]
    fn an_ineligible_backend_moves_only_its_own_keys_and_spreads_them() {
        let names = names(10);
        let ch = ConsistentHash::new(&[1; 10], &identities(&names));
        let before = assignment(&ch, 50_000, None);
        let after = assignment(&ch, 50_000, Some(3));
        let mut moved_to = vec![0usize; 10];
        for (&b, &a) in before.iter().zip(&after) {
            if b != 3 {
                assert_eq!(b, a, "a key of an eligible backend moved");
            } else {
                moved_to[a] += 1;
            }
        }
        assert_eq!(moved_to[3], 0);
        let mut shares = [1.0; 10];
        shares[3] = 0.0;
        let deviation = max_relative_deviation(&moved_to, &shares);
        println!("moved keys per backend {moved_to:?}, max relative deviation {deviation:.4}");
        assert!(deviation < 0.12, "{moved_to:?}");
    }

    #[test]
    fn removing_a_backend_from_the_table_moves_about_one_nth_of_the_keys() {
        let all = names(10);
        let ch = ConsistentHash::new(&[1; 10], &identities(&all));
        let mut rest = all.clone();
        rest.remove(4);
        let smaller = ConsistentHash::new(&[1; 9], &identities(&rest));
        let keys = 50_000;
        let before = assignment(&ch, keys, None);
        let after = assignment(&smaller, keys, None);
        let moved = before
            .iter()
            .zip(&after)
            .filter(|(&b, &a)| all[b] != rest[a])
            .count();
        let fraction = moved as f64 / f64::from(keys);
        println!("removing 1 of 10 backends moved {fraction:.4} of the keys");
        // 1/10 must move (the removed backend's keys); Maglev adds a little churn on top.
        assert!((0.09..0.13).contains(&fraction), "moved {fraction:.4}");
    }

    #[test]
    fn an_empty_pool_or_no_eligible_backend_gives_none() {
        let names = names(4);
        let ch = ConsistentHash::with_table_size(&[1; 4], &identities(&names), 101);
        assert_eq!(ch.pick(&key_ctx(b"k"), &|_| false), None);
        assert_eq!(ch.pick(&key_ctx(b"k"), &|b| b == 2), Some(2));
        let empty = ConsistentHash::new(&[], &[]);
        assert_eq!(empty.pick(&key_ctx(b"k"), &|_| true), None);
    }
}
