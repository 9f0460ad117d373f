//! General RESP2/RESP3 value decoder (nom 8, streaming), for clients and replicas.
//!
//! The parser never needs the whole input: on a partial value it reports
//! [`Needed`] and consumes nothing, so callers read more and try again. It
//! works in two steps, like redis-protocol's range frames: the nom parser
//! builds a tree whose payloads are byte ranges of the input, then the tree
//! becomes a [`Value`] whose payloads are either `Bytes` slices of the frozen
//! input (zero-copy, [`decode_value`], [`parse_value_bytes`]) or copies
//! ([`parse_value`] on a plain slice). Nesting is limited
//! ([`DecodeLimits::max_depth`]) so hostile input cannot exhaust the stack.
//!
//! [`parse_rdb_bulk_header`] reads the header a master sends before a full
//! sync payload: `$<len>\r\n` (the RDB follows, without trailing CRLF) or
//! `$EOF:<40-byte mark>\r\n` (diskless; the payload ends with the mark).

use bytes::{Bytes, BytesMut};
use nom::bytes::streaming::{tag, take, take_until};
use nom::error::{ErrorKind, ParseError};
use nom::IResult;

use crate::error::DecodeError;
use crate::limits::DecodeLimits;
use crate::value::Value;

/// How much more input an incomplete value needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    /// At least one more byte; the exact amount is not known yet (a line is unfinished).
    Unknown,
    /// At least this many more bytes (a bulk payload is unfinished).
    Size(usize),
}

/// Outcome of a parse attempt that did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed<T> {
    /// A whole value, and how many input bytes it took.
    Complete {
        /// The value.
        value: T,
        /// Bytes of input it occupied.
        consumed: usize,
    },
    /// The input ends inside a value.
    Incomplete(Needed),
}

/// The replication payload header a master sends after `+FULLRESYNC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdbBulkHeader {
    /// `$<len>\r\n`: exactly `len` bytes of RDB follow, with no trailing CRLF.
    Len(u64),
    /// `$EOF:<mark>\r\n`: the RDB streams until these 40 bytes appear at its end.
    Eof([u8; 40]),
}

/// Byte range of the input.
type Span = (usize, usize);

/// The parse tree: a [`Value`] whose payloads are still ranges of the input.
enum Raw {
    Simple(Span),
    Error(Span),
    Integer(i64),
    Bulk(Span),
    Null,
    NullArray,
    Array(Vec<Raw>),
    Map(Vec<(Raw, Raw)>),
    Set(Vec<Raw>),
    Double(f64),
    Boolean(bool),
    BigNumber(Span),
    Verbatim {
        format: [u8; 3],
        text: Span,
    },
    Push(Vec<Raw>),
    Attribute {
        attrs: Vec<(Raw, Raw)>,
        value: Box<Raw>,
    },
}

impl Raw {
    fn build(self, f: &impl Fn(Span) -> Bytes) -> Value {
        let list = |v: Vec<Raw>| v.into_iter().map(|r| r.build(f)).collect::<Vec<_>>();
        let pairs = |v: Vec<(Raw, Raw)>| {
            v.into_iter()
                .map(|(k, v)| (k.build(f), v.build(f)))
                .collect::<Vec<_>>()
        };
        match self {
            Raw::Simple(s) => Value::Simple(f(s)),
            Raw::Error(s) => Value::Error(f(s)),
            Raw::Integer(i) => Value::Integer(i),
            Raw::Bulk(s) => Value::Bulk(f(s)),
            Raw::Null => Value::Null,
            Raw::NullArray => Value::NullArray,
            Raw::Array(v) => Value::Array(list(v)),
            Raw::Map(v) => Value::Map(pairs(v)),
            Raw::Set(v) => Value::Set(list(v)),
            Raw::Double(d) => Value::Double(d),
            Raw::Boolean(b) => Value::Boolean(b),
            Raw::BigNumber(s) => Value::BigNumber(f(s)),
            Raw::Verbatim { format, text } => Value::Verbatim {
                format,
                text: f(text),
            },
            Raw::Push(v) => Value::Push(list(v)),
            Raw::Attribute { attrs, value } => Value::Attribute {
                attrs: pairs(attrs),
                value: Box::new(value.build(f)),
            },
        }
    }
}

/// The parser's error: a decode error, or a plain nom mismatch (which, for
/// RESP, always means a missing CRLF).
#[derive(Debug)]
enum PError {
    Decode(DecodeError),
    Nom,
}

