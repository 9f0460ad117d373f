//! Lists. Redis 7.0 keeps every list in a `quicklist` (a linked list of listpack nodes);
//! Tandem keeps the elements in one ring buffer, which gives the same O(1) pushes and pops
//! at both ends and O(1) indexing. `DEBUG OBJECT` derives the quicklist node shape from
//! `list-max-listpack-size`.

use std::collections::VecDeque;

use bytes::Bytes;
use tandem_rdb::RdbValue;

/// A list (`OBJECT ENCODING` is always `quicklist` in Redis 7.0).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListValue {
    /// The elements, head first.
    pub items: VecDeque<Bytes>,
}

impl ListValue {
    /// Number of elements (LLEN).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the list has no element (the key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Redis's `lazyfreeGetFreeEffort` for a quicklist: its number of nodes (estimated at
    /// 128 elements per node).
    pub fn free_effort(&self) -> usize {
        self.items.len().div_ceil(128).max(1)
    }

    /// The elements in order (digest, RDB).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator {
        self.items.iter()
    }

    /// The RDB model of this list.
    pub fn to_rdb(&self) -> RdbValue {
        RdbValue::List(self.items.iter().cloned().collect())
    }

    /// A list loaded from an RDB file or a RESTORE payload.
    pub fn from_items(items: Vec<Bytes>) -> ListValue {
        ListValue {
            items: items.into(),
        }
    }
}
