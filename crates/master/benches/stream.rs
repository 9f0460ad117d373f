//! The replication stream's cost on the write path: each write propagated with
//! `also_propagate` and fed at the end of its execution unit (`flush`: RESP encoding,
//! SELECT when the database changes, MULTI/EXEC wrapping, the backlog append), with no
//! replica attached (the backlog only), as every write on a master with a backlog pays.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tandem_backlog::ReplicationIds;
use tandem_master::{Master, MasterConfig};

/// Writes per iteration.
const WRITES: usize = 10_000;

fn master() -> Master {
    let mut m = Master::new(ReplicationIds::new(), MasterConfig::default());
    m.backlog.create();
    m
}

fn set_command(i: usize, value: &Bytes) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"SET"),
        Bytes::from(format!("key:{i:012}")),
        value.clone(),
    ]
}

fn stream(c: &mut Criterion) {
    let value = Bytes::from(vec![b'v'; 100]);
    let commands: Vec<Vec<Bytes>> = (0..WRITES).map(|i| set_command(i, &value)).collect();
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Elements(WRITES as u64));
    group.bench_function("SET 100B, one db, one write per unit", |b| {
        let mut m = master();
        b.iter(|| {
            for cmd in &commands {
                m.also_propagate(0, cmd.clone());
                black_box(m.flush(true));
            }
        });
    });
    group.bench_function("SET 100B, alternating dbs (SELECT each write)", |b| {
        let mut m = master();
        b.iter(|| {
            for (i, cmd) in commands.iter().enumerate() {
                m.also_propagate(i % 2, cmd.clone());
                black_box(m.flush(true));
            }
        });
    });
    group.bench_function("SET 100B, MULTI/EXEC units of 10", |b| {
        let mut m = master();
        b.iter(|| {
            for unit in commands.chunks(10) {
                for cmd in unit {
                    m.also_propagate(0, cmd.clone());
                }
                black_box(m.flush(true));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, stream);
criterion_main!(benches);
