//! The RDB payload of a full sync, without socket I/O: header, bytes in,
//! items out, optional temp file.
//!
//! After `+FULLRESYNC` the master sends newlines while it prepares the
//! payload, then `$<len>\r\n` followed by exactly `len` bytes (disk-based
//! sync), or `$EOF:<40 bytes>\r\n` followed by the RDB and the same 40 bytes
//! (diskless sync). [`read_header_line`] classifies one line;
//! [`Transfer::feed`] takes the bytes that follow, hands them to
//! `tandem_rdb`'s streaming [`Decoder`] (which keeps only the record being
//! parsed, so memory stays bounded whatever the payload size), calls back
//! per item, and writes them to a [`TempRdb`] when asked. It says where the
//! payload ended in the last chunk: the bytes after it are the start of the
//! command stream.
//!
//! End detection follows Redis: a sized payload ends after `len` bytes; a
//! diskless one ends when the decoder has read the RDB and the mark, or,
//! without a decoder, when the last 40 bytes received equal the mark (Redis's
//! `lastbytes` check), and the file is then truncated by 40 bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tandem_rdb::{Decoder, Item};
use tandem_resp::{parse_rdb_bulk_header, DecodeError, RdbBulkHeader};

use crate::error::FollowerError;

/// Redis flushes the received payload to disk every 8 MB (`REPL_MAX_WRITTEN_BEFORE_FSYNC`),
/// so the final fsync does not wait for the whole file.
pub const FSYNC_EVERY: u64 = 8 * 1024 * 1024;

/// Size of the diskless EOF mark.
pub const EOF_MARK_LEN: usize = 40;

/// What one line read while waiting for the payload means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderLine {
    /// An empty line: the master's keepalive while it prepares the payload.
    KeepAlive,
    /// The payload header.
    Header(RdbBulkHeader),
}

/// Classify one line (without its `\n`) received before the payload.
pub fn read_header_line(line: &[u8]) -> Result<HeaderLine, FollowerError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Ok(HeaderLine::KeepAlive);
    }
    let text = || String::from_utf8_lossy(line).into_owned();
    let mut with_nl = line.to_vec();
    with_nl.extend_from_slice(b"\r\n");
    match parse_rdb_bulk_header(&with_nl) {
        Ok(Some((header, _))) => Ok(HeaderLine::Header(header)),
        Err(DecodeError::MasterError(msg)) => Err(FollowerError::MasterAborted(msg)),
        Ok(None) | Err(_) => Err(FollowerError::BadBulkHeader(text())),
    }
}

/// A payload being written to `temp-<unixtime>.<pid>.rdb`, removed on drop
/// unless [`TempRdb::finish`] renamed it.
#[derive(Debug)]
pub struct TempRdb {
    file: File,
    tmp_path: PathBuf,
    final_path: PathBuf,
    written: u64,
    last_fsync: u64,
    /// The periodic flush in flight. Redis starts it without waiting
    /// (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`); here an `fdatasync` on a
    /// short-lived thread, so the caller (the replica's I/O thread) never blocks on the
    /// disk before [`TempRdb::finish`]. About 5 ms per 8 MB measured on the 2-core VM.
    flushing: Option<std::thread::JoinHandle<io::Result<()>>>,
    finished: bool,
}

