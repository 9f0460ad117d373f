//! The replica role wired into the server: REPLICAOF / `replicaof`, loading a master's
//! snapshot, applying its stream, and what a replica refuses (`-READONLY`, `-MASTERDOWN`).
//!
//! The `replica` crate ([`tandem_replica`]) does the replication work: connect, handshake,
//! PSYNC, receive and decode the RDB, read the command stream with its offsets, ACK,
//! reconnect with the cached master. This module only composes it with the server:
//!
//! * [`ReplicaState`] (a field of [`Server`]) holds the current master, the follower's
//!   [`StatusHandle`] and [`ShutdownHandle`], and the pseudo client the stream runs as.
//! * [`set_master`] / [`unset_master`] are REPLICAOF's two halves (Redis's
//!   `replicationSetMaster` / `replicationUnsetMaster`): the first spawns a [`Follower`]
//!   task on the tokio runtime, the second stops it, shifts the replication ids and makes
//!   the node a writable master again with its data.
//! * `Applier` is the follower's [`FollowerHandler`]. A full sync's RDB entries are
//!   converted into a fresh staging [`Keyspace`] on a `repl-load` thread (never on the
//!   I/O thread, nor under the server lock), while the old data keeps serving; once the
//!   payload is complete (and, in disk mode, fsynced and renamed to `dbfilename` by the
//!   follower; disk mode is `repl-diskless-load disabled`, or `on-empty-db` while this
//!   node holds keys, decided at each transfer), that thread swaps the staging keyspace in for the old one in a single
//!   step under the lock. Clients never see a half-loaded dataset (design brief,
//!   invariant 3), and a failed transfer simply drops the staging keyspace (invariant 4).
//!   Until the swap, what the stream brings is queued on the role and applied right
//!   after it, in order. Each streamed command runs through [`cmd::execute`] as the
//!   master client: replies discarded, no key considered expired
//!   ([`Keyspace::set_master_context`]), nothing propagated of its own (the master
//!   role is `proxy_only`); its exact bytes go to the backlog and to this node's own
//!   replicas ([`tandem_master::Master::feed_proxied`]), so offsets and ids match the
//!   master's along a chain and a promoted replica can serve PSYNC from them.
//! * At start-up with `replicaof`, the follower starts once the dump is loaded
//!   ([`after_load`]): an RDB with `repl-id` / `repl-offset` gives the cached master, so
//!   a restarted replica continues partially.
//! * While the link is up, the pseudo client is the master client CLIENT LIST shows
//!   (`flags=M`, [`master_link_client`]) with the link socket's `laddr` and `fd`, an id
//!   from the client counter (new after a full sync, kept across a partial resync, as
//!   Redis does) and `user=(superuser)`; `CLIENT KILL` of it ([`kill_master_link`]) drops
//!   the link, and the follower comes back with a partial resync.
//! * [`rejection`] answers `-READONLY` / `-MASTERDOWN` for normal clients;
//!   [`info_replica_fields`] and [`role`] report the replica side of INFO and ROLE.
//!
//! Callbacks of a follower that was stopped meanwhile are ignored: each follower carries
//! a generation number, compared under the lock.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use crate::cmd::CheckFlags;
use bytes::{Bytes, BytesMut};
use tandem_backlog::ReplId;
use tandem_keyspace::rdb_conv::{self, ConvError};
use tandem_keyspace::{Expiry, Keyspace, KeyspaceConfig};
use tandem_rdb::Item;
use tandem_replica::{
    CachedMaster, Command, ContinueInfo, FailoverPsync, Follower, FollowerConfig, FollowerError,
    FollowerHandler, FullSyncDone, FullSyncStart, LinkState, RdbFileConfig, ShutdownHandle,
    StatusHandle,
};

use crate::client::{Client, ConnMeta};
use crate::cmd;
use crate::exec::Core;
use crate::server::Server;

/// Client id of the master client until its link first comes up (it is not listed before;
/// each link then takes a fresh id from the server's counter, as Redis creates a new
/// master client per link).
pub const MASTER_CLIENT_ID: u64 = u64::MAX;

/// `-READONLY` reply text.
pub const READONLY_ERR: &str = "READONLY You can't write against a read only replica.";

/// `-MASTERDOWN` reply text.
pub const MASTERDOWN_ERR: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";

/// The core and the runtime, known once the server started (see [`init`]).
static RUNTIME: OnceLock<(Weak<Core>, tokio::runtime::Handle)> = OnceLock::new();

/// Replica-side state of the server: `None` role while this node is a master.
#[derive(Default)]
pub struct ReplicaState {
    role: Option<ReplicaRole>,
    /// Generation of the newest follower; callbacks of older ones are ignored.
    generation: u64,
}

impl std::fmt::Debug for ReplicaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.role {
            Some(r) => write!(f, "ReplicaState({}:{})", r.host, r.port),
            None => f.write_str("ReplicaState(master)"),
        }
    }
}

impl ReplicaState {
    /// True while this node is a replica (`server.masterhost != NULL`).
    pub fn is_active(&self) -> bool {
        self.role.is_some()
    }

    /// The configured master, while a replica.
    pub fn master(&self) -> Option<(&str, u16)> {
        self.role.as_ref().map(|r| (r.host.as_str(), r.port))
    }
}

/// Largest reply buffer of the master client kept for the next command.
const DISCARDED_KEEP_MAX: usize = 16 * 1024;

