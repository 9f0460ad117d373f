//! The PSYNC decision: can a replica continue from where it stopped, and with
//! which bytes?
//!
//! This is Redis 7.0.15's `masterTryPartialResynchronization` without the
//! side effects (attaching the client, writing `+CONTINUE`): it only decides.
//! The rules, in Redis's order:
//!
//! 1. The id must be the current one, or the secondary one with an offset not
//!    past `second_repl_offset` (ids compare case-insensitively, like
//!    `strcasecmp`). Otherwise: full resync, and the log says why — the
//!    replica forced it (`PSYNC ? -1`: any id starting with `?`), the id is
//!    unknown, or the secondary id was asked for beyond its end.
//! 2. The backlog must exist and hold the offset:
//!    `first_byte_offset <= offset <= master_repl_offset + 1` (the upper end
//!    continues with zero bytes). Otherwise: full resync "for lack of backlog",
//!    with an extra warning when the offset is past the master's offset.
//!
//! [`FullResyncReason`] carries what the log lines need and formats them the
//! way Redis does; the caller supplies the replica's name
//! (`replicationGetSlaveName`, e.g. `127.0.0.1:7001`).

use crate::backlog::{Backlog, BacklogSlices};
use crate::ids::{ReplId, ReplicationIds};

/// The answer to `PSYNC <replid> <offset>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsyncDecision<'a> {
    /// Partial resync: reply `+CONTINUE` and send `bytes`, the stream from
    /// offset `from` to `master_repl_offset` (possibly empty).
    Continue {
        /// The requested offset, first byte of `bytes`.
        from: i64,
        /// The backlog's bytes from `from` to the end.
        bytes: BacklogSlices<'a>,
    },
    /// A full resync is needed (`+FULLRESYNC` once the snapshot starts).
    FullResync {
        /// Why, for the log and the stats.
        reason: FullResyncReason,
    },
}

/// Why a PSYNC cannot continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullResyncReason {
    /// The replica asked for it: its id starts with `?` (`PSYNC ? -1`).
    Requested,
    /// The id is neither the current nor the secondary one.
    IdMismatch {
        /// The id the replica sent (lossily decoded for the log).
        requested: String,
        /// The current id.
        replid: ReplId,
        /// The secondary id.
        replid2: ReplId,
    },
    /// The secondary id was asked for past the offset where it ends.
    SecondIdOffset {
        /// The offset the replica asked for.
        requested_offset: i64,
        /// The last offset the secondary id is valid for.
        second_replid_offset: i64,
    },
    /// The id is fine but the backlog does not exist or does not hold the
    /// offset.
    NoBacklog {
        /// The offset the replica asked for.
        requested_offset: i64,
        /// The master's offset when it answered.
        master_repl_offset: i64,
    },
}

impl FullResyncReason {
    /// Redis's `LL_NOTICE` log line for this reason.
    pub fn log_line(&self, replica: &str) -> String {
        match self {
            FullResyncReason::Requested => format!("Full resync requested by replica {replica}"),
            FullResyncReason::IdMismatch {
                requested,
                replid,
                replid2,
            } => format!(
                "Partial resynchronization not accepted: Replication ID mismatch \
                 (Replica asked for '{requested}', my replication IDs are '{replid}' and '{replid2}')"
            ),
            FullResyncReason::SecondIdOffset {
                requested_offset,
                second_replid_offset,
            } => format!(
                "Partial resynchronization not accepted: Requested offset for second ID was \
                 {requested_offset}, but I can reply up to {second_replid_offset}"
            ),
            FullResyncReason::NoBacklog {
                requested_offset, ..
            } => format!(
                "Unable to partial resync with replica {replica} for lack of backlog \
                 (Replica request was: {requested_offset})."
            ),
        }
    }

    /// Redis's extra `LL_WARNING` line, logged after [`log_line`](Self::log_line)
    /// when a replica asked for an offset past the master's.
    pub fn warning_line(&self, replica: &str) -> Option<String> {
        match self {
            FullResyncReason::NoBacklog {
                requested_offset,
                master_repl_offset,
            } if requested_offset > master_repl_offset => Some(format!(
                "Warning: replica {replica} tried to PSYNC with an offset that is greater \
                 than the master replication offset."
            )),
            _ => None,
        }
    }

    /// Whether Redis counts this in `sync_partial_err` (every reason except a
    /// replica forcing a full sync with `?`).
    pub fn counts_as_partial_err(&self) -> bool {
        !matches!(self, FullResyncReason::Requested)
    }
}

impl PsyncDecision<'_> {
    /// True for [`PsyncDecision::Continue`].
    pub fn is_continue(&self) -> bool {
        matches!(self, PsyncDecision::Continue { .. })
    }

    /// The log line Redis prints for this decision: for a continue,
    /// `Partial resynchronization request from <replica> accepted. Sending N
    /// bytes of backlog starting from offset M.`; for a full resync,
    /// [`FullResyncReason::log_line`].
    pub fn log_line(&self, replica: &str) -> String {
        match self {
            PsyncDecision::Continue { from, bytes } => format!(
                "Partial resynchronization request from {replica} accepted. Sending {} bytes \
                 of backlog starting from offset {from}.",
                bytes.len()
            ),
            PsyncDecision::FullResync { reason } => reason.log_line(replica),
        }
    }
}

