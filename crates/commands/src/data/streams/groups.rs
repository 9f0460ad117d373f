//! Consumer groups: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP),
//! XACK, XPENDING, XCLAIM, XAUTOCLAIM (7.0.15's `xgroupCommand`, `xackCommand`, ...).

use bytes::{Bytes, BytesMut};
use tandem_keyspace::value::{Consumer, Group, Nack, StreamData, StreamId, INVALID_ENTRIES_READ};
use tandem_keyspace::{Expiry, Keyspace, StreamValue, Value};
use tandem_resp::Encoder;

use super::{
    c, cstr, id_bytes, incr_id, is_opt, nogroup, own, parse_id, parse_interval, parse_ll,
    parse_ll_msg, parse_strict_id, prop_setid, prop_xclaim, read_stream, reply_entry, reply_id,
    subcommand_syntax, write_stream, XError,
};
use crate::data::{notify, ExecCtx};
use crate::write_help;

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

/// XGROUP <subcommand> ...
pub(super) fn xgroup(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let argc = args.len();
    let opt = &args[1];
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut exists = false;
    let mut has_group = false;
    if argc >= 4 {
        let create = is_opt(opt, "CREATE");
        let setid = is_opt(opt, "SETID");
        let mut i = 5;
        while i < argc {
            if create && is_opt(&args[i], "MKSTREAM") {
                mkstream = true;
                i += 1;
            } else if (create || setid) && is_opt(&args[i], "ENTRIESREAD") && i + 1 < argc {
                entries_read = parse_ll(&args[i + 1])?;
                if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                    return Err(XError::Err("value for ENTRIESREAD must be positive or -1"));
                }
                i += 2;
            } else {
                return Err(subcommand_syntax(args));
            }
        }
        if let Some(s) = write_stream(ctx.ks, ctx.db, &args[2], ctx.now)? {
            exists = true;
            has_group = s.groups.contains_key(&args[3]);
        }
    }
    if argc >= 4 && !mkstream {
        if !exists {
            return Err(XError::Err(
                "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            ));
        }
        if !has_group
            && (is_opt(opt, "SETID") || is_opt(opt, "CREATECONSUMER") || is_opt(opt, "DELCONSUMER"))
        {
            return Err(nogroup(&[
                b"NOGROUP No such consumer group '",
                c(&args[3]),
                b"' for key name '",
                c(&args[2]),
                b"'",
            ]));
        }
    }
    let (db, now) = (ctx.db, ctx.now);
    if argc == 2 && is_opt(opt, "HELP") {
        write_help(ctx.enc, &args[0], XGROUP_HELP);
    } else if is_opt(opt, "CREATE") && (5..=8).contains(&argc) {
        let key = &args[2];
        let id = if cstr(&args[4]) == b"$" {
            match write_stream(ctx.ks, db, key, now)? {
                Some(s) => s.entries.last_id,
                None => StreamId::default(),
            }
        } else {
            parse_strict_id(&args[4], 0)?
        };
        if !exists {
            ctx.ks
                .set(db, key, Value::Stream(StreamValue::new()), Expiry::Clear);
            ctx.ks.touch_modified(db, key);
        }
        let Some(s) = write_stream(ctx.ks, db, key, now)? else {
            return Ok(());
        };
        if s.groups.contains_key(&args[3]) {
            return Err(XError::Raw(
                b"BUSYGROUP Consumer Group name already exists".to_vec(),
            ));
        }
        s.groups.insert(own(&args[3]), Group::new(id, entries_read));
        ctx.enc.ok();
        ctx.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-create", &args[2]);
    } else if is_opt(opt, "SETID") && (argc == 5 || argc == 7) {
        let Some(s) = write_stream(ctx.ks, db, &args[2], now)? else {
            return Ok(());
        };
        let id = if cstr(&args[4]) == b"$" {
            s.entries.last_id
        } else {
            parse_id(&args[4], 0)?
        };
        if let Some(g) = s.groups.get_mut(&args[3]) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        ctx.enc.ok();
        ctx.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-setid", &args[2]);
    } else if is_opt(opt, "DESTROY") && argc == 4 {
        let Some(s) = write_stream(ctx.ks, db, &args[2], now)? else {
            return Ok(());
        };
        if s.groups.remove(&args[3]).is_some() {
            ctx.enc.integer(1);
            ctx.dirty += 1;
            ctx.notify(notify::STREAM, "xgroup-destroy", &args[2]);
        } else {
            ctx.enc.integer(0);
        }
    } else if is_opt(opt, "CREATECONSUMER") && argc == 5 {
        let Some(s) = write_stream(ctx.ks, db, &args[2], now)? else {
            return Ok(());
        };
        let created = match s.groups.get_mut(&args[3]) {
            Some(g) if !g.consumers.contains_key(&args[4]) => {
                g.consumers.insert(own(&args[4]), Consumer::new(now));
                true
            }
            _ => false,
        };
        if created {
            ctx.dirty += 1;
            ctx.notify(notify::STREAM, "xgroup-createconsumer", &args[2]);
        }
        ctx.enc.integer(i64::from(created));
    } else if is_opt(opt, "DELCONSUMER") && argc == 5 {
        let Some(s) = write_stream(ctx.ks, db, &args[2], now)? else {
            return Ok(());
        };
        let mut pending = 0;
        let mut deleted = false;
        if let Some(g) = s.groups.get_mut(&args[3]) {
            if let Some(consumer) = g.consumers.remove(&args[4]) {
                pending = consumer.pel.len();
                for id in &consumer.pel {
                    g.pel.remove(id);
                }
                ctx.dirty += 1;
                deleted = true;
            }
        }
        if deleted {
            ctx.notify(notify::STREAM, "xgroup-delconsumer", &args[2]);
        }
        ctx.enc.integer(pending as i64);
    } else {
        return Err(subcommand_syntax(args));
    }
    Ok(())
}

/// The stream and group for XACK / XCLAIM / XAUTOCLAIM / XPENDING: a read lookup (hits
/// and misses counted), the type check, then the group. `Ok(false)` when either is
/// missing.
fn has_group(ctx: &mut ExecCtx<'_, '_>, key: &[u8], group: &[u8]) -> Result<bool, XError> {
    Ok(read_stream(ctx.ks, ctx.stats, ctx.db, key, ctx.now)?
        .is_some_and(|s| s.groups.contains_key(group)))
}

/// The group, for mutation.
fn group_mut<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    group: &[u8],
    now: i64,
) -> Option<&'k mut StreamValue> {
    match ks.get_mut(db, key, now) {
        Some(Value::Stream(s)) if s.groups.contains_key(group) => Some(s),
        _ => None,
    }
}

