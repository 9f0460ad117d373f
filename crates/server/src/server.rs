//! The state the executor owns: configuration, clients, statistics, pause state.
//!
//! Exactly one thread (the executor, see [`crate::exec`]) touches a [`Server`]; that single
//! owner is what gives commands their total order (design brief, invariant 1) and makes a
//! batch of pipelined commands atomic with respect to other clients.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tandem_commands::data::{DataSettings, DataStats};
use tandem_keyspace::{EncodingLimits, Keyspace, KeyspaceConfig, LfuConfig};

use crate::client::Client;
use crate::config::Config;
use crate::net::Shared;

/// Counters reported by INFO stats (reset by CONFIG RESETSTAT where Redis resets them).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// `total_error_replies` when the last command (a script's own included) ended, or
    /// when the current one began: Redis's `prev_err_count`, by which a command failed if
    /// errors were counted since (not those of the commands a script called).
    pub error_mark: u64,
    /// Errors the current command replied with that were counted already (a script
    /// returning a failed call's error): each is one more failed call, as in Redis.
    pub failed_uncounted: u64,
    /// Commands fed to the replication stream (counted until the stream exists).
    pub propagated_commands: u64,
    /// Since when used memory has been above `maxmemory` with eviction unable to bring
    /// it back (INFO `current_eviction_exceeded_time`).
    pub eviction_exceeded_since: Option<Instant>,
    /// Earlier such periods, summed (INFO `total_eviction_exceeded_time`).
    pub eviction_exceeded_total: Duration,
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub rejected_connections: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    /// Samples for the `instantaneous_*` fields: (time, commands, input bytes, output bytes).
    pub samples: Vec<(Instant, u64, u64, u64)>,
    // added for CLIENT/INFO
    /// INFO errorstats: replies per error code (first word of the error), sorted by code.
    pub error_codes: BTreeMap<String, u64>,
    /// INFO commandstats: per command full name (`client|list`).
    pub commands: BTreeMap<String, CommandStat>,
    /// INFO `total_reads_processed` / `total_writes_processed` (socket reads and writes).
    pub total_reads_processed: u64,
    pub total_writes_processed: u64,
}

// added for CLIENT/INFO
/// One INFO commandstats line: `cmdstat_<name>:calls=..,usec=..,..`.
#[derive(Debug, Default, Clone)]
pub struct CommandStat {
    /// Latency samples for INFO latencystats.
    pub latency: crate::latency::Histogram,
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// What CLIENT PAUSE holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseKind {
    /// Every command from normal clients.
    All,
    /// Writes and commands that may replicate.
    Write,
}

/// An active CLIENT PAUSE.
#[derive(Clone, Copy, Debug)]
pub struct Pause {
    pub kind: PauseKind,
    pub until: Instant,
}

/// Everything the executor owns.
pub struct Server {
    pub config: Config,
    /// ACL users and the ACL log.
    pub acl: tandem_commands::acl::Acl,
    pub clients: BTreeMap<u64, Box<Client>>,
    pub stats: Stats,
    pub started: Instant,
    #[allow(dead_code)] // INFO reads `persist.lastsave`, which starts at this value
    pub started_unix: u64,
    /// 40 hex characters, new at every start (INFO `run_id`).
    pub run_id: String,
    pub pause: Option<Pause>,
    /// The TCP port actually listened on.
    pub port: u16,
    pub executable: String,
    /// Set when SHUTDOWN (or a signal) decided to stop; the executor exits its loop.
    pub shutting_down: bool,
    pub hz_ticks: u64,
    /// Settings mirrored for the connection tasks.
    pub shared: Arc<Shared>,
    /// The data.
    pub ks: Keyspace,
    pub data_settings: DataSettings,
    pub data_stats: DataStats,
    /// `maxmemory` and its policy (see [`crate::evict`]).
    pub evict: crate::evict::EvictSettings,
    /// An eviction stopped by its time limit with memory still above `maxmemory`.
    pub evicting: bool,
    /// The last command came in with memory above `maxmemory` and nothing to evict
    /// (Redis's `pre_command_oom_state`): scripts check it before they start.
    pub pre_command_oom: bool,
    /// Where the commands being run propagate to: both feeds, except for a script's
    /// commands after `redis.set_repl` chose otherwise.
    pub propagate_to: tandem_master::Targets,
    /// Changes since the last save (Redis's `server.dirty`).
    pub dirty: u64,
    /// WATCHed keys: (db, key) to the ids of the clients watching it.
    pub watched_keys: std::collections::HashMap<(usize, Bytes), Vec<u64>>,
    /// Clients blocked on keys (BLPOP, BZPOPMIN, XREAD BLOCK, ...), see [`crate::blocking`].
    pub blocking: crate::blocking::Blocking,
    /// SLOWLOG's entries and settings.
    pub slowlog: crate::cmd::slowlog::SlowLog,
    /// The Lua engine and the script cache (see [`crate::script`]).
    pub scripting: crate::script::Scripting,
    /// The append-only file (see [`crate::aof`]).
    pub aof: crate::aof::AofState,
    /// The latency monitor's events (LATENCY).
    pub latency_monitor: crate::latency::Monitor,
    /// Pub/Sub channels and patterns with their subscribers.
    pub pubsub: crate::cmd::pubsub::PubSub,
    /// Number of clients in MONITOR mode (the feed is skipped when zero).
    pub monitors: usize,
    // added for DEBUG
    /// DEBUG SET-ACTIVE-EXPIRE: when false the cron skips the active expiry cycle.
    pub active_expire_enabled: bool,
    /// SAVE / BGSAVE / loading state (see [`crate::persist`]).
    pub persist: crate::persist::PersistState,
    /// The master role: replication ids, backlog, replicas (see [`crate::repl`]).
    pub master: tandem_master::Master,
    /// The replica role: current master, follower, stream client (see [`crate::replication_replica`]).
    pub replica: crate::replication_replica::ReplicaState,
    /// A FAILOVER in progress (see [`crate::cmd::failover`]).
    pub failover: crate::cmd::failover::Failover,
    /// The time commands see while an EXEC or a script runs: its start, so that keys do
    /// not expire halfway through it (Redis's cached `mstime` under `fixed_time_expire`,
    /// and a script's time snapshot). `None` otherwise: each command reads the clock.
    pub frozen_now: Option<i64>,
}

