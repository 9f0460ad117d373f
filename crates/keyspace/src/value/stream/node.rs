//! One stream node (Redis: one listpack of the radix tree) and its compact entry layout.
//!
//! A node keeps its entries in one byte buffer, `data`, plus one `u32` offset per entry
//! (live or deleted) into it, so an entry costs no heap allocation of its own. Each entry
//! is:
//!
//! * a flag byte ([`FLAG_DELETED`], [`FLAG_SAME_FIELDS`], the bits Redis uses);
//! * the ID as varint deltas from the node's master ID: `ms - master.ms`, then the
//!   zigzag-coded `seq - master.seq` (both wrapping, so any ID round-trips);
//! * the body: with `FLAG_SAME_FIELDS` (the field names are the master entry's, the
//!   common case) only the values, each as a varint length and its bytes; otherwise a
//!   varint field count, then each name and value as length and bytes.
//!
//! Deleting an entry sets its flag bit in place and keeps its body, as Redis's listpack
//! does: a tombstone's ID serves ID lookups, `~` trimming and `streamGetEdgeID`, and its
//! fields are saved to RDB, so a saved node is the listpack Redis would write.
//!
//! Next to the bytes the node tracks the size its listpack would have in Redis
//! ([`Node::lp_bytes`]); that figure, not the buffer's length, decides when a node is full.
//!
//! Offsets fit in `u32`: an entry is only added to a node whose listpack is under
//! [`super::LISTPACK_MAX_SIZE`] (1 GiB), and an entry's bytes here are at most about three
//! times its listpack bytes (an integer-looking value is a 1-9 byte integer in a listpack
//! but its digits here), so no entry starts beyond 4 GiB.

use super::{StreamId, LISTPACK_MAX_SIZE};

/// The entry is deleted (a tombstone).
const FLAG_DELETED: u8 = 1;
/// The entry has the master entry's field names; its body holds only values.
const FLAG_SAME_FIELDS: u8 = 2;

/// The fields of one entry, borrowed from its node: an iterator of `(name, value)` pairs
/// that knows its length.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    /// The master entry's names (varint-prefixed) when the entry shares them.
    names: Option<&'a [u8]>,
    /// The rest of the entry's body.
    body: &'a [u8],
    left: usize,
}

impl<'a> Fields<'a> {
    /// Number of pairs not yet yielded.
    pub fn remaining(&self) -> usize {
        self.left
    }