/// The current master and the follower following it.
struct ReplicaRole {
    host: String,
    port: u16,
    /// `None` when the follower could not be created (bad configuration: port 0).
    status: Option<StatusHandle>,
    stop: Option<ShutdownHandle>,
    /// The stream's pseudo client (out of the role while one of its commands runs).
    master_client: Option<Client>,
    /// Where the master client's replies are written and dropped (kept between commands,
    /// so that a command's reply does not allocate).
    discarded: BytesMut,
    /// Local address and descriptor of the current connection with the master.
    link_meta: Option<(SocketAddr, i32)>,
    /// The link was up at least once (`master_link_down_since_seconds` is -1 before).
    ever_up: bool,
    /// Offsets to show before the follower knows any (`1` in Redis with no cached master).
    initial_offset: i64,
    /// A full sync's payload is complete but its dataset is not swapped in yet.
    load_pending: bool,
    /// What the stream brought meanwhile, applied right after the swap.
    deferred: Vec<Deferred>,
    /// `replicaof` at start-up: the follower starts once the dump is loaded.
    awaiting_load: bool,
}

impl ReplicaRole {
    /// The link's state as INFO, ROLE and the command checks show it: a payload still
    /// being loaded is still the transfer.
    fn link_state(&self) -> LinkState {
        let state = self
            .status
            .as_ref()
            .map_or(LinkState::Connect, |s| s.snapshot().state);
        if self.load_pending && state == LinkState::Connected {
            LinkState::Transfer
        } else {
            state
        }
    }
}

/// Stream events that arrived while a loaded dataset waits to be swapped in.
enum Deferred {
    Continue(ContinueInfo),
    Command(Command),
}

impl Drop for ReplicaRole {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.shutdown();
        }
    }
}

/// Remembers the core and the runtime; with `replicaof` in the configuration the node is
/// a replica from now on, but its follower starts only in [`after_load`] (Redis loads
/// the dump before its replication cron connects). Called once at start-up, after the
/// [`Core`] exists and before [`crate::persist::start_loading`].
pub fn init(core: &Arc<Core>, runtime: tokio::runtime::Handle) {
    let _ = RUNTIME.set((Arc::downgrade(core), runtime));
    let mut srv = core.srv.lock();
    if let Some((host, port)) = srv.config.replicaof() {
        srv.replica.generation += 1;
        let mut role = new_role(&host, port, 1);
        role.awaiting_load = true;
        srv.replica.role = Some(role);
        set_replica_mode(&mut srv, true);
    }
}

/// The replication info of a loaded RDB (`repl-stream-db`, `repl-id`, `repl-offset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbReplInfo {
    pub stream_db: i64,
    pub replid: String,
    pub offset: i64,
}

/// The dump loaded at start-up (or there was none): a replica configured by `replicaof`
/// starts following. With the RDB's replication info, that info becomes the node's id
/// and offset and the cached master (Redis's `replicationCacheMasterUsingMyself` in
/// `loadDataFromDisk`), so the first PSYNC asks `PSYNC <repl-id> <repl-offset + 1>`.
pub fn after_load(srv: &mut Server, info: Option<RdbReplInfo>) {
    let Some(role) = srv.replica.role.as_ref().filter(|r| r.awaiting_load) else {
        return;
    };
    let (host, port) = (role.host.clone(), role.port);
    let cached = info.and_then(|i| {
        let id = ReplId::from_bytes(i.replid.as_bytes()).ok()?;
        if i.offset < 0 || i.stream_db < 0 {
            return None;
        }
        srv.master.ids.set_replid(id);
        if let Err(e) = srv.master.backlog.set_master_repl_offset(i.offset) {
            tracing::warn!("Replication offset of the RDB file not used: {e}");
            return None;
        }
        srv.master
            .set_stream_db(usize::try_from(i.stream_db).unwrap_or(0));
        tracing::info!(
            "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer."
        );
        Some(CachedMaster {
            replid: i.replid,
            offset: i.offset,
        })
    });
    follow(srv, &host, port, cached);
}

/// Becomes a replica of `host:port` (Redis's `replicationSetMaster`): stops any previous
/// follower (its position becomes the cached master), or, when this node was a master,
/// uses its own replication id and offset as the cached master, so the new master may
/// continue it partially; then starts following.
pub fn set_master(srv: &mut Server, host: &str, port: u16) {
    crate::blocking::disconnect_all(srv);
    let cached = if let Some(old) = srv.replica.role.take() {
        old.status.as_ref().and_then(|s| {
            let st = s.snapshot();
            match st.replid {
                Some(replid) if st.offset >= 0 => Some(CachedMaster {
                    replid,
                    offset: st.offset,
                }),
                _ => None,
            }
        })
    } else {
        tracing::info!(
            "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer."
        );
        Some(CachedMaster {
            replid: srv.master.ids.replid().to_string(),
            offset: srv.master.backlog.master_repl_offset(),
        })
    };
    follow(srv, host, port, cached);
}

/// Starts a follower of `host:port` that first tries to continue `cached`.
fn follow(srv: &mut Server, host: &str, port: u16, cached: Option<CachedMaster>) {
    if let Some(old) = srv.replica.role.take() {
        drop(old);
    }
    srv.replica.generation += 1;
    let generation = srv.replica.generation;
    let initial_offset = cached.as_ref().map_or(1, |c| c.offset);
    let mut role = new_role(host, port, initial_offset);
    let fcfg = follower_config(srv, host, port, cached);
    match (Follower::new(fcfg), RUNTIME.get()) {
        (Ok(mut follower), Some((core, rt))) => {
            role.status = Some(follower.status());
            role.stop = Some(follower.shutdown_handle());
            let mut applier = Applier {
                core: core.clone(),
                generation,
                loader: None,
                queued: Arc::new(AtomicUsize::new(0)),
                batch: Vec::new(),
            };
            rt.spawn(async move {
                follower.run(&mut applier).await;
            });
        }
        (Err(e), _) => tracing::warn!("Unable to start replication: {e}"),
        (Ok(_), None) => tracing::warn!("Unable to start replication: the server is not running"),
    }
    srv.replica.role = Some(role);
    set_replica_mode(srv, true);
}

