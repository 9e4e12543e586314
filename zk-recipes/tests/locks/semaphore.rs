//! InterProcessSemaphore (Curator's InterProcessSemaphoreV2): the limit under churn, several
//! leases, timeouts, drop, a shared count, the layout, cancellation and expiry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zk_core::CreateMode;
use zk_recipes::{Error, InterProcessSemaphore, LockStatus};

use crate::{client, nodes_of, server, settle};

async fn sem(server: &zk_testing::TestServer, path: &str, n: usize) -> InterProcessSemaphore {
    InterProcessSemaphore::new(client(server).await, path, n).unwrap()
}

#[tokio::test(start_paused = true)]
async fn never_more_than_n_holders_under_churn() {
    let server = server(51).await;
    let current = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..20u64 {
        let s = sem(&server, "/sem/churn", 3).await;
        let (current, max) = (current.clone(), max.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..3u64 {
                let lease = s.acquire().await.unwrap();
                let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5 + (t * 7 + round * 3) % 20)).await;
                current.fetch_sub(1, Ordering::SeqCst);
                lease.release().await.unwrap();
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t).await.unwrap().unwrap();
    }
    let max = max.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} holders at once");
    assert_eq!(max, 3, "the limit was reached");
    settle().await;
    assert!(server.children("/sem/churn/leases").is_empty());
    assert!(server.children("/sem/churn/locks").is_empty());
}

/// Five tasks share one handle of 3 leases (by `Clone`), as kazoo's example shares one
/// `Semaphore`: the limit is reached and never passed, and every task finishes. (With an
/// internal mutex re-entrant per handle, all five held it at once and waited for ever.)
#[tokio::test(start_paused = true)]
async fn five_tasks_share_one_handle_of_three() {
    let server = server(50).await;
    let s = sem(&server, "/sem/shared-handle", 3).await;
    let current = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..5u64 {
        let (s, current, max) = (s.clone(), current.clone(), max.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..4u64 {
                let lease = s.acquire().await.unwrap();
                let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20 + (t * 7 + round * 3) % 20)).await;
                current.fetch_sub(1, Ordering::SeqCst);
                lease.release().await.unwrap();
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t).await.expect("all finish").unwrap();
    }
    let max = max.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} holders at once");
    assert_eq!(max, 3, "the limit was reached");
    settle().await;
    assert!(server.children("/sem/shared-handle/leases").is_empty());
    assert!(server.children("/sem/shared-handle/locks").is_empty());
}

