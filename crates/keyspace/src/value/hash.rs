//! Hashes: `listpack` (field-value pairs in insertion order, searched linearly) while the
//! hash has at most `hash-max-listpack-entries` fields and no field or value longer than
//! `hash-max-listpack-value` bytes, then `hashtable` for good.
//!
//! The `hashtable` encoding is a [`FieldTable`]: the pairs in a vector (so HRANDFIELD picks
//! a uniformly random field in O(1)) indexed by a `hashbrown` table of positions. Each pair
//! keeps the keyspace hash of its field; HSCAN visits fields in the order of that hash (its
//! top 63 bits, the field's *scan position*), which no insert, delete or resize changes, so
//! a cursor (the position where the next step starts) returns every field present for the
//! whole scan (Redis's guarantee). The sorted order is built on the first scan step and kept
//! until the set of fields changes.
//!
//! A lookup in a big table costs its cache misses: the index's control bytes, the index
//! slot, then the pair. So a pair is one 64-byte [`Entry`] aligned on a cache line, with
//! its field inline when it has at most [`INLINE_KEY`] bytes (the keyspace's own key
//! buffer, [`KeyBuf`]), and comparing a short field is a fixed-size compare inside that
//! line; only longer fields live in an allocation of their own. Fields are therefore handed
//! out as `&[u8]`, values as the `Bytes` they were stored as.

use std::sync::OnceLock;

use bytes::Bytes;
use hashbrown::HashTable;
use tandem_rdb::RdbValue;

use super::EncodingLimits;
use crate::table::{hash_key, KeyBuf, INLINE_KEY};

/// A hash, in one of Redis 7.0's two encodings.
#[derive(Clone, Debug, PartialEq)]
pub enum HashValue {
    /// `listpack`: pairs in insertion order (HGETALL and friends reply in this order).
    Listpack(Vec<(Bytes, Bytes)>),
    /// `hashtable`.
    Table(Box<FieldTable>),
}

impl Default for HashValue {
    fn default() -> HashValue {
        HashValue::Listpack(Vec::new())
    }
}

/// Iterator over a hash's pairs (see [`HashValue::iter`]).
pub enum HashIter<'a> {
    Listpack(std::slice::Iter<'a, (Bytes, Bytes)>),
    Table(std::slice::Iter<'a, Entry>),
}

impl<'a> Iterator for HashIter<'a> {
    /// A field and its value.
    type Item = (&'a [u8], &'a Bytes);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Listpack(it) => it.next().map(|(f, v)| (&f[..], v)),
            HashIter::Table(it) => it.next().map(Entry::pair),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            HashIter::Listpack(it) => it.size_hint(),
            HashIter::Table(it) => it.size_hint(),
        }
    }
}

impl DoubleEndedIterator for HashIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Listpack(it) => it.next_back().map(|(f, v)| (&f[..], v)),
            HashIter::Table(it) => it.next_back().map(Entry::pair),
        }
    }
}

impl ExactSizeIterator for HashIter<'_> {}

