//! Finding the end of a message head and splitting it into header fields.

use super::syntax::{is_field_value, is_token, trim_ows};
use super::ParseError;

/// A byte range `start..end` into the buffer the head was parsed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        // Heads are bounded by max_header_bytes (far below 4 GiB), so offsets fit.
        Self {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes this span covers in `buf`.
    pub fn of<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.start as usize..self.end as usize]
    }
}

/// One header field: name and trimmed value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderSpan {
    pub name: Span,
    pub value: Span,
}

const TOO_LARGE: ParseError = ParseError {
    status: 431,
    reason: "header section too large",
};
const TOO_MANY: ParseError = ParseError {
    status: 431,
    reason: "too many header fields",
};

/// Skips the empty lines a client may send before a request line (RFC 9112 section 2.2).
pub fn skip_leading_crlf(buf: &[u8]) -> usize {
    let mut at = 0;
    while buf.len() >= at + 2 && buf[at] == b'\r' && buf[at + 1] == b'\n' {
        at += 2;
    }
    at
}

/// Looks for the blank line ending a head that starts at 0. `scanned` is how far an earlier
/// call already looked (so repeated calls on a growing buffer stay linear). Returns the head
/// length including the blank line, `Ok(None)` when more bytes are needed, or an error for a
/// bare LF or a head longer than `max_bytes`.
pub fn find_head_end(
    buf: &[u8],
    scanned: &mut usize,
    max_bytes: usize,
) -> Result<Option<usize>, ParseError> {
    for at in memchr::memchr_iter(b'\n', &buf[*scanned..]).map(|i| i + *scanned) {
        if at == 0 || buf[at - 1] != b'\r' {
            return Err(ParseError::bad("bare LF line ending"));
        }
        if at >= 3 && &buf[at - 3..at] == b"\r\n\r" {
            if at + 1 > max_bytes {
                return Err(TOO_LARGE);
            }
            *scanned = at + 1;
            return Ok(Some(at + 1));
        }
    }
    *scanned = buf.len();
    if buf.len() > max_bytes {
        return Err(TOO_LARGE);
    }
    Ok(None)
}

/// Splits the header lines of `head[from..]` (each ending in CRLF, then the blank line) into
/// `out`, validating names and values. Obs-fold, whitespace before the colon and control
/// characters in values are rejected.
pub fn parse_fields(
    head: &[u8],
    from: usize,
    max_headers: usize,
    out: &mut Vec<HeaderSpan>,
) -> Result<(), ParseError> {
    out.clear();
    let mut at = from;
    loop {
        let rest = &head[at..];
        // find_head_end guaranteed every LF of the head follows a CR.
        let line_len = memchr::memchr(b'\n', rest)
            .filter(|&lf| lf > 0)
            .ok_or(ParseError::bad("unterminated header line"))?
            - 1;
        if line_len == 0 {
            return Ok(());
        }
        let line = &rest[..line_len];
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(ParseError::bad("obsolete line folding"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ParseError::bad("header line without a colon"))?;
        if !is_token(&line[..colon]) {
            return Err(ParseError::bad("invalid header name"));
        }
        let raw_value = &line[colon + 1..];
        if !is_field_value(raw_value) {
            return Err(ParseError::bad("invalid character in header value"));
        }
        let value = trim_ows(raw_value);
        let value_start = if value.is_empty() {
            at + line_len
        } else {
            at + colon + 1 + (value.as_ptr() as usize - raw_value.as_ptr() as usize)
        };
        if out.len() == max_headers {
            return Err(TOO_MANY);
        }
        out.push(HeaderSpan {
            name: Span::new(at, at + colon),
            value: Span::new(value_start, value_start + value.len()),
        });
        at += line_len + 2;
    }
}

/// What the framing- and connection-related fields of a head say.
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldFacts {
    pub content_length: Option<u64>,
    /// A Transfer-Encoding field is present.
    pub transfer_encoding: bool,
    /// It is the only Transfer-Encoding field and its value is exactly `chunked`.
    pub chunked: bool,
    pub connection_close: bool,
    pub connection_keep_alive: bool,
    pub connection_upgrade: bool,
    /// An Upgrade field asks for exactly `websocket`.
    pub upgrade: bool,
    pub expect_continue: bool,
    pub host: Option<Span>,
    pub host_count: u32,
}

/// Reads the fields that decide framing and connection handling; rejects differing duplicate
/// Content-Lengths and malformed values.
pub fn field_facts(head: &[u8], headers: &[HeaderSpan]) -> Result<FieldFacts, ParseError> {
    use super::syntax::{list_items, parse_decimal};
    let mut facts = FieldFacts::default();
    for field in headers {
        let name = field.name.of(head);
        let value = field.value.of(head);
        if name.eq_ignore_ascii_case(b"content-length") {
            for item in value.split(|&b| b == b',').map(trim_ows) {
                let length =
                    parse_decimal(item).ok_or(ParseError::bad("invalid Content-Length"))?;
                match facts.content_length {
                    Some(seen) if seen != length => {
                        return Err(ParseError::bad("differing Content-Length values"))
                    }
                    _ => facts.content_length = Some(length),
                }
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only one field whose whole value is `chunked` is understood: lists, empty
            // values and repeated fields are read differently by different parsers
            // (request smuggling), so they leave `chunked` false and the head is refused.
            facts.chunked = !facts.transfer_encoding && value.eq_ignore_ascii_case(b"chunked");
            facts.transfer_encoding = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for item in list_items(value) {
                if item.eq_ignore_ascii_case(b"close") {
                    facts.connection_close = true;
                } else if item.eq_ignore_ascii_case(b"keep-alive") {
                    facts.connection_keep_alive = true;
                } else if item.eq_ignore_ascii_case(b"upgrade") {
                    facts.connection_upgrade = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"host") {
            facts.host = Some(field.value);
            facts.host_count += 1;
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            // Only WebSocket is tunnelled: other protocols (h2c...) would let a client reach
            // the backend past the proxy's request checks.
            facts.upgrade |= value.eq_ignore_ascii_case(b"websocket");
        } else if name.eq_ignore_ascii_case(b"expect") {
            facts.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    Ok(facts)
}
