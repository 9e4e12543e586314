//! `GroupMember` on the embedded server.

use std::time::Duration;

use zk_recipes::group::{GroupMember, Members};
use zk_recipes::Error;

use crate::{client, owner, server, settle, until};

fn ids(m: &Members) -> Vec<&str> {
    m.keys().map(String::as_str).collect()
}

#[tokio::test(start_paused = true)]
async fn members_see_each_other_and_data_changes() {
    let server = server(41).await;
    let a = GroupMember::new(client(&server).await, "/groups/g", "a").unwrap().with_data(b"A1");
    a.start().unwrap();
    assert!(a.wait_joined_timeout(Duration::from_secs(5)).await.unwrap());
    let mut stream = a.members();
    until(&mut stream, 60, "a alone", |m| ids(m) == ["a"]).await;
    let b = GroupMember::new(client(&server).await, "/groups/g", "b").unwrap().with_data(b"B1");
    b.start().unwrap();
    let m = until(&mut stream, 60, "a and b", |m| m.len() == 2).await;
    assert_eq!(m["b"], b"B1");
    b.set_data(b"B2").await.unwrap();
    until(&mut stream, 60, "b's new data", |m| m.get("b").is_some_and(|d| d == b"B2")).await;
    assert_eq!(a.current_members()["b"], b"B2");
    b.close().await.unwrap();
    until(&mut stream, 60, "b left", |m| ids(m) == ["a"]).await;

    assert!(matches!(
        GroupMember::new(client(&server).await, "/groups/g", "x/y"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        GroupMember::new(client(&server).await, "/groups/g", ""),
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn member_survives_expiry() {
    let server = server(42).await;
    let a = GroupMember::new(client(&server).await, "/groups/h", "a").unwrap().with_data(b"A");
    a.start().unwrap();
    let b = GroupMember::new(client(&server).await, "/groups/h", "b").unwrap().with_data(b"B");
    b.start().unwrap();
    let mut b_view = b.members();
    until(&mut b_view, 60, "both", |m| m.len() == 2).await;

    let old = a.client().session_id();
    assert!(server.expire_session(old));
    until(&mut b_view, 60, "a gone with its session", |m| ids(m) == ["b"]).await;
    let m = until(&mut b_view, 60, "a back", |m| m.len() == 2).await;
    assert_eq!(m["a"], b"A");
    let new = a.client().session_id();
    assert_ne!(old, new);
    assert_eq!(owner(&server, "/groups/h/a"), Some(new), "a's node belongs to its new session");

    // a follows the group on its new session too.
    settle().await;
    let mut a_view = a.members();
    b.set_data(b"B2").await.unwrap();
    until(&mut a_view, 60, "a sees b's change", |m| m.get("b").is_some_and(|d| d == b"B2")).await;
    drop(a);
    until(&mut b_view, 60, "a left", |m| ids(m) == ["b"]).await;
}

/// `set_data` while the membership node's create is in flight is not lost.
#[tokio::test(start_paused = true)]
async fn set_data_while_joining_is_not_lost() {
    let server = server(43).await;
    let other = client(&server).await;
    other.create("/groups", b"", zk_core::CreateMode::Persistent).await.unwrap();
    other.create("/groups/r", b"", zk_core::CreateMode::Persistent).await.unwrap();
    let c = client(&server).await;
    server.set_latency(Duration::from_millis(50));
    let a = GroupMember::new(c, "/groups/r", "a").unwrap().with_data(b"A1");
    a.start().unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    a.set_data(b"A2").await.unwrap();
    assert!(a.wait_joined_timeout(Duration::from_secs(5)).await.unwrap());
    settle().await;
    server.set_latency(Duration::ZERO);
    assert_eq!(other.get_data("/groups/r/a").await.unwrap().0, b"A2");
    let mut view = a.members();
    until(&mut view, 60, "a with its new data", |m| m.get("a").is_some_and(|d| d == b"A2")).await;
}

/// A persistent node at the member's path: joining fails with `InvalidArgument` rather than
/// waiting forever.
#[tokio::test(start_paused = true)]
async fn joining_over_a_persistent_node_reports_it() {
    let server = server(44).await;
    let other = client(&server).await;
    other.create("/groups", b"", zk_core::CreateMode::Persistent).await.unwrap();
    other.create("/groups/p", b"", zk_core::CreateMode::Persistent).await.unwrap();
    other.create("/groups/p/a", b"stale", zk_core::CreateMode::Persistent).await.unwrap();
    let a = GroupMember::new(client(&server).await, "/groups/p", "a").unwrap();
    a.start().unwrap();
    let r = a.wait_joined_timeout(Duration::from_secs(600)).await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    a.close().await.unwrap();
    assert_eq!(other.get_data("/groups/p/a").await.unwrap().0, b"stale", "left untouched");
}

/// A member that follows the group pays a few requests per change, not a read of every
/// member: 40 members join one by one, and over the last 20 joins the first member's session
/// sends at most 3 requests per join (1 with a persistent watch, 3 with the one-shot watches
/// used where `addWatch` is missing; re-reading every member at each change took 60).
#[tokio::test(start_paused = true)]
async fn each_join_costs_a_member_a_few_requests_however_large_the_group() {
    use zk_core::proto::{ErrorCode, OpCode};
    use zk_testing::RequestMatcher;

    for one_shot in [false, true] {
        let server = server(44).await;
        if one_shot {
            server.fail_times(RequestMatcher::op(OpCode::AddWatch), ErrorCode::Unimplemented, 1_000);
        }
        let a = GroupMember::new(client(&server).await, "/groups/big", "a").unwrap();
        a.start().unwrap();
        assert!(a.wait_joined_timeout(Duration::from_secs(5)).await.unwrap());
        let mut stream = a.members();
        let requests = || {
            let id = a.client().session_id();
            server.sessions().into_iter().find(|s| s.id == id).expect("a's session").requests
        };
        let mut others = Vec::new();
        let mut before = 0;
        for i in 1..40 {
            if i == 20 {
                settle().await;
                before = requests();
            }
            let id = format!("m{i:02}");
            let m = GroupMember::new(client(&server).await, "/groups/big", &id).unwrap();
            m.start().unwrap();
            until(&mut stream, 60, "the new member", |m| m.contains_key(&id)).await;
            others.push(m);
        }
        settle().await;
        let per_join = (requests() - before) as f64 / 20.0;
        assert!(per_join <= 3.0, "one-shot {one_shot}: {per_join} requests per join");
        assert_eq!(a.current_members().len(), 40);
    }
}
