//! Replication ids: who wrote this history, and which history came before it.
//!
//! Every Redis instance carries a 40-character replication id (`master_replid`)
//! naming the history of writes it holds, and a secondary id (`master_replid2`)
//! naming the history it continued from, valid up to `second_repl_offset`.
//! A replica that was promoted (REPLICAOF NO ONE, FAILOVER) moves its id to the
//! secondary slot with [`ReplicationIds::shift`], so its former siblings, who
//! still know the old id, can PSYNC to it up to the point where the histories
//! part. [`ReplId`] is one id; [`ReplicationIds`] is the pair with the offset,
//! mirroring `server.replid`, `server.replid2` and `server.second_replid_offset`.
//!
//! Fresh ids are random lowercase hex, like Redis's `getRandomHexChars`, from
//! `/dev/urandom` (with a std-only fallback when it cannot be read).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ReplIdError;

/// Length of a replication id (`CONFIG_RUN_ID_SIZE`).
pub const REPL_ID_LEN: usize = 40;

/// One replication id: exactly 40 printable ASCII characters.
///
/// Ids this crate makes are lowercase hex. Ids read from elsewhere (a master's
/// `+FULLRESYNC` line, an RDB `repl-id` aux field) are accepted as long as they
/// are 40 printable, non-space ASCII bytes, as Redis copies them blindly.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplId([u8; REPL_ID_LEN]);

impl ReplId {
    /// The "no id" value Redis shows as `master_replid2` when unset: 40 `'0'`s.
    pub const ZERO: ReplId = ReplId([b'0'; REPL_ID_LEN]);

    /// A new random id of 40 lowercase hex digits.
    pub fn random() -> ReplId {
        let mut raw = [0u8; REPL_ID_LEN / 2];
        fill_random(&mut raw);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = [0u8; REPL_ID_LEN];
        for (i, b) in raw.iter().enumerate() {
            id[2 * i] = HEX[usize::from(b >> 4)];
            id[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        ReplId(id)
    }

    /// Parses an id from raw bytes (40 printable, non-space ASCII bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<ReplId, ReplIdError> {
        let arr: [u8; REPL_ID_LEN] = bytes
            .try_into()
            .map_err(|_| ReplIdError::BadLength(bytes.len()))?;
        if let Some(pos) = arr.iter().position(|b| !b.is_ascii_graphic()) {
            return Err(ReplIdError::BadByte {
                byte: arr[pos],
                pos,
            });
        }
        Ok(ReplId(arr))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        // Always ASCII by construction, so this never takes the fallback.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id as bytes.
    pub fn as_bytes(&self) -> &[u8; REPL_ID_LEN] {
        &self.0
    }

    /// Case-insensitive comparison with what a replica sent, as Redis's
    /// `strcasecmp` in PSYNC handling.
    pub fn matches(&self, other: &[u8]) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl Default for ReplId {
    /// [`ReplId::ZERO`].
    fn default() -> Self {
        ReplId::ZERO
    }
}

impl fmt::Display for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplId({})", self.as_str())
    }
}

impl FromStr for ReplId {
    type Err = ReplIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReplId::from_bytes(s.as_bytes())
    }
}

impl TryFrom<&[u8]> for ReplId {
    type Error = ReplIdError;
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        ReplId::from_bytes(bytes)
    }
}

impl AsRef<[u8]> for ReplId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Fills `buf` from `/dev/urandom`; if that fails (no such device, sandbox),
/// falls back to std's randomly keyed SipHash over a counter, the time and the
/// pid. The fallback is not cryptographic, but neither is the id's purpose:
/// it only has to differ from every other history's id.
fn fill_random(buf: &mut [u8]) {
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf));
    if from_os.is_err() {
        fill_fallback(buf);
    }
}

/// The std-only fallback of [`fill_random`].
fn fill_fallback(buf: &mut [u8]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    for chunk in buf.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        let word = h.finish().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// The replication ids of an instance: `master_replid`, `master_replid2` and
/// `second_repl_offset`, with the transitions Redis 7.0 makes on them.
///
/// The global offset itself (`master_repl_offset`) lives in
/// [`crate::Backlog`]; the operations that need it take it as an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationIds {
    replid: ReplId,
    replid2: ReplId,
    second_replid_offset: i64,
}

impl Default for ReplicationIds {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplicationIds {
    /// What a starting server has: a random id, no secondary id
    /// (40 `'0'`s) and `second_repl_offset` -1.
    pub fn new() -> Self {
        Self::with_replid(ReplId::random())
    }

    /// Ids with the given current id and no secondary id.
    pub fn with_replid(replid: ReplId) -> Self {
        ReplicationIds {
            replid,
            replid2: ReplId::ZERO,
            second_replid_offset: -1,
        }
    }

    /// The current id (`master_replid`).
    pub fn replid(&self) -> &ReplId {
        &self.replid
    }

    /// The secondary id (`master_replid2`), [`ReplId::ZERO`] when none.
    pub fn replid2(&self) -> &ReplId {
        &self.replid2
    }

    /// The last offset a PSYNC with the secondary id may ask for (inclusive):
    /// `second_repl_offset`, -1 when there is no secondary id.
    pub fn second_replid_offset(&self) -> i64 {
        self.second_replid_offset
    }

    /// Redis's `changeReplicationId`: a new random current id (the history
    /// changed, nobody can continue the old one by the current id).
    pub fn change_replid(&mut self) {
        self.replid = ReplId::random();
    }

