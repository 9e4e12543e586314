//! A planted bug is caught, shrunk to the faults that matter, and replays from its printed
//! plan.

use zk_testing::prop::{Runner, ShrinkEnd, Verdict};
use zk_testing::FaultPlan;

use crate::scenarios::{broken_mutex, many_faults};

#[test]
fn a_broken_mutex_fails_and_its_plan_shrinks_to_at_most_three_faults() {
    let failure = Runner::new()
        .seeds(20)
        .config(many_faults())
        .run(broken_mutex)
        .expect_err("a mutex that ignores its session lets two holders in");
    eprintln!("{failure}");
    assert!(failure.original.plan.len() >= 10, "{}", failure.original.plan);
    let minimal = &failure.minimal;
    assert!(minimal.plan.len() <= 3, "{failure}");
    assert!(matches!(&minimal.verdict, Verdict::Violated(v) if v.is_invariant()), "{failure}");
    assert_eq!(failure.shrinking.end, ShrinkEnd::Minimal);
    assert_eq!(minimal.seed, failure.original.seed, "shrinking keeps the server's seed");
    for (text, expected) in [("property failed at seed", true), ("original plan", true), ("replay it", true)]
    {
        assert_eq!(failure.to_string().contains(text), expected, "{text}");
    }

    // The printed plan, parsed back, fails again the same way, with the same history.
    let printed: FaultPlan = format!("{:#}", minimal.plan).parse().expect("a printed plan parses");
    let replay = Runner::new().run_plan(broken_mutex, minimal.seed, &printed);
    assert_eq!(replay.verdict, minimal.verdict);
    assert_eq!(replay.history, minimal.history);
}

#[test]
fn a_pasted_plan_replays_its_failure_deterministically() {
    // Worker 0 takes the lock first and works for 10 s; cut off at 1 s, its session expires
    // about 4 s later and worker 1 takes the lock while worker 0 still works.
    let plan: FaultPlan = "at 1s: expire client 0".parse().expect("the plan parses");
    let runner = Runner::new();
    let first = runner.run_plan(broken_mutex, 7, &plan);
    assert!(first.verdict.is_shrinkable(), "{first}");
    assert!(first.to_string().contains("mutual exclusion violated"), "{first}");
    let second = runner.run_plan(broken_mutex, 7, &plan);
    assert_eq!(second.verdict, first.verdict);
    assert_eq!(second.history, first.history, "same seed, same plan, same history");
    assert_eq!(second.virtual_time, first.virtual_time);

    // Without the fault, the same seed passes.
    assert!(runner.run_plan(broken_mutex, 7, &FaultPlan::new()).passed());
}
