//! The master role wired into the server: what a connection becomes after PSYNC/SYNC,
//! blocked WAITs, the replication cron, and the glue between [`tandem_master::Master`]
//! (behind the [`Core`] lock) and the connection tasks.
//!
//! The `master` crate does the replication work; this module only composes it:
//!
//! * [`ClientRepl`] is what a [`Client`](crate::client::Client) carries for replication:
//!   its REPLCONF declarations, whether it became a replica, and a pending [`Handoff`].
//! * A command that cannot finish inside a batch leaves a [`Handoff`] on its client; the
//!   batch stops there and the connection task calls [`handoff`] outside the lock:
//!   PSYNC/SYNC hand the socket to the replica's [`ReplicaTask`] for good; a blocked WAIT
//!   waits for enough ACKs (or its timeout), writes its reply, and the batch resumes; a
//!   client blocked on keys (BLPOP, ...) waits likewise for its wake (see
//!   [`crate::blocking`]).
//! * [`cron`] runs the master's periodic work at `hz` and closes the replicas it drops.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tandem_master::{
    DropReason, LinkEvent, LinkEvents, MasterConfig, ReplConf, ReplicaTask, SnapshotJob,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::client::ClientEvent;
use crate::config::Config;
use crate::exec::Core;
use crate::server::Server;

/// Replication state of one client connection.
#[derive(Debug, Default)]
pub struct ClientRepl {
    /// What it declared with REPLCONF.
    pub conf: ReplConf,
    /// It sent PSYNC/SYNC and is now a replica (CLIENT LIST flag `S`, type `replica`).
    pub is_replica: bool,
    /// Its link with the master once it is a replica: the stream bytes queued for it and
    /// not yet written count in its output buffer (CLIENT LIST `omem`).
    pub link: Option<std::sync::Arc<tandem_master::Link>>,
    /// Work for the connection task once the current command's reply is written.
    pub handoff: Option<Handoff>,
}

/// What a command leaves for its connection task to finish outside the lock.
pub enum Handoff {
    /// The connection is a replica now: run its task on the socket.
    Replica(ReplicaTask),
    /// A blocked WAIT: the count arrives on `rx`, or the deadline passes.
    Wait {
        rx: oneshot::Receiver<usize>,
        deadline: Option<Instant>,
    },
    /// A client blocked on keys (BLPOP, ...): its reply arrives on `rx` when it is served or
    /// unblocked, or the deadline passes (see [`crate::blocking`]).
    Blocked {
        rx: oneshot::Receiver<crate::blocking::Wake>,
        deadline: Option<Instant>,
    },
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Handoff::Replica(t) => write!(f, "Handoff::Replica({})", t.id()),
            Handoff::Wait { deadline, .. } => write!(f, "Handoff::Wait({deadline:?})"),
            Handoff::Blocked { deadline, .. } => write!(f, "Handoff::Blocked({deadline:?})"),
        }
    }
}

/// The directives the master acts on, from the configuration.
pub fn master_config(c: &Config) -> MasterConfig {
    let secs = |name: &str| std::time::Duration::from_secs(c.get_i64(name).max(0) as u64);
    let obuf = c.client_output_buffer_limits()[1];
    MasterConfig {
        diskless_sync: c.get_bool("repl-diskless-sync"),
        diskless_sync_delay: secs("repl-diskless-sync-delay"),
        diskless_sync_max_replicas: c.get_i64("repl-diskless-sync-max-replicas").max(0) as usize,
        ping_period: c.get_i64("repl-ping-replica-period").max(1) as u64,
        repl_timeout: secs("repl-timeout"),
        backlog_size: c.get_i64("repl-backlog-size").max(1) as usize,
        backlog_ttl: secs("repl-backlog-ttl"),
        obuf_hard: obuf.hard_bytes,
        obuf_soft: obuf.soft_bytes,
        obuf_soft_seconds: obuf.soft_seconds.max(0) as u64,
        min_replicas_to_write: c.get_i64("min-replicas-to-write").max(0) as usize,
        min_replicas_max_lag: c.get_i64("min-replicas-max-lag"),
    }
}

