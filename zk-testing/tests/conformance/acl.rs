//! Conformance scenarios: ACLs and authentication (protocol reference §9, §4.3, §13.20).

use zk_core::proto::{Acl, Perms};
use zk_core::{Client, CreateMode, Error, ReadOp};

use crate::support::{expect_err, Backend, Sandbox};

// On the real server, the embedded one and the shared real 3-member ensemble.
zk_testing::all_backends!(
    read_only_acl_denies_writes,
    digest_creator_all_admits_only_the_creator,
    digest_id_is_user_and_base64_sha1,
    creator_all_expands_to_every_authenticated_identity,
    creator_all_without_identity_is_invalid_acl,
    invalid_acls_are_rejected,
    set_acl_checks_and_bumps_aversion,
    builder_auth_authenticates_every_request,
    delete_needs_delete_on_parent,
    get_acl_masks_digest_ids_without_admin,
    ip_acl_matches_the_connection_address,
    exists_does_not_check_read_on_old_servers,
    watch_events_need_read_on_the_node,
    unknown_auth_scheme_fails_the_client,
);

/// `user:` + base64(sha1("user:pw")), as printed by ZooKeeper 3.8.0's own
/// `java -cp zookeeper.jar org.apache.zookeeper.server.auth.DigestAuthenticationProvider user:pw`
/// (and `printf user:pw | openssl sha1 -binary | base64`).
const USER_PW_DIGEST: &str = "user:2Om+GBbT2q/tS6pdvACZbbm7/1A=";

/// A sandbox client that authenticated with `digest` `credentials` after connecting.
async fn digest_client(sb: &Sandbox, credentials: &[u8]) -> Client {
    let c = sb.client().await;
    c.add_auth("digest", credentials).await.expect("digest auth never fails");
    c
}

/// The digest id shape: `user:` then 28 base64 characters (20 SHA-1 bytes), one ':' only.
fn assert_digest_shape(id: &str) {
    let hash = id.strip_prefix("user:").unwrap_or_else(|| panic!("{id:?} is not user's digest id"));
    assert_eq!(hash.len(), 28, "{id:?}");
    assert!(!hash.contains(':'), "{id:?}");
    assert!(hash.ends_with('='), "{id:?}");
    assert!(hash[..27].chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '+' || ch == '/'), "{id:?}");
}

async fn read_only_acl_denies_writes(b: &Backend) {
    let sb = b.sandbox("conformance-acl_read_only").await;
    let c = sb.client().await;
    let mode = CreateMode::Persistent.with_acl(Acl::read_unsafe());
    let (_, stat) = c.create("/r", b"ro", mode).await.unwrap();
    assert_eq!(c.get_acl("/r").await.unwrap(), (vec![Acl::world_anyone(Perms::READ)], stat));
    expect_err("set_data", c.set_data("/r", b"x", None).await, Error::NoAuth);
    // §4.3: WRITE is checked before the version.
    expect_err("set_data, bad version", c.set_data("/r", b"x", Some(7)).await, Error::NoAuth);
    expect_err("create child", c.create("/r/c", b"", CreateMode::Persistent).await, Error::NoAuth);
    expect_err("set_acl", c.set_acl("/r", &Acl::open_unsafe(), None).await, Error::NoAuth);
    assert_eq!(c.get_data("/r").await.unwrap(), (b"ro".to_vec(), stat));
    assert_eq!(c.get_children("/r").await.unwrap(), Vec::<String>::new());
    // Deleting needs DELETE on the parent (open), not on the node.
    c.delete("/r", None).await.unwrap();
    c.close().await;
}

