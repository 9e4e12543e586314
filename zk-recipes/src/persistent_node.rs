//! [`PersistentNode`]: Curator's `PersistentNode`, a node kept existing by a background task
//! across connection loss, session expiry and deletion by others.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zk_core::path::{parent, validate_path};
use zk_core::{Client, CreateMode, EventType, Stat};

use crate::deadline::within;
use crate::error::{Error, Result};
use crate::lifecycle::Lifecycle;
use crate::protected::{self, Cleanup};
use crate::retry::Retries;

/// Sessions a node may go through (a new one after each expiry): a bound on the task's loop
/// that no real service reaches.
const MAX_SESSIONS: u64 = 1 << 40;
/// Attempts of a non-sequential ephemeral's delete on close failing with retryable errors.
const DELETE_ATTEMPTS: u32 = 30;

/// What the background task publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Status {
    /// The node's actual path while it is known to exist.
    path: Option<String>,
    /// Set once the task stopped for good (the client ended, or a fatal error).
    ended: Option<Error>,
}

/// The node's data and its generation (bumped by each [`PersistentNode::set_data`]).
#[derive(Debug, Default)]
struct Data {
    bytes: Vec<u8>,
    generation: u64,
}

#[derive(Debug)]
struct Shared {
    path: String,
    mode: CreateMode,
    /// `_c_<uuid>-` for protected nodes, else empty.
    prefix: String,
    data: Mutex<Data>,
    /// Held by [`PersistentNode::set_data`] while it records and writes new data, and by the
    /// task while it brings a node it just created (or took over) up to date and publishes
    /// its path: a change made before the path is published is written by the task, one
    /// made after by `set_data` itself.
    writes: tokio::sync::Mutex<()>,
    /// Set by a [`PersistentNode::set_data`] whose write failed: the task writes the latest
    /// data itself, retrying.
    unwritten: tokio::sync::Notify,
    client: Client,
    status: watch::Sender<Status>,
}

impl Shared {
    fn data(&self) -> Vec<u8> {
        self.lock_data().bytes.clone()
    }

    /// The data and its generation.
    fn versioned_data(&self) -> (Vec<u8>, u64) {
        let d = self.lock_data();
        (d.bytes.clone(), d.generation)
    }

    fn lock_data(&self) -> std::sync::MutexGuard<'_, Data> {
        crate::lock(&self.data)
    }

    fn set_path(&self, path: Option<String>) {
        self.status.send_if_modified(|s| std::mem::replace(&mut s.path, path.clone()) != path);
    }
}

/// A node kept existing (Curator's `PersistentNode`), most often an ephemeral one announcing
/// a live process.
///
/// A background task creates the node (parents as containers) and watches it:
///
/// - deleted by someone else: created again (a sequential node gets a new name, see
///   [`PersistentNode::actual_path`]);
/// - **Disconnected** / **Reconnected**: nothing to do, the session and its ephemeral are
///   intact; the watch is re-registered by the client;
/// - **Expired**: the ephemeral is gone with the session. On the client's new session
///   (zk-core's default after an expiry) the node is created again (readers see it vanish
///   and come back); a protected node of ours left from the old session (a client with a
///   local expiry deadline can open the new session before the servers expire the old one)
///   is deleted by path first. A client that ends with its session (`OnExpiry::End`, or
///   closed) stops the task: [`PersistentNode::wait_for_initial_create`] and
///   [`PersistentNode::set_data`] report [`Error::SessionEnded`].
///
/// A non-sequential node that already exists is taken over (its data replaced) by a
/// persistent mode whatever it is, and by an ephemeral mode when it is an ephemeral of this
/// session. An ephemeral mode waits for another session's ephemeral to go; it cannot take
/// over a **persistent** (or container/TTL) node at its path, which would never go away by
/// itself: the task stops and [`PersistentNode::wait_for_initial_create`] reports
/// [`Error::InvalidArgument`].
///
/// [`PersistentNode::close`] stops the task and deletes the node; dropping it does the same
/// in the background.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zk_core::CreateMode;
/// use zk_recipes::persistent_node::PersistentNode;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let node = PersistentNode::new(server.client().await?, "/services/api/host-1", CreateMode::Ephemeral)?
///     .with_data(b"10.0.0.1:8080");
/// node.start()?;
/// assert!(node.wait_for_initial_create_timeout(Duration::from_secs(5)).await?);
/// node.set_data(b"10.0.0.1:9090").await?;
/// node.close().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PersistentNode {
    shared: Arc<Shared>,
    task: Mutex<Lifecycle<JoinHandle<()>>>,
}

