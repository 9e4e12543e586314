//! What the runner tells: one run's [`Report`], a [`Failure`] with its shrunk plan, and
//! [`Stats`].

use std::fmt;
use std::time::Duration;

use crate::check::{History, Violation};
use crate::FaultPlan;

/// Past this many entries, a failure's `Display` prints the history's first and last ones
/// only; [`Report::history`] keeps them all.
const MAX_HISTORY_LINES: usize = 400;

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The scenario returned `Ok(())`.
    Passed,
    /// The scenario returned this [`Violation`]: a broken invariant, or (when
    /// [`Violation::is_invariant`] is false) a history that could not be checked.
    Violated(Violation),
    /// The scenario panicked (or a task it awaited did), with this message.
    Panicked(String),
    /// The scenario had not finished after this much virtual time (tokio's clock): it waits
    /// for something that never comes.
    VirtualTimeout(Duration),
    /// The run had not finished after this much wall time: something spins without
    /// yielding to the runtime, so virtual time cannot pass. Its thread is left behind.
    WallTimeout(Duration),
    /// The run could not be carried out (no thread, no runtime, or the server did not
    /// start): a problem of the machine, not of the scenario.
    Aborted(String),
}

impl Verdict {
    /// True for [`Verdict::Passed`].
    pub fn passed(&self) -> bool {
        *self == Verdict::Passed
    }

    /// True when a plan with this verdict counts as still failing while shrinking: a broken
    /// invariant, a panic or a virtual-time hang. An inconclusive or malformed check, a
    /// wall-time hang and an aborted run are reported as they are, never shrunk.
    pub fn is_shrinkable(&self) -> bool {
        match self {
            Verdict::Violated(v) => v.is_invariant(),
            Verdict::Panicked(_) | Verdict::VirtualTimeout(_) => true,
            _ => false,
        }
    }
}

/// A headline; a violation adds its entries and explanation.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Passed => f.write_str("passed"),
            Verdict::Violated(v) => write!(f, "{v}"),
            Verdict::Panicked(message) => write!(f, "panicked: {message}"),
            Verdict::VirtualTimeout(d) => {
                write!(f, "hung: not finished after {d:?} of virtual time (it waits for something that never comes)")
            }
            Verdict::WallTimeout(d) => write!(
                f,
                "hung: not finished after {d:?} of wall time (something spins without yielding; its thread is \
                 left running)"
            ),
            Verdict::Aborted(why) => write!(f, "aborted: {why}"),
        }
    }
}

/// One run of a scenario: the seed, the plan, how it ended, and what was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The server's seed (and, in a drawn run, the plan's).
    pub seed: u64,
    /// The plan the scenario was given.
    pub plan: FaultPlan,
    /// How it ended.
    pub verdict: Verdict,
    /// Everything the scenario recorded, up to the end (or, after a wall-time hang, up to
    /// the moment the runner gave up).
    pub history: History,
    /// The virtual time the run took; `None` when it did not finish (a panic, a wall-time
    /// hang, an aborted run).
    pub virtual_time: Option<Duration>,
    /// The wall time the run took.
    pub wall: Duration,
}

impl Report {
    /// True when the scenario passed.
    pub fn passed(&self) -> bool {
        self.verdict.passed()
    }
}

/// The seed, the plan, the verdict and the history.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}, {}", self.seed, faults(&self.plan))?;
        write_plan(f, &self.plan)?;
        writeln!(f, "verdict: {}", self.verdict)?;
        write_history(f, &self.history)
    }
}

/// How shrinking went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shrinking {
    /// Runs of smaller plans.
    pub runs: u64,
    /// How many of them still failed, each becoming the plan to shrink further.
    pub kept: u64,
    /// Why it stopped.
    pub end: ShrinkEnd,
}

/// Why shrinking stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShrinkEnd {
    /// No plan one step smaller (a fault fewer, or one fault's durations halved) fails: the
    /// plan is minimal.
    Minimal,
    /// The budget of shrinking runs ran out first ([`Runner::max_shrink_runs`](super::Runner::max_shrink_runs)).
    Budget,
    /// A smaller plan hung in wall time; shrinking stopped there so as not to leave more
    /// spinning threads behind.
    WallTimeout,
    /// The failure was not one to shrink on (see [`Verdict::is_shrinkable`]).
    NotShrinkable,
}

/// Runs and their speed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Seeds run (drawn plans), the failing one included.
    pub seeds: u64,
    /// Runs in all: the seeds' and, after a failure, the shrinking runs.
    pub runs: u64,
    /// The wall time they took.
    pub wall: Duration,
    /// The virtual time they covered.
    pub virtual_time: Duration,
}

