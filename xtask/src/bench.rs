//! `cargo xtask bench [NAME...]`: whole-system comparisons against redis-server.
//!
//! DESIGN.md asks for speed to be measured, not asserted, and reported as a
//! ratio against the reference in the same run. This harness:
//!
//! 1. builds `tandem-server` in release (`cargo build --release -p tandem-server`);
//! 2. starts it and `redis-server` side by side, each on its own free loopback
//!    port, in its own temp dir, with `--save '' --appendonly no`, and waits
//!    (bounded) until each answers `PING`;
//! 3. runs every selected benchmark against both with the same client,
//!    alternating which server goes first on each repetition, and takes the
//!    median of the repetitions;
//! 4. prints `benchmark | tandem | redis | ratio(tandem/redis)` and writes the
//!    raw numbers to `target/xtask-bench/<name>-<unix time>.json`.
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

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use crate::{test, util};

/// Environment variable overriding the tandem-side binary.
const SERVER_BIN_ENV: &str = "TANDEM_BENCH_SERVER_BIN";
/// Repetitions per server, by default.
const DEFAULT_REPS: usize = 3;
/// Requests per redis-benchmark test, by default.
const DEFAULT_REQUESTS: u64 = 200_000;
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
    /// Measures one server once.
    pub run: fn(&Ctx, &Server) -> Result<Vec<Sample>>,
}

/// The benchmarks, in the order `cargo xtask bench` (no name) runs them.
pub const BENCHMARKS: &[Benchmark] = &[
    Benchmark {
        name: "ping",
        about: "redis-benchmark PING_INLINE + PING_MBULK, 50 clients, pipeline 1 and 16",
        run: ping,
    },
    Benchmark {
        name: "set-get",
        about: "redis-benchmark SET + GET, 100k random keys, 3-byte values, 50 clients, pipeline 1 and 16",
        run: set_get,
    },
];

fn ping(ctx: &Ctx, server: &Server) -> Result<Vec<Sample>> {
    let mut samples = ctx.redis_benchmark(server, &["-t", "ping_inline,ping_mbulk"], 1)?;
    samples.extend(ctx.redis_benchmark(server, &["-t", "ping_inline,ping_mbulk"], 16)?);
    Ok(samples)
}

fn set_get(ctx: &Ctx, server: &Server) -> Result<Vec<Sample>> {
    let args = ["-t", "set,get", "-r", "100000", "-d", "3"];
    let mut samples = ctx.redis_benchmark(server, &args, 1)?;
    samples.extend(ctx.redis_benchmark(server, &args, 16)?);
    Ok(samples)
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
    /// Anything else worth keeping in the JSON (latency percentiles, ...).
    pub details: Map<String, Value>,
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

    fn pid(&self) -> String {
        self.guard
            .id()
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
}

impl Ctx {
    /// Starts a server of `side` on `port` in a fresh temp dir with persistence
    /// off plus `extra` arguments, and waits until it answers PING.
    pub fn spawn_server(&self, side: Side, port: u16, extra: &[&str]) -> Result<Server> {
        let bin = match side {
            Side::Tandem => &self.tandem_bin,
            Side::Redis => &self.redis_bin,
        };
        let dir = util::TempDir::new(side.label())?;
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
        let mut server = Server {
            side,
            port,
            log,
            guard,
            dir,
        };
        let ready = util::wait_until(STARTUP_LIMIT, Duration::from_millis(100), || {
            server.check_running()?;
            Ok(self.ping(port))
        })?;
        if !ready {
            bail!(
                "{} (pid {}, port {port}) did not answer PING within {STARTUP_LIMIT:?}; log tail:\n{}",
                side.label(),
                server.pid(),
                server.log_tail()
            );
        }
        eprintln!(
            "    {} is up: pid {}, port {port}, dir {}",
            side.label(),
            server.pid(),
            server.dir().display()
        );
        Ok(server)
    }

    fn ping(&self, port: u16) -> bool {
        let mut cmd = Command::new(&self.redis_cli);
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "ping"]);
        util::output_with_timeout(&mut cmd, Duration::from_secs(2))
            .map(|out| out.trim() == "PONG")
            .unwrap_or(false)
    }

    /// Runs `redis-benchmark -h 127.0.0.1 -p PORT <args> -n N -c 50 -P pipeline -q --csv`
    /// and returns one `rps` sample per test, named `<TEST> -P <pipeline>`.
    pub fn redis_benchmark(
        &self,
        server: &Server,
        args: &[&str],
        pipeline: u32,
    ) -> Result<Vec<Sample>> {
        let mut cmd = Command::new(&self.redis_benchmark);
        cmd.args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
            .args(args)
            .args(["-n", &self.requests.to_string()])
            .args(["-c", &CLIENTS.to_string()])
            .args(["-P", &pipeline.to_string()])
            .args(["-q", "--csv"]);
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
    list: bool,
}

const USAGE: &str = "usage: cargo xtask bench [NAME...] [--reps N] [--requests N] [--list]";

