//! Server-side request decoder: multibulk and inline commands, Redis 7.0.15 rules.
//!
//! [`RequestDecoder::decode_batch`] takes everything a connection has read so
//! far and turns every complete request in it into a [`Request`]. It mirrors
//! Redis's `processInputBuffer`: a request starting with `*` is multibulk
//! (`processMultibulkBuffer`), anything else is inline (`processInlineBuffer`),
//! with the same limits, the same error replies and the same leniencies (the
//! two bytes after a bulk payload are skipped unchecked, a header line ends at
//! its `\r` whatever byte follows it, a NUL byte hides the rest of the buffer
//! from the line search).
//!
//! The decoder is resumable: a request that arrives in many reads is never
//! rescanned from its start. Between calls it remembers how many arguments
//! it has already taken, the length of the bulk it is waiting for, and how
//! far it has searched for a line end. Arguments are zero-copy: consumed bytes
//! are split off the read buffer, frozen, and sliced.

use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::inline::split_args;
use crate::limits::{Limits, UNAUTHENTICATED_MAX_BULK_LEN, UNAUTHENTICATED_MAX_MULTIBULK_LEN};
use crate::num::string2ll;

/// One decoded request: the argument vector (zero-copy slices of the read buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The arguments, command name first. Never empty.
    pub args: Vec<Bytes>,
    /// Number of raw bytes this request occupied in the input, including any
    /// bytes skipped just before it (empty inline lines, `*0`/`*-1` headers), so
    /// that the sum over requests is the number of bytes consumed: exactly how
    /// a Redis replica advances its replication offset.
    pub raw_len: usize,
    /// True for inline (telnet-style) requests.
    pub inline: bool,
}

/// A multibulk request whose arguments are still arriving.
#[derive(Debug)]
struct Partial {
    /// Arguments still expected (Redis's `multibulklen`).
    remaining: u64,
    /// Arguments already taken, materialised at the end of earlier calls.
    args: Vec<Bytes>,
    /// Bytes of this request consumed by earlier calls.
    consumed: usize,
    /// Length of the bulk whose header has been read (Redis's `bulklen`).
    bulk_len: Option<usize>,
}

/// Why a scan for a line end stopped.
enum Line {
    /// Found the delimiter at this absolute index.
    Found(usize),
    /// Not found (or hidden behind a NUL byte); everything before `scanned`
    /// (absolute) is known not to contain it.
    Missing { scanned: usize },
}

/// Stateful request decoder for a server connection.
///
/// Feed it the connection's read buffer after every read; it consumes whole
/// requests (and the already-parsed prefix of a partial one) from the front of
/// the buffer. Between calls the caller may only append to the buffer.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    /// The limits in force; the server updates `unauthenticated` after AUTH/HELLO.
    pub limits: Limits,
    partial: Option<Partial>,
    /// Bytes at the front of the buffer already known not to hold the line end
    /// being searched for.
    scanned: usize,
    /// Bytes consumed without producing a request, credited to the next one.
    skipped: usize,
    /// Bytes still missing for the bulk being awaited, as of the last call.
    needed: Option<usize>,
    /// Scratch: argument ranges found by the current call, reused to avoid allocating.
    ranges: Vec<(usize, usize)>,
}

