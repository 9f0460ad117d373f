//! The append-only file against redis-server 7.0.15: Tandem's AOF directory (manifest,
//! RDB base, incr files) survives a `kill -9`, passes redis-check-aof and loads in Redis
//! with the same DEBUG DIGEST; Redis's loads in Tandem; BGREWRITEAOF and CONFIG SET
//! appendonly yes write a base of the existing data; a command cut short at the end of
//! the last incr file is dropped on both servers (`aof-load-truncated`); a pre-7.0
//! single-file AOF is moved into the directory and loaded alike; `#TS:` annotations
//! (`aof-timestamp-enabled`) are written and skipped by both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tandem_tests::files::start_loaded;
use tandem_tests::probe::{all_types_dataset, cmds, digest, info_field, ok, text, wait_until};
use tandem_tests::{run_bounded, Flavor, RespConn, ServerProcess};

/// `flavor` in `dir` with the AOF on (unless `extra` says otherwise), its data loaded.
fn start_in(flavor: Flavor, dir: &Path, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--appendonly", "yes"];
    args.extend_from_slice(extra);
    start_loaded(flavor, Some(dir), &args)
}

fn wait_loaded(conn: &mut RespConn) {
    wait_until("the dataset to load", || {
        info_field(conn, "persistence", "loading").as_deref() == Some("0")
    });
}

/// SIGKILL: nothing is flushed at exit, only what was written to the incr file counts.
fn kill9(mut p: ServerProcess) {
    Command::new("kill")
        .args(["-9", &p.pid().to_string()])
        .status()
        .unwrap();
    assert!(p.wait_timeout(Duration::from_secs(20)).unwrap().is_some());
}

fn wait_rewritten(conn: &mut RespConn, rewrites: &str) {
    wait_until("the AOF rewrite to finish", || {
        info_field(conn, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_field(conn, "persistence", "aof_rewrites").as_deref() == Some(rewrites)
    });
}

/// Writes of several kinds after the dataset: a transaction, other databases, expiries.
fn more_writes(c: &mut RespConn, tag: &str) {
    ok(c, &["MULTI"]);
    assert_eq!(text(&cmds(c, &["INCR", &format!("{tag}:n")])), "QUEUED");
    assert_eq!(
        text(&cmds(c, &["SADD", &format!("{tag}:s"), "a", "b"])),
        "QUEUED"
    );
    cmds(c, &["EXEC"]);
    ok(c, &["SELECT", "4"]);
    ok(c, &["SET", &format!("{tag}:ttl"), "v", "EX", "5000"]);
    cmds(c, &["RPUSH", &format!("{tag}:l"), "x", "y", "z"]);
    ok(c, &["SELECT", "0"]);
    cmds(c, &["DEL", "nosuchkey"]);
}

fn check_aof(dir: &Path) {
    let manifest = dir.join("appendonlydir").join("appendonly.aof.manifest");
    let out = run_bounded(
        Command::new("redis-check-aof").arg(&manifest),
        Duration::from_secs(60),
    )
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("All AOF files and manifest are valid"),
        "redis-check-aof refused {}:\n{stdout}",
        manifest.display()
    );
}

#[test]
fn tandem_aof_survives_a_kill_and_loads_in_redis() {
    let dir = tempfile::tempdir().unwrap();
    let tandem = start_in(Flavor::Tandem, dir.path(), &[]);
    let mut c = tandem.connect().unwrap();
    all_types_dataset(&mut c);
    more_writes(&mut c, "a");
    let want = digest(&mut c);
    kill9(tandem);
    check_aof(dir.path());

    let tandem = start_in(Flavor::Tandem, dir.path(), &[]);
    let mut c = tandem.connect().unwrap();
    wait_loaded(&mut c);
    assert_eq!(digest(&mut c), want);
    let log = tandem.stdout_log();
    assert!(log.contains("DB loaded from append only file: "), "{log}");
    // A rewrite, then more writes on top of the new base.
    assert_eq!(
        text(&cmds(&mut c, &["BGREWRITEAOF"])),
        "Background append only file rewriting started"
    );
    wait_rewritten(&mut c, "1");
    more_writes(&mut c, "b");
    let want = digest(&mut c);
    kill9(tandem);
    check_aof(dir.path());
    let manifest =
        std::fs::read_to_string(dir.path().join("appendonlydir/appendonly.aof.manifest")).unwrap();
    assert_eq!(
        manifest,
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );

    let redis = start_in(Flavor::Redis, dir.path(), &[]);
    let mut r = redis.connect().unwrap();
    wait_loaded(&mut r);
    assert_eq!(digest(&mut r), want);
}

