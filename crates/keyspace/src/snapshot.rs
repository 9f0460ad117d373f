//! Point-in-time snapshots (design brief, invariant 2).
//!
//! A [`Snapshot`] holds a clone of every database's table, which is one `Arc` per database:
//! taking it costs O(databases), not O(keys), and it never blocks the writer. Later writes
//! to the keyspace copy the directory and the segments they touch (and a value only when
//! it is modified in place), so the snapshot keeps seeing the data as it was. A snapshot is
//! `Send + Sync`: SAVE / full resync serialise it on another thread while writes continue.

use crate::table::Table;
use crate::value::Value;
use crate::Millis;

/// A consistent point-in-time view of every database; cheap to take (O(databases), not O(keys)).
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub(crate) dbs: Vec<Table>,
    /// Function libraries' code (`#!lua name=...`), saved before the keys.
    pub(crate) functions: Vec<bytes::Bytes>,
}

/// One entry of a snapshot.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotEntry<'a> {
    /// The key's bytes (`Bytes::copy_from_slice` them where an owned key is needed).
    pub key: &'a [u8],
    pub value: &'a Value,
    /// Absolute expire time, if the key has a TTL (keys already logically expired at the
    /// snapshot's time are included, as Redis's RDB save includes them).
    pub expire: Option<Millis>,
}

impl Snapshot {
    /// Adds the function libraries' code to what is saved (the keyspace does not keep
    /// them; the server's scripting does).
    pub fn set_functions(&mut self, code: Vec<bytes::Bytes>) {
        self.functions = code;
    }

    /// The function libraries' code to save.
    pub fn functions(&self) -> &[bytes::Bytes] {
        &self.functions
    }

    /// Number of databases.
    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// Number of keys in `db` (0 if out of range).
    pub fn len(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, Table::len)
    }

    /// True when every database is empty.
    pub fn is_empty(&self) -> bool {
        self.dbs.iter().all(|t| t.len() == 0)
    }

    /// The entries of `db`, in no particular order (nothing if out of range).
    pub fn iter(&self, db: usize) -> Box<dyn Iterator<Item = SnapshotEntry<'_>> + '_> {
        match self.dbs.get(db) {
            Some(t) => Box::new(t.iter().map(|e| SnapshotEntry {
                key: e.key(),
                value: e.value(),
                expire: e.expire(),
            })),
            None => Box::new(std::iter::empty()),
        }
    }
}
