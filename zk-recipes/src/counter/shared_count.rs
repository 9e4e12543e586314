//! [`SharedCount`]: Curator's `SharedCount`, a 4-byte big-endian `i32` in one node.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zk_core::path::validate_path;
use zk_core::{Client, CreateMode, RetryPolicy};

use super::{decode_i32, encode_i32, VersionedValue};
use crate::error::{Error, Result};
use crate::protected::create_with_parents;
use crate::retry::{retrying, Retries};

/// Rounds of a create-or-set loop (each one lost to a concurrent create or delete).
const WRITE_ROUNDS: u32 = 20;

/// A shared `i32` in one node, compatible with Apache Curator's `SharedCount` and kazoo's
/// `Counter` in Curator mode: the node's data is the value as 4 big-endian bytes.
///
/// The node is created with the seed value (and its parents as containers) by the first
/// operation that finds it missing, as Curator's `SharedCount.start()` does.
///
/// See the [module docs](crate::counter) for session events and an example.
#[derive(Debug, Clone)]
pub struct SharedCount {
    client: Client,
    path: String,
    seed: i32,
}

impl SharedCount {
    /// A counter at `path`, created with `seed` when missing. Nothing is sent yet.
    ///
    /// # Errors
    /// [`Error::Zk`] with [`zk_core::Error::InvalidPath`] for a bad path.
    pub fn new(client: Client, path: &str, seed: i32) -> Result<Self> {
        validate_path(path)?;
        if path == "/" {
            return Err(Error::InvalidArgument("a counter cannot live at the root".into()));
        }
        Ok(SharedCount { client, path: path.to_owned(), seed })
    }

    /// The counter's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The current value.
    ///
    /// # Errors
    /// As [`SharedCount::versioned`].
    ///
    /// # Cancellation
    /// Safe: at most the seed node is created.
    pub async fn get(&self) -> Result<i32> {
        Ok(self.versioned().await?.value)
    }

