//! `cargo xtask bench fullsync` and `cargo xtask bench repl-load`: replication
//! measured against redis-server in the same run (the replication issues' targets).
//!
//! Both plug into [`crate::bench`]'s harness as [`crate::bench::Benchmark`]s and start
//! fresh processes with [`Ctx::spawn_server`], killed on return. `fullsync` is a whole
//! plan: the harness calls it once per side and repetition (it ignores the shared server
//! it is given, only its side matters). `repl-load` is a paired plan: one call per
//! repetition runs both sides' topologies side by side and takes each load's two figures
//! back to back, so a row's ratio is the median of per-pair ratios.
//!
//! * `fullsync`: `--keys` keys (default a million) with 100-byte values, filled with
//!   `DEBUG POPULATE <keys> key 100`, then one full sync, disk (`repl-diskless-sync no`)
//!   and diskless (`yes`), in two set-ups: (a) the side under test is the master and a
//!   redis-server the replica; (b) a redis-server is the master and the side under test
//!   the replica. Measured from sending REPLICAOF until the replica shows
//!   `master_link_status:up` and DBSIZE equals the key count: the time, the peak RSS of
//!   the master's process tree (VmRSS of the server plus its children, so Redis's fork
//!   child counts, sampled every 10 ms), the peak RSS of the replica's tree, and, in (a)
//!   only, the worst PING round trip of a client looping on the master meanwhile. In (b)
//!   the master is Redis on both sides, so its latency says nothing about the side under
//!   test, and a client looping on it would take a core from the replica being measured
//!   (the benchmark machines have two): (b) measures the sync time and the replica's RSS.
//! * `repl-load`: `redis-benchmark -t set -c 50 -r 1000000 -d 100 -n <--requests>` with
//!   `-P 1` and `-P 16` on a master of the side under test with 0, 1 and 2 redis-server
//!   replicas attached (a tandem-server master and a redis-server master, each with its
//!   own replicas, run at once; each load runs on one then the other), and the largest
//!   lag in bytes seen during each run: every 20 ms the sampler reads each replica's
//!   applied offset (`master_repl_offset` in the replica's own INFO replication), then
//!   the master's `master_repl_offset`, and takes the difference (the writes made between
//!   the two reads count as lag, alike on both sides). The offsets replicas acknowledge
//!   to the master would not do: they ACK once a second, so that difference grows with
//!   the throughput rather than with how far behind a replica is.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use crate::bench::{
    expect_int, expect_status, info_field, one_free_port, parse_vm_rss, percentile, Ctx, Ratio,
    Reply, RespClient, Sample, Server, Side,
};

/// Value size of both benchmarks' data, in bytes.
const VALUE_SIZE: u64 = 100;
/// Bound on one full sync, on filling a master, and on replicas catching up.
const SYNC_LIMIT: Duration = Duration::from_secs(600);
/// Interval of the RSS sampler and of the "sync done" poll.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
/// Interval of the lag sampler of `repl-load`.
const LAG_EVERY: Duration = Duration::from_millis(20);
/// How long the PING client runs before REPLICAOF is sent.
const WARMUP: Duration = Duration::from_millis(200);

/// `repl-diskless-sync` of the master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Disk,
    Diskless,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Disk => "disk",
            Mode::Diskless => "diskless",
        }
    }

    fn diskless_sync(self) -> &'static str {
        match self {
            Mode::Disk => "no",
            Mode::Diskless => "yes",
        }
    }
}

/// The `fullsync` benchmark for one side (see the module docs).
pub fn fullsync(ctx: &Ctx, shared: &Server) -> Result<Vec<Sample>> {
    let side = shared.side;
    let mut samples = Vec::new();
    for mode in [Mode::Disk, Mode::Diskless] {
        // (a) the side under test is the master of a redis-server replica.
        let run = sync_once(ctx, side, Side::Redis, mode, Pings::On)?;
        eprintln!(
            "    [{}] master -> redis replica, {}: {:.3} s, master peak RSS {:.1} MiB, max PING {:.2} ms",
            side.label(),
            mode.label(),
            run.time.as_secs_f64(),
            mib(run.master_peak),
            run.ping_max_ms()
        );
        samples.extend(run.samples(&format!("as master, {}", mode.label()), false));
        // (b) a redis-server master, the side under test its replica.
        let run = sync_once(ctx, Side::Redis, side, mode, Pings::Off)?;
        eprintln!(
            "    [{}] redis master -> replica, {}: {:.3} s, replica peak RSS {:.1} MiB",
            side.label(),
            mode.label(),
            run.time.as_secs_f64(),
            mib(run.replica_peak),
        );
        samples.extend(run.samples(&format!("as replica, {}", mode.label()), true));
    }
    Ok(samples)
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// Whether a client loops on PING against the master during a sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pings {
    On,
    Off,
}

