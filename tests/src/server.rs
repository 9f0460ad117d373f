//! Owning one server child process: `redis-server` (the reference) or
//! `tandem-server` (the system under test).
//!
//! [`ServerBuilder`] composes the command line
//! (`[config-file] --port P --bind 127.0.0.1 --save "" --appendonly no --dir D [extra args]`),
//! picks a free loopback port (bind `127.0.0.1:0`, read the port, release it),
//! creates a fresh temporary directory (the server's `dir`, which also holds
//! `stdout.log` and `stderr.log`), spawns the child and, with
//! [`ServerBuilder::start`], waits (bounded) until it answers `PING`.
//!
//! [`ServerProcess`] is the guard: dropping it sends `SIGTERM` to exactly its
//! child (by pid, through `kill(1)`, only while the child is not yet reaped),
//! waits a bounded time, then falls back to [`std::process::Child::kill`], and
//! finally removes the temporary directory.
//!
//! Binaries: `redis-server` comes from `$REDIS_SERVER_BIN` or `PATH`;
//! `tandem-server` from `$TANDEM_SERVER_BIN`, else
//! `<target-dir>/debug/tandem-server` (target dir: `$CARGO_TARGET_DIR` or
//! `<workspace>/target`), built once with `cargo build -p tandem-server` when
//! missing. Setting `TANDEM_SERVER_BIN=/usr/bin/redis-server` runs every test
//! redis-vs-redis, a self-check of the harness and of the corpora.

use std::ffi::OsString;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::resp::{Reply, RespConn};
use crate::{HarnessError, Result};

/// How long [`ServerBuilder::start`] waits for the first `PING` answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the drop guard waits after `SIGTERM` before killing.
pub const TERM_GRACE: Duration = Duration::from_secs(5);
/// Upper bound for building `tandem-server` when its binary is missing.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// Which server program to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// The reference, `redis-server` 7.0.x.
    Redis,
    /// The system under test, `tandem-server`.
    Tandem,
}

impl Flavor {
    /// Short label used in reports.
    pub fn label(self) -> &'static str {
        match self {
            Flavor::Redis => "redis",
            Flavor::Tandem => "tandem",
        }
    }

    /// Path of the binary for this flavor (building Tandem when needed).
    pub fn binary(self) -> Result<PathBuf> {
        match self {
            Flavor::Redis => Ok(std::env::var_os("REDIS_SERVER_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("redis-server"))),
            Flavor::Tandem => tandem_binary(),
        }
    }
}

/// Locates `tandem-server`, building it once per process when it is missing.
pub fn tandem_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("TANDEM_SERVER_BIN") {
        return Ok(PathBuf::from(bin));
    }
    static BUILT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let path = default_tandem_path();
            if path.is_file() {
                return Ok(path);
            }
            build_tandem()?;
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!("built, but {} does not exist", path.display()))
            }
        })
        .clone()
        .map_err(HarnessError::Build)
}

/// `<target-dir>/debug/tandem-server`.
fn default_tandem_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        crate::workspace_root().join(target)
    };
    target.join("debug").join("tandem-server")
}

/// Runs `cargo build -p tandem-server` in the workspace root, bounded by [`BUILD_TIMEOUT`].
fn build_tandem() -> std::result::Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let log = tempfile::NamedTempFile::new().map_err(|e| format!("temp file: {e}"))?;
    let log_file = log
        .reopen()
        .map_err(|e| format!("reopening temp file: {e}"))?;
    let mut child = Command::new(cargo)
        .args(["build", "-p", "tandem-server"])
        .current_dir(crate::workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| format!("spawning cargo: {e}"))?;
    let status = wait_bounded(&mut child, BUILD_TIMEOUT).map_err(|e| e.to_string())?;
    let output = std::fs::read_to_string(log.path()).unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!(
            "cargo build exited with {s}:\n{}",
            tail(&output, 4000)
        )),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "cargo build did not finish within {BUILD_TIMEOUT:?}:\n{}",
                tail(&output, 4000)
            ))
        }
    }
}

