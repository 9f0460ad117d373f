//! SPOP and SRANDMEMBER, as Redis 7.0.15's `spopCommand`, `spopWithCountCommand` and
//! `srandmemberWithCountCommand`.
//!
//! The members drawn are random (tests compare only their number), but everything else is
//! Redis's: which strategy runs for a given count and size (it decides the encoding SPOP
//! leaves behind: the "keep the rest" strategy rebuilds the set from scratch, so a
//! `hashtable` of integers can become an `intset` again), the reply types (SPOP with a
//! count replies a set, SRANDMEMBER an array), and what SPOP propagates: `SREM key member`
//! per popped member (several become a MULTI/EXEC), or `DEL key` when the count covers the
//! whole set.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;
use tandem_keyspace::value::Member;
use tandem_keyspace::{SetValue, Value};

use super::algebra::{reply_set, union_of_one};
use super::{changed, db_delete, own, parse_long, reply_member, with_read_set, SetError};
use crate::data::{notify, ExecCtx};

/// Redis's `SPOP_MOVE_STRATEGY_MUL`.
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;
/// Redis's `SRANDMEMBER_SUB_STRATEGY_MUL`.
const SRANDMEMBER_SUB_STRATEGY_MUL: u64 = 3;

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x5e75_7e75);
        h.finish() | 1
    });
}

/// A uniform random number below `n` (`n > 0`): xorshift64*, seeded per thread.
pub(crate) fn rand_below(n: usize) -> usize {
    let r = RNG.with(|c| {
        let mut x = c.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        c.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    });
    // Multiply-shift: unbiased enough for any set size, no division.
    ((u128::from(r) * n as u128) >> 64) as usize
}

/// A random member of a non-empty set.
fn random_member(s: &SetValue) -> Option<Member<'_>> {
    s.member_at(rand_below(s.len()))
}

fn srem_cmd(key: &Bytes, member: Bytes) -> Vec<Bytes> {
    vec![Bytes::from_static(b"SREM"), own(key), member]
}

/// SPOP key [count]
pub(super) fn spop(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    match args.len() {
        2 => spop_one(ctx, &args[1]),
        3 => spop_count(ctx, &args[1], &args[2]),
        _ => Err(SetError::Syntax),
    }
}

fn spop_one(ctx: &mut ExecCtx<'_, '_>, key: &Bytes) -> Result<(), SetError> {
    let (member, emptied) = match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        None => {
            ctx.enc.null();
            return Ok(());
        }
        Some(Value::Set(s)) => {
            let at = rand_below(s.len().max(1));
            match s.remove_at(at) {
                Some(m) => (m, s.is_empty()),
                None => {
                    ctx.enc.null();
                    return Ok(());
                }
            }
        }
        Some(_) => return Err(SetError::WrongType),
    };
    ctx.prop.rewrite(vec![srem_cmd(key, member.clone())]);
    ctx.enc.bulk(&member);
    if emptied {
        db_delete(ctx, key);
    }
    changed(ctx, key, 1);
    ctx.notify(notify::SET, "spop", key);
    if emptied {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(())
}

