//! The streaming decoder: feed chunks, pull [`Item`]s.
//!
//! [`Decoder`] keeps only the bytes it has not consumed yet (at most the
//! current record, or one element of the current collection, plus what the
//! caller fed beyond it) and the value being built. Each call to
//! [`Decoder::next_item`] runs nom streaming parsers over the buffered bytes:
//! a complete record is consumed (and added to the running CRC64); an
//! incomplete one is left in place and the decoder remembers how many bytes
//! it needs before trying again, so a large value fed in small chunks is not
//! re-parsed from its start on every chunk. Collections (lists, sets, hashes,
//! sorted sets, quicklist nodes, streams and their groups, PELs and
//! consumers) are consumed element by element.
//!
//! The same decoder handles the three ways a payload ends: a plain file
//! (EOF opcode and checksum), a replication transfer of announced length
//! ([`Decoder::with_payload_len`]), and the diskless `$EOF:<mark>` form whose
//! payload is followed by the 40-byte mark ([`Decoder::new_eof_marked`]).
//! Bytes fed after the end are left for the caller ([`Decoder::trailing`]):
//! on a replication link they are the start of the command stream.

use std::io::Read;

use bytes::Bytes;
use nom::number::streaming::{le_i32, le_u64, u8};
use nom::Needed;

use crate::checksum::Crc64;
use crate::error::Error;
use crate::model::{
    module_type_name, Consumer, ConsumerGroup, Entry, Function, Item, LegacyFunction, ModuleAux,
    PendingEntry, Quicklist, QuicklistNode, Rdb, RdbValue, ResizeDb, Stream, StreamId,
};
use crate::parse::{
    ascii_double, binary_double, blob_value, corrupt, cow_bytes, header, length, millis,
    module_ops, module_value, raw_stream_id, sort_zset, string, string_cow, PErr, PKind, PResult,
};
use crate::stream::{decode_node, estimate_entries_read};

/// Highest RDB version this crate reads.
pub const MAX_RDB_VERSION: u32 = 11;

/// What to do with module values (object type 7) whose module is not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModulePolicy {
    /// Fail with [`Error::Module`] naming the module, as Redis does.
    #[default]
    Error,
    /// Return them as [`RdbValue::Module`] (their opcodes are self-describing).
    Keep,
}

/// Per-key metadata read before the type byte.
#[derive(Debug, Clone, Copy, Default)]
struct Prefix {
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
}

#[derive(Debug)]
enum State {
    Header,
    Top,
    Object(Box<Obj>),
    Checksum,
    Mark {
        checksum_ok: bool,
        checksum: Option<u64>,
    },
    Done,
    Failed(u64),
}

#[derive(Debug)]
struct Obj {
    ty: u8,
    key: Bytes,
    prefix: Prefix,
    left: u64,
    body: Body,
}

#[derive(Debug)]
enum Body {
    /// Types 1 (list) and 2 (set).
    Strings(Vec<Bytes>),
    /// Type 4.
    Hash(Vec<(Bytes, Bytes)>),
    /// Types 3 and 5.
    ZSet(Vec<(Bytes, f64)>),
    /// Types 14 and 18: `left` counts nodes.
    Quicklist(Quicklist),
    /// Types 15, 19, 21.
    Stream(Box<StreamState>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Nodes,
    Meta,
    GroupHeader,
    Pel,
    ConsumerCount,
    ConsumerHeader,
    ConsumerPel,
}

#[derive(Debug)]
struct StreamState {
    phase: Phase,
    stream: Stream,
    /// Live entries in the nodes read so far.
    live: u64,
    groups_left: u64,
    pel_left: u64,
    consumers_left: u64,
    group: Option<ConsumerGroup>,
    consumer: Option<Consumer>,
}

/// A top-level record.
enum Rec {
    Aux(Bytes, Bytes),
    SelectDb(u64),
    ResizeDb(ResizeDb),
    ExpireMs(i64),
    Idle(u64),
    Freq(u8),
    Function(Function),
    ModuleAux(ModuleAux),
    Eof,
    Value { ty: u8, key: Bytes, value: RdbValue },
    Begin { ty: u8, key: Bytes, count: u64 },
}

/// The parser failed at `at` bytes into the input it was given.
struct Fail {
    at: usize,
    kind: PKind,
}

/// A view over the unconsumed input that runs parsers and remembers how far
/// it got (`pos`, committed) and, on `Incomplete`, how many more bytes it needs.
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
    need: Option<usize>,
}

