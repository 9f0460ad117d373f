//! Directive values: how each type of the table is stored, parsed from
//! arguments (file, command line or `CONFIG SET`) and formatted for
//! `CONFIG GET`. The rules and messages are those of Redis 7.0.15's
//! `config.c` type interfaces.

use std::path::{Path, PathBuf};

use super::lex::{format_percentile, memtoull, strerror, string2ll, strtoll};
use super::table::{Directive, Kind, NumFmt};

/// One client class of `client-output-buffer-limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: i64,
}

/// Defaults for normal, replica (slave) and pubsub clients.
pub(crate) const OBUF_DEFAULTS: [ObufLimit; 3] = [
    ObufLimit {
        hard_bytes: 0,
        soft_bytes: 0,
        soft_seconds: 0,
    },
    ObufLimit {
        hard_bytes: 256 << 20,
        soft_bytes: 64 << 20,
        soft_seconds: 60,
    },
    ObufLimit {
        hard_bytes: 32 << 20,
        soft_bytes: 8 << 20,
        soft_seconds: 60,
    },
];
pub(crate) const OBUF_CLASS_NAMES: [&str; 3] = ["normal", "slave", "pubsub"];
pub(crate) const OOM_DEFAULTS: [i64; 3] = [0, 200, 800];
pub(crate) const SAVE_DEFAULTS: [(i64, i64); 3] = [(3600, 1), (300, 100), (60, 10000)];
pub(crate) const BIND_DEFAULTS: [&str; 2] = ["*", "-::*"];
pub(crate) const PERCENTILE_DEFAULTS: [f64; 3] = [50.0, 99.0, 99.9];

/// The stored value of one directive.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Int(i64),
    Enum(i32),
    /// `None` is Redis's NULL string (unset).
    Str(Option<Vec<u8>>),
    Dir(PathBuf),
    Save(Vec<(i64, i64)>),
    Obuf([ObufLimit; 3]),
    Oom([i64; 3]),
    Notify(i32),
    Bind(Vec<Vec<u8>>),
    ReplicaOf(Option<(Vec<u8>, i64)>),
    Percentiles(Vec<f64>),
}

/// The default value of a directive; `cwd` is the working directory used for `dir`.
pub(crate) fn default_value(d: &Directive, cwd: &Path) -> Value {
    match d.kind {
        Kind::Bool { default, .. } => Value::Bool(default),
        Kind::Int { default, .. } => Value::Int(default),
        Kind::Enum { default, .. } => Value::Enum(default),
        Kind::Str {
            default,
            empty_is_null,
            ..
        } => Value::Str(match default {
            None if empty_is_null => None,
            None => Some(Vec::new()),
            Some(s) => Some(s.as_bytes().to_vec()),
        }),
        Kind::Dir => Value::Dir(cwd.to_path_buf()),
        Kind::Save => Value::Save(SAVE_DEFAULTS.to_vec()),
        Kind::ClientOutputBufferLimit => Value::Obuf(OBUF_DEFAULTS),
        Kind::OomScoreAdjValues => Value::Oom(OOM_DEFAULTS),
        Kind::NotifyKeyspaceEvents => Value::Notify(0),
        Kind::Bind => Value::Bind(
            BIND_DEFAULTS
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect(),
        ),
        Kind::ReplicaOf => Value::ReplicaOf(None),
        Kind::LatencyPercentiles => Value::Percentiles(PERCENTILE_DEFAULTS.to_vec()),
    }
}

/// Context a `set` needs beyond the arguments.
pub(crate) struct SetCtx<'a> {
    /// Working directory against which a relative `dir` is resolved.
    pub cwd: &'a Path,
    /// True while reading a config file (Redis's `reading_config_file`).
    pub reading_file: bool,
    /// Redis's static `save_loaded`: the first `save` of the files resets the defaults.
    pub save_loaded: &'a mut bool,
}

fn yes_no(s: &[u8]) -> Option<bool> {
    if s.eq_ignore_ascii_case(b"yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case(b"no") {
        Some(false)
    } else {
        None
    }
}

fn first(args: &[Vec<u8>]) -> &[u8] {
    args.first().map(|v| v.as_slice()).unwrap_or(b"")
}

