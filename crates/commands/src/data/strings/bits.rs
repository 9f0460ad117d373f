//! Bitmaps: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO.
//!
//! Bit 0 is the most significant bit of the first byte. Writers grow the string with
//! zero bytes as needed and leave it `raw`; SETBIT and BITFIELD count a change (and
//! so propagate) only when a bit or the length actually changed (7.0's rule).
//! BITFIELD's overflow arithmetic (WRAP, SAT, FAIL) follows Redis's
//! `check{Signed,Unsigned}BitfieldOverflow` exactly, quirks included (SET of a
//! negative value into an unsigned field counts as an overflow).

use bytes::{Bytes, BytesMut};
use tandem_keyspace::{Expiry, FreeMode, Keyspace, Millis, StrValue, Value};
use tandem_resp::num::string2ll;

use super::{
    changed, clamp_range, cstr, is_opt, new_raw, parse_i64, read_str, str_bytes, with_raw, StrError,
};
use crate::data::{notify, DataSettings, ExecCtx};

/// `getBitOffsetFromArgument`: a bit offset, optionally `#n` (times `bits`) for BITFIELD.
fn bit_offset(settings: &DataSettings, arg: &[u8], hash: bool, bits: u32) -> Result<u64, StrError> {
    let usehash = hash && bits > 0 && arg.first() == Some(&b'#');
    let digits = if usehash { &arg[1..] } else { arg };
    let mut off = string2ll(digits).ok_or(StrError::BitOffset)?;
    if usehash {
        off = off.wrapping_mul(i64::from(bits));
    }
    if off < 0 || (!settings.replica_mode && (off >> 3) >= settings.proto_max_bulk_len) {
        return Err(StrError::BitOffset);
    }
    Ok(off as u64)
}

/// `lookupStringForBitCommand` without the growing: the string value to write,
/// created (empty, to be grown by the caller) when missing. Returns whether it was created.
fn string_for_bits<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &Bytes,
    now: Millis,
) -> Result<(bool, &'k mut StrValue), StrError> {
    let created = match ks.get_mut(db, key, now) {
        None => true,
        Some(Value::String(_)) => false,
        Some(_) => return Err(StrError::WrongType),
    };
    if created {
        let v = Value::String(new_raw(Bytes::new()));
        ks.set(db, key, v, Expiry::Clear);
    }
    match ks.get_mut(db, key, now) {
        Some(Value::String(sv)) => Ok((created, sv)),
        _ => Err(StrError::WrongType),
    }
}

/// Grows `buf` with zero bytes so that bit `maxbit` exists; true if the length changed.
fn grow_for_bit(buf: &mut BytesMut, maxbit: u64) -> bool {
    let need = (maxbit >> 3) as usize + 1;
    if buf.len() < need {
        buf.resize(need, 0);
        true
    } else {
        false
    }
}

/// SETBIT key offset value
pub(super) fn setbit(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let key = &args[1];
    let off = bit_offset(ctx.settings, &args[2], false, 0)?;
    let on = parse_i64(&args[3]).map_err(|_| StrError::BitValue)?;
    if on & !1 != 0 {
        return Err(StrError::BitValue);
    }
    let (created, sv) = string_for_bits(ctx.ks, ctx.db, key, ctx.now)?;
    let byte = (off >> 3) as usize;
    let shift = 7 - (off & 7) as u32;
    let (old, dirty) = with_raw(sv, |buf| {
        let grown = grow_for_bit(buf, off);
        let old = (buf[byte] >> shift) & 1 == 1;
        let dirty = created || grown || old != (on == 1);
        if dirty {
            buf[byte] = (buf[byte] & !(1 << shift)) | ((on as u8) << shift);
        }
        (old, dirty)
    });
    if dirty {
        changed(ctx, key, 1);
        ctx.notify(notify::STRING, "setbit", key);
    }
    ctx.enc.integer(i64::from(old));
    Ok(())
}

