//! What a cache handle, its views and its background task share: what the cache watches
//! ([`Scope`]), the snapshot and the task's [`Status`] ([`Shared`]), and how it watches
//! ([`WatchStrategy`]). A leaf: the handle ([`super::engine`]), the views ([`super::view`])
//! and the task ([`super::task`]) use it, it uses none of them.

use std::sync::Mutex;

use tokio::sync::watch;

use super::model::{rel_depth, Model};
use crate::error::Error;

/// How a cache learns of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WatchStrategy {
    /// One persistent watch (`addWatch`, ZooKeeper 3.6+): recursive below the root, plain
    /// for a single node.
    Persistent,
    /// One-shot watches, set again after each fires (for servers without `addWatch`): a data
    /// watch on every cached node, a child watch on every cached node above the depth limit.
    OneShot,
}

/// What a cache watches.
#[derive(Debug, Clone)]
pub(super) struct Scope {
    pub(super) root: String,
    /// 0: the root only; 1: the root and its children; ...
    pub(super) max_depth: usize,
    /// Whether the root is shown (not by a [`super::PathCache`], which shows the children).
    pub(super) root_shown: bool,
}

impl Scope {
    pub(super) fn depth(&self, path: &str) -> Option<usize> {
        rel_depth(&self.root, path).filter(|d| *d <= self.max_depth)
    }

    /// Whether `path`'s child counters are worth a read when only they changed: it is in
    /// scope and shown.
    pub(super) fn shows_counters(&self, path: &str) -> bool {
        self.depth(path).is_some() && (self.root_shown || path != self.root)
    }
}

/// What the task publishes about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Status {
    pub(super) initialized: bool,
    pub(super) strategy: Option<WatchStrategy>,
    pub(super) lost: Option<Error>,
    pub(super) closed: bool,
}

/// State shared by a cache handle, its views and its task.
#[derive(Debug)]
pub(super) struct Shared {
    /// The cache's root (as in its [`Scope`]), for the views.
    pub(super) root: String,
    pub(super) model: Mutex<Model>,
    pub(super) status: watch::Sender<Status>,
}

impl Shared {
    pub(super) fn new(root: &str) -> Self {
        Shared { root: root.to_owned(), model: Mutex::default(), status: watch::Sender::default() }
    }
}
