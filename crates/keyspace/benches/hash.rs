//! Hash benchmarks: HSET into a `hashtable`-encoded hash of 1M fields, the load of
//! `redis-benchmark -t hset -r 1000000` (random `element:NNNNNNNNNNNN` fields, 20 bytes, in
//! one hash). Run with `cargo bench -p tandem-keyspace --bench hash`.
//!
//! - `hash/fill`: HSET of 1M new fields into an empty `hashtable` hash (growth included),
//!   reported per field;
//! - `hash/overwrite`: HSET of an existing field (random order) in a 1M-field hash;
//! - `hash/new_then_del`: HSET of a new field then HDEL of it, the hash staying at 1M;
//! - `hash/get_hit`: HGET of an existing field;
//! - `*_long`: the same with 39-byte fields (stored out of line).
//!
//! The allocator is the server's (jemalloc): HSET frees the value it replaces, and the
//! system allocator's free touches the freed block where jemalloc's does not.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use tandem_keyspace::{EncodingLimits, HashValue};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const N: usize = 1_000_000;

/// A field name written into a reused buffer, as the server finds it in its (cache-hot)
/// read buffer: a table of field names would add its own cache misses to every lookup.
struct FieldName {
    buf: Vec<u8>,
    digits: usize,
}

impl FieldName {
    /// redis-benchmark's field: `element:` and the random number on 12 digits (20 bytes).
    fn short() -> FieldName {
        FieldName {
            buf: b"element:000000000000".to_vec(),
            digits: 8,
        }
    }

    /// 39 bytes, longer than any inline bound.
    fn long() -> FieldName {
        FieldName {
            buf: b"element:000000000000:long-field-padding".to_vec(),
            digits: 8,
        }
    }

    fn of(&mut self, mut i: usize) -> &[u8] {
        for d in self.buf[self.digits..self.digits + 12].iter_mut().rev() {
            *d = b'0' + (i % 10) as u8;
            i /= 10;
        }
        &self.buf
    }
}

/// HSET's value: a fresh 3-byte copy, as the server stores (redis-benchmark's `-d 3`).
fn value() -> Bytes {
    Bytes::copy_from_slice(b"xxx")
}

fn filled(name: &mut FieldName, limits: &EncodingLimits) -> HashValue {
    let mut h = HashValue::default();
    h.convert_to_table();
    for i in 0..N {
        h.set(name.of(i), value(), limits);
    }
    h
}

fn bench_kind(c: &mut Criterion, name: &str, make: fn() -> FieldName) {
    let limits = EncodingLimits::default();
    let mut f = make();
    let mut g = c.benchmark_group("hash");

    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(BenchmarkId::new(format!("fill{name}"), N), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut h = HashValue::default();
                h.convert_to_table();
                let t = Instant::now();
                for i in 0..N {
                    h.set(f.of(i), value(), &limits);
                }
                total += t.elapsed();
                black_box(&h);
                drop(h);
            }
            total
        })
    });

    g.sample_size(50);
    g.throughput(Throughput::Elements(1));
    let mut h = filled(&mut f, &limits);
    let mut i = 0usize;
    g.bench_function(BenchmarkId::new(format!("overwrite{name}"), N), |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(h.set(f.of(i), value(), &limits))
        })
    });
    g.bench_function(BenchmarkId::new(format!("get_hit{name}"), N), |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(h.get(f.of(i)).is_some())
        })
    });
    g.bench_function(BenchmarkId::new(format!("new_then_del{name}"), N), |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            let new = h.set(f.of(N + i), value(), &limits);
            black_box(new && h.remove(f.of(N + i)).is_some())
        })
    });
    g.finish();
}

fn hashes(c: &mut Criterion) {
    bench_kind(c, "", FieldName::short);
    bench_kind(c, "_long", FieldName::long);
}

criterion_group!(benches, hashes);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
