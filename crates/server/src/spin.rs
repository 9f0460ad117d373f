//! Short busy polling of the network thread after client activity.
//!
//! When the network thread has nothing to run it sleeps in `epoll_wait`, and the next
//! client `send` must wake it. That wake-up is paid by the sender (on loopback, inside its
//! `send`), and waking an idle virtual CPU costs an inter-processor interrupt. Under
//! `redis-benchmark -P 1` the client, not the server, is the bottleneck: Tandem needs less
//! CPU per request than Redis, so it sleeps more often (about 1.6 times Redis's context
//! switches on LRANGE_100), and every extra sleep costs the client a wake-up.
//!
//! The spinner keeps the thread polling the I/O driver (`epoll_wait` with a zero timeout)
//! for a short window after the last read from a client, so requests that arrive within the
//! window find the thread awake. With no client activity it sleeps, and the first read
//! wakes it again (a wake within the thread, no system call).
//!
//! Spinning pays only with a spare core: the thread does not spin while a background job
//! of this process (a save, a full sync until the replica acknowledges it, a load, a lazy
//! free) runs, nor while a replica on this machine (a loopback peer) follows it: each
//! write wakes that replica, which then needs the core. Measured with `cargo xtask bench
//! repl-load` on the 2-core machine (3 repetitions each, rows noisy to about 8%): SET
//! `-P 1` with 1 and 2 local replicas, 0.974x and 0.900x Redis spinning; 1.068x and
//! 1.027x with `TANDEM_BUSY_POLL_US=0`; 0.987x/0.993x and 1.096x/0.923x in two runs with
//! this rule.
//!
//! The window is `TANDEM_BUSY_POLL_US` microseconds (0 turns the spinner off). It only
//! runs with one network thread (tokio's current-thread scheduler), whose tasks all run on
//! the thread that starts it.

use std::cell::{Cell, RefCell};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Default window, in microseconds.
pub const DEFAULT_WINDOW_US: u64 = 200;

/// A replica on this machine is attached (see the module docs).
static LOCAL_REPLICAS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tells the spinner whether a replica on this machine is attached (the replication cron
/// calls it at `hz`).
pub fn set_local_replicas(attached: bool) {
    LOCAL_REPLICAS.store(attached, std::sync::atomic::Ordering::Relaxed);
}

thread_local! {
    /// Reads seen so far on this thread.
    static ACTIVITY: Cell<u64> = const { Cell::new(0) };
    /// The sleeping spinner's waker.
    static SLEEPER: RefCell<Option<Waker>> = const { RefCell::new(None) };
}

/// Notes client activity on the network thread: the spinner keeps polling for a window.
#[inline]
pub fn kick() {
    ACTIVITY.with(|a| a.set(a.get().wrapping_add(1)));
    SLEEPER.with(|s| {
        if let Some(w) = s.borrow_mut().take() {
            w.wake();
        }
    });
}

/// The spinner task: polls the I/O driver for up to `window` after client activity, while
/// activity comes often enough for that to pay and no background job needs the core.
///
/// It keeps a moving average of the time between the reads it observes (one in eight
/// weights each new gap) and spins only while that average is below the window: light
/// traffic, whose next request would rarely come within the window, never makes it spin.
/// It does not spin while a background job of this process runs (a save, a transfer, a
/// load, a lazy free: `tandem_keyspace::background::busy`): that job needs the core.
/// A full resync counts as such a job until the replica's first ACK. A thread that sleeps
/// between requests also gets a contended core back faster when it wakes (the scheduler
/// favours threads that slept): spinning while a replica loads on the same machine tripled
/// the p99 PING latency of `cargo xtask bench fullsync`.
pub async fn run(window: Duration) {
    let mut seen = ACTIVITY.with(Cell::get);
    let mut last = Instant::now();
    // Start as if traffic were light.
    let mut avg_gap = window * 2;
    let mut until = last;
    loop {
        if LOCAL_REPLICAS.load(std::sync::atomic::Ordering::Relaxed) {
            // Off while a local replica follows: checked again later, not woken by every
            // read (each wake would be one more task to run per request).
            tokio::time::sleep(Duration::from_millis(100)).await;
            seen = ACTIVITY.with(Cell::get);
            last = Instant::now();
            avg_gap = window * 2;
            until = last;
            continue;
        }
        let now_activity = ACTIVITY.with(Cell::get);
        let now = Instant::now();
        if now_activity != seen {
            seen = now_activity;
            // Capped, so that a burst after a long idle spell starts spinning within a
            // few dozen reads.
            let gap = now.saturating_duration_since(last).min(window * 16);
            avg_gap = (avg_gap * 7 + gap) / 8;
            last = now;
            until = if avg_gap < window { now + window } else { now };
        }
        if now < until && !tandem_keyspace::background::busy() {
            // Deferred until the driver has been polled: one `epoll_wait(0)` per turn.
            tokio::task::yield_now().await;
            continue;
        }
        // Idle: sleep until the next read.
        std::future::poll_fn(|cx| {
            if ACTIVITY.with(Cell::get) != seen {
                return Poll::Ready(());
            }
            SLEEPER.with(|s| *s.borrow_mut() = Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
    }
}

/// The window configured by `TANDEM_BUSY_POLL_US`, `None` when spinning is off.
pub fn window_from_env() -> Option<Duration> {
    let us = std::env::var("TANDEM_BUSY_POLL_US")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_WINDOW_US);
    (us > 0).then(|| Duration::from_micros(us))
}
