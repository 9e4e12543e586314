//! [`GroupMember`]: Curator's `GroupMember`, membership in a group of processes.
//!
//! Each member keeps an ephemeral node `<path>/<id>` holding its data (a [`PersistentNode`],
//! so the node comes back after a deletion or on the client's new session after an expiry),
//! and follows the whole group with a [`PathCache`] (as Curator's `GroupMember` does with its
//! `CuratorCache`): one watch and one read per change, not a read of every member.
//! [`GroupMember::members`] is a stream of `id -> data` snapshots,
//! [`GroupMember::current_members`] the latest one.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zk_core::path::{join, validate_path};
use zk_core::{Client, CreateMode};

use crate::cache::{PathCache, PathEvent};
use crate::error::{Error, Result};
use crate::lifecycle::Lifecycle;
use crate::persistent_node::PersistentNode;

/// A snapshot of a group: member id -> member data.
pub type Members = BTreeMap<String, Vec<u8>>;

/// The group as last seen, and who wants to hear about changes.
#[derive(Debug, Default)]
struct Group {
    /// `None` until the first read.
    members: Mutex<Option<Members>>,
    /// Why the group is no longer followed (the client ended), once it is not.
    ended: Mutex<Option<Error>>,
    /// Set when the member is closed: new streams end at once.
    closed: std::sync::atomic::AtomicBool,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Result<Members>>>>,
}

impl Group {
    fn publish(&self, members: Members) {
        let mut current = lock(&self.members);
        if current.as_ref() == Some(&members) {
            return;
        }
        lock(&self.subscribers).retain(|tx| tx.send(Ok(members.clone())).is_ok());
        *current = Some(members);
    }

    /// Tells every stream why the group is no longer followed; their last item.
    fn end(&self, why: Error) {
        for tx in lock(&self.subscribers).drain(..) {
            let _ = tx.send(Err(why.clone()));
        }
        *lock(&self.ended) = Some(why);
    }
}

use crate::lock;

/// A member of a group (Curator's `GroupMember`): an ephemeral node `<path>/<id>` with this
/// member's data, plus a view of every member.
///
/// # Session events
///
/// - **Disconnected** / **Reconnected**: nothing changes; changes made meanwhile are caught up
///   after the reconnect (see [`PathCache`]).
/// - **Expired**: every ephemeral of the session is gone. On the client's new session
///   (zk-core's default after an expiry) our node is created again and the group is followed
///   there (others see us leave and come back); a client that ends with its session ends the
///   membership, and the members stream ends with [`Error::SessionEnded`].
///
/// [`GroupMember::close`] leaves the group (deletes our node); dropping the member does the
/// same in the background.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use zk_recipes::group::GroupMember;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
/// let a = GroupMember::new(server.client().await?, "/services/api", "a")?.with_data(b"10.0.0.1");
/// let b = GroupMember::new(server.client().await?, "/services/api", "b")?.with_data(b"10.0.0.2");
/// a.start()?;
/// b.start()?;
/// let mut members = a.members();
/// while let Some(m) = members.next().await {
///     let m = m?;
///     if m.len() == 2 {
///         assert_eq!(m["b"], b"10.0.0.2");
///         break;
///     }
/// }
/// b.close().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct GroupMember {
    node: PersistentNode,
    id: String,
    path: String,
    shared: Arc<Group>,
    task: Mutex<Lifecycle<JoinHandle<()>>>,
}

impl GroupMember {
    /// Member `id` (with empty data, see [`with_data`](Self::with_data)) of the group at
    /// `path`; nothing is created until [`start`](Self::start).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty id or one containing `/`; [`Error::Zk`] with
    /// `InvalidPath` for a bad group path.
    pub fn new(client: Client, path: &str, id: &str) -> Result<Self> {
        validate_path(path)?;
        if id.is_empty() || id.contains('/') || id == "." || id == ".." {
            return Err(Error::InvalidArgument(format!("bad group member id {id:?}")));
        }
        let node_path = join(path, id);
        validate_path(&node_path)?;
        Ok(GroupMember {
            node: PersistentNode::new(client, &node_path, CreateMode::Ephemeral)?,
            id: id.to_owned(),
            path: path.to_owned(),
            shared: Arc::default(),
            task: Mutex::new(Lifecycle::New),
        })
    }

    /// This member's data (default empty); [`set_data`](Self::set_data) changes it later.
    pub fn with_data(self, data: &[u8]) -> Self {
        self.node.preset_data(data);
        self
    }

