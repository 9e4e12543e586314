//! The key counter scenarios on both backends (the shared real ZooKeeper 3.8 and an embedded
//! server over TCP), in real time.

use zk_recipes::counter::{DistributedAtomicLong, SharedCount};
use zk_testing::Backend;

use crate::atomic_long::contended_policy;
use crate::{increment, within};

zk_testing::both_backends!(worker_threads = 4; shared_count_eight_by_hundred, atomic_long_eight_by_hundred);

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
