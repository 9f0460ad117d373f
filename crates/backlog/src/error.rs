//! Typed errors of the crate.
//!
//! Only two things can go wrong here: a replication id that is not 40
//! printable ASCII characters (from a PSYNC/FULLRESYNC line, an RDB aux field
//! or a config file), and an offset that cannot be represented.

use thiserror::Error;

/// A string that cannot be used as a replication id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplIdError {
    /// Redis ids are exactly `CONFIG_RUN_ID_SIZE` (40) characters long.
    #[error("replication id must be 40 characters long, got {0}")]
    BadLength(usize),
    /// A byte that is not printable ASCII (space, control or non-ASCII).
    #[error("replication id contains a non-printable byte 0x{byte:02x} at position {pos}")]
    BadByte {
        /// The offending byte.
        byte: u8,
        /// Its position in the id.
        pos: usize,
    },
}

/// Errors of [`crate::Backlog`] operations that take offsets from outside.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BacklogError {
    /// A replication offset outside `0..=MAX_OFFSET` (see [`crate::MAX_OFFSET`]):
    /// negative, or so large that appending could overflow `i64`.
    #[error("replication offset {0} out of range")]
    OffsetOutOfRange(i64),
}
