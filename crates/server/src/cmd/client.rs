//! CLIENT: inspect and control client connections.
//!
//! Every subcommand answers as redis-server 7.0.15's `clientCommand` does: the same argument
//! checks in the same order, the same error texts, and CLIENT LIST / CLIENT INFO lines with
//! the same fields in the same order (see [`info_line`]). Fields that describe Redis's own
//! memory layout (`qbuf-free`, `rbs`, `tot-mem`, ...) are modelled on what an idle Redis
//! reports, since Tandem's buffers live in the connection tasks, not in the executor.
//!
//! While a command runs, the calling client is out of `srv.clients` (it is `ctx.client`), so
//! every walk over "all clients" here goes through [`all_clients`], which puts it back in
//! id order.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::conn::{valid_client_name, BAD_CLIENT_NAME};
use super::{parse_i64, Ctx};
use crate::client::{Client, ClientEvent, ReplyMode};
use crate::server::{Pause, PauseKind, Server};

/// Redis's client classes (`getClientType`), used by `TYPE` filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientType {
    Normal,
    Replica,
    Pubsub,
    Master,
}

impl ClientType {
    /// `getClientTypeByName`: case-insensitive, `slave` is an alias of `replica`.
    pub fn parse(name: &[u8]) -> Option<ClientType> {
        let name = name.to_ascii_lowercase();
        match name.as_slice() {
            b"normal" => Some(ClientType::Normal),
            b"slave" | b"replica" => Some(ClientType::Replica),
            b"pubsub" => Some(ClientType::Pubsub),
            b"master" => Some(ClientType::Master),
            _ => None,
        }
    }

    /// The class of a client: a replica's link with its master, an attached replica, or
    /// normal (Tandem has no pub/sub yet; MONITOR clients count as normal in Redis too).
    pub fn of(client: &Client) -> ClientType {
        if client.is_master {
            ClientType::Master
        } else if client.repl.is_replica && !client.monitor {
            ClientType::Replica
        } else {
            ClientType::Normal
        }
    }
}

/// The help text of CLIENT HELP, between Redis's generated header and footer.
const HELP: &[&str] = &[
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
];

/// `CLIENT <subcommand> ...`.
pub fn client(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let argc = args.len();
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"help" if argc == 2 => help(ctx),
        b"id" if argc == 2 => {
            let id = ctx.client.id as i64;
            ctx.integer(id);
        }
        b"info" if argc == 2 => {
            let mut text = info_line(ctx.client, Some(args), SystemTime::now());
            text.push('\n');
            ctx.enc().verbatim(b"txt", text.as_bytes());
        }
        b"list" => list(ctx, args),
        b"reply" if argc == 3 => reply(ctx, &args[2]),
        b"no-evict" if argc == 3 => {
            if args[2].eq_ignore_ascii_case(b"on") {
                ctx.client.no_evict = true;
                ctx.ok();
            } else if args[2].eq_ignore_ascii_case(b"off") {
                ctx.client.no_evict = false;
                ctx.ok();
            } else {
                ctx.syntax_err();
            }
        }
        b"kill" => kill(ctx, args),
        b"unblock" if argc == 3 || argc == 4 => unblock(ctx, args),
        b"setname" if argc == 3 => {
            if valid_client_name(&args[2]) {
                ctx.client.name = if args[2].is_empty() {
                    None
                } else {
                    Some(args[2].clone())
                };
                ctx.ok();
            } else {
                ctx.err(BAD_CLIENT_NAME);
            }
        }
        b"getname" if argc == 2 => match ctx.client.name.clone() {
            Some(name) => ctx.bulk(&name),
            None => ctx.enc().null(),
        },
        b"unpause" if argc == 2 => {
            ctx.srv.pause = None;
            ctx.ok();
        }
        b"pause" if argc == 3 || argc == 4 => pause(ctx, args),
        b"tracking" if argc >= 3 => tracking(ctx, args),
        b"caching" if argc >= 3 => {
            // Tracking is never on in Tandem, so CACHING always meets this check first.
            ctx.err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
        }
        b"getredir" if argc == 2 => ctx.integer(-1),
        b"trackinginfo" if argc == 2 => {
            let mut e = ctx.enc();
            e.map_len(3);
            e.bulk(b"flags");
            e.set_len(1);
            e.bulk(b"off");
            e.bulk(b"redirect");
            e.integer(-1);
            e.bulk(b"prefixes");
            e.array_len(0);
        }
        _ => subcommand_syntax_error(ctx, args),
    }
}

