//! tandem-server as a replica of a real redis-server 7.0.15 master: full sync (disk and
//! diskless) with `--replicaof` at start-up and with REPLICAOF at run time, the live
//! stream across databases (SET, INCR, DEL, EXPIRE, MULTI/EXEC, FLUSHDB, SWAPDB, lazily
//! expired keys), `-READONLY` for writes, a partial resync after the master kills the
//! link (`CLIENT KILL TYPE replica`), `replica-serve-stale-data no`, ROLE and INFO, and
//! REPLICAOF NO ONE (writable again, the master's id kept as `master_replid2`), a
//! restart from the replica's own RDB continuing partially, and a redis-server
//! sub-replica chained to a tandem replica receiving the master's stream.
//! A full sync keeps the encodings Redis keeps (a compact hash or sorted set stays compact).
//!
//! Consistency is checked with DEBUG DIGEST on both servers once the replica's link is up
//! and its `slave_repl_offset` equals the master's `master_repl_offset`. No timing
//! assertions: every wait is a bounded poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tandem_tests::probe::{
    assert_same_data, cmds, digest, expire_short_keys, info_field, ok, text, wait_until, write_load,
};
use tandem_tests::{Flavor, RespConn, ServerProcess};

/// A redis-server master; `disk` picks `repl-diskless-sync no`.
fn start_redis_master(disk: bool) -> ServerProcess {
    let diskless = if disk { "no" } else { "yes" };
    ServerProcess::start(
        Flavor::Redis,
        &[
            "--enable-debug-command",
            "yes",
            "--repl-diskless-sync",
            diskless,
            "--repl-diskless-sync-delay",
            "0",
        ],
    )
    .unwrap()
}

fn start_tandem(extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    ServerProcess::start(Flavor::Tandem, &args).unwrap()
}

fn start_tandem_replica_of(master: &ServerProcess, extra: &[&str]) -> ServerProcess {
    let port = master.port().to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(extra);
    start_tandem(&args)
}

/// Every type in several databases, some keys with a TTL (loaded from the RDB).
fn dataset(m: &mut RespConn) {
    for db in ["0", "3", "9"] {
        ok(m, &["SELECT", db]);
        ok(m, &["DEBUG", "POPULATE", "200", &format!("pop{db}"), "16"]);
        for i in 0..20 {
            let k = format!("key:{db}:{i}");
            ok(m, &["SET", &k, &format!("value-{i}")]);
        }
        ok(m, &["SET", &format!("ttl:{db}"), "v", "EX", "1000"]);
        ok(m, &["SET", &format!("int:{db}"), "12345"]);
        ok(m, &["RPUSH", &format!("list:{db}"), "a", "b", "c"]);
        ok(m, &["HSET", &format!("hash:{db}"), "f1", "v1", "f2", "2"]);
        ok(m, &["SADD", &format!("set:{db}"), "x", "y", "1", "2"]);
        ok(
            m,
            &["ZADD", &format!("zset:{db}"), "1", "one", "2.5", "two"],
        );
        ok(m, &["PEXPIRE", &format!("list:{db}"), "900000"]);
    }
    ok(m, &["SELECT", "0"]);
}

fn assert_readonly(r: &mut RespConn) {
    let w = cmds(r, &["SET", "nope", "1"]);
    assert_eq!(
        text(&w),
        "READONLY You can't write against a read only replica."
    );
    // Reads are fine.
    assert!(!cmds(r, &["GET", "a"]).is_error());
}

