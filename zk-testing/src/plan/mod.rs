//! Fault plans: faults as data, at virtual times, that can be drawn from a seed, printed,
//! parsed back, applied to a [`TestServer`] and shrunk.
//!
//! A [`FaultPlan`] is an ordered list of [`Fault`]s, each a [`FaultKind`] at an offset from
//! the plan's start. A plan names no session ids: faults aimed at a session name a
//! *participant* ("client 2"), an index into the list of participants the scenario hands to
//! [`FaultPlan::apply`], resolved to that participant's current session when the fault fires.
//! So one plan can be printed by a failing run, pasted into a regression test and replayed
//! against fresh clients.
//!
//! - **Build** a plan in code ([`FaultPlan::new`], [`FaultPlan::at`], [`FaultPlan::push`], or
//!   collect [`Fault`]s), **parse** one from text ([`str::parse`]), or **draw** one from a seed
//!   ([`FaultPlanConfig::draw`], with weights per kind in [`FaultWeights`]).
//! - **Print** it with `Display`: one fault per line, or `;`-separated on one line with `{:#}`.
//!   Parsing reads back exactly the plan `Display` printed, from either form (it is lenient
//!   about spaces and blank entries, and reports a [`ParsePlanError`] with line and column).
//! - **Apply** it with [`FaultPlan::apply`]: a future that sleeps (on tokio's clock) until each
//!   fault's time and applies it, then returns a [`PlanReport`]. Dropping the future stops the
//!   plan: no further fault is applied (the ones applied run their course).
//! - **Shrink** it with [`FaultPlan::without`] (drop one fault) and [`FaultPlan::shortened`]
//!   (halve one fault's durations), which a runner calls while the failure persists.
//!
//! # The text form
//!
//! ```text
//! plan     = [ fault { sep fault } ]            blank entries are skipped
//! sep      = newline | ";"
//! fault    = "at" duration ":" action
//! action   = "expire client" N                  realistic expiry (see below)
//!          | "expire client" N "now"            adversarial: expire the session at once
//!          | "drop connection of client" N
//!          | "partition client" N "for" duration
//!          | "pause all for" duration
//!          | "lose reply to next" matcher
//!          | "fail next" matcher "with" ERROR
//!          | "latency" duration "for" duration
//!          | "restart"
//! matcher  = ( "request" | OP ) [ "under" string ]
//! duration = digits [ "." digits ] ( "s" | "ms" | "us" | "ns" )     e.g. 1.5s 250ms 0s
//! ```
//!
//! `N` is a participant index from 0. `OP` is an [`OpCode`](zk_core::proto::OpCode) variant
//! name (`Create2`, `SetData`, ...), `ERROR` an [`ErrorCode`] Java name (`NONODE`,
//! `CONNECTIONLOSS`, ...), `string` a path prefix in double quotes with `\"`, `\\`, `\n`, `\r`,
//! `\t` and `\u{..}` escapes. `Display` writes durations exactly, in the largest unit below
//! them (`1.5s`, not `1500ms`). Words are separated by spaces; leading and trailing space on a
//! line is ignored, so a plan can be pasted into an indented string. For example:
//!
//! ```text
//! at 1.5s: partition client 2 for 12s
//! at 4s: fail next Create2 under "/locks/" with CONNECTIONLOSS
//! at 9.25s: expire client 0
//! at 30s: restart
//! ```
//!
//! # What each fault does
//!
//! | kind | text | server call |
//! |---|---|---|
//! | [`FaultKind::Expire`] | `expire client N` | [`TestServer::partition_until_expiry`]: the client is cut off until the server expires its session on its own timer, a session timeout after it last heard from it, as a real ensemble does |
//! | [`FaultKind::ExpireNow`] | `expire client N now` | [`TestServer::expire_session`]: **adversarial**, the session ends at once while its client may believe it is connected; no real ensemble does this |
//! | [`FaultKind::DropConnection`] | `drop connection of client N` | [`TestServer::drop_connection`] |
//! | [`FaultKind::Partition`] | `partition client N for D` | [`TestServer::partition_session`] |
//! | [`FaultKind::PauseAll`] | `pause all for D` | [`TestServer::pause_connections`] |
//! | [`FaultKind::LoseReply`] | `lose reply to next M` | [`TestServer::lose_next_reply`] |
//! | [`FaultKind::Fail`] | `fail next M with E` | [`TestServer::fail_next`] |
//! | [`FaultKind::Latency`] | `latency D for W` | [`TestServer::set_latency_for`] |
//! | [`FaultKind::Restart`] | `restart` | [`TestServer::restart`] |
//!
//! Faults compose: a connection is frozen until the latest deadline of all the pauses and
//! partitions that apply to it (none shortens another), overlapping latencies delay a reply by
//! the largest of them, and armed request faults each fire once, the earliest armed first when
//! several match a request.
//!
//! # Examples
//!
//! Parse a plan, apply it while the scenario runs, and check the outcome:
//!
//! ```
//! use std::time::Duration;
//! use zk_core::CreateMode;
//! use zk_testing::{FaultPlan, TestServer};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TestServer::builder().no_tcp().seed(7).start().await?;
//! let clients = [
//!     server.client_builder().session_timeout(Duration::from_secs(10)).connect().await?,
//!     server.client().await?,
//! ];
//! clients[0].create("/leader", b"", CreateMode::Ephemeral).await?;
//! let first_session = clients[0].session_id();
//!
//! let plan: FaultPlan = "
//!     at 1s: partition client 1 for 3s
//!     at 2s: expire client 0
//!     at 20s: restart"
//!     .parse()?;
//! assert_eq!(plan.len(), 3);
//! assert_eq!(plan.to_string().parse::<FaultPlan>()?, plan);
//!
//! let report = plan.apply(&server, &clients).await;
//! assert!(report.all_applied(), "{report:?}");
//! // Client 0's session expired on the server's timer, and its ephemeral went with it; the
//! // client carries on in a new session.
//! assert_eq!(clients[1].exists("/leader").await?, None);
//! assert_ne!(clients[0].session_id(), first_session);
//! # Ok(())
//! # }
//! ```
//!
//! Draw plans from seeds, and shrink one:
//!
//! ```
//! use std::time::Duration;
//! use zk_testing::{FaultPlanConfig, FaultWeights};
//!
//! let config = FaultPlanConfig {
//!     participants: 3,
//!     faults: 2..=6,
//!     horizon: Duration::from_secs(60),
//!     weights: FaultWeights { restart: 0, ..FaultWeights::default() },
//!     ..FaultPlanConfig::default()
//! };
//! let plan = config.draw(42);
//! assert_eq!(plan, config.draw(42), "a seed draws one plan");
//! assert!((2..=6).contains(&plan.len()));
//! let smaller = plan.without(0).expect("there is a fault 0");
//! assert_eq!(smaller.len(), plan.len() - 1);
//! ```

