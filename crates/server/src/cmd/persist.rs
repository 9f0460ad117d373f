//! Persistence commands: SAVE, BGSAVE [SCHEDULE], LASTSAVE, DUMP, RESTORE, and the RELOAD
//! subcommand of DEBUG ([`debug_reload`]). The engine (files, threads, loading) lives in
//! [`crate::persist`]; these handlers parse arguments and reply as Redis 7.0.15 does.

use bytes::Bytes;
use tandem_commands::data::notify;
use tandem_keyspace::{Expiry, FreeMode};

use super::{data, parse_i64, Ctx};
use crate::persist;

/// `SAVE`.
pub fn save(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    if persist::bgsave_in_progress(ctx.srv) {
        ctx.err("ERR Background save already in progress");
        return;
    }
    if persist::save_sync(ctx.srv) {
        ctx.ok();
    } else {
        ctx.err("ERR");
    }
}

/// `BGSAVE [SCHEDULE]`.
pub fn bgsave(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let schedule = match args.get(1) {
        None => false,
        Some(a) if args.len() == 2 && a.eq_ignore_ascii_case(b"schedule") => true,
        Some(_) => {
            ctx.syntax_err();
            return;
        }
    };
    if persist::bgsave_in_progress(ctx.srv) {
        // Redis answers this even to BGSAVE SCHEDULE: only other children get scheduled.
        let _ = schedule;
        ctx.err("ERR Background save already in progress");
        return;
    }
    if persist::start_bgsave(ctx.srv).is_ok() {
        ctx.simple("Background saving started");
    } else {
        ctx.err("ERR");
    }
}

/// `BGREWRITEAOF`: a new AOF base from a snapshot (see [`crate::aof`]).
pub fn bgrewriteaof(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    if ctx.srv.aof.rewriting() {
        ctx.err("ERR Background append only file rewriting already in progress");
        return;
    }
    if crate::aof::start_rewrite(ctx.srv, "background rewrite").is_ok() {
        ctx.simple("Background append only file rewriting started");
    } else {
        ctx.err("ERR Can't execute an AOF background rewriting. Please check the server logs for more information.");
    }
}

/// `LASTSAVE`.
pub fn lastsave(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    let t = ctx.srv.persist.lastsave;
    ctx.integer(t);
}

