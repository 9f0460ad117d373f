//! The run in progress, as `redis.call` and `redis.pcall` reach it.
//!
//! Those two are native functions made once per engine (a library function may keep
//! them in an upvalue from its load on), yet each call needs the running script's
//! [`Run`]: the server borrowed mutably, the pseudo client, the reply buffer. The run
//! lives on `run_in`'s stack for the length of the Lua call, so it cannot be captured by
//! a function that lives as long as the Lua state. `Lua::scope` would make a function
//! per run for that, at the price of a userdata, its finalizer and one more call layer
//! per `redis.call`: without them EVAL of a one-command script at `-P 16` serves about
//! 1.35× as many requests (`redis-benchmark`, the two binaries alternating). This module instead publishes the run's address for the
//! length of the call and lets the natives borrow it back.
//!
//! Invariant (what makes the one `unsafe` block sound): the address is non-null only
//! inside [`Active::publish`], whose caller holds the `RefCell<Run>` borrowed for the
//! whole call; it is cleared when `publish` returns or unwinds. Lua runs on the thread
//! that called `publish` (a Lua state is used by one thread at a time), so a native
//! reading the address sees either null or a run that is alive until `publish` returns.
//! The natives only go through the `RefCell`, so a nested `redis.call` (never reached:
//! scripts cannot run scripts) would fail a borrow rather than alias.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::sync::atomic::{AtomicPtr, Ordering};

use super::Run;

/// Where the running script's state is, if a script is running (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Active(AtomicPtr<()>);

impl Active {
    /// Runs `f` with `run` reachable through [`Active::with`].
    pub(super) fn publish<R>(&self, run: &RefCell<Run<'_>>, f: impl FnOnce() -> R) -> R {
        struct Clear<'a>(&'a AtomicPtr<()>);
        impl Drop for Clear<'_> {
            fn drop(&mut self) {
                self.0.store(std::ptr::null_mut(), Ordering::Relaxed);
            }
        }
        let clear = Clear(&self.0);
        self.0
            .store(std::ptr::from_ref(run).cast_mut().cast(), Ordering::Relaxed);
        let result = f();
        drop(clear);
        result
    }

    /// Calls `f` with the published run, or with `None` outside [`Active::publish`]
    /// (a library's top level calling `redis.call` at FUNCTION LOAD, say).
    pub(super) fn with<R>(&self, f: impl for<'r> FnOnce(Option<&'r RefCell<Run<'r>>>) -> R) -> R {
        let ptr = self.0.load(Ordering::Relaxed);
        if ptr.is_null() {
            return f(None);
        }
        let ptr = ptr.cast_const().cast::<RefCell<Run<'_>>>();
        // SAFETY: a non-null address was stored by `publish` from a live reference, and
        // that reference outlives this call (module docs); the lifetime handed to `f`
        // ends before `with` returns, inside `publish`'s borrow.
        let run = unsafe { &*ptr };
        f(Some(run))
    }
}