/// `addReplySubcommandSyntaxError`: a known subcommand with an argument count it rejects.
pub(crate) fn subcommand_syntax_error(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = &args[1][..args[1].len().min(128)];
    let msg = format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        String::from_utf8_lossy(&args[0]).to_uppercase()
    );
    ctx.err(&msg);
}

fn help(ctx: &mut Ctx<'_>) {
    let mut e = ctx.enc();
    e.array_len(HELP.len() + 3);
    e.simple(b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    for line in HELP {
        e.simple(line.as_bytes());
    }
    e.simple(b"HELP");
    e.simple(b"    Prints this help.");
}

/// Every connected client, the caller included, in id order. Clients already killed (their
/// connection is closing) are left out, as Redis frees them at once.
pub fn all_clients<'a>(srv: &'a Server, caller: Option<&'a Client>) -> Vec<&'a Client> {
    let mut v: Vec<&Client> = srv
        .clients
        .values()
        .map(|c| &**c)
        .filter(|c| !c.killed)
        .collect();
    if let Some(me) = caller {
        if !srv.clients.contains_key(&me.id) {
            let at = v.partition_point(|c| c.id < me.id);
            v.insert(at, me);
        }
    }
    // A replica's link with its master (its id sorts last).
    if let Some(m) = crate::replication_replica::master_link_client(srv) {
        v.push(m);
    }
    v
}

/// `CLIENT LIST [TYPE type | ID id ...]`.
fn list(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let now = SystemTime::now();
    let me = ctx.client.id;
    let mut text = String::new();
    if args.len() == 4 && args[2].eq_ignore_ascii_case(b"type") {
        let Some(wanted) = ClientType::parse(&args[3]) else {
            let msg = format!(
                "ERR Unknown client type '{}'",
                String::from_utf8_lossy(&args[3])
            );
            ctx.err(&msg);
            return;
        };
        for c in all_clients(ctx.srv, Some(ctx.client)) {
            if ClientType::of(c) == wanted {
                push_line(&mut text, c, me, args, now);
            }
        }
    } else if args.len() > 3 && args[2].eq_ignore_ascii_case(b"id") {
        for a in &args[3..] {
            let Some(id) = parse_i64(a) else {
                ctx.err("ERR Invalid client ID");
                return;
            };
            let found = all_clients(ctx.srv, Some(ctx.client))
                .into_iter()
                .find(|c| c.id as i64 == id);
            if let Some(c) = found {
                push_line(&mut text, c, me, args, now);
            }
        }
    } else if args.len() != 2 {
        ctx.syntax_err();
        return;
    } else {
        for c in all_clients(ctx.srv, Some(ctx.client)) {
            push_line(&mut text, c, me, args, now);
        }
    }
    ctx.enc().verbatim(b"txt", text.as_bytes());
}

fn push_line(text: &mut String, c: &Client, me: u64, args: &[Bytes], now: SystemTime) {
    let current = if c.id == me { Some(args) } else { None };
    text.push_str(&info_line(c, current, now));
    text.push('\n');
}

/// Usable size of the query buffer Redis allocates on a client's first read (16 KiB read
/// buffer grown greedily by sds).
const QBUF_ALLOC: usize = 20474;
/// What an empty, freshly allocated reply buffer reports as `rbs`/`rbp`.
const REPLY_BUF_FRESH: usize = 16384;
/// What the reply buffer shrinks to once the client has been around for a while.
const REPLY_BUF_SHRUNK: usize = 1024;
/// The client structure's own size in Redis's `tot-mem` (with / without a query buffer).
const CLIENT_STRUCT_MEM: usize = 774;
const CLIENT_STRUCT_MEM_NO_QBUF: usize = 776;

/// Length of `args` as a RESP multibulk request.
fn resp_len(args: &[Bytes]) -> usize {
    let digits = |n: usize| n.to_string().len();
    let mut n = 3 + digits(args.len());
    for a in args {
        n += 1 + digits(a.len()) + 2 + a.len() + 2;
    }
    n
}

/// One CLIENT LIST / CLIENT INFO line (without the trailing `\n`), field for field as
/// redis-server 7.0.15's `catClientInfoString`. `current` holds the arguments of the command
/// the client is executing right now (it is the caller), `None` for other clients.
pub fn info_line(c: &Client, current: Option<&[Bytes]>, now: SystemTime) -> String {
    // Wall clock, as Redis's `ctime` and `lastinteraction` (`server.unixtime`).
    let secs_since = |t: SystemTime| now.duration_since(t).map_or(0, |d| d.as_secs());
    let age = secs_since(c.created);
    let idle = secs_since(c.last_interaction);
    let name = c
        .name
        .as_ref()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let (multi, multi_cmds, multi_mem) = match &c.multi {
        Some(queued) => {
            let mem: usize = queued
                .iter()
                .map(|cmd| cmd.iter().map(|a| a.len()).sum::<usize>() + 8 * cmd.len())
                .sum();
            (queued.len() as i64, queued.len(), mem)
        }
        None => (-1, 0, 0),
    };
    let (qbuf, qbuf_free, argv_mem, argc) = match current {
        Some(args) => {
            let q = resp_len(args) + c.qbuf;
            (q, QBUF_ALLOC.saturating_sub(q), c.argv_mem, args.len())
        }
        None if c.qbuf > 0 => (c.qbuf, QBUF_ALLOC.saturating_sub(c.qbuf), 0, 0),
        // Redis frees the query buffer of a client idle for 2 seconds or more.
        None if idle < 2 && c.last_cmd != "NULL" => (0, QBUF_ALLOC, 0, 0),
        None => (0, 0, 0, 0),
    };
    let (rbs, rbp) = if age == 0 {
        (REPLY_BUF_FRESH, REPLY_BUF_FRESH)
    } else {
        (REPLY_BUF_SHRUNK, 0)
    };
    let qbuf_alloc = qbuf + qbuf_free;
    let struct_mem = if qbuf_alloc > 0 {
        CLIENT_STRUCT_MEM
    } else {
        CLIENT_STRUCT_MEM_NO_QBUF
    };
    // Pushes (Pub/Sub messages, MONITOR lines) and, for a replica, stream bytes not yet
    // written to the socket.
    let stream = c
        .repl
        .link
        .as_ref()
        .map_or(0, |l| l.pending.load(Ordering::Relaxed));
    let omem = c.out.pending() as usize + stream;
    let tot_mem =
        qbuf_alloc + rbs + argv_mem + 8 * argc + multi_mem + 24 * multi_cmds + struct_mem + omem;
    let resp = match c.proto {
        tandem_resp::Protocol::Resp2 => 2,
        tandem_resp::Protocol::Resp3 => 3,
    };
    let mut s = String::with_capacity(320);
    let _ = write!(
        s,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
         multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl=0 oll=0 omem={} \
         tot-mem={} events=r cmd={} user={} redir=-1 resp={}",
        c.id,
        c.meta.addr,
        c.meta.laddr,
        c.meta.fd,
        name,
        age,
        idle,
        c.flags(),
        c.db,
        c.sub_channels.len(),
        c.sub_patterns.len(),
        c.sub_shard_channels.len(),
        multi,
        qbuf,
        qbuf_free,
        argv_mem,
        multi_mem,
        rbs,
        rbp,
        omem,
        tot_mem,
        c.last_cmd,
        c.user,
        resp,
    );
    s
}

/// `CLIENT REPLY ON|OFF|SKIP`. The dispatcher drops replies according to the mode it finds
/// once the command returns, so OFF and SKIP only set the mode.
fn reply(ctx: &mut Ctx<'_>, mode: &[u8]) {
    if mode.eq_ignore_ascii_case(b"on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.ok();
    } else if mode.eq_ignore_ascii_case(b"off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if mode.eq_ignore_ascii_case(b"skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        ctx.syntax_err();
    }
}

/// Filters of CLIENT KILL's new form.
#[derive(Default)]
struct KillFilter {
    addr: Option<String>,
    laddr: Option<String>,
    kind: Option<ClientType>,
    id: Option<u64>,
    user: Option<String>,
    skipme: bool,
}

impl KillFilter {
    fn matches(&self, c: &Client) -> bool {
        self.addr
            .as_ref()
            .is_none_or(|a| *a == c.meta.addr.to_string())
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| *a == c.meta.laddr.to_string())
            && self.kind.is_none_or(|t| ClientType::of(c) == t)
            && self.id.is_none_or(|id| c.id == id)
            && self.user.as_ref().is_none_or(|u| **u == *c.user)
    }
}