/// `DUMP key`: the value in Redis's DUMP format, or a null.
pub fn dump(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let now = ctx.time().now;
    let db = ctx.client.db;
    // lookupKeyRead: a keyspace hit or miss (and a `keymiss` notification).
    let payload = match ctx.srv.ks.get_read(db, &args[1], now) {
        None => {
            ctx.srv.data_stats.keyspace_misses += 1;
            None
        }
        Some(v) => {
            let v = v.clone();
            ctx.srv.data_stats.keyspace_hits += 1;
            Some(persist::dump_value(ctx.srv, &v))
        }
    };
    data::after_command(ctx.srv, Some(ctx.client));
    match payload {
        None => ctx.enc().null(),
        Some(Ok(p)) => ctx.bulk(&p),
        Some(Err(e)) => ctx.err(&format!("ERR {e}")),
    }
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`.
///
/// IDLETIME and FREQ are checked like Redis checks them and set the key's access stamp
/// (Redis's `objectSetLRUOrLFU`).
pub fn restore(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (-1i64, -1i64);
    let mut j = 4;
    while j < args.len() {
        let a = &args[j];
        let more = args.len() - j - 1;
        if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if a.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if a.eq_ignore_ascii_case(b"idletime") && more >= 1 && freq == -1 {
            let Some(v) = parse_i64(&args[j + 1]) else {
                ctx.not_integer();
                return;
            };
            if v < 0 {
                ctx.err("ERR Invalid IDLETIME value, must be >= 0");
                return;
            }
            idle = v;
            j += 1;
        } else if a.eq_ignore_ascii_case(b"freq") && more >= 1 && idle == -1 {
            let Some(v) = parse_i64(&args[j + 1]) else {
                ctx.not_integer();
                return;
            };
            if !(0..=255).contains(&v) {
                ctx.err("ERR Invalid FREQ value, must be >= 0 and <= 255");
                return;
            }
            freq = v;
            j += 1;
        } else {
            ctx.syntax_err();
            return;
        }
        j += 1;
    }
    let db = ctx.client.db;
    let key = &args[1];
    let time = ctx.time();
    let now = time.now;
    if !replace && ctx.srv.ks.exists(db, key, now) {
        data::after_command(ctx.srv, Some(ctx.client));
        ctx.err("BUSYKEY Target key name already exists.");
        return;
    }
    let Some(mut ttl) = parse_i64(&args[2]) else {
        data::after_command(ctx.srv, Some(ctx.client));
        ctx.not_integer();
        return;
    };
    if ttl < 0 {
        data::after_command(ctx.srv, Some(ctx.client));
        ctx.err("ERR Invalid TTL value, must be >= 0");
        return;
    }
    let value = match persist::restore_value(&args[3], &ctx.srv.data_settings.limits) {
        Ok(v) => v,
        Err(version_or_crc) => {
            data::after_command(ctx.srv, Some(ctx.client));
            if version_or_crc {
                ctx.err("ERR DUMP payload version or checksum are wrong");
            } else {
                ctx.err("ERR Bad data format");
            }
            return;
        }
    };
    let srv = &mut *ctx.srv;
    let lazy = srv.config.get_bool("lazyfree-lazy-server-del");
    let deleted = replace
        && srv.ks.delete(
            db,
            key,
            now,
            if lazy {
                FreeMode::Async
            } else {
                FreeMode::Sync
            },
        );
    if ttl != 0 && !absttl {
        // Redis adds without a check: a relative TTL past i64::MAX wraps into the
        // past, and the key counts as already expired.
        ttl = ttl.wrapping_add(time.clock);
    }
    if ttl != 0 && ttl <= time.clock && !srv.ks.config().replica_mode {
        // Already expired (a replica keeps it and waits for its master's DEL): the
        // key is not created; a replaced key is deleted.
        if deleted {
            srv.ks.touch_modified(db, key);
            srv.dirty += 1;
            let verb: &'static [u8] = if lazy { b"UNLINK" } else { b"DEL" };
            data::propagate(srv, db, vec![Bytes::from_static(verb), key.clone()]);
        }
        data::after_command(srv, Some(ctx.client));
        if deleted {
            data::notify_now(ctx, notify::GENERIC, "del", key);
        }
        ctx.ok();
        return;
    }
    let expiry = if ttl != 0 {
        Expiry::At(ttl)
    } else {
        Expiry::Clear
    };
    srv.ks.set(db, key, value, expiry);
    srv.ks.set_access_hint(
        db,
        key,
        now,
        u64::try_from(idle).ok(),
        u8::try_from(freq).ok(),
    );
    srv.ks.touch_modified(db, key);
    srv.dirty += 1;
    // Propagated with an absolute TTL, as Redis rewrites it.
    let mut prop: Vec<Bytes> = args.to_vec();
    if ttl != 0 && !absttl {
        prop[2] = Bytes::from(ttl.to_string());
        prop.push(Bytes::from_static(b"ABSTTL"));
    }
    data::propagate(srv, db, prop);
    data::after_command(srv, Some(ctx.client));
    data::notify_now(ctx, notify::GENERIC, "restore", key);
    ctx.ok();
}

/// `DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]`: save, empty the dataset, load the file
/// again. `args` is DEBUG's whole argument vector (`args[1]` is `RELOAD`).
pub fn debug_reload(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let (mut flush, mut save) = (true, true);
    for a in args.iter().skip(2) {
        if a.eq_ignore_ascii_case(b"merge") || a.eq_ignore_ascii_case(b"noflush") {
            flush = false;
        } else if a.eq_ignore_ascii_case(b"nosave") {
            save = false;
        } else {
            ctx.err("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
            return;
        }
    }
    if save && !persist::save_sync(ctx.srv) {
        ctx.err("ERR Error trying to save the RDB dump, check server logs.");
        return;
    }
    let loaded = persist::load_sync(ctx.srv, flush);
    data::after_command(ctx.srv, Some(ctx.client));
    if loaded.is_err() {
        ctx.err("ERR Error trying to load the RDB dump, check server logs.");
        return;
    }
    tracing::warn!("DB reloaded by DEBUG RELOAD");
    ctx.ok();
}
