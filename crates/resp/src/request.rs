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
//! far it has searched for a line end. Arguments are zero-copy: a call parses
//! positions only, then splits everything it consumed off the read buffer in
//! one go, freezes it, and hands out slices of it.

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
    /// Arguments materialised by earlier calls.
    args: Vec<Bytes>,
    /// Bytes of this request consumed by earlier calls.
    consumed: usize,
    /// Length of the bulk whose header has been read (Redis's `bulklen`).
    bulk_len: Option<usize>,
    /// Where this request's bytes start in the current call's buffer.
    start: usize,
    /// Index in `ranges` of this request's first argument found by the current call.
    first_range: usize,
}

/// Why a scan for a line end stopped.
enum Line {
    /// Found the delimiter at this index.
    Found(usize),
    /// Not found (or hidden behind a NUL byte); everything before index
    /// `scanned` is known not to contain it.
    Missing { scanned: usize },
}

/// What one step of the parse produced.
enum Step {
    /// A complete request (pushed to `out`).
    Request,
    /// Bytes consumed without producing a request (empty line, `*0`).
    Skipped,
    /// The buffer ends inside a request.
    Incomplete,
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
    /// Scratch, reused across calls: argument ranges found by the current call.
    ranges: Vec<(usize, usize)>,
    /// Scratch: requests pushed by the current call whose arguments are still
    /// ranges: (index in `out`, range of indexes in `ranges`).
    fixups: Vec<(usize, usize, usize)>,
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

