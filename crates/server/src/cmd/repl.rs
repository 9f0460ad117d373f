//! Replication commands of the master role: REPLCONF, PSYNC, SYNC, WAIT, ROLE.
//!
//! The replies and the state live in the `master` crate ([`tandem_master`]); these handlers
//! pass it what it needs from the client and the server. PSYNC/SYNC and a WAIT that has to
//! block leave a [`Handoff`] on the client: the connection task finishes them outside the
//! lock (see [`crate::repl`]).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tandem_master::{replconf, ReplconfReply, SyncOutcome, SyncRequest};

use super::{info, parse_i64, Ctx};
use crate::repl::{close_dropped, master_config, snapshot_job, Handoff};
use crate::server::Server;

/// `REPLCONF <option> <value> ...`.
pub fn replconf(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    match replconf::apply(&mut ctx.client.repl.conf, args) {
        ReplconfReply::Ok => ctx.ok(),
        ReplconfReply::None => {}
        ReplconfReply::Error(msg) => ctx.err(&msg),
    }
}

/// `PSYNC <replid> <offset>` and `SYNC`.
pub fn sync(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    // Already a replica: ignored, as Redis does.
    if ctx.client.repl.is_replica {
        return;
    }
    let mut args = args;
    // `PSYNC <replid> <offset> FAILOVER`: our master hands its role over to us (its
    // FAILOVER); we become a master and answer the PSYNC as one.
    if args.len() > 3
        && args[0].eq_ignore_ascii_case(b"psync")
        && args[3].eq_ignore_ascii_case(b"failover")
    {
        tracing::warn!(
            "Failover request received for replid {}.",
            String::from_utf8_lossy(&args[1])
        );
        if !ctx.srv.replica.is_active() {
            ctx.err("ERR PSYNC FAILOVER can't be sent to a master.");
            return;
        }
        let mine = ctx.srv.master.ids.replid().to_string();
        if !args[1].eq_ignore_ascii_case(mine.as_bytes()) {
            ctx.err("ERR PSYNC FAILOVER replid must match my replid.");
            return;
        }
        crate::replication_replica::unset_master(ctx.srv);
        let who = super::client::info_line(ctx.client, Some(args), std::time::SystemTime::now());
        tracing::info!("MASTER MODE enabled (failover request from '{who}')");
        args = &args[..3];
    }
    // No replica syncs with us while we are failing over.
    if ctx.srv.failover.active() {
        ctx.err("NOMASTERLINK Can't SYNC while failing over");
        return;
    }
    // A replica serves its own replicas only while its link with its master is up.
    if crate::replication_replica::link_down(ctx.srv) {
        ctx.err("NOMASTERLINK Can't SYNC while not connected with my master");
        return;
    }
    let srv: &mut Server = ctx.srv;
    srv.master.config = master_config(&srv.config);
    let req = SyncRequest {
        client_id: ctx.client.id,
        peer_ip: ctx.client.meta.addr.ip().to_string(),
        conf: &ctx.client.repl.conf,
        args,
    };
    let Server {
        master,
        ks,
        config,
        scripting,
        ..
    } = srv;
    let outcome = master.sync(req, ctx.out, || snapshot_job(ks, config, scripting));
    match outcome {
        SyncOutcome::Error(msg) => ctx.err(&msg),
        SyncOutcome::Replica(task) => {
            ctx.client.repl.is_replica = true;
            ctx.client.repl.link = Some(task.link().clone());
            ctx.client.repl.handoff = Some(Handoff::Replica(task));
        }
    }
}

/// `WAIT numreplicas timeout`.
pub fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    if info::role_name(ctx.srv) != "master" {
        ctx.err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
        return;
    }
    let Some(numreplicas) = parse_i64(&args[1]) else {
        ctx.not_integer();
        return;
    };
    let Some(timeout) = parse_i64(&args[2]) else {
        ctx.err("ERR timeout is not an integer or out of range");
        return;
    };
    if timeout < 0 {
        ctx.err("ERR timeout is negative");
        return;
    }
    let offset = ctx.srv.master.backlog.master_repl_offset();
    let acked = ctx.srv.master.count_acks(offset);
    if acked as i64 >= numreplicas || ctx.srv.master.in_exec() || ctx.client.multi.is_some() {
        ctx.integer(acked as i64);
        return;
    }
    let rx = ctx
        .srv
        .master
        .add_waiter(ctx.client.id, offset, numreplicas.max(0) as usize);
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    ctx.client.repl.handoff = Some(Handoff::Wait { rx, deadline });
    crate::blocking::wait_begins(ctx.srv, ctx.client, deadline.is_some());
    let drops = ctx.srv.master.request_acks();
    if !drops.is_empty() {
        close_dropped(ctx.srv, drops);
    }
}

/// `ROLE` (master form): `master`, the offset, and `[ip, port, offset]` per online replica.
pub fn role(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    if crate::replication_replica::role(ctx) {
        return;
    }
    let offset = ctx.srv.master.backlog.master_repl_offset();
    let replicas = ctx.srv.master.role_replicas();
    let mut enc = ctx.enc();
    enc.array_len(3);
    enc.bulk(b"master");
    enc.integer(offset);
    enc.array_len(replicas.len());
    for (ip, port, off) in replicas {
        enc.array_len(3);
        enc.bulk(ip.as_bytes());
        enc.bulk(port.to_string().as_bytes());
        enc.bulk(off.to_string().as_bytes());
    }
}

/// `-NOREPLICAS` when `min-replicas-to-write` refuses writes now.
pub const NOREPLICAS_ERR: &str = "NOREPLICAS Not enough good replicas to write.";

/// A master that `min-replicas-to-write` keeps from writing now (a replica never is).
pub fn lacks_good_replicas(srv: &Server) -> bool {
    !srv.master.write_allowed() && !srv.replica.is_active()
}
