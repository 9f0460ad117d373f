//! The encoder: RDB version 10, laid out as Redis 7.0.15 lays it out.
//!
//! [`Encoder`] streams into any [`std::io::Write`] (a file, a socket, a
//! `Vec`), keeping a running CRC64; [`encode_to_vec`] encodes a whole
//! [`Rdb`]. Encodings are chosen from the value and [`EncodeOptions`] the way
//! 7.0.15 chooses them when a dataset is built with the usual commands:
//!
//! | value | written as |
//! |---|---|
//! | string | INT8/16/32 if a canonical integer of ≤ 11 chars fitting in i32; else LZF when `compression` and > 20 bytes and it saves ≥ 4 bytes; else raw |
//! | list | quicklist 2 (type 18): listpack nodes split by `list_max_listpack_size`; plain nodes for elements ≥ 1 GiB |
//! | set | intset (11) if all members are integers and ≤ `set_max_intset_entries`; else hashtable (2) |
//! | zset | listpack (17) if ≤ `zset_max_listpack_entries` members of ≤ `zset_max_listpack_value` bytes; else skiplist (5), highest score first |
//! | hash | listpack (16) if ≤ `hash_max_listpack_entries` pairs of ≤ `hash_max_listpack_value` bytes; else hashtable (4) |
//! | stream | type 19 (STREAM_LISTPACKS_2, what 7.0 writes and reads), one listpack per node of the model, tombstones included |
//! | module | type 7 with its opcodes |
//!
//! Blob strings (listpacks, intsets) go through the same string writer, so
//! they are LZF-compressed under the same rule, as in Redis.

use std::io::Write;

use bytes::Bytes;

use crate::blob::{intset_encode_min, listpack_entry_len, ListpackWriter, LISTPACK_OVERHEAD};
use crate::checksum::{crc64, Crc64};
use crate::error::Error;
use crate::lzf::Compressor;
use crate::model::{
    Entry, Function, ModuleAux, ModuleOp, ModuleValue, QuicklistNode, Rdb, RdbValue, Stream,
    StreamId,
};
use crate::num::{d2string, parse_canonical_i64};
use crate::parse::sort_zset;
use crate::stream::encode_node;

/// The RDB version this encoder writes.
pub const RDB_VERSION: u16 = 10;

/// Elements at least this large get a PLAIN quicklist node (7.0's packed threshold, 1 GiB).
const PACKED_THRESHOLD: usize = 1 << 30;

/// Encoding thresholds and switches, with Redis 7.0.15's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when it helps.
    pub compression: bool,
    /// `rdbchecksum`: write the CRC64 (else 8 zero bytes).
    pub checksum: bool,
    /// `hash-max-listpack-entries`.
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`.
    pub hash_max_listpack_value: usize,
    /// `zset-max-listpack-entries`.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`.
    pub zset_max_listpack_value: usize,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: usize,
    /// `list-max-listpack-size`: negative = node byte limit class (-1 4 KiB ...
    /// -5 64 KiB), positive = entries per node.
    pub list_max_listpack_size: i64,
    /// Write the IDLE / FREQ opcodes of entries that carry them (Redis writes
    /// them only under an LRU / LFU `maxmemory-policy`).
    pub eviction_info: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            compression: true,
            checksum: true,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            list_max_listpack_size: -2,
            eviction_info: false,
        }
    }
}

/// Replication fields of the aux section (present when the instance has a
/// replication backlog, is a replica, or has a cached master).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplAux {
    /// `repl-stream-db`.
    pub stream_db: i64,
    /// `repl-id` (40 hex chars).
    pub id: String,
    /// `repl-offset`.
    pub offset: i64,
}

/// The aux fields 7.0.15 writes, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuxFields {
    /// `redis-ver`.
    pub redis_ver: String,
    /// `redis-bits`.
    pub redis_bits: u32,
    /// `ctime` (unix seconds).
    pub ctime: i64,
    /// `used-mem`.
    pub used_mem: u64,
    /// Replication info, when attached.
    pub repl: Option<ReplAux>,
    /// `aof-base`.
    pub aof_base: bool,
}

