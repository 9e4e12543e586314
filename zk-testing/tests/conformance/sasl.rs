//! Conformance scenarios: SASL DIGEST-MD5 (§9.4), on a real ZooKeeper configured with a JAAS
//! `DigestLoginModule` and on the embedded server with the same users: a login that becomes a
//! `sasl:<user>` identity ACLs can name, on every connection; a wrong password or an unknown
//! user failing the connect with AUTHFAILED.

use std::time::Duration;

use zk_core::{Acl, Client, CreateMode, Error, Perms};
use zk_testing::{RealZooKeeper, TcpProxy, TestServer};

/// A server of either kind with the users `alice` (`alice-pw`) and `bob` (`bob-pw`); its
/// connect string, and the real server to stop afterwards.
async fn server(real: bool) -> (String, Option<RealZooKeeper>, Option<TestServer>) {
    let users = [("alice", "alice-pw"), ("bob", "bob-pw")];
    if real {
        let builder = users.iter().fold(RealZooKeeper::builder(), |b, (u, p)| b.sasl_user(u, p));
        let zk = builder.start().await.unwrap_or_else(|e| panic!("real ZooKeeper with SASL: {e}"));
        (zk.connect_string(), Some(zk), None)
    } else {
        let builder = users.iter().fold(TestServer::builder(), |b, (u, p)| b.sasl_user(u, p));
        let server = builder.start().await.expect("embedded server");
        (server.connect_string(), None, Some(server))
    }
}

async fn login(connect: &str, user: &str, password: &str) -> zk_core::Result<Client> {
    Client::builder(connect)
        .session_timeout(Duration::from_secs(30))
        .sasl_digest_md5(user, password)
        .connect()
        .await
}

async fn digest_md5_logins_are_identities_and_wrong_passwords_fail(real: bool) {
    let (connect, real_server, _embedded) = server(real).await;
    // Before any login succeeds: ZooKeeper 3.8.0's DIGEST-MD5 callback handler is shared by
    // every connection and keeps the last user it looked up, so there an unknown user who
    // presents the password of the user logged in before is let in (under the unknown name).
    // The embedded server does not copy that; at this point both refuse.
    for (user, password) in [("mallory", "alice-pw"), ("alice", "wrong")] {
        let r = login(&connect, user, password).await;
        assert_eq!(r.map(|_| ()), Err(Error::AuthFailed), "{user}/{password}");
    }
    let proxy = TcpProxy::start(connect.parse().expect("host:port")).await.expect("proxy");
    let alice = login(&proxy.connect_string(), "alice", "alice-pw").await.expect("alice logs in");
    let bob = login(&connect, "bob", "bob-pw").await.expect("bob logs in");
    let ids = alice.who_am_i().await.expect("whoAmI");
    assert!(ids.iter().any(|i| i.auth_scheme == "sasl" && i.user == "alice"), "{ids:?}");

    let path = format!("/sasl-{}", if real { "real" } else { "embedded" });
    let acl = vec![Acl::new(Perms::ALL, "sasl", "alice")];
    alice.create(&path, b"hers", CreateMode::Persistent.with_acl(acl)).await.expect("create");
    assert_eq!(bob.get_data(&path).await.map(|_| ()), Err(Error::NoAuth));
    assert_eq!(alice.get_data(&path).await.expect("alice reads").0, b"hers");

    // The identity is the connection's: after a reconnect, the login runs again.
    let session = alice.session_id();
    proxy.cut_all();
    let mut read = None;
    for _ in 0..100 {
        match alice.get_data(&path).await {
            Ok((data, _)) => {
                read = Some(data);
                break;
            }
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("after the cut: {e}"),
        }
    }
    assert_eq!(read.as_deref(), Some(&b"hers"[..]), "alice reads after logging in again");
    assert_eq!(alice.session_id(), session);

    let r = login(&connect, "bob", "alice-pw").await;
    assert_eq!(r.map(|_| ()), Err(Error::AuthFailed), "bob with alice's password");
    if !real {
        let r = login(&connect, "mallory", "bob-pw").await;
        assert_eq!(r.map(|_| ()), Err(Error::AuthFailed), "an unknown user after bob's login");
    }
    alice.delete(&path, None).await.expect("delete");
    alice.close().await;
    bob.close().await;
    if let Some(zk) = real_server {
        zk.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_digest_md5_logins_are_identities_and_wrong_passwords_fail() {
    digest_md5_logins_are_identities_and_wrong_passwords_fail(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_digest_md5_logins_are_identities_and_wrong_passwords_fail() {
    digest_md5_logins_are_identities_and_wrong_passwords_fail(false).await;
}

/// A server without SASL users refuses SASL, as a server without a JAAS `Server` section.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_sasl_without_users_is_auth_failed() {
    let server = TestServer::start().await.expect("embedded server");
    let r = login(&server.connect_string(), "alice", "alice-pw").await;
    assert_eq!(r.map(|_| ()), Err(Error::AuthFailed));
}
