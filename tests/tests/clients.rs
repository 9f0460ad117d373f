//! Interop tests: Tandem driven by the real Redis tools and a Rust client
//! library, plus process-level behaviour (startup and shutdown log lines, exit
//! codes, configuration errors, MONITOR, Debian's stock redis.conf).
//!
//! Where the expectation is Redis's own output, the test runs the same thing
//! against redis-server too and compares (normalising ports and timestamps),
//! so the tests also check themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use tandem_tests::normalize::monitor_line;
use tandem_tests::{run_bounded, Flavor, Frame, ServerBuilder, ServerProcess};

const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

fn start(flavor: Flavor) -> ServerProcess {
    ServerProcess::start::<&str>(flavor, &[]).unwrap()
}

/// Runs `redis-cli -p <port> <args>` and returns (stdout, stderr).
fn cli(server: &ServerProcess, args: &[&str]) -> (String, String) {
    let out = run_bounded(
        Command::new("redis-cli")
            .args(["-p", &server.port().to_string()])
            .args(args),
        TOOL_TIMEOUT,
    )
    .unwrap();
    assert!(out.status.success(), "redis-cli {args:?} failed: {out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn redis_cli_basic_commands() {
    let tandem = start(Flavor::Tandem);
    assert_eq!(cli(&tandem, &["ping"]).0, "PONG\n");
    assert_eq!(cli(&tandem, &["--no-raw", "ping"]).0, "PONG\n");
    assert_eq!(
        cli(&tandem, &["config", "get", "port"]).0,
        format!("port\n{}\n", tandem.port())
    );
    let info = cli(&tandem, &["info", "server"]).0;
    assert!(info.starts_with("# Server"), "{info}");
    assert!(info.contains("redis_version:7.0.15"), "{info}");
    assert!(
        info.contains(&format!("tcp_port:{}", tandem.port())),
        "{info}"
    );
}

#[test]
fn redis_cli_output_matches_redis() {
    let redis = start(Flavor::Redis);
    let tandem = start(Flavor::Tandem);
    let cases: &[&[&str]] = &[
        &["ping"],
        &["--no-raw", "ping"],
        &["--no-raw", "echo", "a b"],
        &["--no-raw", "config", "get", "maxclients"],
        &["--no-raw", "config", "get", "nosuchparam"],
        &["--no-raw", "client", "getname"],
        &["--no-raw", "nosuchcommand", "x"],
        &["--no-raw", "select", "99"],
        &["-3", "--no-raw", "config", "get", "maxclients"],
        &["-3", "--no-raw", "client", "getname"],
        &["--raw", "echo", "raw"],
        &["-n", "3", "ping"],
    ];
    let mut failures = Vec::new();
    for args in cases {
        let expected = cli(&redis, args);
        let got = cli(&tandem, args);
        if expected != got {
            failures.push(format!(
                "redis-cli {args:?}\n  redis:  {expected:?}\n  tandem: {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn redis_benchmark_ping() {
    let tandem = start(Flavor::Tandem);
    let out = run_bounded(
        Command::new("redis-benchmark").args([
            "-p",
            &tandem.port().to_string(),
            "-t",
            "ping",
            "-n",
            "2000",
            "-q",
        ]),
        TOOL_TIMEOUT,
    )
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "redis-benchmark failed: {out:?}");
    assert!(stdout.contains("PING_INLINE: "), "{stdout}");
    assert!(stdout.contains("PING_MBULK: "), "{stdout}");
    assert!(stdout.contains("requests per second"), "{stdout}");
}

fn rust_client(server: &ServerProcess) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port())).unwrap();
    let mut con = client.get_connection().unwrap();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let echoed: Vec<u8> = redis::cmd("ECHO")
        .arg(b"\x00bin\xff")
        .query(&mut con)
        .unwrap();
    assert_eq!(echoed, b"\x00bin\xff");
    let name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name, None);
    let ok: String = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("rust-client")
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    let name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name.as_deref(), Some("rust-client"));
    let cfg: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut con)
        .unwrap();
    assert_eq!(cfg, ["maxclients", "10000"]);
    let port: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(&mut con)
        .unwrap();
    assert_eq!(port, ["port".to_owned(), server.port().to_string()]);
    let err = redis::cmd("NOSUCHCOMMAND")
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("unknown command"), "{err}");
    // The connection is still usable after an error reply.
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    assert!(id > 0);
    let time: Vec<String> = redis::cmd("TIME").query(&mut con).unwrap();
    assert_eq!(time.len(), 2);
}

#[test]
fn rust_redis_crate_against_redis() {
    rust_client(&start(Flavor::Redis));
}