impl<'a> Cursor<'a> {
    fn new(input: &'a [u8]) -> Self {
        Cursor {
            input,
            pos: 0,
            need: None,
        }
    }

    fn run<T>(&mut self, f: impl FnOnce(&'a [u8]) -> PResult<'a, T>) -> Result<Option<T>, Fail> {
        let rest = &self.input[self.pos..];
        match f(rest) {
            Ok((r, v)) => {
                self.pos = self.input.len() - r.len();
                Ok(Some(v))
            }
            Err(nom::Err::Incomplete(n)) => {
                self.need = Some(match n {
                    Needed::Size(s) => s.get(),
                    Needed::Unknown => 1,
                });
                Ok(None)
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(Fail {
                at: self.input.len() - e.remaining,
                kind: e.kind,
            }),
        }
    }
}

enum Step {
    Item(Item),
    Continue,
    Need,
}

/// Streaming RDB decoder. See the module docs.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Consumed bytes at the front of `buf`.
    pos: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// Absolute end offset the input must reach before parsing again.
    need_end: u64,
    crc: Crc64,
    state: State,
    version: u32,
    db: u64,
    prefix: Prefix,
    eof_mark: Option<[u8; 40]>,
    payload_len: Option<u64>,
    verify_checksum: bool,
    modules: ModulePolicy,
    last_type: Option<u8>,
    skipped_empty: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder for a plain RDB payload (file, or transfer of unknown length).
    pub fn new() -> Self {
        Decoder {
            buf: Vec::new(),
            pos: 0,
            base: 0,
            need_end: 0,
            crc: Crc64::new(),
            state: State::Header,
            version: 0,
            db: 0,
            prefix: Prefix::default(),
            eof_mark: None,
            payload_len: None,
            verify_checksum: true,
            modules: ModulePolicy::Error,
            last_type: None,
            skipped_empty: 0,
        }
    }

    /// A decoder for the diskless replication form: the RDB is followed by the
    /// 40-byte `mark` announced in `$EOF:<mark>`; [`Item::End`] comes after it.
    pub fn new_eof_marked(mark: [u8; 40]) -> Self {
        Decoder {
            eof_mark: Some(mark),
            ..Self::new()
        }
    }

    /// Declare the total payload length (`$<len>` transfers): the RDB must end
    /// exactly there; a record that would extend past it is [`Error::Truncated`].
    pub fn with_payload_len(mut self, len: u64) -> Self {
        self.payload_len = Some(len);
        self
    }

    /// Turn checksum verification off (`DEBUG SET-SKIP-CHECKSUM-VALIDATION`):
    /// a mismatch then yields `End { checksum_ok: false }` instead of an error.
    pub fn with_checksum_verification(mut self, verify: bool) -> Self {
        self.verify_checksum = verify;
        self
    }

    /// Choose what happens to module values (default: error naming the module).
    pub fn with_module_policy(mut self, policy: ModulePolicy) -> Self {
        self.modules = policy;
        self
    }

    /// Append input bytes.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes consumed so far (for progress reporting, `loading_loaded_bytes`).
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes buffered but not consumed yet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// RDB version from the header (0 before it was read).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Database selected by the last SELECTDB (0 before any).
    pub fn current_db(&self) -> u64 {
        self.db
    }

    /// Object type byte of the last entry returned (to see which encoding a file used).
    pub fn last_object_type(&self) -> Option<u8> {
        self.last_type
    }

    /// Number of empty collections skipped (Redis skips them on load too).
    pub fn skipped_empty_keys(&self) -> u64 {
        self.skipped_empty
    }

    /// True once [`Item::End`] was returned.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Input fed after the end of the payload (e.g. the replication stream).
    pub fn trailing(&self) -> &[u8] {
        if self.is_done() {
            &self.buf[self.pos..]
        } else {
            &[]
        }
    }

    /// Declare that no more input will come: an error unless the payload ended.
    pub fn finish(&self) -> Result<(), Error> {
        match self.state {
            State::Done => Ok(()),
            State::Failed(offset) => Err(Error::Poisoned { offset }),
            _ => Err(Error::Truncated {
                offset: self.base + self.buf.len() as u64,
            }),
        }
    }

    /// The next item, `Ok(None)` when more input is needed (or after the end).
    pub fn next_item(&mut self) -> Result<Option<Item>, Error> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Failed(offset) => return Err(Error::Poisoned { offset }),
                _ => {}
            }
            let available = self.base + self.buf.len() as u64;
            if available < self.need_end {
                return Ok(None);
            }
            let buf = std::mem::take(&mut self.buf);
            let start = self.pos;
            // Never parse past an announced payload length: what follows it
            // belongs to the caller (the replication stream).
            let end = match self.payload_len {
                Some(total) => usize::try_from(total.saturating_sub(self.base))
                    .unwrap_or(usize::MAX)
                    .clamp(start, buf.len()),
                None => buf.len(),
            };
            let mut cur = Cursor::new(&buf[start..end]);
            let result = self.step(&mut cur);
            let consumed = cur.pos;
            let need = cur.need;
            if consumed > 0 {
                self.crc.update(&buf[start..start + consumed]);
                self.pos += consumed;
            }
            self.buf = buf;
            let result = result.map_err(|f| self.error_at(start, f));
            match result {
                Ok(Step::Item(item)) => {
                    self.need_end = 0;
                    if let (Item::End { .. }, Some(expected)) = (&item, self.payload_len) {
                        let offset = self.offset();
                        if offset != expected {
                            return Err(self.poison(Error::LengthMismatch { offset, expected }));
                        }
                    }
                    return Ok(Some(item));
                }
                Ok(Step::Continue) => self.need_end = 0,
                Ok(Step::Need) => {
                    let n = need.unwrap_or(1) as u64;
                    self.need_end = self.base + end as u64 + n;
                    if let Some(total) = self.payload_len {
                        if self.need_end > total {
                            return Err(self.poison(Error::Truncated { offset: total }));
                        }
                    }
                    return Ok(None);
                }
                Err(e) => return Err(self.poison(e)),
            }
        }
    }

    fn poison(&mut self, e: Error) -> Error {
        let offset = e.offset().unwrap_or_else(|| self.offset());
        self.state = State::Failed(offset);
        e
    }

    fn error_at(&self, start: usize, f: Fail) -> Error {
        let offset = self.base + (start + f.at) as u64;
        match f.kind {
            PKind::Nom(_) => Error::Corrupt {
                offset,
                reason: "malformed data",
            },
            PKind::Corrupt(reason) => Error::Corrupt { offset, reason },
            PKind::BadMagic => Error::BadMagic { offset },
            PKind::Version(version) => Error::UnsupportedVersion { version },
            PKind::Checksum(expected, computed) => Error::BadChecksum {
                offset,
                expected,
                computed,
            },
            PKind::EofMark => Error::BadEofMark { offset },
            PKind::UnknownType(byte) => Error::UnknownType { byte, offset },
            PKind::Module(module_id) => {
                let (name, version) = module_type_name(module_id);
                Error::Module {
                    offset,
                    name,
                    version,
                    module_id,
                }
            }
        }
    }

    fn step(&mut self, cur: &mut Cursor<'_>) -> Result<Step, Fail> {
        let here = self.offset();
        match std::mem::replace(&mut self.state, State::Failed(here)) {
            State::Header => {
                let version = match cur.run(header)? {
                    Some(v) => v,
                    None => {
                        self.state = State::Header;
                        return Ok(Step::Need);
                    }
                };
                if !(1..=MAX_RDB_VERSION).contains(&version) {
                    return Err(Fail {
                        at: 5,
                        kind: PKind::Version(version),
                    });
                }
                self.version = version;
                self.state = State::Top;
                Ok(Step::Continue)
            }
            State::Top => {
                let keep = self.modules == ModulePolicy::Keep;
                let rec = match cur.run(|i| record(i, keep))? {
                    Some(r) => r,
                    None => {
                        self.state = State::Top;
                        return Ok(Step::Need);
                    }
                };
                self.state = State::Top;
                Ok(self.apply_record(rec))
            }
            State::Object(mut obj) => match object_step(cur, &mut obj)? {
                Some(value) => {
                    self.state = State::Top;
                    Ok(self.entry(obj.ty, obj.key, obj.prefix, value))
                }
                None => {
                    self.state = State::Object(obj);
                    Ok(Step::Need)
                }
            },
            State::Checksum => {
                let computed = self.crc.value();
                let stored = match cur.run(le_u64)? {
                    Some(v) => v,
                    None => {
                        self.state = State::Checksum;
                        return Ok(Step::Need);
                    }
                };
                let checksum = (stored != 0).then_some(stored);
                let checksum_ok = stored == 0 || stored == computed;
                if !checksum_ok && self.verify_checksum {
                    return Err(Fail {
                        at: 0,
                        kind: PKind::Checksum(stored, computed),
                    });
                }
                Ok(self.after_checksum(checksum_ok, checksum))
            }
            State::Mark {
                checksum_ok,
                checksum,
            } => {
                let Some(mark) = self.eof_mark else {
                    self.state = State::Done;
                    return Ok(Step::Item(Item::End {
                        checksum_ok,
                        checksum,
                    }));
                };
                let got = match cur.run(|i| nom::bytes::streaming::take(40usize)(i))? {
                    Some(g) => g,
                    None => {
                        self.state = State::Mark {
                            checksum_ok,
                            checksum,
                        };
                        return Ok(Step::Need);
                    }
                };
                if got != mark {
                    return Err(Fail {
                        at: 0,
                        kind: PKind::EofMark,
                    });
                }
                self.state = State::Done;
                Ok(Step::Item(Item::End {
                    checksum_ok,
                    checksum,
                }))
            }
            s @ (State::Done | State::Failed(_)) => {
                self.state = s;
                Ok(Step::Need)
            }
        }
    }

    fn after_checksum(&mut self, checksum_ok: bool, checksum: Option<u64>) -> Step {
        if self.eof_mark.is_some() {
            self.state = State::Mark {
                checksum_ok,
                checksum,
            };
            return Step::Continue;
        }
        self.state = State::Done;
        Step::Item(Item::End {
            checksum_ok,
            checksum,
        })
    }

    fn apply_record(&mut self, rec: Rec) -> Step {
        match rec {
            Rec::Aux(key, value) => Step::Item(Item::Aux { key, value }),
            Rec::SelectDb(db) => {
                self.db = db;
                Step::Item(Item::SelectDb(db))
            }
            Rec::ResizeDb(r) => Step::Item(Item::ResizeDb(r)),
            Rec::ExpireMs(ms) => {
                self.prefix.expire_ms = Some(ms);
                Step::Continue
            }
            Rec::Idle(s) => {
                self.prefix.idle = Some(s);
                Step::Continue
            }
            Rec::Freq(f) => {
                self.prefix.freq = Some(f);
                Step::Continue
            }
            Rec::Function(f) => Step::Item(Item::Function(f)),
            Rec::ModuleAux(m) => Step::Item(Item::ModuleAux(m)),
            Rec::Eof => {
                if self.version >= 5 {
                    self.state = State::Checksum;
                    Step::Continue
                } else {
                    self.after_checksum(true, None)
                }
            }
            Rec::Value { ty, key, value } => {
                let prefix = std::mem::take(&mut self.prefix);
                self.entry(ty, key, prefix, value)
            }
            Rec::Begin { ty, key, count } => {
                let prefix = std::mem::take(&mut self.prefix);
                let cap = count.min(1024) as usize;
                let body = match ty {
                    1 | 2 => Body::Strings(Vec::with_capacity(cap)),
                    3 | 5 => Body::ZSet(Vec::with_capacity(cap)),
                    4 => Body::Hash(Vec::with_capacity(cap)),
                    14 | 18 => Body::Quicklist(Quicklist::default()),
                    _ => Body::Stream(Box::new(StreamState {
                        phase: Phase::Nodes,
                        stream: Stream::default(),
                        live: 0,
                        groups_left: 0,
                        pel_left: 0,
                        consumers_left: 0,
                        group: None,
                        consumer: None,
                    })),
                };
                self.state = State::Object(Box::new(Obj {
                    ty,
                    key,
                    prefix,
                    left: count,
                    body,
                }));
                Step::Continue
            }
        }
    }

    fn entry(&mut self, ty: u8, key: Bytes, prefix: Prefix, value: RdbValue) -> Step {
        self.prefix = Prefix::default();
        let empty = match &value {
            RdbValue::List(v) | RdbValue::Set(v) => v.is_empty(),
            RdbValue::Quicklist(q) => q.items.is_empty(),
            RdbValue::Hash(v) => v.is_empty(),
            RdbValue::ZSet(v) => v.is_empty(),
            RdbValue::String(_) | RdbValue::Stream(_) | RdbValue::Module(_) => false,
        };
        if empty {
            self.skipped_empty += 1;
            return Step::Continue;
        }
        self.last_type = Some(ty);
        Step::Item(Item::Entry(Entry {
            db: self.db,
            key,
            value,
            expire_ms: prefix.expire_ms,
            idle_secs: prefix.idle,
            freq: prefix.freq,
        }))
    }
}

