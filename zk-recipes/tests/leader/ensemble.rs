//! LeaderLatch on a real 3-member ZooKeeper 3.8 ensemble ([`RealEnsemble`]): the quorum is
//! lost and comes back, and the latch group keeps one leader with the same node. (How fast
//! leadership comes back is a figure, not an assertion: `examples/quorum_failover`, in
//! BENCHMARKS.md.)

use std::time::Duration;

use tokio::time::sleep;
use zk_core::Client;
use zk_recipes::LeaderLatch;
use zk_testing::RealEnsemble;

use crate::{eventually, within};

/// Three latches on three sessions; the quorum is down for `down`, then back. Returns the
/// leader's index and node before, and after (once the group has a leader again).
async fn quorum_loss(session_timeout: Duration, down: Duration) -> ((usize, String), (usize, String)) {
    let mut zk = within(90, "the ensemble starts", RealEnsemble::start()).await.expect("ensemble");
    let mut latches = Vec::new();
    for i in 0..3 {
        let connect = Client::builder(&zk.connect_string()).session_timeout(session_timeout).connect();
        let client = within(15, "connect", connect).await.expect("connect");
        let latch = LeaderLatch::new(client, "/election", format!("p{i}")).unwrap();
        latch.start().unwrap();
        eventually(15, "joined", || async { latch.node().is_some() }).await;
        latches.push(latch);
    }
    assert!(latches[0].await_leadership_timeout(Duration::from_secs(15)).await.unwrap(), "p0 leads first");
    let before = (0, latches[0].node().expect("p0's node"));

    zk.kill_quorum().await;
    sleep(down).await;
    within(60, "the quorum comes back", zk.restart_all()).await.expect("quorum back");
    let mut after = None;
    for _ in 0..600 {
        let leaders: Vec<usize> = (0..3).filter(|&i| latches[i].is_leader()).collect();
        assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
        if let [i] = leaders[..] {
            after = Some((i, latches[i].node().expect("the leader's node")));
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    let after = after.expect("a leader within 30 s of the quorum's return");
    for latch in &latches {
        within(15, "close", latch.close()).await.unwrap();
    }
    (before, after)
}

/// Quorum down for a third of the session timeout: the sessions live on, and the leader
/// leads again with the same node (the same fencing token); nobody else is elected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latch_leader_keeps_its_node_across_a_short_quorum_loss() {
    let timeout = Duration::from_secs(10);
    let (before, after) = quorum_loss(timeout, timeout / 3).await;
    assert_eq!(after, before, "same leader, same node");
}

/// Quorum down for longer than the session timeout: the ensemble keeps the sessions (a new
/// ZooKeeper leader restarts every session's timer), the clients resume them, and the latch
/// leader leads again with the same node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latch_leader_keeps_its_node_across_a_quorum_loss_longer_than_its_timeout() {
    let timeout = Duration::from_secs(4);
    let (before, after) = quorum_loss(timeout, timeout * 3 / 2).await;
    assert_eq!(after, before, "same leader, same node");
}
