//! The embedded server as each ZooKeeper release it can behave as (`ServerVersion`): every
//! behaviour that differs between them, asserted for every version, through zk-core (the
//! conformance suite compares the default, 3.8.0, with Debian's real 3.8.0).

use zk_core::proto::{Perms, WatcherType};
use zk_core::{Acl, AddWatchMode, CreateMode, Error, EventType, Op, OpResult};
use zk_testing::{ServerVersion, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_version_behaves_as_its_release() {
    for version in ServerVersion::ALL {
        let server = TestServer::builder().seed(40).version(version).start().await.unwrap();
        let (newer, v39) = (version >= ServerVersion::V3_8_6, version >= ServerVersion::V3_9_3);
        let srvr = zk_testing::four_letter_word(server.addr().unwrap(), "srvr").await.unwrap();
        assert!(srvr.contains(&format!("Zookeeper version: {version}-zk-testing-")), "{version}: {srvr}");

        let zk = server.client().await.unwrap();
        let other = server.client().await.unwrap();
        // A create inside multi: the stat only from 3.8.2 (here 3.8.6) on.
        let results = zk.multi(&[Op::create("/m", b"", CreateMode::Persistent)]).await.unwrap();
        let has_stat = matches!(results[0], OpResult::Create { stat: Some(_), .. });
        assert_eq!(has_stat, newer, "{version}: {results:?}");

        // exists on a node without READ: checked from 3.8.4 on. Watch events on it: dropped
        // by every version (Debian's 3.8.0 has the fix of CVE-2024-23944).
        let write_only = vec![Acl::new(Perms::WRITE, "world", "anyone")];
        let (_, stat) = zk.create("/w", b"", CreateMode::Persistent.with_acl(write_only)).await.unwrap();
        let exists = other.exists("/w").await;
        assert_eq!(exists, if newer { Err(Error::NoAuth) } else { Ok(Some(stat)) }, "{version}");
        let mut watch = other.add_watch("/w", AddWatchMode::Persistent).await.unwrap();
        zk.set_data("/w", b"x", None).await.unwrap();
        zk.create("/seen", b"", CreateMode::Persistent).await.unwrap();
        let mut readable = other.add_watch("/seen", AddWatchMode::Persistent).await.unwrap();
        zk.set_data("/seen", b"x", None).await.unwrap();
        // The readable node's event arrives, the other one's never (it would come first:
        // notifications come in order).
        let event = readable.next_event().await.unwrap().unwrap();
        assert_eq!(event.event_type, EventType::NodeDataChanged);
        let unreadable =
            tokio::time::timeout(std::time::Duration::from_millis(100), watch.next_event()).await;
        assert!(unreadable.is_err(), "{version}: {unreadable:?}");

        // The persistent watcher types in checkWatches: 3.9 on.
        let by_type = other.check_watches("/seen", WatcherType::Persistent).await;
        assert_eq!(by_type, if v39 { Ok(()) } else { Err(Error::MarshallingError) }, "{version}");
        zk.close().await;
        other.close().await;
    }
}
