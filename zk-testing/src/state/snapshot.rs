//! A binary image of the tree: the standalone binary's snapshot file and restarts.
//!
//! Layout (jute primitives, big-endian): magic `ZKTSTATE`, format version (int), last zxid
//! (long), the distinct ACL lists (`int` count, then each as `vector<ACL>`), the node count
//! (int), every node parents-first as `ustring path, buffer data (null kept), int acl list,
//! long czxid mzxid pzxid ctime mtime owner, int version aversion C kind`, then a 64-bit hash
//! of everything before it. Format 2 adds, before the hash, the live sessions (`int` count, then
//! each as `long id, buffer password, int timeout ms`), so that a server restarted from its
//! snapshot keeps them, as ZooKeeper keeps them across a restart; format 1 files (no sessions)
//! still load. Sessions' ephemerals are the ephemeral nodes' owners; watches and connections
//! are not saved (clients re-send them, §7.5).

use std::collections::HashMap;

use bytes::BufMut;
use zk_core::path::validate_path;
use zk_core::proto::{
    read_acl_vec, read_buffer, read_i32, read_i64, read_string, write_acl_vec, write_buffer, write_string,
    Acl,
};

use super::acl::AclId;
use super::index::hash_path;
use super::tree::{parent_path, Kind, Node, Tree};
use super::{State, StateConfig};

const MAGIC: &[u8; 8] = b"ZKTSTATE";
const FORMAT: i32 = 2;
/// The format before sessions were saved.
const FORMAT_TREE_ONLY: i32 = 1;
/// The bytes one saved session takes (its password is 16 bytes).
const MIN_SESSION_LEN: usize = 8 + 4 + 16 + 4;

/// A session as a snapshot keeps it: what a client needs to resume it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedSession {
    pub(crate) id: i64,
    pub(crate) password: [u8; 16],
    pub(crate) timeout_ms: i32,
}
/// The fewest bytes one node takes (empty path and data): a bound on the node count.
const MIN_NODE_LEN: usize = 4 + 4 + 4 + 6 * 8 + 4 * 4;

impl State {
    /// The whole tree, the last zxid, every node's counters and ephemeral owners (no sessions).
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> Vec<u8> {
        self.snapshot_with(&[])
    }

    /// [`State::snapshot`] with the live `sessions`.
    pub(crate) fn snapshot_with(&self, sessions: &[SavedSession]) -> Vec<u8> {
        let order = self.tree.preorder();
        let mut numbers: HashMap<AclId, i32> = HashMap::new();
        let mut lists: Vec<&[Acl]> = Vec::new();
        for &i in &order {
            let id = self.tree.node(i).acl;
            numbers.entry(id).or_insert_with(|| {
                lists.push(self.tree.acls.get(id));
                (lists.len() - 1) as i32
            });
        }
        let mut out = Vec::with_capacity(64 + self.tree.data_size() + order.len() * (MIN_NODE_LEN + 8));
        out.extend_from_slice(MAGIC);
        out.put_i32(FORMAT);
        out.put_i64(self.zxid);
        out.put_i32(lists.len() as i32);
        for list in &lists {
            write_acl_vec(&mut out, list);
        }
        out.put_i32(order.len() as i32);
        for &i in &order {
            let n = self.tree.node(i);
            write_string(&mut out, n.path());
            write_buffer(&mut out, n.data());
            out.put_i32(numbers.get(&n.acl).copied().unwrap_or(0));
            for v in [n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime, n.owner] {
                out.put_i64(v);
            }
            for v in [n.version, n.aversion, n.cseq, n.kind() as i32] {
                out.put_i32(v);
            }
        }
        out.put_i32(sessions.len() as i32);
        for s in sessions {
            out.put_i64(s.id);
            write_buffer(&mut out, Some(&s.password));
            out.put_i32(s.timeout_ms);
        }
        let sum = hash_path(&out);
        out.put_u64(sum);
        out
    }

    /// Rebuilds a state from [`State::snapshot`] bytes (its sessions are dropped).
    ///
    /// # Errors
    /// As [`State::restore_with`].
    #[cfg(test)]
    pub(crate) fn restore(bytes: &[u8], config: StateConfig) -> Result<State, String> {
        State::restore_with(bytes, config).map(|(state, _)| state)
    }

    /// Rebuilds a state and the sessions from [`State::snapshot_with`] bytes.
    ///
    /// # Errors
    /// A description of the first problem: wrong magic or version, bad checksum, truncated or
    /// trailing bytes, or a tree that is not well formed (no root first, a node before its
    /// parent, duplicates, invalid paths, unknown ACL numbers or kinds), or a bad session.
    pub(crate) fn restore_with(
        bytes: &[u8],
        config: StateConfig,
    ) -> Result<(State, Vec<SavedSession>), String> {
        let split = bytes.len().checked_sub(8).ok_or("snapshot too short")?;
        let (body, sum) = bytes.split_at(split);
        let mut want = [0u8; 8];
        want.copy_from_slice(sum);
        if !body.starts_with(MAGIC) {
            return Err("not a zk-testing snapshot (bad magic)".into());
        }
        if hash_path(body) != u64::from_be_bytes(want) {
            return Err("snapshot checksum mismatch".into());
        }
        let mut r = &body[MAGIC.len()..];
        let format = read_i32(&mut r, "format").map_err(|e| e.to_string())?;
        if format != FORMAT && format != FORMAT_TREE_ONLY {
            return Err(format!("unsupported snapshot format {format}"));
        }
        let (zxid, tree) = read_tree(&mut r).map_err(|e| format!("bad snapshot: {e}"))?;
        let sessions = if format == FORMAT { read_sessions(&mut r)? } else { Vec::new() };
        if !r.is_empty() {
            return Err(format!("bad snapshot: {} trailing bytes", r.len()));
        }
        Ok((State::with_tree(config, tree, zxid), sessions))
    }
}

