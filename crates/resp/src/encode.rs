//! Reply encoder: writes RESP2 or RESP3 straight into a `BytesMut`.
//!
//! Every method emits exactly the bytes Redis 7.0.15's `addReply*` family
//! emits for the connection's protocol: RESP3 types are downgraded for RESP2
//! clients (maps become flat arrays, doubles become bulk strings, booleans
//! become integers, ...). Aggregates are written as a header
//! ([`Encoder::array_len`], [`Encoder::map_len`], ...) followed by their
//! elements, so replies stream into the output buffer without building a
//! [`Value`] tree first; [`Encoder::value`] and [`encode`] exist for callers
//! that do have one.

use bytes::{BufMut, BytesMut};

use crate::num::{push_double, write_i64, write_u64};
use crate::value::{Protocol, Value};

/// Reply encoder writing straight into a `BytesMut` for the client's protocol.
#[derive(Debug)]
pub struct Encoder<'a> {
    /// The output buffer; bytes are appended.
    pub out: &'a mut BytesMut,
    /// The protocol the client negotiated.
    pub proto: Protocol,
}

impl<'a> Encoder<'a> {
    /// An encoder appending to `out` for `proto`.
    pub fn new(out: &'a mut BytesMut, proto: Protocol) -> Self {
        Encoder { out, proto }
    }

    fn resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    fn line(&mut self, prefix: u8, body: &[u8]) {
        self.out.reserve(body.len() + 3);
        self.out.put_u8(prefix);
        self.out.put_slice(body);
        self.out.put_slice(b"\r\n");
    }

    fn header(&mut self, prefix: u8, n: u64) {
        self.out.reserve(24);
        self.out.put_u8(prefix);
        write_u64(self.out, n);
        self.out.put_slice(b"\r\n");
    }

    /// `+text\r\n`. The text must not contain CR or LF.
    pub fn simple(&mut self, s: &[u8]) {
        self.line(b'+', s);
    }

    /// `+OK\r\n`.
    pub fn ok(&mut self) {
        self.out.put_slice(b"+OK\r\n");
    }

    /// `-text\r\n`, where `text` is the full error text without `-` (e.g.
    /// `ERR unknown command`). CR and LF inside it become spaces, as Redis does.
    pub fn error(&mut self, text: &[u8]) {
        self.out.reserve(text.len() + 3);
        self.out.put_u8(b'-');
        if text.iter().any(|&b| b == b'\r' || b == b'\n') {
            for &b in text {
                self.out
                    .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
            }
        } else {
            self.out.put_slice(text);
        }
        self.out.put_slice(b"\r\n");
    }

    /// `:n\r\n`.
    pub fn integer(&mut self, n: i64) {
        self.out.reserve(24);
        self.out.put_u8(b':');
        write_i64(self.out, n);
        self.out.put_slice(b"\r\n");
    }

    /// `$len\r\npayload\r\n`.
    pub fn bulk(&mut self, b: &[u8]) {
        self.out.reserve(b.len() + 26);
        self.out.put_u8(b'$');
        write_u64(self.out, b.len() as u64);
        self.out.put_slice(b"\r\n");
        self.out.put_slice(b);
        self.out.put_slice(b"\r\n");
    }

    /// A bulk string holding the decimal text of `n` (Redis's `addReplyBulkLongLong`).
    pub fn bulk_integer(&mut self, n: i64) {
        let mut tmp = [0u8; 20];
        let mut w = &mut tmp[..];
        write_i64(&mut w, n);
        let len = 20 - w.len();
        self.bulk(&tmp[..len]);
    }

    /// Only the `$len\r\n` header of a bulk string; the caller writes the payload and CRLF.
    pub fn bulk_len(&mut self, len: usize) {
        self.header(b'$', len as u64);
    }

    /// The null bulk string: RESP2 `$-1\r\n`, RESP3 `_\r\n`.
    pub fn null(&mut self) {
        self.out
            .put_slice(if self.resp3() { b"_\r\n" } else { b"$-1\r\n" });
    }

    /// The null array: RESP2 `*-1\r\n`, RESP3 `_\r\n`.
    pub fn null_array(&mut self) {
        self.out
            .put_slice(if self.resp3() { b"_\r\n" } else { b"*-1\r\n" });
    }

    /// `*n\r\n`.
    pub fn array_len(&mut self, n: usize) {
        self.header(b'*', n as u64);
    }

