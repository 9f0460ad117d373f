//! The network side: listeners and one tokio task per connection.
//!
//! A connection task reads from its socket, decodes every complete request in the buffer
//! (one read of a pipelined client becomes one batch), hands the batch to the executor and
//! writes back the encoded replies it receives. It never touches server state; what it needs
//! to know between batches (protocol limits, whether AUTH is required) is in [`Shared`],
//! which the executor keeps up to date.

use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use bytes::BytesMut;
use tandem_resp::{Limits, Request, RequestDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::client::{ClientEvent, ConnMeta};
use crate::exec::Core;

/// Settings and counters the network side reads without asking the executor.
#[derive(Debug)]
pub struct Shared {
    pub requires_auth: AtomicBool,
    pub protected_mode: AtomicBool,
    pub max_bulk_len: AtomicI64,
    pub query_buffer_limit: AtomicI64,
    pub maxclients: AtomicI64,
    pub connected: AtomicUsize,
    pub next_id: AtomicU64,
}

const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Turns the `bind` directive into socket addresses; the bool says whether failure to bind
/// is tolerated (a leading `-`, as in Redis's default `* -::*`).
pub fn bind_addrs(bind: &[String], port: u16) -> Vec<(SocketAddr, bool)> {
    let mut v = Vec::new();
    for item in bind {
        let (optional, addr) = match item.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, item.as_str()),
        };
        let ip = match addr {
            "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            "::*" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            other => match other.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => continue,
            },
        };
        v.push((SocketAddr::new(ip, port), optional));
    }
    v
}

/// Binds one listening socket the way Redis does (SO_REUSEADDR, IPv6-only for v6 sockets).
pub fn bind_one(addr: SocketAddr, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// Accepts connections forever, spawning a task per connection.
pub async fn accept_loop(listener: TcpListener, core: Arc<Core>, shared: Arc<Shared>) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("Accepting client connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let admission = admit(stream, addr, &core, &shared, Default::default());
        tokio::spawn(admission.run());
    }
}

/// Serves the connections [`crate::busy`] accepted while a script was busy, once it ended.
pub async fn adopt_loop(
    mut accepted: mpsc::UnboundedReceiver<crate::busy::Accepted>,
    core: Arc<Core>,
    shared: Arc<Shared>,
) {
    while let Some(a) = accepted.recv().await {
        let Ok(stream) = TcpStream::from_std(a.stream) else {
            continue;
        };
        let mut admission = admit(stream, a.addr, &core, &shared, a.preset);
        if let Admission::Admitted(conn) = &mut admission {
            conn.unsent = a.unsent;
        }
        tokio::spawn(admission.run());
    }
}

fn fd_of(stream: &TcpStream) -> i64 {
    use std::os::fd::AsRawFd;
    i64::from(stream.as_raw_fd())
}

/// A new connection, refused or registered with the server.
enum Admission {
    /// Protected mode or `maxclients`: this line, then close.
    Refused(TcpStream, &'static [u8]),
    Admitted(Box<Conn>),
}

/// A registered connection whose task is still to run.
struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    core: Arc<Core>,
    shared: Arc<Shared>,
    id: u64,
    ev_rx: mpsc::UnboundedReceiver<ClientEvent>,
    authenticated: bool,
    pushes: Arc<crate::client::OutQueue>,
    /// Its entry in [`crate::busy`]'s registry.
    peer: Option<Arc<crate::busy::Peer>>,
    /// In none of the states a busy script's responder leaves alone.
    plain: bool,
    /// The client speaks RESP3.
    resp3: bool,
    /// Replies the busy script's responder could not write yet.
    unsent: Vec<u8>,
    _connected: ConnectedGuard,
    _registered: Unregister,
}

