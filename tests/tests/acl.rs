//! ACL users beyond the differential corpus (`tests/diff/acl.txt`): the ones a server
//! starts with (`user` directives, `aclfile`), ACL SAVE / ACL LOAD against the same file
//! on redis-server 7.0.15 and tandem-server, and replication through an ACL user
//! (`masteruser`) in both directions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use tandem_tests::files::start_loaded;
use tandem_tests::probe::{argv, assert_same_data, cmds, ok, text, wait_in_sync, write_load};
use tandem_tests::{Flavor, RespConn, ServerBuilder, ServerProcess};

/// The users of this file have one single-command rule per selector at most, so that
/// Redis's description (single commands in hash order) is the same on every run.
const ACL_FILE: &str = "user default on nopass ~* &* +@all\n\
user app on >apppw ~app:* &news -@all +@string (~ro:* -@all +@read)\n\
user ops on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* &* +@all -@dangerous\n\
user off off >x +@all\n";

fn lines(c: &mut RespConn, args: &[&str]) -> Vec<String> {
    cmds(c, args).children.iter().map(text).collect()
}

fn start_with_file(flavor: Flavor, dir: &Path) -> ServerProcess {
    std::fs::write(dir.join("users.acl"), ACL_FILE).unwrap();
    start_loaded(flavor, Some(dir), &["--aclfile", "users.acl"])
}

#[test]
fn an_acl_file_loads_saves_and_reloads_like_redis() {
    let mut seen = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let dir = tempfile::tempdir().unwrap();
        let server = start_with_file(flavor, dir.path());
        let mut c = server.connect().unwrap();
        let listed = lines(&mut c, &["ACL", "LIST"]);
        // The file's users work.
        let mut app = server.connect().unwrap();
        ok(&mut app, &["AUTH", "app", "apppw"]);
        ok(&mut app, &["SET", "app:1", "v"]);
        let denied = text(&cmds(&mut app, &["SET", "ro:1", "v"]));
        let read_only = text(&cmds(&mut app, &["GET", "ro:1"]));
        let off = text(&cmds(&mut c, &["AUTH", "off", "x"]));
        // SETUSER then SAVE writes what ACL LIST shows.
        ok(
            &mut c,
            &["ACL", "SETUSER", "new", "on", ">newpw", "~n:*", "+get"],
        );
        ok(&mut c, &["ACL", "SAVE"]);
        let saved = std::fs::read_to_string(dir.path().join("users.acl")).unwrap();
        // A broken file changes nothing, with Redis's report.
        std::fs::write(
            dir.path().join("users.acl"),
            "user default on nopass ~* &* +@all\nbogus\nuser x on +nosuch\nuser y (~a\nuser default off\n",
        )
        .unwrap();
        let broken = text(&cmds(&mut c, &["ACL", "LOAD"]));
        let after_broken = lines(&mut c, &["ACL", "USERS"]);
        // A good file replaces every user and disconnects the clients of non-default users.
        std::fs::write(dir.path().join("users.acl"), "user solo on >s ~* +@all\n").unwrap();
        ok(&mut c, &["ACL", "LOAD"]);
        let reloaded = lines(&mut c, &["ACL", "LIST"]);
        let app_after = app.command(&argv(&["PING"])).is_err();
        seen.push((
            listed,
            denied,
            read_only,
            off,
            saved,
            broken,
            after_broken,
            reloaded,
            app_after,
        ));
    }
    assert_eq!(seen[0], seen[1]);
    assert!(seen[1].8, "the app user's connection survived ACL LOAD");
    assert!(
        seen[1]
            .5
            .starts_with("ERR users.acl:2 should start with user keyword"),
        "{}",
        seen[1].5
    );
}