/// The last `max` bytes of `s` (on a char boundary).
fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Polls `child` until it exits or `timeout` passes; `Ok(None)` on timeout.
fn wait_bounded(child: &mut Child, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a helper program (redis-cli, redis-benchmark, ...) to completion,
/// killing it after `timeout`; stdout and stderr are captured through temp files.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<std::process::Output> {
    let out = tempfile::NamedTempFile::new().map_err(|e| HarnessError::io("temp file", e))?;
    let err = tempfile::NamedTempFile::new().map_err(|e| HarnessError::io("temp file", e))?;
    let reopen = |f: &tempfile::NamedTempFile| {
        f.reopen()
            .map(Stdio::from)
            .map_err(|e| HarnessError::io("reopening temp file", e))
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(reopen(&out)?)
        .stderr(reopen(&err)?)
        .spawn()
        .map_err(|e| HarnessError::io(format!("spawning {cmd:?}"), e))?;
    let status = match wait_bounded(&mut child, timeout)
        .map_err(|e| HarnessError::io("waiting for a helper", e))?
    {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HarnessError::Timeout(format!(
                "{cmd:?} ran over {timeout:?}"
            )));
        }
    };
    let read = |f: &tempfile::NamedTempFile| {
        std::fs::read(f.path()).map_err(|e| HarnessError::io("reading captured output", e))
    };
    Ok(std::process::Output {
        status,
        stdout: read(&out)?,
        stderr: read(&err)?,
    })
}

/// A currently free TCP port on 127.0.0.1 (bound to port 0, then released).
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| HarnessError::io("binding 127.0.0.1:0", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| HarnessError::io("reading local address", e))?
        .port();
    Ok(port)
}

/// Builder for a [`ServerProcess`].
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    flavor: Flavor,
    config_file: Option<PathBuf>,
    args: Vec<OsString>,
    port: Option<u16>,
    standard_args: bool,
}

impl ServerBuilder {
    /// A builder for `flavor` with the standard arguments and a free port.
    pub fn new(flavor: Flavor) -> Self {
        ServerBuilder {
            flavor,
            config_file: None,
            args: Vec::new(),
            port: None,
            standard_args: true,
        }
    }

    /// Passes a configuration file as the first argument.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Appends one argument after the standard ones (so it overrides them).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Uses this port instead of a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Leaves out `--port/--bind/--save/--appendonly/--dir` (the port is still
    /// chosen and reported, but not passed).
    pub fn without_standard_args(mut self) -> Self {
        self.standard_args = false;
        self
    }

    /// Spawns the server without waiting for it to answer.
    pub fn spawn(&self) -> Result<ServerProcess> {
        let binary = self.flavor.binary()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("tandem-tests-{}-", self.flavor.label()))
            .tempdir()
            .map_err(|e| HarnessError::io("creating a temp dir", e))?;
        let port = match self.port {
            Some(p) => p,
            None => free_port()?,
        };
        let mut argv: Vec<OsString> = Vec::new();
        if let Some(conf) = &self.config_file {
            argv.push(conf.clone().into_os_string());
        }
        if self.standard_args {
            for a in ["--port", &port.to_string(), "--bind", "127.0.0.1"] {
                argv.push(a.into());
            }
            for a in ["--save", "", "--appendonly", "no", "--dir"] {
                argv.push(a.into());
            }
            argv.push(dir.path().as_os_str().to_owned());
        }
        argv.extend(self.args.iter().cloned());