/// What one full sync showed.
struct SyncRun {
    /// REPLICAOF sent until link up with every key.
    time: Duration,
    /// Master tree RSS when REPLICAOF was sent.
    master_base: f64,
    /// Peak of the master tree's RSS during the sync.
    master_peak: f64,
    /// VmHWM of the master process after the sync (since its start, fill included).
    master_hwm: f64,
    /// Largest number of children the master had at one sample (Redis's fork).
    master_children: usize,
    /// Peak of the replica tree's RSS during the sync.
    replica_peak: f64,
    /// PING round trips on the master that ended after REPLICAOF was sent, in ms (none
    /// with [`Pings::Off`]).
    pings_ms: Vec<f64>,
}

impl SyncRun {
    fn ping_max_ms(&self) -> f64 {
        self.pings_ms.iter().copied().fold(0.0, f64::max)
    }

    fn samples(&self, prefix: &str, replica_rss: bool) -> Vec<Sample> {
        let details = json!({
            "master_rss_at_replicaof": self.master_base,
            "master_vmhwm_after": self.master_hwm,
            "master_children_max": self.master_children,
            "replica_peak_rss": self.replica_peak,
            "pings": self.pings_ms.len(),
            "ping_p50_ms": percentile(&self.pings_ms, 50.0),
            "ping_p99_ms": percentile(&self.pings_ms, 99.0),
            "ping_max_ms": self.ping_max_ms(),
        });
        let mut out = vec![
            sample(
                &format!("{prefix}: sync time"),
                "s",
                self.time.as_secs_f64(),
                &details,
            ),
            sample(
                &format!("{prefix}: master peak RSS"),
                "bytes",
                self.master_peak,
                &details,
            ),
            sample(
                &format!("{prefix}: master RSS growth"),
                "bytes",
                (self.master_peak - self.master_base).max(0.0),
                &details,
            ),
        ];
        if replica_rss {
            out.push(sample(
                &format!("{prefix}: replica peak RSS"),
                "bytes",
                self.replica_peak,
                &details,
            ));
        }
        if !self.pings_ms.is_empty() {
            out.push(sample(
                &format!("{prefix}: max PING latency on master"),
                "ms",
                self.ping_max_ms(),
                &details,
            ));
            out.push(sample(
                &format!("{prefix}: p99 PING latency on master"),
                "ms",
                percentile(&self.pings_ms, 99.0),
                &details,
            ));
        }
        out
    }
}

/// A sample compared as `tandem/redis` (every row of these benchmarks is).
fn sample(metric: &str, unit: &'static str, value: f64, details: &Value) -> Sample {
    Sample {
        metric: metric.to_owned(),
        unit,
        value,
        ratio: Ratio::TandemOverRedis,
        details: match details {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        },
    }
}

/// Starts a filled master of `master_side` and an empty replica of `replica_side`,
/// then measures one full sync.
fn sync_once(
    ctx: &Ctx,
    master_side: Side,
    replica_side: Side,
    mode: Mode,
    pings: Pings,
) -> Result<SyncRun> {
    let keys = ctx.keys;
    let master = ctx.spawn_server(
        master_side,
        one_free_port()?,
        &[
            "--enable-debug-command",
            "yes",
            "--repl-diskless-sync",
            mode.diskless_sync(),
            "--repl-diskless-sync-delay",
            "0",
        ],
    )?;
    populate(master.port, keys)?;
    let replica = ctx.spawn_server(replica_side, one_free_port()?, &[])?;
    let run = measure_sync(&master, &replica, keys, pings);
    drop(replica);
    drop(master);
    run
}

