//! List commands, following Redis 7.0.15's `t_list.c` step by step: the order of argument
//! parsing, lookups and type checks is visible to clients (which error wins, whether a
//! missing key answers before a bad argument is noticed).
//!
//! * [`read`]: LLEN, LINDEX, LRANGE, LPOS (read lookups: keyspace hits and misses).
//! * [`write`]: LPUSH, RPUSH, LPUSHX, RPUSHX, LINSERT, LSET, LREM, LTRIM.
//! * [`pop`]: LPOP, RPOP (with a count), LMPOP, LMOVE, RPOPLPUSH, and the blocking
//!   BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH.
//!
//! Rules shared by the family: `ctx.dirty` grows by one per element pushed, popped, removed
//! or trimmed (LSET, LINSERT and moves count one), as Redis's `server.dirty`; every change
//! is reported with `touch_modified`; a list that becomes empty is deleted. Writes
//! propagate as received, except LMPOP and the blocking commands, which Redis rewrites into
//! their non-blocking forms (`LPOP key [n]`, `LMOVE`, `RPOPLPUSH`).
//!
//! A blocking command that finds nothing to serve answers like a timeout when
//! `ctx.may_block` is false, else fills `ctx.block` and writes nothing; the server runs it
//! again when one of its keys changes, so a second run that finds data serves it.

mod pop;
mod read;
mod write;

#[cfg(test)]
mod tests;

use crate::data::run;
use bytes::Bytes;
use tandem_keyspace::{FreeMode, Keyspace, ListValue, Millis, Value};
use tandem_resp::num::string2ll;

use super::{notify, DataStats, ExecCtx, Handler};

/// The error replies of the list commands, spelled as Redis 7.0.15 spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is out of range, must be positive")]
    NotPositive,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR index out of range")]
    IndexOutOfRange,
    #[error(
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
         or use negative to start from the end of the list"
    )]
    RankZero,
    #[error("ERR COUNT can't be negative")]
    CountNegative,
    #[error("ERR MAXLEN can't be negative")]
    MaxlenNegative,
    #[error("ERR numkeys should be greater than 0")]
    Numkeys,
    #[error("ERR count should be greater than 0")]
    CountNotPositive,
    /// The command's full name (`lpop`, `rpop`).
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(&'static str),
    /// A timeout argument error (texts of `data::blocking`).
    #[error("{0}")]
    Timeout(&'static str),
}

/// A handler body: replies itself on success, or returns the error to reply.
/// The handler of a list command, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "llen" => |c, a| run(c, a, read::llen),
        "lindex" => |c, a| run(c, a, read::lindex),
        "lrange" => |c, a| run(c, a, read::lrange),
        "lpos" => |c, a| run(c, a, read::lpos),
        "lpush" => |c, a| run(c, a, write::lpush),
        "rpush" => |c, a| run(c, a, write::rpush),
        "lpushx" => |c, a| run(c, a, write::lpushx),
        "rpushx" => |c, a| run(c, a, write::rpushx),
        "linsert" => |c, a| run(c, a, write::linsert),
        "lset" => |c, a| run(c, a, write::lset),
        "lrem" => |c, a| run(c, a, write::lrem),
        "ltrim" => |c, a| run(c, a, write::ltrim),
        "lpop" => |c, a| run(c, a, pop::lpop),
        "rpop" => |c, a| run(c, a, pop::rpop),
        "lmpop" => |c, a| run(c, a, pop::lmpop),
        "lmove" => |c, a| run(c, a, pop::lmove),
        "rpoplpush" => |c, a| run(c, a, pop::rpoplpush),
        "blpop" => |c, a| run(c, a, pop::blpop),
        "brpop" => |c, a| run(c, a, pop::brpop),
        "blmpop" => |c, a| run(c, a, pop::blmpop),
        "blmove" => |c, a| run(c, a, pop::blmove),
        "brpoplpush" => |c, a| run(c, a, pop::brpoplpush),
        _ => return None,
    };
    Some(h)
}

/// Names of the commands this module implements (for the registry).
pub const COMMANDS: &[&str] = &[
    "blmove",
    "blmpop",
    "blpop",
    "brpop",
    "brpoplpush",
    "lindex",
    "linsert",
    "llen",
    "lmove",
    "lmpop",
    "lpop",
    "lpos",
    "lpush",
    "lpushx",
    "lrange",
    "lrem",
    "lset",
    "ltrim",
    "rpop",
    "rpoplpush",
    "rpush",
    "rpushx",
];