impl Default for AuxFields {
    fn default() -> Self {
        AuxFields {
            redis_ver: "7.0.15".into(),
            redis_bits: 64,
            ctime: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            used_mem: 0,
            repl: None,
            aof_base: false,
        }
    }
}

impl AuxFields {
    /// The (key, value) pairs in 7.0.15's order.
    pub fn to_pairs(&self) -> Vec<(Bytes, Bytes)> {
        let mut v: Vec<(Bytes, Bytes)> = vec![
            ("redis-ver".into(), self.redis_ver.clone().into()),
            ("redis-bits".into(), self.redis_bits.to_string().into()),
            ("ctime".into(), self.ctime.to_string().into()),
            ("used-mem".into(), self.used_mem.to_string().into()),
        ];
        if let Some(r) = &self.repl {
            v.push(("repl-stream-db".into(), r.stream_db.to_string().into()));
            v.push(("repl-id".into(), r.id.clone().into()));
            v.push(("repl-offset".into(), r.offset.to_string().into()));
        }
        v.push((
            "aof-base".into(),
            if self.aof_base { "1" } else { "0" }.into(),
        ));
        v
    }
}

/// Serializes values into RDB bytes (shared by the file encoder and DUMP).
#[derive(Debug)]
struct ValueWriter {
    opts: EncodeOptions,
    lzf: Compressor,
    /// Bytes per member of the next intset written ([`Layout::Intset`]); 0 = smallest.
    intset_min_width: usize,
}

fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn put_id_pair(out: &mut Vec<u8>, id: StreamId) {
    put_len(out, id.ms);
    put_len(out, id.seq);
}

