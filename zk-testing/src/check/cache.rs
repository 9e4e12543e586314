//! Cache convergence: a cache's final view against the server's tree.

use std::collections::BTreeMap;

use super::event::Bytes;
use super::violation::{Checker, Violation};
use crate::server::NodeInfo;

/// A tree's contents: path -> data (null data as empty).
pub type TreeData = BTreeMap<String, Vec<u8>>;

/// The part of a [`TestServer::tree`](crate::TestServer::tree) at and below `root`, as a
/// [`TreeData`] (`root` itself included; remove it to compare with a cache of children).
pub fn tree_data(tree: &[NodeInfo], root: &str) -> TreeData {
    let prefix = if root.ends_with('/') { root.to_owned() } else { format!("{root}/") };
    tree.iter()
        .filter(|n| n.path == root || n.path.starts_with(&prefix))
        .map(|n| (n.path.clone(), n.data.clone().unwrap_or_default()))
        .collect()
}

/// Checks that a cache converged: once the run is quiet, its snapshot must equal the
/// server's tree (the part the cache covers), path by path and byte for byte.
///
/// # Errors
/// The first path, in sorted order, that is missing from the cache, missing from the
/// server, or holds different data.
pub fn cache_converged(cache: &TreeData, server: &TreeData) -> Result<(), Violation> {
    let Some(path) = cache.keys().chain(server.keys()).filter(|p| cache.get(*p) != server.get(*p)).min()
    else {
        return Ok(());
    };
    let why = match (cache.get(path), server.get(path)) {
        (Some(c), Some(s)) => {
            format!("{path} holds {} in the cache but {} on the server", Bytes(c), Bytes(s))
        }
        (Some(c), None) => format!("{path} is in the cache (holding {}) but not on the server", Bytes(c)),
        (None, s) => {
            let s = s.map(|s| Bytes(s).to_string()).unwrap_or_default();
            format!("{path} is on the server (holding {s}) but not in the cache")
        }
    };
    let explanation = format!(
        "the cache did not converge to the server's tree: {why}. (The cache has {} paths, the server {}; this \
         is the first difference in path order.)",
        cache.len(),
        server.len()
    );
    Err(Violation::new(Checker::CacheConvergence, Vec::new(), explanation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_core::Stat;

    fn snap(nodes: &[(&str, &str)]) -> TreeData {
        nodes.iter().map(|(p, d)| (p.to_string(), d.as_bytes().to_vec())).collect()
    }

    #[test]
    fn equal_trees_converge() {
        let t = snap(&[("/a", "1"), ("/a/b", ""), ("/c", "x")]);
        assert_eq!(cache_converged(&t, &t.clone()), Ok(()));
        assert_eq!(cache_converged(&TreeData::new(), &TreeData::new()), Ok(()));
    }

    #[test]
    fn the_first_difference_is_reported() {
        let server = snap(&[("/a", "1"), ("/a/b", "2"), ("/a/c", "3")]);
        let stale = snap(&[("/a", "1"), ("/a/b", "old"), ("/a/c", "zzz")]);
        let v = cache_converged(&stale, &server).expect_err("stale data");
        assert!(v.explanation.contains("/a/b holds \"old\" in the cache but \"2\" on the server"), "{v}");
        let missing = snap(&[("/a", "1"), ("/a/c", "3")]);
        let v = cache_converged(&missing, &server).expect_err("missing path");
        assert!(v.explanation.contains("/a/b is on the server (holding \"2\") but not in the cache"), "{v}");
        let extra = snap(&[("/a", "1"), ("/a/b", "2"), ("/a/c", "3"), ("/z", "")]);
        let v = cache_converged(&extra, &server).expect_err("deleted path still cached");
        assert!(v.explanation.contains("/z is in the cache"), "{v}");
        assert!(v.to_string().starts_with("cache convergence violated\n"), "{v}");
    }

    #[test]
    fn snapshots_cut_a_subtree_out_of_the_server_tree() {
        let node = |path: &str, data: Option<&str>| NodeInfo {
            path: path.into(),
            stat: Stat::default(),
            data: data.map(|d| d.as_bytes().to_vec()),
        };
        let tree =
            [node("/", None), node("/app", Some("r")), node("/app/x", None), node("/apple", Some("no"))];
        assert_eq!(tree_data(&tree, "/app"), snap(&[("/app", "r"), ("/app/x", "")]));
        assert_eq!(tree_data(&tree, "/").len(), 4);
    }
}
