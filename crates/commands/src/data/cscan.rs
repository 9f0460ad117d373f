//! Cursor scans of containers: HSCAN, SSCAN and ZSCAN (Redis 7.0.15's `scanGenericCommand`
//! for a key's value).
//!
//! The order of checks is Redis's: the cursor is parsed first (`ERR invalid cursor`), then
//! the key is looked up (a missing key answers `0` and an empty list before any option is
//! read) and its type checked, then COUNT and MATCH are parsed.
//!
//! A compact encoding (`listpack`, `intset`) is returned whole with cursor 0, whatever the
//! cursor, as Redis does. A `hashtable` (or `skiplist`) visits its elements in the order of
//! a seeded hash of the element (its *scan position*), which inserts, deletes and resizes
//! never change: the cursor is the position where the next step starts, so every element
//! present for the whole scan is returned at least once (Redis's guarantee). Hashes keep
//! that order sorted between steps ([`tandem_keyspace::HashValue::scan`]); sets and sorted
//! sets compute it per step ([`step`]).
//!
//! MATCH filters the elements a step collected (fields and members only, never values or
//! scores), so a step may return fewer elements than COUNT, or none, before the end.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use bytes::Bytes;
use tandem_keyspace::Value;
use tandem_resp::num::{format_double, string2ll, write_u64};
use tandem_resp::Encoder;

use super::{ExecCtx, Handler};
use crate::glob::string_match;

/// The error replies of the container scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR invalid cursor")]
    InvalidCursor,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR syntax error")]
    Syntax,
}

/// The handler of a container scan, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "hscan" => |c, a| run(c, a, Kind::Hash),
        "sscan" => |c, a| run(c, a, Kind::Set),
        "zscan" => |c, a| run(c, a, Kind::ZSet),
        _ => return None,
    };
    Some(h)
}

/// Names of the commands this module implements (for the registry).
pub const COMMANDS: &[&str] = &["hscan", "sscan", "zscan"];

/// Which container a scan command reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hash,
    Set,
    ZSet,
}

fn run(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], kind: Kind) {
    ctx.ks.set_now(ctx.now);
    if let Err(e) = scan(ctx, args, kind) {
        ctx.enc.error(e.to_string().as_bytes());
    }
}

/// The options of a scan step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOpts<'a> {
    /// COUNT (default 10).
    pub count: usize,
    /// MATCH pattern, `None` for none or `*`.
    pub pattern: Option<&'a [u8]>,
}

/// An argument as C code sees it: up to its first NUL byte.
fn cstr(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&c| c == 0) {
        Some(i) => &arg[..i],
        None => arg,
    }
}

/// Redis's `parseScanCursorOrReply`: `strtoul` in base 10 over the whole (C string)
/// argument, refusing a leading space and overflow. As `strtoul`, a sign is allowed (`-1`
/// wraps around) and the empty string is cursor 0.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, ScanError> {
    let s = cstr(arg);
    let (neg, digits) = match s.first() {
        None => return Ok(0),
        Some(b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') => {
            return Err(ScanError::InvalidCursor)
        }
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        Some(_) => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ScanError::InvalidCursor);
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(ScanError::InvalidCursor)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Case-insensitive option match with `strcasecmp` semantics.
fn is_opt(arg: &[u8], name: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(name.as_bytes())
}

/// The options after the cursor: `COUNT n` (an integer, at least 1) and `MATCH pattern`,
/// in any order, repeated (the last wins). TYPE is a syntax error for containers.
pub fn parse_opts(opts: &[Bytes]) -> Result<ScanOpts<'_>, ScanError> {
    let mut out = ScanOpts {
        count: 10,
        pattern: None,
    };
    let mut i = 0;
    while i < opts.len() {
        let more = opts.len() - i >= 2;
        if more && is_opt(&opts[i], "count") {
            let n = string2ll(&opts[i + 1]).ok_or(ScanError::NotInteger)?;
            if n < 1 {
                return Err(ScanError::Syntax);
            }
            out.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if more && is_opt(&opts[i], "match") {
            let pat = &opts[i + 1][..];
            out.pattern = if pat == b"*" { None } else { Some(pat) };
        } else {
            return Err(ScanError::Syntax);
        }
        i += 2;
    }
    Ok(out)
}

/// The process-wide seed of [`position`].
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x6373_6361_6e00_0001);
        h.finish() | 1
    })
}

fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The scan position of a set or sorted-set member: a seeded 63-bit hash (63 bits so that
/// position + 1, the next cursor, never overflows).
pub fn position(member: &[u8]) -> u64 {
    const K1: u64 = 0x9fb2_1c65_1e98_df25;
    const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;
    let mut h = seed() ^ (member.len() as u64).wrapping_mul(K2);
    let mut chunks = member.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = fold_mul(h ^ u64::from_le_bytes(w), K1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold_mul(h ^ u64::from_le_bytes(w), K2);
    }
    fold_mul(h ^ (h >> 31), K1 ^ K2) >> 1
}

/// One step over elements with their scan positions, without a kept order: the elements at
/// positions from `cursor` on, at least `count` of them (completing the last position), and
/// the next cursor (0 when none remain). Costs O(n) per step; so that a whole scan stays
/// O(n) steps' worth of work bounded, a step takes at least n/64 elements (COUNT is a hint).
pub fn step<T>(
    items: impl Iterator<Item = (u64, T)>,
    len: usize,
    cursor: u64,
    count: usize,
) -> (u64, Vec<T>) {
    let count = count.max(len / 64).max(1);
    let mut rest: Vec<(u64, T)> = items.filter(|(p, _)| *p >= cursor).collect();
    if rest.len() <= count {
        return (0, rest.into_iter().map(|(_, t)| t).collect());
    }
    rest.select_nth_unstable_by_key(count - 1, |(p, _)| *p);
    let limit = rest[count - 1].0;
    let total = rest.len();
    let taken: Vec<T> = rest
        .into_iter()
        .filter(|(p, _)| *p <= limit)
        .map(|(_, t)| t)
        .collect();
    let next = if taken.len() == total { 0 } else { limit + 1 };
    (next, taken)
}

/// `*2`, the cursor as a bulk string, and the header of `n` elements.
fn head(enc: &mut Encoder<'_>, cursor: u64, n: usize) {
    enc.array_len(2);
    let mut buf = [0u8; 20];
    let mut w = &mut buf[..];
    write_u64(&mut w, cursor);
    let used = 20 - w.len();
    enc.bulk(&buf[..used]);
    enc.array_len(n);
}

fn matches(pattern: Option<&[u8]>, item: &[u8]) -> bool {
    pattern.is_none_or(|p| string_match(p, item, false))
}

fn scan(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], kind: Kind) -> Result<(), ScanError> {
    let cursor = parse_cursor(&args[2])?;
    let Some(value) = ctx.ks.get(ctx.db, &args[1], ctx.now) else {
        ctx.stats.keyspace_misses += 1;
        ctx.ks.note_miss(ctx.db, &args[1]);
        head(ctx.enc, 0, 0);
        return Ok(());
    };
    ctx.stats.keyspace_hits += 1;
    let enc = &mut *ctx.enc;
    let opts = match (kind, value) {
        (Kind::Hash, Value::Hash(_))
        | (Kind::Set, Value::Set(_))
        | (Kind::ZSet, Value::ZSet(_)) => parse_opts(&args[3..])?,
        _ => return Err(ScanError::WrongType),
    };
    let pat = opts.pattern;
    match value {
        Value::Hash(h) => {
            let (next, pairs) = h.scan(cursor, opts.count);
            let n = pairs.iter().filter(|(f, _)| matches(pat, f)).count();
            head(enc, next, n * 2);
            for (f, v) in pairs.iter().filter(|(f, _)| matches(pat, f)) {
                enc.bulk(f);
                enc.bulk(v);
            }
        }
        Value::Set(s) => {
            let (next, members) = if s.encoding() == "intset" {
                (0, s.iter().collect::<Vec<_>>())
            } else {
                step(
                    s.iter().map(|m| (position(&m), m)),
                    s.len(),
                    cursor,
                    opts.count,
                )
            };
            let n = members.iter().filter(|m| matches(pat, m)).count();
            head(enc, next, n);
            for m in members.iter().filter(|m| matches(pat, m)) {
                enc.bulk(m);
            }
        }
        Value::ZSet(z) => {
            let (next, pairs) = if z.encoding() == "listpack" {
                (0, z.iter().collect::<Vec<_>>())
            } else {
                step(
                    z.iter().map(|(m, s)| (position(m), (m, s))),
                    z.len(),
                    cursor,
                    opts.count,
                )
            };
            let n = pairs.iter().filter(|(m, _)| matches(pat, m)).count();
            head(enc, next, n * 2);
            for (m, s) in pairs.iter().filter(|(m, _)| matches(pat, m)) {
                enc.bulk(m);
                enc.bulk(format_double(*s).as_bytes());
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn cursors_follow_strtoul() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"-0"), Ok(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"12\0junk"), Ok(12));
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"1 ",
            b"+",
            b"-",
            b"1x",
            b"0x10",
            b"\t3",
        ] {
            assert_eq!(parse_cursor(bad), Err(ScanError::InvalidCursor), "{bad:?}");
        }
    }

    #[test]
    fn options() {
        let a = |v: &[&str]| {
            v.iter()
                .map(|s| Bytes::from(s.to_string()))
                .collect::<Vec<_>>()
        };
        let o = a(&["COUNT", "5", "match", "a*"]);
        let p = parse_opts(&o).unwrap();
        assert_eq!(p.count, 5);
        assert_eq!(p.pattern, Some(&b"a*"[..]));
        assert_eq!(parse_opts(&a(&["match", "*"])).unwrap().pattern, None);
        assert_eq!(parse_opts(&a(&["count", "0"])), Err(ScanError::Syntax));
        assert_eq!(parse_opts(&a(&["count", "x"])), Err(ScanError::NotInteger));
        assert_eq!(parse_opts(&a(&["count"])), Err(ScanError::Syntax));
        assert_eq!(parse_opts(&a(&["type", "hash"])), Err(ScanError::Syntax));
    }

    #[test]
    fn step_returns_every_stable_element() {
        let mut items: BTreeSet<u64> = (0..2000).collect();
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut round = 0u64;
        loop {
            let len = items.len();
            let (next, got) = step(
                items.iter().map(|&i| (position(&i.to_le_bytes()), i)),
                len,
                cursor,
                5,
            );
            seen.extend(got);
            items.insert(10_000 + round);
            items.remove(&(10_000 + round / 2));
            round += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert!((0..2000).all(|i| seen.contains(&i)));
    }

    #[test]
    fn step_completes_colliding_positions() {
        let items = [(5u64, 'a'), (5, 'b'), (7, 'c'), (1, 'd')];
        let (next, got) = step(items.iter().copied(), 0, 0, 2);
        let got: BTreeSet<char> = got.into_iter().collect();
        assert_eq!(got, ['a', 'b', 'd'].into_iter().collect());
        assert_eq!(next, 6);
        let (next, got) = step(items.iter().copied(), 0, 6, 2);
        assert_eq!((next, got), (0, vec!['c']));
    }
}
