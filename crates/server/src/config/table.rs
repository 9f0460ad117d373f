//! The directive table: every configuration directive Redis 7.0.15 knows.
//!
//! One [`Directive`] row per directive, in the order of Redis's own table
//! (`static_configs` in `config.c`), carrying its legacy alias, its flags
//! (immutable, hidden, multi-argument, ...), its type with the default value
//! and bounds, and whether Tandem acts on it yet. Everything else in the
//! module (parsing, `CONFIG GET/SET`, `CONFIG REWRITE`) is driven by this
//! table, so supporting one more directive is a one-word change (`acted`).
//!
//! Defaults were checked against `CONFIG GET *` of the real 7.0.15 binary.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Cannot be changed with `CONFIG SET`.
pub(crate) const IMMUTABLE: u16 = 1;
/// Not matched by `CONFIG GET` patterns (exact name only); test-only knobs.
pub(crate) const HIDDEN: u16 = 1 << 1;
/// Takes several arguments (`save`, `bind`, `client-output-buffer-limit`...).
pub(crate) const MULTI_ARG: u16 = 1 << 2;
/// Value is redacted in logs (passwords).
pub(crate) const SENSITIVE: u16 = 1 << 3;
/// `CONFIG SET` needs `enable-protected-configs`.
pub(crate) const PROTECTED: u16 = 1 << 4;
/// `CONFIG SET` refused while loading a dataset.
pub(crate) const DENY_LOADING: u16 = 1 << 5;
/// Listed in `DEBUG` crash reports (no behavioural effect here).
pub(crate) const DEBUG: u16 = 1 << 6;

/// How a numeric directive is written and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumFmt {
    /// Plain integer (`string2ll` rules).
    Plain,
    /// Bytes with an optional unit: k kb m mb g gb (case-insensitive).
    Memory,
    /// Bytes, or a percentage `N%` stored as `-N`.
    MemoryPercent,
    /// Octal (`unixsocketperm`).
    Octal,
}

/// Validity check for a string directive: `Err` carries Redis's message.
pub(crate) type StrCheck = fn(&[u8]) -> Result<(), &'static str>;
/// Validity check for a bool directive.
pub(crate) type BoolCheck = fn(bool) -> Result<(), &'static str>;
/// Validity check for an enum directive (bit flags for multi-arg enums).
pub(crate) type EnumCheck = fn(i32) -> Result<(), &'static str>;

/// The type of a directive, with its default.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Bool {
        default: bool,
        check: Option<BoolCheck>,
    },
    /// `unsigned` mirrors Redis's unsigned C types (bounds compared as u64).
    Int {
        min: i64,
        max: i64,
        default: i64,
        fmt: NumFmt,
        unsigned: bool,
    },
    /// Multi-arg enums (MULTI_ARG flag) are bit flags.
    Enum {
        values: &'static [(&'static str, i32)],
        default: i32,
        check: Option<EnumCheck>,
    },
    /// `default: None` with `empty_is_null` means "unset" (Redis NULL).
    Str {
        default: Option<&'static str>,
        empty_is_null: bool,
        check: Option<StrCheck>,
    },
    Dir,
    Save,
    ClientOutputBufferLimit,
    OomScoreAdjValues,
    NotifyKeyspaceEvents,
    Bind,
    ReplicaOf,
    LatencyPercentiles,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub flags: u16,
    pub kind: Kind,
    /// Tandem honours this directive (otherwise: accepted, reported, ignored).
    pub acted: bool,
}

impl Directive {
    pub(crate) fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
}

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
/// `ULLONG_MAX` seen through a signed 64-bit integer, as Redis stores it.
const ULLONG_MAX_AS_I64: i64 = -1;
/// `SSIZE_MAX`.
const SSIZE_MAX: i64 = i64::MAX;

