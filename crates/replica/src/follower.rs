//! The driver: Redis's replica flow on a tokio TCP connection.
//!
//! [`Follower::run`] loops like Redis's `replicationCron`: connect, run one
//! link ([`Follower::run_once`]) until it fails, report the failure, wait
//! [`crate::FollowerConfig::reconnect_delay`], connect again with the
//! cached master (`PSYNC <replid> <offset+1>`). One link is:
//!
//! 1. TCP connect (`Connecting to MASTER host:port`, `MASTER <-> REPLICA
//!    sync started`, `Non blocking connect for SYNC fired the event.`);
//! 2. the handshake (see [`crate::handshake`]);
//! 3. on `+FULLRESYNC` (or after the `SYNC` fallback) the payload (see
//!    [`crate::transfer`]), then an immediate `REPLCONF ACK` for a diskless
//!    transfer (that is what puts a diskless replica online in Redis);
//! 4. the command stream (see [`crate::stream`]): `REPLCONF ACK <offset>`
//!    every [`crate::FollowerConfig::ack_period`], answers to `REPLCONF
//!    GETACK`, and `MASTER timeout: no data nor PING received...` after
//!    `repl-timeout` of silence.
//!
//! The replication state (master id, applied offset, secondary id, selected
//! database) lives in the [`Follower`] and survives failed links: that is
//! Redis's cached master. It is replaced only when a full sync completes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use tandem_resp::{encode_command, RdbBulkHeader};

use crate::config::{CachedMaster, FollowerConfig};
use crate::error::FollowerError;
use crate::handler::{
    ContinueInfo, FailoverPsync, FollowerHandler, FullSyncDone, FullSyncStart, PayloadKind,
};
use crate::handshake::{check_ping_reply, parse_psync_reply, PsyncReply};
use crate::status::{LinkState, StatusHandle};
use crate::stream::{StreamEvent, StreamReader};
use crate::transfer::{read_header_line, stream_db_of_file, Fed, HeaderLine, TempRdb, Transfer};

/// Read size on the replication socket.
const READ_CHUNK: usize = 64 * 1024;
/// Longest reply line accepted during the handshake.
const MAX_LINE: usize = 64 * 1024;
/// How often a backlogged handler ([`FollowerHandler::rdb_backlogged`]) is asked again.
const BACKLOG_POLL: Duration = Duration::from_millis(1);

/// Stops a running [`Follower`] from another task.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Arc<watch::Sender<bool>>,
    kick: Arc<Notify>,
}

impl ShutdownHandle {
    /// Ask the follower to stop: [`Follower::run`] returns at its next await point.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Drop the current link (Redis's `CLIENT KILL TYPE master`): the follower keeps
    /// its cached master and reconnects, asking for a partial resynchronization. No
    /// effect between links.
    pub fn drop_link(&self) {
        self.kick.notify_waiters();
    }
}

/// Follows one master. See the module docs.
#[derive(Debug)]
pub struct Follower {
    config: FollowerConfig,
    status: StatusHandle,
    shutdown_tx: Arc<watch::Sender<bool>>,
    shutdown_rx: watch::Receiver<bool>,
    kick: Arc<Notify>,
    replid: Option<String>,
    offset: i64,
    replid2: Option<String>,
    second_replid_offset: i64,
    db: usize,
    /// The master answered `SYNC`, not `PSYNC`: no offsets, no ACKs.
    pre_psync: bool,
    /// A transfer was announced to the handler and not finished.
    transfer_open: bool,
    /// PSYNC was sent and its reply not read yet (for the log line of a cut link).
    awaiting_psync_reply: bool,
}

/// The socket plus what was read from it but not used yet.
struct Link {
    sock: TcpStream,
    rbuf: BytesMut,
    timeout: Duration,
}

impl Link {
    async fn send(&mut self, commands: &[Vec<&[u8]>]) -> Result<(), FollowerError> {
        let mut out = BytesMut::new();
        for args in commands {
            encode_command(args, &mut out);
        }
        self.sock.write_all(&out).await?;
        Ok(())
    }

