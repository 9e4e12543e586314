//! Integration tests of `PersistentNode`, `GroupMember` and the barriers: the embedded server
//! on a paused clock, and the key scenarios on both backends.

mod barrier;
mod group;
mod on_backends;
mod persistent_node;
#[path = "../support/mod.rs"]
mod support;

pub(crate) use support::{client, eventually, server, settle, within};

use futures::StreamExt;
use zk_recipes::group::{Members, MembersStream};
use zk_testing::TestServer;

/// The ephemeral owner of `path` on the server, if the node exists.
pub(crate) fn owner(server: &TestServer, path: &str) -> Option<i64> {
    server.node(path).map(|n| n.stat.ephemeral_owner)
}

/// The next snapshot from `stream` that satisfies `cond`, or a panic naming `what` after
/// `secs` seconds.
pub(crate) async fn until(
    stream: &mut MembersStream,
    secs: u64,
    what: &str,
    cond: impl Fn(&Members) -> bool,
) -> Members {
    within(secs, what, async {
        loop {
            let m = stream.next().await.expect("the stream goes on").expect("the group is followed");
            if cond(&m) {
                return m;
            }
        }
    })
    .await
}