pub(crate) const MAXMEMORY_POLICY: &[(&str, i32)] = &[
    ("volatile-lru", 1),
    ("volatile-lfu", 2),
    ("volatile-random", 3),
    ("volatile-ttl", 4),
    ("allkeys-lru", 5),
    ("allkeys-lfu", 6),
    ("allkeys-random", 7),
    ("noeviction", 8),
];
const SYSLOG_FACILITY: &[(&str, i32)] = &[
    ("user", 8),
    ("local0", 128),
    ("local1", 136),
    ("local2", 144),
    ("local3", 152),
    ("local4", 160),
    ("local5", 168),
    ("local6", 176),
    ("local7", 184),
];
pub(crate) const LOGLEVEL: &[(&str, i32)] =
    &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
const SUPERVISED: &[(&str, i32)] = &[("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)];
const AOF_FSYNC: &[(&str, i32)] = &[("everysec", 2), ("always", 1), ("no", 0)];
/// Bit flags: save=1, nosave=2, now=4, force=8.
const SHUTDOWN_ON_SIG: &[(&str, i32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];
pub(crate) const REPL_DISKLESS_LOAD: &[(&str, i32)] =
    &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const TLS_AUTH_CLIENTS: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("optional", 2)];
const OOM_SCORE_ADJ: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT: &[(&str, i32)] = &[("allchannels", 1 << 2), ("resetchannels", 0)];
const SANITIZE_DUMP: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
pub(crate) const PROTECTED_ACTION: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("local", 2)];
const ENDPOINT_TYPE: &[(&str, i32)] = &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
pub(crate) const PROPAGATION_ERROR: &[(&str, i32)] =
    &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];

// ---- validity checks (messages are Redis's) ----

fn check_activedefrag(v: bool) -> Result<(), &'static str> {
    // The Debian 7.0.15 build has no defrag-capable jemalloc.
    if v {
        Err("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution")
    } else {
        Ok(())
    }
}

fn is_base_name(v: &[u8]) -> bool {
    !v.contains(&b'/') && !v.contains(&b'\\')
}

fn check_dbfilename(v: &[u8]) -> Result<(), &'static str> {
    if is_base_name(v) {
        Ok(())
    } else {
        Err("dbfilename can't be a path, just a filename")
    }
}

fn check_appendfilename(v: &[u8]) -> Result<(), &'static str> {
    if v.is_empty() {
        Err("appendfilename can't be empty")
    } else if !is_base_name(v) {
        Err("appendfilename can't be a path, just a filename")
    } else {
        Ok(())
    }
}

fn check_appenddirname(v: &[u8]) -> Result<(), &'static str> {
    if v.is_empty() {
        Err("appenddirname can't be empty")
    } else if !is_base_name(v) {
        Err("appenddirname can't be a path, just a dirname")
    } else {
        Ok(())
    }
}

fn check_hostname(v: &[u8]) -> Result<(), &'static str> {
    if v.len() >= 256 {
        return Err("Hostnames must be less than 256 characters");
    }
    if v.iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
    {
        Ok(())
    } else {
        Err("Hostnames may only contain alphanumeric characters, hyphens or dots")
    }
}

/// `proc-title-template`: `{var}` with known variables, `{{` for a literal
/// brace, and the expansion (with an empty title) must not be blank.
fn check_proc_title(v: &[u8]) -> Result<(), &'static str> {
    const BAD: &str = "template format is invalid or contains unknown variables";
    let mut out_nonblank = false;
    let mut i = 0;
    while i < v.len() {
        if v[i] != b'{' {
            if v[i] != b' ' {
                out_nonblank = true;
            }
            i += 1;
            continue;
        }
        i += 1;
        if i >= v.len() {
            return Err(BAD);
        }
        if v[i] == b'{' {
            out_nonblank = true;
            i += 1;
            continue;
        }
        let Some(end) = v[i..].iter().position(|c| *c == b'}') else {
            return Err(BAD);
        };
        match &v[i..i + end] {
            b"title" | b"server-mode" | b"unixsocket" => {}
            b"listen-addr" | b"config-file" | b"port" | b"tls-port" => out_nonblank = true,
            _ => return Err(BAD),
        }
        i += end + 1;
    }
    if out_nonblank {
        Ok(())
    } else {
        Err(BAD)
    }
}

fn check_shutdown_flags(v: i32) -> Result<(), &'static str> {
    if v & 1 != 0 && v & 2 != 0 {
        Err("shutdown options SAVE and NOSAVE can't be used simultaneously")
    } else {
        Ok(())
    }
}