#[tokio::test(start_paused = true)]
async fn acquire_many_and_bad_counts() {
    let server = server(52).await;
    let a = sem(&server, "/sem/many", 3).await;
    let b = sem(&server, "/sem/many", 3).await;
    let two = a.acquire_many(2).await.unwrap();
    assert_eq!(two.len(), 2);
    assert_ne!(two[0].path(), two[1].path());
    assert!(b.acquire_many_timeout(2, Duration::from_secs(2)).await.unwrap().is_none());
    settle().await;
    assert_eq!(server.children("/sem/many/leases").len(), 2, "the partial lease was returned");
    let third = b.try_acquire().await.unwrap().expect("one left");
    assert!(b.try_acquire().await.unwrap().is_none());
    assert!(matches!(a.acquire_many(4).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(a.acquire_many(0).await, Err(Error::InvalidArgument(_))));
    assert!(InterProcessSemaphore::new(client(&server).await, "/sem/many", 0).is_err());
    for l in two {
        l.release().await.unwrap();
    }
    third.release().await.unwrap();
    assert!(server.children("/sem/many/leases").is_empty());
}

#[tokio::test(start_paused = true)]
async fn timeouts_give_up_and_leave_nothing() {
    let server = server(53).await;
    let a = sem(&server, "/sem/to", 1).await;
    let bc = client(&server).await;
    let b = InterProcessSemaphore::new(bc.clone(), "/sem/to", 1).unwrap();
    let lease = a.acquire().await.unwrap();
    let start = tokio::time::Instant::now();
    assert!(b.acquire_timeout(Duration::from_secs(5)).await.unwrap().is_none());
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    settle().await;
    assert!(nodes_of(&server, "/sem/to", bc.session_id()).is_empty());
    let waiter =
        tokio::spawn(async move { b.acquire_timeout(Duration::from_secs(10)).await.map(|l| l.is_some()) });
    tokio::time::sleep(Duration::from_secs(2)).await;
    lease.release().await.unwrap();
    assert!(waiter.await.unwrap().unwrap());
}

#[tokio::test(start_paused = true)]
async fn dropping_a_lease_returns_it() {
    let server = server(54).await;
    let a = sem(&server, "/sem/drop", 1).await;
    let b = sem(&server, "/sem/drop", 1).await;
    let lease = a.acquire().await.unwrap();
    assert_eq!(lease.status(), LockStatus::Held);
    let waiter = tokio::spawn(async move { b.acquire().await.map(|l| l.path().to_owned()) });
    settle().await;
    assert!(!waiter.is_finished());
    drop(lease);
    let next = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
    assert!(next.starts_with("/sem/drop/leases/_c_"));
    settle().await;
    assert!(server.children("/sem/drop/leases").is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_limit_comes_from_a_shared_count() {
    let server = server(55).await;
    let admin = client(&server).await;
    admin.create("/count", &2i32.to_be_bytes(), CreateMode::Persistent).await.unwrap();
    let mut s = Vec::new();
    for _ in 0..3 {
        s.push(
            InterProcessSemaphore::with_shared_count(client(&server).await, "/sem/shared", "/count").unwrap(),
        );
    }
    let l0 = s[0].acquire().await.unwrap();
    let l1 = s[1].acquire().await.unwrap();
    let third = s.pop().unwrap();
    let waiter = tokio::spawn(async move { third.acquire().await.map(|l| l.path().to_owned()) });
    settle().await;
    assert!(!waiter.is_finished(), "two leases with a count of 2");
    admin.set_data("/count", &3i32.to_be_bytes(), None).await.unwrap();
    let path = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
    assert!(path.contains("lease-"));
    assert_eq!(server.children("/sem/shared/leases").len(), 2, "the waiter's lease dropped with its task");
    l0.release().await.unwrap();
    l1.release().await.unwrap();
    // A malformed count is an error, and leaves nothing behind.
    admin.set_data("/count", b"xy", None).await.unwrap();
    let err = s[0].acquire().await.unwrap_err();
    assert!(matches!(err, Error::Malformed { ref path, .. } if path == "/count"), "{err:?}");
    settle().await;
    assert!(server.children("/sem/shared/leases").is_empty());
}

#[tokio::test(start_paused = true)]
async fn layout_matches_curators_semaphore_v2() {
    let server = server(56).await;
    let zk = client(&server).await;
    let a = InterProcessSemaphore::new(zk.clone(), "/curator/sem", 2).unwrap().with_id(b"alpha");
    let lease = a.acquire().await.unwrap();
    let name = lease.path().strip_prefix("/curator/sem/leases/").unwrap();
    assert_eq!(name.len(), 3 + 36 + 1 + 6 + 10, "{name}");
    assert!(name.starts_with("_c_"));
    assert_eq!(&name[40..46], "lease-");
    assert_eq!(&name[46..], "0000000000");
    let (data, stat) = zk.get_data(lease.path()).await.unwrap();
    assert_eq!((data.as_slice(), stat.ephemeral_owner), (&b"alpha"[..], zk.session_id()));
    // The internal mutex's parent exists (and its node is gone once the lease is taken).
    assert!(zk.exists("/curator/sem/locks").await.unwrap().is_some());
    assert!(server.children("/curator/sem/locks").is_empty());
    let ps = a.participants().await.unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!((ps[0].node.as_str(), ps[0].id.as_slice()), (lease.path(), &b"alpha"[..]));
    lease.release().await.unwrap();
    // Container parents: reaped once empty.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(zk.exists("/curator/sem/leases").await.unwrap(), None);
    assert_eq!(zk.exists("/curator/sem/locks").await.unwrap(), None);
    assert_eq!(zk.exists("/curator").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn cancelled_acquisitions_leave_no_node() {
    let server = server(57).await;
    server.set_latency(Duration::from_millis(10));
    let a = sem(&server, "/sem/cancel", 1).await;
    let lease = a.acquire().await.unwrap();
    let bc = client(&server).await;
    let b = InterProcessSemaphore::new(bc.clone(), "/sem/cancel", 1).unwrap();
    for i in 0..80u64 {
        let r = tokio::time::timeout(Duration::from_millis(i), b.acquire()).await;
        assert!(r.is_err(), "the semaphore is full");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(nodes_of(&server, "/sem/cancel", bc.session_id()), Vec::<String>::new());
    assert_eq!(server.children("/sem/cancel/leases"), vec![lease.path().to_owned()]);
    lease.release().await.unwrap();
    // Still usable after all that.
    let l = tokio::time::timeout(Duration::from_secs(5), b.acquire()).await.unwrap().unwrap();
    l.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn expiry_while_holding_and_while_waiting() {
    let server = server(58).await;
    let hc = client(&server).await;
    let holder = InterProcessSemaphore::new(hc.clone(), "/sem/exp", 1).unwrap();
    let wc = client(&server).await;
    let waiter = InterProcessSemaphore::new(wc.clone(), "/sem/exp", 1).unwrap();
    let other = sem(&server, "/sem/exp", 1).await;

    let lease = holder.acquire().await.unwrap();
    let wt = tokio::spawn(async move { waiter.acquire().await.map(|l| l.path().to_owned()) });
    settle().await;
    assert_eq!(nodes_of(&server, "/sem/exp", wc.session_id()).len(), 2, "a lease and the mutex node");
    assert!(server.expire_session(wc.session_id()));
    let err = tokio::time::timeout(Duration::from_secs(30), wt).await.unwrap().unwrap().unwrap_err();
    assert_eq!(err, Error::SessionEnded(zk_core::Error::SessionExpired));
    assert_eq!(server.children("/sem/exp/leases"), vec![lease.path().to_owned()]);
    assert!(server.children("/sem/exp/locks").is_empty());

    assert!(server.expire_session(hc.session_id()));
    tokio::time::timeout(Duration::from_secs(30), lease.lost()).await.unwrap();
    assert_eq!(lease.status(), LockStatus::Lost);
    let l = tokio::time::timeout(Duration::from_secs(5), other.acquire()).await.unwrap().unwrap();
    assert_eq!(lease.release().await, Err(Error::LockLost));
    l.release().await.unwrap();
    settle().await;
    assert!(server.children("/sem/exp/leases").is_empty());
}

#[tokio::test(start_paused = true)]
async fn extreme_counts_and_timeouts() {
    let server = server(59).await;
    let a = sem(&server, "/sem/extreme", 1).await;
    let b = sem(&server, "/sem/extreme", 1).await;
    // A timeout past what the clock can hold is no deadline.
    let lease = a.acquire_timeout(Duration::MAX).await.unwrap().expect("a free lease");
    let waiter = tokio::spawn(async move {
        let one = b.acquire_many_timeout(1, Duration::MAX).await.map(|l| l.map(|l| l.len()));
        (one, b)
    });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiter.is_finished(), "still waiting for the one lease");
    lease.release().await.unwrap();
    let (one, b) = waiter.await.unwrap();
    assert_eq!(one.unwrap(), Some(1));
    settle().await;
    // More leases than any shared count (an i32) can allow: rejected, not allocated for.
    let admin = client(&server).await;
    admin.create("/sem-count", &1i32.to_be_bytes(), CreateMode::Persistent).await.unwrap();
    let shared = InterProcessSemaphore::with_shared_count(admin, "/sem/extreme2", "/sem-count").unwrap();
    assert!(matches!(shared.acquire_many(usize::MAX).await, Err(Error::InvalidArgument(_))));
    drop(b);
}

/// An uncontended lease sets no watch (one set and dropped unfired costs a RemoveWatches
/// request): acquiring and releasing a free lease sends at most 6 requests with a fixed limit (the
/// internal mutex's create, list and delete; our lease's create and delete; one list of the
/// leases), 7 with a shared count (its read too); watching cost 7 and 9.
#[tokio::test(start_paused = true)]
async fn an_uncontended_lease_sets_no_watch() {
    let server = server(58).await;
    let requests = |id: i64| server.sessions().into_iter().find(|s| s.id == id).map_or(0, |s| s.requests);
    let admin = client(&server).await;
    admin.create("/sem-free", b"", CreateMode::Persistent).await.unwrap();
    admin.create("/sem-free/count", &5i32.to_be_bytes(), CreateMode::Persistent).await.unwrap();
    for (shared, path) in [(false, "/sem-free/fixed"), (true, "/sem-free/shared")] {
        let c = client(&server).await;
        let s = if shared {
            InterProcessSemaphore::with_shared_count(c.clone(), path, "/sem-free/count").unwrap()
        } else {
            InterProcessSemaphore::new(c.clone(), path, 5).unwrap()
        };
        // The first acquire creates the parents.
        s.acquire().await.unwrap().release().await.unwrap();
        settle().await;
        let before = requests(c.session_id());
        s.acquire().await.unwrap().release().await.unwrap();
        settle().await;
        let sent = requests(c.session_id()) - before;
        let most = if shared { 7 } else { 6 };
        assert!(sent <= most, "shared count {shared}: {sent} requests, not at most {most}");
        assert!(server.watches().iter().all(|(id, paths)| *id != c.session_id() || paths.is_empty()));
    }
}
