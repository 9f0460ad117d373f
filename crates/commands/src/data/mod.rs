//! Data commands: execution against the keyspace, and what each write propagates.
//!
//! A handler gets an [`ExecCtx`]: the keyspace, the client's database, the command's time
//! (Redis evaluates a whole command at one `mstime()`), the reply encoder, and a
//! [`Propagation`] to fill. After a handler returns, the caller propagates:
//! - nothing when `ctx.dirty` did not grow (no change, as Redis's `server.dirty` rule);
//! - the command as received when the handler did not rewrite it;
//! - the rewritten commands otherwise (`SET k v EX 10` becomes `SET k v PXAT <abs>`,
//!   INCRBYFLOAT becomes `SET k <v> KEEPTTL`, ...), exactly as redis-server 7.0.15 does.
//!
//! Handlers live in one module per family; [`handler`] finds the one for a command.

pub mod blocking;
pub mod cscan;
pub mod generic;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod lists;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
#[cfg(test)]
mod test_env;
pub mod zsets;

use bytes::Bytes;
use tandem_keyspace::{EncodingLimits, Keyspace, Millis, Value};
use tandem_resp::Encoder;

/// Settings data commands read (mirrors of config directives).
#[derive(Clone, Debug, Default)]
pub struct DataSettings {
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_user_flush: bool,
    pub lazyfree_lazy_expire: bool,
    /// `proto-max-bulk-len`: the largest string SETRANGE/APPEND/SETBIT may create.
    pub proto_max_bulk_len: i64,
    /// True on a replica applying its master's stream (no lazy deletion of expired keys).
    pub replica_mode: bool,
    /// The compact encodings' thresholds (`hash-max-listpack-entries`, ...).
    pub limits: EncodingLimits,
    /// `hll-sparse-max-bytes`: the largest sparse HyperLogLog before it turns dense.
    pub hll_sparse_max_bytes: usize,
    /// `notify-keyspace-events` as Redis's flag bits (see [`notify`]); 0 turns every
    /// keyspace notification off.
    pub notify_flags: i32,
}

/// Keyspace notification classes, the bits of `notify-keyspace-events` as Redis numbers
/// them (`NOTIFY_*`).
pub mod notify {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: i32 = 1;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: i32 = 1 << 1;
    /// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
    pub const GENERIC: i32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: i32 = 1 << 3;
    pub const LIST: i32 = 1 << 4;
    pub const SET: i32 = 1 << 5;
    pub const HASH: i32 = 1 << 6;
    pub const ZSET: i32 = 1 << 7;
    /// `x`: a key expired.
    pub const EXPIRED: i32 = 1 << 8;
    /// `e`: a key was evicted.
    pub const EVICTED: i32 = 1 << 9;
    pub const STREAM: i32 = 1 << 10;
    /// `m`: a read lookup found nothing (not part of `A`).
    pub const KEY_MISS: i32 = 1 << 11;
    /// `n`: a key was created.
    pub const NEW: i32 = 1 << 14;
}

impl From<tandem_keyspace::KeyNote> for Notification {
    /// The keyspace's own notes: `new` (class n) and `expired` (class x).
    fn from(n: tandem_keyspace::KeyNote) -> Notification {
        let (class, event, db, key) = match n {
            tandem_keyspace::KeyNote::New { db, key } => (notify::NEW, "new", db, key),
            tandem_keyspace::KeyNote::Expired { db, key } => (notify::EXPIRED, "expired", db, key),
            tandem_keyspace::KeyNote::Miss { db, key } => (notify::KEY_MISS, "keymiss", db, key),
            tandem_keyspace::KeyNote::Evicted { db, key } => (notify::EVICTED, "evicted", db, key),
        };
        Notification {
            class,
            event,
            key,
            db,
        }
    }
}

/// One keyspace notification a command fired (Redis's `notifyKeyspaceEvent`): the server
/// publishes it once the command has run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// One of the [`notify`] classes.
    pub class: i32,
    pub event: &'static str,
    pub key: Bytes,
    pub db: usize,
}

/// Counters data commands update (INFO stats).
#[derive(Clone, Debug, Default)]
pub struct DataStats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

/// What a write sends to replicas and the AOF.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Propagation {
    /// `None`: propagate the command as received (if it changed anything).
    /// `Some(list)`: propagate exactly these commands instead (possibly none).
    pub rewritten: Option<Vec<Vec<Bytes>>>,
}

impl Propagation {
    /// Replaces the propagated form by `cmds`.
    pub fn rewrite(&mut self, cmds: Vec<Vec<Bytes>>) {
        self.rewritten = Some(cmds);
    }

    /// Appends one command to the rewritten form (starting an empty rewrite if needed).
    pub fn push(&mut self, cmd: Vec<Bytes>) {
        self.rewritten.get_or_insert_with(Vec::new).push(cmd);
    }

    /// Propagate nothing even though the dataset changed.
    pub fn suppress(&mut self) {
        self.rewritten = Some(Vec::new());
    }

    /// The commands to propagate for `args`, given whether the dataset changed.
    pub fn resolve(&self, args: &[Bytes], dirty: bool) -> Vec<Vec<Bytes>> {
        match &self.rewritten {
            Some(cmds) => cmds.clone(),
            None if dirty => vec![args.to_vec()],
            None => Vec::new(),
        }
    }
}

