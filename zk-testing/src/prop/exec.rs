//! One run: a thread, a paused runtime and a fresh server for one seed and one plan, bounded
//! in virtual time (a timeout on tokio's clock) and in wall time (a watchdog).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::{timeout, Instant};

use super::report::{Report, Verdict};
use super::scenario::Scenario;
use crate::check::{History, Recorder};
use crate::{FaultPlan, TestServer};

/// The servers' wall clock at start (ctime and mtime), fixed so that a replay records the
/// same history.
const EPOCH_MS: i64 = 1_700_000_000_000;

/// How long a run may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) virtual_time: Duration,
    pub(crate) wall: Duration,
}

/// What the run's thread sends back: the verdict and the virtual time it took, if it
/// finished.
type Ran = (Verdict, Option<Duration>);

/// Runs `scenario` once on a thread of its own and waits for it at most `limits.wall`.
///
/// The thread is the only way to bound a scenario that spins without yielding: nothing can
/// interrupt it, but the caller can stop waiting. After a wall-time hang the thread is left
/// running (it ends with the process).
pub(crate) fn run_once<S: Scenario>(
    scenario: &Arc<S>,
    seed: u64,
    plan: &FaultPlan,
    limits: Limits,
) -> Report {
    // Wall time, on purpose: a spinning scenario stops tokio's clock, and the watchdog must
    // not depend on it. (std's clock is read here only, outside the run's runtime.)
    let started = std::time::Instant::now();
    let (tx, rx) = sync_channel::<std::thread::Result<Ran>>(1);
    let slot = Arc::new(OnceLock::new());
    let spawned = {
        let (scenario, plan, slot) = (Arc::clone(scenario), plan.clone(), Arc::clone(&slot));
        std::thread::Builder::new().name(format!("zk-prop-seed-{seed}")).spawn(move || {
            let ran = catch_unwind(AssertUnwindSafe(|| {
                in_runtime(&*scenario, seed, &plan, limits.virtual_time, &slot)
            }));
            // The receiver is gone only after a wall-time hang: nobody waits any more.
            let _ = tx.send(ran);
        })
    };
    let (verdict, virtual_time) = match spawned {
        Err(e) => (Verdict::Aborted(format!("cannot start a thread: {e}")), None),
        Ok(thread) => match rx.recv_timeout(limits.wall) {
            Ok(ran) => {
                // It has sent its last message: joining costs nothing more.
                let _ = thread.join();
                ran.unwrap_or_else(|panic| (Verdict::Panicked(panic_message(&*panic)), None))
            }
            Err(RecvTimeoutError::Timeout) => (Verdict::WallTimeout(limits.wall), None),
            Err(RecvTimeoutError::Disconnected) => {
                (Verdict::Aborted("the run's thread ended without a verdict".into()), None)
            }
        },
    };
    let history = slot.get().map_or_else(History::default, Recorder::history);
    Report { seed, plan: plan.clone(), verdict, history, virtual_time, wall: started.elapsed() }
}

/// Builds the paused runtime and runs the scenario on a fresh server; hands the recorder
/// over through `slot` first, so that its history survives a panic or a hang.
fn in_runtime<S: Scenario + ?Sized>(
    scenario: &S,
    seed: u64,
    plan: &FaultPlan,
    limit: Duration,
    slot: &OnceLock<Recorder>,
) -> Ran {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => return (Verdict::Aborted(format!("cannot build a runtime: {e}")), None),
    };
    runtime.block_on(async {
        let start = Instant::now();
        let server = match TestServer::builder().no_tcp().seed(seed).epoch_ms(EPOCH_MS).start().await {
            Ok(server) => server,
            Err(e) => return (Verdict::Aborted(format!("the server did not start: {e}")), None),
        };
        let recorder = Recorder::new();
        let _ = slot.set(recorder.clone());
        let verdict = match timeout(limit, scenario.run(&server, plan, &recorder)).await {
            Ok(Ok(())) => Verdict::Passed,
            Ok(Err(violation)) => Verdict::Violated(violation),
            Err(_) => Verdict::VirtualTimeout(limit),
        };
        (verdict, Some(start.elapsed()))
    })
}

/// A panic's message: its `&str` or `String` payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}
