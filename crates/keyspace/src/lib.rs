//! Tandem's keyspace: Redis's numbered databases, every value type, expiry (lazy and
//! active), synchronous and asynchronous (lazy-free) flush and delete, SCAN with Redis's
//! guarantee, and copy-on-write snapshots for SAVE / full resync.
//!
//! The [`Keyspace`] is owned by one thread (the command executor); methods take `&mut self`
//! and the command's time (`now`, milliseconds since the epoch, Redis's `mstime()`), so
//! behaviour is deterministic in tests. What the layers above must react to (keys the server
//! expired, flushes, SWAPDB, and, when WATCH is in use, modified keys) is queued as
//! [`Event`]s and taken with [`Keyspace::drain_events`].
//!
//! ```
//! use bytes::Bytes;
//! use tandem_keyspace::{Expiry, Keyspace, KeyspaceConfig, StrValue, Value};
//!
//! let mut ks = Keyspace::new(KeyspaceConfig::default());
//! let now = 1_700_000_000_000;
//! let v = StrValue::from_bytes_for_set(Bytes::from_static(b"42"));
//! ks.set(0, Bytes::from_static(b"answer"), Value::String(v), Expiry::At(now + 1000));
//! assert_eq!(ks.get(0, b"answer", now).map(|v| v.encoding()), Some("int"));
//! let snap = ks.snapshot(); // O(databases), whatever the number of keys
//! assert!(ks.get(0, b"answer", now + 1001).is_none()); // lazily expired
//! assert_eq!(snap.len(0), 1); // the snapshot still has it
//! ```
//!
//! # Layout
//! - [`value`]: [`Value`], [`StrValue`] and the container types (one module each) with
//!   their encodings and [`EncodingLimits`].
//! - `table`: the copy-on-write segmented hash table each database is made of; the key hash.
//! - `db`: [`Keyspace`] itself: lookups with lazy expiry, writes, delete, flush, SWAPDB,
//!   RANDOMKEY, KEYS, events and stats.
//! - `expire`: the per-database index of keys with a TTL and the active expiry cycle.
//! - `scan`: SCAN over the stable hash order.
//! - `snapshot`: [`Snapshot`], a point-in-time view sharing the tables.
//! - `lazyfree`: the background `lazyfree` thread and its counters.
//! - [`rdb_conv`]: conversion to and from `tandem-rdb`'s value model and writing a
//!   [`Snapshot`] as an RDB file (maintained with the RDB work).
#![forbid(unsafe_code)]

use bytes::Bytes;

pub mod background;
mod db;
mod evict;
mod expire;
mod lazyfree;
pub mod rdb_conv;
mod scan;
mod snapshot;
mod table;
pub mod value;

pub use db::{Keyspace, Presence};
pub use evict::EvictionPolicy;

pub use snapshot::{Snapshot, SnapshotEntry};
pub use table::SEGMENTS;
pub use value::{
    EncodingLimits, HashValue, ListValue, SetValue, StrValue, StreamValue, Value, ZScore,
    ZSetValue, EMBSTR_SIZE_LIMIT, LAZYFREE_THRESHOLD,
};
/// Sorted set building blocks (ranges, iterators) for the sorted set and GEO commands.
pub use value::{Inserted, LexBound, LexRange, MemberMap, ScoreRange, ZIter};

/// A key.
pub type Key = Bytes;

/// Milliseconds since the Unix epoch (Redis's `mstime()`); callers pass the command's time.
pub type Millis = i64;

/// What SET-like writes do with an existing TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Keep the TTL the key had (KEEPTTL, and every in-place modification).
    Keep,
    /// Remove any TTL (plain SET).
    Clear,
    /// Expire at this absolute time.
    At(Millis),
}

/// Sync or async flush / delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeMode {
    Sync,
    Async,
}

/// Which databases `empty` clears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbTarget {
    All,
    One(usize),
}

