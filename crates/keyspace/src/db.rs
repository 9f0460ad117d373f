//! The [`Keyspace`]: every database, lookups with lazy expiry, writes, deletes, flushes.
//!
//! Lookups follow Redis 7.0.15's `lookupKey` / `expireIfNeeded`:
//! - on a master, a key found logically expired (`now > expire`) is deleted on access, counted
//!   in `expired_keys`, and reported as [`Event::Expired`] (freed on the lazy-free thread when
//!   `lazyfree-lazy-expire` is on);
//! - in replica mode, reads treat it as absent without deleting it (the master's DEL will
//!   come), while write lookups delete it (Redis's forced deletion for writable replicas);
//! - while the master's stream is applied ([`Keyspace::set_master_context`]), nothing is
//!   considered expired at all, as Redis does for commands of its master client;
//! - while clients are paused ([`Keyspace::set_expire_paused`]), expired keys read as
//!   absent and are not deleted, even by write lookups.
//!
//! Reads refresh the key's access time (for `OBJECT IDLETIME`) through an atomic in the entry,
//! so reading never copies segments a snapshot shares.

use std::sync::Arc;

use crate::evict::EvictionPool;
use crate::expire::TtlIndex;
use crate::lazyfree::{Garbage, LazyFree};
use crate::scan::ScanCache;
use crate::snapshot::Snapshot;
use crate::table::{hash_key, Entry, Stored, Table, SEGMENTS};
use crate::value::{StrValue, Value, LAZYFREE_THRESHOLD};
use crate::{
    DbTarget, Event, Expiry, FreeMode, Key, KeyNote, KeyspaceConfig, KeyspaceError, KeyspaceStats,
    LfuConfig, Millis,
};

/// One database: its table, its TTL index and the expiry estimate.
#[derive(Debug, Default)]
pub(crate) struct Db {
    pub(crate) table: Table,
    pub(crate) ttl: TtlIndex,
    pub(crate) avg_ttl: i64,
}

/// All databases.
pub struct Keyspace {
    pub(crate) cfg: KeyspaceConfig,
    pub(crate) dbs: Vec<Db>,
    pub(crate) events: Vec<Event>,
    pub(crate) stats: KeyspaceStats,
    lazy: LazyFree,
    /// The last `now` seen; used by the methods that take no time (`set`, LRU stamps).
    pub(crate) clock: Millis,
    /// True while the master's stream is applied: no key counts as expired.
    pub(crate) master_context: bool,
    /// True while clients are paused (CLIENT PAUSE, FAILOVER): expired keys read as absent
    /// but stay, as on a replica ([`Keyspace::set_expire_paused`]).
    pub(crate) expire_paused: bool,
    pub(crate) expire_next_db: usize,
    pub(crate) scan_cache: ScanCache,
    /// Notifications recorded for the server ([`KeyNote`]), oldest first.
    pub(crate) notes: Vec<KeyNote>,
    /// Eviction candidates kept between evictions (LRU, LFU, TTL policies).
    pub(crate) evict_pool: EvictionPool,
    /// Where the random eviction policies look next.
    pub(crate) evict_next_db: usize,
    rng: u64,
}

/// Whether a key is in the table, and whether it is logically expired there
/// ([`Keyspace::presence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Not in the table.
    Absent,
    /// In the table and not expired.
    Live,
    /// In the table, past its expire time, not yet deleted.
    Expired,
}

/// Lookup outcome after the expiry check.
enum Found {
    Absent,
    /// Live, at this (segment, bucket) of the table.
    Live((usize, usize)),
}

pub(crate) fn secs(now: Millis) -> u32 {
    (now.max(0) / 1000) as u32
}

/// Redis's `LFU_INIT_VAL`: the counter of a new key.
const LFU_INIT_VAL: u32 = 5;

/// Redis's `LFUGetTimeInMinutes`: minutes since the epoch, 16 bits.
fn lfu_minutes(now: Millis) -> u32 {
    ((now.max(0) / 60_000) & 0xffff) as u32
}

