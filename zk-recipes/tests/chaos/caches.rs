//! The caches: [`NodeCache`], [`PathCache`] and [`TreeCache`].
//!
//! Two writers, each on its own client, make six changes each (creates, sets, deletes of a
//! few nodes under the cached root, 200 to 900 ms apart) while a cache on a third client
//! follows them. Once the faults are over and the writers done, the cache's snapshot must
//! become the server's tree: [`cache_converged`] on the snapshot and [`tree_data`] of the
//! server, after waiting (bounded) for the cache to catch up.

use std::time::Duration;

use tokio::time::{sleep, Instant};
use zk_core::{Client, CreateMode};
use zk_recipes::cache::{NodeCache, PathCache, TreeCache};
use zk_testing::check::{
    cache_converged, tree_data, Checker, Op, Outcome, Participant, Recorder, TreeData, Value, Violation,
};
use zk_testing::{FaultPlan, FaultPlanConfig, RequestMatcher, TestServer};

use crate::{check_seeds, clients, create_path, eventually, must_catch, scenario, settle, Rng};

const ROOT: &str = "/chaos/cache/root";
/// Changes each writer makes.
const CHANGES: usize = 6;
/// Once the faults are over, the cache converges this soon.
const CONVERGED_WITHIN: Duration = Duration::from_secs(30);

/// Faults for the caches: realistic ones with some adversarial expiries, aimed also at the
/// cache's reads.
fn config() -> FaultPlanConfig {
    use zk_core::proto::OpCode;
    FaultPlanConfig {
        participants: 3,
        faults: 1..=3,
        horizon: Duration::from_secs(5),
        durations: Duration::from_millis(100)..=Duration::from_secs(5),
        weights: zk_testing::FaultWeights { expire: 2, expire_now: 1, ..Default::default() },
        matchers: vec![
            RequestMatcher::any(),
            RequestMatcher::op(OpCode::GetData).path_prefix(ROOT),
            RequestMatcher::op(OpCode::GetChildren2).path_prefix(ROOT),
        ],
        ..FaultPlanConfig::default()
    }
}

/// A cache of any kind.
enum Follower {
    Node(NodeCache),
    Path(PathCache),
    Tree(TreeCache),
}

impl Follower {
    /// The nodes the writers change.
    fn targets(&self) -> Vec<String> {
        let under = |names: &[&str]| names.iter().map(|n| format!("{ROOT}/{n}")).collect();
        match self {
            Follower::Node(_) => vec![ROOT.to_owned()],
            Follower::Path(_) => under(&["c0", "c1", "c2"]),
            Follower::Tree(_) => under(&["a", "b", "a/x", "b/y", "a/x/z"]),
        }
    }

    fn start(&self) {
        let started = match self {
            Follower::Node(c) => c.start(),
            Follower::Path(c) => c.start(),
            Follower::Tree(c) => c.start(),
        };
        started.expect("starts");
    }

    async fn initialized(&self) -> bool {
        let limit = Duration::from_secs(10);
        let done = match self {
            Follower::Node(c) => c.initialized_timeout(limit).await,
            Follower::Path(c) => c.initialized_timeout(limit).await,
            Follower::Tree(c) => c.initialized_timeout(limit).await,
        };
        done.unwrap_or(false)
    }

    /// The cache's snapshot, as path -> data.
    fn snapshot(&self) -> TreeData {
        match self {
            Follower::Node(c) => c.current().map(|n| (ROOT.to_owned(), n.data)).into_iter().collect(),
            Follower::Path(c) => c
                .current()
                .into_iter()
                .map(|(name, child)| (format!("{ROOT}/{name}"), child.data.unwrap_or_default()))
                .collect(),
            Follower::Tree(c) => c.current().into_iter().map(|(path, node)| (path, node.data)).collect(),
        }
    }

    /// The part of the server's tree the cache covers.
    fn server_view(&self, server: &TestServer) -> TreeData {
        let mut tree = tree_data(&server.tree(), ROOT);
        match self {
            Follower::Node(_) => tree.retain(|path, _| path == ROOT),
            Follower::Path(_) => tree
                .retain(|path, _| path.strip_prefix(&format!("{ROOT}/")).is_some_and(|n| !n.contains('/'))),
            Follower::Tree(_) => {}
        }
        tree
    }
}