    /// Joins: starts the membership node and the group watch, both in background tasks. A
    /// second call does nothing.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(&self) -> Result<()> {
        lock(&self.task).start(|| {
            let client = self.node.client();
            tokio::spawn(follow(self.path.clone(), client, self.shared.clone()))
        })?;
        self.node.start()
    }

    /// This member's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The group's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Waits until our membership node has been created.
    ///
    /// # Errors
    /// As [`PersistentNode::wait_for_initial_create`]; notably [`Error::InvalidArgument`]
    /// when a persistent node already sits at `<path>/<id>` (membership never starts: the
    /// ephemeral membership node cannot take it over).
    ///
    /// # Cancellation
    /// Safe: only waits.
    pub async fn wait_joined(&self) -> Result<()> {
        self.node.wait_for_initial_create().await
    }

    /// [`wait_joined`](Self::wait_joined) for at most `timeout` (the crate's one deadline
    /// convention): `false` when the time ran out first.
    ///
    /// # Errors
    /// As [`wait_joined`](Self::wait_joined).
    ///
    /// # Cancellation
    /// Safe: only waits.
    pub async fn wait_joined_timeout(&self, timeout: Duration) -> Result<bool> {
        self.node.wait_for_initial_create_timeout(timeout).await
    }

    /// The members as last seen, always including this member with its data (as Curator's
    /// `getCurrentMembers`).
    pub fn current_members(&self) -> Members {
        let mut m = lock(&self.shared.members).clone().unwrap_or_default();
        m.entry(self.id.clone()).or_insert_with(|| self.node.data());
        m
    }

    /// A stream of the group's members: the current snapshot first (once the group has been
    /// read), then one per change seen. It ends when the member is closed or dropped.
    ///
    /// # Errors
    /// Its last item is [`Error::SessionEnded`] when the client ended (closed, or expired
    /// when built with `OnExpiry::End`); a renewing client's member follows the group on
    /// the new session.
    pub fn members(&self) -> MembersStream {
        let (tx, rx) = mpsc::unbounded_channel();
        let current = lock(&self.shared.members);
        if let Some(m) = current.as_ref() {
            let _ = tx.send(Ok(m.clone()));
        }
        if self.shared.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return MembersStream { rx };
        }
        match lock(&self.shared.ended).clone() {
            Some(why) => {
                let _ = tx.send(Err(why));
            }
            None => lock(&self.shared.subscribers).push(tx),
        }
        MembersStream { rx }
    }

    /// Changes this member's data (see [`PersistentNode::set_data`]); a change made while
    /// the membership node is being created is written once it exists.
    ///
    /// # Errors
    /// As [`PersistentNode::set_data`].
    ///
    /// # Cancellation
    /// As [`PersistentNode::set_data`].
    pub async fn set_data(&self, data: &[u8]) -> Result<()> {
        self.node.set_data(data).await
    }

    /// The member's client.
    pub fn client(&self) -> Client {
        self.node.client()
    }

    /// Leaves the group: stops watching and deletes our node.
    ///
    /// # Errors
    /// As [`PersistentNode::close`].
    ///
    /// # Cancellation
    /// If dropped, the delete continues in the background.
    pub async fn close(&self) -> Result<()> {
        self.stop();
        self.node.close().await
    }

    /// Stops following the group; the streams end.
    fn stop(&self) {
        if let Some(task) = lock(&self.task).close() {
            task.abort();
        }
        self.shared.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        lock(&self.shared.subscribers).clear();
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        // The node deletes itself when dropped.
        self.stop();
    }
}

/// The stream of [`GroupMember::members`].
#[derive(Debug)]
pub struct MembersStream {
    rx: mpsc::UnboundedReceiver<Result<Members>>,
}

impl Stream for MembersStream {
    type Item = Result<Members>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Members>>> {
        self.rx.poll_recv(cx)
    }
}

/// Follows the group with a [`PathCache`] (which follows the client's new session after an
/// expiry by itself): one watch, and one read per change, however large the group. Ends, and
/// says why to the streams, when the client ended.
async fn follow(path: String, client: Client, group: Arc<Group>) {
    let Ok(mut cache) = PathCache::new(client.clone(), &path) else { return };
    if cache.start().is_err() {
        return;
    }
    // Whether the snapshot is in sync: false from a Lost until the re-sync's Initialized, so
    // the differences a re-sync reports one by one are published at once.
    let mut synced = false;
    // No cap on rounds: each waits for a change of the group, for as long as the member
    // lives; the cache's stream ends when it stops for good.
    while let Some(event) = cache.next().await {
        synced = after(synced, &event);
        if let PathEvent::Lost(why) = &event {
            if client.state().is_terminal() {
                group.end(why.clone());
                return;
            }
        }
        // Every event already buffered (a batch of changes) makes one snapshot.
        while let Some(Some(event)) = cache.next().now_or_never() {
            synced = after(synced, &event);
        }
        if synced {
            group.publish(members(&cache));
        }
    }
}

/// Whether the cache is in sync after `event`.
fn after(synced: bool, event: &PathEvent) -> bool {
    match event {
        PathEvent::Initialized => true,
        PathEvent::Lost(_) => false,
        _ => synced,
    }
}

/// The cache's snapshot as members.
fn members(cache: &PathCache) -> Members {
    cache.current().into_iter().map(|(name, child)| (name, child.data.unwrap_or_default())).collect()
}
