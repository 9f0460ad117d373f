//! Property tests: encode → decode gives back the dataset, under any
//! encoding thresholds and compression setting; any split of the encoded
//! bytes into chunks decodes to the same items; DUMP payloads round-trip.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::norm;
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use tandem_rdb::{
    decode_all, dump_payload, encode_to_vec, parse_dump_payload, AuxFields, Consumer,
    ConsumerGroup, Decoder, EncodeOptions, Entry, Item, PendingEntry, Rdb, RdbValue, Stream,
    StreamEntry, StreamId, StreamNode,
};

fn elem() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        vec(any::<u8>(), 0..24),
        any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        (-200i64..200).prop_map(|i| i.to_string().into_bytes()),
        ("[a-c]{1,3}", 1usize..40).prop_map(|(s, n)| s.repeat(n).into_bytes()),
        vec(any::<u8>(), 60..80),
    ]
    .prop_map(Bytes::from)
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
        (-1000i32..1000).prop_map(f64::from),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
    ]
}

fn stream() -> impl Strategy<Value = Stream> {
    (
        vec((1u64..1000, 0u64..3, vec((elem(), elem()), 1..4)), 0..30),
        0usize..3,
        0u64..5,
        -1i64..100,
        (0usize..8, prop_oneof![Just(0usize), 20usize..300]),
        vec(any::<bool>(), 0..30),
    )
        .prop_map(
            |(raw, ngroups, extra, read, (max_entries, max_bytes), tombs)| {
                let mut id = StreamId::new(1_600_000_000_000, 0);
                let mut entries = Vec::new();
                for (dms, seq, fields) in raw {
                    id = if dms % 3 == 0 {
                        StreamId::new(id.ms, id.seq + 1 + seq)
                    } else {
                        StreamId::new(id.ms + dms, seq)
                    };
                    entries.push(StreamEntry { id, fields });
                }
                let ids: Vec<StreamId> = entries.iter().map(|e| e.id).collect();
                let groups = (0..ngroups)
                    .map(|g| {
                        let pel: Vec<StreamId> = ids.iter().copied().take(g * 3).collect();
                        ConsumerGroup {
                            name: Bytes::from(format!("group{g}")),
                            last_id: pel.last().copied().unwrap_or_default(),
                            entries_read: read,
                            pel: pel
                                .iter()
                                .map(|&id| PendingEntry {
                                    id,
                                    delivery_time: 1_600_000_000_000 + id.seq as i64,
                                    delivery_count: id.seq + 1,
                                })
                                .collect(),
                            consumers: if pel.is_empty() {
                                vec![]
                            } else {
                                vec![Consumer {
                                    name: Bytes::from_static(b"c"),
                                    seen_time: 7,
                                    active_time: None,
                                    pending: pel,
                                }]
                            },
                        }
                    })
                    .collect();
                Stream {
                    first_id: ids.first().copied().unwrap_or_default(),
                    last_id: ids
                        .last()
                        .map(|l| StreamId::new(l.ms + extra, 0))
                        .unwrap_or(StreamId::new(extra, 1)),
                    max_deleted_id: StreamId::default(),
                    entries_added: ids.len() as u64 + extra,
                    groups,
                    nodes: with_tombstones(entries, max_entries, max_bytes, &tombs),
                }
            },
        )
}

/// Entries packed into nodes under the given limits, then the ones `tombs` marks flagged
/// deleted (XDEL keeps them in their node), keeping at least one live entry per node as
/// Redis does (a node goes when its last live entry does).
fn with_tombstones(
    entries: Vec<StreamEntry>,
    max_entries: usize,
    max_bytes: usize,
    tombs: &[bool],
) -> Vec<StreamNode> {
    let mut nodes = StreamNode::pack_with(entries, max_entries, max_bytes);
    let mut k = 0;
    for n in &mut nodes {
        let last = n.entries.len().saturating_sub(1);
        for (i, e) in n.entries.iter_mut().enumerate() {
            e.deleted = i != last && tombs.get(k).copied().unwrap_or(false);
            k += 1;
        }
    }
    nodes
}

fn value() -> impl Strategy<Value = RdbValue> {
    prop_oneof![
        elem().prop_map(RdbValue::String),
        vec(elem(), 1..60).prop_map(RdbValue::List),
        btree_set(elem(), 1..60).prop_map(|s| RdbValue::Set(s.into_iter().collect())),
        btree_map(elem(), score(), 1..60).prop_map(|m| RdbValue::ZSet(m.into_iter().collect())),
        btree_map(elem(), elem(), 1..60).prop_map(|m| RdbValue::Hash(m.into_iter().collect())),
        stream().prop_map(|s| RdbValue::Stream(Box::new(s))),
    ]
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    vec(
        (0u64..3, value(), proptest::option::of(any::<i64>())),
        0..12,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (db, value, exp))| {
                let mut e = Entry::new(db, Bytes::from(format!("key{i}")), value);
                e.expire_ms = exp;
                e
            })
            .collect()
    })
}

