//! A stream's node layout as Redis 7.0.15 writes it: a DUMP payload taken from a real
//! server (nodes of 5 entries, three of them deleted with XDEL) decodes into its nodes,
//! tombstones included, and encodes back to the same bytes.
#![allow(clippy::unwrap_used)]

use tandem_rdb::{
    crc64, dump_payload, parse_dump_payload, EncodeOptions, Error, RdbValue, Stream, StreamId,
};

/// `CONFIG SET stream-node-max-entries 5`; `XADD s <i>-1 name n<i> v <i*100>` for i in
/// 1..=12 except 7 (`XADD s 7-1 name x other 77`); `XDEL s 2-1 6-1 7-1`; `DUMP s` with
/// `rdbcompression no`.
const REDIS_DUMP: &str = concat!(
    "130310000000000000000100000000000000014062620000002400040101010201846e616d6505817602",
    "0001020100010001826e310364010501030101010001826e3203c0c8020501020102010001826e3303c1",
    "2c020501020103010001826e3403c190020501020104010001826e3503c1f4020501ff10000000000000",
    "000600000000000000014071710000002700030102010201846e616d65058176020001030100010001826e",
    "3603c2580205010101010100010201846e616d6505817802856f74686572064d01080102010201000182",
    "6e3803c320020501020103010001826e3903c384020501020104010001836e313004c3e8020501ff1000",
    "0000000000000b000000000000000138380000001200020100010201846e616d650581760200010201",
    "00010001836e313104c44c020501020101010001836e313204c4b0020501ff090c01010107010c000a00",
    "57c42e2eff66173c",
);

fn payload() -> Vec<u8> {
    (0..REDIS_DUMP.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&REDIS_DUMP[i..i + 2], 16).unwrap())
        .collect()
}

fn stream() -> Stream {
    match parse_dump_payload(&payload()).unwrap() {
        RdbValue::Stream(s) => *s,
        other => panic!("not a stream: {other:?}"),
    }
}

#[test]
fn redis_nodes_decode_with_their_tombstones() {
    let s = stream();
    let id = |ms| StreamId::new(ms, 1);
    let masters: Vec<StreamId> = s.nodes.iter().map(|n| n.master_id).collect();
    assert_eq!(masters, [id(1), id(6), id(11)]);
    let layout: Vec<Vec<(StreamId, bool)>> = s
        .nodes
        .iter()
        .map(|n| n.entries.iter().map(|e| (e.entry.id, e.deleted)).collect())
        .collect();
    assert_eq!(
        layout,
        [
            vec![
                (id(1), false),
                (id(2), true),
                (id(3), false),
                (id(4), false),
                (id(5), false)
            ],
            vec![
                (id(6), true),
                (id(7), true),
                (id(8), false),
                (id(9), false),
                (id(10), false)
            ],
            vec![(id(11), false), (id(12), false)],
        ]
    );
    // A tombstone keeps its fields; the master fields are the first entry's names.
    let seven = &s.nodes[1].entries[1].entry;
    assert_eq!(seven.fields[1], ("other".into(), "77".into()));
    assert_eq!(s.nodes[1].master_fields, ["name", "v"]);
    assert_eq!(s.len(), 9);
    let live: Vec<StreamId> = s.entries().map(|e| e.id).collect();
    assert_eq!(live.len(), 9);
    assert_eq!(s.max_deleted_id, id(7));
    assert_eq!(s.entries_added, 12);
}

#[test]
fn redis_nodes_encode_back_to_the_same_bytes() {
    let opts = EncodeOptions {
        compression: false,
        ..EncodeOptions::default()
    };
    let s = stream();
    assert_eq!(
        dump_payload(&RdbValue::Stream(Box::new(s.clone())), &opts).unwrap(),
        payload()
    );
    // Built from its live entries alone, the stream packs differently.
    let plain = Stream {
        nodes: tandem_rdb::StreamNode::pack(s.entries().cloned()),
        ..s
    };
    assert_eq!(plain.nodes.len(), 1);
    assert_ne!(
        dump_payload(&RdbValue::Stream(Box::new(plain)), &opts).unwrap(),
        payload()
    );
}

#[test]
fn node_counters_that_do_not_add_up_are_rejected() {
    // The first node's live count (4, at byte 27) made 5: one more than its entries.
    let mut p = payload();
    assert_eq!(&p[25..29], &[0x24, 0x00, 0x04, 0x01]);
    p[27] = 5;
    let n = p.len();
    let crc = crc64(&p[..n - 8]).to_le_bytes();
    p[n - 8..].copy_from_slice(&crc);
    assert!(matches!(
        parse_dump_payload(&p).unwrap_err(),
        Error::Corrupt { .. }
    ));
}

/// The payload's stream as a one-key RDB file without checksum.
fn as_file(p: &[u8]) -> Vec<u8> {
    let mut f = b"REDIS0010\xfe\x00".to_vec();
    f.push(p[0]);
    f.extend_from_slice(b"\x01s");
    f.extend_from_slice(&p[1..p.len() - 10]);
    f.push(0xff);
    f.extend_from_slice(&[0; 8]);
    f
}

/// Damaged copies of the stream never panic; those that still decode encode back to the
/// same nodes (what the fuzz target checks on any input).
#[test]
fn damaged_streams_fail_cleanly_or_keep_their_nodes() {
    let file = as_file(&payload());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let (mut decoded, mut refused) = (0, 0);
    for _ in 0..3000 {
        let mut f = file.clone();
        for _ in 0..1 + rnd(3) {
            let at = 12 + rnd(f.len() - 21);
            f[at] = if rnd(2) == 0 {
                rnd(256) as u8
            } else {
                f[at] ^ 1
            };
        }
        let Ok(rdb) = tandem_rdb::decode_all(&f) else {
            refused += 1;
            continue;
        };
        decoded += 1;
        let bytes = tandem_rdb::encode_to_vec(&rdb, &EncodeOptions::default()).unwrap();
        let again = tandem_rdb::decode_all(&bytes).unwrap();
        for (a, b) in rdb.entries.iter().zip(&again.entries) {
            if let (RdbValue::Stream(s), RdbValue::Stream(t)) = (&a.value, &b.value) {
                assert_eq!(s.nodes, t.nodes);
                assert_eq!(
                    (s.last_id, s.first_id, s.max_deleted_id, s.entries_added),
                    (t.last_id, t.first_id, t.max_deleted_id, t.entries_added)
                );
            }
        }
    }
    assert!(
        decoded > 0 && refused > 0,
        "{decoded} decoded, {refused} refused"
    );
}