/// Something the keyspace did that the layers above must know: propagate (expired keys as
/// DEL or UNLINK), invalidate WATCHes, count stats.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A key was modified by a command (recorded only when `track_modified` is on: WATCH).
    /// Also recorded for keys the server expires (Redis's `signalModifiedKey` on expiry).
    Modified {
        db: usize,
        key: Key,
    },
    /// The server itself removed an expired key (lazily or in the active cycle); propagate
    /// as `DEL` or, with `lazyfree-lazy-expire yes`, `UNLINK`.
    Expired {
        db: usize,
        key: Key,
    },
    /// The server evicted a key under `maxmemory` ([`Keyspace::evict`]); propagate as
    /// `DEL` or, with `lazyfree-lazy-eviction yes`, `UNLINK`.
    Evicted {
        db: usize,
        key: Key,
    },
    /// A database (or all) was emptied / two databases were swapped.
    Flushed(DbTarget),
    Swapped(usize, usize),
}

/// Settings the keyspace acts on (mirrors of config directives).
#[derive(Clone, Debug)]
pub struct KeyspaceConfig {
    pub databases: usize,
    /// Replica semantics: no active expiry, no lazy deletion; reads treat expired keys as absent.
    pub replica_mode: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_server_del: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_user_flush: bool,
    /// Record `Event::Modified` for every write (the server turns it on while WATCH is in use).
    pub track_modified: bool,
    /// The compact encodings' thresholds (what loading an RDB file builds).
    pub limits: EncodingLimits,
    /// Set under an LFU `maxmemory-policy`: access stamps hold Redis's LFU counter
    /// (OBJECT FREQ) instead of the last access time (OBJECT IDLETIME).
    pub lfu: Option<LfuConfig>,
    /// Record a [`KeyNote::New`] for every key created (keyspace notifications, class n).
    pub note_new: bool,
    /// Record a [`KeyNote::Expired`] for every key the server expires (class x).
    pub note_expired: bool,
    /// Record a [`KeyNote::Miss`] for every read lookup that finds nothing (class m).
    pub note_miss: bool,
    /// Record a [`KeyNote::Evicted`] for every key evicted (class e).
    pub note_evicted: bool,
}

/// A keyspace notification the keyspace itself fires, in the order things happened, for
/// the server to publish between a command's own ([`Keyspace::take_notes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyNote {
    /// A key was created (Redis's `dbAdd`: event `new`).
    New { db: usize, key: Key },
    /// A key was expired (event `expired`).
    Expired { db: usize, key: Key },
    /// A read lookup found nothing (event `keymiss`).
    Miss { db: usize, key: Key },
    /// A key was evicted under `maxmemory` (event `evicted`).
    Evicted { db: usize, key: Key },
}

/// Redis's LFU parameters (`lfu-log-factor`, `lfu-decay-time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LfuConfig {
    pub log_factor: u32,
    pub decay_time: u32,
}

impl Default for KeyspaceConfig {
    /// Redis 7.0.15's defaults: 16 databases, master, every lazyfree option off.
    fn default() -> KeyspaceConfig {
        KeyspaceConfig {
            databases: 16,
            replica_mode: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            track_modified: false,
            limits: EncodingLimits::default(),
            lfu: None,
            note_new: false,
            note_expired: false,
            note_miss: false,
            note_evicted: false,
        }
    }
}

/// Errors of keyspace operations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyspaceError {
    #[error("ERR DB index is out of range")]
    DbOutOfRange,
}

/// Counters for INFO.
#[derive(Clone, Debug, Default)]
pub struct KeyspaceStats {
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached_count: u64,
    /// Values freed by the lazy-free thread (in the keyspace's own copy: that thread's
    /// count at the last [`Keyspace::reset_stats`], which [`Keyspace::stats`] subtracts).
    pub lazyfreed_objects: u64,
}

#[cfg(test)]
mod tests;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
