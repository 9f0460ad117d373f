//! Legacy encodings Redis 7 no longer writes (zipmap, ziplist, linked lists,
//! quicklist 1, ASCII-score zsets, version-1 streams, second-resolution
//! expiry, RDB versions below 10): our own hand-built fixtures, decoded by
//! the crate and loaded by redis-server 7.0.15 to prove they are right.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{
    assert_entries_eq, check_against_redis, rdb_finish, rdb_len, rdb_str, redis_available, ziplist,
    zipmap, Redis,
};
use tandem_rdb::blob::ListpackWriter;
use tandem_rdb::{
    decode_all, Consumer, ConsumerGroup, Entry, PendingEntry, RdbValue, Stream, StreamEntry,
    StreamId, StreamNode,
};

fn b(s: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(s.as_ref())
}

fn header(version: u32) -> Vec<u8> {
    format!("REDIS{version:04}").into_bytes()
}

fn key(out: &mut Vec<u8>, ty: u8, k: &str) {
    out.push(ty);
    rdb_str(out, k.as_bytes());
}

/// An RDB 9 file as Redis 5/6 wrote it, plus the entries it holds.
fn rdb9() -> (Vec<u8>, Vec<Entry>) {
    let mut f = header(9);
    f.push(0xFA);
    rdb_str(&mut f, b"redis-ver");
    rdb_str(&mut f, b"6.2.0");
    f.extend_from_slice(&[0xFE, 0x00, 0xFB, 10, 1]);
    let mut want = Vec::new();

    // 10: list as a ziplist (with every integer width and a long string).
    let long = "x".repeat(300);
    let items: Vec<&[u8]> = vec![
        b"a",
        b"1",
        b"12",
        b"13",
        b"-100",
        b"1000",
        b"70000",
        b"-9000000",
        b"5000000000",
        long.as_bytes(),
        b"",
    ];
    key(&mut f, 10, "zl:list");
    rdb_str(&mut f, &ziplist(&items));
    want.push(Entry::new(
        0,
        "zl:list",
        RdbValue::List(items.iter().map(b).collect()),
    ));

    // 12: zset ziplist (integer and text scores), with EXPIRETIME (seconds).
    f.push(0xFD);
    f.extend_from_slice(&2_147_483_000i32.to_le_bytes());
    key(&mut f, 12, "zl:zset");
    rdb_str(&mut f, &ziplist(&[b"m1", b"1.5", b"m2", b"3"]));
    let mut e = Entry::new(
        0,
        "zl:zset",
        RdbValue::ZSet(vec![(b("m1"), 1.5), (b("m2"), 3.0)]),
    );
    e.expire_ms = Some(2_147_483_000_000);
    want.push(e);

    // 13: hash ziplist.
    key(&mut f, 13, "zl:hash");
    rdb_str(&mut f, &ziplist(&[b"f1", b"v1", b"f2", b"42"]));
    want.push(Entry::new(
        0,
        "zl:hash",
        RdbValue::Hash(vec![(b("f1"), b("v1")), (b("f2"), b("42"))]),
    ));

    // 14: quicklist (v1) of two ziplists; the second one LZF-compressed.
    key(&mut f, 14, "ql:list");
    rdb_len(&mut f, 2);
    rdb_str(&mut f, &ziplist(&[b"n1", b"n2"]));
    let node = ziplist(&[b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", b"7"]);
    let c = tandem_rdb::lzf::compress(&node, node.len() - 4).unwrap();
    f.push(0xC3);
    rdb_len(&mut f, c.len() as u64);
    rdb_len(&mut f, node.len() as u64);
    f.extend_from_slice(&c);
    want.push(Entry::new(
        0,
        "ql:list",
        RdbValue::Quicklist(Box::new(tandem_rdb::Quicklist {
            items: vec![
                b("n1"),
                b("n2"),
                b("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                b("7"),
            ],
            // The file's two nodes are kept.
            nodes: vec![
                tandem_rdb::QuicklistNode {
                    count: 2,
                    plain: false,
                };
                2
            ],
        })),
    ));

    // 9: zipmap hash (with free bytes after a value).
    key(&mut f, 9, "zm:hash");
    rdb_str(&mut f, &zipmap(&[(b"k", b"v1"), (b"x", b"yz")], 2));
    want.push(Entry::new(
        0,
        "zm:hash",
        RdbValue::Hash(vec![(b("k"), b("v1")), (b("x"), b("yz"))]),
    ));

    // 1: linked list.
    key(&mut f, 1, "ll:list");
    rdb_len(&mut f, 3);
    for s in ["one", "2", "three"] {
        rdb_str(&mut f, s.as_bytes());
    }
    want.push(Entry::new(
        0,
        "ll:list",
        RdbValue::List(vec![b("one"), b("2"), b("three")]),
    ));

    // 3: zset with ASCII scores (254 = +inf).
    key(&mut f, 3, "z3:zset");
    rdb_len(&mut f, 3);
    rdb_str(&mut f, b"a");
    rdb_str(&mut f, b"2.5");
    rdb_str(&mut f, b"b");
    f.push(254);
    rdb_str(&mut f, b"c");
    rdb_str(&mut f, b"-1");
    want.push(Entry::new(
        0,
        "z3:zset",
        RdbValue::ZSet(vec![(b("c"), -1.0), (b("a"), 2.5), (b("b"), f64::INFINITY)]),
    ));

    // 11: intset with 8-byte width.
    key(&mut f, 11, "is:set");
    let mut is = vec![8, 0, 0, 0, 2, 0, 0, 0];
    is.extend_from_slice(&(-5i64).to_le_bytes());
    is.extend_from_slice(&6_000_000_000i64.to_le_bytes());
    rdb_str(&mut f, &is);
    want.push(Entry::new(
        0,
        "is:set",
        RdbValue::Set(vec![b("-5"), b("6000000000")]),
    ));

    // 15: stream v1 with a group, a PEL and a consumer.
    key(&mut f, 15, "st:v1");
    rdb_len(&mut f, 1);
    rdb_str(&mut f, &StreamId::new(1, 1).to_be_bytes());
    let mut lp = ListpackWriter::new();
    for v in [2, 0, 1] {
        lp.push_int(v);
    }
    lp.push(b"f");
    lp.push_int(0);
    // 1-1 {f: v}: same fields as the master entry.
    for v in [2, 0, 0] {
        lp.push_int(v);
    }
    lp.push(b"v");
    lp.push_int(4);
    // 1-2 {f: w, g: x}.
    for v in [0, 0, 1, 2] {
        lp.push_int(v);
    }
    for s in [&b"f"[..], b"w", b"g", b"x"] {
        lp.push(s);
    }
    lp.push_int(8);
    rdb_str(&mut f, &lp.finish());
    rdb_len(&mut f, 2); // length
    rdb_len(&mut f, 1); // last id ms
    rdb_len(&mut f, 2); // last id seq
    rdb_len(&mut f, 1); // groups
    rdb_str(&mut f, b"g");
    rdb_len(&mut f, 1);
    rdb_len(&mut f, 1);
    rdb_len(&mut f, 1); // PEL
    f.extend_from_slice(&StreamId::new(1, 1).to_be_bytes());
    f.extend_from_slice(&1_600_000_000_000i64.to_le_bytes());
    rdb_len(&mut f, 3);
    rdb_len(&mut f, 1); // consumers
    rdb_str(&mut f, b"c");
    f.extend_from_slice(&1_600_000_000_500i64.to_le_bytes());
    rdb_len(&mut f, 1);
    f.extend_from_slice(&StreamId::new(1, 1).to_be_bytes());
    want.push(Entry::new(
        0,
        "st:v1",
        RdbValue::Stream(Box::new(Stream {
            nodes: StreamNode::pack(vec![
                StreamEntry {
                    id: StreamId::new(1, 1),
                    fields: vec![(b("f"), b("v"))],
                },
                StreamEntry {
                    id: StreamId::new(1, 2),
                    fields: vec![(b("f"), b("w")), (b("g"), b("x"))],
                },
            ]),
            last_id: StreamId::new(1, 2),
            first_id: StreamId::new(1, 1),
            max_deleted_id: StreamId::default(),
            entries_added: 2,
            groups: vec![ConsumerGroup {
                name: b("g"),
                last_id: StreamId::new(1, 1),
                entries_read: 1,
                pel: vec![PendingEntry {
                    id: StreamId::new(1, 1),
                    delivery_time: 1_600_000_000_000,
                    delivery_count: 3,
                }],
                consumers: vec![Consumer {
                    name: b("c"),
                    seen_time: 1_600_000_000_500,
                    active_time: None,
                    pending: vec![StreamId::new(1, 1)],
                }],
            }],
        })),
    ));

    // A second database.
    f.extend_from_slice(&[0xFE, 0x02]);
    key(&mut f, 0, "db2:s");
    rdb_str(&mut f, b"two");
    want.push(Entry::new(2, "db2:s", RdbValue::String(b("two"))));

    (rdb_finish(f, 9), want)
}

/// An RDB 3 file (Redis 2.4 era): no checksum trailer.
fn rdb3() -> (Vec<u8>, Vec<Entry>) {
    let mut f = header(3);
    f.extend_from_slice(&[0xFE, 0x00]);
    let mut want = Vec::new();
    key(&mut f, 9, "zm");
    rdb_str(&mut f, &zipmap(&[(b"a", b"1"), (b"bb", b"")], 0));
    want.push(Entry::new(
        0,
        "zm",
        RdbValue::Hash(vec![(b("a"), b("1")), (b("bb"), Bytes::new())]),
    ));
    key(&mut f, 2, "set");
    rdb_len(&mut f, 2);
    rdb_str(&mut f, b"m1");
    f.extend_from_slice(&[0xC0, 0x07]); // INT8 7
    want.push(Entry::new(0, "set", RdbValue::Set(vec![b("m1"), b("7")])));
    key(&mut f, 4, "hash");
    rdb_len(&mut f, 1);
    rdb_str(&mut f, b"f");
    f.extend_from_slice(&[0xC1, 0x39, 0x30]); // INT16 12345
    want.push(Entry::new(
        0,
        "hash",
        RdbValue::Hash(vec![(b("f"), b("12345"))]),
    ));
    key(&mut f, 0, "str");
    f.extend_from_slice(&[0xC2, 0x15, 0xCD, 0x5B, 0x07]); // INT32 123456789
    want.push(Entry::new(0, "str", RdbValue::String(b("123456789"))));
    (rdb_finish(f, 3), want)
}

#[test]
fn legacy_fixtures_decode() {
    let (f9, want9) = rdb9();
    let got = decode_all(&f9).unwrap();
    assert_eq!(got.version, 9);
    assert!(got.checksum.is_some());
    assert_entries_eq(&got.entries, &want9);

    let (f3, want3) = rdb3();
    let got = decode_all(&f3).unwrap();
    assert_eq!(got.version, 3);
    assert_eq!(got.checksum, None);
    assert_entries_eq(&got.entries, &want3);
}

#[test]
fn legacy_fixtures_load_in_redis() {
    if !redis_available() {
        eprintln!("redis-server not installed: skipping");
        return;
    }
    for (bytes, want) in [rdb9(), rdb3()] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dump.rdb"), &bytes).unwrap();
        let redis = Redis::start(dir.path(), &[]);
        assert!(
            redis.log().contains("DB loaded from disk"),
            "{}",
            redis.log()
        );
        let mut c = redis.client();
        check_against_redis(&mut c, &want);
    }
}
