//! The append-only file: Redis 7.0's multi-part AOF, readable by redis-server and
//! redis-check-aof, and Redis's AOF directories readable here.
//!
//! Layout (in `dir`/`appenddirname`): a manifest (`<appendfilename>.manifest`, one
//! `file <name> seq <n> type <b|i>` line per file), one base file (an RDB with the
//! `aof-base` aux field, `<appendfilename>.<n>.base.rdb`) and the incremental files
//! (`<appendfilename>.<n>.incr.aof`) the writes since that base are appended to, as RESP
//! commands.
//!
//! Writing: the commands the execution units propagate (the same units, MULTI/EXEC
//! wrapping and absolute expiry times as the replication stream) are also encoded for
//! the AOF by [`tandem_master::Master`] (its own SELECT tracking); [`write`] appends them
//! to the open incr file at the end of every batch, before its replies go out, and from
//! the cron. `appendfsync always` fsyncs there too; `everysec` fsyncs on a background
//! thread at most once a second; `no` leaves it to the kernel.
//!
//! Rewriting (BGREWRITEAOF, turning `appendonly` on): under the lock, the pending bytes go
//! to the current incr file, a new incr file is opened (and listed in the manifest), and
//! a copy-on-write snapshot of the keyspace is taken: the snapshot is exactly the state
//! before the new incr file's first command. A thread writes it as the new base; the cron
//! then installs it (rename, manifest with the new base and incr only, old files removed),
//! with Redis's log lines. No fork, no pause that grows with the dataset.
//!
//! Loading at start-up (with `appendonly yes`) replaces the RDB load: the base, then every
//! incr file in order, commands run by a pseudo client; clients get `-LOADING`
//! meanwhile. A truncated last command in the last file is cut off when
//! `aof-load-truncated` is on, as Redis does; other damage stops the process.
//! Not done: a pre-7.0 single `appendonly.aof` is not upgraded, `aof-timestamp-enabled`
//! annotations are not written, and `aof-use-rdb-preamble no` still writes an RDB base.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tandem_keyspace::Snapshot;
use tandem_resp::{Limits, RequestDecoder};

use crate::exec::Core;
use crate::persist::{encode_options, LoadSettings};
use crate::server::Server;

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

/// One file of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestFile {
    pub name: String,
    pub seq: u64,
}

/// The manifest: the base (if any) and the incr files, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<ManifestFile>,
    pub incrs: Vec<ManifestFile>,
}

impl Manifest {
    /// Parses Redis's manifest text; `None` for a malformed one.
    pub fn parse(text: &str) -> Option<Manifest> {
        let mut m = Manifest::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let mut name = None;
            let mut seq = None;
            let mut kind = None;
            for pair in words.chunks(2) {
                match pair {
                    ["file", v] => name = Some((*v).to_owned()),
                    ["seq", v] => seq = v.parse::<u64>().ok(),
                    ["type", v] => kind = Some(*v),
                    [_, _] => {}
                    _ => return None,
                }
            }
            let file = ManifestFile {
                name: name?,
                seq: seq?,
            };
            match kind? {
                "b" => m.base = Some(file),
                "i" => m.incrs.push(file),
                "h" => {}
                _ => return None,
            }
        }
        Some(m)
    }

    /// The manifest's text, as Redis writes it.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(b) = &self.base {
            s.push_str(&format!("file {} seq {} type b\n", b.name, b.seq));
        }
        for i in &self.incrs {
            s.push_str(&format!("file {} seq {} type i\n", i.name, i.seq));
        }
        s
    }

    fn next_incr_seq(&self) -> u64 {
        self.incrs.last().map_or(1, |f| f.seq + 1)
    }

    fn next_base_seq(&self) -> u64 {
        self.base.as_ref().map_or(1, |f| f.seq + 1)
    }
}

/// A rewrite in progress.
#[derive(Debug)]
struct Rewrite {
    handle: JoinHandle<Result<u64, String>>,
    temp: PathBuf,
    base: ManifestFile,
    started: Instant,
}

/// AOF state kept in the [`Server`].
#[derive(Debug)]
pub struct AofState {
    /// `appendonly` is in force and the incr file is open.
    pub on: bool,
    manifest: Manifest,
    file: Option<File>,
    fsync_running: Arc<AtomicBool>,
    last_fsync: Instant,
    unsynced: bool,
    rewrite: Option<Rewrite>,
    /// BGREWRITEAOF asked while one runs waits for it.
    pub rewrite_scheduled: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_rewrite_ok: bool,
    pub last_rewrite_secs: i64,
    pub last_write_ok: bool,
    /// Bytes in the incr files plus the base (`aof_current_size`).
    pub current_size: u64,
    /// `aof_current_size` after the last rewrite or load (`aof_base_size`).
    pub base_size: u64,
    /// Bytes written to the AOF since start-up, across files (the sequence number group
    /// commit waits on).
    written: u64,
    /// Bumped whenever the open incr file changes.
    file_gen: u64,
    /// The `appendfsync always` fsync thread, once needed.
    group: Option<GroupSync>,
    /// Under `always`: how far the current batch's replies must wait to be durable.
    batch_lsn: Option<u64>,
    /// The second of the last `#TS:` annotation (`aof-timestamp-enabled`).
    last_timestamp: u64,
    pub settings: AofSettings,
}