impl TempRdb {
    /// The temp file name Redis uses for this second and process.
    pub fn temp_name() -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("temp-{now}.{}.rdb", std::process::id())
    }

    /// Create the temp file in `dir` (`O_CREAT|O_EXCL`); `final_name` is the
    /// name it gets once complete.
    pub fn create(dir: &Path, final_name: &str) -> io::Result<Self> {
        let tmp_path = dir.join(Self::temp_name());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)?;
        Ok(TempRdb {
            file,
            tmp_path,
            final_path: dir.join(final_name),
            written: 0,
            last_fsync: 0,
            flushing: None,
            finished: false,
        })
    }

    /// Path of the temp file.
    pub fn temp_path(&self) -> &Path {
        &self.tmp_path
    }

    /// Append bytes, starting a background flush every [`FSYNC_EVERY`] bytes (skipped
    /// while the previous one runs; a failed flush fails a later write or the finish).
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.written += data.len() as u64;
        if self.written >= self.last_fsync + FSYNC_EVERY {
            if self.flushing.as_ref().is_some_and(|h| !h.is_finished()) {
                return Ok(());
            }
            self.join_flush()?;
            let file = self.file.try_clone()?;
            let spawned = std::thread::Builder::new()
                .name("repl-fsync".into())
                .spawn(move || file.sync_data());
            match spawned {
                Ok(handle) => self.flushing = Some(handle),
                // No thread to spare: flush here, as before.
                Err(_) => self.file.sync_data()?,
            }
            self.last_fsync = self.written;
        }
        Ok(())
    }

    /// Waits for the flush in flight, if any, and returns its outcome.
    fn join_flush(&mut self) -> io::Result<()> {
        match self.flushing.take() {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the fsync thread panicked"))),
            None => Ok(()),
        }
    }

    /// Drop the last `n` bytes written (the diskless EOF mark).
    pub fn truncate_tail(&mut self, n: u64) -> io::Result<()> {
        self.written = self.written.saturating_sub(n);
        self.file.set_len(self.written)
    }

    /// fsync, rename to the final name, fsync the directory; returns the final path.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        self.join_flush()?;
        self.file.sync_all()?;
        fs::rename(&self.tmp_path, &self.final_path)?;
        self.finished = true;
        if let Some(dir) = self.final_path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            File::open(dir)?.sync_all()?;
        }
        Ok(self.final_path.clone())
    }
}

impl Drop for TempRdb {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

/// Result of feeding a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// The payload continues: every byte of the chunk belonged to it.
    More,
    /// The payload ended after this many bytes of the chunk; the rest is stream.
    Done {
        /// Bytes of the chunk that belonged to the payload.
        consumed: usize,
    },
}

/// One payload being received. See the module docs.
#[derive(Debug)]
pub struct Transfer {
    header: RdbBulkHeader,
    /// Bytes of the payload received (for the diskless form, mark included).
    received: u64,
    /// The last 40 bytes received (diskless form).
    last: Vec<u8>,
    decoder: Option<Decoder>,
    file: Option<TempRdb>,
    stream_db: Option<usize>,
}

impl Transfer {
    /// A transfer announced by `header`; `decode` to get items, `file` to keep a copy.
    pub fn new(
        header: RdbBulkHeader,
        decode: bool,
        verify_checksum: bool,
        file: Option<TempRdb>,
    ) -> Self {
        let decoder = decode.then(|| {
            let d = match header {
                RdbBulkHeader::Len(len) => Decoder::new().with_payload_len(len),
                RdbBulkHeader::Eof(mark) => Decoder::new_eof_marked(mark),
            };
            d.with_checksum_verification(verify_checksum)
        });
        Transfer {
            header,
            received: 0,
            last: Vec::with_capacity(EOF_MARK_LEN),
            decoder,
            file,
            stream_db: None,
        }
    }

    /// Payload bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Payload size without the diskless mark (final once [`Fed::Done`]).
    pub fn payload_bytes(&self) -> u64 {
        match self.header {
            RdbBulkHeader::Len(_) => self.received,
            RdbBulkHeader::Eof(_) => self.received.saturating_sub(EOF_MARK_LEN as u64),
        }
    }

    /// The RDB's `repl-stream-db` aux field, when decoded.
    pub fn stream_db(&self) -> Option<usize> {
        self.stream_db
    }

    /// Take the temp file (to finish it once the transfer is done).
    pub fn take_file(&mut self) -> Option<TempRdb> {
        self.file.take()
    }

