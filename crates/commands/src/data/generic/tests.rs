//! Unit tests of the generic and expiry commands: replies, counters, and above all the
//! propagated forms (`ctx.prop.resolve(args, ctx.dirty > 0)`).
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use tandem_keyspace::{Expiry, StrValue, Value};

use super::keys::parse_cursor;
use super::{handler, parse_i64, GenericError};
use crate::data::test_env::{Env, NOW};

/// Values set directly in the keyspace, as the tests' starting points.
impl Env {
    fn set_str(&mut self, db: usize, key: &str, val: &str) {
        let v = Value::String(StrValue::Bytes {
            data: Bytes::copy_from_slice(val.as_bytes()),
            embstr: true,
        });
        self.ks
            .set(db, Bytes::copy_from_slice(key.as_bytes()), v, Expiry::Clear);
    }

    fn set_int(&mut self, key: &str, n: i64) {
        let v = Value::String(StrValue::Int(n));
        self.ks
            .set(0, Bytes::copy_from_slice(key.as_bytes()), v, Expiry::Clear);
    }
}

fn cmd(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

#[test]
fn parses_integers_like_string2ll() {
    assert_eq!(parse_i64(b"0"), Some(0));
    assert_eq!(parse_i64(b"-12"), Some(-12));
    assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"-",
        b"-0",
        b"007",
        b"+1",
        b" 1",
        b"1 ",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"1a",
    ] {
        assert_eq!(parse_i64(bad), None, "{bad:?}");
    }
}

#[test]
fn parses_cursors_like_strtoul() {
    assert_eq!(parse_cursor(b"0"), Some(0));
    assert_eq!(parse_cursor(b""), Some(0));
    assert_eq!(parse_cursor(b"+7"), Some(7));
    assert_eq!(parse_cursor(b"007"), Some(7));
    assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
    assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_cursor(b"3\x00junk"), Some(3));
    for bad in [
        &b"18446744073709551616"[..],
        b" 1",
        b"\t1",
        b"1 ",
        b"abc",
        b"-",
        b"0x10",
    ] {
        assert_eq!(parse_cursor(bad), None, "{bad:?}");
    }
}

#[test]
fn error_texts() {
    assert_eq!(
        GenericError::UnsupportedOption(b"f\xffo".to_vec()).reply_text(),
        b"ERR Unsupported option f\xffo".to_vec()
    );
    assert_eq!(
        GenericError::InvalidExpireTime("pexpireat").to_string(),
        "ERR invalid expire time in 'pexpireat' command"
    );
    assert!(GenericError::LfuNotSelected
        .to_string()
        .ends_with("LRU and LFU data will take some time to adjust."));
}

#[test]
fn every_name_has_a_handler() {
    for name in [
        "del",
        "unlink",
        "exists",
        "type",
        "keys",
        "scan",
        "randomkey",
        "rename",
        "renamenx",
        "copy",
        "move",
        "swapdb",
        "touch",
        "dbsize",
        "flushdb",
        "flushall",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "ttl",
        "pttl",
        "expiretime",
        "pexpiretime",
        "persist",
        "object|encoding",
        "object|refcount",
        "object|idletime",
        "object|freq",
        "object|help",
    ] {
        assert!(handler(name).is_some(), "{name}");
    }
    assert!(handler("get").is_none());
    assert!(handler("object").is_none());
}

#[test]
fn relative_expires_propagate_as_pexpireat() {
    let mut h = Env::new();
    h.set_str(0, "k", "v");
    let o = h.run("EXPIRE k 100");
    assert_eq!(o.reply, ":1\r\n");
    assert_eq!(o.dirty, 1);
    let at = (NOW + 100_000).to_string();
    assert_eq!(o.prop, vec![cmd(&["PEXPIREAT", "k", &at])]);
    assert_eq!(h.ks.expire_at(0, b"k"), Some(NOW + 100_000));

    let o = h.run("pexpire k 5000 LT");
    let at = (NOW + 5000).to_string();
    assert_eq!(o.prop, vec![cmd(&["PEXPIREAT", "k", &at, "LT"])]);

    let o = h.run("expireat k 2000000000 gt");
    assert_eq!(
        o.prop,
        vec![cmd(&["PEXPIREAT", "k", "2000000000000", "gt"])]
    );

    // PEXPIREAT keeps its name and time as typed.
    let o = h.run("pexpireat k 2000000000001");
    assert_eq!(o.prop, vec![cmd(&["pexpireat", "k", "2000000000001"])]);
}

