//! The task that feeds one replica: the life of a replica connection after PSYNC/SYNC.
//!
//! Once a connection asked for synchronization it stops being a normal client: the server
//! hands its socket to [`ReplicaTask::run`], which
//!
//! 1. for a full resync, writes a `\n` every second while the snapshot is being prepared
//!    (Redis's keepalive for replicas in `wait_bgsave`), then the `+FULLRESYNC` line, then
//!    the RDB: `$<len>\r\n<bytes>` from the disk file, or `$EOF:<mark>\r\n<bytes><mark>`
//!    streamed from the save thread (then waits for the replica's first `REPLCONF ACK`
//!    before streaming, as Redis does to keep the EOF mark detectable);
//! 2. then writes the replication stream: every chunk the master queued for it, in order.
//!    What was queued while the RDB was being sent is the per-replica buffer of the writes
//!    made during the transfer;
//! 3. all along reads what the replica sends: `REPLCONF ACK <offset>` updates its
//!    [`Link`] (offset and time, read by INFO, ROLE, WAIT and min-replicas) and is reported
//!    to the server through [`LinkEvents`].
//!
//! The task never touches server state directly: it shares a few atomics with the master
//! ([`Link`]) and reports state changes through [`LinkEvents`], which the server implements
//! by taking its lock.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tandem_resp::{Limits, RequestDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Notify};

use crate::error::LinkError;
use crate::replconf::ack_offset;
use crate::transfer::{DiskState, RdbChunk};

/// State shared between the master (under the server lock) and a replica's task.
#[derive(Debug, Default)]
pub struct Link {
    /// Highest offset the replica acknowledged (`repl_ack_off`).
    pub ack_off: AtomicI64,
    /// Unix time (seconds) of the last ACK (`repl_ack_time`).
    pub ack_time: AtomicI64,
    /// Stream bytes queued for the replica and not yet written (its output buffer).
    pub pending: AtomicUsize,
    /// The memory those queued chunks take: each one's length rounded up to the
    /// allocator's size class ([`held_size`]).
    pub held: AtomicUsize,
    /// Set once the first ACK arrived.
    acked: AtomicBool,
    ack_notify: Notify,
}

impl Link {
    /// A chunk of `len` bytes was queued.
    pub(crate) fn queued(&self, len: usize) {
        self.pending.fetch_add(len, Ordering::SeqCst);
        self.held.fetch_add(held_size(len), Ordering::SeqCst);
    }

    /// Chunks of `len` bytes in all, taking `held` bytes of memory, were written (or
    /// dropped).
    fn written(&self, len: usize, held: usize) {
        self.pending.fetch_sub(len, Ordering::SeqCst);
        self.held.fetch_sub(held, Ordering::SeqCst);
    }

    fn record_ack(&self, offset: i64) {
        self.ack_off.fetch_max(offset, Ordering::SeqCst);
        self.ack_time.store(crate::unix_secs(), Ordering::SeqCst);
        self.acked.store(true, Ordering::SeqCst);
        self.ack_notify.notify_waiters();
    }

    async fn first_ack(&self) {
        loop {
            let notified = self.ack_notify.notified();
            if self.acked.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// The memory an allocation of `len` bytes takes: jemalloc's size classes (16-byte
/// spacing up to 128 bytes, then four classes per doubling). A queued 1 MB command takes
/// 1.25 MB; counting only its length would leave a quarter of it out of what
/// `maxmemory` is told not to count.
pub(crate) fn held_size(len: usize) -> usize {
    if len <= 8 {
        return 8;
    }
    if len <= 128 {
        return len.next_multiple_of(16);
    }
    // `len` is in (2^(lg-1), 2^lg]; that group's classes are 2^(lg-3) apart.
    let lg = usize::BITS - (len - 1).leading_zeros();
    len.next_multiple_of(1 << (lg - 3))
}

/// What a replica's task reports to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A `REPLCONF ACK` arrived (the [`Link`] is already updated): WAITs may be satisfied.
    Ack,
    /// The disk RDB is ready and being sent (`send_bulk`).
    SendBulk,
    /// The RDB was sent entirely.
    RdbSent,
}

/// The server side of [`LinkEvent`]s: called from the replica's task, outside any lock.
pub trait LinkEvents: Send + Sync + 'static {
    /// Handles one event of replica `id` (the client id).
    fn event(&self, id: u64, ev: LinkEvent);
}

/// One message queued for a replica's task by the master.
#[derive(Debug)]
pub(crate) enum Feed {
    /// The snapshot started: send the header (`+FULLRESYNC ...`, none for SYNC) then the RDB.
    FullResync {
        header: Option<Bytes>,
        payload: Payload,
    },
    /// Replication stream bytes.
    Stream(Bytes),
}

/// Where the RDB of a full resync comes from.
#[derive(Debug)]
pub(crate) enum Payload {
    Disk(watch::Receiver<DiskState>),
    Socket {
        mark: [u8; 40],
        chunks: mpsc::Receiver<RdbChunk>,
    },
}

/// A replica connection handed over by the master: run it on the replica's socket.
#[derive(Debug)]
pub struct ReplicaTask {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) feed: mpsc::UnboundedReceiver<Feed>,
    pub(crate) link: Arc<Link>,
    /// A full resync is coming: send keepalive newlines until it starts.
    pub(crate) presync: bool,
    pub(crate) rdb_only: bool,
    pub(crate) repl_timeout: Duration,
}

