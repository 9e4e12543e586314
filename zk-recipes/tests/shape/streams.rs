//! The value streams say the same things the same way: each item is a `Result`; on a client
//! that renews its session (zk-core's default) a stream carries on across an expiry; on one
//! that ends, its last item is an error for which `is_session_ended()` holds, and then it
//! ends.

use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use zk_core::{Client, OnExpiry};
use zk_recipes::counter::SharedCount;
use zk_recipes::group::GroupMember;
use zk_recipes::queue::DistributedQueue;
use zk_recipes::{Election, Result};
use zk_testing::TestServer;

use crate::{server, settle, within};

/// One value stream, and what changes it (so that a renewed stream has something to show).
struct Subject {
    name: &'static str,
    items: BoxStream<'static, Result<()>>,
    /// Keeps the handle that owns the stream alive.
    _owner: Box<dyn std::any::Any + Send>,
}

/// Every value stream, followed through `observer`.
async fn subjects(observer: &Client, round: u32) -> Vec<Subject> {
    let unit = |s: BoxStream<'static, Result<()>>, name, owner: Box<dyn std::any::Any + Send>| Subject {
        name,
        items: s,
        _owner: owner,
    };
    let mut all = Vec::new();

    let election = Election::new(observer.clone(), &format!("/s/election{round}"), b"o").unwrap();
    let leaders = election.observe().map(|r| r.map(drop)).boxed();
    all.push(unit(leaders, "leader stream", Box::new(election)));

    let member = GroupMember::new(observer.clone(), &format!("/s/group{round}"), "o").unwrap();
    member.start().unwrap();
    let members = member.members().map(|r| r.map(drop)).boxed();
    all.push(unit(members, "members stream", Box::new(member)));

    let count = SharedCount::new(observer.clone(), &format!("/s/count{round}"), 0).unwrap();
    let changes = count.changes().map(|r| r.map(drop)).boxed();
    all.push(unit(changes, "count changes", Box::new(count)));

    let queue = DistributedQueue::new(observer.clone(), &format!("/s/queue{round}")).unwrap();
    let taken = queue.at_most_once().map(|r| r.map(drop)).boxed();
    all.push(unit(taken, "at-most-once consumer", Box::new(queue)));
    let queue = DistributedQueue::new(observer.clone(), &format!("/s/queue{round}b")).unwrap();
    let delivered = queue.at_least_once().map(|r| r.map(drop)).boxed();
    all.push(unit(delivered, "at-least-once consumer", Box::new(queue)));
    all
}

/// What `change` keeps alive: the writer's leadership, and its group membership.
struct Changes {
    leadership: Option<zk_recipes::Leadership>,
    _member: GroupMember,
}

/// Makes every subject of `round` show one more item, through `writer`.
async fn change_all(writer: &Client, round: u32) -> Changes {
    let election = Election::new(writer.clone(), &format!("/s/election{round}"), b"w").unwrap();
    let leadership = Some(election.campaign().await.unwrap());
    let member = GroupMember::new(writer.clone(), &format!("/s/group{round}"), "w").unwrap();
    member.start().unwrap();
    member.wait_joined().await.unwrap();
    let count = SharedCount::new(writer.clone(), &format!("/s/count{round}"), 0).unwrap();
    count.set(7).await.unwrap();
    put(writer, &format!("/s/queue{round}")).await;
    put(writer, &format!("/s/queue{round}b")).await;
    Changes { leadership, _member: member }
}

async fn put(writer: &Client, queue: &str) {
    DistributedQueue::new(writer.clone(), queue).unwrap().put(b"item").await.unwrap();
}

/// The next `Ok` item of `s`, skipping nothing else.
async fn next_ok(s: &mut Subject, why: &str) {
    let item = within(30, &format!("{}: {why}", s.name), s.items.next()).await;
    match item {
        Some(Ok(())) => {}
        other => panic!("{}: {why}: {other:?}", s.name),
    }
}

async fn observer(server: &TestServer, on_expiry: OnExpiry) -> Client {
    let b = server.client_builder().session_timeout(Duration::from_secs(10)).on_expiry(on_expiry);
    b.connect().await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_renewing_client_s_streams_carry_on_across_an_expiry() {
    let server = server(21).await;
    let writer = observer(&server, OnExpiry::NewSession).await;
    let watching = observer(&server, OnExpiry::NewSession).await;
    let mut all = subjects(&watching, 0).await;
    settle().await;
    let mut changes = change_all(&writer, 0).await;
    for s in &mut all {
        next_ok(s, "a first item").await;
    }
    assert!(server.expire_session(watching.session_id()));
    within(30, "the new session", async {
        let mut states = watching.state_watch();
        states.wait_for(|s| s.epoch == 1 && s.state.is_connected()).await
    })
    .await
    .unwrap();
    // A change made on the new session reaches every stream, and none says the session ended.
    SharedCount::new(writer.clone(), "/s/count0", 0).unwrap().set(8).await.unwrap();
    put(&writer, "/s/queue0").await;
    put(&writer, "/s/queue0b").await;
    changes.leadership.take().unwrap().resign().await.unwrap();
    for s in &mut all {
        let item = within(30, s.name, s.items.next()).await;
        assert!(matches!(item, Some(Ok(()))), "{}: carries on, {item:?}", s.name);
    }
}

#[tokio::test(start_paused = true)]
async fn an_ending_client_s_streams_end_with_the_session_s_end() {
    let server = server(22).await;
    let writer = observer(&server, OnExpiry::NewSession).await;
    let watching = observer(&server, OnExpiry::End).await;
    let mut all = subjects(&watching, 1).await;
    settle().await;
    let _changes = change_all(&writer, 1).await;
    for s in &mut all {
        next_ok(s, "a first item").await;
    }
    assert!(server.expire_session(watching.session_id()));
    for s in &mut all {
        // Items already on their way may come first; the end is an error, then nothing.
        let mut last = None;
        for _ in 0..10 {
            match within(30, s.name, s.items.next()).await {
                Some(Ok(())) => continue,
                Some(Err(e)) => {
                    last = Some(e);
                    break;
                }
                None => panic!("{}: ended without saying why", s.name),
            }
        }
        let e = last.unwrap_or_else(|| panic!("{}: no end", s.name));
        assert!(e.is_session_ended(), "{}: {e:?}", s.name);
        assert!(within(30, s.name, s.items.next()).await.is_none(), "{}: ends after the error", s.name);
    }
}
