//! Which commands Tandem implements, and name lookup.
//!
//! The generated table holds every command of Redis 7.0.15; [`IMPLEMENTED`] names
//! the ones Tandem executes (and, for containers, which subcommands). Only those
//! are visible to clients: the dispatcher's [`lookup`] / [`lookup_sub`], and the
//! COMMAND command (COUNT, LIST, INFO, DOCS, GETKEYS). Implementing one more
//! command is adding its name here.
//!
//! Lookups are case-insensitive binary searches over the sorted tables: no
//! allocation, no hashing.

use std::sync::OnceLock;

use crate::generated::COMMANDS;
use crate::spec::CommandSpec;

/// Commands Tandem implements, sorted by name, each with its implemented subcommands
/// (sorted; empty for commands without subcommands).
pub const IMPLEMENTED: &[(&str, &[&str])] = &[
    (
        "acl",
        &[
            "cat", "deluser", "dryrun", "genpass", "getuser", "help", "list", "load", "log",
            "save", "setuser", "users", "whoami",
        ],
    ),
    ("append", &[]),
    ("asking", &[]),
    ("auth", &[]),
    ("bgrewriteaof", &[]),
    ("bgsave", &[]),
    ("bitcount", &[]),
    ("bitfield", &[]),
    ("bitfield_ro", &[]),
    ("bitop", &[]),
    ("bitpos", &[]),
    ("blmove", &[]),
    ("blmpop", &[]),
    ("blpop", &[]),
    ("brpop", &[]),
    ("brpoplpush", &[]),
    ("bzmpop", &[]),
    ("bzpopmax", &[]),
    ("bzpopmin", &[]),
    (
        "client",
        &[
            "caching",
            "getname",
            "getredir",
            "help",
            "id",
            "info",
            "kill",
            "list",
            "no-evict",
            "pause",
            "reply",
            "setname",
            "tracking",
            "trackinginfo",
            "unblock",
            "unpause",
        ],
    ),
    (
        "cluster",
        &[
            "addslots",
            "addslotsrange",
            "bumpepoch",
            "count-failure-reports",
            "countkeysinslot",
            "delslots",
            "delslotsrange",
            "failover",
            "flushslots",
            "forget",
            "getkeysinslot",
            "help",
            "info",
            "keyslot",
            "links",
            "meet",
            "myid",
            "nodes",
            "replicas",
            "replicate",
            "reset",
            "saveconfig",
            "set-config-epoch",
            "setslot",
            "shards",
            "slaves",
            "slots",
        ],
    ),
    (
        "command",
        &[
            "count",
            "docs",
            "getkeys",
            "getkeysandflags",
            "help",
            "info",
            "list",
        ],
    ),
    ("config", &["get", "help", "resetstat", "rewrite", "set"]),
    ("copy", &[]),
    ("dbsize", &[]),
    ("debug", &[]),
    ("decr", &[]),
    ("decrby", &[]),
    ("del", &[]),
    ("discard", &[]),
    ("dump", &[]),
    ("echo", &[]),
    ("eval", &[]),
    ("eval_ro", &[]),
    ("evalsha", &[]),
    ("evalsha_ro", &[]),
    ("exec", &[]),
    ("exists", &[]),
    ("expire", &[]),
    ("expireat", &[]),
    ("expiretime", &[]),
    ("failover", &[]),
    ("fcall", &[]),
    ("fcall_ro", &[]),
    ("flushall", &[]),
    ("flushdb", &[]),
    (
        "function",
        &[
            "delete", "dump", "flush", "help", "kill", "list", "load", "restore", "stats",
        ],
    ),
    ("geoadd", &[]),
    ("geodist", &[]),
    ("geohash", &[]),
    ("geopos", &[]),
    ("georadius", &[]),
    ("georadius_ro", &[]),
    ("georadiusbymember", &[]),
    ("georadiusbymember_ro", &[]),
    ("geosearch", &[]),
    ("geosearchstore", &[]),
    ("get", &[]),
    ("getbit", &[]),
    ("getdel", &[]),
    ("getex", &[]),
    ("getrange", &[]),
    ("getset", &[]),
    ("hdel", &[]),
    ("hello", &[]),
    ("hexists", &[]),
    ("hget", &[]),
    ("hgetall", &[]),
    ("hincrby", &[]),
    ("hincrbyfloat", &[]),
    ("hkeys", &[]),
    ("hlen", &[]),
    ("hmget", &[]),
    ("hmset", &[]),
    ("hrandfield", &[]),
    ("hscan", &[]),
    ("hset", &[]),
    ("hsetnx", &[]),
    ("hstrlen", &[]),
    ("hvals", &[]),
    ("incr", &[]),
    ("incrby", &[]),
    ("incrbyfloat", &[]),
    ("info", &[]),
    ("keys", &[]),
    ("lastsave", &[]),
    (
        "latency",
        &[
            "doctor",
            "graph",
            "help",
            "histogram",
            "history",
            "latest",
            "reset",
        ],
    ),
    ("lcs", &[]),
    ("lindex", &[]),
    ("linsert", &[]),
    ("llen", &[]),
    ("lmove", &[]),
    ("lmpop", &[]),
    ("lolwut", &[]),
    ("lpop", &[]),
    ("lpos", &[]),
    ("lpush", &[]),
    ("lpushx", &[]),
    ("lrange", &[]),
    ("lrem", &[]),
    ("lset", &[]),
    ("ltrim", &[]),
    (
        "memory",
        &["doctor", "help", "malloc-stats", "purge", "stats", "usage"],
    ),
    ("mget", &[]),
    ("migrate", &[]),
    ("module", &["help", "list", "load", "loadex", "unload"]),
    ("monitor", &[]),
    ("move", &[]),
    ("mset", &[]),
    ("msetnx", &[]),
    ("multi", &[]),
    (
        "object",
        &["encoding", "freq", "help", "idletime", "refcount"],
    ),
    ("persist", &[]),
    ("pexpire", &[]),
    ("pexpireat", &[]),
    ("pexpiretime", &[]),
    ("pfadd", &[]),
    ("pfcount", &[]),
    ("pfdebug", &[]),
    ("pfmerge", &[]),
    ("pfselftest", &[]),
    ("ping", &[]),
    ("psetex", &[]),
    ("psubscribe", &[]),
    ("psync", &[]),
    ("pttl", &[]),
    ("publish", &[]),
    (
        "pubsub",
        &[
            "channels",
            "help",
            "numpat",
            "numsub",
            "shardchannels",
            "shardnumsub",
        ],
    ),
    ("punsubscribe", &[]),
    ("quit", &[]),
    ("randomkey", &[]),
    ("readonly", &[]),
    ("readwrite", &[]),
    ("rename", &[]),
    ("renamenx", &[]),
    ("replconf", &[]),
    ("replicaof", &[]),
    ("reset", &[]),
    ("restore", &[]),
    ("restore-asking", &[]),
    ("role", &[]),
    ("rpop", &[]),
    ("rpoplpush", &[]),
    ("rpush", &[]),
    ("rpushx", &[]),
    ("sadd", &[]),
    ("save", &[]),
    ("scan", &[]),
    ("scard", &[]),
    ("script", &["exists", "flush", "help", "kill", "load"]),
    ("sdiff", &[]),
    ("sdiffstore", &[]),
    ("select", &[]),
    ("set", &[]),
    ("setbit", &[]),
    ("setex", &[]),
    ("setnx", &[]),
    ("setrange", &[]),
    ("shutdown", &[]),
    ("sinter", &[]),
    ("sintercard", &[]),
    ("sinterstore", &[]),
    ("sismember", &[]),
    ("slaveof", &[]),
    ("slowlog", &["get", "help", "len", "reset"]),
    ("smembers", &[]),
    ("smismember", &[]),
    ("smove", &[]),
    ("sort", &[]),
    ("sort_ro", &[]),
    ("spop", &[]),
    ("spublish", &[]),
    ("srandmember", &[]),
    ("srem", &[]),
    ("sscan", &[]),
    ("ssubscribe", &[]),
    ("strlen", &[]),
    ("subscribe", &[]),
    ("substr", &[]),
    ("sunion", &[]),
    ("sunionstore", &[]),
    ("sunsubscribe", &[]),
    ("swapdb", &[]),
    ("sync", &[]),
    ("time", &[]),
    ("touch", &[]),
    ("ttl", &[]),
    ("type", &[]),
    ("unlink", &[]),
    ("unsubscribe", &[]),
    ("unwatch", &[]),
    ("wait", &[]),
    ("watch", &[]),
    ("xack", &[]),
    ("xadd", &[]),
    ("xautoclaim", &[]),
    ("xclaim", &[]),
    ("xdel", &[]),
    (
        "xgroup",
        &[
            "create",
            "createconsumer",
            "delconsumer",
            "destroy",
            "help",
            "setid",
        ],
    ),
    ("xinfo", &["consumers", "groups", "help", "stream"]),
    ("xlen", &[]),
    ("xpending", &[]),
    ("xrange", &[]),
    ("xread", &[]),
    ("xreadgroup", &[]),
    ("xrevrange", &[]),
    ("xsetid", &[]),
    ("xtrim", &[]),
    ("zadd", &[]),
    ("zcard", &[]),
    ("zcount", &[]),
    ("zdiff", &[]),
    ("zdiffstore", &[]),
    ("zincrby", &[]),
    ("zinter", &[]),
    ("zintercard", &[]),
    ("zinterstore", &[]),
    ("zlexcount", &[]),
    ("zmpop", &[]),
    ("zmscore", &[]),
    ("zpopmax", &[]),
    ("zpopmin", &[]),
    ("zrandmember", &[]),
    ("zrange", &[]),
    ("zrangebylex", &[]),
    ("zrangebyscore", &[]),
    ("zrangestore", &[]),
    ("zrank", &[]),
    ("zrem", &[]),
    ("zremrangebylex", &[]),
    ("zremrangebyrank", &[]),
    ("zremrangebyscore", &[]),
    ("zrevrange", &[]),
    ("zrevrangebylex", &[]),
    ("zrevrangebyscore", &[]),
    ("zrevrank", &[]),
    ("zscan", &[]),
    ("zscore", &[]),
    ("zunion", &[]),
    ("zunionstore", &[]),
];

