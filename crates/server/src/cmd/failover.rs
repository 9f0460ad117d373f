//! FAILOVER: the coordinated failover of redis-server 7.0.15, between this master and one
//! of its replicas, with Redis's replies, errors, log lines and INFO field
//! (`master_failover_state`).
//!
//! The happy path, as Redis runs it:
//!
//! 1. `FAILOVER [TO host port [FORCE]] [TIMEOUT ms]` holds writes back (a write pause of
//!    its own, merged with CLIENT PAUSE's in [`effective_pause`]) and enters
//!    `waiting-for-sync`.
//! 2. [`update`] (from the `hz` cron and after every replica ACK) waits until the target
//!    (or, without `TO`, any replica) acknowledged the whole stream
//!    (`ack offset == master_repl_offset`); past `TIMEOUT` it aborts, or with `FORCE`
//!    goes on anyway.
//! 3. The node becomes a replica of the target (`failover-in-progress`); its follower
//!    sends `PSYNC <replid> <offset+1> FAILOVER`
//!    ([`tandem_replica::FollowerConfig::failover`]), which makes the target a master.
//! 4. The answer ([`psync_answered`]): `+CONTINUE`/`+FULLRESYNC` ends the failover and
//!    the pause; anything else aborts it and makes this node a master again.
//!
//! The other side, a replica receiving `PSYNC ... FAILOVER`, is in [`super::repl::sync`].
//! No `REPLCONF GETACK` is fed while writes are held back (it would move the offset the
//! replicas must reach); replicas ACK once a second on their own, as in Redis.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tandem_replica::FailoverPsync;

use super::{parse_i64, Ctx};
use crate::server::{Pause, PauseKind, Server};

/// Redis's `failover_state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    #[default]
    NoFailover,
    WaitForSync,
    InProgress,
}

impl State {
    /// INFO's `master_failover_state`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::NoFailover => "no-failover",
            State::WaitForSync => "waiting-for-sync",
            State::InProgress => "failover-in-progress",
        }
    }
}

/// The failover in progress, if any (a field of [`Server`]).
#[derive(Debug, Default)]
pub struct Failover {
    state: State,
    /// `failover_end_time`: the TIMEOUT's deadline.
    end: Option<Instant>,
    /// `force_failover`.
    force: bool,
    /// `target_replica_host` / `target_replica_port`.
    target: Option<(String, i64)>,
    /// The failover's write pause ended: parked batches must be woken.
    unpaused: bool,
}

impl Failover {
    /// True while a failover holds writes back (any state but `no-failover`).
    pub fn active(&self) -> bool {
        self.state != State::NoFailover
    }
}

