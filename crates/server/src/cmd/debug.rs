//! DEBUG and MEMORY: introspection and test helpers, as redis-server 7.0.15 answers them.
//!
//! * DEBUG DIGEST / DIGEST-VALUE fold SHA-1 hashes of every key and value into a 20-byte
//!   signature with Redis's exact algorithm (`xorDigest` / `mixDigest`, see
//!   `shared/reference/debug-digest.md`), so the same dataset gives the same hex string on
//!   Tandem and on Redis: this is how replication tests compare a master and its replicas
//!   across implementations. DIGEST walks a point-in-time [`Snapshot`] of every database.
//! * DEBUG OBJECT, POPULATE, LOG, SET-ACTIVE-EXPIRE, SLEEP and HELP behave as in Redis; the
//!   other subcommands (RELOAD, RESTART, crash helpers, ...) are not implemented yet and get
//!   Redis's "unknown subcommand" error.
//! * MEMORY USAGE estimates what a key costs *in Tandem* (its table slot, key and value
//!   allocations, sampling big containers the way Redis does); MEMORY HELP is Redis's text.
//!
//! Like Redis, DEBUG DIGEST-VALUE, DEBUG OBJECT and MEMORY USAGE look keys up directly: a
//! key whose TTL passed but that is not yet removed is still reported (and not expired).

use std::time::Duration;

use bytes::Bytes;
use tandem_keyspace::{
    Expiry, HashValue, Keyspace, Millis, SetValue, Snapshot, StrValue, Value, ZSetValue,
};
use tandem_rdb::blob::{listpack_entry_len as lp_entry_len, LISTPACK_OVERHEAD as LP_OVERHEAD};

use super::{data, parse_i64, Ctx};
use crate::sha1::{sha1, to_hex, Sha1, DIGEST_LEN};

/// A 20-byte digest state.
pub type Digest = [u8; DIGEST_LEN];

/// Redis's `OBJ_SHARED_INTEGERS`: string values `0..10000` are shared objects.
const SHARED_INTEGERS: i64 = 10_000;
/// The refcount Redis reports for shared objects (`OBJ_SHARED_REFCOUNT`).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// Redis's `OBJ_COMPUTE_SIZE_DEF_SAMPLES`.
const DEFAULT_SAMPLES: usize = 5;
/// Redis's LRU clock: seconds, 24 bits.
const LRU_CLOCK_MAX: u64 = (1 << 24) - 1;

/// `DEBUG <subcommand> ...`, behind the `enable-debug-command` gate.
pub fn debug(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let setting = ctx.srv.config.get_str("enable-debug-command");
    let local = ctx.client.meta.addr.ip().is_loopback();
    let allowed = setting == "yes" || (setting == "local" && local);
    if !allowed {
        ctx.err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
        return;
    }
    let sub = args[1].to_ascii_lowercase();
    match (sub.as_slice(), args.len()) {
        (b"help", 2) => {
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], DEBUG_HELP);
        }
        (b"reload", _) => super::persist::debug_reload(ctx, args),
        (b"sleep", 3) => {
            let secs: f64 = std::str::from_utf8(&args[2])
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0.0);
            if secs > 0.0 && secs.is_finite() {
                std::thread::sleep(Duration::from_secs_f64(secs));
            }
            ctx.ok();
        }
        (b"log", 3) => {
            // Redis prints the argument as a C string: it stops at the first NUL byte.
            let msg = until_nul(&args[2]);
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(msg));
            ctx.ok();
        }
        (b"set-active-expire", 3) => {
            ctx.srv.active_expire_enabled = atoi(&args[2]) != 0;
            ctx.ok();
        }
        (b"digest", 2) => {
            let digest = dataset_digest(&ctx.srv.ks.snapshot());
            ctx.simple(&to_hex(&digest));
        }
        (b"digest-value", _) => digest_value(ctx, args),
        (b"object", 3) => debug_object(ctx, &args[2]),
        (b"populate", 3..=5) => populate(ctx, args),
        _ => {
            let msg = format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                String::from_utf8_lossy(&args[1][..args[1].len().min(128)])
            );
            ctx.err(&msg);
        }
    }
}

