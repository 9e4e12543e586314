//! Watches through requests (§7): registration, firing, order, modes, SetWatches, removal.

use zk_core::proto::{
    AddWatchRequest, DeleteRequest, ErrorCode, ErrorResponse, EventType, GetChildrenRequest, GetDataRequest,
    RemoveWatchesRequest, Request, SetDataRequest, SetWatches, SetWatches2, WatcherType,
};
use EventType::{
    NodeChildrenChanged as Kids, NodeCreated as Created, NodeDataChanged as Changed, NodeDeleted as Deleted,
};

use super::*;

fn get_data(t: &mut T, conn: ConnId, path: &str) -> Outcome {
    t.run(conn, Request::GetData(GetDataRequest { path: path.into(), watch: true }))
}

fn get_children(t: &mut T, conn: ConnId, path: &str) -> Outcome {
    t.run(conn, Request::GetChildren(GetChildrenRequest { path: path.into(), watch: true }))
}

fn add_watch(t: &mut T, conn: ConnId, path: &str, mode: i32) -> Outcome {
    t.run(conn, Request::AddWatch(AddWatchRequest { path: path.into(), mode }))
}

fn set(t: &mut T, path: &str) -> Outcome {
    t.run(1, Request::SetData(SetDataRequest { path: path.into(), data: Some(b"x".to_vec()), version: -1 }))
}

fn delete(t: &mut T, path: &str) -> Outcome {
    t.run(1, Request::Delete(DeleteRequest { path: path.into(), version: -1 }))
}

fn watch_req(path: &str, watcher_type: i32) -> RemoveWatchesRequest {
    RemoveWatchesRequest { path: path.into(), watcher_type }
}

#[test]
fn exists_on_a_missing_node_watches_its_creation() {
    let mut t = T::new();
    let o = t.watch_exists(2, "/a");
    fails(&o, ErrorCode::NoNode);
    fails(&get_data(&mut t, 2, "/b"), ErrorCode::NoNode);
    fails(&get_children(&mut t, 2, "/b"), ErrorCode::NoNode);
    assert_eq!(
        t.s.watches_by_conn(),
        [(2, vec!["/a".to_owned()])],
        "getData/getChildren on missing set none"
    );
    get_children(&mut t, 2, "/");
    // NodeCreated(P) then NodeChildrenChanged(parent), before the reply; root events say "/".
    let o = t.create("/a", 0);
    assert_eq!(events(&o.notifications), [ev(2, Created, "/a"), ev(2, Kids, "/")]);
    assert_eq!(o.reply.err, 0);
    assert_eq!(t.s.watch_count(), 0, "one-shot watches are gone");
    assert!(t.create("/c", 0).notifications.is_empty());
}

#[test]
fn delete_fires_data_and_child_watches_once_per_connection() {
    let mut t = T::new();
    t.mk("/p");
    t.mk("/p/n");
    get_data(&mut t, 2, "/p/n");
    get_children(&mut t, 2, "/p/n");
    add_watch(&mut t, 2, "/", 1);
    get_children(&mut t, 1, "/p");
    get_data(&mut t, 1, "/p");
    let o = delete(&mut t, "/p/n");
    assert_eq!(events(&o.notifications), [ev(2, Deleted, "/p/n"), ev(1, Kids, "/p")]);
    // The recursive watch stays; a data watch on the parent is untouched by child changes.
    assert_eq!(t.s.watches_by_conn(), [(1, vec!["/p".to_owned()]), (2, vec!["/".to_owned()])]);
    let o = set(&mut t, "/p");
    assert_eq!(events(&o.notifications), [ev(1, Changed, "/p"), ev(2, Changed, "/p")]);
}

