//! [`DistributedAtomicLong`]: Curator's `DistributedAtomicLong`, an 8-byte big-endian `i64`
//! updated by optimistic compare-and-set.

use std::time::Duration;

use tokio::time::{sleep, Instant};
use zk_core::path::validate_path;
use zk_core::{Client, CreateMode, RetryPolicy, Stat};

use super::{decode_i64, encode_i64};
use crate::error::{Error, Result};
use crate::protected::create_with_parents;

/// Hard cap on optimistic attempts, whatever the policy says.
const MAX_ATTEMPTS: u32 = 100_000;

/// The outcome of an update (Curator's `AtomicValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AtomicValue<T> {
    /// Whether the update was applied. `false` when the retry policy gave up under contention
    /// or, for a compare-and-set, when the value was not the expected one.
    pub succeeded: bool,
    /// The value the update was computed from (the last one read).
    pub pre_value: T,
    /// The value after the update; equal to `pre_value` when it did not succeed.
    pub post_value: T,
    /// Optimistic attempts made (each one a read and a conditional write).
    pub attempts: u32,
}

/// A shared `i64` in one node, compatible with Apache Curator's `DistributedAtomicLong`: the
/// node's data is the value as 8 big-endian bytes (a missing node or empty data reads as 0).
///
/// Every update reads the node and writes it back conditionally on the version it read; when
/// another writer got there first the update is tried again after a delay of the
/// [`RetryPolicy`] (default: [`RetryPolicy::default`]). When the policy gives up the result
/// says `succeeded: false` and nothing was changed. A missing node is created (its parents as
/// containers) by the first update.
///
/// See the [module docs](crate::counter) for session events and an example.
#[derive(Debug, Clone)]
pub struct DistributedAtomicLong {
    client: Client,
    path: String,
    policy: RetryPolicy,
}

/// A read of the node: its value and the version to write against (`None`: missing).
type Current = (i64, Option<Stat>);

