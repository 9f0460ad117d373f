//! Errors: one typed [`Error`] for everything the codec can refuse.
//!
//! Every decoding error carries the byte offset (from the first byte of the
//! payload, the `R` of `REDIS`) where the problem was seen, so that a replica
//! or a loader can log *where* a file is damaged. The texts follow Redis
//! 7.0.15 where Redis has one ("Can't handle RDB format version 12", "no
//! matching module type").

/// Everything that can go wrong while decoding or encoding RDB data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The first 5 bytes are not `REDIS`, or the version is not 4 digits.
    #[error("Wrong signature trying to load DB from file (offset {offset})")]
    BadMagic {
        /// Offset of the bad byte.
        offset: u64,
    },
    /// The version is below 1 or above what this crate can read (11).
    #[error("Can't handle RDB format version {version}")]
    UnsupportedVersion {
        /// The version found in the header.
        version: u32,
    },
    /// The input ended (or was declared to end) in the middle of an item.
    #[error("Unexpected EOF reading RDB file at offset {offset}")]
    Truncated {
        /// Number of bytes consumed before the input ran out.
        offset: u64,
    },
    /// A byte where an opcode or object type was expected is neither.
    #[error("Unknown RDB object type or opcode {byte} at offset {offset}")]
    UnknownType {
        /// The offending byte.
        byte: u8,
        /// Its offset.
        offset: u64,
    },
    /// Structurally invalid data: bad length, corrupt ziplist/listpack/intset,
    /// LZF error, inconsistent stream, ...
    #[error("Corrupt RDB data at offset {offset}: {reason}")]
    Corrupt {
        /// Offset of the object (or field) that is corrupt.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The CRC64 trailer does not match the data.
    #[error(
        "Wrong RDB checksum at offset {offset}: expected {expected:#018x}, got {computed:#018x}"
    )]
    BadChecksum {
        /// Offset of the checksum trailer.
        offset: u64,
        /// The checksum stored in the file.
        expected: u64,
        /// The checksum computed over the data.
        computed: u64,
    },
    /// A module value (type 6 or 7) whose module is not available.
    #[error(
        "The RDB file contains module data I can't load: no matching module type '{name}' \
         (encoding version {version}) at offset {offset}"
    )]
    Module {
        /// Offset of the value.
        offset: u64,
        /// The 9-character module type name decoded from the id.
        name: String,
        /// The module's encoding version (low 10 bits of the id).
        version: u16,
        /// The raw 64-bit module type id.
        module_id: u64,
    },
    /// Diskless transfer: the 40 bytes after the RDB are not the announced mark.
    #[error("Diskless payload does not end with the announced EOF mark (offset {offset})")]
    BadEofMark {
        /// Offset where the mark was expected.
        offset: u64,
    },
    /// The payload was declared to be `expected` bytes long but the RDB ended earlier.
    #[error("RDB ended at offset {offset} but the payload was announced as {expected} bytes")]
    LengthMismatch {
        /// Where the RDB ended.
        offset: u64,
        /// The announced payload length.
        expected: u64,
    },
    /// A DUMP payload whose RDB version or CRC is wrong (Redis's RESTORE text).
    #[error("DUMP payload version or checksum are wrong")]
    BadDumpPayload,
    /// The decoder already returned an error; it cannot continue.
    #[error("The RDB decoder already failed at offset {offset}")]
    Poisoned {
        /// Offset of the first error.
        offset: u64,
    },
    /// The caller asked to encode something RDB cannot represent.
    #[error("Cannot encode: {0}")]
    Unencodable(&'static str),
    /// An I/O error from the writer (encoder) or reader (helpers).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The byte offset the error refers to, when it has one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::BadMagic { offset }
            | Error::Truncated { offset }
            | Error::UnknownType { offset, .. }
            | Error::Corrupt { offset, .. }
            | Error::BadChecksum { offset, .. }
            | Error::Module { offset, .. }
            | Error::BadEofMark { offset }
            | Error::LengthMismatch { offset, .. }
            | Error::Poisoned { offset } => Some(*offset),
            Error::UnsupportedVersion { .. } => Some(5),
            Error::BadDumpPayload | Error::Unencodable(_) | Error::Io(_) => None,
        }
    }
}