/// GETBIT key offset
pub(super) fn getbit(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let off = bit_offset(ctx.settings, &args[2], false, 0)?;
    let Some(v) = read_str(ctx, &args[1])? else {
        ctx.enc.integer(0);
        return Ok(());
    };
    let s = str_bytes(&v);
    let byte = (off >> 3) as usize;
    let bit = s.get(byte).is_some_and(|b| (b >> (7 - (off & 7))) & 1 == 1);
    ctx.enc.integer(i64::from(bit));
    Ok(())
}

fn popcount(s: &[u8]) -> i64 {
    let mut chunks = s.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from(u64::from_ne_bytes(w).count_ones());
    }
    for b in chunks.remainder() {
        n += u64::from(b.count_ones());
    }
    n as i64
}

/// Parses `BYTE|BIT`; true for BIT.
fn unit_is_bit(arg: &[u8]) -> Result<bool, StrError> {
    if is_opt(arg, "bit") {
        Ok(true)
    } else if is_opt(arg, "byte") {
        Ok(false)
    } else {
        Err(StrError::Syntax)
    }
}

/// Masks of the bits outside a bit range in its first and last byte.
fn edge_masks(start: i64, end: i64) -> (u8, u8) {
    let first = !((1u32 << (8 - (start & 7))) - 1) as u8;
    let last = ((1u32 << (7 - (end & 7))) - 1) as u8;
    (first, last)
}

/// BITCOUNT key [start end [BYTE|BIT]]
pub(super) fn bitcount(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let Some(v) = read_str(ctx, &args[1])? else {
        ctx.enc.integer(0);
        return Ok(());
    };
    let p = str_bytes(&v);
    let strlen = p.len() as i64;
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    let (start, end);
    if args.len() == 4 || args.len() == 5 {
        let mut totlen = strlen;
        let mut s = parse_i64(&args[2])?;
        let mut e = parse_i64(&args[3])?;
        if s < 0 && e < 0 && s > e {
            ctx.enc.integer(0);
            return Ok(());
        }
        let isbit = if args.len() == 5 {
            unit_is_bit(&args[4])?
        } else {
            false
        };
        if isbit {
            totlen <<= 3;
        }
        (s, e) = clamp_range(s, e, totlen);
        if isbit && s <= e {
            (first_mask, last_mask) = edge_masks(s, e);
            s >>= 3;
            e >>= 3;
        }
        start = s;
        end = e;
    } else if args.len() == 2 {
        start = 0;
        end = strlen - 1;
    } else {
        return Err(StrError::Syntax);
    }
    if start > end {
        ctx.enc.integer(0);
        return Ok(());
    }
    let (s, e) = (start as usize, end as usize);
    let mut count = popcount(&p[s..=e]);
    if first_mask != 0 || last_mask != 0 {
        let mut edges = [0u8; 2];
        if first_mask != 0 {
            edges[0] = p[s] & first_mask;
        }
        if last_mask != 0 {
            edges[1] = p[e] & last_mask;
        }
        count -= popcount(&edges);
    }
    ctx.enc.integer(count);
    Ok(())
}

