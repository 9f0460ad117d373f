//! Pub/Sub across replication, against real Redis both ways: a message PUBLISHed (or
//! SPUBLISHed) on a master reaches the subscribers of its replica, whichever of the two
//! is tandem-server, because both propagate PUBLISH in the replication stream. And a
//! subscriber that stops reading is disconnected by `client-output-buffer-limit pubsub`,
//! by both servers alike.
//! Every read is bounded by the connection's read timeout, every wait by a poll limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::probe::{cmds, text, wait_in_sync, wait_until};
use tandem_tests::resp::{Frame, Reply};
use tandem_tests::{Flavor, RespConn, ServerProcess};

fn next_push(conn: &mut RespConn) -> Vec<String> {
    match conn.read_reply().unwrap() {
        Reply::Frame(f) => f.children.iter().map(text).collect(),
        Reply::Closed => panic!("connection closed instead of a message"),
    }
}

fn words(f: &Frame) -> Vec<String> {
    f.children.iter().map(text).collect()
}

fn published_on_master_reach_replica_subscribers(master: Flavor, replica: Flavor) {
    let m_srv = ServerProcess::start(master, &["--save", ""]).unwrap();
    let port = m_srv.port().to_string();
    let r_srv = ServerProcess::start(replica, &["--replicaof", "127.0.0.1", &port]).unwrap();
    let mut m = m_srv.connect().unwrap();
    let mut r = r_srv.connect().unwrap();
    wait_in_sync(&mut m, &mut r);

    let mut sub = r_srv.connect().unwrap();
    assert_eq!(
        words(&cmds(&mut sub, &["SUBSCRIBE", "news"])),
        ["subscribe", "news", "1"]
    );
    assert_eq!(
        words(&cmds(&mut sub, &["PSUBSCRIBE", "n*"])),
        ["psubscribe", "n*", "2"]
    );
    let mut ssub = r_srv.connect().unwrap();
    assert_eq!(
        words(&cmds(&mut ssub, &["SSUBSCRIBE", "shard"])),
        ["ssubscribe", "shard", "1"]
    );

    // No subscriber on the master itself: PUBLISH counts 0 there, and is propagated.
    assert_eq!(
        cmds(&mut m, &["PUBLISH", "news", "hello"]).as_integer(),
        Some(0)
    );
    assert_eq!(next_push(&mut sub), ["message", "news", "hello"]);
    assert_eq!(next_push(&mut sub), ["pmessage", "n*", "news", "hello"]);
    assert_eq!(
        cmds(&mut m, &["SPUBLISH", "shard", "sharded"]).as_integer(),
        Some(0)
    );
    assert_eq!(next_push(&mut ssub), ["smessage", "shard", "sharded"]);
    // The stream stays in step (PUBLISH advanced both offsets alike).
    wait_in_sync(&mut m, &mut r);
    assert_eq!(text(&cmds(&mut r, &["PUBSUB", "NUMPAT"])), "1");
}

#[test]
fn tandem_master_publishes_to_redis_replica_subscribers() {
    published_on_master_reach_replica_subscribers(Flavor::Tandem, Flavor::Redis);
}

#[test]
fn redis_master_publishes_to_tandem_replica_subscribers() {
    published_on_master_reach_replica_subscribers(Flavor::Redis, Flavor::Tandem);
}

/// A subscriber that stops reading is disconnected once what waits for it passes the
/// `pubsub` class's hard limit, on both servers; the server goes on.
fn slow_subscriber_is_dropped(flavor: Flavor) {
    let srv = ServerProcess::start(
        flavor,
        &["--client-output-buffer-limit", "pubsub 1mb 512kb 60"],
    )
    .unwrap();
    let mut sub = srv.connect().unwrap();
    assert_eq!(
        words(&cmds(&mut sub, &["SUBSCRIBE", "flood"])),
        ["subscribe", "flood", "1"]
    );
    // From here on `sub` reads nothing.
    let mut p = srv.connect().unwrap();
    let payload = "x".repeat(100_000);
    wait_until("the slow subscriber to be dropped", || {
        cmds(&mut p, &["PUBLISH", "flood", &payload]);
        let numsub = cmds(&mut p, &["PUBSUB", "NUMSUB", "flood"]);
        numsub.children.get(1).and_then(Frame::as_integer) == Some(0)
    });
    assert_eq!(text(&cmds(&mut p, &["PING"])), "PONG");
    drop(sub);
}

#[test]
fn slow_subscriber_is_dropped_by_tandem() {
    slow_subscriber_is_dropped(Flavor::Tandem);
}

#[test]
fn slow_subscriber_is_dropped_by_redis() {
    slow_subscriber_is_dropped(Flavor::Redis);
}
