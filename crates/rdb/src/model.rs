//! The plain value model: what an RDB file contains, independent of any server.
//!
//! Values are semantic, not encodings: a hash read from a zipmap, a ziplist, a
//! listpack or a hashtable is the same [`RdbValue::Hash`]. The encoder picks the
//! encoding again from [`crate::EncodeOptions`], as Redis does when it saves.
//! Streams are the exception: a [`Stream`] keeps its radix-tree nodes
//! ([`StreamNode`], deleted entries included), because Redis saves and loads
//! them as they are and the layout is visible to clients (XINFO's radix-tree
//! counts, where XADD opens a node, what `XTRIM ~` removes).
//!
//! Ordering conventions: lists keep their order; sets and hashes keep the
//! order found in the file (Redis's iteration order, meaningless but stable);
//! sorted sets are always returned sorted by (score, member), whatever order
//! the file used (7.0 writes skiplist zsets from the highest score down).

use bytes::Bytes;

/// One value, as stored under a key.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbValue {
    /// A string (integer encodings are returned as their decimal text).
    String(Bytes),
    /// A list, head first, with no node layout of its own (RDB types 1 and 10): written
    /// in the nodes tail pushes would fill.
    List(Vec<Bytes>),
    /// A list with its quicklist nodes (RDB types 14 and 18), as Redis keeps them: the
    /// encoder writes these nodes rather than deriving them.
    Quicklist(Box<Quicklist>),
    /// A set (members unique).
    Set(Vec<Bytes>),
    /// A sorted set: (member, score), sorted by score then member.
    ZSet(Vec<(Bytes, f64)>),
    /// A hash: (field, value) pairs, fields unique.
    Hash(Vec<(Bytes, Bytes)>),
    /// A stream with its consumer groups.
    Stream(Box<Stream>),
    /// A module value (type 7), kept as its self-describing opcodes. The decoder
    /// only produces it when asked to ([`crate::ModulePolicy::Keep`]).
    Module(Box<ModuleValue>),
}

impl RdbValue {
    /// The Redis type name (`TYPE` command): string, list, set, zset, hash, stream, module name.
    pub fn type_name(&self) -> &str {
        match self {
            RdbValue::String(_) => "string",
            RdbValue::List(_) | RdbValue::Quicklist(_) => "list",
            RdbValue::Set(_) => "set",
            RdbValue::ZSet(_) => "zset",
            RdbValue::Hash(_) => "hash",
            RdbValue::Stream(_) => "stream",
            RdbValue::Module(m) => &m.name,
        }
    }
}

/// A list and the quicklist nodes that hold it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quicklist {
    /// The elements, head first.
    pub items: Vec<Bytes>,
    /// The nodes, head first; their counts add up to `items.len()`. Redis skips empty
    /// nodes when it loads a file, and so does the decoder.
    pub nodes: Vec<QuicklistNode>,
}

/// One quicklist node: how many elements it holds, and whether it is a PLAIN node (one
/// element stored raw, for elements of at least the packed threshold) rather than a
/// listpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuicklistNode {
    /// Number of elements (1 for a plain node).
    pub count: usize,
    /// A PLAIN node (container 1).
    pub plain: bool,
}

/// A stream ID: milliseconds and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// Build an ID.
    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The 16-byte big-endian form used as rax key and in PELs.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One stream entry: an ID and its field/value pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// Its ID.
    pub id: StreamId,
    /// Field/value pairs in insertion order.
    pub fields: Vec<(Bytes, Bytes)>,
}

/// One entry of a stream node, as its listpack stores it: live, or deleted (a tombstone
/// left by `XDEL` or exact trimming, which keeps its fields in Redis's listpack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamNodeEntry {
    /// The entry.
    pub entry: StreamEntry,
    /// True for a tombstone.
    pub deleted: bool,
}

/// One node of a stream's radix tree: a listpack keyed by its master ID. Redis writes
/// each node as it holds it in memory and loads it back as is, so the layout (where nodes
/// split, which tombstones they keep) survives a save and a load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamNode {
    /// The master ID (the ID of the entry that opened the node; entries store their IDs
    /// as deltas from it).
    pub master_id: StreamId,
    /// The master entry's field names (entries with exactly these names store only
    /// their values).
    pub master_fields: Vec<Bytes>,
    /// The node's entries in ID order, tombstones included.
    pub entries: Vec<StreamNodeEntry>,
}

/// Redis's default `stream-node-max-bytes`.
pub const STREAM_NODE_MAX_BYTES: usize = 4096;
/// Redis's default `stream-node-max-entries`.
pub const STREAM_NODE_MAX_ENTRIES: usize = 100;