impl<I> ParseError<I> for PError {
    fn from_error_kind(_: I, _: ErrorKind) -> Self {
        PError::Nom
    }
    fn append(_: I, _: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a [u8], T, PError>;

fn fail<T>(e: DecodeError) -> Result<T, nom::Err<PError>> {
    Err(nom::Err::Failure(PError::Decode(e)))
}

/// A signed decimal with optional `+`/`-`, as hiredis accepts in lengths and integers.
fn parse_signed(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i128 = 0;
    for &d in digits {
        v = v * 10 + i128::from(d - b'0');
    }
    i64::try_from(if neg { -v } else { v }).ok()
}

fn parse_double(s: &[u8]) -> Option<f64> {
    match s {
        b"inf" | b"+inf" => return Some(f64::INFINITY),
        b"-inf" => return Some(f64::NEG_INFINITY),
        b"nan" | b"+nan" => return Some(f64::NAN),
        b"-nan" => return Some(-f64::NAN),
        _ => {}
    }
    if s.is_empty()
        || !s
            .iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The nom parser; `total` is the length of the whole input, so that
/// `total - rest.len()` is the offset of `rest`.
struct ValueParser {
    total: usize,
    limits: DecodeLimits,
}

impl ValueParser {
    fn offset(&self, rest: &[u8]) -> usize {
        self.total - rest.len()
    }

    /// Everything up to CRLF, and the CRLF.
    fn line<'a>(&self, i: &'a [u8]) -> Res<'a, &'a [u8]> {
        let (i, l) = take_until("\r\n")(i)?;
        let (i, _) = tag("\r\n")(i)?;
        Ok((i, l))
    }

    fn line_span<'a>(&self, i: &'a [u8]) -> Res<'a, Span> {
        let start = self.offset(i);
        let (i, l) = self.line(i)?;
        Ok((i, (start, start + l.len())))
    }

