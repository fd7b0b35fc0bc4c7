//! A rolling event counter over a time window, split into buckets, updated with atomics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets per window: the window slides in steps of a tenth of its length.
pub(super) const BUCKETS: usize = 10;

/// Counts events over the last `BUCKETS` bucket widths (the current bucket included).
/// Each bucket packs (bucket number: high 32 bits, count: low 32 bits) into one atomic, so a
/// bucket left over from an earlier lap of the ring is recognised and restarted.
pub(super) struct RollingCounter {
    buckets: [AtomicU64; BUCKETS],
    bucket_ms: u64,
}

impl RollingCounter {
    /// A counter over `window_ms` (at least `BUCKETS` ms).
    pub(super) fn new(window_ms: u64) -> Self {
        RollingCounter {
            buckets: Default::default(),
            bucket_ms: (window_ms / BUCKETS as u64).max(1),
        }
    }

    fn epoch(&self, now_ms: u64) -> u64 {
        // Wrapping to 32 bits is harmless: a stale bucket must be 2^32 buckets old to alias.
        (now_ms / self.bucket_ms) & 0xffff_ffff
    }

    /// Counts one event at `now_ms`.
    pub(super) fn add(&self, now_ms: u64) {
        let epoch = self.epoch(now_ms);
        let bucket = &self.buckets[(now_ms / self.bucket_ms) as usize % BUCKETS];
        let _ = bucket.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
            Some(if packed >> 32 == epoch {
                packed + 1
            } else {
                (epoch << 32) | 1
            })
        });
    }

    /// Events counted in the window ending at `now_ms`.
    pub(super) fn sum(&self, now_ms: u64) -> u64 {
        let now = now_ms / self.bucket_ms;
        (0..BUCKETS as u64)
            .filter_map(|age| now.checked_sub(age))
            .map(|epoch| {
                let packed = self.buckets[epoch as usize % BUCKETS].load(Ordering::Relaxed);
                if packed >> 32 == epoch & 0xffff_ffff {
                    packed & 0xffff_ffff
                } else {
                    0
                }
            })
            .sum()
    }

    /// Forgets every event.
    pub(super) fn clear(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_leave_the_window_one_bucket_at_a_time() {
        let counter = RollingCounter::new(10_000);
        for t in 0..10u64 {
            counter.add(t * 1000 + 500);
            counter.add(t * 1000 + 600);
        }
        assert_eq!(counter.sum(9_999), 20);
        assert_eq!(counter.sum(10_000), 18, "the first second left the window");
        assert_eq!(counter.sum(15_000), 8);
        assert_eq!(counter.sum(18_999), 2);
        assert_eq!(counter.sum(19_000), 0);
        assert_eq!(
            counter.sum(1_000_000),
            0,
            "stale buckets from laps ago count nothing"
        );
    }

    #[test]
    fn a_reused_bucket_starts_from_zero() {
        let counter = RollingCounter::new(1000);
        counter.add(50);
        counter.add(50);
        counter.add(1050); // same ring slot, next lap
        assert_eq!(counter.sum(1050), 1);
        counter.clear();
        assert_eq!(counter.sum(1050), 0);
    }

    #[test]
    fn concurrent_adds_are_all_counted() {
        let counter = RollingCounter::new(10_000);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| (0..10_000).for_each(|_| counter.add(123)));
            }
        });
        assert_eq!(counter.sum(123), 40_000);
    }
}
