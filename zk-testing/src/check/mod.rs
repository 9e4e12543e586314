//! Histories and checkers: record what each participant of a test observed, then decide
//! with a pure function whether the history breaks an invariant.
//!
//! # Recording
//!
//! A [`Recorder`] is one totally ordered log shared by every task of a test (a cheap
//! `Clone`, `Send + Sync`); [`Recorder::participant`] gives each client, lock holder or
//! consumer a [`Participant`] handle that records under its name. Each [`Entry`] gets a
//! sequence number (`seq`, the order of recording), the time since the recorder was created
//! on tokio's clock (virtual under a paused clock), the participant, an optional zxid and the
//! [`Event`]. **The recording order is the real-time order** the checkers rely on, so record
//! an invocation *before* sending the request and its return *after* the reply arrived; then
//! the operation's real effect lies between the two entries.
//!
//! | event | meaning |
//! |---|---|
//! | [`Event::Invoke`] | an operation ([`Op`]: get, set, compare-and-set, create, delete on a znode; add to a counter) starts; the entry's `seq` is its [`OpId`] |
//! | [`Event::Return`] with [`Outcome::Ok`] | it returned this [`Value`]; `NoNode`, `NodeExists` and `BadVersion` are answers too |
//! | [`Outcome::Failed`] | it definitely was not applied and its error says nothing about the state (NoAuth, bad arguments, ...) |
//! | [`Outcome::Ambiguous`] (or no return at all) | it may or may not have been applied: `ConnectionLoss`, a lost reply, a session expired with it in flight |
//! | [`Event::Lock`] | [`LockChange`]: the participant acquired, released, was suspended from (connection lost) or lost (session expired) a named lock or semaphore lease |
//! | [`Event::Election`] | [`Leadership`]: it became leader, stepped down, was suspended or lost leadership of a named election |
//! | [`Event::Queue`] | [`QueueStep`]: an item id was put (or maybe put), delivered to a consumer, acked by it |
//!
//! [`Outcome::of`] and [`Outcome::from_error`] classify zk-core results this way.
//!
//! # Checkers
//!
//! Every checker is a pure function returning `Result<(), Violation>`; a [`Violation`] names
//! the [`Checker`], says whether the invariant broke or the history was unfit
//! ([`ViolationKind`]), lists the first entries involved and explains in a paragraph.
//!
//! - [`mutual_exclusion`], [`at_most_holders`]: per lock name, at most 1 (N) participants
//!   between an `Acquired` and their next `Released`, `Suspended` or `Lost`.
//! - [`one_leader`]: per election, the intervals from `Leader` to the next `NotLeader`,
//!   `Suspended` or `Lost` of two participants never overlap.
//! - [`at_most_once`] (no item delivered twice), [`at_least_once`] (every put item acked),
//!   [`exactly_once`] (every put item acked once, maybe-put items at most once); all three
//!   also require every delivered item to have been put and every ack to follow a delivery.
//! - [`counter_exact`]: the counter's change is the sum of the adds that succeeded plus the
//!   sum of some subset of the ambiguous ones.
//! - [`cache_converged`]: a cache's final [`TreeData`] equals the server's
//!   ([`tree_data`] cuts one out of [`TestServer::tree`](crate::TestServer::tree)).
//! - [`linearizable`]: there is one order of the register operations, consistent with real
//!   time, in which each returns what it returned, on each znode modelled as
//!   `Option<(data, version)>` (Wing & Gong's search with Lowe's memoization and
//!   just-in-time linearization, one znode at a time).
//!
//! Ambiguous operations are treated as what they are: applied once at some point after
//! their invocation, or never. Linearizability lets them take effect anywhere after the
//! invocation (or not at all); the counter lets each count or not. An operation that never
//! returned is ambiguous; a failed one is left out.
//!
//! # Examples
//!
//! Two clients write and read a znode while the server loses some replies; the history must
//! be linearizable however the faults fall.
//!
//! ```
//! use zk_core::CreateMode;
//! use zk_testing::check::{linearizable, Op, Outcome, Recorder, Value};
//! use zk_testing::{Chaos, TestServer};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TestServer::builder().no_tcp().seed(3).start().await?;
//! let recorder = Recorder::new();
//! let setup = server.client().await?;
//! let p = recorder.participant("setup");
//! let op = p.invoke(Op::create("/r", b"0"));
//! let created = setup.create("/r", b"0", CreateMode::Persistent).await;
//! p.returned(op, Outcome::of(&created, |_| Value::Done));
//!
//! server.set_chaos(Some(Chaos { lose_reply: 0.3, ..Chaos::default() }));
//! let mut tasks = Vec::new();
//! for name in ["a", "b"] {
//!     let (zk, p) = (server.client().await?, recorder.participant(name));
//!     tasks.push(tokio::spawn(async move {
//!         for i in 0..5 {
//!             let data = format!("{name}{i}");
//!             let op = p.invoke(Op::set("/r", data.as_bytes(), None));
//!             let set = zk.set_data("/r", data.as_bytes(), None).await;
//!             p.returned(op, Outcome::of(&set, |stat| Value::Version(stat.version)));
//!             let op = p.invoke(Op::get("/r"));
//!             let got = zk.get_data("/r").await;
//!             p.returned(op, Outcome::of(&got, |(data, stat)| {
//!                 Value::Node { data: data.clone(), version: stat.version }
//!             }));
//!         }
//!     }));
//! }
//! for t in tasks {
//!     t.await?;
//! }
//! let history = recorder.history();
//! if let Err(violation) = linearizable(&history) {
//!     panic!("{violation}\n\nhistory:\n{history}");
//! }
//! # Ok(())
//! # }
//! ```

mod cache;
mod counter;
mod delivery;
mod event;
mod exclusion;
mod history;
mod linear;
mod ops;
mod violation;

pub use cache::{cache_converged, tree_data, TreeData};
pub use counter::counter_exact;
pub use delivery::{at_least_once, at_most_once, exactly_once};
pub use event::{Event, Leadership, LockChange, Op, OpId, Outcome, QueueStep, Value};
pub use exclusion::{at_most_holders, mutual_exclusion, one_leader};
pub use history::{Entry, History, Participant, Recorder};
pub use linear::{linearizable, linearizable_with, LinearizabilityOptions};
pub use violation::{Checker, Violation, ViolationKind};
