//! `cargo xtask bench [NAME...]`: whole-system comparisons against redis-server.
//!
//! DESIGN.md asks for speed to be measured, not asserted, and reported as a
//! ratio against the reference in the same run. This harness:
//!
//! 1. builds `tandem-server` in release (`cargo build --release -p tandem-server`);
//! 2. starts it and `redis-server` side by side, each on its own free loopback
//!    port, in its own temp dir, with `--save '' --appendonly no`, and waits
//!    (bounded) until each answers `PING`;
//! 3. runs every selected benchmark against both with the same client, a
//!    number of repetitions. The redis-benchmark suites (`ping`, `strings`,
//!    `types`) run each test on both servers back to back, and `repl-load`
//!    runs each load on both masters back to back, so the two figures of a
//!    pair are taken seconds apart and a row's ratio is the median of its
//!    per-pair ratios. The others run whole on one server then the other and
//!    a row's ratio is the ratio of the medians. Which server goes first
//!    alternates;
//! 4. prints `benchmark | tandem | redis | ratio(tandem/redis)`, a note on how
//!    to read it, the CPU count and load average, and writes the raw numbers to
//!    `target/xtask-bench/<name>-<unix time>.json`.
//!
//! The benchmarks:
//!
//! * `ping`: PING_INLINE and PING_MBULK, pipeline 1 and 16: the cost of the
//!   network path alone;
//! * `strings` (alias `set-get`): SET, GET, INCR and MSET over a million random
//!   keys with 100-byte values, pipeline 1 and 16 (issue 3's throughput target);
//! * `memory`: a fresh process of each side loads a million 100-byte values
//!   with `DEBUG POPULATE`; `used_memory` (INFO memory) and RSS (`VmRSS`) are
//!   read before and after (issue 3's memory target). Tandem's `used_memory` is
//!   its RSS, so there the two rows agree by construction.
//! * `rdb`: a dump of `--keys` keys (default a million) with 100-byte random
//!   values, written once per run by redis-server; on a fresh process of each
//!   side: startup load time, SAVE time and file size, BGSAVE time, and the
//!   worst GET/SET round trip a client sees while BGSAVE runs (issue 4).
//! * `fullsync` and `repl-load`: replication (full sync time, memory and
//!   latency; SET throughput with replicas attached, replica lag), in
//!   [`crate::bench_repl`].
//!
//! Each row's ratio is `tandem/redis` unless it says otherwise: for durations
//! and latencies `rdb` reports the speed ratio `redis/tandem`, so that there
//! too a ratio >= 1.0 means Tandem is at least as good.
//!
//! It kills exactly the processes it started (guards drop on errors and
//! panics; on Ctrl-C the terminal signals the whole process group, and the temp
//! dirs left behind are swept by the next run).
//!
//! Adding a benchmark is adding an entry to [`BENCHMARKS`]: a name, a one-line
//! description, and a function that measures one server and returns samples.
//! A benchmark that needs more processes (e.g. a replica for `fullsync`) can
//! start them with [`Ctx::spawn_server`].
//!
//! `TANDEM_BENCH_SERVER_BIN=/path/to/binary` replaces the tandem side (and skips
//! the release build); pointing it at `redis-server` checks the harness itself.

use std::cell::OnceCell;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use crate::{test, util};

/// Environment variable overriding the tandem-side binary.
const SERVER_BIN_ENV: &str = "TANDEM_BENCH_SERVER_BIN";
/// Repetitions per server, by default. Even, so that every paired figure has each side
/// going first equally often: on a two-core machine the second runner of a pair can be
/// penalised (or favoured) by what the first left behind, and with an odd count the
/// median follows the majority order.
const DEFAULT_REPS: usize = 4;
/// Requests per redis-benchmark test, by default.
const DEFAULT_REQUESTS: u64 = 200_000;
/// Largest factor [`Ctx::redis_benchmark`] scales `--requests` by for a pipelined run.
const PIPELINE_SCALE_MAX: u64 = 8;

/// Requests of one redis-benchmark run at this pipeline depth.
fn requests_for(requests: u64, pipeline: u32) -> u64 {
    requests.saturating_mul(u64::from(pipeline).clamp(1, PIPELINE_SCALE_MAX))
}
/// Concurrent redis-benchmark clients.
const CLIENTS: u32 = 50;
/// Bound on the wait for a server to answer PING.
const STARTUP_LIMIT: Duration = Duration::from_secs(20);
/// Bound on one redis-benchmark invocation.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// One named benchmark.
pub struct Benchmark {
    /// Name on the command line and in the JSON file name.
    pub name: &'static str,
    /// One line for `--list`.
    pub about: &'static str,
    /// Printed under the table (and kept in the JSON): how to read the numbers.
    pub note: &'static str,
    /// How it measures.
    pub plan: Plan,
}

/// How a benchmark measures the two servers.
pub enum Plan {
    /// One call measures one server once, start to end; [`measure`] alternates
    /// the sides per repetition. It gets the shared server of one side; a
    /// benchmark that needs a fresh process (e.g. `memory`) starts its own with
    /// [`Ctx::spawn_server`] and leaves the shared one alone.
    Whole(fn(&Ctx, &Server) -> Result<Vec<Sample>>),
    /// A sequence of redis-benchmark invocations. Each step runs on both
    /// servers back to back before the next step starts, so the two numbers of
    /// a row are taken seconds apart rather than a whole suite apart: a noisy
    /// neighbour on a shared machine then weighs on both sides alike. Each
    /// server still sees the steps in the same order (LRANGE reads the list
    /// LPUSH filled).
    Steps(fn() -> Vec<Step>),
    /// One call runs one repetition on both sides, with processes of its own, and
    /// returns each sample with its side; samples of a metric are paired by
    /// repetition (the function takes both figures of a pair back to back).
    Pairs(PairedRun),
}

/// A [`Plan::Pairs`] function: one repetition (its index given) on both sides.
pub type PairedRun = fn(&Ctx, usize) -> Result<Vec<(Side, Sample)>>;

/// One redis-benchmark invocation of a [`Plan::Steps`] benchmark.
pub struct Step {
    /// Arguments after the harness's own (`-h -p -n -c -P -q --csv`).
    pub args: Vec<&'static str>,
    /// Pipeline depth (`-P`).
    pub pipeline: u32,
    /// Metric name for a custom command's row (redis-benchmark names it by its
    /// whole command line); `None` keeps redis-benchmark's test name.
    pub metric: Option<&'static str>,
}

impl Step {
    /// One step per entry of `tests` (a built-in test name, or several joined by
    /// commas for tests that must run in one invocation), all at `pipeline`.
    fn each_test(tests: &[&'static str], extra: &[&'static str], pipeline: u32) -> Vec<Step> {
        tests
            .iter()
            .map(|test| {
                let mut args = vec!["-t", *test];
                args.extend_from_slice(extra);
                Step {
                    args,
                    pipeline,
                    metric: None,
                }
            })
            .collect()
    }
}

