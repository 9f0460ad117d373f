//! The replication stream of tandem-server as a master, byte for byte against
//! redis-server 7.0.15's: the same command corpus (strings, keys, relative and absolute
//! expiries, MULTI/EXEC, SELECT of several databases, FLUSHALL ASYNC, SWAPDB,
//! INCRBYFLOAT, GETEX, SET EX, commands that change nothing, EVAL) goes to a redis-server
//! master and to a tandem-server master, each followed by a raw replica connection of
//! the test's own (REPLCONF, `PSYNC ? -1`, the RDB payload skipped); the streams read
//! must be equal once absolute millisecond timestamps (`PXAT` values, `PEXPIREAT`
//! times) are masked and the master's `PING` / `REPLCONF GETACK` are skipped.
//!
//! Also here: bad replication input to both masters with the replies compared (PSYNC
//! with a malformed id, a non-numeric offset, the wrong arity, inside MULTI; REPLCONF
//! with an unknown option, an odd argument count, `ACK` junk), and a replica that stops
//! reading while the master keeps serving other clients and drops it at its output
//! buffer limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tandem_tests::probe::{cmds, info_field, ok, text, wait_until};
use tandem_tests::{Flavor, RespConn, ServerProcess};

/// Bound on every read of the raw replica.
const READ_LIMIT: Duration = Duration::from_secs(20);

/// A replica of the test's own: the handshake by hand, then the stream as argument vectors.
struct RawReplica {
    sock: TcpStream,
    buf: Vec<u8>,
    /// Once synced, the offset sent with `REPLCONF ACK` whenever a read waits: Redis
    /// ignores an ACK that arrives before it has marked the diskless transfer done,
    /// and starts the stream only at the next one (a real replica ACKs every second).
    ack: Option<String>,
}

impl RawReplica {
    fn connect(master: &ServerProcess) -> RawReplica {
        let sock = TcpStream::connect(master.addr()).unwrap();
        sock.set_nodelay(true).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        RawReplica {
            sock,
            buf: Vec::new(),
            ack: None,
        }
    }

    /// Synced, online, and past a first command of the stream.
    fn streaming(master: &ServerProcess, m: &mut RespConn) -> RawReplica {
        let mut raw = RawReplica::connect(master);
        raw.sync();
        wait_until("the raw replica to be online", || {
            text(&cmds(m, &["INFO", "replication"])).contains("state=online")
        });
        ok(m, &["SET", "streaming", "1"]);
        raw.commands_until("streaming");
        raw
    }

    fn send(&mut self, args: &[&str]) {
        self.sock
            .write_all(&tandem_tests::resp::encode_command(args))
            .unwrap();
    }

