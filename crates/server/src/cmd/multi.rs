//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! While a client is in MULTI, the dispatcher queues its commands (after the existence,
//! arity and authentication checks, whose failures abort the transaction as in Redis) and
//! answers `+QUEUED`. EXEC runs the queue back to back under the server lock, so no other
//! client's command can interleave; it fails with a null reply when a WATCHed key was
//! touched (or is logically expired now) since WATCH.

use bytes::Bytes;
use tandem_keyspace::Presence;

use super::{data, execute, Ctx};
use crate::client::Client;
use crate::server::Server;

pub fn multi(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    if ctx.client.multi.is_some() {
        ctx.err("ERR MULTI calls can not be nested");
        return;
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_error = false;
    ctx.ok();
}

pub fn discard(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    if ctx.client.multi.is_none() {
        ctx.err("ERR DISCARD without MULTI");
        return;
    }
    discard_transaction(ctx.srv, ctx.client);
    ctx.ok();
}

/// Leaves MULTI state and forgets WATCHes, a broken one included (Redis's
/// discardTransaction).
pub fn discard_transaction(srv: &mut Server, client: &mut Client) {
    client.multi = None;
    client.multi_error = false;
    client.dirty_cas = false;
    unwatch_all(srv, client);
}

pub fn watch(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    if ctx.client.multi.is_some() {
        ctx.err("ERR WATCH inside MULTI is not allowed");
        return;
    }
    // A client whose WATCH is already broken stays broken; watching more changes nothing.
    if !ctx.client.dirty_cas {
        let now = data::now_ms();
        for key in &args[1..] {
            let db = ctx.client.db;
            if ctx
                .client
                .watched
                .iter()
                .any(|(d, k, _)| *d == db && k == key)
            {
                continue;
            }
            let expired = is_logically_expired(ctx.srv, db, key, now);
            ctx.client.watched.push((db, key.clone(), expired));
            ctx.srv
                .watched_keys
                .entry((db, key.clone()))
                .or_default()
                .push(ctx.client.id);
        }
        ctx.srv.sync_data_settings();
    }
    ctx.ok();
}

pub fn unwatch(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    unwatch_all(ctx.srv, ctx.client);
    ctx.client.dirty_cas = false;
    ctx.ok();
}

/// Forgets every key `client` watches.
pub fn unwatch_all(srv: &mut Server, client: &mut Client) {
    if client.watched.is_empty() {
        return;
    }
    for (db, key, _) in client.watched.drain(..) {
        let slot = (db, key);
        if let Some(ids) = srv.watched_keys.get_mut(&slot) {
            ids.retain(|id| *id != client.id);
            if ids.is_empty() {
                srv.watched_keys.remove(&slot);
            }
        }
    }
    srv.sync_data_settings();
}

/// Redis's `keyIsExpired`: in the table, past its expire time, not yet deleted.
fn is_logically_expired(srv: &Server, db: usize, key: &[u8], now: i64) -> bool {
    srv.ks.presence(db, key, now) == Presence::Expired
}

pub fn exec(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    let Some(queued) = ctx.client.multi.take() else {
        ctx.err("ERR EXEC without MULTI");
        return;
    };
    if ctx.client.multi_error {
        discard_transaction(ctx.srv, ctx.client);
        ctx.err("EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    let now = ctx.time().now;
    let expired_now =
        ctx.client.watched.iter().any(|(db, key, was_expired)| {
            !was_expired && is_logically_expired(ctx.srv, *db, key, now)
        });
    if ctx.client.dirty_cas || expired_now {
        discard_transaction(ctx.srv, ctx.client);
        ctx.enc().null_array();
        return;
    }
    unwatch_all(ctx.srv, ctx.client);
    ctx.client.dirty_cas = false;
    ctx.enc().array_len(queued.len());
    // The queued commands are one execution unit: their writes are fed together at the
    // end, wrapped in MULTI/EXEC when there are several.
    ctx.srv.master.begin_exec();
    // Time stands still for the queued commands, as in Redis: a key alive for one of them
    // is alive for the next, however long the transaction takes.
    let outer = ctx.srv.frozen_now.replace(now);
    for args in queued {
        execute(ctx.srv, ctx.client, args, ctx.out);
    }
    ctx.srv.frozen_now = outer;
    let drops = ctx.srv.master.end_exec();
    if !drops.is_empty() {
        crate::repl::close_dropped(ctx.srv, drops);
    }
}