/// The benchmarks, in the order `cargo xtask bench` (no name) runs them.
pub const BENCHMARKS: &[Benchmark] = &[
    Benchmark {
        name: "ping",
        about: "redis-benchmark PING_INLINE + PING_MBULK, 50 clients, pipeline 1 and 16",
        note: "rps: requests per second, higher is better.",
        plan: Plan::Steps(ping),
    },
    Benchmark {
        name: "strings",
        about: "redis-benchmark SET, GET, INCR, MSET: 50 clients, 1M random keys, 100-byte values, pipeline 1 and 16",
        note: "rps: requests per second, higher is better (one MSET request sets 10 keys). \
               Issue target: ratio >= 1.0 on every row.",
        plan: Plan::Steps(strings),
    },
    Benchmark {
        name: "types",
        about: "redis-benchmark LPUSH, RPUSH, LPOP, RPOP, SADD, HSET, SPOP, ZADD, ZPOPMIN, LRANGE_100, LRANGE_600, XADD: 50 clients, 1M random keys, pipeline 1 and 16",
        note: "rps: requests per second, higher is better. Issue target: ratio >= 1.0 on every row. \
               The LRANGE tests read the list LPUSH filled (redis-benchmark's own order).",
        plan: Plan::Steps(types),
    },
    Benchmark {
        name: "memory",
        about: "fresh servers, DEBUG POPULATE 1000000 key 100: used_memory and RSS before and after",
        note: "Lower is better; issue target: ratio <= 1.2 after the load. \
               RSS is VmRSS from /proc/<pid>/status of the server process. \
               used_memory is what jemalloc says it allocated, on both servers \
               (Tandem also allocates through jemalloc).",
        plan: Plan::Whole(memory),
    },
    Benchmark {
        name: "rdb",
        about: "one dump of --keys keys (default 1M) with 100-byte random values: load, SAVE, BGSAVE, file size, GET/SET latency during BGSAVE",
        note: "Rows in s and ms show the speed ratio redis/tandem: >= 1.0 means Tandem is as fast \
               (issue target: >= 1.0 for load and SAVE). The file size row shows tandem/redis \
               (issue target: 0.95 to 1.05). Every repetition starts a fresh process on a copy of \
               the same dump (written once by redis-server: keys key:<i>, values of 100 random \
               base64 characters from a fixed seed). Load: from spawn until PING answers PONG and \
               DBSIZE is the key count (polled every 20 ms). BGSAVE: from sending BGSAVE until \
               INFO persistence shows rdb_bgsave_in_progress:0 and rdb_last_bgsave_status:ok \
               (polled every 20 ms; both servers notice the end of a background save in their \
               cron, 10 times a second). Latency: one client alternating GET and SET on random \
               keys back to back, round trips that ended after BGSAVE was sent.",
        plan: Plan::Whole(rdb),
    },
    Benchmark {
        name: "fullsync",
        about: "full sync of --keys keys (default 1M, DEBUG POPULATE, 100-byte values), disk and diskless: as master of a redis replica, as replica of a redis master",
        note: "Every row is tandem/redis: lower is better (time, peak RSS, PING latency). \
               `as master`: the side under test is the master, a redis-server the replica; \
               `as replica`: a redis-server master, the side under test the replica. \
               Sync time: from REPLICAOF until master_link_status:up and DBSIZE equal. \
               RSS: VmRSS of the process plus its children (Redis's fork child; shared \
               copy-on-write pages count twice), sampled every 10 ms during the sync. \
               PING: one client looping on the master during the sync (`as master` runs only).",
        plan: Plan::Whole(crate::bench_repl::fullsync),
    },
    Benchmark {
        name: "repl-load",
        about: "redis-benchmark SET (50 clients, 1M random keys, 100-byte values, -P 1 and 16) on a master with 0, 1, 2 redis replicas, max replica lag",
        note: "rps: higher is better (ratio tandem/redis). Lag: the master's \
               master_repl_offset minus the offset a replica has applied (each replica's own \
               INFO replication, read just before the master's, every 20 ms), the largest \
               seen during the load; lower is better.",
        plan: Plan::Pairs(crate::bench_repl::repl_load),
    },
    Benchmark {
        name: "scripts",
        about: "redis-benchmark EVAL (a SET through redis.call) and EVAL_RO (a GET), 50 clients, 1M random keys, pipeline 1 and 16",
        note: "rps: requests per second, higher is better.",
        plan: Plan::Steps(scripts),
    },
    Benchmark {
        name: "aof",
        about: "redis-benchmark SET (50 clients, 1M random keys, 100-byte values) with appendonly yes: appendfsync everysec at -P 1 and 16, always at -P 16",
        note: "rps: higher is better (ratio tandem/redis). Each load on a fresh server of each \
               side, in its own directory, one after the other.",
        plan: Plan::Pairs(crate::bench_aof::aof_load),
    },
];

/// Other names accepted on the command line: `(alias, benchmark)`.
const ALIASES: &[(&str, &str)] = &[("set-get", "strings")];

/// Keys `memory` loads.
const MEMORY_KEYS: u64 = 1_000_000;
/// Value size `memory` loads, in bytes.
const MEMORY_VALUE_SIZE: u64 = 100;
/// Bound on one redis-cli command (DEBUG POPULATE of a million keys included).
const CLI_LIMIT: Duration = Duration::from_secs(300);

fn ping() -> Vec<Step> {
    let mut steps = Step::each_test(&["ping_inline", "ping_mbulk"], &[], 1);
    steps.extend(Step::each_test(&["ping_inline", "ping_mbulk"], &[], 16));
    steps
}

fn strings() -> Vec<Step> {
    let tests = ["set", "get", "incr", "mset"];
    let extra = ["-r", "1000000", "-d", "100"];
    let mut steps = Step::each_test(&tests, &extra, 1);
    steps.extend(Step::each_test(&tests, &extra, 16));
    steps
}

/// The `scripts` benchmark's commands: a script that writes (one SET through
/// `redis.call`) and a function that reads (FUNCTION LOAD'ed by the step itself would
/// need a set-up step: EVAL_RO with a GET stands for the reading side).
const EVAL_SET: &[&str] = &[
    "EVAL",
    "return redis.call('set', KEYS[1], ARGV[1])",
    "1",
    "key:__rand_int__",
    "value",
];
const EVAL_RO_GET: &[&str] = &[
    "EVAL_RO",
    "return redis.call('get', KEYS[1])",
    "1",
    "key:__rand_int__",
];

fn scripts() -> Vec<Step> {
    let mut steps = Vec::new();
    for pipeline in [1, 16] {
        for (command, metric) in [
            (
                EVAL_SET,
                if pipeline == 1 {
                    "EVAL SET -P 1"
                } else {
                    "EVAL SET -P 16"
                },
            ),
            (
                EVAL_RO_GET,
                if pipeline == 1 {
                    "EVAL_RO GET -P 1"
                } else {
                    "EVAL_RO GET -P 16"
                },
            ),
        ] {
            let mut args = vec!["-r", "1000000"];
            args.extend_from_slice(command);
            steps.push(Step {
                args,
                pipeline,
                metric: Some(metric),
            });
        }
    }
    steps
}

/// redis-benchmark 7.0.15 has no built-in XADD test: the types benchmark runs
/// this custom command instead (one stream, new entries with a random field
/// value, as the built-in tests use one key per type).
const XADD_COMMAND: &[&str] = &["XADD", "mystream", "*", "myfield", "__rand_int__"];

fn types() -> Vec<Step> {
    let tests = [
        "lpush",
        "rpush",
        "lpop",
        "rpop",
        "sadd",
        "hset",
        "spop",
        "zadd",
        "zpopmin",
        // One step: redis-benchmark fills the list once ("LPUSH (needed to
        // benchmark LRANGE)") before its LRANGE tests.
        "lrange_100,lrange_600",
    ];
    let mut steps = Vec::new();
    for (pipeline, metric) in [(1, "XADD -P 1"), (16, "XADD -P 16")] {
        steps.extend(Step::each_test(&tests, &["-r", "1000000"], pipeline));
        let mut args = vec!["-r", "1000000"];
        args.extend_from_slice(XADD_COMMAND);
        steps.push(Step {
            args,
            pipeline,
            metric: Some(metric),
        });
    }
    steps
}

/// Starts a fresh server of the same side (debug command enabled), measures it
/// empty, loads [`MEMORY_KEYS`] keys with DEBUG POPULATE, measures it again.
fn memory(ctx: &Ctx, shared: &Server) -> Result<Vec<Sample>> {
    let port = util::free_ports(1)?
        .first()
        .copied()
        .context("no free port")?;
    let server = ctx.spawn_server(shared.side, port, &["--enable-debug-command", "yes"])?;
    let pid = server.pid().context("server has no pid")?;
    let sample = |metric: &str, unit: &'static str, value: f64| Sample {
        metric: metric.to_owned(),
        unit,
        value,
        ratio: Ratio::TandemOverRedis,
        details: Map::new(),
    };

    let used_before = used_memory(&ctx.cli(&server, &["info", "memory"])?)?;
    let rss_before = vm_rss(pid)?;

    let count = MEMORY_KEYS.to_string();
    let size = MEMORY_VALUE_SIZE.to_string();
    let started = Instant::now();
    let reply = ctx.cli(&server, &["debug", "populate", &count, "key", &size])?;
    let load_time = started.elapsed().as_secs_f64();
    if reply.trim() != "OK" {
        bail!("DEBUG POPULATE replied {:?}", reply.trim());
    }
    let dbsize: f64 = ctx
        .cli(&server, &["dbsize"])?
        .trim()
        .parse()
        .context("DBSIZE did not reply an integer")?;

    let used_after = used_memory(&ctx.cli(&server, &["info", "memory"])?)?;
    let rss_after = vm_rss(pid)?;
    Ok(vec![
        sample("DBSIZE after load", "keys", dbsize),
        sample("DEBUG POPULATE time", "s", load_time),
        sample("used_memory before load", "bytes", used_before),
        sample("RSS before load", "bytes", rss_before),
        sample("used_memory after load", "bytes", used_after),
        sample("RSS after load", "bytes", rss_after),
        sample("RSS growth", "bytes", rss_after - rss_before),
    ])
}

