//! The compact encodings stored inside RDB strings: ziplist, listpack, intset
//! and zipmap (readers, fully validated), plus the listpack and intset writers
//! the encoder needs.
//!
//! Every reader checks the header against the blob length, every entry
//! against the end of the blob, the listpack back-lengths and the ziplist
//! prev-lengths, the declared element counts, and the end marker. A corrupt
//! blob yields a `&'static str` reason (turned into [`crate::Error::Corrupt`]
//! with the blob's offset by the caller), never a panic.

use bytes::Bytes;

use crate::num::{i64_text, parse_canonical_i64};

/// Result of the blob readers: the reason string is the error.
pub type BlobResult<T> = Result<T, &'static str>;

/// One element of a ziplist or listpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    /// A string element.
    Str(&'a [u8]),
    /// An integer element.
    Int(i64),
}

impl Elem<'_> {
    /// The element as a string (integers as decimal text).
    pub fn to_bytes(self) -> Bytes {
        match self {
            Elem::Str(s) => Bytes::copy_from_slice(s),
            Elem::Int(i) => Bytes::from(i64_text(i)),
        }
    }

    /// The element as an integer (strings must be canonical integers).
    pub fn as_int(self) -> Option<i64> {
        match self {
            Elem::Int(i) => Some(i),
            Elem::Str(s) => parse_canonical_i64(s),
        }
    }
}

