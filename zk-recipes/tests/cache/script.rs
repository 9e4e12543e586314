//! A scripted series of changes, run step by step against a cache: after each change the
//! cache reports exactly the expected events, nothing more, and its snapshot equals the
//! server's nodes.

use std::time::Duration;

use zk_core::{Client, CreateMode};
use zk_recipes::cache::{NodeCache, NodeEvent, PathCache, PathEvent, TreeCache, TreeEvent, WatchStrategy};
use zk_testing::TestServer;

use crate::{read_nodes, ready, server_nodes, settle, take, Nodes};

/// One change, on a path relative to the script's root (`""` is the root itself).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Create(&'static str, &'static str),
    Set(&'static str, &'static str),
    Delete(&'static str),
}

/// A change and the events it must produce (`@` stands for the root's path).
pub(crate) type Step = (Op, &'static [&'static str]);

/// Where the truth comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Truth<'a> {
    /// `TestServer::tree()` of the embedded server.
    Server(&'a TestServer),
    /// Read back with a client (the real server).
    Client(&'a Client),
}

impl Truth<'_> {
    pub(crate) async fn nodes(&self, root: &str, min: usize, max: usize) -> Nodes {
        match self {
            Truth::Server(s) => server_nodes(s, root, min, max),
            Truth::Client(c) => read_nodes(c, root, min, max).await,
        }
    }
}

/// The test view of a cache: its events as short strings and its snapshot.
pub(crate) trait Probe: futures::Stream + Unpin {
    /// `+path=data`, `~path=data`, `-path`, `init`, `lost:<error>`.
    fn show(item: &Self::Item) -> String;
    /// The snapshot by full path.
    fn nodes(&self) -> Nodes;
    /// How the cache follows the server.
    fn strategy(&self) -> Option<WatchStrategy>;
}

impl Probe for TreeCache {
    fn show(e: &TreeEvent) -> String {
        match e {
            TreeEvent::NodeAdded { path, node } => format!("+{path}={}", text(&node.data)),
            TreeEvent::NodeUpdated { path, node } => format!("~{path}={}", text(&node.data)),
            TreeEvent::NodeRemoved { path, .. } => format!("-{path}"),
            TreeEvent::Initialized => "init".into(),
            TreeEvent::Lost(e) => format!("lost:{e}"),
            other => format!("{other:?}"),
        }
    }

    fn nodes(&self) -> Nodes {
        self.current().into_iter().map(|(p, n)| (p, (n.data, n.stat))).collect()
    }

    fn strategy(&self) -> Option<WatchStrategy> {
        TreeCache::strategy(self)
    }
}

impl Probe for PathCache {
    fn show(e: &PathEvent) -> String {
        let data = |d: &Option<Vec<u8>>| d.as_deref().map(text).unwrap_or_else(|| "?".into());
        match e {
            PathEvent::ChildAdded { name, child } => format!("+{name}={}", data(&child.data)),
            PathEvent::ChildUpdated { name, child } => format!("~{name}={}", data(&child.data)),
            PathEvent::ChildRemoved { name, .. } => format!("-{name}"),
            PathEvent::Initialized => "init".into(),
            PathEvent::Lost(e) => format!("lost:{e}"),
            other => format!("{other:?}"),
        }
    }

    fn nodes(&self) -> Nodes {
        let root = self.path().to_owned();
        self.current()
            .into_iter()
            .map(|(name, c)| (format!("{root}/{name}"), (c.data.unwrap_or_default(), c.stat)))
            .collect()
    }

    fn strategy(&self) -> Option<WatchStrategy> {
        PathCache::strategy(self)
    }
}

impl Probe for NodeCache {
    fn show(e: &NodeEvent) -> String {
        match e {
            NodeEvent::Created(n) => format!("+{}", text(&n.data)),
            NodeEvent::Changed(n) => format!("~{}", text(&n.data)),
            NodeEvent::Deleted(_) => "-".into(),
            NodeEvent::Initialized => "init".into(),
            NodeEvent::Lost(e) => format!("lost:{e}"),
            other => format!("{other:?}"),
        }
    }

    fn nodes(&self) -> Nodes {
        self.current().into_iter().map(|n| (self.path().to_owned(), (n.data, n.stat))).collect()
    }

    fn strategy(&self) -> Option<WatchStrategy> {
        NodeCache::strategy(self)
    }
}

fn text(d: &[u8]) -> String {
    String::from_utf8_lossy(d).into_owned()
}

fn full(root: &str, rel: &str) -> String {
    if rel.is_empty() {
        root.to_owned()
    } else {
        format!("{root}/{rel}")
    }
}

/// Applies one change with `zk`.
pub(crate) async fn apply(zk: &Client, root: &str, op: Op) {
    match op {
        Op::Create(p, d) => {
            zk.create(&full(root, p), d.as_bytes(), CreateMode::Persistent).await.expect("create");
        }
        Op::Set(p, d) => {
            zk.set_data(&full(root, p), d.as_bytes(), None).await.expect("set");
        }
        Op::Delete(p) => zk.delete(&full(root, p), None).await.expect("delete"),
    }
}

