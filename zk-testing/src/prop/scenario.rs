//! What the runner runs: a [`Scenario`], which any `async fn` of the right shape is.

use std::future::Future;

use futures::future::LocalBoxFuture;

use crate::check::{Recorder, Violation};
use crate::{FaultPlan, TestServer};

/// A property test's body: given a fresh server, a fault plan and a recorder, it starts its
/// participants, applies the plan to them ([`FaultPlan::apply`]), records what they observe
/// and returns the checkers' verdict.
///
/// Every `async fn` with this shape is a `Scenario`, with no adapter:
///
/// ```
/// use zk_testing::check::{Recorder, Violation};
/// use zk_testing::{FaultPlan, TestServer};
///
/// async fn scenario(server: &TestServer, plan: &FaultPlan, recorder: &Recorder) -> Result<(), Violation> {
///     let clients = [server.client().await.expect("a client")];
///     plan.apply(server, &clients).await;
///     zk_testing::check::linearizable(&recorder.history())
/// }
///
/// let stats = zk_testing::prop::Runner::new().seeds(3).check(scenario);
/// assert_eq!(stats.seeds, 3);
/// ```
///
/// So is a closure returning a future that borrows its arguments, once its argument types
/// are spelled out through [`scenario`](super::scenario) (closures do not infer that on their
/// own), and so is any type that implements the trait, e.g. a struct holding the
/// scenario's parameters.
///
/// A scenario is shared by the runs, each on a thread of its own, hence `Send + Sync +
/// 'static`; the future it returns runs on that thread alone and need not be `Send`.
pub trait Scenario: Send + Sync + 'static {
    /// Runs the scenario once.
    fn run<'a>(
        &'a self,
        server: &'a TestServer,
        plan: &'a FaultPlan,
        recorder: &'a Recorder,
    ) -> LocalBoxFuture<'a, Result<(), Violation>>;
}

/// The functions that are [`Scenario`]s: `Fn(&TestServer, &FaultPlan, &Recorder) -> F`
/// where the future `F` may borrow the arguments. Implemented for every such function; it
/// exists because a bound on `Fn` alone cannot name a future that borrows.
pub trait ScenarioFn<'a> {
    /// The future the function returns.
    type Future: Future<Output = Result<(), Violation>> + 'a;

    /// Calls the function.
    fn call(&self, server: &'a TestServer, plan: &'a FaultPlan, recorder: &'a Recorder) -> Self::Future;
}

impl<'a, F, Fut> ScenarioFn<'a> for F
where
    F: Fn(&'a TestServer, &'a FaultPlan, &'a Recorder) -> Fut,
    Fut: Future<Output = Result<(), Violation>> + 'a,
{
    type Future = Fut;

    fn call(&self, server: &'a TestServer, plan: &'a FaultPlan, recorder: &'a Recorder) -> Fut {
        self(server, plan, recorder)
    }
}

impl<F> Scenario for F
where
    F: for<'a> ScenarioFn<'a> + Send + Sync + 'static,
{
    fn run<'a>(
        &'a self,
        server: &'a TestServer,
        plan: &'a FaultPlan,
        recorder: &'a Recorder,
    ) -> LocalBoxFuture<'a, Result<(), Violation>> {
        Box::pin(self.call(server, plan, recorder))
    }
}

/// Returns `f` unchanged: it only tells the compiler that the closure's future borrows its
/// arguments, which closures do not infer by themselves.
///
/// ```
/// use zk_testing::prop::{scenario, Runner};
///
/// let expected = 0; // a closure can capture what it needs (owned: a scenario is 'static)
/// let count_nodes = scenario(move |server, plan, _recorder| {
///     Box::pin(async move {
///         plan.apply(server, &[] as &[i64]).await;
///         assert!(server.node_count() >= expected);
///         Ok(())
///     })
/// });
/// Runner::new().seeds(2).check(count_nodes);
/// ```
pub fn scenario<F>(f: F) -> F
where
    F: for<'a> Fn(&'a TestServer, &'a FaultPlan, &'a Recorder) -> LocalBoxFuture<'a, Result<(), Violation>>
        + Send
        + Sync
        + 'static,
{
    f
}
