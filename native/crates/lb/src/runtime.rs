//! The compiled configuration the workers read: routers, pools with their balancers, limits.
//! One `Runtime` per configuration generation, shared through an `Arc`; a request keeps the
//! generation it started on, so `update()` never disturbs in-flight work.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::access_log::AccessLog;
use crate::affinity::Affinity;
use crate::balance::{self, AlgorithmKind, BackendSpec, Balancer, StickyIdentities};
use crate::config::{parse_address, AlgorithmName, Config, HealthCheckConfig, PoolConfig};
use crate::error::LbError;
use crate::metrics::{BackendMetrics, Families};
use crate::resilience::{
    CircuitBreaker, CircuitBreakerConfig, OutlierConfig, OutlierDetector, RateLimiter, RetryBudget,
    RetryBudgetConfig, SlowStart,
};
use crate::router::RouteCounters;
use crate::router::Router;

/// A backend's live state and counters; survives configuration updates (same pool, address).
pub struct BackendState {
    /// Process-unique id: workers index their idle-connection lists by it.
    pub uid: usize,
    pub address: SocketAddr,
    pub up: AtomicBool,
    pub active: AtomicU32,
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    /// Series in the metrics registry, when the engine reports into one.
    pub metrics: Option<BackendMetrics>,
}

/// State that outlives configuration generations: backend and route counters, and the
/// clock origin of the millisecond times the resilience state machines use.
pub struct Registry {
    pub epoch: Instant,
    /// Keys sticky-session cookies so clients cannot forge them.
    pub sticky_secret: u64,
    /// Seeds the balancers' hashes and random choices.
    pub hash_seed: u64,
    backends: Mutex<HashMap<(String, SocketAddr), Arc<BackendState>>>,
    routes: Mutex<HashMap<String, Arc<AtomicU64>>>,
    next_uid: AtomicU32,
    pub metrics: Option<Families>,
    /// Per pool name: its guards and the settings they were built for.
    guards: Mutex<HashMap<String, (String, Arc<PoolGuards>)>>,
    /// The per-client rate limiter and its settings (kept across updates that keep them).
    rate_limiter: Mutex<Option<(String, Arc<RateLimiter>)>>,
}

/// A pool's failure-driven state. An update that keeps the pool's backends and these settings
/// keeps the state too, so ejections, an open breaker and the retry budget survive it.
pub struct PoolGuards {
    pub outlier: Option<OutlierDetector>,
    pub breaker: Option<CircuitBreaker>,
    pub retry_budget: RetryBudget,
}

impl PoolGuards {
    fn new(pool: &PoolConfig) -> Self {
        Self {
            retry_budget: RetryBudget::new(RetryBudgetConfig {
                budget_percent: pool.retries.budget_percent,
                min_per_second: pool.retries.min_per_second,
            }),
            outlier: pool.outlier.as_ref().map(|o| {
                OutlierDetector::new(
                    OutlierConfig {
                        consecutive_5xx: o.consecutive_5xx,
                        consecutive_connect_failures: o.consecutive_connect_failures,
                        ejection_ms: o.ejection_ms,
                        max_ejected_percent: o.max_ejected_percent,
                    },
                    pool.backends.len(),
                )
            }),
            breaker: pool.circuit_breaker.as_ref().map(|c| {
                CircuitBreaker::new(CircuitBreakerConfig {
                    failure_ratio: c.failure_ratio,
                    min_requests: c.min_requests,
                    window_ms: c.window_ms,
                    open_ms: c.open_ms,
                })
            }),
        }
    }
}

impl Registry {
    /// A registry reporting into `metrics` (when given).
    pub fn new(metrics: Option<Families>) -> Self {
        Self {
            epoch: Instant::now(),
            // Keys the sticky cookie's MAC: must be unpredictable, unlike the hash seed.
            sticky_secret: crate::sys::random_key(),
            hash_seed: random_seed() ^ 0x9e37_79b9_7f4a_7c15,
            backends: Mutex::default(),
            routes: Mutex::default(),
            next_uid: AtomicU32::new(0),
            metrics,
            guards: Mutex::default(),
            rate_limiter: Mutex::default(),
        }
    }
}

