//! Running data commands (the `commands` crate's handlers) against the server's keyspace,
//! and what follows every command that may have touched data: propagation of its effects
//! and of keys the server expired, WATCH invalidation, and marking the keys blocked
//! clients wait on as ready.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tandem_commands::data::{BlockOn, ExecCtx, Handler, Propagation};
use tandem_keyspace::{DbTarget, Event};
use tandem_resp::Encoder;

use super::{info, Ctx};
use crate::client::Client;
use crate::server::Server;

/// Milliseconds since the epoch, the time a command sees.
pub fn now_ms() -> i64 {
    epoch_ms(SystemTime::now())
}

/// Milliseconds since the epoch of `t`.
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs a data command handler with the calling client's database. A blocking command
/// that cannot be served blocks the client (see [`crate::blocking`]), except inside
/// MULTI/EXEC and on the master's stream, where it answers as on timeout.
pub fn run(ctx: &mut Ctx<'_>, handler: Handler, args: &[Bytes]) {
    // min-replicas-to-write (Redis checks it in processCommand, before the handler); it
    // never applies on a replica, so never to the master's stream.
    if !ctx.srv.master.write_allowed()
        && ctx.spec.flags.contains(&"write")
        && !ctx.srv.replica.is_active()
    {
        ctx.err(super::repl::NOREPLICAS_ERR);
        return;
    }
    let may_block = !ctx.srv.master.in_exec() && !ctx.client.is_master;
    if let Some(on) = exec(ctx, handler, args, may_block) {
        crate::blocking::block(ctx.srv, ctx.client, args, on);
    }
}

/// Runs the handler, then what follows a command: error counting, the keyspace's events,
/// propagation. Returns what the command blocks on when it could not be served (it wrote
/// no reply then).
pub fn exec(
    ctx: &mut Ctx<'_>,
    handler: Handler,
    args: &[Bytes],
    may_block: bool,
) -> Option<BlockOn> {
    let mark = ctx.out.len();
    // Flushes and swaps break only the WATCHes of keys that exist (Redis's
    // touchAllWatchedKeysInDb), so note which watched keys exist before the command runs.
    let existing = if !ctx.srv.watched_keys.is_empty()
        && matches!(ctx.spec.full_name, "flushall" | "flushdb" | "swapdb")
    {
        Some(existing_watched_keys(ctx.srv))
    } else {
        None
    };
    let mut prop = Propagation::default();
    let srv = &mut *ctx.srv;
    let mut enc = Encoder {
        out: ctx.out,
        proto: ctx.client.proto,
    };
    let mut ectx = ExecCtx {
        ks: &mut srv.ks,
        db: ctx.client.db,
        // The time `cmd::execute` read when the command started (a command run again for
        // a blocked client has none: it reads the clock).
        now: ctx.client.cmd_time.take().unwrap_or_else(now_ms),
        enc: &mut enc,
        prop: &mut prop,
        dirty: 0,
        settings: &srv.data_settings,
        stats: &mut srv.data_stats,
        may_block,
        block: None,
    };
    handler(&mut ectx, args);
    let dirty = ectx.dirty;
    let block = ectx.block.take();
    srv.dirty += dirty;
    // Handlers write errors straight into the buffer: count them like other error replies.
    if ctx.out.get(mark) == Some(&b'-') {
        let text = String::from_utf8_lossy(&ctx.out[mark + 1..])
            .trim_end()
            .to_string();
        srv.stats.total_error_replies += 1;
        info::record_error_code(&mut srv.stats, &text);
    }
    // Keys expired during the command's lookups were deleted before it wrote: their DELs
    // (queued by the events) go first in the stream. Without a replication stream nothing
    // is fed, so only the count is kept: resolving would copy the arguments for nothing.
    let cmds = if propagating(srv) {
        prop.resolve(args, dirty > 0)
    } else {
        srv.stats.propagated_commands += match &prop.rewritten {
            Some(cmds) => cmds.len() as u64,
            None => u64::from(dirty > 0),
        };
        Vec::new()
    };
    // A destroyed group wakes its blocked XREADGROUP readers (with -NOGROUP) without
    // counting as a modification of the key for WATCH (Redis signals the key as ready only).
    if !srv.blocking.is_empty()
        && ctx.spec.full_name == "xgroup|destroy"
        && &ctx.out[mark..] == b":1\r\n"
    {
        srv.blocking.signal(ctx.client.db, &args[2]);
    }
    after_command_with(srv, Some(&mut *ctx.client), existing.as_ref());
    for cmd in cmds {
        propagate(srv, ctx.client.db, cmd);
    }
    end_unit(srv, Some(ctx.client));
    block
}

/// Every (db, key) that exists now, for the keys watched in any database (a swap compares
/// a watched key with the other database too).
fn existing_watched_keys(srv: &mut Server) -> HashSet<(usize, Bytes)> {
    let now = now_ms();
    let keys: HashSet<Bytes> = srv.watched_keys.keys().map(|(_, k)| k.clone()).collect();
    let mut found = HashSet::new();
    for db in 0..srv.ks.databases() {
        for key in &keys {
            if srv.ks.exists(db, key, now) {
                found.insert((db, key.clone()));
            }
        }
    }
    found
}

