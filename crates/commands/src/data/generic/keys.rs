//! Key-space commands of Redis 7.0.15's `db.c` and `expire.c` (TOUCH): deleting, testing,
//! listing, renaming, copying and moving keys, swapping and flushing databases.

use bytes::Bytes;
use tandem_keyspace::{DbTarget, Expiry, FreeMode};

use super::{
    arg, cstr, db_index, is, lookup_read, parse_i32, parse_i64, Access, CmdResult, GenericError,
};
use crate::data::{notify, ExecCtx};
use crate::glob::string_match;

fn free_mode(lazy: bool) -> FreeMode {
    if lazy {
        FreeMode::Async
    } else {
        FreeMode::Sync
    }
}

fn expiry_of(at: Option<i64>) -> Expiry {
    at.map_or(Expiry::Clear, Expiry::At)
}

/// `DEL key [key ...]` (lazy when `lazyfree-lazy-user-del yes`).
pub(super) fn del(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let lazy = ctx.settings.lazyfree_lazy_user_del;
    delete_keys(ctx, args, lazy)
}

/// `UNLINK key [key ...]`: always lazy.
pub(super) fn unlink(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    delete_keys(ctx, args, true)
}

fn delete_keys(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], lazy: bool) -> CmdResult {
    let mode = free_mode(lazy);
    let mut deleted = 0;
    for key in args.iter().skip(1) {
        if ctx.ks.delete(ctx.db, key, ctx.now, mode) {
            ctx.ks.touch_modified(ctx.db, key);
            ctx.dirty += 1;
            ctx.notify(notify::GENERIC, "del", key);
            deleted += 1;
        }
    }
    ctx.enc.integer(deleted);
    Ok(())
}

/// `EXISTS key [key ...]`: how many of the arguments exist (repeats count again).
pub(super) fn exists(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    count_existing(ctx, args, Access::NoTouch)
}

/// `TOUCH key [key ...]`: like EXISTS, but the lookups update the access time.
pub(super) fn touch(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    count_existing(ctx, args, Access::Touch)
}

fn count_existing(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], access: Access) -> CmdResult {
    let mut n = 0;
    for key in args.iter().skip(1) {
        if lookup_read(ctx.ks, ctx.stats, ctx.db, key, ctx.now, access).is_some() {
            n += 1;
        }
    }
    ctx.enc.integer(n);
    Ok(())
}

/// `TYPE key`.
pub(super) fn type_cmd(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let name = lookup_read(
        ctx.ks,
        ctx.stats,
        ctx.db,
        arg(args, 1),
        ctx.now,
        Access::NoTouch,
    )
    .map_or("none", |v| v.type_name());
    ctx.enc.simple(name.as_bytes());
    Ok(())
}

/// `KEYS pattern`.
pub(super) fn keys(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let pattern = arg(args, 1);
    let all = pattern == b"*";
    let found = ctx.ks.keys(ctx.db, ctx.now, &|k: &[u8]| {
        all || string_match(pattern, k, false)
    });
    ctx.enc.array_len(found.len());
    for k in &found {
        ctx.enc.bulk(k);
    }
    Ok(())
}

