//! Small helpers the integration tests share to drive a server and wait for it: send a
//! command, read an INFO field, poll a condition with a bound, compare DEBUG DIGESTs and
//! stream consumer groups, and the write load the replication tests send to a master
//! (every data type, in each of its encodings).

use std::time::{Duration, Instant};

use crate::{Frame, Reply, RespConn};

/// How long [`wait_until`] polls before it fails the test.
pub const POLL_LIMIT: Duration = Duration::from_secs(60);

/// Sends a command and returns its reply; panics on an I/O error.
#[allow(clippy::unwrap_used)]
pub fn cmds(conn: &mut RespConn, args: &[&str]) -> Frame {
    conn.command(args).unwrap()
}

/// A reply as text (or its debug form when it is not a string).
pub fn text(f: &Frame) -> String {
    f.as_string().unwrap_or_else(|| format!("{f:?}"))
}

/// Sends a command that must not fail.
pub fn ok(conn: &mut RespConn, args: &[&str]) {
    let r = cmds(conn, args);
    assert!(!r.is_error(), "{args:?} -> {}", text(&r));
}

/// Sends every command of `batch` in one write, then reads all the replies; none may be
/// an error. Returns the replies.
#[allow(clippy::unwrap_used)]
pub fn pipeline(conn: &mut RespConn, batch: &[Vec<String>]) -> Vec<Frame> {
    let mut wire = Vec::new();
    for args in batch {
        wire.extend_from_slice(&crate::resp::encode_command(args));
    }
    conn.send_raw(&wire).unwrap();
    batch
        .iter()
        .map(|args| match conn.read_reply().unwrap() {
            Reply::Frame(f) => {
                assert!(!f.is_error(), "{args:?} -> {}", text(&f));
                f
            }
            Reply::Closed => panic!("connection closed instead of the reply to {args:?}"),
        })
        .collect()
}

