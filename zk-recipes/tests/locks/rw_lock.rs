//! InterProcessReadWriteLock: shared readers, exclusive writer, no writer starvation,
//! downgrade, Curator's layout, cancellation and expiry.

use std::time::Duration;

use zk_recipes::layout::{rw_sort_key, sort_rw_nodes, READ_LOCK_NAME, WRITE_LOCK_NAME};
use zk_recipes::{Error, InterProcessReadWriteLock, LockStatus};

use crate::{client, nodes_of, server, settle};

async fn rw(server: &zk_testing::TestServer, path: &str) -> InterProcessReadWriteLock {
    InterProcessReadWriteLock::new(client(server).await, path).unwrap()
}

#[tokio::test(start_paused = true)]
async fn three_readers_hold_at_once_and_exclude_writers() {
    let server = server(41).await;
    let (a, b, c, w) = (
        rw(&server, "/rw/r").await,
        rw(&server, "/rw/r").await,
        rw(&server, "/rw/r").await,
        rw(&server, "/rw/r").await,
    );
    let ra = a.read_lock().acquire().await.unwrap();
    let rb = tokio::time::timeout(Duration::from_secs(1), b.read_lock().acquire()).await.unwrap().unwrap();
    let rc = c.read_lock().try_acquire().await.unwrap().expect("readers share");
    assert!(a.read_lock().is_held() && b.read_lock().is_held() && c.read_lock().is_held());
    assert!(!ra.is_write());
    assert_eq!(server.children("/rw/r").len(), 3);
    assert!(w.write_lock().try_acquire().await.unwrap().is_none());
    assert_eq!(server.children("/rw/r").len(), 3, "the failed try left no node");
    for g in [ra, rb, rc] {
        g.release().await.unwrap();
    }
    let gw = w.write_lock().try_acquire().await.unwrap().expect("free");
    assert!(gw.is_write());
    gw.release().await.unwrap();
    assert!(server.children("/rw/r").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_writer_excludes_readers_and_writers() {
    let server = server(42).await;
    let (a, b) = (rw(&server, "/rw/w").await, rw(&server, "/rw/w").await);
    let g = a.write_lock().acquire().await.unwrap();
    assert_eq!(g.status(), LockStatus::Held);
    assert!(b.read_lock().try_acquire().await.unwrap().is_none());
    assert!(b.write_lock().try_acquire().await.unwrap().is_none());
    assert!(b.read_lock().acquire_timeout(Duration::from_secs(3)).await.unwrap().is_none());
    settle().await;
    assert_eq!(server.children("/rw/w"), vec![g.path().to_owned()]);
    // Re-entrant through the guard: one node.
    let g2 = g.reenter();
    assert_eq!(g.path(), g2.path());
    assert!(g2.is_write());
    g.release().await.unwrap();
    assert!(b.read_lock().try_acquire().await.unwrap().is_none(), "still held by g2");
    let waiter = tokio::spawn(async move {
        let r = b.read_lock().acquire().await.map(|g| g.path().to_owned());
        (b, r)
    });
    settle().await;
    assert!(!waiter.is_finished());
    drop(g2);
    let (_b, r) = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    assert!(r.unwrap().contains(READ_LOCK_NAME));
    settle().await;
    assert!(server.children("/rw/w").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_waiting_writer_is_not_starved_by_later_readers() {
    let server = server(43).await;
    let (r1, w, r2) = (rw(&server, "/rw/s").await, rw(&server, "/rw/s").await, rw(&server, "/rw/s").await);
    let g1 = r1.read_lock().acquire().await.unwrap();
    let wt = tokio::spawn(async move {
        let g = w.write_lock().acquire().await.unwrap();
        (w, g)
    });
    settle().await;
    let r2t = tokio::spawn(async move {
        let g = r2.read_lock().acquire().await.unwrap();
        (r2, g)
    });
    settle().await;
    assert!(!wt.is_finished(), "writer waits for R1");
    assert!(!r2t.is_finished(), "R2 queues behind the waiting writer");
    g1.release().await.unwrap();
    let (_w, gw) = tokio::time::timeout(Duration::from_secs(5), wt).await.unwrap().unwrap();
    settle().await;
    assert!(!r2t.is_finished(), "R2 waits while W holds");
    gw.release().await.unwrap();
    let (_r2, g2) = tokio::time::timeout(Duration::from_secs(5), r2t).await.unwrap().unwrap();
    g2.release().await.unwrap();
    assert!(server.children("/rw/s").is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_writer_can_downgrade_to_a_reader() {
    let server = server(44).await;
    let (a, b) = (rw(&server, "/rw/d").await, rw(&server, "/rw/d").await);
    let gw = a.write_lock().acquire().await.unwrap();
    let gr = tokio::time::timeout(Duration::from_secs(1), gw.read_while_writing()).await.unwrap().unwrap();
    assert!(gr.path().contains(READ_LOCK_NAME));
    assert!(b.read_lock().try_acquire().await.unwrap().is_none(), "still write-locked");
    gw.release().await.unwrap();
    assert!(a.read_lock().is_held() && !a.write_lock().is_held());
    // Now only a read lock: readers share, writers wait.
    let rb = b.read_lock().try_acquire().await.unwrap().expect("downgraded to read");
    assert!(b.write_lock().try_acquire().await.unwrap().is_none());
    rb.release().await.unwrap();
    gr.release().await.unwrap();
    assert!(server.children("/rw/d").is_empty());
}

/// The read lock of the write lock's holder is tied to its write guard: the handle's read half
/// is a new reader that waits behind the writer, a read guard cannot read-while-writing, and a
/// lost write lock gives no read lock (and leaves no read node).
#[tokio::test(start_paused = true)]
async fn read_while_writing_is_tied_to_the_write_guard() {
    let server = server(49).await;
    let admin = client(&server).await;
    let (a, b) = (rw(&server, "/rw/ww").await, rw(&server, "/rw/ww").await);
    let gw = a.write_lock().acquire().await.unwrap();
    assert!(a.read_lock().try_acquire().await.unwrap().is_none(), "the handle's read half waits");
    let gr = gw.read_while_writing().await.unwrap();
    assert!(!gr.is_write());
    assert!(matches!(gr.read_while_writing().await, Err(Error::InvalidArgument(_))));
    gr.release().await.unwrap();
    gw.release().await.unwrap();
    settle().await;
    assert!(server.children("/rw/ww").is_empty());

    // Someone deletes the write node: the write lock is lost, so no read lock through it.
    let gw = a.write_lock().acquire().await.unwrap();
    admin.delete(gw.path(), None).await.unwrap();
    assert_eq!(gw.read_while_writing().await.unwrap_err(), Error::LockLost);
    settle().await;
    assert!(server.children("/rw/ww").is_empty(), "the read node was deleted");
    drop(gw);

    // The session ends: lost as well, and nothing is created.
    let bc = client(&server).await;
    let c = InterProcessReadWriteLock::new(bc.clone(), "/rw/ww").unwrap();
    let gw = c.write_lock().acquire().await.unwrap();
    assert!(server.expire_session(bc.session_id()));
    tokio::time::timeout(Duration::from_secs(30), gw.lost()).await.unwrap();
    assert_eq!(gw.read_while_writing().await.unwrap_err(), Error::LockLost);
    settle().await;
    assert!(server.children("/rw/ww").is_empty());
    assert!(b.write_lock().try_acquire().await.unwrap().is_some());
}

#[test]
fn curator_rw_children_sort_by_sequence_across_both_kinds() {
    let mut children: Vec<String> = [
        "_c_f3a4c1d2-8b7e-4d6a-9c1b-2e3f4a5b6c7d-__WRIT__0000000004",
        "_c_00000000-1111-4222-8333-444444444444-__READ__0000000010",
        "_c_9e8d7c6b-5a49-4382-b716-05f4e3d2c1b0-__READ__0000000001",
        "_c_a0b1c2d3-e4f5-4a6b-8c7d-8e9f0a1b2c3d-__WRIT__0000000002",
        "__READ__0000000003",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sort_rw_nodes(&mut children);
    let seqs: Vec<&str> = children.iter().map(|c| rw_sort_key(c)).collect();
    assert_eq!(seqs, ["0000000001", "0000000002", "0000000003", "0000000004", "0000000010"]);
    assert_eq!(children[1], "_c_a0b1c2d3-e4f5-4a6b-8c7d-8e9f0a1b2c3d-__WRIT__0000000002");
    assert_eq!(children[2], "__READ__0000000003");
}

#[tokio::test(start_paused = true)]
async fn nodes_have_curators_names_and_one_sequence() {
    let server = server(45).await;
    let zk = client(&server).await;
    let (a, b) = (rw(&server, "/curator/rw").await, rw(&server, "/curator/rw").await);
    let r = a.read_lock().acquire().await.unwrap();
    let wt = tokio::spawn(async move {
        let g = b.write_lock().acquire().await.map(|g| g.path().to_owned());
        (b, g)
    });
    settle().await;
    let mut names: Vec<String> =
        server.children("/curator/rw").iter().map(|p| p.rsplit('/').next().unwrap().to_owned()).collect();
    sort_rw_nodes(&mut names);
    assert_eq!(names.len(), 2);
    for (name, kind, seq) in
        [(&names[0], READ_LOCK_NAME, "0000000000"), (&names[1], WRITE_LOCK_NAME, "0000000001")]
    {
        assert_eq!(name.len(), 3 + 36 + 1 + 8 + 10, "{name}");
        assert!(name.starts_with("_c_"));
        assert_eq!(&name[40..48], kind);
        assert_eq!(&name[48..], seq);
    }
    let (_, stat) = zk.get_data("/curator/rw").await.unwrap();
    assert!(stat.ephemeral_owner == 0);
    r.release().await.unwrap();
    let (_b, g) = wt.await.unwrap();
    assert!(g.unwrap().ends_with("__WRIT__0000000001"));
    settle().await;
    // Container parents: reaped once empty.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(zk.exists("/curator/rw").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn cancelled_acquisitions_leave_no_node() {
    let server = server(46).await;
    server.set_latency(Duration::from_millis(10));
    let holder = rw(&server, "/rw/c").await;
    let g = holder.write_lock().acquire().await.unwrap();
    let bc = client(&server).await;
    let b = InterProcessReadWriteLock::new(bc.clone(), "/rw/c").unwrap();
    let mut cancelled = 0;
    for i in 0..60u64 {
        let half = if i % 2 == 0 { b.read_lock() } else { b.write_lock() };
        if tokio::time::timeout(Duration::from_millis(i), half.acquire()).await.is_err() {
            cancelled += 1;
        }
    }
    assert_eq!(cancelled, 60);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(nodes_of(&server, "/rw/c", bc.session_id()), Vec::<String>::new());
    assert_eq!(server.children("/rw/c"), vec![g.path().to_owned()]);
    g.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn expiry_while_holding_and_while_waiting() {
    let server = server(47).await;
    let hc = client(&server).await;
    let holder = InterProcessReadWriteLock::new(hc.clone(), "/rw/e").unwrap();
    let wc = client(&server).await;
    let waiter = InterProcessReadWriteLock::new(wc.clone(), "/rw/e").unwrap();
    let other = rw(&server, "/rw/e").await;

    let g = holder.write_lock().acquire().await.unwrap();
    let wt = tokio::spawn(async move { waiter.read_lock().acquire().await.map(|g| g.path().to_owned()) });
    settle().await;
    assert_eq!(nodes_of(&server, "/rw/e", wc.session_id()).len(), 1);

    // The waiter's session expires: a clear error, its node gone.
    assert!(server.expire_session(wc.session_id()));
    let err = tokio::time::timeout(Duration::from_secs(30), wt).await.unwrap().unwrap().unwrap_err();
    assert_eq!(err, Error::SessionEnded(zk_core::Error::SessionExpired));
    assert_eq!(server.children("/rw/e"), vec![g.path().to_owned()]);

    // The holder's session expires: the guard says so and the lock is free for others.
    assert!(server.expire_session(hc.session_id()));
    tokio::time::timeout(Duration::from_secs(30), g.lost()).await.unwrap();
    assert_eq!(g.status(), LockStatus::Lost);
    assert_eq!(g.fenced(&[]).await, Err(Error::LockLost));
    let gw =
        tokio::time::timeout(Duration::from_secs(5), other.write_lock().acquire()).await.unwrap().unwrap();
    assert_eq!(g.release().await, Err(Error::LockLost));
    gw.release().await.unwrap();
    assert!(server.children("/rw/e").is_empty());
}

#[tokio::test(start_paused = true)]
async fn zero_and_unbounded_timeouts() {
    let server = server(48).await;
    let (a, b) = (rw(&server, "/rw/extreme").await, rw(&server, "/rw/extreme").await);
    // A zero timeout looks once: a free lock is taken.
    let w = a.write_lock().acquire_timeout(Duration::ZERO).await.unwrap().expect("the lock is free");
    assert!(b.read_lock().acquire_timeout(Duration::ZERO).await.unwrap().is_none());
    // A timeout past what the clock can hold is no deadline.
    let waiter =
        tokio::spawn(async move { b.read_lock().acquire_timeout(Duration::MAX).await.map(|g| g.is_some()) });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiter.is_finished(), "still waiting behind the writer");
    w.release().await.unwrap();
    assert!(waiter.await.unwrap().unwrap());
}
