//! The server's session table: ids, passwords, negotiated timeouts and tick-bucketed expiry
//! (§11 of the protocol reference).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, RngCore};
use tokio::time::Instant;

use crate::state::ConnId;

/// One live session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) password: [u8; 16],
    pub(crate) timeout: Duration,
    /// When it expires unless touched again (a multiple of the tick after the server start).
    pub(crate) deadline: Instant,
    /// The connection currently bound to it.
    pub(crate) conn: Option<ConnId>,
    /// Requests received other than pings, on any of its connections.
    pub(crate) requests: u64,
}

/// The session table of one server, or the one table the members of an ensemble share (as the
/// leader's session tracker is, in a real one). It is locked only inside the server lock and
/// never across an await; take what you need and let the guard go before calling back into the
/// server (`let due = table.lock().expired(now);`, not `for id in table.lock().expired(now)`).
#[derive(Debug, Clone)]
pub(crate) struct SessionTable(Arc<Mutex<Sessions>>);

impl SessionTable {
    pub(crate) fn new(sessions: Sessions) -> SessionTable {
        SessionTable(Arc::new(Mutex::new(sessions)))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Sessions> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// All sessions of the server.
#[derive(Debug)]
pub(crate) struct Sessions {
    sessions: HashMap<i64, Session>,
    next_id: i64,
    tick: Duration,
    epoch: Instant,
}

impl Sessions {
    /// Ids look like the reference's: server id 1 in the top byte, then bits from `rng` (the
    /// reference uses the start time), then a counter.
    pub(crate) fn new(tick: Duration, epoch: Instant, rng: &mut impl Rng) -> Self {
        let base = (1i64 << 56) | ((rng.random::<u32>() as i64 & 0xff_ffff) << 24);
        Sessions { sessions: HashMap::new(), next_id: base, tick, epoch }
    }

    /// Clamps a requested timeout to 2..=20 ticks.
    pub(crate) fn negotiate(&self, requested_ms: i32) -> Duration {
        let min = self.tick * 2;
        let max = self.tick * 20;
        Duration::from_millis(requested_ms.max(0) as u64).clamp(min, max)
    }

    /// The deadline `timeout` after `now`, rounded up to the next tick boundary.
    fn deadline(&self, now: Instant, timeout: Duration) -> Instant {
        tick_deadline(self.epoch, self.tick, now + timeout)
    }

    /// Creates a session bound to `conn`; returns its id and password.
    pub(crate) fn create(
        &mut self,
        timeout: Duration,
        conn: ConnId,
        now: Instant,
        rng: &mut impl RngCore,
    ) -> (i64, [u8; 16]) {
        self.next_id += 1;
        let id = self.next_id;
        let mut password = [0u8; 16];
        rng.fill_bytes(&mut password);
        let deadline = self.deadline(now, timeout);
        self.sessions.insert(id, Session { password, timeout, deadline, conn: Some(conn), requests: 0 });
        (id, password)
    }

    /// Re-attaches a session to a new connection if the password matches; returns the
    /// connection it was bound to before (to be closed).
    pub(crate) fn resume(
        &mut self,
        id: i64,
        password: &[u8],
        timeout: Duration,
        conn: ConnId,
        now: Instant,
    ) -> Result<Option<ConnId>, Option<ConnId>> {
        let deadline = self.deadline(now, timeout);
        let Some(s) = self.sessions.get_mut(&id) else { return Err(None) };
        // The reference closes the old connection before checking the password.
        let old = s.conn.take();
        if s.password != password || s.deadline <= now {
            return Err(old);
        }
        s.timeout = timeout;
        s.deadline = deadline;
        s.conn = Some(conn);
        Ok(old)
    }

    /// True when `id` exists and its deadline has passed: it is expired, whether or not the
    /// expiry timer has run yet at this instant.
    pub(crate) fn is_due(&self, id: i64, now: Instant) -> bool {
        self.sessions.get(&id).is_some_and(|s| s.deadline <= now)
    }

    /// Every frame from the session's connection pushes its deadline out; a `counted` one
    /// (a request, not a ping) also counts as one of the session's requests.
    /// False when the session no longer exists (the frame is dropped).
    pub(crate) fn touch(&mut self, id: i64, now: Instant, counted: bool) -> bool {
        let (epoch, tick) = (self.epoch, self.tick);
        let Some(s) = self.sessions.get_mut(&id) else { return false };
        s.deadline = tick_deadline(epoch, tick, now + s.timeout);
        if counted {
            s.requests += 1;
        }
        true
    }

    /// A connection went away; the session lives on until it expires.
    pub(crate) fn detach(&mut self, id: i64, conn: ConnId) {
        if let Some(s) = self.sessions.get_mut(&id) {
            if s.conn == Some(conn) {
                s.conn = None;
            }
        }
    }

    /// Removes a session (closed or expired); returns its connection, if bound.
    pub(crate) fn remove(&mut self, id: i64) -> Option<ConnId> {
        self.sessions.remove(&id).and_then(|s| s.conn)
    }

    /// Every session's deadline starts again from `now`, as when a new leader takes over the
    /// session tracker of an ensemble.
    pub(crate) fn renew_all(&mut self, now: Instant) {
        let (epoch, tick) = (self.epoch, self.tick);
        for s in self.sessions.values_mut() {
            s.deadline = tick_deadline(epoch, tick, now + s.timeout);
        }
    }

    /// The live sessions as a snapshot keeps them, by id.
    pub(crate) fn saved(&self) -> Vec<crate::state::SavedSession> {
        self.list()
            .into_iter()
            .map(|(id, s)| crate::state::SavedSession {
                id,
                password: s.password,
                timeout_ms: i32::try_from(s.timeout.as_millis()).unwrap_or(i32::MAX),
            })
            .collect()
    }

    /// Takes back sessions from a snapshot, unbound, each with a full timeout from `now` (as a
    /// restarted ZooKeeper restarts their timers); new ids continue after theirs.
    pub(crate) fn restore(&mut self, saved: &[crate::state::SavedSession], now: Instant) {
        for s in saved {
            let timeout = Duration::from_millis(s.timeout_ms.max(0) as u64);
            let deadline = self.deadline(now, timeout);
            let session = Session { password: s.password, timeout, deadline, conn: None, requests: 0 };
            self.sessions.insert(s.id, session);
            self.next_id = self.next_id.max(s.id);
        }
    }

    /// Ids of the sessions whose deadline has passed.
    pub(crate) fn expired(&self, now: Instant) -> Vec<i64> {
        let mut ids: Vec<i64> =
            self.sessions.iter().filter(|(_, s)| s.deadline <= now).map(|(id, _)| *id).collect();
        // Deterministic order for reproducible traces.
        ids.sort_unstable();
        ids
    }

    /// The earliest deadline, for the expiry task's next wake-up.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.sessions.values().map(|s| s.deadline).min()
    }

    pub(crate) fn get(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// All sessions, sorted by id.
    pub(crate) fn list(&self) -> Vec<(i64, Session)> {
        let mut v: Vec<_> = self.sessions.iter().map(|(id, s)| (*id, s.clone())).collect();
        v.sort_unstable_by_key(|(id, _)| *id);
        v
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }
}

/// `at`, rounded up to the next multiple of `tick` after `epoch`.
fn tick_deadline(epoch: Instant, tick: Duration, at: Instant) -> Instant {
    let tick = tick.as_nanos().max(1);
    let since = at.duration_since(epoch).as_nanos();
    let buckets = since.div_ceil(tick);
    epoch + Duration::from_nanos((buckets * tick).min(u64::MAX as u128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[tokio::test(start_paused = true)]
    async fn negotiation_and_bucketed_deadlines() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let epoch = Instant::now();
        let mut s = Sessions::new(Duration::from_millis(2000), epoch, &mut rng);
        assert_eq!(s.negotiate(1000), Duration::from_secs(4));
        assert_eq!(s.negotiate(100_000), Duration::from_secs(40));
        assert_eq!(s.negotiate(30_000), Duration::from_secs(30));
        tokio::time::advance(Duration::from_millis(500)).await;
        let (id, pw) = s.create(Duration::from_secs(4), 1, Instant::now(), &mut rng);
        assert_eq!(id >> 56, 1);
        // 0.5 s + 4 s rounds up to the 6 s tick boundary.
        assert_eq!(s.get(id).unwrap().deadline, epoch + Duration::from_secs(6));
        assert!(s.expired(epoch + Duration::from_millis(5999)).is_empty());
        assert_eq!(s.expired(epoch + Duration::from_secs(6)), vec![id]);
        assert_eq!(s.resume(id, &[0; 16], Duration::from_secs(4), 2, Instant::now()), Err(Some(1)));
        assert_eq!(s.resume(id, &pw, Duration::from_secs(4), 3, Instant::now()), Ok(None));
        assert_eq!(s.resume(id + 1, &pw, Duration::from_secs(4), 3, Instant::now()), Err(None));
        assert_eq!(s.remove(id), Some(3));
        assert!(!s.touch(id, Instant::now(), true));
    }
}