/// `MEMORY USAGE key [SAMPLES count]` and `MEMORY HELP` (the dispatcher has checked the
/// subcommand and its arity).
pub fn memory(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"help" => {
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], MEMORY_HELP);
        }
        b"usage" => memory_usage_command(ctx, args),
        b"stats" => crate::cmd::memory::stats(ctx),
        b"doctor" => crate::cmd::memory::doctor(ctx),
        b"malloc-stats" => crate::cmd::memory::malloc_stats(ctx),
        b"purge" => crate::cmd::memory::purge(ctx),
        _ => ctx.unknown_subcommand(args),
    }
}

fn memory_usage_command(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let mut samples = DEFAULT_SAMPLES;
    let mut j = 3;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"samples") && j + 1 < args.len() {
            let Some(n) = parse_i64(&args[j + 1]) else {
                ctx.not_integer();
                return;
            };
            if n < 0 {
                ctx.syntax_err();
                return;
            }
            samples = if n == 0 { usize::MAX } else { n as usize };
            j += 2;
        } else {
            ctx.syntax_err();
            return;
        }
    }
    let db = ctx.client.db;
    let key = &args[2];
    let now = data::now_ms();
    let usage = with_raw(&mut ctx.srv.ks, db, key, now, |v, _| {
        key_memory_usage(key.len(), v, samples)
    });
    match usage {
        Some(n) => ctx.integer(i64::try_from(n).unwrap_or(i64::MAX)),
        None => ctx.enc().null(),
    }
}

/// `DEBUG DIGEST-VALUE key [key ...]`: one status per key, zeros for a missing key.
fn digest_value(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let db = ctx.client.db;
    let now = data::now_ms();
    let digests: Vec<Digest> = args[2..]
        .iter()
        .map(|key| {
            with_raw(&mut ctx.srv.ks, db, key, now, |v, expire| {
                value_digest(v, expire.is_some())
            })
            .unwrap_or([0u8; DIGEST_LEN])
        })
        .collect();
    let mut e = ctx.enc();
    e.array_len(digests.len());
    for d in &digests {
        e.simple(to_hex(d).as_bytes());
    }
}

/// `DEBUG OBJECT key`: Redis's one-line status. The address is the value's address in this
/// process; `lru` is Redis's 24-bit seconds clock at the last access.
fn debug_object(ctx: &mut Ctx<'_>, key: &[u8]) {
    let db = ctx.client.db;
    let now = data::now_ms();
    let ks = &mut ctx.srv.ks;
    ks.set_master_context(true);
    let idle = ks.idle_time(db, key, now).unwrap_or(0);
    let line = ks.peek(db, key, now).map(|v| {
        let refcount = match v {
            Value::String(StrValue::Int(n)) if (0..SHARED_INTEGERS).contains(n) => {
                SHARED_REFCOUNT
            }
            _ => 1,
        };
        let now_secs = (now.max(0) / 1000) as u64;
        let lru = now_secs.saturating_sub(idle) & LRU_CLOCK_MAX;
        let mut line = format!(
            "Value at:{:p} refcount:{refcount} encoding:{} serializedlength:{} lru:{lru} lru_seconds_idle:{idle}",
            v as *const Value,
            v.encoding(),
            rdb_value_len(v),
        );
        if let Value::List(l) = v {
            let layout = l.layout();
            let nodes = layout.nodes().len();
            let avg = if nodes == 0 {
                0.0
            } else {
                l.len() as f64 / nodes as f64
            };
            line.push_str(&format!(
                " ql_nodes:{nodes} ql_avg_node:{avg:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{}",
                layout.fill(),
                u8::from(layout.compress() != 0),
                layout.nodes().map(|n| n.bytes).sum::<usize>()
            ));
        }
        line
    });
    ks.set_master_context(false);
    match line {
        Some(line) => ctx.simple(&line),
        None => ctx.err("ERR no such key"),
    }
}

