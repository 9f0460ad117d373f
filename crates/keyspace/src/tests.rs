//! Unit tests of the keyspace as a whole (lookups, expiry, flush, snapshots, SCAN).
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;

use crate::*;

const NOW: Millis = 1_700_000_000_000;

fn ks() -> Keyspace {
    with(KeyspaceConfig::default())
}

fn with(cfg: KeyspaceConfig) -> Keyspace {
    let mut ks = Keyspace::new(cfg);
    ks.set_now(NOW);
    ks
}

fn s(v: &str) -> Value {
    Value::String(StrValue::from_bytes_for_set(Bytes::copy_from_slice(
        v.as_bytes(),
    )))
}

fn k(v: &str) -> Key {
    Bytes::copy_from_slice(v.as_bytes())
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(sv)) => Some(String::from_utf8(sv.as_bytes().into_owned()).unwrap()),
        Some(_) => Some("<non-string>".into()),
        None => None,
    }
}

fn big_set(n: usize) -> Value {
    let members = (0..n).map(|i| Bytes::from(format!("member-{i}"))).collect();
    Value::Set(SetValue::from_members(members, &EncodingLimits::default()))
}

#[test]
fn set_get_overwrite_delete() {
    let mut ks = ks();
    assert_eq!(ks.databases(), 16);
    assert!(ks.get(0, b"a", NOW).is_none());
    ks.set(0, k("a"), s("1"), Expiry::Clear);
    assert_eq!(text(ks.get(0, b"a", NOW)), Some("1".into()));
    assert_eq!(ks.get(0, b"a", NOW).unwrap().encoding(), "int");
    assert!(ks.get(1, b"a", NOW).is_none());
    ks.set(0, k("a"), s("hello"), Expiry::Clear);
    assert_eq!(text(ks.get(0, b"a", NOW)), Some("hello".into()));
    assert_eq!(ks.dbsize(0), 1);
    assert!(ks.exists(0, b"a", NOW));
    assert!(ks.delete(0, b"a", NOW, FreeMode::Sync));
    assert!(!ks.delete(0, b"a", NOW, FreeMode::Sync));
    assert!(!ks.exists(0, b"a", NOW));
    assert_eq!(ks.dbsize(0), 0);
    // Out-of-range databases behave as empty and ignore writes.
    ks.set(99, k("a"), s("x"), Expiry::Clear);
    assert!(ks.get(99, b"a", NOW).is_none());
}

#[test]
fn get_mut_modifies_in_place() {
    let mut ks = ks();
    ks.set(0, k("a"), s("abc"), Expiry::At(NOW + 10_000));
    if let Some(Value::String(sv)) = ks.get_mut(0, b"a", NOW) {
        let mut b = sv.as_bytes().into_owned();
        b.extend_from_slice(b"def");
        *sv = StrValue::raw(Bytes::from(b));
    }
    assert_eq!(text(ks.get(0, b"a", NOW)), Some("abcdef".into()));
    assert_eq!(ks.get(0, b"a", NOW).unwrap().encoding(), "raw");
    assert_eq!(ks.expire_at(0, b"a"), Some(NOW + 10_000));
    assert!(ks.get_mut(0, b"zz", NOW).is_none());
}

#[test]
fn ttl_handling() {
    let mut ks = ks();
    ks.set(0, k("a"), s("v"), Expiry::At(NOW + 1000));
    assert_eq!(ks.expire_at(0, b"a"), Some(NOW + 1000));
    assert_eq!(ks.expires_count(0), 1);
    ks.set(0, k("a"), s("w"), Expiry::Keep);
    assert_eq!(ks.expire_at(0, b"a"), Some(NOW + 1000));
    ks.set(0, k("a"), s("w"), Expiry::Clear);
    assert_eq!(ks.expire_at(0, b"a"), None);
    assert_eq!(ks.expires_count(0), 0);
    assert!(ks.set_expire(0, b"a", NOW + 5));
    assert!(!ks.set_expire(0, b"missing", NOW + 5));
    assert_eq!(ks.expires_count(0), 1);
    assert!(ks.persist(0, b"a"));
    assert!(!ks.persist(0, b"a"));
    assert_eq!(ks.expires_count(0), 0);
    // Expiry is strict: a key expiring at t is still there at t.
    ks.set(0, k("b"), s("v"), Expiry::At(NOW));
    assert!(ks.exists(0, b"b", NOW));
    assert!(!ks.exists(0, b"b", NOW + 1));
}

