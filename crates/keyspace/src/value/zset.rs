//! Sorted sets: `listpack` (member-score pairs kept sorted by score, then member bytes)
//! while the set has at most `zset-max-listpack-entries` members and none longer than
//! `zset-max-listpack-value` bytes, then `skiplist` (a member→score map plus an ordered,
//! rank-indexed sequence, as Redis pairs its dict with its skiplist).
//!
//! The `skiplist` encoding's order is not a skiplist: it is a list of sorted chunks (at most
//! `2 * LOAD` entries each) with a Fenwick tree over the chunk lengths, so that finding a
//! member's rank, the element at a rank, and inserting or removing one element all cost
//! O(log n) plus a short memmove inside one chunk.
//!
//! # API (used by the sorted set and GEO commands)
//!
//! Positions are 0-based ranks in ascending (score, member) order.
//! * reading: [`ZSetValue::len`], [`ZSetValue::score`], [`ZSetValue::rank`],
//!   [`ZSetValue::get`] (element at a rank), [`ZSetValue::range`] (a double-ended iterator
//!   over a rank range; `.rev()` walks it downwards), [`ZSetValue::iter`];
//! * range searches: [`ZSetValue::first_in_score`] / [`ZSetValue::last_in_score`] with a
//!   [`ScoreRange`], [`ZSetValue::first_in_lex`] / [`ZSetValue::last_in_lex`] with a
//!   [`LexRange`] (Redis's `zslFirstInRange` and friends: the rank of the first / last
//!   element inside the range);
//! * writing: [`ZSetValue::insert`] (add or move, converting to `skiplist` on the way as
//!   Redis's `zsetAdd` does), [`ZSetValue::remove`], [`ZSetValue::remove_ranks`],
//!   [`ZSetValue::pop`];
//! * building: [`ZSetValue::new_for_add`] (ZADD's choice of encoding for a new key),
//!   [`ZSetValue::from_unique_pairs`] (a computed result, encoded as Redis encodes the
//!   destination of ZUNIONSTORE / ZRANGESTORE), [`ZSetValue::from_pairs`] (RDB load).

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};

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
#[inline]
pub fn zcmp(a: (&[u8], f64), b: (&[u8], f64)) -> Ordering {
    match a.1.partial_cmp(&b.1) {
        Some(Ordering::Equal) | None => a.0.cmp(b.0),
        Some(o) => o,
    }
}

/// A score interval (`ZRANGEBYSCORE` arguments): `min`/`max` with exclusive flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    /// True if `s` is not below the lower bound (Redis's `zslValueGteMin`).
    #[inline]
    pub fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }

    /// True if `s` is not above the upper bound (Redis's `zslValueLteMax`).
    #[inline]
    pub fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    /// True when no score can be inside (min > max, or equal with an exclusive end).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lexicographic range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every string.
    Min,
    /// `+`: above every string.
    Max,
    /// `[x` (inclusive) or `(x` (exclusive).
    Value { bytes: Bytes, exclusive: bool },
}

impl LexBound {
    /// Redis's `sdscmplex` of a member against this bound's string.
    fn cmp_member(&self, m: &[u8]) -> Ordering {
        match self {
            LexBound::Min => Ordering::Greater,
            LexBound::Max => Ordering::Less,
            LexBound::Value { bytes, .. } => m.cmp(bytes),
        }
    }

    fn exclusive(&self) -> bool {
        match self {
            LexBound::Min | LexBound::Max => true,
            LexBound::Value { exclusive, .. } => *exclusive,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            LexBound::Min => 0,
            LexBound::Value { .. } => 1,
            LexBound::Max => 2,
        }
    }
}

