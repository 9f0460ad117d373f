//! The list commands that take elements out: LPOP, RPOP, LMPOP, LMOVE, RPOPLPUSH, and their
//! blocking forms BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH.
//!
//! Propagation (7.0.15): LPOP, RPOP, LMOVE and RPOPLPUSH go as received; LMPOP and BLMPOP
//! become `LPOP|RPOP key <n>` (`n` the number popped); BLPOP and BRPOP become
//! `LPOP|RPOP key`; BLMOVE becomes `LMOVE` and BRPOPLPUSH `RPOPLPUSH`.
//!
//! A blocking command re-run after its keys changed goes through the same path as the first
//! run. BLMOVE asks to be re-run with its position words spelled `left` / `right`, because
//! Redis propagates a BLMOVE served after blocking with those words (the first run keeps the
//! client's spelling).

use bytes::Bytes;
use tandem_keyspace::{Expiry, ListValue, Value};
use tandem_resp::Encoder;

use super::{changed, own, parse_range, pop_end, push_end, write_list, End, ListError};
use crate::data::blocking::{reply_timeout, timeout_secs};
use crate::data::{notify, BlockOn, ExecCtx, TimeoutReply};

/// LPOP key [count]
pub(super) fn lpop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    pop_generic(ctx, args, End::Head, "lpop")
}

/// RPOP key [count]
pub(super) fn rpop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    pop_generic(ctx, args, End::Tail, "rpop")
}

/// Redis's `popGenericCommand`: the count is parsed before the lookup; a missing key is a
/// null bulk without a count and a null array with one; a count of 0 on an existing list
/// is an empty array.
fn pop_generic(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    end: End,
    name: &'static str,
) -> Result<(), ListError> {
    if args.len() > 3 {
        return Err(ListError::Arity(name));
    }
    let count = match args.get(2) {
        Some(arg) => Some(parse_range(arg, 0, ListError::NotPositive)?),
        None => None,
    };
    let key = &args[1];
    let Some(list) = write_list(ctx.ks, ctx.db, ctx.now, key)? else {
        match count {
            Some(_) => ctx.enc.null_array(),
            None => ctx.enc.null(),
        }
        return Ok(());
    };
    let popped = match count {
        Some(0) => {
            ctx.enc.array_len(0);
            return Ok(());
        }
        Some(n) => pop_range(ctx.enc, list, end, n),
        None => match pop_end(list, end) {
            Some(v) => {
                ctx.enc.bulk(&v);
                1
            }
            // Only an empty list loaded from a very old RDB file gets here.
            None => {
                ctx.enc.null();
                return Ok(());
            }
        },
    };
    let emptied = list.is_empty();
    changed(ctx, key, popped, emptied, end.pop_event());
    Ok(())
}

/// Pops up to `count` elements from `end` of `list`, replying with them as an array in the
/// order they leave the list (`addListRangeReply`, reversed for the tail). Returns how many.
fn pop_range(enc: &mut Encoder<'_>, list: &mut ListValue, end: End, count: i64) -> u64 {
    let n = list.len().min(usize::try_from(count).unwrap_or(usize::MAX));
    enc.array_len(n);
    for _ in 0..n {
        if let Some(v) = pop_end(list, end) {
            enc.bulk(&v);
        }
    }
    n as u64
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub(super) fn lmpop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let req = parse_mpop(args, 1)?;
    if !serve_pop(ctx, &args[2..req.where_idx], req.end, Some(req.count))? {
        ctx.enc.null_array();
    }
    Ok(())
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: the timeout is parsed
/// after the other arguments.
pub(super) fn blmpop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let req = parse_mpop(args, 2)?;
    blocking_pop(
        ctx,
        &args[3..req.where_idx],
        req.end,
        &args[1],
        Some(req.count),
    )
}

/// BLPOP key [key ...] timeout
pub(super) fn blpop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let last = args.len() - 1;
    blocking_pop(ctx, &args[1..last], End::Head, &args[last], None)
}