    /// The pairs as owned byte strings (the RDB model's form).
    pub fn to_vec(self) -> Vec<(bytes::Bytes, bytes::Bytes)> {
        self.map(|(f, v)| {
            (
                bytes::Bytes::copy_from_slice(f),
                bytes::Bytes::copy_from_slice(v),
            )
        })
        .collect()
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        if self.left == 0 {
            return None;
        }
        let pair = (|| {
            let name = match &mut self.names {
                Some(names) => take_str(names)?,
                None => take_str(&mut self.body)?,
            };
            Some((name, take_str(&mut self.body)?))
        })();
        match pair {
            Some(p) => {
                self.left -= 1;
                Some(p)
            }
            None => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Fields<'_> {}

impl PartialEq for Fields<'_> {
    fn eq(&self, other: &Fields<'_>) -> bool {
        Iterator::eq(*self, *other)
    }
}

/// One node: master ID and field names, entries, and Redis's listpack accounting.
#[derive(Clone, Debug)]
pub(super) struct Node {
    master: StreamId,
    /// The master entry's field names, each as varint length and bytes.
    master_fields: Box<[u8]>,
    master_count: usize,
    pub(super) live: u64,
    pub(super) deleted: u64,
    /// Listpack bytes of the master entry's fields part (field count, names, terminator).
    master_bytes: usize,
    /// Listpack bytes of the entries part.
    body_bytes: usize,
    /// Where each entry starts in `data`.
    offsets: Vec<u32>,
    data: Vec<u8>,
}

impl PartialEq for Node {
    /// Nodes are equal when they hold the same entries with the same accounting, whatever
    /// room their buffers reserve.
    fn eq(&self, other: &Node) -> bool {
        self.master == other.master
            && self.master_fields == other.master_fields
            && self.live == other.live
            && self.deleted == other.deleted
            && self.master_bytes == other.master_bytes
            && self.body_bytes == other.body_bytes
            && self.len() == other.len()
            && (0..self.len()).all(|i| self.entry(i) == other.entry(i))
    }
}

impl Node {
    /// An empty node whose master entry has the names of `fields`; room is reserved for
    /// a full node (`max_entries`, `max_bytes`), given back by [`Node::shrink`].
    pub(super) fn new<'a, I>(
        master: StreamId,
        fields: I,
        max_entries: usize,
        max_bytes: usize,
    ) -> Node
    where
        I: Iterator<Item = (&'a [u8], &'a [u8])>,
    {
        let mut names = Vec::new();
        let mut count = 0usize;
        let mut name_bytes = 0usize;
        for (f, _) in fields {
            put_str(&mut names, f);
            name_bytes += str_len(f);
            count += 1;
        }
        let entries_hint = if max_entries == 0 {
            128
        } else {
            max_entries.min(1024)
        };
        Node {
            master,
            master_fields: names.into_boxed_slice(),
            master_count: count,
            live: 0,
            deleted: 0,
            master_bytes: int_len(count as i64) + name_bytes + int_len(0),
            body_bytes: 0,
            offsets: Vec::with_capacity(entries_hint),
            data: Vec::with_capacity(max_bytes.min(4096)),
        }
    }

    /// Appends a live entry (`id` above every ID in the node).
    pub(super) fn push<'a, I>(&mut self, id: StreamId, fields: I)
    where
        I: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        let mut names = &self.master_fields[..];
        let mut count = 0usize;
        let mut same = true;
        for (f, _) in fields.clone() {
            count += 1;
            if same && (count > self.master_count || take_str(&mut names) != Some(f)) {
                same = false;
            }
        }
        same &= count == self.master_count;

        // Redis's listpack bytes: flags, ms and seq deltas, [count, names,] values, lp-count.
        let master = self.master;
        let n = count as i64;
        let mut bytes = int_len(if same { 2 } else { 0 })
            + int_len(id.ms.wrapping_sub(master.ms) as i64)
            + int_len(id.seq.wrapping_sub(master.seq) as i64);
        if same {
            bytes += fields.clone().map(|(_, v)| str_len(v)).sum::<usize>();
            bytes += int_len(n + 3);
        } else {
            bytes += int_len(n);
            bytes += fields
                .clone()
                .map(|(f, v)| str_len(f) + str_len(v))
                .sum::<usize>();
            bytes += int_len(2 * n + 4);
        }
        self.body_bytes += bytes;

        let start = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        self.offsets.push(start);
        let d = &mut self.data;
        d.push(if same { FLAG_SAME_FIELDS } else { 0 });
        put_varint(d, id.ms.wrapping_sub(master.ms));
        put_varint(d, zigzag(id.seq.wrapping_sub(master.seq) as i64));
        if same {
            for (_, v) in fields {
                put_str(d, v);
            }
        } else {
            put_varint(d, count as u64);
            for (f, v) in fields {
                put_str(d, f);
                put_str(d, v);
            }
        }
        self.live += 1;
    }

    /// Gives back the room reserved beyond the entries (the node is no longer the tail).
    pub(super) fn shrink(&mut self) {
        self.offsets.shrink_to_fit();
        self.data.shrink_to_fit();
    }

    /// Number of entries, deleted ones included.
    pub(super) fn len(&self) -> usize {
        self.offsets.len()
    }

    /// The flag and ID of entry `i`, where its body starts and where it ends in `data`.
    fn layout(&self, i: usize) -> Option<(u8, StreamId, usize, usize)> {
        let start = *self.offsets.get(i)? as usize;
        let mut p = self.data.get(start..)?;
        let (&flag, rest) = p.split_first()?;
        p = rest;
        let ms = take_varint(&mut p)?;
        let seq = unzigzag(take_varint(&mut p)?);
        let id = StreamId::new(
            self.master.ms.wrapping_add(ms),
            self.master.seq.wrapping_add(seq as u64),
        );
        let body = self.data.len() - p.len();
        let end = match self.offsets.get(i + 1) {
            Some(&e) => e as usize,
            None => self.data.len(),
        };
        (body <= end).then_some((flag, id, body, end))
    }

