//! Fuzz LZF: decompression of arbitrary streams never panics or overruns the
//! declared length; compression round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_rdb::lzf;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 2 {
        let declared = usize::from(u16::from_le_bytes([data[0], data[1]]));
        if let Ok(out) = lzf::decompress(&data[2..], declared) {
            assert_eq!(out.len(), declared);
        }
    }
    if let Some(c) = lzf::compress(data, data.len() + 64) {
        assert_eq!(
            lzf::decompress(&c, data.len()).expect("own output decodes"),
            data
        );
    }
    if data.len() > 4 {
        if let Some(c) = lzf::compress(data, data.len() - 4) {
            assert!(c.len() <= data.len() - 4);
            assert_eq!(
                lzf::decompress(&c, data.len()).expect("own output decodes"),
                data
            );
        }
    }
});