fn le_u16(b: &[u8], at: usize) -> BlobResult<u16> {
    let s = b.get(at..at + 2).ok_or("blob entry out of bounds")?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn le_u32(b: &[u8], at: usize) -> BlobResult<u32> {
    let s = b.get(at..at + 4).ok_or("blob entry out of bounds")?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le_int(b: &[u8], at: usize, width: usize) -> BlobResult<i64> {
    let s = b.get(at..at + width).ok_or("blob entry out of bounds")?;
    let mut buf = [0u8; 8];
    buf[..width].copy_from_slice(s);
    // Sign-extend from `width` bytes.
    let shift = 64 - 8 * width as u32;
    Ok((i64::from_le_bytes(buf) << shift) >> shift)
}

fn take(b: &[u8], at: usize, len: usize) -> BlobResult<&[u8]> {
    let end = at.checked_add(len).ok_or("blob length overflow")?;
    b.get(at..end).ok_or("blob entry out of bounds")
}

// ---------------------------------------------------------------- listpack

/// Number of bytes the back-length of an entry body of `l` bytes takes.
fn backlen_size(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

/// Write the back-length of an entry body of `l` bytes.
fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let group = ((l >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Check that the `n` bytes at `at` are the back-length for a body of `l` bytes.
fn check_backlen(b: &[u8], at: usize, l: usize) -> BlobResult<usize> {
    let n = backlen_size(l);
    let got = take(b, at, n)?;
    let mut want = Vec::with_capacity(5);
    push_backlen(&mut want, l);
    if got != want.as_slice() {
        return Err("listpack entry back-length mismatch");
    }
    Ok(n)
}

/// Decode and validate a whole listpack.
pub fn listpack_entries(b: &[u8]) -> BlobResult<Vec<Elem<'_>>> {
    if b.len() < 7 {
        return Err("listpack shorter than its header");
    }
    if le_u32(b, 0)? as usize != b.len() {
        return Err("listpack total bytes differ from its length");
    }
    let declared = le_u16(b, 4)?;
    let mut out = Vec::with_capacity(usize::from(declared).min(b.len() / 2));
    let mut p = 6;
    loop {
        let first = *b.get(p).ok_or("listpack without end marker")?;
        if first == 0xFF {
            if p + 1 != b.len() {
                return Err("listpack end marker before its end");
            }
            break;
        }
        let (elem, body) = match first {
            0x00..=0x7F => (Elem::Int(i64::from(first)), 1),
            0x80..=0xBF => {
                let len = usize::from(first & 0x3F);
                (Elem::Str(take(b, p + 1, len)?), 1 + len)
            }
            0xC0..=0xDF => {
                let lo = *b.get(p + 1).ok_or("listpack entry out of bounds")?;
                let v = (i64::from(first & 0x1F) << 8) | i64::from(lo);
                let v = if v >= 1 << 12 { v - (1 << 13) } else { v };
                (Elem::Int(v), 2)
            }
            0xE0..=0xEF => {
                let lo = *b.get(p + 1).ok_or("listpack entry out of bounds")?;
                let len = (usize::from(first & 0x0F) << 8) | usize::from(lo);
                (Elem::Str(take(b, p + 2, len)?), 2 + len)
            }
            0xF0 => {
                let len = le_u32(b, p + 1)? as usize;
                (Elem::Str(take(b, p + 5, len)?), 5 + len)
            }
            0xF1 => (Elem::Int(le_int(b, p + 1, 2)?), 3),
            0xF2 => (Elem::Int(le_int(b, p + 1, 3)?), 4),
            0xF3 => (Elem::Int(le_int(b, p + 1, 4)?), 5),
            0xF4 => (Elem::Int(le_int(b, p + 1, 8)?), 9),
            _ => return Err("invalid listpack entry encoding"),
        };
        let back = check_backlen(b, p + body, body)?;
        p += body + back;
        out.push(elem);
    }
    if declared != u16::MAX && usize::from(declared) != out.len() {
        return Err("listpack element count mismatch");
    }
    Ok(out)
}

/// Bytes of a listpack's header (total bytes, element count) and end byte.
pub const LISTPACK_OVERHEAD: usize = 7;

/// Bytes one element takes in a listpack (encoding, data and back-length), as
/// [`ListpackWriter::push`] (Redis's `lpInsertString`) encodes it.
pub fn listpack_entry_len(s: &[u8]) -> usize {
    let body = match parse_canonical_i64(s) {
        Some(v) if (0..=127).contains(&v) => 1,
        Some(v) if (-4096..=4095).contains(&v) => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None if s.len() < 64 => 1 + s.len(),
        None if s.len() < 4096 => 2 + s.len(),
        None => 5 + s.len(),
    };
    body + backlen_size(body)
}

/// Builds a listpack the way Redis 7.0 encodes elements.
#[derive(Debug, Clone)]
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ListpackWriter {
    /// An empty listpack.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; 6]);
        ListpackWriter { buf, count: 0 }
    }

    /// Number of elements so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Size the finished listpack would have (header, entries, end byte).
    pub fn total_bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Append a string element, stored as an integer when it is a canonical i64.
    pub fn push(&mut self, s: &[u8]) {
        match parse_canonical_i64(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    /// Append an integer element in its smallest form.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1FFF;
            self.buf.push(0xC0 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&v) {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(0xF2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        let body = self.buf.len() - start;
        push_backlen(&mut self.buf, body);
        self.count += 1;
    }

    /// Append a string element as a string.
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.push(0xE0 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        let body = self.buf.len() - start;
        push_backlen(&mut self.buf, body);
        self.count += 1;
    }

    /// Append the elements of `other` and finish.
    pub fn concat(mut self, other: ListpackWriter) -> Vec<u8> {
        self.buf.extend_from_slice(&other.buf[6..]);
        self.count += other.count;
        self.finish()
    }

    /// Finish: end byte and header.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let n = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

// ---------------------------------------------------------------- ziplist

/// Decode and validate a whole ziplist.
pub fn ziplist_entries(b: &[u8]) -> BlobResult<Vec<Elem<'_>>> {
    if b.len() < 11 {
        return Err("ziplist shorter than its header");
    }
    if le_u32(b, 0)? as usize != b.len() {
        return Err("ziplist total bytes differ from its length");
    }
    let tail = le_u32(b, 4)? as usize;
    let declared = le_u16(b, 8)?;
    let mut out = Vec::with_capacity(usize::from(declared).min(b.len() / 2));
    let mut p = 10;
    let mut prev_len = 0usize;
    let mut last_entry = 10usize;
    loop {
        let first = *b.get(p).ok_or("ziplist without end marker")?;
        if first == 0xFF {
            if p + 1 != b.len() {
                return Err("ziplist end marker before its end");
            }
            break;
        }
        let start = p;
        let (prevlen, plen) = if first < 254 {
            (usize::from(first), 1)
        } else if first == 254 {
            (le_u32(b, p + 1)? as usize, 5)
        } else {
            return Err("invalid ziplist prevlen");
        };
        if prevlen != prev_len {
            return Err("ziplist prevlen mismatch");
        }
        p += plen;
        let enc = *b.get(p).ok_or("ziplist entry out of bounds")?;
        let (elem, size) = match enc >> 6 {
            0 => {
                let len = usize::from(enc & 0x3F);
                (Elem::Str(take(b, p + 1, len)?), 1 + len)
            }
            1 => {
                let lo = *b.get(p + 1).ok_or("ziplist entry out of bounds")?;
                let len = (usize::from(enc & 0x3F) << 8) | usize::from(lo);
                (Elem::Str(take(b, p + 2, len)?), 2 + len)
            }
            2 => {
                if enc != 0x80 {
                    return Err("invalid ziplist string encoding");
                }
                let s = take(b, p + 1, 4)?;
                let len = u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize;
                (Elem::Str(take(b, p + 5, len)?), 5 + len)
            }
            _ => match enc {
                0xC0 => (Elem::Int(le_int(b, p + 1, 2)?), 3),
                0xD0 => (Elem::Int(le_int(b, p + 1, 4)?), 5),
                0xE0 => (Elem::Int(le_int(b, p + 1, 8)?), 9),
                0xF0 => (Elem::Int(le_int(b, p + 1, 3)?), 4),
                0xFE => (Elem::Int(le_int(b, p + 1, 1)?), 2),
                0xF1..=0xFD => (Elem::Int(i64::from(enc & 0x0F) - 1), 1),
                _ => return Err("invalid ziplist integer encoding"),
            },
        };
        p += size;
        prev_len = p - start;
        last_entry = start;
        out.push(elem);
    }
    if tail != last_entry {
        return Err("ziplist tail offset mismatch");
    }
    if declared != u16::MAX && usize::from(declared) != out.len() {
        return Err("ziplist element count mismatch");
    }
    Ok(out)
}

// ---------------------------------------------------------------- intset

/// Decode and validate an intset (values strictly ascending).
pub fn intset_values(b: &[u8]) -> BlobResult<Vec<i64>> {
    if b.len() < 8 {
        return Err("intset shorter than its header");
    }
    let width = le_u32(b, 0)? as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err("invalid intset encoding");
    }
    let n = le_u32(b, 4)? as usize;
    let body = n.checked_mul(width).ok_or("intset length overflow")?;
    if body.checked_add(8) != Some(b.len()) {
        return Err("intset length differs from its element count");
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let v = le_int(b, 8 + i * width, width)?;
        if out.last().is_some_and(|&last| last >= v) {
            return Err("intset not strictly ascending");
        }
        out.push(v);
    }
    Ok(out)
}

/// Encode sorted, unique integers as an intset of the smallest width.
pub fn intset_encode(sorted: &[i64]) -> Vec<u8> {
    intset_encode_min(sorted, 2)
}

/// The bytes per member (2, 4 or 8) an intset needs to hold `n`.
pub fn intset_width(n: i64) -> usize {
    if i16::try_from(n).is_ok() {
        2
    } else if i32::try_from(n).is_ok() {
        4
    } else {
        8
    }
}

/// Encode sorted, unique integers as an intset at least `min_width` bytes wide (Redis
/// widens an intset for a member that needs it and never narrows it again).
pub fn intset_encode_min(sorted: &[i64], min_width: usize) -> Vec<u8> {
    let needed = match (sorted.first(), sorted.last()) {
        (Some(&lo), Some(&hi)) => intset_width(lo).max(intset_width(hi)),
        _ => 2,
    };
    let width = match needed.max(min_width) {
        w if w <= 2 => 2,
        w if w <= 4 => 4,
        _ => 8,
    };
    let mut out = Vec::with_capacity(8 + sorted.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

// ---------------------------------------------------------------- zipmap

fn zipmap_len(b: &[u8], p: usize) -> BlobResult<(usize, usize)> {
    let first = *b.get(p).ok_or("zipmap entry out of bounds")?;
    match first {
        0..=253 => Ok((usize::from(first), 1)),
        254 => Ok((le_u32(b, p + 1)? as usize, 5)),
        _ => Err("unexpected zipmap end"),
    }
}

/// Decode and validate a zipmap (Redis ≤ 2.4 small hashes).
pub fn zipmap_pairs(b: &[u8]) -> BlobResult<Vec<(&[u8], &[u8])>> {
    let declared = *b.first().ok_or("empty zipmap")?;
    let mut out = Vec::new();
    let mut p = 1;
    loop {
        let first = *b.get(p).ok_or("zipmap without end marker")?;
        if first == 0xFF {
            if p + 1 != b.len() {
                return Err("zipmap end marker before its end");
            }
            break;
        }
        let (klen, n) = zipmap_len(b, p)?;
        p += n;
        let key = take(b, p, klen)?;
        p += klen;
        let (vlen, n) = zipmap_len(b, p)?;
        p += n;
        let free = usize::from(*b.get(p).ok_or("zipmap entry out of bounds")?);
        p += 1;
        let value = take(b, p, vlen)?;
        p += vlen;
        take(b, p, free)?;
        p += free;
        out.push((key, value));
    }
    if declared < 254 && usize::from(declared) != out.len() {
        return Err("zipmap pair count mismatch");
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn listpack_reference_example() {
        let lp = [
            0x14, 0, 0, 0, 4, 0, 0x82, b'f', b'1', 3, 0x82, b'v', b'1', 3, 0x81, b'n', 2, 0x2a, 1,
            0xff,
        ];
        let e = listpack_entries(&lp).unwrap();
        assert_eq!(
            e,
            vec![
                Elem::Str(b"f1"),
                Elem::Str(b"v1"),
                Elem::Str(b"n"),
                Elem::Int(42)
            ]
        );
        let mut w = ListpackWriter::new();
        for s in [&b"f1"[..], b"v1", b"n", b"42"] {
            w.push(s);
        }
        assert_eq!(w.finish(), lp);
    }

    #[test]
    fn listpack_ints_round_trip() {
        let vals = [
            0,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            40000,
            -(1 << 23),
            (1 << 23) - 1,
            1 << 23,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
        ];
        let mut w = ListpackWriter::new();
        for v in vals {
            w.push_int(v);
        }
        let big = vec![b'x'; 5000];
        w.push_str(&big);
        w.push_str(&[b'y'; 200]);
        let lp = w.finish();
        let e = listpack_entries(&lp).unwrap();
        for (got, want) in e.iter().zip(vals) {
            assert_eq!(*got, Elem::Int(want));
        }
        assert_eq!(e[vals.len()], Elem::Str(&big));
    }

    #[test]
    fn intset_example() {
        let b = [2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 0x2c, 1];
        assert_eq!(intset_values(&b).unwrap(), vec![1, 2, 300]);
        assert_eq!(intset_encode(&[1, 2, 300]), b);
        assert!(intset_values(&[2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0]).is_err());
    }

    #[test]
    fn intset_width_is_at_least_the_minimum() {
        assert_eq!(
            intset_encode_min(&[7], 8),
            [8, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(intset_encode_min(&[7], 3)[0], 4);
        assert_eq!(intset_encode_min(&[-70000], 2)[0], 4);
        assert_eq!(intset_encode_min(&[1 << 40], 4)[0], 8);
        assert_eq!(intset_encode_min(&[], 0), [2, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn zipmap_example() {
        let b = b"\x02\x01k\x02\x00v1\x01x\x02\x00yz\xff";
        assert_eq!(
            zipmap_pairs(b).unwrap(),
            vec![(&b"k"[..], &b"v1"[..]), (&b"x"[..], &b"yz"[..])]
        );
    }

    #[test]
    fn corrupt_blobs_never_panic() {
        let lp = [
            0x14, 0, 0, 0, 4, 0, 0x82, b'f', b'1', 3, 0x82, b'v', b'1', 3, 0x81, b'n', 2, 0x2a, 1,
            0xff,
        ];
        for i in 0..lp.len() {
            for bit in 0..8 {
                let mut c = lp;
                c[i] ^= 1 << bit;
                let _ = listpack_entries(&c);
                let _ = ziplist_entries(&c);
                let _ = intset_values(&c);
                let _ = zipmap_pairs(&c);
            }
            let _ = listpack_entries(&lp[..i]);
            let _ = ziplist_entries(&lp[..i]);
        }
    }
}
