//! The embedded server's state machine: the znode tree, sessions' ephemerals, per-connection
//! identities and watches, and every request that touches them. Pure: no I/O, no clocks (time
//! comes in as `now_ms`), no async. Section numbers (§) refer to `docs/protocol.md`.
//!
//! - `tree`: compact node store with an undo log (multi atomicity without copying the tree).
//! - `index`: the path → node table; `acl`: ACL lists, validation and checks.
//! - `ops`: single requests with the reference's error precedence (§4.3).
//! - `multi`: multi / multiRead (§6); `watches`: watch tables and triggers (§7).
//! - `snapshot`: a versioned binary image of the tree for restarts.

mod acl;
mod index;
mod multi;
mod node;
mod ops;
mod snapshot;
mod tree;
mod watches;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use zk_core::proto::{Acl, ErrorCode, EventType, KeeperState, Perms, Request, Stat, WatcherEvent};

pub(crate) use acl::digest_id;
use index::Idx;
pub(crate) use snapshot::SavedSession;
use tree::{Kind, Node, Tree};
use watches::Watches;

/// The shell's number for one client connection.
pub(crate) type ConnId = u64;

/// Server options the state machine needs.
#[derive(Debug, Clone)]
pub(crate) struct StateConfig {
    /// TTL nodes allowed (`zookeeper.extendedTypesEnabled`); otherwise TTL creates answer
    /// UNIMPLEMENTED (§5.7).
    pub(crate) extended_types: bool,
    /// `super:<base64 sha1>`: a connection authenticating with this digest id becomes a super
    /// user (see [`State::add_identity`]) and bypasses every ACL.
    pub(crate) super_digest: Option<String>,
    /// The release whose behaviour to follow where releases differ.
    pub(crate) version: crate::ServerVersion,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig { extended_types: true, super_digest: None, version: crate::ServerVersion::V3_9_3 }
    }
}

/// A watch event for one connection (sent with xid -1 and zxid -1, state SyncConnected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notification {
    pub(crate) conn: ConnId,
    pub(crate) event: WatcherEvent,
}

/// The reply to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// An [`ErrorCode`] value.
    pub(crate) err: i32,
    /// The last processed zxid (a write's own zxid, also when it failed).
    pub(crate) zxid: i64,
    /// The encoded response record; empty when `err != 0`.
    pub(crate) body: Vec<u8>,
    /// Close the connection after sending (standalone `check`, shell-only requests).
    pub(crate) close_connection: bool,
}

/// What a request produced: notifications are delivered before the reply (§7.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) reply: Reply,
    pub(crate) notifications: Vec<Notification>,
}

#[derive(Debug)]
struct Conn {
    session: i64,
    /// `(scheme, id)`, `ip` first; digest ids in full (`user:hash`).
    ids: Vec<(String, String)>,
}

/// A change waiting to be turned into notifications (after a multi commits).
#[derive(Debug)]
struct Event {
    kind: EventType,
    path: String,
    /// The ACL that decides delivery: the node's, or the parent's for NodeChildrenChanged.
    acl: Arc<[Acl]>,
}

/// The whole server state.
#[derive(Debug)]
pub(crate) struct State {
    config: StateConfig,
    tree: Tree,
    zxid: i64,
    conns: HashMap<ConnId, Conn>,
    watches: Watches,
    pending: Vec<Event>,
    out: Vec<Notification>,
}

/// Paths that always exist and cannot be deleted (§5.9, §10.3).
const RESERVED: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

