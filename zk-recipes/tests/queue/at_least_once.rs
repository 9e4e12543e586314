//! DistributedQueue with the at-least-once consumer: locks, acknowledgements, items given
//! back by dropped guards, released locks and expired sessions, cancellation.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use zk_core::proto::OpCode;
use zk_recipes::queue::{Delivery, DistributedQueue};
use zk_recipes::Error;
use zk_testing::RequestMatcher;

use crate::{chaos_queue, client, server, settle, Polls};

async fn next(stream: &mut zk_recipes::queue::AtLeastOnce) -> Delivery {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a delivery in time")
        .expect("stream open")
        .expect("delivery")
}

fn payload(d: &Delivery) -> String {
    String::from_utf8(d.items().concat()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_item_is_locked_while_processed_and_deleted_on_ack() {
    let server = server(11).await;
    let queue = DistributedQueue::new(client(&server).await, "/alo").unwrap();
    queue.put(b"a").await.unwrap();
    queue.put(b"b").await.unwrap();
    let mut first = queue.at_least_once();
    let a = next(&mut first).await;
    assert_eq!((payload(&a), a.node(), a.sequence()), ("a".to_owned(), "/alo/queue-0000000000", 0));
    assert_eq!(a.lock_node(), "/alo/lock/queue-0000000000");
    assert_eq!(server.children("/alo/lock"), vec![a.lock_node().to_owned()]);
    let lock = server.node(a.lock_node()).unwrap();
    assert_eq!(lock.stat.ephemeral_owner, queue.client().session_id());
    // Another consumer skips the locked item.
    let other = DistributedQueue::new(client(&server).await, "/alo").unwrap();
    let mut second = other.at_least_once();
    let b = next(&mut second).await;
    assert_eq!(payload(&b), "b");
    a.ack().await.unwrap();
    b.ack().await.unwrap();
    assert_eq!(server.children("/alo"), vec!["/alo/lock".to_owned()]);
    assert_eq!(server.children("/alo/lock"), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn an_item_given_back_is_taken_again_first() {
    let server = server(12).await;
    let queue = DistributedQueue::new(client(&server).await, "/back").unwrap();
    for item in ["a", "b", "c"] {
        queue.put(item.as_bytes()).await.unwrap();
    }
    let mut c1 = queue.at_least_once();
    // Dropped guard: given back in the background.
    drop(next(&mut c1).await);
    settle().await;
    let mut c2 = DistributedQueue::new(client(&server).await, "/back").unwrap().at_least_once();
    let a = next(&mut c2).await;
    assert_eq!(payload(&a), "a", "the given-back item keeps its place");
    // Explicit release: the next consumer to list the queue takes it again first.
    a.release().await.unwrap();
    let mut c3 = DistributedQueue::new(client(&server).await, "/back").unwrap().at_least_once();
    let a = next(&mut c3).await;
    assert_eq!(payload(&a), "a");
    // Requeue: to the tail, with a new sequence number (Curator's ErrorMode.REQUEUE).
    a.requeue().await.unwrap();
    let order: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let d = next(&mut c3).await;
            v.push(payload(&d));
            d.ack().await.unwrap();
        }
        v
    };
    assert_eq!(order, ["b", "c", "a"]);
    assert_eq!(queue.node_count().await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_consumer_waiting_behind_locked_items_wakes_when_one_is_given_back() {
    let server = server(13).await;
    server.set_latency(Duration::from_millis(10));
    let queue = DistributedQueue::new(client(&server).await, "/busy").unwrap();
    queue.put(b"only").await.unwrap();
    let held = next(&mut queue.at_least_once()).await;
    let other = DistributedQueue::new(client(&server).await, "/busy").unwrap();
    let mut stream = other.at_least_once();
    let (fut, polls) = Polls::new(async move { stream.next().await.map(|d| d.map(|d| payload(&d))) });
    let waiting = tokio::spawn(fut);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiting.is_finished(), "the item is locked");
    assert!(polls.load(Ordering::SeqCst) < 15, "polled {} times", polls.load(Ordering::SeqCst));
    held.release().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken").unwrap();
    assert_eq!(got.unwrap().unwrap(), "only");
}

/// A consumer's session expires while it holds an item: the item comes back and another
/// consumer processes it; the late ack fails with LockLost; nothing is lost.
#[tokio::test(start_paused = true)]
async fn expired_consumer_item_comes_back_to_another_consumer() {
    const ITEMS: usize = 20;
    let server = server(14).await;
    let producer = DistributedQueue::new(client(&server).await, "/expiry").unwrap();
    for i in 0..ITEMS {
        producer.put(format!("{i}").as_bytes()).await.unwrap();
    }
    // A client that ends with its session: its consumer stream ends (a renewing client's
    // would carry on on the new session).
    let doomed_zk = server.client_builder().on_expiry(zk_core::OnExpiry::End).connect().await.unwrap();
    let doomed = DistributedQueue::new(doomed_zk.clone(), "/expiry").unwrap();
    let mut doomed_stream = doomed.at_least_once();
    let held = next(&mut doomed_stream).await;
    assert_eq!(payload(&held), "0");

    let processed = Arc::new(Mutex::new(Vec::new()));
    let mut survivors = Vec::new();
    for _ in 0..2 {
        let q = DistributedQueue::new(client(&server).await, "/expiry").unwrap();
        let processed = processed.clone();
        survivors.push(tokio::spawn(async move {
            let mut stream = q.at_least_once();
            while let Some(d) = stream.next().await {
                let d = d.expect("delivery");
                tokio::time::sleep(Duration::from_millis(5)).await;
                processed.lock().unwrap().push(payload(&d));
                d.ack().await.expect("ack");
            }
        }));
    }
    // The others drain everything but the held item, then wait behind its lock.
    for _ in 0..200 {
        if processed.lock().unwrap().len() == ITEMS - 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(processed.lock().unwrap().len(), ITEMS - 1);
    assert!(!processed.lock().unwrap().contains(&"0".to_owned()), "a locked item was processed");

    server.expire_session(doomed_zk.session_id());
    for _ in 0..100 {
        if processed.lock().unwrap().len() == ITEMS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let processed = processed.lock().unwrap().clone();
    let distinct: HashSet<&String> = processed.iter().collect();
    assert_eq!((processed.len(), distinct.len()), (ITEMS, ITEMS), "{processed:?}");
    assert_eq!(held.ack().await, Err(Error::LockLost));
    assert!(matches!(doomed_stream.next().await, Some(Err(Error::SessionEnded(_)))));
    assert!(doomed_stream.next().await.is_none());
    assert_eq!(producer.node_count().await.unwrap(), 0);
    for s in survivors {
        s.abort();
    }
}

/// Drops `next()` futures and whole consumers at every await point: no item is lost, none
/// is left locked, and (with no session lost) none is processed twice.
#[tokio::test(start_paused = true)]
async fn cancelled_takes_lose_nothing() {
    const ITEMS: usize = 40;
    let server = server(15).await;
    let producer = DistributedQueue::new(client(&server).await, "/acancel").unwrap();
    for i in 0..ITEMS {
        producer.put(format!("{i}").as_bytes()).await.unwrap();
    }
    server.set_latency(Duration::from_millis(10));
    let zk = client(&server).await;
    let queue = DistributedQueue::new(zk.clone(), "/acancel").unwrap();
    let mut done = Vec::new();
    let mut cancelled = 0;
    for round in 0..300u64 {
        let mut stream = queue.at_least_once();
        match tokio::time::timeout(Duration::from_millis(round % 61), stream.next()).await {
            Ok(d) => {
                let d = d.unwrap().unwrap();
                done.push(payload(&d));
                // Every other delivery is acknowledged, the rest dropped (given back).
                if round % 2 == 0 {
                    d.ack().await.unwrap();
                } else {
                    done.pop();
                }
            }
            Err(_) => cancelled += 1,
        }
        drop(stream);
        if done.len() == ITEMS {
            break;
        }
    }
    assert!(cancelled > 20, "cancelled {cancelled}");
    settle().await;
    assert_eq!(server.children("/acancel/lock"), Vec::<String>::new(), "a lock was left behind");
    let mut rest = queue.at_least_once();
    while done.len() < ITEMS {
        let d = next(&mut rest).await;
        done.push(payload(&d));
        d.ack().await.unwrap();
    }
    let distinct: HashSet<&String> = done.iter().collect();
    assert_eq!(distinct.len(), ITEMS, "{done:?}");
    assert_eq!(queue.node_count().await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn several_producers_and_consumers_process_everything_once() {
    const PRODUCERS: usize = 3;
    const ITEMS: usize = 100;
    let server = server(16).await;
    let processed = Arc::new(Mutex::new(Vec::new()));
    let mut consumers = Vec::new();
    for _ in 0..3 {
        let q = DistributedQueue::new(client(&server).await, "/many").unwrap();
        let processed = processed.clone();
        consumers.push(tokio::spawn(async move {
            let mut stream = q.at_least_once();
            while let Some(d) = stream.next().await {
                let d = d.expect("delivery");
                processed.lock().unwrap().push((d.sequence(), payload(&d)));
                d.ack().await.expect("ack");
            }
        }));
    }
    for p in 0..PRODUCERS {
        let q = DistributedQueue::new(client(&server).await, "/many").unwrap();
        for i in 0..ITEMS {
            q.put(format!("p{p}-{i}").as_bytes()).await.unwrap();
        }
    }
    for _ in 0..600 {
        if processed.lock().unwrap().len() >= PRODUCERS * ITEMS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    settle().await;
    let processed = processed.lock().unwrap().clone();
    let distinct: HashSet<&String> = processed.iter().map(|(_, p)| p).collect();
    assert_eq!((processed.len(), distinct.len()), (PRODUCERS * ITEMS, PRODUCERS * ITEMS));
    for c in consumers {
        c.abort();
    }
}

/// Dropped connections, lost replies (of lock creates, reads, acks) and random delays while
/// three consumers work: every item is processed, none is left in the queue or locked.
#[tokio::test(start_paused = true)]
async fn under_chaos_nothing_is_lost() {
    const ITEMS: usize = 150;
    let server = server(17).await;
    let processed = Arc::new(Mutex::new(HashSet::new()));
    let mut consumers = Vec::new();
    for q in chaos_queue(&server, "/chaos", ITEMS).await {
        let processed = processed.clone();
        consumers.push(tokio::spawn(async move {
            let mut stream = q.at_least_once();
            while let Some(d) = stream.next().await {
                match d {
                    Ok(d) => {
                        processed.lock().unwrap().insert(payload(&d));
                        // A failed ack gives the item back: it is processed again.
                        let _ = d.ack().await;
                    }
                    Err(e) => assert!(!matches!(e, Error::Malformed { .. }), "{e}"),
                }
            }
        }));
    }
    for _ in 0..3_000 {
        if processed.lock().unwrap().len() == ITEMS && server.children("/chaos") == ["/chaos/lock"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.set_chaos(None);
    settle().await;
    assert_eq!(processed.lock().unwrap().len(), ITEMS, "items never processed");
    assert_eq!(server.children("/chaos"), ["/chaos/lock"], "items left in the queue");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(server.children("/chaos/lock"), Vec::<String>::new(), "locks left behind");
    for c in consumers {
        assert!(!c.is_finished(), "a consumer stopped");
        c.abort();
    }
}

/// An ack whose delete is applied, whose reply is lost, and whose session expires right
/// after (before the retry could tell): the ack reports the delete as applied, not
/// `LockLost` ("given back"), and the item is not delivered again.
#[tokio::test(start_paused = true)]
async fn an_ack_applied_before_an_expiry_says_so() {
    let server = server(18).await;
    let zk = client(&server).await;
    let queue = DistributedQueue::new(zk.clone(), "/ackx").unwrap();
    queue.put(b"a").await.unwrap();
    let d = next(&mut queue.at_least_once()).await;
    // Whichever request the ack deletes the item with: applied, then the connection is cut.
    server.lose_next_reply(RequestMatcher::op(OpCode::Delete).path_prefix("/ackx/queue-"));
    server.lose_next_reply(RequestMatcher::op(OpCode::Multi));
    // The client is then cut off for a second, and its session expires meanwhile: the ack's
    // retry waits for a connection and learns of the expiry.
    let expire = async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        server.partition_session(zk.session_id(), Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
        server.expire_session(zk.session_id());
    };
    let (acked, ()) = tokio::join!(d.ack(), expire);
    assert_eq!(server.children("/ackx"), ["/ackx/lock"], "the delete was applied");
    // Settled on the new session: the item node is gone, so the delete was applied.
    assert_eq!(acked, Ok(()), "an applied ack must not say the item was given back");
    server.clear_faults();
    let other = DistributedQueue::new(client(&server).await, "/ackx").unwrap();
    let again = tokio::time::timeout(Duration::from_secs(2), other.at_least_once().next()).await;
    assert!(again.is_err(), "the acknowledged item came again");
}

/// A consumer's session expires while it holds an item; the renewing client carries on, the
/// item is redelivered to another consumer, and the first consumer's late ack must not delete
/// the item the other one now holds.
#[tokio::test(start_paused = true)]
async fn a_late_ack_does_not_delete_an_item_redelivered_to_another_consumer() {
    let server = server(19).await;
    let zk = client(&server).await;
    let queue = DistributedQueue::new(zk.clone(), "/late").unwrap();
    queue.put(b"a").await.unwrap();
    let held = next(&mut queue.at_least_once()).await;
    server.expire_session(zk.session_id());
    settle().await;
    let other = DistributedQueue::new(client(&server).await, "/late").unwrap();
    let redelivered = next(&mut other.at_least_once()).await;
    assert_eq!(payload(&redelivered), "a");
    assert_eq!(held.ack().await, Err(Error::LockLost), "the lock died with the session");
    assert_eq!(queue.node_count().await.unwrap(), 1, "the late ack deleted a redelivered item");
    redelivered.ack().await.unwrap();
    assert_eq!(queue.node_count().await.unwrap(), 0);
}