async fn digest_creator_all_admits_only_the_creator(b: &Backend) {
    let sb = b.sandbox("conformance-acl_digest").await;
    let owner = digest_client(&sb, b"user:pw").await;
    let mode = CreateMode::Persistent.with_acl(Acl::creator_all());
    owner.create("/d", b"secret", mode).await.unwrap();
    owner.create("/d/child", b"", CreateMode::Persistent).await.unwrap();
    let stat = owner.exists("/d").await.unwrap().expect("just created");

    let anon = sb.client().await;
    expect_err("anon get_data", anon.get_data("/d").await, Error::NoAuth);
    expect_err("anon set_data", anon.set_data("/d", b"x", None).await, Error::NoAuth);
    expect_err("anon get_children", anon.get_children("/d").await, Error::NoAuth);
    expect_err("anon get_acl (READ or ADMIN)", anon.get_acl("/d").await, Error::NoAuth);
    expect_err("anon children number", anon.get_all_children_number("/d").await, Error::NoAuth);
    expect_err("anon delete child", anon.delete("/d/child", None).await, Error::NoAuth);
    let read = anon.multi_read(&[ReadOp::GetData("/d".into()), ReadOp::GetData("/d/child".into())]).await;
    let read = read.unwrap();
    assert_eq!(read[0], Err(Error::NoAuth));
    assert!(read[1].is_ok(), "the child has an open ACL: {:?}", read[1]);

    let wrong = digest_client(&sb, b"user:nope").await;
    expect_err("wrong password", wrong.get_data("/d").await, Error::NoAuth);

    let same = digest_client(&sb, b"user:pw").await;
    assert_eq!(same.get_data("/d").await.unwrap(), (b"secret".to_vec(), stat));
    let written = same.set_data("/d", b"new", Some(0)).await.unwrap();
    assert_eq!(written.version, 1);
    assert_eq!(owner.get_data("/d").await.unwrap().0, b"new");
    for c in [owner, anon, wrong, same] {
        c.close().await;
    }
}

async fn digest_id_is_user_and_base64_sha1(b: &Backend) {
    let sb = b.sandbox("conformance-acl_digest_id").await;
    let c = digest_client(&sb, b"user:pw").await;
    c.create("/d", b"", CreateMode::Persistent.with_acl(Acl::creator_all())).await.unwrap();
    let (acl, stat) = c.get_acl("/d").await.unwrap();
    assert_eq!(stat.aversion, 0);
    assert_eq!(acl.len(), 1, "{acl:?}");
    assert_eq!((acl[0].perms, acl[0].scheme.as_str()), (Perms::ALL, "digest"));
    assert_digest_shape(&acl[0].id);
    assert_eq!(acl[0].id, USER_PW_DIGEST);
    // The same id, written explicitly, grants the same access: the client need not be the
    // one that created it. (With ADMIN, so get_acl shows the id unmasked.)
    let explicit = vec![Acl::new(Perms::READ | Perms::ADMIN, "digest", USER_PW_DIGEST)];
    c.create("/e", b"e", CreateMode::Persistent.with_acl(explicit.clone())).await.unwrap();
    assert_eq!(c.get_acl("/e").await.unwrap().0, explicit);
    let other = digest_client(&sb, b"user:pw").await;
    assert_eq!(other.get_data("/e").await.unwrap().0, b"e");
    c.close().await;
    other.close().await;
}

async fn creator_all_expands_to_every_authenticated_identity(b: &Backend) {
    let sb = b.sandbox("conformance-acl_auth_expand").await;
    let c = digest_client(&sb, b"user:pw").await;
    c.add_auth("digest", b"second:pw2").await.unwrap();
    c.create("/d", b"", CreateMode::Persistent.with_acl(Acl::creator_all())).await.unwrap();
    let (mut acl, _) = c.get_acl("/d").await.unwrap();
    acl.sort_by(|a, b| a.id.cmp(&b.id));
    // Both digest identities, never the connection's `ip` identity (§9.3).
    assert_eq!(acl.len(), 2, "{acl:?}");
    assert!(acl.iter().all(|a| a.scheme == "digest" && a.perms == Perms::ALL), "{acl:?}");
    assert!(acl[0].id.starts_with("second:"), "{acl:?}");
    assert_eq!(acl[1].id, USER_PW_DIGEST);
    let second = digest_client(&sb, b"second:pw2").await;
    second.get_data("/d").await.unwrap();
    c.close().await;
    second.close().await;
}

async fn creator_all_without_identity_is_invalid_acl(b: &Backend) {
    let sb = b.sandbox("conformance-acl_creator_anon").await;
    let c = sb.client().await;
    let creator_all = || CreateMode::Persistent.with_acl(Acl::creator_all());
    expect_err("create", c.create("/c", b"", creator_all()).await, Error::InvalidAcl);
    // §4.3: the ACL is checked before the parent's existence.
    expect_err("create, missing parent", c.create("/missing/c", b"", creator_all()).await, Error::InvalidAcl);
    c.create("/open", b"", CreateMode::Persistent).await.unwrap();
    expect_err("set_acl", c.set_acl("/open", &Acl::creator_all(), None).await, Error::InvalidAcl);
    // The `ip` identity every connection has does not count as authenticated.
    assert!(c.who_am_i().await.unwrap().iter().any(|i| i.auth_scheme == "ip"));
    assert_eq!(c.exists("/c").await.unwrap(), None);
    assert_eq!(c.get_acl("/open").await.unwrap().0, Acl::open_unsafe());
    c.close().await;
}

