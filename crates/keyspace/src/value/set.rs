//! Sets: `intset` (sorted 64-bit integers) while every member is the canonical decimal form
//! of an integer and there are at most `set-max-intset-entries` of them, then `hashtable`
//! for good (Redis 7.0 has no listpack sets).
//!
//! The `hashtable` encoding is a [`MemberTable`]: the members in a dense vector plus a
//! `hashbrown` index of their positions. Redis picks random members (SPOP, SRANDMEMBER)
//! with `dictGetFairRandomKey`; the dense vector gives the same uniform pick in O(1), and
//! removal swaps the last member into the hole.

use std::borrow::Cow;
use std::ops::Deref;

use bytes::Bytes;
use hashbrown::HashTable;
use tandem_rdb::RdbValue;

use super::{parse_canonical_i64, EncodingLimits};
use crate::table::hash_key;

/// Redis caps `set-max-intset-entries` at 2^30 (intset internals).
const INTSET_HARD_LIMIT: usize = 1 << 30;

/// A set, in one of Redis 7.0's two encodings.
#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    /// `intset`: sorted ascending, no duplicates (SMEMBERS replies in this order).
    Intset(IntSet),
    /// `hashtable`.
    Table(Box<MemberTable>),
}

/// The members of an `intset` (ascending, unique) and the widest member width it has
/// held, in bytes: Redis widens an intset for a member that needs it and never narrows it,
/// and that width shows in DUMP and RDB files. Equality compares the members only.
#[derive(Clone, Debug)]
pub struct IntSet {
    values: Vec<i64>,
    width: u8,
}

impl IntSet {
    /// An empty intset (usable in a `static`).
    pub const fn new() -> IntSet {
        IntSet {
            values: Vec::new(),
            width: 2,
        }
    }

    /// Heap bytes reserved for the members.
    pub fn capacity_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<i64>()
    }

    /// An intset of these ascending, unique integers at the width they need.
    pub fn from_sorted(values: Vec<i64>) -> IntSet {
        let width = values
            .iter()
            .fold(2, |w, &n| w.max(tandem_rdb::blob::intset_width(n)));
        IntSet {
            values,
            width: width as u8,
        }
    }

    /// Bytes per member (2, 4 or 8).
    pub fn width(&self) -> u8 {
        self.width
    }

    /// Inserts `n` at `at` (which keeps the order), widening for it.
    fn insert_at(&mut self, at: usize, n: i64) {
        self.values.insert(at, n);
        self.width = self.width.max(tandem_rdb::blob::intset_width(n) as u8);
    }
}

impl PartialEq for IntSet {
    fn eq(&self, other: &IntSet) -> bool {
        self.values == other.values
    }
}

impl Default for IntSet {
    fn default() -> IntSet {
        IntSet::new()
    }
}

impl Deref for IntSet {
    type Target = [i64];
    fn deref(&self) -> &[i64] {
        &self.values
    }
}

/// One member as a set holds it: an integer of an `intset`, or the bytes of a `hashtable`
/// member. Lets set algebra move members between sets without formatting integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Str(&'a Bytes),
}

impl Member<'_> {
    /// The member's bytes (formats an integer).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Member::Int(n) => Bytes::from(n.to_string()),
            Member::Str(b) => (*b).clone(),
        }
    }
}

impl Default for SetValue {
    fn default() -> SetValue {
        SetValue::Intset(IntSet::default())
    }
}

impl SetValue {
    /// Redis's `setTypeCreate`: an empty `intset` when `first` (the first member to be
    /// added) is an integer, else an empty `hashtable`.
    pub fn new_for(first: &[u8]) -> SetValue {
        if parse_canonical_i64(first).is_some() {
            SetValue::Intset(IntSet::default())
        } else {
            SetValue::Table(Box::default())
        }
    }

