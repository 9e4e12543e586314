//! The background task of a cache: it keeps the shared model equal to the server's subtree
//! (down to a depth) and sends each difference as a [`Change`].
//!
//! With ZooKeeper 3.6+ it holds one persistent watch (recursive below the root, plain for a
//! single node) and re-reads each node a notification names. Where `addWatch` is
//! unimplemented it falls back to one-shot watches, as Curator's `TreeCache` does: a data
//! watch on every cached node and a child watch on every cached node above the depth limit.
//! After a reconnect (or on connecting to a read-only server) it re-reads the whole subtree
//! (a persistent watch does not replay what changed meanwhile) and reports only the
//! differences. A node whose parent is not cached is not cached either: the parent is read
//! instead.
//!
//! The notifications a persistent watch has delivered are taken in batches: one re-read per
//! node however many notifications named it, all the batch's reads sent at once (zk-core
//! pipelines them on the connection), their answers applied in the order sent.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use zk_core::path::{join, parent};
use zk_core::{
    AddWatchMode, Client, EventType, OneshotWatcher, PersistentWatcher, SessionEvent, Stat, WatchedEvent,
};

use super::model::{Applied, Change};
use super::shared::{Scope, Shared, WatchStrategy};
use crate::error::Error;
use crate::lock;
use crate::retry::Retries;

/// Notifications of the persistent watch taken (and coalesced) in one batch.
const MAX_BATCH: usize = 1024;
/// Nodes one refresh may read before giving up (the cached subtree's size bound).
const MAX_NODES: usize = 1_000_000;
/// Failed re-syncs in a row before the cache gives up and reports [`Change::Lost`].
/// Attempts at reading a missing root with an exists watch while it keeps flickering.
const ROOT_ATTEMPTS: u32 = 10;

/// How much of a node to re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// Its data changed (or it was created or deleted).
    Data,
    /// Its list of children changed.
    Children,
    /// Everything, and the same for every child (a re-sync).
    Deep,
    /// Only its list of children: it was just read and found new (a batch defers listing).
    List,
}

/// What the notifications of one batch ask about one node.
#[derive(Debug, Clone, Copy, Default)]
struct Need {
    /// The node's last notification in the batch: `Some(true)` created or changed (read it),
    /// `Some(false)` deleted (drop it without reading).
    data: Option<bool>,
    /// Its child counters changed (read its stat).
    stat: bool,
}

/// A read of a batch, sent and not answered yet.
enum Pending {
    Data(BoxFuture<'static, zk_core::Result<(Vec<u8>, Stat)>>),
    Stat(BoxFuture<'static, zk_core::Result<Option<Stat>>>),
    /// Deleted: dropped without a read.
    Gone,
    /// Nothing to read.
    Nothing,
}

/// Which one-shot watch fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Data,
    Children,
}

type Fired = (String, Kind, zk_core::Result<WatchedEvent>);

/// The task loop's own state.
#[derive(Debug)]
struct Loop {
    /// When to re-read the whole subtree next.
    resync_at: Option<Instant>,
    /// Failed steps since the last successful re-sync.
    failures: u32,
    /// The retries of failed re-syncs, on the client's retry policy.
    retries: Retries,
    /// Whether `Initialized` was reported.
    initialized: bool,
    /// Whether the persistent watch must be set (again).
    need_watch: bool,
}

impl Loop {
    /// A fresh start: set the watch, re-read everything now, report `Initialized` after.
    fn new(client: &Client) -> Self {
        Loop {
            resync_at: Some(Instant::now()),
            failures: 0,
            retries: Retries::new(client, "cache re-sync"),
            initialized: false,
            need_watch: true,
        }
    }
}

/// The background task.
pub(super) struct Run {
    client: Client,
    scope: Scope,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Change>,
    /// The persistent watch; `None` in the one-shot mode.
    watcher: Option<PersistentWatcher>,
    /// The one-shot watches set and not fired yet (one per node and kind).
    pending: HashSet<(String, Kind)>,
    oneshots: FuturesUnordered<BoxFuture<'static, Fired>>,
}

impl Run {
    pub(super) fn new(
        client: Client,
        scope: Scope,
        shared: Arc<Shared>,
        tx: mpsc::UnboundedSender<Change>,
    ) -> Self {
        Run {
            client,
            scope,
            shared,
            tx,
            watcher: None,
            pending: HashSet::new(),
            oneshots: FuturesUnordered::new(),
        }
    }

