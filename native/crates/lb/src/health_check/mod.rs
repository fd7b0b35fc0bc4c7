//! Active health checks: one thread runs a small epoll loop over non-blocking probes (see
//! `probe`), one in flight per backend of every pool that has a `health_check`, all at once. It
//! feeds each result to the backend's rise/fall state machine, publishes it in the backend's
//! `up` flag, and drives slow start for recovered backends.
//!
//! Invariants: a backend has at most one probe in flight, and its next one starts no sooner
//! than `interval_ms` after the previous one started (as before: a slow probe delays only its
//! own backend's next check). Nothing in the loop blocks: stop() wakes it through its waker and
//! it returns at once, closing the probes in flight.

mod probe;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::Shared;
use crate::resilience::{HealthState, Transition};
use crate::runtime::BackendState;
use crate::slab::Slab;
use crate::sys::{Epoll, Waker, READ};
use probe::{Probe, Progress};

const TICK: Duration = Duration::from_millis(20);
/// How often to look for newly configured checks when none are configured (fewer wake-ups on
/// the proxy's core).
const IDLE_TICK: Duration = Duration::from_millis(100);
/// The epoll token of the waker (probes use their slab index).
const WAKE: u64 = u64::MAX;
const EVENTS: usize = 64;

struct Tracked {
    state: HealthState,
    next_check: Instant,
    /// The slot of this backend's probe in flight. A result is applied only from that probe: one
    /// started for an earlier entry (its check removed, then added again) is ignored.
    probe: Option<usize>,
    /// When the backend last came up, for slow start.
    recovered_at_ms: Option<u64>,
}

/// The checker thread's state.
pub struct HealthChecker {
    shared: Arc<Shared>,
    epoll: Epoll,
    waker: Arc<Waker>,
    /// By backend uid.
    tracked: HashMap<usize, Tracked>,
    probes: Slab<Probe>,
    /// A backend just came up: schedule at once, so slow start takes hold before it gets a
    /// full share of the requests.
    recovered: bool,
}

impl HealthChecker {
    pub fn new(shared: Arc<Shared>) -> std::io::Result<Self> {
        let epoll = Epoll::new()?;
        let waker = Arc::new(Waker::new()?);
        epoll.add(waker.fd(), READ, WAKE)?;
        Ok(Self {
            shared,
            epoll,
            waker,
            tracked: HashMap::new(),
            probes: Slab::new(),
            recovered: false,
        })
    }

    /// Wakes the loop (stop() uses it so the thread ends at once).
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Runs until the engine stops.
    pub fn run(mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        let mut next_round = Instant::now();
        while !self.shared.stopping.load(Ordering::Acquire) {
            let now = Instant::now();
            // Scheduling walks every backend: once a tick, not on every probe's event.
            if now >= next_round || self.recovered {
                self.recovered = false;
                let checking = self.schedule(now);
                next_round = now + if checking { TICK } else { IDLE_TICK };
            }
            self.expire(now);
            let wait = next_round.saturating_duration_since(now).as_millis() as i32;
            let Ok(ready) = self.epoll.wait(&mut events, wait.max(1)) else {
                return;
            };
            for event in &events[..ready] {
                if event.u64 == WAKE {
                    self.waker.reset();
                } else {
                    self.advance(event.u64 as usize);
                }
            }
        }
    }

    /// Starts the probes that are due and applies slow start; true when any pool has checks.
    fn schedule(&mut self, now: Instant) -> bool {
        let runtime = self.shared.runtime.load_full();
        let now_ms = self.shared.registry.millis(now);
        for pool in &runtime.pools {
            for (index, backend) in pool.backends.iter().enumerate() {
                let Some(check) = &pool.health_check else {
                    // Checks were removed from the configuration: the backend counts as up.
                    if self.tracked.remove(&backend.uid).is_some() {
                        backend.up.store(true, Ordering::Relaxed);
                    }
                    continue;
                };
                let entry = self.tracked.entry(backend.uid).or_insert_with(|| Tracked {
                    state: HealthState::new(check.rise, check.fall, true, now_ms),
                    next_check: now,
                    probe: None,
                    recovered_at_ms: None,
                });
                if entry.probe.is_none() && entry.next_check <= now {
                    entry.next_check = now + Duration::from_millis(check.interval_ms.max(10));
                    match Probe::start(Arc::clone(backend), check, now) {
                        Ok(probe) => {
                            let (fd, interest) = (probe.fd(), probe.interest());
                            let slot = self.probes.insert(probe);
                            entry.probe = Some(slot);
                            if self.epoll.add(fd, interest, slot as u64).is_err() {
                                self.finish(slot, false);
                            }
                        }
                        Err(_) => self.record(backend, None, false),
                    }
                }
                let Some(entry) = self.tracked.get_mut(&backend.uid) else {
                    continue;
                };
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
        runtime.pools.iter().any(|p| p.health_check.is_some())
    }

    /// Fails the probes whose deadline passed.
    fn expire(&mut self, now: Instant) {
        let late: Vec<usize> = self
            .probes
            .iter()
            .filter(|(_, probe)| probe.deadline <= now)
            .map(|(slot, _)| slot)
            .collect();
        for slot in late {
            self.finish(slot, false);
        }
    }

    fn advance(&mut self, slot: usize) {
        let Some(probe) = self.probes.get_mut(slot) else {
            return;
        };
        let before = probe.interest();
        match probe.advance() {
            Progress::Done(ok) => self.finish(slot, ok),
            Progress::Waiting(interest) if interest != before => {
                if self
                    .epoll
                    .modify(probe.fd(), interest, slot as u64)
                    .is_err()
                {
                    self.finish(slot, false);
                }
            }
            Progress::Waiting(_) => {}
        }
    }

    /// Ends a probe (closing its socket) and records its result.
    fn finish(&mut self, slot: usize, ok: bool) {
        if let Some(probe) = self.probes.remove(slot) {
            self.record(&probe.backend, Some(slot), ok);
        }
    }

    /// Feeds the result of the backend's probe in `slot` (None: it could not start) to its
    /// rise/fall state and publishes it. A result for an entry that is gone, or that did not
    /// start this probe, is dropped.
    fn record(&mut self, backend: &BackendState, slot: Option<usize>, ok: bool) {
        let now_ms = self.shared.registry.millis(Instant::now());
        let Some(entry) = self.tracked.get_mut(&backend.uid) else {
            return;
        };
        if entry.probe != slot {
            return;
        }
        entry.probe = None;
        match entry.state.record_check(ok, now_ms) {
            Some(Transition::Up) => {
                entry.recovered_at_ms = Some(now_ms);
                self.recovered = true;
            }
            Some(Transition::Down) => entry.recovered_at_ms = None,
            None => {}
        }
        backend.up.store(entry.state.is_up(), Ordering::Relaxed);
    }
}
