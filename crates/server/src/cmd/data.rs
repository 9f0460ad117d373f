//! Running data commands (the `commands` crate's handlers) against the server's keyspace,
//! and what follows every command that may have touched data: propagation of its effects
//! and of keys the server expired, WATCH invalidation, and marking the keys blocked
//! clients wait on as ready.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tandem_commands::data::{BlockOn, ExecCtx, Handler, Propagation};
use tandem_keyspace::{DbTarget, Event, Presence};
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
    // The times `cmd::execute` set when the command started (a command run again for a
    // blocked client has none: it reads the clock).
    let time = ctx
        .client
        .cmd_time
        .take()
        .unwrap_or_else(crate::client::CmdTime::fresh);
    let mut ectx = ExecCtx {
        ks: &mut srv.ks,
        db: ctx.client.db,
        now: time.now,
        clock: time.clock,
        enc: &mut enc,
        prop: &mut prop,
        dirty: 0,
        settings: &srv.data_settings,
        stats: &mut srv.data_stats,
        may_block,
        block: None,
        notes: Vec::new(),
    };
    handler(&mut ectx, args);
    let dirty = ectx.dirty;
    let block = ectx.block.take();
    ectx.take_key_notes();
    let notes = std::mem::take(&mut ectx.notes);
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
    if !notes.is_empty() {
        publish_notes(srv, ctx.client, ctx.out, mark, &notes);
    }
    for cmd in cmds {
        propagate(srv, ctx.client.db, cmd);
    }
    end_unit(srv, Some(ctx.client));
    block
}

/// A keyspace notification fired by a server command (RESTORE) for `key` in the client's
/// database, published at once (before the command's reply).
pub fn notify_now(ctx: &mut Ctx<'_>, class: i32, event: &'static str, key: &Bytes) {
    if ctx.srv.data_settings.notify_flags & class == 0 {
        return;
    }
    let note = tandem_commands::data::Notification {
        class,
        event,
        key: key.clone(),
        db: ctx.client.db,
    };
    let mut me = Some(super::pubsub::Publisher {
        client: ctx.client,
        out: Some(&mut *ctx.out),
    });
    super::pubsub::publish_notification(ctx.srv, &mut me, &note);
}

/// Publishes the keyspace notifications a command fired. Those for the client itself
/// (a RESP3 subscriber of its own keys) go before the command's reply, which starts at
/// `mark` in `out`, as in Redis where they are written while the command runs.
fn publish_notes(
    srv: &mut Server,
    client: &Client,
    out: &mut bytes::BytesMut,
    mark: usize,
    notes: &[tandem_commands::data::Notification],
) {
    let mut mine = bytes::BytesMut::new();
    {
        let mut me = Some(super::pubsub::Publisher {
            client,
            out: Some(&mut mine),
        });
        for note in notes {
            super::pubsub::publish_notification(srv, &mut me, note);
        }
    }
    if !mine.is_empty() && mark <= out.len() {
        let reply = out.split_off(mark);
        out.extend_from_slice(&mine);
        out.unsplit(reply);
    }
}

/// Every (db, key) in the tables now (with whether it is logically expired), for the keys
/// watched in any database (a swap compares a watched key with the other database too).
/// Looks only: nothing expires here.
fn existing_watched_keys(srv: &Server) -> Existing {
    let now = now_ms();
    let keys: HashSet<&Bytes> = srv.watched_keys.keys().map(|(_, k)| k).collect();
    let mut found = HashMap::new();
    for db in 0..srv.ks.databases() {
        for key in &keys {
            match srv.ks.presence(db, key, now) {
                Presence::Absent => {}
                p => {
                    found.insert((db, (*key).clone()), p == Presence::Expired);
                }
            }
        }
    }
    found
}

