//! Master/standby: run an async task while leader, cancel it the moment leadership is lost,
//! campaign again ([`run_while_leader`], [`Standby`]).

use std::future::Future;

use tokio::time::Instant;

use super::election::{Election, LeaderToken, LostReason};
use crate::error::Error;

/// Terms a [`Standby`] runs by default before returning (a bound, not a practical limit).
const DEFAULT_MAX_TERMS: usize = 1_000_000;

/// How one term of leadership ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TermEnd {
    /// Leadership was lost; the task was cancelled (dropped).
    Lost(LostReason),
    /// The task returned by itself; leadership was given up (Curator's `takeLeadership`
    /// returning).
    Finished,
    /// The shutdown signal fired; the task was cancelled and leadership given up.
    Shutdown,
}

/// One term of leadership run by a [`Standby`].
#[derive(Debug, Clone)]
pub struct Term {
    /// Our election node of the term (its fencing token).
    pub node: String,
    /// When `campaign()` returned (tokio time).
    pub elected_at: Instant,
    /// When the end was seen and the task dropped (tokio time).
    pub ended_at: Instant,
    /// How it ended.
    pub end: TermEnd,
}

/// What a [`Standby`] run did: its terms, and the error that stopped it, if any.
#[derive(Debug, Clone, Default)]
pub struct StandbyReport {
    /// Every term, in order.
    pub terms: Vec<Term>,
    /// `None` when it stopped on the shutdown signal, after one term without auto re-queue,
    /// or after the maximum number of terms; else why campaigning failed (for example
    /// [`Error::SessionEnded`] once the session of a client built with `OnExpiry::End`
    /// expired).
    pub error: Option<Error>,
}

/// Runs a task while leader of an election, over and over; see [`run_while_leader`].
#[derive(Debug)]
pub struct Standby<'a> {
    election: &'a Election,
    auto_requeue: bool,
    max_terms: usize,
}

impl<'a> Standby<'a> {
    /// A standby on `election`: auto re-queue on, at most a million terms.
    pub fn new(election: &'a Election) -> Self {
        Standby { election, auto_requeue: true, max_terms: DEFAULT_MAX_TERMS }
    }

    /// Whether to campaign again after a term ends (Curator's `autoRequeue`; default true).
    /// Off, [`Standby::run`] returns after the first term.
    pub fn auto_requeue(mut self, on: bool) -> Self {
        self.auto_requeue = on;
        self
    }

    /// Returns after this many terms (default one million).
    pub fn max_terms(mut self, n: usize) -> Self {
        self.max_terms = n;
        self
    }

    /// Campaigns; once leader, runs `work(token)` until leadership is lost (the work future
    /// is dropped at once: it is cancelled at its current await), the work returns, or
    /// `shutdown` resolves. Then resigns and, with auto re-queue, campaigns again.
    ///
    /// The loss is seen as [`Leadership::lost`](super::Leadership::lost) sees it: on
    /// Disconnected under the standard policy (the resign then completes once reconnected,
    /// or fails quietly once expired), on Expired, or when our node is deleted.
    ///
    /// # Errors
    /// None directly: a failed campaign stops the run and is reported in
    /// [`StandbyReport::error`] (after Expired: [`Error::SessionEnded`]).
    ///
    /// # Cancellation safety
    /// Dropping the future drops the work and the leadership (resigned in the background)
    /// or the campaign (its node deleted in the background).
    pub async fn run<F, Fut, S>(self, shutdown: S, mut work: F) -> StandbyReport
    where
        F: FnMut(LeaderToken) -> Fut,
        Fut: Future<Output = ()>,
        S: Future<Output = ()>,
    {
        tokio::pin!(shutdown);
        let mut report = StandbyReport::default();
        for _ in 0..self.max_terms {
            let leadership = tokio::select! {
                () = &mut shutdown => return report,
                r = self.election.campaign() => match r {
                    Ok(l) => l,
                    Err(e) => {
                        report.error = Some(e);
                        return report;
                    }
                },
            };
            let elected_at = Instant::now();
            let token = leadership.token();
            let end = tokio::select! {
                biased;
                reason = leadership.lost() => TermEnd::Lost(reason),
                () = &mut shutdown => TermEnd::Shutdown,
                () = work(token) => TermEnd::Finished,
            };
            let ended_at = Instant::now();
            let node = leadership.path().to_owned();
            tracing::info!(%node, ?end, held = ?(ended_at - elected_at), "leadership term ended");
            if let Err(e) = leadership.resign().await {
                tracing::debug!(%node, error = %e, "resign after the term");
            }
            report.terms.push(Term { node, elected_at, ended_at, end });
            if end == TermEnd::Shutdown || !self.auto_requeue {
                return report;
            }
        }
        report
    }
}

/// Runs `work` while `election`'s leader, cancelling it the moment leadership is lost and
/// campaigning again, until `shutdown` resolves: [`Standby::new`]`(election).run(shutdown,
/// work)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zk_recipes::{run_while_leader, Election, TermEnd};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let election = Election::new(server.client().await?, "/election/master", b"node-1")?;
/// let shutdown = tokio::time::sleep(Duration::from_secs(5));
/// let report = run_while_leader(&election, shutdown, |token| async move {
///     // Master work; it is dropped the moment leadership is lost.
///     let _fencing_token = token.node().to_owned();
///     std::future::pending::<()>().await
/// })
/// .await;
/// assert_eq!(report.terms.len(), 1);
/// assert_eq!(report.terms[0].end, TermEnd::Shutdown);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`Standby::run`].
///
/// # Cancellation safety
/// As [`Standby::run`].
pub async fn run_while_leader<F, Fut, S>(election: &Election, shutdown: S, work: F) -> StandbyReport
where
    F: FnMut(LeaderToken) -> Fut,
    Fut: Future<Output = ()>,
    S: Future<Output = ()>,
{
    Standby::new(election).run(shutdown, work).await
}