    /// Number of members (SCARD).
    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.len(),
            SetValue::Table(s) => s.len(),
        }
    }

    /// True when the set has no member (the key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    /// Redis's `lazyfreeGetFreeEffort`: 1 for an intset, else the number of members.
    pub fn free_effort(&self) -> usize {
        match self {
            SetValue::Intset(_) => 1,
            SetValue::Table(s) => s.len(),
        }
    }

    /// SISMEMBER.
    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(v) => {
                parse_canonical_i64(member).is_some_and(|n| v.binary_search(&n).is_ok())
            }
            SetValue::Table(s) => s.contains(member),
        }
    }

    /// Membership of a member taken from another set.
    pub fn contains_member(&self, member: Member<'_>) -> bool {
        match (self, member) {
            (SetValue::Intset(v), Member::Int(n)) => v.binary_search(&n).is_ok(),
            (SetValue::Table(s), Member::Int(n)) => s.contains(n.to_string().as_bytes()),
            (_, Member::Str(b)) => self.contains(b),
        }
    }

    /// Adds `member`; returns true if it is new. Converts to `hashtable` when the member is
    /// not an integer or the intset would exceed `set-max-intset-entries` (Redis's
    /// `setTypeAdd`).
    pub fn insert(&mut self, member: Bytes, limits: &EncodingLimits) -> bool {
        if let SetValue::Intset(_) = self {
            if let Some(n) = parse_canonical_i64(&member) {
                return self.insert_int(n, limits);
            }
            self.convert_to_table();
        }
        match self {
            SetValue::Table(s) => s.insert(member),
            SetValue::Intset(_) => false,
        }
    }

    /// [`SetValue::insert`] for borrowed bytes (a request argument): copies them only when
    /// they become a new `hashtable` member.
    pub fn insert_slice(&mut self, member: &[u8], limits: &EncodingLimits) -> bool {
        if let SetValue::Intset(_) = self {
            if let Some(n) = parse_canonical_i64(member) {
                return self.insert_int(n, limits);
            }
            self.convert_to_table();
        }
        match self {
            SetValue::Table(s) => s.insert_slice(member),
            SetValue::Intset(_) => false,
        }
    }

    /// Adds a member taken from another set (no parsing or formatting when both sides are
    /// integers).
    pub fn insert_member(&mut self, member: Member<'_>, limits: &EncodingLimits) -> bool {
        match (&mut *self, member) {
            (SetValue::Intset(_), Member::Int(n)) => self.insert_int(n, limits),
            (SetValue::Table(s), Member::Int(n)) => s.insert(Bytes::from(n.to_string())),
            (_, Member::Str(b)) => self.insert(b.clone(), limits),
        }
    }

    /// Adds an integer to an intset (converting when it grows past the limit), or its text
    /// to a hashtable.
    fn insert_int(&mut self, n: i64, limits: &EncodingLimits) -> bool {
        match self {
            SetValue::Intset(v) => match v.binary_search(&n) {
                Ok(_) => false,
                Err(at) => {
                    v.insert_at(at, n);
                    let max = limits.set_max_intset_entries.min(INTSET_HARD_LIMIT);
                    if v.len() > max {
                        self.convert_to_table();
                    }
                    true
                }
            },
            SetValue::Table(s) => s.insert(Bytes::from(n.to_string())),
        }
    }

    /// Removes `member`; returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(v) => match parse_canonical_i64(member) {
                Some(n) => match v.binary_search(&n) {
                    Ok(at) => {
                        v.values.remove(at);
                        true
                    }
                    Err(_) => false,
                },
                None => false,
            },
            SetValue::Table(s) => s.remove(member),
        }
    }

    /// Removes a member taken from another set.
    pub fn remove_member(&mut self, member: Member<'_>) -> bool {
        match (&mut *self, member) {
            (SetValue::Intset(v), Member::Int(n)) => match v.binary_search(&n) {
                Ok(at) => {
                    v.values.remove(at);
                    true
                }
                Err(_) => false,
            },
            (SetValue::Table(s), Member::Int(n)) => s.remove(n.to_string().as_bytes()),
            (_, Member::Str(b)) => self.remove(b),
        }
    }

    /// The member at position `i` (`i < len`): the `i`-th smallest of an intset, the
    /// `i`-th slot of a hashtable. Random picks draw a position uniformly.
    pub fn member_at(&self, i: usize) -> Option<Member<'_>> {
        match self {
            SetValue::Intset(v) => v.get(i).map(|&n| Member::Int(n)),
            SetValue::Table(s) => s.get(i).map(Member::Str),
        }
    }

    /// Removes and returns the member at position `i` (see [`SetValue::member_at`]).
    pub fn remove_at(&mut self, i: usize) -> Option<Bytes> {
        match self {
            SetValue::Intset(v) => {
                if i < v.len() {
                    Some(Bytes::from(v.values.remove(i).to_string()))
                } else {
                    None
                }
            }
            SetValue::Table(s) => s.remove_at(i),
        }
    }

    /// The members without conversion: ascending integers for an intset, the table's
    /// order otherwise.
    pub fn members_iter(&self) -> Box<dyn Iterator<Item = Member<'_>> + '_> {
        match self {
            SetValue::Intset(v) => Box::new(v.iter().map(|&n| Member::Int(n))),
            SetValue::Table(s) => Box::new(s.iter().map(Member::Str)),
        }
    }

    /// The members: ascending for an intset, the table's order otherwise.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        match self {
            SetValue::Intset(v) => {
                Box::new(v.iter().map(|n| Cow::Owned(n.to_string().into_bytes())))
            }
            SetValue::Table(s) => Box::new(s.iter().map(|m| Cow::Borrowed(&m[..]))),
        }
    }

    /// The members as [`Bytes`] (allocates for intset members).
    pub fn members(&self) -> Vec<Bytes> {
        match self {
            SetValue::Intset(v) => v.iter().map(|n| Bytes::from(n.to_string())).collect(),
            SetValue::Table(s) => s.iter().cloned().collect(),
        }
    }

    /// Switches to `hashtable` (no-op if already there).
    pub fn convert_to_table(&mut self) {
        if let SetValue::Intset(v) = self {
            let mut t = MemberTable::with_capacity(v.len());
            for n in v.iter() {
                t.insert(Bytes::from(n.to_string()));
            }
            *self = SetValue::Table(Box::new(t));
        }
    }

    /// The RDB model of this set.
    pub fn to_rdb(&self) -> RdbValue {
        RdbValue::Set(self.members())
    }

    /// A set loaded from RDB: `intset` when every member is an integer and they fit
    /// `set-max-intset-entries`, as Redis's loader decides.
    pub fn from_members(members: Vec<Bytes>, limits: &EncodingLimits) -> SetValue {
        if members.len() <= limits.set_max_intset_entries.min(INTSET_HARD_LIMIT) {
            let ints: Option<Vec<i64>> = members.iter().map(|m| parse_canonical_i64(m)).collect();
            if let Some(mut ints) = ints {
                ints.sort_unstable();
                ints.dedup();
                return SetValue::Intset(IntSet::from_sorted(ints));
            }
        }
        let mut t = MemberTable::with_capacity(members.len());
        for m in members {
            t.insert(m);
        }
        SetValue::Table(Box::new(t))
    }
}