// ---- constructors, to keep the table readable ----

const fn b(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    default: bool,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Bool {
            default,
            check: None,
        },
        acted: false,
    }
}

const fn s(
    name: &'static str,
    flags: u16,
    empty_is_null: bool,
    default: Option<&'static str>,
) -> Directive {
    Directive {
        name,
        alias: None,
        flags,
        kind: Kind::Str {
            default,
            empty_is_null,
            check: None,
        },
        acted: false,
    }
}

const fn e(
    name: &'static str,
    flags: u16,
    values: &'static [(&'static str, i32)],
    default: i32,
) -> Directive {
    Directive {
        name,
        alias: None,
        flags,
        kind: Kind::Enum {
            values,
            default,
            check: None,
        },
        acted: false,
    }
}

#[allow(clippy::too_many_arguments)]
const fn n(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    min: i64,
    max: i64,
    default: i64,
    fmt: NumFmt,
    unsigned: bool,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Int {
            min,
            max,
            default,
            fmt,
            unsigned,
        },
        acted: false,
    }
}

const fn i(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    min: i64,
    max: i64,
    default: i64,
) -> Directive {
    n(name, alias, flags, min, max, default, NumFmt::Plain, false)
}

const fn sp(name: &'static str, alias: Option<&'static str>, flags: u16, kind: Kind) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind,
        acted: false,
    }
}

/// Marks a row as honoured by Tandem.
const fn acted(mut d: Directive) -> Directive {
    d.acted = true;
    d
}

const fn with_bool_check(mut d: Directive, f: BoolCheck) -> Directive {
    if let Kind::Bool { default, .. } = d.kind {
        d.kind = Kind::Bool {
            default,
            check: Some(f),
        };
    }
    d
}

const fn with_str_check(mut d: Directive, f: StrCheck) -> Directive {
    if let Kind::Str {
        default,
        empty_is_null,
        ..
    } = d.kind
    {
        d.kind = Kind::Str {
            default,
            empty_is_null,
            check: Some(f),
        };
    }
    d
}

const fn with_enum_check(mut d: Directive, f: EnumCheck) -> Directive {
    if let Kind::Enum {
        values, default, ..
    } = d.kind
    {
        d.kind = Kind::Enum {
            values,
            default,
            check: Some(f),
        };
    }
    d
}

const M: u16 = 0; // MODIFIABLE
const I: u16 = IMMUTABLE;
const NULL: bool = true; // EMPTY_STRING_IS_NULL
const EMPTY: bool = false; // ALLOW_EMPTY_STRING
const MEM: NumFmt = NumFmt::Memory;

