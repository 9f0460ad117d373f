//! RDB persistence: SAVE, BGSAVE, save points, SHUTDOWN's final save, loading at start-up
//! and DEBUG RELOAD, with Redis 7.0.15's log lines, INFO fields and errors.
//!
//! Redis forks to save in the background; Tandem cannot, so a background save takes a
//! copy-on-write [`tandem_keyspace::Snapshot`] under the lock (O(databases), whatever the
//! number of keys) and serialises it on a thread named `bgsave` while writes continue
//! (design brief, invariant 2). The cron notices when the thread ends and settles the
//! outcome (`Background saving terminated with success`, `dirty` decremented by what the
//! snapshot covered, `lastsave`) exactly where Redis's parent does it.
//!
//! Every save writes `temp-<pid>.rdb` in `dir`, fsyncs it, renames it over `dbfilename`
//! and fsyncs the directory (invariant 4). A failed background save turns
//! `rdb_last_bgsave_status` to `err`, which makes writes answer `-MISCONF` while
//! `stop-writes-on-bgsave-error` is on and save points are configured.
//!
//! Loading at start-up runs on a thread named `rdb-load`: it reads and decodes the file
//! outside the lock and inserts keys in batches under it. Meanwhile commands without the
//! `loading` flag get `-LOADING Redis is loading the dataset in memory`, and INFO
//! persistence shows the progress (`loading_loaded_perc`, `loading_eta_seconds`, ...). A
//! damaged file stops the process with Redis's log lines and exit code 1, never a panic.
//!
//! Testing knobs: `rdb-key-save-delay` and `key-load-delay` (microseconds per key; a
//! negative value sleeps one microsecond every `-n` keys, as Redis's `debugDelay`).

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cmd::CheckFlags;
use bytes::Bytes;
use tandem_keyspace::rdb_conv::{self, SaveError, SaveStats};
use tandem_keyspace::{EncodingLimits, Expiry, Key, Snapshot, Value};
use tandem_rdb::{AuxFields, Decoder, EncodeOptions, Item};

use crate::config::Config;
use crate::exec::Core;
use crate::server::Server;

/// Redis's `CONFIG_BGSAVE_RETRY_DELAY`: wait this long after a failed BGSAVE before the
/// save points (or a scheduled BGSAVE) try again.
const BGSAVE_RETRY_DELAY: i64 = 5;

/// `-LOADING` reply text.
pub const LOADING_ERR: &str = "LOADING Redis is loading the dataset in memory";

/// `-MISCONF` reply text after a failed background save.
pub const MISCONF_ERR: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Persistence state kept in the [`Server`].
#[derive(Debug)]
pub struct PersistState {
    /// Unix time of the last successful save (INFO `rdb_last_save_time`, LASTSAVE).
    pub lastsave: i64,
    /// Outcome of the last background save (INFO `rdb_last_bgsave_status`).
    pub last_bgsave_ok: bool,
    /// Duration of the last background save in seconds, -1 if none.
    pub last_bgsave_time_sec: i64,
    /// Successful saves (INFO `rdb_saves`).
    pub rdb_saves: u64,
    /// Unix time of the last BGSAVE attempt (retry delay after an error).
    pub lastbgsave_try: i64,
    /// BGSAVE SCHEDULE: start one as soon as possible.
    pub bgsave_scheduled: bool,
    /// The background save in progress.
    pub bgsave: Option<BgSave>,
    /// Set while a dataset is being loaded.
    pub loading: Option<Loading>,
    /// INFO `rdb_last_load_keys_loaded` / `rdb_last_load_keys_expired`.
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
}

impl PersistState {
    /// The state of a server that started at `started_unix` (Redis counts the start as the
    /// last save).
    pub fn new(started_unix: i64) -> PersistState {
        PersistState {
            lastsave: started_unix,
            last_bgsave_ok: true,
            last_bgsave_time_sec: -1,
            rdb_saves: 0,
            lastbgsave_try: 0,
            bgsave_scheduled: false,
            bgsave: None,
            loading: None,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
        }
    }
}

/// A background save in progress.
#[derive(Debug)]
pub struct BgSave {
    pub started: Instant,
    /// `dirty` when the snapshot was taken: what a successful save covers.
    pub dirty_at_start: u64,
    /// Keys in the snapshot (INFO `current_save_keys_total`).
    pub keys_total: u64,
    /// Keys written so far (INFO `current_save_keys_processed`).
    pub keys_done: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
    handle: JoinHandle<Result<SaveStats, SaveFailure>>,
}

/// Progress of a load, for INFO persistence.
#[derive(Debug, Clone)]
pub struct Loading {
    pub start_unix: i64,
    pub total_bytes: u64,
    pub loaded_bytes: u64,
    pub rdb_used_mem: u64,
}

impl Loading {
    /// INFO `loading_loaded_perc`.
    pub fn perc(&self) -> f64 {
        if self.total_bytes == 0 {
            0.0
        } else {
            self.loaded_bytes as f64 / (self.total_bytes + 1) as f64 * 100.0
        }
    }

