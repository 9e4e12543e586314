//! Applying a plan to a [`TestServer`] on tokio's clock.

use std::future::Future;
use std::io;

use tokio::time::{sleep_until, Instant};
use zk_core::Client;

use super::{Fault, FaultKind, FaultPlan};
use crate::server::deadline;
use crate::TestServer;

/// A participant of a scenario, as a fault plan's `client N` sees it: whatever can name its
/// current session.
///
/// Implemented for [`Client`] (its current session, so a fault after an expiry hits the
/// client's new session) and for a fixed session id (`i64`).
pub trait Participant {
    /// The participant's session id right now, or `None` while it has none.
    fn session_id(&self) -> Option<i64>;
}

impl Participant for Client {
    fn session_id(&self) -> Option<i64> {
        Some(Client::session_id(self)).filter(|id| *id != 0)
    }
}

impl Participant for i64 {
    fn session_id(&self) -> Option<i64> {
        Some(*self).filter(|id| *id != 0)
    }
}

impl<T: Participant + ?Sized> Participant for &T {
    fn session_id(&self) -> Option<i64> {
        (**self).session_id()
    }
}

/// What became of one fault when it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultOutcome {
    /// The fault was applied.
    Applied,
    /// The fault names a participant beyond the list the scenario gave.
    NoSuchParticipant,
    /// Its target was not there: the participant had no session (between an expiry and its
    /// next session, say), or no connection to drop.
    NoTarget,
    /// The restart failed (the server serves in-process clients only; see
    /// [`TestServer::restart`]).
    RestartFailed(io::ErrorKind),
}

/// What applying a plan did: one outcome per fault, in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanReport {
    /// The outcome of each fault, in plan order.
    pub outcomes: Vec<FaultOutcome>,
}

impl PlanReport {
    /// True when every fault was applied.
    pub fn all_applied(&self) -> bool {
        self.outcomes.iter().all(|o| *o == FaultOutcome::Applied)
    }

    /// How many faults were applied.
    pub fn applied(&self) -> usize {
        self.outcomes.iter().filter(|o| **o == FaultOutcome::Applied).count()
    }
}

impl FaultPlan {
    /// Applies the plan to `server`: waits (on tokio's clock) until each fault's time,
    /// counted from this call, and applies it; returns what each fault did once the last is
    /// applied. `participants[n]` is the plan's `client n`, resolved to its session when the
    /// fault fires.
    ///
    /// Run it beside the scenario (`tokio::join!` or `select!`); on a paused clock the faults
    /// land at exact virtual times and replay identically. Each fault is logged with
    /// `tracing` as it is applied.
    ///
    /// # Cancellation safety
    /// Dropping the future stops the plan: no later fault is applied. Faults already applied
    /// run their course (a partition heals, a latency ends, on their own); a restart in
    /// progress still brings the server back.
    pub fn apply<'a, T>(
        &'a self,
        server: &'a TestServer,
        participants: &'a [T],
    ) -> impl Future<Output = PlanReport> + Send + 'a
    where
        T: Participant + Sync,
    {
        let start = Instant::now();
        async move {
            let mut report = PlanReport { outcomes: Vec::with_capacity(self.len()) };
            for (i, fault) in self.iter().enumerate() {
                sleep_until(deadline(start, fault.at)).await;
                let outcome = apply_one(server, fault, participants).await;
                tracing::info!(index = i, fault = %fault, ?outcome, "fault plan");
                report.outcomes.push(outcome);
            }
            report
        }
    }
}

async fn apply_one<T: Participant>(server: &TestServer, fault: &Fault, participants: &[T]) -> FaultOutcome {
    let session = match fault.kind.client() {
        Some(n) => match participants.get(n) {
            None => return FaultOutcome::NoSuchParticipant,
            Some(p) => match p.session_id() {
                None => return FaultOutcome::NoTarget,
                some => some,
            },
        },
        None => None,
    };
    let id = session.unwrap_or_default();
    let done = |applied: bool| if applied { FaultOutcome::Applied } else { FaultOutcome::NoTarget };
    match &fault.kind {
        FaultKind::Expire { .. } => done(server.partition_until_expiry(id)),
        FaultKind::ExpireNow { .. } => done(server.expire_session(id)),
        FaultKind::DropConnection { .. } => done(server.drop_connection(id)),
        FaultKind::Partition { duration, .. } => done(server.partition_session(id, *duration)),
        FaultKind::PauseAll { duration } => {
            server.pause_connections(*duration);
            FaultOutcome::Applied
        }
        FaultKind::LoseReply { matcher } => {
            server.lose_next_reply(matcher.clone());
            FaultOutcome::Applied
        }
        FaultKind::Fail { matcher, error } => {
            server.fail_next(matcher.clone(), *error);
            FaultOutcome::Applied
        }
        FaultKind::Latency { delay, duration } => {
            server.set_latency_for(*delay, *duration);
            FaultOutcome::Applied
        }
        FaultKind::Restart => match server.restart().await {
            Ok(()) => FaultOutcome::Applied,
            Err(e) => FaultOutcome::RestartFailed(e.kind()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[tokio::test(start_paused = true)]
    async fn the_applier_is_send() {
        let server = TestServer::builder().no_tcp().start().await.unwrap();
        let plan = FaultPlan::new();
        let clients: Vec<Client> = Vec::new();
        let run = plan.apply(&server, &clients);
        assert_send(&run);
        assert_eq!(run.await, PlanReport::default());
    }
}