    /// The current value and the version it was read at, for [`SharedCount::try_set`].
    /// Creates the node with the seed when missing. Retryable errors (connection loss) are
    /// retried per the default [`RetryPolicy`].
    ///
    /// # Errors
    /// [`Error::Malformed`] when the node's data is not 4 bytes; [`Error::Zk`] for ZooKeeper
    /// errors (`SessionExpired`, `NoAuth`, a retryable error once retries ran out);
    /// [`Error::RetriesExhausted`] when the node keeps vanishing between create and read.
    ///
    /// # Cancellation
    /// Safe: at most the seed node is created.
    pub async fn versioned(&self) -> Result<VersionedValue<i32>> {
        for _ in 0..WRITE_ROUNDS {
            let read = zk_core::retry(&RetryPolicy::default(), || self.client.get_data(&self.path)).await;
            match read {
                Ok((data, stat)) => {
                    return Ok(VersionedValue {
                        version: stat.version,
                        value: decode_i32(&self.path, &data)?,
                    })
                }
                Err(zk_core::Error::NoNode) => self.create(self.seed).await.map(|_| ())?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::RetriesExhausted("shared count: the node kept vanishing"))
    }

    /// Sets the value whatever it is now (Curator's `setCount`), creating the node when
    /// missing.
    ///
    /// # Errors
    /// [`Error::Zk`] for ZooKeeper errors (after `ConnectionLoss` the write may or may not have
    /// been applied); [`Error::RetriesExhausted`] when concurrent creates and deletes keep
    /// interfering.
    ///
    /// # Cancellation
    /// Dropping the future may leave the write applied or not.
    pub async fn set(&self, value: i32) -> Result<()> {
        for _ in 0..WRITE_ROUNDS {
            match self.client.set_data(&self.path, &encode_i32(value), None).await {
                Ok(_) => return Ok(()),
                Err(zk_core::Error::NoNode) => {
                    if self.create(value).await? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::RetriesExhausted("shared count: the node kept vanishing"))
    }

    /// Sets `value` only if the node is still at `previous.version` (Curator's
    /// `trySetCount`). Returns `false`, changing nothing, when someone changed (or deleted) the
    /// node since `previous` was read: read again and retry.
    ///
    /// # Errors
    /// [`Error::Zk`] for other ZooKeeper errors; after `ConnectionLoss` the write may or may
    /// not have been applied (read again: the version tells).
    ///
    /// # Cancellation
    /// Dropping the future may leave the write applied or not.
    pub async fn try_set(&self, previous: &VersionedValue<i32>, value: i32) -> Result<bool> {
        match self.client.set_data(&self.path, &encode_i32(value), Some(previous.version)).await {
            Ok(_) => Ok(true),
            Err(zk_core::Error::BadVersion | zk_core::Error::NoNode) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A stream of the counter's values: the current one first, then every change seen
    /// (changes closer together than a watch round-trip may be seen as one, as with any
    /// ZooKeeper watch). A deleted node yields nothing until it is created again.
    ///
    /// Items are errors when the node holds malformed data ([`Error::Malformed`], the stream
    /// goes on) or when the client ended ([`Error::SessionEnded`], the last item: closed, or
    /// expired when built with `OnExpiry::End`). The stream survives disconnections and, on a
    /// client that opens a new session by itself, expiries: it reads the counter again on the
    /// new session. Dropping it stops its background task.
    pub fn changes(&self) -> CountChanges {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(watch_loop(self.client.clone(), self.path.clone(), tx));
        CountChanges { rx, task }
    }

    /// Creates the node with `value`; `false` when it already existed.
    async fn create(&self, value: i32) -> Result<bool> {
        let data = encode_i32(value);
        let create = || create_with_parents(&self.client, &self.path, &data, CreateMode::Persistent);
        Ok(retrying(&self.client, "shared count: creating the node", create).await?)
    }
}

/// The stream of [`SharedCount::changes`].
#[derive(Debug)]
pub struct CountChanges {
    rx: mpsc::UnboundedReceiver<Result<VersionedValue<i32>>>,
    task: JoinHandle<()>,
}

impl Stream for CountChanges {
    type Item = Result<VersionedValue<i32>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for CountChanges {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Tx = mpsc::UnboundedSender<Result<VersionedValue<i32>>>;

/// Reads the node with a data watch, reports what changed, waits for the watch; repeats.
async fn watch_loop(client: Client, path: String, tx: Tx) {
    // (czxid, version) of the last value reported: a re-created node restarts at version 0.
    let mut last: Option<(i64, i32)> = None;
    let mut retries = Retries::new(&client, "shared count changes");
    // No cap on rounds: each follows a watch event (or backs off after an error), for as long
    // as the stream is wanted; a cap would end a stream of a busy counter after a while.
    loop {
        let watcher = match client.get_data_and_watch(&path).await {
            Ok((data, stat, watcher)) => {
                retries.reset();
                if last != Some((stat.czxid, stat.version)) {
                    last = Some((stat.czxid, stat.version));
                    let item =
                        decode_i32(&path, &data).map(|value| VersionedValue { version: stat.version, value });
                    if tx.send(item).is_err() {
                        return;
                    }
                }
                Ok(watcher)
            }
            Err(zk_core::Error::NoNode) => match client.exists_and_watch(&path).await {
                Ok((Some(_), _)) => continue,
                r => r.map(|(_, watcher)| watcher),
            },
            Err(e) => Err(e),
        };
        let watcher = match watcher {
            Ok(watcher) => watcher,
            Err(e) => {
                if !retry_or_report(&client, &tx, e, &mut retries).await {
                    return;
                }
                continue;
            }
        };
        if let Err(e) = watcher.await {
            if crate::session::renews_after(&client, &e) {
                // The client opens a new session: read the counter again there.
                continue;
            }
            let _ = tx.send(Err(Error::SessionEnded(e)));
            return;
        }
    }
}

/// Backs off after a retryable error (true: go on); reports anything else (false: stop).
async fn retry_or_report(client: &Client, tx: &Tx, e: zk_core::Error, retries: &mut Retries) -> bool {
    if e.is_retryable() {
        retries.pause().await;
        return true;
    }
    if crate::session::renews_after(client, &e) {
        // The client opens a new session: carry on there.
        retries.pause().await;
        return true;
    }
    let err = Error::while_waiting(e);
    let _ = tx.send(Err(err));
    false
}
