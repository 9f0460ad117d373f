//! SORT and SORT_RO, following Redis 7.0.15's `sort.c` (`sortCommandGeneric`).
//!
//! The steps, in Redis's order (each is visible to clients):
//! 1. options are parsed left to right (ASC, DESC, ALPHA, LIMIT, BY, GET and, for SORT
//!    only, STORE); the first bad one answers (a syntax error, or LIMIT's integer error);
//! 2. the key is read (a keyspace hit or miss); it must be a list, set or sorted set;
//!    a missing key sorts as an empty list. A `listpack` sorted set is converted to
//!    `skiplist` on the spot, as Redis does;
//! 3. `BY` with a pattern without `*` means "don't sort" (lists and sorted sets keep their
//!    order, honouring DESC and LIMIT); a set with STORE is sorted ALPHA anyway, so that
//!    what is stored does not depend on hash order;
//! 4. the elements get their weights (their own text, or the `BY` pattern's key or hash
//!    field `key->field`), numeric (C's `strtod`, see [`strtod`]) or ALPHA. A missing weight
//!    counts as 0 (numeric) or sorts first (ALPHA). A bad number does not stop the sort: the
//!    reply is the error `One or more scores can't be converted into double`;
//! 5. the window of LIMIT is output, each element replaced by its GET patterns (`#` is the
//!    element itself, a missing key a null), or stored as a list (a missing GET as "").
//!
//! Orders: numeric weights tie-break on the element's bytes; ALPHA compares C strings
//! (`strcoll` in the C.UTF-8 locale: bytes up to the first NUL) except with STORE, which
//! compares whole byte strings. Equal elements keep their input order (glibc's `qsort` is
//! a merge sort), except with BY and a LIMIT window, where Redis uses its partial
//! quicksort (`pqsort`, shared with GEO) and ties land where its swaps put them.

mod strtod;

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tandem_keyspace::{EncodingLimits, Expiry, FreeMode, ListValue, Value};
use tandem_resp::num::string2ll;

use super::{ExecCtx, Handler};

/// The error replies of SORT, spelled as Redis 7.0.15 spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SortError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR One or more scores can't be converted into double")]
    BadScore,
}

/// The handler of SORT or SORT_RO, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "sort" => |c, a| run(c, a, false),
        "sort_ro" => |c, a| run(c, a, true),
        _ => return None,
    };
    Some(h)
}

/// Names of the commands this module implements (for the registry).
pub const COMMANDS: &[&str] = &["sort", "sort_ro"];

fn run(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], readonly: bool) {
    ctx.ks.set_now(ctx.now);
    if let Err(e) = sort(ctx, args, readonly) {
        ctx.enc.error(e.to_string().as_bytes());
    }
}

/// The parsed options.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    dontsort: bool,
    sortby: Option<&'a [u8]>,
    store: Option<&'a Bytes>,
    gets: Vec<&'a [u8]>,
}

/// An argument up to its first NUL byte (what C's string functions see).
fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn is_opt(arg: &[u8], name: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(name.as_bytes())
}