/// A lexicographic interval (`ZRANGEBYLEX` arguments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    /// Redis's `zslLexValueGteMin`.
    pub fn gte_min(&self, m: &[u8]) -> bool {
        let c = self.min.cmp_member(m);
        if self.min.exclusive() {
            c == Ordering::Greater
        } else {
            c != Ordering::Less
        }
    }

    /// Redis's `zslLexValueLteMax`.
    pub fn lte_max(&self, m: &[u8]) -> bool {
        let c = self.max.cmp_member(m);
        if self.max.exclusive() {
            c == Ordering::Less
        } else {
            c != Ordering::Greater
        }
    }

    /// True when no string can be inside (Redis's test at the top of `zslIsInLexRange`).
    pub fn is_empty(&self) -> bool {
        let cmp = match (&self.min, &self.max) {
            (LexBound::Value { bytes: a, .. }, LexBound::Value { bytes: b, .. }) => a.cmp(b),
            (a, b) if a == b => Ordering::Equal,
            (a, b) => a.rank().cmp(&b.rank()),
        };
        cmp == Ordering::Greater
            || (cmp == Ordering::Equal && (self.min.exclusive() || self.max.exclusive()))
    }
}

/// Hasher of the member map: the keyspace's fast seeded hash.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemberHasher;

/// State of [`MemberHasher`].
#[derive(Default)]
pub struct MemberHash(u64);

impl Hasher for MemberHash {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0 ^= crate::table::hash_key(bytes);
    }
    #[inline]
    fn write_usize(&mut self, _len: usize) {
        // The length prefix of a slice: the hash of the bytes already covers it.
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for MemberHasher {
    type Hasher = MemberHash;
    #[inline]
    fn build_hasher(&self) -> MemberHash {
        MemberHash(0)
    }
}

/// The member→score map of the `skiplist` encoding.
pub type MemberMap = hashbrown::HashMap<Bytes, f64, MemberHasher>;

/// The `skiplist` encoding: a member→score map and the rank-indexed order.
#[derive(Clone, Debug, Default)]
pub struct SkipList {
    dict: MemberMap,
    order: Ranked,
}

impl PartialEq for SkipList {
    fn eq(&self, other: &SkipList) -> bool {
        self.order.len == other.order.len && self.order.iter_all().eq(other.order.iter_all())
    }
}

impl SkipList {
    fn insert_new(&mut self, member: Bytes, score: f64) {
        self.order.insert(member.clone(), score);
        self.dict.insert(member, score);
    }
}

/// A sorted set, in one of Redis 7.0's two encodings.
#[derive(Clone, Debug, PartialEq)]
pub enum ZSetValue {
    /// `listpack`: pairs sorted by (score, member).
    Listpack(Vec<(Bytes, f64)>),
    /// `skiplist`.
    Skiplist(Box<SkipList>),
}

impl Default for ZSetValue {
    fn default() -> ZSetValue {
        ZSetValue::Listpack(Vec::new())
    }
}

/// What [`ZSetValue::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Inserted {
    /// The member is new.
    Added,
    /// The member existed with this other score and was moved.
    Updated(f64),
    /// The member existed with exactly this score.
    Unchanged,
}

impl ZSetValue {
    /// An empty sorted set for ZADD's first element `first_len` bytes long: `skiplist` when
    /// `zset-max-listpack-entries` is 0 or the element is too long, else `listpack`.
    pub fn new_for_add(first_len: usize, limits: &EncodingLimits) -> ZSetValue {
        if limits.zset_max_listpack_entries == 0 || limits.zset_max_listpack_value < first_len {
            ZSetValue::Skiplist(Box::default())
        } else {
            ZSetValue::Listpack(Vec::new())
        }
    }

