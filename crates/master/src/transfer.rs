//! Producing the RDB of a full resync without forking (design brief, invariant 2).
//!
//! Redis forks a child that writes the RDB to a file (disk sync) or into a pipe that the
//! parent copies to the replicas' sockets (diskless sync). Tandem takes a copy-on-write
//! [`Snapshot`] of the keyspace under the server lock (O(databases)) together with the
//! replication offset it corresponds to, and serialises it on a thread named `repl-rdb`
//! while writes continue; the stream from that offset on completes the snapshot.
//!
//! * disk: the thread writes `temp-repl-<pid>-<n>.rdb` in `dir`, fsyncs it and publishes it
//!   on a `watch` channel; every replica attached to this save sends it as a `$<len>` bulk.
//!   The file is removed when the last replica is done with it.
//! * diskless: the thread cuts the RDB into chunks and pushes each chunk into one bounded
//!   channel per replica (so the slowest replica paces the transfer, as Redis's pipe does);
//!   a replica that went away is dropped from the fan-out, and the save stops when none is
//!   left.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tandem_keyspace::rdb_conv::{self, SaveError};
use tandem_keyspace::Snapshot;
use tandem_rdb::{AuxFields, EncodeOptions};
use tokio::sync::{mpsc, watch};

/// Bytes per chunk of a diskless transfer.
const CHUNK: usize = 64 * 1024;
/// Chunks buffered per replica of a diskless transfer.
pub(crate) const CHUNKS_IN_FLIGHT: usize = 16;

/// Everything needed to write the RDB of one full resync, taken under the server lock.
pub struct SnapshotJob {
    /// The dataset as of the sync's offset.
    pub snapshot: Snapshot,
    /// Encoder settings (`rdbcompression`, `rdbchecksum`, listpack thresholds...).
    pub opts: EncodeOptions,
    /// Aux fields; the master fills in `repl` (`repl-stream-db`, `repl-id`, `repl-offset`).
    pub aux: AuxFields,
    /// `rdb-key-save-delay`: microseconds slept per key written (negative: one microsecond
    /// every `-n` keys), a testing knob that holds a transfer open.
    pub key_save_delay: i64,
    /// Where a disk sync writes its temporary file (`dir`).
    pub dir: PathBuf,
}

/// The file of a disk sync; deleted when the last replica sending it drops it.
#[derive(Debug)]
pub(crate) struct SyncFile {
    pub path: PathBuf,
    pub len: u64,
}