impl PersistentNode {
    /// A node at `path` kept by `client`'s sessions in `mode`, with empty data and
    /// unprotected (see [`with_data`](Self::with_data) and
    /// [`with_protection`](Self::with_protection)); nothing is created until
    /// [`start`](Self::start).
    ///
    /// # Errors
    /// [`Error::Zk`] with `InvalidPath` for a bad path; [`Error::InvalidArgument`] for the
    /// root or a container/TTL mode (those are deleted by the server by design).
    pub fn new(client: Client, path: &str, mode: CreateMode) -> Result<Self> {
        validate_path(path)?;
        if path == "/" {
            return Err(Error::InvalidArgument("a persistent node cannot be the root".into()));
        }
        if !matches!(
            mode,
            CreateMode::Persistent
                | CreateMode::Ephemeral
                | CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
        ) {
            return Err(Error::InvalidArgument(format!("unsupported mode for a persistent node: {mode:?}")));
        }
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            mode,
            // Sequential nodes are always protected: their name is only found again so.
            prefix: if mode.is_sequential() { protected::new_prefix() } else { String::new() },
            data: Mutex::new(Data::default()),
            writes: tokio::sync::Mutex::new(()),
            unwritten: tokio::sync::Notify::new(),
            client,
            status: watch::Sender::new(Status::default()),
        });
        Ok(PersistentNode { shared, task: Mutex::new(Lifecycle::New) })
    }

    /// The node's data (default empty); [`set_data`](Self::set_data) changes it later.
    pub fn with_data(self, data: &[u8]) -> Self {
        self.preset_data(data);
        self
    }

    /// Sets the data a node not started yet is created with.
    pub(crate) fn preset_data(&self, data: &[u8]) {
        self.shared.lock_data().bytes = data.to_vec();
    }

    /// Prefixes the node's name with `_c_<uuid>-` (Curator's `useProtection`), so a create
    /// whose reply was lost is found again. An option of a node not started yet: on a
    /// started one (whose name is fixed) it has no effect.
    pub fn with_protection(mut self) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            if shared.prefix.is_empty() {
                shared.prefix = protected::new_prefix();
            }
        }
        self
    }

    /// Starts the background task that creates the node and keeps it. A second call does
    /// nothing.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(&self) -> Result<()> {
        crate::lock(&self.task).start(|| tokio::spawn(run(self.shared.clone())))
    }

    /// Waits until the node has been created the first time (or exists right now).
    ///
    /// # Errors
    /// [`Error::SessionEnded`] when the task stopped because the client ended with its
    /// session; [`Error::InvalidArgument`] when an ephemeral mode found a
    /// persistent node at its path, which it cannot take over; [`Error::Zk`] when the task
    /// stopped on an error (e.g. `NoAuth`); [`Error::Closed`] after
    /// [`close`](Self::close).
    ///
    /// # Cancellation
    /// Safe: only waits.
    pub async fn wait_for_initial_create(&self) -> Result<()> {
        let mut rx = self.shared.status.subscribe();
        let s = rx.wait_for(|s| s.path.is_some() || s.ended.is_some()).await.map_err(|_| Error::Closed)?;
        match &s.ended {
            Some(e) if s.path.is_none() => Err(e.clone()),
            _ => Ok(()),
        }
    }

    /// [`wait_for_initial_create`](Self::wait_for_initial_create) for at most `timeout` (the
    /// crate's one deadline convention): `false` when the time ran out first.
    ///
    /// # Errors
    /// As [`wait_for_initial_create`](Self::wait_for_initial_create).
    ///
    /// # Cancellation
    /// Safe: only waits.
    pub async fn wait_for_initial_create_timeout(&self, timeout: Duration) -> Result<bool> {
        within(timeout, self.wait_for_initial_create()).await.map_or(Ok(false), |r| r.map(|()| true))
    }

    /// The node's actual path (with the protected prefix and sequence suffix when it has
    /// them) while it is known to exist; `None` while it is being created.
    pub fn actual_path(&self) -> Option<String> {
        self.shared.status.borrow().path.clone()
    }

    /// The data the node is kept with.
    pub fn data(&self) -> Vec<u8> {
        self.shared.data()
    }

    /// The node's client.
    pub fn client(&self) -> Client {
        self.shared.client.clone()
    }

    /// The configured path (for sequential or protected nodes, see
    /// [`PersistentNode::actual_path`]).
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// Replaces the node's data: kept for every later re-creation, and written to the node
    /// now if it exists. While the node is being created (or taken over) the task writes the
    /// new data once the create has landed, before [`PersistentNode::actual_path`] shows
    /// the node.
    ///
    /// # Errors
    /// [`Error::Zk`] when writing the existing node fails: the new data is kept all the same,
    /// and the background task writes it (retrying under the client's retry policy, and on
    /// the client's new session after an expiry) and uses it for re-creations.
    ///
    /// # Cancellation
    /// The data is recorded once the call gets its turn (after the task has finished bringing
    /// a just-created node up to date); the write may be applied or not.
    pub async fn set_data(&self, data: &[u8]) -> Result<()> {
        let _turn = self.shared.writes.lock().await;
        if let Some(e) = self.shared.status.borrow().ended.clone() {
            // Nobody would ever write it: say so rather than pretend.
            return Err(e);
        }
        {
            let mut d = self.shared.lock_data();
            d.bytes = data.to_vec();
            d.generation = d.generation.wrapping_add(1);
        }
        // Not published yet: the task writes the new data before publishing the path.
        let Some(path) = self.actual_path() else { return Ok(()) };
        match self.client().set_data(&path, data, None).await {
            // Deleted meanwhile: the task re-creates it with the new data.
            Ok(_) | Err(zk_core::Error::NoNode) => Ok(()),
            Err(e) => {
                // The task writes the latest data once it can.
                self.shared.unwritten.notify_one();
                Err(e.into())
            }
        }
    }

    /// Stops the task and deletes the node (for a non-sequential ephemeral: only when it is
    /// ours, never another session's that we were waiting for).
    ///
    /// # Errors
    /// [`Error::Zk`] when the delete failed with a non-retryable error (retryable ones are
    /// retried; a session that ended took an ephemeral with it and is not an error).
    ///
    /// # Cancellation
    /// If dropped, the delete continues in the background.
    pub async fn close(&self) -> Result<()> {
        let Some(cleanup) = self.stop() else { return Ok(()) };
        match cleanup.run().await {
            Ok(()) => Ok(()),
            Err(e) if e.is_terminal() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops the task; returns what deletes the node.
    fn stop(&self) -> Option<Cleanup> {
        let task = crate::lock(&self.task).close();
        // Waiters and writers from now on hear that the node is closed.
        let path = self.actual_path();
        self.shared.status.send_modify(|s| {
            s.path = None;
            s.ended = Some(Error::Closed);
        });
        task?.abort();
        let client = self.client();
        let s = &self.shared;
        Some(if !s.prefix.is_empty() {
            match path {
                Some(p) => Cleanup::for_path(&client, &p),
                None => Cleanup::for_prefix(&client, parent(&s.path), &s.prefix),
            }
        } else if s.mode.is_ephemeral() {
            // Maybe another session's, that we were waiting for: never delete that one.
            Cleanup::for_ephemeral_if_ours(&client, &s.path).with_attempts(DELETE_ATTEMPTS)
        } else {
            Cleanup::for_path(&client, &s.path)
        })
    }
}

impl Drop for PersistentNode {
    fn drop(&mut self) {
        // An armed cleanup deletes from a background task when dropped.
        drop(self.stop());
    }
}

/// Why a session's loop returned.
enum SessionEnd {
    /// A non-retryable error: the session's end (expired, closed) or one the node cannot get
    /// past.
    Stopped(zk_core::Error),
    /// The node cannot be kept at all (a new session would not help).
    Refused(Error),
}

/// The task: keeps the node in each session of its client (a new one after each expiry).
async fn run(shared: Arc<Shared>) {
    let client = shared.client.clone();
    for _ in 0..MAX_SESSIONS {
        let epoch = client.status().epoch;
        let end = keep(&shared, &client).await;
        shared.set_path(None);
        let err = match end {
            SessionEnd::Stopped(e) => e,
            SessionEnd::Refused(e) => {
                tracing::warn!(path = %shared.path, error = %e, "persistent node stopped");
                shared.status.send_modify(|s| s.ended = Some(e));
                return;
            }
        };
        if err.is_terminal() && !client.state().is_terminal() {
            // The session expired and the client opens a new one: wait for it, then keep
            // the node there.
            tracing::info!(path = %shared.path, "persistent node: waiting for the new session");
            let renewed = client.state_watch().wait_for(|s| s.epoch != epoch && s.state.is_connected()).await;
            if renewed.is_some() {
                continue;
            }
        }
        let ended = Error::while_waiting(err);
        tracing::warn!(path = %shared.path, error = %ended, "persistent node stopped");
        shared.status.send_modify(|s| s.ended = Some(ended));
        return;
    }
}

/// Keeps the node existing in `client`'s session until it ends.
async fn keep(shared: &Shared, client: &Client) -> SessionEnd {
    let mut retries = Retries::new(client, "persistent node");
    // No cap on rounds: each waits for a watch event on the node (or backs off after an
    // error, with `classify` bounding the failures in a row), and the node lives as long as
    // the session.
    loop {
        // The published path is the node we keep (the task alone publishes it). Read apart
        // from the match: the borrow must not be held across its awaits.
        let published = shared.status.borrow().path.clone();
        let path = match published {
            Some(p) => p,
            None => match create_and_publish(shared, client).await {
                Ok(Created::Node(p)) => {
                    retries.reset();
                    p
                }
                // Held by another session's ephemeral that has now gone, or deleted before
                // it could be published: try again.
                Ok(Created::Again) => continue,
                Ok(Created::Refused(e)) => return SessionEnd::Refused(e),
                Err(e) => match classify(e, &mut retries).await {
                    Some(end) => return end,
                    None => continue,
                },
            },
        };
        match client.exists_and_watch(&path).await {
            Ok((None, _)) => shared.set_path(None),
            Ok((Some(_), watcher)) => tokio::select! {
                fired = watcher => match fired {
                    Ok(ev) if ev.event_type == EventType::NodeDeleted => {
                        tracing::debug!(%path, "persistent node deleted: re-creating");
                        shared.set_path(None);
                    }
                    Ok(_) => {}
                    Err(e) => return SessionEnd::Stopped(e),
                },
                () = shared.unwritten.notified() => {
                    if let Err(e) = write_latest(shared, client, &path).await {
                        // Not written yet: again after the pause.
                        shared.unwritten.notify_one();
                        if let Some(end) = classify(e, &mut retries).await {
                            return end;
                        }
                    }
                }
            },
            Err(e) => {
                if let Some(end) = classify(e, &mut retries).await {
                    return end;
                }
            }
        }
    }
}

/// Writes the latest data to the node at `path` (after a `set_data` whose own write
/// failed); a node gone meanwhile is re-created with it.
async fn write_latest(shared: &Shared, client: &Client, path: &str) -> zk_core::Result<()> {
    let _turn = shared.writes.lock().await;
    match client.set_data(path, &shared.data(), None).await {
        Ok(_) => Ok(()),
        Err(zk_core::Error::NoNode) => {
            shared.set_path(None);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Retryable errors back off (`None`: go on); others end the session's loop.
async fn classify(e: zk_core::Error, retries: &mut Retries) -> Option<SessionEnd> {
    if e.is_retryable() {
        retries.pause().await;
        None
    } else {
        Some(SessionEnd::Stopped(e))
    }
}

/// What one create round came to.
enum Created {
    /// The node exists at this path.
    Node(String),
    /// Nothing to keep yet (an ephemeral of another session held the path and has gone,
    /// the parents were missing, or the node vanished meanwhile): go again.
    Again,
    /// The node cannot be kept: stop for good with this error.
    Refused(Error),
}

/// Creates (or takes over) the node, writes the data changed meanwhile by
/// [`PersistentNode::set_data`] and publishes the node's path, all under the write lock so
/// that no change falls between the two.
async fn create_and_publish(shared: &Shared, client: &Client) -> zk_core::Result<Created> {
    let (data, written) = shared.versioned_data();
    let created = create(shared, client, &data).await?;
    let Created::Node(path) = &created else { return Ok(created) };
    let _turn = shared.writes.lock().await;
    let (data, generation) = shared.versioned_data();
    if generation != written {
        // set_data holds the lock while it changes the data, so this write is the latest.
        match client.set_data(path, &data, None).await {
            Ok(_) => {}
            Err(zk_core::Error::NoNode) => return Ok(Created::Again),
            Err(e) => return Err(e),
        }
    }
    shared.set_path(Some(path.clone()));
    Ok(created)
}

/// Creates the node (or takes over an existing one) with `data`, possibly older than the
/// current data by the time it returns.
async fn create(shared: &Shared, client: &Client, data: &[u8]) -> zk_core::Result<Created> {
    if !shared.prefix.is_empty() {
        let dir = parent(&shared.path);
        let name = shared.path.rsplit('/').next().unwrap_or_default();
        // A node of ours from an earlier round (a persistent one outlives the session).
        if let Some(found) = protected::find(client, dir, &shared.prefix).await? {
            match client.exists(&found).await? {
                Some(stat) if adoptable(shared, client, &stat) => {
                    client.set_data(&found, data, None).await?;
                    return Ok(Created::Node(found));
                }
                // An ephemeral of ours from an ended session (its prefix is this node's own)
                // that the servers have not expired yet: delete it by path, or the create
                // of the same name below would find it in the way.
                Some(_) => match client.delete(&found, None).await {
                    Ok(()) | Err(zk_core::Error::NoNode) => {}
                    Err(e) => return Err(e),
                },
                None => {}
            }
        }
        let p = protected::create(client, dir, &shared.prefix, name, data, shared.mode).await?;
        return Ok(Created::Node(p));
    }
    match protected::create_with_parents(client, &shared.path, data, shared.mode).await {
        Ok(true) => Ok(Created::Node(shared.path.clone())),
        // The parents kept vanishing (containers reaped): go again.
        Err(zk_core::Error::NoNode) => Ok(Created::Again),
        Ok(false) => {
            let Some(stat) = client.exists(&shared.path).await? else { return Ok(Created::Again) };
            if adoptable(shared, client, &stat) {
                client.set_data(&shared.path, data, None).await?;
                return Ok(Created::Node(shared.path.clone()));
            }
            if !is_session_owner(stat.ephemeral_owner) {
                return Ok(Created::Refused(in_the_way(shared)));
            }
            // Another session's ephemeral: wait until it goes.
            match client.exists_and_watch(&shared.path).await? {
                (None, _) => Ok(Created::Again),
                (Some(_), watcher) => watcher.await.map(|_| Created::Again),
            }
        }
        Err(e) => Err(e),
    }
}

/// Whether the existing node with `stat` may be taken over: any node for a persistent mode,
/// an ephemeral of this session for an ephemeral one.
fn adoptable(shared: &Shared, client: &Client, stat: &Stat) -> bool {
    !shared.mode.is_ephemeral() || stat.ephemeral_owner == client.session_id()
}

/// True when `owner` (a node's `ephemeral_owner`) is a session, so the node goes with it;
/// servers report 0 for persistent, container and TTL nodes.
fn is_session_owner(owner: i64) -> bool {
    owner != 0
}

/// The error of an ephemeral mode finding a persistent node at its path.
fn in_the_way(shared: &Shared) -> Error {
    Error::InvalidArgument(format!(
        "{} holds a persistent (or container) node, which an ephemeral PersistentNode cannot take over",
        shared.path
    ))
}
