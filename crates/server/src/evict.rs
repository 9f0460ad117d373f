//! `maxmemory`: evicting keys before a command runs, and the `-OOM` answer when nothing
//! more can be evicted (Redis's `performEvictions`, called from `processCommand`).
//!
//! Used memory is `used_memory` (jemalloc's allocated bytes, as INFO shows it), read
//! cheaply per command through [`crate::alloc::used_memory`] and exactly (a stats epoch)
//! before deciding to evict. While it is above `maxmemory`, the keyspace names the key
//! the policy picks ([`tandem_keyspace::Keyspace::eviction_candidate`]) and it is
//! deleted; each eviction is propagated as `DEL` (`UNLINK` with
//! `lazyfree-lazy-eviction`), counted in `evicted_keys` and breaks WATCHes on the key.
//! Eviction stops after Redis's time limit (`maxmemory-eviction-tenacity`: 500 us by
//! default); the next command goes on, and so does the cron task between other tasks
//! (`Core::evict_step`) until memory is back within the limit.
//!
//! Not counted, as in Redis (`freeMemoryGetNotCountedMemory`): the replication stream
//! queued for replicas and not yet written ([`tandem_master::Master::queued_stream_bytes`],
//! INFO's `mem_not_counted_for_evict`). A replica that falls behind must not make the
//! master evict its data.

use std::time::{Duration, Instant};

use tandem_keyspace::{EvictionPolicy, FreeMode};

use crate::client::Client;
use crate::config::Config;
use crate::server::Server;

/// Redis's `-OOM` reply to a command that needs memory while none can be freed.
pub const OOM_ERR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// The directives eviction acts on.
#[derive(Clone, Copy, Debug, Default)]
pub struct EvictSettings {
    /// `maxmemory` in bytes; 0 turns all of this off.
    pub maxmemory: u64,
    pub policy: EvictionPolicy,
    /// `maxmemory-samples`.
    pub samples: usize,
    /// `maxmemory-eviction-tenacity`.
    pub tenacity: u32,
    /// `lazyfree-lazy-eviction`: free evicted values on the lazy-free thread, propagate
    /// UNLINK.
    pub lazy: bool,
    /// `replica-ignore-maxmemory`: a replica leaves eviction to its master.
    pub replica_ignores: bool,
}

impl EvictSettings {
    pub fn from_config(c: &Config) -> EvictSettings {
        EvictSettings {
            maxmemory: c.get_i64("maxmemory").max(0) as u64,
            policy: EvictionPolicy::from_name(&c.get_str("maxmemory-policy")).unwrap_or_default(),
            samples: c.get_i64("maxmemory-samples").max(1) as usize,
            tenacity: c.get_i64("maxmemory-eviction-tenacity").clamp(0, 100) as u32,
            lazy: c.get_bool("lazyfree-lazy-eviction"),
            replica_ignores: c.get_bool("replica-ignore-maxmemory"),
        }
    }

    /// Redis's `evictionTimeLimitUs`: 50 us per tenacity point up to 10, then growing by
    /// 15% a point; 100 means no limit.
    fn time_limit(&self) -> Option<Duration> {
        let us = if self.tenacity <= 10 {
            50.0 * f64::from(self.tenacity)
        } else if self.tenacity < 100 {
            500.0 * 1.15f64.powi(self.tenacity as i32 - 10)
        } else {
            return None;
        };
        Some(Duration::from_micros(us as u64))
    }
}

/// What [`perform`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Memory is within `maxmemory` (or eviction does not apply now).
    Ok,
    /// The time limit stopped eviction with memory still above: commands are not
    /// refused for it, the next round goes on.
    Running,
    /// Above `maxmemory` with nothing (more) to evict: `denyoom` commands get `-OOM`.
    Fail,
}

/// Whether this node evicts at all now: `maxmemory` set, and not a replica that leaves
/// eviction to its master, not while loading.
fn applies(srv: &Server) -> bool {
    let s = &srv.evict;
    s.maxmemory > 0
        && !(s.replica_ignores && srv.replica.is_active())
        && srv.persist.loading.is_none()
}

