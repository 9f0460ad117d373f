//! Unit tests of the hash commands against a real keyspace: replies, dirty counts, hits and
//! misses, encodings and propagated forms.
#![allow(clippy::unwrap_used)]

use tandem_keyspace::Value;
use tandem_resp::Protocol;

use crate::data::test_env::{Env, NOW};

#[test]
fn set_get_and_dirty() {
    let mut e = Env::new();
    let o = e.run("HSET h a 1 b 2 a 3");
    assert_eq!(o.reply, ":2\r\n");
    assert_eq!(o.dirty, 3);
    assert_eq!(
        o.prop,
        vec![vec!["HSET", "h", "a", "1", "b", "2", "a", "3"]]
    );
    assert_eq!(e.r("HGET h a"), "$1\r\n3\r\n");
    assert_eq!(
        e.r("HGETALL h"),
        "*4\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        e.r("HSET h a"),
        "-ERR wrong number of arguments for 'hset' command\r\n"
    );
    assert_eq!(
        e.r("HMSET h a 1 b"),
        "-ERR wrong number of arguments for 'hmset' command\r\n"
    );
    let o = e.run("HSETNX h a 9");
    assert_eq!((o.reply.as_str(), o.dirty), (":0\r\n", 0));
    assert!(o.prop.is_empty());
    assert_eq!(e.stats.keyspace_hits, 2);
    e.r("HGET nokey a");
    assert_eq!(e.stats.keyspace_misses, 1);
}

#[test]
fn hdel_removes_the_key_with_its_last_field() {
    let mut e = Env::new();
    e.run("HSET h a 1 b 2");
    let o = e.run("HDEL h a x b a");
    assert_eq!((o.reply.as_str(), o.dirty), (":2\r\n", 2));
    assert!(e.ks.peek(0, b"h", NOW).is_none());
    let o = e.run("HDEL h a");
    assert_eq!((o.reply.as_str(), o.dirty), (":0\r\n", 0));
}

#[test]
fn increments() {
    let mut e = Env::new();
    assert_eq!(e.r("HINCRBY h n 5"), ":5\r\n");
    assert_eq!(e.r("HINCRBY h n -7"), ":-2\r\n");
    e.run("HSET h big 9223372036854775807 s x");
    assert_eq!(
        e.r("HINCRBY h big 1"),
        "-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(
        e.r("HINCRBY h s 1"),
        "-ERR hash value is not an integer\r\n"
    );
    assert_eq!(
        e.r("HINCRBYFLOAT h s 1"),
        "-ERR hash value is not a float\r\n"
    );
    assert_eq!(
        e.r("HINCRBYFLOAT h s inf"),
        "-ERR value is NaN or Infinity\r\n"
    );
    let o = e.run("HINCRBYFLOAT h f 10.5");
    assert_eq!(o.reply, "$4\r\n10.5\r\n");
    assert_eq!(o.prop, vec![vec!["HSET", "h", "f", "10.5"]]);
    assert_eq!(e.r("HINCRBYFLOAT h f 0.1"), "$4\r\n10.6\r\n");
}

#[test]
fn encoding_switches_at_the_limits() {
    let mut e = Env::new();
    e.settings.limits.hash_max_listpack_entries = 2;
    e.settings.limits.hash_max_listpack_value = 3;
    e.run("HSET h a 1 b 2");
    assert_eq!(e.encoding("h"), "listpack");
    e.run("HSET h c 3");
    assert_eq!(e.encoding("h"), "hashtable");
    e.run("HSET g a 1234");
    assert_eq!(e.encoding("g"), "hashtable");
    e.run("HSET k a 1");
    e.run("HINCRBY k a 1000");
    assert_eq!(e.encoding("k"), "hashtable");
}

#[test]
fn hrandfield_shapes() {
    let mut e = Env::new();
    e.run("HSET h a 1 b 2 c 3");
    assert!(e.r("HRANDFIELD h").starts_with("$1\r\n"));
    assert!(e.r("HRANDFIELD h -5").starts_with("*5\r\n"));
    assert!(e.r("HRANDFIELD h -5 WITHVALUES").starts_with("*10\r\n"));
    assert!(e
        .run_proto("HRANDFIELD h -5 WITHVALUES", Protocol::Resp3)
        .reply
        .starts_with("*5\r\n*2\r\n"));
    assert_eq!(
        e.r("HRANDFIELD h 10"),
        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    let two = e.r("HRANDFIELD h 2");
    assert!(two.starts_with("*2\r\n"));
    assert_eq!(e.r("HRANDFIELD h 0"), "*0\r\n");
    assert_eq!(e.r("HRANDFIELD nokey 3"), "*0\r\n");
    assert_eq!(e.r("HRANDFIELD nokey"), "$-1\r\n");
    assert_eq!(e.r("HRANDFIELD h 1 x"), "-ERR syntax error\r\n");
    assert_eq!(
        e.r("HRANDFIELD h 4611686018427387904 WITHVALUES"),
        "-ERR value is out of range\r\n"
    );
    // Distinct picks from a table are distinct.
    // Above hash-max-listpack-entries (512 in 7.0.15).
    for i in 0..600 {
        e.run(&format!("HSET t f{i} v"));
    }
    assert_eq!(e.encoding("t"), "hashtable");
    let r = e.r("HRANDFIELD t 250");
    let mut fields: Vec<&str> = r.split("\r\n").filter(|l| l.starts_with('f')).collect();
    fields.sort_unstable();
    fields.dedup();
    assert_eq!(fields.len(), 250);
}

#[test]
fn scan_of_a_listpack_and_a_table() {
    let mut e = Env::new();
    e.run("HSET h a 1 b 2");
    assert_eq!(
        e.r("HSCAN h 123 MATCH a*"),
        "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    assert_eq!(e.r("HSCAN nokey 0 COUNT 0"), "*2\r\n$1\r\n0\r\n*0\r\n");
    assert_eq!(e.r("HSCAN h 0 COUNT 0"), "-ERR syntax error\r\n");
    assert_eq!(e.r("HSCAN h x"), "-ERR invalid cursor\r\n");
    for i in 0..1000 {
        e.run(&format!("HSET t f{i} v"));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let r = e.r(&format!("HSCAN t {cursor} COUNT 20"));
        let lines: Vec<&str> = r.split("\r\n").collect();
        cursor = lines[2].to_string();
        seen.extend(
            lines
                .iter()
                .filter(|l| l.starts_with('f'))
                .map(|s| s.to_string()),
        );
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 1000);
    assert!(matches!(e.ks.peek(0, b"t", NOW), Some(Value::Hash(_))));
}
