//! The key scripted scenarios of the three caches on both backends over TCP, in real time:
//! the shared real ZooKeeper 3.8 and a fresh embedded `TestServer`.

use std::time::Duration;

use zk_core::{Client, CreateMode};
use zk_recipes::cache::{NodeCache, PathCache, TreeCache, WatchStrategy};
use zk_testing::Backend;

use crate::script::{apply, check, Probe, Step, Truth, NODE_STEPS, PATH_STEPS, TREE_STEPS};
use crate::{depth, next, take, Nodes};

zk_testing::both_backends!(tree_scripted, path_scripted, node_scripted);

async fn tree_scripted(b: &Backend) {
    let root = b.create_root("cache-tree").await;
    let zk = b.client().await;
    let mut cache = TreeCache::new(b.client().await, &root).unwrap();
    cache.start();
    assert_eq!(take(&mut cache, 2, TreeCache::show).await, [format!("+{root}="), "init".into()]);
    assert_eq!(cache.strategy(), Some(WatchStrategy::Persistent), "{}", b.name());
    check(&mut cache, Truth::Client(&zk), &root, 0, usize::MAX).await;
    run(&mut cache, &zk, &root, (0, usize::MAX), TREE_STEPS).await;
    cache.close().await;
    zk.close().await;
}

async fn path_scripted(b: &Backend) {
    let root = b.create_root("cache-path").await;
    let zk = b.client().await;
    let mut cache = PathCache::new(b.client().await, &root).unwrap();
    cache.start();
    assert_eq!(PathCache::show(&next(&mut cache).await), "init", "{}", b.name());
    run(&mut cache, &zk, &root, (1, 1), PATH_STEPS).await;
    cache.close().await;
    zk.close().await;
}

async fn node_scripted(b: &Backend) {
    let root = b.create_root("cache-node").await;
    let node = format!("{root}/flag");
    let zk = b.client().await;
    let mut cache = NodeCache::new(b.client().await, &node).unwrap();
    cache.start();
    assert_eq!(NodeCache::show(&next(&mut cache).await), "init", "{}", b.name());
    run(&mut cache, &zk, &node, (0, 0), NODE_STEPS).await;
    zk.create(&format!("{root}/other"), b"", CreateMode::Persistent).await.unwrap();
    cache.close().await;
    zk.close().await;
}

/// `script::run` in real time: after each step's events it also waits (at most 10 s) for the
/// snapshot to equal the server's nodes, then `check`s (no further event, the same snapshot).
/// Some changes move a cached node's child counters without any event (a grandchild of a
/// `PathCache`, a child of a `NodeCache`, the parent of a created `TreeCache` node, re-read
/// after its event): the cache reads them after the notification, which in real time may take
/// longer than `check`'s pause.
async fn run<C: Probe>(cache: &mut C, zk: &Client, root: &str, (min, max): (usize, usize), steps: &[Step]) {
    for (i, (op, expected)) in steps.iter().enumerate() {
        apply(zk, root, *op).await;
        let expected: Vec<String> = expected.iter().map(|e| e.replace('@', root)).collect();
        assert_eq!(take(cache, expected.len(), C::show).await, expected, "step {i}: {op:?}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let want = Truth::Client(zk).nodes(root, min, max).await;
            if comparable(cache, root, max, cache.nodes()) == comparable(cache, root, max, want) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                break; // `check` shows the difference.
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        check(cache, Truth::Client(zk), root, min, max).await;
    }
}

/// `nodes` as `check` compares them: with one-shot watches, without the child counters of
/// the nodes at the depth limit.
fn comparable<C: Probe>(cache: &C, root: &str, max: usize, mut nodes: Nodes) -> Nodes {
    if cache.strategy() == Some(WatchStrategy::OneShot) {
        for (path, (_, stat)) in nodes.iter_mut() {
            if depth(root, path) == Some(max) {
                (stat.cversion, stat.num_children, stat.pzxid) = (0, 0, 0);
            }
        }
    }
    nodes
}