    /// Reads more bytes; panics after [`READ_LIMIT`] without any.
    fn fill(&mut self) {
        let deadline = Instant::now() + READ_LIMIT;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => panic!("the master closed the replica link"),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    assert!(Instant::now() < deadline, "no data from the master");
                    if let Some(off) = self.ack.clone() {
                        self.send(&["REPLCONF", "ACK", &off]);
                    }
                }
                Err(e) => panic!("reading from the master: {e}"),
            }
        }
    }

    /// Reads (and drops) whatever comes until the master closes the link; false when it
    /// is still open after `limit`.
    fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut chunk = [0u8; 64 * 1024];
        while Instant::now() < deadline {
            match self.sock.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=nl).collect();
                return String::from_utf8_lossy(&line).trim_end().to_string();
            }
            self.fill();
        }
    }

    /// The handshake and the full sync's payload, skipped; returns the FULLRESYNC line.
    fn sync(&mut self) -> String {
        self.send(&["PING"]);
        assert_eq!(self.line(), "+PONG");
        self.send(&["REPLCONF", "listening-port", "0"]);
        assert_eq!(self.line(), "+OK");
        self.send(&["REPLCONF", "capa", "eof", "capa", "psync2"]);
        assert_eq!(self.line(), "+OK");
        self.send(&["PSYNC", "?", "-1"]);
        let full = self.line();
        assert!(full.starts_with("+FULLRESYNC "), "{full}");
        let header = loop {
            let l = self.line();
            if !l.is_empty() {
                break l;
            }
        };
        if let Some(mark) = header.strip_prefix("$EOF:") {
            let mark = mark.as_bytes().to_vec();
            assert_eq!(mark.len(), 40, "{header}");
            loop {
                if let Some(at) = self.buf.windows(40).position(|w| w == &mark[..]) {
                    self.buf.drain(..at + 40);
                    break;
                }
                self.fill();
            }
        } else {
            let len: usize = header.strip_prefix('$').unwrap().parse().unwrap();
            while self.buf.len() < len {
                self.fill();
            }
            self.buf.drain(..len);
        }
        // A diskless replica goes online with its first ACK.
        let offset = full.rsplit(' ').next().unwrap().to_string();
        self.send(&["REPLCONF", "ACK", &offset]);
        self.ack = Some(offset);
        full
    }

    /// One command of the stream.
    fn command(&mut self) -> Vec<Vec<u8>> {
        loop {
            if let Some((args, used)) = parse_multibulk(&self.buf) {
                self.buf.drain(..used);
                return args;
            }
            self.fill();
        }
    }

    /// The stream's commands up to and including `SET <end-key> ...`, without the
    /// master's PING and REPLCONF, timestamps masked.
    fn commands_until(&mut self, end_key: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let args = self.command();
            let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
            if name == "PING" || name == "REPLCONF" {
                continue;
            }
            let done = name == "SET" && args.get(1).map(Vec::as_slice) == Some(end_key.as_bytes());
            out.push(masked(&args));
            if done {
                return out;
            }
        }
    }
}

/// A complete `*<n>\r\n$<len>\r\n...` (or another line) at the start of `buf`, and
/// its length.
fn parse_multibulk(buf: &[u8]) -> Option<(Vec<Vec<u8>>, usize)> {
    fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let nl = buf[at..].windows(2).position(|w| w == b"\r\n")?;
        Some((&buf[at..at + nl], at + nl + 2))
    }
    let (head, mut at) = line(buf, 0)?;
    if head.first() != Some(&b'*') {
        // A reply line the master wrote down the link: kept as it is, to be compared.
        return Some((vec![head.to_vec()], at));
    }
    let n: usize = std::str::from_utf8(&head[1..]).ok()?.parse().ok()?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        let (h, next) = line(buf, at)?;
        assert_eq!(h.first(), Some(&b'$'));
        let len: usize = std::str::from_utf8(&h[1..]).ok()?.parse().ok()?;
        if buf.len() < next + len + 2 {
            return None;
        }
        args.push(buf[next..next + len].to_vec());
        at = next + len + 2;
    }
    Some((args, at))
}

/// The command as text, with absolute millisecond times replaced by `<ms>`: the value
/// after `PXAT` and the time of `PEXPIREAT`.
fn masked(args: &[Vec<u8>]) -> String {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let mut words: Vec<String> = args.iter().map(|a| tandem_tests::escape(a)).collect();
    for i in 1..words.len() {
        let prev = String::from_utf8_lossy(&args[i - 1]).to_ascii_uppercase();
        let absolute = prev == "PXAT" || (i == 2 && name == "PEXPIREAT");
        if absolute && String::from_utf8_lossy(&args[i]).parse::<i64>().is_ok() {
            words[i] = "<ms>".to_string();
        }
    }
    words.join(" ")
}

fn start(flavor: Flavor, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--repl-diskless-sync-delay", "0"];
    args.extend_from_slice(extra);
    ServerProcess::start(flavor, &args).unwrap()
}

