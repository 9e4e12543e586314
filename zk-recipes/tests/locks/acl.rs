//! A lock whose client creates under a digest default ACL (zk-core's `default_acl`, applied
//! to every node the recipes create): another identity can neither read, delete nor create
//! in the lock's path, and the owner's lock works as ever; and a recipe handed a handle with
//! its own ACL (`Client::with_default_acl`) while the client's other nodes stay open; on both
//! backends.

use zk_core::proto::{Acl, Perms};
use zk_core::{Client, CreateMode, Error as ZkError};
use zk_recipes::{Error, InterProcessMutex, LeaderLatch, LockStatus};
use zk_testing::Backend;

zk_testing::both_backends!(worker_threads = 2;
    another_identity_cannot_touch_a_lock_made_under_a_digest_default_acl,
    a_recipe_handed_a_handle_with_its_own_acl_creates_under_it,
);

async fn as_identity(b: &Backend, user: &str, acl: Option<Vec<Acl>>) -> Client {
    let mut builder = Client::builder(&b.connect_string()).auth("digest", format!("{user}:pw").as_bytes());
    if let Some(acl) = acl {
        builder = builder.default_acl(acl);
    }
    builder.connect().await.expect("connect")
}

async fn another_identity_cannot_touch_a_lock_made_under_a_digest_default_acl(b: &Backend) {
    let path = format!("{}/job", b.create_root("locks-acl").await);
    let acl = vec![Acl::digest(Perms::ALL, "owner", "pw").unwrap()];
    let owner = as_identity(b, "owner", Some(acl.clone())).await;
    let mutex = InterProcessMutex::new(owner.clone(), &path).unwrap();
    let guard = mutex.acquire().await.unwrap();
    assert_eq!(owner.get_acl(&path).await.unwrap().0, acl, "{}: the lock's directory", b.name());
    assert_eq!(owner.get_acl(guard.path()).await.unwrap().0, acl, "{}: the lock node", b.name());

    let intruder = as_identity(b, "intruder", None).await;
    let no = |what: &str, r: Result<(), ZkError>| assert_eq!(r, Err(ZkError::NoAuth), "{}: {what}", b.name());
    no("list the lock", intruder.get_children(&path).await.map(drop));
    no("delete the holder's node", intruder.delete(guard.path(), None).await);
    no(
        "create in the lock's path",
        intruder.create(&format!("{path}/x"), b"", CreateMode::Ephemeral).await.map(drop),
    );
    let theirs = InterProcessMutex::new(intruder.clone(), &path).unwrap();
    let r = theirs.try_acquire().await.map(|g| g.is_some());
    assert_eq!(r, Err(Error::Zk(ZkError::NoAuth)), "{}: the intruder's lock", b.name());

    assert_eq!(guard.status(), LockStatus::Held, "{}", b.name());
    guard.release().await.unwrap();
    let again = mutex.acquire().await.unwrap();
    assert_eq!(again.status(), LockStatus::Held, "{}: the owner's lock still works", b.name());
    again.release().await.unwrap();
    assert!(owner.get_children(&path).await.unwrap().is_empty(), "{}", b.name());
    owner.close().await;
    intruder.close().await;
}

async fn a_recipe_handed_a_handle_with_its_own_acl_creates_under_it(b: &Backend) {
    let root = b.create_root("recipe-acl").await;
    let path = format!("{root}/election");
    let acl = vec![Acl::digest(Perms::ALL, "owner", "pw").unwrap()];
    let owner = as_identity(b, "owner", None).await;
    assert_eq!(
        owner.with_default_acl(Vec::new()).map(drop),
        Err(ZkError::BadArguments("the default ACL must not be empty".into()))
    );
    let guarded = owner.with_default_acl(acl.clone()).unwrap();
    assert_eq!(guarded.default_acl(), &acl[..]);
    assert_eq!(guarded.session_id(), owner.session_id(), "{}: one session", b.name());
    let latch = LeaderLatch::new(guarded, &path, "owner").unwrap();
    latch.start().unwrap();
    latch.await_leadership().await.unwrap();
    let node = latch.node().expect("the latch's node");
    assert_eq!(owner.get_acl(&path).await.unwrap().0, acl, "{}: the election's directory", b.name());
    assert_eq!(owner.get_acl(&node).await.unwrap().0, acl, "{}: the latch node", b.name());
    let (open, _) = owner.create(&format!("{root}/open"), b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(
        owner.get_acl(&open).await.unwrap().0,
        Acl::open_unsafe(),
        "{}: the owner's own handle",
        b.name()
    );

    let intruder = as_identity(b, "intruder", None).await;
    assert_eq!(intruder.delete(&node, None).await, Err(ZkError::NoAuth), "{}: the leader's node", b.name());
    let rival = LeaderLatch::new(intruder.clone(), &path, "intruder").unwrap();
    rival.start().unwrap();
    let r = rival.await_leadership().await;
    assert_eq!(r, Err(Error::Zk(ZkError::NoAuth)), "{}: the intruder's latch", b.name());
    assert!(latch.is_leader(), "{}: the owner still leads", b.name());
    latch.close().await.unwrap();
    owner.close().await;
    intruder.close().await;
}
