//! Stream node listpacks: decoding the entries of one node, encoding entries
//! into nodes as Redis 7.0 lays them out, and the `entries_read` estimate 7.0
//! derives for consumer groups loaded from a version-1 stream.
//!
//! A node is keyed by its master ID (16 bytes big endian). Its listpack starts
//! with the master entry (`count`, `deleted`, `num_fields`, field names, `0`);
//! each entry then is `flags`, `ms_delta`, `seq_delta`, [`num_fields`, names,]
//! values, `lp-count`. Flag 1 = deleted, flag 2 = same fields as the master.

use bytes::Bytes;

use crate::blob::{listpack_entries, Elem, ListpackWriter};
use crate::model::{Stream, StreamEntry, StreamId, StreamNode, StreamNodeEntry};

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// Redis's `STREAM_LISTPACK_MAX_SIZE`, the byte limit when `stream-node-max-bytes` is 0.
const LISTPACK_MAX_SIZE: usize = 1 << 30;

/// The node listpack `lp` whose master ID is `master`, entries and tombstones as stored.
pub(crate) fn decode_node(master: StreamId, lp: &[u8]) -> Result<StreamNode, &'static str> {
    let elems = listpack_entries(lp)?;
    if elems.is_empty() {
        return Err("Empty listpack inside stream");
    }
    let mut it = elems.into_iter();
    let int = |it: &mut std::vec::IntoIter<Elem<'_>>| -> Result<i64, &'static str> {
        it.next()
            .ok_or("stream node listpack ends early")?
            .as_int()
            .ok_or("stream node integer expected")
    };
    let count = int(&mut it)?;
    let deleted = int(&mut it)?;
    let nfields = int(&mut it)?;
    if count < 0 || deleted < 0 || nfields < 0 {
        return Err("negative stream node counter");
    }
    let nfields = nfields as usize;
    if nfields > it.len() {
        return Err("stream master field count too large");
    }
    let mut master_fields = Vec::with_capacity(nfields);
    for _ in 0..nfields {
        master_fields.push(
            it.next()
                .ok_or("stream node listpack ends early")?
                .to_bytes(),
        );
    }
    if int(&mut it)? != 0 {
        return Err("stream master entry terminator missing");
    }
    let mut entries = Vec::new();
    let (mut live, mut dead) = (0i64, 0i64);
    while it.len() > 0 {
        let flags = int(&mut it)?;
        let ms_delta = int(&mut it)?;
        let seq_delta = int(&mut it)?;
        let id = StreamId {
            ms: master.ms.wrapping_add(ms_delta as u64),
            seq: master.seq.wrapping_add(seq_delta as u64),
        };
        let (fields, expected_lp_count) = if flags & FLAG_SAMEFIELDS != 0 {
            let mut f = Vec::with_capacity(nfields);
            for name in &master_fields {
                let v = it.next().ok_or("stream entry ends early")?.to_bytes();
                f.push((name.clone(), v));
            }
            (f, 3 + nfields as i64)
        } else {
            let n = int(&mut it)?;
            if n < 0 || n as usize > it.len() {
                return Err("stream entry field count out of range");
            }
            let mut f = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let k = it.next().ok_or("stream entry ends early")?.to_bytes();
                let v = it.next().ok_or("stream entry ends early")?.to_bytes();
                f.push((k, v));
            }
            (f, 4 + 2 * n)
        };
        if int(&mut it)? != expected_lp_count {
            return Err("stream entry lp-count mismatch");
        }
        let is_deleted = flags & FLAG_DELETED != 0;
        if is_deleted {
            dead += 1;
        } else {
            live += 1;
        }
        entries.push(StreamNodeEntry {
            entry: StreamEntry { id, fields },
            deleted: is_deleted,
        });
    }
    if live != count || dead != deleted {
        return Err("stream node counters do not match its entries");
    }
    Ok(StreamNode {
        master_id: master,
        master_fields,
        entries,
    })
}