    /// Read more into `rbuf`; `on_timeout` is the error when nothing comes in time.
    async fn fill(&mut self, on_timeout: fn() -> FollowerError) -> Result<usize, FollowerError> {
        self.rbuf.reserve(READ_CHUNK);
        match tokio::time::timeout(self.timeout, self.sock.read_buf(&mut self.rbuf)).await {
            Err(_) => Err(on_timeout()),
            Ok(Ok(0)) => Err(FollowerError::ConnectionClosed),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(FollowerError::Io(e)),
        }
    }

    /// One line without its `\r\n`.
    async fn read_line(
        &mut self,
        on_timeout: fn() -> FollowerError,
    ) -> Result<String, FollowerError> {
        loop {
            if let Some(nl) = self.rbuf.iter().position(|&b| b == b'\n') {
                let line = self.rbuf.split_to(nl + 1);
                let line = line.strip_suffix(b"\n").unwrap_or(&line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                return Ok(String::from_utf8_lossy(line).into_owned());
            }
            if self.rbuf.len() > MAX_LINE {
                return Err(FollowerError::UnexpectedReply(
                    "reply line too long".to_owned(),
                ));
            }
            self.fill(on_timeout).await?;
        }
    }
}

fn handshake_timeout() -> FollowerError {
    FollowerError::HandshakeTimeout
}

fn transfer_timeout() -> FollowerError {
    FollowerError::TransferTimeout
}

impl Follower {
    /// A follower for `config` (checked here; nothing connects yet).
    pub fn new(config: FollowerConfig) -> Result<Self, FollowerError> {
        config.validate()?;
        let status = StatusHandle::new(&config.master_host, config.master_port);
        let (tx, rx) = watch::channel(false);
        let (replid, offset) = match &config.cached_master {
            Some(c) => (Some(c.replid.clone()), c.offset),
            None => (None, -1),
        };
        let f = Follower {
            config,
            status,
            shutdown_tx: Arc::new(tx),
            shutdown_rx: rx,
            kick: Arc::new(Notify::new()),
            replid,
            offset,
            replid2: None,
            second_replid_offset: -1,
            db: 0,
            pre_psync: false,
            transfer_open: false,
            awaiting_psync_reply: false,
        };
        f.publish();
        Ok(f)
    }

    /// Shared access to the progress counters and link state.
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }

