//! Conformance scenarios: watches (§7 of the protocol reference).
//!
//! Each scenario asserts the exact event type and (client) path. Where a scenario says that
//! nothing fired, it relies on §7.7: a watch event is delivered before the reply to any request
//! that reflects the change, so once the reply is in, "not fired yet" means "will not fire".

use std::time::Duration;

use futures::FutureExt;
use zk_core::{
    AddWatchMode, Client, CreateMode, Error, EventType, OneshotWatcher, PersistentWatcher, WatchedEvent,
    WatcherType,
};

use crate::support::{assert_event, fired, within, Backend};

// On the real server, the embedded one and the shared real 3-member ensemble.
zk_testing::all_backends!(
    exists_watch_on_missing_node_fires_created,
    exists_watch_on_existing_node_fires_data_changed,
    data_watch_fires_deleted,
    child_watch_fires_children_changed_on_parent,
    child_watch_fires_deleted_with_the_node,
    one_shot_watch_fires_once,
    event_precedes_reply_to_own_write,
    event_precedes_reply_to_later_read,
    persistent_watch_sees_node_and_children_across_recreate,
    recursive_watch_sees_descendants_without_child_events,
    event_paths_are_client_paths,
    dropped_one_shot_watcher_is_removed_on_server,
    dropped_persistent_watcher_is_removed_on_server,
    watching_again_right_after_a_drop_keeps_the_watch,
    remove_watches_resolves_watcher_with_removed_event,
    several_watchers_on_one_path_all_fire,
    every_kind_of_watcher_on_one_path_sees_every_event,
    a_one_shot_read_does_not_downgrade_a_persistent_watch,
);

/// How long a watch may take to fire once its cause is known to have been applied.
const FIRE_SECS: u64 = 5;

async fn next(w: &mut PersistentWatcher, what: &str) -> WatchedEvent {
    match within(FIRE_SECS, what, w.next_event()).await {
        Some(Ok(ev)) => ev,
        Some(Err(e)) => panic!("{what}: watch stream ended with {e}"),
        None => panic!("{what}: watch stream ended"),
    }
}

/// The watcher has not fired (yet): polled once without waiting.
fn assert_unfired(w: &mut OneshotWatcher, what: &str) {
    if let Some(r) = w.now_or_never() {
        panic!("{what}: watcher fired unexpectedly with {r:?}");
    }
}

/// The stream holds no event right now.
fn assert_quiet(w: &mut PersistentWatcher, what: &str) {
    if let Some(ev) = w.next_event().now_or_never() {
        panic!("{what}: unexpected event {ev:?}");
    }
}

/// Polls `check_watches` until the server says NOWATCHER: watcher drops reach the session task
/// on their own channel, so the removal may trail a request sent right after the drop.
async fn until_no_watcher(c: &Client, path: &str, kind: WatcherType, what: &str) {
    within(FIRE_SECS, what, async {
        loop {
            match c.check_watches(path, kind).await {
                Err(Error::NoWatcher) => return,
                Ok(()) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => panic!("{what}: check_watches failed: {e}"),
            }
        }
    })
    .await
}

async fn create(c: &Client, path: &str) {
    c.create(path, b"", CreateMode::Persistent).await.unwrap_or_else(|e| panic!("create {path}: {e}"));
}

async fn exists_watch_on_missing_node_fires_created(b: &Backend) {
    let sb = b.sandbox("conformance-w-exists-missing").await;
    let (watching, writer) = (sb.client().await, sb.client().await);
    let (stat, mut w) = watching.exists_and_watch("/a").await.unwrap();
    assert_eq!(stat, None);
    // §13.2: exists on a missing node sets a watch on the server.
    watching.check_watches("/a", WatcherType::Data).await.unwrap();
    assert_unfired(&mut w, "before the create");
    writer.create("/a", b"x", CreateMode::Persistent).await.unwrap();
    assert_event(&fired(w, "NodeCreated").await, EventType::NodeCreated, "/a");
}

