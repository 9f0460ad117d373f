//! Sorted set writes: ZADD, ZINCRBY, ZREM, ZREMRANGEBY*, the pops and the blocking pops.

use bytes::Bytes;
use tandem_keyspace::{Expiry, Inserted, Value, ZSetValue};

use super::{
    changed, check_write, cstr, delete_key, is_opt, own, parse_double, parse_lex_range, parse_long,
    parse_long_in, parse_score_range, word, write_zset, ZError, ZResult,
};
use crate::data::blocking::timeout_secs;
use crate::data::{notify, BlockOn, ExecCtx, TimeoutReply};

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub(super) fn zadd(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zadd_generic(ctx, args, false)
}

/// ZINCRBY key increment member
pub(super) fn zincrby(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zadd_generic(ctx, args, true)
}

#[derive(Clone, Copy, Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

/// What one `zsetAdd` did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AddOut {
    Added,
    Updated,
    /// Processed, score unchanged.
    Same,
    Nop,
}

/// Redis's `zsetAdd` with its flags; `Err` when the result would be NaN.
fn zset_add(
    z: &mut ZSetValue,
    score: f64,
    member: &[u8],
    f: AddFlags,
    limits: &tandem_keyspace::EncodingLimits,
) -> Result<(AddOut, f64), ZError> {
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Ok((AddOut::Nop, score));
            }
            let mut score = score;
            if f.incr {
                score += cur;
                if score.is_nan() {
                    return Err(ZError::Nan);
                }
            }
            if (f.lt && score >= cur) || (f.gt && score <= cur) {
                return Ok((AddOut::Nop, score));
            }
            if score != cur {
                z.insert_with(own(member), score, limits);
                return Ok((AddOut::Updated, score));
            }
            Ok((AddOut::Same, score))
        }
        None if !f.xx => {
            let r = z.insert_with(own(member), score, limits);
            debug_assert_eq!(r, Inserted::Added);
            Ok((AddOut::Added, score))
        }
        None => Ok((AddOut::Nop, score)),
    }
}

