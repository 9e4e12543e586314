//! [`DistributedAtomicLong`]: Curator's `DistributedAtomicLong`, an 8-byte big-endian `i64`
//! updated by optimistic compare-and-set.

use zk_core::path::validate_path;
use zk_core::{Client, CreateMode, RetryPolicy, Stat};

use super::{decode_i64, encode_i64};
use crate::error::{Error, Result};
use crate::protected::create_with_parents;
use crate::retry::Retries;

/// The outcome of an update (Curator's `AtomicValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use = "an update may not have been applied: check `succeeded`"]
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
/// [`RetryPolicy`] (default: the client's, [`zk_core::ClientBuilder::retry_policy`]). When
/// the policy gives up the result
/// says `succeeded: false` and nothing was changed. A missing node is created (its parents as
/// containers) by the first update.
///
/// See the [module docs](crate::counter) for session events and an example.
#[derive(Debug, Clone)]
pub struct DistributedAtomicLong {
    client: Client,
    path: String,
    /// The counter's own policy; `None`: the client's.
    policy: Option<RetryPolicy>,
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
        Ok(DistributedAtomicLong { client, path: path.to_owned(), policy: None })
    }

    /// The same counter with another retry policy for contended updates (and for retryable
    /// errors of reads).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = Some(policy);
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
        self.optimistic(|v| v.wrapping_add(delta)).await
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
        self.optimistic(|_| value).await
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
        let mut retries = self.retries("atomic long: force set");
        // Bounded by the policy: each race lost to a concurrent delete takes one of its delays.
        loop {
            match self.client.set_data(&self.path, &encode_i64(value), None).await {
                Ok(_) => return Ok(()),
                Err(zk_core::Error::NoNode) => {
                    if self.write(None, value).await? {
                        return Ok(());
                    }
                    if !retries.wait_next().await {
                        return Err(Error::RetriesExhausted("atomic long: the node kept vanishing"));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
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
    /// in between.
    async fn optimistic(&self, f: impl Fn(i64) -> i64) -> Result<AtomicValue<i64>> {
        let mut retries = self.retries("atomic long: contended update");
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (pre, stat) = self.read().await?;
            let post = f(pre);
            if self.write(stat.as_ref(), post).await? {
                return Ok(AtomicValue { succeeded: true, pre_value: pre, post_value: post, attempts });
            }
            if !retries.wait_next().await {
                return Ok(AtomicValue { succeeded: false, pre_value: pre, post_value: pre, attempts });
            }
        }
    }

    /// The retries of one step, on the counter's policy.
    fn retries(&self, what: &'static str) -> Retries {
        Retries::with_policy(&self.client, self.policy.as_ref(), what)
    }

    /// Reads the node, retrying retryable errors per the policy.
    async fn read(&self) -> Result<Current> {
        let mut retries = self.retries("atomic long: read");
        let read = loop {
            match self.client.get_data(&self.path).await {
                Err(e) if e.is_retryable() => {
                    if let Err(e) = retries.wait(e).await {
                        break Err(e);
                    }
                }
                r => break r,
            }
        };
        match read {
            Ok((data, stat)) => Ok((decode_i64(&self.path, &data)?, Some(stat))),
            Err(zk_core::Error::NoNode) => Ok((0, None)),
            Err(e) => Err(e.into()),
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