async fn invalid_acls_are_rejected(b: &Backend) {
    let sb = b.sandbox("conformance-acl_invalid").await;
    let c = sb.client().await;
    let invalid = [
        vec![Acl::new(Perms::ALL, "world", "someone")],
        vec![Acl::new(Perms::ALL, "digest", "no-colon")],
        vec![Acl::new(Perms::ALL, "digest", "a:b:c")],
        vec![Acl::new(Perms::ALL, "ip", "not-an-address")],
        vec![Acl::new(Perms::ALL, "nosuchscheme", "x")],
        vec![Acl::world_anyone(Perms::ALL), Acl::new(Perms::READ, "world", "nobody")],
    ];
    c.create("/open", b"", CreateMode::Persistent).await.unwrap();
    for acl in &invalid {
        let mode = CreateMode::Persistent.with_acl(acl.clone());
        expect_err(&format!("create {acl:?}"), c.create("/n", b"", mode).await, Error::InvalidAcl);
        expect_err(&format!("set_acl {acl:?}"), c.set_acl("/open", acl, None).await, Error::InvalidAcl);
        // §4.3: setACL validates the ACL before looking the node up.
        let missing = c.set_acl("/missing", acl, None).await;
        expect_err(&format!("set_acl on missing {acl:?}"), missing, Error::InvalidAcl);
    }
    // An empty list never leaves the client.
    let empty = CreateMode::Persistent.with_acl(Vec::new());
    expect_err("create, empty ACL", c.create("/n", b"", empty).await, Error::InvalidAcl);
    expect_err("set_acl, empty ACL", c.set_acl("/open", &[], None).await, Error::InvalidAcl);
    assert_eq!(c.exists("/n").await.unwrap(), None);
    assert_eq!(
        c.get_acl("/open").await.unwrap(),
        (Acl::open_unsafe(), c.exists("/open").await.unwrap().unwrap())
    );
    // Duplicate entries are silently removed (§13.20).
    let twice = CreateMode::Persistent.with_acl([Acl::open_unsafe(), Acl::open_unsafe()].concat());
    c.create("/dup", b"", twice).await.unwrap();
    assert_eq!(c.get_acl("/dup").await.unwrap().0, Acl::open_unsafe());
    c.close().await;
}

async fn set_acl_checks_and_bumps_aversion(b: &Backend) {
    let sb = b.sandbox("conformance-acl_set").await;
    let c = sb.client().await;
    let (_, s0) = c.create("/v", b"v", CreateMode::Persistent).await.unwrap();
    let acl1 = vec![Acl::world_anyone(Perms::READ | Perms::WRITE | Perms::ADMIN)];
    expect_err("wrong aversion", c.set_acl("/v", &acl1, Some(1)).await, Error::BadVersion);
    assert_eq!(c.get_acl("/v").await.unwrap(), (Acl::open_unsafe(), s0));
    let s1 = c.set_acl("/v", &acl1, Some(0)).await.unwrap();
    assert_eq!((s1.aversion, s1.version, s1.cversion), (1, 0, 0));
    // setACL changes neither the data's zxid nor its time (§5.2).
    assert_eq!((s1.czxid, s1.mzxid, s1.mtime), (s0.czxid, s0.mzxid, s0.mtime));
    assert_eq!(c.get_acl("/v").await.unwrap(), (acl1.clone(), s1));
    let acl2 = vec![Acl::world_anyone(Perms::ALL)];
    expect_err("stale aversion", c.set_acl("/v", &acl2, Some(0)).await, Error::BadVersion);
    assert_eq!(c.set_acl("/v", &acl2, None).await.unwrap().aversion, 2);
    assert_eq!(c.set_acl("/v", &acl2, Some(2)).await.unwrap().aversion, 3);
    // The data version is independent of the ACL version.
    assert_eq!(c.set_data("/v", b"w", Some(0)).await.unwrap().aversion, 3);
    c.close().await;
}

async fn builder_auth_authenticates_every_request(b: &Backend) {
    let sb = b.sandbox("conformance-acl_builder").await;
    let connect = || Client::builder(&sb.connect_string()).auth("digest", b"user:pw").connect();
    let c = connect().await.unwrap();
    let ids = c.who_am_i().await.unwrap();
    assert!(ids.iter().any(|i| i.auth_scheme == "digest" && i.user == "user"), "{ids:?}");
    c.create("/b", b"mine", CreateMode::Persistent.with_acl(Acl::creator_all())).await.unwrap();
    assert_eq!(c.get_acl("/b").await.unwrap().0, vec![Acl::new(Perms::ALL, "digest", USER_PW_DIGEST)]);
    let again = connect().await.unwrap();
    assert_eq!(again.get_data("/b").await.unwrap().0, b"mine");
    let anon = sb.client().await;
    expect_err("anon", anon.get_data("/b").await, Error::NoAuth);
    for c in [c, again, anon] {
        c.close().await;
    }
}

