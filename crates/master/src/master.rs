//! The master's replication state: replicas, the stream, full and partial resyncs, WAIT.
//!
//! [`Master`] lives inside the server's state and is only touched under the server lock, so
//! everything here runs in the one total order of commands (design brief, invariant 1):
//!
//! * **Propagation.** Commands executed by one execution unit (a command, or a whole EXEC)
//!   are collected with [`Master::also_propagate`] and fed at the end of the unit by
//!   [`Master::flush`], wrapped in `MULTI`/`EXEC` when there are several (Redis's
//!   `propagatePendingCommands`). A `SELECT` is fed whenever the database differs from the
//!   last one fed (`slaveseldb`). Every byte goes to the [`Backlog`] (which counts
//!   `master_repl_offset`) and is queued to each replica's task.
//! * **Synchronization.** [`Master::sync`] answers PSYNC/SYNC: `+CONTINUE` plus the
//!   backlog's bytes when the history allows, else a full resync: the replica waits in
//!   `wait_bgsave` until a snapshot starts (at once, or after `repl-diskless-sync-delay` to
//!   gather more replicas into one diskless transfer), then gets `+FULLRESYNC <replid>
//!   <offset>` and the RDB of the snapshot taken at that offset, then the stream from that
//!   offset, which was queued for it meanwhile.
//! * **Feedback.** Each replica's [`Link`] carries its acknowledged offset and the bytes
//!   queued for it; [`Master::cron`] pings replicas, drops those past
//!   `client-output-buffer-limit replica` or silent for `repl-timeout`, starts pending
//!   snapshots and frees the backlog after `repl-backlog-ttl`. WAIT registers a waiter
//!   that ACKs wake.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tandem_backlog::{Backlog, PsyncDecision, ReplId, ReplicationIds};
use tandem_keyspace::{Keyspace, KeyspaceConfig};
use tandem_rdb::ReplAux;
use tokio::sync::{mpsc, oneshot};

use crate::encode::{encode_command, encode_select};
use crate::link::{Feed, Link, LinkEvent, Payload, ReplicaTask};
use crate::replconf::{ReplConf, REQ_RDB_EXCLUDE_DATA};
use crate::transfer::{self, SnapshotJob, Transfer, CHUNKS_IN_FLIGHT};
use crate::unix_secs;

/// The directives the master acts on (Redis 7.0.15 defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterConfig {
    /// `repl-diskless-sync` (yes).
    pub diskless_sync: bool,
    /// `repl-diskless-sync-delay` (5 s).
    pub diskless_sync_delay: Duration,
    /// `repl-diskless-sync-max-replicas` (0: no limit).
    pub diskless_sync_max_replicas: usize,
    /// `repl-ping-replica-period` in seconds (10).
    pub ping_period: u64,
    /// `repl-timeout` (60 s).
    pub repl_timeout: Duration,
    /// `repl-backlog-size` (1mb).
    pub backlog_size: usize,
    /// `repl-backlog-ttl` (3600 s; 0 = never free).
    pub backlog_ttl: Duration,
    /// `client-output-buffer-limit replica` hard limit in bytes (256mb; 0 = none).
    pub obuf_hard: u64,
    /// Soft limit in bytes (64mb; 0 = none).
    pub obuf_soft: u64,
    /// Seconds over the soft limit before the replica is dropped (60).
    pub obuf_soft_seconds: u64,
    /// `min-replicas-to-write` (0 = off).
    pub min_replicas_to_write: usize,
    /// `min-replicas-max-lag` in seconds (10).
    pub min_replicas_max_lag: i64,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            diskless_sync: true,
            diskless_sync_delay: Duration::from_secs(5),
            diskless_sync_max_replicas: 0,
            ping_period: 10,
            repl_timeout: Duration::from_secs(60),
            backlog_size: tandem_backlog::DEFAULT_BACKLOG_SIZE,
            backlog_ttl: Duration::from_secs(3600),
            obuf_hard: 256 * 1024 * 1024,
            obuf_soft: 64 * 1024 * 1024,
            obuf_soft_seconds: 60,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
        }
    }
}

/// A replica's synchronization state (Redis's `replstate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaState {
    /// Waiting for a snapshot to start.
    WaitBgsaveStart,
    /// `+FULLRESYNC` sent; the snapshot is being written (writes are queued for it).
    WaitBgsaveEnd,
    /// The disk RDB is being sent.
    SendBulk,
    /// Receiving the stream.
    Online,
    /// An `rdb-only` replica that got its RDB.
    RdbTransmitted,
}

impl ReplicaState {
    /// The `state=` of INFO's `slaveN` lines (empty: not listed).
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsaveStart | ReplicaState::WaitBgsaveEnd => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
            ReplicaState::RdbTransmitted => "",
        }
    }
}

/// One attached replica.
#[derive(Debug)]
pub struct Replica {
    /// Client id of its connection.
    pub id: u64,
    /// Peer address of its connection.
    pub peer_ip: String,
    /// What it declared with REPLCONF.
    pub conf: ReplConf,
    /// Connected with SYNC (no `+FULLRESYNC`, no ACKs expected).
    pub pre_psync: bool,
    /// Where it is in the synchronization.
    pub state: ReplicaState,
    /// The offset its full resync started from.
    pub psync_initial_offset: i64,
    /// Shared with its task: ACKs and queued bytes.
    pub link: Arc<Link>,
    waiting_since: Instant,
    socket_transfer: bool,
    soft_since: Option<Instant>,
    tx: mpsc::UnboundedSender<Feed>,
}

