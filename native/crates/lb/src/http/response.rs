//! Response heads: status line and body framing, which depends on the request method.

use super::head::{field_facts, parse_fields, HeaderSpan};
use super::syntax::is_field_value;
use super::{BodyKind, ParseError};

/// A parsed response head (spans index the upstream buffer).
#[derive(Debug, Default)]
pub struct ResponseHead {
    pub len: usize,
    pub status: u16,
    pub headers: Vec<HeaderSpan>,
    pub body: BodyKind,
    /// The Content-Length received (the forwarded head carries it in canonical form).
    pub content_length: Option<u64>,
    /// An `Upgrade: websocket` field (a 101 must switch to what was asked for).
    pub upgrade_websocket: bool,
    /// The upstream connection may be reused after this response.
    pub keep_alive: bool,
}

const BAD: ParseError = ParseError {
    status: 502,
    reason: "malformed response from the backend",
};

/// Parses the response head `buf[..head_end]`; `request_was_head` selects the no-body rule.
pub fn parse_response(
    buf: &[u8],
    head_end: usize,
    max_headers: usize,
    request_was_head: bool,
    out: &mut ResponseHead,
) -> Result<(), ParseError> {
    let head = &buf[..head_end];
    let line_end = head.windows(2).position(|w| w == b"\r\n").ok_or(BAD)?;
    let line = &head[..line_end];
    // "HTTP/1.x SSS[ reason]"
    if line.len() < 12 || !line.starts_with(b"HTTP/1.") || line[8] != b' ' {
        return Err(BAD);
    }
    let minor = match line[7] {
        b'0' => 0,
        b'1' => 1,
        _ => return Err(BAD),
    };
    let code = &line[9..12];
    if !code.iter().all(u8::is_ascii_digit) || (line.len() > 12 && line[12] != b' ') {
        return Err(BAD);
    }
    // The status line is relayed as received: a CR or other control in the reason phrase
    // would reach the client.
    if !is_field_value(&line[12..]) {
        return Err(BAD);
    }
    out.status = code
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    if out.status < 100 {
        return Err(BAD);
    }
    parse_fields(head, line_end + 2, max_headers, &mut out.headers).map_err(|_| BAD)?;
    let facts = field_facts(head, &out.headers).map_err(|_| BAD)?;
    if facts.transfer_encoding && facts.content_length.is_some() {
        return Err(BAD);
    }
    if facts.transfer_encoding && !facts.chunked {
        // Codings other than one plain `chunked` cannot be re-framed faithfully.
        return Err(BAD);
    }
    let no_body = request_was_head || out.status < 200 || out.status == 204 || out.status == 304;
    out.body = if no_body {
        BodyKind::Empty
    } else if facts.transfer_encoding {
        BodyKind::Chunked
    } else {
        match facts.content_length {
            Some(0) => BodyKind::Empty,
            Some(n) => BodyKind::Length(n),
            None => BodyKind::UntilClose,
        }
    };
    out.content_length = facts.content_length;
    out.upgrade_websocket = facts.upgrade;
    out.keep_alive = !matches!(out.body, BodyKind::UntilClose)
        && if minor == 1 {
            !facts.connection_close
        } else {
            facts.connection_keep_alive && !facts.connection_close
        };
    out.len = head_end;
    Ok(())
}
