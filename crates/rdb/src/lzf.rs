//! LZF, the compression Redis uses for strings in RDB files.
//!
//! [`decompress`] accepts any valid LZF stream and checks it against the
//! declared length (never reading or writing out of bounds, never allocating
//! more than the input can expand to). [`Compressor`] follows liblzf's
//! compressor as Redis builds it (liblzf 3.6: HLOG 16, VERY_FAST, a back reference
//! allowed up to the last 3 input bytes, the same output-space
//! checks), so that the strings it compresses, and the decision to store a
//! string raw because LZF would not save 4 bytes, match what Redis writes.
//!
//! One difference cannot be removed: Redis builds liblzf with `INIT_HTAB 0`,
//! so its hash table is whatever the stack held, usually the pointers of the
//! previous call. When such a stale pointer lands inside the current input
//! (a buffer reallocated at the same address), Redis could find a back
//! reference a clean table does not, and its output would be a few bytes
//! different. Both decompress to the same bytes; [`Compressor`] is
//! deterministic. (The tail differences once blamed on this were the
//! end-of-input rule above; DUMPs of lists of 60 to 1000 elements now match.)
//!
//! Stream format: a control byte `c < 0x20` starts a literal run of `c + 1`
//! bytes; otherwise `L = c >> 5` (7 means "add the next byte"), the offset is
//! `((c & 0x1f) << 8) | next`, and `L + 2` bytes are copied from
//! `offset + 1` bytes back in the output (possibly overlapping).

/// Why an LZF stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LzfError {
    /// The stream ends in the middle of a control sequence or literal run.
    #[error("LZF stream truncated")]
    Truncated,
    /// A back reference points before the start of the output.
    #[error("LZF back reference out of range")]
    BadReference,
    /// The output would not have exactly the declared length.
    #[error("LZF output length differs from the declared length")]
    LengthMismatch,
}

/// Decompress `input`, which must expand to exactly `expected_len` bytes.
pub fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, LzfError> {
    // A 3-byte back reference yields at most 264 bytes: never preallocate more
    // than the input can produce, whatever length the file claims.
    let cap = expected_len.min(input.len().saturating_mul(88).saturating_add(32));
    let mut out: Vec<u8> = Vec::with_capacity(cap);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let lit = input.get(ip..ip + n).ok_or(LzfError::Truncated)?;
            if out.len() + n > expected_len {
                return Err(LzfError::LengthMismatch);
            }
            out.extend_from_slice(lit);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
                ip += 1;
            }
            let low = usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
            ip += 1;
            let back = (((ctrl & 0x1f) << 8) | low) + 1;
            let n = len + 2;
            let start = out.len().checked_sub(back).ok_or(LzfError::BadReference)?;
            if out.len() + n > expected_len {
                return Err(LzfError::LengthMismatch);
            }
            if back >= n {
                out.extend_from_within(start..start + n);
            } else {
                for i in 0..n {
                    let b = out[start + i];
                    out.push(b);
                }
            }
        }
    }
    if out.len() != expected_len {
        return Err(LzfError::LengthMismatch);
    }
    Ok(out)
}

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

