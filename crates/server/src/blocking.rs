//! Clients blocked on keys: BLPOP & co. (lists), BZPOPMIN & co. (sorted sets), XREAD /
//! XREADGROUP BLOCK (streams), as redis-server 7.0.15's `blocked.c` handles them.
//!
//! A data handler that cannot serve now sets `ExecCtx::block` (see `tandem_commands::data`);
//! [`block`] then records the client here: per-client state (database, keys, the command to
//! run again, deadline, timeout reply) and, per `(db, key)`, the FIFO queue of clients
//! waiting on it. The client's connection task parks outside the lock on a
//! [`crate::repl::Handoff::Blocked`] (its unread requests stay queued, so per-client order
//! holds) until a [`Wake`] arrives on its oneshot or the deadline passes.
//!
//! Waking up. While any client is blocked the keyspace records modified keys; the events
//! (routed by `cmd::data::after_command_with`) mark blocked keys *ready*. After every
//! command (a whole EXEC, a command of the master's stream), [`serve_ready`] walks the ready
//! keys in signal order and, for each, the clients waiting on it first-blocked-first: if the
//! key now holds the type the client waits for, the client's command runs again in its own
//! context, narrowed to the ready key (Redis serves a blocked client from the key that became
//! ready, not from the first of its keys). A run that blocks again keeps the client's place;
//! a run that answers unblocks it: the reply goes to its socket, the propagation to the
//! replication stream as its own execution unit, and the keys it modified (BLMOVE's
//! destination) become ready in turn.
//!
//! A timeout (or CLIENT UNBLOCK ... TIMEOUT) answers a null array whatever the command:
//! redis-server 7.0.15's `replyToBlockedClientTimedOut` does so for every key-blocked
//! command, BLMOVE and BRPOPLPUSH included (their answer when they may not block, a null
//! bulk, is the handler's). `BlockOn::on_timeout` is therefore not used here.
//!
//! As in Redis, an XREADGROUP waiting on a stream that was deleted, flushed, swapped away or
//! overwritten by another type is unblocked with an error.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::{Bytes, BytesMut};
use tandem_commands::data::BlockOn;
use tandem_keyspace::{Millis, Value};
use tandem_resp::{Encoder, Protocol};
use tokio::sync::oneshot;

use crate::client::{Client, ReplyMode};
use crate::cmd::{self, data, table};
use crate::server::Server;

/// The error an XREADGROUP gets when its stream disappears (7.0.15's text).
pub const STREAM_GONE_ERR: &str = "UNBLOCKED the stream key no longer exists";
/// The error an XREADGROUP gets when its group was destroyed while it waited.
pub const GROUP_GONE_ERR: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";
/// The error CLIENT UNBLOCK ... ERROR gives.
pub const UNBLOCKED_BY_CLIENT_ERR: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
/// The error blocked clients get when the node turns into a replica (then they are closed).
pub const ROLE_CHANGE_ERR: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";

/// What a parked connection task receives when its client is unblocked.
#[derive(Debug)]
pub struct Wake {
    /// The reply to write (empty under CLIENT REPLY OFF/SKIP).
    pub reply: Bytes,
    /// Close the connection once the reply is written.
    pub close: bool,
}

/// The value type a blocked client waits for (Redis's `btype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waits {
    List,
    ZSet,
    /// `group`: XREADGROUP (unblocked with an error when the stream goes away).
    Stream {
        group: bool,
    },
}

impl Waits {
    /// The type a blocking command waits for, by its (lower-case) name.
    pub fn of(name: &str) -> Waits {
        match name {
            "bzpopmin" | "bzpopmax" | "bzmpop" => Waits::ZSet,
            "xread" => Waits::Stream { group: false },
            "xreadgroup" => Waits::Stream { group: true },
            _ => Waits::List,
        }
    }

    fn served_by(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (Waits::List, Value::List(_))
                | (Waits::ZSet, Value::ZSet(_))
                | (Waits::Stream { .. }, Value::Stream(_))
        )
    }
}

/// One blocked client.
#[derive(Debug)]
struct Blocked {
    db: usize,
    /// Distinct keys, in the command's order.
    keys: Vec<Bytes>,
    /// The command run again when a key is ready (the handler's `retry_args` if it gave
    /// some).
    args: Vec<Bytes>,
    name: &'static str,
    deadline: Option<Millis>,
    proto: Protocol,
    waits: Waits,
    /// CLIENT REPLY OFF / SKIP was in force for the blocked command: no reply is written.
    skip_reply: bool,
    tx: Option<oneshot::Sender<Wake>>,
}