/// Checks a new connection and registers it with the server, at once: a script that
/// turns busy before its task first runs finds it idle in [`crate::busy`]'s registry.
/// `preset`: what a connection accepted while a script was busy did meanwhile.
fn admit(
    stream: TcpStream,
    addr: SocketAddr,
    core: &Arc<Core>,
    shared: &Arc<Shared>,
    preset: crate::busy::Preset,
) -> Admission {
    let _ = stream.set_nodelay(true);
    if shared.protected_mode.load(Ordering::Relaxed)
        && !shared.requires_auth.load(Ordering::Relaxed)
        && !addr.ip().is_loopback()
    {
        return Admission::Refused(stream, DENIED.as_bytes());
    }
    let connected = shared.connected.fetch_add(1, Ordering::SeqCst) + 1;
    let guard = ConnectedGuard(shared.clone());
    let max = shared.maxclients.load(Ordering::Relaxed);
    if max > 0 && connected as i64 > max {
        return Admission::Refused(stream, b"-ERR max number of clients reached\r\n");
    }
    let id = preset
        .id
        .unwrap_or_else(|| shared.next_id.fetch_add(1, Ordering::SeqCst));
    let resp3 = preset.proto == Some(tandem_resp::Protocol::Resp3);
    let laddr = stream.local_addr().unwrap_or(addr);
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let meta = ConnMeta {
        addr,
        laddr,
        fd: fd_of(&stream),
    };
    let fd = meta.fd;
    let peer_events = ev_tx.downgrade();
    let plain = preset.multi.is_none();
    let (authenticated, pushes) = core.connect(id, meta, ev_tx, preset);
    let peer = crate::busy::register(id, fd, peer_events, &pushes);
    if let Some(p) = &peer {
        p.waiting(plain, authenticated, resp3);
    }
    Admission::Admitted(Box::new(Conn {
        stream,
        addr,
        core: core.clone(),
        shared: shared.clone(),
        id,
        ev_rx,
        authenticated,
        pushes,
        _registered: Unregister(peer.is_some().then_some(id)),
        peer,
        plain,
        resp3,
        unsent: Vec::new(),
        _connected: guard,
    }))
}

impl Admission {
    async fn run(self) {
        match self {
            Admission::Refused(mut stream, line) => {
                let _ = stream.write_all(line).await;
            }
            Admission::Admitted(conn) => serve(*conn).await,
        }
    }
}