    /// INFO `loading_eta_seconds`.
    pub fn eta_seconds(&self, now_unix: i64) -> i64 {
        let elapsed = (now_unix - self.start_unix).max(0) as u64;
        if elapsed == 0 {
            return 1;
        }
        let remaining = self.total_bytes.saturating_sub(self.loaded_bytes);
        (elapsed.saturating_mul(remaining) / (self.loaded_bytes + 1)) as i64
    }
}

/// Why a save failed (already logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFailure {
    /// An I/O or encoding error.
    Error,
    /// Cancelled (SHUTDOWN while a BGSAVE ran): Redis's child killed by a signal.
    Cancelled,
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `strerror`-like text of an I/O error (without Rust's ` (os error N)` suffix).
pub(crate) fn os_err(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The encoder settings the configuration asks for.
pub fn encode_options(c: &Config) -> EncodeOptions {
    // IDLE / FREQ opcodes (LRU / LFU policies) need per-key access data the keyspace
    // does not expose yet: not written.
    EncodeOptions {
        compression: c.get_bool("rdbcompression"),
        checksum: c.get_bool("rdbchecksum"),
        hash_max_listpack_entries: c.get_i64("hash-max-listpack-entries").max(0) as usize,
        hash_max_listpack_value: c.get_i64("hash-max-listpack-value").max(0) as usize,
        zset_max_listpack_entries: c.get_i64("zset-max-listpack-entries").max(0) as usize,
        zset_max_listpack_value: c.get_i64("zset-max-listpack-value").max(0) as usize,
        set_max_intset_entries: c.get_i64("set-max-intset-entries").max(0) as usize,
        list_max_listpack_size: c.get_i64("list-max-listpack-size"),
        eviction_info: false,
    }
}

/// What a save writes: the keyspace's copy-on-write snapshot now, with the function
/// libraries' code (RDB files, full syncs and AOF bases all carry them).
pub fn full_snapshot(
    ks: &tandem_keyspace::Keyspace,
    scripting: &crate::script::Scripting,
) -> Snapshot {
    let mut snap = ks.snapshot();
    snap.set_functions(scripting.function_codes());
    snap
}

/// The aux fields 7.0.15 writes. The replication fields (`repl-stream-db`, `repl-id`,
/// `repl-offset`) come from `rdbPopulateSaveInfo`: a master writes them while it has a
/// backlog (stream db: the last one its stream selected, 0 when none), a replica when it
/// has a master or a cached one (stream db: its master client's). Both cases are the
/// master role's backlog here: a replica creates it with its first sync, and the stream
/// db it proxies is recorded there ([`tandem_master::Master::set_stream_db`]).
pub fn aux_fields(srv: &Server) -> AuxFields {
    AuxFields {
        redis_ver: crate::REDIS_VERSION.to_string(),
        redis_bits: 64,
        ctime: unix_now(),
        used_mem: crate::cmd::info::resident_bytes(),
        repl: srv.master.rdb_repl_aux(),
        aof_base: false,
    }
}

/// Path of the RDB file (`dir` + `dbfilename`).
pub fn rdb_path(c: &Config) -> PathBuf {
    c.dir().join(c.get_str("dbfilename"))
}

/// Redis's `debugDelay`: sleep `usec` microseconds; a negative value sleeps one
/// microsecond every `-usec` calls.
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

/// What one save needs, taken under the lock.
struct SaveJob {
    snap: Snapshot,
    dir: PathBuf,
    filename: String,
    opts: EncodeOptions,
    aux: AuxFields,
    key_delay: i64,
}

impl SaveJob {
    fn new(srv: &Server) -> SaveJob {
        SaveJob {
            snap: full_snapshot(&srv.ks, &srv.scripting),
            dir: srv.config.dir(),
            filename: srv.config.get_str("dbfilename"),
            opts: encode_options(&srv.config),
            aux: aux_fields(srv),
            key_delay: srv.config.get_i64("rdb-key-save-delay"),
        }
    }

    /// Writes `temp-<pid>.rdb`, fsyncs, renames it to the final name; logs failures with
    /// Redis's texts. `progress` counts keys; `cancel` stops the save.
    fn run(self, progress: &AtomicU64, cancel: &AtomicBool) -> Result<SaveStats, SaveFailure> {
        let tmp_name = format!("temp-{}.rdb", std::process::id());
        let tmp = self.dir.join(&tmp_name);
        let dest = self.dir.join(&self.filename);
        let shown_dir = self.dir.display().to_string();
        let file = match File::create(&tmp) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    "Failed opening the temp RDB file {tmp_name} (in server root dir {shown_dir}) for saving: {}",
                    os_err(&e)
                );
                return Err(SaveFailure::Error);
            }
        };
        let mut calls = 0u64;
        let key_delay = self.key_delay;
        let written = rdb_conv::write_snapshot(
            &self.snap,
            BufWriter::with_capacity(256 * 1024, file),
            self.opts,
            &self.aux,
            |n| {
                progress.store(n, Ordering::Relaxed);
                debug_delay(key_delay, &mut calls);
                !cancel.load(Ordering::Relaxed)
            },
        );
        let fail = |tmp: &Path, why: SaveFailure| {
            let _ = std::fs::remove_file(tmp);
            Err(why)
        };
        let (writer, stats) = match written {
            Ok(ok) => ok,
            Err(SaveError::Cancelled) => return fail(&tmp, SaveFailure::Cancelled),
            Err(SaveError::Rdb(e)) => {
                tracing::warn!("Write error saving DB on disk: {e}");
                return fail(&tmp, SaveFailure::Error);
            }
        };
        let synced = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all());
        if let Err(e) = synced {
            tracing::warn!("Write error saving DB on disk: {}", os_err(&e));
            return fail(&tmp, SaveFailure::Error);
        }
        if let Err(e) = std::fs::rename(&tmp, &dest) {
            tracing::warn!(
                "Error moving temp DB file {tmp_name} on the final destination {} (in server root dir {shown_dir}): {}",
                self.filename,
                os_err(&e)
            );
            return fail(&tmp, SaveFailure::Error);
        }
        if let Ok(d) = File::open(&self.dir) {
            if let Err(e) = d.sync_all() {
                tracing::warn!(
                    "Failed to fsync the directory of {}: {}",
                    self.filename,
                    os_err(&e)
                );
            }
        }
        tracing::info!("DB saved on disk");
        Ok(stats)
    }
}

