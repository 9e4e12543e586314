//! What the recipes tell observers, in one place: a `DEBUG` span around each lock
//! acquisition (`zk_lock_acquire`, with `path`, then `waited_ms` and `acquired`), and a
//! `DEBUG` event for each leadership change; with the `metrics` feature, through the
//! `metrics` facade, `zk_lock_wait_seconds` (histogram, label `outcome`: `acquired`,
//! `gave_up`, `failed`) and `zk_leadership_changes_total` (labels `recipe`, `change`).

use std::time::Duration;

use tracing::field::Empty;
use tracing::Span;

/// The span of one lock acquisition on `path`.
pub(crate) fn lock_span(path: &str) -> Span {
    tracing::debug_span!("zk_lock_acquire", path, waited_ms = Empty, acquired = Empty)
}

/// An acquisition ended after `waited`: acquired, timed out (`Ok(false)`) or failed.
pub(crate) fn lock_waited(span: &Span, waited: Duration, acquired: Result<bool, ()>) {
    span.record("waited_ms", u64::try_from(waited.as_millis()).unwrap_or(u64::MAX));
    span.record("acquired", acquired == Ok(true));
    #[cfg(feature = "metrics")]
    {
        let outcome = match acquired {
            Ok(true) => "acquired",
            Ok(false) => "gave_up",
            Err(()) => "failed",
        };
        metrics::histogram!("zk_lock_wait_seconds", "outcome" => outcome).record(waited.as_secs_f64());
    }
}

/// A participant of the `recipe` at `path` changed: `change` is `elected`, `not_leader`,
/// `suspended`, `lost`, ...
pub(crate) fn leadership(recipe: &'static str, path: &str, change: &'static str) {
    tracing::debug!(recipe, path, change, "leadership");
    #[cfg(feature = "metrics")]
    metrics::counter!("zk_leadership_changes_total", "recipe" => recipe, "change" => change).increment(1);
}