/// The listpack of `node`, as Redis lays it out: the master entry (live count, deleted
/// count, master field names, 0), then each entry (flags, ID deltas, [field count and
/// names,] values, lp-count).
pub(crate) fn encode_node(node: &StreamNode) -> Vec<u8> {
    let live = node.entries.iter().filter(|e| !e.deleted).count();
    let dead = node.entries.len() - live;
    let mut lp = master_part(&node.master_fields, live as i64, dead as i64);
    for e in &node.entries {
        push_entry(
            &mut lp,
            node.master_id,
            &node.master_fields,
            &e.entry,
            e.deleted,
        );
    }
    lp.finish()
}

fn master_part(names: &[Bytes], live: i64, dead: i64) -> ListpackWriter {
    let mut lp = ListpackWriter::new();
    lp.push_int(live);
    lp.push_int(dead);
    lp.push_int(names.len() as i64);
    for f in names {
        lp.push(f);
    }
    lp.push_int(0);
    lp
}

fn push_entry(
    lp: &mut ListpackWriter,
    master: StreamId,
    names: &[Bytes],
    e: &StreamEntry,
    deleted: bool,
) {
    // streamAppendItem sets SAMEFIELDS when the names are exactly the master entry's.
    let same =
        e.fields.len() == names.len() && e.fields.iter().zip(names).all(|((k, _), m)| k == m);
    let mut flags = if same { FLAG_SAMEFIELDS } else { 0 };
    if deleted {
        flags |= FLAG_DELETED;
    }
    lp.push_int(flags);
    lp.push_int(e.id.ms.wrapping_sub(master.ms) as i64);
    lp.push_int(e.id.seq.wrapping_sub(master.seq) as i64);
    if same {
        for (_, v) in &e.fields {
            lp.push(v);
        }
        lp.push_int(3 + e.fields.len() as i64);
    } else {
        lp.push_int(e.fields.len() as i64);
        for (k, v) in &e.fields {
            lp.push(k);
            lp.push(v);
        }
        lp.push_int(4 + 2 * e.fields.len() as i64);
    }
}

/// Bytes of a listpack integer element (encoding plus its one-byte back-length).
fn int_size(v: i64) -> usize {
    let mut lp = ListpackWriter::new();
    lp.push_int(v);
    lp.total_bytes() - 7
}

/// Split live entries into nodes as `XADD` builds them under the limits
/// `stream-node-max-entries` (0: none) and `stream-node-max-bytes` (0: 1 GiB).
pub(crate) fn pack_nodes(
    entries: impl Iterator<Item = StreamEntry>,
    max_entries: usize,
    max_bytes: usize,
) -> Vec<StreamNode> {
    let max_bytes = if max_bytes == 0 || max_bytes > LISTPACK_MAX_SIZE {
        LISTPACK_MAX_SIZE
    } else {
        max_bytes
    };
    let mut nodes: Vec<StreamNode> = Vec::new();
    // Listpack bytes of the tail node, less its live-count element.
    let mut tail_bytes = 0usize;
    for e in entries {
        let full = match nodes.last() {
            None => true,
            Some(n) => {
                // streamAppendItem opens a new node when the tail node's listpack plus
                // the new entry's field and value bytes reach the byte limit, or when the
                // tail already holds the maximum number of entries.
                let ele_len: usize = e.fields.iter().map(|(k, v)| k.len() + v.len()).sum();
                let lp_bytes = tail_bytes + int_size(n.entries.len() as i64);
                lp_bytes + ele_len >= max_bytes
                    || (max_entries != 0 && n.entries.len() >= max_entries)
            }
        };
        if full {
            let names: Vec<Bytes> = e.fields.iter().map(|(k, _)| k.clone()).collect();
            // Header and end byte, the deleted count (0), the master fields part.
            tail_bytes = master_part(&names, 0, 0).total_bytes() - int_size(0);
            nodes.push(StreamNode {
                master_id: e.id,
                master_fields: names,
                entries: Vec::new(),
            });
        }
        let Some(n) = nodes.last_mut() else {
            break;
        };
        let mut lp = ListpackWriter::new();
        push_entry(&mut lp, n.master_id, &n.master_fields, &e, false);
        tail_bytes += lp.total_bytes() - 7;
        n.entries.push(StreamNodeEntry {
            entry: e,
            deleted: false,
        });
    }
    nodes
}

