//! String commands: SET and its variants, counters, ranges, LCS and the bitmap family.
//!
//! Every handler follows the code path of Redis 7.0.15's `t_string.c` / `bitops.c`
//! step by step, because the *order* of checks is visible to clients: which error
//! wins when several apply, whether a missing key answers before an argument is
//! parsed, whether a read lookup is counted as a keyspace hit or miss.
//!
//! * [`basic`]: SET (EX PX EXAT PXAT NX XX KEEPTTL GET), SETNX, SETEX, PSETEX, GET,
//!   GETEX, GETDEL, GETSET, MGET, MSET, MSETNX.
//! * [`numeric`]: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT.
//! * [`range`]: APPEND, STRLEN, GETRANGE, SUBSTR, SETRANGE, LCS.
//! * [`bits`]: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
//! * [`longdouble`]: the 80-bit float arithmetic INCRBYFLOAT needs.
//!
//! Helpers shared by the families live here: the error texts ([`StrError`]), the
//! lookups that count hits and misses, Redis's object encodings for new values
//! (`tryObjectEncoding`), and argument parsing with Redis's C-string rules.
//!
//! Propagation: a handler that changes the dataset adds to `ctx.dirty` exactly what
//! Redis adds to `server.dirty`, and rewrites `ctx.prop` where Redis rewrites the
//! client's argv (`SET ... EX` becomes `SET ... PXAT`, GETDEL becomes DEL, ...).

mod basic;
mod bits;
pub(crate) mod longdouble;
mod numeric;
mod range;

use crate::data::run;
use bytes::Bytes;
use tandem_keyspace::{StrValue, Value};
use tandem_resp::num::string2ll;

use super::{DataSettings, ExecCtx, Handler};

/// The error replies of the string commands, spelled as Redis 7.0.15 spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StrError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR increment or decrement would overflow")]
    IncrOverflow,
    #[error("ERR decrement would overflow")]
    DecrOverflow,
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    TooLong,
    #[error("ERR bit offset is not an integer or out of range")]
    BitOffset,
    #[error("ERR bit is not an integer or out of range")]
    BitValue,
    #[error("ERR offset is out of range")]
    OffsetRange,
    #[error("ERR invalid expire time in '{0}' command")]
    ExpireTime(&'static str),
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(&'static str),
    #[error("ERR The bit argument must be 1 or 0.")]
    BitArgument,
    #[error("ERR BITOP NOT must be called with a single source key.")]
    BitopNot,
    #[error(
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
    )]
    BitfieldType,
    #[error("ERR Invalid OVERFLOW type specified")]
    OverflowType,
    #[error("ERR BITFIELD_RO only supports the GET subcommand")]
    BitfieldReadOnly,
    #[error("ERR The specified keys must contain string values")]
    LcsWrongType,
    #[error("ERR If you want both the length and indexes, please just use IDX.")]
    LcsLenAndIdx,
    #[error("ERR String too long for LCS")]
    LcsTooLong,
    #[error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")]
    LcsTooMuchMemory,
    #[error("ERR Insufficient memory, failed allocating transient memory for LCS")]
    LcsAllocFailed,
}