fn new_role(host: &str, port: u16, initial_offset: i64) -> ReplicaRole {
    ReplicaRole {
        host: host.to_string(),
        port,
        status: None,
        stop: None,
        master_client: Some(master_client(host, port)),
        discarded: BytesMut::new(),
        link_meta: None,
        ever_up: false,
        initial_offset,
        load_pending: false,
        deferred: Vec::new(),
        awaiting_load: false,
    }
}

/// Becomes a master again (Redis's `replicationUnsetMaster`): stops the follower, keeps
/// the data and the backlog, and shifts the replication id (the master's id becomes
/// `replid2`), so former sibling replicas can continue from this node.
pub fn unset_master(srv: &mut Server) {
    let Some(role) = srv.replica.role.take() else {
        return;
    };
    srv.replica.generation += 1;
    drop(role);
    tracing::info!("Discarding previously cached master state.");
    let offset = srv.master.backlog.master_repl_offset();
    srv.master.ids.shift(offset);
    tracing::warn!("{}", srv.master.ids.shift_log_line());
    // As Redis's replicationUnsetMaster: this node's own replicas must learn the new
    // replication id; they reconnect and continue partially.
    disconnect_sub_replicas(srv);
    set_replica_mode(srv, false);
    // The first write of its own is preceded by a SELECT.
    srv.master.reset_selected_db();
}

/// Replica semantics in the keyspace and the data commands (no active expiry, reads hide
/// logically expired keys) and the log's role character.
fn set_replica_mode(srv: &mut Server, on: bool) {
    srv.ks.config_mut().replica_mode = on;
    srv.data_settings.replica_mode = on;
    // A replica generates no stream of its own (no propagation, PING, GETACK, backlog
    // expiry): it only proxies its master's.
    srv.master.proxy_only = on;
    crate::log::set_role(if on { b'S' } else { b'M' });
}

/// The follower's settings from the configuration.
fn follower_config(
    srv: &Server,
    host: &str,
    port: u16,
    cached: Option<CachedMaster>,
) -> FollowerConfig {
    let c = &srv.config;
    let mut f = FollowerConfig::new(host, port);
    let non_empty = |name: &str| Some(c.get_str(name)).filter(|s| !s.is_empty());
    f.master_auth = non_empty("masterauth");
    f.master_user = non_empty("masteruser").filter(|_| f.master_auth.is_some());
    f.announce_ip = non_empty("replica-announce-ip");
    let announced = c.get_i64("replica-announce-port");
    f.listening_port = if announced > 0 {
        u16::try_from(announced).unwrap_or(srv.port)
    } else {
        srv.port
    };
    f.repl_timeout = Duration::from_secs(c.get_i64("repl-timeout").max(1) as u64);
    f.cached_master = cached;
    f.verify_checksum = c.get_bool("rdbchecksum");
    // Whether a payload goes through the file is decided per transfer by
    // `repl-diskless-load` (`Applier::save_payload_to_file`), as Redis does.
    f.rdb_file = Some(RdbFileConfig {
        dir: c.dir(),
        filename: c.get_str("dbfilename"),
    });
    // A FAILOVER made this node a replica: its PSYNC asks the target to take over.
    f.failover = cmd::failover::in_progress(srv);
    f
}

/// The pseudo client the master's commands run as.
fn master_client(host: &str, port: u16) -> Client {
    let ip = host
        .parse::<IpAddr>()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let meta = ConnMeta {
        addr: SocketAddr::new(ip, port),
        laddr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        fd: -1,
    };
    // The master client has no connection task.
    let mut client = Client::detached(MASTER_CLIENT_ID, meta);
    client.is_master = true;
    // Redis's master client has no ACL user: CLIENT LIST shows `user=(superuser)`.
    client.user = "(superuser)".into();
    client
}

/// The link came up: age 0, the socket's local address and descriptor, and after a full
/// sync a fresh id (Redis's `replicationCreateMasterClient`). A partial resync keeps the
/// id, as Redis resurrects its cached master client.
fn renew_master_client(srv: &mut Server, full_sync: bool) {
    let Some(role) = srv.replica.role.as_mut() else {
        return;
    };
    let link = role.link_meta;
    let Some(c) = role.master_client.as_mut() else {
        return;
    };
    if full_sync || c.id == MASTER_CLIENT_ID {
        c.id = srv
            .shared
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    c.created = std::time::SystemTime::now();
    if let Some((laddr, fd)) = link {
        c.meta.laddr = laddr;
        c.meta.fd = i64::from(fd);
    }
}

// ---------------------------------------------------------------------------------------
// Command checks, INFO, ROLE
// ---------------------------------------------------------------------------------------

/// `-READONLY` for writes and `-MASTERDOWN` for data commands while the link is down with
/// `replica-serve-stale-data no`, as `processCommand` checks them; never for the master's
/// own stream.
pub fn rejection(srv: &Server, client: &Client, flags: &CheckFlags) -> Option<&'static str> {
    let role = srv.replica.role.as_ref()?;
    if client.is_master {
        return None;
    }
    if flags.write && read_only_replica(srv) {
        return Some(READONLY_ERR);
    }
    if !flags.stale
        && !srv.config.get_bool("replica-serve-stale-data")
        && role.link_state() != LinkState::Connected
    {
        return Some(MASTERDOWN_ERR);
    }
    None
}