        let stdout_path = dir.path().join("stdout.log");
        let stderr_path = dir.path().join("stderr.log");
        let stdout =
            File::create(&stdout_path).map_err(|e| HarnessError::io("creating stdout.log", e))?;
        let stderr =
            File::create(&stderr_path).map_err(|e| HarnessError::io("creating stderr.log", e))?;
        let child = Command::new(&binary)
            .args(&argv)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| HarnessError::io(format!("spawning {}", binary.display()), e))?;
        Ok(ServerProcess {
            child,
            flavor: self.flavor,
            port,
            binary,
            argv,
            stdout_path,
            stderr_path,
            dir: Some(dir),
        })
    }

    /// Spawns the server and waits (at most [`READY_TIMEOUT`]) until it answers
    /// `PING` with any reply. When the port was chosen here and turned out to be
    /// taken meanwhile, retries with another port (twice).
    pub fn start(&self) -> Result<ServerProcess> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut server = self.spawn()?;
            match server.wait_ready(READY_TIMEOUT) {
                Ok(()) => return Ok(server),
                Err(e) => {
                    let log = server.stdout_log();
                    let port_race = self.port.is_none()
                        && (log.contains("Address already in use")
                            || log.contains("Failed listening")
                            || e.to_string().contains(PORT_TAKEN));
                    if port_race && attempt < 3 {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// Start-up error text when the chosen port was answered by another process.
const PORT_TAKEN: &str = "port taken by another server";

/// A running server child; see the module docs for the drop behaviour.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    flavor: Flavor,
    port: u16,
    binary: PathBuf,
    argv: Vec<OsString>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Starts `flavor` with the standard arguments plus `extra_args`, waiting for PING.
    pub fn start<S: AsRef<str>>(flavor: Flavor, extra_args: &[S]) -> Result<Self> {
        ServerBuilder::new(flavor)
            .args(extra_args.iter().map(|a| a.as_ref().to_owned()))
            .start()
    }

    /// A redis-server replica of `master` (on loopback), with DEBUG enabled.
    pub fn redis_replica_of(master: &ServerProcess) -> Result<Self> {
        let port = master.port().to_string();
        ServerProcess::start(
            Flavor::Redis,
            &[
                "--replicaof",
                "127.0.0.1",
                &port,
                "--enable-debug-command",
                "yes",
            ],
        )
    }

    /// Which program this is.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The binary that was started.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The temporary directory (server `dir`, logs).
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        let mut s = self.binary.display().to_string();
        for a in &self.argv {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(' ') {
                s.push_str(&format!(" '{a}'"));
            } else {
                s.push(' ');
                s.push_str(&a);
            }
        }
        s
    }

    /// Everything the child wrote to stdout so far (Redis logs there when `logfile ""`).
    pub fn stdout_log(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Opens a raw RESP connection.
    pub fn connect(&self) -> Result<RespConn> {
        RespConn::connect(self.addr())
    }

    /// Returns the exit status if the child has exited.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .map_err(|e| HarnessError::io("try_wait", e))
    }

    /// Waits at most `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        wait_bounded(&mut self.child, timeout).map_err(|e| HarnessError::io("waiting", e))
    }

    /// Sends `SIGTERM` to the child (through `kill -TERM <pid>`), unless it has
    /// already exited and been reaped.
    pub fn sigterm(&mut self) -> Result<()> {
        if self.try_status()?.is_some() {
            return Ok(());
        }
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| HarnessError::io("running kill -TERM", e))?;
        if status.success() || self.try_status()?.is_some() {
            Ok(())
        } else {
            Err(HarnessError::Startup(format!(
                "kill -TERM failed: {status}"
            )))
        }
    }

    /// `SIGTERM`, wait up to `grace`, then `SIGKILL`; returns the exit status.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        let _ = self.sigterm();
        if let Some(status) = self.wait_timeout(grace)? {
            return Ok(status);
        }
        self.child
            .kill()
            .map_err(|e| HarnessError::io("killing the server", e))?;
        self.child
            .wait()
            .map_err(|e| HarnessError::io("reaping the server", e))
    }

    /// Waits until the server answers `PING` with any reply (bounded by `timeout`).
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status()? {
                return Err(HarnessError::Startup(format!(
                    "{} exited with {status} before answering PING\ncommand: {}\nstdout:\n{}\nstderr:\n{}",
                    self.flavor.label(),
                    self.command_line(),
                    tail(&self.stdout_log(), 4000),
                    tail(&self.stderr_log(), 4000),
                )));
            }
            let last = match self.ping_once() {
                Ok(()) if self.answered_by_another_process() => {
                    return Err(HarnessError::Startup(format!(
                        "{PORT_TAKEN}: port {} answered INFO with a process_id other than {}",
                        self.port,
                        self.pid()
                    )));
                }
                Ok(()) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(HarnessError::Startup(format!(
                    "{} did not answer PING within {timeout:?} (last error: {last})\ncommand: {}\nstdout:\n{}",
                    self.flavor.label(),
                    self.command_line(),
                    tail(&self.stdout_log(), 4000),
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// True when `INFO server` on the port names another process: the port was free when
    /// chosen, then another server took it before this one could bind (this one then exits,
    /// but a PING in between reaches the other). Unknown (an error reply, e.g. NOAUTH) counts
    /// as ours.
    fn answered_by_another_process(&self) -> bool {
        let Ok(mut conn) = RespConn::connect_with_timeout(self.addr(), Duration::from_millis(500))
        else {
            return false;
        };
        conn.set_timeout(Duration::from_secs(1));
        if conn.send(&["INFO", "server"]).is_err() {
            return false;
        }
        let Ok(Reply::Frame(frame)) = conn.read_reply() else {
            return false;
        };
        let Some(info) = frame.as_string() else {
            return false;
        };
        let Some(line) = info.lines().find_map(|l| l.strip_prefix("process_id:")) else {
            return false;
        };
        line.trim() != self.pid().to_string()
    }

    fn ping_once(&self) -> Result<()> {
        let mut conn = RespConn::connect_with_timeout(self.addr(), Duration::from_millis(500))?;
        conn.set_timeout(Duration::from_secs(1));
        conn.send(&["PING"])?;
        match conn.read_reply()? {
            Reply::Frame(_) => Ok(()),
            Reply::Closed => Err(HarnessError::Startup("closed on PING".into())),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.terminate(TERM_GRACE);
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}