impl Default for AofState {
    fn default() -> Self {
        AofState {
            on: false,
            manifest: Manifest::default(),
            file: None,
            fsync_running: Arc::new(AtomicBool::new(false)),
            last_fsync: Instant::now(),
            unsynced: false,
            rewrite: None,
            rewrite_scheduled: false,
            rewrites: 0,
            consecutive_failures: 0,
            last_rewrite_ok: true,
            last_rewrite_secs: -1,
            last_write_ok: true,
            current_size: 0,
            base_size: 0,
            written: 0,
            file_gen: 0,
            group: None,
            batch_lsn: None,
            last_timestamp: 0,
            settings: AofSettings::default(),
        }
    }
}

impl AofState {
    /// Under `appendfsync always`, what the batch that just ran must wait for before its
    /// replies go out (none otherwise).
    pub fn take_durable(&mut self) -> Option<Durable> {
        let lsn = self.batch_lsn.take()?;
        let synced = self.group.as_ref()?.synced.clone();
        Some(Durable { lsn, synced })
    }

    /// Whether a rewrite runs (`aof_rewrite_in_progress`).
    pub fn rewriting(&self) -> bool {
        self.rewrite.is_some()
    }

    /// Seconds the running rewrite has taken, -1 when none.
    pub fn current_rewrite_secs(&self) -> i64 {
        self.rewrite
            .as_ref()
            .map_or(-1, |r| r.started.elapsed().as_secs() as i64)
    }

    /// An fsync runs on its thread (`aof_pending_bio_fsync`).
    pub fn fsync_pending(&self) -> bool {
        self.fsync_running.load(Ordering::SeqCst)
    }
}

/// A batch's wait for `appendfsync always`: until the fsync thread has synced `lsn`.
#[derive(Debug)]
pub struct Durable {
    lsn: u64,
    synced: tokio::sync::watch::Receiver<u64>,
}

impl Durable {
    /// Returns once the batch's AOF bytes are on disk.
    pub async fn wait(mut self) {
        while *self.synced.borrow() < self.lsn {
            if self.synced.changed().await.is_err() {
                return;
            }
        }
    }
}

/// What the `always` fsync thread is told.
#[derive(Debug)]
enum SyncMsg {
    /// The incr file now written (the previous one was synced when it was replaced).
    File(File),
    /// Make the bytes up to this sequence number durable.
    Upto(u64),
}

/// The `appendfsync always` fsync thread: it syncs whatever was asked since its last
/// fsync in one go and publishes how far the AOF is durable.
#[derive(Debug)]
struct GroupSync {
    tx: std::sync::mpsc::Sender<SyncMsg>,
    synced: tokio::sync::watch::Receiver<u64>,
    file_gen: u64,
}

impl GroupSync {
    fn start() -> GroupSync {
        let (tx, rx) = std::sync::mpsc::channel::<SyncMsg>();
        let (done, synced) = tokio::sync::watch::channel(0u64);
        let spawned = std::thread::Builder::new()
            .name("aof-always".into())
            .spawn(move || {
                let mut file: Option<File> = None;
                while let Ok(first) = rx.recv() {
                    let mut upto = 0u64;
                    for msg in std::iter::once(first).chain(rx.try_iter()) {
                        match msg {
                            SyncMsg::File(f) => file = Some(f),
                            SyncMsg::Upto(n) => upto = upto.max(n),
                        }
                    }
                    if upto == 0 {
                        continue;
                    }
                    if let Some(f) = &file {
                        if let Err(e) = f.sync_data() {
                            tracing::warn!(
                                "Can't persist AOF for fsync error when the AOF fsync policy is 'always': {}. Exiting...",
                                crate::persist::os_err(&e)
                            );
                            std::process::exit(1);
                        }
                    }
                    done.send_modify(|v| *v = (*v).max(upto));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("Can't start the AOF fsync thread: {}. Exiting...", e);
            std::process::exit(1);
        }
        GroupSync {
            tx,
            synced,
            file_gen: u64::MAX,
        }
    }

    fn send(&self, msg: SyncMsg) {
        // The thread lives as long as the process.
        let _ = self.tx.send(msg);
    }
}

fn aof_dir(srv: &Server) -> PathBuf {
    srv.config.dir().join(srv.config.get_str("appenddirname"))
}

fn file_name(srv: &Server) -> String {
    srv.config.get_str("appendfilename")
}

/// What [`write`] reads at the end of every batch, copied from the configuration when it
/// changes (`Server::sync_data_settings`) instead of looked up by name each time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AofSettings {
    fsync: Fsync,
    /// `aof-timestamp-enabled`.
    timestamps: bool,
}

impl Default for AofSettings {
    fn default() -> Self {
        AofSettings {
            fsync: Fsync::EverySec,
            timestamps: false,
        }
    }
}

impl AofSettings {
    pub fn from_config(config: &crate::config::Config) -> AofSettings {
        let fsync = match config.get_str("appendfsync").as_str() {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        };
        AofSettings {
            fsync,
            timestamps: config.get_bool("aof-timestamp-enabled"),
        }
    }
}

fn manifest_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.manifest"))
}