/// The corpus; every command must succeed or fail the same way on both masters.
const CORPUS: &[&[&str]] = &[
    &["SELECT", "0"],
    &["SET", "s", "v"],
    &["APPEND", "s", "x"],
    &["SETRANGE", "s", "1", "YY"],
    &["GETSET", "s", "w"],
    &["SET", "s", "z", "GET"],
    &["SETNX", "s", "no"],
    &["SETNX", "fresh", "yes"],
    &["MSET", "m1", "1", "m2", "2"],
    &["MSETNX", "m1", "x", "m3", "y"],
    &["INCR", "n"],
    &["INCRBY", "n", "41"],
    &["DECR", "n"],
    &["DECRBY", "n", "2"],
    &["INCRBYFLOAT", "f", "1.5"],
    &["INCRBYFLOAT", "f", "2.0e2"],
    &["INCRBYFLOAT", "f", "-0.25"],
    &["SET", "e1", "v", "EX", "100"],
    &["SET", "e2", "v", "PX", "100000"],
    &["SET", "e3", "v", "EXAT", "4102444800"],
    &["SET", "e4", "v", "PXAT", "4102444800123"],
    &["SETEX", "e5", "100", "v"],
    &["PSETEX", "e6", "100000", "v"],
    &["SET", "e1", "w", "KEEPTTL"],
    &["EXPIRE", "s", "1000"],
    &["PEXPIRE", "m1", "1000000"],
    &["EXPIREAT", "m2", "4102444800"],
    &["PEXPIREAT", "m3", "4102444800123"],
    &["EXPIRE", "s", "2000", "GT"],
    &["EXPIRE", "s", "10", "GT"],
    &["PERSIST", "s"],
    &["PERSIST", "s"],
    &["GETEX", "e2", "EX", "50"],
    &["GETEX", "e2", "PX", "50000"],
    &["GETEX", "e2", "EXAT", "4102444800"],
    &["GETEX", "e2", "PERSIST"],
    &["GETEX", "e2"],
    &["GETDEL", "fresh"],
    &["GETDEL", "nosuch"],
    &["EXPIRE", "e6", "-1"],
    &["DEL", "nosuch"],
    &["DEL", "e5", "nosuch", "m1"],
    &["UNLINK", "m2"],
    &["RENAME", "m3", "m4"],
    &["RENAMENX", "m4", "n"],
    &["COPY", "n", "ncopy"],
    &["MOVE", "ncopy", "7"],
    &["INCR", "s"],
    &["RPUSH", "l", "a", "b", "c"],
    &["LPOP", "l"],
    &["HSET", "h", "f", "1"],
    &["HINCRBYFLOAT", "h", "f", "0.5"],
    &["SADD", "st", "a", "b"],
    &["SPOP", "st", "0"],
    &["ZADD", "z", "1", "a"],
    &["SELECT", "3"],
    &["SET", "three", "3"],
    &["MULTI"],
    &["SET", "t1", "x"],
    &["INCR", "t2"],
    &["SELECT", "5"],
    &["SET", "t3", "y", "EX", "100"],
    &["DEL", "nosuch"],
    &["EXEC"],
    &["MULTI"],
    &["GET", "t1"],
    &["EXEC"],
    &["SET", "five", "5"],
    &["SWAPDB", "3", "5"],
    &["SELECT", "9"],
    &["SET", "nine", "9"],
    &["FLUSHDB"],
    &["SET", "nine", "9"],
    &["FLUSHALL", "ASYNC"],
    &["SELECT", "2"],
    &["SET", "after", "flush"],
    &["FLUSHALL", "SYNC"],
    &["SELECT", "0"],
    // Scripts replicate their effects, several wrapped in MULTI/EXEC.
    &[
        "EVAL",
        "redis.call('set', KEYS[1], ARGV[1]) redis.call('incr', 'ev2') return 1",
        "1",
        "ev1",
        "a",
    ],
    &["EVAL", "return redis.call('get', 'ev1')", "0"],
    &[
        "EVAL",
        "redis.call('select', 2) return redis.call('set', 'ev3', 'x', 'EX', '100')",
        "0",
    ],
    &["EVAL", "return redis.call('set', 'ev4', 'y')", "0"],
    // redis.set_repl: REPL_NONE and REPL_AOF keep commands from the replicas (two
    // commands still make Redis send MULTI/EXEC around what is left), REPL_REPLICA and
    // REPL_ALL send them; bad flags are errors. Flags hold for the run only.
    &[
        "EVAL",
        "redis.set_repl(redis.REPL_NONE) redis.call('set', 'sr1', '1') return 1",
        "0",
    ],
    &[
        "EVAL",
        "redis.set_repl(redis.REPL_AOF) redis.call('set', 'sr2', '1') \
         redis.set_repl(redis.REPL_REPLICA) redis.call('set', 'sr3', '1') return 1",
        "0",
    ],
    &[
        "EVAL",
        "redis.set_repl(redis.REPL_NONE) redis.call('set', 'sr4', '1') \
         redis.set_repl(redis.REPL_ALL) redis.call('del', 'sr4') return 1",
        "0",
    ],
    &[
        "EVAL",
        "redis.set_repl(redis.REPL_AOF) redis.call('set', 'sr5', '1') \
         redis.call('set', 'sr6', '1') return 1",
        "0",
    ],
    &["EVAL", "redis.set_repl(4) return 1", "0"],
    &["EVAL", "redis.set_repl() return 1", "0"],
    &[
        "EVAL",
        "redis.set_repl('2') redis.call('set', 'sr7', '1') return 1",
        "0",
    ],
    &[
        "EVAL",
        "redis.set_repl('x') redis.call('set', 'sr8', '1') return 1",
        "0",
    ],
    &["EVAL", "return redis.call('set', 'sr9', '1')", "0"],
    &["SET", "end", "1"],
];

