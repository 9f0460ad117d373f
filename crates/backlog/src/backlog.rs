//! The replication backlog: the newest `repl-backlog-size` bytes of the
//! replication stream, and the global offset that counts every byte of it.
//!
//! Redis 7.0 keeps the backlog as a list of blocks shared with the replicas'
//! output buffers; what it exposes is simpler and is what this module
//! implements: `master_repl_offset` (bytes ever fed to the stream while a
//! backlog existed), the backlog's first byte offset and its history length
//! (`repl_backlog_first_byte_offset`, `repl_backlog_histlen`), and "give me the
//! bytes from offset N to the end". Here the bytes live in one ring buffer that
//! is allocated lazily (doubling, never past the configured size) and then
//! overwritten in place, so memory stays bounded by `repl-backlog-size` plus a
//! constant, and appending is one or two `memcpy`s.
//!
//! Offsets follow Redis: offsets are 1-based byte positions of the stream, the
//! first byte held is at `master_repl_offset - histlen + 1`, and a backlog
//! created when the offset is N starts (empty) at N + 1.

use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};

use crate::error::BacklogError;
use crate::ids::ReplicationIds;

/// `repl-backlog-size` default: 1mb.
pub const DEFAULT_BACKLOG_SIZE: usize = 1024 * 1024;

/// Redis's `CONFIG_REPL_BACKLOG_MIN_SIZE` (16k): CONFIG SET repl-backlog-size
/// below this stores this value instead. [`Backlog`] itself accepts any size
/// from 1 byte; the server applies this clamp where Redis does.
pub const MIN_BACKLOG_SIZE: usize = 16 * 1024;

/// `repl-backlog-ttl` default: 3600 seconds. Zero means "never free".
pub const DEFAULT_BACKLOG_TTL: Duration = Duration::from_secs(3600);

/// The largest offset accepted from outside ([`Backlog::set_master_repl_offset`],
/// [`Backlog::rebase`]): half of `i64::MAX`, which leaves room for more
/// appends than any server will ever make, so offsets never overflow.
pub const MAX_OFFSET: i64 = i64::MAX / 2;

/// First allocation of the ring when it grows lazily.
const GROW_MIN: usize = 16 * 1024;

/// Copies longer than this are split into pieces of this size.
///
/// glibc (2.36 here) copies anything above ~2 KiB with `rep movsb` on CPUs
/// with FSRM, and on AMD Zen that instruction drops from ~40 GiB/s to
/// ~1.5 GiB/s when the destination sits a few bytes after the source modulo
/// 4 KiB — which a ring buffer written at arbitrary positions hits all the
/// time. Pieces of 2 KiB stay on glibc's vector loop and cost nothing
/// measurable elsewhere (see `benches/backlog.rs`).
const COPY_PIECE: usize = 2048;

/// `dst.copy_from_slice(src)`, in [`COPY_PIECE`] pieces when long.
#[inline]
fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    if src.len() <= COPY_PIECE {
        dst.copy_from_slice(src);
    } else {
        for (d, s) in dst.chunks_mut(COPY_PIECE).zip(src.chunks(COPY_PIECE)) {
            d.copy_from_slice(s);
        }
    }
}

/// `dst.extend_from_slice(src)`, in [`COPY_PIECE`] pieces when long.
#[inline]
fn extend_bytes(dst: &mut Vec<u8>, src: &[u8]) {
    if src.len() <= COPY_PIECE {
        dst.extend_from_slice(src);
    } else {
        dst.reserve(src.len());
        for s in src.chunks(COPY_PIECE) {
            dst.extend_from_slice(s);
        }
    }
}

/// The ring buffer of an active backlog.
///
/// Invariants: `buf.len()` is the history length (≤ the configured size);
/// the oldest bytes are `buf[head..]`, the newest `buf[..head]`. While the
/// ring is still filling up, `head == buf.len()` (everything is in the second
/// part, oldest first); once it is full, `head < buf.len()` is the next byte
/// to overwrite.
#[derive(Debug, Default)]
struct Ring {
    buf: Vec<u8>,
    head: usize,
}