impl Server {
    pub fn new(config: Config, port: u16, shared: Arc<Shared>) -> Server {
        crate::alloc::mark_startup();
        let config_for_ks = config.clone();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut srv = Server {
            config,
            clients: BTreeMap::new(),
            stats: Stats::default(),
            started: Instant::now(),
            started_unix: now.as_secs(),
            run_id: random_hex40(),
            pause: None,
            port,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            shutting_down: false,
            hz_ticks: 0,
            shared,
            ks: Keyspace::new(keyspace_config(&config_for_ks)),
            data_settings: data_settings(&config_for_ks),
            evict: crate::evict::EvictSettings::from_config(&config_for_ks),
            evicting: false,
            pre_command_oom: false,
            propagate_to: tandem_master::Targets::ALL,
            data_stats: DataStats::default(),
            dirty: 0,
            watched_keys: std::collections::HashMap::new(),
            blocking: Default::default(),
            pubsub: Default::default(),
            slowlog: Default::default(),
            latency_monitor: Default::default(),
            aof: Default::default(),
            scripting: crate::script::Scripting::new(),
            monitors: 0,
            // added for DEBUG
            active_expire_enabled: true,
            persist: crate::persist::PersistState::new(now.as_secs() as i64),
            master: tandem_master::Master::new(
                tandem_backlog::ReplicationIds::new(),
                crate::repl::master_config(&config_for_ks),
            ),
            replica: Default::default(),
            failover: Default::default(),
            frozen_now: None,
            acl: tandem_commands::acl::Acl::default(),
        };
        srv.apply_requirepass();
        srv.aof.settings = crate::aof::AofSettings::from_config(&srv.config);
        srv
    }

    /// Copies the settings connection tasks read into [`Shared`], and the users into the
    /// copy a busy script's responder checks AUTH against ([`crate::busy`]).
    pub fn sync_shared(&self) {
        crate::busy::publish_users(&self.acl.users);
        let s = &self.shared;
        let c = &self.config;
        s.requires_auth
            .store(self.requires_auth(), Ordering::Relaxed);
        s.protected_mode
            .store(c.get_bool("protected-mode"), Ordering::Relaxed);
        s.max_bulk_len
            .store(c.get_i64("proto-max-bulk-len"), Ordering::Relaxed);
        s.query_buffer_limit
            .store(c.get_i64("client-query-buffer-limit"), Ordering::Relaxed);
        s.maxclients
            .store(c.get_i64("maxclients"), Ordering::Relaxed);
    }

