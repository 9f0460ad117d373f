//! Bridge between the keyspace and the RDB codec (`tandem-rdb`).
//!
//! The RDB crate has its own plain value model ([`RdbValue`]); the keyspace has its own
//! ([`Value`]). This module converts between the two, and writes a whole [`Snapshot`] as an
//! RDB file the way Redis 7.0.15 lays one out (aux fields, then per non-empty database
//! `SELECTDB` + `RESIZEDB` and its keys, then `EOF` and the checksum).
//!
//! * [`to_rdb`]: keyspace value → RDB value (what SAVE, BGSAVE, full resync and DUMP write).
//! * [`from_rdb`]: RDB value → keyspace value (what loading and RESTORE build), with the
//!   string encodings Redis picks when it loads (`tryObjectEncoding`: `int`, `embstr`, `raw`).
//! * [`write_snapshot`]: serialise a [`Snapshot`] into any writer, calling back once per key
//!   so the caller can report progress, apply `rdb-key-save-delay`, or cancel.
//!
//! Each container type does its own half of the conversion (`to_rdb`, `from_*` in
//! [`crate::value`]); this module dispatches.

use std::io::Write;

use bytes::Bytes;
use tandem_rdb::{AuxFields, EncodeOptions, Encoder, Entry, RdbValue};

use crate::value::{
    EncodingLimits, HashValue, ListValue, SetValue, StrValue, StreamValue, Value, ZSetValue,
};
use crate::{Millis, Snapshot};

/// Why an RDB value cannot become a keyspace value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvError {
    /// A module value (RDB type 6/7): Tandem has no modules.
    #[error("no matching module type '{0}'")]
    Module(String),
}

/// Why writing a snapshot stopped.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The encoder or the writer failed (I/O error, unencodable value).
    #[error(transparent)]
    Rdb(#[from] tandem_rdb::Error),
    /// The per-key callback asked to stop (shutdown, FLUSHALL, ...).
    #[error("save cancelled")]
    Cancelled,
}

/// Converts a keyspace value into the RDB crate's value model.
pub fn to_rdb(v: &Value) -> RdbValue {
    match v {
        // A copy, not a clone: cloning a `Bytes` built from a `Vec` gives the stored value a
        // shared header for good (32 bytes per key after every SAVE or full sync).
        Value::String(s) => RdbValue::String(Bytes::copy_from_slice(&s.as_bytes())),
        Value::List(l) => l.to_rdb(),
        Value::Set(s) => s.to_rdb(),
        Value::ZSet(z) => z.to_rdb(),
        Value::Hash(h) => h.to_rdb(),
        Value::Stream(s) => s.to_rdb(),
    }
}

/// Converts an RDB value into a keyspace value, as Redis builds it when loading:
/// strings get `tryObjectEncoding`'s encoding (`int` for canonical integers, `embstr` up to
/// 44 bytes, else `raw`); containers get their compact encoding when they fit `limits`.
/// Module values are refused.
pub fn from_rdb(v: RdbValue, limits: &EncodingLimits) -> Result<Value, ConvError> {
    Ok(match v {
        RdbValue::String(b) => Value::String(StrValue::from_bytes_for_set(b)),
        RdbValue::List(items) => Value::List(ListValue::from_items(items, limits)),
        RdbValue::Quicklist(ql) => Value::List(ListValue::from_quicklist(*ql, limits)),
        RdbValue::Set(members) => Value::Set(SetValue::from_members(members, limits)),
        RdbValue::ZSet(items) => Value::ZSet(ZSetValue::from_pairs(items, limits)),
        RdbValue::Hash(pairs) => Value::Hash(HashValue::from_pairs(pairs, limits)),
        RdbValue::Stream(s) => Value::Stream(StreamValue::from_rdb(*s)),
        RdbValue::Module(m) => return Err(ConvError::Module(m.name)),
    })
}

