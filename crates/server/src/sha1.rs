//! SHA-1 (FIPS 180-4), small and dependency-free.
//!
//! DEBUG DIGEST and DEBUG DIGEST-VALUE fold SHA-1 hashes of keys and values into one
//! 20-byte signature, exactly as redis-server does, so that the same dataset gives the same
//! hex string on Tandem and on Redis. SHA-1 is used here as a checksum, never for security.

/// Length of a SHA-1 digest in bytes.
pub const DIGEST_LEN: usize = 20;

const BLOCK: usize = 64;

/// An incremental SHA-1 computation.
#[derive(Clone, Debug)]
pub struct Sha1 {
    state: [u32; 5],
    block: [u8; BLOCK],
    /// Bytes waiting in `block`.
    pending: usize,
    /// Total bytes fed so far.
    total: u64,
}

impl Default for Sha1 {
    fn default() -> Sha1 {
        Sha1::new()
    }
}

impl Sha1 {
    /// A fresh computation (the standard initial state).
    pub fn new() -> Sha1 {
        Sha1 {
            state: [
                0x6745_2301,
                0xefcd_ab89,
                0x98ba_dcfe,
                0x1032_5476,
                0xc3d2_e1f0,
            ],
            block: [0; BLOCK],
            pending: 0,
            total: 0,
        }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.pending > 0 {
            let take = (BLOCK - self.pending).min(data.len());
            self.block[self.pending..self.pending + take].copy_from_slice(&data[..take]);
            self.pending += take;
            data = &data[take..];
            if self.pending < BLOCK {
                return;
            }
            let block = self.block;
            self.compress(&block);
            self.pending = 0;
        }
        let mut chunks = data.chunks_exact(BLOCK);
        for chunk in &mut chunks {
            let mut block = [0u8; BLOCK];
            block.copy_from_slice(chunk);
            self.compress(&block);
        }
        let rest = chunks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.pending = rest.len();
    }

    /// Pads, processes the last block(s) and returns the digest.
    pub fn finalize(mut self) -> [u8; DIGEST_LEN] {
        let bit_len = self.total.wrapping_mul(8);
        let mut pad = [0u8; BLOCK * 2];
        pad[0] = 0x80;
        // One 0x80 byte, zeros up to 56 mod 64, then the 64-bit big-endian bit length.
        let pad_len = if self.pending < 56 {
            56 - self.pending
        } else {
            120 - self.pending
        };
        let total_before = self.total;
        self.update(&pad[..pad_len]);
        self.update(&bit_len.to_be_bytes());
        self.total = total_before;
        let mut out = [0u8; DIGEST_LEN];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    fn compress(&mut self, block: &[u8; BLOCK]) {
        let mut w = [0u32; 80];
        for (i, chunk) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = self.state;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5a82_7999),
                20..=39 => (b ^ c ^ d, 0x6ed9_eba1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                _ => (b ^ c ^ d, 0xca62_c1d6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d, e]) {
            *s = s.wrapping_add(v);
        }
    }
}

/// SHA-1 of `data` in one call.
pub fn sha1(data: &[u8]) -> [u8; DIGEST_LEN] {
    let mut h = Sha1::new();
    h.update(data);
    h.finalize()
}

/// Lower-case hex of a digest (what DEBUG DIGEST replies).
pub fn to_hex(d: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(d.len() * 2);
    for &b in d {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(data: &[u8]) -> String {
        to_hex(&sha1(data))
    }

    #[test]
    fn standard_vectors() {
        assert_eq!(hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex(b"The quick brown fox jumps over the lazy dog"),
            "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"
        );
        assert_eq!(
            hex(&[b'a'; 1_000_000]),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = sha1(&data);
        for split in [0, 1, 55, 56, 63, 64, 65, 128, 999, 1000] {
            for step in [1, 3, 64, 100] {
                let mut h = Sha1::new();
                h.update(&data[..split]);
                for chunk in data[split..].chunks(step) {
                    h.update(chunk);
                }
                assert_eq!(h.finalize(), whole, "split {split} step {step}");
            }
        }
        // Lengths around the padding boundary.
        for len in 50..=70 {
            let mut h = Sha1::new();
            for b in &data[..len] {
                h.update(std::slice::from_ref(b));
            }
            assert_eq!(h.finalize(), sha1(&data[..len]), "len {len}");
        }
    }
}
