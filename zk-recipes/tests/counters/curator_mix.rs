//! Byte-layout interop with real Apache Curator (Debian's `libcurator-*-java` 5.4, running
//! `CuratorCount.java`), on both backends: Curator's `SharedCount` and
//! `DistributedAtomicLong` read the values we wrote, then Curator and we increment the same
//! two counters concurrently, and both totals are exact (each side reads what the other
//! wrote, or an increment would be lost or fail to parse).
//!
//! A missing Java or Curator fails the test with the command that installs them.

use std::time::Duration;

use zk_recipes::counter::{DistributedAtomicLong, SharedCount};
use zk_testing::java::{self, INSTALL_HINT};
use zk_testing::Backend;

use crate::atomic_long::contended_policy;
use crate::{increment, within};

zk_testing::both_backends!(worker_threads = 4; curator_reads_ours_and_we_read_curators);

/// Increments per side and counter.
const INCREMENTS: i64 = 50;
/// Written by us before Curator reads it (needs all 8 bytes).
const LONG_START: i64 = (1 << 40) + 5;
const SHARED_START: i32 = -7;

async fn curator_reads_ours_and_we_read_curators(b: &Backend) {
    let classpath = crate::support::curator_program("counters/CuratorCount.java", "CuratorCount").await;
    let root = b.create_root("counters-curator").await;
    let client = b.client().await;
    let shared = SharedCount::new(client.clone(), &format!("{root}/shared"), 0).unwrap();
    let long = DistributedAtomicLong::new(client.clone(), &format!("{root}/long"))
        .unwrap()
        .with_policy(contended_policy());
    shared.set(SHARED_START).await.unwrap();
    long.force_set(LONG_START).await.unwrap();

    let mut jvm = java::jvm(&classpath, "CuratorCount").unwrap_or_else(|e| panic!("{e}"));
    jvm.args([b.connect_string(), root.clone(), INCREMENTS.to_string()]);
    let run = tokio::spawn(java::run(jvm, None, Duration::from_secs(60)));

    // Curator creates <root>/go once it has read both values.
    let go = format!("{root}/go");
    within(45, "Curator's go node", async {
        while client.exists(&go).await.expect("exists").is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    for _ in 0..INCREMENTS {
        increment(&shared).await;
        assert!(long.increment().await.expect("increment").succeeded);
    }
    let out =
        run.await.expect("the JVM task").unwrap_or_else(|e| panic!("CuratorCount: {e}; {INSTALL_HINT}"));
    assert!(
        out.status.success() && out.stdout.contains("DONE"),
        "{}: CuratorCount failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        b.name(),
        out.status,
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains(&format!("SHARED {SHARED_START}\n")), "{}: {}", b.name(), out.stdout);
    assert!(out.stdout.contains(&format!("LONG {LONG_START}\n")), "{}: {}", b.name(), out.stdout);
    assert_eq!(shared.get().await.unwrap(), SHARED_START + 2 * INCREMENTS as i32, "{}", b.name());
    assert_eq!(long.get().await.unwrap(), LONG_START + 2 * INCREMENTS, "{}", b.name());
    client.close().await;
}