/// A handler body: replies itself on success, or returns the error to reply.
/// The handler of a string command, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "set" => |c, a| run(c, a, basic::set),
        "setnx" => |c, a| run(c, a, basic::setnx),
        "setex" => |c, a| run(c, a, basic::setex),
        "psetex" => |c, a| run(c, a, basic::psetex),
        "get" => |c, a| run(c, a, basic::get),
        "getex" => |c, a| run(c, a, basic::getex),
        "getdel" => |c, a| run(c, a, basic::getdel),
        "getset" => |c, a| run(c, a, basic::getset),
        "mget" => |c, a| run(c, a, basic::mget),
        "mset" => |c, a| run(c, a, basic::mset),
        "msetnx" => |c, a| run(c, a, basic::msetnx),
        "incr" => |c, a| run(c, a, numeric::incr),
        "decr" => |c, a| run(c, a, numeric::decr),
        "incrby" => |c, a| run(c, a, numeric::incrby),
        "decrby" => |c, a| run(c, a, numeric::decrby),
        "incrbyfloat" => |c, a| run(c, a, numeric::incrbyfloat),
        "append" => |c, a| run(c, a, range::append),
        "strlen" => |c, a| run(c, a, range::strlen),
        "getrange" | "substr" => |c, a| run(c, a, range::getrange),
        "setrange" => |c, a| run(c, a, range::setrange),
        "lcs" => |c, a| run(c, a, range::lcs),
        "setbit" => |c, a| run(c, a, bits::setbit),
        "getbit" => |c, a| run(c, a, bits::getbit),
        "bitcount" => |c, a| run(c, a, bits::bitcount),
        "bitpos" => |c, a| run(c, a, bits::bitpos),
        "bitop" => |c, a| run(c, a, bits::bitop),
        "bitfield" => |c, a| run(c, a, bits::bitfield),
        "bitfield_ro" => |c, a| run(c, a, bits::bitfield_ro),
        _ => return None,
    };
    Some(h)
}

/// Names of the commands this module implements (for the registry).
pub const COMMANDS: &[&str] = &[
    "append",
    "bitcount",
    "bitfield",
    "bitfield_ro",
    "bitop",
    "bitpos",
    "decr",
    "decrby",
    "get",
    "getbit",
    "getdel",
    "getex",
    "getrange",
    "getset",
    "incr",
    "incrby",
    "incrbyfloat",
    "lcs",
    "mget",
    "mset",
    "msetnx",
    "psetex",
    "set",
    "setbit",
    "setex",
    "setnx",
    "setrange",
    "strlen",
    "substr",
];

// ---------------------------------------------------------------------------
// Arguments.

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

