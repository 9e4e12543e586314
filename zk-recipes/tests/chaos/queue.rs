//! The queues: [`DistributedQueue`] with its at-most-once and its at-least-once consumer,
//! and [`SimpleDistributedQueue`].
//!
//! One producer puts [`ITEMS`] items (their ids, `i0`, `i1`, ..., are their bytes) while two
//! consumers take them, each on its own client. The producer records `Put` when a put
//! succeeded and `MaybePut` when its outcome is unknown (a put is never retried: a retry could
//! add the item twice); consumers record `Delivered` and, once done with an item for good,
//! `Acked` (for the consumers without acknowledgements, the delivery itself). An item whose
//! take is [`Error::MaybeApplied`] is dropped (it may be another consumer's). An
//! at-least-once consumer records `Acked` when its ack succeeded (or, when the ack's outcome
//! is unknown, when the server shows the item gone), unless the item was delivered to
//! another consumer since: its lock died with its session, and the `Ok` is the other
//! consumer's ack (`Delivery::ack` says `Ok` when the item is gone, whoever deleted it).
//!
//! Checked: [`at_most_once`] for the at-most-once consumer and the simple queue;
//! [`at_least_once`] and [`exactly_once`] for the at-least-once consumer (an ack is fenced by
//! the item's lock, so however often an item is delivered, one ack succeeds); and the end
//! state: once the faults are over the consumers empty the queue, and every item whose put
//! succeeded was acked or dropped after an ambiguous take.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::{sleep, Instant};
use zk_recipes::queue::{DistributedQueue, SimpleDistributedQueue};
use zk_recipes::Error;
use zk_testing::check::{
    at_least_once, at_most_once, exactly_once, Checker, Event, History, Outcome, Participant, QueueStep,
    Recorder, Violation,
};
use zk_testing::{FaultPlan, FaultPlanConfig, FaultWeights, RequestMatcher, TestServer};

use crate::{check_seeds, clients, create_path, end_state, eventually, must_catch, scenario, settle, Rng};

const QUEUE: &str = "/chaos/queue";
/// The queue's name in the history.
const NAME: &str = "queue";
/// Items the producer puts.
const ITEMS: usize = 6;
/// Once the faults are over, the consumers empty the queue this soon.
const DRAINED_WITHIN: Duration = Duration::from_secs(30);
/// Steps of a consumer: a bound, never reached.
const MAX_STEPS: usize = 10_000;

/// Faults for the queues: realistic ones with some adversarial expiries, aimed also at the
/// creates, deletes and transactions under the queue.
fn config() -> FaultPlanConfig {
    let under = |op| RequestMatcher::op(op).path_prefix(QUEUE);
    use zk_core::proto::OpCode;
    FaultPlanConfig {
        participants: 3,
        faults: 1..=3,
        horizon: Duration::from_secs(5),
        durations: Duration::from_millis(100)..=Duration::from_secs(5),
        weights: FaultWeights { expire: 2, expire_now: 1, ..FaultWeights::default() },
        matchers: vec![
            RequestMatcher::any(),
            under(OpCode::Create2),
            under(OpCode::Delete),
            under(OpCode::GetData),
            RequestMatcher::op(OpCode::Multi),
        ],
        ..FaultPlanConfig::default()
    }
}

/// Which queue and consumer a scenario drives, and what its consumers do wrong on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    AtMostOnce,
    AtLeastOnce,
    Simple,
    /// A simple-queue consumer that peeks, records the head as delivered, then polls: two
    /// consumers deliver one head.
    PeekThenPoll,
    /// An at-least-once consumer that acknowledges every other item without processing it:
    /// those items are lost.
    AcksUnprocessed,
    /// An at-least-once consumer that processes an item and then gives it back instead of
    /// acknowledging it: it is processed again.
    ReleasesProcessed,
}

impl Kind {
    fn simple(self) -> bool {
        matches!(self, Kind::Simple | Kind::PeekThenPoll)
    }
}

