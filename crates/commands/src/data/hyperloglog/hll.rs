//! Redis's HyperLogLog value format and algorithm, byte for byte.
//!
//! A HyperLogLog is a plain string: a 16-byte header (`HYLL`, the encoding byte, three
//! reserved bytes, the cached cardinality as 8 little-endian bytes whose top bit marks it
//! stale) followed by 16384 six-bit registers, either `dense` (12288 packed bytes, least
//! significant bits first) or `sparse` (a run-length code of ZERO `00xxxxxx`, XZERO
//! `01xxxxxx xxxxxxxx` and VAL `1vvvvvxx` opcodes). Every write follows Redis 7.0.15 step
//! by step, since the bytes travel to replicas and into RDB files: the same in-place opcode
//! splits, the same merge of adjacent VAL opcodes, the same promotion to dense when a
//! register exceeds 32 or the string would pass `hll-sparse-max-bytes`. Counting uses
//! Otmar Ertl's improved estimator exactly as Redis computes it (same operation order).
//!
//! Corrupted sparse data is reported as [`Corrupt`] where Redis reports it; reads past
//! the end of the string see a zero byte, as Redis sees the sds terminator.

/// Size of the header.
pub const HDR_SIZE: usize = 16;
/// Number of registers (2^14).
pub const REGISTERS: usize = 1 << 14;
/// Bits of the hash used for the register index.
const P: u32 = 14;
/// Bits of the hash left for the run of zeros.
const Q: usize = 64 - P as usize;
/// Bits per dense register.
const BITS: usize = 6;
const REGISTER_MAX: u32 = (1 << BITS) - 1;
/// Length of a dense HyperLogLog string.
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);
/// Encoding byte of the dense form.
pub const DENSE: u8 = 0;
/// Encoding byte of the sparse form.
pub const SPARSE: u8 = 1;
const SEED: u64 = 0xadc8_3b19;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

/// The sparse representation is invalid (Redis's `INVALIDOBJ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Redis's `isHLLObjectOrReply` checks on a string's bytes: long enough for the header,
/// the `HYLL` magic, a known encoding, and the exact length when dense.
pub fn is_hll(s: &[u8]) -> bool {
    s.len() >= HDR_SIZE
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

/// The encoding byte (callers checked [`is_hll`]).
pub fn encoding(s: &[u8]) -> u8 {
    s[4]
}

/// A new, empty HyperLogLog: sparse, one XZERO opcode covering every register, and a
/// valid cached cardinality of 0.
pub fn new_sparse() -> Vec<u8> {
    let mut s = vec![0u8; HDR_SIZE];
    s[..4].copy_from_slice(b"HYLL");
    s[4] = SPARSE;
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        s.extend_from_slice(&xzero(n));
        left -= n;
    }
    s
}

/// The cached cardinality, if it is valid.
pub fn cached(s: &[u8]) -> Option<u64> {
    if s[15] & 0x80 != 0 {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[8..16]);
    Some(u64::from_le_bytes(b))
}

/// Stores a freshly computed cardinality in the header.
pub fn set_cached(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale.
pub fn invalidate(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// MurmurHash64A as Redis has it (little-endian reads on every platform).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let mut k = u64::from_le_bytes(w);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the length of its `000..1` pattern (1..=51).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------
// Dense registers (`r` is the part after the header).

/// Register `i` of a dense register array.
pub fn dense_get(r: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u32::from(r[byte]);
    let b1 = u32::from(r.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX) as u8
}

/// Sets register `i` of a dense register array to `v` (at most 63).
pub fn dense_set(r: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let fb8 = 8 - fb;
    let v = u32::from(v);
    r[byte] = ((u32::from(r[byte]) & !(REGISTER_MAX << fb)) | (v << fb)) as u8;
    if let Some(b) = r.get_mut(byte + 1) {
        *b = ((u32::from(*b) & !(REGISTER_MAX >> fb8)) | (v >> fb8)) as u8;
    }
}

/// Raises register `i` to `count` if it is lower; true if it changed.
fn dense_raise(r: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(r, i) {
        dense_set(r, i, count);
        true
    } else {
        false
    }
}

// ---------------------------------------------------------------------------
// Sparse opcodes.

fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}

fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}

fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}

fn zero_len(b: u8) -> usize {
    usize::from(b & 0x3f) + 1
}

fn xzero_len(s: &[u8], p: usize) -> usize {
    ((usize::from(s[p] & 0x3f) << 8) | usize::from(at(s, p + 1))) + 1
}

fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

fn val_len(b: u8) -> usize {
    usize::from(b & 0x3) + 1
}

fn val(v: u8, len: usize) -> u8 {
    ((v - 1) << 2) | (len as u8 - 1) | 0x80
}

fn zero(len: usize) -> u8 {
    (len - 1) as u8
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [((l >> 8) as u8) | 0x40, (l & 0xff) as u8]
}

/// One decoded sparse opcode: its byte length, register span, and value (0 for zeros).
struct Op {
    len: usize,
    span: usize,
    value: u8,
}

