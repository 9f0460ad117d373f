//! The command stream after the sync, without I/O: bytes in, commands with
//! offsets out.
//!
//! [`StreamReader`] decodes what the master sends with `tandem_resp`'s
//! [`RequestDecoder`] (with `from_master`: no `proto-max-bulk-len`, inline
//! commands are a protocol error) and accounts every byte to the
//! replication offset the way a Redis replica does (`Request::raw_len`
//! includes skipped bytes, so the offsets sum to the bytes read). It also
//! keeps what Redis keeps in its master client:
//!
//! * the selected database (`SELECT`), starting from the RDB's
//!   `repl-stream-db` (or the cached master's database after `+CONTINUE`);
//! * the applied offset (`reploff`), which does not move inside a
//!   `MULTI` ... `EXEC` block: the block is held back and released whole at
//!   `EXEC`, so a link lost inside a transaction resumes before its `MULTI`;
//! * `REPLCONF GETACK`, answered with the applied offset *before* the
//!   GETACK itself: Redis 7.0.15 updates `reploff` only after a command has
//!   run (`commandProcessed`), and `replicationSendAck` runs inside it
//!   (checked against redis-server 7.0.15: after `SET` + `WAIT`, the
//!   replica's ACK is 37 bytes, one GETACK, behind `master_repl_offset`).
//!
//! The server can drive the same reader for its replica role: feed it the
//! socket's bytes, run each [`StreamEvent::Command`], answer each
//! [`StreamEvent::GetAck`].

use bytes::{Bytes, BytesMut};
use tandem_resp::{Limits, ProtocolError, Request, RequestDecoder};

use crate::handler::Command;

/// What the reader found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A command to apply (transactions arrive whole, see the module docs).
    Command(Command),
    /// `REPLCONF GETACK *`: send `REPLCONF ACK <offset>` with this offset.
    GetAck {
        /// The applied offset to report.
        offset: i64,
    },
}

/// Incremental decoder of the replication stream. See the module docs.
#[derive(Debug)]
pub struct StreamReader {
    decoder: RequestDecoder,
    /// Bytes read but not decoded yet.
    buf: BytesMut,
    /// A copy of every byte not yet attributed to a request (the raw form).
    raw: BytesMut,
    db: usize,
    /// The database as of the applied offset (where a resumed stream continues).
    applied_db: usize,
    /// Offset after the last decoded request.
    decoded_offset: i64,
    /// Offset after the last request delivered outside a transaction.
    applied_offset: i64,
    /// Offset of the last byte read (decoded or not).
    read_offset: i64,
    /// A `MULTI` block waiting for its `EXEC`.
    transaction: Option<Vec<Command>>,
    scratch: Vec<Request>,
}

impl StreamReader {
    /// A reader whose stream starts after `offset`, in database `db`.
    pub fn new(offset: i64, db: usize) -> Self {
        let limits = Limits {
            from_master: true,
            ..Limits::default()
        };
        StreamReader {
            decoder: RequestDecoder::new(limits),
            buf: BytesMut::new(),
            raw: BytesMut::new(),
            db,
            applied_db: db,
            decoded_offset: offset,
            applied_offset: offset,
            read_offset: offset,
            transaction: None,
            scratch: Vec::new(),
        }
    }

    /// The selected database.
    pub fn db(&self) -> usize {
        self.db
    }

    /// The selected database as of the applied offset.
    pub fn applied_db(&self) -> usize {
        self.applied_db
    }

    /// Offset of the last applied byte (Redis's `slave_repl_offset`).
    pub fn applied_offset(&self) -> i64 {
        self.applied_offset
    }

    /// Offset of the last byte read (Redis's `slave_read_repl_offset`).
    pub fn read_offset(&self) -> i64 {
        self.read_offset
    }