impl Ring {
    /// The held history, oldest part first.
    #[inline]
    fn parts(&self) -> (&[u8], &[u8]) {
        let (newer, older) = self.buf.split_at(self.head);
        (older, newer)
    }

    /// Appends `data`, keeping at most `cap` bytes.
    #[inline]
    fn push(&mut self, mut data: &[u8], cap: usize) {
        if data.len() >= cap {
            // The write replaces the whole history.
            data = &data[data.len() - cap..];
            self.buf.clear();
            self.buf.reserve_exact(cap);
            extend_bytes(&mut self.buf, data);
            self.head = 0;
            return;
        }
        let len = self.buf.len();
        if len < cap {
            // Still filling: append at the end (head == len).
            let take = (cap - len).min(data.len());
            self.reserve_for(len + take, cap);
            extend_bytes(&mut self.buf, &data[..take]);
            data = &data[take..];
            self.head = 0;
            if data.is_empty() {
                if self.buf.len() < cap {
                    self.head = self.buf.len();
                }
                return;
            }
        }
        // Full: overwrite the oldest bytes, wrapping once at most
        // (data.len() < cap here).
        let first = (cap - self.head).min(data.len());
        copy_bytes(&mut self.buf[self.head..self.head + first], &data[..first]);
        let rest = &data[first..];
        copy_bytes(&mut self.buf[..rest.len()], rest);
        self.head += data.len();
        if self.head >= cap {
            self.head -= cap;
        }
    }

    /// Makes room for `needed` bytes, doubling but never past `cap`.
    #[inline]
    fn reserve_for(&mut self, needed: usize, cap: usize) {
        if self.buf.capacity() < needed {
            let target = needed
                .max(self.buf.capacity().saturating_mul(2))
                .max(GROW_MIN)
                .min(cap);
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    /// Keeps the newest `cap` bytes in a ring of capacity `cap`.
    fn resize(&mut self, cap: usize) {
        // Make the history linear, oldest first, then drop the oldest excess.
        self.buf.rotate_left(self.head);
        let len = self.buf.len();
        if len > cap {
            self.buf.drain(..len - cap);
        }
        self.buf.shrink_to(cap);
        self.head = if self.buf.len() == cap {
            0
        } else {
            self.buf.len()
        };
    }
}

/// The newest part of the replication stream, from some offset to its end:
/// at most two slices of the ring, oldest first.
///
/// It implements [`bytes::Buf`], so it can be written to a socket with
/// vectored writes or copied into a `BytesMut`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BacklogSlices<'a> {
    first: &'a [u8],
    second: &'a [u8],
}

impl<'a> BacklogSlices<'a> {
    /// The two slices, oldest first (either may be empty; the first is empty
    /// only if both are).
    pub fn as_slices(&self) -> (&'a [u8], &'a [u8]) {
        (self.first, self.second)
    }

    /// The non-empty slices, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        [self.first, self.second]
            .into_iter()
            .filter(|s| !s.is_empty())
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.first.len() + self.second.len()
    }

    /// True when there are no bytes (a PSYNC at `master_repl_offset + 1`).
    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// Appends the bytes to `out`.
    pub fn copy_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.len());
        extend_bytes(out, self.first);
        extend_bytes(out, self.second);
    }

    /// Appends the bytes to any [`BufMut`] (e.g. a `BytesMut` output buffer).
    pub fn copy_to_buf(&self, out: &mut impl BufMut) {
        for part in [self.first, self.second] {
            for piece in part.chunks(COPY_PIECE) {
                out.put_slice(piece);
            }
        }
    }

    /// The bytes as one vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.copy_into(&mut v);
        v
    }

    /// The bytes as one [`Bytes`] (a copy: the ring keeps being overwritten).
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(self.to_vec())
    }

    fn new(first: &'a [u8], second: &'a [u8]) -> Self {
        if first.is_empty() {
            BacklogSlices {
                first: second,
                second: &[],
            }
        } else {
            BacklogSlices { first, second }
        }
    }
}