impl StreamNode {
    /// Live entries of this node.
    pub fn live(&self) -> impl Iterator<Item = &StreamEntry> + '_ {
        self.entries.iter().filter(|e| !e.deleted).map(|e| &e.entry)
    }

    /// Packs live entries (in ID order) into nodes as `XADD` does with Redis's default
    /// limits ([`STREAM_NODE_MAX_ENTRIES`] entries, [`STREAM_NODE_MAX_BYTES`] bytes).
    pub fn pack(entries: impl IntoIterator<Item = StreamEntry>) -> Vec<StreamNode> {
        StreamNode::pack_with(entries, STREAM_NODE_MAX_ENTRIES, STREAM_NODE_MAX_BYTES)
    }

    /// Like [`StreamNode::pack`] with other limits (`stream-node-max-entries`, where 0
    /// means no limit, and `stream-node-max-bytes`, where 0 means 1 GiB).
    pub fn pack_with(
        entries: impl IntoIterator<Item = StreamEntry>,
        max_entries: usize,
        max_bytes: usize,
    ) -> Vec<StreamNode> {
        crate::stream::pack_nodes(entries.into_iter(), max_entries, max_bytes)
    }
}

/// A stream: its radix-tree nodes plus the metadata RDB 10 stores.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stream {
    /// The nodes in master ID order, each exactly as its listpack holds it.
    pub nodes: Vec<StreamNode>,
    /// The last ID ever generated (may be above the last live entry).
    pub last_id: StreamId,
    /// The first live entry's ID (0-0 when empty).
    pub first_id: StreamId,
    /// The highest ID ever deleted (0-0 when none).
    pub max_deleted_id: StreamId,
    /// Count of entries ever added.
    pub entries_added: u64,
    /// Consumer groups in name order.
    pub groups: Vec<ConsumerGroup>,
}

impl Stream {
    /// A stream holding `entries` (in ID order) as a run of `XADD`s would leave it:
    /// nodes packed with the default limits, `last_id` and `first_id` the last and first
    /// entry's, `entries_added` their count, no groups.
    pub fn from_entries(entries: Vec<StreamEntry>) -> Stream {
        let first_id = entries.first().map(|e| e.id).unwrap_or_default();
        let last_id = entries.last().map(|e| e.id).unwrap_or_default();
        let entries_added = entries.len() as u64;
        Stream {
            nodes: StreamNode::pack(entries),
            last_id,
            first_id,
            entries_added,
            ..Stream::default()
        }
    }

    /// The live entries in ID order.
    pub fn entries(&self) -> impl Iterator<Item = &StreamEntry> + '_ {
        self.nodes.iter().flat_map(StreamNode::live)
    }

    /// The live entries, owned, in ID order.
    pub fn into_entries(self) -> Vec<StreamEntry> {
        self.nodes
            .into_iter()
            .flat_map(|n| n.entries)
            .filter(|e| !e.deleted)
            .map(|e| e.entry)
            .collect()
    }

    /// Number of live entries (`XLEN`).
    pub fn len(&self) -> usize {
        self.nodes.iter().map(|n| n.live().count()).sum()
    }

    /// True when the stream has no live entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// Group name.
    pub name: Bytes,
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Logical read counter (`entries-read`); -1 when unknown.
    pub entries_read: i64,
    /// The group's pending entries list, in ID order.
    pub pel: Vec<PendingEntry>,
    /// Consumers in name order.
    pub consumers: Vec<Consumer>,
}

/// One entry of a group PEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingEntry {
    /// The entry ID.
    pub id: StreamId,
    /// Last delivery time, unix milliseconds.
    pub delivery_time: i64,
    /// Number of deliveries.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// Consumer name.
    pub name: Bytes,
    /// Last time seen, unix milliseconds.
    pub seen_time: i64,
    /// Last successful interaction (RDB 11 / type 21 only), unix ms.
    pub active_time: Option<i64>,
    /// IDs of the group PEL owned by this consumer, in ID order.
    pub pending: Vec<StreamId>,
}

/// One typed item of a module's self-describing serialization.
#[derive(Debug, Clone, PartialEq)]
pub enum ModuleOp {
    /// Signed integer (opcode 1).
    SInt(i64),
    /// Unsigned integer (opcode 2).
    UInt(u64),
    /// Binary float (opcode 3).
    Float(f32),
    /// Binary double (opcode 4).
    Double(f64),
    /// String (opcode 5).
    String(Bytes),
}

/// A module value (RDB type 7).
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleValue {
    /// The 64-bit module type id (name and encoding version).
    pub module_id: u64,
    /// The 9-character type name decoded from the id.
    pub name: String,
    /// The encoding version (low 10 bits of the id).
    pub version: u16,
    /// The serialized items, up to (not including) the EOF opcode.
    pub ops: Vec<ModuleOp>,
}

