//! The engine's public face: start, update, drain, stop and stats. It owns the listening
//! sockets and the worker threads; workers read the shared state through `Shared`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::access_log::AccessLog;
use crate::config::Config;
use crate::error::LbError;
use crate::health_check::HealthChecker;
use crate::metrics::Families;
use crate::runtime::{Registry, Runtime};
use crate::sys;
use crate::worker::Worker;

/// A listening socket shared by the workers (each registers it in its own epoll).
pub struct ListenerSocket {
    pub name: Arc<str>,
    pub fd: OwnedFd,
    pub address: SocketAddr,
    /// The configured bind address (a change of it means a new socket).
    pub bind: SocketAddr,
}

/// State shared by the engine handle and its workers.
pub struct Shared {
    pub runtime: ArcSwap<Runtime>,
    pub registry: Registry,
    pub listeners: Mutex<Arc<Vec<Arc<ListenerSocket>>>>,
    pub listeners_generation: AtomicU64,
    pub draining: AtomicBool,
    pub stopping: AtomicBool,
    pub connections_active: AtomicU64,
    pub connections_total: AtomicU64,
    pub requests_total: AtomicU64,
    pub access_log_dropped: Arc<AtomicU64>,
}

impl Shared {
    /// The current listener sockets.
    pub fn listener_sockets(&self) -> Arc<Vec<Arc<ListenerSocket>>> {
        Arc::clone(&self.listeners.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

struct Running {
    shared: Arc<Shared>,
    wakers: Vec<Arc<sys::Waker>>,
    threads: Vec<JoinHandle<()>>,
}

/// A load balancer: configured at creation, serving between `start` and `stop`.
pub struct Engine {
    config: Mutex<Config>,
    metrics: Option<Arc<thecloud_metrics::Registry>>,
    running: Mutex<Option<Running>>,
    stopped: AtomicBool,
}

const BACKLOG: i32 = 4096;

/// Binds the listeners of `config`, reusing sockets from `current` whose name and bind match.
fn bind_listeners(
    config: &Config,
    current: &[Arc<ListenerSocket>],
) -> Result<Vec<Arc<ListenerSocket>>, LbError> {
    let mut sockets = Vec::with_capacity(config.listeners.len());
    for (i, listener) in config.listeners.iter().enumerate() {
        let bind = crate::config::parse_address(&format!("listeners[{i}].bind"), &listener.bind)?;
        if let Some(existing) = current
            .iter()
            .find(|s| *s.name == *listener.name && s.bind == bind)
        {
            sockets.push(Arc::clone(existing));
            continue;
        }
        let (fd, address) = sys::listen(&bind, BACKLOG)
            .map_err(|e| LbError::io(format!("listeners[{i}]: cannot listen on {bind}"), e))?;
        sockets.push(Arc::new(ListenerSocket {
            name: Arc::from(listener.name.as_str()),
            fd,
            address,
            bind,
        }));
    }
    Ok(sockets)
}

impl Engine {
    /// Validates the configuration; opens nothing yet.
    /// With `metrics`, per-backend and per-route series are reported into that registry.
    pub fn new(
        config_json: &str,
        metrics: Option<Arc<thecloud_metrics::Registry>>,
    ) -> Result<Self, LbError> {
        let config = Config::from_json(config_json)?;
        // Compile once now so a bad route regex or certificate fails here, not at start().
        Runtime::build(&config, 0, &Registry::new(None))?;
        if let Some(registry) = &metrics {
            Families::register(Arc::clone(registry))?;
        }
        Ok(Self {
            config: Mutex::new(config),
            metrics,
            running: Mutex::new(None),
            stopped: AtomicBool::new(false),
        })
    }

    /// Binds every listener and starts the worker threads.
    pub fn start(&self) -> Result<(), LbError> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.is_some() {
            return Err(LbError::state("the load balancer is already started"));
        }
        if self.stopped.load(Ordering::Relaxed) {
            return Err(LbError::state(
                "a stopped load balancer cannot be started again",
            ));
        }
        let config = self
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let workers = config.workers;
        let families = match &self.metrics {
            Some(registry) => Some(Families::register(Arc::clone(registry))?),
            None => None,
        };
        let registry = Registry::new(families);
        let dropped = Arc::new(AtomicU64::new(0));
        let mut runtime = Runtime::build(&config, 1, &registry)?;
        runtime.access_log = open_access_log(&config, &dropped)?;
        let sockets = bind_listeners(&config, &[])?;
        let shared = Arc::new(Shared {
            runtime: ArcSwap::from_pointee(runtime),
            registry,
            listeners: Mutex::new(Arc::new(sockets)),
            listeners_generation: AtomicU64::new(1),
            draining: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            connections_active: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            requests_total: AtomicU64::new(0),
            access_log_dropped: dropped,
        });
        let mut wakers = Vec::with_capacity(workers);
        let mut threads = Vec::with_capacity(workers);
        for id in 0..workers {
            let worker = match Worker::new(id, Arc::clone(&shared)) {
                Ok(worker) => worker,
                Err(e) => {
                    shutdown(&shared, &wakers, threads);
                    return Err(LbError::io("cannot create a worker", e));
                }
            };
            wakers.push(worker.waker());
            let spawned = std::thread::Builder::new()
                .name(format!("lb-worker-{id}"))
                .spawn(move || worker.run());
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    shutdown(&shared, &wakers, threads);
                    return Err(LbError::io("cannot start a worker thread", e));
                }
            }
        }
        let checker = match HealthChecker::new(Arc::clone(&shared)) {
            Ok(checker) => checker,
            Err(e) => {
                shutdown(&shared, &wakers, threads);
                return Err(LbError::io("cannot create the health checker", e));
            }
        };
        // Woken with the workers: stop() does not wait for a probe in flight.
        wakers.push(checker.waker());
        let checker = std::thread::Builder::new()
            .name("lb-health".into())
            .spawn(move || checker.run());
        match checker {
            Ok(handle) => threads.push(handle),
            Err(e) => {
                shutdown(&shared, &wakers, threads);
                return Err(LbError::io("cannot start the health checker thread", e));
            }
        }
        *running = Some(Running {
            shared,
            wakers,
            threads,
        });
        Ok(())
    }

