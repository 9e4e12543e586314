//! The recipes whose session-expiry behaviour was shown on the embedded server only, now on
//! both backends (the shared real ZooKeeper 3.8 and an embedded server over TCP): each
//! recipe's own session expires mid-use (through a proxy, so on a real server too), and it
//! does what its docs say.

use std::time::Duration;

use futures::StreamExt;
use zk_core::Client;
use zk_recipes::barrier::Barrier;
use zk_recipes::counter::DistributedAtomicLong;
use zk_recipes::queue::{DistributedQueue, SimpleDistributedQueue};
use zk_recipes::{InterProcessSemaphoreMutex, LockStatus};
use zk_testing::{Backend, TcpProxy};

use crate::{eventually, within};

zk_testing::both_backends!(worker_threads = 4;
    semaphore_mutex_holder_loses_and_another_acquires,
    atomic_long_carries_on_on_the_new_session,
    simple_queue_take_ends_and_the_queue_works_again,
    barrier_waiter_hears_the_end_and_waits_again,
    at_most_once_consumer_carries_on,
);

/// A client through a proxy that can expire its session, with a 4 s session timeout.
async fn expirable(b: &Backend) -> (TcpProxy, Client) {
    let proxy = b.proxy().await;
    let connect = Client::builder(&proxy.connect_string()).session_timeout(Duration::from_secs(4));
    let zk = within(10, "connect via proxy", connect.connect()).await.expect("connect");
    (proxy, zk)
}

async fn expire(proxy: &TcpProxy, zk: &Client) {
    let old = zk.session_id();
    within(20, "expire the session", proxy.expire_session(zk)).await.expect("expired");
    eventually(20, "the client's new session", || async {
        zk.state().is_connected() && zk.session_id() != old
    })
    .await;
}

/// A held `InterProcessSemaphoreMutex` is `Lost` once its session expired, and another
/// participant acquires; the old handle acquires again on the client's new session.
async fn semaphore_mutex_holder_loses_and_another_acquires(b: &Backend) {
    let path = format!("{}/sm", b.create_root("shape-sm").await);
    let (proxy, zk) = expirable(b).await;
    let ours = InterProcessSemaphoreMutex::new(zk.clone(), &path).unwrap();
    let guard = ours.acquire().await.unwrap();
    let other = InterProcessSemaphoreMutex::new(b.client().await, &path).unwrap();
    assert!(other.try_acquire().await.unwrap().is_none(), "{}", b.name());
    expire(&proxy, &zk).await;
    within(10, "the guard hears it", guard.lost()).await;
    assert_eq!(guard.status(), LockStatus::Lost, "{}", b.name());
    let theirs = within(20, "the other acquires", other.acquire()).await.unwrap();
    theirs.release().await.unwrap();
    let again = within(20, "ours again on the new session", ours.acquire()).await.unwrap();
    assert_eq!(again.status(), LockStatus::Held, "{}", b.name());
    again.release().await.unwrap();
}

/// A `DistributedAtomicLong` keeps counting on its client's new session, exactly.
async fn atomic_long_carries_on_on_the_new_session(b: &Backend) {
    let path = format!("{}/n", b.create_root("shape-long").await);
    let (proxy, zk) = expirable(b).await;
    let n = DistributedAtomicLong::new(zk.clone(), &path).unwrap();
    for _ in 0..3 {
        assert!(n.increment().await.unwrap().succeeded, "{}", b.name());
    }
    expire(&proxy, &zk).await;
    for _ in 0..2 {
        assert!(within(20, "increment", n.increment()).await.unwrap().succeeded, "{}", b.name());
    }
    assert_eq!(n.get().await.unwrap(), 5, "{}", b.name());
}

/// A `take` waiting on an empty `SimpleDistributedQueue` when its session expires fails
/// with an error that says the session ended (nothing was taken); the queue works on the
/// client's new session.
async fn simple_queue_take_ends_and_the_queue_works_again(b: &Backend) {
    let path = format!("{}/q", b.create_root("shape-simple").await);
    let (proxy, zk) = expirable(b).await;
    let queue = SimpleDistributedQueue::new(zk.clone(), &path).unwrap();
    let waiting = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.take().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    expire(&proxy, &zk).await;
    let r = within(20, "the take ends", waiting).await.unwrap();
    assert!(r.as_ref().is_err_and(|e| e.is_session_ended()), "{}: {r:?}", b.name());
    SimpleDistributedQueue::new(b.client().await, &path).unwrap().offer(b"x").await.unwrap();
    assert_eq!(within(20, "take on the new session", queue.take()).await.unwrap(), b"x", "{}", b.name());
}

/// A `Barrier` waiter whose session expires hears that the session ended; waiting again on
/// the new session returns once the barrier is removed.
async fn barrier_waiter_hears_the_end_and_waits_again(b: &Backend) {
    let path = format!("{}/gate", b.create_root("shape-barrier").await);
    let (proxy, zk) = expirable(b).await;
    let setter = Barrier::new(b.client().await, &path).unwrap();
    setter.set_barrier().await.unwrap();
    let waiter = Barrier::new(zk.clone(), &path).unwrap();
    let waiting = {
        let waiter = waiter.clone();
        tokio::spawn(async move { waiter.wait().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    expire(&proxy, &zk).await;
    let r = within(20, "the wait ends", waiting).await.unwrap();
    assert!(r.as_ref().is_err_and(|e| e.is_session_ended()), "{}: {r:?}", b.name());
    let again = tokio::spawn(async move { waiter.wait().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    setter.remove_barrier().await.unwrap();
    within(20, "the new wait returns", again).await.unwrap().unwrap();
}

/// An at-most-once consumer carries on on its client's new session: items put after the
/// expiry reach it, each once.
async fn at_most_once_consumer_carries_on(b: &Backend) {
    let path = format!("{}/q", b.create_root("shape-amo").await);
    let (proxy, zk) = expirable(b).await;
    let producer = DistributedQueue::new(b.client().await, &path).unwrap();
    let mut consumer = DistributedQueue::new(zk.clone(), &path).unwrap().at_most_once();
    producer.put(b"before").await.unwrap();
    let first = within(20, "an item", consumer.next()).await.unwrap().unwrap();
    assert_eq!(first.data(), b"before", "{}", b.name());
    expire(&proxy, &zk).await;
    producer.put(b"after").await.unwrap();
    let next = within(20, "an item after the expiry", consumer.next()).await.unwrap().unwrap();
    assert_eq!(next.data(), b"after", "{}", b.name());
    assert_eq!(producer.node_count().await.unwrap(), 0, "{}", b.name());
}
