//! x
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blob;
mod checksum;
mod decoder;
mod error;
pub mod lzf;
mod model;
pub mod num;
mod parse;
mod stream;

pub use checksum::{crc64, Crc64};
pub use decoder::{decode_all, decode_reader, Decoder, ModulePolicy, MAX_RDB_VERSION};
pub use error::Error;
pub use model::*;
