//! A stream's node layout (Redis's radix tree of listpacks, tombstones included) crosses
//! RDB both ways as redis-server 7.0.15 keeps it.
//!
//! Streams are built on redis-server with XDELs, exact trims and non-default
//! `stream-node-max-entries` / `stream-node-max-bytes`, so their nodes are not what XADD
//! with the default limits would lay out. Then:
//! * Redis's dump.rdb loaded by Tandem gives the same `XINFO STREAM key FULL` (radix-tree
//!   keys and nodes, entries, groups), byte for byte; more XADDs and `XTRIM MAXLEN ~` on
//!   both remove the same entries;
//! * Tandem's SAVE passes `redis-check-rdb` and loads in redis-server with the same XINFO;
//! * DEBUG RELOAD on Tandem and RESTORE of Redis's DUMP payloads keep the same XINFO.
//!
//! No timing assertions: every wait is a bounded poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use tandem_tests::files::{check_rdb, copy_dump, start_loaded};
use tandem_tests::probe::{argv, cmds, ok, pipeline, text};
use tandem_tests::{Flavor, RespConn, ServerProcess};

/// The streams the dataset builds.
const KEYS: &[&str] = &["s:five", "s:bytes", "s:default", "s:trimmed", "s:mixed"];

/// The node limits every server runs with once the dataset is built: XADDs after a load
/// must split nodes the same way on both sides.
const LIMITS: &[&str] = &["--stream-node-max-entries", "5"];

fn start(flavor: Flavor, dir: Option<&Path>) -> ServerProcess {
    start_loaded(flavor, dir, LIMITS)
}

fn xadd(key: &str, id: String, fields: &[String]) -> Vec<String> {
    let mut a = argv(&["XADD", key, &id]);
    a.extend(fields.iter().cloned());
    a
}

/// Streams whose nodes differ from a default XADD packing: small nodes by entry count,
/// by byte size, tombstones from XDEL (a node's first entry, a whole node emptied) and
/// exact trimming, and consumer groups with pending entries.
fn build(c: &mut RespConn) {
    let mut batch = Vec::new();
    batch.push(argv(&["CONFIG", "SET", "stream-node-max-entries", "5"]));
    for i in 1..=40u64 {
        let fields = if i % 6 == 0 {
            vec!["other".into(), i.to_string(), "x".into(), "y".into()]
        } else {
            vec![
                "name".into(),
                format!("n{i}"),
                "v".into(),
                (i * 100).to_string(),
            ]
        };
        batch.push(xadd("s:five", format!("{i}-1"), &fields));
    }
    // 6-1 opens the second node; 11..=15 are a whole node.
    for i in [2u64, 6, 7, 11, 12, 13, 14, 15, 23, 40] {
        batch.push(argv(&["XDEL", "s:five", &format!("{i}-1")]));
    }
    batch.push(argv(&["XGROUP", "CREATE", "s:five", "g1", "0"]));
    batch.push(argv(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "4",
        "STREAMS",
        "s:five",
        ">",
    ]));
    batch.push(argv(&["XGROUP", "CREATE", "s:five", "g2", "20-1"]));

    batch.push(argv(&["CONFIG", "SET", "stream-node-max-entries", "100"]));
    batch.push(argv(&["CONFIG", "SET", "stream-node-max-bytes", "300"]));
    for i in 1..=60u64 {
        let fields = vec![
            "payload".into(),
            format!("{i:0>20}-{}", "z".repeat(i as usize % 9)),
        ];
        batch.push(xadd("s:bytes", format!("{}-0", 1000 + i), &fields));
    }
    for i in (3..=60u64).step_by(4) {
        batch.push(argv(&["XDEL", "s:bytes", &format!("{}-0", 1000 + i)]));
    }

    batch.push(argv(&["CONFIG", "SET", "stream-node-max-bytes", "4096"]));
    for i in 1..=250u64 {
        let fields = vec!["f".into(), (i * 7).to_string()];
        batch.push(xadd(
            "s:default",
            format!("{}-{}", 5000 + i / 3, i % 3),
            &fields,
        ));
    }
    for i in (5..=250u64).step_by(7) {
        batch.push(argv(&[
            "XDEL",
            "s:default",
            &format!("{}-{}", 5000 + i / 3, i % 3),
        ]));
    }

    batch.push(argv(&["CONFIG", "SET", "stream-node-max-entries", "10"]));
    for i in 1..=55u64 {
        batch.push(xadd(
            "s:trimmed",
            format!("{i}-0"),
            &["a".into(), i.to_string()],
        ));
    }
    // Exact trimming leaves tombstones in the head node.
    batch.push(argv(&["XTRIM", "s:trimmed", "MAXLEN", "47"]));

    batch.push(argv(&["CONFIG", "SET", "stream-node-max-entries", "3"]));
    for i in 1..=20u64 {
        let n = (i % 4) as usize;
        let mut fields = Vec::new();
        for k in 0..=n {
            fields.push(format!("k{k}"));
            fields.push(format!("{}", i * 1000 + k as u64));
        }
        batch.push(xadd("s:mixed", format!("{}-0", i * 10), &fields));
    }
    for i in [1u64, 4, 5, 6, 17] {
        batch.push(argv(&["XDEL", "s:mixed", &format!("{}-0", i * 10)]));
    }
    batch.push(argv(&["XGROUP", "CREATE", "s:mixed", "readers", "0"]));
    batch.push(argv(&[
        "XREADGROUP",
        "GROUP",
        "readers",
        "bob",
        "COUNT",
        "20",
        "STREAMS",
        "s:mixed",
        ">",
    ]));
    batch.push(argv(&["CONFIG", "SET", "stream-node-max-entries", "5"]));
    pipeline(c, &batch);
}

