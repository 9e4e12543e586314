//! The client-side watch registry: which local watchers wait on which path, and the dispatch
//! rules of §7 of the protocol reference.
//!
//! Paths here are server paths (chroot included); they are turned into client paths when an
//! event is handed out.

use std::collections::{HashMap, HashSet};

use tokio::sync::{mpsc, oneshot};

use super::multiplex::{Plan, Strong};
use crate::error::{Error, Result};
use crate::path::Chroot;
use crate::proto::{ErrorCode, EventType, SetWatches, SetWatches2, WatcherType};

/// A watch notification as delivered to a watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// What happened.
    pub event_type: EventType,
    /// The node it happened to (chroot removed).
    pub path: String,
    /// The zxid of the change (ZooKeeper 3.9+); -1 when the server does not say (3.8) and for
    /// events the client makes up (watch removal).
    pub zxid: i64,
}

/// The local buckets, as in the Java client (§7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum WatchKind {
    /// getData, or exists on an existing node.
    Data,
    /// exists on a missing node.
    Exist,
    /// getChildren.
    Child,
    /// addWatch PERSISTENT.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE.
    Recursive,
}

pub(crate) type OneShotTx = oneshot::Sender<Result<WatchedEvent>>;
/// A persistent watcher's channel: events, then the error that ended the session, if one did.
pub(crate) type PersistTx = mpsc::UnboundedSender<Result<WatchedEvent>>;

/// A registration that takes effect when the reply of its request arrives.
#[derive(Debug)]
pub(crate) enum WatchReg {
    /// A one-shot watch; `on_ok` is the bucket when the request succeeds; `exist_on_nonode`
    /// registers an exist watch when an `exists` call finds no node; `local` when the
    /// request was sent without the watch flag, the path's registration covering it.
    OneShot { path: String, id: u64, on_ok: WatchKind, exist_on_nonode: bool, local: bool, tx: OneShotTx },
    /// A persistent or recursive watch (addWatch); `sent` is the registration asked of the
    /// server (set when the request is written).
    Persistent { path: String, id: u64, recursive: bool, sent: Option<Strong>, tx: PersistTx },
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    data: HashMap<String, Vec<(u64, OneShotTx)>>,
    exist: HashMap<String, Vec<(u64, OneShotTx)>>,
    child: HashMap<String, Vec<(u64, OneShotTx)>>,
    persistent: HashMap<String, Vec<(u64, PersistTx)>>,
    recursive: HashMap<String, Vec<(u64, PersistTx)>>,
    /// Paths whose server-side removal waits for their in-flight registrations to complete
    /// (a watcher there was dropped meanwhile): the server-side watch those requests set must
    /// not be removed because an older watcher on the same path was dropped. What is in flight
    /// is the connection's to know; callers tell it to [`Registry::register`] and
    /// [`Registry::unregister`].
    deferred: HashSet<String>,
    /// The persistent and recursive registrations that cover every watcher on their path.
    pub(crate) plan: Plan,
}

impl WatchReg {
    /// The server path the watch is set on.
    pub(crate) fn path(&self) -> &str {
        match self {
            WatchReg::OneShot { path, .. } | WatchReg::Persistent { path, .. } => path,
        }
    }

    /// The bucket the watch goes into after a reply (`ok` = err 0, `nonode` = NONODE), or
    /// `None` when that reply sets no watch.
    fn kind_on_reply(&self, ok: bool, nonode: bool) -> Option<WatchKind> {
        match *self {
            WatchReg::OneShot { on_ok, .. } if ok => Some(on_ok),
            WatchReg::OneShot { exist_on_nonode: true, .. } if nonode => Some(WatchKind::Exist),
            WatchReg::OneShot { .. } => None,
            WatchReg::Persistent { recursive: true, .. } if ok => Some(WatchKind::Recursive),
            WatchReg::Persistent { .. } if ok => Some(WatchKind::Persistent),
            WatchReg::Persistent { .. } => None,
        }
    }