/// BRPOP key [key ...] timeout
pub(super) fn brpop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let last = args.len() - 1;
    blocking_pop(ctx, &args[1..last], End::Tail, &args[last], None)
}

/// The parsed arguments of LMPOP / BLMPOP.
struct MpopRequest {
    /// Index of the LEFT|RIGHT argument (the keys end just before it).
    where_idx: usize,
    end: End,
    count: i64,
}

/// Redis's `lmpopGenericCommand` parsing: numkeys, the position word after the keys, then
/// at most one COUNT.
fn parse_mpop(args: &[Bytes], numkeys_idx: usize) -> Result<MpopRequest, ListError> {
    let numkeys = parse_range(&args[numkeys_idx], 1, ListError::Numkeys)?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
        .filter(|&i| i < args.len())
        .ok_or(ListError::Syntax)?;
    let end = End::parse(&args[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && super::is_opt(&args[j], "count") && j + 1 < args.len() {
            j += 1;
            count = Some(parse_range(&args[j], 1, ListError::CountNotPositive)?);
        } else {
            return Err(ListError::Syntax);
        }
        j += 1;
    }
    Ok(MpopRequest {
        where_idx,
        end,
        count: count.unwrap_or(1),
    })
}

/// Redis's `blockingPopGenericCommand`: the timeout is parsed first; then the first
/// non-empty list among `keys` is served; else the command answers like a timeout (when it
/// may not block) or blocks on all of `keys`.
fn blocking_pop(
    ctx: &mut ExecCtx<'_, '_>,
    keys: &[Bytes],
    end: End,
    timeout: &[u8],
    count: Option<i64>,
) -> Result<(), ListError> {
    let deadline = timeout_secs(timeout, ctx.now).map_err(ListError::Timeout)?;
    if serve_pop(ctx, keys, end, count)? {
        return Ok(());
    }
    if !ctx.may_block {
        reply_timeout(ctx, TimeoutReply::NullArray);
        return Ok(());
    }
    ctx.block = Some(BlockOn {
        keys: keys.iter().map(|k| own(k)).collect(),
        deadline,
        on_timeout: TimeoutReply::NullArray,
        retry_args: None,
    });
    Ok(())
}

/// Pops from the first non-empty list among `keys` (a key of another type before it is an
/// error): one element replied as `[key, element]` when `count` is `None` (BLPOP), else up
/// to `count` replied as `[key, [elements]]` (LMPOP). Rewrites the propagation to the
/// matching LPOP / RPOP. False when every list was missing.
fn serve_pop(
    ctx: &mut ExecCtx<'_, '_>,
    keys: &[Bytes],
    end: End,
    count: Option<i64>,
) -> Result<bool, ListError> {
    for key in keys {
        let Some(list) = write_list(ctx.ks, ctx.db, ctx.now, key)? else {
            continue;
        };
        if list.is_empty() {
            continue;
        }
        ctx.enc.array_len(2);
        ctx.enc.bulk(key);
        let popped = match count {
            Some(n) => pop_range(ctx.enc, list, end, n),
            None => {
                if let Some(v) = pop_end(list, end) {
                    ctx.enc.bulk(&v);
                }
                1
            }
        };
        let emptied = list.is_empty();
        changed(ctx, key, popped, emptied, end.pop_event());
        let mut cmd = vec![end.pop_command(), key.clone()];
        if count.is_some() {
            cmd.push(Bytes::from(popped.to_string()));
        }
        ctx.prop.rewrite(vec![cmd]);
        return Ok(true);
    }
    Ok(false)
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
pub(super) fn lmove(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let from = End::parse(&args[3])?;
    let to = End::parse(&args[4])?;
    lmove_generic(ctx, args, from, to)?;
    Ok(())
}

/// RPOPLPUSH source destination
pub(super) fn rpoplpush(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    lmove_generic(ctx, args, End::Tail, End::Head)?;
    Ok(())
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout: the position words are parsed
/// before the timeout.
pub(super) fn blmove(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let from = End::parse(&args[3])?;
    let to = End::parse(&args[4])?;
    let deadline = timeout_secs(&args[5], ctx.now).map_err(ListError::Timeout)?;
    if blocking_move(ctx, args, from, to, deadline)? {
        ctx.prop.rewrite(vec![vec![
            Bytes::from_static(b"LMOVE"),
            args[1].clone(),
            args[2].clone(),
            args[3].clone(),
            args[4].clone(),
        ]]);
    } else if let Some(block) = ctx.block.as_mut() {
        block.retry_args = Some(vec![
            args[0].clone(),
            own(&args[1]),
            own(&args[2]),
            from.word(),
            to.word(),
            own(&args[5]),
        ]);
    }
    Ok(())
}

/// BRPOPLPUSH source destination timeout
pub(super) fn brpoplpush(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let deadline = timeout_secs(&args[3], ctx.now).map_err(ListError::Timeout)?;
    if blocking_move(ctx, args, End::Tail, End::Head, deadline)? {
        ctx.prop.rewrite(vec![vec![
            Bytes::from_static(b"RPOPLPUSH"),
            args[1].clone(),
            args[2].clone(),
        ]]);
    }
    Ok(())
}

/// Redis's `blmoveGenericCommand`: a source of another type is an error; a missing source
/// answers a null bulk (when the command may not block) or blocks on the source; else the
/// move is LMOVE's. True when an element moved.
fn blocking_move(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    from: End,
    to: End,
    deadline: Option<tandem_keyspace::Millis>,
) -> Result<bool, ListError> {
    if write_list(ctx.ks, ctx.db, ctx.now, &args[1])?.is_some() {
        return lmove_generic(ctx, args, from, to);
    }
    if !ctx.may_block {
        reply_timeout(ctx, TimeoutReply::NullBulk);
        return Ok(false);
    }
    ctx.block = Some(BlockOn {
        keys: vec![own(&args[1])],
        deadline,
        on_timeout: TimeoutReply::NullBulk,
        retry_args: None,
    });
    Ok(false)
}

/// Redis's `lmoveGenericCommand`: a missing source is a null bulk (whatever the
/// destination); a destination of another type is an error, checked before anything
/// moves. Replies the moved element. True when an element moved.
fn lmove_generic(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    from: End,
    to: End,
) -> Result<bool, ListError> {
    let (src, dst) = (&args[1], &args[2]);
    match write_list(ctx.ks, ctx.db, ctx.now, src)? {
        Some(list) if !list.is_empty() => {}
        _ => {
            ctx.enc.null();
            return Ok(false);
        }
    }
    if src == dst {
        // Popping and pushing on the same list: it never becomes empty.
        let Some(list) = write_list(ctx.ks, ctx.db, ctx.now, src)? else {
            return Ok(false);
        };
        let Some(value) = pop_end(list, from) else {
            return Ok(false);
        };
        ctx.enc.bulk(&value);
        push_end(list, to, value);
        ctx.notify(notify::LIST, to.push_event(), dst);
        changed(ctx, src, 1, false, from.pop_event());
        return Ok(true);
    }
    let dst_exists = write_list(ctx.ks, ctx.db, ctx.now, dst)?.is_some();
    let Some(list) = write_list(ctx.ks, ctx.db, ctx.now, src)? else {
        return Ok(false);
    };
    let Some(value) = pop_end(list, from) else {
        return Ok(false);
    };
    let emptied = list.is_empty();
    ctx.enc.bulk(&value);
    if dst_exists {
        if let Some(dlist) = write_list(ctx.ks, ctx.db, ctx.now, dst)? {
            push_end(dlist, to, value);
        }
    } else {
        let mut dlist = ListValue::with_capacity(1, &ctx.settings.limits);
        push_end(&mut dlist, to, value);
        ctx.ks.set(ctx.db, dst, Value::List(dlist), Expiry::Clear);
    }
    // Redis signals the destination first, then the source.
    ctx.ks.touch_modified(ctx.db, dst);
    ctx.notify(notify::LIST, to.push_event(), dst);
    changed(ctx, src, 1, emptied, from.pop_event());
    Ok(true)
}
