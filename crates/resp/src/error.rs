//! Error types.
//!
//! * [`ProtocolError`]: what the server-side [`crate::RequestDecoder`] reports.
//!   Its `Display` is the exact Redis error reply (without `-` and CRLF), so the
//!   server can answer with it and then close the connection, as Redis does.
//! * [`DecodeError`]: malformed input for the general RESP2/RESP3 value decoder
//!   used by clients and replicas.
//! * [`UnbalancedQuotes`]: [`crate::split_args`] found an unterminated quote or
//!   a closing quote not followed by a space.

/// A protocol error found while decoding client requests.
///
/// `Display` gives the full reply text Redis 7.0.15 sends, e.g.
/// `ERR Protocol error: invalid bulk length`. Redis replies with it and then
/// closes the connection (except for [`ProtocolError::MasterInline`], which it
/// only logs before dropping the link to its master).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An inline request without a newline grew past 64 KiB.
    #[error("ERR Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// An inline request has an unterminated quote (see [`crate::split_args`]).
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A `*<count>` header without CRLF grew past 64 KiB.
    #[error("ERR Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// The `*<count>` header is not a number or is above `INT_MAX`.
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// More than 10 arguments from a client that has not authenticated.
    #[error("ERR Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// An argument of a multibulk request does not start with `$`; holds the
    /// byte found (Redis prints CR and LF as spaces).
    #[error("ERR Protocol error: expected '$', got '{}'", shown_byte(*.0))]
    ExpectedDollar(u8),
    /// A `$<len>` header that is not a number, is negative, or exceeds `proto-max-bulk-len`.
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A bulk over 16384 bytes from a client that has not authenticated.
    #[error("ERR Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// A `$<len>` header without CRLF grew past 64 KiB.
    #[error("ERR Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// Our master sent a non-empty inline request: Redis logs
    /// `Master using the inline protocol. Desync?` and closes the link without replying.
    #[error("ERR Protocol error: Master using the inline protocol. Desync?")]
    MasterInline,
}

/// How `%c` ends up in an error reply: Redis maps CR and LF to spaces.
fn shown_byte(b: u8) -> char {
    match b {
        b'\r' | b'\n' => ' ',
        _ => char::from(b),
    }
}

impl ProtocolError {
    /// The exact bytes of the error reply text (no `-`, no CRLF).
    ///
    /// Equal to `to_string()` except for [`ProtocolError::ExpectedDollar`] with a
    /// byte >= 0x80, which Redis sends raw while `Display` must produce UTF-8.
    pub fn reply_text(&self) -> Vec<u8> {
        match self {
            ProtocolError::ExpectedDollar(b) => {
                let mut v = b"ERR Protocol error: expected '$', got '".to_vec();
                v.push(match b {
                    b'\r' | b'\n' => b' ',
                    _ => *b,
                });
                v.push(b'\'');
                v
            }
            other => other.to_string().into_bytes(),
        }
    }

    /// The short reason Redis logs (`Protocol error (<reason>) from client: ...`).
    pub fn log_reason(&self) -> &'static str {
        match self {
            ProtocolError::TooBigInlineRequest => "too big inline request",
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in inline request",
            ProtocolError::TooBigMultibulkCount => "too big mbulk count string",
            ProtocolError::InvalidMultibulkLength => "invalid mbulk count",
            ProtocolError::UnauthenticatedMultibulkLength => "unauth mbulk count",
            ProtocolError::ExpectedDollar(_) => "expected $ but got something else",
            ProtocolError::InvalidBulkLength => "invalid bulk length",
            ProtocolError::UnauthenticatedBulkLength => "unauth bulk length",
            ProtocolError::TooBigBulkCount => "too big bulk count string",
            ProtocolError::MasterInline => "Master using the inline protocol. Desync?",
        }
    }

    /// Whether Redis sends the error as a reply before closing (false only for
    /// [`ProtocolError::MasterInline`]).
    pub fn sends_reply(&self) -> bool {
        !matches!(self, ProtocolError::MasterInline)
    }
}

/// Malformed input for the general value decoder ([`crate::decode_value`]) or
/// the replication bulk header parser ([`crate::parse_rdb_bulk_header`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The first byte of a value is not a RESP2/RESP3 type byte.
    #[error("Protocol error, got {0:?} as reply type byte")]
    InvalidTypeByte(char),
    /// A length or count is not a valid integer, or is negative where that is not allowed.
    #[error("Protocol error: invalid length")]
    InvalidLength,
    /// A bulk payload exceeds the decoder's `max_bulk_len`.
    #[error("Protocol error: bulk length {0} exceeds the limit")]
    BulkTooLong(u64),
    /// An integer reply that is not a valid signed 64-bit number.
    #[error("Protocol error: invalid integer")]
    InvalidInteger,
    /// A double reply that is not a valid number, `inf`, `-inf` or `nan`.
    #[error("Protocol error: invalid double")]
    InvalidDouble,
    /// A boolean that is neither `#t` nor `#f`.
    #[error("Protocol error: invalid boolean")]
    InvalidBoolean,
    /// A big number with characters other than an optional sign and digits.
    #[error("Protocol error: invalid big number")]
    InvalidBigNumber,
    /// A verbatim string shorter than 4 bytes or without `:` after its format.
    #[error("Protocol error: invalid verbatim string")]
    InvalidVerbatim,
    /// A `_` null with something between `_` and CRLF.
    #[error("Protocol error: invalid null")]
    InvalidNull,
    /// A payload is not followed by CRLF, or a line ends with a bare CR.
    #[error("Protocol error: expected CRLF")]
    ExpectedCrlf,
    /// Aggregates nested deeper than the configured limit.
    #[error("Protocol error: nesting deeper than {0} levels")]
    TooDeep(usize),
    /// Streamed (chunked) RESP3 aggregates or strings (`$?`, `*?`), which Redis never sends.
    #[error("Protocol error: streamed RESP3 types are not supported")]
    Streamed,
    /// The master answered the sync request with an error line.
    #[error("MASTER aborted replication with an error: {0}")]
    MasterError(String),
    /// The replication payload header does not start with `$`.
    #[error("Bad protocol from MASTER, the first byte is not '$' (we received '{0}')")]
    BadBulkHeader(String),
    /// A header line is longer than the decoder accepts.
    #[error("Protocol error: line too long")]
    LineTooLong,
}

/// [`crate::split_args`] found an unterminated quote, or a closing quote
/// followed by something other than a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unbalanced quotes")]
pub struct UnbalancedQuotes;

impl From<UnbalancedQuotes> for ProtocolError {
    fn from(_: UnbalancedQuotes) -> Self {
        ProtocolError::UnbalancedQuotes
    }
}
