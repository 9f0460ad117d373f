//! SINTER (and SMEMBERS), SINTERCARD, SINTERSTORE, SUNION, SUNIONSTORE, SDIFF, SDIFFSTORE,
//! as Redis 7.0.15's `sinterGenericCommand` and `sunionDiffGenericCommand`.
//!
//! What clients can see of the algorithms is kept:
//! - every key is looked up with a read lookup (a keyspace hit or miss each, the STORE
//!   variants included) until the first one of the wrong type;
//! - SINTER walks the smallest set (a stable sort by cardinality) and replies in its order;
//! - SUNION and SDIFF build a result set starting as an `intset`, so an all-integer result
//!   replies in ascending order and is stored as `intset` when small enough;
//! - SDIFF picks Redis's algorithm (walk the first set, or copy it and subtract the others)
//!   with Redis's cost estimate, because the second one can leave a `hashtable` result.

use std::sync::Arc;

use bytes::Bytes;
use tandem_keyspace::{SetValue, Value};

use super::{changed, db_delete, parse_long, reply_member, set_key, SetError};
use crate::data::{notify, ExecCtx};

/// The sets named by `keys`, `None` for missing keys: Redis's loop of `lookupKeyRead` +
/// `checkType`, stopping at the first key of another type.
fn read_sets(
    ctx: &mut ExecCtx<'_, '_>,
    keys: &[Bytes],
) -> Result<Vec<Option<Arc<Value>>>, SetError> {
    let mut sets = Vec::with_capacity(keys.len());
    for key in keys {
        match ctx.ks.get_shared(ctx.db, key, ctx.now) {
            None => {
                ctx.stats.keyspace_misses += 1;
                ctx.ks.note_miss(ctx.db, key);
                sets.push(None);
            }
            Some(v) => {
                ctx.stats.keyspace_hits += 1;
                if !matches!(*v, Value::Set(_)) {
                    return Err(SetError::WrongType);
                }
                sets.push(Some(v));
            }
        }
    }
    Ok(sets)
}

/// The set inside a value [`read_sets`] returned.
fn as_set(v: &Value) -> &SetValue {
    match v {
        Value::Set(s) => s,
        // read_sets only returns sets.
        _ => empty_set(),
    }
}

fn empty_set() -> &'static SetValue {
    static EMPTY: SetValue = SetValue::Intset(tandem_keyspace::value::IntSet::new());
    &EMPTY
}

/// How SINTER's result is delivered.
enum InterOut<'a> {
    Reply,
    Card { limit: u64 },
    Store(&'a Bytes),
}

/// SINTER key [key ...] (and SMEMBERS key)
pub(super) fn sinter(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    inter_generic(ctx, &args[1..], InterOut::Reply)
}

/// SINTERSTORE destination key [key ...]
pub(super) fn sinterstore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    inter_generic(ctx, &args[2..], InterOut::Store(&args[1]))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub(super) fn sintercard(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    let numkeys = parse_long(&args[1], SetError::Numkeys)?;
    if numkeys < 1 {
        return Err(SetError::Numkeys);
    }
    let nargs = args.len() as i64 - 2;
    if numkeys > nargs {
        return Err(SetError::TooManyKeys);
    }
    let numkeys = numkeys as usize;
    let mut limit = 0u64;
    let mut j = 2 + numkeys;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is_opt(&args[j], b"limit") && more > 0 {
            j += 1;
            let l = parse_long(&args[j], SetError::LimitNegative)?;
            if l < 0 {
                return Err(SetError::LimitNegative);
            }
            limit = l as u64;
        } else {
            return Err(SetError::Syntax);
        }
        j += 1;
    }
    inter_generic(ctx, &args[2..2 + numkeys], InterOut::Card { limit })
}

/// `strcasecmp` of an option (the argument up to its first NUL byte).
fn is_opt(arg: &[u8], name: &[u8]) -> bool {
    let end = arg.iter().position(|&c| c == 0).unwrap_or(arg.len());
    arg[..end].eq_ignore_ascii_case(name)
}

/// Redis's `sinterGenericCommand`.
fn inter_generic(
    ctx: &mut ExecCtx<'_, '_>,
    keys: &[Bytes],
    out: InterOut<'_>,
) -> Result<(), SetError> {
    let found = read_sets(ctx, keys)?;
    if found.iter().any(Option::is_none) {
        match out {
            InterOut::Store(dst) => {
                if db_delete(ctx, dst) {
                    changed(ctx, dst, 1);
                    ctx.notify(notify::GENERIC, "del", dst);
                }
                ctx.enc.integer(0);
            }
            InterOut::Card { .. } => ctx.enc.integer(0),
            InterOut::Reply => ctx.enc.set_len(0),
        }
        return Ok(());
    }
    let mut sets: Vec<Arc<Value>> = found.into_iter().flatten().collect();
    // Stable, as glibc's qsort (a merge sort) is for these sizes.
    sets.sort_by_key(|v| as_set(v).len());
    let first = &sets[0];
    let others: Vec<&SetValue> = sets[1..]
        .iter()
        .filter(|v| !Arc::ptr_eq(v, first))
        .map(|v| as_set(v))
        .collect();
    let hits = as_set(first)
        .members_iter()
        .filter(|&m| others.iter().all(|s| s.contains_member(m)));
    match out {
        InterOut::Card { limit } => {
            let mut n = 0u64;
            for _ in hits {
                n += 1;
                if limit != 0 && n >= limit {
                    break;
                }
            }
            ctx.enc.integer(n as i64);
        }
        InterOut::Reply => {
            let members: Vec<_> = hits.collect();
            ctx.enc.set_len(members.len());
            for m in members {
                reply_member(ctx, m);
            }
        }
        InterOut::Store(dst) => {
            let limits = ctx.settings.limits;
            let mut result = SetValue::default();
            for m in hits {
                result.insert_member(m, &limits);
            }
            drop(others);
            drop(sets);
            store_result(ctx, dst, result, "sinterstore");
        }
    }
    Ok(())
}

