//! The executor: the one thread that runs commands.
//!
//! Connection tasks (tokio) read and decode; each read of a pipelined connection becomes one
//! [`Msg::Batch`]. The executor runs a batch's commands back to back, encodes their replies
//! into one buffer and hands it back through a oneshot channel; the connection task writes it.
//! Because only this thread touches [`Server`], commands have one total order and no other
//! client's command can interleave with a batch. A batch that meets a paused command
//! (CLIENT PAUSE) is parked as a [`Job`] and resumed, in arrival order, when the pause ends.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use tandem_resp::Request;
use tokio::sync::oneshot;
use tokio::sync::mpsc::UnboundedSender;

use crate::client::{Client, ClientEvent, ConnMeta};
use crate::cmd;
use crate::server::Server;

/// A message from the network side to the executor.
pub enum Msg {
    /// A new connection was accepted.
    Connect {
        id: u64,
        meta: ConnMeta,
        events: UnboundedSender<ClientEvent>,
    },
    /// Requests decoded from one read, and where to send the replies.
    Batch {
        id: u64,
        reqs: Vec<Request>,
        /// Bytes still buffered after decoding (CLIENT LIST `qbuf`).
        pending: usize,
        reply: oneshot::Sender<BatchReply>,
    },
    /// The connection closed.
    Disconnect { id: u64 },
    /// SIGTERM or SIGINT.
    Signal(&'static str),
}

/// The executor's answer to a batch.
#[derive(Debug, Default)]
pub struct BatchReply {
    pub out: BytesMut,
    /// Close the connection once `out` is written (QUIT, CLIENT KILL of itself, shutdown).
    pub close: bool,
    /// Whether the client is authenticated now (the decoder's limits depend on it).
    pub authenticated: bool,
}

/// A batch being executed, possibly parked by CLIENT PAUSE.
pub struct Job {
    pub id: u64,
    pub reqs: VecDeque<Request>,
    pub out: BytesMut,
    pub reply: oneshot::Sender<BatchReply>,
}

/// Runs the executor loop until shutdown. Returns the exit code for the process.
pub fn run(mut srv: Server, rx: Receiver<Msg>) -> i32 {
    let mut parked: VecDeque<Job> = VecDeque::new();
    let mut next_cron = Instant::now();
    loop {
        let hz = srv.config.get_i64("hz").clamp(1, 500) as u64;
        let period = Duration::from_micros(1_000_000 / hz);
        let now = Instant::now();
        if now >= next_cron {
            cron(&mut srv);
            next_cron = now + period;
            resume_parked(&mut srv, &mut parked);
        }
        let wait = next_cron.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(msg) => handle(&mut srv, &mut parked, msg),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if srv.shutting_down {
            return cmd::server::finish_shutdown(&mut srv);
        }
    }
    0
}

fn handle(srv: &mut Server, parked: &mut VecDeque<Job>, msg: Msg) {
    match msg {
        Msg::Connect { id, meta, events } => {
            let authed = !srv.requires_auth();
            srv.stats.total_connections_received += 1;
            srv.clients.insert(id, Client::new(id, meta, events, authed));
        }
        Msg::Batch {
            id,
            reqs,
            pending,
            reply,
        } => {
            let in_bytes: usize = reqs.iter().map(|r| r.raw_len).sum();
            srv.stats.total_net_input_bytes += in_bytes as u64;
            if let Some(c) = srv.clients.get_mut(&id) {
                c.qbuf = pending;
                c.last_interaction = Instant::now();
            }
            let job = Job {
                id,
                reqs: reqs.into(),
                out: BytesMut::new(),
                reply,
            };
            // A client with a parked batch keeps its order: later batches queue behind it.
            if parked.iter().any(|j| j.id == id) {
                parked.push_back(job);
            } else if let Some(job) = run_job(srv, job) {
                parked.push_back(job);
            }
        }
        Msg::Disconnect { id } => {
            srv.clients.remove(&id);
            parked.retain(|j| j.id != id);
        }
        Msg::Signal(name) => {
            tracing::warn!("Received {name} scheduling shutdown...");
            cmd::server::begin_shutdown(srv, cmd::server::ShutdownMode::Default);
        }
    }
}

/// Executes a job's requests in order. Returns the job back when a pause parks it.
fn run_job(srv: &mut Server, mut job: Job) -> Option<Job> {
    let Some(mut client) = srv.clients.remove(&job.id) else {
        // The client vanished (killed); drop the job, its connection is closing.
        return None;
    };
    let mut parked = false;
    while let Some(req) = job.reqs.front() {
        if cmd::is_paused(srv, &client, &req.args) {
            parked = true;
            break;
        }
        let Some(req) = job.reqs.pop_front() else {
            break;
        };
        cmd::execute(srv, &mut client, req.args, &mut job.out);
        if client.close_after_reply || srv.shutting_down {
            job.reqs.clear();
            break;
        }
    }
    let authenticated = client.authenticated;
    let close = client.close_after_reply;
    srv.clients.insert(client.id, client);
    if parked {
        return Some(job);
    }
    srv.stats.total_net_output_bytes += job.out.len() as u64;
    let _ = job.reply.send(BatchReply {
        out: job.out,
        close,
        authenticated,
    });
    None
}

/// Re-runs parked jobs in arrival order once the pause allows it.
fn resume_parked(srv: &mut Server, parked: &mut VecDeque<Job>) {
    if parked.is_empty() {
        return;
    }
    let mut still = VecDeque::new();
    while let Some(job) = parked.pop_front() {
        if still.iter().any(|j: &Job| j.id == job.id) {
            still.push_back(job);
            continue;
        }
        if let Some(job) = run_job(srv, job) {
            still.push_back(job);
        }
    }
    *parked = still;
}

/// Periodic work at `hz`: pause expiry, idle client timeout, statistics samples.
fn cron(srv: &mut Server) {
    srv.hz_ticks += 1;
    let now = Instant::now();
    if let Some(p) = srv.pause {
        if now >= p.until {
            srv.pause = None;
        }
    }
    let timeout = srv.config.get_i64("timeout");
    if timeout > 0 {
        let limit = Duration::from_secs(timeout as u64);
        for c in srv.clients.values_mut() {
            if !c.monitor && now.duration_since(c.last_interaction) > limit {
                tracing::debug!("Closing idle client");
                let _ = c.events.send(ClientEvent::Kill);
            }
        }
    }
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
pub fn feed_monitors(srv: &Server, line: Bytes) {
    for c in srv.clients.values() {
        if c.monitor {
            let _ = c.events.send(ClientEvent::Write(line.clone()));
        }
    }
}