async fn delete_needs_delete_on_parent(b: &Backend) {
    let sb = b.sandbox("conformance-acl_delete").await;
    let c = sb.client().await;
    let no_delete = vec![Acl::world_anyone(Perms::READ | Perms::WRITE | Perms::CREATE | Perms::ADMIN)];
    c.create("/p", b"", CreateMode::Persistent.with_acl(no_delete)).await.unwrap();
    c.create("/p/child", b"", CreateMode::Persistent).await.unwrap();
    expect_err("delete child", c.delete("/p/child", None).await, Error::NoAuth);
    // §4.3: DELETE on the parent is checked before the node's existence and version.
    expect_err("delete missing child", c.delete("/p/missing", None).await, Error::NoAuth);
    expect_err("delete child, bad version", c.delete("/p/child", Some(9)).await, Error::NoAuth);
    assert!(c.exists("/p/child").await.unwrap().is_some());
    // The node's own ACL does not matter for its deletion: /p itself goes (its parent is open)
    // once empty.
    c.set_acl("/p", &Acl::open_unsafe(), None).await.unwrap();
    c.delete("/p/child", None).await.unwrap();
    c.delete("/p", None).await.unwrap();
    c.close().await;
}

async fn get_acl_masks_digest_ids_without_admin(b: &Backend) {
    let sb = b.sandbox("conformance-acl_mask").await;
    let owner = digest_client(&sb, b"user:pw").await;
    let acl = vec![Acl::world_anyone(Perms::READ), Acl::new(Perms::ALL, "digest", USER_PW_DIGEST)];
    owner.create("/m", b"", CreateMode::Persistent.with_acl(acl.clone())).await.unwrap();
    assert_eq!(owner.get_acl("/m").await.unwrap().0, acl);
    // A reader without ADMIN sees every digest id as `user:x` (§4.3 getACL).
    let anon = sb.client().await;
    let masked = vec![Acl::world_anyone(Perms::READ), Acl::new(Perms::ALL, "digest", "user:x")];
    assert_eq!(anon.get_acl("/m").await.unwrap().0, masked);
    owner.close().await;
    anon.close().await;
}

async fn ip_acl_matches_the_connection_address(b: &Backend) {
    let sb = b.sandbox("conformance-acl_ip").await;
    let c = sb.client().await;
    let local = vec![Acl::new(Perms::ALL, "ip", "127.0.0.1")];
    c.create("/local", b"l", CreateMode::Persistent.with_acl(local)).await.unwrap();
    assert_eq!(c.get_data("/local").await.unwrap().0, b"l");
    let subnet = vec![Acl::new(Perms::ALL, "ip", "127.0.0.0/8")];
    c.create("/subnet", b"s", CreateMode::Persistent.with_acl(subnet)).await.unwrap();
    assert_eq!(c.get_data("/subnet").await.unwrap().0, b"s");
    let elsewhere = vec![Acl::new(Perms::ALL, "ip", "10.1.2.3")];
    c.create("/far", b"f", CreateMode::Persistent.with_acl(elsewhere)).await.unwrap();
    expect_err("other address", c.get_data("/far").await, Error::NoAuth);
    c.close().await;
}

async fn exists_does_not_check_read_on_old_servers(b: &Backend) {
    let sb = b.sandbox("conformance-acl_exists").await;
    let c = sb.client().await;
    let write_only = vec![Acl::world_anyone(Perms::WRITE)];
    let (_, stat) = c.create("/w", b"", CreateMode::Persistent.with_acl(write_only)).await.unwrap();
    expect_err("get_data", c.get_data("/w").await, Error::NoAuth);
    // exists checks READ only since 3.8.4 / 3.9.2 (§9.5, §14). The Debian server is 3.8.0,
    // which answers with the stat; newer servers (and the reference's newest behaviour) deny.
    let version = b.server_version().await;
    let old = matches!(version, Some(v) if v < (3, 8, 4) || ((3, 9, 0)..(3, 9, 2)).contains(&v));
    if old {
        assert_eq!(c.exists("/w").await.unwrap(), Some(stat), "server {version:?}");
    } else {
        expect_err(&format!("exists on {version:?}"), c.exists("/w").await, Error::NoAuth);
    }
    c.close().await;
}

