//! A raw RESP client for tests: [`RespConn`] sends commands (as multibulk) or
//! arbitrary bytes and reads back exactly one complete reply, keeping its bytes.
//!
//! [`Frame`] is a tiny RESP2/RESP3 framer: it knows just enough of each type
//! (`+ - : $ *` and `_ # , ( ! = % ~ > |`) to find where a reply ends, and keeps
//! the reply as a tree that serialises back to the very same bytes. The tree
//! lets [`crate::normalize`] rewrite a few values before comparing; bulk
//! lengths are recomputed on output, so a rewritten bulk stays well formed.
//!
//! This framer is deliberately independent from `tandem-resp`: the harness
//! checks the server's codec, so it should not share its code.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::{HarnessError, Result};

/// Default time to wait for one complete reply. Generous: a 512 MB SETRANGE or SETBIT
/// first touches that much memory, which took over 5 s on the 2-core VM under the test
/// suite's parallel load.
pub const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// One RESP reply as a tree; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The type byte: `+ - : $ * _ # , ( ! = % ~ > |`.
    pub kind: u8,
    /// The header line after the type byte, without CRLF (a simple string's
    /// text, an integer's digits, a length, `-1` for RESP2 nulls).
    pub head: Vec<u8>,
    /// The payload of a bulk-like type (`$ ! =`) when it is not null.
    pub body: Option<Vec<u8>>,
    /// The elements of an aggregate (maps and attributes: keys and values
    /// alternating; an attribute's last child is the value it decorates).
    pub children: Vec<Frame>,
}

/// What reading one reply produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A complete reply.
    Frame(Frame),
    /// The peer closed the connection (EOF or reset) before any byte of a reply.
    Closed,
}

impl Frame {
    /// Tries to frame one reply at the start of `buf`: `Ok(None)` when more
    /// bytes are needed, otherwise the frame and the number of bytes it used.
    pub fn parse(buf: &[u8]) -> std::result::Result<Option<(Frame, usize)>, String> {
        parse_at(buf, 0)
    }

    /// A simple frame (`+`, `-`, `:` ...) with this header line.
    pub fn line(kind: u8, head: impl Into<Vec<u8>>) -> Frame {
        Frame {
            kind,
            head: head.into(),
            body: None,
            children: Vec::new(),
        }
    }

    /// A bulk string.
    pub fn bulk(body: impl Into<Vec<u8>>) -> Frame {
        let body = body.into();
        Frame {
            kind: b'$',
            head: body.len().to_string().into_bytes(),
            body: Some(body),
            children: Vec::new(),
        }
    }

    /// The wire bytes of this frame.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// Appends the wire bytes of this frame to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.push(self.kind);
        match (&self.body, is_aggregate(self.kind)) {
            (Some(body), _) => {
                out.extend_from_slice(body.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(body);
                out.extend_from_slice(b"\r\n");
            }
            (None, true) if !self.head.starts_with(b"-") => {
                let n = match self.kind {
                    b'%' => self.children.len() / 2,
                    b'|' => self.children.len().saturating_sub(1) / 2,
                    _ => self.children.len(),
                };
                out.extend_from_slice(n.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                for c in &self.children {
                    c.write_to(out);
                }
            }
            _ => {
                out.extend_from_slice(&self.head);
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// True for `-` and `!` (error replies).
    pub fn is_error(&self) -> bool {
        self.kind == b'-' || self.kind == b'!'
    }

    /// The textual payload: a simple string / error / integer line, a bulk
    /// body, a verbatim body without its `txt:` prefix. `None` for aggregates and nulls.
    pub fn text(&self) -> Option<&[u8]> {
        match self.kind {
            b'+' | b'-' | b':' | b',' | b'(' | b'#' => Some(&self.head),
            b'=' => self.body.as_deref().map(|b| b.get(4..).unwrap_or(b)),
            b'$' | b'!' => self.body.as_deref(),
            _ => None,
        }
    }

    /// [`Frame::text`] as a lossy `String`.
    pub fn as_string(&self) -> Option<String> {
        self.text().map(|t| String::from_utf8_lossy(t).into_owned())
    }

    /// The integer value of a `:` frame.
    pub fn as_integer(&self) -> Option<i64> {
        if self.kind != b':' {
            return None;
        }
        std::str::from_utf8(&self.head).ok()?.parse().ok()
    }

    /// True for every null encoding (`_`, `$-1`, `*-1`).
    pub fn is_null(&self) -> bool {
        self.kind == b'_' || ((self.kind == b'$' || self.kind == b'*') && self.head == b"-1")
    }
}

fn is_aggregate(kind: u8) -> bool {
    matches!(kind, b'*' | b'%' | b'~' | b'>' | b'|')
}

/// Finds the CRLF-terminated line starting at `pos`: `(line, next_pos)`.
fn line_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let nl = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..nl], pos + nl + 2))
}

