//! End-to-end checks of the engine over loopback sockets with a tiny threaded HTTP backend.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use support::*;
use thecloud_lb::Engine;

#[test]
fn proxies_keep_alive_requests_with_forwarding_headers() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    for _ in 0..3 {
        stream
            .write_all(b"GET /x HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n")
            .unwrap();
        let (status, headers, body) = read_response(&mut reader);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(headers.iter().any(|h| h == "X-Backend: one"));
        assert!(
            body.contains("X-Forwarded-For: 10.0.0.1, 127.0.0.1"),
            "{body}"
        );
        assert!(body.contains("X-Forwarded-Proto: http"), "{body}");
        assert!(
            body.contains("Forwarded: for=127.0.0.1;proto=http"),
            "{body}"
        );
        assert!(body.contains("x-request-id: "), "{body}");
    }
    assert_eq!(backend.requests.load(Ordering::SeqCst), 3);
    engine.stop();
}

#[test]
fn pipelined_requests_are_answered_in_order_and_bodies_are_forwarded() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(
            b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: h\r\n\r\n\
              POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )
        .unwrap();
    let (_, _, first) = read_response(&mut reader);
    assert!(
        first.contains("POST /a") && first.ends_with("hello"),
        "{first}"
    );
    let (_, _, second) = read_response(&mut reader);
    assert!(second.contains("GET /b"), "{second}");
    // The chunked request reaches the backend still chunked; the toy backend reads no body,
    // so only check that it was routed in order.
    let (_, _, third) = read_response(&mut reader);
    assert!(third.contains("POST /c"), "{third}");
    engine.stop();
}

#[test]
fn hostile_requests_get_400_and_are_never_forwarded() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let cases: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n",
        b"GET / HTTP/1.1\nHost: h\n\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n",
        b"GET http://evil.test/ HTTP/1.1\r\nHost: good.test\r\n\r\n",
    ];
    for case in cases {
        let (mut stream, mut reader) = connect(address);
        stream.write_all(case).unwrap();
        let (status, headers, _) = read_response(&mut reader);
        assert!(status.starts_with("HTTP/1.1 400"), "{status} for {case:?}");
        assert!(headers.iter().any(|h| h == "Connection: close"));
        let mut rest = Vec::new();
        assert_eq!(
            reader.read_to_end(&mut rest).unwrap(),
            0,
            "connection closed"
        );
    }
    let (mut stream, mut reader) = connect(address);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    stream.write_all(big.as_bytes()).unwrap();
    let (status, _, _) = read_response(&mut reader);
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    assert_eq!(backend.requests.load(Ordering::SeqCst), 0);
    engine.stop();
}

#[test]
fn slowloris_is_cut_by_the_header_timeout() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream.write_all(b"GET / HTTP/1.1\r\nHost:").unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "cut after {:?}",
        started.elapsed()
    );
    engine.stop();
}

#[test]
fn routes_rewrite_headers_and_update_swaps_pools() {
    let one = start_backend("one");
    let two = start_backend("two");
    let route = r#"{"name": "api", "host": "*.example", "path": {"kind": "prefix", "value": "/api/"},
                    "pool": "app", "request_headers": {"add": [["x-added", "1"]], "set": [], "remove": ["x-secret"]},
                    "response_headers": {"add": [], "set": [["x-backend", "hidden"]], "remove": []}}"#;
    let (engine, address) = start(&config(&[&one], route));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET /api/v1 HTTP/1.1\r\nHost: www.example:80\r\nX-Secret: s\r\n\r\n")
        .unwrap();
    let (_, headers, body) = read_response(&mut reader);
    assert!(
        body.contains("x-added: 1") && !body.contains("X-Secret"),
        "{body}"
    );
    assert!(
        headers.iter().any(|h| h == "x-backend: hidden"),
        "{headers:?}"
    );
    engine.update(&config(&[&two], "")).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let (_, _, body) = read_response(&mut reader);
    assert!(body.starts_with("two"), "{body}");
    let stats: serde_json::Value = serde_json::from_str(&engine.stats_json()).unwrap();
    assert_eq!(stats["requests_total"], 2);
    engine.stop();
}

/// A backend that reads a request head and closes without answering.
fn start_killer() -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            if read_head(&mut reader).is_some() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Backend { address, requests }
}

