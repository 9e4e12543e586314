//! NodeCache on the embedded server: scripted changes with a persistent watch and with the
//! one-shot fallback.

use zk_core::CreateMode;
use zk_recipes::cache::{NodeCache, NodeEvent};

use crate::script::{check, run, Probe, Truth, Wait, NODE_STEPS};
use crate::tree::{server_with, strategy};
use crate::{client, next, settle, take, watched};

async fn scripted(fallback: bool) {
    let server = server_with(21, fallback).await;
    let zk = client(&server).await;
    zk.create("/cfg", b"", CreateMode::Persistent).await.unwrap();
    let mut cache = NodeCache::new(client(&server).await, "/cfg/flag").unwrap();
    cache.start().unwrap();
    assert_eq!(next(&mut cache).await, NodeEvent::Initialized);
    assert_eq!(cache.current(), None);
    assert_eq!(cache.strategy(), strategy(fallback));
    run(&mut cache, &zk, Truth::Server(&server), "/cfg/flag", (0, 0), NODE_STEPS, Wait::No).await;
    assert_eq!(cache.current().map(|n| n.data), Some(b"4".to_vec()));
}

#[tokio::test(start_paused = true)]
async fn scripted_changes_with_a_persistent_watch() {
    scripted(false).await;
}

#[tokio::test(start_paused = true)]
async fn scripted_changes_with_one_shot_watches_when_add_watch_is_unimplemented() {
    scripted(true).await;
}

/// An existing node is reported as created at start, then `Initialized`.
#[tokio::test(start_paused = true)]
async fn existing_node_at_start() {
    let server = server_with(22, false).await;
    let zk = client(&server).await;
    zk.create("/n", b"v", CreateMode::Persistent).await.unwrap();
    let mut cache = NodeCache::new(client(&server).await, "/n").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, NodeCache::show).await, ["+v", "init"]);
    check(&mut cache, Truth::Server(&server), "/n", 0, 0).await;
}

/// With one-shot watches a NodeCache sets only its node's data watch: a child created below
/// the node fires nothing, a change of the node is still seen.
#[tokio::test(start_paused = true)]
async fn one_shot_mode_sets_only_a_data_watch() {
    let server = server_with(23, true).await;
    let zk = client(&server).await;
    zk.create("/n", b"v", CreateMode::Persistent).await.unwrap();
    let cz = client(&server).await;
    let mut cache = NodeCache::new(cz.clone(), "/n").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, NodeCache::show).await, ["+v", "init"]);
    settle().await;
    assert_eq!(watched(&server, cz.session_id(), "/n"), ["/n"]);
    let sent = server.notifications_sent();
    zk.create("/n/child", b"", CreateMode::Persistent).await.unwrap();
    settle().await;
    assert_eq!(server.notifications_sent(), sent, "no child watch on the node");
    zk.set_data("/n", b"w", None).await.unwrap();
    assert_eq!(NodeCache::show(&next(&mut cache).await), "~w");
}
