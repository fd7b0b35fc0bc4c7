//! Lingering close. When the proxy ends a connection after a final response while the client may
//! still be sending its request (a local 4xx/429 answered before the body was read, a malformed
//! request, a backend that answered early), closing at once with unread bytes in the socket makes
//! the kernel send a reset, and a reset can destroy the response before the client read it. So
//! such a connection is half-closed (FIN after the response) and its input read and discarded
//! until the client closes, for at most `LINGER_TIME` and `LINGER_BYTES`, then closed. It is a
//! phase of the epoll loop like any other: no worker ever waits on it.
//!
//! The bounds: 2 s covers a client noticing the response and the data in flight meanwhile (as
//! HAProxy and nginx do with a few seconds); 1 MiB caps the bandwidth a client can make the proxy
//! sink for a request it already refused (an upload the proxy will never forward).

use super::*;

/// Longest time a refused client's input is drained after its response.
pub(super) const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most bytes drained after the response before the connection is closed anyway.
pub(super) const LINGER_BYTES: usize = 1 << 20;
/// Reads per readiness event, so one lingering client cannot monopolise the worker.
const READS_PER_EVENT: usize = 4;

impl Worker {
    /// Ends a connection whose final response is flushed: lingers when request bytes may still
    /// be on their way (`Client::linger`), else closes.
    pub(super) fn finish_closing(&mut self, ci: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        let fd = c.fd.as_raw_fd();
        if !c.linger || c.eof || c.exchange.is_some() || sys::shutdown_write(fd).is_err() {
            return self.close_client(ci);
        }
        c.phase = Phase::Lingering;
        c.inbound.clear();
        c.lingered = 0;
        c.deadline = Some(self.now + LINGER_TIME);
        c.interest = READ;
        if self.epoll.modify(fd, READ, c.token).is_err() {
            self.close_client(ci);
        }
    }

    /// Reads and discards a lingering client's input (raw bytes, even under TLS: nothing of it
    /// is processed); closes at EOF, on an error or past `LINGER_BYTES`.
    pub(super) fn linger_readable(&mut self, ci: usize) {
        let Some(c) = self.clients.get_mut(ci) else {
            return;
        };
        let fd = c.fd.as_raw_fd();
        for _ in 0..READS_PER_EVENT {
            match sys::recv(fd, c.inbound.spare()) {
                Ok(0) => return self.close_client(ci),
                Ok(n) => {
                    c.lingered += n;
                    if c.lingered >= LINGER_BYTES {
                        return self.close_client(ci);
                    }
                }
                Err(e) if sys::would_block(&e) => return,
                Err(_) => return self.close_client(ci),
            }
        }
    }
}
