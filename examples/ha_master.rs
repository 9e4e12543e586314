//! Master/standby failover with `zk_recipes::run_while_leader`: three in-process standbys
//! campaign on one election; the master writes its term's node to `owner` with fenced writes
//! (applied only while its term stands). The example kills the master twice (closes its
//! session) and prints each handoff with its timing, then a JSON summary line.
//!
//! ```text
//! cargo run --example ha_master                                 # on the embedded server
//! ZK_CONNECT=zk1:2181,zk2:2181 cargo run --example ha_master    # or on your ensemble
//! ```

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use zk_core::{Client, CreateMode, Op};
use zk_examples::{BoxError, Sandbox};
use zk_recipes::{run_while_leader, Election, StandbyReport};

const STANDBYS: usize = 3;
const KILLS: usize = 2;
/// How long to wait for any one step before giving up.
const STEP: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Where is ZooKeeper? The embedded server unless ZK_CONNECT names an ensemble (see
    // lib.rs). The election lives under the example's own root, `/ha-master-<pid>`.
    let sandbox = Sandbox::create("ha-master").await?;
    println!("ZooKeeper: {}", sandbox.backend());
    let path = format!("{}/election", sandbox.root);
    let owner = format!("{}/owner", sandbox.root);
    sandbox.admin.create(&owner, b"", CreateMode::Persistent).await?;
    let (elected_tx, mut elected_rx) = mpsc::unbounded_channel::<(usize, String, Instant)>();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut clients = Vec::new();
    let mut standbys = Vec::new();
    for i in 0..STANDBYS {
        let client =
            Client::builder(&sandbox.connect).session_timeout(Duration::from_secs(4)).connect().await?;
        let election = Election::new(client.clone(), &path, format!("standby-{i}").as_bytes())?;
        clients.push(client);
        let (elected, stop) = (elected_tx.clone(), stop_rx.clone());
        standbys.push(tokio::spawn(standby(i, election, owner.clone(), elected, stop)));
    }

    let mut handoffs = Vec::new();
    let (mut master, node, _) = next_master(&mut elected_rx).await?;
    println!("standby-{master} is master ({node})");
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(300)).await;
        println!("killing standby-{master}: closing its session");
        let killed_at = Instant::now();
        clients[master].close().await;
        let (next, node, at) = next_master(&mut elected_rx).await?;
        let ms = at.duration_since(killed_at).as_secs_f64() * 1e3;
        println!("handoff: standby-{master} -> standby-{next} ({node}) in {ms:.2} ms");
        handoffs.push(ms);
        master = next;
    }

    stop_tx.send(true)?;
    for (i, s) in standbys.into_iter().enumerate() {
        let report = tokio::time::timeout(STEP, s).await??;
        let ended = report.error.map_or("shut down".to_owned(), |e| format!("stopped: {e}"));
        println!("standby-{i}: {} term(s), {ended}", report.terms.len());
    }
    let (last_owner, _) = sandbox.admin.get_data(&owner).await?;
    println!("owner (the last master's fenced write): {}", String::from_utf8_lossy(&last_owner));
    let list: Vec<String> = handoffs.iter().map(|ms| format!("{ms:.3}")).collect();
    let backend = sandbox.backend();
    println!("{{\"workload\":\"failover\",\"backend\":\"{backend}\",\"handoff_ms\":[{}]}}", list.join(","));
    // Clean up: the standbys' sessions end (their nodes go with them), then the example's nodes.
    for c in &clients {
        c.close().await;
    }
    sandbox.remove().await?;
    Ok(())
}

/// One standby: campaigns, runs the master loop while leader, campaigns again.
async fn standby(
    i: usize,
    election: Election,
    owner: String,
    elected: mpsc::UnboundedSender<(usize, String, Instant)>,
    mut stop: watch::Receiver<bool>,
) -> StandbyReport {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    run_while_leader(&election, shutdown, |token| {
        let (elected, owner) = (elected.clone(), owner.clone());
        async move {
            let _ = elected.send((i, token.node().to_owned(), Instant::now()));
            // The master's work: cancelled (dropped) the moment leadership is lost. Its writes
            // are fenced: a deposed master that has not noticed yet (a partitioned one) cannot
            // overwrite what its successor wrote.
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            for _ in 0..10_000 {
                tick.tick().await;
                let write = [Op::set_data(&owner, token.node().as_bytes(), None)];
                if let Err(e) = token.fenced(&write).await {
                    println!("standby-{i}: fenced write refused ({e}); ending the term");
                    return;
                }
            }
        }
    })
    .await
}

async fn next_master(
    rx: &mut mpsc::UnboundedReceiver<(usize, String, Instant)>,
) -> Result<(usize, String, Instant), BoxError> {
    tokio::time::timeout(STEP, rx.recv()).await?.ok_or_else(|| "all standbys stopped".into())
}