    /// Listener name -> bound address.
    pub fn addresses(&self) -> Result<BTreeMap<String, SocketAddr>, LbError> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let running = running
            .as_ref()
            .ok_or_else(|| LbError::state("the load balancer is not started"))?;
        Ok(running
            .shared
            .listener_sockets()
            .iter()
            .map(|s| (s.name.to_string(), s.address))
            .collect())
    }

    /// Swaps in a new configuration: new requests use it, in-flight ones finish on the old.
    /// Listeners are added and removed, certificates re-read; on any error nothing changes.
    /// `workers` takes effect at `start()` only (the thread count of a running engine is fixed).
    /// Refused while draining.
    pub fn update(&self, config_json: &str) -> Result<(), LbError> {
        let config = Config::from_json(config_json)?;
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let Some(running) = running.as_ref() else {
            Runtime::build(&config, 0, &Registry::new(None))?;
            *self.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
            return Ok(());
        };
        let shared = &running.shared;
        if shared.draining.load(Ordering::Acquire) {
            return Err(LbError::state("the load balancer is draining"));
        }
        let generation = shared.runtime.load().generation + 1;
        let mut runtime = Runtime::build(&config, generation, &shared.registry)?;
        runtime.access_log = open_access_log(&config, &shared.access_log_dropped)?;
        let current = shared.listener_sockets();
        let sockets = bind_listeners(&config, &current)?;
        shared.runtime.store(Arc::new(runtime));
        *shared.listeners.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(sockets);
        shared.listeners_generation.fetch_add(1, Ordering::Release);
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
        for waker in &running.wakers {
            waker.wake();
        }
        Ok(())
    }

    /// Stops accepting, lets in-flight requests finish; true if all connections closed in time.
    pub fn drain(&self, timeout: Duration) -> Result<bool, LbError> {
        let shared = {
            let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            let running = running
                .as_ref()
                .ok_or_else(|| LbError::state("the load balancer is not started"))?;
            running.shared.draining.store(true, Ordering::Release);
            *running
                .shared
                .listeners
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Arc::new(Vec::new());
            running
                .shared
                .listeners_generation
                .fetch_add(1, Ordering::Release);
            for waker in &running.wakers {
                waker.wake();
            }
            Arc::clone(&running.shared)
        };
        let deadline = Instant::now() + timeout;
        loop {
            if shared.connections_active.load(Ordering::Acquire) == 0 {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Closes everything and joins the workers. Idempotent.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(running) = running {
            shutdown(&running.shared, &running.wakers, running.threads);
        }
    }

    /// Counters and backend states as a JSON object (see the Python `stats()` docs).
    pub fn stats_json(&self) -> String {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let Some(running) = running.as_ref() else {
            return serde_json::json!({
                "connections_active": 0, "connections_total": 0, "requests_total": 0,
                "pools": {}, "routes": {},
            })
            .to_string();
        };
        let shared = &running.shared;
        let runtime = shared.runtime.load();
        let now_ms = shared.registry.millis(Instant::now());
        let mut pools = serde_json::Map::new();
        for pool in &runtime.pools {
            let backends: Vec<_> = pool
                .backends
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let ejected = pool
                        .guards
                        .outlier
                        .as_ref()
                        .is_some_and(|o| o.is_ejected(i, now_ms));
                    serde_json::json!({
                        "address": b.address.to_string(),
                        "up": b.up.load(Ordering::Relaxed),
                        "ejected": ejected,
                        "active": b.active.load(Ordering::Relaxed),
                        "requests": b.requests.load(Ordering::Relaxed),
                        "failures": b.failures.load(Ordering::Relaxed),
                    })
                })
                .collect();
            pools.insert(
                pool.name.clone(),
                serde_json::json!({ "backends": backends }),
            );
        }
        let mut routes = serde_json::Map::new();
        for listener in &runtime.listeners {
            for route in listener.router.routes() {
                routes.insert(
                    route.name.clone(),
                    serde_json::json!({ "requests": route.requests.load(Ordering::Relaxed) }),
                );
            }
        }
        serde_json::json!({
            "connections_active": shared.connections_active.load(Ordering::Relaxed),
            "connections_total": shared.connections_total.load(Ordering::Relaxed),
            "requests_total": shared.requests_total.load(Ordering::Relaxed),
            "access_log_dropped": shared.access_log_dropped.load(Ordering::Relaxed),
            "pools": pools,
            "routes": routes,
        })
        .to_string()
    }
}

/// Opens the access log of `config` when it is enabled.
fn open_access_log(
    config: &Config,
    dropped: &Arc<AtomicU64>,
) -> Result<Option<AccessLog>, LbError> {
    match (&config.access_log.path, config.access_log.enabled) {
        (Some(path), true) => AccessLog::start(path, Arc::clone(dropped)).map(Some),
        _ => Ok(None),
    }
}

fn shutdown(shared: &Shared, wakers: &[Arc<sys::Waker>], threads: Vec<JoinHandle<()>>) {
    shared.stopping.store(true, Ordering::Release);
    for waker in wakers {
        waker.wake();
    }
    for thread in threads {
        // A panicking worker has already stopped serving; stop() must still complete.
        let _ = thread.join();
    }
    *shared.listeners.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(Vec::new());
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Raw fd of a listener (for the workers' epoll registration).
pub fn listener_fd(socket: &ListenerSocket) -> i32 {
    socket.fd.as_raw_fd()
}
