//! `cargo xtask`: the workspace's automation, written in Rust.
//!
//! This is matklad's cargo-xtask pattern (<https://github.com/matklad/cargo-xtask/>),
//! as rust-analyzer uses it: instead of shell scripts or a Makefile, the tasks
//! live in an ordinary binary crate of the workspace, run through the alias in
//! `.cargo/config.toml` (`cargo xtask ...` is `cargo run --package xtask --bin
//! xtask -- ...`). They need nothing but cargo to run, work the same on every
//! machine and in CI, and are checked by the compiler and by clippy.
//!
//! Commands (one module each; `main` only dispatches):
//!
//! * `test`: everything CI checks, in order ([`test`]); `.ci/run` calls it;
//! * `bench [NAME...]`: tandem-server against redis-server in one run ([`bench`];
//!   the replication benchmarks in [`bench_repl`]);
//! * `fuzz-diff [ARGS]`: a random differential run against redis-server ([`fuzz_diff`]);
//! * `floors`: the crate layering guard ([`floors`]);
//! * `tidy`: repository conventions ([`tidy`]);
//! * `codegen`: generated sources ([`codegen`]).
//!
//! The floors and tidy checks are also `#[test]`s, so plain `cargo test` runs them.
//! [`util`] holds the process helpers (commands, free ports, child guards, temp dirs).
#![forbid(unsafe_code)]

mod bench;
mod bench_aof;
mod bench_repl;
mod codegen;
mod floors;
mod fuzz_diff;
mod test;
mod tidy;
mod util;

use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  test              fmt check, clippy, build, cargo test --workspace, floors (what CI runs)
  bench [NAME...]   compare tandem-server with redis-server (`bench --list` for names)
  fuzz-diff [args]  random commands to tandem-server and redis-server, replies compared
                    (--seed N --seeds N --count N --reduce --only CMD,.. --skip CMD,..)
  floors            check that crates only depend on lower floors
  tidy              check crate READMEs, crate docs, forbid(unsafe_code), CI matrix
  codegen [args]    regenerate generated sources
  help              this message";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match command.as_str() {
        "test" => test::run(rest),
        "bench" => bench::run(rest),
        "fuzz-diff" => fuzz_diff::run(rest),
        "floors" => floors::run(rest),
        "tidy" => tidy::run(rest),
        // Works whether codegen returns anyhow::Result<()> or Result<(), String>.
        "codegen" => codegen::run(rest).map_err(|err| anyhow::anyhow!("{err:#}")),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}
