//! Request path normalisation, as Envoy's `normalize_path` followed by `merge_slashes`, so a
//! route cannot be dodged by spelling its path differently (`/%61dmin`, `/x/../admin`,
//! `//admin`) and the backend sees the path that was routed:
//!
//! 1. percent-encoded unreserved characters (ALPHA DIGIT `-` `.` `_` `~`) are decoded and the
//!    hex of every other escape is upper-cased; `%2F` and `%5C` stay encoded (decoding them
//!    would change the segments the backend sees);
//! 2. `.` and `..` segments are resolved (RFC 3986 section 5.2.4; `..` above the root stays at
//!    the root);
//! 3. runs of `/` are merged into one.
//!
//! Invalid percent-encoding (`%zz`, a `%` without two hex digits) is refused with 400, and so is a
//! normal path still hiding a `.` or `..` segment from us behind `%2F`, `%5C`, `\` or `;`
//! parameters (`/public%2F..%2Fadmin`, `/public/..;/admin`): backends that decode those (nginx,
//! IIS, Tomcat) would resolve it to a path other than the one routed. The query is never touched.
//! A path that is already normal is only scanned, never copied.

use super::ParseError;

const INVALID_ESCAPE: ParseError = ParseError::bad("invalid percent-encoding in the path");
const HIDDEN_DOT_SEGMENT: ParseError =
    ParseError::bad("a dot segment hidden behind an encoded slash, a backslash or parameters");

/// Splits a target's path from what follows it (`?query`, or a `#fragment` a client sent).
pub fn split_path(target: &[u8]) -> (&[u8], &[u8]) {
    let end = target
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    target.split_at(end)
}

/// The normal form of `path` (which starts with `/`): `path` itself when it is already normal,
/// else the normal form written into `scratch` (cleared first; its capacity is reused).
pub fn normalize_path<'a>(
    path: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], ParseError> {
    let normal = if is_normal(path)? {
        path
    } else {
        scratch.clear();
        resolve_segments(path, scratch)?;
        merge_slashes(scratch);
        scratch.as_slice()
    };
    if hides_dot_segment(normal) {
        return Err(HIDDEN_DOT_SEGMENT);
    }
    Ok(normal)
}

/// Whether a normal path (escapes upper-cased, plain dot segments resolved) still holds a `.` or
/// `..` once `%2F`, `%5C` and `\` count as separators and `;` starts a segment's parameters.
fn hides_dot_segment(path: &[u8]) -> bool {
    if memchr::memchr3(b'%', b'\\', b';', path).is_none() {
        return false; // the common case: one scan
    }
    let mut start = 0;
    let mut at = 0;
    while at <= path.len() {
        let separator = match path.get(at) {
            None | Some(b'/' | b'\\') => 1,
            Some(b'%') if path[at..].starts_with(b"%2F") || path[at..].starts_with(b"%5C") => 3,
            Some(_) => 0,
        };
        if separator == 0 {
            at += 1;
            continue;
        }
        let part = &path[start..at];
        let name = part.split(|&b| b == b';').next().unwrap_or(part);
        if name == b"." || name == b".." {
            return true;
        }
        at += separator;
        start = at;
    }
    false
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The byte `%XY` at the start of `rest` encodes, or an error when it is not two hex digits.
fn escaped_byte(rest: &[u8]) -> Result<u8, ParseError> {
    match rest {
        [b'%', high, low, ..] => match (hex_value(*high), hex_value(*low)) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(INVALID_ESCAPE),
        },
        _ => Err(INVALID_ESCAPE),
    }
}

/// True when no step would change `path`; validates every escape on the way. Only `%` and `/`
/// matter, so the scan jumps between them.
fn is_normal(path: &[u8]) -> Result<bool, ParseError> {
    let mut normal = true;
    let mut segment_start = 0;
    // Valid escapes hold hex digits only, so no `%` or `/` hides inside one.
    for at in memchr::memchr2_iter(b'%', b'/', path) {
        if path[at] == b'%' {
            let byte = escaped_byte(&path[at..])?;
            if is_unreserved(byte) || path[at + 1..at + 3].iter().any(u8::is_ascii_lowercase) {
                normal = false;
            }
        } else {
            // A slash ends a segment: an empty one (`//`) or a dot segment needs work.
            if at > 0 && is_dot_or_empty(&path[segment_start..at]) {
                normal = false;
            }
            segment_start = at + 1;
        }
    }
    let last = &path[segment_start.min(path.len())..];
    if last == b"." || last == b".." {
        normal = false;
    }
    Ok(normal)
}

fn is_dot_or_empty(segment: &[u8]) -> bool {
    segment.is_empty() || segment == b"." || segment == b".."
}

/// Decodes unreserved escapes and resolves dot segments of `path` into `out` (empty segments are
/// kept here: Envoy resolves `..` before merging slashes, so `/a//../b` is `/a/b`).
fn resolve_segments(path: &[u8], out: &mut Vec<u8>) -> Result<(), ParseError> {
    let body = path.strip_prefix(b"/").unwrap_or(path);
    let mut segments = body.split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        let is_last = segments.peek().is_none();
        let start = out.len();
        out.push(b'/');
        decode_segment(segment, out)?;
        match &out[start + 1..] {
            b"." => {
                // `/a/.` is `/a/`; a `.` in the middle disappears.
                out.truncate(if is_last { start + 1 } else { start });
            }
            b".." => {
                out.truncate(start);
                let parent = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(parent);
                if is_last {
                    out.push(b'/');
                }
            }
            _ => {}
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(())
}

/// Appends `segment` with unreserved escapes decoded and the others' hex upper-cased.
fn decode_segment(segment: &[u8], out: &mut Vec<u8>) -> Result<(), ParseError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut at = 0;
    while at < segment.len() {
        if segment[at] == b'%' {
            let byte = escaped_byte(&segment[at..])?;
            if is_unreserved(byte) {
                out.push(byte);
            } else {
                out.extend_from_slice(&[
                    b'%',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xf)],
                ]);
            }
            at += 3;
        } else {
            out.push(segment[at]);
            at += 1;
        }
    }
    Ok(())
}