impl HashValue {
    /// Number of fields (HLEN).
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(v) => v.len(),
            HashValue::Table(t) => t.len(),
        }
    }

    /// True when the hash has no field (the key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Redis's `lazyfreeGetFreeEffort`: 1 for a listpack, else the number of fields.
    pub fn free_effort(&self) -> usize {
        match self {
            HashValue::Listpack(_) => 1,
            HashValue::Table(t) => t.len(),
        }
    }

    /// The value of `field`.
    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<&Bytes> {
        match self {
            HashValue::Listpack(v) => v.iter().find(|(f, _)| &f[..] == field).map(|(_, v)| v),
            HashValue::Table(t) => t.get(field),
        }
    }

    /// True if `field` exists (HEXISTS).
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; returns true if the field is new. Follows Redis's
    /// `hashTypeSet`: a listpack converts first when the field or value is longer than
    /// `hash-max-listpack-value`, and after the write when it holds more than
    /// `hash-max-listpack-entries` fields (even when the write only replaced a value).
    pub fn insert(&mut self, field: Bytes, value: Bytes, limits: &EncodingLimits) -> bool {
        self.set_with(&field.clone(), || field, value, limits)
    }

    /// [`HashValue::insert`] for a borrowed field, copied only when it is new (the hot
    /// path of HSET: an update allocates nothing for the field).
    #[inline]
    pub fn set(&mut self, field: &[u8], value: Bytes, limits: &EncodingLimits) -> bool {
        self.set_with(field, || Bytes::copy_from_slice(field), value, limits)
    }

    fn set_with(
        &mut self,
        field: &[u8],
        own: impl FnOnce() -> Bytes,
        value: Bytes,
        limits: &EncodingLimits,
    ) -> bool {
        if let HashValue::Listpack(v) = self {
            if field.len() > limits.hash_max_listpack_value
                || value.len() > limits.hash_max_listpack_value
            {
                self.convert_to_table();
            } else {
                let new = match v.iter_mut().find(|(f, _)| &f[..] == field) {
                    Some(slot) => {
                        slot.1 = value;
                        false
                    }
                    None => {
                        v.push((own(), value));
                        true
                    }
                };
                if v.len() > limits.hash_max_listpack_entries {
                    self.convert_to_table();
                }
                return new;
            }
        }
        match self {
            HashValue::Table(t) => t.set(field, value),
            HashValue::Listpack(_) => false,
        }
    }

    /// Removes `field`, returning its value.
    pub fn remove(&mut self, field: &[u8]) -> Option<Bytes> {
        match self {
            HashValue::Listpack(v) => {
                let at = v.iter().position(|(f, _)| &f[..] == field)?;
                Some(v.remove(at).1)
            }
            HashValue::Table(t) => t.remove(field),
        }
    }

    /// The pairs: insertion order for a listpack, the table's order otherwise.
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            HashValue::Listpack(v) => HashIter::Listpack(v.iter()),
            HashValue::Table(t) => HashIter::Table(t.entries.iter()),
        }
    }

    /// The `i`-th pair of [`HashValue::iter`]'s order, in O(1) (random picks).
    pub fn pair_at(&self, i: usize) -> Option<(&[u8], &Bytes)> {
        match self {
            HashValue::Listpack(v) => v.get(i).map(|(f, v)| (&f[..], v)),
            HashValue::Table(t) => t.entries.get(i).map(Entry::pair),
        }
    }

    /// One HSCAN step from `cursor`: the next cursor (0 when the scan is over) and the pairs.
    /// A listpack is returned whole with cursor 0, whatever the cursor (as Redis does); a
    /// table returns at least `count` pairs in scan-position order while pairs remain (more
    /// when positions collide: a step never splits a position).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], &Bytes)>) {
        match self {
            HashValue::Listpack(v) => (0, v.iter().map(|(f, v)| (&f[..], v)).collect()),
            HashValue::Table(t) => t.scan(cursor, count),
        }
    }

    /// Switches to `hashtable` (no-op if already there).
    pub fn convert_to_table(&mut self) {
        if let HashValue::Listpack(v) = self {
            let mut t = FieldTable::with_capacity(v.len());
            for (f, val) in std::mem::take(v) {
                t.set(&f, val);
            }
            *self = HashValue::Table(Box::new(t));
        }
    }

    /// The RDB model of this hash (a table's fields are copied out of their entries).
    pub fn to_rdb(&self) -> RdbValue {
        RdbValue::Hash(match self {
            HashValue::Listpack(v) => v.clone(),
            HashValue::Table(t) => t
                .entries
                .iter()
                .map(|e| (Bytes::copy_from_slice(e.field.as_slice()), e.value.clone()))
                .collect(),
        })
    }

    /// A hash loaded from RDB: `listpack` when it fits the limits, as Redis's loader decides.
    pub fn from_pairs(pairs: Vec<(Bytes, Bytes)>, limits: &EncodingLimits) -> HashValue {
        let compact = pairs.len() <= limits.hash_max_listpack_entries
            && pairs.iter().all(|(f, v)| {
                f.len() <= limits.hash_max_listpack_value
                    && v.len() <= limits.hash_max_listpack_value
            });
        if compact {
            let mut out: Vec<(Bytes, Bytes)> = Vec::with_capacity(pairs.len());
            for (f, v) in pairs {
                match out.iter_mut().find(|(g, _)| *g == f) {
                    Some(slot) => slot.1 = v,
                    None => out.push((f, v)),
                }
            }
            HashValue::Listpack(out)
        } else {
            let mut t = FieldTable::with_capacity(pairs.len());
            for (f, v) in pairs {
                t.set(&f, v);
            }
            HashValue::Table(Box::new(t))
        }
    }
}

