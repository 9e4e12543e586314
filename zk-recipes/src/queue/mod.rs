//! Distributed queues: Curator's `DistributedQueue` layout and ZooKeeper's classic
//! `SimpleDistributedQueue`.
//!
//! - [`DistributedQueue`]: items are persistent-sequential nodes `<path>/queue-<seq>` whose
//!   data is Curator's `ItemSerializer` framing, so Curator producers and consumers (with a
//!   byte-array serializer) share a queue with ours. `put`, `put_many` (several items in one
//!   node, atomically), and two consumers, both [`Stream`](futures::Stream)s in sequence
//!   order: [`AtMostOnce`] (delete, then deliver) and [`AtLeastOnce`] (lock with an ephemeral
//!   `<lock path>/queue-<seq>`, deliver a [`Delivery`] guard, delete on
//!   [`Delivery::ack`]; a dropped guard or a dead consumer gives the item back).
//! - [`SimpleDistributedQueue`]: ZooKeeper's recipe (and Curator's drop-in replacement):
//!   raw data in `<path>/qn-<seq>`; `offer`, `poll`, `peek`, `take`, `take_timeout`.
//!
//! Both wait on children watches when there is nothing to take, never by polling.
//!
//! Taking an item without a lock (at-most-once, `poll`, `take`) is one transaction with
//! the creation of an ephemeral receipt, `<lock path>/taken-<uuid>` (`<path>/taken-<uuid>` for
//! the simple queue), deleted right after. When the reply of a take is lost with the
//! connection, the receipt tells whether the take was applied, so no item is lost or
//! delivered twice. Curator's consumers list only `queue-`/`qn-` nodes and ignore receipts.
//!
//! # Session expiry
//!
//! On a client that renews its session (zk-core's default), consumers carry on on the new
//! session: the [`AtLeastOnce`] and [`AtMostOnce`] streams keep yielding, and the locks of
//! the old session died with it, so an item held then is given back and delivered again (to
//! this consumer or another); its old [`Delivery`] can no longer delete it: `ack` is fenced
//! by the lock and says [`Error::LockLost`](crate::Error::LockLost). No item is lost, and
//! none is dropped silently:
//!
//! - a take (at-most-once, `poll`, `take`) cut by the expiry is settled on the new session
//!   when its item is still there; when the item is gone, the take may have been applied and
//!   the receipt that would tell died with the session: the call returns (the stream yields)
//!   [`Error::MaybeApplied`](crate::Error::MaybeApplied) holding the item's bytes, for the
//!   caller to process or drop; a take dropped by its caller is put back at the tail then;
//! - an `ack` (or `requeue`) cut by the expiry reads the item node on the new session: gone,
//!   the ack is `Ok`; still there, it was not applied and the item was given back
//!   ([`Error::LockLost`](crate::Error::LockLost)).
//!
//! A client that ends with its session ([`OnExpiry::End`](zk_core::OnExpiry::End)) ends the
//! consumers with [`Error::SessionEnded`](crate::Error::SessionEnded) instead.
//!
//! # Layout
//!
//! | queue | item node | data | lock |
//! |---|---|---|---|
//! | [`DistributedQueue`] | `<path>/queue-<seq>` (path persistent) | `00 01 00 01`, then `01 <len:i32 BE> <bytes>` per item, then `02` | `<lock path>/queue-<seq>`, ephemeral, lock path `<path>/lock` by default |
//! | [`SimpleDistributedQueue`] | `<path>/qn-<seq>` (path a container) | the item's bytes | none |

mod codec;
mod common;
mod consumer;
mod delivery;
mod distributed;
mod shared;
mod simple;

pub use consumer::{AtLeastOnce, AtMostOnce, QueueItem};
pub use delivery::Delivery;
pub use distributed::DistributedQueue;
pub use shared::{DEFAULT_LOCK_CHILD, QUEUE_ITEM_PREFIX};
pub use simple::{SimpleDistributedQueue, SIMPLE_ITEM_PREFIX};
