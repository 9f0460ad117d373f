//! Throughput of the request decoder and the encoder.
//!
//! * `decode/pipeline_1000_set`: a pipeline of 1000 `SET key:<n> <32-byte value>`
//!   multibulk requests decoded in one batch.
//! * `decode/bulk_1mib`: one `SET` whose value is 1 MiB, whole, and arriving in 16 KiB reads.
//! * `encode/pipeline_1000_set`: encoding the same 1000 commands.
//! * `encode/replies_1000`: 1000 mixed replies (+OK, integer, bulk, null) for RESP2 and RESP3.
//! * `decode_value/pipeline_1000_set`: the general value decoder on the same bytes.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use tandem_resp::{decode_value, Encoder, Protocol, RequestDecoder};

fn set_commands() -> Vec<Vec<Vec<u8>>> {
    (0..1000)
        .map(|n| {
            vec![
                b"SET".to_vec(),
                format!("key:{n}").into_bytes(),
                format!("{n:0>32}").into_bytes(),
            ]
        })
        .collect()
}

fn encode_commands(cmds: &[Vec<Vec<u8>>], out: &mut BytesMut) {
    let mut e = Encoder::new(out, Protocol::Resp2);
    for c in cmds {
        e.array_len(c.len());
        for a in c {
            e.bulk(a);
        }
    }
}

fn decode(c: &mut Criterion) {
    let cmds = set_commands();
    let mut wire = BytesMut::new();
    encode_commands(&cmds, &mut wire);
    let wire = wire.freeze();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("pipeline_1000_set", |b| {
        let mut d = RequestDecoder::default();
        let mut out = Vec::with_capacity(1000);
        b.iter_batched_ref(
            || BytesMut::from(&wire[..]),
            |buf| {
                out.clear();
                d.decode_batch(buf, &mut out).unwrap_or(());
                black_box(out.len())
            },
            BatchSize::SmallInput,
        )
    });

    let value = vec![b'v'; 1 << 20];
    let mut big = BytesMut::new();
    encode_commands(&[vec![b"SET".to_vec(), b"big".to_vec(), value]], &mut big);
    let big = big.freeze();
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("bulk_1mib", |b| {
        let mut d = RequestDecoder::default();
        let mut out = Vec::new();
        b.iter_batched_ref(
            || BytesMut::from(&big[..]),
            |buf| {
                out.clear();
                d.decode_batch(buf, &mut out).unwrap_or(());
                black_box(out.len())
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("bulk_1mib_in_16k_reads", |b| {
        let mut d = RequestDecoder::default();
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            let mut buf = BytesMut::with_capacity(16 * 1024);
            for chunk in big.chunks(16 * 1024) {
                if let Some(n) = d.needed() {
                    buf.reserve(n);
                }
                buf.extend_from_slice(chunk);
                d.decode_batch(&mut buf, &mut out).unwrap_or(());
            }
            black_box(out.len())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("decode_value");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("pipeline_1000_set", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&wire[..]),
            |buf| {
                let mut n = 0;
                while let Ok(Some(v)) = decode_value(buf) {
                    black_box(v);
                    n += 1;
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let cmds = set_commands();
    let mut probe = BytesMut::new();
    encode_commands(&cmds, &mut probe);
    let len = probe.len();

    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("pipeline_1000_set", |b| {
        let mut out = BytesMut::with_capacity(len);
        b.iter(|| {
            out.clear();
            encode_commands(&cmds, &mut out);
            black_box(out.len())
        })
    });

    for proto in [Protocol::Resp2, Protocol::Resp3] {
        let replies = |out: &mut BytesMut| {
            let mut e = Encoder::new(out, proto);
            for n in 0..250i64 {
                e.ok();
                e.integer(n * 7919);
                e.bulk(&cmds[n as usize][2]);
                e.null();
            }
        };
        let mut probe = BytesMut::new();
        replies(&mut probe);
        g.throughput(Throughput::Bytes(probe.len() as u64));
        g.bench_function(format!("replies_1000_{proto:?}"), |b| {
            let mut out = BytesMut::with_capacity(probe.len());
            b.iter(|| {
                out.clear();
                replies(&mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
