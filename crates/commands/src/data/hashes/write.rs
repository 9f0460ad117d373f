//! Hash writes: HSET, HMSET, HSETNX, HDEL, HINCRBY, HINCRBYFLOAT.

use bytes::Bytes;
use tandem_keyspace::{EncodingLimits, Expiry, FreeMode, HashValue, Value};
use tandem_resp::num::string2ll;

use super::{changed, own, HashError};
use crate::data::strings::longdouble::LongDouble;
use crate::data::{notify, ExecCtx};

/// Redis's `hashTypeTryConversion` for the arguments of a write: a listpack becomes a
/// table first when any field or value is longer than `hash-max-listpack-value`.
fn try_conversion(h: &mut HashValue, args: &[Bytes], limits: &EncodingLimits) {
    if matches!(h, HashValue::Listpack(_))
        && args
            .iter()
            .any(|a| a.len() > limits.hash_max_listpack_value)
    {
        h.convert_to_table();
    }
}

/// Sets every field-value pair of `pairs`; returns how many fields were new.
fn set_pairs(h: &mut HashValue, pairs: &[Bytes], limits: &EncodingLimits) -> i64 {
    try_conversion(h, pairs, limits);
    let mut created = 0;
    for pair in pairs.chunks_exact(2) {
        if h.set(&pair[0], own(&pair[1]), limits) {
            created += 1;
        }
    }
    created
}

/// `hsetCommand` (HSET and HMSET): returns the number of new fields.
fn set_generic(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    name: &'static str,
) -> Result<i64, HashError> {
    if args.len() % 2 == 1 {
        return Err(HashError::Arity(name));
    }
    let key = &args[1];
    let pairs = &args[2..];
    let limits = ctx.settings.limits;
    let created = match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        Some(Value::Hash(h)) => set_pairs(h, pairs, &limits),
        Some(_) => return Err(HashError::WrongType),
        None => {
            let mut h = HashValue::default();
            let created = set_pairs(&mut h, pairs, &limits);
            ctx.ks.set(ctx.db, key, Value::Hash(h), Expiry::Clear);
            created
        }
    };
    changed(ctx, key, (pairs.len() / 2) as u64, "hset");
    Ok(created)
}

/// HSET key field value [field value ...]
pub(super) fn hset(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    let created = set_generic(ctx, args, "hset")?;
    ctx.enc.integer(created);
    Ok(())
}

/// HMSET key field value [field value ...]
pub(super) fn hmset(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    set_generic(ctx, args, "hmset")?;
    ctx.enc.ok();
    Ok(())
}

/// HSETNX key field value
pub(super) fn hsetnx(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    let key = &args[1];
    let limits = ctx.settings.limits;
    match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        Some(Value::Hash(h)) => {
            if h.contains(&args[2]) {
                ctx.enc.integer(0);
                return Ok(());
            }
            set_pairs(h, &args[2..4], &limits);
        }
        Some(_) => return Err(HashError::WrongType),
        None => {
            let mut h = HashValue::default();
            set_pairs(&mut h, &args[2..4], &limits);
            ctx.ks.set(ctx.db, key, Value::Hash(h), Expiry::Clear);
        }
    }
    changed(ctx, key, 1, "hset");
    ctx.enc.integer(1);
    Ok(())
}

/// HDEL key field [field ...]: deletes the key with its last field (and stops there).
pub(super) fn hdel(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    let key = &args[1];
    let (deleted, emptied) = match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        None => (0, false),
        Some(Value::Hash(h)) => {
            let mut deleted = 0;
            let mut emptied = false;
            for field in &args[2..] {
                if h.remove(field).is_some() {
                    deleted += 1;
                    if h.is_empty() {
                        emptied = true;
                        break;
                    }
                }
            }
            (deleted, emptied)
        }
        Some(_) => return Err(HashError::WrongType),
    };
    if emptied {
        ctx.ks.delete(ctx.db, key, ctx.now, FreeMode::Sync);
    }
    if deleted > 0 {
        changed(ctx, key, deleted as u64, "hdel");
        if emptied {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.enc.integer(deleted);
    Ok(())
}

/// The current value of `field` for an increment: `Ok(None)` when the key or the field is
/// missing (Redis creates the key before reading, which only matters when it is missing,
/// and then nothing can fail).
fn current<'k>(
    ctx: &'k mut ExecCtx<'_, '_>,
    key: &[u8],
    field: &[u8],
) -> Result<Option<&'k Bytes>, HashError> {
    match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(h.get(field)),
        Some(_) => Err(HashError::WrongType),
    }
}

/// Stores `value` in `field` (creating the key if needed) through `hashTypeSet`, and
/// notifies `event`.
fn store(ctx: &mut ExecCtx<'_, '_>, key: &[u8], field: &[u8], value: Bytes, event: &'static str) {
    let limits = ctx.settings.limits;
    match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        Some(Value::Hash(h)) => {
            h.set(field, value, &limits);
        }
        _ => {
            let mut h = HashValue::default();
            h.set(field, value, &limits);
            ctx.ks.set(ctx.db, key, Value::Hash(h), Expiry::Clear);
        }
    }
    changed(ctx, key, 1, event);
}

/// HINCRBY key field increment
pub(super) fn hincrby(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    let incr = string2ll(&args[3]).ok_or(HashError::NotInteger)?;
    let (key, field) = (&args[1], &args[2]);
    let old = match current(ctx, key, field)? {
        None => 0,
        Some(v) => string2ll(v).ok_or(HashError::HashNotInteger)?,
    };
    let new = old.checked_add(incr).ok_or(HashError::Overflow)?;
    store(ctx, key, field, Bytes::from(new.to_string()), "hincrby");
    ctx.enc.integer(new);
    Ok(())
}

/// HINCRBYFLOAT key field increment: x87 `long double` arithmetic as INCRBYFLOAT, printed
/// in Redis's human form; propagated as `HSET key field <result>`.
pub(super) fn hincrbyfloat(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    let incr = LongDouble::parse(&args[3]).ok_or(HashError::NotFloat)?;
    if incr.is_inf() {
        return Err(HashError::NanOrInfinityArg);
    }
    let (key, field) = (&args[1], &args[2]);
    let old = match current(ctx, key, field)? {
        None => LongDouble::ZERO,
        Some(v) => LongDouble::parse(v).ok_or(HashError::HashNotFloat)?,
    };
    let sum = old.add(incr);
    if sum.is_inf() {
        return Err(HashError::NanOrInfinity);
    }
    let text = Bytes::from(sum.format_human());
    store(ctx, key, field, text.clone(), "hincrbyfloat");
    ctx.enc.bulk(&text);
    ctx.prop.rewrite(vec![vec![
        Bytes::from_static(b"HSET"),
        key.clone(),
        field.clone(),
        text,
    ]]);
    Ok(())
}
