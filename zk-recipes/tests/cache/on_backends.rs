//! The key scripted scenarios of the three caches on both backends over TCP, in real time:
//! the shared real ZooKeeper 3.8 and a fresh embedded `TestServer`.

use zk_core::CreateMode;
use zk_recipes::cache::{NodeCache, PathCache, TreeCache, WatchStrategy};
use zk_testing::Backend;

use crate::script::{check, run, Probe, Truth, Wait, NODE_STEPS, PATH_STEPS, TREE_STEPS};
use crate::{next, take};

zk_testing::both_backends!(tree_scripted, path_scripted, node_scripted);

async fn tree_scripted(b: &Backend) {
    let root = b.create_root("cache-tree").await;
    let zk = b.client().await;
    let mut cache = TreeCache::new(b.client().await, &root).unwrap();
    cache.start();
    assert_eq!(take(&mut cache, 2, TreeCache::show).await, [format!("+{root}="), "init".into()]);
    assert_eq!(cache.strategy(), Some(WatchStrategy::Persistent), "{}", b.name());
    check(&mut cache, Truth::Client(&zk), &root, 0, usize::MAX).await;
    run(&mut cache, &zk, Truth::Client(&zk), &root, (0, usize::MAX), TREE_STEPS, Wait::ForSnapshot).await;
    cache.close().await;
    zk.close().await;
}

async fn path_scripted(b: &Backend) {
    let root = b.create_root("cache-path").await;
    let zk = b.client().await;
    let mut cache = PathCache::new(b.client().await, &root).unwrap();
    cache.start();
    assert_eq!(PathCache::show(&next(&mut cache).await), "init", "{}", b.name());
    run(&mut cache, &zk, Truth::Client(&zk), &root, (1, 1), PATH_STEPS, Wait::ForSnapshot).await;
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
    run(&mut cache, &zk, Truth::Client(&zk), &node, (0, 0), NODE_STEPS, Wait::ForSnapshot).await;
    zk.create(&format!("{root}/other"), b"", CreateMode::Persistent).await.unwrap();
    cache.close().await;
    zk.close().await;
}
