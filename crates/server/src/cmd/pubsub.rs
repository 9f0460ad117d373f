//! Pub/Sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH, SPUBLISH,
//! PUBSUB, as Redis 7.0.15's `pubsub.c` (outside cluster mode, sharded channels are a
//! namespace of their own).
//!
//! Who listens to what is kept twice, as in Redis: per channel or pattern the ids of its
//! subscribers in subscription order ([`PubSub`], in the [`Server`]), and per client its
//! channels, patterns and shard channels in subscription order (on the [`Client`]).
//! A message reaches a subscriber as a push (`*3` in RESP2, `>3` in RESP3) through its
//! connection's event channel, or straight into the reply buffer when the publisher
//! listens itself (so it comes before PUBLISH's reply, as in Redis).
//!
//! PUBLISH and SPUBLISH are propagated to replicas (Redis forces their propagation), so
//! a replica's subscribers get what is published on its master.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use tandem_resp::{Encoder, Protocol};

use super::Ctx;
use crate::client::{Client, ClientEvent};
use crate::server::Server;

/// The server's subscriptions: channel, pattern or shard channel to the ids of its
/// subscribers, in subscription order.
#[derive(Debug, Default)]
pub struct PubSub {
    channels: HashMap<Bytes, Vec<u64>>,
    patterns: HashMap<Bytes, Vec<u64>>,
    shard_channels: HashMap<Bytes, Vec<u64>>,
}

impl PubSub {
    /// INFO stats `pubsub_channels`.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// INFO stats `pubsub_patterns`.
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// INFO stats `pubsubshard_channels`.
    pub fn shard_channel_count(&self) -> usize {
        self.shard_channels.len()
    }
}

/// The three kinds of subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The verbs of the subscribe and unsubscribe replies.
    fn verbs(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Kind::Channel => (b"subscribe", b"unsubscribe"),
            Kind::Pattern => (b"psubscribe", b"punsubscribe"),
            Kind::Shard => (b"ssubscribe", b"sunsubscribe"),
        }
    }

    fn table(self, ps: &mut PubSub) -> &mut HashMap<Bytes, Vec<u64>> {
        match self {
            Kind::Channel => &mut ps.channels,
            Kind::Pattern => &mut ps.patterns,
            Kind::Shard => &mut ps.shard_channels,
        }
    }

    fn mine(self, c: &mut Client) -> &mut Vec<Bytes> {
        match self {
            Kind::Channel => &mut c.sub_channels,
            Kind::Pattern => &mut c.sub_patterns,
            Kind::Shard => &mut c.sub_shard_channels,
        }
    }

    /// The count a (un)subscribe reply carries: channels and patterns together, shard
    /// channels on their own (Redis's `clientSubscriptionsCount` /
    /// `clientShardSubscriptionsCount`).
    fn count(self, c: &Client) -> usize {
        match self {
            Kind::Shard => c.sub_shard_channels.len(),
            _ => c.sub_channels.len() + c.sub_patterns.len(),
        }
    }
}

/// `*3` / `>3` verb, name (or a null), count.
fn reply(enc: &mut Encoder<'_>, verb: &[u8], name: Option<&[u8]>, count: usize) {
    enc.push_len(3);
    enc.bulk(verb);
    match name {
        Some(n) => enc.bulk(n),
        None => enc.null(),
    }
    enc.integer(count as i64);
}

fn subscribe_kind(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) {
    let (verb, _) = kind.verbs();
    for name in &args[1..] {
        if !kind.mine(ctx.client).contains(name) {
            kind.mine(ctx.client).push(name.clone());
            kind.table(&mut ctx.srv.pubsub)
                .entry(name.clone())
                .or_default()
                .push(ctx.client.id);
        }
        let count = kind.count(ctx.client);
        reply(&mut ctx.enc(), verb, Some(name), count);
    }
}

/// Drops `client`'s subscription to `name`; false if it had none.
fn drop_one(srv: &mut Server, client: &mut Client, kind: Kind, name: &Bytes) -> bool {
    let mine = kind.mine(client);
    let Some(at) = mine.iter().position(|n| n == name) else {
        return false;
    };
    mine.remove(at);
    let table = kind.table(&mut srv.pubsub);
    if let Some(ids) = table.get_mut(name) {
        ids.retain(|id| *id != client.id);
        if ids.is_empty() {
            table.remove(name);
        }
    }
    true
}

fn unsubscribe_kind(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) {
    let (_, verb) = kind.verbs();
    let names: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        kind.mine(ctx.client).clone()
    };
    if names.is_empty() {
        // Nothing to leave: one reply with a null name.
        let count = kind.count(ctx.client);
        reply(&mut ctx.enc(), verb, None, count);
        return;
    }
    for name in &names {
        drop_one(ctx.srv, ctx.client, kind, name);
        let count = kind.count(ctx.client);
        reply(&mut ctx.enc(), verb, Some(name), count);
    }
}