/// `XINFO STREAM key FULL COUNT 0`, as the bytes of the reply.
fn xinfo(c: &mut RespConn, key: &str) -> Vec<u8> {
    let f = cmds(c, &["XINFO", "STREAM", key, "FULL", "COUNT", "0"]);
    assert!(!f.is_error(), "XINFO STREAM {key} FULL -> {}", text(&f));
    f.to_bytes()
}

/// The radix-tree keys of a stream (plain XINFO STREAM).
fn radix_keys(c: &mut RespConn, key: &str) -> i64 {
    let f = cmds(c, &["XINFO", "STREAM", key]);
    let at = f
        .children
        .iter()
        .position(|x| x.text() == Some(&b"radix-tree-keys"[..]))
        .unwrap();
    f.children[at + 1].as_integer().unwrap()
}

fn assert_same_streams(want: &mut RespConn, got: &mut RespConn, what: &str) {
    for key in KEYS {
        let (w, g) = (xinfo(want, key), xinfo(got, key));
        assert!(
            w == g,
            "{what}: XINFO STREAM {key} FULL differs\nwant {}\ngot  {}",
            String::from_utf8_lossy(&w),
            String::from_utf8_lossy(&g)
        );
    }
}

/// The same writes on both servers, then the same replies: more XADDs (opening nodes at
/// the limit of 5), `XTRIM MAXLEN ~` (whole nodes only) and exact trims.
fn write_on_both(r: &mut RespConn, t: &mut RespConn) {
    for key in KEYS {
        let mut steps: Vec<Vec<String>> = (1..=12u64)
            .map(|i| xadd(key, format!("900000-{i}"), &["late".into(), i.to_string()]))
            .collect();
        steps.push(argv(&["XLEN", key]));
        for step in &steps {
            assert_eq!(
                cmds(r, &step.iter().map(String::as_str).collect::<Vec<_>>()),
                cmds(t, &step.iter().map(String::as_str).collect::<Vec<_>>()),
                "{step:?}"
            );
        }
        let len = cmds(r, &["XLEN", key]).as_integer().unwrap();
        for (approx, keep) in [("~", len - 9), ("~", len - 17), ("=", len - 19)] {
            let keep = keep.max(1).to_string();
            let step = ["XTRIM", *key, "MAXLEN", approx, &keep];
            let (a, b) = (cmds(r, &step), cmds(t, &step));
            assert_eq!(a, b, "{step:?}");
            for read in [
                vec!["XLEN", key],
                vec!["XRANGE", key, "-", "+"],
                vec!["XREVRANGE", key, "+", "-", "COUNT", "7"],
            ] {
                assert_eq!(cmds(r, &read), cmds(t, &read), "{read:?} after {step:?}");
            }
            assert_eq!(
                radix_keys(r, key),
                radix_keys(t, key),
                "{key} after {step:?}"
            );
        }
    }
}

