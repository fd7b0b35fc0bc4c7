//! Writing the heads the proxy forwards: hop-by-hop fields dropped, route header rules and
//! forwarding fields (X-Forwarded-For/-Proto, Forwarded, request id) applied. Writes append to
//! a reused buffer, so the steady state allocates nothing.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use crate::http::{split_path, BodyKind, RequestHead, ResponseHead, Target};
use crate::router::CompiledRules;
use crate::runtime::Forwarding;

/// Fields that describe one hop and are never forwarded as received.
fn is_hop_by_hop(name: &[u8]) -> bool {
    [
        &b"connection"[..],
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"upgrade",
        b"proxy-authorization",
    ]
    .iter()
    .any(|h| h.eq_ignore_ascii_case(name))
}

/// Framing fields: never forwarded as received; the writers emit one canonical field from
/// the parsed framing instead, so the next hop cannot read the body differently.
fn is_framing(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"transfer-encoding")
}

/// Fields a Connection option must not remove: the framing (re-emitted anyway) and Host,
/// without which the backend would route or frame the request differently.
fn is_protected(name: &[u8]) -> bool {
    is_framing(name) || name.eq_ignore_ascii_case(b"host")
}

/// Writes the single framing field for a body (none for a body that has no length field).
fn write_framing(out: &mut Vec<u8>, body: BodyKind, content_length: Option<u64>) {
    match body {
        BodyKind::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        BodyKind::Length(n) => content_length_field(out, n),
        // No body, but a length the receiver still relies on (HEAD, 304, an explicit 0).
        BodyKind::Empty => {
            if let Some(n) = content_length {
                content_length_field(out, n);
            }
        }
        BodyKind::UntilClose => {}
    }
}

