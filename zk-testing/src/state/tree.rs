//! The node store: a slab of compact nodes, a path index, interned ACLs, and an undo log that
//! makes a multi all-or-nothing without copying anything but what it touches.
//!
//! Memory per node (the benchmark holds a million): one `Node` of 96 bytes in the slab, one
//! heap block holding the path followed by the data, 8–16 bytes of index, 4 bytes in the
//! parent's child list. Leaves own no child list, ACL lists are shared by number.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::acl::{AclId, AclTable};
use super::index::{Idx, PathIndex};
use super::node::pack;
pub(super) use super::node::{Kind, Node, MAX_PATH};

/// The inverse of one mutation, replayed newest-first on rollback.
#[derive(Debug)]
enum Undo {
    Created { idx: Idx, parent_cseq: i32, parent_pzxid: i64 },
    Deleted { node: Node, idx: Idx, parent_pzxid: i64 },
    Data { idx: Idx, buf: Box<[u8]>, null_data: bool, mzxid: i64, mtime: i64, version: i32 },
    Acl { idx: Idx, acl: AclId, aversion: i32 },
}

/// All znodes.
#[derive(Debug, Default)]
pub(super) struct Tree {
    slots: Vec<Option<Node>>,
    free: Vec<Idx>,
    index: PathIndex,
    pub(super) acls: AclTable,
    ephemerals: HashMap<i64, HashSet<Idx>>,
    /// Containers and TTL nodes: what the reaper looks at.
    timed: BTreeSet<Idx>,
    data_size: usize,
    undo: Option<Vec<Undo>>,
}

fn key_of(slots: &[Option<Node>], idx: Idx) -> &[u8] {
    match slots.get(idx as usize) {
        Some(Some(n)) => n.path_bytes(),
        _ => &[],
    }
}

/// The parent path of `path` as ZooKeeper computes it: up to the last `/`, `""` meaning `/`.
pub(super) fn parent_path(path: &str) -> Option<&str> {
    let i = path.rfind('/')?;
    Some(if i == 0 { "/" } else { &path[..i] })
}

impl Tree {
    pub(super) fn lookup(&self, path: &str) -> Option<Idx> {
        let slots = &self.slots;
        self.index.get(path.as_bytes(), |i| key_of(slots, i))
    }

    /// The node in slot `idx`, which must be live (indices come from `lookup` or a node).
    pub(super) fn node(&self, idx: Idx) -> &Node {
        self.slots[idx as usize].as_ref().expect("live node slot")
    }

    fn node_mut(&mut self, idx: Idx) -> &mut Node {
        self.slots[idx as usize].as_mut().expect("live node slot")
    }

    /// Direct access for tests that need unusual counter values.
    #[cfg(test)]
    pub(super) fn node_mut_for_tests(&mut self, idx: Idx) -> &mut Node {
        self.node_mut(idx)
    }

    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn data_size(&self) -> usize {
        self.data_size
    }

    /// The parent of node `idx` (`None` for the root).
    pub(super) fn parent_of(&self, idx: Idx) -> Option<Idx> {
        self.parent_by_path(self.node(idx).path())
    }

    fn parent_by_path(&self, path: &str) -> Option<Idx> {
        if path == "/" {
            return None;
        }
        parent_path(path).and_then(|p| self.lookup(p))
    }

    pub(super) fn child_names(&self, idx: Idx) -> Vec<String> {
        self.node(idx).children().iter().map(|&c| self.node(c).name().to_owned()).collect()
    }

    /// Number of nodes below `idx` (O(1) for the root, a walk of the subtree otherwise).
    pub(super) fn descendants(&self, idx: Idx) -> usize {
        if self.node(idx).path() == "/" {
            return self.len() - 1;
        }
        let mut stack = vec![idx];
        let mut count = 0;
        while let Some(i) = stack.pop() {
            let kids = self.node(i).children();
            count += kids.len();
            stack.extend_from_slice(kids);
        }
        count
    }

    /// Every node, parents before children (root first).
    pub(super) fn preorder(&self) -> Vec<Idx> {
        let mut out = Vec::with_capacity(self.len());
        let mut stack: Vec<Idx> = self.lookup("/").into_iter().collect();
        while let Some(i) = stack.pop() {
            out.push(i);
            stack.extend(self.node(i).children().iter().rev());
        }
        out
    }

