//! Property tests: the backlog against a model that keeps the whole stream.
//!
//! Whatever chunks are appended (and however the backlog is resized between
//! them), `bytes_from(o)` for every offset `o` in
//! `first_byte_offset ..= master_repl_offset + 1` is exactly the tail of the
//! concatenated stream from `o`, offsets outside that range give `None`, and
//! PSYNC with the current id agrees with `bytes_from`.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tandem_backlog::{Backlog, PsyncDecision, ReplicationIds};

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    Resize(usize),
}

fn op(max_chunk: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..max_chunk).prop_map(Op::Append),
        1 => (1usize..80).prop_map(Op::Resize),
    ]
}

/// Checks every offset of the held range, and both sides of it.
fn check(backlog: &Backlog, ids: &ReplicationIds, stream: &[u8], start: i64) {
    let master = backlog.master_repl_offset();
    assert_eq!(master, start + stream.len() as i64);
    let histlen = backlog.histlen();
    assert!(histlen <= backlog.size());
    assert!(backlog.memory_usage() <= backlog.size());
    let first = backlog.first_byte_offset();
    assert_eq!(first, master - histlen as i64 + 1);
    let replid = ids.replid().to_string();
    for o in first..=master + 1 {
        let idx = (o - start - 1) as usize;
        let got = backlog.bytes_from(o).unwrap();
        assert_eq!(got.to_vec(), &stream[idx..], "offset {o}");
        match backlog.psync(ids, &replid, o) {
            PsyncDecision::Continue { from, bytes } => {
                assert_eq!(from, o);
                assert_eq!(bytes, got);
            }
            PsyncDecision::FullResync { reason } => panic!("offset {o}: {reason:?}"),
        }
    }
    assert!(backlog.bytes_from(first - 1).is_none());
    assert!(backlog.bytes_from(master + 2).is_none());
    assert!(!backlog.psync(ids, &replid, first - 1).is_continue());
    assert!(!backlog.psync(ids, &replid, master + 2).is_continue());
}

proptest! {
    #[test]
    fn bytes_from_is_the_stream_tail(
        size in 1usize..64,
        start in 0i64..1_000_000,
        ops in proptest::collection::vec(op(100), 0..40),
    ) {
        let ids = ReplicationIds::new();
        let mut backlog = Backlog::new(size);
        backlog.create_at(start).unwrap();
        let mut stream = Vec::new();
        check(&backlog, &ids, &stream, start);
        for op in ops {
            match op {
                Op::Append(chunk) => {
                    backlog.append(&chunk);
                    stream.extend_from_slice(&chunk);
                }
                Op::Resize(n) => {
                    let before = backlog.histlen();
                    backlog.resize(n);
                    prop_assert_eq!(backlog.histlen(), before.min(n));
                }
            }
            check(&backlog, &ids, &stream, start);
        }
    }

    #[test]
    fn histlen_is_min_of_written_and_size(
        size in 1usize..5000,
        chunks in proptest::collection::vec(1usize..3000, 0..20),
    ) {
        let mut backlog = Backlog::new(size);
        backlog.create();
        let mut total = 0usize;
        for (i, n) in chunks.into_iter().enumerate() {
            backlog.append(&vec![i as u8; n]);
            total += n;
            prop_assert_eq!(backlog.histlen(), total.min(size));
            prop_assert!(backlog.memory_usage() <= size);
            // The newest byte is always the last one written.
            let last = backlog.bytes_from(backlog.master_repl_offset()).unwrap().to_vec();
            prop_assert_eq!(last, vec![i as u8]);
        }
    }

    #[test]
    fn large_chunks_any_offset(
        size in 1usize..20_000,
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..9000), 0..12),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 16),
    ) {
        let mut backlog = Backlog::new(size);
        backlog.create();
        let mut stream = Vec::new();
        for chunk in &chunks {
            backlog.append(chunk);
            stream.extend_from_slice(chunk);
            let first = backlog.first_byte_offset();
            let span = (backlog.master_repl_offset() + 2 - first) as usize;
            for pick in &picks {
                let o = first + pick.index(span) as i64;
                let got = backlog.bytes_from(o).unwrap().to_vec();
                prop_assert_eq!(&got[..], &stream[(o - 1) as usize..]);
            }
        }
    }
}
