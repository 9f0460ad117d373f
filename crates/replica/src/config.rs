//! Configuration: what Redis reads from `replicaof`, `masterauth`,
//! `masteruser`, `replica-announce-*` and `repl-timeout`, plus the choices a
//! library user makes (decode the RDB, keep a copy on disk).

use std::path::PathBuf;
use std::time::Duration;

/// A replication id and offset remembered from an earlier link, used to ask
/// for a partial resynchronization (`PSYNC <replid> <offset+1>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedMaster {
    /// The master's 40-character replication id.
    pub replid: String,
    /// The offset of the last byte of the stream already applied.
    pub offset: i64,
}

/// Keep the received payload as a file, as Redis does with
/// `repl-diskless-load disabled`: bytes go to `temp-<unixtime>.<pid>.rdb` in
/// `dir`, are fsynced every 8 MB and at the end, and the file is renamed to
/// `dir/filename` once the whole payload arrived (the directory is fsynced
/// too). A failed transfer removes the temp file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbFileConfig {
    /// Directory of the temp file and of the final file.
    pub dir: PathBuf,
    /// Final name (Redis's `dbfilename`, default `dump.rdb`).
    pub filename: String,
}

impl RdbFileConfig {
    /// `dir/dump.rdb`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RdbFileConfig {
            dir: dir.into(),
            filename: "dump.rdb".to_owned(),
        }
    }
}

/// Everything a [`crate::Follower`] needs to know.
#[derive(Debug, Clone)]
pub struct FollowerConfig {
    /// Master host name or address (`replicaof <host> <port>`).
    pub master_host: String,
    /// Master port.
    pub master_port: u16,
    /// `masterauth`: the password sent with AUTH during the handshake.
    pub master_auth: Option<String>,
    /// `masteruser`: sent as `AUTH <user> <password>` when set (with `master_auth`).
    pub master_user: Option<String>,
    /// Port announced with `REPLCONF listening-port` (Redis sends
    /// `replica-announce-port`, else its own port). 0 is what a follower
    /// that serves nothing announces.
    pub listening_port: u16,
    /// `replica-announce-ip`: sent as `REPLCONF ip-address` when set.
    pub announce_ip: Option<String>,
    /// `repl-timeout` (default 60 s): connect and handshake replies, silence
    /// during the transfer, silence of the established link.
    pub repl_timeout: Duration,
    /// Period of `REPLCONF ACK <offset>` on the established link (Redis's
    /// `replicationCron` runs once a second).
    pub ack_period: Duration,
    /// Pause before reconnecting after a failure (Redis retries from its
    /// once-a-second cron).
    pub reconnect_delay: Duration,
    /// Try `PSYNC <replid> <offset+1>` with this on the first connection.
    pub cached_master: Option<CachedMaster>,
    /// Decode the RDB payload and hand each item to the handler (default
    /// true). Off, the payload is only saved to [`FollowerConfig::rdb_file`].
    pub decode_rdb: bool,
    /// Verify the RDB's CRC64 trailer while decoding (default true).
    pub verify_checksum: bool,
    /// Also save the payload to a file (see [`RdbFileConfig`]).
    pub rdb_file: Option<RdbFileConfig>,
    /// Send `PSYNC <replid> <offset+1> FAILOVER` (Redis's coordinated FAILOVER: the
    /// master asks its replica to become the master) until one PSYNC is sent; the
    /// answer is reported with [`crate::FollowerHandler::on_failover_psync`].
    pub failover: bool,
}

impl FollowerConfig {
    /// Defaults as in Redis 7.0.15 for a master at `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        FollowerConfig {
            master_host: host.into(),
            master_port: port,
            master_auth: None,
            master_user: None,
            listening_port: 0,
            announce_ip: None,
            repl_timeout: Duration::from_secs(60),
            ack_period: Duration::from_secs(1),
            reconnect_delay: Duration::from_secs(1),
            cached_master: None,
            decode_rdb: true,
            verify_checksum: true,
            rdb_file: None,
            failover: false,
        }
    }

    /// Reject settings that can never work.
    pub(crate) fn validate(&self) -> Result<(), crate::FollowerError> {
        let bad = |m: &str| Err(crate::FollowerError::Config(m.to_owned()));
        if self.master_host.is_empty() {
            return bad("master host is empty");
        }
        if self.master_port == 0 {
            return bad("master port is 0");
        }
        if self.repl_timeout.is_zero() || self.ack_period.is_zero() {
            return bad("repl-timeout and the ACK period must be positive");
        }
        if !self.decode_rdb && self.rdb_file.is_none() {
            return bad("the RDB payload must be decoded, saved to a file, or both");
        }
        if self.master_user.is_some() && self.master_auth.is_none() {
            return bad("masteruser needs masterauth");
        }
        Ok(())
    }
}
