//! nom 8 streaming parsers for the RDB primitives and for whole records.
//!
//! Every parser here is a *streaming* parser over `&[u8]`: when the input
//! ends too early it returns `Err::Incomplete(needed)` (consuming nothing),
//! so the [`crate::Decoder`] can wait for the next chunk and retry. Errors
//! use [`PErr`], which remembers how much input was left at the failure
//! point; the decoder turns that into an absolute byte offset.

use std::borrow::Cow;

use bytes::Bytes;
use nom::bytes::streaming::take;
use nom::error::{ErrorKind, ParseError};
use nom::number::streaming::{be_u32, be_u64, le_f32, le_f64, le_i16, le_i32, le_i64, u8};
use nom::IResult;

use crate::blob::{self, Elem};
use crate::lzf;
use crate::model::{module_type_name, ModuleOp, RdbValue};
use crate::num::{i64_text, parse_f64};

/// What went wrong inside a parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PKind {
    /// A nom combinator failed (only possible on malformed data).
    Nom(ErrorKind),
    /// Structurally invalid data.
    Corrupt(&'static str),
    /// Unknown opcode or object type.
    UnknownType(u8),
    /// A module value without its module.
    Module(u64),
    /// Not `REDIS` + 4 digits.
    BadMagic,
    /// Version outside 1..=11.
    Version(u32),
    /// CRC64 trailer mismatch: (stored, computed).
    Checksum(u64, u64),
    /// Diskless EOF mark mismatch.
    EofMark,
}

/// Parser error: the kind and how many input bytes remained where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PErr {
    pub remaining: usize,
    pub kind: PKind,
}

impl<'a> ParseError<&'a [u8]> for PErr {
    fn from_error_kind(input: &'a [u8], kind: ErrorKind) -> Self {
        PErr {
            remaining: input.len(),
            kind: PKind::Nom(kind),
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, PErr>;

/// Fail (unrecoverably) at `at` with a corruption reason.
pub(crate) fn corrupt<'a, T>(at: &'a [u8], reason: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Failure(PErr {
        remaining: at.len(),
        kind: PKind::Corrupt(reason),
    }))
}

pub(crate) fn fail<T>(at: &[u8], kind: PKind) -> PResult<'_, T> {
    Err(nom::Err::Failure(PErr {
        remaining: at.len(),
        kind,
    }))
}

/// A length prefix, or the kind of a special string encoding (`11xxxxxx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Len {
    Len(u64),
    Encoded(u8),
}

/// The RDB length encoding (section 2 of the format notes).
pub(crate) fn length_or_encoding(i: &[u8]) -> PResult<'_, Len> {
    let (rest, b) = u8(i)?;
    match b >> 6 {
        0 => Ok((rest, Len::Len(u64::from(b & 0x3F)))),
        1 => {
            let (rest, lo) = u8(rest)?;
            Ok((rest, Len::Len((u64::from(b & 0x3F) << 8) | u64::from(lo))))
        }
        2 => match b {
            0x80 => {
                let (rest, v) = be_u32(rest)?;
                Ok((rest, Len::Len(u64::from(v))))
            }
            0x81 => {
                let (rest, v) = be_u64(rest)?;
                Ok((rest, Len::Len(v)))
            }
            _ => corrupt(i, "unknown length encoding"),
        },
        _ => Ok((rest, Len::Encoded(b & 0x3F))),
    }
}

/// A plain length (an encoded-string marker here is corruption).
pub(crate) fn length(i: &[u8]) -> PResult<'_, u64> {
    match length_or_encoding(i)? {
        (rest, Len::Len(n)) => Ok((rest, n)),
        (_, Len::Encoded(_)) => {
            corrupt(i, "unexpected string encoding where a length was expected")
        }
    }
}

/// `take` with a 64-bit length.
pub(crate) fn take_len(i: &[u8], n: u64) -> PResult<'_, &[u8]> {
    match usize::try_from(n) {
        Ok(n) => take(n)(i),
        Err(_) => corrupt(i, "length does not fit in memory"),
    }
}

