//! Integration tests of the counters (`SharedCount`, `DistributedAtomicLong`): the embedded
//! server on a paused clock, the key scenarios on both backends, and interop with Curator.

mod atomic_long;
mod curator_mix;
mod on_backends;
mod shared_count;
#[path = "../support/mod.rs"]
mod support;

pub(crate) use support::{client, server, within};

use zk_recipes::counter::SharedCount;
use zk_testing::TestServer;

/// The raw data of `path` as the server holds it.
pub(crate) fn raw(server: &TestServer, path: &str) -> Option<Vec<u8>> {
    server.node(path).and_then(|n| n.data)
}

/// Increments `count` once by compare-and-set, retrying lost races (bounded); returns the
/// attempts it took.
pub(crate) async fn increment(count: &SharedCount) -> u32 {
    for attempt in 1..=10_000 {
        let seen = count.versioned().await.expect("read");
        if count.try_set(&seen, seen.value + 1).await.expect("try_set") {
            return attempt;
        }
    }
    panic!("no increment in 10000 attempts");
}
