//! Every type in each of its encodings crosses between redis-server 7.0.15 and
//! tandem-server, both ways, as an RDB file and as DUMP payloads.
//!
//! The dataset (`probe::all_types_dataset`) is built on redis-server. Its dump.rdb loads
//! in Tandem with the same DEBUG DIGEST, the same OBJECT ENCODING for every key as a
//! redis-server that loaded the same file, and the same consumer groups (XINFO STREAM
//! FULL); Tandem's own SAVE passes `redis-check-rdb` and loads in redis-server with the
//! same digest, encodings and groups. Every key also travels with DUMP / RESTORE, Redis
//! to Tandem and Tandem to Redis, with the same checks.
//!
//! When digests differ, the failure names the keys whose DEBUG DIGEST-VALUE differs.
//! No timing assertions: every wait is a bounded poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use tandem_tests::files::{check_rdb, copy_dump, start_loaded};
use tandem_tests::probe::{all_types_dataset, cmds, digest, ok, streams_view, text};
use tandem_tests::{Flavor, Frame, RespConn, ServerProcess};

/// Databases the dataset uses.
const DBS: [usize; 3] = [0, 1, 5];

/// Entry-count thresholds far below the defaults: loading must convert what is over them.
const SMALL_LIMITS: &[&str] = &[
    "--hash-max-listpack-entries",
    "4",
    "--zset-max-listpack-entries",
    "4",
    "--set-max-intset-entries",
    "4",
];

/// Value-length thresholds below the lengths in `compact_types_are_kept_by_entry_count`.
const SMALL_VALUES: &[&str] = &[
    "--hash-max-listpack-value",
    "8",
    "--zset-max-listpack-value",
    "8",
];

fn start(flavor: Flavor, dir: Option<&Path>) -> ServerProcess {
    start_with(flavor, dir, &[])
}

fn start_with(flavor: Flavor, dir: Option<&Path>, extra: &[&str]) -> ServerProcess {
    start_loaded(flavor, dir, extra)
}

fn cmd(conn: &mut RespConn, args: &[&[u8]]) -> Frame {
    conn.command(args).unwrap()
}

/// Keys of `db`, sorted.
fn keys(conn: &mut RespConn, db: usize) -> Vec<Vec<u8>> {
    ok(conn, &["SELECT", &db.to_string()]);
    let f = cmds(conn, &["KEYS", "*"]);
    let mut ks: Vec<Vec<u8>> = f
        .children
        .iter()
        .map(|c| c.text().unwrap().to_vec())
        .collect();
    ks.sort();
    ks
}

/// Per key: `(db, key) -> (TYPE, OBJECT ENCODING, has a TTL, DEBUG DIGEST-VALUE)`.
type Report = BTreeMap<(usize, String), (String, String, bool, String)>;

fn report(conn: &mut RespConn) -> Report {
    let mut out = BTreeMap::new();
    for db in DBS {
        for k in keys(conn, db) {
            let ty = text(&cmd(conn, &[b"TYPE", &k]));
            let enc = text(&cmd(conn, &[b"OBJECT", b"ENCODING", &k]));
            let ttl = cmd(conn, &[b"PTTL", &k]).as_integer().unwrap() >= 0;
            let dv = cmd(conn, &[b"DEBUG", b"DIGEST-VALUE", &k]);
            let dv = dv.children.first().map(text).unwrap_or_else(|| text(&dv));
            out.insert(
                (db, String::from_utf8_lossy(&k).into_owned()),
                (ty, enc, ttl, dv),
            );
        }
    }
    ok(conn, &["SELECT", "0"]);
    out
}

/// Asserts `got` holds the same data as `want` (a redis-server): digest, keys, types,
/// encodings, TTL presence, per-key digests and stream groups; `what` names the path.
fn assert_same(want: &mut RespConn, got: &mut RespConn, what: &str) {
    let w = report(want);
    let g = report(got);
    let mut problems = Vec::new();
    for (k, wv) in &w {
        match g.get(k) {
            None => problems.push(format!("{k:?}: missing")),
            Some(gv) if gv != wv => problems.push(format!("{k:?}: want {wv:?}, got {gv:?}")),
            Some(_) => {}
        }
    }
    for k in g.keys() {
        if !w.contains_key(k) {
            problems.push(format!("{k:?}: unexpected key"));
        }
    }
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
    assert_eq!(digest(got), digest(want), "{what}: DEBUG DIGEST");
    let (ws, gs) = (streams_view(want), streams_view(got));
    for (a, b) in ws.iter().zip(gs.iter()) {
        assert_eq!(a, b, "{what}: XINFO STREAM FULL");
    }
    assert_eq!(ws.len(), gs.len(), "{what}: number of streams");
}

#[test]
fn rdb_of_every_type_both_ways() {
    rdb_round_trip(&[]);
}

#[test]
fn rdb_of_every_type_loaded_under_small_encoding_limits() {
    rdb_round_trip(SMALL_LIMITS);
}

/// Redis's dump.rdb into Tandem and Tandem's back into Redis, every server but the one
/// that builds the dataset started with `limits`.
fn rdb_round_trip(limits: &[&str]) {
    let built = start(Flavor::Redis, None);
    let mut b = built.connect().unwrap();
    all_types_dataset(&mut b);
    ok(&mut b, &["SAVE"]);
    let redis_dump = copy_dump(built.dir());

    // The reference: a redis-server that loaded the file (loading picks encodings anew).
    let reference = start_with(Flavor::Redis, Some(redis_dump.path()), limits);
    let mut r = reference.connect().unwrap();
    assert_eq!(digest(&mut r), digest(&mut b));

    let tandem_dir = copy_dump(built.dir());
    let tandem = start_with(Flavor::Tandem, Some(tandem_dir.path()), limits);
    let mut t = tandem.connect().unwrap();
    assert_same(&mut r, &mut t, "redis dump.rdb loaded by tandem");

    assert_eq!(text(&cmds(&mut t, &["SAVE"])), "OK");
    check_rdb(&tandem_dir.path().join("dump.rdb"));
    let back = copy_dump(tandem_dir.path());
    let reloaded = start_with(Flavor::Redis, Some(back.path()), limits);
    let mut r2 = reloaded.connect().unwrap();
    assert_same(&mut r, &mut r2, "tandem dump.rdb loaded by redis");
}

