//! The key mutex scenarios against both backends over TCP, in real time: the shared real
//! ZooKeeper 3.8 and a fresh embedded `TestServer`. Each body is written once against a
//! [`Backend`]; `zk_testing::both_backends!` generates `real::<name>` and `embedded::<name>`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zk_recipes::{
    layout, Error, InterProcessMutex, InterProcessReadWriteLock, InterProcessSemaphore, LockStatus,
};

use crate::backend::{children, children_of, client_via, short_client, Backend};
use crate::support::{eventually, within};

zk_testing::both_backends!(worker_threads = 4;
    mutual_exclusion,
    lost_create_reply_finds_our_node_again,
    holder_session_expires_lock_is_lost,
    lease_holder_session_expires_lease_is_lost,
    rw_write_holder_session_expires_lock_is_lost,
    cancellation_leaves_no_node,
    reentrancy_and_participants,
);

/// 4 sessions x 25 acquisitions; a counter updated non-atomically (load, sleep, store) under
/// the lock ends exactly at 100, and no two holders ever overlap.
async fn mutual_exclusion(b: &Backend) {
    const SESSIONS: usize = 4;
    const ROUNDS: u64 = 25;
    let root = b.create_root("locks-mutex").await;
    let path = format!("{root}/lock");
    let counter = Arc::new(AtomicU64::new(0));
    let holders = Arc::new(AtomicUsize::new(0));
    let max_holders = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let mut clients = Vec::new();
    for i in 0..SESSIONS {
        let client = b.client().await;
        clients.push(client.clone());
        let mutex = InterProcessMutex::new(client, &path).unwrap().with_id(format!("task-{i}").as_bytes());
        let (counter, holders, max_holders) = (counter.clone(), holders.clone(), max_holders.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let guard = mutex.acquire().await.expect("acquire");
                let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                max_holders.fetch_max(now, Ordering::SeqCst);
                let seen = counter.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
                counter.store(seen + 1, Ordering::SeqCst);
                holders.fetch_sub(1, Ordering::SeqCst);
                guard.release().await.expect("release");
            }
        }));
    }
    within(9, "4 x 25 acquisitions", async {
        for t in tasks {
            t.await.expect("task");
        }
    })
    .await;
    assert_eq!(max_holders.load(Ordering::SeqCst), 1, "{}: two holders at once", b.name());
    assert_eq!(counter.load(Ordering::SeqCst), SESSIONS as u64 * ROUNDS, "{}: lost updates", b.name());
    let observer = &clients[0];
    assert_eq!(children(observer, &path).await, Vec::<String>::new(), "{}: leaked lock nodes", b.name());
    for c in clients {
        c.close().await;
    }
}

/// The create of a lock node reaches the server but its reply is lost (the connection is cut
/// before the reply gets through a proxy): the protected prefix finds our node again — the
/// very node the server created — with no duplicate and, after release, no orphan.
///
/// How the reply is lost, on both backends alike: the proxy is stalled, so the create is read
/// and held by it; new connections are refused; the proxy is resumed and cut at once. The
/// proxy's connection task then either forwards the held create before it sees the cut (the
/// reply is lost: the server applies the create while the client cannot reconnect) or drops
/// it (the request is lost). Which of the two happened is checked on the server while
/// reconnection is still refused; a round where the request was lost is retried (each round
/// is a coin toss: the proxy's connection task picks at random between forwarding and the
/// cut). On one core about half the rounds lose the request (0.55 of them on the real server),
/// so 12 rounds all lost it in about one run in 1,300; 40 rounds practically never do, and
/// cost nothing more when the reply is lost early.
async fn lost_create_reply_finds_our_node_again(b: &Backend) {
    const LOST_REPLY_ROUNDS: usize = 40;
    let root = b.create_root("locks-lost-reply").await;
    let path = format!("{root}/lock");
    let proxy = b.proxy().await;
    let zk = client_via(&proxy).await;
    let observer = b.client().await;
    let mutex = Arc::new(InterProcessMutex::new(zk.clone(), &path).unwrap());
    // The parent exists from now on, so the lost create is the lock node's own.
    mutex.acquire().await.unwrap().release().await.unwrap();

    for round in 0..LOST_REPLY_ROUNDS {
        proxy.set_stalled(true);
        let m = mutex.clone();
        let acquire = tokio::spawn(async move { m.acquire().await.map(|g| (g.path().to_owned(), g)) });
        // The create is sent and held by the stalled proxy.
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            children(&observer, &path).await,
            Vec::<String>::new(),
            "round {round}: nothing passed the stall"
        );
        proxy.set_refusing(true);
        proxy.set_stalled(false);
        proxy.cut_all();
        // The session cannot reconnect; if the create was forwarded, the server applies it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let applied = children_of(&observer, &path, zk.session_id()).await;
        assert!(applied.len() <= 1, "round {round}: {applied:?}");
        proxy.set_refusing(false);
        let (node, guard) = within(8, "acquire after the cut", acquire).await.unwrap().expect("acquire");
        eventually(5, "the session is connected again", || async { zk.state().is_connected() }).await;
        let now = children(&observer, &path).await;
        assert_eq!(now.len(), 1, "{}: round {round}: no duplicate: {now:?}", b.name());
        assert_eq!(format!("{path}/{}", now[0]), node, "{}: round {round}", b.name());
        guard.release().await.unwrap();
        eventually(5, "no orphan after release", || async { children(&observer, &path).await.is_empty() })
            .await;
        if let [created] = applied.as_slice() {
            // The reply was lost: the guard is the node the server created before the cut.
            assert_eq!(
                node,
                format!("{path}/{created}"),
                "{}: the node is found again, not re-created",
                b.name()
            );
            println!(
                "{}: reply lost in round {round} (the {round} rounds before lost the request)",
                b.name()
            );
            zk.close().await;
            observer.close().await;
            return;
        }
    }
    panic!("{}: in {LOST_REPLY_ROUNDS} rounds the cut never fell between the create and its reply", b.name());
}