/// Keepalive period before the RDB starts (Redis's replicationCron runs once a second).
const KEEPALIVE: Duration = Duration::from_secs(1);
/// Most bytes gathered from the queue into one socket write.
const MAX_GATHER: usize = 256 * 1024;

impl ReplicaTask {
    /// The replica's client id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The state this task shares with the master (offsets, queued bytes).
    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }

    /// Feeds the replica until the connection ends or the master drops it. `leftover` holds
    /// bytes the connection had read but not processed yet.
    pub async fn run<S>(
        self,
        stream: S,
        leftover: BytesMut,
        events: Arc<dyn LinkEvents>,
    ) -> Result<(), LinkError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (rd, wr) = tokio::io::split(stream);
        let ReplicaTask {
            id,
            name,
            feed,
            link,
            presync,
            rdb_only,
            repl_timeout,
        } = self;
        let reader = read_loop(rd, leftover, id, &link, &*events);
        let writer = Writer {
            wr,
            id,
            name,
            feed,
            link: &link,
            events: &*events,
            rdb_only,
            repl_timeout,
        }
        .run(presync);
        tokio::select! {
            r = reader => r,
            w = writer => w,
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: R,
    mut buf: BytesMut,
    id: u64,
    link: &Link,
    events: &dyn LinkEvents,
) -> Result<(), LinkError> {
    let mut decoder = RequestDecoder::new(Limits::default());
    let mut reqs = Vec::new();
    loop {
        let decoded = decoder.decode_batch(&mut buf, &mut reqs);
        let mut acked = false;
        for req in reqs.drain(..) {
            if let Some(off) = ack_offset(&req.args) {
                link.record_ack(off);
                acked = true;
            } else if let Some(err) = replconf_error(&req.args) {
                // Redis answers the error down the link, logs it, and loses the replica.
                let text = err.strip_prefix("ERR ").unwrap_or(&err);
                tracing::warn!(
                    "== CRITICAL == This master is sending an error to its replica: '{text}' after processing the command 'replconf'"
                );
                return Err(LinkError::Protocol(err));
            }
        }
        if acked {
            events.event(id, LinkEvent::Ack);
        }
        if let Err(e) = decoded {
            return Err(LinkError::Protocol(
                String::from_utf8_lossy(&e.reply_text()).into(),
            ));
        }
        buf.reserve(4096);
        if rd.read_buf(&mut buf).await? == 0 {
            return Err(LinkError::Closed);
        }
    }
}

/// The error a REPLCONF sent on a replica link gets (an unknown option, a bad value).
fn replconf_error(args: &[Bytes]) -> Option<String> {
    if !args.first()?.eq_ignore_ascii_case(b"replconf") {
        return None;
    }
    match crate::replconf::apply(&mut crate::replconf::ReplConf::default(), args) {
        crate::replconf::ReplconfReply::Error(e) => Some(e),
        _ => None,
    }
}

struct Writer<'a, W> {
    wr: W,
    id: u64,
    name: String,
    feed: mpsc::UnboundedReceiver<Feed>,
    link: &'a Link,
    events: &'a dyn LinkEvents,
    rdb_only: bool,
    repl_timeout: Duration,
}