/// Evicts keys until used memory is within `maxmemory`, the time limit passes, or there
/// is nothing to evict. `current` is the client about to run a command (out of
/// `srv.clients`), so that an eviction breaks its own WATCH too.
pub fn perform(srv: &mut Server, current: Option<&mut Client>) -> Outcome {
    let outcome = evict(srv, current);
    srv.evicting = outcome == Outcome::Running;
    // Time spent above the limit, as Redis's `stat_*_eviction_exceeded_time`.
    let stats = &mut srv.stats;
    match (outcome, stats.eviction_exceeded_since) {
        (Outcome::Ok, Some(since)) => {
            stats.eviction_exceeded_total += since.elapsed();
            stats.eviction_exceeded_since = None;
        }
        (Outcome::Running | Outcome::Fail, None) => {
            stats.eviction_exceeded_since = Some(Instant::now());
        }
        _ => {}
    }
    outcome
}

/// Used memory that `maxmemory` does not count (INFO's `mem_not_counted_for_evict`): the
/// stream queued for replicas.
pub fn not_counted(srv: &Server) -> u64 {
    srv.master.queued_stream_bytes() as u64
}

fn evict(srv: &mut Server, current: Option<&mut Client>) -> Outcome {
    if !applies(srv) {
        return Outcome::Ok;
    }
    let settings = srv.evict;
    // Below the limit even counting everything: the common case, decided without
    // looking at the replicas.
    let quick = crate::alloc::used_memory();
    if quick <= settings.maxmemory {
        return Outcome::Ok;
    }
    let not_counted = not_counted(srv);
    let counted = |used: u64| used.saturating_sub(not_counted);
    if counted(quick) <= settings.maxmemory {
        return Outcome::Ok;
    }
    // The quick reading says over: read the totals before evicting anything.
    let mut used = counted(crate::alloc::refresh_used_memory());
    if used <= settings.maxmemory {
        return Outcome::Ok;
    }
    if settings.policy == EvictionPolicy::NoEviction {
        return Outcome::Fail;
    }
    let mode = if settings.lazy {
        FreeMode::Async
    } else {
        FreeMode::Sync
    };
    let start = Instant::now();
    let limit = settings.time_limit();
    let now = crate::cmd::data::now_ms();
    let mut evicted = 0u64;
    let mut outcome = Outcome::Ok;
    while used > settings.maxmemory {
        let Some((db, key)) = srv
            .ks
            .eviction_candidate(settings.policy, settings.samples, now)
        else {
            outcome = Outcome::Fail;
            break;
        };
        let del_started = srv.latency_monitor.enabled().then(Instant::now);
        if srv.ks.evict(db, &key, mode) {
            evicted += 1;
        }
        if let Some(t) = del_started {
            let ms = t.elapsed().as_millis() as u64;
            srv.latency_monitor.add_if_needed("eviction-del", ms);
        }
        // Freed on this thread shows at once; on the lazy-free thread, at a refresh.
        used = counted(if settings.lazy && evicted.is_multiple_of(16) {
            crate::alloc::refresh_used_memory()
        } else {
            crate::alloc::used_memory()
        });
        if evicted.is_multiple_of(16) && limit.is_some_and(|l| start.elapsed() > l) {
            outcome = Outcome::Running;
            break;
        }
    }
    if outcome == Outcome::Fail && srv.ks.lazyfree_pending() > 0 {
        // Values being freed in the background may be enough: wait a little, as Redis.
        std::thread::sleep(limit.unwrap_or(Duration::from_micros(500)));
        if counted(crate::alloc::refresh_used_memory()) <= settings.maxmemory {
            outcome = Outcome::Ok;
        }
    }
    let ms = start.elapsed().as_millis() as u64;
    srv.latency_monitor.add_if_needed("eviction-cycle", ms);
    if evicted > 0 {
        tracing::trace!("Evicted {evicted} keys under maxmemory");
        crate::cmd::data::after_server_deletions(srv, current);
    }
    outcome
}