#[test]
fn set_data_fires_data_watches_only() {
    let mut t = T::new();
    t.mk("/a");
    t.mk("/a/b");
    get_data(&mut t, 1, "/a");
    get_children(&mut t, 2, "/a");
    t.watch_exists(2, "/a/b");
    let o = set(&mut t, "/a");
    assert_eq!(events(&o.notifications), [ev(1, Changed, "/a")], "own write's event comes with the reply");
    assert!(set(&mut t, "/a").notifications.is_empty());
    // Grandchild changes are nothing for /a's child watch.
    t.mk("/a/b/c");
    assert_eq!(t.s.watch_count(), 2);
}

#[test]
fn persistent_watches_survive_firing_delete_and_recreate() {
    let mut t = T::new();
    let o = add_watch(&mut t, 2, "/p", 0);
    assert_eq!(body::<ErrorResponse>(&o), ErrorResponse { err: 0 });
    assert_eq!(o.reply.body.len(), 4);
    assert_eq!(events(&t.create("/p", 0).notifications), [ev(2, Created, "/p")]);
    assert_eq!(events(&t.create("/p/k", 0).notifications), [ev(2, Kids, "/p")]);
    assert_eq!(events(&set(&mut t, "/p").notifications), [ev(2, Changed, "/p")]);
    delete(&mut t, "/p/k");
    assert_eq!(events(&delete(&mut t, "/p").notifications), [ev(2, Deleted, "/p")]);
    assert_eq!(events(&t.create("/p", 0).notifications), [ev(2, Created, "/p")]);
    // A standard watch beside it fires once with it and is consumed; the persistent one stays.
    get_data(&mut t, 2, "/p");
    assert!(t.s.watches.check(2, "/p", WatcherType::Data));
    assert_eq!(t.s.watch_count(), 2, "one entry per table, whatever its modes");
    assert_eq!(events(&set(&mut t, "/p").notifications), [ev(2, Changed, "/p")]);
    assert!(!t.s.watches.check(2, "/p", WatcherType::Data));
    assert!(t.s.watches.check(2, "/p", WatcherType::Persistent));
    fails(&add_watch(&mut t, 2, "/p", 2), ErrorCode::MarshallingError);
}

#[test]
fn recursive_watches_see_the_subtree_but_never_child_events() {
    let mut t = T::new();
    add_watch(&mut t, 2, "/r", 1);
    assert_eq!(t.s.watch_count(), 1, "data table only");
    assert_eq!(events(&t.create("/r", 0).notifications), [ev(2, Created, "/r")]);
    assert_eq!(events(&t.create("/r/a", 0).notifications), [ev(2, Created, "/r/a")]);
    assert_eq!(events(&t.create("/r/a/b", 0).notifications), [ev(2, Created, "/r/a/b")]);
    assert_eq!(events(&set(&mut t, "/r/a/b").notifications), [ev(2, Changed, "/r/a/b")]);
    assert!(t.create("/rx", 0).notifications.is_empty());
    // A standard child watch of the same connection still gets its NodeChildrenChanged.
    get_children(&mut t, 2, "/r/a");
    let o = delete(&mut t, "/r/a/b");
    assert_eq!(events(&o.notifications), [ev(2, Deleted, "/r/a/b"), ev(2, Kids, "/r/a")]);
}

#[test]
fn set_watches_catches_up_or_registers() {
    let mut t = T::new();
    for p in ["/old", "/changed", "/kids", "/quiet"] {
        t.mk(p);
    }
    let rel = t.s.last_zxid();
    set(&mut t, "/changed");
    t.mk("/kids/k");
    let req = SetWatches {
        relative_zxid: rel,
        data_watches: vec!["/gone".into(), "/changed".into(), "/old".into()],
        exist_watches: vec!["/old".into(), "/notyet".into()],
        child_watches: vec!["/gone".into(), "/kids".into(), "/quiet".into()],
    };
    let o = t.run(2, Request::SetWatches(req));
    assert_eq!((o.reply.err, o.reply.body.len(), o.reply.zxid), (0, 0, t.s.last_zxid()));
    let want = [
        ev(2, Deleted, "/gone"),
        ev(2, Changed, "/changed"),
        ev(2, Created, "/old"),
        ev(2, Deleted, "/gone"),
        ev(2, Kids, "/kids"),
    ];
    assert_eq!(events(&o.notifications), want);
    let mut watched = t.s.watches_by_conn();
    assert_eq!(watched.pop(), Some((2, vec!["/notyet".to_owned(), "/old".to_owned(), "/quiet".to_owned()])));
    assert_eq!(t.s.watch_count(), 3);
    // SetWatches2 adds persistent and recursive ones without catch-up events.
    let req = SetWatches2 {
        relative_zxid: 0,
        persistent_watches: vec!["/kids".into()],
        persistent_recursive_watches: vec!["/missing".into()],
        ..Default::default()
    };
    assert!(t.run(1, Request::SetWatches2(req)).notifications.is_empty());
    assert_eq!(events(&t.create("/missing", 0).notifications), [ev(1, Created, "/missing")]);
    assert_eq!(events(&t.create("/kids/k2", 0).notifications), [ev(1, Kids, "/kids")]);
}