fn parse_options(args: &[Bytes], readonly: bool) -> Result<Options<'_>, SortError> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        dontsort: false,
        sortby: None,
        store: None,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if is_opt(a, "asc") {
            o.desc = false;
        } else if is_opt(a, "desc") {
            o.desc = true;
        } else if is_opt(a, "alpha") {
            o.alpha = true;
        } else if is_opt(a, "limit") && left >= 2 {
            o.limit_start = string2ll(&args[j + 1]).ok_or(SortError::NotInteger)?;
            o.limit_count = string2ll(&args[j + 2]).ok_or(SortError::NotInteger)?;
            j += 2;
        } else if !readonly && is_opt(a, "store") && left >= 1 {
            o.store = Some(&args[j + 1]);
            j += 1;
        } else if is_opt(a, "by") && left >= 1 {
            let pat = &args[j + 1][..];
            o.sortby = Some(pat);
            if !cstr(pat).contains(&b'*') {
                o.dontsort = true;
            }
            j += 1;
        } else if is_opt(a, "get") && left >= 1 {
            o.gets.push(&args[j + 1][..]);
            j += 1;
        } else {
            return Err(SortError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// One element to sort: the element, its numeric weight, its ALPHA weight (BY only).
struct Item {
    obj: Bytes,
    score: f64,
    cmp: Option<Bytes>,
}

impl Item {
    fn new(obj: Bytes) -> Item {
        Item {
            obj,
            score: 0.0,
            cmp: None,
        }
    }
}

/// C-string comparison (what `strcoll` does in the C.UTF-8 locale).
fn coll(a: &[u8], b: &[u8]) -> Ordering {
    cstr(a).cmp(cstr(b))
}

/// Redis's `sortCompare`, before DESC.
fn compare(a: &Item, b: &Item, alpha: bool, by: bool, store: bool) -> Ordering {
    if !alpha {
        return match a.score.partial_cmp(&b.score) {
            Some(Ordering::Equal) | None => a.obj.cmp(&b.obj),
            Some(o) => o,
        };
    }
    if by {
        match (&a.cmp, &b.cmp) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) if store => x.cmp(y),
            (Some(x), Some(y)) => coll(x, y),
        }
    } else if store {
        a.obj.cmp(&b.obj)
    } else {
        coll(&a.obj, &b.obj)
    }
}

/// What a GET or BY pattern names for one element.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    /// `#`: the element itself.
    Itself,
    /// No `*`: nothing (GET replies null).
    Nothing,
    /// The key with the `*` substituted, and the hash field after `->` if any.
    Key(Vec<u8>, Option<&'a [u8]>),
}

/// Splits a pattern as `lookupKeyByPattern` does: `#` alone (as a C string) is the element;
/// the first `*` is substituted; a `->` after it followed by at least one byte names a hash
/// field (the rest of the pattern).
fn target<'a>(pattern: &'a [u8], subst: &[u8]) -> Target<'a> {
    let c = cstr(pattern);
    if c == b"#" {
        return Target::Itself;
    }
    let Some(star) = c.iter().position(|&b| b == b'*') else {
        return Target::Nothing;
    };
    let arrow = c[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < c.len());
    let (field, postfix_end) = match arrow {
        Some(f) => (Some(&pattern[f + 2..]), f),
        None => (None, pattern.len()),
    };
    let mut key = Vec::with_capacity(postfix_end + subst.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[star + 1..postfix_end]);
    Target::Key(key, field)
}

/// Redis's `lookupKeyByPattern`: the value the pattern names for `subst` (a string key, or
/// a hash field), counting the read lookup as a keyspace hit or miss.
fn lookup_by_pattern(ctx: &mut ExecCtx<'_, '_>, pattern: &[u8], subst: &[u8]) -> Option<Bytes> {
    let (key, field) = match target(pattern, subst) {
        Target::Itself => return Some(Bytes::copy_from_slice(subst)),
        Target::Nothing => return None,
        Target::Key(key, field) => (key, field),
    };
    let found = match ctx.ks.get(ctx.db, &key, ctx.now) {
        None => {
            ctx.stats.keyspace_misses += 1;
            ctx.ks.note_miss(ctx.db, &key);
            return None;
        }
        Some(v) => match (field, v) {
            (Some(f), Value::Hash(h)) => h.get(f).cloned(),
            (None, Value::String(s)) => Some(s.to_bytes()),
            _ => None,
        },
    };
    ctx.stats.keyspace_hits += 1;
    found
}

/// What the sorted key holds (after the type check).
enum Source {
    List,
    Set,
    ZSet,
}

