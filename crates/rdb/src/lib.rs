//! `tandem-rdb`: read every RDB file Redis ever wrote, write what Redis 7.0 writes.
//!
//! The crate has no knowledge of a server: it turns RDB bytes into a plain
//! value model ([`RdbValue`], [`Entry`], [`Item`]) and back.
//!
//! * [`Decoder`] is a streaming decoder built on nom streaming parsers. Feed
//!   it chunks as they arrive (from a file or a replication socket) and pull
//!   items one at a time; it holds only the unconsumed bytes of the current
//!   record. It reads RDB versions 1 to 11: every opcode (AUX, RESIZEDB,
//!   SELECTDB, EXPIRETIME, EXPIRETIME_MS, IDLE, FREQ, MODULE_AUX, FUNCTION,
//!   FUNCTION2, EOF), every object type and encoding (strings raw / integer
//!   / LZF; lists linked, ziplist, quicklist 1 and 2; sets, intsets, listpack
//!   sets; sorted sets plain, binary-double, ziplist, listpack; hashes plain,
//!   zipmap, ziplist, listpack; streams v1, v2, v3 with consumer groups;
//!   module values), and verifies the CRC64 trailer (zero = not computed).
//! * [`Encoder`] writes RDB 10 as Redis 7.0.15 does (aux fields, encodings
//!   chosen under [`EncodeOptions`] thresholds, LZF, CRC64) into any
//!   `std::io::Write`; [`encode_to_vec`] for a whole [`Rdb`].
//! * [`dump_payload`] / [`parse_dump_payload`]: the DUMP / RESTORE format.
//! * [`lzf`] and [`crc64`]: the two algorithms, usable on their own.
//!
//! Bad input (truncated data, bad checksum, unknown opcode or type, lengths
//! beyond the data, corrupt ziplists/listpacks/intsets/zipmaps, bad LZF)
//! yields an [`Error`] carrying the byte offset; the decoder never panics and
//! never pre-allocates more than the input can justify.
//!
//! # Layout
//!
//! | module | role |
//! |---|---|
//! | `model` | the value model: [`RdbValue`], [`Stream`] (its [`StreamNode`]s), [`Entry`], [`Item`], [`Rdb`] |
//! | `parse` | nom streaming parsers: lengths, strings (int, LZF), doubles, records |
//! | `decoder` | [`Decoder`]: buffering, state machine per record / element, CRC, end forms |
//! | `blob` | ziplist, listpack, intset, zipmap readers; listpack and intset writers |
//! | `stream` | stream node listpacks (read and write, tombstones kept), packing entries into nodes |
//! | `encoder` | [`Encoder`], [`EncodeOptions`], [`AuxFields`], DUMP payloads |
//! | `lzf` | LZF decompressor and liblzf-compatible compressor |
//! | `checksum` | Redis's CRC64 (`crc::CRC_64_REDIS`) |
//! | `num` | Redis's integer-string rule (`string2ll`) and score text (`%.17g`) |
//! | `error` | [`Error`] |
//!
//! # Example
//!
//! ```
//! use tandem_rdb::{decode_all, encode_to_vec, AuxFields, Decoder, EncodeOptions, Entry, Item, Rdb, RdbValue};
//!
//! let mut rdb = Rdb { aux: AuxFields::default().to_pairs(), ..Rdb::default() };
//! rdb.entries.push(Entry::new(0, "greeting", RdbValue::String("hello".into())));
//! rdb.entries.push(Entry::new(0, "h", RdbValue::Hash(vec![("f1".into(), "v1".into())])));
//! let bytes = encode_to_vec(&rdb, &EncodeOptions::default()).unwrap();
//! assert!(bytes.starts_with(b"REDIS0010"));
//!
//! // Whole buffer at once...
//! let back = decode_all(&bytes).unwrap();
//! assert_eq!(back.entries, rdb.entries);
//!
//! // ...or streaming, in chunks of any size.
//! let mut d = Decoder::new();
//! let mut keys = Vec::new();
//! for chunk in bytes.chunks(7) {
//!     d.feed(chunk);
//!     while let Some(item) = d.next_item().unwrap() {
//!         match item {
//!             Item::Entry(e) => keys.push(e.key),
//!             Item::End { checksum_ok, .. } => assert!(checksum_ok),
//!             _ => {}
//!         }
//!     }
//! }
//! d.finish().unwrap();
//! assert_eq!(keys, ["greeting", "h"]);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blob;
mod checksum;
mod decoder;
mod encoder;
mod error;
pub mod lzf;
mod model;
pub mod num;
mod parse;
mod stream;

pub use checksum::{crc64, Crc64};
pub use decoder::{decode_all, decode_reader, Decoder, ModulePolicy, MAX_RDB_VERSION};
pub use encoder::{
    dump_payload, dump_payload_with, encode_to_vec, encode_to_writer, functions_payload,
    parse_dump_payload, parse_functions_payload, quicklist_node_accepts, quicklist_nodes_merge,
    tail_pushed_nodes, verify_dump_payload, AuxFields, EncodeOptions, Encoder, Layout, ReplAux,
    RDB_VERSION,
};
pub use error::Error;
pub use model::{
    module_type_id, module_type_name, Consumer, ConsumerGroup, Entry, Function, Item,
    LegacyFunction, ModuleAux, ModuleOp, ModuleValue, PendingEntry, Quicklist, QuicklistNode, Rdb,
    RdbValue, ResizeDb, Stream, StreamEntry, StreamId, StreamNode, StreamNodeEntry,
    STREAM_NODE_MAX_BYTES, STREAM_NODE_MAX_ENTRIES,
};