    /// Re-reads the directives the keyspace and the data commands act on.
    pub fn sync_data_settings(&mut self) {
        let mut cfg = keyspace_config(&self.config);
        cfg.track_modified = !self.watched_keys.is_empty() || !self.blocking.is_empty();
        cfg.replica_mode = self.replica.is_active();
        *self.ks.config_mut() = cfg;
        self.data_settings = data_settings(&self.config);
        self.data_settings.replica_mode = self.replica.is_active();
        self.evict = crate::evict::EvictSettings::from_config(&self.config);
        self.slowlog.configure(&self.config);
        self.latency_monitor.threshold =
            self.config.get_i64("latency-monitor-threshold").max(0) as u64;
        self.aof.settings = crate::aof::AofSettings::from_config(&self.config);
    }

    /// Number of databases (`databases` directive).
    pub fn databases(&self) -> usize {
        self.config.get_i64("databases").max(1) as usize
    }

    /// True when connections need AUTH before other commands.
    pub fn requires_auth(&self) -> bool {
        !self.acl.default_open()
    }

    /// `requirepass` is the default user's password, as in Redis: setting it replaces
    /// that user's passwords, an empty one makes it `nopass`.
    pub fn apply_requirepass(&mut self) {
        let pass = self.config.get_str("requirepass");
        if let Some(u) = self.acl.users.get_mut("default") {
            let _ = u.apply("resetpass", false);
            let rule = if pass.is_empty() {
                "nopass".to_owned()
            } else {
                format!(">{pass}")
            };
            let _ = u.apply(&rule, false);
        }
    }
}

/// 40 random hex characters, from the OS's randomness where available.
pub fn random_hex40() -> String {
    let mut bytes = [0u8; 20];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !filled {
        // Fall back to a time and pid mix; uniqueness, not secrecy, is what matters here.
        let mut x = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64
            ^ u64::from(std::process::id()) << 32;
        for b in bytes.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The keyspace's settings from the configuration.
pub fn keyspace_config(c: &Config) -> KeyspaceConfig {
    use tandem_commands::data::notify;
    let flags = c.notify_keyspace_events();
    let publishes = flags & (notify::KEYSPACE | notify::KEYEVENT) != 0;
    KeyspaceConfig {
        note_new: publishes && flags & notify::NEW != 0,
        note_expired: publishes && flags & notify::EXPIRED != 0,
        note_miss: publishes && flags & notify::KEY_MISS != 0,
        note_evicted: publishes && flags & notify::EVICTED != 0,
        databases: c.get_i64("databases").max(1) as usize,
        replica_mode: false,
        lazyfree_lazy_expire: c.get_bool("lazyfree-lazy-expire"),
        lazyfree_lazy_server_del: c.get_bool("lazyfree-lazy-server-del"),
        lazyfree_lazy_user_del: c.get_bool("lazyfree-lazy-user-del"),
        lazyfree_lazy_user_flush: c.get_bool("lazyfree-lazy-user-flush"),
        track_modified: false,
        limits: encoding_limits(c),
        lfu: c
            .get_str("maxmemory-policy")
            .contains("lfu")
            .then(|| LfuConfig {
                log_factor: c.get_i64("lfu-log-factor").max(0) as u32,
                decay_time: c.get_i64("lfu-decay-time").max(0) as u32,
            }),
    }
}

/// The compact encodings' thresholds from the configuration.
pub fn encoding_limits(c: &Config) -> EncodingLimits {
    let size = |name: &str| c.get_i64(name).max(0) as usize;
    EncodingLimits {
        hash_max_listpack_entries: size("hash-max-listpack-entries"),
        hash_max_listpack_value: size("hash-max-listpack-value"),
        set_max_intset_entries: size("set-max-intset-entries"),
        zset_max_listpack_entries: size("zset-max-listpack-entries"),
        zset_max_listpack_value: size("zset-max-listpack-value"),
        list_max_listpack_size: c.get_i64("list-max-listpack-size"),
        list_compress_depth: c.get_i64("list-compress-depth"),
        stream_node_max_bytes: size("stream-node-max-bytes"),
        stream_node_max_entries: size("stream-node-max-entries"),
    }
}

/// The data commands' settings from the configuration.
pub fn data_settings(c: &Config) -> DataSettings {
    DataSettings {
        lazyfree_lazy_user_del: c.get_bool("lazyfree-lazy-user-del"),
        lazyfree_lazy_user_flush: c.get_bool("lazyfree-lazy-user-flush"),
        lazyfree_lazy_expire: c.get_bool("lazyfree-lazy-expire"),
        proto_max_bulk_len: c.get_i64("proto-max-bulk-len"),
        replica_mode: false,
        limits: encoding_limits(c),
        hll_sparse_max_bytes: c.get_i64("hll-sparse-max-bytes").max(0) as usize,
        notify_flags: c.notify_keyspace_events(),
    }
}
