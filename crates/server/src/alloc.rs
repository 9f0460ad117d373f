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
