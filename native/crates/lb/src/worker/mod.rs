//! One engine thread: a level-triggered epoll loop over client and upstream connections.
//!
//! Registrations are persistent; interest changes (EPOLLOUT when a write would block, EPOLLIN
//! off while the other side is backed up) happen only off the fast path. A request costs one
//! recv from the client, one sendmsg upstream, one recv from upstream and one sendmsg to the
//! client. Each client connection carries one exchange at a time; pipelined requests wait in
//! its receive buffer and are answered in order.
//!
//! Requests are routed on, and forwarded with, their normalised path (`http::normalize_path`).
//! Bodies stream in both directions as they arrive (framing tracked, never buffered whole); a
//! body the backend ends by closing is re-chunked for an HTTP/1.1 client (`rechunk`).
//! `Expect: 100-continue` is forwarded and the backend's interim `100 Continue` relayed (the
//! proxy never answers it itself, so a backend can still refuse the body); interim responses
//! never reach an HTTP/1.0 client. After a `101` the connection becomes a byte tunnel. A
//! connection closed while its request may still be arriving closes lingering (`linger`). A failure before any response byte reached the client is
//! retried when safe (connect failures; idempotent requests without a body on another backend,
//! or once on a fresh connection when a pooled one turned out closed), else answered 502/504;
//! after the first byte the client connection is closed.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::affinity::{cookie_value, header_value, Affinity};
use crate::balance::{parse_sticky_cookie, write_sticky_cookie_value, PickContext};
use crate::body::BodyTracker;
use crate::buffer::RecvBuffer;
use crate::engine::{listener_fd, ListenerSocket, Shared};
use crate::http::{
    find_head_end, normalize_path, parse_request, parse_response, split_path, BodyKind, ParseError,
    RequestHead, ResponseHead, Target,
};
use crate::rechunk::Rechunker;
use crate::resilience::RequestOutcome;
use crate::rewrite::{
    write_local_response, write_request_head, write_response_head, Hop, RequestIds,
};
use crate::runtime::{BackendState, Pool, Runtime};
use crate::slab::Slab;
use crate::sys::{self, Epoll, Waker, BROKEN, READ, WRITE};

mod client_side;
mod io;
mod linger;
mod upstream_side;

use io::{flush, has_plaintext, send_queued};

const KIND_SHIFT: u32 = 62;
const KIND_WAKE: u64 = 0;
const KIND_LISTENER: u64 = 1;
const KIND_CLIENT: u64 = 2;
const KIND_UPSTREAM: u64 = 3;
const INDEX_MASK: u64 = (1 << 32) - 1;
const STAMP_SHIFT: u32 = 32;
const STAMP_MASK: u64 = (1 << 30) - 1;

const CLIENT_BUFFER: usize = 16 * 1024;
/// Capacity of the buffer the forwarded request head is written into.
const UPSTREAM_HEAD_CAPACITY: usize = 2048;
const UPSTREAM_BUFFER: usize = 32 * 1024;
/// Largest response head accepted from a backend.
const MAX_RESPONSE_HEAD: usize = UPSTREAM_BUFFER - 1;
const SWEEP_EVERY: Duration = Duration::from_millis(50);
const EVENTS: usize = 256;

fn token(kind: u64, index: usize) -> u64 {
    kind << KIND_SHIFT | index as u64
}

/// A token that also carries the slot's stamp: an event queued for a connection that was closed
/// (and whose slot was reused) in the same batch is recognised and ignored.
fn stamped(kind: u64, index: usize, stamp: u64) -> u64 {
    kind << KIND_SHIFT | (stamp & STAMP_MASK) << STAMP_SHIFT | index as u64
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Waiting for (the rest of) a request head.
    Head,
    /// A request is being proxied.
    Exchange,
    /// After a 101: bytes flow both ways unchanged.
    Tunnel,
    /// Flushing a final response, then closing (or lingering).
    Closing,
    /// Response sent and write side shut: discarding input until the client closes (bounded,
    /// see `linger`).
    Lingering,
}

