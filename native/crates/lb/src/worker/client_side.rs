//! The client half of a worker: reading requests, routing them, answering locally.

use super::*;

impl Worker {
    // ----- client side -----

    pub(super) fn client_event(&mut self, ci: usize, flags: u32) {
        if flags & WRITE != 0 {
            self.client_writable(ci);
        }
        if flags & !WRITE != 0 && self.clients.get(ci).is_some() {
            self.client_readable(ci);
        }
        // A reset is reported even while reading is paused; left alone it would fire forever.
        let paused = self.clients.get(ci).is_some_and(|c| c.interest & READ == 0);
        if flags & BROKEN != 0 && paused {
            return self.close_client(ci);
        }
        self.refresh_client(ci);
        // Forwarding may have filled the upstream socket (needs EPOLLOUT) or drained the
        // client's backlog (upstream reads resume).
        let upstream = self
            .clients
            .get(ci)
            .and_then(|c| c.exchange.as_ref())
            .and_then(|ex| ex.upstream);
        if let Some(ui) = upstream {
            self.refresh_upstream(ui);
        }
    }

    pub(super) fn client_readable(&mut self, ci: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        if c.phase == Phase::Lingering {
            return self.linger_readable(ci);
        }
        if c.eof || c.phase == Phase::Closing || c.inbound.is_full() {
            return;
        }
        let received = c.recv();
        match received {
            Ok(0) => self.client_eof(ci),
            Ok(_) => match c.phase {
                Phase::Head => self.start_requests(ci),
                Phase::Exchange => {
                    c.touch(&self.runtime, self.now);
                    self.push_request(ci);
                }
                Phase::Tunnel => {
                    c.touch(&self.runtime, self.now);
                    self.tunnel_to_upstream(ci);
                }
                Phase::Closing | Phase::Lingering => {}
            },
            Err(e) if sys::would_block(&e) => {}
            Err(_) => self.client_eof(ci),
        }
    }

    pub(super) fn client_eof(&mut self, ci: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        c.eof = true;
        match c.phase {
            Phase::Exchange if c.exchange.as_ref().is_some_and(|ex| ex.request_done) => {
                // The client half-closed after a complete request: answer it, then close.
                c.keep_alive = false;
            }
            _ => self.close_client(ci),
        }
    }

    pub(super) fn client_writable(&mut self, ci: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        if c.flush_out().is_err() {
            self.close_client(ci);
            return;
        }
        if c.backlogged() {
            return;
        }
        match c.phase {
            Phase::Closing => self.finish_closing(ci),
            Phase::Lingering => {}
            Phase::Exchange => {
                if let Some(ui) = c.exchange.as_ref().and_then(|ex| ex.upstream) {
                    self.pump_response(ci, ui);
                    self.refresh_upstream(ui);
                }
            }
            Phase::Tunnel => {
                if let Some(ui) = c.exchange.as_ref().and_then(|ex| ex.upstream) {
                    self.tunnel_to_client(ci, ui);
                    self.refresh_upstream(ui);
                }
            }
            Phase::Head => self.start_requests(ci),
        }
    }

    /// Parses and starts the buffered requests, one at a time.
    pub(super) fn start_requests(&mut self, ci: usize) {
        loop {
            let runtime = Arc::clone(&self.runtime);
            let Some(c) = self.clients.get_mut(ci) else {
                return;
            };
            if c.phase != Phase::Head || c.inbound.is_empty() || c.backlogged() {
                // Backlogged: answering more pipelined requests would only grow the queue;
                // client_writable resumes once it drains.
                return;
            }
            if c.awaiting_first_byte {
                c.awaiting_first_byte = false;
                c.deadline = runtime.header_timeout.map(|t| self.now + t);
            }
            let head_end =
                match find_head_end(c.inbound.filled(), &mut c.scanned, runtime.max_header_bytes) {
                    Ok(Some(end)) => end,
                    Ok(None) => return,
                    Err(e) => return self.reject(ci, e.status),
                };
            c.scanned = 0;
            if let Err(e) = parse_request(
                c.inbound.filled(),
                head_end,
                runtime.max_headers,
                &mut c.request,
            ) {
                return self.reject(ci, e.status);
            }
            self.shared.requests_total.fetch_add(1, Ordering::Relaxed);
            let Some(listener) = runtime.listener(&c.listener) else {
                // The listener left the configuration: finish with this connection.
                return self.close_client(ci);
            };
            let buf = c.inbound.filled();
            let path = match routed_path(&c.request, buf, &mut c.path_scratch) {
                Ok(path) => path,
                Err(e) => return self.reject(ci, e.status),
            };
            let host = c.request.host.map(|h| h.of(buf));
            let now_ms = self.now_ms;
            if let Some(limiter) = &runtime.rate_limiter {
                if !limiter.allow(c.ip, now_ms) {
                    self.local_response(ci, 429);
                    continue;
                }
            }
            let Some(choice) = runtime.listeners[listener].router.route(host, path) else {
                self.local_response(ci, 404);
                continue;
            };
            let pool = &runtime.pools[choice.pool];
            if pool
                .guards
                .breaker
                .as_ref()
                .is_some_and(|b| !b.allow(now_ms))
            {
                self.local_response(ci, 503);
                continue;
            }
            let secret = self.shared.registry.sticky_secret;
            let ctx = pick_context(pool, buf, &c.request, c.ip, secret);
            let sticky = ctx.sticky;
            let Some(backend) = pool.balancer.pick(&ctx, &|i| pool.eligible(i, now_ms)) else {
                self.local_response(ci, 503);
                continue;
            };
            pool.guards.retry_budget.record_request(now_ms);
            let route = choice.route.map(|r| (listener, r));
            let rules = choice
                .route
                .map(|r| runtime.listeners[listener].router.get(r))
                .map(|r| {
                    r.requests.fetch_add(1, Ordering::Relaxed);
                    if let (Some(writer), Some(metric)) = (&self.metrics, r.metric) {
                        writer.inc_by(metric, 1);
                    }
                    &r.request_rules
                });
            let state = &pool.backends[backend];
            let hop = Hop {
                client_ip: c.ip,
                tls: c.tls.is_some(),
                backend: state.address,
            };
            let log = runtime.access_log.as_ref().map(|_| {
                crate::access_log::begin_line(
                    c.request.method.of(buf),
                    c.request.target.of(buf),
                    host,
                    c.ip,
                )
            });
            c.upstream_head.clear();
            write_request_head(
                &mut c.upstream_head,
                buf,
                &c.request,
                path,
                &runtime.forwarding,
                rules,
                &hop,
                &mut self.ids,
            );
            c.inbound.consume(head_end);
            let request = &c.request;
            let replayable = request.idempotent && request.body == crate::http::BodyKind::Empty;
            c.keep_alive = request.keep_alive && !self.draining;
            c.exchange = Some(Exchange {
                pool: choice.pool,
                route,
                backend,
                upstream: None,
                request_body: BodyTracker::new(request.body),
                request_done: false,
                response_head_seen: false,
                response_body: BodyTracker::Remaining(0),
                sent_to_client: false,
                replayable,
                is_head: request.is_head,
                upgrade: request.upgrade,
                keep_alive_1_0: request.minor_version == 0 && request.keep_alive,
                attempts: 0,
                started: self.now,
                total_deadline: runtime.total_timeout.map(|t| self.now + t),
                log,
                head_sent: false,
                rechunk: None,
                sticky,
                counted: false,
                runtime,
            });
            c.phase = Phase::Exchange;
            c.deadline = exchange_deadline(&self.runtime, self.now);
            self.attach_upstream(ci, true);
            return;
        }
    }

