//! Serving other clients while a script runs past `busy-reply-threshold`: Redis's `-BUSY`
//! state, with SCRIPT KILL, FUNCTION KILL and SHUTDOWN NOSAVE.
//!
//! A script runs on the network thread under the server lock, so no connection task runs
//! until it ends. Redis, single-threaded as well, lets its Lua hook process events while a
//! script is slow. Tandem gives that job to a helper thread, the responder: when the hook
//! finds the threshold passed it calls [`begin`], which copies the sockets of the clients
//! waiting idle, and the responder serves them and the listeners (copied once at start-up,
//! [`init`]) until the script ends and the runner calls [`finish`]:
//!
//! * requests are peeked, and only those it answers are consumed. The rest (a partial
//!   request, or a command that needs the server such as WATCH or RESET, or any command
//!   a MULTI opened meanwhile would queue) stays in the socket, and that client's later
//!   requests wait for the script's end;
//! * an unknown command or a wrong arity gets its usual error, an unauthenticated client
//!   `-NOAUTH`, and AUTH and HELLO AUTH are checked against a copy of the users
//!   ([`publish_users`]); refusals count in INFO's commandstats and errorstats;
//! * SCRIPT KILL and FUNCTION KILL stop a script that has not written (the hook raises the
//!   error), SHUTDOWN NOSAVE ends the process, FUNCTION STATS shows the running function,
//!   HELLO, MULTI, DISCARD, EXEC and QUIT behave as in Redis (what they change, a
//!   [`Preset`], is applied when the script ends), everything else gets `-BUSY`;
//! * connections accepted meanwhile are served alike, then handed to the network runtime.
//!
//! Which clients: those whose task waits for a read with nothing buffered, not inside
//! MULTI, not subscribed in RESP2, not blocked or monitoring, logged in as `default` or
//! not yet logged in, and whose user may run every command (any other client's requests
//! wait for the script's end, rather than get `-BUSY` where Redis would check its ACL
//! first).
//! Only with one network thread (`io-threads 1`, the default): with more, tasks keep
//! running on the other threads and the socket copies would race them, so a slow script
//! that has not written is stopped instead (a runaway one must not hold the server).
//!
//! Why the copies are sound: the fd numbers come from the registry of connections
//! ([`register`]), which connection tasks update on the network thread; [`begin`] makes
//! the copies (`pidfd_getfd` on this process) in the hook, on that thread, while every
//! task is suspended, so each number still names that client's socket.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use rustix::event::epoll;
use tandem_commands::acl::User;
use tandem_resp::{Encoder, Limits, Protocol, RequestDecoder};
use tokio::sync::mpsc::{UnboundedSender, WeakUnboundedSender};

use crate::client::{ClientEvent, OutQueue};
use crate::net::Shared;
use crate::server::Server;

/// What the hook and the responder share about the running script.
#[derive(Debug, Default)]
pub struct Script {
    /// The script has run a write command: it can no longer be killed.
    pub wrote: AtomicBool,
    /// SCRIPT KILL / FUNCTION KILL asked the hook to stop it.
    pub kill: AtomicBool,
    /// It is a function (FCALL), not an EVAL script.
    pub function: AtomicBool,
    /// The server is a replica (HELLO's `role`).
    pub replica: AtomicBool,
    /// Its name and, for a function, what FUNCTION STATS shows while it is busy.
    pub running: Mutex<RunningScript>,
}

/// The script being run: its name (for the log and FUNCTION STATS) and, for a function,
/// the rest of FUNCTION STATS (`running_script`, `engines`).
#[derive(Debug, Default)]
pub struct RunningScript {
    /// The script's SHA1, or the function's name.
    pub name: String,
    /// Unix milliseconds when it started.
    pub started_ms: u64,
    /// The FCALL / FCALL_RO command as the client sent it.
    pub command: Vec<Bytes>,
    pub libraries: usize,
    pub functions: usize,
}

/// `-BUSY` for EVAL scripts (Redis's `slowevalerr`).
const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// `-BUSY` for functions (Redis's `slowscripterr`).
const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
const NOAUTH: &str = "NOAUTH Authentication required.";

/// Largest request prefix the responder looks at; a longer request waits for the script.
const PEEK_MAX: usize = 64 * 1024;

