//! Retry policies (on the `backon` crate) and a helper that retries only retryable errors.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ConstantBuilder, ExponentialBuilder};
use tokio::time::{sleep, Instant};

use crate::error::Result;

/// How often and how long to retry an operation that failed with a retryable error
/// ([`Error::is_retryable`](crate::Error::is_retryable): connection loss, timeouts,
/// throttling). Delays are tokio time, so they follow a paused test clock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryPolicy {
    /// Never retry.
    Never,
    /// Exponential backoff with full jitter (Curator's `ExponentialBackoffRetry`): delays
    /// start at `base`, double up to `max_delay`, at most `max_retries` retries.
    ExponentialBackoff {
        /// First delay.
        base: Duration,
        /// Largest delay.
        max_delay: Duration,
        /// Retries after the first attempt.
        max_retries: usize,
    },
    /// `n` retries with a fixed delay (Curator's `RetryNTimes`).
    NTimes {
        /// Retries after the first attempt.
        n: usize,
        /// Delay between attempts.
        delay: Duration,
    },
    /// Retry with a fixed delay until `max_elapsed` has passed since the first attempt
    /// (Curator's `RetryUntilElapsed`).
    UntilElapsed {
        /// Total time budget.
        max_elapsed: Duration,
        /// Delay between attempts.
        delay: Duration,
    },
}

impl Default for RetryPolicy {
    /// Exponential backoff from 100 ms to 5 s, 10 retries.
    fn default() -> Self {
        RetryPolicy::ExponentialBackoff {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_retries: 10,
        }
    }
}

impl RetryPolicy {
    /// The retry schedule of one operation that starts now: the delay to wait before each
    /// retry, ending when the policy gives up. That is when its retries are used up, or when
    /// the next delay would end past the [`UntilElapsed`](RetryPolicy::UntilElapsed) budget
    /// (counted from this call) or past what the clock can represent (durations near
    /// [`Duration::MAX`]). [`ExponentialBackoff`](RetryPolicy::ExponentialBackoff) delays are
    /// jittered. Tokio time, like [`retry`], which runs on this schedule; use it directly to
    /// retry on something other than an error, say a lost compare-and-set race.
    ///
    /// Take the next delay after each failed attempt (not ahead of time: the budget is
    /// checked against the current time).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use zk_core::RetryPolicy;
    /// let mut delays = RetryPolicy::NTimes { n: 2, delay: Duration::from_millis(5) }.schedule();
    /// assert_eq!(delays.next(), Some(Duration::from_millis(5)));
    /// assert_eq!(delays.next(), Some(Duration::from_millis(5)));
    /// assert_eq!(delays.next(), None);
    /// ```
    pub fn schedule(&self) -> impl Iterator<Item = Duration> + Send + Sync {
        self.schedule_seeded(rand::random())
    }

    /// [`RetryPolicy::schedule`] with its jitter drawn from `seed`: the same seed gives the
    /// same delays, so a paused-clock test stays reproducible.
    /// [`Client::retry_schedule`](crate::Client::retry_schedule) seeds it from the client's
    /// seed ([`ClientBuilder::seed`](crate::ClientBuilder::seed)).
    pub fn schedule_seeded(&self, seed: u64) -> impl Iterator<Item = Duration> + Send + Sync {
        let mut delays = self.delays(seed);
        let deadline = self.deadline(Instant::now());
        std::iter::from_fn(move || {
            let delay = delays.next()?;
            let end = Instant::now().checked_add(delay)?;
            deadline.is_none_or(|d| end <= d).then_some(delay)
        })
        .fuse()
    }

    /// The delays before each retry.
    fn delays(&self, seed: u64) -> Box<dyn Iterator<Item = Duration> + Send + Sync> {
        match self {
            RetryPolicy::Never => Box::new(std::iter::empty()),
            RetryPolicy::ExponentialBackoff { base, max_delay, max_retries } => Box::new(
                ExponentialBuilder::default()
                    .with_min_delay(*base)
                    .with_max_delay(*max_delay)
                    .with_max_times(*max_retries)
                    .with_jitter()
                    // backon is built without `std`, where its jitter seed is a constant:
                    // seed it here so concurrent clients spread out.
                    .with_jitter_seed(seed)
                    .build(),
            ),
            RetryPolicy::NTimes { n, delay } => {
                Box::new(ConstantBuilder::default().with_delay(*delay).with_max_times(*n).build())
            }
            RetryPolicy::UntilElapsed { delay, .. } => {
                Box::new(ConstantBuilder::default().with_delay(*delay).without_max_times().build())
            }
        }
    }

    fn deadline(&self, start: Instant) -> Option<Instant> {
        match self {
            // Past what the clock can hold: no deadline in practice.
            RetryPolicy::UntilElapsed { max_elapsed, .. } => start.checked_add(*max_elapsed),
            _ => None,
        }
    }
}

