//! Small process and filesystem helpers shared by the xtask commands.
//!
//! Everything here is plain `std`: running a command and failing loudly when it
//! fails, finding programs on `PATH`, picking a free loopback port, a child
//! process guard that kills exactly the process it started when dropped, and a
//! temporary directory removed when dropped. The commands ([`crate::test`],
//! [`crate::bench`], ...) are written in terms of these helpers so that each of
//! them reads like the shell script it replaces.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

/// The workspace root: the parent of the `xtask` package.
pub fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.to_path_buf())
}

/// A `cargo` command (the same cargo that runs us, when known) started in the
/// workspace root.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(project_root());
    cmd
}

/// Prints a step header, e.g. `==> [2/6] cargo fmt --check`.
pub fn header(index: usize, total: usize, title: &str) {
    eprintln!();
    eprintln!("==> [{index}/{total}] {title}");
}

/// Renders a command the way one would type it in a shell (for logs and errors).
pub fn display(cmd: &Command) -> String {
    let mut out = quote(cmd.get_program());
    for arg in cmd.get_args() {
        out.push(' ');
        out.push_str(&quote(arg));
    }
    out
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` with inherited stdio, failing when it cannot start or exits non-zero.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = display(cmd);
    eprintln!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{shown}`"))?;
    check_status(&shown, status)
}

fn check_status(shown: &str, status: ExitStatus) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        bail!("`{shown}` failed ({status})")
    }
}

/// Runs `cmd` and returns its stdout; a non-zero exit is an error that carries stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let shown = display(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` capturing stdout and stderr, killing it when it runs longer than
/// `limit`. Returns stdout; a non-zero exit or the time limit is an error.
pub fn output_with_timeout(cmd: &mut Command, limit: Duration) -> Result<String> {
    let shown = display(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{shown}`"))?;
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.map(join_drain).unwrap_or_default();
    let stderr = stderr.map(join_drain).unwrap_or_default();
    match status {
        None => bail!("`{shown}` did not finish within {limit:?} and was killed"),
        Some(status) if !status.success() => {
            bail!("`{shown}` failed ({status}): {}", stderr.trim())
        }
        Some(_) => Ok(stdout),
    }
}

fn drain<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn join_drain(handle: thread::JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

/// Looks `name` up on `PATH` like a shell would (first executable file wins).
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// True when this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // The owner of /proc/self is the effective uid of the process.
    if let Ok(meta) = fs::metadata("/proc/self") {
        return meta.uid() == 0;
    }
    output(Command::new("id").arg("-u"))
        .map(|uid| uid.trim() == "0")
        .unwrap_or(false)
}

/// `n` distinct loopback ports that were free a moment ago: bind 127.0.0.1:0
/// `n` times (holding every listener until all are chosen), read, release.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0"))
        .collect::<Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Seconds since the Unix epoch.
pub fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Polls `ready` every `interval` until it returns true or `limit` elapses.
/// Returns whether it became ready; errors from `ready` abort the wait.
pub fn wait_until(
    limit: Duration,
    interval: Duration,
    mut ready: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    let deadline = Instant::now() + limit;
    loop {
        if ready()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        thread::sleep(interval);
    }
}

/// A spawned child process that is killed (and reaped) when the guard drops,
/// so an early return or a panic never leaves it running. It only ever signals
/// the process it spawned, by its handle.
pub struct ChildGuard {
    name: String,
    child: Option<Child>,
}

impl ChildGuard {
    /// Spawns `cmd` with stdin closed and stdout+stderr appended to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<ChildGuard> {
        let shown = display(cmd);
        let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {name}: `{shown}`"))?;
        Ok(ChildGuard {
            name: name.to_owned(),
            child: Some(child),
        })
    }

    /// The process id of the child.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails when the child has already exited.
    pub fn check_running(&mut self) -> Result<()> {
        let name = &self.name;
        match self.child.as_mut() {
            None => bail!("{name} was already stopped"),
            Some(child) => match child.try_wait()? {
                None => Ok(()),
                Some(status) => bail!("{name} exited unexpectedly ({status})"),
            },
        }
    }

    /// Kills the child and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Builds tandem-server in release and returns the binary's path.
pub fn build_release_server() -> Result<PathBuf> {
    eprintln!("==> building tandem-server (release)");
    run(cargo().args(["build", "--release", "-p", "tandem-server"]))?;
    Ok(target_dir()?.join("release").join("tandem-server"))
}

/// Prefix of every temporary directory xtask creates (see [`sweep_stale_temp_dirs`]).
const TEMP_PREFIX: &str = "tandem-xtask-";

/// A fresh directory under the system temp dir, removed (recursively) on drop.
/// Its name embeds our pid so a later run can clean up after a killed one.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/tandem-xtask-<pid>-<n>-<label>`.
    pub fn new(label: &str) -> Result<TempDir> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("{TEMP_PREFIX}{}-{n}{nanos}-{label}", std::process::id());
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Best-effort removal of temp dirs left by xtask runs that were killed before
/// their guards ran (e.g. Ctrl-C): those whose embedded pid is no longer alive.
pub fn sweep_stale_temp_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The last `lines` lines of a (log) file, for error messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `cargo metadata --format-version 1 --no-deps` for the workspace, parsed.
pub fn cargo_metadata() -> Result<serde_json::Value> {
    let text = output(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    serde_json::from_str(&text).context("cannot parse `cargo metadata` output")
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR` and config).
pub fn target_dir() -> Result<PathBuf> {
    let meta = cargo_metadata()?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` has no target_directory")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_like_a_shell() {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--save", "", "--dir", "/tmp/a b", "--port", "7000"]);
        assert_eq!(
            display(&cmd),
            "redis-server --save '' --dir '/tmp/a b' --port 7000"
        );
    }

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports = free_ports(2).unwrap();
        assert_ne!(ports[0], ports[1]);
        for port in ports {
            assert_ne!(port, 0);
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let dir = TempDir::new("unit").unwrap();
        let path = dir.path().to_path_buf();
        fs::write(path.join("f"), b"x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn timeout_kills_a_slow_child() {
        let err = output_with_timeout(Command::new("sleep").arg("5"), Duration::from_millis(100))
            .unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
        let out =
            output_with_timeout(Command::new("echo").arg("hi"), Duration::from_secs(10)).unwrap();
        assert_eq!(out, "hi\n");
    }
}