#[test]
fn redis_aof_loads_in_tandem() {
    let dir = tempfile::tempdir().unwrap();
    let redis = start_in(Flavor::Redis, dir.path(), &[]);
    let mut r = redis.connect().unwrap();
    all_types_dataset(&mut r);
    cmds(&mut r, &["BGREWRITEAOF"]);
    wait_rewritten(&mut r, "1");
    more_writes(&mut r, "a");
    let want = digest(&mut r);
    kill9(redis);

    let tandem = start_in(Flavor::Tandem, dir.path(), &[]);
    let mut c = tandem.connect().unwrap();
    wait_loaded(&mut c);
    assert_eq!(digest(&mut c), want);
}

#[test]
fn config_set_appendonly_yes_writes_the_existing_data_first() {
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let dir = tempfile::tempdir().unwrap();
        let server = start_in(flavor, dir.path(), &["--appendonly", "no"]);
        let mut c = server.connect().unwrap();
        all_types_dataset(&mut c);
        ok(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
        wait_rewritten(&mut c, "1");
        assert_eq!(
            info_field(&mut c, "persistence", "aof_enabled").as_deref(),
            Some("1"),
            "{flavor:?}"
        );
        more_writes(&mut c, "a");
        let want = digest(&mut c);
        kill9(server);
        check_aof(dir.path());
        let server = start_in(flavor, dir.path(), &[]);
        let mut c = server.connect().unwrap();
        wait_loaded(&mut c);
        assert_eq!(digest(&mut c), want, "{flavor:?}");
    }
}

#[test]
fn a_command_cut_short_at_the_end_is_dropped_like_redis() {
    let dir = tempfile::tempdir().unwrap();
    let tandem = start_in(Flavor::Tandem, dir.path(), &[]);
    let mut c = tandem.connect().unwrap();
    ok(&mut c, &["SET", "kept", "1"]);
    more_writes(&mut c, "a");
    kill9(tandem);
    let incr = dir.path().join("appendonlydir/appendonly.aof.1.incr.aof");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .unwrap()
        .write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nlost\r\n$1")
        .unwrap();
    let redis_dir = tempfile::tempdir().unwrap();
    let aof_dir = redis_dir.path().join("appendonlydir");
    std::fs::create_dir(&aof_dir).unwrap();
    for entry in std::fs::read_dir(dir.path().join("appendonlydir")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), aof_dir.join(entry.file_name())).unwrap();
    }
    let mut digests = Vec::new();
    for (flavor, d) in [
        (Flavor::Redis, redis_dir.path()),
        (Flavor::Tandem, dir.path()),
    ] {
        let server = start_in(flavor, d, &[]);
        let mut c = server.connect().unwrap();
        wait_loaded(&mut c);
        assert_eq!(cmds(&mut c, &["EXISTS", "lost"]).as_integer(), Some(0));
        assert_eq!(text(&cmds(&mut c, &["GET", "kept"])), "1");
        let log = server.stdout_log();
        assert!(
            log.contains(
                "!!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!"
            ),
            "{flavor:?}: {log}"
        );
        digests.push(digest(&mut c));
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn the_aof_is_rewritten_when_it_doubles() {
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let dir = tempfile::tempdir().unwrap();
        let server = start_in(
            flavor,
            dir.path(),
            &["--auto-aof-rewrite-min-size", "65536"],
        );
        let mut c = server.connect().unwrap();
        let value = "v".repeat(1024);
        for i in 0..200 {
            ok(&mut c, &["SET", &format!("k{}", i % 20), &value]);
        }
        wait_until("an automatic AOF rewrite", || {
            info_field(&mut c, "persistence", "aof_rewrites")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= 1)
                && info_field(&mut c, "persistence", "aof_rewrite_in_progress").as_deref()
                    == Some("0")
        });
        assert!(
            server
                .stdout_log()
                .contains("Starting automatic rewriting of AOF on "),
            "{flavor:?}"
        );
        ok(&mut c, &["SET", "after", "1"]);
        let want = digest(&mut c);
        kill9(server);
        let server = start_in(flavor, dir.path(), &[]);
        let mut c = server.connect().unwrap();
        wait_loaded(&mut c);
        assert_eq!(digest(&mut c), want, "{flavor:?}");
    }
}

