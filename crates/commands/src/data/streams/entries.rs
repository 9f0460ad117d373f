//! XADD, XTRIM, XDEL, XLEN, XRANGE, XREVRANGE, XSETID: adding, trimming, deleting and
//! reading entries (7.0.15's `xaddCommand`, `xtrimCommand`, `xdelCommand`, ...).

use bytes::Bytes;
use tandem_keyspace::value::{NodeLimits, StreamId, TrimBy, LISTPACK_MAX_SIZE, MAX_ID};
use tandem_keyspace::{Expiry, StreamValue, Value};

use super::{
    changed, cstr, id_bytes, is_opt, parse_id_generic, parse_interval, parse_ll, parse_strict_id,
    read_stream, reply_entries, reply_id, write_stream, IdMode, XError,
};
use crate::data::{notify, ExecCtx};

/// Parsed XADD / XTRIM options (`streamAddTrimArgs`).
#[derive(Default)]
struct AddTrim {
    id: StreamId,
    id_given: bool,
    seq_given: bool,
    no_mkstream: bool,
    trim: Option<TrimBy>,
    /// Index of the MAXLEN count / MINID id argument (for the propagated rewrite).
    trim_arg: usize,
    approx: bool,
    limit: u64,
}

/// `streamParseAddOrTrimArgsOrReply`: the options, and the index where parsing stopped
/// (XADD: the ID's position).
fn parse_add_trim(
    ctx: &ExecCtx<'_, '_>,
    args: &[Bytes],
    xadd: bool,
) -> Result<(AddTrim, usize), XError> {
    let mut a = AddTrim::default();
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let argc = args.len();
    let mut i = 2;
    while i < argc {
        let moreargs = argc - 1 - i;
        let opt = &args[i];
        if xadd && cstr(opt) == b"*" {
            break;
        } else if is_opt(opt, "maxlen") && moreargs > 0 {
            if a.trim.is_some() {
                return Err(XError::Err(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            a.approx = false;
            let next = cstr(&args[i + 1]);
            if moreargs >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if moreargs >= 2 && next == b"=" {
                i += 1;
            }
            let maxlen = parse_ll(&args[i + 1])?;
            if maxlen < 0 {
                return Err(XError::Err("The MAXLEN argument must be >= 0."));
            }
            i += 1;
            a.trim = Some(TrimBy::MaxLen(maxlen as u64));
            a.trim_arg = i;
        } else if is_opt(opt, "minid") && moreargs > 0 {
            if a.trim.is_some() {
                return Err(XError::Err(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            a.approx = false;
            let next = cstr(&args[i + 1]);
            if moreargs >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if moreargs >= 2 && next == b"=" {
                i += 1;
            }
            let min = parse_strict_id(&args[i + 1], 0)?;
            i += 1;
            a.trim = Some(TrimBy::MinId(min));
            a.trim_arg = i;
        } else if is_opt(opt, "limit") && moreargs > 0 {
            limit = parse_ll(&args[i + 1])?;
            if limit < 0 {
                return Err(XError::Err("The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && is_opt(opt, "nomkstream") {
            a.no_mkstream = true;
        } else if xadd {
            let mut seq_given = true;
            a.id = parse_id_generic(opt, 0, IdMode::Strict, Some(&mut seq_given))?;
            a.seq_given = seq_given;
            a.id_given = true;
            break;
        } else {
            return Err(XError::Syntax);
        }
        i += 1;
    }
    if limit != 0 && a.trim.is_none() {
        return Err(XError::Err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.trim.is_none() {
        return Err(XError::Err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if ctx.settings.replica_mode {
        // Commands from the master obey: the argument was rewritten to be exact.
        limit = 0;
    } else if limit_given {
        if !a.approx {
            return Err(XError::Err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if a.approx {
        limit = 100i64.saturating_mul(ctx.settings.limits.stream_node_max_entries as i64);
        if limit <= 0 {
            limit = 10000;
        }
        if limit > 1_000_000 {
            limit = 1_000_000;
        }
    } else {
        limit = 0;
    }
    a.limit = limit as u64;
    Ok((a, i))
}

fn node_limits(ctx: &ExecCtx<'_, '_>) -> NodeLimits {
    NodeLimits {
        max_bytes: ctx.settings.limits.stream_node_max_bytes,
        max_entries: ctx.settings.limits.stream_node_max_entries,
    }
}

/// The propagated trim argument after `~` trimming (`streamRewriteTrimArgument`).
fn trim_rewrite(s: &StreamValue, by: TrimBy) -> Bytes {
    match by {
        TrimBy::MaxLen(_) => Bytes::from(s.len().to_string()),
        TrimBy::MinId(_) => id_bytes(s.entries.edge_id(true, false)),
    }
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
pub(super) fn xadd(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let (a, idpos) = parse_add_trim(ctx, args, true)?;
    let field_pos = idpos + 1;
    let nargs = args.len() as isize - field_pos as isize;
    if nargs < 2 || nargs % 2 == 1 {
        return Err(XError::Raw(
            b"ERR wrong number of arguments for 'xadd' command".to_vec(),
        ));
    }
    if a.id_given && a.seq_given && a.id == StreamId::new(0, 0) {
        return Err(XError::Err(
            "The ID specified in XADD must be greater than 0-0",
        ));
    }
    let key = &args[1];
    let (db, now) = (ctx.db, ctx.now);
    let limits = node_limits(ctx);
    if write_stream(ctx.ks, db, key, now)?.is_none() {
        if a.no_mkstream {
            ctx.enc.null();
            return Ok(());
        }
        ctx.ks
            .set(db, key, Value::Stream(StreamValue::new()), Expiry::Clear);
    }
    let Some(s) = write_stream(ctx.ks, db, key, now)? else {
        return Ok(());
    };
    let last = s.entries.last_id;
    if last == MAX_ID {
        return Err(XError::Err(
            "The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    // streamAppendItem: the ID.
    let id = if a.id_given {
        if a.seq_given {
            a.id
        } else if last.ms == a.id.ms {
            if last.seq == u64::MAX {
                return Err(XError::Err("Elements are too large to be stored"));
            }
            StreamId::new(last.ms, last.seq + 1)
        } else {
            a.id
        }
    } else {
        let ms = now.max(0) as u64;
        if ms > last.ms {
            StreamId::new(ms, 0)
        } else {
            super::incr_id(last).unwrap_or_default()
        }
    };
    if id <= last {
        return Err(XError::Err(
            "The ID specified in XADD is equal or smaller than the target stream top item",
        ));
    }
    let pairs = &args[field_pos..];
    let total: usize = pairs.iter().map(|p| p.len()).sum();
    if total > LISTPACK_MAX_SIZE {
        return Err(XError::Err("Elements are too large to be stored"));
    }
    // The node copies the bytes into its buffer: no allocation per entry.
    let fields = pairs.chunks_exact(2).filter_map(|p| match p {
        [f, v] => Some((&f[..], &v[..])),
        _ => None,
    });
    s.entries.append(id, fields, limits);
    reply_id(ctx.enc, id);

    let mut argv: Option<Vec<Bytes>> = None;
    let mut trimmed = 0;
    if let Some(by) = a.trim {
        trimmed = s.entries.trim(by, a.approx, a.limit);
        if a.approx {
            let v = argv.get_or_insert_with(|| args.to_vec());
            v[a.trim_arg - 1] = Bytes::from_static(b"=");
            v[a.trim_arg] = trim_rewrite(s, by);
        }
    }
    if !a.id_given || !a.seq_given {
        argv.get_or_insert_with(|| args.to_vec())[idpos] = id_bytes(id);
    }
    changed(ctx, key, 1);
    ctx.notify(notify::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    if let Some(v) = argv {
        ctx.prop.rewrite(vec![v]);
    }
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub(super) fn xtrim(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let (a, _) = parse_add_trim(ctx, args, false)?;
    let key = &args[1];
    let Some(s) = write_stream(ctx.ks, ctx.db, key, ctx.now)? else {
        ctx.enc.integer(0);
        return Ok(());
    };
    let Some(by) = a.trim else {
        ctx.enc.integer(0);
        return Ok(());
    };
    let deleted = s.entries.trim(by, a.approx, a.limit);
    if deleted > 0 {
        if a.approx {
            let mut v = args.to_vec();
            v[a.trim_arg - 1] = Bytes::from_static(b"=");
            v[a.trim_arg] = trim_rewrite(s, by);
            ctx.prop.rewrite(vec![v]);
        }
        changed(ctx, key, deleted);
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    ctx.enc.integer(deleted as i64);
    Ok(())
}

/// XDEL key id [id ...]
pub(super) fn xdel(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let key = &args[1];
    let Some(s) = write_stream(ctx.ks, ctx.db, key, ctx.now)? else {
        ctx.enc.integer(0);
        return Ok(());
    };
    let ids = args[2..]
        .iter()
        .map(|a| parse_strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut deleted = 0u64;
    let mut first_entry = false;
    for id in ids {
        if s.entries.delete(id) {
            if id == s.entries.first_id {
                first_entry = true;
            }
            if id > s.entries.max_deleted_id {
                s.entries.max_deleted_id = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.entries.is_empty() {
            s.entries.first_id = StreamId::default();
        } else if first_entry {
            s.entries.first_id = s.entries.edge_id(true, true);
        }
        changed(ctx, key, deleted);
        ctx.notify(notify::STREAM, "xdel", key);
    }
    ctx.enc.integer(deleted as i64);
    Ok(())
}

/// XLEN key
pub(super) fn xlen(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let n = read_stream(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)?.map_or(0, |s| s.len());
    ctx.enc.integer(n as i64);
    Ok(())
}

/// XRANGE key start end [COUNT count]
pub(super) fn xrange(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    range_generic(ctx, args, false)
}

/// XREVRANGE key end start [COUNT count]
pub(super) fn xrevrange(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    range_generic(ctx, args, true)
}

fn range_generic(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes], rev: bool) -> Result<(), XError> {
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let start = parse_interval(start_arg, true)?;
    let end = parse_interval(end_arg, false)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        let additional = args.len() - j - 1;
        if is_opt(&args[j], "COUNT") && additional >= 1 {
            count = parse_ll(&args[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(XError::Syntax);
        }
        j += 1;
    }
    let Some(s) = read_stream(ctx.ks, ctx.stats, ctx.db, &args[1], ctx.now)? else {
        ctx.enc.array_len(0);
        return Ok(());
    };
    if count == 0 {
        ctx.enc.null_array();
        return Ok(());
    }
    let take = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    if rev {
        reply_entries(ctx.enc, s.entries.rev_range(start, end).take(take));
    } else {
        reply_entries(ctx.enc, s.entries.range(start, end).take(take));
    }
    Ok(())
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub(super) fn xsetid(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let id = parse_strict_id(&args[2], 0)?;
    let mut max_xdel = StreamId::default();
    let mut entries_added: i64 = -1;
    let mut i = 3;
    while i < args.len() {
        let moreargs = args.len() - 1 - i;
        if is_opt(&args[i], "ENTRIESADDED") && moreargs > 0 {
            entries_added = parse_ll(&args[i + 1])?;
            if entries_added < 0 {
                return Err(XError::Err("entries_added must be positive"));
            }
            i += 2;
        } else if is_opt(&args[i], "MAXDELETEDID") && moreargs > 0 {
            max_xdel = parse_strict_id(&args[i + 1], 0)?;
            if id < max_xdel {
                return Err(XError::Err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(XError::Syntax);
        }
    }
    let Some(s) = write_stream(ctx.ks, ctx.db, &args[1], ctx.now)? else {
        return Err(XError::Err("no such key"));
    };
    if !s.is_empty() {
        let maxid = s.entries.last_valid_id();
        if id < maxid {
            return Err(XError::Err(
                "The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.len() as i64 > entries_added {
            return Err(XError::Err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.entries.last_id = id;
    if entries_added != -1 {
        s.entries.entries_added = entries_added as u64;
    }
    if max_xdel != StreamId::default() {
        s.entries.max_deleted_id = max_xdel;
    }
    ctx.enc.ok();
    // Redis 7.0.15 does not signal the key as modified here (WATCH stays intact).
    ctx.dirty += 1;
    ctx.notify(notify::STREAM, "xsetid", &args[1]);
    Ok(())
}