#[test]
fn set_watches_ignores_acls() {
    let mut t = T::new();
    let locked = vec![zk_core::proto::Acl::world_anyone(zk_core::proto::Perms::WRITE)];
    t.run(1, Request::Create(zk_core::proto::CreateRequest { acl: locked, ..creq("/l", None, 0) }));
    let req = SetWatches { relative_zxid: 0, exist_watches: vec!["/l".into()], ..Default::default() };
    assert_eq!(events(&t.run(2, Request::SetWatches(req)).notifications), [ev(2, Created, "/l")]);
}

#[test]
fn check_and_remove_watches_by_type() {
    let mut t = T::new();
    t.mk("/w");
    let check = |t: &mut T, ty| code(&t.run(1, Request::CheckWatches(watch_req("/w", ty))));
    let remove = |t: &mut T, ty| code(&t.run(1, Request::RemoveWatches(watch_req("/w", ty))));
    for ty in 1..=5 {
        assert_eq!(check(&mut t, ty), ErrorCode::NoWatcher, "type {ty}");
        assert_eq!(remove(&mut t, ty), ErrorCode::NoWatcher, "type {ty}");
    }
    for ty in [0, 6, -1] {
        assert_eq!(check(&mut t, ty), ErrorCode::MarshallingError, "type {ty}");
    }
    get_data(&mut t, 1, "/w");
    get_children(&mut t, 1, "/w");
    add_watch(&mut t, 1, "/w", 0);
    add_watch(&mut t, 1, "/w", 1);
    for ty in 1..=5 {
        assert_eq!(check(&mut t, ty), ErrorCode::Ok, "type {ty}");
    }
    assert_eq!(t.s.watch_count(), 2, "checkWatches removes nothing");
    assert_eq!(remove(&mut t, 2), ErrorCode::Ok);
    assert_eq!(check(&mut t, 2), ErrorCode::NoWatcher);
    assert_eq!(remove(&mut t, 5), ErrorCode::Ok);
    assert_eq!(check(&mut t, 5), ErrorCode::NoWatcher);
    assert_eq!(remove(&mut t, 4), ErrorCode::Ok);
    assert_eq!((check(&mut t, 1), check(&mut t, 4)), (ErrorCode::Ok, ErrorCode::NoWatcher));
    assert_eq!(remove(&mut t, 3), ErrorCode::Ok);
    assert_eq!(remove(&mut t, 3), ErrorCode::NoWatcher);
    assert_eq!(t.s.watch_count(), 0);
    // Another connection's watches are not this one's.
    get_data(&mut t, 2, "/w");
    assert_eq!(check(&mut t, 3), ErrorCode::NoWatcher);
}

#[test]
fn closing_a_connection_forgets_its_watches() {
    let mut t = T::new();
    t.mk("/a");
    get_data(&mut t, 2, "/a");
    add_watch(&mut t, 2, "/", 1);
    t.s.connection_closed(2);
    assert_eq!((t.s.watch_count(), t.s.identities(2)), (0, vec![]));
    assert!(set(&mut t, "/a").notifications.is_empty());
}
