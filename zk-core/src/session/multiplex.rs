//! One server registration per path: the persistent or recursive watch that covers every
//! local watcher on a path.
//!
//! ZooKeeper 3.6-3.8 keeps one watch mode per (connection, path): a second registration on a
//! path replaces the first (a one-shot `getData` watch turns a persistent watch into a
//! one-shot one, a persistent watch replaces a recursive one; 3.9 lets them coexist,
//! ZOOKEEPER-4466). So once a path has a persistent or recursive watcher, the client keeps
//! that one registration, the strongest any watcher on the path needs (recursive covers
//! persistent, which covers one-shot data and child watches), and routes events locally:
//!
//! - a one-shot read on such a path is sent without the watch flag and served locally;
//! - a persistent watch on a path registered recursive is sent as recursive;
//! - a registration is never downgraded while a watcher on the path still needs it, and is
//!   removed (`removeWatches` ANY) only once none is left;
//! - under a recursive registration, `NodeChildrenChanged` for the path is derived from the
//!   creations and deletions of its direct children (a recursive watch does not get it on
//!   3.9, and does on 3.8), and the server's own is ignored, except while the SetWatches of a
//!   reconnect catch up (those events are the catch-up of one-shot child watches).
//!
//! What the plan tracks: the registration the server holds per path (confirmed by replies),
//! and the registrations written but not answered yet, so that a request written after an
//! `addWatch` is planned against what the server will hold when it gets there (requests are
//! processed in order).

use std::collections::HashMap;

use crate::error::Error;

/// A path's persistent or recursive registration on the server. Ordered: recursive covers
/// persistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Strong {
    /// addWatch PERSISTENT.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE.
    Recursive,
}

impl Strong {
    /// The AddWatchMode value on the wire.
    fn mode(self) -> u8 {
        match self {
            Strong::Persistent => 0,
            Strong::Recursive => 1,
        }
    }
}

/// The registrations of one connection's paths, held and planned.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// What the server holds, as its replies confirmed.
    held: HashMap<String, Strong>,
    /// addWatch requests written and not answered: (persistent, recursive) counts.
    in_flight: HashMap<String, (u32, u32)>,
    /// The error of the last addWatch on a path that left it without a registration: a
    /// one-shot read planned against that registration ends with it.
    failed: HashMap<String, Error>,
    /// SetWatches replies outstanding: the events before them are catch-up events.
    catch_up: u32,
}

impl Plan {
    /// What the server holds on `path` now.
    pub(crate) fn held(&self, path: &str) -> Option<Strong> {
        self.held.get(path).copied()
    }

    /// What the server will hold on `path` once what was written so far is processed.
    pub(crate) fn planned(&self, path: &str) -> Option<Strong> {
        let in_flight = self.in_flight.get(path).and_then(|&(p, r)| {
            if r > 0 {
                Some(Strong::Recursive)
            } else {
                (p > 0).then_some(Strong::Persistent)
            }
        });
        self.held(path).max(in_flight)
    }

    /// A one-shot read on `path` is about to be written with `frame` (whose last byte is its
    /// watch flag): when a registration will cover it, the flag is cleared and `true` returned
    /// (the watcher is then served locally).
    pub(crate) fn plan_one_shot(&self, path: &str, frame: &mut [u8]) -> bool {
        if self.planned(path).is_none() {
            return false;
        }
        if let Some(flag) = frame.last_mut() {
            *flag = 0;
        }
        true
    }

    /// An addWatch for `want` on `path` is about to be written with `frame` (whose last four
    /// bytes are its mode): it asks for the strongest registration the path will need, and
    /// returns that.
    pub(crate) fn plan_strong(&mut self, path: &str, want: Strong, frame: &mut [u8]) -> Strong {
        let send = self.planned(path).map_or(want, |p| p.max(want));
        if let Some(mode) = frame.last_mut() {
            *mode = send.mode();
        }
        let counts = self.in_flight.entry(path.to_owned()).or_default();
        match send {
            Strong::Persistent => counts.0 += 1,
            Strong::Recursive => counts.1 += 1,
        }
        self.failed.remove(path);
        send
    }