/// How often a batch parked by the failover's pause looks again, in case the wake-up for
/// the pause's end came before it started waiting (the pause has no deadline of its own).
const PARK_RECHECK: Duration = Duration::from_millis(250);

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]`.
pub fn failover(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    if ctx.srv.config.get_bool("cluster-enabled") {
        ctx.err("ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.");
        return;
    }
    if args.len() == 2 && args[1].eq_ignore_ascii_case(b"abort") {
        if !ctx.srv.failover.active() {
            ctx.err("ERR No failover in progress.");
            return;
        }
        abort(ctx.srv, "Failover manually aborted");
        ctx.ok();
        return;
    }
    let mut timeout_ms = 0i64;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < args.len() {
        let a = &args[j];
        if a.eq_ignore_ascii_case(b"timeout") && j + 1 < args.len() && timeout_ms == 0 {
            let Some(ms) = parse_i64(&args[j + 1]) else {
                ctx.not_integer();
                return;
            };
            if ms <= 0 {
                ctx.err("ERR FAILOVER timeout must be greater than 0");
                return;
            }
            timeout_ms = ms;
            j += 2;
        } else if a.eq_ignore_ascii_case(b"to") && j + 2 < args.len() && target.is_none() {
            let Some(port) = parse_i64(&args[j + 2]) else {
                ctx.not_integer();
                return;
            };
            target = Some((String::from_utf8_lossy(&args[j + 1]).into_owned(), port));
            j += 3;
        } else if a.eq_ignore_ascii_case(b"force") && !force {
            force = true;
            j += 1;
        } else {
            ctx.syntax_err();
            return;
        }
    }
    if ctx.srv.failover.active() {
        ctx.err("ERR FAILOVER already in progress.");
        return;
    }
    if ctx.srv.replica.is_active() {
        ctx.err("ERR FAILOVER is not valid when server is a replica.");
        return;
    }
    if ctx.srv.master.replicas().is_empty() {
        ctx.err("ERR FAILOVER requires connected replicas.");
        return;
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        ctx.err("ERR FAILOVER with force option requires both a timeout and target HOST and IP.");
        return;
    }
    if let Some((host, port)) = &target {
        let Some(online) = find_replica(ctx.srv, host, *port).map(|(_, online)| online) else {
            ctx.err("ERR FAILOVER target HOST and PORT is not a replica.");
            return;
        };
        if !online {
            ctx.err("ERR FAILOVER target replica is not online.");
            return;
        }
        tracing::info!("FAILOVER requested to {host}:{port}.");
    } else {
        tracing::info!("FAILOVER requested to any replica.");
    }
    let f = &mut ctx.srv.failover;
    f.end = (timeout_ms > 0).then(|| far_instant(Instant::now(), timeout_ms as u64));
    f.force = force;
    f.target = target;
    set_state(ctx.srv, State::WaitForSync);
    ctx.ok();
}

/// Redis's `updateFailoverStatus`: while waiting for a replica to catch up, checks the
/// timeout, then whether the target (or any replica) acknowledged the whole stream, and
/// if so becomes a replica of it, asking it to take over.
pub fn update(srv: &mut Server) {
    if srv.failover.state != State::WaitForSync {
        return;
    }
    if srv.failover.end.is_some_and(|end| end <= Instant::now()) {
        if srv.failover.force {
            let (host, port) = srv.failover.target.clone().unwrap_or_default();
            tracing::info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
            fail_over_to(srv, &host, port);
        } else {
            abort(srv, "Replica never caught up before timeout");
        }
        return;
    }
    let offset = srv.master.backlog.master_repl_offset();
    let caught_up = match &srv.failover.target {
        Some((host, port)) => find_replica(srv, host, *port)
            .is_some_and(|(ack, _)| ack == offset)
            .then(|| (host.clone(), *port)),
        None => srv
            .master
            .replicas()
            .iter()
            .find(|r| r.ack_off() == offset)
            .map(|r| (r.ip().to_string(), r.conf.listening_port)),
    };
    if let Some((host, port)) = caught_up {
        tracing::info!("Failover target {host}:{port} is synced, failing over.");
        fail_over_to(srv, &host, port);
    }
}

/// The follower's `PSYNC ... FAILOVER` got its answer (Redis's check in `syncWithMaster`).
pub fn psync_answered(srv: &mut Server, outcome: &FailoverPsync) {
    if srv.failover.state != State::InProgress {
        return;
    }
    match outcome {
        FailoverPsync::Accepted => clear(srv),
        FailoverPsync::Rejected(_) => abort(srv, "Failover target rejected psync request"),
        FailoverPsync::SendFailed => abort(srv, "Write error to failover target"),
    }
}

/// True while the node is a replica because of a failover whose PSYNC is not answered yet:
/// its follower must send `PSYNC ... FAILOVER`.
pub fn in_progress(srv: &Server) -> bool {
    srv.failover.state == State::InProgress
}

/// The pause in force: CLIENT PAUSE's, merged with the failover's write pause (the more
/// restrictive kind; a deadline a short while ahead, see [`PARK_RECHECK`]).
pub fn effective_pause(srv: &Server) -> Option<Pause> {
    let now = Instant::now();
    let client = srv.pause.filter(|p| p.until > now);
    if !srv.failover.active() {
        return client;
    }
    let until = now + PARK_RECHECK;
    Some(match client {
        Some(p) => Pause {
            kind: p.kind,
            until: p.until.max(until),
        },
        None => Pause {
            kind: PauseKind::Write,
            until,
        },
    })
}

/// Whether keys must not expire now: any client pause (CLIENT PAUSE WRITE or ALL, or a
/// FAILOVER's) holds deletions of expired keys, as Redis 7.0's `expireIfNeeded` does.
pub fn expiry_paused(srv: &Server) -> bool {
    (srv.pause.is_some() || srv.failover.active()) && effective_pause(srv).is_some()
}

/// True once after the failover's pause ended (the caller wakes parked batches).
pub fn take_unpaused(srv: &mut Server) -> bool {
    std::mem::take(&mut srv.failover.unpaused)
}

/// Redis's `abortFailover`: logs why, makes the node a master again when it already
/// turned into a replica, and ends the pause.
fn abort(srv: &mut Server, why: &str) {
    if !srv.failover.active() {
        return;
    }
    match &srv.failover.target {
        Some((host, port)) => tracing::info!("FAILOVER to {host}:{port} aborted: {why}"),
        None => tracing::info!("FAILOVER to any replica aborted: {why}"),
    }
    if srv.failover.state == State::InProgress {
        crate::replication_replica::unset_master(srv);
    }
    clear(srv);
}

/// Redis's `clearFailoverState`: back to `no-failover`, writes flow again.
fn clear(srv: &mut Server) {
    let f = &mut srv.failover;
    f.end = None;
    f.force = false;
    f.target = None;
    f.unpaused = true;
    set_state(srv, State::NoFailover);
}

/// Becomes a replica of the target; the follower's first PSYNC carries `FAILOVER`.
fn fail_over_to(srv: &mut Server, host: &str, port: i64) {
    set_state(srv, State::InProgress);
    match u16::try_from(port) {
        Ok(port) => crate::replication_replica::set_master(srv, host, port),
        Err(_) => abort(srv, "Failover target rejected psync request"),
    }
}

fn set_state(srv: &mut Server, state: State) {
    srv.failover.state = state;
    srv.master.failover_state = state.as_str();
    // No PING while a failover with a deadline holds writes back (Redis's
    // `replicationCron`), so the offset to reach stays put.
    srv.master.hold_pings = state != State::NoFailover && srv.failover.end.is_some();
}

/// Redis's `findReplica`: the replica announced (or connected) from `host` with listening
/// port `port`, as its acknowledged offset and whether it is online.
fn find_replica(srv: &Server, host: &str, port: i64) -> Option<(i64, bool)> {
    srv.master
        .replicas()
        .iter()
        .find(|r| r.ip().eq_ignore_ascii_case(host) && r.conf.listening_port == port)
        .map(|r| (r.ack_off(), r.state == tandem_master::ReplicaState::Online))
}

/// `now + ms`, saturating at a far-away instant instead of overflowing.
fn far_instant(now: Instant, ms: u64) -> Instant {
    let mut d = Duration::from_millis(ms);
    loop {
        if let Some(t) = now.checked_add(d) {
            return t;
        }
        d /= 2;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn state_names_are_redis_s() {
        assert_eq!(State::NoFailover.as_str(), "no-failover");
        assert_eq!(State::WaitForSync.as_str(), "waiting-for-sync");
        assert_eq!(State::InProgress.as_str(), "failover-in-progress");
    }

    #[test]
    fn far_deadlines_saturate() {
        let now = Instant::now();
        assert!(far_instant(now, u64::MAX) > now);
        assert_eq!(far_instant(now, 5), now + Duration::from_millis(5));
    }
}
