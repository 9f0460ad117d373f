//! `OBJECT ENCODING | REFCOUNT | IDLETIME | FREQ | HELP` (Redis 7.0.15's `objectCommand`).
//!
//! The lookups are counted reads that do not touch the access time. A missing key gets a
//! null reply. What Tandem models differently from Redis's object system:
//! * REFCOUNT: Redis shares the objects of the integers 0..9999 (refcount `INT_MAX`) when no
//!   maxmemory is set; every other value has one reference.
//! * IDLETIME: seconds since the last touching access, from the keyspace's access clock.
//! * FREQ: the LFU counter under an LFU `maxmemory-policy` (else Redis's "not tracked"
//!   error); IDLETIME gives Redis's error under an LFU policy.

use bytes::Bytes;
use tandem_keyspace::{StrValue, Value};

use super::{arg, lookup_read, Access, CmdResult, GenericError};
use crate::data::ExecCtx;
use crate::introspect::write_help;

/// Redis's `OBJ_SHARED_INTEGERS`: integers below this are shared objects.
const SHARED_INTEGERS: i64 = 10_000;

/// The refcount Redis reports for a shared object (`OBJ_SHARED_REFCOUNT`, `INT_MAX`).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// The lines of `OBJECT HELP` (between the header and `HELP`).
const HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

/// OBJECT's lookup (Redis's `objectCommandLookup`): a read that leaves the access time
/// alone and notifies no key miss.
fn lookup<'k>(ctx: &'k mut ExecCtx<'_, '_>, key: &[u8]) -> Option<&'k Value> {
    lookup_read(
        ctx.ks,
        ctx.stats,
        ctx.db,
        key,
        ctx.now,
        Access::NoTouchNoNotify,
    )
}

/// `OBJECT ENCODING key`.
pub(super) fn encoding(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 2);
    if let Some(v) = lookup(ctx, key) {
        let name = v.encoding();
        ctx.enc.bulk(name.as_bytes());
    } else {
        ctx.enc.null();
    }
    Ok(())
}

/// `OBJECT REFCOUNT key`.
pub(super) fn refcount(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 2);
    let count = lookup(ctx, key).map(|v| match v {
        Value::String(StrValue::Int(n)) if (0..SHARED_INTEGERS).contains(n) => SHARED_REFCOUNT,
        _ => 1,
    });
    match count {
        Some(n) => ctx.enc.integer(n),
        None => ctx.enc.null(),
    }
    Ok(())
}

/// `OBJECT IDLETIME key`.
pub(super) fn idletime(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 2);
    if lookup(ctx, key).is_none() {
        ctx.enc.null();
        return Ok(());
    }
    if ctx.ks.config().lfu.is_some() {
        return Err(GenericError::LruNotSelected);
    }
    let idle = ctx.ks.idle_time(ctx.db, key, ctx.now).unwrap_or(0);
    ctx.enc.integer(i64::try_from(idle).unwrap_or(i64::MAX));
    Ok(())
}

/// `OBJECT FREQ key`.
pub(super) fn freq(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 2);
    if lookup(ctx, key).is_none() {
        ctx.enc.null();
        return Ok(());
    }
    if ctx.ks.config().lfu.is_none() {
        return Err(GenericError::LfuNotSelected);
    }
    let freq = ctx.ks.frequency(ctx.db, key, ctx.now).unwrap_or(0);
    ctx.enc.integer(i64::from(freq));
    Ok(())
}

/// `OBJECT HELP`.
pub(super) fn help(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    write_help(ctx.enc, arg(args, 0), HELP);
    Ok(())
}