/// A replica with `replica-read-only yes`: writes from its clients (not from its master)
/// are refused.
pub fn read_only_replica(srv: &Server) -> bool {
    srv.replica.is_active() && srv.config.get_bool("replica-read-only")
}

/// A replica whose link is down with `replica-serve-stale-data no` (Redis's
/// `running_stale` in the script checks).
pub fn running_stale(srv: &Server) -> bool {
    srv.replica.role.as_ref().is_some_and(|role| {
        role.link_state() != LinkState::Connected
            && !srv.config.get_bool("replica-serve-stale-data")
    })
}

/// The master client as CLIENT LIST shows it (`flags=M`): only while the link is up, as
/// Redis creates its master client when a sync completes and frees it with the link.
pub fn master_link_client(srv: &Server) -> Option<&Client> {
    let role = srv.replica.role.as_ref()?;
    if role.link_state() != LinkState::Connected {
        return None;
    }
    role.master_client.as_ref()
}

/// `CLIENT KILL` of the master client: the follower drops the link, keeps its cached
/// master and reconnects with a partial resynchronization. False when no link is up.
pub fn kill_master_link(srv: &mut Server) -> bool {
    let Some(role) = srv.replica.role.as_ref() else {
        return false;
    };
    if role.link_state() != LinkState::Connected {
        return false;
    }
    if let Some(stop) = &role.stop {
        stop.drop_link();
    }
    true
}

/// True while this node is a replica whose link with its master is not up (PSYNC/SYNC
/// from its own replicas then get `-NOMASTERLINK`).
pub fn link_down(srv: &Server) -> bool {
    srv.replica
        .role
        .as_ref()
        .is_some_and(|r| r.link_state() != LinkState::Connected)
}

/// The replica-side fields of INFO replication, in 7.0.15's order (nothing for a master):
/// `master_host` ... `slave_repl_offset`, the transfer's progress while it runs,
/// `master_link_down_since_seconds` while the link is down, then `slave_priority`,
/// `slave_read_only`, `replica_announced`.
pub fn info_replica_fields(srv: &Server, out: &mut String) {
    use std::fmt::Write;
    let Some(role) = srv.replica.role.as_ref() else {
        return;
    };
    let st = role.status.as_ref().map(StatusHandle::snapshot);
    let state = role.link_state();
    let connected = state == LinkState::Connected;
    let (read_off, off) = match &st {
        Some(s) if s.offset >= 0 => (s.read_offset.max(s.offset), s.offset),
        _ => (role.initial_offset, role.initial_offset),
    };
    let last_io = match &st {
        Some(s) if connected => s.last_io_seconds_ago(),
        _ => -1,
    };
    let _ = write!(
        out,
        "master_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n\
         master_last_io_seconds_ago:{last_io}\r\nmaster_sync_in_progress:{}\r\n\
         slave_read_repl_offset:{read_off}\r\nslave_repl_offset:{off}\r\n",
        role.host,
        role.port,
        state.link_status(),
        u8::from(state == LinkState::Transfer),
    );
    if let Some(s) = st.as_ref().filter(|_| state == LinkState::Transfer) {
        let total = s.sync_total_bytes;
        let read = s.sync_read_bytes;
        let perc = if total != 0 {
            read as f64 / total as f64 * 100.0
        } else {
            0.0
        };
        let _ = write!(
            out,
            "master_sync_total_bytes:{total}\r\nmaster_sync_read_bytes:{read}\r\n\
             master_sync_left_bytes:{}\r\nmaster_sync_perc:{perc:.2}\r\n\
             master_sync_last_io_seconds_ago:{}\r\n",
            total - read,
            s.sync_last_io_seconds_ago().max(0),
        );
    }
    if !connected {
        let down = match &st {
            Some(s) if role.ever_up => s.link_down_seconds(),
            _ => -1,
        };
        let _ = write!(out, "master_link_down_since_seconds:{down}\r\n");
    }
    let c = &srv.config;
    let _ = write!(
        out,
        "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
        c.get_i64("replica-priority"),
        u8::from(c.get_bool("replica-read-only")),
        u8::from(c.get_bool("replica-announced")),
    );
}

/// ROLE for a replica: `slave`, master host, master port, link state, applied offset (-1
/// while no master link). Returns false (nothing written) for a master.
pub fn role(ctx: &mut cmd::Ctx<'_>) -> bool {
    let Some(role) = ctx.srv.replica.role.as_ref() else {
        return false;
    };
    let st = role.status.as_ref().map(StatusHandle::snapshot);
    let state = role.link_state();
    let name: &[u8] = match state {
        LinkState::Connect => b"connect",
        LinkState::Connecting => b"connecting",
        LinkState::Handshake => b"handshake",
        LinkState::Transfer => b"sync",
        LinkState::Connected => b"connected",
        LinkState::Stopped => b"none",
    };
    let offset = match &st {
        Some(s) if state == LinkState::Connected => s.offset,
        _ => -1,
    };
    let (host, port) = (role.host.clone(), role.port);
    let mut enc = ctx.enc();
    enc.array_len(5);
    enc.bulk(b"slave");
    enc.bulk(host.as_bytes());
    enc.integer(i64::from(port));
    enc.bulk(name);
    enc.integer(offset);
    true
}

