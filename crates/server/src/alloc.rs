//! The process's allocator and its accounting, for INFO memory.
//!
//! Tandem allocates through jemalloc, as redis-server does: the same size classes make the
//! two servers' footprints comparable, and jemalloc's statistics give `used_memory` as Redis
//! defines it (bytes handed out by the allocator, `stats.allocated`), with `active` and
//! `resident` for the `allocator_*` fields and the fragmentation ratios.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// INFO's `mem_allocator`: `jemalloc-<major.minor.bugfix>`, as Redis names it.
pub fn name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| match tikv_jemalloc_ctl::version::read() {
        Ok(v) => format!("jemalloc-{}", v.split('-').next().unwrap_or(v)),
        Err(_) => "jemalloc".to_owned(),
    })
}

/// What the allocator reports, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocStats {
    /// Bytes in live allocations (`used_memory`).
    pub allocated: u64,
    /// Bytes in active pages (`allocator_active`).
    pub active: u64,
    /// Bytes of the allocator's resident pages (`allocator_resident`).
    pub resident: u64,
}

/// The allocator's statistics now (refreshed: jemalloc caches them per epoch).
pub fn stats() -> AllocStats {
    if tikv_jemalloc_ctl::epoch::advance().is_err() {
        return AllocStats::default();
    }
    let read = |r: tikv_jemalloc_ctl::Result<usize>| r.map_or(0, |v| v as u64);
    let s = AllocStats {
        allocated: read(tikv_jemalloc_ctl::stats::allocated::read()),
        active: read(tikv_jemalloc_ctl::stats::active::read()),
        resident: read(tikv_jemalloc_ctl::stats::resident::read()),
    };
    PEAK.fetch_max(s.allocated, Ordering::Relaxed);
    s
}

static PEAK: AtomicU64 = AtomicU64::new(0);
static STARTUP: OnceLock<u64> = OnceLock::new();

/// Records `used_memory` at start-up (`used_memory_startup`); call once, early.
pub fn mark_startup() {
    let used = stats().allocated;
    let _ = STARTUP.set(used);
}

/// `used_memory_startup`.
pub fn startup() -> u64 {
    STARTUP.get().copied().unwrap_or(0)
}

/// `used_memory_peak`: the largest `used_memory` seen (sampled by the cron and by INFO).
pub fn peak() -> u64 {
    PEAK.load(Ordering::Relaxed)
}

/// Samples the allocator so `used_memory_peak` sees what happened between INFO calls.
pub fn sample() {
    let _ = stats();
}

/// How stale the base of [`used_memory`] may get before it is read again from jemalloc's
/// totals (which then include what other threads allocated and freed).
const BASE_MAX_AGE: std::time::Duration = std::time::Duration::from_millis(100);

/// jemalloc's running totals of what the calling thread allocated and freed.
struct ThreadCounters {
    allocated: tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
    deallocated: tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
}

/// A process-wide `used_memory` reading, and the calling thread's net allocation then.
#[derive(Clone, Copy)]
struct Base {
    used: u64,
    thread_net: u64,
    at: std::time::Instant,
}

thread_local! {
    static COUNTERS: Option<ThreadCounters> = {
        let allocated = tikv_jemalloc_ctl::thread::allocatedp::read().ok();
        let deallocated = tikv_jemalloc_ctl::thread::deallocatedp::read().ok();
        allocated
            .zip(deallocated)
            .map(|(allocated, deallocated)| ThreadCounters { allocated, deallocated })
    };
    static BASE: std::cell::Cell<Option<Base>> = const { std::cell::Cell::new(None) };
}

/// What the calling thread allocated minus what it freed, since it started.
fn thread_net() -> Option<u64> {
    COUNTERS.with(|c| {
        c.as_ref()
            .map(|c| c.allocated.get().wrapping_sub(c.deallocated.get()))
    })
}

/// `used_memory` read from jemalloc's totals now (a stats epoch: microseconds), which
/// becomes the calling thread's base for [`used_memory`].
pub fn refresh_used_memory() -> u64 {
    let used = stats().allocated;
    if let Some(thread_net) = thread_net() {
        let at = std::time::Instant::now();
        BASE.with(|b| {
            b.set(Some(Base {
                used,
                thread_net,
                at,
            }))
        });
    }
    used
}

/// `used_memory` as `maxmemory` needs it before every command, cheaply: the last total
/// read on this thread plus what this thread allocated net since (two loads). Other
/// threads' allocations and frees (lazy free, background saves) show at the next
/// refresh, at most [`BASE_MAX_AGE`] later.
pub fn used_memory() -> u64 {
    let (Some(base), Some(net)) = (BASE.with(std::cell::Cell::get), thread_net()) else {
        return refresh_used_memory();
    };
    if base.at.elapsed() > BASE_MAX_AGE {
        return refresh_used_memory();
    }
    let delta = net.wrapping_sub(base.thread_net) as i64;
    base.used.saturating_add_signed(delta)
}
