//! The key scripted scenarios of the three caches on both backends over TCP, in real time:
//! the shared real ZooKeeper 3.8 and a fresh embedded `TestServer`.

use zk_core::CreateMode;
use zk_core::Error::SessionExpired;
use zk_recipes::cache::{NodeCache, NodeEvent, PathCache, PathEvent, TreeCache, WatchStrategy};
use zk_testing::Backend;

use crate::script::{check, run, Probe, Truth, Wait, NODE_STEPS, PATH_STEPS, TREE_STEPS};
use crate::{next, take};
use zk_recipes::cache::TreeEvent;
use zk_recipes::Error;

zk_testing::both_backends!(
    tree_scripted,
    path_scripted,
    node_scripted,
    tree_cache_converges_after_its_session_expires,
    path_cache_converges_after_its_session_expires,
    node_cache_converges_after_its_session_expires
);

async fn tree_scripted(b: &Backend) {
    let root = b.create_root("cache-tree").await;
    let zk = b.client().await;
    let mut cache = TreeCache::new(b.client().await, &root).unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, TreeCache::show).await, [format!("+{root}="), "init".into()]);
    assert_eq!(cache.strategy(), Some(WatchStrategy::Persistent), "{}", b.name());
    check(&mut cache, Truth::Client(&zk), &root, 0, usize::MAX).await;
    run(&mut cache, &zk, Truth::Client(&zk), &root, (0, usize::MAX), TREE_STEPS, Wait::ForSnapshot).await;
    cache.close().await.unwrap();
    zk.close().await;
}

async fn path_scripted(b: &Backend) {
    let root = b.create_root("cache-path").await;
    let zk = b.client().await;
    let mut cache = PathCache::new(b.client().await, &root).unwrap();
    cache.start().unwrap();
    assert_eq!(PathCache::show(&next(&mut cache).await), "init", "{}", b.name());
    run(&mut cache, &zk, Truth::Client(&zk), &root, (1, 1), PATH_STEPS, Wait::ForSnapshot).await;
    cache.close().await.unwrap();
    zk.close().await;
}

async fn node_scripted(b: &Backend) {
    let root = b.create_root("cache-node").await;
    let node = format!("{root}/flag");
    let zk = b.client().await;
    let mut cache = NodeCache::new(b.client().await, &node).unwrap();
    cache.start().unwrap();
    assert_eq!(NodeCache::show(&next(&mut cache).await), "init", "{}", b.name());
    run(&mut cache, &zk, Truth::Client(&zk), &node, (0, 0), NODE_STEPS, Wait::ForSnapshot).await;
    zk.create(&format!("{root}/other"), b"", CreateMode::Persistent).await.unwrap();
    cache.close().await.unwrap();
    zk.close().await;
}

/// The cache's own session expires (on a real ZooKeeper too: through a proxy that refuses the
/// cache's client while another client attaches to its session and closes it) while the tree
/// changes: the cache reports `Lost`, follows the server again on its client's new session,
/// reports exactly the differences, then `Initialized`, and converges to the server's tree.
async fn tree_cache_converges_after_its_session_expires(b: &Backend) {
    let root = b.create_root("cache-tree-expiry").await;
    let zk = b.client().await;
    for (p, d) in [("a", "1"), ("b", "1")] {
        zk.create(&format!("{root}/{p}"), d.as_bytes(), CreateMode::Persistent).await.unwrap();
    }
    let proxy = b.proxy().await;
    let cz = zk_core::Client::connect(&proxy.connect_string()).await.unwrap();
    let mut cache = TreeCache::new(cz.clone(), &root).unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 4, TreeCache::show).await.last().map(String::as_str), Some("init"));

    let old = cz.session_id();
    proxy.expire_session_and_refuse(&cz).await.unwrap();
    zk.set_data(&format!("{root}/a"), b"2", None).await.unwrap();
    zk.delete(&format!("{root}/b"), None).await.unwrap();
    zk.create(&format!("{root}/c"), b"3", CreateMode::Persistent).await.unwrap();
    proxy.set_refusing(false);

    let lost = next(&mut cache).await;
    assert_eq!(lost, TreeEvent::Lost(Error::SessionEnded(zk_core::Error::SessionExpired)), "{}", b.name());
    let mut got = take(&mut cache, 4, TreeCache::show).await;
    assert_eq!(got.pop().as_deref(), Some("init"), "{}", b.name());
    got.sort();
    let want = [format!("+{root}/c=3"), format!("-{root}/b"), format!("~{root}/a=2")];
    assert_eq!(got, want, "{}: exactly the differences", b.name());
    assert_ne!(cz.session_id(), old, "{}: on the client's new session", b.name());
    check(&mut cache, Truth::Client(&zk), &root, 0, usize::MAX).await;
    cache.close().await.unwrap();
    cz.close().await;
    zk.close().await;
}