    /// The flag, ID and body of entry `i`.
    fn parts(&self, i: usize) -> Option<(u8, StreamId, &[u8])> {
        let (flag, id, body, end) = self.layout(i)?;
        Some((flag, id, self.data.get(body..end)?))
    }

    /// The ID of entry `i` and whether it is deleted.
    pub(super) fn header(&self, i: usize) -> (StreamId, bool) {
        match self.parts(i) {
            Some((flag, id, _)) => (id, flag & FLAG_DELETED != 0),
            None => (super::MAX_ID, true),
        }
    }

    /// The ID of entry `i`.
    pub(super) fn id_at(&self, i: usize) -> StreamId {
        self.header(i).0
    }

    /// Entry `i`: its ID and, unless deleted, its fields.
    pub(super) fn entry(&self, i: usize) -> Option<(StreamId, Option<Fields<'_>>)> {
        let (id, deleted, fields) = self.raw_entry(i)?;
        Some((id, (!deleted).then_some(fields)))
    }

    /// The first entry index whose ID is at least `id` (`len()` when none).
    pub(super) fn lower_bound(&self, id: StreamId) -> usize {
        self.partition(|e| e < id)
    }

    /// The first entry index whose ID is above `id` (`len()` when none).
    pub(super) fn upper_bound(&self, id: StreamId) -> usize {
        self.partition(|e| e <= id)
    }

    /// The index of the entry `id`, deleted or not.
    pub(super) fn find(&self, id: StreamId) -> Option<usize> {
        let i = self.lower_bound(id);
        (i < self.len() && self.id_at(i) == id).then_some(i)
    }

