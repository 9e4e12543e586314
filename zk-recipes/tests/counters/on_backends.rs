//! The key counter scenarios on both backends (the shared real ZooKeeper 3.8 and an embedded
//! server over TCP), in real time.

use futures::StreamExt;
use zk_recipes::counter::{CountChanges, DistributedAtomicLong, SharedCount};
use zk_testing::Backend;

use crate::atomic_long::contended_policy;
use crate::{increment, within};

zk_testing::both_backends!(worker_threads = 4;
    shared_count_eight_by_hundred,
    atomic_long_eight_by_hundred,
    shared_count_changes_carry_on_after_expiry,
);

/// 8 sessions x 100 compare-and-set increments of one `SharedCount`: exactly 800, and a stale
/// version fails.
async fn shared_count_eight_by_hundred(b: &Backend) {
    let root = b.create_root("counters-shared").await;
    let path = format!("{root}/count");
    let mut tasks = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let c = b.client().await;
        clients.push(c.clone());
        let count = SharedCount::new(c, &path, 0).unwrap();
        tasks.push(tokio::spawn(async move {
            for _ in 0..100 {
                increment(&count).await;
            }
        }));
    }
    within(120, "8 x 100 increments", async {
        for t in tasks {
            t.await.expect("task");
        }
    })
    .await;
    let reader = SharedCount::new(clients[0].clone(), &path, 0).unwrap();
    let seen = reader.versioned().await.unwrap();
    assert_eq!(seen.value, 800, "{}: lost updates", b.name());
    let (raw, _) = clients[1].get_data(&path).await.unwrap();
    assert_eq!(raw, 800i32.to_be_bytes(), "{}", b.name());
    let stale = zk_recipes::counter::VersionedValue { version: seen.version - 1, value: seen.value };
    assert!(!reader.try_set(&stale, 0).await.unwrap(), "{}: stale CAS succeeded", b.name());
    for c in clients {
        c.close().await;
    }
}

/// 8 sessions x 100 `DistributedAtomicLong::increment`s: exactly 800, every one succeeded,
/// and a stale `compare_and_set` fails.
async fn atomic_long_eight_by_hundred(b: &Backend) {
    let root = b.create_root("counters-long").await;
    let path = format!("{root}/deep/long");
    let mut tasks = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let c = b.client().await;
        clients.push(c.clone());
        let counter = DistributedAtomicLong::new(c, &path).unwrap().with_policy(contended_policy());
        tasks.push(tokio::spawn(async move {
            for _ in 0..100 {
                let r = counter.increment().await.expect("increment");
                assert!(r.succeeded, "{r:?}");
            }
        }));
    }
    within(120, "8 x 100 increments", async {
        for t in tasks {
            t.await.expect("task");
        }
    })
    .await;
    let reader = DistributedAtomicLong::new(clients[0].clone(), &path).unwrap();
    assert_eq!(reader.get().await.unwrap(), 800, "{}: lost updates", b.name());
    let (raw, _) = clients[1].get_data(&path).await.unwrap();
    assert_eq!(raw, 800i64.to_be_bytes(), "{}", b.name());
    let r = reader.compare_and_set(799, 0).await.unwrap();
    assert!(!r.succeeded && r.pre_value == 800, "{}: {r:?}", b.name());
    for c in clients {
        c.close().await;
    }
}

/// The next value of `changes` (an error item fails the test), within 10 s.
async fn next_value(changes: &mut CountChanges, what: &str) -> i32 {
    let item = within(10, what, changes.next()).await.expect("the stream goes on");
    item.unwrap_or_else(|e| panic!("{what}: {e}")).value
}

/// The session of a `SharedCount`'s client expires (through a proxy, so on a real ZooKeeper
/// too) while its `changes()` stream runs: on the renewing client the stream carries on, with
/// no error item, and reports the changes made after the expiry; the counter itself works
/// again on the client's new session.
async fn shared_count_changes_carry_on_after_expiry(b: &Backend) {
    let root = b.create_root("counters-expiry").await;
    let path = format!("{root}/count");
    let proxy = b.proxy().await;
    let cz =
        within(10, "connect via proxy", zk_core::Client::connect(&proxy.connect_string())).await.unwrap();
    let other = b.client().await;
    let count = SharedCount::new(cz.clone(), &path, 0).unwrap();
    let writer = SharedCount::new(other.clone(), &path, 0).unwrap();
    assert_eq!(within(10, "create the counter", count.get()).await.unwrap(), 0);
    let mut changes = count.changes();
    assert_eq!(next_value(&mut changes, "the current value").await, 0, "{}", b.name());
    writer.set(1).await.unwrap();
    assert_eq!(next_value(&mut changes, "a change before the expiry").await, 1, "{}", b.name());
    let old = cz.session_id();

    within(10, "expire the counter's session", proxy.expire_session(&cz)).await.expect("expired");
    writer.set(2).await.unwrap();

    assert_eq!(next_value(&mut changes, "the change made after the expiry").await, 2, "{}", b.name());
    assert_ne!(cz.session_id(), old, "{}: on the client's new session", b.name());
    assert_eq!(cz.status().epoch, 1, "{}", b.name());
    writer.set(3).await.unwrap();
    assert_eq!(next_value(&mut changes, "a later change").await, 3, "{}", b.name());
    // The counter's own operations work on the new session, and the stream sees them.
    within(10, "set through the renewed client", count.set(4)).await.unwrap();
    assert_eq!(next_value(&mut changes, "our own change").await, 4, "{}", b.name());
    assert_eq!(writer.get().await.unwrap(), 4, "{}", b.name());
    drop(changes);
    cz.close().await;
    other.close().await;
}