    /// Answers a request locally (no route, no backend); keeps the connection when it can.
    pub(super) fn local_response(&mut self, ci: usize, status: u16) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        let has_body = c.request.body != crate::http::BodyKind::Empty;
        let close = has_body || !c.request.keep_alive || self.draining;
        if let Some(log) = &self.runtime.access_log {
            let buf = c.inbound.filled();
            let host = c.request.host.map(|h| h.of(buf));
            let line = crate::access_log::begin_line(
                c.request.method.of(buf),
                c.request.target.of(buf),
                host,
                c.ip,
            );
            log.send(&crate::access_log::end_line(line, None, None, status, 0.0));
        }
        c.inbound.consume(c.request.len);
        write_local_response(&mut c.outbound, status, close);
        if close {
            c.phase = Phase::Closing;
            // The body was never read: the client may still be sending it.
            c.linger |= has_body;
        }
        self.flush_client(ci);
    }

    /// Refuses a malformed request: status, `Connection: close`, never forwarded.
    pub(super) fn reject(&mut self, ci: usize, status: u16) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        c.inbound.clear();
        write_local_response(&mut c.outbound, status, true);
        c.phase = Phase::Closing;
        // The rest of what the client sends is unread (a head too large is still arriving).
        c.linger = true;
        self.flush_client(ci);
    }

    /// Sends pending client output; closes when a closing connection is flushed.
    pub(super) fn flush_client(&mut self, ci: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        if c.phase == Phase::Closing {
            if let Some(conn) = c.tls.as_mut() {
                conn.send_close_notify();
            }
        }
        if c.flush_out().is_err() {
            return self.close_client(ci);
        }
        if c.phase == Phase::Closing && !c.backlogged() {
            self.finish_closing(ci);
        }
    }
}

/// The path a request is routed on and forwarded with: normalised (see `http::normalize_path`),
/// without its query. An absolute-form target without a path gets `/`, as the writer sends;
/// `*` stays as it is.
pub(super) fn routed_path<'b>(
    request: &RequestHead,
    buf: &'b [u8],
    scratch: &'b mut Vec<u8>,
) -> Result<&'b [u8], ParseError> {
    let target = match request.form {
        Target::Asterisk => return Ok(request.target.of(buf)),
        Target::Absolute { path, .. } => path.of(buf),
        Target::Origin => request.target.of(buf),
    };
    match split_path(target).0 {
        b"" => Ok(b"/"),
        path => normalize_path(path, scratch),
    }
}

/// What the pool's balancer needs from the request: hash key and sticky backend.
pub(super) fn pick_context<'b>(
    pool: &Pool,
    buf: &'b [u8],
    request: &RequestHead,
    client_ip: IpAddr,
    secret: u64,
) -> PickContext<'b> {
    let mut ctx = PickContext {
        client_ip,
        hash_key: None,
        sticky: None,
    };
    match &pool.affinity {
        Affinity::None => {}
        Affinity::Header(name) => ctx.hash_key = header_value(buf, &request.headers, name),
        Affinity::Cookie(name) => ctx.hash_key = cookie_value(buf, &request.headers, name),
        Affinity::Sticky { name, .. } => {
            ctx.sticky = cookie_value(buf, &request.headers, name)
                .and_then(|v| parse_sticky_cookie(v, secret))
                .and_then(|identity| pool.sticky_identities.index_of(identity));
        }
    }
    ctx
}
