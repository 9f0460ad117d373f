//! Server commands: TIME, MONITOR, SHUTDOWN, and the MONITOR feed (DEBUG lives in `debug`).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::Ctx;
use crate::client::{Client, ClientEvent};
use crate::server::Server;

/// `LOLWUT [VERSION v] [...]`: Redis 7.0's default (and every version but 5 and 6) is
/// the version line. Versions 5 and 6 draw generative art from random numbers in Redis;
/// Tandem answers them with the version line too.
pub fn lolwut(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    if args.len() >= 3
        && args[1].eq_ignore_ascii_case(b"version")
        && super::parse_i64(&args[2]).is_none()
    {
        ctx.not_integer();
        return;
    }
    let text = format!("Redis ver. {}\n", tandem_commands::REDIS_VERSION);
    ctx.enc().verbatim(b"txt", text.as_bytes());
}

pub fn time(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut e = ctx.enc();
    e.array_len(2);
    e.bulk(now.as_secs().to_string().as_bytes());
    e.bulk(now.subsec_micros().to_string().as_bytes());
}

pub fn monitor(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    if ctx.client.monitor {
        return;
    }
    ctx.client.monitor = true;
    ctx.srv.monitors += 1;
    ctx.ok();
}

/// Appends `s` to `out` quoted the way Redis's `sdscatrepr` does.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(b),
            b => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Sends a command executed by `client` to every MONITOR client, as Redis formats it.
pub fn feed_monitor(srv: &mut Server, client: &Client, args: &[Bytes]) {
    if srv.monitors == 0 {
        return;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // A script's commands show `lua` as their source.
    let source = if client.in_script {
        "lua".to_owned()
    } else {
        client.meta.addr.to_string()
    };
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        client.db,
        source
    )
    .into_bytes();
    let redact_from = redacted_args(args);
    for (i, a) in args.iter().enumerate() {
        line.push(b' ');
        if redact_from.contains(&i) {
            repr(&mut line, b"(redacted)");
        } else {
            repr(&mut line, a);
        }
    }
    line.extend_from_slice(b"\r\n");
    crate::exec::feed_monitors(srv, Bytes::from(line));
}

/// Indexes of arguments that MONITOR must not show (passwords).
pub(crate) fn redacted_args(args: &[Bytes]) -> Vec<usize> {
    let name = &args[0];
    if name.eq_ignore_ascii_case(b"auth") {
        return (1..args.len()).collect();
    }
    if name.eq_ignore_ascii_case(b"hello") {
        let mut v = Vec::new();
        let mut j = 2;
        while j < args.len() {
            if args[j].eq_ignore_ascii_case(b"auth") && j + 2 < args.len() {
                v.push(j + 1);
                v.push(j + 2);
                j += 3;
            } else {
                j += 1;
            }
        }
        return v;
    }
    Vec::new()
}

/// What SHUTDOWN was asked to do about saving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Save when save points are configured (SHUTDOWN with no argument, SIGTERM).
    Default,
    Save,
    NoSave,
}

/// SHUTDOWN's arguments, as parsed by [`parse_shutdown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownRequest {
    Abort,
    Go { mode: ShutdownMode, force: bool },
}

/// Reads SHUTDOWN's flags (NOSAVE | SAVE, NOW, FORCE, ABORT); `Err` is the syntax error.
pub fn parse_shutdown(args: &[Bytes]) -> Result<ShutdownRequest, &'static str> {
    let (mut save, mut nosave, mut abort, mut flags) = (false, false, false, false);
    let mut force = false;
    for a in &args[1..] {
        match a.to_ascii_lowercase().as_slice() {
            b"nosave" => (nosave, flags) = (true, true),
            b"save" => (save, flags) = (true, true),
            b"now" => flags = true,
            b"force" => (force, flags) = (true, true),
            b"abort" => abort = true,
            _ => return Err("ERR syntax error"),
        }
    }
    if (abort && flags) || (save && nosave) {
        return Err("ERR syntax error");
    }
    if abort {
        return Ok(ShutdownRequest::Abort);
    }
    let mode = if nosave {
        ShutdownMode::NoSave
    } else if save {
        ShutdownMode::Save
    } else {
        ShutdownMode::Default
    };
    Ok(ShutdownRequest::Go { mode, force })
}

/// The reply to SHUTDOWN ABORT when no shutdown waits (Tandem's never do).
pub const NO_SHUTDOWN: &str = "ERR No shutdown in progress.";

pub fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let (mode, force) = match parse_shutdown(args) {
        Ok(ShutdownRequest::Go { mode, force }) => (mode, force),
        Ok(ShutdownRequest::Abort) => {
            ctx.err(NO_SHUTDOWN);
            return;
        }
        Err(msg) => {
            ctx.err(msg);
            return;
        }
    };
    tracing::warn!("User requested shutdown...");
    if !try_shutdown(ctx.srv, mode, force) {
        ctx.err("ERR Errors trying to SHUTDOWN. Check logs.");
        return;
    }
    // The client gets no reply: its connection closes when the process exits.
    ctx.client.close_after_reply = true;
}

/// Marks the server as shutting down (SIGTERM / SIGINT); the executor loop calls
/// [`finish_shutdown`] next. When the final save fails the server keeps running.
pub fn begin_shutdown(srv: &mut Server, mode: ShutdownMode) {
    if !try_shutdown(srv, mode, false) {
        tracing::warn!(
            "SIGTERM received but errors trying to shut down the server, check the logs for more information"
        );
    }
}

/// Redis's `prepareForShutdown`: stop a background save, write the final snapshot when
/// asked to (or when save points exist), then mark the server as shutting down. Returns
/// false, leaving the server running, when the save failed and `force` is not set.
pub fn try_shutdown(srv: &mut Server, mode: ShutdownMode, force: bool) -> bool {
    let wants_save = match mode {
        ShutdownMode::Save => true,
        ShutdownMode::NoSave => false,
        ShutdownMode::Default => !srv.config.save_params().is_empty(),
    };
    crate::aof::abandon_rewrite(srv);
    if srv.aof.on {
        tracing::info!("Calling fsync() on the AOF file.");
        crate::aof::flush_and_sync(srv);
    }
    if !crate::persist::shutdown_save(srv, wants_save, force) {
        tracing::warn!(
            "Errors trying to shut down the server. Check the logs for more information."
        );
        return false;
    }
    srv.shutting_down = true;
    true
}

/// Closes every client, removes the pid file and says goodbye. Returns the exit code.
pub fn finish_shutdown(srv: &mut Server) -> i32 {
    for c in srv.clients.values() {
        let _ = c.events.send(ClientEvent::Kill);
    }
    let pidfile = srv.config.get_str("pidfile");
    if !pidfile.is_empty() {
        tracing::info!("Removing the pid file.");
        let _ = std::fs::remove_file(&pidfile);
    }
    tracing::warn!("Redis is now ready to exit, bye bye...");
    0
}
