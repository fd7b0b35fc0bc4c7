//! Active health checks: one thread with blocking sockets and timeouts probes every backend of
//! every pool that has a `health_check`, feeds the rise/fall state machine and publishes the
//! result in the backend's `up` flag. It also drives slow start for recovered backends.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::HealthCheckConfig;
use crate::engine::Shared;
use crate::resilience::{HealthState, Transition};
use crate::runtime::BackendState;

const TICK: Duration = Duration::from_millis(20);
/// How often to look for newly configured checks when none are configured (fewer wake-ups on
/// the proxy's core).
const IDLE_TICK: Duration = Duration::from_millis(100);

struct Tracked {
    state: HealthState,
    next_check: Instant,
    /// When the backend last came up, for slow start.
    recovered_at_ms: Option<u64>,
}

/// Runs until the engine stops.
pub fn run(shared: Arc<Shared>) {
    let mut tracked: HashMap<usize, Tracked> = HashMap::new();
    while !shared.stopping.load(Ordering::Acquire) {
        let runtime = shared.runtime.load_full();
        let now = Instant::now();
        let now_ms = shared.registry.millis(now);
        for pool in &runtime.pools {
            for (index, backend) in pool.backends.iter().enumerate() {
                let Some(check) = &pool.health_check else {
                    // Checks were removed from the configuration: the backend counts as up.
                    if tracked.remove(&backend.uid).is_some() {
                        backend.up.store(true, Ordering::Relaxed);
                    }
                    continue;
                };
                let entry = tracked.entry(backend.uid).or_insert_with(|| Tracked {
                    state: HealthState::new(check.rise, check.fall, true, now_ms),
                    next_check: now,
                    recovered_at_ms: None,
                });
                if entry.next_check <= now {
                    entry.next_check = now + Duration::from_millis(check.interval_ms.max(10));
                    let ok = probe(backend, check);
                    let now_ms = shared.registry.millis(Instant::now());
                    match entry.state.record_check(ok, now_ms) {
                        Some(Transition::Up) => entry.recovered_at_ms = Some(now_ms),
                        Some(Transition::Down) => entry.recovered_at_ms = None,
                        None => {}
                    }
                    backend.up.store(entry.state.is_up(), Ordering::Relaxed);
                }
                if let Some(since) = entry.recovered_at_ms {
                    let weight =
                        pool.slow_start
                            .effective_weight(pool.weights[index], since, now_ms);
                    pool.balancer.set_weight(index, weight);
                    if !pool.slow_start.is_ramping(since, now_ms) {
                        entry.recovered_at_ms = None;
                    }
                }
            }
        }
        let checking = runtime.pools.iter().any(|p| p.health_check.is_some());
        std::thread::sleep(if checking { TICK } else { IDLE_TICK });
    }
}

/// One HTTP check: GET `path`, pass when the status is in an expected range.
fn probe(backend: &BackendState, check: &HealthCheckConfig) -> bool {
    let timeout = Duration::from_millis(check.timeout_ms.max(1));
    let Ok(mut stream) = TcpStream::connect_timeout(&backend.address, timeout) else {
        return false;
    };
    if stream.set_read_timeout(Some(timeout)).is_err()
        || stream.set_write_timeout(Some(timeout)).is_err()
    {
        return false;
    }
    let host = check
        .host
        .clone()
        .unwrap_or_else(|| backend.address.to_string());
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: thecloud-lb-health\r\nConnection: close\r\n\r\n",
        check.path
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    if stream.read_exact(&mut head).is_err() || !head.starts_with(b"HTTP/1.") {
        return false;
    }
    let Some(status) = std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
    else {
        return false;
    };
    check
        .expected_status
        .iter()
        .any(|&(low, high)| (low..=high).contains(&status))
}
