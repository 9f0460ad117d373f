//! Eviction under `maxmemory` across replication, against real Redis both ways:
//! - a tandem-server master evicts (allkeys-lru) and a redis-server replica follows its
//!   `DEL`s to the same dataset; and the reverse (a redis-server master evicting, a
//!   tandem-server replica following);
//! - a tandem-server replica with a `maxmemory` far below its dataset keeps every key its
//!   master sends (`replica-ignore-maxmemory yes`, the default).
//!
//! Consistency is DEBUG DIGEST on both once the offsets are equal. No timing assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::probe::{assert_same_data, cmds, info_field, ok, pipeline, text, wait_until};
use tandem_tests::{Flavor, RespConn, ServerProcess};

/// A value of `len` bytes that differs per key (so nothing is shared).
fn value(i: usize, len: usize) -> String {
    let mut v = format!("{i:08}-");
    while v.len() < len {
        v.push_str("abcdefghijklmnopqrstuvwxyz");
    }
    v.truncate(len);
    v
}

/// Writes keys `prefix:first..prefix:first+count` with 2000-byte values, 100 per MSET.
fn write_keys(m: &mut RespConn, prefix: &str, first: usize, count: usize) {
    let batch: Vec<Vec<String>> = (first..first + count)
        .collect::<Vec<_>>()
        .chunks(100)
        .map(|chunk| {
            let mut args = vec!["MSET".to_string()];
            for i in chunk {
                args.push(format!("{prefix}:{i}"));
                args.push(value(*i, 2000));
            }
            args
        })
        .collect();
    pipeline(m, &batch);
}

fn number(conn: &mut RespConn, section: &str, field: &str) -> u64 {
    info_field(conn, section, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no numeric {field}"))
}

fn start(flavor: Flavor, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    ServerProcess::start(flavor, &args).unwrap()
}

/// A master of `master` flavor with a replica of `replica` flavor: 10k keys (about
/// 20 MB), then `maxmemory` 8 MB below the master's use with allkeys-lru, then 5k keys
/// more. The master evicts; the replica ends with the same data.
fn master_evicts(master: Flavor, replica: Flavor) {
    let m_srv = start(master, &[]);
    let port = m_srv.port().to_string();
    let r_srv = start(replica, &["--replicaof", "127.0.0.1", &port]);
    let mut m = m_srv.connect().unwrap();
    let mut r = r_srv.connect().unwrap();
    write_keys(&mut m, "key", 0, 10_000);
    assert_same_data(&mut m, &mut r);

    let used = number(&mut m, "memory", "used_memory");
    let max = used - 8 * 1024 * 1024;
    ok(
        &mut m,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    ok(&mut m, &["CONFIG", "SET", "maxmemory", &max.to_string()]);
    write_keys(&mut m, "more", 0, 5_000);
    // Eviction goes on after the writes (between commands, and in the background when
    // its time limit stops it) until memory is back within the limit.
    wait_until("used_memory within maxmemory", || {
        number(&mut m, "memory", "used_memory") <= max + 256 * 1024
    });
    // Read both counts in one transaction: nothing is evicted between them.
    ok(&mut m, &["MULTI"]);
    ok(&mut m, &["INFO", "stats"]);
    ok(&mut m, &["DBSIZE"]);
    let replies = cmds(&mut m, &["EXEC"]);
    let evicted: u64 = text(&replies.children[0])
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .and_then(|v| v.parse().ok())
        .expect("evicted_keys");
    let keys = replies.children[1].as_integer().expect("DBSIZE") as u64;
    assert!(evicted > 0, "nothing was evicted");
    assert_eq!(
        keys + evicted,
        15_000,
        "every key is either there or evicted"
    );
    // The replica applied the DELs: same keys, same values.
    assert_same_data(&mut m, &mut r);
    assert_eq!(
        text(&cmds(&mut r, &["DBSIZE"])),
        text(&cmds(&mut m, &["DBSIZE"]))
    );
    // A replica leaves eviction to its master.
    assert_eq!(number(&mut r, "stats", "evicted_keys"), 0);
}

#[test]
fn tandem_master_evicts_and_a_redis_replica_follows() {
    master_evicts(Flavor::Tandem, Flavor::Redis);
}

#[test]
fn redis_master_evicts_and_a_tandem_replica_follows() {
    master_evicts(Flavor::Redis, Flavor::Tandem);
}

#[test]
fn a_tandem_replica_ignores_its_own_maxmemory() {
    let m_srv = start(Flavor::Redis, &[]);
    let port = m_srv.port().to_string();
    let r_srv = start(
        Flavor::Tandem,
        &[
            "--replicaof",
            "127.0.0.1",
            &port,
            "--maxmemory",
            "1mb",
            "--maxmemory-policy",
            "allkeys-random",
        ],
    );
    let mut m = m_srv.connect().unwrap();
    let mut r = r_srv.connect().unwrap();
    write_keys(&mut m, "key", 0, 2_000);
    assert_same_data(&mut m, &mut r);
    assert_eq!(cmds(&mut r, &["DBSIZE"]).as_integer(), Some(2_000));
    assert_eq!(number(&mut r, "stats", "evicted_keys"), 0);
    // Its own clients may still read, and get READONLY for writes, not OOM.
    assert_eq!(text(&cmds(&mut r, &["GET", "key:7"])), value(7, 2000));
    let reply = text(&cmds(&mut r, &["SET", "x", "y"]));
    assert!(reply.starts_with("READONLY"), "{reply}");
}
