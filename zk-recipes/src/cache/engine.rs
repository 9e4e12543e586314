//! The one engine behind the three caches: the handle that starts, rebuilds and stops the
//! background task ([`Run`]), and reads the state both share ([`Shared`]).

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zk_core::path::validate_path;
use zk_core::Client;

use super::model::{Change, Model};
use super::shared::{Scope, Shared, Status, WatchStrategy};
use super::task::Run;
use crate::error::{Error, Result};
use crate::lock;
use crate::persistent_node::SessionFactory;

/// Items a stream poll takes from the channel before yielding to the executor.
const POLL_BUDGET: usize = 1024;

/// The handle part shared by every cache: client, task, snapshot and the change channel.
#[derive(Debug)]
pub(super) struct Engine {
    client: Mutex<Client>,
    factory: Option<SessionFactory>,
    scope: Scope,
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
    tx: Mutex<Option<mpsc::UnboundedSender<Change>>>,
    rx: mpsc::UnboundedReceiver<Change>,
}

impl Engine {
    pub(super) fn new(client: Client, root: &str, max_depth: usize) -> Result<Self> {
        validate_path(root)?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Engine {
            client: Mutex::new(client),
            factory: None,
            scope: Scope { root: root.to_owned(), max_depth, root_shown: true },
            shared: Arc::default(),
            task: Mutex::new(None),
            tx: Mutex::new(Some(tx)),
            rx,
        })
    }

    pub(super) fn root(&self) -> &str {
        &self.scope.root
    }

    pub(super) fn set_max_depth(&mut self, max_depth: usize) {
        self.scope.max_depth = max_depth;
    }

    pub(super) fn set_keep_data(&mut self, keep: bool) {
        lock(&self.shared.model).keep_data = keep;
    }

    /// Whether the model keeps the nodes' data.
    pub(super) fn keep_data(&self) -> bool {
        lock(&self.shared.model).keep_data
    }

    /// The root is kept in the model (its children hang from it) but never shown, so its
    /// child counters are not re-read after each child's create or delete.
    pub(super) fn hide_root(&mut self) {
        self.scope.root_shown = false;
    }

    pub(super) fn set_factory(&mut self, factory: SessionFactory) {
        self.factory = Some(factory);
    }

    pub(super) fn start(&self) {
        let mut task = lock(&self.task);
        if task.is_some() {
            return;
        }
        let Some(tx) = lock(&self.tx).clone() else { return };
        self.shared.status.send_modify(|s| {
            s.initialized = false;
            s.lost = None;
        });
        let client = lock(&self.client).clone();
        let run = Run::new(client, self.factory.clone(), self.scope.clone(), self.shared.clone(), tx);
        *task = Some(tokio::spawn(run.run()));
    }

    async fn stop_task(&self) {
        let task = lock(&self.task).take();
        if let Some(t) = task {
            t.abort();
            let _ = t.await;
        }
    }

    pub(super) async fn rebuild(&self, client: Client) -> Result<()> {
        if self.shared.status.borrow().closed {
            return Err(Error::Closed);
        }
        self.stop_task().await;
        *lock(&self.client) = client;
        self.start();
        Ok(())
    }

    pub(super) async fn close(&self) {
        self.shared.status.send_modify(|s| s.closed = true);
        lock(&self.tx).take();
        self.stop_task().await;
    }

    pub(super) async fn initialized(&self) -> Result<()> {
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

    pub(super) fn strategy(&self) -> Option<WatchStrategy> {
        self.shared.status.borrow().strategy
    }

    /// Reads the snapshot.
    pub(super) fn with_model<T>(&self, f: impl FnOnce(&Model) -> T) -> T {
        f(&lock(&self.shared.model))
    }

    /// The next change `map` keeps, for the caches' `Stream` impls; `map` also sees what the
    /// cache watches.
    pub(super) fn poll_change<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut map: impl FnMut(&Scope, Change) -> Option<T>,
    ) -> Poll<Option<T>> {
        for _ in 0..POLL_BUDGET {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(c)) => {
                    if let Some(out) = map(&self.scope, c) {
                        return Poll::Ready(Some(out));
                    }
                }
                other => return other.map(|_| None),
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(t) = lock(&self.task).take() {
            t.abort();
        }
    }
}
