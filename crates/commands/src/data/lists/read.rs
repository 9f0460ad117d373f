//! The read-only list commands: LLEN, LINDEX, LRANGE, LPOS. Each counts a keyspace hit or
//! miss (Redis's `lookupKeyRead`), and writes its reply straight from the list into the
//! encoder.

use bytes::Bytes;

use super::{is_opt, parse_long, parse_range, read_list, ListError};
use crate::data::ExecCtx;

/// LLEN key
pub(super) fn llen(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let n = read_list(ctx.ks, ctx.stats, ctx.db, ctx.now, &args[1])?.map_or(0, |l| l.len());
    ctx.enc.integer(n as i64);
    Ok(())
}

/// LINDEX key index: the key is looked up before the index is parsed.
pub(super) fn lindex(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let Some(list) = read_list(ctx.ks, ctx.stats, ctx.db, ctx.now, &args[1])? else {
        ctx.enc.null();
        return Ok(());
    };
    let index = parse_long(&args[2])?;
    match list.position(index).and_then(|i| list.get(i)) {
        Some(v) => ctx.enc.bulk(v),
        None => ctx.enc.null(),
    }
    Ok(())
}

/// LRANGE key start stop: the indexes are parsed before the lookup.
pub(super) fn lrange(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let start = parse_long(&args[2])?;
    let end = parse_long(&args[3])?;
    let Some(list) = read_list(ctx.ks, ctx.stats, ctx.db, ctx.now, &args[1])? else {
        ctx.enc.array_len(0);
        return Ok(());
    };
    match list.range(start, end) {
        None => ctx.enc.array_len(0),
        Some((from, to)) => {
            ctx.enc.array_len(to - from + 1);
            for v in list.items().range(from..=to) {
                ctx.enc.bulk(v);
            }
        }
    }
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]: options are parsed (and
/// refused) before the lookup.
pub(super) fn lpos(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), ListError> {
    let ele = &args[2];
    let mut rank: i64 = 1;
    // -1: no COUNT option (the reply is then a single index or null).
    let mut count: i64 = -1;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        let more = j + 1 < args.len();
        if is_opt(opt, "rank") && more {
            j += 1;
            rank = parse_long(&args[j])?;
            if rank == 0 {
                return Err(ListError::RankZero);
            }
        } else if is_opt(opt, "count") && more {
            j += 1;
            count = parse_range(&args[j], 0, ListError::CountNegative)?;
        } else if is_opt(opt, "maxlen") && more {
            j += 1;
            maxlen = parse_range(&args[j], 0, ListError::MaxlenNegative)?;
        } else {
            return Err(ListError::Syntax);
        }
        j += 1;
    }
    // A negative rank searches from the tail. Redis negates a long: LONG_MIN stays
    // negative, which then matches from the first match on and never stops a COUNT early.
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let list = match read_list(ctx.ks, ctx.stats, ctx.db, ctx.now, &args[1])? {
        Some(l) => l,
        None => {
            if count != -1 {
                ctx.enc.array_len(0);
            } else {
                ctx.enc.null();
            }
            return Ok(());
        }
    };
    let llen = list.len();
    let limit = if maxlen == 0 {
        llen
    } else {
        llen.min(maxlen as usize)
    };
    let mut found: Vec<i64> = Vec::new();
    let mut matches: i64 = 0;
    for step in 0..limit {
        let i = if from_tail { llen - 1 - step } else { step };
        if list.items()[i] != *ele {
            continue;
        }
        matches += 1;
        if matches >= rank {
            found.push(i as i64);
            if count == -1 || (count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count) {
                break;
            }
        }
    }
    if count != -1 {
        ctx.enc.array_len(found.len());
        for i in found {
            ctx.enc.integer(i);
        }
    } else {
        match found.first() {
            Some(&i) => ctx.enc.integer(i),
            None => ctx.enc.null(),
        }
    }
    Ok(())
}
