//! Master/standby: run an async task while leader, cancel it the moment leadership is lost,
//! campaign again ([`run_while_leader`], [`Standby`]).

use std::future::Future;

use tokio::time::Instant;
use zk_core::Client;

use super::election::{Election, LeaderToken, Leadership, LostReason};
use crate::error::{Error, Result};

/// Terms a [`Standby`] runs by default before returning (a bound, not a practical limit).
const DEFAULT_MAX_TERMS: usize = 1_000_000;
/// Consecutive sessions whose end interrupts a campaign before the standby gives up (each
/// needs an expiry of the client's session: a bound, not a practical limit).
const MAX_SESSIONS_PER_CAMPAIGN: u32 = 1_000_000;

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
    /// expired, or once the client was closed). The expiry of a renewing client's session
    /// never stops a standby.
    pub error: Option<Error>,
}

/// Runs a task while leader of an election, over and over; see [`run_while_leader`].
///
/// # Session events
///
/// What the standby does follows the [`Election`]'s [`ConnectionPolicy`](super::ConnectionPolicy)
/// for the leader and Curator's `LeaderSelector` for the rest:
///
/// - **Suspended** (Disconnected): a leader under the standard policy (the default) loses
///   the term at once: the work is dropped, the node deleted once the connection is back
///   (or gone with the session), and the standby campaigns again behind the others. Under
///   the session-based policy the term goes on. A candidate keeps its place and waits.
/// - **Lost**, when the server says the session expired: the term ends (the work is
///   dropped), never the standby. A candidate's campaign fails with the session; on a
///   client that opens a new session by itself (the default) the standby waits for that
///   **new session** and campaigns again on it, at the back of the queue, whatever auto
///   re-queue says (the term it waited for never began). On a client built with
///   `OnExpiry::End`, or closed, the run stops with [`Error::SessionEnded`] in
///   [`StandbyReport::error`]. The session timeout passing without contact (Curator's
///   `LOST` moment, `TimeoutElapsed`) changes nothing by itself: a session-based leader
///   keeps its term until the server's answer.
/// - **Reconnected**: a candidate goes on waiting; a leader under the session-based policy
///   goes on leading if its node still stands.
///
/// The work can make writes that apply only while its term stands with
/// [`LeaderToken::fenced`]: a deposed leader that has not noticed yet (a partitioned one)
/// cannot overwrite its successor's state.
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
    /// The loss is seen as [`Leadership::lost`] sees it: on Disconnected under the standard
    /// policy (the resign then completes once reconnected, or fails quietly once expired),
    /// on Expired, or when our node is deleted. A campaign cut short by the end of the
    /// session starts again on the client's next session (see [Session events](Standby#session-events)).
    ///
    /// # Errors
    /// None directly: a failed campaign stops the run and is reported in
    /// [`StandbyReport::error`] ([`Error::SessionEnded`] once the client itself has ended:
    /// closed, or expired when built with `OnExpiry::End`).
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
                r = self.campaign() => match r {
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

    /// Campaigns until elected. When the session ends while we wait and the client lives on
    /// (it opens a new session by itself), waits for the new session and campaigns on it.
    async fn campaign(&self) -> Result<Leadership> {
        let client = self.election.client();
        for _ in 0..MAX_SESSIONS_PER_CAMPAIGN {
            match self.election.campaign().await {
                Err(Error::SessionEnded(e)) if !client.state().is_terminal() => {
                    let path = self.election.path();
                    tracing::info!(path, error = %e, "the session ended while campaigning; campaigning again on the next one");
                    next_session(client).await;
                }
                r => return r,
            }
        }
        Err(Error::RetriesExhausted("campaigning through new sessions"))
    }
}

/// Resolves once `client` is connected (to its next session, after an expiry) or has ended.
async fn next_session(client: &Client) {
    let mut rx = client.state_watch();
    let _ = rx.wait_for(|s| s.state.is_connected() || s.state.is_terminal()).await;
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
