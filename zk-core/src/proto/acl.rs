//! Permissions, ACL entries and the getACL / setACL records (§1.3, §4.2, §9).

use std::ops::{BitAnd, BitOr, BitOrAssign};

use bytes::BufMut;

use super::record::{wire_vec_len, write_wire_vec, Wire};
use super::{DecodeResult, Stat};

/// A set of permission bits (§9.1). Any `i32` is representable: unknown bits are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms(pub i32);

impl Perms {
    /// No permission.
    pub const NONE: Perms = Perms(0);
    /// Read data and list children.
    pub const READ: Perms = Perms(1);
    /// Set data.
    pub const WRITE: Perms = Perms(2);
    /// Create children.
    pub const CREATE: Perms = Perms(4);
    /// Delete children.
    pub const DELETE: Perms = Perms(8);
    /// Set the ACL.
    pub const ADMIN: Perms = Perms(16);
    /// Every permission.
    pub const ALL: Perms = Perms(31);

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Perms {
    type Output = Perms;
    fn bitor(self, rhs: Perms) -> Perms {
        Perms(self.0 | rhs.0)
    }
}

impl BitOrAssign for Perms {
    fn bitor_assign(&mut self, rhs: Perms) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Perms {
    type Output = Perms;
    fn bitand(self, rhs: Perms) -> Perms {
        Perms(self.0 & rhs.0)
    }
}

impl Wire for Perms {
    const MIN_LEN: usize = 4;
    fn wire_put(&self, buf: &mut impl BufMut) {
        self.0.wire_put(buf);
    }
    fn wire_len(&self) -> usize {
        4
    }
    fn wire_get(buf: &mut &[u8], what: &'static str) -> DecodeResult<Self> {
        i32::wire_get(buf, what).map(Perms)
    }
}

record! {
    /// One ACL entry: `int perms` then `Id {ustring scheme, ustring id}` on the wire.
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct Acl {
        /// What the identity may do.
        pub perms: Perms,
        /// Auth scheme: `world`, `auth`, `digest`, `ip`, ...
        pub scheme: String,
        /// Identity within the scheme (`anyone` for `world`).
        pub id: String,
    }
}

impl Acl {
    /// An entry granting `perms` to `scheme:id`.
    pub fn new(perms: Perms, scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Acl { perms, scheme: scheme.into(), id: id.into() }
    }

    /// An entry granting `perms` to everyone (`world:anyone`).
    pub fn world_anyone(perms: Perms) -> Self {
        Acl::new(perms, "world", "anyone")
    }

    /// `[ALL world:anyone]`: anyone may do anything (Java's `OPEN_ACL_UNSAFE`).
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::world_anyone(Perms::ALL)]
    }

    /// `[READ world:anyone]` (Java's `READ_ACL_UNSAFE`).
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::world_anyone(Perms::READ)]
    }

    /// `[ALL auth:""]`: everything for the creator's authenticated identities
    /// (Java's `CREATOR_ALL_ACL`; the server rejects it when the caller has none).
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl::new(Perms::ALL, "auth", "")]
    }
}

/// Reads a `vector<ACL>`; a null vector reads as empty.
///
/// # Errors
/// [`DecodeError`](super::DecodeError) when the bytes do not hold a valid list.
pub fn read_acl_vec(buf: &mut &[u8], what: &'static str) -> DecodeResult<Vec<Acl>> {
    Vec::<Acl>::wire_get(buf, what)
}

/// Writes a `vector<ACL>`.
pub fn write_acl_vec(buf: &mut impl BufMut, acl: &[Acl]) {
    write_wire_vec(buf, acl);
}

/// Encoded length of a `vector<ACL>`.
pub fn acl_vec_len(acl: &[Acl]) -> usize {
    wire_vec_len(acl)
}

record! {
    /// Body of getACL (6).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetAclRequest {
        /// Node path.
        pub path: String,
    }
}

