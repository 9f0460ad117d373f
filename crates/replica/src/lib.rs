//! `tandem-replica`: follow a live Redis master the way a Redis 7.0 replica does.
//!
//! A [`Follower`] connects to a master, runs Redis's replica handshake
//! (`PING`, `AUTH`, `REPLCONF listening-port` / `ip-address` / `capa eof
//! capa psync2`, `PSYNC`), receives the RDB snapshot of a full sync (disk
//! based `$<len>` or diskless `$EOF:<mark>`), decodes it incrementally with
//! `tandem-rdb` and then follows the command stream, counting every byte
//! into the replication offset, acknowledging it (`REPLCONF ACK`) and
//! reconnecting with a partial resynchronization (`PSYNC <replid>
//! <offset+1>`) when the link breaks. Everything it reads goes to a
//! [`FollowerHandler`]: each RDB item, then each command with its database
//! and offset. Use it for change data capture, migration or backup without
//! running a server; the Tandem server uses the same pieces for its replica
//! role.
//!
//! The log lines (via `tracing`) are Redis 7.0.15's own
//! (`Connecting to MASTER host:port`, `MASTER <-> REPLICA sync started`,
//! `Full resync from master: <id>:<offset>`, `MASTER <-> REPLICA sync:
//! Finished with success`, ...).
//!
//! # Layout
//!
//! | module | role |
//! |---|---|
//! | `config` | [`FollowerConfig`], [`CachedMaster`], [`RdbFileConfig`] |
//! | `handler` | [`FollowerHandler`] callbacks and the values they receive ([`Command`], ...) |
//! | `follower` | [`Follower`]: the tokio driver (connect, handshake, transfer, stream, ACKs, reconnect) |
//! | [`handshake`] | judging PING / PSYNC replies (no I/O) |
//! | [`transfer`] | payload header, [`transfer::Transfer`] (bytes in, RDB items out, end detection), [`transfer::TempRdb`] (no socket I/O) |
//! | [`stream`] | [`stream::StreamReader`]: command stream decoding, offsets, SELECT, MULTI, GETACK (no I/O) |
//! | `status` | [`FollowerStatus`]: link state and progress counters for `INFO replication` |
//! | `error` | [`FollowerError`] |
//!
//! The I/O-free modules are public so that a server can drive the same state
//! machine from its own event loop.
//!
//! # Example
//!
//! ```no_run
//! use tandem_replica::{Command, Follower, FollowerConfig, FollowerHandler};
//! use tandem_rdb::Item;
//!
//! struct Print;
//! impl FollowerHandler for Print {
//!     fn on_rdb_item(&mut self, item: Item) {
//!         if let Item::Entry(e) = item {
//!             println!("db{} {:?}", e.db, e.key);
//!         }
//!     }
//!     fn on_command(&mut self, cmd: Command) {
//!         println!("db{} @{} {:?}", cmd.db, cmd.offset, cmd.args);
//!     }
//! }
//!
//! # async fn demo() -> Result<(), tandem_replica::FollowerError> {
//! let mut follower = Follower::new(FollowerConfig::new("127.0.0.1", 6379))?;
//! follower.run(&mut Print).await; // until follower.shutdown_handle().shutdown()
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod follower;
mod handler;
pub mod handshake;
mod status;
pub mod stream;
pub mod transfer;

pub use config::{CachedMaster, FollowerConfig, RdbFileConfig};
pub use error::FollowerError;
pub use follower::{Follower, ShutdownHandle};
pub use handler::{
    Command, ContinueInfo, FailoverPsync, FollowerHandler, FullSyncDone, FullSyncStart, PayloadKind,
};
pub use status::{FollowerStatus, LinkState, StatusHandle};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