    /// Number of members (ZCARD).
    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Listpack(v) => v.len(),
            ZSetValue::Skiplist(s) => s.order.len,
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
            ZSetValue::Skiplist(s) => s.order.len,
        }
    }

    /// ZSCORE.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(v) => v.iter().find(|(m, _)| &m[..] == member).map(|(_, s)| *s),
            ZSetValue::Skiplist(s) => s.dict.get(member).copied(),
        }
    }

    /// Adds `member` or moves it to `score` (Redis's `zsetAdd` without flags). A new member
    /// converts a `listpack` to `skiplist` first when the set would exceed
    /// `zset-max-listpack-entries` or the member is longer than `zset-max-listpack-value`;
    /// an update never converts.
    pub fn insert_with(&mut self, member: Bytes, score: f64, limits: &EncodingLimits) -> Inserted {
        if let ZSetValue::Listpack(v) = self {
            let score = listpack_score(score);
            if let Some(at) = v.iter().position(|(m, _)| *m == member) {
                let old = v[at].1;
                if old == score {
                    return Inserted::Unchanged;
                }
                v.remove(at);
                let to = v.partition_point(|(m, s)| zcmp((m, *s), (&member, score)).is_lt());
                v.insert(to, (member, score));
                return Inserted::Updated(old);
            }
            if v.len() < limits.zset_max_listpack_entries
                && member.len() <= limits.zset_max_listpack_value
            {
                let to = v.partition_point(|(m, s)| zcmp((m, *s), (&member, score)).is_lt());
                v.insert(to, (member, score));
                return Inserted::Added;
            }
            self.convert_to_skiplist();
        }
        let ZSetValue::Skiplist(s) = self else {
            return Inserted::Unchanged;
        };
        match s.dict.get_mut(&member[..]) {
            Some(cur) => {
                let old = *cur;
                if old == score {
                    return Inserted::Unchanged;
                }
                *cur = score;
                s.order.remove(&member, old);
                s.order.insert(member, score);
                Inserted::Updated(old)
            }
            None => {
                s.insert_new(member, score);
                Inserted::Added
            }
        }
    }

    /// Adds `member` or moves it to `score`; returns true if it is new (see
    /// [`ZSetValue::insert_with`]).
    pub fn insert(&mut self, member: Bytes, score: f64, limits: &EncodingLimits) -> bool {
        self.insert_with(member, score, limits) == Inserted::Added
    }

    /// Removes `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(v) => {
                let at = v.iter().position(|(m, _)| &m[..] == member)?;
                Some(v.remove(at).1)
            }
            ZSetValue::Skiplist(s) => {
                let score = s.dict.remove(member)?;
                s.order.remove(member, score);
                Some(score)
            }
        }
    }

    /// Members in ascending (score, member) order.
    pub fn iter(&self) -> ZIter<'_> {
        self.range(0, self.len())
    }

    /// The elements of ranks `lo..hi` (clamped to the set), ascending; `.rev()` descends.
    pub fn range(&self, lo: usize, hi: usize) -> ZIter<'_> {
        let hi = hi.min(self.len());
        let lo = lo.min(hi);
        match self {
            ZSetValue::Listpack(v) => ZIter::Slice(v[lo..hi].iter()),
            ZSetValue::Skiplist(s) => ZIter::Chunks(s.order.cursor(lo, hi)),
        }
    }

    /// The element at rank `r`.
    pub fn get(&self, r: usize) -> Option<(&Bytes, f64)> {
        match self {
            ZSetValue::Listpack(v) => v.get(r).map(|(m, s)| (m, *s)),
            ZSetValue::Skiplist(s) => {
                if r >= s.order.len {
                    return None;
                }
                let (ci, off) = s.order.select(r);
                s.order.chunks.get(ci)?.get(off).map(|(m, s)| (m, *s))
            }
        }
    }

    /// 0-based rank of `member` in ascending order (ZRANK).
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSetValue::Listpack(v) => v.iter().position(|(m, _)| &m[..] == member),
            ZSetValue::Skiplist(s) => {
                let score = *s.dict.get(member)?;
                s.order.rank_of(member, score)
            }
        }
    }

    /// Rank of the first element whose score is inside `r` (Redis's `zslFirstInRange`).
    pub fn first_in_score(&self, r: &ScoreRange) -> Option<usize> {
        if r.is_empty() || self.is_empty() {
            return None;
        }
        let at = self.partition_point(|_, s| !r.gte_min(s));
        let (_, s) = self.get(at)?;
        r.lte_max(s).then_some(at)
    }

    /// Rank of the last element whose score is inside `r` (Redis's `zslLastInRange`).
    pub fn last_in_score(&self, r: &ScoreRange) -> Option<usize> {
        if r.is_empty() || self.is_empty() {
            return None;
        }
        let at = self.partition_point(|_, s| r.lte_max(s)).checked_sub(1)?;
        let (_, s) = self.get(at)?;
        r.gte_min(s).then_some(at)
    }

    /// Rank of the first element inside the lex range (Redis's `zzlFirstInLexRange` /
    /// `zslFirstInLexRange`; meaningful when all scores are equal).
    pub fn first_in_lex(&self, r: &LexRange) -> Option<usize> {
        if r.is_empty() || self.is_empty() {
            return None;
        }
        let (last, _) = self.get(self.len() - 1)?;
        let (first, _) = self.get(0)?;
        if !r.gte_min(last) || !r.lte_max(first) {
            return None;
        }
        let at = match self {
            // A listpack is scanned from the head, as Redis does (this matters only when
            // scores differ).
            ZSetValue::Listpack(v) => v.iter().position(|(m, _)| r.gte_min(m))?,
            ZSetValue::Skiplist(_) => self.partition_point(|m, _| !r.gte_min(m)),
        };
        let (m, _) = self.get(at)?;
        r.lte_max(m).then_some(at)
    }

    /// Rank of the last element inside the lex range (Redis's `zzlLastInLexRange`).
    pub fn last_in_lex(&self, r: &LexRange) -> Option<usize> {
        if r.is_empty() || self.is_empty() {
            return None;
        }
        let (last, _) = self.get(self.len() - 1)?;
        let (first, _) = self.get(0)?;
        if !r.gte_min(last) || !r.lte_max(first) {
            return None;
        }
        let at = match self {
            ZSetValue::Listpack(v) => v.iter().rposition(|(m, _)| r.lte_max(m))?,
            ZSetValue::Skiplist(_) => self.partition_point(|m, _| r.lte_max(m)).checked_sub(1)?,
        };
        let (m, _) = self.get(at)?;
        r.gte_min(m).then_some(at)
    }

    /// The first rank whose element fails `pred` (`pred` must hold for a prefix).
    pub fn partition_point(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        match self {
            ZSetValue::Listpack(v) => v.partition_point(|(m, s)| pred(m, *s)),
            ZSetValue::Skiplist(s) => s.order.partition_point(|m, sc| pred(m, sc)),
        }
    }

    /// Removes the elements of ranks `lo..hi`, returning how many went.
    pub fn remove_ranks(&mut self, lo: usize, hi: usize) -> usize {
        let hi = hi.min(self.len());
        if lo >= hi {
            return 0;
        }
        match self {
            ZSetValue::Listpack(v) => {
                v.drain(lo..hi);
            }
            ZSetValue::Skiplist(s) => {
                let dict = &mut s.dict;
                s.order.remove_range(lo, hi, |m| {
                    dict.remove(m);
                });
            }
        }
        hi - lo
    }

    /// Removes and returns the lowest (`max` false) or highest element.
    pub fn pop(&mut self, max: bool) -> Option<(Bytes, f64)> {
        match self {
            ZSetValue::Listpack(v) => {
                if v.is_empty() {
                    None
                } else if max {
                    v.pop()
                } else {
                    Some(v.remove(0))
                }
            }
            ZSetValue::Skiplist(s) => {
                let e = s.order.pop(max)?;
                s.dict.remove(&e.0);
                Some(e)
            }
        }
    }

    /// Switches to `skiplist` (no-op if already there).
    pub fn convert_to_skiplist(&mut self) {
        if let ZSetValue::Listpack(v) = self {
            let v = std::mem::take(v);
            let mut dict = MemberMap::with_capacity_and_hasher(v.len(), MemberHasher);
            for (m, s) in &v {
                dict.insert(m.clone(), *s);
            }
            *self = ZSetValue::Skiplist(Box::new(SkipList {
                dict,
                order: Ranked::from_sorted(v),
            }));
        }
    }

    /// The RDB model of this sorted set.
    pub fn to_rdb(&self) -> RdbValue {
        RdbValue::ZSet(self.iter().map(|(m, s)| (m.clone(), s)).collect())
    }

    /// A computed sorted set (members unique, any order): `listpack` when it fits the
    /// limits, else `skiplist` (Redis's `zsetConvertToListpackIfNeeded` on a result, and the
    /// encoding ZRANGESTORE's destination ends with).
    pub fn from_unique_pairs(mut pairs: Vec<(Bytes, f64)>, limits: &EncodingLimits) -> ZSetValue {
        pairs.sort_unstable_by(|a, b| zcmp((&a.0, a.1), (&b.0, b.1)));
        let compact = pairs.len() <= limits.zset_max_listpack_entries
            && pairs
                .iter()
                .all(|(m, _)| m.len() <= limits.zset_max_listpack_value);
        if compact {
            for p in pairs.iter_mut() {
                p.1 = listpack_score(p.1);
            }
            return ZSetValue::Listpack(pairs);
        }
        let mut dict = MemberMap::with_capacity_and_hasher(pairs.len(), MemberHasher);
        for (m, s) in &pairs {
            dict.insert(m.clone(), *s);
        }
        ZSetValue::Skiplist(Box::new(SkipList {
            dict,
            order: Ranked::from_sorted(pairs),
        }))
    }

    /// A sorted set loaded from RDB: `listpack` when it fits the limits (Redis's loader
    /// converts small skiplists back), else `skiplist`. A repeated member keeps its last score.
    pub fn from_pairs(pairs: Vec<(Bytes, f64)>, limits: &EncodingLimits) -> ZSetValue {
        let mut seen = MemberMap::with_capacity_and_hasher(pairs.len(), MemberHasher);
        for (m, s) in pairs {
            seen.insert(m, s);
        }
        ZSetValue::from_unique_pairs(seen.into_iter().collect(), limits)
    }
}

