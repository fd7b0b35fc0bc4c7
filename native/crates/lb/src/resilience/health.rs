//! Active health check state of one backend: `rise` consecutive passing checks bring a down
//! backend up, `fall` consecutive failing checks take an up backend down.

/// A change of a backend's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The backend passed `rise` checks in a row and takes traffic again.
    Up,
    /// The backend failed `fall` checks in a row and takes no new traffic.
    Down,
}

/// Rise/fall state machine fed with check results.
#[derive(Clone, Debug)]
pub struct HealthState {
    rise: u32,
    fall: u32,
    up: bool,
    /// Consecutive results disagreeing with the current state.
    streak: u32,
    changed_at_ms: u64,
}

impl HealthState {
    /// A backend that starts up (traffic flows before the first check) or down (it must pass
    /// `rise` checks first). `rise` and `fall` below 1 count as 1.
    pub fn new(rise: u32, fall: u32, initially_up: bool, now_ms: u64) -> Self {
        HealthState {
            rise: rise.max(1),
            fall: fall.max(1),
            up: initially_up,
            streak: 0,
            changed_at_ms: now_ms,
        }
    }

    /// Records one check result; returns the transition it caused, if any.
    pub fn record_check(&mut self, ok: bool, now_ms: u64) -> Option<Transition> {
        if ok == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up { self.fall } else { self.rise };
        if self.streak < needed {
            return None;
        }
        self.up = ok;
        self.streak = 0;
        self.changed_at_ms = now_ms;
        Some(if ok { Transition::Up } else { Transition::Down })
    }

    /// Whether the backend takes traffic.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// When the backend last went up or down (its creation time if never); slow start ramps
    /// from the moment it came up.
    pub fn changed_at_ms(&self) -> u64 {
        self.changed_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_down_after_fall_failures_in_a_row_and_up_after_rise_passes() {
        let mut health = HealthState::new(2, 3, true, 0);
        assert_eq!(health.record_check(false, 1000), None);
        assert_eq!(health.record_check(false, 2000), None);
        assert!(health.is_up());
        assert_eq!(health.record_check(false, 3000), Some(Transition::Down));
        assert!(!health.is_up());
        assert_eq!(health.changed_at_ms(), 3000);
        assert_eq!(health.record_check(true, 4000), None);
        assert_eq!(health.record_check(true, 5000), Some(Transition::Up));
        assert!(health.is_up());
        assert_eq!(health.changed_at_ms(), 5000);
    }

    #[test]
    fn an_interrupted_streak_starts_over() {
        let mut health = HealthState::new(2, 2, true, 0);
        assert_eq!(health.record_check(false, 1), None);
        assert_eq!(health.record_check(true, 2), None);
        assert_eq!(health.record_check(false, 3), None);
        assert!(health.is_up());
        assert_eq!(health.record_check(false, 4), Some(Transition::Down));
        assert_eq!(health.record_check(true, 5), None);
        assert_eq!(health.record_check(false, 6), None);
        assert_eq!(health.record_check(true, 7), None);
        assert!(!health.is_up());
        assert_eq!(health.record_check(true, 8), Some(Transition::Up));
    }

    #[test]
    fn a_backend_starting_down_needs_rise_passes() {
        let mut health = HealthState::new(3, 1, false, 0);
        assert!(!health.is_up());
        assert_eq!(health.record_check(true, 1), None);
        assert_eq!(health.record_check(true, 2), None);
        assert_eq!(health.record_check(true, 3), Some(Transition::Up));
        assert_eq!(health.record_check(false, 4), Some(Transition::Down));
    }

    #[test]
    fn zero_thresholds_act_as_one() {
        let mut health = HealthState::new(0, 0, true, 0);
        assert_eq!(health.record_check(false, 1), Some(Transition::Down));
        assert_eq!(health.record_check(true, 2), Some(Transition::Up));
    }
}
