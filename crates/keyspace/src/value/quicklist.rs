//! The quicklist node layout of a list: how Redis 7.0 would split the same list into
//! listpack nodes after the same history of commands.
//!
//! Tandem keeps a list's elements in one ring buffer ([`super::ListValue`]); beside it,
//! [`Layout`] keeps only each node's element count and listpack size, and replays on them
//! what Redis's `quicklist.c` does on every push, pop, insert, replace and delete: which
//! node takes a new element (`_quicklistNodeAllowInsert`), when a full node is split and
//! its neighbours merged (`_quicklistInsert`, `_quicklistMergeNodes`), that deletions never
//! merge. The node boundaries are what an RDB file or a DUMP payload records and what
//! DEBUG OBJECT reports, so a list saved by Tandem is the same bytes Redis saves.
//!
//! Each list keeps the `list-max-listpack-size` it was created with, as a quicklist keeps
//! its `fill`: changing the setting affects lists made afterwards.

use std::collections::VecDeque;

use bytes::Bytes;
use tandem_rdb::blob::{listpack_entry_len, LISTPACK_OVERHEAD};
use tandem_rdb::{quicklist_node_accepts, quicklist_nodes_merge, QuicklistNode};

/// Elements at least this large get a PLAIN node of their own (7.0's packed threshold).
const PACKED_THRESHOLD: usize = 1 << 30;

/// One node: its element count and its size (a listpack's bytes, or a plain node's
/// element length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    /// Elements in the node.
    pub count: usize,
    /// `node->sz`: the listpack's total bytes, or the element's length for a plain node.
    pub bytes: usize,
    /// A PLAIN node (one element stored raw).
    pub plain: bool,
}

impl Node {
    fn packed(items: &[&[u8]]) -> Node {
        Node {
            count: items.len(),
            bytes: LISTPACK_OVERHEAD + items.iter().map(|i| listpack_entry_len(i)).sum::<usize>(),
            plain: false,
        }
    }

    fn plain(item: &[u8]) -> Node {
        Node {
            count: 1,
            bytes: item.len(),
            plain: true,
        }
    }

    /// A node holding `item` alone, plain when it is large.
    fn single(item: &[u8]) -> Node {
        if is_large(item.len()) {
            Node::plain(item)
        } else {
            Node::packed(&[item])
        }
    }
}

fn is_large(sz: usize) -> bool {
    sz >= PACKED_THRESHOLD
}

/// Bytes the elements at `positions` of `items` take in a listpack.
fn entries_len(items: &VecDeque<Bytes>, positions: std::ops::Range<usize>) -> usize {
    items.range(positions).map(|i| listpack_entry_len(i)).sum()
}

/// The nodes of one list (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    fill: i64,
    /// `list-compress-depth` when the list was made (only DEBUG OBJECT shows it).
    compress: i64,
    nodes: VecDeque<Node>,
}

impl Layout {
    /// An empty list's layout under `list-max-listpack-size` `fill`.
    pub fn new(fill: i64) -> Layout {
        Layout {
            fill,
            compress: 0,
            nodes: VecDeque::new(),
        }
    }

    /// The same layout for a list made under `list-compress-depth` `depth`.
    pub fn with_compress(mut self, depth: i64) -> Layout {
        self.compress = depth;
        self
    }

    /// The layout tail pushes of `items` make.
    pub fn tail_pushed(items: &VecDeque<Bytes>, fill: i64) -> Layout {
        let mut layout = Layout::new(fill);
        for item in items {
            layout.push_tail(item);
        }
        layout
    }

    /// The layout a file recorded (`quicklistAppendListpack` per node); `None` when the
    /// counts do not add up to the elements.
    pub fn from_nodes(
        items: &VecDeque<Bytes>,
        nodes: &[QuicklistNode],
        fill: i64,
    ) -> Option<Layout> {
        let mut out = VecDeque::with_capacity(nodes.len());
        let mut start = 0;
        for n in nodes {
            let end = start + n.count;
            if n.count == 0 || end > items.len() || (n.plain && n.count != 1) {
                return None;
            }
            out.push_back(if n.plain {
                Node::plain(&items[start])
            } else {
                Node {
                    count: n.count,
                    bytes: LISTPACK_OVERHEAD + entries_len(items, start..end),
                    plain: false,
                }
            });
            start = end;
        }
        (start == items.len()).then_some(Layout {
            fill,
            compress: 0,
            nodes: out,
        })
    }

    /// The `list-max-listpack-size` this list was made with.
    pub fn fill(&self) -> i64 {
        self.fill
    }

    /// The `list-compress-depth` this list was made with.
    pub fn compress(&self) -> i64 {
        self.compress
    }