/// C's `isspace` in the "C" locale.
fn c_isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A SCAN cursor as Redis's `parseScanCursorOrReply` reads it: C `strtoul` in base 10
/// (an optional sign, a negative value wraps around, the empty string is 0), refusing a
/// leading space, trailing characters and overflow.
pub(super) fn parse_cursor(raw: &[u8]) -> Option<u64> {
    let s = cstr(raw);
    let Some(&first) = s.first() else {
        return Some(0);
    };
    if c_isspace(first) {
        return None;
    }
    let (neg, digits) = match first {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
pub(super) fn scan(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(arg(args, 1)).ok_or(GenericError::InvalidCursor)?;
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i;
        let opt = arg(args, i);
        if is(opt, "count") && left >= 2 {
            count = parse_i64(arg(args, i + 1)).ok_or(GenericError::NotInteger)?;
            if count < 1 {
                return Err(GenericError::Syntax);
            }
        } else if is(opt, "match") && left >= 2 {
            let p = arg(args, i + 1);
            pattern = if p == b"*" { None } else { Some(p) };
        } else if is(opt, "type") && left >= 2 {
            type_name = Some(cstr(arg(args, i + 1)));
        } else {
            return Err(GenericError::Syntax);
        }
        i += 2;
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let (next, found) = ctx.ks.scan(ctx.db, cursor, count, ctx.now);
    let mut kept = Vec::with_capacity(found.len());
    for key in found {
        if let Some(p) = pattern {
            if !string_match(p, &key, false) {
                continue;
            }
        }
        if let Some(wanted) = type_name {
            // Redis looks the key up for reading here (a counted hit or miss).
            let actual = lookup_read(ctx.ks, ctx.stats, ctx.db, &key, ctx.now, Access::NoTouch)
                .map_or("none", |v| v.type_name());
            if !wanted.eq_ignore_ascii_case(actual.as_bytes()) {
                continue;
            }
            if actual == "none" {
                // The key is gone already, so Redis's expiry check does not filter it.
                kept.push(key);
                continue;
            }
        }
        if !ctx.ks.exists(ctx.db, &key, ctx.now) {
            continue;
        }
        kept.push(key);
    }
    ctx.enc.array_len(2);
    // Redis replies with the cursor as a signed long long.
    ctx.enc.bulk_integer(i64::from_ne_bytes(next.to_ne_bytes()));
    ctx.enc.array_len(kept.len());
    for k in &kept {
        ctx.enc.bulk(k);
    }
    Ok(())
}

/// `RANDOMKEY`.
pub(super) fn randomkey(ctx: &mut ExecCtx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    match ctx.ks.random_key(ctx.db, ctx.now) {
        Some(k) => ctx.enc.bulk(&k),
        None => ctx.enc.null(),
    }
    Ok(())
}

/// `DBSIZE`.
pub(super) fn dbsize(ctx: &mut ExecCtx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    let n = ctx.ks.dbsize(ctx.db);
    ctx.enc.integer(i64::try_from(n).unwrap_or(i64::MAX));
    Ok(())
}

/// `RENAME key newkey`.
pub(super) fn rename(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, false)
}

/// `RENAMENX key newkey`.
pub(super) fn renamenx(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, true)
}

fn rename_generic(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], nx: bool) -> CmdResult {
    let (Some(src), Some(dst)) = (args.get(1), args.get(2)) else {
        return Err(GenericError::Syntax);
    };
    let reply = |ctx: &mut ExecCtx<'_, '_>, done: bool| {
        if nx {
            ctx.enc.integer(i64::from(done));
        } else {
            ctx.enc.ok();
        }
    };
    if !ctx.ks.exists(ctx.db, src, ctx.now) {
        return Err(GenericError::NoSuchKey);
    }
    if src == dst {
        reply(ctx, false);
        return Ok(());
    }
    // Looked up even when it will be overwritten: an expired destination is removed first.
    let dst_exists = ctx.ks.exists(ctx.db, dst, ctx.now);
    if dst_exists && nx {
        reply(ctx, false);
        return Ok(());
    }
    let (value, expire) = ctx
        .ks
        .take(ctx.db, src, ctx.now)
        .ok_or(GenericError::NoSuchKey)?;
    if dst_exists {
        // Redis deletes the old destination and adds the key anew (its `new` event).
        let lazy = ctx.ks.config().lazyfree_lazy_server_del;
        ctx.ks.delete(ctx.db, dst, ctx.now, free_mode(lazy));
    }
    ctx.ks.set(ctx.db, dst, value, expiry_of(expire));
    ctx.ks.touch_modified(ctx.db, src);
    ctx.ks.touch_modified(ctx.db, dst);
    ctx.dirty += 1;
    ctx.notify(notify::GENERIC, "rename_from", src);
    ctx.notify(notify::GENERIC, "rename_to", dst);
    reply(ctx, true);
    Ok(())
}

/// `MOVE key db`.
pub(super) fn move_cmd(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let Some(key) = args.get(1) else {
        return Err(GenericError::Syntax);
    };
    let id = parse_i32(arg(args, 2), None)?;
    let dst = db_index(ctx.ks, id).ok_or(GenericError::DbOutOfRange)?;
    if dst == ctx.db {
        return Err(GenericError::SameObject);
    }
    if !ctx.ks.exists(ctx.db, key, ctx.now) || ctx.ks.exists(dst, key, ctx.now) {
        ctx.enc.integer(0);
        return Ok(());
    }
    let Some((value, expire)) = ctx.ks.take(ctx.db, key, ctx.now) else {
        ctx.enc.integer(0);
        return Ok(());
    };
    ctx.ks.set(dst, key, value, expiry_of(expire));
    ctx.ks.touch_modified(ctx.db, key);
    ctx.ks.touch_modified(dst, key);
    ctx.dirty += 1;
    ctx.notify(notify::GENERIC, "move_from", key);
    ctx.notify_in(dst, notify::GENERIC, "move_to", key);
    ctx.enc.integer(1);
    Ok(())
}