    /// A length header; `None` for `-1`.
    fn length<'a>(&self, i: &'a [u8]) -> Res<'a, Option<u64>> {
        let (i, l) = self.line(i)?;
        if l.first() == Some(&b'?') {
            return fail(DecodeError::Streamed);
        }
        match parse_signed(l) {
            Some(-1) => Ok((i, None)),
            Some(n) if n >= 0 => Ok((i, Some(n as u64))),
            _ => fail(DecodeError::InvalidLength),
        }
    }

    /// A bulk payload of `n` bytes and its CRLF.
    fn payload<'a>(&self, i: &'a [u8], n: u64) -> Res<'a, Span> {
        if n > self.limits.max_bulk_len {
            return fail(DecodeError::BulkTooLong(n));
        }
        let Ok(n) = usize::try_from(n) else {
            return fail(DecodeError::BulkTooLong(n));
        };
        let start = self.offset(i);
        let (i, _) = take(n)(i)?;
        let (i, end) = take(2usize)(i)?;
        if end != b"\r\n" {
            return fail(DecodeError::ExpectedCrlf);
        }
        Ok((i, (start, start + n)))
    }

    fn count<'a>(&self, i: &'a [u8]) -> Res<'a, usize> {
        match self.length(i)? {
            (i, Some(n)) => match usize::try_from(n) {
                Ok(n) => Ok((i, n)),
                Err(_) => fail(DecodeError::InvalidLength),
            },
            (_, None) => fail(DecodeError::InvalidLength),
        }
    }

    fn items<'a>(&self, mut i: &'a [u8], n: usize, depth: usize) -> Res<'a, Vec<Raw>> {
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let (rest, item) = self.value(i, depth + 1)?;
            v.push(item);
            i = rest;
        }
        Ok((i, v))
    }

    fn pairs<'a>(&self, mut i: &'a [u8], n: usize, depth: usize) -> Res<'a, Vec<(Raw, Raw)>> {
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let (rest, k) = self.value(i, depth + 1)?;
            let (rest, val) = self.value(rest, depth + 1)?;
            v.push((k, val));
            i = rest;
        }
        Ok((i, v))
    }

    fn value<'a>(&self, i: &'a [u8], depth: usize) -> Res<'a, Raw> {
        if depth > self.limits.max_depth {
            return fail(DecodeError::TooDeep(self.limits.max_depth));
        }
        let (i, t) = take(1usize)(i)?;
        match t[0] {
            b'+' => self.line_span(i).map(|(i, s)| (i, Raw::Simple(s))),
            b'-' => self.line_span(i).map(|(i, s)| (i, Raw::Error(s))),
            b':' => {
                let (i, l) = self.line(i)?;
                match parse_signed(l) {
                    Some(n) => Ok((i, Raw::Integer(n))),
                    None => fail(DecodeError::InvalidInteger),
                }
            }
            b'$' => match self.length(i)? {
                (i, None) => Ok((i, Raw::Null)),
                (i, Some(n)) => self.payload(i, n).map(|(i, s)| (i, Raw::Bulk(s))),
            },
            b'!' => match self.length(i)? {
                (_, None) => fail(DecodeError::InvalidLength),
                (i, Some(n)) => self.payload(i, n).map(|(i, s)| (i, Raw::Error(s))),
            },
            b'=' => match self.length(i)? {
                (i, Some(n)) if n >= 4 => {
                    let (rest, (s, e)) = self.payload(i, n)?;
                    let fmt = &i[..4];
                    if fmt[3] != b':' {
                        return fail(DecodeError::InvalidVerbatim);
                    }
                    let format = [fmt[0], fmt[1], fmt[2]];
                    Ok((
                        rest,
                        Raw::Verbatim {
                            format,
                            text: (s + 4, e),
                        },
                    ))
                }
                _ => fail(DecodeError::InvalidVerbatim),
            },
            b'*' => match self.length(i)? {
                (i, None) => Ok((i, Raw::NullArray)),
                (i, Some(n)) => {
                    let Ok(n) = usize::try_from(n) else {
                        return fail(DecodeError::InvalidLength);
                    };
                    self.items(i, n, depth).map(|(i, v)| (i, Raw::Array(v)))
                }
            },
            b'~' => {
                let (i, n) = self.count(i)?;
                self.items(i, n, depth).map(|(i, v)| (i, Raw::Set(v)))
            }
            b'>' => {
                let (i, n) = self.count(i)?;
                self.items(i, n, depth).map(|(i, v)| (i, Raw::Push(v)))
            }
            b'%' => {
                let (i, n) = self.count(i)?;
                self.pairs(i, n, depth).map(|(i, v)| (i, Raw::Map(v)))
            }
            b'|' => {
                let (i, n) = self.count(i)?;
                let (i, attrs) = self.pairs(i, n, depth)?;
                let (i, value) = self.value(i, depth + 1)?;
                Ok((
                    i,
                    Raw::Attribute {
                        attrs,
                        value: Box::new(value),
                    },
                ))
            }
            b'_' => {
                let (i, l) = self.line(i)?;
                if !l.is_empty() {
                    return fail(DecodeError::InvalidNull);
                }
                Ok((i, Raw::Null))
            }
            b',' => {
                let (i, l) = self.line(i)?;
                match parse_double(l) {
                    Some(d) => Ok((i, Raw::Double(d))),
                    None => fail(DecodeError::InvalidDouble),
                }
            }
            b'#' => {
                let (i, l) = self.line(i)?;
                match l {
                    b"t" => Ok((i, Raw::Boolean(true))),
                    b"f" => Ok((i, Raw::Boolean(false))),
                    _ => fail(DecodeError::InvalidBoolean),
                }
            }
            b'(' => {
                let (rest, (s, e)) = self.line_span(i)?;
                let digits = &i[..e - s];
                let body = match digits.first() {
                    Some(b'-' | b'+') => &digits[1..],
                    _ => digits,
                };
                if body.is_empty() || !body.iter().all(u8::is_ascii_digit) {
                    return fail(DecodeError::InvalidBigNumber);
                }
                Ok((rest, Raw::BigNumber((s, e))))
            }
            other => fail(DecodeError::InvalidTypeByte(char::from(other))),
        }
    }
}

/// Run the parser over `input`.
fn parse_raw(input: &[u8], limits: &DecodeLimits) -> Result<Parsed<Raw>, DecodeError> {
    let p = ValueParser {
        total: input.len(),
        limits: *limits,
    };
    match p.value(input, 1) {
        Ok((rest, raw)) => Ok(Parsed::Complete {
            value: raw,
            consumed: input.len() - rest.len(),
        }),
        Err(nom::Err::Incomplete(n)) => Ok(Parsed::Incomplete(match n {
            nom::Needed::Unknown => Needed::Unknown,
            nom::Needed::Size(s) => Needed::Size(s.get()),
        })),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(match e {
            PError::Decode(d) => d,
            PError::Nom => DecodeError::ExpectedCrlf,
        }),
    }
}

/// Parse one value from the front of `input`, copying payloads.
pub fn parse_value(input: &[u8]) -> Result<Parsed<Value>, DecodeError> {
    parse_value_with(input, &DecodeLimits::default())
}

