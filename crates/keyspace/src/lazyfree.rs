//! The lazy-free thread (Redis's `BIO_LAZY_FREE`).
//!
//! Asynchronous flushes and deletes hand what they removed to one background thread named
//! `lazyfree` over a crossbeam channel; dropping it there keeps the command thread free of
//! work proportional to the data. The thread is spawned on first use and exits when the
//! keyspace is dropped. Two counters are shared with it: objects queued and not yet freed
//! (`lazyfree_pending_objects` in INFO memory) and objects freed so far (`lazyfreed_objects`
//! in INFO stats).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::db::Db;
use crate::table::Stored;

/// Something to free, with the number of objects it counts for. The payloads are only
/// held to be dropped on the thread.
#[allow(dead_code)]
pub(crate) enum Garbage {
    Dbs(Vec<Db>, u64),
    Value(Stored),
}

impl Garbage {
    fn objects(&self) -> u64 {
        match self {
            Garbage::Dbs(_, n) => *n,
            Garbage::Value(_) => 1,
        }
    }
}

#[derive(Default)]
struct Counters {
    pending: AtomicU64,
    freed: AtomicU64,
}

/// Handle on the lazy-free thread.
#[derive(Default)]
pub(crate) struct LazyFree {
    tx: Option<Sender<Garbage>>,
    counters: Arc<Counters>,
}

impl LazyFree {
    /// Queue `garbage` for freeing on the background thread. If the thread cannot be
    /// started, the garbage is freed here (still counted).
    pub(crate) fn free(&mut self, garbage: Garbage) {
        let n = garbage.objects();
        self.counters.pending.fetch_add(n, Ordering::Relaxed);
        if self.tx.is_none() {
            self.tx = self.spawn();
        }
        let garbage = match &self.tx {
            Some(tx) => match tx.send(garbage) {
                Ok(()) => return,
                Err(e) => e.into_inner(),
            },
            None => garbage,
        };
        drop(garbage);
        self.counters.pending.fetch_sub(n, Ordering::Relaxed);
        self.counters.freed.fetch_add(n, Ordering::Relaxed);
    }

    fn spawn(&self) -> Option<Sender<Garbage>> {
        let (tx, rx) = crossbeam_channel::unbounded::<Garbage>();
        let counters = Arc::clone(&self.counters);
        std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                crate::background::lower_thread_priority();
                for garbage in rx {
                    let n = garbage.objects();
                    let job = crate::background::job();
                    drop(garbage);
                    drop(job);
                    counters.pending.fetch_sub(n, Ordering::Relaxed);
                    counters.freed.fetch_add(n, Ordering::Relaxed);
                }
            })
            .ok()
            .map(|_| tx)
    }

    /// Objects queued and not yet freed.
    pub(crate) fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::Relaxed)
    }

    /// Objects freed by lazy free so far.
    pub(crate) fn freed(&self) -> u64 {
        self.counters.freed.load(Ordering::Relaxed)
    }
}