/// Redis's `replicationGetSlaveName`: `ip:port` (announced ip, else the peer's).
fn slave_name(conf: &ReplConf, peer_ip: &str) -> String {
    let ip = conf.ip_address.as_deref().unwrap_or(peer_ip);
    if conf.listening_port != 0 {
        if ip.contains(':') {
            format!("[{ip}]:{}", conf.listening_port)
        } else {
            format!("{ip}:{}", conf.listening_port)
        }
    } else {
        format!("{ip}:<unknown-replica-port>")
    }
}

impl Replica {
    /// `ip:port` as Redis names replicas in its logs.
    pub fn name(&self) -> String {
        slave_name(&self.conf, &self.peer_ip)
    }

    /// The address INFO and ROLE show: the announced one, else the peer's.
    pub fn ip(&self) -> &str {
        self.conf.ip_address.as_deref().unwrap_or(&self.peer_ip)
    }

    /// Acknowledged offset.
    pub fn ack_off(&self) -> i64 {
        self.link.ack_off.load(Ordering::SeqCst)
    }

    /// Stream bytes queued and not yet written.
    pub fn pending_bytes(&self) -> usize {
        self.link.pending.load(Ordering::SeqCst)
    }

    fn feedable(&self) -> bool {
        !self.conf.rdb_only && self.state != ReplicaState::WaitBgsaveStart
    }

    fn send(&self, bytes: Bytes) {
        self.link.queued(bytes.len());
        if self.tx.send(Feed::Stream(bytes)).is_err() {
            // The task is gone; the server removes the replica when its connection ends.
        }
    }
}

/// INFO stats counters of synchronizations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// `sync_full`.
    pub sync_full: u64,
    /// `sync_partial_ok`.
    pub sync_partial_ok: u64,
    /// `sync_partial_err`.
    pub sync_partial_err: u64,
}

/// Why the master wants a replica connection closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Over `client-output-buffer-limit replica`: the caller logs Redis's client line,
    /// then calls [`Master::remove_replica`].
    OutputBufferLimit,
    /// No ACK for `repl-timeout` (already logged).
    Timeout,
}

/// A PSYNC or SYNC request.
#[derive(Debug)]
pub struct SyncRequest<'a> {
    /// Client id of the connection.
    pub client_id: u64,
    /// Its peer address.
    pub peer_ip: String,
    /// What it declared with REPLCONF.
    pub conf: &'a ReplConf,
    /// The command (`PSYNC replid offset [FAILOVER]` or `SYNC`).
    pub args: &'a [Bytes],
}

/// The answer to [`Master::sync`].
#[derive(Debug)]
pub enum SyncOutcome {
    /// Reply with this error (no leading `-`); the connection stays a normal client.
    Error(String),
    /// The connection is now a replica: run this task on its socket (anything written to
    /// the reply buffer must be sent first).
    Replica(ReplicaTask),
}

struct Waiter {
    client_id: u64,
    offset: i64,
    numreplicas: usize,
    tx: oneshot::Sender<usize>,
}

/// The master role's state; see the module docs.
pub struct Master {
    /// `master_replid`, `master_replid2`, `second_repl_offset`.
    pub ids: ReplicationIds,
    /// The backlog and `master_repl_offset`.
    pub backlog: Backlog,
    /// Directives, refreshed by the server.
    pub config: MasterConfig,
    /// INFO stats.
    pub stats: SyncStats,
    /// Set while this node is itself a replica: it generates no stream of its own (no
    /// propagation, PING or GETACK) and only proxies its master's with
    /// [`Master::feed_proxied`].
    pub proxy_only: bool,
    /// INFO's `master_failover_state` (the server's FAILOVER sets it).
    pub failover_state: &'static str,
    /// Set while a FAILOVER with a timeout holds writes back: no PING is fed, so that the
    /// offset the replicas must reach stays put (Redis skips it then too).
    pub hold_pings: bool,
    replicas: Vec<Replica>,
    /// `slaveseldb`: the database of the last SELECT fed (None: force one).
    seldb: Option<usize>,
    pending: Vec<Op>,
    exec_depth: u32,
    /// Stream bytes fed (to the backlog too) and not yet handed to the replicas.
    out: BytesMut,
    /// Set between [`Master::begin_batch`] and [`Master::end_batch`]: what is fed waits in
    /// `out` and reaches the replicas once, at the batch's end.
    deferring: bool,
    transfer: Option<Transfer>,
    waiters: Vec<Waiter>,
    cron_loops: u64,
    last_second: Option<Instant>,
    /// The same execution units encoded for the append-only file (see [`Master::set_aof`]).
    aof: Option<AofFeed>,
}

/// The AOF's copy of the propagated commands: its own SELECT state, as Redis's
/// `aof_selected_db`.
#[derive(Debug, Default)]
struct AofFeed {
    out: BytesMut,
    seldb: Option<usize>,
}

impl AofFeed {
    fn command<A: AsRef<[u8]>>(&mut self, db: Option<usize>, argv: &[A]) {
        if let Some(db) = db {
            if self.seldb != Some(db) {
                encode_select(&mut self.out, db);
                self.seldb = Some(db);
            }
        }
        encode_command(&mut self.out, argv);
    }
}

