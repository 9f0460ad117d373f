//! MEMORY STATS, DOCTOR, MALLOC-STATS and PURGE, and the breakdown of used memory that
//! INFO memory shares with them (Redis's `getMemoryOverheadData`).
//!
//! Used memory is jemalloc's `stats.allocated` ([`crate::alloc`]). Tandem does not track
//! the size of each table, so the per-database overhead is estimated from key counts:
//! one table slot per key (about 74 bytes with the table's load factor and control byte)
//! and 32 bytes per key with an expiry. MEMORY PURGE answers `OK` without asking
//! jemalloc to purge: the safe jemalloc bindings have no call for it (jemalloc returns
//! dirty pages on its own after its decay time, 10 s by default).

use crate::alloc::AllocStats;
use crate::cmd::Ctx;
use crate::server::Server;

/// Estimated bytes of table overhead per key.
const MAIN_PER_KEY: u64 = 74;
/// Estimated bytes of expiry-table overhead per key with a TTL.
const EXPIRES_PER_KEY: u64 = 32;
/// The functions' caches with no library (what an idle Redis reports as
/// `used_memory_functions`: its engine and library dictionaries).
pub const FUNCTIONS_CACHES: u64 = 200;

/// One database's estimated overhead (only non-empty databases are listed).
#[derive(Clone, Copy, Debug)]
pub struct DbOverhead {
    pub db: usize,
    pub main: u64,
    pub expires: u64,
}

/// The breakdown of used memory, as MEMORY STATS lists it. Ratios are `f32`, as Redis
/// keeps them (its replies show a float's digits through `%.17g`).
#[derive(Clone, Debug)]
pub struct Overhead {
    pub peak: u64,
    pub used: u64,
    pub startup: u64,
    pub backlog: u64,
    pub clients_slaves: u64,
    pub clients_normal: u64,
    pub dbs: Vec<DbOverhead>,
    pub total: u64,
    pub keys: u64,
    pub bytes_per_key: u64,
    pub dataset: u64,
    pub dataset_perc: f32,
    pub peak_perc: f32,
    pub alloc: AllocStats,
    pub rss: u64,
    pub lua: crate::script::ScriptingMemory,
}

impl Overhead {
    /// Reads the allocator, the process's RSS and the keyspace's counts now.
    pub fn now(srv: &Server) -> Overhead {
        let alloc = crate::alloc::stats();
        let used = alloc.allocated;
        let peak = crate::alloc::peak().max(used);
        let startup = crate::alloc::startup().min(used);
        let backlog = srv.master.backlog.memory_usage() as u64;
        let clients_slaves = srv.master.queued_stream_bytes() as u64;
        let dbs: Vec<DbOverhead> = (0..srv.ks.databases())
            .filter(|&db| srv.ks.dbsize(db) > 0)
            .map(|db| DbOverhead {
                db,
                main: srv.ks.dbsize(db) as u64 * MAIN_PER_KEY,
                expires: srv.ks.expires_count(db) as u64 * EXPIRES_PER_KEY,
            })
            .collect();
        let keys: u64 = (0..srv.ks.databases())
            .map(|db| srv.ks.dbsize(db) as u64)
            .sum();
        let lua = srv.scripting.memory();
        let total = (startup
            + backlog
            + clients_slaves
            + lua.eval_caches
            + lua.functions_caches
            + dbs.iter().map(|d| d.main + d.expires).sum::<u64>())
        .min(used);
        let net = used - startup;
        let dataset = used - total;
        Overhead {
            peak,
            used,
            startup,
            backlog,
            clients_slaves,
            clients_normal: 0,
            total,
            keys,
            bytes_per_key: net.checked_div(keys).unwrap_or(0),
            dataset,
            dataset_perc: dataset as f32 * 100.0 / net.max(1) as f32,
            peak_perc: used as f32 * 100.0 / peak.max(1) as f32,
            dbs,
            alloc,
            rss: crate::cmd::info::resident_bytes(),
            lua,
        }
    }

