//! Choosing and removing keys under `maxmemory` (Redis's `evict.c`).
//!
//! The server decides *when* to evict (used memory above `maxmemory`, before a command
//! runs); this module decides *which* key, as Redis does:
//! - the LRU, LFU and TTL policies sample `maxmemory-samples` keys per database (from all
//!   keys, or from the keys with a TTL for the `volatile-*` policies), score each (idle
//!   time, 255 minus the decayed LFU counter, or how soon it expires) and keep the best
//!   16 candidates in a pool that lives across calls; the key evicted is the pool's best
//!   one that still exists;
//! - the random policies take a random key, visiting the databases round robin.
//!
//! An evicted key is reported as [`Event::Evicted`]; the server propagates it as `DEL`
//! (or `UNLINK` with `lazyfree-lazy-eviction`) and breaks WATCHes on it.

use crate::db::{lfu_decayed, secs, Keyspace};
use crate::table::hash_key;
use crate::{Event, FreeMode, Key, KeyNote, Millis};

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EvictionPolicy {
    /// Nothing is evicted: writes that need memory fail with `-OOM`.
    #[default]
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
}

impl EvictionPolicy {
    /// The policy named as in the configuration (`allkeys-lru`, ...), any case.
    pub fn from_name(name: &str) -> Option<EvictionPolicy> {
        Some(match name.to_ascii_lowercase().as_str() {
            "noeviction" => EvictionPolicy::NoEviction,
            "allkeys-lru" => EvictionPolicy::AllKeysLru,
            "volatile-lru" => EvictionPolicy::VolatileLru,
            "allkeys-lfu" => EvictionPolicy::AllKeysLfu,
            "volatile-lfu" => EvictionPolicy::VolatileLfu,
            "allkeys-random" => EvictionPolicy::AllKeysRandom,
            "volatile-random" => EvictionPolicy::VolatileRandom,
            "volatile-ttl" => EvictionPolicy::VolatileTtl,
            _ => return None,
        })
    }

    /// Whether only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }
}

/// Candidates kept between calls (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;

/// The best candidates seen so far, ascending by score (the best is last).
#[derive(Debug, Default)]
pub(crate) struct EvictionPool {
    entries: Vec<(u64, usize, Key)>,
}

impl EvictionPool {
    /// Adds a candidate unless the pool is full of better ones; the worst one leaves a
    /// full pool.
    fn offer(&mut self, score: u64, db: usize, key: Key) {
        if self.entries.iter().any(|(_, d, k)| *d == db && *k == key) {
            return;
        }
        let pos = self.entries.partition_point(|(s, _, _)| *s < score);
        if pos == 0 && self.entries.len() >= POOL_SIZE {
            return;
        }
        self.entries.insert(pos, (score, db, key));
        if self.entries.len() > POOL_SIZE {
            self.entries.remove(0);
        }
    }
}

/// How many times the pool is refilled before giving up (every sampled key had gone).
const POOL_ROUNDS: usize = 16;

impl Keyspace {
    /// The key `policy` evicts next, or None when there is none (no keys, or no keys with
    /// a TTL for a `volatile-*` policy, or `noeviction`). `samples` is
    /// `maxmemory-samples`.
    pub fn eviction_candidate(
        &mut self,
        policy: EvictionPolicy,
        samples: usize,
        now: Millis,
    ) -> Option<(usize, Key)> {
        match policy {
            EvictionPolicy::NoEviction => None,
            EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom => {
                self.random_candidate(policy.volatile_only())
            }
            _ => self.pooled_candidate(policy, samples.max(1), now),
        }
    }

    /// Removes `key` as an eviction: counted in `evicted_keys` and reported as
    /// [`Event::Evicted`]. False if it was not there.
    pub fn evict(&mut self, db: usize, key: &[u8], mode: FreeMode) -> bool {
        if !self.remove_entry(db, hash_key(key), key, mode) {
            return false;
        }
        self.stats.evicted_keys += 1;
        let key = Key::copy_from_slice(key);
        if self.cfg.note_evicted {
            self.notes.push(KeyNote::Evicted {
                db,
                key: key.clone(),
            });
        }
        self.events.push(Event::Evicted { db, key });
        true
    }