/// `used_memory` from an `INFO memory` reply.
fn used_memory(info: &str) -> Result<f64> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("used_memory:"))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no numeric used_memory in INFO memory:\n{info}"))
}

/// Resident set size of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
fn vm_rss(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_vm_rss(&status).with_context(|| format!("no VmRSS line in {path}"))
}

/// `VmRSS:   123456 kB` -> bytes.
pub(crate) fn parse_vm_rss(status: &str) -> Option<f64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let mut words = line.split_whitespace();
    let kib: f64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(kib * 1024.0),
        _ => None,
    }
}

/// Keys in `rdb`'s dataset, by default (`--keys`).
const DEFAULT_KEYS: u64 = 1_000_000;
/// Value size of `rdb`'s dataset, in bytes.
const RDB_VALUE_SIZE: usize = 100;
/// Seed of `rdb`'s values, so that every run measures the same data.
const RDB_SEED: u64 = 0x7461_6e64_656d_7264;
/// Polling interval of `rdb` (load done, BGSAVE done).
const RDB_POLL: Duration = Duration::from_millis(20);
/// Bound on one load, SAVE or BGSAVE of the dataset, and on any reply.
const RDB_LIMIT: Duration = Duration::from_secs(600);
/// SET commands per pipelined batch while the dataset is written.
const FILL_BATCH: u64 = 1000;
/// How long the latency client runs before BGSAVE is sent.
const PROBE_WARMUP: Duration = Duration::from_millis(200);

/// `rdb`'s dump: `dump.rdb` in a temp dir that lives as long as the [`Ctx`].
struct RdbDump {
    dir: util::TempDir,
}

impl RdbDump {
    fn path(&self) -> PathBuf {
        self.dir.path().join("dump.rdb")
    }
}

/// Writes `rdb`'s dataset once: a fresh redis-server receives `ctx.keys`
/// pipelined `SET key:<i> <value>` (values: [`RDB_VALUE_SIZE`] base64
/// characters from a generator seeded with [`RDB_SEED`], so LZF cannot shrink
/// them), SAVEs, and its `dump.rdb` is copied aside.
fn write_rdb_dump(ctx: &Ctx) -> Result<RdbDump> {
    let keys = ctx.keys;
    eprintln!(
        "==> rdb: writing the dataset ({keys} keys, {RDB_VALUE_SIZE}-byte random values) with redis-server"
    );
    let port = one_free_port()?;
    let mut server = ctx.spawn_server(Side::Redis, port, &[])?;
    let mut client = RespClient::connect(port)?;
    let mut rng = SplitMix64(RDB_SEED);
    let mut batch = Vec::new();
    let mut next = 0;
    while next < keys {
        let end = (next + FILL_BATCH).min(keys);
        batch.clear();
        for i in next..end {
            let key = format!("key:{i}");
            let value = rng.value(RDB_VALUE_SIZE);
            encode_command(&mut batch, &[b"SET", key.as_bytes(), &value]);
        }
        client.write_raw(&batch)?;
        for _ in next..end {
            expect_status(client.read_reply()?, "SET", "OK")?;
        }
        next = end;
    }
    let dbsize = expect_int(client.call(&[b"DBSIZE"])?, "DBSIZE")?;
    if u64::try_from(dbsize).ok() != Some(keys) {
        bail!("redis-server has {dbsize} keys after writing {keys}");
    }
    expect_status(client.call(&[b"SAVE"])?, "SAVE", "OK")?;
    let dir = util::TempDir::new("rdb-dataset")?;
    let dump = RdbDump { dir };
    let source = server.dir().join("dump.rdb");
    fs::copy(&source, dump.path())
        .with_context(|| format!("cannot copy {} aside", source.display()))?;
    server.guard.stop();
    eprintln!(
        "    dataset: {} ({} bytes)",
        dump.path().display(),
        file_size(&dump.path())?
    );
    Ok(dump)
}

/// One loopback port that was free a moment ago.
pub(crate) fn one_free_port() -> Result<u16> {
    util::free_ports(1)?
        .first()
        .copied()
        .context("no free port")
}

/// Size of the file at `path` in bytes.
fn file_size(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .with_context(|| format!("cannot stat {}", path.display()))?
        .len())
}

/// Starts a fresh server of the same side on a copy of the dump and measures
/// the load, a SAVE, and a BGSAVE with a client hammering GET/SET meanwhile.
fn rdb(ctx: &Ctx, shared: &Server) -> Result<Vec<Sample>> {
    let dump = ctx.rdb_dump()?;
    let keys = ctx.keys;
    let side = shared.side;
    let port = one_free_port()?;
    let dir = util::TempDir::new(side.label())?;
    let file = dir.path().join("dump.rdb");
    fs::copy(&dump, &file)
        .with_context(|| format!("cannot copy the dump to {}", file.display()))?;

    let started = Instant::now();
    let mut server = ctx.launch(side, port, dir, &[])?;
    let mut client = wait_loaded(&mut server, keys)?;
    let load_time = started.elapsed();
    eprintln!(
        "    [{}] loaded {keys} keys in {:.3} s",
        side.label(),
        load_time.as_secs_f64()
    );
    // What SAVE and BGSAVE write must be their own file.
    fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;

    let started = Instant::now();
    expect_status(client.call(&[b"SAVE"])?, "SAVE", "OK")?;
    let save_time = started.elapsed();
    let save_size = file_size(&file)?;
    eprintln!(
        "    [{}] SAVE in {:.3} s, {save_size} bytes",
        side.label(),
        save_time.as_secs_f64()
    );
    fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;

    let bg = bgsave_under_load(&mut client, port, keys)?;
    let bgsave_size = file_size(&file)?;
    server.check_running()?;
    server.guard.stop();
    eprintln!(
        "    [{}] BGSAVE in {:.3} s, {bgsave_size} bytes; {} GET/SET meanwhile, max {:.2} ms",
        side.label(),
        bg.time.as_secs_f64(),
        bg.round_trips_ms.len(),
        bg.max_ms()
    );

    let sample =
        |metric: &str, unit: &'static str, value: f64, ratio: Ratio, details: Value| Sample {
            metric: metric.to_owned(),
            unit,
            value,
            ratio,
            details: match details {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        };
    let latency_details = json!({
        "round_trips": bg.round_trips_ms.len(),
        "p50_ms": percentile(&bg.round_trips_ms, 50.0),
        "p99_ms": percentile(&bg.round_trips_ms, 99.0),
        "p999_ms": percentile(&bg.round_trips_ms, 99.9),
        "max_ms": bg.max_ms(),
    });
    Ok(vec![
        sample(
            "startup load time",
            "s",
            load_time.as_secs_f64(),
            Ratio::RedisOverTandem,
            json!({ "keys": keys, "dump_bytes": file_size(&dump)? }),
        ),
        sample(
            "SAVE time",
            "s",
            save_time.as_secs_f64(),
            Ratio::RedisOverTandem,
            json!({}),
        ),
        sample(
            "SAVE file size",
            "bytes",
            // Exact to the byte in the JSON; the table shows MiB.
            save_size as f64,
            Ratio::TandemOverRedis,
            json!({ "bytes": save_size, "bgsave_bytes": bgsave_size }),
        ),
        sample(
            "BGSAVE time",
            "s",
            bg.time.as_secs_f64(),
            Ratio::RedisOverTandem,
            json!({ "reply_s": bg.reply_time.as_secs_f64() }),
        ),
        sample(
            "GET/SET max latency during BGSAVE",
            "ms",
            bg.max_ms(),
            Ratio::RedisOverTandem,
            latency_details.clone(),
        ),
        sample(
            "GET/SET p99 latency during BGSAVE",
            "ms",
            percentile(&bg.round_trips_ms, 99.0),
            Ratio::RedisOverTandem,
            latency_details,
        ),
    ])
}

