//! The one deadline convention: every `x_timeout(timeout)` gives up after exactly `timeout`
//! of tokio time with `Ok(None)` / `Ok(false)` (never an error), leaves nothing behind, and
//! with a zero timeout looks once.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use zk_core::{Client, CreateMode};
use zk_recipes::barrier::{Barrier, DoubleBarrier};
use zk_recipes::cache::TreeCache;
use zk_recipes::group::GroupMember;
use zk_recipes::persistent_node::PersistentNode;
use zk_recipes::queue::SimpleDistributedQueue;
use zk_recipes::{
    Election, InterProcessMutex, InterProcessReadWriteLock, InterProcessSemaphore,
    InterProcessSemaphoreMutex, LeaderLatch, Result,
};
use zk_testing::TestServer;

use crate::{client, server, settle};

const LIMIT: Duration = Duration::from_secs(3);

/// Awaits `wait`, which cannot succeed: it must end with `Ok(None)` after `LIMIT` of tokio
/// time (give or take the round trips of its last look).
async fn gives_up<T: Debug>(what: &str, wait: impl Future<Output = Result<Option<T>>>) {
    let start = tokio::time::Instant::now();
    let r = wait.await;
    let took = start.elapsed();
    assert!(matches!(r, Ok(None)), "{what}: {r:?}");
    assert!(took >= LIMIT && took < LIMIT + Duration::from_millis(200), "{what}: gave up after {took:?}");
}

/// `Ok(false)` as `Ok(None)`, for the waits that return nothing.
async fn flag(wait: impl Future<Output = Result<bool>>) -> Result<Option<()>> {
    wait.await.map(|done| done.then_some(()))
}

/// Awaits a zero-timeout wait that can succeed at once: it must, without time passing.
async fn looks_once<T: Debug>(what: &str, wait: impl Future<Output = Result<Option<T>>>) -> T {
    let start = tokio::time::Instant::now();
    let r = wait.await;
    assert_eq!(start.elapsed(), Duration::ZERO, "{what}: no time passes");
    r.unwrap_or_else(|e| panic!("{what}: {e}")).unwrap_or_else(|| panic!("{what}: a zero timeout looks once"))
}

async fn setup(seed: u64) -> (TestServer, Client, Client) {
    let server = server(seed).await;
    let (a, b) = (client(&server).await, client(&server).await);
    (server, a, b)
}

