//! The executor: how commands get their one total order.
//!
//! All server state lives in one [`Server`] behind the [`Core`]'s mutex. A connection task
//! decodes a read into a batch of requests outside the lock, then takes the lock once and
//! runs the whole batch back to back, encoding replies into one buffer; it writes them after
//! releasing the lock. The lock's acquisition order is the total order of commands (design
//! brief, invariant 1), and no other client's command can interleave with a batch. There is
//! no hop to another thread: on a 2-core machine, waking an executor thread and waking the
//! task back for every batch cost more than the commands themselves.
//!
//! A batch that meets a command CLIENT PAUSE holds back is parked: the task keeps the rest of
//! its batch, releases the lock, and waits until the pause ends, which keeps per-client
//! order because the task reads nothing more meanwhile. A command that blocks on keys (BLPOP,
//! ...) parks the batch the same way until it is served (see [`crate::blocking`]), and
//! after every command the clients blocked on keys it made ready are served.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tandem_resp::Request;
use tokio::sync::Notify;

use crate::client::{Client, ClientEvent, ConnMeta};
use crate::cmd;
use crate::server::Server;

/// The shared heart of the server: state plus the signals around it.
pub struct Core {
    pub srv: Mutex<Server>,
    /// Signalled when a pause ends, so parked batches retry.
    pub unpaused: Notify,
    /// Signalled once when SHUTDOWN or a signal decided to stop.
    pub shutdown: Notify,
}

/// The outcome of running (part of) a batch.
#[derive(Debug, Default)]
pub struct BatchReply {
    /// Close the connection once the replies are written (QUIT, CLIENT KILL of itself).
    pub close: bool,
    /// Whether the client is authenticated now (the decoder's limits depend on it).
    pub authenticated: bool,
    /// Set when a pause parked the batch; retry after this instant or an unpause.
    pub parked_until: Option<Instant>,
    /// A command left work for the connection task (PSYNC, a blocked WAIT): see
    /// [`crate::repl::handoff`]. The rest of the batch stays queued.
    pub handoff: Option<crate::repl::Handoff>,
    /// Under `appendfsync always`: wait for this before writing the replies.
    pub durable: Option<crate::aof::Durable>,
    /// The client is in none of the states [`crate::busy`] leaves alone.
    pub plain: bool,
    /// The client speaks RESP3.
    pub resp3: bool,
}

impl Core {
    pub fn new(srv: Server) -> Arc<Core> {
        Arc::new(Core {
            srv: Mutex::new(srv),
            unpaused: Notify::new(),
            shutdown: Notify::new(),
        })
    }

    /// Registers a new connection; returns whether it starts authenticated. `preset`: what
    /// a connection accepted while a script was busy did meanwhile.
    pub fn connect(
        &self,
        id: u64,
        meta: ConnMeta,
        events: tokio::sync::mpsc::UnboundedSender<ClientEvent>,
        preset: crate::busy::Preset,
    ) -> (bool, std::sync::Arc<crate::client::OutQueue>) {
        let mut srv = self.srv.lock();
        let authed = preset.user.is_some() || !srv.requires_auth();
        srv.stats.total_connections_received += 1;
        let mut client = Client::new(id, meta, events, authed);
        preset.apply(&mut client);
        let out = client.out.clone();
        srv.clients.insert(id, Box::new(client));
        (authed, out)
    }

    /// Forgets a closed connection.
    pub fn disconnect(&self, id: u64) {
        let mut srv = self.srv.lock();
        if let Some(mut client) = srv.clients.remove(&id) {
            if client.monitor {
                srv.monitors -= 1;
            }
            cmd::multi::unwatch_all(&mut srv, &mut client);
            cmd::pubsub::forget_client(&mut srv, &mut client);
        }
        crate::blocking::forget(&mut srv, id);
    }

    /// Runs requests in order under the lock, appending replies to `out`. Requests that a
    /// pause holds back stay in `reqs`.
    pub fn run_batch(
        &self,
        id: u64,
        reqs: &mut VecDeque<Request>,
        pending: usize,
        out: &mut BytesMut,
    ) -> BatchReply {
        let mut srv = self.srv.lock();
        let was_paused = srv.pause.is_some();
        // The batch's writes reach the replicas in one piece, at its end.
        srv.master.begin_batch();
        let mut reply = run_locked(&mut srv, id, reqs, pending, out);
        crate::repl::end_batch(&mut srv);
        reply.durable = srv.aof.take_durable();
        // CLIENT UNPAUSE (or a FAILOVER that ended) releases the held clients at once.
        let failover_unpaused = cmd::failover::take_unpaused(&mut srv);
        if (was_paused && srv.pause.is_none()) || failover_unpaused {
            self.unpaused.notify_waiters();
        }
        if srv.shutting_down {
            self.shutdown.notify_one();
        }
        reply
    }