/// `DEBUG POPULATE count [prefix] [size]`: creates `prefix:0` .. `prefix:count-1` (default
/// prefix `key`) holding `value:<n>`, zero-padded or truncated to `size` bytes when a size is
/// given. Existing keys are left alone. Like Redis: no propagation, no dirty count, but
/// WATCHes on the created keys are touched.
fn populate(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
    let Some(count) = parse_i64(&args[2]).filter(|n| *n >= 0) else {
        ctx.err(NOT_POSITIVE);
        return;
    };
    let size = match args.get(4) {
        None => 0,
        Some(a) => match parse_i64(a).filter(|n| *n >= 0) {
            Some(n) => n,
            None => {
                ctx.err(NOT_POSITIVE);
                return;
            }
        },
    };
    // Redis would try to allocate any size; refuse what no client could ever send.
    if size > ctx.srv.config.get_i64("proto-max-bulk-len").max(0) {
        ctx.err("ERR value size is larger than proto-max-bulk-len");
        return;
    }
    let prefix: &[u8] = match args.get(3) {
        Some(p) => until_nul(p),
        None => b"key",
    };
    let db = ctx.client.db;
    let now = data::now_ms();
    let ks = &mut ctx.srv.ks;
    ks.set_now(now);
    for j in 0..count {
        // Redis formats the key into a 128-byte buffer: at most 127 bytes survive.
        let mut key = Vec::with_capacity(prefix.len() + 21);
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        key.truncate(127);
        if ks.exists(db, &key, now) {
            continue;
        }
        let mut value = format!("value:{j}").into_bytes();
        if size > 0 {
            value.resize(size as usize, 0);
        }
        let value = StrValue::embstr_or_raw(Bytes::from(value));
        // An exact-size copy: a `Bytes` made from a `Vec` with spare capacity would carry
        // a second allocation for its shared header.
        ks.set(
            db,
            Bytes::copy_from_slice(&key),
            Value::String(value),
            Expiry::Clear,
        );
        ks.touch_modified(db, &key);
    }
    data::after_command(ctx.srv, Some(ctx.client));
    ctx.ok();
}

/// Runs `f` on the value at `key` and its expire time, looked up directly like Redis's
/// `dictFind`: a logically expired key is seen, not deleted, and its access time is kept.
///
/// The keyspace has no expiry-free lookup, so this switches on its "master context" (in
/// which nothing counts as expired) for the duration of the lookup; Tandem's executor only
/// uses that context while applying a master's stream, never while running a DEBUG command.
fn with_raw<R>(
    ks: &mut Keyspace,
    db: usize,
    key: &[u8],
    now: Millis,
    f: impl FnOnce(&Value, Option<Millis>) -> R,
) -> Option<R> {
    let expire = ks.expire_at(db, key);
    ks.set_master_context(true);
    let r = ks.peek(db, key, now).map(|v| f(v, expire));
    ks.set_master_context(false);
    r
}

/// The bytes before the first NUL (how Redis prints an argument with `%s`).
fn until_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

/// C's `atoi`: optional leading whitespace and sign, then digits; anything else ends it.
fn atoi(b: &[u8]) -> i32 {
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut v: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        v = v.wrapping_mul(10).wrapping_add(i64::from(b[i] - b'0'));
        i += 1;
    }
    (if neg { v.wrapping_neg() } else { v }) as i32
}

// ---------------------------------------------------------------------------------------
// Digests (Redis's debug.c: xorDigest, mixDigest, xorObjectDigest, computeDatasetDigest)
// ---------------------------------------------------------------------------------------

/// `D ^= SHA1(data)`: order-independent folding.
fn xor_digest(d: &mut Digest, data: &[u8]) {
    let h = sha1(data);
    for (a, b) in d.iter_mut().zip(h) {
        *a ^= b;
    }
}

/// `D = SHA1(D ^ SHA1(data))`: order-dependent folding.
fn mix_digest(d: &mut Digest, data: &[u8]) {
    xor_digest(d, data);
    let mut h = Sha1::new();
    h.update(&d[..]);
    *d = h.finalize();
}

