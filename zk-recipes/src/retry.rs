//! The one retry layer of the recipes: every step that meets a retryable error (connection
//! loss, a timeout, throttling) waits and tries again under its client's
//! [`RetryPolicy`](zk_core::RetryPolicy) ([`zk_core::ClientBuilder::retry_policy`]), with the
//! client's seeded jitter ([`Client::retry_schedule`]), so paused-clock tests replay and users
//! configure it in one place.
//!
//! - [`Retries`]: the retries of one loop. [`Retries::absorb`] for a step that gives up when
//!   the policy does (the error returned is then the last real one, never a made-up one);
//!   [`Retries::pause`] for a task that follows the server for as long as it lives (a
//!   latch, a cache, a kept node), which waits the policy's delays and then its longest one
//!   again, without giving up.
//! - [`retrying`]: one step, retried.
//!
//! "Was my create applied after a lost reply" is the other half, in
//! [`protected`](crate::protected): a protected name is looked for before trying again.

use std::future::Future;
use std::time::Duration;

use tokio::time::sleep;
use zk_core::{Client, RetryPolicy};

use crate::error::{Error, Result};

/// The longest pause of [`Retries::pause`] once the policy's schedule is spent, and the one
/// used when the policy never retries.
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// The retries of one loop, on its client's policy.
pub(crate) struct Retries {
    client: Client,
    /// A recipe's own policy instead of the client's (a counter's, as Curator's constructor
    /// takes one).
    policy: Option<RetryPolicy>,
    what: &'static str,
    schedule: Box<dyn Iterator<Item = Duration> + Send + Sync>,
    /// The last delay taken: [`Retries::pause`] repeats it once the schedule is spent.
    last: Duration,
}

impl std::fmt::Debug for Retries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retries").field("what", &self.what).field("last", &self.last).finish_non_exhaustive()
    }
}

impl Retries {
    /// The retries of the loop doing `what` (named in the logs) on `client`'s policy.
    pub(crate) fn new(client: &Client, what: &'static str) -> Retries {
        Retries::with_policy(client, None, what)
    }

    /// As [`Retries::new`], on `policy` when given instead of the client's.
    pub(crate) fn with_policy(client: &Client, policy: Option<&RetryPolicy>, what: &'static str) -> Retries {
        let mut retries = Retries {
            client: client.clone(),
            policy: policy.cloned(),
            what,
            schedule: Box::new(std::iter::empty()),
            last: Duration::ZERO,
        };
        retries.reset();
        retries
    }

    /// The last step made progress: the policy's schedule starts again.
    pub(crate) fn reset(&mut self) {
        self.schedule = match &self.policy {
            Some(p) => Box::new(p.schedule()),
            None => Box::new(self.client.retry_schedule()),
        };
    }

    /// Waits the policy's next delay: `false` (without waiting) once the policy gives up.
    pub(crate) async fn wait_next(&mut self) -> bool {
        match self.next_delay() {
            Some(delay) => {
                sleep(delay).await;
                true
            }
            None => false,
        }
    }

    /// After a failed step: a retryable ZooKeeper error waits the policy's next delay (`Ok`:
    /// go on); once the policy gives up, or for any other error, the error to return (a
    /// ZooKeeper error mapped by [`Error::while_waiting`], a recipe error as is).
    pub(crate) async fn absorb(&mut self, e: Error) -> Result<()> {
        match e {
            Error::Zk(e) => self.wait(e).await.map_err(Error::while_waiting),
            e => Err(e),
        }
    }

    /// After a failed ZooKeeper step: a retryable error waits the policy's next delay
    /// (`Ok`); once the policy gives up, or for any other error, that error.
    pub(crate) async fn wait(&mut self, e: zk_core::Error) -> zk_core::Result<()> {
        if !e.is_retryable() {
            return Err(e);
        }
        match self.next_delay() {
            Some(delay) => {
                tracing::debug!(error = %e, ?delay, "{}: retrying", self.what);
                sleep(delay).await;
                Ok(())
            }
            None => {
                tracing::debug!(error = %e, "{}: the retry policy gave up", self.what);
                Err(e)
            }
        }
    }

    /// The policy's next delay, for a step that schedules its retry itself; `None` once the
    /// policy gives up.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        let delay = self.schedule.next()?;
        self.last = delay;
        Some(delay)
    }

    /// For a task that follows the server for as long as it lives: waits the policy's next
    /// delay, then (the schedule spent) its longest delay again, never giving up.
    pub(crate) async fn pause(&mut self) {
        sleep(self.next_pause()).await;
    }

    /// The delay [`Retries::pause`] would wait now (for a task that schedules its retry
    /// itself).
    pub(crate) fn next_pause(&mut self) -> Duration {
        let delay = match self.schedule.next() {
            Some(d) => d,
            None if self.last.is_zero() => LONGEST_PAUSE,
            None => self.last,
        };
        self.last = delay;
        delay
    }
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or `client`'s policy gives
/// up (then with the last error).
pub(crate) async fn retrying<T, F, Fut>(client: &Client, what: &'static str, mut op: F) -> zk_core::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = zk_core::Result<T>>,
{
    let mut retries = Retries::new(client, what);
    // Bounded by the policy: each failed pass takes one delay of its schedule.
    loop {
        match op().await {
            Err(e) => retries.wait(e).await?,
            ok => return ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use zk_core::RetryPolicy;
    use zk_testing::TestServer;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn steps_are_retried_under_the_clients_policy() {
        let server = TestServer::builder().no_tcp().seed(5).start().await.unwrap();
        let policy = RetryPolicy::NTimes { n: 3, delay: Duration::from_millis(50) };
        let client = server.client_builder().retry_policy(policy).connect().await.unwrap();
        let calls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let r: zk_core::Result<()> = retrying(&client, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(zk_core::Error::ConnectionLoss)
        })
        .await;
        assert_eq!(r, Err(zk_core::Error::ConnectionLoss), "the last real error");
        assert_eq!(calls.load(Ordering::SeqCst), 4, "one try and the policy's three retries");
        assert_eq!(start.elapsed(), Duration::from_millis(150));

        let mut retries = Retries::new(&client, "test");
        for _ in 0..3 {
            retries.absorb(Error::Zk(zk_core::Error::ConnectionLoss)).await.unwrap();
        }
        let gave_up = retries.absorb(Error::Zk(zk_core::Error::ConnectionLoss)).await;
        assert_eq!(gave_up, Err(Error::Zk(zk_core::Error::ConnectionLoss)));
        let expired = retries.absorb(Error::Zk(zk_core::Error::SessionExpired)).await;
        assert_eq!(expired, Err(Error::SessionEnded(zk_core::Error::SessionExpired)));
        // A task that never gives up pauses on, with the policy's last delay.
        let start = tokio::time::Instant::now();
        retries.pause().await;
        retries.pause().await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    }
}
