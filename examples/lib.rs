//! The plumbing the example programs share, so that each example shows its recipe and little
//! else:
//!
//! - [`Sandbox`]: where ZooKeeper is (zk-testing's embedded server unless `ZK_CONNECT` names an
//!   ensemble) and a private subtree `/<name>-<pid>` for one run, with a connect string
//!   chrooted into it; [`Sandbox::remove`] deletes the subtree at the end.
//! - [`Sandbox::expire`]: ends a session as if it had been cut off too long, on the embedded
//!   server or on a real ensemble.
//!
//! Copying an example into your own program? Connect to your ensemble's connect string
//! (with a chroot of your choosing) where the example uses the sandbox's `chrooted`.

use std::time::Duration;

use tokio::time::timeout;
use zk_core::{Client, CreateMode};
use zk_testing::{TcpProxy, TestServer};

/// The examples' error type: any error, and it can cross tasks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where an example runs: a ZooKeeper to talk to, and a subtree of its own on it.
///
/// ```no_run
/// # async fn demo() -> Result<(), zk_examples::BoxError> {
/// let sandbox = zk_examples::Sandbox::create("demo").await?; // everything under /demo-<pid>
/// let client = zk_core::Client::connect(&sandbox.chrooted).await?; // "/" is /demo-<pid>
/// client.create("/x", b"", zk_core::CreateMode::Persistent).await?;
/// client.close().await;
/// sandbox.remove().await?; // deletes /demo-<pid> and everything in it
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Sandbox {
    /// The ensemble's connect string (no chroot).
    pub connect: String,
    /// The run's root, `/<name>-<pid>`, so runs never collide: the example creates
    /// everything below it.
    pub root: String,
    /// `connect` chrooted to `root`: sessions connected with it see `root` as `/`. With
    /// `ZK_CONNECT` it leads to the ensemble's first server through a local
    /// [`zk_testing::TcpProxy`], so that [`Sandbox::expire`] can hold a session off.
    pub chrooted: String,
    /// A session on the whole tree (not chrooted); it created `root` and deletes it again.
    pub admin: Client,
    /// The embedded server, `None` when `ZK_CONNECT` named an ensemble. It stops when the
    /// sandbox is dropped.
    server: Option<TestServer>,
    /// With `ZK_CONNECT`: the proxy `chrooted` goes through.
    proxy: Option<TcpProxy>,
}

impl Sandbox {
    /// Finds ZooKeeper: the ensemble `ZK_CONNECT` names (`host:port,host:port`) if it is set,
    /// otherwise zk-testing's embedded ZooKeeper-compatible server, started on a free loopback
    /// port. Then creates the persistent node `/<name>-<pid>` for this run.
    ///
    /// # Errors
    /// When the server does not start, or connecting or creating the root fails.
    pub async fn create(name: &str) -> Result<Sandbox, BoxError> {
        let (connect, server, proxy) = match std::env::var("ZK_CONNECT") {
            Ok(cs) => {
                let first = cs.split(['/', ',']).next().unwrap_or_default();
                let upstream =
                    tokio::net::lookup_host(first).await?.next().ok_or("ZK_CONNECT: no address")?;
                (cs, None, Some(TcpProxy::start(upstream).await?))
            }
            Err(_) => {
                let server = TestServer::start().await?;
                (server.connect_string(), Some(server), None)
            }
        };
        let root = format!("/{name}-{}", std::process::id());
        let admin = Client::connect(&connect).await?;
        admin.create(&root, b"", CreateMode::Persistent).await?;
        let sessions = proxy.as_ref().map_or_else(|| connect.clone(), TcpProxy::connect_string);
        let chrooted = format!("{sessions}{root}");
        Ok(Sandbox { connect, root, chrooted, admin, server, proxy })
    }

    /// The embedded server, `None` when running on the ensemble `ZK_CONNECT` names.
    pub fn server(&self) -> Option<&TestServer> {
        self.server.as_ref()
    }

    /// Which ZooKeeper this is, for printing: `embedded server at <address>` or
    /// `ZK_CONNECT=<connect string>`.
    pub fn backend(&self) -> String {
        match self.server {
            Some(_) => format!("embedded server at {}", self.connect),
            None => format!("ZK_CONNECT={}", self.connect),
        }
    }

    /// Expires `victim`'s session (a session connected through `chrooted`), waiting up to
    /// `patience`, and returns once `victim` has seen it expire. The embedded server does it
    /// on request, a clean sequence (Disconnected, then Expired). A real ensemble has no such
    /// call: while the sandbox's proxy refuses new connections (so the victim cannot win its
    /// session back), a second client attaches to the session with its id and password and
    /// closes it; then the victim reconnects and hears that its session expired.
    ///
    /// # Errors
    /// When the session is not expired within `patience`.
    pub async fn expire(&self, victim: &Client, patience: Duration) -> Result<(), BoxError> {
        let mut state = victim.state_watch();
        let epoch = state.status().epoch;
        if let Some(server) = &self.server {
            if !server.expire_session(victim.session_id()) {
                return Err("the embedded server does not know the session".into());
            }
            timeout(patience, state.wait_for(|s| s.has_ended(epoch))).await?.ok_or("the client ended")?;
            return Ok(());
        }
        let proxy = self.proxy.as_ref().ok_or("no proxy in front of the ensemble")?;
        timeout(patience, proxy.expire_session(victim)).await??;
        timeout(patience, state.wait_for(|s| s.has_ended(epoch))).await?.ok_or("the client ended")?;
        Ok(())
    }

    /// Cleans up: deletes `root` and everything below it, closes `admin`, and stops the
    /// embedded server if there is one. Close the example's own sessions first, so that none
    /// of them creates a node meanwhile.
    ///
    /// # Errors
    /// As [`Client::delete_recursive`], except that a tree already gone is fine.
    pub async fn remove(self) -> Result<(), BoxError> {
        match self.admin.delete_recursive(&self.root).await {
            Ok(()) | Err(zk_core::Error::NoNode) => {}
            Err(e) => return Err(e.into()),
        }
        self.admin.close().await;
        Ok(())
    }
}
