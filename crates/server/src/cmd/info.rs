//! INFO: the server's state as `# Section` blocks of `field:value` lines.
//!
//! Section names, their order, field names and number formats are those of redis-server
//! 7.0.15's `genRedisInfoString`, so monitoring tools and client libraries that parse INFO
//! work unchanged (Tandem even reports `redis_version:7.0.15` for that reason). Values come
//! from Tandem's real state where it has one (uptime, clients, command and byte counters,
//! process memory and CPU from `/proc`); fields for things Tandem does not do yet (Lua, AOF,
//! forks, eviction, ...) carry the values an idle Redis reports.
//!
//! [`section_text`] renders one section, so other parts of the server (replication,
//! a future sentinel mode) can reuse them; [`info_text`] renders a whole INFO reply.
//! The `record_*` functions feed the errorstats and commandstats sections.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::client::all_clients;
use super::Ctx;
use crate::client::Client;
use crate::server::{Server, Stats};

/// Every section in output order, with the names that select it.
const SECTIONS: &[(&str, &[&str])] = &[
    ("server", &["server"]),
    ("clients", &["clients"]),
    ("memory", &["memory"]),
    ("persistence", &["persistence"]),
    ("stats", &["stats"]),
    ("replication", &["replication"]),
    ("cpu", &["cpu"]),
    ("modules", &["module_list", "modules"]),
    ("commandstats", &["commandstats"]),
    ("errorstats", &["errorstats"]),
    ("latencystats", &["latencystats"]),
    ("cluster", &["cluster"]),
    ("keyspace", &["keyspace"]),
];

/// What `INFO` and `INFO default` show.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// `INFO [section ...]`, a verbatim `txt` string in RESP3 (a bulk string in RESP2).
pub fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let names: Vec<&[u8]> = args[1..].iter().map(|a| &a[..]).collect();
    let text = info_text(ctx.srv, Some(ctx.client), &names);
    ctx.enc().verbatim(b"txt", text.as_bytes());
}

/// The role INFO, HELLO and ROLE report.
pub fn role_name(srv: &Server) -> &'static str {
    if srv.replica.is_active() {
        "slave"
    } else {
        "master"
    }
}

/// The INFO reply for the section names given (none means `default`): the selected sections
/// in Redis's order, separated by an empty line. Names are case-insensitive; `all` and
/// `everything` select every section; unknown names select nothing.
pub fn info_text(srv: &Server, client: Option<&Client>, names: &[&[u8]]) -> String {
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut all = false;
    if names.is_empty() {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    for n in names {
        let n = String::from_utf8_lossy(n).to_ascii_lowercase();
        match n.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
            "all" | "everything" => all = true,
            _ => {
                wanted.insert(n);
            }
        }
    }
    let mut out = String::new();
    for (name, selectors) in SECTIONS {
        if !all && !selectors.iter().any(|s| wanted.contains(*s)) {
            continue;
        }
        if let Some(text) = section_text(srv, client, name) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            out.push_str(&text);
        }
    }
    out
}

/// One section, `# Title\r\n` included, or `None` for a name INFO does not know. `client` is
/// the client running the command (it is out of `srv.clients` while it runs).
pub fn section_text(srv: &Server, client: Option<&Client>, section: &str) -> Option<String> {
    let section = section.to_ascii_lowercase();
    let mut s = String::with_capacity(1024);
    match section.as_str() {
        "server" => server_section(&mut s, srv),
        "clients" => clients_section(&mut s, srv, client),
        "memory" => memory_section(&mut s, srv),
        "persistence" => persistence_section(&mut s, srv),
        "stats" => stats_section(&mut s, srv),
        "replication" => replication_section(&mut s, srv),
        "cpu" => cpu_section(&mut s),
        "modules" | "module_list" => s.push_str("# Modules\r\n"),
        "commandstats" => commandstats_section(&mut s, &srv.stats),
        "errorstats" => errorstats_section(&mut s, &srv.stats),
        "latencystats" => latencystats_section(&mut s, srv),
        "cluster" => s.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => keyspace_section(&mut s, srv),
        _ => return None,
    }
    Some(s)
}

