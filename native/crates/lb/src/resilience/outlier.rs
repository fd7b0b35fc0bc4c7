//! Passive outlier detection: a backend that answers `consecutive_5xx` server errors, or fails
//! `consecutive_connect_failures` connection attempts, in a row is ejected for `ejection_ms`.
//! A backend ejected again within one ejection period of coming back is ejected for twice as
//! long as the previous time (up to 8x), so a flapping backend is tried less and less often.
//! At most `max_ejected_percent` of the pool is ejected at once: when most backends fail the
//! fault is more likely upstream of them, and ejecting them all would only add an outage.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

/// Ejections in quick succession double the period up to `ejection_ms << MAX_DOUBLINGS`.
const MAX_DOUBLINGS: u32 = 3;

/// Outlier detection settings of a pool (the contract's `outlier` object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Server errors (5xx) in a row that eject a backend; 0 disables this trigger.
    pub consecutive_5xx: u32,
    /// Failed connection attempts in a row that eject a backend; 0 disables this trigger.
    pub consecutive_connect_failures: u32,
    /// Base ejection period.
    pub ejection_ms: u64,
    /// Largest share of the pool ejected at once, in percent.
    pub max_ejected_percent: u32,
}

/// What became of one request to a backend, as far as outlier detection cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A response below 500 (client errors are the client's fault, not the backend's).
    Success,
    /// A 5xx response.
    ServerError,
    /// The connection could not be established (refused, reset, timed out).
    ConnectFailure,
}

#[derive(Default)]
struct BackendRecord {
    server_errors: AtomicU32,
    connect_failures: AtomicU32,
    ejected_until_ms: AtomicU64,
    /// Length of the last ejection, for the doubling rule.
    last_ejection_ms: AtomicU64,
}

/// Consecutive-failure ejection across one pool, shared by the worker threads.
pub struct OutlierDetector {
    config: OutlierConfig,
    backends: Box<[BackendRecord]>,
    /// Serialises ejections so two threads cannot both pass the max_ejected_percent check.
    ejecting: Mutex<()>,
}

impl OutlierDetector {
    /// A detector for a pool of `backends` backends.
    pub fn new(config: OutlierConfig, backends: usize) -> Self {
        OutlierDetector {
            config,
            backends: (0..backends).map(|_| BackendRecord::default()).collect(),
            ejecting: Mutex::new(()),
        }
    }

    /// Records the outcome of a request to `backend`; returns true if it got the backend
    /// ejected. Outcomes arriving while the backend is ejected (requests sent before) are
    /// ignored.
    pub fn record_result(&self, backend: usize, outcome: RequestOutcome, now_ms: u64) -> bool {
        let Some(record) = self.backends.get(backend) else {
            return false;
        };
        if self.is_ejected(backend, now_ms) {
            return false;
        }
        let (streak, threshold) = match outcome {
            RequestOutcome::Success => {
                record.server_errors.store(0, Ordering::Relaxed);
                record.connect_failures.store(0, Ordering::Relaxed);
                return false;
            }
            RequestOutcome::ServerError => {
                // A response proves the backend accepts connections.
                record.connect_failures.store(0, Ordering::Relaxed);
                let streak = record.server_errors.fetch_add(1, Ordering::Relaxed) + 1;
                (streak, self.config.consecutive_5xx)
            }
            RequestOutcome::ConnectFailure => {
                let streak = record.connect_failures.fetch_add(1, Ordering::Relaxed) + 1;
                (streak, self.config.consecutive_connect_failures)
            }
        };
        threshold != 0 && streak >= threshold && self.try_eject(backend, now_ms)
    }

    fn try_eject(&self, backend: usize, now_ms: u64) -> bool {
        let _guard = self
            .ejecting
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if self.is_ejected(backend, now_ms) {
            return false; // another thread got there first
        }
        let ejected = (0..self.backends.len())
            .filter(|&i| self.is_ejected(i, now_ms))
            .count();
        let limit = self.backends.len() as u64 * u64::from(self.config.max_ejected_percent);
        if (ejected as u64 + 1) * 100 > limit {
            return false;
        }
        let record = &self.backends[backend];
        let previous_until = record.ejected_until_ms.load(Ordering::Relaxed);
        let previous_length = record.last_ejection_ms.load(Ordering::Relaxed);
        let base = self.config.ejection_ms;
        let length = if previous_until != 0 && now_ms < previous_until + previous_length {
            (previous_length * 2).min(base << MAX_DOUBLINGS).max(base)
        } else {
            base
        };
        record.last_ejection_ms.store(length, Ordering::Relaxed);
        record
            .ejected_until_ms
            .store(now_ms.saturating_add(length).max(1), Ordering::Relaxed);
        record.server_errors.store(0, Ordering::Relaxed);
        record.connect_failures.store(0, Ordering::Relaxed);
        true
    }

    /// Whether `backend` is ejected at `now_ms`.
    pub fn is_ejected(&self, backend: usize, now_ms: u64) -> bool {
        self.backends
            .get(backend)
            .is_some_and(|r| now_ms < r.ejected_until_ms.load(Ordering::Relaxed))
    }

