//! Sorted set commands, following Redis 7.0.15's `t_zset.c` step by step (the order of
//! checks is visible: which error wins, whether a missing key answers before an argument
//! is parsed, which lookups count as keyspace hits or misses).
//!
//! * [`write`]: ZADD, ZINCRBY, ZREM, ZREMRANGEBYRANK / SCORE / LEX, ZPOPMIN, ZPOPMAX, ZMPOP,
//!   and the blocking BZPOPMIN, BZPOPMAX, BZMPOP (served at once when possible, else
//!   `ctx.block`; propagated as ZPOPMIN / ZPOPMAX as Redis does).
//! * [`read`]: ZCARD, ZCOUNT, ZLEXCOUNT, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, the ZRANGE
//!   family (ZRANGE, ZREVRANGE, Z[REV]RANGEBYSCORE, Z[REV]RANGEBYLEX, ZRANGESTORE) and
//!   ZRANDMEMBER.
//! * [`setops`]: ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD (plain sets count as
//!   sorted sets with every score 1).
//!
//! Shared here: the error texts ([`ZError`]), the lookups, and number parsing with C's
//! `strtod` rules (scores accept `inf`, hex floats, ...; range bounds accept `(`).

mod read;
mod setops;
mod write;

use crate::data::run;
use bytes::Bytes;
use tandem_keyspace::{
    FreeMode, Keyspace, LexBound, LexRange, Millis, ScoreRange, Value, ZSetValue,
};
use tandem_resp::{Encoder, Protocol};

use super::{DataStats, ExecCtx, Handler};

/// The error replies of the sorted set commands, spelled as Redis 7.0.15 spells them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR XX and NX options at the same time are not compatible")]
    XxAndNx,
    #[error("ERR GT, LT, and/or NX options at the same time are not compatible")]
    GtLtNx,
    #[error("ERR INCR option supports a single increment-element pair")]
    IncrPair,
    #[error("ERR resulting score is not a number (NaN)")]
    Nan,
    #[error("ERR min or max is not a float")]
    MinMaxNotFloat,
    #[error("ERR min or max not valid string range item")]
    LexRange,
    #[error(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    )]
    LimitWithRank,
    #[error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")]
    WithscoresBylex,
    #[error("ERR value is out of range, must be positive")]
    NotPositive,
    #[error("ERR at least 1 input key is needed for '{0}' command")]
    NoKeys(&'static str),
    #[error("ERR weight value is not a float")]
    WeightNotFloat,
    #[error("ERR LIMIT can't be negative")]
    LimitNegative,
    #[error("ERR value is out of range")]
    OutOfRange,
    #[error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")]
    CountRange,
    #[error("ERR numkeys should be greater than 0")]
    NumkeysZero,
    #[error("ERR count should be greater than 0")]
    CountZero,
    /// A timeout error text of `data/blocking.rs`.
    #[error("{0}")]
    Timeout(&'static str),
}

/// What a command body (or a helper) returns.
type ZResult<T = ()> = Result<T, ZError>;

/// A handler body: replies itself on success, or returns the error to reply.
/// The handler of a sorted set command, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "zadd" => |c, a| run(c, a, write::zadd),
        "zincrby" => |c, a| run(c, a, write::zincrby),
        "zrem" => |c, a| run(c, a, write::zrem),
        "zremrangebyrank" => |c, a| run(c, a, write::zremrangebyrank),
        "zremrangebyscore" => |c, a| run(c, a, write::zremrangebyscore),
        "zremrangebylex" => |c, a| run(c, a, write::zremrangebylex),
        "zpopmin" => |c, a| run(c, a, write::zpopmin),
        "zpopmax" => |c, a| run(c, a, write::zpopmax),
        "zmpop" => |c, a| run(c, a, write::zmpop),
        "bzpopmin" => |c, a| run(c, a, write::bzpopmin),
        "bzpopmax" => |c, a| run(c, a, write::bzpopmax),
        "bzmpop" => |c, a| run(c, a, write::bzmpop),
        "zcard" => |c, a| run(c, a, read::zcard),
        "zcount" => |c, a| run(c, a, read::zcount),
        "zlexcount" => |c, a| run(c, a, read::zlexcount),
        "zscore" => |c, a| run(c, a, read::zscore),
        "zmscore" => |c, a| run(c, a, read::zmscore),
        "zrank" => |c, a| run(c, a, read::zrank),
        "zrevrank" => |c, a| run(c, a, read::zrevrank),
        "zrange" => |c, a| run(c, a, read::zrange),
        "zrangestore" => |c, a| run(c, a, read::zrangestore),
        "zrevrange" => |c, a| run(c, a, read::zrevrange),
        "zrangebyscore" => |c, a| run(c, a, read::zrangebyscore),
        "zrevrangebyscore" => |c, a| run(c, a, read::zrevrangebyscore),
        "zrangebylex" => |c, a| run(c, a, read::zrangebylex),
        "zrevrangebylex" => |c, a| run(c, a, read::zrevrangebylex),
        "zrandmember" => |c, a| run(c, a, read::zrandmember),
        "zunion" => |c, a| run(c, a, setops::zunion),
        "zinter" => |c, a| run(c, a, setops::zinter),
        "zdiff" => |c, a| run(c, a, setops::zdiff),
        "zunionstore" => |c, a| run(c, a, setops::zunionstore),
        "zinterstore" => |c, a| run(c, a, setops::zinterstore),
        "zdiffstore" => |c, a| run(c, a, setops::zdiffstore),
        "zintercard" => |c, a| run(c, a, setops::zintercard),
        _ => return None,
    };
    Some(h)
}