impl Registry {
    /// Milliseconds since the engine started, at `now`.
    pub fn millis(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    fn backend(&self, pool: &str, address: SocketAddr) -> Result<Arc<BackendState>, LbError> {
        let mut map = self.backends.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = map.get(&(pool.to_owned(), address)) {
            return Ok(Arc::clone(existing));
        }
        let metrics = match &self.metrics {
            Some(families) => Some(families.backend(pool, &address.to_string())?),
            None => None,
        };
        let state = Arc::clone(map.entry((pool.to_owned(), address)).or_insert_with(|| {
            Arc::new(BackendState {
                uid: self.next_uid.fetch_add(1, Ordering::Relaxed) as usize,
                address,
                up: AtomicBool::new(true),
                active: AtomicU32::new(0),
                requests: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                metrics,
            })
        }));
        Ok(state)
    }

    /// The guards of `pool`: the existing ones when its backends and settings are unchanged.
    fn guards(&self, pool: &PoolConfig) -> Arc<PoolGuards> {
        let addresses: Vec<&str> = pool.backends.iter().map(|b| b.address.as_str()).collect();
        let signature = format!(
            "{addresses:?}{:?}{:?}{:?}",
            pool.outlier, pool.circuit_breaker, pool.retries
        );
        let mut map = self.guards.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&pool.name) {
            Some((seen, guards)) if *seen == signature => Arc::clone(guards),
            _ => {
                let guards = Arc::new(PoolGuards::new(pool));
                map.insert(pool.name.clone(), (signature, Arc::clone(&guards)));
                guards
            }
        }
    }

    /// The rate limiter of `config`: the existing one when its settings are unchanged.
    fn rate_limiter(&self, config: &Config) -> Option<Arc<RateLimiter>> {
        let limit = config.limits.rate_limit.as_ref()?;
        // One table slot per allowed connection bounds memory and covers every client that
        // can be connected at once.
        let capacity = (config.limits.max_connections as usize).clamp(1024, 1 << 20);
        let signature = format!("{limit:?}{capacity}");
        let mut current = self.rate_limiter.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some((seen, limiter)) if *seen == signature => Some(Arc::clone(limiter)),
            _ => {
                let limiter = Arc::new(RateLimiter::new(
                    limit.requests_per_second,
                    limit.burst,
                    capacity,
                    self.hash_seed ^ 0x5bd1_e995,
                ));
                *current = Some((signature, Arc::clone(&limiter)));
                Some(limiter)
            }
        }
    }

    fn route(&self, name: &str) -> Result<RouteCounters, LbError> {
        let mut map = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let requests = Arc::clone(map.entry(name.to_owned()).or_default());
        let metric = match &self.metrics {
            Some(families) => Some(families.route(name)?),
            None => None,
        };
        Ok(RouteCounters { requests, metric })
    }
}

/// A seed from the clock, the process id and a stack address (no extra dependency needed;
/// it keys hashes, it is not a cryptographic secret on its own).
pub fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    let mut x = nanos ^ u64::from(std::process::id()) << 32 ^ (&local as *const u8 as u64);
    // splitmix64 finaliser: spreads the input bits over the whole word.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A pool ready for picking.
pub struct Pool {
    pub name: String,
    pub backends: Vec<Arc<BackendState>>,
    pub balancer: Box<dyn Balancer>,
    pub max_connections_per_backend: u32,
    pub max_idle_per_backend: usize,
    pub idle_timeout: Duration,
    /// Extra attempts for idempotent requests.
    pub retries: u32,
    /// Outlier detection, circuit breaker and retry budget (kept across updates).
    pub guards: Arc<PoolGuards>,
    pub health_check: Option<HealthCheckConfig>,
    /// Configured weights (slow start ramps the balancer's effective weights up to these).
    pub weights: Vec<u32>,
    pub slow_start: SlowStart,
    pub affinity: Affinity,
    /// The backends' stable identities, named by sticky cookies.
    pub sticky_identities: StickyIdentities,
}

impl Pool {
    /// True when the backend may take a new request at `now_ms`: up, not ejected, under its
    /// connection limit.
    pub fn eligible(&self, index: usize, now_ms: u64) -> bool {
        let backend = &self.backends[index];
        backend.up.load(Ordering::Relaxed)
            && !self
                .guards
                .outlier
                .as_ref()
                .is_some_and(|o| o.is_ejected(index, now_ms))
            && (self.max_connections_per_backend == 0
                || backend.active.load(Ordering::Relaxed) < self.max_connections_per_backend)
    }
}