/// The holder's session expires (on both backends: a second client attaches to the session
/// with its id and password and closes it): the guard reports `Lost`, its fenced writes and
/// release fail with `LockLost`, and another session acquires the lock.
///
/// The holder connects through a proxy that refuses new connections while the session is
/// taken over: otherwise the holder, whose connection the server closes on the takeover,
/// reconnects at once and takes its session back before the close (the real server then
/// ignores the close from the displaced connection).
async fn holder_session_expires_lock_is_lost(b: &Backend) {
    let root = b.create_root("locks-expiry").await;
    let path = format!("{root}/lock");
    let proxy = b.proxy().await;
    let zk = short_client(&proxy.connect_string()).await;
    let other = b.client().await;
    let a = InterProcessMutex::new(zk.clone(), &path).unwrap();
    let bm = InterProcessMutex::new(other.clone(), &path).unwrap();
    let guard = a.acquire().await.unwrap();
    assert_eq!(guard.status(), LockStatus::Held);
    let waiter = tokio::spawn(async move { bm.acquire().await.map(|g| (g.path().to_owned(), g)) });
    eventually(5, "the waiter queues", || async { children(&other, &path).await.len() == 2 }).await;

    within(10, "expire the holder's session", proxy.expire_session(&zk)).await.expect("expired");

    within(8, "the guard learns the lock is lost", guard.lost()).await;
    assert_eq!(guard.status(), LockStatus::Lost);
    assert_eq!(guard.fenced(&[]).await, Err(Error::LockLost));
    let (node, gb) = within(8, "the waiter acquires", waiter).await.unwrap().expect("waiter acquires");
    assert_eq!(children(&other, &path).await, vec![node.rsplit('/').next().unwrap().to_owned()]);
    assert_eq!(guard.release().await, Err(Error::LockLost));
    gb.release().await.unwrap();
    assert!(children(&other, &path).await.is_empty(), "{}: no leaked node", b.name());
    // The holder's client opened a new session by itself: the same handle takes the lock
    // again there.
    let again = within(10, "the old holder acquires again", a.acquire()).await.unwrap();
    assert_eq!(again.status(), LockStatus::Held, "{}", b.name());
    assert_eq!(zk.status().epoch, 1, "{}: on the client's new session", b.name());
    again.release().await.unwrap();
    assert!(children(&other, &path).await.is_empty(), "{}: no leaked node", b.name());
    other.close().await;
}

