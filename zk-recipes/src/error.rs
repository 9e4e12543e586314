//! The one error type of zk-recipes.

/// What can go wrong in a recipe: a ZooKeeper error, or a condition of the recipe itself.
///
/// `Clone + Eq` so one failure can be handed to several waiters and compared in tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ZooKeeper operation failed (see [`zk_core::Error`]).
    #[error(transparent)]
    Zk(#[from] zk_core::Error),
    /// The session ended (expired, closed or authentication failed; the inner error says
    /// which) while a recipe waited or followed the server (for a lock, leadership, a queue
    /// item, a barrier, a cache or a stream). Nothing is held and the recipe's ephemeral
    /// nodes died with the session. Create a new client to go on.
    #[error("the session ended: {0}")]
    SessionEnded(zk_core::Error),
    /// The session ended while the lock (or leadership) was held, or its node is gone (a
    /// fenced write found it missing), or leadership was already lost when a fenced write
    /// was asked for: another participant may hold it now. Work done under the guard was not
    /// protected after that point.
    #[error("the lock or leadership was lost: its session ended or its node is gone")]
    LockLost,
    /// The session ended (or the client was closed) while a write was in flight, and whether
    /// it was applied can no longer be told: its reply was lost, and what would have told
    /// (an ephemeral receipt) died with the session. `what` names the write and what each
    /// outcome means.
    #[error("the session ended while {what} was in flight: it may have been applied")]
    MaybeApplied {
        /// The write, and what each outcome means.
        what: &'static str,
        /// The bytes at stake, if any: a queue item whose take may have been applied (then
        /// it is gone from the queue and only this error holds it) or may have been another
        /// consumer's. The caller chooses between processing it (perhaps twice) and dropping
        /// it (perhaps losing it).
        data: Option<Vec<u8>>,
    },
    /// Our own lock node disappeared while we were waiting for the lock (someone deleted it).
    #[error("our lock node {0} disappeared while waiting")]
    NodeVanished(String),
    /// A node holds bytes the recipe cannot read (for example a counter node whose data is
    /// not 4 or 8 bytes long). The node is left untouched.
    #[error("node {path} holds unreadable data: {reason}")]
    Malformed {
        /// The node's path.
        path: String,
        /// What is wrong with its data.
        reason: String,
    },
    /// An argument was rejected before anything was sent to the server (the text says why).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The recipe was closed (or its client closed) and can no longer be used.
    #[error("the recipe is closed")]
    Closed,
    /// A bounded retry or wait loop gave up (the text says which); see the operation's docs.
    #[error("gave up after too many attempts: {0}")]
    RetriesExhausted(&'static str),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the same operation may succeed if retried (a retryable ZooKeeper error such
    /// as connection loss).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Zk(e) if e.is_retryable())
    }

    /// True when the error says the session ended (expired, closed, or authentication
    /// rejected), however the recipe reports it: [`Error::SessionEnded`], [`Error::LockLost`],
    /// or a ZooKeeper session error. A client that renews its session (zk-core's default)
    /// carries on with a new one after an expiry; what the recipe held in the old one is gone.
    pub fn is_session_ended(&self) -> bool {
        match self {
            Error::SessionEnded(_) | Error::LockLost => true,
            Error::Zk(e) => e.is_terminal(),
            _ => false,
        }
    }

    /// Maps an error of a wait for the lock: the session's end becomes
    /// [`Error::SessionEnded`].
    pub(crate) fn while_waiting(e: zk_core::Error) -> Error {
        if e.is_terminal() {
            Error::SessionEnded(e)
        } else {
            Error::Zk(e)
        }
    }

    /// Maps an error of an operation on a held lock: the session's end becomes
    /// [`Error::LockLost`].
    pub(crate) fn while_holding(e: zk_core::Error) -> Error {
        if e.is_terminal() {
            Error::LockLost
        } else {
            Error::Zk(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_s_end_is_told_however_it_is_reported() {
        for e in [
            Error::SessionEnded(zk_core::Error::SessionExpired),
            Error::LockLost,
            Error::Zk(zk_core::Error::SessionExpired),
            Error::Zk(zk_core::Error::Closed),
        ] {
            assert!(e.is_session_ended(), "{e:?}");
        }
        for e in [Error::Zk(zk_core::Error::ConnectionLoss), Error::Closed, Error::NodeVanished("/n".into())]
        {
            assert!(!e.is_session_ended(), "{e:?}");
        }
    }
}