/// Appends `name:value\r\n`.
fn field(s: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = write!(s, "{name}:{value}\r\n");
}

fn now_unix() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// `uname -s -r -m`, from /proc where the kernel exposes it.
fn os_string() -> String {
    let sysname = read_trimmed("/proc/sys/kernel/ostype").unwrap_or_else(|| {
        let os = std::env::consts::OS;
        let mut c = os.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    });
    let release = read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{sysname} {release} {}", std::env::consts::ARCH)
}

fn server_section(s: &mut String, srv: &Server) {
    let now = now_unix();
    let uptime = srv.started.elapsed().as_secs();
    let hz = srv.config.get_i64("hz");
    s.push_str("# Server\r\n");
    field(s, "redis_version", crate::REDIS_VERSION);
    field(s, "redis_git_sha1", "00000000");
    field(s, "redis_git_dirty", 0);
    field(s, "redis_build_id", "0000000000000000");
    field(s, "redis_mode", "standalone");
    field(s, "os", os_string());
    field(s, "arch_bits", usize::BITS);
    field(s, "monotonic_clock", "POSIX clock_gettime");
    field(s, "multiplexing_api", "epoll");
    field(s, "atomicvar_api", "c11-builtin");
    field(s, "gcc_version", "0.0.0");
    field(s, "process_id", std::process::id());
    field(s, "process_supervised", "no");
    field(s, "run_id", &srv.run_id);
    field(s, "tcp_port", srv.port);
    field(s, "server_time_usec", now.as_micros());
    field(s, "uptime_in_seconds", uptime);
    field(s, "uptime_in_days", uptime / (3600 * 24));
    field(s, "hz", hz);
    field(s, "configured_hz", hz);
    field(s, "lru_clock", now.as_secs() & 0xFF_FFFF);
    field(s, "executable", &srv.executable);
    let config_file = srv
        .config
        .config_file()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    field(s, "config_file", config_file);
    field(s, "io_threads_active", 0);
}

fn clients_section(s: &mut String, srv: &Server, client: Option<&Client>) {
    let clients = all_clients(srv, client);
    let max_in = clients.iter().map(|c| c.qbuf).max().unwrap_or(0);
    s.push_str("# Clients\r\n");
    // Redis counts every client but the replicas attached to it (its master client and
    // MONITOR clients included).
    let replicas = clients
        .iter()
        .filter(|c| c.repl.is_replica && !c.monitor)
        .count();
    field(s, "connected_clients", clients.len() - replicas);
    field(s, "cluster_connections", 0);
    field(s, "maxclients", srv.config.get_i64("maxclients"));
    field(s, "client_recent_max_input_buffer", max_in);
    field(s, "client_recent_max_output_buffer", 0);
    field(s, "blocked_clients", srv.blocking.len());
    field(s, "tracking_clients", 0);
    field(s, "clients_in_timeout_table", srv.blocking.with_deadline());
}

/// Redis's `bytesToHuman`.
pub fn bytes_to_human(n: u64) -> String {
    const K: f64 = 1024.0;
    let d = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1 << 20 {
        format!("{:.2}K", d / K)
    } else if n < 1 << 30 {
        format!("{:.2}M", d / (K * K))
    } else if n < 1 << 40 {
        format!("{:.2}G", d / (K * K * K))
    } else if n < 1 << 50 {
        format!("{:.2}T", d / (K * K * K * K))
    } else if n < 1 << 60 {
        format!("{:.2}P", d / (K * K * K * K * K))
    } else {
        format!("{n}B")
    }
}