/// The end of the STORE variants: a non-empty result replaces the destination (TTL
/// dropped) and is notified as `event`, an empty one deletes it (`del`).
fn store_result(ctx: &mut ExecCtx<'_, '_>, dst: &Bytes, result: SetValue, event: &'static str) {
    let n = result.len();
    if n > 0 {
        set_key(ctx, dst, Value::Set(result));
        changed(ctx, dst, 1);
        ctx.notify(notify::SET, event, dst);
        ctx.enc.integer(n as i64);
    } else {
        ctx.enc.integer(0);
        if db_delete(ctx, dst) {
            changed(ctx, dst, 1);
            ctx.notify(notify::GENERIC, "del", dst);
        }
    }
}

/// SUNION or SDIFF.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Diff,
}

/// SUNION key [key ...]
pub(super) fn sunion(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    union_diff(ctx, &args[1..], None, Op::Union)
}

/// SUNIONSTORE destination key [key ...]
pub(super) fn sunionstore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    union_diff(ctx, &args[2..], Some(&args[1]), Op::Union)
}

/// SDIFF key [key ...]
pub(super) fn sdiff(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    union_diff(ctx, &args[1..], None, Op::Diff)
}

/// SDIFFSTORE destination key [key ...]
pub(super) fn sdiffstore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    union_diff(ctx, &args[2..], Some(&args[1]), Op::Diff)
}

/// Redis's `sunionDiffGenericCommand`.
fn union_diff(
    ctx: &mut ExecCtx<'_, '_>,
    keys: &[Bytes],
    dst: Option<&Bytes>,
    op: Op,
) -> Result<(), SetError> {
    let sets = read_sets(ctx, keys)?;
    let result = compute(&sets, op, &ctx.settings.limits);
    drop(sets);
    match dst {
        None => reply_set(ctx, &result),
        Some(dst) => {
            let event = match op {
                Op::Union => "sunionstore",
                Op::Diff => "sdiffstore",
            };
            store_result(ctx, dst, result, event);
        }
    }
    Ok(())
}

/// Replies a whole set (`~n` in RESP3) in its iteration order.
pub(super) fn reply_set(ctx: &mut ExecCtx<'_, '_>, s: &SetValue) {
    ctx.enc.set_len(s.len());
    for m in s.members_iter() {
        reply_member(ctx, m);
    }
}

/// The union or difference of `sets` (`None` is an empty set), built as Redis builds it.
fn compute(
    sets: &[Option<Arc<Value>>],
    op: Op,
    limits: &tandem_keyspace::EncodingLimits,
) -> SetValue {
    let mut result = SetValue::default();
    let first = sets.first().and_then(Option::as_ref);
    let sameset = match first {
        Some(f) => sets[1..].iter().flatten().any(|v| Arc::ptr_eq(v, f)),
        None => false,
    };
    match op {
        Op::Union => {
            for s in sets.iter().flatten() {
                for m in as_set(s).members_iter() {
                    result.insert_member(m, limits);
                }
            }
        }
        Op::Diff => {
            let Some(first) = first else {
                return result;
            };
            if sameset {
                return result;
            }
            let first_len = as_set(first).len() as u64;
            let mut algo_one = 0u64;
            let mut algo_two = 0u64;
            for s in sets.iter().flatten() {
                algo_one += first_len;
                algo_two += as_set(s).len() as u64;
            }
            algo_one /= 2;
            let rest: Vec<&SetValue> = sets[1..].iter().flatten().map(|v| as_set(v)).collect();
            if algo_one <= algo_two {
                for m in as_set(first).members_iter() {
                    if !rest.iter().any(|s| s.contains_member(m)) {
                        result.insert_member(m, limits);
                    }
                }
            } else {
                for m in as_set(first).members_iter() {
                    result.insert_member(m, limits);
                }
                for s in rest {
                    if result.is_empty() {
                        break;
                    }
                    for m in s.members_iter() {
                        result.remove_member(m);
                    }
                }
            }
        }
    }
    result
}

/// Used by SPOP when it pops the whole set: Redis replies through a one-key SUNION.
pub(super) fn union_of_one(s: &Arc<Value>, limits: &tandem_keyspace::EncodingLimits) -> SetValue {
    compute(&[Some(Arc::clone(s))], Op::Union, limits)
}