/// One field of `INFO <section>`.
pub fn info_field(conn: &mut RespConn, section: &str, name: &str) -> Option<String> {
    let info = text(&cmds(conn, &["INFO", section]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

/// Polls `f` every 20 ms until it is true; panics with `what` after [`POLL_LIMIT`].
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + POLL_LIMIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `DEBUG DIGEST` of the whole dataset.
pub fn digest(conn: &mut RespConn) -> String {
    text(&cmds(conn, &["DEBUG", "DIGEST"]))
}

/// Waits until the replica's link is up and it applied everything the master fed.
pub fn wait_in_sync(m: &mut RespConn, r: &mut RespConn) {
    wait_until("the replica to be in sync", || {
        if info_field(r, "replication", "master_link_status").as_deref() != Some("up") {
            return false;
        }
        let mo = info_field(m, "replication", "master_repl_offset");
        let ro = info_field(r, "replication", "slave_repl_offset");
        mo.is_some() && mo == ro
    });
}

/// Waits for the replica to catch up, then compares DEBUG DIGEST on both, and the
/// consumer groups of every stream (which DEBUG DIGEST leaves out).
/// A key of the write load may expire on the master between the offset check and the
/// digests (its DEL then reaches the replica a moment later), so a difference is retried,
/// bounded, before it fails.
pub fn assert_same_data(m: &mut RespConn, r: &mut RespConn) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        wait_in_sync(m, r);
        let (dm, dr) = (digest(m), digest(r));
        if dm == dr || std::time::Instant::now() >= deadline {
            assert_eq!(dm, dr, "DEBUG DIGEST differs");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        streams_view(m),
        streams_view(r),
        "the streams' consumer groups differ"
    );
}

/// The database a connection has selected (`db=` of CLIENT INFO).
fn selected_db(conn: &mut RespConn) -> String {
    let info = text(&cmds(conn, &["CLIENT", "INFO"]));
    info.split(' ')
        .find_map(|f| f.strip_prefix("db="))
        .unwrap_or("0")
        .to_string()
}

/// Every stream of databases 0..16 with `XINFO STREAM key FULL`, with three fields
/// masked: consumers' `seen-time` (each server sets it from its own clock when it meets
/// the consumer), and groups' `entries-read` and `lag` (redis-server does not propagate
/// them: its own replicas report `entries-read` nil after XREADGROUP). The connection's
/// database is kept.
pub fn streams_view(conn: &mut RespConn) -> Vec<(usize, String, String)> {
    let db = selected_db(conn);
    let mut out = Vec::new();
    for n in 0..16 {
        ok(conn, &["SELECT", &n.to_string()]);
        let mut cursor = "0".to_string();
        let mut keys = Vec::new();
        loop {
            let r = cmds(conn, &["SCAN", &cursor, "TYPE", "stream", "COUNT", "1000"]);
            assert!(!r.is_error(), "SCAN TYPE stream -> {}", text(&r));
            cursor = r.children.first().map(text).unwrap_or_default();
            if let Some(batch) = r.children.get(1) {
                keys.extend(batch.children.iter().map(text));
            }
            if cursor == "0" || cursor.is_empty() {
                break;
            }
        }
        keys.sort();
        for key in keys {
            let mut full = cmds(conn, &["XINFO", "STREAM", &key, "FULL", "COUNT", "0"]);
            assert!(
                !full.is_error(),
                "XINFO STREAM {key} FULL -> {}",
                text(&full)
            );
            mask_fields(&mut full, &[b"seen-time", b"entries-read", b"lag"]);
            out.push((n, key, crate::escape(&full.to_bytes())));
        }
    }
    ok(conn, &["SELECT", &db]);
    out
}

/// Replaces the value after each of `names` (in any map-like array of the tree) by `*`.
fn mask_fields(f: &mut Frame, names: &[&[u8]]) {
    let mut mask_next = false;
    for c in &mut f.children {
        if mask_next {
            *c = Frame::line(b'+', "*");
            mask_next = false;
            continue;
        }
        if c.children.is_empty() {
            mask_next = c.text().is_some_and(|t| names.contains(&t));
        } else {
            mask_fields(c, names);
        }
    }
}

/// Arguments as owned strings, for [`pipeline`].
pub fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// The keys that [`write_load`] gives a 1-second TTL, by database (before its final
/// `SWAPDB 0 9`, which moves database 9's to 0).
pub const SHORT_KEYS: &[&str] = &["short", "short:list", "short:hash", "short:zset"];

/// A mixed write load for a master: FLUSHALL ASYNC first, then every data type in each of
/// its encodings across several databases (see [`container_load`]), then strings,
/// MULTI/EXEC, expiries, deletes, flushes, SWAPDB. After it, `a` is `42x` in database 9.
pub fn write_load(m: &mut RespConn) {
    ok(m, &["FLUSHALL", "ASYNC"]);
    ok(m, &["SELECT", "3"]);
    ok(m, &["MSET", "key:3:1", "a", "key:3:2", "b", "key:3:3", "c"]);
    ok(m, &["SELECT", "9"]);
    ok(m, &["SET", "key:9:7", "x"]);
    container_load(m);
    string_load(m);
}

/// Strings, several databases, MULTI/EXEC, expiries, deletes, FLUSHDB, SWAPDB. Expects
/// the keys `key:3:1..3` and `key:9:7` to exist.
pub fn string_load(m: &mut RespConn) {
    ok(m, &["SELECT", "0"]);
    ok(m, &["SET", "a", "1"]);
    ok(m, &["INCR", "a"]);
    ok(m, &["INCRBY", "a", "40"]);
    ok(m, &["APPEND", "a", "x"]);
    ok(m, &["SELECT", "5"]);
    ok(m, &["SET", "b", "2", "PX", "100000"]);
    ok(m, &["EXPIRE", "b", "500"]);
    ok(m, &["INCRBYFLOAT", "f", "1.5"]);
    ok(m, &["MULTI"]);
    ok(m, &["SET", "t1", "x"]);
    ok(m, &["SELECT", "6"]);
    ok(m, &["SET", "t2", "y"]);
    ok(m, &["DEL", "nosuch"]);
    let r = cmds(m, &["EXEC"]);
    assert!(!r.is_error(), "{}", text(&r));
    ok(m, &["SELECT", "3"]);
    ok(m, &["DEL", "key:3:1", "key:3:2"]);
    ok(m, &["RENAME", "key:3:3", "renamed"]);
    ok(m, &["FLUSHDB"]);
    ok(m, &["SELECT", "9"]);
    ok(m, &["SETEX", "short", "1", "gone-soon"]);
    ok(m, &["PEXPIRE", "key:9:7", "1"]);
    ok(m, &["SELECT", "0"]);
    ok(m, &["SWAPDB", "0", "9"]);
}

/// `n` numbered arguments `prefix-0 ..`, optionally each followed by a value.
fn numbered(prefix: &str, n: usize, with_value: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(format!("{prefix}-{i}"));
        if let Some(v) = with_value {
            out.push(format!("{v}-{i}"));
        }
    }
    out
}

fn with_head(head: &[&str], rest: Vec<String>) -> Vec<String> {
    let mut v = argv(head);
    v.extend(rest);
    v
}

/// Writes of every container type (lists, hashes, sets, sorted sets, streams with
/// consumer groups, HyperLogLogs, geo sets) in databases 1, 2, 4, 7 and 9, crossing each
/// encoding threshold of the default configuration (listpack → hashtable / skiplist,
/// intset → hashtable, sparse → dense, several quicklist nodes and a plain node), with
/// expiries on containers, blocking commands served at once, MULTI/EXEC (one with a
/// failing command inside) and SWAPDB. Works on any existing data; leaves database 0
/// selected.
pub fn container_load(m: &mut RespConn) {
    list_load(m);
    hash_set_load(m);
    zset_geo_load(m);
    stream_load(m);
    hll_load(m);
    mixed_load(m);
    ok(m, &["SELECT", "0"]);
}

fn list_load(m: &mut RespConn) {
    ok(m, &["SELECT", "1"]);
    let mut batch = vec![
        argv(&["RPUSH", "l1", "a", "b", "c", "d", "e", "1", "22", "-3"]),
        argv(&["LPUSH", "l1", "z", "y"]),
        argv(&["LPOP", "l1"]),
        argv(&["RPOP", "l1", "2"]),
        argv(&["LINSERT", "l1", "BEFORE", "c", "x"]),
        argv(&["LSET", "l1", "0", "first"]),
        argv(&["LREM", "l1", "0", "x"]),
        argv(&["LMOVE", "l1", "l2", "LEFT", "RIGHT"]),
        argv(&["LMOVE", "l1", "l2", "RIGHT", "LEFT"]),
        argv(&["RPOPLPUSH", "l1", "l2"]),
        argv(&["LPUSHX", "l2", "px"]),
        argv(&["RPUSHX", "nosuch", "px"]),
        argv(&["BLPOP", "l1", "1"]),
        argv(&["BRPOP", "l2", "1"]),
        argv(&["BLMOVE", "l1", "l3", "LEFT", "LEFT", "1"]),
        argv(&["LMPOP", "2", "nosuch", "l2", "RIGHT", "COUNT", "1"]),
        argv(&["LTRIM", "l2", "0", "5"]),
        argv(&["SORT", "l2", "ALPHA", "STORE", "sorted"]),
        // Empties a list: the key goes away.
        argv(&["RPUSH", "gone", "1"]),
        argv(&["RPOP", "gone"]),
    ];
    // Several quicklist nodes (8 kB each by default), trimmed and edited in the middle.
    batch.push(with_head(
        &["RPUSH", "lbig"],
        numbered("item-with-a-longer-body", 800, None),
    ));
    batch.push(argv(&["LTRIM", "lbig", "7", "-9"]));
    batch.push(argv(&[
        "LINSERT",
        "lbig",
        "AFTER",
        "item-with-a-longer-body-400",
        "inserted",
    ]));
    batch.push(argv(&["LSET", "lbig", "300", "set-in-the-middle"]));
    batch.push(argv(&["LREM", "lbig", "1", "item-with-a-longer-body-500"]));
    batch.push(argv(&["LPOP", "lbig", "3"]));
    // An element over the node size makes a plain node.
    let huge = "h".repeat(10_000);
    batch.push(argv(&["RPUSH", "lplain", "small", &huge, "small2"]));
    batch.push(argv(&["LPUSH", "lplain", &huge]));
    batch.push(argv(&["PEXPIRE", "l2", "800000"]));
    pipeline(m, &batch);
}

fn hash_set_load(m: &mut RespConn) {
    ok(m, &["SELECT", "2"]);
    let long = "v".repeat(100);
    let mut batch = vec![
        argv(&["HSET", "h1", "f1", "v1", "f2", "v2", "f3", "3"]),
        argv(&["HDEL", "h1", "f2", "nosuch"]),
        argv(&["HINCRBY", "h1", "f3", "10"]),
        argv(&["HINCRBYFLOAT", "h1", "fl", "1.5"]),
        argv(&["HINCRBYFLOAT", "h1", "fl", "0.1"]),
        argv(&["HINCRBYFLOAT", "h1", "fl", "-3e-3"]),
        argv(&["HSETNX", "h1", "f1", "no"]),
        argv(&["HSETNX", "h1", "new", "yes"]),
        argv(&["HMSET", "h1", "m1", "1", "m2", "2"]),
        // A value over hash-max-listpack-value.
        argv(&["HSET", "hlong", "f", "short"]),
        argv(&["HSET", "hlong", "g", &long]),
        argv(&["HDEL", "hlong", "g"]),
        argv(&["HSET", "hempty", "only", "1"]),
        argv(&["HDEL", "hempty", "only"]),
    ];
    // More fields than hash-max-listpack-entries.
    batch.push(with_head(
        &["HSET", "hbig"],
        numbered("field", 600, Some("value")),
    ));
    batch.push(argv(&["HDEL", "hbig", "field-1", "field-599"]));
    batch.push(argv(&["HINCRBYFLOAT", "hbig", "float", "2.25"]));
    batch.push(argv(&["HINCRBY", "hbig", "counter", "-7"]));
    batch.push(argv(&["EXPIRE", "h1", "100000"]));

    // Sets: intset, intset → hashtable by a string member, and by size.
    batch.push(argv(&["SADD", "s1", "1", "2", "3", "-40", "5"]));
    batch.push(argv(&["SREM", "s1", "2", "nosuch"]));
    batch.push(argv(&["SADD", "s2", "1", "2", "3"]));
    batch.push(argv(&["SADD", "s2", "x"]));
    let ints: Vec<String> = (0..600).map(|i| (i * 3).to_string()).collect();
    batch.push(with_head(&["SADD", "sint"], ints));
    batch.push(argv(&["SADD", "sstr", "a", "b", "c", "d", "e", "f"]));
    batch.push(argv(&["SPOP", "sint"]));
    batch.push(argv(&["SPOP", "sint", "5"]));
    batch.push(argv(&["SPOP", "sstr", "2"]));
    batch.push(argv(&["SADD", "sall", "p", "q"]));
    // A count over the size pops everything.
    batch.push(argv(&["SPOP", "sall", "10"]));
    batch.push(argv(&["SMOVE", "s2", "s1", "x"]));
    batch.push(argv(&["SINTERSTORE", "sinter", "s1", "s2"]));
    batch.push(argv(&["SINTERSTORE", "sempty", "s1", "nosuch"]));
    batch.push(argv(&["SUNIONSTORE", "sunion", "s1", "sstr"]));
    batch.push(argv(&["SDIFFSTORE", "sdiff", "sint", "s1"]));
    batch.push(argv(&["PEXPIRE", "sunion", "700000"]));
    batch.push(argv(&["PERSIST", "sunion"]));
    batch.push(argv(&["EXPIREAT", "sdiff", "4000000000"]));
    pipeline(m, &batch);
}

fn zset_geo_load(m: &mut RespConn) {
    ok(m, &["SELECT", "4"]);
    let long = "m".repeat(100);
    let mut batch = vec![
        argv(&[
            "ZADD", "z1", "1", "a", "2", "b", "3.5", "c", "-inf", "ninf", "+inf", "pinf",
        ]),
        argv(&["ZINCRBY", "z1", "0.1", "a"]),
        argv(&["ZINCRBY", "z1", "0.1", "a"]),
        argv(&["ZINCRBY", "z1", "0.1", "a"]),
        argv(&["ZADD", "z1", "XX", "GT", "CH", "5", "b", "0", "c"]),
        argv(&["ZADD", "z1", "NX", "INCR", "7", "d"]),
        argv(&["ZPOPMIN", "z1"]),
        argv(&["ZPOPMAX", "z1", "1"]),
        argv(&["ZREM", "z1", "nosuch", "c"]),
        argv(&["ZADD", "zlong", "1", "x", "2", &long]),
        argv(&["ZADD", "zgone", "1", "x"]),
        argv(&["ZPOPMIN", "zgone", "5"]),
    ];
    // More members than zset-max-listpack-entries, scores with fractions.
    let mut z = argv(&["ZADD", "zbig"]);
    for i in 0..200 {
        z.push(format!("{}", f64::from(i) * 0.3));
        z.push(format!("member-{i}"));
    }
    batch.push(z);
    batch.push(argv(&["ZREMRANGEBYSCORE", "zbig", "(10", "12"]));
    batch.push(argv(&["ZREMRANGEBYRANK", "zbig", "0", "2"]));
    batch.push(argv(&["BZPOPMIN", "zbig", "1"]));
    batch.push(argv(&["BZPOPMAX", "nosuch", "zbig", "1"]));
    batch.push(argv(&["ZMPOP", "1", "zbig", "MIN", "COUNT", "2"]));
    batch.push(argv(&[
        "ZUNIONSTORE",
        "zu",
        "2",
        "z1",
        "zbig",
        "WEIGHTS",
        "2",
        "0.5",
        "AGGREGATE",
        "MAX",
    ]));
    batch.push(argv(&["ZINTERSTORE", "zi", "2", "zu", "zbig"]));
    batch.push(argv(&["ZDIFFSTORE", "zd", "2", "zbig", "zi"]));
    batch.push(argv(&[
        "ZRANGESTORE",
        "zr",
        "zbig",
        "10",
        "30",
        "BYSCORE",
        "LIMIT",
        "1",
        "5",
    ]));
    batch.push(argv(&["PEXPIRE", "zbig", "500000"]));
    // Geo: GEOADD becomes ZADD, the STORE forms write sorted sets.
    batch.push(argv(&[
        "GEOADD",
        "geo",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
        "2.349014",
        "48.864716",
        "Paris",
    ]));
    batch.push(argv(&[
        "GEOADD", "geo", "XX", "CH", "13.5", "38.2", "Palermo",
    ]));
    batch.push(argv(&[
        "GEOSEARCHSTORE",
        "gstore",
        "geo",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "300",
        "km",
        "ASC",
        "STOREDIST",
    ]));
    batch.push(argv(&[
        "GEORADIUS",
        "geo",
        "15",
        "37",
        "2000",
        "km",
        "STORE",
        "gradius",
    ]));
    pipeline(m, &batch);
}

/// The ids of a XREADGROUP / XCLAIM reply (`[[key, [[id, fields], ..]]]` or
/// `[[id, fields], ..]`).
fn entry_ids(f: &Frame) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(f: &Frame, out: &mut Vec<String>) {
        for c in &f.children {
            if c.children.len() == 2 && c.children[0].kind == b'$' && c.children[1].kind == b'*' {
                let id = text(&c.children[0]);
                if id.contains('-') {
                    out.push(id);
                    continue;
                }
            }
            walk(c, out);
        }
    }
    walk(f, &mut out);
    out
}