fn op_at(s: &[u8], p: usize) -> Op {
    let b = s[p];
    if is_zero(b) {
        Op {
            len: 1,
            span: zero_len(b),
            value: 0,
        }
    } else if is_xzero(b) {
        Op {
            len: 2,
            span: xzero_len(s, p),
            value: 0,
        }
    } else {
        Op {
            len: 1,
            span: val_len(b),
            value: val_value(b),
        }
    }
}

/// Converts a sparse HyperLogLog to dense in place (no-op when already dense). The
/// header (magic, reserved bytes, cached cardinality) is kept.
pub fn sparse_to_dense(s: &mut Vec<u8>) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR_SIZE].copy_from_slice(&s[..HDR_SIZE]);
    dense[4] = DENSE;
    let regs = &mut dense[HDR_SIZE..];
    let mut idx = 0usize;
    let mut p = HDR_SIZE;
    while p < s.len() {
        let op = op_at(s, p);
        if op.span + idx > REGISTERS {
            // Any opcode running past the last register makes the object invalid
            // (Redis 7.0.15 as Debian ships it, with the CVE-2025-32023 fix).
            return Err(Corrupt);
        }
        if op.value != 0 {
            for _ in 0..op.span {
                dense_set(regs, idx, op.value);
                idx += 1;
            }
        } else {
            idx += op.span;
        }
        p += op.len;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *s = dense;
    Ok(())
}

