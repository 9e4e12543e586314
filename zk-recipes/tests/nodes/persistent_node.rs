//! `PersistentNode` on the embedded server.

use std::time::Duration;

use zk_core::CreateMode;
use zk_recipes::persistent_node::PersistentNode;
use zk_recipes::Error;

use crate::{client, eventually, owner, server, settle};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test(start_paused = true)]
async fn created_kept_and_removed_on_close() {
    let server = server(31).await;
    let node = PersistentNode::new(client(&server).await, "/svc/a/node", CreateMode::Ephemeral)
        .unwrap()
        .with_data(b"v1");
    node.start().unwrap();
    assert!(node.wait_for_initial_create_timeout(WAIT).await.unwrap());
    assert_eq!(node.actual_path().as_deref(), Some("/svc/a/node"));
    let session = node.client().session_id();
    assert_eq!(owner(&server, "/svc/a/node"), Some(session), "ephemeral of our session");
    let other = client(&server).await;
    assert_eq!(other.get_data("/svc/a/node").await.unwrap().0, b"v1");

    node.set_data(b"v2").await.unwrap();
    assert_eq!(other.get_data("/svc/a/node").await.unwrap().0, b"v2");

    // Someone deletes it: it comes back, with the latest data.
    other.delete("/svc/a/node", None).await.unwrap();
    settle().await;
    assert_eq!(other.get_data("/svc/a/node").await.unwrap().0, b"v2");
    assert_eq!(node.actual_path().as_deref(), Some("/svc/a/node"));

    node.close().await.unwrap();
    assert_eq!(other.exists("/svc/a/node").await.unwrap(), None);
    settle().await;
    assert_eq!(other.exists("/svc/a/node").await.unwrap(), None, "not re-created after close");
}

#[tokio::test(start_paused = true)]
async fn recreated_under_a_new_session_after_expiry() {
    let server = server(32).await;
    let node =
        PersistentNode::new(client(&server).await, "/svc/b", CreateMode::Ephemeral).unwrap().with_data(b"me");
    node.start().unwrap();
    assert!(node.wait_for_initial_create_timeout(WAIT).await.unwrap());
    let old = node.client().session_id();
    assert!(server.expire_session(old));
    eventually(60, "the node is back under a new session", || async {
        owner(&server, "/svc/b").is_some_and(|o| o != old && o == node.client().session_id())
    })
    .await;
    assert_eq!(node.actual_path().as_deref(), Some("/svc/b"));
    let other = client(&server).await;
    assert_eq!(other.get_data("/svc/b").await.unwrap().0, b"me");
    // And again deleted by someone else, on the new session.
    other.delete("/svc/b", None).await.unwrap();
    settle().await;
    assert_eq!(owner(&server, "/svc/b"), Some(node.client().session_id()));
    drop(node);
    settle().await;
    assert_eq!(other.exists("/svc/b").await.unwrap(), None, "dropping deletes it");
}

