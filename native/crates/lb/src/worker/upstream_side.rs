//! The upstream half of a worker: connections to backends, forwarding, responses, retries
//! and tunnels.

use super::*;

impl Worker {
    // ----- upstream connections -----

    /// Gives the exchange a connection: an idle one to the chosen backend, or a new one.
    pub(super) fn attach_upstream(&mut self, ci: usize, allow_reuse: bool) {
        let Some(ex) = self.clients.get_mut(ci).and_then(|c| c.exchange.as_mut()) else {
            return;
        };
        let pool = &ex.runtime.pools[ex.pool];
        let backend = Arc::clone(&pool.backends[ex.backend]);
        if !ex.counted {
            ex.counted = true;
            backend.active.fetch_add(1, Ordering::Relaxed);
            backend.requests.fetch_add(1, Ordering::Relaxed);
            pool.balancer.on_start(ex.backend);
        }
        if allow_reuse {
            while let Some(ui) = self.idle.get_mut(backend.uid).and_then(Vec::pop) {
                let Some(u) = self.upstreams.get_mut(ui) else {
                    continue;
                };
                if u.idle_until <= self.now {
                    self.close_upstream(ui);
                    continue;
                }
                u.state = UpstreamState::Busy;
                u.owner = ci;
                u.reused = true;
                self.set_upstream(ci, ui);
                self.push_request(ci);
                return;
            }
        }
        let connected = sys::connect(&backend.address);
        let (fd, done) = match connected {
            Ok(result) => result,
            Err(_) => return self.upstream_failed(ci, None, true),
        };
        let raw = fd.as_raw_fd();
        let inbound = self
            .spare_upstream_buffers
            .pop()
            .unwrap_or_else(|| RecvBuffer::with_capacity(UPSTREAM_BUFFER));
        let state = if done {
            UpstreamState::Busy
        } else {
            UpstreamState::Connecting
        };
        let interest = if done { READ } else { READ | WRITE };
        let ui = self.upstreams.insert(Upstream {
            fd,
            token: 0,
            backend,
            state,
            owner: ci,
            interest,
            inbound,
            scanned: 0,
            reused: false,
            idle_until: self.now,
        });
        self.stamps += 1;
        let token = stamped(KIND_UPSTREAM, ui, self.stamps);
        if let Some(u) = self.upstreams.get_mut(ui) {
            u.token = token;
        }
        self.set_upstream(ci, ui);
        if self.epoll.add(raw, interest, token).is_err() {
            self.close_upstream(ui);
            return self.upstream_failed(ci, None, true);
        }
        if done {
            self.push_request(ci);
        } else if let Some(t) = self.runtime.connect_timeout {
            if let Some(c) = self.clients.get_mut(ci) {
                c.deadline = Some(self.now + t);
            }
        }
    }

    pub(super) fn set_upstream(&mut self, ci: usize, ui: usize) {
        if let Some(c) = self.clients.get_mut(ci) {
            // Bytes queued for an earlier connection must never reach this one.
            c.upstream_out.clear();
            c.upstream_out_sent = 0;
            if let Some(ex) = c.exchange.as_mut() {
                ex.upstream = Some(ui);
                ex.head_sent = false;
            }
        }
    }

