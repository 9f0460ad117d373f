//! Expiry commands of Redis 7.0.15's `expire.c`: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with
//! NX, XX, GT, LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST.
//!
//! Propagation: a TTL that was set goes to replicas as `PEXPIREAT key <abs ms> [options]`
//! (the name is kept as typed when the command already was PEXPIREAT, and so is the time);
//! a time already past deletes the key (except on a replica) and goes as `DEL key`, or
//! `UNLINK key` with `lazyfree-lazy-expire yes`.

use bytes::Bytes;
use tandem_keyspace::FreeMode;

use super::{arg, cstr, is, lookup_read, parse_i64, Access, CmdResult, GenericError};
use crate::data::{notify, ExecCtx};

/// The NX / XX / GT / LT options.
#[derive(Clone, Copy, Debug, Default)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Conditions {
    fn any(self) -> bool {
        self.nx || self.xx || self.gt || self.lt
    }

    /// Redis's `parseExtendedExpireArgumentsOrReply`: every argument after the time.
    fn parse(opts: &[Bytes]) -> Result<Conditions, GenericError> {
        let mut c = Conditions::default();
        for opt in opts {
            if is(opt, "nx") {
                c.nx = true;
            } else if is(opt, "xx") {
                c.xx = true;
            } else if is(opt, "gt") {
                c.gt = true;
            } else if is(opt, "lt") {
                c.lt = true;
            } else {
                return Err(GenericError::UnsupportedOption(cstr(opt).to_vec()));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(GenericError::NxAndXxGtLt);
        }
        if c.gt && c.lt {
            return Err(GenericError::GtAndLt);
        }
        Ok(c)
    }

    /// Whether a new expiry `when` may replace `current` (`None`: the key has no TTL,
    /// which GT and LT treat as infinite).
    fn allow(self, current: Option<i64>, when: i64) -> bool {
        match current {
            None => !(self.xx || self.gt),
            Some(cur) => !(self.nx || (self.gt && when <= cur) || (self.lt && when >= cur)),
        }
    }
}

/// How one of the four commands reads its time argument.
struct ExpireKind {
    /// The command's full name, for the error text.
    name: &'static str,
    /// Relative to the command's time (EXPIRE, PEXPIRE) or absolute.
    relative: bool,
    /// Seconds (EXPIRE, EXPIREAT) or milliseconds.
    seconds: bool,
}

/// `EXPIRE key seconds [NX|XX|GT|LT]`.
pub(super) fn expire(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let kind = ExpireKind {
        name: "expire",
        relative: true,
        seconds: true,
    };
    expire_generic(ctx, args, &kind)
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`.
pub(super) fn pexpire(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let kind = ExpireKind {
        name: "pexpire",
        relative: true,
        seconds: false,
    };
    expire_generic(ctx, args, &kind)
}

/// `EXPIREAT key unix-time-seconds [NX|XX|GT|LT]`.
pub(super) fn expireat(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let kind = ExpireKind {
        name: "expireat",
        relative: false,
        seconds: true,
    };
    expire_generic(ctx, args, &kind)
}

/// `PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]`.
pub(super) fn pexpireat(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let kind = ExpireKind {
        name: "pexpireat",
        relative: false,
        seconds: false,
    };
    expire_generic(ctx, args, &kind)
}

fn expire_generic(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], kind: &ExpireKind) -> CmdResult {
    let Some(key) = args.get(1) else {
        return Err(GenericError::Syntax);
    };
    let cond = Conditions::parse(args.get(3..).unwrap_or_default())?;
    let mut when = parse_i64(arg(args, 2)).ok_or(GenericError::NotInteger)?;
    let bad_time = GenericError::InvalidExpireTime(kind.name);
    if kind.seconds {
        when = when.checked_mul(1000).ok_or_else(|| bad_time.clone())?;
    }
    let basetime = if kind.relative { ctx.clock } else { 0 };
    when = when.checked_add(basetime).ok_or(bad_time)?;

    if !ctx.ks.exists(ctx.db, key, ctx.now) {
        ctx.enc.integer(0);
        return Ok(());
    }
    if cond.any() && !cond.allow(ctx.ks.expire_at(ctx.db, key), when) {
        ctx.enc.integer(0);
        return Ok(());
    }

    if when <= ctx.clock && !ctx.settings.replica_mode {
        // Already past: delete now and replicate an explicit deletion.
        let lazy = ctx.settings.lazyfree_lazy_expire;
        let mode = if lazy {
            FreeMode::Async
        } else {
            FreeMode::Sync
        };
        ctx.ks.delete(ctx.db, key, ctx.now, mode);
        let verb: &'static [u8] = if lazy { b"UNLINK" } else { b"DEL" };
        ctx.prop
            .rewrite(vec![vec![Bytes::from_static(verb), key.clone()]]);
        ctx.notify(notify::GENERIC, "del", key);
    } else {
        ctx.ks.set_expire(ctx.db, key, when);
        ctx.notify(notify::GENERIC, "expire", key);
        let mut cmd = args.to_vec();
        if kind.relative || kind.seconds {
            if let Some(a) = cmd.get_mut(0) {
                *a = Bytes::from_static(b"PEXPIREAT");
            }
            if let Some(a) = cmd.get_mut(2) {
                *a = Bytes::from(when.to_string());
            }
        }
        ctx.prop.rewrite(vec![cmd]);
    }
    ctx.ks.touch_modified(ctx.db, key);
    ctx.dirty += 1;
    ctx.enc.integer(1);
    Ok(())
}

/// TTL, PTTL, EXPIRETIME and PEXPIRETIME: -2 for a missing key, -1 without a TTL.
fn ttl_generic(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], ms: bool, absolute: bool) -> CmdResult {
    let key = arg(args, 1);
    if lookup_read(ctx.ks, ctx.stats, ctx.db, key, ctx.now, Access::NoTouch).is_none() {
        ctx.enc.integer(-2);
        return Ok(());
    }
    let Some(at) = ctx.ks.expire_at(ctx.db, key) else {
        ctx.enc.integer(-1);
        return Ok(());
    };
    let t = if absolute {
        at
    } else {
        at.saturating_sub(ctx.clock)
    }
    .max(0);
    let reply = if ms {
        t
    } else {
        // Rounded to the nearest second, without overflow near i64::MAX (as compiled Redis).
        let rounded = (t.unsigned_abs() + 500) / 1000;
        i64::try_from(rounded).unwrap_or(i64::MAX)
    };
    ctx.enc.integer(reply);
    Ok(())
}

/// `TTL key`.
pub(super) fn ttl(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, false, false)
}

/// `PTTL key`.
pub(super) fn pttl(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, true, false)
}

/// `EXPIRETIME key`.
pub(super) fn expiretime(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, false, true)
}

/// `PEXPIRETIME key`.
pub(super) fn pexpiretime(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, true, true)
}

/// `PERSIST key`.
pub(super) fn persist(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let removed = ctx.ks.exists(ctx.db, key, ctx.now) && ctx.ks.persist(ctx.db, key);
    if removed {
        ctx.ks.touch_modified(ctx.db, key);
        ctx.dirty += 1;
        ctx.notify(notify::GENERIC, "persist", key);
    }
    ctx.enc.integer(i64::from(removed));
    Ok(())
}