/// Writes the manifest through a temp file and a rename, then fsyncs the directory.
fn persist_manifest(dir: &Path, name: &str, m: &Manifest) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{name}.manifest"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(m.render().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, manifest_path(dir, name))?;
    File::open(dir)?.sync_all()
}

fn open_incr(dir: &Path, file: &str) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file))
}

/// Appends what the execution units fed since the last call to the incr file, and
/// fsyncs as `appendfsync` says. Called at the end of every batch and from the cron.
pub fn write(srv: &mut Server) {
    if !srv.aof.on {
        return;
    }
    let mut bytes = srv.master.take_aof();
    let aof = &mut srv.aof;
    let AofSettings {
        fsync: policy,
        timestamps,
    } = aof.settings;
    let Some(file) = aof.file.as_mut() else {
        return;
    };
    if timestamps && !bytes.is_empty() {
        // Redis's annotation: `#TS:<unix seconds>` before the first write of each second.
        let now = crate::persist::unix_now().max(0) as u64;
        if now > aof.last_timestamp {
            aof.last_timestamp = now;
            let mut annotated = format!("#TS:{now}\r\n").into_bytes();
            annotated.extend_from_slice(&bytes);
            bytes = annotated.into();
        }
    }
    if !bytes.is_empty() {
        match file.write_all(&bytes) {
            Ok(()) => {
                if !aof.last_write_ok {
                    tracing::warn!("AOF write error looks solved, Redis can write again.");
                }
                aof.last_write_ok = true;
                aof.current_size += bytes.len() as u64;
                aof.written += bytes.len() as u64;
                aof.unsynced = true;
            }
            Err(e) => {
                if aof.last_write_ok {
                    tracing::warn!(
                        "Error writing to the AOF file: {}",
                        crate::persist::os_err(&e)
                    );
                }
                aof.last_write_ok = false;
            }
        }
    }
    match policy {
        Fsync::Always if aof.unsynced => {
            // Group commit: the batch's replies wait for the fsync thread to cover its
            // bytes ([`Durable`]); batches of several clients share one fsync, as those
            // of one event-loop turn share Redis's.
            let group = aof.group.get_or_insert_with(GroupSync::start);
            if group.file_gen != aof.file_gen {
                if let Ok(clone) = file.try_clone() {
                    group.send(SyncMsg::File(clone));
                    group.file_gen = aof.file_gen;
                }
            }
            group.send(SyncMsg::Upto(aof.written));
            aof.batch_lsn = Some(aof.written);
            aof.unsynced = false;
            aof.last_fsync = Instant::now();
        }
        Fsync::EverySec
            if aof.unsynced
                && aof.last_fsync.elapsed() >= Duration::from_secs(1)
                && !aof.fsync_running.load(Ordering::SeqCst) =>
        {
            if let Ok(clone) = file.try_clone() {
                let running = aof.fsync_running.clone();
                running.store(true, Ordering::SeqCst);
                let spawned =
                    std::thread::Builder::new()
                        .name("aof-fsync".into())
                        .spawn(move || {
                            let _ = clone.sync_data();
                            running.store(false, Ordering::SeqCst);
                        });
                if spawned.is_err() {
                    aof.fsync_running.store(false, Ordering::SeqCst);
                }
                aof.unsynced = false;
                aof.last_fsync = Instant::now();
            }
        }
        _ => {}
    }
}

/// Flushes and fsyncs the incr file (SHUTDOWN, turning AOF off).
pub fn flush_and_sync(srv: &mut Server) {
    if !srv.aof.on {
        return;
    }
    write(srv);
    if let Some(f) = srv.aof.file.as_mut() {
        let _ = f.sync_data();
    }
    srv.aof.unsynced = false;
}