impl DistributedAtomicLong {
    /// A counter at `path`. Nothing is sent yet.
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] for a bad path,
    /// [`Error::InvalidArgument`] for the root.
    pub fn new(client: Client, path: &str) -> Result<Self> {
        validate_path(path)?;
        if path == "/" {
            return Err(Error::InvalidArgument("a counter cannot live at the root".into()));
        }
        Ok(DistributedAtomicLong { client, path: path.to_owned(), policy: RetryPolicy::default() })
    }

    /// The same counter with another retry policy for contended updates (and for retryable
    /// errors of reads).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The counter's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The current value (0 when the node does not exist).
    ///
    /// # Errors
    /// [`Error::Malformed`] when the data is neither empty nor 8 bytes; [`Error::Zk`] for
    /// ZooKeeper errors (retryable ones once the policy gave up).
    ///
    /// # Cancellation
    /// Safe: a read only.
    pub async fn get(&self) -> Result<i64> {
        Ok(self.read().await?.0)
    }

    /// Adds 1. See [`DistributedAtomicLong::add`].
    ///
    /// # Errors
    /// As [`DistributedAtomicLong::add`].
    ///
    /// # Cancellation
    /// As [`DistributedAtomicLong::add`].
    pub async fn increment(&self) -> Result<AtomicValue<i64>> {
        self.add(1).await
    }

    /// Subtracts 1. See [`DistributedAtomicLong::add`].
    ///
    /// # Errors
    /// As [`DistributedAtomicLong::add`].
    ///
    /// # Cancellation
    /// As [`DistributedAtomicLong::add`].
    pub async fn decrement(&self) -> Result<AtomicValue<i64>> {
        self.add(-1).await
    }

    /// Subtracts `delta` (wrapping, as Java's `long` arithmetic).
    ///
    /// # Errors
    /// As [`DistributedAtomicLong::add`].
    ///
    /// # Cancellation
    /// As [`DistributedAtomicLong::add`].
    pub async fn subtract(&self, delta: i64) -> Result<AtomicValue<i64>> {
        self.add(delta.wrapping_neg()).await
    }

    /// Adds `delta` (wrapping on overflow, as Java's `long` arithmetic) with optimistic
    /// retries.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the node holds unreadable data (nothing is written);
    /// [`Error::Zk`] for ZooKeeper errors. After a `ConnectionLoss` of the write itself the
    /// error is returned rather than retried, since the write may have been applied: read the
    /// value to find out.
    ///
    /// # Cancellation
    /// Dropping the future may leave the last write attempt applied or not.
    pub async fn add(&self, delta: i64) -> Result<AtomicValue<i64>> {
        self.optimistic(|v| Some(v.wrapping_add(delta))).await
    }

    /// Sets `value` whatever the current value, with optimistic retries (Curator's `trySet`);
    /// `succeeded: false` when the policy gave up under contention.
    ///
    /// # Errors
    /// As [`DistributedAtomicLong::add`].
    ///
    /// # Cancellation
    /// As [`DistributedAtomicLong::add`].
    pub async fn try_set(&self, value: i64) -> Result<AtomicValue<i64>> {
        self.optimistic(|_| Some(value)).await
    }

    /// Sets `value` only if the current value is `expected`: one read and one conditional
    /// write, no retries (Curator's `compareAndSet`). `succeeded: false` when the value was
    /// different or changed between the read and the write; `pre_value` is what was read.
    /// A missing node counts as 0 and is created.
    ///
    /// # Errors
    /// As [`DistributedAtomicLong::add`].
    ///
    /// # Cancellation
    /// As [`DistributedAtomicLong::add`].
    pub async fn compare_and_set(&self, expected: i64, value: i64) -> Result<AtomicValue<i64>> {
        let (pre, stat) = self.read().await?;
        let mut result = AtomicValue { succeeded: false, pre_value: pre, post_value: pre, attempts: 1 };
        if pre == expected && self.write(stat.as_ref(), value).await? {
            result.succeeded = true;
            result.post_value = value;
        }
        Ok(result)
    }

    /// Sets `value` unconditionally (Curator's `forceSet`), creating the node when missing.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors.
    ///
    /// # Cancellation
    /// The write may be applied or not.
    pub async fn force_set(&self, value: i64) -> Result<()> {
        for _ in 0..MAX_ATTEMPTS {
            match self.client.set_data(&self.path, &encode_i64(value), None).await {
                Ok(_) => return Ok(()),
                Err(zk_core::Error::NoNode) => {
                    if self.write(None, value).await? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::RetriesExhausted("atomic long: the node kept vanishing"))
    }

    /// Creates the node with `value` if it does not exist (Curator's `initialize`); `true`
    /// when this call created it.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors.
    ///
    /// # Cancellation
    /// The node may be created or not.
    pub async fn initialize(&self, value: i64) -> Result<bool> {
        self.write(None, value).await
    }

    /// Reads, computes, writes conditionally; retries per the policy when someone else wrote
    /// in between. `f` returning `None` stops without writing.
    async fn optimistic(&self, f: impl Fn(i64) -> Option<i64>) -> Result<AtomicValue<i64>> {
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (pre, stat) = self.read().await?;
            let Some(post) = f(pre) else {
                return Ok(AtomicValue { succeeded: false, pre_value: pre, post_value: pre, attempts });
            };
            if self.write(stat.as_ref(), post).await? {
                return Ok(AtomicValue { succeeded: true, pre_value: pre, post_value: post, attempts });
            }
            match retry_delay(&self.policy, attempts - 1, start) {
                Some(delay) if attempts < MAX_ATTEMPTS => sleep(delay).await,
                _ => return Ok(AtomicValue { succeeded: false, pre_value: pre, post_value: pre, attempts }),
            }
        }
    }

    /// Reads the node, retrying retryable errors per the policy (with the same overflow-safe
    /// delays as lost races, rather than `zk_core::retry`).
    async fn read(&self) -> Result<Current> {
        let start = Instant::now();
        let mut retry = 0;
        loop {
            match self.client.get_data(&self.path).await {
                Ok((data, stat)) => return Ok((decode_i64(&self.path, &data)?, Some(stat))),
                Err(zk_core::Error::NoNode) => return Ok((0, None)),
                Err(e) if e.is_retryable() => match retry_delay(&self.policy, retry, start) {
                    Some(delay) if retry + 1 < MAX_ATTEMPTS => sleep(delay).await,
                    _ => return Err(e.into()),
                },
                Err(e) => return Err(e.into()),
            }
            retry += 1;
        }
    }

    /// Writes `value` against the version in `stat`, or creates the node when `stat` is
    /// `None`; `false` when someone else wrote (or created, or deleted) first.
    async fn write(&self, stat: Option<&Stat>, value: i64) -> Result<bool> {
        let data = encode_i64(value);
        let Some(stat) = stat else {
            return Ok(create_with_parents(&self.client, &self.path, &data, CreateMode::Persistent).await?);
        };
        match self.client.set_data(&self.path, &data, Some(stat.version)).await {
            Ok(_) => Ok(true),
            Err(zk_core::Error::BadVersion | zk_core::Error::NoNode) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// The delay before retry number `retry` (0-based) of an operation started at `start`, or
/// `None` when the policy gives up, or when the delay would end past what the clock can
/// represent (a user-supplied policy with durations near [`Duration::MAX`]).
fn retry_delay(policy: &RetryPolicy, retry: u32, start: Instant) -> Option<Duration> {
    next_delay(policy, retry, start.elapsed()).filter(|d| Instant::now().checked_add(*d).is_some())
}

/// The delay before optimistic retry number `retry` (0-based), or `None` when the policy
/// gives up. Mirrors [`RetryPolicy`]'s documented behaviour, applied to lost races rather
/// than to retryable errors. Never overflows: sums saturate, and an `UntilElapsed` budget
/// that cannot even be computed is exceeded.
fn next_delay(policy: &RetryPolicy, retry: u32, elapsed: Duration) -> Option<Duration> {
    match policy {
        RetryPolicy::ExponentialBackoff { base, max_delay, max_retries } => {
            if retry as usize >= *max_retries {
                return None;
            }
            let exp = base.saturating_mul(1 << retry.min(20)).min(*max_delay);
            Some(exp.saturating_add(jitter(*base)))
        }
        RetryPolicy::NTimes { n, delay } => ((retry as usize) < *n).then_some(*delay),
        RetryPolicy::UntilElapsed { max_elapsed, delay } => {
            elapsed.checked_add(*delay).is_some_and(|end| end <= *max_elapsed).then_some(*delay)
        }
        _ => None,
    }
}

/// A random delay below `max`, so contending writers spread out.
fn jitter(max: Duration) -> Duration {
    let nanos = max.as_nanos().max(1);
    Duration::from_nanos((uuid::Uuid::new_v4().as_u128() % nanos) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_bound_the_retries() {
        let zero = Duration::ZERO;
        assert_eq!(next_delay(&RetryPolicy::Never, 0, zero), None);
        let n = RetryPolicy::NTimes { n: 2, delay: Duration::from_millis(5) };
        assert_eq!(next_delay(&n, 1, zero), Some(Duration::from_millis(5)));
        assert_eq!(next_delay(&n, 2, zero), None);
        let exp = RetryPolicy::ExponentialBackoff {
            base: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_retries: 3,
        };
        for retry in 0..3 {
            let d = next_delay(&exp, retry, zero).unwrap();
            assert!(d >= Duration::from_millis(10) && d < Duration::from_millis(50), "{d:?}");
        }
        assert_eq!(next_delay(&exp, 3, zero), None);
        let until = RetryPolicy::UntilElapsed {
            max_elapsed: Duration::from_secs(1),
            delay: Duration::from_millis(400),
        };
        assert!(next_delay(&until, 0, Duration::from_millis(600)).is_some());
        assert!(next_delay(&until, 0, Duration::from_millis(700)).is_none());
    }

    #[test]
    fn extreme_durations_do_not_overflow() {
        let huge =
            RetryPolicy::ExponentialBackoff { base: Duration::MAX, max_delay: Duration::MAX, max_retries: 3 };
        assert_eq!(next_delay(&huge, 0, Duration::ZERO), Some(Duration::MAX));
        let until = RetryPolicy::UntilElapsed { max_elapsed: Duration::from_secs(1), delay: Duration::MAX };
        assert_eq!(next_delay(&until, 0, Duration::from_millis(1)), None);
        let unbounded = RetryPolicy::UntilElapsed { max_elapsed: Duration::MAX, delay: Duration::MAX };
        assert_eq!(next_delay(&unbounded, 0, Duration::from_millis(1)), None);
        assert_eq!(next_delay(&unbounded, 0, Duration::ZERO), Some(Duration::MAX));
    }
}
