//! Streams, shaped as Redis 7.0.15 keeps them in memory.
//!
//! Entries live in *nodes* (Redis's radix tree of listpacks): each node is keyed by its
//! master ID (the ID of the entry that opened it), remembers the master entry's field
//! names, and holds its entries in ID order, deleted ones included (XDEL and exact
//! trimming only flag an entry inside its node; a node goes away when its last live entry
//! does, or when trimming drops it whole). The node layout is visible to clients: XADD
//! opens a new node when the tail node reaches `stream-node-max-entries` entries (live and
//! deleted) or `stream-node-max-bytes` bytes of listpack, `~` trimming only removes whole
//! nodes, and XINFO STREAM reports the radix tree's key and node counts. So each node
//! tracks the byte size its listpack would have in Redis.
//!
//! A node stores its entries in one byte buffer (module `node`: per entry a flag byte, the ID
//! as varint deltas from the master ID, the values, and the names only when they differ
//! from the master entry's), with a `u32` offset per entry. An earlier layout gave each
//! entry a boxed slice of `(Bytes, Bytes)` pairs: about 172 bytes per `XADD s * f
//! <6-digit>` entry (INFO `used_memory` after a million XADDs) against Redis's ~27; this
//! one takes ~26, and XADD allocates nothing per entry. Readers get an entry's fields as
//! a borrowed [`Fields`] iterator of `(&[u8], &[u8])` pairs.
//!
//! Consumer groups ([`Group`], by name in byte order) hold a last-delivered ID, the
//! `entries_read` counter, the pending entries list (ID → [`Nack`]: owner, delivery time
//! and count) and consumers ([`Consumer`], by name) with their seen-time and their own
//! PEL (IDs of the group PEL they own).
//!
//! [`StreamValue::to_rdb`] / [`StreamValue::from_rdb`] carry everything through the RDB
//! crate's `Stream` model, node by node: Redis saves each node's listpack as it holds it
//! (tombstones included) and loads it back as is, so the layout survives a save and a
//! load, whoever wrote the file.

mod node;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
pub use tandem_rdb::StreamId;
use tandem_rdb::{
    Consumer as RdbConsumer, ConsumerGroup, PendingEntry, RdbValue, Stream, StreamNode,
};

pub use node::Fields;
use node::Node;

/// Redis's `STREAM_LISTPACK_MAX_SIZE`: the largest node listpack (1 GiB).
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;

/// The `entries_read` value meaning "unknown" (`SCG_INVALID_ENTRIES_READ`).
pub const INVALID_ENTRIES_READ: i64 = -1;

/// The largest ID.
pub const MAX_ID: StreamId = StreamId::new(u64::MAX, u64::MAX);

/// A stream: its entries and its consumer groups, boxed so that [`super::Value`] stays
/// small (a stream's fields are reached through `Deref`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamValue(Box<StreamData>);

/// The contents of a [`StreamValue`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamData {
    pub entries: Entries,
    /// Consumer groups by name (byte order, as Redis's rax).
    pub groups: BTreeMap<Bytes, Group>,
}

impl std::ops::Deref for StreamValue {
    type Target = StreamData;

    fn deref(&self) -> &StreamData {
        &self.0
    }
}

impl std::ops::DerefMut for StreamValue {
    fn deref_mut(&mut self) -> &mut StreamData {
        &mut self.0
    }
}

/// The entries of a stream and the stream's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entries {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    /// The last ID ever added (or set by XSETID).
    pub last_id: StreamId,
    /// The first live entry's ID as recorded (0-0 when empty).
    pub first_id: StreamId,
    /// The highest ID ever deleted (0-0 when none).
    pub max_deleted_id: StreamId,
    /// Count of entries ever added.
    pub entries_added: u64,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    /// The logical read counter; [`INVALID_ENTRIES_READ`] when unknown.
    pub entries_read: i64,
    /// The pending entries list.
    pub pel: BTreeMap<StreamId, Nack>,
    /// Consumers by name.
    pub consumers: BTreeMap<Bytes, Consumer>,
}

