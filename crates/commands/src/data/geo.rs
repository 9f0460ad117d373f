//! Geo commands: GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH, GEOSEARCHSTORE and the
//! GEORADIUS family.
//!
//! A geo set is a sorted set whose scores are 52-bit interleaved geohashes ([`hash`]).
//! GEOADD is ZADD with computed scores (and propagates as that ZADD, as Redis rewrites
//! it); searches scan the nine geohash cells around the centre in Redis's order, filter
//! by exact distance, and sort by distance with a stable sort (glibc's `qsort` is a
//! merge sort). Replies print distances with four decimals (`fixedpoint_d2string`) and
//! coordinates as `%.17Lf` with trailing zeros removed, as redis-server 7.0.15 does.
//! Argument parsing follows `georadiusGeneric` step by step, because which error wins
//! depends on the order in which Redis checks things.

pub mod hash;

use crate::data::run;
use std::cmp::Ordering::{self, Equal, Greater, Less};

use bytes::Bytes;
use tandem_keyspace::{Expiry, FreeMode, Keyspace, Millis, ScoreRange, Value, ZSetValue};
use tandem_resp::num::string2ll;
use tandem_resp::Protocol;

use self::hash::{Shape, ShapeKind};
use super::{notify, ExecCtx, Handler};

/// The error replies of the geo commands, spelled as Redis 7.0.15 spells them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR invalid longitude,latitude pair {0}")]
    InvalidPair(String),
    #[error("ERR unsupported unit provided. please use M, KM, FT, MI")]
    Unit,
    #[error("ERR need numeric radius")]
    NeedRadius,
    #[error("ERR radius cannot be negative")]
    NegativeRadius,
    #[error("ERR need numeric width")]
    NeedWidth,
    #[error("ERR need numeric height")]
    NeedHeight,
    #[error("ERR height or width cannot be negative")]
    NegativeBox,
    #[error("ERR COUNT must be > 0")]
    CountPositive,
    #[error("ERR could not decode requested zset member")]
    Member,
    #[error("ERR {0} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")]
    StoreWith(&'static str),
    #[error("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {0}")]
    NeedFrom(String),
    #[error("ERR exactly one of BYRADIUS and BYBOX can be specified for {0}")]
    NeedBy(String),
    #[error("ERR the ANY argument requires COUNT argument")]
    AnyWithoutCount,
}

/// The handler of a command of this family, by full name.
pub fn handler(full_name: &str) -> Option<Handler> {
    let h: Handler = match full_name {
        "geoadd" => |c, a| run(c, a, geoadd),
        "geodist" => |c, a| run(c, a, geodist),
        "geohash" => |c, a| run(c, a, geohash),
        "geopos" => |c, a| run(c, a, geopos),
        "georadius" => |c, a| run(c, a, |c, a| search(c, a, 1, Flags::RADIUS)),
        "georadius_ro" => |c, a| run(c, a, |c, a| search(c, a, 1, Flags::RADIUS_RO)),
        "georadiusbymember" => |c, a| run(c, a, |c, a| search(c, a, 1, Flags::MEMBER)),
        "georadiusbymember_ro" => |c, a| run(c, a, |c, a| search(c, a, 1, Flags::MEMBER_RO)),
        "geosearch" => |c, a| run(c, a, |c, a| search(c, a, 1, Flags::SEARCH)),
        "geosearchstore" => |c, a| run(c, a, |c, a| search(c, a, 2, Flags::SEARCH_STORE)),
        _ => return None,
    };
    Some(h)
}

/// Names of the commands this module implements (for the registry).
pub const COMMANDS: &[&str] = &[
    "geoadd",
    "geodist",
    "geohash",
    "geopos",
    "georadius",
    "georadius_ro",
    "georadiusbymember",
    "georadiusbymember_ro",
    "geosearch",
    "geosearchstore",
];

// ---------------------------------------------------------------------------
// Arguments.

/// An argument as C code sees it: up to its first NUL byte.
fn cstr(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&c| c == 0) {
        Some(i) => &arg[..i],
        None => arg,
    }
}

/// Case-insensitive option match with `strcasecmp` semantics.
fn is_opt(arg: &[u8], name: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(name.as_bytes())
}

