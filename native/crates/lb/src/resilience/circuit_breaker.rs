//! Circuit breaker: when at least `min_requests` requests in the last `window_ms` failed in a
//! ratio of `failure_ratio` or more, the circuit opens and requests fail fast for `open_ms`.
//! Then one probe request is let through (half-open): its success closes the circuit, its
//! failure opens it for another `open_ms`. A probe that never reports back is replaced by a new
//! probe after `open_ms`, so a lost result cannot wedge the breaker.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use super::window::RollingCounter;

/// The contract's `circuit_breaker` object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CircuitBreakerConfig {
    /// Failure share (0..=1] of the window's requests that opens the circuit.
    pub failure_ratio: f64,
    /// Requests the window must hold before the ratio counts.
    pub min_requests: u32,
    /// Length of the rolling window.
    pub window_ms: u64,
    /// How long the circuit stays open before a probe.
    pub open_ms: u64,
}

/// Where the breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow; failures are counted.
    Closed,
    /// Requests fail fast until the next probe is due.
    Open,
    /// A probe request is out; the others fail fast.
    HalfOpen,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// A circuit breaker shared by the worker threads.
pub struct CircuitBreaker {
    config: CircuitBreakerConfig,
    state: AtomicU8,
    /// When the next probe may go out (meaningful while open or half-open).
    probe_at_ms: AtomicU64,
    requests: RollingCounter,
    failures: RollingCounter,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: CircuitBreakerConfig) -> Self {
        CircuitBreaker {
            config,
            state: AtomicU8::new(CLOSED),
            probe_at_ms: AtomicU64::new(0),
            requests: RollingCounter::new(config.window_ms),
            failures: RollingCounter::new(config.window_ms),
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// Whether a request may be sent now. While open, the first caller after `open_ms` gets
    /// the probe (true) and the breaker turns half-open.
    pub fn allow(&self, now_ms: u64) -> bool {
        if self.state.load(Ordering::Acquire) == CLOSED {
            return true;
        }
        let due = self.probe_at_ms.load(Ordering::Acquire);
        if now_ms < due {
            return false;
        }
        // Exactly one caller wins the probe slot; the next one opens after another open_ms.
        let won = self
            .probe_at_ms
            .compare_exchange(
                due,
                now_ms + self.config.open_ms,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if won {
            // Only move open -> half-open; a concurrent close must not be undone.
            let _ =
                self.state
                    .compare_exchange(OPEN, HALF_OPEN, Ordering::AcqRel, Ordering::Acquire);
        }
        won
    }

    /// Records how a request that `allow` let through ended.
    pub fn record(&self, success: bool, now_ms: u64) {
        match self.state.load(Ordering::Acquire) {
            CLOSED => {
                self.requests.add(now_ms);
                if !success {
                    self.failures.add(now_ms);
                    self.trip_if_failing(now_ms);
                }
            }
            HALF_OPEN => {
                if success {
                    self.requests.clear();
                    self.failures.clear();
                    self.state.store(CLOSED, Ordering::Release);
                } else {
                    self.open(now_ms);
                }
            }
            // Results of requests sent before the circuit opened say nothing new.
            _ => {}
        }
    }

    fn trip_if_failing(&self, now_ms: u64) {
        let requests = self.requests.sum(now_ms);
        if requests < u64::from(self.config.min_requests.max(1)) {
            return;
        }
        let failures = self.failures.sum(now_ms);
        if failures as f64 >= self.config.failure_ratio * requests as f64 {
            self.open(now_ms);
        }
    }

    fn open(&self, now_ms: u64) {
        self.probe_at_ms
            .store(now_ms + self.config.open_ms, Ordering::Release);
        self.state.store(OPEN, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(CircuitBreakerConfig {
            failure_ratio: 0.5,
            min_requests: 20,
            window_ms: 10_000,
            open_ms: 5_000,
        })
    }

    fn fail_half_of(breaker: &CircuitBreaker, requests: usize, now_ms: u64) {
        for i in 0..requests {
            assert!(breaker.allow(now_ms));
            breaker.record(i % 2 == 0, now_ms);
        }
    }

    #[test]
    fn opens_when_the_failure_ratio_is_reached_with_enough_requests() {
        let breaker = breaker();
        fail_half_of(&breaker, 19, 0);
        assert_eq!(breaker.state(), BreakerState::Closed, "below min_requests");
        assert!(breaker.allow(0));
        breaker.record(false, 0);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow(1));
        assert!(!breaker.allow(4_999));
    }

    #[test]
    fn a_low_failure_ratio_keeps_it_closed() {
        let breaker = breaker();
        for i in 0..1000 {
            breaker.record(i % 3 != 0, i);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn old_failures_leave_the_window() {
        let breaker = breaker();
        for _ in 0..15 {
            breaker.record(false, 0);
        }
        // 10 s later those 15 failures no longer count: 10 more failures are below min_requests.
        for _ in 0..10 {
            breaker.record(false, 10_000);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn after_open_ms_one_probe_goes_out_and_its_success_closes() {
        let breaker = breaker();
        fail_half_of(&breaker, 20, 0);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.allow(5_000), "probe due");
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(!breaker.allow(5_001), "only one probe at a time");
        breaker.record(true, 5_100);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow(5_101));
        // The window was cleared: one failure does not reopen it.
        breaker.record(false, 5_200);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_for_another_period() {
        let breaker = breaker();
        fail_half_of(&breaker, 20, 0);
        assert!(breaker.allow(6_000));
        breaker.record(false, 6_500);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow(11_499));
        assert!(breaker.allow(11_500));
    }

    #[test]
    fn a_lost_probe_is_replaced_after_open_ms() {
        let breaker = breaker();
        fail_half_of(&breaker, 20, 0);
        assert!(breaker.allow(5_000));
        assert!(!breaker.allow(9_999));
        assert!(breaker.allow(10_000), "the first probe never reported back");
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn concurrent_callers_get_one_probe() {
        let breaker = breaker();
        fail_half_of(&breaker, 20, 0);
        let probes = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        if breaker.allow(7_000) {
                            probes.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(probes.load(Ordering::Relaxed), 1);
    }
}
