//! PathCache on the embedded server: scripted changes with a persistent recursive watch and
//! with the one-shot fallback, a parent that appears later, caches without data.

use zk_core::CreateMode;
use zk_recipes::cache::{PathCache, PathEvent};

use crate::script::{check, run, Op, Probe, Step, Truth, Wait, PATH_STEPS};
use crate::tree::{server_with, strategy};
use crate::{client, next, settle, take, watched};

async fn scripted(fallback: bool) {
    let server = server_with(11, fallback).await;
    let zk = client(&server).await;
    zk.create("/workers", b"", CreateMode::Persistent).await.unwrap();
    zk.create("/workers/old", b"0", CreateMode::Persistent).await.unwrap();
    let mut cache = PathCache::new(client(&server).await, "/workers").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, PathCache::show).await, ["+old=0", "init"]);
    assert_eq!(cache.strategy(), strategy(fallback));
    check(&mut cache, Truth::Server(&server), "/workers", 1, 1).await;
    let mut steps = PATH_STEPS.to_vec();
    steps.push((Op::Delete("old"), &["-old"][..]));
    run(&mut cache, &zk, Truth::Server(&server), "/workers", (1, 1), &steps, Wait::No).await;
    assert_eq!(cache.get("b").and_then(|c| c.data), Some(b"4".to_vec()));
}

#[tokio::test(start_paused = true)]
async fn scripted_changes_with_a_persistent_watch() {
    scripted(false).await;
}

#[tokio::test(start_paused = true)]
async fn scripted_changes_with_one_shot_watches_when_add_watch_is_unimplemented() {
    scripted(true).await;
}

/// The parent does not exist at start; its children appear once it is created, and are
/// removed one by one before it goes.
async fn parent_appears_later(fallback: bool) {
    let server = server_with(12, fallback).await;
    let zk = client(&server).await;
    let mut cache = PathCache::new(client(&server).await, "/later").unwrap();
    cache.start().unwrap();
    assert_eq!(next(&mut cache).await, PathEvent::Initialized);
    let steps: &[Step] = &[
        (Op::Create("", "p"), &[]),
        (Op::Create("a", "1"), &["+a=1"]),
        (Op::Create("b", "2"), &["+b=2"]),
        (Op::Delete("a"), &["-a"]),
        (Op::Delete("b"), &["-b"]),
        (Op::Delete(""), &[]),
        (Op::Create("", "p2"), &[]),
        (Op::Create("c", "3"), &["+c=3"]),
    ];
    run(&mut cache, &zk, Truth::Server(&server), "/later", (1, 1), steps, Wait::No).await;
}

#[tokio::test(start_paused = true)]
async fn parent_created_later() {
    parent_appears_later(false).await;
}

#[tokio::test(start_paused = true)]
async fn parent_created_later_with_one_shot_watches() {
    parent_appears_later(true).await;
}

/// Without data, events and the snapshot carry `None`; a data change is still reported.
#[tokio::test(start_paused = true)]
async fn without_data() {
    let server = server_with(13, false).await;
    let zk = client(&server).await;
    zk.create("/w", b"", CreateMode::Persistent).await.unwrap();
    let mut cache = PathCache::new(client(&server).await, "/w").unwrap().with_data(false);
    cache.start().unwrap();
    cache.initialized().await.unwrap();
    assert_eq!(next(&mut cache).await, PathEvent::Initialized);
    zk.create("/w/a", b"secret", CreateMode::Persistent).await.unwrap();
    assert_eq!(PathCache::show(&next(&mut cache).await), "+a=?");
    zk.set_data("/w/a", b"other", None).await.unwrap();
    assert_eq!(PathCache::show(&next(&mut cache).await), "~a=?");
    let snap = cache.current();
    assert_eq!(snap["a"].data, None);
    assert_eq!(snap["a"].stat, server.node("/w/a").unwrap().stat);
}

/// With one-shot watches a PathCache watches the parent's children and each child's data,
/// not the children's children: a grandchild created fires nothing.
#[tokio::test(start_paused = true)]
async fn one_shot_mode_sets_no_child_watch_on_the_children() {
    let server = server_with(14, true).await;
    let zk = client(&server).await;
    zk.create("/w", b"", CreateMode::Persistent).await.unwrap();
    zk.create("/w/a", b"1", CreateMode::Persistent).await.unwrap();
    let cz = client(&server).await;
    let mut cache = PathCache::new(cz.clone(), "/w").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, PathCache::show).await, ["+a=1", "init"]);
    settle().await;
    assert_eq!(watched(&server, cz.session_id(), "/w"), ["/w", "/w/a"]);
    let sent = server.notifications_sent();
    zk.create("/w/a/deep", b"", CreateMode::Persistent).await.unwrap();
    settle().await;
    assert_eq!(server.notifications_sent(), sent, "no child watch on /w/a");
    zk.create("/w/b", b"2", CreateMode::Persistent).await.unwrap();
    assert_eq!(PathCache::show(&next(&mut cache).await), "+b=2");
    check(&mut cache, Truth::Server(&server), "/w", 1, 1).await;
}
