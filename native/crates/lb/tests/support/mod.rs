//! Shared by the loopback tests: a tiny threaded HTTP backend, the engine's configuration and
//! raw-socket clients.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use thecloud_lb::Engine;

/// A backend answering every request with its name and the request's headers echoed as body.
pub struct Backend {
    pub address: SocketAddr,
    pub requests: Arc<AtomicUsize>,
}

pub fn read_head(reader: &mut BufReader<TcpStream>) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return Some(lines);
        }
        lines.push(line);
    }
}

/// A backend on a fresh port: every connection's requests get `answer`'s response (given the
/// request head, the reader for its body and the request counter), until the client leaves.
fn serve<F>(answer: F) -> Backend
where
    F: Fn(&[String], &mut BufReader<TcpStream>, &AtomicUsize) -> String + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    let answer = Arc::new(answer);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (counter, answer) = (Arc::clone(&counter), Arc::clone(&answer));
            thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while let Some(head) = read_head(&mut reader) {
                    let response = answer(&head, &mut reader, &counter);
                    if writer.write_all(response.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Backend { address, requests }
}

/// Reads the Content-Length framed body that follows `head` (none without the header).
fn read_body(head: &[String], reader: &mut BufReader<TcpStream>) -> Vec<u8> {
    let length = head
        .iter()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    body
}

pub fn start_backend(name: &'static str) -> Backend {
    serve(move |head, reader, counter| {
        counter.fetch_add(1, Ordering::SeqCst);
        let body = read_body(head, reader);
        let mut text = format!("{name}\n{}\n", head.join("\n"));
        text.push_str(&String::from_utf8_lossy(&body));
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Backend: {name}\r\n\r\n{text}",
            text.len()
        )
    })
}

pub fn config(backends: &[&Backend], extra_routes: &str) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|b| format!(r#"{{"address": "{}", "weight": 1}}"#, b.address))
        .collect();
    format!(
        r#"{{
  "workers": 1,
  "listeners": [{{"name": "web", "bind": "127.0.0.1:0", "tls": null, "default_pool": "app",
                  "routes": [{extra_routes}]}}],
  "pools": [{{"name": "app", "backends": [{}],
             "algorithm": {{"kind": "round_robin", "hash_on": null, "key": null, "cookie": null}},
             "health_check": null, "outlier": null, "slow_start_ms": 0,
             "max_connections_per_backend": 0, "max_idle_per_backend": 64, "idle_timeout_ms": 60000,
             "retries": {{"attempts": 1, "budget_percent": 20, "min_per_second": 10}},
             "circuit_breaker": null}}],
  "timeouts": {{"connect_ms": 2000, "request_headers_ms": 300, "idle_ms": 60000, "total_ms": 0}},
  "limits": {{"max_connections": 10000, "max_header_bytes": 1024, "max_headers": 20, "rate_limit": null}},
  "forwarding": {{"x_forwarded_for": true, "x_forwarded_proto": true, "forwarded": true,
                 "request_id_header": "x-request-id"}},
  "access_log": {{"enabled": false, "path": null}}
}}"#,
        list.join(", ")
    )
}

pub fn start(json: &str) -> (Engine, SocketAddr) {
    let engine = Engine::new(json, None).unwrap();
    engine.start().unwrap();
    let address = engine.addresses().unwrap()["web"];
    (engine, address)
}

/// Reads one response (Content-Length framed); returns status line, headers, body.
pub fn read_response(reader: &mut BufReader<TcpStream>) -> (String, Vec<String>, String) {
    let head = read_head(reader).expect("a response head");
    let body = read_body(&head, reader);
    (
        head[0].clone(),
        head[1..].to_vec(),
        String::from_utf8(body).unwrap(),
    )
}

pub fn connect(address: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

/// A backend answering by script, per request path (see each branch).
pub fn start_scripted() -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while let Some(head) = read_head(&mut reader) {
                    let line = head[0].clone();
                    if line.starts_with("GET /chunked") {
                        writer
                            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                            .unwrap();
                    } else if line.starts_with("HEAD") {
                        writer
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
                            .unwrap();
                    } else if line.starts_with("GET /empty") {
                        writer
                            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                            .unwrap();
                    } else if line.starts_with("POST /continue") {
                        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
                        let mut body = [0u8; 4];
                        reader.read_exact(&mut body).unwrap();
                        writer
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
                            .unwrap();
                        writer.write_all(&body).unwrap();
                    } else if line.starts_with("GET /fake101") {
                        writer
                            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
                            .unwrap();
                    } else if line.starts_with("GET /until-close") {
                        // HTTP/1.0 style: no length, no chunked; the close ends the body.
                        writer
                            .write_all(b"HTTP/1.0 200 OK\r\nX-Framing: none\r\n\r\nhello ")
                            .unwrap();
                        thread::sleep(Duration::from_millis(30));
                        writer.write_all(b"world").unwrap();
                        return;
                    } else if line.starts_with("GET /until-reset") {
                        // A close-delimited body cut by a reset (SO_LINGER 0), not a close.
                        writer.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello ").unwrap();
                        thread::sleep(Duration::from_millis(50));
                        reset_on_close(&writer);
                        return;
                    } else if line.starts_with("POST /early") {
                        // Refuses the upload before reading it, then drains it (no reset).
                        writer
                            .write_all(
                                b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n",
                            )
                            .unwrap();
                        let mut sink = [0u8; 16 * 1024];
                        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
                        return;
                    } else if line.starts_with("GET /hints") {
                        writer
                            .write_all(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .unwrap();
                    } else if line.starts_with("GET /ws") {
                        writer
                            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                            .unwrap();
                        let mut buf = [0u8; 64];
                        loop {
                            match reader.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => writer.write_all(&buf[..n]).unwrap(),
                            }
                        }
                    }
                }
            });
        }
    });
    Backend {
        address,
        requests: Arc::new(AtomicUsize::new(0)),
    }
}

/// A backend whose health endpoint answers 503 and everything else 200.
pub fn start_sick(name: &'static str) -> Backend {
    serve(move |head, _, counter| {
        if head[0].starts_with("GET /healthz") {
            return "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n".to_owned();
        }
        counter.fetch_add(1, Ordering::SeqCst);
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
            name.len()
        )
    })
}

/// Makes closing `stream` send a reset instead of a FIN.
pub fn reset_on_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized option value.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
}