#[test]
fn user_directives_define_the_users_at_start() {
    let args = [
        "--user", "default", "on", ">adminpw", "~*", "&*", "+@all", "--user", "reader", "on", ">r",
        "~*", "-@all", "+@read", "+ping",
    ];
    let mut seen = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let server = ServerProcess::start(flavor, &args).unwrap();
        let mut c = server.connect().unwrap();
        let noauth = text(&cmds(&mut c, &["GET", "k"]));
        ok(&mut c, &["AUTH", "adminpw"]);
        let listed = lines(&mut c, &["ACL", "LIST"]);
        let mut r = server.connect().unwrap();
        ok(&mut r, &["AUTH", "reader", "r"]);
        let get = cmds(&mut r, &["GET", "k"]).to_bytes();
        let set = text(&cmds(&mut r, &["SET", "k", "v"]));
        seen.push((noauth, listed, get, set));
    }
    assert_eq!(seen[0], seen[1]);
    assert!(seen[1].0.starts_with("NOAUTH"), "{}", seen[1].0);
}

/// A master whose default user needs a password and whose replicas log in as `repl`.
fn acl_master(flavor: Flavor) -> ServerProcess {
    let args = [
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--user",
        "default",
        "on",
        ">adminpw",
        "~*",
        "&*",
        "+@all",
        "--user",
        "repl",
        "on",
        ">replpw",
        "-@all",
        "+psync",
        "+replconf",
        "+ping",
    ];
    ServerProcess::start(flavor, &args).unwrap()
}

fn replica_of(flavor: Flavor, master: &ServerProcess) -> ServerProcess {
    let port = master.port().to_string();
    let args = [
        "--enable-debug-command",
        "yes",
        "--replicaof",
        "127.0.0.1",
        &port,
        "--masteruser",
        "repl",
        "--masterauth",
        "replpw",
    ];
    ServerProcess::start(flavor, &args).unwrap()
}

#[test]
fn replicas_log_in_with_masteruser_both_ways() {
    for (m_flavor, r_flavor) in [
        (Flavor::Redis, Flavor::Tandem),
        (Flavor::Tandem, Flavor::Redis),
    ] {
        let master = acl_master(m_flavor);
        let mut m = master.connect().unwrap();
        ok(&mut m, &["AUTH", "adminpw"]);
        ok(&mut m, &["SET", "before", "1"]);
        let replica = replica_of(r_flavor, &master);
        let mut r = replica.connect().unwrap();
        write_load(&mut m);
        wait_in_sync(&mut m, &mut r);
        assert_same_data(&mut m, &mut r);
        let clients = text(&cmds(&mut m, &["CLIENT", "LIST", "TYPE", "replica"]));
        assert!(
            clients.contains(" user=repl "),
            "{m_flavor:?} master: {clients}"
        );
    }
}

/// CONFIG REWRITE writes the users as `user` lines (Redis writes them even for a file that
/// had none), and a restart from that file brings them back.
#[test]
fn config_rewrite_writes_the_users() {
    let mut seen = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("redis.conf");
        std::fs::write(&conf, "# users below\n").unwrap();
        let start = || {
            ServerBuilder::new(flavor)
                .config_file(&conf)
                .arg("--dir")
                .arg(dir.path())
                .start()
                .unwrap()
        };
        let server = start();
        let mut c = server.connect().unwrap();
        ok(
            &mut c,
            &[
                "ACL", "SETUSER", "alice", "on", ">pw", "~a:*", "&c", "-@all", "+@hash",
            ],
        );
        ok(&mut c, &["CONFIG", "REWRITE"]);
        let text = std::fs::read_to_string(&conf).unwrap();
        let mut users: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("user "))
            .map(str::to_owned)
            .collect();
        users.sort();
        drop(c);
        drop(server);
        let server = start();
        let mut c = server.connect().unwrap();
        let listed = lines(&mut c, &["ACL", "LIST"]);
        seen.push((users, listed));
    }
    assert_eq!(seen[0], seen[1]);
    // alice comes back as written (the default user gains `sanitize-payload`: a `user
    // default` directive resets it first, on both servers).
    assert_eq!(seen[1].0[0], seen[1].1[0]);
}
