//! `tandem-server`: a Redis-compatible server whose heart is Redis's replication.
//!
//! # Layout
//! - [`config`]: every redis.conf directive of Redis 7.0.15, file and command-line parsing,
//!   CONFIG GET/SET/REWRITE.
//! - [`log`]: Redis's log line format over `tracing`.
//! - [`net`]: listeners and per-connection tasks (read, decode, batch, write).
//! - [`exec`]: the [`exec::Core`]: the server state behind one lock; runs batches in order.
//! - [`cmd`]: command dispatch and handlers, one module per family.
//! - [`client`]: the executor's per-client state.
//! - [`persist`]: SAVE / BGSAVE / save points, loading at start-up, DEBUG RELOAD.
//!
//! Start-up follows redis-server: parse config, log the start, bind (or fail with Redis's
//! message), log `Server initialized` and `Ready to accept connections`, then serve until
//! SHUTDOWN, SIGTERM or SIGINT.
#![deny(unsafe_code)]

mod alloc;
mod aof;
mod blocking;
mod busy;
mod client;
mod cmd;
mod config;
mod evict;
mod exec;
mod functions;
mod latency;
mod log;
mod net;
mod persist;
mod repl;
mod replication_replica;
mod script;
mod server;
mod sha1;
mod spin;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize};
use std::sync::Arc;

use crate::config::Config;
use crate::exec::Core;
use crate::net::Shared;
use crate::server::Server;

/// The Redis version Tandem behaves as (INFO, HELLO).
pub const REDIS_VERSION: &str = "7.0.15";
/// Tandem's own version.
pub const TANDEM_VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!(
                    "Tandem server v={TANDEM_VERSION} (Redis {REDIS_VERSION} compatible) bits=64"
                );
                return;
            }
            "-h" | "--help" => {
                println!("Usage: ./tandem-server [/path/to/redis.conf] [options] [-]");
                println!("       ./tandem-server - (read config from stdin)");
                println!("       ./tandem-server -v or --version");
                println!("       ./tandem-server -h or --help");
                println!();
                println!("Examples:");
                println!("       ./tandem-server (run the server with default conf)");
                println!("       ./tandem-server /etc/redis/6379.conf");
                println!("       ./tandem-server --port 7777");
                println!("       ./tandem-server --port 7777 --replicaof 127.0.0.1 8888");
                println!("       ./tandem-server /etc/myredis.conf --loglevel verbose");
                return;
            }
            _ => {}
        }
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) if e.is_log_line() => {
            // Redis logs this one as a warning line on its log (stdout), not on stderr.
            log::set_role(b'C');
            log::init(log::LogLevel::Notice, "");
            tracing::warn!("{}", e.to_string().trim_end());
            std::process::exit(1);
        }
        Err(e) => {
            eprint!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = std::env::set_current_dir(config.dir()) {
        eprintln!("Can't chdir to '{}': {e}", config.dir().display());
        std::process::exit(1);
    }
    std::process::exit(run(config));
}