/// Runs the corpus on `flavor`'s master and returns its replies and the stream read.
fn stream_of(flavor: Flavor) -> (Vec<String>, Vec<String>) {
    let master = start(flavor, &[]);
    let mut m = master.connect().unwrap();
    ok(&mut m, &["SET", "before", "sync"]);
    let mut raw = RawReplica::connect(&master);
    raw.sync();
    wait_until("the raw replica to be online", || {
        text(&cmds(&mut m, &["INFO", "replication"])).contains("state=online")
    });
    let mut replies = Vec::new();
    for args in CORPUS {
        let r = cmds(&mut m, args);
        let shown = if r.is_error() {
            format!("-{}", text(&r))
        } else {
            String::new()
        };
        replies.push(format!("{} -> {shown}", args.join(" ")));
    }
    let stream = raw.commands_until("end");
    (replies, stream)
}

#[test]
fn the_stream_equals_redis() {
    let (redis_replies, redis_stream) = stream_of(Flavor::Redis);
    let (tandem_replies, tandem_stream) = stream_of(Flavor::Tandem);
    assert_eq!(tandem_replies, redis_replies, "errors differ");
    let diff: Vec<String> = redis_stream
        .iter()
        .zip(&tandem_stream)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| format!("#{i}: redis {a} / tandem {b}"))
        .collect();
    assert!(
        diff.is_empty() && redis_stream.len() == tandem_stream.len(),
        "streams differ ({} vs {} commands):\n{}\nredis:\n{}\ntandem:\n{}",
        redis_stream.len(),
        tandem_stream.len(),
        diff.join("\n"),
        redis_stream.join("\n"),
        tandem_stream.join("\n")
    );
}