/// One listener's compiled routing.
pub struct ListenerRuntime {
    pub name: String,
    pub router: Router,
    /// TLS termination settings (certificates loaded when this runtime was built).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// The forwarding headers to add.
pub struct Forwarding {
    pub x_forwarded_for: bool,
    pub x_forwarded_proto: bool,
    pub forwarded: bool,
    pub request_id_header: Option<Vec<u8>>,
}

/// Optional timeout: None when configured as 0.
fn optional(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// One configuration generation, compiled.
pub struct Runtime {
    pub generation: u64,
    pub listeners: Vec<ListenerRuntime>,
    pub pools: Vec<Pool>,
    pub forwarding: Forwarding,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_connections: u64,
    pub connect_timeout: Option<Duration>,
    pub header_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub total_timeout: Option<Duration>,
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// Set by the engine after building (opening the file is a side effect validation skips).
    pub access_log: Option<AccessLog>,
}

fn algorithm(name: AlgorithmName) -> AlgorithmKind {
    match name {
        AlgorithmName::RoundRobin => AlgorithmKind::RoundRobin,
        AlgorithmName::WeightedRoundRobin => AlgorithmKind::WeightedRoundRobin,
        AlgorithmName::LeastConnections => AlgorithmKind::LeastConnections,
        AlgorithmName::PowerOfTwo => AlgorithmKind::PowerOfTwo,
        AlgorithmName::ConsistentHash => AlgorithmKind::ConsistentHash,
        AlgorithmName::StickyCookie => AlgorithmKind::StickyCookie,
    }
}

impl Runtime {
    /// Compiles a checked configuration.
    pub fn build(config: &Config, generation: u64, registry: &Registry) -> Result<Self, LbError> {
        let mut pools = Vec::with_capacity(config.pools.len());
        for (i, pool) in config.pools.iter().enumerate() {
            let mut backends = Vec::with_capacity(pool.backends.len());
            let mut specs = Vec::with_capacity(pool.backends.len());
            for (j, b) in pool.backends.iter().enumerate() {
                let address =
                    parse_address(&format!("pools[{i}].backends[{j}].address"), &b.address)?;
                backends.push(registry.backend(&pool.name, address)?);
                specs.push(BackendSpec { weight: b.weight });
            }
            let identities: Vec<&[u8]> =
                pool.backends.iter().map(|b| b.address.as_bytes()).collect();
            // The parsed address, so two spellings of one backend share an identity.
            let canonical: Vec<String> = backends.iter().map(|b| b.address.to_string()).collect();
            let sticky_identities = StickyIdentities::new(&canonical, registry.sticky_secret);
            let balancer = balance::build_keyed(
                algorithm(pool.algorithm.kind),
                &specs,
                &identities,
                // Stable across generations: consistent hashing must map keys the same way
                // after an update that leaves a backend in place.
                registry.hash_seed,
            );
            pools.push(Pool {
                name: pool.name.clone(),
                backends,
                balancer,
                max_connections_per_backend: pool.max_connections_per_backend,
                max_idle_per_backend: pool.max_idle_per_backend as usize,
                idle_timeout: Duration::from_millis(pool.idle_timeout_ms),
                retries: pool.retries.attempts,
                guards: registry.guards(pool),
                health_check: pool.health_check.clone(),
                weights: pool.backends.iter().map(|b| b.weight).collect(),
                slow_start: SlowStart::new(pool.slow_start_ms),
                affinity: Affinity::from_config(&pool.algorithm),
                sticky_identities,
            });
        }
        let pool_index = |name: &str| pools.iter().position(|p| p.name == name);
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for (i, listener) in config.listeners.iter().enumerate() {
            let tls = match &listener.tls {
                Some(tls) => Some(crate::tls::server_config(
                    &format!("listeners[{i}].tls"),
                    tls,
                )?),
                None => None,
            };
            let default_pool = match &listener.default_pool {
                Some(name) => Some(pool_index(name).ok_or_else(|| {
                    LbError::invalid(format!(
                        "listeners[{i}].default_pool: unknown pool {name:?}"
                    ))
                })?),
                None => None,
            };
            let router =
                Router::compile(i, &listener.routes, default_pool, pool_index, &mut |name| {
                    registry.route(name)
                })?;
            listeners.push(ListenerRuntime {
                name: listener.name.clone(),
                router,
                tls,
            });
        }
        let forwarding = Forwarding {
            x_forwarded_for: config.forwarding.x_forwarded_for,
            x_forwarded_proto: config.forwarding.x_forwarded_proto,
            forwarded: config.forwarding.forwarded,
            request_id_header: config
                .forwarding
                .request_id_header
                .as_ref()
                .map(|h| h.to_ascii_lowercase().into_bytes()),
        };
        Ok(Self {
            generation,
            max_header_bytes: config.limits.max_header_bytes as usize,
            max_headers: config.limits.max_headers as usize,
            max_connections: u64::from(config.limits.max_connections),
            connect_timeout: optional(config.timeouts.connect_ms),
            header_timeout: optional(config.timeouts.request_headers_ms),
            idle_timeout: optional(config.timeouts.idle_ms),
            total_timeout: optional(config.timeouts.total_ms),
            access_log: None,
            rate_limiter: registry.rate_limiter(config),
            forwarding,
            listeners,
            pools,
        })
    }

    /// The listener runtime with this name.
    pub fn listener(&self, name: &str) -> Option<usize> {
        self.listeners.iter().position(|l| l.name == name)
    }
}
