//! A short tour of zk-core: sessions, ephemeral nodes, watches, pipelining and failure
//! handling.
//!
//! ```text
//! cargo run --example tour                                 # on the embedded server
//! ZK_CONNECT=zk1:2181,zk2:2181 cargo run --example tour    # or on your ensemble
//! ```
//!
//! By default it starts zk-testing's embedded ZooKeeper-compatible server on a free loopback
//! port: nothing to install.

use std::time::Duration;

use futures::StreamExt;
use zk_core::{AddWatchMode, Client, CreateMode, Error, Op, SessionEvent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Where is ZooKeeper?
    let (connect, _server) = match std::env::var("ZK_CONNECT") {
        Ok(cs) => (cs, None),
        Err(_) => {
            let server = zk_testing::TestServer::start().await?;
            println!("started the embedded ZooKeeper-compatible server at {}", server.connect_string());
            (server.connect_string(), Some(server))
        }
    };
    let root = format!("/tour-{}", std::process::id());

    // 2. A session. `connect` waits until it is established.
    let admin = Client::connect(&connect).await?;
    admin.create(&root, b"", CreateMode::Persistent).await?;
    println!("session 0x{:x}, timeout {:?}", admin.session_id(), admin.session_timeout());

    // 3. Three "services" register themselves with ephemeral sequential nodes, each in its own
    //    session, chrooted into the tour's subtree.
    let chrooted = format!("{connect}{root}");
    admin.create(&format!("{root}/services"), b"", CreateMode::Persistent).await?;
    let mut services = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        let c = Client::connect(&chrooted).await?;
        let (path, _) = c.create("/services/svc-", name.as_bytes(), CreateMode::EphemeralSequential).await?;
        println!("{name} registered as {path}");
        services.push(c);
    }

    // 4. Watch the registry: a persistent recursive watch is a Stream of events.
    let watcher_client = Client::connect(&chrooted).await?;
    let mut events = watcher_client.add_watch("/services", AddWatchMode::PersistentRecursive).await?;
    let mut children = watcher_client.get_children("/services").await?;
    children.sort();
    println!("registry: {children:?}");

    // 5. A service leaves: closing its session deletes its ephemeral node, and the watch says so.
    let leaving = services.remove(0);
    let mut session = leaving.session_events();
    leaving.close().await;
    println!("alpha's session: {:?}", session.next().await);
    let ev = tokio::time::timeout(Duration::from_secs(10), events.next()).await?;
    println!("watch event: {ev:?}");

    // 6. Pipelining: 1,000 requests in flight on one connection, replies in call order.
    let started = std::time::Instant::now();
    let futs: Vec<_> = (0..1000).map(|i| admin.set_data(&root, format!("{i}").as_bytes(), None)).collect();
    let mut last = 0;
    for f in futs {
        last = f.await?.version;
    }
    println!("1,000 pipelined writes in {:?}; final version {last}", started.elapsed());

    // 7. Atomic multi: all or nothing, with a typed error naming the failing op.
    let err = admin
        .multi(&[Op::create(&format!("{root}/a"), b"", CreateMode::Persistent), Op::check(&root, Some(0))])
        .await
        .unwrap_err();
    println!("multi failed as expected: {err}");
    assert_eq!(admin.exists(&format!("{root}/a")).await?, None, "nothing of the failed multi applied");

    // 8. Bad input is refused before anything is sent.
    match admin.get_data("no-leading-slash").await {
        Err(Error::InvalidPath { reason, .. }) => println!("invalid path refused: {reason}"),
        other => return Err(format!("expected InvalidPath, got {other:?}").into()),
    }

    // 9. Session expiry, forced: another client attaches to a service's session and closes it.
    let victim = services.remove(0);
    let mut victim_events = victim.session_events();
    let thief =
        Client::builder(&chrooted).session(victim.session_id(), &victim.session_password()).connect().await?;
    thief.close().await;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), victim_events.next()).await? {
            Some(SessionEvent::Expired) => break,
            Some(other) => println!("beta's session: {other:?}"),
            None => return Err("session events ended without Expired".into()),
        }
    }
    println!("beta's session: Expired; its calls now fail with: {}", victim.exists("/").await.unwrap_err());

    // 10. Clean up.
    for c in services.iter().chain([&watcher_client]) {
        c.close().await;
    }
    for child in admin.get_children(&format!("{root}/services")).await? {
        admin.delete(&format!("{root}/services/{child}"), None).await?;
    }
    admin.delete(&format!("{root}/services"), None).await?;
    admin.delete(&root, None).await?;
    admin.close().await;
    println!("tour complete");
    Ok(())
}
