//! Server features that depend on configuration or version.

use std::time::Duration;

use zk_core::{AddWatchMode, Client, CreateMode, Error, SessionState, WatcherType};
use zk_testing::RealZooKeeper;

use crate::support::Backend;

zk_testing::both_backends!(persistent_watcher_types_on_this_server);

/// TTL nodes need `zookeeper.extendedTypesEnabled=true`; without it the server answers
/// UNIMPLEMENTED (§5.7). Needs its own server, so it is not parameterized by backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_is_unimplemented_when_extended_types_are_off() {
    let zk = RealZooKeeper::builder()
        .extra_property("zookeeper.extendedTypesEnabled", "false")
        .start()
        .await
        .expect("start a second real ZooKeeper");
    let c = Client::connect(&zk.connect_string()).await.unwrap();
    let ttl = CreateMode::PersistentWithTtl(Duration::from_secs(5));
    assert_eq!(c.create("/ttl", b"", ttl).await, Err(Error::Unimplemented));
    // Containers do not need extended types.
    assert!(c.create("/container", b"", CreateMode::Container).await.is_ok());
    // UNIMPLEMENTED does not cost the session.
    assert_eq!(c.state(), SessionState::Connected);
    assert_eq!(c.exists("/ttl").await, Ok(None));
    c.close().await;
    zk.stop().await;
}

/// WatcherType 4/5 (Persistent, PersistentRecursive) in removeWatches/checkWatches exist only
/// since 3.9 (ZOOKEEPER-4472); a 3.8 server rejects them. `Any` (3) works on every version and
/// removes a persistent watch too.
async fn persistent_watcher_types_on_this_server(b: &Backend) {
    let sb = b.sandbox("conformance-wtypes").await;
    let c = sb.client().await;
    let mut w = c.add_watch("/p", AddWatchMode::Persistent).await.unwrap();
    let by_type = c.check_watches("/p", WatcherType::Persistent).await;
    // Both backends are 3.8.0 (the embedded server by default); a 3.9 server answers Ok.
    let version = b.server_version().await.expect("the server's version");
    let expected = if version >= (3, 9, 0) { Ok(()) } else { Err(Error::MarshallingError) };
    assert_eq!(by_type, expected, "checkWatches(Persistent) on the {} backend", b.name());
    assert_eq!(c.check_watches("/p", WatcherType::Any).await, Ok(()));
    assert_eq!(c.remove_watches("/p", WatcherType::Any).await, Ok(()));
    let ev = crate::support::within(5, "removal event", w.next_event()).await;
    assert_eq!(ev.map(|e| e.map(|e| e.event_type)), Some(Ok(zk_core::EventType::PersistentWatchRemoved)));
    assert_eq!(crate::support::within(5, "stream end", w.next_event()).await, None);
    assert_eq!(c.check_watches("/p", WatcherType::Any).await, Err(Error::NoWatcher));
    assert_eq!(c.state(), SessionState::Connected);
    c.close().await;
}
