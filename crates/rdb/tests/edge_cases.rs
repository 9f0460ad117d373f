//! Reference vectors, the three ways a payload ends, modules, DUMP payloads,
//! and damaged input (truncation at every point, every flipped byte, lying
//! lengths): always a typed error with an offset, never a panic.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{rdb_finish, rdb_len, rdb_str};
use tandem_rdb::{
    decode_all, dump_payload, encode_to_vec, module_type_id, module_type_name, parse_dump_payload,
    AuxFields, Decoder, EncodeOptions, Entry, Error, Item, ModuleAux, ModuleOp, ModulePolicy,
    ModuleValue, Rdb, RdbValue, ResizeDb,
};

fn b(s: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(s.as_ref())
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The 134-byte file of rdb-format.md §8, written by redis-server 7.0.15.
fn reference_file() -> Vec<u8> {
    hex(
        "5245 4449 5330 3031 30fa 0972 6564 6973 2d76 6572 0637 2e30 2e31 35fa 0a72 6564
         6973 2d62 6974 73c0 40fa 0563 7469 6d65 c282 f806 6bfa 0875 7365 642d 6d65 6dc2
         e876 0f00 fa08 616f 662d 6261 7365 c000 fe00 fb02 0000 0867 7265 6574 696e 6705
         6865 6c6c 6f10 0168 1414 0000 0004 0082 6631 0382 7631 0381 6e02 2a01 ffff d6f8
         4160 2ae4 039e",
    )
}

fn sample() -> Rdb {
    let mut entries = vec![
        Entry::new(0, "s", RdbValue::String(b("hello"))),
        Entry::new(0, "n", RdbValue::String(b("12345"))),
        Entry::new(
            0,
            "l",
            RdbValue::List(vec![b("a"), b("b"), b("x".repeat(40))]),
        ),
        Entry::new(0, "h", RdbValue::Hash(vec![(b("f"), b("v"))])),
        Entry::new(1, "z", RdbValue::ZSet(vec![(b("m"), 1.5), (b("n"), 2.0)])),
        Entry::new(1, "set", RdbValue::Set(vec![b("1"), b("2")])),
        Entry::new(1, "lz", RdbValue::String(b("abcabcabc".repeat(10)))),
    ];
    entries[1].expire_ms = Some(1_900_000_000_000);
    Rdb {
        aux: AuxFields {
            ctime: 1_700_000_000,
            used_mem: 1_000_000,
            ..AuxFields::default()
        }
        .to_pairs(),
        entries,
        ..Rdb::default()
    }
}

#[test]
fn reference_file_decodes() {
    let f = reference_file();
    assert_eq!(f.len(), 134);
    let rdb = decode_all(&f).unwrap();
    assert_eq!(rdb.version, 10);
    assert_eq!(rdb.checksum, Some(0x9E03_E42A_6041_F8D6));
    assert_eq!(rdb.aux_value(b"redis-bits").unwrap(), "64");
    assert_eq!(rdb.aux_value(b"used-mem").unwrap(), "1013480");
    assert_eq!(
        rdb.resize_db,
        vec![(
            0,
            ResizeDb {
                db_size: 2,
                expires_size: 0
            }
        )]
    );
    assert_eq!(
        rdb.entries,
        vec![
            Entry::new(0, "greeting", RdbValue::String(b("hello"))),
            Entry::new(
                0,
                "h",
                RdbValue::Hash(vec![(b("f1"), b("v1")), (b("n"), b("42"))])
            ),
        ]
    );
    // Our encoder reproduces the file byte for byte from the same aux values.
    let again = encode_to_vec(
        &Rdb {
            aux: rdb.aux.clone(),
            entries: rdb.entries.clone(),
            ..Rdb::default()
        },
        &EncodeOptions::default(),
    )
    .unwrap();
    assert_eq!(again, f);
}

#[test]
fn aux_order_and_repl_fields() {
    let aux = AuxFields {
        repl: Some(tandem_rdb::ReplAux {
            stream_db: 0,
            id: "a".repeat(40),
            offset: 12345,
        }),
        ..AuxFields::default()
    };
    let keys: Vec<Bytes> = aux.to_pairs().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "redis-ver",
            "redis-bits",
            "ctime",
            "used-mem",
            "repl-stream-db",
            "repl-id",
            "repl-offset",
            "aof-base"
        ]
    );
}

