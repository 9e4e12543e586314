//! The proptest strategy over plans (feature `proptest`): drawn like the runner's plans,
//! shrunk by dropping faults and halving durations, usable in `proptest!`.

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use zk_testing::prop::{plans, PlanTree, Runner};
use zk_testing::{FaultKind, FaultPlan, FaultPlanConfig};

use crate::scenarios::{broken_mutex, cas_counter, many_faults};

/// Drives `tree` as proptest's shrinking loop does, with `fails` as the test; returns the
/// plan it settles on and the number of tests run.
fn shrink_with(mut tree: PlanTree, fails: impl Fn(&FaultPlan) -> bool) -> (FaultPlan, usize) {
    let mut runs = 0;
    if !tree.simplify() {
        return (tree.current(), runs);
    }
    for _ in 0..10_000 {
        runs += 1;
        let more = if fails(&tree.current()) { tree.simplify() } else { tree.complicate() };
        if !more {
            break;
        }
    }
    (tree.current(), runs)
}

#[test]
fn the_tree_removes_irrelevant_faults_and_halves_the_rest() {
    let plan: FaultPlan = "
        at 1s: drop connection of client 0
        at 2s: restart
        at 3s: partition client 1 for 20s
        at 4s: latency 100ms for 8s
        at 5s: pause all for 3s
        at 6s: restart"
        .parse()
        .expect("the plan parses");
    // Fails while there is a restart and a partition of at least 2 s.
    let fails = |p: &FaultPlan| {
        p.iter().any(|f| f.kind == FaultKind::Restart)
            && p.iter().any(|f| matches!(f.kind, FaultKind::Partition { duration, .. } if duration >= Duration::from_secs(2)))
    };
    assert!(fails(&plan));
    let (minimal, runs) = shrink_with(PlanTree::new(plan), fails);
    assert_eq!(format!("{minimal:#}"), "at 2s: restart; at 3s: partition client 1 for 2.5s");
    assert!(runs < 40, "{runs} runs");
}

#[test]
fn the_tree_of_an_empty_plan_cannot_simplify_and_complicate_ends() {
    let mut tree = PlanTree::new(FaultPlan::new());
    assert!(!tree.simplify());
    assert!(!tree.simplify(), "again after false");
    assert!(!tree.complicate());
    let mut tree = PlanTree::new("at 1s: restart".parse().expect("parses"));
    assert!(tree.simplify());
    assert!(tree.current().is_empty());
    assert!(tree.complicate(), "back to the failing plan");
    assert_eq!(tree.current().len(), 1);
    assert!(!tree.complicate(), "and no further");
    assert!(!tree.simplify(), "a restart has no duration to halve");
}

/// proptest draws with a fixed seed here (three of them), so a failure replays; what is
/// asserted holds for any draw: proptest finds the bug, and the plan it settles on fails and
/// is minimal, in that dropping any one of its faults makes the run pass.
#[test]
fn proptest_finds_the_broken_mutex_and_shrinks_its_plan() {
    for seed in [0u8, 1, 2] {
        let config = Config { cases: 16, failure_persistence: None, ..Config::default() };
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
        let mut runner = TestRunner::new_with_rng(config, rng);
        let result = runner.run(&plans(many_faults()), |plan| {
            let report = Runner::new().run_plan(broken_mutex, 0, &plan);
            prop_assert!(report.passed(), "{}", report.verdict);
            Ok(())
        });
        let Err(TestError::Fail(_, minimal)) = result else {
            panic!("seed {seed}: expected a failure: {result:?}")
        };
        assert!(!minimal.is_empty(), "seed {seed}: the mutex is broken only under faults");
        assert!(!Runner::new().run_plan(broken_mutex, 0, &minimal).passed(), "seed {seed}: {minimal}");
        for i in 0..minimal.len() {
            let smaller = minimal.without(i).expect("fault i exists");
            assert!(
                Runner::new().run_plan(broken_mutex, 0, &smaller).passed(),
                "seed {seed}: {minimal} still fails without fault {i}: not shrunk"
            );
        }
    }
}

proptest! {
    #![proptest_config(Config { cases: 8, failure_persistence: None, ..Config::default() })]

    #[test]
    fn a_cas_counter_survives_any_plan(
        plan in any_with::<FaultPlan>(FaultPlanConfig { participants: 3, horizon: Duration::from_secs(30), ..FaultPlanConfig::default() }),
        seed in 0..1_000u64,
    ) {
        let report = Runner::new().run_plan(cas_counter, seed, &plan);
        prop_assert!(report.passed(), "{}", report);
    }
}