/// Redis's in-memory type number (`OBJ_STRING` .. `OBJ_STREAM`).
fn type_number(v: &Value) -> u32 {
    match v {
        Value::String(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// Folds one value (and the presence of a TTL) into `d`: Redis's `xorObjectDigest`.
pub fn object_digest(d: &mut Digest, v: &Value, has_expire: bool) {
    mix_digest(d, &type_number(v).to_be_bytes());
    match v {
        Value::String(s) => mix_digest(d, &s.as_bytes()),
        Value::List(l) => {
            for item in l.iter() {
                mix_digest(d, item);
            }
        }
        Value::Set(s) => {
            for m in s.iter() {
                xor_digest(d, &m);
            }
        }
        Value::ZSet(z) => {
            for (member, score) in z.iter() {
                let mut e = [0u8; DIGEST_LEN];
                mix_digest(&mut e, member);
                mix_digest(&mut e, fmt_g17(score).as_bytes());
                xor_digest(d, &e);
            }
        }
        Value::Hash(h) => {
            for (field, value) in h.iter() {
                let mut e = [0u8; DIGEST_LEN];
                mix_digest(&mut e, field);
                mix_digest(&mut e, value);
                xor_digest(d, &e);
            }
        }
        Value::Stream(s) => {
            for (id, fields) in s.entries.iter() {
                mix_digest(d, format!("{}.{}", id.ms, id.seq).as_bytes());
                for (f, v) in fields {
                    mix_digest(d, f);
                    mix_digest(d, v);
                }
            }
        }
    }
    if has_expire {
        xor_digest(d, b"!!expire!!");
    }
}

/// The digest of one value as DEBUG DIGEST-VALUE reports it (the key name is not included).
pub fn value_digest(v: &Value, has_expire: bool) -> Digest {
    let mut d = [0u8; DIGEST_LEN];
    object_digest(&mut d, v, has_expire);
    d
}

/// The digest of a whole dataset (DEBUG DIGEST): all zeros when every database is empty.
pub fn dataset_digest(snap: &Snapshot) -> Digest {
    let mut fin = [0u8; DIGEST_LEN];
    for db in 0..snap.databases() {
        if snap.len(db) == 0 {
            continue;
        }
        mix_digest(&mut fin, &(db as u32).to_be_bytes());
        for entry in snap.iter(db) {
            let mut k = [0u8; DIGEST_LEN];
            mix_digest(&mut k, entry.key);
            object_digest(&mut k, entry.value, entry.expire.is_some());
            xor_digest(&mut fin, &k);
        }
    }
    fin
}

/// C's `printf("%.17g", x)`, which Redis uses for zset scores in digests.
pub fn fmt_g17(x: f64) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // 17 significant digits in scientific form, correctly rounded.
    let sci = format!("{x:.16e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!(
            "{}e{sign}{:02}",
            strip_fraction_zeros(mantissa),
            exp.unsigned_abs()
        )
    } else {
        let decimals = (16 - exp) as usize;
        strip_fraction_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

/// `%g` drops trailing zeros of the fraction, and the point when nothing is left of it.
fn strip_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------
// Sizes: DEBUG OBJECT's serializedlength (RDB) and MEMORY USAGE (Tandem's own memory)
// ---------------------------------------------------------------------------------------

/// Bytes of an RDB length encoding.
fn rdb_len_len(n: u64) -> usize {
    match n {
        0..=63 => 1,
        64..=16383 => 2,
        16384..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Bytes RDB uses for an integer it can store in 8, 16 or 32 bits (`rdbEncodeInteger`).
fn rdb_int_len(n: i64) -> Option<usize> {
    if i8::try_from(n).is_ok() {
        Some(2)
    } else if i16::try_from(n).is_ok() {
        Some(3)
    } else if i32::try_from(n).is_ok() {
        Some(5)
    } else {
        None
    }
}

/// Bytes of an RDB string (`rdbSaveRawString`). Strings of up to 11 bytes holding a small
/// integer use the integer encodings. Longer strings may be LZF-compressed by Redis; that is
/// not modelled, so for compressible strings over 20 bytes this is an upper bound.
fn rdb_string_len(s: &[u8]) -> usize {
    if s.len() <= 11 {
        if let Some(n) = tandem_keyspace::value::parse_canonical_i64(s).and_then(rdb_int_len) {
            return n;
        }
    }
    rdb_len_len(s.len() as u64) + s.len()
}

/// Bytes of a listpack holding `items`.
fn lp_len<'a>(items: impl Iterator<Item = &'a [u8]>) -> usize {
    LP_OVERHEAD + items.map(lp_entry_len).sum::<usize>()
}

/// DEBUG OBJECT's `serializedlength`: the bytes RDB would write for the value (without its
/// type byte), following Redis 7.0's encodings (listpacks, quicklist nodes, intsets).
fn rdb_value_len(v: &Value) -> usize {
    match v {
        Value::String(StrValue::Int(n)) => rdb_int_len(*n).unwrap_or_else(|| {
            let text = n.to_string();
            rdb_len_len(text.len() as u64) + text.len()
        }),
        Value::String(s) => rdb_string_len(&s.as_bytes()),
        Value::List(l) => {
            let nodes = l.layout().nodes();
            // Per node: the container kind (1 byte), then the listpack (or a plain node's
            // element) as a string.
            rdb_len_len(nodes.len() as u64)
                + nodes
                    .map(|n| 1 + rdb_len_len(n.bytes as u64) + n.bytes)
                    .sum::<usize>()
        }
        Value::Set(s) => match s {
            SetValue::Intset(ints) => {
                let blob = 8 + usize::from(ints.width()) * ints.len();
                rdb_len_len(blob as u64) + blob
            }
            SetValue::Table(_) => {
                rdb_len_len(s.len() as u64) + s.iter().map(|m| rdb_string_len(&m)).sum::<usize>()
            }
        },
        Value::ZSet(z) => match z {
            ZSetValue::Listpack(_) => {
                let blob = LP_OVERHEAD
                    + z.iter()
                        .map(|(m, s)| lp_entry_len(m) + lp_entry_len(score_text(s).as_bytes()))
                        .sum::<usize>();
                rdb_len_len(blob as u64) + blob
            }
            ZSetValue::Skiplist(_) => {
                rdb_len_len(z.len() as u64)
                    + z.iter().map(|(m, _)| rdb_string_len(m) + 8).sum::<usize>()
            }
        },
        Value::Hash(h) => match h {
            HashValue::Listpack(_) => {
                let blob = lp_len(h.iter().flat_map(|(f, v)| [f, &v[..]]));
                rdb_len_len(blob as u64) + blob
            }
            HashValue::Table(_) => {
                rdb_len_len(h.len() as u64)
                    + h.iter()
                        .map(|(f, v)| rdb_string_len(f) + rdb_string_len(v))
                        .sum::<usize>()
            }
        },
        Value::Stream(s) => rdb_stream_len(s),
    }
}

/// A zset score as a listpack stores it (Redis's `d2string`: integers as integers).
fn score_text(s: f64) -> String {
    if s.is_finite() && s.fract() == 0.0 && s.abs() < 9.007_199_254_740_992e15 {
        format!("{}", s as i64)
    } else {
        fmt_g17(s)
    }
}

/// A stream's RDB size (`rdbSaveObject` for `RDB_TYPE_STREAM_LISTPACKS_2`): each node as
/// its 16-byte master ID and its listpack, then the stream's metadata and the consumer
/// groups with their PELs and consumers.
fn rdb_stream_len(s: &tandem_keyspace::StreamValue) -> usize {
    let e = &s.entries;
    let id_len = |id: tandem_keyspace::value::StreamId| rdb_len_len(id.ms) + rdb_len_len(id.seq);
    let mut total = rdb_len_len(e.node_count() as u64);
    for (_, lp) in e.node_sizes() {
        total += rdb_string_len(&[0u8; 16][..]) + rdb_len_len(lp as u64) + lp;
    }
    total += rdb_len_len(e.len())
        + id_len(e.last_id)
        + id_len(e.first_id)
        + id_len(e.max_deleted_id)
        + rdb_len_len(e.entries_added)
        + rdb_len_len(s.groups.len() as u64);
    for (name, g) in &s.groups {
        total += rdb_string_len(name)
            + id_len(g.last_id)
            + rdb_len_len(g.entries_read as u64)
            + rdb_len_len(g.pel.len() as u64)
            + g.pel
                .values()
                .map(|n| 16 + 8 + rdb_len_len(n.delivery_count))
                .sum::<usize>()
            + rdb_len_len(g.consumers.len() as u64)
            + g.consumers
                .iter()
                .map(|(cn, c)| {
                    rdb_string_len(cn) + 8 + rdb_len_len(c.pel.len() as u64) + 16 * c.pel.len()
                })
                .sum::<usize>();
    }
    total
}

/// Bytes the system allocator takes for a request of `n` bytes (glibc: 16-byte chunks with
/// an 8-byte header, 32 bytes at least; nothing for an empty request).
fn malloc_cost(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        ((n + 8 + 15) & !15).max(32)
    }
}

/// Memory of one `hashbrown` slot of `slot` bytes at its 7/8 maximum load, plus the control
/// byte.
fn table_slot_cost(slot: usize) -> usize {
    (slot + 1) * 8 / 7
}

/// Average per-element cost of the first `samples` elements, times the element count
/// (Redis's sampling in `objectComputeSize`).
fn sampled<I: Iterator<Item = usize>>(costs: I, count: usize, samples: usize) -> usize {
    let (mut sum, mut n) = (0usize, 0usize);
    for c in costs.take(samples) {
        sum += c;
        n += 1;
    }
    if n == 0 {
        0
    } else {
        (sum as f64 / n as f64 * count as f64) as usize
    }
}

/// MEMORY USAGE: an estimate of the bytes a key takes in Tandem: its slot in the database
/// table, the key's allocation, the value's shared box and what the value owns. Containers
/// are sampled (`samples` elements, `usize::MAX` for all) and extrapolated, as Redis does.
fn key_memory_usage(key_len: usize, v: &Value, samples: usize) -> usize {
    use std::mem::size_of;
    // Key (Bytes) + Arc pointer + expire + access time, as the table stores them.
    const TABLE_SLOT: usize = 64;
    let base =
        table_slot_cost(TABLE_SLOT) + malloc_cost(key_len) + malloc_cost(16 + size_of::<Value>());
    let owned = match v {
        Value::String(StrValue::Int(_)) => 0,
        Value::String(StrValue::Bytes { data, .. }) => malloc_cost(data.len()),
        Value::List(l) => {
            l.items().capacity() * size_of::<Bytes>()
                + sampled(l.iter().map(|b| malloc_cost(b.len())), l.len(), samples)
        }
        Value::Set(SetValue::Intset(v)) => malloc_cost(v.capacity_bytes()),
        Value::Set(s) => sampled(
            s.iter()
                .map(|m| table_slot_cost(size_of::<Bytes>()) + malloc_cost(m.len())),
            s.len(),
            samples,
        ),
        Value::Hash(h) => sampled(
            h.iter().map(|(f, v)| {
                table_slot_cost(2 * size_of::<Bytes>())
                    + malloc_cost(f.len())
                    + malloc_cost(v.len())
            }),
            h.len(),
            samples,
        ),
        Value::ZSet(z) => sampled(
            z.iter().map(|(m, _)| {
                // The map slot and the ordered index's entry.
                table_slot_cost(size_of::<Bytes>() + size_of::<f64>())
                    + 2 * size_of::<Bytes>()
                    + malloc_cost(m.len())
            }),
            z.len(),
            samples,
        ),
        Value::Stream(s) => {
            // Each node: its struct, buffers and BTreeMap slot (with node slack).
            sampled(
                s.entries.node_memory().map(|m| m * 5 / 4),
                s.entries.node_count(),
                samples,
            ) + s
                .groups
                .values()
                .map(|g| 64 + g.pel.len() * 64 + g.consumers.len() * 64)
                .sum::<usize>()
        }
    };
    base + owned
}

/// MEMORY HELP body lines (Redis 7.0.15's text; `write_help` adds the header and HELP).
const MEMORY_HELP: &[&str] = &[
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

/// DEBUG HELP body lines as redis-server 7.0.15 prints them (the header and the HELP
/// footer are added by `write_help`). Tandem implements DIGEST, DIGEST-VALUE, LOG, OBJECT,
/// POPULATE, SET-ACTIVE-EXPIRE, SLEEP and HELP; the text is Redis's so that tools reading it
/// see the same reply.
const DEBUG_HELP: &[&str] = &[
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "MALLCTL <key> [<val>]",
    "    Get or set a malloc tuning integer.",
    "MALLCTL-STR <key> [<val>]",
    "    Get or set a malloc tuning string.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tandem_keyspace::{HashValue, KeyspaceConfig, ListValue, SetValue, StreamValue, ZSetValue};

    const NOW: Millis = 1_700_000_000_000;

    fn ks() -> Keyspace {
        let mut ks = Keyspace::new(KeyspaceConfig::default());
        ks.set_now(NOW);
        ks
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn string(s: &str) -> Value {
        Value::String(StrValue::from_bytes_for_set(b(s)))
    }

    fn list(items: &[&str]) -> Value {
        Value::List(ListValue::from_items(
            items.iter().map(|s| b(s)).collect(),
            &tandem_keyspace::EncodingLimits::default(),
        ))
    }

    fn set(items: &[&str]) -> Value {
        let lim = tandem_keyspace::EncodingLimits::default();
        Value::Set(SetValue::from_members(
            items.iter().map(|s| b(s)).collect(),
            &lim,
        ))
    }

    fn zset(items: &[(f64, &str)]) -> Value {
        let lim = tandem_keyspace::EncodingLimits::default();
        Value::ZSet(ZSetValue::from_pairs(
            items.iter().map(|(sc, m)| (b(m), *sc)).collect(),
            &lim,
        ))
    }

    fn hash(items: &[(&str, &str)]) -> Value {
        let lim = tandem_keyspace::EncodingLimits::default();
        Value::Hash(HashValue::from_pairs(
            items.iter().map(|(f, v)| (b(f), b(v))).collect(),
            &lim,
        ))
    }

    fn digest_of(ks: &Keyspace) -> String {
        to_hex(&dataset_digest(&ks.snapshot()))
    }

    fn value_hex(v: &Value) -> String {
        to_hex(&value_digest(v, false))
    }

    #[test]
    fn g17_matches_printf() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (2.0, "2"),
            (-2.5, "-2.5"),
            (0.1, "0.10000000000000001"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e20, "1e+20"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001, "0.0001"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (123_456_789_012_345_678.0, "1.2345678901234568e+17"),
            (3.0e-300, "3.0000000000000002e-300"),
            (1.0 / 3.0, "0.33333333333333331"),
        ];
        for (x, want) in cases {
            assert_eq!(fmt_g17(*x), *want, "{x}");
        }
    }

    #[test]
    fn empty_dataset_is_zero() {
        assert_eq!(digest_of(&ks()), "0".repeat(40));
    }

    #[test]
    fn reference_dataset_digests() {
        // Values produced by redis-server 7.0.15 (shared/reference/debug-digest.md).
        let mut k = ks();
        k.set(0, b("a"), string("1"), Expiry::Clear);
        assert_eq!(digest_of(&k), "943d800368fb9c0e951138f1bc0e313ac769d91f");
        k.set(0, b("l"), list(&["x", "y"]), Expiry::Clear);
        assert_eq!(digest_of(&k), "b81ec9ca7eb96f7799598b077e33e7ba0b9aae48");

        let mut k = ks();
        k.set(0, b("l"), list(&["x", "y"]), Expiry::Clear);
        assert_eq!(digest_of(&k), "8613d13abcabb8d3cd06887d4ff73f09636081f5");

        let mut k = ks();
        k.set(0, b("s"), set(&["a", "b"]), Expiry::Clear);
        assert_eq!(digest_of(&k), "1aa1a03d171fe3f6470e0505beb9615dde7ca769");

        let mut k = ks();
        k.set(0, b("z"), zset(&[(1.5, "m")]), Expiry::Clear);
        assert_eq!(digest_of(&k), "a40547e295bb332852b40b52a5eb1193bd7a3d22");

        let mut k = ks();
        k.set(0, b("h"), hash(&[("f", "v")]), Expiry::Clear);
        assert_eq!(digest_of(&k), "ec49ca35021df6fe95cc62ee6599f1453788293b");

        let mut k = ks();
        k.set(0, b("a"), string("1"), Expiry::At(NOW + 100_000));
        assert_eq!(digest_of(&k), "0c68bbcf4ad5c984f8ca839729889d52ec025271");

        let mut k = ks();
        k.set(1, b("a"), string("1"), Expiry::Clear);
        assert_eq!(digest_of(&k), "8c8a6be2ca87c2882fea78af15ce43b8c3792dad");
        k.set(0, b("a"), string("1"), Expiry::Clear);
        assert_eq!(digest_of(&k), "c6bab682b086d5daf847ee97e8554b6f1fb06350");
    }

    #[test]
    fn expired_but_present_keys_count() {
        let mut k = ks();
        k.set(0, b("a"), string("1"), Expiry::At(NOW - 1));
        // Logically expired, still in the table: DIGEST includes it as Redis does.
        assert_eq!(digest_of(&k), "0c68bbcf4ad5c984f8ca839729889d52ec025271");
        let d = with_raw(&mut k, 0, b"a", NOW, |v, e| {
            to_hex(&value_digest(v, e.is_some()))
        });
        assert_eq!(
            d.as_deref(),
            Some("5279988c5d1911f474bcbbf2f0a87012d40f8459")
        );
        assert_eq!(k.dbsize(0), 1, "the raw lookup must not expire the key");
        assert!(with_raw(&mut k, 0, b"missing", NOW, |_, _| ()).is_none());
    }

    #[test]
    fn reference_value_digests() {
        let cases: Vec<(Value, &str)> = vec![
            (string("1"), "b4fc66738120fba0b5aa500ab5c2bf89cea1c5da"),
            (
                Value::String(StrValue::raw(b("1"))),
                "b4fc66738120fba0b5aa500ab5c2bf89cea1c5da",
            ),
            (
                list(&["x", "y"]),
                "a3b14a34cfbd69f970cd30aff36fd797e07b4dbc",
            ),
            (set(&["a", "b"]), "dd99329063ca0f1f28df2ac68d94b82fd95501c6"),
            (
                zset(&[(1.5, "m")]),
                "0b67afcf657d7aa53a5226bcca2f55ea7f2fff48",
            ),
            (
                hash(&[("f", "v")]),
                "90c76e9e9f4c62d642a34fc97c7dad503b51f906",
            ),
            (
                hash(&[("f", "v"), ("n", "42")]),
                "c9bfe8cee47511ea0f1e13d7eb852ba9d3a95784",
            ),
            (
                zset(&[(1.5, "m"), (2.0, "n"), (0.1, "o")]),
                "a7506e755f909a6a91b1bbcda614b185016b1348",
            ),
            (
                zset(&[(2.0, "n")]),
                "196f5950f6cadb2a164be1a8a3d81504d2214dd8",
            ),
            (
                zset(&[(0.1, "o")]),
                "b55898eacc273be5bda87cd9cfe3f16bac65a1d8",
            ),
            (
                zset(&[(f64::INFINITY, "m"), (f64::NEG_INFINITY, "n")]),
                "d78c237dcb98f1e641777531f4cea8b1ae056feb",
            ),
            (
                set(&["1", "2", "3"]),
                "2a462a3f51a1db89738ebbeef0c47ce1bbc85246",
            ),
            (
                list(&["a", "b", "c"]),
                "8bf72d812571eea9b927f3c11beb0c4165a6ff89",
            ),
            (
                list(&["c", "b", "a"]),
                "ab68e07de85d09ef55234146f46ee46a318beead",
            ),
            (
                string("12345678901234567890"),
                "71f0756f36a6579483243170ae41bfe56d554e36",
            ),
        ];
        for (v, want) in &cases {
            assert_eq!(value_hex(v), *want, "{v:?}");
        }
        let mut st = StreamValue::default();
        st.entries.append(
            tandem_keyspace::value::StreamId::new(1, 1),
            [(&b"f"[..], &b"v"[..])],
            Default::default(),
        );
        assert_eq!(
            value_hex(&Value::Stream(st)),
            "2ed9a7a81688084b1f7eae33456ef7727d357031"
        );
        assert_eq!(
            to_hex(&value_digest(&string("1"), true)),
            "5279988c5d1911f474bcbbf2f0a87012d40f8459"
        );
    }

    #[test]
    fn serialized_lengths_match_redis() {
        // DEBUG OBJECT serializedlength values from redis-server 7.0.15.
        assert_eq!(rdb_value_len(&string("hello")), 6);
        assert_eq!(rdb_value_len(&string("5")), 2);
        assert_eq!(rdb_value_len(&string("123456789012")), 13);
        assert_eq!(rdb_value_len(&list(&["a", "b", "c"])), 19);
        assert_eq!(rdb_value_len(&set(&["1", "2"])), 13);
        assert_eq!(rdb_value_len(&hash(&[("f", "v")])), 14);
        assert_eq!(rdb_value_len(&zset(&[(1.0, "m")])), 13);
        let mut st = StreamValue::default();
        st.entries.append(
            tandem_keyspace::value::StreamId::new(1, 1),
            [(&b"f"[..], &b"v"[..])],
            Default::default(),
        );
        assert_eq!(rdb_value_len(&Value::Stream(st)), 57);
        let padded = Value::String(StrValue::embstr_or_raw(Bytes::from_static(
            b"value:0\0\0\0\0\0",
        )));
        assert_eq!(rdb_value_len(&padded), 13);
    }

    #[test]
    fn memory_usage_grows_with_the_value() {
        let small = key_memory_usage(3, &string("x"), DEFAULT_SAMPLES);
        let big = key_memory_usage(3, &string(&"x".repeat(1000)), DEFAULT_SAMPLES);
        assert!(big >= small + 900);
        let items: Vec<String> = (0..1000).map(|i| format!("item{i}")).collect();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        let l = list(&refs);
        let sampled = key_memory_usage(3, &l, DEFAULT_SAMPLES);
        let full = key_memory_usage(3, &l, usize::MAX);
        assert!(sampled > 1000 * 32);
        assert!(full > 1000 * 32);
    }

    #[test]
    fn c_atoi() {
        assert_eq!(atoi(b"1"), 1);
        assert_eq!(atoi(b"0"), 0);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b"  12abc"), 12);
        assert_eq!(atoi(b"-3"), -3);
        assert_eq!(atoi(b""), 0);
    }
}