fn replica_of_redis_at_startup(disk: bool) {
    let master = start_redis_master(disk);
    let mut m = master.connect().unwrap();
    dataset(&mut m);
    let replica = start_tandem_replica_of(&master, &[]);
    let mut r = replica.connect().unwrap();
    assert_same_data(&mut m, &mut r);
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("slave")
    );
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );
    assert_readonly(&mut r);
    write_load(&mut m);
    expire_short_keys(&mut m);
    assert_same_data(&mut m, &mut r);
    // SWAPDB 0 9 moved `a` to database 9.
    ok(&mut r, &["SELECT", "9"]);
    assert_eq!(text(&cmds(&mut r, &["GET", "a"])), "42x");
    // The replica's own replication offset follows the master's byte for byte.
    assert_eq!(
        info_field(&mut m, "replication", "master_repl_offset"),
        info_field(&mut r, "replication", "master_repl_offset")
    );
    assert_eq!(
        info_field(&mut m, "replication", "master_replid"),
        info_field(&mut r, "replication", "master_replid")
    );
    let log = replica.stdout_log();
    for line in [
        "Partial resynchronization not possible (no cached master)",
        "MASTER <-> REPLICA sync: Flushing old data",
        "MASTER <-> REPLICA sync: Loading DB in memory",
        "MASTER <-> REPLICA sync: Finished with success",
    ] {
        assert!(log.contains(line), "missing log line {line:?} in:\n{log}");
    }
    if disk {
        assert!(log.contains("from master to disk"), "{log}");
    }
    // Disk-based load (repl-diskless-load disabled): the payload was kept as dbfilename.
    assert!(replica.dir().join("dump.rdb").exists());
}

#[test]
fn tandem_replica_of_redis_disk_sync() {
    replica_of_redis_at_startup(true);
}

#[test]
fn tandem_replica_of_redis_diskless_sync() {
    replica_of_redis_at_startup(false);
}

#[test]
fn replicaof_at_runtime_replaces_the_data_then_partial_resync_then_no_one() {
    let master = start_redis_master(false);
    let mut m = master.connect().unwrap();
    dataset(&mut m);
    let replica = start_tandem(&["--replica-lazy-flush", "yes"]);
    let mut r = replica.connect().unwrap();
    // Data of its own that the full sync must replace.
    ok(&mut r, &["SET", "mine", "1"]);
    ok(&mut r, &["SELECT", "4"]);
    ok(&mut r, &["SET", "mine4", "1"]);
    ok(&mut r, &["SELECT", "0"]);
    let port = master.port().to_string();
    assert_eq!(
        text(&cmds(&mut r, &["REPLICAOF", "127.0.0.1", &port])),
        "OK"
    );
    assert_eq!(
        text(&cmds(&mut r, &["SLAVEOF", "127.0.0.1", &port])),
        "OK Already connected to specified master"
    );
    assert_same_data(&mut m, &mut r);
    assert!(cmds(&mut r, &["GET", "mine"]).is_null());

    // ROLE, slave form.
    let role = cmds(&mut r, &["ROLE"]);
    let parts: Vec<String> = role.children.iter().map(text).collect();
    assert_eq!(
        parts[..4],
        ["slave", "127.0.0.1", port.as_str(), "connected"]
    );
    assert_eq!(
        Some(parts[4].clone()),
        info_field(&mut m, "replication", "master_repl_offset")
    );

    // The master kills the link: the replica comes back with a partial resync.
    let killed = cmds(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed.as_integer(), Some(1));
    for i in 0..20 {
        ok(&mut m, &["SET", &format!("after-kill:{i}"), "v"]);
    }
    ok(&mut m, &["INCR", "after-kill:counter"]);
    wait_until("a partial resync", || {
        info_field(&mut m, "stats", "sync_partial_ok").as_deref() == Some("1")
    });
    assert_same_data(&mut m, &mut r);
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );
    assert!(replica
        .stdout_log()
        .contains("Successful partial resynchronization with master."));

    // REPLICAOF NO ONE: a writable master that keeps the data and the master's history.
    let master_replid = info_field(&mut m, "replication", "master_replid");
    let before = digest(&mut r);
    assert_eq!(text(&cmds(&mut r, &["REPLICAOF", "NO", "ONE"])), "OK");
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("master")
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_replid2"),
        master_replid
    );
    assert_eq!(digest(&mut r), before);
    ok(&mut r, &["SET", "writable", "yes"]);
    assert_eq!(text(&cmds(&mut r, &["GET", "writable"])), "yes");
    assert_eq!(text(&cmds(&mut r, &["REPLICAOF", "NO", "ONE"])), "OK");
}