/// Which part of the table a lookup sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only the commands (and subcommands) Tandem implements: what clients see.
    Implemented,
    /// The whole Redis 7.0.15 table (tests, tooling).
    All,
}

/// Longest name the lookups accept; longer input cannot be a command name.
const MAX_NAME: usize = 32;

/// Binary search of `items` (sorted by lower-case name) for `input`, ignoring its
/// ASCII case. The input is lower-cased into a stack buffer once, so each probe is
/// a plain slice comparison.
fn find<'a, T>(items: &'a [T], name_of: impl Fn(&T) -> &str, input: &[u8]) -> Option<&'a T> {
    if input.len() > MAX_NAME {
        return None;
    }
    let mut buf = [0u8; MAX_NAME];
    let lower = &mut buf[..input.len()];
    lower.copy_from_slice(input);
    lower.make_ascii_lowercase();
    let lower = &*lower;
    items
        .binary_search_by(|item| name_of(item).as_bytes().cmp(lower))
        .ok()
        .and_then(|i| items.get(i))
}

/// The implemented commands and, in parallel, their implemented subcommands,
/// resolved once from [`IMPLEMENTED`].
struct Visible {
    top: Vec<&'static CommandSpec>,
    subs: Vec<Vec<&'static CommandSpec>>,
}

