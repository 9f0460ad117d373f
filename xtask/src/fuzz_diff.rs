//! `cargo xtask fuzz-diff [ARGS]`: random differential runs, tandem-server against
//! redis-server (the `fuzz-diff` binary of `tandem-tests`, see `tandem_tests::fuzz`).
//!
//! Installs redis-server when needed, builds tandem-server in release, and passes
//! `ARGS` through (`--seed N --seeds N --count N --reduce --only CMD,..`). Not part
//! of `cargo xtask test`: a finding is a lead to reduce into a corpus case.

use anyhow::Result;

use crate::{test, util};

/// Runs the fuzz-diff binary with `args`.
pub fn run(args: &[String]) -> Result<()> {
    test::ensure_redis()?;
    let server = util::build_release_server()?;
    util::run(
        util::cargo()
            .args([
                "run",
                "-q",
                "-p",
                "tandem-tests",
                "--bin",
                "fuzz-diff",
                "--",
            ])
            .args(args)
            .env("TANDEM_SERVER_BIN", server),
    )
}