fn parse_len(head: &[u8]) -> std::result::Result<i64, String> {
    std::str::from_utf8(head)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| format!("bad length {}", escape(head)))
}

type Parsed = std::result::Result<Option<(Frame, usize)>, String>;

fn parse_at(buf: &[u8], pos: usize) -> Parsed {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some((head, mut next)) = line_at(buf, pos + 1) else {
        return Ok(None);
    };
    let head = head.to_vec();
    match kind {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => {
            Ok(Some((Frame::line(kind, head), next - pos)))
        }
        b'$' | b'!' | b'=' => {
            let len = parse_len(&head)?;
            if len < 0 {
                return Ok(Some((Frame::line(kind, head), next - pos)));
            }
            let len = usize::try_from(len).map_err(|e| e.to_string())?;
            let end = next + len;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(format!("bulk of length {len} not followed by CRLF"));
            }
            let frame = Frame {
                kind,
                head,
                body: Some(buf[next..end].to_vec()),
                children: Vec::new(),
            };
            Ok(Some((frame, end + 2 - pos)))
        }
        b'*' | b'%' | b'~' | b'>' | b'|' => {
            let n = parse_len(&head)?;
            if n < 0 {
                return Ok(Some((Frame::line(kind, head), next - pos)));
            }
            let per = if kind == b'%' || kind == b'|' { 2 } else { 1 };
            let mut count = usize::try_from(n).map_err(|e| e.to_string())? * per;
            if kind == b'|' {
                count += 1; // the decorated value follows the attribute map
            }
            let mut children = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                match parse_at(buf, next)? {
                    None => return Ok(None),
                    Some((child, used)) => {
                        children.push(child);
                        next += used;
                    }
                }
            }
            let frame = Frame {
                kind,
                head,
                body: None,
                children,
            };
            Ok(Some((frame, next - pos)))
        }
        other => Err(format!("unknown RESP type byte {}", escape(&[other]))),
    }
}

/// Escapes bytes for messages: printable ASCII as is, `\r \n \t \\ \"`, others `\xHH`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// Encodes a command as a RESP multibulk.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A raw RESP connection; see the module docs.
#[derive(Debug)]
pub struct RespConn {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl RespConn {
    /// Connects with a 5 s connect timeout.
    pub fn connect(addr: SocketAddr) -> Result<Self> {
        Self::connect_with_timeout(addr, Duration::from_secs(5))
    }