/// An RDB string: raw, INT8/16/32 (as decimal text) or LZF (decompressed).
pub(crate) fn string_cow(i: &[u8]) -> PResult<'_, Cow<'_, [u8]>> {
    let (rest, l) = length_or_encoding(i)?;
    match l {
        Len::Len(n) => {
            let (rest, s) = take_len(rest, n)?;
            Ok((rest, Cow::Borrowed(s)))
        }
        Len::Encoded(0) => {
            let (rest, v) = u8(rest)?;
            Ok((rest, Cow::Owned(i64_text(i64::from(v as i8)))))
        }
        Len::Encoded(1) => {
            let (rest, v) = le_i16(rest)?;
            Ok((rest, Cow::Owned(i64_text(i64::from(v)))))
        }
        Len::Encoded(2) => {
            let (rest, v) = le_i32(rest)?;
            Ok((rest, Cow::Owned(i64_text(i64::from(v)))))
        }
        Len::Encoded(3) => {
            let (rest, clen) = length(rest)?;
            let (rest, len) = length(rest)?;
            let (rest, data) = take_len(rest, clen)?;
            let Ok(len) = usize::try_from(len) else {
                return corrupt(i, "LZF length does not fit in memory");
            };
            match lzf::decompress(data, len) {
                Ok(v) => Ok((rest, Cow::Owned(v))),
                Err(_) => corrupt(i, "Invalid LZF compressed string"),
            }
        }
        Len::Encoded(_) => corrupt(i, "unknown RDB string encoding type"),
    }
}

/// An RDB string as `Bytes`.
pub(crate) fn string(i: &[u8]) -> PResult<'_, Bytes> {
    let (rest, s) = string_cow(i)?;
    Ok((rest, cow_bytes(s)))
}

pub(crate) fn cow_bytes(s: Cow<'_, [u8]>) -> Bytes {
    match s {
        Cow::Borrowed(b) => Bytes::copy_from_slice(b),
        Cow::Owned(v) => Bytes::from(v),
    }
}

/// Old ASCII double (type 3 scores).
pub(crate) fn ascii_double(i: &[u8]) -> PResult<'_, f64> {
    let (rest, l) = u8(i)?;
    match l {
        253 => Ok((rest, f64::NAN)),
        254 => Ok((rest, f64::INFINITY)),
        255 => Ok((rest, f64::NEG_INFINITY)),
        n => {
            let (rest, s) = take(usize::from(n))(rest)?;
            match parse_f64(s) {
                Some(v) => Ok((rest, v)),
                None => corrupt(i, "invalid ASCII double"),
            }
        }
    }
}

/// Binary double (type 5 scores).
pub(crate) fn binary_double(i: &[u8]) -> PResult<'_, f64> {
    le_f64(i)
}

/// A 16-byte big-endian stream ID (node keys, PEL ids).
pub(crate) fn raw_stream_id(i: &[u8]) -> PResult<'_, crate::StreamId> {
    let (rest, ms) = be_u64(i)?;
    let (rest, seq) = be_u64(rest)?;
    Ok((rest, crate::StreamId { ms, seq }))
}

/// Milliseconds, 8 bytes little endian.
pub(crate) fn millis(i: &[u8]) -> PResult<'_, i64> {
    le_i64(i)
}

/// Module opcodes up to and including the EOF opcode (0).
pub(crate) fn module_ops(mut i: &[u8]) -> PResult<'_, Vec<ModuleOp>> {
    let mut ops = Vec::new();
    loop {
        let at = i;
        let (rest, op) = length(i)?;
        let (rest, item) = match op {
            0 => return Ok((rest, ops)),
            1 => {
                let (r, v) = length(rest)?;
                (r, ModuleOp::SInt(v as i64))
            }
            2 => {
                let (r, v) = length(rest)?;
                (r, ModuleOp::UInt(v))
            }
            3 => {
                let (r, v) = le_f32(rest)?;
                (r, ModuleOp::Float(v))
            }
            4 => {
                let (r, v) = le_f64(rest)?;
                (r, ModuleOp::Double(v))
            }
            5 => {
                let (r, v) = string(rest)?;
                (r, ModuleOp::String(v))
            }
            _ => return corrupt(at, "unknown module serialization opcode"),
        };
        ops.push(item);
        i = rest;
    }
}

