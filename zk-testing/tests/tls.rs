//! TLS (feature `tls`), against a real ZooKeeper 3.8 serving a `secureClientPort` (Netty
//! connection factory, PEM key stores) and against the embedded server's TLS listener, with
//! certificates made by the test: every basic operation, a watch and a reconnect over TLS,
//! and each way a certificate can be wrong failing at once with a typed error.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;
use zk_core::tls::{TlsConfig, TlsErrorKind};
use zk_core::{Acl, Client, CreateMode, Error, EventType, Op, Perms};
use zk_testing::tls::{CertPair, ClientAuth, ServerTls, TestCerts};
use zk_testing::{RealZooKeeper, TcpProxy, TestServer};

/// A server speaking TLS, of either kind, and the certificates it was made with.
enum Server {
    Real(RealZooKeeper),
    Embedded(TestServer),
}

impl Server {
    async fn start(real: bool, server: &CertPair, ca_pem: &str, client_auth: ClientAuth) -> Server {
        if real {
            let builder = RealZooKeeper::builder().tls(server, ca_pem, client_auth);
            Server::Real(builder.start().await.unwrap_or_else(|e| panic!("real ZooKeeper with TLS: {e}")))
        } else {
            let tls = ServerTls::new(server, ca_pem, client_auth).expect("server TLS settings");
            Server::Embedded(TestServer::builder().tls(tls).start().await.expect("embedded server"))
        }
    }

    fn tls_addr(&self) -> SocketAddr {
        match self {
            Server::Real(zk) => zk.secure_addr().expect("started with TLS"),
            Server::Embedded(server) => server.tls_addr().expect("started with TLS"),
        }
    }

    fn connect_string(&self) -> String {
        format!("tls://{}", self.tls_addr())
    }

    async fn stop(self) {
        if let Server::Real(zk) = self {
            zk.stop().await;
        }
    }
}

fn certs() -> TestCerts {
    TestCerts::generate("zk-rs test CA").expect("test certificates")
}

async fn connect(connect: &str, tls: TlsConfig) -> zk_core::Result<Client> {
    Client::builder(connect).session_timeout(Duration::from_secs(30)).tls(tls).connect().await
}