/// The cron's part: install a finished rewrite, start a scheduled one, and the
/// `everysec` fsync when no batch came.
pub fn cron(srv: &mut Server) {
    if srv
        .aof
        .rewrite
        .as_ref()
        .is_some_and(|r| r.handle.is_finished())
    {
        if let Some(rw) = srv.aof.rewrite.take() {
            finish_rewrite(srv, rw);
        }
    }
    if srv.aof.rewrite_scheduled && srv.aof.rewrite.is_none() {
        srv.aof.rewrite_scheduled = false;
        let _ = start_rewrite(srv, "background rewrite");
    }
    // Redis's automatic rewrite: the AOF grew by `auto-aof-rewrite-percentage` over its
    // size after the last rewrite, and is at least `auto-aof-rewrite-min-size`.
    let pct = srv.config.get_i64("auto-aof-rewrite-percentage");
    let min = srv.config.get_i64("auto-aof-rewrite-min-size").max(0) as u64;
    if srv.aof.on && srv.aof.rewrite.is_none() && pct > 0 && srv.aof.current_size > min {
        let base = srv.aof.base_size.max(1);
        let growth = (srv.aof.current_size * 100 / base) as i64 - 100;
        if growth >= pct {
            tracing::info!("Starting automatic rewriting of AOF on {growth}% growth");
            let _ = start_rewrite(srv, "background rewrite");
        }
    }
    write(srv);
}

/// Why a rewrite could not start.
#[derive(Debug)]
pub struct RewriteError;

/// Starts a rewrite (BGREWRITEAOF, or `appendonly` turned on): the new incr file opens
/// now, the snapshot's base is written on a thread. `why` names the occasion in the log.
pub fn start_rewrite(srv: &mut Server, why: &str) -> Result<(), RewriteError> {
    if srv.aof.rewriting() {
        // One at a time: this one starts when the running one is installed.
        srv.aof.rewrite_scheduled = true;
        return Ok(());
    }
    let dir = aof_dir(srv);
    let name = file_name(srv);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(
            "Can't open or create append-only dir {}: {}",
            dir.display(),
            crate::persist::os_err(&e)
        );
        return Err(RewriteError);
    }
    // What was fed so far belongs to the current incr file.
    write(srv);
    let turning_on = !srv.aof.on && srv.config.get_bool("appendonly");
    if srv.aof.on || turning_on {
        let seq = srv.aof.manifest.next_incr_seq();
        let incr = ManifestFile {
            name: format!("{name}.{seq}.incr.aof"),
            seq,
        };
        let file = match open_incr(&dir, &incr.name) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    "Can't open the append-only file {}: {}",
                    incr.name,
                    crate::persist::os_err(&e)
                );
                return Err(RewriteError);
            }
        };
        tracing::info!("Creating AOF incr file {} on {why}", incr.name);
        if let Some(old) = srv.aof.file.as_mut() {
            let _ = old.sync_data();
        }
        srv.aof.file = Some(file);
        srv.aof.file_gen += 1;
        srv.aof.manifest.incrs.push(incr);
        if let Err(e) = persist_manifest(&dir, &name, &srv.aof.manifest) {
            tracing::warn!(
                "Can't persist the AOF manifest: {}",
                crate::persist::os_err(&e)
            );
        }
        srv.master.set_aof(true);
        srv.aof.on = true;
    }
    let base = ManifestFile {
        name: format!("{name}.{}.base.rdb", srv.aof.manifest.next_base_seq()),
        seq: srv.aof.manifest.next_base_seq(),
    };
    let temp = srv
        .config
        .dir()
        .join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let (snap, opts, aux) = base_job(srv);
    let path = temp.clone();
    let spawned = std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || {
            let _job = tandem_keyspace::background::job();
            write_base(&snap, &path, opts, &aux)
        });
    match spawned {
        Ok(handle) => {
            tracing::info!(
                "Background append only file rewriting started by pid {}",
                std::process::id()
            );
            srv.aof.rewrite = Some(Rewrite {
                handle,
                temp,
                base,
                started: Instant::now(),
            });
            Ok(())
        }
        Err(e) => {
            tracing::warn!(
                "Can't rewrite append only file in background: fork: {}",
                crate::persist::os_err(&e)
            );
            Err(RewriteError)
        }
    }
}

/// What an AOF base holds: the snapshot now (with the function libraries), the save
/// settings, and aux fields marked `aof-base` without the replication ones.
fn base_job(srv: &Server) -> (Snapshot, tandem_rdb::EncodeOptions, tandem_rdb::AuxFields) {
    let mut aux = crate::persist::aux_fields(srv);
    aux.repl = None;
    aux.aof_base = true;
    (
        crate::persist::full_snapshot(&srv.ks, &srv.scripting),
        encode_options(&srv.config),
        aux,
    )
}