#[test]
fn past_expires_delete_and_propagate_del_or_unlink() {
    let mut h = Env::new();
    h.set_str(0, "k", "v");
    let o = h.run("EXPIRE k -1");
    assert_eq!(o.reply, ":1\r\n");
    assert_eq!(o.prop, vec![cmd(&["DEL", "k"])]);
    assert!(!h.ks.exists(0, b"k", NOW));

    h.settings.lazyfree_lazy_expire = true;
    h.set_str(0, "k", "v");
    let o = h.run(&format!("PEXPIREAT k {NOW} NX"));
    assert_eq!(o.prop, vec![cmd(&["UNLINK", "k"])]);
    assert_eq!(o.dirty, 1);

    // A replica keeps the key with a TTL in the past and waits for the master's DEL.
    h.settings.replica_mode = true;
    h.set_str(0, "k", "v");
    let o = h.run("EXPIREAT k 1");
    assert_eq!(o.reply, ":1\r\n");
    assert_eq!(o.prop, vec![cmd(&["PEXPIREAT", "k", "1000"])]);
    assert_eq!(h.ks.expire_at(0, b"k"), Some(1000));
}

#[test]
fn expire_conditions_and_errors() {
    let mut h = Env::new();
    h.set_str(0, "k", "v");
    for (line, reply) in [
        ("EXPIRE k 10 XX", ":0\r\n"),
        ("EXPIRE k 10 GT", ":0\r\n"),
        ("EXPIRE k 10 LT", ":1\r\n"),
        ("EXPIRE k 20 NX", ":0\r\n"),
        ("EXPIRE k 5 GT", ":0\r\n"),
        ("EXPIRE k 20 GT", ":1\r\n"),
        ("EXPIRE k 30 LT", ":0\r\n"),
        ("EXPIRE k 30 XX", ":1\r\n"),
        ("EXPIRE nokey 30", ":0\r\n"),
        (
            "EXPIRE k 10 NX XX",
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
        ),
        (
            "EXPIRE k 10 GT LT",
            "-ERR GT and LT options at the same time are not compatible\r\n",
        ),
        ("EXPIRE k abc foo", "-ERR Unsupported option foo\r\n"),
        (
            "EXPIRE k abc",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "EXPIRE k 9223372036854776",
            "-ERR invalid expire time in 'expire' command\r\n",
        ),
        (
            "EXPIREAT k -9223372036854776",
            "-ERR invalid expire time in 'expireat' command\r\n",
        ),
        (
            "PEXPIRE k 9223372036854775807",
            "-ERR invalid expire time in 'pexpire' command\r\n",
        ),
    ] {
        let o = h.run(line);
        assert_eq!(o.reply, reply, "{line}");
        if !reply.starts_with(":1") {
            assert!(o.prop.is_empty(), "{line}");
            assert_eq!(o.dirty, 0, "{line}");
        }
    }
}

#[test]
fn ttl_family_and_persist() {
    let mut h = Env::new();
    h.set_str(0, "k", "v");
    assert_eq!(h.run("TTL nokey").reply, ":-2\r\n");
    assert_eq!(h.run("PTTL k").reply, ":-1\r\n");
    assert_eq!(h.run("EXPIRETIME k").reply, ":-1\r\n");
    h.run("PEXPIRE k 1499");
    assert_eq!(h.run("TTL k").reply, ":1\r\n");
    assert_eq!(h.run("PTTL k").reply, ":1499\r\n");
    h.run("PEXPIRE k 1500");
    assert_eq!(h.run("TTL k").reply, ":2\r\n");
    assert_eq!(h.run("PEXPIRETIME k").reply, format!(":{}\r\n", NOW + 1500));
    h.run("PEXPIREAT k 9223372036854775807");
    assert_eq!(h.run("EXPIRETIME k").reply, ":9223372036854776\r\n");
    let o = h.run("PERSIST k");
    assert_eq!((o.reply.as_str(), o.dirty), (":1\r\n", 1));
    assert_eq!(o.prop, vec![cmd(&["PERSIST", "k"])]);
    let o = h.run("PERSIST k");
    assert_eq!((o.reply.as_str(), o.dirty), (":0\r\n", 0));
    assert!(o.prop.is_empty());
    // Four TTL-family lookups of k and one of nokey so far, among others.
    assert!(h.stats.keyspace_misses >= 1);
}

