//! A replica's link with its master as a client: tandem-server and redis-server replicas
//! of the same redis-server 7.0.15 master both list it in CLIENT LIST (`flags=M`,
//! `addr=` the master's address, also under `TYPE master`), and `CLIENT KILL TYPE
//! master` drops it; each replica then comes back with a partial resynchronization
//! (`+CONTINUE`) and the master's DEBUG DIGEST. The line is a real connection's: its
//! `laddr` is the address the master lists for that replica, `fd` a descriptor, and its
//! `id` (kept across a partial resync, as Redis resurrects its cached master client) is
//! one `CLIENT KILL ID` accepts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::probe::{cmds, digest, info_field, ok, text, wait_in_sync, wait_until};
use tandem_tests::{Flavor, RespConn, ServerProcess};

/// The value of `name=` in a CLIENT LIST line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ')
        .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or("")
}

fn master_lines(r: &mut RespConn, all: bool) -> Vec<String> {
    let args: &[&str] = if all {
        &["CLIENT", "LIST"]
    } else {
        &["CLIENT", "LIST", "TYPE", "master"]
    };
    text(&cmds(r, args))
        .lines()
        .filter(|l| l.contains(" flags=M "))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_master_link_is_listed_and_can_be_killed() {
    let master = ServerProcess::start(
        Flavor::Redis,
        &[
            "--enable-debug-command",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
        ],
    )
    .unwrap();
    let mut m = master.connect().unwrap();
    ok(&mut m, &["DEBUG", "POPULATE", "100", "k", "10"]);
    let port = master.port().to_string();
    let addr = format!(" addr=127.0.0.1:{port} ");

    let mut replicas = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let server = ServerProcess::start(flavor, &["--enable-debug-command", "yes"]).unwrap();
        let mut r = server.connect().unwrap();
        // No master link yet: nothing to list or kill.
        assert!(master_lines(&mut r, true).is_empty(), "{flavor:?}");
        let killed = cmds(&mut r, &["CLIENT", "KILL", "TYPE", "master"]);
        assert_eq!(killed.as_integer(), Some(0), "{flavor:?}");
        ok(&mut r, &["REPLICAOF", "127.0.0.1", &port]);
        wait_in_sync(&mut m, &mut r);
        replicas.push((flavor, server, r));
    }
    for (flavor, _, r) in &mut replicas {
        let all = master_lines(r, true);
        let typed = master_lines(r, false);
        assert_eq!(all.len(), 1, "{flavor:?}: {all:?}");
        assert_eq!(typed.len(), 1, "{flavor:?}: {typed:?}");
        assert!(all[0].contains(&addr), "{flavor:?}: {}", all[0]);
        // Not a normal client, nor a replica.
        let normal = text(&cmds(r, &["CLIENT", "LIST", "TYPE", "normal"]));
        assert!(!normal.contains(" flags=M "), "{flavor:?}: {normal}");
        // The replica's end of the socket the master lists as this replica.
        let laddr = field(&all[0], "laddr");
        let on_master = text(&cmds(&mut m, &["CLIENT", "LIST", "TYPE", "replica"]));
        assert!(
            on_master.contains(&format!(" addr={laddr} ")),
            "{flavor:?}: laddr={laddr} not in {on_master}"
        );
        assert!(
            field(&all[0], "fd").parse::<i64>().unwrap() >= 0,
            "{flavor:?}"
        );
    }
    // Fields that do not depend on timing or buffers read the same on both.
    let lines: Vec<String> = replicas
        .iter_mut()
        .map(|(_, _, r)| master_lines(r, false).remove(0))
        .collect();
    // The master client counts as a connected client (with the test's own connection).
    for (flavor, _, r) in &mut replicas {
        assert_eq!(
            info_field(r, "clients", "connected_clients").as_deref(),
            Some("2"),
            "{flavor:?}"
        );
    }
    for name in [
        "name", "flags", "db", "sub", "psub", "multi", "user", "resp",
    ] {
        assert_eq!(
            field(&lines[0], name),
            field(&lines[1], name),
            "{name}: {lines:?}"
        );
    }
    let first_ids: Vec<String> = replicas
        .iter_mut()
        .map(|(_, _, r)| field(&master_lines(r, false)[0], "id").to_string())
        .collect();
    for (flavor, _, r) in &mut replicas {
        let killed = cmds(r, &["CLIENT", "KILL", "TYPE", "master"]);
        assert_eq!(killed.as_integer(), Some(1), "{flavor:?}");
    }
    for i in 0..20 {
        ok(&mut m, &["SET", &format!("after-kill:{i}"), "v"]);
    }
    wait_until("two partial resyncs", || {
        info_field(&mut m, "stats", "sync_partial_ok").as_deref() == Some("2")
    });
    for (flavor, server, r) in &mut replicas {
        wait_in_sync(&mut m, r);
        assert_eq!(digest(&mut m), digest(r), "{flavor:?}");
        assert_eq!(master_lines(r, false).len(), 1, "{flavor:?}");
        let log = server.stdout_log();
        assert!(
            log.contains("Successful partial resynchronization with master."),
            "{flavor:?}: {log}"
        );
    }
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("2")
    );
    // A partial resync keeps the client (and its id); CLIENT KILL ID takes that id.
    for ((flavor, _, r), first) in replicas.iter_mut().zip(&first_ids) {
        let line = master_lines(r, false).remove(0);
        let id = field(&line, "id").to_string();
        assert_eq!(&id, first, "{flavor:?}: {line}");
        let killed = cmds(r, &["CLIENT", "KILL", "ID", &id]);
        assert_eq!(killed.as_integer(), Some(1), "{flavor:?}");
    }
    wait_until("two more partial resyncs", || {
        info_field(&mut m, "stats", "sync_partial_ok").as_deref() == Some("4")
    });
}
