//! Tracks where a streamed body ends, so bytes can be forwarded as they arrive.

use crate::http::{BodyKind, ChunkedDecoder, ParseError};

/// Framing state of a body being forwarded.
#[derive(Debug, Clone)]
pub enum BodyTracker {
    /// Content-Length bytes still to come (0 = complete, also for no body).
    Remaining(u64),
    Chunked(ChunkedDecoder),
    /// Ends when the sender closes.
    UntilClose,
}

impl BodyTracker {
    pub fn new(kind: BodyKind) -> Self {
        match kind {
            BodyKind::Empty => Self::Remaining(0),
            BodyKind::Length(n) => Self::Remaining(n),
            BodyKind::Chunked => Self::Chunked(ChunkedDecoder::new()),
            BodyKind::UntilClose => Self::UntilClose,
        }
    }

    /// How many leading bytes of `available` belong to this body.
    pub fn feed(&mut self, available: &[u8]) -> Result<usize, ParseError> {
        match self {
            Self::Remaining(left) => {
                let take = (*left).min(available.len() as u64);
                *left -= take;
                Ok(take as usize)
            }
            Self::Chunked(decoder) => decoder.feed(available),
            Self::UntilClose => Ok(available.len()),
        }
    }

    pub fn is_done(&self) -> bool {
        match self {
            Self::Remaining(left) => *left == 0,
            Self::Chunked(decoder) => decoder.is_done(),
            Self::UntilClose => false,
        }
    }
}
