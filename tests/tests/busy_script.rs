//! A script running past `busy-reply-threshold`, on redis-server 7.0.15 and tandem-server
//! alike: the same scenario runs on both and the transcripts of replies must be equal.
//! Clients connected before the script and clients that connect meanwhile get `-BUSY`
//! (and their usual errors for unknown commands, arity, NOAUTH), may AUTH, open and
//! abort a MULTI, QUIT, SCRIPT KILL or FUNCTION KILL a script that has not written, and
//! SHUTDOWN NOSAVE one that has. A partial request sent meanwhile completes afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tandem_tests::probe::{cmds, text};
use tandem_tests::resp::Reply;
use tandem_tests::{Flavor, RespConn, ServerProcess};

const SPIN: &str = "local i = 0 while true do i = i + 1 end";
const WRITE_THEN_SPIN: &str = "redis.call('set', 'x', '1') local i = 0 while true do i = i + 1 end";
const LIBRARY: &str = "#!lua name=lib\nredis.register_function('spin', function() local i = 0 while true do i = i + 1 end end)";

/// A scenario's replies, in order, each tagged with who sent what.
#[derive(Default)]
struct Transcript(Vec<String>);

impl Transcript {
    fn ask(&mut self, who: &str, c: &mut RespConn, args: &[&str]) {
        let reply = cmds(c, args);
        self.0.push(format!("{who} {args:?} -> {}", text(&reply)));
    }

    /// A reply with numbers that vary (`duration_ms`, a client `id`): the whole frame,
    /// the integer after each of `keys` blanked.
    fn ask_blanked(&mut self, who: &str, c: &mut RespConn, args: &[&str], keys: &[&str]) {
        let mut shown = render(&cmds(c, args));
        for key in keys {
            let tag = format!("${key} :");
            if let Some(at) = shown.find(&tag) {
                let start = at + tag.len();
                let end = shown[start..]
                    .find(|ch: char| !ch.is_ascii_digit())
                    .map_or(shown.len(), |n| start + n);
                shown.replace_range(start..end, "<n>");
            }
        }
        self.0.push(format!("{who} {args:?} -> {shown}"));
    }

    /// Fields of an INFO section, as `name:value` lines in name order (Redis lists
    /// commandstats in hash order).
    fn info_lines(&mut self, c: &mut RespConn, section: &str, wanted: &[&str]) {
        let info = text(&cmds(c, &["INFO", section]));
        let mut lines: Vec<String> = info
            .lines()
            .filter(|line| wanted.iter().any(|w| line.starts_with(w)))
            .map(|line| {
                // commandstats: keep the counts that do not depend on time.
                let kept: Vec<&str> = line.split(',').filter(|f| !f.starts_with("usec")).collect();
                format!("INFO {}", kept.join(","))
            })
            .collect();
        lines.sort();
        self.0.extend(lines);
    }

    fn read(&mut self, who: &str, c: &mut RespConn) {
        let line = match c.read_reply().unwrap() {
            Reply::Frame(f) => text(&f),
            Reply::Closed => "(closed)".to_owned(),
        };
        self.0.push(format!("{who} reads -> {line}"));
    }
}

/// A frame as text: its kind, then its head or children (maps and arrays alike show
/// their kind character).
fn render(f: &tandem_tests::resp::Frame) -> String {
    if f.children.is_empty() {
        let body = f.body.as_deref().unwrap_or(&f.head);
        return format!("{}{}", f.kind as char, String::from_utf8_lossy(body));
    }
    let inner: Vec<String> = f.children.iter().map(render).collect();
    format!("{}[{}]", f.kind as char, inner.join(" "))
}

fn start(flavor: Flavor, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--busy-reply-threshold", "100"];
    args.extend_from_slice(extra);
    ServerProcess::start(flavor, &args).unwrap()
}

/// A connection the server has served once (so it waits idle when the script starts).
fn idle_conn(server: &ServerProcess) -> RespConn {
    let mut c = server.connect().unwrap();
    c.set_timeout(Duration::from_secs(20));
    c.send(&["ECHO", "ready"]).unwrap();
    c.read_reply().unwrap();
    c
}