#[test]
fn lazy_expiry_on_master_deletes_and_reports() {
    let mut ks = ks();
    ks.config_mut().track_modified = true;
    ks.set(3, k("a"), s("v"), Expiry::At(NOW + 100));
    assert!(ks.get(3, b"a", NOW + 101).is_none());
    assert_eq!(ks.dbsize(3), 0);
    assert_eq!(ks.expires_count(3), 0);
    assert_eq!(ks.stats().expired_keys, 1);
    assert_eq!(
        ks.drain_events(),
        vec![
            Event::Expired { db: 3, key: k("a") },
            Event::Modified { db: 3, key: k("a") }
        ]
    );
    assert!(ks.drain_events().is_empty());
}

#[test]
fn replica_mode_hides_without_deleting() {
    let mut ks = with(KeyspaceConfig {
        replica_mode: true,
        ..KeyspaceConfig::default()
    });
    ks.set(0, k("a"), s("v"), Expiry::At(NOW + 100));
    assert!(ks.get(0, b"a", NOW + 101).is_none());
    assert!(!ks.exists(0, b"a", NOW + 101));
    assert!(ks.keys(0, NOW + 101, &|_| true).is_empty());
    // SCAN hands the key to the caller, whose existence check hides it.
    assert_eq!(ks.scan(0, 0, 10, NOW + 101).1, vec![k("a")]);
    assert!(!ks.exists(0, b"a", NOW + 101));
    assert_eq!(ks.dbsize(0), 1);
    assert_eq!(ks.stats().expired_keys, 0);
    assert!(ks.drain_events().is_empty());
    // No active expiry on a replica.
    ks.active_expire_cycle(NOW + 101, Duration::from_millis(10));
    assert_eq!(ks.dbsize(0), 1);
    // The master's stream sees the key as it is.
    ks.set_master_context(true);
    assert_eq!(text(ks.get(0, b"a", NOW + 101)), Some("v".into()));
    ks.set_master_context(false);
    // The master's DEL removes it.
    assert!(ks.delete(0, b"a", NOW + 101, FreeMode::Sync));
    assert_eq!(ks.dbsize(0), 0);
}

#[test]
fn set_over_expired_key_does_not_keep_ttl() {
    let mut ks = ks();
    ks.set(0, k("a"), s("v"), Expiry::At(NOW + 100));
    ks.set_now(NOW + 200);
    ks.set(0, k("a"), s("w"), Expiry::Keep);
    assert_eq!(ks.expire_at(0, b"a"), None);
    assert_eq!(text(ks.get(0, b"a", NOW + 200)), Some("w".into()));
    assert_eq!(ks.stats().expired_keys, 1);
}

#[test]
fn delete_of_expired_key_counts_as_expired() {
    let mut ks = ks();
    ks.set(0, k("a"), s("v"), Expiry::At(NOW + 100));
    assert!(!ks.delete(0, b"a", NOW + 101, FreeMode::Sync));
    assert_eq!(ks.stats().expired_keys, 1);
    assert_eq!(
        ks.drain_events(),
        vec![Event::Expired { db: 0, key: k("a") }]
    );
}

#[test]
fn take_returns_value_and_ttl() {
    let mut ks = ks();
    ks.set(0, k("a"), s("v"), Expiry::At(NOW + 100));
    let snap = ks.snapshot();
    let (v, ttl) = ks.take(0, b"a", NOW).unwrap();
    assert_eq!(text(Some(&v)), Some("v".into()));
    assert_eq!(ttl, Some(NOW + 100));
    assert_eq!(ks.dbsize(0), 0);
    assert_eq!(ks.expires_count(0), 0);
    assert_eq!(snap.len(0), 1);
    assert!(ks.take(0, b"a", NOW).is_none());
}