/// `DEBUG POPULATE <keys> key 100`, checked with DBSIZE.
fn populate(port: u16, keys: u64) -> Result<()> {
    let mut client = RespClient::connect(port)?;
    let (count, size) = (keys.to_string(), VALUE_SIZE.to_string());
    let reply = client.call(&[
        b"DEBUG",
        b"POPULATE",
        count.as_bytes(),
        b"key",
        size.as_bytes(),
    ])?;
    expect_status(reply, "DEBUG POPULATE", "OK")?;
    let n = expect_int(client.call(&[b"DBSIZE"])?, "DBSIZE")?;
    if u64::try_from(n).ok() != Some(keys) {
        bail!("the master has {n} keys after DEBUG POPULATE {keys}");
    }
    Ok(())
}

fn measure_sync(master: &Server, replica: &Server, keys: u64, pings: Pings) -> Result<SyncRun> {
    let mpid = master.pid().context("master has no pid")?;
    let rpid = replica.pid().context("replica has no pid")?;
    let master_base = tree_rss(mpid).0;
    let probe = match pings {
        Pings::On => Some(RespClient::connect(master.port)?),
        Pings::Off => None,
    };
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let stop = &stop;
        let sampler = scope.spawn(move || sample_rss(mpid, rpid, stop));
        let pinger = probe.map(|client| scope.spawn(move || ping_loop(client, stop)));
        let outcome = replicate(master.port, replica.port, keys);
        stop.store(true, Ordering::Relaxed);
        let (master_peak, master_children, replica_peak) = sampler
            .join()
            .map_err(|_| anyhow::anyhow!("the RSS sampler panicked"))?;
        let rtts = match pinger {
            Some(p) => p
                .join()
                .map_err(|_| anyhow::anyhow!("the PING client panicked"))?
                .context("PING client")?,
            None => Vec::new(),
        };
        let (sent, time) = outcome?;
        let pings_ms: Vec<f64> = rtts
            .iter()
            .filter(|(end, _)| *end >= sent)
            .map(|(_, rtt)| rtt.as_secs_f64() * 1000.0)
            .collect();
        if pings == Pings::On && pings_ms.is_empty() {
            bail!("no PING round trip ended during the sync");
        }
        let master_hwm = read_status_kib(mpid, "VmHWM:").unwrap_or(0.0);
        Ok(SyncRun {
            time,
            master_base,
            master_peak: master_peak.max(master_base),
            master_hwm,
            master_children,
            replica_peak,
            pings_ms,
        })
    })
}

/// Sends REPLICAOF to the replica and polls it until its link is up with every key.
/// Returns when REPLICAOF was sent and how long the sync took.
fn replicate(master_port: u16, replica_port: u16, keys: u64) -> Result<(Instant, Duration)> {
    let mut client = RespClient::connect(replica_port)?;
    thread::sleep(WARMUP);
    let port = master_port.to_string();
    let sent = Instant::now();
    expect_status(
        client.call(&[b"REPLICAOF", b"127.0.0.1", port.as_bytes()])?,
        "REPLICAOF",
        "OK",
    )?;
    let deadline = sent + SYNC_LIMIT;
    loop {
        let info = match client.call(&[b"INFO", b"replication"])? {
            Reply::Bulk(text) => String::from_utf8_lossy(&text).into_owned(),
            other => bail!("INFO replication replied {other:?}"),
        };
        let last = if info_field(&info, "master_link_status") == Some("up") {
            // A loading replica answers -LOADING: not yet.
            match client.call(&[b"DBSIZE"])? {
                Reply::Int(n) if u64::try_from(n).ok() == Some(keys) => {
                    return Ok((sent, sent.elapsed()));
                }
                other => format!("DBSIZE replied {other:?}"),
            }
        } else {
            "master_link_status is not up".to_owned()
        };
        if Instant::now() >= deadline {
            bail!("the replica did not sync within {SYNC_LIMIT:?} (last: {last})");
        }
        thread::sleep(SAMPLE_EVERY);
    }
}

/// Samples both process trees until `stop`: peak master RSS, most master children,
/// peak replica RSS.
fn sample_rss(master: u32, replica: u32, stop: &AtomicBool) -> (f64, usize, f64) {
    let (mut mpeak, mut children, mut rpeak) = (0.0f64, 0usize, 0.0f64);
    while !stop.load(Ordering::Relaxed) {
        let (m, n) = tree_rss(master);
        mpeak = mpeak.max(m);
        children = children.max(n);
        rpeak = rpeak.max(tree_rss(replica).0);
        thread::sleep(SAMPLE_EVERY);
    }
    (mpeak, children, rpeak)
}