/// Writes `snap` as an RDB base file at `path`, fsynced; its size.
fn write_base(
    snap: &Snapshot,
    path: &Path,
    opts: tandem_rdb::EncodeOptions,
    aux: &tandem_rdb::AuxFields,
) -> Result<u64, String> {
    let file = File::create(path).map_err(|e| crate::persist::os_err(&e))?;
    let writer = std::io::BufWriter::with_capacity(256 * 1024, file);
    let (writer, _) = tandem_keyspace::rdb_conv::write_snapshot(snap, writer, opts, aux, |_| true)
        .map_err(|e| format!("{e:?}"))?;
    let file = writer
        .into_inner()
        .map_err(|e| crate::persist::os_err(e.error()))?;
    file.sync_all().map_err(|e| crate::persist::os_err(&e))?;
    Ok(file.metadata().map(|m| m.len()).unwrap_or(0))
}

fn finish_rewrite(srv: &mut Server, rw: Rewrite) {
    let result = rw
        .handle
        .join()
        .unwrap_or_else(|_| Err("the rewrite thread failed".into()));
    let secs = rw.started.elapsed().as_secs() as i64;
    let base_len = match result {
        Ok(len) => len,
        Err(e) => {
            tracing::warn!("Background AOF rewrite terminated with error: {e}");
            let _ = std::fs::remove_file(&rw.temp);
            srv.aof.last_rewrite_ok = false;
            srv.aof.consecutive_failures += 1;
            return;
        }
    };
    tracing::info!("Background AOF rewrite terminated with success");
    let dir = aof_dir(srv);
    let name = file_name(srv);
    if let Err(e) = std::fs::rename(&rw.temp, dir.join(&rw.base.name)) {
        tracing::warn!(
            "Error trying to rename the temporary AOF base file {} into {}: {}",
            rw.temp.display(),
            rw.base.name,
            crate::persist::os_err(&e)
        );
        let _ = std::fs::remove_file(&rw.temp);
        srv.aof.last_rewrite_ok = false;
        srv.aof.consecutive_failures += 1;
        return;
    }
    tracing::info!(
        "Successfully renamed the temporary AOF base file {} into {}",
        rw.temp
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        rw.base.name
    );
    // The new base covers everything before the newest incr file.
    let mut history: Vec<String> = Vec::new();
    let m = &mut srv.aof.manifest;
    if let Some(old) = m.base.replace(rw.base) {
        history.push(old.name);
    }
    let keep = if srv.aof.on { 1 } else { 0 };
    while m.incrs.len() > keep {
        history.push(m.incrs.remove(0).name);
    }
    if let Err(e) = persist_manifest(&dir, &name, &srv.aof.manifest) {
        tracing::warn!(
            "Can't persist the AOF manifest: {}",
            crate::persist::os_err(&e)
        );
    }
    for old in history {
        tracing::info!("Removing the history file {old} in the background");
        let _ = std::fs::remove_file(dir.join(old));
    }
    tracing::info!("Background AOF rewrite finished successfully");
    srv.aof.rewrites += 1;
    srv.aof.consecutive_failures = 0;
    srv.aof.last_rewrite_ok = true;
    srv.aof.last_rewrite_secs = secs;
    let incr_len: u64 = srv
        .aof
        .manifest
        .incrs
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(&f.name)).ok())
        .map(|m| m.len())
        .sum();
    srv.aof.current_size = base_len + incr_len;
    srv.aof.base_size = srv.aof.current_size;
}

/// SHUTDOWN during a rewrite: its temp file is removed (Redis kills the child).
pub fn abandon_rewrite(srv: &mut Server) {
    if let Some(rw) = srv.aof.rewrite.take() {
        tracing::warn!("There is a child rewriting the AOF. Killing it!");
        let _ = std::fs::remove_file(&rw.temp);
    }
}

/// After a replica's full sync replaced the dataset: the AOF is written again from a base
/// of the new data (Redis's `restartAOFAfterSYNC`).
pub fn restart_after_sync(srv: &mut Server) {
    // Whatever the old incr file holds belongs to the old data set; the new base covers
    // everything before the new incr file.
    let _ = srv.master.take_aof();
    if start_rewrite(srv, "AOF enabled").is_err() {
        tracing::warn!("Failed enabling the AOF after successful master synchronization!");
    }
}

