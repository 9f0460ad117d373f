//! Sorted set reads: ZCARD, ZCOUNT, ZLEXCOUNT, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, the ZRANGE
//! family (with ZRANGESTORE, the one write here) and ZRANDMEMBER.

use std::cell::Cell;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;
use tandem_keyspace::{Expiry, LexRange, ScoreRange, Value, ZSetValue};

use super::{
    changed, is_opt, list_header, parse_lex_range, parse_long, parse_score_range, read_zset,
    reply_elem, ZError, ZResult,
};
use crate::data::{notify, ExecCtx};

/// ZCARD key
pub(super) fn zcard(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    let n = read_zset(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?.map_or(0, |z| z.len());
    ctx.enc.integer(n as i64);
    Ok(())
}

/// ZCOUNT key min max
pub(super) fn zcount(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    let range = parse_score_range(&args[2], &args[3])?;
    let Some(z) = read_zset(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)? else {
        ctx.enc.integer(0);
        return Ok(());
    };
    let n = match (z.first_in_score(&range), z.last_in_score(&range)) {
        (Some(lo), Some(hi)) if hi >= lo => hi - lo + 1,
        _ => 0,
    };
    ctx.enc.integer(n as i64);
    Ok(())
}

/// ZLEXCOUNT key min max
pub(super) fn zlexcount(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    let range = parse_lex_range(&args[2], &args[3])?;
    let Some(z) = read_zset(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)? else {
        ctx.enc.integer(0);
        return Ok(());
    };
    let n = match z.first_in_lex(&range) {
        None => 0,
        Some(lo) => match z {
            ZSetValue::Listpack(_) => z
                .range(lo, z.len())
                .take_while(|(m, _)| range.lte_max(m))
                .count(),
            ZSetValue::Skiplist(_) => match z.last_in_lex(&range) {
                Some(hi) if hi >= lo => hi - lo + 1,
                _ => 0,
            },
        },
    };
    ctx.enc.integer(n as i64);
    Ok(())
}

/// ZSCORE key member
pub(super) fn zscore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    match read_zset(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?.and_then(|z| z.score(&args[2])) {
        Some(s) => ctx.enc.double(s),
        None => ctx.enc.null(),
    }
    Ok(())
}

/// ZMSCORE key member [member ...]
pub(super) fn zmscore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    let z = read_zset(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?;
    ctx.enc.array_len(args.len() - 2);
    for m in &args[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.enc.double(s),
            None => ctx.enc.null(),
        }
    }
    Ok(())
}

/// ZRANK key member
pub(super) fn zrank(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    rank(ctx, args, false)
}

/// ZREVRANK key member
pub(super) fn zrevrank(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    rank(ctx, args, true)
}

fn rank(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], rev: bool) -> ZResult {
    let Some(z) = read_zset(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)? else {
        ctx.enc.null();
        return Ok(());
    };
    match z.rank(&args[2]) {
        Some(r) if rev => ctx.enc.integer((z.len() - 1 - r) as i64),
        Some(r) => ctx.enc.integer(r as i64),
        None => ctx.enc.null(),
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Auto,
    Forward,
    Reverse,
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub(super) fn zrange(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zrange_generic(ctx, args, 1, None, RangeType::Auto, Dir::Auto)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub(super) fn zrangestore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zrange_generic(ctx, args, 2, Some(&args[1]), RangeType::Auto, Dir::Auto)
}

/// ZREVRANGE key start stop [WITHSCORES]
pub(super) fn zrevrange(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zrange_generic(ctx, args, 1, None, RangeType::Rank, Dir::Reverse)
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub(super) fn zrangebyscore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Dir::Forward)
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub(super) fn zrevrangebyscore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Dir::Reverse)
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub(super) fn zrangebylex(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Dir::Forward)
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub(super) fn zrevrangebylex(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Dir::Reverse)
}