/// The commands of one execution unit in stream order: each with its database, wrapped in
/// MULTI (in the first command's database) and EXEC (the last one's) for a transaction.
fn unit_commands(
    ops: &[Op],
    transaction: bool,
    fed: impl Fn(Targets) -> bool,
    mut emit: impl FnMut(Option<usize>, &[Bytes]),
) {
    if transaction {
        emit(ops.first().map(|o| o.db), &[Bytes::from_static(b"MULTI")]);
    }
    for op in ops.iter().filter(|op| fed(op.to)) {
        emit(Some(op.db), &op.argv);
    }
    if transaction {
        emit(ops.last().map(|o| o.db), &[Bytes::from_static(b"EXEC")]);
    }
}

/// Which feeds a propagated command goes to (Redis's `PROPAGATE_AOF` and
/// `PROPAGATE_REPL`; a script chooses with `redis.set_repl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Targets {
    /// The replication stream (and its backlog).
    pub replicas: bool,
    /// The append-only file.
    pub aof: bool,
}

impl Targets {
    /// Both feeds: every command but those a script sent elsewhere.
    pub const ALL: Targets = Targets {
        replicas: true,
        aof: true,
    };
}

/// A command of the current execution unit, with its database and feeds.
#[derive(Debug)]
struct Op {
    db: usize,
    argv: Vec<Bytes>,
    to: Targets,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master")
            .field("ids", &self.ids)
            .field("backlog", &self.backlog)
            .field("replicas", &self.replicas.len())
            .finish_non_exhaustive()
    }
}

impl Master {
    /// A master with no replica and no backlog yet, named by `ids`.
    pub fn new(ids: ReplicationIds, config: MasterConfig) -> Master {
        Master {
            ids,
            backlog: Backlog::new(config.backlog_size),
            config,
            stats: SyncStats::default(),
            proxy_only: false,
            failover_state: "no-failover",
            hold_pings: false,
            replicas: Vec::new(),
            seldb: None,
            pending: Vec::new(),
            exec_depth: 0,
            out: BytesMut::new(),
            deferring: false,
            transfer: None,
            waiters: Vec::new(),
            cron_loops: 0,
            last_second: None,
            aof: None,
        }
    }

    // ----- propagation -----

    /// Records a command of the current execution unit for the stream and the AOF
    /// (Redis's `alsoPropagate`). Dropped at once while there is no backlog (no replica
    /// ever) and no AOF.
    #[inline]
    pub fn also_propagate(&mut self, db: usize, argv: Vec<Bytes>) {
        self.also_propagate_to(db, argv, Targets::ALL);
    }

    /// [`Master::also_propagate`] to some of the feeds only (a script's
    /// `redis.set_repl`). Dropped at once when none of them is on.
    #[inline]
    pub fn also_propagate_to(&mut self, db: usize, argv: Vec<Bytes>, to: Targets) {
        let replicas = to.replicas && self.backlog.is_active() && !self.proxy_only;
        let aof = to.aof && self.aof.is_some();
        if replicas || aof {
            self.pending.push(Op {
                db,
                argv,
                to: Targets { replicas, aof },
            });
        }
    }

    /// Turns the append-only feed on or off. While on, every execution unit is also
    /// encoded for the AOF (MULTI/EXEC around transactions, a SELECT whenever the database
    /// changes, as Redis's `feedAppendOnlyFile`), whether or not replicas exist and on a
    /// replica too; [`Master::take_aof`] hands the bytes over. Turning it on (again)
    /// forces a SELECT before the next command, as a new AOF file needs.
    pub fn set_aof(&mut self, on: bool) {
        self.aof = on.then(AofFeed::default);
    }

    /// Whether the append-only feed is on.
    #[inline]
    pub fn aof_on(&self) -> bool {
        self.aof.is_some()
    }

    /// The AOF bytes fed since the last call (empty when the feed is off).
    pub fn take_aof(&mut self) -> Bytes {
        self.aof
            .as_mut()
            .map_or_else(Bytes::new, |a| a.out.split().freeze())
    }

    /// A batch of commands starts (a client's pipelined requests, or the commands of one
    /// read of this node's master's stream): what they feed reaches the replicas at
    /// [`Master::end_batch`], in one piece per replica, not command by command (Redis
    /// writes to its replicas once per event-loop turn too). The offsets and the backlog
    /// move with each command as before.
    pub fn begin_batch(&mut self) {
        self.deferring = true;
    }

    /// The batch ended: hands what it fed to the replicas and checks their output buffer
    /// limits. Returns replicas to drop.
    pub fn end_batch(&mut self) -> Vec<(u64, DropReason)> {
        self.deferring = false;
        self.deliver(Instant::now())
    }

    /// EXEC starts: the queued commands form one execution unit.
    pub fn begin_exec(&mut self) {
        self.exec_depth += 1;
    }

    /// EXEC ended: feeds its writes, wrapped in MULTI/EXEC when there are several.
    pub fn end_exec(&mut self) -> Vec<(u64, DropReason)> {
        self.exec_depth = self.exec_depth.saturating_sub(1);
        self.flush(true)
    }

    /// True while an EXEC runs (WAIT does not block then).
    #[inline]
    pub fn in_exec(&self) -> bool {
        self.exec_depth > 0
    }

