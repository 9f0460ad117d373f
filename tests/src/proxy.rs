//! A fault-injecting TCP proxy between a replica and a real master.
//!
//! The replication fault tests point a `tandem-server` replica at a [`Proxy`] instead of
//! its `redis-server` master. The proxy is not a mock: it forwards the real master's
//! bytes both ways, and on its *first* connection only it applies one [`Fault`]: a byte
//! of the RDB payload flipped, the payload cut short, the handshake cut when the replica
//! sends a given command, or the command stream cut right after a marker (in the middle
//! of a propagated command). Later connections pass everything through, so the replica
//! can recover by itself, unless the test holds them back with
//! [`Proxy::hold_reconnects`] to look at the replica while its link is down.
//!
//! Plain std threads: one accepting, two per connection (one per direction). Every
//! socket has read and write timeouts, the accept loop polls, and dropping the proxy
//! shuts every socket down and joins every thread, so nothing outlives the test.
//! The proxy binds `127.0.0.1:0`; [`Proxy::port`] is the port to give to REPLICAOF.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::{HarnessError, Result};

/// How often the accept loop and blocked reads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// A write that makes no progress for this long ends the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for connecting to the master.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Size of one read.
const CHUNK: usize = 16 * 1024;

/// What the proxy does to its first connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: every connection passes through.
    None,
    /// XOR `0xff` into the byte `n` bytes before the end of the `$<len>` payload (`n` = 1
    /// is its last byte; 1 to 8 hit the CRC64 trailer). A `$EOF:` payload is left alone.
    FlipPayloadByteFromEnd(u64),
    /// Forward only the first `n` bytes of the payload, then close both sides.
    TruncatePayload(u64),
    /// Close both sides when the replica sends these bytes, without forwarding them (nor
    /// anything after them): the master never gets that command, so its reply never
    /// reaches the replica.
    CutWhenReplicaSends(Vec<u8>),
    /// Forward the master's bytes up to the end of this marker (put it in the middle of a
    /// large value), then close both sides.
    CutAfterMarker(Vec<u8>),
}

/// The running proxy; see the module docs.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `upstream`, applying
    /// `fault` to the first one.
    pub fn start(upstream: SocketAddr, fault: Fault) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| HarnessError::io("binding the proxy to 127.0.0.1:0", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| HarnessError::io("reading the proxy's address", e))?
            .port();
        listener
            .set_nonblocking(true)
            .map_err(|e| HarnessError::io("making the proxy's listener non-blocking", e))?;
        let shared = Arc::new(Shared::default());
        let accept_shared = shared.clone();
        let accept = thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept_loop(&listener, upstream, fault, &accept_shared))
            .map_err(|e| HarnessError::io("spawning the proxy thread", e))?;
        Ok(Proxy {
            port,
            shared,
            accept: Some(accept),
        })
    }

    /// The port the proxy listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True once the fault was applied to the first connection.
    pub fn fired(&self) -> bool {
        self.shared.fired.load(Ordering::SeqCst)
    }

    /// Connections accepted so far (held-back ones included).
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// While `on`, every connection after the first is closed as soon as it is accepted:
    /// the replica's link stays down and the test can look at it. Off again, the next
    /// reconnection goes through.
    pub fn hold_reconnects(&self, on: bool) {
        self.shared.hold.store(on, Ordering::SeqCst);
    }

    /// Everything the replica sent on connection `index` (0 is the first, counted as
    /// [`Proxy::connections`] counts them) that was forwarded to the master.
    pub fn replica_sent(&self, index: usize) -> Vec<u8> {
        lock(&self.shared.sent)
            .get(index)
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for s in lock(&self.shared.sockets).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        let pumps: Vec<JoinHandle<()>> = lock(&self.shared.pumps).drain(..).collect();
        for p in pumps {
            let _ = p.join();
        }
    }
}

/// State shared by the proxy's threads.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    hold: AtomicBool,
    fired: AtomicBool,
    accepted: AtomicUsize,
    /// Per connection, the replica's forwarded bytes.
    sent: Mutex<Vec<Vec<u8>>>,
    /// Clones of every socket, shut down on drop to wake blocked threads.
    sockets: Mutex<Vec<TcpStream>>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, fault: Fault, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(POLL);
                continue;
            }
            Err(_) => {
                thread::sleep(POLL);
                continue;
            }
        };
        let index = shared.accepted.fetch_add(1, Ordering::SeqCst);
        lock(&shared.sent).push(Vec::new());
        if index > 0 && shared.hold.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(master) = TcpStream::connect_timeout(&upstream, CONNECT_TIMEOUT) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let fault = if index == 0 {
            fault.clone()
        } else {
            Fault::None
        };
        if let Err(e) = start_pumps(client, master, fault, index, shared) {
            // The test sees the replica failing to sync; say why here.
            eprintln!("proxy: connection {index} not started: {e}");
        }
    }
}

