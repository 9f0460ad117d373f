//! Compares every COMMAND reply of `tandem-commands` with a live redis-server 7.0.15,
//! byte for byte, in RESP2 and RESP3.
//!
//! Where Redis's order comes from a hash table (subcommand lists, COMMAND LIST, ...)
//! both replies are put in name order before comparing; everything else must match
//! exactly. Skipped (with a message) when `redis-server` 7.0.15 is not installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tandem_commands::{
    command_command_in, lookup_any, unknown_command_error_bytes, unknown_subcommand_error,
    wrong_arity_error, Scope,
};
use tandem_resp::{Encoder, Protocol};

// ---------------------------------------------------------------------------
// redis-server under test
// ---------------------------------------------------------------------------

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_binary() -> Option<String> {
    let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string());
    let out = Command::new(&bin).arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .contains("v=7.0.15 ")
        .then_some(bin)
}

/// Starts redis-server on a free port. A port found free can be taken by another test
/// before redis-server binds it; then redis-server exits, or a connection would reach the
/// other process: the server is accepted only once `INFO server` shows its own pid, and a
/// failed start is retried on another port.
fn start_server() -> Option<Server> {
    let Some(bin) = redis_binary() else {
        eprintln!("redis-server 7.0.15 not found: skipping comparison with Redis");
        return None;
    };
    for _ in 0..5 {
        if let Some(server) = try_start(&bin) {
            return Some(server);
        }
    }
    panic!("redis-server did not start");
}