/// Enum values from arguments (`configEnumGetValue`); `None` when invalid.
fn enum_value(values: &[(&str, i32)], args: &[Vec<u8>], bitflags: bool) -> Option<i32> {
    if args.is_empty() || (!bitflags && args.len() != 1) {
        return None;
    }
    let mut acc = 0;
    for a in args {
        let mut matched = false;
        for (name, v) in values {
            if name.as_bytes().eq_ignore_ascii_case(a) {
                acc |= v;
                matched = true;
            }
        }
        if !matched {
            return None;
        }
    }
    Some(acc)
}

/// Enum name(s) from a value (`configEnumGetName`).
pub(crate) fn enum_name(values: &[(&str, i32)], v: i32, bitflags: bool) -> String {
    let mut names: Option<String> = None;
    let mut unmatched = v;
    for (name, val) in values {
        if v == *val {
            return (*name).to_string();
        }
        if bitflags && *val != 0 && *val == (unmatched & val) {
            names = Some(match names {
                Some(n) => format!("{n} {name}"),
                None => (*name).to_string(),
            });
            unmatched &= !val;
        }
    }
    match names {
        Some(n) if unmatched == 0 => n,
        _ => "unknown".to_string(),
    }
}

/// Parses a numeric argument (`numericParseString` + `numericBoundaryCheck`).
pub(crate) fn parse_number(
    s: &[u8],
    min: i64,
    max: i64,
    fmt: NumFmt,
    unsigned: bool,
) -> Result<i64, String> {
    let parsed: Option<i64> = match fmt {
        NumFmt::Memory => memtoull(s).map(|v| v as i64),
        NumFmt::MemoryPercent => memtoull(s).map(|v| v as i64).or_else(|| {
            if s.len() > 1 && s.ends_with(b"%") {
                string2ll(&s[..s.len() - 1]).filter(|v| *v >= 0).map(|v| -v)
            } else {
                None
            }
        }),
        NumFmt::Octal => parse_octal(s),
        NumFmt::Plain => string2ll(s),
    };
    let Some(v) = parsed else {
        return Err(match fmt {
            NumFmt::MemoryPercent => "argument must be a memory or percent value",
            NumFmt::Memory => "argument must be a memory value",
            NumFmt::Octal => "argument couldn't be parsed as an octal number",
            NumFmt::Plain => "argument couldn't be parsed into an integer",
        }
        .to_string());
    };
    if unsigned {
        let (uv, umin, umax) = (v as u64, min as u64, max as u64);
        if uv > umax || uv < umin {
            return Err(if fmt == NumFmt::Octal {
                format!("argument must be between {umin:o} and {umax:o} inclusive")
            } else {
                format!("argument must be between {umin} and {umax} inclusive")
            });
        }
    } else if fmt == NumFmt::MemoryPercent && v < 0 {
        if v < min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                -min
            ));
        }
    } else if v > max || v < min {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(v)
}