impl Drop for SyncFile {
    /// Unlinking a file of tens of megabytes frees its page cache in the calling thread
    /// (about 10 ms for 36 MB on the reference machine), and the last holder is an I/O
    /// task: the unlink runs on a short-lived thread instead, as Redis's `bg_unlink`.
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        let spawned = std::thread::Builder::new()
            .name("repl-rdb-unlink".into())
            .spawn({
                let path = path.clone();
                move || {
                    let _ = std::fs::remove_file(path);
                }
            });
        if spawned.is_err() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Progress of a disk sync's file.
#[derive(Clone, Debug)]
pub(crate) enum DiskState {
    Pending,
    Ready(Arc<SyncFile>),
    Failed,
}

/// One message of a diskless transfer.
#[derive(Debug)]
pub(crate) enum RdbChunk {
    Data(Bytes),
    End,
}

/// What the master keeps about a running save.
#[derive(Debug)]
pub(crate) struct Transfer {
    /// Diskless (sockets) or disk.
    pub socket: bool,
    /// `master_repl_offset` the snapshot corresponds to.
    pub offset: i64,
    /// The `rdb-filter-only` requirements it was made for.
    pub req: u8,
    /// Set by the thread when it finished (either way).
    pub done: Arc<AtomicBool>,
    /// Set by the thread on success.
    pub ok: Arc<AtomicBool>,
    /// For a disk save: where attached replicas learn that the file is ready.
    pub disk: Option<watch::Receiver<DiskState>>,
}

/// Redis's `debugDelay`.
fn debug_delay(usec: i64, calls: &mut u64) {
    if usec > 0 {
        std::thread::sleep(Duration::from_micros(usec as u64));
    } else if usec < 0 {
        *calls += 1;
        if *calls >= usec.unsigned_abs() {
            *calls = 0;
            std::thread::sleep(Duration::from_micros(1));
        }
    }
}

static FILE_SEQ: AtomicU64 = AtomicU64::new(0);

fn write_rdb<W: Write>(job: &SnapshotJob, w: W) -> Result<W, SaveError> {
    let mut calls = 0u64;
    let delay = job.key_save_delay;
    let (w, _stats) =
        rdb_conv::write_snapshot(&job.snapshot, w, job.opts.clone(), &job.aux, |_| {
            debug_delay(delay, &mut calls);
            true
        })?;
    Ok(w)
}

/// Starts a disk save for replication; returns the transfer record.
pub(crate) fn spawn_disk(job: SnapshotJob, offset: i64, req: u8) -> std::io::Result<Transfer> {
    let (tx, rx) = watch::channel(DiskState::Pending);
    let done = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicBool::new(false));
    let (d, o) = (done.clone(), ok.clone());
    std::thread::Builder::new()
        .name("repl-rdb".into())
        .spawn(move || {
            let _job = tandem_keyspace::background::low_priority_job();
            let seq = FILE_SEQ.fetch_add(1, Ordering::Relaxed);
            let path = job
                .dir
                .join(format!("temp-repl-{}-{seq}.rdb", std::process::id()));
            let result = (|| -> Result<u64, String> {
                let file = File::create(&path).map_err(|e| e.to_string())?;
                let w = write_rdb(&job, BufWriter::with_capacity(256 * 1024, file))
                    .map_err(|e| e.to_string())?;
                let file = w.into_inner().map_err(|e| e.error().to_string())?;
                file.sync_all().map_err(|e| e.to_string())?;
                Ok(file.metadata().map_err(|e| e.to_string())?.len())
            })();
            match result {
                Ok(len) => {
                    tracing::info!("DB saved on disk");
                    o.store(true, Ordering::SeqCst);
                    let _ = tx.send(DiskState::Ready(Arc::new(SyncFile { path, len })));
                }
                Err(e) => {
                    tracing::warn!("Write error saving DB on disk: {e}");
                    let _ = std::fs::remove_file(&path);
                    let _ = tx.send(DiskState::Failed);
                }
            }
            d.store(true, Ordering::SeqCst);
        })?;
    Ok(Transfer {
        socket: false,
        offset,
        req,
        done,
        ok,
        disk: Some(rx),
    })
}

/// The writer of a diskless transfer: cuts the RDB into chunks and hands each chunk to every
/// replica still listening.
struct FanOut {
    sinks: Vec<Option<mpsc::Sender<RdbChunk>>>,
    buf: Vec<u8>,
}

impl FanOut {
    fn push_chunk(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        for slot in self.sinks.iter_mut() {
            if let Some(tx) = slot {
                if tx.blocking_send(RdbChunk::Data(chunk.clone())).is_err() {
                    *slot = None;
                }
            }
        }
        if self.sinks.iter().all(Option::is_none) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "no replica left",
            ));
        }
        Ok(())
    }

    fn finish(&mut self, chunk: impl Fn() -> RdbChunk) {
        for tx in self.sinks.iter().flatten() {
            let _ = tx.blocking_send(chunk());
        }
    }
}

impl Write for FanOut {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.push_chunk()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.push_chunk()
    }
}

/// Starts a diskless transfer to `sinks`; returns the transfer record.
pub(crate) fn spawn_socket(
    job: SnapshotJob,
    sinks: Vec<mpsc::Sender<RdbChunk>>,
    offset: i64,
    req: u8,
) -> std::io::Result<Transfer> {
    let done = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicBool::new(false));
    let (d, o) = (done.clone(), ok.clone());
    let replicas = sinks.len();
    std::thread::Builder::new()
        .name("repl-rdb".into())
        .spawn(move || {
            let _job = tandem_keyspace::background::low_priority_job();
            let fan = FanOut {
                sinks: sinks.into_iter().map(Some).collect(),
                buf: Vec::with_capacity(CHUNK),
            };
            match write_rdb(&job, fan) {
                Ok(mut fan) => {
                    let _ = fan.push_chunk();
                    fan.finish(|| RdbChunk::End);
                    let left = fan.sinks.iter().flatten().count();
                    tracing::info!(
                        "Diskless rdb transfer, done reading from pipe, {left} replicas still up."
                    );
                    o.store(true, Ordering::SeqCst);
                }
                Err(e) => {
                    tracing::warn!("Diskless rdb transfer to {replicas} replicas failed: {e}");
                }
            }
            d.store(true, Ordering::SeqCst);
        })?;
    Ok(Transfer {
        socket: true,
        offset,
        req,
        done,
        ok,
        disk: None,
    })
}
