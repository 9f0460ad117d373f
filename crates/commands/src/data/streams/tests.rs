//! Unit tests of the stream commands' argument rules.

use super::*;

#[test]
fn ids_parse_as_redis() {
    assert_eq!(parse_id(b"5", 0).ok(), Some(StreamId::new(5, 0)));
    assert_eq!(
        parse_id(b"5", u64::MAX).ok(),
        Some(StreamId::new(5, u64::MAX))
    );
    assert_eq!(parse_id(b"5-3", 0).ok(), Some(StreamId::new(5, 3)));
    assert_eq!(parse_id(b"-", 0).ok(), Some(StreamId::new(0, 0)));
    assert_eq!(
        parse_id(b"+", 0).ok(),
        Some(StreamId::new(u64::MAX, u64::MAX))
    );
    assert!(parse_strict_id(b"-", 0).is_err());
    assert!(parse_strict_id(b"+", 0).is_err());
    // strtoull's leniency: leading zeros, spaces, a sign.
    assert_eq!(parse_id(b"007-1", 0).ok(), Some(StreamId::new(7, 1)));
    assert_eq!(parse_id(b" 7", 0).ok(), Some(StreamId::new(7, 0)));
    assert_eq!(parse_id(b"+7", 0).ok(), Some(StreamId::new(7, 0)));
    assert!(parse_id(b"-1", 0).is_err());
    assert!(parse_id(b"5-", 0).is_err());
    assert!(parse_id(b"abc", 0).is_err());
    assert_eq!(
        parse_id(b"18446744073709551615-18446744073709551615", 0).ok(),
        Some(StreamId::new(u64::MAX, u64::MAX))
    );
    assert!(parse_id(b"18446744073709551616", 0).is_err());
    let mut given = true;
    assert_eq!(
        parse_id_generic(b"5-*", 0, IdMode::Strict, Some(&mut given)).ok(),
        Some(StreamId::new(5, 0))
    );
    assert!(!given);
}

#[test]
fn interval_bounds() {
    assert_eq!(
        parse_interval(b"(5-0", true).ok(),
        Some(StreamId::new(5, 1))
    );
    assert_eq!(
        parse_interval(b"(5-0", false).ok(),
        Some(StreamId::new(4, u64::MAX))
    );
    assert!(parse_interval(b"(0-0", false).is_err());
    assert!(parse_interval(b"(-", true).is_err());
}

// ---------------------------------------------------------------------------
// Commands against a real keyspace: replies, dirty counts, propagation, blocking.

mod commands {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;

    use crate::data::test_env::{Env, NOW};
    use crate::data::{BlockOn, TimeoutReply};

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[test]
    fn xadd_propagates_the_generated_id_and_exact_trimming() {
        let mut e = Env::new();
        let o = e.run("XADD s * f v");
        assert_eq!(o.reply, "$15\r\n1700000000000-0\r\n");
        assert_eq!(o.dirty, 1);
        assert_eq!(o.lines(), vec!["XADD s 1700000000000-0 f v"]);
        let o = e.run("XADD s * f v");
        assert_eq!(o.lines(), vec!["XADD s 1700000000000-1 f v"]);
        let o = e.run("XADD s 1700000000000-* f v");
        assert_eq!(o.lines(), vec!["XADD s 1700000000000-2 f v"]);
        let o = e.run("XADD s MAXLEN ~ 1 1800000000000-5 f v");
        assert_eq!(o.lines(), vec!["XADD s MAXLEN = 4 1800000000000-5 f v"]);
        let o = e.run("XADD s MAXLEN = 1 1800000000000-6 f v");
        assert_eq!(o.lines(), vec!["XADD s MAXLEN = 1 1800000000000-6 f v"]);
        let o = e.run("XTRIM s MINID ~ 0");
        assert_eq!((o.reply.as_str(), o.dirty, o.prop.len()), (":0\r\n", 0, 0));
        let o = e.run("XADD s NOMKSTREAM MINID ~ 9 LIMIT 5 1800000000000-7 f v");
        assert_eq!(
            o.lines(),
            // The first ID with tombstones included (`streamGetEdgeID(s, 1, 0)`).
            vec!["XADD s NOMKSTREAM MINID = 1700000000000-0 LIMIT 5 1800000000000-7 f v"]
        );
    }