/// One pair of a [`FieldTable`]: one cache line (64 bytes, 64-aligned), so finding a
/// short field and replacing its value touch a single line of the pair vector.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub struct Entry {
    /// The keyspace hash of `field` (index lookups and the scan position).
    hash: u64,
    /// Inline when at most [`INLINE_KEY`] bytes.
    field: KeyBuf,
    value: Bytes,
}

impl Entry {
    #[inline]
    fn pair(&self) -> (&[u8], &Bytes) {
        (self.field.as_slice(), &self.value)
    }
}

/// A field being looked up, in the form that compares fastest with a stored one.
enum Probe<'a> {
    /// At most [`INLINE_KEY`] bytes: the canonical inline form, so a match is a fixed-size
    /// compare of two inline buffers (and a stored long field never matches).
    Short(KeyBuf),
    /// Longer: compared with the stored field's bytes.
    Long(&'a [u8]),
}

impl<'a> Probe<'a> {
    #[inline]
    fn new(field: &'a [u8]) -> Probe<'a> {
        if field.len() <= INLINE_KEY {
            Probe::Short(KeyBuf::new(field))
        } else {
            Probe::Long(field)
        }
    }

    #[inline]
    fn matches(&self, stored: &KeyBuf) -> bool {
        match self {
            Probe::Short(k) => k == stored,
            Probe::Long(f) => stored.as_slice() == *f,
        }
    }

    /// The field as stored (a short one is already in that form).
    fn into_stored(self) -> KeyBuf {
        match self {
            Probe::Short(k) => k,
            Probe::Long(f) => KeyBuf::new(f),
        }
    }
}

/// The `hashtable` encoding: pairs in a vector, indexed by field.
#[derive(Debug, Default)]
pub struct FieldTable {
    entries: Vec<Entry>,
    /// Indexes into `entries`, hashed by the field's hash.
    index: HashTable<usize>,
    /// `(scan position, index)` sorted, built by the first scan step after the set of
    /// fields last changed.
    scan_order: OnceLock<Vec<(u64, usize)>>,
}

impl Clone for FieldTable {
    /// The scan order is not copied (a copy is made to be written).
    fn clone(&self) -> FieldTable {
        FieldTable {
            entries: self.entries.clone(),
            index: self.index.clone(),
            scan_order: OnceLock::new(),
        }
    }
}

impl PartialEq for FieldTable {
    /// Same fields with the same values, in any order.
    fn eq(&self, other: &FieldTable) -> bool {
        self.len() == other.len()
            && self
                .entries
                .iter()
                .all(|e| other.get(e.field.as_slice()) == Some(&e.value))
    }
}

/// The scan position of a hash: its top 63 bits (so that position + 1 never overflows).
fn position(hash: u64) -> u64 {
    hash >> 1
}

impl FieldTable {
    fn with_capacity(n: usize) -> FieldTable {
        FieldTable {
            entries: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            scan_order: OnceLock::new(),
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn find(&self, hash: u64, probe: &Probe<'_>) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(hash, |&i| {
                entries.get(i).is_some_and(|e| probe.matches(&e.field))
            })
            .copied()
    }