record! {
    /// Reply body of getACL (6).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct GetAclResponse {
        /// The node's ACL.
        pub acl: Vec<Acl>,
        /// The node's stat.
        pub stat: Stat,
    }
}

record! {
    /// Body of setACL (7).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct SetAclRequest {
        /// Node path.
        pub path: String,
        /// The new ACL.
        pub acl: Vec<Acl>,
        /// Expected `aversion`, or -1 for any.
        pub version: i32,
    }
}

record! {
    /// Reply body of setACL (7).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    pub struct SetAclResponse {
        /// The node's stat after the change.
        pub stat: Stat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::{assert_record, sample_stat};
    use crate::proto::{DecodeError, Record};

    #[test]
    fn perms_ops() {
        let rw = Perms::READ | Perms::WRITE;
        assert_eq!(rw, Perms(3));
        assert!(rw.contains(Perms::READ));
        assert!(!rw.contains(Perms::ADMIN));
        assert!(Perms::ALL.contains(rw));
        assert!(rw.contains(Perms::NONE));
        assert_eq!(rw & Perms::WRITE, Perms::WRITE);
        let mut p = Perms::NONE;
        p |= Perms::CREATE | Perms::DELETE | Perms::ADMIN | rw;
        assert_eq!(p, Perms::ALL);
    }

    #[test]
    fn acl_constructors() {
        assert_eq!(Acl::open_unsafe(), vec![Acl::new(Perms(31), "world", "anyone")]);
        assert_eq!(Acl::read_unsafe(), vec![Acl::new(Perms(1), "world", "anyone")]);
        assert_eq!(Acl::creator_all(), vec![Acl::new(Perms(31), "auth", "")]);
    }

    #[test]
    fn acl_records_round_trip() {
        assert_record(&Acl::world_anyone(Perms::ALL));
        assert_record(&Acl::new(Perms(-1), "digest", "u:abc="));
        assert_record(&GetAclRequest { path: "/a".into() });
        let acl = vec![Acl::world_anyone(Perms::READ), Acl::new(Perms::ALL, "ip", "10.0.0.0/8")];
        assert_record(&GetAclResponse { acl: acl.clone(), stat: sample_stat() });
        assert_record(&GetAclResponse::default());
        assert_record(&SetAclRequest { path: "/x".into(), acl, version: -1 });
        assert_record(&SetAclResponse { stat: sample_stat() });
    }

    #[test]
    fn acl_golden_bytes() {
        let b = Acl::world_anyone(Perms::ALL).to_bytes();
        let mut want = vec![0, 0, 0, 31, 0, 0, 0, 5];
        want.extend_from_slice(b"world");
        want.extend_from_slice(&[0, 0, 0, 6]);
        want.extend_from_slice(b"anyone");
        assert_eq!(b, want);
    }

    #[test]
    fn acl_vec_helpers() {
        let acl = Acl::open_unsafe();
        let mut v = Vec::new();
        write_acl_vec(&mut v, &acl);
        assert_eq!(v.len(), acl_vec_len(&acl));
        let mut r = &v[..];
        assert_eq!(read_acl_vec(&mut r, "acl").unwrap(), acl);
        assert!(r.is_empty());
        // kazoo-style nulls: null vector → empty; null scheme/id strings → "".
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert_eq!(read_acl_vec(&mut r, "acl").unwrap(), vec![]);
        let nulls = [0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let mut r: &[u8] = &nulls;
        assert_eq!(read_acl_vec(&mut r, "acl").unwrap(), vec![Acl::new(Perms::READ, "", "")]);
    }

    #[test]
    fn hostile_acl_count() {
        let mut r: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(read_acl_vec(&mut r, "acl"), Err(DecodeError::BadLength { .. })));
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        assert!(matches!(GetAclResponse::decode(&mut r), Err(DecodeError::BadLength { len: -2, .. })));
    }
}
