//! Active health checks: one thread with blocking sockets and timeouts probes every backend of
//! every pool that has a `health_check`, feeds the rise/fall state machine and publishes the
//! result in the backend's `up` flag. It also drives slow start for recovered backends.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
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
                    if shared.stopping.load(Ordering::Acquire) {
                        // stop() waits for this thread: no new probe once it asked.
                        return;
                    }
                    entry.next_check = now + Duration::from_millis(check.interval_ms.max(10));
                    let Some(ok) = probe(backend, check, &shared.stopping) else {
                        return;
                    };
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

/// Longest a probe blocks before looking at the stop flag again.
const PROBE_SLICE: Duration = Duration::from_millis(50);

/// One HTTP check: GET `path`, pass when the status is in an expected range. The whole probe
/// (connect, send, status line) has one deadline of `timeout_ms`. None when the engine stops
/// meanwhile.
fn probe(backend: &BackendState, check: &HealthCheckConfig, stopping: &AtomicBool) -> Option<bool> {
    let timeout = Duration::from_millis(check.timeout_ms.max(1));
    let deadline = Instant::now() + timeout;
    let Ok(mut stream) = TcpStream::connect_timeout(&backend.address, timeout) else {
        return Some(false);
    };
    let host = check
        .host
        .clone()
        .unwrap_or_else(|| backend.address.to_string());
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: thecloud-lb-health\r\nConnection: close\r\n\r\n",
        check.path
    );
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero()
        || stream.set_write_timeout(Some(remaining)).is_err()
        || stream.write_all(request.as_bytes()).is_err()
    {
        return Some(false);
    }
    let mut head = [0u8; 12];
    let mut got = 0;
    while got < head.len() {
        if stopping.load(Ordering::Acquire) {
            return None;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero()
            || stream
                .set_read_timeout(Some(remaining.min(PROBE_SLICE)))
                .is_err()
        {
            return Some(false);
        }
        match stream.read(&mut head[got..]) {
            Ok(0) => return Some(false),
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Some(false),
        }
    }
    if !head.starts_with(b"HTTP/1.") {
        return Some(false);
    }
    let Some(status) = std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
    else {
        return Some(false);
    };
    Some(
        check
            .expected_status
            .iter()
            .any(|&(low, high)| (low..=high).contains(&status)),
    )
}