/// Sends `args` on a fresh connection and returns the first reply line (masked ids and
/// offsets in `+FULLRESYNC`), or `(none)` when nothing came before PING's answer.
fn first_reply(master: &ServerProcess, setup: &[&[&str]], args: &[&str]) -> String {
    let mut c = master.connect().unwrap();
    for s in setup {
        cmds(&mut c, s);
    }
    c.send(args).unwrap();
    // A replica that gets a reply to PING is dropped by Redis: no PING after PSYNC.
    let sync = args[0].eq_ignore_ascii_case("psync") || args[0].eq_ignore_ascii_case("sync");
    if !sync {
        c.send(&["PING"]).unwrap();
    }
    let mut raw = Vec::new();
    let deadline = Instant::now() + READ_LIMIT;
    // A PSYNC that starts a full sync answers a line, then the payload follows.
    loop {
        match c.read_reply() {
            Ok(tandem_tests::Reply::Frame(f)) => {
                let t = f.as_string().unwrap_or_default();
                raw.push(if f.is_error() { format!("-{t}") } else { t });
                break;
            }
            Ok(tandem_tests::Reply::Closed) => {
                raw.push("(closed)".into());
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}");
            }
        }
    }
    let first = raw.remove(0);
    match first.strip_prefix("FULLRESYNC ") {
        Some(_) => "FULLRESYNC <id> <offset>".to_string(),
        None if first == "PONG" => "(none)".to_string(),
        None => first,
    }
}

#[test]
fn bad_replication_input_gets_the_same_replies() {
    let cases: &[(&[&[&str]], &[&str])] = &[
        (&[], &["PSYNC"]),
        (&[], &["PSYNC", "?"]),
        (&[], &["PSYNC", "?", "-1", "extra"]),
        (&[], &["PSYNC", "?", "notanumber"]),
        (&[], &["PSYNC", "?", "1.5"]),
        (&[], &["PSYNC", "not-an-id", "100"]),
        (
            &[],
            &["PSYNC", "0123456789012345678901234567890123456789", "1"],
        ),
        (&[&["MULTI"]], &["PSYNC", "?", "-1"]),
        (&[&["MULTI"]], &["SYNC"]),
        (&[], &["REPLCONF"]),
        (&[], &["REPLCONF", "listening-port"]),
        (&[], &["REPLCONF", "nosuch", "x"]),
        (&[], &["REPLCONF", "listening-port", "notaport"]),
        (&[], &["REPLCONF", "listening-port", "123", "capa"]),
        (&[], &["REPLCONF", "capa", "whatever"]),
        (&[], &["REPLCONF", "ip-address", "10.0.0.1"]),
        (&[], &["REPLCONF", "ACK", "junk"]),
        (&[], &["REPLCONF", "ACK", "100"]),
        (&[], &["REPLCONF", "GETACK", "*"]),
        (&[], &["REPLCONF", "rdb-only", "2"]),
        (&[], &["REPLCONF", "rdb-only", "x"]),
    ];
    let redis = start(Flavor::Redis, &[]);
    let tandem = start(Flavor::Tandem, &[]);
    let mut diffs = Vec::new();
    for (setup, args) in cases {
        let r = first_reply(&redis, setup, args);
        let t = first_reply(&tandem, setup, args);
        if r != t {
            diffs.push(format!("{args:?}: redis {r:?} / tandem {t:?}"));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn junk_from_a_replica_is_handled_like_redis() {
    let mut outcomes = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let master = start(flavor, &[]);
        let mut m = master.connect().unwrap();
        let mut raw = RawReplica::connect(&master);
        raw.sync();
        // Junk ACKs are ignored: the link stays up and the stream flows.
        for junk in ["junk", "-5", "1.5", ""] {
            raw.send(&["REPLCONF", "ACK", junk]);
        }
        ok(&mut m, &["SET", "k", "v"]);
        let stream = raw.commands_until("k");
        assert_eq!(
            info_field(&mut m, "replication", "connected_slaves").as_deref(),
            Some("1"),
            "{flavor:?}"
        );
        // An unknown REPLCONF option would make the master answer an error to its
        // replica: Redis logs it and drops the link.
        raw.send(&["REPLCONF", "NOSUCH", "x"]);
        let closed = raw.closed_within(Duration::from_secs(10));
        wait_until("the replica to be gone", || {
            !closed || info_field(&mut m, "replication", "connected_slaves").as_deref() == Some("0")
        });
        let logged = master
            .stdout_log()
            .contains("This master is sending an error to its replica: 'Unrecognized REPLCONF option: NOSUCH'");
        outcomes.push((stream, closed, logged));
    }
    assert_eq!(outcomes[1], outcomes[0], "tandem / redis");
}

#[test]
fn a_replica_that_stops_reading_does_not_stall_the_master() {
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let master = start(
            flavor,
            &["--client-output-buffer-limit", "replica 4mb 1mb 1"],
        );
        let mut m = master.connect().unwrap();
        let raw = RawReplica::streaming(&master, &mut m);
        // The raw replica reads nothing from now on; 64 KB values fill its socket
        // buffers, then the master's output buffer, until the limit drops it.
        let value = "x".repeat(64 * 1024);
        let mut other = master.connect().unwrap();
        for i in 0..400 {
            ok(&mut m, &["SET", &format!("big:{}", i % 50), &value]);
            // Another client is served all along.
            assert_eq!(text(&cmds(&mut other, &["PING"])), "PONG", "{flavor:?}");
        }
        wait_until("the master to drop the stalled replica", || {
            info_field(&mut m, "replication", "connected_slaves").as_deref() == Some("0")
        });
        let log = master.stdout_log();
        let line = log.lines().find(|l| {
            l.contains("scheduled to be closed ASAP for overcoming of output buffer limits")
        });
        assert!(line.is_some(), "{flavor:?}: {log}");
        // The line describes the replica as CLIENT LIST does: its output buffer (omem)
        // holds the stream it did not read, past the 1mb soft limit.
        let omem: Option<u64> = line
            .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("omem=")))
            .and_then(|v| v.parse().ok());
        assert!(
            omem.is_some_and(|n| n >= 1024 * 1024),
            "{flavor:?}: {line:?}"
        );
        assert_eq!(
            cmds(&mut m, &["DBSIZE"]).as_integer(),
            Some(51),
            "{flavor:?}"
        );
        drop(raw);
    }
}

