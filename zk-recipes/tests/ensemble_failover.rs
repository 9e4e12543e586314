//! The client and the recipes on a 3-member ensemble when members die, each scenario on a real
//! ZooKeeper 3.8 ensemble and on the embedded one ([`TestEnsemble`], paused clock):
//! the member the clients are on, then the quorum leader; and a rolling restart of every
//! member under a running workload. What must hold: the sessions survive (same ids), their
//! ephemerals stay, watches set before still fire, a held lock is still held once the client
//! is back (it may be Suspended meanwhile, never Lost), a latch group never has two leaders
//! and keeps its leader, and no operation of the workload fails (the client's retry policy
//! absorbs the ConnectionLoss of each restart; protected creates find their node after a
//! lost reply, so nothing is created twice).
//!
//! How fast this goes is a figure, not an assertion (BENCHMARKS.md, `examples/quorum_failover`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::sleep;
use zk_core::{Client, ClientBuilder, CreateMode, EventType};
use zk_recipes::{InterProcessMutex, LeaderLatch, LockStatus};
use zk_testing::{RealEnsemble, TestEnsemble};

#[path = "support/mod.rs"]
mod support;

use support::{curator_program, eventually, within};

const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// A real ensemble or an embedded one, behind the few operations the scenarios use.
enum Cluster {
    Real(RealEnsemble),
    Embedded(TestEnsemble),
}

impl Cluster {
    async fn real() -> Cluster {
        Cluster::Real(within(90, "the ensemble starts", RealEnsemble::start()).await.expect("ensemble"))
    }

    async fn embedded(seed: u64) -> Cluster {
        Cluster::Embedded(TestEnsemble::builder().no_tcp().seed(seed).start().await.expect("ensemble"))
    }

    /// An embedded ensemble whose members also listen on TCP, for programs in other languages.
    async fn embedded_tcp(seed: u64) -> Cluster {
        Cluster::Embedded(TestEnsemble::builder().seed(seed).start().await.expect("ensemble"))
    }

    /// Member `i`'s TCP connect string.
    fn member_connect(&self, i: usize) -> String {
        match self {
            Cluster::Real(e) => e.member_connect_string(i),
            Cluster::Embedded(e) => e.member_addr(i).expect("a TCP listener").to_string(),
        }
    }

    fn size(&self) -> usize {
        match self {
            Cluster::Real(e) => e.size(),
            Cluster::Embedded(e) => e.size(),
        }
    }

    fn builder(&self) -> ClientBuilder {
        match self {
            Cluster::Real(e) => Client::builder(&e.connect_string()),
            Cluster::Embedded(e) => e.client_builder(),
        }
    }

    /// Member `i` as `Client::connected_server` names it.
    fn member_name(&self, i: usize) -> String {
        match self {
            Cluster::Real(e) => e.member_addr(i).to_string(),
            Cluster::Embedded(_) => format!("member-{i}:2181"),
        }
    }

    async fn leader(&self) -> Option<usize> {
        match self {
            Cluster::Real(e) => e.leader().await,
            Cluster::Embedded(e) => e.leader(),
        }
    }

    async fn kill(&mut self, i: usize) {
        match self {
            Cluster::Real(e) => e.kill(i).await,
            Cluster::Embedded(e) => e.kill(i),
        }
    }

    async fn restart(&mut self, i: usize) {
        match self {
            Cluster::Real(e) => {
                within(90, "a member restarts", e.restart(i)).await.expect("restarted");
            }
            Cluster::Embedded(e) => {
                e.restart(i);
                e.wait_for_leader(Duration::from_secs(5)).await.expect("a leader");
            }
        }
    }
}

async fn connect(ensemble: &Cluster) -> Client {
    let connect = ensemble.builder().session_timeout(SESSION_TIMEOUT).connect();
    within(15, "connect", connect).await.expect("connect")
}

/// The index of the member `client` is connected to.
fn member_of(ensemble: &Cluster, client: &Client) -> usize {
    let server = client.connected_server().expect("connected");
    (0..ensemble.size()).find(|&i| ensemble.member_name(i) == server).expect("a member")
}