/// Leaves every subscription without replying (RESET, a closed connection).
pub fn forget_client(srv: &mut Server, client: &mut Client) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(kind.mine(client)) {
            let table = kind.table(&mut srv.pubsub);
            if let Some(ids) = table.get_mut(&name) {
                ids.retain(|id| *id != client.id);
                if ids.is_empty() {
                    table.remove(&name);
                }
            }
        }
    }
}

pub fn subscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    subscribe_kind(ctx, args, Kind::Channel);
}

pub fn psubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    subscribe_kind(ctx, args, Kind::Pattern);
}

pub fn ssubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    // Inside EXEC (which denies blocking) only SUBSCRIBE and PSUBSCRIBE are let through.
    if ctx.srv.master.in_exec() {
        ctx.err("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
        return;
    }
    subscribe_kind(ctx, args, Kind::Shard);
}

pub fn unsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    unsubscribe_kind(ctx, args, Kind::Channel);
}

pub fn punsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    unsubscribe_kind(ctx, args, Kind::Pattern);
}

pub fn sunsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    unsubscribe_kind(ctx, args, Kind::Shard);
}

/// A message as `proto` frames it: `message channel payload`, or with the matching
/// pattern first, `pmessage pattern channel payload`; `smessage` for shard channels.
fn encode_message(
    proto: Protocol,
    verb: &[u8],
    pattern: Option<&[u8]>,
    channel: &[u8],
    payload: &[u8],
) -> Bytes {
    let mut out = BytesMut::with_capacity(32 + channel.len() + payload.len());
    let mut enc = Encoder::new(&mut out, proto);
    enc.push_len(if pattern.is_some() { 4 } else { 3 });
    enc.bulk(verb);
    if let Some(p) = pattern {
        enc.bulk(p);
    }
    enc.bulk(channel);
    enc.bulk(payload);
    out.freeze()
}

/// The client running the command that publishes (it is out of `srv.clients`), with its
/// reply buffer when messages to itself may go there (before the command's reply).
pub struct Publisher<'a> {
    pub client: &'a Client,
    pub out: Option<&'a mut BytesMut>,
}

/// Delivers one message frame to client `id`: the publisher itself gets it in its reply
/// buffer (or through its connection task when there is none), others through theirs
/// ([`push_to`]).
fn deliver(
    srv: &mut Server,
    me: &mut Option<Publisher<'_>>,
    id: u64,
    frame: impl Fn(Protocol) -> Bytes,
) {
    if let Some(p) = me.as_mut().filter(|p| p.client.id == id) {
        let bytes = frame(p.client.proto);
        match p.out.as_mut() {
            Some(out) => out.extend_from_slice(&bytes),
            None => {
                p.client.push(bytes);
            }
        }
    } else if let Some(proto) = srv.clients.get(&id).map(|c| c.proto) {
        push_to(srv, id, frame(proto));
    }
}

/// Sends `bytes` to client `id`'s connection task, then applies
/// `client-output-buffer-limit` to what waits there: past the hard limit, or past the
/// soft limit for longer than its seconds, the client is closed at once, as Redis's
/// `closeClientOnOutputBufferLimitReached` (a client already closing gets nothing more).
pub fn push_to(srv: &mut Server, id: u64, bytes: Bytes) {
    let limits = srv.config.client_output_buffer_limits();
    let Some(c) = srv.clients.get_mut(&id) else {
        return;
    };
    if c.killed {
        return;
    }
    let pending = c.push(bytes);
    // Replicas have their own task and limits (see `repl`); this is normal or pubsub.
    let limit = if c.subscribed() { limits[2] } else { limits[0] };
    let hard = limit.hard_bytes > 0 && pending >= limit.hard_bytes;
    let soft = limit.soft_bytes > 0 && pending >= limit.soft_bytes;
    let over_soft_long = match (soft, c.obuf_soft_since) {
        (false, _) => {
            c.obuf_soft_since = None;
            false
        }
        (true, None) => {
            c.obuf_soft_since = Some(std::time::Instant::now());
            limit.soft_seconds <= 0
        }
        (true, Some(since)) => since.elapsed().as_secs() >= limit.soft_seconds.max(0) as u64,
    };
    if hard || over_soft_long {
        tracing::warn!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            crate::cmd::client::info_line(c, None, std::time::SystemTime::now())
        );
        c.killed = true;
        c.out.kill();
        let _ = c.events.send(ClientEvent::Kill);
    }
}

