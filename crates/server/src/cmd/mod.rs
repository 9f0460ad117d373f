//! Command dispatch: lookup, arity, authentication, then the handler.
//!
//! Metadata (names, arity, flags) comes from the `commands` crate; the checks run in the order
//! redis-server 7.0.15's `processCommand` runs them, so the same bad input gets the same error.
//! Handlers live in one module per family and write replies through [`Ctx`].

pub mod acl;
pub mod client;
pub mod config;
pub mod conn;
pub mod data;
pub mod debug;
pub mod failover;
pub mod info;
pub mod latency;
pub mod memory;
pub mod migrate;
pub mod module;
pub mod multi;
pub mod persist;
pub mod pubsub;
pub mod repl;
pub mod replicaof;
pub mod script;
pub mod server;
pub mod slowlog;
pub mod table;

use bytes::{Bytes, BytesMut};
use tandem_commands::CommandSpec;
use tandem_resp::Encoder;

use crate::client::{Client, ReplyMode};
use crate::server::{PauseKind, Server};
use table::{Entry, Kind};

/// What a handler gets: the server, the calling client, and the reply buffer.
pub struct Ctx<'a> {
    pub srv: &'a mut Server,
    pub client: &'a mut Client,
    pub out: &'a mut BytesMut,
    pub spec: &'static CommandSpec,
}

impl Ctx<'_> {
    /// The command's times (see [`crate::client::CmdTime`]): keys expire by `now`, TTL
    /// arithmetic uses `clock`.
    pub fn time(&self) -> crate::client::CmdTime {
        self.client
            .cmd_time
            .unwrap_or_else(crate::client::CmdTime::fresh)
    }

    /// An encoder for the client's current protocol.
    pub fn enc(&mut self) -> Encoder<'_> {
        Encoder {
            out: self.out,
            proto: self.client.proto,
        }
    }

    pub fn ok(&mut self) {
        self.enc().ok();
    }

    /// Replies with an error; `msg` is the text without the leading `-`.
    pub fn err(&mut self, msg: &str) {
        self.srv.stats.total_error_replies += 1;
        info::record_error_code(&mut self.srv.stats, msg);
        self.enc().error(msg.as_bytes());
    }

    pub fn syntax_err(&mut self) {
        self.err("ERR syntax error");
    }

    pub fn not_integer(&mut self) {
        self.err("ERR value is not an integer or out of range");
    }

    pub fn bulk(&mut self, b: &[u8]) {
        self.enc().bulk(b);
    }

    pub fn integer(&mut self, i: i64) {
        self.enc().integer(i);
    }

    pub fn simple(&mut self, s: &str) {
        self.enc().simple(s.as_bytes());
    }

    /// `ERR unknown subcommand 'x'. Try CMD HELP.` for the current container command.
    pub fn unknown_subcommand(&mut self, args: &[Bytes]) {
        let parent = String::from_utf8_lossy(&args[0]).to_uppercase();
        let sub = args.get(1).map(|b| &b[..]).unwrap_or(b"");
        let msg = tandem_commands::unknown_subcommand_error(&parent, sub);
        self.err(&msg);
    }
}

/// Parses a whole argument as a signed 64-bit integer, as Redis's `string2ll`.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    tandem_resp::num::string2ll(b)
}

/// Resolves the command (and subcommand) an argument vector names, through the table
/// index built at start-up ([`table`]).
pub(crate) fn resolve(args: &[Bytes]) -> Result<&'static Entry, String> {
    let Some(entry) = table::table().lookup(&args[0]) else {
        return Err(tandem_commands::unknown_command_error(args));
    };
    if !entry.container || args.len() < 2 {
        return Ok(entry);
    }
    match entry.sub(&args[1]) {
        Some(sub) => Ok(sub),
        None => {
            let parent = String::from_utf8_lossy(&args[0]).to_uppercase();
            Err(tandem_commands::unknown_subcommand_error(&parent, &args[1]))
        }
    }
}

/// True when CLIENT PAUSE (or a FAILOVER's write pause) holds this command back for this
/// client.
pub fn is_paused(srv: &Server, _client: &Client, args: &[Bytes]) -> bool {
    let Some(p) = failover::effective_pause(srv) else {
        return false;
    };
    if std::time::Instant::now() >= p.until {
        return false;
    }
    match p.kind {
        PauseKind::All => true,
        // A script that declared its flags is held back when it may write (Redis clears
        // `may_replicate` for it).
        PauseKind::Write => match resolve(args) {
            Ok(entry) if entry.scripted => match script::declared_flags(srv, args) {
                Some(declared) if !declared.compat => !declared.no_writes,
                _ => entry.pause_write,
            },
            Ok(entry) => entry.pause_write,
            Err(_) => false,
        },
    }
}