    /// RESP3 `%n\r\n`; RESP2 `*2n\r\n` (the pairs are written flat).
    pub fn map_len(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'%', n as u64);
        } else {
            self.header(b'*', 2 * n as u64);
        }
    }

    /// RESP3 `~n\r\n`; RESP2 `*n\r\n`.
    pub fn set_len(&mut self, n: usize) {
        let prefix = if self.resp3() { b'~' } else { b'*' };
        self.header(prefix, n as u64);
    }

    /// RESP3 `>n\r\n`; RESP2 `*n\r\n` (how pub/sub messages reach RESP2 clients).
    pub fn push_len(&mut self, n: usize) {
        let prefix = if self.resp3() { b'>' } else { b'*' };
        self.header(prefix, n as u64);
    }

    /// RESP3 `|n\r\n` (n attribute pairs follow, then the value). RESP2 has no
    /// attributes and Redis never sends them there: this writes nothing for RESP2,
    /// so the caller must skip the pairs too (as [`Encoder::value`] does).
    pub fn attribute_len(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'|', n as u64);
        }
    }

    /// A double as Redis's `addReplyDouble`: RESP3 `,<%.17g>\r\n`; RESP2 a bulk
    /// string of the same text. Infinities are `inf`/`-inf`.
    pub fn double(&mut self, d: f64) {
        let mut s = String::with_capacity(32);
        push_double(&mut s, d);
        if self.resp3() {
            self.line(b',', s.as_bytes());
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// RESP3 `#t\r\n`/`#f\r\n`; RESP2 `:1\r\n`/`:0\r\n`.
    pub fn boolean(&mut self, b: bool) {
        self.out.put_slice(match (self.resp3(), b) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        });
    }

    /// RESP3 `(digits\r\n`; RESP2 a bulk string of the digits.
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.resp3() {
            self.line(b'(', digits);
        } else {
            self.bulk(digits);
        }
    }

    /// RESP3 `=len\r\nfmt:text\r\n`; RESP2 a plain bulk string of `text`.
    pub fn verbatim(&mut self, format: &[u8; 3], text: &[u8]) {
        if self.resp3() {
            self.out.reserve(text.len() + 32);
            self.header(b'=', text.len() as u64 + 4);
            self.out.put_slice(format);
            self.out.put_u8(b':');
            self.out.put_slice(text);
            self.out.put_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Append bytes that are already RESP (e.g. a cached reply).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.put_slice(bytes);
    }

    /// Encode a whole [`Value`] tree.
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Simple(s) => self.simple(s),
            Value::Error(e) => self.error(e),
            Value::Integer(i) => self.integer(*i),
            Value::Bulk(b) => self.bulk(b),
            Value::Null => self.null(),
            Value::NullArray => self.null_array(),
            Value::Array(items) => {
                self.array_len(items.len());
                items.iter().for_each(|i| self.value(i));
            }
            Value::Map(pairs) => {
                self.map_len(pairs.len());
                for (k, v) in pairs {
                    self.value(k);
                    self.value(v);
                }
            }
            Value::Set(items) => {
                self.set_len(items.len());
                items.iter().for_each(|i| self.value(i));
            }
            Value::Double(d) => self.double(*d),
            Value::Boolean(b) => self.boolean(*b),
            Value::BigNumber(n) => self.big_number(n),
            Value::Verbatim { format, text } => self.verbatim(format, text),
            Value::Push(items) => {
                self.push_len(items.len());
                items.iter().for_each(|i| self.value(i));
            }
            Value::Attribute { attrs, value } => {
                if self.resp3() {
                    self.attribute_len(attrs.len());
                    for (k, v) in attrs {
                        self.value(k);
                        self.value(v);
                    }
                }
                self.value(value);
            }
        }
    }
}

/// Encode `v` for `proto`, appending to `out`.
pub fn encode(v: &Value, proto: Protocol, out: &mut BytesMut) {
    Encoder::new(out, proto).value(v);
}

