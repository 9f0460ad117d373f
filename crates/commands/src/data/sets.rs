//! Set commands, following Redis 7.0.15's `t_set.c` step by step: the order of argument
//! parsing, lookups and type checks is visible to clients (which error wins, whether a
//! missing key answers before a bad count is noticed, which lookups count as keyspace hits).
//!
//! * this module: SADD, SREM, SMOVE, SISMEMBER, SMISMEMBER, SCARD, and the helpers.
//! * [`algebra`]: SMEMBERS (Redis runs it as a one-key SINTER), SINTER, SINTERCARD,
//!   SINTERSTORE, SUNION, SUNIONSTORE, SDIFF, SDIFFSTORE.
//! * [`random`]: SPOP and SRANDMEMBER, with and without a count.
//!
//! Rules shared by the family: `ctx.dirty` grows as Redis's `server.dirty` (one per member
//! added, removed or popped; one per stored or deleted destination); every change is
//! reported with `touch_modified`; a set that becomes empty is deleted. Result sets are
//! built as Redis builds them (an `intset` first, converted on the first non-integer or past
//! `set-max-intset-entries`), so their encoding and, for integer results, their reply order
//! (ascending) are Redis's. Writes propagate as received, except SPOP: one `SREM` per popped
//! member, or `DEL` when the whole set was popped.

mod algebra;
mod random;

#[cfg(test)]
mod tests;

use crate::data::run;
use bytes::Bytes;
use tandem_keyspace::value::Member;
use tandem_keyspace::{Expiry, FreeMode, SetValue, Value};
use tandem_resp::num::string2ll;

use super::{notify, ExecCtx, Handler};

/// The error replies of the set commands, spelled as Redis 7.0.15 spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is out of range, must be positive")]
    NotPositive,
    #[error(
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    )]
    CountRange,
    #[error("ERR numkeys should be greater than 0")]
    Numkeys,
    #[error("ERR Number of keys can't be greater than number of args")]
    TooManyKeys,
    #[error("ERR LIMIT can't be negative")]
    LimitNegative,
}

/// A handler body: replies itself on success, or returns the error to reply.
/// The handler of a set command, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "sadd" => |c, a| run(c, a, sadd),
        "srem" => |c, a| run(c, a, srem),
        "smove" => |c, a| run(c, a, smove),
        "sismember" => |c, a| run(c, a, sismember),
        "smismember" => |c, a| run(c, a, smismember),
        "scard" => |c, a| run(c, a, scard),
        "smembers" => |c, a| run(c, a, algebra::sinter),
        "sinter" => |c, a| run(c, a, algebra::sinter),
        "sintercard" => |c, a| run(c, a, algebra::sintercard),
        "sinterstore" => |c, a| run(c, a, algebra::sinterstore),
        "sunion" => |c, a| run(c, a, algebra::sunion),
        "sunionstore" => |c, a| run(c, a, algebra::sunionstore),
        "sdiff" => |c, a| run(c, a, algebra::sdiff),
        "sdiffstore" => |c, a| run(c, a, algebra::sdiffstore),
        "spop" => |c, a| run(c, a, random::spop),
        "srandmember" => |c, a| run(c, a, random::srandmember),
        _ => return None,
    };
    Some(h)
}

/// Names of the commands this module implements (for the registry).
pub const COMMANDS: &[&str] = &[
    "sadd",
    "scard",
    "sdiff",
    "sdiffstore",
    "sinter",
    "sintercard",
    "sinterstore",
    "sismember",
    "smembers",
    "smismember",
    "smove",
    "spop",
    "srandmember",
    "srem",
    "sunion",
    "sunionstore",
];

// ---------------------------------------------------------------------------
// Helpers.

/// `getLongFromObjectOrReply`: `msg` replaces the default error text when given.
fn parse_long(arg: &[u8], err: SetError) -> Result<i64, SetError> {
    string2ll(arg).ok_or(err)
}

/// A key or member to store: copied, so that it never pins the connection's read buffer.
fn own(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

/// Writes one member as a bulk reply.
fn reply_member(ctx: &mut ExecCtx<'_, '_>, m: Member<'_>) {
    match m {
        Member::Int(n) => ctx.enc.bulk_integer(n),
        Member::Str(b) => ctx.enc.bulk(b),
    }
}

/// Records one change to `key`: `server.dirty += n` and the WATCH signal.
fn changed(ctx: &mut ExecCtx<'_, '_>, key: &[u8], n: u64) {
    ctx.dirty += n;
    ctx.ks.touch_modified(ctx.db, key);
}

/// Redis's `dbDelete`: synchronous or lazy as `lazyfree-lazy-server-del` says.
fn db_delete(ctx: &mut ExecCtx<'_, '_>, key: &[u8]) -> bool {
    let mode = if ctx.ks.config().lazyfree_lazy_server_del {
        FreeMode::Async
    } else {
        FreeMode::Sync
    };
    ctx.ks.delete(ctx.db, key, ctx.now, mode)
}

/// Redis's `setKey` with a fresh value: overwrites whatever `key` held and drops its TTL.
fn set_key(ctx: &mut ExecCtx<'_, '_>, key: &[u8], value: Value) {
    ctx.ks.set(ctx.db, key, value, Expiry::Clear);
}

/// `lookupKeyRead` + `checkType(OBJ_SET)` on a key whose value is only read once: counts a
/// keyspace hit or miss, runs `f` on the set if there is one.
fn with_read_set<R>(
    ctx: &mut ExecCtx<'_, '_>,
    key: &[u8],
    f: impl FnOnce(&mut ExecCtx<'_, '_>, Option<&SetValue>) -> R,
) -> Result<R, SetError> {
    let v = ctx.ks.get_shared(ctx.db, key, ctx.now);
    match v.as_deref() {
        None => {
            ctx.stats.keyspace_misses += 1;
            ctx.ks.note_miss(ctx.db, key);
            Ok(f(ctx, None))
        }
        Some(Value::Set(s)) => {
            ctx.stats.keyspace_hits += 1;
            Ok(f(ctx, Some(s)))
        }
        Some(_) => {
            ctx.stats.keyspace_hits += 1;
            Err(SetError::WrongType)
        }
    }
}

/// What a write lookup (`lookupKeyWrite` + `checkType`) found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Found {
    Absent,
    Set,
}