/// True when `e` leaves a write's outcome unknown.
fn ambiguous(e: &Error) -> bool {
    match e {
        Error::Zk(e) => matches!(Outcome::from_error(e), Outcome::Ambiguous(_)),
        Error::MaybeApplied { .. } => true,
        _ => false,
    }
}

fn record(p: &Participant, item: &str, step: QueueStep) {
    p.record(Event::queue(NAME, item, step));
}

/// The producer: [`ITEMS`] puts, 300 to 1200 ms apart (spread over the faults' horizon).
async fn produce(client: zk_core::Client, kind: Kind, p: Participant, mut rng: Rng) {
    let distributed = DistributedQueue::new(client.clone(), QUEUE).expect("a queue");
    let simple = SimpleDistributedQueue::new(client, QUEUE).expect("a queue");
    for i in 0..ITEMS {
        sleep(rng.millis(300, 1200)).await;
        let item = format!("i{i}");
        let put = if kind.simple() {
            simple.offer(item.as_bytes()).await
        } else {
            distributed.put(item.as_bytes()).await
        };
        match put {
            Ok(_) => record(&p, &item, QueueStep::Put),
            Err(e) if ambiguous(&e) => record(&p, &item, QueueStep::MaybePut),
            Err(_) => {}
        }
    }
}

/// An item's id from its bytes.
fn id(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A consumer of the distributed queue's at-most-once stream, until `stop`.
async fn consume_at_most_once(
    queue: DistributedQueue,
    p: Participant,
    dropped: &Dropped,
    mut stop: watch::Receiver<bool>,
) {
    let mut items = queue.at_most_once();
    for _ in 0..MAX_STEPS {
        let item = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            item = items.next() => item,
        };
        match item {
            Some(Ok(item)) => {
                record(&p, &id(item.data()), QueueStep::Delivered);
                record(&p, &id(item.data()), QueueStep::Acked);
            }
            // Taken by us or by another consumer: dropped (at most once).
            Some(Err(e)) => drop_item(dropped, &e, false),
            None => return,
        }
    }
}

/// A consumer of the at-least-once stream, until `stop`: "processes" each delivery for 100 to
/// 700 ms, then acknowledges it.
async fn consume_at_least_once(
    server: &TestServer,
    recorder: &Recorder,
    queue: DistributedQueue,
    p: Participant,
    mut rng: Rng,
    kind: Kind,
    mut stop: watch::Receiver<bool>,
) {
    let mut deliveries = queue.at_least_once();
    for n in 0..MAX_STEPS {
        let delivery = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            d = deliveries.next() => d,
        };
        let delivery = match delivery {
            Some(Ok(d)) => d,
            Some(Err(_)) => continue,
            None => return,
        };
        let (item, node) = (id(&delivery.items().concat()), delivery.node().to_owned());
        let delivered = p.record(Event::queue(NAME, &item, QueueStep::Delivered));
        if kind == Kind::AcksUnprocessed && n % 2 == 1 {
            let _ = delivery.ack().await;
            continue;
        }
        sleep(rng.millis(100, 700)).await;
        if kind == Kind::ReleasesProcessed {
            record(&p, &item, QueueStep::Acked);
            let _ = delivery.release().await;
            continue;
        }
        let done = match delivery.ack().await {
            Ok(()) => true,
            // Given back: it comes again.
            Err(Error::LockLost) => false,
            // Unknown: the item node tells, read on the server at once.
            Err(_) => server.node(&node).is_none(),
        };
        // The item is done; by our ack, unless our lock died and it went to another consumer,
        // who acked it (an ack cut by the end of its session says `Ok` then too: see
        // `Delivery::ack`).
        if done && !redelivered(recorder, &item, delivered, p.name()) {
            record(&p, &item, QueueStep::Acked);
        }
    }
}

/// Whether `item`, delivered to `me` at entry `since`, was delivered to another consumer
/// after that.
fn redelivered(recorder: &Recorder, item: &str, since: u64, me: &str) -> bool {
    recorder.history().iter().any(|e| {
        e.seq > since
            && e.participant != me
            && matches!(&e.event, Event::Queue { item: i, step: QueueStep::Delivered, .. } if i == item)
    })
}