/// A connection the responder may serve, as its task registered it.
#[derive(Debug)]
pub struct Peer {
    fd: i32,
    /// [`IDLE_NO`], or [`IDLE`] with [`IDLE_AUTHENTICATED`] and [`IDLE_RESP3`].
    idle: AtomicU8,
    /// Weak: the connection's channel must still close when the server drops the client.
    events: WeakUnboundedSender<ClientEvent>,
    out: Arc<OutQueue>,
}

/// [`Peer::idle`]: not waiting idle (0), or [`IDLE`] with the other bits.
const IDLE_NO: u8 = 0;
const IDLE: u8 = 1;
const IDLE_AUTHENTICATED: u8 = 2;
const IDLE_RESP3: u8 = 4;

impl Peer {
    /// The task is about to wait for a read; `plain` when nothing is buffered and the
    /// client is in none of the states the responder leaves alone (see the module docs).
    #[inline]
    pub fn waiting(&self, plain: bool, authenticated: bool, resp3: bool) {
        let mut state = IDLE_NO;
        if plain {
            state = IDLE;
            if authenticated {
                state |= IDLE_AUTHENTICATED;
            }
            if resp3 {
                state |= IDLE_RESP3;
            }
        }
        self.idle.store(state, Ordering::Relaxed);
    }

    /// The task woke up.
    #[inline]
    pub fn woke(&self) {
        self.idle.store(IDLE_NO, Ordering::Relaxed);
    }
}

/// A connection accepted while a script was busy, for the network runtime to serve.
pub struct Accepted {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    /// What it changed meanwhile.
    pub preset: Preset,
    /// Replies not yet written (the client did not read them).
    pub unsent: Vec<u8>,
}

/// What a client changed of its state while a script was busy: applied to a registered
/// client when the script ends, and the state a connection accepted meanwhile starts in.
#[derive(Debug, Default)]
pub struct Preset {
    /// The id HELLO told a connection accepted meanwhile.
    pub id: Option<u64>,
    /// The user it authenticated as.
    pub user: Option<Arc<str>>,
    /// Inside a MULTI it opened: `Some(refused)`, whether a command of it was refused.
    pub multi: Option<bool>,
    /// HELLO SETNAME (empty: no name).
    pub name: Option<Bytes>,
    /// HELLO's protocol.
    pub proto: Option<Protocol>,
}

impl Preset {
    /// Applies the changes to the client.
    pub fn apply(self, c: &mut crate::client::Client) {
        if let Some(user) = self.user {
            c.authenticated = true;
            c.user = user;
        }
        if let Some(refused) = self.multi {
            c.multi = Some(Vec::new());
            c.multi_error = refused;
        }
        if let Some(name) = self.name {
            c.name = (!name.is_empty()).then_some(name);
        }
        if let Some(proto) = self.proto {
            c.proto = proto;
        }
    }
}

/// What [`init`] fixes at start-up.
struct Setup {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    pidfile: String,
    handoff: UnboundedSender<Accepted>,
}

static SETUP: OnceLock<Setup> = OnceLock::new();
/// Several network threads: no responder (see [`several_network_threads`]).
static SEVERAL_THREADS: AtomicBool = AtomicBool::new(false);
static PEERS: Mutex<BTreeMap<u64, Arc<Peer>>> = Mutex::new(BTreeMap::new());
static USERS: RwLock<Option<Arc<BTreeMap<String, User>>>> = RwLock::new(None);
static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