/// Redis's `rdbSave`: a foreground save of the whole dataset. On success `dirty` is reset
/// and `lastsave` updated. Returns false (already logged) on failure.
pub fn save_sync(srv: &mut Server) -> bool {
    let job = SaveJob::new(srv);
    let dirty_before = srv.dirty;
    let ok = job.run(&AtomicU64::new(0), &AtomicBool::new(false)).is_ok();
    if ok {
        srv.dirty = srv.dirty.saturating_sub(dirty_before);
        srv.persist.lastsave = unix_now();
        srv.persist.last_bgsave_ok = true;
        srv.persist.rdb_saves += 1;
    }
    ok
}

/// True while a background save runs.
pub fn bgsave_in_progress(srv: &Server) -> bool {
    srv.persist.bgsave.is_some()
}

/// Redis's `rdbSaveBackground`: snapshot now, serialise on a thread.
pub fn start_bgsave(srv: &mut Server) -> Result<(), ()> {
    srv.persist.lastbgsave_try = unix_now();
    let job = SaveJob::new(srv);
    let keys_total: u64 = (0..job.snap.databases())
        .map(|db| job.snap.len(db) as u64)
        .sum();
    let keys_done = Arc::new(AtomicU64::new(0));
    let cancel = Arc::new(AtomicBool::new(false));
    let (kd, c) = (keys_done.clone(), cancel.clone());
    let spawned = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || {
            let _job = tandem_keyspace::background::low_priority_job();
            job.run(&kd, &c)
        });
    match spawned {
        Ok(handle) => {
            tracing::info!(
                "Background saving started by pid {} (thread)",
                std::process::id()
            );
            srv.persist.bgsave = Some(BgSave {
                started: Instant::now(),
                dirty_at_start: srv.dirty,
                keys_total,
                keys_done,
                cancel,
                handle,
            });
            Ok(())
        }
        Err(e) => {
            srv.persist.last_bgsave_ok = false;
            tracing::warn!("Can't save in background: thread: {}", os_err(&e));
            Err(())
        }
    }
}

/// Waits for the background save thread and settles its outcome as Redis's
/// `backgroundSaveDoneHandler` does.
fn finish_bgsave(srv: &mut Server, bg: BgSave) {
    let outcome = bg.handle.join().unwrap_or(Err(SaveFailure::Error));
    srv.persist.last_bgsave_time_sec = bg.started.elapsed().as_secs() as i64;
    match outcome {
        Ok(_) => {
            tracing::info!("Background saving terminated with success");
            srv.dirty = srv.dirty.saturating_sub(bg.dirty_at_start);
            srv.persist.lastsave = unix_now();
            srv.persist.last_bgsave_ok = true;
            srv.persist.rdb_saves += 1;
        }
        Err(SaveFailure::Error) => {
            tracing::warn!("Background saving error");
            srv.persist.last_bgsave_ok = false;
        }
        Err(SaveFailure::Cancelled) => {
            // Redis's child killed with SIGUSR1: not counted as an error.
            tracing::warn!("Background saving terminated by signal 10");
        }
    }
}

/// Stops a running background save (its temp file is removed) and waits for the thread.
pub fn kill_bgsave(srv: &mut Server) {
    if let Some(bg) = srv.persist.bgsave.take() {
        bg.cancel.store(true, Ordering::Relaxed);
        finish_bgsave(srv, bg);
    }
}

