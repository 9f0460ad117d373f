//! Persistence against the real redis-server 7.0.15: RDB files and DUMP payloads travel
//! both ways and keep the same `DEBUG DIGEST`; `redis-check-rdb` accepts Tandem's files;
//! BGSAVE keeps serving writes and saves a point-in-time view; a damaged dump.rdb stops
//! Tandem at start-up with Redis's log lines and a non-zero exit; `-LOADING` is answered
//! while a dump loads (`key-load-delay`).
//!
//! No timing assertions: every wait is a bounded poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use tandem_tests::files::{check_rdb, copy_dump};
use tandem_tests::probe::{digest, info_field, ok, text, wait_until};
use tandem_tests::{Flavor, Frame, RespConn, ServerBuilder, ServerProcess};

const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

fn cmd(conn: &mut RespConn, args: &[&[u8]]) -> Frame {
    conn.command(args).unwrap()
}

fn cmds(conn: &mut RespConn, args: &[&str]) -> Frame {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    cmd(conn, &a)
}

fn wait_loaded(conn: &mut RespConn) {
    wait_until("the dataset to load", || {
        info_field(conn, "persistence", "loading").as_deref() == Some("0")
    });
}

/// Starts `flavor` with DEBUG enabled and `extra` arguments.
fn start(flavor: Flavor, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    ServerProcess::start(flavor, &args).unwrap()
}