    /// Adopts a given current id, e.g. the master's after a full sync
    /// (the caller usually also calls [`clear_replid2`](Self::clear_replid2),
    /// as Redis does then).
    pub fn set_replid(&mut self, replid: ReplId) {
        self.replid = replid;
    }

    /// Redis's `clearReplicationId2`: no secondary id (40 `'0'`s, offset -1).
    pub fn clear_replid2(&mut self) {
        self.replid2 = ReplId::ZERO;
        self.second_replid_offset = -1;
    }

    /// Sets the secondary id and the last offset it is valid for. A master
    /// restarted from an RDB with replication info does this with the RDB's
    /// `repl-id` and `repl-offset + 1`.
    pub fn set_replid2(&mut self, replid2: ReplId, second_replid_offset: i64) {
        self.replid2 = replid2;
        self.second_replid_offset = second_replid_offset;
    }

    /// Redis's `shiftReplicationId`, done when an instance becomes a master
    /// (REPLICAOF NO ONE, FAILOVER): the current id becomes the secondary one,
    /// valid up to `master_repl_offset + 1` (the next byte a replica with the
    /// whole shared history would ask for), and a new random id is made.
    pub fn shift(&mut self, master_repl_offset: i64) {
        self.shift_to(ReplId::random(), master_repl_offset);
    }

    /// Like [`shift`](Self::shift) but to a given new id: what a replica does
    /// when its master answers `+CONTINUE <new id>` with an id other than the
    /// cached one ("Master replication ID changed to ...").
    pub fn shift_to(&mut self, new_replid: ReplId, master_repl_offset: i64) {
        self.replid2 = self.replid;
        self.second_replid_offset = master_repl_offset.saturating_add(1);
        self.replid = new_replid;
    }

    /// Redis's log line for a shift (`LL_WARNING`), to print after
    /// [`shift`](Self::shift).
    pub fn shift_log_line(&self) -> String {
        format!(
            "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
            self.replid2, self.second_replid_offset, self.replid
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_lowercase_hex_and_differ() {
        let a = ReplId::random();
        let b = ReplId::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), REPL_ID_LEN);
        assert!(a
            .as_str()
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    }

    #[test]
    fn fallback_randomness_differs() {
        let mut a = [0u8; 20];
        let mut b = [0u8; 20];
        fill_fallback(&mut a);
        fill_fallback(&mut b);
        assert_ne!(a, b);
        let mut odd = [0u8; 13];
        fill_fallback(&mut odd);
        assert_ne!(odd, [0u8; 13]);
    }

    #[test]
    fn parse_checks_length_and_bytes() {
        let ok = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(ok.parse::<ReplId>().unwrap().as_str(), ok);
        assert_eq!("abc".parse::<ReplId>(), Err(ReplIdError::BadLength(3)));
        let bad = "0123456789abcdef0123456789abcdef0123456 ";
        assert_eq!(
            bad.parse::<ReplId>(),
            Err(ReplIdError::BadByte {
                byte: b' ',
                pos: 39
            })
        );
        assert_eq!(
            ReplId::from_bytes(&[0xffu8; 40]),
            Err(ReplIdError::BadByte { byte: 0xff, pos: 0 })
        );
    }

    #[test]
    fn matches_ignores_case() {
        let id: ReplId = "0123456789abcdef0123456789abcdef01234567".parse().unwrap();
        assert!(id.matches(b"0123456789ABCDEF0123456789abcdef01234567"));
        assert!(!id.matches(b"0123456789abcdef0123456789abcdef0123456"));
        assert!(!id.matches(b"?"));
    }

    #[test]
    fn defaults_match_redis() {
        let ids = ReplicationIds::new();
        assert_eq!(ids.replid2().as_str(), "0".repeat(40));
        assert_eq!(ids.second_replid_offset(), -1);
        assert_ne!(ids.replid(), &ReplId::ZERO);
    }

    #[test]
    fn shift_moves_id_and_sets_offset_plus_one() {
        let mut ids = ReplicationIds::new();
        let old = *ids.replid();
        ids.shift(50);
        assert_eq!(ids.replid2(), &old);
        assert_eq!(ids.second_replid_offset(), 51);
        assert_ne!(ids.replid(), &old);
        assert!(ids.shift_log_line().starts_with(&format!(
            "Setting secondary replication ID to {old}, valid up to offset: 51. New replication ID is "
        )));
        ids.clear_replid2();
        assert_eq!(ids.replid2(), &ReplId::ZERO);
        assert_eq!(ids.second_replid_offset(), -1);
    }

    #[test]
    fn set_and_change() {
        let mut ids = ReplicationIds::new();
        let master: ReplId = "f".repeat(40).parse().unwrap();
        ids.set_replid(master);
        assert_eq!(ids.replid(), &master);
        ids.change_replid();
        assert_ne!(ids.replid(), &master);
        ids.set_replid2(master, 101);
        assert_eq!(ids.replid2(), &master);
        assert_eq!(ids.second_replid_offset(), 101);
        let new: ReplId = "e".repeat(40).parse().unwrap();
        let cur = *ids.replid();
        ids.shift_to(new, 9);
        assert_eq!(
            (ids.replid(), ids.replid2(), ids.second_replid_offset()),
            (&new, &cur, 10)
        );
    }
}
