//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, XINFO HELP
//! (7.0.15's `xinfoCommand`).

use bytes::Bytes;
use tandem_keyspace::value::{Group, StreamId, INVALID_ENTRIES_READ, MAX_ID};
use tandem_keyspace::StreamValue;
use tandem_resp::Encoder;

use super::{
    c, is_opt, nogroup, parse_ll, read_stream, reply_entries, reply_entry, reply_id,
    subcommand_syntax, XError,
};
use crate::data::ExecCtx;
use crate::write_help;

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

/// XINFO <subcommand> ...
pub(super) fn xinfo(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let argc = args.len();
    if is_opt(&args[1], "HELP") {
        if argc != 2 {
            return Err(subcommand_syntax(args));
        }
        write_help(ctx.enc, &args[0], XINFO_HELP);
        return Ok(());
    }
    if argc < 3 {
        return Err(subcommand_syntax(args));
    }
    let opt = &args[1];
    let key = &args[2];
    let now = ctx.now;
    let Some(s) = read_stream(ctx.ks, ctx.stats, ctx.db, key, now)? else {
        return Err(XError::Err("no such key"));
    };
    let enc = &mut *ctx.enc;
    if is_opt(opt, "CONSUMERS") && argc == 4 {
        let Some(g) = s.groups.get(&args[3]) else {
            return Err(nogroup(&[
                b"NOGROUP No such consumer group '",
                c(&args[3]),
                b"' for key name '",
                c(key),
                b"'",
            ]));
        };
        enc.array_len(g.consumers.len());
        for (name, consumer) in &g.consumers {
            enc.map_len(3);
            enc.bulk(b"name");
            enc.bulk(name);
            enc.bulk(b"pending");
            enc.integer(consumer.pel.len() as i64);
            enc.bulk(b"idle");
            enc.integer((now - consumer.seen_time).max(0));
        }
    } else if is_opt(opt, "GROUPS") && argc == 3 {
        enc.array_len(s.groups.len());
        for (name, g) in &s.groups {
            enc.map_len(6);
            enc.bulk(b"name");
            enc.bulk(name);
            enc.bulk(b"consumers");
            enc.integer(g.consumers.len() as i64);
            enc.bulk(b"pending");
            enc.integer(g.pel.len() as i64);
            enc.bulk(b"last-delivered-id");
            reply_id(enc, g.last_id);
            enc.bulk(b"entries-read");
            reply_entries_read(enc, g);
            enc.bulk(b"lag");
            reply_lag(enc, s, g);
        }
    } else if is_opt(opt, "STREAM") {
        stream_info(enc, s, args)?;
    } else {
        return Err(subcommand_syntax(args));
    }
    Ok(())
}

fn reply_entries_read(enc: &mut Encoder<'_>, g: &Group) {
    if g.entries_read != INVALID_ENTRIES_READ {
        enc.integer(g.entries_read);
    } else {
        enc.null();
    }
}

/// `streamReplyWithCGLag`.
fn reply_lag(enc: &mut Encoder<'_>, s: &StreamValue, g: &Group) {
    let e = &s.entries;
    let lag = if e.entries_added == 0 {
        Some(0)
    } else if g.entries_read != INVALID_ENTRIES_READ && !e.has_tombstones_from(g.last_id) {
        Some(e.entries_added as i64 - g.entries_read)
    } else {
        let read = e.estimate_distance(g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| e.entries_added as i64 - read)
    };
    match lag {
        Some(l) => enc.integer(l),
        None => enc.null(),
    }
}

/// XINFO STREAM key [FULL [COUNT count]]
fn stream_info(enc: &mut Encoder<'_>, s: &StreamValue, args: &[Bytes]) -> Result<(), XError> {
    let opts = &args[3..];
    let mut full = true;
    let mut count: i64 = 10;
    if opts.is_empty() {
        full = false;
    } else {
        if opts.len() != 1 && opts.len() != 3 {
            return Err(subcommand_syntax(args));
        }
        if !is_opt(&opts[0], "full") {
            return Err(subcommand_syntax(args));
        }
        if opts.len() == 3 {
            if !is_opt(&opts[1], "count") {
                return Err(subcommand_syntax(args));
            }
            count = parse_ll(&opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let e = &s.entries;
    enc.map_len(if full { 9 } else { 10 });
    enc.bulk(b"length");
    enc.integer(e.len() as i64);
    enc.bulk(b"radix-tree-keys");
    enc.integer(e.node_count() as i64);
    enc.bulk(b"radix-tree-nodes");
    enc.integer(e.rax_nodes() as i64);
    enc.bulk(b"last-generated-id");
    reply_id(enc, e.last_id);
    enc.bulk(b"max-deleted-entry-id");
    reply_id(enc, e.max_deleted_id);
    enc.bulk(b"entries-added");
    enc.integer(e.entries_added as i64);
    enc.bulk(b"recorded-first-entry-id");
    reply_id(enc, e.first_id);
    if !full {
        enc.bulk(b"groups");
        enc.integer(s.groups.len() as i64);
        enc.bulk(b"first-entry");
        match e.range(StreamId::default(), MAX_ID).next() {
            Some((id, f)) => reply_entry(enc, id, f),
            None => enc.null(),
        }
        enc.bulk(b"last-entry");
        match e.rev_range(StreamId::default(), MAX_ID).next() {
            Some((id, f)) => reply_entry(enc, id, f),
            None => enc.null(),
        }
        return Ok(());
    }
    let take = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    enc.bulk(b"entries");
    reply_entries(enc, e.iter().take(take));
    enc.bulk(b"groups");
    enc.array_len(s.groups.len());
    for (name, g) in &s.groups {
        enc.map_len(7);
        enc.bulk(b"name");
        enc.bulk(name);
        enc.bulk(b"last-delivered-id");
        reply_id(enc, g.last_id);
        enc.bulk(b"entries-read");
        reply_entries_read(enc, g);
        enc.bulk(b"lag");
        reply_lag(enc, s, g);
        enc.bulk(b"pel-count");
        enc.integer(g.pel.len() as i64);
        enc.bulk(b"pending");
        let pel: Vec<_> = g.pel.iter().take(take).collect();
        enc.array_len(pel.len());
        for (id, n) in pel {
            enc.array_len(4);
            reply_id(enc, *id);
            enc.bulk(&n.consumer);
            enc.integer(n.delivery_time);
            enc.integer(n.delivery_count as i64);
        }
        enc.bulk(b"consumers");
        enc.array_len(g.consumers.len());
        for (cname, consumer) in &g.consumers {
            enc.map_len(4);
            enc.bulk(b"name");
            enc.bulk(cname);
            enc.bulk(b"seen-time");
            enc.integer(consumer.seen_time);
            enc.bulk(b"pel-count");
            enc.integer(consumer.pel.len() as i64);
            enc.bulk(b"pending");
            let ids: Vec<_> = consumer.pel.iter().take(take).collect();
            enc.array_len(ids.len());
            for id in ids {
                let (t, n) = g
                    .pel
                    .get(id)
                    .map_or((0, 0), |n| (n.delivery_time, n.delivery_count));
                enc.array_len(3);
                reply_id(enc, *id);
                enc.integer(t);
                enc.integer(n as i64);
            }
        }
    }
    Ok(())
}