impl State {
    /// A fresh tree exactly as a new reference server has it (§5.9).
    pub(crate) fn new(config: StateConfig) -> State {
        let mut tree = Tree::default();
        let open = tree.acls.intern(&Acl::open_unsafe());
        let root = tree.attach(Node::new("/", Some(b""), open, Kind::Persistent, 0), None);
        tree.acls.retain(open);
        let zk = tree.attach(Node::new("/zookeeper", Some(b""), open, Kind::Persistent, 0), Some(root));
        tree.acls.retain(open);
        tree.attach(Node::new("/zookeeper/quota", Some(b""), open, Kind::Persistent, 0), Some(zk));
        let read = tree.acls.intern(&Acl::read_unsafe());
        let mut config_node = Node::new("/zookeeper/config", Some(b""), read, Kind::Persistent, 0);
        config_node.aversion = -1;
        tree.attach(config_node, Some(zk));
        State::with_tree(config, tree, 0)
    }

    fn with_tree(config: StateConfig, tree: Tree, zxid: i64) -> State {
        let watches = Watches::new(config.version.watch_modes_replace());
        State { config, tree, zxid, conns: HashMap::new(), watches, pending: Vec::new(), out: Vec::new() }
    }

    /// The zxid of the last transaction.
    pub(crate) fn last_zxid(&self) -> i64 {
        self.zxid
    }

    fn next_zxid(&mut self) -> i64 {
        self.zxid += 1;
        self.zxid
    }

    /// Records a createSession transaction; returns its zxid.
    pub(crate) fn create_session(&mut self) -> i64 {
        self.next_zxid()
    }

    /// One closeSession transaction: deletes the session's ephemerals (each firing its
    /// watches and moving its parent's pzxid/cversion), all with one zxid.
    pub(crate) fn close_session(&mut self, session_id: i64) -> Vec<Notification> {
        let zxid = self.next_zxid();
        let mut doomed: Vec<(String, Idx)> = self
            .tree
            .ephemerals_of(session_id)
            .into_iter()
            .map(|i| (self.tree.node(i).path().to_owned(), i))
            .collect();
        doomed.sort();
        for (_, idx) in doomed {
            let parent = self.tree.parent_of(idx);
            self.remove_node(idx, parent, zxid);
        }
        self.flush()
    }

    /// A connection of `session_id` from address `ip`; its identities start as `[ip:<ip>]`.
    pub(crate) fn connection_opened(&mut self, conn: ConnId, session_id: i64, ip: &str) {
        let ids = vec![("ip".to_owned(), ip.to_owned())];
        self.conns.insert(conn, Conn { session: session_id, ids });
    }