/// The request currently proxied for a client.
struct Exchange {
    runtime: Arc<Runtime>,
    pool: usize,
    route: Option<(usize, usize)>,
    backend: usize,
    upstream: Option<usize>,
    request_body: BodyTracker,
    request_done: bool,
    response_head_seen: bool,
    response_body: BodyTracker,
    /// Any response byte reached the client (after that, failures close the connection).
    sent_to_client: bool,
    replayable: bool,
    is_head: bool,
    upgrade: bool,
    keep_alive_1_0: bool,
    attempts: u32,
    started: Instant,
    /// When the whole exchange must be over (`timeouts.total_ms`), if bounded.
    total_deadline: Option<Instant>,
    /// The request half of the access log line, when the log is on.
    log: Option<Vec<u8>>,
    /// The head went to the current upstream connection (a retry sends it again).
    head_sent: bool,
    /// Re-frames a close-delimited response body as chunked for an HTTP/1.1 client.
    rechunk: Option<Rechunker>,
    /// The backend a valid sticky cookie named: the response sets the cookie when the exchange
    /// ended up elsewhere (no cookie, its backend gone or ineligible, a retry moved it).
    sticky: Option<usize>,
    counted: bool,
}

struct Client {
    fd: OwnedFd,
    token: u64,
    ip: IpAddr,
    /// The listener's name (not its socket: a removed listener must close at once).
    listener: Arc<str>,
    interest: u32,
    inbound: RecvBuffer,
    outbound: Vec<u8>,
    outbound_sent: usize,
    /// The TLS session of a client on a TLS listener.
    tls: Option<Box<rustls::ServerConnection>>,
    upstream_head: Vec<u8>,
    upstream_out: Vec<u8>,
    upstream_out_sent: usize,
    /// Holds the normalised request path when it differs from the one received.
    path_scratch: Vec<u8>,
    request: RequestHead,
    response: ResponseHead,
    phase: Phase,
    scanned: usize,
    awaiting_first_byte: bool,
    deadline: Option<Instant>,
    eof: bool,
    keep_alive: bool,
    /// Request bytes may still be on their way when the connection closes: linger (see `linger`).
    linger: bool,
    /// Bytes discarded while lingering.
    lingered: usize,
    exchange: Option<Exchange>,
}