/// `redisBitpos`: the first bit equal to `bit` in `s`; when there is none, -1 for
/// a set bit and `8 * len` for a clear one (the string is zero padded on the right).
fn first_bit(s: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0u8 } else { 0xff };
    match s.iter().position(|&b| b != skip) {
        None if bit => -1,
        None => (s.len() as i64) * 8,
        Some(i) => {
            let b = s[i];
            let lead = if bit {
                b.leading_zeros()
            } else {
                b.leading_ones()
            };
            (i as i64) * 8 + i64::from(lead)
        }
    }
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
pub(super) fn bitpos(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let bit = parse_i64(&args[2])?;
    if bit != 0 && bit != 1 {
        return Err(StrError::BitArgument);
    }
    let bit = bit == 1;
    let Some(v) = read_str(ctx, &args[1])? else {
        ctx.enc.integer(if bit { -1 } else { 0 });
        return Ok(());
    };
    let p = str_bytes(&v);
    let strlen = p.len() as i64;
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    let mut end_given = false;
    let (mut start, mut end);
    let argc = args.len();
    if (4..=6).contains(&argc) {
        let mut totlen = strlen;
        start = parse_i64(&args[3])?;
        let isbit = if argc == 6 {
            unit_is_bit(&args[5])?
        } else {
            false
        };
        if argc >= 5 {
            end = parse_i64(&args[4])?;
            end_given = true;
        } else if isbit {
            end = (totlen << 3) + 7;
        } else {
            end = totlen - 1;
        }
        if isbit {
            totlen <<= 3;
        }
        (start, end) = clamp_range(start, end, totlen);
        if isbit && start <= end {
            (first_mask, last_mask) = edge_masks(start, end);
            start >>= 3;
            end >>= 3;
        }
    } else if argc == 3 {
        start = 0;
        end = strlen - 1;
    } else {
        return Err(StrError::Syntax);
    }
    if start > end {
        ctx.enc.integer(-1);
        return Ok(());
    }
    let mut bytes = end - start + 1;
    let pos = 'found: {
        if first_mask != 0 {
            let mut c = if bit {
                p[start as usize] & !first_mask
            } else {
                p[start as usize] | first_mask
            };
            if last_mask != 0 && bytes == 1 {
                c = if bit { c & !last_mask } else { c | last_mask };
            }
            let pos = first_bit(&[c], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'found pos;
            }
            start += 1;
            bytes -= 1;
        }
        let cur = bytes - i64::from(last_mask != 0);
        if cur > 0 {
            let s = start as usize;
            let pos = first_bit(&p[s..s + cur as usize], bit);
            if bytes == cur || (pos != -1 && pos != cur << 3) {
                break 'found pos;
            }
            start += cur;
            bytes -= cur;
        }
        let c = if bit {
            p[end as usize] & !last_mask
        } else {
            p[end as usize] | last_mask
        };
        first_bit(&[c], bit)
    };
    if end_given && !bit && pos == bytes << 3 {
        ctx.enc.integer(-1);
        return Ok(());
    }
    ctx.enc
        .integer(if pos != -1 { pos + (start << 3) } else { pos });
    Ok(())
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
pub(super) fn bitop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let name = &args[1];
    let op = if is_opt(name, "and") {
        Op::And
    } else if is_opt(name, "or") {
        Op::Or
    } else if is_opt(name, "xor") {
        Op::Xor
    } else if is_opt(name, "not") {
        Op::Not
    } else {
        return Err(StrError::Syntax);
    };
    if op == Op::Not && args.len() != 4 {
        return Err(StrError::BitopNot);
    }
    let target = &args[2];
    let mut srcs: Vec<Bytes> = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        srcs.push(
            read_str(ctx, key)?
                .map(|v| str_bytes(&v))
                .unwrap_or_default(),
        );
    }
    let maxlen = srcs.iter().map(Bytes::len).max().unwrap_or(0);
    if maxlen > 0 {
        let mut res = vec![0u8; maxlen];
        for (j, out) in res.iter_mut().enumerate() {
            let at = |s: &Bytes| s.get(j).copied().unwrap_or(0);
            let mut o = at(&srcs[0]);
            match op {
                Op::Not => o = !o,
                Op::And => srcs[1..].iter().for_each(|s| o &= at(s)),
                Op::Or => srcs[1..].iter().for_each(|s| o |= at(s)),
                Op::Xor => srcs[1..].iter().for_each(|s| o ^= at(s)),
            }
            *out = o;
        }
        let v = Value::String(new_raw(Bytes::from(res)));
        ctx.ks.set(ctx.db, target, v, Expiry::Clear);
        changed(ctx, target, 1);
        ctx.notify(notify::STRING, "set", target);
    } else {
        let mode = if ctx.ks.config().lazyfree_lazy_server_del {
            FreeMode::Async
        } else {
            FreeMode::Sync
        };
        if ctx.ks.delete(ctx.db, target, ctx.now, mode) {
            changed(ctx, target, 1);
            ctx.notify(notify::GENERIC, "del", target);
        }
    }
    ctx.enc.integer(maxlen as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// BITFIELD

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

#[derive(Clone, Copy, Debug)]
struct Field {
    offset: u64,
    value: i64,
    op: FieldOp,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

/// `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), StrError> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(StrError::BitfieldType),
    };
    let bits = string2ll(cstr(&arg[1..])).ok_or(StrError::BitfieldType)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(StrError::BitfieldType);
    }
    Ok((signed, bits as u32))
}

