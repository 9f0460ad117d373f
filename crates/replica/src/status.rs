//! Progress and link state, readable from any thread while the follower runs.
//!
//! The follower updates one [`FollowerStatus`] behind a mutex at each state
//! change and each read; [`StatusHandle::snapshot`] copies it out. The fields
//! are the replica half of Redis's `INFO replication` (`master_link_status`,
//! `master_sync_total_bytes`, `master_sync_read_bytes`,
//! `master_sync_last_io_seconds_ago`, `master_last_io_seconds_ago`,
//! `master_link_down_since_seconds`, `slave_repl_offset`,
//! `slave_read_repl_offset`, ...), so a server can print them as they are.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

/// Where the follower is in Redis's replica state machine (`repl_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkState {
    /// Waiting to connect (`REPL_STATE_CONNECT`).
    #[default]
    Connect,
    /// TCP connect in progress (`REPL_STATE_CONNECTING`).
    Connecting,
    /// PING, AUTH, REPLCONF, PSYNC exchange.
    Handshake,
    /// Receiving the RDB payload (`REPL_STATE_TRANSFER`).
    Transfer,
    /// Streaming commands (`REPL_STATE_CONNECTED`).
    Connected,
    /// The follower stopped.
    Stopped,
}

impl LinkState {
    /// Redis's `master_link_status`: `up` only when connected.
    pub fn link_status(self) -> &'static str {
        if self == LinkState::Connected {
            "up"
        } else {
            "down"
        }
    }
}

/// A copy of the follower's state and progress counters.
#[derive(Debug, Clone)]
pub struct FollowerStatus {
    /// Current state.
    pub state: LinkState,
    /// Master host, as configured.
    pub master_host: String,
    /// Master port, as configured.
    pub master_port: u16,
    /// The master's replication id as far as the follower knows it.
    pub replid: Option<String>,
    /// Previous replication id after a `+CONTINUE <new id>`.
    pub replid2: Option<String>,
    /// Offset up to which `replid2` is valid (-1 when unset).
    pub second_replid_offset: i64,
    /// Offset of the last byte applied (delivered to the handler):
    /// `slave_repl_offset`. -1 before the first sync.
    pub offset: i64,
    /// Offset of the last byte read, including a transaction held back or
    /// a partial command: `slave_read_repl_offset`.
    pub read_offset: i64,
    /// Announced payload size, -1 for a diskless transfer (`master_sync_total_bytes`).
    pub sync_total_bytes: i64,
    /// Payload bytes received so far (`master_sync_read_bytes`).
    pub sync_read_bytes: i64,
    /// Last byte received during the transfer (`master_sync_last_io_seconds_ago`).
    pub sync_last_io: Option<Instant>,
    /// Last byte received on the established link (`master_last_io_seconds_ago`).
    pub last_io: Option<Instant>,
    /// When the link went down (`master_link_down_since_seconds`); `None` while up.
    pub link_down_since: Option<Instant>,
    /// Full resynchronizations completed.
    pub full_syncs: u64,
    /// Partial resynchronizations accepted.
    pub partial_syncs: u64,
    /// Connection attempts made.
    pub attempts: u64,
    /// The last error that ended an attempt.
    pub last_error: Option<String>,
}

impl FollowerStatus {
    pub(crate) fn new(host: &str, port: u16) -> Self {
        FollowerStatus {
            state: LinkState::Connect,
            master_host: host.to_owned(),
            master_port: port,
            replid: None,
            replid2: None,
            second_replid_offset: -1,
            offset: -1,
            read_offset: -1,
            sync_total_bytes: -1,
            sync_read_bytes: 0,
            sync_last_io: None,
            last_io: None,
            link_down_since: None,
            full_syncs: 0,
            partial_syncs: 0,
            attempts: 0,
            last_error: None,
        }
    }

    /// `master_sync_in_progress`.
    pub fn sync_in_progress(&self) -> bool {
        self.state == LinkState::Transfer
    }

    /// `master_sync_left_bytes` (total minus read; -1 style unknown for diskless).
    pub fn sync_left_bytes(&self) -> i64 {
        if self.sync_total_bytes < 0 {
            -1
        } else {
            self.sync_total_bytes - self.sync_read_bytes
        }
    }

    /// `master_last_io_seconds_ago` (-1 when nothing was read yet).
    pub fn last_io_seconds_ago(&self) -> i64 {
        secs_ago(self.last_io)
    }

    /// `master_sync_last_io_seconds_ago`.
    pub fn sync_last_io_seconds_ago(&self) -> i64 {
        secs_ago(self.sync_last_io)
    }

    /// `master_link_down_since_seconds` (-1 while the link is up or was never up).
    pub fn link_down_seconds(&self) -> i64 {
        secs_ago(self.link_down_since)
    }
}

fn secs_ago(t: Option<Instant>) -> i64 {
    t.map_or(-1, |t| {
        i64::try_from(t.elapsed().as_secs()).unwrap_or(i64::MAX)
    })
}

/// Shared, cloneable access to a follower's [`FollowerStatus`].
#[derive(Debug, Clone)]
pub struct StatusHandle(pub(crate) Arc<Mutex<FollowerStatus>>);

impl StatusHandle {
    pub(crate) fn new(host: &str, port: u16) -> Self {
        StatusHandle(Arc::new(Mutex::new(FollowerStatus::new(host, port))))
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> FollowerStatus {
        self.0.lock().clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut FollowerStatus)) {
        f(&mut self.0.lock());
    }
}
