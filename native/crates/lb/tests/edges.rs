//! Loopback checks of how the engine ends exchanges at the edges of HTTP/1.1: refused uploads
//! (lingering close), close-delimited backend bodies, interim responses to HTTP/1.0 clients.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use support::*;

/// A configuration whose listener has no default pool: every request is answered 404 locally.
fn without_default_pool(backend: &Backend) -> String {
    config(&[backend], "").replace(r#""default_pool": "app""#, r#""default_pool": null"#)
}

/// Starts a 100 MB upload to `path` and checks that the refusal (`status`) arrives, then a FIN
/// (closing with unread input would send a reset), while what the client still sends is drained.
fn refused_upload_closes_cleanly(address: std::net::SocketAddr, path: &str, status: &str) {
    let (mut stream, mut reader) = connect(address);
    // More than the proxy reads with the head: the rest sits unread in its socket.
    let mut request =
        format!("POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\n")
            .into_bytes();
    request.extend_from_slice(&[b'x'; 64 * 1024]);
    stream.write_all(&request).unwrap();
    let (line, headers, _) = read_response(&mut reader);
    assert_eq!(line, status);
    assert!(
        headers.iter().any(|h| h == "Connection: close"),
        "{headers:?}"
    );
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);
    for _ in 0..20 {
        stream.write_all(&[b'y'; 8 * 1024]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_refused_upload_gets_its_response_and_a_clean_close_not_a_reset() {
    let backend = start_backend("unused");
    let (engine, address) = start(&without_default_pool(&backend));
    refused_upload_closes_cleanly(address, "/upload", "HTTP/1.1 404 Not Found");
    engine.stop();
}

#[test]
fn a_backend_refusing_an_upload_early_gets_its_answer_to_the_client_without_a_reset() {
    let backend = start_scripted();
    let (engine, address) = start(&config(&[&backend], ""));
    refused_upload_closes_cleanly(address, "/early", "HTTP/1.1 413 Payload Too Large");
    engine.stop();
}

#[test]
fn lingering_is_bounded_in_bytes() {
    let backend = start_backend("unused");
    let (engine, address) = start(&without_default_pool(&backend));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\n")
        .unwrap();
    let (status, _, _) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    // A client that keeps sending is cut off once the drained bytes pass the bound.
    let started = Instant::now();
    let chunk = [b'z'; 64 * 1024];
    let mut sent = 0usize;
    let error = loop {
        match stream.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) => break e,
        }
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "still accepting after {sent} bytes"
        );
    };
    assert!(
        matches!(
            error.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::WouldBlock
        ),
        "{error:?}"
    );
    assert!(sent >= 1 << 20, "cut off after only {sent} bytes");
    engine.stop();
}

/// Reads a chunked body off `reader` (sizes in hex, no extensions or trailers expected).
fn read_chunked(reader: &mut std::io::BufReader<std::net::TcpStream>) -> Vec<u8> {
    use std::io::BufRead;
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
        let mut chunk = vec![0u8; size + 2];
        reader.read_exact(&mut chunk).unwrap();
        assert!(chunk.ends_with(b"\r\n"));
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

#[test]
fn a_close_delimited_body_is_rechunked_for_http_1_1_and_the_connection_kept() {
    let backend = start_scripted();
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    for _ in 0..2 {
        stream
            .write_all(b"GET /until-close HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap();
        let head = read_head(&mut reader).unwrap();
        assert_eq!(head[0], "HTTP/1.1 200 OK");
        assert!(
            head.iter().any(|h| h == "Transfer-Encoding: chunked"),
            "{head:?}"
        );
        assert!(head.iter().any(|h| h == "X-Framing: none"), "{head:?}");
        assert!(
            !head.iter().any(|h| h.starts_with("Connection")),
            "{head:?}"
        );
        assert_eq!(read_chunked(&mut reader), b"hello world");
    }
    // Still the same connection: the next exchange works.
    stream
        .write_all(b"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    read_head(&mut reader).unwrap();
    assert_eq!(read_chunked(&mut reader), b"hello world");
    engine.stop();
}

#[test]
fn a_close_delimited_body_cut_by_a_reset_never_gets_a_last_chunk() {
    let backend = start_scripted();
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET /until-reset HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let head = read_head(&mut reader).unwrap();
    assert!(
        head.iter().any(|h| h == "Transfer-Encoding: chunked"),
        "{head:?}"
    );
    // The client must be able to tell the body is truncated: the connection ends without the
    // zero-length chunk.
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(!rest.ends_with(b"0\r\n\r\n"), "{rest:?}");
    engine.stop();
}

#[test]
fn a_close_delimited_body_tells_an_http_1_0_client_connection_close() {
    let backend = start_scripted();
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET /until-close HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let head = read_head(&mut reader).unwrap();
    assert!(head.iter().any(|h| h == "Connection: close"), "{head:?}");
    assert!(
        !head.iter().any(|h| h.starts_with("Transfer-Encoding")),
        "{head:?}"
    );
    let mut body = Vec::new();
    reader.read_to_end(&mut body).unwrap();
    assert_eq!(body, b"hello world");
    engine.stop();
}

#[test]
fn interim_responses_reach_http_1_1_clients_but_never_http_1_0_ones() {
    let backend = start_scripted();
    let (engine, address) = start(&config(&[&backend], ""));
    let (mut stream, mut reader) = connect(address);
    stream.write_all(b"GET /hints HTTP/1.0\r\n\r\n").unwrap();
    let (status, _, body) = read_response(&mut reader);
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "ok"));

    let (mut stream, mut reader) = connect(address);
    stream
        .write_all(b"GET /hints HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let hints = read_head(&mut reader).unwrap();
    assert_eq!(hints[0], "HTTP/1.1 103 Early Hints");
    let (status, _, body) = read_response(&mut reader);
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "ok"));
    engine.stop();
}