/// Module global data (opcode MODULE_AUX, 0xF7).
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleAux {
    /// The 64-bit module type id.
    pub module_id: u64,
    /// Decoded type name.
    pub name: String,
    /// Encoding version.
    pub version: u16,
    /// When it was saved: 1 = before the keyspace, 2 = after.
    pub when: u64,
    /// The serialized items.
    pub ops: Vec<ModuleOp>,
}

/// A function library (opcodes FUNCTION2 0xF5 and pre-GA FUNCTION 0xF6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The full library source (`#!lua name=...`).
    pub code: Bytes,
    /// Only for the 7.0-rc format (0xF6): library name, engine, description.
    pub legacy: Option<LegacyFunction>,
}

/// The extra header of a 7.0-rc1/rc2 function record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFunction {
    /// Library name.
    pub name: Bytes,
    /// Engine name (e.g. LUA).
    pub engine: Bytes,
    /// Optional description.
    pub description: Option<Bytes>,
}

/// One key with its value and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Database number (from the last SELECTDB, 0 if none).
    pub db: u64,
    /// The key.
    pub key: Bytes,
    /// The value.
    pub value: RdbValue,
    /// Absolute expiry, unix milliseconds.
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds (opcode IDLE).
    pub idle_secs: Option<u64>,
    /// LFU counter (opcode FREQ).
    pub freq: Option<u8>,
}

impl Entry {
    /// A key without expiry or eviction metadata.
    pub fn new(db: u64, key: impl Into<Bytes>, value: RdbValue) -> Self {
        Entry {
            db,
            key: key.into(),
            value,
            expire_ms: None,
            idle_secs: None,
            freq: None,
        }
    }
}

/// RESIZEDB hint: sizes of the current database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizeDb {
    /// Number of keys.
    pub db_size: u64,
    /// Number of keys with an expiry.
    pub expires_size: u64,
}

/// One item produced by the streaming [`crate::Decoder`].
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An AUX field (`redis-ver`, `ctime`, ...). Integer-encoded values are
    /// returned as decimal text.
    Aux {
        /// Field name.
        key: Bytes,
        /// Field value.
        value: Bytes,
    },
    /// SELECTDB: following entries belong to this database.
    SelectDb(u64),
    /// RESIZEDB hint for the current database.
    ResizeDb(ResizeDb),
    /// A key.
    Entry(Entry),
    /// A function library.
    Function(Function),
    /// Module global data.
    ModuleAux(ModuleAux),
    /// The end of the payload (EOF opcode, checksum and, for the diskless
    /// form, the EOF mark all read).
    End {
        /// False only when the stored CRC64 differs from the computed one and
        /// checksum errors were turned off; a missing (RDB < 5) or zero
        /// checksum counts as ok.
        checksum_ok: bool,
        /// The stored checksum, `None` when absent or zero (not computed).
        checksum: Option<u64>,
    },
}

/// A whole decoded file (see [`crate::decode_all`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rdb {
    /// RDB version from the header.
    pub version: u32,
    /// AUX fields in file order.
    pub aux: Vec<(Bytes, Bytes)>,
    /// Function libraries in file order.
    pub functions: Vec<Function>,
    /// Module aux records in file order.
    pub module_aux: Vec<ModuleAux>,
    /// RESIZEDB hints: (db, hint).
    pub resize_db: Vec<(u64, ResizeDb)>,
    /// All keys in file order.
    pub entries: Vec<Entry>,
    /// Stored checksum (`None` when absent or zero).
    pub checksum: Option<u64>,
}

impl Rdb {
    /// The value of an AUX field.
    pub fn aux_value(&self, key: &[u8]) -> Option<&Bytes> {
        self.aux.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Decode a 64-bit module type id into its 9-character name and encoding version.
///
/// Redis packs the name as 9 × 6 bits over a 64-symbol charset above a 10-bit version.
pub fn module_type_name(module_id: u64) -> (String, u16) {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let version = (module_id & 1023) as u16;
    let mut id = module_id >> 10;
    let mut name = [0u8; 9];
    for slot in name.iter_mut().rev() {
        *slot = CHARSET[(id & 63) as usize];
        id >>= 6;
    }
    (String::from_utf8_lossy(&name).into_owned(), version)
}

/// Inverse of [`module_type_name`]: build the id from a 9-char name and version.
/// Returns `None` if the name is not 9 characters of the module charset or the
/// version exceeds 1023.
pub fn module_type_id(name: &str, version: u16) -> Option<u64> {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if name.len() != 9 || version > 1023 {
        return None;
    }
    let mut id: u64 = 0;
    for b in name.bytes() {
        let pos = CHARSET.iter().position(|&c| c == b)? as u64;
        id = (id << 6) | pos;
    }
    Some((id << 10) | u64::from(version))
}
