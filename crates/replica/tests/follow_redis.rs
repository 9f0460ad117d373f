//! The follower against a real redis-server 7.0.15 master: full sync (disk
//! and diskless), the command stream with offsets equal to the master's,
//! partial resync after the master kills the link, a wrong password, and
//! faults injected by a proxy (bad payload header, truncated transfer).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{wait_until, Fault, Proxy, Recorder, Redis};
use tandem_replica::{
    CachedMaster, FailoverPsync, Follower, FollowerConfig, LinkState, PayloadKind, RdbFileConfig,
    ShutdownHandle, StatusHandle,
};

const PRELOAD: &str = "for i=1,300 do redis.call('set','key:'..i,i) end \
    redis.call('hset','h','f1','v1','f2','v2') \
    redis.call('set','ttl','x','PX',100000) \
    return 1";

fn preload(m: &Redis) {
    assert_eq!(m.cli(&["EVAL", PRELOAD, "0"]), "1");
    assert_eq!(m.cli(&["-n", "1", "RPUSH", "list", "a", "b", "c"]), "3");
}

struct Running {
    stop: ShutdownHandle,
    status: StatusHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.shutdown();
        tokio::time::timeout(std::time::Duration::from_secs(10), self.task)
            .await
            .expect("follower stops")
            .unwrap();
    }
}

fn config(port: u16) -> FollowerConfig {
    let mut c = FollowerConfig::new("127.0.0.1", port);
    c.listening_port = 6399;
    c.reconnect_delay = std::time::Duration::from_millis(200);
    c.repl_timeout = std::time::Duration::from_secs(20);
    c
}

fn spawn(config: FollowerConfig, rec: &Recorder) -> Running {
    let mut follower = Follower::new(config).unwrap();
    let stop = follower.shutdown_handle();
    let status = follower.status();
    let mut handler = rec.clone();
    let task = tokio::spawn(async move { follower.run(&mut handler).await });
    Running { stop, status, task }
}

/// Wait until the follower's applied offset equals the master's offset.
async fn wait_offsets_equal(m: &Redis, run: &Running) {
    wait_until("follower offset == master_repl_offset", || {
        let master = m.info_i64("master_repl_offset");
        master > 0 && run.status.snapshot().offset == master
    })
    .await;
}

