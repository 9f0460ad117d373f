//! Mixed replication topologies of redis-server 7.0.15 and tandem-server nodes, one master
//! and three replicas, one of them chained behind another replica, and a failover.
//!
//! Redis master M; Tandem replica A of M; Redis replica B of M; Tandem replica C of A.
//! The dataset with every type in each encoding goes over the full syncs, the write load
//! of every type over the stream; DEBUG DIGEST (and the streams' consumer groups) are
//! equal on all four nodes. Then A is promoted with REPLICAOF NO ONE and B and M itself
//! are pointed at A: B, M and C (whose link A dropped when its replication id changed)
//! all continue with a partial resync (A's `sync_partial_ok` grows by three, its
//! `sync_full` stays), and after more writes on A all four are equal again. The same
//! with the flavors swapped: a Tandem master, a Redis replica promoted.
//!
//! The masters' `repl-ping-replica-period` is long so that no PING moves the old
//! master's offset between the promotion and its own REPLICAOF (a PING there would make
//! its history diverge and force a full resync, on Redis as on Tandem).
//! No timing assertions: every wait is a bounded poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tandem_tests::probe::{
    all_types_dataset, argv, assert_same_data, cmds, expire_short_keys, info_field, ok, pipeline,
    text, write_load,
};
use tandem_tests::{Flavor, RespConn, ServerProcess};

fn start(flavor: Flavor, replica_of: Option<&ServerProcess>) -> ServerProcess {
    let mut args: Vec<String> = argv(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--repl-ping-replica-period",
        "3600",
    ]);
    if let Some(m) = replica_of {
        args.extend(argv(&["--replicaof", "127.0.0.1", &m.port().to_string()]));
    }
    ServerProcess::start(flavor, &args).unwrap()
}

fn stat(conn: &mut RespConn, name: &str) -> u64 {
    info_field(conn, "stats", name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO stats has no {name}"))
}

/// `(db, key, OBJECT ENCODING)` of every key in databases 0..16.
fn encodings(conn: &mut RespConn) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for db in 0..16 {
        ok(conn, &["SELECT", &db.to_string()]);
        let keys = cmds(conn, &["KEYS", "*"]);
        for k in keys.children.iter().map(text) {
            let enc = text(&cmds(conn, &["OBJECT", "ENCODING", &k]));
            out.push((db, k, enc));
        }
    }
    ok(conn, &["SELECT", "0"]);
    out.sort();
    out
}

/// The replicas of one master hold the same encodings as their sibling of the other
/// flavor (both applied the same RDB and the same stream).
fn assert_same_encodings(reference: &mut RespConn, others: &mut [&mut RespConn]) {
    let want = encodings(reference);
    for (i, o) in others.iter_mut().enumerate() {
        let got = encodings(o);
        let diff: Vec<_> = want
            .iter()
            .filter(|w| !got.contains(w))
            .chain(got.iter().filter(|g| !want.contains(g)))
            .collect();
        assert!(diff.is_empty(), "node {i}: encodings differ: {diff:?}");
    }
}

/// Writes on top of whatever the write load left, every type.
fn more_writes(m: &mut RespConn) {
    ok(m, &["SELECT", "0"]);
    let mut b = vec![
        argv(&["LPUSH", "after:list", "a", "b"]),
        argv(&["HINCRBYFLOAT", "after:hash", "f", "0.25"]),
        argv(&["SADD", "after:set", "1", "x"]),
        argv(&["ZINCRBY", "after:zset", "1.5", "m"]),
        argv(&["PFADD", "after:hll", "a", "b"]),
        argv(&["XADD", "after:stream", "*", "f", "v"]),
        argv(&["XGROUP", "CREATE", "after:stream", "g", "0"]),
        argv(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "STREAMS",
            "after:stream",
            ">",
        ]),
        argv(&["SELECT", "7"]),
        argv(&["XADD", "st", "*", "after", "failover"]),
        argv(&[
            "XREADGROUP",
            "GROUP",
            "g1",
            "c9",
            "COUNT",
            "2",
            "STREAMS",
            "st",
            ">",
        ]),
        argv(&["SELECT", "0"]),
    ];
    for i in 0..30 {
        b.push(argv(&["RPUSH", "after:biglist", &format!("item-{i}")]));
    }
    pipeline(m, &b);
}