/// Runs `op` and retries it per `policy` while it fails with a retryable error; returns the
/// first success, the first non-retryable error, or the last error once the policy gives up.
///
/// Careful with non-idempotent writes: after [`Error::ConnectionLoss`](crate::Error::ConnectionLoss)
/// the first attempt may have been applied, so a retried create can fail with `NodeExists`.
///
/// # Errors
/// Whatever `op` returned last.
///
/// # Cancellation safety
/// Dropping the future stops retrying; an attempt already sent may still be applied.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut delays = policy.schedule();
    loop {
        let err = match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() => e,
            Err(e) => return Err(e),
        };
        let Some(delay) = delays.next() else { return Err(err) };
        tracing::debug!(error = %err, ?delay, "retrying");
        sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn count_attempts(policy: RetryPolicy, err: Error) -> (usize, Duration) {
        let n = AtomicUsize::new(0);
        let start = Instant::now();
        let r: Result<()> = retry(&policy, || {
            n.fetch_add(1, Ordering::SeqCst);
            let e = err.clone();
            async move { Err(e) }
        })
        .await;
        assert_eq!(r, Err(err));
        (n.load(Ordering::SeqCst), start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn n_times_retries_n_times_with_delay() {
        let (n, took) = count_attempts(
            RetryPolicy::NTimes { n: 3, delay: Duration::from_secs(1) },
            Error::ConnectionLoss,
        )
        .await;
        assert_eq!(n, 4);
        assert_eq!(took, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_errors_are_not_retried() {
        let (n, _) = count_attempts(RetryPolicy::default(), Error::NoNode).await;
        assert_eq!(n, 1);
        let (n, _) = count_attempts(RetryPolicy::Never, Error::ConnectionLoss).await;
        assert_eq!(n, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn until_elapsed_stops_at_the_budget() {
        let policy =
            RetryPolicy::UntilElapsed { max_elapsed: Duration::from_secs(10), delay: Duration::from_secs(3) };
        let (n, took) = count_attempts(policy, Error::ConnectionLoss).await;
        assert_eq!((n, took), (4, Duration::from_secs(9)));
    }

    #[tokio::test(start_paused = true)]
    async fn durations_past_the_clock_do_not_panic() {
        // No deadline in practice: retries until the op succeeds.
        let policy = RetryPolicy::UntilElapsed { max_elapsed: Duration::MAX, delay: Duration::from_secs(1) };
        let n = AtomicUsize::new(0);
        let r = retry(&policy, || {
            let k = n.fetch_add(1, Ordering::SeqCst);
            async move {
                if k < 3 {
                    Err(Error::ConnectionLoss)
                } else {
                    Ok(k)
                }
            }
        })
        .await;
        assert_eq!(r, Ok(3));
        // A delay that would end past the deadline gives up at once instead of overflowing.
        let policy = RetryPolicy::UntilElapsed { max_elapsed: Duration::from_secs(5), delay: Duration::MAX };
        let (n, took) = count_attempts(policy, Error::ConnectionLoss).await;
        assert_eq!((n, took), (1, Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn exponential_is_bounded_and_jittered_within_max() {
        let policy = RetryPolicy::ExponentialBackoff {
            base: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            max_retries: 5,
        };
        let delays: Vec<_> = policy.delays(1).collect();
        assert_eq!(delays.len(), 5);
        // Jitter adds at most one more base delay to each (backon's jitter), never below base.
        assert!(
            delays.iter().all(|d| *d >= Duration::from_millis(100) && *d <= Duration::from_millis(800)),
            "{delays:?}"
        );
        let (n, _) = count_attempts(policy, Error::ConnectionLoss).await;
        assert_eq!(n, 6);
    }

    #[tokio::test(start_paused = true)]
    async fn schedule_follows_the_policy() {
        assert_eq!(RetryPolicy::Never.schedule().next(), None);
        let n = RetryPolicy::NTimes { n: 2, delay: Duration::from_millis(5) };
        assert_eq!(n.schedule().collect::<Vec<_>>(), [Duration::from_millis(5); 2]);
        let exp = RetryPolicy::ExponentialBackoff {
            base: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_retries: 4,
        };
        let delays: Vec<_> = exp.schedule().collect();
        assert_eq!(delays.len(), 4);
        // Doubling up to the max, each plus a jitter below itself.
        for (d, cur) in delays.iter().zip([10, 20, 40, 40]) {
            let cur = Duration::from_millis(cur);
            assert!(*d >= cur && *d < 2 * cur, "{delays:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn schedule_budget_counts_from_its_creation() {
        let until = RetryPolicy::UntilElapsed {
            max_elapsed: Duration::from_secs(1),
            delay: Duration::from_millis(400),
        };
        let mut delays = until.schedule();
        tokio::time::advance(Duration::from_millis(600)).await;
        assert_eq!(delays.next(), Some(Duration::from_millis(400)), "ends right at the budget");
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(delays.next(), None);
        assert_eq!(delays.next(), None, "stays given up");
    }

    #[tokio::test(start_paused = true)]
    async fn schedule_gives_up_on_delays_past_the_clock() {
        let huge =
            RetryPolicy::ExponentialBackoff { base: Duration::MAX, max_delay: Duration::MAX, max_retries: 3 };
        assert_eq!(huge.schedule().next(), None);
        let until = RetryPolicy::UntilElapsed { max_elapsed: Duration::from_secs(1), delay: Duration::MAX };
        assert_eq!(until.schedule().next(), None);
        let unbounded = RetryPolicy::UntilElapsed { max_elapsed: Duration::MAX, delay: Duration::MAX };
        assert_eq!(unbounded.schedule().next(), None);
        let unbounded =
            RetryPolicy::UntilElapsed { max_elapsed: Duration::MAX, delay: Duration::from_secs(1) };
        assert_eq!(unbounded.schedule().take(3).count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn success_after_failures() {
        let n = AtomicUsize::new(0);
        let r = retry(&RetryPolicy::NTimes { n: 5, delay: Duration::from_millis(10) }, || {
            let k = n.fetch_add(1, Ordering::SeqCst);
            async move {
                if k < 2 {
                    Err(Error::ConnectionLoss)
                } else {
                    Ok(k)
                }
            }
        })
        .await;
        assert_eq!(r, Ok(2));
    }
}
