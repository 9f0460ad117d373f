//! Per-client state kept by the executor.
//!
//! The connection task owns the socket; the executor owns everything a command can read or
//! change about a client (selected database, protocol, name, authentication, reply mode,
//! flags). The two talk through [`ClientEvent`]s (executor → connection) and batches
//! (connection → executor, see [`crate::exec`]).

use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use tandem_resp::Protocol;
use tokio::sync::mpsc::UnboundedSender;

/// Something the executor asks a connection task to do outside a batch reply.
#[derive(Debug)]
pub enum ClientEvent {
    /// Close the connection now (CLIENT KILL, timeout, shutdown).
    Kill,
    /// Write these bytes to the socket (MONITOR feed, pushes).
    Write(Bytes),
    /// The client authenticated while a script was busy ([`crate::busy`]): the
    /// connection task lifts the limits it decodes unauthenticated requests with.
    LoggedIn,
}

/// What a client's connection task still has to write of the pushes sent to it (Pub/Sub
/// messages, the MONITOR feed), shared with the executor, which enforces
/// `client-output-buffer-limit` on it; and the switch that closes the connection at
/// once, even while the task waits for a full socket.
#[derive(Debug, Default)]
pub struct OutQueue {
    pending: std::sync::atomic::AtomicU64,
    dead: std::sync::atomic::AtomicBool,
    kill: tokio::sync::Notify,
}

impl OutQueue {
    /// Bytes sent to the connection task and not yet written to the socket.
    pub fn pending(&self) -> u64 {
        self.pending.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The connection task wrote `n` bytes of pushes.
    pub fn written(&self, n: usize) {
        self.pending
            .fetch_sub(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Closes the connection now, whatever its task is waiting for.
    pub fn kill(&self) {
        self.dead.store(true, std::sync::atomic::Ordering::Release);
        self.kill.notify_waiters();
    }

    /// Completes when [`OutQueue::kill`] was called (before or after).
    pub async fn killed(&self) {
        loop {
            let mut wait = std::pin::pin!(self.kill.notified());
            // Registered before the flag is read: a kill in between still wakes it.
            wait.as_mut().enable();
            if self.dead.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            wait.await;
        }
    }
}

/// Sends bytes for a connection task to write, counted in its [`OutQueue`] (see
/// [`Client::push`]). Returns the bytes now waiting.
pub fn push_to(events: &UnboundedSender<ClientEvent>, out: &OutQueue, bytes: Bytes) -> u64 {
    let n = bytes.len() as u64;
    let before = out
        .pending
        .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    let _ = events.send(ClientEvent::Write(bytes));
    before + n
}

/// How replies are currently delivered (CLIENT REPLY).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// The current command's reply is skipped (set from `SkipNext` when a command starts).
    Skip,
}

/// Static facts about a connection, known when it is accepted.
#[derive(Clone, Debug)]
pub struct ConnMeta {
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub fd: i64,
}

/// The two times a command sees, in milliseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdTime {
    /// What decides whether a key has expired: the clock read when the command started,
    /// or the start of the EXEC or script it runs in (`Server::frozen_now`).
    pub now: i64,
    /// The clock read when the command started: what TTL arithmetic uses (TTL, EXPIRE,
    /// SET EX), as Redis 7.0 reads `mstime()` there even inside a transaction.
    pub clock: i64,
}

impl CmdTime {
    /// Both times from one clock read now (a command with no time set by
    /// `cmd::execute`, such as one run again for a blocked client).
    pub fn fresh() -> CmdTime {
        let now = crate::cmd::data::now_ms();
        CmdTime { now, clock: now }
    }
}

/// The executor's view of one client.
#[derive(Debug)]
pub struct Client {
    pub id: u64,
    pub meta: ConnMeta,
    pub events: UnboundedSender<ClientEvent>,
    /// Wall-clock time of the connection (Redis's `ctime`).
    pub created: SystemTime,
    /// Wall-clock time of the client's last batch (Redis's `lastinteraction`, also wall
    /// clock): one clock read per batch serves it and the batch's first command.
    pub last_interaction: SystemTime,
    pub db: usize,
    pub proto: Protocol,
    pub name: Option<Bytes>,
    pub authenticated: bool,
    /// The ACL user the client is authenticated as (`(superuser)` for internal clients).
    pub user: std::sync::Arc<str>,
    pub reply_mode: ReplyMode,
    pub monitor: bool,
    pub no_evict: bool,
    /// Pub/Sub subscriptions, in subscription order (see [`crate::cmd::pubsub`]).
    pub sub_channels: Vec<Bytes>,
    pub sub_patterns: Vec<Bytes>,
    pub sub_shard_channels: Vec<Bytes>,
    /// Set by CLIENT KILL / QUIT: the connection closes after the current batch.
    pub close_after_reply: bool,
    /// Full name (`client|list`) of the last command executed.
    pub last_cmd: &'static str,
    /// Bytes in the query buffer when the last batch was handed over.
    pub qbuf: usize,
    /// Bytes of arguments of the command being executed.
    pub argv_mem: usize,
    /// The times of the command being executed (set by `cmd::execute` around the
    /// handler): its expiry time and its clock (see [`CmdTime`]).
    pub cmd_time: Option<CmdTime>,
    /// Inside a batch: the clock read that ended the previous command (or began the
    /// batch), which starts the next one. One read per command then both ends one
    /// command's duration and starts the next (see `cmd::execute`); `None` outside a
    /// batch, where a command reads the clock at both ends.
    pub clock: Option<SystemTime>,
    /// Commands queued since MULTI (None outside a transaction).
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command was rejected while queueing: EXEC answers EXECABORT.
    pub multi_error: bool,
    /// Keys WATCHed: (db, key, whether it was logically expired when watched).
    pub watched: Vec<(usize, Bytes, bool)>,
    /// A watched key was touched: EXEC fails.
    pub dirty_cas: bool,
    // added for CLIENT/INFO
    /// CLIENT KILL sent this client a [`ClientEvent::Kill`]; it no longer counts as connected
    /// (CLIENT LIST, CLIENT KILL, INFO) while its connection task closes.
    pub killed: bool,
    /// Blocked on keys (BLPOP, ...): CLIENT LIST flag `b`, see [`crate::blocking`].
    pub blocked: bool,
    /// Replication: REPLCONF declarations, replica flag, pending handoff.
    pub repl: crate::repl::ClientRepl,
    /// The replica's pseudo client that runs its master's stream (`flags=M`).
    pub is_master: bool,
    /// The pseudo client `redis.call` runs commands with (ACL LOG context `lua`).
    pub in_script: bool,
    /// Pushes on their way to the socket (see [`OutQueue`]).
    pub out: std::sync::Arc<OutQueue>,
    /// Since when the pushes waiting for this client exceed its class's soft limit.
    pub obuf_soft_since: Option<std::time::Instant>,
}

impl Client {
    /// A client with no connection behind it (the master's stream, the AOF's loader, a
    /// script's `redis.call`): authenticated, its events read by nobody.
    pub fn detached(id: u64, meta: ConnMeta) -> Client {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        Client::new(id, meta, tx, true)
    }

