//! The leader's own session expiring, on both backends (the shared real ZooKeeper 3.8 and an
//! embedded server over TCP), in real time. The leader connects through a proxy, so that its
//! session can be expired on a real ZooKeeper too (`TcpProxy::expire_session`: another client
//! attaches to the session and closes it while the proxy refuses the leader's client).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use zk_core::Client;
use zk_recipes::{run_while_leader, ConnectionPolicy, Election, LostReason, TermEnd};
use zk_testing::Backend;

use crate::{eventually, within};

zk_testing::both_backends!(worker_threads = 4;
    leader_session_expires_leadership_is_lost,
    standby_campaigns_again_on_its_new_session,
);

/// A client connected through `proxy`'s address (bounded by 10 s).
async fn client_via(connect: &str) -> Client {
    within(10, "connect via proxy", Client::connect(connect)).await.expect("connect")
}

/// The leader's session expires (session-based policy, so the first reason seen is the
/// expiry, not the disconnection before it): `Leadership::lost()` resolves with
/// `SessionEnded`, the waiting candidate is elected, and the old participant campaigns again
/// on its client's new session, behind the new leader.
async fn leader_session_expires_leadership_is_lost(b: &Backend) {
    let root = b.create_root("leader-expiry").await;
    let path = format!("{root}/master");
    let proxy = b.proxy().await;
    let a_client = client_via(&proxy.connect_string()).await;
    let a = Arc::new(
        Election::new(a_client.clone(), &path, b"a").unwrap().with_policy(ConnectionPolicy::SessionBased),
    );
    let c = Arc::new(Election::new(b.client().await, &path, b"b").unwrap());
    let leadership = within(10, "a is elected", a.campaign()).await.unwrap();
    let c2 = c.clone();
    let candidate = tokio::spawn(async move { c2.campaign().await });
    eventually(10, "the candidate joins", || async { c.participants().await.unwrap().len() == 2 }).await;
    let old = a_client.session_id();

    within(10, "expire a's session", proxy.expire_session(&a_client)).await.expect("expired");

    let reason = within(10, "a's leadership is lost", leadership.lost()).await;
    assert_eq!(reason, LostReason::SessionEnded, "{}", b.name());
    assert!(!leadership.is_leader(), "{}", b.name());
    let next = within(10, "b is elected", candidate).await.unwrap().expect("b leads");
    assert!(next.is_leader(), "{}", b.name());
    assert_eq!(c.leader().await.unwrap().map(|p| p.id), Some(b"b".to_vec()), "{}", b.name());
    // Resigning a lost term is quiet or an error, never a delete of someone else's node.
    let _ = leadership.resign().await;

    // a campaigns again on its client's new session: behind b, then leader once b resigns.
    eventually(10, "a's client is connected again", || async { a_client.state().is_connected() }).await;
    assert_ne!(a_client.session_id(), old, "{}: a new session", b.name());
    assert_eq!(a_client.status().epoch, 1, "{}", b.name());
    let a2 = a.clone();
    let again = tokio::spawn(async move { a2.campaign().await });
    eventually(10, "a queues again", || async { c.participants().await.unwrap().len() == 2 }).await;
    assert!(!again.is_finished(), "{}: a waits behind b", b.name());
    within(10, "b resigns", next.resign()).await.unwrap();
    let term = within(10, "a is elected again", again).await.unwrap().expect("a leads again");
    assert!(term.is_leader(), "{}", b.name());
    let owner = a_client.exists(term.path()).await.unwrap().expect("a's node").ephemeral_owner;
    assert_eq!(owner, a_client.session_id(), "{}: on the new session", b.name());
    assert_eq!(c.leader().await.unwrap().map(|p| p.id), Some(b"a".to_vec()), "{}", b.name());
    within(10, "a resigns", term.resign()).await.unwrap();
    assert!(c.participants().await.unwrap().is_empty(), "{}: no node left", b.name());
    c.client().close().await;
    a_client.close().await;
}

/// A standby leading under the default (standard) policy loses its session: its term ends
/// (the documented first reason is the disconnection that precedes the expiry), the other
/// participant is elected, and the standby campaigns again by itself on its client's new
/// session, leading once the other resigns.
async fn standby_campaigns_again_on_its_new_session(b: &Backend) {
    let root = b.create_root("leader-standby-expiry").await;
    let path = format!("{root}/master");
    let proxy = b.proxy().await;
    let a_client = client_via(&proxy.connect_string()).await;
    let a = Arc::new(Election::new(a_client.clone(), &path, b"a").unwrap());
    let c = Arc::new(Election::new(b.client().await, &path, b"b").unwrap());
    let (terms_tx, mut terms) = mpsc::unbounded_channel();
    let (stop, shutdown) = oneshot::channel::<()>();
    let standby = {
        let a = a.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = shutdown.await;
            };
            run_while_leader(&a, shutdown, move |token| {
                let terms_tx = terms_tx.clone();
                async move {
                    let _ = terms_tx.send(token.node().to_owned());
                    std::future::pending::<()>().await
                }
            })
            .await
        })
    };
    let first = within(10, "the standby leads", terms.recv()).await.expect("a term");
    let c2 = c.clone();
    let candidate = tokio::spawn(async move { c2.campaign().await });
    eventually(10, "the candidate joins", || async { c.participants().await.unwrap().len() == 2 }).await;
    let old = a_client.session_id();

    within(10, "expire the standby's session", proxy.expire_session(&a_client)).await.expect("expired");

    let next = within(10, "b is elected", candidate).await.unwrap().expect("b leads");
    assert_eq!(c.leader().await.unwrap().map(|p| p.id), Some(b"b".to_vec()), "{}", b.name());
    // The standby queues again by itself on the new session.
    eventually(10, "the standby campaigns again", || async {
        let p = c.participants().await.unwrap();
        p.len() == 2 && p[1].id == b"a"
    })
    .await;
    assert_ne!(a_client.session_id(), old, "{}: a new session", b.name());
    assert_eq!(a_client.status().epoch, 1, "{}", b.name());
    assert!(terms.try_recv().is_err(), "{}: no term while b leads", b.name());
    within(10, "b resigns", next.resign()).await.unwrap();
    let second = within(10, "the standby leads again", terms.recv()).await.expect("a term");
    assert_ne!(second, first, "{}: a new node", b.name());
    let owner = a_client.exists(&second).await.unwrap().expect("the node").ephemeral_owner;
    assert_eq!(owner, a_client.session_id(), "{}: on the new session", b.name());

    stop.send(()).unwrap();
    let report = within(10, "the standby stops", standby).await.unwrap();
    assert!(report.error.is_none(), "{}: {:?}", b.name(), report.error);
    let ends: Vec<_> = report.terms.iter().map(|t| t.end).collect();
    assert_eq!(ends, [TermEnd::Lost(LostReason::Disconnected), TermEnd::Shutdown], "{}", b.name());
    assert_eq!(report.terms[0].node, first, "{}", b.name());
    assert_eq!(report.terms[1].node, second, "{}", b.name());
    assert!(c.participants().await.unwrap().is_empty(), "{}: no node left", b.name());
    c.client().close().await;
    a_client.close().await;
}