    /// active / allocated (`allocator-fragmentation.ratio`).
    pub fn allocator_frag(&self) -> f32 {
        ratio(self.alloc.active, self.alloc.allocated)
    }

    /// resident / active (`allocator-rss.ratio`).
    pub fn allocator_rss(&self) -> f32 {
        ratio(self.alloc.resident, self.alloc.active)
    }

    /// process RSS / allocator resident (`rss-overhead.ratio`).
    pub fn rss_extra(&self) -> f32 {
        ratio(self.rss, self.alloc.resident)
    }

    /// process RSS / used memory (`fragmentation`).
    pub fn total_frag(&self) -> f32 {
        ratio(self.rss, self.used)
    }

    /// active - allocated (`allocator-fragmentation.bytes`).
    pub fn allocator_frag_bytes(&self) -> i64 {
        diff(self.alloc.active, self.alloc.allocated)
    }

    /// resident - active (`allocator-rss.bytes`).
    pub fn allocator_rss_bytes(&self) -> i64 {
        diff(self.alloc.resident, self.alloc.active)
    }

    /// process RSS - allocator resident (`rss-overhead.bytes`).
    pub fn rss_extra_bytes(&self) -> i64 {
        diff(self.rss, self.alloc.resident)
    }

    /// process RSS - used memory (`fragmentation.bytes`).
    pub fn total_frag_bytes(&self) -> i64 {
        diff(self.rss, self.used)
    }
}

fn ratio(a: u64, b: u64) -> f32 {
    if b == 0 {
        0.0
    } else {
        a as f32 / b as f32
    }
}

fn diff(a: u64, b: u64) -> i64 {
    a as i64 - b as i64
}

/// `MEMORY STATS`: Redis's 27 fields plus one per non-empty database, a map in RESP3.
pub fn stats(ctx: &mut Ctx<'_>) {
    let o = Overhead::now(ctx.srv);
    let mut e = ctx.enc();
    e.map_len(27 + o.dbs.len());
    let int = |e: &mut tandem_resp::Encoder<'_>, name: &str, v: i64| {
        e.bulk(name.as_bytes());
        e.integer(v);
    };
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    int(&mut e, "peak.allocated", as_i64(o.peak));
    int(&mut e, "total.allocated", as_i64(o.used));
    int(&mut e, "startup.allocated", as_i64(o.startup));
    int(&mut e, "replication.backlog", as_i64(o.backlog));
    int(&mut e, "clients.slaves", as_i64(o.clients_slaves));
    int(&mut e, "clients.normal", as_i64(o.clients_normal));
    int(&mut e, "cluster.links", 0);
    int(&mut e, "aof.buffer", 0);
    int(&mut e, "lua.caches", as_i64(o.lua.eval_caches));
    int(&mut e, "functions.caches", as_i64(o.lua.functions_caches));
    for d in &o.dbs {
        e.bulk(format!("db.{}", d.db).as_bytes());
        e.map_len(3);
        int(&mut e, "overhead.hashtable.main", as_i64(d.main));
        int(&mut e, "overhead.hashtable.expires", as_i64(d.expires));
        int(&mut e, "overhead.hashtable.slot-to-keys", 0);
    }
    int(&mut e, "overhead.total", as_i64(o.total));
    int(&mut e, "keys.count", as_i64(o.keys));
    int(&mut e, "keys.bytes-per-key", as_i64(o.bytes_per_key));
    int(&mut e, "dataset.bytes", as_i64(o.dataset));
    let float = |e: &mut tandem_resp::Encoder<'_>, name: &str, v: f32| {
        e.bulk(name.as_bytes());
        e.double(f64::from(v));
    };
    float(&mut e, "dataset.percentage", o.dataset_perc);
    float(&mut e, "peak.percentage", o.peak_perc);
    int(&mut e, "allocator.allocated", as_i64(o.alloc.allocated));
    int(&mut e, "allocator.active", as_i64(o.alloc.active));
    int(&mut e, "allocator.resident", as_i64(o.alloc.resident));
    float(&mut e, "allocator-fragmentation.ratio", o.allocator_frag());
    int(
        &mut e,
        "allocator-fragmentation.bytes",
        o.allocator_frag_bytes(),
    );
    float(&mut e, "allocator-rss.ratio", o.allocator_rss());
    int(&mut e, "allocator-rss.bytes", o.allocator_rss_bytes());
    float(&mut e, "rss-overhead.ratio", o.rss_extra());
    int(&mut e, "rss-overhead.bytes", o.rss_extra_bytes());
    float(&mut e, "fragmentation", o.total_frag());
    int(&mut e, "fragmentation.bytes", o.total_frag_bytes());
}

