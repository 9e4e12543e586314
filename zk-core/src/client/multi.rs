//! Create modes and options, and the operations of `multi` / `multi_read`.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::path::{validate_path, validate_sequential_path, Chroot};
use crate::proto::{
    Acl, CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest, GetChildrenRequest,
    GetDataRequest, MultiOp, OpCode, SetDataRequest, Stat,
};

/// The largest TTL ZooKeeper accepts: 2^40 - 1 ms.
const MAX_TTL_MS: u128 = (1 << 40) - 1;

/// How a node is created (§5.4 of the protocol reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CreateMode {
    /// Stays until deleted.
    Persistent,
    /// Deleted when the creating session ends.
    Ephemeral,
    /// Persistent, with a 10-digit sequence suffix from the parent's counter.
    PersistentSequential,
    /// Ephemeral, with a sequence suffix.
    EphemeralSequential,
    /// Deleted by the server some time after its last child is deleted (needs ZooKeeper 3.6+).
    Container,
    /// Persistent, deleted by the server once it has had no children and no data change for
    /// this long (needs `zookeeper.extendedTypesEnabled=true` on the server, else
    /// [`Error::Unimplemented`]). Between 1 ms and 2^40-1 ms.
    PersistentWithTtl(Duration),
    /// Like `PersistentWithTtl`, with a sequence suffix.
    PersistentSequentialWithTtl(Duration),
}

impl CreateMode {
    /// The wire `flags` value.
    pub fn flags(self) -> i32 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl(_) => 5,
            CreateMode::PersistentSequentialWithTtl(_) => 6,
        }
    }

    /// True for the modes that append a sequence suffix.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl(_)
        )
    }

    /// True for the modes whose node dies with the session.
    pub fn is_ephemeral(self) -> bool {
        matches!(self, CreateMode::Ephemeral | CreateMode::EphemeralSequential)
    }

    fn ttl(self) -> Option<Duration> {
        match self {
            CreateMode::PersistentWithTtl(t) | CreateMode::PersistentSequentialWithTtl(t) => Some(t),
            _ => None,
        }
    }

    /// These options with `acl` instead of the client's default ACL
    /// ([`ClientBuilder::default_acl`](crate::ClientBuilder::default_acl)).
    pub fn with_acl(self, acl: Vec<Acl>) -> CreateOptions {
        CreateOptions { mode: self, acl: Some(acl) }
    }
}

/// A create mode plus the ACL of the new node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// The mode.
    pub mode: CreateMode,
    /// The ACL; `None` (what a bare [`CreateMode`] gives) is the client's default ACL
    /// ([`ClientBuilder::default_acl`](crate::ClientBuilder::default_acl): world:anyone with
    /// every permission, ZooKeeper's `OPEN_ACL_UNSAFE`, unless set).
    pub acl: Option<Vec<Acl>>,
}

impl From<CreateMode> for CreateOptions {
    fn from(mode: CreateMode) -> Self {
        CreateOptions { mode, acl: None }
    }
}

/// The request for one create, checked before anything is sent.
pub(crate) enum CreateBody {
    Plain(OpCode, CreateRequest),
    Ttl(CreateTtlRequest),
}

pub(crate) fn create_body(
    path: &str,
    data: &[u8],
    opts: &CreateOptions,
    (chroot, default_acl): (&Chroot, &[Acl]),
) -> Result<CreateBody> {
    if opts.mode.is_sequential() {
        validate_sequential_path(path)?;
    } else {
        validate_path(path)?;
    }
    let acl = opts.acl.as_deref().unwrap_or(default_acl);
    if acl.is_empty() {
        return Err(Error::InvalidAcl);
    }
    let path = chroot.to_server(path);
    let data = Some(data.to_vec());
    let (acl, flags) = (acl.to_vec(), opts.mode.flags());
    Ok(match opts.mode.ttl() {
        Some(ttl) => {
            let ms = ttl.as_millis();
            if ms == 0 || ms > MAX_TTL_MS {
                return Err(Error::BadArguments(format!("TTL {ttl:?} is outside 1 ms ..= 2^40-1 ms")));
            }
            CreateBody::Ttl(CreateTtlRequest { path, data, acl, flags, ttl: ms as i64 })
        }
        None => {
            let op =
                if opts.mode == CreateMode::Container { OpCode::CreateContainer } else { OpCode::Create2 };
            CreateBody::Plain(op, CreateRequest { path, data, acl, flags })
        }
    })
}

/// One operation of a [`Client::multi`](crate::Client::multi) transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Create a node.
    Create {
        /// Path (a prefix for sequential modes).
        path: String,
        /// Initial data.
        data: Vec<u8>,
        /// Mode and ACL.
        options: CreateOptions,
    },
    /// Delete a node (`version: None` = any version).
    Delete {
        /// Path.
        path: String,
        /// Expected version.
        version: Option<i32>,
    },
    /// Replace a node's data.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Vec<u8>,
        /// Expected version.
        version: Option<i32>,
    },
    /// Require a node to exist (with this version, unless `None`).
    Check {
        /// Path.
        path: String,
        /// Expected version.
        version: Option<i32>,
    },
}

