//! Hash commands, following Redis 7.0.15's `t_hash.c` step by step (the order of checks is
//! visible: which error wins, whether a missing key answers before an argument is parsed).
//!
//! * `write`: HSET, HMSET, HSETNX, HDEL, HINCRBY, HINCRBYFLOAT.
//! * `read`: HGET, HMGET, HGETALL, HKEYS, HVALS, HLEN, HSTRLEN, HEXISTS.
//! * `random`: HRANDFIELD.
//! * HSCAN lives with SSCAN and ZSCAN in [`super::cscan`].
//!
//! Encodings: the value is a [`HashValue`]; writes pass the configured
//! [`tandem_keyspace::EncodingLimits`] so that the `listpack` → `hashtable` switch happens
//! where Redis's `hashTypeTryConversion` / `hashTypeSet` put it.
//!
//! Bookkeeping: read lookups count keyspace hits and misses, write lookups do not; every
//! write adds to `ctx.dirty` what Redis adds to `server.dirty` and signals the key for
//! WATCH. Writes propagate as received, except HINCRBYFLOAT, which becomes
//! `HSET key field <result>` so replicas never redo float arithmetic.

mod random;
mod read;
mod write;

use crate::data::run;
use bytes::Bytes;
use tandem_keyspace::{HashValue, Keyspace, Millis, Value};

use super::{notify, DataStats, ExecCtx, Handler};

/// The error replies of the hash commands, spelled as Redis 7.0.15 spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(&'static str),
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR hash value is not an integer")]
    HashNotInteger,
    #[error("ERR hash value is not a float")]
    HashNotFloat,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR value is NaN or Infinity")]
    NanOrInfinityArg,
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")]
    CountRange,
    #[error("ERR value is out of range")]
    OutOfRange,
}

/// A handler body: replies itself on success, or returns the error to reply.
/// The handler of a hash command, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "hset" => |c, a| run(c, a, write::hset),
        "hmset" => |c, a| run(c, a, write::hmset),
        "hsetnx" => |c, a| run(c, a, write::hsetnx),
        "hdel" => |c, a| run(c, a, write::hdel),
        "hincrby" => |c, a| run(c, a, write::hincrby),
        "hincrbyfloat" => |c, a| run(c, a, write::hincrbyfloat),
        "hget" => |c, a| run(c, a, read::hget),
        "hmget" => |c, a| run(c, a, read::hmget),
        "hgetall" => |c, a| run(c, a, read::hgetall),
        "hkeys" => |c, a| run(c, a, read::hkeys),
        "hvals" => |c, a| run(c, a, read::hvals),
        "hlen" => |c, a| run(c, a, read::hlen),
        "hstrlen" => |c, a| run(c, a, read::hstrlen),
        "hexists" => |c, a| run(c, a, read::hexists),
        "hrandfield" => |c, a| run(c, a, random::hrandfield),
        _ => return None,
    };
    Some(h)
}

/// Names of the commands this module implements (for the registry; HSCAN is in
/// [`super::cscan::COMMANDS`]).
pub const COMMANDS: &[&str] = &[
    "hdel",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hincrbyfloat",
    "hkeys",
    "hlen",
    "hmget",
    "hmset",
    "hrandfield",
    "hset",
    "hsetnx",
    "hstrlen",
    "hvals",
];

/// `lookupKeyRead` + `checkType(OBJ_HASH)`: counts a keyspace hit or miss; `Ok(None)` for
/// a missing key. Takes the context's fields apart so that the caller can reply while it
/// holds the value.
fn read_hash<'k>(
    ks: &'k mut Keyspace,
    stats: &mut DataStats,
    db: usize,
    key: &[u8],
    now: Millis,
) -> Result<Option<&'k HashValue>, HashError> {
    match super::lookup_key_read(ks, stats, db, key, now) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(HashError::WrongType),
    }
}

/// Records `n` changes to `key`: `server.dirty += n`, the WATCH signal and the keyspace
/// notification `event`.
fn changed(ctx: &mut ExecCtx<'_, '_>, key: &[u8], n: u64, event: &'static str) {
    ctx.dirty += n;
    ctx.ks.touch_modified(ctx.db, key);
    ctx.notify(notify::HASH, event, key);
}

/// A key, field or value to store: copied, so that it never pins the connection's read
/// buffer.
fn own(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

#[cfg(test)]
mod tests;