/// The registry of blocked clients (Redis's `db->blocking_keys`, `server.ready_keys`,
/// `c->bpop`).
#[derive(Debug, Default)]
pub struct Blocking {
    clients: HashMap<u64, Blocked>,
    by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
    ready: VecDeque<(usize, Bytes)>,
    ready_set: HashSet<(usize, Bytes)>,
    with_deadline: usize,
    /// Clients blocked in WAIT (they count as blocked in INFO and CLIENT LIST, and CLIENT
    /// UNBLOCK applies to them): id → state. Their parking is `repl.rs`'s.
    waits: HashMap<u64, WaitState>,
}

/// A client blocked in WAIT.
#[derive(Debug)]
struct WaitState {
    timed: bool,
    /// Set when it is unblocked with an error (text, close the connection afterwards).
    error: Option<(&'static str, bool)>,
}

impl Blocking {
    /// Number of blocked clients, WAIT included (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.clients.len() + self.waits.len()
    }

    /// True when no client is blocked on keys (the keyspace need not record modified keys).
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Blocked clients with a timeout, WAIT included (INFO `clients_in_timeout_table`).
    pub fn with_deadline(&self) -> usize {
        self.with_deadline + self.waits.values().filter(|w| w.timed).count()
    }

    pub fn is_blocked(&self, id: u64) -> bool {
        self.clients.contains_key(&id)
    }

    /// True when some key is waiting to be served.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Marks `key` ready if clients wait on it (Redis's `signalKeyAsReady`).
    pub fn signal(&mut self, db: usize, key: &Bytes) {
        let slot = (db, key.clone());
        if self.by_key.contains_key(&slot) && self.ready_set.insert(slot.clone()) {
            self.ready.push_back(slot);
        }
    }

    /// Marks every key clients wait on in `db` ready (flushes and swaps).
    pub fn signal_db(&mut self, db: usize) {
        let mut keys: Vec<(usize, Bytes)> = self
            .by_key
            .keys()
            .filter(|(d, _)| *d == db)
            .cloned()
            .collect();
        // Signal order decides serving order across keys: make it deterministic.
        keys.sort();
        for (d, k) in keys {
            self.signal(d, &k);
        }
    }

    fn insert(&mut self, id: u64, b: Blocked) {
        for key in &b.keys {
            self.by_key
                .entry((b.db, key.clone()))
                .or_default()
                .push_back(id);
        }
        if b.deadline.is_some() {
            self.with_deadline += 1;
        }
        self.clients.insert(id, b);
    }

