//! Values: every Redis type, and the encodings `OBJECT ENCODING` reports.
//!
//! Strings are fully modelled ([`StrValue`]: `int`, `embstr`, `raw`, with Redis's
//! `tryObjectEncoding` rules). The container types are plain Rust collections for now; their
//! encoding names are derived from their contents with Redis 7.0's default thresholds
//! (`hash-max-listpack-entries 128`, `set-max-intset-entries 512`, ...), so `OBJECT ENCODING`
//! answers like Redis until the data-type work gives them real compact encodings.

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

/// Every Redis value type. Non-string types are modelled now; their commands come later.
#[derive(Clone, Debug)]
pub enum Value {
    String(StrValue),
    List(ListValue),
    Hash(HashValue),
    Set(SetValue),
    ZSet(ZSetValue),
    Stream(StreamValue),
}

/// A list (Redis 7.0 always reports `quicklist`).
#[derive(Clone, Debug, Default)]
pub struct ListValue {
    pub items: std::collections::VecDeque<Bytes>,
}
/// A hash (`listpack` while small, else `hashtable`).
#[derive(Clone, Debug, Default)]
pub struct HashValue {
    pub map: std::collections::HashMap<Bytes, Bytes>,
}
/// A set (`intset` while small and all-integer, else `hashtable`).
#[derive(Clone, Debug, Default)]
pub struct SetValue {
    pub set: std::collections::HashSet<Bytes>,
}
/// A sorted set (`listpack` while small, else `skiplist`).
#[derive(Clone, Debug, Default)]
pub struct ZSetValue {
    pub members: std::collections::HashMap<Bytes, f64>,
}
/// A stream (entries keyed by ID `(ms, seq)`).
#[derive(Clone, Debug, Default)]
pub struct StreamValue {
    pub entries: std::collections::BTreeMap<(u64, u64), Vec<(Bytes, Bytes)>>,
}

/// Redis 7.0 defaults for the compact encodings.
const HASH_MAX_LISTPACK_ENTRIES: usize = 128;
const HASH_MAX_LISTPACK_VALUE: usize = 64;
const SET_MAX_INTSET_ENTRIES: usize = 512;
const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
const ZSET_MAX_LISTPACK_VALUE: usize = 64;

impl HashValue {
    fn is_compact(&self) -> bool {
        self.map.len() <= HASH_MAX_LISTPACK_ENTRIES
            && self.map.iter().all(|(k, v)| {
                k.len() <= HASH_MAX_LISTPACK_VALUE && v.len() <= HASH_MAX_LISTPACK_VALUE
            })
    }
}

impl SetValue {
    fn is_compact(&self) -> bool {
        self.set.len() <= SET_MAX_INTSET_ENTRIES
            && self.set.iter().all(|m| parse_canonical_i64(m).is_some())
    }
}

impl ZSetValue {
    fn is_compact(&self) -> bool {
        self.members.len() <= ZSET_MAX_LISTPACK_ENTRIES
            && self
                .members
                .keys()
                .all(|m| m.len() <= ZSET_MAX_LISTPACK_VALUE)
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
            Value::List(_) => "quicklist",
            Value::Hash(h) if h.is_compact() => "listpack",
            Value::Hash(_) => "hashtable",
            Value::Set(s) if s.is_compact() => "intset",
            Value::Set(_) => "hashtable",
            Value::ZSet(z) if z.is_compact() => "listpack",
            Value::ZSet(_) => "skiplist",
            Value::Stream(_) => "stream",
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
            // A quicklist node holds up to 8 KB of entries; count nodes roughly.
            Value::List(l) => l.items.len().div_ceil(128).max(1),
            Value::Hash(h) if h.is_compact() => 1,
            Value::Hash(h) => h.map.len(),
            Value::Set(s) if s.is_compact() => 1,
            Value::Set(s) => s.set.len(),
            Value::ZSet(z) if z.is_compact() => 1,
            Value::ZSet(z) => z.members.len(),
            Value::Stream(s) => s.entries.len().div_ceil(100).max(1),
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

    #[test]
    fn container_encodings() {
        let mut s = SetValue::default();
        s.set.insert(Bytes::from_static(b"1"));
        assert_eq!(Value::Set(s.clone()).encoding(), "intset");
        s.set.insert(Bytes::from_static(b"a"));
        assert_eq!(Value::Set(s).encoding(), "hashtable");
        let mut h = HashValue::default();
        h.map
            .insert(Bytes::from_static(b"f"), Bytes::from_static(b"v"));
        assert_eq!(Value::Hash(h).encoding(), "listpack");
        assert_eq!(Value::List(ListValue::default()).type_name(), "list");
        let mut big = HashValue::default();
        for i in 0..200 {
            big.map
                .insert(Bytes::from(format!("f{i}")), Bytes::from_static(b"v"));
        }
        let big = Value::Hash(big);
        assert_eq!(big.encoding(), "hashtable");
        assert_eq!(big.free_effort(), 200);
    }
}
