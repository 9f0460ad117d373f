//! The request decoder against the real redis-server 7.0.15: for each input,
//! the bytes Redis answers (replies to the requests before the error, then the
//! error, then EOF) must be what Tandem would answer with this decoder.
//!
//! Skipped (with a message) when `redis-server` is not installed.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tandem_resp::{Encoder, Limits, Protocol, Request, RequestDecoder};

/// A redis-server child, killed on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True when the server on `port` is process `pid` (`INFO server`): a port taken between
/// the probe and the bind could be answered by another process.
fn is_own_server(port: u16, pid: u32) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"INFO server\r\n").is_err() {
        return false;
    }
    let want = format!("process_id:{pid}\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if text.contains(&want) {
            return true;
        }
        if text.contains("process_id:")
            && text[text.find("process_id:").unwrap_or(0)..].contains("\r\n")
        {
            return false;
        }
    }
    false
}

fn start(extra: &[&str]) -> Option<Server> {
    let dir = std::env::temp_dir().join(format!(
        "tandem-resp-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).ok()?;
    let dir = TempDir(dir);
    for _ in 0..5 {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir.0)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut server = Server {
            child,
            port,
            _dir: TempDir(std::path::PathBuf::new()),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if is_own_server(port, server.child.id()) {
                server._dir = dir;
                return Some(server);
            }
            if let Ok(Some(_)) = server.child.try_wait() {
                break; // port taken meanwhile: try another
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    None
}

/// What Redis answers to the requests used in the cases below.
fn reply(req: &Request, out: &mut BytesMut) {
    let mut e = Encoder::new(out, Protocol::Resp2);
    let name = req.args[0].to_ascii_uppercase();
    match (name.as_slice(), req.args.len()) {
        (b"PING", 1) => e.simple(b"PONG"),
        (b"PING" | b"ECHO", 2) => e.bulk(&req.args[1]),
        (b"AUTH", 2) => e.ok(),
        _ => {
            // Redis 7.0's unknown-command error (short arguments only in these cases).
            let mut msg = format!(
                "ERR unknown command '{}', with args beginning with: ",
                String::from_utf8_lossy(&req.args[0])
            );
            for a in &req.args[1..] {
                msg.push_str(&format!("'{}' ", String::from_utf8_lossy(a)));
            }
            e.error(msg.as_bytes());
        }
    }
}

/// Tandem's answer: replies to decoded requests, then the error if any; and
/// whether the connection is closed after it.
fn expected(input: &[u8], limits: Limits) -> (Vec<u8>, bool) {
    let mut d = RequestDecoder::new(limits);
    let mut buf = BytesMut::from(input);
    let mut out = BytesMut::new();
    loop {
        let mut reqs = Vec::new();
        let r = d.decode_batch(&mut buf, &mut reqs);
        for req in &reqs {
            if req.args[0].eq_ignore_ascii_case(b"AUTH") {
                d.limits.unauthenticated = false;
            }
            reply(req, &mut out);
        }
        if let Err(e) = r {
            Encoder::new(&mut out, Protocol::Resp2).error(&e.reply_text());
            return (out.to_vec(), true);
        }
        if reqs.is_empty() {
            return (out.to_vec(), false);
        }
    }
}

/// Redis's answer: read until EOF when `closes`, else until `want` bytes arrived.
fn actual(port: u16, input: &[u8], want: usize, closes: bool) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(input).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if !closes && got.len() >= want {
            return got;
        }
        match s.read(&mut chunk) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading from redis after {got:?}: {e}"),
        }
    }
}

fn cases() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"*1\r\n$x\r\n"[..],
        b"*x\r\n",
        b"*+1\r\n",
        b"*01\r\n",
        b"*1 \r\n",
        b"*3000000000\r\n",
        b"*2147483648\r\n",
        b"*-5\r\nPING\r\n",
        b"*0\r\n*1\r\n$4\r\nPING\r\n",
        b"*1\r\nX\r\n",
        b"*1\r\n\r\n",
        b"*1\r\n\n\r\n",
        b"*1\r\n\xfe\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$-0\r\n",
        b"*1\r\n$04\r\n",
        b"*1\r\n$+4\r\n",
        b"*1\r\n$536870913\r\n",
        b"*1\r\n$2147483648\r\n",
        b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
        b"*1\rX$4\r\nPING\r\n",
        b"PING \"a\r\n",
        b"PING \"a\"b\r\n",
        b"PING 'a'b\r\n",
        b"\r\n\nPING\r\n",
        b"  \t PING  \n",
        b"ECHO \"\\x41\\n\\q\"\r\n",
        b"ECHO a\"b c\"\r\n",
        b"ECHO 'it\\'s'\r\n",
        b"ECHO \"a\\\"b\"\r\n",
        b"ECHO a\x0bb\r\n",
        b"ECHO \xff\r\n",
        b"a\rb\r\r\nPING\r\n",
        b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
        b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n",
    ]
    .iter()
    .map(|c| c.to_vec())
    .collect();
    let big = vec![b'x'; 64 * 1024 + 1];
    v.push(big.clone());
    v.push([&b"*"[..], &big].concat());
    v.push([&b"*1\r\n$"[..], &big].concat());
    v.push([&b"*1\r\n"[..], &big].concat());
    let mut nul = b"PING\0".to_vec();
    nul.resize(64 * 1024 + 1, b'\n');
    v.push(nul);
    v
}

#[test]
fn decoder_matches_redis() {
    let Some(server) = start(&[]) else {
        eprintln!("redis-server not available: skipping");
        return;
    };
    for input in cases() {
        let (want, closes) = expected(&input, Limits::default());
        let got = actual(server.port, &input, want.len(), closes);
        let shown = String::from_utf8_lossy(&input[..input.len().min(40)]).into_owned();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "input {shown:?}"
        );
        assert_eq!(got, want, "input {shown:?}");
    }
}

#[test]
fn unauthenticated_limits_match_redis() {
    let Some(server) = start(&["--requirepass", "pw"]) else {
        eprintln!("redis-server not available: skipping");
        return;
    };
    let unauth = Limits {
        unauthenticated: true,
        ..Limits::default()
    };
    let payload = vec![b'y'; 20_000];
    let mut auth_then_big =
        b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*2\r\n$4\r\nECHO\r\n$20000\r\n".to_vec();
    auth_then_big.extend_from_slice(&payload);
    auth_then_big.extend_from_slice(b"\r\n");
    let inputs: Vec<Vec<u8>> = vec![
        b"*11\r\n".to_vec(),
        b"*10\r\n$16385\r\n".to_vec(),
        b"*-1\r\n*11\r\n".to_vec(),
        b"*1\r\n$-1\r\n".to_vec(),
        b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n".to_vec(),
        auth_then_big,
    ];
    for input in inputs {
        let (want, closes) = expected(&input, unauth);
        let got = actual(server.port, &input, want.len(), closes);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "input {:?}",
            String::from_utf8_lossy(&input[..input.len().min(60)])
        );
    }
}