thread_local! {
    /// Set on the (single) network thread: only there may a script turn busy.
    static NETWORK_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Enables the responder: called once, with one network thread, on that thread.
/// `listeners` are copies of the listening sockets; accepted connections go to `handoff`.
pub fn init(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    pidfile: String,
    handoff: UnboundedSender<Accepted>,
) {
    NETWORK_THREAD.with(|n| n.set(true));
    let _ = SETUP.set(Setup {
        listeners,
        shared,
        pidfile,
        handoff,
    });
}

/// With `io-threads` above 1 there is no responder: a slow script that has not written
/// is stopped instead, so that a runaway one cannot hold the server for good.
pub fn several_network_threads() {
    SEVERAL_THREADS.store(true, Ordering::Relaxed);
}

/// Whether slow scripts are stopped rather than answered around (see
/// [`several_network_threads`]).
pub fn stops_slow_scripts() -> bool {
    SEVERAL_THREADS.load(Ordering::Relaxed)
}

/// Registers a connection (its socket's fd number); `None` when the responder is off.
pub fn register(
    id: u64,
    fd: i64,
    events: WeakUnboundedSender<ClientEvent>,
    out: &Arc<OutQueue>,
) -> Option<Arc<Peer>> {
    SETUP.get()?;
    let peer = Arc::new(Peer {
        fd: i32::try_from(fd).ok()?,
        idle: AtomicU8::new(IDLE_NO),
        events,
        out: out.clone(),
    });
    PEERS.lock().insert(id, peer.clone());
    Some(peer)
}

/// Removes a connection, before its socket closes.
pub fn unregister(id: u64) {
    PEERS.lock().remove(&id);
}

/// Copies the users for AUTH while a script is busy; called whenever they change.
pub fn publish_users(users: &BTreeMap<String, User>) {
    if SETUP.get().is_some() {
        *USERS.write() = Some(Arc::new(users.clone()));
    }
}

/// The responder while it runs.
struct Active {
    stop: UnixStream,
    thread: std::thread::JoinHandle<Report>,
}

/// What the responder did that the server must know once the script ended.
#[derive(Default)]
struct Report {
    /// What registered clients changed meanwhile.
    changes: Vec<(u64, Preset)>,
    /// Error replies sent (for INFO's error statistics).
    errors: Vec<String>,
    /// Commands refused (`rejected_calls` in INFO commandstats).
    rejected: Vec<&'static str>,
    /// Replies a registered client did not read yet.
    unsent: Vec<(Arc<Peer>, Vec<u8>)>,
    accepted: Vec<Accepted>,
}

/// The script has been running past `busy-reply-threshold`: start answering the other
/// clients. Called by the hook, on the network thread; does nothing elsewhere.
pub fn begin(script: Arc<Script>) {
    if !NETWORK_THREAD.with(Cell::get) {
        return;
    }
    let Some(setup) = SETUP.get() else {
        return;
    };
    let mut conns = Vec::new();
    let peers: Vec<(u64, Arc<Peer>)> = PEERS
        .lock()
        .iter()
        .filter(|(_, p)| p.idle.load(Ordering::Relaxed) != IDLE_NO)
        .map(|(id, p)| (*id, p.clone()))
        .collect();
    if !peers.is_empty() {
        match rustix::process::pidfd_open(
            rustix::process::getpid(),
            rustix::process::PidfdFlags::empty(),
        ) {
            Ok(pidfd) => {
                for (id, peer) in peers {
                    let copy = rustix::process::pidfd_getfd(
                        &pidfd,
                        peer.fd,
                        rustix::process::PidfdGetfdFlags::empty(),
                    );
                    if let Ok(fd) = copy {
                        let state = peer.idle.load(Ordering::Relaxed);
                        let mut conn = Conn::new(
                            TcpStream::from(fd),
                            state & IDLE_AUTHENTICATED != 0,
                            Some((id, peer)),
                        );
                        if state & IDLE_RESP3 != 0 {
                            conn.proto = Protocol::Resp3;
                        }
                        conns.push(conn);
                    }
                }
            }
            Err(e) => tracing::debug!("No socket copies for the busy script's clients: {e}"),
        }
    }
    let Ok((stop, stop_rx)) = UnixStream::pair() else {
        return;
    };
    let users = USERS.read().clone();
    let default_unrestricted = users
        .as_ref()
        .and_then(|u| u.get("default"))
        .is_some_and(User::unrestricted);
    for conn in &mut conns {
        conn.unrestricted = default_unrestricted;
    }
    let responder = Responder {
        script,
        conns,
        listeners: &setup.listeners,
        users,
        shared: setup.shared.clone(),
        pidfile: setup.pidfile.clone(),
        report: Report::default(),
        scratch: Vec::new(),
    };
    let thread = std::thread::Builder::new()
        .name("busy-script".into())
        .spawn(move || responder.run(stop_rx));
    match thread {
        Ok(thread) => *ACTIVE.lock() = Some(Active { stop, thread }),
        Err(e) => tracing::warn!("Could not start answering clients during the slow script: {e}"),
    }
}

/// The script ended: stop the responder and apply what it did. On the network thread.
pub fn finish(srv: &mut Server) {
    let Some(active) = ACTIVE.lock().take() else {
        return;
    };
    let _ = (&active.stop).write_all(b"x");
    let Ok(report) = active.thread.join() else {
        return;
    };
    for (id, changes) in report.changes {
        if let Some(c) = srv.clients.get_mut(&id) {
            if changes.user.is_some() {
                let _ = c.events.send(ClientEvent::LoggedIn);
            }
            changes.apply(c);
        }
    }
    for msg in report.errors {
        srv.stats.total_error_replies += 1;
        crate::cmd::info::record_error_code(&mut srv.stats, &msg);
    }
    for name in report.rejected {
        crate::cmd::info::record_rejected(&mut srv.stats, name);
    }
    for (peer, bytes) in report.unsent {
        if let Some(events) = peer.events.upgrade() {
            crate::client::push_to(&events, &peer.out, Bytes::from(bytes));
        }
    }
    if let Some(setup) = SETUP.get() {
        for a in report.accepted {
            let _ = setup.handoff.send(a);
        }
    }
}

/// One connection the responder serves.
struct Conn {
    stream: TcpStream,
    /// The registered client, or `None` for one accepted meanwhile.
    peer: Option<(u64, Arc<Peer>)>,
    addr: Option<SocketAddr>,
    authenticated: bool,
    /// What it changed meanwhile (AUTH, MULTI, HELLO).
    changes: Preset,
    /// Whether the user may run every command (else its requests wait).
    unrestricted: bool,
    /// Stop serving it: what it sends next waits for the script's end.
    held: bool,
    /// QUIT: close once the replies are written.
    quit: bool,
    proto: Protocol,
    unsent: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream, authenticated: bool, peer: Option<(u64, Arc<Peer>)>) -> Conn {
        Conn {
            stream,
            peer,
            addr: None,
            authenticated,
            changes: Preset::default(),
            unrestricted: true,
            held: false,
            quit: false,
            proto: Protocol::Resp2,
            unsent: Vec::new(),
        }
    }
}