    /// A handle that stops [`Follower::run`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.shutdown_tx.clone(),
            kick: self.kick.clone(),
        }
    }

    /// The (replid, offset) a reconnect would try to continue from.
    pub fn cached_master(&self) -> Option<CachedMaster> {
        match &self.replid {
            Some(id) if self.offset >= 0 && !self.pre_psync => Some(CachedMaster {
                replid: id.clone(),
                offset: self.offset,
            }),
            _ => None,
        }
    }

    /// The database the stream is in (as of the applied offset).
    pub fn db(&self) -> usize {
        self.db
    }

    /// Follow the master until [`ShutdownHandle::shutdown`]: every failed
    /// link is logged, reported to [`FollowerHandler::on_link_down`] and
    /// retried after `reconnect_delay`.
    pub async fn run<H: FollowerHandler>(&mut self, handler: &mut H) {
        let mut stop = self.shutdown_rx.clone();
        let kick = self.kick.clone();
        loop {
            if *stop.borrow() {
                break;
            }
            let result = tokio::select! {
                r = self.run_once(handler) => r,
                _ = stop.wait_for(|s| *s) => Ok(()),
                _ = kick.notified() => Err(FollowerError::LinkKilled),
            };
            if *stop.borrow() {
                break;
            }
            let err = match result {
                Ok(()) => FollowerError::ConnectionClosed,
                Err(e) => e,
            };
            self.link_failed(handler, &err);
            tokio::select! {
                _ = tokio::time::sleep(self.config.reconnect_delay) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        self.stopped(handler);
    }

    fn stopped<H: FollowerHandler>(&mut self, handler: &mut H) {
        if self.transfer_open {
            self.transfer_open = false;
            handler.on_rdb_aborted(&FollowerError::ConnectionClosed);
        }
        self.status.update(|s| {
            s.state = LinkState::Stopped;
            s.link_down_since.get_or_insert_with(Instant::now);
        });
        self.publish();
    }

    fn link_failed<H: FollowerHandler>(&mut self, handler: &mut H, err: &FollowerError) {
        let was_connected = self.status.snapshot().state == LinkState::Connected;
        if was_connected && matches!(err, FollowerError::LinkKilled) {
            warn!("Connection with master lost.");
            info!("Caching the disconnected master state.");
        } else if was_connected {
            warn!("Connection with master lost: {err}");
            info!("Caching the disconnected master state.");
        } else if self.transfer_open {
            // Redis's `readSyncBulkPayload` wording for a payload cut short.
            match err {
                FollowerError::ConnectionClosed => {
                    warn!("I/O error trying to sync with MASTER: connection lost");
                }
                FollowerError::Io(e) => warn!("I/O error trying to sync with MASTER: {e}"),
                other => warn!("{other}"),
            }
        } else if self.status.snapshot().state == LinkState::Handshake
            && matches!(err, FollowerError::ConnectionClosed)
        {
            // Redis's `receiveSynchronousResponse` wording for a reply that never came
            // (the `strerror` of a clean EOF is "Success").
            warn!("Failed to read response from the server: Success");
            if self.awaiting_psync_reply {
                warn!("Master did not reply to PSYNC, will try later");
            } else {
                warn!("Master did not respond to command during SYNC handshake");
            }
        } else {
            warn!("{err}");
        }
        self.awaiting_psync_reply = false;
        if self.transfer_open {
            self.transfer_open = false;
            handler.on_rdb_aborted(err);
        }
        self.status.update(|s| {
            s.state = LinkState::Connect;
            s.last_error = Some(err.to_string());
            if was_connected || s.link_down_since.is_none() {
                s.link_down_since = Some(Instant::now());
            }
        });
        handler.on_link_down(err);
    }

    /// Copy the replication state into the status.
    fn publish(&self) {
        let (replid, offset) = (self.replid.clone(), self.offset);
        let (replid2, second) = (self.replid2.clone(), self.second_replid_offset);
        self.status.update(|s| {
            s.replid = replid;
            s.offset = offset;
            s.read_offset = s.read_offset.max(offset);
            s.replid2 = replid2;
            s.second_replid_offset = second;
        });
    }

    fn set_state(&self, state: LinkState) {
        self.status.update(|s| s.state = state);
    }

    /// One link: connect, handshake, sync, stream until the link fails.
    /// Returns the error that ended it. The replication state is kept.
    pub async fn run_once<H: FollowerHandler>(
        &mut self,
        handler: &mut H,
    ) -> Result<(), FollowerError> {
        let cfg = &self.config;
        info!(
            "Connecting to MASTER {}:{}",
            cfg.master_host, cfg.master_port
        );
        self.status.update(|s| {
            s.state = LinkState::Connecting;
            s.attempts += 1;
        });
        info!("MASTER <-> REPLICA sync started");
        let addr = (cfg.master_host.as_str(), cfg.master_port);
        let sock = match tokio::time::timeout(cfg.repl_timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(FollowerError::HandshakeTimeout),
            Ok(Err(e)) => return Err(FollowerError::Connect(e)),
            Ok(Ok(s)) => s,
        };
        let _ = sock.set_nodelay(true);
        info!("Non blocking connect for SYNC fired the event.");
        if let Ok(local) = sock.local_addr() {
            handler.on_connected(local, std::os::fd::AsRawFd::as_raw_fd(&sock));
        }
        self.set_state(LinkState::Handshake);
        let mut link = Link {
            sock,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            timeout: cfg.repl_timeout,
        };

        self.handshake(&mut link).await?;
        match self.psync(&mut link, handler).await? {
            Synced::Continue => {}
            Synced::Full { replid, offset } => {
                self.transfer(&mut link, handler, replid, offset).await?;
            }
        }
        self.stream(&mut link, handler).await
    }

    async fn handshake(&mut self, link: &mut Link) -> Result<(), FollowerError> {
        let cfg = &self.config;
        link.send(&[vec![b"PING"]]).await?;
        let pong = link.read_line(handshake_timeout).await?;
        check_ping_reply(&pong)?;
        info!("Master replied to PING, replication can continue...");

        let port = cfg.listening_port.to_string();
        let mut cmds: Vec<Vec<&[u8]>> = Vec::new();
        if let Some(pass) = &cfg.master_auth {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &cfg.master_user {
                auth.push(user.as_bytes());
            }
            auth.push(pass.as_bytes());
            cmds.push(auth);
        }
        cmds.push(vec![b"REPLCONF", b"listening-port", port.as_bytes()]);
        if let Some(ip) = &cfg.announce_ip {
            cmds.push(vec![b"REPLCONF", b"ip-address", ip.as_bytes()]);
        }
        cmds.push(vec![b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]);
        link.send(&cmds).await?;

        if cfg.master_auth.is_some() {
            let reply = link.read_line(handshake_timeout).await?;
            if reply.starts_with('-') {
                return Err(FollowerError::Auth(reply));
            }
        }
        let mut replconfs = vec!["listening-port"];
        if cfg.announce_ip.is_some() {
            replconfs.push("ip-address");
        }
        replconfs.push("capa");
        for what in replconfs {
            let reply = link.read_line(handshake_timeout).await?;
            if reply.starts_with('-') {
                info!("(Non critical) Master does not understand REPLCONF {what}: {reply}");
            }
        }
        Ok(())
    }

    async fn psync<H: FollowerHandler>(
        &mut self,
        link: &mut Link,
        handler: &mut H,
    ) -> Result<Synced, FollowerError> {
        let cached = self.cached_master();
        let (id, off) = match &cached {
            Some(c) => {
                let off = (c.offset + 1).to_string();
                info!(
                    "Trying a partial resynchronization (request {}:{off}).",
                    c.replid
                );
                (c.replid.clone(), off)
            }
            None => {
                info!("Partial resynchronization not possible (no cached master)");
                ("?".to_owned(), "-1".to_owned())
            }
        };
        let failover = self.config.failover;
        let mut request: Vec<&[u8]> = vec![b"PSYNC", id.as_bytes(), off.as_bytes()];
        if failover {
            request.push(b"FAILOVER");
        }
        if let Err(e) = link.send(&[request]).await {
            if failover {
                self.config.failover = false;
                handler.on_failover_psync(&FailoverPsync::SendFailed);
            }
            return Err(e);
        }
        self.awaiting_psync_reply = true;
        let reply = loop {
            let line = link.read_line(handshake_timeout).await?;
            if !line.is_empty() {
                break line;
            }
        };
        self.awaiting_psync_reply = false;
        let parsed = parse_psync_reply(&reply);
        if failover {
            // Asked once: a later reconnection is an ordinary replica's.
            self.config.failover = false;
            if matches!(
                parsed,
                PsyncReply::FullResync { .. } | PsyncReply::Continue { .. }
            ) {
                handler.on_failover_psync(&FailoverPsync::Accepted);
            } else {
                handler.on_failover_psync(&FailoverPsync::Rejected(reply.clone()));
                return Err(FollowerError::FailoverRejected(reply));
            }
        }
        match parsed {
            PsyncReply::FullResync { replid, offset } => {
                match &replid {
                    Some(id) => info!("Full resync from master: {id}:{offset}"),
                    None => warn!("Master replied with wrong +FULLRESYNC syntax."),
                }
                Ok(Synced::Full { replid, offset })
            }
            PsyncReply::Continue { replid } => {
                info!("Successful partial resynchronization with master.");
                let Some(cached) = cached else {
                    return Err(FollowerError::UnexpectedReply(reply));
                };
                let mut info = ContinueInfo {
                    replid: cached.replid.clone(),
                    previous_replid: None,
                    second_replid_offset: self.second_replid_offset,
                    offset: cached.offset,
                };
                if let Some(new) = replid.filter(|new| *new != cached.replid) {
                    warn!("Master replication ID changed to {new}");
                    self.replid2 = Some(cached.replid.clone());
                    self.second_replid_offset = cached.offset + 1;
                    self.replid = Some(new.clone());
                    info.replid = new;
                    info.previous_replid = Some(cached.replid);
                    info.second_replid_offset = self.second_replid_offset;
                }
                self.publish();
                self.status.update(|s| s.partial_syncs += 1);
                info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
                handler.on_continue(&info);
                Ok(Synced::Continue)
            }
            PsyncReply::TryLater(msg) => {
                info!("Master is currently unable to PSYNC but should be in the future: {msg}");
                Err(FollowerError::TryLater(msg))
            }
            PsyncReply::NotSupported(msg) => {
                if msg.starts_with("-ERR") {
                    info!("Master does not support PSYNC or is in error state (reply: {msg})");
                } else {
                    warn!("Unexpected reply to PSYNC from master: {msg}");
                }
                info!("Retrying with SYNC...");
                link.sock.write_all(b"SYNC\r\n").await?;
                Ok(Synced::Full {
                    replid: None,
                    offset: -1,
                })
            }
        }
    }

    async fn transfer<H: FollowerHandler>(
        &mut self,
        link: &mut Link,
        handler: &mut H,
        replid: Option<String>,
        offset: i64,
    ) -> Result<(), FollowerError> {
        self.status.update(|s| {
            s.state = LinkState::Transfer;
            s.sync_total_bytes = -1;
            s.sync_read_bytes = 0;
            s.sync_last_io = Some(Instant::now());
        });
        let cfg = self.config.clone();
        let file = match &cfg.rdb_file {
            Some(f) if !cfg.decode_rdb || handler.save_payload_to_file() => {
                Some(create_temp(f).await?)
            }
            _ => None,
        };
        let to = if file.is_some() {
            "to disk"
        } else {
            "to parser"
        };

        let header = loop {
            let line = link.read_line(transfer_timeout).await?;
            self.status
                .update(|s| s.sync_last_io = Some(Instant::now()));
            match read_header_line(line.as_bytes())? {
                HeaderLine::KeepAlive => continue,
                HeaderLine::Header(h) => break h,
            }
        };
        let payload = match header {
            RdbBulkHeader::Len(len) => {
                info!("MASTER <-> REPLICA sync: receiving {len} bytes from master {to}");
                self.status
                    .update(|s| s.sync_total_bytes = i64::try_from(len).unwrap_or(i64::MAX));
                PayloadKind::Sized(len)
            }
            RdbBulkHeader::Eof(_) => {
                info!("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF {to}");
                PayloadKind::EofMarked
            }
        };
        handler.on_full_sync_start(&FullSyncStart {
            replid: replid.clone(),
            offset,
            payload,
        });
        self.transfer_open = true;

        let mut t = Transfer::new(header, cfg.decode_rdb, cfg.verify_checksum, file);
        let mut chunk = link.rbuf.split();
        let trailing = loop {
            if !chunk.is_empty() {
                let fed = t.feed(&chunk, &mut |item, object_type| {
                    handler.on_rdb_item_typed(item, object_type);
                })?;
                let read = i64::try_from(t.received()).unwrap_or(i64::MAX);
                self.status.update(|s| {
                    s.sync_read_bytes = read;
                    s.sync_last_io = Some(Instant::now());
                });
                if let Fed::Done { consumed } = fed {
                    break chunk.split_off(consumed);
                }
                chunk.clear();
            }
            // Items the handler has not consumed yet stay in memory: stop reading (the
            // master's socket fills and waits) until it catches up.
            while handler.rdb_backlogged() {
                tokio::time::sleep(BACKLOG_POLL).await;
            }
            link.fill(transfer_timeout).await?;
            chunk = link.rbuf.split();
        };

        let saved = match t.take_file() {
            Some(f) => Some(f.finish().map_err(FollowerError::TempFile)?),
            None => None,
        };
        if let Some(path) = &saved {
            handler.on_rdb_saved(path);
        }
        let stream_db = t
            .stream_db()
            .or_else(|| saved.as_deref().and_then(stream_db_of_file))
            .unwrap_or(0);

        // The new history starts here: adopt the master's id and offset.
        self.pre_psync = offset < 0;
        self.replid = replid.clone();
        self.offset = offset;
        self.replid2 = None;
        self.second_replid_offset = -1;
        self.db = stream_db;
        self.transfer_open = false;
        self.status.update(|s| {
            s.full_syncs += 1;
            s.read_offset = offset;
        });
        self.publish();
        handler.on_rdb_done(&FullSyncDone {
            replid,
            offset,
            payload_bytes: t.payload_bytes(),
            stream_db,
        });
        info!("MASTER <-> REPLICA sync: Finished with success");

        // Whatever followed the payload is the start of the stream.
        link.rbuf = trailing;
        if matches!(header, RdbBulkHeader::Eof(_)) && !self.pre_psync {
            // The first ACK is what puts a diskless replica online.
            self.send_ack(link, self.offset).await?;
        }
        Ok(())
    }

    async fn send_ack(&self, link: &mut Link, offset: i64) -> Result<(), FollowerError> {
        let off = offset.to_string();
        link.send(&[vec![b"REPLCONF", b"ACK", off.as_bytes()]])
            .await
    }

    async fn stream<H: FollowerHandler>(
        &mut self,
        link: &mut Link,
        handler: &mut H,
    ) -> Result<(), FollowerError> {
        let now = Instant::now();
        self.status.update(|s| {
            s.state = LinkState::Connected;
            s.link_down_since = None;
            s.last_io = Some(now);
        });
        let mut reader = StreamReader::new(self.offset, self.db);
        let mut last_io = now;
        let mut events = Vec::new();
        let mut buf = vec![0u8; READ_CHUNK];
        let pending = link.rbuf.split();
        if !pending.is_empty() {
            reader.feed(&pending);
        }
        let mut ack = tokio::time::interval(self.config.ack_period);
        ack.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ack.tick().await;
        loop {
            let decoded = reader.decode(&mut events);
            for ev in events.drain(..) {
                match ev {
                    StreamEvent::GetAck { offset } => self.send_ack(link, offset).await?,
                    StreamEvent::Command(cmd) => handler.on_command(cmd),
                }
            }
            handler.on_commands_applied();
            self.offset = reader.applied_offset();
            self.db = reader.applied_db();
            let (applied, read) = (reader.applied_offset(), reader.read_offset());
            self.status.update(|s| {
                s.offset = applied;
                s.read_offset = read;
            });
            decoded?;

            tokio::select! {
                r = link.sock.read(&mut buf) => {
                    let n = r?;
                    if n == 0 {
                        return Err(FollowerError::ConnectionClosed);
                    }
                    last_io = Instant::now();
                    self.status.update(|s| s.last_io = Some(last_io));
                    reader.feed(&buf[..n]);
                }
                _ = ack.tick() => {
                    if last_io.elapsed() > self.config.repl_timeout {
                        return Err(FollowerError::MasterTimeout);
                    }
                    if !self.pre_psync {
                        self.send_ack(link, reader.applied_offset()).await?;
                    }
                }
            }
        }
    }
}

/// What PSYNC led to.
enum Synced {
    Continue,
    Full { replid: Option<String>, offset: i64 },
}

/// Create the temp file, retrying like Redis (5 tries, one second apart).
async fn create_temp(cfg: &crate::config::RdbFileConfig) -> Result<TempRdb, FollowerError> {
    let mut tries = 5;
    loop {
        match TempRdb::create(&cfg.dir, &cfg.filename) {
            Ok(f) => return Ok(f),
            Err(e) if tries > 1 && e.kind() == std::io::ErrorKind::AlreadyExists => {
                tries -= 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                warn!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}");
                return Err(FollowerError::TempFile(e));
            }
        }
    }
}