fn spop_count(ctx: &mut ExecCtx<'_, '_>, key: &Bytes, count: &[u8]) -> Result<(), SetError> {
    let count = parse_long(count, SetError::NotPositive)?;
    if count < 0 {
        return Err(SetError::NotPositive);
    }
    let count = count as u64;
    let size = match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        None => {
            ctx.enc.set_len(0);
            return Ok(());
        }
        Some(Value::Set(s)) => s.len() as u64,
        Some(_) => return Err(SetError::WrongType),
    };
    if count == 0 {
        ctx.enc.set_len(0);
        return Ok(());
    }
    let limits = ctx.settings.limits;
    if count >= size {
        // Redis replies through SUNION of the one key (a second read lookup: one more hit).
        let whole = ctx.ks.get_shared(ctx.db, key, ctx.now);
        ctx.stats.keyspace_hits += 1;
        if let Some(v) = whole {
            let result = union_of_one(&v, &limits);
            drop(v);
            reply_set(ctx, &result);
        }
        db_delete(ctx, key);
        ctx.prop
            .rewrite(vec![vec![Bytes::from_static(b"DEL"), own(key)]]);
        changed(ctx, key, size);
        ctx.notify(notify::SET, "spop", key);
        ctx.notify(notify::GENERIC, "del", key);
        return Ok(());
    }
    ctx.enc.set_len(count as usize);
    let remaining = size - count;
    let mut srems = Vec::with_capacity(count as usize);
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        // Pop random members one by one.
        let Some(Value::Set(s)) = ctx.ks.get_mut(ctx.db, key, ctx.now) else {
            return Ok(());
        };
        for _ in 0..count {
            let at = rand_below(s.len());
            if let Some(m) = s.remove_at(at) {
                ctx.enc.bulk(&m);
                srems.push(srem_cmd(key, m));
            }
        }
    } else {
        // Move the members that stay into a new set (it replaces the old one in place:
        // Redis's dbOverwrite keeps the TTL), reply what is left in the old one.
        let Some(Value::Set(s)) = ctx.ks.get_mut(ctx.db, key, ctx.now) else {
            return Ok(());
        };
        let mut old = std::mem::take(s);
        let mut kept: Option<SetValue> = None;
        for _ in 0..remaining {
            let Some(m) = random_member(&old).map(|m| m.to_bytes()) else {
                break;
            };
            let new = kept.get_or_insert_with(|| SetValue::new_for(&m));
            new.insert(m.clone(), &limits);
            old.remove(&m);
        }
        *s = kept.unwrap_or_default();
        for m in old.members_iter() {
            reply_member(ctx, m);
            srems.push(srem_cmd(key, m.to_bytes()));
        }
    }
    ctx.prop.rewrite(srems);
    changed(ctx, key, count);
    ctx.notify(notify::SET, "spop", key);
    Ok(())
}

/// SRANDMEMBER key [count]
pub(super) fn srandmember(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), SetError> {
    match args.len() {
        2 => with_read_set(ctx, &args[1], |ctx, s| match s.and_then(random_member) {
            Some(m) => reply_member(ctx, m),
            None => ctx.enc.null(),
        }),
        3 => srandmember_count(ctx, &args[1], &args[2]),
        _ => Err(SetError::Syntax),
    }
}

fn srandmember_count(ctx: &mut ExecCtx<'_, '_>, key: &Bytes, count: &[u8]) -> Result<(), SetError> {
    let l = parse_long(count, SetError::NotInteger)?;
    if l == i64::MIN {
        return Err(SetError::CountRange);
    }
    let (count, uniq) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    with_read_set(ctx, key, |ctx, s| {
        let Some(s) = s else {
            ctx.enc.array_len(0);
            return;
        };
        if count == 0 {
            ctx.enc.array_len(0);
            return;
        }
        let size = s.len() as u64;
        if !uniq || count == 1 {
            ctx.enc.array_len(count as usize);
            for _ in 0..count {
                if let Some(m) = random_member(s) {
                    reply_member(ctx, m);
                }
            }
            return;
        }
        if count >= size {
            ctx.enc.array_len(size as usize);
            for m in s.members_iter() {
                reply_member(ctx, m);
            }
            return;
        }
        let picked: Vec<usize> = if count * SRANDMEMBER_SUB_STRATEGY_MUL > size {
            // Start from every position and drop random ones.
            let mut all: Vec<usize> = (0..s.len()).collect();
            while all.len() as u64 > count {
                let at = rand_below(all.len());
                all.swap_remove(at);
            }
            all
        } else {
            // Draw random positions until enough distinct ones.
            let mut seen = std::collections::HashSet::with_capacity(count as usize);
            let mut out = Vec::with_capacity(count as usize);
            while (out.len() as u64) < count {
                let at = rand_below(s.len());
                if seen.insert(at) {
                    out.push(at);
                }
            }
            out
        };
        ctx.enc.array_len(picked.len());
        for at in picked {
            if let Some(m) = s.member_at(at) {
                reply_member(ctx, m);
            }
        }
    })
}
