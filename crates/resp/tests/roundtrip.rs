//! Property tests: encode/decode round trips and chunking independence.
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tandem_resp::{
    decode_value, encode, encode_command, repr, split_args, Protocol, RequestDecoder, Value,
};

fn bytes_no_crlf() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..12,
    )
    .prop_map(Bytes::from)
}

fn any_bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
        Just(0.0),
        Just(-0.0),
        (-1000i32..1000).prop_map(|i| f64::from(i) / 8.0),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        bytes_no_crlf().prop_map(Value::Simple),
        bytes_no_crlf().prop_map(Value::Error),
        any::<i64>().prop_map(Value::Integer),
        any_bytes().prop_map(Value::Bulk),
        Just(Value::Null),
        Just(Value::NullArray),
        double().prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
        ("-?[1-9][0-9]{0,40}").prop_map(|s| Value::BigNumber(Bytes::from(s))),
        (any::<[u8; 3]>(), any_bytes()).prop_map(|(format, text)| Value::Verbatim { format, text }),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        let pairs = proptest::collection::vec((inner.clone(), inner.clone()), 0..4);
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            pairs.clone().prop_map(Value::Map),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Set),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Push),
            (pairs, inner).prop_map(|(attrs, v)| Value::Attribute {
                attrs,
                value: Box::new(v)
            }),
        ]
    })
}

/// What a RESP3 round trip must give back: RESP3 has no null array.
fn resp3_view(v: &Value) -> Value {
    let list = |l: &[Value]| l.iter().map(resp3_view).collect();
    let pairs = |p: &[(Value, Value)]| {
        p.iter()
            .map(|(k, v)| (resp3_view(k), resp3_view(v)))
            .collect()
    };
    match v {
        Value::NullArray => Value::Null,
        Value::Array(l) => Value::Array(list(l)),
        Value::Set(l) => Value::Set(list(l)),
        Value::Push(l) => Value::Push(list(l)),
        Value::Map(p) => Value::Map(pairs(p)),
        Value::Attribute { attrs, value } => Value::Attribute {
            attrs: pairs(attrs),
            value: Box::new(resp3_view(value)),
        },
        other => other.clone(),
    }
}

/// Equality where doubles compare by bits, and any NaN equals any NaN.
fn same(a: &Value, b: &Value) -> bool {
    let lists =
        |x: &[Value], y: &[Value]| x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b));
    let pairs = |x: &[(Value, Value)], y: &[(Value, Value)]| {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|((a, b), (c, d))| same(a, c) && same(b, d))
    };
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Value::Array(x), Value::Array(y))
        | (Value::Set(x), Value::Set(y))
        | (Value::Push(x), Value::Push(y)) => lists(x, y),
        (Value::Map(x), Value::Map(y)) => pairs(x, y),
        (
            Value::Attribute {
                attrs: a1,
                value: v1,
            },
            Value::Attribute {
                attrs: a2,
                value: v2,
            },
        ) => pairs(a1, a2) && same(v1, v2),
        _ => a == b,
    }
}

fn request() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn resp3_encode_decode_is_identity(v in value()) {
        let mut buf = BytesMut::new();
        encode(&v, Protocol::Resp3, &mut buf);
        let total = buf.len();
        let got = decode_value(&mut buf).unwrap().unwrap();
        prop_assert!(buf.is_empty(), "{} of {} bytes left", buf.len(), total);
        let want = resp3_view(&v);
        prop_assert!(same(&got, &want), "got {:?}\nwant {:?}", got, want);
    }

    #[test]
    fn value_decoding_is_split_independent(v in value(), cut in any::<prop::sample::Index>()) {
        let mut wire = BytesMut::new();
        encode(&v, Protocol::Resp3, &mut wire);
        let cut = cut.index(wire.len());
        let mut buf = BytesMut::from(&wire[..cut]);
        if cut < wire.len() {
            prop_assert_eq!(decode_value(&mut buf).unwrap(), None);
            prop_assert_eq!(buf.len(), cut);
        }
        buf.extend_from_slice(&wire[cut..]);
        let got = decode_value(&mut buf).unwrap().unwrap();
        prop_assert!(same(&got, &resp3_view(&v)));
    }

    #[test]
    fn pipelines_decode_the_same_whatever_the_chunking(
        reqs in proptest::collection::vec((request(), 0u8..6), 1..8),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        // Mix multibulk and inline requests, with skipped filler between them.
        let mut wire = BytesMut::new();
        for (r, how) in &reqs {
            match how {
                0 => wire.extend_from_slice(b"\r\n"),
                1 => wire.extend_from_slice(b"*0\r\n"),
                _ => {}
            }
            if *how == 2 {
                let quoted: Vec<Vec<u8>> = r.iter().map(|a| repr(a)).collect();
                wire.extend_from_slice(&quoted.join(&b' '));
                wire.extend_from_slice(b"\r\n");
            } else {
                encode_command(r, &mut wire);
            }
        }
        let reqs: Vec<Vec<Vec<u8>>> = reqs.into_iter().map(|(r, _)| r).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();
        let mut d = RequestDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for w in points.windows(2) {
            buf.extend_from_slice(&wire[w[0]..w[1]]);
            d.decode_batch(&mut buf, &mut out).unwrap();
        }
        prop_assert!(buf.is_empty());
        let got: Vec<Vec<Vec<u8>>> = out.iter().map(|r| r.args.iter().map(|a| a.to_vec()).collect()).collect();
        prop_assert_eq!(got, reqs);
        prop_assert_eq!(out.iter().map(|r| r.raw_len).sum::<usize>(), wire.len());
        prop_assert_eq!(d.needed(), None);
    }

    #[test]
    fn inline_split_round_trip(args in request()) {
        let mut line = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            line.extend_from_slice(&repr(a));
        }
        prop_assert_eq!(&split_args(&line).unwrap(), &args);
        // And through the request decoder as an inline command.
        line.extend_from_slice(b"\r\n");
        let mut buf = BytesMut::from(&line[..]);
        let mut out = Vec::new();
        RequestDecoder::default().decode_batch(&mut buf, &mut out).unwrap();
        prop_assert_eq!(out.len(), 1);
        prop_assert!(out[0].inline);
        let got: Vec<Vec<u8>> = out[0].args.iter().map(|a| a.to_vec()).collect();
        prop_assert_eq!(got, args);
    }

    #[test]
    fn request_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut buf = BytesMut::from(&data[..]);
        let mut out = Vec::new();
        let _ = RequestDecoder::default().decode_batch(&mut buf, &mut out);
        let mut buf = BytesMut::from(&data[..]);
        let _ = decode_value(&mut buf);
    }

    #[test]
    fn split_args_never_panics(data in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = split_args(&data);
    }
}
