//! Hash reads: HGET, HMGET, HGETALL, HKEYS, HVALS, HLEN, HSTRLEN, HEXISTS.

use bytes::Bytes;

use super::{read_hash, HashError};
use crate::data::ExecCtx;

/// HGET key field
pub(super) fn hget(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    let h = read_hash(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?;
    match h.and_then(|h| h.get(&args[2])) {
        Some(v) => ctx.enc.bulk(v),
        None => ctx.enc.null(),
    }
    Ok(())
}

/// HMGET key field [field ...]
pub(super) fn hmget(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    let h = read_hash(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?;
    let fields = &args[2..];
    ctx.enc.array_len(fields.len());
    for f in fields {
        match h.and_then(|h| h.get(f)) {
            Some(v) => ctx.enc.bulk(v),
            None => ctx.enc.null(),
        }
    }
    Ok(())
}

/// What `genericHgetallCommand` replies with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Fields,
    Values,
    Both,
}

fn getall(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], parts: Parts) -> Result<(), HashError> {
    let h = read_hash(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?;
    let len = h.map_or(0, |h| h.len());
    if parts == Parts::Both {
        ctx.enc.map_len(len);
    } else {
        ctx.enc.array_len(len);
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            if parts != Parts::Values {
                ctx.enc.bulk(f);
            }
            if parts != Parts::Fields {
                ctx.enc.bulk(v);
            }
        }
    }
    Ok(())
}

/// HGETALL key (a map in RESP3)
pub(super) fn hgetall(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    getall(ctx, args, Parts::Both)
}

/// HKEYS key
pub(super) fn hkeys(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    getall(ctx, args, Parts::Fields)
}

/// HVALS key
pub(super) fn hvals(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    getall(ctx, args, Parts::Values)
}

/// HLEN key
pub(super) fn hlen(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    let h = read_hash(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?;
    ctx.enc.integer(h.map_or(0, |h| h.len()) as i64);
    Ok(())
}

/// HSTRLEN key field
pub(super) fn hstrlen(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    let h = read_hash(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?;
    let len = h.and_then(|h| h.get(&args[2])).map_or(0, |v| v.len());
    ctx.enc.integer(len as i64);
    Ok(())
}

/// HEXISTS key field
pub(super) fn hexists(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    let h = read_hash(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?;
    let found = h.is_some_and(|h| h.contains(&args[2]));
    ctx.enc.integer(i64::from(found));
    Ok(())
}