/// A `Name:   1234 kB` line of a /proc status-style file, in bytes.
fn proc_kb(path: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line[name.len()..]
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The process's resident memory in bytes (`VmRSS`), 0 where /proc is unavailable.
pub fn resident_bytes() -> u64 {
    proc_kb("/proc/self/status", "VmRSS").unwrap_or(0)
}

/// INFO memory.
///
/// `used_memory` is what Redis calls it: the bytes the allocator (jemalloc, as in Redis)
/// has handed out and not got back (`stats.allocated`); `used_memory_rss` is `VmRSS`.
/// `allocator_active` / `allocator_resident` and the ratios derived from them are
/// jemalloc's, as Redis computes them. `used_memory_startup` is `used_memory` when the
/// process started; the dataset is what grew since then minus the key tables' slots
/// (counted as overhead, as Redis counts its main dictionaries).
fn memory_section(s: &mut String, srv: &Server) {
    let o = crate::cmd::memory::Overhead::now(srv);
    let (rss, alloc, used, peak) = (o.rss, o.alloc, o.used, o.peak);
    let total = proc_kb("/proc/meminfo", "MemTotal").unwrap_or(0);
    let maxmemory = srv.config.get_i64("maxmemory").max(0) as u64;
    s.push_str("# Memory\r\n");
    field(s, "used_memory", used);
    field(s, "used_memory_human", bytes_to_human(used));
    field(s, "used_memory_rss", rss);
    field(s, "used_memory_rss_human", bytes_to_human(rss));
    field(s, "used_memory_peak", peak);
    field(s, "used_memory_peak_human", bytes_to_human(peak));
    field(s, "used_memory_peak_perc", format!("{:.2}%", o.peak_perc));
    field(s, "used_memory_overhead", o.total);
    field(s, "used_memory_startup", o.startup);
    field(s, "used_memory_dataset", o.dataset);
    field(
        s,
        "used_memory_dataset_perc",
        format!("{:.2}%", o.dataset_perc),
    );
    field(s, "allocator_allocated", alloc.allocated);
    field(s, "allocator_active", alloc.active);
    field(s, "allocator_resident", alloc.resident);
    field(s, "total_system_memory", total);
    field(s, "total_system_memory_human", bytes_to_human(total));
    let lua = srv.scripting.memory();
    field(s, "used_memory_lua", lua.eval_vm);
    field(s, "used_memory_vm_eval", lua.eval_vm);
    field(s, "used_memory_lua_human", bytes_to_human(lua.eval_vm));
    field(s, "used_memory_scripts_eval", lua.eval_caches);
    field(s, "number_of_cached_scripts", srv.scripting.len());
    let (functions, libraries) = srv
        .scripting
        .functions
        .as_ref()
        .map_or((0, 0), |f| (f.function_count(), f.libraries().count()));
    field(s, "number_of_functions", functions);
    field(s, "number_of_libraries", libraries);
    let vm_total = lua.eval_vm + lua.functions_vm;
    field(s, "used_memory_vm_functions", lua.functions_vm);
    field(s, "used_memory_vm_total", vm_total);
    field(s, "used_memory_vm_total_human", bytes_to_human(vm_total));
    field(s, "used_memory_functions", lua.functions_caches);
    let scripts = lua.eval_caches + lua.functions_caches;
    field(s, "used_memory_scripts", scripts);
    field(s, "used_memory_scripts_human", bytes_to_human(scripts));
    field(s, "maxmemory", maxmemory);
    field(s, "maxmemory_human", bytes_to_human(maxmemory));
    field(
        s,
        "maxmemory_policy",
        srv.config.get_str("maxmemory-policy"),
    );
    // Redis's ratios (floats, shown with two decimals): active/allocated,
    // resident/active, rss/resident, rss/used.
    let ratio = |r: f32| format!("{r:.2}");
    field(s, "allocator_frag_ratio", ratio(o.allocator_frag()));
    field(s, "allocator_frag_bytes", o.allocator_frag_bytes());
    field(s, "allocator_rss_ratio", ratio(o.allocator_rss()));
    field(s, "allocator_rss_bytes", o.allocator_rss_bytes());
    field(s, "rss_overhead_ratio", ratio(o.rss_extra()));
    field(s, "rss_overhead_bytes", o.rss_extra_bytes());
    field(s, "mem_fragmentation_ratio", ratio(o.total_frag()));
    field(s, "mem_fragmentation_bytes", o.total_frag_bytes());
    // The stream queued for replicas is Redis's replication buffer beyond the backlog:
    // not counted for eviction, part of the replicas' client memory and of the total.
    field(s, "mem_not_counted_for_evict", o.clients_slaves);
    field(s, "mem_replication_backlog", o.backlog);
    field(
        s,
        "mem_total_replication_buffers",
        o.backlog + o.clients_slaves,
    );
    field(s, "mem_clients_slaves", o.clients_slaves);
    field(s, "mem_clients_normal", 0);
    field(s, "mem_cluster_links", 0);
    field(s, "mem_aof_buffer", 0);
    field(s, "mem_allocator", crate::alloc::name());
    field(s, "active_defrag_running", 0);
    field(s, "lazyfree_pending_objects", srv.ks.lazyfree_pending());
    field(s, "lazyfreed_objects", srv.ks.stats().lazyfreed_objects);
}

fn persistence_section(s: &mut String, srv: &Server) {
    let p = &srv.persist;
    let now = crate::persist::unix_now();
    s.push_str("# Persistence\r\n");
    field(s, "loading", u8::from(p.loading.is_some()));
    field(s, "async_loading", 0);
    field(s, "current_cow_peak", 0);
    field(s, "current_cow_size", 0);
    field(s, "current_cow_size_age", 0);
    field(s, "current_fork_perc", "0.00");
    let (done, total) = p.bgsave.as_ref().map_or((0, 0), |b| {
        (
            b.keys_done.load(std::sync::atomic::Ordering::Relaxed),
            b.keys_total,
        )
    });
    field(s, "current_save_keys_processed", done);
    field(s, "current_save_keys_total", total);
    field(s, "rdb_changes_since_last_save", srv.dirty);
    field(s, "rdb_bgsave_in_progress", u8::from(p.bgsave.is_some()));
    field(s, "rdb_last_save_time", p.lastsave);
    field(
        s,
        "rdb_last_bgsave_status",
        if p.last_bgsave_ok { "ok" } else { "err" },
    );
    field(s, "rdb_last_bgsave_time_sec", p.last_bgsave_time_sec);
    let current = p
        .bgsave
        .as_ref()
        .map_or(-1, |b| b.started.elapsed().as_secs() as i64);
    field(s, "rdb_current_bgsave_time_sec", current);
    field(s, "rdb_saves", p.rdb_saves);
    field(s, "rdb_last_cow_size", 0);
    field(s, "rdb_last_load_keys_expired", p.last_load_keys_expired);
    field(s, "rdb_last_load_keys_loaded", p.last_load_keys_loaded);
    let aof = &srv.aof;
    let ok_err = |ok: bool| if ok { "ok" } else { "err" };
    field(s, "aof_enabled", u8::from(aof.on));
    field(s, "aof_rewrite_in_progress", u8::from(aof.rewriting()));
    field(s, "aof_rewrite_scheduled", u8::from(aof.rewrite_scheduled));
    field(s, "aof_last_rewrite_time_sec", aof.last_rewrite_secs);
    field(
        s,
        "aof_current_rewrite_time_sec",
        aof.current_rewrite_secs(),
    );
    field(s, "aof_last_bgrewrite_status", ok_err(aof.last_rewrite_ok));
    field(s, "aof_rewrites", aof.rewrites);
    field(
        s,
        "aof_rewrites_consecutive_failures",
        aof.consecutive_failures,
    );
    field(s, "aof_last_write_status", ok_err(aof.last_write_ok));
    field(s, "aof_last_cow_size", 0);
    field(s, "module_fork_in_progress", 0);
    field(s, "module_fork_last_cow_size", 0);
    if aof.on {
        field(s, "aof_current_size", aof.current_size);
        field(s, "aof_base_size", aof.base_size);
        field(s, "aof_pending_rewrite", u8::from(aof.rewrite_scheduled));
        field(s, "aof_buffer_length", 0);
        field(s, "aof_pending_bio_fsync", u8::from(aof.fsync_pending()));
        field(s, "aof_delayed_fsync", 0);
    }
    if let Some(l) = &p.loading {
        field(s, "loading_start_time", l.start_unix);
        field(s, "loading_total_bytes", l.total_bytes);
        field(s, "loading_rdb_used_mem", l.rdb_used_mem);
        field(s, "loading_loaded_bytes", l.loaded_bytes);
        field(s, "loading_loaded_perc", format!("{:.2}", l.perc()));
        field(s, "loading_eta_seconds", l.eta_seconds(now));
    }
}

/// Per-second rates over the sample window: (commands, input bytes, output bytes).
fn instantaneous(stats: &Stats) -> (u64, f64, f64) {
    let (Some(first), Some(last)) = (stats.samples.first(), stats.samples.last()) else {
        return (0, 0.0, 0.0);
    };
    let secs = last.0.saturating_duration_since(first.0).as_secs_f64();
    if secs <= 0.0 {
        return (0, 0.0, 0.0);
    }
    let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
    (
        rate(first.1, last.1) as u64,
        rate(first.2, last.2),
        rate(first.3, last.3),
    )
}

fn stats_section(s: &mut String, srv: &Server) {
    let st = &srv.stats;
    let (ops, in_bps, out_bps) = instantaneous(st);
    s.push_str("# Stats\r\n");
    field(
        s,
        "total_connections_received",
        st.total_connections_received,
    );
    field(s, "total_commands_processed", st.total_commands_processed);
    field(s, "instantaneous_ops_per_sec", ops);
    field(s, "total_net_input_bytes", st.total_net_input_bytes);
    field(s, "total_net_output_bytes", st.total_net_output_bytes);
    field(s, "total_net_repl_input_bytes", 0);
    field(s, "total_net_repl_output_bytes", 0);
    // Redis divides in single precision before printing with %.2f.
    field(
        s,
        "instantaneous_input_kbps",
        format!("{:.2}", f64::from(in_bps as f32 / 1024.0)),
    );
    field(
        s,
        "instantaneous_output_kbps",
        format!("{:.2}", f64::from(out_bps as f32 / 1024.0)),
    );
    field(s, "instantaneous_input_repl_kbps", "0.00");
    field(s, "instantaneous_output_repl_kbps", "0.00");
    field(s, "rejected_connections", st.rejected_connections);
    let sync = srv.master.stats;
    field(s, "sync_full", sync.sync_full);
    field(s, "sync_partial_ok", sync.sync_partial_ok);
    field(s, "sync_partial_err", sync.sync_partial_err);
    let ks_stats = srv.ks.stats();
    field(s, "expired_keys", ks_stats.expired_keys);
    field(
        s,
        "expired_stale_perc",
        format!("{:.2}", ks_stats.expired_stale_perc),
    );
    field(
        s,
        "expired_time_cap_reached_count",
        ks_stats.expired_time_cap_reached_count,
    );
    field(s, "expire_cycle_cpu_milliseconds", 0);
    field(s, "evicted_keys", ks_stats.evicted_keys);
    field(s, "evicted_clients", 0);
    let exceeded = srv
        .stats
        .eviction_exceeded_since
        .map_or(Duration::ZERO, |t| t.elapsed());
    field(
        s,
        "total_eviction_exceeded_time",
        (srv.stats.eviction_exceeded_total + exceeded).as_millis(),
    );
    field(s, "current_eviction_exceeded_time", exceeded.as_millis());
    field(s, "keyspace_hits", srv.data_stats.keyspace_hits);
    field(s, "keyspace_misses", srv.data_stats.keyspace_misses);
    field(s, "pubsub_channels", srv.pubsub.channel_count());
    field(s, "pubsub_patterns", srv.pubsub.pattern_count());
    field(s, "pubsubshard_channels", srv.pubsub.shard_channel_count());
    field(s, "latest_fork_usec", 0);
    field(s, "total_forks", 0);
    field(s, "migrate_cached_sockets", 0);
    field(s, "slave_expires_tracked_keys", 0);
    field(s, "active_defrag_hits", 0);
    field(s, "active_defrag_misses", 0);
    field(s, "active_defrag_key_hits", 0);
    field(s, "active_defrag_key_misses", 0);
    field(s, "total_active_defrag_time", 0);
    field(s, "current_active_defrag_time", 0);
    field(s, "tracking_total_keys", 0);
    field(s, "tracking_total_items", 0);
    field(s, "tracking_total_prefixes", 0);
    field(s, "unexpected_error_replies", st.unexpected_error_replies);
    field(s, "total_error_replies", st.total_error_replies);
    field(s, "dump_payload_sanitizations", 0);
    field(s, "total_reads_processed", st.total_reads_processed);
    field(s, "total_writes_processed", st.total_writes_processed);
    field(s, "io_threaded_reads_processed", 0);
    field(s, "io_threaded_writes_processed", 0);
    field(s, "reply_buffer_shrinks", 0);
    field(s, "reply_buffer_expands", 0);
}

fn replication_section(s: &mut String, srv: &Server) {
    s.push_str("# Replication\r\n");
    field(s, "role", role_name(srv));
    crate::replication_replica::info_replica_fields(srv, s);
    // connected_slaves ... repl_backlog_histlen, from the master role's state.
    srv.master.write_info(s);
}

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on every Linux port that
/// Tandem targets).
const CLOCK_TICKS: u64 = 100;

/// (utime, stime, cutime, cstime) in clock ticks from a /proc `stat` file.
fn cpu_ticks(path: &str) -> Option<[u64; 4]> {
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime is field 14.
    let get = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    Some([get(14)?, get(15)?, get(16)?, get(17)?])
}

/// `%ld.%06ld` seconds of clock ticks.
fn ticks_to_secs(t: u64) -> String {
    format!(
        "{}.{:06}",
        t / CLOCK_TICKS,
        (t % CLOCK_TICKS) * (1_000_000 / CLOCK_TICKS)
    )
}

fn cpu_section(s: &mut String) {
    let p = cpu_ticks("/proc/self/stat").unwrap_or_default();
    // The thread running INFO is the executor: Tandem's "main thread".
    let t = cpu_ticks("/proc/thread-self/stat").unwrap_or_default();
    s.push_str("# CPU\r\n");
    field(s, "used_cpu_sys", ticks_to_secs(p[1]));
    field(s, "used_cpu_user", ticks_to_secs(p[0]));
    field(s, "used_cpu_sys_children", ticks_to_secs(p[3]));
    field(s, "used_cpu_user_children", ticks_to_secs(p[2]));
    field(s, "used_cpu_sys_main_thread", ticks_to_secs(t[1]));
    field(s, "used_cpu_user_main_thread", ticks_to_secs(t[0]));
}

/// Redis's `getSafeInfoString`: `#`, `:`, CR and LF become `_` in names INFO prints.
fn safe_info_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, '#' | ':' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// One `db<n>:keys=..,expires=..,avg_ttl=..` line per non-empty database.
fn keyspace_section(s: &mut String, srv: &Server) {
    s.push_str("# Keyspace\r\n");
    for db in 0..srv.ks.databases() {
        let keys = srv.ks.dbsize(db);
        if keys == 0 {
            continue;
        }
        let _ = write!(
            s,
            "db{db}:keys={keys},expires={},avg_ttl={}\r\n",
            srv.ks.expires_count(db),
            srv.ks.avg_ttl(db)
        );
    }
}

/// `latency_percentiles_usec_<cmd>:p50=..,p99=..,p99.9=..` per command called at least once.
fn latencystats_section(s: &mut String, srv: &Server) {
    s.push_str("# Latencystats\r\n");
    if !srv.config.get_bool("latency-tracking") {
        return;
    }
    let percentiles: Vec<f64> = srv
        .config
        .get_str("latency-tracking-info-percentiles")
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    for (name, stat) in &srv.stats.commands {
        if stat.calls == 0 {
            continue;
        }
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| {
                let usec = stat.latency.percentile(p) as f64 / 1000.0;
                format!("p{}={usec:.3}", crate::latency::percentile_name(p))
            })
            .collect();
        let _ = write!(
            s,
            "latency_percentiles_usec_{}:{}\r\n",
            safe_info_name(name),
            values.join(",")
        );
    }
}

