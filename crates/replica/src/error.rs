//! Errors: one typed [`FollowerError`] for every way a link to the master can fail.
//!
//! Nearly all of them end one attempt only: the follower logs the error,
//! reports it to the handler ([`crate::FollowerHandler::on_link_down`]),
//! keeps its cached master (replication id and offset) and connects again,
//! the way Redis's `replicationCron` does. [`FollowerError::is_retryable`]
//! tells the two kinds apart; only the non-retryable ones (a bad
//! configuration) make [`crate::Follower::run`] return.
//!
//! The messages follow Redis 7.0.15's log lines where Redis has one
//! (`Unable to AUTH to MASTER: ...`, `Bad protocol from MASTER, the first
//! byte is not '$' ...`, `MASTER timeout: no data nor PING received...`).

use std::io;

/// Everything that can end a replication attempt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FollowerError {
    /// The configuration cannot work (empty host, port 0, zero timeout).
    #[error("invalid follower configuration: {0}")]
    Config(String),
    /// TCP connect failed.
    #[error("Unable to connect to MASTER: {0}")]
    Connect(#[source] io::Error),
    /// Connect, a handshake reply, or the transfer did not complete in `repl-timeout`.
    #[error("Timeout connecting to the MASTER...")]
    HandshakeTimeout,
    /// No byte of the RDB payload arrived within `repl-timeout`.
    #[error(
        "Timeout receiving bulk data from MASTER... If the problem persists try to set the \
         'repl-timeout' parameter in redis.conf to a larger value."
    )]
    TransferTimeout,
    /// The established link was silent for longer than `repl-timeout`.
    #[error("MASTER timeout: no data nor PING received...")]
    MasterTimeout,
    /// The master closed the connection.
    #[error("connection lost")]
    ConnectionClosed,
    /// The link was dropped on request ([`crate::ShutdownHandle::drop_link`]).
    #[error("connection with master killed")]
    LinkKilled,
    /// A read or write on the socket failed.
    #[error("I/O error with MASTER: {0}")]
    Io(#[from] io::Error),
    /// PING was answered with an error other than `-NOAUTH`/`-NOPERM`/`-ERR operation not permitted`.
    #[error("Error reply to PING from master: '{0}'")]
    PingRejected(String),
    /// AUTH was refused (wrong `masterauth` / `masteruser`).
    #[error("Unable to AUTH to MASTER: {0}")]
    Auth(String),
    /// `-NOMASTERLINK` / `-LOADING`: the master cannot serve a sync now.
    #[error("Master is currently unable to PSYNC but should be in the future: {0}")]
    TryLater(String),
    /// The target of a coordinated failover answered `PSYNC ... FAILOVER` with this line.
    #[error("Failover target rejected psync request: {0}")]
    FailoverRejected(String),
    /// A reply line longer than the handshake allows, or not valid at this point.
    #[error("Unexpected reply from master: {0}")]
    UnexpectedReply(String),
    /// The master answered the sync with an error line instead of the payload.
    #[error("MASTER aborted replication with an error: {0}")]
    MasterAborted(String),
    /// The payload header is not `$<len>` or `$EOF:<mark>`.
    #[error(
        "Bad protocol from MASTER, the first byte is not '$' (we received '{0}'), are you sure \
         the host and port are right?"
    )]
    BadBulkHeader(String),
    /// The RDB payload could not be decoded (truncated, corrupt, bad checksum, bad EOF mark).
    #[error("Failed trying to load the MASTER synchronization DB: {0}")]
    Rdb(#[from] tandem_rdb::Error),
    /// The diskless payload ended without the announced 40-byte mark.
    #[error("Replication stream EOF marker is broken")]
    BadEofMark,
    /// Writing, syncing or renaming the temp RDB file failed.
    #[error("Write error writing to the DB dump file needed for MASTER <-> REPLICA synchronization: {0}")]
    TempFile(#[source] io::Error),
    /// The command stream broke the protocol.
    #[error("Protocol error from MASTER: {0}")]
    Protocol(#[from] tandem_resp::ProtocolError),
}

impl FollowerError {
    /// False only for errors that will not go away by reconnecting.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, FollowerError::Config(_))
    }
}
