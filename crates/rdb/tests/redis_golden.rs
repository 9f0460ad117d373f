//! Golden tests against the real redis-server 7.0.15.
//!
//! * Redis → crate: build keys of every type and encoding with commands, SAVE,
//!   decode dump.rdb, compare with what the server reports; compare our DUMP
//!   payloads with the server's byte for byte (for deterministic encodings).
//! * crate → Redis: encode a dataset, check it with redis-check-rdb, load it
//!   in redis-server, compare through commands, and SAVE it back.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use bytes::Bytes;
use common::{assert_entries_eq, check_against_redis, norm, redis_available, Client, Redis, Reply};
use tandem_rdb::{
    decode_all, dump_payload, encode_to_vec, parse_dump_payload, AuxFields, Consumer,
    ConsumerGroup, Decoder, EncodeOptions, Entry, Function, Item, PendingEntry, Rdb, RdbValue,
    Stream, StreamEntry, StreamId, StreamNode,
};

fn b(s: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(s.as_ref())
}

/// Deterministic pseudo-random bytes (incompressible-ish).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// Build a dataset with commands: every type and encoding 7.0.15 writes.
fn populate(c: &mut Client) {
    let mut cmds: Vec<Vec<Vec<u8>>> = vec![
        args!["SET", "str:int", "12345"],
        args!["SET", "str:neg", "-5"],
        args!["SET", "str:i32", "-2147483648"],
        args!["SET", "str:big", "12345678901"],
        args!["SET", "str:raw", "hello"],
        args!["SET", "str:lzf", "abc".repeat(60)],
        args!["SET", "str:bin", b"\x00\xff\r\n\x00"],
        args!["SET", "str:noise", noise(300, 1)],
        args!["SET", "str:empty", ""],
        args!["SET", "123", "key that looks like an integer"],
        args!["SET", "exp:k", "v", "PXAT", "4102444800123"],
        args![
            "RPUSH",
            "list:small",
            "a",
            "b",
            "1",
            "2",
            "-3",
            "70000",
            "5000000000"
        ],
        args!["SADD", "set:int", "1", "2", "300", "-7"],
        args!["SADD", "set:int64", "1", "5000000000"],
        args!["SADD", "set:str", "a", "b", "c"],
        args![
            "ZADD",
            "zset:small",
            "1.5",
            "m",
            "2",
            "n",
            "0.1",
            "a",
            "-inf",
            "ninf",
            "+inf",
            "pinf",
            "1e21",
            "big",
            "-0",
            "negzero",
            "123456789.123",
            "f",
            "1e-7",
            "e"
        ],
        args![
            "HSET",
            "hash:small",
            "f1",
            "v1",
            "n",
            "42",
            "neg",
            "-100000"
        ],
        args!["HSET", "hash:longval", "f", "x".repeat(100)],
        args![
            "ZADD",
            "zset:longmember",
            "1",
            "m".repeat(100),
            "2",
            "short"
        ],
        args!["PEXPIRE", "hash:small", "9000000000000"],
    ];
    let mut big_list = args!["RPUSH", "list:big"];
    for i in 0..1000 {
        big_list.push(format!("element-{i:05}-{}", "p".repeat(60)).into_bytes());
    }
    cmds.push(big_list);
    let mut ints = args!["RPUSH", "list:ints"];
    for i in -150..150 {
        ints.push((i * 977).to_string().into_bytes());
    }
    cmds.push(ints);
    let mut big_intset = args!["SADD", "set:bigint"];
    for i in 0..600 {
        big_intset.push((i * 3).to_string().into_bytes());
    }
    cmds.push(big_intset);
    let mut zbig = args!["ZADD", "zset:big"];
    for i in 0..200 {
        zbig.push(format!("{}", f64::from(i) * 1.25).into_bytes());
        zbig.push(format!("member{i}").into_bytes());
    }
    cmds.push(zbig);
    let mut hbig = args!["HSET", "hash:big"];
    for i in 0..600 {
        hbig.push(format!("field{i}").into_bytes());
        hbig.push(format!("value{i}").into_bytes());
    }
    cmds.push(hbig);
    // Streams.
    cmds.push(args!["XADD", "stream:a", "1-1", "f", "v"]);
    cmds.push(args!["XADD", "stream:a", "2-0", "f", "w", "g", "x"]);
    cmds.push(args!["XADD", "stream:a", "3-5", "f", "y"]);
    cmds.push(args!["XGROUP", "CREATE", "stream:a", "grp", "0"]);
    cmds.push(args![
        "XREADGROUP",
        "GROUP",
        "grp",
        "alice",
        "COUNT",
        "1",
        "STREAMS",
        "stream:a",
        ">"
    ]);
    cmds.push(args![
        "XREADGROUP",
        "GROUP",
        "grp",
        "bob",
        "COUNT",
        "1",
        "STREAMS",
        "stream:a",
        ">"
    ]);
    cmds.push(args!["XGROUP", "CREATE", "stream:a", "grp2", "$"]);
    cmds.push(args![
        "XGROUP",
        "CREATECONSUMER",
        "stream:a",
        "grp2",
        "carol"
    ]);
    for i in 1..=500u32 {
        let mut x = args!["XADD", "stream:big", format!("{}-{}", 1000 + i / 3, i % 3)];
        if i % 7 == 0 {
            x.extend(args!["other", format!("{i}"), "extra", "field"]);
        } else {
            x.extend(args![
                "temp",
                format!("{}", 20 + i % 10),
                "humidity",
                format!("{}", i * 3)
            ]);
        }
        cmds.push(x);
    }
    for i in (10..=500u32).step_by(11) {
        cmds.push(args![
            "XDEL",
            "stream:big",
            format!("{}-{}", 1000 + i / 3, i % 3)
        ]);
    }
    cmds.push(args!["XGROUP", "CREATE", "stream:big", "readers", "0"]);
    cmds.push(args![
        "XREADGROUP",
        "GROUP",
        "readers",
        "r1",
        "COUNT",
        "30",
        "STREAMS",
        "stream:big",
        ">"
    ]);
    cmds.push(args![
        "XREADGROUP",
        "GROUP",
        "readers",
        "r2",
        "COUNT",
        "20",
        "STREAMS",
        "stream:big",
        ">"
    ]);
    cmds.push(args!["XADD", "stream:emptied", "5-1", "a", "b"]);
    cmds.push(args!["XDEL", "stream:emptied", "5-1"]);
    cmds.push(args!["XGROUP", "CREATE", "stream:mk", "g", "$", "MKSTREAM"]);
    cmds.push(args![
        "FUNCTION",
        "LOAD",
        "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return 1 end)"
    ]);
    c.pipeline(&cmds);
    // Other databases.
    c.cmd(&["SELECT", "1"]);
    c.cmd(&["SET", "db1:k", "v"]);
    c.cmd(&["SELECT", "5"]);
    c.cmd(&["RPUSH", "db5:l", "x"]);
    c.cmd(&["SET", "db5:e", "expiring", "EX", "100000"]);
    c.cmd(&["SELECT", "0"]);
    // A PLAIN quicklist node: lower the packed threshold (DEBUG, 7.0+).
    if let Reply::Status(_) = c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"]) {
        c.cmd(&["RPUSH", "list:plain", "small", &"L".repeat(300), "tail"]);
        c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1073741824"]);
    }
}