    pub(super) fn upstream_event(&mut self, ui: usize, flags: u32) {
        let Some(u) = self.upstreams.get_mut(ui) else {
            return;
        };
        let ci = u.owner;
        match u.state {
            UpstreamState::Idle => {
                // An idle connection became readable: the backend closed it (or misbehaved).
                self.close_upstream(ui);
            }
            UpstreamState::Connecting => {
                if sys::socket_error(u.fd.as_raw_fd()).is_err() {
                    self.close_upstream(ui);
                    self.upstream_failed(ci, None, true);
                } else {
                    u.state = UpstreamState::Busy;
                    if let Some(c) = self.clients.get_mut(ci) {
                        c.deadline = exchange_deadline(&self.runtime, self.now);
                    }
                    self.push_request(ci);
                }
            }
            UpstreamState::Busy => {
                if flags & WRITE != 0 {
                    self.push_request(ci);
                }
                if flags & !WRITE != 0 && self.upstreams.get(ui).is_some() {
                    self.upstream_readable(ci, ui);
                }
                // A reset while reads are paused (client backed up) would fire forever.
                let paused = self
                    .upstreams
                    .get(ui)
                    .is_some_and(|u| u.interest & READ == 0);
                if flags & BROKEN != 0 && paused {
                    self.upstream_broken(ci, ui);
                }
            }
        }
        self.refresh_upstream(ui);
        self.refresh_client(ci);
    }

    /// Sends what is ready for upstream: the head (first time) and request body bytes.
    pub(super) fn push_request(&mut self, ci: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        let Some(ex) = c.exchange.as_mut() else {
            return;
        };
        let Some(ui) = ex.upstream else {
            return;
        };
        let Some(u) = self.upstreams.get(ui) else {
            return;
        };
        if u.state != UpstreamState::Busy {
            return;
        }
        let fd = u.fd.as_raw_fd();
        if c.phase == Phase::Tunnel {
            return self.tunnel_to_upstream(ci);
        }
        // Earlier bytes still queued: they go first.
        if c.upstream_out_sent < c.upstream_out.len() {
            match flush(fd, &mut c.upstream_out, &mut c.upstream_out_sent) {
                Err(e) if !sys::would_block(&e) => return self.upstream_broken(ci, ui),
                _ => {}
            }
            if c.upstream_out_sent < c.upstream_out.len() {
                return;
            }
        }
        let head: &[u8] = if !ex.head_sent { &c.upstream_head } else { &[] };
        let body_len = if ex.request_done {
            0
        } else {
            match ex.request_body.feed(c.inbound.filled()) {
                Ok(n) => n,
                Err(_) => {
                    // Malformed chunked body: the backend already has the head; give up both.
                    return self.abort_exchange(ci, 400);
                }
            }
        };
        if !ex.request_done && ex.request_body.is_done() {
            ex.request_done = true;
        }
        if head.is_empty() && body_len == 0 {
            return;
        }
        let body = &c.inbound.filled()[..body_len];
        let total = head.len() + body.len();
        let sent = match sys::send2(fd, head, body) {
            Ok(n) => n,
            Err(e) if sys::would_block(&e) => 0,
            Err(_) => return self.upstream_broken(ci, ui),
        };
        if sent < total {
            c.upstream_out.clear();
            c.upstream_out_sent = 0;
            if sent < head.len() {
                c.upstream_out.extend_from_slice(&head[sent..]);
                c.upstream_out.extend_from_slice(body);
            } else {
                c.upstream_out.extend_from_slice(&body[sent - head.len()..]);
            }
        }
        ex.head_sent = true;
        c.inbound.consume(body_len);
    }

    pub(super) fn upstream_readable(&mut self, ci: usize, ui: usize) {
        let Some(u) = self.upstreams.get_mut(ui) else {
            return;
        };
        if u.inbound.is_full() {
            return;
        }
        match sys::recv(u.fd.as_raw_fd(), u.inbound.spare()) {
            Ok(0) => self.upstream_eof(ci, ui),
            Ok(n) => {
                u.inbound.commit(n);
                if let Some(c) = self.clients.get_mut(ci) {
                    if c.phase == Phase::Tunnel {
                        c.touch(&self.runtime, self.now);
                        return self.tunnel_to_client(ci, ui);
                    }
                    // A response head is due within the idle timeout as a whole: a backend
                    // trickling it byte by byte must not hold the exchange forever.
                    if c.exchange.as_ref().is_some_and(|ex| ex.response_head_seen) {
                        c.touch(&self.runtime, self.now);
                    }
                }
                self.pump_response(ci, ui);
            }
            Err(e) if sys::would_block(&e) => {}
            // Not an end: a reset in a close-delimited body must not pass for its last chunk.
            Err(_) => self.upstream_broken(ci, ui),
        }
    }

