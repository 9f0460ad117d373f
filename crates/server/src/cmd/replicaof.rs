//! REPLICAOF / SLAVEOF: turn this node into a replica of a master, or back into a master
//! (`NO ONE`), with redis-server 7.0.15's replies, errors and log lines. The role change
//! itself is [`crate::replication_replica`]'s.

use bytes::Bytes;

use super::{parse_i64, Ctx};
use crate::replication_replica::{set_master, unset_master};

/// `REPLICAOF host port` / `REPLICAOF NO ONE` (and the `SLAVEOF` alias).
pub fn replicaof(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    if ctx.srv.config.get_bool("cluster-enabled") {
        ctx.err("ERR REPLICAOF not allowed in cluster mode.");
        return;
    }
    if ctx.srv.failover.active() {
        ctx.err("ERR REPLICAOF not allowed while failing over.");
        return;
    }
    if args[1].eq_ignore_ascii_case(b"no") && args[2].eq_ignore_ascii_case(b"one") {
        if ctx.srv.replica.is_active() {
            unset_master(ctx.srv);
            let who =
                crate::cmd::client::info_line(ctx.client, Some(args), std::time::SystemTime::now());
            tracing::info!("MASTER MODE enabled (user request from '{who}')");
        }
        ctx.ok();
        return;
    }
    if ctx.client.repl.is_replica {
        ctx.err("ERR Command is not valid when client is a replica.");
        return;
    }
    let port = match parse_i64(&args[2]).and_then(|p| u16::try_from(p).ok()) {
        Some(p) => p,
        None => {
            ctx.err("ERR Invalid master port");
            return;
        }
    };
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    if let Some((h, p)) = ctx.srv.replica.master() {
        if h.eq_ignore_ascii_case(&host) && p == port {
            tracing::info!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            ctx.simple("OK Already connected to specified master");
            return;
        }
    }
    set_master(ctx.srv, &host, port);
    let who = crate::cmd::client::info_line(ctx.client, Some(args), std::time::SystemTime::now());
    tracing::info!("REPLICAOF {host}:{port} enabled (user request from '{who}')");
    ctx.ok();
}