    /// Feed the next chunk read from the socket; `on_item` gets every item decoded, with
    /// the RDB object type byte of a key's value (`None` for other items).
    pub fn feed(
        &mut self,
        data: &[u8],
        on_item: &mut dyn FnMut(Item, Option<u8>),
    ) -> Result<Fed, FollowerError> {
        match self.header {
            RdbBulkHeader::Len(len) => {
                let left = len - self.received;
                let take = usize::try_from(left).map_or(data.len(), |l| l.min(data.len()));
                let part = &data[..take];
                self.received += take as u64;
                if let Some(trailing) = self.decode(part, on_item)? {
                    if trailing > 0 {
                        // The RDB ended before the announced length.
                        let offset = self.received - trailing as u64;
                        return Err(tandem_rdb::Error::LengthMismatch {
                            offset,
                            expected: len,
                        }
                        .into());
                    }
                }
                self.write(part)?;
                if self.received < len {
                    return Ok(Fed::More);
                }
                if let Some(d) = &self.decoder {
                    d.finish()?;
                }
                Ok(Fed::Done { consumed: take })
            }
            RdbBulkHeader::Eof(mark) => {
                let consumed = match self.decode(data, on_item)? {
                    Some(trailing) => data.len() - trailing,
                    None => data.len(),
                };
                let part = &data[..consumed];
                self.received += consumed as u64;
                self.write(part)?;
                self.remember_tail(part);
                let decoder_done = self.decoder.as_ref().map(Decoder::is_done);
                let mark_seen = self.last[..] == mark[..];
                match decoder_done {
                    Some(true) => {}
                    Some(false) if mark_seen => {
                        // The mark arrived but the RDB did not end before it.
                        if let Some(d) = &self.decoder {
                            d.finish()?;
                        }
                        return Err(FollowerError::BadEofMark);
                    }
                    Some(false) => return Ok(Fed::More),
                    None if mark_seen => {}
                    None => return Ok(Fed::More),
                }
                if let Some(f) = &mut self.file {
                    f.truncate_tail(EOF_MARK_LEN as u64)
                        .map_err(FollowerError::TempFile)?;
                }
                Ok(Fed::Done { consumed })
            }
        }
    }

    /// Feed the decoder and drain its items; returns the trailing byte count once done.
    fn decode(
        &mut self,
        data: &[u8],
        on_item: &mut dyn FnMut(Item, Option<u8>),
    ) -> Result<Option<usize>, FollowerError> {
        let Some(d) = &mut self.decoder else {
            return Ok(None);
        };
        d.feed(data);
        while let Some(item) = d.next_item()? {
            if let Item::Aux { key, value } = &item {
                if &key[..] == b"repl-stream-db" {
                    self.stream_db = std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse::<usize>().ok());
                }
            }
            let object_type = match item {
                Item::Entry(_) => d.last_object_type(),
                _ => None,
            };
            on_item(item, object_type);
        }
        Ok(d.is_done().then(|| d.trailing().len()))
    }

    fn write(&mut self, data: &[u8]) -> Result<(), FollowerError> {
        match &mut self.file {
            Some(f) if !data.is_empty() => f.write(data).map_err(FollowerError::TempFile),
            _ => Ok(()),
        }
    }

    fn remember_tail(&mut self, data: &[u8]) {
        if data.len() >= EOF_MARK_LEN {
            self.last.clear();
            self.last
                .extend_from_slice(&data[data.len() - EOF_MARK_LEN..]);
        } else {
            self.last.extend_from_slice(data);
            let excess = self.last.len().saturating_sub(EOF_MARK_LEN);
            self.last.drain(..excess);
        }
    }
}

