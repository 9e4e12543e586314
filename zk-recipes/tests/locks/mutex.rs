//! Basic mutex behaviour: re-entrancy through the guard, try_acquire, timeouts, release on drop, participants,
//! fenced writes.

use std::time::Duration;

use zk_core::{CreateMode, Op};
use zk_recipes::{Error, InterProcessMutex, LockStatus, Participant};

use crate::{client, server, settle};

#[tokio::test(start_paused = true)]
async fn acquire_release_and_try_acquire() {
    let server = server(1).await;
    let a = InterProcessMutex::new(client(&server).await, "/locks/basic").unwrap();
    let b = InterProcessMutex::new(client(&server).await, "/locks/basic").unwrap();

    let guard = a.acquire().await.unwrap();
    assert!(guard.path().starts_with("/locks/basic/_c_"));
    assert_eq!(guard.status(), LockStatus::Held);
    assert!(a.is_held());
    assert!(b.try_acquire().await.unwrap().is_none());
    // The failed try left no node behind.
    assert_eq!(server.children("/locks/basic"), vec![guard.path().to_owned()]);

    guard.release().await.unwrap();
    assert!(!a.is_held());
    assert!(server.children("/locks/basic").is_empty());
    let g = b.try_acquire().await.unwrap().expect("free lock");
    g.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn invalid_path_is_rejected() {
    let server = server(2).await;
    let err = InterProcessMutex::new(client(&server).await, "locks/no-slash").unwrap_err();
    assert!(matches!(err, Error::Zk(zk_core::Error::InvalidPath { .. })), "{err:?}");
}

/// Re-entrancy is tied to the guard (it replaces `reentrant_per_handle_with_one_node`, which
/// re-entered through the handle): guards re-entered from one share its node, and the handle
/// itself, like any other participant, does not get in while they live.
#[tokio::test(start_paused = true)]
async fn reentrant_through_the_guard_with_one_node() {
    let server = server(3).await;
    let a = InterProcessMutex::new(client(&server).await, "/locks/re").unwrap();
    let b = InterProcessMutex::new(client(&server).await, "/locks/re").unwrap();

    let g1 = a.acquire().await.unwrap();
    let g2 = g1.reenter();
    let g3 = g2.reenter();
    assert_eq!(g1.path(), g2.path());
    assert_eq!(g1.path(), g3.path());
    assert_eq!(server.children("/locks/re").len(), 1);
    assert!(a.try_acquire().await.unwrap().is_none(), "not re-entrant through the handle");
    assert!(a.acquire_timeout(Duration::from_secs(1)).await.unwrap().is_none());
    settle().await;
    assert_eq!(server.children("/locks/re").len(), 1, "the handle's attempts left no node");

    drop(g1);
    g3.release().await.unwrap();
    settle().await;
    assert_eq!(server.children("/locks/re").len(), 1, "still held by g2");
    assert!(a.is_held());
    assert!(b.try_acquire().await.unwrap().is_none());

    g2.release().await.unwrap();
    assert!(!a.is_held());
    assert!(server.children("/locks/re").is_empty());
    assert!(b.try_acquire().await.unwrap().is_some());
}

#[tokio::test(start_paused = true)]
async fn acquire_timeout_gives_up_and_cleans_up() {
    let server = server(4).await;
    let a = InterProcessMutex::new(client(&server).await, "/locks/to").unwrap();
    let bc = client(&server).await;
    let b = InterProcessMutex::new(bc.clone(), "/locks/to").unwrap();

    let guard = a.acquire().await.unwrap();
    let start = tokio::time::Instant::now();
    assert!(b.acquire_timeout(Duration::from_secs(5)).await.unwrap().is_none());
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    settle().await;
    assert!(crate::nodes_of(&server, "/locks/to", bc.session_id()).is_empty());

    // Released within the timeout: b gets it.
    let waiter =
        tokio::spawn(async move { b.acquire_timeout(Duration::from_secs(10)).await.map(|g| g.is_some()) });
    tokio::time::sleep(Duration::from_secs(2)).await;
    guard.release().await.unwrap();
    assert!(waiter.await.unwrap().unwrap());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_guard_releases_in_the_background() {
    let server = server(5).await;
    let a = InterProcessMutex::new(client(&server).await, "/locks/drop").unwrap();
    let b = InterProcessMutex::new(client(&server).await, "/locks/drop").unwrap();
    let guard = a.acquire().await.unwrap();
    let waiter = tokio::spawn(async move { b.acquire().await.map(|g| g.path().to_owned()) });
    settle().await;
    drop(guard);
    let next = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
    settle().await;
    assert_eq!(server.children("/locks/drop"), Vec::<String>::new(), "b's guard dropped too");
    assert!(next.starts_with("/locks/drop/_c_"));
}

#[tokio::test(start_paused = true)]
async fn participants_in_lock_order_with_ids() {
    let server = server(6).await;
    let a = InterProcessMutex::new(client(&server).await, "/locks/p").unwrap().with_id(b"alpha");
    let b = InterProcessMutex::new(client(&server).await, "/locks/p").unwrap().with_id(b"beta");
    assert!(a.participants().await.unwrap().is_empty());
    let ga = a.acquire().await.unwrap();
    let wb = tokio::spawn(async move {
        let g = b.acquire().await;
        g.map(|g| g.path().to_owned())
    });
    settle().await;
    let ps = a.participants().await.unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0], Participant { node: ga.path().to_owned(), id: b"alpha".to_vec() });
    assert_eq!(ps[1].id, b"beta".to_vec());
    ga.release().await.unwrap();
    assert_eq!(wb.await.unwrap().unwrap(), ps[1].node);
}

#[tokio::test(start_paused = true)]
async fn fenced_writes_apply_only_while_the_node_exists() {
    let server = server(7).await;
    let admin = client(&server).await;
    admin.create("/data", b"0", CreateMode::Persistent).await.unwrap();
    let a = InterProcessMutex::new(client(&server).await, "/locks/f").unwrap();
    let guard = a.acquire().await.unwrap();

    let r = guard.fenced(&[Op::set_data("/data", b"1", None)]).await.unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(admin.get_data("/data").await.unwrap().0, b"1");

    // One of our ops fails: its index is relative to our ops.
    let err =
        guard.fenced(&[Op::set_data("/data", b"2", None), Op::check("/missing", None)]).await.unwrap_err();
    assert!(matches!(err, Error::Zk(zk_core::Error::MultiFailed { index: 1, .. })), "{err:?}");

    // Someone deletes the lock node: the fence refuses the write.
    admin.delete(guard.path(), None).await.unwrap();
    assert_eq!(guard.fenced(&[Op::set_data("/data", b"3", None)]).await, Err(Error::LockLost));
    assert_eq!(admin.get_data("/data").await.unwrap().0, b"1");
    guard.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn zero_and_unbounded_timeouts() {
    let server = server(8).await;
    let a = InterProcessMutex::new(client(&server).await, "/locks/extreme").unwrap();
    let b = InterProcessMutex::new(client(&server).await, "/locks/extreme").unwrap();
    // A zero timeout looks once, as try_acquire: a free lock is taken.
    let guard = a.acquire_timeout(Duration::ZERO).await.unwrap().expect("the lock is free");
    assert!(b.acquire_timeout(Duration::ZERO).await.unwrap().is_none());
    // A timeout past what the clock can hold is no deadline.
    let waiter = tokio::spawn(async move { b.acquire_timeout(Duration::MAX).await.map(|g| g.is_some()) });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiter.is_finished(), "still waiting while a holds the lock");
    guard.release().await.unwrap();
    assert!(waiter.await.unwrap().unwrap());
}