/// `COPY source destination [DB destination-db] [REPLACE]`.
pub(super) fn copy(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (Some(src), Some(dst)) = (args.get(1), args.get(2)) else {
        return Err(GenericError::Syntax);
    };
    let mut replace = false;
    let mut dst_db = ctx.db;
    let mut j = 3;
    while j < args.len() {
        let opt = arg(args, j);
        if is(opt, "replace") {
            replace = true;
        } else if is(opt, "db") && j + 1 < args.len() {
            let id = parse_i32(arg(args, j + 1), None)?;
            dst_db = db_index(ctx.ks, id).ok_or(GenericError::DbOutOfRange)?;
            j += 1;
        } else {
            return Err(GenericError::Syntax);
        }
        j += 1;
    }
    if dst_db == ctx.db && src == dst {
        return Err(GenericError::SameObject);
    }
    let Some(value) = lookup_read(ctx.ks, ctx.stats, ctx.db, src, ctx.now, Access::Touch).cloned()
    else {
        ctx.enc.integer(0);
        return Ok(());
    };
    let expire = ctx.ks.expire_at(ctx.db, src);
    let dst_exists = ctx.ks.exists(dst_db, dst, ctx.now);
    if dst_exists && !replace {
        ctx.enc.integer(0);
        return Ok(());
    }
    if dst_exists {
        // REPLACE deletes the old destination and adds the copy anew (its `new` event).
        let lazy = ctx.ks.config().lazyfree_lazy_server_del;
        ctx.ks.delete(dst_db, dst, ctx.now, free_mode(lazy));
    }
    ctx.ks.set(dst_db, dst, value, expiry_of(expire));
    ctx.ks.touch_modified(dst_db, dst);
    ctx.dirty += 1;
    ctx.notify_in(dst_db, notify::GENERIC, "copy_to", dst);
    ctx.enc.integer(1);
    Ok(())
}

/// `SWAPDB index1 index2`.
pub(super) fn swapdb(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let a = parse_i32(arg(args, 1), Some(GenericError::InvalidFirstDb))?;
    let b = parse_i32(arg(args, 2), Some(GenericError::InvalidSecondDb))?;
    let (Some(a), Some(b)) = (db_index(ctx.ks, a), db_index(ctx.ks, b)) else {
        return Err(GenericError::DbOutOfRange);
    };
    ctx.ks
        .swap_db(a, b)
        .map_err(|_| GenericError::DbOutOfRange)?;
    ctx.dirty += 1;
    ctx.enc.ok();
    Ok(())
}

/// The free mode of FLUSHDB / FLUSHALL: `SYNC`, `ASYNC`, or `lazyfree-lazy-user-flush`.
fn flush_mode(ctx: &ExecCtx<'_, '_>, args: &[Bytes]) -> Result<FreeMode, GenericError> {
    match args {
        [_] => Ok(free_mode(ctx.settings.lazyfree_lazy_user_flush)),
        [_, opt] if is(opt, "sync") => Ok(FreeMode::Sync),
        [_, opt] if is(opt, "async") => Ok(FreeMode::Async),
        _ => Err(GenericError::Syntax),
    }
}

fn flush(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], target: DbTarget) -> CmdResult {
    let mode = flush_mode(ctx, args)?;
    let removed = ctx
        .ks
        .empty(target, mode)
        .map_err(|_| GenericError::DbOutOfRange)?;
    ctx.dirty += u64::try_from(removed).unwrap_or(u64::MAX);
    // Propagated even when the databases were already empty (Redis forces it).
    ctx.prop.rewrite(vec![args.to_vec()]);
    ctx.enc.ok();
    Ok(())
}

/// `FLUSHDB [ASYNC|SYNC]`.
pub(super) fn flushdb(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db;
    flush(ctx, args, DbTarget::One(db))
}

/// `FLUSHALL [ASYNC|SYNC]`.
pub(super) fn flushall(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    flush(ctx, args, DbTarget::All)
}
