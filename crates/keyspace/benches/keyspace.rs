//! Keyspace benchmarks: get/set/expire throughput, snapshot time, the cost of the first write
//! after a snapshot, and how long FLUSHALL ASYNC (`empty(All, Async)`) takes to return.
//!
//! Sizes are kept small by default so `cargo bench -p tandem-keyspace` finishes quickly:
//! - `TANDEM_BENCH_KEYS` (default 100000): keys in the throughput benches;
//! - `TANDEM_BENCH_BIG=1`: add the 10M-key runs (snapshot, first write, FLUSHALL ASYNC;
//!   needs several GB of memory and minutes to fill);
//! - `TANDEM_BENCH_SKIP_FLUSH=1`: skip the hand-timed FLUSHALL ASYNC part.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use tandem_keyspace::{DbTarget, Expiry, FreeMode, Keyspace, KeyspaceConfig, StrValue, Value};

const NOW: i64 = 1_700_000_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn big() -> bool {
    std::env::var("TANDEM_BENCH_BIG").is_ok_and(|v| v == "1")
}

fn key(i: usize) -> Bytes {
    Bytes::from(format!("key:{i:012}"))
}

fn value() -> Value {
    Value::String(StrValue::from_bytes_for_set(Bytes::from(vec![b'x'; 100])))
}

fn filled(n: usize) -> Keyspace {
    let mut ks = Keyspace::new(KeyspaceConfig::default());
    ks.set_now(NOW);
    let v = value();
    for i in 0..n {
        ks.set(0, key(i), v.clone(), Expiry::Clear);
    }
    ks
}

fn snapshot_sizes() -> Vec<usize> {
    let mut sizes = vec![10_000, 1_000_000];
    if big() {
        sizes.push(10_000_000);
    }
    sizes
}

fn throughput(c: &mut Criterion) {
    let n = env_usize("TANDEM_BENCH_KEYS", 100_000).max(1);
    let keys: Vec<Bytes> = (0..n).map(key).collect();
    let mut ks = filled(n);
    let mut g = c.benchmark_group("ops");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function(BenchmarkId::new("get_hit", n), |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            black_box(ks.get(0, &keys[i], NOW).is_some())
        })
    });
    g.bench_function(BenchmarkId::new("get_miss", n), |b| {
        b.iter(|| black_box(ks.get(0, b"no-such-key", NOW).is_some()))
    });
    let v = value();
    g.bench_function(BenchmarkId::new("set_overwrite", n), |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            ks.set(0, keys[i].clone(), v.clone(), Expiry::Clear)
        })
    });
    g.bench_function(BenchmarkId::new("set_expire", n), |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            black_box(ks.set_expire(0, &keys[i], NOW + 3_600_000))
        })
    });
    g.bench_function(BenchmarkId::new("set_with_ttl_then_persist", n), |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            ks.set(0, keys[i].clone(), v.clone(), Expiry::At(NOW + 60_000));
            black_box(ks.persist(0, &keys[i]))
        })
    });
    g.bench_function(BenchmarkId::new("scan_count_10", n), |b| {
        let mut cursor = 0;
        b.iter(|| {
            let (next, keys) = ks.scan(0, cursor, 10, NOW);
            cursor = next;
            black_box(keys.len())
        })
    });
    g.finish();
}

fn snapshots(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(20);
    for n in snapshot_sizes() {
        let mut ks = filled(n);
        g.bench_function(BenchmarkId::new("take", n), |b| {
            b.iter(|| black_box(ks.snapshot()))
        });
        // First write after a snapshot: copies the directory and one segment.
        let v = value();
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("first_write_after", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let snap = ks.snapshot();
                    i = (i + 7919) % n;
                    let k = key(i);
                    let t = Instant::now();
                    ks.set(0, k, v.clone(), Expiry::Clear);
                    total += t.elapsed();
                    drop(snap);
                }
                total
            })
        });
        // A write to another segment while the same snapshot is alive: copies one segment.
        g.bench_function(BenchmarkId::new("later_write_other_segment", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let snap = ks.snapshot();
                    i = (i + 7919) % n;
                    ks.set(0, key(i), v.clone(), Expiry::Clear);
                    let j = (i + n / 2 + 1) % n;
                    let k = key(j);
                    let t = Instant::now();
                    ks.set(0, k, v.clone(), Expiry::Clear);
                    total += t.elapsed();
                    drop(snap);
                }
                total
            })
        });
        // A write with no snapshot alive, for comparison.
        g.bench_function(BenchmarkId::new("write_no_snapshot", n), |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                ks.set(0, key(i), v.clone(), Expiry::Clear)
            })
        });
    }
    g.finish();
}

/// FLUSHALL ASYNC: refilling between runs is far slower than the flush itself, so this is
/// timed by hand (a few runs, median) rather than by criterion's sampling loop.
fn flushall_async() {
    let mut sizes = vec![1_000_000];
    if big() {
        sizes.push(10_000_000);
    }
    for n in sizes {
        let runs = if n >= 10_000_000 { 1 } else { 3 };
        let mut returns = Vec::new();
        let mut frees = Vec::new();
        for _ in 0..runs {
            let mut ks = filled(n);
            let t = Instant::now();
            let removed = ks.empty(DbTarget::All, FreeMode::Async).unwrap();
            let returned = t.elapsed();
            assert_eq!(removed, n);
            while ks.lazyfree_pending() > 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
            frees.push(t.elapsed());
            returns.push(returned);
        }
        returns.sort();
        frees.sort();
        let sync = {
            let mut ks = filled(n);
            let t = Instant::now();
            ks.empty(DbTarget::All, FreeMode::Sync).unwrap();
            t.elapsed()
        };
        println!(
            "flushall_async/{n}: returns in {:?} (median of {runs}); background free done after {:?}; FLUSHALL SYNC for comparison: {:?}",
            returns[returns.len() / 2],
            frees[frees.len() / 2],
            sync
        );
    }
}

criterion_group!(benches, throughput, snapshots);

fn main() {
    benches();
    if std::env::var("TANDEM_BENCH_SKIP_FLUSH").is_err() {
        flushall_async();
    }
    Criterion::default().configure_from_args().final_summary();
}
