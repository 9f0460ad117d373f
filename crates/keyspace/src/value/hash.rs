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

use std::sync::OnceLock;

use bytes::Bytes;
use hashbrown::HashTable;
use tandem_rdb::RdbValue;

use super::EncodingLimits;
use crate::table::hash_key;

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
    type Item = (&'a Bytes, &'a Bytes);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Listpack(it) => it.next().map(|(f, v)| (f, v)),
            HashIter::Table(it) => it.next().map(|e| (&e.field, &e.value)),
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
            HashIter::Listpack(it) => it.next_back().map(|(f, v)| (f, v)),
            HashIter::Table(it) => it.next_back().map(|e| (&e.field, &e.value)),
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
            HashValue::Table(t) => t.set_with(field, own, value),
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
    pub fn pair_at(&self, i: usize) -> Option<(&Bytes, &Bytes)> {
        match self {
            HashValue::Listpack(v) => v.get(i).map(|(f, v)| (f, v)),
            HashValue::Table(t) => t.entries.get(i).map(|e| (&e.field, &e.value)),
        }
    }

    /// One HSCAN step from `cursor`: the next cursor (0 when the scan is over) and the pairs.
    /// A listpack is returned whole with cursor 0, whatever the cursor (as Redis does); a
    /// table returns at least `count` pairs in scan-position order while pairs remain (more
    /// when positions collide: a step never splits a position).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&Bytes, &Bytes)>) {
        match self {
            HashValue::Listpack(v) => (0, v.iter().map(|(f, v)| (f, v)).collect()),
            HashValue::Table(t) => t.scan(cursor, count),
        }
    }

    /// Switches to `hashtable` (no-op if already there).
    pub fn convert_to_table(&mut self) {
        if let HashValue::Listpack(v) = self {
            let mut t = FieldTable::with_capacity(v.len());
            for (f, val) in std::mem::take(v) {
                t.set_with(&f.clone(), || f, val);
            }
            *self = HashValue::Table(Box::new(t));
        }
    }

    /// The RDB model of this hash.
    pub fn to_rdb(&self) -> RdbValue {
        RdbValue::Hash(self.iter().map(|(f, v)| (f.clone(), v.clone())).collect())
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
                t.set_with(&f.clone(), || f, v);
            }
            HashValue::Table(Box::new(t))
        }
    }
}

/// One pair of a [`FieldTable`].
#[derive(Clone, Debug)]
pub struct Entry {
    /// The keyspace hash of `field` (index lookups and the scan position).
    hash: u64,
    field: Bytes,
    value: Bytes,
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
                .all(|e| other.get(&e.field) == Some(&e.value))
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

    fn find(&self, hash: u64, field: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(hash, |&i| {
                entries.get(i).is_some_and(|e| &e.field[..] == field)
            })
            .copied()
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&Bytes> {
        let i = self.find(hash_key(field), field)?;
        self.entries.get(i).map(|e| &e.value)
    }

    fn set_with(&mut self, field: &[u8], own: impl FnOnce() -> Bytes, value: Bytes) -> bool {
        let hash = hash_key(field);
        if let Some(i) = self.find(hash, field) {
            if let Some(e) = self.entries.get_mut(i) {
                e.value = value;
            }
            return false;
        }
        let at = self.entries.len();
        self.entries.push(Entry {
            hash,
            field: own(),
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
        let entries = &self.entries;
        let slot = self
            .index
            .find_entry(hash, |&i| {
                entries.get(i).is_some_and(|e| &e.field[..] == field)
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

    fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&Bytes, &Bytes)>) {
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
            .filter_map(|&(_, i)| self.entries.get(i).map(|e| (&e.field, &e.value)))
            .collect();
        (next, pairs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
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
                .map(|(f, v)| (f.clone(), v.clone()))
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
            let got: Vec<Bytes> = pairs.iter().map(|(f, _)| (*f).clone()).collect();
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
}