impl ValueWriter {
    /// rdbSaveRawString.
    fn string(&mut self, out: &mut Vec<u8>, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(v) = parse_canonical_i64(s) {
                if let Ok(v8) = i8::try_from(v) {
                    out.push(0xC0);
                    out.push(v8 as u8);
                    return;
                } else if let Ok(v16) = i16::try_from(v) {
                    out.push(0xC1);
                    out.extend_from_slice(&v16.to_le_bytes());
                    return;
                } else if let Ok(v32) = i32::try_from(v) {
                    out.push(0xC2);
                    out.extend_from_slice(&v32.to_le_bytes());
                    return;
                }
            }
        }
        if self.opts.compression && s.len() > 20 {
            if let Some(c) = self.lzf.compress(s, s.len() - 4) {
                out.push(0xC3);
                put_len(out, c.len() as u64);
                put_len(out, s.len() as u64);
                out.extend_from_slice(&c);
                return;
            }
        }
        put_len(out, s.len() as u64);
        out.extend_from_slice(s);
    }

    /// Writes the value, returns its object type byte.
    fn value(&mut self, out: &mut Vec<u8>, v: &RdbValue) -> Result<u8, Error> {
        Ok(match v {
            RdbValue::String(s) => {
                self.string(out, s);
                0
            }
            RdbValue::List(items) => {
                self.quicklist(out, items);
                18
            }
            RdbValue::Quicklist(ql) => {
                self.quicklist_nodes(out, &ql.items, &ql.nodes);
                18
            }
            RdbValue::Set(members) => {
                let ints: Option<Vec<i64>> = if members.len() <= self.opts.set_max_intset_entries {
                    members.iter().map(|m| parse_canonical_i64(m)).collect()
                } else {
                    None
                };
                match ints {
                    Some(mut ints) if !ints.is_empty() => {
                        ints.sort_unstable();
                        ints.dedup();
                        let blob = intset_encode_min(&ints, self.intset_min_width);
                        self.string(out, &blob);
                        11
                    }
                    _ => {
                        put_len(out, members.len() as u64);
                        for m in members {
                            self.string(out, m);
                        }
                        2
                    }
                }
            }
            RdbValue::ZSet(items) => {
                if items.iter().any(|(_, s)| s.is_nan()) {
                    return Err(Error::Unencodable("NaN score in a sorted set"));
                }
                let mut sorted = items.clone();
                sort_zset(&mut sorted);
                let compact = sorted.len() <= self.opts.zset_max_listpack_entries
                    && sorted
                        .iter()
                        .all(|(m, _)| m.len() <= self.opts.zset_max_listpack_value);
                if compact {
                    let mut lp = ListpackWriter::new();
                    for (m, s) in &sorted {
                        lp.push(m);
                        lp.push(&d2string(*s));
                    }
                    let blob = lp.finish();
                    self.string(out, &blob);
                    17
                } else {
                    put_len(out, sorted.len() as u64);
                    for (m, s) in sorted.iter().rev() {
                        self.string(out, m);
                        out.extend_from_slice(&s.to_le_bytes());
                    }
                    5
                }
            }
            RdbValue::Hash(pairs) => {
                let compact = pairs.len() <= self.opts.hash_max_listpack_entries
                    && pairs.iter().all(|(f, v)| {
                        f.len() <= self.opts.hash_max_listpack_value
                            && v.len() <= self.opts.hash_max_listpack_value
                    });
                if compact {
                    let mut lp = ListpackWriter::new();
                    for (f, v) in pairs {
                        lp.push(f);
                        lp.push(v);
                    }
                    let blob = lp.finish();
                    self.string(out, &blob);
                    16
                } else {
                    put_len(out, pairs.len() as u64);
                    for (f, v) in pairs {
                        self.string(out, f);
                        self.string(out, v);
                    }
                    4
                }
            }
            RdbValue::Stream(s) => {
                self.stream(out, s);
                19
            }
            RdbValue::Module(m) => {
                module_value(out, m, self);
                7
            }
        })
    }

    /// Quicklist 2 for a list without a layout: nodes filled as `RPUSH` fills them
    /// (`_quicklistNodeAllowInsert`).
    fn quicklist(&mut self, out: &mut Vec<u8>, items: &[Bytes]) {
        let nodes = tail_pushed_nodes(items, self.opts.list_max_listpack_size);
        self.quicklist_nodes(out, items, &nodes);
    }

    /// Quicklist 2: `nodes` over `items` (derived afresh when their counts do not add up).
    fn quicklist_nodes(&mut self, out: &mut Vec<u8>, items: &[Bytes], nodes: &[QuicklistNode]) {
        if nodes.iter().map(|n| n.count).sum::<usize>() != items.len() {
            return self.quicklist(out, items);
        }
        put_len(out, nodes.len() as u64);
        let mut rest = items;
        for node in nodes {
            let (these, after) = rest.split_at(node.count);
            rest = after;
            if node.plain && these.len() == 1 {
                put_len(out, 1);
                self.string(out, &these[0]);
            } else {
                put_len(out, 2);
                let mut lp = ListpackWriter::new();
                for item in these {
                    lp.push(item);
                }
                let blob = lp.finish();
                self.string(out, &blob);
            }
        }
    }

    fn stream(&mut self, out: &mut Vec<u8>, s: &Stream) {
        put_len(out, s.nodes.len() as u64);
        for node in &s.nodes {
            self.string(out, &node.master_id.to_be_bytes());
            self.string(out, &encode_node(node));
        }
        put_len(out, s.len() as u64);
        put_id_pair(out, s.last_id);
        put_id_pair(out, s.first_id);
        put_id_pair(out, s.max_deleted_id);
        put_len(out, s.entries_added);
        let mut groups: Vec<_> = s.groups.iter().collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        put_len(out, groups.len() as u64);
        for g in groups {
            self.string(out, &g.name);
            put_id_pair(out, g.last_id);
            put_len(out, g.entries_read as u64);
            let mut pel = g.pel.clone();
            pel.sort_by_key(|p| p.id);
            put_len(out, pel.len() as u64);
            for p in &pel {
                out.extend_from_slice(&p.id.to_be_bytes());
                out.extend_from_slice(&p.delivery_time.to_le_bytes());
                put_len(out, p.delivery_count);
            }
            let mut consumers: Vec<_> = g.consumers.iter().collect();
            consumers.sort_by(|a, b| a.name.cmp(&b.name));
            put_len(out, consumers.len() as u64);
            for c in consumers {
                self.string(out, &c.name);
                out.extend_from_slice(&c.seen_time.to_le_bytes());
                let mut ids = c.pending.clone();
                ids.sort();
                put_len(out, ids.len() as u64);
                for id in ids {
                    out.extend_from_slice(&id.to_be_bytes());
                }
            }
        }
    }
}