/// A pending entry: delivered, not yet acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    /// The name of the consumer owning it.
    pub consumer: Bytes,
    /// Last delivery, unix ms.
    pub delivery_time: i64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumer {
    /// Last time seen, unix ms.
    pub seen_time: i64,
    /// The IDs of the group PEL this consumer owns.
    pub pel: BTreeSet<StreamId>,
}

/// How a trim decides what goes (XADD / XTRIM `MAXLEN` or `MINID`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimBy {
    MaxLen(u64),
    MinId(StreamId),
}

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

impl Default for NodeLimits {
    fn default() -> NodeLimits {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

impl Group {
    /// A group without consumers or pending entries.
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Removes a pending entry from the group PEL and its owner's PEL.
    pub fn remove_nack(&mut self, id: StreamId) -> Option<Nack> {
        let nack = self.pel.remove(&id)?;
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        Some(nack)
    }
}

impl Consumer {
    pub fn new(seen_time: i64) -> Consumer {
        Consumer {
            seen_time,
            pel: BTreeSet::new(),
        }
    }
}

impl StreamValue {
    /// An empty stream.
    pub fn new() -> StreamValue {
        StreamValue::default()
    }

    /// Number of live entries (XLEN).
    pub fn len(&self) -> usize {
        self.entries.length as usize
    }

    /// True when the stream has no live entry (a stream key may exist empty).
    pub fn is_empty(&self) -> bool {
        self.entries.length == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Redis's `lazyfreeGetFreeEffort`: the radix tree's nodes, plus the groups and their
    /// PELs (estimated from the first group's).
    pub fn free_effort(&self) -> usize {
        let mut effort = self.entries.rax_nodes();
        if let Some(g) = self.groups.values().next() {
            effort += self.groups.len() * (1 + g.pel.len());
        }
        effort
    }

    /// The RDB model of this stream.
    pub fn to_rdb(&self) -> RdbValue {
        let e = &self.entries;
        let nodes: Vec<StreamNode> = e.nodes.values().map(Node::to_rdb).collect();
        let groups = self
            .groups
            .iter()
            .map(|(name, g)| ConsumerGroup {
                name: name.clone(),
                last_id: g.last_id,
                entries_read: g.entries_read,
                pel: g
                    .pel
                    .iter()
                    .map(|(&id, n)| PendingEntry {
                        id,
                        delivery_time: n.delivery_time,
                        delivery_count: n.delivery_count,
                    })
                    .collect(),
                consumers: g
                    .consumers
                    .iter()
                    .map(|(cname, c)| RdbConsumer {
                        name: cname.clone(),
                        seen_time: c.seen_time,
                        active_time: None,
                        pending: c.pel.iter().copied().collect(),
                    })
                    .collect(),
            })
            .collect();
        RdbValue::Stream(Box::new(Stream {
            nodes,
            last_id: e.last_id,
            first_id: e.first_id,
            max_deleted_id: e.max_deleted_id,
            entries_added: e.entries_added,
            groups,
        }))
    }

    /// A stream loaded from RDB, each node as the file holds it (tombstones included).
    pub fn from_rdb(s: Stream) -> StreamValue {
        let mut out = StreamValue::new();
        let count = s.nodes.len();
        for (i, n) in s.nodes.into_iter().enumerate() {
            out.entries.load_node(n, i + 1 == count);
        }
        out.entries.last_id = s.last_id;
        out.entries.first_id = s.first_id;
        out.entries.max_deleted_id = s.max_deleted_id;
        out.entries.entries_added = s.entries_added;
        for g in s.groups {
            let mut group = Group::new(g.last_id, g.entries_read);
            let mut times: BTreeMap<StreamId, (i64, u64)> = g
                .pel
                .iter()
                .map(|p| (p.id, (p.delivery_time, p.delivery_count)))
                .collect();
            for c in g.consumers {
                let mut consumer = Consumer::new(c.seen_time);
                for id in c.pending {
                    if let Some((t, n)) = times.remove(&id) {
                        group.pel.insert(
                            id,
                            Nack {
                                consumer: c.name.clone(),
                                delivery_time: t,
                                delivery_count: n,
                            },
                        );
                        consumer.pel.insert(id);
                    }
                }
                group.consumers.insert(c.name, consumer);
            }
            out.groups.insert(g.name, group);
        }
        out
    }
}

impl Entries {
    /// Number of live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Appends an entry (Redis's `streamAppendItem` after the ID checks): `id` must be
    /// above `last_id`. Opens a new node when the tail one is full.
    pub fn append<'a, I>(&mut self, id: StreamId, fields: I, limits: NodeLimits)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
        I::IntoIter: Clone,
    {
        self.push(id, fields.into_iter(), limits);
        self.entries_added += 1;
        self.last_id = id;
    }

    fn push<'a, I>(&mut self, id: StreamId, fields: I, limits: NodeLimits)
    where
        I: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > LISTPACK_MAX_SIZE {
            LISTPACK_MAX_SIZE
        } else {
            limits.max_bytes
        };
        let totelelen: usize = fields.clone().map(|(f, v)| f.len() + v.len()).sum();
        let tail = self.nodes.values_mut().next_back();
        let tail_full = match &tail {
            None => true,
            Some(n) => n.is_full(totelelen, max_bytes, limits.max_entries),
        };
        if tail_full {
            if let Some(n) = tail {
                n.shrink();
            }
            let node = Node::new(id, fields.clone(), limits.max_entries, max_bytes);
            self.nodes.insert(id, node);
        }
        let Some(node) = self.nodes.values_mut().next_back() else {
            return;
        };
        node.push(id, fields);
        self.length += 1;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// Adds a node loaded from RDB, above every node so far (a later one replaces an
    /// earlier one with the same master ID, as the file would be corrupt anyway). `tail`:
    /// XADD may still append to it, so it keeps its room.
    fn load_node(&mut self, n: StreamNode, tail: bool) {
        let names = n.master_fields.iter().map(|f| (&f[..], &b""[..]));
        let (hint_entries, hint_bytes) = if tail {
            let d = NodeLimits::default();
            (d.max_entries, d.max_bytes)
        } else {
            (n.entries.len(), 0)
        };
        let mut node = Node::new(n.master_id, names, hint_entries, hint_bytes);
        for e in &n.entries {
            let fields = e.entry.fields.iter().map(|(f, v)| (&f[..], &v[..]));
            node.push(e.entry.id, fields);
            if e.deleted {
                node.delete_at(node.len() - 1);
            } else {
                self.length += 1;
            }
        }
        if !tail {
            node.shrink();
        }
        if let Some(old) = self.nodes.insert(n.master_id, node) {
            self.length -= old.live;
        }
    }

    /// The fields of the live entry `id`.
    pub fn get(&self, id: StreamId) -> Option<Fields<'_>> {
        let (_, node) = self.nodes.range(..=id).next_back()?;
        node.entry(node.find(id)?)?.1
    }

    /// True when the live entry `id` exists.
    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// Deletes the live entry `id` (Redis's `streamDeleteItem`): flags it inside its node,
    /// or drops the node when it was the node's last live entry. The caller updates
    /// `first_id` and `max_deleted_id`.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(i) = node.find(id) else {
            return false;
        };
        if node.header(i).1 {
            return false;
        }
        if node.live == 1 {
            self.nodes.remove(&master);
        } else if !node.delete_at(i) {
            return false;
        }
        self.length -= 1;
        true
    }

