//! The copy-on-write hash table behind every database.
//!
//! A [`Table`] is a directory of [`SEGMENTS`] segments behind one `Arc`; each segment is a
//! `hashbrown` table behind its own `Arc`. A key's segment is chosen by the top bits of its
//! 64-bit hash, so segment `i` holds exactly the keys whose hash lies in the `i`-th slice of
//! the hash space (SCAN relies on this).
//!
//! Memory per key is what this layout is shaped by (Redis spends about 185 bytes on a key
//! with a 100-byte string value). A slot is one pointer to a boxed [`Entry`] holding the
//! key (inline up to [`INLINE_KEY`] bytes, no allocation of its own), the value, the expire
//! time and the access stamp: 80 bytes, one allocator size class. Open addressing leaves
//! slots empty (a table is between 7/16 and 7/8 full), which costs 8 bytes per empty slot
//! instead of a whole entry. No hash is stored: resizing, SCAN and RANDOMKEY recompute
//! [`hash_key`], which is cheap next to the memory it saves.
//!
//! Strings are stored inline in the entry; containers behind an `Arc` ([`Stored`]), because
//! copying a segment (below) clones its entries: a string's clone is a reference-count bump
//! on its bytes, a container's is a pointer copy.
//!
//! Cloning a table (what a snapshot does) copies one pointer. The first write afterwards
//! copies the directory (`SEGMENTS` pointers) and the touched segment (its entries, sharing
//! string bytes and containers); a write through [`Entry::value_mut`] copies a container
//! only if a snapshot still shares it. Untouched segments and values stay shared.
//!
//! Every empty segment of every table is the same shared allocation (copy-on-write splits it
//! on first insert), so an empty database costs one pointer.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use hashbrown::HashTable;

use crate::value::Value;
use crate::Millis;

/// log2 of the number of segments per table.
pub(crate) const SEGMENT_BITS: u32 = 12;
/// Segments per table.
pub const SEGMENTS: usize = 1 << SEGMENT_BITS;

/// The process-wide hash seed (random per process, like Redis's siphash seed).
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x7a6e_6465_6d00_0001);
        h.finish() | 1
    })
}

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The keyspace's hash of a key: seeded, fast, well mixed in every bit (the top bits pick
/// the segment, the whole value orders SCAN).
#[inline]
pub(crate) fn hash_key(key: &[u8]) -> u64 {
    const K1: u64 = 0xa076_1d64_78bd_642f;
    const K2: u64 = 0xe703_7ed1_a0b4_28db;
    const K3: u64 = 0x8ebc_6af0_9c88_c6e3;
    let mut h = seed() ^ (key.len() as u64).wrapping_mul(K3);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = fold_mul(h ^ u64::from_le_bytes(w), K1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        h = fold_mul(h ^ tail_word(rest), K2);
    }
    fold_mul(h ^ (h >> 29), K1 ^ K2)
}

/// The 1 to 7 bytes after a key's last whole word, as one word read with plain loads:
/// two overlapping 4-byte reads (4 to 7 bytes) or the first, middle and last byte (1 to 3);
/// with the length in the seed, distinct tails of one length give distinct words.
///
/// Copying the tail into a zeroed 8-byte buffer and loading that instead cost a third of
/// the server's CPU on 20-byte keys: the 8-byte load cannot be forwarded from the narrower
/// store, so it waits for the store to retire, behind every older load, and each key's
/// hash then waited for the previous key's cache misses (`redis-benchmark -P 16` INCR over
/// 1M keys: 1.24-1.32 us per request with 17- and 20-byte keys, 0.96-1.03 with 16 bytes).
#[inline]
fn tail_word(rest: &[u8]) -> u64 {
    if let (Some(lo), Some(hi)) = (rest.first_chunk::<4>(), rest.last_chunk::<4>()) {
        return u64::from(u32::from_le_bytes(*lo)) | (u64::from(u32::from_le_bytes(*hi)) << 32);
    }
    let n = rest.len();
    match rest {
        [first, ..] => {
            u64::from(*first) | (u64::from(rest[n / 2]) << 8) | (u64::from(rest[n - 1]) << 16)
        }
        [] => 0,
    }
}