mod apply;
mod draw;
mod text;

use std::time::Duration;

use zk_core::proto::ErrorCode;

use crate::fault::RequestMatcher;
#[cfg(doc)]
use crate::TestServer;

pub use apply::{FaultOutcome, Participant, PlanReport};
pub use draw::{FaultPlanConfig, FaultWeights};
pub use text::{ParsePlanError, ParsePlanErrorKind};

/// One fault of a [`FaultPlan`]: what happens, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// When it is applied: an offset from the start of the plan, on tokio's clock.
    pub at: Duration,
    /// What happens.
    pub kind: FaultKind,
}

/// What a [`Fault`] does. `client` fields are participant indices (see
/// [`FaultPlan::apply`]); the module docs give each kind's text form.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// The realistic expiry: the client is cut off until the server expires its session on
    /// its own timer ([`TestServer::partition_until_expiry`]).
    Expire {
        /// The participant.
        client: usize,
    },
    /// Adversarial: the server expires the session at once, although it still hears its
    /// client ([`TestServer::expire_session`]). No real ensemble does this; it tests code
    /// against a session that ends under a client that believes it is connected.
    ExpireNow {
        /// The participant.
        client: usize,
    },
    /// The client's connection is cut; its session lives on
    /// ([`TestServer::drop_connection`]).
    DropConnection {
        /// The participant.
        client: usize,
    },
    /// The client is cut off from the server for `duration`
    /// ([`TestServer::partition_session`]).
    Partition {
        /// The participant.
        client: usize,
        /// How long.
        duration: Duration,
    },
    /// Every current connection freezes for `duration` ([`TestServer::pause_connections`]).
    PauseAll {
        /// How long.
        duration: Duration,
    },
    /// The next request `matcher` selects is applied and its reply lost: the connection is
    /// cut ([`TestServer::lose_next_reply`]).
    LoseReply {
        /// Which request.
        matcher: RequestMatcher,
    },
    /// The next request `matcher` selects fails with `error`, unapplied
    /// ([`TestServer::fail_next`]).
    Fail {
        /// Which request.
        matcher: RequestMatcher,
        /// The error code it gets.
        error: ErrorCode,
    },
    /// Replies and events queued in the next `duration` are delayed by `delay`
    /// ([`TestServer::set_latency_for`]).
    Latency {
        /// The delay of each reply.
        delay: Duration,
        /// How long the latency lasts.
        duration: Duration,
    },
    /// The server is bounced: connections are cut, data and sessions kept
    /// ([`TestServer::restart`]).
    Restart,
}

