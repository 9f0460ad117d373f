//! Lists. Redis 7.0 keeps every list in a `quicklist` (a linked list of listpack nodes);
//! Tandem keeps the elements in one ring buffer, which gives the same O(1) pushes and pops
//! at both ends and O(1) indexing, and beside it the node layout Redis would have
//! ([`Layout`]), which every change keeps up to date: RDB files, DUMP payloads and DEBUG
//! OBJECT show Redis's nodes.

use std::collections::VecDeque;

use bytes::Bytes;
use tandem_rdb::{Quicklist, RdbValue};

use super::quicklist::Layout;
use super::EncodingLimits;

/// A list (`OBJECT ENCODING` is always `quicklist` in Redis 7.0). Changes go through the
/// methods, which keep the elements and their node layout in step.
#[derive(Clone, Debug, PartialEq)]
pub struct ListValue(Box<Inner>);

/// Boxed, so that a list, and so every [`super::Value`], stays small.
#[derive(Clone, Debug, PartialEq)]
struct Inner {
    /// The elements, head first.
    items: VecDeque<Bytes>,
    layout: Layout,
}

impl ListValue {
    /// An empty list made under `limits` (`list-max-listpack-size`,
    /// `list-compress-depth`), which it keeps.
    pub fn new(limits: &EncodingLimits) -> ListValue {
        ListValue::with_capacity(0, limits)
    }

    /// An empty list with room for `n` elements.
    pub fn with_capacity(n: usize, limits: &EncodingLimits) -> ListValue {
        let layout = Layout::new(limits.list_max_listpack_size);
        ListValue::made(VecDeque::with_capacity(n), layout, limits)
    }

    /// A list of `items` laid out as tail pushes would (RDB types without nodes).
    pub fn from_items(items: Vec<Bytes>, limits: &EncodingLimits) -> ListValue {
        let items = VecDeque::from(items);
        let layout = Layout::tail_pushed(&items, limits.list_max_listpack_size);
        ListValue::made(items, layout, limits)
    }

    /// A list loaded with its recorded nodes (RDB quicklists, RESTORE payloads); laid out
    /// afresh when they do not add up.
    pub fn from_quicklist(ql: Quicklist, limits: &EncodingLimits) -> ListValue {
        let fill = limits.list_max_listpack_size;
        let items = VecDeque::from(ql.items);
        let layout = Layout::from_nodes(&items, &ql.nodes, fill)
            .unwrap_or_else(|| Layout::tail_pushed(&items, fill));
        ListValue::made(items, layout, limits)
    }

    fn made(items: VecDeque<Bytes>, layout: Layout, limits: &EncodingLimits) -> ListValue {
        let layout = layout.with_compress(limits.list_compress_depth);
        ListValue(Box::new(Inner { items, layout }))
    }

    /// Number of elements (LLEN).
    pub fn len(&self) -> usize {
        self.0.items.len()
    }

    /// True when the list has no element (the key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.0.items.is_empty()
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Redis's `lazyfreeGetFreeEffort` for a quicklist: its number of nodes.
    pub fn free_effort(&self) -> usize {
        self.0.layout.nodes().len().max(1)
    }

    /// The elements, head first.
    pub fn items(&self) -> &VecDeque<Bytes> {
        &self.0.items
    }

    /// The elements in order (digest, RDB).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator {
        self.0.items.iter()
    }

    /// The element at position `i`.
    pub fn get(&self, i: usize) -> Option<&Bytes> {
        self.0.items.get(i)
    }

    /// The quicklist nodes (DEBUG OBJECT).
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }

    /// The RDB model of this list, with its nodes.
    pub fn to_rdb(&self) -> RdbValue {
        RdbValue::Quicklist(Box::new(Quicklist {
            items: self.0.items.iter().cloned().collect(),
            nodes: self.0.layout.to_rdb(),
        }))
    }

    /// Makes room for `n` more elements.
    pub fn reserve(&mut self, n: usize) {
        self.0.items.reserve(n);
    }

    /// LPUSH one element.
    pub fn push_front(&mut self, v: Bytes) {
        self.0.layout.push_head(&v);
        self.0.items.push_front(v);
    }

    /// RPUSH one element.
    pub fn push_back(&mut self, v: Bytes) {
        self.0.layout.push_tail(&v);
        self.0.items.push_back(v);
    }

    /// LPOP one element.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        let v = self.0.items.pop_front()?;
        self.0.layout.pop_head(&v);
        Some(v)
    }

    /// RPOP one element.
    pub fn pop_back(&mut self) -> Option<Bytes> {
        let v = self.0.items.pop_back()?;
        self.0.layout.pop_tail(&v);
        Some(v)
    }

    /// LINSERT: `v` goes before or after position `pos`.
    pub fn insert(&mut self, pos: usize, after: bool, v: Bytes) {
        self.0.layout.insert(&self.0.items, pos, after, &v);
        self.0.items.insert(pos + usize::from(after), v);
    }

    /// LSET: the element at `pos` becomes `v`; false when `pos` is out of range.
    pub fn set(&mut self, pos: usize, v: Bytes) -> bool {
        if pos >= self.0.items.len() {
            return false;
        }
        self.0.layout.replace(&self.0.items, pos, &v);
        self.0.items[pos] = v;
        true
    }

    /// LREM: removes the elements at `positions` (ascending).
    pub fn remove_positions(&mut self, positions: &[usize]) {
        self.0.layout.remove_positions(&self.0.items, positions);
        let mut next = positions.iter().peekable();
        let mut i = 0;
        self.0.items.retain(|_| {
            let gone = next.peek().is_some_and(|&&p| p == i);
            if gone {
                next.next();
            }
            i += 1;
            !gone
        });
    }

    /// LTRIM: keeps positions `from..=to` only.
    pub fn trim(&mut self, from: usize, to: usize) {
        let len = self.0.items.len();
        let to = to.min(len.saturating_sub(1));
        // Deletions never merge nodes, so the order of the two ranges does not matter;
        // the tail range first leaves the head range's positions as they are.
        self.0.layout.remove_range(&self.0.items, to + 1, len);
        self.0.layout.remove_range(&self.0.items, 0, from);
        self.0.items.truncate(to + 1);
        self.0.items.drain(..from.min(self.0.items.len()));
    }

    /// Empties the list.
    pub fn clear(&mut self) {
        self.0.items.clear();
        let compress = self.0.layout.compress();
        self.0.layout = Layout::new(self.0.layout.fill()).with_compress(compress);
    }

    /// The position of Redis index `idx` (LINDEX, LSET: `0` is the head, `-1` the tail),
    /// or `None` when it is out of range.
    pub fn position(&self, idx: i64) -> Option<usize> {
        let len = self.0.items.len() as u64;
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
            self.0.items.len() - 1 - off
        })
    }

    /// Redis's range rule (LRANGE, LTRIM): negative indexes count from the tail, the start
    /// is clamped to 0 and the end to the last element. The inclusive positions, or `None`
    /// for an empty range.
    pub fn range(&self, start: i64, end: i64) -> Option<(usize, usize)> {
        let len = self.0.items.len() as i64;
        let start = if start < 0 { start + len } else { start }.max(0);
        let end = if end < 0 { end + len } else { end };
        if start > end || start >= len {
            return None;
        }
        let end = end.min(len - 1);
        Some((start as usize, end as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize) -> ListValue {
        let items = (0..n).map(|i| Bytes::from(i.to_string())).collect();
        ListValue::from_items(items, &EncodingLimits::default())
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