/// Cron work: settle a finished background save, start a scheduled one, check the
/// `save` points (Redis's `serverCron`).
pub fn cron(srv: &mut Server) {
    if srv
        .persist
        .bgsave
        .as_ref()
        .is_some_and(|b| b.handle.is_finished())
    {
        if let Some(bg) = srv.persist.bgsave.take() {
            finish_bgsave(srv, bg);
        }
    }
    if srv.persist.bgsave.is_some() || srv.persist.loading.is_some() || srv.shutting_down {
        return;
    }
    let now = unix_now();
    let may_retry =
        now - srv.persist.lastbgsave_try > BGSAVE_RETRY_DELAY || srv.persist.last_bgsave_ok;
    if srv.persist.bgsave_scheduled && may_retry {
        if start_bgsave(srv).is_ok() {
            srv.persist.bgsave_scheduled = false;
        }
        return;
    }
    for (seconds, changes) in srv.config.save_params() {
        if srv.dirty >= changes.max(0) as u64 && now - srv.persist.lastsave > seconds && may_retry {
            tracing::info!("{changes} changes in {seconds} seconds. Saving...");
            let _ = start_bgsave(srv);
            break;
        }
    }
}

/// `-MISCONF` for writes (and PING) after a failed background save with
/// `stop-writes-on-bgsave-error`, as `processCommand` checks it. Never for the master's
/// stream (the master client, `is_master`): a replica applies what its master sent.
#[inline]
pub fn misconf_rejection(
    srv: &Server,
    is_master: bool,
    flags: &CheckFlags,
) -> Option<&'static str> {
    if srv.persist.last_bgsave_ok || is_master {
        return None;
    }
    (srv.config.get_bool("stop-writes-on-bgsave-error")
        && !srv.config.save_params().is_empty()
        && (flags.write || flags.ping))
        .then_some(MISCONF_ERR)
}

/// `-LOADING` while a dataset loads, for commands without the `loading` flag.
#[inline]
pub fn loading_rejection(
    srv: &Server,
    is_master: bool,
    flags: &CheckFlags,
) -> Option<&'static str> {
    (srv.persist.loading.is_some() && !is_master && !flags.loading).then_some(LOADING_ERR)
}

/// SHUTDOWN's save step (Redis's `prepareForShutdown`): stop a background save, then save
/// when asked to or when save points exist. Returns false when the save failed and the
/// server must keep running (`force` exits anyway).
pub fn shutdown_save(srv: &mut Server, wants_save: bool, force: bool) -> bool {
    if srv.persist.bgsave.is_some() {
        tracing::warn!("There is a child saving an .rdb. Killing it!");
        kill_bgsave(srv);
    }
    if !wants_save {
        return true;
    }
    if srv.persist.loading.is_some() {
        // Saving a half-loaded dataset would overwrite the file with less than it holds.
        tracing::warn!("Not saving the final RDB snapshot: the dataset is still loading.");
        return true;
    }
    tracing::info!("Saving the final RDB snapshot before exiting.");
    if save_sync(srv) {
        return true;
    }
    if force {
        tracing::warn!("Error trying to save the DB. Exit anyway.");
        true
    } else {
        tracing::warn!("Error trying to save the DB, can't exit.");
        false
    }
}

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

/// Why a load failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}", os_err(.0))]
    Io(#[from] std::io::Error),
    #[error("{}", os_err(.0))]
    Read(std::io::Error),
    #[error(transparent)]
    Rdb(#[from] tandem_rdb::Error),
    #[error(
        "Data file was created with a Redis server configured to handle more than {0} databases."
    )]
    TooManyDbs(usize),
    #[error("The RDB file contains module data I can't load: no matching module type '{0}'")]
    Module(String),
}

impl LoadError {
    /// Logs the failure with Redis's lines (`rdbLoad` and `loadDataFromDisk`).
    pub(crate) fn log(&self) {
        use tandem_rdb::Error as E;
        match self {
            LoadError::Rdb(E::Truncated { offset }) => {
                tracing::warn!("Short read or OOM loading DB. Unrecoverable error, aborting now.");
                tracing::warn!(
                    "Internal error in RDB reading offset {offset} -> Unexpected EOF reading RDB file"
                );
            }
            LoadError::Read(e) => {
                tracing::warn!("Short read or OOM loading DB. Unrecoverable error, aborting now.");
                tracing::warn!(
                    "Internal error in RDB reading offset 0 -> Unexpected EOF reading RDB file ({})",
                    os_err(e)
                );
            }
            LoadError::Rdb(E::BadChecksum {
                offset,
                expected,
                computed,
            }) => {
                tracing::warn!(
                    "Wrong RDB checksum expected: ({expected:016x}) but got ({computed:016x}). Aborting now."
                );
                tracing::warn!("Internal error in RDB reading offset {offset} -> RDB CRC error");
            }
            LoadError::Rdb(E::BadMagic { .. }) => {
                tracing::warn!("Wrong signature trying to load DB from file");
                tracing::warn!("Fatal error loading the DB: Invalid argument. Exiting.");
            }
            LoadError::Rdb(E::UnsupportedVersion { version }) => {
                tracing::warn!("Can't handle RDB format version {version}");
                tracing::warn!("Fatal error loading the DB: Invalid argument. Exiting.");
            }
            LoadError::Rdb(e @ E::Module { .. }) => tracing::warn!("{e}"),
            LoadError::Rdb(e) => {
                let off = e.offset().unwrap_or(0);
                tracing::warn!("Internal error in RDB reading offset {off} -> {e}");
            }
            LoadError::Io(e) => {
                tracing::warn!("Fatal error loading the DB: {}. Exiting.", os_err(e));
            }
            LoadError::TooManyDbs(n) => {
                tracing::warn!(
                    "FATAL: Data file was created with a Redis server configured to handle more than {n} databases. Exiting"
                );
            }
            LoadError::Module(name) => {
                tracing::warn!(
                    "The RDB file contains module data I can't load: no matching module '{name}'"
                );
            }
        }
    }
}