#[test]
fn rust_redis_crate_against_tandem() {
    rust_client(&start(Flavor::Tandem));
}

/// Starts `flavor`, checks its startup lines, SIGTERMs it and checks it exits
/// cleanly; returns the log.
fn startup_and_sigterm(flavor: Flavor) -> String {
    let mut server = start(flavor);
    let log = server.stdout_log();
    assert!(log.contains("Server initialized"), "{flavor:?} log:\n{log}");
    assert!(
        log.contains("Ready to accept connections"),
        "{flavor:?} log:\n{log}"
    );
    server.sigterm().unwrap();
    let status = server
        .wait_timeout(EXIT_TIMEOUT)
        .unwrap()
        .unwrap_or_else(|| panic!("{flavor:?} did not exit within {EXIT_TIMEOUT:?} of SIGTERM"));
    let log = server.stdout_log();
    assert!(
        status.success(),
        "{flavor:?} exited with {status}; log:\n{log}"
    );
    assert!(
        log.contains("Received SIGTERM scheduling shutdown"),
        "{flavor:?} log:\n{log}"
    );
    assert!(log.contains("ready to exit"), "{flavor:?} log:\n{log}");
    log
}

#[test]
fn startup_lines_and_clean_sigterm_shutdown() {
    startup_and_sigterm(Flavor::Redis);
    startup_and_sigterm(Flavor::Tandem);
}

fn port_taken(flavor: Flavor) -> (Option<i32>, String) {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let mut server = ServerBuilder::new(flavor).port(port).spawn().unwrap();
    let status = server
        .wait_timeout(EXIT_TIMEOUT)
        .unwrap()
        .unwrap_or_else(|| panic!("{flavor:?} kept running on a taken port"));
    drop(holder);
    (status.code(), server.stdout_log())
}

#[test]
fn port_already_in_use_exits_1() {
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let (code, log) = port_taken(flavor);
        assert_eq!(code, Some(1), "{flavor:?} log:\n{log}");
        assert!(
            log.contains("Failed listening on port"),
            "{flavor:?} log:\n{log}"
        );
    }
}

fn bad_directive(flavor: Flavor) -> (Option<i32>, String) {
    let mut server = ServerBuilder::new(flavor)
        .args(["--no-such-directive", "yes"])
        .spawn()
        .unwrap();
    let status = server
        .wait_timeout(EXIT_TIMEOUT)
        .unwrap()
        .unwrap_or_else(|| panic!("{flavor:?} accepted an unknown directive"));
    (status.code(), server.stderr_log())
}

#[test]
fn unknown_directive_is_fatal_like_redis() {
    let (redis_code, redis_err) = bad_directive(Flavor::Redis);
    assert_eq!(redis_code, Some(1));
    assert!(redis_err.contains("Bad directive or wrong number of arguments"));
    let (code, err) = bad_directive(Flavor::Tandem);
    assert_eq!(code, Some(1), "stderr:\n{err}");
    assert!(
        err.contains("Bad directive or wrong number of arguments"),
        "stderr:\n{err}"
    );
    assert_eq!(err, redis_err, "stderr differs from redis-server's");
}

/// MONITOR on one connection, a few commands on another; returns the
/// normalised lines the monitor saw.
fn monitor_lines(flavor: Flavor) -> Vec<String> {
    let server = start(flavor);
    let mut monitor = server.connect().unwrap();
    assert_eq!(
        monitor.command(&["MONITOR"]).unwrap(),
        Frame::line(b'+', "OK")
    );
    let mut other = server.connect().unwrap();
    assert_eq!(other.command(&["PING"]).unwrap(), Frame::line(b'+', "PONG"));
    other.command(&["ECHO", "a \"b\"\n\x01"]).unwrap();
    other.command(&["select", "2"]).unwrap();
    other.command(&["PING", "db2"]).unwrap();
    other.send_raw(b"PING inline\r\n").unwrap();
    other.read_reply().unwrap();
    // Scripts: the EVAL or FCALL line first, then the commands it ran, from `lua`.
    other
        .command(&["EVAL", "redis.call('set', KEYS[1], 'v') return 1", "1", "k"])
        .unwrap();
    other.command(&["EVALSHA", "abc", "0"]).unwrap();
    other
        .command(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=m\nredis.register_function('mf', function(k) return redis.call('incr', k[1]) end)",
        ])
        .unwrap();
    other.command(&["FCALL", "mf", "1", "cnt"]).unwrap();
    (0..11)
        .map(|_| {
            let line = monitor.command_reply().unwrap();
            assert_eq!(line.kind, b'+', "{flavor:?}: {line:?}");
            monitor_line(&line.as_string().unwrap())
        })
        .collect()
}

