//! Protocol limits, with the defaults Redis 7.0.15 ships.
//!
//! The request decoder enforces these; they exist so that a hostile or broken
//! peer gets a clear protocol error instead of making the server allocate
//! without bound. The numbers mirror Redis's compile-time constants
//! (`PROTO_INLINE_MAX_SIZE`, the unauthenticated caps in
//! `processMultibulkBuffer`) and the `proto-max-bulk-len` directive.

/// Default `proto-max-bulk-len`: 512 MiB.
pub const DEFAULT_MAX_BULK_LEN: i64 = 512 * 1024 * 1024;

/// Longest inline request or header line Redis buffers while waiting for its
/// newline (`PROTO_INLINE_MAX_SIZE`, 64 KiB).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// Largest multibulk count Redis accepts (`INT_MAX`).
pub const MAX_MULTIBULK_LEN: i64 = i32::MAX as i64;

/// Largest multibulk count accepted from a client that still has to authenticate.
pub const UNAUTHENTICATED_MAX_MULTIBULK_LEN: i64 = 10;

/// Largest bulk length accepted from a client that still has to authenticate.
pub const UNAUTHENTICATED_MAX_BULK_LEN: i64 = 16 * 1024;

/// Bulk arguments at least this long are "big" for Redis (`PROTO_MBULK_BIG_ARG`);
/// callers use it to decide when to reserve exactly what [`crate::RequestDecoder::needed`] reports.
pub const MBULK_BIG_ARG: usize = 32 * 1024;

/// Default `client-query-buffer-limit`: 1 GiB. The decoder does not enforce it
/// (it never sees the socket) but the server should, with this default.
pub const DEFAULT_CLIENT_QUERY_BUFFER_LIMIT: usize = 1024 * 1024 * 1024;

/// Deepest nesting of aggregates the value decoder accepts.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Limits enforced by [`crate::RequestDecoder`]; `Default` gives Redis's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `proto-max-bulk-len`, default 512 MiB.
    pub max_bulk_len: i64,
    /// Inline request / header line limit, 64 KiB.
    pub max_inline_len: usize,
    /// Maximum multibulk length (Redis: `INT_MAX`).
    pub max_multibulk_len: i64,
    /// When true, apply Redis's unauthenticated limits (multibulk <= 10, bulk <= 16384).
    pub unauthenticated: bool,
    /// When true the peer is our master: proto-max-bulk-len is not applied and
    /// inline commands (other than bare newlines) are a protocol error.
    pub from_master: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            max_inline_len: INLINE_MAX_SIZE,
            max_multibulk_len: MAX_MULTIBULK_LEN,
            unauthenticated: false,
            from_master: false,
        }
    }
}

/// Limits of the general value decoder ([`crate::decode_value_with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Deepest nesting of aggregates (arrays, maps, sets, pushes, attributes).
    pub max_depth: usize,
    /// Longest bulk, verbatim or blob-error payload.
    pub max_bulk_len: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_bulk_len: DEFAULT_MAX_BULK_LEN as u64,
        }
    }
}
