//! Sans-IO HTTP/1.1 message parsing (RFC 9112): request and response heads, body framing and
//! the chunked decoder. Nothing here touches a socket; the engine feeds it bytes.

mod chunked;
mod head;
mod path;
mod request;
mod response;
mod syntax;

pub use chunked::ChunkedDecoder;
pub use head::{find_head_end, HeaderSpan, Span};
pub use path::{normalize_path, split_path};
pub use request::{parse_request, RequestHead, Target};
pub use response::{parse_response, ResponseHead};

/// A message the proxy refuses: answered with `status` and the connection closed, never forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// 400, 431 or 501.
    pub status: u16,
    /// Why, for logs and tests.
    pub reason: &'static str,
}

impl ParseError {
    pub(crate) const fn bad(reason: &'static str) -> Self {
        Self {
            status: 400,
            reason,
        }
    }
}

/// How the body following a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyKind {
    /// No body.
    #[default]
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding, ended by the zero-size chunk and trailers.
    Chunked,
    /// Until the sender closes (responses only).
    UntilClose,
}

#[cfg(test)]
mod tests;

/// True for a valid header field name (an RFC 9110 token).
pub fn is_header_name(name: &[u8]) -> bool {
    syntax::is_token(name)
}

/// True when `value` may be sent as a header field value (no CR, LF, NUL or other controls).
pub fn is_header_value(value: &[u8]) -> bool {
    syntax::is_field_value(value)
}

/// True for a byte allowed in a request target or Host (visible ASCII).
pub fn is_target_byte(b: u8) -> bool {
    syntax::is_target_byte(b)
}
