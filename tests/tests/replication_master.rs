//! A real redis-server 7.0.15 replicating from tandem-server, as it would from Redis:
//! full sync (diskless and disk), the live stream across databases with MULTI/EXEC and
//! expiries, a partial resync after `CLIENT KILL TYPE replica`, writes made while a
//! transfer is held open (`rdb-key-save-delay`), WAIT, ROLE, REPLCONF errors and
//! `min-replicas-to-write`.
//!
//! Consistency is checked with DEBUG DIGEST on both servers once the replica's
//! `slave_repl_offset` equals the master's `master_repl_offset`. No timing assertions:
//! every wait is a bounded poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::probe::{
    assert_same_data, cmds, expire_short_keys, info_field, ok, text, wait_in_sync, wait_until,
    write_load,
};
use tandem_tests::{Flavor, RespConn, ServerProcess};

fn start_master(extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    ServerProcess::start(Flavor::Tandem, &args).unwrap()
}

fn start_replica(master: &ServerProcess) -> ServerProcess {
    ServerProcess::redis_replica_of(master).unwrap()
}

/// Strings in several databases, some with a TTL.
fn dataset(m: &mut RespConn) {
    for db in ["0", "3", "9"] {
        ok(m, &["SELECT", db]);
        for i in 0..50 {
            let k = format!("key:{db}:{i}");
            ok(m, &["SET", &k, &format!("value-{i}")]);
        }
        ok(m, &["SET", &format!("ttl:{db}"), "v", "EX", "1000"]);
        ok(m, &["SET", &format!("int:{db}"), "12345"]);
    }
    ok(m, &["SELECT", "0"]);
}

fn full_sync_then_stream(extra: &[&str]) {
    let master = start_master(extra);
    let mut m = master.connect().unwrap();
    dataset(&mut m);
    let replica = start_replica(&master);
    let mut r = replica.connect().unwrap();
    assert_same_data(&mut m, &mut r);
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );
    write_load(&mut m);
    expire_short_keys(&mut m);
    assert_same_data(&mut m, &mut r);
    // SWAPDB 0 9 moved `a` to database 9.
    ok(&mut r, &["SELECT", "9"]);
    assert_eq!(
        text(&cmds(&mut r, &["GET", "a"])),
        "42x",
        "the write load reached the replica"
    );
    let info = text(&cmds(&mut m, &["INFO", "replication"]));
    assert!(info.contains("connected_slaves:1"), "{info}");
    assert!(info.contains(",state=online,"), "{info}");
    assert!(info.contains("repl_backlog_active:1"), "{info}");
    // As in Redis, an attached replica is not a connected client: only this connection.
    assert_eq!(
        info_field(&mut m, "clients", "connected_clients").as_deref(),
        Some("1")
    );
}

#[test]
fn diskless_full_sync_then_stream() {
    full_sync_then_stream(&["--repl-diskless-sync-delay", "0"]);
}

#[test]
fn disk_full_sync_then_stream() {
    full_sync_then_stream(&["--repl-diskless-sync", "no"]);
}

#[test]
fn partial_resync_after_client_kill() {
    let master = start_master(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.connect().unwrap();
    dataset(&mut m);
    let replica = start_replica(&master);
    let mut r = replica.connect().unwrap();
    assert_same_data(&mut m, &mut r);
    let killed = cmds(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed.as_integer(), Some(1));
    for i in 0..20 {
        ok(&mut m, &["SET", &format!("after-kill:{i}"), "v"]);
    }
    wait_until("a partial resync", || {
        info_field(&mut m, "stats", "sync_partial_ok").as_deref() == Some("1")
    });
    assert_same_data(&mut m, &mut r);
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );
    assert!(master
        .stdout_log()
        .contains("Partial resynchronization request from 127.0.0.1:"));
}

#[test]
fn writes_during_a_held_transfer_arrive() {
    let master = start_master(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.connect().unwrap();
    ok(&mut m, &["DEBUG", "POPULATE", "300", "pop", "10"]);
    // 5 ms per key: the transfer stays open for about 1.5 s.
    ok(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "5000"]);
    let replica = start_replica(&master);
    let mut r = replica.connect().unwrap();
    wait_until("the transfer to start", || {
        text(&cmds(&mut m, &["INFO", "replication"])).contains("state=wait_bgsave")
    });
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("during:{i}"), &i.to_string()]);
    }
    ok(&mut m, &["SELECT", "2"]);
    ok(&mut m, &["DEL", "pop:1"]);
    ok(&mut m, &["SET", "db2", "x"]);
    ok(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    assert_same_data(&mut m, &mut r);
    assert_eq!(text(&cmds(&mut r, &["GET", "during:99"])), "99");
    ok(&mut r, &["SELECT", "2"]);
    assert_eq!(text(&cmds(&mut r, &["GET", "db2"])), "x");
}

#[test]
fn wait_and_role_with_one_replica() {
    let master = start_master(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.connect().unwrap();
    let replica = start_replica(&master);
    let mut r = replica.connect().unwrap();
    wait_in_sync(&mut m, &mut r);
    ok(&mut m, &["SET", "k", "v"]);
    let n = cmds(&mut m, &["WAIT", "1", "5000"]);
    assert_eq!(n.as_integer(), Some(1));
    // More replicas than there are: times out with the count.
    let n = cmds(&mut m, &["WAIT", "2", "100"]);
    assert_eq!(n.as_integer(), Some(1));
    wait_in_sync(&mut m, &mut r);
    let role = cmds(&mut m, &["ROLE"]);
    let bytes = role.to_bytes();
    let s = String::from_utf8_lossy(&bytes);
    assert!(s.starts_with("*3\r\n$6\r\nmaster\r\n:"), "{s}");
    assert!(
        s.contains(&format!(
            "${}\r\n{}\r\n",
            replica.port().to_string().len(),
            replica.port()
        )),
        "{s}"
    );
    let list = text(&cmds(&mut m, &["CLIENT", "LIST", "TYPE", "replica"]));
    assert!(list.contains("flags=S "), "{list}");
}

#[test]
fn replconf_errors_and_min_replicas() {
    let master = start_master(&[]);
    let mut m = master.connect().unwrap();
    let r = cmds(&mut m, &["REPLCONF", "nosuch", "x"]);
    assert_eq!(text(&r), "ERR Unrecognized REPLCONF option: nosuch");
    let r = cmds(&mut m, &["REPLCONF", "listening-port"]);
    assert_eq!(text(&r), "ERR syntax error");
    ok(
        &mut m,
        &[
            "REPLCONF",
            "listening-port",
            "1234",
            "capa",
            "eof",
            "capa",
            "psync2",
        ],
    );
    let r = cmds(&mut m, &["PSYNC", "?", "notanumber"]);
    assert_eq!(text(&r), "ERR value is not an integer or out of range");
    ok(&mut m, &["CONFIG", "SET", "min-replicas-to-write", "1"]);
    let r = cmds(&mut m, &["SET", "k", "v"]);
    assert_eq!(text(&r), "NOREPLICAS Not enough good replicas to write.");
    assert!(!cmds(&mut m, &["GET", "k"]).is_error());
    ok(&mut m, &["CONFIG", "SET", "min-replicas-to-write", "0"]);
    ok(&mut m, &["SET", "k", "v"]);
    assert_eq!(
        info_field(&mut m, "replication", "connected_slaves").as_deref(),
        Some("0")
    );
}