fn module_ops(out: &mut Vec<u8>, ops: &[ModuleOp], w: &mut ValueWriter) {
    for op in ops {
        match op {
            ModuleOp::SInt(v) => {
                put_len(out, 1);
                put_len(out, *v as u64);
            }
            ModuleOp::UInt(v) => {
                put_len(out, 2);
                put_len(out, *v);
            }
            ModuleOp::Float(v) => {
                put_len(out, 3);
                out.extend_from_slice(&v.to_le_bytes());
            }
            ModuleOp::Double(v) => {
                put_len(out, 4);
                out.extend_from_slice(&v.to_le_bytes());
            }
            ModuleOp::String(s) => {
                put_len(out, 5);
                w.string(out, s);
            }
        }
    }
    put_len(out, 0);
}

/// Redis 7.0's `_quicklistNodeAllowInsert` for a packed node of `node_bytes` bytes and
/// `node_count` entries: may an element of `item_len` bytes join it? The new size is
/// estimated with a fixed 8-byte entry overhead; a `fill` (`list-max-listpack-size`) of -1
/// to -5 caps it at 4 KiB .. 64 KiB, a positive one caps the entry count under the 8 KiB
/// safety limit (and below -5 or at 0, every element gets a node of its own).
pub fn quicklist_node_accepts(
    node_bytes: usize,
    node_count: usize,
    item_len: usize,
    fill: i64,
) -> bool {
    const SIZE_ESTIMATE_OVERHEAD: usize = 8;
    quicklist_size_allows(
        node_bytes + item_len + SIZE_ESTIMATE_OVERHEAD,
        node_count as i64 + 1,
        fill,
    )
}

/// Redis 7.0's `_quicklistNodeAllowMerge` for two packed nodes: may they become one?
pub fn quicklist_nodes_merge(
    a_bytes: usize,
    a_count: usize,
    b_bytes: usize,
    b_count: usize,
    fill: i64,
) -> bool {
    // Two listpacks' bytes, less one header and trailer (Redis's estimate takes 11).
    quicklist_size_allows(
        (a_bytes + b_bytes).saturating_sub(11),
        (a_count + b_count) as i64,
        fill,
    )
}

/// The limit both checks share: under a size class (`fill` -1 .. -5) the size alone
/// decides; otherwise a node stays under the 8 KiB safety limit and holds at most `fill`
/// entries.
fn quicklist_size_allows(size: usize, count: i64, fill: i64) -> bool {
    const SIZE_SAFETY_LIMIT: usize = 8192;
    if (-5..=-1).contains(&fill) {
        return size <= 4096usize << (-fill - 1);
    }
    size <= SIZE_SAFETY_LIMIT && count <= fill
}

/// The nodes RPUSHing `items` one by one into an empty list makes (what Redis builds when it
/// loads a list without nodes, RDB types 1 and 10).
pub fn tail_pushed_nodes(items: &[Bytes], fill: i64) -> Vec<QuicklistNode> {
    let mut nodes: Vec<QuicklistNode> = Vec::new();
    let mut bytes = 0;
    for item in items {
        let sz = item.len();
        if sz >= PACKED_THRESHOLD {
            nodes.push(QuicklistNode {
                count: 1,
                plain: true,
            });
            continue;
        }
        match nodes.last_mut() {
            Some(last) if !last.plain && quicklist_node_accepts(bytes, last.count, sz, fill) => {
                last.count += 1;
            }
            _ => {
                nodes.push(QuicklistNode {
                    count: 1,
                    plain: false,
                });
                bytes = LISTPACK_OVERHEAD;
            }
        }
        bytes += listpack_entry_len(item);
    }
    nodes
}

fn module_value(out: &mut Vec<u8>, m: &ModuleValue, w: &mut ValueWriter) {
    put_len(out, m.module_id);
    module_ops(out, &m.ops, w);
}