#[test]
fn del_unlink_exists_touch_and_stats() {
    let mut h = Env::new();
    h.set_str(0, "a", "1");
    h.set_str(0, "b", "2");
    let o = h.run("EXISTS a b nokey a");
    assert_eq!(o.reply, ":3\r\n");
    assert_eq!((h.stats.keyspace_hits, h.stats.keyspace_misses), (3, 1));
    assert!(o.prop.is_empty());
    assert_eq!(h.run("TOUCH a nokey").reply, ":1\r\n");
    assert_eq!((h.stats.keyspace_hits, h.stats.keyspace_misses), (4, 2));
    let o = h.run("DEL a nokey");
    assert_eq!((o.reply.as_str(), o.dirty), (":1\r\n", 1));
    assert_eq!(o.prop, vec![cmd(&["DEL", "a", "nokey"])]);
    let o = h.run("UNLINK b");
    assert_eq!(o.prop, vec![cmd(&["UNLINK", "b"])]);
    let o = h.run("DEL b");
    assert_eq!((o.reply.as_str(), o.dirty), (":0\r\n", 0));
    assert!(o.prop.is_empty());
    // Write lookups count nothing.
    assert_eq!((h.stats.keyspace_hits, h.stats.keyspace_misses), (4, 2));
}

#[test]
fn type_dbsize_randomkey_keys_scan() {
    let mut h = Env::new();
    assert_eq!(h.run("RANDOMKEY").reply, "$-1\r\n");
    assert_eq!(h.run("SCAN 0").reply, "*2\r\n$1\r\n0\r\n*0\r\n");
    h.set_str(0, "key", "v");
    assert_eq!(h.run("TYPE key").reply, "+string\r\n");
    assert_eq!(h.run("TYPE nokey").reply, "+none\r\n");
    assert_eq!(h.run("DBSIZE").reply, ":1\r\n");
    assert_eq!(h.run("RANDOMKEY").reply, "$3\r\nkey\r\n");
    assert_eq!(h.run("KEYS k*").reply, "*1\r\n$3\r\nkey\r\n");
    assert_eq!(h.run("KEYS x*").reply, "*0\r\n");
    let one = "*2\r\n$1\r\n0\r\n*1\r\n$3\r\nkey\r\n";
    let none = "*2\r\n$1\r\n0\r\n*0\r\n";
    assert_eq!(h.run("SCAN 0 COUNT 100").reply, one);
    assert_eq!(h.run("SCAN 0 MATCH k?y type STRING").reply, one);
    assert_eq!(h.run("SCAN 0 MATCH x*").reply, none);
    assert_eq!(h.run("SCAN 0 TYPE list").reply, none);
    for (line, err) in [
        ("SCAN x", "-ERR invalid cursor\r\n"),
        ("SCAN 0 COUNT 0", "-ERR syntax error\r\n"),
        (
            "SCAN 0 COUNT x",
            "-ERR value is not an integer or out of range\r\n",
        ),
        ("SCAN 0 COUNT", "-ERR syntax error\r\n"),
        ("SCAN 0 FOO bar", "-ERR syntax error\r\n"),
    ] {
        assert_eq!(h.run(line).reply, err, "{line}");
    }
}

