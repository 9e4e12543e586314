//! [`EnsembleTracker`]: follows the ensemble's configuration (`/zookeeper/config`) and keeps
//! the client's host list in step with it, as Curator's `EnsembleTracker` does, without ever
//! touching the client's chroot (the chroot is not part of the host list).
//!
//! With dynamic reconfiguration (ZooKeeper 3.5+, `reconfigEnabled=true`) members come and
//! go; a client that only knows the members of its connect string cannot move to a member
//! added later, and keeps trying one that was removed. The tracker reads the configuration
//! with a watch, hands every new member list to [`Client::update_hosts`], and reads again
//! at each change.
//!
//! On Suspended it waits for the connection to come back (the watch is the client's and
//! survives); on a new session its watch ended, so it reads again; closed, or when the
//! client ends, it stops.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zk_core::{Client, EnsembleConfig};

use crate::error::{Error, Result};
use crate::lifecycle::Lifecycle;
use crate::retry::Retries;

/// Follows `/zookeeper/config` and updates the client's hosts; see the [module docs](self).
///
/// ```no_run
/// # async fn f(zk: zk_core::Client) -> zk_recipes::Result<()> {
/// use zk_recipes::ensemble::EnsembleTracker;
/// let tracker = EnsembleTracker::new(zk.clone());
/// tracker.start()?;
/// // ... the client now reconnects to the members the ensemble has, whatever its
/// // connect string said.
/// tracker.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EnsembleTracker {
    client: Client,
    task: Mutex<Lifecycle<JoinHandle<()>>>,
    config: Arc<watch::Sender<Option<EnsembleConfig>>>,
}

impl EnsembleTracker {
    /// A tracker for `client`, not started.
    pub fn new(client: Client) -> Self {
        EnsembleTracker { client, task: Mutex::default(), config: Arc::new(watch::Sender::new(None)) }
    }

    /// Starts following the configuration. Does nothing while it runs.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close`](Self::close).
    pub fn start(&self) -> Result<()> {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        task.start(|| tokio::spawn(follow(self.client.clone(), self.config.clone())))
    }

    /// The last configuration read (`None` before the first read).
    pub fn config(&self) -> Option<EnsembleConfig> {
        self.config.borrow().clone()
    }

    /// Waits for a configuration whose version differs from `seen` (any, with `None`) and
    /// returns it.
    ///
    /// # Errors
    /// [`Error::Closed`] when the tracker was closed (or stopped with its client) first.
    ///
    /// # Cancellation
    /// Safe to drop: it only waits.
    pub async fn changed(&self, seen: Option<i64>) -> Result<EnsembleConfig> {
        let mut rx = self.config.subscribe();
        let config = rx
            .wait_for(|c| c.as_ref().is_some_and(|c| seen.is_none() || c.version != seen))
            .await
            .map_err(|_| Error::Closed)?;
        config.clone().ok_or(Error::Closed)
    }

    /// Stops following; the client keeps the hosts it has. Idempotent.
    ///
    /// # Errors
    /// None today: the `Result` is the shape every handle's `close` has.
    ///
    /// # Cancellation
    /// Safe to drop: the task is aborted at once.
    pub async fn close(&self) -> Result<()> {
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner).close();
        if let Some(t) = task {
            t.abort();
            let _ = t.await;
        }
        Ok(())
    }
}

impl Drop for EnsembleTracker {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap_or_else(PoisonError::into_inner).close() {
            t.abort();
        }
    }
}

/// Reads the configuration with a watch, updates the hosts when the member list changed,
/// waits for the watch; retries failed reads under the client's policy (paced by the one
/// retry layer), and ends with the client.
async fn follow(client: Client, config: Arc<watch::Sender<Option<EnsembleConfig>>>) {
    let mut retries = Retries::new(&client, "ensemble tracker");
    let mut hosts: Option<String> = None;
    loop {
        match client.get_config_and_watch().await {
            Ok((read, _, watcher)) => {
                retries.reset();
                if let Some(new) = read.hosts().filter(|h| hosts.as_ref() != Some(h)) {
                    if let Err(e) = client.update_hosts(&new) {
                        tracing::debug!(error = %e, "ensemble tracker stops: the client ended");
                        return;
                    }
                    tracing::info!(hosts = %new, version = ?read.version, "ensemble members changed");
                    hosts = Some(new);
                }
                config.send_replace(Some(read));
                // Fires at the next change, or ends with an error when the session ends or
                // the watch could not be kept: read again either way.
                let _ = watcher.await;
            }
            Err(e) if e.is_terminal() && e != zk_core::Error::SessionExpired => {
                tracing::debug!(error = %e, "ensemble tracker stops: the client ended");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "ensemble tracker: reading the configuration failed");
                retries.pause().await;
            }
        }
    }
}