/// Runs one command for `client`, appending its reply to `out`.
pub fn execute(srv: &mut Server, client: &mut Client, args: Vec<Bytes>, out: &mut BytesMut) {
    if args.is_empty() {
        return;
    }
    let mark = out.len();
    if client.reply_mode == ReplyMode::SkipNext {
        client.reply_mode = ReplyMode::Skip;
    }
    let entry = match resolve(&args) {
        Ok(entry) => entry,
        Err(msg) => {
            if client.multi.is_some() {
                client.multi_error = true;
            }
            srv.stats.total_error_replies += 1;
            info::record_error_code(&mut srv.stats, &msg);
            Encoder {
                out,
                proto: client.proto,
            }
            .error(msg.as_bytes());
            finish_reply(client, out, mark);
            return;
        }
    };
    let spec = entry.spec;
    let mut ctx = Ctx {
        srv,
        client,
        out,
        spec,
    };
    let in_multi = ctx.client.multi.is_some();
    let rejection = rejection(&mut ctx, entry, in_multi, &args);
    if let Some(msg) = rejection {
        info::record_rejected(&mut ctx.srv.stats, spec.full_name);
        if spec.full_name == "exec" {
            // As Redis's execCommandAbort: the transaction is discarded (MULTI state and
            // WATCHes, even outside MULTI) and the reason is quoted; its own rejection
            // texts (arity) carry no `ERR` code.
            multi::discard_transaction(ctx.srv, ctx.client);
            let reason = msg.strip_prefix("ERR ").unwrap_or(&msg);
            ctx.err(&format!(
                "EXECABORT Transaction discarded because of: {reason}"
            ));
        } else {
            ctx.client.multi_error |= in_multi;
            ctx.err(&msg);
        }
    } else if in_multi && !entry.multi_passthrough {
        if entry.no_multi {
            ctx.client.multi_error = true;
            ctx.err("ERR Command not allowed inside a transaction");
        } else {
            if let Some(q) = ctx.client.multi.as_mut() {
                q.push(args);
            }
            ctx.simple("QUEUED");
        }
    } else {
        ctx.client.argv_mem = args.iter().map(|a| a.len()).sum();
        ctx.client.last_cmd = spec.full_name;
        ctx.srv.stats.error_mark = ctx.srv.stats.total_error_replies;
        // One clock read gives both the command's time (what a data command sees as `now`)
        // and the start of its duration, as Redis 7.0's `call` takes one `ustime()` for both.
        // Inside a batch that read is the one that ended the previous command (or began the
        // batch): each command then costs one read, not two, and its duration also counts
        // the dispatch since the previous one (the table lookup and the checks above).
        let chained = ctx.client.clock.is_some();
        let started = ctx
            .client
            .clock
            .take()
            .unwrap_or_else(std::time::SystemTime::now);
        let clock = data::epoch_ms(started);
        let now = ctx.srv.frozen_now.unwrap_or(clock);
        ctx.client.cmd_time = Some(crate::client::CmdTime { now, clock });
        let paused = failover::expiry_paused(ctx.srv);
        ctx.srv.ks.set_expire_paused(paused);
        dispatch(&mut ctx, entry.kind, &args);
        ctx.client.cmd_time = None;
        let ended = std::time::SystemTime::now();
        if chained {
            ctx.client.clock = Some(ended);
        }
        let ns = ended
            .duration_since(started)
            .map_or(0, |d| d.as_nanos() as u64);
        let stats = &mut ctx.srv.stats;
        let failures = u64::from(stats.total_error_replies != stats.error_mark)
            + std::mem::take(&mut stats.failed_uncounted);
        stats.error_mark = stats.total_error_replies;
        info::record_call(&mut ctx.srv.stats, spec.full_name, ns, failures);
        if ctx.srv.latency_monitor.enabled() {
            let event = if entry.fast {
                "fast-command"
            } else {
                "command"
            };
            ctx.srv.latency_monitor.add_if_needed(event, ns / 1_000_000);
        }
        if !entry.checks.skip_slowlog {
            ctx.srv.slowlog.record(ctx.client, &args, ns);
        }
        ctx.srv.stats.total_commands_processed += 1;
        if ctx.srv.monitors > 0 && !entry.hidden_from_monitor {
            server::feed_monitor(ctx.srv, ctx.client, &args);
        }
    }
    finish_reply(ctx.client, ctx.out, mark);
}

