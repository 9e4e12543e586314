//! How notifications become reads: a burst of them is taken as one batch (one read per node,
//! pipelined), and nodes below an unreadable parent stay out.

use std::time::Duration;

use zk_core::proto::{ErrorCode, OpCode};
use zk_core::{Acl, CreateMode, CreateOptions, Perms};
use zk_recipes::cache::TreeCache;
use zk_testing::RequestMatcher;

use crate::script::{check, Probe, Truth};
use crate::tree::server_with;
use crate::{client, next, ready, settle, take};

/// Holds the cache's connection for 1 s while `changes` run, so that their notifications
/// reach the cache together, then waits until it has handled them.
async fn while_held<F: std::future::Future<Output = ()>>(
    server: &zk_testing::TestServer,
    session: i64,
    changes: F,
) {
    assert!(server.pause_connection(session, Duration::from_secs(1)));
    changes.await;
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// Five notifications of one node, delivered together, cause a single read: here that read
/// is answered "not readable", so the node is dropped once and not read again (one read per
/// notification would have found it back).
#[tokio::test(start_paused = true)]
async fn repeated_notifications_of_a_node_cause_one_read() {
    let server = server_with(41, false).await;
    let zk = client(&server).await;
    zk.create("/app", b"", CreateMode::Persistent).await.unwrap();
    zk.create("/app/a", b"0", CreateMode::Persistent).await.unwrap();
    let cz = client(&server).await;
    let mut cache = TreeCache::new(cz.clone(), "/app").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 3, TreeCache::show).await, ["+/app=", "+/app/a=0", "init"]);

    while_held(&server, cz.session_id(), async {
        for i in 1..=5 {
            zk.set_data("/app/a", i.to_string().as_bytes(), None).await.unwrap();
        }
        server.fail_next(RequestMatcher::op(OpCode::GetData).path_prefix("/app/a"), ErrorCode::NoAuth);
    })
    .await;
    assert_eq!(ready(&mut cache, TreeCache::show), ["-/app/a"]);
    assert_eq!(cache.get("/app/a"), None);

    // The next notification reads it again.
    zk.set_data("/app/a", b"6", None).await.unwrap();
    assert_eq!(TreeCache::show(&next(&mut cache).await), "+/app/a=6");
    check(&mut cache, Truth::Server(&server), "/app", 0, usize::MAX).await;
}

/// A burst of changes over several nodes, delivered together: each node is reported once
/// with its latest state (a node deleted and created again in the burst is updated; one
/// created and deleted in it is not reported), parents before children, children before
/// parents on removal, and the snapshot equals the server's tree.
#[tokio::test(start_paused = true)]
async fn a_burst_of_notifications_is_coalesced_per_node() {
    let server = server_with(42, false).await;
    let zk = client(&server).await;
    for (p, d) in [("/app", ""), ("/app/a", "1"), ("/app/b", "1"), ("/app/c", "1"), ("/app/c/d", "1")] {
        zk.create(p, d.as_bytes(), CreateMode::Persistent).await.unwrap();
    }
    let cz = client(&server).await;
    let mut cache = TreeCache::new(cz.clone(), "/app").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 6, TreeCache::show).await.last().map(String::as_str), Some("init"));

    while_held(&server, cz.session_id(), async {
        zk.create("/app/x", b"1", CreateMode::Persistent).await.unwrap();
        zk.create("/app/x/y", b"2", CreateMode::Persistent).await.unwrap();
        zk.set_data("/app/a", b"2", None).await.unwrap();
        zk.set_data("/app/a", b"3", None).await.unwrap();
        zk.delete("/app/b", None).await.unwrap();
        zk.create("/app/b", b"new", CreateMode::Persistent).await.unwrap();
        zk.delete("/app/c/d", None).await.unwrap();
        zk.delete("/app/c", None).await.unwrap();
        zk.create("/app/e", b"", CreateMode::Persistent).await.unwrap();
        zk.delete("/app/e", None).await.unwrap();
        zk.set_data("/app/x/y", b"4", None).await.unwrap();
    })
    .await;
    assert_eq!(
        ready(&mut cache, TreeCache::show),
        ["+/app/x=1", "+/app/x/y=4", "~/app/a=3", "~/app/b=new", "-/app/c/d", "-/app/c"]
    );
    check(&mut cache, Truth::Server(&server), "/app", 0, usize::MAX).await;
}

/// A node whose parent this session may not read is left out, though its own notifications
/// reach the cache (parents come before children); a re-sync keeps it out.
#[tokio::test(start_paused = true)]
async fn a_child_of_an_unreadable_parent_is_left_out() {
    let server = server_with(43, false).await;
    let zk = client(&server).await;
    zk.create("/app", b"", CreateMode::Persistent).await.unwrap();
    let cz = client(&server).await;
    let mut cache = TreeCache::new(cz.clone(), "/app").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, TreeCache::show).await, ["+/app=", "init"]);

    let no_read = Perms::WRITE | Perms::CREATE | Perms::DELETE | Perms::ADMIN;
    let hidden = CreateOptions { mode: CreateMode::Persistent, acl: Some(vec![Acl::world_anyone(no_read)]) };
    zk.create("/app/secret", b"s", hidden).await.unwrap();
    zk.create("/app/secret/pub", b"p", CreateMode::Persistent).await.unwrap();
    zk.set_data("/app/secret/pub", b"q", None).await.unwrap();
    zk.create("/app/z", b"z", CreateMode::Persistent).await.unwrap();
    assert_eq!(TreeCache::show(&next(&mut cache).await), "+/app/z=z");
    settle().await;
    assert_eq!(ready(&mut cache, TreeCache::show), Vec::<String>::new());
    assert_eq!(cache.current().keys().collect::<Vec<_>>(), ["/app", "/app/z"]);

    // A re-sync (after a dropped connection) leaves it out too.
    assert!(server.drop_connection(cz.session_id()));
    tokio::time::sleep(Duration::from_secs(5)).await;
    zk.set_data("/app/secret/pub", b"r", None).await.unwrap();
    settle().await;
    assert_eq!(ready(&mut cache, TreeCache::show), Vec::<String>::new());
    assert_eq!(cache.current().keys().collect::<Vec<_>>(), ["/app", "/app/z"]);
}
