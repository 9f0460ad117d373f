//! Blocking commands (BLPOP & co., BZPOPMIN & co., XREAD BLOCK) against redis-server
//! 7.0.15: each scenario runs on both servers and the transcripts of replies must be equal.
//!
//! A scenario drives several connections. A blocking command is sent without reading its
//! reply; the scenario then waits (bounded poll) until INFO `blocked_clients` says the
//! client is parked, so what the other connections do next happens while it is blocked.
//! Timeouts are short (0.1 s) and only their replies are compared, never their timing.
//! The replication check reads the replication stream of each server (a raw `SYNC`
//! connection) and compares what a served blocked command propagates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tandem_tests::probe::{cmds, info_field, text, wait_until};
use tandem_tests::{escape, Flavor, Frame, Reply, RespConn, ServerProcess};

/// The replies a scenario collected, in order.
type Transcript = Vec<String>;

fn start(flavor: Flavor, extra: &[&str]) -> ServerProcess {
    ServerProcess::start(flavor, extra).unwrap()
}

/// Runs `scenario` on a fresh redis-server and a fresh tandem-server and compares.
fn same_on_both(extra: &[&str], scenario: impl Fn(&ServerProcess) -> Transcript) {
    let redis = start(Flavor::Redis, extra);
    let expected = scenario(&redis);
    drop(redis);
    let tandem = start(Flavor::Tandem, extra);
    let got = scenario(&tandem);
    assert_eq!(
        got.len(),
        expected.len(),
        "transcript lengths differ:\nredis:  {expected:#?}\ntandem: {got:#?}"
    );
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(
            g, e,
            "reply #{i} differs:\nredis:  {expected:#?}\ntandem: {got:#?}"
        );
    }
}

fn show(f: &Frame) -> String {
    escape(&f.to_bytes())
}

/// Sends a command and records its reply.
fn run(t: &mut Transcript, c: &mut RespConn, args: &[&str]) {
    let f = cmds(c, args);
    t.push(show(&f));
}

/// Reads the next reply (of a command sent earlier) and records it.
fn read(t: &mut Transcript, c: &mut RespConn) {
    match c.read_reply().unwrap() {
        Reply::Frame(f) => t.push(show(&f)),
        Reply::Closed => t.push("<closed>".into()),
    }
}

/// Switches to RESP3 (the reply holds the client id, which differs between servers).
fn hello3(c: &mut RespConn) {
    assert!(!cmds(c, &["HELLO", "3"]).is_error());
}

fn send(c: &mut RespConn, args: &[&str]) {
    c.send(args).unwrap();
}