/// Starts `args` on a new connection and returns once another client gets `-BUSY`.
fn run_busy(server: &ServerProcess, args: &[&str]) -> RespConn {
    let mut runner = server.connect().unwrap();
    runner.set_timeout(Duration::from_secs(20));
    runner.send(args).unwrap();
    let mut probe = server.connect().unwrap();
    probe.set_timeout(Duration::from_secs(20));
    let first = text(&cmds(&mut probe, &["PING"]));
    assert!(first.starts_with("BUSY "), "{first}");
    runner
}

fn eval_scenario(flavor: Flavor) -> Vec<String> {
    let server = start(flavor, &[]);
    let mut t = Transcript::default();
    let mut a = idle_conn(&server);
    let mut partial = idle_conn(&server);
    let mut runner = run_busy(&server, &["EVAL", SPIN, "0"]);
    for args in [
        &["PING"][..],
        &["GET", "k"],
        &["GET"],
        &["NOSUCH", "x"],
        &["AUTH", "pw"],
        &["FUNCTION", "KILL"],
        &["FUNCTION", "STATS"],
        &["SHUTDOWN"],
        &["SHUTDOWN", "ABORT"],
        &["SHUTDOWN", "NOSAVE", "ABORT"],
        &["MULTI"],
        &["SET", "k", "v"],
        &["EXEC"],
        &["DISCARD"],
    ] {
        t.ask("a", &mut a, args);
    }
    // A new connection: a pipeline, then a MULTI left open with a refused command.
    let mut b = server.connect().unwrap();
    b.send_raw(b"PING\r\nPING\r\n").unwrap();
    t.read("b", &mut b);
    t.read("b", &mut b);
    let mut m = server.connect().unwrap();
    t.ask("m", &mut m, &["MULTI"]);
    t.ask("m", &mut m, &["INCR", "n"]);
    let mut q = server.connect().unwrap();
    t.ask("q", &mut q, &["QUIT"]);
    t.read("q", &mut q);
    // HELLO on a new connection: the protocol and name hold after the script.
    let mut h = server.connect().unwrap();
    t.ask_blanked("h", &mut h, &["HELLO", "3", "SETNAME", "during"], &["id"]);
    t.ask("h", &mut h, &["HELLO", "4"]);
    t.ask("h", &mut h, &["PING"]);
    partial.send_raw(b"*1\r\n$4\r\nPI").unwrap();
    t.ask("a", &mut a, &["SCRIPT", "KILL"]);
    t.read("runner", &mut runner);
    partial.send_raw(b"NG\r\n").unwrap();
    t.read("partial", &mut partial);
    t.ask("m", &mut m, &["EXEC"]);
    t.ask("a", &mut a, &["SCRIPT", "KILL"]);
    t.ask("a", &mut a, &["PING"]);
    t.ask("runner", &mut runner, &["EXISTS", "x"]);
    t.ask_blanked("h", &mut h, &["PING"], &[]);
    t.ask("h", &mut h, &["CLIENT", "GETNAME"]);
    t.info_lines(&mut a, "commandstats", &["cmdstat_get:", "cmdstat_ping:"]);
    t.info_lines(
        &mut a,
        "errorstats",
        &["errorstat_BUSY:", "errorstat_NOAUTH:"],
    );
    t.0
}

fn write_then_shutdown_scenario(flavor: Flavor) -> Vec<String> {
    let mut server = start(flavor, &[]);
    let mut t = Transcript::default();
    let mut a = idle_conn(&server);
    let mut runner = run_busy(&server, &["EVAL", WRITE_THEN_SPIN, "0"]);
    t.ask("a", &mut a, &["SCRIPT", "KILL"]);
    t.ask("a", &mut a, &["FUNCTION", "KILL"]);
    t.ask("a", &mut a, &["SHUTDOWN", "SAVE"]);
    a.send(&["SHUTDOWN", "NOSAVE"]).unwrap();
    t.read("a", &mut a);
    t.read("runner", &mut runner);
    let status = server.wait_timeout(Duration::from_secs(20)).unwrap();
    t.0.push(format!("exited: {}", status.is_some_and(|s| s.success())));
    t.0
}