/// VmRSS of `pid` plus that of its children (a fork shares pages with its parent
/// until they are written: counting them in both is the usual upper bound), and
/// the number of children.
fn tree_rss(pid: u32) -> (f64, usize) {
    let own = read_status_kib(pid, "VmRSS:").unwrap_or(0.0);
    let kids = children(pid);
    let theirs: f64 = kids
        .iter()
        .filter_map(|&c| read_status_kib(c, "VmRSS:"))
        .sum();
    (own + theirs, kids.len())
}

/// A `/proc/<pid>/status` line in kB, as bytes.
fn read_status_kib(pid: u32, field: &str) -> Option<f64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    if field == "VmRSS:" {
        return parse_vm_rss(&status);
    }
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    let mut words = line.split_whitespace();
    let kib: f64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib * 1024.0)
}

/// Child processes of `pid`, from `/proc/<pid>/task/*/children`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        if let Ok(list) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// PING back to back until `stop`; when each round trip ended and how long it took.
fn ping_loop(mut client: RespClient, stop: &AtomicBool) -> Result<Vec<(Instant, Duration)>> {
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let reply = client.call(&[b"PING"])?;
        let ended = Instant::now();
        if reply != Reply::Status("PONG".to_owned()) {
            bail!("PING replied {reply:?}");
        }
        out.push((ended, ended - started));
    }
    Ok(out)
}

/// One side's master and its redis-server replicas in a `repl-load` round.
struct Topology {
    master: Server,
    client: RespClient,
    replicas: Vec<Server>,
}

impl Topology {
    fn start(ctx: &Ctx, side: Side, n: usize) -> Result<Topology> {
        let master =
            ctx.spawn_server(side, one_free_port()?, &["--repl-diskless-sync-delay", "0"])?;
        let port = master.port.to_string();
        let mut replicas = Vec::new();
        for _ in 0..n {
            replicas.push(ctx.spawn_server(
                Side::Redis,
                one_free_port()?,
                &["--replicaof", "127.0.0.1", &port],
            )?);
        }
        let mut client = RespClient::connect(master.port)?;
        wait_caught_up(&mut client, n)?;
        Ok(Topology {
            master,
            client,
            replicas,
        })
    }

    /// SET load at `pipeline` with the lag sampler running: (rps sample, max lag).
    fn load(&mut self, ctx: &Ctx, pipeline: u32) -> Result<(Sample, i64)> {
        let args = ["-t", "set", "-r", "1000000", "-d", "100"];
        let stop = AtomicBool::new(false);
        let lag_client = RespClient::connect(self.master.port)?;
        let replica_clients = self
            .replicas
            .iter()
            .map(|r| RespClient::connect(r.port))
            .collect::<Result<Vec<_>>>()?;
        let master = &self.master;
        let (bench, lag) = thread::scope(|scope| {
            let stop = &stop;
            let sampler = scope.spawn(move || max_lag(lag_client, replica_clients, stop));
            let bench = ctx.redis_benchmark(master, &args, pipeline);
            stop.store(true, Ordering::Relaxed);
            let lag = sampler
                .join()
                .map_err(|_| anyhow::anyhow!("the lag sampler panicked"));
            (bench, lag)
        });
        let lag = lag??;
        let rps = bench?
            .into_iter()
            .next()
            .context("redis-benchmark reported no SET row")?;
        wait_caught_up(&mut self.client, self.replicas.len())?;
        Ok((rps, lag))
    }

    /// Every replica holds as many keys as the master.
    fn check_replicas(&mut self) -> Result<()> {
        let ours = expect_int(self.client.call(&[b"DBSIZE"])?, "DBSIZE")?;
        for r in &self.replicas {
            let mut rc = RespClient::connect(r.port)?;
            let theirs = expect_int(rc.call(&[b"DBSIZE"])?, "DBSIZE")?;
            if theirs != ours {
                bail!("a replica has {theirs} keys, the master {ours}");
            }
        }
        Ok(())
    }
}