/// Redis's `hllSparseSet`: raises register `index` to `count` in a sparse HyperLogLog,
/// splitting the opcode that covers it, or promotes to dense. `Ok(true)` if a register
/// changed.
pub fn sparse_set(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let end = s.len();
    let mut p = HDR_SIZE;
    let mut first = 0usize;
    let mut prev = None;
    let mut span = 0usize;
    while p < end {
        let op = op_at(s, p);
        span = op.span;
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += op.len;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let b = s[p];
    let (zeroish, xz) = (!is_val(b), is_xzero(b));
    let runlen = op_at(s, p).span;

    // Step 2: the trivial in-place updates.
    let mut replaced = false;
    if !zeroish {
        if val_value(b) >= count {
            return Ok(false);
        }
        if runlen == 1 {
            s[p] = val(count, 1);
            replaced = true;
        }
    } else if !xz && runlen == 1 {
        s[p] = val(count, 1);
        replaced = true;
    }

    if !replaced {
        // Step 3: split the opcode into up to three.
        let last = first + span - 1;
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        let push_zero = |seq: &mut Vec<u8>, len: usize| {
            if len > ZERO_MAX_LEN {
                seq.extend_from_slice(&xzero(len));
            } else {
                seq.push(zero(len));
            }
        };
        if zeroish {
            if index != first {
                push_zero(&mut seq, index - first);
            }
            seq.push(val(count, 1));
            if index != last {
                push_zero(&mut seq, last - index);
            }
        } else {
            let cur = val_value(b);
            if index != first {
                seq.push(val(cur, index - first));
            }
            seq.push(val(count, 1));
            if index != last {
                seq.push(val(cur, last - index));
            }
        }
        let oldlen = if xz { 2 } else { 1 };
        if seq.len() > oldlen && s.len() + seq.len() - oldlen > max_bytes {
            return promote(s, index, count);
        }
        // Redis moves the tail, adjusts the length and writes the new sequence; when the
        // old opcode ran past the end (corrupt input) the length wins over the sequence.
        let new_len = s.len() + seq.len() - oldlen;
        let tail_from = (p + oldlen).min(s.len());
        let mut out = Vec::with_capacity(new_len.max(p + seq.len()));
        out.extend_from_slice(&s[..p]);
        out.extend_from_slice(&seq);
        out.extend_from_slice(&s[tail_from..]);
        out.truncate(new_len);
        *s = out;
    }

    // Step 4: merge adjacent VAL opcodes of the same value, scanning up to 5 opcodes.
    let mut p = prev.unwrap_or(HDR_SIZE);
    let mut scan = 5;
    while p < s.len() {
        if scan == 0 {
            break;
        }
        scan -= 1;
        let b = s[p];
        if is_xzero(b) {
            p += 2;
            continue;
        }
        if is_zero(b) {
            p += 1;
            continue;
        }
        if p + 1 < s.len() && is_val(s[p + 1]) {
            let v1 = val_value(b);
            let v2 = val_value(s[p + 1]);
            if v1 == v2 {
                let len = val_len(b) + val_len(s[p + 1]);
                if len <= VAL_MAX_LEN {
                    s[p + 1] = val(v1, len);
                    s.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate(s);
    Ok(true)
}

/// Promotes to dense and sets the register there.
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    sparse_to_dense(s)?;
    dense_raise(&mut s[HDR_SIZE..], index, count);
    Ok(true)
}

/// Raises register `index` to `count` in either encoding (PFMERGE's write step).
pub fn set_register(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    match s[4] {
        DENSE => Ok(dense_raise(&mut s[HDR_SIZE..], index, count)),
        SPARSE => sparse_set(s, index, count, max_bytes),
        _ => Err(Corrupt),
    }
}

/// PFADD of one element; `Ok(true)` if a register changed.
pub fn add(s: &mut Vec<u8>, ele: &[u8], max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    set_register(s, index, count, max_bytes)
}

// ---------------------------------------------------------------------------
// Counting and merging.

/// The histogram of register values.
type Histo = [i64; 64];

fn histo_dense(r: &[u8]) -> Histo {
    let mut h = [0i64; 64];
    for i in 0..REGISTERS {
        h[usize::from(dense_get(r, i))] += 1;
    }
    h
}

/// The sparse histogram and whether the opcodes cover exactly 16384 registers.
fn histo_sparse(s: &[u8]) -> (Histo, bool) {
    let mut h = [0i64; 64];
    let mut idx = 0usize;
    let mut p = HDR_SIZE;
    while p < s.len() {
        let op = op_at(s, p);
        idx += op.span;
        h[usize::from(op.value)] += op.span as i64;
        p += op.len;
    }
    (h, idx == REGISTERS)
}

/// The cardinality of a HyperLogLog (ignores the cache).
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    match s[4] {
        DENSE => Ok(estimate(&histo_dense(&s[HDR_SIZE..]))),
        _ => {
            let (h, ok) = histo_sparse(s);
            if ok {
                Ok(estimate(&h))
            } else {
                Err(Corrupt)
            }
        }
    }
}

/// The cardinality of registers held one per byte (PFCOUNT of several keys).
pub fn count_raw(max: &[u8]) -> u64 {
    let mut h = [0i64; 64];
    for &v in max {
        h[usize::from(v & 63)] += 1;
    }
    estimate(&h)
}

/// Raises `max[i]` to each register of `s` (Redis's `hllMerge`).
pub fn merge(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        let r = &s[HDR_SIZE..];
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            *m = (*m).max(dense_get(r, i));
        }
        return Ok(());
    }
    let mut i = 0usize;
    let mut p = HDR_SIZE;
    while p < s.len() {
        let op = op_at(s, p);
        if op.span + i > REGISTERS {
            return Err(Corrupt);
        }
        if op.value != 0 {
            for m in &mut max[i..i + op.span] {
                *m = (*m).max(op.value);
            }
        }
        i += op.span;
        p += op.len;
    }
    if i != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// Ertl's estimator over the register histogram, in Redis's operation order.
fn estimate(h: &Histo) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    let e = (ALPHA_INF * m * m / z).round();
    e as u64
}

/// PFDEBUG DECODE's text of a sparse HyperLogLog.
pub fn decode_text(s: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut p = HDR_SIZE;
    while p < s.len() {
        let b = s[p];
        let op = op_at(s, p);
        let _ = if is_zero(b) {
            write!(out, "z:{} ", op.span)
        } else if is_xzero(b) {
            write!(out, "Z:{} ", op.span)
        } else {
            write!(out, "v:{},{} ", op.value, op.span)
        };
        p += op.len;
    }
    out.trim_matches(' ').to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_hll_layout() {
        let s = new_sparse();
        assert_eq!(s.len(), 18);
        assert_eq!(&s[..5], b"HYLL\x01");
        assert_eq!(&s[16..], &[0x7f, 0xff]);
        assert_eq!(cached(&s), Some(0));
        assert_eq!(count(&s), Ok(0));
        assert_eq!(decode_text(&s), "Z:16384");
    }

    #[test]
    fn dense_registers_do_not_disturb_neighbours() {
        let mut r = vec![0u8; DENSE_SIZE - HDR_SIZE];
        for i in 0..REGISTERS {
            dense_set(&mut r, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&r, i), (i % 64) as u8);
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        sparse_to_dense(&mut dense).unwrap();
        for i in 0..3000u32 {
            let e = i.to_string();
            add(&mut sparse, e.as_bytes(), usize::MAX).unwrap();
            add(&mut dense, e.as_bytes(), usize::MAX).unwrap();
            if i % 97 == 0 {
                assert_eq!(count(&sparse), count(&dense));
            }
        }
        assert_eq!(encoding(&sparse), SPARSE);
        let mut promoted = sparse.clone();
        sparse_to_dense(&mut promoted).unwrap();
        assert_eq!(&promoted[HDR_SIZE..], &dense[HDR_SIZE..]);
        let c = count(&dense).unwrap();
        assert!((2900..3100).contains(&c), "{c}");
    }

    #[test]
    fn sparse_promotes_at_the_size_limit() {
        let mut s = new_sparse();
        let mut i = 0u32;
        while encoding(&s) == SPARSE {
            add(&mut s, i.to_string().as_bytes(), 100).unwrap();
            assert!(encoding(&s) == DENSE || s.len() <= 100);
            i += 1;
        }
        assert_eq!(s.len(), DENSE_SIZE);
    }

    #[test]
    fn corrupt_sparse_is_reported() {
        let mut s = new_sparse();
        s.truncate(17);
        s[16] = 0x00; // ZERO of length 1: far too few registers
        assert_eq!(count(&s), Err(Corrupt));
        assert_eq!(sparse_set(&mut s, 100, 3, 3000), Err(Corrupt));
        let mut max = vec![0u8; REGISTERS];
        assert_eq!(merge(&mut max, &s), Err(Corrupt));
    }
}