fn sort(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], readonly: bool) -> Result<(), SortError> {
    let mut o = parse_options(args, readonly)?;
    let key = &args[1];

    // lookupKeyRead and the type check.
    let (kind, convert) = match ctx.ks.get(ctx.db, key, ctx.now) {
        None => (None, false),
        Some(Value::List(_)) => (Some(Source::List), false),
        Some(Value::Set(_)) => (Some(Source::Set), false),
        Some(Value::ZSet(z)) => (Some(Source::ZSet), z.encoding() == "listpack"),
        Some(_) => {
            ctx.stats.keyspace_hits += 1;
            return Err(SortError::WrongType);
        }
    };
    if kind.is_some() {
        ctx.stats.keyspace_hits += 1;
    } else {
        ctx.stats.keyspace_misses += 1;
        ctx.ks.note_miss(ctx.db, key);
    }

    if o.dontsort && matches!(kind, Some(Source::Set)) && o.store.is_some() {
        o.dontsort = false;
        o.alpha = true;
        o.sortby = None;
    }
    // Redis converts a listpack sorted set for good before sorting it.
    if convert {
        if let Some(Value::ZSet(z)) = ctx.ks.get_mut(ctx.db, key, ctx.now) {
            z.convert_to_skiplist();
        }
    }
    let value: Option<Arc<Value>> = match kind {
        Some(_) => ctx.ks.get_shared(ctx.db, key, ctx.now),
        None => None,
    };
    let len = match value.as_deref() {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;

    // LIMIT sanity checks, exactly as Redis clamps them.
    let mut start = o.limit_start.max(0).min(len);
    let count = o.limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }

    let mut items: Vec<Item> = Vec::new();
    match value.as_deref() {
        Some(Value::List(l)) if o.dontsort && end >= start => {
            let n = (end - start + 1) as usize;
            let s = start as usize;
            if o.desc {
                let top = l.len() - s;
                let window = l.items().range(top - n..top).rev();
                items.extend(window.map(|e| Item::new(e.clone())));
            } else {
                items.extend(l.items().range(s..s + n).map(|e| Item::new(e.clone())));
            }
            end -= start;
            start = 0;
        }
        // Nothing in the window: nothing to load.
        Some(Value::List(_)) if o.dontsort => {}
        Some(Value::List(l)) => items.extend(l.iter().map(|e| Item::new(e.clone()))),
        Some(Value::Set(s)) => items.extend(s.members_iter().map(|m| Item::new(m.to_bytes()))),
        Some(Value::ZSet(z)) if o.dontsort => {
            let n = if start != 0 || end != len - 1 {
                (end - start + 1).max(0) as usize
            } else {
                len as usize
            };
            let s = start.max(0) as usize;
            let zlen = z.len();
            if o.desc {
                let top = zlen - s;
                items.extend(
                    z.range(top - n, top)
                        .rev()
                        .map(|(m, _)| Item::new(m.clone())),
                );
            } else {
                items.extend(z.range(s, s + n).map(|(m, _)| Item::new(m.clone())));
            }
            end -= start;
            start = 0;
        }
        Some(Value::ZSet(z)) => items.extend(z.iter().map(|(m, _)| Item::new(m.clone()))),
        _ => {}
    }
    drop(value);

    // Weights, then the sort.
    let mut bad_score = false;
    if !o.dontsort {
        for it in items.iter_mut() {
            let byval = match o.sortby {
                Some(pat) => match lookup_by_pattern(ctx, pat, &it.obj) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.obj.clone(),
            };
            if o.alpha {
                if o.sortby.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                match strtod::sort_score(&byval) {
                    Some(s) => it.score = s,
                    None => bad_score = true,
                }
            }
        }
        let (alpha, by, store, desc) = (o.alpha, o.sortby.is_some(), o.store.is_some(), o.desc);
        let cmp = |a: &Item, b: &Item| {
            let c = compare(a, b, alpha, by, store);
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        let whole = start == 0 && end == items.len() as i64 - 1;
        if by && !whole {
            // Redis sorts only the window with its partial quicksort (not stable: the
            // order of equal ALPHA weights depends on its swaps). An empty window shows
            // nothing, whatever the order.
            if end >= start {
                super::geo::pqsort(&mut items, &cmp, start as usize, end as usize);
            }
        } else {
            // glibc's qsort is a merge sort: stable, as `sort_by`.
            items.sort_by(cmp);
        }
    }

    let window = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &items[0..0]
    };
    let outputlen = if o.gets.is_empty() {
        window.len()
    } else {
        o.gets.len() * window.len()
    };
    if bad_score {
        return Err(SortError::BadScore);
    }
    match o.store {
        None => {
            ctx.enc.array_len(outputlen);
            for it in window {
                if o.gets.is_empty() {
                    ctx.enc.bulk(&it.obj);
                }
                for pat in &o.gets {
                    match lookup_by_pattern(ctx, pat, &it.obj) {
                        Some(v) => ctx.enc.bulk(&v),
                        None => ctx.enc.null(),
                    }
                }
            }
        }
        Some(dst) => {
            // Redis makes the stored list with `createQuicklistObject` alone: the quicklist
            // defaults (fill -2, no compression), whatever the configuration says.
            let mut list = ListValue::new(&EncodingLimits::default());
            for it in window {
                if o.gets.is_empty() {
                    list.push_back(it.obj.clone());
                }
                for pat in &o.gets {
                    let v = lookup_by_pattern(ctx, pat, &it.obj).unwrap_or_default();
                    list.push_back(v);
                }
            }
            if outputlen > 0 {
                let v = Value::List(list);
                ctx.ks
                    .set(ctx.db, Bytes::copy_from_slice(dst), v, Expiry::Clear);
                ctx.dirty += outputlen as u64;
                ctx.ks.touch_modified(ctx.db, dst);
                ctx.notify(super::notify::LIST, "sortstore", dst);
            } else {
                let mode = if ctx.ks.config().lazyfree_lazy_server_del {
                    FreeMode::Async
                } else {
                    FreeMode::Sync
                };
                if ctx.ks.delete(ctx.db, dst, ctx.now, mode) {
                    ctx.dirty += 1;
                    ctx.ks.touch_modified(ctx.db, dst);
                    ctx.notify(super::notify::GENERIC, "del", dst);
                }
            }
            ctx.enc.integer(outputlen as i64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(k: &str, f: Option<&'a str>) -> Target<'a> {
        Target::Key(k.as_bytes().to_vec(), f.map(str::as_bytes))
    }

    #[test]
    fn patterns_split_as_redis() {
        assert_eq!(target(b"#", b"e"), Target::Itself);
        assert_eq!(target(b"#\0x", b"e"), Target::Itself);
        assert_eq!(target(b"#\0*", b"e"), Target::Itself);
        assert_eq!(target(b"##", b"e"), Target::Nothing);
        assert_eq!(target(b"const", b"e"), Target::Nothing);
        assert_eq!(target(b"w_*", b"e"), key("w_e", None));
        assert_eq!(target(b"*x*", b"e"), key("ex*", None));
        assert_eq!(target(b"h_*->f", b"e"), key("h_e", Some("f")));
        assert_eq!(target(b"h_*->", b"e"), key("h_e->", None));
        assert_eq!(target(b"h_*->f->g", b"e"), key("h_e", Some("f->g")));
        assert_eq!(target(b"h->_*", b"e"), key("h->_e", None));
    }

    #[test]
    fn alpha_compares_c_strings_unless_storing() {
        let it = |s: &str| Item::new(Bytes::copy_from_slice(s.as_bytes()));
        let (a, b) = (it("a\0c"), it("a\0b"));
        assert_eq!(compare(&a, &b, true, false, false), Ordering::Equal);
        assert_eq!(compare(&a, &b, true, false, true), Ordering::Greater);
        let (x, y) = (it("\u{80}"), it("z"));
        assert_eq!(compare(&x, &y, true, false, false), Ordering::Greater);
        let mut n1 = it("b");
        let mut n2 = it("a");
        n1.score = 1.0;
        n2.score = 1.0;
        assert_eq!(compare(&n1, &n2, false, false, false), Ordering::Greater);
        n2.score = 2.0;
        assert_eq!(compare(&n1, &n2, false, false, false), Ordering::Less);
    }
}