/// Redis's `LFUDecrAndReturn`: the stamp's counter, decremented by one per
/// `decay_time` minutes elapsed since the stamp's minute.
pub(crate) fn lfu_decayed(stamp: u32, now: Millis, decay_time: u32) -> u32 {
    // 16 bits of minutes, as Redis's `ldt`; a stamp left by the LRU policy (seconds,
    // before a switch to LFU) has more, and is read the same way Redis reads its
    // 24-bit `lru` field.
    let then = (stamp >> 8) & 0xffff;
    let counter = stamp & 0xff;
    if decay_time == 0 {
        return counter;
    }
    let cur = lfu_minutes(now);
    let elapsed = if cur >= then {
        cur - then
    } else {
        0xffff - then + cur
    };
    counter.saturating_sub(elapsed / decay_time)
}

/// The access stamp a touching lookup leaves: seconds (LRU), or Redis's `updateLFU`
/// (decay, then a logarithmic increment drawn with `rng`).
fn touch_stamp(lfu: Option<LfuConfig>, old: u32, now: Millis, rng: &mut u64) -> u32 {
    let Some(lfu) = lfu else {
        return secs(now);
    };
    let mut counter = lfu_decayed(old, now, lfu.decay_time);
    if counter < 255 {
        // Redis's LFULogIncr: p = 1 / ((counter - LFU_INIT_VAL) * lfu-log-factor + 1).
        let mut x = *rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *rng = x;
        let r = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        if r < 1.0 / (base * f64::from(lfu.log_factor) + 1.0) {
            counter += 1;
        }
    }
    (lfu_minutes(now) << 8) | counter
}