/// How a hash, set or sorted set is laid out in the file. Redis writes each value in its
/// in-memory encoding: a small hash that once outgrew its listpack stays a `hashtable` and is
/// written as one (RDB type 4, not 16).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Compact (listpack, intset) when the value fits the thresholds of the options.
    #[default]
    Auto,
    /// Always the full form (hashtable, skiplist).
    Full,
    /// Always the compact form (listpack), whatever the thresholds: a value Redis holds
    /// as a listpack stays one after CONFIG SET lowers a threshold.
    Compact,
    /// A set of integers is written as an intset at least this many bytes per member
    /// wide: Redis widens an intset for a member that needs it and never narrows it.
    Intset(u8),
}

/// Options that always choose the compact form for hashes, sets and sorted sets.
fn compact_layout(opts: &EncodeOptions) -> EncodeOptions {
    EncodeOptions {
        hash_max_listpack_entries: usize::MAX,
        hash_max_listpack_value: usize::MAX,
        zset_max_listpack_entries: usize::MAX,
        zset_max_listpack_value: usize::MAX,
        set_max_intset_entries: usize::MAX,
        ..opts.clone()
    }
}

/// Options that never choose a compact form for hashes, sets and sorted sets.
fn full_layout(opts: &EncodeOptions) -> EncodeOptions {
    EncodeOptions {
        hash_max_listpack_entries: 0,
        zset_max_listpack_entries: 0,
        set_max_intset_entries: 0,
        ..opts.clone()
    }
}

/// Streaming RDB 10 writer. Call [`Encoder::aux`] / [`Encoder::aux_fields`],
/// then [`Encoder::function`], then per database [`Encoder::select_db`] and
/// [`Encoder::entry`], then [`Encoder::finish`].
#[derive(Debug)]
pub struct Encoder<W: Write> {
    w: W,
    crc: Crc64,
    vw: ValueWriter,
    buf: Vec<u8>,
    written: u64,
}

const FLUSH_AT: usize = 64 * 1024;

impl<W: Write> Encoder<W> {
    /// Start a file: writes the `REDIS0010` header.
    pub fn new(w: W, opts: EncodeOptions) -> Result<Self, Error> {
        let mut e = Encoder {
            w,
            crc: Crc64::new(),
            vw: ValueWriter {
                opts,
                lzf: Compressor::new(),
                intset_min_width: 0,
            },
            buf: Vec::with_capacity(FLUSH_AT + 1024),
            written: 0,
        };
        e.buf
            .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        Ok(e)
    }