/// One top-level record (opcode and payload, or a key and its value / header).
fn record(i: &[u8], keep_modules: bool) -> PResult<'_, Rec> {
    let (rest, op) = u8(i)?;
    match op {
        0xFA => {
            let (rest, key) = string(rest)?;
            let (rest, value) = string(rest)?;
            Ok((rest, Rec::Aux(key, value)))
        }
        0xFE => {
            let (rest, db) = length(rest)?;
            Ok((rest, Rec::SelectDb(db)))
        }
        0xFB => {
            let (rest, db_size) = length(rest)?;
            let (rest, expires_size) = length(rest)?;
            Ok((
                rest,
                Rec::ResizeDb(ResizeDb {
                    db_size,
                    expires_size,
                }),
            ))
        }
        0xFC => {
            let (rest, ms) = millis(rest)?;
            Ok((rest, Rec::ExpireMs(ms)))
        }
        0xFD => {
            let (rest, secs) = le_i32(rest)?;
            Ok((rest, Rec::ExpireMs(i64::from(secs) * 1000)))
        }
        0xF8 => {
            let (rest, idle) = length(rest)?;
            Ok((rest, Rec::Idle(idle)))
        }
        0xF9 => {
            let (rest, f) = u8(rest)?;
            Ok((rest, Rec::Freq(f)))
        }
        0xF7 => {
            let (rest, module_id) = length(rest)?;
            let at = rest;
            let (rest, when_op) = length(rest)?;
            if when_op != 2 {
                return corrupt(at, "bad when_opcode in module aux");
            }
            let (rest, when) = length(rest)?;
            let (rest, ops) = module_ops(rest)?;
            let (name, version) = module_type_name(module_id);
            Ok((
                rest,
                Rec::ModuleAux(ModuleAux {
                    module_id,
                    name,
                    version,
                    when,
                    ops,
                }),
            ))
        }
        0xF6 => {
            let (rest, name) = string(rest)?;
            let (rest, engine) = string(rest)?;
            let (rest, has_desc) = length(rest)?;
            let (rest, description) = if has_desc != 0 {
                let (r, d) = string(rest)?;
                (r, Some(d))
            } else {
                (rest, None)
            };
            let (rest, code) = string(rest)?;
            Ok((
                rest,
                Rec::Function(Function {
                    code,
                    legacy: Some(LegacyFunction {
                        name,
                        engine,
                        description,
                    }),
                }),
            ))
        }
        0xF5 => {
            let (rest, code) = string(rest)?;
            Ok((rest, Rec::Function(Function { code, legacy: None })))
        }
        0xFF => Ok((rest, Rec::Eof)),
        ty => {
            if !matches!(ty, 0..=7 | 9..=21) {
                return Err(nom::Err::Failure(PErr {
                    remaining: i.len(),
                    kind: PKind::UnknownType(ty),
                }));
            }
            let (rest, key) = string(rest)?;
            match ty {
                0 => {
                    let (rest, v) = string(rest)?;
                    Ok((
                        rest,
                        Rec::Value {
                            ty,
                            key,
                            value: RdbValue::String(v),
                        },
                    ))
                }
                9..=13 | 16 | 17 | 20 => {
                    let at = rest;
                    let (rest, blob) = string_cow(rest)?;
                    match blob_value(ty, &blob) {
                        Ok(value) => Ok((rest, Rec::Value { ty, key, value })),
                        Err(reason) => corrupt(at, reason),
                    }
                }
                6 => {
                    let (_, id) = length(rest)?;
                    Err(nom::Err::Failure(PErr {
                        remaining: rest.len(),
                        kind: PKind::Module(id),
                    }))
                }
                7 => {
                    let (rest, value) = module_value(rest, keep_modules)?;
                    Ok((rest, Rec::Value { ty, key, value }))
                }
                _ => {
                    let (rest, count) = length(rest)?;
                    Ok((rest, Rec::Begin { ty, key, count }))
                }
            }
        }
    }
}