/// A client that ends with its session (`OnExpiry::End`) ends the node's task; a later
/// `set_data` says so instead of pretending to write.
#[tokio::test(start_paused = true)]
async fn on_an_ending_client_expiry_ends_it() {
    let server = server(33).await;
    let c = server.client_builder().on_expiry(zk_core::OnExpiry::End).connect().await.unwrap();
    let node = PersistentNode::new(c.clone(), "/svc/c", CreateMode::Ephemeral).unwrap();
    node.start().unwrap();
    assert!(node.wait_for_initial_create_timeout(WAIT).await.unwrap());
    assert!(server.expire_session(c.session_id()));
    eventually(60, "the node stops", || async { node.actual_path().is_none() }).await;
    settle().await;
    let r = node.wait_for_initial_create_timeout(WAIT).await;
    assert!(matches!(r, Err(Error::SessionEnded(_))), "{r:?}");
    assert!(matches!(node.set_data(b"new").await, Err(Error::SessionEnded(_))));
    assert!(owner(&server, "/svc/c").is_none());
    node.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn protected_sequential_node_keeps_one_node() {
    let server = server(34).await;
    let node = PersistentNode::new(client(&server).await, "/seq/member-", CreateMode::EphemeralSequential)
        .unwrap()
        .with_data(b"x");
    node.start().unwrap();
    assert!(node.wait_for_initial_create_timeout(WAIT).await.unwrap());
    let first = node.actual_path().unwrap();
    let name = first.rsplit('/').next().unwrap();
    assert!(name.starts_with("_c_") && name.contains("-member-"), "{first}");
    assert_eq!(server.children("/seq").len(), 1);

    let other = client(&server).await;
    other.delete(&first, None).await.unwrap();
    settle().await;
    let second = node.actual_path().unwrap();
    assert_ne!(first, second, "a new sequence number");
    assert_eq!(server.children("/seq").len(), 1);

    assert!(server.expire_session(node.client().session_id()));
    eventually(60, "re-created after expiry", || async { node.actual_path().is_some_and(|p| p != second) })
        .await;
    assert_eq!(server.children("/seq").len(), 1, "exactly one node");
    node.close().await.unwrap();
    assert!(server.children("/seq").is_empty());
}

#[tokio::test(start_paused = true)]
async fn persistent_mode_takes_over_and_waits_out_foreign_ephemerals() {
    let server = server(35).await;
    let foreign = client(&server).await;
    foreign.create("/held", b"theirs", CreateMode::Ephemeral).await.unwrap();
    let c = client(&server).await;
    let node = PersistentNode::new(c.clone(), "/held", CreateMode::Ephemeral).unwrap().with_data(b"ours");
    node.start().unwrap();
    assert!(
        !node.wait_for_initial_create_timeout(Duration::from_secs(2)).await.unwrap(),
        "held by another session"
    );
    // Closing a node that was waiting leaves the other session's node alone.
    let waiting = PersistentNode::new(c.clone(), "/held", CreateMode::Ephemeral).unwrap();
    waiting.start().unwrap();
    settle().await;
    waiting.close().await.unwrap();
    assert_eq!(owner(&server, "/held"), Some(foreign.session_id()));
    foreign.close().await;
    assert!(node.wait_for_initial_create_timeout(WAIT).await.unwrap());
    assert_eq!(owner(&server, "/held"), Some(c.session_id()));

    // A persistent node that already exists is taken over, with our data.
    foreign_free_persistent(&server).await;
    let p = PersistentNode::new(c.clone(), "/config", CreateMode::Persistent).unwrap().with_data(b"new");
    p.start().unwrap();
    assert!(p.wait_for_initial_create_timeout(WAIT).await.unwrap());
    assert_eq!(c.get_data("/config").await.unwrap().0, b"new");
    p.close().await.unwrap();
    assert_eq!(c.exists("/config").await.unwrap(), None);

    assert!(matches!(
        PersistentNode::new(c.clone(), "/x", CreateMode::Container),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(PersistentNode::new(c, "bad", CreateMode::Ephemeral), Err(Error::Zk(_))));
}

async fn foreign_free_persistent(server: &zk_testing::TestServer) {
    client(server).await.create("/config", b"old", CreateMode::Persistent).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn survives_connection_loss_and_lost_create_replies() {
    let server = server(36).await;
    // The reply of the protected create is lost: the node is found again, not duplicated.
    server.lose_next_reply(zk_testing::RequestMatcher::any().path_prefix("/lost/"));
    let node = PersistentNode::new(client(&server).await, "/lost/node", CreateMode::Ephemeral)
        .unwrap()
        .with_protection()
        .with_data(b"d");
    node.start().unwrap();
    assert!(node.wait_for_initial_create_timeout(WAIT).await.unwrap());
    let path = node.actual_path().unwrap();
    assert_eq!(server.children("/lost").len(), 1, "{:?}", server.children("/lost"));
    let session = node.client().session_id();
    assert_eq!(owner(&server, &path), Some(session));

    // A dropped connection: same session, same node, and the watch still works after.
    assert!(server.drop_connection(session));
    settle().await;
    assert_eq!(node.actual_path().as_deref(), Some(path.as_str()));
    assert_eq!(node.client().session_id(), session);
    client(&server).await.delete(&path, None).await.unwrap();
    settle().await;
    assert_eq!(server.children("/lost").len(), 1, "re-created after the reconnect");
    assert_eq!(owner(&server, &node.actual_path().unwrap()), Some(session));
    drop(node);
    settle().await;
    assert!(server.children("/lost").is_empty());
}

/// `set_data` while the create is in flight (its reply delayed): the create carries the old
/// data and `actual_path` is still `None`, yet the node must end up with the new data.
#[tokio::test(start_paused = true)]
async fn set_data_during_the_create_is_not_lost() {
    let server = server(37).await;
    let other = client(&server).await;
    // The parent exists, so the very first create is the one in flight.
    other.create("/race", b"", CreateMode::Persistent).await.unwrap();
    let c = client(&server).await;
    server.set_latency(Duration::from_millis(50));
    let node = PersistentNode::new(c, "/race/node", CreateMode::Ephemeral).unwrap().with_data(b"old");
    node.start().unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(node.actual_path(), None, "the create's reply is still on its way");
    node.set_data(b"new").await.unwrap();
    assert!(node.wait_for_initial_create_timeout(WAIT).await.unwrap());
    settle().await;
    server.set_latency(Duration::ZERO);
    assert_eq!(other.get_data("/race/node").await.unwrap().0, b"new");
    assert_eq!(node.data(), b"new");
    node.close().await.unwrap();
}

/// `set_data` while an existing persistent node is being taken over (the take-over writes
/// the data read before the change): the node must end up with the new data.
#[tokio::test(start_paused = true)]
async fn set_data_during_a_take_over_is_not_lost() {
    let server = server(38).await;
    let other = client(&server).await;
    other.create("/adopt", b"theirs", CreateMode::Persistent).await.unwrap();
    let c = client(&server).await;
    server.set_latency(Duration::from_millis(50));
    let node = PersistentNode::new(c, "/adopt", CreateMode::Persistent).unwrap().with_data(b"old");
    node.start().unwrap();
    // create -> NodeExists at 50 ms, exists -> found at 100 ms, then the take-over's write.
    tokio::time::sleep(Duration::from_millis(75)).await;
    assert_eq!(node.actual_path(), None, "still taking over");
    node.set_data(b"new").await.unwrap();
    assert!(node.wait_for_initial_create_timeout(WAIT).await.unwrap());
    settle().await;
    server.set_latency(Duration::ZERO);
    assert_eq!(other.get_data("/adopt").await.unwrap().0, b"new");
    node.close().await.unwrap();
}

/// An ephemeral node cannot take over a persistent node sitting at its path: the task stops
/// with `InvalidArgument` instead of waiting forever, and the other node is left alone.
#[tokio::test(start_paused = true)]
async fn ephemeral_node_reports_a_persistent_node_in_the_way() {
    let server = server(39).await;
    let other = client(&server).await;
    other.create("/taken", b"theirs", CreateMode::Persistent).await.unwrap();
    let node = PersistentNode::new(client(&server).await, "/taken", CreateMode::Ephemeral)
        .unwrap()
        .with_data(b"ours");
    node.start().unwrap();
    let r = node.wait_for_initial_create_timeout(Duration::from_secs(600)).await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    assert_eq!(node.actual_path(), None);
    node.close().await.unwrap();
    let (data, stat) = other.get_data("/taken").await.unwrap();
    assert_eq!((data.as_slice(), stat.ephemeral_owner), (&b"theirs"[..], 0), "left untouched");
}

/// Chaos finding: a client with a local expiry deadline opens its new session before the
/// server has expired the old one (the server does so only at its next tick), so the old
/// session's protected node is still there when the node is created again under the same
/// name. The node must be re-created on the new session all the same (the old one deleted by
/// path), and `set_data` must keep writing to it.
#[tokio::test(start_paused = true)]
async fn a_protected_node_is_recreated_when_the_old_session_outlives_the_client_s_deadline() {
    // A 4 s tick: the server expires the old session up to 4 s after the client's deadline.
    let server = zk_testing::TestServer::builder().no_tcp().seed(35).tick(Duration::from_secs(4)).start();
    let server = server.await.unwrap();
    let c = server
        .client_builder()
        .session_timeout(Duration::from_secs(10))
        .local_expiry()
        .connect()
        .await
        .unwrap();
    let node = PersistentNode::new(c.clone(), "/svc/p", CreateMode::Ephemeral)
        .unwrap()
        .with_protection()
        .with_data(b"v1");
    node.start().unwrap();
    assert!(node.wait_for_initial_create_timeout(WAIT).await.unwrap());
    let first = node.actual_path().unwrap();
    let old = c.session_id();
    assert!(server.partition_session(old, Duration::from_secs(60)));
    eventually(60, "the node is back under the new session", || async {
        c.status().epoch == 1
            && node.actual_path().is_some_and(|p| owner(&server, &p) == Some(c.session_id()))
    })
    .await;
    assert_eq!(node.actual_path().as_deref(), Some(first.as_str()), "the same protected name");
    node.set_data(b"v2").await.unwrap();
    assert_eq!(server.node(&first).unwrap().data.as_deref(), Some(&b"v2"[..]));
    settle().await;
    assert_eq!(server.children("/svc").len(), 1, "one node");
    node.close().await.unwrap();
}

/// A `set_data` whose write fails says so, and the node gets the new data all the same: the
/// background task writes it (it used to keep the old data for as long as the session lived;
/// found by the chaos suite).
#[tokio::test(start_paused = true)]
async fn data_whose_write_failed_is_written_by_the_task() {
    let server = server(39).await;
    let c = client(&server).await;
    let node = PersistentNode::new(c.clone(), "/svc/retry", CreateMode::Ephemeral).unwrap().with_data(b"v1");
    node.start().unwrap();
    assert!(node.wait_for_initial_create_timeout(WAIT).await.unwrap());
    server.fail_times(
        zk_testing::RequestMatcher::op(zk_core::proto::OpCode::SetData),
        zk_core::proto::ErrorCode::ConnectionLoss,
        3,
    );
    assert!(node.set_data(b"v2").await.is_err(), "the first write fails");
    assert_eq!(node.data(), b"v2");
    eventually(30, "the task writes v2", || async { c.get_data("/svc/retry").await.unwrap().0 == b"v2" })
        .await;
    node.close().await.unwrap();
}