#[tokio::test(start_paused = true)]
async fn locks_and_semaphores() {
    let (server, a, b) = setup(11).await;
    let held = InterProcessMutex::new(a.clone(), "/d/mutex").unwrap();
    let guard = looks_once("free mutex", held.acquire_timeout(Duration::ZERO)).await;
    gives_up("mutex", InterProcessMutex::new(b.clone(), "/d/mutex").unwrap().acquire_timeout(LIMIT)).await;
    settle().await;
    assert_eq!(server.children("/d/mutex").len(), 1, "the waiter's node is gone");
    guard.release().await.unwrap();

    let rw = InterProcessReadWriteLock::new(a.clone(), "/d/rw").unwrap();
    let writing = rw.write_lock().acquire().await.unwrap();
    let reader = InterProcessReadWriteLock::new(b.clone(), "/d/rw").unwrap();
    gives_up("read lock", reader.read_lock().acquire_timeout(LIMIT)).await;
    gives_up("write lock", reader.write_lock().acquire_timeout(LIMIT)).await;
    settle().await;
    assert_eq!(server.children("/d/rw").len(), 1);
    writing.release().await.unwrap();

    let sem = InterProcessSemaphore::new(a.clone(), "/d/sem", 2).unwrap();
    let lease = looks_once("free lease", sem.acquire_timeout(Duration::ZERO)).await;
    let other = InterProcessSemaphore::new(b.clone(), "/d/sem", 2).unwrap();
    gives_up("two leases of one free", other.acquire_many_timeout(2, LIMIT)).await;
    let second = other.acquire().await.unwrap();
    gives_up("a third lease", other.acquire_timeout(LIMIT)).await;
    settle().await;
    assert_eq!(server.children("/d/sem/leases").len(), 2, "only the two holders' leases");
    drop((lease, second));

    let sm = InterProcessSemaphoreMutex::new(a.clone(), "/d/sm").unwrap();
    let g = sm.acquire().await.unwrap();
    gives_up("semaphore mutex", InterProcessSemaphoreMutex::new(b, "/d/sm").unwrap().acquire_timeout(LIMIT))
        .await;
    g.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn leadership() {
    let (server, a, b) = setup(12).await;
    let leading = Election::new(a.clone(), "/d/election", b"a").unwrap();
    let term = looks_once("free election", leading.campaign_timeout(Duration::ZERO)).await;
    gives_up("campaign", Election::new(b.clone(), "/d/election", b"b").unwrap().campaign_timeout(LIMIT))
        .await;
    settle().await;
    assert_eq!(server.children("/d/election").len(), 1, "the candidate's node is gone");
    drop(term);

    let first = LeaderLatch::new(a, "/d/latch", "a").unwrap();
    first.start().unwrap();
    first.await_leadership().await.unwrap();
    looks_once("the leader", flag(first.await_leadership_timeout(Duration::ZERO))).await;
    let second = LeaderLatch::new(b, "/d/latch", "b").unwrap();
    second.start().unwrap();
    gives_up("latch", flag(second.await_leadership_timeout(LIMIT))).await;
}

#[tokio::test(start_paused = true)]
async fn queue_and_barriers() {
    let (server, a, b) = setup(13).await;
    let queue = SimpleDistributedQueue::new(a.clone(), "/d/queue").unwrap();
    gives_up("take", queue.take_timeout(LIMIT)).await;
    queue.offer(b"x").await.unwrap();
    assert_eq!(looks_once("take", queue.take_timeout(Duration::ZERO)).await, b"x");

    let barrier = Barrier::new(a.clone(), "/d/barrier").unwrap();
    looks_once("unset barrier", flag(barrier.wait_timeout(Duration::ZERO))).await;
    barrier.set_barrier().await.unwrap();
    gives_up("barrier", flag(barrier.wait_timeout(LIMIT))).await;

    let one = DoubleBarrier::new(a.clone(), "/d/double", 2).unwrap();
    gives_up("enter alone", flag(one.enter_timeout(LIMIT))).await;
    settle().await;
    assert!(server.children("/d/double").is_empty(), "the member's node is gone");
    let two = DoubleBarrier::new(b, "/d/double", 2).unwrap();
    let (x, y) = tokio::join!(one.enter(), two.enter());
    x.unwrap();
    y.unwrap();
    gives_up("leave alone", flag(one.leave_timeout(LIMIT))).await;
}

#[tokio::test(start_paused = true)]
async fn kept_nodes_and_caches() {
    let (server, a, b) = setup(14).await;
    // Another session's ephemerals stand where ours would go.
    for (path, mode) in [
        ("/d", CreateMode::Persistent),
        ("/d/node", CreateMode::Ephemeral),
        ("/d/group", CreateMode::Persistent),
        ("/d/group/me", CreateMode::Ephemeral),
    ] {
        b.create(path, b"", mode).await.unwrap();
    }
    let node = PersistentNode::new(a.clone(), "/d/node", CreateMode::Ephemeral).unwrap();
    node.start().unwrap();
    gives_up("persistent node", flag(node.wait_for_initial_create_timeout(LIMIT))).await;
    let member = GroupMember::new(a.clone(), "/d/group", "me").unwrap();
    member.start().unwrap();
    gives_up("group member", flag(member.wait_joined_timeout(LIMIT))).await;

    // A cache whose session cannot reach the server cannot initialize.
    let cache = TreeCache::new(a.clone(), "/d").unwrap();
    assert!(server.partition_session(a.session_id(), Duration::from_secs(10)));
    cache.start().unwrap();
    gives_up("cache", flag(cache.initialized_timeout(LIMIT))).await;
    gives_up("cache view", flag(cache.view().initialized_timeout(LIMIT))).await;
}