/// Advance the current object; `Some(value)` once it is complete.
fn object_step(cur: &mut Cursor<'_>, obj: &mut Obj) -> Result<Option<RdbValue>, Fail> {
    let ty = obj.ty;
    match &mut obj.body {
        Body::Strings(items) => {
            while obj.left > 0 {
                let Some(s) = cur.run(string)? else {
                    return Ok(None);
                };
                items.push(s);
                obj.left -= 1;
            }
            let items = std::mem::take(items);
            Ok(Some(if ty == 1 {
                RdbValue::List(items)
            } else {
                RdbValue::Set(items)
            }))
        }
        Body::Hash(pairs) => {
            while obj.left > 0 {
                let Some(p) = cur.run(|i| {
                    let (i, k) = string(i)?;
                    let (i, v) = string(i)?;
                    Ok((i, (k, v)))
                })?
                else {
                    return Ok(None);
                };
                pairs.push(p);
                obj.left -= 1;
            }
            Ok(Some(RdbValue::Hash(std::mem::take(pairs))))
        }
        Body::ZSet(items) => {
            while obj.left > 0 {
                let Some(p) = cur.run(|i| {
                    let (i, m) = string(i)?;
                    let at = i;
                    let (i, score) = if ty == 3 {
                        ascii_double(i)?
                    } else {
                        binary_double(i)?
                    };
                    if score.is_nan() {
                        return corrupt(at, "Zset with NAN score detected");
                    }
                    Ok((i, (m, score)))
                })?
                else {
                    return Ok(None);
                };
                items.push(p);
                obj.left -= 1;
            }
            let mut z = std::mem::take(items);
            sort_zset(&mut z);
            Ok(Some(RdbValue::ZSet(z)))
        }
        Body::Quicklist(ql) => {
            while obj.left > 0 {
                let Some((mut node, plain)) = cur.run(|i| quicklist_node(i, ty == 18))? else {
                    return Ok(None);
                };
                // Redis skips empty nodes silently.
                if !node.is_empty() {
                    ql.nodes.push(QuicklistNode {
                        count: node.len(),
                        plain,
                    });
                    ql.items.append(&mut node);
                }
                obj.left -= 1;
            }
            Ok(Some(RdbValue::Quicklist(Box::new(std::mem::take(ql)))))
        }
        Body::Stream(st) => {
            let done = stream_step(cur, st, ty, &mut obj.left)?;
            Ok(done.then(|| RdbValue::Stream(Box::new(std::mem::take(&mut st.stream)))))
        }
    }
}

