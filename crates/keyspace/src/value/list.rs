//! Lists. Redis 7.0 keeps every list in a `quicklist` (a linked list of listpack nodes);
//! Tandem keeps the elements in one ring buffer, which gives the same O(1) pushes and pops
//! at both ends and O(1) indexing. `DEBUG OBJECT` derives the quicklist node shape from
//! `list-max-listpack-size`.

use std::collections::VecDeque;

use bytes::Bytes;
use tandem_rdb::RdbValue;

/// A list (`OBJECT ENCODING` is always `quicklist` in Redis 7.0).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListValue {
    /// The elements, head first.
    pub items: VecDeque<Bytes>,
}

impl ListValue {
    /// Number of elements (LLEN).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the list has no element (the key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Redis's `lazyfreeGetFreeEffort` for a quicklist: its number of nodes (estimated at
    /// 128 elements per node).
    pub fn free_effort(&self) -> usize {
        self.items.len().div_ceil(128).max(1)
    }

    /// The elements in order (digest, RDB).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator {
        self.items.iter()
    }

    /// The RDB model of this list.
    pub fn to_rdb(&self) -> RdbValue {
        RdbValue::List(self.items.iter().cloned().collect())
    }

    /// An empty list with room for `n` elements.
    pub fn with_capacity(n: usize) -> ListValue {
        ListValue {
            items: VecDeque::with_capacity(n),
        }
    }

    /// The position of Redis index `idx` (LINDEX, LSET: `0` is the head, `-1` the tail),
    /// or `None` when it is out of range.
    pub fn position(&self, idx: i64) -> Option<usize> {
        let len = self.items.len() as u64;
        let (forward, off) = if idx >= 0 {
            (true, idx.unsigned_abs())
        } else {
            // -1 is the last element: offset 0 from the tail.
            (false, idx.unsigned_abs() - 1)
        };
        if off >= len {
            return None;
        }
        let off = off as usize;
        Some(if forward {
            off
        } else {
            self.items.len() - 1 - off
        })
    }

    /// Redis's range rule (LRANGE, LTRIM): negative indexes count from the tail, the start
    /// is clamped to 0 and the end to the last element. The inclusive positions, or `None`
    /// for an empty range.
    pub fn range(&self, start: i64, end: i64) -> Option<(usize, usize)> {
        let len = self.items.len() as i64;
        let start = if start < 0 { start + len } else { start }.max(0);
        let end = if end < 0 { end + len } else { end };
        if start > end || start >= len {
            return None;
        }
        let end = end.min(len - 1);
        Some((start as usize, end as usize))
    }

    /// A list loaded from an RDB file or a RESTORE payload.
    pub fn from_items(items: Vec<Bytes>) -> ListValue {
        ListValue {
            items: items.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize) -> ListValue {
        ListValue::from_items((0..n).map(|i| Bytes::from(i.to_string())).collect())
    }

    #[test]
    fn positions_follow_redis() {
        let l = list(3);
        assert_eq!(l.position(0), Some(0));
        assert_eq!(l.position(2), Some(2));
        assert_eq!(l.position(3), None);
        assert_eq!(l.position(-1), Some(2));
        assert_eq!(l.position(-3), Some(0));
        assert_eq!(l.position(-4), None);
        assert_eq!(l.position(i64::MIN), None);
        assert_eq!(l.position(i64::MAX), None);
        assert_eq!(list(0).position(0), None);
        assert_eq!(list(0).position(-1), None);
    }

    #[test]
    fn ranges_follow_redis() {
        let l = list(5);
        assert_eq!(l.range(0, -1), Some((0, 4)));
        assert_eq!(l.range(-100, 100), Some((0, 4)));
        assert_eq!(l.range(2, 1), None);
        assert_eq!(l.range(5, 10), None);
        assert_eq!(l.range(-2, -1), Some((3, 4)));
        assert_eq!(l.range(0, -6), None);
        assert_eq!(l.range(i64::MIN, i64::MAX), Some((0, 4)));
        assert_eq!(list(0).range(0, -1), None);
    }
}
