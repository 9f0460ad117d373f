//! Stream commands, following Redis 7.0.15's `t_stream.c` step by step (the order of checks
//! is visible: which error wins, whether a missing key answers before an argument is
//! parsed, whether a lookup counts a keyspace hit or miss).
//!
//! * `entries`: XADD, XTRIM, XDEL, XLEN, XRANGE, XREVRANGE, XSETID.
//! * `read`: XREAD, XREADGROUP (and their blocking forms).
//! * `groups`: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM.
//! * `info`: XINFO.
//!
//! The model (nodes, groups, PELs) is [`tandem_keyspace::StreamValue`].
//!
//! Propagation follows 7.0.15: XADD propagates its generated ID, XADD / XTRIM with `~`
//! propagate `=` and the resulting length or first ID; XREADGROUP, XCLAIM and XAUTOCLAIM
//! propagate their effects as `XCLAIM ... FORCE JUSTID LASTID`, `XGROUP SETID ...
//! ENTRIESREAD` and `XGROUP CREATECONSUMER`, never themselves.

mod entries;
mod groups;
mod info;
mod read;

use bytes::Bytes;
use tandem_keyspace::value::{Fields, Group, Nack, StreamId};
use tandem_keyspace::{Keyspace, Millis, StreamValue, Value};
use tandem_resp::Encoder;

use super::{DataStats, ExecCtx, Handler, Propagation};

/// The error replies of the stream commands, spelled as Redis 7.0.15 spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XError {
    WrongType,
    Syntax,
    NotInteger,
    InvalidId,
    /// `-ERR <text>`.
    Err(&'static str),
    /// A complete error line (with its code), e.g. `NOGROUP ...`.
    Raw(Vec<u8>),
}

impl XError {
    fn text(&self) -> Vec<u8> {
        match self {
            XError::WrongType => {
                b"WRONGTYPE Operation against a key holding the wrong kind of value".to_vec()
            }
            XError::Syntax => b"ERR syntax error".to_vec(),
            XError::NotInteger => b"ERR value is not an integer or out of range".to_vec(),
            XError::InvalidId => {
                b"ERR Invalid stream ID specified as stream command argument".to_vec()
            }
            XError::Err(t) => {
                let mut v = b"ERR ".to_vec();
                v.extend_from_slice(t.as_bytes());
                v
            }
            XError::Raw(v) => v.clone(),
        }
    }
}

/// A handler body: replies itself on success, or returns the error to reply.
type Body = fn(&mut ExecCtx<'_, '_>, &[Bytes]) -> Result<(), XError>;

/// Runs `body` and turns its error, if any, into the error reply.
fn run(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], body: Body) {
    ctx.ks.set_now(ctx.now);
    if let Err(e) = body(ctx, args) {
        ctx.enc.error(&e.text());
    }
}

/// The handler of a stream command, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "xadd" => |c, a| run(c, a, entries::xadd),
        "xtrim" => |c, a| run(c, a, entries::xtrim),
        "xdel" => |c, a| run(c, a, entries::xdel),
        "xlen" => |c, a| run(c, a, entries::xlen),
        "xrange" => |c, a| run(c, a, entries::xrange),
        "xrevrange" => |c, a| run(c, a, entries::xrevrange),
        "xsetid" => |c, a| run(c, a, entries::xsetid),
        "xread" => |c, a| run(c, a, read::xread),
        "xreadgroup" => |c, a| run(c, a, read::xread),
        "xgroup|create"
        | "xgroup|setid"
        | "xgroup|destroy"
        | "xgroup|createconsumer"
        | "xgroup|delconsumer"
        | "xgroup|help" => |c, a| run(c, a, groups::xgroup),
        "xack" => |c, a| run(c, a, groups::xack),
        "xpending" => |c, a| run(c, a, groups::xpending),
        "xclaim" => |c, a| run(c, a, groups::xclaim),
        "xautoclaim" => |c, a| run(c, a, groups::xautoclaim),
        "xinfo|stream" | "xinfo|groups" | "xinfo|consumers" | "xinfo|help" => {
            |c, a| run(c, a, info::xinfo)
        }
        _ => return None,
    };
    Some(h)
}