    /// Whether the caller dropped its future already: nobody will ever hold the watcher.
    fn abandoned(&self) -> bool {
        match self {
            WatchReg::OneShot { tx, .. } => tx.is_closed(),
            WatchReg::Persistent { tx, .. } => tx.is_closed(),
        }
    }
}

fn fire(slots: Option<Vec<(u64, OneShotTx)>>, ev: &WatchedEvent) {
    for (_, tx) in slots.into_iter().flatten() {
        let _ = tx.send(Ok(ev.clone()));
    }
}

fn notify(slots: Option<&mut Vec<(u64, PersistTx)>>, ev: &WatchedEvent) {
    if let Some(v) = slots {
        // Watchers whose stream was dropped are pruned here as well as by their Drop.
        v.retain(|(_, tx)| tx.send(Ok(ev.clone())).is_ok());
    }
}

impl Registry {
    /// The connection is gone, and with it whatever was in flight: removals waiting for it
    /// are moot.
    pub(crate) fn connection_lost(&mut self) {
        // The server forgets this connection's watches; the next ones come from SetWatches.
        self.deferred.clear();
        self.plan.connection_lost();
    }

    /// A request carrying `reg` is about to be written as `frame`: plans it against the
    /// path's registration (see [`super::multiplex`]), which may rewrite its watch flag or
    /// addWatch mode.
    pub(crate) fn prepare(&mut self, reg: &mut WatchReg, frame: &mut [u8]) {
        match reg {
            WatchReg::OneShot { path, local, .. } => *local = self.plan.plan_one_shot(path, frame),
            WatchReg::Persistent { path, recursive, sent, .. } => {
                let want = if *recursive { Strong::Recursive } else { Strong::Persistent };
                *sent = Some(self.plan.plan_strong(path, want, frame));
            }
        }
    }

    /// Completes a registration after its request's reply (`ok` = err 0, `nonode` = NONODE).
    ///
    /// When the caller dropped its future before the reply (nobody will ever hold the
    /// watcher), the watch is not kept; returns the server-side removal to send then, as
    /// [`Registry::unregister`] does for a dropped watcher.
    ///
    /// `in_flight(path)` tells whether other requests setting a watch on `path` are written
    /// but not yet answered (this one's excluded); it is asked only when a removal on that
    /// path waits for them or the watcher was abandoned.
    pub(crate) fn register(
        &mut self,
        reg: WatchReg,
        err: i32,
        in_flight: impl Fn(&str) -> bool,
    ) -> Option<(String, WatcherType)> {
        let (ok, nonode) = (err == 0, err == ErrorCode::NoNode.code());
        if let WatchReg::Persistent { path, sent, recursive, .. } = &reg {
            let result = if ok { Ok(()) } else { Err(Error::from_code(err)) };
            // Not planned (written without `prepare`): it asked for what it wanted.
            let want = if *recursive { Strong::Recursive } else { Strong::Persistent };
            self.plan.strong_replied(path, sent.unwrap_or(want), result);
        }
        let kind = reg.kind_on_reply(ok, nonode)?;
        let abandoned = reg.abandoned();
        if let WatchReg::OneShot { path, id, local: true, tx, .. } = reg {
            // Sent without the watch flag: it set nothing on the server to remove.
            match self.plan.uncovered(&path) {
                _ if abandoned => {}
                Some(e) => {
                    let _ = tx.send(Err(e));
                }
                None => self.one_shot_map(kind).entry(path.clone()).or_default().push((id, tx)),
            }
            // A removal of the path's registration may have waited for this reply.
            if !self.deferred.contains(&path) || in_flight(&path) {
                return None;
            }
            self.deferred.remove(&path);
            return self.unused_on_server(&path).map(|wt| (path, wt));
        }
        let deferred = self.deferred.contains(reg.path());
        if !abandoned && !deferred {
            // The common case: the path moves into the table, nothing to decide.
            self.insert(kind, reg);
            return None;
        }
        let path = reg.path().to_owned();
        // An abandoned watcher is never inserted: it counts as registered and dropped at once.
        if !abandoned {
            self.insert(kind, reg);
        }
        if in_flight(&path) {
            if abandoned {
                // A registration in flight may set the server's watch again: decide once it is in.
                self.deferred.insert(path);
            }
            return None;
        }
        let removal = if deferred {
            self.deferred.remove(&path);
            self.unused_on_server(&path)
        } else {
            self.removal_after(kind, &path)
        };
        removal.map(|wt| (path, wt))
    }