fn try_start(bin: &str) -> Option<Server> {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        port,
        _dir: dir,
    };
    let want = format!("process_id:{}\r\n", server.child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if server.child.try_wait().ok().flatten().is_some() {
            return None;
        }
        if let Some(info) = info_server(port) {
            return info.contains(&want).then_some(server);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// `INFO server` over a fresh connection, or None when nothing answers yet.
fn info_server(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n").ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // The reply ends with the section's last line; `process_id` comes well before it.
    while !String::from_utf8_lossy(&buf).contains("executable:") {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

// ---------------------------------------------------------------------------
// RESP parsing (just enough to cut replies and normalise their order)
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    kind: u8,
    /// Header line body (after the type byte), or the payload of a bulk string.
    line: Vec<u8>,
    children: Vec<Node>,
}

impl Node {
    fn ser(&self, out: &mut Vec<u8>) {
        out.push(self.kind);
        match self.kind {
            b'$' | b'=' | b'!' if self.line != b"-1" => {
                out.extend_from_slice(self.line.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&self.line);
            }
            b'*' | b'%' | b'~' | b'>' | b'|' if self.line != b"-1" => {
                let n = if matches!(self.kind, b'%' | b'|') {
                    self.children.len() / 2
                } else {
                    self.children.len()
                };
                out.extend_from_slice(n.to_string().as_bytes());
            }
            _ => out.extend_from_slice(&self.line),
        }
        out.extend_from_slice(b"\r\n");
        for c in &self.children {
            c.ser(out);
        }
    }
    fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.ser(&mut v);
        v
    }
    fn text(&self) -> &[u8] {
        &self.line
    }
}

/// Parses one reply at the start of `buf`; `None` when incomplete.
fn parse(buf: &[u8]) -> Option<(Node, usize)> {
    let nl = buf.windows(2).position(|w| w == b"\r\n")?;
    let kind = *buf.first()?;
    let line = buf[1..nl].to_vec();
    let mut pos = nl + 2;
    let count = |line: &[u8]| -> i64 { std::str::from_utf8(line).unwrap().parse().unwrap() };
    match kind {
        b'$' | b'=' | b'!' => {
            let n = count(&line);
            if n < 0 {
                return Some((
                    Node {
                        kind,
                        line,
                        children: vec![],
                    },
                    pos,
                ));
            }
            let n = usize::try_from(n).unwrap();
            if buf.len() < pos + n + 2 {
                return None;
            }
            let payload = buf[pos..pos + n].to_vec();
            Some((
                Node {
                    kind,
                    line: payload,
                    children: vec![],
                },
                pos + n + 2,
            ))
        }
        b'*' | b'%' | b'~' | b'>' | b'|' => {
            let n = count(&line);
            let mut children = Vec::new();
            if n >= 0 {
                let items = if matches!(kind, b'%' | b'|') {
                    2 * n
                } else {
                    n
                };
                for _ in 0..items {
                    let (c, used) = parse(&buf[pos..])?;
                    children.push(c);
                    pos += used;
                }
            }
            Some((
                Node {
                    kind,
                    line,
                    children,
                },
                pos,
            ))
        }
        _ => Some((
            Node {
                kind,
                line,
                children: vec![],
            },
            pos,
        )),
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(port: u16, proto: Protocol) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut c = Conn {
            stream,
            buf: Vec::new(),
        };
        if proto == Protocol::Resp3 {
            c.call(&[b"HELLO".to_vec(), b"3".to_vec()]);
        }
        c
    }

    /// Sends one command and returns the raw bytes of its reply.
    fn call(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&req).unwrap();
        loop {
            if let Some((_, used)) = parse(&self.buf) {
                let reply = self.buf[..used].to_vec();
                self.buf.drain(..used);
                return reply;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "redis-server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn ours(scope: Scope, proto: Protocol, args: &[Vec<u8>]) -> Vec<u8> {
    let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.clone())).collect();
    let mut buf = BytesMut::new();
    let mut enc = Encoder::new(&mut buf, proto);
    command_command_in(scope, &args, &mut enc);
    buf.to_vec()
}

fn argv(s: &str) -> Vec<Vec<u8>> {
    s.split(' ').map(|a| a.as_bytes().to_vec()).collect()
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------
// Normalisation of hash-ordered parts
// ---------------------------------------------------------------------------

/// Subcommand visible in `scope`?
fn visible(scope: Scope, fullname: &[u8]) -> bool {
    scope.lookup_fullname(fullname).is_some()
}

/// A `COMMAND INFO` entry: keep visible subcommands, in name order.
fn norm_info(scope: Scope, mut n: Node) -> Node {
    if n.children.len() == 10 && n.children[9].kind == b'*' {
        let subs = std::mem::take(&mut n.children[9].children);
        let mut subs: Vec<Node> = subs
            .into_iter()
            .filter(|s| visible(scope, s.children[0].text()))
            .map(|s| norm_info(scope, s))
            .collect();
        subs.sort_by(|a, b| a.children[0].text().cmp(b.children[0].text()));
        n.children[9].children = subs;
    }
    n
}

/// Sorts the (key, value) pairs of a map node by key, keeping those `keep` accepts.
fn sort_pairs(n: &mut Node, keep: impl Fn(&[u8]) -> bool, each: impl Fn(Node) -> Node) {
    let flat = std::mem::take(&mut n.children);
    let mut pairs: Vec<(Node, Node)> = Vec::new();
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if keep(k.text()) {
            pairs.push((k, each(v)));
        }
    }
    pairs.sort_by(|a, b| a.0.text().cmp(b.0.text()));
    for (k, v) in pairs {
        n.children.push(k);
        n.children.push(v);
    }
}

/// A `COMMAND DOCS` value: keep visible subcommands, in name order.
fn norm_docs(scope: Scope, mut n: Node) -> Node {
    let mut i = 0;
    while i + 1 < n.children.len() {
        if n.children[i].text() == b"subcommands" {
            sort_pairs(
                &mut n.children[i + 1],
                |k| visible(scope, k),
                |v| norm_docs(scope, v),
            );
        }
        i += 2;
    }
    n
}

/// A whole `COMMAND DOCS` reply (a map of name -> docs).
fn norm_docs_reply(scope: Scope, mut n: Node) -> Node {
    sort_pairs(&mut n, |_| true, |v| norm_docs(scope, v));
    n
}

/// A whole `COMMAND INFO` / `COMMAND` reply (an array of entries).
fn norm_info_reply(scope: Scope, mut n: Node) -> Node {
    let mut items: Vec<Node> = std::mem::take(&mut n.children)
        .into_iter()
        .map(|e| norm_info(scope, e))
        .collect();
    items.sort_by_key(|e| e.children.first().map(|c| c.text().to_vec()));
    n.children = items;
    n
}

fn node(b: &[u8]) -> Node {
    let (n, used) = parse(b).unwrap();
    assert_eq!(used, b.len(), "trailing bytes in {}", show(b));
    n
}

fn assert_same(what: &str, redis: &[u8], tandem: &[u8]) {
    assert!(
        redis == tandem,
        "{what}\n redis:  {}\n tandem: {}",
        show(redis),
        show(tandem)
    );
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

const PROTOS: [Protocol; 2] = [Protocol::Resp2, Protocol::Resp3];

/// Names (and `parent|sub` full names) of every command of a scope.
fn names(scope: Scope) -> Vec<(String, bool)> {
    let mut v = Vec::new();
    for c in scope.commands() {
        v.push((c.full_name.to_string(), c.is_container()));
        for s in scope.subcommands(c) {
            v.push((s.full_name.to_string(), false));
        }
    }
    v
}

#[test]
fn info_and_docs_match_redis() {
    let Some(server) = start_server() else { return };
    for proto in PROTOS {
        let mut conn = Conn::open(server.port, proto);
        for scope in [Scope::Implemented, Scope::All] {
            for (name, container) in names(scope) {
                for sub in ["INFO", "DOCS"] {
                    let args = vec![
                        b"COMMAND".to_vec(),
                        sub.as_bytes().to_vec(),
                        name.clone().into_bytes(),
                    ];
                    let redis = conn.call(&args);
                    let tandem = ours(scope, proto, &args);
                    let what = format!("COMMAND {sub} {name} ({proto:?}, {scope:?})");
                    if container {
                        let (r, t) = if sub == "INFO" {
                            (
                                norm_info_reply(scope, node(&redis)),
                                norm_info_reply(scope, node(&tandem)),
                            )
                        } else {
                            (
                                norm_docs_reply(scope, node(&redis)),
                                norm_docs_reply(scope, node(&tandem)),
                            )
                        };
                        assert_same(&what, &r.bytes(), &t.bytes());
                        // Tandem's own order is already the normalised one.
                        assert_same(&format!("{what} order"), &t.bytes(), &tandem);
                    } else {
                        assert_same(&what, &redis, &tandem);
                    }
                }
            }
        }
    }
}

#[test]
fn whole_table_and_lists_match_redis() {
    let Some(server) = start_server() else { return };
    for proto in PROTOS {
        let mut conn = Conn::open(server.port, proto);
        let s = Scope::All;
        for cmd in ["COMMAND", "COMMAND INFO"] {
            let args = argv(cmd);
            let r = norm_info_reply(s, node(&conn.call(&args)));
            let t = ours(s, proto, &args);
            assert_same(cmd, &r.bytes(), &norm_info_reply(s, node(&t)).bytes());
        }
        let args = argv("COMMAND DOCS");
        let r = norm_docs_reply(s, node(&conn.call(&args)));
        let t = norm_docs_reply(s, node(&ours(s, proto, &args)));
        assert_same("COMMAND DOCS", &r.bytes(), &t.bytes());

        // Lists are hash-ordered in Redis: compare sorted.
        for cmd in [
            "COMMAND LIST",
            "COMMAND LIST FILTERBY ACLCAT write",
            "COMMAND LIST FILTERBY ACLCAT CONNECTION",
            "COMMAND LIST FILTERBY ACLCAT @write",
            "COMMAND LIST FILTERBY ACLCAT nosuch",
            "COMMAND LIST FILTERBY PATTERN client*",
            "COMMAND LIST FILTERBY PATTERN *|*",
            "COMMAND LIST FILTERBY PATTERN [a-c]?[^x]*",
            "COMMAND LIST FILTERBY PATTERN Z*STORE",
            "COMMAND LIST FILTERBY MODULE foo",
        ] {
            let args = argv(cmd);
            let mut r = node(&conn.call(&args));
            let mut t = node(&ours(s, proto, &args));
            r.children.sort_by(|a, b| a.text().cmp(b.text()));
            t.children.sort_by(|a, b| a.text().cmp(b.text()));
            assert_same(cmd, &r.bytes(), &t.bytes());
        }

        for cmd in [
            "COMMAND COUNT",
            "COMMAND COUNT x",
            "COMMAND HELP",
            "command help",
            "COMMAND FOO",
            "COMMAND LIST FILTERBY",
            "COMMAND LIST FILTERBY ACLCAT",
            "COMMAND LIST FILTERBY foo bar",
            "COMMAND LIST FILTERBY PATTERN a b",
            "COMMAND LIST foo",
            "COMMAND INFO nosuch get|x client|kill|x",
            "COMMAND INFO GET Client|KILL nosuch",
            "COMMAND DOCS nosuch",
            "COMMAND DOCS nosuch GET client|kill",
            "COMMAND GETKEYS",
            "COMMAND GETKEYSANDFLAGS",
        ] {
            let args = argv(cmd);
            assert_same(
                &format!("{cmd} ({proto:?})"),
                &conn.call(&args),
                &ours(s, proto, &args),
            );
        }
        let mut with_empty = argv("COMMAND INFO");
        with_empty.push(Vec::new());
        assert_same(
            "COMMAND INFO ''",
            &conn.call(&with_empty),
            &ours(s, proto, &with_empty),
        );
    }
}

#[test]
fn implemented_view_matches_redis_where_it_should() {
    let Some(server) = start_server() else { return };
    for proto in PROTOS {
        let mut conn = Conn::open(server.port, proto);
        let s = Scope::Implemented;
        // The COMMAND command itself is fully implemented, so its errors and help match.
        for cmd in [
            "COMMAND HELP",
            "COMMAND COUNT x",
            "COMMAND FOO bar",
            "command nosuch",
            "COMMAND LIST FILTERBY foo bar",
            "COMMAND GETKEYS PING",
            "COMMAND GETKEYS NOSUCH a",
            "COMMAND GETKEYS CLIENT NOSUCH",
            "COMMAND GETKEYS CLIENT KILL 1.2.3.4:5",
            "COMMAND INFO nosuch ping",
            "COMMAND DOCS echo nosuch",
        ] {
            let args = argv(cmd);
            assert_same(
                &format!("{cmd} ({proto:?})"),
                &conn.call(&args),
                &ours(s, proto, &args),
            );
        }
        // Visible commands only.
        let count = ours(s, proto, &argv("COMMAND COUNT"));
        assert_eq!(
            count,
            format!(":{}\r\n", tandem_commands::IMPLEMENTED.len()).into_bytes()
        );
        let list = node(&ours(s, proto, &argv("COMMAND LIST")));
        let listed: Vec<&[u8]> = list.children.iter().map(Node::text).collect();
        assert!(listed.contains(&&b"client|kill"[..]));
        assert!(!listed.contains(&&b"script|debug"[..]));
        assert!(listed.contains(&&b"lolwut"[..]));
        let info = ours(s, proto, &argv("COMMAND INFO nosuchcmd script|debug"));
        let nil: &[u8] = if proto == Protocol::Resp3 {
            b"_\r\n"
        } else {
            b"$-1\r\n"
        };
        assert_eq!(info, [&b"*2\r\n"[..], nil, nil].concat());
    }
}

#[test]
fn getkeys_match_redis() {
    let Some(server) = start_server() else { return };
    let cases = [
        "SET k v",
        "SET k v GET",
        "SET k v get EX 10",
        "GET k",
        "MSET a 1 b 2 c 3",
        "MSET a 1 b",
        "DEL a b c",
        "RENAME a b",
        "LCS a b",
        "BLPOP a b 0",
        "BRPOPLPUSH a b 0",
        "ZUNIONSTORE d 2 a b",
        "ZUNIONSTORE d 2 a b WEIGHTS 1 2",
        "ZUNIONSTORE d 0 a",
        "ZUNIONSTORE d x a",
        "ZUNIONSTORE d 5 a",
        "ZUNION 2 a b",
        "ZINTERCARD 2 a b LIMIT 1",
        "ZDIFFSTORE d 1 a",
        "SINTERCARD 2 a b",
        "EVAL s 2 a b c",
        "EVAL s 0",
        "EVAL s x",
        "EVAL s 3 a",
        "EVALSHA_RO s 1 a",
        "FCALL f 1 a b",
        "FCALL_RO f 0",
        "LMPOP 2 a b LEFT",
        "BLMPOP 0 2 a b LEFT",
        "BZMPOP 0 1 a MIN",
        "ZMPOP 1 a MAX",
        "XREAD COUNT 2 STREAMS a b 0 0",
        "XREAD STREAMS a 0",
        "XREAD BLOCK 0 STREAMS a b 0",
        "XREAD STREAMS a",
        "XREADGROUP GROUP g c COUNT 1 STREAMS a b > >",
        "XREADGROUP GROUP g c NOACK STREAMS streams 0",
        "XADD k * f v",
        "XINFO STREAM k",
        "XGROUP CREATE k g $",
        "MIGRATE h 1 k 0 10",
        "MIGRATE h 1  0 10 KEYS a b",
        "MIGRATE h 1  0 10 COPY AUTH p KEYS a b",
        "MIGRATE h 1  0 10 AUTH2 u p KEYS a",
        "MIGRATE h 1 k 0 10 KEYS a b",
        "SORT a",
        "SORT a BY x STORE d",
        "SORT a LIMIT 0 1 GET # STORE d STORE e",
        "SORT_RO a BY x",
        "GEORADIUS k 0 0 1 km STORE d",
        "GEORADIUS k 0 0 1 km STOREDIST d",
        "GEORADIUSBYMEMBER k m 1 km",
        "GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 1 km",
        "BITFIELD k GET u8 0",
        "BITFIELD k SET u8 0 1",
        "BITFIELD k OVERFLOW SAT GET u8 0",
        "BITFIELD k FOO",
        "BITFIELD_RO k GET u8 0",
        "OBJECT ENCODING k",
        "MEMORY USAGE k",
        "EXPIRE k 10",
        "COPY a b",
        "SMOVE a b m",
        "PFMERGE d a b",
        "PFCOUNT a b",
        "SPUBLISH ch m",
        "PUBLISH ch m",
        "PING",
        "GET",
        "GET a b",
        "NOSUCH a",
        "CLIENT KILL x",
        "OBJECT NOSUCH k",
        "OBJECT",
        "XINFO",
        "WATCH a b",
        "GEOSEARCH k FROMMEMBER m BYBOX 1 1 km",
    ];
    for proto in PROTOS {
        let mut conn = Conn::open(server.port, proto);
        for case in cases {
            for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
                let mut args = vec![b"COMMAND".to_vec(), sub.as_bytes().to_vec()];
                args.extend(case.split(' ').map(|a| a.as_bytes().to_vec()));
                let what = format!("COMMAND {sub} {case} ({proto:?})");
                assert_same(&what, &conn.call(&args), &ours(Scope::All, proto, &args));
            }
        }
    }
    // The key-finding API directly.
    let set = lookup_any(b"set").unwrap();
    let keys = tandem_commands::get_keys(set, &["SET", "k", "v", "GET"]);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].pos, 1);
    assert_eq!(
        keys[0].flags.names().collect::<Vec<_>>(),
        ["RW", "access", "update"]
    );
}