    /// The reply of an addWatch planned as `sent` on `path` arrived: `Ok` registers it.
    pub(crate) fn strong_replied(&mut self, path: &str, sent: Strong, result: Result<(), Error>) {
        if let Some(counts) = self.in_flight.get_mut(path) {
            match sent {
                Strong::Persistent => counts.0 = counts.0.saturating_sub(1),
                Strong::Recursive => counts.1 = counts.1.saturating_sub(1),
            }
            if *counts == (0, 0) {
                self.in_flight.remove(path);
            }
        }
        match result {
            Ok(()) => {
                let held = self.held.entry(path.to_owned()).or_insert(sent);
                *held = (*held).max(sent);
            }
            Err(e) if self.planned(path).is_none() => {
                self.failed.insert(path.to_owned(), e);
            }
            Err(_) => {}
        }
    }

    /// Why a one-shot watcher planned against a registration on `path` is not covered, if it
    /// is not (the addWatch it relied on failed).
    pub(crate) fn uncovered(&self, path: &str) -> Option<Error> {
        if self.held(path).is_some() {
            return None;
        }
        Some(self.failed.get(path).cloned().unwrap_or(Error::ConnectionLoss))
    }

    /// The registration on `path` is being removed (removeWatches ANY is written).
    pub(crate) fn dropped(&mut self, path: &str) {
        self.held.remove(path);
    }

    /// Whether the server's `NodeChildrenChanged` for `path` is to be ignored: the path is
    /// registered recursive, so the client derives that event itself, and no catch-up is
    /// under way.
    pub(crate) fn ignores_children_changed(&self, path: &str) -> bool {
        self.catch_up == 0 && self.held(path) == Some(Strong::Recursive)
    }

    /// Whether a `NodeChildrenChanged` for `parent` is to be derived from a creation or
    /// deletion of one of its children.
    pub(crate) fn derives_children_changed(&self, parent: &str) -> bool {
        self.held(parent) == Some(Strong::Recursive)
    }

    /// SetWatches requests were written: `n` replies to wait for.
    pub(crate) fn catching_up(&mut self, n: u32) {
        self.catch_up += n;
    }

    /// A SetWatches reply arrived.
    pub(crate) fn caught_up(&mut self) {
        self.catch_up = self.catch_up.saturating_sub(1);
    }

    /// The paths registered persistent and recursive, for SetWatches after a reconnect.
    pub(crate) fn held_paths(&self) -> impl Iterator<Item = (&String, Strong)> {
        self.held.iter().map(|(p, s)| (p, *s))
    }

