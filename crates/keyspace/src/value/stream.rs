//! Streams: entries in ID order. (Consumer groups are to come with the stream commands.)

use std::collections::BTreeMap;

use bytes::Bytes;
use tandem_rdb::{RdbValue, Stream, StreamEntry, StreamId};

/// A stream (entries keyed by ID `(ms, seq)`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamValue {
    pub entries: BTreeMap<(u64, u64), Vec<(Bytes, Bytes)>>,
}

impl StreamValue {
    /// Number of entries (XLEN).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the stream has no entry (a stream key may exist empty).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Redis's `lazyfreeGetFreeEffort`: its number of listpack nodes (about 100 entries each).
    pub fn free_effort(&self) -> usize {
        self.entries.len().div_ceil(100).max(1)
    }

    /// The RDB model of this stream.
    pub fn to_rdb(&self) -> RdbValue {
        let entries: Vec<StreamEntry> = self
            .entries
            .iter()
            .map(|(&(ms, seq), fields)| StreamEntry {
                id: StreamId::new(ms, seq),
                fields: fields.clone(),
            })
            .collect();
        let first_id = entries.first().map(|e| e.id).unwrap_or_default();
        let last_id = entries.last().map(|e| e.id).unwrap_or_default();
        RdbValue::Stream(Box::new(Stream {
            entries_added: entries.len() as u64,
            entries,
            last_id,
            first_id,
            max_deleted_id: StreamId::default(),
            groups: Vec::new(),
        }))
    }

    /// A stream loaded from RDB.
    pub fn from_rdb(s: Stream) -> StreamValue {
        StreamValue {
            entries: s
                .entries
                .into_iter()
                .map(|e| ((e.id.ms, e.id.seq), e.fields))
                .collect(),
        }
    }
}
