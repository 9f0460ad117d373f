//! Test helpers: a tiny RESP client, a redis-server guard, and a test-only
//! encoder for the legacy blobs Redis 7 no longer writes (ziplist, zipmap).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tandem_rdb::{Entry, RdbValue, Stream, StreamId};

/// A RESP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b.clone(),
            Reply::Status(s) => s.clone().into_bytes(),
            Reply::Int(i) => i.to_string().into_bytes(),
            other => panic!("not a string reply: {other:?}"),
        }
    }
    pub fn string(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("not an integer reply: {other:?}"),
        }
    }
    pub fn array(&self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(a)) => a.clone(),
            other => panic!("not an array reply: {other:?}"),
        }
    }
    pub fn bulks(&self) -> Vec<Vec<u8>> {
        self.array().iter().map(Reply::bytes).collect()
    }
}

pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out).unwrap();
        self.read()
    }

    /// Pipeline many commands, return only the last reply (errors panic).
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) {
        for chunk in cmds.chunks(500) {
            let mut out = Vec::new();
            for args in chunk {
                out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
                for a in args {
                    out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                    out.extend_from_slice(a);
                    out.extend_from_slice(b"\r\n");
                }
            }
            self.w.write_all(&out).unwrap();
            for _ in chunk {
                if let Reply::Error(e) = self.read() {
                    panic!("redis error: {e}");
                }
            }
        }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l.trim_end_matches("\r\n").to_string()
    }

    fn read(&mut self) -> Reply {
        let l = self.line();
        let (t, rest) = l.split_at(1);
        match t {
            "+" => Reply::Status(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                std::io::Read::read_exact(&mut self.r, &mut b).unwrap();
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::Array(None);
                }
                Reply::Array(Some((0..n).map(|_| self.read()).collect()))
            }
            _ => panic!("bad RESP line {l:?}"),
        }
    }
}

/// Build an argument vector.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => { vec![$(AsRef::<[u8]>::as_ref(&$a).to_vec()),*] };
}

