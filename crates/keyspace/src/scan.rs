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
//! Cursor 0 starts a scan and is returned when it is over; any other cursor is a position
//! (never 0, because a returned position is always one past a visited one).

use crate::table::{segment_of, SEGMENTS, SEGMENT_BITS};
use crate::{Key, Keyspace, Millis};

/// Bits of a scan position.
const POS_BITS: u32 = 63;
/// One past the largest position.
const POS_END: u64 = 1 << POS_BITS;

/// First position of segment `seg`.
fn segment_start(seg: usize) -> u64 {
    (seg as u64) << (POS_BITS - SEGMENT_BITS)
}

impl Keyspace {
    /// SCAN step: returns the next cursor (0 = done) and the keys of this step; a key present
    /// for the whole scan is returned at least once (Redis's guarantee). Expired keys are not
    /// returned (on a master they are deleted, as Redis's SCAN does).
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
        let mut start = cursor;
        let mut seg = segment_of(cursor << 1);
        let mut found: Vec<(u64, Key, bool)> = Vec::new();
        let mut next = 0;
        let mut cand: Vec<(u64, usize)> = Vec::new();
        while seg < SEGMENTS {
            let slots = &table.segment(seg).slots;
            cand.clear();
            let all: Vec<_> = slots.iter().collect();
            cand.extend(
                all.iter()
                    .enumerate()
                    .filter(|(_, s)| s.hash >> 1 >= start)
                    .map(|(i, s)| (s.hash >> 1, i)),
            );
            let need = count.saturating_sub(found.len());
            if cand.len() > need {
                let limit = if need == 0 {
                    // Cannot happen (we stop once `found` reaches `count`), but stay safe.
                    start
                } else {
                    cand.select_nth_unstable_by_key(need - 1, |c| c.0);
                    cand[need - 1].0
                };
                for &(pos, i) in &cand {
                    if pos <= limit {
                        let s = all[i];
                        found.push((
                            s.hash,
                            s.key.clone(),
                            self.is_expired(s.entry.expire(), now),
                        ));
                    }
                }
                next = limit + 1;
                if next >= POS_END {
                    next = 0;
                }
                break;
            }
            for &(_, i) in &cand {
                let s = all[i];
                found.push((
                    s.hash,
                    s.key.clone(),
                    self.is_expired(s.entry.expire(), now),
                ));
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
        let mut keys = Vec::with_capacity(found.len());
        for (hash, key, expired) in found {
            if expired {
                if !self.cfg.replica_mode {
                    self.expire_key(db, hash, &key);
                }
            } else {
                keys.push(key);
            }
        }
        (next, keys)
    }
}