/// What to do with one request.
enum Action {
    Reply(Vec<u8>),
    /// Leave it (and what follows) for the connection task.
    Hold,
    Shutdown,
}

struct Responder {
    script: Arc<Script>,
    conns: Vec<Conn>,
    /// The listening sockets' copies made at start-up.
    listeners: &'static [TcpListener],
    users: Option<Arc<BTreeMap<String, User>>>,
    shared: Arc<Shared>,
    pidfile: String,
    report: Report,
    /// Peek and read buffer, [`PEEK_MAX`] bytes once used.
    scratch: Vec<u8>,
}

/// epoll tokens: connections are their index; these come after any index.
const STOP: u64 = u64::MAX;
const LISTENER: u64 = 1 << 62;

impl Responder {
    fn run(mut self, stop: UnixStream) -> Report {
        if let Err(e) = self.serve(&stop) {
            tracing::warn!("Answering clients during the slow script failed: {e}");
        }
        self.wrap_up();
        self.report
    }

    fn serve(&mut self, stop: &UnixStream) -> std::io::Result<()> {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(
            &ep,
            stop,
            epoll::EventData::new_u64(STOP),
            epoll::EventFlags::IN,
        )?;
        for (i, l) in self.listeners.iter().enumerate() {
            l.set_nonblocking(true)?;
            epoll::add(
                &ep,
                l,
                epoll::EventData::new_u64(LISTENER + i as u64),
                epoll::EventFlags::IN | epoll::EventFlags::ET,
            )?;
        }
        for i in 0..self.conns.len() {
            self.watch(&ep, i)?;
        }
        let mut events = Vec::with_capacity(64);
        loop {
            events.clear();
            match epoll::wait(&ep, rustix::buffer::spare_capacity(&mut events), None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            for ev in &events {
                let token = ev.data.u64();
                if token == STOP {
                    return Ok(());
                }
                if token >= LISTENER {
                    self.accept((token - LISTENER) as usize, &ep)?;
                } else if let Ok(i) = usize::try_from(token) {
                    self.serve_conn(i);
                }
            }
        }
    }

    fn watch(&mut self, ep: &OwnedFd, i: usize) -> std::io::Result<()> {
        let flags = epoll::EventFlags::IN
            | epoll::EventFlags::OUT
            | epoll::EventFlags::RDHUP
            | epoll::EventFlags::ET;
        epoll::add(
            ep,
            self.conns[i].stream.as_fd(),
            epoll::EventData::new_u64(i as u64),
            flags,
        )?;
        Ok(())
    }

    fn accept(&mut self, which: usize, ep: &OwnedFd) -> std::io::Result<()> {
        loop {
            let Some(listener) = self.listeners.get(which) else {
                return Ok(());
            };
            let (stream, addr) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => {
                    tracing::warn!("Accepting client connection: {e}");
                    return Ok(());
                }
            };
            stream.set_nonblocking(true)?;
            let _ = stream.set_nodelay(true);
            let requires_auth = self.shared.requires_auth.load(Ordering::Relaxed);
            let mut conn = Conn::new(stream, !requires_auth, None);
            conn.addr = Some(addr);
            conn.unrestricted = self
                .users
                .as_ref()
                .and_then(|u| u.get("default"))
                .is_some_and(User::unrestricted);
            // A connection protected mode refuses is left to the network runtime.
            conn.held = self.shared.protected_mode.load(Ordering::Relaxed)
                && !requires_auth
                && !addr.ip().is_loopback();
            self.conns.push(conn);
            let i = self.conns.len() - 1;
            self.watch(ep, i)?;
        }
    }

