//! TreeCache on the embedded server: scripted changes with a persistent recursive watch and
//! with the one-shot fallback, an initial nested tree, a depth limit.

use zk_core::proto::{ErrorCode, OpCode};
use zk_core::CreateMode;
use zk_recipes::cache::{TreeCache, WatchStrategy};
use zk_testing::{RequestMatcher, TestServer};

use crate::script::{check, run, Op, Probe, Step, Truth, Wait, TREE_STEPS};
use crate::{client, server, take};

const ALL: (usize, usize) = (0, usize::MAX);

/// A server whose `addWatch` answers Unimplemented when `fallback` is set.
pub(crate) async fn server_with(seed: u64, fallback: bool) -> TestServer {
    let s = server(seed).await;
    if fallback {
        s.fail_times(RequestMatcher::op(OpCode::AddWatch), ErrorCode::Unimplemented, 1_000);
    }
    s
}

pub(crate) fn strategy(fallback: bool) -> Option<WatchStrategy> {
    Some(if fallback { WatchStrategy::OneShot } else { WatchStrategy::Persistent })
}

/// The whole tree script: every step's events exactly, the snapshot equal to the server's.
async fn scripted(fallback: bool) {
    let server = server_with(1, fallback).await;
    let zk = client(&server).await;
    zk.create("/app", b"", CreateMode::Persistent).await.unwrap();
    let mut cache = TreeCache::new(client(&server).await, "/app").unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, TreeCache::show).await, ["+/app=", "init"]);
    assert_eq!(cache.strategy(), strategy(fallback));
    cache.initialized().await.unwrap();
    check(&mut cache, Truth::Server(&server), "/app", ALL.0, ALL.1).await;
    let mut steps = TREE_STEPS.to_vec();
    steps.extend_from_slice(&[
        (Op::Delete("a/e"), &["-@/a/e"][..]),
        (Op::Delete("a"), &["-@/a"]),
        (Op::Delete(""), &["-@"]),
        (Op::Create("", "again"), &["+@=again"]),
        (Op::Create("z", "z"), &["+@/z=z"]),
    ]);
    run(&mut cache, &zk, Truth::Server(&server), "/app", ALL, &steps, Wait::No).await;
    assert_eq!(cache.strategy(), strategy(fallback));
}

#[tokio::test(start_paused = true)]
async fn scripted_changes_with_a_persistent_watch() {
    scripted(false).await;
}

#[tokio::test(start_paused = true)]
async fn scripted_changes_with_one_shot_watches_when_add_watch_is_unimplemented() {
    scripted(true).await;
}

/// A tree already there is reported parents first, then `Initialized`.
async fn initial_tree(fallback: bool) {
    let server = server_with(2, fallback).await;
    let zk = client(&server).await;
    for p in ["/app", "/app/a", "/app/a/b", "/app/c", "/app/a/b/d"] {
        zk.create(p, p.as_bytes(), CreateMode::Persistent).await.unwrap();
    }
    let mut cache = TreeCache::new(client(&server).await, "/app").unwrap();
    cache.start().unwrap();
    let got = take(&mut cache, 6, TreeCache::show).await;
    assert_eq!(
        got,
        [
            "+/app=/app",
            "+/app/a=/app/a",
            "+/app/c=/app/c",
            "+/app/a/b=/app/a/b",
            "+/app/a/b/d=/app/a/b/d",
            "init"
        ]
    );
    check(&mut cache, Truth::Server(&server), "/app", ALL.0, ALL.1).await;
    assert_eq!(cache.children("/app"), ["a", "c"]);
}

#[tokio::test(start_paused = true)]
async fn initial_tree_is_reported_parents_first() {
    initial_tree(false).await;
}

#[tokio::test(start_paused = true)]
async fn initial_tree_is_reported_parents_first_with_one_shot_watches() {
    initial_tree(true).await;
}

/// Nodes below the depth limit are neither cached nor reported; with a persistent watch the
/// child counters of the deepest cached nodes stay exact (one-shot watches set no child watch
/// there, as Curator's `TreeCache`).
async fn depth_limit(fallback: bool) {
    let server = server_with(3, fallback).await;
    let zk = client(&server).await;
    zk.create("/app", b"", CreateMode::Persistent).await.unwrap();
    let mut cache = TreeCache::new(client(&server).await, "/app").unwrap().max_depth(1);
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, TreeCache::show).await, ["+/app=", "init"]);
    let steps: &[Step] = &[
        (Op::Create("x", "1"), &["+@/x=1"]),
        (Op::Create("x/y", "2"), &[]),
        (Op::Set("x/y", "3"), &[]),
        (Op::Create("x/y/z", "4"), &[]),
        (Op::Set("x", "5"), &["~@/x=5"]),
        (Op::Delete("x/y/z"), &[]),
        (Op::Delete("x/y"), &[]),
        (Op::Delete("x"), &["-@/x"]),
    ];
    run(&mut cache, &zk, Truth::Server(&server), "/app", (0, 1), steps, Wait::No).await;
}

#[tokio::test(start_paused = true)]
async fn depth_limit_hides_deeper_nodes() {
    depth_limit(false).await;
}

#[tokio::test(start_paused = true)]
async fn depth_limit_hides_deeper_nodes_with_one_shot_watches() {
    depth_limit(true).await;
}

#[tokio::test(start_paused = true)]
async fn invalid_path_is_rejected() {
    let server = server(4).await;
    let err = TreeCache::new(client(&server).await, "no-slash").unwrap_err();
    assert!(matches!(err, zk_recipes::Error::Zk(zk_core::Error::InvalidPath { .. })), "{err:?}");
}