/// A module value of type 7: module id, then opcodes. With `keep == false`
/// it fails naming the module, as Redis does without the module loaded.
pub(crate) fn module_value(i: &[u8], keep: bool) -> PResult<'_, RdbValue> {
    let (rest, id) = length(i)?;
    if !keep {
        return fail(i, PKind::Module(id));
    }
    let (rest, ops) = module_ops(rest)?;
    let (name, version) = module_type_name(id);
    Ok((
        rest,
        RdbValue::Module(Box::new(crate::ModuleValue {
            module_id: id,
            name,
            version,
            ops,
        })),
    ))
}

/// Header: `REDIS` + 4 digits.
pub(crate) fn header(i: &[u8]) -> PResult<'_, u32> {
    let (rest, magic) = take(9usize)(i)?;
    if &magic[..5] != b"REDIS" {
        return fail(i, PKind::BadMagic);
    }
    let mut v = 0u32;
    for &d in &magic[5..] {
        if !d.is_ascii_digit() {
            return fail(i, PKind::BadMagic);
        }
        v = v * 10 + u32::from(d - b'0');
    }
    Ok((rest, v))
}

/// Sorted-set score held in a ziplist/listpack element.
fn elem_score(e: Elem<'_>) -> Option<f64> {
    match e {
        Elem::Int(v) => Some(v as f64),
        Elem::Str(s) => parse_f64(s),
    }
}

fn pairs(elems: Vec<Elem<'_>>) -> Result<Vec<(Bytes, Bytes)>, &'static str> {
    if elems.len() & 1 == 1 {
        return Err("odd number of elements in a hash blob");
    }
    Ok(elems
        .chunks_exact(2)
        .map(|c| (c[0].to_bytes(), c[1].to_bytes()))
        .collect())
}

fn zpairs(elems: Vec<Elem<'_>>) -> Result<Vec<(Bytes, f64)>, &'static str> {
    if elems.len() & 1 == 1 {
        return Err("odd number of elements in a sorted set blob");
    }
    elems
        .chunks_exact(2)
        .map(|c| {
            let score = elem_score(c[1]).ok_or("invalid score in a sorted set blob")?;
            if score.is_nan() {
                return Err("NaN score in a sorted set blob");
            }
            Ok((c[0].to_bytes(), score))
        })
        .collect()
}

/// Sort a zset by (score, member), as every Redis zset is ordered.
pub(crate) fn sort_zset(z: &mut [(Bytes, f64)]) {
    z.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
}

/// The value of a single-string object type (0 and every blob type).
pub(crate) fn blob_value(ty: u8, blob: &[u8]) -> Result<RdbValue, &'static str> {
    Ok(match ty {
        9 => RdbValue::Hash(
            blob::zipmap_pairs(blob)?
                .into_iter()
                .map(|(k, v)| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)))
                .collect(),
        ),
        10 => RdbValue::List(
            blob::ziplist_entries(blob)?
                .into_iter()
                .map(Elem::to_bytes)
                .collect(),
        ),
        11 => RdbValue::Set(
            blob::intset_values(blob)?
                .into_iter()
                .map(|v| Bytes::from(i64_text(v)))
                .collect(),
        ),
        12 => {
            let mut z = zpairs(blob::ziplist_entries(blob)?)?;
            sort_zset(&mut z);
            RdbValue::ZSet(z)
        }
        13 => RdbValue::Hash(pairs(blob::ziplist_entries(blob)?)?),
        16 => RdbValue::Hash(pairs(blob::listpack_entries(blob)?)?),
        17 => {
            let mut z = zpairs(blob::listpack_entries(blob)?)?;
            sort_zset(&mut z);
            RdbValue::ZSet(z)
        }
        20 => RdbValue::Set(
            blob::listpack_entries(blob)?
                .into_iter()
                .map(Elem::to_bytes)
                .collect(),
        ),
        _ => return Err("not a blob type"),
    })
}
