//! Small helpers the integration tests share to drive a server and wait for it: send a
//! command, read an INFO field, poll a condition with a bound, compare DEBUG DIGESTs.

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