fn get_unsigned(p: &[u8], mut offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for _ in 0..bits {
        let byte = p[(offset >> 3) as usize];
        let bit = (byte >> (7 - (offset & 7))) & 1;
        v = (v << 1) | u64::from(bit);
        offset += 1;
    }
    v
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(p, offset, bits) as i64;
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v |= -1i64 << bits;
    }
    v
}

fn set_unsigned(p: &mut [u8], mut offset: u64, bits: u32, value: u64) {
    for j in 0..bits {
        let bitval = ((value >> (bits - 1 - j)) & 1) as u8;
        let byte = (offset >> 3) as usize;
        let shift = 7 - (offset & 7);
        p[byte] = (p[byte] & !(1 << shift)) | (bitval << shift);
        offset += 1;
    }
}

/// `checkUnsignedBitfieldOverflow`: (overflow direction, value to store when allowed).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > maxincr) {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            _ => max,
        };
        (1, limit)
    } else if incr < 0 && incr < minincr {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            _ => 0,
        };
        (-1, limit)
    } else {
        (0, 0)
    }
}

/// `checkSignedBitfieldOverflow`: (overflow direction, value to store when allowed).
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        (1, if ow == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        (-1, if ow == Overflow::Wrap { wrap() } else { min })
    } else {
        (0, 0)
    }
}

/// Reads a field from a string that may be shorter than the field (zero padded).
fn read_field(src: &[u8], f: &Field) -> i64 {
    let byte = f.offset >> 3;
    let mut buf = [0u8; 9];
    let start = usize::try_from(byte).unwrap_or(usize::MAX);
    for (i, b) in buf.iter_mut().enumerate() {
        match src.get(start.saturating_add(i)) {
            Some(&v) => *b = v,
            None => break,
        }
    }
    let off = f.offset - byte * 8;
    if f.signed {
        get_signed(&buf, off, f.bits)
    } else {
        get_unsigned(&buf, off, f.bits) as i64
    }
}

/// Executes a SET or INCRBY on `p`: the reply (None for a FAIL overflow) and whether
/// the stored bits changed.
fn write_field(p: &mut [u8], f: &Field) -> (Option<i64>, bool) {
    if f.signed {
        let old = get_signed(p, f.offset, f.bits);
        let (new, ret, overflow) = if f.op == FieldOp::IncrBy {
            let (ov, wrapped) = signed_overflow(old, f.value, f.bits, f.overflow);
            let new = if ov != 0 {
                wrapped
            } else {
                old.wrapping_add(f.value)
            };
            (new, new, ov)
        } else {
            let (ov, wrapped) = signed_overflow(f.value, 0, f.bits, f.overflow);
            (if ov != 0 { wrapped } else { f.value }, old, ov)
        };
        if overflow != 0 && f.overflow == Overflow::Fail {
            return (None, false);
        }
        set_unsigned(p, f.offset, f.bits, new as u64);
        (Some(ret), old != new)
    } else {
        let old = get_unsigned(p, f.offset, f.bits);
        let (new, ret, overflow) = if f.op == FieldOp::IncrBy {
            let (ov, wrapped) = unsigned_overflow(old, f.value, f.bits, f.overflow);
            let new = if ov != 0 {
                wrapped
            } else {
                old.wrapping_add(f.value as u64)
            };
            (new, new, ov)
        } else {
            let v = f.value as u64;
            let (ov, wrapped) = unsigned_overflow(v, 0, f.bits, f.overflow);
            (if ov != 0 { wrapped } else { v }, old, ov)
        };
        if overflow != 0 && f.overflow == Overflow::Fail {
            return (None, false);
        }
        set_unsigned(p, f.offset, f.bits, new);
        (Some(ret as i64), old != new)
    }
}

