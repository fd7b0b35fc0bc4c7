//! Request heads: request line, target forms, Host agreement and body framing.

use super::head::{field_facts, parse_fields, skip_leading_crlf, HeaderSpan, Span};
use super::syntax::{is_target_byte, is_token};
use super::{BodyKind, ParseError};

/// The form of the request target (RFC 9112 section 3.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Target {
    /// `/path?query`
    #[default]
    Origin,
    /// `http://authority/path`: `path` is the origin-form part forwarded upstream, without
    /// the fragment; it may be empty or start with `?` (the writer then adds the `/`).
    Absolute { authority: Span, path: Span },
    /// `*` (OPTIONS only).
    Asterisk,
}

/// A parsed request head. Spans index the buffer it was parsed from; the value is reused
/// across requests so its header vector keeps its capacity.
#[derive(Debug, Default)]
pub struct RequestHead {
    /// Bytes consumed: leading empty lines plus the head through its blank line.
    pub len: usize,
    pub method: Span,
    pub target: Span,
    pub form: Target,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub headers: Vec<HeaderSpan>,
    pub body: BodyKind,
    /// The Content-Length received (the forwarded head carries it in canonical form).
    pub content_length: Option<u64>,
    pub keep_alive: bool,
    /// The host to route on: the Host field, or the authority of an absolute-form target.
    pub host: Option<Span>,
    pub expect_continue: bool,
    /// `Connection: upgrade` with `Upgrade: websocket` (the only protocol tunnelled).
    pub upgrade: bool,
    /// Safe to send again after a failure (RFC 9110 section 9.2.2).
    pub idempotent: bool,
    pub is_head: bool,
}

fn is_idempotent(method: &[u8]) -> bool {
    matches!(
        method,
        b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE" | b"PUT" | b"DELETE"
    )
}

/// Parses the head `buf[..head_end]` (as found by `find_head_end`) into `out`.
pub fn parse_request(
    buf: &[u8],
    head_end: usize,
    max_headers: usize,
    out: &mut RequestHead,
) -> Result<(), ParseError> {
    let head = &buf[..head_end];
    let start = skip_leading_crlf(head);
    let line_end = start
        + head[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(ParseError::bad("unterminated request line"))?;
    let line = &head[start..line_end];
    let first_space = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::bad("malformed request line"))?;
    let last_space = line
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(ParseError::bad("malformed request line"))?;
    let method = &line[..first_space];
    if !is_token(method) {
        return Err(ParseError::bad("invalid method"));
    }
    if last_space <= first_space + 1 {
        return Err(ParseError::bad("malformed request line"));
    }
    let target = &line[first_space + 1..last_space];
    if !target.iter().all(|&b| is_target_byte(b)) {
        return Err(ParseError::bad("invalid request target"));
    }
    out.minor_version = match &line[last_space + 1..] {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        _ => {
            return Err(ParseError {
                status: 505,
                reason: "unsupported HTTP version",
            })
        }
    };
    out.method = Span {
        start: start as u32,
        end: (start + first_space) as u32,
    };
    let target_start = start + first_space + 1;
    out.target = Span {
        start: target_start as u32,
        end: (start + last_space) as u32,
    };
    out.form = classify_target(method, target, target_start)?;
    parse_fields(head, line_end + 2, max_headers, &mut out.headers)?;
    let facts = field_facts(head, &out.headers)?;

    if facts.host_count > 1 {
        return Err(ParseError::bad("more than one Host field"));
    }
    if out.minor_version == 1 && facts.host_count == 0 {
        return Err(ParseError::bad("HTTP/1.1 request without Host"));
    }
    if let Some(host) = facts.host {
        if !host.of(head).iter().all(|&b| is_target_byte(b)) {
            return Err(ParseError::bad("invalid Host"));
        }
    }
    out.host = facts.host;
    if let Target::Absolute { authority, .. } = out.form {
        let agrees = facts
            .host
            .is_some_and(|host| host.of(head).eq_ignore_ascii_case(authority.of(head)));
        if facts.host.is_some() && !agrees {
            return Err(ParseError::bad("absolute-form target disagrees with Host"));
        }
        out.host = Some(authority);
    }

    out.body = if facts.transfer_encoding {
        if facts.content_length.is_some() {
            return Err(ParseError::bad("both Content-Length and Transfer-Encoding"));
        }
        if out.minor_version == 0 {
            return Err(ParseError::bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if !facts.chunked {
            return Err(ParseError {
                status: 501,
                reason: "transfer coding other than a single chunked",
            });
        }
        BodyKind::Chunked
    } else {
        match facts.content_length {
            None | Some(0) => BodyKind::Empty,
            Some(n) => BodyKind::Length(n),
        }
    };
    out.content_length = facts.content_length;
    out.keep_alive = if out.minor_version == 1 {
        !facts.connection_close
    } else {
        facts.connection_keep_alive && !facts.connection_close
    };
    out.expect_continue = facts.expect_continue && out.minor_version == 1;
    out.upgrade = facts.upgrade && facts.connection_upgrade;
    out.idempotent = is_idempotent(method);
    out.is_head = method == b"HEAD";
    out.len = head_end;
    Ok(())
}

fn classify_target(method: &[u8], target: &[u8], offset: usize) -> Result<Target, ParseError> {
    if target.first() == Some(&b'/') {
        // Origin-form has no fragment (RFC 9112 section 3.2.1); a `#` would let the path that is
        // routed (before it) differ from the target a backend reads.
        if memchr::memchr(b'#', target).is_some() {
            return Err(ParseError::bad("a fragment in an origin-form target"));
        }
        return Ok(Target::Origin);
    }
    if target == b"*" {
        return if method == b"OPTIONS" {
            Ok(Target::Asterisk)
        } else {
            Err(ParseError::bad("asterisk-form target outside OPTIONS"))
        };
    }
    let scheme_len = if target.len() > 7 && target[..7].eq_ignore_ascii_case(b"http://") {
        7
    } else if target.len() > 8 && target[..8].eq_ignore_ascii_case(b"https://") {
        8
    } else {
        return Err(ParseError::bad("unsupported request-target form"));
    };
    let rest = &target[scheme_len..];
    let authority_len = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    if authority.is_empty() || authority.contains(&b'@') {
        // Userinfo in a target is a classic smuggling/confusion vector: refuse it.
        return Err(ParseError::bad("invalid authority in absolute-form target"));
    }
    let authority_start = offset + scheme_len;
    let path_start = authority_start + authority_len;
    // A fragment is never sent to a server (RFC 9110 section 4.2.4).
    let path_len =
        memchr::memchr(b'#', &rest[authority_len..]).unwrap_or(rest.len() - authority_len);
    Ok(Target::Absolute {
        authority: Span {
            start: authority_start as u32,
            end: path_start as u32,
        },
        path: Span {
            start: path_start as u32,
            end: (path_start + path_len) as u32,
        },
    })
}
