//! SET and its variants, GET and its variants, MGET, MSET, MSETNX.
//!
//! SET, SETEX and PSETEX share one path (Redis's `setGenericCommand`); GET and
//! GETEX share their option parser with SET (`parseExtendedStringArgumentsOrReply`),
//! including its quirks: an option repeated is accepted, a conflicting one is a
//! syntax error, `EX` without a value is a syntax error.
//!
//! Propagation (7.0.15): any SET with a TTL becomes `SET k v PXAT <abs-ms>` (NX, XX,
//! GET and KEEPTTL dropped); `SET ... GET` without TTL loses its GET words; GETSET
//! becomes `SET k v`; GETDEL becomes `DEL`/`UNLINK`; GETEX becomes `PEXPIREAT`,
//! `PERSIST`, or `DEL`/`UNLINK` when given a timestamp already past.

use bytes::Bytes;
use tandem_keyspace::{Expiry, FreeMode, StrValue, Value};

use super::{
    changed, encode_arg, is_opt, parse_i64, read_any, read_str, reply_str, word, StrError,
};
use crate::data::{notify, ExecCtx};

const NX: u32 = 1 << 0;
const XX: u32 = 1 << 1;
const EX: u32 = 1 << 2;
const PX: u32 = 1 << 3;
const KEEPTTL: u32 = 1 << 4;
const GET: u32 = 1 << 5;
const EXAT: u32 = 1 << 6;
const PXAT: u32 = 1 << 7;
const PERSIST: u32 = 1 << 8;

/// Which command's options are being parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Set,
}

/// Parsed extended options: flags, and the expire argument with its unit.
struct ExtOpts<'a> {
    flags: u32,
    expire: Option<&'a Bytes>,
    seconds: bool,
}