#[test]
fn dump_payload_reference() {
    let p = dump_payload(&RdbValue::String(b("1")), &EncodeOptions::default()).unwrap();
    assert_eq!(p, hex("00 c0 01 0a 00 26 78 e7 b6 d1 01 11 fc"));
    let p = dump_payload(&RdbValue::String(b("hello")), &EncodeOptions::default()).unwrap();
    assert_eq!(p, hex("00 05 68 65 6c 6c 6f 0a 00 63 72 df 76 65 34 20 0a"));
    assert_eq!(
        parse_dump_payload(&p).unwrap(),
        RdbValue::String(b("hello"))
    );

    let mut bad = p.clone();
    bad[2] ^= 1;
    assert!(matches!(
        parse_dump_payload(&bad),
        Err(Error::BadDumpPayload)
    ));
    // Version 11 (7.2) is refused by 7.0's rule, even with a right CRC.
    let mut v11 = p[..p.len() - 10].to_vec();
    v11.extend_from_slice(&[11, 0]);
    let crc = tandem_rdb::crc64(&v11);
    v11.extend_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        parse_dump_payload(&v11),
        Err(Error::BadDumpPayload)
    ));
    assert!(matches!(
        parse_dump_payload(&[0; 5]),
        Err(Error::BadDumpPayload)
    ));
    // A right CRC over garbage: a decoding error, not a panic.
    let mut junk = vec![0x42, 1, 2, 3, 10, 0];
    let crc = tandem_rdb::crc64(&junk);
    junk.extend_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        parse_dump_payload(&junk),
        Err(Error::UnknownType { byte: 0x42, .. })
    ));
}

#[test]
fn eof_marked_payload_and_trailing_stream() {
    let rdb = encode_to_vec(&sample(), &EncodeOptions::default()).unwrap();
    let mark = [b'7'; 40];
    let mut wire = rdb.clone();
    wire.extend_from_slice(&mark);
    wire.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    let mut d = Decoder::new_eof_marked(mark);
    let mut ended = false;
    for chunk in wire.chunks(5) {
        d.feed(chunk);
        while let Some(item) = d.next_item().unwrap() {
            if let Item::End { checksum_ok, .. } = item {
                assert!(checksum_ok);
                ended = true;
            }
        }
    }
    assert!(ended);
    assert_eq!(d.offset(), (rdb.len() + 40) as u64);
    assert_eq!(d.trailing(), b"*1\r\n$4\r\nPING\r\n");

    let mut wrong = rdb.clone();
    wrong.extend_from_slice(&[b'8'; 40]);
    let mut d = Decoder::new_eof_marked(mark);
    d.feed(&wrong);
    let err = loop {
        match d.next_item() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("should fail"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::BadEofMark { offset } if offset == rdb.len() as u64));
}

fn run(d: &mut Decoder, data: &[u8]) -> Result<Vec<Item>, Error> {
    d.feed(data);
    let mut items = Vec::new();
    while let Some(i) = d.next_item()? {
        items.push(i);
    }
    d.finish()?;
    Ok(items)
}

#[test]
fn announced_payload_length() {
    let rdb = encode_to_vec(&sample(), &EncodeOptions::default()).unwrap();
    let n = rdb.len() as u64;
    assert!(run(&mut Decoder::new().with_payload_len(n), &rdb).is_ok());
    assert!(matches!(
        run(&mut Decoder::new().with_payload_len(n - 3), &rdb),
        Err(Error::Truncated { offset }) if offset == n - 3
    ));
    assert!(matches!(
        run(&mut Decoder::new().with_payload_len(n + 3), &rdb),
        Err(Error::LengthMismatch { offset, expected }) if offset == n && expected == n + 3
    ));
}

#[test]
fn checksum_errors() {
    let mut rdb = encode_to_vec(&sample(), &EncodeOptions::default()).unwrap();
    let n = rdb.len();
    rdb[n - 1] ^= 0x10;
    match decode_all(&rdb) {
        Err(Error::BadChecksum { offset, .. }) => assert_eq!(offset, (n - 8) as u64),
        other => panic!("{other:?}"),
    }
    let items = run(&mut Decoder::new().with_checksum_verification(false), &rdb).unwrap();
    assert!(matches!(
        items.last(),
        Some(Item::End {
            checksum_ok: false,
            ..
        })
    ));
    // Zero checksum = not computed.
    let no_crc = encode_to_vec(
        &sample(),
        &EncodeOptions {
            checksum: false,
            ..EncodeOptions::default()
        },
    )
    .unwrap();
    assert!(no_crc.ends_with(&[0; 8]));
    assert_eq!(decode_all(&no_crc).unwrap().checksum, None);
}