/// Redis's `streamEstimateDistanceFromFirstEverEntry`: the logical read
/// counter of `id`, or -1 when it cannot be known.
pub(crate) fn estimate_entries_read(s: &Stream, id: StreamId) -> i64 {
    let added = s.entries_added as i64;
    let length = s.len() as i64;
    if s.entries_added == 0 {
        return 0;
    }
    if length == 0 && id <= s.last_id {
        return added;
    }
    match id.cmp(&s.last_id) {
        std::cmp::Ordering::Equal => return added,
        std::cmp::Ordering::Greater => return -1,
        std::cmp::Ordering::Less => {}
    }
    let zero = StreamId::default();
    if s.max_deleted_id == zero || s.max_deleted_id < s.first_id {
        match id.cmp(&s.first_id) {
            std::cmp::Ordering::Less => return added - length,
            std::cmp::Ordering::Equal => return added - length + 1,
            std::cmp::Ordering::Greater => {}
        }
    }
    -1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reference_node() {
        // The node of the worked example in rdb-format.md §4.7.
        let mut lp = vec![0x34, 0, 0, 0, 0x13, 0];
        lp.extend_from_slice(&[2, 1, 0, 1, 1, 1, 0x81, b'f', 2, 0, 1]);
        lp.extend_from_slice(&[2, 1, 0, 1, 0, 1, 0x81, b'v', 2, 4, 1]);
        lp.extend_from_slice(&[0, 1, 1, 1, 0xdf, 0xff, 2, 2, 1]);
        lp.extend_from_slice(&[
            0x81, b'f', 2, 0x81, b'w', 2, 0x81, b'g', 2, 0x81, b'x', 2, 8, 1,
        ]);
        lp.push(0xff);
        assert_eq!(lp.len(), 0x34);
        let master = StreamId::new(1, 1);
        let node = decode_node(master, &lp).unwrap();
        let e: Vec<StreamEntry> = node.live().cloned().collect();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].id, StreamId::new(2, 0));
        assert_eq!(e[1].fields.len(), 2);
        assert_eq!(encode_node(&node), lp);
        let nodes = StreamNode::pack(e);
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0], node);
    }

    fn entry(ms: u64, fields: &[(&str, &str)]) -> StreamEntry {
        StreamEntry {
            id: StreamId::new(ms, 0),
            fields: fields
                .iter()
                .map(|(k, v)| (Bytes::from(k.to_string()), Bytes::from(v.to_string())))
                .collect(),
        }
    }

    #[test]
    fn tombstones_round_trip() {
        let mut node = StreamNode::pack((1..=4).map(|i| entry(i, &[("f", "v")])))
            .pop()
            .unwrap();
        node.entries[1].deleted = true;
        node.entries[3].deleted = true;
        node.entries.push(StreamNodeEntry {
            entry: entry(9, &[("other", "12345")]),
            deleted: false,
        });
        let lp = encode_node(&node);
        assert_eq!(decode_node(node.master_id, &lp).unwrap(), node);
        // Counters that do not add up are rejected.
        let mut bad = lp.clone();
        bad[6] = 4;
        assert!(decode_node(node.master_id, &bad).is_err());
    }

    #[test]
    fn packing_follows_the_limits() {
        let all: Vec<StreamEntry> = (1..=12).map(|i| entry(i, &[("f", "v")])).collect();
        let sizes = |nodes: Vec<StreamNode>| -> Vec<usize> {
            nodes.iter().map(|n| n.entries.len()).collect()
        };
        assert_eq!(sizes(StreamNode::pack_with(all.clone(), 5, 0)), [5, 5, 2]);
        assert_eq!(sizes(StreamNode::pack_with(all.clone(), 0, 0)), [12]);
        assert_eq!(sizes(StreamNode::pack(all.clone())), [12]);
        // Each entry takes 6 listpack bytes; the empty node with master "f" 14 + 2 for
        // the count: a new node opens when bytes + 2 (field and value) reach the limit.
        let nodes = StreamNode::pack_with(all, 0, 40);
        assert!(nodes.iter().all(|n| encode_node(n).len() < 40 + 6));
        assert!(nodes.len() > 1);
    }
}