/// Serves one client connection until it closes.
async fn serve(conn: Conn) {
    let Conn {
        mut stream,
        addr,
        core,
        shared,
        id,
        mut ev_rx,
        mut authenticated,
        pushes,
        peer,
        mut plain,
        mut resp3,
        unsent,
        _connected,
        _registered,
    } = conn;
    if !unsent.is_empty() && stream.write_all(&unsent).await.is_err() {
        core.disconnect(id);
        return;
    }
    let mut decoder = RequestDecoder::new(limits(&shared, authenticated));
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut reqs: Vec<Request> = Vec::new();
    let mut queue: VecDeque<Request> = VecDeque::new();
    // Reused across batches: replies are encoded here, then written.
    let mut out = BytesMut::with_capacity(16 * 1024);
    // Whether the event channel holds this task's waker (see [`next_wake`]).
    let mut ev_registered = false;
    'conn: loop {
        if let Some(p) = &peer {
            p.waiting(plain && rbuf.is_empty(), authenticated, resp3);
        }
        let wake = next_wake(&mut ev_rx, &mut ev_registered, &mut stream, &mut rbuf).await;
        if let Some(p) = &peer {
            p.woke();
        }
        match wake {
            Wake::Event(ev) => match ev {
                None | Some(ClientEvent::Kill) => break 'conn,
                Some(ClientEvent::LoggedIn) => authenticated = true,
                Some(ClientEvent::Write(bytes)) => {
                    // A client closed for its output buffer limit must not wait for its
                    // socket to drain first.
                    let written = write_unless_killed(&mut stream, &bytes, &pushes).await;
                    pushes.written(bytes.len());
                    if !written {
                        break 'conn;
                    }
                }
            },
            Wake::Read(read) => {
                match read {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(_) => crate::spin::kick(),
                }
                // Decode and run until nothing complete is left: a request that broke the
                // unauthenticated limits stays buffered in case an earlier one was AUTH.
                loop {
                    decoder.limits = limits(&shared, authenticated);
                    let result = decoder.decode_batch(&mut rbuf, &mut reqs);
                    if reqs.is_empty() && result.is_ok() {
                        break;
                    }
                    let mut close = false;
                    if !reqs.is_empty() {
                        if queue.is_empty() {
                            // O(1) both ways: the deque takes the vector's buffer, and gives
                            // it back below once the batch has run.
                            queue = VecDeque::from(std::mem::take(&mut reqs));
                        } else {
                            queue.extend(reqs.drain(..));
                        }
                        out.clear();
                        loop {
                            let mut reply = core.run_batch(id, &mut queue, rbuf.len(), &mut out);
                            // `appendfsync always`: the writes are on disk before the replies.
                            if let Some(durable) = reply.durable.take() {
                                durable.wait().await;
                            }
                            authenticated = reply.authenticated;
                            plain = reply.plain;
                            resp3 = reply.resp3;
                            close = reply.close;
                            if let Some(h) = reply.handoff {
                                // PSYNC or a blocked WAIT: replies so far first, then repl.rs.
                                if !out.is_empty() && stream.write_all(&out).await.is_err() {
                                    break 'conn;
                                }
                                out.clear();
                                // The handoff polls the channel itself.
                                ev_registered = false;
                                if !crate::repl::handoff(
                                    &core,
                                    id,
                                    h,
                                    &mut stream,
                                    &mut rbuf,
                                    &mut ev_rx,
                                )
                                .await
                                {
                                    break 'conn;
                                }
                                if queue.is_empty() {
                                    break;
                                }
                                continue;
                            }
                            let Some(until) = reply.parked_until else {
                                break;
                            };
                            // Paused: write what ran so far, then wait for the pause to end.
                            if !out.is_empty() && stream.write_all(&out).await.is_err() {
                                break 'conn;
                            }
                            out.clear();
                            // Woken when the pause is lifted; the wait is capped so that a
                            // wake-up sent before this task waits costs it 100 ms at most.
                            let wait = until
                                .saturating_duration_since(std::time::Instant::now())
                                .min(std::time::Duration::from_millis(100));
                            tokio::select! {
                                _ = core.unpaused.notified() => {}
                                _ = tokio::time::sleep(wait.max(std::time::Duration::from_millis(1))) => {}
                            }
                        }
                        if queue.is_empty() && reqs.capacity() == 0 {
                            reqs = Vec::from(std::mem::take(&mut queue));
                        }
                        if !out.is_empty() {
                            // Redis's order: run every ready connection's requests, then
                            // write all the replies (see [`reply_after_the_others`]).
                            reply_after_the_others().await;
                            if !write_unless_killed(&mut stream, &out, &pushes).await {
                                break 'conn;
                            }
                        }
                        if out.capacity() > 1024 * 1024 {
                            out = BytesMut::with_capacity(16 * 1024);
                        }
                    }
                    if let Err(e) = result {
                        tracing::debug!(
                            "Protocol error ({}) from client: id={id} addr={addr}",
                            e.log_reason()
                        );
                        if e.sends_reply() {
                            let mut line = b"-".to_vec();
                            line.extend_from_slice(&e.reply_text());
                            line.extend_from_slice(b"\r\n");
                            let _ = stream.write_all(&line).await;
                        }
                        break 'conn;
                    }
                    if close {
                        break 'conn;
                    }
                    // Everything read was consumed: decoding again would find nothing (the
                    // loop is for a request left buffered behind the unauthenticated limits).
                    if rbuf.is_empty() {
                        break;
                    }
                }
                let limit = shared.query_buffer_limit.load(Ordering::Relaxed);
                if limit > 0 && rbuf.len() as i64 > limit {
                    tracing::warn!("Closing client that reached max query buffer length: id={id} addr={addr} (qbuf initial bytes: {:?})", String::from_utf8_lossy(&rbuf[..rbuf.len().min(64)]));
                    break 'conn;
                }
                if let Some(n) = decoder.needed() {
                    rbuf.reserve(n.min(64 * 1024 * 1024));
                }
            }
        }
    }
    let _ = stream.shutdown().await;
    core.disconnect(id);
}