/// Polls a starting server every [`RDB_POLL`] until PING answers PONG (not
/// `-LOADING`) and DBSIZE is `keys`; returns the connection that saw it.
fn wait_loaded(server: &mut Server, keys: u64) -> Result<RespClient> {
    let deadline = Instant::now() + RDB_LIMIT;
    let mut client: Option<RespClient> = None;
    let mut last = "no connection yet".to_owned();
    loop {
        server.check_running()?;
        if client.is_none() {
            match RespClient::connect(server.port) {
                Ok(c) => client = Some(c),
                Err(err) => last = format!("{err:#}"),
            }
        }
        if let Some(mut c) = client.take() {
            match c.call(&[b"PING"]) {
                Ok(Reply::Status(s)) if s == "PONG" => match c.call(&[b"DBSIZE"])? {
                    Reply::Int(n) if u64::try_from(n).ok() == Some(keys) => return Ok(c),
                    other => {
                        last = format!("DBSIZE replied {other:?}");
                        client = Some(c);
                    }
                },
                Ok(other) => {
                    last = format!("PING replied {other:?}");
                    client = Some(c);
                }
                // Dropped: connect again on the next round.
                Err(err) => last = format!("{err:#}"),
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "{} (pid {}, port {}) did not load {keys} keys within {RDB_LIMIT:?} (last: {last}); log tail:\n{}",
                server.side.label(),
                server.pid_label(),
                server.port,
                server.log_tail()
            );
        }
        thread::sleep(RDB_POLL);
    }
}

/// What [`bgsave_under_load`] saw.
struct BgsaveRun {
    /// From sending BGSAVE until INFO says it is over and went well.
    time: Duration,
    /// BGSAVE's own reply time (Redis forks before replying).
    reply_time: Duration,
    /// GET/SET round trips, in ms, that ended after BGSAVE was sent.
    round_trips_ms: Vec<f64>,
}

impl BgsaveRun {
    fn max_ms(&self) -> f64 {
        self.round_trips_ms.iter().copied().fold(0.0, f64::max)
    }
}

/// Runs a BGSAVE on `client`'s server while another connection issues GET and
/// SET back to back on random keys of the dataset.
fn bgsave_under_load(client: &mut RespClient, port: u16, keys: u64) -> Result<BgsaveRun> {
    let probe = RespClient::connect(port)?;
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let stop = &stop;
        let handle = scope.spawn(move || probe_latency(probe, keys, stop));
        let outcome = run_bgsave(client);
        stop.store(true, Ordering::Relaxed);
        let probed = handle
            .join()
            .map_err(|_| anyhow::anyhow!("the latency client panicked"))?
            .context("latency client")?;
        let (sent, time, reply_time) = outcome?;
        let round_trips_ms: Vec<f64> = probed
            .iter()
            .filter(|(end, _)| *end >= sent)
            .map(|(_, rtt)| rtt.as_secs_f64() * 1000.0)
            .collect();
        if round_trips_ms.is_empty() {
            bail!("no GET/SET round trip ended while BGSAVE ran");
        }
        Ok(BgsaveRun {
            time,
            reply_time,
            round_trips_ms,
        })
    })
}

/// Lets the latency client warm up, sends BGSAVE and polls INFO persistence
/// every [`RDB_POLL`] until the save is over. Returns when BGSAVE was sent,
/// how long the whole save took and how long its reply took.
fn run_bgsave(client: &mut RespClient) -> Result<(Instant, Duration, Duration)> {
    thread::sleep(PROBE_WARMUP);
    let sent = Instant::now();
    match client.call(&[b"BGSAVE"])? {
        Reply::Status(_) => {}
        other => bail!("BGSAVE replied {other:?}"),
    }
    let reply_time = sent.elapsed();
    let deadline = sent + RDB_LIMIT;
    loop {
        let info = match client.call(&[b"INFO", b"persistence"])? {
            Reply::Bulk(text) => String::from_utf8_lossy(&text).into_owned(),
            other => bail!("INFO persistence replied {other:?}"),
        };
        let in_progress = info_field(&info, "rdb_bgsave_in_progress");
        let status = info_field(&info, "rdb_last_bgsave_status");
        match (in_progress, status) {
            (Some("0"), Some("ok")) => return Ok((sent, sent.elapsed(), reply_time)),
            (Some("0"), Some(status)) => bail!("BGSAVE ended with rdb_last_bgsave_status:{status}"),
            (Some(_), Some(_)) => {}
            _ => bail!(
                "INFO persistence lacks rdb_bgsave_in_progress or rdb_last_bgsave_status:\n{info}"
            ),
        }
        if Instant::now() >= deadline {
            bail!("BGSAVE still running after {RDB_LIMIT:?}");
        }
        thread::sleep(RDB_POLL);
    }
}

/// The value of `name:` in an INFO reply.
pub(crate) fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// Issues GET and SET alternately on random keys `key:<i>`, `i < keys`, until
/// `stop`; returns when each round trip ended and how long it took.
fn probe_latency(
    mut client: RespClient,
    keys: u64,
    stop: &AtomicBool,
) -> Result<Vec<(Instant, Duration)>> {
    let mut rng = SplitMix64(RDB_SEED ^ 0x5eed);
    let mut round_trips = Vec::new();
    let mut set = false;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("key:{}", rng.below(keys));
        let value = rng.value(RDB_VALUE_SIZE);
        let started = Instant::now();
        let reply = if set {
            client.call(&[b"SET", key.as_bytes(), &value])?
        } else {
            client.call(&[b"GET", key.as_bytes()])?
        };
        let ended = Instant::now();
        if let Reply::Error(err) = reply {
            bail!("{} {key} replied -{err}", if set { "SET" } else { "GET" });
        }
        round_trips.push((ended, ended - started));
        set = !set;
    }
    Ok(round_trips)
}

/// The `p`th percentile (nearest rank) of `values`; NaN when empty.
pub(crate) fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sebastiano Vigna's SplitMix64: a tiny seeded generator, enough for
/// benchmark data (no dependency).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `len` random base64 characters.
    fn value(&mut self, len: usize) -> Vec<u8> {
        const BASE64: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let mut bits = self.next_u64();
            // Ten 6-bit characters per 64-bit draw.
            for _ in 0..10 {
                if out.len() == len {
                    break;
                }
                out.push(BASE64[(bits & 63) as usize]);
                bits >>= 6;
            }
        }
        out
    }
}

/// A RESP2 reply.
#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
}

pub(crate) fn expect_status(reply: Reply, command: &str, want: &str) -> Result<()> {
    match reply {
        Reply::Status(s) if s == want => Ok(()),
        other => bail!("{command} replied {other:?}, expected +{want}"),
    }
}

pub(crate) fn expect_int(reply: Reply, command: &str) -> Result<i64> {
    match reply {
        Reply::Int(n) => Ok(n),
        other => bail!("{command} replied {other:?}, expected an integer"),
    }
}

/// Appends `args` as a RESP array of bulk strings.
fn encode_command(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        buf.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        buf.extend_from_slice(arg);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Largest bulk reply [`read_reply`] accepts (the benchmark's are small).
const MAX_BULK: usize = 64 * 1024 * 1024;

/// Reads one RESP2 reply.
fn read_reply(reader: &mut impl BufRead) -> Result<Reply> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    let Some(body) = line.strip_suffix(b"\r\n") else {
        bail!(
            "connection closed or bad reply line: {:?}",
            String::from_utf8_lossy(&line)
        );
    };
    let Some((&kind, rest)) = body.split_first() else {
        bail!("empty reply line");
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let number = |text: &str| -> Result<i64> {
        text.parse()
            .with_context(|| format!("bad number in reply: {text:?}"))
    };
    match kind {
        b'+' => Ok(Reply::Status(text)),
        b'-' => Ok(Reply::Error(text)),
        b':' => Ok(Reply::Int(number(&text)?)),
        b'$' => {
            let Ok(len) = usize::try_from(number(&text)?) else {
                return Ok(Reply::Nil);
            };
            if len > MAX_BULK {
                bail!("bulk reply of {len} bytes");
            }
            let mut data = vec![0; len + 2];
            reader.read_exact(&mut data)?;
            if !data.ends_with(b"\r\n") {
                bail!("bulk reply not followed by CRLF");
            }
            data.truncate(len);
            Ok(Reply::Bulk(data))
        }
        b'*' => {
            let Ok(n) = usize::try_from(number(&text)?) else {
                return Ok(Reply::Nil);
            };
            (0..n)
                .map(|_| read_reply(reader))
                .collect::<Result<_>>()
                .map(Reply::Array)
        }
        _ => bail!("unknown reply type in {:?}", String::from_utf8_lossy(body)),
    }
}

/// A minimal blocking RESP2 client on a `std` socket: precise timings without
/// a redis-cli process per command.
pub(crate) struct RespClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RespClient {
    /// Connects to `127.0.0.1:port`; every read and write is bounded by [`RDB_LIMIT`].
    pub(crate) fn connect(port: u16) -> Result<RespClient> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(RDB_LIMIT))?;
        stream.set_write_timeout(Some(RDB_LIMIT))?;
        let writer = stream.try_clone()?;
        Ok(RespClient {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends already encoded commands.
    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer.write_all(bytes).context("cannot send")
    }

    fn read_reply(&mut self) -> Result<Reply> {
        read_reply(&mut self.reader)
    }

    /// Sends one command and reads its reply.
    pub(crate) fn call(&mut self, args: &[&[u8]]) -> Result<Reply> {
        let mut buf = Vec::new();
        encode_command(&mut buf, args);
        self.write_raw(&buf)?;
        self.read_reply()
    }
}

/// One measured number.
#[derive(Clone, Debug)]
pub struct Sample {
    /// What was measured, e.g. `PING_INLINE -P 16`.
    pub metric: String,
    /// Unit of `value`, e.g. `rps` (higher is better) or `s` (lower is better).
    pub unit: &'static str,
    /// The number.
    pub value: f64,
    /// How the table compares the two sides on this metric.
    pub ratio: Ratio,
    /// Anything else worth keeping in the JSON (latency percentiles, ...).
    pub details: Map<String, Value>,
}

/// How a row's ratio is computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ratio {
    /// `tandem / redis`: rates (higher is better) and sizes (lower is better).
    #[default]
    TandemOverRedis,
    /// `redis / tandem`, for durations and latencies: a speed ratio, where
    /// >= 1.0 means Tandem is at least as fast.
    RedisOverTandem,
}

impl Ratio {
    /// `tandem` compared with `redis` (medians).
    pub fn of(self, tandem: f64, redis: f64) -> f64 {
        match self {
            Ratio::TandemOverRedis => tandem / redis,
            Ratio::RedisOverTandem => redis / tandem,
        }
    }

    /// What the number means, for the table and the JSON.
    pub fn label(self) -> &'static str {
        match self {
            Ratio::TandemOverRedis => "tandem/redis",
            Ratio::RedisOverTandem => "redis/tandem (speed)",
        }
    }
}