impl Buf for BacklogSlices<'_> {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        self.first
    }

    fn advance(&mut self, cnt: usize) {
        // Saturates instead of panicking when asked to skip past the end.
        if cnt < self.first.len() {
            self.first = &self.first[cnt..];
        } else {
            let rest = (cnt - self.first.len()).min(self.second.len());
            *self = BacklogSlices::new(&self.second[rest..], &[]);
        }
    }

    fn chunks_vectored<'b>(&'b self, dst: &mut [IoSlice<'b>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(self.iter()) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }
}

impl<'a> IntoIterator for BacklogSlices<'a> {
    type Item = &'a [u8];
    type IntoIter = std::iter::Filter<std::array::IntoIter<&'a [u8], 2>, fn(&&'a [u8]) -> bool>;

    fn into_iter(self) -> Self::IntoIter {
        fn non_empty(s: &&[u8]) -> bool {
            !s.is_empty()
        }
        [self.first, self.second]
            .into_iter()
            .filter(non_empty as fn(&&'a [u8]) -> bool)
    }
}

/// The replication backlog and the global replication offset.
///
/// Like Redis's `server.repl_backlog` plus `server.master_repl_offset`: the
/// backlog may be absent (a master that never had a replica, or whose backlog
/// was freed by `repl-backlog-ttl`); while absent, [`append`](Self::append)
/// does nothing and the offset does not move, exactly as in Redis.
#[derive(Debug)]
pub struct Backlog {
    size: usize,
    master_repl_offset: i64,
    ring: Option<Ring>,
    no_replicas_since: Option<Instant>,
}

impl Default for Backlog {
    /// An absent backlog of the default size (1mb) at offset 0.
    fn default() -> Self {
        Backlog::new(DEFAULT_BACKLOG_SIZE)
    }
}

impl Backlog {
    /// An absent (not yet created) backlog of `size` bytes
    /// (`repl-backlog-size`; 0 is taken as 1) at offset 0.
    pub fn new(size: usize) -> Self {
        Backlog {
            size: size.max(1),
            master_repl_offset: 0,
            ring: None,
            no_replicas_since: None,
        }
    }

    /// Creates the backlog if it does not exist (Redis's
    /// `createReplicationBacklog`, called when the first replica attaches or a
    /// replica finishes a full sync). It starts empty, its first byte being the
    /// next one of the stream: `master_repl_offset + 1`. Returns whether it was
    /// created (false: it already existed and is unchanged). Memory is
    /// allocated lazily as bytes arrive.
    pub fn create(&mut self) -> bool {
        if self.ring.is_some() {
            return false;
        }
        self.ring = Some(Ring::default());
        true
    }

    /// Sets the offset then creates the backlog: what a replica does after a
    /// full sync (`master_repl_offset` = the offset of `+FULLRESYNC`).
    /// Any existing history is discarded.
    pub fn create_at(&mut self, master_repl_offset: i64) -> Result<(), BacklogError> {
        self.set_master_repl_offset(master_repl_offset)?;
        self.create();
        Ok(())
    }

    /// Frees the backlog (Redis's `freeReplicationBacklog`). The offset is
    /// kept. Returns whether there was one.
    pub fn free(&mut self) -> bool {
        self.ring.take().is_some()
    }

    /// Whether the backlog exists (`repl_backlog_active`).
    pub fn is_active(&self) -> bool {
        self.ring.is_some()
    }

    /// The configured size in bytes (`repl-backlog-size`).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The global offset: bytes fed into the stream (`master_repl_offset`).
    pub fn master_repl_offset(&self) -> i64 {
        self.master_repl_offset
    }

    /// Bytes of history held (`repl_backlog_histlen`; 0 when absent).
    pub fn histlen(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.buf.len())
    }

    /// Offset of the first byte held (`repl_backlog_first_byte_offset`):
    /// `master_repl_offset - histlen + 1`, so `master_repl_offset + 1` for an
    /// empty backlog, and 0 when there is no backlog, as INFO shows it.
    pub fn first_byte_offset(&self) -> i64 {
        match &self.ring {
            Some(r) => self.master_repl_offset - r.buf.len() as i64 + 1,
            None => 0,
        }
    }

    /// Bytes allocated for history (`mem_replication_backlog` counts this).
    pub fn memory_usage(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.buf.capacity())
    }

    /// Feeds bytes to the stream: they go into the backlog and the offset
    /// advances by their length. Without a backlog this does nothing (Redis's
    /// `feedReplicationBuffer` returns early then).
    #[inline]
    pub fn append(&mut self, data: &[u8]) {
        if let Some(ring) = self.ring.as_mut() {
            ring.push(data, self.size);
            // A slice is at most isize::MAX bytes, and offsets from outside
            // are capped at MAX_OFFSET: this cannot overflow in practice, and
            // wraps rather than panics if it ever did.
            self.master_repl_offset = self.master_repl_offset.wrapping_add(data.len() as i64);
        }
    }

    /// Changes the size (CONFIG SET repl-backlog-size), keeping the newest
    /// bytes that fit; `first_byte_offset` moves forward if bytes are dropped.
    /// Works whether or not the backlog exists. 0 is taken as 1.
    pub fn resize(&mut self, new_size: usize) {
        let new_size = new_size.max(1);
        self.size = new_size;
        if let Some(ring) = self.ring.as_mut() {
            ring.resize(new_size);
        }
    }

    /// Sets `master_repl_offset`, discarding any history (an active backlog
    /// stays active, empty, with first byte `offset + 1`). A replica does this
    /// when it loads its replication info from an RDB or finishes a full sync.
    pub fn set_master_repl_offset(&mut self, offset: i64) -> Result<(), BacklogError> {
        check_offset(offset)?;
        if let Some(ring) = self.ring.as_mut() {
            ring.buf.clear();
            ring.head = 0;
        }
        self.master_repl_offset = offset;
        Ok(())
    }

    /// Adds `base` to `master_repl_offset`, keeping the history (which moves
    /// with it). A master restarted from an RDB that holds replication info
    /// does this: the bytes it fed while loading (counted from 0) are rebased
    /// on the RDB's `repl-offset`.
    pub fn rebase(&mut self, base: i64) -> Result<(), BacklogError> {
        let new = self
            .master_repl_offset
            .checked_add(base)
            .ok_or(BacklogError::OffsetOutOfRange(base))?;
        check_offset(new)?;
        self.master_repl_offset = new;
        Ok(())
    }

    /// The bytes from `offset` (1-based stream position) to the end, or `None`
    /// when there is no backlog or `offset` is outside
    /// `first_byte_offset ..= master_repl_offset + 1`. At
    /// `master_repl_offset + 1` the result is empty.
    pub fn bytes_from(&self, offset: i64) -> Option<BacklogSlices<'_>> {
        let ring = self.ring.as_ref()?;
        let histlen = ring.buf.len();
        let first_byte = self.master_repl_offset - histlen as i64 + 1;
        if offset < first_byte || offset > self.master_repl_offset + 1 {
            return None;
        }
        let skip = usize::try_from(offset - first_byte).ok()?;
        let (older, newer) = ring.parts();
        Some(if skip <= older.len() {
            BacklogSlices::new(&older[skip..], newer)
        } else {
            BacklogSlices::new(&newer[skip - older.len()..], &[])
        })
    }

    /// Answers `PSYNC <replid> <offset>` as Redis 7.0.15 does: see
    /// [`PsyncDecision`](crate::PsyncDecision) and the crate docs.
    pub fn psync<'a>(
        &'a self,
        ids: &ReplicationIds,
        replid: impl AsRef<[u8]>,
        offset: i64,
    ) -> crate::psync::PsyncDecision<'a> {
        crate::psync::decide(self, ids, replid.as_ref(), offset)
    }

    /// Records since when the master has had no replicas (Redis's
    /// `repl_no_slaves_since`): `Some(instant)` when the last replica left (or
    /// at startup), `None` while replicas are attached.
    pub fn set_no_replicas_since(&mut self, since: Option<Instant>) {
        self.no_replicas_since = since;
    }

    /// What [`set_no_replicas_since`](Self::set_no_replicas_since) recorded.
    pub fn no_replicas_since(&self) -> Option<Instant> {
        self.no_replicas_since
    }

    /// Whether `repl-backlog-ttl` says to free the backlog now: it exists, the
    /// ttl is not 0, no replica has been attached since a recorded instant, and
    /// more than `ttl` has passed since. Only a master frees its backlog this
    /// way (a replica keeps it to serve PSYNCs after a promotion); the caller
    /// checks its role.
    pub fn ttl_expired(&self, now: Instant, ttl: Duration) -> bool {
        match self.no_replicas_since {
            Some(since) if self.ring.is_some() => ttl_expired(since, now, ttl),
            _ => false,
        }
    }

    /// Redis's `repl-backlog-ttl` step of `replicationCron`: when
    /// [`ttl_expired`](Self::ttl_expired), change the replication id, clear
    /// the secondary id and free the backlog (a master without backlog stops
    /// counting its offset, so its old id must not be continued by anyone).
    /// Returns whether it freed; the caller then logs Redis's line
    /// `Replication backlog freed after <ttl> seconds without connected replicas.`
    pub fn free_if_expired(
        &mut self,
        ids: &mut ReplicationIds,
        now: Instant,
        ttl: Duration,
    ) -> bool {
        if !self.ttl_expired(now, ttl) {
            return false;
        }
        ids.change_replid();
        ids.clear_replid2();
        self.free()
    }
}