/// Read the aux fields at the start of a saved RDB file and return its
/// `repl-stream-db` (used when the payload was saved but not decoded).
pub fn stream_db_of_file(path: &Path) -> Option<usize> {
    use std::io::Read;
    let mut file = File::open(path).ok()?;
    let mut d = Decoder::new().with_checksum_verification(false);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        d.feed(&buf[..n]);
        loop {
            match d.next_item() {
                Ok(Some(Item::Aux { key, value })) => {
                    if &key[..] == b"repl-stream-db" {
                        return std::str::from_utf8(&value).ok()?.parse().ok();
                    }
                }
                Ok(Some(_)) | Err(_) => return None,
                Ok(None) => break,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tandem_rdb::{encode_to_vec, AuxFields, EncodeOptions, Entry, Rdb, RdbValue};

    #[test]
    fn a_large_payload_is_flushed_in_the_background_and_complete_after_finish() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = TempRdb::create(dir.path(), "dump.rdb").unwrap();
        let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        for _ in 0..20 {
            t.write(&chunk).unwrap();
        }
        assert!(t.last_fsync >= FSYNC_EVERY, "a flush was started");
        let path = t.finish().unwrap();
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len(), 20 * chunk.len());
        assert_eq!(&back[..chunk.len()], &chunk[..]);
        assert_eq!(&back[19 * chunk.len()..], &chunk[..]);
    }

    fn sample() -> Vec<u8> {
        let mut rdb = Rdb {
            aux: AuxFields::default().to_pairs(),
            ..Rdb::default()
        };
        rdb.aux.push(("repl-stream-db".into(), "2".into()));
        for i in 0..50 {
            rdb.entries.push(Entry::new(
                0,
                format!("key:{i}"),
                RdbValue::String(format!("value {i}").into()),
            ));
        }
        encode_to_vec(&rdb, &EncodeOptions::default()).unwrap()
    }

    fn keys(items: &[Item]) -> usize {
        items.iter().filter(|i| matches!(i, Item::Entry(_))).count()
    }

    #[test]
    fn header_lines() {
        assert_eq!(read_header_line(b"").unwrap(), HeaderLine::KeepAlive);
        assert_eq!(
            read_header_line(b"$123\r").unwrap(),
            HeaderLine::Header(RdbBulkHeader::Len(123))
        );
        let mark = [b'a'; 40];
        let mut line = b"$EOF:".to_vec();
        line.extend_from_slice(&mark);
        assert_eq!(
            read_header_line(&line).unwrap(),
            HeaderLine::Header(RdbBulkHeader::Eof(mark))
        );
        assert!(matches!(
            read_header_line(b"+PONG"),
            Err(FollowerError::BadBulkHeader(s)) if s == "+PONG"
        ));
        assert!(matches!(
            read_header_line(b"-ERR nope"),
            Err(FollowerError::MasterAborted(s)) if s == "ERR nope"
        ));
        assert!(read_header_line(b"$x12").is_err());
    }

    #[test]
    fn sized_payload_in_chunks_with_stream_after() {
        let rdb = sample();
        let dir = tempfile::tempdir().unwrap();
        let file = TempRdb::create(dir.path(), "dump.rdb").unwrap();
        let tmp = file.temp_path().to_owned();
        let mut t = Transfer::new(RdbBulkHeader::Len(rdb.len() as u64), true, true, Some(file));
        let mut data = rdb.clone();
        data.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let mut items = Vec::new();
        let mut done = None;
        for (i, chunk) in data.chunks(7).enumerate() {
            if let Fed::Done { consumed } = t.feed(chunk, &mut |it, _| items.push(it)).unwrap() {
                done = Some(i * 7 + consumed);
                break;
            }
        }
        assert_eq!(done, Some(rdb.len()));
        assert_eq!(keys(&items), 50);
        assert_eq!(t.stream_db(), Some(2));
        let path = t.take_file().unwrap().finish().unwrap();
        assert!(!tmp.exists());
        assert_eq!(std::fs::read(&path).unwrap(), rdb);
        assert_eq!(stream_db_of_file(&path), Some(2));
    }

    #[test]
    fn eof_marked_payload_with_and_without_decoder() {
        let rdb = sample();
        let mark = [b'z'; 40];
        let mut data = rdb.clone();
        data.extend_from_slice(&mark);
        for decode in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let file = TempRdb::create(dir.path(), "dump.rdb").unwrap();
            let mut t = Transfer::new(RdbBulkHeader::Eof(mark), decode, true, Some(file));
            let mut items = Vec::new();
            let mut end = None;
            for chunk in data.chunks(13) {
                if let Fed::Done { consumed } = t.feed(chunk, &mut |it, _| items.push(it)).unwrap()
                {
                    end = Some(consumed);
                }
            }
            assert!(end.is_some());
            assert_eq!(t.payload_bytes(), rdb.len() as u64);
            assert_eq!(keys(&items), if decode { 50 } else { 0 });
            let path = t.take_file().unwrap().finish().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), rdb);
        }
    }

    #[test]
    fn truncated_or_corrupt_payload_fails_and_removes_temp_file() {
        let rdb = sample();
        let dir = tempfile::tempdir().unwrap();
        let file = TempRdb::create(dir.path(), "dump.rdb").unwrap();
        let tmp = file.temp_path().to_owned();
        // Announced longer than the RDB: the decoder sees the RDB end early.
        let mut t = Transfer::new(
            RdbBulkHeader::Len(rdb.len() as u64 + 5),
            true,
            true,
            Some(file),
        );
        let mut data = rdb.clone();
        data.extend_from_slice(b"xxxxx");
        let r = t.feed(&data, &mut |_, _| {});
        assert!(r.is_err());
        drop(t);
        assert!(!tmp.exists());

        // A flipped byte: checksum or structure error.
        let mut bad = rdb.clone();
        let n = bad.len();
        bad[n - 12] ^= 0xff;
        let mut t = Transfer::new(RdbBulkHeader::Len(n as u64), true, true, None);
        assert!(t.feed(&bad, &mut |_, _| {}).is_err());
    }
}
