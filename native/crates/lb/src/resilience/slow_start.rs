//! Slow start: a backend that has just come back (up after health checks, or back from
//! ejection) gets its weight ramped linearly from 1 to the configured weight, so a cold cache
//! or a freshly started process is not hit with its full share at once.

/// Linear weight ramp over a fixed duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlowStart {
    duration_ms: u64,
}

impl SlowStart {
    /// A ramp over `duration_ms`; 0 turns slow start off.
    pub fn new(duration_ms: u64) -> Self {
        SlowStart { duration_ms }
    }

    /// The weight to use at `now_ms` for a backend of weight `base` that recovered at
    /// `since_recovery_ms`: at least 1, `base` once the ramp is over.
    pub fn effective_weight(&self, base: u32, since_recovery_ms: u64, now_ms: u64) -> u32 {
        let elapsed = now_ms.saturating_sub(since_recovery_ms);
        if elapsed >= self.duration_ms {
            return base;
        }
        let ramped = u64::from(base) * elapsed / self.duration_ms;
        // ramped < base, so it fits in u32.
        (ramped as u32).max(1)
    }

    /// Whether the ramp for a backend recovered at `since_recovery_ms` is still running, so
    /// the engine knows to keep refreshing its weight.
    pub fn is_ramping(&self, since_recovery_ms: u64, now_ms: u64) -> bool {
        now_ms.saturating_sub(since_recovery_ms) < self.duration_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_ramps_linearly_from_one_to_base() {
        let ramp = SlowStart::new(10_000);
        assert_eq!(ramp.effective_weight(100, 5_000, 5_000), 1);
        assert_eq!(ramp.effective_weight(100, 5_000, 6_000), 10);
        assert_eq!(ramp.effective_weight(100, 5_000, 10_000), 50);
        assert_eq!(ramp.effective_weight(100, 5_000, 14_999), 99);
        assert_eq!(ramp.effective_weight(100, 5_000, 15_000), 100);
        assert_eq!(ramp.effective_weight(100, 5_000, 1_000_000), 100);
        assert!(ramp.is_ramping(5_000, 14_999));
        assert!(!ramp.is_ramping(5_000, 15_000));
    }

    #[test]
    fn weights_never_drop_below_one_or_exceed_base() {
        let ramp = SlowStart::new(1000);
        for now in 0..2000 {
            let weight = ramp.effective_weight(3, 0, now);
            assert!((1..=3).contains(&weight));
        }
        // A clock reading before the recovery time (a caller mixing clocks) is treated as t=0.
        assert_eq!(ramp.effective_weight(1000, 500, 100), 1);
        assert_eq!(ramp.effective_weight(1000, 0, 999), 999);
        assert_eq!(ramp.effective_weight(u32::MAX, 0, 500), u32::MAX / 2);
    }

    #[test]
    fn zero_duration_means_full_weight_at_once() {
        let off = SlowStart::new(0);
        assert_eq!(off.effective_weight(42, 100, 100), 42);
        assert!(!off.is_ramping(100, 100));
    }
}