#[test]
fn active_expiry_removes_expired_keys() {
    let mut ks = ks();
    for i in 0..1000 {
        let at = if i % 2 == 0 {
            NOW + 10
        } else {
            NOW + 1_000_000
        };
        ks.set(i % 3, k(&format!("k{i}")), s("v"), Expiry::At(at));
    }
    for i in 0..100 {
        ks.set(0, k(&format!("p{i}")), s("v"), Expiry::Clear);
    }
    // Run cycles until the stale percentage is low, as the server's cron would.
    for _ in 0..200 {
        ks.active_expire_cycle(NOW + 20, Duration::from_secs(1));
    }
    let live: usize = (0..3).map(|d| ks.dbsize(d)).sum();
    // Sampling stops at <= 10% stale, so a few may remain; most must be gone.
    assert!(live < 700, "live = {live}");
    assert!(ks.stats().expired_keys >= 400);
    assert_eq!(
        ks.stats().expired_keys as usize + live,
        1100,
        "every key is either live or counted as expired"
    );
    assert!(ks.avg_ttl(0) > 0);
    let expired_events = ks
        .drain_events()
        .iter()
        .filter(|e| matches!(e, Event::Expired { .. }))
        .count();
    assert_eq!(expired_events as u64, ks.stats().expired_keys);
    // Everything expired: the index empties completely.
    for _ in 0..1000 {
        ks.active_expire_cycle(NOW + 2_000_000, Duration::from_secs(1));
    }
    assert_eq!(ks.dbsize(0), 100);
    assert_eq!((0..3).map(|d| ks.expires_count(d)).sum::<usize>(), 0);
}

#[test]
fn active_expiry_respects_time_budget() {
    let mut ks = ks();
    for i in 0..5000 {
        ks.set(0, k(&format!("k{i}")), s("v"), Expiry::At(NOW));
    }
    ks.active_expire_cycle(NOW + 1, Duration::ZERO);
    assert!(ks.dbsize(0) > 0);
    assert_eq!(ks.stats().expired_time_cap_reached_count, 1);
}

#[test]
fn idle_time_and_touch() {
    let mut ks = ks();
    ks.set_now(NOW);
    ks.set(0, k("a"), s("v"), Expiry::Clear);
    assert_eq!(ks.idle_time(0, b"a", NOW + 5_000), Some(5));
    assert!(ks.peek(0, b"a", NOW + 6_000).is_some());
    assert_eq!(ks.idle_time(0, b"a", NOW + 7_000), Some(7));
    assert!(ks.get(0, b"a", NOW + 8_000).is_some());
    assert_eq!(ks.idle_time(0, b"a", NOW + 10_000), Some(2));
    assert_eq!(ks.idle_time(0, b"b", NOW), None);
}

#[test]
fn snapshot_isolation() {
    let mut ks = ks();
    for i in 0..10_000 {
        ks.set(
            i % 2,
            k(&format!("k{i}")),
            s(&format!("v{i}")),
            Expiry::Clear,
        );
    }
    ks.set(0, k("ttl"), s("t"), Expiry::At(NOW + 1000));
    let snap = ks.snapshot();
    ks.set(0, k("k0"), s("changed"), Expiry::Clear);
    if let Some(Value::String(sv)) = ks.get_mut(0, b"k2", NOW) {
        *sv = StrValue::raw(Bytes::from_static(b"mutated"));
    }
    assert!(ks.delete(1, b"k1", NOW, FreeMode::Sync));
    ks.set(0, k("new"), s("n"), Expiry::Clear);
    assert!(ks.persist(0, b"ttl"));
    ks.empty(DbTarget::One(1), FreeMode::Async).unwrap();

    assert_eq!(snap.databases(), 16);
    assert_eq!(snap.len(0), 5001);
    assert_eq!(snap.len(1), 5000);
    let find = |db: usize, key: &str| {
        snap.iter(db)
            .find(|e| e.key == key.as_bytes())
            .map(|e| (text(Some(e.value)).unwrap(), e.expire))
    };
    assert_eq!(find(0, "k0"), Some(("v0".into(), None)));
    assert_eq!(find(0, "k2"), Some(("v2".into(), None)));
    assert_eq!(find(1, "k1"), Some(("v1".into(), None)));
    assert_eq!(find(0, "new"), None);
    assert_eq!(find(0, "ttl"), Some(("t".into(), Some(NOW + 1000))));
    assert_eq!(snap.iter(0).count(), 5001);

    assert_eq!(text(ks.get(0, b"k0", NOW)), Some("changed".into()));
    assert_eq!(text(ks.get(0, b"k2", NOW)), Some("mutated".into()));
    assert_eq!(ks.dbsize(1), 0);
    // A second snapshot sees the new state.
    let snap2 = ks.snapshot();
    assert_eq!(snap2.len(0), 5002);
    assert_eq!(snap2.len(1), 0);
}