#[test]
fn versions_and_magic() {
    let mut f = b"REDIS0012".to_vec();
    f.push(0xFF);
    let e = decode_all(&f).unwrap_err();
    assert_eq!(e.to_string(), "Can't handle RDB format version 12");
    let e = decode_all(b"REDIS0000\xff").unwrap_err();
    assert!(matches!(e, Error::UnsupportedVersion { version: 0 }));
    assert!(matches!(
        decode_all(b"RODIS0009\xff").unwrap_err(),
        Error::BadMagic { .. }
    ));
    assert!(matches!(
        decode_all(b"REDIS").unwrap_err(),
        Error::Truncated { offset: 5 }
    ));
    assert!(matches!(
        decode_all(b"").unwrap_err(),
        Error::Truncated { offset: 0 }
    ));
    // Version 11 with a type-21 stream and a type-20 set.
    let mut f = b"REDIS0011".to_vec();
    f.extend_from_slice(&[0xFE, 0]);
    f.push(20);
    rdb_str(&mut f, b"s");
    let mut lp = tandem_rdb::blob::ListpackWriter::new();
    lp.push(b"a");
    lp.push(b"7");
    rdb_str(&mut f, &lp.finish());
    f.push(21);
    rdb_str(&mut f, b"st");
    rdb_len(&mut f, 0); // no nodes
    for v in [0, 5, 0, 0, 0, 0, 0, 0, 1] {
        rdb_len(&mut f, v); // length, last, first, max deleted, entries_added, groups
    }
    rdb_str(&mut f, b"g");
    for v in [5, 0, 0, 0, 1] {
        rdb_len(&mut f, v); // last id, entries read, pel, consumers
    }
    rdb_str(&mut f, b"c");
    f.extend_from_slice(&10i64.to_le_bytes());
    f.extend_from_slice(&20i64.to_le_bytes());
    rdb_len(&mut f, 0);
    let rdb = decode_all(&rdb_finish(f, 11)).unwrap();
    assert_eq!(rdb.entries[0].value, RdbValue::Set(vec![b("a"), b("7")]));
    let RdbValue::Stream(s) = &rdb.entries[1].value else {
        panic!()
    };
    assert_eq!(s.groups[0].consumers[0].active_time, Some(20));
    assert_eq!(s.groups[0].consumers[0].seen_time, 10);
}

#[test]
fn unknown_types_and_lying_lengths() {
    let head = |v: &mut Vec<u8>| v.extend_from_slice(b"REDIS0010\xfe\x00");
    // Unknown object type 22 at offset 11.
    let mut f = Vec::new();
    head(&mut f);
    f.extend_from_slice(&[22, 1, b'k', 0]);
    assert!(matches!(
        decode_all(&f).unwrap_err(),
        Error::UnknownType {
            byte: 22,
            offset: 11
        }
    ));
    // A list claiming 2^62 elements: no huge allocation, just truncated.
    let mut f = Vec::new();
    head(&mut f);
    f.extend_from_slice(&[1, 1, b'k', 0x81]);
    f.extend_from_slice(&(1u64 << 62).to_be_bytes());
    f.extend_from_slice(&[1, b'a']);
    assert!(matches!(
        decode_all(&f).unwrap_err(),
        Error::Truncated { .. }
    ));
    // A string claiming 2^40 bytes.
    let mut f = Vec::new();
    head(&mut f);
    f.extend_from_slice(&[0, 1, b'k', 0x81]);
    f.extend_from_slice(&(1u64 << 40).to_be_bytes());
    f.extend_from_slice(b"abc");
    assert!(
        matches!(decode_all(&f).unwrap_err(), Error::Truncated { offset } if offset == f.len() as u64)
    );
    // LZF claiming a huge output.
    let mut f = Vec::new();
    head(&mut f);
    f.extend_from_slice(&[0, 1, b'k', 0xC3, 2, 0x81]);
    f.extend_from_slice(&(1u64 << 50).to_be_bytes());
    f.extend_from_slice(&[0, b'a', 0xFF]);
    assert!(matches!(
        decode_all(&f).unwrap_err(),
        Error::Corrupt {
            reason: "Invalid LZF compressed string",
            offset: 14
        }
    ));
    // A corrupt ziplist inside a type-13 hash: the offset is the blob's.
    let mut f = Vec::new();
    head(&mut f);
    f.extend_from_slice(&[13, 1, b'h']);
    let mut zl = common::ziplist(&[b"f", b"v"]);
    zl[4] = 99; // bad tail offset
    rdb_str(&mut f, &zl);
    assert!(matches!(
        decode_all(&f).unwrap_err(),
        Error::Corrupt { offset: 14, .. }
    ));
    // Intset of an invalid width.
    let mut f = Vec::new();
    head(&mut f);
    f.extend_from_slice(&[11, 1, b's']);
    rdb_str(&mut f, &[3, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3]);
    assert!(matches!(decode_all(&f).unwrap_err(), Error::Corrupt { .. }));
    // Bad length prefix 0x82.
    let mut f = Vec::new();
    head(&mut f);
    f.extend_from_slice(&[0, 0x82, 0, 0]);
    assert!(matches!(
        decode_all(&f).unwrap_err(),
        Error::Corrupt { offset: 12, .. }
    ));
}

