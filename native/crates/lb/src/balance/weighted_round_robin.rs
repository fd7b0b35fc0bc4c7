//! Smooth weighted round robin (nginx's algorithm): each pick adds every eligible backend's
//! weight to its current score, takes the highest score and subtracts the total from it. Picks
//! come out interleaved (5:1:1 gives a a b a c a a, not a a a a a b c) and exactly in
//! proportion over every cycle of sum(weights) picks.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::{Balancer, PickContext};

/// Smooth weighted round robin with weights adjustable at run time.
pub struct WeightedRoundRobin {
    weights: Box<[AtomicU32]>,
    /// Current scores; every pick rewrites all of them, so a mutex is simpler and no slower than
    /// per-entry atomics.
    current: Mutex<Box<[i64]>>,
}

impl WeightedRoundRobin {
    /// A balancer with the given weights (each at least 1).
    pub fn new(weights: &[u32]) -> Self {
        WeightedRoundRobin {
            weights: weights.iter().map(|&w| AtomicU32::new(w.max(1))).collect(),
            current: Mutex::new(vec![0; weights.len()].into_boxed_slice()),
        }
    }

    /// Runs one smooth-weighted round over the eligible backends.
    pub(super) fn pick_weighted(&self, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        // A panic elsewhere cannot leave the scores inconsistent in a harmful way: keep going.
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for (i, score) in current.iter_mut().enumerate() {
            if !eligible(i) {
                continue;
            }
            let weight = i64::from(self.weights[i].load(Ordering::Relaxed));
            *score += weight;
            total += weight;
            if best.is_none_or(|(_, top)| *score > top) {
                best = Some((i, *score));
            }
        }
        let (best, _) = best?;
        current[best] -= total;
        Some(best)
    }
}

impl Balancer for WeightedRoundRobin {
    fn pick(&self, _ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.pick_weighted(eligible)
    }

    fn set_weight(&self, backend: usize, weight: u32) {
        if let Some(slot) = self.weights.get(backend) {
            slot.store(weight.max(1), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ctx, histogram, max_relative_deviation};
    use super::*;

    #[test]
    fn picks_are_interleaved_like_nginx() {
        let wrr = WeightedRoundRobin::new(&[5, 1, 1]);
        let order: Vec<_> = (0..7)
            .map(|_| wrr.pick(&ctx(), &|_| true).unwrap())
            .collect();
        assert_eq!(order, [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn share_is_exactly_proportional_to_weight() {
        let weights = [1, 2, 3, 10, 1000];
        let wrr = WeightedRoundRobin::new(&weights);
        let cycle: u32 = weights.iter().sum();
        let counts = histogram(&wrr, 5, cycle as usize * 90, &|_| true);
        let expected: Vec<usize> = weights.iter().map(|&w| w as usize * 90).collect();
        assert_eq!(counts, expected);
    }

    #[test]
    fn ineligible_backends_leave_the_others_in_proportion() {
        let wrr = WeightedRoundRobin::new(&[1, 2, 3, 4]);
        let counts = histogram(&wrr, 4, 100_000, &|i| i != 2);
        assert_eq!(counts[2], 0);
        let deviation = max_relative_deviation(&counts, &[1.0, 2.0, 0.0, 4.0]);
        assert!(deviation < 0.001, "{counts:?}");
    }

    #[test]
    fn lowered_weights_take_effect_on_the_next_picks() {
        let wrr = WeightedRoundRobin::new(&[10, 10]);
        wrr.set_weight(0, 1);
        let counts = histogram(&wrr, 2, 110_000, &|_| true);
        assert!(
            max_relative_deviation(&counts, &[1.0, 10.0]) < 0.001,
            "{counts:?}"
        );
        wrr.set_weight(0, 0); // clamped to 1, never starved completely
        wrr.set_weight(5, 3); // out of range: ignored
        let counts = histogram(&wrr, 2, 1100, &|_| true);
        assert_eq!(counts, [100, 1000]);
    }
}