    fn one_shot(&self) -> bool {
        self.watcher.is_none()
    }

    fn emit(&self, change: Change) {
        tracing::trace!(?change, root = %self.scope.root, "cache");
        let _ = self.tx.send(change);
    }

    pub(super) async fn run(mut self) {
        let mut session = self.client.session_events();
        let mut l = Loop::new(&self.client);
        // Not bounded in count: the cache follows the server for as long as it lives (a cap
        // would stop a busy cache after a while). Each round is bounded in time: it waits for
        // a session event, a batch of notifications, a fired one-shot watch or a timer, then
        // does a bounded amount of I/O (at most `MAX_BATCH` notifications, `MAX_NODES` reads,
        // each request ending with the session's timeout at the latest). The session's end
        // leaves the loop (`lose`), and so do re-syncs failing until the client's retry policy gives up.
        loop {
            let step = tokio::select! {
                // Session events first: an expiry must be reported (Lost) before anything the
                // ended session's watchers say.
                biased;
                ev = session.next_event() => match ev {
                    // A read-only server may hold an older state, and changes made while
                    // disconnected are not replayed: re-read everything either way.
                    Some(SessionEvent::Reconnected | SessionEvent::ConnectedReadOnly) => {
                        l.resync_at.get_or_insert_with(Instant::now);
                        Ok(())
                    }
                    Some(SessionEvent::Expired) if !self.client.state().is_terminal() => {
                        // The client opens a new session by itself: report the gap, then
                        // follow the server on that session; the re-sync reports only the
                        // differences, then Initialized.
                        self.report_lost(Error::SessionEnded(zk_core::Error::SessionExpired));
                        self.restart();
                        l = Loop::new(&self.client);
                        Ok(())
                    }
                    Some(SessionEvent::Expired | SessionEvent::AuthFailed | SessionEvent::Closed) | None => {
                        Err(self.client.state().terminal_error())
                    }
                    Some(_) => Ok(()),
                },
                ev = next_watch(&mut self.watcher), if self.watcher.is_some() => match ev {
                    Some(Ok(ev)) if ev.event_type != EventType::PersistentWatchRemoved => {
                        let (batch, ended) = self.drain(ev);
                        let step = self.on_events(&batch).await;
                        if ended {
                            self.watch_ended(&mut l);
                        }
                        step
                    }
                    Some(Err(e)) => {
                        // The session ended: its event (handled above) decides what follows.
                        self.watcher = None;
                        Err(e)
                    }
                    _ => {
                        self.watch_ended(&mut l);
                        Ok(())
                    }
                },
                Some((path, kind, fired)) = self.oneshots.next(), if !self.oneshots.is_empty() => {
                    self.on_fired(path, kind, fired).await
                }
                () = sleep_until(l.resync_at.unwrap_or_else(Instant::now)), if l.resync_at.is_some() => {
                    self.resync_step(&mut l).await
                }
            };
            let Err(e) = step else { continue };
            let Err(lost) = self.on_error(&mut l, e) else { continue };
            return self.lose(lost);
        }
    }

    /// The persistent watch ended without the session ending: set it again and re-sync.
    fn watch_ended(&mut self, l: &mut Loop) {
        self.watcher = None;
        l.need_watch = true;
        l.resync_at.get_or_insert_with(Instant::now);
    }

    /// `first` and the notifications already delivered after it (at most [`MAX_BATCH`]),
    /// and whether the watch ended meanwhile.
    fn drain(&mut self, first: WatchedEvent) -> (Vec<WatchedEvent>, bool) {
        let mut batch = vec![first];
        let Some(w) = self.watcher.as_mut() else { return (batch, false) };
        while batch.len() < MAX_BATCH {
            match w.next_event().now_or_never() {
                None => break,
                Some(Some(Ok(ev))) if ev.event_type != EventType::PersistentWatchRemoved => batch.push(ev),
                Some(_) => return (batch, true),
            }
        }
        (batch, false)
    }