    /// Periodic work at `hz`; returns the period until the next run.
    pub fn cron(&self) -> Duration {
        let mut srv = self.srv.lock();
        let was_paused = srv.pause.is_some();
        cron(&mut srv);
        let failover_unpaused = cmd::failover::take_unpaused(&mut srv);
        if (was_paused && srv.pause.is_none()) || failover_unpaused {
            self.unpaused.notify_waiters();
        }
        let hz = srv.config.get_i64("hz").clamp(1, 500) as u64;
        Duration::from_micros(1_000_000 / hz)
    }

    /// Whether an eviction stopped by its time limit has more to do.
    pub fn evicting(&self) -> bool {
        self.srv.lock().evicting
    }

    /// One more round of eviction (up to its time limit).
    pub fn evict_step(&self) {
        let mut srv = self.srv.lock();
        crate::evict::perform(&mut srv, None);
    }

    /// SIGTERM or SIGINT: shut down like SHUTDOWN with no argument.
    pub fn signal(&self, name: &str) {
        let mut srv = self.srv.lock();
        tracing::warn!("Received {name} scheduling shutdown...");
        cmd::server::begin_shutdown(&mut srv, cmd::server::ShutdownMode::Default);
        // A failed final save keeps the server running, as in Redis.
        if srv.shutting_down {
            self.shutdown.notify_one();
        }
    }
}

fn run_locked(
    srv: &mut Server,
    id: u64,
    reqs: &mut VecDeque<Request>,
    pending: usize,
    out: &mut BytesMut,
) -> BatchReply {
    let Some(mut client) = srv.clients.remove(&id) else {
        // Killed meanwhile: its connection is closing.
        reqs.clear();
        return BatchReply {
            close: true,
            ..BatchReply::default()
        };
    };
    client.qbuf = pending;
    let now = SystemTime::now();
    client.last_interaction = now;
    client.clock = Some(now);
    srv.stats.total_reads_processed += 1;
    let start = out.len();
    let mut parked_until = None;
    warm_batch(srv, client.db, reqs);
    while let Some(req) = reqs.front() {
        srv.stats.total_net_input_bytes += req.raw_len as u64;
        if cmd::is_paused(srv, &client, &req.args) {
            srv.stats.total_net_input_bytes -= req.raw_len as u64;
            parked_until = cmd::failover::effective_pause(srv).map(|p| p.until);
            break;
        }
        let Some(req) = reqs.pop_front() else {
            break;
        };
        cmd::execute(srv, &mut client, req.args, out);
        if srv.blocking.has_ready() {
            // Serve clients blocked on keys this command made ready, before the next
            // command (Redis does it after every command of a pipeline). This client may be
            // one of them (it just blocked): it goes back in the map meanwhile.
            srv.clients.insert(id, client);
            crate::blocking::serve_ready(srv);
            let Some(c) = srv.clients.remove(&id) else {
                reqs.clear();
                return BatchReply {
                    close: true,
                    ..BatchReply::default()
                };
            };
            client = c;
            // The clock of the chain ran while the others were served.
            client.clock = None;
        }
        if client.repl.handoff.is_some() {
            break;
        }
        if client.close_after_reply || srv.shutting_down {
            reqs.clear();
            break;
        }
    }
    client.clock = None;
    srv.stats.total_net_output_bytes += (out.len() - start) as u64;
    if out.len() > start {
        srv.stats.total_writes_processed += 1;
    }
    let reply = BatchReply {
        close: client.close_after_reply,
        authenticated: client.authenticated,
        parked_until,
        handoff: client.repl.handoff.take(),
        durable: None,
        plain: plain(&client),
        resp3: client.proto == tandem_resp::Protocol::Resp3,
    };
    srv.clients.insert(client.id, client);
    reply
}

/// Whether the client is in none of the states a busy script's responder leaves alone
/// (see [`crate::busy`]).
fn plain(client: &Client) -> bool {
    let held = client.multi.is_some()
        || client.monitor
        || client.blocked
        || (client.proto == tandem_resp::Protocol::Resp2 && client.subscribed())
        || (client.authenticated && &*client.user != "default");
    !held
}

