//! Generic key commands and expiry commands, as Redis 7.0.15's `db.c`, `expire.c` and the
//! OBJECT command of `object.c` behave.
//!
//! * [`keys`]: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, RANDOMKEY, RENAME, RENAMENX, COPY, MOVE,
//!   SWAPDB, TOUCH, DBSIZE, FLUSHDB, FLUSHALL.
//! * [`expire`]: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME, PEXPIRETIME,
//!   PERSIST.
//! * [`object`]: OBJECT ENCODING / REFCOUNT / IDLETIME / FREQ / HELP.
//!
//! Every command body returns `Result<(), GenericError>`; [`handler`] wraps it into a
//! [`Handler`] that writes the error reply. The rules shared by all of them live here:
//!
//! * Redis counts `keyspace_hits` / `keyspace_misses` only for *read* lookups
//!   (`lookupKeyRead*`): EXISTS, TYPE, TOUCH, TTL and friends, OBJECT, the source of COPY and
//!   SCAN's TYPE filter. Write lookups (DEL, RENAME, EXPIRE, ...) count nothing.
//!   [`lookup_read`] is the counting lookup.
//! * `ctx.dirty` grows by one per modified key (Redis's `server.dirty`), by the number of
//!   keys removed for FLUSHDB / FLUSHALL, and by one for SWAPDB.
//! * Every modified key is reported with `touch_modified` (WATCH); flushes and swaps are
//!   reported by the keyspace itself (`Event::Flushed`, `Event::Swapped`).
//! * What is propagated: the command as received, except for the expiry rewrites
//!   (`PEXPIREAT <abs ms>`, or `DEL`/`UNLINK` for a time already past) and FLUSHDB /
//!   FLUSHALL, which are propagated even when nothing was removed.

mod expire;
mod keys;
mod object;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use tandem_keyspace::{Keyspace, Millis, Value};

use super::{DataStats, ExecCtx, Handler};

/// An error reply of a generic or expiry command (texts exactly as Redis 7.0.15's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenericError {
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is out of range, value must between -2147483648 and 2147483647")]
    IntRange,
    #[error("ERR DB index is out of range")]
    DbOutOfRange,
    #[error("ERR source and destination objects are the same")]
    SameObject,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR invalid cursor")]
    InvalidCursor,
    #[error("ERR invalid first DB index")]
    InvalidFirstDb,
    #[error("ERR invalid second DB index")]
    InvalidSecondDb,
    /// The command's full name (`expire`, `pexpireat`, ...).
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpireTime(&'static str),
    /// An unknown EXPIRE option, as the client spelled it (up to its first NUL byte).
    #[error("ERR Unsupported option {}", String::from_utf8_lossy(.0))]
    UnsupportedOption(Vec<u8>),
    #[error("ERR NX and XX, GT or LT options at the same time are not compatible")]
    NxAndXxGtLt,
    #[error("ERR GT and LT options at the same time are not compatible")]
    GtAndLt,
    #[error(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please \
         note that when switching between policies at runtime LRU and LFU data will take \
         some time to adjust."
    )]
    LfuNotSelected,
    #[error(
        "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that \
         when switching between policies at runtime LRU and LFU data will take some time to \
         adjust."
    )]
    LruNotSelected,
}

impl GenericError {
    /// The reply text byte for byte (the option of `UnsupportedOption` may not be UTF-8).
    pub fn reply_text(&self) -> Vec<u8> {
        match self {
            GenericError::UnsupportedOption(opt) => {
                let mut out = b"ERR Unsupported option ".to_vec();
                out.extend_from_slice(opt);
                out
            }
            other => other.to_string().into_bytes(),
        }
    }
}

/// What a command body returns.
type CmdResult = Result<(), GenericError>;

/// A command body: replies on success, returns the error to reply otherwise.
type Body = fn(&mut ExecCtx<'_, '_>, &[Bytes]) -> CmdResult;

/// Runs `body` and writes its error reply, if any.
fn run(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], body: Body) {
    if let Err(e) = body(ctx, args) {
        ctx.enc.error(&e.reply_text());
    }
}