fn stream_load(m: &mut RespConn) {
    ok(m, &["SELECT", "7"]);
    // 250 entries under an approximate MAXLEN: whole nodes of 100 entries go, and the
    // master rewrites `~` into the exact threshold it applied.
    let mut batch = Vec::new();
    for i in 1..=250 {
        batch.push(argv(&[
            "XADD",
            "st",
            "MAXLEN",
            "~",
            "120",
            &format!("1000-{i}"),
            "field",
            &format!("v{i}"),
            "n",
            &i.to_string(),
        ]));
    }
    batch.push(argv(&["XADD", "st", "*", "auto", "1"]));
    batch.push(argv(&["XADD", "st", "*", "auto", "2", "other", "x"]));
    batch.push(argv(&["XGROUP", "CREATE", "st", "g1", "0"]));
    batch.push(argv(&["XGROUP", "CREATE", "st", "g2", "$"]));
    batch.push(argv(&["XGROUP", "CREATE", "st", "g3", "0"]));
    batch.push(argv(&["XGROUP", "CREATE", "st2", "g", "$", "MKSTREAM"]));
    batch.push(argv(&["XGROUP", "CREATECONSUMER", "st", "g2", "idle"]));
    pipeline(m, &batch);
    let first = cmds(
        m,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "c1",
            "COUNT",
            "10",
            "STREAMS",
            "st",
            ">",
        ],
    );
    let ids = entry_ids(&first);
    assert_eq!(ids.len(), 10, "XREADGROUP -> {first:?}");
    ok(
        m,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "c2",
            "COUNT",
            "5",
            "STREAMS",
            "st",
            ">",
        ],
    );
    ok(
        m,
        &[
            "XREADGROUP",
            "GROUP",
            "g3",
            "c1",
            "COUNT",
            "3",
            "NOACK",
            "STREAMS",
            "st",
            ">",
        ],
    );
    // Not here: XREADGROUP of a consumer's own history (id 0), which bumps delivery
    // counts and times on the master only (Redis does not propagate it).
    let batch = vec![
        argv(&["XACK", "st", "g1", &ids[0], &ids[1], "0-1"]),
        argv(&["XCLAIM", "st", "g1", "c3", "0", &ids[2], &ids[3]]),
        argv(&["XCLAIM", "st", "g1", "c3", "0", &ids[4], "JUSTID"]),
        argv(&[
            "XCLAIM",
            "st",
            "g1",
            "c2",
            "0",
            &ids[5],
            "RETRYCOUNT",
            "7",
            "IDLE",
            "0",
        ]),
        argv(&["XAUTOCLAIM", "st", "g1", "c4", "0", "0-0", "COUNT", "2"]),
        argv(&["XDEL", "st", &ids[8]]),
        argv(&["XGROUP", "SETID", "st", "g2", "0"]),
        argv(&["XGROUP", "DELCONSUMER", "st", "g1", "c2"]),
        argv(&["XGROUP", "DESTROY", "st", "g3"]),
        argv(&["XTRIM", "st", "MINID", "1000-200"]),
        argv(&["XTRIM", "st", "MAXLEN", "~", "10"]),
        argv(&["XSETID", "st2", "5-5"]),
        // A stream whose only entry is deleted keeps its group.
        argv(&["XADD", "sone", "1-1", "a", "b"]),
        argv(&["XGROUP", "CREATE", "sone", "g", "0"]),
        argv(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "sone", ">"]),
        argv(&["XDEL", "sone", "1-1"]),
        argv(&["PEXPIRE", "st2", "600000"]),
    ];
    pipeline(m, &batch);
}