/// The items a consumer dropped because their take was [`Error::MaybeApplied`]: they may be
/// lost (at most once), so the end-state check does not wait for them.
type Dropped = std::sync::Mutex<BTreeSet<String>>;

/// The id of the item in `data` of a [`Error::MaybeApplied`]: raw for the simple queue,
/// Curator's framing (`00 01 00 01`, `01`, length, bytes, `02`) for the distributed one.
fn dropped_id(data: &[u8], simple: bool) -> String {
    if simple {
        return id(data);
    }
    let item = data.get(9..data.len().saturating_sub(1)).unwrap_or_default();
    id(item)
}

fn drop_item(dropped: &Dropped, e: &Error, simple: bool) {
    if let Error::MaybeApplied { data: Some(data), .. } = e {
        dropped.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(dropped_id(data, simple));
    }
}

/// A consumer of the simple queue, until `stop`.
async fn consume_simple(
    queue: SimpleDistributedQueue,
    p: Participant,
    kind: Kind,
    dropped: &Dropped,
    mut stop: watch::Receiver<bool>,
) {
    for _ in 0..MAX_STEPS {
        let take = async {
            if kind == Kind::PeekThenPoll {
                let head = queue.peek().await;
                if let Ok(Some(data)) = &head {
                    record(&p, &id(data), QueueStep::Delivered);
                    record(&p, &id(data), QueueStep::Acked);
                    let _ = queue.poll().await;
                }
                return head.map(|_| None);
            }
            queue.take_timeout(Duration::from_secs(5)).await
        };
        let taken = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            taken = take => taken,
        };
        match taken {
            Ok(Some(data)) => {
                record(&p, &id(&data), QueueStep::Delivered);
                record(&p, &id(&data), QueueStep::Acked);
            }
            Ok(None) if kind == Kind::PeekThenPoll => sleep(Duration::from_millis(100)).await,
            Ok(None) => {}
            // Taken by us or another consumer (dropped: at most once), or a transient error.
            Err(e) => {
                drop_item(dropped, &e, true);
                sleep(Duration::from_millis(100)).await
            }
        }
    }
}

/// The items still in the queue on the server.
fn items_left(server: &TestServer) -> Vec<String> {
    let is_item = |c: &String| {
        let name = c.rsplit('/').next().unwrap_or_default();
        name.starts_with("queue-") || name.starts_with("qn-")
    };
    server.children(QUEUE).into_iter().filter(is_item).collect()
}

/// The ids acked so far, and the ids whose put succeeded.
fn acked_and_put(history: &History) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut acked, mut put) = (BTreeSet::new(), BTreeSet::new());
    for e in history {
        if let Event::Queue { item, step, .. } = &e.event {
            match step {
                QueueStep::Acked => _ = acked.insert(item.clone()),
                QueueStep::Put => _ = put.insert(item.clone()),
                _ => {}
            }
        }
    }
    (acked, put)
}