    /// Parses the response head (once) and forwards body bytes as they arrive.
    pub(super) fn pump_response(&mut self, ci: usize, ui: usize) {
        loop {
            let Some(c) = self.clients.get_mut(ci) else {
                return;
            };
            let Some(u) = self.upstreams.get_mut(ui) else {
                return;
            };
            if c.backlogged() {
                return; // the client is backed up; resume when it drains
            }
            let Some(ex) = c.exchange.as_mut() else {
                return;
            };
            if !ex.response_head_seen {
                let end = match find_head_end(u.inbound.filled(), &mut u.scanned, MAX_RESPONSE_HEAD)
                {
                    Ok(Some(end)) => end,
                    Ok(None) => return,
                    Err(_) => return self.bad_gateway(ci, ui),
                };
                u.scanned = 0;
                let runtime = &ex.runtime;
                if parse_response(
                    u.inbound.filled(),
                    end,
                    runtime.max_headers.max(100),
                    ex.is_head,
                    &mut c.response,
                )
                .is_err()
                {
                    return self.bad_gateway(ci, ui);
                }
                let status = c.response.status;
                if status < 200 && status != 101 {
                    // Interim (100 Continue, 103): relayed as received, but never to an
                    // HTTP/1.0 client, which cannot read them (RFC 9110 section 15.2).
                    if c.request.minor_version == 0 {
                        u.inbound.consume(end);
                        continue;
                    }
                    c.outbound.extend_from_slice(&u.inbound.filled()[..end]);
                    u.inbound.consume(end);
                    ex.sent_to_client = true;
                    if c.flush_out().is_err() {
                        return self.close_client(ci);
                    }
                    continue;
                }
                if status == 101 && !(ex.upgrade && c.response.upgrade_websocket) {
                    return self.bad_gateway(ci, ui);
                }
                let rules = ex
                    .route
                    .map(|(l, r)| &runtime.listeners[l].router.get(r).response_rules);
                // A body ended by the backend's close must be delimited for the client too:
                // chunked for HTTP/1.1 (its connection stays reusable), else by closing.
                let until_close = c.response.body == BodyKind::UntilClose;
                if until_close && c.request.minor_version == 1 {
                    ex.rechunk = Some(Rechunker::default());
                }
                let close = !c.keep_alive
                    || self.draining
                    || !ex.request_done
                    || (until_close && ex.rechunk.is_none());
                if close {
                    c.keep_alive = false;
                }
                write_response_head(
                    &mut c.outbound,
                    u.inbound.filled(),
                    &c.response,
                    rules,
                    close,
                    ex.keep_alive_1_0,
                    ex.rechunk.is_some(),
                );
                let pool = &runtime.pools[ex.pool];
                if let Affinity::Sticky { name, max_age_s } = &pool.affinity {
                    if ex.sticky != Some(ex.backend) {
                        append_sticky_cookie(
                            &mut c.outbound,
                            name,
                            pool.sticky_identities.identity(ex.backend),
                            self.shared.registry.sticky_secret,
                            *max_age_s,
                        );
                    }
                }
                u.inbound.consume(end);
                ex.response_head_seen = true;
                ex.response_body = BodyTracker::new(c.response.body);
                if status == 101 {
                    c.phase = Phase::Tunnel;
                    ex.request_done = true;
                    ex.sent_to_client = true;
                    self.tunnel_to_upstream(ci);
                    return self.tunnel_to_client(ci, ui);
                }
            }
            let body_len = match ex.response_body.feed(u.inbound.filled()) {
                Ok(n) => n,
                Err(_) => return self.bad_gateway(ci, ui),
            };
            ex.sent_to_client = true;
            if let Some(rechunker) = ex.rechunk.as_mut() {
                rechunker.before_data(&mut c.outbound, body_len);
            }
            let done = ex.response_body.is_done();
            let body = &u.inbound.filled()[..body_len];
            let result = c.send_with(body);
            u.inbound.consume(body_len);
            if result.is_err() {
                return self.close_client(ci);
            }
            if done {
                return self.finish_exchange(ci, ui);
            }
            return;
        }
    }