fn blocked_clients(c: &mut RespConn) -> usize {
    info_field(c, "clients", "blocked_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Waits until exactly `n` clients are blocked.
fn wait_blocked(c: &mut RespConn, n: usize) {
    wait_until(&format!("{n} blocked clients"), || blocked_clients(c) == n);
}

fn conn(s: &ServerProcess) -> RespConn {
    s.connect().unwrap()
}

#[test]
fn blpop_is_served_by_a_later_push() {
    same_on_both(&[], |s| {
        let (mut a, mut b) = (conn(s), conn(s));
        let mut t = Transcript::new();
        send(&mut a, &["BLPOP", "k1", "k2", "0"]);
        wait_blocked(&mut b, 1);
        run(&mut t, &mut b, &["LPUSH", "other", "x"]);
        run(&mut t, &mut b, &["RPUSH", "k2", "a", "b"]);
        read(&mut t, &mut a);
        run(&mut t, &mut b, &["LRANGE", "k2", "0", "-1"]);
        t.push(blocked_clients(&mut b).to_string());
        // A RESP3 client gets the same array.
        hello3(&mut a);
        send(&mut a, &["BRPOP", "k3", "0"]);
        wait_blocked(&mut b, 1);
        run(&mut t, &mut b, &["RPUSH", "k3", "p", "q"]);
        read(&mut t, &mut a);
        // The commands pipelined after a blocked command wait for it, in order.
        a.send_raw(
            &[
                tandem_tests::resp::encode_command(&["BLPOP", "k4", "0"]),
                tandem_tests::resp::encode_command(&["SET", "after", "1"]),
                tandem_tests::resp::encode_command(&["GET", "after"]),
            ]
            .concat(),
        )
        .unwrap();
        wait_blocked(&mut b, 1);
        run(&mut t, &mut b, &["GET", "after"]);
        run(&mut t, &mut b, &["RPUSH", "k4", "v"]);
        read(&mut t, &mut a);
        read(&mut t, &mut a);
        read(&mut t, &mut a);
        t
    });
}

#[test]
fn blocked_clients_are_served_first_come_first_served() {
    same_on_both(&[], |s| {
        let (mut a, mut b, mut c) = (conn(s), conn(s), conn(s));
        let mut t = Transcript::new();
        send(&mut a, &["BLPOP", "k", "0"]);
        wait_blocked(&mut c, 1);
        send(&mut b, &["BRPOP", "k", "0"]);
        wait_blocked(&mut c, 2);
        run(&mut t, &mut c, &["RPUSH", "k", "x", "y", "z"]);
        read(&mut t, &mut a);
        read(&mut t, &mut b);
        run(&mut t, &mut c, &["LRANGE", "k", "0", "-1"]);
        // Only one element: the first blocked gets it, the second stays blocked.
        run(&mut t, &mut c, &["DEL", "k"]);
        send(&mut a, &["BLPOP", "k", "0"]);
        wait_blocked(&mut c, 1);
        send(&mut b, &["BLPOP", "k", "0"]);
        wait_blocked(&mut c, 2);
        run(&mut t, &mut c, &["RPUSH", "k", "one"]);
        read(&mut t, &mut a);
        wait_blocked(&mut c, 1);
        // A pipeline: the blocked client is served right after the push, before the pop.
        c.send_raw(
            &[
                tandem_tests::resp::encode_command(&["RPUSH", "k", "two"]),
                tandem_tests::resp::encode_command(&["LPOP", "k"]),
            ]
            .concat(),
        )
        .unwrap();
        read(&mut t, &mut c);
        read(&mut t, &mut c);
        read(&mut t, &mut b);
        t.push(blocked_clients(&mut c).to_string());
        t
    });
}

#[test]
fn timeouts_reply_null() {
    same_on_both(&[], |s| {
        let mut a = conn(s);
        let mut t = Transcript::new();
        run(&mut t, &mut a, &["BLPOP", "k", "0.1"]);
        run(&mut t, &mut a, &["BRPOP", "k", "k2", "0.05"]);
        run(
            &mut t,
            &mut a,
            &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.1"],
        );
        run(&mut t, &mut a, &["BRPOPLPUSH", "k", "d", "0.1"]);
        run(&mut t, &mut a, &["BLMPOP", "0.1", "2", "k", "k2", "LEFT"]);
        run(&mut t, &mut a, &["BZPOPMIN", "z", "0.1"]);
        run(&mut t, &mut a, &["BZMPOP", "0.1", "1", "z", "MAX"]);
        hello3(&mut a);
        run(&mut t, &mut a, &["BLPOP", "k", "0.1"]);
        run(
            &mut t,
            &mut a,
            &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.1"],
        );
        run(&mut t, &mut a, &["BZPOPMAX", "z", "0.1"]);
        run(&mut t, &mut a, &["PING"]);
        t.push(blocked_clients(&mut a).to_string());
        t
    });
}

#[test]
fn blmove_chains_wake_each_other() {
    same_on_both(&[], |s| {
        let (mut a, mut b, mut c) = (conn(s), conn(s), conn(s));
        let mut t = Transcript::new();
        send(&mut a, &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut c, 1);
        send(&mut b, &["BRPOPLPUSH", "b", "c", "0"]);
        wait_blocked(&mut c, 2);
        run(&mut t, &mut c, &["LPUSH", "a", "x"]);
        read(&mut t, &mut a);
        read(&mut t, &mut b);
        run(&mut t, &mut c, &["LRANGE", "a", "0", "-1"]);
        run(&mut t, &mut c, &["LRANGE", "b", "0", "-1"]);
        run(&mut t, &mut c, &["LRANGE", "c", "0", "-1"]);
        // A destination of another type: the served client gets the error.
        run(&mut t, &mut c, &["SET", "str", "v"]);
        send(&mut a, &["BLMOVE", "src", "str", "RIGHT", "LEFT", "0"]);
        wait_blocked(&mut c, 1);
        run(&mut t, &mut c, &["RPUSH", "src", "e"]);
        read(&mut t, &mut a);
        run(&mut t, &mut c, &["LRANGE", "src", "0", "-1"]);
        t
    });
}

#[test]
fn client_unblock_timeout_and_error() {
    same_on_both(&[], |s| {
        let (mut a, mut c) = (conn(s), conn(s));
        let mut t = Transcript::new();
        let id = cmds(&mut a, &["CLIENT", "ID"])
            .as_integer()
            .unwrap()
            .to_string();
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", &id]);
        send(&mut a, &["BLPOP", "k", "0"]);
        wait_blocked(&mut c, 1);
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", &id, "TIMEOUT"]);
        read(&mut t, &mut a);
        send(&mut a, &["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
        wait_blocked(&mut c, 1);
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", &id]);
        read(&mut t, &mut a);
        send(&mut a, &["BZPOPMIN", "z", "100"]);
        wait_blocked(&mut c, 1);
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]);
        read(&mut t, &mut a);
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", &id, "error"]);
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", "123456789"]);
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", "-1"]);
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", "abc"]);
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", &id, "later"]);
        // The unblocked client works normally afterwards.
        run(&mut t, &mut a, &["RPUSH", "k", "v"]);
        run(&mut t, &mut a, &["BLPOP", "k", "0"]);
        let errs = info_field(&mut c, "errorstats", "errorstat_UNBLOCKED");
        t.push(format!("{errs:?}"));
        t
    });
}

#[test]
fn wait_counts_as_blocked_and_can_be_unblocked() {
    same_on_both(&[], |s| {
        let (mut a, mut c) = (conn(s), conn(s));
        let mut t = Transcript::new();
        let id = cmds(&mut a, &["CLIENT", "ID"])
            .as_integer()
            .unwrap()
            .to_string();
        send(&mut a, &["WAIT", "1", "0"]);
        wait_blocked(&mut c, 1);
        t.push(format!(
            "{:?}",
            info_field(&mut c, "clients", "clients_in_timeout_table")
        ));
        let list = text(&cmds(&mut c, &["CLIENT", "LIST", "ID", &id]));
        t.push(list.contains(" flags=b ").to_string());
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", &id, "TIMEOUT"]);
        read(&mut t, &mut a);
        send(&mut a, &["WAIT", "2", "100000"]);
        wait_blocked(&mut c, 1);
        t.push(format!(
            "{:?}",
            info_field(&mut c, "clients", "clients_in_timeout_table")
        ));
        run(&mut t, &mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]);
        read(&mut t, &mut a);
        run(&mut t, &mut a, &["PING"]);
        t.push(blocked_clients(&mut c).to_string());
        t
    });
}

#[test]
fn info_and_client_list_show_blocked_clients() {
    same_on_both(&[], |s| {
        let (mut a, mut b, mut c) = (conn(s), conn(s), conn(s));
        let mut t = Transcript::new();
        let a_id = cmds(&mut a, &["CLIENT", "ID"])
            .as_integer()
            .unwrap()
            .to_string();
        t.push(format!(
            "{:?}",
            info_field(&mut c, "clients", "blocked_clients")
        ));
        send(&mut a, &["BLPOP", "k", "0"]);
        wait_blocked(&mut c, 1);
        send(&mut b, &["BZPOPMAX", "z", "1000"]);
        wait_blocked(&mut c, 2);
        t.push(format!(
            "{:?}",
            info_field(&mut c, "clients", "blocked_clients")
        ));
        t.push(format!(
            "{:?}",
            info_field(&mut c, "clients", "clients_in_timeout_table")
        ));
        let list = text(&cmds(&mut c, &["CLIENT", "LIST"]));
        let mut flags: Vec<String> = list
            .lines()
            .map(|l| {
                let f = |name: &str| {
                    l.split(' ')
                        .find_map(|kv| kv.strip_prefix(name))
                        .unwrap_or("?")
                        .to_string()
                };
                format!("{} {}", f("flags="), f("cmd="))
            })
            .collect();
        flags.sort();
        t.push(flags.join(","));
        // A killed client leaves the queues; so does one that disconnects.
        run(&mut t, &mut c, &["CLIENT", "KILL", "ID", &a_id]);
        t.push(blocked_clients(&mut c).to_string());
        drop(b);
        wait_blocked(&mut c, 0);
        run(&mut t, &mut c, &["RPUSH", "k", "kept"]);
        run(&mut t, &mut c, &["ZADD", "z", "1", "m"]);
        run(&mut t, &mut c, &["LRANGE", "k", "0", "-1"]);
        run(&mut t, &mut c, &["ZCARD", "z"]);
        t.push(format!(
            "{:?}",
            info_field(&mut c, "clients", "clients_in_timeout_table")
        ));
        t
    });
}

#[test]
fn inside_multi_nothing_blocks() {
    same_on_both(&[], |s| {
        let (mut a, mut b) = (conn(s), conn(s));
        let mut t = Transcript::new();
        run(&mut t, &mut b, &["MULTI"]);
        run(&mut t, &mut b, &["BLPOP", "k", "0"]);
        run(&mut t, &mut b, &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0"]);
        run(&mut t, &mut b, &["BZPOPMIN", "z", "0"]);
        run(&mut t, &mut b, &["BLMPOP", "0", "1", "k", "RIGHT"]);
        run(&mut t, &mut b, &["EXEC"]);
        // A transaction that pushes and pops: the blocked client is served after EXEC
        // with what is left.
        send(&mut a, &["BLPOP", "k", "0"]);
        wait_blocked(&mut b, 1);
        run(&mut t, &mut b, &["MULTI"]);
        run(&mut t, &mut b, &["RPUSH", "k", "first"]);
        run(&mut t, &mut b, &["LPOP", "k"]);
        run(&mut t, &mut b, &["RPUSH", "k", "second", "third"]);
        run(&mut t, &mut b, &["EXEC"]);
        read(&mut t, &mut a);
        run(&mut t, &mut b, &["LRANGE", "k", "0", "-1"]);
        // Served from the key that became ready first, not the first named.
        send(
            &mut a,
            &["BLMPOP", "0", "2", "k1", "k2", "LEFT", "COUNT", "2"],
        );
        wait_blocked(&mut b, 1);
        run(&mut t, &mut b, &["MULTI"]);
        run(&mut t, &mut b, &["RPUSH", "k2", "a", "b", "c"]);
        run(&mut t, &mut b, &["RPUSH", "k1", "x"]);
        run(&mut t, &mut b, &["EXEC"]);
        read(&mut t, &mut a);
        run(&mut t, &mut b, &["LRANGE", "k1", "0", "-1"]);
        run(&mut t, &mut b, &["LRANGE", "k2", "0", "-1"]);
        t
    });
}

#[test]
fn keys_of_another_type_and_swapdb() {
    same_on_both(&[], |s| {
        let (mut a, mut b) = (conn(s), conn(s));
        let mut t = Transcript::new();
        // A key set to another type does not wake the client.
        send(&mut a, &["BLPOP", "k", "0"]);
        wait_blocked(&mut b, 1);
        run(&mut t, &mut b, &["SET", "k", "string"]);
        run(&mut t, &mut b, &["ZADD", "k2", "1", "a"]);
        run(&mut t, &mut b, &["DEL", "k"]);
        t.push(blocked_clients(&mut b).to_string());
        run(&mut t, &mut b, &["RPUSH", "k", "v"]);
        read(&mut t, &mut a);
        // SWAPDB brings a list in: the client blocked in database 0 is served.
        send(&mut a, &["BLPOP", "s", "0"]);
        wait_blocked(&mut b, 1);
        run(&mut t, &mut b, &["SELECT", "1"]);
        run(&mut t, &mut b, &["RPUSH", "s", "from-db1"]);
        run(&mut t, &mut b, &["SWAPDB", "0", "1"]);
        read(&mut t, &mut a);
        run(&mut t, &mut b, &["SELECT", "0"]);
        run(&mut t, &mut b, &["EXISTS", "s"]);
        // A client blocked in another database.
        run(&mut t, &mut a, &["SELECT", "2"]);
        send(&mut a, &["BLPOP", "q", "0"]);
        wait_blocked(&mut b, 1);
        run(&mut t, &mut b, &["RPUSH", "q", "db0"]);
        t.push(blocked_clients(&mut b).to_string());
        run(&mut t, &mut b, &["SELECT", "2"]);
        run(&mut t, &mut b, &["RPUSH", "q", "db2"]);
        read(&mut t, &mut a);
        t
    });
}

#[test]
fn sorted_set_pops_are_served() {
    same_on_both(&[], |s| {
        let (mut a, mut b, mut c) = (conn(s), conn(s), conn(s));
        let mut t = Transcript::new();
        send(&mut a, &["BZPOPMIN", "z1", "z2", "0"]);
        wait_blocked(&mut c, 1);
        send(
            &mut b,
            &["BZMPOP", "0", "2", "z2", "z3", "MAX", "COUNT", "5"],
        );
        wait_blocked(&mut c, 2);
        run(
            &mut t,
            &mut c,
            &["ZADD", "z2", "1", "a", "2", "b", "3.5", "c"],
        );
        read(&mut t, &mut a);
        read(&mut t, &mut b);
        run(&mut t, &mut c, &["EXISTS", "z2"]);
        hello3(&mut b);
        send(&mut b, &["BZPOPMAX", "z9", "0"]);
        wait_blocked(&mut c, 1);
        run(&mut t, &mut c, &["ZADD", "z9", "7", "x", "8", "y"]);
        read(&mut t, &mut b);
        t
    });
}

fn xreadgroup_block(c: &mut RespConn) {
    send(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
}

#[test]
fn xread_block_is_served_by_xadd() {
    same_on_both(&[], |s| {
        let (mut a, mut b, mut c) = (conn(s), conn(s), conn(s));
        let mut t = Transcript::new();
        run(&mut t, &mut c, &["XADD", "s", "1-1", "f", "v"]);
        send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        wait_blocked(&mut c, 1);
        send(
            &mut b,
            &[
                "XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "other", "s", "0-0", "1-1",
            ],
        );
        wait_blocked(&mut c, 2);
        run(&mut t, &mut c, &["XADD", "s", "2-1", "f", "w"]);
        read(&mut t, &mut a);
        read(&mut t, &mut b);
        run(
            &mut t,
            &mut a,
            &["XREAD", "BLOCK", "100", "STREAMS", "s", "$"],
        );
        // XREADGROUP: served with new entries; unblocked with an error when the stream goes.
        run(&mut t, &mut c, &["XGROUP", "CREATE", "s", "g", "$"]);
        xreadgroup_block(&mut a);
        wait_blocked(&mut c, 1);
        run(&mut t, &mut c, &["XADD", "s", "3-1", "f", "x"]);
        read(&mut t, &mut a);
        xreadgroup_block(&mut a);
        wait_blocked(&mut c, 1);
        run(&mut t, &mut c, &["XGROUP", "DESTROY", "s", "g"]);
        read(&mut t, &mut a);
        run(&mut t, &mut c, &["XGROUP", "CREATE", "s", "g", "$"]);
        xreadgroup_block(&mut a);
        wait_blocked(&mut c, 1);
        run(&mut t, &mut c, &["DEL", "s"]);
        read(&mut t, &mut a);
        t
    });
}

#[test]
fn becoming_a_replica_disconnects_blocked_clients() {
    // A port nothing listens on: the servers only try to connect to it.
    let nowhere = tandem_tests::free_port().unwrap().to_string();
    same_on_both(&[], |s| {
        let (mut a, mut c) = (conn(s), conn(s));
        let mut t = Transcript::new();
        send(&mut a, &["BLPOP", "k", "0"]);
        wait_blocked(&mut c, 1);
        run(&mut t, &mut c, &["REPLICAOF", "127.0.0.1", &nowhere]);
        read(&mut t, &mut a);
        read(&mut t, &mut a);
        t.push(blocked_clients(&mut c).to_string());
        run(&mut t, &mut c, &["REPLICAOF", "NO", "ONE"]);
        t
    });
}

/// Reads a server's replication stream through a raw `SYNC` (disk-based transfer).
struct StreamReader {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl StreamReader {
    fn open(s: &ServerProcess) -> StreamReader {
        let mut sock = TcpStream::connect(s.addr()).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        sock.write_all(b"SYNC\r\n").unwrap();
        let mut r = StreamReader {
            sock,
            buf: Vec::new(),
        };
        // Newlines keep the link alive while the RDB is produced; then `$<len>\r\n<rdb>`.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            while r.buf.first() == Some(&b'\n') {
                r.buf.remove(0);
            }
            if let Some(end) = r.buf.windows(2).position(|w| w == b"\r\n") {
                let head = String::from_utf8_lossy(&r.buf[..end]).to_string();
                let len: usize = head.trim_start_matches('$').parse().unwrap();
                if r.buf.len() >= end + 2 + len {
                    r.buf.drain(..end + 2 + len);
                    return r;
                }
            }
            assert!(Instant::now() < deadline, "no RDB payload from SYNC");
            r.fill();
        }
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        match self.sock.read(&mut chunk) {
            Ok(0) => panic!("replication link closed"),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }

    /// Commands of the stream until `SET <marker> ...` (PINGs left out).
    fn until_marker(&mut self, marker: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut cmds = Vec::new();
        loop {
            match Frame::parse(&self.buf).unwrap() {
                Some((f, used)) => {
                    self.buf.drain(..used);
                    let args: Vec<String> = f
                        .children
                        .iter()
                        .map(|c| {
                            String::from_utf8_lossy(c.body.as_deref().unwrap_or(b"")).to_string()
                        })
                        .collect();
                    if args.first().is_some_and(|a| a.eq_ignore_ascii_case("ping")) {
                        continue;
                    }
                    let done =
                        args.len() >= 2 && args[0].eq_ignore_ascii_case("set") && args[1] == marker;
                    cmds.push(args.join(" "));
                    if done {
                        return cmds;
                    }
                }
                None => {
                    assert!(
                        Instant::now() < deadline,
                        "no marker in the stream: {cmds:?}"
                    );
                    self.fill();
                }
            }
        }
    }
}

#[test]
fn served_commands_propagate_as_redis_does() {
    same_on_both(&["--repl-diskless-sync", "no"], |s| {
        let mut stream = StreamReader::open(s);
        let (mut a, mut b, mut c) = (conn(s), conn(s), conn(s));
        let mut t = Transcript::new();
        send(&mut a, &["BLPOP", "l1", "l2", "0"]);
        wait_blocked(&mut c, 1);
        send(&mut b, &["BLMOVE", "l3", "l4", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut c, 2);
        run(&mut t, &mut c, &["RPUSH", "l2", "x", "y"]);
        read(&mut t, &mut a);
        run(&mut t, &mut c, &["RPUSH", "l3", "m"]);
        read(&mut t, &mut b);
        send(&mut a, &["BLMPOP", "0", "1", "l5", "RIGHT", "COUNT", "3"]);
        wait_blocked(&mut c, 1);
        send(&mut b, &["BZPOPMAX", "z", "0"]);
        wait_blocked(&mut c, 2);
        run(&mut t, &mut c, &["MULTI"]);
        run(&mut t, &mut c, &["RPUSH", "l5", "1", "2"]);
        run(&mut t, &mut c, &["ZADD", "z", "1", "a", "2", "b"]);
        run(&mut t, &mut c, &["EXEC"]);
        read(&mut t, &mut a);
        read(&mut t, &mut b);
        send(&mut a, &["BRPOPLPUSH", "l6", "l6", "0"]);
        wait_blocked(&mut c, 1);
        send(&mut b, &["BZMPOP", "0", "1", "z2", "MIN", "COUNT", "10"]);
        wait_blocked(&mut c, 2);
        run(&mut t, &mut c, &["LPUSH", "l6", "r"]);
        run(&mut t, &mut c, &["ZADD", "z2", "5", "q"]);
        read(&mut t, &mut a);
        read(&mut t, &mut b);
        run(&mut t, &mut c, &["SET", "marker", "end"]);
        t.extend(stream.until_marker("marker"));
        t
    });
}

#[test]
fn xread_on_a_replica_is_served_by_the_master_stream() {
    let master = start(Flavor::Redis, &[]);
    let port = master.port().to_string();
    same_on_both(&["--replicaof", "127.0.0.1", &port], |s| {
        let mut m = conn(&master);
        let (mut a, mut c) = (conn(s), conn(s));
        let mut t = Transcript::new();
        assert!(!cmds(&mut m, &["FLUSHALL"]).is_error());
        wait_until("the replica's link", || {
            info_field(&mut c, "replication", "master_link_status").as_deref() == Some("up")
        });
        wait_until("the flush to reach the replica", || {
            cmds(&mut c, &["DBSIZE"]).as_integer() == Some(0)
        });
        send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        wait_blocked(&mut c, 1);
        assert!(!cmds(&mut m, &["XADD", "s", "5-1", "f", "v"]).is_error());
        read(&mut t, &mut a);
        // Writes, blocking ones included, are refused on a replica.
        run(&mut t, &mut a, &["BLPOP", "k", "0"]);
        t
    });
}