    /// Bytes produced so far (written or buffered).
    pub fn bytes_written(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    fn flush_buf(&mut self) -> Result<(), Error> {
        if !self.buf.is_empty() {
            if self.vw.opts.checksum {
                self.crc.update(&self.buf);
            }
            self.w.write_all(&self.buf)?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    fn maybe_flush(&mut self) -> Result<(), Error> {
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// One AUX field.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.buf.push(0xFA);
        self.vw.string(&mut self.buf, key);
        self.vw.string(&mut self.buf, value);
        self.maybe_flush()
    }

    /// The standard aux fields in 7.0.15's order.
    pub fn aux_fields(&mut self, aux: &AuxFields) -> Result<(), Error> {
        for (k, v) in aux.to_pairs() {
            self.aux(&k, &v)?;
        }
        Ok(())
    }

    /// A function library (FUNCTION2 opcode).
    pub fn function(&mut self, f: &Function) -> Result<(), Error> {
        self.buf.push(0xF5);
        self.vw.string(&mut self.buf, &f.code);
        self.maybe_flush()
    }

    /// Module global data (MODULE_AUX opcode).
    pub fn module_aux(&mut self, m: &ModuleAux) -> Result<(), Error> {
        self.buf.push(0xF7);
        put_len(&mut self.buf, m.module_id);
        put_len(&mut self.buf, 2);
        put_len(&mut self.buf, m.when);
        module_ops(&mut self.buf, &m.ops, &mut self.vw);
        self.maybe_flush()
    }

    /// SELECTDB then RESIZEDB (sizes of the database that follows).
    pub fn select_db(&mut self, db: u64, db_size: u64, expires_size: u64) -> Result<(), Error> {
        self.buf.push(0xFE);
        put_len(&mut self.buf, db);
        self.buf.push(0xFB);
        put_len(&mut self.buf, db_size);
        put_len(&mut self.buf, expires_size);
        self.maybe_flush()
    }

    /// One key (its `db` field is ignored: use [`Encoder::select_db`]).
    pub fn entry(&mut self, e: &Entry) -> Result<(), Error> {
        self.entry_with(e, Layout::Auto)
    }

    /// One key, in the given [`Layout`] (a hash, set or sorted set Redis holds in its
    /// full encoding is written in it even when it would fit a compact one).
    pub fn entry_with(&mut self, e: &Entry, layout: Layout) -> Result<(), Error> {
        if let Some(ms) = e.expire_ms {
            self.buf.push(0xFC);
            self.buf.extend_from_slice(&ms.to_le_bytes());
        }
        if self.vw.opts.eviction_info {
            if let Some(idle) = e.idle_secs {
                self.buf.push(0xF8);
                put_len(&mut self.buf, idle);
            }
            if let Some(f) = e.freq {
                self.buf.push(0xF9);
                self.buf.push(f);
            }
        }
        let at = self.buf.len();
        self.buf.push(0);
        self.vw.string(&mut self.buf, &e.key);
        let ty = match layout {
            Layout::Auto => self.vw.value(&mut self.buf, &e.value)?,
            Layout::Full => {
                let saved = self.vw.opts.clone();
                self.vw.opts = full_layout(&saved);
                let r = self.vw.value(&mut self.buf, &e.value);
                self.vw.opts = saved;
                r?
            }
            Layout::Compact | Layout::Intset(_) => {
                let saved = self.vw.opts.clone();
                self.vw.opts = compact_layout(&saved);
                if let Layout::Intset(width) = layout {
                    self.vw.intset_min_width = usize::from(width);
                }
                let r = self.vw.value(&mut self.buf, &e.value);
                self.vw.opts = saved;
                self.vw.intset_min_width = 0;
                r?
            }
        };
        self.buf[at] = ty;
        self.maybe_flush()
    }

    /// EOF opcode and checksum; returns the writer (flushed).
    pub fn finish(mut self) -> Result<W, Error> {
        self.buf.push(0xFF);
        self.flush_buf()?;
        let sum = if self.vw.opts.checksum {
            self.crc.value()
        } else {
            0
        };
        self.w.write_all(&sum.to_le_bytes())?;
        self.written += 8;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Encode a whole dataset: header, `rdb.aux` as given (use
/// [`AuxFields::to_pairs`] for 7.0.15's), module aux "before", functions, the
/// databases in ascending order (SELECTDB + RESIZEDB computed here), module
/// aux "after", EOF and checksum.
pub fn encode_to_vec(rdb: &Rdb, opts: &EncodeOptions) -> Result<Vec<u8>, Error> {
    encode_to_writer(rdb, opts, Vec::new())
}

/// [`encode_to_vec`] into any writer.
pub fn encode_to_writer<W: Write>(rdb: &Rdb, opts: &EncodeOptions, w: W) -> Result<W, Error> {
    let mut e = Encoder::new(w, opts.clone())?;
    for (k, v) in &rdb.aux {
        e.aux(k, v)?;
    }
    for m in rdb.module_aux.iter().filter(|m| m.when & 1 != 0) {
        e.module_aux(m)?;
    }
    for f in &rdb.functions {
        e.function(f)?;
    }
    let mut dbs: Vec<u64> = rdb.entries.iter().map(|en| en.db).collect();
    dbs.sort_unstable();
    dbs.dedup();
    for db in dbs {
        let (mut size, mut expires) = (0u64, 0u64);
        for en in rdb.entries.iter().filter(|en| en.db == db) {
            size += 1;
            expires += u64::from(en.expire_ms.is_some());
        }
        e.select_db(db, size, expires)?;
        for en in rdb.entries.iter().filter(|en| en.db == db) {
            e.entry(en)?;
        }
    }
    for m in rdb.module_aux.iter().filter(|m| m.when & 1 == 0) {
        e.module_aux(m)?;
    }
    e.finish()
}

/// A DUMP payload: type byte, value, RDB version (2 bytes LE) and CRC64 (8 bytes LE).
pub fn dump_payload(value: &RdbValue, opts: &EncodeOptions) -> Result<Vec<u8>, Error> {
    dump_payload_with(value, opts, Layout::Auto)
}

/// [`dump_payload`] in the given [`Layout`].
pub fn dump_payload_with(
    value: &RdbValue,
    opts: &EncodeOptions,
    layout: Layout,
) -> Result<Vec<u8>, Error> {
    let (opts, intset_min_width) = match layout {
        Layout::Auto => (opts.clone(), 0),
        Layout::Full => (full_layout(opts), 0),
        Layout::Compact => (compact_layout(opts), 0),
        Layout::Intset(width) => (compact_layout(opts), usize::from(width)),
    };
    let mut vw = ValueWriter {
        opts,
        lzf: Compressor::new(),
        intset_min_width,
    };
    let mut out = vec![0u8];
    let ty = vw.value(&mut out, value)?;
    out[0] = ty;
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// FUNCTION DUMP's payload: each library as a function record (`0xF5` and its code as
/// an RDB string), then the RDB version and CRC64, as a DUMP payload ends.
pub fn functions_payload(codes: &[Bytes], opts: &EncodeOptions) -> Vec<u8> {
    let mut vw = ValueWriter {
        opts: opts.clone(),
        lzf: Compressor::new(),
        intset_min_width: 0,
    };
    let mut out = Vec::new();
    for code in codes {
        out.push(0xF5);
        vw.string(&mut out, code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// FUNCTION RESTORE's reading of a [`functions_payload`]: the libraries' code.
/// Version or CRC problems give [`Error::BadDumpPayload`].
pub fn parse_functions_payload(payload: &[u8]) -> Result<Vec<Bytes>, Error> {
    verify_dump_payload(payload)?;
    let body = &payload[..payload.len() - 10];
    // Framed as an RDB file holding only function records.
    let mut framed = Vec::with_capacity(body.len() + 18);
    framed.extend_from_slice(b"REDIS0010");
    framed.extend_from_slice(body);
    framed.push(0xFF);
    framed.extend_from_slice(&[0; 8]);
    let rdb = crate::decode_all(&framed)?;
    if !rdb.entries.is_empty() {
        return Err(Error::Corrupt {
            offset: 0,
            reason: "a FUNCTION RESTORE payload holds keys",
        });
    }
    Ok(rdb.functions.into_iter().map(|f| f.code).collect())
}

/// Check and parse a DUMP payload as RESTORE does in 7.0.15: at least 10
/// bytes, version ≤ 10, CRC64 matching, then a value of a known type.
/// Version or CRC problems give [`Error::BadDumpPayload`]; a bad value gives
/// the decoding error (RESTORE answers "Bad data format").
pub fn parse_dump_payload(payload: &[u8]) -> Result<RdbValue, Error> {
    verify_dump_payload(payload)?;
    let body = &payload[..payload.len() - 10];
    let (&ty, value) = body.split_first().ok_or(Error::BadDumpPayload)?;
    // Frame the value as a one-key RDB and run it through the decoder.
    let mut framed = Vec::with_capacity(body.len() + 20);
    framed.extend_from_slice(b"REDIS0010");
    framed.push(ty);
    framed.push(0); // empty key
    framed.extend_from_slice(value);
    framed.push(0xFF);
    framed.extend_from_slice(&[0; 8]);
    let rdb = crate::decode_all(&framed)?;
    let mut entries = rdb.entries.into_iter();
    match (entries.next(), entries.next()) {
        (Some(e), None) => Ok(e.value),
        _ => Err(Error::Corrupt {
            offset: 0,
            reason: "DUMP payload does not hold exactly one value",
        }),
    }
}

/// The version/CRC check of a DUMP payload (`verifyDumpPayload`).
pub fn verify_dump_payload(payload: &[u8]) -> Result<(), Error> {
    if payload.len() < 10 {
        return Err(Error::BadDumpPayload);
    }
    let n = payload.len();
    let version = u16::from_le_bytes([payload[n - 10], payload[n - 9]]);
    if version > RDB_VERSION {
        return Err(Error::BadDumpPayload);
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[n - 8..]);
    if crc64(&payload[..n - 8]) != u64::from_le_bytes(crc) {
        return Err(Error::BadDumpPayload);
    }
    Ok(())
}