/// Most requests of one batch whose keys [`warm_batch`] looks up ahead.
const WARM_MAX: usize = 64;

/// Looks up the first argument of each request of a pipelined batch (the key of the
/// commands a pipeline mostly holds) back to back before running it (`Keyspace::warm`):
/// in a large keyspace each lookup waits on cache misses, and lookups that do not depend
/// on each other overlap theirs, where the commands, run one after the other, would wait
/// for each in turn. A hint only: an argument that is no key, or a database changed by a
/// SELECT in the batch, costs one lookup that finds nothing.
/// Measured on the 2-core VM, `redis-benchmark -P 16 -c 50 -r 1000000 -d 100` on one
/// server (SET, then GET, then INCR; two runs): server CPU per GET 1.42-1.78 us without,
/// 0.98-1.00 us with (redis-server 1.76-1.82); per SET 1.38-1.55 us, 1.18-1.22 us
/// (redis-server 1.65-1.68); INCR, mostly creating keys, 1.22-1.42 us, 1.29-1.31 us
/// (redis-server 1.33-1.40).
fn warm_batch(srv: &Server, db: usize, reqs: &VecDeque<Request>) {
    if reqs.len() < 2 {
        return;
    }
    let mut found = 0usize;
    let mut previous: Option<&Bytes> = None;
    for req in reqs.iter().take(WARM_MAX) {
        let Some(key) = req.args.get(1) else {
            continue;
        };
        // A pipeline on one key (LPUSH mylist ...) needs one lookup ahead, not one each.
        if previous != Some(key) {
            found += usize::from(srv.ks.warm(db, key));
            previous = Some(key);
        }
    }
    std::hint::black_box(found);
}

/// Periodic work at `hz`: pause expiry, idle client timeout, statistics samples.
fn cron(srv: &mut Server) {
    srv.hz_ticks += 1;
    crate::alloc::sample();
    let now = Instant::now();
    if let Some(p) = srv.pause {
        if now >= p.until {
            srv.pause = None;
        }
    }
    let timeout = srv.config.get_i64("timeout");
    if timeout > 0 {
        let limit = Duration::from_secs(timeout as u64);
        let wall = SystemTime::now();
        for c in srv.clients.values_mut() {
            if !c.monitor
                && !c.repl.is_replica
                && !c.blocked
                && wall
                    .duration_since(c.last_interaction)
                    .is_ok_and(|idle| idle > limit)
            {
                tracing::debug!("Closing idle client");
                let _ = c.events.send(ClientEvent::Kill);
            }
        }
    }
    let paused = cmd::failover::expiry_paused(srv);
    srv.ks.set_expire_paused(paused);
    // A pause keeps the dataset still: no key expires meanwhile (Redis's
    // `activeExpireCycle`), so a FAILOVER's replicas can catch up with a fixed offset.
    if !srv.ks.config().replica_mode
        && srv.active_expire_enabled
        && cmd::failover::effective_pause(srv).is_none()
    {
        // Redis's slow cycle: up to 25% of the time between two cron runs.
        let hz = srv.config.get_i64("hz").clamp(1, 500) as u64;
        let budget = Duration::from_micros(1_000_000 / hz / 4);
        let started = Instant::now();
        srv.ks.active_expire_cycle(cmd::data::now_ms(), budget);
        let ms = started.elapsed().as_millis() as u64;
        srv.latency_monitor.add_if_needed("expire-cycle", ms);
        cmd::data::after_command(srv, None);
        if srv.blocking.has_ready() {
            crate::blocking::serve_ready(srv);
        }
    }
    if srv.evict.maxmemory > 0 {
        // Goes on with an eviction the time limit stopped (Redis's evictionTimeProc).
        crate::evict::perform(srv, None);
    }
    crate::persist::cron(srv);
    crate::repl::cron(srv);
    crate::aof::cron(srv);
    let s = &mut srv.stats;
    s.samples.push((
        now,
        s.total_commands_processed,
        s.total_net_input_bytes,
        s.total_net_output_bytes,
    ));
    if s.samples.len() > 16 {
        s.samples.remove(0);
    }
}

/// Writes `bytes` to every MONITOR client.
pub fn feed_monitors(srv: &mut Server, line: Bytes) {
    let ids: Vec<u64> = srv
        .clients
        .values()
        .filter(|c| c.monitor && !c.killed)
        .map(|c| c.id)
        .collect();
    for id in ids {
        crate::cmd::pubsub::push_to(srv, id, line.clone());
    }
}