/// [`from_rdb`] for a value whose RDB object type is known (`Decoder::last_object_type`, or
/// a DUMP payload's first byte). Redis keeps a hash or sorted set it finds stored compactly
/// (ziplist, listpack, zipmap) compact when the number of entries fits, whatever the
/// lengths of its elements: only a value stored in full form is checked element by element.
pub fn from_rdb_stored(
    v: RdbValue,
    limits: &EncodingLimits,
    object_type: Option<u8>,
) -> Result<Value, ConvError> {
    // 9 zipmap, 12 zset ziplist, 13 hash ziplist, 16 hash listpack, 17 zset listpack.
    if matches!(object_type, Some(9 | 12 | 13 | 16 | 17)) {
        let relaxed = EncodingLimits {
            hash_max_listpack_value: usize::MAX,
            zset_max_listpack_value: usize::MAX,
            ..*limits
        };
        return from_rdb(v, &relaxed);
    }
    from_rdb(v, limits)
}

/// What [`write_snapshot`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SaveStats {
    /// Keys written.
    pub keys: u64,
    /// Bytes written (header to checksum).
    pub bytes: u64,
}

/// Writes `snap` as a complete RDB file into `w`: header, `aux`, then every non-empty
/// database (`SELECTDB`, `RESIZEDB`, its keys with their absolute expiry), `EOF`, checksum.
///
/// `on_key` runs after each key with the number of keys written so far; returning `false`
/// stops the save with [`SaveError::Cancelled`]. Returns the writer (flushed) and counts.
pub fn write_snapshot<W: Write>(
    snap: &Snapshot,
    w: W,
    opts: EncodeOptions,
    aux: &AuxFields,
    mut on_key: impl FnMut(u64) -> bool,
) -> Result<(W, SaveStats), SaveError> {
    let mut enc = Encoder::new(w, opts)?;
    enc.aux_fields(aux)?;
    for code in snap.functions() {
        enc.function(&tandem_rdb::Function {
            code: code.clone(),
            legacy: None,
        })?;
    }
    let mut keys = 0u64;
    for db in 0..snap.databases() {
        let size = snap.len(db);
        if size == 0 {
            continue;
        }
        let expires = snap.iter(db).filter(|e| e.expire.is_some()).count();
        enc.select_db(db as u64, size as u64, expires as u64)?;
        for e in snap.iter(db) {
            let entry = entry_for(db, Bytes::copy_from_slice(e.key), e.value, e.expire);
            enc.entry_with(&entry, e.value.rdb_layout())?;
            keys += 1;
            if !on_key(keys) {
                return Err(SaveError::Cancelled);
            }
        }
    }
    let bytes_before_trailer = enc.bytes_written();
    let w = enc.finish()?;
    Ok((
        w,
        SaveStats {
            keys,
            // EOF opcode (1) and checksum (8) follow what was counted.
            bytes: bytes_before_trailer + 9,
        },
    ))
}