fn no_key_or_group(key: &[u8], group: &[u8]) -> XError {
    nogroup(&[
        b"NOGROUP No such key '",
        c(key),
        b"' or consumer group '",
        c(group),
        b"'",
    ])
}

/// XACK key group id [id ...]
pub(super) fn xack(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    if !has_group(ctx, &args[1], &args[2])? {
        ctx.enc.integer(0);
        return Ok(());
    }
    let ids = args[3..]
        .iter()
        .map(|a| parse_strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut acked = 0u64;
    if let Some(s) = group_mut(ctx.ks, ctx.db, &args[1], &args[2], ctx.now) {
        if let Some(g) = s.groups.get_mut(&args[2]) {
            for id in ids {
                if g.remove_nack(id).is_some() {
                    acked += 1;
                }
            }
        }
    }
    ctx.dirty += acked;
    ctx.enc.integer(acked as i64);
    Ok(())
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
pub(super) fn xpending(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let argc = args.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(XError::Syntax);
    }
    let mut minidle = 0i64;
    let mut count = 0i64;
    let mut start = StreamId::default();
    let mut end = StreamId::default();
    let mut consumer: Option<&Bytes> = None;
    if argc >= 6 {
        let mut startidx = 3;
        if is_opt(&args[3], "IDLE") {
            minidle = parse_ll(&args[4])?;
            if argc < 8 {
                return Err(XError::Syntax);
            }
            startidx += 2;
        }
        count = parse_ll(&args[startidx + 2])?.max(0);
        start = parse_interval(&args[startidx], true)?;
        end = parse_interval(&args[startidx + 1], false)?;
        if startidx + 3 < argc {
            consumer = Some(&args[startidx + 3]);
        }
    }
    let (key, gname) = (&args[1], &args[2]);
    let Some(s) = read_stream(ctx.ks, ctx.stats, ctx.db, key, ctx.now)? else {
        return Err(no_key_or_group(key, gname));
    };
    let Some(g) = s.groups.get(gname) else {
        return Err(no_key_or_group(key, gname));
    };
    let enc = &mut *ctx.enc;
    if justinfo {
        enc.array_len(4);
        enc.integer(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(&first), Some(&last)) => {
                reply_id(enc, first);
                reply_id(enc, last);
                let owners: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                enc.array_len(owners.len());
                for (name, c) in owners {
                    enc.array_len(2);
                    enc.bulk(name);
                    enc.bulk_integer(c.pel.len() as i64);
                }
            }
            _ => {
                enc.null();
                enc.null();
                enc.null_array();
            }
        }
        return Ok(());
    }
    let now = ctx.now;
    let ids: Vec<StreamId> = match consumer {
        Some(name) => match g.consumers.get(name) {
            Some(c) => c.pel.range(start..).copied().collect(),
            None => {
                enc.array_len(0);
                return Ok(());
            }
        },
        None => g.pel.range(start..).map(|(id, _)| *id).collect(),
    };
    let mut out = Vec::new();
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let Some(n) = g.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - n.delivery_time < minidle {
            continue;
        }
        out.push((id, n));
        count -= 1;
    }
    enc.array_len(out.len());
    for (id, n) in out {
        enc.array_len(4);
        reply_id(enc, id);
        enc.bulk(&n.consumer);
        enc.integer((now - n.delivery_time).max(0));
        enc.integer(n.delivery_count as i64);
    }
    Ok(())
}