    /// True when the current execution unit propagated something not yet fed.
    #[inline]
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// End of an execution unit: feeds what it propagated. With `wrap`, several commands
    /// are wrapped in MULTI/EXEC (commands; not the active expiry cycle). Nothing happens
    /// inside an EXEC (the EXEC feeds everything at its end). Returns replicas to drop.
    pub fn flush(&mut self, wrap: bool) -> Vec<(u64, DropReason)> {
        if self.exec_depth > 0 || self.pending.is_empty() {
            return Vec::new();
        }
        let ops = std::mem::take(&mut self.pending);
        // Redis wraps by the number of commands whatever their feeds, and feeds MULTI and
        // EXEC to both.
        let transaction = wrap && ops.len() > 1;
        if !self.proxy_only && (transaction || ops.iter().any(|op| op.to.replicas)) {
            unit_commands(
                &ops,
                transaction,
                |t| t.replicas,
                |db, argv| self.feed_command(db, argv),
            );
        }
        if let Some(aof) = self.aof.as_mut() {
            unit_commands(
                &ops,
                transaction,
                |t| t.aof,
                |db, argv| aof.command(db, argv),
            );
        }
        self.pending = ops;
        self.pending.clear();
        self.deliver_unless_deferring()
    }

    /// Encodes one command into the stream, preceded by SELECT when `db` differs from the
    /// last one fed. `None` (PING, GETACK) never selects.
    fn feed_command<A: AsRef<[u8]>>(&mut self, db: Option<usize>, argv: &[A]) {
        if !self.backlog.is_active() {
            return;
        }
        let start = self.out.len();
        if let Some(db) = db {
            if self.seldb != Some(db) {
                encode_select(&mut self.out, db);
                self.seldb = Some(db);
            }
        }
        encode_command(&mut self.out, argv);
        self.backlog.append(&self.out[start..]);
    }

    /// [`Master::deliver`], except inside a batch (see [`Master::begin_batch`]), whose end
    /// delivers.
    fn deliver_unless_deferring(&mut self) -> Vec<(u64, DropReason)> {
        if self.deferring {
            return Vec::new();
        }
        self.deliver(Instant::now())
    }

    /// Queues what was fed since the last delivery to every replica receiving the stream,
    /// then checks their output buffer limits.
    fn deliver(&mut self, now: Instant) -> Vec<(u64, DropReason)> {
        if !self.send_out() {
            return Vec::new();
        }
        self.check_output_limits(now)
    }

    /// Queues what was fed since the last delivery to every replica receiving the stream
    /// now; false if there was nothing. Runs before anything changes which replicas
    /// receive it (one attaching, one starting from a snapshot's offset): those bytes
    /// belong to the stream before that point.
    fn send_out(&mut self) -> bool {
        if self.out.is_empty() {
            return false;
        }
        let bytes = self.out.split().freeze();
        if self.out.capacity() > 1024 * 1024 {
            self.out = BytesMut::new();
        }
        for r in self.replicas.iter().filter(|r| r.feedable()) {
            r.send(bytes.clone());
        }
        true
    }

    fn check_output_limits(&mut self, now: Instant) -> Vec<(u64, DropReason)> {
        let (hard, soft) = (self.config.obuf_hard, self.config.obuf_soft);
        let soft_secs = Duration::from_secs(self.config.obuf_soft_seconds);
        let mut drop = Vec::new();
        for r in self.replicas.iter_mut() {
            let used = r.pending_bytes() as u64;
            let over_hard = hard > 0 && used >= hard;
            let mut over_soft = false;
            if soft > 0 && used >= soft {
                match r.soft_since {
                    None => r.soft_since = Some(now),
                    Some(since) => over_soft = now.duration_since(since) > soft_secs,
                }
            } else {
                r.soft_since = None;
            }
            if over_hard || over_soft {
                drop.push((r.id, DropReason::OutputBufferLimit));
            }
        }
        // The caller logs why, closes the connection and calls `remove_replica`.
        drop
    }

    /// Feeds bytes received from this node's own master, unchanged (a chained replica
    /// proxies its master's stream so that offsets and ids match along the chain: Redis's
    /// `replicationFeedStreamFromMasterStream`). They go to the backlog (which must exist)
    /// and to the replicas. Returns replicas to drop.
    pub fn feed_proxied(&mut self, bytes: &[u8]) -> Vec<(u64, DropReason)> {
        if !self.backlog.is_active() || bytes.is_empty() {
            return Vec::new();
        }
        self.backlog.append(bytes);
        self.out.extend_from_slice(bytes);
        self.deliver_unless_deferring()
    }

    /// Forgets which database the stream last selected, so that the next command fed is
    /// preceded by a SELECT (after a role change or a full resync).
    pub fn reset_selected_db(&mut self) {
        self.seldb = None;
    }

    /// Records the database this node's master's stream has selected, while proxying it
    /// with [`Master::feed_proxied`]: nothing is fed, but a snapshot or an RDB saved now
    /// names it as `repl-stream-db` (Redis uses its master client's database).
    pub fn set_stream_db(&mut self, db: usize) {
        self.seldb = Some(db);
    }

    /// Feeds `REPLCONF GETACK *` (WAIT asks replicas where they are).
    pub fn request_acks(&mut self) -> Vec<(u64, DropReason)> {
        if self.replicas.is_empty() || self.proxy_only {
            return Vec::new();
        }
        self.feed_command(None, &[&b"REPLCONF"[..], b"GETACK", b"*"]);
        self.deliver(Instant::now())
    }

