//! The engine's configuration: the JSON document `LoadBalancerConfig.to_native()` produces
//! (see the configuration contract), deserialised strictly and cross-checked.

use std::collections::HashSet;
use std::net::SocketAddr;

use serde::Deserialize;

use crate::error::LbError;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub workers: usize,
    pub listeners: Vec<ListenerConfig>,
    pub pools: Vec<PoolConfig>,
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub forwarding: Forwarding,
    pub access_log: AccessLog,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub name: String,
    pub bind: String,
    pub tls: Option<TlsConfig>,
    pub default_pool: Option<String>,
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub certificates: Vec<CertificateConfig>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    pub cert_file: String,
    pub key_file: String,
    pub server_names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub name: String,
    pub host: Option<String>,
    pub path: Option<PathMatch>,
    pub pool: String,
    pub request_headers: HeaderRules,
    pub response_headers: HeaderRules,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathMatch {
    pub kind: PathKind,
    pub value: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    Exact,
    Prefix,
    Regex,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRules {
    pub add: Vec<(String, String)>,
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    pub backends: Vec<BackendConfig>,
    pub algorithm: AlgorithmConfig,
    pub health_check: Option<HealthCheckConfig>,
    pub outlier: Option<OutlierConfig>,
    pub slow_start_ms: u64,
    pub max_connections_per_backend: u32,
    pub max_idle_per_backend: u32,
    pub idle_timeout_ms: u64,
    pub retries: RetryConfig,
    pub circuit_breaker: Option<CircuitBreakerConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub address: String,
    pub weight: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlgorithmConfig {
    pub kind: AlgorithmName,
    pub hash_on: Option<HashOn>,
    pub key: Option<String>,
    pub cookie: Option<StickyCookieConfig>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmName {
    RoundRobin,
    WeightedRoundRobin,
    LeastConnections,
    PowerOfTwo,
    ConsistentHash,
    StickyCookie,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HashOn {
    ClientIp,
    Header,
    Cookie,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickyCookieConfig {
    pub name: String,
    pub ttl_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub rise: u32,
    pub fall: u32,
    pub expected_status: Vec<(u16, u16)>,
    pub host: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierConfig {
    pub consecutive_5xx: u32,
    pub consecutive_connect_failures: u32,
    pub ejection_ms: u64,
    pub max_ejected_percent: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    pub attempts: u32,
    pub budget_percent: u32,
    pub min_per_second: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    pub failure_ratio: f64,
    pub min_requests: u32,
    pub window_ms: u64,
    pub open_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    pub connect_ms: u64,
    pub request_headers_ms: u64,
    pub idle_ms: u64,
    pub total_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_connections: u32,
    pub max_header_bytes: u32,
    pub max_headers: u32,
    pub rate_limit: Option<RateLimitConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub requests_per_second: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forwarding {
    pub x_forwarded_for: bool,
    pub x_forwarded_proto: bool,
    pub forwarded: bool,
    pub request_id_header: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLog {
    pub enabled: bool,
    pub path: Option<String>,
}

/// Parses a listener or backend address ("ip:port", "[v6]:port").
pub fn parse_address(field: &str, value: &str) -> Result<SocketAddr, LbError> {
    value
        .parse()
        .map_err(|_| LbError::invalid(format!("{field}: {value:?} is not an ip:port address")))
}

fn is_header_name(name: &str) -> bool {
    crate::http::is_header_name(name.as_bytes())
}

/// Headers that frame the message or belong to one connection: a rule or the request id
/// rewriting them could desynchronise proxy and backend (request smuggling). The same list as
/// `_RESERVED_HEADERS` in dataplane/thecloud/dataplane/lb/validation.py.
const RESERVED_HEADERS: [&str; 9] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// A valid header name that may be rewritten.
fn check_rewritable_name(field: &str, name: &str) -> Result<(), LbError> {
    if !is_header_name(name) {
        return Err(LbError::invalid(format!(
            "{field}: {name:?} is not a valid header name"
        )));
    }
    if RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err(LbError::invalid(format!(
            "{field}: {name:?} frames the message or belongs to one connection; \
             it may not be added, set or removed"
        )));
    }
    Ok(())
}

/// The health check's request line and Host field are written verbatim: no spaces or
/// controls that would split or smuggle the probe request.
fn check_health_check(field: &str, check: &HealthCheckConfig) -> Result<(), LbError> {
    let visible = |s: &str| !s.is_empty() && s.bytes().all(crate::http::is_target_byte);
    if !check.path.starts_with('/') || !visible(&check.path) {
        return Err(LbError::invalid(format!(
            "{field}.path: {:?} must start with '/' and contain only visible ASCII",
            check.path
        )));
    }
    if let Some(host) = &check.host {
        if !visible(host) {
            return Err(LbError::invalid(format!(
                "{field}.host: {host:?} must be non-empty visible ASCII"
            )));
        }
    }
    Ok(())
}

fn check_rules(field: &str, rules: &HeaderRules) -> Result<(), LbError> {
    let names = rules
        .add
        .iter()
        .chain(&rules.set)
        .map(|(n, _)| n)
        .chain(&rules.remove);
    for name in names {
        check_rewritable_name(field, name)?;
    }
    for (name, value) in rules.add.iter().chain(&rules.set) {
        if !crate::http::is_header_value(value.as_bytes()) {
            return Err(LbError::invalid(format!(
                "{field}: value of {name:?} contains a control character"
            )));
        }
    }
    Ok(())
}

impl Config {
    /// Parses and cross-checks the JSON document.
    pub fn from_json(json: &str) -> Result<Self, LbError> {
        let config: Self = serde_json::from_str(json)
            .map_err(|e| LbError::invalid(format!("load balancer configuration: {e}")))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), LbError> {
        if self.workers == 0 || self.workers > 256 {
            return Err(LbError::invalid("workers: must be between 1 and 256"));
        }
        if self.limits.max_header_bytes < 256 || self.limits.max_header_bytes > 1 << 20 {
            return Err(LbError::invalid(
                "limits.max_header_bytes: must be between 256 and 1048576",
            ));
        }
        if self.limits.max_headers == 0 {
            return Err(LbError::invalid("limits.max_headers: must be at least 1"));
        }
        if self.access_log.enabled && self.access_log.path.is_none() {
            return Err(LbError::invalid(
                "access_log.path: required when access_log.enabled is true",
            ));
        }
        if let Some(name) = &self.forwarding.request_id_header {
            check_rewritable_name("forwarding.request_id_header", name)?;
        }
        let mut pool_names = HashSet::new();
        for (i, pool) in self.pools.iter().enumerate() {
            if !pool_names.insert(pool.name.as_str()) {
                return Err(LbError::invalid(format!(
                    "pools[{i}].name: duplicate pool {:?}",
                    pool.name
                )));
            }
            if let Some(check) = &pool.health_check {
                check_health_check(&format!("pools[{i}].health_check"), check)?;
            }
            for (j, backend) in pool.backends.iter().enumerate() {
                parse_address(
                    &format!("pools[{i}].backends[{j}].address"),
                    &backend.address,
                )?;
                if backend.weight == 0 || backend.weight > 1000 {
                    return Err(LbError::invalid(format!(
                        "pools[{i}].backends[{j}].weight: must be between 1 and 1000"
                    )));
                }
            }
        }
        let mut listener_names = HashSet::new();
        for (i, listener) in self.listeners.iter().enumerate() {
            if !listener_names.insert(listener.name.as_str()) {
                return Err(LbError::invalid(format!(
                    "listeners[{i}].name: duplicate listener {:?}",
                    listener.name
                )));
            }
            parse_address(&format!("listeners[{i}].bind"), &listener.bind)?;
            if let Some(pool) = &listener.default_pool {
                if !pool_names.contains(pool.as_str()) {
                    return Err(LbError::invalid(format!(
                        "listeners[{i}].default_pool: unknown pool {pool:?}"
                    )));
                }
            }
            for (j, route) in listener.routes.iter().enumerate() {
                let field = format!("listeners[{i}].routes[{j}]");
                if !pool_names.contains(route.pool.as_str()) {
                    return Err(LbError::invalid(format!(
                        "{field}.pool: unknown pool {:?}",
                        route.pool
                    )));
                }
                check_rules(&format!("{field}.request_headers"), &route.request_headers)?;
                check_rules(
                    &format!("{field}.response_headers"),
                    &route.response_headers,
                )?;
            }
        }
        Ok(())
    }
}
