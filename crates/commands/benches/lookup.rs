//! Command-name lookup speed: the dispatcher does one per request.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tandem_commands::{lookup, lookup_any, lookup_sub};

fn bench_lookup(c: &mut Criterion) {
    c.bench_function("lookup implemented PING", |b| {
        b.iter(|| lookup(black_box(b"PING")))
    });
    c.bench_function("lookup implemented client|setname", |b| {
        b.iter(|| {
            let client = lookup(black_box(b"client"))?;
            lookup_sub(client, black_box(b"SETNAME"))
        })
    });
    c.bench_function("lookup missing", |b| {
        b.iter(|| lookup(black_box(b"nosuchcommand")))
    });
    c.bench_function("lookup_any zunionstore", |b| {
        b.iter(|| lookup_any(black_box(b"ZUNIONSTORE")))
    });
}

criterion_group!(benches, bench_lookup);
criterion_main!(benches);
