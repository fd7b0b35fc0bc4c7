//! Cookie-based sticky sessions: a request carrying a valid cookie goes back to the backend it
//! names while that backend is eligible; any other request is balanced by smooth weighted round
//! robin (and the engine sets the cookie to the backend chosen).
//!
//! The cookie is `<id>.<mac>`, both 16 hex digits. `id` is the backend's stable identity, a keyed
//! SipHash of its address, not its index in the pool: an `update()` that reorders the backends
//! or inserts new ones keeps every client on its backend, and a cookie naming a backend that
//! left the pool matches none (the request is balanced and gets a new cookie). The MAC, a keyed
//! SipHash of the id under the engine's secret, stops a client from picking its backend by
//! editing the cookie; the id's own key hides the backend addresses from clients.

use super::hash::siphash;
use super::weighted_round_robin::WeightedRoundRobin;
use super::{Balancer, PickContext};

const HEX_DIGITS: usize = 16;
/// Separates the identity key from the MAC key derived from the same secret.
const IDENTITY_KEY_TWEAK: u64 = 0x6964_656e_7469_7479;

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

/// The stable identities of a pool's backends, and the way back from an identity to an index.
#[derive(Debug, Default)]
pub struct StickyIdentities {
    by_index: Vec<u64>,
    /// (identity, index), sorted by identity: looked up without allocating.
    sorted: Vec<(u64, usize)>,
}

impl StickyIdentities {
    /// Identities of backends known by `addresses` (a stable spelling of each, in pool order).
    pub fn new<A: AsRef<[u8]>>(addresses: &[A], secret: u64) -> Self {
        let by_index: Vec<u64> = addresses
            .iter()
            .map(|a| backend_identity(a.as_ref(), secret))
            .collect();
        let mut sorted: Vec<(u64, usize)> = by_index.iter().copied().zip(0..).collect();
        sorted.sort_unstable();
        Self { by_index, sorted }
    }

    /// The identity of the backend at `index`.
    pub fn identity(&self, index: usize) -> u64 {
        self.by_index[index]
    }

    /// The index of the backend with this identity, if it is (still) in the pool.
    pub fn index_of(&self, identity: u64) -> Option<usize> {
        self.sorted
            .binary_search_by_key(&identity, |&(id, _)| id)
            .ok()
            .map(|at| self.sorted[at].1)
    }
}

/// A backend's identity: its address hashed under a key derived from the secret.
fn backend_identity(address: &[u8], secret: u64) -> u64 {
    siphash(secret ^ IDENTITY_KEY_TWEAK, secret.rotate_left(32), address)
}

fn mac(identity: u64, secret: u64) -> u64 {
    siphash(secret, !secret, &identity.to_le_bytes())
}

fn push_hex(out: &mut Vec<u8>, value: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..HEX_DIGITS).rev() {
        out.push(HEX[((value >> (shift * 4)) & 0xf) as usize]);
    }
}

fn parse_hex(digits: &[u8]) -> Option<u64> {
    if digits.len() != HEX_DIGITS {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u64::from(digit))
    })
}

/// Appends the cookie value that sends a client back to the backend with this identity.
pub fn write_sticky_cookie_value(out: &mut Vec<u8>, identity: u64, secret: u64) {
    push_hex(out, identity);
    out.push(b'.');
    push_hex(out, mac(identity, secret));
}

/// The backend identity a cookie names, if its MAC is valid under `secret`; None for anything
/// else (tampered, truncated, from another secret, from the old index format).
pub fn parse_sticky_cookie(value: &[u8], secret: u64) -> Option<u64> {
    if value.len() != 2 * HEX_DIGITS + 1 || value[HEX_DIGITS] != b'.' {
        return None;
    }
    let identity = parse_hex(&value[..HEX_DIGITS])?;
    let tag = parse_hex(&value[HEX_DIGITS + 1..])?;
    (tag == mac(identity, secret)).then_some(identity)
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

    fn cookie(identity: u64) -> Vec<u8> {
        let mut value = Vec::new();
        write_sticky_cookie_value(&mut value, identity, SECRET);
        value
    }

    #[test]
    fn cookies_round_trip() {
        for identity in [0, 1, 9, 0xdead_beef, u64::MAX] {
            assert_eq!(
                parse_sticky_cookie(&cookie(identity), SECRET),
                Some(identity)
            );
        }
        assert_eq!(cookie(0x1f).len(), 33);
        assert!(cookie(0x1f).starts_with(b"000000000000001f."));
    }

    #[test]
    fn tampered_or_foreign_cookies_are_rejected() {
        let value = cookie(3);
        let tag = String::from_utf8(value[17..].to_vec()).unwrap();
        let other = format!("0000000000000004.{tag}");
        assert_eq!(parse_sticky_cookie(other.as_bytes(), SECRET), None);
        assert_eq!(parse_sticky_cookie(&value, SECRET ^ 1,), None);
        let upper = String::from_utf8(value.clone()).unwrap().to_uppercase();
        let mut spaced = value.clone();
        spaced.push(b' ');
        for bad in [
            &b""[..],
            b"3",
            b"3.0000000000000000",
            b"0000000000000003",
            b"0000000000000003.",
            b"+000000000000003.0000000000000000",
            upper.as_bytes(),
            &spaced,
        ] {
            assert_eq!(parse_sticky_cookie(bad, SECRET), None, "{bad:?}");
        }
        // Flipping any one hex digit of the identity or the tag invalidates it.
        for position in (0..16).chain(17..33) {
            let mut forged = value.clone();
            forged[position] = if forged[position] == b'0' { b'1' } else { b'0' };
            assert_eq!(parse_sticky_cookie(&forged, SECRET), None);
        }
    }

    #[test]
    fn identities_follow_the_address_not_the_position() {
        let before = StickyIdentities::new(&["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"], SECRET);
        // Reordered, one inserted in front, one removed.
        let after = StickyIdentities::new(&["10.0.0.9:80", "10.0.0.3:80", "10.0.0.1:80"], SECRET);
        let moved = |index: usize| after.index_of(before.identity(index));
        assert_eq!(moved(0), Some(2));
        assert_eq!(moved(1), None, "a backend that left matches nothing");
        assert_eq!(moved(2), Some(1));
        for index in 0..3 {
            assert_eq!(before.index_of(before.identity(index)), Some(index));
        }
        // Another engine secret gives other identities (addresses are not exposed as such).
        let foreign = StickyIdentities::new(&["10.0.0.1:80"], SECRET ^ 1);
        assert_ne!(foreign.identity(0), before.identity(0));
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