    // ----- synchronization -----

    /// Answers PSYNC / SYNC (Redis's `syncCommand`). `job` is called only if a snapshot
    /// must start now; the master fills in its replication aux fields.
    pub fn sync(
        &mut self,
        req: SyncRequest<'_>,
        out: &mut BytesMut,
        job: impl FnOnce() -> SnapshotJob,
    ) -> SyncOutcome {
        // What the current batch fed goes to the replicas attached before this one.
        self.send_out();
        let args = req.args;
        let is_psync = args[0].eq_ignore_ascii_case(b"psync");
        if is_psync && args.len() > 3 && args[3].eq_ignore_ascii_case(b"failover") {
            tracing::warn!(
                "Failover request received for replid {}.",
                String::from_utf8_lossy(&args[1])
            );
            return SyncOutcome::Error("ERR PSYNC FAILOVER can't be sent to a master.".into());
        }
        if req.conf.req != 0 && !req.conf.capa_eof {
            return SyncOutcome::Error("ERR Filtered replica requires EOF capability".into());
        }
        let name = slave_name(req.conf, &req.peer_ip);
        tracing::info!("Replica {name} asks for synchronization");
        let mut pre_psync = false;
        if is_psync {
            let Some(offset) = tandem_resp::num::string2ll(&args[2]) else {
                tracing::warn!("Replica {name} asks for synchronization but with a wrong offset");
                return SyncOutcome::Error("ERR value is not an integer or out of range".into());
            };
            if let Some(task) = self.try_partial(&req, &name, offset, out) {
                self.stats.sync_partial_ok += 1;
                return SyncOutcome::Replica(task);
            }
            if args[1].first() != Some(&b'?') {
                self.stats.sync_partial_err += 1;
            }
        } else {
            pre_psync = true;
        }
        self.stats.sync_full += 1;
        let now = Instant::now();
        let (task, tx, link) = self.new_task(req.client_id, name, true, req.conf);
        self.replicas.push(Replica {
            id: req.client_id,
            peer_ip: req.peer_ip.clone(),
            conf: req.conf.clone(),
            pre_psync,
            state: ReplicaState::WaitBgsaveStart,
            psync_initial_offset: -1,
            link,
            waiting_since: now,
            socket_transfer: false,
            soft_since: None,
            tx,
        });
        self.backlog.set_no_replicas_since(None);
        if self.replicas.len() == 1 && !self.backlog.is_active() {
            self.ids.change_replid();
            self.ids.clear_replid2();
            self.backlog.create();
            tracing::info!(
                "Replication backlog created, my new replication IDs are '{}' and '{}'",
                self.ids.replid(),
                self.ids.replid2()
            );
        }
        match &self.transfer {
            Some(t) if !t.socket => {
                if !self.attach_to_disk_save(req.client_id) {
                    tracing::info!(
                        "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC"
                    );
                }
            }
            Some(_) => {
                tracing::info!("Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC")
            }
            None => {
                if self.config.diskless_sync
                    && req.conf.capa_eof
                    && !self.config.diskless_sync_delay.is_zero()
                {
                    tracing::info!("Delay next BGSAVE for diskless SYNC");
                } else {
                    let conf = req.conf;
                    self.start_transfer(conf.req, conf.capa_eof, job);
                }
            }
        }
        SyncOutcome::Replica(task)
    }

    fn new_task(
        &self,
        id: u64,
        name: String,
        presync: bool,
        conf: &ReplConf,
    ) -> (ReplicaTask, mpsc::UnboundedSender<Feed>, Arc<Link>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = Arc::new(Link::default());
        let task = ReplicaTask {
            id,
            name,
            feed: rx,
            link: link.clone(),
            presync,
            rdb_only: conf.rdb_only,
            repl_timeout: self.config.repl_timeout,
        };
        (task, tx, link)
    }

    /// `masterTryPartialResynchronization`: on success the replica is online and `out`
    /// holds `+CONTINUE` and the backlog's bytes.
    fn try_partial(
        &mut self,
        req: &SyncRequest<'_>,
        name: &str,
        offset: i64,
        out: &mut BytesMut,
    ) -> Option<ReplicaTask> {
        let decision = self.backlog.psync(&self.ids, &req.args[1][..], offset);
        let bytes = match &decision {
            PsyncDecision::Continue { bytes, .. } => bytes.to_bytes(),
            PsyncDecision::FullResync { reason } => {
                tracing::info!("{}", reason.log_line(name));
                if let Some(w) = reason.warning_line(name) {
                    tracing::warn!("{w}");
                }
                return None;
            }
        };
        let line = decision.log_line(name);
        if req.conf.capa_psync2 {
            out.extend_from_slice(format!("+CONTINUE {}\r\n", self.ids.replid()).as_bytes());
        } else {
            out.extend_from_slice(b"+CONTINUE\r\n");
        }
        out.extend_from_slice(&bytes);
        tracing::info!("{line}");
        let (task, tx, link) = self.new_task(req.client_id, name.to_string(), false, req.conf);
        link.ack_time.store(unix_secs(), Ordering::SeqCst);
        self.replicas.push(Replica {
            id: req.client_id,
            peer_ip: req.peer_ip.clone(),
            conf: req.conf.clone(),
            pre_psync: false,
            state: ReplicaState::Online,
            psync_initial_offset: offset,
            link,
            waiting_since: Instant::now(),
            socket_transfer: false,
            soft_since: None,
            tx,
        });
        self.backlog.set_no_replicas_since(None);
        Some(task)
    }