    pub(super) fn ephemerals_of(&self, session: i64) -> Vec<Idx> {
        self.ephemerals.get(&session).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    pub(super) fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(HashSet::len).sum()
    }

    pub(super) fn timed(&self) -> impl Iterator<Item = Idx> + '_ {
        self.timed.iter().copied()
    }

    /// Places `node` (path not yet present) under `parent`, or as the root when `None`.
    /// Touches nothing of the parent but its child list.
    pub(super) fn attach(&mut self, mut node: Node, parent: Option<Idx>) -> Idx {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as Idx
            }
        };
        if let Some(p) = parent {
            let kids = self.node_mut(p).children.get_or_insert_with(Default::default);
            node.pos = kids.len() as u32;
            kids.push(idx);
        }
        self.install(node, idx);
        idx
    }

    /// Puts `node` into free slot `idx` and registers it everywhere but the parent's list.
    fn install(&mut self, node: Node, idx: Idx) {
        self.data_size += node.size();
        match node.kind() {
            Kind::Ephemeral => {
                self.ephemerals.entry(node.owner).or_default().insert(idx);
            }
            Kind::Container | Kind::Ttl => {
                self.timed.insert(idx);
            }
            Kind::Persistent => {}
        }
        self.slots[idx as usize] = Some(node);
        let Tree { slots, index, .. } = self;
        let path = key_of(slots, idx);
        index.insert(path, idx, |i| key_of(slots, i));
    }

    /// Removes leaf `idx` (a child of `parent`) from everything and frees its slot; the node
    /// keeps its `pos` so it can be put back exactly.
    fn detach(&mut self, idx: Idx, parent: Option<Idx>) -> Node {
        {
            let Tree { slots, index, .. } = self;
            let path = key_of(slots, idx);
            index.remove(path, |i| key_of(slots, i));
        }
        let node = self.slots[idx as usize].take().expect("live node slot");
        if let Some(parent) = parent {
            let parent = self.node_mut(parent);
            if let Some(kids) = parent.children.as_mut() {
                kids.swap_remove(node.pos as usize);
                let moved = kids.get(node.pos as usize).copied();
                if kids.is_empty() {
                    parent.children = None;
                }
                if let Some(m) = moved {
                    self.node_mut(m).pos = node.pos;
                }
            }
        }
        self.data_size -= node.size();
        match node.kind() {
            Kind::Ephemeral => {
                if let Some(set) = self.ephemerals.get_mut(&node.owner) {
                    set.remove(&idx);
                    if set.is_empty() {
                        self.ephemerals.remove(&node.owner);
                    }
                }
            }
            Kind::Container | Kind::Ttl => {
                self.timed.remove(&idx);
            }
            Kind::Persistent => {}
        }
        self.free.push(idx);
        node
    }

    /// Exactly reverses `detach`: same slot, same position in the parent's list.
    fn reattach(&mut self, node: Node, idx: Idx) {
        if let Some(p) = self.free.iter().rposition(|&f| f == idx) {
            self.free.swap_remove(p);
        }
        if let Some(parent) = self.parent_by_path(node.path()) {
            let pos = node.pos as usize;
            let kids = self.node_mut(parent).children.get_or_insert_with(Default::default);
            let displaced = kids.get(pos).copied();
            match displaced {
                Some(d) => {
                    kids.push(d);
                    kids[pos] = idx;
                    let last = (kids.len() - 1) as u32;
                    self.node_mut(d).pos = last;
                }
                None => kids.push(idx),
            }
        }
        self.install(node, idx);
    }

    fn record(&mut self, undo: Undo) -> Option<Undo> {
        match self.undo.as_mut() {
            Some(log) => {
                log.push(undo);
                None
            }
            None => Some(undo),
        }
    }

    /// Creates a child of `parent` in transaction `zxid`: the parent's C advances and its
    /// pzxid moves (§5.2, §5.3). `node.acl` is a reference the tree now owns.
    pub(super) fn create(&mut self, parent: Idx, node: Node, zxid: i64) -> Idx {
        let p = self.node_mut(parent);
        let (parent_cseq, parent_pzxid) = (p.cseq, p.pzxid);
        p.cseq = p.cseq.wrapping_add(1);
        p.pzxid = zxid;
        let idx = self.attach(node, Some(parent));
        self.record(Undo::Created { idx, parent_cseq, parent_pzxid });
        idx
    }

    /// Deletes leaf `idx`, a child of `parent` (the caller has it at hand), in transaction
    /// `zxid` (the parent's pzxid moves; C does not).
    pub(super) fn delete(&mut self, idx: Idx, parent: Option<Idx>, zxid: i64) {
        let parent_pzxid = match parent {
            Some(parent) => std::mem::replace(&mut self.node_mut(parent).pzxid, zxid),
            None => 0,
        };
        let node = self.detach(idx, parent);
        if let Some(Undo::Deleted { node, .. }) = self.record(Undo::Deleted { node, idx, parent_pzxid }) {
            self.acls.release(node.acl);
        }
    }

    pub(super) fn set_data(&mut self, idx: Idx, data: Option<&[u8]>, zxid: i64, time: i64) {
        let n = self.node_mut(idx);
        let old_size = n.size();
        let packed = pack(n.path(), data);
        let buf = std::mem::replace(&mut n.buf, packed);
        let undo = Undo::Data {
            idx,
            buf,
            null_data: n.null_data(),
            mzxid: n.mzxid,
            mtime: n.mtime,
            version: n.version,
        };
        n.set_null_data(data.is_none());
        n.version = n.version.wrapping_add(1);
        (n.mzxid, n.mtime) = (zxid, time);
        let new_size = n.size();
        self.data_size = self.data_size + new_size - old_size;
        self.record(undo);
    }

    /// Replaces the ACL with `acl` (a reference the tree now owns) and bumps aversion.
    pub(super) fn set_acl(&mut self, idx: Idx, acl: AclId) {
        let n = self.node_mut(idx);
        let undo = Undo::Acl { idx, acl: n.acl, aversion: n.aversion };
        n.acl = acl;
        n.aversion = n.aversion.wrapping_add(1);
        if let Some(Undo::Acl { acl, .. }) = self.record(undo) {
            self.acls.release(acl);
        }
    }

    /// Starts recording inverses (a multi begins).
    pub(super) fn begin(&mut self) {
        self.undo = Some(Vec::new());
    }

    /// Keeps every change since `begin`, releasing what the inverses held.
    pub(super) fn commit(&mut self) {
        for u in self.undo.take().unwrap_or_default() {
            match u {
                Undo::Deleted { node, .. } => self.acls.release(node.acl),
                Undo::Acl { acl, .. } => self.acls.release(acl),
                Undo::Created { .. } | Undo::Data { .. } => {}
            }
        }
    }

    /// Undoes every change since `begin`, newest first: the tree, counters, stats and indices
    /// are exactly as they were.
    pub(super) fn rollback(&mut self) {
        for u in self.undo.take().unwrap_or_default().into_iter().rev() {
            match u {
                Undo::Created { idx, parent_cseq, parent_pzxid } => {
                    let parent = self.parent_of(idx);
                    let node = self.detach(idx, parent);
                    self.acls.release(node.acl);
                    if let Some(parent) = parent {
                        let p = self.node_mut(parent);
                        (p.cseq, p.pzxid) = (parent_cseq, parent_pzxid);
                    }
                }
                Undo::Deleted { node, idx, parent_pzxid } => {
                    if let Some(parent) = self.parent_by_path(node.path()) {
                        self.node_mut(parent).pzxid = parent_pzxid;
                    }
                    self.reattach(node, idx);
                }
                Undo::Data { idx, buf, null_data, mzxid, mtime, version } => {
                    let n = self.node_mut(idx);
                    let old_size = n.size();
                    n.buf = buf;
                    n.set_null_data(null_data);
                    (n.mzxid, n.mtime, n.version) = (mzxid, mtime, version);
                    let new_size = n.size();
                    self.data_size = self.data_size + new_size - old_size;
                }
                Undo::Acl { idx, acl, aversion } => {
                    let n = self.node_mut(idx);
                    let current = std::mem::replace(&mut n.acl, acl);
                    n.aversion = aversion;
                    self.acls.release(current);
                }
            }
        }
    }

    /// Heap and slab bytes as the system allocator would hold them (for the memory test).
    #[cfg(test)]
    pub(super) fn approximate_heap(&self) -> usize {
        let slab = self.slots.capacity() * std::mem::size_of::<Option<Node>>();
        // glibc: 8 bytes of header, 16-byte granules, 32 bytes at least.
        let chunk = |n: usize| (n + 8).next_multiple_of(16).max(32);
        let bufs: usize = self.slots.iter().flatten().map(|n| chunk(n.buf.len())).sum();
        let kids: usize = self
            .slots
            .iter()
            .flatten()
            .filter_map(|n| n.children.as_ref())
            .map(|k| chunk(k.capacity() * 4) + 32)
            .sum();
        slab + bufs + kids + self.index.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_core::proto::Acl;

    fn tree() -> (Tree, Idx) {
        let mut t = Tree::default();
        let acl = t.acls.intern(&Acl::open_unsafe());
        let root = t.attach(Node::new("/", Some(b""), acl, Kind::Persistent, 0), None);
        (t, root)
    }

    fn add(t: &mut Tree, parent: Idx, path: &str, zxid: i64) -> Idx {
        let acl = t.acls.intern(&Acl::open_unsafe());
        t.create(parent, Node::new(path, Some(b"d"), acl, Kind::Persistent, 0).created(zxid, zxid * 10), zxid)
    }

    #[test]
    fn node_is_compact() {
        assert_eq!(std::mem::size_of::<Node>(), 96);
        assert_eq!(std::mem::size_of::<Option<Node>>(), 96);
    }

    #[test]
    fn stats_follow_creations_and_deletions() {
        let (mut t, root) = tree();
        let a = add(&mut t, root, "/a", 1);
        let b = add(&mut t, a, "/a/b", 2);
        add(&mut t, a, "/a/c", 3);
        t.delete(b, Some(a), 4);
        let s = t.node(a).stat();
        assert_eq!((s.cversion, s.num_children, s.pzxid, s.czxid, s.mzxid), (3, 1, 4, 1, 1));
        assert_eq!(t.node(a).cseq, 2);
        assert_eq!(t.child_names(a), ["c"]);
        assert_eq!(t.lookup("/a/b"), None);
        assert_eq!(t.descendants(root), 2);
        assert_eq!(t.node(t.lookup("/a/c").unwrap()).name(), "c");
    }

    #[test]
    fn rollback_restores_everything_exactly() {
        let (mut t, root) = tree();
        let a = add(&mut t, root, "/a", 1);
        for i in 0..5 {
            add(&mut t, a, &format!("/a/k{i}"), 2 + i);
        }
        let x = t.lookup("/a/k1").unwrap();
        let before: Vec<_> =
            t.preorder().iter().map(|&i| (t.node(i).path().to_owned(), t.node(i).stat())).collect();
        let order = t.node(a).children().to_vec();
        let (size, acls) = (t.data_size(), t.acls.len());
        t.begin();
        t.delete(x, Some(a), 9);
        add(&mut t, a, "/a/k1", 9);
        t.set_data(t.lookup("/a/k3").unwrap(), None, 9, 90);
        let other = t.acls.intern(&Acl::read_unsafe());
        t.set_acl(t.lookup("/a/k4").unwrap(), other);
        t.delete(t.lookup("/a/k0").unwrap(), Some(a), 9);
        add(&mut t, root, "/z", 9);
        t.rollback();
        let after: Vec<_> =
            t.preorder().iter().map(|&i| (t.node(i).path().to_owned(), t.node(i).stat())).collect();
        assert_eq!(after, before);
        assert_eq!(t.node(a).children(), &order[..], "child order and slots restored");
        assert_eq!((t.data_size(), t.acls.len(), t.node(a).cseq), (size, acls, 5));
        for (i, &c) in order.iter().enumerate() {
            assert_eq!(t.node(c).pos as usize, i);
            assert_eq!(t.lookup(t.node(c).path()), Some(c));
        }
    }

    #[test]
    fn commit_keeps_changes_and_frees_acls() {
        let (mut t, root) = tree();
        let a = add(&mut t, root, "/a", 1);
        let other = t.acls.intern(&Acl::read_unsafe());
        t.set_acl(a, other);
        assert_eq!(t.acls.len(), 2);
        t.begin();
        let open = t.acls.intern(&Acl::open_unsafe());
        t.set_acl(a, open);
        t.commit();
        assert_eq!((t.acls.len(), t.node(a).aversion), (1, 2));
        t.begin();
        t.delete(a, Some(root), 5);
        t.commit();
        assert_eq!((t.len(), t.node(root).num_children()), (1, 0));
    }
}