fn options() -> impl Strategy<Value = EncodeOptions> {
    (
        any::<bool>(),
        any::<bool>(),
        0usize..8,
        0usize..40,
        0usize..8,
        0usize..40,
        0usize..8,
        prop_oneof![Just(-2i64), Just(-1), Just(1), Just(3), Just(-5)],
    )
        .prop_map(
            |(compression, checksum, he, hv, ze, zv, si, fill)| EncodeOptions {
                compression,
                checksum,
                hash_max_listpack_entries: he * 20,
                hash_max_listpack_value: hv * 3,
                zset_max_listpack_entries: ze * 20,
                zset_max_listpack_value: zv * 3,
                set_max_intset_entries: si * 10,
                list_max_listpack_size: fill,
                eviction_info: false,
            },
        )
}

/// Entries sorted by db as the encoder writes them.
fn by_db(mut v: Vec<Entry>) -> Vec<Entry> {
    v.sort_by_key(|e| e.db);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode(entries in entries(), opts in options()) {
        let rdb = Rdb { aux: AuxFields::default().to_pairs(), entries: entries.clone(), ..Rdb::default() };
        let bytes = encode_to_vec(&rdb, &opts).unwrap();
        let back = decode_all(&bytes).unwrap();
        prop_assert_eq!(&back.aux, &rdb.aux);
        prop_assert_eq!(norm(back.entries), norm(by_db(entries)));
    }

    #[test]
    fn quicklist_nodes_survive_a_round_trip(
        items in vec(elem(), 1..80),
        cuts in vec(1usize..10, 1..40),
        plain_at in proptest::option::of(0usize..80),
        opts in options(),
    ) {
        // Nodes of the drawn sizes over the drawn items (one plain node, maybe).
        let mut nodes = Vec::new();
        let mut at = 0;
        for c in cuts.iter().copied().cycle() {
            if at == items.len() {
                break;
            }
            let plain = plain_at == Some(at);
            let count = if plain { 1 } else { c.min(items.len() - at) };
            nodes.push(tandem_rdb::QuicklistNode { count, plain });
            at += count;
        }
        let value = RdbValue::Quicklist(Box::new(tandem_rdb::Quicklist { items, nodes }));
        let entries = vec![Entry::new(0, "l", value)];
        let rdb = Rdb { aux: AuxFields::default().to_pairs(), entries: entries.clone(), ..Rdb::default() };
        let bytes = encode_to_vec(&rdb, &opts).unwrap();
        let back = decode_all(&bytes).unwrap();
        prop_assert_eq!(back.entries, entries);
    }

    #[test]
    fn any_chunking_gives_the_same_items(entries in entries(), cuts in vec(1usize..200, 1..50)) {
        let rdb = Rdb { aux: AuxFields::default().to_pairs(), entries, ..Rdb::default() };
        let bytes = encode_to_vec(&rdb, &EncodeOptions::default()).unwrap();
        let collect = |chunks: &mut dyn Iterator<Item = &[u8]>| {
            let mut d = Decoder::new();
            let mut items = Vec::new();
            for c in chunks {
                d.feed(c);
                while let Some(i) = d.next_item().unwrap() {
                    items.push(i);
                }
            }
            d.finish().unwrap();
            items
        };
        let whole = collect(&mut std::iter::once(&bytes[..]));
        let mut pieces = Vec::new();
        let mut rest = &bytes[..];
        let mut k = 0;
        while !rest.is_empty() {
            let n = cuts[k % cuts.len()].min(rest.len());
            pieces.push(&rest[..n]);
            rest = &rest[n..];
            k += 1;
        }
        let split = collect(&mut pieces.into_iter());
        let ended = matches!(whole.last(), Some(Item::End { checksum_ok: true, .. }));
        prop_assert!(ended);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn dump_round_trip(v in value(), opts in options()) {
        let p = dump_payload(&v, &opts).unwrap();
        let back = parse_dump_payload(&p).unwrap();
        let e = |v| norm(vec![Entry::new(0, "k", v)]);
        prop_assert_eq!(e(back), e(v));
    }

    #[test]
    fn lzf_round_trip(data in vec(any::<u8>(), 0..2000), pat in "[ab]{1,4}", n in 0usize..300) {
        let mut input = data;
        input.extend_from_slice(pat.repeat(n).as_bytes());
        if let Some(c) = tandem_rdb::lzf::compress(&input, input.len() + 64) {
            prop_assert_eq!(tandem_rdb::lzf::decompress(&c, input.len()).unwrap(), input);
        }
    }

    #[test]
    fn garbage_never_panics(data in vec(any::<u8>(), 0..400)) {
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(&data);
        let _ = decode_all(&f);
        let _ = parse_dump_payload(&data);
        let _ = tandem_rdb::parse_functions_payload(&data);
    }

    #[test]
    fn functions_payloads_round_trip(codes in vec(vec(any::<u8>(), 0..200), 0..4)) {
        let codes: Vec<Bytes> = codes.into_iter().map(Bytes::from).collect();
        let payload = tandem_rdb::functions_payload(&codes, &EncodeOptions::default());
        prop_assert_eq!(tandem_rdb::parse_functions_payload(&payload).unwrap(), codes);
    }
}
