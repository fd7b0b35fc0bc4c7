//! Parser tests: every rejection rule of the hostile-input list, framing decisions, and a
//! randomized test comparing incremental with one-shot parsing on mutated messages.

use super::*;

const MAX_BYTES: usize = 4096;
const MAX_HEADERS: usize = 32;

/// Parses one request head from `input`, fed whole.
fn request(input: &[u8]) -> Result<RequestHead, ParseError> {
    let mut scanned = 0;
    let end =
        find_head_end(input, &mut scanned, MAX_BYTES)?.ok_or(ParseError::bad("incomplete"))?;
    let mut head = RequestHead::default();
    parse_request(input, end, MAX_HEADERS, &mut head)?;
    Ok(head)
}

fn rejected(input: &[u8]) -> ParseError {
    request(input).expect_err("must be rejected")
}

#[test]
fn a_simple_get_parses() {
    let input = b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nUser-Agent:  x y \r\n\r\n";
    let head = request(input).unwrap();
    assert_eq!(head.method.of(input), b"GET");
    assert_eq!(head.target.of(input), b"/a?b=c");
    assert_eq!(head.host.unwrap().of(input), b"example.com");
    assert_eq!(head.headers[1].value.of(input), b"x y");
    assert_eq!(head.body, BodyKind::Empty);
    assert!(head.keep_alive && head.idempotent && !head.is_head);
    assert_eq!(head.len, input.len());
}