/// Checks that the cache has nothing more to say and that its snapshot equals the server's
/// nodes from `min` to `max` levels below `root` (as `comparable` shows them).
pub(crate) async fn check<C: Probe>(cache: &mut C, truth: Truth<'_>, root: &str, min: usize, max: usize) {
    settle().await;
    assert_eq!(ready(cache, C::show), Vec::<String>::new(), "no further event");
    let got = comparable(cache, root, max, cache.nodes());
    let want = comparable(cache, root, max, truth.nodes(root, min, max).await);
    assert_eq!(got, want, "the snapshot equals the server's nodes");
}

/// `nodes` as `check` compares them: with one-shot watches the nodes at the depth limit have
/// no child watch, so their child counters are compared only with a persistent watch.
fn comparable<C: Probe>(cache: &C, root: &str, max: usize, mut nodes: Nodes) -> Nodes {
    if cache.strategy() == Some(WatchStrategy::OneShot) {
        for (path, (_, stat)) in nodes.iter_mut() {
            if crate::depth(root, path) == Some(max) {
                (stat.cversion, stat.num_children, stat.pzxid) = (0, 0, 0);
            }
        }
    }
    nodes
}

/// What `run` does between a step's events and its `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Nothing: `check`'s pause is enough on the paused clock.
    No,
    /// In real time, polls (at most 10 s) until the snapshot equals the server's nodes. Some
    /// changes move a cached node's child counters without any event (a grandchild of a
    /// `PathCache`, a child of a `NodeCache`, the parent of a created `TreeCache` node, re-read
    /// after its event): the cache reads them after the notification, which in real time may
    /// take longer than `check`'s pause.
    ForSnapshot,
}

/// Runs `steps`, checking the events of each and the snapshot after each.
pub(crate) async fn run<C: Probe>(
    cache: &mut C,
    zk: &Client,
    truth: Truth<'_>,
    root: &str,
    (min, max): (usize, usize),
    steps: &[Step],
    wait: Wait,
) {
    for (i, (op, expected)) in steps.iter().enumerate() {
        apply(zk, root, *op).await;
        let expected: Vec<String> = expected.iter().map(|e| e.replace('@', root)).collect();
        assert_eq!(take(cache, expected.len(), C::show).await, expected, "step {i}: {op:?}");
        if wait == Wait::ForSnapshot {
            snapshot_caught_up(cache, truth, root, (min, max)).await;
        }
        check(cache, truth, root, min, max).await;
    }
}

/// Waits at most 10 s for the snapshot to equal the server's nodes; on a timeout it returns
/// and `check` shows the difference.
async fn snapshot_caught_up<C: Probe>(cache: &C, truth: Truth<'_>, root: &str, (min, max): (usize, usize)) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let want = comparable(cache, root, max, truth.nodes(root, min, max).await);
        if comparable(cache, root, max, cache.nodes()) == want || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The tree script: nested creates, updates and deletes below `@`.
pub(crate) const TREE_STEPS: &[Step] = &[
    (Op::Create("a", "1"), &["+@/a=1"]),
    (Op::Create("a/b", "2"), &["+@/a/b=2"]),
    (Op::Create("a/b/c", "3"), &["+@/a/b/c=3"]),
    (Op::Set("a", "1b"), &["~@/a=1b"]),
    (Op::Set("a/b/c", "3b"), &["~@/a/b/c=3b"]),
    (Op::Create("d", ""), &["+@/d="]),
    (Op::Delete("a/b/c"), &["-@/a/b/c"]),
    (Op::Delete("a/b"), &["-@/a/b"]),
    (Op::Set("", "root"), &["~@=root"]),
    (Op::Delete("d"), &["-@/d"]),
    (Op::Create("a/e", "5"), &["+@/a/e=5"]),
];

/// The children script: grandchildren are not reported, the parent's data neither.
pub(crate) const PATH_STEPS: &[Step] = &[
    (Op::Create("a", "1"), &["+a=1"]),
    (Op::Create("a/deep", "x"), &[]),
    (Op::Set("a", "2"), &["~a=2"]),
    (Op::Create("b", "3"), &["+b=3"]),
    (Op::Set("a/deep", "y"), &[]),
    (Op::Delete("a/deep"), &[]),
    (Op::Set("", "parent"), &[]),
    (Op::Delete("a"), &["-a"]),
    (Op::Set("b", "4"), &["~b=4"]),
];

/// The single-node script (the root of the script is the node): it starts missing.
pub(crate) const NODE_STEPS: &[Step] = &[
    (Op::Create("", "1"), &["+1"]),
    (Op::Set("", "2"), &["~2"]),
    (Op::Create("child", "c"), &[]),
    (Op::Set("child", "d"), &[]),
    (Op::Delete("child"), &[]),
    (Op::Delete(""), &["-"]),
    (Op::Create("", "3"), &["+3"]),
    (Op::Set("", "4"), &["~4"]),
];
