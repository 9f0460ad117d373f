//! The few reply shapes the COMMAND command needs, written through a
//! [`tandem_resp::Encoder`].
//!
//! Everything the introspection code emits goes through [`Out`], a thin layer over
//! the encoder (which owns the RESP2/RESP3 differences: maps as flat arrays, sets
//! as arrays, `$-1` vs `_`). It only adds Redis's rule that a status line never
//! carries CR or LF.

use tandem_resp::Encoder;

/// Thin writer over an [`Encoder`].
pub(crate) struct Out<'e, 'b> {
    enc: &'e mut Encoder<'b>,
}

impl<'e, 'b> Out<'e, 'b> {
    pub(crate) fn new(enc: &'e mut Encoder<'b>) -> Self {
        Out { enc }
    }

    /// Array header.
    pub(crate) fn array(&mut self, n: usize) {
        self.enc.array_len(n);
    }

    /// Map header for `n` pairs (RESP2: array of `2n`).
    pub(crate) fn map(&mut self, n: usize) {
        self.enc.map_len(n);
    }

    /// Set header (RESP2: array).
    pub(crate) fn set(&mut self, n: usize) {
        self.enc.set_len(n);
    }

    /// Bulk string.
    pub(crate) fn bulk(&mut self, s: &[u8]) {
        self.enc.bulk(s);
    }

    /// Status (simple string); CR and LF are replaced by spaces as Redis does.
    pub(crate) fn status(&mut self, s: &str) {
        if s.bytes().any(|c| c == b'\r' || c == b'\n') {
            let clean: Vec<u8> = s
                .bytes()
                .map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c })
                .collect();
            self.enc.simple(&clean);
        } else {
            self.enc.simple(s.as_bytes());
        }
    }

    /// Error reply; `text` is the full message without the leading `-` (e.g. `ERR syntax error`).
    pub(crate) fn error(&mut self, text: &[u8]) {
        self.enc.error(text);
    }

    /// Integer.
    pub(crate) fn int(&mut self, n: i64) {
        self.enc.integer(n);
    }

    /// Null (RESP2: null bulk string `$-1`; RESP3: `_`).
    pub(crate) fn null(&mut self) {
        self.enc.null();
    }
}