/// One decoded key, ready to insert.
struct LoadedKey {
    db: usize,
    key: Key,
    value: Value,
    expire: Option<i64>,
}

/// Counts and progress of a load.
#[derive(Debug, Default, Clone, Copy)]
struct LoadCounts {
    keys_loaded: u64,
    keys_expired: u64,
    loaded_bytes: u64,
    /// Length of the RDB payload itself, once it ended: what follows it in the input (an
    /// old AOF's command tail) is not part of it.
    rdb_len: u64,
    rdb_used_mem: u64,
    /// The replication aux fields (`repl-stream-db`, `repl-id`, `repl-offset`).
    repl_stream_db: Option<i64>,
    repl_id: Option<[u8; 40]>,
    repl_offset: Option<i64>,
    /// A RESIZEDB hint (database, keys) met since the last flush: the receiver sizes that
    /// database's table before its keys arrive (Redis's `dictExpand`), so the load does not
    /// rehash as the table grows. Set only on the flush that carries it.
    resize: Option<(usize, u64)>,
}

impl LoadCounts {
    /// The RDB's replication info, when all three fields were there.
    fn repl_info(&self) -> Option<crate::replication_replica::RdbReplInfo> {
        Some(crate::replication_replica::RdbReplInfo {
            stream_db: self.repl_stream_db?,
            replid: String::from_utf8_lossy(&self.repl_id?).into_owned(),
            offset: self.repl_offset?,
        })
    }
}

/// Settings a load reads from the configuration.
pub(crate) struct LoadSettings {
    verify_checksum: bool,
    databases: usize,
    key_delay: i64,
    /// `loading-process-events-interval-bytes`: a batch is handed over (and the progress
    /// INFO shows is updated) at least this often, as Redis processes events while loading.
    events_interval: u64,
    /// A master skips keys already expired; a replica (`replicaof`) keeps them: its
    /// master expires them and says so in the stream.
    skip_expired: bool,
    /// The compact encodings' thresholds.
    limits: EncodingLimits,
}

impl LoadSettings {
    pub(crate) fn new(c: &Config) -> LoadSettings {
        LoadSettings {
            verify_checksum: c.get_bool("rdbchecksum"),
            databases: c.get_i64("databases").max(1) as usize,
            key_delay: c.get_i64("key-load-delay"),
            events_interval: c.get_i64("loading-process-events-interval-bytes").max(1024) as u64,
            skip_expired: c.replicaof().is_none(),
            limits: crate::server::encoding_limits(c),
        }
    }
}

/// Reads and decodes an RDB stream, handing batches of keys to `flush` (called at least
/// every 1024 keys, 10 ms or `events_interval` bytes, and once at the end). Keys already expired are skipped (this
/// server is a master) and counted.
#[cfg(test)]
fn load_stream<R: Read>(
    r: R,
    set: &LoadSettings,
    flush: impl FnMut(Vec<LoadedKey>, LoadCounts),
) -> Result<LoadCounts, LoadError> {
    load_stream_with(r, set, flush, &mut Vec::new())
}

