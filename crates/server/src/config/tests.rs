//! Tests of the config module. Most of them compare with the real
//! `redis-server` 7.0.15 (installed by `cargo xtask test`): startup errors
//! for the same bad files and arguments, `CONFIG GET` / `CONFIG SET` replies
//! for the same commands, and `CONFIG REWRITE` output for the same file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::parse::parse_text;
use super::table::{Kind, TABLE};
use super::value::Value;
use super::*;

// ---------------------------------------------------------------- helpers

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A redis-server child, killed on drop.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    conn: Option<BufReader<TcpStream>>,
}

impl Redis {
    /// Starts redis-server in a fresh temp dir with `extra` arguments after
    /// `--port P --save '' --appendonly no`.
    fn start(extra: &[&str]) -> Redis {
        let dir = tempfile::tempdir().unwrap();
        Redis::start_in(dir, None, extra)
    }

    fn start_in(dir: tempfile::TempDir, conf: Option<&Path>, extra: &[&str]) -> Redis {
        let port = free_port();
        let mut cmd = Command::new("redis-server");
        if let Some(c) = conf {
            cmd.arg(c);
        }
        cmd.args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(extra)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = cmd.spawn().expect("redis-server must be installed");
        let mut r = Redis {
            child,
            port,
            _dir: dir,
            conn: None,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                r.conn = Some(BufReader::new(s));
                break;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    fn cmd(&mut self, parts: &[&[u8]]) -> Reply {
        let conn = self.conn.as_mut().unwrap();
        let mut out = format!("*{}\r\n", parts.len()).into_bytes();
        for p in parts {
            out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
        conn.get_mut().write_all(&out).unwrap();
        read_reply(conn)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, PartialEq)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

fn read_reply(r: &mut BufReader<TcpStream>) -> Reply {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let line = line.trim_end_matches("\r\n");
    let (t, rest) = line.split_at(1);
    match t {
        "+" => Reply::Status(rest.into()),
        "-" => Reply::Error(rest.into()),
        ":" => Reply::Int(rest.parse().unwrap()),
        "$" => {
            let n: i64 = rest.parse().unwrap();
            if n < 0 {
                return Reply::Bulk(None);
            }
            let mut buf = vec![0; n as usize + 2];
            r.read_exact(&mut buf).unwrap();
            buf.truncate(n as usize);
            Reply::Bulk(Some(buf))
        }
        "*" => {
            let n: usize = rest.parse().unwrap();
            Reply::Array((0..n).map(|_| read_reply(r)).collect())
        }
        other => panic!("unexpected reply type {other}"),
    }
}

fn pairs_of(reply: Reply) -> Vec<(String, Vec<u8>)> {
    let Reply::Array(items) = reply else {
        panic!("not an array: {reply:?}")
    };
    items
        .chunks(2)
        .map(|c| match c {
            [Reply::Bulk(Some(k)), Reply::Bulk(Some(v))] => {
                (String::from_utf8(k.clone()).unwrap(), v.clone())
            }
            other => panic!("bad pair {other:?}"),
        })
        .collect()
}

fn sorted(mut v: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    v.sort();
    v
}

/// Runs `redis-server` with arguments that must make it fail at startup and
/// returns (stdout, stderr).
fn redis_startup_failure(cwd: &Path, argv: &[String]) -> (String, String) {
    let mut child = Command::new("redis-server")
        .args(argv)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-server must be installed");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("redis-server did not exit for {argv:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (out, err)
}

/// `Config::from_args` run with `cwd` as the base for relative paths.
/// (Tests run in parallel, so the process cwd is never changed: the argv
/// used here contains absolute paths only.)
fn ours(argv: &[String]) -> Result<Config, ConfigError> {
    Config::from_args(argv)
}

// ---------------------------------------------------------------- tests

#[test]
fn table_is_consistent() {
    let cfg = Config::default();
    for (d, v) in TABLE.iter().zip(&cfg.values) {
        let ok = matches!(
            (d.kind, v),
            (Kind::Bool { .. }, Value::Bool(_))
                | (Kind::Int { .. }, Value::Int(_))
                | (Kind::Enum { .. }, Value::Enum(_))
                | (Kind::Str { .. }, Value::Str(_))
                | (Kind::Dir, Value::Dir(_))
                | (Kind::Save, Value::Save(_))
                | (Kind::ClientOutputBufferLimit, Value::Obuf(_))
                | (Kind::OomScoreAdjValues, Value::Oom(_))
                | (Kind::NotifyKeyspaceEvents, Value::Notify(_))
                | (Kind::Bind, Value::Bind(_))
                | (Kind::ReplicaOf, Value::ReplicaOf(_))
                | (Kind::LatencyPercentiles, Value::Percentiles(_))
        );
        assert!(ok, "{} has a value of the wrong type", d.name);
    }
    let mut names: Vec<&str> = TABLE
        .iter()
        .flat_map(|d| [Some(d.name), d.alias])
        .flatten()
        .collect();
    let n = names.len();
    names.sort();
    names.dedup();
    assert_eq!(n, names.len(), "duplicate names in the table");
    assert_eq!(TABLE.len(), 178);
}

#[test]
fn defaults_match_redis_config_get_star() {
    let mut redis = Redis::start(&[]);
    let port = redis.port.to_string();
    let theirs = sorted(pairs_of(redis.cmd(&[b"CONFIG", b"GET", b"*"])));
    let cfg = ours(&args(&[
        "--port",
        &port,
        "--save",
        "",
        "--appendonly",
        "no",
    ]))
    .unwrap();
    let mine = sorted(cfg.get(&[b"*"]));
    let strip_dir = |v: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        v.into_iter().filter(|(k, _)| k != "dir").collect()
    };
    assert_eq!(mine.len(), theirs.len());
    assert_eq!(strip_dir(mine), strip_dir(theirs));
    // Hidden configs: exact names only.
    for name in [
        "rdb-key-save-delay",
        "key-load-delay",
        "loading-process-events-interval-bytes",
        "watchdog-period",
        "use-exit-on-panic",
    ] {
        let theirs = pairs_of(redis.cmd(&[b"CONFIG", b"GET", name.as_bytes()]));
        assert_eq!(cfg.get(&[name.as_bytes()]), theirs, "{name}");
    }
    assert!(cfg.get(&[b"rdb-key*"]).is_empty());
    // The true defaults without --save: Redis's built-in save points.
    let plain = Config::default();
    assert_eq!(plain.get_str("save"), "3600 1 300 100 60 10000");
    assert_eq!(plain.get_list("bind"), vec!["*", "-::*"]);
}

#[test]
fn config_get_patterns_match_redis() {
    let mut redis = Redis::start(&[]);
    let port = redis.port.to_string();
    let cfg = ours(&args(&[
        "--port",
        &port,
        "--save",
        "",
        "--appendonly",
        "no",
    ]))
    .unwrap();
    let cases: &[&[&[u8]]] = &[
        &[b"port", b"bind"],
        &[b"PORT"],
        &[b"port", b"PORT", b"Port"],
        &[b"*max*"],
        &[b"*max*", b"maxmemory"],
        &[b"slave*"],
        &[b"replicaof", b"slaveof"],
        &[b"repl-[bd]*"],
        &[b"nosuch"],
        &[b"h?"],
        &[b"*MEMORY*"],
    ];
    for pats in cases {
        let mut cmd: Vec<&[u8]> = vec![b"CONFIG", b"GET"];
        cmd.extend_from_slice(pats);
        let theirs = sorted(pairs_of(redis.cmd(&cmd)));
        assert_eq!(sorted(cfg.get(pats)), theirs, "CONFIG GET {pats:?}");
    }
    // Table order: a glob answers in table order, exact names in request order.
    let names: Vec<String> = cfg
        .get(&[b"port", b"bind", b"*max*"])
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(&names[..2], &["port", "bind"]);
    assert_eq!(names[2], "replica-ignore-maxmemory");
}

#[test]
fn config_set_matches_redis() {
    let mut redis = Redis::start(&[]);
    let port = redis.port.to_string();
    let mut cfg = ours(&args(&[
        "--port",
        &port,
        "--save",
        "",
        "--appendonly",
        "no",
    ]))
    .unwrap();
    let cases: &[&[&str]] = &[
        &["foo", "1"],
        &["port", "abc"],
        &["PORT", "x"],
        &["daemonize", "yes"],
        &["maxmemory", "1mb", "maxmemory", "2mb"],
        &["Port", "1", "port", "2"],
        &["slave-priority", "5", "replica-priority", "6"],
        &["slave-priority", "x"],
        &["hz", "1000"],
        &["hz", "0"],
        &["hz", "10"],
        &["dir", "/tmp"],
        &["dbfilename", "a/b"],
        &["save", "10 a"],
        &["save", "10  5"],
        &["save", ""],
        &["save", "100 5 20 3"],
        &["activedefrag", "yes"],
        &["maxclients", "0"],
        &["maxclients", "-1"],
        &["maxmemory", "-1"],
        &["maxmemory", "3GB"],
        &["maxmemory-clients", "5%"],
        &["maxmemory-clients", "200%"],
        &["maxmemory-clients", "-5"],
        &["client-output-buffer-limit", "normal 1mb 2mb 3"],
        &["client-output-buffer-limit", "replica 1 2 3 pubsub 4 5 6"],
        &["client-output-buffer-limit", "master 1 1 1"],
        &["client-output-buffer-limit", "normal 1 1"],
        &["client-output-buffer-limit", "normal 1 1 x"],
        &["notify-keyspace-events", "KEA"],
        &["notify-keyspace-events", "Ex$lm"],
        &["notify-keyspace-events", "Q"],
        &["shutdown-on-sigint", "nosave save"],
        &["shutdown-on-sigint", "now nosave"],
        &["shutdown-on-sigterm", "bogus"],
        &["loglevel", "foo"],
        &["loglevel", "WARNING"],
        &["oom-score-adj", "relative"],
        &["oom-score-adj-values", "1 2"],
        &["oom-score-adj-values", "1 2 3000"],
        &["oom-score-adj-values", "10 20 30"],
        &["port", "1", "foo", "2", "daemonize", "yes"],
        &["daemonize", "yes", "foo", "2"],
        &["maxmemory", "10", "port", "x"],
        &["appendfsync", "always", "maxmemory-policy", "allkeys-lru"],
        &["latency-tracking-info-percentiles", "50 99.99 100"],
        &["latency-tracking-info-percentiles", "101"],
        &["latency-tracking-info-percentiles", "abc"],
        &["latency-tracking-info-percentiles", ""],
        &["unixsocketperm", "700"],
        &["replicaof", "127.0.0.1 1"],
        &["proc-title-template", "{title} {nosuch}"],
        &["proc-title-template", "{title}"],
        &["proc-title-template", "{port} x"],
        &["cluster-announce-hostname", "bad_host"],
        &["list-max-ziplist-size", "-5"],
        &["requirepass", "secret"],
        &["requirepass", ""],
        &["slowlog-log-slower-than", "-2"],
        &["repl-backlog-size", "0"],
        &["repl-backlog-size", "16kb"],
        &["timeout", "007"],
        &["timeout", "+7"],
        &["protected-mode", "YES"],
        &["protected-mode", "1"],
    ];
    for case in cases {
        let mut cmd: Vec<&[u8]> = vec![b"CONFIG", b"SET"];
        cmd.extend(case.iter().map(|s| s.as_bytes()));
        let theirs = match redis.cmd(&cmd) {
            Reply::Status(s) => Ok(s),
            Reply::Error(e) => Err(e),
            other => panic!("unexpected {other:?}"),
        };
        let pairs: Vec<(&[u8], &[u8])> = case
            .chunks(2)
            .map(|c| (c[0].as_bytes(), c[1].as_bytes()))
            .collect();
        let mine = cfg.set(&pairs).map(|_| "OK".to_string());
        assert_eq!(mine, theirs, "CONFIG SET {case:?}");
        // Both sides hold the same values afterwards (atomicity included).
        for c in case.chunks(2).filter(|c| c[0] != "dir") {
            let theirs = pairs_of(redis.cmd(&[b"CONFIG", b"GET", c[0].as_bytes()]));
            assert_eq!(cfg.get(&[c[0].as_bytes()]), theirs, "after {case:?}");
        }
    }
    // Nothing drifted anywhere.
    let theirs = sorted(pairs_of(redis.cmd(&[b"CONFIG", b"GET", b"*"])));
    let strip = |v: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        v.into_iter().filter(|(k, _)| k != "dir").collect()
    };
    assert_eq!(strip(sorted(cfg.get(&[b"*"]))), strip(theirs));
}

#[test]
fn config_set_is_atomic_and_reports_changes() {
    let mut cfg = Config::default();
    let before = cfg.get(&[b"*"]);
    let err = cfg
        .set(&[(b"maxmemory", b"10mb"), (b"timeout", b"5"), (b"hz", b"x")])
        .unwrap_err();
    assert_eq!(
        err,
        "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
    );
    assert_eq!(cfg.get(&[b"*"]), before);
    let changed = cfg
        .set(&[
            (b"maxmemory", b"10mb"),
            (b"slave-read-only", b"no"),
            (b"loglevel", b"debug"),
        ])
        .unwrap();
    assert_eq!(changed, vec!["maxmemory", "replica-read-only", "loglevel"]);
    assert_eq!(cfg.get_i64("maxmemory"), 10 << 20);
    assert!(!cfg.get_bool("replica-read-only"));
    assert_eq!(cfg.get_str("loglevel"), "debug");
    // Protected configs need enable-protected-configs.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().as_bytes();
    assert!(cfg.set(&[(b"dir", d)]).is_err());
    let mut local = ours(&args(&["--enable-protected-configs", "local"])).unwrap();
    assert!(local.set(&[(b"dir", d)]).is_err());
    local.set_from(&[(b"dir", d)], true).unwrap();
    assert_eq!(local.dir(), std::fs::canonicalize(dir.path()).unwrap());
    let err = local
        .set_from(&[(b"dir", b"/nonexistent/dir")], true)
        .unwrap_err();
    assert_eq!(
        err,
        "ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory"
    );
}

/// Each case: (file content or None, extra command-line args). The real
/// server must refuse to start, and our error text must equal its output.
#[test]
fn startup_errors_match_redis() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let r = root.to_str().unwrap().to_string();
    let cases: Vec<(Option<String>, Vec<String>)> = vec![
        (Some("port 7000\nfoo bar\n".into()), vec![]),
        (Some("port 7000\nport 1 2\n".into()), vec![]),
        (Some("# c\n\n  port \"7000\n".into()), vec![]),
        (Some("port '7000'x\n".into()), vec![]),
        (Some("daemonize maybe\n".into()), vec![]),
        (Some("PORT 70000\n".into()), vec![]),
        (Some("maxmemory 12x\n".into()), vec![]),
        (Some("loglevel loud\n".into()), vec![]),
        (Some("save 900\n".into()), vec![]),
        (Some("save 0 1\n".into()), vec![]),
        (Some("unixsocketperm 999\n".into()), vec![]),
        (Some("maxmemory-clients 200%\n".into()), vec![]),
        (
            Some("client-output-buffer-limit normal 1 2\n".into()),
            vec![],
        ),
        (
            Some("client-output-buffer-limit master 1 2 3\n".into()),
            vec![],
        ),
        (Some("oom-score-adj-values 1 2\n".into()), vec![]),
        (Some("notify-keyspace-events Q\n".into()), vec![]),
        (
            Some("bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n".into()),
            vec![],
        ),
        (Some("replicaof localhost x\n".into()), vec![]),
        (Some("replicaof localhost\n".into()), vec![]),
        (Some("dir /nonexistent/dir\n".into()), vec![]),
        (Some(format!("dir {r}\ndir {r}/f.conf\n")), vec![]),
        (Some("logfile /nonexistent/dir/x.log\n".into()), vec![]),
        (
            Some("cluster-enabled yes\nreplicaof 127.0.0.1 6379\n".into()),
            vec![],
        ),
        (Some("sentinel monitor x\n".into()), vec![]),
        (Some("mymod.opt\n".into()), vec![]),
        (Some("rename-command GET\n".into()), vec![]),
        (Some("activedefrag yes\n".into()), vec![]),
        (Some("dbfilename /x/dump.rdb\n".into()), vec![]),
        (Some("appendfilename \"\"\n".into()), vec![]),
        (Some("shutdown-on-sigint \"save nosave\"\n".into()), vec![]),
        (
            Some("latency-tracking-info-percentiles 101\n".into()),
            vec![],
        ),
        (Some("proto-max-bulk-len 1000\n".into()), vec![]),
        (Some(format!("include {r}/nosuch.conf\n")), vec![]),
        (Some(format!("include {r}/inc.conf\n")), vec![]),
        (Some("port 7000".into()), args(&["--port", "x"])),
        (
            Some("port 7000\n".into()),
            args(&["--hz", "5", "--nosuch", "1"]),
        ),
        (None, args(&["--port", "abc"])),
        (None, args(&["--daemonize", "maybe"])),
        (None, args(&["--save", "a b"])),
        (None, args(&["--port"])),
        (None, args(&["--port", "1", "2"])),
        (None, args(&["--save", "--port", "x"])),
        (None, args(&["--replicaof", "h", "p"])),
        (None, args(&["--loglevel", "x y"])),
        (None, args(&["--requirepass", "a\"b", "--port", "-1"])),
        (None, args(&["--bind", "1.2.3.4 5.6.7.8", "--port", "p"])),
    ];
    std::fs::write(root.join("inc.conf"), "hz 5\nbogus yes\n").unwrap();
    for (i, (content, extra)) in cases.iter().enumerate() {
        let mut argv = Vec::new();
        if let Some(c) = content {
            let path = root.join(format!("case{i}.conf"));
            std::fs::write(&path, c).unwrap();
            argv.push(path.to_str().unwrap().to_string());
        }
        argv.extend(extra.iter().cloned());
        let (out, err) = redis_startup_failure(&root, &argv);
        let mine = match ours(&argv) {
            Ok(_) => {
                panic!("case {i} {content:?} {extra:?}: we accepted it, redis said {err}{out}")
            }
            Err(e) => e,
        };
        if mine.is_log_line() {
            assert!(
                out.trim_end().ends_with(&format!("# {mine}")),
                "case {i}: redis stdout {out:?}, ours {mine}"
            );
        } else {
            assert_eq!(mine.to_string(), err, "case {i}: {content:?} {extra:?}");
        }
    }
}

#[test]
fn missing_config_file_matches_redis() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.conf");
    let argv = args(&[missing.to_str().unwrap()]);
    let (out, _) = redis_startup_failure(dir.path(), &argv);
    let e = ours(&argv).unwrap_err();
    assert!(e.is_log_line());
    assert_eq!(
        e.to_string(),
        format!(
            "Fatal error, can't open config file '{}': No such file or directory",
            missing.display()
        )
    );
    assert!(out.trim_end().ends_with(&format!("# {e}")), "{out}");
}

#[test]
fn debian_stock_redis_conf_loads() {
    let path = Path::new("/etc/redis/redis.conf");
    assert!(
        path.exists(),
        "/etc/redis/redis.conf is required (apt-get install redis-server)"
    );
    let cfg = ours(&args(&["/etc/redis/redis.conf"])).unwrap();
    assert_eq!(cfg.config_file(), Some(path));
    assert_eq!(cfg.get_i64("port"), 6379);
    assert_eq!(cfg.get_list("bind"), vec!["127.0.0.1", "-::1"]);
    assert!(cfg.get_bool("daemonize"));
    assert_eq!(cfg.get_str("dir"), "/var/lib/redis");
    assert_eq!(cfg.get_str("logfile"), "/var/log/redis/redis-server.log");
    assert_eq!(cfg.get_str("pidfile"), "/run/redis/redis-server.pid");
    assert_eq!(cfg.save_params(), vec![(3600, 1), (300, 100), (60, 10000)]);
    assert_eq!(
        cfg.get_str("client-output-buffer-limit"),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    // The stock file sets nothing Tandem ignores to a non-default value.
    assert_eq!(cfg.unsupported_in_use(), Vec::<String>::new());
    // Command-line arguments come after the file.
    let cfg = ours(&args(&[
        "/etc/redis/redis.conf",
        "--port",
        "7000",
        "--save",
        "",
    ]))
    .unwrap();
    assert_eq!(cfg.get_i64("port"), 7000);
    assert!(cfg.save_params().is_empty());
}

#[test]
fn file_rules() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    // save accumulates, the first one replaces the defaults; `save ""` resets.
    let cfg = parse_text(&root, b"save 900 1\nsave 300 10\n").unwrap();
    assert_eq!(cfg.save_params(), vec![(900, 1), (300, 10)]);
    let cfg = parse_text(&root, b"save 900 1\nsave \"\"\nsave 5 5\n").unwrap();
    assert_eq!(cfg.save_params(), vec![(5, 5)]);
    let cfg = parse_text(&root, b"save \"900 1 300 10\"\n").unwrap();
    assert_eq!(cfg.get_str("save"), "900 1 300 10");
    // Last wins for single-value directives; names are case-insensitive; aliases.
    let cfg = parse_text(
        &root,
        b"port 1\nPORT 2\nslave-read-only no\nslaveof 10.0.0.1 6380\n",
    )
    .unwrap();
    assert_eq!(cfg.get_i64("port"), 2);
    assert!(!cfg.get_bool("replica-read-only"));
    assert_eq!(cfg.replicaof(), Some(("10.0.0.1".to_string(), 6380)));
    assert_eq!(cfg.get_str("slaveof"), "10.0.0.1 6380");
    // client-output-buffer-limit classes accumulate.
    let cfg = parse_text(
        &root,
        b"client-output-buffer-limit normal 1mb 2mb 3\nclient-output-buffer-limit pubsub 1 2 3\n",
    )
    .unwrap();
    let l = cfg.client_output_buffer_limits();
    assert_eq!(l[0].hard_bytes, 1 << 20);
    assert_eq!(l[1], value::OBUF_DEFAULTS[1]);
    assert_eq!(l[2].soft_seconds, 3);
    // Deprecated and accept-and-warn directives.
    let cfg = parse_text(
        &root,
        b"list-max-ziplist-entries 5\nrename-command FLUSHALL \"\"\nuser bob on\nloadmodule /x.so a b\nmymod.size 5\nsentinel\naof-timestamp-enabled yes\nrdbcompression yes\n",
    )
    .unwrap();
    assert_eq!(
        cfg.unsupported_in_use(),
        vec!["rename-command", "loadmodule", "mymod.size"]
    );
    assert_eq!(
        cfg.user_directives(),
        [vec!["bob".to_string(), "on".to_string()]]
    );
    // include, relative to the current directory (moved by `dir`).
    std::fs::write(root.join("a.conf"), "hz 20\n").unwrap();
    std::fs::create_dir(root.join("conf.d")).unwrap();
    std::fs::write(root.join("conf.d/1.conf"), "timeout 5\n").unwrap();
    std::fs::write(root.join("conf.d/2.conf"), "timeout 7\n").unwrap();
    let text = format!(
        "dir {}\ninclude a.conf\ninclude conf.d/*.conf\ninclude none/*.conf\n",
        root.display()
    );
    let cfg = parse_text(Path::new("/"), text.as_bytes()).unwrap();
    assert_eq!(cfg.get_i64("hz"), 20);
    assert_eq!(cfg.get_i64("timeout"), 7);
    // hz is capped after loading.
    let cfg = parse_text(&root, b"hz 100000\n").unwrap();
    assert_eq!(cfg.get_i64("hz"), 500);
    // Memory units and typed accessors.
    let cfg = parse_text(
        &root,
        b"maxmemory 2gb\nproto-max-bulk-len 2m\nrequirepass \"p w\"\n",
    )
    .unwrap();
    assert_eq!(cfg.get_i64("maxmemory"), 2 << 30);
    assert_eq!(cfg.get_i64("proto-max-bulk-len"), 2_000_000);
    assert_eq!(cfg.get_str("requirepass"), "p w");
    assert_eq!(cfg.get_bytes("masterauth"), None);
    assert_eq!(cfg.get_i64("nosuch"), 0);
    assert_eq!(cfg.get_str("nosuch"), "");
}

#[test]
fn command_line_forms() {
    let cfg = ours(&args(&[
        "--port",
        "7000",
        "--save",
        "",
        "--replicaof",
        "127.0.0.1",
        "6379",
    ]))
    .unwrap();
    assert_eq!(cfg.get_i64("port"), 7000);
    assert!(cfg.save_params().is_empty());
    assert_eq!(cfg.replicaof(), Some(("127.0.0.1".into(), 6379)));
    assert!(cfg.config_file().is_none());
    let cfg = ours(&args(&["--save", "--port", "7001"])).unwrap();
    assert!(cfg.save_params().is_empty());
    assert_eq!(cfg.get_i64("port"), 7001);
    let cfg = ours(&args(&["--save"])).unwrap();
    assert!(cfg.save_params().is_empty());
    let cfg = ours(&args(&["--port 7002", "--bind", "127.0.0.1", "::1"])).unwrap();
    assert_eq!(cfg.get_i64("port"), 7002);
    assert_eq!(cfg.get_list("bind"), vec!["127.0.0.1", "::1"]);
    let cfg = ours(&args(&["--save", "60 1 30 2"])).unwrap();
    assert_eq!(cfg.save_params(), vec![(60, 1), (30, 2)]);
}

/// Same file and the same CONFIG SETs on Redis and on Tandem, then CONFIG
/// REWRITE on both: identical output, except that Redis appends its lines in
/// hash order (compared as sets) and adds a `user default ...` line from its
/// ACL, which Tandem does not have.
#[test]
fn rewrite_matches_redis() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let port = free_port();
    let original = format!(
        "# top comment\n\n\nport {port}\n  maxmemory 100mb\nsave 900 1\nsave 300 10\nslave-read-only yes\n\
         # middle\nbogus-directive 1\nhz 15\nclient-output-buffer-limit pubsub 1mb 1mb 10\n\
         bind 127.0.0.1\nunbalanced \"quote\n\ninclude /dev/null\nappendonly no\ndir {}\n",
        root.display()
    );
    let text_for = |name: &str| {
        let p = root.join(name);
        std::fs::write(
            &p,
            original
                .replace("bogus-directive 1\n", "")
                .replace("unbalanced \"quote\n", ""),
        )
        .unwrap();
        p
    };
    // Redis refuses unknown lines at startup, so both start from the clean
    // variant; the unknown lines are then injected before REWRITE.
    let theirs_path = text_for("redis.conf");
    let ours_path = text_for("tandem.conf");
    let sets: &[(&str, &str)] = &[
        ("maxmemory", "3gb"),
        ("save", "60 5"),
        ("replica-read-only", "no"),
        ("hz", "10"),
        ("timeout", "30"),
        ("notify-keyspace-events", "Kx"),
        ("client-output-buffer-limit", "normal 1 2 3"),
        ("oom-score-adj-values", "1 2 3"),
        ("maxmemory-policy", "allkeys-lru"),
        ("requirepass", "a \"b\""),
    ];
    let child = Command::new("redis-server")
        .arg(&theirs_path)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut redis = Redis {
        child,
        port,
        _dir: tmp,
        conn: None,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.conn.is_none() {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            redis.conn = Some(BufReader::new(s));
        } else {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut cfg = ours(&args(&[ours_path.to_str().unwrap()])).unwrap();
    for (k, v) in sets {
        assert_eq!(
            redis.cmd(&[b"CONFIG", b"SET", k.as_bytes(), v.as_bytes()]),
            Reply::Status("OK".into())
        );
        cfg.set(&[(k.as_bytes(), v.as_bytes())]).unwrap();
    }
    std::fs::write(&theirs_path, &original).unwrap();
    std::fs::write(&ours_path, &original).unwrap();
    assert_eq!(
        redis.cmd(&[b"CONFIG", b"REWRITE"]),
        Reply::Status("OK".into())
    );
    cfg.rewrite().unwrap();
    let theirs = std::fs::read_to_string(&theirs_path).unwrap();
    let mine = std::fs::read_to_string(&ours_path).unwrap();
    let split = |s: &str| -> (String, Vec<String>) {
        match s.split_once("# Generated by CONFIG REWRITE\n") {
            Some((head, tail)) => {
                let mut t: Vec<String> = tail
                    .lines()
                    .filter(|l| !l.starts_with("user "))
                    .map(str::to_string)
                    .collect();
                t.sort();
                (head.to_string(), t)
            }
            None => (s.to_string(), Vec::new()),
        }
    };
    assert_eq!(
        split(&mine),
        split(&theirs),
        "\nours:\n{mine}\ntheirs:\n{theirs}"
    );
    // Round trip: the rewritten file parses back to the same values.
    let again = ours(&args(&[ours_path.to_str().unwrap()])).unwrap();
    assert_eq!(again.get(&[b"*"]), cfg.get(&[b"*"]));
    // A second rewrite (not a fixed point in Redis either: the replica class
    // of client-output-buffer-limit reuses the pubsub line) still agrees.
    assert_eq!(
        redis.cmd(&[b"CONFIG", b"REWRITE"]),
        Reply::Status("OK".into())
    );
    again.rewrite().unwrap();
    let theirs = std::fs::read_to_string(&theirs_path).unwrap();
    let mine = std::fs::read_to_string(&ours_path).unwrap();
    assert_eq!(
        split(&mine),
        split(&theirs),
        "\nours:\n{mine}\ntheirs:\n{theirs}"
    );
}

#[test]
fn rewrite_without_file_and_new_file() {
    let cfg = Config::default();
    assert_eq!(
        cfg.rewrite().unwrap_err(),
        "ERR The server is running without a config file"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.conf");
    std::fs::write(&path, "").unwrap();
    let mut cfg = ours(&args(&[path.to_str().unwrap()])).unwrap();
    cfg.set(&[(b"port", b"7777")]).unwrap();
    std::fs::remove_file(&path).unwrap();
    cfg.rewrite().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# Generated by CONFIG REWRITE\n"),
        "{text}"
    );
    assert!(text.contains("\nport 7777\n"));
    let again = ours(&args(&[path.to_str().unwrap()])).unwrap();
    assert_eq!(again.get(&[b"*"]), cfg.get(&[b"*"]));
}

/// Prints the directive lists (used to generate the notes/docs section).
#[test]
fn directive_lists() {
    let supported = supported_directives();
    let unsupported = unsupported_directives();
    assert_eq!(supported.len() + unsupported.len(), TABLE.len());
    assert!(supported.contains(&"port") && supported.contains(&"save"));
    assert!(supported.contains(&"replicaof") && supported.contains(&"appendonly"));
    assert!(unsupported.contains(&"tls-port"));
    if std::env::var_os("TANDEM_PRINT_DIRECTIVES").is_some() {
        for (name, alias) in directive_names() {
            let acted = if supported.contains(&name) {
                "yes"
            } else {
                "no"
            };
            println!("{name}\t{}\t{acted}", alias.unwrap_or(""));
        }
    }
}