/// Lets the other connection tasks that are ready run before this one writes its replies.
///
/// A reply landing on a client that waits in `epoll_wait` wakes it, and on loopback the
/// wake-up is paid inside the server's `send` (the receiver's softirq runs the wake): it
/// was a fifth of the server's CPU under `redis-benchmark -P 16`, about six times Redis's
/// share. Redis reads and runs every ready client first and writes all the replies just
/// before it sleeps, so a client is mostly still busy with one reply when the next lands.
///
/// The task wakes itself and returns `Pending` once: tokio requeues a task woken while it
/// runs at the back of the run queue, behind the tasks the I/O driver made ready, which
/// gives Redis's order. Unlike `tokio::task::yield_now` (whose wake waits for the next
/// I/O driver poll, an `epoll_wait` per turn) it costs a lone client no system call.
async fn reply_after_the_others() {
    let mut requeued = false;
    std::future::poll_fn(|cx| {
        if requeued {
            return std::task::Poll::Ready(());
        }
        requeued = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

/// What woke a connection task.
enum Wake {
    /// An event from the executor, or `None` when the channel closed.
    Event(Option<ClientEvent>),
    /// A read from the socket finished.
    Read(std::io::Result<usize>),
}

/// Waits for the next event or read; events first, so a client that keeps its socket busy
/// cannot starve CLIENT KILL or the MONITOR feed.
///
/// Events are rare, and polling the channel on every read cost more than decoding a GET
/// (coop budget, list pop, waker registration). A poll that returns Pending leaves this
/// task's waker in the channel until a send wakes it, and a send is visible to `is_empty`
/// before its wake. So while `registered` holds and the channel is empty and open, polling
/// it again could only return Pending, and is skipped. The check runs on every poll of
/// this future, so the wake of a send finds the event.
async fn next_wake(
    ev_rx: &mut mpsc::UnboundedReceiver<ClientEvent>,
    registered: &mut bool,
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
) -> Wake {
    let mut read = std::pin::pin!(stream.read_buf(rbuf));
    std::future::poll_fn(|cx| {
        if !*registered || !ev_rx.is_empty() || ev_rx.is_closed() {
            // Out of coop budget, the channel answers Pending before registering the waker.
            let budget = tokio::task::coop::has_budget_remaining();
            match ev_rx.poll_recv(cx) {
                Poll::Ready(ev) => {
                    // The send that delivered it may have consumed the waker.
                    *registered = false;
                    return Poll::Ready(Wake::Event(ev));
                }
                Poll::Pending => *registered = budget,
            }
        }
        read.as_mut().poll(cx).map(Wake::Read)
    })
    .await
}

/// Writes `buf`, unless the client is killed first (CLIENT KILL, an output buffer limit)
/// while the socket is full: Redis frees such a client at once. The usual case, a socket
/// that takes everything now, costs one `write` as `write_all` would.
async fn write_unless_killed(
    stream: &mut TcpStream,
    buf: &[u8],
    out: &crate::client::OutQueue,
) -> bool {
    let rest = match stream.try_write(buf) {
        Ok(n) if n == buf.len() => return true,
        Ok(n) => &buf[n..],
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => buf,
        Err(_) => return false,
    };
    tokio::select! {
        r = stream.write_all(rest) => r.is_ok(),
        () = out.killed() => false,
    }
}

fn limits(shared: &Shared, authenticated: bool) -> Limits {
    Limits {
        max_bulk_len: shared.max_bulk_len.load(Ordering::Relaxed),
        unauthenticated: !authenticated,
        ..Limits::default()
    }
}

/// Takes a connection out of [`crate::busy`]'s registry when its task ends, before the
/// socket closes (the stream is declared earlier, so it drops later).
struct Unregister(Option<u64>);

impl Drop for Unregister {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            crate::busy::unregister(id);
        }
    }
}

/// Decrements the connected-clients count when a connection task ends.
struct ConnectedGuard(Arc<Shared>);

impl Drop for ConnectedGuard {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::SeqCst);
    }
}