/// [`load_stream`], also collecting the function libraries' code into `functions`.
fn load_stream_with<R: Read>(
    mut r: R,
    set: &LoadSettings,
    mut flush: impl FnMut(Vec<LoadedKey>, LoadCounts),
    functions: &mut Vec<Bytes>,
) -> Result<LoadCounts, LoadError> {
    let mut dec = Decoder::new().with_checksum_verification(set.verify_checksum);
    let mut buf = vec![0u8; 64 * 1024];
    let mut counts = LoadCounts::default();
    let mut fed = 0u64;
    let mut batch: Vec<LoadedKey> = Vec::new();
    let mut last_flush = Instant::now();
    let mut delay_calls = 0u64;
    let mut eof = false;
    let mut db = 0usize;
    loop {
        while let Some(item) = dec.next_item()? {
            match item {
                Item::Aux { key, value } => aux_field(&key, &value, &mut counts),
                Item::Entry(e) => {
                    let db = e.db as usize;
                    if db >= set.databases {
                        return Err(LoadError::TooManyDbs(set.databases));
                    }
                    if set.skip_expired && e.expire_ms.is_some_and(|at| at < unix_ms()) {
                        counts.keys_expired += 1;
                    } else {
                        let value =
                            rdb_conv::from_rdb_stored(e.value, &set.limits, dec.last_object_type())
                                .map_err(|err| match err {
                                    rdb_conv::ConvError::Module(n) => LoadError::Module(n),
                                })?;
                        batch.push(LoadedKey {
                            db,
                            key: e.key,
                            value,
                            expire: e.expire_ms,
                        });
                        counts.keys_loaded += 1;
                    }
                    debug_delay(set.key_delay, &mut delay_calls);
                    let decoded = fed - dec.buffered() as u64;
                    if batch.len() >= 1024
                        || last_flush.elapsed() >= Duration::from_millis(10)
                        || decoded.saturating_sub(counts.loaded_bytes) >= set.events_interval
                    {
                        counts.loaded_bytes = decoded;
                        flush(std::mem::take(&mut batch), counts);
                        last_flush = Instant::now();
                    }
                }
                Item::SelectDb(n) if n as usize >= set.databases => {
                    return Err(LoadError::TooManyDbs(set.databases));
                }
                Item::SelectDb(n) => db = n as usize,
                Item::ResizeDb(r) => {
                    counts.resize = Some((db, r.db_size));
                    flush(std::mem::take(&mut batch), counts);
                    counts.resize = None;
                    last_flush = Instant::now();
                }
                Item::Function(f) => functions.push(f.code),
                Item::End { .. } => {}
                _ => {}
            }
        }
        if dec.is_done() || eof {
            break;
        }
        // A read error is a short read for Redis (`rioRead` failing).
        let n = r.read(&mut buf).map_err(LoadError::Read)?;
        if n == 0 {
            eof = true;
        } else {
            dec.feed(&buf[..n]);
            fed += n as u64;
        }
    }
    dec.finish()?;
    counts.loaded_bytes = fed;
    counts.rdb_len = fed - dec.buffered() as u64;
    flush(batch, counts);
    Ok(counts)
}

/// Logs the aux fields Redis logs while loading; remembers `used-mem`.
fn aux_field(key: &[u8], value: &[u8], counts: &mut LoadCounts) {
    let text = String::from_utf8_lossy(value);
    match key {
        b"redis-ver" => tracing::info!("Loading RDB produced by version {text}"),
        b"ctime" => {
            if let Ok(t) = text.parse::<i64>() {
                let age = (unix_now() - t).max(0);
                tracing::info!("RDB age {age} seconds");
            }
        }
        b"aof-base" if text == "1" => tracing::info!("RDB is base AOF"),
        b"repl-stream-db" => counts.repl_stream_db = text.parse().ok(),
        b"repl-id" => counts.repl_id = value.try_into().ok(),
        b"repl-offset" => counts.repl_offset = text.parse().ok(),
        b"used-mem" => {
            if let Ok(m) = text.parse::<u64>() {
                counts.rdb_used_mem = m;
                tracing::info!(
                    "RDB memory usage when created {:.2} Mb",
                    m as f64 / (1024.0 * 1024.0)
                );
            }
        }
        _ => tracing::debug!(
            "Unrecognized RDB AUX field: '{}'",
            String::from_utf8_lossy(key)
        ),
    }
}

/// Inserts a batch of loaded keys.
/// A key already present (DEBUG RELOAD NOFLUSH / MERGE) is replaced.
fn insert_batch(srv: &mut Server, batch: Vec<LoadedKey>) {
    for k in batch {
        let expiry = match k.expire {
            Some(at) => Expiry::At(at),
            None => Expiry::Clear,
        };
        srv.ks.set(k.db, k.key, k.value, expiry);
    }
    // Loaded keys are not announced (Redis's dbAddRDBLoad fires no `new`).
    drop(srv.ks.take_notes());
}

/// Loads the RDB file at `path` on the calling thread, inserting batches under the lock
/// (the AOF's RDB base). Logs `Done loading RDB` as Redis does. Returns the RDB's length:
/// an AOF written before Redis 7.0 goes on with commands after it.
pub(crate) fn load_file_into(
    core: &Arc<Core>,
    path: &Path,
    settings: &LoadSettings,
) -> Result<u64, LoadError> {
    let file = File::open(path)?;
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let mut functions = Vec::new();
    let counts = load_stream_with(
        reader,
        settings,
        |batch, counts| {
            let mut srv = core.srv.lock();
            insert_batch(&mut srv, batch);
            if let Some((db, keys)) = counts.resize {
                srv.ks.reserve(db, keys);
            }
            srv.persist.last_load_keys_loaded = counts.keys_loaded;
            srv.persist.last_load_keys_expired = counts.keys_expired;
        },
        &mut functions,
    )?;
    core.srv.lock().scripting.restore_functions(&functions);
    tracing::info!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        counts.keys_loaded,
        counts.keys_expired
    );
    Ok(counts.rdb_len)
}

