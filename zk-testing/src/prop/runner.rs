//! [`Runner`]: runs a scenario for many seeds, and shrinks the plan of the first failure.

use std::sync::Arc;
use std::time::Duration;

use super::exec::{run_once, Limits};
use super::report::{Failure, Report, ShrinkEnd, Shrinking, Stats, Verdict};
use super::scenario::Scenario;
use crate::{FaultPlan, FaultPlanConfig};

/// Seeds run when neither [`Runner::seeds`] nor `ZK_PROP_SEEDS` says otherwise.
pub const DEFAULT_SEEDS: u64 = 100;
/// The virtual time a run may take by default: 10 minutes of tokio's clock.
pub const DEFAULT_VIRTUAL_LIMIT: Duration = Duration::from_secs(600);
/// The wall time a run may take by default.
pub const DEFAULT_WALL_LIMIT: Duration = Duration::from_secs(60);
/// The shrinking runs allowed after a failure by default.
pub const DEFAULT_MAX_SHRINK_RUNS: u64 = 500;

/// Runs a [`Scenario`] for many seeds, each on a fresh server with a plan drawn from the same
/// seed; shrinks the first failing plan; reports. See the [module docs](super).
///
/// Defaults: seeds `0..100` (`ZK_PROP_SEED` sets the first, `ZK_PROP_SEEDS` the count; the
/// builder methods override both), plans from [`FaultPlanConfig::default`], 10 minutes of
/// virtual time and 60 s of wall time per run, 500 shrinking runs.
///
/// Call it from a plain `#[test]` (not from inside a tokio runtime): each run builds its own
/// runtime, on its own thread, and the runner blocks while it waits.
#[derive(Debug, Clone)]
pub struct Runner {
    seeds: u64,
    first_seed: u64,
    config: FaultPlanConfig,
    limits: Limits,
    max_shrink_runs: u64,
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

impl Runner {
    /// A runner with the defaults, and the seeds from the environment: `ZK_PROP_SEEDS` (how
    /// many, default [`DEFAULT_SEEDS`]) and `ZK_PROP_SEED` (the first, default 0). A value
    /// that is not a number is ignored, with a `tracing` warning.
    pub fn new() -> Self {
        Runner {
            seeds: env_u64("ZK_PROP_SEEDS").unwrap_or(DEFAULT_SEEDS),
            first_seed: env_u64("ZK_PROP_SEED").unwrap_or(0),
            config: FaultPlanConfig::default(),
            limits: Limits { virtual_time: DEFAULT_VIRTUAL_LIMIT, wall: DEFAULT_WALL_LIMIT },
            max_shrink_runs: DEFAULT_MAX_SHRINK_RUNS,
        }
    }

    /// Runs this many seeds.
    pub fn seeds(mut self, n: u64) -> Self {
        self.seeds = n;
        self
    }

    /// Starts at this seed: the seeds are `first, first + 1, ...`.
    pub fn first_seed(mut self, seed: u64) -> Self {
        self.first_seed = seed;
        self
    }

    /// Draws the plans from `config` ([`FaultPlanConfig::draw`]).
    pub fn config(mut self, config: FaultPlanConfig) -> Self {
        self.config = config;
        self
    }

    /// The virtual time (tokio's clock) one run may take; past it, the run is a hang.
    pub fn virtual_limit(mut self, limit: Duration) -> Self {
        self.limits.virtual_time = limit;
        self
    }

    /// The wall time one run may take; past it, the run is a hang and its thread is left
    /// behind.
    pub fn wall_limit(mut self, limit: Duration) -> Self {
        self.limits.wall = limit;
        self
    }

    /// The most runs of smaller plans after a failure (0: no shrinking).
    pub fn max_shrink_runs(mut self, n: u64) -> Self {
        self.max_shrink_runs = n;
        self
    }

    /// The seeds this runner runs, in order.
    pub fn seed_range(&self) -> impl Iterator<Item = u64> {
        let first = self.first_seed;
        (0..self.seeds).map(move |i| first.wrapping_add(i))
    }

    /// Runs `scenario` for each seed, on a fresh server seeded with it and a plan drawn from
    /// it, until one fails; shrinks that one's plan.
    ///
    /// # Errors
    /// The first seed whose run did not pass: a broken invariant, a check that could not
    /// conclude, a panic, a hang in virtual or wall time, or a run that could not start. The
    /// [`Failure`] holds that run, the smallest failing plan found, and the statistics.
    pub fn run<S: Scenario>(&self, scenario: S) -> Result<Stats, Failure> {
        let scenario = Arc::new(scenario);
        let mut stats = Stats::default();
        for seed in self.seed_range() {
            let plan = self.config.draw(seed);
            let report = run_once(&scenario, seed, &plan, self.limits);
            stats.seeds += 1;
            stats.add(&report);
            tracing::debug!(seed, passed = report.passed(), wall = ?report.wall, "property run");
            if !report.passed() {
                return Err(self.shrink(&scenario, report, stats));
            }
        }
        Ok(stats)
    }