/// A write-lock holder's session expires: its guard is `Lost` (`lost()` resolves, `fenced`
/// and `release` fail with `LockLost`), the reader and the writer queued behind it on another
/// session acquire in turn, and the old handle takes the write lock again on its client's
/// new session.
async fn rw_write_holder_session_expires_lock_is_lost(b: &Backend) {
    let root = b.create_root("locks-rw-expiry").await;
    let path = format!("{root}/lock");
    let proxy = b.proxy().await;
    let zk = short_client(&proxy.connect_string()).await;
    let other = b.client().await;
    let a = InterProcessReadWriteLock::new(zk.clone(), &path).unwrap();
    let bl = InterProcessReadWriteLock::new(other.clone(), &path).unwrap();
    let guard = a.write_lock().acquire().await.unwrap();
    assert_eq!(guard.status(), LockStatus::Held);
    let reader = bl.clone();
    let read_waiter = tokio::spawn(async move { reader.read_lock().acquire().await });
    eventually(5, "the reader queues", || async { children(&other, &path).await.len() == 2 }).await;
    let writer = bl.clone();
    let write_waiter = tokio::spawn(async move { writer.write_lock().acquire().await });
    eventually(5, "the writer queues", || async { children(&other, &path).await.len() == 3 }).await;

    within(10, "expire the holder's session", proxy.expire_session(&zk)).await.expect("expired");

    within(8, "the guard learns the lock is lost", guard.lost()).await;
    assert_eq!(guard.status(), LockStatus::Lost, "{}", b.name());
    assert_eq!(guard.fenced(&[]).await, Err(Error::LockLost), "{}", b.name());
    let rg = within(8, "the waiting reader acquires", read_waiter).await.unwrap().expect("reader acquires");
    assert!(!rg.is_write());
    assert_eq!(guard.release().await, Err(Error::LockLost), "{}", b.name());
    assert!(!write_waiter.is_finished(), "{}: the writer waits for the reader", b.name());
    rg.release().await.unwrap();
    let wg = within(8, "the waiting writer acquires", write_waiter).await.unwrap().expect("writer acquires");
    assert!(wg.is_write());
    assert_eq!(children(&other, &path).await, vec![wg.path().rsplit('/').next().unwrap().to_owned()]);
    wg.release().await.unwrap();
    assert!(children(&other, &path).await.is_empty(), "{}: no leaked node", b.name());
    // The holder's client opened a new session by itself: the same handle takes the write
    // lock again there.
    let again = within(10, "the old holder acquires again", a.write_lock().acquire()).await.unwrap();
    assert_eq!(again.status(), LockStatus::Held, "{}", b.name());
    assert_eq!(zk.status().epoch, 1, "{}: on the client's new session", b.name());
    let owner = other.exists(again.path()).await.unwrap().expect("the new write node").ephemeral_owner;
    assert_eq!(owner, zk.session_id(), "{}: owned by the new session", b.name());
    again.release().await.unwrap();
    assert!(children(&other, &path).await.is_empty(), "{}: no leaked node", b.name());
    zk.close().await;
    other.close().await;
}

