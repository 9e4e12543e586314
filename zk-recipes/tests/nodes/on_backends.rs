//! The key node scenarios on both backends (the shared real ZooKeeper 3.8 and an embedded
//! server over TCP), in real time: the double barrier, and a group member surviving a
//! session expiry (forced on the real server by closing the session from a second client).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zk_core::Client;
use zk_recipes::barrier::DoubleBarrier;
use zk_recipes::group::GroupMember;
use zk_testing::Backend;

use crate::{until, within};

zk_testing::both_backends!(worker_threads = 4; double_barrier, group_member_survives_expiry);

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
            assert!(m.enter(Some(Duration::from_secs(30))).await.unwrap());
            entered.fetch_add(1, Ordering::SeqCst);
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(entered.load(Ordering::SeqCst), 0, "{}: passed before the N-th member", b.name());
    assert!(members[N - 1].enter(Some(Duration::from_secs(30))).await.unwrap());
    for t in tasks {
        within(10, "everyone enters", t).await.unwrap();
    }
    let left = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for m in &members[..N - 1] {
        let (m, left) = (m.clone(), left.clone());
        tasks.push(tokio::spawn(async move {
            assert!(m.leave(Some(Duration::from_secs(30))).await.unwrap());
            left.fetch_add(1, Ordering::SeqCst);
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(left.load(Ordering::SeqCst), 0, "{}: left before the last member", b.name());
    assert!(members[N - 1].leave(Some(Duration::from_secs(30))).await.unwrap());
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
    let a = GroupMember::builder(a_client.clone(), &path, "a").data(b"host-a:1").start().unwrap();
    let observer = GroupMember::builder(b.client().await, &path, "b").data(b"host-b:1").start().unwrap();
    let mut view = observer.members();
    until(&mut view, 30, "both members", |m| m.len() == 2).await;

    let old = a_client.session_id();
    proxy.set_refusing(true);
    let twin = Client::builder(&b.connect_string()).session(old, &a_client.session_password()).connect();
    within(10, "attach to a's session", twin).await.expect("attach").close().await;
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
