//! Byte ranges of strings: APPEND, STRLEN, GETRANGE (and its old name SUBSTR),
//! SETRANGE, and LCS (longest common subsequence of two strings).
//!
//! APPEND and SETRANGE on an existing key turn it into a `raw` string (Redis's
//! `dbUnshareStringValue`) and refuse results longer than `proto-max-bulk-len`.

use bytes::Bytes;
use tandem_keyspace::{Expiry, Value};

use super::{
    changed, check_len, clamp_range, encode_arg, is_opt, new_raw, parse_i64, read_any, read_str,
    str_bytes, str_len, with_raw, write_str, StrError,
};
use crate::data::{notify, ExecCtx};

/// APPEND key value
pub(super) fn append(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let key = &args[1];
    let add = &args[2];
    let total = match write_str(ctx.ks, ctx.db, key, ctx.now)? {
        None => {
            let v = encode_arg(add);
            let len = str_len(&v);
            ctx.ks.set(ctx.db, key, Value::String(v), Expiry::Clear);
            len
        }
        Some(sv) => {
            check_len(ctx.settings, str_len(sv) as u64, add.len() as u64)?;
            with_raw(sv, |buf| {
                buf.extend_from_slice(add);
                buf.len()
            })
        }
    };
    changed(ctx, key, 1);
    ctx.notify(notify::STRING, "append", key);
    ctx.enc.integer(total as i64);
    Ok(())
}

/// STRLEN key
pub(super) fn strlen(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let len = read_str(ctx, &args[1])?.map_or(0, |v| str_len(&v));
    ctx.enc.integer(len as i64);
    Ok(())
}