fn commandstats_section(s: &mut String, stats: &Stats) {
    s.push_str("# Commandstats\r\n");
    for (name, c) in &stats.commands {
        if c.calls == 0 && c.failed_calls == 0 && c.rejected_calls == 0 {
            continue;
        }
        // Redis computes the average in single precision.
        let per_call = if c.calls == 0 {
            0.0
        } else {
            f64::from(c.usec as f32 / c.calls as f32)
        };
        let _ = write!(
            s,
            "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
            safe_info_name(name),
            c.calls,
            c.usec,
            per_call,
            c.rejected_calls,
            c.failed_calls
        );
    }
}

fn errorstats_section(s: &mut String, stats: &Stats) {
    s.push_str("# Errorstats\r\n");
    for (code, count) in &stats.error_codes {
        let _ = write!(s, "errorstat_{}:count={count}\r\n", safe_info_name(code));
    }
}

/// The errorstats code of an error reply text (without the leading `-`): its first word
/// when a space occurs within Redis's 32-byte search window, `ERR` otherwise.
pub fn error_code(text: &str) -> &str {
    let window = &text.as_bytes()[..text.len().min(31)];
    match window.iter().position(|&b| b == b' ') {
        Some(i) => &text[..i],
        None => "ERR",
    }
}

/// Counts an error reply in INFO errorstats. `total_error_replies` is counted separately by
/// whoever sends the reply.
pub fn record_error_code(stats: &mut Stats, text: &str) {
    let code = error_code(text);
    match stats.error_codes.get_mut(code) {
        Some(n) => *n += 1,
        None => {
            stats.error_codes.insert(code.to_string(), 1);
        }
    }
}

