//! Conformance scenarios: the whole-path helpers (create with parents, ensure a path, delete
//! a subtree), digest ACLs built by the client, and the client-wide default ACL.

use zk_core::proto::{Acl, Perms};
use zk_core::{Client, CreateMode, Error, Op};

use crate::support::{expect_err, Backend, Sandbox};

// On the real server, the embedded one and the shared real 3-member ensemble.
zk_testing::all_backends!(
    create_with_parents_makes_what_is_missing,
    ensure_path_is_idempotent,
    delete_recursive_deletes_a_subtree_children_first,
    delete_recursive_tolerates_concurrent_deletes,
    a_digest_acl_admits_its_identity_only,
    the_default_acl_covers_every_create_that_names_none,
);

/// A client of the sandbox authenticated as `user` with `password`, whose creates default to
/// `acl`.
async fn client_as(sb: &Sandbox, user: &str, password: &str, acl: Option<Vec<Acl>>) -> Client {
    let mut b = Client::builder(&sb.connect_string()).auth("digest", format!("{user}:{password}").as_bytes());
    if let Some(acl) = acl {
        b = b.default_acl(acl);
    }
    b.connect().await.expect("connect")
}

async fn create_with_parents_makes_what_is_missing(b: &Backend) {
    let sb = b.sandbox("conformance-helpers_create_with_parents").await;
    let c = sb.client().await;
    let (path, _) = c
        .create_with_parents("/a/b/c", b"leaf", CreateMode::Persistent, CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(path, "/a/b/c");
    assert_eq!(c.get_data("/a/b/c").await.unwrap().0, b"leaf");
    assert_eq!(c.get_data("/a/b").await.unwrap().0, b"", "parents are empty");
    // Container parents, and a sequential node under them.
    let (seq, _) = c
        .create_with_parents("/x/y/job-", b"", CreateMode::PersistentSequential, CreateMode::Container)
        .await
        .unwrap();
    assert!(seq.starts_with("/x/y/job-") && seq.len() == "/x/y/job-".len() + 10, "{seq}");
    // Existing parents are fine; the node itself existing is an error.
    c.create_with_parents("/a/b/d", b"", CreateMode::Ephemeral, CreateMode::Persistent).await.unwrap();
    expect_err(
        "existing node",
        c.create_with_parents("/a/b/c", b"", CreateMode::Persistent, CreateMode::Persistent).await,
        Error::NodeExists,
    );
    let bad = c.create_with_parents("/p/q", b"", CreateMode::Persistent, CreateMode::Ephemeral).await;
    assert!(matches!(bad, Err(Error::BadArguments(_))), "{bad:?}");
    expect_err(
        "under an ephemeral",
        c.create_with_parents("/a/b/d/e", b"", CreateMode::Persistent, CreateMode::Persistent).await,
        Error::NoChildrenForEphemerals,
    );
    c.close().await;
}

async fn ensure_path_is_idempotent(b: &Backend) {
    let sb = b.sandbox("conformance-helpers_ensure_path").await;
    let c = sb.client().await;
    c.ensure_path("/e/f/g").await.unwrap();
    c.set_data("/e/f/g", b"kept", None).await.unwrap();
    c.ensure_path("/e/f/g").await.unwrap();
    c.ensure_path("/e").await.unwrap();
    c.ensure_path("/").await.unwrap();
    assert_eq!(c.get_data("/e/f/g").await.unwrap().0, b"kept", "an existing node is left as it is");
    assert!(matches!(c.ensure_path("no-slash").await, Err(Error::InvalidPath { .. })));
    c.close().await;
}

/// Builds `/t` with `fanout` children per node, `depth` levels below it.
async fn build_tree(c: &Client, root: &str, fanout: usize, depth: usize) -> usize {
    c.ensure_path(root).await.unwrap();
    let mut level = vec![root.to_owned()];
    let mut count = 1;
    for _ in 0..depth {
        let mut next = Vec::new();
        let creates: Vec<_> = level
            .iter()
            .flat_map(|p| (0..fanout).map(move |i| format!("{p}/n{i}")))
            .map(|p| (c.create(&p, b"", CreateMode::Persistent), p))
            .collect();
        for (create, p) in creates {
            create.await.unwrap();
            next.push(p);
        }
        count += next.len();
        level = next;
    }
    count
}

async fn delete_recursive_deletes_a_subtree_children_first(b: &Backend) {
    let sb = b.sandbox("conformance-helpers_delete_recursive").await;
    let c = sb.client().await;
    assert_eq!(build_tree(&c, "/t", 3, 3).await, 40);
    c.create("/keep", b"", CreateMode::Persistent).await.unwrap();
    c.delete_recursive("/t").await.unwrap();
    assert_eq!(c.exists("/t").await.unwrap(), None);
    assert!(c.exists("/keep").await.unwrap().is_some(), "a sibling stays");
    expect_err("missing", c.delete_recursive("/t").await, Error::NoNode);
    // A leaf is a subtree of one.
    c.delete_recursive("/keep").await.unwrap();
    assert!(matches!(c.delete_recursive("/").await, Err(Error::BadArguments(_))));
    c.close().await;
}

/// Two clients delete one subtree at once while a third deletes nodes inside it: every call
/// succeeds (nodes others deleted are fine) and nothing is left.
async fn delete_recursive_tolerates_concurrent_deletes(b: &Backend) {
    let sb = b.sandbox("conformance-helpers_delete_concurrent").await;
    let (c1, c2, c3) = (sb.client().await, sb.client().await, sb.client().await);
    assert_eq!(build_tree(&c1, "/t", 4, 3).await, 85);
    let picks: Vec<String> = (0..4).map(|i| format!("/t/n{i}/n{i}/n{i}")).collect();
    let third = async {
        for p in &picks {
            match c3.delete(p, None).await {
                Ok(()) | Err(Error::NoNode) => {}
                Err(e) => panic!("{p}: {e}"),
            }
        }
    };
    let (r1, r2, ()) = tokio::join!(c1.delete_recursive("/t"), c2.delete_recursive("/t"), third);
    // The one that started after the other finished may find nothing: only that is NoNode.
    for (who, r) in [("first", r1), ("second", r2)] {
        assert!(matches!(r, Ok(()) | Err(Error::NoNode)), "{who}: {r:?}");
    }
    assert_eq!(c1.exists("/t").await.unwrap(), None);
    for c in [c1, c2, c3] {
        c.close().await;
    }
}

async fn a_digest_acl_admits_its_identity_only(b: &Backend) {
    let sb = b.sandbox("conformance-helpers_digest_acl").await;
    let alice = client_as(&sb, "alice", "secret", None).await;
    let acl = vec![Acl::digest(Perms::ALL, "alice", "secret").unwrap()];
    alice.create("/mine", b"a", CreateMode::Persistent.with_acl(acl)).await.unwrap();
    assert_eq!(alice.get_data("/mine").await.unwrap().0, b"a");
    let eve = client_as(&sb, "alice", "guess", None).await;
    expect_err("wrong password reads", eve.get_data("/mine").await.map(drop), Error::NoAuth);
    let anonymous = sb.client().await;
    expect_err("anonymous writes", anonymous.set_data("/mine", b"x", None).await.map(drop), Error::NoAuth);
    for c in [alice, eve, anonymous] {
        c.close().await;
    }
}

async fn the_default_acl_covers_every_create_that_names_none(b: &Backend) {
    let sb = b.sandbox("conformance-helpers_default_acl").await;
    let acl = vec![Acl::digest(Perms::ALL, "owner", "pw").unwrap()];
    let owner = client_as(&sb, "owner", "pw", Some(acl.clone())).await;
    assert_eq!(owner.default_acl(), acl.as_slice());
    owner.create("/plain", b"", CreateMode::Persistent).await.unwrap();
    owner.multi(&[Op::create("/in-multi", b"", CreateMode::Persistent)]).await.unwrap();
    owner.create_with_parents("/p/q/r", b"", CreateMode::Persistent, CreateMode::Container).await.unwrap();
    let open = CreateMode::Persistent.with_acl(Acl::open_unsafe());
    owner.create("/named", b"", open).await.unwrap();
    for path in ["/plain", "/in-multi", "/p", "/p/q", "/p/q/r"] {
        assert_eq!(owner.get_acl(path).await.unwrap().0, acl, "{path}");
    }
    assert_eq!(owner.get_acl("/named").await.unwrap().0, Acl::open_unsafe(), "a named ACL wins");
    let other = sb.client().await;
    expect_err("another identity", other.get_data("/p/q/r").await.map(drop), Error::NoAuth);
    let empty = Client::builder(&sb.connect_string()).default_acl(Vec::new()).connect().await;
    assert!(matches!(empty, Err(Error::BadArguments(_))), "{:?}", empty.map(drop));
    owner.close().await;
    other.close().await;
}