/// Every directive of Redis 7.0.15 (TLS ones included: Debian builds with TLS).
pub(crate) static TABLE: &[Directive] = &[
    // Bool configs
    acted(b("rdbchecksum", None, I, true)),
    acted(b("daemonize", None, I, false)),
    b("io-threads-do-reads", None, DEBUG | I, false),
    acted(b("always-show-logo", None, I, false)),
    acted(b("protected-mode", None, M, true)),
    acted(b("rdbcompression", None, M, true)),
    b("rdb-del-sync-files", None, M, false),
    b("activerehashing", None, M, true),
    acted(b("stop-writes-on-bgsave-error", None, M, true)),
    b("set-proc-title", None, I, true),
    b("dynamic-hz", None, M, true),
    acted(b("lazyfree-lazy-eviction", None, DEBUG, false)),
    acted(b("lazyfree-lazy-expire", None, DEBUG, false)),
    acted(b("lazyfree-lazy-server-del", None, DEBUG, false)),
    acted(b("lazyfree-lazy-user-del", None, DEBUG, false)),
    acted(b("lazyfree-lazy-user-flush", None, DEBUG, false)),
    b("repl-disable-tcp-nodelay", None, M, false),
    acted(b("repl-diskless-sync", None, DEBUG, true)),
    b("aof-rewrite-incremental-fsync", None, M, true),
    b("no-appendfsync-on-rewrite", None, M, false),
    b("cluster-require-full-coverage", None, M, true),
    b("rdb-save-incremental-fsync", None, M, true),
    acted(b("aof-load-truncated", None, M, true)),
    b("aof-use-rdb-preamble", None, M, true),
    acted(b("aof-timestamp-enabled", None, M, false)),
    b(
        "cluster-replica-no-failover",
        Some("cluster-slave-no-failover"),
        M,
        false,
    ),
    acted(b("replica-lazy-flush", Some("slave-lazy-flush"), M, false)),
    acted(b(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        M,
        true,
    )),
    acted(b("replica-read-only", Some("slave-read-only"), DEBUG, true)),
    acted(b(
        "replica-ignore-maxmemory",
        Some("slave-ignore-maxmemory"),
        M,
        true,
    )),
    b("jemalloc-bg-thread", None, M, true),
    with_bool_check(b("activedefrag", None, DEBUG, false), check_activedefrag),
    b("syslog-enabled", None, I, false),
    b("cluster-enabled", None, I, false),
    acted(b("appendonly", None, DENY_LOADING, false)),
    b("cluster-allow-reads-when-down", None, M, false),
    b("cluster-allow-pubsubshard-when-down", None, M, true),
    b("crash-log-enabled", None, M, true),
    b("crash-memcheck-enabled", None, M, true),
    b("use-exit-on-panic", None, HIDDEN, false),
    b("disable-thp", None, I, true),
    b("cluster-allow-replica-migration", None, M, true),
    b("replica-announced", None, M, true),
    acted(b("latency-tracking", None, M, true)),
    b("aof-disable-auto-gc", None, M, false),
    b("replica-ignore-disk-write-errors", None, M, false),
    // String configs
    acted(s("aclfile", I, EMPTY, Some(""))),
    s("unixsocket", I, NULL, None),
    acted(s("pidfile", I, NULL, None)),
    Directive {
        alias: Some("slave-announce-ip"),
        ..s("replica-announce-ip", M, NULL, None)
    },
    acted(s("masteruser", SENSITIVE, NULL, None)),
    s("cluster-announce-ip", M, NULL, None),
    s("cluster-config-file", I, EMPTY, Some("nodes.conf")),
    with_str_check(
        s("cluster-announce-hostname", M, NULL, None),
        check_hostname,
    ),
    s("syslog-ident", I, EMPTY, Some("redis")),
    acted(with_str_check(
        s("dbfilename", PROTECTED, EMPTY, Some("dump.rdb")),
        check_dbfilename,
    )),
    acted(with_str_check(
        s("appendfilename", I, EMPTY, Some("appendonly.aof")),
        check_appendfilename,
    )),
    acted(with_str_check(
        s("appenddirname", I, EMPTY, Some("appendonlydir")),
        check_appenddirname,
    )),
    s("server_cpulist", I, NULL, None),
    s("bio_cpulist", I, NULL, None),
    s("aof_rewrite_cpulist", I, NULL, None),
    s("bgsave_cpulist", I, NULL, None),
    s("ignore-warnings", M, EMPTY, Some("")),
    with_str_check(
        s(
            "proc-title-template",
            M,
            EMPTY,
            Some("{title} {listen-addr} {server-mode}"),
        ),
        check_proc_title,
    ),
    s("bind-source-addr", M, NULL, None),
    acted(s("logfile", I, EMPTY, Some(""))),
    // SDS configs
    acted(s("masterauth", SENSITIVE, NULL, None)),
    acted(s("requirepass", SENSITIVE, NULL, None)),
    // Enum configs
    e("supervised", I, SUPERVISED, 0),
    e("syslog-facility", I, SYSLOG_FACILITY, 128),
    acted(e(
        "repl-diskless-load",
        DEBUG | DENY_LOADING,
        REPL_DISKLESS_LOAD,
        0,
    )),
    acted(e("loglevel", M, LOGLEVEL, 2)),
    acted(e("maxmemory-policy", M, MAXMEMORY_POLICY, 8)),
    acted(e("appendfsync", M, AOF_FSYNC, 2)),
    e("oom-score-adj", M, OOM_SCORE_ADJ, 0),
    acted(e("acl-pubsub-default", M, ACL_PUBSUB_DEFAULT, 0)),
    e("sanitize-dump-payload", DEBUG, SANITIZE_DUMP, 0),
    acted(e("enable-protected-configs", I, PROTECTED_ACTION, 0)),
    acted(e("enable-debug-command", I, PROTECTED_ACTION, 0)),
    acted(e("enable-module-command", I, PROTECTED_ACTION, 0)),
    e("cluster-preferred-endpoint-type", M, ENDPOINT_TYPE, 0),
    e("propagation-error-behavior", M, PROPAGATION_ERROR, 0),
    with_enum_check(
        e("shutdown-on-sigint", MULTI_ARG, SHUTDOWN_ON_SIG, 0),
        check_shutdown_flags,
    ),
    with_enum_check(
        e("shutdown-on-sigterm", MULTI_ARG, SHUTDOWN_ON_SIG, 0),
        check_shutdown_flags,
    ),
    // Integer configs
    acted(i("databases", None, I, 1, INT_MAX, 16)),
    acted(i("port", None, M, 0, 65535, 6379)),
    acted(i("io-threads", None, DEBUG | I, 1, 128, 1)),
    acted(i("auto-aof-rewrite-percentage", None, M, 0, INT_MAX, 100)),
    i(
        "cluster-replica-validity-factor",
        Some("cluster-slave-validity-factor"),
        M,
        0,
        INT_MAX,
        10,
    ),
    acted(i(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        M,
        INT_MIN,
        INT_MAX,
        -2,
    )),
    i("tcp-keepalive", None, M, 0, INT_MAX, 300),
    i("cluster-migration-barrier", None, M, 0, INT_MAX, 1),
    i("active-defrag-cycle-min", None, M, 1, 99, 1),
    i("active-defrag-cycle-max", None, M, 1, 99, 25),
    i("active-defrag-threshold-lower", None, M, 0, 1000, 10),
    i("active-defrag-threshold-upper", None, M, 0, 1000, 100),
    acted(i("lfu-log-factor", None, M, 0, INT_MAX, 10)),
    acted(i("lfu-decay-time", None, M, 0, INT_MAX, 1)),
    i(
        "replica-priority",
        Some("slave-priority"),
        M,
        0,
        INT_MAX,
        100,
    ),
    acted(i("repl-diskless-sync-delay", None, M, 0, INT_MAX, 5)),
    acted(i("maxmemory-samples", None, M, 1, INT_MAX, 5)),
    acted(i("maxmemory-eviction-tenacity", None, M, 0, 100, 10)),
    acted(i("timeout", None, M, 0, INT_MAX, 0)),
    acted(i(
        "replica-announce-port",
        Some("slave-announce-port"),
        M,
        0,
        65535,
        0,
    )),
    acted(i("tcp-backlog", None, I, 0, INT_MAX, 511)),
    i("cluster-port", None, I, 0, 65535, 0),
    i("cluster-announce-bus-port", None, M, 0, 65535, 0),
    i("cluster-announce-port", None, M, 0, 65535, 0),
    i("cluster-announce-tls-port", None, M, 0, 65535, 0),
    acted(i("repl-timeout", None, M, 1, INT_MAX, 60)),
    acted(i(
        "repl-ping-replica-period",
        Some("repl-ping-slave-period"),
        M,
        1,
        INT_MAX,
        10,
    )),
    acted(i("list-compress-depth", None, DEBUG, 0, INT_MAX, 0)),
    acted(i("rdb-key-save-delay", None, HIDDEN, INT_MIN, INT_MAX, 0)),
    acted(i("key-load-delay", None, HIDDEN, INT_MIN, INT_MAX, 0)),
    i("active-expire-effort", None, M, 1, 10, 1),
    acted(i("hz", None, M, 0, INT_MAX, 10)),
    acted(i(
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        M,
        0,
        INT_MAX,
        0,
    )),
    acted(i(
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        M,
        0,
        INT_MAX,
        10,
    )),
    i("watchdog-period", None, HIDDEN, 0, INT_MAX, 0),
    i("shutdown-timeout", None, M, 0, INT_MAX, 10),
    acted(i("repl-diskless-sync-max-replicas", None, M, 0, INT_MAX, 0)),
    // Unsigned int configs
    acted(n(
        "maxclients",
        None,
        M,
        1,
        UINT_MAX,
        10000,
        NumFmt::Plain,
        true,
    )),
    n("unixsocketperm", None, I, 0, 0o777, 0, NumFmt::Octal, true),
    n(
        "socket-mark-id",
        None,
        I,
        0,
        UINT_MAX,
        0,
        NumFmt::Plain,
        true,
    ),
    // Unsigned long configs (bounds checked as signed, like Redis)
    i("active-defrag-max-scan-fields", None, M, 1, LONG_MAX, 1000),
    acted(i("slowlog-max-len", None, M, 0, LONG_MAX, 128)),
    acted(i("acllog-max-len", None, M, 0, LONG_MAX, 128)),
    // Long long configs
    acted(i(
        "busy-reply-threshold",
        Some("lua-time-limit"),
        M,
        0,
        LONG_MAX,
        5000,
    )),
    i("cluster-node-timeout", None, M, 0, LONG_MAX, 15000),
    acted(i("slowlog-log-slower-than", None, M, -1, LONG_MAX, 10000)),
    acted(i("latency-monitor-threshold", None, M, 0, LONG_MAX, 0)),
    acted(n(
        "proto-max-bulk-len",
        None,
        DEBUG,
        1024 * 1024,
        LONG_MAX,
        512 * 1024 * 1024,
        MEM,
        false,
    )),
    acted(i("stream-node-max-entries", None, M, 0, LONG_MAX, 100)),
    acted(n(
        "repl-backlog-size",
        None,
        M,
        1,
        LONG_MAX,
        1024 * 1024,
        MEM,
        false,
    )),
    // Unsigned long long configs
    acted(n("maxmemory", None, M, 0, ULLONG_MAX_AS_I64, 0, MEM, true)),
    n(
        "cluster-link-sendbuf-limit",
        None,
        M,
        0,
        ULLONG_MAX_AS_I64,
        0,
        MEM,
        true,
    ),
    // size_t configs
    acted(n(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        M,
        0,
        LONG_MAX,
        512,
        NumFmt::Plain,
        true,
    )),
    acted(n(
        "set-max-intset-entries",
        None,
        M,
        0,
        LONG_MAX,
        512,
        NumFmt::Plain,
        true,
    )),
    acted(n(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        M,
        0,
        LONG_MAX,
        128,
        NumFmt::Plain,
        true,
    )),
    n(
        "active-defrag-ignore-bytes",
        None,
        M,
        1,
        LONG_MAX,
        100 << 20,
        MEM,
        true,
    ),
    acted(n(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        M,
        0,
        LONG_MAX,
        64,
        MEM,
        true,
    )),
    acted(n(
        "stream-node-max-bytes",
        None,
        M,
        0,
        LONG_MAX,
        4096,
        MEM,
        true,
    )),
    acted(n(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        M,
        0,
        LONG_MAX,
        64,
        MEM,
        true,
    )),
    acted(n(
        "hll-sparse-max-bytes",
        None,
        M,
        0,
        LONG_MAX,
        3000,
        MEM,
        true,
    )),
    n(
        "tracking-table-max-keys",
        None,
        M,
        0,
        LONG_MAX,
        1_000_000,
        NumFmt::Plain,
        true,
    ),
    acted(n(
        "client-query-buffer-limit",
        None,
        DEBUG,
        1024 * 1024,
        LONG_MAX,
        1024 * 1024 * 1024,
        MEM,
        true,
    )),
    n(
        "maxmemory-clients",
        None,
        M,
        -100,
        SSIZE_MAX,
        0,
        NumFmt::MemoryPercent,
        false,
    ),
    // Other configs
    acted(i("repl-backlog-ttl", None, M, 0, LONG_MAX, 3600)),
    acted(n(
        "auto-aof-rewrite-min-size",
        None,
        M,
        0,
        LONG_MAX,
        64 * 1024 * 1024,
        MEM,
        false,
    )),
    acted(i(
        "loading-process-events-interval-bytes",
        None,
        HIDDEN,
        1024,
        INT_MAX,
        2 * 1024 * 1024,
    )),
    // TLS
    i("tls-port", None, M, 0, 65535, 0),
    i("tls-session-cache-size", None, M, 0, INT_MAX, 20 * 1024),
    i("tls-session-cache-timeout", None, M, 0, INT_MAX, 300),
    b("tls-cluster", None, M, false),
    b("tls-replication", None, M, false),
    e("tls-auth-clients", M, TLS_AUTH_CLIENTS, 1),
    b("tls-prefer-server-ciphers", None, M, false),
    b("tls-session-caching", None, M, true),
    s("tls-cert-file", M, NULL, None),
    s("tls-key-file", M, NULL, None),
    s("tls-key-file-pass", M, NULL, None),
    s("tls-client-cert-file", M, NULL, None),
    s("tls-client-key-file", M, NULL, None),
    s("tls-client-key-file-pass", M, NULL, None),
    s("tls-dh-params-file", M, NULL, None),
    s("tls-ca-cert-file", M, NULL, None),
    s("tls-ca-cert-dir", M, NULL, None),
    s("tls-protocols", M, NULL, None),
    s("tls-ciphers", M, NULL, None),
    s("tls-ciphersuites", M, NULL, None),
    // Special configs
    acted(sp("dir", None, PROTECTED | DENY_LOADING, Kind::Dir)),
    acted(sp("save", None, MULTI_ARG, Kind::Save)),
    acted(sp(
        "client-output-buffer-limit",
        None,
        MULTI_ARG,
        Kind::ClientOutputBufferLimit,
    )),
    sp(
        "oom-score-adj-values",
        None,
        MULTI_ARG,
        Kind::OomScoreAdjValues,
    ),
    acted(sp(
        "notify-keyspace-events",
        None,
        M,
        Kind::NotifyKeyspaceEvents,
    )),
    acted(sp("bind", None, MULTI_ARG, Kind::Bind)),
    acted(sp(
        "replicaof",
        Some("slaveof"),
        I | MULTI_ARG,
        Kind::ReplicaOf,
    )),
    acted(sp(
        "latency-tracking-info-percentiles",
        None,
        MULTI_ARG,
        Kind::LatencyPercentiles,
    )),
];