/// GETRANGE key start end (also SUBSTR)
pub(super) fn getrange(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let mut start = parse_i64(&args[2])?;
    let mut end = parse_i64(&args[3])?;
    let Some(v) = read_str(ctx, &args[1])? else {
        ctx.enc.bulk(b"");
        return Ok(());
    };
    let s = str_bytes(&v);
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.enc.bulk(b"");
        return Ok(());
    }
    (start, end) = clamp_range(start, end, len);
    if start > end || len == 0 {
        ctx.enc.bulk(b"");
    } else {
        ctx.enc.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

/// SETRANGE key offset value
pub(super) fn setrange(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let key = &args[1];
    let value = &args[3];
    let offset = parse_i64(&args[2])?;
    if offset < 0 {
        return Err(StrError::OffsetRange);
    }
    let offset = offset as u64;
    let exists = match write_str(ctx.ks, ctx.db, key, ctx.now)? {
        None => {
            if value.is_empty() {
                ctx.enc.integer(0);
                return Ok(());
            }
            false
        }
        Some(sv) => {
            if value.is_empty() {
                let len = str_len(sv);
                ctx.enc.integer(len as i64);
                return Ok(());
            }
            true
        }
    };
    check_len(ctx.settings, offset, value.len() as u64)?;
    let off = offset as usize;
    let write = |buf: &mut bytes::BytesMut| {
        let need = off + value.len();
        if buf.len() < need {
            buf.resize(need, 0);
        }
        buf[off..need].copy_from_slice(value);
        buf.len()
    };
    let len = if exists {
        match write_str(ctx.ks, ctx.db, key, ctx.now)? {
            Some(sv) => with_raw(sv, write),
            None => 0,
        }
    } else {
        let mut buf = bytes::BytesMut::new();
        let len = write(&mut buf);
        let v = Value::String(new_raw(buf.freeze()));
        ctx.ks.set(ctx.db, key, v, Expiry::Clear);
        len
    };
    changed(ctx, key, 1);
    ctx.notify(notify::STRING, "setrange", key);
    ctx.enc.integer(len as i64);
    Ok(())
}

/// One match range of LCS IDX: positions in a, positions in b, length.
struct Match {
    a: (u32, u32),
    b: (u32, u32),
    len: u32,
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
pub(super) fn lcs(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), StrError> {
    let oa = read_any(ctx, &args[1]);
    let ob = read_any(ctx, &args[2]);
    if matches!(oa, Some(None)) || matches!(ob, Some(None)) {
        return Err(StrError::LcsWrongType);
    }
    let a = oa.flatten().map(|v| str_bytes(&v)).unwrap_or_default();
    let b = ob.flatten().map(|v| str_bytes(&v)).unwrap_or_default();
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        let more = args.len() - 1 - j;
        if is_opt(opt, "idx") {
            getidx = true;
        } else if is_opt(opt, "len") {
            getlen = true;
        } else if is_opt(opt, "withmatchlen") {
            withmatchlen = true;
        } else if is_opt(opt, "minmatchlen") && more > 0 {
            minmatchlen = parse_i64(&args[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(StrError::Syntax);
        }
        j += 1;
    }
    if getlen && getidx {
        return Err(StrError::LcsLenAndIdx);
    }
    if a.len() as u64 >= u64::from(u32::MAX - 1) || b.len() as u64 >= u64::from(u32::MAX - 1) {
        return Err(StrError::LcsTooLong);
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    let bytes_needed = cells.saturating_mul(4);
    if bytes_needed > u64::try_from(ctx.settings.proto_max_bulk_len).unwrap_or(0) {
        return Err(StrError::LcsTooMuchMemory);
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err(StrError::LcsAllocFailed);
    }
    table.resize(cells as usize, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for jj in 1..=blen {
            table[i * w + jj] = if a[i - 1] == b[jj - 1] {
                table[(i - 1) * w + jj - 1] + 1
            } else {
                table[(i - 1) * w + jj].max(table[i * w + jj - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    let compute = getidx || !getlen;
    let mut result = vec![0u8; if compute { total as usize } else { 0 }];
    let mut matches: Vec<Match> = Vec::new();
    let alen32 = alen as u32;
    let (mut ar_start, mut ar_end, mut br_start, mut br_end) = (alen32, 0u32, 0u32, 0u32);
    let (mut i, mut jj) = (alen, blen);
    let mut idx = total as usize;
    while compute && i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            if ar_start == alen32 {
                ar_start = (i - 1) as u32;
                ar_end = (i - 1) as u32;
                br_start = (jj - 1) as u32;
                br_end = (jj - 1) as u32;
            } else if ar_start == i as u32 && br_start == jj as u32 {
                ar_start -= 1;
                br_start -= 1;
            } else {
                emit = true;
            }
            if ar_start == 0 || br_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            let l1 = table[(i - 1) * w + jj];
            let l2 = table[i * w + jj - 1];
            if l1 > l2 {
                i -= 1;
            } else {
                jj -= 1;
            }
            if ar_start != alen32 {
                emit = true;
            }
        }
        let match_len = ar_end.wrapping_sub(ar_start).wrapping_add(1);
        if emit {
            if (minmatchlen == 0 || i64::from(match_len) >= minmatchlen) && getidx {
                matches.push(Match {
                    a: (ar_start, ar_end),
                    b: (br_start, br_end),
                    len: match_len,
                });
            }
            ar_start = alen32;
        }
    }
    if getidx {
        ctx.enc.map_len(2);
        ctx.enc.bulk(b"matches");
        ctx.enc.array_len(matches.len());
        for m in &matches {
            ctx.enc.array_len(if withmatchlen { 3 } else { 2 });
            ctx.enc.array_len(2);
            ctx.enc.integer(i64::from(m.a.0));
            ctx.enc.integer(i64::from(m.a.1));
            ctx.enc.array_len(2);
            ctx.enc.integer(i64::from(m.b.0));
            ctx.enc.integer(i64::from(m.b.1));
            if withmatchlen {
                ctx.enc.integer(i64::from(m.len));
            }
        }
        ctx.enc.bulk(b"len");
        ctx.enc.integer(i64::from(total));
    } else if getlen {
        ctx.enc.integer(i64::from(total));
    } else {
        ctx.enc.bulk(&result);
    }
    Ok(())
}
