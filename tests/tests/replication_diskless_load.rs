//! Every `repl-diskless-load` mode (`disabled`, `on-empty-db`, `swapdb`) with
//! `replica-lazy-flush yes` and `no`, for tandem-server replicas of a real redis-server
//! 7.0.15 master, next to redis-server replicas configured the same way as the
//! reference.
//!
//! Each replica first holds data of its own (except the empty ones of `on-empty-db`),
//! then REPLICAOF: after the full sync and after a write load its DEBUG DIGEST equals
//! the master's. Whether the payload went through the disk (`temp-<unixtime>.<pid>.rdb`
//! renamed to `dump.rdb`, log line `... to disk`) or straight to the parser
//! (`... to parser`, no `dump.rdb`) must be what the redis-server replica did in the same
//! situation; no temp file is ever left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::probe::{cmds, digest, ok, text, wait_in_sync, wait_until};
use tandem_tests::{Flavor, RespConn, ServerProcess};

fn start_master() -> ServerProcess {
    ServerProcess::start(
        Flavor::Redis,
        &[
            "--enable-debug-command",
            "yes",
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
        ],
    )
    .unwrap()
}

/// Several types in several databases.
fn dataset(m: &mut RespConn) {
    for db in ["0", "3", "9"] {
        ok(m, &["SELECT", db]);
        ok(m, &["DEBUG", "POPULATE", "100", &format!("pop{db}"), "8"]);
        for i in 0..10 {
            ok(m, &["SET", &format!("key:{db}:{i}"), &format!("v{i}")]);
        }
        ok(m, &["RPUSH", &format!("list:{db}"), "a", "b"]);
        ok(m, &["HSET", &format!("hash:{db}"), "f", "v"]);
        ok(m, &["SADD", &format!("set:{db}"), "x", "1"]);
        ok(m, &["ZADD", &format!("zset:{db}"), "1", "one"]);
        ok(m, &["SET", &format!("ttl:{db}"), "v", "EX", "1000"]);
    }
    ok(m, &["SELECT", "0"]);
}

/// A write load of the test's own: several databases, MULTI/EXEC, expiries, deletes,
/// containers, FLUSHDB and SWAPDB.
fn load(m: &mut RespConn) {
    for (i, db) in ["0", "3", "9"].iter().enumerate() {
        ok(m, &["SELECT", db]);
        ok(m, &["SET", "a", &i.to_string()]);
        ok(m, &["INCRBY", "a", "40"]);
        ok(m, &["APPEND", "a", "x"]);
        ok(m, &["SET", "b", "2", "PX", "100000"]);
        ok(m, &["EXPIRE", "b", "500"]);
        ok(m, &["INCRBYFLOAT", "f", "1.5"]);
        ok(m, &["RPUSH", "l2", "x", "y", "z"]);
        ok(m, &["LPOP", "l2"]);
        ok(m, &["HSET", "h2", "a", "1", "b", "2"]);
        ok(m, &["HDEL", "h2", "a"]);
        ok(m, &["SADD", "s2", "1", "2", "x"]);
        ok(m, &["ZADD", "z2", "1.5", "a", "2", "b"]);
        ok(m, &["ZINCRBY", "z2", "3", "a"]);
        ok(m, &["DEL", "key:1"]);
    }
    ok(m, &["MULTI"]);
    ok(m, &["SET", "t1", "x"]);
    ok(m, &["SELECT", "6"]);
    ok(m, &["SET", "t2", "y"]);
    let r = cmds(m, &["EXEC"]);
    assert!(!r.is_error(), "{}", text(&r));
    ok(m, &["SELECT", "3"]);
    ok(m, &["FLUSHDB"]);
    ok(m, &["SELECT", "0"]);
    ok(m, &["SWAPDB", "0", "9"]);
}

/// Waits until the replica applied the master's whole stream, then compares DEBUG DIGEST.
fn same_data(m: &mut RespConn, r: &mut RespConn) {
    wait_in_sync(m, r);
    assert_eq!(digest(m), digest(r), "DEBUG DIGEST differs");
}

/// One replica under test or of reference.
struct Replica {
    server: ServerProcess,
    conn: RespConn,
}

fn replica(flavor: Flavor, mode: &str, lazy: &str, own_data: bool) -> Replica {
    let args = [
        "--repl-diskless-load",
        mode,
        "--replica-lazy-flush",
        lazy,
        "--enable-debug-command",
        "yes",
    ];
    let server = ServerProcess::start(flavor, &args).unwrap();
    let mut conn = server.connect().unwrap();
    if own_data {
        ok(&mut conn, &["SET", "mine", "1"]);
        ok(&mut conn, &["SELECT", "4"]);
        ok(&mut conn, &["SET", "mine4", "1"]);
        ok(&mut conn, &["SELECT", "0"]);
    }
    Replica { server, conn }
}

/// How the payload was received: (through the disk, `dump.rdb` exists afterwards).
fn how_loaded(r: &Replica) -> (bool, bool) {
    let log = r.server.stdout_log();
    let line = log
        .lines()
        .find(|l| l.contains("MASTER <-> REPLICA sync: receiving"))
        .unwrap_or_else(|| panic!("no transfer log line in:\n{log}"));
    let to_disk = line.ends_with(" to disk");
    assert!(to_disk || line.ends_with(" to parser"), "{line}");
    (to_disk, r.server.dir().join("dump.rdb").exists())
}

fn no_temp_files(r: &Replica) -> bool {
    std::fs::read_dir(r.server.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .all(|e| !e.file_name().to_string_lossy().starts_with("temp-"))
}

fn check_mode(mode: &str) {
    let master = start_master();
    let mut m = master.connect().unwrap();
    dataset(&mut m);
    let port = master.port().to_string();
    // (replica-lazy-flush, holds data of its own)
    let mut setups = vec![("yes", true), ("no", true)];
    if mode == "on-empty-db" {
        setups.push(("yes", false));
        setups.push(("no", false));
    }
    let mut pairs = Vec::new();
    for (lazy, own) in setups {
        let mut t = replica(Flavor::Tandem, mode, lazy, own);
        let mut r = replica(Flavor::Redis, mode, lazy, own);
        for x in [&mut t, &mut r] {
            ok(&mut x.conn, &["REPLICAOF", "127.0.0.1", &port]);
        }
        pairs.push((lazy, own, t, r));
    }
    for (lazy, own, t, r) in &mut pairs {
        let what = format!("mode {mode}, lazy-flush {lazy}, own data {own}");
        same_data(&mut m, &mut r.conn);
        same_data(&mut m, &mut t.conn);
        assert!(cmds(&mut t.conn, &["GET", "mine"]).is_null(), "{what}");
        wait_until("the payload file to be complete", || no_temp_files(t));
        assert_eq!(how_loaded(t), how_loaded(r), "{what}: (to disk, dump.rdb)");
    }
    load(&mut m);
    for (lazy, own, t, r) in &mut pairs {
        same_data(&mut m, &mut r.conn);
        same_data(&mut m, &mut t.conn);
        assert!(
            no_temp_files(t),
            "mode {mode}, lazy-flush {lazy}, own {own}"
        );
    }
}

#[test]
fn diskless_load_disabled() {
    check_mode("disabled");
}

#[test]
fn diskless_load_on_empty_db() {
    check_mode("on-empty-db");
}

#[test]
fn diskless_load_swapdb() {
    check_mode("swapdb");
}
