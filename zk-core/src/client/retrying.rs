//! [`Retrying`]: the client's operations retried under its [`RetryPolicy`](crate::RetryPolicy),
//! as kazoo's `command_retry` and Curator's retry loop do.

use std::future::Future;

use tokio::time::sleep;

use super::multi::CreateMode;
use super::Client;
use crate::error::{Error, Result};
use crate::proto::Stat;

/// The client's operations, each retried on retryable errors ([`Error::is_retryable`]:
/// connection loss, timeouts, throttling) under the client's retry policy
/// ([`ClientBuilder::retry_policy`](crate::ClientBuilder::retry_policy)), with the delays of
/// [`Client::retry_schedule`]. From [`Client::retrying`].
///
/// Only operations that are safe to send again are offered. Reads are. A write is, with a
/// caveat each method states: an attempt whose reply was lost may have been applied, and the
/// retry then meets its effect. A plain `create` is not (a retry would fail with `NodeExists`
/// for a node we created, or create a second sequential node): [`Retrying::create_protected`]
/// names the node so that the retry finds it instead. When the policy gives up, the last error
/// is returned; non-retryable errors are returned at once (an expiry too: `SessionExpired`).
///
/// # Examples
///
/// ```
/// use zk_core::CreateMode;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// # let zk = server.client().await?;
/// let zk = zk.retrying();
/// let path = zk.create_protected("/job-", b"", CreateMode::PersistentSequential).await?;
/// assert_eq!(zk.get_data(&path).await?.0, b"");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Retrying<'a> {
    client: &'a Client,
}

/// The prefix of protected names: `_c_` and a UUID, then `-` (Curator's `ProtectedUtils`).
const PROTECTED_PREFIX: &str = "_c_";

impl Client {
    /// This client's operations retried under its retry policy; see [`Retrying`].
    pub fn retrying(&self) -> Retrying<'_> {
        Retrying { client: self }
    }
}

impl Retrying<'_> {
    /// Runs `op` until it succeeds, fails with a non-retryable error, or the policy gives up
    /// (then its last error).
    async fn run<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut delays = self.client.retry_schedule();
        // Bounded by the policy: each pass takes one delay of its schedule.
        loop {
            match op().await {
                Err(e) if e.is_retryable() => match delays.next() {
                    Some(delay) => {
                        tracing::debug!(error = %e, ?delay, "retrying");
                        sleep(delay).await;
                    }
                    None => return Err(e),
                },
                other => return other,
            }
        }
    }

    /// [`Client::exists`], retried.
    ///
    /// # Errors
    /// As [`Client::exists`].
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        self.run(|| self.client.exists(path)).await
    }

    /// [`Client::get_data`], retried.
    ///
    /// # Errors
    /// As [`Client::get_data`].
    pub async fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        self.run(|| self.client.get_data(path)).await
    }

    /// [`Client::get_children`], retried.
    ///
    /// # Errors
    /// As [`Client::get_children`].
    pub async fn get_children(&self, path: &str) -> Result<Vec<String>> {
        self.run(|| self.client.get_children(path)).await
    }

    /// [`Client::sync`], retried.
    ///
    /// # Errors
    /// As [`Client::sync`].
    pub async fn sync(&self, path: &str) -> Result<()> {
        self.run(|| self.client.sync(path)).await
    }

    /// [`Client::set_data`], retried. With a version, a retry after an attempt that was
    /// applied but whose reply was lost fails with [`Error::BadVersion`] (our own write moved
    /// the version on); without one, the data is written twice (the version grows by two).
    ///
    /// # Errors
    /// As [`Client::set_data`].
    pub async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> Result<Stat> {
        self.run(|| self.client.set_data(path, data, version)).await
    }

    /// [`Client::delete`], retried. A retry after an attempt that was applied but whose reply
    /// was lost fails with [`Error::NoNode`]: the node is gone either way.
    ///
    /// # Errors
    /// As [`Client::delete`].
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        self.run(|| self.client.delete(path, version)).await
    }

    /// Creates `<parent>/_c_<uuid>-<name>` (a protected name, as Curator's
    /// `withProtection()`), where `path` is `<parent>/<name>`, and returns the created path.
    /// After a retryable error the parent's children are searched for the prefix first, so
    /// a create that was applied although its reply was lost is found, never made twice (the
    /// one write that is safe to retry).
    ///
    /// # Errors
    /// As [`Client::create`]; [`Error::InvalidPath`] for a bad path or one ending in `/`.
    pub async fn create_protected(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<String> {
        crate::path::validate_path(path)?;
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, n)) if !n.is_empty() => (if p.is_empty() { "/" } else { p }, n),
            _ => return Err(Error::InvalidPath { path: path.to_owned(), reason: "no node name" }),
        };
        let prefix = format!("{PROTECTED_PREFIX}{}-", uuid::Uuid::new_v4());
        let full = crate::path::join(parent, &format!("{prefix}{name}"));
        let mut maybe_created = false;
        self.run(|| {
            let (full, prefix) = (&full, &prefix);
            let looked = maybe_created;
            maybe_created = true;
            async move {
                if looked {
                    let children = self.client.get_children(parent).await?;
                    if let Some(found) = children.iter().find(|c| c.starts_with(prefix.as_str())) {
                        return Ok(crate::path::join(parent, found));
                    }
                }
                self.client.create(full, data, mode).await.map(|(p, _)| p)
            }
        })
        .await
    }
}