/// CONFIG SET appendonly: turning on starts a rewrite (the base of what exists now);
/// turning off flushes, fsyncs and closes the incr file.
pub fn apply_appendonly(srv: &mut Server) {
    let want = srv.config.get_bool("appendonly");
    if want && !srv.aof.on {
        load_manifest_quietly(srv);
        let _ = start_rewrite(srv, "AOF enabled");
    } else if !want && srv.aof.on {
        flush_and_sync(srv);
        srv.aof.file = None;
        srv.aof.on = false;
        srv.master.set_aof(false);
    }
}

/// Reads an existing manifest so that sequence numbers go on from it.
fn load_manifest_quietly(srv: &mut Server) {
    if let Some(m) = read_manifest(&aof_dir(srv), &file_name(srv)) {
        srv.aof.manifest = m;
    }
}

/// The manifest in `dir`, when it exists and parses.
fn read_manifest(dir: &Path, name: &str) -> Option<Manifest> {
    std::fs::read_to_string(manifest_path(dir, name))
        .ok()
        .and_then(|t| Manifest::parse(&t))
}

/// Start-up with `appendonly yes`: loads the AOF (or creates an empty one) on a thread,
/// as [`crate::persist::start_loading`] does for the RDB. Returns false when the server
/// is ready at once.
pub fn start_loading(core: &Arc<Core>) -> bool {
    let (dir, name, legacy) = {
        let srv = core.srv.lock();
        let name = file_name(&srv);
        let legacy = srv.config.dir().join(&name);
        (aof_dir(&srv), name, legacy)
    };
    if legacy.is_file() && needs_upgrade(&dir, &name) {
        upgrade_legacy(&dir, &name, &legacy);
    }
    let manifest_text = match std::fs::read_to_string(manifest_path(&dir, &name)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_at_start(&mut core.srv.lock(), &dir, &name);
            return false;
        }
        Err(e) => {
            tracing::warn!(
                "Fatal error: can't open the AOF manifest {name}.manifest for reading: {}",
                crate::persist::os_err(&e)
            );
            std::process::exit(1);
        }
    };
    let Some(manifest) = Manifest::parse(&manifest_text) else {
        tracing::warn!("Invalid AOF manifest file format");
        std::process::exit(1);
    };
    {
        let mut srv = core.srv.lock();
        srv.persist.loading = Some(crate::persist::Loading {
            start_unix: crate::persist::unix_now(),
            total_bytes: 0,
            loaded_bytes: 0,
            rdb_used_mem: 0,
        });
    }
    let core = core.clone();
    let spawned = std::thread::Builder::new()
        .name("aof-load".into())
        .spawn(move || {
            let _job = tandem_keyspace::background::job();
            load_thread(&core, &dir, &name, manifest)
        });
    if let Err(e) = spawned {
        tracing::warn!(
            "Fatal error loading the AOF: {}. Exiting.",
            crate::persist::os_err(&e)
        );
        std::process::exit(1);
    }
    true
}

/// Whether a single-file AOF of Redis before 7.0 (`dir`/`appendfilename`) is to be moved
/// into the AOF directory, as Redis 7.0 decides: the directory is missing, or its manifest
/// is missing or lists no file, or the manifest lists only that file as its base and the
/// file is not in the directory yet (a move that was interrupted).
fn needs_upgrade(dir: &Path, name: &str) -> bool {
    if !dir.is_dir() {
        return true;
    }
    let Some(m) = read_manifest(dir, name) else {
        return true;
    };
    match &m.base {
        None => m.incrs.is_empty(),
        Some(base) => m.incrs.is_empty() && base.name == name && !dir.join(name).exists(),
    }
}

/// Start-up: the AOF directory exists, or the server exits as Redis does.
fn create_dir_or_exit(dir: &Path) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::warn!(
            "Can't open or create append-only dir {}: {}",
            dir.display(),
            crate::persist::os_err(&e)
        );
        std::process::exit(1);
    }
}

/// Start-up: the manifest is written, or the server exits as Redis does.
fn persist_manifest_or_exit(dir: &Path, name: &str, m: &Manifest) {
    if let Err(e) = persist_manifest(dir, name, m) {
        tracing::warn!(
            "Can't persist the AOF manifest: {}",
            crate::persist::os_err(&e)
        );
        std::process::exit(1);
    }
}

/// Moves an old single-file AOF into the AOF directory as its base (sequence 1), with a
/// manifest naming it; the load then reads it like any base (an RDB preamble followed by
/// commands, or commands only) and opens a first incr file.
fn upgrade_legacy(dir: &Path, name: &str, legacy: &Path) {
    create_dir_or_exit(dir);
    let manifest = Manifest {
        base: Some(ManifestFile {
            name: name.to_owned(),
            seq: 1,
        }),
        incrs: Vec::new(),
    };
    persist_manifest_or_exit(dir, name, &manifest);
    let dirname = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |d| d.to_string_lossy().into_owned(),
    );
    if let Err(e) = std::fs::rename(legacy, dir.join(name)) {
        tracing::warn!(
            "Error trying to move the old AOF file {name} into dir {dirname}: {}",
            crate::persist::os_err(&e)
        );
        std::process::exit(1);
    }
    tracing::info!(
        "Successfully migrated an old-style AOF file ({name}) into the AOF directory ({dirname})."
    );
}