/// The path cache's own session expires (through a proxy, as for the tree cache) while the
/// children change: `Lost`, then exactly the differences on the client's new session, then
/// `Initialized`, and the cache converges to the server's children.
async fn path_cache_converges_after_its_session_expires(b: &Backend) {
    let root = b.create_root("cache-path-expiry").await;
    let zk = b.client().await;
    for (p, d) in [("a", "1"), ("b", "1")] {
        zk.create(&format!("{root}/{p}"), d.as_bytes(), CreateMode::Persistent).await.unwrap();
    }
    let proxy = b.proxy().await;
    let cz = zk_core::Client::connect(&proxy.connect_string()).await.unwrap();
    let mut cache = PathCache::new(cz.clone(), &root).unwrap();
    cache.start().unwrap();
    let mut first = take(&mut cache, 3, PathCache::show).await;
    assert_eq!(first.pop().as_deref(), Some("init"), "{}", b.name());
    first.sort();
    assert_eq!(first, ["+a=1", "+b=1"], "{}", b.name());

    let old = cz.session_id();
    proxy.expire_session_and_refuse(&cz).await.unwrap();
    zk.set_data(&format!("{root}/a"), b"2", None).await.unwrap();
    zk.delete(&format!("{root}/b"), None).await.unwrap();
    zk.create(&format!("{root}/c"), b"3", CreateMode::Persistent).await.unwrap();
    proxy.set_refusing(false);

    let lost = next(&mut cache).await;
    assert_eq!(lost, PathEvent::Lost(Error::SessionEnded(zk_core::Error::SessionExpired)), "{}", b.name());
    let mut got = take(&mut cache, 4, PathCache::show).await;
    assert_eq!(got.pop().as_deref(), Some("init"), "{}", b.name());
    got.sort();
    assert_eq!(got, ["+c=3", "-b", "~a=2"], "{}: exactly the differences", b.name());
    assert_ne!(cz.session_id(), old, "{}: on the client's new session", b.name());
    assert_eq!(cz.status().epoch, 1, "{}", b.name());
    check(&mut cache, Truth::Client(&zk), &root, 1, 1).await;
    cache.close().await.unwrap();
    cz.close().await;
    zk.close().await;
}

/// The node cache's own session expires (through a proxy) while its node changes, and again
/// while it is deleted: each time `Lost`, then exactly the difference on the client's new
/// session, then `Initialized`, and the cache converges to the server's node.
async fn node_cache_converges_after_its_session_expires(b: &Backend) {
    let root = b.create_root("cache-node-expiry").await;
    let node = format!("{root}/flag");
    let zk = b.client().await;
    zk.create(&node, b"1", CreateMode::Persistent).await.unwrap();
    let proxy = b.proxy().await;
    let cz = zk_core::Client::connect(&proxy.connect_string()).await.unwrap();
    let mut cache = NodeCache::new(cz.clone(), &node).unwrap();
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, NodeCache::show).await, ["+1", "init"], "{}", b.name());

    let expired = SessionExpired;
    for (round, change, want) in [(1, "set", "~2"), (2, "delete", "-")] {
        let old = cz.session_id();
        proxy.expire_session_and_refuse(&cz).await.unwrap();
        match change {
            "set" => {
                zk.set_data(&node, b"2", None).await.unwrap();
            }
            _ => zk.delete(&node, None).await.unwrap(),
        }
        proxy.set_refusing(false);

        let lost = next(&mut cache).await;
        assert_eq!(
            lost,
            NodeEvent::Lost(Error::SessionEnded(expired.clone())),
            "{}: round {round}",
            b.name()
        );
        let got = take(&mut cache, 2, NodeCache::show).await;
        assert_eq!(got, [want, "init"], "{}: round {round}: exactly the difference", b.name());
        assert_ne!(cz.session_id(), old, "{}: round {round}: on the client's new session", b.name());
        assert_eq!(cz.status().epoch, round, "{}", b.name());
        check(&mut cache, Truth::Client(&zk), &node, 0, 0).await;
    }
    cache.close().await.unwrap();
    cz.close().await;
    zk.close().await;
}