    /// The value of `field`.
    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<&Bytes> {
        let i = self.find(hash_key(field), &Probe::new(field))?;
        self.entries.get(i).map(|e| &e.value)
    }

    /// Sets `field` to `value`; true if the field is new.
    #[inline]
    fn set(&mut self, field: &[u8], value: Bytes) -> bool {
        let hash = hash_key(field);
        let probe = Probe::new(field);
        if let Some(i) = self.find(hash, &probe) {
            if let Some(e) = self.entries.get_mut(i) {
                e.value = value;
            }
            return false;
        }
        let at = self.entries.len();
        self.entries.push(Entry {
            hash,
            field: probe.into_stored(),
            value,
        });
        let entries = &self.entries;
        self.index
            .insert_unique(hash, at, |&i| entries.get(i).map_or(0, |e| e.hash));
        self.scan_order.take();
        true
    }

    fn remove(&mut self, field: &[u8]) -> Option<Bytes> {
        let hash = hash_key(field);
        let probe = Probe::new(field);
        let entries = &self.entries;
        let slot = self
            .index
            .find_entry(hash, |&i| {
                entries.get(i).is_some_and(|e| probe.matches(&e.field))
            })
            .ok()?;
        let (at, _) = slot.remove();
        let removed = self.entries.swap_remove(at);
        // The last pair moved into `at`: repoint its index slot.
        let moved_from = self.entries.len();
        if let Some(moved) = self.entries.get(at) {
            if let Some(i) = self.index.find_mut(moved.hash, |&i| i == moved_from) {
                *i = at;
            }
        }
        self.scan_order.take();
        Some(removed.value)
    }

    fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], &Bytes)>) {
        let order = self.scan_order.get_or_init(|| {
            let mut o: Vec<(u64, usize)> = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| (position(e.hash), i))
                .collect();
            o.sort_unstable();
            o
        });
        let from = order.partition_point(|&(p, _)| p < cursor);
        let rest = &order[from..];
        let (taken, next) = match rest.get(count.max(1) - 1) {
            Some(&(limit, _)) => {
                let end = rest.partition_point(|&(p, _)| p <= limit);
                let next = if end == rest.len() { 0 } else { limit + 1 };
                (&rest[..end], next)
            }
            None => (rest, 0),
        };
        let pairs = taken
            .iter()
            .filter_map(|&(_, i)| self.entries.get(i).map(Entry::pair))
            .collect();
        (next, pairs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn table() -> HashValue {
        let mut h = HashValue::default();
        h.convert_to_table();
        h
    }

    /// The pairs of `h` as a map (fields copied out).
    fn model_of(h: &HashValue) -> BTreeMap<Vec<u8>, Bytes> {
        h.iter().map(|(f, v)| (f.to_vec(), v.clone())).collect()
    }

    #[test]
    fn entry_is_one_cache_line() {
        // The layout before fields went inline: hash, field and value `Bytes`.
        let before = std::mem::size_of::<(u64, Bytes, Bytes)>();
        let (size, align) = (std::mem::size_of::<Entry>(), std::mem::align_of::<Entry>());
        println!("hash Entry: {size} bytes, aligned on {align} (was {before} bytes)");
        assert_eq!(size, 64);
        assert_eq!(align, 64);
    }

    #[test]
    fn fields_at_the_inline_boundary_and_binary() {
        let lim = EncodingLimits::default();
        let mut fields: Vec<Vec<u8>> = [0, 1, 21, INLINE_KEY, INLINE_KEY + 1, 24, 64]
            .iter()
            .map(|&n| vec![b'f'; n])
            .collect();
        // Zero bytes look like the padding of an inline buffer: only the length tells
        // these apart.
        for n in [1, 2, 21, INLINE_KEY, INLINE_KEY + 1] {
            fields.push(vec![0; n]);
        }
        fields.push(b"a".to_vec());
        fields.push(b"a\0".to_vec());
        fields.push(b"a\0\0".to_vec());
        fields.push(vec![0xff; INLINE_KEY]);
        fields.push((0..=255).collect());
        // A 22-byte field and the same bytes plus one (inline against out of line).
        let mut p = b"element:000000123456:x".to_vec();
        assert_eq!(p.len(), INLINE_KEY);
        fields.push(p.clone());
        p.push(0);
        fields.push(p.clone());
        p.push(b'y');
        fields.push(p);

        let mut h = table();
        let mut model = BTreeMap::new();
        for (i, f) in fields.iter().enumerate() {
            let v = Bytes::from(format!("v{i}"));
            assert!(h.set(f, v.clone(), &lim), "{f:?} new");
            model.insert(f.clone(), v);
        }
        assert_eq!(h.len(), fields.len());
        for (f, v) in &model {
            assert_eq!(h.get(f), Some(v), "{f:?}");
        }
        assert_eq!(h.get(&[0; 3]), None);
        assert_eq!(h.get(&[b'f'; 25]), None);
        assert_eq!(h.get(b"element:000000123456:"), None);
        assert_eq!(model_of(&h), model);
        // Updates find the same pair, whichever side of the boundary.
        for (i, f) in fields.iter().enumerate() {
            let v = Bytes::from(format!("w{i}"));
            assert!(!h.set(f, v.clone(), &lim), "{f:?} update");
            model.insert(f.clone(), v);
        }
        assert_eq!(model_of(&h), model);
        // Random access, scans and RDB see the same bytes.
        let picked: BTreeMap<_, _> = (0..h.len())
            .filter_map(|i| h.pair_at(i))
            .map(|(f, v)| (f.to_vec(), v.clone()))
            .collect();
        assert_eq!(picked, model);
        let (next, pairs) = h.scan(0, 1000);
        assert_eq!(next, 0);
        let scanned: BTreeMap<_, _> = pairs
            .into_iter()
            .map(|(f, v)| (f.to_vec(), v.clone()))
            .collect();
        assert_eq!(scanned, model);
        let RdbValue::Hash(pairs) = h.to_rdb() else {
            panic!("not a hash");
        };
        let loaded = HashValue::from_pairs(pairs, &lim);
        assert_eq!(loaded.encoding(), "hashtable");
        assert_eq!(loaded, h);
        // Removal, one field at a time, leaves the others reachable.
        for f in &fields {
            assert_eq!(h.remove(f), model.remove(f), "{f:?}");
            assert_eq!(h.remove(f), None);
            assert_eq!(model_of(&h), model);
            for (g, v) in &model {
                assert_eq!(h.get(g), Some(v));
            }
        }
        assert!(h.is_empty());
    }

    #[test]
    fn owned_binary_fields_convert_from_listpack() {
        let lim = EncodingLimits::default();
        let mut h = HashValue::default();
        let fields = [
            Bytes::from_static(b""),
            Bytes::from_static(b"\0"),
            Bytes::from(vec![0u8; INLINE_KEY]),
            Bytes::from(vec![0u8; INLINE_KEY + 1]),
        ];
        for f in &fields {
            assert!(h.insert(f.clone(), f.clone(), &lim));
        }
        assert_eq!(h.encoding(), "listpack");
        h.convert_to_table();
        assert_eq!(h.encoding(), "hashtable");
        for f in &fields {
            assert_eq!(h.get(f), Some(f));
            assert!(!h.insert(f.clone(), b("x"), &lim));
        }
        assert_eq!(h.len(), fields.len());
    }

    #[test]
    fn listpack_switches_at_the_limits() {
        let lim = EncodingLimits {
            hash_max_listpack_entries: 2,
            hash_max_listpack_value: 4,
            ..EncodingLimits::default()
        };
        let mut h = HashValue::default();
        assert!(h.set(b"a", b("1"), &lim));
        assert!(h.set(b"b", b("2"), &lim));
        assert!(!h.set(b"a", b("3"), &lim));
        assert_eq!(h.encoding(), "listpack");
        assert!(h.set(b"c", b("4"), &lim));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b("3")));
        let mut h = HashValue::default();
        h.set(b"a", b("1"), &lim);
        assert!(!h.set(b"a", b("12345"), &lim));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b("12345")));
        // An update converts when the hash already holds more than the limit.
        let mut h = HashValue::Listpack(vec![(b("a"), b("1")), (b("b"), b("2"))]);
        let small = EncodingLimits {
            hash_max_listpack_entries: 1,
            ..lim
        };
        assert!(!h.set(b"a", b("9"), &small));
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn table_insert_remove_keeps_index() {
        let mut h = HashValue::default();
        h.convert_to_table();
        let lim = EncodingLimits::default();
        for i in 0..500 {
            assert!(h.set(format!("f{i}").as_bytes(), b("v"), &lim));
        }
        for i in (0..500).step_by(3) {
            assert_eq!(h.remove(format!("f{i}").as_bytes()), Some(b("v")));
        }
        for i in 0..500 {
            assert_eq!(h.contains(format!("f{i}").as_bytes()), i % 3 != 0, "{i}");
        }
        assert_eq!(h.len(), 333);
        assert_eq!(h.iter().len(), 333);
        let other = HashValue::from_pairs(
            h.iter()
                .map(|(f, v)| (Bytes::copy_from_slice(f), v.clone()))
                .rev()
                .collect(),
            &EncodingLimits {
                hash_max_listpack_entries: 0,
                ..lim
            },
        );
        assert_eq!(h, other);
    }

    #[test]
    fn table_scan_returns_every_stable_field() {
        let lim = EncodingLimits::default();
        let mut h = HashValue::default();
        h.convert_to_table();
        for i in 0..1000 {
            h.set(format!("f{i}").as_bytes(), b("v"), &lim);
        }
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            let (next, pairs) = h.scan(cursor, 7);
            let got: Vec<Vec<u8>> = pairs.iter().map(|(f, _)| f.to_vec()).collect();
            seen.extend(got);
            // Writes between steps: fields 1000.. come and go, some stable ones get updated.
            h.set(format!("x{step}").as_bytes(), b("w"), &lim);
            h.remove(format!("x{}", step / 2).as_bytes());
            h.set(format!("f{}", step % 1000).as_bytes(), b("u"), &lim);
            step += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("f{i}").as_bytes()), "f{i} missing");
        }
        let (next, all) = h.scan(0, 100_000);
        assert_eq!(next, 0);
        let m: BTreeMap<_, _> = all.into_iter().collect();
        assert_eq!(m.len(), h.len());
    }

    /// Fields near the inline bound, from a small alphabet so that writes collide.
    fn field() -> impl Strategy<Value = Vec<u8>> {
        (prop_oneof![Just(0u8), Just(b'a'), Just(0xff)], 0usize..30).prop_flat_map(|(fill, n)| {
            proptest::collection::vec(prop_oneof![Just(fill), Just(1u8)], n)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A table behaves as a map under sets and removes of fields on both sides of the
        /// inline bound.
        #[test]
        fn table_matches_a_map(ops in proptest::collection::vec((any::<bool>(), field(), any::<u8>()), 0..300)) {
            let lim = EncodingLimits::default();
            let mut h = table();
            let mut model: BTreeMap<Vec<u8>, Bytes> = BTreeMap::new();
            for (set, f, v) in ops {
                if set {
                    let v = Bytes::from(vec![v]);
                    prop_assert_eq!(h.set(&f, v.clone(), &lim), model.insert(f, v).is_none());
                } else {
                    prop_assert_eq!(h.remove(&f), model.remove(&f));
                }
                prop_assert_eq!(h.len(), model.len());
            }
            for (f, v) in &model {
                prop_assert_eq!(h.get(f), Some(v));
            }
            prop_assert_eq!(model_of(&h), model);
        }
    }
}
