//! Re-framing a close-delimited response body (no Content-Length, no chunked: the backend ends
//! it by closing) as chunked for an HTTP/1.1 client. The client then learns where the body ends
//! without the proxy closing its connection, which stays reusable (an HTTP/1.0 client cannot
//! read chunked and gets `Connection: close` instead).
//!
//! Each chunk's CRLF is written in front of the next chunk's size line (or of the last chunk),
//! so a piece of body still leaves in one send: framing bytes queued, then the data itself.

/// Chunked framing state of one re-framed body.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rechunker {
    /// A chunk's data was sent and its closing CRLF is still owed.
    chunk_open: bool,
}

impl Rechunker {
    /// Appends to `out` the framing that goes before `len` bytes of body data.
    pub fn before_data(&mut self, out: &mut Vec<u8>, len: usize) {
        if len == 0 {
            return;
        }
        if self.chunk_open {
            out.extend_from_slice(b"\r\n");
        }
        push_hex(out, len);
        out.extend_from_slice(b"\r\n");
        self.chunk_open = true;
    }

    /// Appends to `out` the end of the body: the last chunk and an empty trailer section.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.chunk_open {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        self.chunk_open = false;
    }
}

fn push_hex(out: &mut Vec<u8>, value: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = HEX[rest & 0xf];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ChunkedDecoder;

    #[test]
    fn pieces_become_a_body_the_chunked_decoder_accepts() {
        let pieces: [&[u8]; 4] = [b"hello", b"", b" ", &[b'x'; 300]];
        let mut rechunker = Rechunker::default();
        let mut wire = Vec::new();
        for piece in pieces {
            rechunker.before_data(&mut wire, piece.len());
            wire.extend_from_slice(piece);
        }
        rechunker.finish(&mut wire);
        assert!(
            wire.starts_with(b"5\r\nhello\r\n1\r\n \r\n12c\r\nxxx"),
            "{wire:?}"
        );
        assert!(wire.ends_with(b"x\r\n0\r\n\r\n"));
        let mut decoder = ChunkedDecoder::new();
        assert_eq!(decoder.feed(&wire).unwrap(), wire.len());
        assert!(decoder.is_done());
    }

    #[test]
    fn an_empty_body_is_just_the_last_chunk() {
        let mut wire = Vec::new();
        Rechunker::default().finish(&mut wire);
        assert_eq!(wire, b"0\r\n\r\n");
    }
}
