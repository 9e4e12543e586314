//! SimpleDistributedQueue: offer / poll / peek / take semantics, FIFO, waiting, layout.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use zk_core::proto::OpCode;
use zk_core::CreateMode;
use zk_recipes::queue::SimpleDistributedQueue;
use zk_recipes::Error;
use zk_testing::RequestMatcher;

use crate::{client, server, settle, Polls};

#[tokio::test(start_paused = true)]
async fn offer_poll_peek_are_fifo() {
    let server = server(31).await;
    let queue = SimpleDistributedQueue::new(client(&server).await, "/sq").unwrap();
    assert_eq!(queue.poll().await.unwrap(), None, "missing path is an empty queue");
    assert_eq!(queue.peek().await.unwrap(), None);
    assert!(queue.is_empty().await.unwrap());
    for i in 0..20 {
        queue.offer(format!("{i}").as_bytes()).await.unwrap();
    }
    assert_eq!(queue.len().await.unwrap(), 20);
    assert_eq!(queue.peek().await.unwrap(), Some(b"0".to_vec()));
    assert_eq!(queue.peek().await.unwrap(), Some(b"0".to_vec()), "peek does not remove");
    for i in 0..20 {
        assert_eq!(queue.poll().await.unwrap(), Some(format!("{i}").into_bytes()));
    }
    assert_eq!(queue.poll().await.unwrap(), None);
    assert_eq!(queue.take_timeout(Duration::ZERO).await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn nodes_are_qn_sequential_with_raw_data_in_a_container() {
    let server = server(32).await;
    let zk = client(&server).await;
    let queue = SimpleDistributedQueue::new(zk.clone(), "/a/sq").unwrap();
    assert_eq!(queue.offer(b"raw").await.unwrap(), "/a/sq/qn-0000000000");
    let node = server.node("/a/sq/qn-0000000000").unwrap();
    assert_eq!(node.data, Some(b"raw".to_vec()));
    // Items made by another client of ZooKeeper's recipe, and foreign nodes, in the path.
    zk.create("/a/sq/qn-", b"theirs", CreateMode::PersistentSequential).await.unwrap();
    zk.create("/a/sq/other", b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(queue.len().await.unwrap(), 2);
    assert_eq!(queue.take().await.unwrap(), b"raw");
    assert_eq!(queue.take().await.unwrap(), b"theirs");
    assert_eq!(queue.poll().await.unwrap(), None);
    // Empty items are items; oversize ones are refused before sending.
    queue.offer(b"").await.unwrap();
    assert_eq!(queue.poll().await.unwrap(), Some(Vec::new()));
    assert!(matches!(queue.offer(&vec![1u8; 2 << 20]).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(
        SimpleDistributedQueue::new(zk, "sq"),
        Err(Error::Zk(zk_core::Error::InvalidPath { .. }))
    ));
}

#[tokio::test(start_paused = true)]
async fn take_waits_until_an_offer_without_polling() {
    let server = server(33).await;
    server.set_latency(Duration::from_millis(10));
    let consumer = SimpleDistributedQueue::new(client(&server).await, "/wait").unwrap();
    let producer = SimpleDistributedQueue::new(client(&server).await, "/wait").unwrap();
    let (take, polls) = Polls::new(async move { consumer.take().await });
    let waiting = tokio::spawn(take);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiting.is_finished(), "take returned on an empty queue");
    assert!(polls.load(Ordering::SeqCst) < 15, "polled {} times", polls.load(Ordering::SeqCst));
    producer.offer(b"hello").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken").unwrap();
    assert_eq!(got.unwrap(), b"hello");
}

#[tokio::test(start_paused = true)]
async fn take_timeout_gives_up_at_the_deadline_or_returns_an_item() {
    let server = server(34).await;
    let queue = SimpleDistributedQueue::new(client(&server).await, "/tt").unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(queue.take_timeout(Duration::from_secs(3)).await.unwrap(), None);
    assert!(start.elapsed() >= Duration::from_secs(3));
    let producer = queue.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        producer.offer(b"late").await.unwrap();
    });
    assert_eq!(queue.take_timeout(Duration::from_secs(3)).await.unwrap(), Some(b"late".to_vec()));
}

#[tokio::test(start_paused = true)]
async fn concurrent_takers_each_get_distinct_items() {
    const ITEMS: usize = 300;
    let server = server(35).await;
    let mut takers = Vec::new();
    for _ in 0..3 {
        let q = SimpleDistributedQueue::new(client(&server).await, "/race").unwrap();
        takers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(item) = q.take_timeout(Duration::from_secs(5)).await.unwrap() {
                got.push(String::from_utf8(item).unwrap());
            }
            got
        }));
    }
    let producer = SimpleDistributedQueue::new(client(&server).await, "/race").unwrap();
    for i in 0..ITEMS {
        producer.offer(format!("{i:04}").as_bytes()).await.unwrap();
    }
    let mut all = Vec::new();
    for t in takers {
        let got = t.await.unwrap();
        assert!(got.windows(2).all(|w| w[0] < w[1]), "each taker gets items in FIFO order");
        all.extend(got);
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!((all.len(), distinct.len()), (ITEMS, ITEMS));
}