    /// A failed step: the session's end stops the cache; anything else is repaired by a
    /// re-sync, once the client is connected again (the `Reconnected` event schedules it) or
    /// after the client's retry policy's next delay, until the policy gives up.
    fn on_error(&self, l: &mut Loop, e: zk_core::Error) -> Result<(), Error> {
        if crate::session::renews_after(&self.client, &e) {
            // The client opens a new session: its Expired event restarts the cache.
            tracing::debug!(root = %self.scope.root, "cache waits for the new session");
            return Ok(());
        }
        if e.is_terminal() {
            return Err(Error::SessionEnded(e));
        }
        if e.is_retryable() && !self.client.state().is_connected() {
            tracing::debug!(error = %e, root = %self.scope.root, "cache waits for the reconnect");
            return Ok(());
        }
        l.failures += 1;
        tracing::debug!(error = %e, failures = l.failures, root = %self.scope.root, "cache re-syncs");
        let Some(delay) = l.retries.next_delay() else {
            return Err(Error::RetriesExhausted("cache re-sync"));
        };
        l.resync_at = Some(Instant::now() + delay);
        Ok(())
    }

    /// A one-shot watch fired: re-read what it covered (which sets it again).
    async fn on_fired(
        &mut self,
        path: String,
        kind: Kind,
        fired: zk_core::Result<WatchedEvent>,
    ) -> zk_core::Result<()> {
        self.pending.remove(&(path.clone(), kind));
        fired?;
        self.refresh(&path, if kind == Kind::Data { How::Data } else { How::Children }).await
    }

    /// A scheduled re-sync; the first that succeeds reports [`Change::Initialized`].
    async fn resync_step(&mut self, l: &mut Loop) -> zk_core::Result<()> {
        l.resync_at = None;
        let root = self.scope.root.clone();
        crate::observe::cache_resync(&root, self.resync(&mut l.need_watch)).await?;
        l.failures = 0;
        l.retries.reset();
        if !l.initialized {
            l.initialized = true;
            self.emit(Change::Initialized);
            self.shared.status.send_modify(|s| s.initialized = true);
        }
        Ok(())
    }

    fn lose(self, e: Error) {
        tracing::debug!(error = %e, root = %self.scope.root, "cache stops following the server");
        self.report_lost(e);
    }

    fn report_lost(&self, e: Error) {
        self.shared.status.send_modify(|s| s.lost = Some(e.clone()));
        self.emit(Change::Lost(e));
    }

    /// Forgets the watches of an ended session, to follow the server anew.
    fn restart(&mut self) {
        self.watcher = None;
        self.pending.clear();
        self.oneshots = FuturesUnordered::new();
        self.shared.status.send_modify(|s| {
            s.lost = None;
            s.initialized = false;
        });
    }

    /// Sets the persistent watch if needed, then re-reads the whole subtree.
    async fn resync(&mut self, need_watch: &mut bool) -> zk_core::Result<()> {
        if *need_watch {
            let mode = if self.scope.max_depth == 0 {
                AddWatchMode::Persistent
            } else {
                AddWatchMode::PersistentRecursive
            };
            match self.client.add_watch(&self.scope.root, mode).await {
                Ok(w) => self.watcher = Some(w),
                Err(zk_core::Error::Unimplemented | zk_core::Error::MarshallingError) => {
                    tracing::debug!(root = %self.scope.root, "no addWatch on this server: one-shot watches");
                    self.watcher = None;
                }
                Err(e) => return Err(e),
            }
            *need_watch = false;
            let strategy = if self.one_shot() { WatchStrategy::OneShot } else { WatchStrategy::Persistent };
            self.shared.status.send_modify(|s| s.strategy = Some(strategy));
        }
        let root = self.scope.root.clone();
        self.refresh(&root, How::Deep).await
    }