    /// Answers what `conns[i]` sent, as far as it can.
    fn serve_conn(&mut self, i: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(PEEK_MAX, 0);
        self.serve_conn_with(i, &mut scratch);
        self.scratch = scratch;
    }

    fn serve_conn_with(&mut self, i: usize, scratch: &mut [u8]) {
        loop {
            if !self.flush(i) {
                return;
            }
            let conn = &self.conns[i];
            if conn.held {
                return;
            }
            let n = match conn.stream.peek(scratch) {
                Ok(0) => {
                    // Closed: the connection task sees it after the script.
                    self.conns[i].held = true;
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let mut buf = BytesMut::from(&scratch[..n]);
            let mut decoder = RequestDecoder::new(Limits {
                max_bulk_len: self.shared.max_bulk_len.load(Ordering::Relaxed),
                unauthenticated: !conn.authenticated,
                ..Limits::default()
            });
            let mut reqs = Vec::new();
            let decoded = decoder.decode_batch(&mut buf, &mut reqs);
            let mut consumed = 0;
            let mut replies = Vec::new();
            let mut hold = decoded.is_err();
            for req in &reqs {
                match self.answer(i, &req.args) {
                    Action::Reply(bytes) => {
                        consumed += req.raw_len;
                        replies.extend_from_slice(&bytes);
                        if self.conns[i].quit {
                            hold = true;
                            break;
                        }
                    }
                    Action::Hold => {
                        hold = true;
                        break;
                    }
                    Action::Shutdown => self.shutdown(),
                }
            }
            let conn = &mut self.conns[i];
            if consumed > 0 {
                let mut left = consumed;
                while left > 0 {
                    let want = left.min(scratch.len());
                    match conn.stream.read(&mut scratch[..want]) {
                        Ok(0) => break,
                        Ok(got) => left -= got,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
            conn.unsent.extend_from_slice(&replies);
            if hold {
                conn.held = true;
            }
            // Nothing answered: the rest is a partial request, wait for more bytes.
            if consumed == 0 || conn.held {
                self.flush(i);
                return;
            }
        }
    }

    /// Writes what `conns[i]` has pending; false while some is left (its socket is full).
    /// After QUIT's reply the connection is shut down (its task sees the end afterwards).
    fn flush(&mut self, i: usize) -> bool {
        let conn = &mut self.conns[i];
        while !conn.unsent.is_empty() {
            match conn.stream.write(&conn.unsent) {
                Ok(0) => return false,
                Ok(n) => {
                    conn.unsent.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if conn.quit {
            let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        }
        true
    }

    fn error(&mut self, msg: impl Into<String>) -> Action {
        let msg = msg.into();
        let line = error_line(msg.as_bytes());
        self.report.errors.push(msg);
        Action::Reply(line)
    }

    /// `-BUSY` for the kind of script running.
    fn busy_text(&self) -> &'static str {
        if self.script.function.load(Ordering::Relaxed) {
            BUSY_FUNCTION
        } else {
            BUSY_EVAL
        }
    }

    fn busy(&mut self) -> Action {
        self.error(self.busy_text())
    }

    /// Redis's `processCommand` checks that come before the busy one, then the commands
    /// allowed while busy.
    fn answer(&mut self, i: usize, args: &[Bytes]) -> Action {
        let entry = match crate::cmd::resolve(args) {
            Ok(entry) => entry,
            Err(msg) => return self.error(msg),
        };
        let spec = entry.spec;
        let name = spec.full_name;
        let conn = &self.conns[i];
        let rejection = if !tandem_commands::arity_ok(spec, args.len()) {
            Some(tandem_commands::wrong_arity_error(spec))
        } else if !conn.authenticated && !entry.no_auth {
            Some(NOAUTH.to_owned())
        } else if !conn.unrestricted {
            return Action::Hold;
        } else if !spec.flags.contains(&"allow_busy") {
            Some(self.busy_text().to_owned())
        } else {
            None
        };
        if let Some(msg) = rejection {
            // Redis's rejectCommand: counted, an open MULTI is flagged, and a refused EXEC
            // aborts the transaction.
            self.report.rejected.push(name);
            let conn = &mut self.conns[i];
            if name == "exec" {
                conn.changes.multi = None;
                return self.error(format!("EXECABORT Transaction discarded because of: {msg}"));
            }
            if let Some(refused) = &mut conn.changes.multi {
                *refused = true;
            }
            return self.error(msg);
        }
        // Inside MULTI these would be queued: the connection task does it afterwards.
        if conn.changes.multi.is_some()
            && !matches!(name, "discard" | "multi" | "watch" | "quit" | "reset")
        {
            return Action::Hold;
        }
        match name {
            "auth" => self.auth(i, args),
            "hello" => self.hello(i, args),
            "multi" => self.multi(i),
            "discard" => self.discard(i),
            "quit" => {
                self.conns[i].quit = true;
                Action::Reply(b"+OK\r\n".to_vec())
            }
            "script|kill" => self.kill(false),
            "function|kill" => self.kill(true),
            "function|stats" if self.script.function.load(Ordering::Relaxed) => {
                self.function_stats(i)
            }
            "function|stats" => self.busy(),
            "shutdown" => self.shutdown_command(args),
            _ => Action::Hold,
        }
    }

    /// MULTI (the server applies it once the script ended).
    fn multi(&mut self, i: usize) -> Action {
        let conn = &mut self.conns[i];
        if conn.changes.multi.is_some() {
            return self.error("ERR MULTI calls can not be nested");
        }
        conn.changes.multi = Some(false);
        Action::Reply(b"+OK\r\n".to_vec())
    }

    fn discard(&mut self, i: usize) -> Action {
        if self.conns[i].changes.multi.take().is_none() {
            return self.error("ERR DISCARD without MULTI");
        }
        Action::Reply(b"+OK\r\n".to_vec())
    }

    fn auth(&mut self, i: usize, args: &[Bytes]) -> Action {
        let (name, pass) = match self
            .users
            .as_deref()
            .map(|u| crate::cmd::conn::auth_pair(u, args))
        {
            None => return Action::Hold,
            Some(Ok(pair)) => pair,
            Some(Err(msg)) => return self.error(msg),
        };
        if !self.login(i, name, pass) {
            return self.error(crate::cmd::conn::WRONGPASS);
        }
        Action::Reply(b"+OK\r\n".to_vec())
    }

    /// Authenticates `conns[i]` as `name` if `pass` opens that user.
    fn login(&mut self, i: usize, name: &[u8], pass: &[u8]) -> bool {
        let name = String::from_utf8_lossy(name);
        let Some(user) = self
            .users
            .as_ref()
            .and_then(|u| u.get(name.as_ref()))
            .filter(|u| u.password_ok(pass))
        else {
            return false;
        };
        let conn = &mut self.conns[i];
        conn.authenticated = true;
        conn.unrestricted = user.unrestricted();
        conn.changes.user = Some(name.as_ref().into());
        true
    }

    /// HELLO: as the command does, with the client's id and the server's role.
    fn hello(&mut self, i: usize, args: &[Bytes]) -> Action {
        use crate::cmd::conn::{hello_reply, parse_hello, HELLO_NOAUTH, WRONGPASS};
        if self.users.is_none() {
            return Action::Hold;
        }
        let (h, error) = parse_hello(args);
        if let Some(name) = h.name {
            self.conns[i].changes.name = Some(name);
        }
        if let Some(msg) = error {
            return self.error(msg);
        }
        if let Some((user, pass)) = &h.creds {
            if !self.login(i, user, pass) {
                return self.error(WRONGPASS);
            }
        }
        let conn = &mut self.conns[i];
        if !conn.authenticated {
            return self.error(HELLO_NOAUTH);
        }
        if let Some(v) = h.version {
            conn.proto = if v == 3 {
                Protocol::Resp3
            } else {
                Protocol::Resp2
            };
            conn.changes.proto = Some(conn.proto);
        }
        let id = match &conn.peer {
            Some((id, _)) => *id,
            None => *conn
                .changes
                .id
                .get_or_insert_with(|| self.shared.next_id.fetch_add(1, Ordering::SeqCst)),
        };
        let proto = if conn.proto == Protocol::Resp3 { 3 } else { 2 };
        let mut out = BytesMut::new();
        hello_reply(
            &mut Encoder::new(&mut out, conn.proto),
            proto,
            id,
            self.script.replica.load(Ordering::Relaxed),
        );
        Action::Reply(out.to_vec())
    }

    /// FUNCTION STATS while a function is busy: its name, command and running time.
    fn function_stats(&mut self, i: usize) -> Action {
        let f = self.script.running.lock();
        let elapsed = (crate::cmd::data::now_ms() as u64).saturating_sub(f.started_ms);
        let mut out = BytesMut::new();
        crate::cmd::script::function_stats_reply(
            &mut Encoder::new(&mut out, self.conns[i].proto),
            Some((&f.name, &f.command, elapsed)),
            f.libraries,
            f.functions,
        );
        Action::Reply(out.to_vec())
    }

    /// SCRIPT KILL (`function` false) or FUNCTION KILL.
    fn kill(&mut self, function: bool) -> Action {
        if self.script.wrote.load(Ordering::Relaxed) {
            return self.error(UNKILLABLE);
        }
        if self.script.function.load(Ordering::Relaxed) != function {
            return self.busy();
        }
        self.script.kill.store(true, Ordering::Relaxed);
        tracing::warn!("Lua script killed by user with SCRIPT KILL.");
        Action::Reply(b"+OK\r\n".to_vec())
    }

    /// SHUTDOWN while busy: only NOSAVE goes ahead (ABORT finds no shutdown to abort).
    fn shutdown_command(&mut self, args: &[Bytes]) -> Action {
        use crate::cmd::server::{ShutdownMode, ShutdownRequest};
        match crate::cmd::server::parse_shutdown(args) {
            Err(msg) => self.error(msg),
            Ok(ShutdownRequest::Abort) => self.error(crate::cmd::server::NO_SHUTDOWN),
            Ok(ShutdownRequest::Go {
                mode: ShutdownMode::NoSave,
                ..
            }) => Action::Shutdown,
            Ok(ShutdownRequest::Go { .. }) => self.busy(),
        }
    }

    /// SHUTDOWN NOSAVE during the script: Redis exits without waiting for it.
    fn shutdown(&mut self) -> ! {
        tracing::warn!("User requested shutdown...");
        if !self.pidfile.is_empty() {
            tracing::info!("Removing the pid file.");
            let _ = std::fs::remove_file(&self.pidfile);
        }
        tracing::warn!("Redis is now ready to exit, bye bye...");
        std::process::exit(0)
    }

    /// Moves what the server must learn into the report.
    fn wrap_up(&mut self) {
        for conn in self.conns.drain(..) {
            match conn.peer {
                Some((id, peer)) => {
                    self.report.changes.push((id, conn.changes));
                    if !conn.unsent.is_empty() {
                        self.report.unsent.push((peer, conn.unsent));
                    }
                }
                None => {
                    let Some(addr) = conn.addr else { continue };
                    self.report.accepted.push(Accepted {
                        stream: conn.stream,
                        addr,
                        preset: conn.changes,
                        unsent: conn.unsent,
                    });
                }
            }
        }
    }
}

/// `-<msg>\r\n`.
fn error_line(msg: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Encoder::new(&mut out, Protocol::Resp2).error(msg);
    out.to_vec()
}
