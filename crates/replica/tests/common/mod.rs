//! Test support: a real redis-server master, a recording handler, a faulty proxy.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener as StdListener;
use std::process::{Child, Command as Proc, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tandem_rdb::Item;
use tandem_replica::{
    Command, ContinueInfo, FailoverPsync, FollowerError, FollowerHandler, FullSyncDone,
    FullSyncStart,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A free loopback port.
pub fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A redis-server child in its own temp dir, killed on drop.
pub struct Redis {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start(extra: &[&str]) -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Proc::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--repl-diskless-sync-delay", "0"])
            .args(["--dir", dir.path().to_str().unwrap()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("redis-server must be installed");
        let r = Redis {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pong = r.cli(&["PING"]);
            if pong == "PONG" || pong.contains("NOAUTH") {
                break;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// Run redis-cli against this server; trimmed stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Proc::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A field of INFO (any section).
    pub fn info_field(&self, auth: &[&str], field: &str) -> Option<String> {
        let mut args = auth.to_vec();
        args.extend(["INFO", "everything"]);
        let info = self.cli(&args);
        info.lines().find_map(|l| {
            l.strip_prefix(field)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        })
    }

    pub fn info_i64(&self, field: &str) -> i64 {
        self.info_field(&[], field)
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything a follower reported.
#[derive(Debug, Default)]
pub struct Seen {
    pub full_starts: Vec<FullSyncStart>,
    pub items: Vec<Item>,
    pub saved: Vec<std::path::PathBuf>,
    pub done: Vec<FullSyncDone>,
    pub aborted: Vec<String>,
    pub continues: Vec<ContinueInfo>,
    pub commands: Vec<Command>,
    pub link_down: Vec<String>,
    pub auth_errors: usize,
    pub header_errors: usize,
    pub failover: Vec<FailoverPsync>,
}

impl Seen {
    /// Keys of the RDB entries received (db, key).
    pub fn rdb_keys(&self) -> Vec<(u64, String)> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Entry(e) => Some((e.db, String::from_utf8_lossy(&e.key).into_owned())),
                _ => None,
            })
            .collect()
    }

    /// Data commands received (no PING / REPLCONF / SELECT), as text.
    pub fn data_commands(&self) -> Vec<(usize, String)> {
        self.commands
            .iter()
            .filter(|c| !c.is_housekeeping() && c.name() != "select")
            .map(|c| {
                let args: Vec<String> = c
                    .args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                (c.db, args.join(" "))
            })
            .collect()
    }
}

/// A handler recording into shared state.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Seen>>);

impl FollowerHandler for Recorder {
    fn on_full_sync_start(&mut self, s: &FullSyncStart) {
        let mut seen = self.0.lock();
        seen.full_starts.push(s.clone());
        seen.items.clear();
    }
    fn on_rdb_item(&mut self, item: Item) {
        self.0.lock().items.push(item);
    }
    fn on_rdb_saved(&mut self, path: &std::path::Path) {
        self.0.lock().saved.push(path.to_owned());
    }
    fn on_rdb_done(&mut self, d: &FullSyncDone) {
        self.0.lock().done.push(d.clone());
    }
    fn on_rdb_aborted(&mut self, e: &FollowerError) {
        self.0.lock().aborted.push(e.to_string());
    }
    fn on_continue(&mut self, c: &ContinueInfo) {
        self.0.lock().continues.push(c.clone());
    }
    fn on_command(&mut self, c: Command) {
        self.0.lock().commands.push(c);
    }
    fn on_link_down(&mut self, e: &FollowerError) {
        let mut seen = self.0.lock();
        match e {
            FollowerError::Auth(_) => seen.auth_errors += 1,
            FollowerError::BadBulkHeader(_) => seen.header_errors += 1,
            _ => {}
        }
        seen.link_down.push(e.to_string());
    }
    fn on_failover_psync(&mut self, outcome: &FailoverPsync) {
        self.0.lock().failover.push(outcome.clone());
    }
}

/// Poll `cond` every 50 ms for at most 30 s.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the proxy does to the first connection's master-to-follower bytes.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Replace the first `$` (the payload header) with `!`.
    CorruptHeader,
    /// Close both sides after this many bytes following the first `$`.
    TruncateAfter(usize),
}

/// A TCP proxy in front of the master; it applies `fault` to its first
/// connection only and records what each connection's client sent.
pub struct Proxy {
    pub port: u16,
    pub client_bytes: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(master_port: u16, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let client_bytes: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let record = client_bytes.clone();
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            while let Ok((client, _)) = listener.accept().await {
                let Ok(master) = TcpStream::connect(("127.0.0.1", master_port)).await else {
                    continue;
                };
                let fault = (n == 0).then_some(fault);
                let idx = {
                    let mut r = record.lock();
                    r.push(Vec::new());
                    r.len() - 1
                };
                n += 1;
                let record = record.clone();
                tokio::spawn(pipe(client, master, fault, record, idx));
            }
        });
        Proxy {
            port,
            client_bytes,
            task,
        }
    }

    /// The PSYNC command line each connection sent (as text).
    pub fn psyncs(&self) -> Vec<String> {
        self.client_bytes
            .lock()
            .iter()
            .filter_map(|b| {
                let text = String::from_utf8_lossy(b);
                let at = text.find("PSYNC")?;
                Some(
                    text[at..]
                        .split("\r\n")
                        .take(5)
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            })
            .collect()
    }
}

async fn pipe(
    client: TcpStream,
    master: TcpStream,
    fault: Option<Fault>,
    record: Arc<Mutex<Vec<Vec<u8>>>>,
    idx: usize,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut mr, mut mw) = master.into_split();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            record.lock()[idx].extend_from_slice(&buf[..n]);
            if mw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    let mut dollar_seen = false;
    let mut after_dollar = 0usize;
    loop {
        let n = match mr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        let mut cut = None;
        match fault {
            Some(Fault::CorruptHeader) if !dollar_seen => {
                if let Some(i) = chunk.iter().position(|&b| b == b'$') {
                    chunk[i] = b'!';
                    dollar_seen = true;
                }
            }
            Some(Fault::TruncateAfter(limit)) => {
                let start = if dollar_seen {
                    Some(0)
                } else {
                    chunk.iter().position(|&b| b == b'$').inspect(|_| {
                        dollar_seen = true;
                    })
                };
                if let Some(s) = start {
                    let room = limit - after_dollar;
                    if n - s >= room {
                        cut = Some(s + room);
                    } else {
                        after_dollar += n - s;
                    }
                }
            }
            _ => {}
        }
        let send = cut.unwrap_or(n);
        if cw.write_all(&buf[..send]).await.is_err() || cut.is_some() {
            break;
        }
    }
    up.abort();
}