    /// Keeps only the registrations `keep` says are still needed.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.held.retain(|p, _| keep(p));
    }

    /// The connection is gone: nothing is in flight any more; what the server held is
    /// registered again by SetWatches.
    pub(crate) fn connection_lost(&mut self) {
        self.in_flight.clear();
        self.failed.clear();
        self.catch_up = 0;
    }

    /// The session is gone: nothing is held.
    pub(crate) fn clear(&mut self) {
        *self = Plan::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_covers_later_ones_and_is_never_downgraded() {
        let mut plan = Plan::default();
        let mut read = vec![0, 0, 1];
        assert!(!plan.plan_one_shot("/p", &mut read), "nothing registered yet");
        assert_eq!(read, [0, 0, 1]);
        // A recursive watch is written: later requests are planned against it at once.
        let mut add = vec![9, 0, 0, 0, 1];
        assert_eq!(plan.plan_strong("/p", Strong::Recursive, &mut add), Strong::Recursive);
        assert!(plan.plan_one_shot("/p", &mut read));
        assert_eq!(read, [0, 0, 0], "sent without the watch flag");
        let mut persistent = vec![9, 0, 0, 0, 0];
        assert_eq!(plan.plan_strong("/p", Strong::Persistent, &mut persistent), Strong::Recursive);
        assert_eq!(persistent, [9, 0, 0, 0, 1], "asks for what the path holds");
        assert!(!plan.derives_children_changed("/p"), "not held until the reply");
        plan.strong_replied("/p", Strong::Recursive, Ok(()));
        plan.strong_replied("/p", Strong::Recursive, Ok(()));
        assert_eq!((plan.held("/p"), plan.planned("/p")), (Some(Strong::Recursive), Some(Strong::Recursive)));
        assert!(plan.derives_children_changed("/p") && plan.ignores_children_changed("/p"));
        plan.catching_up(1);
        assert!(!plan.ignores_children_changed("/p"), "catch-up events are delivered");
        plan.caught_up();
        plan.dropped("/p");
        assert_eq!(plan.planned("/p"), None);
    }

    #[test]
    fn a_failed_add_watch_leaves_its_one_shots_uncovered() {
        let mut plan = Plan::default();
        plan.plan_strong("/p", Strong::Persistent, &mut [0; 4]);
        assert!(plan.plan_one_shot("/p", &mut [1]));
        plan.strong_replied("/p", Strong::Persistent, Err(Error::Unimplemented));
        assert_eq!(plan.uncovered("/p"), Some(Error::Unimplemented));
        plan.plan_strong("/p", Strong::Persistent, &mut [0; 4]);
        plan.strong_replied("/p", Strong::Persistent, Ok(()));
        assert_eq!(plan.uncovered("/p"), None);
    }

    mod with_the_registry {
        use tokio::sync::{mpsc, oneshot};

        use crate::path::Chroot;
        use crate::proto::{EventType, WatcherType};
        use crate::session::watches::{Registry, WatchKind, WatchReg};

        /// Writes and answers (OK) a watch request on `path`, as the connection does.
        fn reply_ok(r: &mut Registry, mut reg: WatchReg, frame: &mut [u8]) {
            r.prepare(&mut reg, frame);
            assert_eq!(r.register(reg, 0, |_| false), None);
        }

        #[test]
        fn under_a_recursive_registration_child_events_are_derived_once() {
            let (mut r, c) = (Registry::default(), Chroot::default());
            let (ptx, mut persistent) = mpsc::unbounded_channel();
            let (rtx, mut recursive) = mpsc::unbounded_channel();
            let (ctx, mut child) = oneshot::channel();
            let reg =
                |recursive, tx| WatchReg::Persistent { path: "/p".into(), id: 1, recursive, sent: None, tx };
            reply_ok(&mut r, reg(true, rtx), &mut [0, 0, 0, 1]);
            let mut add = [0, 0, 0, 0];
            reply_ok(&mut r, reg(false, ptx), &mut add);
            assert_eq!(add, [0, 0, 0, 1], "the persistent watch is asked for as recursive");
            let mut read = [1];
            let child_reg = WatchReg::OneShot {
                path: "/p".into(),
                id: 3,
                on_ok: WatchKind::Child,
                exist_on_nonode: false,
                local: false,
                tx: ctx,
            };
            reply_ok(&mut r, child_reg, &mut read);
            assert_eq!(read, [0], "the child read is sent without a watch");
            // The server's own NodeChildrenChanged (3.8 sends it to a recursive watch) is
            // ignored; the one derived from the child's creation is delivered, once.
            r.dispatch(EventType::NodeCreated, "/p/c", -1, &c);
            r.dispatch(EventType::NodeChildrenChanged, "/p", -1, &c);
            assert_eq!(child.try_recv().unwrap().unwrap().event_type, EventType::NodeChildrenChanged);
            let got = persistent.try_recv().unwrap().unwrap();
            assert_eq!((got.event_type, got.path.as_str()), (EventType::NodeChildrenChanged, "/p"));
            assert!(persistent.try_recv().is_err(), "one event, and nothing below its node");
            assert_eq!(recursive.try_recv().unwrap().unwrap().event_type, EventType::NodeCreated);
            assert!(recursive.try_recv().is_err(), "recursive watchers get no child events");
            // Dropping watchers: the registration stays while any is left, then goes at once.
            assert_eq!(r.unregister(WatchKind::Recursive, "/p", 1, || false), None);
            assert_eq!(r.unregister(WatchKind::Persistent, "/p", 1, || false), Some(WatcherType::Any));
        }
    }
}