    /// Adds an identity after a successful auth (duplicates ignored).
    ///
    /// This is the one place the super user is decided: a `digest` id equal to the configured
    /// `super_digest` first adds a `super` identity named after its user (as ZooKeeper's
    /// `DigestAuthenticationProvider` does), which then bypasses every ACL check.
    pub(crate) fn add_identity(&mut self, conn: ConnId, scheme: &str, id: &str) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let is_super = scheme == "digest" && self.config.super_digest.as_deref() == Some(id);
        if is_super {
            let user = id.split(':').next().unwrap_or_default();
            push_unique(&mut c.ids, "super", user);
        }
        push_unique(&mut c.ids, scheme, id);
    }

    /// The connection's identities as whoAmI reports them: `(scheme, user)`, where a digest
    /// id shows only its user part (the provider's user name).
    pub(crate) fn identities(&self, conn: ConnId) -> Vec<(String, String)> {
        self.ids(conn)
            .iter()
            .map(|(s, id)| match (s.as_str(), id.split_once(':')) {
                ("digest", Some((user, _))) => (s.clone(), user.to_owned()),
                _ => (s.clone(), id.clone()),
            })
            .collect()
    }

    /// The connection's identities as stored (`(scheme, id)`, digest ids in full), for a
    /// transaction to carry to the other members of an ensemble.
    pub(crate) fn raw_identities(&self, conn: ConnId) -> Vec<(String, String)> {
        self.ids(conn).to_vec()
    }

    /// Forgets the connection's watches and identities.
    pub(crate) fn connection_closed(&mut self, conn: ConnId) {
        self.watches.remove_conn(conn);
        self.conns.remove(&conn);
    }

    /// Deletes eligible containers (childless, had a child) and TTL nodes (childless,
    /// `now - mtime > ttl`), at most `max`, each in its own deleteContainer transaction.
    pub(crate) fn reap(&mut self, now_ms: i64, max: usize) -> Vec<Notification> {
        let mut doomed: Vec<(String, Idx)> = self
            .tree
            .timed()
            .filter(|&i| {
                let n = self.tree.node(i);
                n.num_children() == 0
                    && match n.kind() {
                        Kind::Container => n.cseq > 0,
                        Kind::Ttl => now_ms.saturating_sub(n.mtime) > n.owner,
                        Kind::Persistent | Kind::Ephemeral => false,
                    }
            })
            .map(|i| (self.tree.node(i).path().to_owned(), i))
            .collect();
        doomed.sort();
        for (_, idx) in doomed.into_iter().take(max) {
            let zxid = self.next_zxid();
            let parent = self.tree.parent_of(idx);
            self.remove_node(idx, parent, zxid);
        }
        self.flush()
    }

    /// Number of znodes (including `/` and the `/zookeeper` subtree).
    pub(crate) fn node_count(&self) -> usize {
        self.tree.len()
    }

    /// Number of watches, counted per table as `wchs` does.
    pub(crate) fn watch_count(&self) -> usize {
        self.watches.count()
    }

    /// The session's ephemeral paths, sorted.
    pub(crate) fn ephemerals(&self, session_id: i64) -> Vec<String> {
        let mut paths: Vec<String> = self
            .tree
            .ephemerals_of(session_id)
            .into_iter()
            .map(|i| self.tree.node(i).path().to_owned())
            .collect();
        paths.sort();
        paths
    }

    /// Number of ephemeral nodes of all sessions.
    pub(crate) fn ephemeral_count(&self) -> usize {
        self.tree.ephemeral_count()
    }

    /// Sum of path and data lengths over all nodes (`zk_approximate_data_size`).
    pub(crate) fn approximate_data_size(&self) -> usize {
        self.tree.data_size()
    }

    /// Every node with its stat and data (null data as `None`), sorted by path.
    pub(crate) fn dump(&self) -> Vec<(String, Stat, Option<Vec<u8>>)> {
        let mut all: Vec<_> = self
            .tree
            .preorder()
            .into_iter()
            .map(|i| {
                let n = self.tree.node(i);
                (n.path().to_owned(), n.stat(), n.data().map(<[u8]>::to_vec))
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// One node's stat and data (null data as `None`), if it exists.
    pub(crate) fn node(&self, path: &str) -> Option<(Stat, Option<Vec<u8>>)> {
        let n = self.tree.node(self.tree.lookup(path)?);
        Some((n.stat(), n.data().map(<[u8]>::to_vec)))
    }

    /// The full paths of `path`'s direct children, sorted; empty when it does not exist. As
    /// `TestServer::children` always has, `""` names the root.
    pub(crate) fn children(&self, path: &str) -> Vec<String> {
        let path = if path.is_empty() { "/" } else { path };
        let Some(idx) = self.tree.lookup(path) else { return Vec::new() };
        let prefix = if path == "/" { "" } else { path };
        let mut kids: Vec<String> =
            self.tree.child_names(idx).into_iter().map(|name| format!("{prefix}/{name}")).collect();
        kids.sort_unstable();
        kids
    }

    /// Each connection holding watches, with its watched paths (both sorted).
    pub(crate) fn watches_by_conn(&self) -> Vec<(ConnId, Vec<String>)> {
        self.watches.by_conn()
    }

    /// Handles one client request of `conn`'s session.
    pub(crate) fn process(&mut self, conn: ConnId, request: Request, now_ms: i64) -> Outcome {
        let reply = self.dispatch(conn, request, now_ms);
        Outcome { reply, notifications: self.flush() }
    }

    /// Applies a transaction of `conn` as a member of an ensemble does: when the connection is
    /// not one of this member's, it is known for the request's duration with the session and
    /// identities the request carries (so ACL checks and ephemeral owners come out the same on
    /// every member).
    pub(crate) fn process_as(
        &mut self,
        conn: ConnId,
        session: i64,
        ids: &[(String, String)],
        request: Request,
        now_ms: i64,
    ) -> Outcome {
        if self.conns.contains_key(&conn) {
            return self.process(conn, request, now_ms);
        }
        self.conns.insert(conn, Conn { session, ids: ids.to_vec() });
        let out = self.process(conn, request, now_ms);
        self.conns.remove(&conn);
        out
    }

    /// Starts epoch `epoch` (a new leader): the next zxid is the first of that epoch.
    pub(crate) fn begin_epoch(&mut self, epoch: u32) {
        self.zxid = self.zxid.max(i64::from(epoch) << 32);
    }

    fn ids(&self, conn: ConnId) -> &[(String, String)] {
        self.conns.get(&conn).map_or(&[], |c| &c.ids)
    }

    fn session(&self, conn: ConnId) -> i64 {
        self.conns.get(&conn).map_or(0, |c| c.session)
    }

    /// Whether `conn` holds any bit of `perm` on node `idx` (§9.2).
    fn allowed(&self, conn: ConnId, idx: Idx, perm: Perms) -> bool {
        let acl = self.tree.acls.get(self.tree.node(idx).acl);
        acl::allowed(acl, self.ids(conn), perm)
    }

    /// Queues `kind` on node `idx` for the watches (nothing when nobody watches anything).
    fn emit(&mut self, kind: EventType, idx: Idx) {
        if self.watches.is_empty() {
            return;
        }
        let n = self.tree.node(idx);
        let acl = self.tree.acls.get(n.acl).clone();
        self.pending.push(Event { kind, path: n.path().to_owned(), acl });
    }

    /// Deletes leaf `idx`, a child of `parent`, in transaction `zxid`, queueing NodeDeleted
    /// then NodeChildrenChanged of the parent (§7.7.4). Callers pass the parent they already
    /// looked up, so a delete finds it once.
    fn remove_node(&mut self, idx: Idx, parent: Option<Idx>, zxid: i64) {
        self.emit(EventType::NodeDeleted, idx);
        self.tree.delete(idx, parent, zxid);
        if let Some(parent) = parent {
            self.emit(EventType::NodeChildrenChanged, parent);
        }
    }

    /// Turns queued events into notifications: the watch is consumed either way, but the event
    /// is dropped for a connection without READ on the node (3.8.4+, and Debian's 3.8.0).
    fn flush(&mut self) -> Vec<Notification> {
        for ev in std::mem::take(&mut self.pending) {
            for conn in self.watches.trigger(ev.kind, &ev.path) {
                if !self.config.version.watch_events_check_read()
                    || acl::allowed(&ev.acl, self.ids(conn), Perms::READ)
                {
                    self.out.push(notification(conn, ev.kind, ev.path.clone()));
                }
            }
        }
        std::mem::take(&mut self.out)
    }
}

/// Appends `(scheme, id)` unless already present.
/// Adds an identity, keeping the list in the order ZooKeeper's set of them iterates in
/// (whoAmI lists it so, and an `auth` ACL expands in it): a Java `ConcurrentHashMap` of `Id`s,
/// which walks its table's bins in index order, each bin in insertion order. The bin of an id
/// is its jute hash ([`java_id_hash`]), spread (`h ^ h >>> 16`), masked by the table size: 16, doubled whenever the count reaches three
/// quarters of it. (A grown table also reorders some bins' nodes; with the handful of
/// identities a connection has, that never happens.)
fn push_unique(ids: &mut Vec<(String, String)>, scheme: &str, id: &str) {
    let pair = (scheme.to_owned(), id.to_owned());
    if ids.contains(&pair) {
        return;
    }
    ids.push(pair);
    let mut table = 16usize;
    while ids.len() >= table * 3 / 4 {
        table *= 2;
    }
    // Stable: within a bin, the order they came in.
    ids.sort_by_key(|(scheme, id)| java_bin(scheme, id, table));
}

/// `Id.hashCode()`, as jute generates it: `37 * (37 * 17 + scheme.hashCode()) + id.hashCode()`.
fn java_id_hash(scheme: &str, id: &str) -> i32 {
    37i32
        .wrapping_mul(37i32.wrapping_mul(17).wrapping_add(java_string_hash(scheme)))
        .wrapping_add(java_string_hash(id))
}

/// Java's `String.hashCode`: `s[0] * 31^(n-1) + ... + s[n-1]` over UTF-16 units, wrapping.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `ConcurrentHashMap` bin of the `Id` `(scheme, id)` in a table of `table` bins.
fn java_bin(scheme: &str, id: &str, table: usize) -> usize {
    let h = java_id_hash(scheme, id);
    let spread = (h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff;
    spread as usize & (table - 1)
}

fn notification(conn: ConnId, kind: EventType, path: String) -> Notification {
    let event = WatcherEvent { event_type: kind.code(), state: KeeperState::SyncConnected.code(), path };
    Notification { conn, event }
}

impl Reply {
    fn ok(zxid: i64, body: Vec<u8>) -> Reply {
        Reply { err: 0, zxid, body, close_connection: false }
    }

    fn error(zxid: i64, code: ErrorCode) -> Reply {
        Reply { err: code.code(), zxid, body: Vec::new(), close_connection: false }
    }

    fn from_result(zxid: i64, r: Result<Vec<u8>, ErrorCode>) -> Reply {
        match r {
            Ok(body) => Reply::ok(zxid, body),
            Err(code) => Reply::error(zxid, code),
        }
    }
}

#[cfg(test)]
mod java_order_tests {
    use super::*;

    /// What Java 17 printed for these `Id`s (`org.apache.zookeeper.data.Id` from Debian's
    /// zookeeper-jute 3.8.0) added in this order to `Collections.newSetFromMap(new
    /// ConcurrentHashMap<>())`, as `ServerCnxn.authInfo` is: the iteration order, with each
    /// `Id.hashCode()`.
    const JAVA: [(&str, &str, i32); 8] = [
        ("digest", "u3:x", -2_032_591_207),
        ("digest", "u2:x", -2_032_592_168),
        ("sasl", "alice", 223_271_948),
        ("x509", "CN=alice", -1_011_463_211),
        ("super", "", -232_294_480),
        ("digest", "bob:abc", -1_984_915_110),
        ("ip", "127.0.0.1", 1_506_146_057),
        ("digest", "u1:x", -2_032_593_129),
    ];
    const ADDED: [(&str, &str); 8] = [
        ("ip", "127.0.0.1"),
        ("digest", "u1:x"),
        ("digest", "u2:x"),
        ("digest", "u3:x"),
        ("sasl", "alice"),
        ("digest", "bob:abc"),
        ("super", ""),
        ("x509", "CN=alice"),
    ];

    #[test]
    fn string_hashes_are_javas() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("ip"), 3367);
        assert_eq!(java_string_hash("digest"), -1_331_913_276);
    }

    #[test]
    fn identities_come_out_in_the_java_servers_order() {
        let mut ids = Vec::new();
        for (s, id) in ADDED.into_iter().chain([("digest", "u1:x")]) {
            push_unique(&mut ids, s, id);
        }
        let java: Vec<(String, String)> =
            JAVA.iter().map(|(s, id, _)| ((*s).to_owned(), (*id).to_owned())).collect();
        assert_eq!(ids, java);
        for (s, id, hash) in JAVA {
            assert_eq!(java_id_hash(s, id), hash, "{s}:{id}");
        }
    }
}
