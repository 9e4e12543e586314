//! Server-side watch tables (§7): one entry per (path, connection) holding mode bits for both
//! tables, data and child. How a new registration meets an older one on the same path depends
//! on the release: 3.9 keeps both (a standard and a persistent watch coexist, ZOOKEEPER-4466);
//! 3.6-3.8 keep one mode per table, the last registered, and file a recursive watch in the
//! child table as well ([`Watches::new`]'s `replace`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use zk_core::proto::{EventType, WatcherType};

use super::tree::parent_path;
use super::ConnId;

/// One-shot data watch (exists / getData): data table.
pub(super) const DATA: u8 = 1;
/// One-shot child watch (getChildren): child table.
pub(super) const CHILD: u8 = 2;
/// addWatch mode 0, its data-table entry: never consumed.
const PERSISTENT_DATA: u8 = 4;
/// addWatch mode 1, its data-table entry: also fires for descendants, never consumed.
pub(super) const RECURSIVE: u8 = 8;
/// addWatch mode 0, its child-table entry.
const PERSISTENT_CHILD: u8 = 16;
/// addWatch mode 1 on 3.6-3.8, its child-table entry: it fires for nothing the data-table
/// entry does not (recursive entries never get NodeChildrenChanged), but it takes the child
/// table's place of a getChildren watch of the same connection.
const RECURSIVE_CHILD: u8 = 32;
/// addWatch mode 0: in both tables.
pub(super) const PERSISTENT: u8 = PERSISTENT_DATA | PERSISTENT_CHILD;

const IN_DATA: u8 = DATA | PERSISTENT_DATA | RECURSIVE;
const IN_CHILD: u8 = CHILD | PERSISTENT_CHILD | RECURSIVE_CHILD;
const ANY_RECURSIVE: u8 = RECURSIVE | RECURSIVE_CHILD;

/// Every connection's watches.
#[derive(Debug, Default)]
pub(super) struct Watches {
    by_path: HashMap<Arc<str>, Vec<(ConnId, u8)>>,
    by_conn: HashMap<ConnId, HashSet<Arc<str>>>,
    /// Entries with a recursive bit: while 0, triggers skip the ancestor walk.
    recursive: usize,
    /// 3.6-3.8: a registration replaces the connection's mode in each table it goes in.
    replace: bool,
}

impl Watches {
    /// Empty tables; `replace` for the 3.6-3.8 behaviour (one mode per connection, path and
    /// table: the last registration's), else 3.9's (modes coexist).
    pub(super) fn new(replace: bool) -> Watches {
        Watches { replace, ..Watches::default() }
    }

