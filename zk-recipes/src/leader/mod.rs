//! Leader election recipes, laid out as Apache Curator lays them out.
//!
//! - [`LeaderLatch`]: join once, learn through a [`LatchEvents`] stream when this participant
//!   becomes or stops being the leader (Curator's `LeaderLatch`, nodes
//!   `<path>/_c_<uuid>-latch-<seq>`).
//! - [`Election`] (`election.rs`): campaign for a [`Leadership`], a term that ends when lost or
//!   resigned; its fenced writes ([`Leadership::fenced`], [`LeaderToken::fenced`]) apply only
//!   while the term's node stands (Curator's `LeaderSelector`, nodes
//!   `<path>/_c_<uuid>-lock-<seq>`).
//! - [`Standby`], [`run_while_leader`] (`standby.rs`): run a task during each term, over and
//!   over, through lost leaderships and expired sessions.

mod election;
mod latch;
mod standby;

pub use election::{Election, LeaderStream, LeaderToken, Leadership, LostReason};
pub use latch::{LatchEvent, LatchEvents, LeaderLatch, LATCH_NAME};
pub use standby::{run_while_leader, Standby, StandbyReport, Term, TermEnd};

/// When a leader considers its leadership lost on connection trouble: Curator's
/// `ConnectionStateErrorPolicy`, shared by [`LeaderLatch::with_policy`] and
/// [`Election::with_policy`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionPolicy {
    /// Curator's `StandardConnectionStateErrorPolicy`, the default: on **Disconnected** the
    /// leader must assume it is no longer leader (the session may be expiring unseen) until
    /// **Reconnected** confirms its node still stands.
    ///
    /// - [`LeaderLatch`]: [`LatchEvent::Suspended`] then [`LatchEvent::NotLeader`];
    ///   [`LatchEvent::Lost`] once the session timeout passed without contact. On reconnect
    ///   (same session) the latch looks again and reports [`LatchEvent::Elected`] if its node
    ///   is still first: same node, same fencing token.
    /// - [`Election`]: the [`Leadership`] is lost at once ([`LostReason::Disconnected`]) and
    ///   stays lost: resign and campaign again.
    #[default]
    Standard,
    /// Curator's `SessionConnectionStateErrorPolicy`: leadership is lost only when the
    /// session may have expired (LOST: the session timeout passed without contact, or the
    /// server said it expired), ends, or our node is deleted; a disconnect that ends in a
    /// reconnect of the same session before that changes nothing. A partitioned leader may
    /// then overlap with its successor until the session timeout has passed on its side.
    SessionBased,
}