/// Moves the pending entry `id` to `consumer` (created if needed, its seen-time
/// refreshed once per command) with the given delivery time and count rule.
struct Claimer<'a> {
    name: &'a Bytes,
    consumer_ready: bool,
    /// The consumer did not exist and was created (notified `xgroup-createconsumer`).
    created: bool,
}

impl Claimer<'_> {
    /// `streamLookupConsumer` / `streamCreateConsumer` on first use; true when created.
    fn ensure_consumer(&mut self, g: &mut Group, now: i64) -> bool {
        if self.consumer_ready {
            return false;
        }
        self.consumer_ready = true;
        match g.consumers.get_mut(self.name) {
            Some(c) => {
                c.seen_time = now;
                false
            }
            None => {
                g.consumers.insert(own(self.name), Consumer::new(now));
                self.created = true;
                true
            }
        }
    }

    /// Gives `id` (already in the group PEL) to the consumer.
    fn take(&self, g: &mut Group, id: StreamId) {
        let Some(owner) = g.consumers.get_key_value(self.name).map(|(k, _)| k.clone()) else {
            return;
        };
        let Some(n) = g.pel.get_mut(&id) else {
            return;
        };
        if n.consumer != owner {
            let old = std::mem::replace(&mut n.consumer, owner.clone());
            if let Some(c) = g.consumers.get_mut(&old) {
                c.pel.remove(&id);
            }
            if let Some(c) = g.consumers.get_mut(&owner) {
                c.pel.insert(id);
            }
        } else if let Some(c) = g.consumers.get_mut(&owner) {
            c.pel.insert(id);
        }
    }
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]
pub(super) fn xclaim(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let (key, gname) = (&args[1], &args[2]);
    if !has_group(ctx, key, gname)? {
        return Err(no_key_or_group(key, gname));
    }
    let minidle = parse_ll_msg(&args[4], "Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_strict_id(&args[j], 0) {
            Ok(id) => ids.push((id, j)),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now;
    let mut force = false;
    let mut justid = false;
    let mut deliverytime: i64 = -1;
    let mut retrycount: i64 = -1;
    let mut last_id = StreamId::default();
    while j < args.len() {
        let moreargs = args.len() - 1 - j;
        let opt = &args[j];
        if is_opt(opt, "FORCE") {
            force = true;
        } else if is_opt(opt, "JUSTID") {
            justid = true;
        } else if is_opt(opt, "IDLE") && moreargs > 0 {
            j += 1;
            let idle = parse_ll_msg(&args[j], "Invalid IDLE option argument for XCLAIM")?;
            deliverytime = now.wrapping_sub(idle);
        } else if is_opt(opt, "TIME") && moreargs > 0 {
            j += 1;
            deliverytime = parse_ll_msg(&args[j], "Invalid TIME option argument for XCLAIM")?;
        } else if is_opt(opt, "RETRYCOUNT") && moreargs > 0 {
            j += 1;
            retrycount = parse_ll_msg(&args[j], "Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if is_opt(opt, "LASTID") && moreargs > 0 {
            j += 1;
            last_id = parse_strict_id(&args[j], 0)?;
        } else {
            let mut v = b"ERR Unrecognized XCLAIM option '".to_vec();
            v.extend_from_slice(cstr(opt));
            v.push(b'\'');
            return Err(XError::Raw(v));
        }
        j += 1;
    }
    ctx.prop.suppress();
    let proto = ctx.enc.proto;
    let Some(s) = group_mut(ctx.ks, ctx.db, key, gname, now) else {
        return Ok(());
    };
    let StreamData { entries, groups } = &mut **s;
    let Some(g) = groups.get_mut(gname) else {
        return Ok(());
    };
    let mut propagate_last_id = false;
    if last_id > g.last_id {
        g.last_id = last_id;
        propagate_last_id = true;
    }
    if deliverytime != -1 {
        if deliverytime < 0 || deliverytime > now {
            deliverytime = now;
        }
    } else {
        deliverytime = now;
    }
    let mut dirty = 0u64;
    let mut body = BytesMut::new();
    let mut enc = Encoder::new(&mut body, proto);
    let mut n_replies = 0usize;
    let mut claimer = Claimer {
        name: &args[3],
        consumer_ready: false,
        created: false,
    };
    for (id, argj) in ids {
        let exists = entries.contains(id);
        if !exists {
            if let Some(n) = g.remove_nack(id) {
                prop_xclaim(ctx.prop, key, gname, args[argj].clone(), &n, g.last_id);
                propagate_last_id = false;
                dirty += 1;
            }
            continue;
        }
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(
                id,
                Nack {
                    consumer: Bytes::new(),
                    delivery_time: now,
                    delivery_count: 1,
                },
            );
            // A forced entry has no owner yet: the idle check does not apply.
            if claimer.ensure_consumer(g, now) {
                dirty += 1;
            }
        } else {
            let Some(n) = g.pel.get(&id) else {
                continue;
            };
            if minidle != 0 && now - n.delivery_time < minidle {
                continue;
            }
            if claimer.ensure_consumer(g, now) {
                dirty += 1;
            }
        }
        claimer.take(g, id);
        let Some(n) = g.pel.get_mut(&id) else {
            continue;
        };
        n.delivery_time = deliverytime;
        if retrycount >= 0 {
            n.delivery_count = retrycount as u64;
        } else if !justid {
            n.delivery_count += 1;
        }
        if justid {
            reply_id(&mut enc, id);
        } else if let Some(f) = entries.get(id) {
            reply_entry(&mut enc, id, f);
        }
        n_replies += 1;
        let n = n.clone();
        prop_xclaim(ctx.prop, key, gname, args[argj].clone(), &n, g.last_id);
        propagate_last_id = false;
        dirty += 1;
    }
    if propagate_last_id {
        prop_setid(ctx.prop, key, gname, g);
        dirty += 1;
    }
    ctx.dirty += dirty;
    if claimer.created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.enc.array_len(n_replies);
    ctx.enc.raw(&body);
    Ok(())
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub(super) fn xautoclaim(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let minidle = parse_ll_msg(&args[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = parse_interval(&args[5], true)?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let moreargs = args.len() - 1 - j;
        if is_opt(&args[j], "COUNT") && moreargs > 0 {
            let max_count = i64::MAX / 16;
            count = match tandem_resp::num::string2ll(&args[j + 1]) {
                Some(v) if (1..=max_count).contains(&v) => v,
                _ => return Err(XError::Err("COUNT must be > 0")),
            };
            j += 1;
        } else if is_opt(&args[j], "JUSTID") {
            justid = true;
        } else {
            return Err(XError::Syntax);
        }
        j += 1;
    }
    let (key, gname) = (&args[1], &args[2]);
    if !has_group(ctx, key, gname)? {
        return Err(no_key_or_group(key, gname));
    }
    ctx.prop.suppress();
    let now = ctx.now;
    let proto = ctx.enc.proto;
    let Some(s) = group_mut(ctx.ks, ctx.db, key, gname, now) else {
        return Ok(());
    };
    let StreamData { entries, groups } = &mut **s;
    let Some(g) = groups.get_mut(gname) else {
        return Ok(());
    };
    let mut attempts = count.saturating_mul(10);
    let mut body = BytesMut::new();
    let mut enc = Encoder::new(&mut body, proto);
    let mut claimed = 0usize;
    let mut deleted: Vec<StreamId> = Vec::new();
    let mut dirty = 0u64;
    let mut claimer = Claimer {
        name: &args[3],
        consumer_ready: false,
        created: false,
    };
    // The PEL position: the next entry examined is the first at or after `pos`.
    let mut pos = Some(start);
    let mut eof = false;
    loop {
        let more = attempts > 0;
        attempts -= 1;
        if !more || count == 0 {
            break;
        }
        let Some(next) = pos.and_then(|p| g.pel.range(p..).next().map(|(id, _)| *id)) else {
            eof = true;
            break;
        };
        pos = incr_id(next);
        let id = next;
        if !entries.contains(id) {
            if let Some(n) = g.remove_nack(id) {
                prop_xclaim(ctx.prop, key, gname, id_bytes(id), &n, g.last_id);
            }
            dirty += 1;
            deleted.push(id);
            count -= 1;
            continue;
        }
        let Some(n) = g.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - n.delivery_time < minidle {
            continue;
        }
        if claimer.ensure_consumer(g, now) {
            dirty += 1;
        }
        claimer.take(g, id);
        let Some(n) = g.pel.get_mut(&id) else {
            continue;
        };
        n.delivery_time = now;
        if !justid {
            n.delivery_count += 1;
        }
        let n = n.clone();
        if justid {
            reply_id(&mut enc, id);
        } else if let Some(f) = entries.get(id) {
            reply_entry(&mut enc, id, f);
        }
        claimed += 1;
        count -= 1;
        prop_xclaim(ctx.prop, key, gname, id_bytes(id), &n, g.last_id);
        dirty += 1;
    }
    let cursor = if eof {
        StreamId::default()
    } else {
        pos.and_then(|p| g.pel.range(p..).next().map(|(id, _)| *id))
            .unwrap_or_default()
    };
    ctx.dirty += dirty;
    if claimer.created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    let out = &mut *ctx.enc;
    out.array_len(3);
    reply_id(out, cursor);
    out.array_len(claimed);
    out.raw(&body);
    out.array_len(deleted.len());
    for id in deleted {
        reply_id(out, id);
    }
    Ok(())
}
