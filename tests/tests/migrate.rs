//! MIGRATE between redis-server 7.0.15 and tandem-server in every direction: every key of
//! the all-types dataset moves (values equal by DEBUG DIGEST-VALUE, TTLs kept, the source
//! emptied), COPY and REPLACE, a target that refuses a key, and the DEL a MIGRATE becomes
//! in the source's replication stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::files::start_loaded;
use tandem_tests::probe::{all_types_dataset, cmds, ok, text, wait_in_sync};
use tandem_tests::{Flavor, RespConn, ServerProcess};

fn keys(c: &mut RespConn) -> Vec<String> {
    let mut k: Vec<String> = cmds(c, &["KEYS", "*"]).children.iter().map(text).collect();
    k.sort();
    k
}

fn digests(c: &mut RespConn, keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|k| text(&cmds(c, &["DEBUG", "DIGEST-VALUE", k]).children[0]))
        .collect()
}

#[test]
fn migrate_moves_every_type_both_ways() {
    let pairs = [
        (Flavor::Tandem, Flavor::Redis),
        (Flavor::Redis, Flavor::Tandem),
        (Flavor::Tandem, Flavor::Tandem),
    ];
    for (from, to) in pairs {
        let src = start_loaded(from, None, &[]);
        let dst = start_loaded(to, None, &[]);
        let mut s = src.connect().unwrap();
        let mut d = dst.connect().unwrap();
        all_types_dataset(&mut s);
        ok(&mut s, &["SELECT", "0"]);
        let names = keys(&mut s);
        assert!(names.len() > 5);
        let want = digests(&mut s, &names);
        let port = dst.port().to_string();
        let mut argv = vec!["MIGRATE", "127.0.0.1", &port, "", "3", "5000", "KEYS"];
        argv.extend(names.iter().map(String::as_str));
        assert_eq!(text(&cmds(&mut s, &argv)), "OK", "{from:?} -> {to:?}");
        assert!(keys(&mut s).is_empty(), "{from:?} kept keys");
        ok(&mut d, &["SELECT", "3"]);
        assert_eq!(keys(&mut d), names, "{from:?} -> {to:?}");
        assert_eq!(digests(&mut d, &names), want, "{from:?} -> {to:?}");
        let ttl = cmds(&mut d, &["TTL", "str:ttl"]).as_integer().unwrap();
        assert!(ttl > 99_000, "{from:?} -> {to:?}: ttl {ttl}");
        // COPY keeps the source; without REPLACE the target refuses an existing key.
        ok(&mut s, &["SET", "k", "1"]);
        ok(&mut d, &["SET", "k", "0"]);
        let refused = text(&cmds(
            &mut s,
            &["MIGRATE", "127.0.0.1", &port, "k", "3", "5000"],
        ));
        assert_eq!(
            refused,
            "ERR Target instance replied with error: BUSYKEY Target key name already exists."
        );
        let copied = cmds(
            &mut s,
            &[
                "MIGRATE",
                "127.0.0.1",
                &port,
                "k",
                "3",
                "5000",
                "COPY",
                "REPLACE",
            ],
        );
        assert_eq!(text(&copied), "OK");
        assert_eq!(text(&cmds(&mut s, &["GET", "k"])), "1");
        assert_eq!(text(&cmds(&mut d, &["GET", "k"])), "1");
    }
}

/// A MIGRATE that moved keys reaches a replica of the source as DEL (no COPY).
#[test]
fn migrate_propagates_as_del() {
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let src = start_loaded(flavor, None, &["--repl-diskless-sync-delay", "0"]);
        let replica = ServerProcess::redis_replica_of(&src).unwrap();
        let dst = start_loaded(Flavor::Redis, None, &[]);
        let mut s = src.connect().unwrap();
        let mut r = replica.connect().unwrap();
        for k in ["a", "b", "c"] {
            ok(&mut s, &["SET", k, "v"]);
        }
        wait_in_sync(&mut s, &mut r);
        let port = dst.port().to_string();
        let reply = cmds(
            &mut s,
            &[
                "MIGRATE",
                "127.0.0.1",
                &port,
                "",
                "0",
                "5000",
                "KEYS",
                "a",
                "b",
                "nokey",
            ],
        );
        assert_eq!(text(&reply), "OK");
        wait_in_sync(&mut s, &mut r);
        assert_eq!(keys(&mut r), ["c"], "{flavor:?}");
    }
}