    /// A batch of notifications of the persistent watch. Each node named is handled once,
    /// as its last notification says (a node deleted last is dropped without a read), in the
    /// order the nodes were first named; every read is sent before the first answer is
    /// awaited, and the answers are applied in the order sent, so each node's events keep
    /// their order and show its latest state. Listing the children of a node found new waits
    /// until the whole batch is applied (a later read must not be overtaken by an earlier one).
    async fn on_events(&mut self, batch: &[WatchedEvent]) -> zk_core::Result<()> {
        let mut order: Vec<&str> = Vec::new();
        let mut needs: HashMap<&str, Need> = HashMap::new();
        for ev in batch {
            let path = ev.path.as_str();
            let in_scope = self.scope.depth(path).is_some();
            let data = match ev.event_type {
                EventType::NodeCreated | EventType::NodeDataChanged if in_scope => Some(true),
                EventType::NodeDeleted if in_scope => Some(false),
                _ => None,
            };
            let stat = ev.event_type == EventType::NodeChildrenChanged && self.scope.shows_counters(path);
            if data.is_some() || stat {
                let need = needs.entry(path).or_insert_with(|| {
                    order.push(path);
                    Need::default()
                });
                need.data = data.or(need.data);
                need.stat |= stat;
            }
            if matches!(ev.event_type, EventType::NodeCreated | EventType::NodeDeleted)
                && path != self.scope.root
                && self.scope.shows_counters(parent(path))
            {
                // The parent's child counters changed; recursive watches do not say so.
                needs
                    .entry(parent(path))
                    .or_insert_with(|| {
                        order.push(parent(path));
                        Need::default()
                    })
                    .stat = true;
            }
        }
        // Send every read first...
        let pending: Vec<(&str, Pending)> = order
            .iter()
            .map(|&path| {
                let need = needs[path];
                let read = match need.data {
                    Some(true) => Pending::Data(self.client.get_data(path).boxed()),
                    Some(false) => Pending::Gone,
                    // Only a cached node's counters are kept; a read brings the others'.
                    None if !lock(&self.shared.model).contains(path) => Pending::Nothing,
                    None => Pending::Stat(self.client.exists(path).boxed()),
                };
                (path, read)
            })
            .collect();
        // ...then apply the answers in the order sent.
        let mut later = VecDeque::new();
        for (path, read) in pending {
            match read {
                Pending::Nothing => {}
                Pending::Gone => self.remove(path),
                Pending::Stat(f) => {
                    if let Some(Some(stat)) = skip_missing(f.await)? {
                        lock(&self.shared.model).apply_stat(path, stat);
                    }
                }
                Pending::Data(f) => {
                    let read = skip_missing(f.await)?;
                    if self.orphan(path) {
                        later.push_back((parent(path).to_owned(), How::Children));
                    } else if self.apply_data(path, read) == Some(Applied::New)
                        && self.scope.depth(path).is_some_and(|d| d < self.scope.max_depth)
                    {
                        later.push_back((path.to_owned(), How::List));
                    }
                }
            }
        }
        self.refresh_all(later).await
    }

    /// True when `path` is not the root and its parent is not cached: it must not be added
    /// (parents come before children; a parent this session may not read hides its subtree).
    fn orphan(&self, path: &str) -> bool {
        path != self.scope.root && !lock(&self.shared.model).contains(parent(path))
    }

    /// Records a read of `path` (`None`: missing or unreadable, so dropped) and sends the
    /// change it makes; `None` when the node is gone.
    fn apply_data(&self, path: &str, read: Option<(Vec<u8>, Stat)>) -> Option<Applied> {
        let Some((data, stat)) = read else {
            self.remove(path);
            return None;
        };
        let (applied, change) = lock(&self.shared.model).apply_read(path, data, stat);
        if let Some(c) = change {
            self.emit(c);
        }
        Some(applied)
    }

    fn remove(&self, path: &str) {
        let changes = lock(&self.shared.model).remove_subtree(path);
        for c in changes {
            self.emit(c);
        }
    }

    /// Re-reads `start` (and, as `how` says, its children), breadth first.
    async fn refresh(&mut self, start: &str, how: How) -> zk_core::Result<()> {
        self.refresh_all(VecDeque::from([(start.to_owned(), how)])).await
    }

    /// Re-reads the nodes of `queue` (and, as each one's `How` says, its children), breadth
    /// first.
    async fn refresh_all(&mut self, mut queue: VecDeque<(String, How)>) -> zk_core::Result<()> {
        for _ in 0..MAX_NODES {
            let Some((path, how)) = queue.pop_front() else { return Ok(()) };
            self.refresh_one(&path, how, &mut queue).await?;
        }
        Err(zk_core::Error::BadArguments(format!("more than {MAX_NODES} nodes to re-read at once")))
    }