fn visible() -> &'static Visible {
    static VISIBLE: OnceLock<Visible> = OnceLock::new();
    VISIBLE.get_or_init(|| {
        let mut top = Vec::new();
        let mut subs = Vec::new();
        for (name, sub_names) in IMPLEMENTED {
            if let Some(spec) = lookup_any(name.as_bytes()) {
                top.push(spec);
                subs.push(
                    sub_names
                        .iter()
                        .filter_map(|s| lookup_sub_any(spec, s.as_bytes()))
                        .collect(),
                );
            }
        }
        Visible { top, subs }
    })
}

/// Case-insensitive lookup among implemented commands.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    find(&visible().top, |s| s.name, name).copied()
}

/// Case-insensitive lookup in the whole Redis 7.0.15 table, implemented or not.
pub fn lookup_any(name: &[u8]) -> Option<&'static CommandSpec> {
    find(COMMANDS, |s| s.name, name)
}

/// Subcommand lookup among implemented subcommands of `parent`.
pub fn lookup_sub(parent: &'static CommandSpec, sub: &[u8]) -> Option<&'static CommandSpec> {
    let v = visible();
    let i = v
        .top
        .binary_search_by(|c| c.full_name.cmp(parent.full_name))
        .ok()?;
    find(v.subs.get(i)?, |s| s.name, sub).copied()
}

/// Subcommand lookup among all subcommands of `parent`.
pub fn lookup_sub_any(parent: &'static CommandSpec, sub: &[u8]) -> Option<&'static CommandSpec> {
    find(parent.subcommands, |s| s.name, sub)
}

/// Implemented commands, sorted by name.
pub fn implemented() -> impl Iterator<Item = &'static CommandSpec> {
    visible().top.iter().copied()
}

/// Implemented subcommands of `parent` (sorted by name; empty when it has none).
pub fn implemented_subcommands(
    parent: &'static CommandSpec,
) -> impl Iterator<Item = &'static CommandSpec> {
    let v = visible();
    let subs: &'static [&'static CommandSpec] = v
        .top
        .binary_search_by(|c| c.full_name.cmp(parent.full_name))
        .ok()
        .and_then(|i| v.subs.get(i))
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    subs.iter().copied()
}

