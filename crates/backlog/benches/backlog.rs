//! Backlog throughput: appends of small (100-byte, a typical propagated SET)
//! and large (16 KiB) writes into a wrapping 1mb backlog, and reads of the
//! whole history (`bytes_from` + copy), as a PSYNC continue does.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tandem_backlog::{Backlog, PsyncDecision, ReplicationIds, DEFAULT_BACKLOG_SIZE};

/// Bytes appended per iteration of the append benches.
const PER_ITER: usize = 4 * 1024 * 1024;

fn filled(size: usize) -> Backlog {
    let mut b = Backlog::new(size);
    b.create();
    let chunk = vec![b'x'; 4096];
    while b.histlen() < size {
        b.append(&chunk);
    }
    b
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    for write in [100usize, 16 * 1024] {
        let data: Vec<u8> = (0..write).map(|i| (i % 251) as u8).collect();
        let writes = PER_ITER / write;
        group.throughput(Throughput::Bytes((writes * write) as u64));
        group.bench_function(format!("{write}B writes, 1mb backlog"), |bch| {
            let mut backlog = filled(DEFAULT_BACKLOG_SIZE);
            bch.iter(|| {
                for _ in 0..writes {
                    backlog.append(black_box(&data));
                }
            });
            black_box(backlog.master_repl_offset());
        });
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    let backlog = filled(DEFAULT_BACKLOG_SIZE);
    let ids = ReplicationIds::new();
    let replid = ids.replid().to_string();
    let from = backlog.first_byte_offset();
    group.throughput(Throughput::Bytes(backlog.histlen() as u64));
    // One output buffer for all iterations: a fresh 1mb allocation per
    // iteration would measure page faults, not the copy.
    let mut out: Vec<u8> = Vec::with_capacity(DEFAULT_BACKLOG_SIZE);
    group.bench_function("bytes_from + copy, whole 1mb", |bch| {
        bch.iter(|| {
            out.clear();
            if let Some(s) = backlog.bytes_from(black_box(from)) {
                s.copy_into(&mut out);
            }
            black_box(out.len())
        });
    });
    group.bench_function("psync decision + copy, whole 1mb", |bch| {
        bch.iter(|| {
            out.clear();
            if let PsyncDecision::Continue { bytes, .. } =
                backlog.psync(&ids, black_box(&replid), from)
            {
                bytes.copy_into(&mut out);
            }
            black_box(out.len())
        });
    });
    // The tail a typical reconnecting replica asks for: the last 16 KiB.
    let tail = backlog.master_repl_offset() + 1 - 16 * 1024;
    group.throughput(Throughput::Bytes(16 * 1024));
    group.bench_function("bytes_from + copy, last 16KiB", |bch| {
        bch.iter(|| {
            out.clear();
            if let Some(s) = backlog.bytes_from(black_box(tail)) {
                s.copy_into(&mut out);
            }
            black_box(out.len())
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = append, read
}
criterion_main!(benches);
