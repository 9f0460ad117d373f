//! General RESP2/RESP3 value decoder and the replication bulk header.
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use tandem_resp::{
    decode_value, decode_value_raw, decode_value_with, parse_rdb_bulk_header, parse_value,
    parse_value_bytes, DecodeError, DecodeLimits, Needed, Parsed, RdbBulkHeader, Value,
};

fn one(input: &[u8]) -> Value {
    match parse_value(input).unwrap() {
        Parsed::Complete { value, consumed } => {
            assert_eq!(
                consumed,
                input.len(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            value
        }
        Parsed::Incomplete(n) => panic!("incomplete {n:?}"),
    }
}

fn bad(input: &[u8]) -> DecodeError {
    parse_value(input).unwrap_err()
}

#[test]
fn resp2_types() {
    assert_eq!(one(b"+OK\r\n"), Value::simple("OK"));
    assert_eq!(one(b"-ERR x y\r\n"), Value::error("ERR x y"));
    assert_eq!(one(b":-12\r\n"), Value::Integer(-12));
    assert_eq!(one(b":+12\r\n"), Value::Integer(12));
    assert_eq!(one(b"$3\r\na\rb\r\n"), Value::bulk("a\rb"));
    assert_eq!(one(b"$0\r\n\r\n"), Value::bulk(""));
    assert_eq!(one(b"$-1\r\n"), Value::Null);
    assert_eq!(one(b"*-1\r\n"), Value::NullArray);
    assert_eq!(one(b"*0\r\n"), Value::Array(vec![]));
    assert_eq!(
        one(b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n"),
        Value::Array(vec![
            Value::Integer(1),
            Value::Array(vec![Value::bulk("x")])
        ])
    );
}

#[test]
fn resp3_types() {
    assert_eq!(one(b"_\r\n"), Value::Null);
    assert_eq!(one(b",1.5\r\n"), Value::Double(1.5));
    assert_eq!(one(b",-inf\r\n"), Value::Double(f64::NEG_INFINITY));
    assert_eq!(one(b",1e+17\r\n"), Value::Double(1e17));
    match one(b",nan\r\n") {
        Value::Double(d) => assert!(d.is_nan()),
        other => panic!("{other:?}"),
    }
    assert_eq!(one(b"#t\r\n"), Value::Boolean(true));
    assert_eq!(one(b"#f\r\n"), Value::Boolean(false));
    assert_eq!(
        one(b"(-3492890328409238509324850943850943825024385\r\n"),
        Value::BigNumber(Bytes::from_static(
            b"-3492890328409238509324850943850943825024385"
        ))
    );
    assert_eq!(
        one(b"=15\r\ntxt:Some string\r\n"),
        Value::Verbatim {
            format: *b"txt",
            text: Bytes::from_static(b"Some string")
        }
    );
    assert_eq!(one(b"!8\r\nERR a\r\nb\r\n"), Value::error("ERR a\r\nb"));
    assert_eq!(
        one(b"%1\r\n+k\r\n~2\r\n:1\r\n:2\r\n"),
        Value::Map(vec![(
            Value::simple("k"),
            Value::Set(vec![Value::Integer(1), Value::Integer(2)])
        )])
    );
    assert_eq!(
        one(b">2\r\n$7\r\nmessage\r\n_\r\n"),
        Value::Push(vec![Value::bulk("message"), Value::Null])
    );
    assert_eq!(
        one(b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n"),
        Value::Attribute {
            attrs: vec![(Value::simple("ttl"), Value::Integer(3))],
            value: Box::new(Value::bulk("v"))
        }
    );
}

#[test]
fn incomplete_input_reports_needed() {
    assert_eq!(
        parse_value(b"").unwrap(),
        Parsed::Incomplete(Needed::Size(1))
    );
    assert_eq!(
        parse_value(b"+OK").unwrap(),
        Parsed::Incomplete(Needed::Unknown)
    );
    assert_eq!(
        parse_value(b"+OK\r").unwrap(),
        Parsed::Incomplete(Needed::Unknown)
    );
    assert_eq!(
        parse_value(b"$10\r\nabc").unwrap(),
        Parsed::Incomplete(Needed::Size(7))
    );
    assert_eq!(
        parse_value(b"$3\r\nabc").unwrap(),
        Parsed::Incomplete(Needed::Size(2))
    );
    assert_eq!(
        parse_value(b"*2\r\n:1\r\n").unwrap(),
        Parsed::Incomplete(Needed::Size(1))
    );
    // Every strict prefix of a value is incomplete, never an error.
    let wire = b"%2\r\n+a\r\n*2\r\n$3\r\nxyz\r\n,2.5\r\n=7\r\nmkd:abc\r\n|1\r\n#t\r\n(12\r\n_\r\n";
    for n in 0..wire.len() {
        assert!(
            matches!(parse_value(&wire[..n]), Ok(Parsed::Incomplete(_))),
            "prefix {n}"
        );
    }
    assert!(matches!(parse_value(wire), Ok(Parsed::Complete { .. })));
}

#[test]
fn decode_value_consumes_only_whole_values() {
    let mut buf = BytesMut::from(&b"$5\r\nhello\r\n:1\r\n*1\r\n$2\r\nab"[..]);
    let base = buf.as_ptr() as usize;
    let v = decode_value(&mut buf).unwrap().unwrap();
    match &v {
        Value::Bulk(b) => {
            assert_eq!(&b[..], b"hello");
            assert_eq!(b.as_ptr() as usize, base + 4, "payload must be zero-copy");
        }
        other => panic!("{other:?}"),
    }
    let (v, raw) = decode_value_raw(&mut buf).unwrap().unwrap();
    assert_eq!((v, &raw[..]), (Value::Integer(1), &b":1\r\n"[..]));
    assert_eq!(decode_value(&mut buf).unwrap(), None);
    assert_eq!(buf.len(), 10);
    buf.extend_from_slice(b"\r\n");
    assert_eq!(
        decode_value(&mut buf).unwrap(),
        Some(Value::Array(vec![Value::bulk("ab")]))
    );
    assert!(buf.is_empty());

    let bytes = Bytes::from_static(b"+PONG\r\n");
    assert_eq!(
        parse_value_bytes(&bytes).unwrap(),
        Parsed::Complete {
            value: Value::simple("PONG"),
            consumed: 7
        }
    );
}

#[test]
fn malformed_values() {
    assert_eq!(bad(b"?x\r\n"), DecodeError::InvalidTypeByte('?'));
    assert_eq!(bad(b"$x\r\n"), DecodeError::InvalidLength);
    assert_eq!(bad(b"$-2\r\n"), DecodeError::InvalidLength);
    assert_eq!(bad(b"%-1\r\n"), DecodeError::InvalidLength);
    assert_eq!(bad(b"$?\r\n"), DecodeError::Streamed);
    assert_eq!(bad(b"$3\r\nabcXY"), DecodeError::ExpectedCrlf);
    assert_eq!(bad(b":1.5\r\n"), DecodeError::InvalidInteger);
    assert_eq!(
        bad(b":99999999999999999999\r\n"),
        DecodeError::InvalidInteger
    );
    assert_eq!(bad(b",abc\r\n"), DecodeError::InvalidDouble);
    assert_eq!(bad(b"#x\r\n"), DecodeError::InvalidBoolean);
    assert_eq!(bad(b"(12a\r\n"), DecodeError::InvalidBigNumber);
    assert_eq!(bad(b"=3\r\ntxt\r\n"), DecodeError::InvalidVerbatim);
    assert_eq!(bad(b"=4\r\ntxt-\r\n"), DecodeError::InvalidVerbatim);
    assert_eq!(bad(b"_x\r\n"), DecodeError::InvalidNull);
}

#[test]
fn limits() {
    let deep = "*1\r\n".repeat(200);
    assert_eq!(bad(deep.as_bytes()), DecodeError::TooDeep(128));
    let ok_depth = format!("{}:1\r\n", "*1\r\n".repeat(127));
    assert!(matches!(
        parse_value(ok_depth.as_bytes()),
        Ok(Parsed::Complete { .. })
    ));
    let limits = DecodeLimits {
        max_depth: 2,
        max_bulk_len: 4,
    };
    let mut buf = BytesMut::from(&b"$5\r\nhello\r\n"[..]);
    assert_eq!(
        decode_value_with(&mut buf, &limits),
        Err(DecodeError::BulkTooLong(5))
    );
    // A huge count does not allocate up front.
    assert!(matches!(
        parse_value(b"*9223372036854775807\r\n:1\r\n"),
        Ok(Parsed::Incomplete(_))
    ));
}

#[test]
fn rdb_bulk_header() {
    assert_eq!(
        parse_rdb_bulk_header(b"$1234\r\nREDIS0010").unwrap(),
        Some((RdbBulkHeader::Len(1234), 7))
    );
    assert_eq!(
        parse_rdb_bulk_header(b"\n\n$0\r\n").unwrap(),
        Some((RdbBulkHeader::Len(0), 6))
    );
    let mark = [b'a'; 40];
    let mut wire = b"$EOF:".to_vec();
    wire.extend_from_slice(&mark);
    wire.extend_from_slice(b"\r\nREDIS");
    assert_eq!(
        parse_rdb_bulk_header(&wire).unwrap(),
        Some((RdbBulkHeader::Eof(mark), 47))
    );
    assert_eq!(parse_rdb_bulk_header(b"$12").unwrap(), None);
    assert_eq!(parse_rdb_bulk_header(b"\n").unwrap(), None);
    assert_eq!(
        parse_rdb_bulk_header(b"-NOMASTERLINK x\r\n"),
        Err(DecodeError::MasterError("NOMASTERLINK x".into()))
    );
    assert_eq!(
        parse_rdb_bulk_header(b"+OK\r\n"),
        Err(DecodeError::BadBulkHeader("+OK".into()))
    );
    assert_eq!(
        parse_rdb_bulk_header(b"$x\r\n"),
        Err(DecodeError::InvalidLength)
    );
    assert_eq!(
        parse_rdb_bulk_header(&[b'$'; 2000]),
        Err(DecodeError::LineTooLong)
    );
}
