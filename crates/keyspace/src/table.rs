//! The copy-on-write hash table behind every database.
//!
//! A [`Table`] is a directory of [`SEGMENTS`] segments behind one `Arc`; each segment is a
//! `hashbrown` table behind its own `Arc`, and each entry's value is behind an `Arc` too.
//! A key's segment is chosen by the top bits of its 64-bit hash, so segment `i` holds exactly
//! the keys whose hash lies in the `i`-th slice of the hash space (SCAN relies on this).
//!
//! Cloning a table (what a snapshot does) copies one pointer. The first write afterwards
//! copies the directory (`SEGMENTS` pointers) and the touched segment (its entries' keys and
//! value pointers, not the values); a write through [`Table::get_mut`] copies the value only
//! if a snapshot still shares it. Untouched segments and values stay shared.
//!
//! Every empty segment of every table is the same shared allocation (copy-on-write splits it
//! on first insert), so an empty database costs one pointer.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use hashbrown::HashTable;

use crate::value::Value;
use crate::{Key, Millis};

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
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold_mul(h ^ u64::from_le_bytes(w), K2);
    }
    fold_mul(h ^ (h >> 29), K1 ^ K2)
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

/// One key's data: the value (shared with snapshots until written), its expire time, and
/// the time of its last access (seconds, for `OBJECT IDLETIME`).
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) value: Arc<Value>,
    /// Absolute expire time; [`NO_EXPIRE`] when the key has no TTL (a sentinel rather than
    /// an `Option` keeps a slot at 64 bytes).
    expire: Millis,
    /// Seconds since the epoch of the last access. Atomic so a read can refresh it through a
    /// segment shared with a snapshot without copying the segment (snapshots ignore it).
    pub(crate) access: AtomicU32,
}

impl Clone for Entry {
    fn clone(&self) -> Entry {
        Entry {
            value: Arc::clone(&self.value),
            expire: self.expire,
            access: AtomicU32::new(self.access.load(Ordering::Relaxed)),
        }
    }
}

impl Entry {
    pub(crate) fn new(value: Arc<Value>, expire: Option<Millis>, access: u32) -> Entry {
        Entry {
            value,
            expire: expire.map_or(NO_EXPIRE, |t| t.max(NO_EXPIRE + 1)),
            access: AtomicU32::new(access),
        }
    }

    /// The absolute expire time, if any.
    #[inline]
    pub(crate) fn expire(&self) -> Option<Millis> {
        (self.expire != NO_EXPIRE).then_some(self.expire)
    }

    /// Set or clear the expire time; returns the previous one.
    pub(crate) fn set_expire(&mut self, at: Option<Millis>) -> Option<Millis> {
        let old = self.expire();
        self.expire = at.map_or(NO_EXPIRE, |t| t.max(NO_EXPIRE + 1));
        old
    }

    pub(crate) fn touch(&self, secs: u32) {
        self.access.store(secs, Ordering::Relaxed);
    }

    pub(crate) fn last_access(&self) -> u32 {
        self.access.load(Ordering::Relaxed)
    }
}

/// A stored key with its hash (kept so resizing, SCAN and splitting never rehash).
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub(crate) hash: u64,
    pub(crate) key: Key,
    pub(crate) entry: Entry,
}

/// One segment: an open-addressing hash table of slots.
#[derive(Clone, Debug, Default)]
pub(crate) struct Segment {
    pub(crate) slots: HashTable<Slot>,
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

    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&Slot> {
        self.dir[segment_of(hash)]
            .slots
            .find(inner(hash), |s| s.hash == hash && &s.key[..] == key)
    }

    /// Where a key is: (segment, bucket), valid until the next write.
    pub(crate) fn find_index(&self, hash: u64, key: &[u8]) -> Option<(usize, usize)> {
        let seg = segment_of(hash);
        self.dir[seg]
            .slots
            .find_bucket_index(inner(hash), |s| s.hash == hash && &s.key[..] == key)
            .map(|b| (seg, b))
    }

    /// The slot at a position [`Table::find_index`] returned.
    pub(crate) fn at(&self, (seg, bucket): (usize, usize)) -> Option<&Slot> {
        self.dir.get(seg)?.slots.get_bucket(bucket)
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

    pub(crate) fn get_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Slot> {
        let i = segment_of(hash);
        if self.is_shared(i) && self.get(hash, key).is_none() {
            return None;
        }
        self.segment_mut(i)
            .slots
            .find_mut(inner(hash), |s| s.hash == hash && &s.key[..] == key)
    }

    /// Insert or replace; returns the previous entry.
    pub(crate) fn insert(&mut self, hash: u64, key: Key, entry: Entry) -> Option<Entry> {
        let seg = self.segment_mut(segment_of(hash));
        match seg.slots.entry(
            inner(hash),
            |s| s.hash == hash && s.key[..] == key[..],
            |s| inner(s.hash),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                Some(std::mem::replace(&mut o.get_mut().entry, entry))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Slot { hash, key, entry });
                self.len += 1;
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Slot> {
        let i = segment_of(hash);
        if self.is_shared(i) && self.get(hash, key).is_none() {
            return None;
        }
        let seg = self.segment_mut(i);
        match seg
            .slots
            .find_entry(inner(hash), |s| s.hash == hash && &s.key[..] == key)
        {
            Ok(o) => {
                let (slot, _) = o.remove();
                self.len -= 1;
                Some(slot)
            }
            Err(_) => None,
        }
    }

    /// Every slot, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Slot> + '_ {
        self.dir.iter().flat_map(|s| s.slots.iter())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::value::StrValue;
    use bytes::Bytes;

    fn v(s: &'static str) -> Arc<Value> {
        Arc::new(Value::String(StrValue::raw(Bytes::from_static(
            s.as_bytes(),
        ))))
    }

    #[test]
    fn slot_stays_compact() {
        assert!(
            std::mem::size_of::<Slot>() <= 64,
            "{}",
            std::mem::size_of::<Slot>()
        );
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
            t.insert(hash_key(&k), k, Entry::new(v("x"), None, 0));
        }
        let snap = t.clone();
        let h = hash_key(b"k1");
        t.get_mut(h, b"k1").unwrap().entry.value = v("y");
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
