//! Counters: INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT.
//!
//! The integer commands keep the key's TTL and store an `int`-encoded value; they
//! propagate as received. INCRBYFLOAT computes in x87 80-bit precision (see
//! [`super::longdouble`]), stores the printed result as a string, and always
//! propagates as `SET key <result> KEEPTTL` so replicas never redo float math.

use bytes::Bytes;
use tandem_keyspace::{Expiry, StrValue, Value};
use tandem_resp::num::string2ll;

use super::longdouble::LongDouble;
use super::{changed, new_string, parse_i64, word, write_str, StrError};
use crate::data::{notify, ExecCtx};

/// Redis's `incrDecrCommand`.
fn incr_decr(ctx: &mut ExecCtx<'_, '_>, key: &Bytes, incr: i64) -> Result<(), StrError> {
    let add = |old: i64| old.checked_add(incr).ok_or(StrError::IncrOverflow);
    let new = match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        Some(Value::String(sv)) => {
            let old = match sv {
                StrValue::Int(i) => *i,
                StrValue::Bytes { data, .. } => string2ll(data).ok_or(StrError::NotInteger)?,
            };
            let new = add(old)?;
            *sv = StrValue::Int(new);
            new
        }
        Some(_) => return Err(StrError::WrongType),
        None => {
            let new = add(0)?;
            let v = Value::String(StrValue::Int(new));
            ctx.ks.set(ctx.db, key, v, Expiry::Clear);
            new
        }
    };
    changed(ctx, key, 1);
    ctx.notify(notify::STRING, "incrby", key);
    ctx.enc.integer(new);
    Ok(())
}

/// INCR key
pub(super) fn incr(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    incr_decr(ctx, &args[1], 1)
}

/// DECR key
pub(super) fn decr(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    incr_decr(ctx, &args[1], -1)
}

/// INCRBY key increment
pub(super) fn incrby(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let incr = parse_i64(&args[2])?;
    incr_decr(ctx, &args[1], incr)
}

/// DECRBY key decrement
pub(super) fn decrby(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let decr = parse_i64(&args[2])?;
    if decr == i64::MIN {
        return Err(StrError::DecrOverflow);
    }
    incr_decr(ctx, &args[1], -decr)
}

/// INCRBYFLOAT key increment
pub(super) fn incrbyfloat(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let key = &args[1];
    let value = match write_str(ctx.ks, ctx.db, key, ctx.now)? {
        None => None,
        Some(StrValue::Int(i)) => Some(LongDouble::from_i64(*i)),
        Some(StrValue::Bytes { data, .. }) => {
            Some(LongDouble::parse(data).ok_or(StrError::NotFloat)?)
        }
    };
    let exists = value.is_some();
    let incr = LongDouble::parse(&args[2]).ok_or(StrError::NotFloat)?;
    let sum = value.unwrap_or(LongDouble::ZERO).add(incr);
    if sum.is_inf() {
        return Err(StrError::NanOrInfinity);
    }
    let text = Bytes::from(sum.format_human());
    let new = new_string(text.clone());
    match write_str(ctx.ks, ctx.db, key, ctx.now)? {
        Some(sv) if exists => *sv = new,
        _ => ctx.ks.set(ctx.db, key, Value::String(new), Expiry::Clear),
    }
    changed(ctx, key, 1);
    ctx.notify(notify::STRING, "incrbyfloat", key);
    ctx.enc.bulk(&text);
    ctx.prop
        .rewrite(vec![vec![word("SET"), key.clone(), text, word("KEEPTTL")]]);
    Ok(())
}
