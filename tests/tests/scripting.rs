//! Lua scripts beyond single replies (those are in `tests/diff/scripting.txt`): a
//! script's effects reach a redis-server replica of a tandem-server master and the AOF,
//! across databases and inside transactions. Slow scripts (`-BUSY`, SCRIPT KILL) are in
//! `busy_script.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::probe::{assert_same_data, cmds, digest, info_field, ok, text, wait_until};
use tandem_tests::{Flavor, RespConn, ServerProcess};

const SCRIPT: &str = "
local n = redis.call('incr', KEYS[1])
redis.call('rpush', KEYS[2], ARGV[1], n)
redis.call('select', 5)
redis.call('hset', 'h', ARGV[1], n)
redis.call('set', 'ttl', n, 'EX', 1000)
return n";

fn run_scripts(c: &mut RespConn) {
    for i in 0..20 {
        let arg = format!("a{i}");
        let reply = cmds(c, &["EVAL", SCRIPT, "2", "counter", "list", &arg]);
        assert_eq!(reply.as_integer(), Some(i + 1), "{reply:?}");
    }
    let sha = text(&cmds(c, &["SCRIPT", "LOAD", SCRIPT]));
    ok(c, &["MULTI"]);
    cmds(c, &["EVALSHA", &sha, "2", "counter", "list", "tx"]);
    cmds(c, &["SET", "plain", "1"]);
    cmds(c, &["EXEC"]);
    // A script that only reads propagates nothing; one whose call fails stops there.
    cmds(c, &["EVAL", "return redis.call('get', 'counter')", "0"]);
    let failed = cmds(
        c,
        &[
            "EVAL",
            "redis.call('set', 'x', 1) redis.call('incr', 'list')",
            "0",
        ],
    );
    assert!(failed.is_error(), "{failed:?}");
}

#[test]
fn script_effects_reach_a_redis_replica() {
    let master = ServerProcess::start(Flavor::Tandem, &["--enable-debug-command", "yes"]).unwrap();
    let replica = ServerProcess::redis_replica_of(&master).unwrap();
    let mut m = master.connect().unwrap();
    let mut r = replica.connect().unwrap();
    wait_until("the replica to be online", || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    });
    run_scripts(&mut m);
    assert_same_data(&mut m, &mut r);
    assert_eq!(text(&cmds(&mut r, &["GET", "x"])), "1");
}

#[test]
fn script_effects_are_in_the_aof() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let args = [
        "--enable-debug-command",
        "yes",
        "--dir",
        &d,
        "--appendonly",
        "yes",
    ];
    let server = ServerProcess::start(Flavor::Tandem, &args).unwrap();
    let mut c = server.connect().unwrap();
    run_scripts(&mut c);
    let want = digest(&mut c);
    drop(c);
    drop(server);
    let server = ServerProcess::start(Flavor::Tandem, &args).unwrap();
    let mut c = server.connect().unwrap();
    wait_until("the AOF to load", || {
        info_field(&mut c, "persistence", "loading").as_deref() == Some("0")
    });
    assert_eq!(digest(&mut c), want);
}

/// INFO errorstats, `total_error_replies` and the commands' failed and rejected calls after
/// `script`, with the statistics reset before it.
fn error_stats_after(c: &mut RespConn, script: &str) -> Vec<String> {
    ok(c, &["CONFIG", "RESETSTAT"]);
    ok(c, &["SET", "s", "x"]);
    cmds(c, &["EVAL", script, "0"]);
    let mut out = Vec::new();
    for section in ["stats", "errorstats", "commandstats"] {
        let info = text(&cmds(c, &["INFO", section]));
        for line in info.lines() {
            if line.starts_with("total_error_replies") || line.starts_with("errorstat_") {
                out.push(line.to_owned());
            }
            // Calls and failures, without the times.
            if let Some((name, rest)) = line
                .strip_prefix("cmdstat_")
                .and_then(|l| l.split_once(':'))
            {
                let field = |k: &str| {
                    rest.split(',')
                        .find_map(|kv| kv.strip_prefix(k))
                        .unwrap_or_default()
                        .to_owned()
                };
                out.push(format!(
                    "{name} calls{} rejected{} failed{}",
                    field("calls="),
                    field("rejected_calls="),
                    field("failed_calls=")
                ));
            }
        }
    }
    out.sort();
    out
}

/// Errors inside scripts are counted once, where they happen, as Redis counts them: a
/// failed call when its command fails (or a check refuses it), not again when the script
/// returns or raises it (`ignore_error_stats_update`); an error table the script makes
/// itself when it is replied, at any depth. The script's own command fails when it
/// replies with an error, not when a call inside it failed.
#[test]
fn errors_in_scripts_are_counted_like_redis() {
    let scripts = [
        "return redis.pcall('incr', 's')",
        "return redis.call('incr', 's')",
        "local r = redis.pcall('incr', 's') return 1",
        "return {err = 'MY own'}",
        "return redis.error_reply('MY x')",
        "error({err = 'Z q'})",
        "error('plain')",
        "return redis.pcall('nosuch')",
        "return redis.call('nosuch')",
        "return redis.pcall('get')",
        "return redis.call()",
        "return {1, {err = 'A b'}, redis.pcall('incr', 's'), redis.pcall('nosuch')}",
    ];
    let tandem = ServerProcess::start(Flavor::Tandem, &[] as &[&str]).unwrap();
    let redis = ServerProcess::start(Flavor::Redis, &[] as &[&str]).unwrap();
    let mut t = tandem.connect().unwrap();
    let mut r = redis.connect().unwrap();
    for script in scripts {
        assert_eq!(
            error_stats_after(&mut t, script),
            error_stats_after(&mut r, script),
            "after {script}"
        );
    }
}

