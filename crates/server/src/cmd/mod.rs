//! Command dispatch: lookup, arity, authentication, then the handler.
//!
//! Metadata (names, arity, flags) comes from the `commands` crate; the checks run in the order
//! redis-server 7.0.15's `processCommand` runs them, so the same bad input gets the same error.
//! Handlers live in one module per family and write replies through [`Ctx`].

pub mod client;
pub mod config;
pub mod conn;
pub mod data;
pub mod info;
pub mod multi;
pub mod server;

use bytes::{Bytes, BytesMut};
use tandem_commands::CommandSpec;
use tandem_resp::Encoder;

use crate::client::{Client, ReplyMode};
use crate::server::{PauseKind, Server};

/// What a handler gets: the server, the calling client, and the reply buffer.
pub struct Ctx<'a> {
    pub srv: &'a mut Server,
    pub client: &'a mut Client,
    pub out: &'a mut BytesMut,
    pub spec: &'static CommandSpec,
}

impl Ctx<'_> {
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
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.len() > 20 || s.starts_with('+') {
        return None;
    }
    if s.len() > 1 && (s.starts_with('0') || s.starts_with("-0")) {
        return None;
    }
    s.parse().ok()
}

/// Resolves the command (and subcommand) an argument vector names.
fn resolve(args: &[Bytes]) -> Result<&'static CommandSpec, String> {
    let Some(spec) = tandem_commands::lookup(&args[0]) else {
        return Err(tandem_commands::unknown_command_error(args));
    };
    if spec.subcommands.is_empty() || args.len() < 2 {
        return Ok(spec);
    }
    match tandem_commands::lookup_sub(spec, &args[1]) {
        Some(sub) => Ok(sub),
        None => {
            let parent = String::from_utf8_lossy(&args[0]).to_uppercase();
            Err(tandem_commands::unknown_subcommand_error(&parent, &args[1]))
        }
    }
}

/// True when CLIENT PAUSE holds this command back for this client.
pub fn is_paused(srv: &Server, _client: &Client, args: &[Bytes]) -> bool {
    let Some(p) = srv.pause else {
        return false;
    };
    if std::time::Instant::now() >= p.until {
        return false;
    }
    match p.kind {
        PauseKind::All => true,
        PauseKind::Write => match resolve(args) {
            Ok(spec) => spec.is_write() || spec.has_flag("may_replicate"),
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
    let spec = match resolve(&args) {
        Ok(spec) => spec,
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
    let mut ctx = Ctx {
        srv,
        client,
        out,
        spec,
    };
    let in_multi = ctx.client.multi.is_some();
    if !tandem_commands::arity_ok(spec, args.len()) {
        let msg = tandem_commands::wrong_arity_error(spec);
        info::record_rejected(&mut ctx.srv.stats, spec.full_name);
        ctx.client.multi_error |= in_multi;
        ctx.err(&msg);
    } else if !ctx.client.authenticated && !spec.has_flag("no_auth") {
        info::record_rejected(&mut ctx.srv.stats, spec.full_name);
        ctx.client.multi_error |= in_multi;
        ctx.err("NOAUTH Authentication required.");
    } else if in_multi
        && !matches!(
            spec.full_name,
            "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
        )
    {
        if spec.has_flag("no_multi") {
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
        let errors_before = ctx.srv.stats.total_error_replies;
        let started = std::time::Instant::now();
        dispatch(&mut ctx, &args);
        let ns = started.elapsed().as_nanos() as u64;
        let failed = ctx.srv.stats.total_error_replies != errors_before;
        info::record_call(&mut ctx.srv.stats, spec.full_name, ns, failed);
        ctx.srv.stats.total_commands_processed += 1;
        if ctx.srv.monitors > 0 && !spec.has_flag("admin") && !spec.has_flag("skip_monitor") {
            server::feed_monitor(ctx.srv, ctx.client, &args);
        }
    }
    finish_reply(ctx.client, ctx.out, mark);
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

/// Calls the handler for a resolved command.
fn dispatch(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let top = ctx.spec.full_name.split('|').next().unwrap_or("");
    match top {
        "ping" => conn::ping(ctx, args),
        "echo" => conn::echo(ctx, args),
        "quit" => conn::quit(ctx, args),
        "reset" => conn::reset(ctx, args),
        "select" => conn::select(ctx, args),
        "hello" => conn::hello(ctx, args),
        "auth" => conn::auth(ctx, args),
        "client" => client::client(ctx, args),
        "config" => config::config(ctx, args),
        "info" => info::info(ctx, args),
        "command" => {
            let mut enc = ctx.enc();
            tandem_commands::command_command(args, &mut enc);
        }
        "time" => server::time(ctx, args),
        "monitor" => server::monitor(ctx, args),
        "debug" => server::debug(ctx, args),
        "shutdown" => server::shutdown(ctx, args),
        "multi" => multi::multi(ctx, args),
        "exec" => multi::exec(ctx, args),
        "discard" => multi::discard(ctx, args),
        "watch" => multi::watch(ctx, args),
        "unwatch" => multi::unwatch(ctx, args),
        _ if let Some(h) = tandem_commands::data::handler(ctx.spec.full_name) => {
            data::run(ctx, h, args)
        }
        _ => {
            // In the table but without a handler yet: answer as Redis does for unknown commands.
            let msg = tandem_commands::unknown_command_error(args);
            ctx.err(&msg);
        }
    }
}
