//! The RESP value model shared by both protocol versions.
//!
//! [`Value`] covers every RESP2 and RESP3 type Redis 7.0 can send. Payloads are
//! [`Bytes`], so a decoded value shares the read buffer instead of copying it.
//! RESP2-only shapes (`NullArray`) and RESP3-only shapes (`Map`, `Set`,
//! `Double`, ...) coexist; the [`crate::Encoder`] downgrades RESP3 shapes for
//! RESP2 clients exactly as Redis does.

use bytes::Bytes;

/// Protocol version negotiated by HELLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// RESP2, the default for every new connection.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// One RESP value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `+text` status reply.
    Simple(Bytes),
    /// `-CODE message` error reply (text without the `-`); RESP3 blob errors (`!`) decode to this too.
    Error(Bytes),
    /// `:n` integer.
    Integer(i64),
    /// `$len` bulk string.
    Bulk(Bytes),
    /// The null bulk string (`$-1` in RESP2, `_` in RESP3).
    Null,
    /// The null array (`*-1` in RESP2; RESP3 has only `_`).
    NullArray,
    /// `*n` array.
    Array(Vec<Value>),
    /// `%n` map (RESP2: flat array of 2n).
    Map(Vec<(Value, Value)>),
    /// `~n` set (RESP2: array).
    Set(Vec<Value>),
    /// `,` double (RESP2: bulk string).
    Double(f64),
    /// `#t`/`#f` (RESP2: integer 1/0).
    Boolean(bool),
    /// `(` big number, its decimal text (RESP2: bulk string).
    BigNumber(Bytes),
    /// `=` verbatim string with its 3-byte format such as `txt` (RESP2: bulk of the text).
    Verbatim {
        /// The format, e.g. `*b"txt"` or `*b"mkd"`.
        format: [u8; 3],
        /// The text after `fmt:`.
        text: Bytes,
    },
    /// `>n` out-of-band push (RESP2: array).
    Push(Vec<Value>),
    /// `|n` attributes preceding a value (RESP3 only; RESP2 encodes just the value).
    Attribute {
        /// The attribute pairs.
        attrs: Vec<(Value, Value)>,
        /// The value the attributes describe.
        value: Box<Value>,
    },
}

impl Value {
    /// A bulk string copied from `b`.
    pub fn bulk(b: impl AsRef<[u8]>) -> Value {
        Value::Bulk(Bytes::copy_from_slice(b.as_ref()))
    }

    /// A status reply copied from `s`.
    pub fn simple(s: impl AsRef<[u8]>) -> Value {
        Value::Simple(Bytes::copy_from_slice(s.as_ref()))
    }

    /// An error reply (text without `-`) copied from `s`.
    pub fn error(s: impl AsRef<[u8]>) -> Value {
        Value::Error(Bytes::copy_from_slice(s.as_ref()))
    }

    /// True for `Null` and `NullArray`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null | Value::NullArray)
    }

    /// The payload of a simple string, bulk string, big number or verbatim string.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Simple(b) | Value::Bulk(b) | Value::BigNumber(b) => Some(b),
            Value::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The integer of an `Integer` reply, or a bulk/simple string holding one
    /// (parsed with Redis's strict rules).
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            Value::Bulk(b) | Value::Simple(b) => crate::num::string2ll(b),
            _ => None,
        }
    }
}