    /// Puts the watcher of `reg` into the table of `kind`, moving its path in.
    fn insert(&mut self, kind: WatchKind, reg: WatchReg) {
        match reg {
            WatchReg::OneShot { path, id, tx, .. } => {
                self.one_shot_map(kind).entry(path).or_default().push((id, tx));
            }
            WatchReg::Persistent { path, id, tx, .. } => {
                let map =
                    if kind == WatchKind::Recursive { &mut self.recursive } else { &mut self.persistent };
                map.entry(path).or_default().push((id, tx));
            }
        }
    }

    /// The widest removal that no local watcher on `path` still needs, for a removal that
    /// was deferred while registrations were in flight.
    fn unused_on_server(&mut self, path: &str) -> Option<WatcherType> {
        if self.plan.planned(path).is_some() {
            return self.drop_registration(path);
        }
        match self.usage(path) {
            (false, false, false) => Some(WatcherType::Any),
            (false, true, false) => Some(WatcherType::Data),
            (true, false, false) => Some(WatcherType::Children),
            _ => None,
        }
    }

    /// Which local watchers on `path` still need a server-side watch there:
    /// `(data_used, child_used, persist_used)` for data or exist, child, and persistent or
    /// recursive watchers.
    fn usage(&self, path: &str) -> (bool, bool, bool) {
        let data_used = self.data.contains_key(path) || self.exist.contains_key(path);
        let child_used = self.child.contains_key(path);
        let persist_used = self.persistent.contains_key(path) || self.recursive.contains_key(path);
        (data_used, child_used, persist_used)
    }

    fn one_shot_map(&mut self, kind: WatchKind) -> &mut HashMap<String, Vec<(u64, OneShotTx)>> {
        match kind {
            WatchKind::Data => &mut self.data,
            WatchKind::Exist => &mut self.exist,
            _ => &mut self.child,
        }
    }

    /// Delivers a server notification to every watcher it concerns (§7.2).
    pub(crate) fn dispatch(&mut self, event_type: EventType, server_path: &str, zxid: i64, chroot: &Chroot) {
        if event_type == EventType::NodeChildrenChanged && self.plan.ignores_children_changed(server_path) {
            // Derived from the children's own events instead (see `multiplex`).
            return;
        }
        self.deliver(event_type, server_path, zxid, chroot);
        if matches!(event_type, EventType::NodeCreated | EventType::NodeDeleted) && server_path != "/" {
            let parent = crate::path::parent(server_path);
            if self.plan.derives_children_changed(parent) {
                self.deliver(EventType::NodeChildrenChanged, parent, zxid, chroot);
            }
        }
    }