/// The parsed range of a ZRANGE-family command.
enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// Redis's `zrangeGenericCommand`: options, range parsing, lookup, then the selection.
fn zrange_generic(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    at: usize,
    store: Option<&Bytes>,
    mut rt: RangeType,
    mut dir: Dir,
) -> ZResult {
    let key = &args[at];
    let (mut minidx, mut maxidx) = (at + 1, at + 2);
    let mut withscores = false;
    let mut offset = 0i64;
    let mut limit = -1i64;
    let mut j = at + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if store.is_none() && is_opt(a, "withscores") {
            withscores = true;
        } else if is_opt(a, "limit") && left >= 2 {
            offset = parse_long(&args[j + 1])?;
            limit = parse_long(&args[j + 2])?;
            j += 2;
        } else if dir == Dir::Auto && is_opt(a, "rev") {
            dir = Dir::Reverse;
        } else if rt == RangeType::Auto && is_opt(a, "bylex") {
            rt = RangeType::Lex;
        } else if rt == RangeType::Auto && is_opt(a, "byscore") {
            rt = RangeType::Score;
        } else {
            return Err(ZError::Syntax);
        }
        j += 1;
    }
    let rev = dir == Dir::Reverse;
    if rt == RangeType::Auto {
        rt = RangeType::Rank;
    }
    if limit != -1 && rt == RangeType::Rank {
        return Err(ZError::LimitWithRank);
    }
    if withscores && rt == RangeType::Lex {
        return Err(ZError::WithscoresBylex);
    }
    if rev && rt != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let bounds = match rt {
        RangeType::Score => Bounds::Score(parse_score_range(&args[minidx], &args[maxidx])?),
        RangeType::Lex => Bounds::Lex(parse_lex_range(&args[minidx], &args[maxidx])?),
        _ => Bounds::Rank(parse_long(&args[minidx])?, parse_long(&args[maxidx])?),
    };
    let z = read_zset(ctx.ks, ctx.stats, ctx.db, key, ctx.now)?;
    let Some(dst) = store else {
        let Some(z) = z else {
            ctx.enc.array_len(0);
            return Ok(());
        };
        let items = select(z, &bounds, rev, offset, limit);
        list_header(ctx.enc, items.len(), withscores);
        for (m, s) in items {
            reply_elem(ctx.enc, m, s, withscores);
        }
        return Ok(());
    };
    let items: Vec<(Bytes, f64)> = match z {
        Some(z) => select(z, &bounds, rev, offset, limit)
            .into_iter()
            .map(|(m, s)| (m.clone(), s))
            .collect(),
        None => Vec::new(),
    };
    store_result(ctx, dst, items, "zrangestore");
    Ok(())
}

/// Stores a computed sorted set at `dst` (or deletes `dst` for an empty result) and replies
/// with its size, as ZRANGESTORE / ZUNIONSTORE do.
/// The stored set is notified as `event`, a deleted destination as `del`.
pub(super) fn store_result(
    ctx: &mut ExecCtx<'_, '_>,
    dst: &Bytes,
    items: Vec<(Bytes, f64)>,
    event: &'static str,
) {
    let n = items.len();
    if n == 0 {
        ctx.enc.integer(0);
        if super::delete_key(ctx, dst) {
            changed(ctx, dst, 1);
            ctx.notify(notify::GENERIC, "del", dst);
        }
        return;
    }
    let z = ZSetValue::from_unique_pairs(items, &ctx.settings.limits);
    ctx.ks.set(ctx.db, dst, Value::ZSet(z), Expiry::Clear);
    ctx.enc.integer(n as i64);
    changed(ctx, dst, 1);
    ctx.notify(notify::ZSET, event, dst);
}

/// The elements a ZRANGE-family command selects, in reply order.
fn select<'z>(
    z: &'z ZSetValue,
    bounds: &Bounds,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Vec<(&'z Bytes, f64)> {
    let llen = z.len() as i64;
    match bounds {
        Bounds::Rank(start, end) => {
            let mut start = if *start < 0 { llen + start } else { *start };
            let end = if *end < 0 { llen + end } else { *end };
            start = start.max(0);
            if start > end || start >= llen {
                return Vec::new();
            }
            let end = end.min(llen - 1);
            if rev {
                let (lo, hi) = ((llen - 1 - end) as usize, (llen - start) as usize);
                z.range(lo, hi).rev().collect()
            } else {
                z.range(start as usize, end as usize + 1).collect()
            }
        }
        Bounds::Score(r) => {
            if offset > 0 && offset >= llen {
                return Vec::new();
            }
            let start = if rev {
                z.last_in_score(r)
            } else {
                z.first_in_score(r)
            };
            walk(z, start, rev, offset, limit, |_, s| {
                if rev {
                    r.gte_min(s)
                } else {
                    r.lte_max(s)
                }
            })
        }
        Bounds::Lex(r) => {
            let start = if rev {
                z.last_in_lex(r)
            } else {
                z.first_in_lex(r)
            };
            walk(z, start, rev, offset, limit, |m, _| {
                if rev {
                    r.gte_min(m)
                } else {
                    r.lte_max(m)
                }
            })
        }
    }
}

