//! InterProcessSemaphoreMutex (Curator's): SemaphoreV2's layout with one lease, one holder,
//! not re-entrant, timeouts, drop, fenced writes, cancellation, disconnects and expiry.

use std::time::Duration;

use zk_core::{CreateMode, Op};
use zk_recipes::{Error, InterProcessSemaphoreMutex, LockStatus};

use crate::{client, nodes_of, server, settle};

async fn mutex(server: &zk_testing::TestServer, path: &str) -> InterProcessSemaphoreMutex {
    InterProcessSemaphoreMutex::new(client(server).await, path).unwrap()
}

#[tokio::test(start_paused = true)]
async fn layout_is_curators_semaphore_v2_with_one_lease() {
    let server = server(61).await;
    let zk = client(&server).await;
    let a = InterProcessSemaphoreMutex::new(zk.clone(), "/curator/smutex").unwrap().with_id(b"alpha");
    assert_eq!(a.path(), "/curator/smutex");
    let guard = a.acquire().await.unwrap();
    let name = guard.path().strip_prefix("/curator/smutex/leases/").unwrap();
    assert_eq!(name.len(), 3 + 36 + 1 + 6 + 10, "{name}");
    assert!(name.starts_with("_c_"));
    assert_eq!(&name[40..46], "lease-");
    assert_eq!(&name[46..], "0000000000");
    let (data, stat) = zk.get_data(guard.path()).await.unwrap();
    assert_eq!((data.as_slice(), stat.ephemeral_owner), (&b"alpha"[..], zk.session_id()));
    // The internal mutex's parent exists; its node is gone once the lease is taken.
    assert!(zk.exists("/curator/smutex/locks").await.unwrap().is_some());
    assert!(server.children("/curator/smutex/locks").is_empty());
    let ps = a.participants().await.unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!((ps[0].node.as_str(), ps[0].id.as_slice()), (guard.path(), &b"alpha"[..]));
    guard.release().await.unwrap();
    // Container parents: reaped once empty.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(zk.exists("/curator/smutex").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn one_holder_and_not_reentrant() {
    let server = server(62).await;
    let a = mutex(&server, "/smutex/one").await;
    let b = mutex(&server, "/smutex/one").await;
    let guard = a.acquire().await.unwrap();
    assert_eq!(guard.status(), LockStatus::Held);
    assert!(a.is_held() && !b.is_held());
    // Neither another participant nor this handle (nor a clone of it) gets in.
    assert!(b.try_acquire().await.unwrap().is_none());
    assert!(a.try_acquire().await.unwrap().is_none(), "not re-entrant");
    assert!(a.clone().acquire_timeout(Duration::from_secs(2)).await.unwrap().is_none());
    settle().await;
    assert_eq!(server.children("/smutex/one/leases"), vec![guard.path().to_owned()], "no node left");
    assert!(server.children("/smutex/one/locks").is_empty());

    guard.release().await.unwrap();
    assert!(!a.is_held());
    assert!(server.children("/smutex/one/leases").is_empty());
    let g = b.try_acquire().await.unwrap().expect("free");
    assert!(b.is_held());
    g.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gets_the_lock_when_the_guard_is_dropped() {
    let server = server(63).await;
    let a = mutex(&server, "/smutex/drop").await;
    let b = mutex(&server, "/smutex/drop").await;
    let guard = a.acquire().await.unwrap();
    let waiter = tokio::spawn(async move { b.acquire().await.map(|g| g.path().to_owned()) });
    settle().await;
    assert!(!waiter.is_finished());
    drop(guard);
    let next = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
    assert!(next.starts_with("/smutex/drop/leases/_c_"));
    settle().await;
    assert!(server.children("/smutex/drop/leases").is_empty(), "the waiter's guard dropped too");
}

#[tokio::test(start_paused = true)]
async fn timeouts_give_up_and_leave_nothing() {
    let server = server(64).await;
    let a = mutex(&server, "/smutex/to").await;
    let bc = client(&server).await;
    let b = InterProcessSemaphoreMutex::new(bc.clone(), "/smutex/to").unwrap();
    let guard = a.acquire_timeout(Duration::ZERO).await.unwrap().expect("a zero timeout takes a free lock");
    let start = tokio::time::Instant::now();
    assert!(b.acquire_timeout(Duration::from_secs(5)).await.unwrap().is_none());
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    settle().await;
    assert!(nodes_of(&server, "/smutex/to", bc.session_id()).is_empty());
    let waiter = tokio::spawn(async move { b.acquire_timeout(Duration::MAX).await.map(|g| g.is_some()) });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiter.is_finished(), "a huge timeout is no deadline");
    guard.release().await.unwrap();
    assert!(waiter.await.unwrap().unwrap());
}