/// Redis's `bitfieldGeneric`.
fn bitfield_generic(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    readonly_cmd: bool,
) -> Result<(), StrError> {
    let mut fields: Vec<Field> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest: u64 = 0;
    let mut j = 2;
    while j < args.len() {
        let rem = args.len() - j - 1;
        let sub = &args[j];
        let op = if is_opt(sub, "get") && rem >= 2 {
            FieldOp::Get
        } else if is_opt(sub, "set") && rem >= 3 {
            FieldOp::Set
        } else if is_opt(sub, "incrby") && rem >= 3 {
            FieldOp::IncrBy
        } else if is_opt(sub, "overflow") && rem >= 1 {
            let t = &args[j + 1];
            overflow = if is_opt(t, "wrap") {
                Overflow::Wrap
            } else if is_opt(t, "sat") {
                Overflow::Sat
            } else if is_opt(t, "fail") {
                Overflow::Fail
            } else {
                return Err(StrError::OverflowType);
            };
            j += 2;
            continue;
        } else {
            return Err(StrError::Syntax);
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(ctx.settings, &args[j + 2], true, bits)?;
        let mut value = 0;
        if op != FieldOp::Get {
            readonly = false;
            highest = highest.max(offset + u64::from(bits) - 1);
            value = parse_i64(&args[j + 3])?;
        }
        fields.push(Field {
            offset,
            value,
            op,
            overflow,
            bits,
            signed,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }

    if readonly {
        let src = read_str(ctx, &args[1])?.map(|v| str_bytes(&v));
        ctx.enc.array_len(fields.len());
        for f in &fields {
            let v = read_field(src.as_deref().unwrap_or(&[]), f);
            ctx.enc.integer(v);
        }
        return Ok(());
    }
    if readonly_cmd {
        return Err(StrError::BitfieldReadOnly);
    }
    let key = &args[1];
    let (created, sv) = string_for_bits(ctx.ks, ctx.db, key, ctx.now)?;
    let (replies, changes) = with_raw(sv, |buf| {
        let grown = grow_for_bit(buf, highest);
        let dirty = created || grown;
        let mut changes = 0u64;
        let mut replies: Vec<Option<i64>> = Vec::with_capacity(fields.len());
        for f in &fields {
            if f.op == FieldOp::Get {
                replies.push(Some(read_field(buf, f)));
            } else {
                let (reply, differs) = write_field(buf, f);
                if reply.is_some() && (dirty || differs) {
                    changes += 1;
                }
                replies.push(reply);
            }
        }
        (replies, changes)
    });
    ctx.enc.array_len(replies.len());
    for r in replies {
        match r {
            Some(v) => ctx.enc.integer(v),
            None => ctx.enc.null(),
        }
    }
    if changes > 0 {
        changed(ctx, key, changes);
        ctx.notify(notify::STRING, "setbit", key);
    }
    Ok(())
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset incr]
/// [OVERFLOW WRAP|SAT|FAIL] ...
pub(super) fn bitfield(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    bitfield_generic(ctx, args, false)
}

/// BITFIELD_RO key [GET type offset] ...
pub(super) fn bitfield_ro(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    bitfield_generic(ctx, args, true)
}
