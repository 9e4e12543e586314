//! Watching a config node with a `NodeCache`: a "service" keeps the current value of
//! `/config` in memory and reacts to every change an "operator" (another session) makes to it:
//! created, changed, deleted. When the service's session expires the cache reports `Lost`; the
//! service connects again and hands the cache the new client with `rebuild`, which catches up
//! with whatever changed meanwhile.
//!
//! ```text
//! cargo run --example config_watch                                 # on the embedded server
//! ZK_CONNECT=zk1:2181,zk2:2181 cargo run --example config_watch    # or on your ensemble
//! ```
//!
//! Everything lives under `/config-watch-<pid>` and is deleted at the end. Exits non-zero if
//! the cache does not report what the operator did.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::timeout;
use zk_core::{Client, CreateMode};
use zk_examples::{BoxError, Sandbox};
use zk_recipes::cache::{NodeCache, NodeEvent};
use zk_recipes::Error;

/// How long any one step may take before the example gives up.
const STEP: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Where is ZooKeeper? The embedded server unless ZK_CONNECT names an ensemble (see
    // lib.rs). Both sessions are chrooted to the example's root, `/config-watch-<pid>`:
    // "/config" is `<root>/config`.
    let sandbox = Sandbox::create("config-watch").await?;
    let chrooted = &sandbox.chrooted;
    let operator = Client::connect(chrooted).await?;
    let service = Client::builder(chrooted).session_timeout(Duration::from_secs(10)).connect().await?;

    // The service's cache. The node need not exist yet: the cache reports it when it appears.
    let mut cache = NodeCache::new(service.clone(), "/config")?;
    cache.start()?;
    expect(&mut cache, "Initialized", |e| matches!(e, NodeEvent::Initialized)).await?;
    println!("service: cache in sync, /config is {:?}", value(&cache));

    // The operator creates, changes and deletes the config; the service sees each step.
    operator.create("/config", b"pool=10", CreateMode::Persistent).await?;
    expect(&mut cache, "Created(pool=10)", |e| matches!(e, NodeEvent::Created(n) if n.data == b"pool=10"))
        .await?;
    operator.set_data("/config", b"pool=20", None).await?;
    expect(&mut cache, "Changed(pool=20)", |e| matches!(e, NodeEvent::Changed(n) if n.data == b"pool=20"))
        .await?;
    // When you see an event, `current()` already shows it: read it anywhere, no ZooKeeper call.
    if value(&cache).as_deref() != Some("pool=20") {
        return Err(format!("current() is {:?}, expected pool=20", value(&cache)).into());
    }
    operator.delete("/config", None).await?;
    expect(&mut cache, "Deleted", |e| matches!(e, NodeEvent::Deleted(_))).await?;
    operator.create("/config", b"pool=30", CreateMode::Persistent).await?;
    expect(&mut cache, "Created(pool=30)", |e| matches!(e, NodeEvent::Created(n) if n.data == b"pool=30"))
        .await?;

    // The service's session expires. The cache keeps its (now stale) snapshot and reports Lost.
    sandbox.expire(&service, STEP).await?;
    expect(&mut cache, "Lost(SessionEnded)", |e| matches!(e, NodeEvent::Lost(Error::SessionEnded(_))))
        .await?;
    // The operator changes the config while the service is away.
    operator.set_data("/config", b"pool=40", None).await?;
    // What to do on Lost: a new session, and `rebuild` with it. The cache reads the node again
    // and reports only what differs from its snapshot (here: one change), then Initialized.
    let service = Client::builder(chrooted).session_timeout(Duration::from_secs(10)).connect().await?;
    cache.rebuild(service.clone()).await?;
    expect(&mut cache, "Changed(pool=40)", |e| matches!(e, NodeEvent::Changed(n) if n.data == b"pool=40"))
        .await?;
    expect(&mut cache, "Initialized", |e| matches!(e, NodeEvent::Initialized)).await?;
    operator.set_data("/config", b"pool=50", None).await?;
    expect(&mut cache, "Changed(pool=50)", |e| matches!(e, NodeEvent::Changed(n) if n.data == b"pool=50"))
        .await?;

    // Clean up: the cache removes its watch, then the example's nodes go.
    cache.close().await?;
    service.close().await;
    operator.close().await;
    sandbox.remove().await?;
    println!("config_watch example complete");
    Ok(())
}

/// The cached config as text (`None` while the node does not exist).
fn value(cache: &NodeCache) -> Option<String> {
    cache.current().map(|n| String::from_utf8_lossy(&n.data).into_owned())
}

/// Waits for the cache's next event, prints it and checks it is `what`.
async fn expect(cache: &mut NodeCache, what: &str, ok: impl Fn(&NodeEvent) -> bool) -> Result<(), BoxError> {
    let event = timeout(STEP, cache.next()).await.map_err(|_| format!("no event within {STEP:?}"))?;
    let event = event.ok_or("the cache's stream ended")?;
    println!("service: event {}", show(&event));
    if !ok(&event) {
        return Err(format!("expected {what}, got {event:?}").into());
    }
    Ok(())
}

/// An event with its data as text.
fn show(event: &NodeEvent) -> String {
    let text = |n: &zk_recipes::cache::NodeData| String::from_utf8_lossy(&n.data).into_owned();
    match event {
        NodeEvent::Created(n) => format!("Created {:?}", text(n)),
        NodeEvent::Changed(n) => format!("Changed {:?}", text(n)),
        NodeEvent::Deleted(n) => format!("Deleted (was {:?})", text(n)),
        other => format!("{other:?}"),
    }
}
