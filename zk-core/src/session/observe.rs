//! What the session task tells observers, in one place:
//!
//! - tracing: the session's span (`zk_session`, with the `session_id` and `epoch` fields
//!   filled in as sessions are established) and one `TRACE` event per request, target
//!   `zk_core::request`, with `op`, `path`, `xid`, `zxid`, `latency_us` and `outcome`;
//! - with the `metrics` feature, through the `metrics` facade: `zk_requests_total` (labels
//!   `op`, `outcome`), `zk_request_seconds` (histogram, label `op`),
//!   `zk_session_events_total` (label `event`: `connected`, `disconnected`, `reconnected`,
//!   `expired`, `new_session`, ...) and `zk_watch_events_total` (label `type`).
//!
//! When nobody listens this costs one check per request (the callsite's cached interest) and
//! no allocation: the request's path is only decoded when its trace event is enabled. The
//! request metrics' handles are registered once per operation and outcome, with the recorder
//! installed at the time: install it before the client's first request.

use tokio::time::Instant;
use tracing::field::Empty;
use tracing::{Level, Span};

use crate::proto::{EventType, OpCode};
use crate::session::state::SessionEvent;

/// The target of the per-request trace events.
pub(crate) const REQUEST_TARGET: &str = "zk_core::request";

/// The span the session task runs in; its fields are filled in by [`session_event`].
pub(crate) fn session_span() -> Span {
    tracing::debug_span!("zk_session", session_id = Empty, epoch = Empty)
}

/// A session event was published (in the session task, inside [`session_span`]).
pub(crate) fn session_event(event: &SessionEvent, session_id: i64, epoch: u64) {
    if matches!(
        event,
        SessionEvent::Connected | SessionEvent::ConnectedReadOnly | SessionEvent::NewSession { .. }
    ) {
        let span = Span::current();
        span.record("session_id", tracing::field::display(format_args!("{session_id:#x}")));
        span.record("epoch", epoch);
    }
    #[cfg(feature = "metrics")]
    metrics::counter!("zk_session_events_total", "event" => event_name(event)).increment(1);
}

#[cfg(feature = "metrics")]
fn event_name(event: &SessionEvent) -> &'static str {
    match event {
        SessionEvent::Connected => "connected",
        SessionEvent::ConnectedReadOnly => "connected_read_only",
        SessionEvent::Disconnected => "disconnected",
        SessionEvent::Reconnected => "reconnected",
        SessionEvent::TimeoutElapsed => "timeout_elapsed",
        SessionEvent::Expired => "expired",
        SessionEvent::NewSession { .. } => "new_session",
        SessionEvent::AuthFailed => "auth_failed",
        SessionEvent::Closed => "closed",
    }
}

/// The path of a request frame (length, xid, type, then the body), when its trace event is
/// enabled and its body starts with one.
pub(crate) fn request_path(op: OpCode, frame: &[u8]) -> Option<Box<str>> {
    if !tracing::enabled!(target: REQUEST_TARGET, Level::TRACE) || !starts_with_path(op) {
        return None;
    }
    let body = frame.get(12..)?;
    let len = usize::try_from(i32::from_be_bytes(body.get(..4)?.try_into().ok()?)).ok()?;
    let path = body.get(4..4 + len)?;
    Some(String::from_utf8_lossy(path).into())
}

fn starts_with_path(op: OpCode) -> bool {
    use OpCode as O;
    matches!(
        op,
        O::Create
            | O::Create2
            | O::CreateContainer
            | O::CreateTtl
            | O::Delete
            | O::Exists
            | O::GetData
            | O::SetData
            | O::GetAcl
            | O::SetAcl
            | O::GetChildren
            | O::GetChildren2
            | O::Sync
            | O::CheckWatches
            | O::RemoveWatches
            | O::AddWatch
            | O::GetEphemerals
            | O::GetAllChildrenNumber
    )
}

/// A request ended: answered with `err` (0 for success), or failed locally with `err` the
/// code of the error it failed with (the connection was lost).
pub(crate) fn request_done(op: OpCode, xid: i32, zxid: i64, err: i32, sent_at: Instant, path: Option<&str>) {
    let latency = sent_at.elapsed();
    let outcome = outcome(err);
    tracing::trace!(
        target: REQUEST_TARGET,
        op = ?op,
        path = path.unwrap_or(""),
        xid,
        zxid,
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        outcome,
        "request",
    );
    #[cfg(feature = "metrics")]
    meters::request(op, err, outcome, latency.as_secs_f64());
}

/// The request metrics' handles, registered once per operation and outcome: building a
/// metric's key (labels included) for every request cost a quarter of the client's
/// throughput at 1,000 requests in flight, recorder or not. They are found again by a scan
/// of a short list under a read lock (a hash of the labels per request was measurable too).
/// The handles belong to the recorder installed when they were first needed: install it
/// before the first request.
#[cfg(feature = "metrics")]
mod meters {
    use std::sync::{PoisonError, RwLock};

    use crate::proto::OpCode;

    type Handles = (metrics::Counter, metrics::Histogram);

    /// `(op, error code, handles)`: one entry per pair seen, a handful in practice (at most
    /// the number of operations times the number of error codes).
    static REQUESTS: RwLock<Vec<(i32, i32, Handles)>> = RwLock::new(Vec::new());

    pub(super) fn request(op: OpCode, err: i32, outcome: &'static str, seconds: f64) {
        let key = (op as i32, err);
        {
            let known = REQUESTS.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, _, (count, latency))) = known.iter().find(|(o, e, _)| (*o, *e) == key) {
                count.increment(1);
                latency.record(seconds);
                return;
            }
        }
        let name = format!("{op:?}");
        let (count, latency) = (
            metrics::counter!("zk_requests_total", "op" => name.clone(), "outcome" => outcome),
            metrics::histogram!("zk_request_seconds", "op" => name),
        );
        count.increment(1);
        latency.record(seconds);
        let mut known = REQUESTS.write().unwrap_or_else(PoisonError::into_inner);
        if !known.iter().any(|(o, e, _)| (*o, *e) == key) {
            known.push((key.0, key.1, (count, latency)));
        }
    }
}

/// `ok`, or the error code's name in ZooKeeper's Java spelling (`NONODE`), or its number.
fn outcome(err: i32) -> &'static str {
    if err == 0 {
        return "ok";
    }
    crate::proto::ErrorCode::try_from(err).map_or("unknown", crate::proto::ErrorCode::name)
}

/// A watch notification arrived.
pub(crate) fn watch_event(_event_type: EventType) {
    #[cfg(feature = "metrics")]
    metrics::counter!("zk_watch_events_total", "type" => format!("{_event_type:?}")).increment(1);
}