/// (a) Redis's dump.rdb loaded by Tandem, then writes on both; (b) Tandem's save loaded
/// by Redis; (c) DEBUG RELOAD on Tandem.
#[test]
fn node_layout_crosses_rdb_both_ways() {
    let redis = start(Flavor::Redis, None);
    let mut r = redis.connect().unwrap();
    build(&mut r);
    // The layout really is not a default packing.
    assert_eq!(radix_keys(&mut r, "s:five"), 7);
    ok(&mut r, &["SAVE"]);

    // (a) Redis → Tandem.
    let tandem_dir = copy_dump(redis.dir());
    let tandem = start(Flavor::Tandem, Some(tandem_dir.path()));
    let mut t = tandem.connect().unwrap();
    assert_same_streams(&mut r, &mut t, "redis dump.rdb loaded by tandem");

    // (c) DEBUG RELOAD keeps the layout.
    ok(&mut t, &["DEBUG", "RELOAD"]);
    assert_same_streams(&mut r, &mut t, "tandem after DEBUG RELOAD");

    // (b) Tandem → Redis, before any further write.
    redis_loads_tandems_save(
        &mut r,
        &mut t,
        tandem_dir.path(),
        "tandem dump.rdb loaded by redis",
    );

    // The layout decides what later writes and `~` trims do.
    write_on_both(&mut r, &mut t);
    assert_same_streams(&mut r, &mut t, "after XADD and XTRIM on both");

    // And it survives another round through Tandem's file into Redis.
    redis_loads_tandems_save(
        &mut r,
        &mut t,
        tandem_dir.path(),
        "tandem dump.rdb after writes, loaded by redis",
    );
}

/// Tandem (`t`, saving into `tandem_dir`) SAVEs; redis-check-rdb accepts the file and a
/// fresh redis-server loading it holds the same streams as `r`.
fn redis_loads_tandems_save(r: &mut RespConn, t: &mut RespConn, tandem_dir: &Path, what: &str) {
    ok(t, &["SAVE"]);
    check_rdb(&tandem_dir.join("dump.rdb"));
    let dir = copy_dump(tandem_dir);
    let loaded = start(Flavor::Redis, Some(dir.path()));
    let mut c = loaded.connect().unwrap();
    assert_same_streams(r, &mut c, what);
}

/// Redis's DUMP payloads restored into Tandem keep the layout, and Tandem's DUMP of them
/// is what Redis restores to the same layout.
#[test]
fn restore_of_redis_dump_keeps_the_layout() {
    let redis = start(Flavor::Redis, None);
    let mut r = redis.connect().unwrap();
    build(&mut r);
    let tandem = start(Flavor::Tandem, None);
    let mut t = tandem.connect().unwrap();
    let other = start(Flavor::Redis, None);
    let mut r2 = other.connect().unwrap();
    for key in KEYS {
        let payload = r.command(&[&b"DUMP"[..], key.as_bytes()]).unwrap();
        let payload = payload.body.clone().expect("DUMP of an existing key");
        let reply = t
            .command(&[&b"RESTORE"[..], key.as_bytes(), b"0", &payload])
            .unwrap();
        assert!(!reply.is_error(), "RESTORE {key} -> {}", text(&reply));
        let ours = t.command(&[&b"DUMP"[..], key.as_bytes()]).unwrap();
        let ours = ours.body.clone().expect("DUMP of an existing key");
        let reply = r2
            .command(&[&b"RESTORE"[..], key.as_bytes(), b"0", &ours])
            .unwrap();
        assert!(
            !reply.is_error(),
            "RESTORE {key} in redis -> {}",
            text(&reply)
        );
    }
    assert_same_streams(&mut r, &mut t, "redis DUMP restored by tandem");
    assert_same_streams(&mut r, &mut r2, "tandem DUMP restored by redis");
}
