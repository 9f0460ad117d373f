//! Fuzz FUNCTION RESTORE's payload parser: any input must parse or be refused without
//! panicking; what parses must be written back (FUNCTION DUMP) to the same libraries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_rdb::{functions_payload, parse_functions_payload, EncodeOptions};

fuzz_target!(|data: &[u8]| {
    if let Ok(codes) = parse_functions_payload(data) {
        let again = functions_payload(&codes, &EncodeOptions::default());
        assert_eq!(parse_functions_payload(&again).expect("a dump parses"), codes);
    }
});
