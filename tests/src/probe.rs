//! Small helpers the integration tests share to drive a server and wait for it: send a
//! command, read an INFO field, poll a condition with a bound, compare DEBUG DIGESTs, and
//! the write load the replication tests send to a master.

use std::time::{Duration, Instant};

use crate::{Frame, RespConn};

/// How long [`wait_until`] polls before it fails the test.
pub const POLL_LIMIT: Duration = Duration::from_secs(60);

/// Sends a command and returns its reply; panics on an I/O error.
#[allow(clippy::unwrap_used)]
pub fn cmds(conn: &mut RespConn, args: &[&str]) -> Frame {
    conn.command(args).unwrap()
}

/// A reply as text (or its debug form when it is not a string).
pub fn text(f: &Frame) -> String {
    f.as_string().unwrap_or_else(|| format!("{f:?}"))
}

/// Sends a command that must not fail.
pub fn ok(conn: &mut RespConn, args: &[&str]) {
    let r = cmds(conn, args);
    assert!(!r.is_error(), "{args:?} -> {}", text(&r));
}

/// One field of `INFO <section>`.
pub fn info_field(conn: &mut RespConn, section: &str, name: &str) -> Option<String> {
    let info = text(&cmds(conn, &["INFO", section]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

/// Polls `f` every 20 ms until it is true; panics with `what` after [`POLL_LIMIT`].
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + POLL_LIMIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `DEBUG DIGEST` of the whole dataset.
pub fn digest(conn: &mut RespConn) -> String {
    text(&cmds(conn, &["DEBUG", "DIGEST"]))
}

/// Waits until the replica's link is up and it applied everything the master fed.
pub fn wait_in_sync(m: &mut RespConn, r: &mut RespConn) {
    wait_until("the replica to be in sync", || {
        if info_field(r, "replication", "master_link_status").as_deref() != Some("up") {
            return false;
        }
        let mo = info_field(m, "replication", "master_repl_offset");
        let ro = info_field(r, "replication", "slave_repl_offset");
        mo.is_some() && mo == ro
    });
}

/// Waits for the replica to catch up, then compares DEBUG DIGEST on both.
pub fn assert_same_data(m: &mut RespConn, r: &mut RespConn) {
    wait_in_sync(m, r);
    assert_eq!(digest(m), digest(r), "DEBUG DIGEST differs");
}

/// A mixed write load for a master: several databases, MULTI/EXEC, expiries, deletes,
/// flushes, SWAPDB. Expects the keys `key:3:1..3` and `key:9:7` to exist.
pub fn write_load(m: &mut RespConn) {
    ok(m, &["SELECT", "0"]);
    ok(m, &["SET", "a", "1"]);
    ok(m, &["INCR", "a"]);
    ok(m, &["INCRBY", "a", "40"]);
    ok(m, &["APPEND", "a", "x"]);
    ok(m, &["SELECT", "5"]);
    ok(m, &["SET", "b", "2", "PX", "100000"]);
    ok(m, &["EXPIRE", "b", "500"]);
    ok(m, &["INCRBYFLOAT", "f", "1.5"]);
    ok(m, &["MULTI"]);
    ok(m, &["SET", "t1", "x"]);
    ok(m, &["SELECT", "6"]);
    ok(m, &["SET", "t2", "y"]);
    ok(m, &["DEL", "nosuch"]);
    let r = cmds(m, &["EXEC"]);
    assert!(!r.is_error(), "{}", text(&r));
    ok(m, &["SELECT", "3"]);
    ok(m, &["DEL", "key:3:1", "key:3:2"]);
    ok(m, &["RENAME", "key:3:3", "renamed"]);
    ok(m, &["FLUSHDB"]);
    ok(m, &["SELECT", "9"]);
    ok(m, &["SETEX", "short", "1", "gone-soon"]);
    ok(m, &["PEXPIRE", "key:9:7", "1"]);
    ok(m, &["SELECT", "0"]);
    ok(m, &["SWAPDB", "0", "9"]);
}

/// Lets the short TTLs of [`write_load`] pass and makes the master delete those keys
/// (lazily, by reading them), so that the DELs travel in the stream.
pub fn expire_short_keys(m: &mut RespConn) {
    std::thread::sleep(Duration::from_millis(1200));
    ok(m, &["SELECT", "0"]);
    wait_until("the short keys to expire on the master", || {
        cmds(m, &["GET", "short"]).is_null() && cmds(m, &["GET", "key:9:7"]).is_null()
    });
}