/// Names of the commands this module implements (for the registry).
pub const COMMANDS: &[&str] = &[
    "bzmpop",
    "bzpopmax",
    "bzpopmin",
    "zadd",
    "zcard",
    "zcount",
    "zdiff",
    "zdiffstore",
    "zincrby",
    "zinter",
    "zintercard",
    "zinterstore",
    "zlexcount",
    "zmpop",
    "zmscore",
    "zpopmax",
    "zpopmin",
    "zrandmember",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrangestore",
    "zrank",
    "zrem",
    "zremrangebylex",
    "zremrangebyrank",
    "zremrangebyscore",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zrevrank",
    "zscore",
    "zunion",
    "zunionstore",
];

// ---------------------------------------------------------------------------
// Arguments.

/// An argument as C code sees it: up to its first NUL byte.
fn cstr(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&c| c == 0) {
        Some(i) => &arg[..i],
        None => arg,
    }
}

/// Case-insensitive option match with `strcasecmp` semantics.
fn is_opt(arg: &[u8], name: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(name.as_bytes())
}

/// `getLongFromObjectOrReply`.
fn parse_long(arg: &[u8]) -> Result<i64, ZError> {
    tandem_resp::num::string2ll(arg).ok_or(ZError::NotInteger)
}

/// `getRangeLongFromObjectOrReply(min, max, msg)`: `msg` replaces both errors.
fn parse_long_in(arg: &[u8], min: i64, max: i64, msg: ZError) -> Result<i64, ZError> {
    match tandem_resp::num::string2ll(arg) {
        Some(v) if v >= min && v <= max => Ok(v),
        _ => Err(msg),
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C's `strtod` over the whole of `s`: the value and whether `errno` would be `ERANGE`
/// (overflow to infinity, or a non-zero number rounded to zero); `None` when `strtod` would
/// stop before the end. Leading white space is skipped as `strtod` does.
fn strtod(s: &[u8]) -> Option<(f64, bool)> {
    let start = s.iter().position(|&c| !is_c_space(c)).unwrap_or(s.len());
    let body = &s[start..];
    let (neg, rest) = match body.first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    let signed = |v: f64| if neg { -v } else { v };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some((signed(f64::INFINITY), false));
    }
    if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"nan") {
        let tail = &rest[3..];
        let ok = tail.is_empty()
            || (tail.first() == Some(&b'(')
                && tail.last() == Some(&b')')
                && tail[1..tail.len() - 1]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_'));
        return ok.then_some((f64::NAN, false));
    }
    if rest.len() > 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        return parse_hex(&rest[2..]).map(|(v, r)| (signed(v), r));
    }
    // Decimal: digits [. digits] [e [sign] digits], at least one mantissa digit.
    let mut i = 0;
    let mut digits = 0;
    let mut nonzero = false;
    while i < rest.len() && rest[i].is_ascii_digit() {
        nonzero |= rest[i] != b'0';
        i += 1;
        digits += 1;
    }
    if i < rest.len() && rest[i] == b'.' {
        i += 1;
        while i < rest.len() && rest[i].is_ascii_digit() {
            nonzero |= rest[i] != b'0';
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < rest.len() && (rest[i] | 0x20) == b'e' {
        i += 1;
        if i < rest.len() && (rest[i] == b'+' || rest[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < rest.len() && rest[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != rest.len() {
        return None;
    }
    let text = std::str::from_utf8(rest).ok()?;
    let v: f64 = text.parse().ok()?;
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    Some((signed(v), erange))
}

/// The part of a hex float after `0x`: hex digits, an optional fraction, an optional
/// binary exponent `p[sign]digits`.
fn parse_hex(s: &[u8]) -> Option<(f64, bool)> {
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut digits = 0;
    let mut i = 0;
    let mut frac = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !frac {
            frac = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        digits += 1;
        if mant >> 60 == 0 {
            mant = mant * 16 + u64::from(d);
            if frac {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !frac {
                exp += 4;
            }
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() && (s[i] | 0x20) == b'p' {
        i += 1;
        let neg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i64 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            e = (e * 10 + i64::from(s[i] - b'0')).min(1 << 20);
            i += 1;
        }
        if i == start {
            return None;
        }
        exp += if neg { -e } else { e };
    }
    if i != s.len() {
        return None;
    }
    if sticky {
        mant |= 1;
    }
    let mut v = mant as f64;
    let mut e = exp;
    while e > 0 && v.is_finite() && v != 0.0 {
        let step = e.min(1000);
        v *= 2f64.powi(step as i32);
        e -= step;
    }
    while e < 0 && v != 0.0 {
        let step = (-e).min(1000);
        v /= 2f64.powi(step as i32);
        e += step;
    }
    let erange = v.is_infinite() || (v == 0.0 && mant != 0);
    Some((v, erange))
}

/// Redis's `string2d` (`getDoubleFromObject`): the whole argument, no leading space, no
/// overflow, no underflow to zero, no NaN.
fn parse_double(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || is_c_space(arg[0]) {
        return None;
    }
    let (v, erange) = strtod(arg)?;
    if (erange && (v.is_infinite() || v == 0.0)) || v.is_nan() {
        return None;
    }
    Some(v)
}

/// One bound of a score range (`zslParseRange`): `strtod` on the C string, `(` makes it
/// exclusive; NaN is refused, range errors are not.
fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let s = cstr(arg);
    let (s, ex) = match s.first() {
        Some(b'(') => (&s[1..], true),
        _ => (s, false),
    };
    let (v, _) = if s.is_empty() {
        (0.0, false)
    } else {
        strtod(s)?
    };
    if v.is_nan() {
        return None;
    }
    Some((v, ex))
}

/// `zslParseRange`.
fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, ZError> {
    let (min, minex) = parse_score_bound(min).ok_or(ZError::MinMaxNotFloat)?;
    let (max, maxex) = parse_score_bound(max).ok_or(ZError::MinMaxNotFloat)?;
    Ok(ScoreRange {
        min,
        max,
        minex,
        maxex,
    })
}

/// One bound of a lex range (`zslParseLexRangeItem`).
fn parse_lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg.first() {
        Some(b'+') if cstr(arg).len() == 1 => Some(LexBound::Max),
        Some(b'-') if cstr(arg).len() == 1 => Some(LexBound::Min),
        Some(b'(') => Some(LexBound::Value {
            bytes: Bytes::copy_from_slice(&arg[1..]),
            exclusive: true,
        }),
        Some(b'[') => Some(LexBound::Value {
            bytes: Bytes::copy_from_slice(&arg[1..]),
            exclusive: false,
        }),
        _ => None,
    }
}

/// `zslParseLexRange`.
fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, ZError> {
    let min = parse_lex_bound(min).ok_or(ZError::LexRange)?;
    let max = parse_lex_bound(max).ok_or(ZError::LexRange)?;
    Ok(LexRange { min, max })
}

// ---------------------------------------------------------------------------
// Lookups and changes.

/// `lookupKeyRead` + `checkType(OBJ_ZSET)`: counts a keyspace hit or miss.
fn read_zset<'k>(
    ks: &'k mut Keyspace,
    stats: &mut DataStats,
    db: usize,
    key: &[u8],
    now: Millis,
) -> Result<Option<&'k ZSetValue>, ZError> {
    match super::lookup_key_read(ks, stats, db, key, now) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(ZError::WrongType),
    }
}

/// `lookupKeyWrite` + `checkType(OBJ_ZSET)`: the value ready to modify in place.
fn write_zset<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now: Millis,
) -> Result<Option<&'k mut ZSetValue>, ZError> {
    match ks.get_mut(db, key, now) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(ZError::WrongType),
    }
}