    /// [`run`](Self::run), for tests: panics with the failure's report.
    ///
    /// # Panics
    /// When a seed fails; the message is the [`Failure`]'s report (seed, plans, verdict,
    /// history, how to replay).
    pub fn check<S: Scenario>(&self, scenario: S) -> Stats {
        match self.run(scenario) {
            Ok(stats) => stats,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Runs `scenario` once with `plan` on a server seeded with `seed`: a replay of a
    /// printed failure, for a regression test. Nothing is shrunk.
    pub fn run_plan<S: Scenario>(&self, scenario: S, seed: u64, plan: &FaultPlan) -> Report {
        run_once(&Arc::new(scenario), seed, plan, self.limits)
    }

    /// Shrinks `failed`'s plan: tries each plan one step smaller (a fault removed, then one
    /// fault's durations halved), same seed, keeping the first that still fails and going on
    /// from it, until no such step fails or the budget is spent.
    fn shrink<S: Scenario>(&self, scenario: &Arc<S>, failed: Report, mut stats: Stats) -> Failure {
        let mut shrinking = Shrinking { runs: 0, kept: 0, end: ShrinkEnd::NotShrinkable };
        let mut best = failed.clone();
        if failed.verdict.is_shrinkable() {
            // Bounded: each turn spends at least one of the `max_shrink_runs` runs, each run
            // at most the wall limit.
            shrinking.end = loop {
                let Some(candidate) = self.smaller_failing(scenario, &best, &mut shrinking, &mut stats)
                else {
                    break shrinking.end;
                };
                shrinking.kept += 1;
                best = candidate;
            };
        }
        tracing::info!(
            seed = failed.seed,
            from = failed.plan.len(),
            to = best.plan.len(),
            ?shrinking,
            "shrunk"
        );
        Failure { original: Box::new(failed), minimal: Box::new(best), shrinking, stats }
    }

    /// The run of the first plan one step smaller than `best`'s that still fails; `None`
    /// (with `shrinking.end` saying why) when there is none or shrinking must stop.
    fn smaller_failing<S: Scenario>(
        &self,
        scenario: &Arc<S>,
        best: &Report,
        shrinking: &mut Shrinking,
        stats: &mut Stats,
    ) -> Option<Report> {
        for candidate in one_step_smaller(&best.plan) {
            if shrinking.runs >= self.max_shrink_runs {
                shrinking.end = ShrinkEnd::Budget;
                return None;
            }
            let report = run_once(scenario, best.seed, &candidate, self.limits);
            shrinking.runs += 1;
            stats.add(&report);
            if report.verdict.is_shrinkable() {
                return Some(report);
            }
            if matches!(report.verdict, Verdict::WallTimeout(_)) {
                shrinking.end = ShrinkEnd::WallTimeout;
                return None;
            }
        }
        shrinking.end = ShrinkEnd::Minimal;
        None
    }
}

/// The plans one step smaller than `plan`, most promising first: each fault removed (from
/// the last: late faults are often after the failure), then each fault's durations halved.
fn one_step_smaller(plan: &FaultPlan) -> impl Iterator<Item = FaultPlan> + '_ {
    let n = plan.len();
    let removed = (0..n).rev().filter_map(move |i| plan.without(i));
    let shortened = (0..n).filter_map(move |i| plan.shortened(i));
    removed.chain(shortened)
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!(name, value, "not a number: ignored");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FaultKind;

    #[test]
    fn smaller_plans_drop_one_fault_or_halve_one() {
        let secs = Duration::from_secs;
        let plan = FaultPlan::new()
            .at(secs(1), FaultKind::Partition { client: 0, duration: secs(4) })
            .at(secs(2), FaultKind::Restart);
        let smaller: Vec<String> = one_step_smaller(&plan).map(|p| format!("{p:#}")).collect();
        assert_eq!(
            smaller,
            [
                "at 1s: partition client 0 for 4s",
                "at 2s: restart",
                "at 1s: partition client 0 for 2s; at 2s: restart",
            ]
        );
        assert_eq!(one_step_smaller(&FaultPlan::new()).count(), 0);
    }

    #[test]
    fn the_builder_sets_the_seeds() {
        let runner = Runner::new().seeds(3).first_seed(u64::MAX - 1);
        assert_eq!(runner.seed_range().collect::<Vec<_>>(), [u64::MAX - 1, u64::MAX, 0]);
        assert_eq!(Runner::new().seeds(0).seed_range().count(), 0);
    }
}
