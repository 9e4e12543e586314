//! Acceptance: mutual exclusion under contention, and no herd effect on handoff.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use zk_recipes::{InterProcessMutex, MutexGuard};

use crate::{client, server, settle};

#[tokio::test(start_paused = true)]
async fn eight_sessions_fifty_rounds_exclusive() {
    let server = server(11).await;
    let counter = Arc::new(Mutex::new(0u64));
    let holders = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let mutex = InterProcessMutex::new(client(&server).await, "/locks/mx").unwrap();
        let (counter, holders) = (counter.clone(), holders.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..50u64 {
                let guard = mutex.acquire().await.unwrap();
                assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                // A non-atomic read-modify-write, with a pause in the middle.
                let v = *counter.lock().unwrap();
                tokio::time::sleep(Duration::from_millis(1 + (t + i) % 3)).await;
                *counter.lock().unwrap() = v + 1;
                holders.fetch_sub(1, Ordering::SeqCst);
                guard.release().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*counter.lock().unwrap(), 400);
    assert!(server.children("/locks/mx").is_empty());
}

#[tokio::test(start_paused = true)]
async fn hundred_waiters_each_release_wakes_exactly_one() {
    let server = server(12).await;
    let holder = InterProcessMutex::new(client(&server).await, "/locks/herd").unwrap();
    let first = holder.acquire().await.unwrap();

    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, MutexGuard)>();
    let mut handles = Vec::new();
    for i in 0..100 {
        let mutex = InterProcessMutex::new(client(&server).await, "/locks/herd").unwrap();
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let guard = mutex.acquire().await.unwrap();
            tx.send((i, guard)).unwrap();
        }));
        // Queue in a known order.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    settle().await;
    assert_eq!(server.children("/locks/herd").len(), 101);

    let mut before = server.notifications_sent();
    first.release().await.unwrap();
    let mut last_seq = -1;
    for expected in 0..100 {
        let (i, guard) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        settle().await;
        let after = server.notifications_sent();
        assert_eq!(after - before, 1, "handoff {expected} sent {} notifications", after - before);
        assert_eq!(i, expected, "first come, first served");
        let seq = zk_core::path::sequence_number(guard.path()).unwrap();
        assert!(seq > last_seq, "sequence grows");
        last_seq = seq;
        assert!(rx.try_recv().is_err(), "only one holder");
        before = server.notifications_sent();
        guard.release().await.unwrap();
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(server.children("/locks/herd").is_empty());
}

/// Two tasks share one handle (one by `Clone`, one by `Arc`): each acquisition is a participant
/// of its own, so the non-atomic read-modify-write ends exact and they never overlap.
#[tokio::test(start_paused = true)]
async fn two_tasks_share_one_handle_fifty_rounds_exclusive() {
    let server = server(13).await;
    let mutex = InterProcessMutex::new(client(&server).await, "/locks/shared").unwrap();
    let counter = Arc::new(Mutex::new(0u64));
    let holders = Arc::new(AtomicUsize::new(0));
    let by_arc = Arc::new(mutex.clone());
    let mut tasks = Vec::new();
    for t in 0..2u64 {
        let (mutex, by_arc, counter, holders) =
            (mutex.clone(), by_arc.clone(), counter.clone(), holders.clone());
        tasks.push(tokio::spawn(async move {
            let handle = if t == 0 { &mutex } else { &*by_arc };
            for i in 0..50u64 {
                let guard = handle.acquire().await.unwrap();
                assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                let v = *counter.lock().unwrap();
                tokio::time::sleep(Duration::from_millis(1 + (t + i) % 3)).await;
                *counter.lock().unwrap() = v + 1;
                holders.fetch_sub(1, Ordering::SeqCst);
                guard.release().await.unwrap();
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t).await.expect("bounded").unwrap();
    }
    assert_eq!(*counter.lock().unwrap(), 100);
    assert!(!mutex.is_held());
    assert!(server.children("/locks/shared").is_empty());
}