/// `lookupKeyWrite` + `checkType(OBJ_SET)`, without keeping the borrow.
fn write_lookup(ctx: &mut ExecCtx<'_, '_>, key: &[u8]) -> Result<Found, SetError> {
    match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        None => Ok(Found::Absent),
        Some(Value::Set(_)) => Ok(Found::Set),
        Some(_) => Err(SetError::WrongType),
    }
}

/// The set at `key` for modification (after [`write_lookup`] said it is one).
fn set_mut<'k>(ctx: &'k mut ExecCtx<'_, '_>, key: &[u8]) -> Option<&'k mut SetValue> {
    match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Commands.

/// SADD key member [member ...]
fn sadd(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    let key = &args[1];
    let limits = ctx.settings.limits;
    let mut added = 0u64;
    match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        Some(Value::Set(s)) => {
            for m in &args[2..] {
                if s.insert_slice(m, &limits) {
                    added += 1;
                }
            }
        }
        Some(_) => return Err(SetError::WrongType),
        None => {
            let mut s = SetValue::new_for(&args[2]);
            for m in &args[2..] {
                if s.insert_slice(m, &limits) {
                    added += 1;
                }
            }
            set_key(ctx, key, Value::Set(s));
        }
    }
    if added > 0 {
        changed(ctx, key, added);
        ctx.notify(notify::SET, "sadd", key);
    }
    ctx.enc.integer(added as i64);
    Ok(())
}

/// SREM key member [member ...]
fn srem(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    let key = &args[1];
    let mut deleted = 0u64;
    let mut emptied = false;
    match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        None => {
            ctx.enc.integer(0);
            return Ok(());
        }
        Some(Value::Set(s)) => {
            for m in &args[2..] {
                if s.remove(m) {
                    deleted += 1;
                    if s.is_empty() {
                        emptied = true;
                        break;
                    }
                }
            }
        }
        Some(_) => return Err(SetError::WrongType),
    }
    if emptied {
        db_delete(ctx, key);
    }
    if deleted > 0 {
        changed(ctx, key, deleted);
        ctx.notify(notify::SET, "srem", key);
        if emptied {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.enc.integer(deleted as i64);
    Ok(())
}

/// SMOVE source destination member
fn smove(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let src_found = write_lookup(ctx, src);
    let dst_found = write_lookup(ctx, dst);
    // A missing source answers 0 before any type check.
    if let Ok(Found::Absent) = src_found {
        ctx.enc.integer(0);
        return Ok(());
    }
    src_found?;
    let dst_found = dst_found?;
    if src == dst {
        let is = set_mut(ctx, src).is_some_and(|s| s.contains(member));
        ctx.enc.integer(i64::from(is));
        return Ok(());
    }
    let (removed, emptied) = match set_mut(ctx, src) {
        Some(s) => (s.remove(member), s.is_empty()),
        None => (false, false),
    };
    if !removed {
        ctx.enc.integer(0);
        return Ok(());
    }
    if emptied {
        db_delete(ctx, src);
    }
    changed(ctx, src, 1);
    ctx.notify(notify::SET, "srem", src);
    if emptied {
        ctx.notify(notify::GENERIC, "del", src);
    }
    // Created after the source's events, as Redis's `dbAdd` (its `new` event) comes then.
    if dst_found == Found::Absent {
        set_key(ctx, dst, Value::Set(SetValue::new_for(member)));
    }
    let limits = ctx.settings.limits;
    let added = set_mut(ctx, dst).is_some_and(|s| s.insert_slice(member, &limits));
    if added {
        changed(ctx, dst, 1);
        ctx.notify(notify::SET, "sadd", dst);
    }
    ctx.enc.integer(1);
    Ok(())
}

/// SISMEMBER key member
fn sismember(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    let member = &args[2];
    with_read_set(ctx, &args[1], |ctx, s| {
        let is = s.is_some_and(|s| s.contains(member));
        ctx.enc.integer(i64::from(is));
    })
}

/// SMISMEMBER key member [member ...]
fn smismember(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    with_read_set(ctx, &args[1], |ctx, s| {
        ctx.enc.array_len(args.len() - 2);
        for m in &args[2..] {
            let is = s.is_some_and(|s| s.contains(m));
            ctx.enc.integer(i64::from(is));
        }
    })
}

/// SCARD key
fn scard(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    with_read_set(ctx, &args[1], |ctx, s| {
        ctx.enc.integer(s.map_or(0, |s| s.len() as i64));
    })
}