    /// The bits a checkWatches / removeWatches type addresses (§7.6). On 3.8 the Data and
    /// Children types address the whole table entry, whatever its mode, as its WatchManager
    /// removes a watcher from a table regardless of mode.
    fn type_bits(&self, t: WatcherType) -> u8 {
        match t {
            WatcherType::Children if self.replace => IN_CHILD,
            WatcherType::Data if self.replace => IN_DATA,
            WatcherType::Children => CHILD,
            WatcherType::Data => DATA,
            WatcherType::Any => IN_DATA | IN_CHILD,
            WatcherType::Persistent => PERSISTENT,
            WatcherType::PersistentRecursive => ANY_RECURSIVE,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// Registers `bits` for `conn` on `path` (idempotent): added to what the entry holds, or,
    /// with `replace`, in place of what it holds in each table `bits` go in.
    pub(super) fn add(&mut self, conn: ConnId, path: &str, bits: u8) {
        let (bits, keep) = if self.replace {
            let bits = if bits & RECURSIVE != 0 { bits | RECURSIVE_CHILD } else { bits };
            let mut keep = !0;
            if bits & IN_DATA != 0 {
                keep &= !IN_DATA;
            }
            if bits & IN_CHILD != 0 {
                keep &= !IN_CHILD;
            }
            (bits, keep)
        } else {
            (bits, !0)
        };
        let key: Arc<str> = match self.by_path.get_key_value(path) {
            Some((k, _)) => k.clone(),
            None => Arc::from(path),
        };
        let entries = self.by_path.entry(key.clone()).or_default();
        let old = match entries.iter_mut().find(|(c, _)| *c == conn) {
            Some((_, b)) => std::mem::replace(b, (*b & keep) | bits),
            None => {
                entries.push((conn, bits));
                0
            }
        };
        let new = (old & keep) | bits;
        match (old & ANY_RECURSIVE != 0, new & ANY_RECURSIVE != 0) {
            (false, true) => self.recursive += 1,
            (true, false) => self.recursive -= 1,
            _ => {}
        }
        self.by_conn.entry(conn).or_default().insert(key);
    }

    /// Clears `bits` of `conn`'s entry on `path`; returns the bits that were set.
    fn clear(&mut self, conn: ConnId, path: &str, bits: u8) -> u8 {
        let Some(entries) = self.by_path.get_mut(path) else { return 0 };
        let Some(pos) = entries.iter().position(|(c, _)| *c == conn) else { return 0 };
        let before = entries[pos].1;
        let had = before & bits;
        entries[pos].1 &= !bits;
        if before & ANY_RECURSIVE != 0 && entries[pos].1 & ANY_RECURSIVE == 0 {
            self.recursive -= 1;
        }
        if entries[pos].1 == 0 {
            entries.swap_remove(pos);
            if entries.is_empty() {
                self.by_path.remove(path);
            }
            if let Some(paths) = self.by_conn.get_mut(&conn) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
        }
        had
    }

    /// removeWatches: whether anything of that type was removed.
    pub(super) fn remove(&mut self, conn: ConnId, path: &str, t: WatcherType) -> bool {
        self.clear(conn, path, self.type_bits(t)) != 0
    }

    /// checkWatches: whether such an entry exists (nothing is removed).
    pub(super) fn check(&self, conn: ConnId, path: &str, t: WatcherType) -> bool {
        let entries = self.by_path.get(path).map_or(&[][..], Vec::as_slice);
        entries.iter().any(|&(c, b)| c == conn && b & self.type_bits(t) != 0)
    }

    /// Forgets everything `conn` watches.
    pub(super) fn remove_conn(&mut self, conn: ConnId) {
        for path in self.by_conn.remove(&conn).unwrap_or_default() {
            let Some(entries) = self.by_path.get_mut(&path) else { continue };
            if let Some(pos) = entries.iter().position(|(c, _)| *c == conn) {
                if entries[pos].1 & ANY_RECURSIVE != 0 {
                    self.recursive -= 1;
                }
                entries.swap_remove(pos);
            }
            if entries.is_empty() {
                self.by_path.remove(&path);
            }
        }
    }

    /// Watches as `wchs` counts them: an entry counts once per table it is in.
    pub(super) fn count(&self) -> usize {
        let per = |b: u8| usize::from(b & IN_DATA != 0) + usize::from(b & IN_CHILD != 0);
        self.by_path.values().flatten().map(|&(_, b)| per(b)).sum()
    }

    /// Each watching connection with its watched paths, both sorted.
    pub(super) fn by_conn(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut out: Vec<(ConnId, Vec<String>)> = self
            .by_conn
            .iter()
            .map(|(&c, paths)| {
                let mut p: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
                p.sort();
                (c, p)
            })
            .collect();
        out.sort();
        out
    }

    /// The connections that receive `event` on `path` (§7.2), each once; one-shot entries that
    /// fire are consumed. NodeCreated / NodeDataChanged: data table on `path` plus recursive
    /// entries on ancestors. NodeDeleted: both tables on `path` plus recursive ancestors (in
    /// either table). NodeChildrenChanged: child table on `path` only (recursive watches never
    /// get it).
    pub(super) fn trigger(&mut self, event: EventType, path: &str) -> Vec<ConnId> {
        let (hit, consume, ancestors) = match event {
            EventType::NodeCreated | EventType::NodeDataChanged => (IN_DATA, DATA, RECURSIVE),
            EventType::NodeDeleted => (IN_DATA | IN_CHILD, DATA | CHILD, ANY_RECURSIVE),
            EventType::NodeChildrenChanged => (CHILD | PERSISTENT_CHILD, CHILD, 0),
            _ => return Vec::new(),
        };
        let mut out = Vec::new();
        if let Some(entries) = self.by_path.get(path) {
            out.extend(entries.iter().filter(|(_, b)| b & hit != 0).map(|&(c, _)| c));
            let consumed: Vec<ConnId> =
                entries.iter().filter(|(_, b)| b & consume != 0).map(|&(c, _)| c).collect();
            for c in consumed {
                self.clear(c, path, consume);
            }
        }
        if self.recursive > 0 && ancestors != 0 {
            let mut seen: HashSet<ConnId> = out.iter().copied().collect();
            let mut p = path;
            while p != "/" {
                let Some(parent) = parent_path(p) else { break };
                for &(c, b) in self.by_path.get(parent).map_or(&[][..], Vec::as_slice) {
                    if b & ancestors != 0 && seen.insert(c) {
                        out.push(c);
                    }
                }
                p = parent;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::*;

    #[test]
    fn one_shot_entries_fire_once() {
        let mut w = Watches::default();
        w.add(1, "/a", DATA);
        w.add(2, "/a", CHILD);
        assert_eq!(w.count(), 2);
        assert_eq!(w.trigger(NodeDataChanged, "/a"), [1]);
        assert_eq!(w.trigger(NodeDataChanged, "/a"), Vec::<ConnId>::new());
        assert_eq!(w.trigger(NodeChildrenChanged, "/a"), [2]);
        assert!(w.is_empty());
    }

    #[test]
    fn deleted_reaches_both_tables_once_per_connection() {
        let mut w = Watches::default();
        w.add(1, "/a", DATA);
        w.add(1, "/a", CHILD);
        w.add(2, "/a", CHILD);
        w.add(3, "/", RECURSIVE);
        w.add(1, "/", RECURSIVE);
        assert_eq!(w.trigger(NodeDeleted, "/a"), [1, 2, 3]);
        assert_eq!(w.trigger(NodeDeleted, "/a"), [3, 1]);
    }

    #[test]
    fn persistent_and_standard_coexist() {
        let mut w = Watches::default();
        w.add(1, "/a", PERSISTENT);
        w.add(1, "/a", DATA);
        assert_eq!(w.count(), 2, "one entry in each table");
        assert_eq!(w.trigger(NodeDataChanged, "/a"), [1]);
        assert!(w.check(1, "/a", WatcherType::Persistent));
        assert!(!w.check(1, "/a", WatcherType::Data), "the standard one was consumed");
        assert_eq!(w.trigger(NodeChildrenChanged, "/a"), [1]);
        assert_eq!(w.trigger(NodeCreated, "/a"), [1]);
    }

    #[test]
    fn recursive_watches_see_descendants_but_not_child_events() {
        let mut w = Watches::default();
        w.add(1, "/a", RECURSIVE);
        assert_eq!(w.trigger(NodeCreated, "/a/b/c"), [1]);
        assert_eq!(w.trigger(NodeDataChanged, "/a"), [1]);
        assert_eq!(w.trigger(NodeChildrenChanged, "/a"), Vec::<ConnId>::new());
        assert_eq!(w.trigger(NodeCreated, "/ab"), Vec::<ConnId>::new(), "a prefix is not an ancestor");
        w.add(2, "/", RECURSIVE);
        assert_eq!(w.trigger(NodeDeleted, "/x"), [2]);
        assert_eq!(w.trigger(NodeDeleted, "/"), [2]);
        assert_eq!(w.count(), 2);
    }

    #[test]
    fn remove_check_and_connection_close() {
        let mut w = Watches::default();
        w.add(1, "/a", DATA | CHILD | PERSISTENT);
        w.add(1, "/b", RECURSIVE);
        w.add(2, "/a", DATA);
        assert!(w.check(1, "/a", WatcherType::Children));
        assert!(w.remove(1, "/a", WatcherType::Children));
        assert!(!w.remove(1, "/a", WatcherType::Children));
        assert!(!w.check(1, "/a", WatcherType::PersistentRecursive));
        assert!(w.remove(1, "/a", WatcherType::Any));
        assert!(!w.check(1, "/a", WatcherType::Any));
        assert_eq!(w.by_conn(), vec![(1, vec!["/b".to_owned()]), (2, vec!["/a".to_owned()])]);
        w.remove_conn(1);
        assert_eq!(w.recursive, 0);
        assert_eq!(w.by_conn(), vec![(2, vec!["/a".to_owned()])]);
        w.remove_conn(2);
        assert!(w.is_empty() && w.by_conn.is_empty());
    }

    #[test]
    fn on_3_8_the_last_registration_replaces_the_mode_of_each_table() {
        let mut w = Watches::new(true);
        w.add(1, "/a", PERSISTENT);
        w.add(1, "/a", DATA);
        assert_eq!(w.trigger(NodeDataChanged, "/a"), [1]);
        assert_eq!(
            w.trigger(NodeDataChanged, "/a"),
            Vec::<ConnId>::new(),
            "the persistent data entry was replaced"
        );
        assert_eq!(w.trigger(NodeChildrenChanged, "/a"), [1], "the child table kept it");
        assert!(!w.check(1, "/a", WatcherType::Data));
        assert!(w.check(1, "/a", WatcherType::Children), "3.8 checks a table whatever the mode");

        // A one-shot entry turned persistent stays.
        w.add(2, "/b", DATA);
        w.add(2, "/b", PERSISTENT);
        for _ in 0..3 {
            assert_eq!(w.trigger(NodeDataChanged, "/b"), [2]);
        }

        // A recursive watch takes the child table's place of a getChildren watch.
        w.add(3, "/c", CHILD);
        w.add(3, "/c", RECURSIVE);
        assert_eq!(w.trigger(NodeChildrenChanged, "/c"), Vec::<ConnId>::new());
        assert_eq!(w.trigger(NodeCreated, "/c/x"), [3]);
        assert_eq!(w.count(), 5, "/a: child; /b: data and child; /c: recursive in both tables");
        assert!(w.remove(3, "/c", WatcherType::Any));
        assert_eq!(w.recursive, 0);
        assert_eq!(w.trigger(NodeDeleted, "/c/x"), Vec::<ConnId>::new());
    }
}