/// Which member a scenario kills.
#[derive(Debug, Clone, Copy)]
enum Victim {
    /// The member the lock holder and leader is connected to.
    HoldersMember,
    /// The quorum's leader.
    QuorumLeader,
}

async fn a_member_dies(mut ensemble: Cluster, victim: Victim) {
    let (holder, other) = (connect(&ensemble).await, connect(&ensemble).await);
    holder.create("/w", b"v0", CreateMode::Persistent).await.unwrap();
    holder.create("/e", b"", CreateMode::Ephemeral).await.unwrap();
    let guard = InterProcessMutex::new(holder.clone(), "/lock").unwrap().acquire().await.unwrap();
    let lead = LeaderLatch::new(holder.clone(), "/latch", "holder").unwrap();
    lead.start().unwrap();
    assert!(lead.await_leadership_timeout(Duration::from_secs(15)).await.unwrap());
    let follow = LeaderLatch::new(other.clone(), "/latch", "other").unwrap();
    follow.start().unwrap();
    eventually(15, "the second latch joined", || async { follow.node().is_some() }).await;
    let node = lead.node().expect("the leader's node");
    let (_, _, watch) = holder.get_data_and_watch("/w").await.unwrap();
    let session = holder.session_id();

    // Two leaders at once is never allowed, whatever happens below.
    let stop = Arc::new(AtomicBool::new(false));
    let two_leaders = {
        let stop = stop.clone();
        let latches = (Arc::new(lead), Arc::new(follow));
        let watched = latches.clone();
        // Bounded: 20,000 looks, 5 ms apart.
        let task = tokio::spawn(async move {
            let mut seen = 0u32;
            while !stop.load(Ordering::SeqCst) && seen < 20_000 {
                if watched.0.is_leader() && watched.1.is_leader() {
                    return true;
                }
                seen += 1;
                sleep(Duration::from_millis(5)).await;
            }
            false
        });
        (task, latches)
    };
    let (checker, (lead, follow)) = two_leaders;

    let victim_index = match victim {
        Victim::HoldersMember => member_of(&ensemble, &holder),
        Victim::QuorumLeader => ensemble.leader().await.expect("a leader"),
    };
    ensemble.kill(victim_index).await;
    eventually(30, "the holder is back on another member", || async {
        holder.connected_server().is_some_and(|s| s != ensemble.member_name(victim_index))
            && holder.exists("/").await.is_ok()
    })
    .await;
    assert_eq!(holder.session_id(), session, "{victim:?}: the same session");
    eventually(15, "the lock is held again", || async { guard.status() == LockStatus::Held }).await;
    // `other` may have been on the dead member too: it may be reconnecting, hence eventually.
    eventually(30, "the ephemeral stayed", || async { matches!(other.exists("/e").await, Ok(Some(_))) })
        .await;
    eventually(30, "the writer is back", || async { other.set_data("/w", b"v1", None).await.is_ok() }).await;
    let event = within(15, "the watch fires", watch).await.expect("an event");
    assert_eq!(event.event_type, EventType::NodeDataChanged, "{victim:?}");
    eventually(15, "the latch leads again", || async { lead.is_leader() }).await;
    assert_eq!(lead.node().as_deref(), Some(node.as_str()), "{victim:?}: the same leader node");
    assert!(!follow.is_leader(), "{victim:?}");

    stop.store(true, Ordering::SeqCst);
    assert!(!checker.await.unwrap(), "{victim:?}: two leaders at once");
    guard.release().await.unwrap();
    lead.close().await.unwrap();
    follow.close().await.unwrap();
    holder.close().await;
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_the_clients_are_on_dies() {
    a_member_dies(Cluster::real().await, Victim::HoldersMember).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quorum_leader_dies() {
    a_member_dies(Cluster::real().await, Victim::QuorumLeader).await;
}

#[tokio::test(start_paused = true)]
async fn embedded_the_member_the_clients_are_on_dies() {
    a_member_dies(Cluster::embedded(1).await, Victim::HoldersMember).await;
}

#[tokio::test(start_paused = true)]
async fn embedded_the_quorum_leader_dies() {
    a_member_dies(Cluster::embedded(2).await, Victim::QuorumLeader).await;
}

/// Every member restarted in turn while two clients write and read without pause: every
/// operation succeeds through the client's retry policy, and every protected create made
/// exactly one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_fails_no_operation() {
    a_rolling_restart(Cluster::real().await).await;
}

#[tokio::test(start_paused = true)]
async fn embedded_a_rolling_restart_fails_no_operation() {
    a_rolling_restart(Cluster::embedded(3).await).await;
}

async fn a_rolling_restart(mut ensemble: Cluster) {
    let setup = connect(&ensemble).await;
    setup.create("/jobs", b"", CreateMode::Persistent).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..2 {
        let (client, stop) = (connect(&ensemble).await, stop.clone());
        workers.push(tokio::spawn(async move {
            let mut done = 0usize;
            // Bounded: at most 5,000 operations, and the test stops it sooner.
            while !stop.load(Ordering::SeqCst) && done < 5_000 {
                let path = client
                    .retrying()
                    .create_protected(&format!("/jobs/w{w}-"), b"x", CreateMode::PersistentSequential)
                    .await
                    .map_err(|e| format!("worker {w}, create {done}: {e}"))?;
                client
                    .retrying()
                    .get_data(&path)
                    .await
                    .map_err(|e| format!("worker {w}, read {done}: {e}"))?;
                done += 1;
            }
            Ok::<usize, String>(done)
        }));
    }
    sleep(Duration::from_millis(500)).await;
    for i in 0..ensemble.size() {
        ensemble.kill(i).await;
        ensemble.restart(i).await;
        sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut made = 0;
    for worker in workers {
        made += within(60, "a worker stops", worker).await.unwrap().unwrap_or_else(|e| panic!("{e}"));
    }
    let nodes = setup.retrying().get_children("/jobs").await.unwrap();
    assert_eq!(nodes.len(), made, "one node per create, none twice");
    assert!(made > 0);
    setup.close().await;
}

/// Curator's own cluster test of its LeaderLatch (`TestLeaderLatchCluster.testInCluster`), run
/// by the Curator program `curator/CuratorCluster.java` against an ensemble over TCP: three
/// Curator clients, each knowing one member, each with a latch on one path; the member of the
/// leader's client is killed; exactly one of the others must lead once the old leader's
/// session has expired, and the old leader must have given leadership up.
async fn curator_leader_latch_in_cluster(mut ensemble: Cluster) {
    let classpath = curator_program("curator/CuratorCluster.java", "CuratorCluster").await;
    let root = format!("/curator-cluster-{}", std::process::id());
    let admin = connect(&ensemble).await;
    admin.create(&root, b"", CreateMode::Persistent).await.unwrap();
    let mut jvm = zk_testing::java::jvm(&classpath, "CuratorCluster").unwrap_or_else(|e| panic!("{e}"));
    jvm.arg(&root);
    for i in 0..ensemble.size() {
        jvm.arg(ensemble.member_connect(i));
    }
    let jvm = tokio::spawn(zk_testing::java::run(jvm, None, Duration::from_secs(90)));
    let leader_node = format!("{root}/leader");
    eventually(60, "Curator elected a leader", || async {
        jvm.is_finished() || matches!(admin.exists(&leader_node).await, Ok(Some(_)))
    })
    .await;
    if let Ok((data, _)) = admin.get_data(&leader_node).await {
        let leader: usize = String::from_utf8_lossy(&data).parse().expect("a member index");
        ensemble.kill(leader).await;
        let killed = format!("{root}/killed");
        eventually(30, "the killed signal is written", || async {
            matches!(
                admin.create(&killed, b"", CreateMode::Persistent).await,
                Ok(_) | Err(zk_core::Error::NodeExists)
            )
        })
        .await;
    }
    let out = within(120, "the Curator program ends", jvm).await.unwrap().expect("the JVM runs");
    assert!(
        out.status.success() && out.stdout.lines().last() == Some("DONE"),
        "{:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout,
        out.stderr.lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    eprintln!("Curator: {} in {:?}", out.stdout.replace('\n', "; "), out.elapsed);
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_s_leader_latch_cluster_test_on_the_embedded_ensemble() {
    curator_leader_latch_in_cluster(Cluster::embedded_tcp(4).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_s_leader_latch_cluster_test_on_a_real_ensemble() {
    curator_leader_latch_in_cluster(Cluster::real().await).await;
}
