//! `cargo xtask test`: everything CI checks, in one command (`.ci/run` calls it).
//!
//! Steps, each under a `==> [i/n]` header, stopping at the first failure:
//!
//! 1. make sure the reference Redis (7.0.x: `redis-server`, `redis-cli`,
//!    `redis-benchmark`) is installed, installing it with apt when running as root;
//! 2. `cargo fmt --all -- --check`;
//! 3. `cargo clippy --workspace --all-targets -- -D warnings`;
//! 4. `cargo build --workspace --lib --bins --tests`: builds `tandem-server` (so
//!    integration tests in any package find the binary) together with every
//!    test binary, in one invocation;
//! 5. `cargo test --workspace` with `TANDEM_SERVER_BIN` (the debug binary) and
//!    `REDIS_SERVER_BIN` set; this also runs the tidy and floors `#[test]`s;
//! 6. the floors check (`cargo xtask floors`) with its layering table.
//!
//! Everything is built once in the dev profile. Step 4 selects tests, so cargo
//! resolves features exactly as `cargo test --workspace` does (dev-dependency
//! features included) and step 5 reuses every artifact instead of rebuilding
//! the dependencies that a plain `cargo build -p tandem-server` would have
//! compiled with other features. (Clippy's check-only artifacts cannot be
//! shared with a real build.)

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::{floors, util};

/// The programs the tests and benchmarks drive.
pub const REDIS_PROGRAMS: [&str; 3] = ["redis-server", "redis-cli", "redis-benchmark"];
/// Debian/Ubuntu packages providing [`REDIS_PROGRAMS`].
const REDIS_PACKAGES: [&str; 2] = ["redis-server", "redis-tools"];
/// The reference version line (Redis 7.0.15 is the reference; any 7.0.x is accepted).
const REDIS_SERIES: &str = "7.0.";

/// The body of one step.
type Step = fn() -> Result<()>;

/// Names and bodies of the steps, in order.
const STEPS: &[(&str, Step)] = &[
    ("ensure Redis 7.0 is installed", ensure_redis_step),
    ("cargo fmt --all -- --check", fmt),
    (
        "cargo clippy --workspace --all-targets -- -D warnings",
        clippy,
    ),
    (
        "cargo build --workspace --lib --bins --tests (tandem-server + tests)",
        build,
    ),
    ("cargo test --workspace", test_workspace),
    ("floors check", floors_check),
];

/// `cargo xtask test`.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask test` takes no arguments (got `{arg}`)");
    }
    let started = Instant::now();
    for (i, (title, step)) in STEPS.iter().enumerate() {
        util::header(i + 1, STEPS.len(), title);
        let t = Instant::now();
        step().with_context(|| format!("step {}/{} `{title}` failed", i + 1, STEPS.len()))?;
        eprintln!("    ok: {title} ({:.1}s)", t.elapsed().as_secs_f64());
    }
    eprintln!();
    eprintln!(
        "==> all {} steps passed in {:.0}s",
        STEPS.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn ensure_redis_step() -> Result<()> {
    let server = ensure_redis()?;
    eprintln!("    using {}", server.display());
    Ok(())
}

/// Makes sure the Redis programs are on `PATH` (installing them with apt when
/// root) and warns when `redis-server` is not 7.0.x. Returns redis-server's path.
pub fn ensure_redis() -> Result<PathBuf> {
    let missing = missing_redis_programs();
    if !missing.is_empty() {
        let install = format!("apt-get install -y {}", REDIS_PACKAGES.join(" "));
        if !util::is_root() {
            bail!(
                "missing {}: install Redis 7.0 (reference 7.0.15) with \
                 `sudo {install}` (Debian/Ubuntu), or put the binaries on PATH, then rerun",
                missing.join(", ")
            );
        }
        eprintln!("    missing {}: installing with apt", missing.join(", "));
        apt_install().context(
            "could not install Redis with apt; install redis-server and redis-tools (7.0.x) by hand",
        )?;
        let still = missing_redis_programs();
        if !still.is_empty() {
            bail!("still missing after `{install}`: {}", still.join(", "));
        }
    }
    let server = util::find_in_path("redis-server").context("redis-server not on PATH")?;
    let version = util::output(Command::new(&server).arg("--version"))?;
    match parse_redis_version(&version) {
        Some(v) if v.starts_with(REDIS_SERIES) => eprintln!("    redis-server {v}"),
        Some(v) => eprintln!(
            "    WARNING: redis-server is {v}; the reference behaviour is Redis 7.0.15, \
             tests comparing against it may fail"
        ),
        None => eprintln!(
            "    WARNING: cannot read the version from `redis-server --version`: {}",
            version.trim()
        ),
    }
    Ok(server)
}

fn missing_redis_programs() -> Vec<&'static str> {
    REDIS_PROGRAMS
        .into_iter()
        .filter(|p| util::find_in_path(p).is_none())
        .collect()
}

/// `apt-get install`, running `apt-get update` first only if the install fails without it.
fn apt_install() -> Result<()> {
    let install = || {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y"])
            .args(REDIS_PACKAGES);
        cmd
    };
    if util::run(&mut install()).is_ok() {
        return Ok(());
    }
    eprintln!("    install failed; running apt-get update and retrying");
    util::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .arg("update"),
    )?;
    util::run(&mut install())
}

/// Extracts `7.0.15` from `Redis server v=7.0.15 sha=... malloc=...`.
fn parse_redis_version(line: &str) -> Option<&str> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
}

fn fmt() -> Result<()> {
    util::run(util::cargo().args(["fmt", "--all", "--", "--check"]))
        .context("formatting differs: run `cargo fmt --all` (needs the rustfmt component)")
}

fn clippy() -> Result<()> {
    util::run(util::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
}

fn build() -> Result<()> {
    util::run(util::cargo().args(["build", "--workspace", "--lib", "--bins", "--tests"]))?;
    let server_bin = server_bin()?;
    if !server_bin.is_file() {
        bail!("{} was not built", server_bin.display());
    }
    Ok(())
}

/// The debug `tandem-server` binary the integration tests run.
fn server_bin() -> Result<PathBuf> {
    Ok(util::target_dir()?.join("debug").join("tandem-server"))
}

fn test_workspace() -> Result<()> {
    let server_bin = server_bin()?;
    let redis_bin = util::find_in_path("redis-server").context("redis-server not on PATH")?;
    eprintln!("    TANDEM_SERVER_BIN={}", server_bin.display());
    eprintln!("    REDIS_SERVER_BIN={}", redis_bin.display());
    util::run(
        util::cargo()
            .args(["test", "--workspace"])
            .env("TANDEM_SERVER_BIN", &server_bin)
            .env("REDIS_SERVER_BIN", &redis_bin),
    )
}

fn floors_check() -> Result<()> {
    floors::run(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_version_is_parsed() {
        let line =
            "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=e08d\n";
        assert_eq!(parse_redis_version(line), Some("7.0.15"));
        assert_eq!(parse_redis_version("redis-server 6"), None);
    }
}