/// One quicklist node: its elements, and whether it is a PLAIN node.
fn quicklist_node(i: &[u8], v2: bool) -> PResult<'_, (Vec<Bytes>, bool)> {
    let (rest, container) = if v2 { length(i)? } else { (i, 2) };
    let at = rest;
    let (rest, blob) = string_cow(rest)?;
    let decoded = match (v2, container) {
        (true, 1) => return Ok((rest, (vec![cow_bytes(blob)], true))),
        (true, 2) => crate::blob::listpack_entries(&blob),
        (false, _) => crate::blob::ziplist_entries(&blob),
        _ => return corrupt(i, "unknown quicklist node container"),
    };
    match decoded {
        Ok(elems) => Ok((
            rest,
            (elems.into_iter().map(|e| e.to_bytes()).collect(), false),
        )),
        Err(reason) => corrupt(at, reason),
    }
}

fn id_pair(i: &[u8]) -> PResult<'_, StreamId> {
    let (i, ms) = length(i)?;
    let (i, seq) = length(i)?;
    Ok((i, StreamId { ms, seq }))
}

/// Advance a stream; `true` once complete. `nodes_left` is the object's count.
fn stream_step(
    cur: &mut Cursor<'_>,
    st: &mut StreamState,
    ty: u8,
    nodes_left: &mut u64,
) -> Result<bool, Fail> {
    loop {
        match st.phase {
            Phase::Nodes => {
                if *nodes_left == 0 {
                    st.phase = Phase::Meta;
                    continue;
                }
                let last_master = st.stream.nodes.last().map(|n| n.master_id);
                let Some(node) = cur.run(|i| {
                    let at = i;
                    let (i, key) = string_cow(i)?;
                    if key.len() != 16 {
                        return corrupt(at, "Stream node key entry is not the size of a stream ID");
                    }
                    let master = StreamId {
                        ms: u64::from_be_bytes(key[..8].try_into().unwrap_or([0; 8])),
                        seq: u64::from_be_bytes(key[8..].try_into().unwrap_or([0; 8])),
                    };
                    if let Some(prev) = last_master {
                        if master == prev {
                            return corrupt(at, "Listpack re-added with existing key");
                        }
                        if master < prev {
                            return corrupt(at, "stream node keys out of order");
                        }
                    }
                    let at = i;
                    let (i, lp) = string_cow(i)?;
                    match decode_node(master, &lp) {
                        Ok(n) => Ok((i, n)),
                        Err(reason) => corrupt(at, reason),
                    }
                })?
                else {
                    return Ok(false);
                };
                st.live += node.live().count() as u64;
                st.stream.nodes.push(node);
                *nodes_left -= 1;
            }
            Phase::Meta => {
                let v2 = ty >= 19;
                let Some((length, last, first, max_del, added, groups)) = cur.run(|i| {
                    let (i, length) = self::length(i)?;
                    let (i, last) = id_pair(i)?;
                    let (i, first, max_del, added) = if v2 {
                        let (i, first) = id_pair(i)?;
                        let (i, max_del) = id_pair(i)?;
                        let (i, added) = self::length(i)?;
                        (i, Some(first), Some(max_del), Some(added))
                    } else {
                        (i, None, None, None)
                    };
                    let (i, groups) = self::length(i)?;
                    Ok((i, (length, last, first, max_del, added, groups)))
                })?
                else {
                    return Ok(false);
                };
                if length != st.live {
                    return Err(Fail {
                        at: cur.pos,
                        kind: PKind::Corrupt("stream length differs from its live entries"),
                    });
                }
                let s = &mut st.stream;
                s.last_id = last;
                s.first_id =
                    first.unwrap_or_else(|| s.entries().next().map(|e| e.id).unwrap_or_default());
                s.max_deleted_id = max_del.unwrap_or_default();
                s.entries_added = added.unwrap_or(length);
                st.groups_left = groups;
                if groups == 0 {
                    return Ok(true);
                }
                st.phase = Phase::GroupHeader;
            }
            Phase::GroupHeader => {
                let v2 = ty >= 19;
                let Some((name, last_id, read, pel)) = cur.run(|i| {
                    let (i, name) = string(i)?;
                    let (i, last_id) = id_pair(i)?;
                    let (i, read) = if v2 {
                        let (i, r) = length(i)?;
                        (i, Some(r as i64))
                    } else {
                        (i, None)
                    };
                    let (i, pel) = length(i)?;
                    Ok((i, (name, last_id, read, pel)))
                })?
                else {
                    return Ok(false);
                };
                let entries_read =
                    read.unwrap_or_else(|| estimate_entries_read(&st.stream, last_id));
                st.group = Some(ConsumerGroup {
                    name,
                    last_id,
                    entries_read,
                    pel: Vec::with_capacity(pel.min(1024) as usize),
                    consumers: Vec::new(),
                });
                st.pel_left = pel;
                st.phase = Phase::Pel;
            }
            Phase::Pel => {
                let Some(group) = st.group.as_mut() else {
                    return Err(Fail {
                        at: cur.pos,
                        kind: PKind::Corrupt("stream state"),
                    });
                };
                while st.pel_left > 0 {
                    let Some(p) = cur.run(|i| {
                        let (i, id) = raw_stream_id(i)?;
                        let (i, delivery_time) = millis(i)?;
                        let (i, delivery_count) = length(i)?;
                        Ok((
                            i,
                            PendingEntry {
                                id,
                                delivery_time,
                                delivery_count,
                            },
                        ))
                    })?
                    else {
                        return Ok(false);
                    };
                    group.pel.push(p);
                    st.pel_left -= 1;
                }
                group.pel.sort_by_key(|p| p.id);
                if group.pel.windows(2).any(|w| w[0].id == w[1].id) {
                    return Err(Fail {
                        at: cur.pos,
                        kind: PKind::Corrupt(
                            "Duplicated global PEL entry loading stream consumer group",
                        ),
                    });
                }
                st.phase = Phase::ConsumerCount;
            }
            Phase::ConsumerCount => {
                let Some(n) = cur.run(length)? else {
                    return Ok(false);
                };
                st.consumers_left = n;
                if n == 0 {
                    if finish_group(st) {
                        return Ok(true);
                    }
                } else {
                    st.phase = Phase::ConsumerHeader;
                }
            }
            Phase::ConsumerHeader => {
                let v3 = ty >= 21;
                let Some((name, seen, active, pel)) = cur.run(|i| {
                    let (i, name) = string(i)?;
                    let (i, seen) = millis(i)?;
                    let (i, active) = if v3 {
                        let (i, a) = millis(i)?;
                        (i, Some(a))
                    } else {
                        (i, None)
                    };
                    let (i, pel) = length(i)?;
                    Ok((i, (name, seen, active, pel)))
                })?
                else {
                    return Ok(false);
                };
                st.consumer = Some(Consumer {
                    name,
                    seen_time: seen,
                    active_time: active,
                    pending: Vec::with_capacity(pel.min(1024) as usize),
                });
                st.pel_left = pel;
                st.phase = Phase::ConsumerPel;
            }
            Phase::ConsumerPel => {
                let (Some(group), Some(consumer)) = (st.group.as_mut(), st.consumer.as_mut())
                else {
                    return Err(Fail {
                        at: cur.pos,
                        kind: PKind::Corrupt("stream state"),
                    });
                };
                while st.pel_left > 0 {
                    let before = cur.pos;
                    let Some(id) = cur.run(raw_stream_id)? else {
                        return Ok(false);
                    };
                    if group.pel.binary_search_by_key(&id, |p| p.id).is_err() {
                        return Err(Fail {
                            at: before,
                            kind: PKind::Corrupt("Consumer PEL NACK not found in group PEL"),
                        });
                    }
                    consumer.pending.push(id);
                    st.pel_left -= 1;
                }
                if let Some(c) = st.consumer.take() {
                    group.consumers.push(c);
                }
                st.consumers_left -= 1;
                if st.consumers_left == 0 {
                    if finish_group(st) {
                        return Ok(true);
                    }
                } else {
                    st.phase = Phase::ConsumerHeader;
                }
            }
        }
    }
}