fn hll_load(m: &mut RespConn) {
    ok(m, &["SELECT", "2"]);
    let mut batch = vec![
        argv(&["PFADD", "hll1", "a", "b", "c", "d"]),
        // PFCOUNT refreshes the cached cardinality: a write that propagates.
        argv(&["PFCOUNT", "hll1"]),
        argv(&["PFADD", "hll1", "e"]),
    ];
    // Past hll-sparse-max-bytes: dense.
    batch.push(with_head(
        &["PFADD", "hll2"],
        numbered("element", 3000, None),
    ));
    batch.push(argv(&["PFCOUNT", "hll2"]));
    batch.push(argv(&["PFMERGE", "hllm", "hll1", "hll2"]));
    batch.push(argv(&["PFMERGE", "hll3", "hll1"]));
    batch.push(argv(&["PFCOUNT", "hll1", "hll2"]));
    batch.push(argv(&["PFADD", "hllempty"]));
    pipeline(m, &batch);
}

fn mixed_load(m: &mut RespConn) {
    // Transactions across types and databases, one with a command failing at EXEC.
    ok(m, &["SELECT", "1"]);
    ok(m, &["MULTI"]);
    ok(m, &["LPUSH", "tx:list", "a", "b"]);
    ok(m, &["HSET", "tx:hash", "f", "v"]);
    ok(m, &["SELECT", "2"]);
    ok(m, &["SADD", "tx:set", "m"]);
    ok(m, &["ZADD", "tx:zset", "1.5", "m"]);
    ok(m, &["XADD", "tx:stream", "7-7", "f", "v"]);
    ok(m, &["PFADD", "tx:hll", "x"]);
    let r = cmds(m, &["EXEC"]);
    assert!(!r.is_error(), "{}", text(&r));
    ok(m, &["MULTI"]);
    ok(m, &["SET", "tx:str", "x"]);
    ok(m, &["LPUSH", "tx:str", "wrongtype"]);
    ok(m, &["INCR", "tx:counter"]);
    let r = cmds(m, &["EXEC"]);
    assert!(!r.is_error(), "{}", text(&r));
    // Containers that expire within the second (noticed by expire_short_keys).
    ok(m, &["SELECT", "9"]);
    let batch = vec![
        argv(&["RPUSH", "short:list", "a"]),
        argv(&["PEXPIRE", "short:list", "1"]),
        argv(&["HSET", "short:hash", "f", "v"]),
        argv(&["EXPIRE", "short:hash", "1"]),
        argv(&["ZADD", "short:zset", "1", "m"]),
        argv(&["PEXPIRE", "short:zset", "10"]),
        argv(&["HSET", "kept:hash", "f", "v"]),
        argv(&["EXPIRE", "kept:hash", "100000"]),
    ];
    pipeline(m, &batch);
    // Database 1 and 2 change places.
    ok(m, &["SWAPDB", "1", "2"]);
}

