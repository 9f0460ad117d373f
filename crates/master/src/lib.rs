//! `tandem-master`: the master side of Redis 7.0.15 replication.
//!
//! A master streams every write it executes to its replicas. A replica that connects (or
//! reconnects) asks `PSYNC <replid> <offset>`: it either continues from the master's
//! backlog (`+CONTINUE`), or gets a full resync (`+FULLRESYNC <replid> <offset>`, the RDB
//! of a snapshot taken at that offset, then the stream from that offset on). Replicas
//! acknowledge what they applied with `REPLCONF ACK`, which WAIT and `min-replicas-to-write`
//! rely on.
//!
//! This crate is that role without the server around it: it does not own the keyspace,
//! the clients or the configuration file. The server keeps a [`Master`] behind its lock,
//! calls it from its command handlers (REPLCONF, PSYNC/SYNC, WAIT, ROLE, INFO) and from
//! its cron, feeds it what each command propagates, and hands each replica connection's
//! socket to the [`ReplicaTask`] that [`Master::sync`] returns.
//!
//! Full resyncs never fork and never stop writes for a time that grows with the dataset
//! (design brief, invariant 2): the snapshot is the keyspace's copy-on-write
//! [`tandem_keyspace::Snapshot`], taken under the lock together with the offset, and
//! serialised on a thread, to a temporary file (`repl-diskless-sync no`) or straight to the
//! replicas' sockets (`yes`, the default).
//!
//! # Layout
//!
//! | module | role |
//! |---|---|
//! | `master` | [`Master`]: replicas, propagation (SELECT, MULTI/EXEC wrapping), PSYNC/SYNC, snapshots, cron, WAIT, INFO |
//! | `link` | [`ReplicaTask`]: the task feeding one replica (keepalives, RDB, stream, ACKs) |
//! | `transfer` | [`SnapshotJob`] and the threads writing the RDB to disk or to sockets |
//! | `replconf` | [`ReplConf`], [`replconf::apply`]: the REPLCONF command |
//! | `encode` | the stream's multibulk encoding |
//! | `error` | [`LinkError`] |
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use tandem_backlog::ReplicationIds;
//! use tandem_master::{Master, MasterConfig};
//!
//! let mut m = Master::new(ReplicationIds::new(), MasterConfig::default());
//! // Without any replica there is no backlog: nothing is recorded, the offset stays 0.
//! m.also_propagate(0, vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from_static(b"v")]);
//! assert!(m.flush(true).is_empty());
//! assert_eq!(m.backlog.master_repl_offset(), 0);
//! // Once the backlog exists every byte counts: SELECT 0 (23 bytes) + SET k v (27 bytes).
//! m.backlog.create();
//! m.also_propagate(0, vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from_static(b"v")]);
//! m.flush(true);
//! assert_eq!(m.backlog.master_repl_offset(), 50);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod encode;
mod error;
mod link;
mod master;
pub mod replconf;
mod transfer;

pub use encode::{encode_command, encode_select};
pub use error::LinkError;
pub use link::{Link, LinkEvent, LinkEvents, ReplicaTask};
pub use master::{
    DropReason, Master, MasterConfig, Replica, ReplicaState, SyncOutcome, SyncRequest, SyncStats,
    Targets,
};
pub use replconf::{ReplConf, ReplconfReply};
pub use transfer::SnapshotJob;

/// Unix time in seconds (Redis's `server.unixtime`).
pub(crate) fn unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