impl FaultKind {
    /// The participant it is aimed at, if any.
    pub fn client(&self) -> Option<usize> {
        match self {
            FaultKind::Expire { client }
            | FaultKind::ExpireNow { client }
            | FaultKind::DropConnection { client }
            | FaultKind::Partition { client, .. } => Some(*client),
            _ => None,
        }
    }

    /// True for the kinds no real ensemble produces ([`FaultKind::ExpireNow`]).
    pub fn is_adversarial(&self) -> bool {
        matches!(self, FaultKind::ExpireNow { .. })
    }

    /// The kind with its durations halved, or `None` when it has none that is not zero.
    fn halved(&self) -> Option<FaultKind> {
        let half = |d: &Duration| *d / 2;
        let kind = match self {
            FaultKind::Partition { client, duration } if !duration.is_zero() => {
                FaultKind::Partition { client: *client, duration: half(duration) }
            }
            FaultKind::PauseAll { duration } if !duration.is_zero() => {
                FaultKind::PauseAll { duration: half(duration) }
            }
            FaultKind::Latency { delay, duration } if !(delay.is_zero() && duration.is_zero()) => {
                FaultKind::Latency { delay: half(delay), duration: half(duration) }
            }
            _ => return None,
        };
        Some(kind)
    }
}

/// An ordered list of faults at virtual times: see the [module docs](self).
///
/// Faults are kept sorted by time; faults at the same time keep the order they were added in,
/// and are applied in that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    faults: Vec<Fault>,
}

impl FaultPlan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// The plan with `kind` added at `at` (after the faults already at that time).
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_testing::{FaultKind, FaultPlan};
    ///
    /// let plan = FaultPlan::new()
    ///     .at(Duration::from_millis(1500), FaultKind::Partition { client: 2, duration: Duration::from_secs(12) })
    ///     .at(Duration::from_secs(1), FaultKind::Restart);
    /// assert_eq!(plan.to_string(), "at 1s: restart\nat 1.5s: partition client 2 for 12s");
    /// ```
    pub fn at(mut self, at: Duration, kind: FaultKind) -> Self {
        self.push(Fault { at, kind });
        self
    }

    /// Adds a fault, after the faults already at its time.
    pub fn push(&mut self, fault: Fault) {
        let i = self.faults.partition_point(|f| f.at <= fault.at);
        self.faults.insert(i, fault);
    }

    /// The number of faults.
    pub fn len(&self) -> usize {
        self.faults.len()
    }

    /// True when the plan has no fault.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// The faults, in time order.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Fault `i`, in time order.
    pub fn get(&self, i: usize) -> Option<&Fault> {
        self.faults.get(i)
    }

    /// The faults, in time order.
    pub fn iter(&self) -> std::slice::Iter<'_, Fault> {
        self.faults.iter()
    }

    /// The plan without fault `i` (a shrinking step), or `None` when there is no fault `i`.
    pub fn without(&self, i: usize) -> Option<FaultPlan> {
        if i >= self.faults.len() {
            return None;
        }
        let mut faults = self.faults.clone();
        faults.remove(i);
        Some(FaultPlan { faults })
    }

    /// The plan with fault `i`'s durations halved (a shrinking step): a partition's or a
    /// pause's length, a latency's delay and length. `None` when there is no fault `i` or it
    /// has no duration left to halve (its time is never changed), so repeated shrinking ends.
    pub fn shortened(&self, i: usize) -> Option<FaultPlan> {
        let kind = self.faults.get(i)?.kind.halved()?;
        let mut faults = self.faults.clone();
        faults[i].kind = kind;
        Some(FaultPlan { faults })
    }
}

