//! Faults on command: the [`TestServer`] methods that expire, cut, freeze, fail and delay.

use std::time::Duration;

use tokio::time::Instant;
use zk_core::proto::ErrorCode;

use super::{Core, TestServer};
use crate::fault::{Action, Chaos, RequestMatcher};

impl TestServer {
    /// Expires a session now, as if its timeout had passed: ephemerals are deleted, watchers
    /// notified, its connection closed. False if there is no such session.
    ///
    /// This is adversarial: a real ensemble never expires the session of a client it still
    /// hears, and that client may believe it is connected until it reads the close. For the
    /// way a real session expires, see [`TestServer::partition_until_expiry`].
    pub fn expire_session(&self, id: i64) -> bool {
        let mut core = self.shared.lock();
        if core.sessions.lock().get(id).is_none() {
            return false;
        }
        core.expire(id, Instant::now(), self.shared.now_ms());
        true
    }

    /// Cuts the connection of a session (the session lives on). False if it has none.
    pub fn drop_connection(&self, session_id: i64) -> bool {
        let core = self.shared.lock();
        core.conn_of(session_id).is_some_and(|c| c.kill.send(true).is_ok())
    }

    /// Cuts every connection.
    pub fn drop_all_connections(&self) {
        self.shared.lock().kill_all();
    }

    /// Switches to (`true`) or from read-only mode, as an ensemble member does when it loses
    /// or regains its quorum with `readonlymode.enabled=true` (§2.6): every connection is cut.
    /// A read-only server accepts only clients that accept a read-only server (and tells
    /// them it is one), serves reads, and answers writes and `sync` with `NotReadOnly`.
    ///
    /// Unlike a real read-only member, which knows only its own local sessions, the embedded
    /// server keeps one session table: a session resumes across the switch.
    pub fn set_read_only(&self, read_only: bool) {
        let mut core = self.shared.lock();
        core.read_only = read_only;
        core.kill_all();
    }

    /// True while serving read-only (see [`TestServer::set_read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.shared.lock().read_only
    }

    /// Freezes a session's connection for `d` (a partition: no bytes either way). False if it
    /// has none.
    ///
    /// Freezes compose: a connection stays frozen until the latest deadline of every pause and
    /// partition that applies to it, so a pause never shortens a longer one.
    pub fn pause_connection(&self, session_id: i64, d: Duration) -> bool {
        let until = deadline(Instant::now(), d);
        let core = self.shared.lock();
        core.conn_of(session_id).map(|c| c.freeze_until(until)).is_some()
    }

    /// Cuts a session off from the server for `d`: its connection freezes and any new
    /// connection it makes is held before the handshake until `d` has passed, as in a network
    /// partition between that client and the server. Long enough, and the session expires.
    /// False if there is no such session.
    ///
    /// Partitions compose with each other and with pauses: the session stays cut off until
    /// the latest of their deadlines (a shorter partition never shortens a longer one).
    pub fn partition_session(&self, session_id: i64, d: Duration) -> bool {
        let until = deadline(Instant::now(), d);
        self.shared.lock().partition(session_id, until) && self.partitions_changed()
    }

    /// Expires a session the way a real ensemble does: cuts its client off (as
    /// [`TestServer::partition_session`]) until the server expires the session on its own
    /// timer, a session timeout (rounded up to the tick) after it last heard from the client.
    /// The client sees its connection go quiet, reconnects in vain, and learns of the expiry
    /// when the partition heals, at the expiry; then a renewing client opens a new session.
    /// False if there is no such session.
    pub fn partition_until_expiry(&self, session_id: i64) -> bool {
        let mut core = self.shared.lock();
        let Some(expiry) = core.sessions.lock().get(session_id).map(|s| s.deadline) else { return false };
        core.partition(session_id, expiry) && self.partitions_changed()
    }

    /// Freezes every current connection for `d` (as [`TestServer::pause_connection`] each).
    pub fn pause_connections(&self, d: Duration) {
        let until = deadline(Instant::now(), d);
        for c in self.shared.lock().conns.values() {
            c.freeze_until(until);
        }
    }

    /// Wakes the connect requests held at a partition; true, for chaining.
    fn partitions_changed(&self) -> bool {
        self.shared.partitions_changed.send_modify(|()| {});
        true
    }

    /// The next request matching `m` fails with `error` without being applied.
    ///
    /// Armed faults stack rather than replace one another: each fires its own number of
    /// times, and when several match one request the one armed first fires (the others wait
    /// for the next matching requests). Pings, auth, `setWatches` and `closeSession` are never
    /// matched.
    pub fn fail_next(&self, m: RequestMatcher, error: ErrorCode) {
        self.shared.lock().faults.arm(m, Action::Fail(error), 1);
    }

    /// The next `times` requests matching `m` fail with `error`.
    pub fn fail_times(&self, m: RequestMatcher, error: ErrorCode, times: usize) {
        self.shared.lock().faults.arm(m, Action::Fail(error), times);
    }

    /// The next request matching `m` is applied, then its connection is cut before the reply
    /// (the client sees ConnectionLoss for a write that happened).
    pub fn lose_next_reply(&self, m: RequestMatcher) {
        self.shared.lock().faults.arm(m, Action::LoseReply, 1);
    }

    /// The next request matching `m` cuts its connection without being applied.
    pub fn drop_on_next(&self, m: RequestMatcher) {
        self.shared.lock().faults.arm(m, Action::Drop, 1);
    }

    /// Delays every reply and event by `d` (replacing the previous fixed latency), until
    /// changed or [`TestServer::clear_faults`].
    pub fn set_latency(&self, d: Duration) {
        self.shared.lock().faults.latency = d;
    }

    /// Delays every reply and event queued in the next `window` by `delay`; the latency ends
    /// on its own. Latencies that overlap do not add up: a reply waits for the largest one
    /// open when it is queued (the fixed one of [`TestServer::set_latency`] included).
    pub fn set_latency_for(&self, delay: Duration, window: Duration) {
        let until = deadline(Instant::now(), window);
        self.shared.lock().faults.add_latency(delay, until);
    }

    /// Random faults from the seeded RNG (`None` turns them off).
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.shared.lock().faults.chaos = chaos;
    }

    /// Disarms every fault, latency and chaos.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }
}

impl Core {
    /// Cuts `session` off until `until` or, if it already is for longer, until then: its
    /// connection freezes and new connections it makes are held before the handshake. False
    /// if there is no such session.
    pub(crate) fn partition(&mut self, session: i64, until: Instant) -> bool {
        if self.sessions.lock().get(session).is_none() {
            return false;
        }
        let now = Instant::now();
        self.partitions.retain(|_, t| *t > now);
        let end = self.partitions.entry(session).or_insert(until);
        *end = (*end).max(until);
        let end = *end;
        if let Some(c) = self.conn_of(session) {
            c.freeze_until(end);
        }
        true
    }
}

/// How far ahead a fault's deadline may be: further ones are cut to this (tokio's timers do not
/// reach further, and no test runs this long even on a paused clock).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `from + d`, without overflowing: at most [`FAR_FUTURE`] after now.
pub(crate) fn deadline(from: Instant, d: Duration) -> Instant {
    let far = Instant::now() + FAR_FUTURE;
    from.checked_add(d).map_or(far, |t| t.min(far))
}