#[test]
fn appendfsync_always_answers_and_keeps_every_write() {
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let dir = tempfile::tempdir().unwrap();
        let server = start_in(flavor, dir.path(), &["--appendfsync", "always"]);
        let mut conns: Vec<RespConn> = (0..4).map(|_| server.connect().unwrap()).collect();
        for i in 0..100 {
            for (n, c) in conns.iter_mut().enumerate() {
                ok(c, &["SET", &format!("k:{n}:{i}"), "v"]);
            }
        }
        let want = digest(&mut conns[0]);
        drop(conns);
        kill9(server);
        let server = start_in(flavor, dir.path(), &[]);
        let mut c = server.connect().unwrap();
        assert_eq!(
            cmds(&mut c, &["DBSIZE"]).as_integer(),
            Some(400),
            "{flavor:?}"
        );
        assert_eq!(digest(&mut c), want, "{flavor:?}");
    }
}

/// RESP for one command, as an AOF holds it.
fn resp_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// A single-file AOF as Redis before 7.0 left it in `dir` (with or without an RDB
/// preamble) is moved into the AOF directory and loaded by both servers alike: same data,
/// same manifest, same files, and the writes after it survive a restart.
#[test]
fn an_old_single_file_aof_is_upgraded_like_redis() {
    // The preamble: an RDB of every type, saved by Redis.
    let src = tempfile::tempdir().unwrap();
    let redis = start_loaded(Flavor::Redis, Some(src.path()), &[]);
    let mut r = redis.connect().unwrap();
    all_types_dataset(&mut r);
    ok(&mut r, &["SAVE"]);
    drop(r);
    drop(redis);
    let rdb = std::fs::read(src.path().join("dump.rdb")).unwrap();
    let mut tail = Vec::new();
    for cmd in [
        &["SELECT", "0"][..],
        &["SET", "tail:a", "1"],
        &["RPUSH", "tail:l", "x", "y"],
        &["SELECT", "5"],
        &["SADD", "tail:s", "m"],
    ] {
        tail.extend(resp_command(cmd));
    }
    for preamble in [true, false] {
        let mut old = if preamble { rdb.clone() } else { Vec::new() };
        old.extend_from_slice(&tail);
        let mut seen = Vec::new();
        for flavor in [Flavor::Redis, Flavor::Tandem] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("appendonly.aof"), &old).unwrap();
            let server = start_in(flavor, dir.path(), &[]);
            let mut c = server.connect().unwrap();
            let log = server.stdout_log();
            assert!(
                log.contains("Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory (appendonlydir)."),
                "{flavor:?}: {log}"
            );
            assert!(!dir.path().join("appendonly.aof").exists(), "{flavor:?}");
            let aof_dir = dir.path().join("appendonlydir");
            let manifest =
                std::fs::read_to_string(aof_dir.join("appendonly.aof.manifest")).unwrap();
            let mut files: Vec<String> = std::fs::read_dir(&aof_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            ok(&mut c, &["SET", "after", "upgrade"]);
            let want = digest(&mut c);
            seen.push((want.clone(), manifest, files));
            kill9(server);
            let server = start_in(flavor, dir.path(), &[]);
            let mut c = server.connect().unwrap();
            wait_loaded(&mut c);
            assert_eq!(digest(&mut c), want, "{flavor:?} preamble {preamble}");
        }
        assert_eq!(seen[0], seen[1], "preamble {preamble}");
        assert_eq!(
            seen[1].1,
            "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
    }
}

/// `aof-timestamp-enabled yes`: `#TS:` annotations in the incr file, written by either
/// server and skipped by the other's loader (and by redis-check-aof).
#[test]
fn timestamp_annotations_go_both_ways() {
    for (writer, reader) in [
        (Flavor::Redis, Flavor::Tandem),
        (Flavor::Tandem, Flavor::Redis),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = start_in(writer, dir.path(), &["--aof-timestamp-enabled", "yes"]);
        let mut c = server.connect().unwrap();
        ok(&mut c, &["SET", "a", "1"]);
        more_writes(&mut c, "t");
        let want = digest(&mut c);
        kill9(server);
        let incr =
            std::fs::read(dir.path().join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
        assert!(incr.starts_with(b"#TS:"), "{writer:?} wrote no annotation");
        check_aof(dir.path());
        let server = start_in(reader, dir.path(), &[]);
        let mut c = server.connect().unwrap();
        wait_loaded(&mut c);
        assert_eq!(digest(&mut c), want, "{writer:?} -> {reader:?}");
    }
}