/// The kind of the TLS error `r` failed with, and how long the connect took.
async fn tls_failure(connect_string: &str, tls: TlsConfig) -> (TlsErrorKind, Duration) {
    let started = Instant::now();
    match connect(connect_string, tls).await {
        Err(Error::Tls(e)) => (e.kind(), started.elapsed()),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

/// Every basic operation, a watch fired by a second TLS client, and a reconnect (the
/// connections cut by a proxy in front of the TLS port) that keeps the session.
async fn operations_a_watch_and_a_reconnect(real: bool) {
    let certs = certs();
    let server = Server::start(real, certs.server(), certs.ca_pem(), ClientAuth::Want).await;
    let proxy = TcpProxy::start(server.tls_addr()).await.expect("proxy");
    let zk = connect(&format!("tls://{}", proxy.addr()), certs.client_config().unwrap())
        .await
        .expect("TLS session");
    let other =
        connect(&server.connect_string(), certs.client_config().unwrap()).await.expect("second TLS session");

    let root = format!("/tls-{}", if real { "real" } else { "embedded" });
    let (path, stat) = zk.create(&root, b"v0", CreateMode::Persistent).await.expect("create");
    assert_eq!((path.as_str(), stat.version), (root.as_str(), 0));
    assert_eq!(zk.get_data(&root).await.expect("get").0, b"v0");
    zk.set_data(&root, b"v1", Some(0)).await.expect("set");
    assert_eq!(zk.exists(&root).await.expect("exists").map(|s| s.version), Some(1));
    zk.create(&format!("{root}/a"), b"", CreateMode::Ephemeral).await.expect("ephemeral child");
    let results = zk
        .multi(&[Op::check(&root, Some(1)), Op::create(&format!("{root}/b"), b"", CreateMode::Persistent)])
        .await
        .expect("multi");
    assert_eq!(results.len(), 2);
    let mut children = zk.get_children(&root).await.expect("children");
    children.sort();
    assert_eq!(children, ["a", "b"]);
    assert_eq!(zk.get_acl(&root).await.expect("acl").0, Acl::open_unsafe());

    let (_, _, watch) = zk.get_data_and_watch(&root).await.expect("watch set");
    other.set_data(&root, b"v2", None).await.expect("set by the other client");
    let event = tokio::time::timeout(Duration::from_secs(10), watch)
        .await
        .expect("the watch fires")
        .expect("an event");
    assert_eq!((event.event_type, event.path.as_str()), (EventType::NodeDataChanged, root.as_str()));

    let session = zk.session_id();
    proxy.cut_all();
    let mut read = None;
    for _ in 0..100 {
        match zk.get_data(&root).await {
            Ok((data, _)) => {
                read = Some(data);
                break;
            }
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("after the cut: {e}"),
        }
    }
    assert_eq!(read.as_deref(), Some(&b"v2"[..]), "read over a new TLS connection");
    assert_eq!(zk.session_id(), session, "the session was resumed, not replaced");
    assert!(zk.exists(&format!("{root}/a")).await.expect("exists").is_some(), "the ephemeral survived");

    zk.delete(&format!("{root}/a"), None).await.expect("delete a");
    zk.delete(&format!("{root}/b"), None).await.expect("delete b");
    zk.delete(&root, Some(2)).await.expect("delete root");
    assert_eq!(other.exists(&root).await.expect("exists"), None);
    zk.close().await;
    other.close().await;
    server.stop().await;
}

/// A CA the client does not trust, an expired server certificate and a name the certificate
/// does not carry each fail the connect at once (well inside the 30 s session timeout) with
/// their own kind; so does a server that needs a client certificate when the client has
/// none (TLS 1.2 to ZooKeeper, 1.3 to the embedded server: the refusal comes in the
/// handshake or on the first read).
async fn each_bad_certificate_fails_at_once_with_its_kind(real: bool) {
    let certs = certs();
    let stranger = TestCerts::generate("another CA").expect("another CA");

    let server = Server::start(real, certs.server(), certs.ca_pem(), ClientAuth::Need).await;
    let connect_string = server.connect_string();
    let (kind, took) = tls_failure(&connect_string, stranger.client_config().unwrap()).await;
    assert_eq!(kind, TlsErrorKind::UnknownIssuer);
    assert!(took < Duration::from_secs(10), "{took:?}: not at once");
    let wrong_name = certs.client_config().unwrap().server_name("zk.example.org");
    assert_eq!(tls_failure(&connect_string, wrong_name).await.0, TlsErrorKind::NotValidForName);
    assert_eq!(tls_failure(&connect_string, certs.client_config().unwrap()).await.0, TlsErrorKind::Rejected);
    let stranger_cert = stranger.client("mallory").expect("a client certificate");
    let from_stranger = certs
        .client_config()
        .unwrap()
        .client_cert_pem(stranger_cert.cert_pem.as_bytes(), stranger_cert.key_pem.as_bytes())
        .expect("client certificate");
    assert_eq!(tls_failure(&connect_string, from_stranger).await.0, TlsErrorKind::Rejected);
    let alice = certs.client("alice").expect("a client certificate");
    let with_cert = certs
        .client_config()
        .unwrap()
        .client_cert_pem(alice.cert_pem.as_bytes(), alice.key_pem.as_bytes())
        .expect("client certificate");
    let zk = connect(&connect_string, with_cert).await.expect("with a client certificate");
    zk.exists("/").await.expect("a request");
    zk.close().await;
    server.stop().await;

    let expired = certs.expired_server().expect("an expired certificate");
    let server = Server::start(real, &expired, certs.ca_pem(), ClientAuth::None).await;
    let (kind, took) = tls_failure(&server.connect_string(), certs.client_config().unwrap()).await;
    assert_eq!(kind, TlsErrorKind::Expired);
    assert!(took < Duration::from_secs(10), "{took:?}: not at once");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_operations_a_watch_and_a_reconnect() {
    operations_a_watch_and_a_reconnect(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_operations_a_watch_and_a_reconnect() {
    operations_a_watch_and_a_reconnect(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_each_bad_certificate_fails_at_once_with_its_kind() {
    each_bad_certificate_fails_at_once_with_its_kind(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_each_bad_certificate_fails_at_once_with_its_kind() {
    each_bad_certificate_fails_at_once_with_its_kind(false).await;
}

/// ZooKeeper knows a client by its certificate as `x509:<subject DN>`: a node whose ACL
/// names alice's certificate is alice's alone. (Real ZooKeeper only: the embedded server
/// checks client certificates but does not turn them into identities, as its docs say.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_a_client_certificate_is_an_x509_identity() {
    let certs = certs();
    let server = Server::start(true, certs.server(), certs.ca_pem(), ClientAuth::Need).await;
    let as_holder = |pair: CertPair| {
        certs
            .client_config()
            .unwrap()
            .client_cert_pem(pair.cert_pem.as_bytes(), pair.key_pem.as_bytes())
            .unwrap()
    };
    let alice =
        connect(&server.connect_string(), as_holder(certs.client("alice").unwrap())).await.expect("alice");
    let bob = connect(&server.connect_string(), as_holder(certs.client("bob").unwrap())).await.expect("bob");
    let ids = alice.who_am_i().await.expect("whoAmI");
    assert!(ids.iter().any(|i| i.auth_scheme == "x509" && i.user == "CN=alice"), "{ids:?}");
    let acl = vec![Acl::new(Perms::ALL, "x509", "CN=alice")];
    alice.create("/alices", b"secret", CreateMode::Persistent.with_acl(acl)).await.expect("create");
    assert_eq!(bob.get_data("/alices").await.map(|(d, _)| d), Err(Error::NoAuth));
    assert_eq!(bob.set_data("/alices", b"bob's", None).await.map(|_| ()), Err(Error::NoAuth));
    let child = bob.create("/alices/bobs", b"", CreateMode::Persistent).await;
    assert_eq!(child.map(|_| ()), Err(Error::NoAuth));
    assert_eq!(alice.get_data("/alices").await.expect("alice reads").0, b"secret");
    alice.create("/alices/hers", b"", CreateMode::Persistent).await.expect("alice creates below");
    alice.delete("/alices/hers", None).await.expect("alice deletes below");
    // Deleting a node is the parent's DELETE permission: "/" lets anyone delete it.
    alice.delete("/alices", None).await.expect("alice deletes");
    alice.close().await;
    bob.close().await;
    server.stop().await;
}

/// `tls://` insists on TLS: a builder without a TLS configuration fails before connecting.
#[tokio::test]
async fn a_tls_connect_string_without_a_tls_configuration_is_bad_arguments() {
    let r = Client::builder("tls://127.0.0.1:1").connect().await;
    assert!(matches!(r, Err(Error::BadArguments(ref why)) if why.contains("tls://")), "{r:?}");
}