impl RequestDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        RequestDecoder {
            limits,
            ..RequestDecoder::default()
        }
    }

    /// When the last call stopped inside a bulk payload: how many more bytes
    /// must be appended to the buffer before that bulk is complete (payload
    /// plus its 2-byte terminator). The caller can `reserve` this much so a
    /// large argument lands in one allocation.
    pub fn needed(&self) -> Option<usize> {
        self.needed
    }

    /// True when a multibulk request has been started but not finished.
    pub fn in_progress(&self) -> bool {
        self.partial.is_some()
    }

    /// Forget any partial request (e.g. after the caller discarded the buffer).
    pub fn reset(&mut self) {
        self.partial = None;
        self.scanned = 0;
        self.skipped = 0;
        self.needed = None;
    }

    /// Decode every complete request in `buf`, splitting consumed bytes off it
    /// and pushing requests to `out`.
    ///
    /// On a protocol error the requests decoded before it are still in `out`;
    /// execute them, send the error (see [`ProtocolError::sends_reply`]) and
    /// close the connection, as Redis does.
    ///
    /// With `limits.unauthenticated`, a request that breaks the unauthenticated
    /// limits after at least one request decoded by this call is left in the
    /// buffer instead of failing: the requests before it may be the AUTH or
    /// HELLO that lifts the limit. So after executing `out`, call again if the
    /// buffer is not empty.
    pub fn decode_batch(
        &mut self,
        buf: &mut BytesMut,
        out: &mut Vec<Request>,
    ) -> Result<(), ProtocolError> {
        self.needed = None;
        let mut produced = 0usize;
        loop {
            if self.partial.is_none() {
                let Some(&first) = buf.first() else {
                    return Ok(());
                };
                if first != b'*' {
                    match self.inline(buf)? {
                        Some(Some(req)) => {
                            out.push(req);
                            produced += 1;
                            continue;
                        }
                        Some(None) => continue,
                        None => return Ok(()),
                    }
                }
            }
            match self.multibulk(buf) {
                Ok(Some(Some(req))) => {
                    out.push(req);
                    produced += 1;
                }
                Ok(Some(None)) => {}
                Ok(None) => return Ok(()),
                Err(
                    e @ (ProtocolError::UnauthenticatedBulkLength
                    | ProtocolError::UnauthenticatedMultibulkLength),
                ) => {
                    if produced > 0 {
                        // The request began in this call (a carried-over one would
                        // have had to finish first), so nothing of it was split off:
                        // forget it and let the caller run AUTH first.
                        self.partial = None;
                        self.scanned = 0;
                        self.needed = None;
                        return Ok(());
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Search `buf[from..]` for `delim` the way `strchr` does on Redis's
    /// NUL-terminated query buffer: a NUL byte ends the search.
    fn find_line(&self, buf: &[u8], start: usize, delim: u8) -> Line {
        let from = start + self.scanned;
        match buf
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == delim || b == 0))
        {
            Some(i) if buf[from + i] == delim => Line::Found(from + i),
            // Stop on the NUL itself so the next call finds it again.
            Some(i) => Line::Missing { scanned: from + i },
            None => Line::Missing {
                scanned: buf.len().max(from),
            },
        }
    }

    /// `processInlineBuffer`. `Ok(None)`: incomplete; `Ok(Some(None))`: an empty
    /// line was consumed; `Ok(Some(Some(req)))`: a request.
    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Option<Request>>, ProtocolError> {
        let newline = match self.find_line(buf, 0, b'\n') {
            Line::Found(i) => i,
            Line::Missing { scanned } => {
                if buf.len() > self.limits.max_inline_len {
                    return Err(ProtocolError::TooBigInlineRequest);
                }
                self.scanned = scanned;
                return Ok(None);
            }
        };
        let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        let line = &buf[..line_end];
        let args = split_args(line)?;
        if !line.is_empty() && self.limits.from_master {
            return Err(ProtocolError::MasterInline);
        }
        let consumed = newline + 1;
        let _ = buf.split_to(consumed);
        self.scanned = 0;
        if args.is_empty() {
            self.skipped += consumed;
            return Ok(Some(None));
        }
        let raw_len = consumed + std::mem::take(&mut self.skipped);
        Ok(Some(Some(Request {
            args: args.into_iter().map(Bytes::from).collect(),
            raw_len,
            inline: true,
        })))
    }

    /// `processMultibulkBuffer`, resumable. Same return convention as `inline`.
    fn multibulk(&mut self, buf: &mut BytesMut) -> Result<Option<Option<Request>>, ProtocolError> {
        // Parse position inside `buf`; everything before it belongs to the
        // current request and is split off when the request completes or the
        // call ends.
        let mut pos = 0usize;

        let mut partial = match self.partial.take() {
            Some(p) => p,
            None => {
                let cr = match self.find_line(buf, 0, b'\r') {
                    Line::Found(i) if i + 1 < buf.len() => i,
                    Line::Found(i) => {
                        self.scanned = i;
                        return Ok(None);
                    }
                    Line::Missing { scanned } => {
                        if buf.len() > self.limits.max_inline_len {
                            return Err(ProtocolError::TooBigMultibulkCount);
                        }
                        self.scanned = scanned;
                        return Ok(None);
                    }
                };
                let count = match string2ll(&buf[1..cr]) {
                    Some(n) if n <= self.limits.max_multibulk_len => n,
                    _ => return Err(ProtocolError::InvalidMultibulkLength),
                };
                if count > UNAUTHENTICATED_MAX_MULTIBULK_LEN && self.limits.unauthenticated {
                    return Err(ProtocolError::UnauthenticatedMultibulkLength);
                }
                self.scanned = 0;
                pos = cr + 2;
                if count <= 0 {
                    let _ = buf.split_to(pos);
                    self.skipped += pos;
                    return Ok(Some(None));
                }
                Partial {
                    remaining: count as u64,
                    args: Vec::with_capacity((count as usize).min(1024)),
                    consumed: 0,
                    bulk_len: None,
                }
            }
        };

        let mut ranges = std::mem::take(&mut self.ranges);
        ranges.clear();
        let result = loop {
            if partial.remaining == 0 {
                break Ok(true);
            }
            let len = match partial.bulk_len {
                Some(len) => len,
                None => {
                    let cr = match self.find_line(buf, pos, b'\r') {
                        Line::Found(i) if i + 1 < buf.len() => i,
                        Line::Found(i) => {
                            self.scanned = i - pos;
                            break Ok(false);
                        }
                        Line::Missing { scanned } => {
                            if buf.len() - pos > self.limits.max_inline_len {
                                break Err(ProtocolError::TooBigBulkCount);
                            }
                            self.scanned = scanned - pos;
                            break Ok(false);
                        }
                    };
                    if buf[pos] != b'$' {
                        break Err(ProtocolError::ExpectedDollar(buf[pos]));
                    }
                    let len = match string2ll(&buf[pos + 1..cr]) {
                        Some(n)
                            if n >= 0
                                && (self.limits.from_master || n <= self.limits.max_bulk_len) =>
                        {
                            n
                        }
                        _ => break Err(ProtocolError::InvalidBulkLength),
                    };
                    if len > UNAUTHENTICATED_MAX_BULK_LEN && self.limits.unauthenticated {
                        break Err(ProtocolError::UnauthenticatedBulkLength);
                    }
                    let Ok(len) = usize::try_from(len) else {
                        break Err(ProtocolError::InvalidBulkLength);
                    };
                    self.scanned = 0;
                    pos = cr + 2;
                    partial.bulk_len = Some(len);
                    len
                }
            };
            // Payload plus the two bytes Redis skips without looking at them.
            let Some(end) = pos.checked_add(len).and_then(|e| e.checked_add(2)) else {
                break Err(ProtocolError::InvalidBulkLength);
            };
            if buf.len() < end {
                self.needed = Some(end - buf.len());
                break Ok(false);
            }
            ranges.push((pos, pos + len));
            pos = end;
            partial.bulk_len = None;
            partial.remaining -= 1;
        };

        let outcome = self.finish_multibulk(buf, result, partial, pos, &ranges);
        self.ranges = ranges;
        outcome
    }

    /// Split off what the multibulk parse consumed and build the request when complete.
    fn finish_multibulk(
        &mut self,
        buf: &mut BytesMut,
        result: Result<bool, ProtocolError>,
        mut partial: Partial,
        pos: usize,
        ranges: &[(usize, usize)],
    ) -> Result<Option<Option<Request>>, ProtocolError> {
        match result {
            Err(e) => Err(e),
            Ok(done) => {
                if pos > 0 {
                    let chunk = buf.split_to(pos).freeze();
                    partial
                        .args
                        .extend(ranges.iter().map(|&(s, e)| chunk.slice(s..e)));
                    partial.consumed += pos;
                }
                if done {
                    Ok(Some(Some(Request {
                        args: partial.args,
                        raw_len: partial.consumed + std::mem::take(&mut self.skipped),
                        inline: false,
                    })))
                } else {
                    self.partial = Some(partial);
                    Ok(None)
                }
            }
        }
    }
}
