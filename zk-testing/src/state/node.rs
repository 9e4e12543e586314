//! One znode: stat fields, kind, and a single heap block holding its path then its data.

use zk_core::proto::Stat;

use super::acl::AclId;
use super::index::Idx;

/// What kind of node: decides the reported `ephemeralOwner` and the reaper's interest (§5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Kind {
    Persistent = 0,
    /// `owner` is the session id.
    Ephemeral = 1,
    Container = 2,
    /// `owner` is the TTL in ms.
    Ttl = 3,
}

impl Kind {
    pub(super) fn from_code(code: i32) -> Option<Kind> {
        Some(match code {
            0 => Kind::Persistent,
            1 => Kind::Ephemeral,
            2 => Kind::Container,
            3 => Kind::Ttl,
            _ => return None,
        })
    }
}

/// Longest path a node can hold (the length shares a `u32` with two flags); frames are
/// limited to 1 MiB, so real paths are far shorter.
pub(super) const MAX_PATH: usize = (1 << 29) - 1;
const KIND_SHIFT: u32 = 29;
const NULL_BIT: u32 = 1 << 31;

/// One znode. Stat fields are kept as ZooKeeper keeps them; `cversion` is derived (§5.3).
/// The parent is found by path, not stored.
#[derive(Debug)]
pub(super) struct Node {
    /// The full path, then the data.
    pub(super) buf: Box<[u8]>,
    /// Path length (low 29 bits), kind (2 bits), null-data flag (top bit).
    meta: u32,
    pub(super) acl: AclId,
    pub(super) czxid: i64,
    pub(super) mzxid: i64,
    pub(super) pzxid: i64,
    pub(super) ctime: i64,
    pub(super) mtime: i64,
    /// Session id (ephemeral) or TTL ms (TTL node); 0 otherwise.
    pub(super) owner: i64,
    pub(super) version: i32,
    pub(super) aversion: i32,
    /// C: child creations ever; the sequence suffix source (§5.3).
    pub(super) cseq: i32,
    /// This node's position in its parent's child list.
    pub(super) pos: u32,
    /// Boxed so a leaf (most nodes) spends 8 bytes here instead of an empty `Vec`'s 24.
    #[allow(clippy::box_collection)]
    pub(super) children: Option<Box<Vec<Idx>>>,
}

pub(super) fn pack(path: &str, data: Option<&[u8]>) -> Box<[u8]> {
    let data = data.unwrap_or_default();
    let mut buf = Vec::with_capacity(path.len() + data.len());
    buf.extend_from_slice(path.as_bytes());
    buf.extend_from_slice(data);
    buf.into_boxed_slice()
}

impl Node {
    /// A node with every zxid/time field 0; the caller fills them in.
    /// `path` must be at most [`MAX_PATH`] bytes (longer ones are cut).
    pub(super) fn new(path: &str, data: Option<&[u8]>, acl: AclId, kind: Kind, owner: i64) -> Node {
        let path = path.get(..path.len().min(MAX_PATH)).unwrap_or_default();
        Node {
            buf: pack(path, data),
            meta: path.len() as u32 | (kind as u32) << KIND_SHIFT | if data.is_none() { NULL_BIT } else { 0 },
            acl,
            czxid: 0,
            mzxid: 0,
            pzxid: 0,
            ctime: 0,
            mtime: 0,
            owner,
            version: 0,
            aversion: 0,
            cseq: 0,
            pos: 0,
            children: None,
        }
    }

    /// A fresh node created by transaction `zxid` at `time` (§5.2).
    pub(super) fn created(mut self, zxid: i64, time: i64) -> Node {
        (self.czxid, self.mzxid, self.pzxid, self.ctime, self.mtime) = (zxid, zxid, zxid, time, time);
        self
    }

    pub(super) fn path_len(&self) -> usize {
        (self.meta & ((1 << KIND_SHIFT) - 1)) as usize
    }

    pub(super) fn kind(&self) -> Kind {
        Kind::from_code(((self.meta >> KIND_SHIFT) & 3) as i32).unwrap_or(Kind::Persistent)
    }

    pub(super) fn null_data(&self) -> bool {
        self.meta & NULL_BIT != 0
    }

    pub(super) fn set_null_data(&mut self, null: bool) {
        self.meta = if null { self.meta | NULL_BIT } else { self.meta & !NULL_BIT };
    }

    pub(super) fn path_bytes(&self) -> &[u8] {
        self.buf.get(..self.path_len()).unwrap_or_default()
    }

    pub(super) fn path(&self) -> &str {
        std::str::from_utf8(self.path_bytes()).unwrap_or_default()
    }

    /// The last path component.
    pub(super) fn name(&self) -> &str {
        let p = self.path();
        p.rfind('/').map_or(p, |i| &p[i + 1..])
    }

    pub(super) fn data(&self) -> Option<&[u8]> {
        (!self.null_data()).then(|| self.buf.get(self.path_len()..).unwrap_or_default())
    }

    pub(super) fn data_len(&self) -> usize {
        self.buf.len() - self.path_bytes().len()
    }

    pub(super) fn children(&self) -> &[Idx] {
        self.children.as_deref().map_or(&[], Vec::as_slice)
    }

    pub(super) fn num_children(&self) -> usize {
        self.children().len()
    }

    pub(super) fn stat(&self) -> Stat {
        let num_children = self.num_children() as i32;
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cseq.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            // Container and TTL markers are hidden from clients (§5.2).
            ephemeral_owner: if self.kind() == Kind::Ephemeral { self.owner } else { 0 },
            data_length: self.data_len() as i32,
            num_children,
            pzxid: self.pzxid,
        }
    }

    /// Bytes counted by `approximate_data_size` (path plus data, as ZooKeeper counts).
    pub(super) fn size(&self) -> usize {
        self.buf.len()
    }
}
