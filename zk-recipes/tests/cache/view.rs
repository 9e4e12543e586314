//! A cache's view ([`CacheView`]): the snapshot read from other tasks while the cache's owner
//! drains its events, for each kind of cache, and after the cache stopped or went away.

use std::time::Duration;

use zk_core::{CreateMode, OnExpiry};
use zk_recipes::cache::{
    Cache, CacheView, ChildData, NodeCache, NodeEvent, PathCache, PathEvent, TreeCache, TreeEvent,
    WatchStrategy,
};
use zk_recipes::Error;

use crate::script::Probe;
use crate::support::within;
use crate::{client, next, server, take};

/// Views and caches go to other tasks (`tokio::spawn` needs `Send + 'static`).
#[test]
fn views_and_caches_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<CacheView<NodeEvent>>();
    check::<CacheView<PathEvent>>();
    check::<CacheView<TreeEvent>>();
    check::<Cache<TreeEvent>>();
}

/// One task owns a TreeCache and drains its events; another reads the snapshot through a view
/// meanwhile, neither waiting for the other. Each event the drainer sees is already in the
/// snapshot (it is updated before the event is sent).
#[tokio::test(start_paused = true)]
async fn a_task_reads_the_view_while_another_drains_the_events() {
    const CHILDREN: usize = 20;
    let server = server(61).await;
    let zk = client(&server).await;
    zk.create("/app", b"", CreateMode::Persistent).await.unwrap();
    let mut cache = TreeCache::new(client(&server).await, "/app").unwrap();
    let view = cache.view();
    cache.start().unwrap();

    let drainer = tokio::spawn({
        let view = view.clone();
        async move {
            let mut added = 0;
            while added < CHILDREN {
                // (The root's child counters change with each child: only children compare.)
                match next(&mut cache).await {
                    TreeEvent::NodeAdded { path, node } if path != "/app" => {
                        assert_eq!(view.get(&path), Some(node), "{path}: in the snapshot before its event");
                        added += 1;
                    }
                    _ => {}
                }
            }
            cache
        }
    });
    let reader = tokio::spawn({
        let view = view.clone();
        async move {
            view.initialized().await.unwrap();
            // What the reader saw grow, one count per read that saw a change.
            let mut seen = vec![view.children("/app").len()];
            while seen.last() != Some(&CHILDREN) {
                tokio::time::sleep(Duration::from_millis(3)).await;
                let now = view.children("/app").len();
                if Some(&now) != seen.last() {
                    seen.push(now);
                }
            }
            seen
        }
    });

    view.initialized().await.unwrap();
    for i in 0..CHILDREN {
        zk.create(&format!("/app/c{i:02}"), i.to_string().as_bytes(), CreateMode::Persistent).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = within(30, "the reader sees every child", reader).await.unwrap();
    assert!(seen.len() > CHILDREN / 2, "the reader read while the children came: {seen:?}");
    let cache = within(30, "the drainer sees every child", drainer).await.unwrap();

    assert_eq!(view.get("/app/c19").map(|n| n.data), Some(b"19".to_vec()));
    assert_eq!(view.current(), cache.current());
    assert_eq!(view.strategy(), Some(WatchStrategy::Persistent));
    assert_eq!((view.path(), view.lost()), ("/app", None));
    cache.close().await.unwrap();
    assert_eq!(view.initialized().await, Err(Error::Closed));
    assert_eq!(view.children("/app").len(), CHILDREN, "a closed cache's view keeps the last snapshot");
}

/// A view reads what its cache reads, for each kind; a PathCache's view taken before
/// `with_data(false)` follows the option (it belongs to the snapshot).
#[tokio::test(start_paused = true)]
async fn each_kind_of_view_reads_what_its_cache_reads() {
    let server = server(62).await;
    let zk = client(&server).await;
    zk.create("/w", b"", CreateMode::Persistent).await.unwrap();
    zk.create("/w/a", b"1", CreateMode::Persistent).await.unwrap();

    let mut node = NodeCache::new(client(&server).await, "/w/a").unwrap();
    let node_view = node.view();
    node.start().unwrap();
    assert_eq!(take(&mut node, 2, NodeCache::show).await, ["+1", "init"]);
    assert_eq!(node_view.current().map(|n| n.data), Some(b"1".to_vec()));
    assert_eq!(node_view.current(), node.current());

    let path = PathCache::new(client(&server).await, "/w").unwrap();
    let path_view = path.view();
    let mut path = path.with_data(false);
    path.start().unwrap();
    assert_eq!(take(&mut path, 2, PathCache::show).await, ["+a=?", "init"]);
    let stat = server.node("/w/a").expect("created").stat;
    assert_eq!(path_view.get("a"), Some(ChildData { data: None, stat }));
    assert_eq!(path_view.current(), path.current());

    // A view outlives its cache: dropped, the cache's waiters learn it is gone.
    drop(node);
    assert_eq!(node_view.initialized().await, Err(Error::Closed));
    assert_eq!(node_view.current().map(|n| n.data), Some(b"1".to_vec()), "the last snapshot");
}

/// After an expiry on a client that ends with its session, `lost` tells the view's readers
/// the snapshot is stale, until a rebuild follows the server again.
#[tokio::test(start_paused = true)]
async fn lost_tells_readers_the_snapshot_is_stale() {
    let server = server(63).await;
    let zk = client(&server).await;
    zk.create("/app", b"1", CreateMode::Persistent).await.unwrap();
    let cz = server.client_builder().on_expiry(OnExpiry::End).connect().await.unwrap();
    let mut cache = TreeCache::new(cz.clone(), "/app").unwrap();
    let view = cache.view();
    assert_eq!(view.lost(), None, "not started");
    cache.start().unwrap();
    assert_eq!(take(&mut cache, 2, TreeCache::show).await, ["+/app=1", "init"]);

    assert!(server.expire_session(cz.session_id()));
    let ended = Error::SessionEnded(zk_core::Error::SessionExpired);
    assert_eq!(next(&mut cache).await, TreeEvent::Lost(ended.clone()));
    assert_eq!((view.lost(), cache.lost()), (Some(ended.clone()), Some(ended)));

    cache.rebuild(client(&server).await).await.unwrap();
    assert_eq!(take(&mut cache, 1, TreeCache::show).await, ["init"]);
    assert_eq!(view.lost(), None);
    view.initialized().await.unwrap();
}
