//! One active HTTP check as a non-blocking state machine: connect, send `GET path`, read the
//! status line, pass when the status is in an expected range. The checker's epoll loop drives
//! many of them at once, so a backend that never answers delays nobody and stop() never waits
//! for a connect.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::HealthCheckConfig;
use crate::runtime::BackendState;
use crate::sys::{self, READ, WRITE};

/// Bytes read of the response: `HTTP/1.x SSS`.
const STATUS_PREFIX: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Connecting,
    Sending,
    Reading,
}

/// Where a probe stands after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Needs more readiness: the epoll interest to wait with.
    Waiting(u32),
    /// Finished: the backend passed (true) or failed (false).
    Done(bool),
}

/// A probe in flight.
pub struct Probe {
    fd: OwnedFd,
    pub backend: Arc<BackendState>,
    /// The whole probe (connect, send, status line) must finish by then.
    pub deadline: Instant,
    stage: Stage,
    request: Vec<u8>,
    sent: usize,
    head: [u8; STATUS_PREFIX],
    got: usize,
    expected: Vec<(u16, u16)>,
}

impl Probe {
    /// Starts the connect; Err when it failed at once (the check then fails).
    pub fn start(
        backend: Arc<BackendState>,
        check: &HealthCheckConfig,
        now: Instant,
    ) -> std::io::Result<Self> {
        let (fd, connected) = sys::connect(&backend.address)?;
        Ok(Self {
            request: request(check, &backend.address),
            fd,
            backend,
            deadline: now + Duration::from_millis(check.timeout_ms.max(1)),
            stage: if connected {
                Stage::Sending
            } else {
                Stage::Connecting
            },
            sent: 0,
            head: [0; STATUS_PREFIX],
            got: 0,
            expected: check.expected_status.clone(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The readiness the probe waits for now.
    pub fn interest(&self) -> u32 {
        match self.stage {
            Stage::Connecting | Stage::Sending => WRITE,
            Stage::Reading => READ,
        }
    }

    /// Moves the probe on after its socket became ready (or failed).
    pub fn advance(&mut self) -> Progress {
        loop {
            match self.stage {
                Stage::Connecting => {
                    if sys::socket_error(self.fd()).is_err() {
                        return Progress::Done(false);
                    }
                    self.stage = Stage::Sending;
                }
                Stage::Sending => match sys::send2(self.fd(), &self.request[self.sent..], &[]) {
                    Ok(n) => {
                        self.sent += n;
                        if self.sent == self.request.len() {
                            self.stage = Stage::Reading;
                        }
                    }
                    Err(e) if sys::would_block(&e) => return Progress::Waiting(WRITE),
                    Err(_) => return Progress::Done(false),
                },
                Stage::Reading => match sys::recv(self.fd(), &mut self.head[self.got..]) {
                    Ok(0) => return Progress::Done(false),
                    Ok(n) => {
                        self.got += n;
                        if self.got == STATUS_PREFIX {
                            return Progress::Done(passes(&self.head, &self.expected));
                        }
                    }
                    Err(e) if sys::would_block(&e) => return Progress::Waiting(READ),
                    Err(_) => return Progress::Done(false),
                },
            }
        }
    }
}

fn request(check: &HealthCheckConfig, address: &SocketAddr) -> Vec<u8> {
    let host = check.host.clone().unwrap_or_else(|| address.to_string());
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: thecloud-lb-health\r\nConnection: close\r\n\r\n",
        check.path
    )
    .into_bytes()
}

/// Whether a status line prefix carries an expected status.
fn passes(head: &[u8; STATUS_PREFIX], expected: &[(u16, u16)]) -> bool {
    if !head.starts_with(b"HTTP/1.") || head[8] != b' ' {
        return false;
    }
    let digits = &head[9..12];
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let status = digits
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    expected
        .iter()
        .any(|&(low, high)| (low..=high).contains(&status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_pass_only_inside_the_expected_ranges() {
        let ranges = [(200, 299), (304, 304)];
        assert!(passes(b"HTTP/1.1 200", &ranges));
        assert!(passes(b"HTTP/1.0 304", &ranges));
        assert!(!passes(b"HTTP/1.1 503", &ranges));
        assert!(!passes(b"HTTP/1.1 2x0", &ranges));
        assert!(!passes(b"SSH-2.0-Open", &ranges));
    }
}