#[test]
fn refused_connections_are_retried_on_another_backend() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_address = dead.local_addr().unwrap();
    drop(dead);
    let alive = start_backend("alive");
    let fake = Backend {
        address: dead_address,
        requests: Arc::new(AtomicUsize::new(0)),
    };
    let (engine, address) = start(&config(&[&fake, &alive], ""));
    // Nothing reached the dead backend, so even a POST is safe to send elsewhere.
    for request in [
        &b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx",
    ]
    .repeat(2)
    {
        let (mut stream, mut reader) = connect(address);
        stream.write_all(request).unwrap();
        assert_eq!(read_response(&mut reader).0, "HTTP/1.1 200 OK");
    }
    let stats: serde_json::Value = serde_json::from_str(&engine.stats_json()).unwrap();
    assert!(
        stats["pools"]["app"]["backends"][0]["failures"]
            .as_u64()
            .unwrap()
            >= 1
    );
    engine.stop();
}

#[test]
fn a_backend_dying_mid_request_gives_502_for_that_request_only() {
    let killer = start_killer();
    let alive = start_backend("alive");
    let (engine, address) = start(&config(&[&killer, &alive], ""));
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let (mut stream, mut reader) = connect(address);
        stream
            .write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx")
            .unwrap();
        statuses.push(read_response(&mut reader).0);
    }
    statuses.sort();
    assert_eq!(statuses, ["HTTP/1.1 200 OK", "HTTP/1.1 502 Bad Gateway"]);
    // Idempotent requests are retried on the other backend.
    for _ in 0..4 {
        let (mut stream, mut reader) = connect(address);
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut reader).0, "HTTP/1.1 200 OK");
    }
    assert!(killer.requests.load(Ordering::SeqCst) >= 2);
    engine.stop();
}