fn run(config: Config) -> i32 {
    let level = log::LogLevel::parse(&config.get_str("loglevel")).unwrap_or(log::LogLevel::Notice);
    log::set_role(b'C');
    log::init(level, &config.get_str("logfile"));
    let pid = std::process::id();
    tracing::warn!("oO0OoO0OoO0Oo Tandem is starting oO0OoO0OoO0Oo");
    tracing::warn!(
        "Tandem version={TANDEM_VERSION} (Redis version={REDIS_VERSION}), bits=64, pid={pid}, just started"
    );
    if config.config_file().is_none() {
        tracing::warn!("Warning: no config file specified, using the default config. In order to specify a config file use tandem-server /path/to/redis.conf");
    } else {
        tracing::warn!("Configuration loaded");
    }
    for name in config.unsupported_in_use() {
        tracing::warn!(
            "Warning: directive '{name}' is accepted but not acted on by this version of Tandem"
        );
    }
    if config.get_bool("daemonize") {
        tracing::warn!("Warning: daemonize yes is not supported; running in the foreground");
    }
    log::set_role(b'M');

    let port = config.get_i64("port").clamp(0, 65535) as u16;
    let backlog = config.get_i64("tcp-backlog").clamp(1, i64::from(i32::MAX)) as i32;
    let mut listeners = Vec::new();
    if port != 0 {
        for (addr, optional) in net::bind_addrs(&config.get_list("bind"), port) {
            match net::bind_one(addr, backlog) {
                Ok(l) => listeners.push(l),
                Err(e) if optional => {
                    tracing::debug!("Skipping optional bind address {addr}: {e}");
                }
                Err(e) => {
                    let shown = if addr.ip().is_unspecified() && addr.is_ipv4() {
                        "*".to_string()
                    } else {
                        addr.ip().to_string()
                    };
                    tracing::warn!(
                        "Warning: Could not create server TCP listening socket {shown}:{port}: bind: {}",
                        io_error_text(&e)
                    );
                    tracing::warn!("Failed listening on port {port} (tcp), aborting.");
                    return 1;
                }
            }
        }
        if listeners.is_empty() {
            tracing::warn!("Failed listening on port {port} (tcp), aborting.");
            return 1;
        }
    }

    if config.get_bool("always-show-logo") {
        log::write_raw(&banner(port, pid));
    } else {
        tracing::info!("Running mode=standalone, port={port}.");
    }

    let shared = Arc::new(Shared {
        requires_auth: AtomicBool::new(false),
        protected_mode: AtomicBool::new(true),
        max_bulk_len: AtomicI64::new(512 * 1024 * 1024),
        query_buffer_limit: AtomicI64::new(1024 * 1024 * 1024),
        maxclients: AtomicI64::new(10000),
        connected: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
    });
    let pidfile = config.get_str("pidfile");
    let io_threads_directive = config.get_i64("io-threads").clamp(1, 128) as usize;
    let mut srv = Server::new(config, port, shared.clone());
    if let Err(msg) = cmd::acl::load_at_startup(&mut srv) {
        tracing::warn!("{msg}");
        std::process::exit(1);
    }
    srv.sync_shared();
    tracing::warn!("Server initialized");
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{pid}\n")) {
            tracing::warn!("Failed to write PID file: {e}");
        }
    }

    // `io-threads` (Redis's default: 1) sets the network threads; TANDEM_IO_THREADS
    // overrides it for benchmarking. One thread runs tokio's single-threaded scheduler, as
    // Redis runs one event loop: on a 2-core machine, where redis-benchmark or the clients
    // need the other core, it costs less CPU per request and about half the context
    // switches of a 2-worker work-stealing runtime under `redis-benchmark -c 50`. More
    // threads use the multi-threaded scheduler.
    let io_threads = std::env::var("TANDEM_IO_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(io_threads_directive)
        .max(1);
    let built = if io_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(io_threads)
            .enable_all()
            .build()
    };
    let runtime = match built {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!("Failed to start the network runtime: {e}");
            return 1;
        }
    };
    let core = Core::new(srv);
    replication_replica::init(&core, runtime.handle().clone());
    if io_threads > 1 {
        busy::several_network_threads();
    }
    if io_threads == 1 {
        // A script past busy-reply-threshold answers other clients from a helper thread
        // (see busy.rs); it needs copies of the listening sockets, and a way back in.
        let copies = listeners
            .iter()
            .filter_map(|l| l.try_clone().ok())
            .collect();
        let (handoff, accepted) = tokio::sync::mpsc::unbounded_channel();
        busy::init(copies, shared.clone(), pidfile.clone(), handoff);
        busy::publish_users(&core.srv.lock().acl.users);
        runtime.spawn(net::adopt_loop(accepted, core.clone(), shared.clone()));
    }
    for l in listeners {
        let core = core.clone();
        let shared = shared.clone();
        runtime.spawn(async move {
            match tokio::net::TcpListener::from_std(l) {
                Ok(listener) => net::accept_loop(listener, core, shared).await,
                Err(e) => tracing::warn!("Listener setup failed: {e}"),
            }
        });
    }
    runtime.spawn(signals(core.clone()));
    if io_threads == 1 {
        if let Some(window) = spin::window_from_env() {
            runtime.spawn(spin::run(window));
        }
    }
    let cron_core = core.clone();
    runtime.spawn(async move {
        loop {
            let period = cron_core.cron();
            let next = tokio::time::Instant::now() + period;
            // An eviction its time limit stopped goes on between the other tasks' work
            // until memory is back within maxmemory (Redis's evictionTimeProc).
            while cron_core.evicting() && tokio::time::Instant::now() < next {
                tokio::task::yield_now().await;
                cron_core.evict_step();
            }
            tokio::time::sleep_until(next).await;
        }
    });
    // While a dump loads, its thread says "Ready to accept connections" when done.
    let appendonly = core.srv.lock().config.get_bool("appendonly");
    let loading = if appendonly {
        aof::start_loading(&core)
    } else {
        persist::start_loading(&core)
    };
    if !loading {
        tracing::info!("Ready to accept connections");
    }
    runtime.block_on(core.shutdown.notified());
    let code = cmd::server::finish_shutdown(&mut core.srv.lock());
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

/// Forwards SIGTERM and SIGINT to the executor, which shuts down like SHUTDOWN does.
async fn signals(core: std::sync::Arc<Core>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("Could not install signal handlers");
        return;
    };
    loop {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        core.signal(name);
    }
}

/// The strerror-style text Redis prints for a bind failure.
fn io_error_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "Address already in use".to_string(),
        std::io::ErrorKind::AddrNotAvailable => "Cannot assign requested address".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Tandem's start-up banner (`always-show-logo yes`), with the `Port:` and `PID:` lines
/// harnesses look for.
fn banner(port: u16, pid: u32) -> String {
    let art = [
        "     _______________",
        "    |_____   _____|   Tandem {V} (Redis {R} compatible) 64 bit",
        "          | |  ___    ",
        "          | | / _ \\   Running in standalone mode",
        "          | || |_| |  Port: {P}",
        "          |_| \\___/   PID: {I}",
        "    ~~~ two riders, one stream ~~~",
    ];
    let mut s = String::from("\n");
    for line in art {
        s.push_str(
            &line
                .replace("{V}", TANDEM_VERSION)
                .replace("{R}", REDIS_VERSION)
                .replace("{P}", &port.to_string())
                .replace("{I}", &pid.to_string()),
        );
        s.push('\n');
    }
    s.push('\n');
    s
}