    /// Hands one event to every local watcher it concerns.
    fn deliver(&mut self, event_type: EventType, server_path: &str, zxid: i64, chroot: &Chroot) {
        let ev = WatchedEvent { event_type, path: chroot.to_client(server_path), zxid };
        match event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                fire(self.data.remove(server_path), &ev);
                fire(self.exist.remove(server_path), &ev);
            }
            EventType::NodeDeleted => {
                fire(self.data.remove(server_path), &ev);
                fire(self.exist.remove(server_path), &ev);
                fire(self.child.remove(server_path), &ev);
            }
            EventType::NodeChildrenChanged => {
                fire(self.child.remove(server_path), &ev);
            }
            _ => return,
        }
        notify(self.persistent.get_mut(server_path), &ev);
        // Recursive watches never see NodeChildrenChanged (ZOOKEEPER-4475), but see every
        // other change at or below their path.
        if event_type != EventType::NodeChildrenChanged && !self.recursive.is_empty() {
            let mut p = server_path;
            loop {
                notify(self.recursive.get_mut(p), &ev);
                if p == "/" {
                    break;
                }
                p = crate::path::parent(p);
            }
        }
        self.persistent.retain(|_, v| !v.is_empty());
        self.recursive.retain(|_, v| !v.is_empty());
    }

    /// Forgets one watcher (its handle was dropped). Returns the server-side removal to send,
    /// if no other local watcher still needs the server's watch on that path.
    ///
    /// `in_flight()` tells whether a request setting a watch on `path` is written but not yet
    /// answered; it is asked only when the watcher was still registered.
    pub(crate) fn unregister(
        &mut self,
        kind: WatchKind,
        path: &str,
        id: u64,
        in_flight: impl FnOnce() -> bool,
    ) -> Option<WatcherType> {
        let removed = match kind {
            WatchKind::Persistent => remove_id(&mut self.persistent, path, id),
            WatchKind::Recursive => remove_id(&mut self.recursive, path, id),
            k => remove_id(self.one_shot_map(k), path, id),
        };
        if !removed {
            return None;
        }
        if in_flight() {
            // A registration in flight may set the server's watch again: decide once it is in.
            self.deferred.insert(path.to_owned());
            return None;
        }
        self.removal_after(kind, path)
    }

    /// The server-side removal to send once a watcher of `kind` on `path` is gone: the one
    /// no other local watcher on that path still needs, if any.
    fn removal_after(&mut self, kind: WatchKind, path: &str) -> Option<WatcherType> {
        if self.plan.planned(path).is_some() {
            return self.drop_registration(path);
        }
        let (data_used, child_used, persist_used) = self.usage(path);
        match kind {
            WatchKind::Data | WatchKind::Exist if !data_used && !persist_used => Some(WatcherType::Data),
            WatchKind::Child if !child_used && !persist_used => Some(WatcherType::Children),
            // 3.8 servers do not know WatcherType 4/5; ANY is understood by every version and
            // is only safe when nothing else on the path is still wanted.
            WatchKind::Persistent | WatchKind::Recursive if !data_used && !child_used && !persist_used => {
                Some(WatcherType::Any)
            }
            _ => None,
        }
    }

    /// The removal of a path's persistent or recursive registration, once no watcher on the
    /// path needs it any more (it covers them all: never downgraded before).
    fn drop_registration(&mut self, path: &str) -> Option<WatcherType> {
        if self.usage(path) != (false, false, false) {
            return None;
        }
        self.plan.dropped(path);
        Some(WatcherType::Any)
    }

    /// Removes local watchers after a successful `removeWatches`, telling each one.
    pub(crate) fn remove_local(&mut self, path: &str, wt: WatcherType, chroot: &Chroot) {
        if matches!(wt, WatcherType::Any | WatcherType::Persistent | WatcherType::PersistentRecursive) {
            self.plan.dropped(path);
        }
        let client_path = chroot.to_client(path);
        let ev = |t| WatchedEvent { event_type: t, path: client_path.clone(), zxid: -1 };
        if matches!(wt, WatcherType::Data | WatcherType::Any) {
            fire(self.data.remove(path), &ev(EventType::DataWatchRemoved));
            fire(self.exist.remove(path), &ev(EventType::DataWatchRemoved));
        }
        if matches!(wt, WatcherType::Children | WatcherType::Any) {
            fire(self.child.remove(path), &ev(EventType::ChildWatchRemoved));
        }
        let persist = |m: &mut HashMap<String, Vec<(u64, PersistTx)>>| {
            for (_, tx) in m.remove(path).into_iter().flatten() {
                let _ = tx.send(Ok(ev(EventType::PersistentWatchRemoved)));
            }
        };
        if matches!(wt, WatcherType::Persistent | WatcherType::Any) {
            persist(&mut self.persistent);
        }
        if matches!(wt, WatcherType::PersistentRecursive | WatcherType::Any) {
            persist(&mut self.recursive);
        }
    }

    /// The SetWatches (or SetWatches2) requests that re-register everything after a
    /// reconnect, each under 128 KiB of path text like the Java client.
    pub(crate) fn set_watches(&mut self, relative_zxid: i64) -> Vec<SetWatchesReq> {
        self.prune();
        const BATCH: usize = 128 * 1024;
        let lists = [&self.data, &self.exist, &self.child];
        let mut out = Vec::new();
        let mut cur = SetWatches2 { relative_zxid, ..Default::default() };
        let mut size = 0;
        let push = |cur: &mut SetWatches2, size: &mut usize, which: usize, p: &String| {
            let v = match which {
                0 => &mut cur.data_watches,
                1 => &mut cur.exist_watches,
                2 => &mut cur.child_watches,
                3 => &mut cur.persistent_watches,
                _ => &mut cur.persistent_recursive_watches,
            };
            v.push(p.clone());
            *size += p.len();
        };
        let flush = |cur: &mut SetWatches2, out: &mut Vec<SetWatchesReq>| {
            let done = std::mem::replace(cur, SetWatches2 { relative_zxid, ..Default::default() });
            if done.persistent_watches.is_empty() && done.persistent_recursive_watches.is_empty() {
                out.push(SetWatchesReq::V1(SetWatches {
                    relative_zxid,
                    data_watches: done.data_watches,
                    exist_watches: done.exist_watches,
                    child_watches: done.child_watches,
                }));
            } else {
                out.push(SetWatchesReq::V2(done));
            }
        };
        // Each held registration once, as the server held it (it covers the path's persistent
        // and recursive watchers); one-shot watchers on those paths are listed too, for their
        // catch-up events.
        let held: Vec<(String, Strong)> = self.plan.held_paths().map(|(p, s)| (p.clone(), s)).collect();
        let all = lists
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.keys().map(move |k| (i, k)))
            .chain(held.iter().map(|(p, s)| (if *s == Strong::Recursive { 4 } else { 3 }, p)));
        for (which, p) in all {
            if size + p.len() > BATCH && size > 0 {
                flush(&mut cur, &mut out);
                size = 0;
            }
            push(&mut cur, &mut size, which, p);
        }
        if size > 0 {
            flush(&mut cur, &mut out);
        }
        out
    }

    /// Drops registrations whose watcher handle is gone, and the paths no watcher needs.
    fn prune(&mut self) {
        self.prune_watchers();
        let usage: Vec<String> = self.plan.held_paths().map(|(p, _)| p.clone()).collect();
        let unused: HashSet<String> =
            usage.into_iter().filter(|p| self.usage(p) == (false, false, false)).collect();
        self.plan.retain(|p| !unused.contains(p));
    }

    fn prune_watchers(&mut self) {
        for m in [&mut self.data, &mut self.exist, &mut self.child] {
            m.retain(|_, v| {
                v.retain(|(_, tx)| !tx.is_closed());
                !v.is_empty()
            });
        }
        for m in [&mut self.persistent, &mut self.recursive] {
            m.retain(|_, v| {
                v.retain(|(_, tx)| !tx.is_closed());
                !v.is_empty()
            });
        }
    }

    /// The session is over: every watcher learns why (a persistent stream's last item).
    pub(crate) fn fail_all(&mut self, err: &Error) {
        for m in [&mut self.data, &mut self.exist, &mut self.child] {
            for (_, tx) in m.drain().flat_map(|(_, v)| v) {
                let _ = tx.send(Err(err.clone()));
            }
        }
        for m in [&mut self.persistent, &mut self.recursive] {
            for (_, tx) in m.drain().flat_map(|(_, v)| v) {
                let _ = tx.send(Err(err.clone()));
            }
        }
        self.deferred.clear();
        self.plan.clear();
    }

    /// Number of local watchers.
    pub(crate) fn len(&self) -> usize {
        let a: usize = [&self.data, &self.exist, &self.child]
            .iter()
            .map(|m| m.values().map(Vec::len).sum::<usize>())
            .sum();
        let b: usize =
            [&self.persistent, &self.recursive].iter().map(|m| m.values().map(Vec::len).sum::<usize>()).sum();
        a + b
    }
}

