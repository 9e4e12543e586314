//! A proptest [`Strategy`] over fault plans (feature `proptest`).

use proptest::arbitrary::{any, Arbitrary};
use proptest::strategy::{NewTree, Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use crate::{FaultPlan, FaultPlanConfig};

/// A strategy producing the plans `config` draws ([`FaultPlanConfig::draw`], from a seed
/// taken from proptest's generator), shrinking by removing faults and then halving their
/// durations, as [`Runner`](super::Runner) shrinks. Feature `proptest`.
///
/// ```
/// use proptest::prelude::*;
/// use zk_testing::prop::{plans, Runner};
/// use zk_testing::check::{Recorder, Violation};
/// use zk_testing::{FaultPlan, FaultPlanConfig, TestServer};
///
/// async fn scenario(server: &TestServer, plan: &FaultPlan, _: &Recorder) -> Result<(), Violation> {
///     let zk = server.client().await.expect("a client");
///     plan.apply(server, &[zk]).await;
///     Ok(())
/// }
///
/// proptest! {
///     #![proptest_config(ProptestConfig::with_cases(4))]
///     // In a test file, with #[test]:
///     fn survives_any_plan(plan in plans(FaultPlanConfig::default()), seed in 0..1000u64) {
///         let report = Runner::new().run_plan(scenario, seed, &plan);
///         prop_assert!(report.passed(), "{}", report);
///     }
/// }
/// survives_any_plan();
/// ```
pub fn plans(config: FaultPlanConfig) -> PlanStrategy {
    PlanStrategy { config }
}

/// The strategy [`plans`] returns.
#[derive(Debug, Clone)]
pub struct PlanStrategy {
    config: FaultPlanConfig,
}

impl Strategy for PlanStrategy {
    type Tree = PlanTree;
    type Value = FaultPlan;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        // A seed through proptest's own u64 strategy rather than its generator's methods,
        // which differ between proptest releases (rand 0.9 in 1.11, 0.10 in 1.12).
        let seed = any::<u64>().new_tree(runner)?.current();
        Ok(PlanTree::new(self.config.draw(seed)))
    }
}

/// `any::<FaultPlan>()` draws from [`FaultPlanConfig::default`];
/// `any_with::<FaultPlan>(config)` from `config`.
impl Arbitrary for FaultPlan {
    type Parameters = FaultPlanConfig;
    type Strategy = PlanStrategy;

    fn arbitrary_with(config: FaultPlanConfig) -> PlanStrategy {
        plans(config)
    }
}

/// A drawn plan and its shrinking (the [`ValueTree`] of [`PlanStrategy`]).
///
/// Each step is one of the [`Runner`](super::Runner)'s: a fault removed (each fault in
/// turn, from the last), then one fault's durations halved (each fault in turn, again and
/// again while it still fails). A step that made the test pass is undone and the next one
/// tried. Passes over the steps repeat until one keeps nothing, so the plan proptest settles
/// on, like the runner's, fails and passes without any one of its faults.
#[derive(Debug, Clone)]
pub struct PlanTree {
    /// The smallest plan known to fail (at first, the drawn plan).
    failing: FaultPlan,
    /// The step being tried, whose plan is the current value.
    trying: Option<(Step, FaultPlan)>,
    /// The next step to try from `failing`.
    next: Step,
    /// Whether a step was kept since the pass over the steps began: then, at its end, a new
    /// pass begins, as a fault whose removal passed before may be removable now.
    kept: bool,
}

/// A shrinking step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Remove the fault `len - 1 - n` (the last first).
    Remove(usize),
    /// Halve the durations of fault `n`.
    Shorten(usize),
    /// Nothing left to try.
    Done,
}

impl PlanTree {
    /// The tree of `plan`: its current value is `plan`.
    pub fn new(plan: FaultPlan) -> Self {
        PlanTree { failing: plan, trying: None, next: Step::Remove(0), kept: false }
    }

    /// The plan of `step` from `failing`, or `None` when the step does not apply.
    fn apply(&self, step: Step) -> Option<FaultPlan> {
        let n = self.failing.len();
        match step {
            Step::Remove(k) => self.failing.without(n.checked_sub(k + 1)?),
            Step::Shorten(i) => self.failing.shortened(i),
            Step::Done => None,
        }
    }

    /// The step after `step`, when `step` did not fail.
    fn after(&self, step: Step) -> Step {
        match step {
            Step::Remove(k) if k + 1 < self.failing.len() => Step::Remove(k + 1),
            Step::Remove(_) => Step::Shorten(0),
            Step::Shorten(i) if i + 1 < self.failing.len() => Step::Shorten(i + 1),
            Step::Shorten(_) | Step::Done => Step::Done,
        }
    }
}

impl ValueTree for PlanTree {
    type Value = FaultPlan;

    fn current(&self) -> FaultPlan {
        self.trying.as_ref().map_or(&self.failing, |(_, plan)| plan).clone()
    }

    /// The current value failed: keep it, and move on to the next step from it.
    fn simplify(&mut self) -> bool {
        if let Some((step, plan)) = self.trying.take() {
            self.failing = plan;
            self.kept = true;
            // A removal shifts the faults before it: the same `k` now names the next fault
            // to try. A halving may work again on the same fault.
            self.next = match step {
                Step::Remove(k) if k < self.failing.len() => Step::Remove(k),
                Step::Remove(_) => Step::Shorten(0),
                other => other,
            };
        }
        // Bounded: each turn moves `next` forward, through at most 2 * len + 1 steps, and
        // back to the start at most once.
        for _ in 0..2 * (2 * self.failing.len() + 2) {
            let step = self.next;
            if step == Step::Done {
                if !self.kept {
                    return false;
                }
                self.kept = false;
                self.next = Step::Remove(0);
                continue;
            }
            if let Some(plan) = self.apply(step) {
                self.trying = Some((step, plan));
                return true;
            }
            self.next = self.after(step);
        }
        false
    }

    /// The current value passed: go back to the last failing plan, past that step.
    fn complicate(&mut self) -> bool {
        match self.trying.take() {
            Some((step, _)) => {
                self.next = self.after(step);
                true
            }
            None => false,
        }
    }
}