/// The decision itself; see the module docs.
pub(crate) fn decide<'a>(
    backlog: &'a Backlog,
    ids: &ReplicationIds,
    replid: &[u8],
    offset: i64,
) -> PsyncDecision<'a> {
    // Redis compares C strings: anything after a NUL byte is not seen.
    let replid = replid.split(|&b| b == 0).next().unwrap_or(replid);
    let is_current = ids.replid().matches(replid);
    let is_second = ids.replid2().matches(replid);
    let id_ok = is_current || (is_second && offset <= ids.second_replid_offset());
    if !id_ok {
        let reason = if replid.first() == Some(&b'?') {
            FullResyncReason::Requested
        } else if !is_second {
            FullResyncReason::IdMismatch {
                requested: String::from_utf8_lossy(replid).into_owned(),
                replid: *ids.replid(),
                replid2: *ids.replid2(),
            }
        } else {
            FullResyncReason::SecondIdOffset {
                requested_offset: offset,
                second_replid_offset: ids.second_replid_offset(),
            }
        };
        return PsyncDecision::FullResync { reason };
    }
    match backlog.bytes_from(offset) {
        Some(bytes) => PsyncDecision::Continue {
            from: offset,
            bytes,
        },
        None => PsyncDecision::FullResync {
            reason: FullResyncReason::NoBacklog {
                requested_offset: offset,
                master_repl_offset: backlog.master_repl_offset(),
            },
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn id(c: char) -> ReplId {
        c.to_string().repeat(40).parse().unwrap()
    }

    /// A master with id `a...`, 100 bytes fed since creation at offset 0,
    /// in a backlog of 64 bytes: holds offsets 37..=100.
    fn master() -> (Backlog, ReplicationIds) {
        let mut b = Backlog::new(64);
        b.create();
        let data: Vec<u8> = (0..100u8).collect();
        b.append(&data);
        (b, ReplicationIds::with_replid(id('a')))
    }

    fn full(d: PsyncDecision<'_>) -> FullResyncReason {
        match d {
            PsyncDecision::FullResync { reason } => reason,
            PsyncDecision::Continue { .. } => panic!("expected a full resync"),
        }
    }

    fn cont(d: PsyncDecision<'_>) -> (i64, Vec<u8>) {
        match d {
            PsyncDecision::Continue { from, bytes } => (from, bytes.to_vec()),
            PsyncDecision::FullResync { reason } => panic!("expected continue, got {reason:?}"),
        }
    }

    #[test]
    fn continue_with_current_id_within_backlog() {
        let (b, ids) = master();
        assert_eq!(b.first_byte_offset(), 37);
        let (from, bytes) = cont(b.psync(&ids, "a".repeat(40), 90));
        assert_eq!(from, 90);
        assert_eq!(bytes, (89..100u8).collect::<Vec<_>>());
        // Case-insensitive id comparison.
        assert!(b.psync(&ids, "A".repeat(40), 90).is_continue());
        // Lower edge: exactly the first byte held.
        let (_, bytes) = cont(b.psync(&ids, "a".repeat(40), 37));
        assert_eq!(bytes.len(), 64);
        // Upper edge: master_repl_offset + 1 continues with zero bytes.
        let d = b.psync(&ids, "a".repeat(40), 101);
        assert_eq!(
            d.log_line("127.0.0.1:7001"),
            "Partial resynchronization request from 127.0.0.1:7001 accepted. \
             Sending 0 bytes of backlog starting from offset 101."
        );
        assert_eq!(cont(d), (101, vec![]));
    }

    #[test]
    fn lack_of_backlog_edges() {
        let (b, ids) = master();
        let r = full(b.psync(&ids, "a".repeat(40), 36));
        assert_eq!(
            r,
            FullResyncReason::NoBacklog {
                requested_offset: 36,
                master_repl_offset: 100
            }
        );
        assert_eq!(
            r.log_line("127.0.0.1:7001"),
            "Unable to partial resync with replica 127.0.0.1:7001 for lack of backlog \
             (Replica request was: 36)."
        );
        assert_eq!(r.warning_line("127.0.0.1:7001"), None);
        assert!(r.counts_as_partial_err());

        let r = full(b.psync(&ids, "a".repeat(40), 102));
        assert_eq!(
            r.warning_line("127.0.0.1:7001").unwrap(),
            "Warning: replica 127.0.0.1:7001 tried to PSYNC with an offset that is greater \
             than the master replication offset."
        );
        // The warning fires from master_repl_offset + 1 on, which never gets
        // here with an existing backlog; without one it does.
        let mut none = Backlog::new(64);
        none.append(b"ignored");
        let r = full(none.psync(&ids, "a".repeat(40), 1));
        assert_eq!(
            r,
            FullResyncReason::NoBacklog {
                requested_offset: 1,
                master_repl_offset: 0
            }
        );
        assert!(r.warning_line("x").is_some());
        // A fresh backlog continues at its first byte with nothing to send.
        none.create();
        assert_eq!(cont(none.psync(&ids, "a".repeat(40), 1)), (1, vec![]));
        assert!(!full(none.psync(&ids, "a".repeat(40), 0))
            .log_line("r")
            .is_empty());
    }

    #[test]
    fn forced_full_resync() {
        let (b, ids) = master();
        let r = full(b.psync(&ids, "?", -1));
        assert_eq!(r, FullResyncReason::Requested);
        assert_eq!(
            r.log_line("127.0.0.1:7001"),
            "Full resync requested by replica 127.0.0.1:7001"
        );
        assert!(!r.counts_as_partial_err());
        assert_eq!(r.warning_line("x"), None);
        // Any id starting with '?' is a forced full sync, whatever the offset.
        assert_eq!(full(b.psync(&ids, "?abc", 50)), FullResyncReason::Requested);
    }

    #[test]
    fn id_mismatch() {
        let (b, ids) = master();
        let r = full(b.psync(&ids, "b".repeat(40), 50));
        assert_eq!(
            r.log_line("ignored"),
            format!(
                "Partial resynchronization not accepted: Replication ID mismatch (Replica asked \
                 for '{}', my replication IDs are '{}' and '{}')",
                "b".repeat(40),
                "a".repeat(40),
                "0".repeat(40)
            )
        );
        assert!(r.counts_as_partial_err());
        // Malformed ids are just mismatches.
        assert!(matches!(
            full(b.psync(&ids, "", 50)),
            FullResyncReason::IdMismatch { .. }
        ));
        assert!(matches!(
            full(b.psync(&ids, b"\xff\xfe".as_slice(), 50)),
            FullResyncReason::IdMismatch { .. }
        ));
        // C-string semantics: a NUL ends the id.
        let mut with_nul = "a".repeat(40).into_bytes();
        with_nul.extend_from_slice(b"\0junk");
        assert!(b.psync(&ids, &with_nul, 50).is_continue());
    }

    #[test]
    fn zero_replid2_with_negative_offset_falls_to_backlog_check() {
        // Redis quirk: replid2 is 40 '0's with offset -1, so PSYNC 000..0 -1
        // passes the id check and then fails for lack of backlog.
        let (b, ids) = master();
        assert_eq!(
            full(b.psync(&ids, "0".repeat(40), -1)),
            FullResyncReason::NoBacklog {
                requested_offset: -1,
                master_repl_offset: 100
            }
        );
        assert!(matches!(
            full(b.psync(&ids, "0".repeat(40), 0)),
            FullResyncReason::SecondIdOffset { .. }
        ));
    }

    #[test]
    fn previous_id_after_promotion() {
        // A replica that followed master 'a' up to offset 100 is promoted:
        // its siblings, who know 'a', can continue up to offset 101.
        let (mut b, mut ids) = master();
        ids.shift(b.master_repl_offset());
        assert_eq!(ids.replid2(), &id('a'));
        assert_eq!(ids.second_replid_offset(), 101);
        // New writes under the new id.
        b.append(b"xyz");
        let new_id = ids.replid().to_string();

        // A sibling that had everything: continues and gets the new writes.
        assert_eq!(
            cont(b.psync(&ids, "a".repeat(40), 101)),
            (101, b"xyz".to_vec())
        );
        // A sibling that was behind: continues from where it stopped.
        let (_, bytes) = cont(b.psync(&ids, "a".repeat(40), 95));
        assert_eq!(bytes.len(), 6 + 3);
        // Past the end of the old history under the old id: refused.
        let r = full(b.psync(&ids, "a".repeat(40), 102));
        assert_eq!(
            r,
            FullResyncReason::SecondIdOffset {
                requested_offset: 102,
                second_replid_offset: 101
            }
        );
        assert_eq!(
            r.log_line("x"),
            "Partial resynchronization not accepted: Requested offset for second ID was 102, \
             but I can reply up to 101"
        );
        // The same offset under the new id is fine.
        assert_eq!(cont(b.psync(&ids, &new_id, 102)), (102, b"yz".to_vec()));
        // Old id, but the data is gone from the backlog.
        assert!(matches!(
            full(b.psync(&ids, "a".repeat(40), 20)),
            FullResyncReason::NoBacklog { .. }
        ));
        // After clearing replid2 (e.g. a full sync from a new master), the
        // old id is unknown.
        ids.clear_replid2();
        assert!(matches!(
            full(b.psync(&ids, "a".repeat(40), 101)),
            FullResyncReason::IdMismatch { .. }
        ));
    }
}