#[test]
fn snapshot_is_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Snapshot>();
    fn check_send<T: Send>() {}
    check_send::<Keyspace>();
}

#[test]
fn async_flush_frees_on_background_thread() {
    let mut ks = ks();
    for i in 0..50_000 {
        ks.set(i % 4, k(&format!("k{i}")), s("v"), Expiry::Clear);
    }
    let removed = ks.empty(DbTarget::All, FreeMode::Async).unwrap();
    assert_eq!(removed, 50_000);
    assert_eq!(ks.dbsize(0), 0);
    assert_eq!(ks.drain_events(), vec![Event::Flushed(DbTarget::All)]);
    // The thread frees them: pending reaches 0 and lazyfreed_objects counts them.
    let mut waited = 0;
    while ks.lazyfree_pending() > 0 && waited < 2000 {
        std::thread::sleep(Duration::from_millis(5));
        waited += 1;
    }
    assert_eq!(ks.lazyfree_pending(), 0);
    assert_eq!(ks.stats().lazyfreed_objects, 50_000);
    // The keyspace is usable right away.
    ks.set(0, k("a"), s("v"), Expiry::Clear);
    assert_eq!(ks.dbsize(0), 1);
}

#[test]
fn empty_sync_and_range() {
    let mut ks = ks();
    ks.set(2, k("a"), s("v"), Expiry::At(NOW + 10));
    ks.set(3, k("b"), s("v"), Expiry::Clear);
    assert_eq!(
        ks.empty(DbTarget::One(16), FreeMode::Sync),
        Err(KeyspaceError::DbOutOfRange)
    );
    assert_eq!(ks.empty(DbTarget::One(2), FreeMode::Sync), Ok(1));
    assert_eq!(ks.expires_count(2), 0);
    assert_eq!(ks.dbsize(3), 1);
    assert_eq!(ks.empty(DbTarget::All, FreeMode::Sync), Ok(1));
    assert_eq!(ks.lazyfree_pending(), 0);
    assert_eq!(ks.stats().lazyfreed_objects, 0);
}

#[test]
fn async_delete_of_big_value_uses_lazyfree() {
    let mut ks = ks();
    ks.set(0, k("big"), big_set(1000), Expiry::Clear);
    ks.set(0, k("small"), big_set(10), Expiry::Clear);
    ks.set(0, k("big2"), big_set(1000), Expiry::Clear);
    assert!(ks.delete(0, b"small", NOW, FreeMode::Async));
    assert!(ks.delete(0, b"big2", NOW, FreeMode::Sync));
    assert!(ks.delete(0, b"big", NOW, FreeMode::Async));
    let mut waited = 0;
    while ks.lazyfree_pending() > 0 && waited < 2000 {
        std::thread::sleep(Duration::from_millis(5));
        waited += 1;
    }
    assert_eq!(ks.stats().lazyfreed_objects, 1);
}

#[test]
fn swap_db() {
    let mut ks = ks();
    ks.set(0, k("a"), s("0"), Expiry::At(NOW + 10));
    ks.set(1, k("b"), s("1"), Expiry::Clear);
    ks.swap_db(0, 1).unwrap();
    assert!(ks.get(0, b"b", NOW).is_some());
    assert!(ks.get(1, b"a", NOW).is_some());
    assert_eq!(ks.expires_count(1), 1);
    assert_eq!(ks.swap_db(0, 16), Err(KeyspaceError::DbOutOfRange));
    assert_eq!(ks.drain_events(), vec![Event::Swapped(0, 1)]);
}