/// Every command of the Redis 7.0.15 table, sorted by name.
pub fn all_commands() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter()
}

impl Scope {
    /// Top-level lookup in this scope.
    pub fn lookup(self, name: &[u8]) -> Option<&'static CommandSpec> {
        match self {
            Scope::Implemented => lookup(name),
            Scope::All => lookup_any(name),
        }
    }

    /// Subcommand lookup in this scope.
    pub fn lookup_sub(
        self,
        parent: &'static CommandSpec,
        sub: &[u8],
    ) -> Option<&'static CommandSpec> {
        match self {
            Scope::Implemented => lookup_sub(parent, sub),
            Scope::All => lookup_sub_any(parent, sub),
        }
    }

    /// Top-level commands of this scope, sorted by name.
    pub fn commands(self) -> Box<dyn Iterator<Item = &'static CommandSpec>> {
        match self {
            Scope::Implemented => Box::new(implemented()),
            Scope::All => Box::new(all_commands()),
        }
    }

    /// Visible subcommands of `parent` in this scope, sorted by name.
    pub fn subcommands(
        self,
        parent: &'static CommandSpec,
    ) -> Box<dyn Iterator<Item = &'static CommandSpec>> {
        match self {
            Scope::Implemented => Box::new(implemented_subcommands(parent)),
            Scope::All => Box::new(parent.subcommands.iter()),
        }
    }

    /// Lookup by full name as COMMAND INFO/DOCS do: `"get"`, `"client|kill"`
    /// (exactly one `|` for a subcommand; a subcommand of a command without
    /// subcommands, or more than two parts, is not found).
    pub fn lookup_fullname(self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut parts = name.split(|&b| b == b'|');
        let first = parts.next()?;
        let second = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let base = self.lookup(first)?;
        match second {
            None => Some(base),
            Some(_) if !base.is_container() => None,
            Some(sub) => self.lookup_sub(base, sub),
        }
    }
}