/// Buffers of a closed client, reused by the next one.
struct SpareClient {
    inbound: RecvBuffer,
    outbound: Vec<u8>,
    upstream_head: Vec<u8>,
    upstream_out: Vec<u8>,
    path_scratch: Vec<u8>,
    request: RequestHead,
    response: ResponseHead,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum UpstreamState {
    Connecting,
    Busy,
    Idle,
}

struct Upstream {
    fd: OwnedFd,
    token: u64,
    backend: Arc<BackendState>,
    state: UpstreamState,
    owner: usize,
    interest: u32,
    inbound: RecvBuffer,
    scanned: usize,
    reused: bool,
    idle_until: Instant,
}

struct LocalListener {
    socket: Arc<ListenerSocket>,
}

/// One worker thread's state.
pub struct Worker {
    shared: Arc<Shared>,
    epoll: Epoll,
    waker: Arc<Waker>,
    runtime: Arc<Runtime>,
    listeners: Vec<LocalListener>,
    listeners_generation: u64,
    clients: Slab<Client>,
    upstreams: Slab<Upstream>,
    idle: Vec<Vec<usize>>,
    spare_clients: Vec<SpareClient>,
    spare_upstream_buffers: Vec<RecvBuffer>,
    ids: RequestIds,
    /// TLS clients whose session holds decrypted bytes that did not fit their buffer: no
    /// socket event will announce them, so the loop reads them when there is room.
    tls_pending: Vec<usize>,
    /// Incremented per connection; the low bits go into epoll tokens.
    stamps: u64,
    now: Instant,
    now_ms: u64,
    draining: bool,
    /// This thread's shard in the metrics registry (when the engine reports metrics).
    metrics: Option<thecloud_metrics::ShardWriter>,
}

fn seed(id: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x =
        nanos ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(std::process::id());
    // splitmix64 finaliser: spreads the clock bits over the whole word.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
impl Worker {
    pub fn new(id: usize, shared: Arc<Shared>) -> std::io::Result<Self> {
        let epoll = Epoll::new()?;
        let waker = Arc::new(Waker::new()?);
        epoll.add(waker.fd(), READ, token(KIND_WAKE, 0))?;
        let runtime = shared.runtime.load_full();
        let metrics = match &shared.registry.metrics {
            Some(families) => Some(
                families
                    .writer()
                    .map_err(|e| std::io::Error::other(e.message))?,
            ),
            None => None,
        };
        Ok(Self {
            metrics,
            shared,
            epoll,
            waker,
            runtime,
            listeners: Vec::new(),
            listeners_generation: 0,
            clients: Slab::new(),
            upstreams: Slab::new(),
            idle: Vec::new(),
            spare_clients: Vec::new(),
            spare_upstream_buffers: Vec::new(),
            ids: RequestIds::new(seed(id)),
            stamps: 0,
            tls_pending: Vec::new(),
            now: Instant::now(),
            now_ms: 0,
            draining: false,
        })
    }

    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Serves until the engine stops.
    pub fn run(mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        let mut last_sweep = Instant::now();
        self.sync_listeners();
        while let Ok(ready) = self.epoll.wait(&mut events, SWEEP_EVERY.as_millis() as i32) {
            self.now = Instant::now();
            self.now_ms = self.shared.registry.millis(self.now);
            if self.shared.stopping.load(Ordering::Acquire) {
                break;
            }
            // Configuration first: a request that arrives after update() returned uses it.
            if self.shared.listeners_generation.load(Ordering::Acquire) != self.listeners_generation
            {
                self.sync_listeners();
            }
            if self.shared.runtime.load().generation != self.runtime.generation {
                self.runtime = self.shared.runtime.load_full();
            }
            for event in &events[..ready] {
                let (flags, data) = (event.events, event.u64);
                self.dispatch(flags, data);
            }
            // Bounded: each round consumes buffered plaintext or stops queueing the client.
            for _ in 0..64 {
                let Some(ci) = self.tls_pending.pop() else {
                    break;
                };
                self.client_readable(ci);
                self.refresh_client(ci);
            }
            self.tls_pending.clear();
            if !self.draining && self.shared.draining.load(Ordering::Acquire) {
                self.start_draining();
            }
            if self.now.duration_since(last_sweep) >= SWEEP_EVERY {
                last_sweep = self.now;
                self.sweep();
            }
        }
        self.close_all();
    }

    fn dispatch(&mut self, flags: u32, data: u64) {
        let index = (data & INDEX_MASK) as usize;
        match data >> KIND_SHIFT {
            KIND_CLIENT => {
                if self.clients.get(index).is_some_and(|c| c.token == data) {
                    self.client_event(index, flags);
                }
            }
            KIND_UPSTREAM => {
                if self.upstreams.get(index).is_some_and(|u| u.token == data) {
                    self.upstream_event(index, flags);
                }
            }
            KIND_LISTENER => self.accept(index),
            _ => self.waker.reset(),
        }
    }

    // ----- listeners -----

    fn sync_listeners(&mut self) {
        self.listeners_generation = self.shared.listeners_generation.load(Ordering::Acquire);
        let wanted = if self.draining || self.shared.draining.load(Ordering::Acquire) {
            Arc::new(Vec::new())
        } else {
            self.shared.listener_sockets()
        };
        for old in &self.listeners {
            self.epoll.delete(listener_fd(&old.socket));
        }
        self.listeners.clear();
        for (i, socket) in wanted.iter().enumerate() {
            // EPOLLEXCLUSIVE: with several workers only one wakes per connection.
            let flags = libc::EPOLLIN as u32 | libc::EPOLLEXCLUSIVE as u32;
            if self
                .epoll
                .add(listener_fd(socket), flags, token(KIND_LISTENER, i))
                .is_ok()
            {
                self.listeners.push(LocalListener {
                    socket: Arc::clone(socket),
                });
            }
        }
    }

    fn accept(&mut self, index: usize) {
        let Some(listener) = self.listeners.get(index) else {
            return;
        };
        let socket = Arc::clone(&listener.socket);
        for _ in 0..64 {
            let (fd, peer) = match sys::accept(socket.fd.as_raw_fd()) {
                Ok(accepted) => accepted,
                Err(_) => return,
            };
            let active = self.shared.connections_active.load(Ordering::Relaxed);
            if active >= self.runtime.max_connections {
                let mut response = Vec::with_capacity(128);
                write_local_response(&mut response, 503, true);
                let _ = sys::send2(fd.as_raw_fd(), &response, &[]);
                continue;
            }
            self.shared
                .connections_active
                .fetch_add(1, Ordering::AcqRel);
            self.shared
                .connections_total
                .fetch_add(1, Ordering::Relaxed);
            let spare = self.spare_clients.pop().unwrap_or_else(|| SpareClient {
                inbound: RecvBuffer::with_capacity(CLIENT_BUFFER),
                outbound: Vec::with_capacity(CLIENT_BUFFER),
                upstream_head: Vec::with_capacity(UPSTREAM_HEAD_CAPACITY),
                upstream_out: Vec::with_capacity(CLIENT_BUFFER),
                path_scratch: Vec::new(),
                request: RequestHead::default(),
                response: ResponseHead::default(),
            });
            let tls = self
                .runtime
                .listener(&socket.name)
                .and_then(|l| self.runtime.listeners[l].tls.clone())
                .map(rustls::ServerConnection::new);
            let tls = match tls {
                None => None,
                Some(Ok(conn)) => Some(Box::new(conn)),
                Some(Err(_)) => {
                    self.shared
                        .connections_active
                        .fetch_sub(1, Ordering::AcqRel);
                    self.spare_clients.push(spare);
                    continue;
                }
            };
            let mut inbound = spare.inbound;
            inbound.ensure_capacity(self.runtime.max_header_bytes + 1024);
            let raw = fd.as_raw_fd();
            let client = Client {
                fd,
                token: 0,
                ip: sys::peer_ip(&peer),
                listener: Arc::clone(&socket.name),
                interest: READ,
                inbound,
                outbound: spare.outbound,
                outbound_sent: 0,
                tls,
                upstream_head: spare.upstream_head,
                upstream_out: spare.upstream_out,
                upstream_out_sent: 0,
                path_scratch: spare.path_scratch,
                request: spare.request,
                response: spare.response,
                phase: Phase::Head,
                scanned: 0,
                awaiting_first_byte: false,
                deadline: self.runtime.header_timeout.map(|t| self.now + t),
                eof: false,
                keep_alive: true,
                linger: false,
                lingered: 0,
                exchange: None,
            };
            let ci = self.clients.insert(client);
            self.stamps += 1;
            let token = stamped(KIND_CLIENT, ci, self.stamps);
            if let Some(c) = self.clients.get_mut(ci) {
                c.token = token;
            }
            if self.epoll.add(raw, READ, token).is_err() {
                self.close_client(ci);
            }
        }
    }

    fn start_draining(&mut self) {
        self.draining = true;
        self.sync_listeners();
        let idle: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.phase == Phase::Head && c.inbound.is_empty())
            .map(|(i, _)| i)
            .collect();
        for ci in idle {
            self.close_client(ci);
        }
    }

    // ----- interest -----

    fn refresh_client(&mut self, ci: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        let upstream_blocked = c.upstream_out_sent < c.upstream_out.len();
        // Between requests a backlogged client is not read: pipelined requests answered
        // locally would otherwise queue output without bound.
        let held = c.phase == Phase::Head && c.backlogged();
        let reading = !c.eof
            && c.phase != Phase::Closing
            && !c.inbound.is_full()
            && !upstream_blocked
            && !held;
        let mut want = if reading { READ } else { 0 };
        if c.backlogged() {
            want |= WRITE;
        }
        if c.phase == Phase::Lingering {
            want = READ;
        } else if reading && c.tls.as_mut().is_some_and(|conn| has_plaintext(conn)) {
            self.tls_pending.push(ci);
        }
        if want != c.interest {
            c.interest = want;
            let _ = self.epoll.modify(c.fd.as_raw_fd(), want, c.token);
        }
    }

    fn refresh_upstream(&mut self, ui: usize) {
        let Some(u) = self.upstreams.get_mut(ui) else {
            return;
        };
        let mut want = READ;
        match u.state {
            UpstreamState::Connecting => want |= WRITE,
            UpstreamState::Idle => {}
            UpstreamState::Busy => {
                if let Some(c) = self.clients.get(u.owner) {
                    if c.backlogged() || u.inbound.is_full() {
                        want = 0;
                    }
                    if c.upstream_out_sent < c.upstream_out.len() {
                        want |= WRITE;
                    }
                }
            }
        }
        if want != u.interest {
            u.interest = want;
            let _ = self.epoll.modify(u.fd.as_raw_fd(), want, u.token);
        }
    }
    // ----- timers and teardown -----

    fn sweep(&mut self) {
        let now = self.now;
        let expired: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(i, _)| i)
            .collect();
        for ci in expired {
            let Some(c) = self.clients.get_mut(ci) else {
                continue;
            };
            match c.phase {
                Phase::Exchange => {
                    let connecting = c
                        .exchange
                        .as_ref()
                        .and_then(|ex| ex.upstream)
                        .and_then(|ui| self.upstreams.get(ui))
                        .is_some_and(|u| u.state == UpstreamState::Connecting);
                    if connecting {
                        let ui = c.exchange.as_ref().and_then(|ex| ex.upstream);
                        if let Some(ui) = ui {
                            self.close_upstream(ui);
                        }
                        self.upstream_failed(ci, None, true);
                    } else {
                        self.abort_exchange(ci, 504);
                    }
                }
                _ => self.close_client(ci),
            }
            self.refresh_client(ci);
        }
        let stale: Vec<usize> = self
            .upstreams
            .iter()
            .filter(|(_, u)| u.state == UpstreamState::Idle && u.idle_until <= now)
            .map(|(i, _)| i)
            .collect();
        for ui in stale {
            self.close_upstream(ui);
        }
    }

