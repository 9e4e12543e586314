//! DistributedQueue with the at-most-once consumer: exactly-once delivery among racing
//! consumers, FIFO, Curator's byte layout, bad input, waiting without polling, cancellation.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use zk_core::CreateMode;
use zk_recipes::queue::{DistributedQueue, QueueItem};
use zk_recipes::Error;
use zk_testing::Chaos;

use crate::{chaos_queue, client, queue_items, server, settle, spawn_consumers, spawn_producers, Polls};

/// Checks exactly-once delivery and FIFO of `producers` x `per_producer` items (payload
/// `p<producer>-<index>`) from the per-consumer logs of `(sequence, payload)`.
pub(crate) fn check_exactly_once_fifo(logs: &[Vec<(i32, String)>], producers: usize, per_producer: usize) {
    let all: Vec<&(i32, String)> = logs.iter().flatten().collect();
    let distinct: HashSet<&String> = all.iter().map(|(_, p)| p).collect();
    assert_eq!(distinct.len(), all.len(), "an item was delivered twice");
    assert_eq!(all.len(), producers * per_producer, "items lost");
    let parse = |p: &str| -> (usize, usize) {
        let (a, b) = p.trim_start_matches('p').split_once('-').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    };
    // Each consumer takes items in sequence order, so each producer's items in put order.
    for (c, log) in logs.iter().enumerate() {
        assert!(log.windows(2).all(|w| w[0].0 < w[1].0), "consumer {c} out of sequence order");
        let mut last: HashMap<usize, usize> = HashMap::new();
        for (_, p) in log {
            let (producer, index) = parse(p);
            if let Some(prev) = last.insert(producer, index) {
                assert!(prev < index, "consumer {c}: p{producer} item {index} after {prev}");
            }
        }
    }
    // Merged by the server's sequence order, every producer's items are in put order.
    let mut merged = all.clone();
    merged.sort();
    let mut next = vec![0; producers];
    for (_, p) in merged {
        let (producer, index) = parse(p);
        assert_eq!(index, next[producer], "p{producer} out of order in the merged order");
        next[producer] += 1;
    }
}