    /// Bytes of the unfinished multibulk request already consumed from the
    /// buffer (its parsed prefix). Add it to the buffer's length when enforcing
    /// `client-query-buffer-limit`, since Redis keeps those bytes in its query buffer.
    pub fn partial_len(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.consumed)
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
        self.ranges.clear();
        self.fixups.clear();
        if let Some(p) = &mut self.partial {
            p.start = 0;
            p.first_range = 0;
        }
        let mut pos = 0usize;
        let mut produced = 0usize;
        let result = loop {
            if pos == buf.len() && self.partial.is_none() {
                break Ok(());
            }
            let step = if self.partial.is_none() && buf[pos] != b'*' {
                self.inline(buf, &mut pos, out)
            } else {
                self.multibulk(buf, &mut pos, out)
            };
            match step {
                Ok(Step::Request) => produced += 1,
                Ok(Step::Skipped) => {}
                Ok(Step::Incomplete) => break Ok(()),
                Err(
                    ProtocolError::UnauthenticatedBulkLength
                    | ProtocolError::UnauthenticatedMultibulkLength,
                ) if produced > 0 => {
                    // The request began in this call (a carried-over one would have
                    // had to finish first): leave it in the buffer and let the caller
                    // run the requests before it, which may be the AUTH that lifts
                    // the limit.
                    if let Some(p) = self.partial.take() {
                        pos = p.start;
                        self.ranges.truncate(p.first_range);
                    }
                    self.scanned = 0;
                    self.needed = None;
                    break Ok(());
                }
                Err(e) => {
                    self.partial = None;
                    break Err(e);
                }
            }
        };
        self.materialise(buf, pos, out);
        result
    }

    /// Split the `pos` consumed bytes off `buf` and turn argument ranges into slices.
    fn materialise(&mut self, buf: &mut BytesMut, pos: usize, out: &mut [Request]) {
        if pos == 0 {
            return;
        }
        if self.ranges.is_empty() {
            let _ = buf.split_to(pos);
        } else {
            let chunk = buf.split_to(pos).freeze();
            for &(idx, from, to) in &self.fixups {
                if let Some(req) = out.get_mut(idx) {
                    req.args.extend(
                        self.ranges[from..to]
                            .iter()
                            .map(|&(s, e)| chunk.slice(s..e)),
                    );
                }
            }
            if let Some(p) = &mut self.partial {
                p.args.extend(
                    self.ranges[p.first_range..]
                        .iter()
                        .map(|&(s, e)| chunk.slice(s..e)),
                );
            }
        }
        if let Some(p) = &mut self.partial {
            p.consumed += pos - p.start;
        }
    }

    /// Search `buf[start..]` for `delim` the way `strchr` does on Redis's
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

    /// `processInlineBuffer`.
    fn inline(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
        out: &mut Vec<Request>,
    ) -> Result<Step, ProtocolError> {
        let start = *pos;
        let newline = match self.find_line(buf, start, b'\n') {
            Line::Found(i) => i,
            Line::Missing { scanned } => {
                if buf.len() - start > self.limits.max_inline_len {
                    return Err(ProtocolError::TooBigInlineRequest);
                }
                self.scanned = scanned - start;
                return Ok(Step::Incomplete);
            }
        };
        let line_end = if newline > start && buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        let line = &buf[start..line_end];
        let args = split_args(line)?;
        if !line.is_empty() && self.limits.from_master {
            return Err(ProtocolError::MasterInline);
        }
        let consumed = newline + 1 - start;
        *pos = newline + 1;
        self.scanned = 0;
        if args.is_empty() {
            self.skipped += consumed;
            return Ok(Step::Skipped);
        }
        out.push(Request {
            args: args.into_iter().map(Bytes::from).collect(),
            raw_len: consumed + std::mem::take(&mut self.skipped),
            inline: true,
        });
        Ok(Step::Request)
    }

    /// `processMultibulkBuffer`, resumable.
    fn multibulk(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
        out: &mut Vec<Request>,
    ) -> Result<Step, ProtocolError> {
        let mut p = match self.partial.take() {
            Some(p) => p,
            None => {
                let start = *pos;
                let cr = match self.find_line(buf, start, b'\r') {
                    // Redis wants one byte after the CR, whatever it is.
                    Line::Found(i) if i + 1 < buf.len() => i,
                    Line::Found(i) => {
                        self.scanned = i - start;
                        return Ok(Step::Incomplete);
                    }
                    Line::Missing { scanned } => {
                        if buf.len() - start > self.limits.max_inline_len {
                            return Err(ProtocolError::TooBigMultibulkCount);
                        }
                        self.scanned = scanned - start;
                        return Ok(Step::Incomplete);
                    }
                };
                let count = match string2ll(&buf[start + 1..cr]) {
                    Some(n) if n <= self.limits.max_multibulk_len => n,
                    _ => return Err(ProtocolError::InvalidMultibulkLength),
                };
                if count > UNAUTHENTICATED_MAX_MULTIBULK_LEN && self.limits.unauthenticated {
                    return Err(ProtocolError::UnauthenticatedMultibulkLength);
                }
                self.scanned = 0;
                *pos = cr + 2;
                if count <= 0 {
                    self.skipped += *pos - start;
                    return Ok(Step::Skipped);
                }
                Partial {
                    remaining: count as u64,
                    args: Vec::with_capacity((count as usize).min(1024)),
                    consumed: 0,
                    bulk_len: None,
                    start,
                    first_range: self.ranges.len(),
                }
            }
        };

        while p.remaining > 0 {
            let len = match p.bulk_len {
                Some(len) => len,
                None => {
                    let start = *pos;
                    let cr = match self.find_line(buf, start, b'\r') {
                        Line::Found(i) if i + 1 < buf.len() => i,
                        Line::Found(i) => {
                            self.scanned = i - start;
                            self.partial = Some(p);
                            return Ok(Step::Incomplete);
                        }
                        Line::Missing { scanned } => {
                            if buf.len() - start > self.limits.max_inline_len {
                                return Err(ProtocolError::TooBigBulkCount);
                            }
                            self.scanned = scanned - start;
                            self.partial = Some(p);
                            return Ok(Step::Incomplete);
                        }
                    };
                    if buf[start] != b'$' {
                        return Err(ProtocolError::ExpectedDollar(buf[start]));
                    }
                    let len = match string2ll(&buf[start + 1..cr]) {
                        Some(n)
                            if n >= 0
                                && (self.limits.from_master || n <= self.limits.max_bulk_len) =>
                        {
                            n
                        }
                        _ => return Err(ProtocolError::InvalidBulkLength),
                    };
                    if len > UNAUTHENTICATED_MAX_BULK_LEN && self.limits.unauthenticated {
                        // Keep the request so a deferred error can rewind to its start.
                        self.partial = Some(p);
                        return Err(ProtocolError::UnauthenticatedBulkLength);
                    }
                    let Ok(len) = usize::try_from(len) else {
                        return Err(ProtocolError::InvalidBulkLength);
                    };
                    self.scanned = 0;
                    *pos = cr + 2;
                    p.bulk_len = Some(len);
                    len
                }
            };
            // Payload plus the two bytes Redis skips without looking at them.
            let Some(end) = pos.checked_add(len).and_then(|e| e.checked_add(2)) else {
                return Err(ProtocolError::InvalidBulkLength);
            };
            if buf.len() < end {
                self.needed = Some(end - buf.len());
                self.partial = Some(p);
                return Ok(Step::Incomplete);
            }
            self.ranges.push((*pos, *pos + len));
            *pos = end;
            p.bulk_len = None;
            p.remaining -= 1;
        }

        out.push(Request {
            args: p.args,
            raw_len: p.consumed + (*pos - p.start) + std::mem::take(&mut self.skipped),
            inline: false,
        });
        self.fixups
            .push((out.len() - 1, p.first_range, self.ranges.len()));
        Ok(Step::Request)
    }
}