/// A score as a listpack keeps it: Redis stores integral scores as integers there, so `-0`
/// comes back as `0`.
#[inline]
fn listpack_score(s: f64) -> f64 {
    if s == 0.0 {
        0.0
    } else {
        s
    }
}

/// Iterator over a rank range of a sorted set (double-ended, exact size).
#[derive(Clone, Debug)]
pub enum ZIter<'a> {
    Slice(std::slice::Iter<'a, (Bytes, f64)>),
    Chunks(Cursor<'a>),
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a Bytes, f64);
    #[inline]
    fn next(&mut self) -> Option<(&'a Bytes, f64)> {
        match self {
            ZIter::Slice(it) => it.next().map(|(m, s)| (m, *s)),
            ZIter::Chunks(c) => c.next().map(|(m, s)| (m, *s)),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            ZIter::Slice(it) => it.len(),
            ZIter::Chunks(c) => c.remaining,
        };
        (n, Some(n))
    }
}

impl DoubleEndedIterator for ZIter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            ZIter::Slice(it) => it.next_back().map(|(m, s)| (m, *s)),
            ZIter::Chunks(c) => c.next_back().map(|(m, s)| (m, *s)),
        }
    }
}

impl ExactSizeIterator for ZIter<'_> {}

/// Target chunk size of the ranked order; chunks split above `2 * LOAD` and merge below
/// `LOAD / 2`.
const LOAD: usize = 128;