impl Keyspace {
    /// A keyspace with `cfg.databases` empty databases (at least one).
    pub fn new(cfg: KeyspaceConfig) -> Keyspace {
        let n = cfg.databases.max(1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Keyspace {
            cfg,
            dbs: (0..n).map(|_| Db::default()).collect(),
            events: Vec::new(),
            stats: KeyspaceStats::default(),
            lazy: LazyFree::default(),
            clock: now,
            master_context: false,
            expire_paused: false,
            expire_next_db: 0,
            scan_cache: ScanCache::default(),
            notes: Vec::new(),
            evict_pool: EvictionPool::default(),
            evict_next_db: 0,
            rng: (hash_key(b"tandem-keyspace-rng") | 1) ^ now as u64,
        }
    }

    pub fn config(&self) -> &KeyspaceConfig {
        &self.cfg
    }

    /// Change settings at run time (CONFIG SET, role changes). `databases` cannot change
    /// after creation (Redis's directive is immutable); it is kept as created.
    pub fn config_mut(&mut self) -> &mut KeyspaceConfig {
        &mut self.cfg
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// Makes room for `keys` keys in database `db` (an RDB's RESIZEDB hint), so loading
    /// them does not rehash the table as it grows; capped, since the hint is untrusted.
    /// Does nothing for a database out of range.
    pub fn reserve(&mut self, db: usize, keys: u64) {
        if let Some(d) = self.dbs.get_mut(db) {
            d.table.reserve(keys);
        }
    }

    /// While `on`, no key is considered expired (Redis: commands from the master client of a
    /// replica see keys exactly as the master sent them; the master's DEL removes them).
    pub fn set_master_context(&mut self, on: bool) {
        self.master_context = on;
    }

    /// While `on`, keys found expired are reported absent but not deleted, and active expiry
    /// stops: Redis 7.0's `expireIfNeeded` during a client pause (CLIENT PAUSE, FAILOVER), so
    /// that the dataset, and the replication offset, stay still until the pause ends.
    pub fn set_expire_paused(&mut self, on: bool) {
        self.expire_paused = on;
    }

    /// Whether a key found expired is deleted (and counted) now: not on a replica, not
    /// during a pause.
    pub(crate) fn deletes_expired(&self) -> bool {
        !self.cfg.replica_mode && !self.expire_paused
    }

    /// Set the keyspace clock (what [`Keyspace::set`] uses to check the old value's expiry
    /// and to stamp access times). Every method that takes `now` sets it too.
    pub fn set_now(&mut self, now: Millis) {
        self.clock = now;
    }

    pub(crate) fn is_expired(&self, expire: Option<Millis>, now: Millis) -> bool {
        match expire {
            Some(when) => !self.master_context && now > when,
            None => false,
        }
    }

    pub(crate) fn next_random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Remove a key the server found expired: count it, free it, report it.
    pub(crate) fn expire_key(&mut self, db: usize, hash: u64, key: &[u8]) {
        let Some(d) = self.dbs.get_mut(db) else {
            return;
        };
        let Some(entry) = d.table.remove(hash, key) else {
            return;
        };
        if entry.expire().is_some() {
            d.ttl.remove(hash, key);
        }
        self.stats.expired_keys += 1;
        let mode = if self.cfg.lazyfree_lazy_expire {
            FreeMode::Async
        } else {
            FreeMode::Sync
        };
        self.free_value(entry.into_stored(), mode);
        let key = Key::copy_from_slice(key);
        if self.cfg.note_expired {
            self.notes.push(KeyNote::Expired {
                db,
                key: key.clone(),
            });
        }
        if self.cfg.track_modified {
            self.events.push(Event::Expired {
                db,
                key: key.clone(),
            });
            self.events.push(Event::Modified { db, key });
        } else {
            self.events.push(Event::Expired { db, key });
        }
    }

    /// Free a removed value: on the lazy-free thread when asked and worth it (Redis's
    /// `LAZYFREE_THRESHOLD`), and only if no snapshot still shares it.
    fn free_value(&mut self, mut value: Stored, mode: FreeMode) {
        if mode == FreeMode::Async
            && value.is_unique()
            && value.get().free_effort() > LAZYFREE_THRESHOLD
        {
            self.lazy.free(Garbage::Value(value));
        }
    }

    /// The expiry check of every lookup (see the module docs). `write` asks for Redis's
    /// forced deletion in replica mode.
    fn check(&mut self, db: usize, hash: u64, key: &[u8], now: Millis, write: bool) -> Found {
        self.clock = now;
        let Some(d) = self.dbs.get(db) else {
            return Found::Absent;
        };
        let Some(at) = d.table.find_index(hash, key) else {
            return Found::Absent;
        };
        let expire = d.table.at(at).and_then(|e| e.expire());
        if !self.is_expired(expire, now) {
            return Found::Live(at);
        }
        if !self.expire_paused && (!self.cfg.replica_mode || write) {
            self.expire_key(db, hash, key);
        }
        Found::Absent
    }

    /// Looks `key` up without any effect (no expiry, no access time) so that the lookup
    /// that follows finds its memory in the caches: the server calls it for the keys of a
    /// pipelined batch back to back before running the batch, so that their cache misses
    /// overlap instead of coming one command at a time. Also reads the first byte of a
    /// string value (its bytes live apart from the entry). Returns whether the key exists.
    pub fn warm(&self, db: usize, key: &[u8]) -> bool {
        let Some(d) = self.dbs.get(db) else {
            return false;
        };
        let Some(entry) = d.table.get(hash_key(key), key) else {
            return false;
        };
        if let Value::String(StrValue::Bytes { data, .. }) = entry.value() {
            std::hint::black_box(data.first().copied());
        }
        true
    }

    /// Read lookup: expired keys are removed (master) or hidden (replica_mode); None if absent.
    /// Refreshes the key's access time.
    pub fn get(&mut self, db: usize, key: &[u8], now: Millis) -> Option<&Value> {
        let hash = hash_key(key);
        let Found::Live(at) = self.check(db, hash, key, now, false) else {
            return None;
        };
        let entry = self.dbs.get(db)?.table.at(at)?;
        let stamp = touch_stamp(self.cfg.lfu, entry.last_access(), now, &mut self.rng);
        entry.touch(stamp);
        Some(entry.value())
    }

    /// [`Keyspace::get`] for a client's read lookup (Redis's `lookupKeyRead`): a miss is
    /// also noted ([`Keyspace::note_miss`]).
    pub fn get_read(&mut self, db: usize, key: &[u8], now: Millis) -> Option<&Value> {
        let hash = hash_key(key);
        let Found::Live(at) = self.check(db, hash, key, now, false) else {
            self.note_miss(db, key);
            return None;
        };
        let entry = self.dbs.get(db)?.table.at(at)?;
        let stamp = touch_stamp(self.cfg.lfu, entry.last_access(), now, &mut self.rng);
        entry.touch(stamp);
        Some(entry.value())
    }

    /// [`Keyspace::get`] returning a shared handle on the value, for commands that read
    /// several values at once (SINTER, SUNION, ...). Drop it before writing to the key, or
    /// the write copies the value.
    pub fn get_shared(&mut self, db: usize, key: &[u8], now: Millis) -> Option<Arc<Value>> {
        let hash = hash_key(key);
        let Found::Live(at) = self.check(db, hash, key, now, false) else {
            return None;
        };
        let entry = self.dbs.get(db)?.table.at(at)?;
        let stamp = touch_stamp(self.cfg.lfu, entry.last_access(), now, &mut self.rng);
        entry.touch(stamp);
        Some(entry.stored().shared())
    }

    /// Like [`Keyspace::get`] but leaves the access time alone (TYPE, OBJECT, EXISTS:
    /// Redis's `LOOKUP_NOTOUCH`).
    pub fn peek(&mut self, db: usize, key: &[u8], now: Millis) -> Option<&Value> {
        let hash = hash_key(key);
        let Found::Live(at) = self.check(db, hash, key, now, false) else {
            return None;
        };
        Some(self.dbs.get(db)?.table.at(at)?.value())
    }

    /// [`Keyspace::peek`] for a client's read lookup (TYPE, EXISTS, TTL: Redis's
    /// `LOOKUP_NOTOUCH`): a miss is also noted ([`Keyspace::note_miss`]).
    pub fn peek_read(&mut self, db: usize, key: &[u8], now: Millis) -> Option<&Value> {
        let hash = hash_key(key);
        let Found::Live(at) = self.check(db, hash, key, now, false) else {
            self.note_miss(db, key);
            return None;
        };
        Some(self.dbs.get(db)?.table.at(at)?.value())
    }

    /// Write lookup: the value, made unique (copy-on-write against snapshots) for mutation.
    /// The TTL is untouched.
    pub fn get_mut(&mut self, db: usize, key: &[u8], now: Millis) -> Option<&mut Value> {
        let hash = hash_key(key);
        let Found::Live(at) = self.check(db, hash, key, now, true) else {
            return None;
        };
        let entry = self.dbs.get_mut(db)?.table.at_mut(at, hash, key)?;
        let stamp = touch_stamp(self.cfg.lfu, entry.last_access(), now, &mut self.rng);
        entry.touch(stamp);
        Some(entry.value_mut())
    }

    /// Whether `key` is in the table and whether it is logically expired, with no effect at
    /// all (no expiry, no access time): Redis's `dictFind` and `keyIsExpired`, which WATCH
    /// and the flushes of watched keys go by.
    pub fn presence(&self, db: usize, key: &[u8], now: Millis) -> Presence {
        let entry = self
            .dbs
            .get(db)
            .and_then(|d| d.table.get(hash_key(key), key));
        match entry {
            None => Presence::Absent,
            Some(e) if self.is_expired(e.expire(), now) => Presence::Expired,
            Some(_) => Presence::Live,
        }
    }

    /// True if the key exists (and is not logically expired). Does not touch the access time.
    pub fn exists(&mut self, db: usize, key: &[u8], now: Millis) -> bool {
        let hash = hash_key(key);
        matches!(self.check(db, hash, key, now, false), Found::Live(_))
    }

    /// Seconds since the key was last accessed (`OBJECT IDLETIME`), None if absent.
    pub fn idle_time(&mut self, db: usize, key: &[u8], now: Millis) -> Option<u64> {
        let hash = hash_key(key);
        let Found::Live(at) = self.check(db, hash, key, now, false) else {
            return None;
        };
        let entry = self.dbs.get(db)?.table.at(at)?;
        Some(u64::from(secs(now).saturating_sub(entry.last_access())))
    }

    /// The key's access frequency (`OBJECT FREQ` under an LFU policy: Redis's
    /// `LFUDecrAndReturn`), without touching it. None if absent.
    pub fn frequency(&mut self, db: usize, key: &[u8], now: Millis) -> Option<u8> {
        let hash = hash_key(key);
        let Found::Live(at) = self.check(db, hash, key, now, false) else {
            return None;
        };
        let entry = self.dbs.get(db)?.table.at(at)?;
        let decay = self.cfg.lfu.map_or(0, |l| l.decay_time);
        Some(lfu_decayed(entry.last_access(), now, decay) as u8)
    }

    /// RESTORE's IDLETIME / FREQ (Redis's `objectSetLRUOrLFU`): under an LFU policy a
    /// frequency sets the counter; otherwise an idle time moves the access time back.
    pub fn set_access_hint(
        &mut self,
        db: usize,
        key: &[u8],
        now: Millis,
        idle_secs: Option<u64>,
        freq: Option<u8>,
    ) {
        let hash = hash_key(key);
        let lfu = self.cfg.lfu.is_some();
        let Some(entry) = self.dbs.get(db).and_then(|d| d.table.get(hash, key)) else {
            return;
        };
        match (lfu, idle_secs, freq) {
            (true, _, Some(f)) => entry.touch((lfu_minutes(now) << 8) | u32::from(f)),
            (false, Some(idle), _) => {
                let back = u32::try_from(idle).unwrap_or(u32::MAX);
                entry.touch(secs(now).saturating_sub(back));
            }
            _ => {}
        }
    }

    /// Insert or overwrite; `expiry` says what happens to the TTL. An old value that is
    /// logically expired at the keyspace clock is expired first (as Redis's write lookup
    /// would have done), so `Expiry::Keep` never keeps a stale TTL.
    pub fn set(&mut self, db: usize, key: impl AsRef<[u8]>, value: Value, expiry: Expiry) {
        let key = key.as_ref();
        let now = self.clock;
        let hash = hash_key(key);
        let Some(d) = self.dbs.get(db) else {
            return;
        };
        // Every key with a TTL is in the TTL index: when it is empty, the old value (if any)
        // has no expire time, so it can be neither expired nor kept, and the lookup below
        // (a second probe of the table per SET) is skipped.
        let old_expire = if d.ttl.len() == 0 {
            None
        } else {
            d.table.get(hash, key).map(|e| e.expire())
        };
        let old_expire = match old_expire {
            Some(e) if self.is_expired(e, now) => {
                self.expire_key(db, hash, key);
                None
            }
            Some(e) => e,
            None => None,
        };
        let new_expire = match expiry {
            Expiry::Keep => old_expire,
            Expiry::Clear => None,
            Expiry::At(t) => Some(t),
        };
        let Some(d) = self.dbs.get_mut(db) else {
            return;
        };
        match (old_expire.is_some(), new_expire.is_some()) {
            (false, true) => d.ttl.insert(hash, key),
            (true, false) => d.ttl.remove(hash, key),
            _ => {}
        }
        let stamp = match self.cfg.lfu {
            None => secs(now),
            Some(_) => (lfu_minutes(now) << 8) | LFU_INIT_VAL,
        };
        let old = d
            .table
            .insert(hash, key, Stored::new(value), new_expire, stamp);
        if old.is_none() && self.cfg.note_new {
            self.notes.push(KeyNote::New {
                db,
                key: Key::copy_from_slice(key),
            });
        }
        if let Some(old) = old {
            let mode = if self.cfg.lazyfree_lazy_server_del {
                FreeMode::Async
            } else {
                FreeMode::Sync
            };
            self.free_value(old, mode);
        }
    }

    /// Delete; `mode` Async hands big values (> 64 elements) to the lazy-free thread.
    /// Returns false if the key did not exist (a logically expired key is expired first, as
    /// Redis's DEL does, and counts as absent on a master).
    pub fn delete(&mut self, db: usize, key: &[u8], now: Millis, mode: FreeMode) -> bool {
        let hash = hash_key(key);
        self.clock = now;
        let Some(d) = self.dbs.get(db) else {
            return false;
        };
        let expire = match d.table.get(hash, key) {
            None => return false,
            Some(e) => e.expire(),
        };
        if self.is_expired(expire, now) && self.deletes_expired() {
            self.expire_key(db, hash, key);
            return false;
        }
        self.remove_entry(db, hash, key, mode)
    }

    pub(crate) fn remove_entry(
        &mut self,
        db: usize,
        hash: u64,
        key: &[u8],
        mode: FreeMode,
    ) -> bool {
        let Some(d) = self.dbs.get_mut(db) else {
            return false;
        };
        let Some(entry) = d.table.remove(hash, key) else {
            return false;
        };
        if entry.expire().is_some() {
            d.ttl.remove(hash, key);
        }
        self.free_value(entry.into_stored(), mode);
        true
    }

    /// The key's absolute expire time, if it exists and has one (no expiry check).
    pub fn expire_at(&self, db: usize, key: &[u8]) -> Option<Millis> {
        let hash = hash_key(key);
        self.dbs.get(db)?.table.get(hash, key)?.expire()
    }

    /// Set a TTL on an existing key; false if the key does not exist.
    pub fn set_expire(&mut self, db: usize, key: &[u8], at: Millis) -> bool {
        let hash = hash_key(key);
        let Some(d) = self.dbs.get_mut(db) else {
            return false;
        };
        let Some(entry) = d.table.get_mut(hash, key) else {
            return false;
        };
        if entry.set_expire(Some(at)).is_none() {
            d.ttl.insert(hash, key);
        }
        true
    }

    /// Remove the TTL; true if the key had one.
    pub fn persist(&mut self, db: usize, key: &[u8]) -> bool {
        let hash = hash_key(key);
        let Some(d) = self.dbs.get_mut(db) else {
            return false;
        };
        match d.table.get(hash, key) {
            Some(e) if e.expire().is_some() => {}
            _ => return false,
        }
        if let Some(entry) = d.table.get_mut(hash, key) {
            entry.set_expire(None);
        }
        d.ttl.remove(hash, key);
        true
    }

    /// Record a write to `key` for WATCH (call after every successful modification).
    /// Does nothing unless `track_modified` is on.
    pub fn touch_modified(&mut self, db: usize, key: &[u8]) {
        if self.cfg.track_modified {
            self.events.push(Event::Modified {
                db,
                key: Key::copy_from_slice(key),
            });
        }
    }

    /// RENAME / MOVE building block: remove the key and return its value and TTL.
    pub fn take(&mut self, db: usize, key: &[u8], now: Millis) -> Option<(Value, Option<Millis>)> {
        let hash = hash_key(key);
        if let Found::Absent = self.check(db, hash, key, now, true) {
            return None;
        }
        let d = self.dbs.get_mut(db)?;
        let entry = d.table.remove(hash, key)?;
        let expire = entry.expire();
        if expire.is_some() {
            d.ttl.remove(hash, key);
        }
        Some((entry.into_stored().into_value(), expire))
    }

    /// Number of keys (DBSIZE; includes keys logically expired but not yet removed).
    pub fn dbsize(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, |d| d.table.len())
    }

    /// Number of keys with a TTL (INFO keyspace `expires`).
    pub fn expires_count(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, |d| d.ttl.len())
    }