async fn exists_watch_on_existing_node_fires_data_changed(b: &Backend) {
    let sb = b.sandbox("conformance-w-exists-existing").await;
    let (watching, writer) = (sb.client().await, sb.client().await);
    create(&writer, "/a").await;
    let (stat, w) = watching.exists_and_watch("/a").await.unwrap();
    assert_eq!(stat.map(|s| s.version), Some(0));
    writer.set_data("/a", b"new", None).await.unwrap();
    assert_event(&fired(w, "NodeDataChanged").await, EventType::NodeDataChanged, "/a");
}

async fn data_watch_fires_deleted(b: &Backend) {
    let sb = b.sandbox("conformance-w-data-deleted").await;
    let (watching, writer) = (sb.client().await, sb.client().await);
    writer.create("/a", b"data", CreateMode::Persistent).await.unwrap();
    let (data, _, w) = watching.get_data_and_watch("/a").await.unwrap();
    assert_eq!(data, b"data");
    writer.delete("/a", None).await.unwrap();
    assert_event(&fired(w, "NodeDeleted").await, EventType::NodeDeleted, "/a");
    // §13.2: getData on a missing node fails and sets no watch.
    assert_eq!(watching.get_data_and_watch("/a").await.err(), Some(Error::NoNode));
    assert_eq!(watching.check_watches("/a", WatcherType::Data).await, Err(Error::NoWatcher));
}

async fn child_watch_fires_children_changed_on_parent(b: &Backend) {
    let sb = b.sandbox("conformance-w-children").await;
    let (watching, writer) = (sb.client().await, sb.client().await);
    create(&writer, "/p").await;
    let (children, _, mut w) = watching.get_children_and_watch("/p").await.unwrap();
    assert!(children.is_empty(), "{children:?}");
    // A data change of the parent is not a child event.
    writer.set_data("/p", b"x", None).await.unwrap();
    watching.get_data("/p").await.unwrap();
    assert_unfired(&mut w, "after set_data on the parent");
    create(&writer, "/p/c").await;
    assert_event(&fired(w, "NodeChildrenChanged").await, EventType::NodeChildrenChanged, "/p");
}

async fn child_watch_fires_deleted_with_the_node(b: &Backend) {
    let sb = b.sandbox("conformance-w-children-deleted").await;
    let (watching, writer) = (sb.client().await, sb.client().await);
    create(&writer, "/p").await;
    let (_, _, w) = watching.get_children_and_watch("/p").await.unwrap();
    writer.delete("/p", None).await.unwrap();
    assert_event(&fired(w, "NodeDeleted for a child watch").await, EventType::NodeDeleted, "/p");
    assert_eq!(watching.check_watches("/p", WatcherType::Children).await, Err(Error::NoWatcher));
}

async fn one_shot_watch_fires_once(b: &Backend) {
    let sb = b.sandbox("conformance-w-once").await;
    let c = sb.client().await;
    create(&c, "/a").await;
    let (_, _, w) = c.get_data_and_watch("/a").await.unwrap();
    c.set_data("/a", b"1", None).await.unwrap();
    assert_event(&fired(w, "first change").await, EventType::NodeDataChanged, "/a");
    // The server dropped the watch when it fired (§7.2): the second change is not reported.
    assert_eq!(c.check_watches("/a", WatcherType::Data).await, Err(Error::NoWatcher));
    c.set_data("/a", b"2", None).await.unwrap();
    // Re-registering sees only what comes after it, not the change made in between.
    let (data, stat, mut again) = c.get_data_and_watch("/a").await.unwrap();
    assert_eq!((data.as_slice(), stat.version), (&b"2"[..], 2));
    assert_unfired(&mut again, "re-registered after the second change");
    let stat = c.set_data("/a", b"3", None).await.unwrap();
    assert_eq!(stat.version, 3);
    assert_event(&fired(again, "third change").await, EventType::NodeDataChanged, "/a");
}