/// Copies every key of [`DBS`] with DUMP / PTTL / RESTORE.
fn copy_with_dump(from: &mut RespConn, to: &mut RespConn) {
    for db in DBS {
        let ks = keys(from, db);
        ok(to, &["SELECT", &db.to_string()]);
        for k in ks {
            let payload = cmd(from, &[b"DUMP", &k]);
            let payload = payload.body.clone().expect("DUMP of an existing key");
            let pttl = cmd(from, &[b"PTTL", &k]).as_integer().unwrap();
            let ttl = pttl.max(0).to_string();
            let r = cmd(to, &[b"RESTORE", &k, ttl.as_bytes(), &payload]);
            assert!(
                !r.is_error(),
                "RESTORE {} -> {}",
                String::from_utf8_lossy(&k),
                text(&r)
            );
        }
    }
    ok(from, &["SELECT", "0"]);
    ok(to, &["SELECT", "0"]);
}

/// Keys whose DUMP payloads differ between the two servers.
fn differing_payloads(a: &mut RespConn, b: &mut RespConn) -> Vec<String> {
    let mut out = Vec::new();
    for db in DBS {
        ok(b, &["SELECT", &db.to_string()]);
        for k in keys(a, db) {
            if cmd(a, &[b"DUMP", &k]) != cmd(b, &[b"DUMP", &k]) {
                out.push(format!("{db}:{}", String::from_utf8_lossy(&k)));
            }
        }
    }
    ok(a, &["SELECT", "0"]);
    ok(b, &["SELECT", "0"]);
    out
}

#[test]
fn dump_restore_of_every_type_both_ways() {
    let built = start(Flavor::Redis, None);
    let mut b = built.connect().unwrap();
    all_types_dataset(&mut b);

    // The reference: a redis-server that restored every payload.
    let reference = start(Flavor::Redis, None);
    let mut r = reference.connect().unwrap();
    copy_with_dump(&mut b, &mut r);
    assert_eq!(digest(&mut r), digest(&mut b));

    let tandem = start(Flavor::Tandem, None);
    let mut t = tandem.connect().unwrap();
    copy_with_dump(&mut b, &mut t);
    assert_same(&mut r, &mut t, "redis DUMP -> tandem RESTORE");
    let differ = differing_payloads(&mut r, &mut t);
    if !differ.is_empty() {
        eprintln!("DUMP payloads that differ from redis's (both valid): {differ:?}");
    }

    let back = start(Flavor::Redis, None);
    let mut r2 = back.connect().unwrap();
    copy_with_dump(&mut t, &mut r2);
    assert_same(&mut r, &mut r2, "tandem DUMP -> redis RESTORE");
}

/// redis-server 7.0.15 loads a listpack hash or sorted set (RDB file or RESTORE) checking
/// only its entry count against the limits, not its lengths: a small hash whose values
/// are over `hash-max-listpack-value` stays `listpack`; the full encodings (`hashtable`,
/// `skiplist` in the file) are checked for both.
#[test]
fn compact_types_are_kept_by_entry_count() {
    let built = start(Flavor::Redis, None);
    let mut b = built.connect().unwrap();
    let long = "twenty-bytes-long-xx";
    ok(&mut b, &["HSET", "hash:lp", "f", long, "g", "1"]);
    ok(&mut b, &["ZADD", "zset:lp", "1", long, "2", "m"]);
    ok(&mut b, &["SADD", "set:int", "1", "2"]);
    ok(
        &mut b,
        &["HSET", "hash:ht", "keep", "1", "f", &"x".repeat(100)],
    );
    ok(&mut b, &["HDEL", "hash:ht", "f"]);
    ok(&mut b, &["HSET", "hash:ht", "f", long]);
    ok(
        &mut b,
        &["ZADD", "zset:sl", "0", "keep", "1", &"x".repeat(100)],
    );
    ok(&mut b, &["ZREM", "zset:sl", &"x".repeat(100)]);
    ok(&mut b, &["ZADD", "zset:sl", "1", long]);
    for (k, enc) in [("hash:ht", "hashtable"), ("zset:sl", "skiplist")] {
        assert_eq!(text(&cmds(&mut b, &["OBJECT", "ENCODING", k])), enc);
    }
    ok(&mut b, &["SAVE"]);

    let dump = copy_dump(built.dir());
    let reference = start_with(Flavor::Redis, Some(dump.path()), SMALL_VALUES);
    let mut r = reference.connect().unwrap();
    let tandem_dir = copy_dump(built.dir());
    let tandem = start_with(Flavor::Tandem, Some(tandem_dir.path()), SMALL_VALUES);
    let mut t = tandem.connect().unwrap();
    assert_same(&mut r, &mut t, "dump.rdb loaded under small value limits");

    let restored_r = start_with(Flavor::Redis, None, SMALL_VALUES);
    let mut rr = restored_r.connect().unwrap();
    copy_with_dump(&mut b, &mut rr);
    let restored_t = start_with(Flavor::Tandem, None, SMALL_VALUES);
    let mut rt = restored_t.connect().unwrap();
    copy_with_dump(&mut b, &mut rt);
    assert_same(&mut rr, &mut rt, "RESTORE under small value limits");
}