pub fn redis_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server child killed on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Redis {
    /// Start redis-server in `dir` (loads `dir/dump.rdb` if present). A server is
    /// accepted only when `INFO server` shows its own pid: a port taken between the probe
    /// and the bind could reach another process, so that start is retried on a new port.
    pub fn start(dir: &Path, extra: &[&str]) -> Redis {
        for _ in 0..5 {
            if let Some(r) = Redis::try_start(dir, extra) {
                return r;
            }
        }
        panic!("redis-server did not start on a free port");
    }

    fn try_start(dir: &Path, extra: &[&str]) -> Option<Redis> {
        let port = free_port();
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--dir")
            .arg(dir)
            .arg("--dbfilename")
            .arg("dump.rdb")
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap();
        let mut r = Redis {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let own_pid = format!("process_id:{}", r.child.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut c) = Client::connect(port) {
                if let Reply::Bulk(Some(info)) = c.cmd(&["INFO", "server"]) {
                    if String::from_utf8_lossy(&info)
                        .lines()
                        .any(|l| l.trim_end() == own_pid)
                    {
                        return Some(r);
                    }
                }
            }
            if let Ok(Some(status)) = r.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
                if log.contains("Address already in use") {
                    return None;
                }
                panic!("redis-server exited ({status}): {log}");
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------ legacy blob writers

/// A ziplist of the given elements (integers for canonical integer strings
/// shorter than 32 bytes, as Redis stored them).
pub fn ziplist(elems: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut tail = 10usize;
    for e in elems {
        let start = body.len();
        tail = 10 + start;
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(254);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        let int = if e.len() < 32 {
            tandem_rdb::num::parse_canonical_i64(e)
        } else {
            None
        };
        match int {
            Some(v) if (0..=12).contains(&v) => body.push(0xF1 + v as u8),
            Some(v) if i8::try_from(v).is_ok() => {
                body.push(0xFE);
                body.push(v as i8 as u8);
            }
            Some(v) if i16::try_from(v).is_ok() => {
                body.push(0xC0);
                body.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
                body.push(0xF0);
                body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                body.push(0xD0);
                body.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                body.push(0xE0);
                body.extend_from_slice(&v.to_le_bytes());
            }
            None => {
                let n = e.len();
                if n < 64 {
                    body.push(n as u8);
                } else if n < 16384 {
                    body.push(0x40 | (n >> 8) as u8);
                    body.push(n as u8);
                } else {
                    body.push(0x80);
                    body.extend_from_slice(&(n as u32).to_be_bytes());
                }
                body.extend_from_slice(e);
            }
        }
        prev = body.len() - start;
    }
    let total = 10 + body.len() + 1;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(tail as u32).to_le_bytes());
    out.extend_from_slice(&(elems.len().min(65535) as u16).to_le_bytes());
    out.extend_from_slice(&body);
    out.push(0xFF);
    out
}

/// A zipmap of the given pairs (with `free` padding bytes after each value).
pub fn zipmap(pairs: &[(&[u8], &[u8])], free: u8) -> Vec<u8> {
    let mut out = vec![pairs.len().min(254) as u8];
    let len = |out: &mut Vec<u8>, n: usize| {
        if n < 254 {
            out.push(n as u8);
        } else {
            out.push(254);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
    };
    for (k, v) in pairs {
        len(&mut out, k.len());
        out.extend_from_slice(k);
        len(&mut out, v.len());
        out.push(free);
        out.extend_from_slice(v);
        out.extend(std::iter::repeat_n(0u8, free as usize));
    }
    out.push(0xFF);
    out
}

/// RDB length encoding.
pub fn rdb_len(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// RDB raw string.
pub fn rdb_str(out: &mut Vec<u8>, s: &[u8]) {
    rdb_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Append EOF and (for version >= 5) the CRC64 trailer.
pub fn rdb_finish(mut out: Vec<u8>, version: u32) -> Vec<u8> {
    out.push(0xFF);
    if version >= 5 {
        let crc = tandem_rdb::crc64(&out);
        out.extend_from_slice(&crc.to_le_bytes());
    }
    out
}

// ------------------------------------------------------------------ comparing with a server

pub fn parse_id(s: &str) -> StreamId {
    let (ms, seq) = s.split_once('-').unwrap();
    StreamId::new(ms.parse().unwrap(), seq.parse().unwrap())
}

pub fn info_map(r: &Reply) -> Vec<(String, Reply)> {
    r.array()
        .chunks(2)
        .map(|c| (c[0].string(), c[1].clone()))
        .collect()
}

pub fn field<'a>(m: &'a [(String, Reply)], k: &str) -> &'a Reply {
    &m.iter()
        .find(|(n, _)| n == k)
        .unwrap_or_else(|| panic!("no {k}"))
        .1
}

/// Compare decoded entries with what the server holds.
/// Sort keys, set members and hash fields (orders RDB does not preserve).
pub fn norm(mut v: Vec<Entry>) -> Vec<Entry> {
    v.sort_by(|a, b| (a.db, &a.key).cmp(&(b.db, &b.key)));
    for e in &mut v {
        // A list's nodes are compared where a test sets them (the decoder reports the
        // file's nodes; a list given without nodes gets derived ones).
        if let RdbValue::Quicklist(q) = &mut e.value {
            e.value = RdbValue::List(std::mem::take(&mut q.items));
        }
        if let RdbValue::Set(s) = &mut e.value {
            s.sort();
        }
        if let RdbValue::Hash(h) = &mut e.value {
            h.sort();
        }
        if let RdbValue::ZSet(z) = &mut e.value {
            z.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        }
    }
    v
}

/// Compare entry lists, reporting only the first difference.
pub fn assert_entries_eq(got: &[Entry], want: &[Entry]) {
    for (g, w) in got.iter().zip(want) {
        if g != w {
            let short = |e: &Entry| {
                let d = format!("{e:?}");
                d.chars().take(600).collect::<String>()
            };
            panic!("entry differs:\n got  {}\n want {}", short(g), short(w));
        }
    }
    assert_eq!(got.len(), want.len(), "entry count");
}

pub fn check_against_redis(c: &mut Client, entries: &[Entry]) {
    let dbs: BTreeSet<u64> = entries.iter().map(|e| e.db).collect();
    for db in &dbs {
        c.cmd(&["SELECT", &db.to_string()]);
        let n = entries.iter().filter(|e| e.db == *db).count() as i64;
        assert_eq!(c.cmd(&["DBSIZE"]).int(), n, "db {db} size");
    }
    for e in entries {
        c.cmd(&["SELECT", &e.db.to_string()]);
        let key = &e.key[..];
        let ctx = String::from_utf8_lossy(key).into_owned();
        let pexp = c.cmd(&[&b"PEXPIRETIME"[..], key]).int();
        assert_eq!(pexp, e.expire_ms.unwrap_or(-1), "expire of {ctx}");
        match &e.value {
            RdbValue::String(v) => {
                assert_eq!(c.cmd(&[&b"GET"[..], key]).bytes(), v.to_vec(), "{ctx}");
            }
            RdbValue::Quicklist(ql) => {
                let got = c.cmd(&[&b"LRANGE"[..], key, b"0", b"-1"]).bulks();
                let want: Vec<Vec<u8>> = ql.items.iter().map(|i| i.to_vec()).collect();
                assert_eq!(got, want, "{ctx}");
            }
            RdbValue::List(items) => {
                let got = c.cmd(&[&b"LRANGE"[..], key, b"0", b"-1"]).bulks();
                let want: Vec<Vec<u8>> = items.iter().map(|i| i.to_vec()).collect();
                assert_eq!(got, want, "{ctx}");
            }
            RdbValue::Set(items) => {
                let mut got = c.cmd(&[&b"SMEMBERS"[..], key]).bulks();
                got.sort();
                let mut want: Vec<Vec<u8>> = items.iter().map(|i| i.to_vec()).collect();
                want.sort();
                assert_eq!(got, want, "{ctx}");
            }
            RdbValue::ZSet(items) => {
                let mut items = items.clone();
                items.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                let got = c
                    .cmd(&[&b"ZRANGE"[..], key, b"0", b"-1", b"WITHSCORES"])
                    .bulks();
                assert_eq!(got.len(), items.len() * 2, "{ctx}");
                for (pair, (m, s)) in got.chunks(2).zip(&items) {
                    assert_eq!(pair[0], m.to_vec(), "{ctx}");
                    let score: f64 = String::from_utf8_lossy(&pair[1]).parse().unwrap();
                    assert_eq!(score, *s, "{ctx}");
                }
            }
            RdbValue::Hash(pairs) => {
                let got = c.cmd(&[&b"HGETALL"[..], key]).bulks();
                let mut got: Vec<(Vec<u8>, Vec<u8>)> = got
                    .chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect();
                got.sort();
                let mut want: Vec<(Vec<u8>, Vec<u8>)> = pairs
                    .iter()
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect();
                want.sort();
                assert_eq!(got, want, "{ctx}");
            }
            RdbValue::Stream(s) => check_stream(c, key, s, &ctx),
            RdbValue::Module(_) => panic!("no modules here"),
        }
    }
}

pub fn check_stream(c: &mut Client, key: &[u8], s: &Stream, ctx: &str) {
    let got = c.cmd(&[&b"XRANGE"[..], key, b"-", b"+"]).array();
    assert_eq!(got.len(), s.len(), "{ctx}");
    for (g, e) in got.iter().zip(s.entries()) {
        let g = g.array();
        assert_eq!(parse_id(&g[0].string()), e.id, "{ctx}");
        let fv = g[1].bulks();
        let want: Vec<Vec<u8>> = e
            .fields
            .iter()
            .flat_map(|(f, v)| [f.to_vec(), v.to_vec()])
            .collect();
        assert_eq!(fv, want, "{ctx}");
    }
    let info = info_map(&c.cmd(&[&b"XINFO"[..], b"STREAM", key]));
    // The server holds the nodes the file had.
    assert_eq!(
        field(&info, "radix-tree-keys").int() as usize,
        s.nodes.len(),
        "{ctx} radix-tree-keys"
    );
    assert_eq!(
        parse_id(&field(&info, "last-generated-id").string()),
        s.last_id,
        "{ctx}"
    );
    assert_eq!(
        parse_id(&field(&info, "max-deleted-entry-id").string()),
        s.max_deleted_id,
        "{ctx}"
    );
    assert_eq!(
        field(&info, "entries-added").int() as u64,
        s.entries_added,
        "{ctx}"
    );
    assert_eq!(
        parse_id(&field(&info, "recorded-first-entry-id").string()),
        s.first_id,
        "{ctx}"
    );
    let groups = c.cmd(&[&b"XINFO"[..], b"GROUPS", key]).array();
    assert_eq!(groups.len(), s.groups.len(), "{ctx}");
    for (g, want) in groups.iter().zip(&s.groups) {
        let g = info_map(g);
        assert_eq!(field(&g, "name").bytes(), want.name.to_vec(), "{ctx}");
        assert_eq!(
            parse_id(&field(&g, "last-delivered-id").string()),
            want.last_id,
            "{ctx}"
        );
        assert_eq!(field(&g, "pending").int() as usize, want.pel.len(), "{ctx}");
        assert_eq!(
            field(&g, "consumers").int() as usize,
            want.consumers.len(),
            "{ctx}"
        );
        let read = match field(&g, "entries-read") {
            Reply::Int(i) => *i,
            _ => -1,
        };
        assert_eq!(read, want.entries_read, "{ctx} entries-read");
        let pending = c
            .cmd(&[&b"XPENDING"[..], key, &want.name[..], b"-", b"+", b"100000"])
            .array();
        assert_eq!(pending.len(), want.pel.len(), "{ctx}");
        for (p, w) in pending.iter().zip(&want.pel) {
            let p = p.array();
            assert_eq!(parse_id(&p[0].string()), w.id, "{ctx}");
            assert_eq!(p[3].int() as u64, w.delivery_count, "{ctx}");
            let owner = want
                .consumers
                .iter()
                .find(|c| c.pending.contains(&w.id))
                .unwrap();
            assert_eq!(p[1].bytes(), owner.name.to_vec(), "{ctx}");
        }
        let consumers = c
            .cmd(&[&b"XINFO"[..], b"CONSUMERS", key, &want.name[..]])
            .array();
        for (cons, w) in consumers.iter().zip(&want.consumers) {
            let m = info_map(cons);
            assert_eq!(field(&m, "name").bytes(), w.name.to_vec(), "{ctx}");
            assert_eq!(
                field(&m, "pending").int() as usize,
                w.pending.len(),
                "{ctx}"
            );
        }
    }
}