/// The hash a segment's `hashbrown` table sees. All keys of a segment share the top
/// [`SEGMENT_BITS`] bits, and `hashbrown` takes its 7-bit tags from the top bits: feeding
/// it the key hash directly would give every key of a segment the same tag. One multiply
/// mixes the varying low bits into the top ones (and keeps the low bits varied).
#[inline]
fn inner(hash: u64) -> u64 {
    hash.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Segment index of a hash.
#[inline]
pub(crate) fn segment_of(hash: u64) -> usize {
    (hash >> (64 - SEGMENT_BITS)) as usize
}

/// The `expire` value of a key without TTL. `i64::MIN` is not a time anyone can set
/// (EXPIREAT/PEXPIREAT arguments that far in the past delete the key instead).
const NO_EXPIRE: Millis = Millis::MIN;

/// The most keys [`Table::reserve`] makes room for (a larger hint is a corrupt file, or a
/// dataset that grows the table as it loads past this size).
pub(crate) const RESERVE_MAX: u64 = 1 << 24;

/// Longest key stored inside its entry; longer keys get an allocation of their own.
pub(crate) const INLINE_KEY: usize = 22;

/// A key's bytes: inline when short (most keys), else boxed. 24 bytes either way. Also a
/// hash's field in its `hashtable` encoding (`value::hash`).
///
/// The form is canonical: a key of at most [`INLINE_KEY`] bytes is always `Inline`, with
/// the unused tail of `buf` zeroed, and a longer one always `Heap`. So two `KeyBuf`s are
/// equal exactly when their bytes are, and comparing two short keys (the derived `==`) is a
/// fixed-size compare rather than a call to `memcmp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyBuf {
    Inline { len: u8, buf: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl KeyBuf {
    pub(crate) fn new(key: &[u8]) -> KeyBuf {
        if key.len() <= INLINE_KEY {
            let mut buf = [0u8; INLINE_KEY];
            buf[..key.len()].copy_from_slice(key);
            KeyBuf::Inline {
                len: key.len() as u8,
                buf,
            }
        } else {
            KeyBuf::Heap(key.into())
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            KeyBuf::Inline { len, buf } => &buf[..usize::from(*len)],
            KeyBuf::Heap(b) => b,
        }
    }
}

/// A stored value: strings inline (cloning one shares its bytes), every other type behind
/// an `Arc` so segment copies share it (see the module docs).
#[derive(Clone, Debug)]
pub(crate) enum Stored {
    Inline(Value),
    Shared(Arc<Value>),
}

impl Stored {
    pub(crate) fn new(value: Value) -> Stored {
        match value {
            Value::String(_) => Stored::Inline(value),
            other => Stored::Shared(Arc::new(other)),
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> &Value {
        match self {
            Stored::Inline(v) => v,
            Stored::Shared(v) => v,
        }
    }

    /// The value, unique to this entry (copy-on-write against snapshots).
    pub(crate) fn get_mut(&mut self) -> &mut Value {
        match self {
            Stored::Inline(v) => v,
            Stored::Shared(v) => Arc::make_mut(v),
        }
    }

    /// The owned value (copied only if a snapshot still shares it).
    pub(crate) fn into_value(self) -> Value {
        match self {
            Stored::Inline(v) => v,
            Stored::Shared(v) => Arc::try_unwrap(v).unwrap_or_else(|shared| (*shared).clone()),
        }
    }

    /// A shared handle on the value (strings are copied into a new `Arc`: their bytes are
    /// shared, not copied).
    pub(crate) fn shared(&self) -> Arc<Value> {
        match self {
            Stored::Inline(v) => Arc::new(v.clone()),
            Stored::Shared(v) => Arc::clone(v),
        }
    }

    /// True if nothing else (a snapshot, a `get_shared` handle) holds the value.
    pub(crate) fn is_unique(&mut self) -> bool {
        match self {
            Stored::Inline(_) => true,
            Stored::Shared(v) => Arc::get_mut(v).is_some(),
        }
    }
}

/// One key: its bytes, value, expire time and the stamp of its last access (seconds, for
/// `OBJECT IDLETIME`, or the LFU counter).
#[derive(Debug)]
pub(crate) struct Entry {
    key: KeyBuf,
    value: Stored,
    /// Absolute expire time; [`NO_EXPIRE`] when the key has no TTL (a sentinel rather than
    /// an `Option` keeps the entry in the 80-byte size class).
    expire: Millis,
    /// Seconds since the epoch of the last access. Atomic so a read can refresh it through a
    /// segment shared with a snapshot without copying the segment (snapshots ignore it).
    access: AtomicU32,
}

impl Clone for Entry {
    fn clone(&self) -> Entry {
        Entry {
            key: self.key.clone(),
            value: self.value.clone(),
            expire: self.expire,
            access: AtomicU32::new(self.access.load(Ordering::Relaxed)),
        }
    }
}

fn encode_expire(at: Option<Millis>) -> Millis {
    at.map_or(NO_EXPIRE, |t| t.max(NO_EXPIRE + 1))
}

impl Entry {
    fn new(key: &[u8], value: Stored, expire: Option<Millis>, access: u32) -> Entry {
        Entry {
            key: KeyBuf::new(key),
            value,
            expire: encode_expire(expire),
            access: AtomicU32::new(access),
        }
    }

    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        self.key.as_slice()
    }

    #[inline]
    pub(crate) fn value(&self) -> &Value {
        self.value.get()
    }

    /// The value, made unique for mutation (copy-on-write against snapshots).
    pub(crate) fn value_mut(&mut self) -> &mut Value {
        self.value.get_mut()
    }

    pub(crate) fn stored(&self) -> &Stored {
        &self.value
    }

    pub(crate) fn into_stored(self) -> Stored {
        self.value
    }

    /// The absolute expire time, if any.
    #[inline]
    pub(crate) fn expire(&self) -> Option<Millis> {
        (self.expire != NO_EXPIRE).then_some(self.expire)
    }

    /// Set or clear the expire time; returns the previous one.
    pub(crate) fn set_expire(&mut self, at: Option<Millis>) -> Option<Millis> {
        let old = self.expire();
        self.expire = encode_expire(at);
        old
    }

    pub(crate) fn touch(&self, secs: u32) {
        self.access.store(secs, Ordering::Relaxed);
    }

    pub(crate) fn last_access(&self) -> u32 {
        self.access.load(Ordering::Relaxed)
    }
}

/// One segment: an open-addressing hash table of boxed entries.
#[derive(Clone, Debug, Default)]
pub(crate) struct Segment {
    pub(crate) slots: HashTable<Box<Entry>>,
    /// Bumped on every mutable access (SCAN's cache of the segment's order checks it).
    pub(crate) version: u64,
}

type Directory = Vec<Arc<Segment>>;

/// The shared directory every empty table starts from.
fn empty_directory() -> Arc<Directory> {
    static EMPTY: OnceLock<Arc<Directory>> = OnceLock::new();
    Arc::clone(EMPTY.get_or_init(|| {
        let seg = Arc::new(Segment::default());
        Arc::new(vec![seg; SEGMENTS])
    }))
}

/// A database's key table (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Table {
    dir: Arc<Directory>,
    len: usize,
    /// Unique per table created (a flushed database gets a new one); copied by snapshots.
    uid: u64,
}

impl Default for Table {
    fn default() -> Table {
        static NEXT_UID: AtomicU64 = AtomicU64::new(1);
        Table {
            dir: empty_directory(),
            len: 0,
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// The `hashbrown` hash of a stored entry (recomputed when a segment grows).
#[inline]
fn rehash(e: &Entry) -> u64 {
    inner(hash_key(e.key()))
}

impl Table {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn uid(&self) -> u64 {
        self.uid
    }

    pub(crate) fn segment(&self, i: usize) -> &Segment {
        &self.dir[i]
    }

    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&Entry> {
        self.dir[segment_of(hash)]
            .slots
            .find(inner(hash), |e| e.key() == key)
            .map(|e| &**e)
    }

    /// Where a key is: (segment, bucket), valid until the next write.
    pub(crate) fn find_index(&self, hash: u64, key: &[u8]) -> Option<(usize, usize)> {
        let seg = segment_of(hash);
        self.dir[seg]
            .slots
            .find_bucket_index(inner(hash), |e| e.key() == key)
            .map(|b| (seg, b))
    }

    /// The entry at a position [`Table::find_index`] returned.
    pub(crate) fn at(&self, (seg, bucket): (usize, usize)) -> Option<&Entry> {
        self.dir.get(seg)?.slots.get_bucket(bucket).map(|e| &**e)
    }

    /// Mutable access to the entry of `key` at a position [`Table::find_index`] just
    /// returned, copying its segment first if a snapshot shares it: no second probe. A copy
    /// keeps every entry at its bucket; were that ever not so, the key is looked up again.
    pub(crate) fn at_mut(
        &mut self,
        (seg, bucket): (usize, usize),
        hash: u64,
        key: &[u8],
    ) -> Option<&mut Entry> {
        let slots = &mut self.segment_mut(seg).slots;
        if slots.get_bucket(bucket).is_some_and(|e| e.key() == key) {
            slots.get_bucket_mut(bucket).map(|e| &mut **e)
        } else {
            slots
                .find_mut(inner(hash), |e| e.key() == key)
                .map(|e| &mut **e)
        }
    }

    /// Mutable access to segment `i`, copying the directory and the segment if shared.
    fn segment_mut(&mut self, i: usize) -> &mut Segment {
        let seg = Arc::make_mut(&mut Arc::make_mut(&mut self.dir)[i]);
        seg.version = seg.version.wrapping_add(1);
        seg
    }

    /// True if writing segment `i` would copy something (shared with a snapshot or the
    /// shared empty segment).
    fn is_shared(&self, i: usize) -> bool {
        Arc::strong_count(&self.dir) > 1 || Arc::strong_count(&self.dir[i]) > 1
    }

    pub(crate) fn get_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Entry> {
        let i = segment_of(hash);
        if self.is_shared(i) && self.get(hash, key).is_none() {
            return None;
        }
        self.segment_mut(i)
            .slots
            .find_mut(inner(hash), |e| e.key() == key)
            .map(|e| &mut **e)
    }

    /// Makes room for `keys` keys in all, as Redis's `dictExpand` on an RDB's RESIZEDB hint:
    /// each segment reserves its expected share plus four standard deviations, so a load
    /// does not rehash (recomputing every key's hash) while the table grows. The hint is
    /// untrusted input: at most [`RESERVE_MAX`] keys are reserved.
    pub(crate) fn reserve(&mut self, keys: u64) {
        let keys = usize::try_from(keys.min(RESERVE_MAX)).unwrap_or(0);
        let share = keys / SEGMENTS;
        if share == 0 {
            return;
        }
        let want = share + 4 * share.isqrt() + 1;
        for i in 0..SEGMENTS {
            let seg = self.segment_mut(i);
            let extra = want.saturating_sub(seg.slots.len());
            seg.slots.reserve(extra, |e| rehash(e));
        }
    }

    /// Insert or replace (the access stamp is reset to `access`); returns the previous value.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: &[u8],
        value: Stored,
        expire: Option<Millis>,
        access: u32,
    ) -> Option<Stored> {
        let seg = self.segment_mut(segment_of(hash));
        match seg
            .slots
            .entry(inner(hash), |e| e.key() == key, |e| rehash(e))
        {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                let e = o.get_mut();
                e.expire = encode_expire(expire);
                *e.access.get_mut() = access;
                Some(std::mem::replace(&mut e.value, value))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Box::new(Entry::new(key, value, expire, access)));
                self.len += 1;
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Entry> {
        let i = segment_of(hash);
        if self.is_shared(i) && self.get(hash, key).is_none() {
            return None;
        }
        let seg = self.segment_mut(i);
        match seg.slots.find_entry(inner(hash), |e| e.key() == key) {
            Ok(o) => {
                let (entry, _) = o.remove();
                self.len -= 1;
                Some(*entry)
            }
            Err(_) => None,
        }
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.dir.iter().flat_map(|s| s.slots.iter().map(|e| &**e))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::value::StrValue;
    use bytes::Bytes;

    #[test]
    fn tails_of_every_length_hash_apart() {
        use std::collections::HashSet;
        // Every 1- and 2-byte key, and keys of 3 to 23 bytes differing in one tail byte.
        let mut keys: Vec<Vec<u8>> = (0..=255u8).map(|a| vec![a]).collect();
        keys.extend((0..=u16::MAX).map(|x| x.to_le_bytes().to_vec()));
        for len in 3..24 {
            for pos in (len - len % 8)..len {
                for b in 0..=255u8 {
                    let mut k = vec![b'k'; len];
                    k[pos] = b;
                    keys.push(k);
                }
            }
        }
        let distinct: HashSet<Vec<u8>> = keys.iter().cloned().collect();
        let hashes: HashSet<u64> = distinct.iter().map(|k| hash_key(k)).collect();
        assert_eq!(hashes.len(), distinct.len());
        assert_ne!(tail_word(b"abcde"), tail_word(b"abcdf"));
        assert_ne!(tail_word(b"ab"), tail_word(b"ba"));
    }

    fn v(s: &'static str) -> Stored {
        Stored::new(Value::String(StrValue::raw(Bytes::from_static(
            s.as_bytes(),
        ))))
    }

    #[test]
    fn entry_stays_compact() {
        use std::mem::size_of;
        assert_eq!(size_of::<KeyBuf>(), 24);
        assert_eq!(size_of::<Stored>(), size_of::<Value>());
        // Key, value, expire and access in 80 bytes (a jemalloc size class).
        assert_eq!(size_of::<Value>(), 40);
        assert_eq!(size_of::<Entry>(), 80);
        assert_eq!(size_of::<Box<Entry>>(), 8);
    }

    #[test]
    fn keys_inline_and_boxed() {
        let mut t = Table::default();
        let long = vec![b'k'; 100];
        let keys = [
            &b""[..],
            b"a",
            &[7u8; INLINE_KEY],
            &[8u8; INLINE_KEY + 1],
            &long,
        ];
        for k in keys {
            t.insert(hash_key(k), k, v("x"), None, 0);
        }
        for k in keys {
            assert_eq!(t.get(hash_key(k), k).unwrap().key(), k);
        }
        assert!(t.get(hash_key(b"a\0"), b"a\0").is_none());
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn reserve_sizes_every_segment_and_caps_the_hint() {
        let mut t = Table::default();
        let before = t.clone();
        t.reserve(200_000);
        let share = 200_000 / SEGMENTS;
        for i in 0..SEGMENTS {
            assert!(t.segment(i).slots.capacity() >= share, "segment {i}");
        }
        // A snapshot taken before keeps the shared empty segments.
        assert_eq!(before.segment(0).slots.capacity(), 0);
        for i in 0..2000 {
            let k = Bytes::from(format!("k{i}"));
            t.insert(hash_key(&k), &k, v("x"), None, 0);
        }
        assert_eq!(t.len(), 2000);
        assert!(t.get(hash_key(b"k1999"), b"k1999").is_some());
        // An absurd hint (a corrupt RESIZEDB) reserves at most RESERVE_MAX keys.
        let mut huge = Table::default();
        huge.reserve(u64::MAX);
        let cap = huge.segment(0).slots.capacity() as u64;
        assert!(cap >= RESERVE_MAX / SEGMENTS as u64 && cap < 4 * RESERVE_MAX / SEGMENTS as u64);
        // Nothing to do for a hint under one key per segment.
        let mut small = Table::default();
        small.reserve(10);
        assert_eq!(small.segment(0).slots.capacity(), 0);
    }

    #[test]
    fn hash_spreads_over_segments() {
        let mut used = std::collections::HashSet::new();
        for i in 0..20_000 {
            used.insert(segment_of(hash_key(format!("key:{i}").as_bytes())));
        }
        assert!(used.len() > SEGMENTS * 9 / 10, "{}", used.len());
        assert_ne!(hash_key(b""), hash_key(b"\0"));
        assert_ne!(hash_key(b"a"), hash_key(b"a\0"));
    }

    #[test]
    fn cow_shares_untouched() {
        let mut t = Table::default();
        for i in 0..1000 {
            let k = Bytes::from(format!("k{i}"));
            t.insert(hash_key(&k), &k, v("x"), None, 0);
        }
        let snap = t.clone();
        let h = hash_key(b"k1");
        *t.get_mut(h, b"k1").unwrap().value_mut() =
            Value::from(StrValue::raw(Bytes::from_static(b"y")));
        assert_eq!(snap.get(h, b"k1").unwrap().value().type_name(), "string");
        t.remove(hash_key(b"k2"), b"k2");
        assert_eq!(t.len(), 999);
        assert_eq!(snap.len(), 1000);
        assert!(snap.get(hash_key(b"k2"), b"k2").is_some());
        let shared = (0..SEGMENTS)
            .filter(|&i| Arc::ptr_eq(&t.dir[i], &snap.dir[i]))
            .count();
        assert!(shared >= SEGMENTS - 2);
        // A miss on a shared segment copies nothing.
        assert!(t.get_mut(hash_key(b"nope"), b"nope").is_none());
        assert!(t.remove(hash_key(b"nope"), b"nope").is_none());
    }
}