/// An end of a list: Redis's `LIST_HEAD` (`left`) or `LIST_TAIL` (`right`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Head,
    Tail,
}

impl End {
    /// `getListPositionFromObjectOrReply`: `left` or `right`, any case.
    fn parse(arg: &[u8]) -> Result<End, ListError> {
        if is_opt(arg, "left") {
            Ok(End::Head)
        } else if is_opt(arg, "right") {
            Ok(End::Tail)
        } else {
            Err(ListError::Syntax)
        }
    }

    /// The word Redis propagates for this end (`shared.left` / `shared.right`).
    fn word(self) -> Bytes {
        Bytes::from_static(match self {
            End::Head => b"left",
            End::Tail => b"right",
        })
    }

    /// The keyspace event of a pop from this end.
    fn pop_event(self) -> &'static str {
        match self {
            End::Head => "lpop",
            End::Tail => "rpop",
        }
    }

    /// The keyspace event of a push at this end.
    fn push_event(self) -> &'static str {
        match self {
            End::Head => "lpush",
            End::Tail => "rpush",
        }
    }

    /// The pop command Redis propagates for this end (`shared.lpop` / `shared.rpop`).
    fn pop_command(self) -> Bytes {
        Bytes::from_static(match self {
            End::Head => b"LPOP",
            End::Tail => b"RPOP",
        })
    }
}

/// Removes one element from `end` of `list`.
fn pop_end(list: &mut ListValue, end: End) -> Option<Bytes> {
    match end {
        End::Head => list.pop_front(),
        End::Tail => list.pop_back(),
    }
}

/// Adds `value` at `end` of `list`.
fn push_end(list: &mut ListValue, end: End, value: Bytes) {
    match end {
        End::Head => list.push_front(value),
        End::Tail => list.push_back(value),
    }
}

/// An argument as C code sees it: up to its first NUL byte.
fn cstr(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&c| c == 0) {
        Some(i) => &arg[..i],
        None => arg,
    }
}

/// Case-insensitive option match with `strcasecmp` semantics.
fn is_opt(arg: &[u8], name: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(name.as_bytes())
}

/// `getLongFromObjectOrReply` without a custom message.
fn parse_long(arg: &[u8]) -> Result<i64, ListError> {
    string2ll(arg).ok_or(ListError::NotInteger)
}

/// `getRangeLongFromObjectOrReply` with a custom message: the message answers both a
/// non-number and a number outside `min..=max`.
fn parse_range(arg: &[u8], min: i64, err: ListError) -> Result<i64, ListError> {
    match string2ll(arg) {
        Some(v) if v >= min => Ok(v),
        _ => Err(err),
    }
}

/// A copy of a client argument, so that a stored element or key never pins the
/// connection's read buffer.
fn own(arg: &[u8]) -> Bytes {
    Bytes::copy_from_slice(arg)
}

/// `lookupKeyRead` + `checkType(OBJ_LIST)`: counts a keyspace hit or miss. Takes the
/// context's parts, so that the caller can write the reply while it holds the list.
fn read_list<'k>(
    ks: &'k mut Keyspace,
    stats: &mut DataStats,
    db: usize,
    now: Millis,
    key: &[u8],
) -> Result<Option<&'k ListValue>, ListError> {
    match super::lookup_key_read(ks, stats, db, key, now) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(ListError::WrongType),
    }
}

/// `lookupKeyWrite` + `checkType(OBJ_LIST)`: the list, ready to modify in place (its TTL
/// is kept), `Ok(None)` when the key does not exist.
fn write_list<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    now: Millis,
    key: &[u8],
) -> Result<Option<&'k mut ListValue>, ListError> {
    match ks.get_mut(db, key, now) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(ListError::WrongType),
    }
}

/// What a write leaves behind: `n` changes (`server.dirty += n`), the WATCH signal, the
/// keyspace notification `event`, and the key deleted (notified as `del`) when the list
/// became empty.
fn changed(ctx: &mut ExecCtx<'_, '_>, key: &[u8], n: u64, emptied: bool, event: &'static str) {
    if emptied {
        ctx.ks.delete(ctx.db, key, ctx.now, FreeMode::Sync);
    }
    ctx.ks.touch_modified(ctx.db, key);
    ctx.dirty += n;
    ctx.notify(notify::LIST, event, key);
    if emptied {
        ctx.notify(notify::GENERIC, "del", key);
    }
}