fn read_sessions(r: &mut &[u8]) -> Result<Vec<SavedSession>, String> {
    let e = |e: zk_core::proto::DecodeError| format!("bad snapshot: {e}");
    let count = read_count(r, MIN_SESSION_LEN, "session count")?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let id = read_i64(r, "session id").map_err(e)?;
        let password = read_buffer(r, "session password").map_err(e)?.unwrap_or_default();
        let password: [u8; 16] = password
            .try_into()
            .map_err(|p: Vec<u8>| format!("bad snapshot: a session password of {} bytes", p.len()))?;
        let timeout_ms = read_i32(r, "session timeout").map_err(e)?;
        if id == 0 || timeout_ms <= 0 {
            return Err(format!("bad snapshot: session 0x{id:x} with timeout {timeout_ms} ms"));
        }
        out.push(SavedSession { id, password, timeout_ms });
    }
    Ok(out)
}

/// A count that the remaining input can hold at `min_len` bytes per item.
fn read_count(r: &mut &[u8], min_len: usize, what: &'static str) -> Result<usize, String> {
    let n = read_i32(r, what).map_err(|e| e.to_string())?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n.saturating_mul(min_len) <= r.len())
        .ok_or_else(|| format!("impossible {what} {n}"))
}

fn read_tree(r: &mut &[u8]) -> Result<(i64, Tree), String> {
    let zxid = read_i64(r, "zxid").map_err(|e| e.to_string())?;
    if zxid < 0 {
        return Err(format!("negative zxid {zxid}"));
    }
    let list_count = read_count(r, 4, "ACL list count")?;
    let mut lists = Vec::new();
    for _ in 0..list_count {
        lists.push(read_acl_vec(r, "ACL list").map_err(|e| e.to_string())?);
    }
    let node_count = read_count(r, MIN_NODE_LEN, "node count")?;
    let mut tree = Tree::default();
    for i in 0..node_count {
        let mut node = read_node(r, &lists)?;
        let path = node.path().to_owned();
        let parent = if i == 0 {
            if path != "/" {
                return Err(format!("first node is {path:?}, not the root"));
            }
            None
        } else {
            validate_path(&path).map_err(|e| e.to_string())?;
            if tree.lookup(&path).is_some() {
                return Err(format!("duplicate node {path}"));
            }
            let parent =
                parent_path(&path).and_then(|p| tree.lookup(p)).ok_or(format!("orphan node {path}"))?;
            if tree.node(parent).kind() == Kind::Ephemeral {
                return Err(format!("child of an ephemeral: {path}"));
            }
            Some(parent)
        };
        node.acl = tree.acls.intern(&lists[node.acl as usize]);
        tree.attach(node, parent);
    }
    if node_count == 0 {
        return Err("no root".into());
    }
    Ok((zxid, tree))
}

/// One node; its `acl` is still the snapshot's list number (checked to be in range).
fn read_node(r: &mut &[u8], lists: &[Vec<Acl>]) -> Result<Node, String> {
    let e = |e: zk_core::proto::DecodeError| e.to_string();
    let path = read_string(r, "path").map_err(e)?;
    if path.len() > super::tree::MAX_PATH {
        return Err(format!("path of {} bytes", path.len()));
    }
    let data = read_buffer(r, "data").map_err(e)?;
    let acl = read_i32(r, "acl").map_err(e)?;
    if usize::try_from(acl).map_or(true, |a| a >= lists.len()) {
        return Err(format!("unknown ACL list {acl} for {path}"));
    }
    let mut longs = [0i64; 6];
    for v in &mut longs {
        *v = read_i64(r, "node field").map_err(e)?;
    }
    let mut ints = [0i32; 4];
    for v in &mut ints {
        *v = read_i32(r, "node field").map_err(e)?;
    }
    let [czxid, mzxid, pzxid, ctime, mtime, owner] = longs;
    let [version, aversion, cseq, kind] = ints;
    let kind = Kind::from_code(kind).ok_or(format!("unknown node kind {kind} for {path}"))?;
    let mut node = Node::new(&path, data.as_deref(), acl as AclId, kind, owner);
    (node.czxid, node.mzxid, node.pzxid, node.ctime, node.mtime) = (czxid, mzxid, pzxid, ctime, mtime);
    (node.version, node.aversion, node.cseq) = (version, aversion, cseq);
    Ok(node)
}
