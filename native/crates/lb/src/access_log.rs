//! The structured access log: workers format one JSON line per request and append it to a
//! shared in-memory queue; a writer thread takes the queue every few milliseconds and writes it
//! with one system call. Workers never wake the writer (no futex, no context switch per
//! request) and never wait for the disk: when the queue is over its bound, lines are dropped
//! and counted.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::LbError;

/// Bytes the queue may hold before lines are dropped.
const QUEUE_BYTES: usize = 8 << 20;
const WRITE_EVERY: Duration = Duration::from_millis(20);

/// The sending side, held by a configuration generation.
pub struct AccessLog {
    queue: Arc<Mutex<Vec<u8>>>,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Opens `path` for appending and starts its writer thread, which ends (after a last
    /// write) once this handle is dropped.
    pub fn start(path: &str, dropped: Arc<AtomicU64>) -> Result<Self, LbError> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| LbError::invalid(format!("access_log.path: cannot open {path:?}: {e}")))?;
        let queue = Arc::new(Mutex::new(Vec::with_capacity(64 * 1024)));
        let shared = Arc::clone(&queue);
        std::thread::Builder::new()
            .name("lb-access-log".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(64 * 1024);
                loop {
                    std::thread::sleep(WRITE_EVERY);
                    let last = Arc::strong_count(&shared) == 1;
                    std::mem::swap(
                        &mut batch,
                        &mut *shared.lock().unwrap_or_else(|e| e.into_inner()),
                    );
                    // A failing disk must not stop the proxy: lines are best effort by design.
                    let _ = file.write_all(&batch);
                    batch.clear();
                    if last {
                        return;
                    }
                }
            })
            .map_err(|e| LbError::io("cannot start the access log thread", e))?;
        Ok(Self { queue, dropped })
    }

    /// Queues one line, or drops and counts it when the writer is behind.
    pub fn send(&self, line: &[u8]) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() + line.len() > QUEUE_BYTES {
            drop(queue);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            queue.extend_from_slice(line);
        }
    }
}

/// Appends `value` as a JSON string.
fn json_string(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    for &b in value {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(b),
            _ => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
    }
    out.push(b'"');
}

/// The request half of a line, written when the request starts.
pub fn begin_line(method: &[u8], target: &[u8], host: Option<&[u8]>, client: IpAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let _ = write!(
        out,
        "{{\"ts_ms\":{millis},\"client\":\"{client}\",\"method\":"
    );
    json_string(&mut out, method);
    out.extend_from_slice(b",\"target\":");
    json_string(&mut out, target);
    out.extend_from_slice(b",\"host\":");
    match host {
        Some(host) => json_string(&mut out, host),
        None => out.extend_from_slice(b"null"),
    }
    out
}

/// Completes a line with the outcome; `upstream` is (pool, backend) unless the proxy answered
/// by itself (no route, rate limited, no backend available).
pub fn end_line(
    mut line: Vec<u8>,
    route: Option<&str>,
    upstream: Option<(&str, std::net::SocketAddr)>,
    status: u16,
    seconds: f64,
) -> Vec<u8> {
    line.extend_from_slice(b",\"route\":");
    match route {
        Some(route) => json_string(&mut line, route.as_bytes()),
        None => line.extend_from_slice(b"null"),
    }
    match upstream {
        Some((pool, backend)) => {
            line.extend_from_slice(b",\"pool\":");
            json_string(&mut line, pool.as_bytes());
            // A socket address needs no escaping.
            let _ = write!(line, ",\"backend\":\"{backend}\"");
        }
        None => line.extend_from_slice(b",\"pool\":null,\"backend\":null"),
    }
    let _ = writeln!(
        line,
        ",\"status\":{status},\"duration_ms\":{:.3}}}",
        seconds * 1e3
    );
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_valid_json_with_escaped_strings() {
        let start = begin_line(b"GET", b"/a\"b\\c", Some(b"h"), IpAddr::from([10, 0, 0, 1]));
        let backend = "127.0.0.1:80".parse().unwrap();
        let line = end_line(start, Some("api"), Some(("app", backend)), 200, 0.0015);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["target"], "/a\"b\\c");
        assert_eq!(value["client"], "10.0.0.1");
        assert_eq!(value["status"], 200);
        assert_eq!(value["route"], "api");
        assert_eq!(value["backend"], "127.0.0.1:80");
        assert!(line.ends_with(b"}\n"));
        let local = begin_line(b"GET", b"/", None, IpAddr::from([10, 0, 0, 2]));
        let local: serde_json::Value =
            serde_json::from_slice(&end_line(local, None, None, 404, 0.0)).unwrap();
        assert_eq!(
            (local["pool"].is_null(), local["status"].as_u64()),
            (true, Some(404))
        );
    }
}
