//! [`TraceCapture`]: records the `tracing` spans and events of the current thread, so a test
//! can assert on what the code under test logged (a session's id in its span, a request's
//! trace event, a lock's wait). Under `#[tokio::test]` (a current-thread runtime) every task
//! of the test runs on its thread, so they are all captured. Give such a test a binary of
//! its own (or run with `--test-threads 1`): `tracing` caches each callsite's interest for
//! the whole process, and a test thread without a subscriber that reaches a callsite first
//! can leave its events unseen by the capture.
//!
//! ```
//! use zk_testing::TraceCapture;
//!
//! let (capture, _guard) = TraceCapture::install();
//! tracing::debug!(target: "app", answer = 42, "hello");
//! let events = capture.events("app");
//! assert_eq!(events[0].get("answer").map(String::as_str), Some("42"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::DefaultGuard;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One span's or event's fields, as text (`Debug` of each value, strings as they are).
pub type Fields = BTreeMap<String, String>;

#[derive(Debug, Default)]
struct Seen {
    /// Span name -> the fields of every span of that name, merged, as recorded so far.
    spans: BTreeMap<String, Fields>,
    /// (target, fields, including `message`) of every event.
    events: Vec<(String, Fields)>,
}

/// What the current thread's spans and events recorded since [`TraceCapture::install`].
#[derive(Debug, Clone, Default)]
pub struct TraceCapture(Arc<Mutex<Seen>>);

impl TraceCapture {
    /// Makes a capture the current thread's default subscriber, at every level, until the
    /// guard is dropped.
    pub fn install() -> (TraceCapture, DefaultGuard) {
        let capture = TraceCapture::default();
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
        (capture, guard)
    }

    /// The fields recorded on the spans named `name` (merged), if one was entered.
    pub fn span(&self, name: &str) -> Option<Fields> {
        self.seen().spans.get(name).cloned()
    }

    /// The fields of the events of `target`, in order.
    pub fn events(&self, target: &str) -> Vec<Fields> {
        self.seen().events.iter().filter(|(t, _)| t == target).map(|(_, f)| f.clone()).collect()
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for TraceCapture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let name = ctx.span(id).map(|s| s.name()).unwrap_or_default().to_owned();
        attrs.record(&mut Collect(self.seen().spans.entry(name).or_default()));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let name = ctx.span(id).map(|s| s.name()).unwrap_or_default().to_owned();
        values.record(&mut Collect(self.seen().spans.entry(name).or_default()));
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Collect(&mut fields));
        self.seen().events.push((event.metadata().target().to_owned(), fields));
    }
}
