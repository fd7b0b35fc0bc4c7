//! Sans-IO health and resilience state: health checks, outlier ejection, slow start, retry budget,
//! circuit breaker, rate limiting. The engine feeds events in and asks for decisions.
//!
//! Time is always passed in as `now_ms: u64`, milliseconds on one monotonic clock of the
//! engine's choosing (say, since it started), so tests drive time explicitly. The types that
//! worker threads share (`OutlierDetector`, `RetryBudget`, `CircuitBreaker`, `RateLimiter`) work
//! through `&self`; `HealthState` belongs to the one health checker of a backend.
//!
//! Shapes chosen within lb-config.md's outline: `OutlierDetector` is one object per pool whose
//! methods take the backend index (so it can count ejections against max_ejected_percent);
//! `HealthState::changed_at_ms` and `OutlierDetector::ejected_until_ms` give the recovery time
//! that `SlowStart::effective_weight` ramps from.

mod circuit_breaker;
mod health;
mod outlier;
mod rate_limit;
mod retry_budget;
mod slow_start;
mod window;

pub use circuit_breaker::{BreakerState, CircuitBreaker, CircuitBreakerConfig};
pub use health::{HealthState, Transition};
pub use outlier::{OutlierConfig, OutlierDetector, RequestOutcome};
pub use rate_limit::{RateLimiter, TokenBucket};
pub use retry_budget::{RetryBudget, RetryBudgetConfig};
pub use slow_start::SlowStart;