#[test]
fn replicaof_errors_and_a_master_that_is_down() {
    let dead = tandem_tests::free_port().unwrap().to_string();
    let replica = start_tandem(&["--replica-serve-stale-data", "no"]);
    let mut r = replica.connect().unwrap();
    ok(&mut r, &["SET", "k", "v"]);
    for (args, err) in [
        (
            vec!["REPLICAOF", "127.0.0.1", "x"],
            "ERR Invalid master port",
        ),
        (
            vec!["REPLICAOF", "127.0.0.1", "70000"],
            "ERR Invalid master port",
        ),
        (
            vec!["REPLICAOF", "127.0.0.1", "-1"],
            "ERR Invalid master port",
        ),
        (
            vec!["REPLICAOF", "127.0.0.1"],
            "ERR wrong number of arguments for 'replicaof' command",
        ),
    ] {
        assert_eq!(text(&cmds(&mut r, &args)), err, "{args:?}");
    }
    assert_eq!(
        text(&cmds(&mut r, &["REPLICAOF", "127.0.0.1", &dead])),
        "OK"
    );
    let masterdown =
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    assert_eq!(text(&cmds(&mut r, &["GET", "k"])), masterdown);
    assert_eq!(text(&cmds(&mut r, &["PING"])), masterdown);
    // Commands flagged `stale` still answer.
    let info = text(&cmds(&mut r, &["INFO", "replication"]));
    for line in [
        "role:slave\r\n",
        &format!("master_port:{dead}\r\n"),
        "master_link_status:down\r\n",
        "master_sync_in_progress:0\r\n",
        "master_link_down_since_seconds:-1\r\n",
        "slave_priority:100\r\n",
        "slave_read_only:1\r\n",
        "replica_announced:1\r\n",
    ] {
        assert!(info.contains(line), "{line:?} missing in {info}");
    }
    let role = cmds(&mut r, &["ROLE"]);
    let parts: Vec<String> = role.children.iter().map(text).collect();
    assert_eq!(parts[0], "slave");
    assert_eq!(parts[4], "-1");
    ok(
        &mut r,
        &["CONFIG", "SET", "replica-serve-stale-data", "yes"],
    );
    assert_eq!(text(&cmds(&mut r, &["GET", "k"])), "v");
    // Its own replicas can't sync while it has no link with its master.
    let mut sub = replica.connect().unwrap();
    assert_eq!(
        text(&cmds(&mut sub, &["PSYNC", "?", "-1"])),
        "NOMASTERLINK Can't SYNC while not connected with my master"
    );
    assert_eq!(
        text(&cmds(&mut r, &["SET", "k", "w"])),
        "READONLY You can't write against a read only replica."
    );
    ok(&mut r, &["CONFIG", "SET", "replica-read-only", "no"]);
    ok(&mut r, &["SET", "k", "w"]);
    assert_eq!(text(&cmds(&mut r, &["REPLICAOF", "NO", "ONE"])), "OK");
    assert_eq!(text(&cmds(&mut r, &["GET", "k"])), "w");
}

#[test]
fn a_restarted_replica_continues_partially_from_its_rdb() {
    let master = ServerProcess::start(
        Flavor::Redis,
        &[
            "--enable-debug-command",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
            "--repl-backlog-size",
            "64mb",
        ],
    )
    .unwrap();
    let mut m = master.connect().unwrap();
    dataset(&mut m);
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap().to_string();
    let mut replica = start_tandem_replica_of(&master, &["--dir", &dir_arg]);
    let mut r = replica.connect().unwrap();
    assert_same_data(&mut m, &mut r);
    write_load(&mut m);
    assert_same_data(&mut m, &mut r);
    let full_before = info_field(&mut m, "stats", "sync_full");
    let partial_before = info_field(&mut m, "stats", "sync_partial_ok");
    // SHUTDOWN SAVE: the RDB carries repl-id / repl-offset / repl-stream-db.
    let _ = r.command(&["SHUTDOWN", "SAVE"]);
    assert!(
        replica
            .wait_timeout(Duration::from_secs(30))
            .unwrap()
            .is_some(),
        "the replica did not exit"
    );
    let first_log = replica.stdout_log();
    drop(replica);
    assert!(dir.path().join("dump.rdb").exists(), "{first_log}");
    // The master moves on while the replica is away (database 0, the stream's current one).
    ok(&mut m, &["SELECT", "0"]);
    for i in 0..50 {
        ok(&mut m, &["SET", &format!("while-away:{i}"), "v"]);
    }
    ok(&mut m, &["DEL", "key:0:3"]);

    let replica = start_tandem_replica_of(&master, &["--dir", &dir_arg]);
    let mut r = replica.connect().unwrap();
    wait_until("a partial resync after the restart", || {
        info_field(&mut m, "stats", "sync_partial_ok") != partial_before
    });
    assert_same_data(&mut m, &mut r);
    assert_eq!(info_field(&mut m, "stats", "sync_full"), full_before);
    assert_eq!(
        info_field(&mut m, "replication", "master_repl_offset"),
        info_field(&mut r, "replication", "master_repl_offset")
    );
    let log = replica.stdout_log();
    for line in [
        "synthesize a cached master",
        "Successful partial resynchronization with master.",
    ] {
        assert!(log.contains(line), "missing log line {line:?} in:\n{log}");
    }
}

