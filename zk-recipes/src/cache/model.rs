//! The cached nodes and the changes between two states of them (pure logic, no I/O).

use std::collections::BTreeMap;

use zk_core::Stat;

use crate::error::Error;

/// A cached node: its data and [`Stat`] as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeData {
    /// The node's data (empty for null data).
    pub data: Vec<u8>,
    /// The node's metadata.
    pub stat: Stat,
}

/// One difference between the cache and the server, in the order it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change {
    /// A node appeared.
    Added(String, NodeData),
    /// A node's data changed, or it was replaced by a new node of the same path.
    Updated(String, NodeData),
    /// A node disappeared; its last cached value.
    Removed(String, NodeData),
    /// The cache is in sync with the server (after a start or a rebuild).
    Initialized,
    /// The cache stopped following the server.
    Lost(Error),
}

/// What reading one node did to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Applied {
    /// The node was not cached (or was replaced by a new one with the same path).
    New,
    /// The node's data or modification changed.
    Changed,
    /// Nothing a user sees changed (perhaps the child counters of its `Stat`).
    Same,
}

/// The depth of `path` below `root` (0 for the root itself), `None` when it is not in the
/// subtree.
pub(super) fn rel_depth(root: &str, path: &str) -> Option<usize> {
    if path == root {
        return Some(0);
    }
    let rest =
        if root == "/" { path.strip_prefix('/')? } else { path.strip_prefix(root)?.strip_prefix('/')? };
    if rest.is_empty() {
        return None;
    }
    Some(1 + rest.matches('/').count())
}

/// The cached nodes by full path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Model {
    pub(super) nodes: BTreeMap<String, NodeData>,
    /// Whether the nodes' data is kept (else it is read, for its stat, and dropped): a
    /// property of the snapshot, so everyone reading it sees the same.
    pub(super) keep_data: bool,
}

impl Default for Model {
    fn default() -> Self {
        Model { nodes: BTreeMap::new(), keep_data: true }
    }
}

impl Model {
    /// Records a fresh read of `path` and returns the change a user should see, if any.
    pub(super) fn apply_read(&mut self, path: &str, data: Vec<u8>, stat: Stat) -> (Applied, Option<Change>) {
        let data = if self.keep_data { data } else { Vec::new() };
        let node = NodeData { data, stat };
        match self.nodes.get_mut(path) {
            None => {
                self.nodes.insert(path.to_owned(), node.clone());
                (Applied::New, Some(Change::Added(path.to_owned(), node)))
            }
            Some(old) if old.stat.czxid != stat.czxid => {
                *old = node.clone();
                (Applied::New, Some(Change::Updated(path.to_owned(), node)))
            }
            Some(old) if old.stat.mzxid != stat.mzxid || old.data != node.data => {
                *old = node.clone();
                (Applied::Changed, Some(Change::Updated(path.to_owned(), node)))
            }
            Some(old) => {
                old.stat = stat;
                (Applied::Same, None)
            }
        }
    }

    /// Takes the child counters of a newer `stat` of the same node version (no event: only
    /// `cversion`, `pzxid` and `numChildren` can differ). A stat of another version is
    /// ignored: the read of that version will bring it.
    pub(super) fn apply_stat(&mut self, path: &str, stat: Stat) {
        if let Some(old) = self.nodes.get_mut(path) {
            if old.stat.czxid == stat.czxid && old.stat.mzxid == stat.mzxid && old.stat.pzxid <= stat.pzxid {
                old.stat = stat;
            }
        }
    }

    /// Removes `path` and everything cached below it; the changes are deepest first.
    pub(super) fn remove_subtree(&mut self, path: &str) -> Vec<Change> {
        let prefix = if path == "/" { "/".to_owned() } else { format!("{path}/") };
        let mut gone: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .filter(|p| p != path)
            .collect();
        gone.sort_by(|a, b| b.matches('/').count().cmp(&a.matches('/').count()).then_with(|| a.cmp(b)));
        gone.push(path.to_owned());
        gone.into_iter().filter_map(|p| self.nodes.remove(&p).map(|n| Change::Removed(p, n))).collect()
    }

