//! `new` creates nothing, `start` starts (once), `close` stops and removes (idempotent),
//! a closed handle cannot start again, and dropping a started handle removes what it made:
//! the same for the latch, the three caches, the persistent node and the group member.

use futures::future::LocalBoxFuture;
use zk_core::{Client, CreateMode};
use zk_recipes::cache::{NodeCache, PathCache, TreeCache};
use zk_recipes::group::GroupMember;
use zk_recipes::persistent_node::PersistentNode;
use zk_recipes::{Error, LeaderLatch, Result};
use zk_testing::TestServer;

use crate::{client, eventually, server, settle, within};

/// A handle with a background task, as the test drives it.
trait Running {
    fn start(&self) -> Result<()>;
    fn close(&self) -> LocalBoxFuture<'_, Result<()>>;
    /// The handle's main wait (to lead, to be created or joined, to be initialized).
    fn wait(&self) -> LocalBoxFuture<'_, Result<()>>;
}

macro_rules! running {
    ($($t:ty => $wait:ident),*) => {$(
        impl Running for $t {
            fn start(&self) -> Result<()> {
                <$t>::start(self)
            }
            fn close(&self) -> LocalBoxFuture<'_, Result<()>> {
                Box::pin(<$t>::close(self))
            }
            fn wait(&self) -> LocalBoxFuture<'_, Result<()>> {
                Box::pin(<$t>::$wait(self))
            }
        }
    )*};
}
running!(
    LeaderLatch => await_leadership,
    NodeCache => initialized,
    PathCache => initialized,
    TreeCache => initialized,
    PersistentNode => wait_for_initial_create,
    GroupMember => wait_joined
);

/// What a handle keeps on the server: how many of it there are (nodes, or watches).
type Probe = Box<dyn Fn(&TestServer, &Client) -> usize>;

/// The nodes directly under `dir`.
fn children_of(dir: &'static str) -> Probe {
    Box::new(move |server, _| server.children(dir).len())
}

/// Whether `path` exists.
fn node_at(path: &'static str) -> Probe {
    Box::new(move |server, _| usize::from(server.node(path).is_some()))
}

/// Whether the client's session watches `path` or below (1) or not (0).
fn watches_under(path: &'static str) -> Probe {
    Box::new(move |server, client| {
        let id = client.session_id();
        let watches = server.watches().into_iter().filter(|(s, _)| *s == id);
        usize::from(watches.flat_map(|(_, paths)| paths).any(|p| p.starts_with(path)))
    })
}

/// Runs the life cycle on two handles built by `build` on one client: the first is started
/// twice, closed twice and started again; the second is dropped while running.
async fn check<H: Running>(seed: u64, what: &str, probe: Probe, build: impl Fn(Client) -> Result<H>) {
    let server = server(seed).await;
    let zk = client(&server).await;
    zk.create("/shape", b"", CreateMode::Persistent).await.unwrap();

    let handle = build(zk.clone()).unwrap();
    settle().await;
    assert_eq!(probe(&server, &zk), 0, "{what}: new creates nothing");
    handle.start().unwrap();
    eventually(10, &format!("{what}: started"), || async { probe(&server, &zk) == 1 }).await;
    handle.start().unwrap();
    settle().await;
    assert_eq!(probe(&server, &zk), 1, "{what}: a second start does nothing");
    handle.close().await.unwrap();
    settle().await;
    assert_eq!(probe(&server, &zk), 0, "{what}: close removes it");
    handle.close().await.unwrap();
    assert!(matches!(handle.start(), Err(Error::Closed)), "{what}: no start after close");
    let waited = within(10, &format!("{what}: a wait after close"), handle.wait()).await;
    assert!(matches!(waited, Err(Error::Closed)), "{what}: a wait after close says so: {waited:?}");
    settle().await;
    assert_eq!(probe(&server, &zk), 0, "{what}: still nothing after the refused start");

    let dropped = build(zk.clone()).unwrap();
    dropped.start().unwrap();
    eventually(10, &format!("{what}: the second one started"), || async { probe(&server, &zk) == 1 }).await;
    drop(dropped);
    eventually(10, &format!("{what}: dropping removes it"), || async { probe(&server, &zk) == 0 }).await;
}

#[tokio::test(start_paused = true)]
async fn leader_latch() {
    check(1, "latch", children_of("/shape/latch"), |c| LeaderLatch::new(c, "/shape/latch", "me")).await;
}

#[tokio::test(start_paused = true)]
async fn persistent_node() {
    let build = |c| PersistentNode::new(c, "/shape/node", CreateMode::Ephemeral).map(|n| n.with_data(b"x"));
    check(2, "persistent node", node_at("/shape/node"), build).await;
}

#[tokio::test(start_paused = true)]
async fn protected_persistent_node() {
    let build =
        |c| PersistentNode::new(c, "/shape/p/node", CreateMode::Persistent).map(|n| n.with_protection());
    check(3, "protected persistent node", children_of("/shape/p"), build).await;
}

#[tokio::test(start_paused = true)]
async fn group_member() {
    let build = |c| GroupMember::new(c, "/shape/group", "me").map(|m| m.with_data(b"x"));
    check(4, "group member", node_at("/shape/group/me"), build).await;
}

#[tokio::test(start_paused = true)]
async fn node_cache() {
    check(5, "node cache", watches_under("/shape/n"), |c| NodeCache::new(c, "/shape/n")).await;
}

#[tokio::test(start_paused = true)]
async fn path_cache() {
    check(6, "path cache", watches_under("/shape/d"), |c| PathCache::new(c, "/shape/d")).await;
}

#[tokio::test(start_paused = true)]
async fn tree_cache() {
    check(7, "tree cache", watches_under("/shape/t"), |c| TreeCache::new(c, "/shape/t")).await;
}

/// A latch that left with `close` cannot be rejoined either: the one way back is a new handle.
#[tokio::test(start_paused = true)]
async fn a_closed_latch_refuses_rejoin_and_a_closed_cache_rebuild() {
    let server = server(8).await;
    let latch = LeaderLatch::new(client(&server).await, "/shape/latch", "me").unwrap();
    latch.start().unwrap();
    latch.close().await.unwrap();
    assert!(matches!(latch.rejoin(client(&server).await).await, Err(Error::Closed)));
    let cache = PathCache::new(client(&server).await, "/shape").unwrap();
    cache.start().unwrap();
    cache.close().await.unwrap();
    assert!(matches!(cache.rebuild(client(&server).await).await, Err(Error::Closed)));
}