/// The `hashtable` encoding: members in a dense vector (with their hashes), indexed by a
/// hash table of positions.
#[derive(Clone, Debug, Default)]
pub struct MemberTable {
    slots: Vec<(u64, Bytes)>,
    index: HashTable<usize>,
}

impl PartialEq for MemberTable {
    fn eq(&self, other: &MemberTable) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains(m))
    }
}

impl MemberTable {
    /// An empty table with room for `n` members.
    pub fn with_capacity(n: usize) -> MemberTable {
        MemberTable {
            slots: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn find(&self, hash: u64, member: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(hash, |&i| slots[i].0 == hash && slots[i].1[..] == *member)
            .copied()
    }

    /// True if `member` is in the table.
    pub fn contains(&self, member: &[u8]) -> bool {
        self.find(hash_key(member), member).is_some()
    }

    /// Adds `member`; true if it is new. Callers pass owned bytes (not a slice of a request
    /// buffer) so that a stored member never pins a connection's read buffer.
    pub fn insert(&mut self, member: Bytes) -> bool {
        let hash = hash_key(&member);
        if self.find(hash, &member).is_some() {
            return false;
        }
        let at = self.slots.len();
        let slots = &self.slots;
        self.index.insert_unique(hash, at, |&i| slots[i].0);
        self.slots.push((hash, member));
        true
    }

    /// [`MemberTable::insert`] for borrowed bytes: hashes once, copies only a new member.
    pub fn insert_slice(&mut self, member: &[u8]) -> bool {
        let hash = hash_key(member);
        if self.find(hash, member).is_some() {
            return false;
        }
        let at = self.slots.len();
        let slots = &self.slots;
        self.index.insert_unique(hash, at, |&i| slots[i].0);
        self.slots.push((hash, Bytes::copy_from_slice(member)));
        true
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let hash = hash_key(member);
        match self.find(hash, member) {
            Some(at) => {
                self.remove_at(at);
                true
            }
            None => false,
        }
    }

    /// The member in slot `i`.
    pub fn get(&self, i: usize) -> Option<&Bytes> {
        self.slots.get(i).map(|(_, m)| m)
    }

    /// Removes the member in slot `i`; the last slot's member moves into it.
    pub fn remove_at(&mut self, i: usize) -> Option<Bytes> {
        let hash = self.slots.get(i)?.0;
        if let Ok(e) = self.index.find_entry(hash, |&ix| ix == i) {
            e.remove();
        }
        let last = self.slots.len() - 1;
        let (_, member) = self.slots.swap_remove(i);
        if i != last {
            let moved = self.slots[i].0;
            if let Some(ix) = self.index.find_mut(moved, |&ix| ix == last) {
                *ix = i;
            }
        }
        self.maybe_shrink();
        Some(member)
    }

    /// Gives memory back when the table is mostly empty (Redis resizes its dict below 10%
    /// fill).
    fn maybe_shrink(&mut self) {
        let cap = self.slots.capacity();
        if cap > 64 && self.slots.len() * 10 < cap {
            self.slots.shrink_to(self.slots.len() * 2);
            let slots = &self.slots;
            self.index.shrink_to(slots.len() * 2, |&i| slots[i].0);
        }
    }

    /// The members in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.slots.iter().map(|(_, m)| m)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn intset_converts_on_string_and_on_size() {
        let lim = EncodingLimits {
            set_max_intset_entries: 3,
            ..EncodingLimits::default()
        };
        let mut s = SetValue::new_for(b"1");
        assert!(s.insert(b("3"), &lim));
        assert!(s.insert(b("1"), &lim));
        assert!(!s.insert(b("1"), &lim));
        assert!(s.insert(b("2"), &lim));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s.members(), vec![b("1"), b("2"), b("3")]);
        assert!(s.insert(b("4"), &lim));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"4") && s.contains(b"1"));
        let mut t = SetValue::new_for(b"1");
        t.insert(b("1"), &lim);
        t.insert(b("01"), &lim);
        assert_eq!(t.encoding(), "hashtable");
        assert!(t.contains(b"01") && t.contains(b"1") && !t.contains(b"001"));
    }

    #[test]
    fn table_remove_keeps_index_consistent() {
        let mut t = MemberTable::default();
        for i in 0..200 {
            assert!(t.insert(b(&format!("m{i}"))));
        }
        for i in (0..200).step_by(3) {
            assert!(t.remove(format!("m{i}").as_bytes()));
        }
        for i in 0..200 {
            assert_eq!(t.contains(format!("m{i}").as_bytes()), i % 3 != 0);
        }
        while !t.is_empty() {
            let m = t.remove_at(0).unwrap();
            assert!(!t.contains(&m));
        }
        assert!(t.insert(b("x")) && t.contains(b"x"));
    }

    #[test]
    fn members_move_between_encodings() {
        let lim = EncodingLimits::default();
        let a = SetValue::from_members(vec![b("5"), b("-2")], &lim);
        let mut c = SetValue::new_for(b"x");
        for m in a.members_iter() {
            c.insert_member(m, &lim);
        }
        assert!(c.contains_member(Member::Int(5)) && c.contains(b"-2"));
        assert!(c.remove_member(Member::Int(-2)));
        assert_eq!(c.len(), 1);
        assert_eq!(a, SetValue::from_members(vec![b("-2"), b("5")], &lim));
    }
}