/// A backend with scripted answers per path, to exercise framing corner cases.
#[test]
fn chunked_head_and_no_content_responses_keep_the_connection_in_sync() {
    let backend = start_scripted();
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /empty HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let head = read_head(&mut reader).unwrap();
    assert!(
        head.iter().any(|h| h == "Transfer-Encoding: chunked"),
        "{head:?}"
    );
    let mut chunked = vec![0u8; b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".len()];
    reader.read_exact(&mut chunked).unwrap();
    assert_eq!(chunked, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    let head = read_head(&mut reader).unwrap();
    assert!(head.iter().any(|h| h == "Content-Length: 10"));
    let head = read_head(&mut reader).unwrap();
    assert_eq!(head[0], "HTTP/1.1 204 No Content");
    engine.stop();
}

#[test]
fn expect_continue_relays_the_interim_response() {
    let backend = start_scripted();
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"POST /continue HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut reader).unwrap()[0], "HTTP/1.1 100 Continue");
    stream.write_all(b"ping").unwrap();
    let (status, _, body) = read_response(&mut reader);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ping")
    );
    engine.stop();
}

#[test]
fn upgraded_connections_are_tunnelled_both_ways() {
    let backend = start_scripted();
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .unwrap();
    let head = read_head(&mut reader).unwrap();
    assert_eq!(head[0], "HTTP/1.1 101 Switching Protocols");
    assert!(head.iter().any(|h| h == "Upgrade: websocket"));
    for message in [&b"hello"[..], b"again"] {
        stream.write_all(message).unwrap();
        let mut echo = vec![0u8; message.len()];
        reader.read_exact(&mut echo).unwrap();
        assert_eq!(echo, message);
    }
    engine.stop();
}

#[test]
fn only_websocket_upgrades_are_tunnelled_and_the_101_must_match() {
    let echo = start_backend("one");
    let (engine, address) = start(&config(&[&echo], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        .unwrap();
    let (status, _, body) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(!body.contains("Upgrade") && !body.contains("h2c"), "{body}");
    engine.stop();

    let scripted = start_scripted();
    let (engine, address) = start(&config(&[&scripted], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET /fake101 HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        .unwrap();
    let (status, _, _) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 502 Bad Gateway");
    engine.stop();
}

#[test]
fn the_access_log_gets_one_json_line_per_request() {
    let backend = start_backend("one");
    let path = std::env::temp_dir().join(format!("lb-access-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let json = config(&[&backend], "").replace(
        r#""access_log": {"enabled": false, "path": null}"#,
        &format!(
            r#""access_log": {{"enabled": true, "path": "{}"}}"#,
            path.display()
        ),
    );
    let (engine, address) = start(&json);
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET /logged HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    read_response(&mut reader);
    engine.stop();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let text = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() || std::time::Instant::now() > deadline {
            break text;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line["target"], "/logged");
    assert_eq!(line["status"], 200);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn drain_waits_for_in_flight_connections() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    read_response(&mut reader);
    // An idle keep-alive connection is closed by drain; new connections are refused.
    assert!(engine.drain(Duration::from_secs(2)).unwrap());
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);
    assert!(TcpStream::connect(address).is_err());
    engine.stop();
}

#[test]
fn failing_health_checks_take_a_backend_out_of_rotation() {
    let sick = start_sick("sick");
    let healthy = start_backend("healthy");
    let json = config(&[&sick, &healthy], "").replace(
        r#""health_check": null"#,
        r#""health_check": {"path": "/healthz", "interval_ms": 20, "timeout_ms": 500, "rise": 1,
            "fall": 1, "expected_status": [[200, 399]], "host": null}"#,
    );
    let (engine, address) = start(&json);
    // The echo backend answers 200 to /healthz too, so only the sick one goes down.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let stats: serde_json::Value = serde_json::from_str(&engine.stats_json()).unwrap();
        if stats["pools"]["app"]["backends"][0]["up"] == false {
            assert_eq!(stats["pools"]["app"]["backends"][1]["up"], true);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never marked down: {stats}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let before = sick.requests.load(Ordering::SeqCst);
    for _ in 0..6 {
        let (mut stream, mut reader) = connect(address);
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap();
        let (_, _, body) = read_response(&mut reader);
        assert!(body.starts_with("healthy"), "{body}");
    }
    assert_eq!(sick.requests.load(Ordering::SeqCst), before);
    engine.stop();
}

#[test]
fn large_bodies_stream_both_ways_through_small_buffers() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    let body: Vec<u8> = (0..4 * 1024 * 1024)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let head = format!(
        "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let body = body.clone();
        thread::spawn(move || {
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        })
    };
    let (status, _, echoed) = read_response(&mut reader);
    writer.join().unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(echoed.ends_with(std::str::from_utf8(&body[body.len() - 100..]).unwrap()));
    assert!(echoed.len() > body.len());
    stream
        .write_all(b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let (_, _, after) = read_response(&mut reader);
    assert!(after.contains("GET /after"));
    engine.stop();
}

#[test]
fn uploads_wait_for_a_slow_backend_instead_of_stalling() {
    // The backend reads the body only after a pause, so the upstream socket fills and the
    // proxy must wait for EPOLLOUT, then resume reading the client.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let head = read_head(&mut reader).unwrap();
        let length: usize = head
            .iter()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        thread::sleep(Duration::from_millis(300));
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            body.len().to_string().len()
        );
        writer.write_all(answer.as_bytes()).unwrap();
        writer.write_all(body.len().to_string().as_bytes()).unwrap();
    });
    let slow = Backend {
        address,
        requests: Arc::new(AtomicUsize::new(0)),
    };
    let (engine, proxy) = start(&config(&[&slow], ""));
    let (mut stream, mut reader) = connect(proxy);
    let size = 16 * 1024 * 1024;
    stream
        .write_all(
            format!("PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: {size}\r\n\r\n").as_bytes(),
        )
        .unwrap();
    stream.write_all(&vec![b'u'; size]).unwrap();
    let (status, _, body) = read_response(&mut reader);
    assert_eq!(
        (status.as_str(), body),
        ("HTTP/1.1 200 OK", size.to_string())
    );
    engine.stop();
}

#[test]
fn fields_named_by_connection_are_not_forwarded() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: x-hop, keep-alive\r\nX-Hop: 1\r\nX-Kept: 2\r\nKeep-Alive: 5\r\n\r\n")
        .unwrap();
    let (_, _, body) = read_response(&mut reader);
    assert!(body.contains("X-Kept: 2"), "{body}");
    assert!(
        !body.contains("X-Hop") && !body.contains("Keep-Alive") && !body.contains("Connection"),
        "{body}"
    );
    engine.stop();
}

#[test]
fn connection_cannot_remove_framing_or_host_and_framing_is_canonical() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    // CL.0 smuggling attempt: were Content-Length dropped, "GET /smuggled" would be a
    // second request on the upstream connection.
    let smuggled = b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: h\r\nConnection: content-length, host, transfer-encoding\r\nContent-Length: {0}, {0}\r\nContent-Length: {0}\r\n\r\n",
        smuggled.len()
    )
    .into_bytes();
    request.extend_from_slice(smuggled);
    stream.write_all(&request).unwrap();
    let (status, _, body) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let length_line = format!("Content-Length: {}", smuggled.len());
    assert_eq!(body.matches("Content-Length").count(), 1, "{body}");
    assert!(body.contains(&length_line), "{body}");
    assert!(body.contains("Host: h"), "{body}");
    assert!(
        body.ends_with("GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"),
        "{body}"
    );
    assert_eq!(backend.requests.load(Ordering::SeqCst), 1);
    engine.stop();
}

#[test]
fn absolute_form_targets_without_a_path_get_one_and_lose_the_fragment() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    for (target, line) in [
        ("http://h?a=1", "GET /?a=1 HTTP/1.1"),
        ("http://h#frag", "GET / HTTP/1.1"),
        ("http://h/p?q#frag", "GET /p?q HTTP/1.1"),
    ] {
        stream
            .write_all(format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
            .unwrap();
        let (status, _, body) = read_response(&mut reader);
        assert_eq!(status, "HTTP/1.1 200 OK", "{target}");
        assert_eq!(body.lines().nth(1), Some(line), "{body}");
    }
    engine.stop();
}