    /// The exchange ended well: return the upstream connection to the idle pool, account,
    /// and carry on with the next pipelined request (or close).
    pub(super) fn finish_exchange(&mut self, ci: usize, ui: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        let Some(mut ex) = c.exchange.take() else {
            return;
        };
        // The response may end before the request was delivered: then the upstream
        // connection is mid-request and the client's unsent bytes belong to nobody.
        let delivered = ex.request_done && c.upstream_out_sent >= c.upstream_out.len();
        if !delivered {
            c.keep_alive = false;
        }
        // The backend answered before the whole request body arrived: the rest is unread.
        c.linger |= !ex.request_done;
        c.upstream_out.clear();
        c.upstream_out_sent = 0;
        let reusable = c.response.keep_alive && delivered && !self.draining;
        let status = c.response.status;
        let outcome = if status >= 500 {
            RequestOutcome::ServerError
        } else {
            RequestOutcome::Success
        };
        let pool = &ex.runtime.pools[ex.pool];
        record_outcome(pool, ex.backend, outcome, self.now_ms);
        let (max_idle, idle_timeout) = (pool.max_idle_per_backend, pool.idle_timeout);
        self.record_metrics(&mut ex, status);
        Self::end_accounting(&ex);
        if let Some(u) = self.upstreams.get_mut(ui) {
            let list_len = self.idle.get(u.backend.uid).map_or(0, Vec::len);
            if reusable && u.inbound.is_empty() && list_len < max_idle {
                u.state = UpstreamState::Idle;
                u.reused = false;
                u.idle_until = self.now + idle_timeout;
                let uid = u.backend.uid;
                if self.idle.len() <= uid {
                    self.idle.resize_with(uid + 1, Vec::new);
                }
                self.idle[uid].push(ui);
            } else {
                self.close_upstream(ui);
            }
        }
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        if !c.keep_alive || self.draining {
            c.phase = Phase::Closing;
            return self.flush_client(ci);
        }
        c.phase = Phase::Head;
        c.awaiting_first_byte = true;
        c.deadline = self.runtime.idle_timeout.map(|t| self.now + t);
        if !c.inbound.is_empty() {
            self.start_requests(ci);
        }
    }

    pub(super) fn record_metrics(&self, ex: &mut Exchange, status: u16) {
        let seconds = self.now.saturating_duration_since(ex.started).as_secs_f64();
        if let (Some(line), Some(log)) = (ex.log.take(), &ex.runtime.access_log) {
            let runtime = &ex.runtime;
            let pool = &runtime.pools[ex.pool];
            let route = ex
                .route
                .map(|(l, r)| runtime.listeners[l].router.get(r).name.as_str());
            let backend = pool.backends[ex.backend].address;
            log.send(&crate::access_log::end_line(
                line,
                route,
                Some((&pool.name, backend)),
                status,
                seconds,
            ));
        }
        let backend = &ex.runtime.pools[ex.pool].backends[ex.backend];
        if let (Some(writer), Some(series)) = (&self.metrics, &backend.metrics) {
            series.record(writer, status, seconds);
        }
    }

    pub(super) fn end_accounting(ex: &Exchange) {
        if ex.counted {
            let pool = &ex.runtime.pools[ex.pool];
            pool.backends[ex.backend]
                .active
                .fetch_sub(1, Ordering::Relaxed);
            pool.balancer.on_finish(ex.backend);
        }
    }