#[test]
fn modules() {
    let id = module_type_id("mymodtype", 3).unwrap();
    assert_eq!(module_type_name(id), ("mymodtype".to_string(), 3));
    let value = RdbValue::Module(Box::new(ModuleValue {
        module_id: id,
        name: "mymodtype".into(),
        version: 3,
        ops: vec![
            ModuleOp::SInt(-5),
            ModuleOp::UInt(7),
            ModuleOp::Float(1.5),
            ModuleOp::Double(2.25),
            ModuleOp::String(b("blob")),
        ],
    }));
    let rdb = Rdb {
        module_aux: vec![ModuleAux {
            module_id: id,
            name: "mymodtype".into(),
            version: 3,
            when: 2,
            ops: vec![ModuleOp::UInt(1)],
        }],
        entries: vec![Entry::new(0, "m", value.clone())],
        ..Rdb::default()
    };
    let bytes = encode_to_vec(&rdb, &EncodeOptions::default()).unwrap();
    match decode_all(&bytes).unwrap_err() {
        Error::Module { name, version, .. } => {
            assert_eq!(name, "mymodtype");
            assert_eq!(version, 3);
        }
        e => panic!("{e}"),
    }
    let items = run(
        &mut Decoder::new().with_module_policy(ModulePolicy::Keep),
        &bytes,
    )
    .unwrap();
    let entry = items.iter().find_map(|i| match i {
        Item::Entry(e) => Some(e.value.clone()),
        _ => None,
    });
    assert_eq!(entry, Some(value));
    assert!(items
        .iter()
        .any(|i| matches!(i, Item::ModuleAux(m) if m.when == 2)));
    // Type 6 (pre-GA modules) always fails, naming the module.
    let mut f = b"REDIS0010\xfe\x00\x06\x01k".to_vec();
    rdb_len(&mut f, id);
    assert!(matches!(decode_all(&f).unwrap_err(), Error::Module { .. }));
}

#[test]
fn legacy_function_opcode() {
    let mut f = b"REDIS0010".to_vec();
    f.push(0xF6);
    rdb_str(&mut f, b"mylib");
    rdb_str(&mut f, b"LUA");
    rdb_len(&mut f, 1);
    rdb_str(&mut f, b"desc");
    rdb_str(&mut f, b"code");
    let rdb = decode_all(&rdb_finish(f, 10)).unwrap();
    let legacy = rdb.functions[0].legacy.as_ref().unwrap();
    assert_eq!(legacy.name, "mylib");
    assert_eq!(legacy.description.as_deref(), Some(&b"desc"[..]));
    assert_eq!(rdb.functions[0].code, "code");
}

#[test]
fn every_truncation_and_every_flipped_byte_is_an_error() {
    let data = encode_to_vec(&sample(), &EncodeOptions::default()).unwrap();
    for cut in 0..data.len() {
        let err = decode_all(&data[..cut]).unwrap_err();
        assert!(err.offset().is_some(), "cut {cut}: {err}");
    }
    for i in 0..data.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut c = data.clone();
            c[i] ^= mask;
            let r = decode_all(&c);
            assert!(r.is_err(), "flip {mask:#x} at {i} went unnoticed");
        }
    }
}

