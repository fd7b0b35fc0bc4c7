//! A streaming validator for the chunked transfer coding. The proxy forwards chunked bytes
//! unchanged; this decoder only tracks where the message ends and rejects malformed framing.

use super::ParseError;

/// Longest chunk-extension accepted, so a peer cannot make us scan forever.
const MAX_EXTENSION: u32 = 4096;
/// Longest trailer section accepted.
const MAX_TRAILERS: u32 = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf,
    FinalLf,
    Done,
}

/// Incremental chunked decoder: feed it bytes, it says how many belong to the message.
#[derive(Debug, Clone, Default)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    digits: u32,
    remaining: u64,
    extension: u32,
    trailers: u32,
}

const BAD_SIZE: ParseError = ParseError::bad("invalid chunk size");
const BAD_FRAMING: ParseError = ParseError::bad("invalid chunked framing");

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the last chunk and the trailer section have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes a prefix of `input` and returns its length: all of `input`, or less when the
    /// message ends inside it (what follows belongs to the next message).
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, ParseError> {
        let mut at = 0;
        while at < input.len() {
            let b = input[at];
            match self.state {
                State::Done => return Ok(at),
                State::Data => {
                    let take = self.remaining.min((input.len() - at) as u64) as usize;
                    self.remaining -= take as u64;
                    at += take;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::Size => match hex_value(b) {
                    Some(v) => {
                        self.digits += 1;
                        if self.digits > 15 {
                            return Err(BAD_SIZE);
                        }
                        self.size = self.size << 4 | u64::from(v);
                    }
                    None if self.digits == 0 => return Err(BAD_SIZE),
                    None if b == b';' => {
                        self.state = State::Extension;
                        self.extension = 0;
                    }
                    None if b == b'\r' => self.state = State::SizeLf,
                    None => return Err(BAD_SIZE),
                },
                State::Extension => {
                    self.extension += 1;
                    if self.extension > MAX_EXTENSION {
                        return Err(ParseError::bad("chunk extension too long"));
                    }
                    match b {
                        b'\r' => self.state = State::SizeLf,
                        b'\t' | b' '..=b'~' | 0x80..=0xff => {}
                        _ => return Err(BAD_FRAMING),
                    }
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(BAD_FRAMING);
                    }
                    if self.size == 0 {
                        self.state = State::TrailerStart;
                        self.trailers = 0;
                    } else {
                        self.remaining = self.size;
                        self.state = State::Data;
                    }
                    self.size = 0;
                    self.digits = 0;
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(BAD_FRAMING);
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(BAD_FRAMING);
                    }
                    self.state = State::Size;
                }
                State::TrailerStart => {
                    self.state = match b {
                        b'\r' => State::FinalLf,
                        b' ' | b'\t' | b'\n' => return Err(BAD_FRAMING),
                        _ => State::Trailer,
                    };
                    self.count_trailer()?;
                }
                State::Trailer => {
                    match b {
                        b'\r' => self.state = State::TrailerLf,
                        b'\t' | b' '..=b'~' | 0x80..=0xff => {}
                        _ => return Err(BAD_FRAMING),
                    }
                    self.count_trailer()?;
                }
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(BAD_FRAMING);
                    }
                    self.state = State::TrailerStart;
                }
                State::FinalLf => {
                    if b != b'\n' {
                        return Err(BAD_FRAMING);
                    }
                    self.state = State::Done;
                    return Ok(at + 1);
                }
            }
            at += 1;
        }
        Ok(at)
    }

    fn count_trailer(&mut self) -> Result<(), ParseError> {
        self.trailers += 1;
        if self.trailers > MAX_TRAILERS {
            return Err(ParseError::bad("trailer section too long"));
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