    /// Connects with the given connect timeout.
    pub fn connect_with_timeout(addr: SocketAddr, timeout: Duration) -> Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| HarnessError::io(format!("connecting to {addr}"), e))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_write_timeout(Some(READ_TIMEOUT))
            .map_err(|e| HarnessError::io("set_write_timeout", e))?;
        Ok(RespConn {
            stream,
            buf: Vec::new(),
            timeout: READ_TIMEOUT,
        })
    }

    /// Sets how long [`RespConn::read_reply`] waits for a complete reply.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The local address of the socket.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.stream
            .local_addr()
            .map_err(|e| HarnessError::io("local_addr", e))
    }

    /// Sends a command as a multibulk.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<()> {
        self.send_raw(&encode_command(args))
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| HarnessError::io("sending", e))
    }

    /// Bytes received but not yet consumed by a reply.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Reads exactly one complete reply (or reports that the peer closed).
    /// Bytes after the reply stay buffered for the next call.
    pub fn read_reply(&mut self) -> Result<Reply> {
        let deadline = Instant::now() + self.timeout;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((frame, used)) = Frame::parse(&self.buf).map_err(HarnessError::Protocol)? {
                self.buf.drain(..used);
                return Ok(Reply::Frame(frame));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(HarnessError::Timeout(escape(&self.buf)));
            }
            self.stream
                .set_read_timeout(Some(deadline - now))
                .map_err(|e| HarnessError::io("set_read_timeout", e))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return self.closed(),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(HarnessError::Timeout(escape(&self.buf)));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset
                            | ErrorKind::ConnectionAborted
                            | ErrorKind::BrokenPipe
                    ) =>
                {
                    return self.closed();
                }
                Err(e) => return Err(HarnessError::io("reading a reply", e)),
            }
        }
    }

    fn closed(&mut self) -> Result<Reply> {
        if self.buf.is_empty() {
            Ok(Reply::Closed)
        } else {
            Err(HarnessError::Protocol(format!(
                "connection closed in the middle of a reply: {}",
                escape(&self.buf)
            )))
        }
    }

    /// Sends a command and reads its reply; a closed connection is an error.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame> {
        self.send(args)?;
        match self.read_reply()? {
            Reply::Frame(f) => Ok(f),
            Reply::Closed => Err(HarnessError::Protocol(
                "connection closed instead of a reply".into(),
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn roundtrip(wire: &[u8]) {
        let (frame, used) = Frame::parse(wire).unwrap().unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(frame.to_bytes(), wire);
        for cut in 0..wire.len() {
            assert_eq!(Frame::parse(&wire[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn frames_round_trip() {
        roundtrip(b"+PONG\r\n");
        roundtrip(b"-ERR unknown command\r\n");
        roundtrip(b":123\r\n");
        roundtrip(b"$3\r\nfoo\r\n");
        roundtrip(b"$0\r\n\r\n");
        roundtrip(b"$-1\r\n");
        roundtrip(b"*-1\r\n");
        roundtrip(b"*2\r\n$1\r\na\r\n:1\r\n");
        roundtrip(b"%1\r\n+id\r\n:7\r\n");
        roundtrip(b"~2\r\n,1.5\r\n#t\r\n");
        roundtrip(b">2\r\n+a\r\n_\r\n");
        roundtrip(b"=7\r\ntxt:abc\r\n");
        roundtrip(b"!3\r\nERR\r\n");
        roundtrip(b"(123456789012345678901234567890\r\n");
        roundtrip(b"|1\r\n+k\r\n+v\r\n:1\r\n");
        roundtrip(b"*1\r\n$4\r\nA\r\nB\r\n");
    }

    #[test]
    fn keeps_trailing_bytes() {
        let (f, used) = Frame::parse(b"+OK\r\n+PONG\r\n").unwrap().unwrap();
        assert_eq!(f.head, b"OK");
        assert_eq!(used, 5);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Frame::parse(b"?x\r\n").is_err());
        assert!(Frame::parse(b"$3\r\nfooXX").is_err());
    }

    #[test]
    fn rewritten_bulk_gets_its_length() {
        let mut f = Frame::bulk("12345");
        f.body = Some(b"<v>".to_vec());
        assert_eq!(f.to_bytes(), b"$3\r\n<v>\r\n");
    }

    #[test]
    fn escapes() {
        assert_eq!(escape(b"a\r\n\x01\"\\"), r#""a\r\n\x01\"\\""#);
    }
}
