//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST.
//!
//! The value is an ordinary string holding Redis's exact HyperLogLog bytes ([`hll`]), so
//! GET, DUMP, replication and RDB carry it unchanged between Tandem and Redis. Handlers
//! follow `hyperloglog.c` of Redis 7.0.15: which lookups count keyspace hits, that a
//! PFCOUNT refreshing a stale cached cardinality is a write (`dirty`, propagated as is),
//! that every command working on an existing HyperLogLog leaves it a `raw` string
//! (`dbUnshareStringValue`), and the texts of the two HyperLogLog errors.

pub mod hll;

use crate::data::run;
use bytes::Bytes;
use tandem_keyspace::{Expiry, StrValue, Value};

use super::{notify, ExecCtx, Handler};

/// The error replies of the HyperLogLog commands, spelled as Redis 7.0.15 spells them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HllError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    Corrupt,
    #[error("ERR The specified key does not exist")]
    NoKey,
    #[error("ERR HLL encoding is not sparse")]
    NotSparse,
    #[error("ERR Unknown PFDEBUG subcommand '{0}'")]
    UnknownSub(String),
    #[error("ERR TESTFAILED {0}")]
    TestFailed(String),
}

impl From<hll::Corrupt> for HllError {
    fn from(_: hll::Corrupt) -> HllError {
        HllError::Corrupt
    }
}

/// The handler of a command of this family, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "pfadd" => |c, a| run(c, a, pfadd),
        "pfcount" => |c, a| run(c, a, pfcount),
        "pfmerge" => |c, a| run(c, a, pfmerge),
        "pfdebug" => |c, a| run(c, a, pfdebug),
        "pfselftest" => |c, a| run(c, a, pfselftest),
        _ => return None,
    };
    Some(h)
}

/// Names of the commands this module implements (for the registry).
pub const COMMANDS: &[&str] = &["pfadd", "pfcount", "pfdebug", "pfmerge", "pfselftest"];

// ---------------------------------------------------------------------------
// Lookups.

/// `isHLLObjectOrReply` on a value: the HyperLogLog bytes, or the error.
fn hll_bytes(v: &Value) -> Result<&Bytes, HllError> {
    match v {
        Value::String(StrValue::Bytes { data, .. }) if hll::is_hll(data) => Ok(data),
        Value::String(_) => Err(HllError::NotHll),
        _ => Err(HllError::WrongType),
    }
}

/// `lookupKeyRead` + `isHLLObjectOrReply`: counts a hit or a miss.
fn read_hll(ctx: &mut ExecCtx<'_, '_>, key: &[u8]) -> Result<Option<Bytes>, HllError> {
    match super::lookup_key_read(ctx.ks, ctx.stats, ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(v) => hll_bytes(v).map(|b| Some(b.clone())),
    }
}

/// An existing key's HyperLogLog taken out for modification (`lookupKeyWrite` +
/// `isHLLObjectOrReply` + `dbUnshareStringValue`); put it back with [`store`].
fn take_hll(ctx: &mut ExecCtx<'_, '_>, key: &[u8]) -> Result<Option<Vec<u8>>, HllError> {
    match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(v) => {
            hll_bytes(v)?;
            match std::mem::replace(v, Value::String(StrValue::Int(0))) {
                Value::String(StrValue::Bytes { data, .. }) => Ok(Some(Vec::from(data))),
                other => {
                    *v = other;
                    Err(HllError::NotHll)
                }
            }
        }
    }
}

/// Puts a HyperLogLog back into an existing key, as a `raw` string (its TTL is kept).
fn store(ctx: &mut ExecCtx<'_, '_>, key: &[u8], s: Vec<u8>) {
    let value = StrValue::Bytes {
        data: Bytes::from(s),
        embstr: false,
    };
    if let Some(v) = ctx.ks.get_mut(ctx.db, key, ctx.now) {
        *v = Value::String(value);
    }
}

/// Creates `key` holding `s` (a new HyperLogLog, `raw`, no TTL).
fn create(ctx: &mut ExecCtx<'_, '_>, key: &[u8], s: Vec<u8>) {
    let value = Value::String(StrValue::Bytes {
        data: Bytes::from(s),
        embstr: false,
    });
    ctx.ks
        .set(ctx.db, Bytes::copy_from_slice(key), value, Expiry::Clear);
}