/// `repl-backlog-ttl` rule on its own: true when `ttl` is not zero and more
/// than `ttl` has passed between `no_replicas_since` and `now`.
pub fn ttl_expired(no_replicas_since: Instant, now: Instant, ttl: Duration) -> bool {
    !ttl.is_zero() && now.saturating_duration_since(no_replicas_since) > ttl
}

fn check_offset(offset: i64) -> Result<(), BacklogError> {
    if (0..=MAX_OFFSET).contains(&offset) {
        Ok(())
    } else {
        Err(BacklogError::OffsetOutOfRange(offset))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A backlog of `size` bytes, created at offset 0.
    fn active(size: usize) -> Backlog {
        let mut b = Backlog::new(size);
        assert!(b.create());
        b
    }

    fn all(b: &Backlog) -> Vec<u8> {
        b.bytes_from(b.first_byte_offset()).unwrap().to_vec()
    }

    #[test]
    fn fresh_backlog_matches_redis_info() {
        let mut b = Backlog::default();
        assert_eq!(b.size(), 1024 * 1024);
        assert!(!b.is_active());
        assert_eq!((b.first_byte_offset(), b.histlen()), (0, 0));
        assert!(b.create());
        assert!(!b.create());
        assert_eq!(b.first_byte_offset(), 1);
        assert_eq!(b.histlen(), 0);
        assert_eq!(b.master_repl_offset(), 0);
        assert_eq!(b.memory_usage(), 0, "allocation is lazy");
        b.append(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(b.master_repl_offset(), 14);
        assert_eq!(b.first_byte_offset(), 1);
        assert_eq!(b.histlen(), 14);
    }

    #[test]
    fn append_without_backlog_does_not_count() {
        let mut b = Backlog::new(100);
        b.append(b"hello");
        assert_eq!(b.master_repl_offset(), 0);
        b.create();
        b.append(b"hello");
        assert_eq!(b.master_repl_offset(), 5);
        assert!(b.free());
        assert!(!b.free());
        b.append(b"more");
        assert_eq!(b.master_repl_offset(), 5);
        b.create();
        assert_eq!(b.first_byte_offset(), 6);
        assert!(b.bytes_from(6).unwrap().is_empty());
        assert!(b.bytes_from(5).is_none());
    }

    #[test]
    fn wraps_around() {
        let mut b = active(8);
        b.append(b"abcde");
        b.append(b"fgh");
        assert_eq!(all(&b), b"abcdefgh");
        assert_eq!(b.first_byte_offset(), 1);
        b.append(b"ij");
        assert_eq!(all(&b), b"cdefghij");
        assert_eq!(b.first_byte_offset(), 3);
        assert_eq!(b.master_repl_offset(), 10);
        // Two slices now.
        let s = b.bytes_from(4).unwrap();
        assert_eq!(s.as_slices(), (&b"defgh"[..], &b"ij"[..]));
        assert_eq!(s.iter().count(), 2);
        assert_eq!(b.bytes_from(9).unwrap().to_vec(), b"ij");
        assert_eq!(b.bytes_from(10).unwrap().to_vec(), b"j");
        assert!(b.bytes_from(11).unwrap().is_empty());
        assert!(b.bytes_from(12).is_none());
        assert!(b.bytes_from(2).is_none());
        // A write that wraps exactly to the end.
        b.append(b"klmnop");
        assert_eq!(all(&b), b"ijklmnop");
        // Larger than the ring: keeps its tail.
        b.append(b"0123456789ABCDEF");
        assert_eq!(all(&b), b"89ABCDEF");
        assert_eq!(b.master_repl_offset(), 32);
        assert_eq!(b.first_byte_offset(), 25);
        // Exactly the ring size.
        b.append(b"XXXXYYYY");
        assert_eq!(all(&b), b"XXXXYYYY");
        b.append(b"");
        assert_eq!(b.master_repl_offset(), 40);
        assert!(b.memory_usage() <= 8);
    }

    #[test]
    fn grows_lazily_within_bound() {
        let mut b = active(100_000);
        b.append(&[1u8; 10]);
        assert!(b.memory_usage() >= 10 && b.memory_usage() <= GROW_MIN);
        for _ in 0..50 {
            b.append(&[7u8; 3000]);
            assert!(b.memory_usage() <= 100_000);
        }
        assert_eq!(b.histlen(), 100_000);
        assert_eq!(b.memory_usage(), 100_000);
    }

    #[test]
    fn resize_keeps_newest_bytes() {
        let mut b = active(8);
        b.append(b"abcdefghij"); // holds cdefghij, head mid-ring after next
        b.append(b"kl"); // efghijkl
        assert_eq!(all(&b), b"efghijkl");
        b.resize(5);
        assert_eq!(b.size(), 5);
        assert_eq!(all(&b), b"hijkl");
        assert_eq!(b.first_byte_offset(), 8);
        assert_eq!(b.master_repl_offset(), 12);
        b.append(b"mn");
        assert_eq!(all(&b), b"jklmn");
        // Grow: keeps everything, then fills the new room before wrapping.
        b.resize(10);
        assert_eq!(all(&b), b"jklmn");
        b.append(b"opq");
        assert_eq!(all(&b), b"jklmnopq");
        b.append(b"rstu");
        assert_eq!(all(&b), b"lmnopqrstu");
        assert_eq!(b.histlen(), 10);
        // Shrink below the history while the ring is still filling.
        let mut c = active(100);
        c.append(b"0123456789");
        c.resize(4);
        assert_eq!(all(&c), b"6789");
        c.resize(1);
        assert_eq!(all(&c), b"9");
        c.resize(0);
        assert_eq!(c.size(), 1);
        // Resize while absent only changes the size.
        let mut d = Backlog::new(10);
        d.resize(20);
        assert_eq!(d.size(), 20);
        assert!(!d.is_active());
    }

    #[test]
    fn set_offset_and_rebase() {
        let mut b = active(16);
        b.append(b"abc");
        b.rebase(100).unwrap();
        assert_eq!(b.master_repl_offset(), 103);
        assert_eq!(b.first_byte_offset(), 101);
        assert_eq!(b.bytes_from(102).unwrap().to_vec(), b"bc");
        b.set_master_repl_offset(500).unwrap();
        assert_eq!((b.histlen(), b.first_byte_offset()), (0, 501));
        assert_eq!(
            b.set_master_repl_offset(-1),
            Err(BacklogError::OffsetOutOfRange(-1))
        );
        assert!(b.rebase(i64::MAX).is_err());
        assert_eq!(b.master_repl_offset(), 500);
        let mut c = Backlog::new(16);
        c.create_at(1000).unwrap();
        assert_eq!(c.first_byte_offset(), 1001);
    }

    #[test]
    fn ttl_rules() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(3600);
        assert!(!ttl_expired(t0, t0 + ttl, ttl));
        assert!(ttl_expired(t0, t0 + ttl + Duration::from_millis(1), ttl));
        assert!(!ttl_expired(
            t0,
            t0 + Duration::from_secs(1_000_000),
            Duration::ZERO
        ));
        assert!(!ttl_expired(t0 + ttl, t0, Duration::from_secs(1)));

        let mut ids = ReplicationIds::new();
        ids.shift(10);
        let old = *ids.replid();
        let mut b = active(16);
        let late = t0 + Duration::from_secs(3601);
        assert!(!b.ttl_expired(late, ttl), "replicas attached");
        b.set_no_replicas_since(Some(t0));
        assert_eq!(b.no_replicas_since(), Some(t0));
        assert!(!b.free_if_expired(&mut ids, t0 + ttl, ttl));
        assert!(b.is_active());
        b.append(b"x");
        assert!(b.free_if_expired(&mut ids, late, ttl));
        assert!(!b.is_active());
        assert_ne!(ids.replid(), &old);
        assert_eq!(ids.second_replid_offset(), -1);
        assert_eq!(b.master_repl_offset(), 1);
        assert!(!b.ttl_expired(late, ttl), "no backlog to free");
    }

    #[test]
    fn buf_impl_walks_both_slices() {
        let mut b = active(8);
        b.append(b"abcdef");
        b.append(b"ghij");
        let mut s = b.bytes_from(3).unwrap();
        assert_eq!(s.remaining(), 8);
        let mut io = [IoSlice::new(&[]); 4];
        assert_eq!(s.chunks_vectored(&mut io), 2);
        let mut out = Vec::new();
        while s.has_remaining() {
            let c = s.chunk();
            let n = c.len().min(3);
            out.extend_from_slice(&c[..n]);
            s.advance(n);
        }
        assert_eq!(out, b"cdefghij");
        let mut s = b.bytes_from(3).unwrap();
        s.advance(100);
        assert_eq!(s.remaining(), 0);
        let v: Vec<&[u8]> = b.bytes_from(3).unwrap().into_iter().collect();
        assert_eq!(v.concat(), b"cdefghij");
        assert_eq!(
            b.bytes_from(3).unwrap().to_bytes(),
            Bytes::from_static(b"cdefghij")
        );
        let mut out = bytes::BytesMut::new();
        b.bytes_from(4).unwrap().copy_to_buf(&mut out);
        assert_eq!(&out[..], b"defghij");
    }

    #[test]
    fn long_copies_in_pieces() {
        // Writes and reads longer than COPY_PIECE, wrapping at odd positions.
        let mut b = active(3 * COPY_PIECE + 7);
        let mut stream = Vec::new();
        for i in 0..20u8 {
            let chunk: Vec<u8> = (0..(COPY_PIECE + 13 * usize::from(i)))
                .map(|j| (j as u8).wrapping_mul(31).wrapping_add(i))
                .collect();
            b.append(&chunk);
            stream.extend_from_slice(&chunk);
            let held = all(&b);
            assert_eq!(held, &stream[stream.len() - held.len()..]);
            let mut out = bytes::BytesMut::new();
            b.bytes_from(b.first_byte_offset())
                .unwrap()
                .copy_to_buf(&mut out);
            assert_eq!(&out[..], &held[..]);
        }
    }
}