/// [`parse_value`] with explicit limits.
pub fn parse_value_with(input: &[u8], limits: &DecodeLimits) -> Result<Parsed<Value>, DecodeError> {
    Ok(match parse_raw(input, limits)? {
        Parsed::Complete { value, consumed } => Parsed::Complete {
            value: value.build(&|(s, e)| Bytes::copy_from_slice(&input[s..e])),
            consumed,
        },
        Parsed::Incomplete(n) => Parsed::Incomplete(n),
    })
}

/// Parse one value from the front of `input`; payloads are slices of `input` (zero-copy).
pub fn parse_value_bytes(input: &Bytes) -> Result<Parsed<Value>, DecodeError> {
    Ok(match parse_raw(input, &DecodeLimits::default())? {
        Parsed::Complete { value, consumed } => Parsed::Complete {
            value: value.build(&|(s, e)| input.slice(s..e)),
            consumed,
        },
        Parsed::Incomplete(n) => Parsed::Incomplete(n),
    })
}

/// Decode one value from the front of `buf`, splitting its bytes off.
///
/// `Ok(None)` means the buffer ends inside a value: nothing is consumed; read
/// more and call again. Payloads are zero-copy slices of the consumed bytes.
pub fn decode_value(buf: &mut BytesMut) -> Result<Option<Value>, DecodeError> {
    decode_value_with(buf, &DecodeLimits::default())
}

/// [`decode_value`] with explicit limits.
pub fn decode_value_with(
    buf: &mut BytesMut,
    limits: &DecodeLimits,
) -> Result<Option<Value>, DecodeError> {
    Ok(decode_raw(buf, limits)?.map(|(v, _)| v))
}

/// Like [`decode_value`], also returning the value's exact wire bytes (e.g. to
/// forward a master's stream to sub-replicas without re-encoding it).
pub fn decode_value_raw(buf: &mut BytesMut) -> Result<Option<(Value, Bytes)>, DecodeError> {
    decode_raw(buf, &DecodeLimits::default())
}

fn decode_raw(
    buf: &mut BytesMut,
    limits: &DecodeLimits,
) -> Result<Option<(Value, Bytes)>, DecodeError> {
    match parse_raw(buf, limits)? {
        Parsed::Incomplete(_) => Ok(None),
        Parsed::Complete { value, consumed } => {
            let chunk = buf.split_to(consumed).freeze();
            let v = value.build(&|(s, e)| chunk.slice(s..e));
            Ok(Some((v, chunk)))
        }
    }
}

/// Longest header line accepted by [`parse_rdb_bulk_header`] (Redis reads it into a 1024-byte buffer).
const RDB_HEADER_MAX_LINE: usize = 1024;

/// Parse the full-sync payload header at the front of `input`.
///
/// Empty lines before it (the newlines a master sends as keepalives while it
/// prepares the RDB) are skipped and counted in the consumed length. Returns
/// `Ok(None)` while the header line is incomplete, otherwise the header and
/// the number of bytes up to and including its line end. A `-ERR ...` line
/// gives [`DecodeError::MasterError`]; any other non-`$` line gives
/// [`DecodeError::BadBulkHeader`].
pub fn parse_rdb_bulk_header(input: &[u8]) -> Result<Option<(RdbBulkHeader, usize)>, DecodeError> {
    let mut pos = 0;
    loop {
        let rest = &input[pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() >= RDB_HEADER_MAX_LINE {
                return Err(DecodeError::LineTooLong);
            }
            return Ok(None);
        };
        if nl >= RDB_HEADER_MAX_LINE {
            return Err(DecodeError::LineTooLong);
        }
        let line = match rest[..nl].strip_suffix(b"\r") {
            Some(l) => l,
            None => &rest[..nl],
        };
        pos += nl + 1;
        match line.split_first() {
            None => continue,
            Some((b'-', msg)) => {
                return Err(DecodeError::MasterError(
                    String::from_utf8_lossy(msg).into_owned(),
                ))
            }
            Some((b'$', body)) => {
                if let Some(mark) = body.strip_prefix(b"EOF:") {
                    if let Some(mark) = mark.get(..40) {
                        let mut m = [0u8; 40];
                        m.copy_from_slice(mark);
                        return Ok(Some((RdbBulkHeader::Eof(m), pos)));
                    }
                }
                if body.is_empty() || body.len() > 19 || !body.iter().all(u8::is_ascii_digit) {
                    return Err(DecodeError::InvalidLength);
                }
                let len = body
                    .iter()
                    .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
                return Ok(Some((RdbBulkHeader::Len(len), pos)));
            }
            Some(_) => {
                return Err(DecodeError::BadBulkHeader(
                    String::from_utf8_lossy(line).into_owned(),
                ))
            }
        }
    }
}
