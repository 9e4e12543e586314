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
//! [`Outcome::of`] and [`Outcome::from_error`] classify zk-core results this way. The
//! checkers over histories follow in later changes; they all return [`Violation`].

mod event;
mod history;
mod violation;

pub use event::{Event, Leadership, LockChange, Op, OpId, Outcome, QueueStep, Value};
pub use history::{Entry, History, Participant, Recorder};
pub use violation::{Checker, Violation, ViolationKind};
