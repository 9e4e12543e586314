//! What a [`DistributedQueue`](super::DistributedQueue), its consumers and their deliveries
//! share: the client, the paths and the name of item nodes (a leaf: it uses no other queue
//! module).

use zk_core::Client;

/// The name prefix of item nodes: `<path>/queue-<seq>` (Curator's `QUEUE_ITEM_NAME`).
pub const QUEUE_ITEM_PREFIX: &str = "queue-";
/// The child of the queue path used as lock path when none is given: `<path>/lock`.
pub const DEFAULT_LOCK_CHILD: &str = "lock";

/// What a queue's handles and consumers share.
#[derive(Debug)]
pub(crate) struct QueueShared {
    pub(crate) client: Client,
    pub(crate) path: String,
    pub(crate) lock_path: String,
}