    fn fullresync_line(&self, r: &Replica, offset: i64) -> Option<Bytes> {
        if r.pre_psync {
            None
        } else {
            Some(Bytes::from(format!(
                "+FULLRESYNC {} {offset}\r\n",
                self.ids.replid()
            )))
        }
    }

    /// Attaches a replica waiting to start to the disk save in progress when the backlog
    /// still holds the stream since that save's offset (what Redis gets by copying the
    /// output buffer of a replica attached to that save).
    fn attach_to_disk_save(&mut self, id: u64) -> bool {
        let Some(t) = &self.transfer else {
            return false;
        };
        let Some(disk) = t.disk.clone() else {
            return false;
        };
        let offset = t.offset;
        let Some(idx) = self.replicas.iter().position(|r| r.id == id) else {
            return false;
        };
        if t.done.load(Ordering::SeqCst) || t.req != self.replicas[idx].conf.req {
            return false;
        }
        let Some(since) = self.backlog.bytes_from(offset + 1).map(|b| b.to_bytes()) else {
            return false;
        };
        let header = self.fullresync_line(&self.replicas[idx], offset);
        let r = &mut self.replicas[idx];
        let _ = r.tx.send(Feed::FullResync {
            header,
            payload: Payload::Disk(disk),
        });
        r.state = ReplicaState::WaitBgsaveEnd;
        r.psync_initial_offset = offset;
        r.socket_transfer = false;
        if !r.conf.rdb_only && !since.is_empty() {
            r.send(since);
        }
        tracing::info!("Waiting for end of BGSAVE for SYNC");
        true
    }

    /// `shouldStartChildReplication`: the requirements and the capability (all accept
    /// `$EOF:`) of the replicas a snapshot should start for now, if any.
    fn should_start(&self, now: Instant) -> Option<(u8, bool)> {
        if self.transfer.is_some() {
            return None;
        }
        let mut req = None;
        let mut eof = true;
        let mut count = 0usize;
        let mut max_idle = Duration::ZERO;
        for r in &self.replicas {
            if r.state != ReplicaState::WaitBgsaveStart {
                continue;
            }
            match req {
                None => req = Some(r.conf.req),
                Some(q) if q != r.conf.req => continue,
                Some(_) => {}
            }
            count += 1;
            eof &= r.conf.capa_eof;
            max_idle = max_idle.max(now.saturating_duration_since(r.waiting_since));
        }
        let req = req?;
        let c = &self.config;
        let go = !c.diskless_sync
            || (c.diskless_sync_max_replicas > 0 && count >= c.diskless_sync_max_replicas)
            || max_idle >= c.diskless_sync_delay;
        go.then_some((req, eof))
    }

    /// `startBgsaveForReplication`: takes the snapshot now (at the current offset) and
    /// starts writing it for every replica waiting with requirements `req`.
    fn start_transfer(&mut self, req: u8, eof: bool, job: impl FnOnce() -> SnapshotJob) {
        let socket = (self.config.diskless_sync || req != 0) && eof;
        tracing::info!(
            "Starting BGSAVE for SYNC with target: {}",
            if socket { "replicas sockets" } else { "disk" }
        );
        let offset = self.backlog.master_repl_offset();
        let mut job = job();
        if req & REQ_RDB_EXCLUDE_DATA != 0 {
            let databases = job.snapshot.databases();
            job.snapshot = Keyspace::new(KeyspaceConfig {
                databases,
                ..KeyspaceConfig::default()
            })
            .snapshot();
        }
        job.aux.repl = Some(ReplAux {
            stream_db: self.seldb.unwrap_or(0) as i64,
            id: self.ids.replid().to_string(),
            offset,
        });
        let targets: Vec<usize> = (0..self.replicas.len())
            .filter(|&i| {
                let r = &self.replicas[i];
                r.state == ReplicaState::WaitBgsaveStart && r.conf.req == req
            })
            .collect();
        let started = if socket {
            let mark = *ReplId::random().as_bytes();
            let mut sinks = Vec::with_capacity(targets.len());
            for &i in &targets {
                let (ctx, crx) = mpsc::channel(CHUNKS_IN_FLIGHT);
                sinks.push(ctx);
                let header = self.fullresync_line(&self.replicas[i], offset);
                let _ = self.replicas[i].tx.send(Feed::FullResync {
                    header,
                    payload: Payload::Socket { mark, chunks: crx },
                });
            }
            transfer::spawn_socket(job, sinks, offset, req)
        } else {
            match transfer::spawn_disk(job, offset, req) {
                Ok(t) => {
                    if let Some(disk) = &t.disk {
                        for &i in &targets {
                            let header = self.fullresync_line(&self.replicas[i], offset);
                            let _ = self.replicas[i].tx.send(Feed::FullResync {
                                header,
                                payload: Payload::Disk(disk.clone()),
                            });
                        }
                    }
                    Ok(t)
                }
                Err(e) => Err(e),
            }
        };
        match started {
            Ok(t) => {
                self.transfer = Some(t);
                for &i in &targets {
                    let r = &mut self.replicas[i];
                    r.state = ReplicaState::WaitBgsaveEnd;
                    r.psync_initial_offset = offset;
                    r.socket_transfer = socket;
                }
                // Force a SELECT before the next command: the replicas start from the RDB.
                self.seldb = None;
            }
            Err(e) => {
                tracing::warn!("Can't save in background: fork: {e}");
                tracing::warn!("BGSAVE for replication failed");
                let ids: Vec<u64> = targets.iter().map(|&i| self.replicas[i].id).collect();
                for id in ids {
                    self.remove_replica(id);
                }
            }
        }
    }