/// The handler of a generic or expiry command, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "del" => |c, a| run(c, a, keys::del),
        "unlink" => |c, a| run(c, a, keys::unlink),
        "exists" => |c, a| run(c, a, keys::exists),
        "type" => |c, a| run(c, a, keys::type_cmd),
        "keys" => |c, a| run(c, a, keys::keys),
        "scan" => |c, a| run(c, a, keys::scan),
        "randomkey" => |c, a| run(c, a, keys::randomkey),
        "rename" => |c, a| run(c, a, keys::rename),
        "renamenx" => |c, a| run(c, a, keys::renamenx),
        "copy" => |c, a| run(c, a, keys::copy),
        "move" => |c, a| run(c, a, keys::move_cmd),
        "swapdb" => |c, a| run(c, a, keys::swapdb),
        "touch" => |c, a| run(c, a, keys::touch),
        "dbsize" => |c, a| run(c, a, keys::dbsize),
        "flushdb" => |c, a| run(c, a, keys::flushdb),
        "flushall" => |c, a| run(c, a, keys::flushall),
        "expire" => |c, a| run(c, a, expire::expire),
        "pexpire" => |c, a| run(c, a, expire::pexpire),
        "expireat" => |c, a| run(c, a, expire::expireat),
        "pexpireat" => |c, a| run(c, a, expire::pexpireat),
        "ttl" => |c, a| run(c, a, expire::ttl),
        "pttl" => |c, a| run(c, a, expire::pttl),
        "expiretime" => |c, a| run(c, a, expire::expiretime),
        "pexpiretime" => |c, a| run(c, a, expire::pexpiretime),
        "persist" => |c, a| run(c, a, expire::persist),
        "object|encoding" => |c, a| run(c, a, object::encoding),
        "object|refcount" => |c, a| run(c, a, object::refcount),
        "object|idletime" => |c, a| run(c, a, object::idletime),
        "object|freq" => |c, a| run(c, a, object::freq),
        "object|help" => |c, a| run(c, a, object::help),
        _ => return None,
    };
    Some(h)
}

/// Argument `i`, or an empty slice when absent (the dispatcher has checked the arity).
fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

/// How a read lookup treats the key's access time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// `lookupKeyRead`: the access time is refreshed (TOUCH, COPY's source).
    Touch,
    /// `LOOKUP_NOTOUCH`: the access time is left alone (EXISTS, TYPE, TTL, ...).
    NoTouch,
    /// `LOOKUP_NOTOUCH | LOOKUP_NONOTIFY` (OBJECT): nor is a miss notified.
    NoTouchNoNotify,
}

/// A read lookup (Redis's `lookupKeyRead*`): expires the key if needed and counts a
/// keyspace hit or miss.
fn lookup_read<'k>(
    ks: &'k mut Keyspace,
    stats: &mut DataStats,
    db: usize,
    key: &[u8],
    now: Millis,
    access: Access,
) -> Option<&'k Value> {
    let found = match access {
        Access::Touch => return super::lookup_key_read(ks, stats, db, key, now),
        Access::NoTouch => ks.peek_read(db, key, now),
        Access::NoTouchNoNotify => ks.peek(db, key, now),
    };
    if found.is_some() {
        stats.keyspace_hits += 1;
    } else {
        stats.keyspace_misses += 1;
    }
    found
}

/// The part of an argument C code sees: up to its first NUL byte.
fn cstr(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

/// Redis's strict `string2ll` (no `+`, no leading zeros, no spaces, within `i64`).
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    tandem_resp::num::string2ll(s)
}

/// Redis's `getIntFromObjectOrReply`: a 32-bit integer; `msg` replaces both errors.
fn parse_i32(s: &[u8], msg: Option<GenericError>) -> Result<i32, GenericError> {
    let v = parse_i64(s).ok_or_else(|| msg.clone().unwrap_or(GenericError::NotInteger))?;
    i32::try_from(v).map_err(|_| msg.unwrap_or(GenericError::IntRange))
}

/// A database index given as a 32-bit integer, if it names an existing database.
fn db_index(ks: &Keyspace, id: i32) -> Option<usize> {
    usize::try_from(id).ok().filter(|&i| i < ks.databases())
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}