    /// Live entries from `start` to `end` (inclusive), in ID order.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl Iterator<Item = (StreamId, Fields<'_>)> + '_ {
        let first = self
            .nodes
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(start);
        self.nodes
            .range(first..)
            .flat_map(move |(_, n)| (n.lower_bound(start)..n.len()).filter_map(|i| n.entry(i)))
            .take_while(move |(id, _)| *id <= end)
            .filter_map(|(id, f)| f.map(|f| (id, f)))
    }

    /// Live entries from `end` down to `start` (inclusive), in reverse ID order.
    pub fn rev_range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl Iterator<Item = (StreamId, Fields<'_>)> + '_ {
        self.nodes
            .range(..=end)
            .rev()
            .flat_map(move |(_, n)| (0..n.upper_bound(end)).rev().filter_map(|i| n.entry(i)))
            .take_while(move |(id, _)| *id >= start)
            .filter_map(|(id, f)| f.map(|f| (id, f)))
    }

    /// Every live entry in ID order.
    pub fn iter(&self) -> impl Iterator<Item = (StreamId, Fields<'_>)> + '_ {
        self.range(StreamId::default(), MAX_ID)
    }

    /// The first (or last) entry's ID, tombstones included unless `skip_tombstones`
    /// (Redis's `streamGetEdgeID`; an empty stream gives `MAX_ID` as first, 0-0 as last).
    pub fn edge_id(&self, first: bool, skip_tombstones: bool) -> StreamId {
        let keep = |&(_, deleted): &(StreamId, bool)| !skip_tombstones || !deleted;
        let found = if first {
            self.nodes
                .values()
                .flat_map(|n| (0..n.len()).map(|i| n.header(i)))
                .find(keep)
        } else {
            self.nodes
                .values()
                .rev()
                .flat_map(|n| (0..n.len()).rev().map(|i| n.header(i)))
                .find(keep)
        };
        match found {
            Some((id, _)) => id,
            None if first => MAX_ID,
            None => StreamId::default(),
        }
    }

    /// The last live entry's ID (0-0 when empty): Redis's `streamLastValidID`.
    pub fn last_valid_id(&self) -> StreamId {
        self.edge_id(false, true)
    }

    /// Redis's `streamTrim`: removes entries from the head; returns how many went.
    /// `approx` removes whole nodes only; `limit` (0: none) caps the work.
    pub fn trim(&mut self, by: TrimBy, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let TrimBy::MaxLen(max) = by {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, node)) = self.nodes.iter_mut().next() else {
                break;
            };
            let entries = node.live;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match by {
                TrimBy::MaxLen(max) => self.length - entries >= max,
                TrimBy::MinId(min) => node.len() > 0 && node.id_at(node.len() - 1) < min,
            };
            if remove_node {
                self.nodes.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            for i in 0..node.len() {
                let stop = match by {
                    TrimBy::MaxLen(max) => self.length <= max,
                    TrimBy::MinId(min) => node.id_at(i) >= min,
                };
                if stop {
                    break;
                }
                if node.delete_at(i) {
                    deleted += 1;
                    self.length -= 1;
                }
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::default();
        } else if deleted > 0 {
            self.first_id = self.edge_id(true, true);
        }
        deleted
    }

    /// Redis's `streamRangeHasTombstones` from `start` to the end.
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id == StreamId::default() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`: the logical read counter of
    /// `id`, or [`INVALID_ENTRIES_READ`].
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        }
        if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        let zero = StreamId::default();
        if self.max_deleted_id == zero || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return added - self.length as i64;
            }
            if id == self.first_id {
                return added - self.length as i64 + 1;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// Number of nodes (the radix tree's keys, XINFO `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The radix tree's node count (XINFO `radix-tree-nodes`): Redis's rax keeps keys in a
    /// compressed trie of 16-byte big-endian master IDs, whose shape only depends on the
    /// key set.
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        if keys.is_empty() {
            return 1;
        }
        rax_count(&keys, 0)
    }

    /// For each node: its master ID and the byte size of its listpack.
    pub fn node_sizes(&self) -> impl Iterator<Item = (StreamId, usize)> + '_ {
        self.nodes.iter().map(|(k, n)| (*k, n.lp_bytes()))
    }

    /// For each node, the bytes it takes in memory (MEMORY USAGE samples these).
    pub fn node_memory(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes.values().map(Node::memory)
    }
}

