//! `tandem-backlog`: a master's replication history, as Redis 7.0.15 keeps it.
//!
//! A Redis master numbers every byte of its replication stream (the global
//! offset, `master_repl_offset`), keeps the newest `repl-backlog-size` bytes in
//! a backlog, and names its history with a replication id — plus the id of the
//! history it continued from after a promotion, valid up to an offset. With
//! those it answers the question a reconnecting replica asks with
//! `PSYNC <replid> <offset>`: can I continue, and with which bytes?
//!
//! This crate is that state and that answer, with no I/O and no knowledge of
//! the server: the `master` role feeds it and serves PSYNC from it, the
//! `replica` role feeds it the bytes it receives (so that it can serve its own
//! replicas and survive a promotion), and `server` reports it in INFO.
//!
//! * [`ReplicationIds`] — `master_replid`, `master_replid2`,
//!   `second_repl_offset` and Redis's transitions (`shift`, `clear_replid2`).
//! * [`Backlog`] — the offset and the circular buffer: [`Backlog::append`]
//!   (one or two `memcpy`s), [`Backlog::bytes_from`], [`Backlog::resize`]
//!   (CONFIG SET), create/free, `repl-backlog-ttl`.
//! * [`Backlog::psync`] — the decision of `masterTryPartialResynchronization`,
//!   returning [`PsyncDecision::Continue`] with the bytes to send or
//!   [`PsyncDecision::FullResync`] with a [`FullResyncReason`] that prints
//!   Redis's log lines.
//!
//! # Layout
//!
//! | module | role |
//! |---|---|
//! | `ids` | [`ReplId`], [`ReplicationIds`]: ids, random generation from `/dev/urandom` |
//! | `backlog` | [`Backlog`], [`BacklogSlices`]: the ring buffer, offsets, resize, TTL |
//! | `psync` | [`PsyncDecision`], [`FullResyncReason`]: the PSYNC rules and log lines |
//! | `error` | [`ReplIdError`], [`BacklogError`] |
//!
//! The ring is a `Vec<u8>` that grows (doubling, capped at the configured
//! size) until it is full and is then overwritten in place; its history is
//! always `buf[head..]` followed by `buf[..head]`, so a read from any offset is
//! at most two slices. Redis 7.0 instead shares ref-counted blocks between the
//! backlog and the replicas' output buffers; the observable numbers
//! (`repl_backlog_first_byte_offset`, `repl_backlog_histlen`) are the same
//! except that Redis trims whole 16k blocks, so its history can exceed the
//! configured size by up to one block while ours never does.
//!
//! # Example
//!
//! ```
//! use tandem_backlog::{Backlog, PsyncDecision, ReplicationIds};
//!
//! let mut ids = ReplicationIds::new();
//! let mut backlog = Backlog::new(1024 * 1024);
//! backlog.create(); // the first replica attached
//! assert_eq!(backlog.first_byte_offset(), 1);
//! backlog.append(b"*1\r\n$4\r\nPING\r\n");
//! assert_eq!(backlog.master_repl_offset(), 14);
//!
//! // A replica that has the first 4 bytes asks for the 5th.
//! let replid = ids.replid().to_string();
//! match backlog.psync(&ids, &replid, 5) {
//!     PsyncDecision::Continue { from, bytes } => {
//!         assert_eq!(from, 5);
//!         assert_eq!(bytes.to_vec(), b"$4\r\nPING\r\n");
//!     }
//!     PsyncDecision::FullResync { reason } => panic!("{}", reason.log_line("replica")),
//! }
//!
//! // After a promotion the old id stays valid up to the offset it reached.
//! ids.shift(backlog.master_repl_offset());
//! assert!(backlog.psync(&ids, &replid, 15).is_continue());
//! assert!(!backlog.psync(&ids, "?", -1).is_continue());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backlog;
mod error;
mod ids;
mod psync;

pub use backlog::{
    ttl_expired, Backlog, BacklogSlices, DEFAULT_BACKLOG_SIZE, DEFAULT_BACKLOG_TTL, MAX_OFFSET,
    MIN_BACKLOG_SIZE,
};
pub use error::{BacklogError, ReplIdError};
pub use ids::{ReplId, ReplicationIds, REPL_ID_LEN};
pub use psync::{FullResyncReason, PsyncDecision};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