/// What a full resync serialises: the keyspace's snapshot now, with the save settings.
pub fn snapshot_job(
    ks: &tandem_keyspace::Keyspace,
    c: &Config,
    scripting: &crate::script::Scripting,
) -> SnapshotJob {
    SnapshotJob {
        snapshot: crate::persist::full_snapshot(ks, scripting),
        opts: crate::persist::encode_options(c),
        aux: tandem_rdb::AuxFields {
            redis_ver: crate::REDIS_VERSION.to_string(),
            redis_bits: 64,
            ctime: crate::persist::unix_now(),
            used_mem: crate::cmd::info::resident_bytes(),
            repl: None,
            aof_base: false,
        },
        key_save_delay: c.get_i64("rdb-key-save-delay"),
        dir: c.dir(),
    }
}

/// Closes replicas the master dropped, with Redis's log line for output buffer limits.
pub fn close_dropped(srv: &mut Server, drops: Vec<(u64, DropReason)>) {
    if drops.is_empty() {
        return;
    }
    let now = std::time::SystemTime::now();
    for (id, reason) in drops {
        // Reported twice in one pass (feed, then cron): handled once.
        if reason == DropReason::OutputBufferLimit && !srv.master.is_replica(id) {
            continue;
        }
        if let Some(c) = srv.clients.get_mut(&id) {
            if reason == DropReason::OutputBufferLimit {
                let info = crate::cmd::client::info_line(c, None, now);
                tracing::warn!(
                    "Client {info} scheduled to be closed ASAP for overcoming of output buffer limits."
                );
            }
            let _ = c.events.send(ClientEvent::Kill);
            c.killed = true;
        }
        srv.master.remove_replica(id);
    }
}

/// Ends a batch of commands: what it fed goes to the replicas (see `Master::begin_batch`).
pub fn end_batch(srv: &mut Server) {
    let drops = srv.master.end_batch();
    close_dropped(srv, drops);
    // The batch's writes reach the AOF before its replies go out.
    crate::aof::write(srv);
}

/// Feeds what the current execution unit propagated (see `Master::flush`).
pub fn flush(srv: &mut Server, wrap: bool) {
    let drops = srv.master.flush(wrap);
    if !drops.is_empty() {
        close_dropped(srv, drops);
    }
}

/// The replication part of the `hz` cron.
pub fn cron(srv: &mut Server) {
    crate::cmd::failover::update(srv);
    srv.master.config = master_config(&srv.config);
    let Server {
        master,
        ks,
        config,
        scripting,
        ..
    } = srv;
    let drops = master.cron(Instant::now(), || snapshot_job(ks, config, scripting));
    crate::spin::set_local_replicas(master.replicas().iter().any(|r| {
        r.peer_ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }));
    if !drops.is_empty() {
        close_dropped(srv, drops);
    }
}

/// The server's side of a replica task's events.
struct Events {
    core: Arc<Core>,
}

impl LinkEvents for Events {
    fn event(&self, id: u64, ev: LinkEvent) {
        let mut srv = self.core.srv.lock();
        srv.master.link_event(id, ev);
        // An ACK may be the one a FAILOVER waits for.
        crate::cmd::failover::update(&mut srv);
    }
}

/// Finishes a [`Handoff`] outside the lock. Returns false when the connection must close
/// (a replica link ended, or the client was killed while WAIT blocked it).
pub async fn handoff(
    core: &Arc<Core>,
    id: u64,
    h: Handoff,
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    events: &mut mpsc::UnboundedReceiver<ClientEvent>,
) -> bool {
    match h {
        Handoff::Replica(task) => {
            serve_replica(core, id, task, stream, rbuf, events).await;
            false
        }
        Handoff::Wait { rx, deadline } => {
            let n = wait(core, id, rx, deadline, events).await;
            let answer = {
                let mut srv = core.srv.lock();
                // CLIENT UNBLOCK ... ERROR or a role change answer an error instead.
                let error = crate::blocking::wait_ends(&mut srv, id);
                n.map(|n| {
                    let (reply, close) = match error {
                        Some((text, close)) => (format!("-{text}\r\n"), close),
                        None => (format!(":{n}\r\n"), false),
                    };
                    srv.stats.total_net_output_bytes += reply.len() as u64;
                    (reply, close)
                })
            };
            let Some((reply, close)) = answer else {
                return false;
            };
            stream.write_all(reply.as_bytes()).await.is_ok() && !close
        }
        Handoff::Blocked { rx, deadline } => {
            let Some(wake) = blocked(core, id, rx, deadline, stream, rbuf, events).await else {
                return false;
            };
            if !wake.reply.is_empty() && stream.write_all(&wake.reply).await.is_err() {
                return false;
            }
            !wake.close
        }
    }
}

