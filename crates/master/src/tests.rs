//! Unit tests of the master role without a server: propagation bytes and offsets, and a
//! whole full resync, ACK and partial resync over an in-memory socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tandem_backlog::ReplicationIds;
use tandem_keyspace::{Expiry, Keyspace, KeyspaceConfig, StrValue, Value};
use tandem_rdb::{AuxFields, EncodeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn argv(v: &[&str]) -> Vec<Bytes> {
    v.iter().map(|s| b(s)).collect()
}

fn stream_bytes(m: &Master) -> Vec<u8> {
    m.backlog
        .bytes_from(m.backlog.first_byte_offset())
        .unwrap()
        .to_vec()
}

#[test]
fn no_backlog_no_stream() {
    let mut m = Master::new(ReplicationIds::new(), MasterConfig::default());
    m.also_propagate(0, argv(&["SET", "k", "v"]));
    assert!(m.flush(true).is_empty());
    assert_eq!(m.backlog.master_repl_offset(), 0);
    assert!(!m.backlog.is_active());
}

#[test]
fn select_and_multi_exec_wrapping() {
    let mut m = Master::new(ReplicationIds::new(), MasterConfig::default());
    m.backlog.create();
    // One command: SELECT then the command, not wrapped.
    m.also_propagate(2, argv(&["DEL", "a"]));
    m.flush(true);
    // Same db again: no SELECT.
    m.also_propagate(2, argv(&["DEL", "b"]));
    m.flush(true);
    // An EXEC with writes in two databases: MULTI after the first db's SELECT, EXEC last.
    m.begin_exec();
    m.also_propagate(3, argv(&["SET", "x", "1"]));
    assert!(m.flush(true).is_empty(), "nothing is fed inside EXEC");
    m.also_propagate(4, argv(&["SET", "y", "2"]));
    m.end_exec();
    // Without wrap (active expiry): not wrapped.
    m.also_propagate(4, argv(&["DEL", "e1"]));
    m.also_propagate(4, argv(&["DEL", "e2"]));
    m.flush(false);
    let expected = "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n\
                    *2\r\n$3\r\nDEL\r\n$1\r\nb\r\n\
                    *2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*1\r\n$5\r\nMULTI\r\n\
                    *3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n\
                    *2\r\n$6\r\nSELECT\r\n$1\r\n4\r\n*3\r\n$3\r\nSET\r\n$1\r\ny\r\n$1\r\n2\r\n\
                    *1\r\n$4\r\nEXEC\r\n\
                    *2\r\n$3\r\nDEL\r\n$2\r\ne1\r\n*2\r\n$3\r\nDEL\r\n$2\r\ne2\r\n";
    assert_eq!(String::from_utf8_lossy(&stream_bytes(&m)), expected);
    assert_eq!(m.backlog.master_repl_offset(), expected.len() as i64);
}

#[test]
fn commands_reach_only_the_feeds_they_are_sent_to() {
    let mut m = Master::new(ReplicationIds::new(), MasterConfig::default());
    m.backlog.create();
    m.set_aof(true);
    let aof_only = Targets {
        replicas: false,
        aof: true,
    };
    let replicas_only = Targets {
        replicas: true,
        aof: false,
    };
    let none = Targets {
        replicas: false,
        aof: false,
    };
    // Alone: the AOF gets it, the stream nothing (no SELECT either).
    m.also_propagate_to(0, argv(&["SET", "a", "1"]), aof_only);
    m.flush(true);
    assert!(stream_bytes(&m).is_empty());
    // Nowhere: nothing is recorded.
    m.also_propagate_to(0, argv(&["SET", "n", "1"]), none);
    assert!(!m.has_pending());
    // Two commands: both feeds get MULTI and EXEC, each its own command between.
    m.also_propagate_to(0, argv(&["SET", "b", "1"]), aof_only);
    m.also_propagate_to(0, argv(&["SET", "c", "1"]), replicas_only);
    m.flush(true);
    let stream = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\n$5\r\nMULTI\r\n\
                  *3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n1\r\n*1\r\n$4\r\nEXEC\r\n";
    assert_eq!(String::from_utf8_lossy(&stream_bytes(&m)), stream);
    let aof = String::from_utf8_lossy(&m.take_aof()).into_owned();
    assert!(aof.contains("$1\r\na\r\n") && aof.contains("$1\r\nb\r\n"));
    assert!(!aof.contains("$1\r\nc\r\n") && !aof.contains("$1\r\nn\r\n"));
    assert_eq!(aof.matches("MULTI").count(), 1);
}

#[test]
fn info_of_a_lone_master() {
    let m = Master::new(ReplicationIds::new(), MasterConfig::default());
    let mut s = String::new();
    m.write_info(&mut s);
    assert!(s.starts_with("connected_slaves:0\r\nmaster_failover_state:no-failover\r\n"));
    assert!(s.ends_with(
        "master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n\
         repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n"
    ));
}

#[test]
fn min_replicas() {
    let mut m = Master::new(ReplicationIds::new(), MasterConfig::default());
    assert!(m.write_allowed());
    m.config.min_replicas_to_write = 1;
    assert!(!m.write_allowed());
    m.config.min_replicas_max_lag = 0;
    assert!(m.write_allowed());
}

struct Events(Arc<Mutex<Master>>);

impl LinkEvents for Events {
    fn event(&self, id: u64, ev: LinkEvent) {
        self.0.lock().unwrap().link_event(id, ev);
    }
}

fn job(ks: &Keyspace) -> SnapshotJob {
    SnapshotJob {
        snapshot: ks.snapshot(),
        opts: EncodeOptions::default(),
        aux: AuxFields::default(),
        key_save_delay: 0,
        dir: std::env::temp_dir(),
    }
}

/// Reads from `r` until `buf` holds at least `n` bytes (bounded).
async fn read_at_least(r: &mut tokio::io::DuplexStream, buf: &mut Vec<u8>, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut chunk = [0u8; 4096];
    while buf.len() < n {
        let got = tokio::time::timeout_at(deadline, r.read(&mut chunk))
            .await
            .expect("timed out reading")
            .unwrap();
        assert!(got > 0, "closed");
        buf.extend_from_slice(&chunk[..got]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diskless_full_resync_then_partial() {
    let mut ks = Keyspace::new(KeyspaceConfig::default());
    ks.set(
        0,
        b("k"),
        Value::String(StrValue::from_bytes_for_set(b("v"))),
        Expiry::Clear,
    );
    let config = MasterConfig {
        diskless_sync_delay: Duration::ZERO,
        ..MasterConfig::default()
    };
    let master = Arc::new(Mutex::new(Master::new(ReplicationIds::new(), config)));
    let conf = ReplConf {
        listening_port: 7001,
        capa_eof: true,
        capa_psync2: true,
        ..ReplConf::default()
    };
    let args = argv(&["PSYNC", "?", "-1"]);
    let mut out = BytesMut::new();
    let outcome = master.lock().unwrap().sync(
        SyncRequest {
            client_id: 1,
            peer_ip: "127.0.0.1".into(),
            conf: &conf,
            args: &args,
        },
        &mut out,
        || job(&ks),
    );
    let SyncOutcome::Replica(task) = outcome else {
        panic!("not a replica: {outcome:?}")
    };
    assert!(out.is_empty(), "FULLRESYNC comes from the task");
    let replid = master.lock().unwrap().ids.replid().to_string();
    let (ours, mut theirs) = tokio::io::duplex(1 << 20);
    let events: Arc<dyn LinkEvents> = Arc::new(Events(master.clone()));
    let run = tokio::spawn(task.run(ours, BytesMut::new(), events));

    let head = format!("+FULLRESYNC {replid} 0\r\n$EOF:");
    let mut got = Vec::new();
    read_at_least(&mut theirs, &mut got, head.len() + 42).await;
    assert_eq!(&got[..head.len()], head.as_bytes());
    let mark = got[head.len()..head.len() + 40].to_vec();
    assert_eq!(&got[head.len() + 40..head.len() + 42], b"\r\n");
    // The RDB ends with the mark.
    while !got.ends_with(&mark) || got.len() < head.len() + 42 + 9 + 40 {
        let n = got.len() + 1;
        read_at_least(&mut theirs, &mut got, n).await;
    }
    let rdb = &got[head.len() + 42..got.len() - 40];
    assert!(rdb.starts_with(b"REDIS0010"));

    // A write made now is queued until the replica acknowledges.
    {
        let mut m = master.lock().unwrap();
        m.also_propagate(0, argv(&["SET", "a", "1"]));
        m.flush(true);
    }
    theirs
        .write_all(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n0\r\n")
        .await
        .unwrap();
    let expected = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
    let mut stream = Vec::new();
    read_at_least(&mut theirs, &mut stream, expected.len()).await;
    assert_eq!(&stream[..], &expected[..]);
    let offset = expected.len() as i64;
    theirs
        .write_all(format!("*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$2\r\n{offset}\r\n").as_bytes())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while master.lock().unwrap().count_acks(offset) != 1 {
        assert!(std::time::Instant::now() < deadline, "no ACK");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    {
        let m = master.lock().unwrap();
        assert_eq!(m.replicas()[0].state, ReplicaState::Online);
        assert_eq!(
            m.role_replicas(),
            vec![("127.0.0.1".to_string(), 7001, offset)]
        );
        assert_eq!(m.stats.sync_full, 1);
    }

    // The link drops; the replica comes back and continues from offset+1.
    drop(theirs);
    let _ = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap();
    let mut m = master.lock().unwrap();
    assert!(m.remove_replica(1));
    m.also_propagate(0, argv(&["DEL", "a"]));
    m.flush(true);
    let from = (offset + 1).to_string();
    let args = argv(&["PSYNC", &replid, &from]);
    let mut out = BytesMut::new();
    let outcome = m.sync(
        SyncRequest {
            client_id: 2,
            peer_ip: "127.0.0.1".into(),
            conf: &conf,
            args: &args,
        },
        &mut out,
        || panic!("no snapshot for a partial resync"),
    );
    assert!(matches!(outcome, SyncOutcome::Replica(_)));
    let expected = format!("+CONTINUE {replid}\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n");
    assert_eq!(String::from_utf8_lossy(&out), expected);
    assert_eq!(m.stats.sync_partial_ok, 1);
    // An unknown id is a full resync counted as a partial error.
    let args = argv(&["PSYNC", &"0".repeat(40), "1"]);
    let mut out = BytesMut::new();
    let outcome = m.sync(
        SyncRequest {
            client_id: 3,
            peer_ip: "127.0.0.1".into(),
            conf: &conf,
            args: &args,
        },
        &mut out,
        || job(&ks),
    );
    assert!(matches!(outcome, SyncOutcome::Replica(_)));
    assert_eq!(m.stats.sync_partial_err, 1);
    assert_eq!(m.stats.sync_full, 2);
}

#[test]
fn a_proxying_replica_keeps_its_backlog_and_names_the_stream_db() {
    let mut m = Master::new(ReplicationIds::new(), MasterConfig::default());
    m.config.backlog_ttl = Duration::from_secs(1);
    m.proxy_only = true;
    m.backlog.create_at(100).unwrap();
    // Its own propagation is dropped; the master's bytes go through unchanged.
    m.also_propagate(0, argv(&["SET", "own", "1"]));
    assert!(m.flush(true).is_empty());
    let raw = b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n";
    assert!(m.feed_proxied(raw).is_empty());
    m.set_stream_db(3);
    assert_eq!(stream_bytes(&m), raw.to_vec());
    let aux = m.rdb_repl_aux().unwrap();
    assert_eq!((aux.stream_db, aux.offset), (3, 100 + raw.len() as i64));
    // repl-backlog-ttl applies only to masters.
    let now = std::time::Instant::now();
    m.backlog.set_no_replicas_since(Some(now));
    let later = now + Duration::from_secs(10);
    m.cron(now, || job(&Keyspace::new(KeyspaceConfig::default())));
    m.cron(later, || job(&Keyspace::new(KeyspaceConfig::default())));
    assert!(m.backlog.is_active());
    // Promoted: the first write of its own is preceded by SELECT.
    m.proxy_only = false;
    m.reset_selected_db();
    m.also_propagate(3, argv(&["SET", "a", "1"]));
    m.flush(true);
    assert!(stream_bytes(&m)
        .ends_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"));
}

/// A `PSYNC <replid> <offset>` that continues; returns the task (kept alive by the caller,
/// as the server keeps it running) and the reply.
fn continue_at(m: &mut Master, client_id: u64, offset: i64) -> (SyncOutcome, String) {
    let conf = ReplConf {
        capa_eof: true,
        capa_psync2: true,
        ..ReplConf::default()
    };
    let replid = m.ids.replid().to_string();
    let args = argv(&["PSYNC", &replid, &(offset + 1).to_string()]);
    let mut out = BytesMut::new();
    let outcome = m.sync(
        SyncRequest {
            client_id,
            peer_ip: "127.0.0.1".into(),
            conf: &conf,
            args: &args,
        },
        &mut out,
        || panic!("no snapshot for a partial resync"),
    );
    assert!(matches!(outcome, SyncOutcome::Replica(_)), "{outcome:?}");
    (outcome, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn a_batch_reaches_replicas_at_its_end_and_a_replica_attaching_meanwhile_gets_only_what_follows() {
    let mut m = Master::new(ReplicationIds::new(), MasterConfig::default());
    m.backlog.create_at(0).unwrap();
    let (_a, reply) = continue_at(&mut m, 1, 0);
    assert!(reply.starts_with("+CONTINUE "));
    let pending = |m: &Master, id: u64| {
        m.replicas()
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.pending_bytes())
            .unwrap()
    };

    m.begin_batch();
    m.also_propagate(0, argv(&["SET", "a", "1"]));
    assert!(m.flush(true).is_empty());
    let first = m.backlog.master_repl_offset();
    assert!(first > 0, "the backlog and the offset move at once");
    assert_eq!(pending(&m, 1), 0, "held until the batch ends");

    // Attaching mid-batch: what was fed before is for replica 1 only.
    let (_b, reply) = continue_at(&mut m, 2, first);
    assert_eq!(reply, format!("+CONTINUE {}\r\n", m.ids.replid()));
    assert_eq!(pending(&m, 1), first as usize);

    m.also_propagate(0, argv(&["SET", "b", "2"]));
    m.flush(true);
    assert_eq!(pending(&m, 2), 0);
    assert!(m.end_batch().is_empty());
    let end = m.backlog.master_repl_offset();
    let set_b = b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n".len() as i64;
    assert_eq!(end - first, set_b);
    assert_eq!(pending(&m, 1), end as usize);
    assert_eq!(pending(&m, 2), set_b as usize);

    // Outside a batch, each unit is handed over at once.
    m.also_propagate(0, argv(&["DEL", "a"]));
    m.flush(true);
    let end2 = m.backlog.master_repl_offset();
    assert_eq!(pending(&m, 2), (end2 - first) as usize);
}

#[test]
fn held_size_follows_jemalloc_size_classes() {
    use crate::link::held_size;
    assert_eq!(held_size(1), 8);
    assert_eq!(held_size(17), 32);
    assert_eq!(held_size(128), 128);
    assert_eq!(held_size(129), 160);
    assert_eq!(held_size(4096), 4096);
    assert_eq!(held_size(4097), 5120);
    assert_eq!(held_size(1024 * 1024 + 43), 1280 * 1024);
}