impl<W: AsyncWrite + Unpin> Writer<'_, W> {
    async fn run(mut self, presync: bool) -> Result<(), LinkError> {
        // An attached replica counts as a background job (`tandem_keyspace::background`)
        // for as long as its link lives: the network thread does not busy-poll meanwhile.
        // A replica on the same machine needs that core, to load the RDB and then to
        // apply the stream, and a thread that sleeps between client reads hands the
        // stream over in larger pieces (`redis-benchmark -P 1` SET with one redis-server
        // replica on the 2-core VM: 0.90x Redis spinning, 1.03-1.06x not; the replica
        // did 1.3-1.5x the reads of a Redis master's replica when it spun).
        let _attached = (!self.rdb_only).then(tandem_keyspace::background::job);
        if presync {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
            let (header, payload) = loop {
                tokio::select! {
                    msg = self.feed.recv() => match msg {
                        Some(Feed::FullResync { header, payload }) => break (header, payload),
                        Some(Feed::Stream(b)) => {
                            // Not expected before the snapshot; keep the accounting right.
                            self.link.written(b.len(), held_size(b.len()));
                        }
                        None => return Err(LinkError::Dropped),
                    },
                    _ = tick.tick() => self.wr.write_all(b"\n").await?,
                }
            };
            if let Some(h) = header {
                self.wr.write_all(&h).await?;
            }
            self.send_rdb(payload).await?;
            if self.rdb_only {
                let _ = self.wr.flush().await;
                return Ok(());
            }
        }
        self.stream().await
    }

    async fn timed_write(&mut self, data: &[u8]) -> Result<(), LinkError> {
        match tokio::time::timeout(self.repl_timeout, self.wr.write_all(data)).await {
            Ok(r) => Ok(r?),
            Err(_) => {
                tracing::warn!("Disconnecting timedout replica (full sync): {}", self.name);
                Err(LinkError::Timeout)
            }
        }
    }

    async fn send_rdb(&mut self, payload: Payload) -> Result<(), LinkError> {
        match payload {
            Payload::Disk(mut rx) => {
                let mut tick =
                    tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
                let file = loop {
                    let state = rx.borrow_and_update().clone();
                    match state {
                        DiskState::Ready(f) => break f,
                        DiskState::Failed => return Err(LinkError::SnapshotFailed),
                        DiskState::Pending => {}
                    }
                    tokio::select! {
                        changed = rx.changed() => {
                            if changed.is_err() {
                                return Err(LinkError::SnapshotFailed);
                            }
                        }
                        _ = tick.tick() => self.wr.write_all(b"\n").await?,
                    }
                };
                self.events.event(self.id, LinkEvent::SendBulk);
                let mut f = tokio::fs::File::open(&file.path).await?;
                let header = format!("${}\r\n", file.len);
                self.timed_write(header.as_bytes()).await?;
                let mut left = file.len;
                let mut buf = vec![0u8; 64 * 1024];
                while left > 0 {
                    let want = buf.len().min(left as usize);
                    let n = f.read(&mut buf[..want]).await?;
                    if n == 0 {
                        return Err(LinkError::SnapshotFailed);
                    }
                    self.timed_write(&buf[..n]).await?;
                    left -= n as u64;
                }
                drop(file);
                self.events.event(self.id, LinkEvent::RdbSent);
            }
            Payload::Socket { mark, mut chunks } => {
                let mut header = Vec::with_capacity(48);
                header.extend_from_slice(b"$EOF:");
                header.extend_from_slice(&mark);
                header.extend_from_slice(b"\r\n");
                self.timed_write(&header).await?;
                loop {
                    match chunks.recv().await {
                        Some(RdbChunk::Data(b)) => self.timed_write(&b).await?,
                        Some(RdbChunk::End) => break,
                        None => return Err(LinkError::SnapshotFailed),
                    }
                }
                self.timed_write(&mark).await?;
                self.wr.flush().await?;
                self.events.event(self.id, LinkEvent::RdbSent);
                if !self.rdb_only {
                    // The replica finds the EOF mark at the end of what it read: start the
                    // stream only once it acknowledged (it has loaded the RDB by then).
                    self.link.first_ack().await;
                }
            }
        }
        Ok(())
    }

    async fn stream(&mut self) -> Result<(), LinkError> {
        let mut gather = BytesMut::new();
        loop {
            let Some(msg) = self.feed.recv().await else {
                return Err(LinkError::Dropped);
            };
            let first = match msg {
                Feed::Stream(b) => b,
                Feed::FullResync { .. } => continue,
            };
            // Gather what else is queued into one write.
            let mut queued = first.len();
            let mut held = held_size(first.len());
            let mut more = false;
            while queued < MAX_GATHER {
                match self.feed.try_recv() {
                    Ok(Feed::Stream(b)) => {
                        if !more {
                            gather.clear();
                            gather.extend_from_slice(&first);
                            more = true;
                        }
                        queued += b.len();
                        held += held_size(b.len());
                        gather.extend_from_slice(&b);
                    }
                    Ok(Feed::FullResync { .. }) => {}
                    Err(_) => break,
                }
            }
            if more {
                self.wr.write_all(&gather).await?;
            } else {
                self.wr.write_all(&first).await?;
            }
            self.link.written(queued, held);
            if gather.capacity() > 4 * MAX_GATHER {
                gather = BytesMut::new();
            }
        }
    }
}