    /// INFO keyspace `avg_ttl`: the running estimate the active expiry cycle maintains.
    pub fn avg_ttl(&self, db: usize) -> i64 {
        self.dbs.get(db).map_or(0, |d| d.avg_ttl)
    }

    /// A random entry of `db` drawn with the random numbers `r` and `r2`: a random
    /// non-empty segment, then a random occupied bucket in it. None if `db` is empty.
    pub(crate) fn random_entry(&self, db: usize, r: u64, r2: u64) -> Option<&Entry> {
        let d = self.dbs.get(db)?;
        if d.table.len() == 0 {
            return None;
        }
        let mut seg = (r as usize) % SEGMENTS;
        while d.table.segment(seg).slots.is_empty() {
            seg = (seg + 1) % SEGMENTS;
        }
        let slots = &d.table.segment(seg).slots;
        let buckets = slots.num_buckets().max(1);
        for k in 0..64u64 {
            let idx = (r2.wrapping_add(k.wrapping_mul(0x9e37_79b9)) as usize) % buckets;
            if let Some(s) = slots.get_bucket(idx) {
                return Some(s);
            }
        }
        let n = slots.len();
        slots.iter().nth((r2 as usize) % n).map(|e| &**e)
    }

    /// RANDOMKEY. On a master, expired keys met on the way are deleted; in replica mode (and
    /// during a pause) a database where every key has a TTL may return a logically expired
    /// key after 100 tries
    /// (as Redis does, to avoid looping forever).
    pub fn random_key(&mut self, db: usize, now: Millis) -> Option<Key> {
        self.clock = now;
        let mut tries = 0;
        loop {
            let d = self.dbs.get(db)?;
            if d.table.len() == 0 {
                return None;
            }
            let all_volatile = d.ttl.len() == d.table.len();
            let r = self.next_random();
            let r2 = self.next_random();
            let entry = self.random_entry(db, r, r2)?;
            let key = Key::copy_from_slice(entry.key());
            if !self.is_expired(entry.expire(), now) {
                return Some(key);
            }
            tries += 1;
            if !self.deletes_expired() {
                if all_volatile && tries >= 100 {
                    return Some(key);
                }
                continue;
            }
            self.expire_key(db, hash_key(&key), &key);
        }
    }