/// One chunk of the ranked order (a deque: popping either end moves nothing).
type Chunk = VecDeque<(Bytes, f64)>;

/// Sorted chunks with a Fenwick tree over their lengths (an order-statistics sequence).
#[derive(Clone, Debug, Default)]
struct Ranked {
    chunks: Vec<Chunk>,
    /// Fenwick tree (1-based) over `chunks[i].len()`.
    fen: Vec<usize>,
    len: usize,
}

/// A cursor over positions `[front, back)` of a [`Ranked`].
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    chunks: &'a [Chunk],
    /// Chunk and offset of the next front element.
    fc: usize,
    fo: usize,
    /// Chunk and offset one past the next back element.
    bc: usize,
    bo: usize,
    remaining: usize,
}

impl<'a> Iterator for Cursor<'a> {
    type Item = &'a (Bytes, f64);
    #[inline]
    fn next(&mut self) -> Option<&'a (Bytes, f64)> {
        if self.remaining == 0 {
            return None;
        }
        let mut chunk = self.chunks.get(self.fc)?;
        while self.fo >= chunk.len() {
            self.fc += 1;
            self.fo = 0;
            chunk = self.chunks.get(self.fc)?;
        }
        let e = chunk.get(self.fo)?;
        self.fo += 1;
        self.remaining -= 1;
        Some(e)
    }
}

impl<'a> DoubleEndedIterator for Cursor<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<&'a (Bytes, f64)> {
        if self.remaining == 0 {
            return None;
        }
        while self.bo == 0 {
            self.bc = self.bc.checked_sub(1)?;
            self.bo = self.chunks.get(self.bc)?.len();
        }
        self.bo -= 1;
        self.remaining -= 1;
        self.chunks.get(self.bc)?.get(self.bo)
    }
}

