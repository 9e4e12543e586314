//! The one life cycle of the recipe handles that keep something alive in a background task
//! ([`LeaderLatch`](crate::LeaderLatch), the caches, [`PersistentNode`](crate::persistent_node::PersistentNode),
//! [`GroupMember`](crate::group::GroupMember)): `new`, options, `start()`, then `close()` or
//! drop. See the crate docs, "One shape for every handle".

use crate::error::{Error, Result};

/// Where such a handle is: built, running its task `T`, or closed for good.
#[derive(Debug, Default)]
pub(crate) enum Lifecycle<T> {
    /// Built, not started: nothing exists on the server yet.
    #[default]
    New,
    /// Started: the task runs (or ran, if it stopped by itself).
    Running(T),
    /// Closed: it cannot be started again.
    Closed,
}

impl<T> Lifecycle<T> {
    /// Starts the task with `spawn` if the handle was not started yet; does nothing while it
    /// runs.
    ///
    /// # Errors
    /// [`Error::Closed`] once closed.
    pub(crate) fn start(&mut self, spawn: impl FnOnce() -> T) -> Result<()> {
        match self {
            Lifecycle::New => {
                *self = Lifecycle::Running(spawn());
                Ok(())
            }
            Lifecycle::Running(_) => Ok(()),
            Lifecycle::Closed => Err(Error::Closed),
        }
    }

    /// Takes the running task out to be replaced (a rejoin or rebuild with a new client),
    /// leaving the handle as if not started; `Err(Closed)` once closed.
    pub(crate) fn restart(&mut self) -> Result<Option<T>> {
        match std::mem::take(self) {
            Lifecycle::Running(t) => Ok(Some(t)),
            Lifecycle::New => Ok(None),
            Lifecycle::Closed => {
                *self = Lifecycle::Closed;
                Err(Error::Closed)
            }
        }
    }

    /// Closes for good, returning the task if one ran. Idempotent.
    pub(crate) fn close(&mut self) -> Option<T> {
        match std::mem::replace(self, Lifecycle::Closed) {
            Lifecycle::Running(t) => Some(t),
            Lifecycle::New | Lifecycle::Closed => None,
        }
    }
}
