//! Retry budget: retries may add at most `budget_percent` of the requests seen over the last
//! 10 s, with a floor of `min_per_second` retries per second so a quiet pool can still retry.
//! Unbounded retries turn a struggling backend pool into a dead one (each failure multiplies
//! the load); the budget keeps the extra load a fixed fraction.

use super::window::RollingCounter;

/// Length of the window over which requests and retries are counted.
pub const RETRY_WINDOW_MS: u64 = 10_000;

/// The contract's `retries` settings that concern the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryBudgetConfig {
    /// Retries allowed as a percentage of requests.
    pub budget_percent: u32,
    /// Retries allowed per second regardless of traffic.
    pub min_per_second: u32,
}

/// Shared per-pool retry budget over a rolling 10 s window.
pub struct RetryBudget {
    config: RetryBudgetConfig,
    requests: RollingCounter,
    retries: RollingCounter,
}

impl RetryBudget {
    /// An empty budget.
    pub fn new(config: RetryBudgetConfig) -> Self {
        RetryBudget {
            config,
            requests: RollingCounter::new(RETRY_WINDOW_MS),
            retries: RollingCounter::new(RETRY_WINDOW_MS),
        }
    }

    /// Counts one original (non-retry) request.
    pub fn record_request(&self, now_ms: u64) {
        self.requests.add(now_ms);
    }

    /// Whether one more retry fits the budget; if so it is counted against it. Threads racing
    /// here may overshoot the budget by one retry each, which is harmless for a load cap.
    pub fn allow_retry(&self, now_ms: u64) -> bool {
        let requests = self.requests.sum(now_ms);
        let by_share = requests * u64::from(self.config.budget_percent) / 100;
        let floor = u64::from(self.config.min_per_second) * RETRY_WINDOW_MS / 1000;
        if self.retries.sum(now_ms) >= by_share.max(floor) {
            return false;
        }
        self.retries.add(now_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(budget_percent: u32, min_per_second: u32) -> RetryBudget {
        RetryBudget::new(RetryBudgetConfig {
            budget_percent,
            min_per_second,
        })
    }

    #[test]
    fn retries_are_capped_at_the_percentage_of_requests() {
        let budget = budget(20, 0);
        for _ in 0..1000 {
            budget.record_request(500);
        }
        let allowed = (0..1000).filter(|_| budget.allow_retry(600)).count();
        assert_eq!(allowed, 200);
        budget.record_request(700);
        budget.record_request(700);
        budget.record_request(700);
        budget.record_request(700);
        budget.record_request(700);
        assert!(
            budget.allow_retry(700),
            "five more requests earn one more retry"
        );
        assert!(!budget.allow_retry(700));
    }

    #[test]
    fn the_floor_allows_retries_without_traffic() {
        let budget = budget(20, 10);
        let allowed = (0..500).filter(|_| budget.allow_retry(0)).count();
        assert_eq!(allowed, 100, "10 per second over the 10 s window");
    }

    #[test]
    fn the_budget_refills_as_the_window_slides() {
        let budget = budget(50, 0);
        for _ in 0..100 {
            budget.record_request(0);
        }
        assert_eq!((0..100).filter(|_| budget.allow_retry(0)).count(), 50);
        assert!(!budget.allow_retry(9_999), "still within the 10 s window");
        // After 10 s the old requests and retries have both left the window.
        assert!(!budget.allow_retry(10_000), "no requests, no floor");
        for _ in 0..10 {
            budget.record_request(10_000);
        }
        assert_eq!((0..100).filter(|_| budget.allow_retry(10_000)).count(), 5);
    }
}