impl Stats {
    /// Runs per second of wall time.
    pub fn runs_per_second(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.runs as f64 / secs
        } else {
            0.0
        }
    }

    pub(crate) fn add(&mut self, report: &Report) {
        self.runs += 1;
        self.wall += report.wall;
        self.virtual_time += report.virtual_time.unwrap_or_default();
    }
}

/// `100 seeds, 100 runs in 1.2s (83.1 runs/s), 6000s of virtual time`.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} seeds, {} runs in {:.2?} ({:.1} runs/s), {:.0?} of virtual time",
            self.seeds,
            self.runs,
            self.wall,
            self.runs_per_second(),
            self.virtual_time
        )
    }
}

/// A failed property: the failing run as drawn, the smallest failing plan shrinking found,
/// and how to replay it. (The runs are boxed to keep `Result<Stats, Failure>` small.)
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The run that failed first, with its drawn plan.
    pub original: Box<Report>,
    /// The run of the smallest plan that still fails, same seed (equal to `original` when
    /// nothing could be shrunk).
    pub minimal: Box<Report>,
    /// How shrinking went.
    pub shrinking: Shrinking,
    /// Every run, the shrinking ones included.
    pub stats: Stats,
}

/// The report a failing test prints: seed, verdict, the original and the minimal plan, the
/// minimal run's history, and how to replay it.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (original, minimal) = (&self.original, &self.minimal);
        writeln!(
            f,
            "property failed at seed {} ({} seeds passed before it)",
            original.seed,
            self.stats.seeds.saturating_sub(1)
        )?;
        writeln!(f, "\noriginal plan, {}:", faults(&original.plan))?;
        write_plan(f, &original.plan)?;
        let headline = original.verdict.to_string();
        writeln!(f, "which ended: {}", headline.lines().next().unwrap_or_default())?;
        let s = &self.shrinking;
        let end = match s.end {
            ShrinkEnd::Minimal => "no single step smaller fails",
            ShrinkEnd::Budget => "stopped: out of shrinking runs",
            ShrinkEnd::WallTimeout => "stopped: a smaller plan hung in wall time",
            ShrinkEnd::NotShrinkable => "not shrunk: only broken invariants, panics and hangs are",
        };
        writeln!(
            f,
            "\nminimal plan, {} ({} shrinking runs, {} kept; {end}):",
            faults(&minimal.plan),
            s.runs,
            s.kept
        )?;
        write_plan(f, &minimal.plan)?;
        writeln!(f, "\nverdict of the minimal run: {}", minimal.verdict)?;
        match minimal.virtual_time {
            Some(t) => writeln!(f, "\nhistory of the minimal run ({t:?} of virtual time):")?,
            None => writeln!(f, "\nhistory of the minimal run (to where it stopped):")?,
        }
        write_history(f, &minimal.history)?;
        writeln!(f, "\nreplay it in a test:")?;
        writeln!(f, "    let plan: FaultPlan = {:?}.parse()?;", format!("{:#}", minimal.plan))?;
        writeln!(f, "    let report = Runner::new().run_plan(scenario, {}, &plan);", minimal.seed)?;
        writeln!(f, "or rerun the seed: ZK_PROP_SEED={} ZK_PROP_SEEDS=1", original.seed)?;
        write!(f, "{}", self.stats)
    }
}

impl std::error::Error for Failure {}

fn faults(plan: &FaultPlan) -> String {
    match plan.len() {
        1 => "1 fault".to_owned(),
        n => format!("{n} faults"),
    }
}

fn write_plan(f: &mut fmt::Formatter<'_>, plan: &FaultPlan) -> fmt::Result {
    if plan.is_empty() {
        return writeln!(f, "    (no fault)");
    }
    plan.iter().try_for_each(|fault| writeln!(f, "    {fault}"))
}

fn write_history(f: &mut fmt::Formatter<'_>, history: &History) -> fmt::Result {
    let entries = history.entries();
    if entries.is_empty() {
        return writeln!(f, "    (nothing recorded)");
    }
    let (head, tail) = if entries.len() <= MAX_HISTORY_LINES {
        (entries, &entries[entries.len()..])
    } else {
        let half = MAX_HISTORY_LINES / 2;
        (&entries[..half], &entries[entries.len() - half..])
    };
    head.iter().try_for_each(|e| writeln!(f, "    {e}"))?;
    if !tail.is_empty() {
        writeln!(f, "    ... {} entries left out ...", entries.len() - head.len() - tail.len())?;
        tail.iter().try_for_each(|e| writeln!(f, "    {e}"))?;
    }
    Ok(())
}
