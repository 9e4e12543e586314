//! The key queue scenarios on both backends over TCP, in real time: the shared real
//! ZooKeeper 3.8 and a fresh embedded `TestServer` (`zk_testing::both_backends!`).
//! The producer/consumer scenario runs the full 4 x 1,000 items here too (a few seconds).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use zk_recipes::queue::{DistributedQueue, SimpleDistributedQueue};
use zk_testing::Backend;

use crate::at_most_once::{check_exactly_once_fifo, Logs};
use crate::support::within;

zk_testing::both_backends!(worker_threads = 4;
    four_producers_three_consumers_exactly_once,
    simple_queue_fifo_and_take_waits,
    at_least_once_item_comes_back_when_its_consumer_dies,
);

async fn four_producers_three_consumers_exactly_once(b: &Backend) {
    const PRODUCERS: usize = 4;
    const ITEMS: usize = 1_000;
    const CONSUMERS: usize = 3;
    let path = format!("{}/queue", b.create_root("queue-4x1000").await);
    let logs: Logs = Arc::new(Mutex::new(vec![Vec::new(); CONSUMERS]));
    let mut consumers = Vec::new();
    let mut clients = Vec::new();
    for c in 0..CONSUMERS {
        let zk = b.client().await;
        clients.push(zk.clone());
        let queue = DistributedQueue::new(zk, &path).unwrap();
        let logs = logs.clone();
        consumers.push(tokio::spawn(async move {
            let mut items = queue.at_most_once();
            while let Some(item) = items.next().await {
                let item = item.expect("consume");
                let payload = String::from_utf8(item.data().to_vec()).unwrap();
                logs.lock().unwrap()[c].push((item.sequence(), payload));
            }
        }));
    }
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let zk = b.client().await;
        clients.push(zk.clone());
        let queue = DistributedQueue::new(zk, &path).unwrap();
        producers.push(tokio::spawn(async move {
            for i in 0..ITEMS {
                queue.put(format!("p{p}-{i}").as_bytes()).await.expect("put");
            }
        }));
    }
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