#[inline]
fn idx(h: u32) -> usize {
    ((h >> (24 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// A reusable LZF compressor (keeps its 64k-slot hash table between calls).
pub struct Compressor {
    /// (generation, position) per hash slot; a slot is valid only for the
    /// current generation, which replaces clearing the table on every call.
    table: Vec<(u32, u32)>,
    generation: u32,
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor").finish_non_exhaustive()
    }
}

impl Compressor {
    /// A fresh compressor.
    pub fn new() -> Self {
        Compressor {
            table: Vec::new(),
            generation: 0,
        }
    }

    /// Compress `input` into at most `out_len` bytes, as liblzf's
    /// `lzf_compress` does: `None` when the output does not fit (Redis then
    /// stores the string raw) or the input is empty.
    pub fn compress(&mut self, input: &[u8], out_len: usize) -> Option<Vec<u8>> {
        let in_end = input.len();
        if in_end == 0 || out_len == 0 || in_end > u32::MAX as usize {
            return None;
        }
        if self.table.is_empty() {
            self.table = vec![(0, 0); HSIZE];
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.table.iter_mut().for_each(|s| *s = (0, 0));
            self.generation = 1;
        }
        let gen = self.generation;
        let mut out = vec![0u8; out_len + 8];
        let mut ip = 0usize;
        let mut op = 1usize; // start a literal run
        let mut lit = 0usize;
        let mut hval: u32 = if in_end >= 2 {
            (u32::from(input[0]) << 8) | u32::from(input[1])
        } else {
            0
        };
        while ip + 2 < in_end {
            hval = (hval << 8) | u32::from(input[ip + 2]);
            let slot = idx(hval);
            let (g, pos) = self.table[slot];
            self.table[slot] = (gen, ip as u32);
            let candidate = if g == gen { Some(pos as usize) } else { None };
            let reference = candidate.filter(|&r| {
                ip - r - 1 < MAX_OFF
                    && r > 0
                    && input[r] == input[ip]
                    && input[r + 1] == input[ip + 1]
                    && input[r + 2] == input[ip + 2]
            });
            if let Some(r) = reference {
                let off = ip - r - 1;
                let mut len = 2usize;
                let maxlen = (in_end - ip - len).min(MAX_REF);
                out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
                if lit == 0 {
                    op -= 1; // undo an empty run
                }
                if op + 3 + 1 >= out_len {
                    return None;
                }
                'scan: {
                    if maxlen > 16 {
                        for _ in 0..16 {
                            len += 1;
                            if input[r + len] != input[ip + len] {
                                break 'scan;
                            }
                        }
                    }
                    len += 1;
                    while len < maxlen && input[r + len] == input[ip + len] {
                        len += 1;
                    }
                }
                len -= 2;
                ip += 1;
                if len < 7 {
                    out[op] = ((off >> 8) + (len << 5)) as u8;
                    op += 1;
                } else {
                    out[op] = ((off >> 8) + (7 << 5)) as u8;
                    out[op + 1] = (len - 7) as u8;
                    op += 2;
                }
                out[op] = off as u8;
                op += 1;
                lit = 0;
                op += 1; // start run
                ip += len + 1;
                if ip + 2 >= in_end {
                    break;
                }
                ip -= 2;
                hval = (u32::from(input[ip]) << 8) | u32::from(input[ip + 1]);
                hval = (hval << 8) | u32::from(input[ip + 2]);
                self.table[idx(hval)] = (gen, ip as u32);
                ip += 1;
                hval = (hval << 8) | u32::from(input[ip + 2]);
                self.table[idx(hval)] = (gen, ip as u32);
                ip += 1;
            } else {
                if op >= out_len {
                    return None;
                }
                lit += 1;
                out[op] = input[ip];
                op += 1;
                ip += 1;
                if lit == MAX_LIT {
                    out[op - lit - 1] = (lit - 1) as u8;
                    lit = 0;
                    op += 1;
                }
            }
        }
        if op + 3 > out_len {
            return None;
        }
        while ip < in_end {
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
        out[op - lit - 1] = (lit as u8).wrapping_sub(1);
        if lit == 0 {
            op -= 1;
        }
        if op > out_len {
            return None;
        }
        out.truncate(op);
        Some(out)
    }
}

/// Compress with a one-off [`Compressor`] (see [`Compressor::compress`]).
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    Compressor::new().compress(input, out_len)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redis_vectors() {
        // DUMP outputs of redis-server 7.0.15 (see rdb-format.md §5).
        let a260 = vec![b'a'; 260];
        let c = compress(&a260, 256).unwrap();
        assert_eq!(c, [0x01, 0x61, 0x61, 0xe0, 0xf7, 0x00, 0x01, 0x61, 0x61]);
        assert_eq!(decompress(&c, 260).unwrap(), a260);

        let abc = b"abcdefghijklmnopqrstuvwxyzabcdefghijklmnop";
        let c = compress(abc, abc.len() - 4).unwrap();
        let mut want = vec![0x1a];
        want.extend_from_slice(b"abcdefghijklmnopqrstuvwxyza");
        want.extend_from_slice(&[0xe0, 0x04, 0x19, 0x01, b'o', b'p']);
        assert_eq!(c, want);
        assert_eq!(decompress(&c, abc.len()).unwrap(), abc);

        // Observed with SET + DUMP on 7.0.15.
        let mut s = vec![b'a'; 66];
        s.extend_from_slice(b"bcbcbcbcbcbcbcbbcbcbcbcbcbcbcbcbcbbcbcbcbcbcbxyz");
        let c = compress(&s, s.len() - 4).unwrap();
        let want: &[u8] =
            b"\x01aa\xe07\x00\x01bc\xe0\x04\x01\xe0\x04\x0c\x80\x01\xa0\x06@\x01\x02xyz";
        assert_eq!(c, want);
        assert_eq!(decompress(&c, s.len()).unwrap(), s);
    }

    #[test]
    fn incompressible_is_refused() {
        let data: Vec<u8> = (0..64u8).collect();
        assert!(compress(&data, data.len() - 4).is_none());
    }

    #[test]
    fn corrupt_streams() {
        assert_eq!(decompress(&[0x05, b'a'], 6), Err(LzfError::Truncated));
        assert_eq!(decompress(&[0x20, 0x00], 3), Err(LzfError::BadReference));
        assert_eq!(decompress(&[0x00, b'a'], 2), Err(LzfError::LengthMismatch));
        assert_eq!(
            decompress(&[0x00, b'a', 0xe0], 300),
            Err(LzfError::Truncated)
        );
        assert_eq!(
            decompress(&[0x00, b'a', 0xe0, 0xff, 0x00], 5),
            Err(LzfError::LengthMismatch)
        );
    }
}