async fn full_then_stream_then_partial(diskless: bool) {
    let yes_no = if diskless { "yes" } else { "no" };
    let m = Redis::start(&["--repl-diskless-sync", yes_no]);
    preload(&m);

    let rec = Recorder::default();
    let rdb_dir = tempfile::tempdir().unwrap();
    let mut cfg = config(m.port);
    cfg.rdb_file = Some(RdbFileConfig::new(rdb_dir.path()));
    let run = spawn(cfg, &rec);

    wait_until("full sync done", || !rec.0.lock().done.is_empty()).await;
    {
        let seen = rec.0.lock();
        let start = &seen.full_starts[0];
        let expected_kind = if diskless {
            PayloadKind::EofMarked
        } else {
            PayloadKind::Sized(0)
        };
        assert_eq!(
            std::mem::discriminant(&start.payload),
            std::mem::discriminant(&expected_kind)
        );
        assert_eq!(start.replid.as_deref().map(str::len), Some(40));
        let keys = seen.rdb_keys();
        assert_eq!(keys.len(), 300 + 3, "{keys:?}");
        assert!(keys.contains(&(0, "key:1".to_owned())));
        assert!(keys.contains(&(0, "key:300".to_owned())));
        assert!(keys.contains(&(0, "h".to_owned())));
        assert!(keys.contains(&(1, "list".to_owned())));
        let ttl = seen.items.iter().find_map(|i| match i {
            tandem_rdb::Item::Entry(e) if &e.key[..] == b"ttl" => Some(e.expire_ms),
            _ => None,
        });
        assert!(matches!(ttl, Some(Some(_))));
        // The payload was also kept on disk, renamed, with no temp file left.
        assert_eq!(seen.saved.len(), 1);
        let names: Vec<String> = std::fs::read_dir(rdb_dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["dump.rdb".to_owned()]);
        let file = std::fs::read(&seen.saved[0]).unwrap();
        assert_eq!(file.len() as u64, seen.done[0].payload_bytes);
        assert_eq!(tandem_rdb::decode_all(&file).unwrap().entries.len(), 303);
    }
    assert_eq!(m.info_i64("sync_full"), 1);

    // The stream: commands in two databases, a transaction, offsets equal.
    m.cli(&["SET", "after", "1"]);
    m.cli(&["-n", "1", "LPUSH", "list", "z"]);
    m.cli(&[
        "EVAL",
        "redis.call('set','s1','1') redis.call('set','s2','2')",
        "0",
    ]);
    wait_offsets_equal(&m, &run).await;
    {
        let seen = rec.0.lock();
        let cmds = seen.data_commands();
        assert!(cmds.contains(&(0, "SET after 1".to_owned())), "{cmds:?}");
        assert!(cmds.contains(&(1, "LPUSH list z".to_owned())), "{cmds:?}");
        let tx: Vec<String> = seen
            .commands
            .iter()
            .filter(|c| c.in_transaction)
            .map(|c| c.name())
            .collect();
        assert_eq!(tx, ["multi", "set", "set", "exec"]);
        // Offsets grow by each command's raw length.
        for pair in seen.commands.windows(2) {
            assert_eq!(pair[1].offset, pair[0].offset + pair[1].raw.len() as i64);
        }
        let last = seen.commands.last().unwrap();
        assert_eq!(last.offset, m.info_i64("master_repl_offset"));
    }
    // The master sees our ACKs (sent every second).
    wait_until("master sees the follower's ACK", || {
        let offset = m.info_i64("master_repl_offset");
        m.info_field(&[], "slave0")
            .is_some_and(|s| s.contains(&format!("offset={offset},")) && s.contains("port=6399"))
    })
    .await;

    // The master kills the link: the follower continues with PSYNC.
    let killed = m.cli(&["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed, "1");
    wait_until("partial resync", || m.info_i64("sync_partial_ok") == 1).await;
    wait_until("handler saw +CONTINUE", || {
        !rec.0.lock().continues.is_empty()
    })
    .await;
    m.cli(&["SET", "after-resync", "2"]);
    wait_offsets_equal(&m, &run).await;
    {
        let seen = rec.0.lock();
        assert_eq!(seen.done.len(), 1, "no second full sync");
        assert!(seen
            .data_commands()
            .contains(&(0, "SET after-resync 2".to_owned())));
        assert_eq!(
            seen.continues[0].replid,
            seen.done[0].replid.clone().unwrap()
        );
    }
    assert_eq!(m.info_i64("sync_full"), 1);
    let st = run.status.snapshot();
    assert_eq!(st.state, LinkState::Connected);
    assert_eq!(st.full_syncs, 1);
    assert_eq!(st.partial_syncs, 1);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diskless_master_full_sync_stream_and_partial_resync() {
    full_then_stream_then_partial(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_master_full_sync_stream_and_partial_resync() {
    full_then_stream_then_partial(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_masterauth_is_reported_and_retried() {
    let m = Redis::start(&["--requirepass", "secret"]);
    let rec = Recorder::default();
    let mut cfg = config(m.port);
    cfg.master_auth = Some("wrong".to_owned());
    let run = spawn(cfg, &rec);
    wait_until("two AUTH failures", || rec.0.lock().auth_errors >= 2).await;
    {
        let seen = rec.0.lock();
        assert!(seen.link_down[0].starts_with("Unable to AUTH to MASTER: -WRONGPASS"));
        assert!(seen.done.is_empty());
    }
    run.stop().await;

    // The right password (with the default user) syncs.
    let rec = Recorder::default();
    let mut cfg = config(m.port);
    cfg.master_auth = Some("secret".to_owned());
    cfg.master_user = Some("default".to_owned());
    let run = spawn(cfg, &rec);
    wait_until("full sync with the right password", || {
        !rec.0.lock().done.is_empty()
    })
    .await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payload_header_is_retried() {
    let m = Redis::start(&["--repl-diskless-sync", "no"]);
    preload(&m);
    let proxy = Proxy::start(m.port, Fault::CorruptHeader).await;
    let rec = Recorder::default();
    let run = spawn(config(proxy.port), &rec);
    wait_until("full sync after the retry", || {
        !rec.0.lock().done.is_empty()
    })
    .await;
    {
        let seen = rec.0.lock();
        assert_eq!(seen.header_errors, 1, "{:?}", seen.link_down);
        assert!(seen.link_down[0].starts_with("Bad protocol from MASTER"));
        assert_eq!(seen.rdb_keys().len(), 303);
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_transfer_keeps_state_and_retries() {
    for diskless in ["yes", "no"] {
        let m = Redis::start(&["--repl-diskless-sync", diskless]);
        preload(&m);
        let proxy = Proxy::start(m.port, Fault::TruncateAfter(1000)).await;
        let rec = Recorder::default();
        let rdb_dir = tempfile::tempdir().unwrap();
        let mut cfg = config(proxy.port);
        cfg.rdb_file = Some(RdbFileConfig::new(rdb_dir.path()));
        // A cached master the master does not know: PSYNC falls back to a full sync.
        let cached = CachedMaster {
            replid: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            offset: 41,
        };
        cfg.cached_master = Some(cached.clone());
        let run = spawn(cfg, &rec);
        wait_until("full sync after the retry", || {
            !rec.0.lock().done.is_empty()
        })
        .await;
        {
            let seen = rec.0.lock();
            assert_eq!(seen.aborted.len(), 1, "{:?}", seen.link_down);
            assert_eq!(seen.full_starts.len(), 2);
            assert_eq!(seen.rdb_keys().len(), 303);
        }
        // The failed transfer left the cached master alone: the retry asked for
        // the same partial resync.
        let psyncs = proxy.psyncs();
        assert!(psyncs.len() >= 2, "{psyncs:?}");
        assert!(psyncs[0].contains(&cached.replid) && psyncs[0].contains("$2 42"));
        assert_eq!(psyncs[0], psyncs[1]);
        // No temp file left behind, the final file is complete.
        let names: Vec<String> = std::fs::read_dir(rdb_dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["dump.rdb".to_owned()]);
        run.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_saved_without_decoding() {
    let m = Redis::start(&["--repl-diskless-sync", "yes"]);
    preload(&m);
    let rec = Recorder::default();
    let rdb_dir = tempfile::tempdir().unwrap();
    let mut cfg = config(m.port);
    cfg.decode_rdb = false;
    cfg.rdb_file = Some(RdbFileConfig::new(rdb_dir.path()));
    let run = spawn(cfg, &rec);
    wait_until("full sync done", || !rec.0.lock().done.is_empty()).await;
    {
        let seen = rec.0.lock();
        assert!(seen.items.is_empty());
        let file = std::fs::read(&seen.saved[0]).unwrap();
        assert_eq!(file.len() as u64, seen.done[0].payload_bytes);
        assert_eq!(tandem_rdb::decode_all(&file).unwrap().entries.len(), 303);
    }
    m.cli(&["SET", "after", "1"]);
    wait_offsets_equal(&m, &run).await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nomasterlink_is_retried_later() {
    // A Redis replica whose own master is down answers PSYNC with -NOMASTERLINK.
    let dead = common::free_port().to_string();
    let m = Redis::start(&["--replicaof", "127.0.0.1", &dead]);
    let rec = Recorder::default();
    let run = spawn(config(m.port), &rec);
    wait_until("two -NOMASTERLINK retries", || {
        rec.0
            .lock()
            .link_down
            .iter()
            .filter(|e| e.contains("-NOMASTERLINK"))
            .count()
            >= 2
    })
    .await;
    assert!(rec.0.lock().full_starts.is_empty());
    let st = run.status.snapshot();
    assert!(st.attempts >= 2);
    assert_eq!(st.state.link_status(), "down");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_psync_refused_by_a_master() {
    // A master refuses `PSYNC ... FAILOVER`: the follower reports it and ends the attempt
    // without falling back to SYNC; its next attempt is an ordinary PSYNC.
    let m = Redis::start(&[]);
    let rec = Recorder::default();
    let mut cfg = config(m.port);
    cfg.failover = true;
    cfg.cached_master = Some(CachedMaster {
        replid: "0123456789012345678901234567890123456789".into(),
        offset: 10,
    });
    let run = spawn(cfg, &rec);
    wait_until("a full sync after the refusal", || {
        !rec.0.lock().done.is_empty()
    })
    .await;
    {
        let seen = rec.0.lock();
        assert_eq!(
            seen.failover,
            vec![FailoverPsync::Rejected(
                "-ERR PSYNC FAILOVER can't be sent to a master.".into()
            )]
        );
        assert_eq!(
            seen.link_down.first().map(String::as_str),
            Some(
                "Failover target rejected psync request: \
                 -ERR PSYNC FAILOVER can't be sent to a master."
            )
        );
        assert_eq!(seen.full_starts.len(), 1);
    }
    run.stop().await;
}