    /// The names of the cached children of `path`, sorted.
    pub(super) fn children(&self, path: &str) -> Vec<String> {
        let prefix = if path == "/" { "/".to_owned() } else { format!("{path}/") };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, _)| {
                let name = &p[prefix.len()..];
                (!name.is_empty() && !name.contains('/')).then(|| name.to_owned())
            })
            .collect()
    }

    /// True when `path` is cached.
    pub(super) fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(czxid: i64, mzxid: i64, pzxid: i64) -> Stat {
        Stat { czxid, mzxid, pzxid, ..Stat::default() }
    }

    #[test]
    fn depth_below_root() {
        assert_eq!(rel_depth("/a", "/a"), Some(0));
        assert_eq!(rel_depth("/a", "/a/b"), Some(1));
        assert_eq!(rel_depth("/a", "/a/b/c"), Some(2));
        assert_eq!(rel_depth("/a", "/ab"), None);
        assert_eq!(rel_depth("/a", "/"), None);
        assert_eq!(rel_depth("/", "/"), Some(0));
        assert_eq!(rel_depth("/", "/x"), Some(1));
        assert_eq!(rel_depth("/", "/x/y"), Some(2));
    }

    #[test]
    fn reads_become_changes_once() {
        let mut m = Model::default();
        let (a, c) = m.apply_read("/a", b"1".to_vec(), stat(1, 1, 1));
        assert_eq!(a, Applied::New);
        assert!(matches!(c, Some(Change::Added(p, _)) if p == "/a"));
        assert_eq!(m.apply_read("/a", b"1".to_vec(), stat(1, 1, 2)), (Applied::Same, None));
        assert_eq!(m.nodes["/a"].stat.pzxid, 2, "child counters are taken silently");
        let (a, c) = m.apply_read("/a", b"2".to_vec(), stat(1, 3, 2));
        assert_eq!(a, Applied::Changed);
        assert!(matches!(c, Some(Change::Updated(p, n)) if p == "/a" && n.data == b"2"));
        let (a, _) = m.apply_read("/a", b"2".to_vec(), stat(4, 4, 4));
        assert_eq!(a, Applied::New, "a re-created node is new");
    }

    #[test]
    fn data_not_kept_is_dropped_but_its_changes_seen() {
        let mut m = Model { keep_data: false, ..Model::default() };
        m.apply_read("/a", b"secret".to_vec(), stat(1, 1, 1));
        assert!(m.nodes["/a"].data.is_empty());
        let (a, c) = m.apply_read("/a", b"other".to_vec(), stat(1, 2, 1));
        assert_eq!(a, Applied::Changed, "the stat tells the change");
        assert!(matches!(c, Some(Change::Updated(_, n)) if n.data.is_empty()));
    }

    #[test]
    fn stale_stats_are_ignored() {
        let mut m = Model::default();
        m.apply_read("/a", Vec::new(), stat(1, 1, 5));
        m.apply_stat("/a", stat(1, 1, 4));
        assert_eq!(m.nodes["/a"].stat.pzxid, 5);
        m.apply_stat("/a", stat(1, 2, 6));
        assert_eq!(m.nodes["/a"].stat.pzxid, 5, "another version waits for its own read");
        m.apply_stat("/a", stat(1, 1, 6));
        assert_eq!(m.nodes["/a"].stat.pzxid, 6);
    }

    #[test]
    fn subtree_removal_is_deepest_first_and_exact() {
        let mut m = Model::default();
        for p in ["/a", "/a/b", "/a/b/c", "/a/d", "/ab"] {
            m.apply_read(p, Vec::new(), stat(1, 1, 1));
        }
        assert_eq!(m.children("/a"), vec!["b".to_owned(), "d".to_owned()]);
        let removed: Vec<String> = m
            .remove_subtree("/a")
            .into_iter()
            .map(|c| match c {
                Change::Removed(p, _) => p,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(removed, ["/a/b/c", "/a/b", "/a/d", "/a"]);
        assert!(m.contains("/ab"));
        assert!(m.remove_subtree("/missing").is_empty());
    }
}