/// No AOF yet: an empty base and a first incr file, as Redis creates them.
fn create_at_start(srv: &mut Server, dir: &Path, name: &str) {
    create_dir_or_exit(dir);
    let base = ManifestFile {
        name: format!("{name}.1.base.rdb"),
        seq: 1,
    };
    let (snap, opts, aux) = base_job(srv);
    let base_len = match write_base(&snap, &dir.join(&base.name), opts, &aux) {
        Ok(len) => len,
        Err(e) => {
            tracing::warn!("Can't create the AOF base file: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!("Creating AOF base file {} on server start", base.name);
    let incr = ManifestFile {
        name: format!("{name}.1.incr.aof"),
        seq: 1,
    };
    tracing::info!("Creating AOF incr file {} on server start", incr.name);
    srv.aof.manifest = Manifest {
        base: Some(base),
        incrs: vec![incr],
    };
    open_after_load(srv, dir, name, base_len);
}

/// Opens the last incr file for appending (a new one when the manifest lists none, as
/// after an upgrade from a single-file AOF) and turns writing on.
fn open_after_load(srv: &mut Server, dir: &Path, name: &str, size: u64) {
    let last = match srv.aof.manifest.incrs.last() {
        Some(last) => last.clone(),
        None => {
            let seq = srv.aof.manifest.next_incr_seq();
            let incr = ManifestFile {
                name: format!("{name}.{seq}.incr.aof"),
                seq,
            };
            tracing::info!("Creating AOF incr file {} on server start", incr.name);
            srv.aof.manifest.incrs.push(incr.clone());
            incr
        }
    };
    match open_incr(dir, &last.name) {
        Ok(f) => {
            srv.aof.file = Some(f);
            srv.aof.file_gen += 1;
        }
        Err(e) => {
            tracing::warn!(
                "Can't open the append-only file {}: {}",
                last.name,
                crate::persist::os_err(&e)
            );
            std::process::exit(1);
        }
    }
    persist_manifest_or_exit(dir, name, &srv.aof.manifest);
    srv.aof.on = true;
    srv.aof.current_size = size;
    srv.aof.base_size = size;
    srv.master.set_aof(true);
}

fn load_thread(core: &Arc<Core>, dir: &Path, name: &str, manifest: Manifest) {
    let started = Instant::now();
    let mut size = 0u64;
    if let Some(base) = &manifest.base {
        let t = Instant::now();
        let path = dir.join(&base.name);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    "Fatal error: can't open the append log file {} for reading: {}",
                    base.name,
                    crate::persist::os_err(&e)
                );
                std::process::exit(1);
            }
        };
        size += file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut magic = [0u8; 5];
        let is_rdb = file.read_exact(&mut magic).is_ok() && &magic == b"REDIS";
        drop(file);
        let mut start = 0;
        if is_rdb {
            tracing::info!("Reading RDB base file on AOF loading...");
            let settings = LoadSettings::new(&core.srv.lock().config);
            match crate::persist::load_file_into(core, &path, &settings) {
                Ok(len) => start = len as usize,
                Err(e) => {
                    e.log();
                    tracing::warn!(
                        "Error reading the RDB base file {}, AOF loading aborted",
                        base.name
                    );
                    std::process::exit(1);
                }
            }
            tracing::info!("Reading the remaining AOF tail...");
        }
        // A 7.0 base is an RDB or commands; a base moved in from an older AOF may be an
        // RDB preamble followed by commands.
        let last = manifest.incrs.is_empty();
        replay(core, &path, &base.name, start, last);
        tracing::info!(
            "DB loaded from base file {}: {:.3} seconds",
            base.name,
            t.elapsed().as_secs_f64()
        );
    }
    let last = manifest.incrs.len().saturating_sub(1);
    for (i, incr) in manifest.incrs.iter().enumerate() {
        let t = Instant::now();
        let path = dir.join(&incr.name);
        size += replay(core, &path, &incr.name, 0, i == last);
        tracing::info!(
            "DB loaded from incr file {}: {:.3} seconds",
            incr.name,
            t.elapsed().as_secs_f64()
        );
    }
    tracing::info!(
        "DB loaded from append only file: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    let mut srv = core.srv.lock();
    srv.aof.manifest = manifest;
    if let Some(last) = srv.aof.manifest.incrs.last() {
        tracing::info!("Opening AOF incr file {} on server start", last.name);
    }
    open_after_load(&mut srv, dir, name, size);
    srv.persist.loading = None;
    tracing::info!("Ready to accept connections");
    crate::replication_replica::after_load(&mut srv, None);
}

/// Runs the commands of one AOF file from byte `start` (past an RDB preamble); returns the
/// file's (possibly truncated) length. Only the `last` file may be cut short.
fn replay(core: &Arc<Core>, path: &Path, name: &str, start: usize, last: bool) -> u64 {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && last => return 0,
        Err(e) => {
            tracing::warn!(
                "Fatal error: can't open the append log file {name} for reading: {}",
                crate::persist::os_err(&e)
            );
            std::process::exit(1);
        }
    };
    let start = start.min(data.len());
    let mut buf = BytesMut::from(&data[start..]);
    let mut decoder = RequestDecoder::new(Limits::default());
    let mut reqs = Vec::new();
    let decoded = decoder.decode_batch(&mut buf, &mut reqs);
    // Every command starts with '*': Redis's loader takes nothing else, except
    // annotation lines starting with '#' (`#TS:` of `aof-timestamp-enabled`), which it
    // skips (the decoder reads such a line as one inline request).
    let mut offset = start;
    let mut commands = Vec::with_capacity(reqs.len());
    let mut bad = decoded.is_err();
    for req in reqs {
        match data.get(offset) {
            Some(b'*') => {
                offset += req.raw_len;
                commands.push(req);
            }
            Some(b'#') => offset += req.raw_len,
            _ => {
                bad = true;
                break;
            }
        }
    }
    let mut valid_len = offset;
    if bad {
        tracing::warn!(
            "Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
        );
        std::process::exit(1);
    }
    if offset < data.len() {
        // A command cut short at the end.
        if last && core.srv.lock().config.get_bool("aof-load-truncated") {
            tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
            tracing::warn!("!!! Truncating the AOF {name} at offset {offset} !!!");
            let truncated = OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(offset as u64));
            if let Err(e) = truncated {
                tracing::warn!(
                    "Error truncating the AOF file {name}: {}",
                    crate::persist::os_err(&e)
                );
                std::process::exit(1);
            }
            tracing::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
        } else {
            tracing::warn!(
                "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
            );
            std::process::exit(1);
        }
    }
    let mut client = pseudo_client();
    let mut out = BytesMut::new();
    for chunk in commands.chunks(1024) {
        let mut srv = core.srv.lock();
        // As Redis while loading: no key counts as expired (a SET with a time already past
        // still sets it); the cron expires them once the load is done.
        srv.ks.set_master_context(true);
        for req in chunk {
            out.clear();
            crate::cmd::execute(&mut srv, &mut client, req.args.clone(), &mut out);
        }
        srv.ks.set_master_context(false);
        crate::cmd::data::after_command(&mut srv, None);
    }
    if client.multi.is_some() {
        tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
        valid_len = offset;
    }
    valid_len as u64
}