#[test]
fn rename_move_copy() {
    let mut h = Env::new();
    assert_eq!(h.run("RENAME a b").reply, "-ERR no such key\r\n");
    assert_eq!(h.run("RENAMENX a b").reply, "-ERR no such key\r\n");
    h.set_str(0, "a", "v");
    h.run("EXPIRE a 100");
    let o = h.run("RENAME a a");
    assert_eq!((o.reply.as_str(), o.dirty), ("+OK\r\n", 0));
    assert_eq!(h.run("RENAMENX a a").reply, ":0\r\n");
    let o = h.run("RENAME a b");
    assert_eq!((o.reply.as_str(), o.dirty), ("+OK\r\n", 1));
    assert_eq!(o.prop, vec![cmd(&["RENAME", "a", "b"])]);
    assert_eq!(h.ks.expire_at(0, b"b"), Some(NOW + 100_000));
    h.set_str(0, "c", "w");
    assert_eq!(h.run("RENAMENX b c").reply, ":0\r\n");
    assert_eq!(h.run("RENAMENX b d").reply, ":1\r\n");

    assert_eq!(
        h.run("MOVE d 0").reply,
        "-ERR source and destination objects are the same\r\n"
    );
    assert_eq!(
        h.run("MOVE d 16").reply,
        "-ERR DB index is out of range\r\n"
    );
    assert_eq!(
        h.run("MOVE d x").reply,
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        h.run("MOVE d 4294967296").reply,
        "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"
    );
    let o = h.run("MOVE d 1");
    assert_eq!((o.reply.as_str(), o.dirty), (":1\r\n", 1));
    assert_eq!(o.prop, vec![cmd(&["MOVE", "d", "1"])]);
    assert_eq!(h.ks.expire_at(1, b"d"), Some(NOW + 100_000));
    assert_eq!(h.run("MOVE d 1").reply, ":0\r\n");

    assert_eq!(
        h.run("COPY c c").reply,
        "-ERR source and destination objects are the same\r\n"
    );
    assert_eq!(
        h.run("COPY c x DB 16").reply,
        "-ERR DB index is out of range\r\n"
    );
    assert_eq!(h.run("COPY c x FOO").reply, "-ERR syntax error\r\n");
    assert_eq!(h.run("COPY c x DB").reply, "-ERR syntax error\r\n");
    let o = h.run("COPY c d DB 1");
    assert_eq!((o.reply.as_str(), o.dirty), (":0\r\n", 0));
    let o = h.run("COPY c d db 1 replace");
    assert_eq!((o.reply.as_str(), o.dirty), (":1\r\n", 1));
    assert_eq!(o.prop, vec![cmd(&["COPY", "c", "d", "db", "1", "replace"])]);
    assert_eq!(h.ks.expire_at(1, b"d"), None);
    assert_eq!(h.run("COPY nokey x").reply, ":0\r\n");
}

#[test]
fn swapdb_and_flushes() {
    let mut h = Env::new();
    h.set_str(0, "a", "v");
    for (line, err) in [
        ("SWAPDB x 1", "-ERR invalid first DB index\r\n"),
        ("SWAPDB 0 x", "-ERR invalid second DB index\r\n"),
        ("SWAPDB 0 4294967296", "-ERR invalid second DB index\r\n"),
        ("SWAPDB 0 16", "-ERR DB index is out of range\r\n"),
        ("SWAPDB -1 0", "-ERR DB index is out of range\r\n"),
    ] {
        assert_eq!(h.run(line).reply, err, "{line}");
    }
    let o = h.run("SWAPDB 0 3");
    assert_eq!((o.reply.as_str(), o.dirty), ("+OK\r\n", 1));
    assert_eq!(o.prop, vec![cmd(&["SWAPDB", "0", "3"])]);
    assert!(h.ks.exists(3, b"a", NOW));

    assert_eq!(h.run("FLUSHDB foo").reply, "-ERR syntax error\r\n");
    assert_eq!(h.run("FLUSHALL sync extra").reply, "-ERR syntax error\r\n");
    // Propagated even when nothing was removed.
    let o = h.run("FLUSHDB");
    assert_eq!((o.reply.as_str(), o.dirty), ("+OK\r\n", 0));
    assert_eq!(o.prop, vec![cmd(&["FLUSHDB"])]);
    h.set_str(5, "b", "v");
    let o = h.run("FLUSHALL ASYNC");
    assert_eq!((o.reply.as_str(), o.dirty), ("+OK\r\n", 2));
    assert_eq!(o.prop, vec![cmd(&["FLUSHALL", "ASYNC"])]);
    assert_eq!(h.ks.dbsize(3) + h.ks.dbsize(5), 0);
}

#[test]
fn object_subcommands() {
    let mut h = Env::new();
    h.set_int("small", 12);
    h.set_int("big", 12345);
    h.set_str(0, "s", "hello");
    assert_eq!(h.run("OBJECT ENCODING small").reply, "$3\r\nint\r\n");
    assert_eq!(h.run("OBJECT ENCODING s").reply, "$6\r\nembstr\r\n");
    assert_eq!(h.run("OBJECT REFCOUNT small").reply, ":2147483647\r\n");
    assert_eq!(h.run("OBJECT REFCOUNT big").reply, ":1\r\n");
    assert_eq!(h.run("OBJECT IDLETIME s").reply, ":0\r\n");
    assert_eq!(h.run("OBJECT ENCODING nokey").reply, "$-1\r\n");
    assert_eq!(h.run("OBJECT FREQ nokey").reply, "$-1\r\n");
    assert!(h
        .run("OBJECT FREQ s")
        .reply
        .starts_with("-ERR An LFU maxmemory policy is not selected"));
    let help = h.run("object help").reply;
    assert!(help.starts_with(
        "*15\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"
    ));
    assert!(help.ends_with("+HELP\r\n+    Prints this help.\r\n"));
}
