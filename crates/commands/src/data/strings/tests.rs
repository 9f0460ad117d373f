//! Unit tests of the string commands against a real keyspace: replies, dirty counts,
//! keyspace hits/misses and, above all, the propagated forms.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use tandem_keyspace::{StrValue, Value};
use tandem_resp::Protocol;

use crate::data::test_env::{Env, NOW};

fn bulk(s: &str) -> String {
    format!("${}\r\n{}\r\n", s.len(), s)
}

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

fn err(s: &str) -> String {
    format!("-{s}\r\n")
}

const NIL: &str = "$-1\r\n";
const OK: &str = "+OK\r\n";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn with_list(env: &mut Env, key: &str) {
    let v = Value::List(tandem_keyspace::ListValue::new(&Default::default()));
    env.ks.set(
        0,
        Bytes::from(key.to_string()),
        v,
        tandem_keyspace::Expiry::Clear,
    );
}

#[test]
fn set_and_get() {
    let mut e = Env::new();
    assert_eq!(e.r("GET k"), NIL);
    assert_eq!(e.r("SET k v"), OK);
    assert_eq!(e.r("GET k"), bulk("v"));
    assert_eq!(e.stats.keyspace_hits, 1);
    assert_eq!(e.stats.keyspace_misses, 1);
    assert_eq!(e.r("SET k v2 NX"), NIL);
    assert_eq!(e.r("SET k v2 XX GET"), bulk("v"));
    assert_eq!(e.r("SET nope v XX"), NIL);
    assert_eq!(e.r("SET k v NX XX"), err("ERR syntax error"));
    assert_eq!(e.r("SET k v EX"), err("ERR syntax error"));
    assert_eq!(e.r("SET k v EX 10 PX 10"), err("ERR syntax error"));
    assert_eq!(e.r("SET k v KEEPTTL EX 10"), err("ERR syntax error"));
    assert_eq!(e.r("SET k v EX 10 KEEPTTL"), err("ERR syntax error"));
    assert_eq!(e.r("SET k v EX 10 EX 20"), OK);
    assert_eq!(
        e.r("SET k v EX 0"),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        e.r("SET k v EX abc"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        e.r("SET k v EX 9223372036854775"),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        e.r("SETEX k -1 v"),
        err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(
        e.r("PSETEX k 0 v"),
        err("ERR invalid expire time in 'psetex' command")
    );
    with_list(&mut e, "l");
    assert_eq!(e.r("GET l"), err(WRONGTYPE));
    assert_eq!(e.r("SET l v GET"), err(WRONGTYPE));
    assert_eq!(e.r("SET l v"), OK);
    assert_eq!(e.r("SETNX k x"), int(0));
    assert_eq!(e.r("SETNX new x"), int(1));
}

#[test]
fn set_encodings() {
    let mut e = Env::new();
    e.r("SET a 123");
    e.r("SET b 0123");
    e.r(&format!("SET c {}", "x".repeat(45)));
    e.r("MSET d -5 f abc");
    let enc = |e: &mut Env, k: &str| match e.ks.get(0, k.as_bytes(), NOW) {
        Some(Value::String(s)) => s.clone(),
        _ => panic!("missing"),
    };
    assert_eq!(enc(&mut e, "a"), StrValue::Int(123));
    assert!(matches!(
        enc(&mut e, "b"),
        StrValue::Bytes { embstr: true, .. }
    ));
    assert!(matches!(
        enc(&mut e, "c"),
        StrValue::Bytes { embstr: false, .. }
    ));
    assert_eq!(enc(&mut e, "d"), StrValue::Int(-5));
    e.r("APPEND a 4");
    assert!(matches!(
        enc(&mut e, "a"),
        StrValue::Bytes { embstr: false, .. }
    ));
    assert_eq!(e.r("GET a"), bulk("1234"));
    e.r("INCRBYFLOAT f2 1.5");
    assert!(matches!(
        enc(&mut e, "f2"),
        StrValue::Bytes { embstr: true, .. }
    ));
}

#[test]
fn set_propagation() {
    let mut e = Env::new();
    let at = NOW + 10_000;
    assert_eq!(e.prop("SET k v EX 10"), [format!("SET k v PXAT {at}")]);
    assert_eq!(
        e.prop("SET k v PX 10000 GET"),
        [format!("SET k v PXAT {at}")]
    );
    assert_eq!(
        e.prop("SET k v xx EXAT 1800000000"),
        ["SET k v PXAT 1800000000000"]
    );
    assert_eq!(
        e.prop("SET k v PXAT 1800000000001"),
        ["SET k v PXAT 1800000000001"]
    );
    assert_eq!(e.prop("SET k v get"), ["SET k v"]);
    assert_eq!(e.prop("SET k v GET NX GET"), Vec::<String>::new());
    assert_eq!(e.prop("SET k2 v GET KEEPTTL get"), ["SET k2 v KEEPTTL"]);
    assert_eq!(e.prop("SET k v KEEPTTL"), ["SET k v KEEPTTL"]);
    assert_eq!(e.prop("SET k v NX"), Vec::<String>::new());
    assert_eq!(e.prop("SETEX k 10 v"), [format!("SET k v PXAT {at}")]);
    assert_eq!(e.prop("PSETEX k 10000 v"), [format!("SET k v PXAT {at}")]);
    assert_eq!(e.prop("SETNX k v"), Vec::<String>::new());
    assert_eq!(e.prop("SETNX k3 v"), ["SETNX k3 v"]);
    assert_eq!(e.prop("GETSET k w"), ["SET k w"]);
    assert_eq!(e.prop("MSET a 1 b 2"), ["MSET a 1 b 2"]);
    assert_eq!(e.run("MSET a 1 b 2 a 3").dirty, 3);
    assert_eq!(e.prop("MSETNX a 1 z 2"), Vec::<String>::new());
    assert_eq!(e.prop("MSETNX y 1 z 2"), ["MSETNX y 1 z 2"]);
}

#[test]
fn getex_and_getdel() {
    let mut e = Env::new();
    e.r("SET k v");
    let o = e.run("GETEX k");
    assert_eq!((o.reply.as_str(), o.dirty), (bulk("v").as_str(), 0));
    assert!(o.prop.is_empty());
    assert_eq!(e.prop("GETEX k PERSIST"), Vec::<String>::new());
    assert_eq!(
        e.prop("GETEX k EX 100"),
        [format!("PEXPIREAT k {}", NOW + 100_000)]
    );
    assert_eq!(e.ks.expire_at(0, b"k"), Some(NOW + 100_000));
    assert_eq!(e.prop("GETEX k PERSIST"), ["PERSIST k"]);
    assert_eq!(e.ks.expire_at(0, b"k"), None);
    assert_eq!(
        e.prop("GETEX k PXAT 1800000000000"),
        ["PEXPIREAT k 1800000000000"]
    );
    assert_eq!(e.r("GETEX k PXAT 5"), bulk("v"));
    assert_eq!(e.r("GET k"), NIL);
    e.r("SET k v");
    assert_eq!(e.prop("GETEX k EXAT 5"), ["DEL k"]);
    e.settings.lazyfree_lazy_expire = true;
    e.r("SET k v");
    assert_eq!(e.prop("GETEX k EXAT 5"), ["UNLINK k"]);
    assert_eq!(e.r("GETEX k EX 10 PERSIST"), err("ERR syntax error"));
    assert_eq!(e.r("GETEX k NX"), err("ERR syntax error"));
    assert_eq!(e.r("GETEX missing EX 0"), NIL);
    e.r("SET k v");
    assert_eq!(
        e.r("GETEX k EX 0"),
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(e.prop("GETDEL k"), ["DEL k"]);
    assert_eq!(e.prop("GETDEL k"), Vec::<String>::new());
    e.settings.lazyfree_lazy_user_del = true;
    e.r("SET k v");
    assert_eq!(e.prop("GETDEL k"), ["UNLINK k"]);
}

#[test]
fn counters() {
    let mut e = Env::new();
    assert_eq!(e.r("INCR n"), int(1));
    assert_eq!(e.r("INCRBY n 10"), int(11));
    assert_eq!(e.r("DECRBY n 20"), int(-9));
    assert_eq!(e.r("DECR n"), int(-10));
    assert_eq!(e.prop("INCR n"), ["INCR n"]);
    assert_eq!(
        e.r("DECRBY n -9223372036854775808"),
        err("ERR decrement would overflow")
    );
    e.r("SET n 9223372036854775807");
    assert_eq!(
        e.r("INCR n"),
        err("ERR increment or decrement would overflow")
    );
    e.r("SET s abc");
    assert_eq!(
        e.r("INCR s"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        e.r("INCRBY n x"),
        err("ERR value is not an integer or out of range")
    );
    with_list(&mut e, "l");
    assert_eq!(e.r("INCR l"), err(WRONGTYPE));
    // TTL kept by INCR.
    e.r("SET t 1 EX 100");
    e.r("INCR t");
    assert_eq!(e.ks.expire_at(0, b"t"), Some(NOW + 100_000));
}

#[test]
fn incrbyfloat() {
    let mut e = Env::new();
    e.r("SET f 10.5");
    assert_eq!(e.r("INCRBYFLOAT f 0.1"), bulk("10.6"));
    assert_eq!(e.prop("INCRBYFLOAT f 0.4"), ["SET f 11 KEEPTTL"]);
    e.r("SET f 3.0e3");
    assert_eq!(e.r("INCRBYFLOAT f 5.0e3"), bulk("8000"));
    assert_eq!(
        e.r("INCRBYFLOAT f abc"),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        e.r("INCRBYFLOAT f inf"),
        err("ERR increment would produce NaN or Infinity")
    );
    e.r("SET s abc");
    assert_eq!(
        e.r("INCRBYFLOAT s 1"),
        err("ERR value is not a valid float")
    );
    e.r("SET t 1 PX 5000");
    e.r("INCRBYFLOAT t 1");
    assert_eq!(e.ks.expire_at(0, b"t"), Some(NOW + 5000));
    assert_eq!(e.r("GET t"), bulk("2"));
}

#[test]
fn ranges() {
    let mut e = Env::new();
    assert_eq!(e.r("APPEND k Hello"), int(5));
    assert_eq!(e.r("APPEND k \\sWorld"), int(11));
    assert_eq!(e.r("STRLEN k"), int(11));
    assert_eq!(e.r("GETRANGE k 0 4"), bulk("Hello"));
    assert_eq!(e.r("GETRANGE k -5 -1"), bulk("World"));
    assert_eq!(e.r("GETRANGE k -1 -5"), bulk(""));
    assert_eq!(e.r("SUBSTR k 100 200"), bulk(""));
    assert_eq!(e.r("GETRANGE nope 0 1"), bulk(""));
    assert_eq!(e.r("SETRANGE k 6 Redis"), int(11));
    assert_eq!(e.r("GET k"), bulk("Hello Redis"));
    assert_eq!(e.r("SETRANGE z 3 ab"), int(5));
    assert_eq!(e.r("GET z"), bulk("\0\0\0ab"));
    assert_eq!(e.run("SETRANGE y 3 \\0").dirty, 1);
    let o = e.run("SETRANGE nope 3 ");
    assert_eq!((o.reply, o.dirty), (int(0), 0));
    assert_eq!(e.r("SETRANGE k -1 x"), err("ERR offset is out of range"));
    assert_eq!(
        e.r("SETRANGE k 536870911 xx"),
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    e.r("SET n 12345");
    assert_eq!(e.r("STRLEN n"), int(5));
    assert_eq!(e.r("GETRANGE n 1 2"), bulk("23"));
}

#[test]
fn lcs() {
    let mut e = Env::new();
    e.r("MSET key1 ohmytext key2 mynewtext");
    assert_eq!(e.r("LCS key1 key2"), bulk("mytext"));
    assert_eq!(e.r("LCS key1 key2 LEN"), int(6));
    let idx = e.r("LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN");
    assert_eq!(
        idx,
        "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
    );
    let idx = e.r("LCS key1 key2 IDX");
    assert!(idx.starts_with("*4\r\n$7\r\nmatches\r\n*2\r\n"));
    assert_eq!(
        e.r("LCS key1 key2 LEN IDX"),
        err("ERR If you want both the length and indexes, please just use IDX.")
    );
    with_list(&mut e, "l");
    assert_eq!(
        e.r("LCS key1 l"),
        err("ERR The specified keys must contain string values")
    );
    assert_eq!(e.r("LCS key1 nope"), bulk(""));
}

#[test]
fn bits() {
    let mut e = Env::new();
    assert_eq!(e.r("SETBIT b 7 1"), int(0));
    assert_eq!(e.r("SETBIT b 7 1"), int(1));
    assert_eq!(e.run("SETBIT b 7 1").dirty, 0);
    assert_eq!(e.run("SETBIT b 7 0").dirty, 1);
    assert_eq!(e.run("SETBIT b 100 0").dirty, 1);
    assert_eq!(e.r("GETBIT b 100"), int(0));
    assert_eq!(e.r("GETBIT b 100000"), int(0));
    assert_eq!(
        e.r("SETBIT b 1 2"),
        err("ERR bit is not an integer or out of range")
    );
    assert_eq!(
        e.r("SETBIT b -1 1"),
        err("ERR bit offset is not an integer or out of range")
    );
    assert_eq!(
        e.r("SETBIT b 4294967296 1"),
        err("ERR bit offset is not an integer or out of range")
    );
    e.r("SET s foobar");
    assert_eq!(e.r("BITCOUNT s"), int(26));
    assert_eq!(e.r("BITCOUNT s 0 0"), int(4));
    assert_eq!(e.r("BITCOUNT s 1 1"), int(6));
    assert_eq!(e.r("BITCOUNT s 1 1 BYTE"), int(6));
    assert_eq!(e.r("BITCOUNT s 5 30 BIT"), int(17));
    assert_eq!(e.r("BITCOUNT s 1"), err("ERR syntax error"));
    assert_eq!(e.r("BITCOUNT nope 1"), int(0));
    e.ks.set(
        0,
        Bytes::from_static(b"p"),
        Value::String(StrValue::Bytes {
            data: Bytes::from_static(b"\xff\xf0\x00"),
            embstr: true,
        }),
        tandem_keyspace::Expiry::Clear,
    );
    assert_eq!(e.r("BITPOS p 0"), int(12));
    e.ks.set(
        0,
        Bytes::from_static(b"p"),
        Value::String(StrValue::Bytes {
            data: Bytes::from_static(b"\x00\xff\xf0"),
            embstr: true,
        }),
        tandem_keyspace::Expiry::Clear,
    );
    assert_eq!(e.r("BITPOS p 1 0"), int(8));
    assert_eq!(e.r("BITPOS p 1 2"), int(16));
    assert_eq!(e.r("BITPOS p 1 2 -1 BYTE"), int(16));
    assert_eq!(e.r("BITPOS p 1 7 15 BIT"), int(8));
    assert_eq!(e.r("BITPOS p 1 7 -3 BIT"), int(8));
    assert_eq!(e.r("BITPOS nope 0"), int(0));
    assert_eq!(e.r("BITPOS nope 1"), int(-1));
    assert_eq!(
        e.r("BITPOS p 2"),
        err("ERR The bit argument must be 1 or 0.")
    );
    e.r("SET ones \u{7f}");
    assert_eq!(e.r("BITPOS ones 1"), int(1));
    e.ks.set(
        0,
        Bytes::from_static(b"ff"),
        Value::String(StrValue::Bytes {
            data: Bytes::from_static(b"\xff\xff\xff"),
            embstr: true,
        }),
        tandem_keyspace::Expiry::Clear,
    );
    assert_eq!(e.r("BITPOS ff 0"), int(24));
    assert_eq!(e.r("BITPOS ff 0 0"), int(24));
    assert_eq!(e.r("BITPOS ff 0 0 -1"), int(-1));
}

#[test]
fn bitop() {
    let mut e = Env::new();
    e.r("SET a foof");
    e.r("SET b bar");
    assert_eq!(e.r("BITOP AND d a b"), int(4));
    assert_eq!(e.r("GET d"), bulk("bab\0"));
    assert_eq!(e.r("BITOP OR d a b"), int(4));
    assert_eq!(e.r("GET d"), bulk("fo\u{7f}f"));
    assert_eq!(e.r("BITOP XOR d a a"), int(4));
    assert_eq!(e.r("GET d"), bulk("\0\0\0\0"));
    assert_eq!(
        e.r("BITOP NOT d a b"),
        err("ERR BITOP NOT must be called with a single source key.")
    );
    assert_eq!(e.r("BITOP NAND d a b"), err("ERR syntax error"));
    let o = e.run("BITOP AND d x y");
    assert_eq!((o.reply, o.dirty), (int(0), 1));
    assert_eq!(e.r("GET d"), NIL);
    assert_eq!(e.run("BITOP AND d x y").dirty, 0);
}

#[test]
fn bitfield() {
    let mut e = Env::new();
    assert_eq!(
        e.r("BITFIELD k INCRBY i5 100 1 GET u4 0"),
        "*2\r\n:1\r\n:0\r\n"
    );
    assert_eq!(
        e.r("BITFIELD k OVERFLOW SAT INCRBY u2 102 5 OVERFLOW FAIL INCRBY u2 102 1"),
        "*2\r\n:3\r\n$-1\r\n"
    );
    assert_eq!(e.r("BITFIELD k SET i8 #1 -100"), "*1\r\n:0\r\n");
    assert_eq!(
        e.r("BITFIELD k GET i8 #1 GET u8 8"),
        "*2\r\n:-100\r\n:156\r\n"
    );
    assert_eq!(e.r("BITFIELD k OVERFLOW SAT SET u8 0 -1"), "*1\r\n:0\r\n");
    assert_eq!(e.r("BITFIELD k GET u8 0"), "*1\r\n:255\r\n");
    assert_eq!(
        e.r("BITFIELD k OVERFLOW WRAP INCRBY i8 0 1"),
        "*1\r\n:0\r\n"
    );
    assert_eq!(
        e.r("BITFIELD k OVERFLOW SAT INCRBY i64 0 9223372036854775807"),
        "*1\r\n:9223372036854775807\r\n"
    );
    assert_eq!(
        e.r("BITFIELD k GET u64 0"),
        err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
    );
    assert_eq!(
        e.r("BITFIELD k OVERFLOW X"),
        err("ERR Invalid OVERFLOW type specified")
    );
    assert_eq!(e.r("BITFIELD k FOO"), err("ERR syntax error"));
    assert_eq!(
        e.r("BITFIELD_RO k SET u8 0 1"),
        err("ERR BITFIELD_RO only supports the GET subcommand")
    );
    assert_eq!(e.r("BITFIELD_RO k GET u8 0"), "*1\r\n:127\r\n");
    assert_eq!(e.run("BITFIELD k SET u8 0 128").dirty, 1);
    let o = e.run("BITFIELD k SET u8 0 128");
    assert_eq!((o.dirty, o.prop.len()), (0, 0));
    let o = e.run("BITFIELD k SET u8 0 1 SET u8 8 1");
    assert_eq!((o.dirty, o.prop.len()), (2, 1));
    let o = e.run("BITFIELD fresh OVERFLOW FAIL SET u2 0 7");
    assert_eq!((o.reply.as_str(), o.dirty), ("*1\r\n$-1\r\n", 0));
    assert_eq!(e.r("STRLEN fresh"), int(1));
}

#[test]
fn mget_and_resp3() {
    let mut e = Env::new();
    e.r("SET a 1");
    with_list(&mut e, "l");
    assert_eq!(e.r("MGET a l nope"), "*3\r\n$1\r\n1\r\n$-1\r\n$-1\r\n");
    assert_eq!(e.run_proto("GET nope", Protocol::Resp3).reply, "_\r\n");
    e.r("MSET key1 ohmytext key2 mynewtext");
    let r = e
        .run_proto("LCS key1 key2 IDX MINMATCHLEN 5", Protocol::Resp3)
        .reply;
    assert_eq!(r, "%2\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:6\r\n");
    assert_eq!(
        e.r("MSET a"),
        err("ERR wrong number of arguments for 'mset' command")
    );
}

#[test]
fn hits_misses_and_watch_signals() {
    let mut e = Env::new();
    e.ks.config_mut().track_modified = true;
    e.r("SET a 1");
    e.r("MGET a b c");
    assert_eq!((e.stats.keyspace_hits, e.stats.keyspace_misses), (1, 2));
    e.r("INCR a");
    e.r("SETNX a 2");
    e.r("SET a 3 NX");
    assert_eq!((e.stats.keyspace_hits, e.stats.keyspace_misses), (1, 2));
    e.r("LCS a b");
    e.r("BITCOUNT b");
    e.r("BITFIELD b GET u8 0");
    e.r("BITFIELD b SET u8 0 1");
    assert_eq!((e.stats.keyspace_hits, e.stats.keyspace_misses), (2, 5));
    let modified = |e: &mut Env| -> Vec<String> {
        e.ks.drain_events()
            .into_iter()
            .filter_map(|ev| match ev {
                tandem_keyspace::Event::Modified { key, .. } => {
                    Some(String::from_utf8_lossy(&key).into_owned())
                }
                _ => None,
            })
            .collect()
    };
    modified(&mut e);
    e.r("SET a 3 NX");
    e.r("SETBIT b 6 1");
    e.r("SETBIT b 6 1");
    e.r("GETEX a");
    e.r("GETEX a PERSIST");
    e.r("BITOP OR none x y");
    assert_eq!(modified(&mut e), ["b"]);
    e.r("MSET x 1 y 2");
    e.r("GETDEL x");
    e.r("GETEX y EX 10");
    assert_eq!(modified(&mut e), ["x", "y", "x", "y"]);
}

#[test]
fn master_stream_ignores_size_limit() {
    let mut e = Env::new();
    e.settings.proto_max_bulk_len = 1024 * 1024;
    assert_eq!(
        e.r("SETRANGE k 1048576 x"),
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_eq!(
        e.r("SETBIT k 8388608 1"),
        err("ERR bit offset is not an integer or out of range")
    );
    e.settings.replica_mode = true;
    assert_eq!(e.r("SETRANGE k 1048576 x"), int(1048577));
    assert_eq!(e.r("SETBIT k 8388608 1"), int(0));
}