#[test]
fn redis_writes_crate_reads() {
    if !redis_available() {
        eprintln!("redis-server not installed: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(dir.path(), &["--enable-debug-command", "yes"]);
    let mut c = redis.client();
    populate(&mut c);
    assert_eq!(c.cmd(&["SAVE"]), Reply::Status("OK".into()));
    let file = std::fs::read(dir.path().join("dump.rdb")).unwrap();

    // Streaming decode in odd-sized chunks, recording each key's object type.
    let mut d = Decoder::new();
    let mut types = std::collections::BTreeMap::new();
    let mut entries = Vec::new();
    let mut aux = Vec::new();
    let mut functions = Vec::new();
    let mut ended = false;
    for chunk in file.chunks(997) {
        d.feed(chunk);
        while let Some(item) = d.next_item().unwrap() {
            match item {
                Item::Entry(e) => {
                    types.insert((e.db, e.key.clone()), d.last_object_type().unwrap());
                    entries.push(e);
                }
                Item::Aux { key, value } => aux.push((key, value)),
                Item::Function(f) => functions.push(f),
                Item::End {
                    checksum_ok,
                    checksum,
                } => {
                    assert!(checksum_ok);
                    assert!(checksum.is_some());
                    ended = true;
                }
                Item::SelectDb(_) | Item::ResizeDb(_) | Item::ModuleAux(_) => {}
            }
        }
    }
    d.finish().unwrap();
    assert!(ended);
    assert_eq!(d.offset(), file.len() as u64);
    assert_eq!(d.version(), 10);
    assert_eq!(aux[0], (b("redis-ver"), b("7.0.15")));
    assert_eq!(aux[1], (b("redis-bits"), b("64")));
    assert_eq!(functions.len(), 1);
    assert!(functions[0].code.starts_with(b"#!lua name=mylib"));

    // Every encoding 7.0.15 writes was seen.
    let seen: BTreeSet<u8> = types.values().copied().collect();
    for t in [0u8, 2, 4, 5, 11, 16, 17, 18, 19] {
        assert!(seen.contains(&t), "type {t} not produced: {seen:?}");
    }
    assert_eq!(types[&(0, b("set:int"))], 11);
    assert_eq!(types[&(0, b("set:bigint"))], 2);
    assert_eq!(types[&(0, b("zset:longmember"))], 5);
    assert_eq!(types[&(0, b("hash:longval"))], 4);

    // decode_all agrees with the streaming decode.
    let whole = decode_all(&file).unwrap();
    assert_entries_eq(&whole.entries, &entries);

    check_against_redis(&mut c, &entries);

    // Our DUMP payloads equal the server's for deterministic encodings.
    let opts = EncodeOptions::default();
    let mut compared = 0;
    for e in &entries {
        c.cmd(&["SELECT", &e.db.to_string()]);
        let theirs = c.cmd(&[&b"DUMP"[..], &e.key[..]]).bytes();
        // Their payload parses to the same value.
        assert_eq!(parse_dump_payload(&theirs).unwrap(), e.value);
        let enc = c.cmd(&[&b"OBJECT"[..], b"ENCODING", &e.key[..]]).string();
        if enc == "hashtable" || &e.key[..] == b"list:plain" {
            // dict iteration order / test-lowered plain threshold
            continue;
        }
        let (ours, theirs) = if let RdbValue::Stream(st) = &e.value {
            // Node listpacks as Redis holds them, tombstones included, compared without
            // LZF: Redis's compressor starts from whatever its hash table last held.
            if &e.key[..] == b"stream:big" {
                assert!(st.nodes.iter().flat_map(|n| &n.entries).any(|x| x.deleted));
            }
            c.cmd(&["CONFIG", "SET", "rdbcompression", "no"]);
            let theirs = c.cmd(&[&b"DUMP"[..], &e.key[..]]).bytes();
            c.cmd(&["CONFIG", "SET", "rdbcompression", "yes"]);
            let plain = EncodeOptions {
                compression: false,
                ..EncodeOptions::default()
            };
            (dump_payload(&e.value, &plain).unwrap(), theirs)
        } else {
            (dump_payload(&e.value, &opts).unwrap(), theirs)
        };
        if ours != theirs {
            let at = ours.iter().zip(&theirs).position(|(a, b)| a != b);
            panic!(
                "DUMP of {} ({enc}) differs at {at:?}: ours {} bytes, theirs {} bytes\nours   {:?}\ntheirs {:?}",
                String::from_utf8_lossy(&e.key),
                ours.len(),
                theirs.len(),
                &ours[..ours.len().min(80)],
                &theirs[..theirs.len().min(80)]
            );
        }
        compared += 1;
    }
    assert!(compared > 20);

    // Eviction metadata: LFU writes FREQ, LRU writes IDLE.
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
    c.cmd(&["SAVE"]);
    let lfu = decode_all(&std::fs::read(dir.path().join("dump.rdb")).unwrap()).unwrap();
    assert!(lfu
        .entries
        .iter()
        .all(|e| e.freq.is_some() && e.idle_secs.is_none()));
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    c.cmd(&["SAVE"]);
    let lru = decode_all(&std::fs::read(dir.path().join("dump.rdb")).unwrap()).unwrap();
    assert!(lru
        .entries
        .iter()
        .all(|e| e.idle_secs.is_some() && e.freq.is_none()));

    drop(c);
    drop(redis);

    // rdbchecksum no (immutable at runtime): the trailer is zero, reported as
    // "not computed"; rdbcompression no: no LZF strings.
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(
        dir.path(),
        &["--rdbchecksum", "no", "--rdbcompression", "no"],
    );
    let mut c = redis.client();
    c.cmd(&["SET", "k", &"a".repeat(100)]);
    assert_eq!(c.cmd(&["SAVE"]), Reply::Status("OK".into()));
    let file = std::fs::read(dir.path().join("dump.rdb")).unwrap();
    assert_eq!(&file[file.len() - 8..], &[0; 8]);
    let plain = decode_all(&file).unwrap();
    assert_eq!(plain.checksum, None);
    assert_eq!(plain.entries.len(), 1);
    let opts = EncodeOptions {
        compression: false,
        checksum: false,
        ..EncodeOptions::default()
    };
    let mut ours = tandem_rdb::Encoder::new(Vec::new(), opts).unwrap();
    ours.entry(&plain.entries[0]).unwrap();
    let ours = ours.finish().unwrap();
    assert!(
        file.ends_with(&ours[9..]),
        "same key bytes, EOF and zero checksum"
    );
}

/// A dataset built in Rust covering every type and both encodings of each.
fn dataset() -> Vec<Entry> {
    let mut v = Vec::new();
    let mut add = |db: u64, key: &str, value: RdbValue| v.push(Entry::new(db, b(key), value));
    add(0, "s:int", RdbValue::String(b("-123456")));
    add(0, "s:big", RdbValue::String(b("98765432101")));
    add(0, "s:raw", RdbValue::String(b("hello world")));
    add(0, "s:lzf", RdbValue::String(b("xyz".repeat(100))));
    add(0, "s:noise", RdbValue::String(b(noise(500, 7))));
    add(0, "s:empty", RdbValue::String(Bytes::new()));
    add(0, "42", RdbValue::String(b("integer key")));
    add(
        0,
        "l:small",
        RdbValue::List(vec![b("a"), b("-1"), b("4096"), b("x".repeat(70))]),
    );
    add(
        0,
        "l:big",
        RdbValue::List(
            (0..3000)
                .map(|i| b(format!("item:{i}:{}", "z".repeat(i % 50))))
                .collect(),
        ),
    );
    add(
        0,
        "set:ints",
        RdbValue::Set(
            (0..100)
                .map(|i| b((i * 7919 - 300000).to_string()))
                .collect(),
        ),
    );
    add(
        0,
        "set:i64",
        RdbValue::Set(vec![b("9223372036854775807"), b("-9223372036854775808")]),
    );
    add(
        0,
        "set:strs",
        RdbValue::Set((0..50).map(|i| b(format!("m{i}"))).collect()),
    );
    add(
        0,
        "set:manyints",
        RdbValue::Set((0..700).map(|i| b(i.to_string())).collect()),
    );
    add(
        0,
        "z:small",
        RdbValue::ZSet(vec![
            (b("a"), 0.1),
            (b("b"), -2.5),
            (b("c"), 3.0),
            (b("d"), f64::INFINITY),
            (b("e"), 1e300),
            (b("f"), 4e18),
        ]),
    );
    add(
        0,
        "z:big",
        RdbValue::ZSet(
            (0..300)
                .map(|i| (b(format!("zm{i:04}")), f64::from(i) / 3.0))
                .collect(),
        ),
    );
    add(
        0,
        "h:small",
        RdbValue::Hash(vec![
            (b("f"), b("v")),
            (b("n"), b("12")),
            (b("e"), Bytes::new()),
        ]),
    );
    add(
        0,
        "h:big",
        RdbValue::Hash(
            (0..600)
                .map(|i| (b(format!("f{i}")), b(format!("v{}", i * i))))
                .collect(),
        ),
    );
    add(
        0,
        "h:longfield",
        RdbValue::Hash(vec![(b("k".repeat(65)), b("v"))]),
    );
    let entries: Vec<StreamEntry> = (1..=300u64)
        .map(|i| StreamEntry {
            id: StreamId::new(1_700_000_000_000 + i, i % 2),
            fields: if i % 5 == 0 {
                vec![(b("a"), b(i.to_string())), (b("b"), b("text"))]
            } else {
                vec![(b("temp"), b((i * 3).to_string()))]
            },
        })
        .collect();
    let ids: Vec<StreamId> = entries.iter().map(|e| e.id).collect();
    // Nodes as XADD with the default limits builds them, then a few tombstones (XDEL
    // flags an entry inside its node): Redis keeps and re-saves them as they are.
    let mut nodes = StreamNode::pack(entries);
    assert!(nodes.len() >= 3);
    nodes[1].entries[3].deleted = true;
    nodes[1].entries[4].deleted = true;
    nodes[2].entries[0].deleted = true;
    add(
        0,
        "stream",
        RdbValue::Stream(Box::new(Stream {
            first_id: ids[0],
            last_id: StreamId::new(1_700_000_000_999, 0),
            max_deleted_id: StreamId::new(1_700_000_000_500, 0),
            entries_added: 310,
            groups: vec![
                ConsumerGroup {
                    name: b("g1"),
                    last_id: ids[9],
                    entries_read: 10,
                    pel: ids[..10]
                        .iter()
                        .map(|&id| PendingEntry {
                            id,
                            delivery_time: 1_700_000_001_000,
                            delivery_count: 2,
                        })
                        .collect(),
                    consumers: vec![
                        Consumer {
                            name: b("alice"),
                            seen_time: 1_700_000_002_000,
                            active_time: None,
                            pending: ids[..4].to_vec(),
                        },
                        Consumer {
                            name: b("bob"),
                            seen_time: 1_700_000_003_000,
                            active_time: None,
                            pending: ids[4..10].to_vec(),
                        },
                    ],
                },
                ConsumerGroup {
                    name: b("g2"),
                    last_id: StreamId::default(),
                    entries_read: -1,
                    pel: vec![],
                    consumers: vec![],
                },
            ],
            nodes,
        })),
    );
    add(
        0,
        "stream:empty",
        RdbValue::Stream(Box::new(Stream {
            last_id: StreamId::new(5, 5),
            entries_added: 3,
            max_deleted_id: StreamId::new(5, 5),
            ..Stream::default()
        })),
    );
    add(1, "db1", RdbValue::String(b("one")));
    add(9, "db9", RdbValue::List(vec![b("nine")]));
    v[0].expire_ms = Some(4_102_444_800_000);
    v[7].expire_ms = Some(4_102_444_800_001);
    v
}

#[test]
fn crate_writes_redis_reads() {
    if !redis_available() {
        eprintln!("redis-server not installed: skipping");
        return;
    }
    let entries = dataset();
    let rdb = Rdb {
        aux: AuxFields::default().to_pairs(),
        functions: vec![Function {
            code: b("#!lua name=lib2\nredis.register_function('f2', function() return 2 end)"),
            legacy: None,
        }],
        entries: entries.clone(),
        ..Rdb::default()
    };
    for opts in [
        EncodeOptions::default(),
        EncodeOptions {
            compression: false,
            checksum: false,
            ..EncodeOptions::default()
        },
    ] {
        let bytes = encode_to_vec(&rdb, &opts).unwrap();
        let back = decode_all(&bytes).unwrap();
        assert_entries_eq(&norm(back.entries), &norm(entries.clone()));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dump.rdb");
        std::fs::write(&path, &bytes).unwrap();
        let check = Command::new("redis-check-rdb").arg(&path).output().unwrap();
        let text = String::from_utf8_lossy(&check.stdout).into_owned();
        assert!(check.status.success(), "redis-check-rdb: {text}");
        assert!(text.contains("RDB looks OK"), "{text}");

        let redis = Redis::start(dir.path(), &[]);
        let mut c = redis.client();
        assert!(
            redis.log().contains("DB loaded from disk"),
            "{}",
            redis.log()
        );
        check_against_redis(&mut c, &entries);
        let libs = c.cmd(&["FUNCTION", "LIST"]).array();
        assert_eq!(libs.len(), 1);

        // Redis's re-save decodes to the same dataset (key order may differ).
        assert_eq!(c.cmd(&["SAVE"]), Reply::Status("OK".into()));
        let resaved = decode_all(&std::fs::read(&path).unwrap()).unwrap();
        assert_entries_eq(&norm(resaved.entries), &norm(entries.clone()));
        assert_eq!(resaved.functions.len(), 1);
    }
}
