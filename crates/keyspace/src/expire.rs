//! Expiry: the per-database index of keys with a TTL, and the active expiry cycle.
//!
//! Lazy expiry (on access) lives with the lookups in `db.rs`; this module holds what the
//! background side needs. [`TtlIndex`] is a dense vector of the keys that have a TTL plus a
//! hash index into it, so the active cycle can walk a cursor over exactly those keys (what
//! Redis's `activeExpireCycle` does with `dictScan` over `db->expires`) and removal is O(1)
//! (swap-remove).
//!
//! [`Keyspace::active_expire_cycle`] follows Redis 7.0.15 with `active-expire-effort 1`:
//! per database, look at 20 keys with a TTL, delete the expired ones, and repeat while more
//! than 10% of the looked-at keys were expired; stop when the time budget is spent (counted
//! in `expired_time_cap_reached_count`). The TTLs of the keys looked at feed the running
//! `avg_ttl` estimate INFO keyspace shows, as in Redis.

use std::time::{Duration, Instant};

use hashbrown::HashTable;

use crate::{Keyspace, Millis};

/// Keys looked at per database and loop (`ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const KEYS_PER_LOOP: usize = 20;
/// Keep looping while more than this percentage of looked-at keys were expired.
const ACCEPTABLE_STALE: usize = 10;

/// Keys with a TTL, densely stored for sampling (each with its hash, for the index).
#[derive(Clone, Debug, Default)]
pub(crate) struct TtlIndex {
    keys: Vec<(u64, Box<[u8]>)>,
    pos: HashTable<u32>,
    /// Where the active cycle continues.
    pub(crate) cursor: usize,
}

impl TtlIndex {
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn get(&self, i: usize) -> Option<&(u64, Box<[u8]>)> {
        self.keys.get(i)
    }

    pub(crate) fn insert(&mut self, hash: u64, key: &[u8]) {
        let keys = &self.keys;
        let found = self
            .pos
            .find(hash, |&i| {
                keys[i as usize].0 == hash && &keys[i as usize].1[..] == key
            })
            .is_some();
        if found {
            return;
        }
        let idx = self.keys.len() as u32;
        self.keys.push((hash, key.into()));
        let keys = &self.keys;
        self.pos.insert_unique(hash, idx, |&i| keys[i as usize].0);
    }

    pub(crate) fn remove(&mut self, hash: u64, key: &[u8]) {
        let keys = &self.keys;
        let Ok(entry) = self.pos.find_entry(hash, |&i| {
            keys[i as usize].0 == hash && &keys[i as usize].1[..] == key
        }) else {
            return;
        };
        let (idx, _) = entry.remove();
        let idx = idx as usize;
        let last = self.keys.len() - 1;
        self.keys.swap_remove(idx);
        if idx != last {
            // The former last key now lives at `idx`.
            let moved_hash = self.keys[idx].0;
            if let Some(p) = self.pos.find_mut(moved_hash, |&i| i as usize == last) {
                *p = idx as u32;
            }
        }
    }
}

impl Keyspace {
    /// Active expiry (Redis's `activeExpireCycle`), bounded by `budget`. Does nothing in
    /// replica mode (a replica waits for the master's DELs).
    pub fn active_expire_cycle(&mut self, now: Millis, budget: Duration) {
        if self.cfg.replica_mode || self.master_context || self.expire_paused {
            return;
        }
        self.clock = now;
        let start = Instant::now();
        let dbs = self.dbs.len();
        let mut total_sampled = 0usize;
        let mut total_expired = 0usize;
        'dbs: for _ in 0..dbs {
            let db = self.expire_next_db % dbs;
            self.expire_next_db = (db + 1) % dbs;
            loop {
                if self.dbs[db].ttl.len() == 0 {
                    self.dbs[db].avg_ttl = 0;
                    break;
                }
                let (mut sampled, mut expired) = (0usize, 0usize);
                let (mut ttl_sum, mut ttl_samples) = (0i64, 0i64);
                for _ in 0..KEYS_PER_LOOP {
                    let d = &mut self.dbs[db];
                    let n = d.ttl.len();
                    if n == 0 || sampled >= n {
                        break;
                    }
                    if d.ttl.cursor >= n {
                        d.ttl.cursor = 0;
                    }
                    let i = d.ttl.cursor;
                    let Some((hash, key)) = d.ttl.get(i).cloned() else {
                        break;
                    };
                    sampled += 1;
                    let when = d.table.get(hash, &key).and_then(|e| e.expire());
                    match when {
                        Some(when) if now > when => {
                            // Swap-remove puts another key at `i`: keep the cursor.
                            self.expire_key(db, hash, &key);
                            expired += 1;
                        }
                        Some(when) => {
                            ttl_sum += when - now;
                            ttl_samples += 1;
                            d.ttl.cursor = i + 1;
                        }
                        None => {
                            // Out of sync (cannot happen); repair.
                            d.ttl.remove(hash, &key);
                        }
                    }
                }
                total_sampled += sampled;
                total_expired += expired;
                if ttl_samples > 0 {
                    let avg = ttl_sum / ttl_samples;
                    let d = &mut self.dbs[db];
                    d.avg_ttl = if d.avg_ttl == 0 {
                        avg
                    } else {
                        (d.avg_ttl / 50) * 49 + avg / 50
                    };
                }
                if start.elapsed() > budget {
                    self.stats.expired_time_cap_reached_count += 1;
                    break 'dbs;
                }
                if sampled == 0 || expired * 100 / sampled <= ACCEPTABLE_STALE {
                    break;
                }
            }
        }
        let current = if total_sampled > 0 {
            total_expired as f64 / total_sampled as f64
        } else {
            0.0
        };
        self.stats.expired_stale_perc = current * 0.05 + self.stats.expired_stale_perc * 0.95;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::table::hash_key;
    use crate::Key;
    use bytes::Bytes;

    #[test]
    fn ttl_index_swap_remove() {
        let mut t = TtlIndex::default();
        let keys: Vec<Key> = (0..100).map(|i| Bytes::from(format!("k{i}"))).collect();
        for k in &keys {
            t.insert(hash_key(k), k);
            t.insert(hash_key(k), k);
        }
        assert_eq!(t.len(), 100);
        for k in keys.iter().step_by(3) {
            t.remove(hash_key(k), k);
        }
        assert_eq!(t.len(), 66);
        for (i, k) in keys.iter().enumerate() {
            let present = (0..t.len()).any(|j| t.get(j).unwrap().1[..] == k[..]);
            assert_eq!(present, i % 3 != 0);
        }
        for k in &keys {
            t.remove(hash_key(k), k);
        }
        assert_eq!(t.len(), 0);
    }
}
