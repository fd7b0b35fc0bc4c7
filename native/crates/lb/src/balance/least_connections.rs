//! Least connections: the eligible backend with the fewest active requests per unit of weight;
//! ties go round robin so an idle pool still spreads its load.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use super::{Balancer, PickContext};

/// Per-backend active request counts, shared with power of two choices.
pub(super) struct ActiveCounts {
    active: Box<[AtomicU32]>,
    weights: Box<[AtomicU32]>,
}

impl ActiveCounts {
    pub(super) fn new(weights: &[u32]) -> Self {
        ActiveCounts {
            active: weights.iter().map(|_| AtomicU32::new(0)).collect(),
            weights: weights.iter().map(|&w| AtomicU32::new(w.max(1))).collect(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.active.len()
    }

    /// Backend `i`'s load as the fraction (active + 1) / weight. The +1 makes a heavier backend
    /// win among idle ones, as in HAProxy's leastconn.
    pub(super) fn load(&self, i: usize) -> Load {
        Load {
            active: u64::from(self.active[i].load(Ordering::Relaxed)) + 1,
            weight: u64::from(self.weights[i].load(Ordering::Relaxed)),
        }
    }

    pub(super) fn start(&self, backend: usize) {
        if let Some(count) = self.active.get(backend) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn finish(&self, backend: usize) {
        if let Some(count) = self.active.get(backend) {
            // Saturating: an unmatched finish must not wrap to 4 billion and starve the backend.
            let _ = count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        }
    }

    pub(super) fn set_weight(&self, backend: usize, weight: u32) {
        if let Some(slot) = self.weights.get(backend) {
            slot.store(weight.max(1), Ordering::Relaxed);
        }
    }

    #[cfg(test)]
    pub(super) fn active(&self, backend: usize) -> u32 {
        self.active[backend].load(Ordering::Relaxed)
    }
}

/// A load as a fraction, compared without division.
#[derive(Clone, Copy)]
pub(super) struct Load {
    active: u64,
    weight: u64,
}

impl Load {
    pub(super) fn cmp(self, other: Load) -> std::cmp::Ordering {
        (self.active * other.weight).cmp(&(other.active * self.weight))
    }
}

/// Least (weighted) connections with round-robin tie breaking.
pub struct LeastConnections {
    counts: ActiveCounts,
    next: AtomicUsize,
}

impl LeastConnections {
    /// A balancer with the given weights (each at least 1).
    pub fn new(weights: &[u32]) -> Self {
        LeastConnections {
            counts: ActiveCounts::new(weights),
            next: AtomicUsize::new(0),
        }
    }
}

impl Balancer for LeastConnections {
    fn pick(&self, _ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        let n = self.counts.len();
        if n == 0 {
            return None;
        }
        // First pass: the least load and how many backends share it.
        let mut best: Option<(usize, Load)> = None;
        let mut ties = 0usize;
        for i in (0..n).filter(|&i| eligible(i)) {
            let load = self.counts.load(i);
            match best.map(|(_, top)| load.cmp(top)) {
                None | Some(std::cmp::Ordering::Less) => (best, ties) = (Some((i, load)), 1),
                Some(std::cmp::Ordering::Equal) => ties += 1,
                Some(std::cmp::Ordering::Greater) => {}
            }
        }
        let (first, least) = best?;
        if ties == 1 {
            return Some(first);
        }
        // Second pass: the tied backends take turns. Loads may move meanwhile; then the first
        // minimum found is as good an answer as any.
        let nth = self.next.fetch_add(1, Ordering::Relaxed) % ties;
        (0..n)
            .filter(|&i| eligible(i) && self.counts.load(i).cmp(least).is_eq())
            .nth(nth)
            .or(Some(first))
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
    use super::super::testing::{ctx, histogram};
    use super::*;

    #[test]
    fn idle_pool_goes_round_robin() {
        let lc = LeastConnections::new(&[1, 1, 1, 1]);
        let counts = histogram(&lc, 4, 100_000, &|_| true);
        assert_eq!(counts, [25_000; 4]);
    }

    #[test]
    fn busy_backends_are_avoided_until_the_others_catch_up() {
        let lc = LeastConnections::new(&[1, 1, 1]);
        for _ in 0..5 {
            lc.on_start(0);
        }
        for _ in 0..10 {
            let i = lc.pick(&ctx(), &|_| true).unwrap();
            assert_ne!(i, 0);
            lc.on_start(i);
        }
        assert_eq!((lc.counts.active(1), lc.counts.active(2)), (5, 5));
        let i = lc.pick(&ctx(), &|_| true).unwrap();
        lc.on_start(i);
        assert_eq!(lc.counts.active(i), 6);
    }

    #[test]
    fn concurrent_load_follows_weights() {
        // Hold 600 connections open at once: they settle in proportion to weight.
        let lc = LeastConnections::new(&[1, 2, 3]);
        for _ in 0..600 {
            let i = lc.pick(&ctx(), &|_| true).unwrap();
            lc.on_start(i);
        }
        let active: Vec<u32> = (0..3).map(|i| lc.counts.active(i)).collect();
        for (i, expected) in [100, 200, 300].into_iter().enumerate() {
            assert!(active[i].abs_diff(expected) <= 3, "{active:?}");
        }
    }

    #[test]
    fn a_lowered_weight_takes_a_smaller_share_of_held_connections() {
        let lc = LeastConnections::new(&[10, 10]);
        lc.set_weight(1, 1); // slow start just began for backend 1
        for _ in 0..1100 {
            let i = lc.pick(&ctx(), &|_| true).unwrap();
            lc.on_start(i);
        }
        assert!(
            lc.counts.active(1).abs_diff(100) <= 2,
            "{}",
            lc.counts.active(1)
        );
    }

    #[test]
    fn finishing_more_than_started_does_not_wrap() {
        let lc = LeastConnections::new(&[1, 1]);
        lc.on_finish(0);
        lc.on_finish(9);
        assert_eq!(lc.counts.active(0), 0);
        lc.on_start(1);
        assert_eq!(lc.pick(&ctx(), &|_| true), Some(0));
    }

    #[test]
    fn ineligible_backends_are_skipped_even_when_idle() {
        let lc = LeastConnections::new(&[1, 1, 1]);
        lc.on_start(0);
        lc.on_start(2);
        let counts = histogram(&lc, 3, 1000, &|i| i != 1);
        assert_eq!(counts, [500, 0, 500]);
    }
}