/// A writer: [`CHANGES`] changes of the targets, 200 to 900 ms apart, recorded; errors are
/// part of the workload (a create under a missing parent, a delete of a node with children, a
/// connection loss).
async fn write(client: Client, targets: Vec<String>, p: Participant, mut rng: Rng) {
    for k in 0..CHANGES {
        sleep(rng.millis(200, 900)).await;
        let target = &targets[rng.below(targets.len() as u64) as usize];
        let data = format!("{}-{k}", p.name());
        match rng.below(3) {
            0 => {
                let op = p.invoke(Op::create(target, data.as_bytes()));
                let r = client.create(target, data.as_bytes(), CreateMode::Persistent).await;
                p.returned(op, Outcome::of(&r, |_| Value::Done));
            }
            1 => {
                let op = p.invoke(Op::set(target, data.as_bytes(), None));
                let r = client.set_data(target, data.as_bytes(), None).await;
                p.returned(op, Outcome::of(&r, |stat| Value::Version(stat.version)));
            }
            _ => {
                let op = p.invoke(Op::delete(target, None));
                let r = client.delete(target, None).await;
                p.returned(op, Outcome::of(&r, |()| Value::Done));
            }
        }
    }
}

/// The scenario of every cache: see the module docs. With `stale`, the snapshot checked is
/// the one taken before the writers began (the negative control).
async fn cache_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
    follower: impl FnOnce(Client) -> Follower,
    stale: bool,
) -> Result<(), Violation> {
    let clients = clients(server, 3).await;
    create_path(&clients[0], ROOT).await;
    let cache = follower(clients[2].clone());
    if let Follower::Node(_) = cache {
        clients[0].delete(ROOT, None).await.expect("setup: the node starts missing");
    }
    cache.start();
    assert!(cache.initialized().await, "setup: the cache initializes");
    let before = cache.snapshot();
    let start = Instant::now();
    let writers = futures::future::join(
        write(clients[0].clone(), cache.targets(), recorder.participant("w0"), Rng::new(server, 0)),
        write(clients[1].clone(), cache.targets(), recorder.participant("w1"), Rng::new(server, 1)),
    );
    tokio::join!(writers, plan.apply(server, &clients));
    settle(server, plan, start, Duration::from_secs(1)).await;
    let converged = || cache.snapshot() == cache.server_view(server);
    eventually(CONVERGED_WITHIN, Duration::from_millis(250), converged).await;
    let snapshot = if stale { before } else { cache.snapshot() };
    cache_converged(&snapshot, &cache.server_view(server))
}

/// [`NodeCache`] of a node the writers create, change and delete.
pub(crate) async fn node_cache_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    let follower = |c| Follower::Node(NodeCache::new(c, ROOT).expect("a cache"));
    cache_scenario(server, plan, recorder, follower, false).await
}

/// [`PathCache`] of a node whose three children the writers create, change and delete.
pub(crate) async fn path_cache_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    let follower = |c| Follower::Path(PathCache::new(c, ROOT).expect("a cache"));
    cache_scenario(server, plan, recorder, follower, false).await
}

/// [`TreeCache`] of a subtree three levels deep.
pub(crate) async fn tree_cache_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    let follower = |c| Follower::Tree(TreeCache::new(c, ROOT).expect("a cache"));
    cache_scenario(server, plan, recorder, follower, false).await
}

async fn broken_stale_tree_cache_scenario(
    server: &TestServer,
    plan: &FaultPlan,
    recorder: &Recorder,
) -> Result<(), Violation> {
    let follower = |c| Follower::Tree(TreeCache::new(c, ROOT).expect("a cache"));
    cache_scenario(server, plan, recorder, follower, true).await
}

#[test]
fn node_cache() {
    check_seeds("node_cache", scenario!(node_cache_scenario), &config());
}

#[test]
fn path_cache() {
    check_seeds("path_cache", scenario!(path_cache_scenario), &config());
}

#[test]
fn tree_cache() {
    check_seeds("tree_cache", scenario!(tree_cache_scenario), &config());
}

#[test]
fn negative_cache_converged_catches_a_stale_snapshot() {
    let config = FaultPlanConfig { faults: 0..=0, ..config() };
    let control: crate::Scenario = scenario!(broken_stale_tree_cache_scenario);
    must_catch("stale snapshot", control, &config, Checker::CacheConvergence, "");
}