/// Encode a command (array of bulk strings), as clients and masters send them.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    let mut e = Encoder::new(out, Protocol::Resp2);
    e.array_len(args.len());
    for a in args {
        e.bulk(a.as_ref());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn both(f: impl Fn(&mut Encoder<'_>)) -> (Vec<u8>, Vec<u8>) {
        let mut a = BytesMut::new();
        f(&mut Encoder::new(&mut a, Protocol::Resp2));
        let mut b = BytesMut::new();
        f(&mut Encoder::new(&mut b, Protocol::Resp3));
        (a.to_vec(), b.to_vec())
    }

    fn check(f: impl Fn(&mut Encoder<'_>), resp2: &[u8], resp3: &[u8]) {
        let (a, b) = both(f);
        assert_eq!(
            (Bytes::from(a), Bytes::from(b)),
            (Bytes::copy_from_slice(resp2), Bytes::copy_from_slice(resp3))
        );
    }

    #[test]
    fn scalars() {
        check(|e| e.simple(b"PONG"), b"+PONG\r\n", b"+PONG\r\n");
        check(|e| e.ok(), b"+OK\r\n", b"+OK\r\n");
        check(
            |e| e.error(b"ERR bad\r\nthing\n"),
            b"-ERR bad  thing \r\n",
            b"-ERR bad  thing \r\n",
        );
        check(
            |e| e.error(b"WRONGTYPE Operation against a key holding the wrong kind of value"),
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        );
        check(|e| e.integer(0), b":0\r\n", b":0\r\n");
        check(|e| e.integer(-42), b":-42\r\n", b":-42\r\n");
        check(
            |e| e.integer(i64::MIN),
            b":-9223372036854775808\r\n",
            b":-9223372036854775808\r\n",
        );
        check(|e| e.bulk(b""), b"$0\r\n\r\n", b"$0\r\n\r\n");
        check(
            |e| e.bulk(b"a\r\nb"),
            b"$4\r\na\r\nb\r\n",
            b"$4\r\na\r\nb\r\n",
        );
        check(|e| e.bulk_integer(-7), b"$2\r\n-7\r\n", b"$2\r\n-7\r\n");
        check(|e| e.null(), b"$-1\r\n", b"_\r\n");
        check(|e| e.null_array(), b"*-1\r\n", b"_\r\n");
        check(|e| e.boolean(true), b":1\r\n", b"#t\r\n");
        check(|e| e.boolean(false), b":0\r\n", b"#f\r\n");
        check(
            |e| e.big_number(b"3492890328409238509324850943850943825024385"),
            b"$43\r\n3492890328409238509324850943850943825024385\r\n",
            b"(3492890328409238509324850943850943825024385\r\n",
        );
        check(
            |e| e.verbatim(b"txt", b"Some string"),
            b"$11\r\nSome string\r\n",
            b"=15\r\ntxt:Some string\r\n",
        );
    }

    #[test]
    fn doubles_match_redis_7_0_15() {
        // Byte-for-byte what redis-server 7.0.15 answers to ZSCORE in RESP2 / RESP3.
        check(
            |e| e.double(1.1),
            b"$18\r\n1.1000000000000001\r\n",
            b",1.1000000000000001\r\n",
        );
        check(
            |e| e.double(1e300),
            b"$23\r\n1.0000000000000001e+300\r\n",
            b",1.0000000000000001e+300\r\n",
        );
        check(|e| e.double(0.0), b"$1\r\n0\r\n", b",0\r\n");
        check(|e| e.double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
        check(
            |e| e.double(f64::NEG_INFINITY),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        );
        check(|e| e.double(1e17), b"$5\r\n1e+17\r\n", b",1e+17\r\n");
        check(
            |e| e.double(1e16),
            b"$17\r\n10000000000000000\r\n",
            b",10000000000000000\r\n",
        );
        check(|e| e.double(0.0001), b"$6\r\n0.0001\r\n", b",0.0001\r\n");
        check(|e| e.double(f64::NAN), b"$3\r\nnan\r\n", b",nan\r\n");
    }

    #[test]
    fn aggregates() {
        check(|e| e.array_len(3), b"*3\r\n", b"*3\r\n");
        check(|e| e.map_len(2), b"*4\r\n", b"%2\r\n");
        check(|e| e.set_len(2), b"*2\r\n", b"~2\r\n");
        check(|e| e.push_len(3), b"*3\r\n", b">3\r\n");
        check(|e| e.attribute_len(1), b"", b"|1\r\n");
        check(|e| e.bulk_len(5), b"$5\r\n", b"$5\r\n");
    }

    #[test]
    fn values() {
        let v = Value::Map(vec![
            (Value::bulk("server"), Value::bulk("redis")),
            (Value::bulk("proto"), Value::Integer(3)),
            (Value::bulk("modules"), Value::Array(vec![])),
        ]);
        check(
            |e| e.value(&v),
            b"*6\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n",
            b"%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n",
        );
        let v = Value::Attribute {
            attrs: vec![(Value::simple("ttl"), Value::Integer(3))],
            value: Box::new(Value::Push(vec![Value::bulk("message"), Value::Null])),
        };
        check(
            |e| e.value(&v),
            b"*2\r\n$7\r\nmessage\r\n$-1\r\n",
            b"|1\r\n+ttl\r\n:3\r\n>2\r\n$7\r\nmessage\r\n_\r\n",
        );
        let v = Value::Set(vec![
            Value::Double(2.5),
            Value::Boolean(true),
            Value::NullArray,
            Value::error("ERR x"),
        ]);
        check(
            |e| e.value(&v),
            b"*4\r\n$3\r\n2.5\r\n:1\r\n*-1\r\n-ERR x\r\n",
            b"~4\r\n,2.5\r\n#t\r\n_\r\n-ERR x\r\n",
        );
        let mut out = BytesMut::new();
        encode(&Value::Integer(5), Protocol::Resp3, &mut out);
        encode_command(&["SET", "k", "v"], &mut out);
        assert_eq!(&out[..], b":5\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }
}