/// Which implementation a server process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// tandem-server (or the `TANDEM_BENCH_SERVER_BIN` override).
    Tandem,
    /// The reference redis-server.
    Redis,
}

impl Side {
    /// Lower-case label used in output.
    pub fn label(self) -> &'static str {
        match self {
            Side::Tandem => "tandem",
            Side::Redis => "redis",
        }
    }
}

/// A running server started by the harness; killed and cleaned on drop.
pub struct Server {
    /// Which implementation.
    pub side: Side,
    /// Its loopback port.
    pub port: u16,
    log: PathBuf,
    guard: util::ChildGuard,
    // Dropped after `guard` (field order), so the process is gone before its dir.
    dir: util::TempDir,
}

impl Server {
    /// Its working directory (`--dir`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Fails, with the end of its log, when the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        self.guard
            .check_running()
            .map_err(|err| anyhow::anyhow!("{err:#}; log tail:\n{}", self.log_tail()))
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.guard.id()
    }

    fn pid_label(&self) -> String {
        self.pid()
            .map_or_else(|| "?".to_owned(), |id| id.to_string())
    }

    fn log_tail(&self) -> String {
        util::tail(&self.log, 20)
    }
}

/// What benchmarks need: the client programs, the server binaries and settings.
pub struct Ctx {
    /// Requests per redis-benchmark test.
    pub requests: u64,
    /// Path of redis-benchmark.
    pub redis_benchmark: PathBuf,
    /// Path of redis-cli.
    pub redis_cli: PathBuf,
    /// Binary for [`Side::Tandem`].
    pub tandem_bin: PathBuf,
    /// Binary for [`Side::Redis`].
    pub redis_bin: PathBuf,
    /// Keys in `rdb`'s dataset (`--keys`).
    pub keys: u64,
    /// `rdb`'s dump, written on first use and shared by every repetition.
    rdb_dump: OnceCell<RdbDump>,
}

impl Ctx {
    /// Starts a server of `side` on `port` in a fresh temp dir with persistence
    /// off plus `extra` arguments, and waits until it answers PING.
    pub fn spawn_server(&self, side: Side, port: u16, extra: &[&str]) -> Result<Server> {
        let dir = util::TempDir::new(side.label())?;
        let mut server = self.launch(side, port, dir, extra)?;
        let ready = util::wait_until(STARTUP_LIMIT, Duration::from_millis(100), || {
            server.check_running()?;
            Ok(self.ping(port))
        })?;
        if !ready {
            bail!(
                "{} (pid {}, port {port}) did not answer PING within {STARTUP_LIMIT:?}; log tail:\n{}",
                side.label(),
                server.pid_label(),
                server.log_tail()
            );
        }
        eprintln!(
            "    {} is up: pid {}, port {port}, dir {}",
            side.label(),
            server.pid_label(),
            server.dir().display()
        );
        Ok(server)
    }

    /// Starts a server of `side` on `port` with `dir` as its `--dir` (it may
    /// already hold a `dump.rdb` to load), persistence off plus `extra`
    /// arguments, and returns at once, without waiting for it to answer.
    pub fn launch(
        &self,
        side: Side,
        port: u16,
        dir: util::TempDir,
        extra: &[&str],
    ) -> Result<Server> {
        let bin = match side {
            Side::Tandem => &self.tandem_bin,
            Side::Redis => &self.redis_bin,
        };
        let log = dir.path().join("server.log");
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir.path())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .args(extra);
        eprintln!("$ {}", util::display(&cmd));
        let guard = util::ChildGuard::spawn(side.label(), &mut cmd, &log)?;
        Ok(Server {
            side,
            port,
            log,
            guard,
            dir,
        })
    }

    /// The path of `rdb`'s dump (see [`write_rdb_dump`]), written on the first call.
    pub fn rdb_dump(&self) -> Result<PathBuf> {
        if let Some(dump) = self.rdb_dump.get() {
            return Ok(dump.path());
        }
        let dump = write_rdb_dump(self)?;
        let path = dump.path();
        // Single-threaded: the cell is still empty.
        let _ = self.rdb_dump.set(dump);
        Ok(path)
    }

    fn ping(&self, port: u16) -> bool {
        let mut cmd = Command::new(&self.redis_cli);
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "ping"]);
        util::output_with_timeout(&mut cmd, Duration::from_secs(2))
            .map(|out| out.trim() == "PONG")
            .unwrap_or(false)
    }

    /// Runs `redis-cli -h 127.0.0.1 -p PORT <args>` (bounded) and returns its
    /// stdout; an error reply (redis-cli still exits 0) is an error.
    pub fn cli(&self, server: &Server, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(&self.redis_cli);
        cmd.args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
            .args(args);
        eprintln!("    [{}] $ {}", server.side.label(), util::display(&cmd));
        let out = util::output_with_timeout(&mut cmd, CLI_LIMIT)?;
        let first = out.trim_start();
        if first.starts_with("ERR") || first.starts_with("(error)") {
            bail!("`{}` replied: {}", util::display(&cmd), out.trim());
        }
        Ok(out)
    }

    /// Runs one step of a [`Plan::Steps`] benchmark on `server`.
    fn run_step(&self, server: &Server, step: &Step) -> Result<Vec<Sample>> {
        let mut samples = self.redis_benchmark(server, &step.args, step.pipeline)?;
        if let Some(metric) = step.metric {
            for sample in &mut samples {
                sample.metric = metric.to_owned();
            }
        }
        Ok(samples)
    }

    /// Runs `redis-benchmark -h 127.0.0.1 -p PORT -n N -c 50 -P pipeline -q --csv <args>`
    /// and returns one `rps` sample per test, named `<TEST> -P <pipeline>`.
    /// `N` is `--requests` times the pipeline depth (at most [`PIPELINE_SCALE_MAX`]): a
    /// pipelined run is that much faster, and a run of a fraction of a second mostly
    /// measures the connections' start and end.
    pub fn redis_benchmark(
        &self,
        server: &Server,
        args: &[&str],
        pipeline: u32,
    ) -> Result<Vec<Sample>> {
        let mut cmd = Command::new(&self.redis_benchmark);
        // Options first: redis-benchmark takes everything after a custom command's first
        // word as that command's arguments.
        cmd.args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
            .args(["-n", &requests_for(self.requests, pipeline).to_string()])
            .args(["-c", &CLIENTS.to_string()])
            .args(["-P", &pipeline.to_string()])
            .args(["-q", "--csv"])
            .args(args);
        eprintln!("    [{}] $ {}", server.side.label(), util::display(&cmd));
        let csv = util::output_with_timeout(&mut cmd, RUN_LIMIT)?;
        let rows = parse_csv(&csv)?;
        if rows.is_empty() {
            bail!("redis-benchmark printed no results:\n{csv}");
        }
        rows.into_iter()
            .map(|row| {
                let test = row
                    .get("test")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned();
                let rps = row
                    .get("rps")
                    .and_then(Value::as_f64)
                    .with_context(|| format!("no numeric rps for {test} in:\n{csv}"))?;
                Ok(Sample {
                    metric: format!("{test} -P {pipeline}"),
                    unit: "rps",
                    value: rps,
                    ratio: Ratio::TandemOverRedis,
                    details: row,
                })
            })
            .collect()
    }
}

