//! Unit tests of the list commands against a real keyspace: replies, dirty counts, the
//! propagated forms, and the blocking commands' three outcomes (served, timeout reply,
//! block request).
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use tandem_resp::Protocol;

use crate::data::test_env::{Env, NOW};
use crate::data::{BlockOn, TimeoutReply};

fn bulk(s: &str) -> String {
    format!("${}\r\n{}\r\n", s.len(), s)
}

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

fn err(s: &str) -> String {
    format!("-{s}\r\n")
}

fn arr(items: &[&str]) -> String {
    let mut s = format!("*{}\r\n", items.len());
    for i in items {
        s.push_str(&bulk(i));
    }
    s
}

const NIL: &str = "$-1\r\n";
const NIL_ARRAY: &str = "*-1\r\n";
const OK: &str = "+OK\r\n";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn push_range_index() {
    let mut e = Env::new();
    let o = e.run("RPUSH l a b c");
    assert_eq!((o.reply, o.dirty), (int(3), 3));
    assert_eq!(e.r("LPUSH l z"), int(4));
    assert_eq!(e.r("LRANGE l 0 -1"), arr(&["z", "a", "b", "c"]));
    assert_eq!(e.r("LRANGE l -2 100"), arr(&["b", "c"]));
    assert_eq!(e.r("LRANGE l 3 1"), arr(&[]));
    assert_eq!(e.r("LRANGE nope 0 -1"), arr(&[]));
    assert_eq!(
        e.r("LRANGE l x 1"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(e.r("LINDEX l -1"), bulk("c"));
    assert_eq!(e.r("LINDEX l 4"), NIL);
    assert_eq!(e.r("LINDEX nope x"), NIL);
    assert_eq!(e.r("LPUSHX nope a"), int(0));
    assert_eq!(e.run("LPUSHX nope a").dirty, 0);
    assert_eq!(e.r("RPUSHX l d"), int(5));
    assert_eq!(e.r("LLEN l"), int(5));
    assert_eq!(e.r("LLEN nope"), int(0));
    e.r("SET s v");
    assert_eq!(e.r("LPUSH s a"), err(WRONGTYPE));
    assert_eq!(e.r("LINDEX s x"), err(WRONGTYPE));
    assert_eq!(
        e.r("LRANGE s x 1"),
        err("ERR value is not an integer or out of range")
    );
}

#[test]
fn pops_and_counts() {
    let mut e = Env::new();
    e.r("RPUSH l a b c d");
    assert_eq!(e.r("LPOP l"), bulk("a"));
    assert_eq!(e.r("RPOP l 2"), arr(&["d", "c"]));
    assert_eq!(e.r("LPOP l 0"), arr(&[]));
    assert_eq!(e.r("LPOP nope 0"), NIL_ARRAY);
    assert_eq!(e.r("LPOP nope"), NIL);
    assert_eq!(
        e.r("LPOP l -1"),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        e.r("LPOP l 1 2"),
        err("ERR wrong number of arguments for 'lpop' command")
    );
    let o = e.run("LPOP l 5");
    assert_eq!((o.reply.as_str(), o.dirty), (arr(&["b"]).as_str(), 1));
    assert_eq!(o.lines(), vec!["LPOP l 5"]);
    assert!(!e.ks.exists(0, b"l", NOW));
    assert_eq!(e.run_proto("LPOP nope 1", Protocol::Resp3).reply, "_\r\n");
}

#[test]
fn lmpop_rewrites() {
    let mut e = Env::new();
    e.r("RPUSH b 1 2 3");
    let o = e.run("LMPOP 2 a b RIGHT COUNT 5");
    assert_eq!(
        o.reply,
        format!("*2\r\n{}{}", bulk("b"), arr(&["3", "2", "1"]))
    );
    assert_eq!(o.lines(), vec!["RPOP b 3"]);
    assert_eq!(o.dirty, 3);
    assert_eq!(e.r("LMPOP 1 a LEFT"), NIL_ARRAY);
    assert_eq!(
        e.r("LMPOP 0 a LEFT"),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(e.r("LMPOP 3 a LEFT"), err("ERR syntax error"));
    assert_eq!(e.r("LMPOP 1 a UP"), err("ERR syntax error"));
    assert_eq!(
        e.r("LMPOP 1 a LEFT COUNT 0"),
        err("ERR count should be greater than 0")
    );
    assert_eq!(
        e.r("LMPOP 1 a LEFT COUNT 1 COUNT 1"),
        err("ERR syntax error")
    );
    assert_eq!(
        e.r("LMPOP 9223372036854775807 a LEFT"),
        err("ERR syntax error")
    );
    e.r("RPUSH c x y");
    assert_eq!(e.prop("LMPOP 1 c LEFT"), vec!["LPOP c 1"]);
}

#[test]
fn blocking_pops() {
    let mut e = Env::new();
    e.r("RPUSH b x y");
    let o = e.run("BLPOP a b 0");
    assert_eq!(o.reply, arr(&["b", "x"]));
    assert_eq!(o.lines(), vec!["LPOP b"]);
    assert_eq!(e.prop("BLMPOP 0 1 b RIGHT COUNT 9"), vec!["RPOP b 1"]);
    assert_eq!(e.r("BRPOP a b 0"), NIL_ARRAY);
    assert_eq!(e.r("BRPOP a -1"), err("ERR timeout is negative"));
    assert_eq!(
        e.r("BLMPOP x 0 a LEFT"),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(
        e.r("BLMPOP x 1 a LEFT"),
        err("ERR timeout is not a float or out of range")
    );
    e.may_block = true;
    let o = e.run("BLPOP a b 1.5");
    assert_eq!(o.reply, "");
    assert_eq!(
        o.block,
        Some(BlockOn {
            keys: vec![Bytes::from("a"), Bytes::from("b")],
            deadline: Some(NOW + 1500),
            on_timeout: TimeoutReply::NullArray,
            retry_args: None,
        })
    );
    // A re-run after a push serves.
    e.r("LPUSH b z");
    let o = e.run("BLPOP a b 1.5");
    assert_eq!((o.reply, o.block), (arr(&["b", "z"]), None));
}

#[test]
fn moves() {
    let mut e = Env::new();
    e.r("RPUSH s a b c");
    let o = e.run("LMOVE s d LEFT RIGHT");
    assert_eq!((o.reply.as_str(), o.dirty), (bulk("a").as_str(), 1));
    assert_eq!(o.lines(), vec!["LMOVE s d LEFT RIGHT"]);
    assert_eq!(e.r("RPOPLPUSH s s"), bulk("c"));
    assert_eq!(e.r("LRANGE s 0 -1"), arr(&["c", "b"]));
    assert_eq!(e.r("LMOVE nope d LEFT LEFT"), NIL);
    assert_eq!(e.r("LMOVE s d UP LEFT"), err("ERR syntax error"));
    e.r("SET str v");
    assert_eq!(e.r("LMOVE s str LEFT LEFT"), err(WRONGTYPE));
    assert_eq!(e.r("LMOVE nope str LEFT LEFT"), NIL);
    assert_eq!(e.r("LRANGE s 0 -1"), arr(&["c", "b"]));
    assert_eq!(
        e.prop("BLMOVE s d Left rIGHT 0"),
        vec!["LMOVE s d Left rIGHT"]
    );
    assert_eq!(e.prop("BRPOPLPUSH s d 0"), vec!["RPOPLPUSH s d"]);
    assert!(!e.ks.exists(0, b"s", NOW));
    assert_eq!(e.r("LRANGE d 0 -1"), arr(&["b", "a", "c"]));
    assert_eq!(e.r("BRPOPLPUSH s d 0"), NIL);
    e.may_block = true;
    let o = e.run("BLMOVE s d RIGHT LEFT 0");
    let block = o.block.unwrap();
    assert_eq!(block.on_timeout, TimeoutReply::NullBulk);
    let retry: Vec<&[u8]> = block
        .retry_args
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| &a[..])
        .collect();
    assert_eq!(
        retry,
        vec![&b"BLMOVE"[..], b"s", b"d", b"right", b"left", b"0"]
    );
}

#[test]
fn edits() {
    let mut e = Env::new();
    e.r("RPUSH l a b a c a");
    assert_eq!(e.r("LINSERT l BEFORE c x"), int(6));
    assert_eq!(e.r("LINSERT l AFTER nope x"), int(-1));
    assert_eq!(e.r("LINSERT nope AFTER a x"), int(0));
    assert_eq!(e.r("LINSERT l MIDDLE a x"), err("ERR syntax error"));
    assert_eq!(e.r("LSET l -1 z"), OK);
    assert_eq!(e.r("LSET l 99 z"), err("ERR index out of range"));
    assert_eq!(e.r("LSET nope x z"), err("ERR no such key"));
    assert_eq!(e.r("LRANGE l 0 -1"), arr(&["a", "b", "a", "x", "c", "z"]));
    let o = e.run("LREM l -1 a");
    assert_eq!((o.reply, o.dirty), (int(1), 1));
    assert_eq!(e.r("LRANGE l 0 -1"), arr(&["a", "b", "x", "c", "z"]));
    e.r("RPUSH m a b a c a");
    assert_eq!(e.r("LREM m 2 a"), int(2));
    assert_eq!(e.r("LRANGE m 0 -1"), arr(&["b", "c", "a"]));
    e.r("RPUSH n a b a c a");
    assert_eq!(e.r("LREM n -9223372036854775808 a"), int(3));
    assert_eq!(e.r("LREM n 0 nope"), int(0));
    let o = e.run("LTRIM l 1 -2");
    assert_eq!((o.reply, o.dirty), (OK.to_string(), 2));
    assert_eq!(e.r("LRANGE l 0 -1"), arr(&["b", "x", "c"]));
    let o = e.run("LTRIM l 0 -1");
    assert_eq!((o.dirty, o.prop.len()), (0, 0));
    assert_eq!(e.r("LTRIM l 5 1"), OK);
    assert!(!e.ks.exists(0, b"l", NOW));
}

#[test]
fn lpos_options() {
    let mut e = Env::new();
    e.r("RPUSH l a b a c a");
    assert_eq!(e.r("LPOS l a"), int(0));
    assert_eq!(e.r("LPOS l a RANK 2"), int(2));
    assert_eq!(e.r("LPOS l a RANK -1"), int(4));
    assert_eq!(e.r("LPOS l a COUNT 0"), "*3\r\n:0\r\n:2\r\n:4\r\n");
    assert_eq!(e.r("LPOS l a RANK -2 COUNT 2"), "*2\r\n:2\r\n:0\r\n");
    assert_eq!(e.r("LPOS l a MAXLEN 1 RANK 2"), NIL);
    assert_eq!(e.r("LPOS l a MAXLEN 3 COUNT 0"), "*2\r\n:0\r\n:2\r\n");
    assert_eq!(
        e.r("LPOS l a RANK -9223372036854775808 COUNT 2"),
        "*3\r\n:4\r\n:2\r\n:0\r\n"
    );
    assert_eq!(e.r("LPOS nope a COUNT 1"), "*0\r\n");
    assert_eq!(e.r("LPOS nope a"), NIL);
    assert_eq!(e.r("LPOS l a COUNT -1"), err("ERR COUNT can't be negative"));
    assert_eq!(
        e.r("LPOS l a MAXLEN x"),
        err("ERR MAXLEN can't be negative")
    );
    assert_eq!(e.r("LPOS l a RANK"), err("ERR syntax error"));
    assert!(e
        .r("LPOS l a RANK 0")
        .starts_with("-ERR RANK can't be zero"));
}
