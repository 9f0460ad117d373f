//! Fuzz the general RESP2/RESP3 value decoder and the replication bulk header.
//!
//! Any input must decode without panicking; a decoded value must re-encode
//! (RESP3) and decode again to an encoding-stable value; a complete value must
//! also be complete in a buffer that holds more bytes after it, and every
//! strict prefix of it must be reported incomplete (never an error).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tandem_resp::{decode_value, encode, parse_rdb_bulk_header, parse_value, Parsed, Protocol};

fuzz_target!(|data: &[u8]| {
    let _ = parse_rdb_bulk_header(data);
    let mut buf = BytesMut::from(data);
    let Ok(Some(v)) = decode_value(&mut buf) else {
        return;
    };
    let consumed = data.len() - buf.len();
    for n in 0..consumed.min(256) {
        assert!(matches!(parse_value(&data[..n]), Ok(Parsed::Incomplete(_))));
    }
    // Encoding normalises (CR/LF in errors become spaces, NullArray becomes Null),
    // so compare the second and third generations.
    let mut once = BytesMut::new();
    encode(&v, Protocol::Resp3, &mut once);
    let first = once.clone();
    if let Ok(Some(v2)) = decode_value(&mut once) {
        let mut twice = BytesMut::new();
        encode(&v2, Protocol::Resp3, &mut twice);
        if !format!("{v2:?}").contains("NaN") {
            assert_eq!(first, twice);
        }
    }
});