impl Ranked {
    fn from_sorted(v: Vec<(Bytes, f64)>) -> Ranked {
        let len = v.len();
        let mut chunks = Vec::with_capacity(len / LOAD + 1);
        let mut it = v.into_iter().peekable();
        while it.peek().is_some() {
            let mut c = Chunk::with_capacity(2 * LOAD);
            c.extend(it.by_ref().take(LOAD));
            chunks.push(c);
        }
        let mut r = Ranked {
            chunks,
            fen: Vec::new(),
            len,
        };
        r.rebuild();
        r
    }

    fn iter_all(&self) -> impl Iterator<Item = &(Bytes, f64)> {
        self.chunks.iter().flatten()
    }

    fn rebuild(&mut self) {
        let n = self.chunks.len();
        self.fen.clear();
        self.fen.resize(n + 1, 0);
        for (i, c) in self.chunks.iter().enumerate() {
            self.fen[i + 1] += c.len();
            let parent = (i + 1) + ((i + 1) & (i + 1).wrapping_neg());
            if parent <= n {
                let v = self.fen[i + 1];
                self.fen[parent] += v;
            }
        }
    }

    fn fen_add(&mut self, ci: usize, delta: isize) {
        let mut i = ci + 1;
        while i < self.fen.len() {
            self.fen[i] = self.fen[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Sum of the lengths of chunks `0..ci`.
    fn prefix(&self, ci: usize) -> usize {
        let mut i = ci.min(self.fen.len().saturating_sub(1));
        let mut sum = 0;
        while i > 0 {
            sum += self.fen[i];
            i &= i - 1;
        }
        sum
    }

    /// Chunk and offset of rank `r` (`r < len`).
    fn select(&self, mut r: usize) -> (usize, usize) {
        let n = self.fen.len().saturating_sub(1);
        let mut pos = 0;
        let mut step = if n == 0 {
            0
        } else {
            1 << (usize::BITS - 1 - n.leading_zeros())
        };
        while step > 0 {
            let next = pos + step;
            if next <= n && self.fen[next] <= r {
                pos = next;
                r -= self.fen[next];
            }
            step >>= 1;
        }
        (pos, r)
    }

    fn cursor(&self, lo: usize, hi: usize) -> Cursor<'_> {
        let (fc, fo) = if lo < self.len {
            self.select(lo)
        } else {
            (self.chunks.len(), 0)
        };
        let (bc, bo) = if hi == 0 {
            (0, 0)
        } else {
            let (c, o) = self.select(hi - 1);
            (c, o + 1)
        };
        Cursor {
            chunks: &self.chunks,
            fc,
            fo,
            bc,
            bo,
            remaining: hi.saturating_sub(lo),
        }
    }

    /// The chunk that holds (or would hold) `(m, s)`: the first whose last element is not
    /// below it (the last chunk if none).
    fn chunk_for(&self, m: &[u8], s: f64) -> usize {
        let ci = self.chunks.partition_point(|c| {
            c.back()
                .is_some_and(|(lm, ls)| zcmp((lm, *ls), (m, s)).is_lt())
        });
        ci.min(self.chunks.len().saturating_sub(1))
    }

    fn insert(&mut self, m: Bytes, s: f64) {
        if self.chunks.is_empty() {
            let mut c = Chunk::with_capacity(2 * LOAD);
            c.push_back((m, s));
            self.chunks.push(c);
            self.len = 1;
            self.rebuild();
            return;
        }
        let ci = self.chunk_for(&m, s);
        let chunk = &mut self.chunks[ci];
        let at = chunk.partition_point(|(cm, cs)| zcmp((cm, *cs), (&m, s)).is_lt());
        chunk.insert(at, (m, s));
        self.len += 1;
        if chunk.len() > 2 * LOAD {
            let tail = chunk.split_off(LOAD);
            self.chunks.insert(ci + 1, tail);
            self.rebuild();
        } else {
            self.fen_add(ci, 1);
        }
    }

    /// Chunk and offset of `(m, s)` if present.
    fn find(&self, m: &[u8], s: f64) -> Option<(usize, usize)> {
        if self.chunks.is_empty() {
            return None;
        }
        let ci = self.chunk_for(m, s);
        let off = self
            .chunks
            .get(ci)?
            .binary_search_by(|(cm, cs)| zcmp((cm, *cs), (m, s)))
            .ok()?;
        Some((ci, off))
    }

    fn rank_of(&self, m: &[u8], s: f64) -> Option<usize> {
        let (ci, off) = self.find(m, s)?;
        Some(self.prefix(ci) + off)
    }

    fn remove(&mut self, m: &[u8], s: f64) -> bool {
        let Some((ci, off)) = self.find(m, s) else {
            return false;
        };
        self.remove_at(ci, off).is_some()
    }

    fn remove_at(&mut self, ci: usize, off: usize) -> Option<(Bytes, f64)> {
        let e = self.chunks.get_mut(ci)?.remove(off)?;
        self.len -= 1;
        if self.chunks[ci].len() < LOAD / 2 && self.chunks.len() > 1 {
            self.rebalance(ci);
        } else if self.chunks[ci].is_empty() {
            self.chunks.remove(ci);
            self.rebuild();
        } else {
            self.fen_add(ci, -1);
        }
        Some(e)
    }

    /// Merges the small chunk `ci` with a neighbour (splitting again if too big).
    fn rebalance(&mut self, ci: usize) {
        let (a, b) = if ci + 1 < self.chunks.len() {
            (ci, ci + 1)
        } else {
            (ci - 1, ci)
        };
        let right = self.chunks.remove(b);
        self.chunks[a].extend(right);
        if self.chunks[a].len() > 2 * LOAD {
            let half = self.chunks[a].len() / 2;
            let tail = self.chunks[a].split_off(half);
            self.chunks.insert(a + 1, tail);
        }
        if self.chunks[a].is_empty() {
            self.chunks.remove(a);
        }
        self.rebuild();
    }

    fn pop(&mut self, max: bool) -> Option<(Bytes, f64)> {
        if self.len == 0 {
            return None;
        }
        if max {
            let ci = self.chunks.len() - 1;
            let off = self.chunks[ci].len().checked_sub(1)?;
            self.remove_at(ci, off)
        } else {
            self.remove_at(0, 0)
        }
    }

    fn remove_range(&mut self, lo: usize, hi: usize, mut on_removed: impl FnMut(&[u8])) {
        if hi - lo == 1 {
            let (ci, off) = self.select(lo);
            if let Some((m, _)) = self.remove_at(ci, off) {
                on_removed(&m);
            }
            return;
        }
        let mut pos = 0;
        let mut kept = Vec::with_capacity(self.chunks.len());
        for mut c in std::mem::take(&mut self.chunks) {
            let start = pos;
            let end = pos + c.len();
            pos = end;
            if end <= lo || start >= hi {
                kept.push(c);
                continue;
            }
            let a = lo.saturating_sub(start);
            let b = (hi - start).min(c.len());
            for (m, _) in c.drain(a..b) {
                on_removed(&m);
            }
            if !c.is_empty() {
                kept.push(c);
            }
        }
        self.chunks = kept;
        self.len -= hi - lo;
        // Merge runs of small chunks left at the cut.
        let mut i = 0;
        while i + 1 < self.chunks.len() {
            let (a, b) = (self.chunks[i].len(), self.chunks[i + 1].len());
            if (a < LOAD / 2 || b < LOAD / 2) && a + b <= 2 * LOAD {
                let right = self.chunks.remove(i + 1);
                self.chunks[i].extend(right);
            } else {
                i += 1;
            }
        }
        self.rebuild();
    }

    fn partition_point(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        let ci = self
            .chunks
            .partition_point(|c| c.back().is_some_and(|(m, s)| pred(m, *s)));
        match self.chunks.get(ci) {
            None => self.len,
            Some(c) => self.prefix(ci) + c.partition_point(|(m, s)| pred(m, *s)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lim(entries: usize) -> EncodingLimits {
        EncodingLimits {
            zset_max_listpack_entries: entries,
            ..EncodingLimits::default()
        }
    }

    fn b(s: String) -> Bytes {
        Bytes::from(s)
    }

    /// A pseudo-random sequence for the model test.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn ranked_matches_a_sorted_vec() {
        let l = lim(0);
        let mut z = ZSetValue::new_for_add(1, &l);
        let mut model: Vec<(Bytes, f64)> = Vec::new();
        let mut seed = 0x1234_5678_9abc_def1u64;
        for step in 0..20_000 {
            let r = rng(&mut seed);
            let m = b(format!("m{}", r % 3000));
            let s = ((r >> 20) % 500) as f64;
            match r % 7 {
                0..=3 => {
                    z.insert(m.clone(), s, &l);
                    model.retain(|(x, _)| *x != m);
                    let at = model.partition_point(|(x, y)| zcmp((x, *y), (&m, s)).is_lt());
                    model.insert(at, (m, s));
                }
                4 => {
                    let a = z.remove(&m);
                    let pos = model.iter().position(|(x, _)| *x == m);
                    assert_eq!(a.is_some(), pos.is_some());
                    if let Some(p) = pos {
                        model.remove(p);
                    }
                }
                5 => {
                    let a = z.pop(r & 1 == 0);
                    let e = if model.is_empty() {
                        None
                    } else if r & 1 == 0 {
                        model.pop()
                    } else {
                        Some(model.remove(0))
                    };
                    assert_eq!(a, e);
                }
                _ => {
                    if !model.is_empty() && step % 50 == 0 {
                        let lo = (r as usize) % model.len();
                        let hi = (lo + (r >> 8) as usize % 400).min(model.len());
                        assert_eq!(z.remove_ranks(lo, hi), hi - lo);
                        model.drain(lo..hi);
                    }
                }
            }
            assert_eq!(z.len(), model.len());
            if step % 997 == 0 {
                let all: Vec<_> = z.iter().map(|(m, s)| (m.clone(), s)).collect();
                assert_eq!(all, model);
                let rev: Vec<_> = z.iter().rev().map(|(m, s)| (m.clone(), s)).collect();
                let mut mr = model.clone();
                mr.reverse();
                assert_eq!(rev, mr);
                for (i, (m, s)) in model.iter().enumerate().step_by(37) {
                    assert_eq!(z.rank(m), Some(i));
                    assert_eq!(z.get(i), Some((m, *s)));
                    let part: Vec<_> = z.range(i, i + 5).map(|(m, _)| m.clone()).collect();
                    let want: Vec<_> = model[i..(i + 5).min(model.len())]
                        .iter()
                        .map(|(m, _)| m.clone())
                        .collect();
                    assert_eq!(part, want);
                }
            }
        }
    }

    #[test]
    fn score_and_lex_ranges() {
        let l = lim(128);
        for entries in [128, 0] {
            let l2 = lim(entries);
            let mut z = ZSetValue::new_for_add(1, &l2);
            for (i, m) in ["a", "b", "c", "d", "e"].iter().enumerate() {
                z.insert(Bytes::from(*m), i as f64, &l);
            }
            let r = ScoreRange {
                min: 1.0,
                max: 3.0,
                minex: true,
                maxex: false,
            };
            assert_eq!(z.first_in_score(&r), Some(2));
            assert_eq!(z.last_in_score(&r), Some(3));
            let lr = LexRange {
                min: LexBound::Value {
                    bytes: Bytes::from_static(b"b"),
                    exclusive: false,
                },
                max: LexBound::Max,
            };
            let mut flat = ZSetValue::new_for_add(1, &l2);
            for m in ["a", "b", "c"] {
                flat.insert(Bytes::from(m), 0.0, &l);
            }
            assert_eq!(flat.first_in_lex(&lr), Some(1));
            assert_eq!(flat.last_in_lex(&lr), Some(2));
        }
    }

    #[test]
    fn encodings_follow_limits() {
        let l = lim(2);
        let mut z = ZSetValue::new_for_add(1, &l);
        z.insert(Bytes::from_static(b"a"), 1.0, &l);
        z.insert(Bytes::from_static(b"b"), 2.0, &l);
        assert_eq!(z.encoding(), "listpack");
        z.insert(Bytes::from_static(b"a"), 3.0, &l);
        assert_eq!(z.encoding(), "listpack");
        z.insert(Bytes::from_static(b"c"), 3.0, &l);
        assert_eq!(z.encoding(), "skiplist");
        let p = ZSetValue::from_pairs(vec![(Bytes::from_static(b"x"), 1.0)], &l);
        assert_eq!(p.encoding(), "listpack");
    }
}
