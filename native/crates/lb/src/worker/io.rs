//! Byte plumbing of a client connection: plain or TLS reads, queued writes.

use super::*;

impl Client {
    /// Pushes the inactivity deadline out after progress, never past the total deadline
    /// (tunnels have none: a WebSocket may live as long as it is active).
    pub(super) fn touch(&mut self, runtime: &Runtime, now: Instant) {
        let idle = runtime.idle_timeout.map(|t| now + t);
        let total = match self.phase {
            Phase::Exchange => self.exchange.as_ref().and_then(|ex| ex.total_deadline),
            _ => None,
        };
        self.deadline = match (idle, total) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Receives into `inbound` (decrypting on TLS listeners); 0 means the peer closed.
    pub(super) fn recv(&mut self) -> std::io::Result<usize> {
        let fd = self.fd.as_raw_fd();
        match self.tls.as_mut() {
            None => {
                let n = sys::recv(fd, self.inbound.spare())?;
                self.inbound.commit(n);
                Ok(n)
            }
            Some(conn) => crate::tls::recv(fd, conn, &mut self.inbound),
        }
    }

    /// True when bytes for the client wait for the socket to drain.
    pub(super) fn backlogged(&self) -> bool {
        self.outbound_sent < self.outbound.len()
            || self.tls.as_ref().is_some_and(|conn| conn.wants_write())
    }

    /// Sends the queued output followed by `data`; what the socket does not take stays queued.
    pub(super) fn send_with(&mut self, data: &[u8]) -> std::io::Result<()> {
        let fd = self.fd.as_raw_fd();
        match self.tls.as_mut() {
            None => send_queued(fd, &mut self.outbound, &mut self.outbound_sent, data),
            Some(conn) => {
                // rustls keeps whatever the socket does not take, so the queue empties here.
                let result = crate::tls::send(fd, conn, &self.outbound[self.outbound_sent..], data);
                self.outbound.clear();
                self.outbound_sent = 0;
                result
            }
        }
    }

    /// Sends queued output; `WouldBlock` is not an error (the rest waits for EPOLLOUT).
    pub(super) fn flush_out(&mut self) -> std::io::Result<()> {
        self.send_with(&[])
    }
}

/// Writes queued bytes from `sent` on; clears the queue when all went out.
pub(super) fn flush(fd: i32, queue: &mut Vec<u8>, sent: &mut usize) -> std::io::Result<()> {
    while *sent < queue.len() {
        let n = sys::send2(fd, &queue[*sent..], &[])?;
        *sent += n;
    }
    queue.clear();
    *sent = 0;
    Ok(())
}

/// Sends queued bytes plus `data` in one call; what does not fit is queued.
pub(super) fn send_queued(
    fd: i32,
    queue: &mut Vec<u8>,
    sent: &mut usize,
    data: &[u8],
) -> std::io::Result<()> {
    let pending = queue.len() - *sent;
    if pending == 0 && data.is_empty() {
        return Ok(());
    }
    let written = match sys::send2(fd, &queue[*sent..], data) {
        Ok(n) => n,
        Err(e) if sys::would_block(&e) => 0,
        Err(e) => return Err(e),
    };
    if written >= pending {
        queue.clear();
        *sent = 0;
        queue.extend_from_slice(&data[written - pending..]);
    } else {
        *sent += written;
        queue.extend_from_slice(data);
    }
    Ok(())
}

/// Whether a TLS session holds decrypted bytes not yet moved into the client buffer.
pub(super) fn has_plaintext(conn: &mut rustls::ServerConnection) -> bool {
    // With no new records this only reports the state (a session error surfaces on next read).
    conn.process_new_packets()
        .is_ok_and(|state| state.plaintext_bytes_to_read() > 0)
}