/// A watch event about a node the watcher cannot read is dropped, for every kind of watch:
/// Debian's 3.8.0 carries the fix of CVE-2024-23944 (upstream in 3.8.4), which checks READ on
/// the node when a watch fires. The differential test found it; without the check the
/// `NodeCreated` and `NodeDataChanged` below would reach `reader`.
async fn watch_events_need_read_on_the_node(b: &Backend) {
    let sb = b.sandbox("conformance-acl_watch_read").await;
    let (writer, reader) = (sb.client().await, sb.client().await);
    let write_only = vec![Acl::world_anyone(Perms::WRITE)];
    // A standard exists watch on a node that is then created unreadable, and a persistent
    // watch on a node that is unreadable when it changes.
    let (absent, exists_watch) = reader.exists_and_watch("/hidden").await.unwrap();
    assert_eq!(absent, None);
    writer.create("/w", b"", CreateMode::Persistent).await.unwrap();
    let mut persistent = reader.add_watch("/w", zk_core::AddWatchMode::Persistent).await.unwrap();
    writer.set_acl("/w", &write_only, None).await.unwrap();
    writer.create("/hidden", b"", CreateMode::Persistent.with_acl(write_only.clone())).await.unwrap();
    writer.set_data("/w", b"x", None).await.unwrap();
    // A readable change after them: notifications come in order, so once its event is in,
    // any event of the unreadable ones would be too.
    writer.create("/seen", b"", CreateMode::Persistent).await.unwrap();
    let (_, _, seen) = reader.get_data_and_watch("/seen").await.unwrap();
    writer.set_data("/seen", b"y", None).await.unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), seen).await.unwrap().unwrap();
    assert_eq!(event.event_type, zk_core::EventType::NodeDataChanged);
    let exists_fired = tokio::time::timeout(std::time::Duration::from_millis(100), exists_watch).await;
    assert!(exists_fired.is_err(), "NodeCreated of an unreadable node: {exists_fired:?}");
    let changed = tokio::time::timeout(std::time::Duration::from_millis(100), persistent.next_event()).await;
    assert!(changed.is_err(), "NodeDataChanged of an unreadable node: {changed:?}");
    writer.close().await;
    reader.close().await;
}

async fn unknown_auth_scheme_fails_the_client(b: &Backend) {
    let sb = b.sandbox("conformance-acl_auth_failed").await;
    let c = sb.client().await;
    let empty = c.add_auth("", b"x").await;
    assert!(matches!(empty, Err(Error::BadArguments(_))), "empty scheme: {empty:?}");
    c.create("/still", b"", CreateMode::Persistent).await.unwrap();
    // An unknown scheme: the server answers AUTHFAILED and closes the connection (§9.4); the
    // client is dead from then on.
    expect_err("unknown scheme", c.add_auth("nosuchscheme", b"x").await, Error::AuthFailed);
    expect_err("after AUTHFAILED", c.get_data("/still").await, Error::AuthFailed);
    let r = Client::builder(&sb.connect_string()).auth("nosuchscheme", b"x").connect().await;
    assert!(matches!(r, Err(Error::AuthFailed)), "builder with an unknown scheme: {r:?}");
}

/// A connection's identities come out in the real server's order (its `ConcurrentHashMap`'s):
/// whoAmI, and the ACL a `CREATOR_ALL` create expands to, byte for byte the same on Debian's
/// 3.8.0 and on the embedded server, for a connection with six digest identities.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_sets_come_out_in_the_java_servers_order() {
    let mut seen = Vec::new();
    for b in [Backend::real().await, Backend::embedded().await] {
        let sb = b.sandbox("conformance-id-order").await;
        let c = sb.client().await;
        for user in ["carol", "alice", "u1", "bob", "mallory", "u2"] {
            c.add_auth("digest", format!("{user}:pw").as_bytes()).await.unwrap();
        }
        let ids: Vec<(String, String)> =
            c.who_am_i().await.unwrap().into_iter().map(|i| (i.auth_scheme, i.user)).collect();
        c.create("/mine", b"", CreateMode::Persistent.with_acl(Acl::creator_all())).await.unwrap();
        let acl = c.get_acl("/mine").await.unwrap().0;
        assert_eq!(acl.len(), 6, "{}: {acl:?}", b.name());
        seen.push((b.name(), ids, acl));
        c.close().await;
    }
    let (real, embedded) = (&seen[0], &seen[1]);
    assert_eq!(real.1, embedded.1, "whoAmI order");
    assert_eq!(real.2, embedded.2, "CREATOR_ALL order");
}
