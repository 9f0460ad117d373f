//! Support library for Tandem's workspace-level integration tests.
//!
//! Every test in this package talks to real processes over real sockets: a
//! `redis-server` 7.0.15 (the reference) and a `tandem-server` (the system under
//! test), both started by [`ServerProcess`] on a free loopback port, in a fresh
//! temporary directory, and killed when the guard drops.
//!
//! The modules, bottom-up:
//!
//! - [`server`]: locating the binaries and owning one server child process.
//! - [`resp`]: a raw RESP client over `std::net::TcpStream` that sends commands
//!   (as multibulk or raw bytes) and reads back exactly one reply's bytes, framed
//!   by a tiny RESP2/RESP3 framer ([`Frame`]).
//! - [`corpus`]: the plain-text corpus format of `tests/diff/*.txt` (one command
//!   per line, redis-cli quoting, `#` comments and directives).
//! - [`normalize`]: the explicit, short list of reply normalisations applied
//!   before comparing (ids, addresses, timestamps, INFO values, ...).
//! - [`diff`]: runs a corpus against two servers and reports each reply that
//!   differs, with the file, line, command and both replies escaped.
//!
//! The integration tests themselves live in `tests/tests/`: `diff.rs` runs every
//! corpus, `clients.rs` drives Tandem with redis-cli, redis-benchmark and the
//! `redis` crate.
#![forbid(unsafe_code)]

pub mod corpus;
pub mod diff;
pub mod files;
pub mod fuzz;
pub mod normalize;
pub mod probe;
pub mod proxy;
pub mod resp;
pub mod server;

pub use corpus::{Corpus, Step, StepAction};
pub use diff::{run_corpus, run_corpus_traced, Mismatch};
pub use resp::{escape, Frame, Reply, RespConn};
pub use server::{free_port, run_bounded, Flavor, ServerBuilder, ServerProcess};

/// Everything that can go wrong while setting up or driving a test server.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// An I/O error with a description of what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The server did not answer PING in time, or exited early.
    #[error("{0}")]
    Startup(String),
    /// Building `tandem-server` failed or timed out.
    #[error("building tandem-server failed: {0}")]
    Build(String),
    /// A reply could not be framed (not RESP).
    #[error("malformed reply: {0}")]
    Protocol(String),
    /// No complete reply arrived before the read timeout.
    #[error("timed out waiting for a reply (got so far: {0})")]
    Timeout(String),
    /// A corpus file is malformed.
    #[error("{file}:{line}: {message}")]
    Corpus {
        /// Corpus file name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl HarnessError {
    /// Wraps an I/O error with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Result alias for the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// The workspace root (the parent of this package's directory).
pub fn workspace_root() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}
