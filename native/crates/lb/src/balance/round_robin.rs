//! Plain round robin: every backend in turn, weights ignored.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Balancer, PickContext};

/// Round robin over the eligible backends.
pub struct RoundRobin {
    backends: usize,
    next: AtomicUsize,
    /// Second counter for picks whose turn fell on an ineligible backend: spreading those over
    /// the eligible ones keeps the share even instead of doubling the load of the next backend.
    spill: AtomicUsize,
}

impl RoundRobin {
    /// A round robin over `backends` backends.
    pub fn new(backends: usize) -> Self {
        RoundRobin {
            backends,
            next: AtomicUsize::new(0),
            spill: AtomicUsize::new(0),
        }
    }
}

impl Balancer for RoundRobin {
    fn pick(&self, _ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        if self.backends == 0 {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.backends;
        if eligible(turn) {
            return Some(turn);
        }
        let count = (0..self.backends).filter(|&i| eligible(i)).count();
        if count == 0 {
            return None;
        }
        let nth = self.spill.fetch_add(1, Ordering::Relaxed) % count;
        // `eligible` may change between the two scans (a backend ejected meanwhile): fall back
        // to any eligible backend rather than failing the request.
        (0..self.backends)
            .filter(|&i| eligible(i))
            .nth(nth)
            .or_else(|| (0..self.backends).find(|&i| eligible(i)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ctx, histogram, max_relative_deviation};
    use super::*;

    #[test]
    fn visits_backends_in_order() {
        let rr = RoundRobin::new(3);
        let order: Vec<_> = (0..7)
            .map(|_| rr.pick(&ctx(), &|_| true).unwrap())
            .collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn share_is_exact_when_all_are_eligible() {
        let rr = RoundRobin::new(7);
        let counts = histogram(&rr, 7, 70_000, &|_| true);
        assert!(counts.iter().all(|&c| c == 10_000), "{counts:?}");
    }

    #[test]
    fn an_ineligible_backend_load_spreads_evenly_over_the_rest() {
        let rr = RoundRobin::new(4);
        let counts = histogram(&rr, 4, 120_000, &|i| i != 1);
        assert_eq!(counts[1], 0);
        let deviation = max_relative_deviation(&counts, &[1.0, 0.0, 1.0, 1.0]);
        assert!(deviation < 0.001, "{counts:?}");
        let two_down = histogram(&rr, 4, 100_000, &|i| i == 0 || i == 3);
        assert!(max_relative_deviation(&two_down, &[1.0, 0.0, 0.0, 1.0]) < 0.001);
    }
}