/// Disconnects another (connected) client at once, as Redis's `freeClient`.
pub fn disconnect(srv: &mut crate::server::Server, id: u64) {
    if let Some(c) = srv.clients.get_mut(&id) {
        let _ = c.events.send(ClientEvent::Kill);
        c.out.kill();
        c.killed = true;
        // Redis frees it at once: it leaves the blocked clients now.
        crate::blocking::forget(srv, id);
    }
}

/// `CLIENT KILL addr:port` (old form, may kill the caller) or
/// `CLIENT KILL <option> <value> ...` (new form, replies with the number killed).
fn kill(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let old_form = args.len() == 3;
    let mut f = KillFilter {
        skipme: true,
        ..KillFilter::default()
    };
    if old_form {
        f.addr = Some(String::from_utf8_lossy(&args[2]).into_owned());
        f.skipme = false;
    } else if args.len() > 3 {
        let mut i = 2;
        while i < args.len() {
            let opt = &args[i];
            let Some(val) = args.get(i + 1) else {
                ctx.syntax_err();
                return;
            };
            if opt.eq_ignore_ascii_case(b"id") {
                match parse_i64(val) {
                    Some(id) if id >= 1 => f.id = Some(id as u64),
                    _ => {
                        ctx.err("ERR client-id should be greater than 0");
                        return;
                    }
                }
            } else if opt.eq_ignore_ascii_case(b"type") {
                match ClientType::parse(val) {
                    Some(t) => f.kind = Some(t),
                    None => {
                        let msg =
                            format!("ERR Unknown client type '{}'", String::from_utf8_lossy(val));
                        ctx.err(&msg);
                        return;
                    }
                }
            } else if opt.eq_ignore_ascii_case(b"addr") {
                f.addr = Some(String::from_utf8_lossy(val).into_owned());
            } else if opt.eq_ignore_ascii_case(b"laddr") {
                f.laddr = Some(String::from_utf8_lossy(val).into_owned());
            } else if opt.eq_ignore_ascii_case(b"user") {
                let name = String::from_utf8_lossy(val).into_owned();
                if !ctx.srv.acl.users.contains_key(&name) {
                    ctx.err(&format!("ERR No such user '{name}'"));
                    return;
                }
                f.user = Some(name);
            } else if opt.eq_ignore_ascii_case(b"skipme") {
                if val.eq_ignore_ascii_case(b"yes") {
                    f.skipme = true;
                } else if val.eq_ignore_ascii_case(b"no") {
                    f.skipme = false;
                } else {
                    ctx.syntax_err();
                    return;
                }
            } else {
                ctx.syntax_err();
                return;
            }
            i += 2;
        }
    } else {
        ctx.syntax_err();
        return;
    }

    let me = ctx.client.id;
    let mut killed = 0i64;
    let mut close_me = false;
    let targets: Vec<u64> = all_clients(ctx.srv, Some(ctx.client))
        .into_iter()
        .filter(|c| f.matches(c) && !(c.id == me && f.skipme))
        .map(|c| c.id)
        .collect();
    for id in targets {
        if id == me {
            close_me = true;
        } else if crate::replication_replica::master_link_client(ctx.srv)
            .is_some_and(|m| m.id == id)
        {
            crate::replication_replica::kill_master_link(ctx.srv);
        } else {
            disconnect(ctx.srv, id);
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            ctx.err("ERR No such client");
        } else {
            ctx.ok();
        }
    } else {
        ctx.integer(killed);
    }
    // Flag the caller only after its reply is queued: it still gets the reply.
    if close_me {
        ctx.client.close_after_reply = true;
    }
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: a client blocked on keys gets its timeout reply or
/// `-UNBLOCKED client unblocked via CLIENT UNBLOCK`; 1 if it was blocked, else 0.
fn unblock(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let mut error = false;
    if let Some(reason) = args.get(3) {
        if reason.eq_ignore_ascii_case(b"error") {
            error = true;
        } else if !reason.eq_ignore_ascii_case(b"timeout") {
            ctx.err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return;
        }
    }
    let Some(id) = parse_i64(&args[2]) else {
        ctx.not_integer();
        return;
    };
    let outcome = if error {
        crate::blocking::Outcome::Error(crate::blocking::UNBLOCKED_BY_CLIENT_ERR)
    } else {
        crate::blocking::Outcome::Timeout
    };
    let done = u64::try_from(id)
        .is_ok_and(|id| crate::blocking::unblock_with(ctx.srv, id, outcome, false));
    ctx.integer(i64::from(done));
}

/// `CLIENT PAUSE timeout [WRITE|ALL]`. A pause already in force is extended, never shortened,
/// and becomes the more restrictive of the two kinds (Redis's `pauseClients`).
fn pause(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let mut kind = PauseKind::All;
    if let Some(mode) = args.get(3) {
        if mode.eq_ignore_ascii_case(b"write") {
            kind = PauseKind::Write;
        } else if !mode.eq_ignore_ascii_case(b"all") {
            ctx.err("ERR CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    }
    let Some(ms) = parse_i64(&args[2]) else {
        ctx.err("ERR timeout is not an integer or out of range");
        return;
    };
    if ms < 0 {
        ctx.err("ERR timeout is negative");
        return;
    }
    let now = Instant::now();
    let until = pause_deadline(now, ms as u64);
    let merged = match ctx.srv.pause {
        Some(p) if p.until > now => Pause {
            kind: if p.kind == PauseKind::All || kind == PauseKind::All {
                PauseKind::All
            } else {
                PauseKind::Write
            },
            until: p.until.max(until),
        },
        _ => Pause { kind, until },
    };
    ctx.srv.pause = Some(merged);
    ctx.ok();
}

/// `now + ms`, saturating at a far-away instant instead of overflowing.
fn pause_deadline(now: Instant, ms: u64) -> Instant {
    let mut d = Duration::from_millis(ms);
    loop {
        if let Some(t) = now.checked_add(d) {
            return t;
        }
        d /= 2;
    }
}

/// `CLIENT TRACKING ON|OFF [options]`: options are validated as Redis does; turning tracking
/// off is a no-op (it is never on); turning it on is refused, Tandem has no client-side
/// caching invalidation.
fn tracking(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let (mut redirect, mut bcast, mut optin, mut optout, mut prefixes) =
        (None::<i64>, false, false, false, 0usize);
    let mut j = 3;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if opt.eq_ignore_ascii_case(b"redirect") && more > 0 {
            j += 1;
            if redirect.is_some() {
                ctx.err("ERR A client can only redirect to a single other client");
                return;
            }
            let Some(id) = parse_i64(&args[j]) else {
                ctx.not_integer();
                return;
            };
            let exists = all_clients(ctx.srv, Some(ctx.client))
                .iter()
                .any(|c| c.id as i64 == id);
            if !exists {
                ctx.err("ERR The client ID you want redirect to does not exist");
                return;
            }
            redirect = Some(id);
        } else if opt.eq_ignore_ascii_case(b"bcast") {
            bcast = true;
        } else if opt.eq_ignore_ascii_case(b"optin") {
            optin = true;
        } else if opt.eq_ignore_ascii_case(b"optout") {
            optout = true;
        } else if opt.eq_ignore_ascii_case(b"noloop") {
        } else if opt.eq_ignore_ascii_case(b"prefix") && more > 0 {
            j += 1;
            prefixes += 1;
        } else {
            ctx.syntax_err();
            return;
        }
        j += 1;
    }
    if args[2].eq_ignore_ascii_case(b"on") {
        if !bcast && prefixes > 0 {
            ctx.err("ERR PREFIX option requires BCAST mode to be enabled");
        } else if bcast && (optin || optout) {
            ctx.err("ERR OPTIN and OPTOUT are not compatible with BCAST");
        } else if optin && optout {
            ctx.err("ERR You can't specify both OPTIN mode and OPTOUT mode");
        } else {
            ctx.err("ERR Tandem does not support client side caching (CLIENT TRACKING ON)");
        }
    } else if args[2].eq_ignore_ascii_case(b"off") {
        ctx.ok();
    } else {
        ctx.syntax_err();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::client::ConnMeta;

    fn client(id: u64, port: u16) -> Client {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let meta = ConnMeta {
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            laddr: "127.0.0.1:17002".parse().unwrap(),
            fd: 8,
        };
        Client::new(id, meta, tx, true)
    }

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn caller_line_matches_a_fresh_redis_cli() {
        let mut c = client(3, 55584);
        let a = args(&["client", "list"]);
        c.argv_mem = 10;
        c.last_cmd = "client|list";
        let now = c.created;
        assert_eq!(
            info_line(&c, Some(&a), now),
            "id=3 addr=127.0.0.1:55584 laddr=127.0.0.1:17002 fd=8 name= age=0 idle=0 flags=N \
             db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 \
             rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem=37658 events=r cmd=client|list \
             user=default redir=-1 resp=2"
        );
    }

    #[test]
    fn other_client_line_with_name_multi_and_idle_buffers() {
        let mut c = client(7, 40000);
        c.name = Some(Bytes::from_static(b"worker"));
        c.last_cmd = "get";
        c.multi = Some(vec![args(&["set", "foo", "barbaz"]), args(&["get", "foo"])]);
        c.db = 2;
        let later = c.created + Duration::from_secs(5);
        let line = info_line(&c, None, later);
        assert!(
            line.contains(" name=worker age=5 idle=5 flags=x db=2 "),
            "{line}"
        );
        assert!(
            line.contains(" multi=2 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=58 "),
            "{line}"
        );
        assert!(line.contains(" rbs=1024 rbp=0 "), "{line}");
        assert!(line.contains(" tot-mem=1906 "), "{line}");
        assert!(
            line.ends_with(" cmd=get user=default redir=-1 resp=2"),
            "{line}"
        );
    }

    #[test]
    fn client_types_parse_like_redis() {
        assert_eq!(ClientType::parse(b"NORMAL"), Some(ClientType::Normal));
        assert_eq!(ClientType::parse(b"slave"), Some(ClientType::Replica));
        assert_eq!(ClientType::parse(b"Replica"), Some(ClientType::Replica));
        assert_eq!(ClientType::parse(b"pubsub"), Some(ClientType::Pubsub));
        assert_eq!(ClientType::parse(b"master"), Some(ClientType::Master));
        assert_eq!(ClientType::parse(b"x"), None);
    }

    #[test]
    fn resp_len_counts_the_multibulk_encoding() {
        assert_eq!(resp_len(&args(&["client", "list"])), 26);
        assert_eq!(resp_len(&args(&["ping"])), 14);
    }

    #[test]
    fn kill_filter_matches_addresses_textually() {
        let c = client(4, 5555);
        let f = KillFilter {
            addr: Some("127.0.0.1:5555".into()),
            ..KillFilter::default()
        };
        assert!(f.matches(&c));
        let f = KillFilter {
            laddr: Some("127.0.0.1:1".into()),
            ..KillFilter::default()
        };
        assert!(!f.matches(&c));
        let f = KillFilter {
            id: Some(4),
            user: Some("default".into()),
            kind: Some(ClientType::Normal),
            ..KillFilter::default()
        };
        assert!(f.matches(&c));
    }
}
