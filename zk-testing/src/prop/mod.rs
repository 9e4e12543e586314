//! Property-testing your coordination code: run a scenario under many drawn fault plans,
//! check what its participants observed, and shrink a failing plan to the few faults that
//! matter.
//!
//! # Property-testing your coordination code
//!
//! A property test here has four parts, all deterministic on tokio's paused clock, so a
//! failure replays exactly from its seed and plan:
//!
//! 1. **Fault plans.** A [`FaultPlan`] lists faults at virtual times ("at 4s: expire client
//!    1"), aimed at participants by index rather than session id. The runner draws one per
//!    seed from a [`FaultPlanConfig`] (how many faults, which kinds, how long, how many
//!    participants); the scenario applies it to its own participants with
//!    [`FaultPlan::apply`], beside its work (`tokio::join!`).
//! 2. **Recording.** Each participant records what it observed into a shared
//!    [`Recorder`](crate::check::Recorder): an operation's invocation before sending it and
//!    its return after the reply ([`Outcome::Ambiguous`](crate::check::Outcome) for a
//!    `ConnectionLoss`: it may have been applied), a lock acquired or lost, a leadership
//!    gained or lost, a job delivered. The [`check`](crate::check) module lists the events.
//! 3. **Checking.** At the end the scenario hands the history to a checker and returns its
//!    verdict: [`mutual_exclusion`](crate::check::mutual_exclusion),
//!    [`one_leader`](crate::check::one_leader), [`at_most_once`](crate::check::at_most_once),
//!    [`counter_exact`](crate::check::counter_exact),
//!    [`linearizable`](crate::check::linearizable), ...
//! 4. **Running.** A [`Runner`] runs the [`Scenario`] for many seeds (100 by default, or
//!    `ZK_PROP_SEEDS`), each on a fresh [`TestServer`] seeded with the seed and with a plan
//!    drawn from it, on a paused runtime of its own thread: a minute of session timeouts
//!    costs milliseconds. A run that waits forever is stopped at a virtual-time limit, one
//!    that spins without yielding at a wall-time limit; both fail, as does a panic.
//!
//! A scenario is any `async fn` of this shape:
//!
//! ```text
//! async fn scenario(server: &TestServer, plan: &FaultPlan, recorder: &Recorder) -> Result<(), Violation>
//! ```
//!
//! # Shrinking
//!
//! A drawn plan that fails has a dozen faults, most of them beside the point. The runner
//! shrinks it, on the same seed: it runs the plan with one fault removed
//! ([`FaultPlan::without`]), for each fault, then with one fault's durations halved
//! ([`FaultPlan::shortened`]), keeps the first smaller plan that still fails, and starts
//! again from it, until no plan one step smaller fails (or 500 shrinking runs,
//! [`Runner::max_shrink_runs`]). "Still fails" means a broken invariant
//! ([`Violation::is_invariant`](crate::check::Violation::is_invariant)), a panic or a hang
//! in virtual time. A check that was inconclusive or could not read the history
//! (malformed), or a hang in wall time, fails the property but is not shrunk on: the first
//! says nothing about the plan, the second would leave a spinning thread behind per try.
//!
//! The [`Failure`] (its `Display` is what [`Runner::check`] panics with) gives the seed, the
//! original and the minimal plan in the plan's text form, the minimal run's verdict and
//! history, and the lines to replay it.
//!
//! # Replaying a printed plan
//!
//! Paste the minimal plan and the seed into a regression test; [`Runner::run_plan`] runs
//! that plan once on a server with that seed and returns the run's [`Report`]. `ZK_PROP_SEED`
//! (the first seed) and `ZK_PROP_SEEDS=1` rerun one seed of a property, with shrinking.
//!
//! # Examples
//!
//! Two clients increment a counter with compare-and-set, one increment a second, under drawn
//! faults; whatever the faults, the final value must be the successful increments plus some
//! of the ambiguous ones:
//!
//! ```
//! use std::time::Duration;
//! use zk_core::{Client, CreateMode, Error};
//! use zk_testing::check::{counter_exact, Op, Outcome, Participant, Recorder, Value, Violation};
//! use zk_testing::prop::Runner;
//! use zk_testing::{FaultPlan, FaultPlanConfig, TestServer};
//!
//! /// One compare-and-set increment, recorded; `Err` when the read failed.
//! async fn increment(zk: &Client, me: &Participant) -> Result<(), Error> {
//!     let (data, stat) = zk.get_data("/n").await?;
//!     let n: i64 = String::from_utf8_lossy(&data).parse().unwrap_or(0);
//!     let op = me.invoke(Op::add("/n", 1));
//!     let set = zk.set_data("/n", (n + 1).to_string().as_bytes(), Some(stat.version)).await;
//!     let outcome = match &set {
//!         Err(Error::BadVersion) => Outcome::Failed("lost the race".into()), // not applied
//!         other => Outcome::of(other, |_| Value::Done), // ConnectionLoss: ambiguous
//!     };
//!     me.returned(op, outcome);
//!     Ok(())
//! }
//!
//! async fn counter(server: &TestServer, plan: &FaultPlan, recorder: &Recorder) -> Result<(), Violation> {
//!     let clients = [server.client().await.unwrap(), server.client().await.unwrap()];
//!     clients[0].create("/n", b"0", CreateMode::Persistent).await.unwrap();
//!     let work = clients.iter().enumerate().map(|(i, zk)| async move {
//!         let me = recorder.participant(&format!("c{i}"));
//!         for _ in 0..10 {
//!             let _ = increment(zk, &me).await;
//!             tokio::time::sleep(Duration::from_secs(1)).await;
//!         }
//!     });
//!     tokio::join!(plan.apply(server, &clients), futures::future::join_all(work));
//!     // A new session reads the result: the plan may leave a participant cut off.
//!     let reader = server.client().await.unwrap();
//!     let (data, _) = reader.retrying().get_data("/n").await.unwrap();
//!     let last = String::from_utf8_lossy(&data).parse().unwrap_or(-1);
//!     counter_exact(&recorder.history(), "/n", 0, last)
//! }
//!
//! let plans = FaultPlanConfig { participants: 2, horizon: Duration::from_secs(10), ..FaultPlanConfig::default() };
//! let stats = Runner::new().seeds(5).config(plans).check(counter);
//! assert_eq!(stats.seeds, 5);
//! ```
//!
//! And a regression test for a plan a failure printed:
//!
//! ```
//! # use zk_testing::check::{Recorder, Violation};
//! # use zk_testing::{FaultPlan, TestServer};
//! # async fn counter(server: &TestServer, plan: &FaultPlan, _: &Recorder) -> Result<(), Violation> {
//! #     let zk = server.client().await.unwrap();
//! #     plan.apply(server, &[zk]).await;
//! #     Ok(())
//! # }
//! let plan: FaultPlan = "at 1.2s: expire client 0; at 3s: restart".parse()?;
//! let report = zk_testing::prop::Runner::new().run_plan(counter, 17, &plan);
//! assert!(report.passed(), "{report}");
//! # Ok::<(), zk_testing::ParsePlanError>(())
//! ```
//!
//! The example program `examples/property_test.rs` property-tests a small job scheduler
//! built on zk-recipes' `Election` this way, and with `--buggy` shows a planted bug caught
//! and its plan shrunk.
//!
//! With the `proptest` feature, `prop::plans(config)` is a proptest `Strategy` over plans
//! that shrinks the same way, for `proptest!` tests over plans.
//!
//! # Layout
//!
//! `scenario.rs`: the [`Scenario`] trait; `runner.rs`: the [`Runner`] and shrinking;
//! `exec.rs`: one run on its own thread and runtime, within its limits; `report.rs`:
//! [`Report`], [`Failure`], [`Stats`]; `strategy.rs`: the proptest strategy.

mod exec;
mod report;
mod runner;
mod scenario;
#[cfg(feature = "proptest")]
mod strategy;

#[cfg(doc)]
use crate::{FaultPlan, FaultPlanConfig, TestServer};

pub use report::{Failure, Report, ShrinkEnd, Shrinking, Stats, Verdict};
pub use runner::{Runner, DEFAULT_MAX_SHRINK_RUNS, DEFAULT_SEEDS, DEFAULT_VIRTUAL_LIMIT, DEFAULT_WALL_LIMIT};
pub use scenario::{scenario, Scenario, ScenarioFn};
#[cfg(feature = "proptest")]
pub use strategy::{plans, PlanStrategy, PlanTree};
