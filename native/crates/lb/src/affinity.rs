//! What a pool's algorithm hashes on or sticks by: a header, a cookie, the client address, or
//! the signed sticky cookie. Extracted from the parsed request without copying.

use crate::config::{AlgorithmConfig, AlgorithmName, HashOn};
use crate::http::HeaderSpan;

/// The request property a pool's balancer needs.
pub enum Affinity {
    /// Nothing (or the client address, which the balancer reads itself).
    None,
    /// Hash on this header's value (lower-case name).
    Header(Vec<u8>),
    /// Hash on this cookie's value.
    Cookie(Vec<u8>),
    /// Sticky sessions through this cookie; `max_age_s` 0 = session cookie.
    Sticky { name: Vec<u8>, max_age_s: u64 },
}

impl Affinity {
    pub fn from_config(algorithm: &AlgorithmConfig) -> Self {
        let key = || algorithm.key.clone().unwrap_or_default().into_bytes();
        match (algorithm.kind, algorithm.hash_on) {
            (AlgorithmName::ConsistentHash, Some(HashOn::Header)) => {
                Self::Header(key().to_ascii_lowercase())
            }
            (AlgorithmName::ConsistentHash, Some(HashOn::Cookie)) => Self::Cookie(key()),
            (AlgorithmName::StickyCookie, _) => {
                let cookie = algorithm.cookie.as_ref();
                Self::Sticky {
                    name: cookie
                        .map_or_else(|| b"tc_sticky".to_vec(), |c| c.name.clone().into_bytes()),
                    max_age_s: cookie.map_or(0, |c| c.ttl_ms.div_ceil(1000)),
                }
            }
            _ => Self::None,
        }
    }
}

/// The value of the first field named `name` (case-insensitive).
pub fn header_value<'b>(buf: &'b [u8], headers: &[HeaderSpan], name: &[u8]) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|h| h.name.of(buf).eq_ignore_ascii_case(name))
        .map(|h| h.value.of(buf))
}

/// The value of cookie `name` in any Cookie field (`a=1; b=2`).
pub fn cookie_value<'b>(buf: &'b [u8], headers: &[HeaderSpan], name: &[u8]) -> Option<&'b [u8]> {
    headers
        .iter()
        .filter(|h| h.name.of(buf).eq_ignore_ascii_case(b"cookie"))
        .flat_map(|h| h.value.of(buf).split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (pair[..eq] == *name).then(|| &pair[eq + 1..])
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{find_head_end, parse_request, RequestHead};

    #[test]
    fn cookies_and_headers_are_found_by_name() {
        let input = b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; tc_sticky=2.ff\r\nCookie: b=3\r\nX-User: u7\r\n\r\n";
        let mut scanned = 0;
        let end = find_head_end(input, &mut scanned, 4096).unwrap().unwrap();
        let mut head = RequestHead::default();
        parse_request(input, end, 10, &mut head).unwrap();
        assert_eq!(
            cookie_value(input, &head.headers, b"tc_sticky"),
            Some(&b"2.ff"[..])
        );
        assert_eq!(cookie_value(input, &head.headers, b"b"), Some(&b"3"[..]));
        assert_eq!(cookie_value(input, &head.headers, b"c"), None);
        assert_eq!(
            header_value(input, &head.headers, b"x-user"),
            Some(&b"u7"[..])
        );
    }
}
