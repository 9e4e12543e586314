//! The one way a recipe bounds a wait (see the crate docs, "One shape for every handle").
//!
//! Every operation that waits comes as `x()`, which waits as long as it takes, and, where a
//! bound is commonly wanted, `x_timeout(timeout)`: the same wait for at most `timeout` on
//! tokio's clock, returning `Ok(None)` (or `Ok(false)` when the operation returns nothing)
//! when the time ran out; running out of time is never an error. A zero timeout looks once;
//! one past what the clock can hold (`Duration::MAX`) is no deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::{timeout_at, Instant};

/// The deadline `timeout` from now; `None` (no deadline) past what the clock can hold, as
/// `Duration::MAX`.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// True when `deadline` has passed.
pub(crate) fn deadline_passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| d <= Instant::now())
}

/// Runs `fut` until `deadline`: `None` when the deadline came first. No deadline, or one
/// already passed, lets `fut` run to its end, so a zero timeout still looks once (for waits
/// whose one look is a server round trip).
pub(crate) async fn until<F: Future>(deadline: Option<Instant>, fut: F) -> Option<F::Output> {
    match deadline {
        Some(d) if d > Instant::now() => timeout_at(d, fut).await.ok(),
        _ => Some(fut.await),
    }
}

/// Runs `fut` for at most `timeout`: `None` when the time ran out. `fut` is polled once
/// before the deadline is checked, so a zero timeout looks once (for waits on state the
/// recipe already holds in memory); `Duration::MAX` is no deadline.
pub(crate) async fn within<F: Future>(timeout: Duration, fut: F) -> Option<F::Output> {
    match deadline_after(timeout) {
        Some(d) => timeout_at(d, fut).await.ok(),
        None => Some(fut.await),
    }
}