/// Parses redis-benchmark's `--csv` output: a quoted header line
/// (`"test","rps",...`) then one quoted line per test. Numeric fields become
/// JSON numbers. Lines before the header (warnings) are skipped.
fn parse_csv(text: &str) -> Result<Vec<Map<String, Value>>> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("\"test\""));
    let Some(header) = lines.next() else {
        bail!("no CSV header (\"test\",\"rps\",...) in redis-benchmark output:\n{text}");
    };
    let columns = split_csv_line(header);
    let mut rows = Vec::new();
    for line in lines.filter(|l| l.starts_with('"')) {
        let fields = split_csv_line(line);
        if fields.len() != columns.len() {
            bail!(
                "CSV line has {} fields, header has {}: {line}",
                fields.len(),
                columns.len()
            );
        }
        let row = columns
            .iter()
            .zip(fields)
            .map(|(col, field)| {
                let value = match field.parse::<f64>() {
                    Ok(n) if col != "test" => json!(n),
                    _ => json!(field),
                };
                (col.clone(), value)
            })
            .collect();
        rows.push(row);
    }
    Ok(rows)
}

/// Splits `"a","b,c","d"` into `a`, `b,c`, `d` (redis-benchmark never escapes quotes).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    fields.push(current);
    fields
}

/// Median; the mean of the two middle values for an even count.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Command-line options of `cargo xtask bench`.
#[derive(Debug, PartialEq)]
struct Options {
    names: Vec<String>,
    reps: usize,
    requests: u64,
    keys: u64,
    list: bool,
}

const USAGE: &str =
    "usage: cargo xtask bench [NAME...] [--reps N] [--requests N] [--keys N] [--list]";

fn parse_args(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        names: Vec::new(),
        reps: DEFAULT_REPS,
        requests: DEFAULT_REQUESTS,
        keys: DEFAULT_KEYS,
        list: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--list" => opts.list = true,
            "--reps" | "--requests" | "--keys" => {
                let value = it
                    .next()
                    .with_context(|| format!("{arg} needs a value\n{USAGE}"))?;
                let n: u64 =
                    value.parse().ok().filter(|&n| n > 0).with_context(|| {
                        format!("{arg} needs a positive integer, got `{value}`")
                    })?;
                match arg.as_str() {
                    "--reps" => opts.reps = usize::try_from(n)?,
                    "--requests" => opts.requests = n,
                    _ => opts.keys = n,
                }
            }
            "-h" | "--help" => opts.list = true,
            flag if flag.starts_with('-') => bail!("unknown option `{flag}`\n{USAGE}"),
            name => opts.names.push(name.to_owned()),
        }
    }
    Ok(opts)
}

fn select(names: &[String]) -> Result<Vec<&'static Benchmark>> {
    if names.is_empty() {
        return Ok(BENCHMARKS.iter().collect());
    }
    let mut selected: Vec<&'static Benchmark> = Vec::new();
    for name in names {
        let target = ALIASES
            .iter()
            .find(|(alias, _)| alias == name)
            .map_or(name.as_str(), |(_, target)| target);
        let bench = BENCHMARKS
            .iter()
            .find(|b| b.name == target)
            .with_context(|| {
                let known: Vec<_> = BENCHMARKS.iter().map(|b| b.name).collect();
                format!("unknown benchmark `{name}`; known: {}", known.join(", "))
            })?;
        // `strings set-get` runs it once.
        if !selected.iter().any(|b| b.name == bench.name) {
            selected.push(bench);
        }
    }
    Ok(selected)
}

/// `cargo xtask bench`.
pub fn run(args: &[String]) -> Result<()> {
    let opts = parse_args(args)?;
    if opts.list {
        println!("{USAGE}\n\nbenchmarks (all run when no NAME is given):");
        for b in BENCHMARKS {
            println!("  {:<10} {}", b.name, b.about);
        }
        for (alias, target) in ALIASES {
            println!("  {alias:<10} alias of `{target}`");
        }
        println!(
            "\n--reps: repetitions per server (default {DEFAULT_REPS}); --requests: requests per \
             redis-benchmark test at -P 1, times the pipeline depth up to \
             {PIPELINE_SCALE_MAX} (default {DEFAULT_REQUESTS}); --keys: keys in rdb's dump \
             (default {DEFAULT_KEYS})."
        );
        println!("{SERVER_BIN_ENV}=PATH replaces the tandem-server binary (skips the build).");
        return Ok(());
    }
    let selected = select(&opts.names)?;

    test::ensure_redis()?;
    let find = |name: &str| util::find_in_path(name).with_context(|| format!("{name} not on PATH"));
    let redis_bin = find("redis-server")?;
    let tandem_bin = match std::env::var_os(SERVER_BIN_ENV) {
        Some(bin) => {
            let bin = PathBuf::from(bin);
            eprintln!(
                "==> {SERVER_BIN_ENV} set: tandem side runs {}",
                bin.display()
            );
            bin
        }
        None => util::build_release_server()?,
    };
    let ctx = Ctx {
        requests: opts.requests,
        redis_benchmark: find("redis-benchmark")?,
        redis_cli: find("redis-cli")?,
        tandem_bin,
        redis_bin,
        keys: opts.keys,
        rdb_dump: OnceCell::new(),
    };

    util::sweep_stale_temp_dirs();
    eprintln!("==> starting servers");
    let ports = util::free_ports(2)?;
    let mut tandem = ctx.spawn_server(Side::Tandem, ports[0], &[])?;
    let mut redis = ctx.spawn_server(Side::Redis, ports[1], &[])?;

    let out_dir = util::target_dir()?.join("xtask-bench");
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    for bench in selected {
        eprintln!(
            "==> benchmark {} ({} repetitions per server)",
            bench.name, opts.reps
        );
        let load_before = load_average();
        let results = measure(&ctx, bench, opts.reps, &mut tandem, &mut redis)?;
        let load_after = load_average();
        let table = render_table(bench.name, &results);
        println!("{table}");
        println!("note: {}", bench.note);
        println!(
            "(medians of {} repetitions per server, {}; \
             {} CPUs; load average {load_before} before, {load_after} after)\n",
            opts.reps,
            match bench.plan {
                Plan::Whole(_) => "alternating which goes first",
                Plan::Pairs(_) =>
                    "both sides' figures of a row taken back to back, alternating which goes \
                     first; ratio: median of the per-pair ratios",
                Plan::Steps(_) =>
                    "each step on both servers back to back, alternating which goes first; \
                     ratio: median of the per-pair ratios",
            },
            cpus(),
        );
        let path = out_dir.join(format!("{}-{}.json", bench.name, util::unix_time()));
        let mut doc = report_json(&ctx, bench, &opts, &results);
        doc["load_average_before"] = json!(load_before);
        doc["load_average_after"] = json!(load_after);
        fs::write(&path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("    wrote {}", path.display());
    }
    tandem.guard.stop();
    redis.guard.stop();
    Ok(())
}

/// All repetitions of one metric.
#[derive(Debug, Default)]
struct MetricResult {
    metric: String,
    unit: &'static str,
    ratio: Ratio,
    tandem: Vec<f64>,
    redis: Vec<f64>,
    details: Vec<Value>,
    /// The two sides' samples were taken in pairs, back to back (a [`Plan::Steps`] or
    /// [`Plan::Pairs`] run): `tandem[i]` and `redis[i]` belong together.
    paired: bool,
}

impl MetricResult {
    /// The row's ratio. Paired samples give the median of the per-pair ratios: both
    /// figures of a pair were taken seconds apart, so the drift of a shared machine
    /// between pairs cancels out, which a quotient of two medians (possibly taken from
    /// different pairs) does not do. Unpaired samples give the ratio of the medians.
    fn ratio(&self) -> f64 {
        if self.paired && self.tandem.len() == self.redis.len() && !self.tandem.is_empty() {
            let per_pair: Vec<f64> = self
                .tandem
                .iter()
                .zip(&self.redis)
                .map(|(&t, &r)| self.ratio.of(t, r))
                .collect();
            median(&per_pair)
        } else {
            self.ratio.of(median(&self.tandem), median(&self.redis))
        }
    }
}

/// Runs `bench` `reps` times on each server. A [`Plan::Whole`] benchmark runs
/// whole on one side then the other, alternating which goes first per
/// repetition; a [`Plan::Steps`] benchmark runs each step on both sides back to
/// back, alternating which goes first per step and per repetition; a
/// [`Plan::Pairs`] benchmark is called once per repetition and pairs its own.
fn measure(
    ctx: &Ctx,
    bench: &Benchmark,
    reps: usize,
    tandem: &mut Server,
    redis: &mut Server,
) -> Result<Vec<MetricResult>> {
    let mut results: Vec<MetricResult> = Vec::new();
    for rep in 0..reps {
        match bench.plan {
            Plan::Whole(run) => {
                for side in order(rep) {
                    let server = pick(side, tandem, redis);
                    server.check_running()?;
                    let samples =
                        run(ctx, server).map_err(|err| failed(bench, server, rep, err))?;
                    record(&mut results, side, rep, samples, false);
                }
            }
            Plan::Pairs(run) => {
                tandem.check_running()?;
                redis.check_running()?;
                let pairs = run(ctx, rep).map_err(|err| {
                    anyhow::anyhow!("{} failed (rep {}): {err:#}", bench.name, rep + 1)
                })?;
                for (side, sample) in pairs {
                    record(&mut results, side, rep, vec![sample], true);
                }
            }
            Plan::Steps(steps) => {
                for (i, step) in steps().iter().enumerate() {
                    for side in order(rep + i) {
                        let server = pick(side, tandem, redis);
                        server.check_running()?;
                        let samples = ctx
                            .run_step(server, step)
                            .map_err(|err| failed(bench, server, rep, err))?;
                        record(&mut results, side, rep, samples, true);
                    }
                }
            }
        }
    }
    Ok(results)
}

/// Tandem first on even turns, Redis first on odd ones.
pub(crate) fn order(turn: usize) -> [Side; 2] {
    if turn.is_multiple_of(2) {
        [Side::Tandem, Side::Redis]
    } else {
        [Side::Redis, Side::Tandem]
    }
}

fn pick<'a>(side: Side, tandem: &'a mut Server, redis: &'a mut Server) -> &'a mut Server {
    match side {
        Side::Tandem => tandem,
        Side::Redis => redis,
    }
}

fn failed(bench: &Benchmark, server: &Server, rep: usize, err: anyhow::Error) -> anyhow::Error {
    let side = server.side.label();
    anyhow::anyhow!(
        "{} failed against {side} (rep {}): {err:#}\n{side} log tail:\n{}",
        bench.name,
        rep + 1,
        server.log_tail()
    )
}

/// Adds one run's samples to their rows (a row per metric, in first-seen order).
fn record(
    results: &mut Vec<MetricResult>,
    side: Side,
    rep: usize,
    samples: Vec<Sample>,
    paired: bool,
) {
    for s in samples {
        let pos = match results.iter().position(|r| r.metric == s.metric) {
            Some(pos) => pos,
            None => {
                results.push(MetricResult {
                    metric: s.metric.clone(),
                    unit: s.unit,
                    ratio: s.ratio,
                    paired,
                    ..MetricResult::default()
                });
                results.len() - 1
            }
        };
        let r = &mut results[pos];
        match side {
            Side::Tandem => r.tandem.push(s.value),
            Side::Redis => r.redis.push(s.value),
        }
        r.details.push(json!({
            "side": side.label(),
            "rep": rep + 1,
            "value": s.value,
            "details": s.details,
        }));
    }
}

/// A median for the table: bytes as MiB, seconds with milliseconds,
/// milliseconds with hundredths, the rest whole.
fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "bytes" => format!("{:.1} MiB", value / (1024.0 * 1024.0)),
        "s" => format!("{value:.3} s"),
        "ms" => format!("{value:.2} ms"),
        _ => format!("{value:.0} {unit}"),
    }
}