    fn remove(&mut self, id: u64) -> Option<Blocked> {
        let b = self.clients.remove(&id)?;
        for key in &b.keys {
            let slot = (b.db, key.clone());
            if let Some(q) = self.by_key.get_mut(&slot) {
                q.retain(|c| *c != id);
                if q.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        if b.deadline.is_some() {
            self.with_deadline -= 1;
        }
        Some(b)
    }

    fn pop_ready(&mut self) -> Option<(usize, Bytes)> {
        let slot = self.ready.pop_front()?;
        self.ready_set.remove(&slot);
        Some(slot)
    }

    fn waiting(&self, db: usize, key: &Bytes) -> Vec<u64> {
        self.by_key
            .get(&(db, key.clone()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Blocks `client` on what its command asked for (`args` is the command as received). Its
/// connection task parks on the returned handoff. A client already blocked (its command ran
/// again and blocked again) keeps its place, deadline and command.
pub fn block(srv: &mut Server, client: &mut Client, args: &[Bytes], on: BlockOn) {
    if srv.blocking.is_blocked(client.id) {
        return;
    }
    let mut keys: Vec<Bytes> = Vec::with_capacity(on.keys.len());
    for k in on.keys {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let (tx, rx) = oneshot::channel();
    let name = client.last_cmd;
    let blocked = Blocked {
        db: client.db,
        keys,
        args: on.retry_args.unwrap_or_else(|| args.to_vec()),
        name,
        deadline: on.deadline,
        proto: client.proto,
        waits: Waits::of(name),
        skip_reply: matches!(client.reply_mode, ReplyMode::Off | ReplyMode::Skip),
        tx: Some(tx),
    };
    srv.blocking.insert(client.id, blocked);
    client.blocked = true;
    let deadline = on.deadline.map(|at| {
        let wait = at.saturating_sub(data::now_ms()).max(0) as u64;
        std::time::Instant::now() + std::time::Duration::from_millis(wait)
    });
    client.repl.handoff = Some(crate::repl::Handoff::Blocked { rx, deadline });
    sync_tracking(srv);
}

/// Keeps the keyspace recording modified keys while WATCH or a blocked client needs them.
pub fn sync_tracking(srv: &mut Server) {
    let on = !srv.watched_keys.is_empty() || !srv.blocking.is_empty();
    srv.ks.config_mut().track_modified = on;
}

/// Serves the clients blocked on ready keys (Redis's `handleClientsBlockedOnKeys`), until
/// no key is ready: keys that served clients make ready are served in the same call.
pub fn serve_ready(srv: &mut Server) {
    while let Some((db, key)) = srv.blocking.pop_ready() {
        for id in srv.blocking.waiting(db, &key) {
            let Some(waits) = srv.blocking.clients.get(&id).map(|b| b.waits) else {
                continue;
            };
            let now = data::now_ms();
            let value = srv.ks.peek(db, &key, now);
            let served = value.is_some_and(|v| waits.served_by(v));
            if served {
                run_again(srv, id, &key);
            } else if waits == (Waits::Stream { group: true }) {
                // The stream is gone (deleted, flushed, swapped away or another type now).
                unblock_with(srv, id, Outcome::Error(STREAM_GONE_ERR), false);
            }
        }
    }
    sync_tracking(srv);
}

/// Runs blocked client `id`'s command again for ready `key`.
fn run_again(srv: &mut Server, id: u64, key: &Bytes) {
    let Some(mut client) = srv.clients.remove(&id) else {
        return;
    };
    if client.killed {
        srv.clients.insert(id, client);
        forget(srv, id);
        return;
    }
    let Some(b) = srv.blocking.clients.get(&id) else {
        srv.clients.insert(id, client);
        return;
    };
    let args = narrowed(&b.args, key);
    let waits = b.waits;
    let Some(entry) = table::table().lookup(&args[0]) else {
        srv.clients.insert(id, client);
        return;
    };
    let table::Kind::Data(handler) = entry.kind else {
        srv.clients.insert(id, client);
        return;
    };
    let mut out = BytesMut::new();
    // A served blocked command does no counted lookups in Redis (no keyspace hits/misses).
    let stats = srv.data_stats.clone();
    let errors = srv.stats.total_error_replies;
    let again = {
        let mut ctx = cmd::Ctx {
            srv: &mut *srv,
            client: &mut client,
            out: &mut out,
            spec: entry.spec,
        };
        data::exec(&mut ctx, handler, &args, true)
    };
    srv.data_stats = stats;
    if again.is_none() {
        if srv.stats.total_error_replies != errors {
            count_failed(srv, client.last_cmd);
        }
        if waits == (Waits::Stream { group: true }) && out.starts_with(b"-NOGROUP") {
            // The group was destroyed while the client waited: Redis's text for that case.
            out.clear();
            out.extend_from_slice(b"-");
            out.extend_from_slice(GROUP_GONE_ERR.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(b) = srv.blocking.remove(id) {
            client.blocked = false;
            wake(srv, b, out.freeze(), false);
        }
    }
    srv.clients.insert(id, client);
}

/// The command run for ready `key`: a multi-key blocking command waits on that key alone
/// (BLPOP k1 k2 0 → BLPOP k 0, BLMPOP 0 2 k1 k2 LEFT → BLMPOP 0 1 k LEFT, XREAD ...
/// STREAMS k1 k2 id1 id2 → XREAD ... STREAMS k id), as Redis serves the ready key only.
fn narrowed(args: &[Bytes], key: &Bytes) -> Vec<Bytes> {
    let name = args[0].to_ascii_lowercase();
    let narrowed = match name.as_slice() {
        b"blpop" | b"brpop" | b"bzpopmin" | b"bzpopmax" if args.len() >= 3 => Some(vec![
            args[0].clone(),
            key.clone(),
            args[args.len() - 1].clone(),
        ]),
        b"blmpop" | b"bzmpop" => narrowed_mpop(args, key),
        b"xread" | b"xreadgroup" => narrowed_xread(args, key),
        _ => None,
    };
    narrowed.unwrap_or_else(|| args.to_vec())
}

fn narrowed_mpop(args: &[Bytes], key: &Bytes) -> Option<Vec<Bytes>> {
    let n = usize::try_from(cmd::parse_i64(args.get(2)?)?).ok()?;
    let rest = args.get(3 + n..)?;
    let mut v = vec![
        args[0].clone(),
        args[1].clone(),
        Bytes::from_static(b"1"),
        key.clone(),
    ];
    v.extend_from_slice(rest);
    Some(v)
}

fn narrowed_xread(args: &[Bytes], key: &Bytes) -> Option<Vec<Bytes>> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_ascii_lowercase();
        match a.as_slice() {
            b"streams" => break,
            b"count" | b"block" => i += 2,
            b"group" => i += 3,
            _ => i += 1,
        }
    }
    let tail = args.get(i + 1..)?;
    if tail.is_empty() || tail.len() % 2 != 0 {
        return None;
    }
    let n = tail.len() / 2;
    let at = tail[..n].iter().position(|k| k == key)?;
    let mut v = args[..=i].to_vec();
    v.push(key.clone());
    v.push(tail[n + at].clone());
    Some(v)
}

/// How a client leaves the blocked state without being served.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    /// Its timeout reply.
    Timeout,
    /// An error reply (text without the leading `-`).
    Error(&'static str),
}

/// `client` blocks in WAIT (`timed`: with a timeout).
pub fn wait_begins(srv: &mut Server, client: &mut Client, timed: bool) {
    client.blocked = true;
    srv.blocking
        .waits
        .insert(client.id, WaitState { timed, error: None });
}

/// The WAIT of `id` ended (answered, timed out, unblocked, or its connection closed). Returns
/// the error it must answer instead of the count, if it was unblocked with one, and whether
/// to close the connection afterwards.
pub fn wait_ends(srv: &mut Server, id: u64) -> Option<(&'static str, bool)> {
    let state = srv.blocking.waits.remove(&id)?;
    if let Some(c) = srv.clients.get_mut(&id) {
        c.blocked = false;
    }
    state.error
}

/// Unblocks `id` with `outcome` (CLIENT UNBLOCK, a timeout, a role change). False when it
/// was not blocked.
pub fn unblock_with(srv: &mut Server, id: u64, outcome: Outcome, close: bool) -> bool {
    if let Some(w) = srv.blocking.waits.get_mut(&id) {
        // A WAIT: forgetting its waiter makes it answer the count now (a timeout); an error
        // replaces the count.
        if let Outcome::Error(text) = outcome {
            w.error = Some((text, close));
            srv.stats.total_error_replies += 1;
            cmd::info::record_error_code(&mut srv.stats, text);
            count_failed(srv, "wait");
        }
        srv.master.cancel_waiter(id);
        return true;
    }
    let Some(b) = srv.blocking.remove(id) else {
        return false;
    };
    let mut out = BytesMut::new();
    let mut enc = Encoder {
        out: &mut out,
        proto: b.proto,
    };
    match outcome {
        Outcome::Timeout => enc.null_array(),
        Outcome::Error(text) => {
            enc.error(text.as_bytes());
            srv.stats.total_error_replies += 1;
            cmd::info::record_error_code(&mut srv.stats, text);
            count_failed(srv, b.name);
        }
    }
    if let Some(c) = srv.clients.get_mut(&id) {
        c.blocked = false;
    }
    wake(srv, b, out.freeze(), close);
    sync_tracking(srv);
    true
}

/// The deadline of `id` passed: unblocks it with its timeout reply, returned for the
/// parked task to write. None when it was unblocked meanwhile (its wake is on the way).
pub fn time_out(srv: &mut Server, id: u64) -> Option<Wake> {
    let mut b = srv.blocking.remove(id)?;
    b.tx = None;
    let mut out = BytesMut::new();
    let mut enc = Encoder {
        out: &mut out,
        proto: b.proto,
    };
    enc.null_array();
    if let Some(c) = srv.clients.get_mut(&id) {
        c.blocked = false;
    }
    sync_tracking(srv);
    let reply = if b.skip_reply {
        Bytes::new()
    } else {
        out.freeze()
    };
    srv.stats.total_net_output_bytes += reply.len() as u64;
    Some(Wake {
        reply,
        close: false,
    })
}

/// Forgets `id` (its connection closed or was killed).
pub fn forget(srv: &mut Server, id: u64) {
    if srv.blocking.remove(id).is_some() {
        if let Some(c) = srv.clients.get_mut(&id) {
            c.blocked = false;
        }
        sync_tracking(srv);
    }
}

/// The node turns into a replica: every blocked client gets an `-UNBLOCKED` error and is
/// closed (Redis's `disconnectAllBlockedClients`).
pub fn disconnect_all(srv: &mut Server) {
    let mut ids: Vec<u64> = srv
        .blocking
        .clients
        .keys()
        .chain(srv.blocking.waits.keys())
        .copied()
        .collect();
    ids.sort_unstable();
    for id in ids {
        unblock_with(srv, id, Outcome::Error(ROLE_CHANGE_ERR), true);
        if let Some(c) = srv.clients.get_mut(&id) {
            c.close_after_reply = true;
        }
    }
}

fn wake(srv: &mut Server, mut b: Blocked, reply: Bytes, close: bool) {
    let reply = if b.skip_reply { Bytes::new() } else { reply };
    srv.stats.total_net_output_bytes += reply.len() as u64;
    if let Some(tx) = b.tx.take() {
        let _ = tx.send(Wake { reply, close });
    }
}

fn count_failed(srv: &mut Server, name: &str) {
    if let Some(c) = srv.stats.commands.get_mut(name) {
        c.failed_calls += 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<Bytes> {
        args.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    fn k(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn narrowing_keeps_only_the_ready_key() {
        assert_eq!(
            narrowed(&v(&["BLPOP", "a", "b", "0"]), &k("b")),
            v(&["BLPOP", "b", "0"])
        );
        assert_eq!(
            narrowed(&v(&["bzpopmax", "a", "b", "1.5"]), &k("a")),
            v(&["bzpopmax", "a", "1.5"])
        );
        assert_eq!(
            narrowed(
                &v(&["BLMPOP", "0", "2", "a", "b", "LEFT", "COUNT", "3"]),
                &k("b")
            ),
            v(&["BLMPOP", "0", "1", "b", "LEFT", "COUNT", "3"])
        );
        assert_eq!(
            narrowed(
                &v(&["XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "s1", "s2", "1-0", "2-0"]),
                &k("s2")
            ),
            v(&["XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "s2", "2-0"])
        );
        assert_eq!(
            narrowed(
                &v(&[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "c",
                    "BLOCK",
                    "0",
                    "NOACK",
                    "STREAMS",
                    "streams",
                    "x",
                    ">",
                    ">"
                ]),
                &k("x")
            ),
            v(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "NOACK",
                "STREAMS",
                "x",
                ">"
            ])
        );
        // Single-key commands run as they are.
        let m = v(&["BLMOVE", "a", "b", "left", "right", "0"]);
        assert_eq!(narrowed(&m, &k("a")), m);
    }

    #[test]
    fn registry_queues_in_fifo_order_and_forgets() {
        let mut r = Blocking::default();
        let mk = |keys: &[&str], deadline| Blocked {
            db: 0,
            keys: keys.iter().map(|s| k(s)).collect(),
            args: v(&["BLPOP", "x", "0"]),
            name: "blpop",
            deadline,
            proto: Protocol::Resp2,
            waits: Waits::List,
            skip_reply: false,
            tx: None,
        };
        r.insert(1, mk(&["a", "b"], None));
        r.insert(2, mk(&["b"], Some(5)));
        assert_eq!(r.len(), 2);
        assert_eq!(r.with_deadline(), 1);
        assert_eq!(r.waiting(0, &k("b")), vec![1, 2]);
        r.signal(0, &k("b"));
        r.signal(0, &k("b"));
        r.signal(0, &k("zzz"));
        r.signal(1, &k("a"));
        assert_eq!(r.pop_ready(), Some((0, k("b"))));
        assert_eq!(r.pop_ready(), None);
        assert!(r.remove(2).is_some());
        assert_eq!(r.with_deadline(), 0);
        assert!(r.remove(1).is_some());
        assert!(r.by_key.is_empty());
        assert!(r.is_empty());
    }
}
