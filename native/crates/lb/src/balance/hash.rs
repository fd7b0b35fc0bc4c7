//! Hashing shared by the balancers: SipHash-2-4 (keyed, so clients cannot aim their keys at one
//! backend, and usable as a MAC for sticky cookies) and a SplitMix64 generator.

use std::net::IpAddr;

/// SipHash-2-4 of `data` under the 128-bit key (`k0`, `k1`).
pub fn siphash(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        compress(&mut v, u64::from_le_bytes(word), 2);
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    // The length byte makes "ab" and "ab\0" hash differently.
    last[7] = data.len() as u8;
    compress(&mut v, u64::from_le_bytes(last), 2);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

fn compress(v: &mut [u64; 4], m: u64, rounds: usize) {
    v[3] ^= m;
    for _ in 0..rounds {
        round(v);
    }
    v[0] ^= m;
}

fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// Hashes a client address: IPv4 and IPv4-mapped IPv6 give the same value.
pub fn hash_ip(k0: u64, k1: u64, ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => siphash(k0, k1, &v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => siphash(k0, k1, &v4.octets()),
            None => siphash(k0, k1, &v6.octets()),
        },
    }
}

/// The SplitMix64 output function: a bijective mix of a 64-bit counter into a random-looking word.
pub fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The SplitMix64 counter increment (the golden ratio in 64-bit fixed point).
pub const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Maps a random word uniformly onto `0..n` without division (Lemire's multiply-shift).
pub fn bounded(random: u64, n: usize) -> usize {
    ((u128::from(random) * n as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_matches_the_reference_vectors() {
        // Reference vectors from the SipHash paper: key 00..0f, messages 00, 00 01, ...
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let message: Vec<u8> = (0..64).collect();
        assert_eq!(siphash(k0, k1, &message[..0]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash(k0, k1, &message[..1]), 0x74f8_39c5_93dc_67fd);
    }

    #[test]
    #[allow(deprecated)] // std's SipHasher is deprecated for hashing, fine as a test oracle
    fn siphash_matches_std_sip_hasher_on_every_length() {
        use std::hash::{Hasher, SipHasher};
        let message: Vec<u8> = (0..64).map(|i: u8| i.wrapping_mul(37)).collect();
        for len in 0..message.len() {
            let mut oracle = SipHasher::new_with_keys(7, 11);
            oracle.write(&message[..len]);
            assert_eq!(
                siphash(7, 11, &message[..len]),
                oracle.finish(),
                "length {len}"
            );
        }
    }

    #[test]
    fn mapped_ipv4_hashes_like_ipv4() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(hash_ip(1, 2, v4), hash_ip(1, 2, mapped));
        assert_ne!(hash_ip(1, 2, v4), hash_ip(1, 3, v4));
    }

    #[test]
    fn bounded_stays_in_range() {
        for n in [1usize, 2, 3, 7, 1000] {
            for i in 0..1000u64 {
                assert!(bounded(splitmix64(i), n) < n);
            }
        }
        assert_eq!(bounded(u64::MAX, 10), 9);
    }
}