/// A name resolved against the table: the row, and whether the alias was used.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lookup {
    pub index: usize,
    pub via_alias: bool,
}

impl Lookup {
    pub(crate) fn directive(&self) -> &'static Directive {
        &TABLE[self.index]
    }

    /// The name of the entry that was found (the alias when used), lowercase.
    pub(crate) fn entry_name(&self) -> &'static str {
        let d = self.directive();
        match (self.via_alias, d.alias) {
            (true, Some(a)) => a,
            _ => d.name,
        }
    }
}

/// Case-insensitive lookup by primary name or alias. The names are indexed once, in
/// lowercase: the server reads settings by name on hot paths (every EVAL reads
/// `busy-reply-threshold`), and a scan of the table cost a few percent of such a call.
pub(crate) fn lookup(name: &[u8]) -> Option<Lookup> {
    static BY_NAME: OnceLock<HashMap<Vec<u8>, Lookup>> = OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        // In the order a scan would meet them, so the first match wins as it did.
        let mut map = HashMap::new();
        for (index, d) in TABLE.iter().enumerate() {
            let names = [(Some(d.name), false), (d.alias, true)];
            for (name, via_alias) in names {
                if let Some(name) = name {
                    map.entry(name.to_ascii_lowercase().into_bytes())
                        .or_insert(Lookup { index, via_alias });
                }
            }
        }
        map
    });
    if name.iter().any(u8::is_ascii_uppercase) {
        by_name.get(&name.to_ascii_lowercase()).copied()
    } else {
        by_name.get(name).copied()
    }
}

/// Index of a directive by its canonical (or alias) name.
pub(crate) fn index_of(name: &str) -> Option<usize> {
    lookup(name.as_bytes()).map(|l| l.index)
}
