//! `fuzz-diff`: random differential runs of tandem-server against redis-server
//! (see `tandem_tests::fuzz`). Usually started by `cargo xtask fuzz-diff`.
//!
//! ```text
//! fuzz-diff [--seed N] [--seeds N] [--count N] [--digest-every N]
//!           [--max-findings N] [--reduce] [--only CMD,..] [--skip CMD,..]
//! ```
//! Exits with 1 when anything differed.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use tandem_tests::fuzz::{self, Options};
use tandem_tests::{Flavor, ServerProcess};

const USAGE: &str = "usage: fuzz-diff [--seed N] [--seeds N] [--count N] [--digest-every N] \
                     [--max-findings N] [--reduce] [--only CMD,..] [--skip CMD,..]";

fn parse(args: &[String]) -> Result<(Options, u64), String> {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let mut opts = Options {
        seed,
        count: 20_000,
        digest_every: 500,
        max_findings: 5,
        reduce: false,
        only: Vec::new(),
        skip: Vec::new(),
    };
    let mut seeds = 1;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--reduce" {
            opts.reduce = true;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        let list = || value.split(',').map(str::to_ascii_uppercase).collect();
        match flag.as_str() {
            "--seed" => opts.seed = number()?,
            "--seeds" => seeds = number()?,
            "--count" => opts.count = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--digest-every" => {
                opts.digest_every = usize::try_from(number()?.max(1)).map_err(|e| e.to_string())?;
            }
            "--max-findings" => {
                opts.max_findings = usize::try_from(number()?).map_err(|e| e.to_string())?;
            }
            "--only" => opts.only = list(),
            "--skip" => opts.skip = list(),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok((opts, seeds))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut opts, seeds) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("fuzz-diff: {err}");
            return ExitCode::from(2);
        }
    };
    let debug = ["--enable-debug-command", "yes"];
    let started = ServerProcess::start(Flavor::Tandem, &debug)
        .and_then(|t| Ok((t, ServerProcess::start(Flavor::Redis, &debug)?)));
    let (mut tandem, redis) = match started {
        Ok(servers) => servers,
        Err(err) => {
            eprintln!("fuzz-diff: cannot start the servers: {err}");
            return ExitCode::from(2);
        }
    };
    let mut total = 0;
    for _ in 0..seeds {
        println!("--- seed {} ({} commands)", opts.seed, opts.count);
        match fuzz::run(&opts, &tandem, &redis) {
            Ok(found) => total += found,
            Err(err) => {
                total += 1;
                println!("seed {}: the run stopped: {err}", opts.seed);
                if let Ok(Some(status)) = tandem.try_status() {
                    println!(
                        "tandem-server exited ({status}); stderr:\n{}",
                        tandem.stderr_log()
                    );
                    break;
                }
            }
        }
        opts.seed += 1;
    }
    println!("--- {total} finding(s)");
    if total == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
