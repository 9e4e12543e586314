//! The key node scenarios on both backends (the shared real ZooKeeper 3.8 and an embedded
//! server over TCP), in real time: the double barrier, and a group member surviving a
//! session expiry (forced on the real server by closing the session from a second client).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zk_core::{Client, CreateMode, EventType};
use zk_recipes::barrier::DoubleBarrier;
use zk_recipes::group::GroupMember;
use zk_recipes::persistent_node::PersistentNode;
use zk_recipes::Error;
use zk_testing::Backend;

use crate::{eventually, until, within};

zk_testing::both_backends!(worker_threads = 4;
    double_barrier,
    group_member_survives_expiry,
    ephemeral_persistent_node_is_recreated_after_expiry,
    double_barrier_enter_fails_on_expiry,
);

async fn double_barrier(b: &Backend) {
    const N: usize = 3;
    let root = b.create_root("nodes-double").await;
    let path = format!("{root}/barrier");
    let entered = Arc::new(AtomicUsize::new(0));
    let mut members = Vec::new();
    for _ in 0..N {
        members.push(Arc::new(DoubleBarrier::new(b.client().await, &path, N).unwrap()));
    }
    let mut tasks = Vec::new();
    for m in &members[..N - 1] {
        let (m, entered) = (m.clone(), entered.clone());
        tasks.push(tokio::spawn(async move {
            assert!(m.enter_timeout(Duration::from_secs(30)).await.unwrap());
            entered.fetch_add(1, Ordering::SeqCst);
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(entered.load(Ordering::SeqCst), 0, "{}: passed before the N-th member", b.name());
    assert!(members[N - 1].enter_timeout(Duration::from_secs(30)).await.unwrap());
    for t in tasks {
        within(10, "everyone enters", t).await.unwrap();
    }
    let left = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for m in &members[..N - 1] {
        let (m, left) = (m.clone(), left.clone());
        tasks.push(tokio::spawn(async move {
            assert!(m.leave_timeout(Duration::from_secs(30)).await.unwrap());
            left.fetch_add(1, Ordering::SeqCst);
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(left.load(Ordering::SeqCst), 0, "{}: left before the last member", b.name());
    assert!(members[N - 1].leave_timeout(Duration::from_secs(30)).await.unwrap());
    for t in tasks {
        within(10, "everyone leaves", t).await.unwrap();
    }
    let c = b.client().await;
    assert_eq!(c.get_children(&path).await.unwrap_or_default(), Vec::<String>::new(), "{}", b.name());
    c.close().await;
}

async fn group_member_survives_expiry(b: &Backend) {
    let root = b.create_root("nodes-group").await;
    let path = format!("{root}/service");
    // a's client goes through a proxy, so that its session can be expired on a real ZooKeeper
    // too (another client attaches to it and closes it while the proxy refuses a).
    let proxy = b.proxy().await;
    let a_client =
        within(10, "connect via proxy", Client::connect(&proxy.connect_string())).await.expect("connect");
    let a = GroupMember::new(a_client.clone(), &path, "a").unwrap().with_data(b"host-a:1");
    a.start().unwrap();
    let observer = GroupMember::new(b.client().await, &path, "b").unwrap().with_data(b"host-b:1");
    observer.start().unwrap();
    let mut view = observer.members();
    until(&mut view, 30, "both members", |m| m.len() == 2).await;

    let old = a_client.session_id();
    within(10, "expire a's session", proxy.expire_session_and_refuse(&a_client)).await.expect("expired");
    // a stays away until the observer has seen it gone: otherwise a may be back before the
    // observer re-reads the group, and the observer (whose watches coalesce the delete and
    // the create, as ZooKeeper's do) never sees a gone.
    until(&mut view, 30, "a gone", |m| !m.contains_key("a")).await;
    proxy.set_refusing(false);
    let m = until(&mut view, 30, "a back", |m| m.len() == 2).await;
    assert_eq!(m["a"], b"host-a:1", "{}", b.name());
    let new = a_client.session_id();
    assert_ne!(old, new, "{}: a's client opened a new session", b.name());
    let stat = a_client.exists(&format!("{path}/a")).await.unwrap().expect("a's node");
    assert_eq!(stat.ephemeral_owner, new, "{}: owned by the new session", b.name());
    a.close().await.unwrap();
    until(&mut view, 30, "a left", |m| !m.contains_key("a")).await;
    observer.close().await.unwrap();
}

/// An ephemeral `PersistentNode` whose session expires (through a proxy, so on a real
/// ZooKeeper too): another client sees the node go, then come back with the same data,
/// owned by the client's new session.
async fn ephemeral_persistent_node_is_recreated_after_expiry(b: &Backend) {
    let root = b.create_root("nodes-persistent").await;
    let path = format!("{root}/svc/host-1");
    let proxy = b.proxy().await;
    let a_client =
        within(10, "connect via proxy", Client::connect(&proxy.connect_string())).await.expect("connect");
    let node =
        PersistentNode::new(a_client.clone(), &path, CreateMode::Ephemeral).unwrap().with_data(b"host-1:80");
    node.start().unwrap();
    assert!(within(10, "initial create", node.wait_for_initial_create_timeout(Duration::from_secs(10)))
        .await
        .unwrap());
    let observer = b.client().await;
    let old = a_client.session_id();
    let (stat, gone) = observer.exists_and_watch(&path).await.unwrap();
    assert_eq!(stat.expect("the node").ephemeral_owner, old, "{}", b.name());

    within(10, "expire a's session", proxy.expire_session(&a_client)).await.expect("expired");

    let event = within(10, "the observer sees the node go", gone).await.unwrap();
    assert_eq!(event.event_type, EventType::NodeDeleted, "{}", b.name());
    eventually(10, "the node is back on a's new session", || async {
        let owner = observer.exists(&path).await.unwrap().map(|s| s.ephemeral_owner);
        owner.is_some_and(|o| o != old)
    })
    .await;
    let new = a_client.session_id();
    assert_ne!(new, old, "{}: a's client opened a new session", b.name());
    assert_eq!(a_client.status().epoch, 1, "{}", b.name());
    let (data, stat) = observer.get_data(&path).await.unwrap();
    assert_eq!(stat.ephemeral_owner, new, "{}: owned by the new session", b.name());
    assert_eq!(data, b"host-1:80", "{}", b.name());
    assert_eq!(node.actual_path().as_deref(), Some(path.as_str()), "{}", b.name());
    // It is still kept: a data change reaches the node of the new session.
    within(10, "set_data", node.set_data(b"host-1:81")).await.unwrap();
    assert_eq!(observer.get_data(&path).await.unwrap().0, b"host-1:81", "{}", b.name());
    within(10, "close", node.close()).await.unwrap();
    assert!(observer.exists(&path).await.unwrap().is_none(), "{}: deleted on close", b.name());
    a_client.close().await;
    observer.close().await;
}

/// A double-barrier member waiting to enter loses its session (through a proxy): its `enter`
/// fails with `SessionEnded`, its node is gone with the session (the others do not count it),
/// and the same member enters again on its client's new session.
async fn double_barrier_enter_fails_on_expiry(b: &Backend) {
    let root = b.create_root("nodes-double-expiry").await;
    let path = format!("{root}/barrier");
    let proxy = b.proxy().await;
    let a_client =
        within(10, "connect via proxy", Client::connect(&proxy.connect_string())).await.expect("connect");
    let a = Arc::new(DoubleBarrier::new(a_client.clone(), &path, 3).unwrap());
    let bm = Arc::new(DoubleBarrier::new(b.client().await, &path, 3).unwrap());
    let cm = DoubleBarrier::new(b.client().await, &path, 3).unwrap();
    let observer = b.client().await;
    let members = || async { observer.get_children(&path).await.unwrap_or_default() };

    let a_enter = {
        let a = a.clone();
        tokio::spawn(async move { a.enter_timeout(Duration::from_secs(60)).await })
    };
    let b_enter = {
        let bm = bm.clone();
        tokio::spawn(async move { bm.enter_timeout(Duration::from_secs(60)).await })
    };
    eventually(10, "two members wait", || async { members().await.len() == 2 }).await;

    within(10, "expire a's session", proxy.expire_session(&a_client)).await.expect("expired");

    let err = within(10, "a's enter fails", a_enter).await.unwrap().unwrap_err();
    assert_eq!(err, Error::SessionEnded(zk_core::Error::SessionExpired), "{}", b.name());
    eventually(10, "a's node is gone", || async { members().await.len() == 1 }).await;
    assert!(!b_enter.is_finished(), "{}: b waits for two more", b.name());

    // a enters again on its client's new session, c is the third: everyone passes.
    eventually(10, "a's client is connected again", || async { a_client.state().is_connected() }).await;
    assert_eq!(a_client.status().epoch, 1, "{}", b.name());
    let (ra, rc) = within(20, "a and c enter", async {
        tokio::join!(a.enter_timeout(Duration::from_secs(15)), cm.enter_timeout(Duration::from_secs(15)))
    })
    .await;
    assert!(ra.unwrap() && rc.unwrap(), "{}", b.name());
    assert!(within(10, "b enters", b_enter).await.unwrap().unwrap(), "{}", b.name());
    let owner = observer.exists(&a.node_path()).await.unwrap().expect("a's node").ephemeral_owner;
    assert_eq!(owner, a_client.session_id(), "{}: a's node on the new session", b.name());
    let (ra, rb, rc) = within(20, "everyone leaves", async {
        let limit = Duration::from_secs(15);
        tokio::join!(a.leave_timeout(limit), bm.leave_timeout(limit), cm.leave_timeout(limit))
    })
    .await;
    assert!(ra.unwrap() && rb.unwrap() && rc.unwrap(), "{}", b.name());
    assert_eq!(members().await, Vec::<String>::new(), "{}", b.name());
    a_client.close().await;
    observer.close().await;
}