    /// KEYS: every live key for which `matches` is true (expired keys are skipped, not
    /// deleted, as Redis's KEYS does).
    pub fn keys(&mut self, db: usize, now: Millis, matches: &dyn Fn(&[u8]) -> bool) -> Vec<Key> {
        self.clock = now;
        let Some(d) = self.dbs.get(db) else {
            return Vec::new();
        };
        d.table
            .iter()
            .filter(|e| !self.is_expired(e.expire(), now) && matches(e.key()))
            .map(|e| Key::copy_from_slice(e.key()))
            .collect()
    }

    /// SWAPDB.
    pub fn swap_db(&mut self, a: usize, b: usize) -> Result<(), KeyspaceError> {
        if a >= self.dbs.len() || b >= self.dbs.len() {
            return Err(KeyspaceError::DbOutOfRange);
        }
        if a == b {
            // Redis's dbSwapDatabases stops here too: no WATCH is touched, no blocked
            // client woken.
            return Ok(());
        }
        self.dbs.swap(a, b);
        self.events.push(Event::Swapped(a, b));
        Ok(())
    }

    /// Redis's emptyDb: returns the number of keys removed. Async swaps fresh tables in at
    /// once and frees the old ones on the lazy-free thread.
    pub fn empty(&mut self, target: DbTarget, mode: FreeMode) -> Result<usize, KeyspaceError> {
        let range = match target {
            DbTarget::All => 0..self.dbs.len(),
            DbTarget::One(i) if i < self.dbs.len() => i..i + 1,
            DbTarget::One(_) => return Err(KeyspaceError::DbOutOfRange),
        };
        let mut removed = 0;
        let mut old = Vec::new();
        for i in range {
            let d = std::mem::take(&mut self.dbs[i]);
            removed += d.table.len();
            if d.table.len() > 0 {
                old.push(d);
            }
        }
        if mode == FreeMode::Async && removed > 0 {
            // Tables and TTL indexes both go: returning is O(databases).
            self.lazy.free(Garbage::Dbs(old, removed as u64));
        } else {
            drop(old);
        }
        self.events.push(Event::Flushed(target));
        Ok(removed)
    }

