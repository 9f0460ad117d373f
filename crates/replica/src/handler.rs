//! The callback API: what the follower tells its user, in stream order.
//!
//! One link's life, as the handler sees it:
//!
//! ```text
//! full sync:  on_full_sync_start  (on_rdb_item)*  [on_rdb_saved]  on_rdb_done  (on_command)*  on_link_down
//!                                 \-- or on_rdb_aborted (discard the items) -> on_link_down
//! partial:    on_continue  (on_command)*  on_link_down
//! ```
//!
//! Every method has an empty default body, so a handler implements only
//! what it needs. Methods run on the follower's task: a slow handler slows
//! the link (that is the back-pressure), and a blocking one blocks the task.

use std::path::Path;

use bytes::Bytes;
use tandem_rdb::Item;

use crate::error::FollowerError;

/// How the master is sending the RDB payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// `$<len>`: disk-based sync, the size is known.
    Sized(u64),
    /// `$EOF:<mark>`: diskless sync, the payload ends with the 40-byte mark.
    EofMarked,
}

/// A full resynchronization is starting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullSyncStart {
    /// The master's replication id (`None` after the old `SYNC` fallback).
    pub replid: Option<String>,
    /// The offset the snapshot corresponds to (-1 after `SYNC`).
    pub offset: i64,
    /// How the payload is framed.
    pub payload: PayloadKind,
}

/// The payload was received (and decoded) completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullSyncDone {
    /// The replication id the follower now has.
    pub replid: Option<String>,
    /// The offset the command stream starts from.
    pub offset: i64,
    /// Payload bytes received (without the diskless EOF mark).
    pub payload_bytes: u64,
    /// Database the stream starts in (the RDB's `repl-stream-db` aux field, else 0).
    pub stream_db: usize,
}

/// The master accepted a partial resynchronization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueInfo {
    /// The master's replication id (possibly new: see `previous_replid`).
    pub replid: String,
    /// Set when `+CONTINUE <id>` announced a different id: the old one, now
    /// this node's `replid2`, valid up to `second_replid_offset`.
    pub previous_replid: Option<String>,
    /// `offset + 1` when the id changed (Redis's `second_replid_offset`).
    pub second_replid_offset: i64,
    /// The offset the stream continues from.
    pub offset: i64,
}

/// One command of the replication stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The arguments, command name first (zero-copy slices).
    pub args: Vec<Bytes>,
    /// The exact bytes the master sent for it: feed these to a sub-replica
    /// or a backlog to reproduce the stream byte for byte.
    pub raw: Bytes,
    /// The database the command runs in. The follower tracks `SELECT`
    /// itself (starting from the RDB's `repl-stream-db`); a `SELECT` command
    /// carries the database it selects.
    pub db: usize,
    /// The replication offset after this command (the offset of its last byte).
    pub offset: i64,
    /// True for the commands of a `MULTI` ... `EXEC` block, `MULTI` and
    /// `EXEC` included. The follower holds a transaction back until its
    /// `EXEC` arrives and then delivers it whole, so a link lost in the
    /// middle of one never shows half of it (the cached offset stays before
    /// `MULTI`, and the master sends it again).
    pub in_transaction: bool,
}

impl Command {
    /// The command name, lowercased.
    pub fn name(&self) -> String {
        self.args
            .first()
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// True for the stream's housekeeping (`PING`, `REPLCONF ...`) that
    /// changes no data but still counts toward the offset.
    pub fn is_housekeeping(&self) -> bool {
        self.args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"ping") || a.eq_ignore_ascii_case(b"replconf"))
    }
}

/// How a `PSYNC ... FAILOVER` request ended (see [`crate::FollowerConfig::failover`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailoverPsync {
    /// `+CONTINUE` or `+FULLRESYNC`: the target is the master now.
    Accepted,
    /// Any other reply (the line): the follower ends the attempt with
    /// [`FollowerError::FailoverRejected`] instead of falling back to `SYNC`.
    Rejected(String),
    /// The request could not be written.
    SendFailed,
}

/// Receives what the follower reads from the master. See the module docs.
pub trait FollowerHandler: Send {
    /// The TCP connection with the master is open: this side's address and the socket's
    /// file descriptor (what CLIENT LIST shows as `laddr` and `fd` for the master client).
    fn on_connected(&mut self, _local: std::net::SocketAddr, _fd: i32) {}
    /// `+FULLRESYNC` (or `SYNC`) was accepted and the payload header read.
    fn on_full_sync_start(&mut self, _start: &FullSyncStart) {}
    /// A full sync's payload is about to arrive and [`crate::FollowerConfig::rdb_file`]
    /// is set: false receives this payload without the file (Redis's
    /// `repl-diskless-load on-empty-db` loads from the socket only while its
    /// dataset is empty). Ignored when the payload is not decoded.
    fn save_payload_to_file(&mut self) -> bool {
        true
    }
    /// One RDB item (aux field, SELECTDB, RESIZEDB, key, function, module
    /// aux, end). Only when [`crate::FollowerConfig::decode_rdb`] is on.
    fn on_rdb_item(&mut self, _item: Item) {}
    /// [`FollowerHandler::on_rdb_item`] with, for a key, the RDB object type byte its
    /// value was stored as (a compact encoding or the full one: Redis's loader keeps
    /// some values compact because of it). The default forgets the type.
    fn on_rdb_item_typed(&mut self, item: Item, _object_type: Option<u8>) {
        self.on_rdb_item(item);
    }
    /// True while the consumer of [`FollowerHandler::on_rdb_item`] is too far behind (for
    /// example a loading thread fed through a queue): the follower then stops reading the
    /// payload until it returns false, so decoded items never pile up in memory. Polled
    /// between reads of the socket.
    fn rdb_backlogged(&self) -> bool {
        false
    }
    /// The payload was saved, fsynced and renamed to this path
    /// ([`crate::FollowerConfig::rdb_file`]).
    fn on_rdb_saved(&mut self, _path: &Path) {}
    /// The payload is complete; commands follow.
    fn on_rdb_done(&mut self, _done: &FullSyncDone) {}
    /// The transfer failed: forget the items received since
    /// [`FollowerHandler::on_full_sync_start`]. The follower keeps its cached
    /// master and retries.
    fn on_rdb_aborted(&mut self, _error: &FollowerError) {}
    /// `+CONTINUE`: the stream resumes after the cached offset.
    fn on_continue(&mut self, _info: &ContinueInfo) {}
    /// One command of the stream, in order.
    fn on_command(&mut self, _command: Command) {}
    /// Every command decoded from what has been read so far was given to
    /// [`FollowerHandler::on_command`]; the follower now waits for the socket. A handler
    /// that shares work between the commands of one read (a clock reading) ends it here.
    fn on_commands_applied(&mut self) {}
    /// The attempt or the link ended with this error; the follower retries.
    fn on_link_down(&mut self, _error: &FollowerError) {}
    /// The answer to a `PSYNC ... FAILOVER` (only with [`crate::FollowerConfig::failover`]),
    /// before anything else about that link is reported.
    fn on_failover_psync(&mut self, _outcome: &FailoverPsync) {}
}