    pub(super) fn upstream_eof(&mut self, ci: usize, ui: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return self.close_upstream(ui);
        };
        let Some(ex) = c.exchange.as_mut() else {
            return self.close_upstream(ui);
        };
        if c.phase == Phase::Tunnel {
            return self.close_client(ci);
        }
        if ex.response_head_seen && matches!(ex.response_body, BodyTracker::UntilClose) {
            // Close-delimited body: EOF is its end. Body bytes still buffered go first; then
            // a re-chunked body gets its last chunk (the client connection stays), an
            // unframed one ends with the client connection.
            c.response.keep_alive = false;
            if let Some(u) = self.upstreams.get_mut(ui) {
                let rest = u.inbound.filled();
                if let Some(rechunker) = ex.rechunk.as_mut() {
                    rechunker.before_data(&mut c.outbound, rest.len());
                }
                c.outbound.extend_from_slice(rest);
                u.inbound.clear();
            }
            match ex.rechunk.as_mut() {
                Some(rechunker) => rechunker.finish(&mut c.outbound),
                None => c.keep_alive = false,
            }
            if c.flush_out().is_err() {
                return self.close_client(ci);
            }
            return self.finish_exchange(ci, ui);
        }
        self.upstream_broken(ci, ui);
    }

    /// The upstream connection failed mid-exchange.
    pub(super) fn upstream_broken(&mut self, ci: usize, ui: usize) {
        let reused = self.upstreams.get(ui).is_some_and(|u| u.reused);
        self.close_upstream(ui);
        self.upstream_failed(ci, Some(reused), false);
    }

    /// Retries when it is safe (nothing sent to the client, replayable request), else 502.
    /// `reused` is Some(true) when a pooled connection broke: the backend probably closed it
    /// while idle, so the same backend is tried once more on a fresh connection.
    pub(super) fn upstream_failed(&mut self, ci: usize, reused: Option<bool>, connect: bool) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        let Some(ex) = c.exchange.as_mut() else {
            return;
        };
        ex.upstream = None;
        // A retry starts over from the head: a partly sent queue must not be replayed.
        c.upstream_out.clear();
        c.upstream_out_sent = 0;
        let runtime = Arc::clone(&ex.runtime);
        let pool = &runtime.pools[ex.pool];
        let stale_pooled = reused == Some(true);
        if !stale_pooled {
            pool.backends[ex.backend]
                .failures
                .fetch_add(1, Ordering::Relaxed);
            let outcome = if connect {
                RequestOutcome::ConnectFailure
            } else {
                RequestOutcome::ServerError
            };
            record_outcome(pool, ex.backend, outcome, self.now_ms);
        }
        if ex.sent_to_client || ex.response_head_seen {
            return self.close_client(ci);
        }
        if ex.replayable || (connect && !ex.head_sent) {
            if stale_pooled && ex.attempts == 0 {
                ex.attempts += 1;
                ex.head_sent = false;
                return self.attach_upstream(ci, false);
            }
            let now_ms = self.now_ms;
            if ex.attempts < pool.retries && pool.guards.retry_budget.allow_retry(now_ms) {
                let failed = ex.backend;
                let ctx = PickContext {
                    client_ip: c.ip,
                    hash_key: None,
                    sticky: None,
                };
                if let Some(next) = pool
                    .balancer
                    .pick(&ctx, &|i| i != failed && pool.eligible(i, now_ms))
                {
                    ex.attempts += 1;
                    Self::end_accounting(ex);
                    let ex = c.exchange.as_mut().expect("exchange checked above");
                    ex.counted = false;
                    ex.backend = next;
                    ex.head_sent = false;
                    return self.attach_upstream(ci, true);
                }
            }
        }
        self.abort_exchange(ci, 502);
    }

    pub(super) fn bad_gateway(&mut self, ci: usize, ui: usize) {
        if let Some(u) = self.upstreams.get(ui) {
            u.backend.failures.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(ex) = self.clients.get(ci).and_then(|c| c.exchange.as_ref()) {
            let pool = &ex.runtime.pools[ex.pool];
            record_outcome(pool, ex.backend, RequestOutcome::ServerError, self.now_ms);
        }
        self.close_upstream(ui);
        if let Some(ex) = self.clients.get_mut(ci).and_then(|c| c.exchange.as_mut()) {
            ex.upstream = None;
        }
        self.abort_exchange(ci, 502);
    }

    /// Ends the exchange with a local error response when nothing was sent yet, else closes.
    pub(super) fn abort_exchange(&mut self, ci: usize, status: u16) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        let Some(mut ex) = c.exchange.take() else {
            return self.close_client(ci);
        };
        Self::end_accounting(&ex);
        if ex.counted {
            self.record_metrics(&mut ex, status);
        }
        if let Some(ui) = ex.upstream {
            self.close_upstream(ui);
        }
        if ex.sent_to_client {
            return self.close_client(ci);
        }
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        c.inbound.clear();
        c.outbound.clear();
        c.outbound_sent = 0;
        write_local_response(&mut c.outbound, status, true);
        c.phase = Phase::Closing;
        c.linger |= !ex.request_done;
        self.flush_client(ci);
    }

    // ----- tunnels (after 101 Switching Protocols) -----

    pub(super) fn tunnel_to_upstream(&mut self, ci: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        let Some(ui) = c.exchange.as_ref().and_then(|ex| ex.upstream) else {
            return;
        };
        let Some(u) = self.upstreams.get(ui) else {
            return;
        };
        let fd = u.fd.as_raw_fd();
        if c.upstream_out_sent < c.upstream_out.len() {
            match flush(fd, &mut c.upstream_out, &mut c.upstream_out_sent) {
                Err(e) if !sys::would_block(&e) => return self.close_client(ci),
                _ => {}
            }
        }
        let data = c.inbound.filled();
        if data.is_empty() {
            return;
        }
        let len = data.len();
        if send_queued(fd, &mut c.upstream_out, &mut c.upstream_out_sent, data).is_err() {
            return self.close_client(ci);
        }
        c.inbound.consume(len);
    }

    pub(super) fn tunnel_to_client(&mut self, ci: usize, ui: usize) {
        let (Some(c), Some(u)) = (self.clients.get_mut(ci), self.upstreams.get_mut(ui)) else {
            return;
        };
        let data = u.inbound.filled();
        if data.is_empty() {
            return;
        }
        let len = data.len();
        if c.send_with(data).is_err() {
            return self.close_client(ci);
        }
        u.inbound.consume(len);
    }
}

/// Feeds a request's outcome to the pool's outlier detector and circuit breaker.
pub(super) fn record_outcome(pool: &Pool, backend: usize, outcome: RequestOutcome, now_ms: u64) {
    if let Some(outlier) = &pool.guards.outlier {
        outlier.record_result(backend, outcome, now_ms);
    }
    if let Some(breaker) = &pool.guards.breaker {
        breaker.record(outcome == RequestOutcome::Success, now_ms);
    }
}

/// Inserts a Set-Cookie field naming the backend `identity` before the blank line that ends
/// the head in `out`.
pub(super) fn append_sticky_cookie(
    out: &mut Vec<u8>,
    name: &[u8],
    identity: u64,
    secret: u64,
    max_age_s: u64,
) {
    use std::io::Write;
    out.truncate(out.len() - 2);
    out.extend_from_slice(b"Set-Cookie: ");
    out.extend_from_slice(name);
    out.push(b'=');
    write_sticky_cookie_value(out, identity, secret);
    out.extend_from_slice(b"; Path=/; HttpOnly");
    if max_age_s > 0 {
        let _ = write!(out, "; Max-Age={max_age_s}");
    }
    out.extend_from_slice(b"\r\n\r\n");
}
