//! Function libraries across servers: they travel with full syncs and the replication
//! stream (FUNCTION LOAD/DELETE/FLUSH) in both directions between redis-server 7.0.15
//! and tandem-server, and live in RDB files and the AOF.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::files::{copy_dump, start_loaded};
use tandem_tests::probe::{cmds, info_field, ok, text, wait_in_sync, wait_until};
use tandem_tests::{Flavor, Frame, RespConn, ServerProcess};

const LIB_A: &str = "#!lua name=liba
redis.register_function('seta', function(keys, args) return redis.call('set', keys[1], args[1]) end)
redis.register_function{function_name='geta', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";

const LIB_B: &str = "#!lua name=libb
redis.register_function{function_name='twice', callback=function(keys, args) return args[1] .. args[1] end, flags={'no-writes'}}";

/// Library names, sorted.
fn libraries(c: &mut RespConn) -> Vec<String> {
    let list = cmds(c, &["FUNCTION", "LIST"]);
    let mut names: Vec<String> = list.children.iter().map(|l| text(&l.children[1])).collect();
    names.sort();
    names
}

fn fcall_ro(c: &mut RespConn, f: &str, keys: &[&str], args: &[&str]) -> Frame {
    let numkeys = keys.len().to_string();
    let mut argv = vec!["FCALL_RO", f, numkeys.as_str()];
    argv.extend_from_slice(keys);
    argv.extend_from_slice(args);
    cmds(c, &argv)
}

fn libraries_follow(master: Flavor, replica: Flavor) {
    let m_srv = ServerProcess::start(master, &["--enable-debug-command", "yes"]).unwrap();
    let mut m = m_srv.connect().unwrap();
    // A library the replica gets with its full sync...
    assert_eq!(text(&cmds(&mut m, &["FUNCTION", "LOAD", LIB_A])), "liba");
    cmds(&mut m, &["FCALL", "seta", "1", "k", "v1"]);
    let port = m_srv.port().to_string();
    let r_srv = ServerProcess::start(
        replica,
        &[
            "--replicaof",
            "127.0.0.1",
            &port,
            "--enable-debug-command",
            "yes",
        ],
    )
    .unwrap();
    let mut r = r_srv.connect().unwrap();
    wait_in_sync(&mut m, &mut r);
    assert_eq!(libraries(&mut r), ["liba"], "{master:?} -> {replica:?}");
    assert_eq!(text(&fcall_ro(&mut r, "geta", &["k"], &[])), "v1");
    // ...and the ones loaded, replaced and deleted afterwards with the stream.
    assert_eq!(text(&cmds(&mut m, &["FUNCTION", "LOAD", LIB_B])), "libb");
    wait_in_sync(&mut m, &mut r);
    assert_eq!(
        libraries(&mut r),
        ["liba", "libb"],
        "{master:?} -> {replica:?}"
    );
    assert_eq!(text(&fcall_ro(&mut r, "twice", &[], &["ab"])), "abab");
    ok(&mut m, &["FUNCTION", "DELETE", "liba"]);
    wait_in_sync(&mut m, &mut r);
    assert_eq!(libraries(&mut r), ["libb"], "{master:?} -> {replica:?}");
    ok(&mut m, &["FUNCTION", "FLUSH"]);
    wait_in_sync(&mut m, &mut r);
    assert!(libraries(&mut r).is_empty(), "{master:?} -> {replica:?}");
}

#[test]
fn a_tandem_replica_gets_a_redis_masters_libraries() {
    libraries_follow(Flavor::Redis, Flavor::Tandem);
}

#[test]
fn a_redis_replica_gets_a_tandem_masters_libraries() {
    libraries_follow(Flavor::Tandem, Flavor::Redis);
}

#[test]
fn libraries_are_saved_in_the_dump_both_ways() {
    for (from, to) in [
        (Flavor::Tandem, Flavor::Redis),
        (Flavor::Redis, Flavor::Tandem),
    ] {
        let src = ServerProcess::start(from, &["--enable-debug-command", "yes"]).unwrap();
        let mut c = src.connect().unwrap();
        cmds(&mut c, &["FUNCTION", "LOAD", LIB_A]);
        cmds(&mut c, &["FUNCTION", "LOAD", LIB_B]);
        ok(&mut c, &["SET", "k", "v"]);
        ok(&mut c, &["SAVE"]);
        let dir = copy_dump(src.dir());
        let dst = start_loaded(to, Some(dir.path()), &[]);
        let mut d = dst.connect().unwrap();
        assert_eq!(libraries(&mut d), ["liba", "libb"], "{from:?} -> {to:?}");
        assert_eq!(text(&fcall_ro(&mut d, "geta", &["k"], &[])), "v");
    }
}

#[test]
fn libraries_are_in_the_aof() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--appendonly", "yes"];
    let server = start_loaded(Flavor::Tandem, Some(dir.path()), &args);
    let mut c = server.connect().unwrap();
    cmds(&mut c, &["FUNCTION", "LOAD", LIB_A]);
    cmds(&mut c, &["BGREWRITEAOF"]);
    wait_until("the rewrite", || {
        info_field(&mut c, "persistence", "aof_rewrites").as_deref() == Some("1")
            && info_field(&mut c, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
    });
    cmds(&mut c, &["FUNCTION", "LOAD", LIB_B]);
    drop(c);
    drop(server);
    for flavor in [Flavor::Tandem, Flavor::Redis] {
        let server = start_loaded(flavor, Some(dir.path()), &args);
        let mut c = server.connect().unwrap();
        assert_eq!(libraries(&mut c), ["liba", "libb"], "{flavor:?}");
    }
}