    fn partition(&self, below: impl Fn(StreamId) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if below(self.id_at(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Flags live entry `i` as deleted; false when it already was.
    pub(super) fn delete_at(&mut self, i: usize) -> bool {
        let Some((flag, _, _)) = self.parts(i) else {
            return false;
        };
        if flag & FLAG_DELETED != 0 {
            return false;
        }
        let Some(f) = self
            .offsets
            .get(i)
            .and_then(|&at| self.data.get_mut(at as usize))
        else {
            return false;
        };
        *f |= FLAG_DELETED;
        self.live -= 1;
        self.deleted += 1;
        true
    }

    /// The node in the RDB model: master ID and names, every entry with its fields.
    pub(super) fn to_rdb(&self) -> tandem_rdb::StreamNode {
        let entries = (0..self.len())
            .filter_map(|i| self.raw_entry(i))
            .map(|(id, deleted, fields)| tandem_rdb::StreamNodeEntry {
                entry: tandem_rdb::StreamEntry {
                    id,
                    fields: fields.to_vec(),
                },
                deleted,
            })
            .collect();
        tandem_rdb::StreamNode {
            master_id: self.master,
            master_fields: self
                .master_names()
                .map(bytes::Bytes::copy_from_slice)
                .collect(),
            entries,
        }
    }

    /// The master entry's field names.
    pub(super) fn master_names(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut p = &self.master_fields[..];
        std::iter::from_fn(move || take_str(&mut p)).take(self.master_count)
    }

    /// Entry `i` as its listpack holds it: ID, whether deleted, fields (a tombstone keeps
    /// its fields).
    pub(super) fn raw_entry(&self, i: usize) -> Option<(StreamId, bool, Fields<'_>)> {
        let (flag, id, mut body) = self.parts(i)?;
        let fields = if flag & FLAG_SAME_FIELDS != 0 {
            Fields {
                names: Some(&self.master_fields),
                body,
                left: self.master_count,
            }
        } else {
            let left = usize::try_from(take_varint(&mut body)?).ok()?;
            Fields {
                names: None,
                body,
                left,
            }
        };
        Some((id, flag & FLAG_DELETED != 0, fields))
    }

    /// `lpBytes`: header, master entry, entries, terminator.
    pub(super) fn lp_bytes(&self) -> usize {
        6 + int_len(self.live as i64)
            + int_len(self.deleted as i64)
            + self.master_bytes
            + self.body_bytes
            + 1
    }

    /// True when an entry of `totelelen` field and value bytes must open a new node
    /// (Redis's checks in `streamAppendItem`).
    pub(super) fn is_full(&self, totelelen: usize, max_bytes: usize, max_entries: usize) -> bool {
        self.lp_bytes() + totelelen >= max_bytes
            || (max_entries != 0 && self.live + self.deleted >= max_entries as u64)
            || self.data.len() >= u32::MAX as usize - LISTPACK_MAX_SIZE
    }

    /// Heap and inline bytes this node takes (MEMORY USAGE).
    pub(super) fn memory(&self) -> usize {
        std::mem::size_of::<Node>()
            + std::mem::size_of::<StreamId>()
            + self.master_fields.len()
            + self.offsets.capacity() * std::mem::size_of::<u32>()
            + self.data.capacity()
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(p: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let (&b, rest) = p.split_first()?;
        *p = rest;
        if shift >= 64 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn take_str<'a>(p: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(take_varint(p)?).ok()?;
    if len > p.len() {
        return None;
    }
    let (s, rest) = p.split_at(len);
    *p = rest;
    Some(s)
}

/// Bytes a listpack element takes for an encoding of `enc` bytes (plus back-length).
fn with_backlen(enc: usize) -> usize {
    enc + match enc {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Bytes of an integer listpack element.
pub(super) fn int_len(v: i64) -> usize {
    with_backlen(match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    })
}

/// Bytes of a string listpack element (strings that are canonical integers are stored as
/// integers).
fn str_len(s: &[u8]) -> usize {
    if let Some(v) = super::super::parse_canonical_i64(s) {
        return int_len(v);
    }
    with_backlen(match s.len() {
        0..=63 => 1 + s.len(),
        64..=4095 => 2 + s.len(),
        _ => 5 + s.len(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut p = &b[..];
            assert_eq!(take_varint(&mut p), Some(v));
            assert!(p.is_empty());
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn entries_round_trip_and_tombstones() {
        let master = StreamId::new(5, 7);
        let same = [(&b"a"[..], &b"1"[..]), (&b"b"[..], &b"xyz"[..])];
        let other = [(&b"c"[..], &b""[..])];
        let mut n = Node::new(master, same.iter().copied(), 100, 4096);
        let ids = [
            master,
            StreamId::new(5, u64::MAX),
            StreamId::new(6, 0),
            StreamId::new(u64::MAX, 3),
        ];
        for (k, &id) in ids.iter().enumerate() {
            if k % 2 == 0 {
                n.push(id, same.iter().copied());
            } else {
                n.push(id, other.iter().copied());
            }
        }
        for (k, &id) in ids.iter().enumerate() {
            let (got, f) = n.entry(k).unwrap();
            assert_eq!(got, id);
            let f: Vec<_> = f.unwrap().collect();
            if k % 2 == 0 {
                assert_eq!(f, same.to_vec());
            } else {
                assert_eq!(f, other.to_vec());
            }
            assert_eq!(n.find(id), Some(k));
        }
        assert_eq!(n.find(StreamId::new(5, 8)), None);
        let before = n.clone();
        assert!(n.delete_at(0));
        assert!(!n.delete_at(0));
        assert_eq!(n.entry(0).unwrap(), (master, None));
        let (id, deleted, f) = n.raw_entry(0).unwrap();
        assert_eq!((id, deleted), (master, true));
        assert_eq!(f.collect::<Vec<_>>(), same.to_vec());
        let names: Vec<&[u8]> = n.master_names().collect();
        assert_eq!(names, [&b"a"[..], &b"b"[..]]);
        assert_eq!(n.entry(3).unwrap().0, ids[3]);
        assert_eq!(n.header(1), (ids[1], false));
        assert_ne!(n, before);
        assert_eq!(n.live, 3);
        assert_eq!(n.deleted, 1);
    }
}