/// Redis's `string2d` (`strtod` over the whole argument): no leading space, no trailing
/// bytes, no NaN, no overflow to infinity, no underflow to zero.
fn string2d(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    let first = *arg.first()?;
    if matches!(first, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return None;
    }
    let (negative, unsigned) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = unsigned.to_ascii_lowercase();
    let v = if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else if lower.starts_with("nan") {
        return None;
    } else if let Some(hex) = lower.strip_prefix("0x") {
        parse_hex_float(hex)?
    } else {
        if !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            return None;
        }
        let v: f64 = unsigned.parse().ok()?;
        if v.is_infinite() {
            return None; // ERANGE overflow
        }
        if v == 0.0 {
            let mantissa = unsigned.split(['e', 'E']).next().unwrap_or("");
            if mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
                return None; // ERANGE underflow
            }
        }
        v
    };
    Some(if negative { -v } else { v })
}

/// The hexadecimal floats `strtod` takes (`1f`, `1.8p3`), after the `0x`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.split_once('p') {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    if let Some(e) = exp {
        let e: i32 = e.parse().ok()?;
        v *= 2f64.powi(e);
    }
    if v.is_infinite() {
        return None;
    }
    Some(v)
}

/// `getDoubleFromObjectOrReply` with a custom error.
fn parse_f64(arg: &[u8], err: GeoError) -> Result<f64, GeoError> {
    string2d(arg).ok_or(err)
}

/// `extractLongLatOrReply`: a valid longitude and latitude.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), GeoError> {
    let x = parse_f64(lon, GeoError::NotFloat)?;
    let y = parse_f64(lat, GeoError::NotFloat)?;
    if !(hash::LONG_MIN..=hash::LONG_MAX).contains(&x)
        || !(hash::LAT_MIN..=hash::LAT_MAX).contains(&y)
    {
        return Err(GeoError::InvalidPair(format!("{x:.6},{y:.6}")));
    }
    Ok((x, y))
}

/// `extractUnitOrReply`: meters per unit.
fn unit(arg: &[u8]) -> Result<f64, GeoError> {
    let u = cstr(arg);
    if u.eq_ignore_ascii_case(b"m") {
        Ok(1.0)
    } else if u.eq_ignore_ascii_case(b"km") {
        Ok(1000.0)
    } else if u.eq_ignore_ascii_case(b"ft") {
        Ok(0.3048)
    } else if u.eq_ignore_ascii_case(b"mi") {
        Ok(1609.34)
    } else {
        Err(GeoError::Unit)
    }
}

/// `extractDistanceOrReply`: radius and meters per unit.
fn radius_unit(radius: &[u8], u: &[u8]) -> Result<(f64, f64), GeoError> {
    let r = parse_f64(radius, GeoError::NeedRadius)?;
    if r < 0.0 {
        return Err(GeoError::NegativeRadius);
    }
    Ok((r, unit(u)?))
}

/// `extractBoxOrReply`: width, height and meters per unit.
fn box_unit(width: &[u8], height: &[u8], u: &[u8]) -> Result<(f64, f64, f64), GeoError> {
    let w = parse_f64(width, GeoError::NeedWidth)?;
    let h = parse_f64(height, GeoError::NeedHeight)?;
    if h < 0.0 || w < 0.0 {
        return Err(GeoError::NegativeBox);
    }
    Ok((w, h, unit(u)?))
}

// ---------------------------------------------------------------------------
// Replies.

/// `addReplyDoubleDistance`: four decimals, rounded half to even (`llrint`).
fn distance_text(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let v = hash::double_to_i64((d * 10000.0).round_ties_even());
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10000, a % 10000)
}