    /// A replica's task reported an event.
    pub fn link_event(&mut self, id: u64, ev: LinkEvent) {
        match ev {
            LinkEvent::Ack => self.process_waiters(),
            LinkEvent::SendBulk => {
                if let Some(r) = self.replicas.iter_mut().find(|r| r.id == id) {
                    r.state = ReplicaState::SendBulk;
                }
            }
            LinkEvent::RdbSent => {
                let Some(r) = self.replicas.iter_mut().find(|r| r.id == id) else {
                    return;
                };
                let name = r.name();
                if r.socket_transfer {
                    tracing::info!(
                        "Streamed RDB transfer with replica {name} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming"
                    );
                }
                if r.conf.rdb_only {
                    r.state = ReplicaState::RdbTransmitted;
                    tracing::info!(
                        "RDB transfer completed, rdb only replica ({name}) should be disconnected asap"
                    );
                } else {
                    r.state = ReplicaState::Online;
                    r.link.ack_time.store(unix_secs(), Ordering::SeqCst);
                    tracing::info!("Synchronization with replica {name} succeeded");
                }
            }
        }
    }

    /// Forgets a replica whose connection ended (or that the master drops); logs Redis's
    /// `Connection with replica ... lost.`. Returns whether it was attached.
    pub fn remove_replica(&mut self, id: u64) -> bool {
        let Some(idx) = self.replicas.iter().position(|r| r.id == id) else {
            return false;
        };
        let r = self.replicas.remove(idx);
        if r.state != ReplicaState::RdbTransmitted {
            tracing::info!("Connection with replica {} lost.", r.name());
        }
        if self.replicas.is_empty() {
            self.backlog.set_no_replicas_since(Some(Instant::now()));
        }
        true
    }

    /// Periodic work (call at `hz`): backlog size, end of snapshots and start of pending
    /// ones, and once a second PINGs, ACK timeouts, output buffer limits and
    /// `repl-backlog-ttl`. Returns replicas to drop.
    pub fn cron(
        &mut self,
        now: Instant,
        job: impl FnOnce() -> SnapshotJob,
    ) -> Vec<(u64, DropReason)> {
        // Outside any batch; also ends one left open.
        self.deferring = false;
        let mut drops = self.deliver(now);
        if self.backlog.size() != self.config.backlog_size.max(1) {
            self.backlog.resize(self.config.backlog_size);
        }
        if let Some(t) = &self.transfer {
            if t.done.load(Ordering::SeqCst) {
                if t.ok.load(Ordering::SeqCst) {
                    if t.socket {
                        tracing::info!("Background RDB transfer terminated with success");
                    } else {
                        tracing::info!("Background saving terminated with success");
                    }
                } else {
                    tracing::warn!("SYNC failed. BGSAVE child returned an error");
                }
                self.transfer = None;
            }
        }
        let second = self
            .last_second
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if second {
            self.last_second = Some(now);
            drops.extend(self.replication_cron(now));
        }
        if let Some((req, eof)) = self.should_start(now) {
            self.start_transfer(req, eof, job);
        }
        drops
    }

    /// The once-a-second part of Redis's `replicationCron`.
    fn replication_cron(&mut self, now: Instant) -> Vec<(u64, DropReason)> {
        let mut drops = Vec::new();
        let period = self.config.ping_period.max(1);
        if self.cron_loops.is_multiple_of(period)
            && !self.replicas.is_empty()
            && !self.proxy_only
            && !self.hold_pings
        {
            self.feed_command(None, &[&b"PING"[..]]);
            drops.extend(self.deliver(now));
        }
        let unix = unix_secs();
        let timeout = self.config.repl_timeout.as_secs() as i64;
        let timed_out: Vec<u64> = self
            .replicas
            .iter()
            .filter(|r| {
                r.state == ReplicaState::Online
                    && !r.pre_psync
                    && unix - r.link.ack_time.load(Ordering::SeqCst) > timeout
            })
            .map(|r| r.id)
            .collect();
        for id in timed_out {
            if let Some(r) = self.replicas.iter().find(|r| r.id == id) {
                tracing::warn!(
                    "Disconnecting timedout replica (streaming sync): {}",
                    r.name()
                );
            }
            self.remove_replica(id);
            drops.push((id, DropReason::Timeout));
        }
        drops.extend(self.check_output_limits(now));
        if self.replicas.is_empty()
            && !self.proxy_only
            && self
                .backlog
                .free_if_expired(&mut self.ids, now, self.config.backlog_ttl)
        {
            tracing::info!(
                "Replication backlog freed after {} seconds without connected replicas.",
                self.config.backlog_ttl.as_secs()
            );
        }
        self.cron_loops += 1;
        drops
    }

