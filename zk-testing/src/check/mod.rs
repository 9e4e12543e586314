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
//!
//! Ambiguous operations are treated as what they are: applied once at some point after
//! their invocation, or never; the counter lets each count or not. An operation that never
//! returned is ambiguous; a failed one is left out.

mod cache;
mod counter;
mod delivery;
mod event;
mod exclusion;
mod history;
mod ops;
mod violation;

pub use cache::{cache_converged, tree_data, TreeData};
pub use counter::counter_exact;
pub use delivery::{at_least_once, at_most_once, exactly_once};
pub use event::{Event, Leadership, LockChange, Op, OpId, Outcome, QueueStep, Value};
pub use exclusion::{at_most_holders, mutual_exclusion, one_leader};
pub use history::{Entry, History, Participant, Recorder};
pub use violation::{Checker, Violation, ViolationKind};