/// Starts `flavor` with `dir` as its working directory (where dump.rdb is read).
fn start_in(flavor: Flavor, dir: &Path, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = vec![
        "--enable-debug-command".into(),
        "yes".into(),
        "--dir".into(),
        dir.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerProcess::start(flavor, &args).unwrap()
}

/// Every type, compact and full encodings, expiries, several databases (built with the
/// usual commands on redis-server).
fn build_dataset(redis: &mut RespConn) {
    ok(redis, &["SELECT", "0"]);
    ok(redis, &["SET", "int", "12345"]);
    ok(redis, &["SET", "neg", "-9000000000"]);
    ok(redis, &["SET", "short", "hello"]);
    let long = "abcdefghij".repeat(30);
    ok(redis, &["SET", "long", &long]);
    ok(redis, &["SET", "bin", "\u{1}\u{2}\r\n\0x"]);
    ok(redis, &["SET", "ttl", "v", "EX", "100000"]);
    ok(redis, &["RPUSH", "list-small", "a", "b", "1", "2", "-3"]);
    let items: Vec<String> = (0..1000).map(|i| format!("item-{i}")).collect();
    let mut a: Vec<&str> = vec!["RPUSH", "list-big"];
    a.extend(items.iter().map(String::as_str));
    ok(redis, &a);
    ok(redis, &["HSET", "hash-small", "f1", "v1", "f2", "2"]);
    let mut a: Vec<String> = vec!["HSET".into(), "hash-big".into()];
    for i in 0..300 {
        a.push(format!("field-{i}"));
        a.push(format!("value-{i}"));
    }
    ok(redis, &a.iter().map(String::as_str).collect::<Vec<_>>());
    ok(redis, &["HSET", "hash-longval", "f", &long]);
    ok(redis, &["SADD", "set-int", "1", "2", "3", "-100"]);
    ok(redis, &["SADD", "set-str", "a", "b", "c"]);
    let mut a: Vec<String> = vec!["SADD".into(), "set-big".into()];
    a.extend((0..600).map(|i| i.to_string()));
    ok(redis, &a.iter().map(String::as_str).collect::<Vec<_>>());
    ok(
        redis,
        &["ZADD", "zset-small", "1", "a", "2.5", "b", "-inf", "c"],
    );
    let mut a: Vec<String> = vec!["ZADD".into(), "zset-big".into()];
    for i in 0..200 {
        a.push(format!("{}.25", i));
        a.push(format!("member-{i}"));
    }
    ok(redis, &a.iter().map(String::as_str).collect::<Vec<_>>());
    ok(redis, &["XADD", "stream", "1-1", "f", "v", "g", "w"]);
    ok(redis, &["XADD", "stream", "2-0", "f", "v2"]);
    ok(redis, &["SELECT", "3"]);
    ok(redis, &["SET", "db3", "x"]);
    ok(redis, &["HSET", "h3", "a", "b"]);
    ok(redis, &["PEXPIRE", "h3", "50000000"]);
    ok(redis, &["SELECT", "9"]);
    ok(redis, &["SET", "db9", "y", "PX", "90000000"]);
    ok(redis, &["SELECT", "0"]);
}

/// Keys of `db`.
fn keys(conn: &mut RespConn, db: usize) -> Vec<Vec<u8>> {
    ok(conn, &["SELECT", &db.to_string()]);
    let f = cmds(conn, &["KEYS", "*"]);
    f.children
        .iter()
        .map(|c| c.text().unwrap().to_vec())
        .collect()
}

/// Copies every key of databases 0..16 from `from` to `to` with DUMP / PTTL / RESTORE.
fn copy_with_dump(from: &mut RespConn, to: &mut RespConn) {
    for db in 0..16 {
        let ks = keys(from, db);
        ok(to, &["SELECT", &db.to_string()]);
        for k in ks {
            let payload = cmd(from, &[b"DUMP", &k]);
            let payload = payload.body.clone().expect("DUMP of an existing key");
            let pttl = cmd(from, &[b"PTTL", &k]).as_integer().unwrap();
            let ttl = pttl.max(0).to_string();
            let r = cmd(to, &[b"RESTORE", &k, ttl.as_bytes(), &payload]);
            assert!(
                !r.is_error(),
                "RESTORE {} -> {}",
                String::from_utf8_lossy(&k),
                text(&r)
            );
        }
    }
    ok(from, &["SELECT", "0"]);
    ok(to, &["SELECT", "0"]);
}

#[test]
fn redis_dump_rdb_loads_in_tandem() {
    let redis = start(Flavor::Redis, &[]);
    let mut rc = redis.connect().unwrap();
    build_dataset(&mut rc);
    ok(&mut rc, &["SAVE"]);
    let want = digest(&mut rc);

    let dir = copy_dump(redis.dir());
    let tandem = start_in(Flavor::Tandem, dir.path(), &[]);
    let mut tc = tandem.connect().unwrap();
    wait_loaded(&mut tc);
    assert_eq!(digest(&mut tc), want);
    for db in [0usize, 3, 9] {
        ok(&mut rc, &["SELECT", &db.to_string()]);
        ok(&mut tc, &["SELECT", &db.to_string()]);
        assert_eq!(
            cmds(&mut tc, &["DBSIZE"]).as_integer(),
            cmds(&mut rc, &["DBSIZE"]).as_integer()
        );
    }
    let log = tandem.stdout_log();
    assert!(
        log.contains("Loading RDB produced by version 7.0.15"),
        "{log}"
    );
    assert!(log.contains("Done loading RDB, keys loaded: "), "{log}");
    assert!(log.contains("DB loaded from disk: "), "{log}");
}

#[test]
fn tandem_dump_rdb_and_dump_payloads_load_in_redis() {
    // Build the dataset on redis, move it into Tandem with DUMP/RESTORE.
    let redis = start(Flavor::Redis, &[]);
    let mut rc = redis.connect().unwrap();
    build_dataset(&mut rc);
    let want = digest(&mut rc);
    let tandem = start(Flavor::Tandem, &[]);
    let mut tc = tandem.connect().unwrap();
    copy_with_dump(&mut rc, &mut tc);
    assert_eq!(digest(&mut tc), want, "redis DUMP -> tandem RESTORE");

    // Tandem's DUMP payloads restore in a fresh redis.
    let redis2 = start(Flavor::Redis, &[]);
    let mut rc2 = redis2.connect().unwrap();
    copy_with_dump(&mut tc, &mut rc2);
    assert_eq!(digest(&mut rc2), want, "tandem DUMP -> redis RESTORE");

    // Tandem's SAVE: redis-check-rdb accepts it and redis loads the same dataset.
    assert_eq!(text(&cmds(&mut tc, &["SAVE"])), "OK");
    let file = tandem.dir().join("dump.rdb");
    check_rdb(&file);
    let dir = copy_dump(tandem.dir());
    let redis3 = start_in(Flavor::Redis, dir.path(), &[]);
    let mut rc3 = redis3.connect().unwrap();
    wait_loaded(&mut rc3);
    assert_eq!(digest(&mut rc3), want, "tandem SAVE -> redis load");
    assert!(tandem.stdout_log().contains("DB saved on disk"));
    // No temp file left behind.
    let leftovers: Vec<PathBuf> = std::fs::read_dir(tandem.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("temp-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bgsave_serves_writes_and_saves_a_point_in_time() {
    let tandem = start(Flavor::Tandem, &["--rdb-key-save-delay", "1000"]);
    let mut tc = tandem.connect().unwrap();
    ok(&mut tc, &["DEBUG", "POPULATE", "5000", "key", "20"]);
    let r = cmds(&mut tc, &["BGSAVE"]);
    assert_eq!(text(&r), "Background saving started");
    // Writes keep flowing while the snapshot is written; none of them is in the file.
    let mut during = 0;
    // Set if the first save ended before the checks below and a second one started.
    let mut restarted = false;
    let mut w = tandem.connect().unwrap();
    loop {
        ok(&mut w, &["SET", &format!("new:{during}"), "v"]);
        ok(&mut w, &["DEL", "key:1"]);
        during += 1;
        if info_field(&mut tc, "persistence", "rdb_bgsave_in_progress").as_deref() == Some("0") {
            break;
        }
        if during == 1 {
            let r = cmds(&mut tc, &["BGSAVE"]);
            // Unless the save already ended (no timing assumption).
            if r.is_error() {
                assert_eq!(text(&r), "ERR Background save already in progress");
                let r = cmds(&mut tc, &["SAVE"]);
                assert_eq!(text(&r), "ERR Background save already in progress");
            } else {
                restarted = true;
            }
        }
        assert!(during < 1_000_000, "BGSAVE never ended");
    }
    assert_eq!(
        info_field(&mut tc, "persistence", "rdb_last_bgsave_status").as_deref(),
        Some("ok")
    );
    wait_until("the success log line", || {
        tandem
            .stdout_log()
            .contains("Background saving terminated with success")
    });
    assert!(tandem
        .stdout_log()
        .contains("Background saving started by pid"));
    check_rdb(&tandem.dir().join("dump.rdb"));
    let dir = copy_dump(tandem.dir());
    let redis = start_in(Flavor::Redis, dir.path(), &[]);
    let mut rc = redis.connect().unwrap();
    wait_loaded(&mut rc);
    if !restarted {
        assert_eq!(cmds(&mut rc, &["DBSIZE"]).as_integer(), Some(5000));
        assert_eq!(cmds(&mut rc, &["EXISTS", "key:1"]).as_integer(), Some(1));
        assert_eq!(cmds(&mut rc, &["EXISTS", "new:0"]).as_integer(), Some(0));
    }
}

#[test]
fn shutdown_saves_when_save_points_exist() {
    let mut tandem = start(Flavor::Tandem, &[]);
    let mut tc = tandem.connect().unwrap();
    ok(&mut tc, &["CONFIG", "SET", "save", "3600 1"]);
    ok(&mut tc, &["SET", "kept", "yes"]);
    tc.send(&["SHUTDOWN"]).unwrap();
    let status = tandem.wait_timeout(EXIT_TIMEOUT).unwrap().expect("exited");
    assert!(status.success());
    let log = tandem.stdout_log();
    assert!(
        log.contains("Saving the final RDB snapshot before exiting."),
        "{log}"
    );
    assert!(log.contains("DB saved on disk"), "{log}");
    let dir = copy_dump(tandem.dir());
    let redis = start_in(Flavor::Redis, dir.path(), &[]);
    let mut rc = redis.connect().unwrap();
    wait_loaded(&mut rc);
    assert_eq!(text(&cmds(&mut rc, &["GET", "kept"])), "yes");
}

/// Runs `flavor` on `dump` and expects it to refuse the file: non-zero exit, `line` in
/// the log, no panic.
fn refuses(flavor: Flavor, dump: &[u8], line: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dump.rdb"), dump).unwrap();
    let mut server = ServerBuilder::new(flavor)
        .args(["--dir".to_string(), dir.path().display().to_string()])
        .spawn()
        .unwrap();
    let status = server
        .wait_timeout(EXIT_TIMEOUT)
        .unwrap()
        .unwrap_or_else(|| panic!("{} kept running on a damaged file", flavor.label()));
    assert!(!status.success(), "{}: {status}", flavor.label());
    let log = server.stdout_log();
    assert!(
        log.contains(line),
        "{}: no {line:?} in:\n{log}",
        flavor.label()
    );
    let err = server.stderr_log();
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn damaged_dump_rdb_stops_startup_like_redis() {
    let tandem = start(Flavor::Tandem, &[]);
    let mut tc = tandem.connect().unwrap();
    ok(&mut tc, &["DEBUG", "POPULATE", "2000", "key", "30"]);
    ok(&mut tc, &["SAVE"]);
    let good = std::fs::read(tandem.dir().join("dump.rdb")).unwrap();
    drop(tc);
    drop(tandem);

    let truncated = &good[..good.len() / 2];
    let mut flipped = good.clone();
    let at = flipped
        .windows(6)
        .rposition(|w| w == b"value:")
        .expect("a populated value");
    flipped[at + 1] ^= 0x20;
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        refuses(
            flavor,
            truncated,
            "Short read or OOM loading DB. Unrecoverable error, aborting now.",
        );
        refuses(flavor, &flipped, "Wrong RDB checksum expected: (");
    }
}

#[test]
fn loading_is_answered_while_a_dump_loads() {
    let redis = start(Flavor::Redis, &[]);
    let mut rc = redis.connect().unwrap();
    ok(&mut rc, &["DEBUG", "POPULATE", "3000", "key", "10"]);
    ok(&mut rc, &["SAVE"]);
    let dir = copy_dump(redis.dir());

    let tandem = ServerBuilder::new(Flavor::Tandem)
        .args([
            "--dir".to_string(),
            dir.path().display().to_string(),
            "--key-load-delay".to_string(),
            "1000".to_string(),
        ])
        .start()
        .unwrap();
    let mut tc = tandem.connect().unwrap();
    let mut saw_loading = false;
    let mut saw_progress = false;
    wait_until("the load to end", || {
        let r = cmds(&mut tc, &["GET", "key:1"]);
        if r.is_error() {
            assert_eq!(text(&r), "LOADING Redis is loading the dataset in memory");
            saw_loading = true;
            // INFO has the `loading` flag: it answers, with the progress fields.
            if info_field(&mut tc, "persistence", "loading").as_deref() == Some("1") {
                saw_progress |= info_field(&mut tc, "persistence", "loading_loaded_perc").is_some()
                    && info_field(&mut tc, "persistence", "loading_total_bytes").is_some();
            }
            false
        } else {
            true
        }
    });
    assert!(saw_loading, "never saw -LOADING (3000 keys at 1 ms each)");
    assert!(
        saw_progress,
        "INFO persistence never showed the loading fields"
    );
    wait_loaded(&mut tc);
    assert_eq!(cmds(&mut tc, &["DBSIZE"]).as_integer(), Some(3000));
    assert_eq!(text(&cmds(&mut tc, &["GET", "key:1"])), "value:1\0\0\0");
    let log = tandem.stdout_log();
    assert!(
        log.contains("Done loading RDB, keys loaded: 3000, keys expired: 0."),
        "{log}"
    );
}

#[test]
fn debug_reload_of_a_damaged_dump_keeps_the_data() {
    let server = start(Flavor::Tandem, &[]);
    let mut conn = RespConn::connect(server.addr()).unwrap();
    ok(&mut conn, &["SET", "kept", "value"]);
    ok(&mut conn, &["SAVE"]);
    let path = server.dir().join("dump.rdb");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 9]).unwrap();
    let reply = cmds(&mut conn, &["DEBUG", "RELOAD", "NOSAVE"]);
    assert!(reply.is_error(), "{}", text(&reply));
    assert_eq!(text(&cmds(&mut conn, &["GET", "kept"])), "value");
    assert_eq!(text(&cmds(&mut conn, &["DBSIZE"])), "1");
}
