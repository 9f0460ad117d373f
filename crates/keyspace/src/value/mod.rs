//! Values: every Redis type, and the encodings `OBJECT ENCODING` reports.
//!
//! Strings are modelled here ([`StrValue`]: `int`, `embstr`, `raw`, with Redis's
//! `tryObjectEncoding` rules); each container type has its own module, holding its
//! compact and full encodings as Redis 7.0 names them, the switch between them at the
//! thresholds of [`EncodingLimits`], and its conversion to and from the RDB crate's model:
//!
//! * `list`: [`ListValue`] (`quicklist`, the only list encoding of Redis 7.0);
//! * `hash`: [`HashValue`] (`listpack` in insertion order, or `hashtable`);
//! * `set`: [`SetValue`] (`intset`, sorted integers, or `hashtable`);
//! * `zset`: [`ZSetValue`] (`listpack` sorted by score then member, or `skiplist`);
//! * `stream`: [`StreamValue`] (entries, consumer groups, PELs).

use std::borrow::Cow;

use bytes::Bytes;

/// Longest string Redis stores as `embstr` (`OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
pub const EMBSTR_SIZE_LIMIT: usize = 44;

/// Redis's `LAZYFREE_THRESHOLD`: values whose free effort exceeds this are freed on the
/// lazy-free thread when a delete is asynchronous.
pub const LAZYFREE_THRESHOLD: usize = 64;

/// A string value, in Redis's encodings (`OBJECT ENCODING`: `int`, `embstr`, `raw`).
#[derive(Clone, Debug, PartialEq)]
pub enum StrValue {
    /// `int`: the value is the decimal text of this integer.
    Int(i64),
    /// `embstr` (len <= 44, created in one piece) or `raw`.
    Bytes { data: Bytes, embstr: bool },
}

impl StrValue {
    /// The value SET (and every command that stores a client-supplied string) keeps, following
    /// Redis's `tryObjectEncoding`: `int` when the bytes are the canonical decimal form of an
    /// `i64` (at most 20 bytes), else `embstr` up to 44 bytes, else `raw`.
    pub fn from_bytes_for_set(data: Bytes) -> StrValue {
        if let Some(n) = parse_canonical_i64(&data) {
            return StrValue::Int(n);
        }
        StrValue::embstr_or_raw(data)
    }

    /// Redis's `createStringObject`: `embstr` up to 44 bytes, else `raw`; never `int`
    /// (e.g. the result of INCRBYFLOAT or GETRANGE-built values).
    pub fn embstr_or_raw(data: Bytes) -> StrValue {
        let embstr = data.len() <= EMBSTR_SIZE_LIMIT;
        StrValue::Bytes { data, embstr }
    }

    /// A `raw` string (results of APPEND and SETRANGE, which Redis always leaves `raw`).
    pub fn raw(data: Bytes) -> StrValue {
        StrValue::Bytes {
            data,
            embstr: false,
        }
    }

    /// An `int` string (INCR and friends).
    pub fn from_i64(n: i64) -> StrValue {
        StrValue::Int(n)
    }

    /// The string's bytes (borrowed unless the value is `int`-encoded).
    pub fn as_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            StrValue::Int(n) => Cow::Owned(n.to_string().into_bytes()),
            StrValue::Bytes { data, .. } => Cow::Borrowed(data),
        }
    }

    /// The string's bytes as a cheaply clonable [`Bytes`].
    pub fn to_bytes(&self) -> Bytes {
        match self {
            StrValue::Int(n) => Bytes::from(n.to_string()),
            StrValue::Bytes { data, .. } => data.clone(),
        }
    }

    /// The integer this string holds, if it is the canonical form of one (Redis's
    /// `getLongLongFromObject` accepts exactly these).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            StrValue::Bytes { data, .. } => parse_canonical_i64(data),
        }
    }

    /// Length in bytes (STRLEN).
    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => int_len(*n),
            StrValue::Bytes { data, .. } => data.len(),
        }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name: `int`, `embstr` or `raw`.
    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Bytes { embstr: true, .. } => "embstr",
            StrValue::Bytes { embstr: false, .. } => "raw",
        }
    }
}

/// Number of decimal characters of `n` (sign included).
fn int_len(n: i64) -> usize {
    let mut len = if n < 0 { 2 } else { 1 };
    let mut v = n.unsigned_abs();
    while v >= 10 {
        v /= 10;
        len += 1;
    }
    len
}

/// Redis's `string2ll` restricted to what round-trips: optional `-`, no leading zeros
/// (except `0` itself), no `+`, no spaces, no `-0`, at most 20 bytes, within `i64`.
/// The RDB crate owns the rule (it decides integer encodings too).
pub use tandem_rdb::num::parse_canonical_i64;

