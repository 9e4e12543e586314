//! What tests read of a [`TestServer`]: its sessions, watches and tree.

use std::time::Duration;

use zk_core::proto::Stat;

use super::TestServer;
use crate::sessions::SessionTable;
use crate::state::State;

/// A session as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id.
    pub id: i64,
    /// Negotiated timeout.
    pub timeout: Duration,
    /// Whether a connection is bound to it right now.
    pub connected: bool,
    /// Its ephemeral nodes.
    pub ephemerals: Vec<String>,
    /// How many requests it has sent, pings excluded (with `setWatches` and the like), over
    /// all its connections: what a test counts to show a recipe's cost on the server.
    pub requests: u64,
}

/// One node of the tree, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Absolute path.
    pub path: String,
    /// Stat as a client would see it.
    pub stat: Stat,
    /// Data (`None` for null data).
    pub data: Option<Vec<u8>>,
}

/// The live sessions of `sessions`, with their ephemerals as `state` holds them.
pub(crate) fn session_infos(sessions: &SessionTable, state: &State) -> Vec<SessionInfo> {
    let list = sessions.lock().list();
    list.into_iter()
        .map(|(id, s)| SessionInfo {
            id,
            timeout: s.timeout,
            connected: s.conn.is_some(),
            ephemerals: state.ephemerals(id),
            requests: s.requests,
        })
        .collect()
}

/// Every node of `state`, sorted by path.
pub(crate) fn node_infos(state: &State) -> Vec<NodeInfo> {
    state.dump().into_iter().map(|(path, stat, data)| NodeInfo { path, stat, data }).collect()
}

/// One node of `state`.
pub(crate) fn node_info(state: &State, path: &str) -> Option<NodeInfo> {
    let (stat, data) = state.node(path)?;
    Some(NodeInfo { path: path.to_owned(), stat, data })
}

impl TestServer {
    /// Live sessions, by id.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let core = self.shared.lock();
        session_infos(&core.sessions, &core.state)
    }

    /// The paths each session's connection watches (one-shot, persistent and recursive).
    pub fn watches(&self) -> Vec<(i64, Vec<String>)> {
        let core = self.shared.lock();
        core.state
            .watches_by_conn()
            .into_iter()
            .filter_map(|(conn, paths)| core.conns.get(&conn).map(|c| (c.session, paths)))
            .collect()
    }

    /// The whole tree, sorted by path.
    pub fn tree(&self) -> Vec<NodeInfo> {
        node_infos(&self.shared.lock().state)
    }

    /// One node's path, stat and data, or `None` when it does not exist. Unlike
    /// [`TestServer::tree`] it copies only that node, so prefer it to searching the tree.
    pub fn node(&self, path: &str) -> Option<NodeInfo> {
        node_info(&self.shared.lock().state, path)
    }

    /// The full paths of the direct children of `path`, sorted (empty when it has none or
    /// does not exist).
    pub fn children(&self, path: &str) -> Vec<String> {
        self.shared.lock().state.children(path)
    }

    /// Number of znodes (including `/` and the `/zookeeper` subtree).
    pub fn node_count(&self) -> usize {
        self.shared.lock().state.node_count()
    }

    /// The tree, zxid, ephemeral owners and live sessions as bytes (see [`TestServerBuilder::start_from`](super::TestServerBuilder::start_from)).
    pub fn snapshot(&self) -> Vec<u8> {
        let core = self.shared.lock();
        let sessions = core.sessions.lock().saved();
        core.state.snapshot_with(&sessions)
    }
}
