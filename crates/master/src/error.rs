//! Typed errors of the crate.

use thiserror::Error;

/// Why a replica link (the task feeding one replica) ended.
#[derive(Debug, Error)]
pub enum LinkError {
    /// The socket failed or the replica closed it.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The replica closed the connection.
    #[error("connection closed by replica")]
    Closed,
    /// The replica sent bytes that are not RESP.
    #[error("protocol error from replica: {0}")]
    Protocol(String),
    /// A write to the replica did not progress for `repl-timeout` during the RDB transfer.
    #[error("timeout writing to replica")]
    Timeout,
    /// The snapshot could not be produced.
    #[error("BGSAVE for replication failed")]
    SnapshotFailed,
    /// The master dropped the replica (output buffer limits, timeout, new sync).
    #[error("replica dropped by the master")]
    Dropped,
}