/// Every Redis value type.
#[derive(Clone, Debug)]
pub enum Value {
    String(StrValue),
    List(ListValue),
    Hash(HashValue),
    Set(SetValue),
    ZSet(ZSetValue),
    Stream(StreamValue),
}

mod hash;
mod list;
pub mod quicklist;
mod set;
mod stream;
mod zset;

pub use hash::HashValue;
pub use list::ListValue;
pub use set::{IntSet, Member, MemberTable, SetValue};
pub use stream::{
    Consumer, Entries, Fields, Group, Nack, NodeLimits, StreamData, StreamId, StreamValue, TrimBy,
    INVALID_ENTRIES_READ, LISTPACK_MAX_SIZE, MAX_ID,
};
pub use zset::{Inserted, LexBound, LexRange, MemberMap, ScoreRange, ZIter, ZScore, ZSetValue};

/// The thresholds of the compact encodings (Redis's `*-max-listpack-*`, `set-max-intset-entries`,
/// ...), as the configuration sets them. Commands pass them to the container types, which
/// switch to their full encoding when a write crosses one (and never switch back, as Redis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// `list-max-listpack-size` (negative: node size class; positive: entries per node).
    pub list_max_listpack_size: i64,
    pub list_compress_depth: i64,
    pub stream_node_max_bytes: usize,
    pub stream_node_max_entries: usize,
}

impl Default for EncodingLimits {
    /// Redis 7.0.15's defaults.
    fn default() -> EncodingLimits {
        EncodingLimits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        }
    }
}

impl Value {
    /// `TYPE` name: string, list, hash, set, zset, stream.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::String(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(s) => s.encoding(),
        }
    }

    /// How the RDB encoder must lay this value out: Redis writes a hash, set or sorted set
    /// in its in-memory encoding, so one held as `hashtable` / `skiplist` is written in
    /// that form even when it would fit a compact one, a `listpack` stays one whatever
    /// the thresholds say now, and an intset keeps its width.
    pub fn rdb_layout(&self) -> tandem_rdb::Layout {
        if let Value::Set(SetValue::Intset(s)) = self {
            return tandem_rdb::Layout::Intset(s.width());
        }
        match self.encoding() {
            "hashtable" | "skiplist" => tandem_rdb::Layout::Full,
            "listpack" => tandem_rdb::Layout::Compact,
            _ => tandem_rdb::Layout::Auto,
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&StrValue> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Redis's `lazyfreeGetFreeEffort`: roughly how many allocations freeing this value
    /// takes. Compact encodings and strings count 1.
    pub fn free_effort(&self) -> usize {
        match self {
            Value::String(_) => 1,
            Value::List(l) => l.free_effort(),
            Value::Hash(h) => h.free_effort(),
            Value::Set(s) => s.free_effort(),
            Value::ZSet(z) => z.free_effort(),
            Value::Stream(s) => s.free_effort(),
        }
    }
}

impl From<StrValue> for Value {
    fn from(s: StrValue) -> Value {
        Value::String(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers() {
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-1"), Some(-1));
        assert_eq!(parse_canonical_i64(b"12345"), Some(12345));
        assert_eq!(parse_canonical_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"1.0",
            b"abc",
            b"000000000000000000001",
        ] {
            assert_eq!(parse_canonical_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn set_encodings() {
        let v = StrValue::from_bytes_for_set(Bytes::from_static(b"123"));
        assert_eq!(v, StrValue::Int(123));
        assert_eq!(v.encoding(), "int");
        assert_eq!(v.len(), 3);
        assert_eq!(&*v.as_bytes(), b"123");
        let v = StrValue::from_bytes_for_set(Bytes::from_static(b"0123"));
        assert_eq!(v.encoding(), "embstr");
        let v = StrValue::from_bytes_for_set(Bytes::from(vec![b'a'; 44]));
        assert_eq!(v.encoding(), "embstr");
        let v = StrValue::from_bytes_for_set(Bytes::from(vec![b'a'; 45]));
        assert_eq!(v.encoding(), "raw");
        assert_eq!(v.len(), 45);
        assert_eq!(StrValue::raw(Bytes::from_static(b"x")).encoding(), "raw");
        assert_eq!(StrValue::Int(i64::MIN).len(), 20);
        assert_eq!(StrValue::Int(-5).len(), 2);
        assert_eq!(StrValue::Int(0).len(), 1);
        assert_eq!(StrValue::Int(9).len(), 1);
        assert_eq!(StrValue::Int(10).len(), 2);
        assert_eq!(StrValue::Int(-42).to_bytes(), Bytes::from_static(b"-42"));
    }
}