/// Close the current group; `true` when it was the last one.
fn finish_group(st: &mut StreamState) -> bool {
    if let Some(g) = st.group.take() {
        st.stream.groups.push(g);
    }
    st.groups_left = st.groups_left.saturating_sub(1);
    if st.groups_left == 0 {
        true
    } else {
        st.phase = Phase::GroupHeader;
        false
    }
}

/// Decode a whole in-memory payload (feeding it in 1 MiB chunks).
pub fn decode_all(data: &[u8]) -> Result<Rdb, Error> {
    let mut d = Decoder::new();
    let mut rdb = Rdb::default();
    for chunk in data.chunks(1 << 20) {
        d.feed(chunk);
        drain(&mut d, &mut rdb)?;
    }
    if data.is_empty() {
        drain(&mut d, &mut rdb)?;
    }
    d.finish()?;
    rdb.version = d.version();
    Ok(rdb)
}

/// Decode a whole payload from a reader (a file, a socket) with bounded memory
/// for the input; the decoded dataset is collected in memory.
pub fn decode_reader<R: Read>(mut reader: R) -> Result<Rdb, Error> {
    let mut d = Decoder::new();
    let mut rdb = Rdb::default();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Io(e)),
        };
        d.feed(&chunk[..n]);
        drain(&mut d, &mut rdb)?;
        if d.is_done() {
            break;
        }
    }
    d.finish()?;
    rdb.version = d.version();
    Ok(rdb)
}

fn drain(d: &mut Decoder, rdb: &mut Rdb) -> Result<(), Error> {
    while let Some(item) = d.next_item()? {
        match item {
            Item::Aux { key, value } => rdb.aux.push((key, value)),
            Item::SelectDb(_) => {}
            Item::ResizeDb(r) => rdb.resize_db.push((d.current_db(), r)),
            Item::Entry(e) => rdb.entries.push(e),
            Item::Function(f) => rdb.functions.push(f),
            Item::ModuleAux(m) => rdb.module_aux.push(m),
            Item::End { checksum, .. } => rdb.checksum = checksum,
        }
    }
    Ok(())
}
