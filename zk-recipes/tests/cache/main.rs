//! Integration tests of the caches, against zk-testing's embedded server on a paused clock
//! (and the key scripted scenarios on both backends).

mod batch;
mod faults;
mod node;
mod on_backends;
mod path;
mod script;
mod shared_path;
#[path = "../support/mod.rs"]
mod support;
mod tree;
mod view;

pub(crate) use support::{client, server, settle};

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use zk_core::{Client, Stat};
use zk_testing::TestServer;

/// What the tests compare: full path -> (data, stat).
pub(crate) type Nodes = BTreeMap<String, (Vec<u8>, Stat)>;

/// The next item of `s`, failing the test after 10 s.
pub(crate) async fn next<S: Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
}

/// The next `n` items of `s`, shown with `show`.
pub(crate) async fn take<S: Stream + Unpin>(
    s: &mut S,
    n: usize,
    show: fn(&S::Item) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(show(&next(s).await));
    }
    out
}

/// Every item `s` has ready now, shown with `show`.
pub(crate) fn ready<S: Stream + Unpin>(s: &mut S, show: fn(&S::Item) -> String) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        match s.next().now_or_never() {
            Some(Some(item)) => out.push(show(&item)),
            _ => break,
        }
    }
    out
}

/// The embedded server's nodes below `root` (included), from `min` to `max` levels deep.
pub(crate) fn server_nodes(server: &TestServer, root: &str, min: usize, max: usize) -> Nodes {
    server
        .tree()
        .into_iter()
        .filter(|n| depth(root, &n.path).is_some_and(|d| d >= min && d <= max))
        .map(|n| (n.path, (n.data.unwrap_or_default(), n.stat)))
        .collect()
}

/// The levels of `path` below `root`, `None` when it is not in the subtree.
pub(crate) fn depth(root: &str, path: &str) -> Option<usize> {
    if path == root {
        return Some(0);
    }
    let rest = path.strip_prefix(root)?.strip_prefix('/')?;
    Some(1 + rest.matches('/').count())
}

/// The nodes below `root` read back with a client (for the real server).
pub(crate) async fn read_nodes(c: &Client, root: &str, min: usize, max: usize) -> Nodes {
    let mut out = Nodes::new();
    let mut queue = vec![root.to_owned()];
    for _ in 0..10_000 {
        let Some(path) = queue.pop() else { break };
        let Ok((data, stat)) = c.get_data(&path).await else { continue };
        let d = depth(root, &path).expect("below the root");
        if d >= min {
            out.insert(path.clone(), (data, stat));
        }
        if d < max {
            for child in c.get_children(&path).await.unwrap_or_default() {
                queue.push(format!("{path}/{child}"));
            }
        }
    }
    out
}

/// The paths below `prefix` (included) that `session` watches on the embedded server, sorted.
pub(crate) fn watched(server: &TestServer, session: i64, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = server
        .watches()
        .into_iter()
        .filter(|(s, _)| *s == session)
        .flat_map(|(_, paths)| paths)
        .filter(|p| depth(prefix, p).is_some())
        .collect();
    out.sort();
    out.dedup();
    out
}