/// Sends `payload` on `channel` to its subscribers, then (not for shard channels) to the
/// subscribers of every matching pattern. Returns how many deliveries were made.
pub fn publish_message(
    srv: &mut Server,
    me: &mut Option<Publisher<'_>>,
    channel: &[u8],
    payload: &[u8],
    shard: bool,
) -> usize {
    let (table, verb): (&HashMap<Bytes, Vec<u64>>, &[u8]) = if shard {
        (&srv.pubsub.shard_channels, b"smessage")
    } else {
        (&srv.pubsub.channels, b"message")
    };
    let direct: Vec<u64> = table.get(channel).cloned().unwrap_or_default();
    let mut receivers = 0;
    for id in direct {
        deliver(srv, me, id, |p| {
            encode_message(p, verb, None, channel, payload)
        });
        receivers += 1;
    }
    if shard || srv.pubsub.patterns.is_empty() {
        return receivers;
    }
    let matching: Vec<(Bytes, Vec<u64>)> = srv
        .pubsub
        .patterns
        .iter()
        .filter(|(pat, _)| crate::config::glob::glob_match(pat, channel, false))
        .map(|(pat, ids)| (pat.clone(), ids.clone()))
        .collect();
    for (pat, ids) in matching {
        for id in ids {
            deliver(srv, me, id, |p| {
                encode_message(p, b"pmessage", Some(&pat), channel, payload)
            });
            receivers += 1;
        }
    }
    receivers
}

/// Publishes a keyspace notification (Redis's `notifyKeyspaceEvent`): the event name on
/// `__keyspace@<db>__:<key>` (flag K), the key on `__keyevent@<db>__:<event>` (flag E).
pub fn publish_notification(
    srv: &mut Server,
    me: &mut Option<Publisher<'_>>,
    note: &tandem_commands::data::Notification,
) {
    use tandem_commands::data::notify;
    let flags = srv.data_settings.notify_flags;
    if flags & note.class == 0 || (srv.pubsub.channels.is_empty() && srv.pubsub.patterns.is_empty())
    {
        return;
    }
    if flags & notify::KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{}__:", note.db).into_bytes();
        channel.extend_from_slice(&note.key);
        publish_message(srv, me, &channel, note.event.as_bytes(), false);
    }
    if flags & notify::KEYEVENT != 0 {
        let channel = format!("__keyevent@{}__:{}", note.db, note.event);
        publish_message(srv, me, channel.as_bytes(), &note.key, false);
    }
}

fn publish_kind(ctx: &mut Ctx<'_>, args: &[Bytes], shard: bool) {
    let receivers = {
        let mut me = Some(Publisher {
            client: ctx.client,
            out: Some(&mut *ctx.out),
        });
        publish_message(ctx.srv, &mut me, &args[1], &args[2], shard)
    };
    // Replicas get every PUBLISH (Redis's forceCommandPropagation).
    let db = ctx.client.db;
    crate::cmd::data::propagate(ctx.srv, db, args.to_vec());
    crate::cmd::data::after_command(ctx.srv, Some(ctx.client));
    ctx.enc().integer(receivers as i64);
}

pub fn publish(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    publish_kind(ctx, args, false);
}

pub fn spublish(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    publish_kind(ctx, args, true);
}

/// `PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB|HELP`.
pub fn pubsub(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"channels" | b"shardchannels" if args.len() <= 3 => {
            let table = if sub == b"channels" {
                &ctx.srv.pubsub.channels
            } else {
                &ctx.srv.pubsub.shard_channels
            };
            let pattern = args.get(2);
            let names: Vec<Bytes> = table
                .keys()
                .filter(|name| {
                    pattern.is_none_or(|p| crate::config::glob::glob_match(p, name, false))
                })
                .cloned()
                .collect();
            let mut enc = ctx.enc();
            enc.array_len(names.len());
            for n in &names {
                enc.bulk(n);
            }
        }
        b"numsub" | b"shardnumsub" => {
            let table = if sub == b"numsub" {
                &ctx.srv.pubsub.channels
            } else {
                &ctx.srv.pubsub.shard_channels
            };
            let counts: Vec<(Bytes, usize)> = args[2..]
                .iter()
                .map(|ch| (ch.clone(), table.get(ch).map_or(0, Vec::len)))
                .collect();
            // A flat array even in RESP3, as Redis 7.0 answers it.
            let mut enc = ctx.enc();
            enc.array_len(counts.len() * 2);
            for (ch, n) in &counts {
                enc.bulk(ch);
                enc.integer(*n as i64);
            }
        }
        b"numpat" => {
            let n = ctx.srv.pubsub.patterns.len();
            ctx.enc().integer(n as i64);
        }
        b"help" => {
            let lines: &[&str] = &[
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
            ];
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], lines);
        }
        _ => super::client::subcommand_syntax_error(ctx, args),
    }
}

/// Whether a RESP2 client is in the subscribed state, where only the (un)subscribe
/// commands, PING, QUIT and RESET may run.
pub fn in_subscribed_context(client: &Client) -> bool {
    client.proto == Protocol::Resp2 && client.subscribed()
}

/// Commands a RESP2 client may run while subscribed.
pub fn allowed_when_subscribed(full_name: &str) -> bool {
    matches!(
        full_name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}
