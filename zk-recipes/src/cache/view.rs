//! [`CacheView`]: a cheap, cloneable read handle on a cache's snapshot and status, for other
//! tasks while the cache's owner drains its events.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::model::Model;
use super::shared::{Shared, Status, WatchStrategy};
use crate::deadline::within;
use crate::error::{Error, Result};
use crate::lock;

/// A read handle on a [`Cache`](super::Cache)'s snapshot and status, taken with
/// [`Cache::view`](super::Cache::view).
///
/// Reading a cache's events needs `&mut` on the cache (it is the [`Stream`](futures::Stream));
/// a view needs nothing of it: clone it (one `Arc`) into as many tasks as read the snapshot
/// while one task drains the events. Each kind has the cache's own reads: `current` for all,
/// `get` for a [`PathCache`](super::PathCache) and a [`TreeCache`](super::TreeCache),
/// `children` for a `TreeCache`. A read takes the snapshot's lock for as long as it copies
/// what it returns, and never waits for the server.
///
/// The snapshot is updated before each event is sent, so a view read after an event shows
/// it (or a later state). A view outlives its cache: once the cache is closed or dropped it
/// shows the last snapshot, and [`initialized`](Self::initialized) fails with
/// [`Error::Closed`].
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use zk_core::CreateMode;
/// use zk_recipes::cache::{PathCache, PathEvent};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let zk = server.client().await?;
/// zk.create("/workers", b"", CreateMode::Persistent).await?;
/// let mut cache = PathCache::new(zk.clone(), "/workers")?;
/// let view = cache.view();
/// cache.start();
///
/// // One task owns the cache and drains its events...
/// let drainer = tokio::spawn(async move {
///     let mut joined = Vec::new();
///     while let Some(event) = cache.next().await {
///         if let PathEvent::ChildAdded { name, .. } = event {
///             joined.push(name);
///         }
///         if joined.len() == 2 {
///             break;
///         }
///     }
///     joined
/// });
/// // ...while this one reads the snapshot.
/// view.initialized().await?;
/// zk.create("/workers/w1", b"10.0.0.1", CreateMode::Persistent).await?;
/// zk.create("/workers/w2", b"10.0.0.2", CreateMode::Persistent).await?;
/// assert_eq!(drainer.await?, ["w1", "w2"]);
/// assert_eq!(view.get("w2").and_then(|w| w.data), Some(b"10.0.0.2".to_vec()));
/// # Ok(())
/// # }
/// ```
pub struct CacheView<E> {
    pub(super) shared: Arc<Shared>,
    kind: PhantomData<fn() -> E>,
}

impl<E> CacheView<E> {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        CacheView { shared, kind: PhantomData }
    }

    /// Reads the snapshot.
    pub(super) fn with_model<T>(&self, f: impl FnOnce(&Model) -> T) -> T {
        f(&lock(&self.shared.model))
    }

    /// The cache's path (as [`Cache::path`](super::Cache::path)).
    pub fn path(&self) -> &str {
        &self.shared.root
    }

    /// How the cache learns of changes (`None` before its task set its watch).
    pub fn strategy(&self) -> Option<WatchStrategy> {
        self.shared.status.borrow().strategy
    }

    /// Why the cache stopped following the server: the error of its last `Lost` event, until
    /// it follows the server again (on a renewed session, after a `rebuild`). `None` while it
    /// follows the server, or is still trying to (disconnected, re-syncing), and before it
    /// starts. While it is `Some`, the snapshot is stale.
    pub fn lost(&self) -> Option<Error> {
        self.shared.status.borrow().lost.clone()
    }

    /// Waits until the snapshot is first in sync with the server.
    ///
    /// # Errors
    /// The error of the `Lost` event when the cache stopped first; [`Error::Closed`] when it
    /// was closed or dropped.
    ///
    /// # Cancellation
    /// Safe to drop at any time; it only waits.
    pub async fn initialized(&self) -> Result<()> {
        let mut rx = self.shared.status.subscribe();
        let status = rx
            .wait_for(|s| s.initialized || s.lost.is_some() || s.closed)
            .await
            .map_err(|_| Error::Closed)?
            .clone();
        match status {
            Status { closed: true, .. } => Err(Error::Closed),
            Status { lost: Some(e), .. } => Err(e),
            _ => Ok(()),
        }
    }

    /// [`initialized`](Self::initialized) for at most `timeout` (the crate's one deadline
    /// convention): `false` when the time ran out first.
    ///
    /// # Errors
    /// As [`initialized`](Self::initialized).
    ///
    /// # Cancellation
    /// Safe to drop at any time; it only waits.
    pub async fn initialized_timeout(&self, timeout: Duration) -> Result<bool> {
        within(timeout, self.initialized()).await.map_or(Ok(false), |r| r.map(|()| true))
    }
}

impl<E> Clone for CacheView<E> {
    fn clone(&self) -> Self {
        CacheView::new(self.shared.clone())
    }
}

impl<E> fmt::Debug for CacheView<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.shared.status.borrow().clone();
        f.debug_struct("CacheView")
            .field("path", &self.path())
            .field("status", &status)
            .finish_non_exhaustive()
    }
}
