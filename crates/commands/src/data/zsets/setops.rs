//! ZUNION, ZINTER, ZDIFF, ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE and ZINTERCARD: Redis's
//! `zunionInterDiffGenericCommand`. Plain sets are accepted as inputs (every score 1).

use std::sync::Arc;

use bytes::Bytes;
use tandem_keyspace::{MemberMap, SetValue, Value};

use super::read::store_result;
use super::{is_opt, list_header, parse_double, parse_long, reply_elem, ZError, ZResult};
use crate::data::ExecCtx;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub(super) fn zunion(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    generic(ctx, args, None, 1, Op::Union, false, "zunion")
}

/// ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub(super) fn zinter(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    generic(ctx, args, None, 1, Op::Inter, false, "zinter")
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub(super) fn zdiff(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    generic(ctx, args, None, 1, Op::Diff, false, "zdiff")
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE ...]
pub(super) fn zunionstore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    generic(
        ctx,
        args,
        Some(&args[1]),
        2,
        Op::Union,
        false,
        "zunionstore",
    )
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE ...]
pub(super) fn zinterstore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    generic(
        ctx,
        args,
        Some(&args[1]),
        2,
        Op::Inter,
        false,
        "zinterstore",
    )
}

/// ZDIFFSTORE destination numkeys key [key ...]
pub(super) fn zdiffstore(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    generic(ctx, args, Some(&args[1]), 2, Op::Diff, false, "zdiffstore")
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub(super) fn zintercard(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> ZResult {
    generic(ctx, args, None, 1, Op::Inter, true, "zintercard")
}

/// One input: the value (if the key exists) and its weight.
struct Src {
    value: Option<Arc<Value>>,
    weight: f64,
}

impl Src {
    fn len(&self) -> usize {
        match self.value.as_deref() {
            Some(Value::ZSet(z)) => z.len(),
            Some(Value::Set(s)) => s.len(),
            _ => 0,
        }
    }

    /// Every (member, score) of the input; a set's members score 1.
    fn for_each(&self, mut f: impl FnMut(&[u8], f64) -> bool) {
        match self.value.as_deref() {
            Some(Value::ZSet(z)) => {
                for (m, s) in z.iter() {
                    if !f(m, s) {
                        return;
                    }
                }
            }
            Some(Value::Set(s)) => {
                for m in s.iter() {
                    if !f(&m, 1.0) {
                        return;
                    }
                }
            }
            _ => {}
        }
    }

    fn find(&self, m: &[u8]) -> Option<f64> {
        match self.value.as_deref() {
            Some(Value::ZSet(z)) => z.score(m),
            Some(Value::Set(s)) => set_contains(s, m).then_some(1.0),
            _ => None,
        }
    }

    fn same(&self, other: &Src) -> bool {
        match (&self.value, &other.value) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

fn set_contains(s: &SetValue, m: &[u8]) -> bool {
    s.contains(m)
}

/// `zunionInterAggregate`.
#[inline]
fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn generic(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    dst: Option<&Bytes>,
    numkeys_idx: usize,
    op: Op,
    card_only: bool,
    name: &'static str,
) -> ZResult {
    let setnum = parse_long(&args[numkeys_idx])?;
    if setnum < 1 {
        return Err(ZError::NoKeys(name));
    }
    let avail = (args.len() - (numkeys_idx + 1)) as i64;
    if setnum > avail {
        return Err(ZError::Syntax);
    }
    let setnum = setnum as usize;
    let mut srcs = Vec::with_capacity(setnum);
    let mut j = numkeys_idx + 1;
    for _ in 0..setnum {
        let value = ctx.ks.get_shared(ctx.db, &args[j], ctx.now);
        match &value {
            None => {
                ctx.stats.keyspace_misses += 1;
                ctx.ks.note_miss(ctx.db, &args[j]);
            }
            Some(v) => {
                ctx.stats.keyspace_hits += 1;
                if !matches!(**v, Value::ZSet(_) | Value::Set(_)) {
                    return Err(ZError::WrongType);
                }
            }
        }
        srcs.push(Src { value, weight: 1.0 });
        j += 1;
    }
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: i64 = 0;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if op != Op::Diff && !card_only && remaining > setnum && is_opt(a, "weights") {
            j += 1;
            for src in srcs.iter_mut() {
                src.weight = parse_double(&args[j]).ok_or(ZError::WeightNotFloat)?;
                j += 1;
            }
        } else if op != Op::Diff && !card_only && remaining >= 2 && is_opt(a, "aggregate") {
            let v = &args[j + 1];
            how = if is_opt(v, "sum") {
                Aggregate::Sum
            } else if is_opt(v, "min") {
                Aggregate::Min
            } else if is_opt(v, "max") {
                Aggregate::Max
            } else {
                return Err(ZError::Syntax);
            };
            j += 2;
        } else if dst.is_none() && !card_only && is_opt(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is_opt(a, "limit") {
            limit = match tandem_resp::num::string2ll(&args[j + 1]) {
                Some(v) if v >= 0 => v,
                _ => return Err(ZError::LimitNegative),
            };
            j += 2;
        } else {
            return Err(ZError::Syntax);
        }
    }
    if op != Op::Diff {
        srcs.sort_by_key(Src::len);
    }
    let result: Vec<(Bytes, f64)> = match op {
        Op::Inter => {
            let mut out = Vec::new();
            let mut card: u64 = 0;
            if srcs.first().is_some_and(|s| s.len() > 0) {
                let (first, rest) = srcs.split_at(1);
                let first = &first[0];
                first.for_each(|m, s| {
                    let mut score = first.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for other in rest {
                        let v = if other.same(first) {
                            s
                        } else {
                            match other.find(m) {
                                Some(v) => v,
                                None => return true,
                            }
                        };
                        aggregate(&mut score, v * other.weight, how);
                    }
                    if card_only {
                        card += 1;
                        return !(limit > 0 && card >= limit as u64);
                    }
                    out.push((Bytes::copy_from_slice(m), score));
                    true
                });
            }
            if card_only {
                ctx.enc.integer(card as i64);
                return Ok(());
            }
            out
        }
        Op::Union => {
            let cap = srcs.last().map_or(0, Src::len);
            let mut acc = MemberMap::with_capacity_and_hasher(cap, Default::default());
            for src in &srcs {
                src.for_each(|m, s| {
                    let mut score = src.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, how),
                        None => {
                            acc.insert(Bytes::copy_from_slice(m), score);
                        }
                    }
                    true
                });
            }
            acc.into_iter().collect()
        }
        Op::Diff => {
            let mut out = Vec::new();
            let first = &srcs[0];
            if !srcs[1..].iter().any(|o| o.same(first)) {
                first.for_each(|m, s| {
                    if !srcs[1..].iter().any(|o| o.find(m).is_some()) {
                        out.push((Bytes::copy_from_slice(m), s));
                    }
                    true
                });
            }
            out
        }
    };
    drop(srcs);
    if let Some(dst) = dst {
        store_result(ctx, dst, result, name);
        return Ok(());
    }
    // The reply lists the result in sorted set order.
    let mut result = result;
    result.sort_unstable_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    list_header(ctx.enc, result.len(), withscores);
    for (m, s) in &result {
        reply_elem(ctx.enc, m, *s, withscores);
    }
    Ok(())
}
