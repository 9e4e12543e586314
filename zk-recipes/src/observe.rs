//! What the recipes tell observers, in one place. `DEBUG` spans around the waits:
//!
//! - `zk_lock_acquire` (`path`, then `waited_ms` and `acquired`): each lock, semaphore and
//!   election acquisition (a campaign is one);
//! - `zk_queue_take` (`path`, then `waited_ms` and `taken`): each take of a simple queue, and
//!   each item a distributed queue's consumer waits for;
//! - `zk_cache_resync` (`path`, then `took_ms` and `ok`): each full re-read of a cache (at
//!   start, after a reconnect that may have missed events, on a new session);
//!
//! and a `DEBUG` event for each leadership change. With the `metrics` feature, through the
//! `metrics` facade: `zk_lock_wait_seconds` and `zk_queue_take_wait_seconds` (histograms,
//! label `outcome`: `acquired`/`taken`, `gave_up`, `failed`), `zk_cache_resync_seconds`
//! (histogram, label `outcome`: `ok`, `failed`) and `zk_leadership_changes_total` (labels
//! `recipe`, `change`).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::field::Empty;
use tracing::{Instrument, Span};

/// The span of one lock acquisition on `path`.
pub(crate) fn lock_span(path: &str) -> Span {
    tracing::debug_span!("zk_lock_acquire", path, waited_ms = Empty, acquired = Empty)
}

/// An acquisition ended after `waited`: acquired, timed out (`Ok(false)`) or failed.
pub(crate) fn lock_waited(span: &Span, waited: Duration, acquired: Result<bool, ()>) {
    record_wait(span, waited, ("acquired", acquired));
    #[cfg(feature = "metrics")]
    wait_metric("zk_lock_wait_seconds", waited, acquired, "acquired");
}

/// Runs `take` (a queue take on `path`) in a `zk_queue_take` span and records how long it
/// waited and whether it took an item (`is_taken`: `Ok(false)` for a timeout).
pub(crate) async fn queue_take<T, E>(
    path: &str,
    take: impl Future<Output = Result<T, E>>,
    is_taken: impl FnOnce(&T) -> bool,
) -> Result<T, E> {
    let span = tracing::debug_span!("zk_queue_take", path, waited_ms = Empty, taken = Empty);
    let start = Instant::now();
    let out = take.instrument(span.clone()).await;
    let taken = out.as_ref().map(is_taken).map_err(drop);
    record_wait(&span, start.elapsed(), ("taken", taken));
    #[cfg(feature = "metrics")]
    wait_metric("zk_queue_take_wait_seconds", start.elapsed(), taken, "taken");
    out
}

/// Runs `resync` (a cache's full re-read under `path`) in a `zk_cache_resync` span and
/// records how long it took and whether it succeeded.
pub(crate) async fn cache_resync<T, E>(
    path: &str,
    resync: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let span = tracing::debug_span!("zk_cache_resync", path, took_ms = Empty, ok = Empty);
    let start = Instant::now();
    let out = resync.instrument(span.clone()).await;
    let took = start.elapsed();
    span.record("took_ms", millis(took));
    span.record("ok", out.is_ok());
    #[cfg(feature = "metrics")]
    {
        let outcome = if out.is_ok() { "ok" } else { "failed" };
        metrics::histogram!("zk_cache_resync_seconds", "outcome" => outcome).record(took.as_secs_f64());
    }
    out
}

/// A participant of the `recipe` at `path` changed: `change` is `elected`, `not_leader`,
/// `suspended`, `lost`, ...
pub(crate) fn leadership(recipe: &'static str, path: &str, change: &'static str) {
    tracing::debug!(recipe, path, change, "leadership");
    #[cfg(feature = "metrics")]
    metrics::counter!("zk_leadership_changes_total", "recipe" => recipe, "change" => change).increment(1);
}

/// Records `waited_ms` and the outcome field (`true` when the wait got what it waited for).
fn record_wait(span: &Span, waited: Duration, (field, outcome): (&'static str, Result<bool, ()>)) {
    span.record("waited_ms", millis(waited));
    span.record(field, outcome == Ok(true));
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Records a wait in the histogram `name`, labelled with its outcome: `got` (`acquired`,
/// `taken`), `gave_up` or `failed`.
#[cfg(feature = "metrics")]
fn wait_metric(name: &'static str, waited: Duration, outcome: Result<bool, ()>, got: &'static str) {
    let outcome = match outcome {
        Ok(true) => got,
        Ok(false) => "gave_up",
        Err(()) => "failed",
    };
    metrics::histogram!(name, "outcome" => outcome).record(waited.as_secs_f64());
}
