//! Background threads: their scheduling priority, and whether any is at work.
//!
//! The threads that work on a snapshot or on garbage (the `lazyfree` thread here, the RDB
//! writers of BGSAVE and of a full resync, the loaders in the crates above) share the
//! process with the network thread. Redis does this work in a forked child or a `bio`
//! thread; on a machine with two cores a replica loading, a save thread and the clients
//! already want more CPU than there is.
//!
//! * Priority: a save or free thread runs at nice [`BACKGROUND_NICE`], so a client request
//!   that wakes the network thread takes a core from it at once instead of after a
//!   scheduler time slice; when the network thread is idle the background thread still
//!   gets the whole core.
//! * [`busy`]: while such work runs, the network thread does not busy-poll (the server's
//!   `spin.rs`): the spare core it would burn is the one the work needs. A full resync
//!   also counts until the replica's first ACK (the master crate): the replica may be
//!   loading on the same machine.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The nice value of background threads (0 is normal, 19 the lowest priority).
pub const BACKGROUND_NICE: i32 = 10;

/// Background jobs running now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// A running background job; dropping it ends the job.
#[must_use = "the job counts as running until this is dropped"]
#[derive(Debug)]
pub struct Job(());

impl Drop for Job {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a background job as running until the returned guard is dropped.
pub fn job() -> Job {
    RUNNING.fetch_add(1, Ordering::Relaxed);
    Job(())
}

/// Whether any background job is running.
pub fn busy() -> bool {
    RUNNING.load(Ordering::Relaxed) > 0
}

/// Lowers the calling thread's priority (see [`lower_thread_priority`]) and counts a
/// background job until the returned guard is dropped (see [`job`]).
pub fn low_priority_job() -> Job {
    lower_thread_priority();
    job()
}

/// Lowers the calling thread's priority to [`BACKGROUND_NICE`], or to the nice value in
/// `TANDEM_BACKGROUND_NICE` (0 keeps normal priority; for comparisons). Failure (a system
/// that refuses) leaves the thread as it is: an optimisation, not a need.
pub fn lower_thread_priority() {
    let nice = std::env::var("TANDEM_BACKGROUND_NICE")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(BACKGROUND_NICE)
        .clamp(0, 19);
    #[cfg(target_os = "linux")]
    if nice > 0 {
        // On Linux, `setpriority(PRIO_PROCESS, tid)` applies to one thread.
        let tid = rustix::thread::gettid();
        let _ = rustix::process::setpriority_process(Some(tid), nice);
    }
}