/// The `repl-load` benchmark, one repetition (see the module docs). For each replica
/// count both sides' topologies run at once, and each load runs on one master then the
/// other, back to back (which goes first alternates), so its two figures are paired.
pub fn repl_load(ctx: &Ctx, rep: usize) -> Result<Vec<(Side, Sample)>> {
    let mut samples = Vec::new();
    for n in 0..=2usize {
        let mut tandem = Topology::start(ctx, Side::Tandem, n)?;
        let mut redis = Topology::start(ctx, Side::Redis, n)?;
        for (i, pipeline) in [1u32, 16].into_iter().enumerate() {
            for side in crate::bench::order(rep + 2 * n + i) {
                let topology = match side {
                    Side::Tandem => &mut tandem,
                    Side::Redis => &mut redis,
                };
                topology.master.check_running()?;
                let (rps, lag) = topology.load(ctx, pipeline)?;
                let label = format!("SET -P {pipeline}, {n} replicas");
                eprintln!(
                    "    [{}] {label}: {:.0} rps, max lag {lag} bytes",
                    side.label(),
                    rps.value
                );
                samples.push((
                    side,
                    Sample {
                        metric: label.clone(),
                        ..rps
                    },
                ));
                if n > 0 {
                    samples.push((
                        side,
                        sample(
                            &format!("{label}: max replica lag"),
                            "B",
                            lag as f64,
                            &json!({}),
                        ),
                    ));
                }
            }
        }
        tandem.check_replicas()?;
        redis.check_replicas()?;
    }
    Ok(samples)
}

/// `master_repl_offset` and each replica's acknowledged offset, from INFO replication.
fn offsets(client: &mut RespClient) -> Result<(i64, Vec<(String, i64)>)> {
    let info = match client.call(&[b"INFO", b"replication"])? {
        Reply::Bulk(text) => String::from_utf8_lossy(&text).into_owned(),
        other => bail!("INFO replication replied {other:?}"),
    };
    parse_offsets(&info).with_context(|| format!("no master_repl_offset in:\n{info}"))
}

/// See [`offsets`]: `(master_repl_offset, [(state, offset)])`.
fn parse_offsets(info: &str) -> Option<(i64, Vec<(String, i64)>)> {
    let master = info_field(info, "master_repl_offset")?.parse().ok()?;
    let mut replicas = Vec::new();
    for line in info.lines() {
        let Some((name, rest)) = line.trim().split_once(':') else {
            continue;
        };
        if !name.starts_with("slave") || !name[5..].chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let field = |key: &str| {
            rest.split(',')
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        };
        let state = field("state").unwrap_or("?").to_owned();
        let offset = field("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
        replicas.push((state, offset));
    }
    Some((master, replicas))
}

/// Waits until `n` replicas are online and acknowledged the master's whole stream.
fn wait_caught_up(client: &mut RespClient, n: usize) -> Result<()> {
    let deadline = Instant::now() + SYNC_LIMIT;
    loop {
        let (master, replicas) = offsets(client)?;
        let online = replicas
            .iter()
            .filter(|(state, off)| state == "online" && *off == master)
            .count();
        if online == n && replicas.len() == n {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("replicas not caught up within {SYNC_LIMIT:?}: master {master}, {replicas:?}");
        }
        thread::sleep(LAG_EVERY);
    }
}

/// Largest gap between the master's `master_repl_offset` and the offset a replica has
/// applied (its own `master_repl_offset`, read first), sampled until `stop`.
fn max_lag(
    mut master: RespClient,
    mut replicas: Vec<RespClient>,
    stop: &AtomicBool,
) -> Result<i64> {
    let mut worst = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut applied = Vec::with_capacity(replicas.len());
        for replica in &mut replicas {
            applied.push(offsets(replica)?.0);
        }
        let (offset, _) = offsets(&mut master)?;
        for off in applied {
            worst = worst.max(offset - off);
        }
        thread::sleep(LAG_EVERY);
    }
    Ok(worst)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_parsed() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
                    slave0:ip=127.0.0.1,port=1,state=online,offset=90,lag=0\r\n\
                    slave1:ip=127.0.0.1,port=2,state=wait_bgsave,offset=0,lag=1\r\n\
                    master_failover_state:no-failover\r\nmaster_repl_offset:100\r\n";
        let (m, r) = parse_offsets(info).unwrap();
        assert_eq!(m, 100);
        assert_eq!(
            r,
            [("online".to_owned(), 90), ("wait_bgsave".to_owned(), 0)]
        );
        assert!(parse_offsets("role:master\r\n").is_none());
    }

    #[test]
    fn own_process_is_measured() {
        let pid = std::process::id();
        assert!(tree_rss(pid).0 > 0.0);
        assert!(read_status_kib(pid, "VmHWM:").unwrap() > 0.0);
    }
}