/// `ld2string(LD_STR_HUMAN)` of a double: `%.17Lf` without trailing zeros.
fn human_text(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        let t = s.trim_end_matches('0').len();
        s.truncate(t);
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// `addReplyHumanLongDouble`: a bulk string (RESP2) or a double (RESP3).
fn reply_human(ctx: &mut ExecCtx<'_, '_>, d: f64) {
    let s = human_text(d);
    if ctx.enc.proto == Protocol::Resp3 {
        let mut line = Vec::with_capacity(s.len() + 3);
        line.push(b',');
        line.extend_from_slice(s.as_bytes());
        line.extend_from_slice(b"\r\n");
        ctx.enc.raw(&line);
    } else {
        ctx.enc.bulk(s.as_bytes());
    }
}

// ---------------------------------------------------------------------------
// Lookups.

/// `lookupKeyRead` + `checkType(OBJ_ZSET)`: counts a hit or a miss; true if it exists.
fn read_zset(ctx: &mut ExecCtx<'_, '_>, key: &[u8]) -> Result<bool, GeoError> {
    match super::lookup_key_read(ctx.ks, ctx.stats, ctx.db, key, ctx.now) {
        None => Ok(false),
        Some(Value::ZSet(_)) => Ok(true),
        Some(_) => Err(GeoError::WrongType),
    }
}

/// The sorted set at `key` (already looked up), without touching its access time.
fn zset<'k>(ks: &'k mut Keyspace, db: usize, key: &[u8], now: Millis) -> Option<&'k ZSetValue> {
    match ks.peek(db, key, now) {
        Some(Value::ZSet(z)) => Some(z),
        _ => None,
    }
}

/// Records a change to `key`: `server.dirty += n` and the WATCH signal.
fn changed(ctx: &mut ExecCtx<'_, '_>, key: &[u8], n: u64) {
    ctx.dirty += n;
    ctx.ks.touch_modified(ctx.db, key);
}