    fn close_upstream(&mut self, ui: usize) {
        let Some(u) = self.upstreams.remove(ui) else {
            return;
        };
        if u.state == UpstreamState::Idle {
            if let Some(list) = self.idle.get_mut(u.backend.uid) {
                list.retain(|&i| i != ui);
            }
        }
        let mut inbound = u.inbound;
        inbound.clear();
        self.spare_upstream_buffers.push(inbound);
        // Dropping the fd closes it, which also removes it from the epoll set.
    }

    fn close_client(&mut self, ci: usize) {
        let Some(mut c) = self.clients.remove(ci) else {
            return;
        };
        if let Some(ex) = c.exchange.take() {
            Self::end_accounting(&ex);
            if let Some(ui) = ex.upstream {
                self.close_upstream(ui);
            }
        }
        self.shared
            .connections_active
            .fetch_sub(1, Ordering::AcqRel);
        c.inbound.clear();
        c.outbound.clear();
        c.upstream_out.clear();
        // A connection that queued a lot must not pin that memory in the spare list.
        c.outbound.shrink_to(CLIENT_BUFFER);
        c.upstream_out.shrink_to(CLIENT_BUFFER);
        c.upstream_head.shrink_to(UPSTREAM_HEAD_CAPACITY);
        self.spare_clients.push(SpareClient {
            inbound: c.inbound,
            outbound: c.outbound,
            upstream_head: c.upstream_head,
            upstream_out: c.upstream_out,
            path_scratch: c.path_scratch,
            request: c.request,
            response: c.response,
        });
    }

    fn close_all(&mut self) {
        let clients: Vec<usize> = self.clients.iter().map(|(i, _)| i).collect();
        for ci in clients {
            self.close_client(ci);
        }
        let upstreams: Vec<usize> = self.upstreams.iter().map(|(i, _)| i).collect();
        for ui in upstreams {
            self.close_upstream(ui);
        }
        self.listeners.clear();
    }
}

/// When an exchange times out: the sooner of the idle and total timeouts.
fn exchange_deadline(runtime: &Runtime, now: Instant) -> Option<Instant> {
    match (runtime.idle_timeout, runtime.total_timeout) {
        (Some(a), Some(b)) => Some(now + a.min(b)),
        (Some(t), None) | (None, Some(t)) => Some(now + t),
        (None, None) => None,
    }
}