/// `Content-Length: n` without the formatting machinery (once per message on the hot path).
fn content_length_field(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"Content-Length: ");
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// True when a Connection field lists `name`: such fields concern this hop only (RFC 9110
/// section 7.6.1). Costs nothing when there is no Connection field.
fn named_by_connection(buf: &[u8], headers: &[crate::http::HeaderSpan], name: &[u8]) -> bool {
    headers
        .iter()
        .filter(|h| h.name.of(buf).eq_ignore_ascii_case(b"connection"))
        .flat_map(|h| h.value.of(buf).split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(name))
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Generates request ids: 128 bits as 32 hex digits, a per-worker random half and a counter.
pub struct RequestIds {
    prefix: u64,
    counter: u64,
}

impl RequestIds {
    pub fn new(seed: u64) -> Self {
        Self {
            prefix: seed,
            counter: 0,
        }
    }

    fn write_next(&mut self, out: &mut Vec<u8>) {
        self.counter = self.counter.wrapping_add(1);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for word in [self.prefix, self.counter] {
            for shift in (0..16).rev() {
                out.push(HEX[((word >> (shift * 4)) & 0xf) as usize]);
            }
        }
    }
}

/// What the request head writer needs to know about the connection.
pub struct Hop {
    pub client_ip: IpAddr,
    pub tls: bool,
    pub backend: SocketAddr,
}

/// Appends the head to send upstream for `req` (parsed from `buf`), with `path` (the normalised
/// path the request was routed on) in place of the received one; the query follows unchanged.
#[allow(clippy::too_many_arguments)]
pub fn write_request_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    req: &RequestHead,
    path: &[u8],
    forwarding: &Forwarding,
    rules: Option<&CompiledRules>,
    hop: &Hop,
    ids: &mut RequestIds,
) {
    out.extend_from_slice(req.method.of(buf));
    out.push(b' ');
    match req.form {
        Target::Absolute { path: received, .. } => {
            out.extend_from_slice(path);
            out.extend_from_slice(split_path(received.of(buf)).1);
        }
        Target::Origin => {
            out.extend_from_slice(path);
            out.extend_from_slice(split_path(req.target.of(buf)).1);
        }
        Target::Asterisk => out.extend_from_slice(req.target.of(buf)),
    }
    // An HTTP/1.0 client cannot read a chunked response: asking the backend in HTTP/1.0 (with
    // keep-alive, so the upstream connection stays reusable) makes it frame with a length.
    if req.minor_version == 0 {
        out.extend_from_slice(b" HTTP/1.0\r\nConnection: keep-alive\r\n");
    } else {
        out.extend_from_slice(b" HTTP/1.1\r\n");
    }
    let mut has_prior_xff = false;
    let mut has_request_id = false;
    let has_connection = req
        .headers
        .iter()
        .any(|h| h.name.of(buf).eq_ignore_ascii_case(b"connection"));
    for h in &req.headers {
        let name = h.name.of(buf);
        let value = h.value.of(buf);
        if is_hop_by_hop(name)
            || is_framing(name)
            || (has_connection
                && !is_protected(name)
                && named_by_connection(buf, &req.headers, name))
        {
            continue;
        }
        if forwarding.x_forwarded_for && name.eq_ignore_ascii_case(b"x-forwarded-for") {
            // Merged into the one field written below (a second field would be ambiguous).
            has_prior_xff = true;
            continue;
        }
        if forwarding.x_forwarded_proto && name.eq_ignore_ascii_case(b"x-forwarded-proto") {
            continue;
        }
        if rules.is_some_and(|r| r.drops(name)) {
            continue;
        }
        if let Some(id_name) = &forwarding.request_id_header {
            has_request_id |= name.eq_ignore_ascii_case(id_name);
        }
        field(out, name, value);
    }
    write_framing(out, req.body, req.content_length);
    if req.host.is_none() {
        // HTTP/1.0 without Host: upstream HTTP/1.1 requires one.
        let _ = write!(out, "Host: {}\r\n", hop.backend);
    }
    if let Target::Absolute { authority, .. } = req.form {
        if req
            .headers
            .iter()
            .all(|h| !h.name.of(buf).eq_ignore_ascii_case(b"host"))
        {
            field(out, b"Host", authority.of(buf));
        }
    }
    if forwarding.x_forwarded_for {
        out.extend_from_slice(b"X-Forwarded-For: ");
        if has_prior_xff {
            // Every received line, in order: together they are one list (RFC 9110 5.3).
            for h in &req.headers {
                let value = h.value.of(buf);
                if !value.is_empty() && h.name.of(buf).eq_ignore_ascii_case(b"x-forwarded-for") {
                    out.extend_from_slice(value);
                    out.extend_from_slice(b", ");
                }
            }
        }
        let _ = write!(out, "{}\r\n", hop.client_ip);
    }
    let proto: &[u8] = if hop.tls { b"https" } else { b"http" };
    if forwarding.x_forwarded_proto {
        field(out, b"X-Forwarded-Proto", proto);
    }
    if forwarding.forwarded {
        // RFC 7239: IPv6 nodes are quoted and bracketed. Another Forwarded field line is
        // equivalent to appending an element to an existing one.
        match hop.client_ip {
            IpAddr::V4(ip) => {
                let _ = write!(out, "Forwarded: for={ip};proto=");
            }
            IpAddr::V6(ip) => {
                let _ = write!(out, "Forwarded: for=\"[{ip}]\";proto=");
            }
        }
        out.extend_from_slice(proto);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(id_name) = &forwarding.request_id_header {
        if !has_request_id {
            out.extend_from_slice(id_name);
            out.extend_from_slice(b": ");
            ids.write_next(out);
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some(rules) = rules {
        for (name, value) in rules.set.iter().chain(&rules.add) {
            field(out, name, value);
        }
    }
    if req.upgrade {
        out.extend_from_slice(b"Upgrade: websocket\r\nConnection: upgrade\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the head to send to the client for `resp` (parsed from `buf`). `close` adds
/// `Connection: close`; `keep_alive_1_0` announces keep-alive to an HTTP/1.0 client; `rechunk`
/// announces a close-delimited body as chunked (see `rechunk`), in an HTTP/1.1 status line.
pub fn write_response_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    resp: &ResponseHead,
    rules: Option<&CompiledRules>,
    close: bool,
    keep_alive_1_0: bool,
    rechunk: bool,
) {
    let status_line_end = resp
        .headers
        .first()
        .map_or(resp.len - 2, |h| h.name.start as usize);
    if rechunk {
        // An HTTP/1.0 status line would forbid the chunked coding: the proxy speaks 1.1.
        out.extend_from_slice(b"HTTP/1.1");
        out.extend_from_slice(&buf[b"HTTP/1.x".len()..status_line_end]);
    } else {
        out.extend_from_slice(&buf[..status_line_end]);
    }
    let switching = resp.status == 101;
    for h in &resp.headers {
        let name = h.name.of(buf);
        if (!switching && is_hop_by_hop(name)) || is_framing(name) {
            continue;
        }
        if rules.is_some_and(|r| r.drops(name)) {
            continue;
        }
        field(out, name, h.value.of(buf));
    }
    if rechunk {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    } else if resp.status >= 200 && resp.status != 204 {
        write_framing(out, resp.body, resp.content_length);
    }
    if let Some(rules) = rules {
        for (name, value) in rules.set.iter().chain(&rules.add) {
            field(out, name, value);
        }
    }
    if switching {
        // Upgrade/Connection were copied above.
    } else if close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if keep_alive_1_0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a complete local response (errors, 404 without route, 503 when overloaded).
pub fn write_local_response(out: &mut Vec<u8>, status: u16, close: bool) {
    let reason = match status {
        400 => "Bad Request",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
    let body_len = reason.len() + 1;
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {body_len}\r\n{}\r\n{reason}\n",
        if close { "Connection: close\r\n" } else { "" }
    );
}