/// Dropping `take` at every await point (latency makes each request take virtual time) loses
/// nothing: an item whose delete went through is put back.
#[tokio::test(start_paused = true)]
async fn cancelled_takes_lose_nothing() {
    const ITEMS: usize = 30;
    let server = server(36).await;
    let queue = SimpleDistributedQueue::new(client(&server).await, "/scancel").unwrap();
    for i in 0..ITEMS {
        queue.offer(format!("{i}").as_bytes()).await.unwrap();
    }
    server.set_latency(Duration::from_millis(10));
    let mut got = Vec::new();
    let mut cancelled = 0;
    for round in 0..200u64 {
        match tokio::time::timeout(Duration::from_millis(round % 53), queue.take()).await {
            Ok(item) => got.push(String::from_utf8(item.unwrap()).unwrap()),
            Err(_) => cancelled += 1,
        }
        if got.len() == ITEMS {
            break;
        }
    }
    assert!(cancelled > 20, "cancelled {cancelled}");
    settle().await;
    while let Some(item) = queue.poll().await.unwrap() {
        got.push(String::from_utf8(item).unwrap());
    }
    let distinct: HashSet<&String> = got.iter().collect();
    assert_eq!((got.len(), distinct.len()), (ITEMS, ITEMS), "{got:?}");
}

#[tokio::test(start_paused = true)]
async fn take_fails_with_session_ended_when_the_session_expires() {
    let server = server(37).await;
    let zk = client(&server).await;
    let queue = SimpleDistributedQueue::new(zk.clone(), "/sexp").unwrap();
    let waiting = tokio::spawn(async move { queue.take().await });
    settle().await;
    server.expire_session(zk.session_id());
    let got = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert!(matches!(got, Err(Error::SessionEnded(_))), "{got:?}");
}

/// `take_timeout` waits at most its timeout, even when the server does not answer (a paused
/// connection): the reads and retries are bounded by the deadline too.
#[tokio::test(start_paused = true)]
async fn take_timeout_keeps_its_deadline_while_the_server_is_silent() {
    let server = server(31).await;
    let zk = client(&server).await;
    let queue = SimpleDistributedQueue::new(zk.clone(), "/silent").unwrap();
    queue.offer(b"x").await.unwrap();
    assert!(server.pause_connection(zk.session_id(), Duration::from_secs(20)));
    let started = tokio::time::Instant::now();
    let got = queue.take_timeout(Duration::from_millis(100)).await.unwrap();
    assert_eq!(got, None, "nothing could be read in time");
    assert!(started.elapsed() < Duration::from_millis(200), "took {:?}", started.elapsed());
    // The item is still there once the server answers again.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(queue.take_timeout(Duration::from_secs(5)).await.unwrap().as_deref(), Some(&b"x"[..]));
}

/// Whatever a take whose outcome is unknown owes the caller: the item, or an error that says
/// the take may have been applied and hands its bytes over.
fn delivered(got: Result<Option<Vec<u8>>, Error>) -> Option<Vec<u8>> {
    match got {
        Ok(item) => item,
        Err(Error::MaybeApplied { data, .. }) => data,
        Err(e) => panic!("neither the item nor a may-have-been-applied error: {e:?}"),
    }
}

/// The deadline of `take_timeout` falls after its take's transaction was applied and its
/// reply lost, then the session expires (the receipt that would tell dies with it): the item
/// is delivered exactly once across this call and a later take (it used to be gone, with
/// `Ok(None)` and no error anywhere).
#[tokio::test(start_paused = true)]
async fn take_timeout_whose_take_was_applied_at_the_deadline_loses_nothing() {
    let server = server(38).await;
    let zk = client(&server).await;
    let queue = SimpleDistributedQueue::new(zk.clone(), "/sdead").unwrap();
    queue.offer(b"x").await.unwrap();
    // Every reply takes 10 ms: the listing answers at 10 ms, the read at 20 ms; the take's
    // transaction is applied at 20 ms and its connection cut: no reply before the 25 ms
    // deadline; the session expires at 27 ms.
    server.set_latency(Duration::from_millis(10));
    server.lose_next_reply(RequestMatcher::op(OpCode::Multi));
    let expire = async {
        tokio::time::sleep(Duration::from_millis(27)).await;
        server.expire_session(zk.session_id());
    };
    let (got, ()) = tokio::join!(queue.take_timeout(Duration::from_millis(25)), expire);
    // The take is seen through past the deadline; gone with the session, its outcome can only
    // be "may have been applied", with the item's bytes.
    assert!(matches!(&got, Err(Error::MaybeApplied { data: Some(d), .. }) if d == b"x"), "{got:?}");
    let first = delivered(got);
    server.set_latency(Duration::ZERO);
    settle().await;
    let later = queue.take_timeout(Duration::from_secs(1)).await.unwrap();
    let all: Vec<Vec<u8>> = first.into_iter().chain(later).collect();
    assert_eq!(all, [b"x".to_vec()], "delivered exactly once");
}

/// The reply of a take's transaction is lost and the session expires before the receipt
/// could be read (it died with the session): the take must not be taken for someone else's
/// and the item silently dropped.
#[tokio::test(start_paused = true)]
async fn a_take_whose_reply_and_session_are_lost_is_not_silently_dropped() {
    let server = server(39).await;
    let zk = client(&server).await;
    let queue = SimpleDistributedQueue::new(zk.clone(), "/slost").unwrap();
    queue.offer(b"y").await.unwrap();
    server.set_latency(Duration::from_millis(10));
    server.lose_next_reply(RequestMatcher::op(OpCode::Multi));
    let expire = async {
        // The transaction is applied (and its connection cut) at 20 ms.
        tokio::time::sleep(Duration::from_millis(21)).await;
        server.expire_session(zk.session_id());
    };
    let (got, ()) = tokio::join!(queue.take_timeout(Duration::from_secs(5)), expire);
    assert!(matches!(&got, Err(Error::MaybeApplied { data: Some(d), .. }) if d == b"y"), "{got:?}");
    let first = delivered(got);
    settle().await;
    let later = queue.take_timeout(Duration::from_secs(1)).await.unwrap();
    let all: Vec<Vec<u8>> = first.into_iter().chain(later).collect();
    assert_eq!(all, [b"y".to_vec()], "delivered exactly once");
}