/// Starts the two threads of one connection.
fn start_pumps(
    client: TcpStream,
    master: TcpStream,
    fault: Fault,
    index: usize,
    shared: &Arc<Shared>,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    for s in [&client, &master] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(POLL))?;
        s.set_write_timeout(Some(WRITE_TIMEOUT))?;
    }
    {
        let mut sockets = lock(&shared.sockets);
        sockets.push(client.try_clone()?);
        sockets.push(master.try_clone()?);
    }
    let ends = Ends {
        client: client.try_clone()?,
        master: master.try_clone()?,
    };
    let up = Pump {
        from: client.try_clone()?,
        to: master.try_clone()?,
        ends: ends.try_clone()?,
        shared: shared.clone(),
    };
    let down = Pump {
        from: master,
        to: client,
        ends,
        shared: shared.clone(),
    };
    let up_fault = match &fault {
        Fault::CutWhenReplicaSends(p) => Some(p.clone()),
        _ => None,
    };
    let up = thread::Builder::new()
        .name("proxy-up".into())
        .spawn(move || up.run_up(index, up_fault))?;
    let down = thread::Builder::new()
        .name("proxy-down".into())
        .spawn(move || down.run_down(DownFault::new(fault)))?;
    lock(&shared.pumps).extend([up, down]);
    Ok(())
}

/// Both sockets of a connection, to close it from either thread.
struct Ends {
    client: TcpStream,
    master: TcpStream,
}

impl Ends {
    fn try_clone(&self) -> std::io::Result<Ends> {
        Ok(Ends {
            client: self.client.try_clone()?,
            master: self.master.try_clone()?,
        })
    }

    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.master.shutdown(Shutdown::Both);
    }
}

/// One direction of a connection.
struct Pump {
    from: TcpStream,
    to: TcpStream,
    ends: Ends,
    shared: Arc<Shared>,
}

impl Pump {
    /// Reads a chunk; `None` when the connection is over (closed, error, or stopping).
    fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                return None;
            }
            match self.from.read(buf) {
                Ok(0) => return None,
                Ok(n) => return Some(n),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }

    /// Replica to master: records what is forwarded, cuts at `pattern` when given.
    fn run_up(mut self, index: usize, pattern: Option<Vec<u8>>) {
        let mut buf = vec![0u8; CHUNK];
        let mut finder = pattern.map(Finder::new);
        while let Some(n) = self.read(&mut buf) {
            let cut = finder.as_mut().and_then(|f| f.find_start(&buf[..n]));
            let send = cut.unwrap_or(n);
            if let Some(sent) = lock(&self.shared.sent).get_mut(index) {
                sent.extend_from_slice(&buf[..send]);
            }
            if self.to.write_all(&buf[..send]).is_err() {
                break;
            }
            if cut.is_some() {
                self.shared.fired.store(true, Ordering::SeqCst);
                break;
            }
        }
        self.ends.close();
    }

    /// Master to replica, through `fault`.
    fn run_down(mut self, mut fault: DownFault) {
        let mut buf = vec![0u8; CHUNK];
        while let Some(n) = self.read(&mut buf) {
            let chunk = &mut buf[..n];
            let cut = fault.apply(chunk);
            if fault.fired {
                self.shared.fired.store(true, Ordering::SeqCst);
            }
            let send = cut.unwrap_or(n);
            if self.to.write_all(&chunk[..send]).is_err() || cut.is_some() {
                break;
            }
        }
        self.ends.close();
    }
}

/// The master-to-replica side of a [`Fault`], with where the payload is.
struct DownFault {
    fault: Fault,
    /// Bytes of this direction seen before the current chunk.
    pos: u64,
    /// The line being read while the payload header is not known yet.
    line: Vec<u8>,
    /// Absolute start and length (`None` for `$EOF:`) of the payload, once its header passed.
    payload: Option<(u64, Option<u64>)>,
    marker: Option<Finder>,
    fired: bool,
}

impl DownFault {
    fn new(fault: Fault) -> DownFault {
        let marker = match &fault {
            Fault::CutAfterMarker(m) => Some(Finder::new(m.clone())),
            _ => None,
        };
        DownFault {
            fault,
            pos: 0,
            line: Vec::new(),
            payload: None,
            marker,
            fired: false,
        }
    }

