//! Files the tests look at: RDB dumps checked with `redis-check-rdb` and copied into
//! fresh directories for another server to load, and a replica's `temp-*.rdb` files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::run_bounded;

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