/// `MEMORY DOCTOR`: Redis's report, from the same checks and thresholds.
pub fn doctor(ctx: &mut Ctx<'_>) {
    let o = Overhead::now(ctx.srv);
    let clients = crate::cmd::client::all_clients(ctx.srv, Some(&*ctx.client));
    let replicas = clients.iter().filter(|c| c.repl.is_replica).count() as u64;
    let normal = (clients.len() as u64).saturating_sub(replicas).max(1);
    let report = doctor_report(&o, normal, replicas);
    ctx.enc().bulk(report.as_bytes());
}

const MB: u64 = 1024 * 1024;

/// The report for `o` with `normal` clients and `replicas` replicas attached.
fn doctor_report(o: &Overhead, normal: u64, replicas: u64) -> String {
    if o.used < 5 * MB {
        return "Hi Sam, this instance is empty or is using very little memory, my issues \
                detector can't be used in these conditions. Please, leave for your mission on \
                Earth and fill it with some data. The new Sam and I will be back to our \
                programming as soon as I finished rebooting.\n"
            .to_owned();
    }
    let mut issues: Vec<&str> = Vec::new();
    if o.peak as f32 / o.used as f32 > 1.5 {
        issues.push(PEAK);
    }
    if o.total_frag() > 1.4 && o.total_frag_bytes() > 10 << 20 {
        issues.push(TOTAL_RSS);
    }
    if o.allocator_frag() > 1.1 && o.allocator_frag_bytes() > 10 << 20 {
        issues.push(ALLOC_FRAG);
    }
    if o.allocator_rss() > 1.1 && o.allocator_rss_bytes() > 10 << 20 {
        issues.push(ALLOC_RSS);
    }
    if o.rss_extra() > 1.1 && o.rss_extra_bytes() > 10 << 20 {
        issues.push(PROC_RSS);
    }
    if replicas > 0 && o.clients_slaves > 10 * MB {
        issues.push(REPLICA_BUFFERS);
    }
    if o.clients_normal / normal > 200 * 1024 {
        issues.push(CLIENT_BUFFERS);
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account \
                for what occurs on this base.\n"
            .to_owned();
    }
    let mut s =
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n".to_owned();
    for issue in issues {
        s.push_str(" * ");
        s.push_str(issue);
        s.push_str("\n\n");
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

const PEAK: &str = "Peak memory: In the past this instance used more than 150% the memory \
that is currently using. The allocator is normally not able to release memory after a peak, \
so you can expect to see a big fragmentation ratio, however this is actually harmless and is \
only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently \
bigger than expected, the memory will be used as soon as you fill the Redis instance with more \
data. If the memory peak was only occasional and you want to try to reclaim memory, please try \
the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the \
instance.";
const TOTAL_RSS: &str = "High total RSS: This instance has a memory fragmentation and RSS \
overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much \
larger than the sum of the logical allocations Redis performed). This problem is usually due \
either to a large peak memory (check if there is a peak memory entry above in the report) or \
may result from a workload that causes the allocator to fragment memory a lot. If the problem \
is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc \
allocator and not the default libc malloc. Note: The currently used allocator is \"jemalloc\".";
const ALLOC_FRAG: &str = "High allocator fragmentation: This instance has an allocator \
external fragmentation greater than 1.1. This problem is usually due either to a large peak \
memory (check if there is a peak memory entry above in the report) or may result from a \
workload that causes the allocator to fragment memory a lot. You can try enabling \
'activedefrag' config option.";
const ALLOC_RSS: &str = "High allocator RSS overhead: This instance has an RSS memory overhead \
is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than \
the sum what the allocator actually holds). This problem is usually due to a large peak memory \
(check if there is a peak memory entry above in the report), you can try the MEMORY PURGE \
command to reclaim it.";
const PROC_RSS: &str = "High process RSS overhead: This instance has non-allocator RSS memory \
overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is \
much larger than the RSS the allocator holds). This problem may be due to Lua scripts or \
Modules.";
const REPLICA_BUFFERS: &str = "Big replica buffers: The replica output buffers in this \
instance are greater than 10MB for each replica (on average). This likely means that there is \
some replica instance that is struggling receiving data, either because it is too slow or \
because of networking issues. As a result, data piles on the master output buffers. Please try \
to identify what replica is not receiving data correctly and why. You can use the INFO output \
in order to check the replicas delays and the CLIENT LIST command to check the output buffers \
of each replica.";
const CLIENT_BUFFERS: &str = "Big client buffers: The clients output buffers in this instance \
are greater than 200K per client (on average). This may result from different causes, like \
Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles \
on the Redis instance output buffer, or clients sending commands with large replies or very \
large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order \
to investigate the issue if it causes problems in your instance, or to understand better why \
certain clients are using a big amount of memory.";

/// `MEMORY MALLOC-STATS`: jemalloc's statistics report.
pub fn malloc_stats(ctx: &mut Ctx<'_>) {
    let mut text = Vec::new();
    let options = tikv_jemalloc_ctl::stats_print::Options::default();
    if tikv_jemalloc_ctl::stats_print::stats_print(&mut text, options).is_err() {
        text = b"Stats not supported for the current allocator".to_vec();
    }
    ctx.enc().bulk(&text);
}

/// `MEMORY PURGE`: `OK` (see the module docs).
pub fn purge(ctx: &mut Ctx<'_>) {
    ctx.enc().simple(b"OK");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overhead(used: u64, peak: u64) -> Overhead {
        let alloc = AllocStats {
            allocated: used,
            active: used,
            resident: used,
        };
        Overhead {
            peak,
            used,
            startup: 0,
            backlog: 0,
            clients_slaves: 0,
            clients_normal: 0,
            dbs: Vec::new(),
            total: 0,
            keys: 0,
            bytes_per_key: 0,
            dataset: used,
            dataset_perc: 100.0,
            peak_perc: 100.0,
            alloc,
            rss: used,
            lua: Default::default(),
        }
    }

    #[test]
    fn the_doctor_reports_as_redis() {
        assert!(
            doctor_report(&overhead(MB, MB), 1, 0).starts_with("Hi Sam, this instance is empty")
        );
        assert!(doctor_report(&overhead(50 * MB, 50 * MB), 1, 0)
            .starts_with("Hi Sam, I can't find any memory issue"));
        let peak = doctor_report(&overhead(50 * MB, 100 * MB), 1, 0);
        assert!(peak.starts_with("Sam, I detected a few issues"));
        assert!(peak.contains("\n\n * Peak memory: In the past"));
        assert!(peak.ends_with(".\n\nI'm here to keep you safe, Sam. I want to help you.\n"));
        let mut lagging = overhead(50 * MB, 50 * MB);
        lagging.clients_slaves = 20 * MB;
        assert!(doctor_report(&lagging, 1, 1).contains(" * Big replica buffers"));
        assert!(!doctor_report(&lagging, 1, 0).contains(" * Big replica buffers"));
    }
}