    fn random_candidate(&mut self, volatile: bool) -> Option<(usize, Key)> {
        let dbs = self.dbs.len();
        for _ in 0..dbs {
            self.evict_next_db = (self.evict_next_db + 1) % dbs;
            let db = self.evict_next_db;
            if let Some(key) = self.sample_key(db, volatile) {
                return Some((db, key));
            }
        }
        None
    }

    fn pooled_candidate(
        &mut self,
        policy: EvictionPolicy,
        samples: usize,
        now: Millis,
    ) -> Option<(usize, Key)> {
        let volatile = policy.volatile_only();
        let decay = self.cfg.lfu.map_or(0, |l| l.decay_time);
        for _ in 0..POOL_ROUNDS {
            let mut total = 0;
            for db in 0..self.dbs.len() {
                let d = &self.dbs[db];
                let size = if volatile { d.ttl.len() } else { d.table.len() };
                if size == 0 {
                    continue;
                }
                total += size;
                for _ in 0..samples.min(size) {
                    let Some(key) = self.sample_key(db, volatile) else {
                        continue;
                    };
                    let Some(entry) = self.dbs[db].table.get(hash_key(&key), &key) else {
                        continue;
                    };
                    let score = match policy {
                        EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
                            255 - u64::from(lfu_decayed(entry.last_access(), now, decay).min(255))
                        }
                        EvictionPolicy::VolatileTtl => {
                            u64::MAX - entry.expire().map_or(0, |t| t.max(0) as u64)
                        }
                        _ => u64::from(secs(now).saturating_sub(entry.last_access())) * 1000,
                    };
                    self.evict_pool.offer(score, db, key);
                }
            }
            if total == 0 {
                return None;
            }
            // The best candidate that still exists (in the TTL index for volatile ones).
            while let Some((_, db, key)) = self.evict_pool.entries.pop() {
                let hash = hash_key(&key);
                let Some(d) = self.dbs.get(db) else {
                    continue;
                };
                let there = match d.table.get(hash, &key) {
                    Some(e) => !volatile || e.expire().is_some(),
                    None => false,
                };
                if there {
                    return Some((db, key));
                }
            }
        }
        None
    }

    /// A random key of `db` (of its keys with a TTL when `volatile`).
    fn sample_key(&mut self, db: usize, volatile: bool) -> Option<Key> {
        let r = self.next_random();
        let r2 = self.next_random();
        let d = self.dbs.get(db)?;
        if volatile {
            let n = d.ttl.len();
            if n == 0 {
                return None;
            }
            let (_, key) = d.ttl.get((r as usize) % n)?;
            return Some(Key::copy_from_slice(key));
        }
        self.random_entry(db, r, r2)
            .map(|e| Key::copy_from_slice(e.key()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keeps_the_best_sixteen_ascending() {
        let mut pool = EvictionPool::default();
        for i in 0..40u64 {
            pool.offer((i * 7) % 40, 0, Key::from(format!("k{i}")));
        }
        assert_eq!(pool.entries.len(), POOL_SIZE);
        let scores: Vec<u64> = pool.entries.iter().map(|(s, _, _)| *s).collect();
        assert_eq!(scores, (24..40).collect::<Vec<u64>>());
        // A duplicate is not added twice; a worse one does not enter a full pool.
        pool.offer(39, 0, Key::from("k37"));
        pool.offer(1, 0, Key::from("low"));
        assert_eq!(pool.entries.len(), POOL_SIZE);
        assert!(!pool.entries.iter().any(|(_, _, k)| k == "low"));
    }

    #[test]
    fn names_parse_as_the_configuration_spells_them() {
        assert_eq!(
            EvictionPolicy::from_name("ALLKEYS-LRU"),
            Some(EvictionPolicy::AllKeysLru)
        );
        assert_eq!(EvictionPolicy::from_name("lru"), None);
        assert!(EvictionPolicy::VolatileTtl.volatile_only());
        assert!(!EvictionPolicy::AllKeysRandom.volatile_only());
    }
}
