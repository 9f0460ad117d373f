//! Files the tests look at: RDB dumps checked with `redis-check-rdb` and copied into
//! fresh directories for another server to load (and that server's start), and a
//! replica's `temp-*.rdb` files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::probe::{info_field, wait_until};
use crate::{run_bounded, Flavor, ServerProcess};

/// Asserts that redis-server 7.0.15's own checker accepts the RDB file at `path`.
pub fn check_rdb(path: &Path) {
    let out = run_bounded(
        Command::new("redis-check-rdb").arg(path),
        Duration::from_secs(60),
    )
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("RDB looks OK"),
        "redis-check-rdb refused {}:\n{stdout}",
        path.display()
    );
}

/// A fresh temporary directory holding a copy of `from_dir/dump.rdb`.
pub fn copy_dump(from_dir: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(from_dir.join("dump.rdb"), dir.path().join("dump.rdb")).unwrap();
    dir
}

/// The `temp-*.rdb` files in `dir` (a replica's payload being received).
pub fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("temp-") && n.ends_with(".rdb"))
        .collect()
}

/// Starts a server with DEBUG enabled and `extra` arguments, in `dir` when given (so it
/// loads `dir/dump.rdb`), and returns once `INFO persistence` says the load is over.
pub fn start_loaded(flavor: Flavor, dir: Option<&Path>, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = vec!["--enable-debug-command".into(), "yes".into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    if let Some(d) = dir {
        args.push("--dir".into());
        args.push(d.display().to_string());
    }
    let server = ServerProcess::start(flavor, &args).unwrap();
    let mut c = server.connect().unwrap();
    wait_until("the dataset to load", || {
        info_field(&mut c, "persistence", "loading").as_deref() == Some("0")
    });
    server
}