fn remove_id<T>(m: &mut HashMap<String, Vec<(u64, T)>>, path: &str, id: u64) -> bool {
    let Some(v) = m.get_mut(path) else { return false };
    let before = v.len();
    v.retain(|(i, _)| *i != id);
    let removed = v.len() != before;
    if v.is_empty() {
        m.remove(path);
    }
    removed
}

/// One re-registration request.
#[derive(Debug)]
pub(crate) enum SetWatchesReq {
    V1(SetWatches),
    V2(SetWatches2),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_shot(
        reg: &mut Registry,
        path: &str,
        id: u64,
        on_ok: WatchKind,
        ok: bool,
    ) -> oneshot::Receiver<Result<WatchedEvent>> {
        let (tx, rx) = oneshot::channel();
        reg.register(
            WatchReg::OneShot { path: path.into(), id, on_ok, exist_on_nonode: true, local: false, tx },
            if ok { 0 } else { -101 },
            |_| false,
        );
        rx
    }

    #[test]
    fn one_shot_fires_once_and_by_kind() {
        let mut r = Registry::default();
        let c = Chroot::default();
        let mut data = one_shot(&mut r, "/a", 1, WatchKind::Data, true);
        let mut child = one_shot(&mut r, "/a", 2, WatchKind::Child, true);
        let mut exist = one_shot(&mut r, "/b", 3, WatchKind::Data, false);
        r.dispatch(EventType::NodeDataChanged, "/a", -1, &c);
        assert_eq!(data.try_recv().unwrap().unwrap().event_type, EventType::NodeDataChanged);
        assert!(child.try_recv().is_err());
        r.dispatch(EventType::NodeCreated, "/b", -1, &c);
        assert_eq!(exist.try_recv().unwrap().unwrap().event_type, EventType::NodeCreated);
        r.dispatch(EventType::NodeDeleted, "/a", -1, &c);
        assert_eq!(child.try_recv().unwrap().unwrap().event_type, EventType::NodeDeleted);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn recursive_sees_descendants_but_not_child_events() {
        let mut r = Registry::default();
        let c = Chroot::new("/app").unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        r.register(
            WatchReg::Persistent { path: "/app".into(), id: 1, recursive: true, sent: None, tx },
            0,
            |_| false,
        );
        r.dispatch(EventType::NodeCreated, "/app/x/y", 5, &c);
        r.dispatch(EventType::NodeChildrenChanged, "/app/x", 5, &c);
        r.dispatch(EventType::NodeDataChanged, "/other", 6, &c);
        let ev = rx.try_recv().unwrap().unwrap();
        assert_eq!((ev.event_type, ev.path.as_str(), ev.zxid), (EventType::NodeCreated, "/x/y", 5));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn unregister_reports_server_removal_only_when_last() {
        let mut r = Registry::default();
        let _a = one_shot(&mut r, "/a", 1, WatchKind::Data, true);
        let _b = one_shot(&mut r, "/a", 2, WatchKind::Data, true);
        assert_eq!(r.unregister(WatchKind::Data, "/a", 1, || false), None);
        assert_eq!(r.unregister(WatchKind::Data, "/a", 2, || false), Some(WatcherType::Data));
        assert_eq!(r.unregister(WatchKind::Data, "/a", 2, || false), None);
    }

    #[test]
    fn in_flight_watch_keeps_the_server_watch() {
        let mut r = Registry::default();
        let _old = one_shot(&mut r, "/a", 1, WatchKind::Data, true);
        let (tx, _rx) = oneshot::channel();
        let new = WatchReg::OneShot {
            path: "/a".into(),
            id: 2,
            on_ok: WatchKind::Data,
            exist_on_nonode: false,
            local: false,
            tx,
        };
        // The old watcher is dropped while the new request is on the wire.
        assert_eq!(r.unregister(WatchKind::Data, "/a", 1, || true), None);
        r.register(new, 0, |_| false);
        assert_eq!(r.unregister(WatchKind::Data, "/a", 2, || false), Some(WatcherType::Data));
        // A lost connection forgets the removals that waited for what was in flight.
        let _b = one_shot(&mut r, "/b", 3, WatchKind::Data, true);
        assert_eq!(r.unregister(WatchKind::Data, "/b", 3, || true), None);
        r.connection_lost();
        assert!(r.deferred.is_empty());
    }

    #[test]
    fn deferred_removal_waits_for_the_last_in_flight_reply() {
        let mut r = Registry::default();
        let _old = one_shot(&mut r, "/a", 1, WatchKind::Child, true);
        // Nothing deferred: the connection is never asked what is in flight.
        let (tx, new) = oneshot::channel();
        let reg = |id, tx| WatchReg::OneShot {
            path: "/a".into(),
            id,
            on_ok: WatchKind::Data,
            exist_on_nonode: false,
            local: false,
            tx,
        };
        r.register(reg(2, tx), 0, |_| panic!("asked without a deferred removal"));
        assert_eq!(r.unregister(WatchKind::Data, "/a", 9, || panic!("asked for an unknown watcher")), None);
        drop(new);
        // Two more registrations are on the wire when the data and child watchers go.
        let (tx3, _w3) = oneshot::channel();
        let (tx4, w4) = oneshot::channel();
        assert_eq!(r.unregister(WatchKind::Data, "/a", 2, || true), None);
        assert_eq!(r.unregister(WatchKind::Child, "/a", 1, || true), None);
        // The first reply: the other one is still in flight, so the removal still waits.
        assert_eq!(r.register(reg(3, tx3), 0, |p| p == "/a"), None);
        assert!(r.deferred.contains("/a"));
        // The last reply, for a watcher abandoned in flight: only data watcher 3 is left, so
        // the child watch goes.
        drop(w4);
        let removal = r.register(reg(4, tx4), 0, |_| false);
        assert_eq!(removal, Some(("/a".to_string(), WatcherType::Children)));
        assert!(r.deferred.is_empty());
    }

    #[test]
    fn set_watches_lists_every_bucket_and_picks_version() {
        let mut r = Registry::default();
        let _a = one_shot(&mut r, "/a", 1, WatchKind::Data, true);
        let _b = one_shot(&mut r, "/b", 2, WatchKind::Data, false);
        let _c = one_shot(&mut r, "/c", 3, WatchKind::Child, true);
        let reqs = r.set_watches(9);
        assert_eq!(reqs.len(), 1);
        let SetWatchesReq::V1(sw) = &reqs[0] else { panic!("expected SetWatches") };
        assert_eq!(
            (sw.relative_zxid, &sw.data_watches[..], &sw.exist_watches[..], &sw.child_watches[..]),
            (9, &["/a".to_string()][..], &["/b".to_string()][..], &["/c".to_string()][..])
        );
        let (tx, _rx) = mpsc::unbounded_channel();
        r.register(
            WatchReg::Persistent { path: "/p".into(), id: 4, recursive: false, sent: None, tx },
            0,
            |_| false,
        );
        assert!(matches!(r.set_watches(9)[0], SetWatchesReq::V2(_)));
    }

    #[test]
    fn fail_all_tells_one_shot_watchers() {
        let mut r = Registry::default();
        let mut a = one_shot(&mut r, "/a", 1, WatchKind::Data, true);
        r.fail_all(&Error::SessionExpired);
        assert_eq!(a.try_recv().unwrap(), Err(Error::SessionExpired));
    }
}