#[test]
fn a_redis_sub_replica_of_a_tandem_replica_gets_the_stream() {
    let master = start_redis_master(false);
    let mut m = master.connect().unwrap();
    dataset(&mut m);
    let replica = start_tandem_replica_of(&master, &[]);
    let mut r = replica.connect().unwrap();
    assert_same_data(&mut m, &mut r);
    let rport = replica.port().to_string();
    let sub = ServerProcess::start(
        Flavor::Redis,
        &[
            "--enable-debug-command",
            "yes",
            "--replicaof",
            "127.0.0.1",
            &rport,
        ],
    )
    .unwrap();
    let mut s = sub.connect().unwrap();
    assert_same_data(&mut m, &mut s);
    // The live stream goes down the chain byte for byte: same ids, same offsets.
    write_load(&mut m);
    expire_short_keys(&mut m);
    assert_same_data(&mut m, &mut r);
    assert_same_data(&mut m, &mut s);
    assert_eq!(
        info_field(&mut m, "replication", "master_replid"),
        info_field(&mut s, "replication", "master_replid")
    );
    assert_eq!(
        info_field(&mut m, "replication", "master_repl_offset"),
        info_field(&mut s, "replication", "master_repl_offset")
    );
}

/// A value the master stored compactly stays compact on the replica even where the
/// replica's own limits would not allow it (Redis's loader goes by the RDB object type of
/// a hash or sorted set, only by its size for a set). Both a Tandem and a Redis replica,
/// with small `*-max-listpack-value` / `set-max-intset-entries`, load the same master.
#[test]
fn a_full_sync_keeps_the_encodings_redis_keeps() {
    let master = start_redis_master(true);
    let mut m = master.connect().unwrap();
    let long = "0123456789abcdefghij";
    ok(&mut m, &["HSET", "h", "f", long]);
    ok(&mut m, &["ZADD", "z", "1", long]);
    ok(&mut m, &["SADD", "s", "1", "2", "3"]);
    ok(&mut m, &["RPUSH", "l", long]);
    let port = master.port().to_string();
    let limits = [
        "--hash-max-listpack-value",
        "8",
        "--zset-max-listpack-value",
        "8",
        "--set-max-intset-entries",
        "2",
    ];
    let mut redis_args = vec![
        "--enable-debug-command",
        "yes",
        "--replicaof",
        "127.0.0.1",
        &port,
    ];
    redis_args.extend_from_slice(&limits);
    let redis = ServerProcess::start(Flavor::Redis, &redis_args).unwrap();
    let tandem = start_tandem_replica_of(&master, &limits);
    let (mut rr, mut tr) = (redis.connect().unwrap(), tandem.connect().unwrap());
    assert_same_data(&mut m, &mut rr);
    assert_same_data(&mut m, &mut tr);
    for key in ["h", "z", "s", "l"] {
        let want = text(&cmds(&mut rr, &["OBJECT", "ENCODING", key]));
        let got = text(&cmds(&mut tr, &["OBJECT", "ENCODING", key]));
        assert_eq!(got, want, "OBJECT ENCODING {key}");
    }
}