/// Whether [`propagate`] feeds anything: the master keeps a backlog (it did since a replica
/// first attached) and is not a proxy, or the AOF is on. Mirrors the test in
/// `Master::also_propagate`.
fn propagating(srv: &Server) -> bool {
    (srv.master.backlog.is_active() && !srv.master.proxy_only) || srv.master.aof_on()
}

/// Records one command for the replication stream and the AOF (Redis's
/// `alsoPropagate`), or for the feeds a script chose with `redis.set_repl`; it is fed at
/// the end of the execution unit (the command, or the whole EXEC), see [`end_unit`].
pub fn propagate(srv: &mut Server, db: usize, cmd: Vec<Bytes>) {
    srv.stats.propagated_commands += 1;
    let to = srv.propagate_to;
    srv.master.also_propagate_to(db, cmd, to);
}

/// Records the deletion of an expired or evicted key: to both feeds, whatever a script
/// chose for its own commands (Redis's `propagateDeletion`).
fn propagate_deletion(srv: &mut Server, db: usize, verb: &'static [u8], key: Bytes) {
    srv.stats.propagated_commands += 1;
    srv.master
        .also_propagate(db, vec![Bytes::from_static(verb), key]);
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

/// After deletions the server made on its own (evictions before a command): their
/// events are handled (WATCHes, propagation), and what they propagated is fed at once,
/// one command each, not wrapped in MULTI (Redis's `propagateDeletion`).
pub fn after_server_deletions(srv: &mut Server, current: Option<&mut Client>) {
    after_command_with(srv, current, None);
    end_unit(srv, None);
}

/// [`after_command`], where `existing` lists the watched keys that existed before a flush or
/// swap (without it, a flush breaks every WATCH on the database).
pub fn after_command_with(
    srv: &mut Server,
    mut current: Option<&mut Client>,
    existing: Option<&Existing>,
) {
    // What the keyspace noted outside a data command (active expiry, evictions, lookups
    // of server commands): `expired`, `evicted`, `new` and `keymiss` notifications.
    let key_notes = srv.ks.take_notes();
    if !key_notes.is_empty() {
        let mut me = current
            .as_deref()
            .map(|client| super::pubsub::Publisher { client, out: None });
        for n in key_notes {
            let note = tandem_commands::data::Notification::from(n);
            super::pubsub::publish_notification(srv, &mut me, &note);
        }
    }
    let events = srv.ks.drain_events();
    // The key of an `Expired` event: the `Modified` that follows it (while WATCH or
    // blocking is in use) is that expiry, and the key was gone then, whatever the command
    // did with it afterwards.
    let mut expired: Option<(usize, Bytes)> = None;
    for ev in events {
        let just_expired = expired.take();
        match ev {
            Event::Modified { db, key } => {
                if !srv.blocking.is_empty() {
                    srv.blocking.signal(db, &key);
                }
                let gone = just_expired.is_some_and(|(d, k)| d == db && k == key)
                    || srv.ks.presence(db, &key, now_ms()) == Presence::Absent;
                touch_watched(srv, current.as_deref_mut(), db, &key, gone);
            }
            Event::Expired { db, key } => {
                expired = Some((db, key.clone()));
                let verb: &'static [u8] = if srv.data_settings.lazyfree_lazy_expire {
                    b"UNLINK"
                } else {
                    b"DEL"
                };
                propagate_deletion(srv, db, verb, key);
            }
            Event::Evicted { db, key } => {
                touch_watched(srv, current.as_deref_mut(), db, &key, true);
                let verb: &'static [u8] = if srv.evict.lazy { b"UNLINK" } else { b"DEL" };
                propagate_deletion(srv, db, verb, key);
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

/// The watched keys a flush or swap found in the tables before it ran: (db, key) to
/// whether the key was logically expired.
pub type Existing = HashMap<(usize, Bytes), bool>;

/// Runs `f` on client `id`: `current` (out of `srv.clients` while it runs a command) or
/// a registered one.
fn with_client<R>(
    srv: &mut Server,
    current: Option<&mut Client>,
    id: u64,
    f: impl FnOnce(&mut Server, &mut Client) -> R,
) -> Option<R> {
    if let Some(c) = current.filter(|c| c.id == id) {
        return Some(f(srv, c));
    }
    let mut c = srv.clients.remove(&id)?;
    let r = f(srv, &mut c);
    srv.clients.insert(id, c);
    Some(r)
}

/// The flag a client's WATCH of (db, key) carries: the key was logically expired when
/// watched.
fn watched_expired<'a>(c: &'a mut Client, db: usize, key: &[u8]) -> Option<&'a mut bool> {
    c.watched
        .iter_mut()
        .find(|(d, k, _)| *d == db && k == key)
        .map(|(_, _, expired)| expired)
}

/// Breaks a client's transaction: EXEC will fail. Its WATCHes are dropped, as Redis
/// drops them (nothing can mend them).
fn break_watch(srv: &mut Server, c: &mut Client) {
    c.dirty_cas = true;
    crate::cmd::multi::unwatch_all(srv, c);
}

/// Redis's `touchWatchedKey`: the clients watching (db, key), in WATCH order, lose their
/// transaction, except those that watched it already expired: for them a deletion is
/// no change (the flag clears), and a change to the still-present key ends the walk
/// without breaking them or the clients after them (as Redis's loop does). `gone`: the
/// key was not in the table once the event happened.
fn touch_watched(
    srv: &mut Server,
    mut current: Option<&mut Client>,
    db: usize,
    key: &Bytes,
    gone: bool,
) {
    if srv.watched_keys.is_empty() {
        return;
    }
    let Some(ids) = srv.watched_keys.get(&(db, key.clone())).cloned() else {
        return;
    };
    for id in ids {
        let stop = with_client(
            srv,
            current.as_deref_mut(),
            id,
            |srv, c| match watched_expired(c, db, key) {
                Some(expired) if *expired => {
                    if gone {
                        *expired = false;
                        false
                    } else {
                        true
                    }
                }
                Some(_) => {
                    break_watch(srv, c);
                    false
                }
                None => false,
            },
        );
        if stop == Some(true) {
            break;
        }
    }
}

/// Redis's `touchAllWatchedKeysInDb`: a flushed database (or one swapped with `other`)
/// breaks the WATCHes of its keys that were in it (or in `other`) before the command.
/// A key watched already expired that is now gone, or still expired after a swap, is
/// no change; a key swapped in already expired where none was counts as watched expired.
/// Without `existing` (a full sync's new dataset), every WATCH in the database breaks.
fn touch_watched_db(
    srv: &mut Server,
    mut current: Option<&mut Client>,
    db: usize,
    other: Option<usize>,
    existing: Option<&Existing>,
) {
    let watched: Vec<(Bytes, Vec<u64>)> = srv
        .watched_keys
        .iter()
        .filter(|((d, _), _)| *d == db)
        .map(|((_, key), ids)| (key.clone(), ids.clone()))
        .collect();
    for (key, ids) in watched {
        // (in the emptied database, in the one swapped in and whether expired there)
        let (in_emptied, swapped_in) = match existing {
            None => (true, None),
            Some(set) => (
                set.contains_key(&(db, key.clone())),
                other.and_then(|o| set.get(&(o, key.clone())).copied()),
            ),
        };
        if !in_emptied && swapped_in.is_none() {
            continue;
        }
        for id in ids {
            with_client(srv, current.as_deref_mut(), id, |srv, c| {
                let Some(expired) = watched_expired(c, db, &key) else {
                    return;
                };
                if *expired {
                    match swapped_in {
                        None => {
                            *expired = false;
                            return;
                        }
                        Some(true) => return,
                        Some(false) => {}
                    }
                } else if !in_emptied && swapped_in == Some(true) {
                    *expired = true;
                    return;
                }
                break_watch(srv, c);
            });
        }
    }
}