fn parse_args(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        names: Vec::new(),
        reps: DEFAULT_REPS,
        requests: DEFAULT_REQUESTS,
        list: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--list" => opts.list = true,
            "--reps" | "--requests" => {
                let value = it
                    .next()
                    .with_context(|| format!("{arg} needs a value\n{USAGE}"))?;
                let n: u64 =
                    value.parse().ok().filter(|&n| n > 0).with_context(|| {
                        format!("{arg} needs a positive integer, got `{value}`")
                    })?;
                if arg == "--reps" {
                    opts.reps = usize::try_from(n)?;
                } else {
                    opts.requests = n;
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
    names
        .iter()
        .map(|name| {
            BENCHMARKS.iter().find(|b| b.name == name).with_context(|| {
                let known: Vec<_> = BENCHMARKS.iter().map(|b| b.name).collect();
                format!("unknown benchmark `{name}`; known: {}", known.join(", "))
            })
        })
        .collect()
}

/// `cargo xtask bench`.
pub fn run(args: &[String]) -> Result<()> {
    let opts = parse_args(args)?;
    if opts.list {
        println!("{USAGE}\n\nbenchmarks (all run when no NAME is given):");
        for b in BENCHMARKS {
            println!("  {:<10} {}", b.name, b.about);
        }
        println!("\n{SERVER_BIN_ENV}=PATH replaces the tandem-server binary (skips the build).");
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
        None => {
            eprintln!("==> building tandem-server (release)");
            util::run(util::cargo().args(["build", "--release", "-p", "tandem-server"]))?;
            util::target_dir()?.join("release").join("tandem-server")
        }
    };
    let ctx = Ctx {
        requests: opts.requests,
        redis_benchmark: find("redis-benchmark")?,
        redis_cli: find("redis-cli")?,
        tandem_bin,
        redis_bin,
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
        let results = measure(&ctx, bench, opts.reps, &mut tandem, &mut redis)?;
        let table = render_table(bench.name, &results);
        println!("{table}");
        let path = out_dir.join(format!("{}-{}.json", bench.name, util::unix_time()));
        let doc = report_json(&ctx, bench, &opts, &results);
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
    tandem: Vec<f64>,
    redis: Vec<f64>,
    details: Vec<Value>,
}

impl MetricResult {
    fn ratio(&self) -> f64 {
        median(&self.tandem) / median(&self.redis)
    }
}

/// Runs `bench` `reps` times on each server, alternating which goes first.
fn measure(
    ctx: &Ctx,
    bench: &Benchmark,
    reps: usize,
    tandem: &mut Server,
    redis: &mut Server,
) -> Result<Vec<MetricResult>> {
    let mut results: Vec<MetricResult> = Vec::new();
    for rep in 0..reps {
        let order = if rep % 2 == 0 {
            [Side::Tandem, Side::Redis]
        } else {
            [Side::Redis, Side::Tandem]
        };
        for side in order {
            let server = match side {
                Side::Tandem => &mut *tandem,
                Side::Redis => &mut *redis,
            };
            server.check_running()?;
            let samples = (bench.run)(ctx, server).map_err(|err| {
                anyhow::anyhow!(
                    "{} failed against {} (rep {}): {err:#}\n{} log tail:\n{}",
                    bench.name,
                    side.label(),
                    rep + 1,
                    side.label(),
                    server.log_tail()
                )
            })?;
            for s in samples {
                let pos = match results.iter().position(|r| r.metric == s.metric) {
                    Some(pos) => pos,
                    None => {
                        results.push(MetricResult {
                            metric: s.metric.clone(),
                            unit: s.unit,
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
    }
    Ok(results)
}

fn render_table(name: &str, results: &[MetricResult]) -> String {
    let mut rows = vec![[
        "benchmark".to_owned(),
        "tandem".to_owned(),
        "redis".to_owned(),
        "ratio(tandem/redis)".to_owned(),
    ]];
    for r in results {
        rows.push([
            format!("{name}: {}", r.metric),
            format!("{:.0} {}", median(&r.tandem), r.unit),
            format!("{:.0} {}", median(&r.redis), r.unit),
            format!("{:.3}", r.ratio()),
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<w0$} | {:>w1$} | {:>w2$} | {:>w3$}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
        if i == 0 {
            let _ = writeln!(
                out,
                "{}-|-{}-|-{}-|-{}",
                "-".repeat(widths[0]),
                "-".repeat(widths[1]),
                "-".repeat(widths[2]),
                "-".repeat(widths[3])
            );
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
                "ratio_tandem_over_redis": r.ratio(),
                "runs": r.details,
            })
        })
        .collect();
    json!({
        "benchmark": bench.name,
        "about": bench.about,
        "unix_time": util::unix_time(),
        "git_rev": git_rev,
        "reps_per_server": opts.reps,
        "requests": opts.requests,
        "clients": CLIENTS,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
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
    fn table_has_the_four_columns() {
        let r = MetricResult {
            metric: "PING_INLINE -P 1".to_owned(),
            unit: "rps",
            tandem: vec![90.0, 110.0, 100.0],
            redis: vec![200.0, 200.0, 200.0],
            details: Vec::new(),
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
}