/// Records a change to `key`: `server.dirty += n` and the WATCH signal.
fn changed(ctx: &mut ExecCtx<'_, '_>, key: &[u8], n: u64) {
    ctx.dirty += n;
    ctx.ks.touch_modified(ctx.db, key);
}

// ---------------------------------------------------------------------------
// Commands.

/// PFADD key [element ...]
fn pfadd(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HllError> {
    let key = &args[1];
    let max_bytes = ctx.settings.hll_sparse_max_bytes;
    let (mut s, mut updated, existed) = match take_hll(ctx, key)? {
        Some(s) => (s, 0u64, true),
        None => (hll::new_sparse(), 1u64, false),
    };
    let mut failed = false;
    for ele in &args[2..] {
        match hll::add(&mut s, ele, max_bytes) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    if !failed && updated > 0 {
        hll::invalidate(&mut s);
    }
    if existed {
        store(ctx, key, s);
    } else {
        create(ctx, key, s);
    }
    if failed {
        return Err(HllError::Corrupt);
    }
    if updated > 0 {
        changed(ctx, key, updated);
        ctx.notify(notify::STRING, "pfadd", key);
    }
    ctx.enc.integer(i64::from(updated > 0));
    Ok(())
}

/// PFCOUNT key [key ...]
fn pfcount(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HllError> {
    if args.len() > 2 {
        let mut max = vec![0u8; hll::REGISTERS];
        for key in &args[1..] {
            let Some(s) = read_hll(ctx, key)? else {
                continue;
            };
            hll::merge(&mut max, &s)?;
        }
        ctx.enc.integer(hll::count_raw(&max) as i64);
        return Ok(());
    }
    let key = &args[1];
    let Some(s) = read_hll(ctx, key)? else {
        ctx.enc.integer(0);
        return Ok(());
    };
    let embstr = matches!(
        ctx.ks.peek(ctx.db, key, ctx.now),
        Some(Value::String(StrValue::Bytes { embstr: true, .. }))
    );
    if let Some(card) = hll::cached(&s) {
        if embstr {
            // dbUnshareStringValue still turns it into a raw string.
            store(ctx, key, s.to_vec());
        }
        ctx.enc.integer(card as i64);
        return Ok(());
    }
    let mut s = take_hll(ctx, key)?.unwrap_or_else(|| s.to_vec());
    let card = match hll::count(&s) {
        Ok(c) => c,
        Err(e) => {
            store(ctx, key, s);
            return Err(e.into());
        }
    };
    hll::set_cached(&mut s, card);
    store(ctx, key, s);
    changed(ctx, key, 1);
    ctx.enc.integer(card as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]
fn pfmerge(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HllError> {
    let mut max = vec![0u8; hll::REGISTERS];
    let mut use_dense = false;
    for key in &args[1..] {
        let Some(s) = read_hll(ctx, key)? else {
            continue;
        };
        if hll::encoding(&s) == hll::DENSE {
            use_dense = true;
        }
        hll::merge(&mut max, &s)?;
    }
    let key = &args[1];
    let (mut s, existed) = match take_hll(ctx, key)? {
        Some(s) => (s, true),
        None => (hll::new_sparse(), false),
    };
    let mut result = Ok(());
    if use_dense {
        result = hll::sparse_to_dense(&mut s);
    }
    if result.is_ok() {
        let max_bytes = ctx.settings.hll_sparse_max_bytes;
        for (j, &m) in max.iter().enumerate() {
            if m != 0 {
                // The destination was validated as a source: errors cannot happen here
                // (Redis ignores the result too).
                let _ = hll::set_register(&mut s, j, m, max_bytes);
            }
        }
        hll::invalidate(&mut s);
    }
    if existed {
        store(ctx, key, s);
    } else {
        create(ctx, key, s);
    }
    result?;
    changed(ctx, key, 1);
    // PFMERGE is announced as a PFADD, as in Redis.
    ctx.notify(notify::STRING, "pfadd", key);
    ctx.enc.ok();
    Ok(())
}

/// PFDEBUG <GETREG|DECODE|ENCODING|TODENSE> key
fn pfdebug(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), HllError> {
    let key = &args[2];
    let Some(mut s) = take_hll(ctx, key)? else {
        return Err(HllError::NoKey);
    };
    let sub = cstr(&args[1]);
    let result = pfdebug_sub(ctx, sub, &mut s);
    store(ctx, key, s);
    result
}

fn pfdebug_sub(ctx: &mut ExecCtx<'_, '_>, sub: &[u8], s: &mut Vec<u8>) -> Result<(), HllError> {
    if sub.eq_ignore_ascii_case(b"getreg") {
        if hll::encoding(s) == hll::SPARSE {
            hll::sparse_to_dense(s)?;
            ctx.dirty += 1;
        }
        let r = &s[hll::HDR_SIZE..];
        ctx.enc.array_len(hll::REGISTERS);
        for i in 0..hll::REGISTERS {
            ctx.enc.integer(i64::from(hll::dense_get(r, i)));
        }
    } else if sub.eq_ignore_ascii_case(b"decode") {
        if hll::encoding(s) != hll::SPARSE {
            return Err(HllError::NotSparse);
        }
        ctx.enc.bulk(hll::decode_text(s).as_bytes());
    } else if sub.eq_ignore_ascii_case(b"encoding") {
        let name: &[u8] = if hll::encoding(s) == hll::DENSE {
            b"dense"
        } else {
            b"sparse"
        };
        ctx.enc.simple(name);
    } else if sub.eq_ignore_ascii_case(b"todense") {
        let mut conv = false;
        if hll::encoding(s) == hll::SPARSE {
            hll::sparse_to_dense(s)?;
            conv = true;
            ctx.dirty += 1;
        }
        ctx.enc.integer(i64::from(conv));
    } else {
        return Err(HllError::UnknownSub(
            String::from_utf8_lossy(sub).into_owned(),
        ));
    }
    Ok(())
}

/// An argument as C code sees it: up to its first NUL byte.
fn cstr(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&c| c == 0) {
        Some(i) => &arg[..i],
        None => arg,
    }
}

/// PFSELFTEST: checks the dense register access and that sparse and dense agree and
/// stay within the expected error, as Redis's self test does.
fn pfselftest(ctx: &mut ExecCtx<'_, '_>, _args: &[Bytes]) -> Result<(), HllError> {
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15 ^ ctx.now as u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Test 1: register access.
    let mut regs = vec![0u8; hll::DENSE_SIZE - hll::HDR_SIZE];
    let mut bytes = vec![0u8; hll::REGISTERS];
    for _ in 0..1000 {
        for (i, b) in bytes.iter_mut().enumerate() {
            let r = (next() & 63) as u8;
            *b = r;
            hll::dense_set(&mut regs, i, r);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let v = hll::dense_get(&regs, i);
            if v != b {
                return Err(HllError::TestFailed(format!(
                    "Register {i} should be {b} but is {v}"
                )));
            }
        }
    }
    // Test 2: approximation error, dense and sparse side by side.
    let mut dense = hll::new_sparse();
    hll::sparse_to_dense(&mut dense)?;
    let mut sparse = hll::new_sparse();
    let max_bytes = ctx.settings.hll_sparse_max_bytes;
    let relerr = 1.04 / (hll::REGISTERS as f64).sqrt();
    let seed = next();
    let mut checkpoint: u64 = 1;
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        hll::add(&mut dense, &ele, max_bytes)?;
        hll::add(&mut sparse, &ele, max_bytes)?;
        if j != checkpoint {
            continue;
        }
        if (j as usize) < max_bytes / 2 && hll::encoding(&sparse) != hll::SPARSE {
            return Err(HllError::TestFailed("sparse encoding not used".into()));
        }
        let card = hll::count(&dense)?;
        if card != hll::count(&sparse)? {
            return Err(HllError::TestFailed("dense/sparse disagree".into()));
        }
        let abserr = checkpoint.abs_diff(card);
        let mut maxerr = (relerr * 6.0 * checkpoint as f64).ceil() as u64;
        if j == 10 {
            maxerr = 1;
        }
        if abserr > maxerr {
            return Err(HllError::TestFailed(format!(
                "Too big error. card:{checkpoint} abserr:{abserr}"
            )));
        }
        checkpoint *= 10;
    }
    ctx.enc.ok();
    Ok(())
}
