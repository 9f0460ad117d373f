//! Hashes: `listpack` (field-value pairs in insertion order, searched linearly) while the
//! hash has at most `hash-max-listpack-entries` fields and no field or value longer than
//! `hash-max-listpack-value` bytes, then `hashtable` for good.

use std::collections::HashMap;

use bytes::Bytes;
use tandem_rdb::RdbValue;

use super::EncodingLimits;

/// A hash, in one of Redis 7.0's two encodings.
#[derive(Clone, Debug, PartialEq)]
pub enum HashValue {
    /// `listpack`: pairs in insertion order (HGETALL and friends reply in this order).
    Listpack(Vec<(Bytes, Bytes)>),
    /// `hashtable`.
    Table(HashMap<Bytes, Bytes>),
}

impl Default for HashValue {
    fn default() -> HashValue {
        HashValue::Listpack(Vec::new())
    }
}

impl HashValue {
    /// Number of fields (HLEN).
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(v) => v.len(),
            HashValue::Table(m) => m.len(),
        }
    }

    /// True when the hash has no field (the key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Redis's `lazyfreeGetFreeEffort`: 1 for a listpack, else the number of fields.
    pub fn free_effort(&self) -> usize {
        match self {
            HashValue::Listpack(_) => 1,
            HashValue::Table(m) => m.len(),
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&Bytes> {
        match self {
            HashValue::Listpack(v) => v.iter().find(|(f, _)| &f[..] == field).map(|(_, v)| v),
            HashValue::Table(m) => m.get(field),
        }
    }

    /// Sets `field` to `value`; returns true if the field is new. Converts to `hashtable`
    /// first when the write would break a listpack limit.
    pub fn insert(&mut self, field: Bytes, value: Bytes, limits: &EncodingLimits) -> bool {
        if let HashValue::Listpack(v) = self {
            let too_long = field.len() > limits.hash_max_listpack_value
                || value.len() > limits.hash_max_listpack_value;
            if let Some(slot) = v.iter_mut().find(|(f, _)| *f == field) {
                if !too_long {
                    slot.1 = value;
                    return false;
                }
            } else if !too_long && v.len() < limits.hash_max_listpack_entries {
                v.push((field, value));
                return true;
            }
            self.convert_to_table();
        }
        match self {
            HashValue::Table(m) => m.insert(field, value).is_none(),
            HashValue::Listpack(_) => false,
        }
    }

    /// Removes `field`, returning its value.
    pub fn remove(&mut self, field: &[u8]) -> Option<Bytes> {
        match self {
            HashValue::Listpack(v) => {
                let at = v.iter().position(|(f, _)| &f[..] == field)?;
                Some(v.remove(at).1)
            }
            HashValue::Table(m) => m.remove(field),
        }
    }

    /// The pairs: insertion order for a listpack, the table's order otherwise.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&Bytes, &Bytes)> + '_> {
        match self {
            HashValue::Listpack(v) => Box::new(v.iter().map(|(f, v)| (f, v))),
            HashValue::Table(m) => Box::new(m.iter()),
        }
    }

    /// Switches to `hashtable` (no-op if already there).
    pub fn convert_to_table(&mut self) {
        if let HashValue::Listpack(v) = self {
            let map: HashMap<Bytes, Bytes> = std::mem::take(v).into_iter().collect();
            *self = HashValue::Table(map);
        }
    }

    /// The RDB model of this hash.
    pub fn to_rdb(&self) -> RdbValue {
        RdbValue::Hash(self.iter().map(|(f, v)| (f.clone(), v.clone())).collect())
    }

    /// A hash loaded from RDB: `listpack` when it fits the limits, as Redis's loader decides.
    pub fn from_pairs(pairs: Vec<(Bytes, Bytes)>, limits: &EncodingLimits) -> HashValue {
        let compact = pairs.len() <= limits.hash_max_listpack_entries
            && pairs.iter().all(|(f, v)| {
                f.len() <= limits.hash_max_listpack_value
                    && v.len() <= limits.hash_max_listpack_value
            });
        if compact {
            let mut out: Vec<(Bytes, Bytes)> = Vec::with_capacity(pairs.len());
            for (f, v) in pairs {
                match out.iter_mut().find(|(g, _)| *g == f) {
                    Some(slot) => slot.1 = v,
                    None => out.push((f, v)),
                }
            }
            HashValue::Listpack(out)
        } else {
            HashValue::Table(pairs.into_iter().collect())
        }
    }
}
