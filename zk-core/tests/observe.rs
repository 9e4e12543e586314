//! What the client tells observers: the session span carries the session id, each request
//! ends with a trace event (op, path, xid, zxid, latency, outcome), and with the `metrics`
//! feature the requests and session events are counted through the `metrics` facade.

use zk_core::{CreateMode, Error};
use zk_testing::{Fields, TestServer, TraceCapture};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_session_span_names_the_session_and_each_request_is_traced() {
    // The default for this thread: the current-thread runtime runs the session task here.
    let (capture, _guard) = TraceCapture::install();
    let server = TestServer::builder().no_tcp().seed(1).start().await.unwrap();
    let zk = server.client().await.unwrap();
    zk.create("/observed", b"x", CreateMode::Persistent).await.unwrap();
    assert_eq!(zk.get_data("/missing").await, Err(Error::NoNode));

    let span = capture.span("zk_session").expect("the session span");
    assert_eq!(span.get("session_id"), Some(&format!("{:#x}", zk.session_id())), "{span:?}");
    assert_eq!(span.get("epoch").map(String::as_str), Some("0"));
    let requests: Vec<Fields> = capture.events("zk_core::request");
    let created = requests
        .iter()
        .find(|f| f.get("path").map(String::as_str) == Some("/observed"))
        .unwrap_or_else(|| panic!("the create's event: {requests:?}"));
    assert_eq!(created.get("op").map(String::as_str), Some("Create2"), "{created:?}");
    assert_eq!(created.get("outcome").map(String::as_str), Some("ok"), "{created:?}");
    for field in ["xid", "zxid", "latency_us"] {
        assert!(created.contains_key(field), "{field} in {created:?}");
    }
    let missing = requests.iter().find(|f| f.get("path").map(String::as_str) == Some("/missing"));
    assert_eq!(missing.and_then(|f| f.get("outcome")).map(String::as_str), Some("NONODE"), "{requests:?}");
}

#[cfg(feature = "metrics")]
mod metrics_feature {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString,
        Unit,
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
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
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
}