// ---------------------------------------------------------------------------------------
// The follower's handler
// ---------------------------------------------------------------------------------------

/// A full sync's dataset being converted, on the `repl-load` thread.
struct Staging {
    ks: Keyspace,
    keys_loaded: u64,
    /// Why the payload cannot be loaded (module data, a database out of range).
    error: Option<String>,
    /// AUX fields, logged when the load is applied (Redis logs them while loading).
    aux: Vec<(Bytes, Bytes)>,
    /// The database of the last SELECTDB (where a RESIZEDB hint applies).
    db: usize,
    /// The master's function libraries: they replace this node's when the load applies.
    functions: Vec<Bytes>,
}

/// What the follower's callbacks (on the I/O thread) hand to the `repl-load` thread.
enum LoadMsg {
    Start(Box<KeyspaceConfig>),
    /// Items in payload order, [`LOAD_BATCH`] at a time, so the channel's costs (a send,
    /// a receive, maybe a wake-up) are paid per batch rather than per key.
    Items(Vec<(Item, Option<u8>)>),
    Abort,
    Done(FullSyncDone),
}

/// Applies what the follower reads to the server.
struct Applier {
    core: Weak<Core>,
    generation: u64,
    /// The `repl-load` thread, started at the first full sync. One thread per follower,
    /// fed in order, so loads and swaps happen in the order the payloads arrived.
    loader: Option<mpsc::Sender<LoadMsg>>,
    /// Items sent to the `repl-load` thread and not converted yet (it zeroes the count
    /// when it exits, so a dead loader never holds the transfer).
    queued: Arc<AtomicUsize>,
    /// Items read and not yet handed over: sent when [`LOAD_BATCH`] long, and before any
    /// other message, so the loader sees everything in payload order.
    batch: Vec<(Item, Option<u8>)>,
}

/// Items per [`LoadMsg::Items`].
const LOAD_BATCH: usize = 256;

/// Items the `repl-load` thread may have waiting before the follower stops reading the
/// payload: the decoded form of a key takes several times its RDB bytes, so an unbounded
/// queue (the master sends faster than keys are converted) raised the replica's peak RSS.
const LOAD_QUEUE_MAX: usize = 16 * 1024;

/// Runs `f` under the lock when follower `generation` is still the current one.
fn with_current(core: &Weak<Core>, generation: u64, f: impl FnOnce(&mut Server)) {
    let Some(core) = core.upgrade() else {
        return;
    };
    let mut srv = core.srv.lock();
    if srv.replica.generation != generation || srv.replica.role.is_none() {
        return;
    }
    f(&mut srv);
}

impl Applier {
    /// Runs `f` under the lock when this follower is still the current one.
    fn with_server(&self, f: impl FnOnce(&mut Server)) {
        with_current(&self.core, self.generation, f);
    }

    /// Queues one item for the `repl-load` thread, handing the batch over when full.
    fn queue_item(&mut self, item: Item, object_type: Option<u8>) {
        if self.batch.capacity() == 0 {
            self.batch.reserve_exact(LOAD_BATCH);
        }
        self.batch.push((item, object_type));
        if self.batch.len() >= LOAD_BATCH {
            self.flush_batch();
        }
    }