/// `acquire` dropped at many points (short timeouts behind a holder, a number of polls on a
/// free lock; real network latency spreads them over the different awaits): nothing of the
/// cancelled calls is left behind.
async fn cancellation_leaves_no_node(b: &Backend) {
    let root = b.create_root("locks-cancel").await;
    let path = format!("{root}/lock");
    let a = InterProcessMutex::new(b.client().await, &path).unwrap();
    let bc = b.client().await;
    let bm = InterProcessMutex::new(bc.clone(), &path).unwrap();
    let observer = b.client().await;

    let holder = a.acquire().await.unwrap();
    let mut cancelled = 0;
    for i in 0..40u64 {
        if let Ok(r) = tokio::time::timeout(Duration::from_micros(i * 100), bm.acquire()).await {
            panic!("{}: acquired while held: {r:?}", b.name());
        }
        cancelled += 1;
    }
    assert_eq!(cancelled, 40);
    eventually(5, "the cancelled acquisitions leave no node", || async {
        children_of(&observer, &path, bc.session_id()).await.is_empty()
    })
    .await;
    assert_eq!(children(&observer, &path).await, vec![holder.path().rsplit('/').next().unwrap().to_owned()]);
    holder.release().await.unwrap();

    // On a free lock an acquisition can finish within the timer's 1 ms granularity, so the
    // future is polled by hand and dropped after `i` polls, 1 ms apart.
    let (mut completed, mut cancelled) = (0, 0);
    for i in 0..30usize {
        let mut acquire = std::pin::pin!(bm.acquire());
        let mut done = None;
        for _ in 0..i {
            if let std::task::Poll::Ready(r) = futures::poll!(acquire.as_mut()) {
                done = Some(r);
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        match done {
            Some(guard) => {
                completed += 1;
                drop(guard.expect("acquire on a free lock"));
            }
            None => cancelled += 1,
        }
    }
    println!("{}: free lock: {completed} completed, {cancelled} cancelled", b.name());
    assert!(cancelled > 0 && completed > 0, "{}: {completed} completed, {cancelled} cancelled", b.name());
    eventually(5, "no node left on the free lock", || async { children(&observer, &path).await.is_empty() })
        .await;
    // And the lock still works for everyone.
    let g = within(5, "acquire after the cancellations", a.acquire()).await.unwrap();
    g.release().await.unwrap();
    observer.close().await;
    bc.close().await;
}

/// Re-entrancy through the guard (one node, a count; the handle itself does not re-enter) and
/// participants (holder first, ids from `with_id`, in Curator's sort order).
async fn reentrancy_and_participants(b: &Backend) {
    let root = b.create_root("locks-reenter").await;
    let path = format!("{root}/lock");
    let a = InterProcessMutex::new(b.client().await, &path).unwrap().with_id(b"alpha");
    let bm = Arc::new(InterProcessMutex::new(b.client().await, &path).unwrap().with_id(b"beta"));
    let observer = b.client().await;

    let g1 = a.acquire().await.unwrap();
    let g2 = g1.reenter();
    let g3 = g2.reenter();
    assert_eq!((g1.path(), g2.path()), (g3.path(), g3.path()), "one node for all re-entries");
    assert!(a.try_acquire().await.unwrap().is_none(), "the handle does not re-enter");
    eventually(5, "the handle's try left no node", || async { children(&observer, &path).await.len() == 1 })
        .await;
    assert!(bm.try_acquire().await.unwrap().is_none());
    assert!(bm.acquire_timeout(Duration::from_millis(200)).await.unwrap().is_none());

    // The timed-out acquire deletes its node in the background: wait until it is gone, so the
    // second node below can only be the waiter's.
    eventually(5, "the timed-out node is deleted", || async { children(&observer, &path).await.len() == 1 })
        .await;
    let m = bm.clone();
    let waiter = tokio::spawn(async move { m.acquire().await.map(|g| (g.path().to_owned(), g)) });
    eventually(5, "the waiter queues", || async {
        children(&observer, &path).await.len() == 2 && a.participants().await.unwrap().len() == 2
    })
    .await;
    let parts = a.participants().await.unwrap();
    assert_eq!(parts.iter().map(|p| p.id.as_slice()).collect::<Vec<_>>(), vec![&b"alpha"[..], &b"beta"[..]]);
    assert_eq!(parts[0].node, g1.path());
    let mut names: Vec<String> =
        parts.iter().map(|p| p.node.rsplit('/').next().unwrap().to_owned()).collect();
    let listed = names.clone();
    layout::sort_nodes(&mut names, layout::MUTEX_LOCK_NAME);
    assert_eq!(names, listed, "participants are in lock order");
    assert!(names.iter().all(|n| layout::is_protected(n) && layout::strip_protected(n).starts_with("lock-")));

    g1.release().await.unwrap();
    g2.release().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished(), "{}: still held by the last re-entry", b.name());
    assert!(a.is_held());
    drop(g3); // The last guard: released in the background.
    let (node, gb) = within(5, "the waiter acquires", waiter).await.unwrap().unwrap();
    assert!(!a.is_held());
    assert_eq!(children(&observer, &path).await, vec![node.rsplit('/').next().unwrap().to_owned()]);
    assert_eq!(
        bm.participants().await.unwrap().iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        vec![b"beta".to_vec()]
    );
    gb.release().await.unwrap();
    assert!(children(&observer, &path).await.is_empty());
    observer.close().await;
}

/// The session of a semaphore's lease holder expires (through a proxy, so on a real ZooKeeper
/// too): the lease is Lost, a waiter gets the lease, and the old holder's handle takes one
/// again on its client's new session.
async fn lease_holder_session_expires_lease_is_lost(b: &Backend) {
    let root = b.create_root("locks-lease-expiry").await;
    let path = format!("{root}/sem");
    let proxy = b.proxy().await;
    let zk = short_client(&proxy.connect_string()).await;
    let other = b.client().await;
    let a = InterProcessSemaphore::new(zk.clone(), &path, 1).unwrap();
    let bs = InterProcessSemaphore::new(other.clone(), &path, 1).unwrap();
    let lease = a.acquire().await.unwrap();
    assert_eq!(lease.status(), LockStatus::Held);
    let waiter = tokio::spawn(async move { bs.acquire().await });

    within(10, "expire the holder's session", proxy.expire_session(&zk)).await.expect("expired");
    within(8, "the lease is lost", lease.lost()).await;
    assert_eq!(lease.status(), LockStatus::Lost, "{}", b.name());
    let other_lease = within(8, "the waiter gets the lease", waiter).await.unwrap().expect("waiter acquires");
    assert_eq!(lease.release().await, Err(Error::LockLost), "{}", b.name());
    other_lease.release().await.unwrap();
    let again = within(10, "the old holder acquires again", a.acquire()).await.unwrap();
    assert_eq!(again.status(), LockStatus::Held, "{}", b.name());
    assert_eq!(zk.status().epoch, 1, "{}: on the client's new session", b.name());
    again.release().await.unwrap();
    assert!(children(&other, &format!("{path}/leases")).await.is_empty(), "{}: no leaked lease", b.name());
    other.close().await;
}
