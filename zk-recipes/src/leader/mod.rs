//! Leader election recipes, laid out as Apache Curator lays them out.
//!
//! - [`LeaderLatch`]: join once, learn through a [`LatchEvents`] stream when this participant
//!   becomes or stops being the leader (Curator's `LeaderLatch`, nodes
//!   `<path>/_c_<uuid>-latch-<seq>`).

mod election;
mod latch;
mod standby;

pub use election::{Election, LeaderStream, LeaderToken, Leadership, LossPolicy, LostReason};
pub use latch::{ConnectionPolicy, LatchEvent, LatchEvents, LeaderLatch, LATCH_NAME};
pub use standby::{run_while_leader, Standby, StandbyReport, Term, TermEnd};