    /// True while a `MULTI` block is being held back.
    pub fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    /// Append bytes read from the master.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.raw.extend_from_slice(data);
        self.read_offset += data.len() as i64;
    }

    /// Decode every complete command fed so far into `out`.
    ///
    /// On a protocol error the events before it are still in `out`; the link
    /// must be dropped (Redis closes the master connection).
    pub fn decode(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let mut requests = std::mem::take(&mut self.scratch);
        requests.clear();
        let result = self.decoder.decode_batch(&mut self.buf, &mut requests);
        for req in requests.drain(..) {
            self.accept(req, out);
        }
        self.scratch = requests;
        result
    }

    fn accept(&mut self, req: Request, out: &mut Vec<StreamEvent>) {
        let raw = self.raw.split_to(req.raw_len.min(self.raw.len())).freeze();
        self.decoded_offset += req.raw_len as i64;
        let name = req.args.first().cloned().unwrap_or_default();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());

        if is("select") {
            if let Some(db) = req
                .args
                .get(1)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|s| s.parse::<usize>().ok())
            {
                self.db = db;
            }
        }

        if let Some(mut queued) = self.transaction.take() {
            let ends = is("exec") || is("discard");
            queued.push(self.command(req.args, raw, true));
            if ends {
                self.apply();
                out.extend(queued.into_iter().map(StreamEvent::Command));
            } else {
                self.transaction = Some(queued);
            }
            return;
        }
        if is("multi") {
            self.transaction = Some(vec![self.command(req.args, raw, true)]);
            return;
        }
        if is("replconf")
            && req
                .args
                .get(1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"getack"))
        {
            out.push(StreamEvent::GetAck {
                offset: self.applied_offset,
            });
        }
        self.apply();
        let cmd = self.command(req.args, raw, false);
        out.push(StreamEvent::Command(cmd));
    }

    fn apply(&mut self) {
        self.applied_offset = self.decoded_offset;
        self.applied_db = self.db;
    }

    fn command(&self, args: Vec<Bytes>, raw: Bytes, in_transaction: bool) -> Command {
        Command {
            args,
            raw,
            db: self.db,
            offset: self.decoded_offset,
            in_transaction,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn enc(args: &[&str]) -> Vec<u8> {
        let mut out = BytesMut::new();
        tandem_resp::encode_command(args, &mut out);
        out.to_vec()
    }

    fn commands(ev: &[StreamEvent]) -> Vec<(String, usize, i64, bool)> {
        ev.iter()
            .filter_map(|e| match e {
                StreamEvent::Command(c) => Some((c.name(), c.db, c.offset, c.in_transaction)),
                StreamEvent::GetAck { .. } => None,
            })
            .collect()
    }

    #[test]
    fn offsets_select_and_raw_bytes() {
        let mut r = StreamReader::new(100, 3);
        let a = enc(&["SET", "k", "v"]);
        let b = enc(&["SELECT", "5"]);
        let c = enc(&["DEL", "k"]);
        let mut all = a.clone();
        all.extend(&b);
        all.extend(&c);
        let mut ev = Vec::new();
        // Byte by byte: nothing is lost or counted twice.
        for byte in &all {
            r.feed(std::slice::from_ref(byte));
            r.decode(&mut ev).unwrap();
        }
        let got = commands(&ev);
        let o1 = 100 + a.len() as i64;
        let o2 = o1 + b.len() as i64;
        let o3 = o2 + c.len() as i64;
        assert_eq!(
            got,
            vec![
                ("set".into(), 3, o1, false),
                ("select".into(), 5, o2, false),
                ("del".into(), 5, o3, false)
            ]
        );
        let raws: Vec<u8> = ev
            .iter()
            .flat_map(|e| match e {
                StreamEvent::Command(c) => c.raw.to_vec(),
                StreamEvent::GetAck { .. } => Vec::new(),
            })
            .collect();
        assert_eq!(raws, all);
        assert_eq!(r.applied_offset(), o3);
        assert_eq!(r.read_offset(), o3);
    }

    #[test]
    fn getack_reports_offset_before_itself() {
        let mut r = StreamReader::new(0, 0);
        let set = enc(&["SET", "a", "b"]);
        let getack = enc(&["REPLCONF", "GETACK", "*"]);
        assert_eq!(getack.len(), 37);
        r.feed(&set);
        r.feed(&getack);
        let mut ev = Vec::new();
        r.decode(&mut ev).unwrap();
        assert_eq!(
            ev[1],
            StreamEvent::GetAck {
                offset: set.len() as i64
            }
        );
        assert_eq!(r.applied_offset(), (set.len() + getack.len()) as i64);
    }

    #[test]
    fn transactions_are_held_until_exec() {
        let mut r = StreamReader::new(0, 0);
        let multi = enc(&["MULTI"]);
        let set = enc(&["SET", "a", "b"]);
        let exec = enc(&["EXEC"]);
        let mut ev = Vec::new();
        r.feed(&multi);
        r.feed(&set);
        r.decode(&mut ev).unwrap();
        assert!(ev.is_empty());
        assert!(r.in_transaction());
        assert_eq!(r.applied_offset(), 0);
        assert_eq!(r.read_offset(), (multi.len() + set.len()) as i64);
        r.feed(&exec);
        r.decode(&mut ev).unwrap();
        let got = commands(&ev);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|c| c.3));
        assert_eq!(
            r.applied_offset(),
            (multi.len() + set.len() + exec.len()) as i64
        );
    }

    #[test]
    fn inline_from_master_is_an_error_but_newlines_count() {
        let mut r = StreamReader::new(0, 0);
        let mut ev = Vec::new();
        r.feed(b"\n");
        let ping = enc(&["PING"]);
        r.feed(&ping);
        r.decode(&mut ev).unwrap();
        assert_eq!(commands(&ev)[0].2, 1 + ping.len() as i64);
        r.feed(b"SET a b\r\n");
        assert!(r.decode(&mut ev).is_err());
    }
}