/// From rank `start`, skips `offset` elements, then takes up to `limit` (negative: no
/// limit) while `inside` holds, walking down when `rev`.
fn walk(
    z: &ZSetValue,
    start: Option<usize>,
    rev: bool,
    offset: i64,
    limit: i64,
    inside: impl Fn(&[u8], f64) -> bool,
) -> Vec<(&Bytes, f64)> {
    let Some(start) = start else {
        return Vec::new();
    };
    // A negative offset makes Redis walk off the end of the set.
    let Ok(offset) = usize::try_from(offset) else {
        return Vec::new();
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rev {
        let Some(pos) = start.checked_sub(offset) else {
            return Vec::new();
        };
        z.range(0, pos + 1)
            .rev()
            .take_while(|(m, s)| inside(m, *s))
            .take(limit)
            .collect()
    } else {
        let Some(pos) = start.checked_add(offset).filter(|&p| p < z.len()) else {
            return Vec::new();
        };
        z.range(pos, z.len())
            .take_while(|(m, s)| inside(m, *s))
            .take(limit)
            .collect()
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x7a72_616e_646d_656d);
        h.finish() | 1
    });
}

/// A uniform random number below `n` (`n > 0`).
fn random_below(n: usize) -> usize {
    RNG.with(|c| {
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        ((u128::from(x) * n as u128) >> 64) as usize
    })
}

/// ZRANDMEMBER key [count [WITHSCORES]]
pub(super) fn zrandmember(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    if args.len() >= 3 {
        let l = match tandem_resp::num::string2ll(&args[2]) {
            None => return Err(ZError::NotInteger),
            Some(i64::MIN) => return Err(ZError::CountRange),
            Some(l) => l,
        };
        let withscores = match args.len() {
            3 => false,
            4 if is_opt(&args[3], "withscores") => true,
            _ => return Err(ZError::Syntax),
        };
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return Err(ZError::OutOfRange);
        }
        return randmember_count(ctx, &args[1], l, withscores);
    }
    let Some(z) = read_zset(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)? else {
        ctx.enc.null();
        return Ok(());
    };
    match z.get(random_below(z.len().max(1))) {
        Some((m, _)) => ctx.enc.bulk(m),
        None => ctx.enc.null(),
    }
    Ok(())
}

/// `zrandmemberWithCountCommand`.
fn randmember_count(ctx: &mut ExecCtx<'_, '_>, key: &[u8], l: i64, withscores: bool) -> ZResult {
    let Some(z) = read_zset(ctx.ks, ctx.stats, ctx.db, key, ctx.now)? else {
        ctx.enc.array_len(0);
        return Ok(());
    };
    let size = z.len();
    let count = usize::try_from(l.unsigned_abs()).unwrap_or(usize::MAX);
    if count == 0 {
        ctx.enc.array_len(0);
        return Ok(());
    }
    if l < 0 || count == 1 {
        // Picks with repetition, in random order.
        list_header(ctx.enc, count, withscores);
        for _ in 0..count {
            if let Some((m, s)) = z.get(random_below(size)) {
                reply_elem(ctx.enc, m, s, withscores);
            }
        }
        return Ok(());
    }
    let n = count.min(size);
    list_header(ctx.enc, n, withscores);
    if count >= size {
        // Redis walks a sorted set from its tail here (`zuiInitIterator`).
        for (m, s) in z.iter().rev() {
            reply_elem(ctx.enc, m, s, withscores);
        }
        return Ok(());
    }
    let picks: Vec<usize> = if count * 3 > size {
        // Remove random elements from the whole set until `count` remain.
        let mut all: Vec<usize> = (0..size).collect();
        while all.len() > count {
            let i = random_below(all.len());
            all.swap_remove(i);
        }
        all
    } else {
        let mut seen = HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let r = random_below(size);
            if seen.insert(r) {
                out.push(r);
            }
        }
        out
    };
    for r in picks {
        if let Some((m, s)) = z.get(r) {
            reply_elem(ctx.enc, m, s, withscores);
        }
    }
    Ok(())
}