/// Starts loading `dir/dbfilename` at start-up on a background thread, when the file
/// exists. Returns true when a load started (the thread then logs `Ready to accept
/// connections` when it is done); false when there is nothing to load.
pub fn start_loading(core: &Arc<Core>) -> bool {
    let (path, settings) = {
        let srv = core.srv.lock();
        (rdb_path(&srv.config), LoadSettings::new(&srv.config))
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::replication_replica::after_load(&mut core.srv.lock(), None);
            return false;
        }
        Err(e) => {
            LoadError::Io(e).log();
            std::process::exit(1);
        }
    };
    let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    {
        let mut srv = core.srv.lock();
        srv.persist.loading = Some(Loading {
            start_unix: unix_now(),
            total_bytes,
            loaded_bytes: 0,
            rdb_used_mem: 0,
        });
        srv.persist.last_load_keys_loaded = 0;
        srv.persist.last_load_keys_expired = 0;
    }
    let core = core.clone();
    let spawned = std::thread::Builder::new()
        .name("rdb-load".into())
        .spawn(move || {
            let _job = tandem_keyspace::background::job();
            load_thread(&core, file, &settings)
        });
    if let Err(e) = spawned {
        tracing::warn!("Fatal error loading the DB: {}. Exiting.", os_err(&e));
        std::process::exit(1);
    }
    true
}

fn load_thread(core: &Arc<Core>, file: File, settings: &LoadSettings) {
    let started = Instant::now();
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    // Decoding (this thread) and inserting (`rdb-insert`, under the lock) overlap: on two
    // cores the load takes about the longer of the two instead of their sum.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<LoadedKey>, LoadCounts)>(8);
    let insert_core = core.clone();
    let inserter = std::thread::Builder::new()
        .name("rdb-insert".into())
        .spawn(move || {
            let mut last_log = Instant::now();
            for (batch, counts) in rx {
                let mut srv = insert_core.srv.lock();
                insert_batch(&mut srv, batch);
                if let Some((db, keys)) = counts.resize {
                    srv.ks.reserve(db, keys);
                }
                srv.persist.last_load_keys_loaded = counts.keys_loaded;
                srv.persist.last_load_keys_expired = counts.keys_expired;
                if let Some(l) = srv.persist.loading.as_mut() {
                    l.loaded_bytes = counts.loaded_bytes;
                    l.rdb_used_mem = counts.rdb_used_mem;
                    // Progress in the log too, once a second, as INFO shows it.
                    if last_log.elapsed() >= Duration::from_secs(1) {
                        last_log = Instant::now();
                        let perc = if l.total_bytes > 0 {
                            l.loaded_bytes as f64 * 100.0 / l.total_bytes as f64
                        } else {
                            0.0
                        };
                        tracing::info!(
                            "Loading RDB: {} of {} bytes ({perc:.2}%), {} keys loaded",
                            l.loaded_bytes,
                            l.total_bytes,
                            counts.keys_loaded
                        );
                    }
                }
                crate::cmd::data::after_command(&mut srv, None);
            }
        });
    let inserter = match inserter {
        Ok(handle) => handle,
        Err(e) => {
            tracing::warn!("Fatal error loading the DB: {}. Exiting.", os_err(&e));
            std::process::exit(1);
        }
    };
    let mut functions = Vec::new();
    let result = load_stream_with(
        reader,
        settings,
        |batch, counts| {
            // The inserter only stops when this sender is dropped.
            let _ = tx.send((batch, counts));
        },
        &mut functions,
    );
    drop(tx);
    if inserter.join().is_err() {
        tracing::warn!("Fatal error loading the DB: the insert thread failed. Exiting.");
        std::process::exit(1);
    }
    match result {
        Ok(counts) => {
            let mut srv = core.srv.lock();
            srv.scripting.restore_functions(&functions);
            srv.persist.loading = None;
            srv.persist.last_load_keys_loaded = counts.keys_loaded;
            srv.persist.last_load_keys_expired = counts.keys_expired;
            tracing::info!(
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                counts.keys_loaded,
                counts.keys_expired
            );
            tracing::info!(
                "DB loaded from disk: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            tracing::info!("Ready to accept connections");
            crate::replication_replica::after_load(&mut srv, counts.repl_info());
        }
        Err(e) => {
            e.log();
            std::process::exit(1);
        }
    }
}

/// DEBUG RELOAD's load step: decodes the whole RDB file first, and only when it is sound
/// empties the keyspace (`flush_first`) and inserts the keys, so a damaged file leaves the
/// data as it was (invariant 4).
pub fn load_sync(srv: &mut Server, flush_first: bool) -> Result<(u64, u64), LoadError> {
    let path = rdb_path(&srv.config);
    let settings = LoadSettings::new(&srv.config);
    let mut keys = Vec::new();
    let mut resizes = Vec::new();
    let mut functions = Vec::new();
    let loaded = File::open(path).map_err(LoadError::from).and_then(|file| {
        let reader = std::io::BufReader::with_capacity(256 * 1024, file);
        load_stream_with(
            reader,
            &settings,
            |batch, counts| {
                resizes.extend(counts.resize);
                keys.extend(batch);
            },
            &mut functions,
        )
    });
    let counts = match loaded {
        Ok(c) => c,
        Err(e) => {
            e.log();
            return Err(e);
        }
    };
    srv.scripting.restore_functions(&functions);
    if flush_first {
        let _ = srv.ks.empty(
            tandem_keyspace::DbTarget::All,
            tandem_keyspace::FreeMode::Sync,
        );
    }
    for (db, n) in resizes {
        srv.ks.reserve(db, n);
    }
    insert_batch(srv, keys);
    srv.persist.last_load_keys_loaded = counts.keys_loaded;
    srv.persist.last_load_keys_expired = counts.keys_expired;
    tracing::info!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        counts.keys_loaded,
        counts.keys_expired
    );
    Ok((counts.keys_loaded, counts.keys_expired))
}