impl Op {
    /// A create op.
    pub fn create(path: &str, data: &[u8], options: impl Into<CreateOptions>) -> Op {
        Op::Create { path: path.to_owned(), data: data.to_vec(), options: options.into() }
    }

    /// A delete op.
    pub fn delete(path: &str, version: Option<i32>) -> Op {
        Op::Delete { path: path.to_owned(), version }
    }

    /// A set-data op.
    pub fn set_data(path: &str, data: &[u8], version: Option<i32>) -> Op {
        Op::SetData { path: path.to_owned(), data: data.to_vec(), version }
    }

    /// A check op.
    pub fn check(path: &str, version: Option<i32>) -> Op {
        Op::Check { path: path.to_owned(), version }
    }

    pub(crate) fn to_wire(&self, chroot: &Chroot, default_acl: &[Acl]) -> Result<MultiOp> {
        let v = |v: &Option<i32>| v.unwrap_or(-1);
        Ok(match self {
            Op::Create { path, data, options } => {
                match create_body(path, data, options, (chroot, default_acl))? {
                    CreateBody::Plain(op, req) => MultiOp::Create { op, req },
                    CreateBody::Ttl(req) => MultiOp::CreateTtl(req),
                }
            }
            Op::Delete { path, version } => {
                validate_path(path)?;
                MultiOp::Delete(DeleteRequest { path: chroot.to_server(path), version: v(version) })
            }
            Op::SetData { path, data, version } => {
                validate_path(path)?;
                MultiOp::SetData(SetDataRequest {
                    path: chroot.to_server(path),
                    data: Some(data.clone()),
                    version: v(version),
                })
            }
            Op::Check { path, version } => {
                validate_path(path)?;
                MultiOp::Check(CheckVersionRequest { path: chroot.to_server(path), version: v(version) })
            }
        })
    }
}

/// The result of one op of a successful multi.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpResult {
    /// The node was created at `path`; `stat` is `None` on servers before 3.8.2, which answer
    /// a create inside multi without it.
    Create {
        /// Actual path (with the sequence suffix).
        path: String,
        /// Stat of the new node, when the server sends it.
        stat: Option<Stat>,
    },
    /// Deleted.
    Delete,
    /// Data replaced.
    SetData {
        /// New stat.
        stat: Stat,
    },
    /// The check passed.
    Check,
}

/// One read of a [`Client::multi_read`](crate::Client::multi_read).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadOp {
    /// Read a node's data.
    GetData(String),
    /// List a node's children.
    GetChildren(String),
}

impl ReadOp {
    pub(crate) fn to_wire(&self, chroot: &Chroot) -> Result<MultiOp> {
        Ok(match self {
            ReadOp::GetData(p) => {
                validate_path(p)?;
                MultiOp::GetData(GetDataRequest { path: chroot.to_server(p), watch: false })
            }
            ReadOp::GetChildren(p) => {
                validate_path(p)?;
                MultiOp::GetChildren(GetChildrenRequest { path: chroot.to_server(p), watch: false })
            }
        })
    }
}

/// The result of one read of a multi_read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadResult {
    /// Data and stat of a node (null data reads as empty).
    Data {
        /// Data.
        data: Vec<u8>,
        /// Stat.
        stat: Stat,
    },
    /// Children names.
    Children(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_flags_and_opcodes() {
        let c = Chroot::default();
        let open = Acl::open_unsafe();
        let body = |m: CreateMode| create_body("/a", b"", &m.into(), (&c, &open));
        assert!(matches!(body(CreateMode::Persistent), Ok(CreateBody::Plain(OpCode::Create2, _))));
        assert!(matches!(body(CreateMode::Container), Ok(CreateBody::Plain(OpCode::CreateContainer, _))));
        let Ok(CreateBody::Ttl(t)) = body(CreateMode::PersistentSequentialWithTtl(Duration::from_secs(2)))
        else {
            panic!("expected a TTL create")
        };
        assert_eq!((t.flags, t.ttl), (6, 2000));
        assert!(matches!(body(CreateMode::PersistentWithTtl(Duration::ZERO)), Err(Error::BadArguments(_))));
        let huge = Duration::from_millis(1 << 40);
        assert!(matches!(body(CreateMode::PersistentWithTtl(huge)), Err(Error::BadArguments(_))));
        assert!(create_body("/q/", b"", &CreateMode::PersistentSequential.into(), (&c, &open)).is_ok());
        assert!(matches!(
            create_body("/q/", b"", &CreateMode::Persistent.into(), (&c, &open)),
            Err(Error::InvalidPath { .. })
        ));
        assert!(matches!(
            create_body("/a", b"", &CreateMode::Persistent.with_acl(vec![]), (&c, &open)),
            Err(Error::InvalidAcl)
        ));
    }
}