/// An RDB entry for one key.
pub fn entry_for(db: usize, key: Bytes, value: &Value, expire: Option<Millis>) -> Entry {
    let mut e = Entry::new(db as u64, key, to_rdb(value));
    e.expire_ms = expire;
    e
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Expiry, Keyspace, KeyspaceConfig};
    use tandem_rdb::{decode_all, Item};

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn sample() -> Keyspace {
        let mut ks = Keyspace::new(KeyspaceConfig::default());
        ks.set_now(1_000);
        ks.set(
            0,
            b("int"),
            StrValue::from_bytes_for_set(b("12345")).into(),
            Expiry::Clear,
        );
        ks.set(
            0,
            b("str"),
            StrValue::from_bytes_for_set(b("hello world")).into(),
            Expiry::At(9_999_999_999_999),
        );
        let lim = EncodingLimits::default();
        let l = ListValue::from_items(vec![b("a"), b("b"), b("c")], &EncodingLimits::default());
        ks.set(3, b("list"), Value::List(l), Expiry::Clear);
        let h = HashValue::from_pairs(vec![(b("f"), b("v"))], &lim);
        ks.set(3, b("hash"), Value::Hash(h), Expiry::Clear);
        let s = SetValue::from_members(vec![b("1"), b("2"), b("x")], &lim);
        ks.set(5, b("set"), Value::Set(s), Expiry::Clear);
        let z = ZSetValue::from_pairs(vec![(b("m"), 1.5), (b("n"), -2.0)], &lim);
        ks.set(5, b("zset"), Value::ZSet(z), Expiry::Clear);
        let st = tandem_rdb::Stream::from_entries(vec![
            tandem_rdb::StreamEntry {
                id: tandem_rdb::StreamId::new(1, 0),
                fields: vec![(b("k"), b("v"))],
            },
            tandem_rdb::StreamEntry {
                id: tandem_rdb::StreamId::new(2, 5),
                fields: vec![(b("k2"), b("v2"))],
            },
        ]);
        ks.set(
            5,
            b("stream"),
            Value::Stream(StreamValue::from_rdb(st)),
            Expiry::Clear,
        );
        ks
    }

    #[test]
    fn snapshot_round_trip() {
        let ks = sample();
        let snap = ks.snapshot();
        let mut calls = 0;
        let (bytes, stats) = write_snapshot(
            &snap,
            Vec::new(),
            EncodeOptions::default(),
            &AuxFields::default(),
            |_| {
                calls += 1;
                true
            },
        )
        .unwrap();
        assert_eq!(stats.keys, 7);
        assert_eq!(calls, 7);
        assert_eq!(stats.bytes, bytes.len() as u64);
        let rdb = decode_all(&bytes).unwrap();
        assert_eq!(rdb.aux_value(b"redis-ver").unwrap(), "7.0.15");
        assert_eq!(rdb.entries.len(), 7);
        let dbs: Vec<(u64, u64)> = rdb.resize_db.iter().map(|(d, r)| (*d, r.db_size)).collect();
        assert_eq!(dbs, [(0, 2), (3, 2), (5, 3)]);
        for e in rdb.entries {
            let key = e.key.clone();
            let back = from_rdb(e.value.clone(), &EncodingLimits::default()).unwrap();
            let orig = snap.iter(e.db as usize).find(|x| *x.key == key).unwrap();
            assert_eq!(to_rdb(orig.value).type_name(), back.type_name());
            assert_eq!(orig.expire, e.expire_ms);
            match (&back, orig.value) {
                (Value::String(a), Value::String(b)) => assert_eq!(a, b),
                (Value::List(a), Value::List(b)) => assert_eq!(a, b),
                (Value::Hash(a), Value::Hash(b)) => assert_eq!(a, b),
                (Value::Set(a), Value::Set(b)) => assert_eq!(a, b),
                (Value::ZSet(a), Value::ZSet(b)) => assert_eq!(a, b),
                (Value::Stream(a), Value::Stream(b)) => assert_eq!(a, b),
                _ => panic!("type changed for {key:?}"),
            }
        }
    }

    #[test]
    fn cancel_stops_the_save() {
        let ks = sample();
        let r = write_snapshot(
            &ks.snapshot(),
            Vec::new(),
            EncodeOptions::default(),
            &AuxFields::default(),
            |n| n < 2,
        );
        assert!(matches!(r, Err(SaveError::Cancelled)));
    }

    #[test]
    fn empty_snapshot_is_a_valid_file() {
        let ks = Keyspace::new(KeyspaceConfig::default());
        let (bytes, stats) = write_snapshot(
            &ks.snapshot(),
            Vec::new(),
            EncodeOptions::default(),
            &AuxFields::default(),
            |_| true,
        )
        .unwrap();
        assert_eq!(stats.keys, 0);
        let mut d = tandem_rdb::Decoder::new();
        d.feed(&bytes);
        let mut ended = false;
        while let Some(item) = d.next_item().unwrap() {
            if let Item::End { checksum_ok, .. } = item {
                ended = checksum_ok;
            }
        }
        assert!(ended);
    }

    fn from_rdb_default(v: RdbValue) -> Result<Value, ConvError> {
        from_rdb(v, &EncodingLimits::default())
    }

    #[test]
    fn loaded_strings_get_redis_encodings() {
        let v = from_rdb_default(RdbValue::String(b("42"))).unwrap();
        assert_eq!(v.encoding(), "int");
        let v = from_rdb_default(RdbValue::String(b("042"))).unwrap();
        assert_eq!(v.encoding(), "embstr");
        let v = from_rdb_default(RdbValue::String(Bytes::from(vec![b'x'; 45]))).unwrap();
        assert_eq!(v.encoding(), "raw");
    }
}