    /// When `backend`'s latest ejection ends or ended (0 if it never was ejected); slow start
    /// ramps from this moment.
    pub fn ejected_until_ms(&self, backend: usize) -> u64 {
        self.backends
            .get(backend)
            .map_or(0, |r| r.ejected_until_ms.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestOutcome::{ConnectFailure, ServerError, Success};

    fn config(max_ejected_percent: u32) -> OutlierConfig {
        OutlierConfig {
            consecutive_5xx: 5,
            consecutive_connect_failures: 3,
            ejection_ms: 30_000,
            max_ejected_percent,
        }
    }

    #[test]
    fn five_server_errors_in_a_row_eject_for_the_ejection_time() {
        let detector = OutlierDetector::new(config(50), 4);
        for t in 0..4 {
            assert!(!detector.record_result(1, ServerError, t));
        }
        assert!(detector.record_result(1, ServerError, 10));
        assert!(detector.is_ejected(1, 10));
        assert!(detector.is_ejected(1, 30_009));
        assert!(
            !detector.is_ejected(1, 30_010),
            "back exactly after ejection_ms"
        );
        assert_eq!(detector.ejected_until_ms(1), 30_010);
        assert!(!detector.is_ejected(0, 10));
    }

    #[test]
    fn a_success_breaks_the_streak() {
        let detector = OutlierDetector::new(config(50), 2);
        for _ in 0..4 {
            detector.record_result(0, ServerError, 1);
        }
        detector.record_result(0, Success, 2);
        for _ in 0..4 {
            assert!(!detector.record_result(0, ServerError, 3));
        }
        assert!(!detector.is_ejected(0, 3));
    }

    #[test]
    fn connect_failures_eject_after_their_own_threshold() {
        let detector = OutlierDetector::new(config(50), 2);
        assert!(!detector.record_result(0, ConnectFailure, 0));
        assert!(!detector.record_result(0, ConnectFailure, 0));
        // A 5xx in between shows the backend accepts connections: the streak starts over.
        assert!(!detector.record_result(0, ServerError, 0));
        assert!(!detector.record_result(0, ConnectFailure, 0));
        assert!(!detector.record_result(0, ConnectFailure, 0));
        assert!(detector.record_result(0, ConnectFailure, 0));
    }

    #[test]
    fn results_during_an_ejection_are_ignored_and_the_count_restarts_after() {
        let detector = OutlierDetector::new(config(100), 1);
        for _ in 0..3 {
            detector.record_result(0, ConnectFailure, 0);
        }
        assert!(detector.is_ejected(0, 1));
        for _ in 0..10 {
            assert!(!detector.record_result(0, ServerError, 100));
        }
        for _ in 0..2 {
            assert!(!detector.record_result(0, ConnectFailure, 100_000));
        }
        assert!(!detector.is_ejected(0, 100_000));
    }

    #[test]
    fn quick_reejection_doubles_the_period_up_to_eight_times() {
        let detector = OutlierDetector::new(config(100), 1);
        let eject = |now| {
            for _ in 0..3 {
                detector.record_result(0, ConnectFailure, now);
            }
            assert!(detector.is_ejected(0, now));
            detector.ejected_until_ms(0) - now
        };
        assert_eq!(eject(0), 30_000);
        assert_eq!(eject(30_000), 60_000); // right after coming back
        assert_eq!(eject(90_000), 120_000);
        assert_eq!(eject(210_000), 240_000);
        assert_eq!(eject(450_000), 240_000, "capped at 8x");
        // Healthy for longer than the last ejection: back to the base period.
        assert_eq!(eject(690_000 + 240_000), 30_000);
    }

    #[test]
    fn max_ejected_percent_is_never_exceeded() {
        let detector = OutlierDetector::new(config(50), 5);
        let mut ejected = 0;
        for backend in 0..5 {
            for _ in 0..5 {
                if detector.record_result(backend, ServerError, 100) {
                    ejected += 1;
                }
            }
        }
        assert_eq!(ejected, 2, "50% of 5 backends is 2");
        assert_eq!((0..5).filter(|&b| detector.is_ejected(b, 100)).count(), 2);
        // Once the first ejections expire, the still failing backends can go.
        assert!(detector.record_result(2, ServerError, 30_100));
        let single = OutlierDetector::new(config(50), 1);
        for _ in 0..10 {
            assert!(
                !single.record_result(0, ServerError, 0),
                "half of one backend is none"
            );
        }
    }

    #[test]
    fn disabled_triggers_never_eject() {
        let detector = OutlierDetector::new(
            OutlierConfig {
                consecutive_5xx: 0,
                consecutive_connect_failures: 0,
                ..config(100)
            },
            1,
        );
        for _ in 0..100 {
            assert!(!detector.record_result(0, ServerError, 0));
            assert!(!detector.record_result(0, ConnectFailure, 0));
        }
        assert!(
            !detector.record_result(7, ServerError, 0),
            "unknown backend ignored"
        );
    }

    #[test]
    fn concurrent_failures_eject_once() {
        let detector = OutlierDetector::new(config(100), 2);
        let ejections = AtomicU32::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        if detector.record_result(0, ServerError, 5) {
                            ejections.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(ejections.load(Ordering::Relaxed), 1);
    }
}