/// Redis's range rule (GETRANGE, BITCOUNT, BITPOS): negative indexes count from the end,
/// then both are clamped to `0..=len - 1`; `end` may end up below `start`.
fn clamp_range(mut start: i64, mut end: i64, len: i64) -> (i64, i64) {
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

/// `getLongLongFromObjectOrReply` on an argument.
fn parse_i64(arg: &[u8]) -> Result<i64, StrError> {
    string2ll(arg).ok_or(StrError::NotInteger)
}

// ---------------------------------------------------------------------------
// Values.

/// Redis's `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`.
const EMBSTR_LIMIT: usize = 44;

/// `tryObjectEncoding` of a client argument stored as a value: `int` when it is
/// the canonical text of a 64-bit integer (at most 20 bytes), else `embstr` up to
/// 44 bytes, else `raw`. The bytes are copied so that a stored value never pins
/// the connection's read buffer.
fn encode_arg(arg: &[u8]) -> StrValue {
    if arg.len() <= 20 {
        if let Some(v) = string2ll(arg) {
            return StrValue::Int(v);
        }
    }
    StrValue::Bytes {
        data: Bytes::copy_from_slice(arg),
        embstr: arg.len() <= EMBSTR_LIMIT,
    }
}

/// `createStringObject`: `embstr` up to 44 bytes, `raw` above.
fn new_string(data: Bytes) -> StrValue {
    let embstr = data.len() <= EMBSTR_LIMIT;
    StrValue::Bytes { data, embstr }
}

/// A `raw` string (what `createObject(OBJ_STRING, sds)` and unsharing produce).
fn new_raw(data: Bytes) -> StrValue {
    StrValue::Bytes {
        data,
        embstr: false,
    }
}

/// The bytes of a string value (the decimal text for `int`).
fn str_bytes(sv: &StrValue) -> Bytes {
    match sv {
        StrValue::Int(i) => Bytes::from(i.to_string()),
        StrValue::Bytes { data, .. } => data.clone(),
    }
}

/// Length of a string value (`stringObjectLen`).
fn str_len(sv: &StrValue) -> usize {
    match sv {
        StrValue::Int(i) => {
            let mut n = if *i < 0 { 2 } else { 1 };
            let mut v = i.unsigned_abs();
            while v >= 10 {
                v /= 10;
                n += 1;
            }
            n
        }
        StrValue::Bytes { data, .. } => data.len(),
    }
}

/// Makes `sv` a `raw` string (`dbUnshareStringValue`) and lets `f` edit its bytes.
fn with_raw<R>(sv: &mut StrValue, f: impl FnOnce(&mut bytes::BytesMut) -> R) -> R {
    let data = match std::mem::replace(sv, StrValue::Int(0)) {
        StrValue::Int(i) => Bytes::from(i.to_string()),
        StrValue::Bytes { data, .. } => data,
    };
    let mut buf = bytes::BytesMut::from(data);
    let r = f(&mut buf);
    *sv = new_raw(buf.freeze());
    r
}

/// Writes a string value as a bulk reply.
fn reply_str(ctx: &mut ExecCtx<'_, '_>, sv: &StrValue) {
    match sv {
        StrValue::Int(i) => ctx.enc.bulk_integer(*i),
        StrValue::Bytes { data, .. } => ctx.enc.bulk(data),
    }
}

// ---------------------------------------------------------------------------
// Lookups.

/// `lookupKeyRead` + `checkType(OBJ_STRING)`: counts a keyspace hit or miss, and
/// returns the value (cloned: cheap, `Bytes` is reference counted).
fn read_str(ctx: &mut ExecCtx<'_, '_>, key: &[u8]) -> Result<Option<StrValue>, StrError> {
    match ctx.ks.get(ctx.db, key, ctx.now) {
        None => {
            ctx.stats.keyspace_misses += 1;
            ctx.ks.note_miss(ctx.db, key);
            Ok(None)
        }
        Some(v) => {
            let r = match v {
                Value::String(s) => Ok(Some(s.clone())),
                _ => Err(StrError::WrongType),
            };
            ctx.stats.keyspace_hits += 1;
            r
        }
    }
}

/// `lookupKeyRead` without the type check: `None` for missing keys, `Some(None)` for
/// keys of another type (MGET, LCS).
fn read_any(ctx: &mut ExecCtx<'_, '_>, key: &[u8]) -> Option<Option<StrValue>> {
    match ctx.ks.get(ctx.db, key, ctx.now) {
        None => {
            ctx.stats.keyspace_misses += 1;
            ctx.ks.note_miss(ctx.db, key);
            None
        }
        Some(v) => {
            let r = match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            };
            ctx.stats.keyspace_hits += 1;
            Some(r)
        }
    }
}

/// `lookupKeyWrite` + `checkType`: the string value, ready to modify in place
/// (its TTL is kept), `Ok(None)` when the key does not exist.
fn write_str<'k>(
    ks: &'k mut tandem_keyspace::Keyspace,
    db: usize,
    key: &[u8],
    now: tandem_keyspace::Millis,
) -> Result<Option<&'k mut StrValue>, StrError> {
    match ks.get_mut(db, key, now) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(StrError::WrongType),
    }
}

/// Records one change to `key`: `server.dirty++` and the WATCH signal.
fn changed(ctx: &mut ExecCtx<'_, '_>, key: &[u8], n: u64) {
    ctx.dirty += n;
    ctx.ks.touch_modified(ctx.db, key);
}

/// `checkStringLength`: refuses a string longer than `proto-max-bulk-len`
/// (except for the master's stream, which must be obeyed).
fn check_len(settings: &DataSettings, size: u64, append: u64) -> Result<(), StrError> {
    if settings.replica_mode {
        return Ok(());
    }
    let max = u64::try_from(settings.proto_max_bulk_len).unwrap_or(0);
    match size.checked_add(append) {
        Some(total) if total <= max && total <= i64::MAX as u64 => Ok(()),
        _ => Err(StrError::TooLong),
    }
}

/// `Bytes` of a static text (command names in rewritten propagation).
fn word(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[cfg(test)]
mod tests;
