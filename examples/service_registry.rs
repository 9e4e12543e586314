//! Service discovery: each instance of a service joins the group `/services/search` with a
//! `GroupMember` (Curator's recipe: an ephemeral node `<group>/<id>` holding its address, put
//! back if someone deletes it); a client discovers the instances with a `PathCache` on
//! that parent and picks one from its snapshot, with no ZooKeeper call per request. An
//! ephemeral node lives exactly as long as its session, so when an instance dies (its process
//! exits, or it is cut off longer than its session timeout) its node goes and every cache
//! reports `ChildRemoved`.
//!
//! ```text
//! cargo run --example service_registry                                 # on the embedded server
//! ZK_CONNECT=zk1:2181,zk2:2181 cargo run --example service_registry    # or on your ensemble
//! ```
//!
//! Everything lives under `/registry-<pid>` and is deleted at the end. Exits non-zero if the
//! cache does not show the instances as they come and go.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::timeout;
use zk_core::{Client, CreateMode};
use zk_examples::{BoxError, Sandbox};
use zk_recipes::cache::{PathCache, PathEvent};
use zk_recipes::group::GroupMember;

/// How long any one step may take before the example gives up.
const STEP: Duration = Duration::from_secs(20);
/// Where the instances of the "search" service register.
const SERVICE: &str = "/services/search";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Where is ZooKeeper? The embedded server unless ZK_CONNECT names an ensemble (see
    // lib.rs). Everything lives under the example's own root, `/registry-<pid>`.
    let sandbox = Sandbox::create("registry").await?;
    // Every session is chrooted to the example's root: "/services" is `<root>/services`.
    let chrooted = &sandbox.chrooted;
    let (admin, root) = (&sandbox.admin, &sandbox.root);
    admin.create(&format!("{root}/services"), b"", CreateMode::Persistent).await?;
    admin.create(&format!("{root}{SERVICE}"), b"", CreateMode::Persistent).await?;

    // One instance is up before the client starts looking.
    let mut instances = vec![Instance::register(chrooted, "search-1", "127.0.0.1:9001").await?];

    // The client's cache: first the instances already there, then Initialized.
    let discovery = Client::connect(chrooted).await?;
    let mut cache = PathCache::new(discovery.clone(), SERVICE)?; // keeps the children's data
    cache.start()?;
    expect(&mut cache, |e| matches!(e, PathEvent::ChildAdded { name, .. } if name == "search-1")).await?;
    expect(&mut cache, |e| matches!(e, PathEvent::Initialized)).await?;

    // Two more instances start; the cache reports each.
    for (name, address) in [("search-2", "127.0.0.1:9002"), ("search-3", "127.0.0.1:9003")] {
        instances.push(Instance::register(chrooted, name, address).await?);
        expect(&mut cache, |e| matches!(e, PathEvent::ChildAdded { name: n, .. } if n == name)).await?;
    }
    // Requests go round-robin over the snapshot: reading it costs no round trip.
    let pick: Vec<String> = (0..4).map(|request| choose(&cache, request)).collect::<Result<_, _>>()?;
    println!("client: 4 requests go to {pick:?}");
    if addresses(&cache) != ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"] {
        return Err(format!("the cache shows {:?}", addresses(&cache)).into());
    }

    // An instance moves: it rewrites its node's data, the cache reports ChildUpdated.
    instances[0].member.set_data(b"127.0.0.1:9011").await?;
    expect(&mut cache, |e| matches!(e, PathEvent::ChildUpdated { name, .. } if name == "search-1")).await?;

    // search-2 dies: its process exits, so its session ends, the server deletes its node and
    // the cache reports it. (A clean shutdown would call `member.close()`.)
    let dead = instances.remove(1);
    dead.client.close().await;
    drop(dead.member);
    expect(&mut cache, |e| matches!(e, PathEvent::ChildRemoved { name, .. } if name == "search-2")).await?;
    println!("client: instances now {:?}", addresses(&cache));
    if addresses(&cache) != ["127.0.0.1:9011", "127.0.0.1:9003"] {
        return Err(format!("after search-2 died the cache shows {:?}", addresses(&cache)).into());
    }

    // Clean up: the cache removes its watch, the instances' nodes go with their sessions.
    cache.close().await?;
    discovery.close().await;
    for instance in instances {
        instance.member.close().await?; // leaves the group: deletes its node
        instance.client.close().await;
    }
    sandbox.remove().await?;
    println!("service_registry example complete");
    Ok(())
}

/// A running instance: its own session (its own process, in real life) and its membership.
struct Instance {
    client: Client,
    member: GroupMember,
}

impl Instance {
    /// Connects and joins the group as `<SERVICE>/<name>` with the instance's address as data.
    /// The node is ephemeral: it is deleted when the session ends, so a crashed instance
    /// leaves no stale entry behind (after its session timeout, here 10 s).
    async fn register(chrooted: &str, name: &str, address: &str) -> Result<Instance, BoxError> {
        let client = Client::builder(chrooted).session_timeout(Duration::from_secs(10)).connect().await?;
        let member = GroupMember::new(client.clone(), SERVICE, name)?.with_data(address.as_bytes());
        member.start()?;
        if !member.wait_joined_timeout(STEP).await? {
            return Err(format!("{name} did not join the group within {STEP:?}").into());
        }
        println!("{name}: registered at {address} (session 0x{:x})", client.session_id());
        Ok(Instance { client, member })
    }
}

/// The registered addresses, in name order.
fn addresses(cache: &PathCache) -> Vec<String> {
    let data = cache.current().into_values().map(|c| c.data.unwrap_or_default());
    data.map(|d| String::from_utf8_lossy(&d).into_owned()).collect()
}

/// The instance a request goes to: round-robin over the cached instances.
fn choose(cache: &PathCache, request: usize) -> Result<String, BoxError> {
    let all = addresses(cache);
    all.get(request % all.len().max(1)).cloned().ok_or_else(|| "no instance registered".into())
}

/// Waits for the cache's next event, prints it and checks it.
async fn expect(cache: &mut PathCache, ok: impl Fn(&PathEvent) -> bool) -> Result<(), BoxError> {
    let event = timeout(STEP, cache.next()).await.map_err(|_| format!("no event within {STEP:?}"))?;
    let event = event.ok_or("the cache's stream ended")?;
    let text = |d: &Option<Vec<u8>>| String::from_utf8_lossy(d.as_deref().unwrap_or_default()).into_owned();
    match &event {
        PathEvent::ChildAdded { name, child } => {
            println!("client: event ChildAdded {name} {}", text(&child.data))
        }
        PathEvent::ChildUpdated { name, child } => {
            println!("client: event ChildUpdated {name} {}", text(&child.data))
        }
        PathEvent::ChildRemoved { name, .. } => println!("client: event ChildRemoved {name}"),
        other => println!("client: event {other:?}"),
    }
    if !ok(&event) {
        return Err(format!("unexpected event {event:?}").into());
    }
    Ok(())
}
