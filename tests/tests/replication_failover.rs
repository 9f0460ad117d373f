//! FAILOVER (Redis 7.0.15's coordinated failover) between tandem-server and redis-server.
//!
//! * A Tandem master hands over to a Redis replica, and a Redis master to a Tandem replica
//!   (and Tandem to Tandem): after FAILOVER the old master is a replica of the new one,
//!   which accepted `PSYNC ... FAILOVER` and answered it with a partial resync (no full
//!   sync on either side: `sync_full` stays, `sync_partial_ok` grows by one on the new
//!   master), a write the pause held back gets `-READONLY`, writes on the new master reach
//!   the old one, and DEBUG DIGEST is equal on both.
//! * The error replies, the INFO `master_failover_state` values and the ROLE changes of a
//!   scripted session (no replicas, bad arguments, FORCE without a timeout, a replica
//!   that is not online, a target that never catches up, ABORT in both states, a PSYNC
//!   FAILOVER with the wrong replication id) are the same on both servers.
//!
//! No timing assertions: every wait is a bounded poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::probe::{assert_same_data, cmds, info_field, ok, pipeline, text, wait_until};
use tandem_tests::{Flavor, Reply, RespConn, ServerProcess};

fn start(flavor: Flavor, replica_of: Option<&ServerProcess>) -> ServerProcess {
    let mut args: Vec<String> = [
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(m) = replica_of {
        args.extend([
            "--replicaof".into(),
            "127.0.0.1".into(),
            m.port().to_string(),
        ]);
    }
    ServerProcess::start(flavor, &args).unwrap()
}

fn stat(conn: &mut RespConn, name: &str) -> u64 {
    info_field(conn, "stats", name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO stats has no {name}"))
}

fn repl(conn: &mut RespConn, name: &str) -> String {
    info_field(conn, "replication", name).unwrap_or_default()
}

/// A reply as one line: errors keep their `-`, aggregates are bracketed.
fn show(f: &tandem_tests::Frame) -> String {
    if f.is_null() {
        return "(nil)".into();
    }
    match f.kind {
        b'-' => format!("-{}", text(f)),
        b'*' => format!(
            "[{}]",
            f.children.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        _ => text(f),
    }
}

fn small_dataset(m: &mut RespConn) {
    let batch: Vec<Vec<String>> = [
        vec!["SET", "s", "v"],
        vec!["RPUSH", "l", "a", "b", "c"],
        vec!["HSET", "h", "f", "1", "g", "2"],
        vec!["SADD", "set", "1", "2", "x"],
        vec!["ZADD", "z", "1", "a", "2.5", "b"],
        vec!["SELECT", "3"],
        vec!["INCRBY", "n", "41"],
        vec!["SELECT", "0"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    pipeline(m, &batch);
}

/// Waits (bounded) until the master lists its replica as `state=online`: FAILOVER refuses a
/// replica the master has not yet seen acknowledge the end of its sync.
fn wait_replica_online(m: &mut RespConn) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let info = text(&cmds(m, &["INFO", "replication"]));
        if info.contains("state=online") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica never online: {info}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `master` runs FAILOVER `args` (target named by the test) towards its only replica.
fn coordinated(master: Flavor, replica: Flavor, with_target: bool) {
    let mn = start(master, None);
    let mut m = mn.connect().unwrap();
    small_dataset(&mut m);
    let rn = start(replica, Some(&mn));
    let mut r = rn.connect().unwrap();
    assert_same_data(&mut m, &mut r);
    wait_replica_online(&mut m);

    let m_full = stat(&mut m, "sync_full");
    let r_full = stat(&mut r, "sync_full");
    let r_partial = stat(&mut r, "sync_partial_ok");
    let old_id = repl(&mut m, "master_replid");
    let rport = rn.port().to_string();
    let mut args = vec!["FAILOVER"];
    if with_target {
        args.extend(["TO", "127.0.0.1", &rport, "TIMEOUT", "30000"]);
    }
    assert_eq!(text(&cmds(&mut m, &args)), "OK");
    // A write sent now is held back by the pause; once the failover is done it meets a
    // replica.
    let mut w = mn.connect().unwrap();
    w.send(&["SET", "held", "back"]).unwrap();

    wait_until("the failover to end", || {
        repl(&mut m, "master_failover_state") == "no-failover"
            && repl(&mut m, "role") == "slave"
            && repl(&mut m, "master_link_status") == "up"
            && repl(&mut r, "role") == "master"
    });
    match w.read_reply().unwrap() {
        Reply::Frame(f) => assert_eq!(
            show(&f),
            "-READONLY You can't write against a read only replica."
        ),
        Reply::Closed => panic!("the held write's connection closed"),
    }
    assert_eq!(repl(&mut m, "master_port"), rport);
    assert_eq!(repl(&mut r, "master_failover_state"), "no-failover");
    // The new master continued the old history: the old id is its replid2.
    assert_eq!(repl(&mut r, "master_replid2"), old_id);
    assert_eq!(
        stat(&mut r, "sync_partial_ok"),
        r_partial + 1,
        "new master's log:\n{}\nold master's log:\n{}",
        rn.stdout_log(),
        mn.stdout_log()
    );
    assert_eq!(stat(&mut r, "sync_full"), r_full, "{}", rn.stdout_log());
    assert_eq!(stat(&mut m, "sync_full"), m_full, "{}", mn.stdout_log());

    // Writes on the new master reach the old one.
    small_dataset(&mut r);
    ok(&mut r, &["LPUSH", "after", "failover"]);
    ok(&mut r, &["SELECT", "5"]);
    ok(&mut r, &["SET", "k5", "v5"]);
    assert_same_data(&mut r, &mut m);
    assert_eq!(repl(&mut m, "master_replid"), repl(&mut r, "master_replid"));
}

#[test]
fn tandem_master_fails_over_to_redis_replica() {
    coordinated(Flavor::Tandem, Flavor::Redis, false);
}

#[test]
fn redis_master_fails_over_to_tandem_replica() {
    coordinated(Flavor::Redis, Flavor::Tandem, true);
}

#[test]
fn tandem_master_fails_over_to_tandem_replica() {
    coordinated(Flavor::Tandem, Flavor::Tandem, true);
}

/// Runs `args` and records `args -> reply`.
fn step(log: &mut Vec<String>, conn: &mut RespConn, args: &[&str]) {
    let reply = cmds(conn, args);
    log.push(format!("{} -> {}", args.join(" "), show(&reply)));
}

/// A connection posing as a replica that listens on `port`, attached with a partial
/// resync (so it is online at once) and that never acknowledges anything.
fn silent_replica(node: &ServerProcess, port: &str) -> RespConn {
    let mut m = node.connect().unwrap();
    let id = repl(&mut m, "master_replid");
    let offset: i64 = repl(&mut m, "master_repl_offset").parse().unwrap();
    let mut f = node.connect().unwrap();
    ok(&mut f, &["REPLCONF", "listening-port", port]);
    ok(&mut f, &["REPLCONF", "capa", "eof", "capa", "psync2"]);
    let reply = cmds(&mut f, &["PSYNC", &id, &(offset + 1).to_string()]);
    assert!(text(&reply).starts_with("CONTINUE"), "{}", show(&reply));
    f
}

/// The scripted session on a master of `flavor` (and a replica of the same flavor).
fn error_session(flavor: Flavor) -> Vec<String> {
    let mn = start(flavor, None);
    let mut m = mn.connect().unwrap();
    let mut log = Vec::new();
    for args in [
        &["FAILOVER"][..],
        &["FAILOVER", "ABORT"],
        &["FAILOVER", "TIMEOUT", "0"],
        &["FAILOVER", "TIMEOUT", "-5"],
        &["FAILOVER", "TIMEOUT", "soon"],
        &["FAILOVER", "TO", "127.0.0.1", "port"],
        &["FAILOVER", "TO", "127.0.0.1"],
        &["FAILOVER", "FOO"],
        &["FAILOVER", "FORCE", "FORCE"],
        &["FAILOVER", "TIMEOUT", "10", "TIMEOUT", "10"],
        &["FAILOVER", "TO", "a", "1", "TO", "b", "2"],
        &["FAILOVER", "ABORT", "TIMEOUT", "10"],
        &["FAILOVER", "FORCE"],
        &["PSYNC", "?", "-1", "FAILOVER"],
    ] {
        step(&mut log, &mut m, args);
    }
    log.push(format!("state {}", repl(&mut m, "master_failover_state")));

    let rn = start(flavor, Some(&mn));
    let mut r = rn.connect().unwrap();
    // Some stream, so that a replica that never acknowledged is behind.
    ok(&mut m, &["SET", "k", "v"]);
    assert_same_data(&mut m, &mut r);
    let rport = rn.port().to_string();
    for args in [
        &["FAILOVER", "FORCE"][..],
        &["FAILOVER", "FORCE", "TIMEOUT", "100"],
        &["FAILOVER", "TO", "127.0.0.1", &rport, "FORCE"],
        &["FAILOVER", "TO", "127.0.0.1", "1"],
        &["FAILOVER", "TO", "localhost", &rport],
    ] {
        step(&mut log, &mut m, args);
    }
    step(&mut log, &mut r, &["FAILOVER"]);
    step(&mut log, &mut r, &["FAILOVER", "ABORT"]);
    step(
        &mut log,
        &mut r,
        &[
            "PSYNC",
            "0123456789012345678901234567890123456789",
            "1",
            "FAILOVER",
        ],
    );
    log.push(format!("replica role {}", repl(&mut r, "role")));

    // A replica still waiting for its full sync is not online.
    ok(
        &mut m,
        &["CONFIG", "SET", "repl-diskless-sync-delay", "3600"],
    );
    let mut waiting = mn.connect().unwrap();
    ok(&mut waiting, &["REPLCONF", "listening-port", "2"]);
    ok(&mut waiting, &["REPLCONF", "capa", "eof", "capa", "psync2"]);
    waiting.send(&["PSYNC", "?", "-1"]).unwrap();
    wait_until("the full sync to be pending", || {
        text(&cmds(&mut m, &["INFO", "replication"])).contains("port=2,state=wait_bgsave")
    });
    step(&mut log, &mut m, &["FAILOVER", "TO", "127.0.0.1", "2"]);
    drop(waiting);
    ok(&mut m, &["CONFIG", "SET", "repl-diskless-sync-delay", "0"]);

    // A target that never acknowledges: the failover waits until aborted.
    let _silent = silent_replica(&mn, "1");
    step(
        &mut log,
        &mut m,
        &["FAILOVER", "TO", "127.0.0.1", "1", "TIMEOUT", "60000"],
    );
    log.push(format!("state {}", repl(&mut m, "master_failover_state")));
    step(&mut log, &mut m, &["FAILOVER"]);
    step(&mut log, &mut m, &["FAILOVER", "ABORT", "TIMEOUT", "10"]);
    step(&mut log, &mut m, &["REPLICAOF", "NO", "ONE"]);
    step(&mut log, &mut m, &["REPLICAOF", "127.0.0.1", "1"]);
    let mut other = mn.connect().unwrap();
    step(&mut log, &mut other, &["PSYNC", "?", "-1"]);
    step(&mut log, &mut other, &["GET", "nothing"]);
    step(&mut log, &mut m, &["FAILOVER", "ABORT"]);
    log.push(format!("state {}", repl(&mut m, "master_failover_state")));
    step(&mut log, &mut other, &["SET", "after", "abort"]);

    // FORCE: past the timeout the master turns into a replica of the target anyway; the
    // target never answers, so the failover stays in progress until aborted.
    step(
        &mut log,
        &mut m,
        &[
            "FAILOVER",
            "TO",
            "127.0.0.1",
            "1",
            "FORCE",
            "TIMEOUT",
            "100",
        ],
    );
    assert!(
        log.last().unwrap().ends_with("-> OK"),
        "{flavor:?}: {log:#?}"
    );
    wait_until("the forced failover", || {
        repl(&mut m, "master_failover_state") == "failover-in-progress"
    });
    log.push(format!(
        "forced: role {} master {}:{}",
        repl(&mut m, "role"),
        repl(&mut m, "master_host"),
        repl(&mut m, "master_port")
    ));
    step(&mut log, &mut m, &["FAILOVER"]);
    step(&mut log, &mut m, &["FAILOVER", "ABORT"]);
    log.push(format!(
        "aborted: role {} state {}",
        repl(&mut m, "role"),
        repl(&mut m, "master_failover_state")
    ));
    step(&mut log, &mut other, &["SET", "after", "force"]);
    // The replica's port differs between the two sessions.
    log.iter().map(|l| l.replace(&rport, "<port>")).collect()
}

#[test]
fn errors_match_redis() {
    let redis = error_session(Flavor::Redis);
    let tandem = error_session(Flavor::Tandem);
    for (i, (want, got)) in redis.iter().zip(&tandem).enumerate() {
        assert_eq!(got, want, "step {i}");
    }
    assert_eq!(tandem.len(), redis.len());
}