    // ----- WAIT and min-replicas -----

    /// Online replicas that acknowledged at least `offset` (`replicationCountAcksByOffset`).
    pub fn count_acks(&self, offset: i64) -> usize {
        self.replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Online && r.ack_off() >= offset)
            .count()
    }

    /// Blocks a WAIT: the receiver gets the count once `numreplicas` replicas acknowledged
    /// `offset`.
    pub fn add_waiter(
        &mut self,
        client_id: u64,
        offset: i64,
        numreplicas: usize,
    ) -> oneshot::Receiver<usize> {
        let (tx, rx) = oneshot::channel();
        self.waiters.push(Waiter {
            client_id,
            offset,
            numreplicas,
            tx,
        });
        rx
    }

    /// A WAIT timed out (or its client left): forgets it and returns the current count.
    pub fn cancel_waiter(&mut self, client_id: u64) -> Option<usize> {
        let idx = self.waiters.iter().position(|w| w.client_id == client_id)?;
        let w = self.waiters.remove(idx);
        Some(self.count_acks(w.offset))
    }

    /// `processClientsWaitingReplicas`: answers the WAITs that are satisfied.
    pub fn process_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            let n = self.count_acks(w.offset);
            if n >= w.numreplicas {
                let _ = w.tx.send(n);
            } else if !w.tx.is_closed() {
                self.waiters.push(w);
            }
        }
    }

    /// Replicas online with a lag within `min-replicas-max-lag` (`repl_good_slaves_count`).
    pub fn good_replicas(&self) -> usize {
        let unix = unix_secs();
        self.replicas
            .iter()
            .filter(|r| {
                r.state == ReplicaState::Online
                    && unix - r.link.ack_time.load(Ordering::SeqCst)
                        <= self.config.min_replicas_max_lag
            })
            .count()
    }

    /// `checkGoodReplicasStatus`: false when `min-replicas-to-write` refuses writes.
    #[inline]
    pub fn write_allowed(&self) -> bool {
        let c = &self.config;
        c.min_replicas_to_write == 0
            || c.min_replicas_max_lag == 0
            || self.good_replicas() >= c.min_replicas_to_write
    }

    // ----- introspection -----

    /// The attached replicas, in attach order.
    pub fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    /// Memory the stream queued for the replicas and not yet written holds, in bytes
    /// (allocation sizes, [`crate::link::held_size`]):
    /// the most any one replica has queued, since every replica's queue holds the same
    /// shared chunks (a later one's is a suffix of an earlier one's). Redis leaves the
    /// like of it (its replication buffer beyond the backlog) out of the memory that
    /// `maxmemory` counts, and shows it in INFO memory.
    pub fn queued_stream_bytes(&self) -> usize {
        self.replicas
            .iter()
            .map(|r| r.link.held.load(Ordering::SeqCst))
            .max()
            .unwrap_or(0)
    }

    /// Whether client `id` is an attached replica.
    pub fn is_replica(&self, id: u64) -> bool {
        self.replicas.iter().any(|r| r.id == id)
    }

    /// Whether a snapshot for replication is being written.
    pub fn transfer_in_progress(&self) -> bool {
        self.transfer.is_some()
    }

    /// The replication aux fields an RDB saved now should carry (`rdbPopulateSaveInfo` of
    /// a master): present only while there is a backlog.
    pub fn rdb_repl_aux(&self) -> Option<ReplAux> {
        self.backlog.is_active().then(|| ReplAux {
            stream_db: self.seldb.unwrap_or(0) as i64,
            id: self.ids.replid().to_string(),
            offset: self.backlog.master_repl_offset(),
        })
    }

    /// ROLE's replica list: (ip, port, acknowledged offset) of the online replicas.
    pub fn role_replicas(&self) -> Vec<(String, i64, i64)> {
        self.replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Online)
            .map(|r| (r.ip().to_string(), r.conf.listening_port, r.ack_off()))
            .collect()
    }

    /// INFO replication from `connected_slaves` to `repl_backlog_histlen`, as a master
    /// writes it.
    pub fn write_info(&self, s: &mut String) {
        use std::fmt::Write;
        let _ = write!(s, "connected_slaves:{}\r\n", self.replicas.len());
        let c = &self.config;
        if c.min_replicas_to_write != 0 && c.min_replicas_max_lag != 0 {
            let _ = write!(s, "min_slaves_good_slaves:{}\r\n", self.good_replicas());
        }
        let unix = unix_secs();
        let mut n = 0;
        for r in &self.replicas {
            let state = r.state.as_str();
            if state.is_empty() {
                continue;
            }
            let lag = if r.state == ReplicaState::Online {
                unix - r.link.ack_time.load(Ordering::SeqCst)
            } else {
                0
            };
            let _ = write!(
                s,
                "slave{n}:ip={},port={},state={state},offset={},lag={lag}\r\n",
                r.ip(),
                r.conf.listening_port,
                r.ack_off()
            );
            n += 1;
        }
        let b = &self.backlog;
        let _ = write!(
            s,
            "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\n\
             master_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\n\
             repl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
            self.failover_state,
            self.ids.replid(),
            self.ids.replid2(),
            b.master_repl_offset(),
            self.ids.second_replid_offset(),
            u8::from(b.is_active()),
            b.size(),
            b.first_byte_offset(),
            b.histlen()
        );
    }
}