fn zadd_generic(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], zincrby: bool) -> ZResult {
    let key = &args[1];
    let mut f = AddFlags {
        incr: zincrby,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut idx = 2;
    while idx < args.len() {
        let o = cstr(&args[idx]);
        if o.eq_ignore_ascii_case(b"nx") {
            f.nx = true;
        } else if o.eq_ignore_ascii_case(b"xx") {
            f.xx = true;
        } else if o.eq_ignore_ascii_case(b"ch") {
            ch = true;
        } else if o.eq_ignore_ascii_case(b"incr") {
            f.incr = true;
        } else if o.eq_ignore_ascii_case(b"gt") {
            f.gt = true;
        } else if o.eq_ignore_ascii_case(b"lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = args.len() - idx;
    if elements % 2 == 1 || elements == 0 {
        return Err(ZError::Syntax);
    }
    let elements = elements / 2;
    if f.nx && f.xx {
        return Err(ZError::XxAndNx);
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(ZError::GtLtNx);
    }
    if f.incr && elements > 1 {
        return Err(ZError::IncrPair);
    }
    let mut scores = Vec::with_capacity(elements);
    for j in 0..elements {
        scores.push(parse_double(&args[idx + 2 * j]).ok_or(ZError::NotFloat)?);
    }
    let limits = ctx.settings.limits;
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut last = 0.0;
    let mut fresh: Option<ZSetValue> = None;
    let outcome = {
        let z = match write_zset(ctx.ks, ctx.db, key, ctx.now)? {
            Some(z) => z,
            None if f.xx => {
                reply_add(ctx, f.incr, ch, 0, 0, 0, 0.0);
                return Ok(());
            }
            None => fresh.insert(ZSetValue::new_for_add(args[idx + 1].len(), &limits)),
        };
        let mut outcome = Ok(());
        for (j, &score) in scores.iter().enumerate() {
            match zset_add(z, score, &args[idx + 2 * j + 1], f, &limits) {
                Ok((out, newscore)) => {
                    match out {
                        AddOut::Added => added += 1,
                        AddOut::Updated => updated += 1,
                        AddOut::Same | AddOut::Nop => {}
                    }
                    if out != AddOut::Nop {
                        processed += 1;
                    }
                    last = newscore;
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        outcome
    };
    if let Some(z) = fresh {
        if !z.is_empty() {
            ctx.ks.set(ctx.db, key, Value::ZSet(z), Expiry::Clear);
        }
    }
    outcome?;
    if added + updated > 0 {
        changed(ctx, key, added + updated);
        ctx.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    reply_add(ctx, f.incr, ch, added, updated, processed, last);
    Ok(())
}

fn reply_add(
    ctx: &mut ExecCtx<'_, '_>,
    incr: bool,
    ch: bool,
    added: u64,
    updated: u64,
    processed: u64,
    score: f64,
) {
    if incr {
        if processed > 0 {
            ctx.enc.double(score);
        } else {
            ctx.enc.null();
        }
    } else {
        let n = if ch { added + updated } else { added };
        ctx.enc.integer(n as i64);
    }
}

/// ZREM key member [member ...]
pub(super) fn zrem(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    let key = &args[1];
    let mut deleted = 0u64;
    let mut emptied = false;
    {
        let Some(z) = write_zset(ctx.ks, ctx.db, key, ctx.now)? else {
            ctx.enc.integer(0);
            return Ok(());
        };
        for m in &args[2..] {
            if z.remove(m).is_some() {
                deleted += 1;
            }
            if z.is_empty() {
                emptied = true;
                break;
            }
        }
    }
    if emptied {
        delete_key(ctx, key);
    }
    if deleted > 0 {
        changed(ctx, key, deleted);
        ctx.notify(notify::ZSET, "zrem", key);
        if emptied {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.enc.integer(deleted as i64);
    Ok(())
}

/// ZREMRANGEBYRANK key start stop
pub(super) fn zremrangebyrank(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    let start = parse_long(&args[2])?;
    let end = parse_long(&args[3])?;
    remove_range(ctx, &args[1], "zremrangebyrank", |z| {
        let llen = z.len() as i64;
        let mut start = if start < 0 { llen + start } else { start };
        let end = if end < 0 { llen + end } else { end };
        start = start.max(0);
        if start > end || start >= llen {
            return None;
        }
        let end = end.min(llen - 1);
        Some((start as usize, end as usize + 1))
    })
}

/// ZREMRANGEBYSCORE key min max
pub(super) fn zremrangebyscore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    let range = parse_score_range(&args[2], &args[3])?;
    remove_range(ctx, &args[1], "zremrangebyscore", |z| {
        let lo = z.first_in_score(&range)?;
        let hi = z.partition_point(|_, s| range.lte_max(s));
        Some((lo, hi.max(lo)))
    })
}

/// ZREMRANGEBYLEX key min max
pub(super) fn zremrangebylex(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    let range = parse_lex_range(&args[2], &args[3])?;
    remove_range(ctx, &args[1], "zremrangebylex", |z| {
        let lo = z.first_in_lex(&range)?;
        let n = z
            .range(lo, z.len())
            .take_while(|(m, _)| range.lte_max(m))
            .count();
        Some((lo, lo + n))
    })
}

/// The ZREMRANGEBY* tail: `span` picks the ranks to remove (`None`: nothing).
fn remove_range(
    ctx: &mut ExecCtx<'_, '_>,
    key: &Bytes,
    event: &'static str,
    span: impl FnOnce(&ZSetValue) -> Option<(usize, usize)>,
) -> ZResult {
    let (deleted, emptied) = {
        let Some(z) = write_zset(ctx.ks, ctx.db, key, ctx.now)? else {
            ctx.enc.integer(0);
            return Ok(());
        };
        match span(z) {
            Some((lo, hi)) => (z.remove_ranks(lo, hi), z.is_empty()),
            None => (0, false),
        }
    };
    if emptied {
        delete_key(ctx, key);
    }
    if deleted > 0 {
        changed(ctx, key, deleted as u64);
        ctx.notify(notify::ZSET, event, key);
        if emptied {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.enc.integer(deleted as i64);
    Ok(())
}

/// The shape of a pop reply.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// ZPOPMIN in RESP2, or without a count: `member score ...`.
    Flat,
    /// ZPOPMIN with a count in RESP3: `[member score] ...`.
    Nested,
    /// BZPOPMIN: `key member score`.
    FlatKey,
    /// ZMPOP / BZMPOP: `key [[member score] ...]`.
    NestedKey,
}

/// Redis's `genericZpopCommand` on one existing key: pops up to `count` elements, replies,
/// deletes the emptied key. Returns the number popped.
fn pop_from(
    ctx: &mut ExecCtx<'_, '_>,
    key: &Bytes,
    max: bool,
    count: usize,
    shape: Shape,
) -> ZResult<usize> {
    let (n, emptied) = {
        let Some(z) = write_zset(ctx.ks, ctx.db, key, ctx.now)? else {
            ctx.enc.array_len(0);
            return Ok(0);
        };
        let n = count.min(z.len());
        match shape {
            Shape::Flat => ctx.enc.array_len(n * 2),
            Shape::Nested => ctx.enc.array_len(n),
            Shape::FlatKey => {
                ctx.enc.array_len(n * 2 + 1);
                ctx.enc.bulk(key);
            }
            Shape::NestedKey => {
                ctx.enc.array_len(2);
                ctx.enc.bulk(key);
                ctx.enc.array_len(n);
            }
        }
        let nested = matches!(shape, Shape::Nested | Shape::NestedKey);
        for _ in 0..n {
            let Some((m, s)) = z.pop(max) else {
                break;
            };
            if nested {
                ctx.enc.array_len(2);
            }
            ctx.enc.bulk(&m);
            ctx.enc.double(s);
        }
        (n, z.is_empty())
    };
    if emptied {
        delete_key(ctx, key);
    }
    if n > 0 {
        changed(ctx, key, n as u64);
        ctx.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        if emptied {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    Ok(n)
}

/// ZPOPMIN key [count]
pub(super) fn zpopmin(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zpop(ctx, args, false)
}

/// ZPOPMAX key [count]
pub(super) fn zpopmax(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    zpop(ctx, args, true)
}

fn zpop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], max: bool) -> ZResult {
    if args.len() > 3 {
        return Err(ZError::Syntax);
    }
    let count = match args.get(2) {
        Some(a) => Some(parse_long_in(a, 0, i64::MAX, ZError::NotPositive)?),
        None => None,
    };
    let key = &args[1];
    let shape = if count.is_some() && super::resp3(ctx.enc) {
        Shape::Nested
    } else {
        Shape::Flat
    };
    let n = match count {
        Some(0) => {
            // Only the type is checked: a missing key and a count of 0 both reply `*0`.
            check_write(ctx, key)?;
            ctx.enc.array_len(0);
            return Ok(());
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => 1,
    };
    // A missing key replies `*0` there.
    pop_from(ctx, key, max, n, shape)?;
    Ok(())
}

/// The parsed tail of ZMPOP / BZMPOP: keys, direction, count.
struct MpopArgs<'a> {
    keys: &'a [Bytes],
    max: bool,
    count: i64,
}

/// `zmpopGenericCommand`'s parsing; `numkeys_idx` is where numkeys sits.
fn parse_mpop(args: &[Bytes], numkeys_idx: usize) -> Result<MpopArgs<'_>, ZError> {
    let numkeys = parse_long_in(&args[numkeys_idx], 1, i64::MAX, ZError::NumkeysZero)?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
        .filter(|&w| w < args.len())
        .ok_or(ZError::Syntax)?;
    let max = if is_opt(&args[where_idx], "min") {
        false
    } else if is_opt(&args[where_idx], "max") {
        true
    } else {
        return Err(ZError::Syntax);
    };
    let mut count = -1;
    let mut j = where_idx + 1;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if count == -1 && is_opt(&args[j], "count") && more > 0 {
            j += 1;
            count = parse_long_in(&args[j], 1, i64::MAX, ZError::CountZero)?;
        } else {
            return Err(ZError::Syntax);
        }
        j += 1;
    }
    if count == -1 {
        count = 1;
    }
    Ok(MpopArgs {
        keys: &args[numkeys_idx + 1..where_idx],
        max,
        count,
    })
}

/// The propagated form of a pop: `ZPOPMIN key [n]`.
fn propagate_pop(ctx: &mut ExecCtx<'_, '_>, key: &Bytes, max: bool, n: Option<usize>) {
    let mut cmd = vec![word(if max { "ZPOPMAX" } else { "ZPOPMIN" }), key.clone()];
    if let Some(n) = n {
        cmd.push(Bytes::from(n.to_string()));
    }
    ctx.prop.rewrite(vec![cmd]);
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub(super) fn zmpop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    let a = parse_mpop(args, 1)?;
    for key in a.keys {
        if check_write(ctx, key)? {
            let count = usize::try_from(a.count).unwrap_or(usize::MAX);
            let n = pop_from(ctx, key, a.max, count, Shape::NestedKey)?;
            propagate_pop(ctx, key, a.max, Some(n));
            return Ok(());
        }
    }
    ctx.enc.null_array();
    Ok(())
}

/// BZPOPMIN key [key ...] timeout
pub(super) fn bzpopmin(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    bzpop(ctx, args, false)
}

/// BZPOPMAX key [key ...] timeout
pub(super) fn bzpopmax(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    bzpop(ctx, args, true)
}

fn bzpop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], max: bool) -> ZResult {
    let last = args.len() - 1;
    let deadline = timeout_secs(&args[last], ctx.now).map_err(ZError::Timeout)?;
    blocking_pop(ctx, &args[1..last], max, -1, deadline)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub(super) fn bzmpop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    let a = parse_mpop(args, 2)?;
    let deadline = timeout_secs(&args[1], ctx.now).map_err(ZError::Timeout)?;
    blocking_pop(ctx, a.keys, a.max, a.count, deadline)
}

/// `blockingGenericZpopCommand`: pops from the first non-empty key, else blocks (or answers
/// the timeout reply when the client may not block). `count` -1: BZPOPMIN's single pop.
fn blocking_pop(
    ctx: &mut ExecCtx<'_, '_>,
    keys: &[Bytes],
    max: bool,
    count: i64,
    deadline: Option<tandem_keyspace::Millis>,
) -> ZResult {
    for key in keys {
        if !check_write(ctx, key)? {
            continue;
        }
        if count == -1 {
            pop_from(ctx, key, max, 1, Shape::FlatKey)?;
            propagate_pop(ctx, key, max, None);
        } else {
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            let n = pop_from(ctx, key, max, count, Shape::NestedKey)?;
            propagate_pop(ctx, key, max, Some(n));
        }
        return Ok(());
    }
    if !ctx.may_block {
        ctx.enc.null_array();
        return Ok(());
    }
    ctx.block = Some(BlockOn {
        keys: keys.to_vec(),
        deadline,
        on_timeout: TimeoutReply::NullArray,
        retry_args: None,
    });
    Ok(())
}