/// Lets the short TTLs of [`write_load`] pass and makes the master delete those keys
/// (lazily, by reading them), so that the DELs travel in the stream.
pub fn expire_short_keys(m: &mut RespConn) {
    std::thread::sleep(Duration::from_millis(1200));
    ok(m, &["SELECT", "0"]);
    wait_until("the short keys to expire on the master", || {
        let mut gone = cmds(m, &["GET", "key:9:7"]).is_null();
        for k in SHORT_KEYS {
            gone &= cmds(m, &["EXISTS", k]).as_integer() == Some(0);
        }
        gone
    });
}

/// A dataset with every type in each of its encodings, built with the usual commands
/// (for RDB, DUMP/RESTORE and full-sync checks), in databases 0, 1 and 5:
/// strings (`int`, `embstr`, `raw`), HyperLogLogs (sparse, dense), lists (small, many
/// quicklist nodes, compressed nodes, plain nodes), hashes (listpack, hashtable by size
/// and by value length), sets (intset, hashtable by size and by a string member), sorted
/// sets (listpack, skiplist by size and by member length, infinite and negative-zero
/// scores), geo sets, streams (several nodes, deleted entries, consumer groups with
/// pending entries, an empty stream with a group, ids set by XSETID), TTLs on containers.
/// Leaves database 0 selected and the configuration as it was.
pub fn all_types_dataset(m: &mut RespConn) {
    ok(m, &["SELECT", "0"]);
    let long = "abcdefghij".repeat(30);
    let huge = "P".repeat(10_000);
    let mut b = vec![
        argv(&["SET", "str:int", "12345"]),
        argv(&["SET", "str:neg", "-9000000000"]),
        argv(&["SET", "str:embstr", "hello"]),
        argv(&["SET", "str:raw", &long]),
        argv(&["SET", "str:bin", "\u{1}\u{2}\r\n\0x"]),
        argv(&["SET", "str:ttl", "v", "EX", "100000"]),
        argv(&["PFADD", "hll:sparse", "a", "b", "c"]),
        argv(&["PFCOUNT", "hll:sparse"]),
        argv(&["RPUSH", "list:small", "a", "b", "1", "2", "-3", ""]),
        argv(&["RPUSH", "list:plain", "x", &huge, "y", &huge]),
        argv(&[
            "HSET",
            "hash:lp",
            "f1",
            "v1",
            "f2",
            "2",
            "",
            "empty-field",
            "e",
            "",
        ]),
        argv(&["HSET", "hash:longval", "f", &long]),
        argv(&["HSET", "hash:ttl", "a", "b"]),
        argv(&["PEXPIRE", "hash:ttl", "50000000"]),
        argv(&[
            "SADD",
            "set:int",
            "1",
            "2",
            "3",
            "-100",
            "9223372036854775807",
        ]),
        argv(&["SADD", "set:small-int16", "1", "2"]),
        argv(&["SADD", "set:str", "a", "b", "c"]),
        argv(&["SADD", "set:mixed", "1", "2", "x"]),
        argv(&[
            "ZADD", "zset:lp", "1", "a", "2.5", "b", "-inf", "c", "+inf", "d", "-0", "z",
        ]),
        argv(&["ZADD", "zset:longmember", "1", &long]),
        argv(&["ZADD", "zset:ttl", "3", "x"]),
        argv(&["EXPIRE", "zset:ttl", "90000"]),
        argv(&[
            "GEOADD",
            "geo",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ]),
    ];
    b.push(with_head(
        &["PFADD", "hll:dense"],
        numbered("el", 3000, None),
    ));
    b.push(with_head(
        &["RPUSH", "list:big"],
        numbered("item", 2000, None),
    ));
    b.push(with_head(
        &["HSET", "hash:big"],
        numbered("field", 600, Some("value")),
    ));
    let ints: Vec<String> = (0..600).map(|i| (i * 7 - 1000).to_string()).collect();
    b.push(with_head(&["SADD", "set:bigint"], ints));
    b.push(with_head(&["SADD", "set:bigstr"], numbered("m", 700, None)));
    let mut z = argv(&["ZADD", "zset:big"]);
    for i in 0..300 {
        z.push(format!("{}", f64::from(i) / 7.0));
        z.push(format!("member-{i}"));
    }
    b.push(z);
    pipeline(m, &b);

    // A compressed list and a list of many small nodes, under a changed configuration.
    let conf = |m: &mut RespConn, name: &str| {
        let r = cmds(m, &["CONFIG", "GET", name]);
        r.children.get(1).map(text).unwrap_or_default()
    };
    let depth = conf(m, "list-compress-depth");
    let size = conf(m, "list-max-listpack-size");
    ok(m, &["CONFIG", "SET", "list-compress-depth", "1"]);
    let words: Vec<String> = (0..3000)
        .map(|i| format!("compressible-word-{}", i % 10))
        .collect();
    pipeline(m, &[with_head(&["RPUSH", "list:compressed"], words)]);
    ok(m, &["CONFIG", "SET", "list-compress-depth", &depth]);
    ok(m, &["CONFIG", "SET", "list-max-listpack-size", "5"]);
    pipeline(
        m,
        &[with_head(
            &["RPUSH", "list:smallnodes"],
            numbered("n", 53, None),
        )],
    );
    ok(m, &["CONFIG", "SET", "list-max-listpack-size", &size]);

    // Streams.
    let mut b = Vec::new();
    for i in 1..=300 {
        let id = format!("{}-{}", 1_600_000_000_000u64 + i / 3, i % 3);
        if i % 50 == 0 {
            // A different field set: not the node's master fields.
            b.push(argv(&[
                "XADD",
                "stream",
                &id,
                "other",
                "x",
                "n",
                &i.to_string(),
            ]));
        } else {
            b.push(argv(&[
                "XADD",
                "stream",
                &id,
                "f",
                &format!("v{i}"),
                "n",
                &i.to_string(),
            ]));
        }
    }
    b.push(argv(&[
        "XDEL",
        "stream",
        "1600000000001-1",
        "1600000000050-0",
    ]));
    b.push(argv(&["XGROUP", "CREATE", "stream", "g1", "0"]));
    b.push(argv(&[
        "XGROUP",
        "CREATE",
        "stream",
        "g2",
        "$",
        "ENTRIESREAD",
        "300",
    ]));
    b.push(argv(&[
        "XGROUP",
        "CREATE",
        "stream",
        "g3",
        "1600000000010-0",
    ]));
    b.push(argv(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "7",
        "STREAMS",
        "stream",
        ">",
    ]));
    b.push(argv(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "3",
        "STREAMS",
        "stream",
        ">",
    ]));
    b.push(argv(&[
        "XREADGROUP",
        "GROUP",
        "g3",
        "carol",
        "COUNT",
        "2",
        "STREAMS",
        "stream",
        ">",
    ]));
    b.push(argv(&["XGROUP", "CREATECONSUMER", "stream", "g2", "dave"]));
    b.push(argv(&["XACK", "stream", "g1", "1600000000000-1"]));
    b.push(argv(&[
        "XGROUP",
        "CREATE",
        "stream:empty",
        "g",
        "$",
        "MKSTREAM",
    ]));
    b.push(argv(&["XADD", "stream:deleted", "5-1", "a", "1"]));
    b.push(argv(&["XADD", "stream:deleted", "5-2", "a", "2"]));
    b.push(argv(&["XGROUP", "CREATE", "stream:deleted", "g", "0"]));
    b.push(argv(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "STREAMS",
        "stream:deleted",
        ">",
    ]));
    b.push(argv(&["XDEL", "stream:deleted", "5-1", "5-2"]));
    b.push(argv(&["XADD", "stream:setid", "1-1", "a", "1"]));
    b.push(argv(&[
        "XSETID",
        "stream:setid",
        "9-9",
        "ENTRIESADDED",
        "40",
        "MAXDELETEDID",
        "3-0",
    ]));
    b.push(argv(&["PEXPIRE", "stream:setid", "70000000"]));
    pipeline(m, &b);

    ok(m, &["SELECT", "1"]);
    pipeline(
        m,
        &[
            argv(&["SET", "db1", "x"]),
            argv(&["HSET", "h", "a", "b"]),
            argv(&["PEXPIRE", "h", "50000000"]),
            argv(&["RPUSH", "l", "1"]),
        ],
    );
    ok(m, &["SELECT", "5"]);
    pipeline(
        m,
        &[
            argv(&["SET", "db5", "y", "PX", "90000000"]),
            argv(&["ZADD", "z", "1", "a"]),
            argv(&["SADD", "s", "a"]),
            argv(&["XADD", "x", "1-1", "f", "v"]),
        ],
    );
    ok(m, &["SELECT", "0"]);
}