/// Names of the commands this module implements (for the registry).
pub const COMMANDS: &[&str] = &[
    "xack",
    "xadd",
    "xautoclaim",
    "xclaim",
    "xdel",
    "xgroup",
    "xinfo",
    "xlen",
    "xpending",
    "xrange",
    "xread",
    "xreadgroup",
    "xrevrange",
    "xsetid",
    "xtrim",
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

/// `getLongLongFromObjectOrReply`.
fn parse_ll(arg: &[u8]) -> Result<i64, XError> {
    tandem_resp::num::string2ll(arg).ok_or(XError::NotInteger)
}

/// `getLongLongFromObjectOrReply` with a custom message.
fn parse_ll_msg(arg: &[u8], msg: &'static str) -> Result<i64, XError> {
    tandem_resp::num::string2ll(arg).ok_or(XError::Err(msg))
}

/// Redis's `string2ull`: `string2ll` for non-negative canonical numbers, else `strtoull`
/// (leading spaces, a sign, leading zeros; a `-` negates modulo 2^64).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = tandem_resp::num::string2ll(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if i >= s.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[i..] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// What an ID argument may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IdMode {
    /// `-` and `+` allowed (ranges).
    Loose,
    /// `-` and `+` refused.
    Strict,
}

/// Redis's `streamGenericParseIDOrReply`: `<ms>-<seq>`, `<ms>` (the sequence is
/// `missing_seq`), `-` / `+` unless strict. With `seq_given` (XADD), `<ms>-*` is accepted
/// and reported through it.
fn parse_id_generic(
    arg: &[u8],
    missing_seq: u64,
    mode: IdMode,
    seq_given: Option<&mut bool>,
) -> Result<StreamId, XError> {
    if arg.len() > 127 {
        return Err(XError::InvalidId);
    }
    let buf = cstr(arg);
    if mode == IdMode::Strict && (buf == b"-" || buf == b"+") {
        return Err(XError::InvalidId);
    }
    let mut given = true;
    let id = if buf == b"-" {
        StreamId::new(0, 0)
    } else if buf == b"+" {
        StreamId::new(u64::MAX, u64::MAX)
    } else {
        let (ms_part, seq_part) = match buf.iter().position(|&c| c == b'-') {
            Some(i) => (&buf[..i], Some(&buf[i + 1..])),
            None => (buf, None),
        };
        let ms = string2ull(ms_part).ok_or(XError::InvalidId)?;
        let seq = match seq_part {
            Some(b"*") if seq_given.is_some() => {
                given = false;
                0
            }
            Some(s) => string2ull(s).ok_or(XError::InvalidId)?,
            None => missing_seq,
        };
        StreamId::new(ms, seq)
    };
    if let Some(g) = seq_given {
        *g = given;
    }
    Ok(id)
}

/// `streamParseStrictIDOrReply` without the `ms-*` form.
fn parse_strict_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, XError> {
    parse_id_generic(arg, missing_seq, IdMode::Strict, None)
}

/// `streamParseIDOrReply`.
fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, XError> {
    parse_id_generic(arg, missing_seq, IdMode::Loose, None)
}

/// `streamParseIntervalIDOrReply` plus the increment / decrement of an exclusive bound
/// (`(` prefix): the start of a range (`start` true) or its end.
fn parse_interval(arg: &[u8], start: bool) -> Result<StreamId, XError> {
    let missing = if start { 0 } else { u64::MAX };
    let exclude = arg.len() > 1 && arg[0] == b'(';
    if !exclude {
        return parse_id(arg, missing);
    }
    let id = parse_strict_id(&arg[1..], missing)?;
    if start {
        incr_id(id).ok_or(XError::Err("invalid start ID for the interval"))
    } else {
        decr_id(id).ok_or(XError::Err("invalid end ID for the interval"))
    }
}

/// The next ID (`streamIncrID`), `None` past the last one.
fn incr_id(id: StreamId) -> Option<StreamId> {
    if id.seq == u64::MAX {
        if id.ms == u64::MAX {
            None
        } else {
            Some(StreamId::new(id.ms + 1, 0))
        }
    } else {
        Some(StreamId::new(id.ms, id.seq + 1))
    }
}

/// The previous ID (`streamDecrID`), `None` before 0-0.
fn decr_id(id: StreamId) -> Option<StreamId> {
    if id.seq == 0 {
        if id.ms == 0 {
            None
        } else {
            Some(StreamId::new(id.ms - 1, u64::MAX))
        }
    } else {
        Some(StreamId::new(id.ms, id.seq - 1))
    }
}

/// An ID as Redis prints it.
fn id_bytes(id: StreamId) -> Bytes {
    Bytes::from(format!("{}-{}", id.ms, id.seq))
}

// ---------------------------------------------------------------------------
// Replies.

/// An ID as a bulk string.
fn reply_id(enc: &mut Encoder<'_>, id: StreamId) {
    let mut buf = [0u8; 48];
    let n = {
        use std::io::Write;
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cur, "{}-{}", id.ms, id.seq);
        cur.position() as usize
    };
    enc.bulk(&buf[..n]);
}

