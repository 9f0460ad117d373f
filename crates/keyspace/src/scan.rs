//! SCAN with Redis's guarantee.
//!
//! Keys are visited in the order of their hash (the top 63 bits, `pos = hash >> 1`). That
//! order does not depend on the table's shape, so inserts, deletes and resizes between calls
//! never reorder keys. The cursor is the position where the next call starts: every key whose
//! position is below the cursor has been returned already, so a key present for the whole
//! scan is returned at least once. A step always returns whole groups of keys sharing a
//! position. Because a segment covers a contiguous range of hashes, a step only looks at the
//! segments its range touches; COUNT is a hint (at least COUNT keys per step while keys
//! remain, more when positions collide).
//!
//! The sorted order of the last segment visited is cached (keyed by table, segment and the
//! segment's write version), so a scan with a small COUNT over big segments costs
//! O(log n + COUNT) per step instead of re-sorting the segment every time.
//!
//! Cursor 0 starts a scan and is returned when it is over; any other cursor is a position
//! (never 0, because a returned position is always one past a visited one).

use crate::table::{hash_key, segment_of, SEGMENTS, SEGMENT_BITS};
use crate::{Key, Keyspace, Millis};

/// Bits of a scan position.
const POS_BITS: u32 = 63;
/// One past the largest position.
const POS_END: u64 = 1 << POS_BITS;

/// First position of segment `seg`.
fn segment_start(seg: usize) -> u64 {
    (seg as u64) << (POS_BITS - SEGMENT_BITS)
}

/// The sorted (position, bucket) order of one segment.
#[derive(Debug, Default)]
pub(crate) struct ScanCache {
    /// (db, table uid, segment, segment version) the order was built for.
    tag: Option<(usize, u64, usize, u64)>,
    order: Vec<(u64, usize)>,
}

impl Keyspace {
    /// SCAN step: returns the next cursor (0 = done) and the keys of this step; a key present
    /// for the whole scan is returned at least once (Redis's guarantee). Logically expired
    /// keys are returned too: Redis's SCAN checks expiry only for the keys that pass MATCH
    /// and TYPE, so the caller filters (and on a master deletes) them after those.
    pub fn scan(&mut self, db: usize, cursor: u64, count: usize, now: Millis) -> (u64, Vec<Key>) {
        self.clock = now;
        let count = count.max(1);
        if cursor >= POS_END {
            return (0, Vec::new());
        }
        let Some(d) = self.dbs.get(db) else {
            return (0, Vec::new());
        };
        let table = &d.table;
        let cache = &mut self.scan_cache;
        let mut start = cursor;
        let mut seg = segment_of(cursor << 1);
        let mut found: Vec<Key> = Vec::new();
        let mut next = 0;
        while seg < SEGMENTS {
            let segment = table.segment(seg);
            let slots = &segment.slots;
            if !slots.is_empty() {
                let tag = (db, table.uid(), seg, segment.version);
                if cache.tag != Some(tag) {
                    cache.order.clear();
                    cache.order.extend(
                        slots.iter_buckets().filter_map(|b| {
                            slots.get_bucket(b).map(|e| (hash_key(e.key()) >> 1, b))
                        }),
                    );
                    cache.order.sort_unstable();
                    cache.tag = Some(tag);
                }
                let order = &cache.order;
                let from = order.partition_point(|e| e.0 < start);
                let need = count.saturating_sub(found.len());
                let take = if order.len() - from > need && need > 0 {
                    // Stop after `need` keys, completing the group at the last position.
                    let limit = order[from + need - 1].0;
                    let end = from + order[from..].partition_point(|e| e.0 <= limit);
                    next = limit + 1;
                    if next >= POS_END {
                        next = 0;
                    }
                    Some(end)
                } else {
                    None
                };
                let end = take.unwrap_or(order.len());
                for &(_, b) in &order[from..end] {
                    if let Some(e) = slots.get_bucket(b) {
                        found.push(Key::copy_from_slice(e.key()));
                    }
                }
                if take.is_some() {
                    break;
                }
            }
            seg += 1;
            start = if seg < SEGMENTS {
                segment_start(seg)
            } else {
                0
            };
            next = start;
            if found.len() >= count {
                break;
            }
        }
        (next, found)
    }
}