/// The whole scenario; `master` is M's flavor, `other` A's and C's (B is M's flavor).
fn failover(master: Flavor, other: Flavor) {
    let mn = start(master, None);
    let mut m = mn.connect().unwrap();
    all_types_dataset(&mut m);
    let an = start(other, Some(&mn));
    let bn = start(master, Some(&mn));
    let mut a = an.connect().unwrap();
    let mut b = bn.connect().unwrap();
    assert_same_data(&mut m, &mut a);
    assert_same_data(&mut m, &mut b);
    let cn = start(other, Some(&an));
    let mut c = cn.connect().unwrap();
    assert_same_data(&mut m, &mut c);
    assert_same_encodings(&mut b, &mut [&mut a, &mut c]);

    write_load(&mut m);
    expire_short_keys(&mut m);
    for (name, r) in [("A", &mut a), ("B", &mut b), ("C", &mut c)] {
        assert_same_data(&mut m, r);
        assert_eq!(
            info_field(&mut m, "replication", "master_repl_offset"),
            info_field(r, "replication", "master_repl_offset"),
            "{name}'s offset"
        );
    }
    assert_same_encodings(&mut b, &mut [&mut a, &mut c]);
    // The chained replica saw the master's history byte for byte.
    assert_eq!(
        info_field(&mut m, "replication", "master_replid"),
        info_field(&mut c, "replication", "master_replid")
    );

    // Failover to A.
    let full_before = stat(&mut a, "sync_full");
    let partial_before = stat(&mut a, "sync_partial_ok");
    let old_id = info_field(&mut m, "replication", "master_replid");
    assert_eq!(text(&cmds(&mut a, &["REPLICAOF", "NO", "ONE"])), "OK");
    assert_eq!(info_field(&mut a, "replication", "master_replid2"), old_id);
    let aport = an.port().to_string();
    for r in [&mut b, &mut m] {
        assert_eq!(text(&cmds(r, &["REPLICAOF", "127.0.0.1", &aport])), "OK");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while stat(&mut a, "sync_partial_ok") < partial_before + 3 {
        assert!(
            Instant::now() < deadline,
            "B, M and C did not all resync partially with A: sync_partial_ok {} -> {}, \
             sync_full {full_before} -> {}\nA's log:\n{}\nB's log:\n{}\nM's log:\n{}\nC's log:\n{}",
            partial_before,
            stat(&mut a, "sync_partial_ok"),
            stat(&mut a, "sync_full"),
            an.stdout_log(),
            bn.stdout_log(),
            mn.stdout_log(),
            cn.stdout_log(),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        stat(&mut a, "sync_full"),
        full_before,
        "a full resync happened:\nA's log:\n{}",
        an.stdout_log()
    );
    more_writes(&mut a);
    for (name, r) in [("B", &mut b), ("M", &mut m), ("C", &mut c)] {
        assert_same_data(&mut a, r);
        assert_eq!(
            info_field(&mut a, "replication", "master_replid"),
            info_field(r, "replication", "master_replid"),
            "{name} follows A's new history"
        );
    }
    write_load(&mut a);
    expire_short_keys(&mut a);
    for r in [&mut b, &mut m, &mut c] {
        assert_same_data(&mut a, r);
    }
    assert_same_encodings(&mut a, &mut [&mut b, &mut m, &mut c]);
    assert_eq!(stat(&mut a, "sync_full"), full_before);
}

#[test]
fn redis_master_tandem_replica_promoted() {
    failover(Flavor::Redis, Flavor::Tandem);
}

#[test]
fn tandem_master_redis_replica_promoted() {
    failover(Flavor::Tandem, Flavor::Redis);
}