/// C `strtoll(s, &end, 8)` with `errno == 0 && *end == '\0'`.
fn parse_octal(s: &[u8]) -> Option<i64> {
    let mut p = 0;
    while p < s.len() && matches!(s[p], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        p += 1;
    }
    let mut neg = false;
    if p < s.len() && (s[p] == b'+' || s[p] == b'-') {
        neg = s[p] == b'-';
        p += 1;
    }
    let digits = &s[p..];
    if digits.is_empty() {
        // No conversion: valid only for an empty input (end pointer at '\0').
        return if s.is_empty() { Some(0) } else { None };
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

/// Flags of `notify-keyspace-events` (`keyspaceEventsStringToFlags`).
pub(crate) fn notify_flags(s: &[u8]) -> Option<i32> {
    let mut flags = 0;
    for &c in s {
        flags |= match c {
            b'A' => NOTIFY_ALL,
            b'g' => 1 << 2,
            b'$' => 1 << 3,
            b'l' => 1 << 4,
            b's' => 1 << 5,
            b'h' => 1 << 6,
            b'z' => 1 << 7,
            b'x' => 1 << 8,
            b'e' => 1 << 9,
            b'K' => 1,
            b'E' => 1 << 1,
            b't' => 1 << 10,
            b'm' => 1 << 11,
            b'd' => 1 << 13,
            b'n' => 1 << 14,
            _ => return None,
        };
    }
    Some(flags)
}

const NOTIFY_ALL: i32 = (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 10)
    | (1 << 13);

/// `keyspaceEventsFlagsToString`.
pub(crate) fn notify_string(flags: i32) -> String {
    let mut s = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (2, 'g'),
            (3, '$'),
            (4, 'l'),
            (5, 's'),
            (6, 'h'),
            (7, 'z'),
            (8, 'x'),
            (9, 'e'),
            (10, 't'),
            (13, 'd'),
            (14, 'n'),
        ] {
            if flags & (1 << bit) != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(0, 'K'), (1, 'E'), (11, 'm')] {
        if flags & (1 << bit) != 0 {
            s.push(c);
        }
    }
    s
}

fn client_class(name: &[u8]) -> Option<usize> {
    if name.eq_ignore_ascii_case(b"normal") {
        Some(0)
    } else if name.eq_ignore_ascii_case(b"slave") || name.eq_ignore_ascii_case(b"replica") {
        Some(1)
    } else if name.eq_ignore_ascii_case(b"pubsub") {
        Some(2)
    } else {
        None // "master" is a known class but invalid here, same message
    }
}

/// Resolves and checks a `dir` argument like `chdir` would, without changing
/// the process's directory.
pub(crate) fn resolve_dir(cwd: &Path, arg: &[u8]) -> Result<PathBuf, String> {
    let arg = String::from_utf8_lossy(arg);
    let p = Path::new(arg.as_ref());
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    let canon = std::fs::canonicalize(&joined).map_err(|e| strerror(&e))?;
    if !canon.is_dir() {
        return Err("Not a directory".to_string());
    }
    Ok(canon)
}

/// Applies `args` to `cur` following the directive's type. Errors are the
/// `err` strings of Redis's setters.
pub(crate) fn set_value(
    d: &Directive,
    cur: &mut Value,
    args: &[Vec<u8>],
    ctx: &mut SetCtx<'_>,
) -> Result<(), String> {
    let multi = d.has(super::table::MULTI_ARG);
    match (d.kind, cur) {
        (Kind::Bool { check, .. }, Value::Bool(v)) => {
            let yn = yes_no(first(args)).ok_or("argument must be 'yes' or 'no'")?;
            if let Some(f) = check {
                f(yn)?;
            }
            *v = yn;
        }
        (
            Kind::Str {
                empty_is_null,
                check,
                ..
            },
            Value::Str(v),
        ) => {
            let a = first(args);
            if let Some(f) = check {
                f(a)?;
            }
            *v = if empty_is_null && a.is_empty() {
                None
            } else {
                Some(a.to_vec())
            };
        }
        (Kind::Enum { values, check, .. }, Value::Enum(v)) => {
            let Some(n) = enum_value(values, args, multi) else {
                let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                let mut msg = format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                );
                msg.truncate(255);
                return Err(msg);
            };
            if let Some(f) = check {
                f(n)?;
            }
            *v = n;
        }
        (
            Kind::Int {
                min,
                max,
                fmt,
                unsigned,
                ..
            },
            Value::Int(v),
        ) => {
            *v = parse_number(first(args), min, max, fmt, unsigned)?;
        }
        (Kind::Dir, Value::Dir(v)) => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            *v = resolve_dir(ctx.cwd, &args[0])?;
        }
        (Kind::Save, Value::Save(v)) => set_save(v, args, ctx)?,
        (Kind::ClientOutputBufferLimit, Value::Obuf(v)) => set_obuf(v, args)?,
        (Kind::OomScoreAdjValues, Value::Oom(v)) => {
            if args.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut vals = [0i64; 3];
            for (slot, a) in vals.iter_mut().zip(args) {
                let (n, full) = strtoll(a);
                if !full || !(-2000..=2000).contains(&n) {
                    return Err(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                            .into(),
                    );
                }
                *slot = n;
            }
            *v = vals;
        }
        (Kind::NotifyKeyspaceEvents, Value::Notify(v)) => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            *v = notify_flags(&args[0])
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
        }
        (Kind::Bind, Value::Bind(v)) => {
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            if args.len() == 1 && args[0].is_empty() {
                v.clear();
            } else {
                *v = args.to_vec();
            }
        }
        (Kind::ReplicaOf, Value::ReplicaOf(v)) => {
            if args.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            *v = None;
            if args[0].eq_ignore_ascii_case(b"no") && args[1].eq_ignore_ascii_case(b"one") {
                return Ok(());
            }
            let (port, full) = strtoll(&args[1]);
            if !full || !(0..=65535).contains(&port) {
                return Err("Invalid master port".into());
            }
            *v = Some((args[0].clone(), port));
        }
        (Kind::LatencyPercentiles, Value::Percentiles(v)) => {
            v.clear();
            if args.len() == 1 && args[0].is_empty() {
                return Ok(());
            }
            for a in args {
                let s = std::str::from_utf8(a)
                    .ok()
                    .filter(|s| !s.is_empty() && !s.starts_with(|c: char| c.is_ascii_whitespace()));
                let Some(p) = s
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|p| !p.is_nan())
                else {
                    v.clear();
                    return Err("Invalid latency-tracking-info-percentiles parameters".into());
                };
                if !(0.0..=100.0).contains(&p) {
                    v.clear();
                    return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                }
                v.push(p);
            }
        }
        _ => return Err("internal error: value does not match directive type".into()),
    }
    Ok(())
}