#[test]
fn skip_empty_collections_like_redis() {
    let mut f = b"REDIS0010\xfe\x00".to_vec();
    f.extend_from_slice(&[2, 1, b'e', 0]); // empty set
    f.extend_from_slice(&[0, 1, b'k', 1, b'v']);
    let mut d = Decoder::new();
    let items = run(&mut d, &rdb_finish(f, 10)).unwrap();
    assert_eq!(items.len(), 3); // SelectDb, Entry k, End
    assert_eq!(d.skipped_empty_keys(), 1);
}

/// A value Redis holds in its full encoding is dumped in it even when it is small.
#[test]
fn full_layout_keeps_the_full_encoding() {
    use tandem_rdb::{dump_payload_with, EncodeOptions, Layout};
    let opts = EncodeOptions::default();
    let hash = RdbValue::Hash(vec![(b("f"), b("v"))]);
    let set = RdbValue::Set(vec![b("1"), b("2")]);
    let zset = RdbValue::ZSet(vec![(b("m"), 1.0)]);
    let first = |v: &RdbValue, l: Layout| dump_payload_with(v, &opts, l).unwrap()[0];
    assert_eq!(first(&hash, Layout::Auto), 16);
    assert_eq!(first(&hash, Layout::Full), 4);
    assert_eq!(first(&set, Layout::Auto), 11);
    assert_eq!(first(&set, Layout::Full), 2);
    assert_eq!(first(&zset, Layout::Auto), 17);
    assert_eq!(first(&zset, Layout::Full), 5);
    for v in [hash, set, zset] {
        let payload = dump_payload_with(&v, &opts, Layout::Full).unwrap();
        assert_eq!(tandem_rdb::parse_dump_payload(&payload).unwrap(), v);
    }
}

/// A value Redis holds compact is dumped compact even past the thresholds of the options.
#[test]
fn compact_layout_keeps_the_compact_encoding() {
    use tandem_rdb::{dump_payload_with, EncodeOptions, Layout};
    let opts = EncodeOptions {
        hash_max_listpack_entries: 0,
        zset_max_listpack_value: 0,
        set_max_intset_entries: 0,
        ..EncodeOptions::default()
    };
    let hash = RdbValue::Hash(vec![(b("f"), b("v"))]);
    let set = RdbValue::Set(vec![b("1"), b("2")]);
    let zset = RdbValue::ZSet(vec![(b("m"), 1.0)]);
    let dump = |v: &RdbValue, l: Layout| dump_payload_with(v, &opts, l).unwrap();
    assert_eq!(dump(&hash, Layout::Auto)[0], 4);
    assert_eq!(dump(&hash, Layout::Compact)[0], 16);
    assert_eq!(dump(&set, Layout::Auto)[0], 2);
    assert_eq!(dump(&set, Layout::Intset(2))[0], 11);
    assert_eq!(dump(&zset, Layout::Auto)[0], 5);
    assert_eq!(dump(&zset, Layout::Compact)[0], 17);
    // An intset keeps the width it is given: 8 bytes per member, then the two members.
    let wide = dump(&set, Layout::Intset(8));
    assert_eq!(&wide[2..6], &8u32.to_le_bytes());
    for v in [hash, zset] {
        let payload = dump(&v, Layout::Compact);
        assert_eq!(tandem_rdb::parse_dump_payload(&payload).unwrap(), v);
    }
}

#[test]
fn functions_payload_reference() {
    // FUNCTION DUMP of redis-server 7.0.15 with one library `la`, and of none.
    let code = "#!lua name=la\nredis.register_function('fa', function() return 1 end)";
    let mut want = vec![0xf5, 0x40, 0x44];
    want.extend_from_slice(code.as_bytes());
    want.extend_from_slice(&hex("0a 00 8e 4c 96 54 d1 5c 63 3d"));
    let codes = vec![Bytes::from(code)];
    let p = tandem_rdb::functions_payload(&codes, &EncodeOptions::default());
    assert_eq!(p, want);
    assert_eq!(tandem_rdb::parse_functions_payload(&p).unwrap(), codes);
    assert_eq!(
        tandem_rdb::functions_payload(&[], &EncodeOptions::default()),
        hex("0a 00 5d 9b 5c 40 0f 7f a2 da")
    );
    let mut bad = p.clone();
    bad[5] ^= 1;
    assert!(matches!(
        tandem_rdb::parse_functions_payload(&bad),
        Err(Error::BadDumpPayload)
    ));
}
