//! Redis Sentinel (redis-server 7.0.15 in `--sentinel` mode) watching a tandem-server
//! master with a redis-server replica, as operators run it:
//! - two sentinels find the replica (INFO replication) and each other (their hello
//!   messages go through Pub/Sub on the monitored instances);
//! - `SENTINEL FAILOVER` promotes the redis-server replica and turns the tandem-server
//!   master into a replica of it (Sentinel's MULTI / REPLICAOF / CONFIG REWRITE /
//!   CLIENT KILL / EXEC), which then syncs the new master's data.
//!
//! Every wait is a bounded poll; no timing assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::probe::{cmds, ok, text, wait_in_sync, wait_until};
use tandem_tests::server::ServerBuilder;
use tandem_tests::{Flavor, RespConn, ServerProcess};

/// One field of `SENTINEL MASTER mymaster` (a flat field/value array in RESP2).
fn master_field(s: &mut RespConn, name: &str) -> Option<String> {
    let reply = cmds(s, &["SENTINEL", "MASTER", "mymaster"]);
    let items: Vec<String> = reply.children.iter().map(text).collect();
    items
        .chunks(2)
        .find(|kv| kv.len() == 2 && kv[0] == name)
        .map(|kv| kv[1].clone())
}

fn start_sentinel(dir: &std::path::Path, n: usize, master_port: u16) -> ServerProcess {
    let conf = dir.join(format!("sentinel-{n}.conf"));
    std::fs::write(
        &conf,
        format!(
            "sentinel monitor mymaster 127.0.0.1 {master_port} 1\n\
             sentinel down-after-milliseconds mymaster 2000\n\
             sentinel failover-timeout mymaster 20000\n"
        ),
    )
    .unwrap();
    ServerBuilder::new(Flavor::Redis)
        .config_file(&conf)
        .arg("--sentinel")
        .start()
        .unwrap()
}

#[test]
fn sentinel_fails_a_tandem_master_over_to_its_redis_replica() {
    let master = ServerProcess::start(Flavor::Tandem, &[] as &[&str]).unwrap();
    let port = master.port().to_string();
    let replica =
        ServerProcess::start(Flavor::Redis, &["--replicaof", "127.0.0.1", &port]).unwrap();
    let mut m = master.connect().unwrap();
    let mut r = replica.connect().unwrap();
    ok(&mut m, &["SET", "before", "failover"]);
    wait_in_sync(&mut m, &mut r);

    let confs = tempfile::tempdir().unwrap();
    let s1 = start_sentinel(confs.path(), 1, master.port());
    let s2 = start_sentinel(confs.path(), 2, master.port());
    let mut c1 = s1.connect().unwrap();
    wait_until("the sentinels to see the replica and each other", || {
        master_field(&mut c1, "num-slaves").as_deref() == Some("1")
            && master_field(&mut c1, "num-other-sentinels").as_deref() == Some("1")
    });
    assert_eq!(master_field(&mut c1, "flags").as_deref(), Some("master"));

    assert_eq!(
        text(&cmds(&mut c1, &["SENTINEL", "FAILOVER", "mymaster"])),
        "OK"
    );
    let new_port = replica.port().to_string();
    wait_until("the replica to be the new master", || {
        let addr = cmds(
            &mut c1,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"],
        );
        addr.children.get(1).map(text).as_deref() == Some(new_port.as_str())
    });
    // The old master (tandem-server) is reconfigured as a replica of the new one.
    // Sentinel's reconfiguration ends with CLIENT KILL TYPE normal on each instance,
    // which closes these connections too: poll on fresh ones.
    wait_until("tandem-server to follow the new master", || {
        let Ok(mut fresh) = master.connect() else {
            return false;
        };
        let Ok(info) = fresh.command(&["INFO", "replication"]) else {
            return false;
        };
        let info = text(&info);
        info.contains(&format!("master_port:{new_port}\r\n"))
            && info.contains("master_link_status:up\r\n")
    });
    let mut m = master.connect().unwrap();
    let mut r = replica.connect().unwrap();
    ok(&mut r, &["SET", "after", "failover"]);
    wait_in_sync(&mut r, &mut m);
    assert_eq!(text(&cmds(&mut m, &["GET", "after"])), "failover");
    assert_eq!(text(&cmds(&mut m, &["GET", "before"])), "failover");
    drop(s2);
}
