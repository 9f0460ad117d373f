//! SLOWLOG GET / LEN / RESET / HELP and the log itself, as Redis 7.0.15's `slowlog.c`.
//!
//! After every command that ran (not EXEC itself, whose commands are logged one by
//! one), a duration of at least `slowlog-log-slower-than` microseconds (negative: never)
//! adds an entry at the head; the log keeps `slowlog-max-len` entries. An entry keeps at
//! most 32 arguments (the last says how many more there were) of at most 128 bytes each
//! (a longer one ends with how many bytes were cut), passwords redacted as MONITOR
//! redacts them, the client's address and name.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::Ctx;
use crate::client::Client;
use crate::config::Config;

/// Redis's `SLOWLOG_ENTRY_MAX_ARGC`.
const MAX_ARGC: usize = 32;
/// Redis's `SLOWLOG_ENTRY_MAX_STRING`.
const MAX_STRING: usize = 128;

/// One logged command.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    unix_secs: u64,
    micros: u64,
    args: Vec<Bytes>,
    addr: String,
    name: Bytes,
}

/// The log, newest first, and its settings.
#[derive(Debug)]
pub struct SlowLog {
    entries: VecDeque<Entry>,
    next_id: u64,
    /// `slowlog-log-slower-than` in microseconds; negative turns logging off.
    threshold: i64,
    /// `slowlog-max-len`.
    max_len: usize,
}

impl Default for SlowLog {
    fn default() -> SlowLog {
        SlowLog {
            entries: VecDeque::new(),
            next_id: 0,
            threshold: 10_000,
            max_len: 128,
        }
    }
}

impl SlowLog {
    /// Re-reads the two directives; a shorter `slowlog-max-len` drops the oldest entries.
    pub fn configure(&mut self, c: &Config) {
        self.threshold = c.get_i64("slowlog-log-slower-than");
        self.max_len = c.get_i64("slowlog-max-len").max(0) as usize;
        self.entries.truncate(self.max_len);
    }

    /// Logs the command `args` that `client` ran in `ns` nanoseconds, if slow enough.
    #[inline]
    pub fn record(&mut self, client: &Client, args: &[Bytes], ns: u64) {
        let micros = ns / 1000;
        if self.threshold < 0 || micros < self.threshold as u64 {
            return;
        }
        self.push(client, args, micros);
    }

    fn push(&mut self, client: &Client, args: &[Bytes], micros: u64) {
        let redacted = super::server::redacted_args(args);
        let kept = args.len().min(MAX_ARGC);
        let mut logged = Vec::with_capacity(kept);
        for (i, a) in args.iter().take(kept).enumerate() {
            let arg = if kept != args.len() && i == kept - 1 {
                Bytes::from(format!("... ({} more arguments)", args.len() - kept + 1))
            } else if redacted.contains(&i) {
                Bytes::from_static(b"(redacted)")
            } else if a.len() > MAX_STRING {
                let mut s = a[..MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                );
                Bytes::from(s)
            } else {
                Bytes::copy_from_slice(a)
            };
            logged.push(arg);
        }
        let unix_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.entries.push_front(Entry {
            id: self.next_id,
            unix_secs,
            micros,
            args: logged,
            // A script's commands come from Redis's Lua client, which has no peer.
            addr: if client.in_script {
                "?:0".to_owned()
            } else {
                client.meta.addr.to_string()
            },
            name: client
                .name
                .as_ref()
                .map_or_else(Bytes::new, |n| Bytes::copy_from_slice(n.as_ref())),
        });
        self.next_id += 1;
        self.entries.truncate(self.max_len);
    }
}

/// `SLOWLOG GET [count] | LEN | RESET | HELP`.
pub fn slowlog(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_lowercase();
    match (sub.as_slice(), args.len()) {
        (b"reset", 2) => {
            ctx.srv.slowlog.entries.clear();
            ctx.ok();
        }
        (b"len", 2) => {
            let n = ctx.srv.slowlog.entries.len();
            ctx.enc().integer(n as i64);
        }
        (b"get", 2 | 3) => {
            let mut count = 10usize;
            if let Some(arg) = args.get(2) {
                // One message for a bad number and one out of range, as Redis's
                // getRangeLongFromObjectOrReply with a message of its own.
                match tandem_resp::num::string2ll(arg) {
                    Some(n) if n >= -1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                    _ => {
                        ctx.err("ERR count should be greater than or equal to -1");
                        return;
                    }
                }
            }
            let entries: Vec<Entry> = ctx
                .srv
                .slowlog
                .entries
                .iter()
                .take(count)
                .cloned()
                .collect();
            let mut enc = ctx.enc();
            enc.array_len(entries.len());
            for e in &entries {
                enc.array_len(6);
                enc.integer(e.id as i64);
                enc.integer(e.unix_secs as i64);
                enc.integer(e.micros as i64);
                enc.array_len(e.args.len());
                for a in &e.args {
                    enc.bulk(a);
                }
                enc.bulk(e.addr.as_bytes());
                enc.bulk(&e.name);
            }
        }
        (b"help", 2) => {
            let lines: &[&str] = &[
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
            ];
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], lines);
        }
        _ => super::client::subcommand_syntax_error(ctx, args),
    }
}