    async fn refresh_one(
        &mut self,
        path: &str,
        how: How,
        queue: &mut VecDeque<(String, How)>,
    ) -> zk_core::Result<()> {
        let Some(depth) = self.scope.depth(path) else { return Ok(()) };
        if self.orphan(path) {
            // Its parent is not cached (unreadable, or gone and back meanwhile): read the
            // parent and its children instead.
            queue.push_back((parent(path).to_owned(), How::Children));
            return Ok(());
        }
        let applied = if how == How::List {
            if !lock(&self.shared.model).contains(path) {
                return Ok(());
            }
            Applied::New
        } else {
            let read = self.read_data(path).await?;
            let Some(applied) = self.apply_data(path, read) else { return Ok(()) };
            applied
        };
        let expand = depth < self.scope.max_depth;
        let list = expand
            && if self.one_shot() {
                how != How::Data
                    || applied == Applied::New
                    || !self.pending.contains(&(path.to_owned(), Kind::Children))
            } else {
                how != How::Data || applied == Applied::New
            };
        if !list {
            return Ok(());
        }
        let Some((mut names, stat)) = self.read_children(path).await? else {
            self.remove(path);
            return Ok(());
        };
        lock(&self.shared.model).apply_stat(path, stat);
        names.sort();
        let known = lock(&self.shared.model).children(path);
        for gone in known.iter().filter(|k| names.binary_search(k).is_err()) {
            self.remove(&join(path, gone));
        }
        for name in names {
            if how == How::Deep || known.binary_search(&name).is_err() {
                queue.push_back((join(path, &name), if how == How::Deep { How::Deep } else { How::Data }));
            }
        }
        Ok(())
    }

    /// The node's data and stat, `None` when it is missing (or unreadable to this session).
    /// In the one-shot mode this also sets the node's data watch (an exists watch on a
    /// missing root).
    async fn read_data(&mut self, path: &str) -> zk_core::Result<Option<(Vec<u8>, Stat)>> {
        if !self.one_shot() {
            return skip_missing(self.client.get_data(path).await);
        }
        for _ in 0..ROOT_ATTEMPTS {
            match self.client.get_data_and_watch(path).await {
                Ok((data, stat, w)) => {
                    self.arm(path, Kind::Data, w);
                    return Ok(Some((data, stat)));
                }
                Err(zk_core::Error::NoNode) if path == self.scope.root => {
                    let (stat, w) = self.client.exists_and_watch(path).await?;
                    self.arm(path, Kind::Data, w);
                    if stat.is_none() {
                        return Ok(None);
                    }
                }
                other => return skip_missing(other.map(|(d, s, _)| (d, s))),
            }
        }
        Err(zk_core::Error::ConnectionLoss)
    }

    /// The node's children and stat, `None` when it is missing. In the one-shot mode this also
    /// sets the node's child watch.
    async fn read_children(&mut self, path: &str) -> zk_core::Result<Option<(Vec<String>, Stat)>> {
        if !self.one_shot() {
            return skip_missing(self.client.get_children_and_stat(path).await);
        }
        match self.client.get_children_and_watch(path).await {
            Ok((names, stat, w)) => {
                self.arm(path, Kind::Children, w);
                Ok(Some((names, stat)))
            }
            other => skip_missing(other.map(|(n, s, _)| (n, s))),
        }
    }

    /// Keeps one pending one-shot watcher per node and kind (a second one is dropped: the
    /// server keeps a single watch for both anyway).
    fn arm(&mut self, path: &str, kind: Kind, w: OneshotWatcher) {
        if self.pending.insert((path.to_owned(), kind)) {
            let path = path.to_owned();
            self.oneshots.push(w.map(move |r| (path, kind, r)).boxed());
        }
    }
}

/// Missing and unreadable nodes are left out of the cache.
fn skip_missing<T>(r: zk_core::Result<T>) -> zk_core::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(zk_core::Error::NoNode) => Ok(None),
        Err(zk_core::Error::NoAuth) => {
            tracing::debug!("cache skips a node it may not read");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn next_watch(w: &mut Option<PersistentWatcher>) -> Option<zk_core::Result<WatchedEvent>> {
    match w {
        Some(w) => w.next_event().await,
        None => None,
    }
}
