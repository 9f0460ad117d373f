//! Sorted sets: `listpack` (member-score pairs kept sorted by score, then member bytes)
//! while the set has at most `zset-max-listpack-entries` members and none longer than
//! `zset-max-listpack-value` bytes, then `skiplist` for good (a member→score map plus an
//! ordered index, as Redis pairs its dict with its skiplist).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use tandem_rdb::RdbValue;

use super::EncodingLimits;

/// A score with Redis's order: numeric, `-0` equal to `0` (sorted sets never hold NaN).
#[derive(Clone, Copy, Debug)]
pub struct ZScore(pub f64);

impl PartialEq for ZScore {
    fn eq(&self, other: &ZScore) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for ZScore {}
impl PartialOrd for ZScore {
    fn partial_cmp(&self, other: &ZScore) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ZScore {
    fn cmp(&self, other: &ZScore) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

/// Redis's element order: by score, then by member bytes.
pub fn zcmp(a: (&[u8], f64), b: (&[u8], f64)) -> Ordering {
    ZScore(a.1).cmp(&ZScore(b.1)).then_with(|| a.0.cmp(b.0))
}

/// The `skiplist` encoding: a member→score map and the (score, member) order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SkipList {
    pub dict: HashMap<Bytes, f64>,
    pub order: BTreeSet<(ZScore, Bytes)>,
}

/// A sorted set, in one of Redis 7.0's two encodings.
#[derive(Clone, Debug, PartialEq)]
pub enum ZSetValue {
    /// `listpack`: pairs sorted by (score, member).
    Listpack(Vec<(Bytes, f64)>),
    /// `skiplist`.
    Skiplist(SkipList),
}

impl Default for ZSetValue {
    fn default() -> ZSetValue {
        ZSetValue::Listpack(Vec::new())
    }
}

impl ZSetValue {
    /// Number of members (ZCARD).
    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Listpack(v) => v.len(),
            ZSetValue::Skiplist(s) => s.dict.len(),
        }
    }

    /// True when the set has no member (the key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetValue::Listpack(_) => "listpack",
            ZSetValue::Skiplist(_) => "skiplist",
        }
    }

    /// Redis's `lazyfreeGetFreeEffort`: 1 for a listpack, else the number of members.
    pub fn free_effort(&self) -> usize {
        match self {
            ZSetValue::Listpack(_) => 1,
            ZSetValue::Skiplist(s) => s.dict.len(),
        }
    }

    /// ZSCORE.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(v) => v.iter().find(|(m, _)| &m[..] == member).map(|(_, s)| *s),
            ZSetValue::Skiplist(s) => s.dict.get(member).copied(),
        }
    }

    /// Adds `member` or moves it to `score`; returns true if it is new. Converts to
    /// `skiplist` when the write would break a listpack limit.
    pub fn insert(&mut self, member: Bytes, score: f64, limits: &EncodingLimits) -> bool {
        let existed = self.remove(&member).is_some();
        if let ZSetValue::Listpack(v) = self {
            if member.len() <= limits.zset_max_listpack_value
                && v.len() < limits.zset_max_listpack_entries
            {
                let at = v.partition_point(|(m, s)| zcmp((m, *s), (&member, score)).is_lt());
                v.insert(at, (member, score));
                return !existed;
            }
            self.convert_to_skiplist();
        }
        if let ZSetValue::Skiplist(s) = self {
            s.order.insert((ZScore(score), member.clone()));
            s.dict.insert(member, score);
        }
        !existed
    }

    /// Removes `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(v) => {
                let at = v.iter().position(|(m, _)| &m[..] == member)?;
                Some(v.remove(at).1)
            }
            ZSetValue::Skiplist(s) => {
                let (m, score) = s.dict.remove_entry(member)?;
                s.order.remove(&(ZScore(score), m));
                Some(score)
            }
        }
    }

    /// Members in ascending (score, member) order.
    pub fn iter(&self) -> Box<dyn DoubleEndedIterator<Item = (&Bytes, f64)> + '_> {
        match self {
            ZSetValue::Listpack(v) => Box::new(v.iter().map(|(m, s)| (m, *s))),
            ZSetValue::Skiplist(s) => Box::new(s.order.iter().map(|(sc, m)| (m, sc.0))),
        }
    }

    /// 0-based rank of `member` in ascending order (ZRANK).
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        match self {
            ZSetValue::Listpack(v) => v.iter().position(|(m, _)| &m[..] == member),
            ZSetValue::Skiplist(s) => Some(
                s.order
                    .range(..(ZScore(score), Bytes::copy_from_slice(member)))
                    .count(),
            ),
        }
    }

    /// Switches to `skiplist` (no-op if already there).
    pub fn convert_to_skiplist(&mut self) {
        if let ZSetValue::Listpack(v) = self {
            let mut s = SkipList::default();
            for (m, score) in std::mem::take(v) {
                s.order.insert((ZScore(score), m.clone()));
                s.dict.insert(m, score);
            }
            *self = ZSetValue::Skiplist(s);
        }
    }

    /// The RDB model of this sorted set.
    pub fn to_rdb(&self) -> RdbValue {
        RdbValue::ZSet(self.iter().map(|(m, s)| (m.clone(), s)).collect())
    }

    /// A sorted set loaded from RDB: `listpack` when it fits the limits (Redis's loader
    /// converts small skiplists back), else `skiplist`. A repeated member keeps its last score.
    pub fn from_pairs(pairs: Vec<(Bytes, f64)>, limits: &EncodingLimits) -> ZSetValue {
        let mut s = SkipList::default();
        for (m, score) in pairs {
            if let Some(old) = s.dict.insert(m.clone(), score) {
                s.order.remove(&(ZScore(old), m.clone()));
            }
            s.order.insert((ZScore(score), m));
        }
        let compact = s.dict.len() <= limits.zset_max_listpack_entries
            && s.dict
                .keys()
                .all(|m| m.len() <= limits.zset_max_listpack_value);
        if compact {
            ZSetValue::Listpack(s.order.into_iter().map(|(sc, m)| (m, sc.0)).collect())
        } else {
            ZSetValue::Skiplist(s)
        }
    }
}
