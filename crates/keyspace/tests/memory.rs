//! Memory per key: 1M keys with 100-byte string values (what `DEBUG POPULATE 1000000 key
//! 100` builds), measured as the growth of the process's resident set.
//!
//! Ignored by default (it allocates a few hundred MB and its figure depends on the
//! allocator: this test binary uses the system allocator, the server jemalloc). Run with
//! `cargo test --release -p tandem-keyspace --test memory -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use tandem_keyspace::{Expiry, Keyspace, KeyspaceConfig, StrValue, Value};

/// The process's resident set in bytes (Linux `/proc/self/status` `VmRSS`), 0 elsewhere.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
#[ignore]
fn bytes_per_key_1m_strings() {
    const N: usize = 1_000_000;
    let mut ks = Keyspace::new(KeyspaceConfig::default());
    ks.set_now(1_700_000_000_000);
    let before = rss();
    for i in 0..N {
        let key = Bytes::copy_from_slice(format!("key:{i}").as_bytes());
        let mut v = format!("value:{i}").into_bytes();
        v.resize(100, 0);
        let value = Value::String(StrValue::from_bytes_for_set(Bytes::from(v)));
        ks.set(0, key, value, Expiry::Clear);
    }
    let after = rss();
    let per_key = after.saturating_sub(before) as f64 / N as f64;
    println!(
        "{N} keys, 100-byte values: {per_key:.1} bytes/key (RSS growth, system allocator); \
         size_of::<Value>() = {}",
        std::mem::size_of::<Value>()
    );
    assert_eq!(ks.dbsize(0), N);
}