    #[test]
    fn xreadgroup_propagates_its_effects() {
        let mut e = Env::new();
        e.r("XADD s 1-0 a 1");
        e.r("XADD s 2-0 a 2");
        e.r("XGROUP CREATE s g 0");
        let o = e.run("XREADGROUP GROUP g c STREAMS s >");
        assert_eq!(o.dirty, 2);
        let t = NOW.to_string();
        assert_eq!(
            o.lines(),
            vec![
                format!("XCLAIM s g c 0 1-0 TIME {t} RETRYCOUNT 1 FORCE JUSTID LASTID 1-0"),
                format!("XCLAIM s g c 0 2-0 TIME {t} RETRYCOUNT 1 FORCE JUSTID LASTID 2-0"),
            ]
        );
        e.r("XADD s 3-0 a 3");
        let o = e.run("XREADGROUP GROUP g d NOACK STREAMS s >");
        assert_eq!(
            o.lines(),
            vec![
                "XGROUP CREATECONSUMER s g d".to_string(),
                "XGROUP SETID s g 3-0 ENTRIESREAD 3".to_string(),
            ]
        );
        // History reads change delivery counts but propagate nothing.
        let o = e.run("XREADGROUP GROUP g c STREAMS s 0");
        assert_eq!((o.dirty, o.prop.len()), (1, 0));
        let o = e.run("XAUTOCLAIM s g x 0 0 JUSTID");
        assert_eq!(
            o.reply,
            "*3\r\n$3\r\n0-0\r\n*2\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*0\r\n"
        );
        assert_eq!(o.prop.len(), 2);
        assert!(o.lines()[0].starts_with("XCLAIM s g x 0 1-0 TIME"));
    }

    #[test]
    fn blocking_reads() {
        let mut e = Env::new();
        e.r("XADD s 1-0 a 1");
        assert_eq!(e.r("XREAD BLOCK 100 STREAMS s $"), "*-1\r\n");
        e.may_block = true;
        let o = e.run("XREAD BLOCK 100 STREAMS s nokey $ $");
        assert_eq!(o.reply, "");
        assert_eq!(
            o.block,
            Some(BlockOn {
                keys: vec![b("s"), b("nokey")],
                deadline: Some(NOW + 100),
                on_timeout: TimeoutReply::NullArray,
                retry_args: Some(
                    [
                        "XREAD", "COUNT", "1000", "BLOCK", "100", "STREAMS", "s", "nokey", "1-0",
                        "0-0"
                    ]
                    .iter()
                    .map(|s| b(s))
                    .collect()
                ),
            })
        );
        let o = e.run("XREAD COUNT 5 BLOCK 0 STREAMS s 1-0");
        assert_eq!(o.block.map(|b| b.deadline), Some(None));
        // Served at once when there is something to read.
        let o = e.run("XREAD BLOCK 0 STREAMS s 0");
        assert!(o.block.is_none());
        assert!(o.reply.starts_with("*1\r\n*2\r\n$1\r\ns\r\n"));
        e.r("XGROUP CREATE s g $");
        let o = e.run("XREADGROUP GROUP g c BLOCK 10 STREAMS s >");
        assert_eq!(
            o.block.and_then(|b| b.retry_args).map(|a| a.len()),
            Some(11)
        );
    }

    #[test]
    fn writes_signal_only_where_redis_does() {
        let mut e = Env::new();
        e.r("XADD s 1-0 a 1");
        let o = e.run("XSETID s 5-0");
        assert_eq!((o.reply.as_str(), o.dirty), ("+OK\r\n", 1));
        let o = e.run("XDEL s 1-0 1-0");
        assert_eq!((o.reply.as_str(), o.dirty), (":1\r\n", 1));
        assert_eq!(e.r("XLEN s"), ":0\r\n");
        assert_eq!(e.r("EXISTS s"), ":1\r\n");
    }
}