/// CPUs this process may use.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minutes), or `?`.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// The table: `benchmark | tandem | redis | ratio(tandem/redis)` when every
/// row is `tandem/redis`; otherwise the ratio column is `ratio` and a fifth
/// column, `ratio is`, says which way each row divides.
fn render_table(name: &str, results: &[MetricResult]) -> String {
    let mixed = results.iter().any(|r| r.ratio != Ratio::TandemOverRedis);
    let mut head = vec![
        "benchmark".to_owned(),
        "tandem".to_owned(),
        "redis".to_owned(),
    ];
    if mixed {
        head.extend(["ratio".to_owned(), "ratio is".to_owned()]);
    } else {
        head.push(format!("ratio({})", Ratio::TandemOverRedis.label()));
    }
    let mut rows = vec![head];
    for r in results {
        let mut row = vec![
            format!("{name}: {}", r.metric),
            format_value(median(&r.tandem), r.unit),
            format_value(median(&r.redis), r.unit),
            format!("{:.3}", r.ratio()),
        ];
        if mixed {
            row.push(r.ratio.label().to_owned());
        }
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| match c {
                // Names and the `ratio is` label to the left, numbers to the right.
                0 => format!("{cell:<w$}"),
                4 => cell.clone(),
                _ => format!("{cell:>w$}"),
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join(" | "));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
            let _ = writeln!(out, "{}", rule.join("-|-"));
        }
    }
    out
}