#[test]
fn random_key_and_keys() {
    let mut ks = ks();
    assert_eq!(ks.random_key(0, NOW), None);
    ks.set(0, k("only"), s("v"), Expiry::Clear);
    assert_eq!(ks.random_key(0, NOW), Some(k("only")));
    for i in 0..100 {
        ks.set(0, k(&format!("k{i}")), s("v"), Expiry::Clear);
    }
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        seen.insert(ks.random_key(0, NOW).unwrap());
    }
    assert!(seen.len() > 50, "{}", seen.len());
    let mut keys = ks.keys(0, NOW, &|key| key.starts_with(b"k1"));
    keys.sort();
    assert_eq!(keys.len(), 11);
    // Expired keys are removed on a master by RANDOMKEY.
    let mut ks2 = with(KeyspaceConfig::default());
    for i in 0..10 {
        ks2.set(0, k(&format!("e{i}")), s("v"), Expiry::At(NOW));
    }
    ks2.set(0, k("live"), s("v"), Expiry::Clear);
    assert_eq!(ks2.random_key(0, NOW + 1), Some(k("live")));
    // Replica mode, all keys volatile and expired: gives up after 100 tries with a key.
    let mut ks3 = with(KeyspaceConfig {
        replica_mode: true,
        ..KeyspaceConfig::default()
    });
    ks3.set(0, k("e"), s("v"), Expiry::At(NOW));
    assert_eq!(ks3.random_key(0, NOW + 1), Some(k("e")));
}

fn full_scan(ks: &mut Keyspace, db: usize, count: usize) -> Vec<Key> {
    let mut out = Vec::new();
    let mut cursor = 0;
    let mut steps = 0;
    loop {
        let (next, keys) = ks.scan(db, cursor, count, NOW);
        out.extend(keys);
        steps += 1;
        assert!(steps < 1_000_000);
        if next == 0 {
            return out;
        }
        assert!(next > cursor, "cursor must advance");
        cursor = next;
    }
}

#[test]
fn scan_returns_each_key_once() {
    let mut ks = ks();
    assert_eq!(ks.scan(0, 0, 10, NOW), (0, vec![]));
    for i in 0..5000 {
        ks.set(0, k(&format!("k{i}")), s("v"), Expiry::Clear);
    }
    for count in [1, 10, 100, 10_000] {
        let keys = full_scan(&mut ks, 0, count);
        assert_eq!(keys.len(), 5000);
        let set: HashSet<_> = keys.into_iter().collect();
        assert_eq!(set.len(), 5000);
    }
    // COUNT is honoured as a lower bound while keys remain.
    let (_, keys) = ks.scan(0, 0, 50, NOW);
    assert!(keys.len() >= 50);
}