/// Counts one execution of `fullname` (e.g. `client|list`) in INFO commandstats, with
/// `failures` failed calls: 1 when it replied with an error, and a script's reply one
/// more for each error in it that was counted already, as Redis's does.
pub fn record_call(stats: &mut Stats, fullname: &str, ns: u64, failures: u64) {
    let usec = ns / 1000;
    // Look up before inserting: the hot path must not allocate a key per call.
    let c = match stats.commands.get_mut(fullname) {
        Some(c) => c,
        None => stats.commands.entry(fullname.to_string()).or_default(),
    };
    c.calls += 1;
    c.usec += usec;
    c.latency.record(ns);
    c.failed_calls += failures;
}

/// Counts a command refused before it ran (arity, authentication, ...) in commandstats.
pub fn record_rejected(stats: &mut Stats, fullname: &str) {
    stats
        .commands
        .entry(fullname.to_string())
        .or_default()
        .rejected_calls += 1;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A server as the executor holds it, without any connection.
    pub(crate) fn server() -> Server {
        use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize};
        let shared = crate::net::Shared {
            requires_auth: AtomicBool::new(false),
            protected_mode: AtomicBool::new(false),
            max_bulk_len: AtomicI64::new(0),
            query_buffer_limit: AtomicI64::new(0),
            maxclients: AtomicI64::new(0),
            connected: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
        };
        Server::new(Config::default(), 6379, std::sync::Arc::new(shared))
    }

    fn titles(text: &str) -> Vec<&str> {
        text.split("\r\n").filter(|l| l.starts_with("# ")).collect()
    }

    #[test]
    fn default_sections_in_redis_order() {
        let srv = server();
        let text = info_text(&srv, None, &[]);
        assert_eq!(
            titles(&text),
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Modules",
                "# Errorstats",
                "# Cluster",
                "# Keyspace"
            ]
        );
        assert!(text.ends_with("# Keyspace\r\n"));
        assert!(text.contains("\r\n\r\n# Clients\r\n"));
        assert_eq!(titles(&text), titles(&info_text(&srv, None, &[b"DEFAULT"])));
    }

    #[test]
    fn all_adds_commandstats_and_latencystats() {
        let srv = server();
        let all = info_text(&srv, None, &[b"all"]);
        assert_eq!(titles(&all).len(), 13);
        assert!(all.contains("# Commandstats\r\n\r\n# Errorstats\r\n\r\n# Latencystats\r\n"));
        assert_eq!(titles(&info_text(&srv, None, &[b"everything"])).len(), 13);
    }

    #[test]
    fn selection_is_case_insensitive_ordered_and_deduplicated() {
        let srv = server();
        let text = info_text(&srv, None, &[b"CPU", b"server", b"Cpu", b"nosuch"]);
        assert_eq!(titles(&text), ["# Server", "# CPU"]);
        assert_eq!(info_text(&srv, None, &[b"nosuch"]), "");
        assert_eq!(
            titles(&info_text(&srv, None, &[b"module_list", b"modules"])),
            ["# Modules"]
        );
    }

    #[test]
    fn replication_section_of_a_lone_master() {
        let srv = server();
        let text = section_text(&srv, None, "replication").unwrap();
        let expected = format!(
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\
             master_failover_state:no-failover\r\nmaster_replid:{}\r\n\
             master_replid2:0000000000000000000000000000000000000000\r\n\
             master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n\
             repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\n\
             repl_backlog_histlen:0\r\n",
            srv.master.ids.replid()
        );
        assert_eq!(text, expected);
        assert!(section_text(&srv, None, "nosuch").is_none());
    }

    #[test]
    fn server_and_clients_fields() {
        let srv = server();
        let text = section_text(&srv, None, "server").unwrap();
        assert!(text.starts_with("# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n"));
        assert!(text.contains("\r\ntcp_port:6379\r\n"));
        assert!(text.contains("\r\nhz:10\r\nconfigured_hz:10\r\n"));
        assert!(text.ends_with("config_file:\r\nio_threads_active:0\r\n"));
        let clients = section_text(&srv, None, "clients").unwrap();
        assert!(clients
            .contains("connected_clients:0\r\ncluster_connections:0\r\nmaxclients:10000\r\n"));
    }

    #[test]
    fn human_bytes_like_redis() {
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(990336), "967.12K");
        assert_eq!(bytes_to_human(12353536), "11.78M");
        assert_eq!(bytes_to_human(25276063744), "23.54G");
        assert_eq!(bytes_to_human(0), "0B");
    }

    #[test]
    fn error_and_command_stats() {
        let mut srv = server();
        record_error_code(&mut srv.stats, "ERR syntax error");
        record_error_code(&mut srv.stats, "WRONGPASS invalid username-password pair");
        record_error_code(&mut srv.stats, "ERR unknown command");
        record_error_code(&mut srv.stats, "NOSPACEINTHEFIRSTTHIRTYTWOBYTESATALL x");
        let text = section_text(&srv, None, "errorstats").unwrap();
        assert_eq!(
            text,
            "# Errorstats\r\nerrorstat_ERR:count=3\r\nerrorstat_WRONGPASS:count=1\r\n"
        );
        record_call(&mut srv.stats, "client|list", 22_000, 0);
        record_call(&mut srv.stats, "client|list", 23_000, 1);
        record_rejected(&mut srv.stats, "get");
        let text = section_text(&srv, None, "commandstats").unwrap();
        assert_eq!(
            text,
            "# Commandstats\r\n\
             cmdstat_client|list:calls=2,usec=45,usec_per_call=22.50,rejected_calls=0,failed_calls=1\r\n\
             cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n"
        );
    }

    #[test]
    fn cpu_times_format() {
        assert_eq!(ticks_to_secs(0), "0.000000");
        assert_eq!(ticks_to_secs(1234), "12.340000");
        let text = section_text(&server(), None, "cpu").unwrap();
        assert_eq!(text.matches("\r\n").count(), 7);
    }
}