fn report_json(ctx: &Ctx, bench: &Benchmark, opts: &Options, results: &[MetricResult]) -> Value {
    let version = |bin: &Path| {
        util::output_with_timeout(Command::new(bin).arg("--version"), Duration::from_secs(10))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let git_rev = util::output(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(util::project_root()),
    )
    .map(|r| r.trim().to_owned())
    .ok();
    let metrics: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "metric": r.metric,
                "unit": r.unit,
                "tandem": r.tandem,
                "redis": r.redis,
                "tandem_median": median(&r.tandem),
                "redis_median": median(&r.redis),
                "ratio_tandem_over_redis": median(&r.tandem) / median(&r.redis),
                "ratio": r.ratio(),
                "ratio_of": if r.paired { "median of per-pair ratios" } else { "medians" },
                "ratio_is": r.ratio.label(),
                "runs": r.details,
            })
        })
        .collect();
    json!({
        "benchmark": bench.name,
        "about": bench.about,
        "note": bench.note,
        "unix_time": util::unix_time(),
        "git_rev": git_rev,
        "reps_per_server": opts.reps,
        "requests": opts.requests,
        "keys": opts.keys,
        "clients": CLIENTS,
        "cpus": cpus(),
        "tandem_bin": ctx.tandem_bin,
        "tandem_version": version(&ctx.tandem_bin),
        "redis_bin": ctx.redis_bin,
        "redis_version": version(&ctx.redis_bin),
        "metrics": metrics,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CSV: &str = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\"\n\
                       \"PING_INLINE\",\"74349.45\",\"0.359\",\"0.064\"\n\
                       \"PING_MBULK\",\"77821.02\",\"0.333\",\"0.104\"\n";

    #[test]
    fn csv_is_parsed() {
        let rows = parse_csv(&format!("WARNING: Could not fetch server CONFIG\n{CSV}")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["test"], "PING_INLINE");
        assert_eq!(rows[0]["rps"].as_f64(), Some(74349.45));
        assert_eq!(rows[1]["min_latency_ms"].as_f64(), Some(0.104));
        assert!(parse_csv("garbage\n").is_err());
        assert_eq!(split_csv_line("\"a\",\"b,c\",\"\""), ["a", "b,c", ""]);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn args_are_parsed() {
        let args: Vec<String> = ["ping", "--reps", "5", "--requests", "1000"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let opts = parse_args(&args).unwrap();
        assert_eq!(opts.names, ["ping"]);
        assert_eq!((opts.reps, opts.requests, opts.list), (5, 1000, false));
        assert!(parse_args(&["--reps".to_owned()]).is_err());
        assert!(parse_args(&["--reps".to_owned(), "0".to_owned()]).is_err());
        assert!(parse_args(&["--fast".to_owned()]).is_err());
        assert!(select(&["nope".to_owned()]).is_err());
        assert_eq!(select(&[]).unwrap().len(), BENCHMARKS.len());
    }

    #[test]
    fn aliases_resolve_once() {
        let picked = select(&["set-get".to_owned(), "strings".to_owned()]).unwrap();
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].name, "strings");
        for (alias, target) in ALIASES {
            assert!(BENCHMARKS.iter().any(|b| b.name == *target), "{target}");
            assert!(!BENCHMARKS.iter().any(|b| b.name == *alias), "{alias}");
        }
    }

    #[test]
    fn memory_figures_are_parsed() {
        let status = "Name:\tredis-server\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t5\n";
        assert_eq!(parse_vm_rss(status), Some(1234.0 * 1024.0));
        assert_eq!(parse_vm_rss("VmRSS: 12 MB\n"), None);
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        let info = "# Memory\r\nused_memory:914808\r\nused_memory_human:893.37K\r\n";
        assert_eq!(used_memory(info).unwrap(), 914_808.0);
        assert!(used_memory("# Memory\r\n").is_err());
    }

    #[test]
    fn values_are_formatted_by_unit() {
        assert_eq!(format_value(3.0 * 1024.0 * 1024.0, "bytes"), "3.0 MiB");
        assert_eq!(format_value(1.23456, "s"), "1.235 s");
        assert_eq!(format_value(99_999.6, "rps"), "100000 rps");
        assert_eq!(format_value(1e6, "keys"), "1000000 keys");
    }

    #[test]
    fn names_are_unique() {
        for (i, b) in BENCHMARKS.iter().enumerate() {
            assert!(
                !BENCHMARKS[..i].iter().any(|o| o.name == b.name),
                "{}",
                b.name
            );
        }
    }

    #[test]
    fn step_plans_keep_redis_benchmark_order() {
        let types = types();
        let tests: Vec<String> = types.iter().map(|s| s.args.join(" ")).collect();
        // P1 steps then P16 steps, the custom XADD last at each depth.
        assert_eq!(types.len(), 22);
        assert!(types[..11].iter().all(|s| s.pipeline == 1));
        assert!(types[11..].iter().all(|s| s.pipeline == 16));
        assert_eq!(types[10].metric, Some("XADD -P 1"));
        assert_eq!(types[21].metric, Some("XADD -P 16"));
        // LRANGE tests share one invocation, whose LPUSH fills their list.
        assert!(tests[9].starts_with("-t lrange_100,lrange_600 "));
        assert!(tests[0].starts_with("-t lpush "));
        let strings = strings();
        assert_eq!(strings.len(), 8);
        assert!(strings.iter().all(|s| s.args.ends_with(&["-d", "100"])));
    }

    #[test]
    fn sides_alternate() {
        assert_eq!(order(0), [Side::Tandem, Side::Redis]);
        assert_eq!(order(1), [Side::Redis, Side::Tandem]);
        assert_eq!(order(4), order(0));
    }

    #[test]
    fn table_has_the_four_columns() {
        let r = MetricResult {
            metric: "PING_INLINE -P 1".to_owned(),
            unit: "rps",
            ratio: Ratio::TandemOverRedis,
            tandem: vec![90.0, 110.0, 100.0],
            redis: vec![200.0, 200.0, 200.0],
            details: Vec::new(),
            paired: false,
        };
        let table = render_table("ping", &[r]);
        let mut lines = table.lines();
        let head = lines.next().unwrap();
        assert!(head.starts_with("benchmark"));
        assert!(head.ends_with("ratio(tandem/redis)"));
        let row = lines.nth(1).unwrap();
        assert!(row.contains("ping: PING_INLINE -P 1"), "{row}");
        assert!(row.contains("100 rps") && row.ends_with("0.500"), "{row}");
    }

    #[test]
    fn paired_rows_take_the_median_of_pair_ratios() {
        let mut r = MetricResult {
            metric: "GET -P 1".to_owned(),
            unit: "rps",
            ratio: Ratio::TandemOverRedis,
            // Pair ratios 0.5, 1.3, 1.2: median 1.2. Medians 130 / 100: 1.3.
            tandem: vec![50.0, 130.0, 240.0],
            redis: vec![100.0, 100.0, 200.0],
            details: Vec::new(),
            paired: true,
        };
        assert!((r.ratio() - 1.2).abs() < 1e-9);
        r.paired = false;
        assert!((r.ratio() - 1.3).abs() < 1e-9);
        // A side with a missing sample cannot be paired: medians again.
        r.paired = true;
        r.tandem.pop();
        assert!((r.ratio() - 0.9).abs() < 1e-9);
    }

    #[test]
    fn speed_rows_divide_the_other_way() {
        let time = MetricResult {
            metric: "SAVE time".to_owned(),
            unit: "s",
            ratio: Ratio::RedisOverTandem,
            tandem: vec![0.5, 0.4, 0.6],
            redis: vec![1.0, 1.0, 1.0],
            details: Vec::new(),
            paired: false,
        };
        let size = MetricResult {
            metric: "SAVE file size".to_owned(),
            unit: "bytes",
            ratio: Ratio::TandemOverRedis,
            tandem: vec![102.0],
            redis: vec![100.0],
            details: Vec::new(),
            paired: false,
        };
        assert_eq!(time.ratio(), 2.0);
        let table = render_table("rdb", &[time, size]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].contains("| ratio | ratio is"), "{}", lines[0]);
        assert!(
            lines[2].contains("| 2.000 | redis/tandem (speed)"),
            "{}",
            lines[2]
        );
        assert!(lines[3].contains("| 1.020 | tandem/redis"), "{}", lines[3]);
        assert_eq!(format_value(12.345, "ms"), "12.35 ms");
    }

    #[test]
    fn keys_option_is_parsed() {
        let opts = parse_args(&["rdb".to_owned(), "--keys".to_owned(), "5000".to_owned()]).unwrap();
        assert_eq!((opts.keys, opts.requests), (5000, DEFAULT_REQUESTS));
        assert_eq!(parse_args(&[]).unwrap().keys, DEFAULT_KEYS);
        assert!(parse_args(&["--keys".to_owned(), "x".to_owned()]).is_err());
        assert_eq!(select(&["rdb".to_owned()]).unwrap()[0].name, "rdb");
    }

    #[test]
    fn replies_are_parsed() {
        let mut input: &[u8] =
            b"+OK\r\n-LOADING busy\r\n:42\r\n$3\r\na\r\n\r\n$-1\r\n*2\r\n:1\r\n$0\r\n\r\n*-1\r\n";
        let mut next = || read_reply(&mut input).unwrap();
        assert_eq!(next(), Reply::Status("OK".to_owned()));
        assert_eq!(next(), Reply::Error("LOADING busy".to_owned()));
        assert_eq!(next(), Reply::Int(42));
        assert_eq!(next(), Reply::Bulk(b"a\r\n".to_vec()));
        assert_eq!(next(), Reply::Nil);
        assert_eq!(
            next(),
            Reply::Array(vec![Reply::Int(1), Reply::Bulk(Vec::new())])
        );
        assert_eq!(next(), Reply::Nil);
        assert!(read_reply(&mut input).is_err(), "end of input");
        assert!(read_reply(&mut &b"$5\r\nab\r\n"[..]).is_err(), "short bulk");
        assert!(read_reply(&mut &b"?x\r\n"[..]).is_err(), "unknown type");
        let mut buf = Vec::new();
        encode_command(&mut buf, &[b"SET", b"k", b""]);
        assert_eq!(buf, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn values_are_seeded_base64() {
        let a = SplitMix64(RDB_SEED).value(RDB_VALUE_SIZE);
        let b = SplitMix64(RDB_SEED).value(RDB_VALUE_SIZE);
        assert_eq!(a, b);
        assert_eq!(a.len(), RDB_VALUE_SIZE);
        assert!(a
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"+/".contains(c)));
        let mut rng = SplitMix64(1);
        assert_ne!(rng.value(10), rng.value(10));
        assert!((0..100).all(|_| rng.below(7) < 7));
    }

    #[test]
    fn percentiles_and_info_fields() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&values, 99.0), 198.0);
        assert_eq!(percentile(&values, 100.0), 200.0);
        assert_eq!(percentile(&[5.0], 99.0), 5.0);
        assert!(percentile(&[], 99.0).is_nan());
        let info = "# Persistence\r\nloading:0\r\nrdb_bgsave_in_progress:1\r\n\
                    rdb_last_bgsave_status:ok\r\n";
        assert_eq!(info_field(info, "rdb_bgsave_in_progress"), Some("1"));
        assert_eq!(info_field(info, "rdb_last_bgsave_status"), Some("ok"));
        assert_eq!(info_field(info, "rdb_bgsave"), None);
    }
}
