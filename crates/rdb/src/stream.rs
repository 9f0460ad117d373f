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
use crate::model::{Stream, StreamEntry, StreamId};

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// Default `stream-node-max-bytes`.
pub const STREAM_NODE_MAX_BYTES: usize = 4096;
/// Default `stream-node-max-entries`.
pub const STREAM_NODE_MAX_ENTRIES: usize = 100;

/// Live entries of one node listpack whose master ID is `master`.
pub(crate) fn decode_node(master: StreamId, lp: &[u8]) -> Result<Vec<StreamEntry>, &'static str> {
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
    if nfields > lp.len() {
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
    let mut out = Vec::new();
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
        if flags & FLAG_DELETED != 0 {
            dead += 1;
        } else {
            live += 1;
            out.push(StreamEntry { id, fields });
        }
    }
    if live != count || dead != deleted {
        return Err("stream node counters do not match its entries");
    }
    Ok(out)
}

/// Split entries into nodes (master ID, listpack) as `XADD` builds them with
/// the default `stream-node-max-bytes` 4096 and `stream-node-max-entries` 100.
pub(crate) fn encode_nodes(entries: &[StreamEntry]) -> Vec<(StreamId, Vec<u8>)> {
    let mut nodes = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let master = &entries[i];
        let master_fields: Vec<&Bytes> = master.fields.iter().map(|(k, _)| k).collect();
        let master_part = |count: usize| {
            let mut lp = ListpackWriter::new();
            lp.push_int(count as i64);
            lp.push_int(0);
            lp.push_int(master_fields.len() as i64);
            for f in &master_fields {
                lp.push(f);
            }
            lp.push_int(0);
            lp
        };
        // The master part's size does not change while count stays <= 127.
        let master_bytes = master_part(1).total_bytes();
        let mut body = ListpackWriter::new();
        let mut n = 0usize;
        while i < entries.len() {
            let e = &entries[i];
            // streamAppendItem opens a new node when the tail node's listpack
            // plus the new entry's field/value bytes reach the byte limit, or
            // when it already holds the maximum number of entries.
            let lp_bytes = master_bytes + body.total_bytes() - 7;
            let ele_len: usize = e.fields.iter().map(|(k, v)| k.len() + v.len()).sum();
            if n > 0
                && (lp_bytes + ele_len >= STREAM_NODE_MAX_BYTES || n >= STREAM_NODE_MAX_ENTRIES)
            {
                break;
            }
            let same = e.fields.len() == master_fields.len()
                && e.fields
                    .iter()
                    .zip(&master_fields)
                    .all(|((k, _), m)| k == *m);
            body.push_int(if same { FLAG_SAMEFIELDS } else { 0 });
            body.push_int(e.id.ms.wrapping_sub(master.id.ms) as i64);
            body.push_int(e.id.seq.wrapping_sub(master.id.seq) as i64);
            if same {
                for (_, v) in &e.fields {
                    body.push(v);
                }
                body.push_int(3 + e.fields.len() as i64);
            } else {
                body.push_int(e.fields.len() as i64);
                for (k, v) in &e.fields {
                    body.push(k);
                    body.push(v);
                }
                body.push_int(4 + 2 * e.fields.len() as i64);
            }
            n += 1;
            i += 1;
        }
        nodes.push((master.id, master_part(n).concat(body)));
    }
    nodes
}

/// Redis's `streamEstimateDistanceFromFirstEverEntry`: the logical read
/// counter of `id`, or -1 when it cannot be known.
pub(crate) fn estimate_entries_read(s: &Stream, id: StreamId) -> i64 {
    let added = s.entries_added as i64;
    let length = s.entries.len() as i64;
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
        let e = decode_node(master, &lp).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].id, StreamId::new(2, 0));
        assert_eq!(e[1].fields.len(), 2);
        let nodes = encode_nodes(&e);
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].0, master);
        assert_eq!(nodes[0].1, lp);
    }
}