/// §7.7.1 for the client's own writes: the event is already there when the write's reply is.
async fn event_precedes_reply_to_own_write(b: &Backend) {
    let sb = b.sandbox("conformance-w-order-own").await;
    let c = sb.client().await;
    let (_, w) = c.exists_and_watch("/a").await.unwrap();
    c.create("/a", b"", CreateMode::Persistent).await.unwrap();
    let ev = w.now_or_never().expect("NodeCreated before the create's reply").unwrap();
    assert_event(&ev, EventType::NodeCreated, "/a");

    let (_, _, w) = c.get_data_and_watch("/a").await.unwrap();
    c.set_data("/a", b"x", None).await.unwrap();
    let ev = w.now_or_never().expect("NodeDataChanged before the set_data reply").unwrap();
    assert_event(&ev, EventType::NodeDataChanged, "/a");

    let (_, _, w) = c.get_children_and_watch("/a").await.unwrap();
    c.create("/a/c", b"", CreateMode::Persistent).await.unwrap();
    let ev = w.now_or_never().expect("NodeChildrenChanged before the create's reply").unwrap();
    assert_event(&ev, EventType::NodeChildrenChanged, "/a");

    let (_, _, w) = c.get_data_and_watch("/a/c").await.unwrap();
    c.delete("/a/c", None).await.unwrap();
    let ev = w.now_or_never().expect("NodeDeleted before the delete's reply").unwrap();
    assert_event(&ev, EventType::NodeDeleted, "/a/c");
}