#[test]
fn dispatcher_errors_match_redis() {
    let Some(server) = start_server() else { return };
    let mut conn = Conn::open(server.port, Protocol::Resp2);
    let long = "x".repeat(300);
    let many: Vec<String> = (0..40).map(|i| format!("arg{i}")).collect();
    let mut cases: Vec<Vec<Vec<u8>>> = vec![
        argv("FOO"),
        argv("foo a b"),
        vec![b"foo".to_vec(), long.clone().into_bytes(), b"b".to_vec()],
        vec![long.clone().into_bytes(), b"a".to_vec()],
        vec![b"foo".to_vec(), b"a\r\nb".to_vec(), b"c\0d".to_vec()],
        vec![b"fo\no".to_vec()],
        vec![b"foo".to_vec(), vec![0xff, 0xfe]],
    ];
    let mut m = vec![b"foo".to_vec()];
    m.extend(many.iter().map(|a| a.clone().into_bytes()));
    cases.push(m);
    for args in &cases {
        let expected = [&b"-"[..], &unknown_command_error_bytes(args), b"\r\n"].concat();
        assert_same(
            &format!("{:?}", show(&args[0])),
            &conn.call(args),
            &expected,
        );
    }
    for (parent, sub) in [
        ("client", "nosuch"),
        ("CONFIG", "x\r\ny"),
        ("config", long.as_str()),
    ] {
        let args = vec![parent.as_bytes().to_vec(), sub.as_bytes().to_vec()];
        let expected = format!("-{}\r\n", unknown_subcommand_error(parent, sub.as_bytes()));
        assert_same(parent, &conn.call(&args), expected.as_bytes());
    }
    for (cmd, name) in [
        ("GET", "get"),
        ("CLIENT KILL", "client"),
        ("CONFIG GET", "config"),
        ("ECHO a b", "echo"),
    ] {
        let spec = lookup_any(name.as_bytes()).unwrap();
        let args = argv(cmd);
        let spec = if args.len() > 1 && spec.is_container() {
            tandem_commands::lookup_sub_any(spec, &args[1]).unwrap()
        } else {
            spec
        };
        assert!(!tandem_commands::arity_ok(spec, args.len()));
        let expected = format!("-{}\r\n", wrong_arity_error(spec));
        assert_same(cmd, &conn.call(&args), expected.as_bytes());
    }
}