    /// A consistent point-in-time view of every database, in O(databases).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            dbs: self.dbs.iter().map(|d| d.table.clone()).collect(),
            functions: Vec::new(),
        }
    }

    /// A read lookup of `key` found nothing: recorded as a [`KeyNote::Miss`] when asked
    /// for (the callers are the read lookups that Redis lets notify).
    #[inline]
    pub fn note_miss(&mut self, db: usize, key: &[u8]) {
        if self.cfg.note_miss {
            self.notes.push(KeyNote::Miss {
                db,
                key: Key::copy_from_slice(key),
            });
        }
    }

    /// The [`KeyNote`]s recorded since the last call, oldest first.
    #[inline]
    pub fn take_notes(&mut self) -> Vec<KeyNote> {
        if self.notes.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut self.notes)
    }

    /// Events since the last drain.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Counters for INFO (a copy; `lazyfreed_objects` is read from the lazy-free thread's
    /// counter).
    pub fn stats(&self) -> KeyspaceStats {
        let mut s = self.stats.clone();
        s.lazyfreed_objects = self
            .lazy
            .freed()
            .saturating_sub(self.stats.lazyfreed_objects);
        s
    }

    /// CONFIG RESETSTAT: every counter back to zero (`lazyfreed_objects` counts from now).
    pub fn reset_stats(&mut self) {
        self.stats = KeyspaceStats {
            lazyfreed_objects: self.lazy.freed(),
            ..KeyspaceStats::default()
        };
    }

    /// INFO memory `lazyfree_pending_objects`.
    pub fn lazyfree_pending(&self) -> u64 {
        self.lazy.pending()
    }
}
