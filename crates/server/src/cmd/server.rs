//! Server commands: TIME, MONITOR, DEBUG, SHUTDOWN, and the MONITOR feed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::Ctx;
use crate::client::{Client, ClientEvent};
use crate::server::Server;

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
pub fn feed_monitor(srv: &Server, client: &Client, args: &[Bytes]) {
    if !srv.clients.values().any(|c| c.monitor) {
        return;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        client.db,
        client.meta.addr
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
fn redacted_args(args: &[Bytes]) -> Vec<usize> {
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

pub fn debug(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let setting = ctx.srv.config.get_str("enable-debug-command");
    let local = ctx.client.meta.addr.ip().is_loopback();
    let allowed = setting == "yes" || (setting == "local" && local);
    if !allowed {
        ctx.err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
        return;
    }
    let sub = args[1].to_ascii_lowercase();
    match (sub.as_slice(), args.len()) {
        (b"help", 2) => {
            let lines: &[&str] = &[
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
                "HELP",
                "    Print this help.",
            ];
            let mut e = ctx.enc();
            e.array_len(lines.len());
            for l in lines {
                e.simple(l.as_bytes());
            }
        }
        (b"sleep", 3) => {
            let secs: f64 = std::str::from_utf8(&args[2])
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0.0);
            if secs > 0.0 && secs.is_finite() {
                std::thread::sleep(Duration::from_secs_f64(secs));
            }
            ctx.ok();
        }
        _ => {
            let msg = format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                String::from_utf8_lossy(&args[1][..args[1].len().min(128)])
            );
            ctx.err(&msg);
        }
    }
}

/// What SHUTDOWN was asked to do about saving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Save when save points are configured (SHUTDOWN with no argument, SIGTERM).
    Default,
    Save,
    NoSave,
}

pub fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let (mut save, mut nosave, mut abort, mut flags) = (false, false, false, false);
    for a in &args[1..] {
        let a = a.to_ascii_lowercase();
        match a.as_slice() {
            b"nosave" => {
                nosave = true;
                flags = true;
            }
            b"save" => {
                save = true;
                flags = true;
            }
            b"now" | b"force" => flags = true,
            b"abort" => abort = true,
            _ => {
                ctx.syntax_err();
                return;
            }
        }
    }
    if (abort && flags) || (save && nosave) {
        ctx.syntax_err();
        return;
    }
    if abort {
        ctx.err("ERR No shutdown in progress.");
        return;
    }
    let mode = if nosave {
        ShutdownMode::NoSave
    } else if save {
        ShutdownMode::Save
    } else {
        ShutdownMode::Default
    };
    tracing::warn!("User requested shutdown...");
    begin_shutdown(ctx.srv, mode);
    // The client gets no reply: its connection closes when the process exits.
    ctx.client.close_after_reply = true;
}

/// Marks the server as shutting down; the executor loop calls [`finish_shutdown`] next.
pub fn begin_shutdown(srv: &mut Server, mode: ShutdownMode) {
    let wants_save = match mode {
        ShutdownMode::Save => true,
        ShutdownMode::NoSave => false,
        ShutdownMode::Default => !srv.config.get_list("save").is_empty(),
    };
    if wants_save {
        // Tandem holds no data yet (persistence comes with the RDB work): nothing to write.
        tracing::info!("No dataset to save: skipping the final RDB snapshot.");
    }
    srv.shutting_down = true;
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
