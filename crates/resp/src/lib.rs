//! `tandem-resp`: the Redis serialization protocol (RESP2 and RESP3) as Redis 7.0.15 speaks it.
//!
//! This crate does no I/O. It turns bytes read from a socket into requests or
//! values, and values into bytes, with the exact limits, error texts and
//! leniencies of Redis 7.0.15, so that a server built on it is
//! indistinguishable from Redis on the wire.
//!
//! * Servers decode client requests with [`RequestDecoder`] (multibulk and
//!   inline, resumable, zero-copy) and write replies with [`Encoder`].
//! * Clients and replicas decode replies with [`decode_value`] /
//!   [`parse_value`] (nom-based, streaming: an incomplete value consumes
//!   nothing and says how much more it needs) and read the full-sync payload
//!   header with [`parse_rdb_bulk_header`].
//! * [`split_args`] is Redis's `sdssplitargs`, shared by inline commands and
//!   redis.conf parsing; [`repr`] is its inverse (`sdscatrepr`).
//!
//! # Layout
//!
//! | module | role |
//! |---|---|
//! | `value` | [`Value`] and [`Protocol`]: the data model |
//! | `request` | [`RequestDecoder`]: the server's request decoder (`processInputBuffer`) |
//! | `decode` | nom 8 streaming parser for any RESP2/RESP3 value; replication bulk header |
//! | `encode` | [`Encoder`]: reply writer for RESP2 or RESP3 (`addReply*`) |
//! | `inline` | [`split_args`] and [`repr`] |
//! | `limits` | [`Limits`], [`DecodeLimits`] and Redis's protocol constants |
//! | `num` | Redis's strict integer parser and `%.17g` double formatting |
//! | `error` | [`ProtocolError`], [`DecodeError`], [`UnbalancedQuotes`] |
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use tandem_resp::{Encoder, Limits, Protocol, RequestDecoder};
//!
//! let mut decoder = RequestDecoder::new(Limits::default());
//! let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n"[..]);
//! let mut requests = Vec::new();
//! decoder.decode_batch(&mut buf, &mut requests).unwrap();
//! assert_eq!(requests.len(), 2);
//! assert_eq!(&requests[0].args[0][..], b"GET");
//! assert!(requests[1].inline);
//!
//! let mut out = BytesMut::new();
//! let mut enc = Encoder::new(&mut out, Protocol::Resp2);
//! enc.null();
//! enc.simple(b"PONG");
//! assert_eq!(&out[..], b"$-1\r\n+PONG\r\n");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod decode;
mod encode;
mod error;
mod inline;
mod limits;
pub mod num;
mod request;
mod value;

pub use decode::{
    decode_value, decode_value_raw, decode_value_with, parse_rdb_bulk_header, parse_value,
    parse_value_bytes, parse_value_with, Needed, Parsed, RdbBulkHeader,
};
pub use encode::{encode, encode_command, Encoder};
pub use error::{DecodeError, ProtocolError, UnbalancedQuotes};
pub use inline::{repr, split_args};
pub use limits::*;
pub use request::{Request, RequestDecoder};
pub use value::{Protocol, Value};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
