//! SHA-256 (FIPS 180-4), small and dependency-free.
//!
//! ACL passwords are kept as the lowercase hex SHA-256 of the password, as Redis keeps
//! them (`ACL SETUSER u >pw` shows `#<hash>` in ACL LIST, `#<hash>` sets one directly).
//! The round constants and the initial state are derived at first use from their
//! definition (the fractional bits of the cube and square roots of the first primes),
//! with integer roots, instead of being written out.

use std::sync::LazyLock;

/// The first 64 primes.
fn primes() -> Vec<u128> {
    let mut out = Vec::with_capacity(64);
    let mut n = 2u128;
    while out.len() < 64 {
        if out
            .iter()
            .take_while(|&&p| p * p <= n)
            .all(|&p| !n.is_multiple_of(p))
        {
            out.push(n);
        }
        n += 1;
    }
    out
}

/// Largest `r` with `r^k <= v` (k = 2 or 3), by bisection.
fn iroot(v: u128, k: u32) -> u128 {
    let (mut lo, mut hi) = (0u128, 1u128 << (128 / k + 1));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        match mid.checked_pow(k) {
            Some(p) if p <= v => lo = mid,
            _ => hi = mid - 1,
        }
    }
    lo
}

/// (round constants, initial state).
static CONSTANTS: LazyLock<([u32; 64], [u32; 8])> = LazyLock::new(|| {
    let primes = primes();
    let mut k = [0u32; 64];
    for (slot, &p) in k.iter_mut().zip(&primes) {
        // The first 32 fractional bits of cbrt(p): cbrt(p * 2^96) mod 2^32.
        *slot = iroot(p << 96, 3) as u32;
    }
    let mut h = [0u32; 8];
    for (slot, &p) in h.iter_mut().zip(&primes) {
        *slot = iroot(p << 64, 2) as u32;
    }
    (k, h)
});

/// The SHA-256 digest of `data`.
pub fn digest(data: &[u8]) -> [u8; 32] {
    let (k, mut h) = *CONSTANTS;
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let [a, b, c, d, e, f, g, hh] = v;
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(k[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        for (x, y) in h.iter_mut().zip(v) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// The lowercase hex SHA-256 of `data`.
pub fn hex(data: &[u8]) -> String {
    digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // What redis-server 7.0.15 shows for `ACL SETUSER u >pw`.
        assert_eq!(
            hex(b"pw"),
            "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"
        );
        // Two blocks.
        assert_eq!(
            hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }
}
