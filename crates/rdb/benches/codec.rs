//! Decode and encode throughput on a generated dataset of mixed types.
//!
//! The dataset has `RDB_BENCH_KEYS` keys (default 1,000,000): 60 % strings
//! with 100-byte values (a tenth of them integers), and 10 % each of lists,
//! hashes, sets (half intsets) and sorted sets of 10 small elements. Every
//! tenth key has an expiry. Both groups report bytes/s (`*_bytes`) and
//! keys/s (`*_keys`).
//!
//! `RDB_BENCH_KEYS=100000 cargo bench -p tandem-rdb -- --quick` for a short run.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tandem_rdb::{
    decode_all, encode_to_vec, AuxFields, Decoder, EncodeOptions, Entry, Rdb, RdbValue,
};

fn keys() -> usize {
    std::env::var("RDB_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn dataset(n: usize) -> Rdb {
    let value = |i: usize| Bytes::from(format!("{i:0>100}").replace('0', "v"));
    let small = |i: usize, j: usize| Bytes::from(format!("e{i}-{j}"));
    let entries = (0..n)
        .map(|i| {
            let v = match i % 10 {
                0..=4 => RdbValue::String(value(i)),
                5 => RdbValue::String(Bytes::from(i.to_string())),
                6 => RdbValue::List((0..10).map(|j| small(i, j)).collect()),
                7 => RdbValue::Hash((0..10).map(|j| (small(i, j), small(j, i))).collect()),
                8 if i % 20 == 8 => RdbValue::Set(
                    (0..10)
                        .map(|j| Bytes::from((i * 10 + j).to_string()))
                        .collect(),
                ),
                8 => RdbValue::Set((0..10).map(|j| small(i, j)).collect()),
                _ => RdbValue::ZSet((0..10).map(|j| (small(i, j), j as f64 * 1.5)).collect()),
            };
            let mut e = Entry::new(0, Bytes::from(format!("key:{i}")), v);
            if i % 10 == 3 {
                e.expire_ms = Some(4_102_444_800_000 + i as i64);
            }
            e
        })
        .collect();
    Rdb {
        aux: AuxFields::default().to_pairs(),
        entries,
        ..Rdb::default()
    }
}

fn bench(c: &mut Criterion) {
    let n = keys();
    let rdb = dataset(n);
    let opts = EncodeOptions::default();
    let bytes = encode_to_vec(&rdb, &opts).expect("encode");
    eprintln!("dataset: {n} keys, {} bytes encoded", bytes.len());

    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(bytes.len() as u64)),
        ("keys", Throughput::Elements(n as u64)),
    ] {
        let mut g = c.benchmark_group(format!("rdb_{unit}"));
        g.sample_size(10);
        g.throughput(throughput);
        g.bench_function("decode_all", |b| {
            b.iter(|| black_box(decode_all(black_box(&bytes)).expect("decode")))
        });
        g.bench_function("decode_stream_64k", |b| {
            b.iter(|| {
                // Streaming, item by item, without collecting the dataset.
                let mut d = Decoder::new();
                let mut count = 0usize;
                for chunk in bytes.chunks(64 * 1024) {
                    d.feed(chunk);
                    while let Some(item) = d.next_item().expect("decode") {
                        black_box(&item);
                        count += 1;
                    }
                }
                count
            })
        });
        g.bench_function("encode", |b| {
            b.iter(|| black_box(encode_to_vec(black_box(&rdb), &opts).expect("encode")))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