    fn flush_batch(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.deliver(LoadMsg::Items(batch));
        }
    }

    /// Hands `msg` to the `repl-load` thread after the items read before it.
    fn send_to_loader(&mut self, msg: LoadMsg) {
        self.flush_batch();
        self.deliver(msg);
    }

    /// Sends `msg` to the `repl-load` thread, starting it when needed.
    fn deliver(&mut self, msg: LoadMsg) {
        if self.loader.is_none() {
            let (tx, rx) = mpsc::channel();
            let (core, generation) = (self.core.clone(), self.generation);
            let queued = self.queued.clone();
            let spawned = std::thread::Builder::new()
                .name("repl-load".into())
                .spawn(move || {
                    loader_thread(&core, generation, &rx, &queued);
                    queued.store(0, Ordering::Relaxed);
                });
            match spawned {
                Ok(_) => self.loader = Some(tx),
                Err(e) => {
                    tracing::warn!("Can't create the replica's loading thread: {e}");
                    return;
                }
            }
        }
        if let Some(tx) = &self.loader {
            // Counted before the send: the loader may convert the items at once.
            if let LoadMsg::Items(items) = &msg {
                self.queued.fetch_add(items.len(), Ordering::Relaxed);
            }
            if tx.send(msg).is_err() {
                self.loader = None;
                self.queued.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// The `repl-load` thread: converts RDB items into the staging keyspace, then swaps it in
/// under the lock and applies what the stream brought meanwhile.
fn loader_thread(
    core: &Weak<Core>,
    generation: u64,
    rx: &mpsc::Receiver<LoadMsg>,
    queued: &AtomicUsize,
) {
    let mut staging: Option<Staging> = None;
    // Counts as a background job from Start to Done or Abort.
    let mut _job = None;
    while let Ok(msg) = rx.recv() {
        match msg {
            LoadMsg::Start(cfg) => {
                _job = Some(tandem_keyspace::background::job());
                staging = Some(Staging {
                    ks: Keyspace::new(*cfg),
                    keys_loaded: 0,
                    error: None,
                    aux: Vec::new(),
                    db: 0,
                    functions: Vec::new(),
                });
            }
            LoadMsg::Items(items) => {
                let n = items.len();
                if let Some(st) = staging.as_mut() {
                    for (item, object_type) in items {
                        stage_item(st, item, object_type);
                    }
                }
                queued.fetch_sub(n, Ordering::Relaxed);
            }
            // The old data was never touched: dropping the staging set is the rollback.
            LoadMsg::Abort => {
                staging = None;
                _job = None;
            }
            LoadMsg::Done(done) => {
                let st = staging.take();
                with_current(core, generation, |srv| {
                    if let Some(st) = st {
                        apply_full_sync(srv, st, &done);
                    }
                    finish_pending_load(srv);
                });
                _job = None;
            }
        }
    }
}

/// The dataset is swapped in: applies, in order, what the stream brought meanwhile.
fn finish_pending_load(srv: &mut Server) {
    let Some(role) = srv.replica.role.as_mut() else {
        return;
    };
    role.load_pending = false;
    let deferred = std::mem::take(&mut role.deferred);
    for d in deferred {
        match d {
            Deferred::Continue(info) => apply_continue(srv, &info),
            Deferred::Command(c) => apply_command(srv, c),
        }
    }
    end_read_batch(srv);
}

/// Ends what the commands of one read of the stream share (see [`apply_command`]): the
/// clock reading, and the batch of bytes proxied to this node's own replicas.
fn end_read_batch(srv: &mut Server) {
    if let Some(c) = srv
        .replica
        .role
        .as_mut()
        .and_then(|r| r.master_client.as_mut())
    {
        c.clock = None;
    }
    crate::repl::end_batch(srv);
}

fn stage_item(st: &mut Staging, item: Item, object_type: Option<u8>) {
    if st.error.is_some() {
        return;
    }
    match item {
        Item::Entry(e) => {
            let db = e.db as usize;
            if db >= st.ks.databases() {
                st.error = Some(too_many_dbs(st.ks.databases()));
                return;
            }
            match rdb_conv::from_rdb_stored(e.value, &st.ks.config().limits, object_type) {
                Ok(value) => {
                    let expiry = e.expire_ms.map_or(Expiry::Clear, Expiry::At);
                    // The keyspace copies the key's bytes into its entry, so the decoded
                    // key (maybe a slice of a large read buffer) is not kept.
                    st.ks.set(db, e.key, value, expiry);
                    st.keys_loaded += 1;
                }
                Err(ConvError::Module(name)) => {
                    st.error = Some(format!(
                        "The RDB file contains module data I can't load: no matching module '{name}'"
                    ));
                }
            }
        }
        Item::SelectDb(db) if db as usize >= st.ks.databases() => {
            st.error = Some(too_many_dbs(st.ks.databases()));
        }
        Item::SelectDb(db) => st.db = db as usize,
        // Sized up front, as Redis's `dictExpand`: no rehash while a million keys arrive.
        Item::ResizeDb(r) => st.ks.reserve(st.db, r.db_size),
        Item::Aux { key, value } => st.aux.push((key, value)),
        Item::Function(f) => st.functions.push(f.code),
        _ => {}
    }
}

fn too_many_dbs(n: usize) -> String {
    format!(
        "Data file was created with a Redis server configured to handle more than {n} databases."
    )
}

impl FollowerHandler for Applier {
    fn on_full_sync_start(&mut self, _start: &FullSyncStart) {
        let mut cfg = None;
        self.with_server(|srv| {
            let mut c = crate::server::keyspace_config(&srv.config);
            c.replica_mode = true;
            cfg = Some(c);
        });
        if let Some(cfg) = cfg {
            self.send_to_loader(LoadMsg::Start(Box::new(cfg)));
        }
    }

    fn save_payload_to_file(&mut self) -> bool {
        // Redis's `useDisklessLoad`, read at each transfer: `disabled` goes through
        // `temp-<unixtime>.<pid>.rdb` renamed to `dbfilename`, `swapdb` never does,
        // `on-empty-db` does only while this node holds keys.
        let mut to_file = true;
        self.with_server(|srv| {
            to_file = match srv.config.get_str("repl-diskless-load").as_str() {
                "swapdb" => false,
                "on-empty-db" => (0..srv.ks.databases()).any(|db| srv.ks.dbsize(db) > 0),
                _ => true,
            };
        });
        to_file
    }

    fn on_rdb_item_typed(&mut self, item: Item, object_type: Option<u8>) {
        if self.loader.is_some() {
            self.queue_item(item, object_type);
        }
    }

    fn rdb_backlogged(&self) -> bool {
        self.loader.is_some() && self.queued.load(Ordering::Relaxed) >= LOAD_QUEUE_MAX
    }

    fn on_rdb_aborted(&mut self, _error: &FollowerError) {
        // The staging set is dropped whole: the items still here need not travel.
        self.batch.clear();
        if self.loader.is_some() {
            self.send_to_loader(LoadMsg::Abort);
        }
    }

    fn on_rdb_done(&mut self, done: &FullSyncDone) {
        // From now on the stream waits for the swap (made by the loading thread).
        self.with_server(|srv| {
            if let Some(role) = srv.replica.role.as_mut() {
                role.load_pending = true;
            }
        });
        self.send_to_loader(LoadMsg::Done(done.clone()));
    }

    fn on_continue(&mut self, info: &ContinueInfo) {
        self.with_server(|srv| match srv.replica.role.as_mut() {
            Some(role) if role.load_pending => role.deferred.push(Deferred::Continue(info.clone())),
            _ => apply_continue(srv, info),
        });
    }

    fn on_command(&mut self, command: Command) {
        self.with_server(|srv| match srv.replica.role.as_mut() {
            Some(role) if role.load_pending => role.deferred.push(Deferred::Command(command)),
            _ => apply_command(srv, command),
        });
    }

    fn on_commands_applied(&mut self) {
        self.with_server(end_read_batch);
    }

    fn on_connected(&mut self, local: SocketAddr, fd: i32) {
        self.with_server(|srv| {
            if let Some(role) = srv.replica.role.as_mut() {
                role.link_meta = Some((local, fd));
            }
        });
    }

    fn on_failover_psync(&mut self, outcome: &FailoverPsync) {
        self.with_server(|srv| cmd::failover::psync_answered(srv, outcome));
    }
}

/// `+CONTINUE`: adopts the master's id (shifting ours when it changed) and makes sure the
/// backlog exists at the continued offset.
fn apply_continue(srv: &mut Server, info: &ContinueInfo) {
    if let Some(role) = srv.replica.role.as_mut() {
        role.ever_up = true;
    }
    renew_master_client(srv, false);
    let Ok(id) = ReplId::from_bytes(info.replid.as_bytes()) else {
        return;
    };
    if info.previous_replid.is_some() && srv.master.ids.replid() != &id {
        srv.master.ids.shift_to(id, info.offset);
        disconnect_sub_replicas(srv);
    } else if srv.master.ids.replid() != &id {
        srv.master.ids.set_replid(id);
    }
    if !srv.master.backlog.is_active() {
        let _ = srv.master.backlog.create_at(info.offset);
    } else if srv.master.backlog.master_repl_offset() != info.offset {
        let _ = srv.master.backlog.set_master_repl_offset(info.offset);
    }
}

/// Swaps the loaded dataset in for the old one, under the lock: clients see either the
/// old data or the new, never a part of it.
fn apply_full_sync(srv: &mut Server, st: Staging, done: &FullSyncDone) {
    if let Some(err) = st.error {
        tracing::warn!("{err}");
        tracing::warn!(
            "Failed trying to load the MASTER synchronization DB from disk, check server logs."
        );
        // Start over with a full sync; the old data stays.
        if let Some((host, port)) = srv.replica.master().map(|(h, p)| (h.to_string(), p)) {
            follow(srv, &host, port, None);
        }
        return;
    }
    // This node's own replicas must resync from the new history.
    disconnect_sub_replicas(srv);
    let lazy = srv.config.get_bool("replica-lazy-flush");
    tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
    srv.scripting.restore_functions(&st.functions);
    let mut ks = st.ks;
    // The running configuration wins over the one the staging set was made with.
    *ks.config_mut() = srv.ks.config().clone();
    ks.config_mut().replica_mode = true;
    let old = std::mem::replace(&mut srv.ks, ks);
    // The loaded keys are not announced (no `new` events for a full sync's dataset).
    drop(srv.ks.take_notes());
    // Every WATCH is broken, as by a FLUSHALL.
    let watchers: Vec<u64> = srv.watched_keys.values().flatten().copied().collect();
    for id in watchers {
        if let Some(c) = srv.clients.get_mut(&id) {
            c.dirty_cas = true;
        }
    }
    // Keys of the new dataset may serve clients blocked on them (XREAD BLOCK).
    for db in 0..srv.ks.databases() {
        srv.blocking.signal_db(db);
    }
    crate::blocking::serve_ready(srv);
    if lazy {
        let freed = std::thread::Builder::new()
            .name("lazyfree-sync".into())
            .spawn(move || {
                let _job = tandem_keyspace::background::low_priority_job();
                drop(old)
            });
        if let Err(e) = freed {
            tracing::warn!("Could not free the old dataset in the background: {e}");
        }
    } else {
        drop(old);
    }
    tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
    for (key, value) in &st.aux {
        let text = String::from_utf8_lossy(value);
        match &key[..] {
            b"redis-ver" => tracing::info!("Loading RDB produced by version {text}"),
            b"ctime" => {
                if let Ok(t) = text.parse::<i64>() {
                    let age = (crate::persist::unix_now() - t).max(0);
                    tracing::info!("RDB age {age} seconds");
                }
            }
            b"used-mem" => {
                if let Ok(m) = text.parse::<u64>() {
                    tracing::info!(
                        "RDB memory usage when created {:.2} Mb",
                        m as f64 / (1024.0 * 1024.0)
                    );
                }
            }
            _ => {}
        }
    }
    tracing::info!(
        "Done loading RDB, keys loaded: {}, keys expired: 0.",
        st.keys_loaded
    );
    if let Some(id) = done
        .replid
        .as_deref()
        .and_then(|r| ReplId::from_bytes(r.as_bytes()).ok())
    {
        srv.master.ids.set_replid(id);
        srv.master.ids.clear_replid2();
    }
    if let Err(e) = srv.master.backlog.create_at(done.offset.max(0)) {
        tracing::warn!("Replication backlog not created: {e}");
    }
    srv.master.set_stream_db(done.stream_db);
    if let Some(role) = srv.replica.role.as_mut() {
        role.ever_up = true;
        if let Some(c) = role.master_client.as_mut() {
            c.multi = None;
            c.multi_error = false;
            c.db = done.stream_db;
        }
    }
    renew_master_client(srv, true);
    // The AOF's base no longer matches the data: a new base from the synced dataset
    // (Redis's restartAOFAfterSYNC).
    if srv.aof.on {
        crate::aof::restart_after_sync(srv);
    }
}

/// Runs one command of the master's stream as the master client; its exact bytes go to
/// the backlog and to this node's own replicas, so that offsets follow the master's byte
/// for byte along a chain.
fn apply_command(srv: &mut Server, command: Command) {
    if !command.is_housekeeping() {
        let Some((mut client, mut out)) = srv.replica.role.as_mut().and_then(|r| {
            let client = r.master_client.take()?;
            Some((client, std::mem::take(&mut r.discarded)))
        }) else {
            return;
        };
        out.clear();
        // Queued commands of a transaction run at EXEC in the database their own SELECTs
        // (queued too) pick, so only a command outside MULTI takes the stream's database.
        if client.multi.is_none() {
            client.db = command.db;
        }
        // The commands of one read share a clock chain, as a client's pipelined batch
        // does (`exec.rs`): each costs one clock read. `on_commands_applied` ends it.
        let now = client.clock.unwrap_or_else(std::time::SystemTime::now);
        client.last_interaction = now;
        client.clock = Some(now);
        let name = command.name();
        // Replies are discarded; nothing is propagated of its own (`proxy_only`).
        srv.ks.set_master_context(true);
        cmd::execute(srv, &mut client, command.args, &mut out);
        srv.ks.set_master_context(false);
        if out.first() == Some(&b'-') && client.multi.is_none() {
            let text = String::from_utf8_lossy(&out[1..]).trim_end().to_string();
            tracing::warn!(
                "== CRITICAL == This replica is sending an error to its master: '{text}' after processing the command '{name}'"
            );
        }
        let ready = srv.blocking.has_ready();
        if ready {
            // The clock of the chain runs while the others are served.
            client.clock = None;
        }
        if let Some(role) = srv.replica.role.as_mut() {
            role.master_client = Some(client);
            // A rare big reply (a write returning data) does not keep its buffer.
            if out.capacity() <= DISCARDED_KEEP_MAX {
                role.discarded = out;
            }
        }
        // Clients blocked on keys the command made ready (XREAD BLOCK on a replica).
        if ready {
            crate::blocking::serve_ready(srv);
        }
    }
    // The commands of one read reach this node's own replicas in one piece
    // (`end_read_batch`, at the end of the read, ends the batch).
    srv.master.begin_batch();
    let drops = srv.master.feed_proxied(&command.raw);
    srv.master.set_stream_db(command.db);
    if srv.master.backlog.master_repl_offset() != command.offset {
        let _ = srv.master.backlog.set_master_repl_offset(command.offset);
    }
    crate::repl::close_dropped(srv, drops);
}

/// Closes this node's own replicas (chained replicas) so that they resync.
fn disconnect_sub_replicas(srv: &mut Server) {
    let ids: Vec<u64> = srv.master.replicas().iter().map(|r| r.id).collect();
    for id in ids {
        srv.master.remove_replica(id);
        if let Some(c) = srv.clients.get_mut(&id) {
            let _ = c.events.send(crate::client::ClientEvent::Kill);
            c.killed = true;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn server() -> Server {
        use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize};
        let shared = crate::net::Shared {
            requires_auth: AtomicBool::new(false),
            protected_mode: AtomicBool::new(false),
            max_bulk_len: AtomicI64::new(0),
            query_buffer_limit: AtomicI64::new(0),
            maxclients: AtomicI64::new(0),
            connected: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
        };
        Server::new(crate::config::Config::default(), 6380, Arc::new(shared))
    }

    fn spec(name: &str) -> CheckFlags {
        CheckFlags::of(tandem_commands::lookup(name.as_bytes()).unwrap())
    }

    #[test]
    fn a_replica_refuses_writes_and_reports_its_master() {
        let mut srv = server();
        let client = master_client("127.0.0.1", 1);
        let mut normal = master_client("127.0.0.1", 1);
        normal.id = 7;
        normal.is_master = false;
        assert_eq!(rejection(&srv, &normal, &spec("set")), None);
        // No runtime in unit tests: the role exists without a follower.
        set_master(&mut srv, "127.0.0.1", 6379);
        assert!(srv.ks.config().replica_mode && srv.data_settings.replica_mode);
        assert_eq!(rejection(&srv, &normal, &spec("set")), Some(READONLY_ERR));
        assert_eq!(rejection(&srv, &normal, &spec("get")), None);
        assert_eq!(rejection(&srv, &client, &spec("set")), None);
        srv.config
            .set(&[(b"replica-serve-stale-data", b"no")])
            .unwrap();
        assert_eq!(rejection(&srv, &normal, &spec("get")), Some(MASTERDOWN_ERR));
        assert_eq!(rejection(&srv, &normal, &spec("info")), None);
        // CONFIG SET re-derives the keyspace settings: replica mode stays on.
        srv.sync_data_settings();
        assert!(srv.ks.config().replica_mode);

        let mut s = String::new();
        info_replica_fields(&srv, &mut s);
        assert_eq!(
            s,
            "master_host:127.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:down\r\n\
             master_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:0\r\n\
             slave_read_repl_offset:0\r\nslave_repl_offset:0\r\n\
             master_link_down_since_seconds:-1\r\nslave_priority:100\r\n\
             slave_read_only:1\r\nreplica_announced:1\r\n"
        );
    }

    #[test]
    fn no_one_makes_a_master_with_the_old_id_as_replid2() {
        let mut srv = server();
        set_master(&mut srv, "127.0.0.1", 6379);
        let id = srv.master.ids.replid().to_string();
        unset_master(&mut srv);
        assert!(!srv.replica.is_active());
        assert!(!srv.ks.config().replica_mode);
        assert_eq!(srv.master.ids.replid2().to_string(), id);
        assert_eq!(srv.master.ids.second_replid_offset(), 1);
        let mut s = String::new();
        info_replica_fields(&srv, &mut s);
        assert!(s.is_empty());
    }
}
