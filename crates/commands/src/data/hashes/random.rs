//! HRANDFIELD, following `hrandfieldCommand` / `hrandfieldWithCountCommand` of Redis 7.0.15:
//!
//! * no count: one random field as a bulk string (null for a missing key);
//! * a negative count: that many independent picks (fields may repeat);
//! * a positive count: that many distinct fields, or the whole hash when the count reaches
//!   its size (in the hash's order).
//!
//! With WITHVALUES a RESP2 reply is flat (field, value, ...), a RESP3 reply an array of
//! two-element arrays. Picks are uniform (a table is indexable in O(1)).

use std::cell::Cell;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;
use tandem_resp::num::string2ll;
use tandem_resp::Protocol;

use super::{read_hash, HashError};
use crate::data::ExecCtx;

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x6872_616e_6466_6c64);
        h.finish() | 1
    });
}

/// A uniformly random integer in `0..n` (`n > 0`), from a per-thread xorshift64* generator.
pub(crate) fn rand_below(n: usize) -> usize {
    let x = RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    });
    ((u128::from(x) * n as u128) >> 64) as usize
}

/// `count` distinct indexes below `size` (`count < size`), in random order.
fn sample_distinct(size: usize, count: usize) -> Vec<usize> {
    if count.saturating_mul(3) > size {
        // Partial Fisher-Yates shuffle.
        let mut idx: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = i + rand_below(size - i);
            idx.swap(i, j);
        }
        idx.truncate(count);
        idx
    } else {
        let mut seen = HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let i = rand_below(size);
            if seen.insert(i) {
                out.push(i);
            }
        }
        out
    }
}

/// Case-insensitive option match with `strcasecmp` semantics (up to the first NUL).
fn is_opt(arg: &[u8], name: &str) -> bool {
    let end = arg.iter().position(|&c| c == 0).unwrap_or(arg.len());
    arg[..end].eq_ignore_ascii_case(name.as_bytes())
}

/// HRANDFIELD key [count [WITHVALUES]]
pub(super) fn hrandfield(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HashError> {
    if args.len() >= 3 {
        let l = string2ll(&args[2]).ok_or(HashError::NotInteger)?;
        if l == i64::MIN {
            return Err(HashError::CountRange);
        }
        let withvalues = match args.len() {
            3 => false,
            4 if is_opt(&args[3], "withvalues") => true,
            _ => return Err(HashError::Syntax),
        };
        if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return Err(HashError::OutOfRange);
        }
        return with_count(ctx, &args[1], l, withvalues);
    }
    let h = read_hash(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?;
    match h.and_then(|h| h.pair_at(rand_below(h.len()))) {
        Some((f, _)) => ctx.enc.bulk(f),
        None => ctx.enc.null(),
    }
    Ok(())
}

/// One pick of a reply: the field, and its value with WITHVALUES (a pair array in RESP3).
fn emit(enc: &mut tandem_resp::Encoder<'_>, pair: Option<(&[u8], &Bytes)>, withvalues: bool) {
    let Some((f, v)) = pair else {
        return;
    };
    if withvalues && enc.proto == Protocol::Resp3 {
        enc.array_len(2);
    }
    enc.bulk(f);
    if withvalues {
        enc.bulk(v);
    }
}

fn with_count(
    ctx: &mut ExecCtx<'_, '_>,
    key: &[u8],
    l: i64,
    withvalues: bool,
) -> Result<(), HashError> {
    let Some(h) = read_hash(ctx.ks, ctx.stats, ctx.db, key, ctx.now)? else {
        ctx.enc.array_len(0);
        return Ok(());
    };
    let enc = &mut *ctx.enc;
    let flat = withvalues && enc.proto != Protocol::Resp3;
    let size = h.len();
    let uniq = l >= 0;
    let count = usize::try_from(l.unsigned_abs()).unwrap_or(usize::MAX);
    if count == 0 {
        enc.array_len(0);
        return Ok(());
    }
    // Independent picks: a negative count, or a single pick.
    if !uniq || count == 1 {
        enc.array_len(if flat { count * 2 } else { count });
        for _ in 0..count {
            emit(enc, h.pair_at(rand_below(size)), withvalues);
        }
        return Ok(());
    }
    let n = count.min(size);
    enc.array_len(if flat { n * 2 } else { n });
    if count >= size {
        for pair in h.iter() {
            emit(enc, Some(pair), withvalues);
        }
        return Ok(());
    }
    for i in sample_distinct(size, count) {
        emit(enc, h.pair_at(i), withvalues);
    }
    Ok(())
}