#[test]
fn framing_and_connection_fields_are_understood() {
    let post = request(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n").unwrap();
    assert_eq!(post.body, BodyKind::Length(10));
    assert!(!post.idempotent);
    let same =
        request(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n");
    assert_eq!(same.unwrap().body, BodyKind::Length(7));
    let chunked =
        request(b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ChUnKeD\r\n\r\n").unwrap();
    assert_eq!(chunked.body, BodyKind::Chunked);
    let close = request(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").unwrap();
    assert!(!close.keep_alive);
    let old = request(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(!old.keep_alive && old.host.is_none());
    let old_ka = request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
    assert!(old_ka.keep_alive);
    let upgrade = request(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .unwrap();
    assert!(upgrade.upgrade);
    let expect =
        request(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    assert!(expect.unwrap().expect_continue);
    let leading = request(b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(leading.method, Span { start: 2, end: 5 });
}

#[test]
fn content_length_with_transfer_encoding_is_rejected() {
    let e = rejected(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(e.status, 400);
    let e = rejected(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    );
    assert_eq!(e.status, 400);
}

#[test]
fn differing_or_malformed_content_lengths_are_rejected() {
    for input in [
        &b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
    ] {
        assert_eq!(
            rejected(input).status,
            400,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn transfer_codings_other_than_one_plain_chunked_get_501() {
    // Lists, empty values and repeated fields are where parsers disagree (smuggling): only a
    // single `chunked` (any case) is accepted, everything else is Not Implemented.
    for te in [
        &b"Transfer-Encoding: gzip\r\n"[..],
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: chunked, gzip\r\n",
        b"Transfer-Encoding: chunked,\r\n",
        b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: \"chunked\"\r\n",
    ] {
        let mut input = b"POST / HTTP/1.1\r\nHost: h\r\n".to_vec();
        input.extend_from_slice(te);
        input.extend_from_slice(b"\r\n");
        assert_eq!(
            rejected(&input).status,
            501,
            "{:?}",
            String::from_utf8_lossy(te)
        );
    }
    assert_eq!(
        rejected(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").status,
        400
    );
}

#[test]
fn obs_fold_and_whitespace_before_colon_are_rejected() {
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n").reason,
        "obsolete line folding"
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n").reason,
        "obsolete line folding"
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: h\r\nX-A : 1\r\n\r\n").reason,
        "invalid header name"
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n").reason,
        "invalid header name"
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n").status,
        400
    );
}

#[test]
fn bare_lf_is_rejected_anywhere_in_the_head() {
    let mut scanned = 0;
    for input in [
        &b"GET / HTTP/1.1\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\n",
        b"\nGET / HTTP/1.1\r\n",
    ] {
        scanned = 0;
        assert_eq!(
            find_head_end(input, &mut scanned, MAX_BYTES)
                .unwrap_err()
                .reason,
            "bare LF line ending"
        );
    }
    let _ = scanned;
}

#[test]
fn control_characters_in_values_are_rejected() {
    for input in [
        &b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n",
    ] {
        assert_eq!(rejected(input).reason, "invalid character in header value");
    }
    // obs-text and tabs are allowed in values.
    assert!(request(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xc3\xa9\tok\r\n\r\n").is_ok());
}

#[test]
fn request_lines_with_bad_tokens_or_versions_are_rejected() {
    assert_eq!(
        rejected(b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n").reason,
        "invalid method"
    );
    assert_eq!(rejected(b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n").status, 400);
    assert_eq!(rejected(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n").status, 505);
    assert_eq!(rejected(b"GET / http/1.1\r\nHost: h\r\n\r\n").status, 505);
    assert_eq!(
        rejected(b"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n").status,
        400
    );
    assert_eq!(rejected(b"GET\r\n\r\n").status, 400);
    assert_eq!(rejected(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n").status, 400);
    assert!(request(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").is_ok());
    assert_eq!(
        rejected(b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n").status,
        400
    );
}

#[test]
fn host_is_required_once_for_http_1_1() {
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\n\r\n").reason,
        "HTTP/1.1 request without Host"
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").reason,
        "more than one Host field"
    );
    assert_eq!(
        rejected(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n").reason,
        "invalid Host"
    );
}

#[test]
fn absolute_form_targets_must_agree_with_host() {
    let input = b"GET http://Example.com:8080/p?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n";
    let head = request(input).unwrap();
    let Target::Absolute { authority, path } = head.form else {
        panic!("absolute form expected");
    };
    assert_eq!(authority.of(input), b"Example.com:8080");
    assert_eq!(path.of(input), b"/p?q");
    for (target, expected) in [
        (&b"http://h/p?q#frag"[..], &b"/p?q"[..]),
        (b"http://h#frag", b""),
        (b"http://h?a=1", b"?a=1"),
    ] {
        let mut input = b"GET ".to_vec();
        input.extend_from_slice(target);
        input.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        let Target::Absolute { path, .. } = request(&input).unwrap().form else {
            panic!("absolute form expected");
        };
        assert_eq!(path.of(&input), expected);
    }
    assert_eq!(head.host.unwrap().of(input), b"Example.com:8080");
    assert_eq!(
        rejected(b"GET http://evil.com/ HTTP/1.1\r\nHost: good.com\r\n\r\n").reason,
        "absolute-form target disagrees with Host"
    );
    assert_eq!(
        rejected(b"GET http://u@good.com/ HTTP/1.1\r\nHost: good.com\r\n\r\n").status,
        400
    );
    assert_eq!(
        rejected(b"GET http:///x HTTP/1.1\r\nHost: good.com\r\n\r\n").status,
        400
    );
    // HTTP/1.0 without Host: the authority is the host.
    let old = b"GET http://a.test HTTP/1.0\r\n\r\n";
    assert_eq!(request(old).unwrap().host.unwrap().of(old), b"a.test");
}

#[test]
fn oversized_heads_and_too_many_fields_get_431() {
    let mut big = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', MAX_BYTES));
    let mut scanned = 0;
    assert_eq!(
        find_head_end(&big, &mut scanned, MAX_BYTES)
            .unwrap_err()
            .status,
        431
    );
    big.extend_from_slice(b"\r\n\r\n");
    scanned = 0;
    assert_eq!(
        find_head_end(&big, &mut scanned, MAX_BYTES)
            .unwrap_err()
            .status,
        431
    );
    let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..MAX_HEADERS {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(rejected(&many).status, 431);
}

#[test]
fn responses_frame_by_method_status_and_fields() {
    let parse = |input: &[u8], head_request: bool| {
        let mut scanned = 0;
        let end = find_head_end(input, &mut scanned, MAX_BYTES)
            .unwrap()
            .unwrap();
        let mut out = ResponseHead::default();
        parse_response(input, end, MAX_HEADERS, head_request, &mut out).map(|()| out)
    };
    let ok = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false).unwrap();
    assert_eq!(
        (ok.status, ok.body, ok.keep_alive),
        (200, BodyKind::Length(5), true)
    );
    assert_eq!(
        parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
            .unwrap()
            .body,
        BodyKind::Empty
    );
    assert_eq!(
        parse(b"HTTP/1.1 204 No Content\r\n\r\n", false)
            .unwrap()
            .body,
        BodyKind::Empty
    );
    assert_eq!(
        parse(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            false
        )
        .unwrap()
        .body,
        BodyKind::Empty
    );
    assert_eq!(
        parse(b"HTTP/1.1 100 Continue\r\n\r\n", false)
            .unwrap()
            .status,
        100
    );
    let chunked = parse(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        false,
    )
    .unwrap();
    assert_eq!(chunked.body, BodyKind::Chunked);
    let until_close = parse(b"HTTP/1.1 200 OK\r\n\r\n", false).unwrap();
    assert_eq!(until_close.body, BodyKind::UntilClose);
    assert!(!until_close.keep_alive);
    assert!(
        !parse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false)
            .unwrap()
            .keep_alive
    );
    assert!(parse(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false).is_ok());
    // Relayed status lines and framing: a control in the reason phrase, or a transfer coding
    // that is not one plain `chunked`, is refused rather than passed on.
    for bad in [
        &b"HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        assert_eq!(
            parse(bad, false).unwrap_err().status,
            502,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(
        parse(b"HTTP/1.1 20x OK\r\n\r\n", false).unwrap_err().status,
        502
    );
    assert_eq!(
        parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            false
        )
        .unwrap_err()
        .status,
        502
    );
    assert_eq!(
        parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        )
        .unwrap_err()
        .status,
        502
    );
}

fn decode_all(input: &[u8]) -> Result<(usize, bool), ParseError> {
    let mut decoder = ChunkedDecoder::new();
    let used = decoder.feed(input)?;
    Ok((used, decoder.is_done()))
}

#[test]
fn chunked_bodies_end_at_the_last_chunk_and_trailers() {
    let body = b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nX-T: 1\r\n\r\nGET /next";
    assert_eq!(decode_all(body).unwrap(), (body.len() - 9, true));
    assert_eq!(
        decode_all(b"A\r\n0123456789\r\n0\r\n\r\n").unwrap(),
        (20, true)
    );
    assert_eq!(decode_all(b"5\r\nhel").unwrap(), (6, false));
}

#[test]
fn invalid_chunk_framing_is_rejected() {
    for input in [
        &b"x\r\n"[..],
        b"\r\n",
        b"5 \r\nhello\r\n",
        b"-1\r\n",
        b"5\nhello\r\n",
        b"5\r\nhelloXY",
        b"1000000000000000\r\n",
        b"0\r\nX: 1\n\r\n",
        b"0\r\n\n",
        b"1;a\0b\r\n",
    ] {
        assert!(
            decode_all(input).is_err(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let mut long_extension = b"1;".to_vec();
    long_extension.extend(std::iter::repeat_n(b'a', 5000));
    assert_eq!(
        decode_all(&long_extension).unwrap_err().reason,
        "chunk extension too long"
    );
}

/// xorshift64*: a small deterministic generator for the randomized tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: &[&[u8]] = &[
    b"GET /a?b HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
    b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET http://h/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
];

/// Mutates a message: flips, inserts interesting bytes, deletes, duplicates spans.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    const INTERESTING: &[u8] = b"\r\n\0 \t:;,-0123456789aAfF\x7f\xff";
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if out.is_empty() {
            out.push(b'G');
        }
        let at = rng.below(out.len());
        match rng.below(5) {
            0 => out[at] = INTERESTING[rng.below(INTERESTING.len())],
            1 => out.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 => {
                out.remove(at);
            }
            3 => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                let span = out[at..end].to_vec();
                out.splice(at..at, span);
            }
            _ => out[at] = rng.next() as u8,
        }
    }
    out
}

/// The outcome of parsing one request with its body from `input`, fed in pieces of the given
/// sizes (a size of 0 means the rest at once).
fn parse_incrementally(
    input: &[u8],
    pieces: &[usize],
) -> Result<Option<(usize, usize, BodyKind)>, ParseError> {
    let mut fed = 0;
    let mut scanned = 0;
    let mut pieces = pieces.iter().copied().chain(std::iter::repeat(0));
    let end = loop {
        let step = pieces.next().unwrap_or(0);
        fed = if step == 0 {
            input.len()
        } else {
            (fed + step).min(input.len())
        };
        match find_head_end(&input[..fed], &mut scanned, MAX_BYTES)? {
            Some(end) => break end,
            None if fed == input.len() => return Ok(None),
            None => {}
        }
    };
    let mut head = RequestHead::default();
    parse_request(input, end, MAX_HEADERS, &mut head)?;
    let mut body = crate::body::BodyTracker::new(head.body);
    let mut at = end;
    while at < input.len() && !body.is_done() {
        let step = pieces.next().unwrap_or(0);
        let stop = if step == 0 {
            input.len()
        } else {
            (at + step).min(input.len())
        };
        at += body.feed(&input[at..stop])?;
        if stop == input.len() {
            break;
        }
    }
    Ok(Some((end, at, head.body)))
}

#[test]
fn randomized_messages_parse_the_same_incrementally_and_at_once() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for round in 0..20_000 {
        let seed = SEEDS[round % SEEDS.len()];
        let input = if round % 10 == 0 {
            (0..rng.below(200)).map(|_| rng.next() as u8).collect()
        } else {
            mutate(&mut rng, seed)
        };
        let whole = parse_incrementally(&input, &[]);
        let pieces: Vec<usize> = (0..8).map(|_| 1 + rng.below(7)).collect();
        let split = parse_incrementally(&input, &pieces);
        assert_eq!(
            whole,
            split,
            "round {round}: {:?}",
            String::from_utf8_lossy(&input)
        );
        if let Ok(Some((end, _, _))) = whole {
            // Whatever was accepted re-checks: no control bytes in any accepted header value.
            let mut head = RequestHead::default();
            parse_request(&input, end, MAX_HEADERS, &mut head).unwrap();
            for h in &head.headers {
                assert!(h
                    .value
                    .of(&input)
                    .iter()
                    .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)));
            }
        }
    }
}

#[test]
fn randomized_chunk_streams_decode_the_same_in_any_split() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for round in 0..20_000 {
        let base = b"4\r\nwiki\r\n5;x=y\r\npedia\r\n0\r\nT: v\r\n\r\nrest";
        let input = mutate(&mut rng, base);
        let whole = decode_all(&input);
        let mut decoder = ChunkedDecoder::new();
        let mut at = 0;
        let split = loop {
            let stop = (at + 1 + rng.below(5)).min(input.len());
            match decoder.feed(&input[at..stop]) {
                Err(e) => break Err(e),
                Ok(n) => {
                    at += n;
                    if decoder.is_done() || stop == input.len() {
                        break Ok((at, decoder.is_done()));
                    }
                }
            }
        };
        assert_eq!(
            whole,
            split,
            "round {round}: {:?}",
            String::from_utf8_lossy(&input)
        );
    }
}