/// The stream queued for a replica that does not read is not counted against
/// `maxmemory`: the master does not evict its data for it (Redis leaves its replication
/// buffer beyond the backlog out, `mem_not_counted_for_evict`).
#[test]
fn a_lagging_replica_does_not_make_the_master_evict() {
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let master = start(
            flavor,
            &[
                "--client-output-buffer-limit",
                "replica 0 0 0",
                "--maxmemory-policy",
                "allkeys-random",
            ],
        );
        let mut m = master.connect().unwrap();
        for i in 0..100 {
            ok(&mut m, &["SET", &format!("keep:{i}"), "v"]);
        }
        let raw = RawReplica::streaming(&master, &mut m);
        let used: u64 = info_field(&mut m, "memory", "used_memory")
            .and_then(|v| v.parse().ok())
            .unwrap();
        let limit = (used + 8 * 1024 * 1024).to_string();
        ok(&mut m, &["CONFIG", "SET", "maxmemory", &limit]);
        // The raw replica reads nothing from now on: 40 MB of stream (one key rewritten,
        // so the data itself stays small) wait for it, mostly at the master.
        let value = "x".repeat(1024 * 1024);
        for i in 0..40 {
            let reply = text(&cmds(&mut m, &["SET", "big", &value]));
            assert_eq!(reply, "OK", "{flavor:?}: SET number {i}");
        }
        let not_counted: u64 = info_field(&mut m, "memory", "mem_not_counted_for_evict")
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(not_counted >= 16 * 1024 * 1024, "{flavor:?}: {not_counted}");
        assert_eq!(
            info_field(&mut m, "stats", "evicted_keys").as_deref(),
            Some("0"),
            "{flavor:?}"
        );
        assert_eq!(
            cmds(&mut m, &["DBSIZE"]).as_integer(),
            Some(102),
            "{flavor:?}"
        );
        ok(&mut m, &["CONFIG", "SET", "maxmemory", "0"]);
        drop(raw);
    }
}