/// Everything a data command handler may use.
pub struct ExecCtx<'a, 'e> {
    pub ks: &'a mut Keyspace,
    /// The client's selected database.
    pub db: usize,
    /// The time keys expire by, in milliseconds since the epoch: when the command
    /// started, or when the transaction or script it runs in started (time stands still
    /// there, as in Redis, so a key cannot expire halfway through).
    pub now: Millis,
    /// The clock read when the command started: TTL arithmetic (TTL, EXPIRE, SET EX,
    /// GETEX) uses it, as Redis 7.0 reads `mstime()` there. Equal to `now` outside a
    /// transaction or script.
    pub clock: Millis,
    pub enc: &'a mut Encoder<'e>,
    pub prop: &'a mut Propagation,
    /// Number of changes made to the dataset (Redis's `server.dirty` increments).
    pub dirty: u64,
    pub settings: &'a DataSettings,
    pub stats: &'a mut DataStats,
    /// False inside MULTI/EXEC and on the master's stream: a blocking command that cannot be
    /// served then answers at once as if its timeout had passed (Redis's rule).
    pub may_block: bool,
    /// Set by a blocking command that cannot be served now (and `may_block` is true): it
    /// wrote no reply, and the server parks the client on these keys.
    pub block: Option<BlockOn>,
    /// Keyspace notifications fired so far, in order ([`ExecCtx::notify`]).
    pub notes: Vec<Notification>,
}

impl ExecCtx<'_, '_> {
    /// Moves the keyspace's own notifications ([`tandem_keyspace::KeyNote`]: `new`,
    /// `expired`) into [`ExecCtx::notes`], in the order they happened.
    pub fn take_key_notes(&mut self) {
        for n in self.ks.take_notes() {
            self.notes.push(Notification::from(n));
        }
    }

    /// Fires a keyspace notification of `class` for `key` in the current database, if
    /// `notify-keyspace-events` asks for that class (and for K or E).
    #[inline]
    pub fn notify(&mut self, class: i32, event: &'static str, key: &[u8]) {
        self.notify_in(self.db, class, event, key);
    }

    /// [`ExecCtx::notify`] for a key of database `db` (MOVE, COPY ... DB).
    #[inline]
    pub fn notify_in(&mut self, db: usize, class: i32, event: &'static str, key: &[u8]) {
        // What the keyspace noted meanwhile (keys created, keys expired) came first.
        self.take_key_notes();
        let flags = self.settings.notify_flags;
        if flags & class == 0 || flags & (notify::KEYSPACE | notify::KEYEVENT) == 0 {
            return;
        }
        self.notes.push(Notification {
            class,
            event,
            key: Bytes::copy_from_slice(key),
            db,
        });
    }
}

/// What a blocking command (BLPOP, BZPOPMIN, XREAD BLOCK, ...) asks for when nothing can be
/// served now. The server parks the client; whenever one of `keys` (in the client's database)
/// is modified it runs the command again (with `retry_args` if given), first blocked client
/// first; a run that blocks again keeps the client's place. When `deadline` passes, the
/// client gets `on_timeout`.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockOn {
    /// Keys whose change may let the command be served.
    pub keys: Vec<Bytes>,
    /// Absolute deadline, ms since the epoch; `None` blocks forever (timeout 0).
    pub deadline: Option<Millis>,
    /// The reply when the deadline passes.
    pub on_timeout: TimeoutReply,
    /// The command to run on retry when it differs from the original (XREAD's `$` becomes
    /// the stream's last ID at the time of blocking).
    pub retry_args: Option<Vec<Bytes>>,
}

/// The reply a blocked client gets when its timeout passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutReply {
    /// Null array: `*-1` (RESP2), `_` (RESP3). BLPOP, BZPOPMIN, BLMPOP, XREAD, ...
    NullArray,
    /// Null bulk: `$-1` (RESP2), `_` (RESP3). BLMOVE, BRPOPLPUSH.
    NullBulk,
}

/// Redis's `lookupKeyRead`: the key's value (expired first if needed, its access time
/// refreshed), counting a keyspace hit or miss. Every family's typed read lookup starts here.
pub(crate) fn lookup_key_read<'k>(
    ks: &'k mut Keyspace,
    stats: &mut DataStats,
    db: usize,
    key: &[u8],
    now: Millis,
) -> Option<&'k Value> {
    let found = ks.get_read(db, key, now);
    if found.is_some() {
        stats.keyspace_hits += 1;
    } else {
        stats.keyspace_misses += 1;
    }
    found
}

/// A data command handler. `args[0]` is the command name.
pub type Handler = fn(&mut ExecCtx<'_, '_>, &[Bytes]);

/// A family's handler body: replies itself on success, or returns the error to reply
/// (each family's error enum carries Redis's exact texts through `Display`).
pub(crate) type Body<E> = fn(&mut ExecCtx<'_, '_>, &[Bytes]) -> Result<(), E>;

/// Runs `body` at the command's time and turns its error, if any, into the error reply:
/// what every family's handlers have in common.
pub(crate) fn run<E: std::fmt::Display>(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], body: Body<E>) {
    ctx.ks.set_now(ctx.now);
    if let Err(e) = body(ctx, args) {
        ctx.enc.error(e.to_string().as_bytes());
    }
}

/// The handler for a command's full name (`get`, `object|encoding`), if it is a data command.
pub fn handler(full_name: &str) -> Option<Handler> {
    strings::handler(full_name)
        .or_else(|| generic::handler(full_name))
        .or_else(|| lists::handler(full_name))
        .or_else(|| hashes::handler(full_name))
        .or_else(|| cscan::handler(full_name))
        .or_else(|| sets::handler(full_name))
        .or_else(|| zsets::handler(full_name))
        .or_else(|| streams::handler(full_name))
        .or_else(|| hyperloglog::handler(full_name))
        .or_else(|| geo::handler(full_name))
        .or_else(|| sort::handler(full_name))
}
