//! The same seed gives the same trace: session ids, zxids, event times and order.

use std::time::Duration;

use tokio::time::Instant;
use zk_core::{CreateMode, SessionEvent};
use zk_testing::TestServer;

/// A 30 s session is partitioned away and expires; its ephemeral is deleted and a watcher on
/// another session sees it. Returns every observation with its (virtual) time.
async fn expiry_scenario(seed: u64) -> Vec<String> {
    let server = TestServer::builder().no_tcp().seed(seed).epoch_ms(1_700_000_000_000).start().await.unwrap();
    let t0 = Instant::now();
    let at = |what: String| format!("{:>6}ms {what}", t0.elapsed().as_millis());
    let mut trace = Vec::new();
    let doomed = server.client_builder().session_timeout(Duration::from_secs(30)).connect().await.unwrap();
    let observer = server.client().await.unwrap();
    trace.push(at(format!("sessions 0x{:x} 0x{:x}", doomed.session_id(), observer.session_id())));
    let (path, stat) = doomed.create("/lease-", b"x", CreateMode::EphemeralSequential).await.unwrap();
    trace.push(at(format!("created {path} czxid {} ctime {}", stat.czxid, stat.ctime)));
    let (_, watcher) = observer.exists_and_watch(&path).await.unwrap();
    let mut events = doomed.session_events();
    assert_eq!(events.next_event().await, Some(SessionEvent::Connected), "the current state first");

    // Partition: the doomed client cannot reach the server for a minute.
    assert!(server.partition_session(doomed.session_id(), Duration::from_secs(60)));
    let watcher = tokio::spawn(watcher);
    while let Some(ev) = events.next_event().await {
        trace.push(at(format!("doomed session: {ev:?}")));
        if ev == SessionEvent::Expired {
            break;
        }
    }
    let ev = watcher.await.unwrap().unwrap();
    trace.push(at(format!("observer: {:?} {}", ev.event_type, ev.path)));
    assert_eq!(observer.exists(&path).await.unwrap(), None);
    trace.push(at(format!("last zxid {}", server.last_zxid())));
    trace.push(at(format!("live sessions {:?}", server.sessions().iter().map(|s| s.id).collect::<Vec<_>>())));
    observer.close().await;
    trace
}

#[tokio::test(start_paused = true)]
async fn same_seed_same_expiry_trace() {
    let wall = std::time::Instant::now();
    let first = expiry_scenario(42).await;
    let second = expiry_scenario(42).await;
    assert_eq!(first, second, "same seed, different traces");
    // The scenario spans more than the 30 s session timeout of virtual time...
    let last_ms: u64 = first.last().unwrap().trim_start().split("ms").next().unwrap().parse().unwrap();
    assert!(last_ms >= 30_000, "{first:#?}");
    // ...and shows the partitioned client's view and the deletion, in that order.
    let pos = |needle: &str| {
        first.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {first:#?}"))
    };
    assert!(pos("doomed session: Disconnected") < pos("doomed session: Expired"));
    assert!(pos("observer: NodeDeleted") > pos("created"));
    // A different seed gives different session ids.
    assert_ne!(expiry_scenario(43).await[0], first[0]);
    // Virtual time, not real time: well under the 30 s the scenario spans.
    assert!(wall.elapsed() < Duration::from_secs(10), "took {:?}", wall.elapsed());
}