#[tokio::test(start_paused = true)]
async fn fenced_writes_apply_only_while_the_lease_exists() {
    let server = server(65).await;
    let admin = client(&server).await;
    admin.create("/data", b"0", CreateMode::Persistent).await.unwrap();
    let a = mutex(&server, "/smutex/f").await;
    let guard = a.acquire().await.unwrap();
    assert_eq!(guard.fenced(&[Op::set_data("/data", b"1", None)]).await.unwrap().len(), 1);
    let err =
        guard.fenced(&[Op::set_data("/data", b"2", None), Op::check("/missing", None)]).await.unwrap_err();
    assert!(matches!(err, Error::Zk(zk_core::Error::MultiFailed { index: 1, .. })), "{err:?}");
    admin.delete(guard.path(), None).await.unwrap();
    assert_eq!(guard.fenced(&[Op::set_data("/data", b"3", None)]).await, Err(Error::LockLost));
    assert_eq!(admin.get_data("/data").await.unwrap().0, b"1");
    guard.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancelled_acquisitions_leave_no_node() {
    let server = server(66).await;
    server.set_latency(Duration::from_millis(10));
    let a = mutex(&server, "/smutex/cancel").await;
    let guard = a.acquire().await.unwrap();
    let bc = client(&server).await;
    let b = InterProcessSemaphoreMutex::new(bc.clone(), "/smutex/cancel").unwrap();
    for i in 0..60u64 {
        let r = tokio::time::timeout(Duration::from_millis(i), b.acquire()).await;
        assert!(r.is_err(), "the lock is held");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(nodes_of(&server, "/smutex/cancel", bc.session_id()), Vec::<String>::new());
    assert_eq!(server.children("/smutex/cancel/leases"), vec![guard.path().to_owned()]);
    guard.release().await.unwrap();
    let g = tokio::time::timeout(Duration::from_secs(5), b.acquire()).await.unwrap().unwrap();
    g.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn suspended_on_disconnect_and_held_after_reconnect() {
    let server = server(67).await;
    let zk = client(&server).await;
    let m = InterProcessSemaphoreMutex::new(zk.clone(), "/smutex/susp").unwrap();
    let guard = m.acquire().await.unwrap();
    server.partition_session(zk.session_id(), Duration::from_secs(5));
    server.drop_connection(zk.session_id());
    let status = tokio::time::timeout(Duration::from_secs(30), guard.suspended()).await.unwrap();
    assert_eq!(status, LockStatus::Suspended);
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(guard.status(), LockStatus::Held, "same session after the partition");
    guard.release().await.unwrap();
    assert!(server.children("/smutex/susp/leases").is_empty());
}

#[tokio::test(start_paused = true)]
async fn expiry_while_holding_and_while_waiting() {
    let server = server(68).await;
    let hc = client(&server).await;
    let holder = InterProcessSemaphoreMutex::new(hc.clone(), "/smutex/exp").unwrap();
    let wc = client(&server).await;
    let waiter = InterProcessSemaphoreMutex::new(wc.clone(), "/smutex/exp").unwrap();
    let other = mutex(&server, "/smutex/exp").await;

    let guard = holder.acquire().await.unwrap();
    let wt = tokio::spawn(async move { waiter.acquire().await.map(|g| g.path().to_owned()) });
    settle().await;
    assert_eq!(nodes_of(&server, "/smutex/exp", wc.session_id()).len(), 2, "a lease and the mutex node");
    assert!(server.expire_session(wc.session_id()));
    let err = tokio::time::timeout(Duration::from_secs(30), wt).await.unwrap().unwrap().unwrap_err();
    assert_eq!(err, Error::SessionEnded(zk_core::Error::SessionExpired));
    assert_eq!(server.children("/smutex/exp/leases"), vec![guard.path().to_owned()]);

    // The holder's session expires; its client moves on to a new session, where the guard
    // stays lost and a new acquisition takes the lock anew.
    assert!(server.expire_session(hc.session_id()));
    tokio::time::timeout(Duration::from_secs(30), guard.lost()).await.unwrap();
    assert_eq!(guard.status(), LockStatus::Lost);
    assert_eq!(guard.fenced(&[]).await, Err(Error::LockLost));
    let g = tokio::time::timeout(Duration::from_secs(5), other.acquire()).await.unwrap().unwrap();
    assert_eq!(guard.release().await, Err(Error::LockLost));
    assert!(holder.try_acquire().await.unwrap().is_none(), "the other holds it now");
    g.release().await.unwrap();
    let again = tokio::time::timeout(Duration::from_secs(30), holder.acquire()).await.unwrap().unwrap();
    assert_eq!(again.status(), LockStatus::Held);
    again.release().await.unwrap();
    settle().await;
    assert!(server.children("/smutex/exp/leases").is_empty());
}
