//! Sets: `intset` (sorted 64-bit integers) while every member is the canonical decimal form
//! of an integer and there are at most `set-max-intset-entries` of them, then `hashtable`
//! for good (Redis 7.0 has no listpack sets).

use std::borrow::Cow;
use std::collections::HashSet;

use bytes::Bytes;
use tandem_rdb::RdbValue;

use super::{parse_canonical_i64, EncodingLimits};

/// A set, in one of Redis 7.0's two encodings.
#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    /// `intset`: sorted ascending, no duplicates (SMEMBERS replies in this order).
    Intset(Vec<i64>),
    /// `hashtable`.
    Table(HashSet<Bytes>),
}

impl Default for SetValue {
    fn default() -> SetValue {
        SetValue::Intset(Vec::new())
    }
}

impl SetValue {
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

    /// Adds `member`; returns true if it is new. Converts to `hashtable` when the member is
    /// not an integer or the intset would exceed `set-max-intset-entries`.
    pub fn insert(&mut self, member: Bytes, limits: &EncodingLimits) -> bool {
        if let SetValue::Intset(v) = self {
            if let Some(n) = parse_canonical_i64(&member) {
                match v.binary_search(&n) {
                    Ok(_) => return false,
                    Err(at) => {
                        v.insert(at, n);
                        if v.len() > limits.set_max_intset_entries {
                            self.convert_to_table();
                        }
                        return true;
                    }
                }
            }
            self.convert_to_table();
        }
        match self {
            SetValue::Table(s) => s.insert(member),
            SetValue::Intset(_) => false,
        }
    }

    /// Removes `member`; returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(v) => match parse_canonical_i64(member) {
                Some(n) => match v.binary_search(&n) {
                    Ok(at) => {
                        v.remove(at);
                        true
                    }
                    Err(_) => false,
                },
                None => false,
            },
            SetValue::Table(s) => s.remove(member),
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
            let set: HashSet<Bytes> = v.iter().map(|n| Bytes::from(n.to_string())).collect();
            *self = SetValue::Table(set);
        }
    }

    /// The RDB model of this set.
    pub fn to_rdb(&self) -> RdbValue {
        RdbValue::Set(self.members())
    }

    /// A set loaded from RDB: `intset` when every member is an integer and they fit
    /// `set-max-intset-entries`, as Redis's loader decides.
    pub fn from_members(members: Vec<Bytes>, limits: &EncodingLimits) -> SetValue {
        if members.len() <= limits.set_max_intset_entries {
            let ints: Option<Vec<i64>> = members.iter().map(|m| parse_canonical_i64(m)).collect();
            if let Some(mut ints) = ints {
                ints.sort_unstable();
                ints.dedup();
                return SetValue::Intset(ints);
            }
        }
        SetValue::Table(members.into_iter().collect())
    }
}