#[tokio::test(start_paused = true)]
async fn four_producers_three_consumers_each_item_exactly_once_in_fifo_order() {
    const PRODUCERS: usize = 4;
    const ITEMS: usize = 1_000;
    const CONSUMERS: usize = 3;
    let server = server(1).await;
    // Random reply delays make the consumers' races for the head come out differently.
    server.set_chaos(Some(Chaos { max_latency: Duration::from_millis(3), ..Chaos::default() }));
    // Processing takes a little time.
    let processing = Some(Duration::from_millis(1));
    let (logs, consumers) = spawn_consumers(CONSUMERS, "/queues/work", || client(&server), processing).await;
    let producers = spawn_producers(PRODUCERS, ITEMS, "/queues/work", || client(&server)).await;
    for p in producers {
        p.await.unwrap();
    }
    let all_consumed = async {
        for _ in 0..10_000 {
            if logs.lock().unwrap().iter().map(Vec::len).sum::<usize>() >= PRODUCERS * ITEMS {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(600), all_consumed).await.expect("all consumed");
    settle().await;
    for c in &consumers {
        assert!(!c.is_finished(), "a consumer stopped");
        c.abort();
    }
    let logs = logs.lock().unwrap().clone();
    let shares: Vec<usize> = logs.iter().map(Vec::len).collect();
    eprintln!("items per consumer: {shares:?}");
    assert!(shares.iter().all(|&n| n > 0), "the consumers did not all race: {shares:?}");
    check_exactly_once_fifo(&logs, PRODUCERS, ITEMS);
    assert_eq!(queue_items(&server, "/queues/work"), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn nodes_have_curators_names_and_bytes() {
    let server = server(2).await;
    let queue = DistributedQueue::new(client(&server).await, "/q").unwrap();
    let one = queue.put(b"hi").await.unwrap();
    let many = queue.put_many(&[&b"a"[..], b"", b"bc"]).await.unwrap();
    assert_eq!(one, "/q/queue-0000000000");
    assert_eq!(many, "/q/queue-0000000001");
    let data = |path: &str| server.node(path).unwrap().data.unwrap();
    assert_eq!(data(&one), [0, 1, 0, 1, 1, 0, 0, 0, 2, b'h', b'i', 2]);
    assert_eq!(data(&many), [0, 1, 0, 1, 1, 0, 0, 0, 1, b'a', 1, 0, 0, 0, 0, 1, 0, 0, 0, 2, b'b', b'c', 2]);
    let q = server.node("/q").unwrap();
    assert_eq!(q.stat.ephemeral_owner, 0);
    assert_eq!(queue.node_count().await.unwrap(), 2);

    let mut items = queue.at_most_once();
    let got: Vec<QueueItem> = vec![
        items.next().await.unwrap().unwrap(),
        items.next().await.unwrap().unwrap(),
        items.next().await.unwrap().unwrap(),
        items.next().await.unwrap().unwrap(),
    ];
    let data: Vec<&[u8]> = got.iter().map(|i| i.data()).collect();
    assert_eq!(data, [&b"hi"[..], b"a", b"", b"bc"]);
    assert_eq!(got[0].node(), one);
    assert!(got[1..].iter().all(|i| i.node() == many && i.sequence() == 1));
    assert_eq!(queue.node_count().await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_a_typed_error() {
    let server = server(3).await;
    let zk = client(&server).await;
    assert!(matches!(
        DistributedQueue::new(zk.clone(), "no-slash"),
        Err(Error::Zk(zk_core::Error::InvalidPath { .. }))
    ));
    assert!(matches!(
        DistributedQueue::new(zk.clone(), "/q/"),
        Err(Error::Zk(zk_core::Error::InvalidPath { .. }))
    ));
    let queue = DistributedQueue::new(zk.clone(), "/q").unwrap();
    assert!(matches!(queue.clone().with_lock_path("/q"), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        queue.clone().with_lock_path("bad"),
        Err(Error::Zk(zk_core::Error::InvalidPath { .. }))
    ));
    let none: [&[u8]; 0] = [];
    assert!(matches!(queue.put_many(&none).await, Err(Error::InvalidArgument(_))));
    let huge = vec![0u8; 2 << 20];
    assert!(matches!(queue.put(&huge).await, Err(Error::InvalidArgument(_))));
    let halves = [vec![0u8; 600_000], vec![0u8; 600_000]];
    assert!(matches!(queue.put_many(&halves).await, Err(Error::InvalidArgument(_))));
    // Nothing was created by the rejected calls; an empty item is fine.
    assert_eq!(server.children("/q"), Vec::<String>::new());
    queue.put(b"").await.unwrap();
    assert_eq!(queue.at_most_once().next().await.unwrap().unwrap().data(), b"");
}

#[tokio::test(start_paused = true)]
async fn a_malformed_node_is_reported_once_left_in_place_and_skipped() {
    let server = server(4).await;
    let zk = client(&server).await;
    let queue = DistributedQueue::new(zk.clone(), "/q").unwrap();
    queue.put(b"first").await.unwrap();
    let (junk, _) =
        zk.create("/q/queue-", b"not curator's format", CreateMode::PersistentSequential).await.unwrap();
    zk.create("/q/foreign", b"", CreateMode::Persistent).await.unwrap();
    queue.put(b"last").await.unwrap();

    let mut items = queue.at_most_once();
    assert_eq!(items.next().await.unwrap().unwrap().data(), b"first");
    match items.next().await.unwrap() {
        Err(Error::Malformed { path, .. }) => assert_eq!(path, junk),
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(items.next().await.unwrap().unwrap().data(), b"last");
    let left = server.children("/q");
    // (`lock` holds the consumers' take receipts.)
    assert_eq!(left, vec!["/q/foreign".to_owned(), "/q/lock".to_owned(), junk.clone()]);
    // The junk node does not make the consumer spin: it waits for the next put.
    let (next, polls) = Polls::new(async move { items.next().await });
    let waiting = tokio::spawn(next);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!waiting.is_finished());
    assert!(polls.load(Ordering::SeqCst) < 10, "polled {} times", polls.load(Ordering::SeqCst));
    queue.put(b"later").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert_eq!(got.unwrap().unwrap().data(), b"later");
}

#[tokio::test(start_paused = true)]
async fn an_idle_consumer_waits_on_a_watch_without_polling() {
    let server = server(5).await;
    // Every reply takes virtual time, so a consumer that polled would be woken thousands of
    // times in the minute below.
    server.set_latency(Duration::from_millis(10));
    let zk = client(&server).await;
    let queue = DistributedQueue::new(zk.clone(), "/idle").unwrap();
    let mut items = queue.at_most_once();
    let (next, polls) = Polls::new(async move { items.next().await });
    let waiting = tokio::spawn(next);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiting.is_finished());
    assert!(polls.load(Ordering::SeqCst) < 10, "polled {} times", polls.load(Ordering::SeqCst));
    assert!(server
        .watches()
        .iter()
        .any(|(id, paths)| *id == zk.session_id() && paths.iter().any(|p| p.contains("/idle"))));
    queue.put(b"x").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken by the put").unwrap();
    assert_eq!(got.unwrap().unwrap().data(), b"x");
}

/// Drops `next()` futures and whole consumers at every await point (latency makes each
/// request take virtual time): every item is still delivered exactly once.
#[tokio::test(start_paused = true)]
async fn cancelled_takes_lose_and_duplicate_nothing() {
    const ITEMS: usize = 60;
    let server = server(6).await;
    let producer = DistributedQueue::new(client(&server).await, "/cancel").unwrap();
    for i in 0..ITEMS {
        producer.put(format!("{i}").as_bytes()).await.unwrap();
    }
    producer.put_many(&[&b"m0"[..], b"m1", b"m2"]).await.unwrap();
    server.set_latency(Duration::from_millis(10));
    let queue = DistributedQueue::new(client(&server).await, "/cancel").unwrap();
    let mut got = Vec::new();
    let mut cancelled = 0;
    for round in 0..400u64 {
        // A new consumer every few rounds, the old one dropped mid-work.
        let mut items = queue.at_most_once();
        for i in 0..3 {
            match tokio::time::timeout(Duration::from_millis((round * 3 + i) % 47), items.next()).await {
                Ok(item) => got.push(String::from_utf8(item.unwrap().unwrap().into_data()).unwrap()),
                Err(_) => cancelled += 1,
            }
        }
        if got.len() == ITEMS + 3 {
            break;
        }
    }
    assert!(cancelled > 20, "cancelled {cancelled}");
    settle().await;
    // Whatever is left (put back after a dropped delete) is drained by a fresh consumer.
    let mut rest = queue.at_most_once();
    while got.len() < ITEMS + 3 {
        let item = tokio::time::timeout(Duration::from_secs(5), rest.next()).await.expect("item left");
        got.push(String::from_utf8(item.unwrap().unwrap().into_data()).unwrap());
    }
    let distinct: HashSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), got.len(), "duplicates: {got:?}");
    assert_eq!(queue.node_count().await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_consumer_ends_with_session_ended_when_its_session_expires() {
    let server = server(7).await;
    // A client that ends with its session (a renewing client's consumer carries on on the new
    // session: on_backends::a_renewing_consumer_carries_on_after_its_session_expires).
    let zk = server.client_builder().on_expiry(zk_core::OnExpiry::End).connect().await.unwrap();
    let queue = DistributedQueue::new(zk.clone(), "/exp").unwrap();
    let mut items = queue.at_most_once();
    let waiting = tokio::spawn(async move {
        let first = items.next().await;
        let then = items.next().await;
        (first, then)
    });
    settle().await;
    server.expire_session(zk.session_id());
    let (first, then) = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert!(matches!(first, Some(Err(Error::SessionEnded(_)))), "{first:?}");
    assert!(then.is_none());
}

/// Dropped connections, lost replies and random delays while three consumers race: no item
/// is ever delivered twice, and none is lost: a take whose reply was lost is settled by its
/// receipt.
#[tokio::test(start_paused = true)]
async fn under_chaos_every_item_is_delivered_exactly_once() {
    const ITEMS: usize = 300;
    let server = server(8).await;
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut consumers = Vec::new();
    for q in chaos_queue(&server, "/chaos", ITEMS).await {
        let got = got.clone();
        consumers.push(tokio::spawn(async move {
            let mut items = q.at_most_once();
            while let Some(item) = items.next().await {
                if let Ok(item) = item {
                    got.lock().unwrap().push(String::from_utf8(item.into_data()).unwrap());
                }
            }
        }));
    }
    for _ in 0..3_000 {
        if queue_items(&server, "/chaos").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.set_chaos(None);
    settle().await;
    assert_eq!(queue_items(&server, "/chaos"), Vec::<String>::new(), "items left in the queue");
    let got = got.lock().unwrap().clone();
    let distinct: HashSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), got.len(), "an item was delivered twice");
    assert_eq!(got.len(), ITEMS, "an item was lost");
    for c in consumers {
        c.abort();
    }
}

/// A take whose reply is lost (the server applied it) still delivers the item, once: the
/// take's receipt shows it was ours. Likewise when the take's request is lost with the
/// connection before the server sees it: the item is taken again.
#[tokio::test(start_paused = true)]
async fn a_take_with_a_lost_reply_delivers_the_item_once() {
    use zk_core::proto::OpCode;
    use zk_testing::RequestMatcher;
    let server = server(9).await;
    let producer = DistributedQueue::new(client(&server).await, "/lost").unwrap();
    for i in 0..4 {
        producer.put(format!("{i}").as_bytes()).await.unwrap();
    }
    let consumer = DistributedQueue::new(client(&server).await, "/lost").unwrap();
    let mut items = consumer.at_most_once();
    let mut got = Vec::new();
    for i in 0..4 {
        match i {
            // (The first take creates the receipts' directory.)
            1 => server.lose_next_reply(RequestMatcher::op(OpCode::Multi)),
            3 => server.drop_on_next(RequestMatcher::op(OpCode::Multi)),
            _ => {}
        }
        let item = tokio::time::timeout(Duration::from_secs(30), items.next()).await.unwrap().unwrap();
        got.push(String::from_utf8(item.unwrap().into_data()).unwrap());
    }
    assert_eq!(got, ["0", "1", "2", "3"], "each item once, in order");
    assert!(queue_items(&server, "/lost").is_empty());
    settle().await;
    assert!(server.children("/lost/lock").is_empty(), "the receipts are cleaned up");
}

/// After a lost reply the receipt decides before any new attempt, however long reading it
/// takes: here the first reads of the receipt fail (throttled) and the item is still
/// delivered once, not counted as someone else's by a second attempt.
#[tokio::test(start_paused = true)]
async fn a_lost_reply_whose_receipt_is_slow_to_read_still_delivers_once() {
    use zk_core::proto::{ErrorCode, OpCode};
    use zk_testing::RequestMatcher;
    let server = server(10).await;
    let producer = DistributedQueue::new(client(&server).await, "/slow").unwrap();
    for i in 0..3 {
        producer.put(format!("{i}").as_bytes()).await.unwrap();
    }
    // Eleven failures in a row below: a policy with room for them (the default gives up
    // after ten retries).
    let patient = zk_core::RetryPolicy::NTimes { n: 30, delay: Duration::from_millis(100) };
    let consumer_client = server.client_builder().retry_policy(patient).connect().await.unwrap();
    let consumer = DistributedQueue::new(consumer_client, "/slow").unwrap();
    let mut items = consumer.at_most_once();
    let first = tokio::time::timeout(Duration::from_secs(30), items.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.data(), b"0");
    server.lose_next_reply(RequestMatcher::op(OpCode::Multi));
    server.fail_times(RequestMatcher::op(OpCode::Sync), ErrorCode::ThrottledOp, 5);
    server.fail_times(RequestMatcher::op(OpCode::Exists), ErrorCode::ThrottledOp, 5);
    let mut got = Vec::new();
    for _ in 0..2 {
        let item = tokio::time::timeout(Duration::from_secs(60), items.next()).await.unwrap().unwrap();
        got.push(String::from_utf8(item.unwrap().into_data()).unwrap());
    }
    assert_eq!(got, ["1", "2"]);
    assert!(queue_items(&server, "/slow").is_empty());
}