/// One entry: `[id, [field, value, ...]]`.
fn reply_entry(enc: &mut Encoder<'_>, id: StreamId, fields: Fields<'_>) {
    enc.array_len(2);
    reply_id(enc, id);
    enc.array_len(fields.len() * 2);
    for (f, v) in fields {
        enc.bulk(f);
        enc.bulk(v);
    }
}

/// Entries as an array.
fn reply_entries<'a>(enc: &mut Encoder<'_>, entries: impl Iterator<Item = (StreamId, Fields<'a>)>) {
    let list: Vec<_> = entries.collect();
    enc.array_len(list.len());
    for (id, f) in list {
        reply_entry(enc, id, f);
    }
}

// ---------------------------------------------------------------------------
// Lookups.

/// `lookupKeyRead` + `checkType(OBJ_STREAM)`: counts a keyspace hit or miss.
fn read_stream<'k>(
    ks: &'k mut Keyspace,
    stats: &mut DataStats,
    db: usize,
    key: &[u8],
    now: Millis,
) -> Result<Option<&'k StreamValue>, XError> {
    match super::lookup_key_read(ks, stats, db, key, now) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(XError::WrongType),
    }
}

/// `lookupKeyWrite` + `checkType(OBJ_STREAM)`: the stream made unique for mutation.
fn write_stream<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now: Millis,
) -> Result<Option<&'k mut StreamValue>, XError> {
    match ks.peek(db, key, now) {
        None => return Ok(None),
        Some(Value::Stream(_)) => {}
        Some(_) => return Err(XError::WrongType),
    }
    match ks.get_mut(db, key, now) {
        Some(Value::Stream(s)) => Ok(Some(s)),
        _ => Ok(None),
    }
}

/// `-NOGROUP ...` errors embed user strings up to their first NUL byte.
fn nogroup(parts: &[&[u8]]) -> XError {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(p);
    }
    XError::Raw(v)
}

/// `addReplySubcommandSyntaxError`.
fn subcommand_syntax(args: &[Bytes]) -> XError {
    let mut v = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    let sub = cstr(args.get(1).map_or(&b""[..], |a| &a[..]));
    v.extend_from_slice(&sub[..sub.len().min(128)]);
    v.extend_from_slice(b"'. Try ");
    v.extend(cstr(&args[0]).iter().map(u8::to_ascii_uppercase));
    v.extend_from_slice(b" HELP.");
    XError::Raw(v)
}

/// A user string as `%s` prints it.
fn c(s: &[u8]) -> &[u8] {
    cstr(s)
}

/// Records a change to `key`: `server.dirty += n` and the WATCH / blocked-client signal.
fn changed(ctx: &mut ExecCtx<'_, '_>, key: &[u8], n: u64) {
    ctx.dirty += n;
    ctx.ks.touch_modified(ctx.db, key);
}

// ---------------------------------------------------------------------------
// Propagated effects of the group commands.

/// `streamPropagateXCLAIM`: `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE
/// JUSTID LASTID group-last-id`.
fn prop_xclaim(
    prop: &mut Propagation,
    key: &[u8],
    group: &[u8],
    id: Bytes,
    nack: &Nack,
    group_last: StreamId,
) {
    prop.push(vec![
        Bytes::from_static(b"XCLAIM"),
        own(key),
        own(group),
        nack.consumer.clone(),
        Bytes::from_static(b"0"),
        id,
        Bytes::from_static(b"TIME"),
        Bytes::from(nack.delivery_time.to_string()),
        Bytes::from_static(b"RETRYCOUNT"),
        Bytes::from(nack.delivery_count.to_string()),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
        Bytes::from_static(b"LASTID"),
        id_bytes(group_last),
    ]);
}

/// `streamPropagateGroupID`: `XGROUP SETID key group last-id ENTRIESREAD n`.
fn prop_setid(prop: &mut Propagation, key: &[u8], group: &[u8], g: &Group) {
    prop.push(vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        own(key),
        own(group),
        id_bytes(g.last_id),
        Bytes::from_static(b"ENTRIESREAD"),
        Bytes::from(g.entries_read.to_string()),
    ]);
}

/// `streamPropagateConsumerCreation`: `XGROUP CREATECONSUMER key group consumer`.
fn prop_createconsumer(prop: &mut Propagation, key: &[u8], group: &[u8], consumer: &[u8]) {
    prop.push(vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"CREATECONSUMER"),
        own(key),
        own(group),
        own(consumer),
    ]);
}

/// A key, field or value to store, copied so that it never pins the read buffer.
fn own(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

#[cfg(test)]
mod tests;