/// `lookupKeyWrite` + `checkType` without keeping the value: does the key hold a zset?
fn check_write(ctx: &mut ExecCtx<'_, '_>, key: &[u8]) -> Result<bool, ZError> {
    Ok(write_zset(ctx.ks, ctx.db, key, ctx.now)?.is_some())
}

/// Records `n` changes to `key`: `server.dirty += n` and the WATCH signal.
fn changed(ctx: &mut ExecCtx<'_, '_>, key: &[u8], n: u64) {
    ctx.dirty += n;
    ctx.ks.touch_modified(ctx.db, key);
}

/// `dbDelete` of a key whose sorted set became empty.
fn delete_key(ctx: &mut ExecCtx<'_, '_>, key: &[u8]) -> bool {
    let mode = if ctx.ks.config().lazyfree_lazy_server_del {
        FreeMode::Async
    } else {
        FreeMode::Sync
    };
    ctx.ks.delete(ctx.db, key, ctx.now, mode)
}

/// A key or member to store: copied, so that it never pins the connection's read buffer.
fn own(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

/// `Bytes` of a static text (command names in rewritten propagation).
fn word(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

// ---------------------------------------------------------------------------
// Replies.

fn resp3(enc: &Encoder<'_>) -> bool {
    enc.proto == Protocol::Resp3
}

/// The array header of `n` elements with or without scores: RESP2 flattens the pairs,
/// RESP3 nests them (each pair then opens with [`pair_header`]).
fn list_header(enc: &mut Encoder<'_>, n: usize, withscores: bool) {
    if withscores && !resp3(enc) {
        enc.array_len(n * 2);
    } else {
        enc.array_len(n);
    }
}

/// One element of a list written after [`list_header`].
fn reply_elem(enc: &mut Encoder<'_>, m: &[u8], s: f64, withscores: bool) {
    if withscores && resp3(enc) {
        enc.array_len(2);
    }
    enc.bulk(m);
    if withscores {
        enc.double(s);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn doubles_follow_string2d() {
        assert_eq!(parse_double(b"1.5"), Some(1.5));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_double(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_double(b"0x10"), Some(16.0));
        assert_eq!(parse_double(b"0x1p-2"), Some(0.25));
        assert_eq!(parse_double(b"0x1.8p1"), Some(3.0));
        assert_eq!(parse_double(b".5"), Some(0.5));
        assert_eq!(parse_double(b"5."), Some(5.0));
        assert_eq!(parse_double(b"1e3"), Some(1000.0));
        assert_eq!(parse_double(b"0e-500"), Some(0.0));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e",
            b"0x",
            b".",
            b"1e400",
            b"1e-400",
            b"abc",
            b"1\x002",
            b"--1",
        ] {
            assert_eq!(parse_double(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn score_bounds_follow_strtod() {
        assert_eq!(parse_score_bound(b"(1"), Some((1.0, true)));
        assert_eq!(parse_score_bound(b""), Some((0.0, false)));
        assert_eq!(parse_score_bound(b"("), Some((0.0, true)));
        assert_eq!(parse_score_bound(b" 2"), Some((2.0, false)));
        assert_eq!(parse_score_bound(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(parse_score_bound(b"3\x00x"), Some((3.0, false)));
        assert_eq!(parse_score_bound(b"nan"), None);
        assert_eq!(parse_score_bound(b"[1"), None);
    }
}