/// Nodes of a compressed trie (Redis's rax) over sorted, distinct, equal-length keys
/// whose common part up to `depth` is consumed, counting the node starting at `depth`.
fn rax_count(keys: &[[u8; 16]], depth: usize) -> usize {
    let n = keys.len();
    if n == 1 {
        return if depth == 16 { 1 } else { 2 };
    }
    let (a, b) = (&keys[0], &keys[n - 1]);
    let mut l = depth;
    while l < 16 && a[l] == b[l] {
        l += 1;
    }
    let branch = |d: usize| -> usize {
        let mut total = 1;
        let mut i = 0;
        while i < n {
            let c = keys[i][d];
            let mut j = i + 1;
            while j < n && keys[j][d] == c {
                j += 1;
            }
            total += rax_count(&keys[i..j], d + 1);
            i = j;
        }
        total
    };
    if l > depth {
        1 + branch(l)
    } else {
        branch(depth)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn fv<'a>(f: &'a str, v: &'a str) -> [(&'a [u8], &'a [u8]); 1] {
        [(f.as_bytes(), v.as_bytes())]
    }

    #[test]
    fn nodes_split_at_max_entries() {
        let mut e = Entries::default();
        for i in 1..=250 {
            e.append(id(i, 0), fv("f", "v"), NodeLimits::default());
        }
        assert_eq!(e.node_count(), 3);
        assert_eq!(e.len(), 250);
        // MAXLEN ~ 120 removes only the first whole node.
        assert_eq!(e.trim(TrimBy::MaxLen(120), true, 0), 100);
        assert_eq!(e.len(), 150);
        assert_eq!(e.first_id, id(101, 0));
        // Exact trimming flags entries inside the head node.
        assert_eq!(e.trim(TrimBy::MaxLen(120), false, 0), 30);
        assert_eq!(e.first_id, id(131, 0));
        assert_eq!(e.iter().count(), 120);
    }

    #[test]
    fn listpack_size_of_one_entry() {
        // A node with one entry `f v` at ID 1-1: 6 header + count, deleted, nfields, "f",
        // 0 + flags, 0, 0, "v", lp-count + 1 end byte.
        let mut e = Entries::default();
        e.append(id(1, 1), fv("f", "v"), NodeLimits::default());
        let sizes: Vec<_> = e.node_sizes().collect();
        assert_eq!(sizes, vec![(id(1, 1), 29)]);
    }

    #[test]
    fn delete_and_ranges() {
        let mut e = Entries::default();
        for i in 1..=5 {
            e.append(id(i, 0), fv("f", "v"), NodeLimits::default());
        }
        assert!(e.delete(id(3, 0)));
        assert!(!e.delete(id(3, 0)));
        let ids: Vec<_> = e.range(id(2, 0), id(4, 0)).map(|(i, _)| i.ms).collect();
        assert_eq!(ids, vec![2, 4]);
        let rev: Vec<_> = e.rev_range(id(0, 0), MAX_ID).map(|(i, _)| i.ms).collect();
        assert_eq!(rev, vec![5, 4, 2, 1]);
        assert_eq!(e.edge_id(false, true), id(5, 0));
    }

    /// Random appends (shared and own field names, varied sizes), deletes and trims
    /// against a plain ordered map.
    #[test]
    fn matches_a_plain_model() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let limits = NodeLimits {
            max_bytes: 600,
            max_entries: 20,
        };
        let mut e = Entries::default();
        type Pairs = Vec<(Vec<u8>, Vec<u8>)>;
        let mut model: BTreeMap<StreamId, Pairs> = BTreeMap::new();
        let (mut ms, mut seq) = (1u64, 0u64);
        for round in 0..3000 {
            match rnd(10) {
                0..=5 => {
                    if rnd(3) == 0 {
                        ms += rnd(300);
                        seq = 0;
                    } else {
                        seq += 1 + rnd(2);
                    }
                    let id = StreamId::new(ms, seq);
                    let n = 1 + rnd(3) as usize;
                    let fields: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
                        .map(|i| {
                            let name = if rnd(4) == 0 {
                                format!("x{i}")
                            } else {
                                format!("f{i}")
                            };
                            let big = rnd(10) == 0;
                            let len = rnd(if big { 200 } else { 8 }) as usize;
                            (name.into_bytes(), vec![b'a' + (round % 26) as u8; len])
                        })
                        .collect();
                    e.append(id, fields.iter().map(|(f, v)| (&f[..], &v[..])), limits);
                    model.insert(id, fields);
                }
                6..=8 => {
                    let ids: Vec<StreamId> = model.keys().copied().collect();
                    if let Some(&id) = ids.get(rnd(ids.len() as u64 + 1) as usize) {
                        assert!(e.delete(id));
                        model.remove(&id);
                    }
                }
                _ => {
                    let keep = model.len() as u64 * 3 / 4;
                    let removed = e.trim(TrimBy::MaxLen(keep), false, 0);
                    while model.len() as u64 > keep {
                        model.pop_first();
                    }
                    assert!(removed > 0 || e.len() <= keep);
                }
            }
            assert_eq!(e.len(), model.len() as u64);
            if round % 50 == 0 {
                let got: Vec<_> = e.iter().map(|(id, f)| (id, f.len(), f.to_vec())).collect();
                let want: Vec<_> = model
                    .iter()
                    .map(|(id, f)| {
                        let f: Vec<_> = f
                            .iter()
                            .map(|(a, b)| (Bytes::from(a.clone()), Bytes::from(b.clone())))
                            .collect();
                        (*id, f.len(), f)
                    })
                    .collect();
                assert_eq!(got, want);
                let rev: Vec<StreamId> = e
                    .rev_range(StreamId::default(), MAX_ID)
                    .map(|x| x.0)
                    .collect();
                let mut fwd: Vec<StreamId> = model.keys().copied().collect();
                fwd.reverse();
                assert_eq!(rev, fwd);
                for id in model.keys() {
                    assert!(e.contains(*id));
                }
                assert_eq!(
                    e.last_valid_id(),
                    model.keys().next_back().copied().unwrap_or_default()
                );
                assert_rdb_round_trip(&e);
            }
        }
    }

    /// Through an RDB payload and back: the same nodes, tombstones and listpack sizes.
    fn assert_rdb_round_trip(e: &Entries) {
        let mut v = StreamValue::new();
        v.entries = e.clone();
        let payload =
            tandem_rdb::dump_payload(&v.to_rdb(), &tandem_rdb::EncodeOptions::default()).unwrap();
        let RdbValue::Stream(s) = tandem_rdb::parse_dump_payload(&payload).unwrap() else {
            panic!("not a stream");
        };
        for (node, (master, size)) in s.nodes.iter().zip(e.node_sizes()) {
            assert_eq!(node.master_id, master);
            let lp = tandem_rdb::dump_payload(
                &RdbValue::Stream(Box::new(Stream {
                    nodes: vec![node.clone()],
                    ..Stream::default()
                })),
                &tandem_rdb::EncodeOptions {
                    compression: false,
                    ..tandem_rdb::EncodeOptions::default()
                },
            )
            .unwrap();
            // Type, node count, 17-byte key, listpack length (1 or 2 bytes): the
            // listpack's header states its size.
            let at = if lp[19] & 0xc0 == 0x40 { 21 } else { 20 };
            let total = u32::from_le_bytes([lp[at], lp[at + 1], lp[at + 2], lp[at + 3]]);
            assert_eq!(total as usize, size);
        }
        let back = StreamValue::from_rdb(*s);
        assert_eq!(back.entries, *e);
        let sizes: Vec<_> = back.entries.node_sizes().collect();
        assert_eq!(sizes, e.node_sizes().collect::<Vec<_>>());
    }

    #[test]
    fn rdb_keeps_nodes_and_tombstones() {
        let limits = NodeLimits {
            max_bytes: 4096,
            max_entries: 5,
        };
        let mut e = Entries::default();
        for i in 1..=23 {
            e.append(id(i, 1), fv("f", &i.to_string()), limits);
        }
        for i in [2, 6, 7, 13] {
            assert!(e.delete(id(i, 1)));
        }
        assert_eq!(e.node_count(), 5);
        assert_rdb_round_trip(&e);
        // After a load, XADD keeps filling the tail node up to its 5 entries.
        let mut v = StreamValue::new();
        v.entries = e;
        let RdbValue::Stream(s) = v.to_rdb() else {
            panic!("not a stream");
        };
        assert_eq!(s.nodes[1].entries.len(), 5);
        assert!(s.nodes[1].entries[0].deleted);
        let mut back = StreamValue::from_rdb(*s);
        back.entries.append(id(24, 1), fv("f", "x"), limits);
        back.entries.append(id(25, 1), fv("f", "x"), limits);
        assert_eq!(back.entries.node_count(), 5);
        back.entries.append(id(26, 1), fv("f", "x"), limits);
        assert_eq!(back.entries.node_count(), 6);
    }

    #[test]
    fn rax_shapes() {
        let mut e = Entries::default();
        assert_eq!(e.rax_nodes(), 1);
        e.append(id(1, 0), fv("f", "v"), NodeLimits::default());
        assert_eq!(e.rax_nodes(), 2);
    }
}
