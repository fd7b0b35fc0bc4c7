//! Power of two random choices: sample two backends, send the request to the less loaded one.
//! Nearly as even as least connections without scanning the pool, and without the herding of
//! every worker onto the same "least" backend.

use std::sync::atomic::{AtomicU64, Ordering};

use super::hash::{bounded, splitmix64, GOLDEN_GAMMA};
use super::least_connections::ActiveCounts;
use super::{Balancer, PickContext};

/// Random draws before giving up on sampling and scanning the pool for an eligible backend.
const SAMPLE_TRIES: usize = 4;

/// Power of two choices over active request counts (per unit of weight).
pub struct PowerOfTwo {
    counts: ActiveCounts,
    /// SplitMix64 counter: one relaxed add per draw. Shared rather than thread-local so a seed
    /// makes the sequence reproducible; the cost is the same atomic add round robin pays.
    rng: AtomicU64,
}

impl PowerOfTwo {
    /// A balancer with the given weights; `seed` fixes the random sequence.
    pub fn new(weights: &[u32], seed: u64) -> Self {
        PowerOfTwo {
            counts: ActiveCounts::new(weights),
            rng: AtomicU64::new(seed),
        }
    }

    fn random(&self) -> u64 {
        splitmix64(
            self.rng
                .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
                .wrapping_add(GOLDEN_GAMMA),
        )
    }

    fn lighter(&self, a: usize, b: usize) -> usize {
        if self.counts.load(b).cmp(self.counts.load(a)).is_lt() {
            b
        } else {
            a
        }
    }
}

impl Balancer for PowerOfTwo {
    fn pick(&self, _ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        let n = self.counts.len();
        match n {
            0 => return None,
            1 => return eligible(0).then_some(0),
            _ => {}
        }
        for _ in 0..SAMPLE_TRIES {
            // One 64-bit draw gives both choices; the second is offset so it differs from the first.
            let r = self.random();
            let a = bounded(r, n);
            let b = (a + 1 + bounded(r.rotate_left(32), n - 1)) % n;
            match (eligible(a), eligible(b)) {
                (true, true) => return Some(self.lighter(a, b)),
                (true, false) => return Some(a),
                (false, true) => return Some(b),
                (false, false) => {}
            }
        }
        // Most of the pool is ineligible: the least loaded eligible backend, scanning from a
        // random start so ties do not all land on the lowest index.
        let start = bounded(self.random(), n);
        (0..n)
            .map(|k| (start + k) % n)
            .filter(|&i| eligible(i))
            .reduce(|best, i| self.lighter(best, i))
    }

    fn on_start(&self, backend: usize) {
        self.counts.start(backend);
    }

    fn on_finish(&self, backend: usize) {
        self.counts.finish(backend);
    }

    fn set_weight(&self, backend: usize, weight: u32) {
        self.counts.set_weight(backend, weight);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ctx, histogram, max_relative_deviation};
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn both_choices_are_distinct_and_uniform() {
        let p2c = PowerOfTwo::new(&[1; 5], 7);
        let mut pairs = [[0usize; 5]; 5];
        for _ in 0..100_000 {
            let r = p2c.random();
            let a = bounded(r, 5);
            let b = (a + 1 + bounded(r.rotate_left(32), 4)) % 5;
            assert_ne!(a, b);
            pairs[a][b] += 1;
        }
        // 20 ordered pairs, 5000 expected each.
        for (a, row) in pairs.iter().enumerate() {
            for (b, &count) in row.iter().enumerate() {
                if a != b {
                    assert!(count.abs_diff(5000) < 400, "pair {a},{b}: {count}");
                }
            }
        }
    }

    #[test]
    fn idle_pool_spreads_evenly() {
        let p2c = PowerOfTwo::new(&[1; 8], 11);
        let counts = histogram(&p2c, 8, 100_000, &|_| true);
        assert!(
            max_relative_deviation(&counts, &[1.0; 8]) < 0.05,
            "{counts:?}"
        );
    }

    #[test]
    fn a_mostly_ineligible_pool_still_finds_the_eligible_backend() {
        let p2c = PowerOfTwo::new(&[1; 100], 3);
        let counts = histogram(&p2c, 100, 1000, &|i| i == 57);
        assert_eq!(counts[57], 1000);
    }

    /// Simulates a pool where backend 0 is ten times slower than the others, with requests
    /// arriving faster than one backend alone can serve. Returns the time-averaged worst queue
    /// length (active requests on the busiest backend).
    fn worst_queue(choose: &mut dyn FnMut(&ActiveCounts) -> usize, counts: &ActiveCounts) -> f64 {
        let service_ticks = |backend: usize| if backend == 0 { 40 } else { 4 };
        let mut finishing: VecDeque<Vec<usize>> = (0..64).map(|_| Vec::new()).collect();
        let mut worst_sum = 0u64;
        let ticks = 100_000;
        for _ in 0..ticks {
            for done in finishing.pop_front().unwrap() {
                counts.finish(done);
            }
            finishing.push_back(Vec::new());
            let i = choose(counts);
            counts.start(i);
            finishing[service_ticks(i) - 1].push(i);
            worst_sum += u64::from((0..8).map(|b| counts.active(b)).max().unwrap());
        }
        worst_sum as f64 / f64::from(ticks)
    }

    #[test]
    fn two_choices_balance_a_skewed_pool_better_than_one_random_choice() {
        let p2c = PowerOfTwo::new(&[1; 8], 5);
        let two = worst_queue(&mut |_| p2c.pick(&ctx(), &|_| true).unwrap(), &p2c.counts);
        let random = PowerOfTwo::new(&[1; 8], 5);
        let one = worst_queue(&mut |_| bounded(random.random(), 8), &random.counts);
        println!("mean worst queue: two choices {two:.2}, one random choice {one:.2}");
        // Uniform random piles about 40 / 8 = 5 requests on the slow backend; two choices steer
        // new requests away from it as soon as it is busier than a random peer.
        assert!(
            two * 2.0 < one,
            "two choices {two:.2}, one random choice {one:.2}"
        );
    }

    #[test]
    fn held_connections_settle_in_proportion_to_weight() {
        let p2c = PowerOfTwo::new(&[1, 2, 3], 17);
        for _ in 0..6000 {
            let i = p2c.pick(&ctx(), &|_| true).unwrap();
            p2c.on_start(i);
        }
        let active: Vec<usize> = (0..3).map(|i| p2c.counts.active(i) as usize).collect();
        let deviation = max_relative_deviation(&active, &[1.0, 2.0, 3.0]);
        assert!(deviation < 0.05, "{active:?}");
        // Lowering a weight (slow start) steers new connections elsewhere.
        p2c.set_weight(2, 1);
        let before = p2c.counts.active(2);
        for _ in 0..600 {
            let i = p2c.pick(&ctx(), &|_| true).unwrap();
            p2c.on_start(i);
        }
        assert_eq!(
            p2c.counts.active(2),
            before,
            "backend 2 is far above its new share"
        );
    }

    #[test]
    fn same_seed_same_sequence() {
        let a = PowerOfTwo::new(&[1; 9], 1234);
        let b = PowerOfTwo::new(&[1; 9], 1234);
        let pick = |p: &PowerOfTwo| {
            (0..50)
                .map(|_| p.pick(&ctx(), &|_| true))
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(&a), pick(&b));
    }
}
