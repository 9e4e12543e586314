//! Byte compatibility with real Apache Curator (Debian's `libcurator-*-java` 5.4, running
//! `CuratorQueue.java`), on both backends: Curator's `put` and `putMulti` items are consumed
//! by our at-least-once consumer, and our `put` and `put_many` items by Curator's consumer in
//! its lock-path mode, on the same queue path and the same lock path (`<path>/lock`).
//!
//! A missing Java or Curator fails the test with the command that installs them.

use std::time::Duration;

use futures::StreamExt;
use zk_recipes::queue::DistributedQueue;
use zk_testing::java;
use zk_testing::Backend;

zk_testing::both_backends!(curator_and_us_share_a_queue);

/// The JVM is killed (by PID) if it runs longer; its own watchdog fires at 40 s.
const JVM_TIMEOUT: Duration = Duration::from_secs(45);
/// Items each side puts one by one (plus a two-item multi node).
const COUNT: usize = 5;

/// Runs `CuratorQueue` with `args` and returns its stdout; fails the test unless it ends
/// with "DONE".
async fn curator(b: &Backend, args: &[&str]) -> String {
    let classpath = crate::support::curator_program("queue/CuratorQueue.java", "CuratorQueue").await;
    let mut jvm = java::jvm(&classpath, "CuratorQueue").unwrap_or_else(|e| panic!("{e}"));
    jvm.arg(b.connect_string()).args(args);
    let out = java::run(jvm, None, JVM_TIMEOUT).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success() && out.stdout.lines().any(|l| l == "DONE"),
        "{}: CuratorQueue {args:?} failed ({}):\n{}\n{}",
        b.name(),
        out.status,
        out.stdout,
        out.stderr
    );
    out.stdout
}

async fn curator_and_us_share_a_queue(b: &Backend) {
    let path = format!("{}/queue", b.create_root("queue-curator-mix").await);
    let lock_path = format!("{path}/lock");
    let zk = b.client().await;
    let queue = DistributedQueue::new(zk.clone(), &path).unwrap();
    assert_eq!(queue.lock_path(), lock_path);

    // Curator produces, we consume (at least once, with Curator's lock layout).
    curator(b, &[&path, &lock_path, "produce", &COUNT.to_string()]).await;
    let mut expected: Vec<Vec<Vec<u8>>> =
        (0..COUNT).map(|i| vec![format!("curator-{i}").into_bytes()]).collect();
    expected.push(vec![b"curator-m0".to_vec(), b"curator-m1".to_vec()]);
    let mut deliveries = queue.at_least_once();
    for want in &expected {
        let d = tokio::time::timeout(Duration::from_secs(10), deliveries.next())
            .await
            .expect("a delivery in time")
            .unwrap()
            .unwrap();
        assert_eq!(d.items(), want.as_slice(), "{}", b.name());
        assert!(d.node().starts_with(&format!("{path}/queue-")));
        d.ack().await.unwrap();
    }
    drop(deliveries);
    assert_eq!(queue.node_count().await.unwrap(), 0);

    // We produce, Curator consumes (its lock-path mode).
    for i in 0..COUNT {
        queue.put(format!("ours-{i}").as_bytes()).await.unwrap();
    }
    queue.put_many(&[&b"ours-m0"[..], b"ours-m1"]).await.unwrap();
    let stdout = curator(b, &[&path, &lock_path, "consume", &(COUNT + 2).to_string()]).await;
    let got: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("GOT ")).collect();
    let mut want: Vec<String> = (0..COUNT).map(|i| format!("ours-{i}")).collect();
    want.extend(["ours-m0".to_owned(), "ours-m1".to_owned()]);
    let mut sorted = got.clone();
    sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(sorted, want_sorted, "{}: Curator consumed {got:?}", b.name());
    let m0 = got.iter().position(|g| *g == "ours-m0").unwrap();
    assert_eq!(got.get(m0 + 1), Some(&"ours-m1"), "a put_many node's items stay in order");
    assert_eq!(queue.node_count().await.unwrap(), 0, "{}", b.name());
    assert_eq!(zk.get_children(&lock_path).await.unwrap(), Vec::<String>::new());
    zk.close().await;
}
