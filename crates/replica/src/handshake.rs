//! The handshake's replies, without I/O: what Redis's `syncWithMaster` and
//! `slaveTryPartialResynchronization` accept and how they read them.
//!
//! The driver ([`crate::Follower`]) sends, in Redis's order: `PING`; then,
//! pipelined, `AUTH [<user>] <password>` (when `masterauth` is set),
//! `REPLCONF listening-port <port>`, `REPLCONF ip-address <ip>` (when
//! announced), `REPLCONF capa eof capa psync2`; then `PSYNC <replid>
//! <offset+1>` or `PSYNC ? -1` (with a `FAILOVER` argument during a coordinated
//! failover). The functions here judge each reply line.

use crate::error::FollowerError;

/// The replication id length (`CONFIG_RUN_ID_SIZE`).
pub const REPLID_LEN: usize = 40;

/// Judge the reply to `PING`: `+...`, or an authentication error that the
/// following AUTH will fix (`-NOAUTH`, `-NOPERM`, and the old
/// `-ERR operation not permitted`).
pub fn check_ping_reply(line: &str) -> Result<(), FollowerError> {
    let ok = line.starts_with('+')
        || line.starts_with("-NOAUTH")
        || line.starts_with("-NOPERM")
        || line.starts_with("-ERR operation not permitted");
    if ok {
        Ok(())
    } else {
        Err(FollowerError::PingRejected(line.to_owned()))
    }
}

/// The master's answer to `PSYNC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsyncReply {
    /// `+FULLRESYNC <replid> <offset>`. A malformed line gives `replid: None`
    /// and offset -1, as Redis blanks its master id in that case (so the
    /// next PSYNC cannot continue) but still goes on with the transfer.
    FullResync {
        /// The master's replication id.
        replid: Option<String>,
        /// The offset the snapshot corresponds to.
        offset: i64,
    },
    /// `+CONTINUE` or `+CONTINUE <replid>`.
    Continue {
        /// The id announced by a PSYNC2 master, when it has exactly 40 bytes.
        replid: Option<String>,
    },
    /// `-NOMASTERLINK` / `-LOADING`: retry later from scratch.
    TryLater(String),
    /// Any other reply: the master does not support PSYNC (or is in an
    /// error state); fall back to `SYNC`.
    NotSupported(String),
}

/// Parse the PSYNC reply line (empty lines are keepalives: skip them before).
pub fn parse_psync_reply(line: &str) -> PsyncReply {
    if line.starts_with("+FULLRESYNC") {
        let mut parts = line.split(' ').skip(1);
        let replid = parts.next();
        let offset = parts.next().and_then(|o| o.trim().parse::<i64>().ok());
        return match (replid, offset) {
            (Some(id), Some(offset)) if id.len() == REPLID_LEN => PsyncReply::FullResync {
                replid: Some(id.to_owned()),
                offset,
            },
            _ => PsyncReply::FullResync {
                replid: None,
                offset: -1,
            },
        };
    }
    if let Some(rest) = line.strip_prefix("+CONTINUE") {
        let id = rest.trim();
        let replid = (id.len() == REPLID_LEN).then(|| id.to_owned());
        return PsyncReply::Continue { replid };
    }
    if line.starts_with("-NOMASTERLINK") || line.starts_with("-LOADING") {
        return PsyncReply::TryLater(line.to_owned());
    }
    PsyncReply::NotSupported(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8371b4fb1155b71f4a04d3e1bc3e18c4a990aeeb";

    #[test]
    fn ping_replies() {
        assert!(check_ping_reply("+PONG").is_ok());
        assert!(check_ping_reply("-NOAUTH Authentication required.").is_ok());
        assert!(check_ping_reply("-NOPERM this user has no permissions").is_ok());
        assert!(check_ping_reply("-ERR operation not permitted").is_ok());
        assert!(matches!(
            check_ping_reply("-ERR unknown command"),
            Err(FollowerError::PingRejected(_))
        ));
    }

    #[test]
    fn psync_replies() {
        assert_eq!(
            parse_psync_reply(&format!("+FULLRESYNC {ID} 1234")),
            PsyncReply::FullResync {
                replid: Some(ID.into()),
                offset: 1234
            }
        );
        assert_eq!(
            parse_psync_reply("+FULLRESYNC short 1"),
            PsyncReply::FullResync {
                replid: None,
                offset: -1
            }
        );
        assert_eq!(
            parse_psync_reply("+CONTINUE"),
            PsyncReply::Continue { replid: None }
        );
        assert_eq!(
            parse_psync_reply(&format!("+CONTINUE {ID}")),
            PsyncReply::Continue {
                replid: Some(ID.into())
            }
        );
        assert!(matches!(
            parse_psync_reply("-NOMASTERLINK Can't SYNC while not connected with my master"),
            PsyncReply::TryLater(_)
        ));
        assert!(matches!(
            parse_psync_reply("-LOADING Redis is loading the dataset in memory"),
            PsyncReply::TryLater(_)
        ));
        assert!(matches!(
            parse_psync_reply("-ERR unknown command 'PSYNC'"),
            PsyncReply::NotSupported(_)
        ));
    }
}
