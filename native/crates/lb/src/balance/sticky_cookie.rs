//! Cookie-based sticky sessions: a request carrying a valid cookie goes back to the backend it
//! names while that backend is eligible; any other request is balanced by smooth weighted round
//! robin (and the engine sets the cookie to the backend chosen).
//!
//! The cookie is `<index>.<mac>`, the MAC a keyed SipHash of the index under the engine's
//! secret, so a client cannot pick its backend by editing the cookie. The secret should change
//! when the backend list does, which invalidates cookies whose index now means another backend.

use std::fmt::Write;

use super::hash::siphash;
use super::weighted_round_robin::WeightedRoundRobin;
use super::{Balancer, PickContext};

/// Longest index accepted in a cookie (u32::MAX has 10 digits).
const MAX_INDEX_DIGITS: usize = 10;
const MAC_HEX_DIGITS: usize = 16;

/// Sticky sessions over smooth weighted round robin.
pub struct StickyCookie {
    fallback: WeightedRoundRobin,
    backends: usize,
}

impl StickyCookie {
    /// A balancer with the given weights for requests without a usable cookie.
    pub fn new(weights: &[u32]) -> Self {
        StickyCookie {
            fallback: WeightedRoundRobin::new(weights),
            backends: weights.len(),
        }
    }
}

impl Balancer for StickyCookie {
    fn pick(&self, ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        match ctx.sticky {
            Some(i) if i < self.backends && eligible(i) => Some(i),
            _ => self.fallback.pick_weighted(eligible),
        }
    }

    fn set_weight(&self, backend: usize, weight: u32) {
        self.fallback.set_weight(backend, weight);
    }
}

fn mac(backend: u64, secret: u64) -> u64 {
    siphash(secret, !secret, &backend.to_le_bytes())
}

/// The cookie value that sends a client back to `backend`.
pub fn sticky_cookie_value(backend: usize, secret: u64) -> String {
    let mut value = String::with_capacity(MAX_INDEX_DIGITS + 1 + MAC_HEX_DIGITS);
    // Writing into a String cannot fail.
    let _ = write!(value, "{backend}.{:016x}", mac(backend as u64, secret));
    value
}

/// The backend index a cookie names, if its MAC is valid under `secret` and the index is below
/// `backends`; None for anything else (tampered, truncated, from another secret).
pub fn parse_sticky_cookie(value: &str, secret: u64, backends: usize) -> Option<usize> {
    let (index, tag) = value.split_once('.')?;
    let well_formed = !index.is_empty()
        && index.len() <= MAX_INDEX_DIGITS
        && index.bytes().all(|b| b.is_ascii_digit())
        && (index == "0" || !index.starts_with('0'))
        && tag.len() == MAC_HEX_DIGITS
        && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return None;
    }
    let index: u64 = index.parse().ok()?;
    let tag = u64::from_str_radix(tag, 16).ok()?;
    // Constant-time comparison is moot for a 64-bit tag checked once per request, but cheap.
    let valid = (tag ^ mac(index, secret)) == 0;
    let index = usize::try_from(index).ok()?;
    (valid && index < backends).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{histogram, max_relative_deviation};
    use super::*;
    use std::net::IpAddr;

    const SECRET: u64 = 0x5eed_cafe_f00d_1234;

    fn sticky_ctx(sticky: Option<usize>) -> PickContext<'static> {
        PickContext {
            client_ip: IpAddr::from([127, 0, 0, 1]),
            hash_key: None,
            sticky,
        }
    }

    #[test]
    fn cookies_round_trip() {
        for backend in [0, 1, 9, 10, 999, u32::MAX as usize] {
            let value = sticky_cookie_value(backend, SECRET);
            assert_eq!(
                parse_sticky_cookie(&value, SECRET, usize::MAX),
                Some(backend)
            );
        }
        assert!(sticky_cookie_value(3, SECRET).starts_with("3."));
    }

    #[test]
    fn tampered_or_foreign_cookies_are_rejected() {
        let value = sticky_cookie_value(3, SECRET);
        let (_, tag) = value.split_once('.').unwrap();
        assert_eq!(parse_sticky_cookie(&format!("4.{tag}"), SECRET, 10), None);
        assert_eq!(parse_sticky_cookie(&value, SECRET ^ 1, 10), None);
        assert_eq!(
            parse_sticky_cookie(&value, SECRET, 3),
            None,
            "index out of range"
        );
        for bad in [
            "",
            "3",
            "3.",
            ".abc",
            "03.0000000000000000",
            "+3.0000000000000000",
            "3.00000000000000000",
            &value.to_uppercase(),
            &format!("{value} "),
            &format!("99999999999.{tag}"),
        ] {
            assert_eq!(parse_sticky_cookie(bad, SECRET, 10), None, "{bad:?}");
        }
        // Flipping any one hex digit of the tag invalidates it.
        for position in 0..16 {
            let mut forged: Vec<u8> = value.clone().into_bytes();
            let at = 2 + position;
            forged[at] = if forged[at] == b'0' { b'1' } else { b'0' };
            let forged = String::from_utf8(forged).unwrap();
            assert_eq!(parse_sticky_cookie(&forged, SECRET, 10), None);
        }
    }

    #[test]
    fn a_valid_cookie_sticks_while_its_backend_is_eligible() {
        let sticky = StickyCookie::new(&[1, 1, 1]);
        for _ in 0..100 {
            assert_eq!(sticky.pick(&sticky_ctx(Some(2)), &|_| true), Some(2));
        }
        let moved = sticky.pick(&sticky_ctx(Some(2)), &|b| b != 2).unwrap();
        assert_ne!(moved, 2);
        assert_ne!(sticky.pick(&sticky_ctx(Some(7)), &|_| true), None);
    }

    #[test]
    fn requests_without_cookie_follow_the_weights() {
        let sticky = StickyCookie::new(&[1, 3]);
        let counts = histogram(&sticky, 2, 40_000, &|_| true);
        assert!(
            max_relative_deviation(&counts, &[1.0, 3.0]) < 0.001,
            "{counts:?}"
        );
    }
}