/// Converts a keyspace value for DUMP.
pub fn dump_value(srv: &Server, v: &Value) -> Result<Vec<u8>, tandem_rdb::Error> {
    tandem_rdb::dump_payload_with(
        &rdb_conv::to_rdb(v),
        &encode_options(&srv.config),
        v.rdb_layout(),
    )
}

/// Parses a RESTORE payload: `Err(true)` for a version/checksum error, `Err(false)` for a
/// bad value ("Bad data format").
pub fn restore_value(payload: &Bytes, limits: &EncodingLimits) -> Result<Value, bool> {
    match tandem_rdb::parse_dump_payload(payload) {
        Ok(v) => rdb_conv::from_rdb_stored(v, limits, payload.first().copied()).map_err(|_| false),
        Err(tandem_rdb::Error::BadDumpPayload) => Err(true),
        Err(_) => Err(false),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn eta_and_perc_follow_redis() {
        let l = Loading {
            start_unix: 100,
            total_bytes: 657_886,
            loaded_bytes: 81_914,
            rdb_used_mem: 0,
        };
        assert_eq!(format!("{:.2}", l.perc()), "12.45");
        assert_eq!(l.eta_seconds(100), 1);
        assert_eq!(l.eta_seconds(101), 7);
    }

    #[test]
    fn load_hands_over_a_batch_every_events_interval_bytes() {
        use tandem_rdb::{encode_to_vec, EncodeOptions, Entry, Rdb, RdbValue};
        let mut rdb = Rdb::default();
        for i in 0..200 {
            let value = format!("{i:0>100}");
            rdb.entries.push(Entry::new(
                0,
                format!("key:{i}"),
                RdbValue::String(value.into()),
            ));
        }
        let bytes = encode_to_vec(&rdb, &EncodeOptions::default()).unwrap();
        let set = LoadSettings {
            verify_checksum: true,
            databases: 16,
            key_delay: 0,
            events_interval: 1024,
            skip_expired: true,
            limits: EncodingLimits::default(),
        };
        let mut flushes = 0;
        let mut keys = 0;
        load_stream(&bytes[..], &set, |b, _| {
            flushes += 1;
            keys += b.len();
        })
        .unwrap();
        assert_eq!(keys, 200);
        // About 22 KB of payload: one hand-over per KiB at least.
        assert!(flushes >= bytes.len() / 1024, "{flushes} flushes");
    }

    #[test]
    fn load_stream_skips_expired_and_counts() {
        use tandem_rdb::{encode_to_vec, Entry, Rdb, RdbValue};
        let mut rdb = Rdb {
            aux: AuxFields::default().to_pairs(),
            ..Rdb::default()
        };
        rdb.entries
            .push(Entry::new(0, "a", RdbValue::String("1".into())));
        let mut old = Entry::new(0, "old", RdbValue::String("x".into()));
        old.expire_ms = Some(1000);
        rdb.entries.push(old);
        rdb.entries
            .push(Entry::new(2, "b", RdbValue::List(vec!["x".into()])));
        let bytes = encode_to_vec(&rdb, &EncodeOptions::default()).unwrap();
        let set = LoadSettings {
            verify_checksum: true,
            databases: 16,
            key_delay: 0,
            events_interval: 2 * 1024 * 1024,
            skip_expired: true,
            limits: EncodingLimits::default(),
        };
        let mut got = Vec::new();
        let counts = load_stream(&bytes[..], &set, |b, _| {
            got.extend(b.into_iter().map(|k| (k.db, k.key)))
        })
        .unwrap();
        assert_eq!(counts.keys_loaded, 2);
        assert_eq!(counts.keys_expired, 1);
        assert_eq!(got, [(0, Bytes::from("a")), (2, Bytes::from("b"))]);

        let small = LoadSettings {
            databases: 2,
            ..set
        };
        assert!(matches!(
            load_stream(&bytes[..], &small, |_, _| {}),
            Err(LoadError::TooManyDbs(2))
        ));
        let truncated = &bytes[..bytes.len() - 5];
        let set = LoadSettings {
            verify_checksum: true,
            databases: 16,
            key_delay: 0,
            events_interval: 2 * 1024 * 1024,
            skip_expired: true,
            limits: EncodingLimits::default(),
        };
        assert!(matches!(
            load_stream(truncated, &set, |_, _| {}),
            Err(LoadError::Rdb(tandem_rdb::Error::Truncated { .. }))
        ));
    }
}
