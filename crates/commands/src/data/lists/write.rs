//! The list commands that add, replace or remove elements in place: LPUSH, RPUSH, LPUSHX,
//! RPUSHX, LINSERT, LSET, LREM, LTRIM. All use write lookups (no hit/miss counting) and
//! propagate as received.

use bytes::Bytes;
use tandem_keyspace::{Expiry, ListValue, Value};

use super::{changed, is_opt, own, parse_long, push_end, write_list, End, ListError};
use crate::data::ExecCtx;

/// LPUSH key element [element ...]
pub(super) fn lpush(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    push(ctx, args, End::Head, false)
}

/// RPUSH key element [element ...]
pub(super) fn rpush(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    push(ctx, args, End::Tail, false)
}

/// LPUSHX key element [element ...]
pub(super) fn lpushx(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    push(ctx, args, End::Head, true)
}

/// RPUSHX key element [element ...]
pub(super) fn rpushx(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    push(ctx, args, End::Tail, true)
}

/// Redis's `pushGenericCommand`: `only_existing` is the X variants (0 for a missing key).
fn push(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    end: End,
    only_existing: bool,
) -> Result<(), ListError> {
    let key = &args[1];
    let elements = &args[2..];
    let len = match write_list(ctx.ks, ctx.db, ctx.now, key)? {
        Some(list) => {
            list.reserve(elements.len());
            for e in elements {
                push_end(list, end, own(e));
            }
            list.len()
        }
        None if only_existing => {
            ctx.enc.integer(0);
            return Ok(());
        }
        None => {
            let mut list = ListValue::with_capacity(elements.len(), &ctx.settings.limits);
            for e in elements {
                push_end(&mut list, end, own(e));
            }
            let len = list.len();
            ctx.ks.set(ctx.db, key, Value::List(list), Expiry::Clear);
            len
        }
    };
    ctx.enc.integer(len as i64);
    changed(ctx, key, elements.len() as u64, false, end.push_event());
    Ok(())
}

/// LINSERT key BEFORE|AFTER pivot element: the position word is checked before the lookup.
pub(super) fn linsert(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let after = if is_opt(&args[2], "after") {
        true
    } else if is_opt(&args[2], "before") {
        false
    } else {
        return Err(ListError::Syntax);
    };
    let key = &args[1];
    let Some(list) = write_list(ctx.ks, ctx.db, ctx.now, key)? else {
        ctx.enc.integer(0);
        return Ok(());
    };
    let Some(at) = list.iter().position(|e| *e == args[3]) else {
        ctx.enc.integer(-1);
        return Ok(());
    };
    list.insert(at, after, own(&args[4]));
    let len = list.len();
    changed(ctx, key, 1, false, "linsert");
    ctx.enc.integer(len as i64);
    Ok(())
}

/// LSET key index element: the key is looked up before the index is parsed.
pub(super) fn lset(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let key = &args[1];
    let Some(list) = write_list(ctx.ks, ctx.db, ctx.now, key)? else {
        return Err(ListError::NoSuchKey);
    };
    let index = parse_long(&args[2])?;
    let Some(pos) = list.position(index) else {
        return Err(ListError::IndexOutOfRange);
    };
    list.set(pos, own(&args[3]));
    ctx.enc.ok();
    changed(ctx, key, 1, false, "lset");
    Ok(())
}

/// LREM key count element: a positive count removes that many matches from the head, a
/// negative one from the tail, 0 all of them.
pub(super) fn lrem(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let count = parse_long(&args[2])?;
    let key = &args[1];
    let ele = &args[3];
    let Some(list) = write_list(ctx.ks, ctx.db, ctx.now, key)? else {
        ctx.enc.integer(0);
        return Ok(());
    };
    // Redis negates a long: LONG_MIN stays negative and then removes every match (from the
    // tail), like 0 does.
    let from_tail = count < 0;
    let limit = if from_tail {
        count.wrapping_neg()
    } else {
        count
    };
    let limit = u64::try_from(limit).ok().filter(|&l| l != 0);
    let matches: Vec<usize> = list
        .iter()
        .enumerate()
        .filter(|(_, e)| *e == ele)
        .map(|(i, _)| i)
        .collect();
    let total = matches.len() as u64;
    let removing = limit.map_or(total, |l| l.min(total));
    if removing > 0 {
        // From the tail, the first `total - removing` matches stay.
        let skip = if from_tail { total - removing } else { 0 };
        let gone = &matches[skip as usize..(skip + removing) as usize];
        list.remove_positions(gone);
        let emptied = list.is_empty();
        changed(ctx, key, removing, emptied, "lrem");
    }
    ctx.enc.integer(removing as i64);
    Ok(())
}

/// LTRIM key start stop: the indexes are parsed before the lookup; the key is signalled as
/// modified even when nothing was trimmed.
pub(super) fn ltrim(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let start = parse_long(&args[2])?;
    let end = parse_long(&args[3])?;
    let key = &args[1];
    let Some(list) = write_list(ctx.ks, ctx.db, ctx.now, key)? else {
        ctx.enc.ok();
        return Ok(());
    };
    let llen = list.len();
    let removed = match list.range(start, end) {
        None => {
            list.clear();
            llen
        }
        Some((from, to)) => {
            list.trim(from, to);
            llen - (to - from + 1)
        }
    };
    let emptied = list.is_empty();
    changed(ctx, key, removed as u64, emptied, "ltrim");
    ctx.enc.ok();
    Ok(())
}