/// Reads one reply without sending anything.
trait ReadOne {
    fn command_reply(&mut self) -> tandem_tests::Result<Frame>;
}

impl ReadOne for tandem_tests::RespConn {
    fn command_reply(&mut self) -> tandem_tests::Result<Frame> {
        match self.read_reply()? {
            tandem_tests::Reply::Frame(f) => Ok(f),
            tandem_tests::Reply::Closed => Err(tandem_tests::HarnessError::Protocol(
                "connection closed".into(),
            )),
        }
    }
}

#[test]
fn monitor_stream_matches_redis() {
    let expected = monitor_lines(Flavor::Redis);
    assert_eq!(expected[0], r#"<ts> [0 127.0.0.1:<port>] "PING""#);
    assert_eq!(monitor_lines(Flavor::Tandem), expected);
}

fn debian_conf(flavor: Flavor) -> Option<()> {
    let stock = std::path::Path::new("/etc/redis/redis.conf");
    if !stock.is_file() {
        eprintln!("skipping: {} not found", stock.display());
        return None;
    }
    // Work on a copy: CONFIG REWRITE must never touch the system file.
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("redis.conf");
    std::fs::copy(stock, &conf).unwrap();
    let pidfile = work.path().join("redis.pid");
    let server = ServerBuilder::new(flavor)
        .config_file(&conf)
        .args(["--daemonize", "no", "--logfile", "", "--pidfile"])
        .arg(&pidfile)
        .start()
        .unwrap();
    let mut con = server.connect().unwrap();
    assert_eq!(con.command(&["PING"]).unwrap(), Frame::line(b'+', "PONG"));
    let cfg = con.command(&["CONFIG", "GET", "daemonize"]).unwrap();
    assert_eq!(cfg.children[1].as_string().as_deref(), Some("no"));
    let cfg = con.command(&["CONFIG", "GET", "tcp-keepalive"]).unwrap();
    assert_eq!(cfg.children[1].as_string().as_deref(), Some("300"));
    assert!(pidfile.is_file(), "{flavor:?} wrote no pidfile");
    Some(())
}

#[test]
fn debian_stock_redis_conf_is_accepted() {
    if debian_conf(Flavor::Redis).is_some() {
        debian_conf(Flavor::Tandem);
    }
}

/// CLIENT KILL closes a client at once even while its replies wait for a socket it does
/// not read (Redis frees the client and drops them), on both servers.
fn kill_of_a_client_that_does_not_read(flavor: Flavor) {
    let server = start(flavor);
    let mut admin = server.connect().unwrap();
    let big = "x".repeat(4 * 1024 * 1024);
    admin.command(&["SET", "big", &big]).unwrap();
    let mut stuck = server.connect().unwrap();
    let id = stuck
        .command(&["CLIENT", "ID"])
        .unwrap()
        .as_integer()
        .unwrap();
    // 64 MB of replies asked for and never read.
    let mut wire = Vec::new();
    for _ in 0..16 {
        wire.extend_from_slice(&tandem_tests::resp::encode_command(&["GET", "big"]));
    }
    stuck.send_raw(&wire).unwrap();
    let connected = |c: &mut tandem_tests::RespConn| {
        let info = c.command(&["INFO", "clients"]).unwrap();
        info.as_string()
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:").map(str::to_string))
    };
    tandem_tests::probe::wait_until("the stuck client to be counted", || {
        connected(&mut admin).as_deref() == Some("2")
    });
    let killed = admin
        .command(&["CLIENT", "KILL", "ID", &id.to_string()])
        .unwrap();
    assert_eq!(killed.as_integer(), Some(1));
    tandem_tests::probe::wait_until("the killed client to be gone", || {
        connected(&mut admin).as_deref() == Some("1")
    });
    // The connection was closed without the replies still waiting: reading what reached
    // the socket ends in a close well before all 16 replies.
    let mut replies = 0;
    while let Ok(tandem_tests::resp::Reply::Frame(_)) = stuck.read_reply() {
        replies += 1;
    }
    assert!(
        replies < 16,
        "all {replies} replies were sent after CLIENT KILL"
    );
}

#[test]
fn kill_of_a_client_that_does_not_read_tandem() {
    kill_of_a_client_that_does_not_read(Flavor::Tandem);
}

#[test]
fn kill_of_a_client_that_does_not_read_redis() {
    kill_of_a_client_that_does_not_read(Flavor::Redis);
}