    /// Applies the fault to `chunk` (in place); `Some(n)`: forward `n` bytes, then close.
    fn apply(&mut self, chunk: &mut [u8]) -> Option<usize> {
        let start = self.pos;
        let end = start + chunk.len() as u64;
        self.pos = end;
        if self.fired {
            return None;
        }
        if let Some(finder) = &mut self.marker {
            let cut = finder.find_end(chunk);
            self.fired = cut.is_some();
            return cut;
        }
        if self.payload.is_none() {
            self.find_header(chunk, start);
        }
        let (p_start, p_len) = self.payload?;
        match self.fault {
            Fault::FlipPayloadByteFromEnd(n) => {
                let at = p_len?.checked_sub(n)? + p_start;
                if (start..end).contains(&at) {
                    let i = usize::try_from(at - start).ok()?;
                    chunk[i] ^= 0xff;
                    self.fired = true;
                }
                None
            }
            Fault::TruncatePayload(n) => {
                let at = p_start + n;
                if at <= end {
                    self.fired = true;
                    usize::try_from(at.saturating_sub(start)).ok()
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Looks for the `$<len>` / `$EOF:` line (the handshake replies and keepalive newlines
    /// come before it; none of them starts with `$`).
    fn find_header(&mut self, chunk: &[u8], start: u64) {
        for (i, &b) in chunk.iter().enumerate() {
            self.line.push(b);
            if b != b'\n' {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let Some(rest) = line.strip_prefix(b"$") else {
                continue;
            };
            let text = String::from_utf8_lossy(rest);
            let text = text.trim_end();
            let len = if text.starts_with("EOF:") {
                None
            } else {
                text.parse::<u64>().ok()
            };
            self.payload = Some((start + i as u64 + 1, len));
            return;
        }
    }
}

/// Finds a byte pattern in a stream of chunks (a match may straddle two chunks).
struct Finder {
    pattern: Vec<u8>,
    /// The last `pattern.len() - 1` bytes seen.
    tail: Vec<u8>,
}

impl Finder {
    fn new(pattern: Vec<u8>) -> Finder {
        Finder {
            pattern,
            tail: Vec::new(),
        }
    }

    /// How many bytes of `chunk` reach up to the end of the first match (the kept tail
    /// is shorter than the pattern, so a match always ends in `chunk`).
    fn find_end(&mut self, chunk: &[u8]) -> Option<usize> {
        let (at, joined_tail) = self.search(chunk)?;
        Some(at + self.pattern.len() - joined_tail)
    }

    /// Where in `chunk` the first match starts (0 when it started in an earlier chunk).
    fn find_start(&mut self, chunk: &[u8]) -> Option<usize> {
        let (at, joined_tail) = self.search(chunk)?;
        Some(at.saturating_sub(joined_tail))
    }

    /// The match's offset in `tail + chunk`, and the tail's length; keeps the new tail.
    fn search(&mut self, chunk: &[u8]) -> Option<(usize, usize)> {
        if self.pattern.is_empty() {
            return None;
        }
        let mut joined = std::mem::take(&mut self.tail);
        let tail_len = joined.len();
        joined.extend_from_slice(chunk);
        let found = joined
            .windows(self.pattern.len())
            .position(|w| w == self.pattern.as_slice());
        let keep = self.pattern.len() - 1;
        self.tail = joined[joined.len().saturating_sub(keep)..].to_vec();
        found.map(|at| (at, tail_len))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finder_across_chunks() {
        let mut f = Finder::new(b"MARK".to_vec());
        assert_eq!(f.find_end(b"xxxxMA"), None);
        assert_eq!(f.find_end(b"RKyy"), Some(2));
        let mut f = Finder::new(b"PSYNC".to_vec());
        assert_eq!(f.find_start(b"abc PSY"), None);
        assert_eq!(f.find_start(b"NC ? -1"), Some(0));
        let mut f = Finder::new(b"PSYNC".to_vec());
        assert_eq!(f.find_start(b"ab PSYNC"), Some(3));
    }

    #[test]
    fn payload_faults_land_where_asked() {
        let wire = b"+PONG\r\n+OK\r\n+FULLRESYNC abc 0\r\n\n$10\r\n0123456789*1\r\n";
        for split in 1..wire.len() {
            let mut d = DownFault::new(Fault::FlipPayloadByteFromEnd(1));
            let mut out = wire.to_vec();
            let (a, b) = out.split_at_mut(split);
            assert_eq!(d.apply(a), None);
            assert_eq!(d.apply(b), None);
            assert!(d.fired);
            let at = wire.iter().position(|&c| c == b'9').unwrap();
            assert_eq!(out[at], b'9' ^ 0xff, "split {split}");

            let mut d = DownFault::new(Fault::TruncatePayload(4));
            let mut a = wire[..split].to_vec();
            let mut b = wire[split..].to_vec();
            let sent = match d.apply(&mut a) {
                Some(n) => a[..n].to_vec(),
                None => {
                    let mut s = a.clone();
                    let n = d.apply(&mut b).unwrap();
                    s.extend_from_slice(&b[..n]);
                    s
                }
            };
            assert!(sent.ends_with(b"$10\r\n0123"), "split {split}");
        }
    }
}
