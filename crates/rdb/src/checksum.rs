//! CRC64 as Redis computes it (Jones polynomial, reflected, init 0, no final
//! XOR), via the `crc` crate's `CRC_64_REDIS` with a 16-table slicing variant.
//!
//! Used for the 8-byte little-endian trailer of RDB files (version 5 and up)
//! and for DUMP payloads.

use crc::{Crc, Digest, Table, CRC_64_REDIS};

static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// CRC64 of a whole buffer.
pub fn crc64(data: &[u8]) -> u64 {
    CRC64.checksum(data)
}

/// An incremental CRC64.
#[derive(Clone)]
pub struct Crc64 {
    digest: Digest<'static, u64, Table<16>>,
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crc64({:#018x})", self.value())
    }
}

impl Crc64 {
    /// A CRC over nothing yet.
    pub fn new() -> Self {
        Crc64 {
            digest: CRC64.digest(),
        }
    }

    /// Add bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }

    /// The CRC of everything added so far.
    pub fn value(&self) -> u64 {
        self.digest.clone().finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        let mut c = Crc64::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.value(), 0xe9c6_d914_c4b8_d9ca);
    }
}
