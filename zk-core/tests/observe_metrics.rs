//! With the `metrics` feature the client counts requests, session events and watch events
//! through the `metrics` facade (`cargo test -p zkrs-core --features metrics --test
//! observe_metrics`; without the feature this binary is empty).

#![cfg(feature = "metrics")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use zk_core::{CreateMode, Error};
use zk_testing::TestServer;

/// Every counter increment and histogram sample, by metric name and labels.
#[derive(Default)]
struct Counts(Mutex<Vec<(String, u64)>>);

struct Series(Arc<Counts>, String);

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        self.0 .0.lock().unwrap().push((self.1.clone(), value));
    }
    fn absolute(&self, value: u64) {
        self.increment(value);
    }
}

impl HistogramFn for Series {
    fn record(&self, _value: f64) {
        self.0 .0.lock().unwrap().push((self.1.clone(), 1));
    }
}

struct TestRecorder(Arc<Counts>, AtomicU64);

fn series(key: &Key) -> String {
    let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.1.fetch_add(1, Ordering::Relaxed);
        Counter::from_arc(Arc::new(Series(self.0.clone(), series(key))))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Series(self.0.clone(), series(key))))
    }
}

#[test]
fn requests_and_session_events_are_counted() {
    let counts = Arc::new(Counts::default());
    let recorder = TestRecorder(counts.clone(), AtomicU64::new(0));
    metrics::with_local_recorder(&recorder, || {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        rt.block_on(async {
            let server = TestServer::builder().no_tcp().seed(2).start().await.unwrap();
            let zk = server.client().await.unwrap();
            zk.create("/m", b"", CreateMode::Persistent).await.unwrap();
            assert_eq!(zk.get_data("/nope").await, Err(Error::NoNode));
            let (_, _, watch) = zk.get_data_and_watch("/m").await.unwrap();
            zk.set_data("/m", b"y", None).await.unwrap();
            watch.await.unwrap();
            assert!(server.expire_session(zk.session_id()));
            let mut states = zk.state_watch();
            states.wait_for(|s| s.epoch == 1 && s.state.is_connected()).await.unwrap();
        });
    });
    let seen = counts.0.lock().unwrap();
    let total = |name: &str| seen.iter().filter(|(s, _)| s == name).map(|(_, v)| v).sum::<u64>();
    assert_eq!(total("zk_requests_total{op=Create2,outcome=ok}"), 1, "{seen:?}");
    assert_eq!(total("zk_requests_total{op=GetData,outcome=NONODE}"), 1, "{seen:?}");
    assert!(total("zk_request_seconds{op=SetData}") >= 1, "{seen:?}");
    assert_eq!(total("zk_watch_events_total{type=NodeDataChanged}"), 1, "{seen:?}");
    assert_eq!(total("zk_session_events_total{event=expired}"), 1, "{seen:?}");
    assert_eq!(total("zk_session_events_total{event=new_session}"), 1, "{seen:?}");
}