/// Whether [`propagate`] feeds anything: the master keeps a backlog (it did since a replica
/// first attached) and is not a proxy. Mirrors the test in `Master::also_propagate`.
fn propagating(srv: &Server) -> bool {
    srv.master.backlog.is_active() && !srv.master.proxy_only
}

/// Records one command for the replication stream (Redis's `alsoPropagate`); it is fed at
/// the end of the execution unit (the command, or the whole EXEC), see [`end_unit`].
pub fn propagate(srv: &mut Server, db: usize, cmd: Vec<Bytes>) {
    srv.stats.propagated_commands += 1;
    srv.master.also_propagate(db, cmd);
}

/// End of an execution unit: feeds what it propagated to the replication stream, wrapped
/// in MULTI/EXEC when a command propagated several (not for SCAN/RANDOMKEY/KEYS, which
/// may only expire keys, nor outside commands: the active expiry cycle). Inside EXEC
/// nothing happens until the EXEC ends (see `multi::exec`).
fn end_unit(srv: &mut Server, current: Option<&Client>) {
    if srv.master.in_exec() || !srv.master.has_pending() {
        return;
    }
    let wrap = current.is_some_and(|c| !matches!(c.last_cmd, "scan" | "randomkey" | "keys"));
    crate::repl::flush(srv, wrap);
}

/// Handles the keyspace's events: expired keys are propagated as DEL (or UNLINK), and
/// WATCHes on touched keys are broken; then ends the execution unit (feeds the stream).
/// `current` is the client running the command (it is out of `srv.clients` meanwhile).
pub fn after_command(srv: &mut Server, mut current: Option<&mut Client>) {
    after_command_with(srv, current.as_deref_mut(), None);
    end_unit(srv, current.as_deref());
}

/// [`after_command`], where `existing` lists the watched keys that existed before a flush or
/// swap (without it, a flush breaks every WATCH on the database).
pub fn after_command_with(
    srv: &mut Server,
    mut current: Option<&mut Client>,
    existing: Option<&HashSet<(usize, Bytes)>>,
) {
    let events = srv.ks.drain_events();
    for ev in events {
        match ev {
            Event::Modified { db, key } => {
                if !srv.blocking.is_empty() {
                    srv.blocking.signal(db, &key);
                }
                touch_watched(srv, current.as_deref_mut(), db, &key);
            }
            Event::Expired { db, key } => {
                touch_watched(srv, current.as_deref_mut(), db, &key);
                let verb: &'static [u8] = if srv.data_settings.lazyfree_lazy_expire {
                    b"UNLINK"
                } else {
                    b"DEL"
                };
                propagate(srv, db, vec![Bytes::from_static(verb), key]);
            }
            Event::Flushed(target) => {
                let dbs: Vec<usize> = match target {
                    DbTarget::All => (0..srv.ks.databases()).collect(),
                    DbTarget::One(db) => vec![db],
                };
                for db in dbs {
                    srv.blocking.signal_db(db);
                    touch_watched_db(srv, current.as_deref_mut(), db, None, existing);
                }
            }
            Event::Swapped(a, b) => {
                // Keys that exist after the swap may serve clients blocked in either
                // database (Redis's scanDatabaseForReadyKeys).
                srv.blocking.signal_db(a);
                srv.blocking.signal_db(b);
                touch_watched_db(srv, current.as_deref_mut(), a, Some(b), existing);
                touch_watched_db(srv, current.as_deref_mut(), b, Some(a), existing);
            }
        }
    }
}

fn mark_dirty(srv: &mut Server, current: Option<&mut Client>, ids: &[u64]) {
    if let Some(c) = current {
        if ids.contains(&c.id) {
            c.dirty_cas = true;
        }
    }
    for id in ids {
        if let Some(c) = srv.clients.get_mut(id) {
            c.dirty_cas = true;
        }
    }
}

fn touch_watched(srv: &mut Server, current: Option<&mut Client>, db: usize, key: &Bytes) {
    if srv.watched_keys.is_empty() {
        return;
    }
    if let Some(ids) = srv.watched_keys.get(&(db, key.clone())).cloned() {
        mark_dirty(srv, current, &ids);
    }
}

/// A flushed database (or one swapped with `other`) breaks the WATCHes of its keys that
/// existed in it (or in `other`) before the command.
fn touch_watched_db(
    srv: &mut Server,
    current: Option<&mut Client>,
    db: usize,
    other: Option<usize>,
    existing: Option<&HashSet<(usize, Bytes)>>,
) {
    let existed = |key: &Bytes| match existing {
        None => true,
        Some(set) => {
            set.contains(&(db, key.clone()))
                || other.is_some_and(|o| set.contains(&(o, key.clone())))
        }
    };
    let ids: Vec<u64> = srv
        .watched_keys
        .iter()
        .filter(|((d, key), _)| *d == db && existed(key))
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    if !ids.is_empty() {
        mark_dirty(srv, current, &ids);
    }
}
