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
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use zk_core::path::{join, validate_path};
use zk_core::{Client, CreateMode};

use crate::cache::{PathCache, PathEvent};
use crate::error::{Error, Result};
use crate::persistent_node::PersistentNode;

/// A snapshot of a group: member id -> member data.
pub type Members = BTreeMap<String, Vec<u8>>;

/// Options of a [`GroupMember`], from [`GroupMember::builder`].
#[derive(Debug)]
#[must_use = "call start() to join the group"]
pub struct GroupMemberBuilder {
    client: Client,
    path: String,
    id: String,
    data: Vec<u8>,
}

impl GroupMemberBuilder {
    /// This member's data (default empty).
    pub fn data(mut self, data: &[u8]) -> Self {
        self.data = data.to_vec();
        self
    }

    /// Joins: starts the membership node and the group watch, both in background tasks.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty id or one containing `/`; [`Error::Zk`] with
    /// `InvalidPath` for a bad group path.
    pub fn start(self) -> Result<GroupMember> {
        validate_path(&self.path)?;
        if self.id.is_empty() || self.id.contains('/') || self.id == "." || self.id == ".." {
            return Err(Error::InvalidArgument(format!("bad group member id {:?}", self.id)));
        }
        let node_path = join(&self.path, &self.id);
        validate_path(&node_path)?;
        let node = PersistentNode::builder(self.client, &node_path)
            .mode(CreateMode::Ephemeral)
            .data(&self.data)
            .start()?;
        let shared = Arc::new(Group { members: Mutex::new(None), subscribers: Mutex::new(Vec::new()) });
        let task = tokio::spawn(follow(self.path.clone(), node.clients(), shared.clone()));
        Ok(GroupMember { node: Some(node), id: self.id, path: self.path, shared, task })
    }
}

/// The group as last seen, and who wants to hear about changes.
#[derive(Debug)]
struct Group {
    /// `None` until the first read.
    members: Mutex<Option<Members>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Members>>>,
}

impl Group {
    fn publish(&self, members: Members) {
        let mut current = lock(&self.members);
        if current.as_ref() == Some(&members) {
            return;
        }
        lock(&self.subscribers).retain(|tx| tx.send(members.clone()).is_ok());
        *current = Some(members);
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
///   membership, and the members stream stops changing.
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
/// let a = GroupMember::builder(server.client().await?, "/services/api", "a").data(b"10.0.0.1").start()?;
/// let b = GroupMember::builder(server.client().await?, "/services/api", "b").data(b"10.0.0.2").start()?;
/// let mut members = a.members();
/// while let Some(m) = members.next().await {
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
    /// Always `Some` until `close`.
    node: Option<PersistentNode>,
    id: String,
    path: String,
    shared: Arc<Group>,
    task: JoinHandle<()>,
}

impl GroupMember {
    /// Options for member `id` of the group at `path`.
    pub fn builder(client: Client, path: &str, id: &str) -> GroupMemberBuilder {
        GroupMemberBuilder { client, path: path.to_owned(), id: id.to_owned(), data: Vec::new() }
    }

    /// This member's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The group's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Waits until our membership node has been created; `false` after `limit`.
    ///
    /// # Errors
    /// As [`PersistentNode::wait_for_initial_create`]; notably [`Error::InvalidArgument`]
    /// when a persistent node already sits at `<path>/<id>` (membership never starts: the
    /// ephemeral membership node cannot take it over).
    ///
    /// # Cancellation
    /// Safe: only waits.
    pub async fn wait_joined(&self, limit: Duration) -> Result<bool> {
        match &self.node {
            Some(node) => node.wait_for_initial_create(limit).await,
            None => Err(Error::Closed),
        }
    }

    /// The members as last seen, always including this member with its data (as Curator's
    /// `getCurrentMembers`).
    pub fn current_members(&self) -> Members {
        let mut m = lock(&self.shared.members).clone().unwrap_or_default();
        if let Some(node) = &self.node {
            m.entry(self.id.clone()).or_insert_with(|| node.data());
        }
        m
    }

    /// A stream of the group's members: the current snapshot first (once the group has been
    /// read), then one per change seen. It ends when the member is dropped.
    pub fn members(&self) -> MembersStream {
        let (tx, rx) = mpsc::unbounded_channel();
        let current = lock(&self.shared.members);
        if let Some(m) = current.as_ref() {
            let _ = tx.send(m.clone());
        }
        lock(&self.shared.subscribers).push(tx);
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
        match &self.node {
            Some(node) => node.set_data(data).await,
            None => Err(Error::Closed),
        }
    }

    /// The client of the current session (`None` only while closing).
    pub fn client(&self) -> Option<Client> {
        self.node.as_ref().map(PersistentNode::client)
    }

    /// Leaves the group: stops watching and deletes our node.
    ///
    /// # Errors
    /// As [`PersistentNode::close`].
    ///
    /// # Cancellation
    /// If dropped, the delete continues in the background.
    pub async fn close(mut self) -> Result<()> {
        self.task.abort();
        lock(&self.shared.subscribers).clear();
        match self.node.take() {
            Some(node) => node.close().await,
            None => Ok(()),
        }
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.task.abort();
        lock(&self.shared.subscribers).clear();
    }
}

/// The stream of [`GroupMember::members`].
#[derive(Debug)]
pub struct MembersStream {
    rx: mpsc::UnboundedReceiver<Members>,
}

impl Stream for MembersStream {
    type Item = Members;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Members>> {
        self.rx.poll_recv(cx)
    }
}

/// Follows the group with a [`PathCache`] on the membership node's session, moved to each new
/// session after an expiry ([`PathCache::rebuild`]): one watch, and one read per change, however
/// large the group.
async fn follow(path: String, mut clients: watch::Receiver<Client>, group: Arc<Group>) {
    let client = clients.borrow_and_update().clone();
    let Ok(mut cache) = PathCache::new(client, &path) else { return };
    cache.start();
    // Whether the snapshot is in sync: false from a Lost until the rebuild's Initialized, so
    // the differences a rebuild reports one by one are published at once.
    let mut synced = false;
    // No cap on rounds: each waits for a change of the group or of the session, for as long
    // as the member lives.
    loop {
        tokio::select! {
            event = cache.next() => {
                let Some(event) = event else { return };
                synced = after(synced, &event);
                // Every event already buffered (a batch of changes) makes one snapshot.
                while let Some(Some(event)) = cache.next().now_or_never() {
                    synced = after(synced, &event);
                }
                if synced {
                    group.publish(members(&cache));
                }
            }
            changed = clients.changed() => {
                if changed.is_err() {
                    return;
                }
                let client = clients.borrow_and_update().clone();
                synced = false;
                if cache.rebuild(client).await.is_err() {
                    return;
                }
            }
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