    pub fn new(
        id: u64,
        meta: ConnMeta,
        events: UnboundedSender<ClientEvent>,
        authenticated: bool,
    ) -> Client {
        let now = SystemTime::now();
        Client {
            id,
            meta,
            events,
            created: now,
            last_interaction: now,
            db: 0,
            proto: Protocol::Resp2,
            name: None,
            authenticated,
            user: "default".into(),
            reply_mode: ReplyMode::On,
            monitor: false,
            no_evict: false,
            sub_channels: Vec::new(),
            sub_patterns: Vec::new(),
            sub_shard_channels: Vec::new(),
            close_after_reply: false,
            last_cmd: "NULL",
            qbuf: 0,
            argv_mem: 0,
            cmd_time: None,
            clock: None,
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            dirty_cas: false,
            killed: false,
            out: Default::default(),
            obuf_soft_since: None,
            blocked: false,
            repl: crate::repl::ClientRepl::default(),
            is_master: false,
            in_script: false,
        }
    }

    /// Redis's `flags=` letters for CLIENT LIST.
    /// Sends bytes for the connection task to write (a Pub/Sub message, the MONITOR
    /// feed), counted in its [`OutQueue`]. Returns the bytes now waiting.
    pub fn push(&self, bytes: Bytes) -> u64 {
        push_to(&self.events, &self.out, bytes)
    }

    /// Whether this client has Pub/Sub subscriptions (flag `P`; the `pubsub` class of
    /// `client-output-buffer-limit`).
    pub fn subscribed(&self) -> bool {
        !(self.sub_channels.is_empty()
            && self.sub_patterns.is_empty()
            && self.sub_shard_channels.is_empty())
    }

    pub fn flags(&self) -> String {
        let mut f = String::new();
        if self.repl.is_replica && !self.monitor {
            f.push('S');
        }
        if self.monitor {
            f.push('O');
        }
        if self.is_master {
            f.push('M');
        }
        if self.subscribed() {
            f.push('P');
        }
        if self.multi.is_some() {
            f.push('x');
        }
        if self.blocked {
            f.push('b');
        }
        if self.close_after_reply {
            f.push('c');
        }
        if self.no_evict {
            f.push('e');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }
}
