//! The key queue scenarios on both backends over TCP, in real time: the shared real
//! ZooKeeper 3.8 and a fresh embedded `TestServer` (`zk_testing::both_backends!`).
//! The producer/consumer scenario runs the full 4 x 1,000 items here too (a few seconds).

use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use zk_core::Client;
use zk_recipes::queue::{DistributedQueue, SimpleDistributedQueue};
use zk_recipes::Error;
use zk_testing::Backend;

use crate::at_most_once::check_exactly_once_fifo;
use crate::support::within;
use crate::{spawn_consumers, spawn_producers};

zk_testing::both_backends!(worker_threads = 4;
    four_producers_three_consumers_exactly_once,
    simple_queue_fifo_and_take_waits,
    at_least_once_item_comes_back_when_its_consumer_dies,
    a_renewing_consumer_carries_on_after_its_session_expires,
);

async fn four_producers_three_consumers_exactly_once(b: &Backend) {
    const PRODUCERS: usize = 4;
    const ITEMS: usize = 1_000;
    const CONSUMERS: usize = 3;
    let path = format!("{}/queue", b.create_root("queue-4x1000").await);
    let clients = Mutex::new(Vec::new());
    let connect = || async {
        let zk = b.client().await;
        clients.lock().unwrap().push(zk.clone());
        zk
    };
    let (logs, consumers) = spawn_consumers(CONSUMERS, &path, connect, None).await;
    let producers = spawn_producers(PRODUCERS, ITEMS, &path, connect).await;
    within(60, "puts", async {
        for p in producers {
            p.await.unwrap();
        }
    })
    .await;
    within(60, "all consumed", async {
        while logs.lock().unwrap().iter().map(Vec::len).sum::<usize>() < PRODUCERS * ITEMS {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for c in consumers {
        c.abort();
    }
    let logs = logs.lock().unwrap().clone();
    check_exactly_once_fifo(&logs, PRODUCERS, ITEMS);
    let clients = clients.into_inner().unwrap();
    let mut left = clients[0].get_children(&path).await.unwrap();
    left.retain(|c| c.starts_with("queue-"));
    assert_eq!(left, Vec::<String>::new(), "{}", b.name());
    for c in clients {
        c.close().await;
    }
}

async fn simple_queue_fifo_and_take_waits(b: &Backend) {
    let path = format!("{}/simple", b.create_root("queue-simple").await);
    let (pc, cc) = (b.client().await, b.client().await);
    let producer = SimpleDistributedQueue::new(pc.clone(), &path).unwrap();
    let consumer = SimpleDistributedQueue::new(cc.clone(), &path).unwrap();
    assert_eq!(consumer.poll().await.unwrap(), None);
    for i in 0..50 {
        producer.offer(format!("{i:02}").as_bytes()).await.unwrap();
    }
    assert_eq!(consumer.peek().await.unwrap(), Some(b"00".to_vec()));
    for i in 0..50 {
        let expected = format!("{i:02}").into_bytes();
        if i % 2 == 0 {
            assert_eq!(consumer.poll().await.unwrap(), Some(expected), "{}", b.name());
        } else {
            assert_eq!(consumer.take().await.unwrap(), expected, "{}", b.name());
        }
    }
    // take waits for the next offer.
    let waiting = tokio::spawn(async move { consumer.take().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "{}: take returned on an empty queue", b.name());
    producer.offer(b"wake").await.unwrap();
    assert_eq!(within(10, "take woken", waiting).await.unwrap().unwrap(), b"wake");
    assert_eq!(producer.take_timeout(Duration::from_millis(200)).await.unwrap(), None);
    pc.close().await;
    cc.close().await;
}

/// The holder's session ends (closed: the server deletes its ephemerals, as on expiry): the
/// item comes back to the other consumer, which is waiting behind the lock.
async fn at_least_once_item_comes_back_when_its_consumer_dies(b: &Backend) {
    let path = format!("{}/alo", b.create_root("queue-alo").await);
    let (dc, oc) = (b.client().await, b.client().await);
    let doomed = DistributedQueue::new(dc.clone(), &path).unwrap();
    doomed.put(b"job").await.unwrap();
    let held = within(10, "take", doomed.at_least_once().next()).await.unwrap().unwrap();
    let other = DistributedQueue::new(oc.clone(), &path).unwrap();
    let waiting = tokio::spawn(async move {
        let mut stream = other.at_least_once();
        let d = stream.next().await.unwrap().unwrap();
        let items = d.items().to_vec();
        d.ack().await.unwrap();
        items
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "{}: a locked item was taken", b.name());
    dc.close().await;
    assert_eq!(within(10, "given back", waiting).await.unwrap(), [b"job".to_vec()]);
    assert!(held.ack().await.is_err());
    assert_eq!(oc.get_children(&path).await.unwrap(), ["lock"], "{}", b.name());
    oc.close().await;
}

/// An at-least-once consumer's own session expires while it holds an item, on a client that
/// renews its session (the consumer goes through a proxy, so that its session can be expired
/// on a real ZooKeeper too: another client attaches to it and closes it while the proxy
/// refuses the consumer). Its stream carries on on the new session: the held item, whose lock
/// died with the old session, comes again, the others follow, nothing is lost; the old
/// guard's ack says the lock was lost and deletes nothing.
async fn a_renewing_consumer_carries_on_after_its_session_expires(b: &Backend) {
    let path = format!("{}/renew", b.create_root("queue-renew").await);
    let pc = b.client().await;
    let producer = DistributedQueue::new(pc.clone(), &path).unwrap();
    for item in ["a", "b", "c"] {
        producer.put(item.as_bytes()).await.unwrap();
    }
    let proxy = b.proxy().await;
    let zk =
        within(10, "connect via proxy", Client::connect(&proxy.connect_string())).await.expect("connect");
    let queue = DistributedQueue::new(zk.clone(), &path).unwrap();
    let mut stream = queue.at_least_once();
    let held = within(10, "take", stream.next()).await.unwrap().unwrap();
    assert_eq!(held.items(), [b"a".to_vec()], "{}", b.name());

    let old = zk.session_id();
    within(10, "expire the consumer's session", proxy.expire_session(&zk)).await.expect("expired");

    let mut got = Vec::new();
    while got.len() < 3 {
        let d =
            within(30, "a delivery after the expiry", stream.next()).await.expect("open").expect("delivery");
        got.push(String::from_utf8(d.items().concat()).unwrap());
        d.ack().await.unwrap();
    }
    got.sort();
    assert_eq!(got, ["a", "b", "c"], "{}: each item once, the held one again", b.name());
    assert_ne!(zk.session_id(), old, "{}: the consumer's client opened a new session", b.name());
    assert_eq!(held.ack().await, Err(Error::LockLost), "{}", b.name());
    assert_eq!(producer.node_count().await.unwrap(), 0, "{}", b.name());
    zk.close().await;
    pc.close().await;
}