impl<'a> IntoIterator for &'a FaultPlan {
    type Item = &'a Fault;
    type IntoIter = std::slice::Iter<'a, Fault>;

    fn into_iter(self) -> Self::IntoIter {
        self.faults.iter()
    }
}

impl IntoIterator for FaultPlan {
    type Item = Fault;
    type IntoIter = std::vec::IntoIter<Fault>;

    fn into_iter(self) -> Self::IntoIter {
        self.faults.into_iter()
    }
}

impl FromIterator<Fault> for FaultPlan {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        let mut plan = FaultPlan::new();
        plan.extend(iter);
        plan
    }
}

impl Extend<Fault> for FaultPlan {
    fn extend<I: IntoIterator<Item = Fault>>(&mut self, iter: I) {
        for fault in iter {
            self.push(fault);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn faults_stay_in_time_order_and_ties_keep_insertion_order() {
        let plan = FaultPlan::new()
            .at(secs(5), FaultKind::Restart)
            .at(secs(1), FaultKind::DropConnection { client: 0 })
            .at(secs(5), FaultKind::Expire { client: 1 })
            .at(secs(0), FaultKind::PauseAll { duration: secs(1) });
        let kinds: Vec<_> = plan.iter().map(|f| (f.at.as_secs(), f.kind.clone())).collect();
        assert_eq!(
            kinds,
            [
                (0, FaultKind::PauseAll { duration: secs(1) }),
                (1, FaultKind::DropConnection { client: 0 }),
                (5, FaultKind::Restart),
                (5, FaultKind::Expire { client: 1 }),
            ]
        );
        let collected: FaultPlan = plan.clone().into_iter().rev().collect();
        assert_eq!(collected.iter().map(|f| f.at).collect::<Vec<_>>(), [secs(0), secs(1), secs(5), secs(5)]);
    }

    #[test]
    fn shrinking_steps_drop_and_halve_and_run_out() {
        let plan = FaultPlan::new()
            .at(secs(1), FaultKind::Partition { client: 0, duration: secs(3) })
            .at(secs(2), FaultKind::Restart)
            .at(secs(3), FaultKind::Latency { delay: Duration::from_millis(100), duration: secs(10) });
        assert_eq!(plan.without(1).map(|p| p.len()), Some(2));
        assert_eq!(plan.without(3), None);
        assert_eq!(plan.shortened(1), None, "a restart has no duration");
        assert_eq!(plan.shortened(9), None);
        let shorter = plan.shortened(0).unwrap();
        assert_eq!(
            shorter.faults()[0].kind,
            FaultKind::Partition { client: 0, duration: Duration::from_millis(1500) }
        );
        assert_eq!(shorter.faults()[0].at, secs(1), "the time is kept");
        let latency = plan.shortened(2).unwrap();
        assert_eq!(
            latency.faults()[2].kind,
            FaultKind::Latency { delay: Duration::from_millis(50), duration: secs(5) }
        );
        // Halving ends: at most ~100 steps from any duration to zero.
        let mut p = FaultPlan::new().at(secs(0), FaultKind::PauseAll { duration: Duration::MAX });
        let mut steps = 0;
        while let Some(next) = p.shortened(0) {
            p = next;
            steps += 1;
            assert!(steps < 200);
        }
        assert_eq!(p.faults()[0].kind, FaultKind::PauseAll { duration: Duration::ZERO });
    }

    #[test]
    fn accessors() {
        assert_eq!(FaultKind::Partition { client: 3, duration: secs(1) }.client(), Some(3));
        assert_eq!(FaultKind::Restart.client(), None);
        assert!(FaultKind::ExpireNow { client: 0 }.is_adversarial());
        assert!(!FaultKind::Expire { client: 0 }.is_adversarial());
        let plan = FaultPlan::new().at(secs(1), FaultKind::Restart);
        assert_eq!(plan.get(0).map(|f| f.at), Some(secs(1)));
        assert!(plan.get(1).is_none() && !plan.is_empty() && FaultPlan::new().is_empty());
    }
}
