//! The client's and the recipes' metrics: a small in-process recorder (in a service, install
//! the `metrics` exporter of your choice instead: Prometheus, StatsD, ...) sees the requests
//! of a short workload, a contended lock, a queue take, a cache, a leader latch and a session
//! expiry, and prints them.
//!
//! ```text
//! cargo run --example metrics --features metrics                              # embedded server
//! ZK_CONNECT=zk1:2181,zk2:2181 cargo run --example metrics --features metrics # your ensemble
//! ```
//!
//! Exits non-zero if a metric the workload must produce is missing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use zk_core::{Client, CreateMode};
use zk_examples::{BoxError, Sandbox};
use zk_recipes::cache::{NodeCache, NodeEvent};
use zk_recipes::queue::SimpleDistributedQueue;
use zk_recipes::{InterProcessMutex, LeaderLatch};

/// Counter totals, and histogram sample counts and sums, by series (`name{label=value,..}`).
#[derive(Debug, Default)]
struct Totals {
    counters: BTreeMap<String, u64>,
    histograms: BTreeMap<String, (u64, f64)>,
}

#[derive(Debug, Default, Clone)]
struct PrintingRecorder(Arc<Mutex<Totals>>);

struct Series(Arc<Mutex<Totals>>, String);

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner).counters.entry(self.1.clone()).or_default() +=
            value;
    }
    fn absolute(&self, value: u64) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).counters.insert(self.1.clone(), value);
    }
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        let mut totals = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (n, sum) = totals.histograms.entry(self.1.clone()).or_default();
        *n += 1;
        *sum += value;
    }
}

fn series(key: &Key) -> String {
    let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for PrintingRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Series(self.0.clone(), series(key))))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Series(self.0.clone(), series(key))))
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let recorder = PrintingRecorder::default();
    metrics::set_global_recorder(recorder.clone())
        .map_err(|e| format!("a recorder is installed already: {e}"))?;
    let sandbox = Sandbox::create("metrics-example").await?;
    let (a, b) = (Client::connect(&sandbox.chrooted).await?, Client::connect(&sandbox.chrooted).await?);

    // A few requests, one of them failing.
    a.create("/config", b"v1", CreateMode::Persistent).await?;
    for _ in 0..10 {
        a.get_data("/config").await?;
    }
    let _ = a.get_data("/missing").await;

    // A contended lock: b waits about 200 ms for a.
    let held = InterProcessMutex::new(a.clone(), "/lock")?.acquire().await?;
    let waiter =
        tokio::spawn(async move { InterProcessMutex::new(b, "/lock")?.acquire().await?.release().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    held.release().await?;
    waiter.await??;

    // A queue take that waits for its item, and a cache's first read.
    let queue = SimpleDistributedQueue::new(a.clone(), "/queue")?;
    let producer = SimpleDistributedQueue::new(a.clone(), "/queue")?;
    let offer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        producer.offer(b"job").await
    });
    queue.take().await?;
    offer.await??;
    let mut cache = NodeCache::new(a.clone(), "/config")?;
    cache.start()?;
    while !matches!(cache.next().await, Some(NodeEvent::Initialized) | None) {}
    cache.close().await?;

    // A leader, then its session expires: the client opens a new one and the latch rejoins.
    let leader = Client::connect(&sandbox.chrooted).await?;
    let latch = LeaderLatch::new(leader.clone(), "/leader", "a")?;
    latch.start()?;
    latch.await_leadership_timeout(Duration::from_secs(10)).await?;
    sandbox.expire(&leader, Duration::from_secs(30)).await?;
    latch.await_leadership_timeout(Duration::from_secs(30)).await?;
    latch.close().await?;
    sandbox.remove().await?;

    let totals = recorder.0.lock().unwrap_or_else(PoisonError::into_inner);
    println!("counters:");
    for (series, total) in &totals.counters {
        println!("  {series:<70} {total}");
    }
    println!("histograms (samples, mean):");
    for (series, (n, sum)) in &totals.histograms {
        println!("  {series:<70} {n:>5}  {:>9.3} ms", sum / *n as f64 * 1e3);
    }
    let must = [
        "zk_requests_total{op=GetData,outcome=ok}",
        "zk_requests_total{op=GetData,outcome=NONODE}",
        "zk_session_events_total{event=expired}",
        "zk_session_events_total{event=new_session}",
        "zk_leadership_changes_total{recipe=leader_latch,change=elected}",
    ];
    let missing: Vec<&str> = must.into_iter().filter(|s| !totals.counters.contains_key(*s)).collect();
    let histograms = [
        "zk_lock_wait_seconds{outcome=acquired}",
        "zk_queue_take_wait_seconds{outcome=taken}",
        "zk_cache_resync_seconds{outcome=ok}",
    ];
    let no_samples: Vec<&str> =
        histograms.into_iter().filter(|s| !totals.histograms.contains_key(*s)).collect();
    if !missing.is_empty() || !no_samples.is_empty() {
        return Err(format!("missing counters: {missing:?}, histograms: {no_samples:?}").into());
    }
    Ok(())
}
