//! Request decoder: every error text and edge case of Redis 7.0.15's
//! `processInlineBuffer` / `processMultibulkBuffer` (checked against the real
//! server, see `against_redis.rs`).
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use tandem_resp::{Limits, ProtocolError, Request, RequestDecoder};

fn run_with(limits: Limits, input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Result<(), ProtocolError>, usize) {
    let mut d = RequestDecoder::new(limits);
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    let r = d.decode_batch(&mut buf, &mut out);
    let args = out
        .iter()
        .map(|r| r.args.iter().map(|a| a.to_vec()).collect())
        .collect();
    (args, r, buf.len())
}

fn run(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Result<(), ProtocolError>, usize) {
    run_with(Limits::default(), input)
}

fn args(list: &[&[&str]]) -> Vec<Vec<Vec<u8>>> {
    list.iter()
        .map(|r| r.iter().map(|a| a.as_bytes().to_vec()).collect())
        .collect()
}

fn err(input: &[u8]) -> ProtocolError {
    run(input).1.unwrap_err()
}

#[test]
fn multibulk_pipeline() {
    let (a, r, left) =
        run(b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*2\r\n$3\r\nGET");
    assert_eq!(r, Ok(()));
    assert_eq!(a, args(&[&["PING"], &["SET", "k", ""]]));
    // The third request's headers are consumed; its payload is awaited.
    assert_eq!(left, 3);
}

#[test]
fn raw_len_and_inline_flag() {
    let mut d = RequestDecoder::default();
    let mut buf = BytesMut::from(&b"\r\n*0\r\nPING\r\n*-1\r\n*1\r\n$4\r\nPING\r\n"[..]);
    let mut out = Vec::new();
    d.decode_batch(&mut buf, &mut out).unwrap();
    assert_eq!(
        out,
        vec![
            Request {
                args: vec![Bytes::from_static(b"PING")],
                raw_len: 2 + 4 + 6,
                inline: true
            },
            Request {
                args: vec![Bytes::from_static(b"PING")],
                raw_len: 5 + 14,
                inline: false
            },
        ]
    );
    assert!(buf.is_empty());
}

#[test]
fn args_are_zero_copy_slices() {
    let mut d = RequestDecoder::default();
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n"[..]);
    let base = buf.as_ptr() as usize;
    let end = base + buf.len();
    let mut out = Vec::new();
    d.decode_batch(&mut buf, &mut out).unwrap();
    for a in &out[0].args {
        let p = a.as_ptr() as usize;
        assert!(p >= base && p + a.len() <= end, "argument was copied");
    }
    assert_eq!(&out[0].args[1][..], b"hello");
}

#[test]
fn non_positive_multibulk_is_consumed_silently() {
    assert_eq!(run(b"*0\r\n"), (vec![], Ok(()), 0));
    assert_eq!(run(b"*-5\r\n"), (vec![], Ok(()), 0));
    assert_eq!(run(b"*-5\r\nPING\r\n"), (args(&[&["PING"]]), Ok(()), 0));
}

#[test]
fn multibulk_header_errors() {
    assert_eq!(err(b"*x\r\n"), ProtocolError::InvalidMultibulkLength);
    assert_eq!(err(b"*+1\r\n"), ProtocolError::InvalidMultibulkLength);
    assert_eq!(err(b"*01\r\n"), ProtocolError::InvalidMultibulkLength);
    assert_eq!(err(b"*1 \r\n"), ProtocolError::InvalidMultibulkLength);
    assert_eq!(err(b"*\r\n"), ProtocolError::InvalidMultibulkLength);
    assert_eq!(
        err(b"*3000000000\r\n"),
        ProtocolError::InvalidMultibulkLength
    );
    assert_eq!(
        err(b"*2147483648\r\n"),
        ProtocolError::InvalidMultibulkLength
    );
    // INT_MAX itself is accepted (and then waits for its arguments).
    assert_eq!(run(b"*2147483647\r\n"), (vec![], Ok(()), 0));
    assert_eq!(
        err(b"*x\r\n").to_string(),
        "ERR Protocol error: invalid multibulk length"
    );
}

#[test]
fn bulk_header_errors() {
    assert_eq!(err(b"*1\r\n$x\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(err(b"*1\r\n$-1\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(err(b"*1\r\n$-0\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(err(b"*1\r\n$04\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(err(b"*1\r\n$+4\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(
        err(b"*1\r\n$536870913\r\n"),
        ProtocolError::InvalidBulkLength
    );
    assert_eq!(run(b"*1\r\n$536870912\r\n").1, Ok(()));
    assert_eq!(
        err(b"*1\r\n$x\r\n").to_string(),
        "ERR Protocol error: invalid bulk length"
    );
}

#[test]
fn custom_max_bulk_len_and_from_master() {
    let limits = Limits {
        max_bulk_len: 3,
        ..Limits::default()
    };
    assert_eq!(
        run_with(limits, b"*1\r\n$4\r\nPING\r\n").1,
        Err(ProtocolError::InvalidBulkLength)
    );
    let master = Limits {
        from_master: true,
        ..limits
    };
    assert_eq!(
        run_with(master, b"*1\r\n$4\r\nPING\r\n"),
        (args(&[&["PING"]]), Ok(()), 0)
    );
}

#[test]
fn expected_dollar() {
    let e = err(b"*1\r\nX\r\n");
    assert_eq!(e, ProtocolError::ExpectedDollar(b'X'));
    assert_eq!(e.to_string(), "ERR Protocol error: expected '$', got 'X'");
    // CR and LF are shown as spaces, as addReplyErrorFormat does.
    assert_eq!(
        err(b"*1\r\n\r\n").to_string(),
        "ERR Protocol error: expected '$', got ' '"
    );
    assert_eq!(
        err(b"*1\r\n\n\r\n").to_string(),
        "ERR Protocol error: expected '$', got ' '"
    );
    // Bytes >= 0x80 are sent raw.
    let e = err(b"*1\r\n\xfe\r\n");
    assert_eq!(
        e.reply_text(),
        b"ERR Protocol error: expected '$', got '\xfe'".to_vec()
    );
    // Redis only checks the '$' once the header line is complete.
    assert_eq!(run(b"*1\r\nX"), (vec![], Ok(()), 1));
}

#[test]
fn redis_leniencies() {
    // The byte after a header's CR is not checked.
    assert_eq!(run(b"*1\rX$4\r\nPING\r\n"), (args(&[&["PING"]]), Ok(()), 0));
    // Nor are the two bytes after a bulk payload.
    assert_eq!(
        run(b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n"),
        (args(&[&["PING"], &["PING"]]), Ok(()), 0)
    );
    // A header whose CR is the last byte waits for one more byte.
    assert_eq!(run(b"*1\r"), (vec![], Ok(()), 3));
    assert_eq!(run(b"*1\r\n$4\r"), (vec![], Ok(()), 3)); // `*1\r\n` is consumed
}

#[test]
fn nul_hides_the_rest_of_the_buffer() {
    // Redis searches with strchr on a NUL-terminated buffer.
    assert_eq!(run(b"PING\0\r\n"), (vec![], Ok(()), 7));
    assert_eq!(run(b"*1\0\r\n"), (vec![], Ok(()), 5));
    let mut big = b"PING\0".to_vec();
    big.resize(64 * 1024 + 1, b'\n');
    assert_eq!(run(&big).1, Err(ProtocolError::TooBigInlineRequest));
    // NUL inside a bulk payload is just data.
    assert_eq!(
        run(b"*1\r\n$3\r\na\0c\r\n"),
        (vec![vec![b"a\0c".to_vec()]], Ok(()), 0)
    );
}

#[test]
fn inline_requests() {
    assert_eq!(run(b"PING\r\n"), (args(&[&["PING"]]), Ok(()), 0));
    assert_eq!(run(b"PING\n"), (args(&[&["PING"]]), Ok(()), 0));
    assert_eq!(run(b"\r\n\n  \t \n"), (vec![], Ok(()), 0));
    assert_eq!(run(b"  \t PING  \n"), (args(&[&["PING"]]), Ok(()), 0));
    assert_eq!(
        run(b"ECHO \"\\x41\\n\\q\"\r\nECHO a\"b c\"\r\n"),
        (args(&[&["ECHO", "A\nq"], &["ECHO", "ab c"]]), Ok(()), 0)
    );
    assert_eq!(run(b"PING"), (vec![], Ok(()), 4));
    // A lone CR before LF is stripped once; a CR elsewhere separates arguments.
    assert_eq!(run(b"a\rb\r\r\n"), (args(&[&["a", "b"]]), Ok(()), 0));
}

#[test]
fn inline_errors() {
    let e = err(b"PING \"a\r\n");
    assert_eq!(e, ProtocolError::UnbalancedQuotes);
    assert_eq!(
        e.to_string(),
        "ERR Protocol error: unbalanced quotes in request"
    );
    assert_eq!(err(b"PING \"a\"b\r\n"), ProtocolError::UnbalancedQuotes);
    let master = Limits {
        from_master: true,
        ..Limits::default()
    };
    assert_eq!(
        run_with(master, b"\n\r\nPING\r\n").1,
        Err(ProtocolError::MasterInline)
    );
    assert!(!ProtocolError::MasterInline.sends_reply());
}

#[test]
fn too_big_without_line_end() {
    let mut inline = vec![b'x'; 64 * 1024];
    assert_eq!(run(&inline).1, Ok(()));
    inline.push(b'x');
    let e = run(&inline).1.unwrap_err();
    assert_eq!(e, ProtocolError::TooBigInlineRequest);
    assert_eq!(e.to_string(), "ERR Protocol error: too big inline request");

    let mut mb = b"*".to_vec();
    mb.resize(64 * 1024 + 1, b'1');
    let e = run(&mb).1.unwrap_err();
    assert_eq!(e, ProtocolError::TooBigMultibulkCount);
    assert_eq!(
        e.to_string(),
        "ERR Protocol error: too big mbulk count string"
    );

    let mut bulk = b"*1\r\n$".to_vec();
    bulk.resize(4 + 64 * 1024 + 1, b'1');
    let e = run(&bulk).1.unwrap_err();
    assert_eq!(e, ProtocolError::TooBigBulkCount);
    assert_eq!(
        e.to_string(),
        "ERR Protocol error: too big bulk count string"
    );
    bulk.pop();
    assert_eq!(run(&bulk).1, Ok(()));
}

#[test]
fn unauthenticated_limits() {
    let unauth = Limits {
        unauthenticated: true,
        ..Limits::default()
    };
    let e = run_with(unauth, b"*11\r\n").1.unwrap_err();
    assert_eq!(e, ProtocolError::UnauthenticatedMultibulkLength);
    assert_eq!(
        e.to_string(),
        "ERR Protocol error: unauthenticated multibulk length"
    );
    assert_eq!(run_with(unauth, b"*10\r\n").1, Ok(()));
    let e = run_with(unauth, b"*1\r\n$16385\r\n").1.unwrap_err();
    assert_eq!(e, ProtocolError::UnauthenticatedBulkLength);
    assert_eq!(
        e.to_string(),
        "ERR Protocol error: unauthenticated bulk length"
    );
    assert_eq!(run_with(unauth, b"*1\r\n$16384\r\n").1, Ok(()));
    // Invalid is checked before unauthenticated.
    assert_eq!(
        run_with(unauth, b"*1\r\n$-1\r\n").1,
        Err(ProtocolError::InvalidBulkLength)
    );
}

#[test]
fn unauthenticated_limit_after_auth_in_same_read() {
    // Redis runs AUTH before parsing the next request; the decoder stops there
    // so the caller can lift the limit.
    let mut d = RequestDecoder::new(Limits {
        unauthenticated: true,
        ..Limits::default()
    });
    let input = b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n$4\r\nPING\r\n";
    let mut buf = BytesMut::from(&input[..]);
    let mut out = Vec::new();
    d.decode_batch(&mut buf, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(&buf[..], b"*11\r\n$4\r\nPING\r\n");
    // Still unauthenticated: now it is an error.
    assert_eq!(
        d.decode_batch(&mut buf, &mut out),
        Err(ProtocolError::UnauthenticatedMultibulkLength)
    );
    // Authenticated: the request proceeds.
    d.limits.unauthenticated = false;
    d.decode_batch(&mut buf, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert!(d.in_progress());

    // Same for a bulk length inside the next request.
    let mut d = RequestDecoder::new(Limits {
        unauthenticated: true,
        ..Limits::default()
    });
    let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$20000\r\n"[..]);
    let mut out = Vec::new();
    d.decode_batch(&mut buf, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(&buf[..], b"*2\r\n$4\r\nECHO\r\n$20000\r\n");
    assert!(!d.in_progress());
}

#[test]
fn requests_before_an_error_are_kept() {
    let (a, r, _) = run(b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n");
    assert_eq!(a, args(&[&["PING"], &["PING"]]));
    assert_eq!(r, Err(ProtocolError::InvalidBulkLength));
}

#[test]
fn big_bulk_reports_needed_and_resumes() {
    let mut d = RequestDecoder::default();
    let payload = vec![b'v'; 100_000];
    let mut wire = b"*2\r\n$3\r\nSET\r\n$100000\r\n".to_vec();
    wire.extend_from_slice(&payload);
    wire.extend_from_slice(b"\r\n");
    let mut buf = BytesMut::from(&wire[..30]);
    let mut out = Vec::new();
    d.decode_batch(&mut buf, &mut out).unwrap();
    assert!(out.is_empty());
    // Header bytes are consumed: the buffer now starts at the payload.
    let header = b"*2\r\n$3\r\nSET\r\n$100000\r\n".len();
    assert_eq!(buf.len(), 30 - header);
    assert_eq!(d.needed(), Some(100_002 - (30 - header)));
    assert_eq!(d.partial_len(), header);
    assert!(d.in_progress());
    let mut fed = 30;
    while fed < wire.len() {
        let n = (wire.len() - fed).min(7919);
        buf.extend_from_slice(&wire[fed..fed + n]);
        fed += n;
        d.decode_batch(&mut buf, &mut out).unwrap();
        if fed < wire.len() {
            assert_eq!(d.needed(), Some(wire.len() - fed));
        }
    }
    assert_eq!(d.needed(), None);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].raw_len, wire.len());
    assert_eq!(&out[0].args[1][..], &payload[..]);
}

#[test]
fn byte_by_byte_equals_whole() {
    let wire: &[u8] = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n\r\nECHO 'x y'\r\n*0\r\n*1\r\n$4\r\nPING\r\n";
    let mut whole = Vec::new();
    RequestDecoder::default()
        .decode_batch(&mut BytesMut::from(wire), &mut whole)
        .unwrap();
    let mut d = RequestDecoder::default();
    let mut buf = BytesMut::new();
    let mut pieces = Vec::new();
    for &b in wire {
        buf.extend_from_slice(&[b]);
        d.decode_batch(&mut buf, &mut pieces).unwrap();
    }
    assert_eq!(whole, pieces);
    assert_eq!(whole.len(), 3);
    assert_eq!(whole.iter().map(|r| r.raw_len).sum::<usize>(), wire.len());
}