/// `used_memory_lua` and `used_memory_scripts_eval` follow the script cache as in Redis:
/// they grow as scripts are cached and fall back at SCRIPT FLUSH.
#[test]
fn script_memory_follows_the_cache() {
    for flavor in [Flavor::Tandem, Flavor::Redis] {
        let server = ServerProcess::start(flavor, &[] as &[&str]).unwrap();
        let mut c = server.connect().unwrap();
        let read = |c: &mut RespConn, field: &str| -> u64 {
            info_field(c, "memory", field).unwrap().parse().unwrap()
        };
        let (lua0, cache0) = (
            read(&mut c, "used_memory_lua"),
            read(&mut c, "used_memory_scripts_eval"),
        );
        for i in 0..300 {
            cmds(
                &mut c,
                &["SCRIPT", "LOAD", &format!("return {{'{i}', {i}}}")],
            );
        }
        let (lua1, cache1) = (
            read(&mut c, "used_memory_lua"),
            read(&mut c, "used_memory_scripts_eval"),
        );
        assert!(
            lua1 > lua0 && cache1 > cache0,
            "{flavor:?}: {lua0}->{lua1}, {cache0}->{cache1}"
        );
        ok(&mut c, &["SCRIPT", "FLUSH"]);
        let (lua2, cache2) = (
            read(&mut c, "used_memory_lua"),
            read(&mut c, "used_memory_scripts_eval"),
        );
        assert!(
            lua2 < lua1 && cache2 < cache1,
            "{flavor:?}: {lua1}->{lua2}, {cache1}->{cache2}"
        );
    }
}

/// Whether `CLIENT PAUSE WRITE` holds `args` back: sent by a second client while the
/// pause lasts, it gets no reply within a short wait, and its reply once the pause is
/// lifted.
fn held_by_pause_write(server: &ServerProcess, args: &[&str]) -> bool {
    let mut admin = server.connect().unwrap();
    let mut c = server.connect().unwrap();
    ok(&mut admin, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    c.set_timeout(std::time::Duration::from_millis(300));
    c.send(args).unwrap();
    let held = match c.read_reply() {
        Err(tandem_tests::HarnessError::Timeout(_)) => true,
        Ok(_) => false,
        Err(e) => panic!("{args:?}: {e}"),
    };
    ok(&mut admin, &["CLIENT", "UNPAUSE"]);
    if held {
        c.set_timeout(std::time::Duration::from_secs(10));
        let after = c.read_reply();
        assert!(
            after.is_ok(),
            "{args:?}: no reply after the pause: {after:?}"
        );
    }
    held
}

/// CLIENT PAUSE WRITE holds back what may write or replicate, as Redis 7.0 judges it: a
/// script without a shebang (EVAL may replicate), one that may write, PFCOUNT and
/// PUBLISH (`may_replicate`); not EVAL_RO, a script declaring no-writes, or a read.
#[test]
fn client_pause_write_holds_scripts_and_may_replicate_commands() {
    let cases: [(&[&str], bool); 7] = [
        (&["EVAL", "return 1", "0"], true),
        (&["EVAL", "#!lua\nreturn 1", "0"], true),
        (&["EVAL", "#!lua flags=no-writes\nreturn 1", "0"], false),
        (&["EVAL_RO", "return 1", "0"], false),
        (&["PFCOUNT", "h"], true),
        (&["PUBLISH", "ch", "m"], true),
        (&["GET", "x"], false),
    ];
    let tandem = ServerProcess::start(Flavor::Tandem, &[] as &[&str]).unwrap();
    let redis = ServerProcess::start(Flavor::Redis, &[] as &[&str]).unwrap();
    for (args, want) in cases {
        assert_eq!(held_by_pause_write(&redis, args), want, "redis: {args:?}");
        assert_eq!(held_by_pause_write(&tandem, args), want, "tandem: {args:?}");
    }
}

/// SLOWLOG entries of a script: the EVAL, and each command it ran, from Redis's Lua
/// client (`?:0`, no name).
#[test]
fn slowlog_shows_script_commands_from_the_lua_client() {
    let entries = |flavor: Flavor| -> Vec<String> {
        let server = ServerProcess::start(flavor, &[] as &[&str]).unwrap();
        let mut c = server.connect().unwrap();
        ok(&mut c, &["CLIENT", "SETNAME", "caller"]);
        ok(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        ok(&mut c, &["SLOWLOG", "RESET"]);
        cmds(
            &mut c,
            &["EVAL", "redis.call('set', 'k', 'v') return 1", "0"],
        );
        let reply = cmds(&mut c, &["SLOWLOG", "GET", "-1"]);
        let mut out = Vec::new();
        for entry in &reply.children {
            let fields = &entry.children;
            let args: Vec<String> = fields[3]
                .children
                .iter()
                .map(|a| a.as_string().unwrap())
                .collect();
            let peer = fields[4].as_string().unwrap();
            let peer = if peer.starts_with("127.0.0.1:") {
                "client".to_owned()
            } else {
                peer
            };
            out.push(format!(
                "{} from {peer} named {:?}",
                args.join(" "),
                fields[5].as_string().unwrap()
            ));
        }
        out
    };
    assert_eq!(entries(Flavor::Tandem), entries(Flavor::Redis));
}
