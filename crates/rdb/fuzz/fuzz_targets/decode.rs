//! Fuzz the RDB decoder and the DUMP payload parser.
//!
//! Any input must decode without panicking, whole or fed in chunks (both ways
//! must agree); a dataset that decodes must re-encode and decode again to the
//! same number of keys, and each stream to the same nodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_rdb::{
    decode_all, encode_to_vec, parse_dump_payload, Decoder, EncodeOptions, ModulePolicy, RdbValue,
};

fuzz_target!(|data: &[u8]| {
    let _ = parse_dump_payload(data);
    // Most inputs lack the magic: also try them behind a valid header.
    let mut framed = b"REDIS0010".to_vec();
    framed.extend_from_slice(data);
    for input in [data, &framed[..]] {
        let whole = decode_all(input);
        let chunk = 1 + usize::from(input.first().copied().unwrap_or(0) % 17);
        let mut d = Decoder::new().with_module_policy(ModulePolicy::Error);
        let mut keys = 0usize;
        let mut failed = false;
        for c in input.chunks(chunk) {
            d.feed(c);
            loop {
                match d.next_item() {
                    Ok(Some(tandem_rdb::Item::Entry(_))) => keys += 1,
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                break;
            }
        }
        let streamed_ok = !failed && d.finish().is_ok();
        assert_eq!(whole.is_ok(), streamed_ok);
        if let Ok(rdb) = whole {
            assert_eq!(rdb.entries.len(), keys);
            if let Ok(bytes) = encode_to_vec(&rdb, &EncodeOptions::default()) {
                let again = decode_all(&bytes).expect("re-encoded data decodes");
                assert_eq!(again.entries.len(), rdb.entries.len());
                // A stream's nodes are written back as read, tombstones included.
                for e in &rdb.entries {
                    if let RdbValue::Stream(s) = &e.value {
                        assert!(again.entries.iter().any(|a| a.db == e.db
                            && a.key == e.key
                            && matches!(&a.value, RdbValue::Stream(t)
                                if t.nodes == s.nodes
                                    && t.last_id == s.last_id
                                    && t.first_id == s.first_id
                                    && t.max_deleted_id == s.max_deleted_id
                                    && t.entries_added == s.entries_added)));
                    }
                }
            }
        }
        let _ = Decoder::new()
            .with_module_policy(ModulePolicy::Keep)
            .with_checksum_verification(false);
    }
});