/// Waits while the client is blocked on keys. The socket is still read meanwhile (Redis
/// keeps the readable handler): what arrives waits in `rbuf`, and a closed connection is
/// noticed at once, so that a gone client is never served. None when the connection must
/// close.
async fn blocked(
    core: &Arc<Core>,
    id: u64,
    mut rx: oneshot::Receiver<crate::blocking::Wake>,
    deadline: Option<Instant>,
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    events: &mut mpsc::UnboundedReceiver<ClientEvent>,
) -> Option<crate::blocking::Wake> {
    use tokio::io::AsyncReadExt;
    let sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let forget = |core: &Arc<Core>| crate::blocking::forget(&mut core.srv.lock(), id);
    loop {
        tokio::select! {
            biased;
            got = &mut rx => return got.ok(),
            ev = events.recv() => match ev {
                None | Some(ClientEvent::Kill) => {
                    forget(core);
                    return None;
                }
                Some(ClientEvent::LoggedIn) => {}
                Some(ClientEvent::Write(bytes)) => {
                    if stream.write_all(&bytes).await.is_err() {
                        forget(core);
                        return None;
                    }
                }
            },
            _ = &mut sleep => {
                let timed_out = crate::blocking::time_out(&mut core.srv.lock(), id);
                return match timed_out {
                    Some(wake) => Some(wake),
                    // Served or unblocked meanwhile: the wake is in the channel.
                    None => rx.await.ok(),
                };
            }
            read = stream.read_buf(rbuf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    forget(core);
                    return None;
                }
                let limit = core.srv.lock().shared.query_buffer_limit.load(Ordering::Relaxed);
                if limit > 0 && rbuf.len() as i64 > limit {
                    tracing::warn!("Closing client that reached max query buffer length: id={id}");
                    forget(core);
                    return None;
                }
            }
        }
    }
}

async fn wait(
    core: &Arc<Core>,
    id: u64,
    mut rx: oneshot::Receiver<usize>,
    deadline: Option<Instant>,
    events: &mut mpsc::UnboundedReceiver<ClientEvent>,
) -> Option<usize> {
    let sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            got = &mut rx => {
                if let Ok(n) = got {
                    return Some(n);
                }
                // The master forgot the waiter: answer with the count now.
                let srv = core.srv.lock();
                return Some(srv.master.count_acks(srv.master.backlog.master_repl_offset()));
            }
            _ = &mut sleep => {
                let cancelled = core.srv.lock().master.cancel_waiter(id);
                if cancelled.is_some() {
                    return cancelled;
                }
                // Answered meanwhile.
                return rx.await.ok();
            }
            ev = events.recv() => match ev {
                None | Some(ClientEvent::Kill) => {
                    core.srv.lock().master.cancel_waiter(id);
                    return None;
                }
                Some(ClientEvent::Write(_) | ClientEvent::LoggedIn) => {}
            }
        }
    }
}

async fn serve_replica(
    core: &Arc<Core>,
    id: u64,
    task: ReplicaTask,
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    events: &mut mpsc::UnboundedReceiver<ClientEvent>,
) {
    let leftover = rbuf.split();
    let ev: Arc<dyn LinkEvents> = Arc::new(Events { core: core.clone() });
    let run = task.run(&mut *stream, leftover, ev);
    tokio::pin!(run);
    loop {
        tokio::select! {
            r = &mut run => {
                if let Err(e) = r {
                    tracing::debug!("Replica link of client {id} ended: {e}");
                }
                break;
            }
            msg = events.recv() => match msg {
                None | Some(ClientEvent::Kill) => break,
                Some(ClientEvent::Write(_) | ClientEvent::LoggedIn) => {}
            }
        }
    }
    let mut srv = core.srv.lock();
    srv.master.remove_replica(id);
}