/// The client that runs the AOF's commands (Redis's fake AOF client): replies dropped,
/// allowed while loading.
fn pseudo_client() -> crate::client::Client {
    let meta = crate::client::ConnMeta {
        addr: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        laddr: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        fd: -1,
    };
    let mut c = crate::client::Client::detached(u64::MAX, meta);
    c.is_master = true;
    c.user = "(superuser)".into();
    c
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.3.incr.aof seq 3 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().seq, 2);
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.render(), text);
        assert_eq!(m.next_incr_seq(), 4);
        assert_eq!(m.next_base_seq(), 3);
        assert!(Manifest::parse("file x seq 1 type z\n").is_none());
        assert!(Manifest::parse("file x seq\n").is_none());
        let history = Manifest::parse("file old seq 1 type h\nfile a seq 2 type b\n").unwrap();
        assert_eq!(history.base.unwrap().name, "a");
    }

    fn file() -> impl proptest::strategy::Strategy<Value = ManifestFile> {
        use proptest::strategy::Strategy;
        ("[a-z0-9._-]{1,24}", 0u64..u64::MAX).prop_map(|(name, seq)| ManifestFile { name, seq })
    }

    proptest::proptest! {
        #[test]
        fn manifests_round_trip(
            base in proptest::option::of(file()),
            incrs in proptest::collection::vec(file(), 0..6),
        ) {
            let m = Manifest { base, incrs };
            proptest::prop_assert_eq!(Manifest::parse(&m.render()), Some(m));
        }

        #[test]
        fn any_text_parses_or_is_refused(text in "(file|seq|type|[a-z0-9 .\n]){0,80}") {
            let _ = Manifest::parse(&text);
        }
    }
}