fn function_scenario(flavor: Flavor) -> Vec<String> {
    let server = start(flavor, &[]);
    let mut t = Transcript::default();
    let mut a = idle_conn(&server);
    t.ask("a", &mut a, &["FUNCTION", "LOAD", LIBRARY]);
    let mut resp3 = idle_conn(&server);
    // Its reply holds the client id, which differs between the servers.
    cmds(&mut resp3, &["HELLO", "3"]);
    let mut runner = run_busy(&server, &["FCALL", "spin", "0"]);
    t.ask("a", &mut a, &["GET", "k"]);
    t.ask_blanked("a", &mut a, &["FUNCTION", "STATS"], &["duration_ms"]);
    t.ask_blanked(
        "resp3",
        &mut resp3,
        &["FUNCTION", "STATS"],
        &["duration_ms"],
    );
    t.ask("a", &mut a, &["SCRIPT", "KILL"]);
    t.ask("a", &mut a, &["FUNCTION", "KILL"]);
    t.read("runner", &mut runner);
    t.ask("a", &mut a, &["FUNCTION", "KILL"]);
    t.ask_blanked("a", &mut a, &["FUNCTION", "STATS"], &["duration_ms"]);
    t.0
}

fn auth_scenario(flavor: Flavor) -> Vec<String> {
    let server = start(flavor, &["--requirepass", "secret"]);
    let mut t = Transcript::default();
    let mut a = server.connect().unwrap();
    a.set_timeout(Duration::from_secs(20));
    t.ask("a", &mut a, &["ECHO", "unauthenticated"]);
    let mut owner = server.connect().unwrap();
    owner.set_timeout(Duration::from_secs(20));
    t.ask("owner", &mut owner, &["AUTH", "secret"]);
    owner.send(&["EVAL", SPIN, "0"]).unwrap();
    // Until the threshold passes neither server answers; then NOAUTH.
    let mut n = server.connect().unwrap();
    n.set_timeout(Duration::from_secs(20));
    t.ask("n", &mut n, &["PING"]);
    t.ask("a", &mut a, &["PING"]);
    t.ask("a", &mut a, &["AUTH", "wrong"]);
    t.ask("a", &mut a, &["AUTH", "secret"]);
    t.ask("a", &mut a, &["PING"]);
    t.ask("n", &mut n, &["AUTH", "default", "secret"]);
    t.ask("n", &mut n, &["SCRIPT", "KILL"]);
    t.read("owner", &mut owner);
    // Logged in for good: a value over the unauthenticated bulk limit (16 KiB) is taken.
    let big = "v".repeat(20_000);
    for (who, c) in [("a", &mut a), ("n", &mut n)] {
        let reply = text(&cmds(c, &["SET", "big", &big]));
        t.0.push(format!("{who} SET big <20000 bytes> -> {reply}"));
    }
    t.ask("a", &mut a, &["PING"]);
    t.ask("n", &mut n, &["PING"]);
    t.0
}

fn same_on_both(scenario: fn(Flavor) -> Vec<String>) {
    let redis = scenario(Flavor::Redis);
    let tandem = scenario(Flavor::Tandem);
    assert_eq!(tandem, redis, "tandem (left) and redis (right) differ");
}

#[test]
fn busy_eval_answers_other_clients_and_takes_script_kill() {
    same_on_both(eval_scenario);
}

#[test]
fn a_script_that_wrote_is_unkillable_and_shutdown_nosave_ends_the_server() {
    same_on_both(write_then_shutdown_scenario);
}

#[test]
fn busy_function_takes_function_kill() {
    same_on_both(function_scenario);
}

#[test]
fn clients_authenticate_while_a_script_is_busy() {
    same_on_both(auth_scenario);
}

/// With `io-threads` above 1 Tandem has no responder (a Tandem rule, not Redis's): a slow
/// script that has not written is stopped, and the server goes on.
#[test]
fn with_several_network_threads_a_slow_script_that_has_not_written_is_stopped() {
    let server = start(Flavor::Tandem, &["--io-threads", "2"]);
    let mut c = server.connect().unwrap();
    c.set_timeout(Duration::from_secs(20));
    let reply = text(&cmds(&mut c, &["EVAL", SPIN, "0"]));
    assert!(
        reply.starts_with("ERR Script stopped after busy-reply-threshold"),
        "{reply}"
    );
    assert_eq!(text(&cmds(&mut c, &["PING"])), "PONG");
}