/// The command flags `processCommand`'s checks go by: the command's own, and for EXEC
/// those of the queued commands too (Redis's `mstate.cmd_flags` / `cmd_inv_flags`), so
/// that EXEC of a write transaction is refused where the write would be.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckFlags {
    /// `write` (MISCONF, NOREPLICAS, READONLY).
    pub write: bool,
    /// `denyoom`: refused when memory is above `maxmemory` and nothing can be evicted.
    pub denyoom: bool,
    /// `stale`: allowed on a replica whose link is down (every command, for EXEC).
    pub stale: bool,
    /// `loading`: allowed while a dataset loads (every command, for EXEC).
    pub loading: bool,
    /// PING (refused by MISCONF like a write).
    pub ping: bool,
    /// `skip_slowlog` (EXEC: its commands are logged one by one).
    pub skip_slowlog: bool,
}

impl CheckFlags {
    pub fn of(spec: &CommandSpec) -> CheckFlags {
        CheckFlags {
            write: spec.is_write(),
            denyoom: spec.has_flag("denyoom"),
            stale: spec.has_flag("stale"),
            loading: spec.has_flag("loading"),
            ping: spec.full_name == "ping",
            skip_slowlog: spec.has_flag("skip_slowlog"),
        }
    }

    /// Adds a queued command's flags (for EXEC).
    fn with_queued(mut self, q: CheckFlags) -> CheckFlags {
        self.write |= q.write;
        self.denyoom |= q.denyoom;
        self.stale &= q.stale;
        self.loading &= q.loading;
        self
    }
}

/// The flags the checks before a run go by: the command's, or for a script or function
/// that declared flags, what those imply (see [`script::declared_flags`]).
fn checks_of(srv: &Server, entry: &Entry, args: &[Bytes]) -> CheckFlags {
    if !entry.scripted {
        return entry.checks;
    }
    match script::declared_flags(srv, args) {
        Some(declared) => declared.apply(entry.checks),
        None => entry.checks,
    }
}

/// Redis's checks before a command runs, in `processCommand`'s order: arity, NOAUTH, then
/// (not for the commands EXEC runs, which Redis calls directly) eviction and OOM, MISCONF,
/// NOREPLICAS, READONLY, MASTERDOWN, LOADING. None: the command may run (or be queued).
fn rejection(
    ctx: &mut Ctx<'_>,
    entry: &Entry,
    in_multi: bool,
    args: &[Bytes],
) -> Option<std::borrow::Cow<'static, str>> {
    let spec = entry.spec;
    if !tandem_commands::arity_ok(spec, args.len()) {
        return Some(tandem_commands::wrong_arity_error(spec).into());
    }
    if !ctx.client.authenticated && !entry.no_auth {
        return Some("NOAUTH Authentication required.".into());
    }
    if let Some(msg) = acl::rejection(ctx.srv, ctx.client, spec, args) {
        return Some(msg.into());
    }
    if ctx.srv.master.in_exec() {
        return None;
    }
    let mut flags = checks_of(ctx.srv, entry, args);
    if spec.full_name == "exec" {
        if let Some(queued) = &ctx.client.multi {
            for args in queued {
                if let Ok(q) = resolve(args) {
                    flags = flags.with_queued(checks_of(ctx.srv, q, args));
                }
            }
        }
    }
    ctx.srv.pre_command_oom = false;
    if ctx.srv.evict.maxmemory > 0 {
        let outcome = crate::evict::perform(ctx.srv, Some(&mut *ctx.client));
        ctx.srv.pre_command_oom = outcome == crate::evict::Outcome::Fail;
        // Inside MULTI everything but EXEC, DISCARD, QUIT and RESET counts as needing
        // memory: queueing takes some.
        let needs_memory = flags.denyoom
            || (in_multi && !matches!(spec.full_name, "exec" | "discard" | "quit" | "reset"));
        if outcome == crate::evict::Outcome::Fail && needs_memory {
            return Some(crate::evict::OOM_ERR.into());
        }
    }
    let is_master = ctx.client.is_master;
    if let Some(msg) = crate::persist::misconf_rejection(ctx.srv, is_master, &flags) {
        return Some(msg.into());
    }
    if flags.write && repl::lacks_good_replicas(ctx.srv) {
        return Some(repl::NOREPLICAS_ERR.into());
    }
    if let Some(msg) = crate::replication_replica::rejection(ctx.srv, ctx.client, &flags) {
        return Some(msg.into());
    }
    if pubsub::in_subscribed_context(ctx.client) && !pubsub::allowed_when_subscribed(spec.full_name)
    {
        return Some(
            format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
                 RESET are allowed in this context",
                spec.full_name
            )
            .into(),
        );
    }
    crate::persist::loading_rejection(ctx.srv, is_master, &flags).map(Into::into)
}

