//! `SharedCount` on the embedded server.

use std::time::Duration;

use futures::StreamExt;
use zk_core::CreateMode;
use zk_recipes::counter::{SharedCount, VersionedValue};
use zk_recipes::Error;

use crate::{client, increment, raw, server, within};

#[tokio::test(start_paused = true)]
async fn eight_sessions_hundred_increments_exact_total() {
    let server = server(11).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let count = SharedCount::new(client(&server).await, "/counters/shared", 0).unwrap();
        tasks.push(tokio::spawn(async move {
            let mut retries = 0;
            for _ in 0..100 {
                retries += increment(&count).await - 1;
            }
            retries
        }));
    }
    let mut lost_races = 0;
    for t in tasks {
        lost_races += t.await.unwrap();
    }
    let reader = SharedCount::new(client(&server).await, "/counters/shared", 0).unwrap();
    assert_eq!(reader.get().await.unwrap(), 800);
    assert_eq!(raw(&server, "/counters/shared"), Some(800i32.to_be_bytes().to_vec()));
    // The sessions really contended (some compare-and-sets failed and were retried).
    assert!(lost_races > 0, "no contention at all");
}

#[tokio::test(start_paused = true)]
async fn stale_compare_and_set_fails() {
    let server = server(12).await;
    let a = SharedCount::new(client(&server).await, "/c", 5).unwrap();
    let b = SharedCount::new(client(&server).await, "/c", 99).unwrap();
    let seen = a.versioned().await.unwrap();
    assert_eq!(seen, VersionedValue { version: 0, value: 5 }, "created with a's seed");
    assert_eq!(b.get().await.unwrap(), 5, "b's seed does not overwrite");
    let b_seen = b.versioned().await.unwrap();
    assert!(b.try_set(&b_seen, 6).await.unwrap());
    assert!(!a.try_set(&seen, 7).await.unwrap(), "a stale version must fail");
    assert_eq!(a.get().await.unwrap(), 6);
    let fresh = a.versioned().await.unwrap();
    assert_eq!(fresh.version, 1);
    assert!(a.try_set(&fresh, 7).await.unwrap());
    // set() is unconditional; a deleted node fails try_set, and set() re-creates it.
    a.set(-3).await.unwrap();
    assert_eq!(raw(&server, "/c"), Some(vec![0xff, 0xff, 0xff, 0xfd]));
    let before_delete = a.versioned().await.unwrap();
    b.set(0).await.unwrap();
    client(&server).await.delete("/c", None).await.unwrap();
    assert!(!a.try_set(&before_delete, 1).await.unwrap());
    a.set(42).await.unwrap();
    assert_eq!(b.get().await.unwrap(), 42);
}

#[tokio::test(start_paused = true)]
async fn golden_bytes_and_malformed_data() {
    let server = server(13).await;
    let c = client(&server).await;
    // Bytes as Curator's SharedCount writes 258: ByteBuffer.putInt, big-endian.
    c.create("/golden", &[0, 0, 1, 2], CreateMode::Persistent).await.unwrap();
    let golden = SharedCount::new(c.clone(), "/golden", 0).unwrap();
    assert_eq!(golden.get().await.unwrap(), 258);
    golden.set(0x0a0b_0c0d).await.unwrap();
    assert_eq!(raw(&server, "/golden"), Some(vec![0x0a, 0x0b, 0x0c, 0x0d]));

    for (i, bad) in [&b""[..], b"12345", b"xyz", &[0u8; 8]].into_iter().enumerate() {
        let path = format!("/bad{i}");
        c.create(&path, bad, CreateMode::Persistent).await.unwrap();
        let count = SharedCount::new(c.clone(), &path, 0).unwrap();
        match count.get().await {
            Err(Error::Malformed { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{bad:?}: expected Malformed, got {other:?}"),
        }
        assert_eq!(raw(&server, &path).unwrap_or_default(), bad.to_vec(), "left untouched");
    }
    assert!(matches!(SharedCount::new(c.clone(), "no-slash", 0), Err(Error::Zk(_))));
    assert!(matches!(SharedCount::new(c, "/", 0), Err(Error::InvalidArgument(_))));
}

#[tokio::test(start_paused = true)]
async fn change_stream_sees_other_sessions() {
    let server = server(14).await;
    // A client that ends with its session, so that the stream ends with it (on a renewing
    // client it carries on: `the_change_stream_carries_on_on_a_new_session`).
    let ending = server.client_builder().on_expiry(zk_core::OnExpiry::End).connect().await.unwrap();
    let watcher = SharedCount::new(ending, "/watched", 1).unwrap();
    let writer = SharedCount::new(client(&server).await, "/watched", 1).unwrap();
    writer.set(1).await.unwrap();
    let mut changes = watcher.changes();
    let first = within(5, "first value", changes.next()).await.unwrap().unwrap();
    assert_eq!(first.value, 1);
    for v in [2, 3, 10] {
        writer.set(v).await.unwrap();
        let seen = within(5, "a change", changes.next()).await.unwrap().unwrap();
        assert_eq!(seen.value, v);
    }
    // Deleted and re-created by someone else: the stream goes on with the new node.
    let other = client(&server).await;
    other.delete("/watched", None).await.unwrap();
    other.create("/watched", &77i32.to_be_bytes(), CreateMode::Persistent).await.unwrap();
    let seen = within(5, "the re-created node", changes.next()).await.unwrap().unwrap();
    assert_eq!(seen, VersionedValue { version: 0, value: 77 });
    // Malformed data is reported, and the stream continues.
    other.set_data("/watched", b"bad", None).await.unwrap();
    let bad = within(5, "a malformed value", changes.next()).await.unwrap();
    assert!(matches!(bad, Err(Error::Malformed { .. })), "{bad:?}");
    writer.set(5).await.unwrap();
    assert_eq!(within(5, "a change", changes.next()).await.unwrap().unwrap().value, 5);
    // The session of the watching client expires: an error item, then the end.
    let watcher_session = server.sessions().into_iter().map(|s| s.id).min().unwrap();
    assert!(server.expire_session(watcher_session));
    let end = within(60, "the session's end", changes.next()).await.unwrap();
    assert!(matches!(end, Err(Error::SessionEnded(_))), "{end:?}");
    assert!(within(5, "the stream ends", changes.next()).await.is_none());
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// On a client that renews its session (the default) the change stream carries on across an
/// expiry: no error item, and the changes made on the new session are seen.
#[tokio::test(start_paused = true)]
async fn the_change_stream_carries_on_on_a_new_session() {
    let server = server(15).await;
    let watching = client(&server).await;
    let watcher = SharedCount::new(watching.clone(), "/carry", 1).unwrap();
    let writer = SharedCount::new(client(&server).await, "/carry", 1).unwrap();
    writer.set(1).await.unwrap();
    let mut changes = watcher.changes();
    assert_eq!(within(5, "first value", changes.next()).await.unwrap().unwrap().value, 1);
    assert!(server.expire_session(watching.session_id()));
    writer.set(2).await.unwrap();
    let seen = within(60, "a change after the expiry", changes.next()).await.unwrap().unwrap();
    assert_eq!(seen.value, 2);
    assert_eq!(watching.status().epoch, 1, "on the client's new session");
    writer.set(3).await.unwrap();
    assert_eq!(within(5, "the next change", changes.next()).await.unwrap().unwrap().value, 3);
}
