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
pub fn feed_monitor(srv: &Server, client: &Client, args: &[Bytes]) {
    if srv.monitors == 0 {
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
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], DEBUG_HELP);
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

/// DEBUG HELP body lines as redis-server 7.0.15 prints them (the header and the HELP
/// footer are added by `write_help`). Tandem implements only SLEEP and HELP so far; the
/// text is Redis's so that tools reading it see the same reply.
const DEBUG_HELP: &[&str] = &[
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "MALLCTL <key> [<val>]",
    "    Get or set a malloc tuning integer.",
    "MALLCTL-STR <key> [<val>]",
    "    Get or set a malloc tuning string.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
];
