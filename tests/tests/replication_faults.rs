//! Faults on the link of a tandem-server replica with a real redis-server 7.0.15 master,
//! each its own test: the link cut in the middle of a transfer (`CLIENT KILL TYPE
//! replica` on the master while `rdb-key-save-delay` holds the transfer open), a master
//! that stops answering (SIGSTOP, with `repl-timeout 2` on the replica, then SIGCONT),
//! and a master restarted with a new replication id (a full resync).
//!
//! In each, the replica logs the failure, keeps serving the last complete dataset it
//! had, removes its `temp-<unixtime>.<pid>.rdb`, resyncs by itself, and ends with the
//! master's DEBUG DIGEST and no temp file left in its `dir`.
//! No timing assertions: every wait is a bounded poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use tandem_tests::files::temp_files;
use tandem_tests::probe::{cmds, digest, info_field, ok, text, wait_in_sync, wait_until};
use tandem_tests::{Flavor, RespConn, ServerBuilder, ServerProcess};

/// Keys of the master's dataset, and the per-key save delay (µs) that keeps a transfer
/// open for about two seconds.
const KEYS: &str = "1000";
const SLOW_SAVE_US: &str = "2000";

fn redis_master_args() -> Vec<&'static str> {
    vec![
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]
}

fn start_redis_master() -> ServerProcess {
    ServerProcess::start(Flavor::Redis, &redis_master_args()).unwrap()
}

fn start_tandem(extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    ServerProcess::start(Flavor::Tandem, &args).unwrap()
}

/// A replica with data of its own, then REPLICAOF a master whose transfer is held open;
/// returns once the payload is arriving (a temp file exists, bytes were read); the
/// temp file's name. The old data still serves.
fn start_slow_sync(m: &mut RespConn, master: &ServerProcess, replica: &ServerProcess) -> String {
    // 100-byte values: the master's first buffered write comes after a few keys.
    ok(m, &["DEBUG", "POPULATE", KEYS, "key", "100"]);
    ok(m, &["CONFIG", "SET", "rdb-key-save-delay", SLOW_SAVE_US]);
    let mut r = replica.connect().unwrap();
    ok(&mut r, &["SET", "mine", "1"]);
    let port = master.port().to_string();
    ok(&mut r, &["REPLICAOF", "127.0.0.1", &port]);
    let mut temp = Vec::new();
    wait_until("the transfer to be under way", || {
        temp = temp_files(replica.dir());
        let read = info_field(&mut r, "replication", "master_sync_read_bytes")
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0);
        !temp.is_empty() && read > 0
    });
    // Clients still see the last complete dataset: the replica's own.
    assert_eq!(text(&cmds(&mut r, &["GET", "mine"])), "1");
    assert!(cmds(&mut r, &["GET", "key:1"]).is_null());
    temp.remove(0)
}

/// The replica ends in sync with the master, its own data gone and no temp file left.
fn assert_recovered(m: &mut RespConn, replica: &ServerProcess, failed_temp: &str) {
    let mut r = replica.connect().unwrap();
    same_data(m, &mut r);
    assert!(cmds(&mut r, &["GET", "mine"]).is_null());
    assert!(
        !replica.dir().join(failed_temp).exists(),
        "{failed_temp} left behind"
    );
    wait_until("no temp file left", || temp_files(replica.dir()).is_empty());
    // The next writes arrive too.
    ok(m, &["SELECT", "0"]);
    ok(m, &["SET", "after", "recovery"]);
    ok(m, &["INCR", "counter"]);
    load(m);
    same_data(m, &mut r);
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

#[test]
fn link_cut_mid_transfer() {
    let master = start_redis_master();
    let mut m = master.connect().unwrap();
    let replica = start_tandem(&[]);
    let temp = start_slow_sync(&mut m, &master, &replica);
    // The next sync is fast; the running transfer keeps its delay until it is cut.
    ok(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    let killed = cmds(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed.as_integer(), Some(1));
    let logged = || {
        replica
            .stdout_log()
            .contains("I/O error trying to sync with MASTER: connection lost")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !logged() {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica did not log the cut:\n{}",
            replica.stdout_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_recovered(&mut m, &replica, &temp);
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("2")
    );
}

/// Stops a process with SIGSTOP and lets it continue when dropped (also on panic).
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Stopped {
        signal("-STOP", pid);
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(sig: &str, pid: u32) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[test]
fn master_that_stops_answering() {
    let master = start_redis_master();
    let mut m = master.connect().unwrap();
    let replica = start_tandem(&["--repl-timeout", "2"]);
    let temp = start_slow_sync(&mut m, &master, &replica);
    {
        let _stopped = Stopped::new(master.pid());
        wait_until("the replica to time out", || {
            replica
                .stdout_log()
                .contains("Timeout receiving bulk data from MASTER")
        });
        let mut r = replica.connect().unwrap();
        // The last complete dataset still serves, and the partial payload is gone.
        assert_eq!(text(&cmds(&mut r, &["GET", "mine"])), "1");
        wait_until("the temp file to be removed", || {
            !replica.dir().join(&temp).exists()
        });
        assert_eq!(
            info_field(&mut r, "replication", "master_link_status").as_deref(),
            Some("down")
        );
    }
    ok(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    assert_recovered(&mut m, &replica, &temp);
}

#[test]
fn master_restarted_with_a_new_replid() {
    let mut master = start_redis_master();
    let port = master.port();
    let mut m = master.connect().unwrap();
    ok(&mut m, &["DEBUG", "POPULATE", "300", "old", "10"]);
    let replica = start_tandem(&[]);
    let mut r = replica.connect().unwrap();
    ok(&mut r, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    same_data(&mut m, &mut r);
    let old_id = info_field(&mut m, "replication", "master_replid");
    drop(m);
    master
        .terminate(std::time::Duration::from_secs(10))
        .unwrap();
    drop(master);
    wait_until("the replica to notice", || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("down")
    });
    // The old dataset keeps serving while the master is away.
    assert_eq!(cmds(&mut r, &["DBSIZE"]).as_integer(), Some(300));

    let master = ServerBuilder::new(Flavor::Redis)
        .port(port)
        .args(redis_master_args())
        .start()
        .unwrap();
    let mut m = master.connect().unwrap();
    ok(&mut m, &["DEBUG", "POPULATE", "200", "new", "12"]);
    ok(&mut m, &["SELECT", "4"]);
    ok(&mut m, &["SET", "db4", "x"]);
    same_data(&mut m, &mut r);
    // A Redis master takes a new id when its first replica attaches: read it now.
    let new_id = info_field(&mut m, "replication", "master_replid");
    assert_ne!(old_id, new_id);
    assert_eq!(
        info_field(&mut r, "replication", "master_replid"),
        new_id,
        "the replica took the new history"
    );
    // It asked to continue the old history and was refused: a full resync.
    assert_eq!(
        info_field(&mut m, "stats", "sync_partial_err").as_deref(),
        Some("1")
    );
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );
    assert!(cmds(&mut r, &["GET", "old:1"]).is_null());
    assert!(temp_files(replica.dir()).is_empty());
    ok(&mut m, &["SET", "more", "1"]);
    same_data(&mut m, &mut r);
}