#[test]
fn every_client_x_forwarded_for_line_is_kept_in_order() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3\r\n\r\n")
        .unwrap();
    let (_, _, body) = read_response(&mut reader);
    assert!(
        body.contains("X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1"),
        "{body}"
    );
    assert_eq!(body.matches("X-Forwarded-For").count(), 1, "{body}");
    engine.stop();
}

#[test]
fn http_1_0_clients_are_proxied_with_http_1_0_upstream() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream.write_all(b"GET /old HTTP/1.0\r\n\r\n").unwrap();
    let (status, headers, body) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.iter().any(|h| h == "Connection: close"),
        "{headers:?}"
    );
    assert!(
        body.contains("GET /old HTTP/1.0") && body.contains("Host: 127.0.0.1:"),
        "{body}"
    );
    engine.stop();
}

/// xorshift64*, for the socket-level fuzz below.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn random_garbage_never_reaches_the_backend_unparsed_or_kills_the_proxy() {
    let backend = start_backend("one");
    let (engine, address) = start(&config(&[&backend], ""));
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let seed: &[u8] = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    for _ in 0..200 {
        let mut input = seed.to_vec();
        for _ in 0..1 + next_random(&mut state) % 6 {
            let at = (next_random(&mut state) % input.len() as u64) as usize;
            match next_random(&mut state) % 3 {
                0 => input[at] = next_random(&mut state) as u8,
                1 => {
                    input.remove(at);
                }
                _ => input.insert(at, b"\r\n\0 :"[(next_random(&mut state) % 5) as usize]),
            }
        }
        let Ok(mut stream) = TcpStream::connect(address) else {
            panic!("the proxy stopped accepting");
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let _ = stream.write_all(&input);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        // Whatever came back is an HTTP response from us or the backend, never garbage.
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 "),
            "{answer:?}"
        );
    }
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut reader).0, "HTTP/1.1 200 OK");
    engine.stop();
}

#[test]
fn configurations_rewriting_framing_or_with_bad_probe_requests_are_refused() {
    let backend = start_backend("one");
    let base = config(&[&backend], "");
    let route = |rules: &str| {
        format!(
            r#"{{"name": "r", "host": null, "path": null, "pool": "app", "request_headers": {rules},
                 "response_headers": {{"add": [], "set": [], "remove": []}}}}"#
        )
    };
    let health = |path: &str, host: &str| {
        base.replace(
            r#""health_check": null"#,
            &format!(
                r#""health_check": {{"path": {path}, "interval_ms": 20, "timeout_ms": 500,
                    "rise": 1, "fall": 1, "expected_status": [[200, 399]], "host": {host}}}"#
            ),
        )
    };
    let cases = [
        (
            config(
                &[&backend],
                &route(r#"{"add": [], "set": [], "remove": ["Content-Length"]}"#),
            ),
            "request_headers",
        ),
        (
            config(
                &[&backend],
                &route(r#"{"add": [["transfer-encoding", "chunked"]], "set": [], "remove": []}"#),
            ),
            "request_headers",
        ),
        (
            base.replace(r#""x-request-id""#, r#""content-length""#),
            "forwarding.request_id_header",
        ),
        (
            health(r#""/h HTTP/1.1\r\nX: y""#, "null"),
            "health_check.path",
        ),
        (health(r#""healthz""#, "null"), "health_check.path"),
        (health(r#""/h""#, r#""a\r\nX: y""#), "health_check.host"),
    ];
    for (json, field) in cases {
        let err = Engine::new(&json, None).err().expect("refused");
        assert!(err.message.contains(field), "{field}: {}", err.message);
    }
    assert!(Engine::new(&health(r#""/h?x=1""#, r#""h.example""#), None).is_ok());
}

#[test]
fn a_response_head_trickled_past_the_idle_timeout_gets_504() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let trickler = Backend {
        address: listener.local_addr().unwrap(),
        requests: Arc::new(AtomicUsize::new(0)),
    };
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut head = [0u8; 1024];
        let _ = stream.read(&mut head);
        // One byte of a never-ending head every 50 ms: each read is "activity".
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: "
            .iter()
            .chain([b'a'; 200].iter())
        {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let json = config(&[&trickler], "").replace(r#""idle_ms": 60000"#, r#""idle_ms": 300"#);
    let (engine, address) = start(&json);
    let (mut stream, mut reader) = connect(address);
    let started = std::time::Instant::now();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let (status, _, _) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 504 Gateway Timeout");
    assert!(started.elapsed() < Duration::from_secs(2));
    engine.stop();
}