#[test]
fn scan_leaves_expiry_to_the_caller() {
    let mut ks = ks();
    ks.set(0, k("a"), s("v"), Expiry::At(NOW - 1));
    ks.set(0, k("b"), s("v"), Expiry::Clear);
    let mut keys = full_scan(&mut ks, 0, 10);
    keys.sort();
    assert_eq!(keys, vec![k("a"), k("b")]);
    assert_eq!(ks.stats().expired_keys, 0);
    // The caller's existence check is what deletes it on a master.
    assert!(!ks.exists(0, b"a", NOW));
    assert_eq!(ks.dbsize(0), 1);
    assert_eq!(ks.stats().expired_keys, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Redis's guarantee: a key present for the whole scan is returned, whatever is
    /// inserted or deleted between steps.
    #[test]
    fn scan_guarantee_under_changes(
        initial in 0usize..3000,
        count in 1usize..50,
        ops in proptest::collection::vec((any::<bool>(), 0u32..6000), 0..400),
    ) {
        let mut ks = with(KeyspaceConfig { databases: 1, ..KeyspaceConfig::default() });
        for i in 0..initial {
            ks.set(0, k(&format!("k{i}")), s("v"), Expiry::Clear);
        }
        let mut ever_deleted = HashSet::new();
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut ops = ops.into_iter();
        loop {
            let (next, keys) = ks.scan(0, cursor, count, NOW);
            seen.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
            for (insert, n) in ops.by_ref().take(3) {
                let key = k(&format!("k{n}"));
                if insert {
                    ks.set(0, key, s("v"), Expiry::Clear);
                } else if ks.delete(0, &key, NOW, FreeMode::Sync) {
                    ever_deleted.insert(key);
                }
            }
        }
        for i in 0..initial {
            let key = k(&format!("k{i}"));
            if !ever_deleted.contains(&key) {
                prop_assert!(seen.contains(&key), "missing {:?}", key);
            }
        }
    }
}

#[test]
fn lfu_counter_and_access_hints() {
    let mut ks = Keyspace::new(KeyspaceConfig {
        lfu: Some(LfuConfig {
            log_factor: 10,
            decay_time: 1,
        }),
        ..KeyspaceConfig::default()
    });
    ks.set_now(NOW);
    ks.set(0, k("a"), s("v"), Expiry::Clear);
    assert_eq!(ks.frequency(0, b"a", NOW), Some(5));
    // The first hit from the initial value always counts (p = 1).
    assert!(ks.get(0, b"a", NOW).is_some());
    assert_eq!(ks.frequency(0, b"a", NOW), Some(6));
    ks.set_access_hint(0, b"a", NOW, None, Some(100));
    assert_eq!(ks.frequency(0, b"a", NOW), Some(100));
    // One point of decay per minute with lfu-decay-time 1.
    assert_eq!(ks.frequency(0, b"a", NOW + 3 * 60_000), Some(97));
    assert_eq!(ks.frequency(0, b"missing", NOW), None);

    let mut lru = Keyspace::new(KeyspaceConfig::default());
    lru.set_now(NOW);
    lru.set(0, k("b"), s("v"), Expiry::Clear);
    lru.set_access_hint(0, b"b", NOW, Some(1000), None);
    assert_eq!(lru.idle_time(0, b"b", NOW), Some(1000));
}

#[test]
fn warm_finds_keys_and_changes_nothing() {
    let mut ks = ks();
    ks.set(0, k("a"), s("a long enough string value"), Expiry::Clear);
    ks.set(0, k("gone"), s("1"), Expiry::At(NOW - 1));
    let idle_before = ks.idle_time(0, b"a", NOW + 5_000);
    assert!(ks.warm(0, b"a"));
    assert!(!ks.warm(0, b"missing"));
    assert!(!ks.warm(1, b"a"));
    assert!(!ks.warm(99, b"a"), "a database out of range is no error");
    // A logically expired key is still found and not deleted, nor counted as expired.
    assert!(ks.warm(0, b"gone"));
    assert_eq!(ks.dbsize(0), 2);
    assert_eq!(ks.stats().expired_keys, 0);
    // The access time is untouched.
    assert_eq!(ks.idle_time(0, b"a", NOW + 5_000), idle_before);
}

#[test]
fn presence_looks_without_expiring() {
    let mut ks = ks();
    ks.config_mut().track_modified = true;
    ks.set(0, k("a"), s("v"), Expiry::At(NOW));
    ks.set(0, k("b"), s("v"), Expiry::Clear);
    assert_eq!(ks.presence(0, b"a", NOW), Presence::Live);
    assert_eq!(ks.presence(0, b"a", NOW + 1), Presence::Expired);
    assert_eq!(ks.presence(0, b"b", NOW + 1), Presence::Live);
    assert_eq!(ks.presence(0, b"c", NOW), Presence::Absent);
    assert_eq!(ks.presence(99, b"a", NOW), Presence::Absent);
    // Nothing was deleted or reported.
    assert_eq!(ks.dbsize(0), 2);
    assert!(ks.drain_events().is_empty());
}

#[test]
fn lfu_reads_of_lru_stamps_do_not_overflow() {
    let mut ks = ks();
    ks.set(0, k("a"), s("v"), Expiry::Clear);
    assert!(ks.get(0, b"a", NOW).is_some());
    // Switch to LFU: the key's stamp is still the LRU one (seconds since the epoch).
    ks.config_mut().lfu = Some(LfuConfig {
        log_factor: 10,
        decay_time: 1,
    });
    assert!(ks.frequency(0, b"a", NOW).is_some());
    assert!(ks
        .eviction_candidate(EvictionPolicy::AllKeysLfu, 5, NOW)
        .is_some());
}