/// The scenario of every queue: see the module docs.
async fn queue_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
    kind: Kind,
) -> Result<(), Violation> {
    let clients = clients(server, 3).await;
    create_path(&clients[0], QUEUE).await;
    let (stop, stopped) = watch::channel(false);
    let dropped = &Dropped::default();
    let start = Instant::now();
    let consumer = |i: usize| {
        let (client, p) = (clients[i].clone(), recorder.participant(&format!("c{i}")));
        let stopped = stopped.clone();
        async move {
            match kind {
                Kind::AtMostOnce => {
                    let queue = DistributedQueue::new(client, QUEUE).expect("a queue");
                    consume_at_most_once(queue, p, dropped, stopped).await
                }
                Kind::Simple | Kind::PeekThenPoll => {
                    let queue = SimpleDistributedQueue::new(client, QUEUE).expect("a queue");
                    consume_simple(queue, p, kind, dropped, stopped).await
                }
                _ => {
                    let queue = DistributedQueue::new(client, QUEUE).expect("a queue");
                    let rng = Rng::new(server, i as u64);
                    consume_at_least_once(server, recorder, queue, p, rng, kind, stopped).await
                }
            }
        }
    };
    let faults = async {
        let producer =
            produce(clients[0].clone(), kind, recorder.participant("producer"), Rng::new(server, 9));
        tokio::join!(producer, plan.apply(server, &clients));
        settle(server, plan, start, Duration::from_secs(1)).await;
        // Until every item whose put succeeded is acked, and the queue is empty.
        // Until every item whose put succeeded is acked (or was dropped after an ambiguous
        // take), and the queue is empty.
        let drained = eventually(DRAINED_WITHIN, Duration::from_millis(250), || {
            let (mut done, put) = acked_and_put(&recorder.history());
            done.extend(dropped.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned());
            put.is_subset(&done) && items_left(server).is_empty()
        })
        .await;
        stop.send_replace(true);
        drained
    };
    let ((), (), drained) = tokio::join!(consumer(1), consumer(2), faults);
    let history = recorder.history();
    match kind {
        Kind::AtMostOnce | Kind::Simple | Kind::PeekThenPoll => at_most_once(&history)?,
        _ => {
            at_least_once(&history)?;
            exactly_once(&history)?;
        }
    }
    if !drained {
        let checker = if kind.simple() || kind == Kind::AtMostOnce {
            Checker::AtMostOnce
        } else {
            Checker::AtLeastOnce
        };
        let why = format!(
            "the queue was not emptied {DRAINED_WITHIN:?} after the faults: {:?} left",
            items_left(server)
        );
        return Err(end_state(checker, why));
    }
    Ok(())
}

/// [`DistributedQueue::at_most_once`]: no item delivered twice; the queue emptied.
pub(crate) async fn distributed_queue_at_most_once_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    queue_scenario(server, plan, recorder, Kind::AtMostOnce).await
}

/// [`DistributedQueue::at_least_once`]: every item put is acked, exactly once.
pub(crate) async fn distributed_queue_at_least_once_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    queue_scenario(server, plan, recorder, Kind::AtLeastOnce).await
}

/// [`SimpleDistributedQueue`]: no item delivered twice (ambiguous takes may lose items);
/// the queue emptied.
pub(crate) async fn simple_queue_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    queue_scenario(server, plan, recorder, Kind::Simple).await
}

async fn broken_peek_then_poll_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    queue_scenario(server, plan, recorder, Kind::PeekThenPoll).await
}

async fn broken_acks_unprocessed_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    queue_scenario(server, plan, recorder, Kind::AcksUnprocessed).await
}

async fn broken_releases_processed_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    queue_scenario(server, plan, recorder, Kind::ReleasesProcessed).await
}

#[test]
fn distributed_queue_at_most_once() {
    check_seeds(
        "distributed_queue_at_most_once",
        scenario!(distributed_queue_at_most_once_scenario),
        &config(),
    );
}

#[test]
fn distributed_queue_at_least_once() {
    check_seeds(
        "distributed_queue_at_least_once",
        scenario!(distributed_queue_at_least_once_scenario),
        &config(),
    );
}

#[test]
fn simple_queue() {
    check_seeds("simple_queue", scenario!(simple_queue_scenario), &config());
}

fn no_faults() -> FaultPlanConfig {
    FaultPlanConfig { faults: 0..=0, ..config() }
}

#[test]
fn negative_at_most_once_catches_a_consumer_that_peeks_then_polls() {
    must_catch(
        "peek then poll",
        scenario!(broken_peek_then_poll_scenario),
        &no_faults(),
        Checker::AtMostOnce,
        "twice",
    );
}

#[test]
fn negative_at_least_once_catches_a_consumer_that_acks_unprocessed_items() {
    let control: crate::Scenario = scenario!(broken_acks_unprocessed_scenario);
    must_catch("acks unprocessed items", control, &no_faults(), Checker::AtLeastOnce, "never acked");
}

#[test]
fn negative_exactly_once_catches_a_consumer_that_releases_processed_items() {
    let control: crate::Scenario = scenario!(broken_releases_processed_scenario);
    must_catch("releases processed items", control, &no_faults(), Checker::ExactlyOnce, "acked twice");
}