    /// The nodes, head first.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &Node> {
        self.nodes.iter()
    }

    /// The nodes as the RDB model records them.
    pub fn to_rdb(&self) -> Vec<QuicklistNode> {
        self.nodes
            .iter()
            .map(|n| QuicklistNode {
                count: n.count,
                plain: n.plain,
            })
            .collect()
    }

    /// `_quicklistNodeAllowInsert`: may `node` take an element of `sz` bytes?
    fn accepts(&self, node: Option<&Node>, sz: usize) -> bool {
        match node {
            Some(n) if !n.plain && !is_large(sz) => {
                quicklist_node_accepts(n.bytes, n.count, sz, self.fill)
            }
            _ => false,
        }
    }

    /// `_quicklistNodeAllowMerge` of the nodes at `a` and `b`.
    fn merges(&self, a: usize, b: usize) -> bool {
        match (self.nodes.get(a), self.nodes.get(b)) {
            (Some(x), Some(y)) if !x.plain && !y.plain => {
                quicklist_nodes_merge(x.bytes, x.count, y.bytes, y.count, self.fill)
            }
            _ => false,
        }
    }

    /// `quicklistPushHead`.
    pub fn push_head(&mut self, item: &[u8]) {
        let head = self.nodes.front();
        if self.accepts(head, item.len()) {
            if let Some(n) = self.nodes.front_mut() {
                n.count += 1;
                n.bytes += listpack_entry_len(item);
            }
        } else {
            self.nodes.push_front(Node::single(item));
        }
    }

    /// `quicklistPushTail`.
    pub fn push_tail(&mut self, item: &[u8]) {
        let tail = self.nodes.back();
        if self.accepts(tail, item.len()) {
            if let Some(n) = self.nodes.back_mut() {
                n.count += 1;
                n.bytes += listpack_entry_len(item);
            }
        } else {
            self.nodes.push_back(Node::single(item));
        }
    }

    /// The head element (`item`) was removed.
    pub fn pop_head(&mut self, item: &[u8]) {
        self.shrink(0, item);
    }

    /// The tail element (`item`) was removed.
    pub fn pop_tail(&mut self, item: &[u8]) {
        if let Some(last) = self.nodes.len().checked_sub(1) {
            self.shrink(last, item);
        }
    }

    /// `quicklistDelIndex` on node `i` for `item`: a node left empty goes.
    fn shrink(&mut self, i: usize, item: &[u8]) {
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        n.count = n.count.saturating_sub(1);
        if n.count == 0 {
            self.nodes.remove(i);
        } else {
            n.bytes = n.bytes.saturating_sub(listpack_entry_len(item));
        }
    }

    /// The node holding position `pos`: (node index, offset in the node, node's first
    /// position).
    fn locate(&self, pos: usize) -> Option<(usize, usize, usize)> {
        let mut start = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            if pos < start + n.count {
                return Some((i, pos - start, start));
            }
            start += n.count;
        }
        None
    }

    /// The elements at `positions` (ascending) of `items` (the list before the removal)
    /// were deleted one by one (LREM, `quicklistDelEntry`), or as ranges (LTRIM, popping
    /// a count, `quicklistDelRange`): both leave the other nodes as they are.
    pub fn remove_positions(&mut self, items: &VecDeque<Bytes>, positions: &[usize]) {
        let mut next = positions.iter().peekable();
        let mut start = 0;
        for n in self.nodes.iter_mut() {
            let end = start + n.count;
            while let Some(&&p) = next.peek() {
                if p >= end {
                    break;
                }
                next.next();
                n.count -= 1;
                if !n.plain {
                    n.bytes = n.bytes.saturating_sub(listpack_entry_len(&items[p]));
                }
            }
            start = end;
        }
        self.nodes.retain(|n| n.count > 0);
    }

    /// Positions `from..to` of `items` (the list before the removal) were deleted.
    pub fn remove_range(&mut self, items: &VecDeque<Bytes>, from: usize, to: usize) {
        let mut start = 0;
        for n in self.nodes.iter_mut() {
            let end = start + n.count;
            let (a, b) = (from.max(start), to.min(end));
            if a < b {
                n.count -= b - a;
                if n.count > 0 && !n.plain {
                    n.bytes = n.bytes.saturating_sub(entries_len(items, a..b));
                }
            }
            start = end;
        }
        self.nodes.retain(|n| n.count > 0);
    }

    /// `_quicklistInsert`: `item` goes before or after position `pos` of `items` (the
    /// list before the insertion; LINSERT).
    pub fn insert(&mut self, items: &VecDeque<Bytes>, pos: usize, after: bool, item: &[u8]) {
        let sz = item.len();
        let Some((i, off, start)) = self.locate(pos) else {
            self.nodes.push_back(Node::single(item));
            return;
        };
        let node = self.nodes[i];
        let full = !self.accepts(Some(&node), sz);
        let at_tail = after && off + 1 == node.count;
        let at_head = !after && off == 0;
        let avail_next = at_tail && self.accepts(self.nodes.get(i + 1), sz);
        let avail_prev = at_head && i > 0 && self.accepts(self.nodes.get(i - 1), sz);
        let here = if after { i + 1 } else { i };
        if is_large(sz) {
            if node.plain || at_tail || at_head {
                self.nodes.insert(here, Node::plain(item));
            } else {
                let (kept, split) = self.split(items, i, off, start, after, None);
                self.nodes[i] = kept;
                let parts = if after {
                    [Node::plain(item), split]
                } else {
                    [split, Node::plain(item)]
                };
                self.nodes.insert(here, parts[1]);
                self.nodes.insert(here, parts[0]);
            }
            return;
        }
        let entry = listpack_entry_len(item);
        if !full {
            self.nodes[i].count += 1;
            self.nodes[i].bytes += entry;
        } else if avail_next || avail_prev {
            let n = &mut self.nodes[if avail_next { i + 1 } else { i - 1 }];
            n.count += 1;
            n.bytes += entry;
        } else if at_tail || at_head {
            self.nodes.insert(here, Node::packed(&[item]));
        } else {
            let (kept, split) = self.split(items, i, off, start, after, Some(entry));
            self.nodes[i] = kept;
            self.nodes.insert(here, split);
            self.merge_around(if after { i } else { i + 1 });
        }
    }

    /// `_quicklistSplitNode` of node `i` (first position `start`) at offset `off`: the node
    /// keeps `[0, off]` (after) or `[off, end)` (before), the split-off part takes the
    /// rest plus, when given, the new entry of `entry` bytes. Returns (kept, split off).
    fn split(
        &self,
        items: &VecDeque<Bytes>,
        i: usize,
        off: usize,
        start: usize,
        after: bool,
        entry: Option<usize>,
    ) -> (Node, Node) {
        let node = self.nodes[i];
        let cut = start + if after { off + 1 } else { off };
        let end = start + node.count;
        let (kept, moved) = if after {
            (start..cut, cut..end)
        } else {
            (cut..end, start..cut)
        };
        let part = |r: std::ops::Range<usize>, extra: Option<usize>| Node {
            count: r.len() + usize::from(extra.is_some()),
            bytes: LISTPACK_OVERHEAD + entries_len(items, r) + extra.unwrap_or(0),
            plain: false,
        };
        (part(kept, None), part(moved, entry))
    }

    /// Node `i` absorbs node `i + 1` (`_quicklistListpackMerge`).
    fn merge(&mut self, i: usize) {
        if let Some(b) = self.nodes.remove(i + 1) {
            let a = &mut self.nodes[i];
            a.count += b.count;
            a.bytes = a.bytes + b.bytes - LISTPACK_OVERHEAD;
        }
    }

    /// `_quicklistMergeNodes` around node `center`: prev with its prev, next with its
    /// next, then center with prev, then the result with its next.
    fn merge_around(&mut self, center: usize) {
        let mut c = center;
        if c >= 2 && self.merges(c - 2, c - 1) {
            self.merge(c - 2);
            c -= 1;
        }
        if self.merges(c + 1, c + 2) {
            self.merge(c + 1);
        }
        let target = if c >= 1 && self.merges(c - 1, c) {
            self.merge(c - 1);
            c - 1
        } else {
            c
        };
        if self.merges(target, target + 1) {
            self.merge(target);
        }
    }

    /// `quicklistReplaceEntry`: the element at `pos` of `items` (the list before the
    /// change) becomes `item` (LSET).
    pub fn replace(&mut self, items: &VecDeque<Bytes>, pos: usize, item: &[u8]) {
        let Some((i, _, _)) = self.locate(pos) else {
            return;
        };
        let node = self.nodes[i];
        let large = is_large(item.len());
        if !node.plain && !large {
            let n = &mut self.nodes[i];
            n.bytes = n.bytes + listpack_entry_len(item) - listpack_entry_len(&items[pos]);
        } else if node.plain && large {
            self.nodes[i].bytes = item.len();
        } else if node.plain {
            // The new element goes after the plain node, which then goes.
            self.insert(items, pos, true, item);
            self.nodes.remove(i);
        } else {
            // A large element into a listpack: inserted after the old one, which then
            // leaves its node (the node's last element once the insert split it).
            self.insert(items, pos, true, item);
            self.shrink(i, &items[pos]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(v: &[&str]) -> VecDeque<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn counts(l: &Layout) -> Vec<usize> {
        l.nodes().map(|n| n.count).collect()
    }

    /// A list pushed with `fill` 3 (three entries per node) from the tail.
    fn three_per_node(n: usize) -> (VecDeque<Bytes>, Layout) {
        let it: VecDeque<Bytes> = (0..n).map(|i| Bytes::from(format!("e{i}"))).collect();
        let l = Layout::tail_pushed(&it, 3);
        (it, l)
    }

    #[test]
    fn pushes_fill_the_end_nodes() {
        let (_, l) = three_per_node(7);
        assert_eq!(counts(&l), [3, 3, 1]);
        let mut l = l;
        l.push_head(b"x");
        assert_eq!(counts(&l), [1, 3, 3, 1]);
        l.push_head(b"y");
        assert_eq!(counts(&l), [2, 3, 3, 1]);
    }

    #[test]
    fn size_classes_and_counts_bound_the_nodes() {
        let it: VecDeque<Bytes> = (0..200).map(|_| Bytes::from(vec![b'x'; 100])).collect();
        let l = Layout::tail_pushed(&it, -2);
        assert!(l.nodes().len() > 1);
        assert!(l.nodes().all(|n| n.bytes <= 8192));
        let l = Layout::tail_pushed(&it.range(..12).cloned().collect(), 5);
        assert_eq!(counts(&l), [5, 5, 2]);
        // Below -5 and at 0 no node takes a second element.
        assert_eq!(
            Layout::tail_pushed(&items(&["a", "b"]), -6).nodes().len(),
            2
        );
        assert_eq!(Layout::tail_pushed(&items(&["a", "b"]), 0).nodes().len(), 2);
    }

    #[test]
    fn node_bytes_are_listpack_bytes() {
        let it = items(&["a", "12", "hello"]);
        let l = Layout::tail_pushed(&it, -2);
        // 7 bytes of header and end; "a": 1+1 +1, 12: 1 +1, "hello": 1+5 +1.
        assert_eq!(l.nodes().next().map(|n| n.bytes), Some(7 + 3 + 2 + 7));
    }

    #[test]
    fn deletions_never_merge() {
        let (it, mut l) = three_per_node(9);
        l.remove_positions(&it, &[1, 2, 3, 4]);
        assert_eq!(counts(&l), [1, 1, 3]);
        let (it, mut l) = three_per_node(9);
        l.remove_range(&it, 2, 7);
        assert_eq!(counts(&l), [2, 2]);
    }

    #[test]
    fn inserting_into_a_full_node_splits_and_merges() {
        // [e0 e1 e2] [e3 e4 e5] [e6]: after e4 the middle node is full and e4 is not its
        // tail: it splits into [e3 e4] and [x e5], then [x e5] merges with [e6].
        let (it, mut l) = three_per_node(7);
        l.insert(&it, 4, true, b"x");
        assert_eq!(counts(&l), [3, 2, 3]);
        // At a full node's tail with room in the next node: the next node's head.
        let (it, mut l) = three_per_node(7);
        l.insert(&it, 5, true, b"x");
        assert_eq!(counts(&l), [3, 3, 2]);
        // At a full node's head with a full previous node: a node of its own.
        let (it, mut l) = three_per_node(7);
        l.insert(&it, 3, false, b"x");
        assert_eq!(counts(&l), [3, 1, 3, 1]);
    }

    #[test]
    fn replacing_keeps_the_node_and_updates_its_size() {
        let it = items(&["a", "b"]);
        let mut l = Layout::tail_pushed(&it, -2);
        let before = l.nodes().next().map(|n| n.bytes);
        l.replace(&it, 1, b"longer");
        assert_eq!(counts(&l), [2]);
        assert_eq!(l.nodes().next().map(|n| n.bytes), before.map(|b| b + 5));
    }

    #[test]
    fn a_plain_node_is_replaced_by_a_packed_one() {
        let it = items(&["a", "big", "c"]);
        let nodes = [
            QuicklistNode {
                count: 1,
                plain: false,
            },
            QuicklistNode {
                count: 1,
                plain: true,
            },
            QuicklistNode {
                count: 1,
                plain: false,
            },
        ];
        let mut l = Layout::from_nodes(&it, &nodes, -2).unwrap_or_else(|| Layout::new(-2));
        l.replace(&it, 1, b"small");
        // Prepended to the next node, which had room; the plain node is gone.
        assert_eq!(counts(&l), [1, 2]);
        assert!(l.nodes().all(|n| !n.plain));
    }

    #[test]
    fn recorded_nodes_must_add_up() {
        let it = items(&["a", "b"]);
        let one = QuicklistNode {
            count: 1,
            plain: false,
        };
        assert!(Layout::from_nodes(&it, &[one], -2).is_none());
        assert!(Layout::from_nodes(&it, &[one, one], -2).is_some());
    }
}