/// §7.7.1 across clients: after another client's write returned, any read of the watching
/// client reflects the change, so its event must already have been delivered.
async fn event_precedes_reply_to_later_read(b: &Backend) {
    let sb = b.sandbox("conformance-w-order-other").await;
    let (watching, writer) = (sb.client().await, sb.client().await);
    let (_, w) = watching.exists_and_watch("/a").await.unwrap();
    writer.create("/a", b"", CreateMode::Persistent).await.unwrap();
    assert!(watching.exists("/a").await.unwrap().is_some());
    let ev = w.now_or_never().expect("NodeCreated before the read's reply").unwrap();
    assert_event(&ev, EventType::NodeCreated, "/a");

    let (_, _, w) = watching.get_data_and_watch("/a").await.unwrap();
    writer.set_data("/a", b"x", None).await.unwrap();
    let (data, _) = watching.get_data("/a").await.unwrap();
    assert_eq!(data, b"x");
    let ev = w.now_or_never().expect("NodeDataChanged before the read's reply").unwrap();
    assert_event(&ev, EventType::NodeDataChanged, "/a");

    let (_, _, w) = watching.get_children_and_watch("/a").await.unwrap();
    writer.create("/a/c", b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(watching.get_children("/a").await.unwrap(), vec!["c".to_string()]);
    let ev = w.now_or_never().expect("NodeChildrenChanged before the read's reply").unwrap();
    assert_event(&ev, EventType::NodeChildrenChanged, "/a");
}

async fn persistent_watch_sees_node_and_children_across_recreate(b: &Backend) {
    let sb = b.sandbox("conformance-w-persistent").await;
    let (watching, writer) = (sb.client().await, sb.client().await);
    // The node need not exist yet.
    let mut w = watching.add_watch("/p", AddWatchMode::Persistent).await.unwrap();
    for round in 0..2 {
        let what = |step: &str| format!("round {round}: {step}");
        create(&writer, "/p").await;
        assert_event(&next(&mut w, &what("create")).await, EventType::NodeCreated, "/p");
        writer.set_data("/p", b"x", None).await.unwrap();
        assert_event(&next(&mut w, &what("set_data")).await, EventType::NodeDataChanged, "/p");
        create(&writer, "/p/c").await;
        assert_event(&next(&mut w, &what("child created")).await, EventType::NodeChildrenChanged, "/p");
        // A child's data and grandchildren are not watched by a non-recursive watch.
        writer.set_data("/p/c", b"y", None).await.unwrap();
        create(&writer, "/p/c/g").await;
        writer.delete("/p/c/g", None).await.unwrap();
        writer.delete("/p/c", None).await.unwrap();
        assert_event(&next(&mut w, &what("child deleted")).await, EventType::NodeChildrenChanged, "/p");
        writer.delete("/p", None).await.unwrap();
        assert_event(&next(&mut w, &what("delete")).await, EventType::NodeDeleted, "/p");
        watching.sync("/").await.unwrap();
        watching.exists("/p").await.unwrap();
        assert_quiet(&mut w, &what("after delete"));
    }
    // The watch outlived two deletions on the server too.
    watching.check_watches("/p", WatcherType::Any).await.unwrap();
}

async fn recursive_watch_sees_descendants_without_child_events(b: &Backend) {
    let sb = b.sandbox("conformance-w-recursive").await;
    let (watching, writer) = (sb.client().await, sb.client().await);
    let mut w = watching.add_watch("/r", AddWatchMode::PersistentRecursive).await.unwrap();
    // A standard child watch of the same connection below /r makes the server send
    // NodeChildrenChanged(/r/a); it belongs to that watcher only (ZOOKEEPER-4475).
    create(&writer, "/r").await;
    assert_event(&next(&mut w, "create /r").await, EventType::NodeCreated, "/r");
    create(&writer, "/r/a").await;
    assert_event(&next(&mut w, "create child").await, EventType::NodeCreated, "/r/a");
    let (_, _, child_watch) = watching.get_children_and_watch("/r/a").await.unwrap();
    create(&writer, "/r/a/b").await;
    assert_event(&next(&mut w, "create grandchild").await, EventType::NodeCreated, "/r/a/b");
    assert_event(&fired(child_watch, "child watch on /r/a").await, EventType::NodeChildrenChanged, "/r/a");
    writer.set_data("/r/a/b", b"x", None).await.unwrap();
    assert_event(&next(&mut w, "grandchild data").await, EventType::NodeDataChanged, "/r/a/b");
    writer.set_data("/r", b"x", None).await.unwrap();
    assert_event(&next(&mut w, "own data").await, EventType::NodeDataChanged, "/r");
    // A sibling whose name merely starts with "r" is not below /r.
    create(&writer, "/rx").await;
    writer.set_data("/rx", b"x", None).await.unwrap();
    writer.delete("/r/a/b", None).await.unwrap();
    assert_event(&next(&mut w, "delete grandchild").await, EventType::NodeDeleted, "/r/a/b");
    writer.delete("/r/a", None).await.unwrap();
    assert_event(&next(&mut w, "delete child").await, EventType::NodeDeleted, "/r/a");
    watching.sync("/").await.unwrap();
    watching.exists("/r").await.unwrap();
    assert_quiet(&mut w, "no NodeChildrenChanged and nothing from /rx");
}

/// Events carry paths relative to the client's chroot, including the chroot root itself.
async fn event_paths_are_client_paths(b: &Backend) {
    let sb = b.sandbox("conformance-w-chroot").await;
    let (chrooted, chrooted_too) = (sb.client().await, sb.client().await);
    let plain = Client::connect(&b.connect_string()).await.unwrap();
    let full = format!("{}/n", sb.root());
    let (_, chrooted_exists) = chrooted.exists_and_watch("/n").await.unwrap();
    let (_, plain_exists) = plain.exists_and_watch(&full).await.unwrap();
    let (_, _, root_children) = chrooted.get_children_and_watch("/").await.unwrap();
    // On another connection: a 3.8 server keeps one mode per (connection, path), so a
    // recursive watch would replace the standard child watch on the same path (§14).
    let mut recursive = chrooted_too.add_watch("/", AddWatchMode::PersistentRecursive).await.unwrap();
    plain.create(&full, b"", CreateMode::Persistent).await.unwrap();
    assert_event(&fired(chrooted_exists, "chrooted exists").await, EventType::NodeCreated, "/n");
    assert_event(&fired(plain_exists, "plain exists").await, EventType::NodeCreated, &full);
    let ev = fired(root_children, "children of the chroot root").await;
    assert_event(&ev, EventType::NodeChildrenChanged, "/");
    assert_event(&next(&mut recursive, "recursive on the chroot root").await, EventType::NodeCreated, "/n");
    chrooted.create("/n/m", b"", CreateMode::Persistent).await.unwrap();
    assert_event(&next(&mut recursive, "recursive below").await, EventType::NodeCreated, "/n/m");
    plain.close().await;
}

async fn dropped_one_shot_watcher_is_removed_on_server(b: &Backend) {
    let sb = b.sandbox("conformance-w-drop-oneshot").await;
    let c = sb.client().await;
    create(&c, "/a").await;
    // A data watch, and an exist watch on a missing node: both live in the server's data table.
    let (_, _, data) = c.get_data_and_watch("/a").await.unwrap();
    let (_, missing) = c.exists_and_watch("/missing").await.unwrap();
    let (_, _, children) = c.get_children_and_watch("/a").await.unwrap();
    c.check_watches("/a", WatcherType::Data).await.unwrap();
    c.check_watches("/missing", WatcherType::Data).await.unwrap();
    c.check_watches("/a", WatcherType::Children).await.unwrap();
    // Held watchers stay registered.
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.check_watches("/a", WatcherType::Data).await.unwrap();
    drop(data);
    until_no_watcher(&c, "/a", WatcherType::Data, "data watch after drop").await;
    // Only the dropped kind went away.
    c.check_watches("/a", WatcherType::Children).await.unwrap();
    drop(missing);
    until_no_watcher(&c, "/missing", WatcherType::Data, "exist watch after drop").await;
    drop(children);
    until_no_watcher(&c, "/a", WatcherType::Children, "child watch after drop").await;

    // Two local watchers share one server watch: dropping one keeps it for the other.
    let (_, _, first) = c.get_data_and_watch("/a").await.unwrap();
    let (_, _, second) = c.get_data_and_watch("/a").await.unwrap();
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.check_watches("/a", WatcherType::Data).await.unwrap();
    c.set_data("/a", b"x", None).await.unwrap();
    assert_event(&fired(second, "the remaining watcher").await, EventType::NodeDataChanged, "/a");
}

async fn dropped_persistent_watcher_is_removed_on_server(b: &Backend) {
    let sb = b.sandbox("conformance-w-drop-persistent").await;
    let c = sb.client().await;
    for mode in [AddWatchMode::Persistent, AddWatchMode::PersistentRecursive] {
        let w = c.add_watch("/p", mode).await.unwrap();
        c.check_watches("/p", WatcherType::Any).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.check_watches("/p", WatcherType::Any).await.unwrap();
        drop(w);
        until_no_watcher(&c, "/p", WatcherType::Any, &format!("{mode:?} watch after drop")).await;
    }
}

/// Dropping a watcher must not take the server-side watch away from a watcher of the same
/// path whose request was issued just after (or just before) the drop: the common
/// `select!` loop that drops an unfired watcher and watches again.
async fn watching_again_right_after_a_drop_keeps_the_watch(b: &Backend) {
    let sb = b.sandbox("conformance-w-drop-rewatch").await;
    let (c, writer) = (sb.client().await, sb.client().await);
    create(&c, "/a").await;
    for round in 0..5 {
        let (_, _, old) = c.get_data_and_watch("/a").await.unwrap();
        drop(old);
        let (_, _, new) = c.get_data_and_watch("/a").await.unwrap();
        let what = format!("round {round}: watched again after the drop");
        assert_eq!(c.check_watches("/a", WatcherType::Data).await, Ok(()), "{what}");
        writer.set_data("/a", b"x", None).await.unwrap();
        assert_event(&fired(new, &what).await, EventType::NodeDataChanged, "/a");

        let (_, _, old) = c.get_data_and_watch("/a").await.unwrap();
        let again = c.get_data_and_watch("/a");
        drop(old);
        let (_, _, new) = again.await.unwrap();
        let what = format!("round {round}: watched again just before the drop");
        assert_eq!(c.check_watches("/a", WatcherType::Data).await, Ok(()), "{what}");
        writer.set_data("/a", b"y", None).await.unwrap();
        assert_event(&fired(new, &what).await, EventType::NodeDataChanged, "/a");

        let old = c.add_watch("/a", AddWatchMode::Persistent).await.unwrap();
        drop(old);
        let mut new = c.add_watch("/a", AddWatchMode::Persistent).await.unwrap();
        let what = format!("round {round}: persistent watch added again after the drop");
        assert_eq!(c.check_watches("/a", WatcherType::Any).await, Ok(()), "{what}");
        writer.set_data("/a", b"z", None).await.unwrap();
        assert_event(&next(&mut new, &what).await, EventType::NodeDataChanged, "/a");
        drop(new);
        until_no_watcher(&c, "/a", WatcherType::Any, &format!("round {round}: cleanup")).await;
    }
}

async fn remove_watches_resolves_watcher_with_removed_event(b: &Backend) {
    let sb = b.sandbox("conformance-w-remove").await;
    let c = sb.client().await;
    create(&c, "/a").await;
    let (_, _, data) = c.get_data_and_watch("/a").await.unwrap();
    let (_, _, mut children) = c.get_children_and_watch("/a").await.unwrap();
    c.remove_watches("/a", WatcherType::Data).await.unwrap();
    assert_event(&fired(data, "removed data watch").await, EventType::DataWatchRemoved, "/a");
    assert_eq!(c.remove_watches("/a", WatcherType::Data).await, Err(Error::NoWatcher));
    assert_eq!(c.check_watches("/a", WatcherType::Data).await, Err(Error::NoWatcher));
    // The child watch on the same path is untouched.
    assert_unfired(&mut children, "child watch after removing the data watch");
    c.check_watches("/a", WatcherType::Children).await.unwrap();
    c.remove_watches("/a", WatcherType::Children).await.unwrap();
    assert_event(&fired(children, "removed child watch").await, EventType::ChildWatchRemoved, "/a");

    // A persistent watch removed with Any (3.8 servers know no type 4) yields its event, then ends.
    let mut p = c.add_watch("/a", AddWatchMode::Persistent).await.unwrap();
    c.remove_watches("/a", WatcherType::Any).await.unwrap();
    assert_event(&next(&mut p, "removed persistent watch").await, EventType::PersistentWatchRemoved, "/a");
    assert_eq!(within(FIRE_SECS, "persistent stream end", p.next_event()).await, None);
    assert_eq!(c.remove_watches("/a", WatcherType::Any).await, Err(Error::NoWatcher));
}

async fn several_watchers_on_one_path_all_fire(b: &Backend) {
    let sb = b.sandbox("conformance-w-several").await;
    let (c, other) = (sb.client().await, sb.client().await);
    create(&c, "/a").await;
    let (_, _, first) = c.get_data_and_watch("/a").await.unwrap();
    let (_, _, second) = c.get_data_and_watch("/a").await.unwrap();
    let (_, third) = c.exists_and_watch("/a").await.unwrap();
    let (_, _, elsewhere) = other.get_data_and_watch("/a").await.unwrap();
    other.set_data("/a", b"x", None).await.unwrap();
    for (w, what) in [(first, "first"), (second, "second"), (third, "exists"), (elsewhere, "other client")] {
        assert_event(&fired(w, what).await, EventType::NodeDataChanged, "/a");
    }
}

/// A recursive, a persistent, a one-shot data and a one-shot child watcher on one path through
/// one client all see their events (on 3.6-3.8 servers a second registration on a path would
/// replace the first: the client keeps one registration per path that covers them all), and
/// dropping some of them leaves the others working.
async fn every_kind_of_watcher_on_one_path_sees_every_event(b: &Backend) {
    let sb = b.sandbox("conformance-w-multiplexed").await;
    let (c, writer) = (sb.client().await, sb.client().await);
    create(&c, "/p").await;
    let mut recursive = c.add_watch("/p", AddWatchMode::PersistentRecursive).await.unwrap();
    let mut persistent = c.add_watch("/p", AddWatchMode::Persistent).await.unwrap();
    let (_, _, data) = c.get_data_and_watch("/p").await.unwrap();
    let (_, _, children) = c.get_children_and_watch("/p").await.unwrap();

    writer.create("/p/c", b"", CreateMode::Persistent).await.unwrap();
    assert_event(&next(&mut recursive, "recursive: child created").await, EventType::NodeCreated, "/p/c");
    let ev = next(&mut persistent, "persistent: children changed").await;
    assert_event(&ev, EventType::NodeChildrenChanged, "/p");
    assert_event(&fired(children, "one-shot child watch").await, EventType::NodeChildrenChanged, "/p");
    writer.set_data("/p", b"1", None).await.unwrap();
    assert_event(&fired(data, "one-shot data watch").await, EventType::NodeDataChanged, "/p");
    assert_event(&next(&mut recursive, "recursive: data").await, EventType::NodeDataChanged, "/p");
    assert_event(&next(&mut persistent, "persistent: data").await, EventType::NodeDataChanged, "/p");
    writer.set_data("/p/c", b"1", None).await.unwrap();
    assert_event(
        &next(&mut recursive, "recursive: grandchild data").await,
        EventType::NodeDataChanged,
        "/p/c",
    );
    // The persistent watcher sees its own node only, and one event per change.
    c.sync("/").await.unwrap();
    assert_quiet(&mut persistent, "persistent: nothing below its node");
    assert_quiet(&mut recursive, "recursive: one event per change");

    // Without the recursive watcher the persistent one goes on (and vice versa below).
    drop(recursive);
    writer.delete("/p/c", None).await.unwrap();
    let ev = next(&mut persistent, "persistent after the recursive one went").await;
    assert_event(&ev, EventType::NodeChildrenChanged, "/p");
    let mut recursive = c.add_watch("/p", AddWatchMode::PersistentRecursive).await.unwrap();
    drop(persistent);
    writer.create("/p/d", b"", CreateMode::Persistent).await.unwrap();
    assert_event(
        &next(&mut recursive, "recursive after the persistent one went").await,
        EventType::NodeCreated,
        "/p/d",
    );
    drop(recursive);
    until_no_watcher(&c, "/p", WatcherType::Any, "every watcher dropped").await;
}

/// A one-shot read with a watch on a path that has a persistent watch must not turn the
/// server's persistent watch into a one-shot one (3.6-3.8 keep one mode per path): the
/// persistent watcher still sees the second change.
async fn a_one_shot_read_does_not_downgrade_a_persistent_watch(b: &Backend) {
    let sb = b.sandbox("conformance-w-no-downgrade").await;
    let (c, writer) = (sb.client().await, sb.client().await);
    create(&c, "/p").await;
    let mut persistent = c.add_watch("/p", AddWatchMode::Persistent).await.unwrap();
    let (_, _, data) = c.get_data_and_watch("/p").await.unwrap();
    writer.set_data("/p", b"1", None).await.unwrap();
    assert_event(&fired(data, "one-shot").await, EventType::NodeDataChanged, "/p");
    assert_event(&next(&mut persistent, "first change").await, EventType::NodeDataChanged, "/p");
    writer.set_data("/p", b"2", None).await.unwrap();
    assert_event(&next(&mut persistent, "second change").await, EventType::NodeDataChanged, "/p");
}