/// Redis's `parseExtendedStringArgumentsOrReply`, condition for condition.
fn parse_ext(args: &[Bytes], kind: Kind) -> Result<ExtOpts<'_>, StrError> {
    let mut o = ExtOpts {
        flags: 0,
        expire: None,
        seconds: true,
    };
    let set = kind == Kind::Set;
    let mut j = if set { 3 } else { 2 };
    while j < args.len() {
        let opt = &args[j];
        let next = args.get(j + 1);
        let f = o.flags;
        let no_ttl = f & (EX | PX | EXAT | PXAT) == 0;
        if is_opt(opt, "nx") && f & XX == 0 && set {
            o.flags |= NX;
        } else if is_opt(opt, "xx") && f & NX == 0 && set {
            o.flags |= XX;
        } else if is_opt(opt, "get") && set {
            o.flags |= GET;
        } else if is_opt(opt, "keepttl") && f & PERSIST == 0 && no_ttl && set {
            o.flags |= KEEPTTL;
        } else if is_opt(opt, "persist") && !set && no_ttl && f & KEEPTTL == 0 {
            o.flags |= PERSIST;
        } else if let (true, Some(n)) = (is_opt(opt, "ex"), next) {
            if f & (KEEPTTL | PERSIST | EXAT | PX | PXAT) != 0 {
                return Err(StrError::Syntax);
            }
            o.flags |= EX;
            o.expire = Some(n);
            j += 1;
        } else if let (true, Some(n)) = (is_opt(opt, "px"), next) {
            if f & (KEEPTTL | PERSIST | EX | EXAT | PXAT) != 0 {
                return Err(StrError::Syntax);
            }
            o.flags |= PX;
            o.seconds = false;
            o.expire = Some(n);
            j += 1;
        } else if let (true, Some(n)) = (is_opt(opt, "exat"), next) {
            if f & (KEEPTTL | PERSIST | EX | PX | PXAT) != 0 {
                return Err(StrError::Syntax);
            }
            o.flags |= EXAT;
            o.expire = Some(n);
            j += 1;
        } else if let (true, Some(n)) = (is_opt(opt, "pxat"), next) {
            if f & (KEEPTTL | PERSIST | EX | EXAT | PX) != 0 {
                return Err(StrError::Syntax);
            }
            o.flags |= PXAT;
            o.seconds = false;
            o.expire = Some(n);
            j += 1;
        } else {
            return Err(StrError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// `getExpireMillisecondsOrReply`: the absolute expire time in milliseconds.
fn expire_ms(
    ctx: &ExecCtx<'_, '_>,
    arg: &[u8],
    flags: u32,
    seconds: bool,
    cmd: &'static str,
) -> Result<i64, StrError> {
    let mut ms = parse_i64(arg)?;
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(StrError::ExpireTime(cmd));
    }
    if seconds {
        ms *= 1000;
    }
    if flags & (PX | EX) != 0 {
        ms = ms.wrapping_add(ctx.clock);
    }
    if ms <= 0 {
        return Err(StrError::ExpireTime(cmd));
    }
    Ok(ms)
}

/// What `setGenericCommand` answers when it does (or does not) set.
struct Replies {
    ok: fn(&mut ExecCtx<'_, '_>),
    abort: fn(&mut ExecCtx<'_, '_>),
}

const SET_REPLIES: Replies = Replies {
    ok: |c| c.enc.ok(),
    abort: |c| c.enc.null(),
};

/// Redis's `setGenericCommand`.
#[allow(clippy::too_many_arguments)]
fn set_generic(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    flags: u32,
    key: &Bytes,
    val: &Bytes,
    expire: Option<&Bytes>,
    seconds: bool,
    cmd: &'static str,
    replies: Replies,
) -> Result<(), StrError> {
    let ms = match expire {
        Some(e) => Some(expire_ms(ctx, e, flags, seconds, cmd)?),
        None => None,
    };
    if flags & GET != 0 {
        match read_str(ctx, key)? {
            None => ctx.enc.null(),
            Some(old) => reply_str(ctx, &old),
        }
    }
    // Only NX and XX need to know whether the key exists (one hash lookup less).
    let found = flags & (NX | XX) != 0 && ctx.ks.exists(ctx.db, key, ctx.now);
    if (flags & NX != 0 && found) || (flags & XX != 0 && !found) {
        if flags & GET == 0 {
            (replies.abort)(ctx);
        }
        return Ok(());
    }
    let expiry = match ms {
        Some(at) => Expiry::At(at),
        None if flags & KEEPTTL != 0 => Expiry::Keep,
        None => Expiry::Clear,
    };
    ctx.ks.set(
        ctx.db,
        key,
        tandem_keyspace::Value::String(encode_arg(val)),
        expiry,
    );
    changed(ctx, key, 1);
    ctx.notify(notify::STRING, "set", key);
    if ms.is_some() {
        ctx.notify(notify::GENERIC, "expire", key);
    }
    if let Some(at) = ms {
        ctx.prop.rewrite(vec![vec![
            word("SET"),
            key.clone(),
            val.clone(),
            word("PXAT"),
            Bytes::from(at.to_string()),
        ]]);
    }
    if flags & GET == 0 {
        (replies.ok)(ctx);
    } else if ms.is_none() {
        let kept: Vec<Bytes> = args
            .iter()
            .enumerate()
            .filter(|(j, a)| *j < 3 || !is_opt(a, "get"))
            .map(|(_, a)| a.clone())
            .collect();
        ctx.prop.rewrite(vec![kept]);
    }
    Ok(())
}

/// SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT t|KEEPTTL]
pub(super) fn set(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let o = parse_ext(args, Kind::Set)?;
    set_generic(
        ctx,
        args,
        o.flags,
        &args[1],
        &args[2],
        o.expire,
        o.seconds,
        "set",
        SET_REPLIES,
    )
}

/// SETNX key value
pub(super) fn setnx(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    set_generic(
        ctx,
        args,
        NX,
        &args[1],
        &args[2],
        None,
        true,
        "setnx",
        Replies {
            ok: |c| c.enc.integer(1),
            abort: |c| c.enc.integer(0),
        },
    )
}

/// SETEX key seconds value
pub(super) fn setex(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    set_generic(
        ctx,
        args,
        EX,
        &args[1],
        &args[3],
        Some(&args[2]),
        true,
        "setex",
        SET_REPLIES,
    )
}

/// PSETEX key milliseconds value
pub(super) fn psetex(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    set_generic(
        ctx,
        args,
        PX,
        &args[1],
        &args[3],
        Some(&args[2]),
        false,
        "psetex",
        SET_REPLIES,
    )
}

/// GET key
///
/// [`read_str`] inlined so the reply is written from the stored value in place (no clone
/// of the value's `Bytes`, whose reference count is two atomic operations).
pub(super) fn get(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    match ctx.ks.get(ctx.db, &args[1], ctx.now) {
        None => {
            ctx.stats.keyspace_misses += 1;
            ctx.ks.note_miss(ctx.db, &args[1]);
            ctx.enc.null();
        }
        Some(v) => {
            ctx.stats.keyspace_hits += 1;
            match v {
                Value::String(StrValue::Int(i)) => ctx.enc.bulk_integer(*i),
                Value::String(StrValue::Bytes { data, .. }) => ctx.enc.bulk(data),
                _ => return Err(StrError::WrongType),
            }
        }
    }
    Ok(())
}

/// GETEX key [EX|PX|EXAT|PXAT t|PERSIST]
pub(super) fn getex(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let o = parse_ext(args, Kind::Get)?;
    let key = &args[1];
    let Some(v) = read_str(ctx, key)? else {
        ctx.enc.null();
        return Ok(());
    };
    let ms = match o.expire {
        Some(e) => Some(expire_ms(ctx, e, o.flags, o.seconds, "getex")?),
        None => None,
    };
    reply_str(ctx, &v);
    match ms {
        Some(at)
            if o.flags & (PXAT | EXAT) != 0 && at <= ctx.clock && !ctx.settings.replica_mode =>
        {
            let lazy = ctx.settings.lazyfree_lazy_expire;
            let mode = if lazy {
                FreeMode::Async
            } else {
                FreeMode::Sync
            };
            ctx.ks.delete(ctx.db, key, ctx.now, mode);
            let cmd = if lazy { "UNLINK" } else { "DEL" };
            ctx.prop.rewrite(vec![vec![word(cmd), key.clone()]]);
            changed(ctx, key, 1);
            ctx.notify(notify::GENERIC, "del", key);
        }
        Some(at) => {
            ctx.ks.set_expire(ctx.db, key, at);
            ctx.notify(notify::GENERIC, "expire", key);
            ctx.prop.rewrite(vec![vec![
                word("PEXPIREAT"),
                key.clone(),
                Bytes::from(at.to_string()),
            ]]);
            changed(ctx, key, 1);
        }
        None if o.flags & PERSIST != 0 && ctx.ks.persist(ctx.db, key) => {
            ctx.prop.rewrite(vec![vec![word("PERSIST"), key.clone()]]);
            changed(ctx, key, 1);
            ctx.notify(notify::GENERIC, "persist", key);
        }
        None => {}
    }
    Ok(())
}

/// GETDEL key
pub(super) fn getdel(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let key = &args[1];
    match read_str(ctx, key)? {
        None => ctx.enc.null(),
        Some(v) => reply_str(ctx, &v),
    }
    let lazy = ctx.settings.lazyfree_lazy_user_del;
    let mode = if lazy {
        FreeMode::Async
    } else {
        FreeMode::Sync
    };
    if ctx.ks.delete(ctx.db, key, ctx.now, mode) {
        let cmd = if lazy { "UNLINK" } else { "DEL" };
        ctx.prop.rewrite(vec![vec![word(cmd), key.clone()]]);
        changed(ctx, key, 1);
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(())
}

/// GETSET key value
pub(super) fn getset(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let key = &args[1];
    match read_str(ctx, key)? {
        None => ctx.enc.null(),
        Some(v) => reply_str(ctx, &v),
    }
    ctx.ks.set(
        ctx.db,
        key,
        tandem_keyspace::Value::String(encode_arg(&args[2])),
        Expiry::Clear,
    );
    changed(ctx, key, 1);
    ctx.notify(notify::STRING, "set", key);
    let mut argv = args.to_vec();
    argv[0] = word("SET");
    ctx.prop.rewrite(vec![argv]);
    Ok(())
}

/// MGET key [key ...]: a key of another type reads as nil.
pub(super) fn mget(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    ctx.enc.array_len(args.len() - 1);
    for key in &args[1..] {
        match read_any(ctx, key) {
            Some(Some(v)) => reply_str(ctx, &v),
            _ => ctx.enc.null(),
        }
    }
    Ok(())
}

fn mset_generic(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    nx: bool,
    cmd: &'static str,
) -> Result<(), StrError> {
    if args.len() & 1 == 0 {
        return Err(StrError::Arity(cmd));
    }
    if nx {
        for pair in args[1..].chunks(2) {
            if ctx.ks.exists(ctx.db, &pair[0], ctx.now) {
                ctx.enc.integer(0);
                return Ok(());
            }
        }
    }
    for pair in args[1..].chunks(2) {
        ctx.ks.set(
            ctx.db,
            &pair[0],
            tandem_keyspace::Value::String(encode_arg(&pair[1])),
            Expiry::Clear,
        );
        ctx.ks.touch_modified(ctx.db, &pair[0]);
        ctx.notify(notify::STRING, "set", &pair[0]);
    }
    ctx.dirty += ((args.len() - 1) / 2) as u64;
    if nx {
        ctx.enc.integer(1);
    } else {
        ctx.enc.ok();
    }
    Ok(())
}

/// MSET key value [key value ...]
pub(super) fn mset(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    mset_generic(ctx, args, false, "mset")
}

/// MSETNX key value [key value ...]
pub(super) fn msetnx(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    mset_generic(ctx, args, true, "msetnx")
}