/// Collapses every run of `/` into one, in place.
fn merge_slashes(path: &mut Vec<u8>) {
    path.dedup_by(|next, previous| *next == b'/' && *previous == b'/');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(path: &str) -> Result<String, ParseError> {
        let mut scratch = Vec::new();
        normalize_path(path.as_bytes(), &mut scratch)
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
    }

    #[test]
    fn paths_that_dodge_a_route_become_the_route() {
        for dodge in [
            "/%61dmin",
            "/%61%64%6D%69%6e",
            "/x/../admin",
            "/public/../admin",
            "//admin",
            "///admin",
            "/./admin",
            "/%2e/admin",
            "/x/%2E%2e/admin",
            "/../admin",
            "/../../../admin",
            "/x/y/../../admin",
        ] {
            assert_eq!(normal(dodge).unwrap(), "/admin", "{dodge}");
        }
    }

    #[test]
    fn dot_segments_hidden_from_the_normaliser_are_refused() {
        for hidden in [
            "/public%2F..%2Fadmin",
            "/public%2f..%2fadmin",
            "/public%5C..%5Cadmin",
            "/public/..%5Cadmin",
            "/public/..\\admin",
            "/public\\..\\admin",
            "/public/..;/admin",
            "/public/.;x/admin",
            "/public/%2e%2e;/admin",
        ] {
            assert_eq!(normal(hidden).unwrap_err().status, 400, "{hidden}");
        }
        for fine in ["/a;b/c", "/a%2Fb", "/a\\b", "/..a;/b", "/a/b;..", "/a%2F.b"] {
            assert_eq!(normal(fine).unwrap(), fine, "{fine}");
        }
    }

    #[test]
    fn dot_segments_resolve_as_rfc_3986_says() {
        for (input, expected) in [
            ("/a/b/c/./../../g", "/a/g"),
            ("/mid/content=5/../6", "/mid/6"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/./", "/a/"),
            ("/..", "/"),
            ("/.", "/"),
            ("/a/..b/.c/", "/a/..b/.c/"),
            ("/a/...", "/a/..."),
            // `..` is resolved before slashes merge, as Envoy does.
            ("/a//../b", "/a/b"),
            ("/a/b//", "/a/b/"),
        ] {
            assert_eq!(normal(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn escapes_are_decoded_only_for_unreserved_characters() {
        assert_eq!(normal("/%7euser/%5f").unwrap(), "/~user/_");
        assert_eq!(normal("/a%2fb%5cc").unwrap(), "/a%2Fb%5Cc");
        assert_eq!(normal("/a%2Fb").unwrap(), "/a%2Fb");
        assert_eq!(normal("/%20%3f%e2%82%ac").unwrap(), "/%20%3F%E2%82%AC");
        // An encoded slash is not a separator to us, but a dot segment behind it is refused.
        assert_eq!(normal("/a/..%2Fadmin").unwrap_err().status, 400);
        assert_eq!(normal("/a/x..%2Fadmin").unwrap(), "/a/x..%2Fadmin");
    }

    #[test]
    fn invalid_escapes_are_refused() {
        for bad in ["/%zz", "/%4", "/a%", "/%g0/x", "/ok/%-1"] {
            assert_eq!(normal(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn a_normal_path_is_returned_without_copying() {
        let mut scratch = Vec::new();
        for path in [
            "/",
            "/api/v1/users/42",
            "/a%2Fb",
            "/x/",
            "/%20",
            "/.well-known/x",
        ] {
            let out = normalize_path(path.as_bytes(), &mut scratch).unwrap();
            assert_eq!(out.as_ptr(), path.as_ptr(), "{path} was copied");
        }
        assert!(scratch.is_empty());
    }

    #[test]
    fn the_query_is_split_off_untouched() {
        assert_eq!(
            split_path(b"/a/../b?x=/../%61"),
            (&b"/a/../b"[..], &b"?x=/../%61"[..])
        );
        assert_eq!(split_path(b"/p#frag"), (&b"/p"[..], &b"#frag"[..]));
        assert_eq!(split_path(b"/p"), (&b"/p"[..], &b""[..]));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"/.a%2e5F~";
        let mut scratch = Vec::new();
        let mut again = Vec::new();
        for _ in 0..20_000 {
            let mut path = vec![b'/'];
            for _ in 0..(state % 12) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                path.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            state = state.wrapping_add(1);
            let Ok(once) = normalize_path(&path, &mut scratch) else {
                continue;
            };
            let once = once.to_vec();
            assert!(once.starts_with(b"/"));
            let twice = normalize_path(&once, &mut again).unwrap();
            assert_eq!(twice, once, "{:?}", String::from_utf8_lossy(&path));
            assert_eq!(twice.as_ptr(), once.as_ptr(), "a normal path was rewritten");
        }
    }
}