/// Drops the reply just written when CLIENT REPLY says so.
fn finish_reply(client: &mut Client, out: &mut BytesMut, mark: usize) {
    match client.reply_mode {
        ReplyMode::On | ReplyMode::SkipNext => {}
        ReplyMode::Off => out.truncate(mark),
        ReplyMode::Skip => {
            out.truncate(mark);
            client.reply_mode = ReplyMode::On;
        }
    }
}

/// A server command handler (the data commands' handlers are [`tandem_commands::data::Handler`]).
pub type ServerHandler = fn(&mut Ctx<'_>, &[Bytes]);

/// The handler of a server command, by top-level name (`client` for every CLIENT
/// subcommand). Called once per command when the [`table`] is built, not per call: add a
/// command here and it is dispatched.
fn server_handler(top: &str) -> Option<ServerHandler> {
    Some(match top {
        "ping" => conn::ping,
        "echo" => conn::echo,
        "quit" => conn::quit,
        "reset" => conn::reset,
        "select" => conn::select,
        "hello" => conn::hello,
        "auth" => conn::auth,
        "acl" => acl::acl,
        "cluster" | "readonly" | "readwrite" | "asking" => conn::cluster_disabled,
        "client" => client::client,
        "config" => config::config,
        "info" => info::info,
        "command" => command,
        "time" => server::time,
        "lolwut" => server::lolwut,
        "monitor" => server::monitor,
        "debug" => debug::debug,
        "memory" => debug::memory,
        "latency" => latency::latency,
        "module" => module::module,
        "shutdown" => server::shutdown,
        "save" => persist::save,
        "bgsave" => persist::bgsave,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" => script::eval,
        "script" => script::script,
        "fcall" | "fcall_ro" => script::fcall,
        "function" => script::function,
        "bgrewriteaof" => persist::bgrewriteaof,
        "lastsave" => persist::lastsave,
        "dump" => persist::dump,
        "restore" | "restore-asking" => persist::restore,
        "migrate" => migrate::migrate,
        "replconf" => repl::replconf,
        "psync" | "sync" => repl::sync,
        "wait" => repl::wait,
        "role" => repl::role,
        "replicaof" | "slaveof" => replicaof::replicaof,
        "failover" => failover::failover,
        "multi" => multi::multi,
        "exec" => multi::exec,
        "discard" => multi::discard,
        "watch" => multi::watch,
        "unwatch" => multi::unwatch,
        "subscribe" => pubsub::subscribe,
        "psubscribe" => pubsub::psubscribe,
        "ssubscribe" => pubsub::ssubscribe,
        "unsubscribe" => pubsub::unsubscribe,
        "punsubscribe" => pubsub::punsubscribe,
        "sunsubscribe" => pubsub::sunsubscribe,
        "publish" => pubsub::publish,
        "spublish" => pubsub::spublish,
        "pubsub" => pubsub::pubsub,
        "slowlog" => slowlog::slowlog,
        _ => return None,
    })
}

/// COMMAND and its subcommands, answered by the `commands` crate.
fn command(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let mut enc = ctx.enc();
    tandem_commands::command_command(args, &mut enc);
}

/// Calls the handler for a resolved command.
fn dispatch(ctx: &mut Ctx<'_>, kind: Kind, args: &[Bytes]) {
    match kind {
        Kind::Server(h) => h(ctx, args),
        Kind::Data(h) => data::run(ctx, h, args),
        Kind::Missing => {
            // In the table but without a handler yet: answer as Redis does for unknown commands.
            let msg = tandem_commands::unknown_command_error(args);
            ctx.err(&msg);
        }
    }
}
