//! A path cache, a node cache and a user's persistent watch on one path through one client,
//! on both backends. On ZooKeeper 3.6-3.8 a second persistent registration on a path from the
//! same connection replaces the first, so without the client's one-registration-per-path
//! multiplexing the path cache would lose its children's events once the node cache starts.

use zk_core::{AddWatchMode, CreateMode, EventType};
use zk_recipes::cache::{NodeCache, PathCache};
use zk_testing::Backend;

use crate::script::Probe;
use crate::take;

zk_testing::both_backends!(caches_and_a_users_watch_share_one_path);

async fn caches_and_a_users_watch_share_one_path(b: &Backend) {
    let root = b.create_root("cache-shared-path").await;
    let zk = b.client().await;
    let shared = b.client().await;
    let mut path_cache = PathCache::new(shared.clone(), &root).unwrap();
    path_cache.start().unwrap();
    assert_eq!(take(&mut path_cache, 1, PathCache::show).await, ["init"], "{}", b.name());
    let mut node_cache = NodeCache::new(shared.clone(), &root).unwrap();
    node_cache.start().unwrap();
    assert_eq!(take(&mut node_cache, 2, NodeCache::show).await, ["+", "init"], "{}", b.name());
    let mut user = shared.add_watch(&root, AddWatchMode::Persistent).await.unwrap();
    zk.create(&format!("{root}/a"), b"1", CreateMode::Persistent).await.unwrap();
    assert_eq!(take(&mut path_cache, 1, PathCache::show).await, ["+a=1"], "{}", b.name());
    assert_eq!(user_next(&mut user).await, (EventType::NodeChildrenChanged, root.clone()));
    zk.set_data(&format!("{root}/a"), b"2", None).await.unwrap();
    assert_eq!(take(&mut path_cache, 1, PathCache::show).await, ["~a=2"], "{}", b.name());
    zk.set_data(&root, b"x", None).await.unwrap();
    assert_eq!(take(&mut node_cache, 1, NodeCache::show).await, ["~x"], "{}", b.name());
    assert_eq!(user_next(&mut user).await, (EventType::NodeDataChanged, root.clone()));

    // Removing one (the node cache) leaves the others working.
    node_cache.close().await.unwrap();
    zk.create(&format!("{root}/b"), b"3", CreateMode::Persistent).await.unwrap();
    assert_eq!(take(&mut path_cache, 1, PathCache::show).await, ["+b=3"], "{}", b.name());
    assert_eq!(user_next(&mut user).await, (EventType::NodeChildrenChanged, root.clone()));
    drop(user);
    zk.delete(&format!("{root}/a"), None).await.unwrap();
    zk.set_data(&format!("{root}/b"), b"4", None).await.unwrap();
    assert_eq!(take(&mut path_cache, 2, PathCache::show).await, ["-a", "~b=4"], "{}", b.name());
    path_cache.close().await.unwrap();
    shared.close().await;
    zk.close().await;
}

/// The next event of a user's watcher (within 10 s), as (type, path).
async fn user_next(w: &mut zk_core::PersistentWatcher) -> (EventType, String) {
    let ev = tokio::time::timeout(std::time::Duration::from_secs(10), w.next_event()).await;
    let ev = ev.expect("a user event within 10 s").expect("the stream goes on").expect("an event");
    (ev.event_type, ev.path)
}