fn set_save(v: &mut Vec<(i64, i64)>, args: &[Vec<u8>], ctx: &mut SetCtx<'_>) -> Result<(), String> {
    let mut args = args;
    if args.len() == 1 && args[0].is_empty() {
        v.clear();
        args = &[];
    }
    if args.len() % 2 == 1 {
        return Err("Invalid save parameters".into());
    }
    let mut pairs = Vec::with_capacity(args.len() / 2);
    for pair in args.chunks(2) {
        let (secs, f1) = strtoll(&pair[0]);
        let (changes, f2) = strtoll(&pair[1]);
        if !f1 || !f2 || secs < 1 || changes < 0 {
            return Err("Invalid save parameters".into());
        }
        // Redis stores changes in an int.
        pairs.push((secs, i64::from(changes as i32)));
    }
    if !ctx.reading_file {
        v.clear();
    } else if !*ctx.save_loaded {
        *ctx.save_loaded = true;
        v.clear();
    }
    v.extend(pairs);
    Ok(())
}

fn set_obuf(v: &mut [ObufLimit; 3], args: &[Vec<u8>]) -> Result<(), String> {
    if !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut next = *v;
    for chunk in args.chunks(4) {
        let class = client_class(&chunk[0])
            .ok_or("Invalid client class specified in buffer limit configuration.")?;
        let hard = memtoull(&chunk[1]);
        let soft = memtoull(&chunk[2]);
        let (secs, full) = strtoll(&chunk[3]);
        // Redis keeps soft_seconds in an int.
        let secs = i64::from(secs as i32);
        match (hard, soft) {
            (Some(hard_bytes), Some(soft_bytes)) if full && secs >= 0 => {
                next[class] = ObufLimit {
                    hard_bytes,
                    soft_bytes,
                    soft_seconds: secs,
                };
            }
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                )
            }
        }
    }
    *v = next;
    Ok(())
}

/// `CONFIG GET` text of a value.
pub(crate) fn format_value(d: &Directive, v: &Value) -> Vec<u8> {
    let multi = d.has(super::table::MULTI_ARG);
    match (d.kind, v) {
        (_, Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        (Kind::Int { fmt, .. }, Value::Int(n)) => match fmt {
            NumFmt::MemoryPercent if *n < 0 => format!("{}%", -n).into_bytes(),
            NumFmt::Memory | NumFmt::MemoryPercent => (*n as u64).to_string().into_bytes(),
            NumFmt::Octal => format!("{n:o}").into_bytes(),
            NumFmt::Plain => n.to_string().into_bytes(),
        },
        (Kind::Enum { values, .. }, Value::Enum(n)) => enum_name(values, *n, multi).into_bytes(),
        (_, Value::Str(s)) => s.clone().unwrap_or_default(),
        (_, Value::Dir(p)) => p.to_string_lossy().into_owned().into_bytes(),
        (_, Value::Save(pairs)) => pairs
            .iter()
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        (_, Value::Obuf(l)) => l
            .iter()
            .zip(OBUF_CLASS_NAMES)
            .map(|(l, n)| format!("{n} {} {} {}", l.hard_bytes, l.soft_bytes, l.soft_seconds))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        (_, Value::Oom(o)) => format!("{} {} {}", o[0], o[1], o[2]).into_bytes(),
        (_, Value::Notify(f)) => notify_string(*f).into_bytes(),
        (_, Value::Bind(a)) => a.join(&b' '),
        (_, Value::ReplicaOf(Some((h, p)))) => {
            let mut out = h.clone();
            out.extend_from_slice(format!(" {p}").as_bytes());
            out
        }
        (_, Value::ReplicaOf(None)) => Vec::new(),
        (_, Value::Percentiles(p)) => p
            .iter()
            .map(|v| format_percentile(*v))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        _ => Vec::new(),
    }
}
