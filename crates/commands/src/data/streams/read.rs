//! XREAD and XREADGROUP (7.0.15's `xreadCommand` and `streamReplyWithRange` with a group),
//! including the BLOCK form: served at once when possible, else a timeout reply when the
//! client may not block, else a [`BlockOn`] request whose retry replaces `$` by the stream's
//! last ID at the time of blocking and carries the default COUNT of a blocked read (1000).

use bytes::{Bytes, BytesMut};
use tandem_keyspace::value::{
    Consumer, Fields, Group, Nack, StreamData, StreamId, INVALID_ENTRIES_READ, MAX_ID,
};
use tandem_keyspace::{StreamValue, Value};
use tandem_resp::{Encoder, Protocol};

use super::{
    c, cstr, id_bytes, incr_id, is_opt, nogroup, own, parse_ll, parse_strict_id,
    prop_createconsumer, prop_setid, prop_xclaim, read_stream, reply_entry, reply_id, XError,
};
use crate::data::blocking::timeout_millis;
use crate::data::{notify, BlockOn, ExecCtx, Propagation, TimeoutReply};

/// Count a blocked XREAD uses when none was given (`XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: &[u8] = b"1000";

/// XREAD [COUNT n] [BLOCK ms] STREAMS key ... id ...
/// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key ... id ...
pub(super) fn xread(ctx: &mut ExecCtx<'_, '_>, args: &[Bytes]) -> Result<(), XError> {
    let xreadgroup = args[0].len() == 10;
    let argc = args.len();
    let mut deadline: Option<Option<i64>> = None;
    let mut count: i64 = 0;
    let mut count_given = false;
    let mut streams_arg = 0;
    let mut streams_count = 0;
    let mut group_name: Option<&Bytes> = None;
    let mut consumer_name: Option<&Bytes> = None;
    let mut noack = false;
    let mut i = 1;
    while i < argc {
        let moreargs = argc - i - 1;
        let o = &args[i];
        if is_opt(o, "BLOCK") && moreargs > 0 {
            i += 1;
            let d = timeout_millis(&args[i], ctx.now)
                .map_err(|e| XError::Raw(e.as_bytes().to_vec()))?;
            deadline = Some(d);
        } else if is_opt(o, "COUNT") && moreargs > 0 {
            i += 1;
            count = parse_ll(&args[i])?.max(0);
            count_given = true;
        } else if is_opt(o, "STREAMS") && moreargs > 0 {
            streams_arg = i + 1;
            streams_count = argc - streams_arg;
            if streams_count % 2 != 0 {
                return Err(XError::Err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            streams_count /= 2;
            break;
        } else if is_opt(o, "GROUP") && moreargs >= 2 {
            if !xreadgroup {
                return Err(XError::Err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group_name = Some(&args[i + 1]);
            consumer_name = Some(&args[i + 2]);
            i += 2;
        } else if is_opt(o, "NOACK") {
            if !xreadgroup {
                return Err(XError::Err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(XError::Syntax);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(XError::Syntax);
    }
    if xreadgroup && group_name.is_none() {
        return Err(XError::Err("Missing GROUP option for XREADGROUP"));
    }
    // XREAD and XREADGROUP propagate only their effects.
    ctx.prop.suppress();

    let keys = &args[streams_arg..streams_arg + streams_count];
    let id_args = &args[streams_arg + streams_count..];
    let mut ids: Vec<StreamId> = Vec::with_capacity(streams_count);
    for (key, id_arg) in keys.iter().zip(id_args) {
        let s = read_stream(ctx.ks, ctx.stats, ctx.db, key, ctx.now)?;
        if let Some(g) = group_name {
            if s.is_none_or(|s| !s.groups.contains_key(g)) {
                return Err(nogroup(&[
                    b"NOGROUP No such key '",
                    c(key),
                    b"' or consumer group '",
                    c(g),
                    b"' in XREADGROUP with GROUP option",
                ]));
            }
        }
        let a = cstr(id_arg);
        if a == b"$" {
            if xreadgroup {
                return Err(XError::Err(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            ids.push(s.map_or(StreamId::default(), |s| s.entries.last_id));
        } else if a == b">" {
            if !xreadgroup {
                return Err(XError::Err(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            ids.push(MAX_ID);
        } else {
            ids.push(parse_strict_id(id_arg, 0)?);
        }
    }

    // Try to serve synchronously, each stream's reply into a side buffer so that the
    // top-level length can come first.
    let proto = ctx.enc.proto;
    let mut body = BytesMut::new();
    let mut served = 0usize;
    for (idx, key) in keys.iter().enumerate() {
        let gt = ids[idx];
        let Some(s) = read_stream(ctx.ks, ctx.stats, ctx.db, key, ctx.now)? else {
            continue;
        };
        match (group_name, consumer_name) {
            (Some(gname), Some(cname)) => {
                let Some(group) = s.groups.get(gname) else {
                    continue;
                };
                let history = gt != MAX_ID;
                let start = if history {
                    gt
                } else if !s.is_empty() && s.entries.last_valid_id() > group.last_id {
                    group.last_id
                } else {
                    continue;
                };
                let Some(Value::Stream(s)) = ctx.ks.get_mut(ctx.db, key, ctx.now) else {
                    continue;
                };
                let mut enc = Encoder::new(&mut body, proto);
                if proto == Protocol::Resp2 {
                    enc.array_len(2);
                }
                enc.bulk(key);
                let mut group_read = GroupRead {
                    s,
                    key,
                    group: gname,
                    consumer: cname,
                    now: ctx.now,
                    prop: ctx.prop,
                    dirty: &mut ctx.dirty,
                    created: false,
                };
                group_read.serve(
                    &mut enc,
                    incr_id(start).unwrap_or_default(),
                    count,
                    noack,
                    history,
                );
                if group_read.created {
                    ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
                }
                ctx.dirty += 1;
                served += 1;
            }
            _ => {
                if s.is_empty() || s.entries.last_valid_id() <= gt {
                    continue;
                }
                let start = incr_id(gt).unwrap_or_default();
                let mut enc = Encoder::new(&mut body, proto);
                if proto == Protocol::Resp2 {
                    enc.array_len(2);
                }
                enc.bulk(key);
                let take = if count == 0 {
                    usize::MAX
                } else {
                    count as usize
                };
                let list: Vec<_> = s.entries.range(start, MAX_ID).take(take).collect();
                enc.array_len(list.len());
                for (id, f) in list {
                    reply_entry(&mut enc, id, f);
                }
                served += 1;
            }
        }
    }
    if served > 0 {
        if proto == Protocol::Resp2 {
            ctx.enc.array_len(served);
        } else {
            ctx.enc.map_len(served);
        }
        ctx.enc.raw(&body);
        return Ok(());
    }

    match deadline {
        Some(d) if ctx.may_block => {
            let mut retry: Vec<Bytes> = Vec::with_capacity(args.len() + 2);
            retry.push(args[0].clone());
            if !count_given {
                retry.push(Bytes::from_static(b"COUNT"));
                retry.push(Bytes::from_static(BLOCKED_DEFAULT_COUNT));
            }
            retry.extend_from_slice(&args[1..streams_arg + streams_count]);
            for (idx, id_arg) in id_args.iter().enumerate() {
                if !xreadgroup && cstr(id_arg) == b"$" {
                    retry.push(id_bytes(ids[idx]));
                } else {
                    retry.push(id_arg.clone());
                }
            }
            ctx.block = Some(BlockOn {
                keys: keys.to_vec(),
                deadline: d,
                on_timeout: TimeoutReply::NullArray,
                retry_args: Some(retry),
            });
        }
        _ => ctx.enc.null_array(),
    }
    Ok(())
}

/// One XREADGROUP read of one stream.
struct GroupRead<'a> {
    s: &'a mut StreamValue,
    key: &'a [u8],
    group: &'a Bytes,
    consumer: &'a Bytes,
    now: i64,
    prop: &'a mut Propagation,
    dirty: &'a mut u64,
    /// Set when the read created its consumer (notified `xgroup-createconsumer`).
    created: bool,
}

impl GroupRead<'_> {
    /// Finds or creates the consumer (refreshing its seen-time), then serves entries
    /// after `start` (new ones, or the consumer's own history).
    fn serve(
        &mut self,
        enc: &mut Encoder<'_>,
        start: StreamId,
        count: i64,
        noack: bool,
        history: bool,
    ) {
        let StreamData { entries, groups } = &mut **self.s;
        let Some(group) = groups.get_mut(self.group) else {
            enc.array_len(0);
            return;
        };
        match group.consumers.get_mut(self.consumer) {
            Some(c) => c.seen_time = self.now,
            None => {
                group
                    .consumers
                    .insert(own(self.consumer), Consumer::new(self.now));
                *self.dirty += 1;
                self.created = true;
                if noack {
                    prop_createconsumer(self.prop, self.key, self.group, self.consumer);
                }
            }
        }
        let take = if count == 0 {
            usize::MAX
        } else {
            count as usize
        };
        if history {
            let Some(consumer) = group.consumers.get(self.consumer) else {
                enc.array_len(0);
                return;
            };
            let ids: Vec<StreamId> = consumer.pel.range(start..).take(take).copied().collect();
            enc.array_len(ids.len());
            for id in ids {
                match entries.get(id) {
                    Some(fields) => {
                        reply_entry(enc, id, fields);
                        if let Some(n) = group.pel.get_mut(&id) {
                            n.delivery_time = self.now;
                            n.delivery_count += 1;
                        }
                    }
                    None => {
                        enc.array_len(2);
                        reply_id(enc, id);
                        enc.null_array();
                    }
                }
            }
            return;
        }
        let list: Vec<(StreamId, Fields<'_>)> = entries.range(start, MAX_ID).take(take).collect();
        enc.array_len(list.len());
        let mut propagate_last_id = false;
        for (id, fields) in list {
            if id > group.last_id {
                if group.entries_read != INVALID_ENTRIES_READ && !entries.has_tombstones_from(id) {
                    group.entries_read += 1;
                } else if entries.entries_added > 0 {
                    group.entries_read = entries.estimate_distance(id);
                }
                group.last_id = id;
                if noack {
                    propagate_last_id = true;
                }
            }
            reply_entry(enc, id, fields);
            if !noack {
                claim_for(group, id, self.consumer, self.now);
                if let Some(n) = group.pel.get(&id) {
                    prop_xclaim(
                        self.prop,
                        self.key,
                        self.group,
                        id_bytes(id),
                        n,
                        group.last_id,
                    );
                }
            }
        }
        if propagate_last_id {
            prop_setid(self.prop, self.key, self.group, group);
        }
    }
}

/// Gives the pending entry `id` to `consumer` as a fresh delivery (creating it, or
/// taking it from its previous owner).
fn claim_for(group: &mut Group, id: StreamId, consumer: &Bytes, now: i64) {
    if let Some(old) = group.pel.get(&id).map(|n| n.consumer.clone()) {
        if let Some(c) = group.consumers.get_mut(&old) {
            c.pel.remove(&id);
        }
    }
    group.pel.insert(
        id,
        Nack {
            consumer: consumer.clone(),
            delivery_time: now,
            delivery_count: 1,
        },
    );
    if let Some(c) = group.consumers.get_mut(consumer) {
        c.pel.insert(id);
    }
}
