//! `get_config`, `reconfig` and the `EnsembleTracker` on a real 3-member ZooKeeper 3.8
//! ensemble with dynamic reconfiguration: a client whose connect string names one member
//! learns the others from `/zookeeper/config`, moves to one of them when its member dies,
//! keeps its chroot and its session, and follows a reconfig that removes the dead member.
//! On a standalone server (both backends) there is nothing to follow and reconfig is
//! refused.

use std::time::Duration;

use zk_core::{Client, CreateMode, Error as ZkError, Reconfig};
use zk_recipes::ensemble::EnsembleTracker;
use zk_testing::{Backend, RealEnsemble};

#[path = "support/mod.rs"]
mod support;

use support::{eventually, within};

fn sorted(mut hosts: Vec<String>) -> Vec<String> {
    hosts.sort();
    hosts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_client_moves_to_members_its_connect_string_did_not_name() {
    let start = RealEnsemble::builder().reconfig_enabled(true).start();
    let mut ensemble = within(90, "the ensemble starts", start).await.expect("ensemble");
    let all: Vec<String> = (0..3).map(|i| ensemble.member_addr(i).to_string()).collect();
    let member = |i: usize| all[i].clone();
    // On member 2, which stays up: its calls never meet the kill below.
    let admin = within(15, "admin", Client::connect(&all[1])).await.unwrap();
    admin.create("/app", b"", CreateMode::Persistent).await.unwrap();

    // Only member 1, under a chroot.
    let connect = format!("{}/app", member(0));
    let zk =
        within(15, "connect", Client::builder(&connect).session_timeout(Duration::from_secs(10)).connect())
            .await
            .unwrap();
    assert_eq!(zk.hosts(), [member(0)]);
    let (config, _) = zk.get_config().await.unwrap();
    assert_eq!(config.servers.len(), 3, "{config:?}");
    assert_eq!(config.servers.iter().map(|s| s.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(config.servers.iter().map(|s| s.role.as_str()).collect::<Vec<_>>(), ["participant"; 3]);
    assert_eq!(sorted(config.hosts().unwrap().split(',').map(str::to_owned).collect()), sorted(all.clone()));
    let version = config.version.expect("a version");

    let tracker = EnsembleTracker::new(zk.clone());
    tracker.start().unwrap();
    let seen = within(15, "the first read", tracker.changed(None)).await.unwrap();
    assert_eq!(seen.version, Some(version));
    // The session task takes the new list in its own time (at once, when it runs next).
    eventually(15, "the tracker gave the client every member", || async {
        sorted(zk.hosts()) == sorted(all.clone())
    })
    .await;

    // Member 1 dies: the client can only go on through the members the tracker named.
    let session = zk.session_id();
    ensemble.kill(0).await;
    eventually(30, "the client is on another member", || async {
        zk.connected_server().is_some_and(|s| s != member(0)) && zk.exists("/").await.is_ok()
    })
    .await;
    assert_eq!(zk.session_id(), session, "the same session");
    zk.create("/moved", b"", CreateMode::Persistent).await.unwrap();
    assert!(admin.exists("/app/moved").await.unwrap().is_some(), "the chroot was kept");

    // The dead member leaves the ensemble: the tracker follows.
    let stale =
        admin.reconfig(Reconfig::Incremental { joining: vec![], leaving: vec![1] }, Some(version - 1)).await;
    assert_eq!(stale.map(drop), Err(ZkError::BadVersion), "a change meant for another version");

    let (after, _) = within(
        30,
        "reconfig",
        admin.reconfig(Reconfig::Incremental { joining: vec![], leaving: vec![1] }, Some(version)),
    )
    .await
    .unwrap();
    assert_eq!(after.servers.iter().map(|s| s.id).collect::<Vec<_>>(), [2, 3]);
    let followed = within(30, "the tracker sees the change", tracker.changed(Some(version))).await.unwrap();
    assert_eq!(followed.version, after.version);
    let two = sorted(vec![member(1), member(2)]);
    eventually(15, "the client's hosts follow", || async { sorted(zk.hosts()) == two }).await;
    assert_eq!(zk.get_data("/moved").await.map(|(d, _)| d), Ok(Vec::new()));

    tracker.close().await.unwrap();
    assert_eq!(tracker.start(), Err(zk_recipes::Error::Closed));
    zk.close().await;
    admin.close().await;
}

zk_testing::both_backends!(a_standalone_server_has_no_members_to_follow_and_refuses_reconfig);

async fn a_standalone_server_has_no_members_to_follow_and_refuses_reconfig(b: &Backend) {
    let zk = b.client().await;
    let (config, _) = zk.get_config().await.unwrap();
    assert_eq!((config.servers.len(), config.hosts()), (0, None), "{}: {config:?}", b.name());
    let r = zk.reconfig(Reconfig::Incremental { joining: vec![], leaving: vec![2] }, None).await;
    assert_eq!(r.map(drop), Err(ZkError::ReconfigDisabled), "{}", b.name());
    let empty = zk.reconfig(Reconfig::Replace { members: vec![] }, None).await;
    assert!(matches!(empty, Err(ZkError::BadArguments(_))), "{}: {empty:?}", b.name());
    for bad in ["", "h:1/chroot", "tls://h:1", "h:notaport"] {
        assert!(matches!(zk.update_hosts(bad), Err(ZkError::BadArguments(_))), "{}: {bad:?}", b.name());
    }
    let before = zk.hosts();
    let tracker = EnsembleTracker::new(zk.clone());
    tracker.start().unwrap();
    let seen = within(15, "the first read", tracker.changed(None)).await.unwrap();
    assert!(seen.servers.is_empty());
    assert_eq!(zk.hosts(), before, "{}: nothing to follow, the hosts stay", b.name());
    tracker.close().await.unwrap();
    zk.close().await;
}