// ---------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS.

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]
fn geoadd(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), GeoError> {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut longidx = 2;
    while longidx < args.len() {
        let opt = &args[longidx];
        if is_opt(opt, "nx") {
            nx = true;
        } else if is_opt(opt, "xx") {
            xx = true;
        } else if is_opt(opt, "ch") {
            ch = true;
        } else {
            break;
        }
        longidx += 1;
    }
    let rest = args.len() - longidx;
    if !rest.is_multiple_of(3) || (xx && nx) || rest == 0 {
        return Err(GeoError::Syntax);
    }
    let mut points = Vec::with_capacity(rest / 3);
    for el in args[longidx..].chunks_exact(3) {
        let (lon, lat) = lon_lat(&el[0], &el[1])?;
        let score = hash::encode_score(lon, lat).unwrap_or(0);
        points.push((score, &el[2]));
    }

    // The ZADD the command turns into.
    let key = &args[1];
    let limits = &ctx.settings.limits;
    let mut created = None;
    let z = match ctx.ks.get_mut(ctx.db, key, ctx.now) {
        Some(Value::ZSet(z)) => z,
        Some(_) => return Err(GeoError::WrongType),
        None if xx => {
            ctx.enc.integer(0);
            return Ok(());
        }
        None => created.insert(ZSetValue::new_for_add(points[0].1.len(), limits)),
    };
    let (mut added, mut updated) = (0u64, 0u64);
    for &(score, member) in &points {
        let score = score as f64;
        match z.score(member) {
            Some(cur) => {
                if !nx && cur != score {
                    z.insert(Bytes::copy_from_slice(member), score, limits);
                    updated += 1;
                }
            }
            None => {
                if !xx {
                    z.insert(Bytes::copy_from_slice(member), score, limits);
                    added += 1;
                }
            }
        }
    }
    if let Some(z) = created {
        let k = Bytes::copy_from_slice(key);
        ctx.ks.set(ctx.db, k, Value::ZSet(z), Expiry::Clear);
    }
    if added + updated > 0 {
        changed(ctx, key, added + updated);
        // GEOADD runs as a ZADD in Redis, and is announced as one.
        ctx.notify(notify::ZSET, "zadd", key);
        let mut zadd: Vec<Bytes> = Vec::with_capacity(longidx + points.len() * 2);
        zadd.push(Bytes::from_static(b"zadd"));
        zadd.extend(args[1..longidx].iter().cloned());
        for &(score, member) in &points {
            zadd.push(Bytes::from(score.to_string()));
            zadd.push(member.clone());
        }
        ctx.prop.rewrite(vec![zadd]);
    }
    ctx.enc
        .integer((if ch { added + updated } else { added }) as i64);
    Ok(())
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
fn geodist(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), GeoError> {
    let mut to_meter = 1.0;
    if args.len() == 5 {
        to_meter = unit(&args[4])?;
    } else if args.len() > 5 {
        return Err(GeoError::Syntax);
    }
    if !read_zset(ctx, &args[1])? {
        ctx.enc.null();
        return Ok(());
    }
    let Some(z) = zset(ctx.ks, ctx.db, &args[1], ctx.now) else {
        ctx.enc.null();
        return Ok(());
    };
    let (Some(s1), Some(s2)) = (z.score(&args[2]), z.score(&args[3])) else {
        ctx.enc.null();
        return Ok(());
    };
    match (hash::decode_score(s1), hash::decode_score(s2)) {
        (Some((x1, y1)), Some((x2, y2))) => {
            let d = hash::distance(x1, y1, x2, y2) / to_meter;
            ctx.enc.bulk(distance_text(d).as_bytes());
        }
        _ => ctx.enc.null(),
    }
    Ok(())
}

/// The scores of `members` in the set at `key` (None for missing members or key).
fn member_scores(ctx: &mut ExecCtx<'_, '_>, key: &[u8], members: &[Bytes]) -> Vec<Option<f64>> {
    match zset(ctx.ks, ctx.db, key, ctx.now) {
        Some(z) => members.iter().map(|m| z.score(m)).collect(),
        None => vec![None; members.len()],
    }
}

/// GEOHASH key [member ...]
fn geohash(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), GeoError> {
    read_zset(ctx, &args[1])?;
    let scores = member_scores(ctx, &args[1], &args[2..]);
    ctx.enc.array_len(scores.len());
    for s in scores {
        match s.and_then(hash::standard_geohash) {
            Some(h) => ctx.enc.bulk(&h),
            None => ctx.enc.null(),
        }
    }
    Ok(())
}

/// GEOPOS key [member ...]
fn geopos(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), GeoError> {
    read_zset(ctx, &args[1])?;
    let scores = member_scores(ctx, &args[1], &args[2..]);
    ctx.enc.array_len(scores.len());
    for s in scores {
        match s.and_then(hash::decode_score) {
            Some((lon, lat)) => {
                ctx.enc.array_len(2);
                reply_human(ctx, lon);
                reply_human(ctx, lat);
            }
            None => ctx.enc.null_array(),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Searches.

/// Which search command runs (Redis's `RADIUS_*` / `GEOSEARCH*` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Flags {
    coords: bool,
    member: bool,
    nostore: bool,
    search: bool,
    search_store: bool,
}

impl Flags {
    const NONE: Flags = Flags {
        coords: false,
        member: false,
        nostore: false,
        search: false,
        search_store: false,
    };
    const RADIUS: Flags = Flags {
        coords: true,
        ..Flags::NONE
    };
    const RADIUS_RO: Flags = Flags {
        coords: true,
        nostore: true,
        ..Flags::NONE
    };
    const MEMBER: Flags = Flags {
        member: true,
        ..Flags::NONE
    };
    const MEMBER_RO: Flags = Flags {
        member: true,
        nostore: true,
        ..Flags::NONE
    };
    const SEARCH: Flags = Flags {
        search: true,
        ..Flags::NONE
    };
    const SEARCH_STORE: Flags = Flags {
        search: true,
        search_store: true,
        ..Flags::NONE
    };
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A point found by a search.
struct Point {
    member: Bytes,
    score: f64,
    lon: f64,
    lat: f64,
    /// Meters from the centre (in the requested unit once replied).
    dist: f64,
}

/// The position of `member` in the set at `key`.
fn member_position(ctx: &mut ExecCtx<'_, '_>, key: &[u8], member: &[u8]) -> Option<(f64, f64)> {
    let z = zset(ctx.ks, ctx.db, key, ctx.now)?;
    hash::decode_score(z.score(member)?)
}

/// `georadiusGeneric`: every search command.
fn search(
    ctx: &mut ExecCtx<'_, '_>,
    args: &[Bytes],
    src: usize,
    flags: Flags,
) -> Result<(), GeoError> {
    let src_key = &args[src];
    let exists = read_zset(ctx, src_key)?;
    let mut storekey: Option<&Bytes> = None;
    let mut storedist = false;
    let mut shape = Shape {
        lon: 0.0,
        lat: 0.0,
        conversion: 0.0,
        kind: ShapeKind::Circle { radius: 0.0 },
    };

    let base;
    if flags.coords {
        base = 6;
        (shape.lon, shape.lat) = lon_lat(&args[2], &args[3])?;
        let (r, conv) = radius_unit(&args[4], &args[5])?;
        shape.kind = ShapeKind::Circle { radius: r };
        shape.conversion = conv;
    } else if flags.member && !exists {
        base = 5;
    } else if flags.member {
        base = 5;
        (shape.lon, shape.lat) = member_position(ctx, src_key, &args[2]).ok_or(GeoError::Member)?;
        let (r, conv) = radius_unit(&args[3], &args[4])?;
        shape.kind = ShapeKind::Circle { radius: r };
        shape.conversion = conv;
    } else {
        base = if flags.search_store {
            storekey = Some(&args[1]);
            3
        } else {
            2
        };
    }

    let (mut withdist, mut withhash, mut withcoords) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let opts = args.get(base..).unwrap_or(&[]);
    let remaining = opts.len();
    let mut i = 0;
    while i < remaining {
        let arg = &opts[i];
        if is_opt(arg, "withdist") {
            withdist = true;
        } else if is_opt(arg, "withhash") {
            withhash = true;
        } else if is_opt(arg, "withcoord") {
            withcoords = true;
        } else if is_opt(arg, "any") {
            any = true;
        } else if is_opt(arg, "asc") {
            sort = Sort::Asc;
        } else if is_opt(arg, "desc") {
            sort = Sort::Desc;
        } else if is_opt(arg, "count") && i + 1 < remaining {
            count = string2ll(&opts[i + 1]).ok_or(GeoError::NotInteger)?;
            if count <= 0 {
                return Err(GeoError::CountPositive);
            }
            i += 1;
        } else if (is_opt(arg, "store") || is_opt(arg, "storedist"))
            && i + 1 < remaining
            && !flags.nostore
            && !flags.search
        {
            storekey = Some(&opts[i + 1]);
            storedist = is_opt(arg, "storedist");
            i += 1;
        } else if is_opt(arg, "storedist") && flags.search && flags.search_store {
            storedist = true;
        } else if is_opt(arg, "frommember") && i + 1 < remaining && flags.search && !fromloc {
            if exists {
                (shape.lon, shape.lat) =
                    member_position(ctx, src_key, &opts[i + 1]).ok_or(GeoError::Member)?;
            }
            frommember = true;
            i += 1;
        } else if is_opt(arg, "fromlonlat") && i + 2 < remaining && flags.search && !frommember {
            (shape.lon, shape.lat) = lon_lat(&opts[i + 1], &opts[i + 2])?;
            fromloc = true;
            i += 2;
        } else if is_opt(arg, "byradius") && i + 2 < remaining && flags.search && !bybox {
            let (r, conv) = radius_unit(&opts[i + 1], &opts[i + 2])?;
            shape.kind = ShapeKind::Circle { radius: r };
            shape.conversion = conv;
            byradius = true;
            i += 2;
        } else if is_opt(arg, "bybox") && i + 3 < remaining && flags.search && !byradius {
            let (w, h, conv) = box_unit(&opts[i + 1], &opts[i + 2], &opts[i + 3])?;
            shape.kind = ShapeKind::Box {
                width: w,
                height: h,
            };
            shape.conversion = conv;
            bybox = true;
            i += 3;
        } else {
            return Err(GeoError::Syntax);
        }
        i += 1;
    }

    if storekey.is_some() && (withdist || withhash || withcoords) {
        return Err(GeoError::StoreWith(if flags.search_store {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        }));
    }
    let name = || String::from_utf8_lossy(cstr(&args[0])).into_owned();
    if flags.search && !(frommember || fromloc) {
        return Err(GeoError::NeedFrom(name()));
    }
    if flags.search && !(byradius || bybox) {
        return Err(GeoError::NeedBy(name()));
    }
    if any && count == 0 {
        return Err(GeoError::AnyWithoutCount);
    }

    if !exists {
        if let Some(dest) = storekey {
            if ctx.ks.delete(ctx.db, dest, ctx.now, FreeMode::Sync) {
                changed(ctx, dest, 1);
                ctx.notify(notify::GENERIC, "del", dest);
            }
            ctx.enc.integer(0);
        } else {
            ctx.enc.array_len(0);
        }
        return Ok(());
    }

    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let limit = if any { count as usize } else { 0 };
    let mut points = match zset(ctx.ks, ctx.db, src_key, ctx.now) {
        Some(z) => find_points(z, &shape, limit),
        None => Vec::new(),
    };

    if points.is_empty() && storekey.is_none() {
        ctx.enc.array_len(0);
        return Ok(());
    }
    let returned = if count == 0 || (points.len() as i64) < count {
        points.len()
    } else {
        count as usize
    };
    if sort != Sort::None {
        let desc = sort == Sort::Desc;
        let cmp = |a: &Point, b: &Point| {
            let o = if a.dist > b.dist {
                Greater
            } else if a.dist == b.dist {
                Equal
            } else {
                Less
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        };
        if returned == points.len() {
            // glibc's qsort is a (stable) merge sort.
            points.sort_by(cmp);
        } else {
            pqsort(&mut points, &cmp, 0, returned - 1);
        }
    }
    points.truncate(returned);
    for p in &mut points {
        p.dist /= shape.conversion;
    }

    let Some(dest) = storekey else {
        let options = usize::from(withdist) + usize::from(withhash) + usize::from(withcoords);
        ctx.enc.array_len(points.len());
        for p in &points {
            if options > 0 {
                ctx.enc.array_len(options + 1);
            }
            ctx.enc.bulk(&p.member);
            if withdist {
                ctx.enc.bulk(distance_text(p.dist).as_bytes());
            }
            if withhash {
                ctx.enc.integer(hash::double_to_i64(p.score));
            }
            if withcoords {
                ctx.enc.array_len(2);
                reply_human(ctx, p.lon);
                reply_human(ctx, p.lat);
            }
        }
        return Ok(());
    };

    let n = points.len() as u64;
    if n > 0 {
        let pairs = points
            .into_iter()
            .map(|p| (p.member, if storedist { p.dist } else { p.score }))
            .collect();
        let z = ZSetValue::from_unique_pairs(pairs, &ctx.settings.limits);
        let k = Bytes::copy_from_slice(dest);
        ctx.ks.set(ctx.db, k, Value::ZSet(z), Expiry::Clear);
        changed(ctx, dest, n);
        let event = if flags.search {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        ctx.notify(notify::ZSET, event, dest);
    } else if ctx.ks.delete(ctx.db, dest, ctx.now, FreeMode::Sync) {
        changed(ctx, dest, 1);
        ctx.notify(notify::GENERIC, "del", dest);
    }
    ctx.enc.integer(n as i64);
    Ok(())
}

/// `membersOfAllNeighbors`: the points of the cells around the centre that lie inside
/// the shape, cell by cell in Redis's order; with `limit` (ANY) it stops once that many
/// were found.
fn find_points(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = hash::search_cells(shape);
    let mut out = Vec::new();
    let mut last = 0usize;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Huge radii make neighbours repeat; Redis skips a cell equal to the last one
        // scanned (never comparing with the centre, index 0).
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if !out.is_empty() && limit > 0 && out.len() >= limit {
            break;
        }
        let (min, max) = hash::cell_scores(*cell);
        points_in_range(z, min, max, shape, &mut out, limit);
        last = i;
    }
    out
}

/// `geoGetPointsInRange`: points with `min <= score < max` inside the shape.
fn points_in_range(
    z: &ZSetValue,
    min: f64,
    max: f64,
    shape: &Shape,
    out: &mut Vec<Point>,
    limit: usize,
) {
    let range = ScoreRange {
        min,
        max,
        minex: false,
        maxex: true,
    };
    let Some(first) = z.first_in_score(&range) else {
        return;
    };
    for (member, score) in z.range(first, z.len()) {
        if !range.lte_max(score) {
            break;
        }
        if let Some((lon, lat)) = hash::decode_score(score) {
            if let Some(dist) = hash::within(shape, lon, lat) {
                out.push(Point {
                    member: member.clone(),
                    score,
                    lon,
                    lat,
                    dist,
                });
            }
        }
        if !out.is_empty() && limit > 0 && out.len() >= limit {
            break;
        }
    }
}

/// Redis's `pqsort`: the BSD quicksort that only recurses into partitions overlapping
/// the ranks `lrange..=rrange`, so that those ranks hold the right elements in order. It
/// is not stable; replies with equal distances depend on its exact swaps, kept here.
pub(crate) fn pqsort<T>(
    v: &mut [T],
    cmp: &dyn Fn(&T, &T) -> Ordering,
    lrange: usize,
    rrange: usize,
) {
    pqsort_part(v, 0, v.len(), cmp, lrange, rrange);
}

fn pqsort_part<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    cmp: &dyn Fn(&T, &T) -> Ordering,
    lrange: usize,
    rrange: usize,
) {
    // Whether the ranks `lo..lo + len` lie wholly outside the wanted range.
    let outside = |lo: usize, len: usize| {
        (lrange < lo && rrange < lo) || (lrange >= lo + len && rrange >= lo + len)
    };
    let med3 = |v: &[T], x: usize, y: usize, z: usize| {
        if cmp(&v[x], &v[y]).is_lt() {
            if cmp(&v[y], &v[z]).is_lt() {
                y
            } else if cmp(&v[x], &v[z]).is_lt() {
                z
            } else {
                x
            }
        } else if cmp(&v[y], &v[z]).is_gt() {
            y
        } else if cmp(&v[x], &v[z]).is_lt() {
            x
        } else {
            z
        }
    };
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]).is_gt() {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d);
                pm = med3(v, pm - d, pm, pm + d);
                pn = med3(v, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, pl, pm, pn);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r.is_gt() {
                    break;
                }
                if r.is_eq() {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[a]);
                if r.is_lt() {
                    break;
                }
                if r.is_eq() {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        for i in 0..r {
            v.swap(a + i, pb - r + i);
        }
        let r = (pd - pc).min(pn - pd - 1);
        for i in 0..r {
            v.swap(pb + i, pn - r + i);
        }
        let r = pb - pa;
        if r > 1 && !outside(a, r) {
            pqsort_part(v, a, r, cmp, lrange, rrange);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if !outside(a, n) {
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_have_four_decimals() {
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(0.0001), "0.0001");
        assert_eq!(distance_text(6.06429515983917e-5), "0.0001");
        assert_eq!(distance_text(166_274.151_569_600_4), "166274.1516");
        assert_eq!(distance_text(0.00005), "0.0000");
        assert_eq!(distance_text(1.5), "1.5000");
    }

    #[test]
    fn human_doubles() {
        assert_eq!(human_text(13.361389338970184), "13.36138933897018433");
        assert_eq!(human_text(-0.0), "0");
        assert_eq!(human_text(15.0), "15");
        assert_eq!(human_text(0.5), "0.5");
    }

    #[test]
    fn pqsort_orders_the_wanted_ranks() {
        let mut seed = 12345u64;
        for n in [1usize, 5, 7, 8, 30, 41, 200] {
            for k in [1usize, 3, 10] {
                if k > n {
                    continue;
                }
                let mut v: Vec<u64> = (0..n)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        (seed >> 33) % 50
                    })
                    .collect();
                let mut sorted = v.clone();
                sorted.sort_unstable();
                pqsort(&mut v, &|a: &u64, b: &u64| a.cmp(b), 0, k - 1);
                assert_eq!(&v[..k], &sorted[..k]);
            }
        }
    }

    #[test]
    fn strtod_rules() {
        assert_eq!(string2d(b"1.5"), Some(1.5));
        assert_eq!(string2d(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"1e-400"), None);
        assert_eq!(string2d(b"1e400"), None);
        assert_eq!(string2d(b"nan"), None);
        assert_eq!(string2d(b" 1"), None);
        assert_eq!(string2d(b"1 "), None);
        assert_eq!(string2d(b""), None);
        assert_eq!(string2d(b".5"), Some(0.5));
        assert_eq!(string2d(b"5."), Some(5.0));
        assert_eq!(string2d(b"0e5"), Some(0.0));
    }
}
