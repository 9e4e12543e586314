//! ACLs (§9): the interned ACL-list table, validation on create/setACL (§9.6), permission
//! checks (§9.2) and digest ids (§9.3).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use zk_core::proto::{Acl, ErrorCode, Perms};

/// An interned ACL list's number. Almost every node shares `OPEN_ACL_UNSAFE`, so nodes hold
/// 4 bytes instead of a list.
pub(super) type AclId = u32;

/// The identities of one connection: `(scheme, id)` pairs, `ip` first.
pub(super) type Identities = [(String, String)];

#[derive(Debug)]
struct Entry {
    acl: Arc<[Acl]>,
    refs: u64,
}

/// Reference-counted ACL lists, deduplicated by content.
#[derive(Debug, Default)]
pub(super) struct AclTable {
    entries: Vec<Option<Entry>>,
    by_list: HashMap<Arc<[Acl]>, AclId>,
    free: Vec<AclId>,
}

impl AclTable {
    /// Takes one reference to `acl`'s entry, creating it if needed.
    pub(super) fn intern(&mut self, acl: &[Acl]) -> AclId {
        if let Some(&id) = self.by_list.get(acl) {
            self.retain(id);
            return id;
        }
        let acl: Arc<[Acl]> = acl.into();
        let entry = Some(Entry { acl: acl.clone(), refs: 1 });
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = entry;
                id
            }
            None => {
                self.entries.push(entry);
                (self.entries.len() - 1) as AclId
            }
        };
        self.by_list.insert(acl, id);
        id
    }

    pub(super) fn retain(&mut self, id: AclId) {
        if let Some(Some(e)) = self.entries.get_mut(id as usize) {
            e.refs += 1;
        }
    }

    /// Drops one reference; the list is forgotten with its last reference.
    pub(super) fn release(&mut self, id: AclId) {
        let Some(slot) = self.entries.get_mut(id as usize) else { return };
        let Some(e) = slot.as_mut() else { return };
        e.refs -= 1;
        if e.refs == 0 {
            if let Some(e) = slot.take() {
                self.by_list.remove(&e.acl);
            }
            self.free.push(id);
        }
    }

    /// The list behind `id` (empty for an unknown id, which the tree never holds).
    pub(super) fn get(&self, id: AclId) -> &Arc<[Acl]> {
        static EMPTY: std::sync::OnceLock<Arc<[Acl]>> = std::sync::OnceLock::new();
        match self.entries.get(id as usize) {
            Some(Some(e)) => &e.acl,
            _ => EMPTY.get_or_init(|| Arc::from(Vec::new())),
        }
    }

    /// Number of distinct lists held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_list.len()
    }
}

/// `user:` + base64(sha1("user:password")), the digest scheme's id for an `auth` payload
/// `user:password` (§9.3): zk-core's, so the client and the server agree by construction.
pub(crate) fn digest_id(user_colon_password: &str) -> String {
    zk_core::digest_id_of_auth(user_colon_password)
}

/// Whether a connection identity counts as "authenticated" for `auth` ACL expansion: every
/// provider but `ip` does (digest, sasl, x509); `super` has no provider and is skipped (§9.3).
fn is_authenticated(scheme: &str) -> bool {
    !matches!(scheme, "ip" | "super" | "world")
}

/// Validates and expands a requested ACL list (§9.6): duplicates removed first, then non-empty,
/// `world` only with `anyone`, `auth` replaced by the caller's authenticated identities,
/// `digest` ids with exactly two `:`-separated parts, `ip` ids that parse; anything else is
/// INVALIDACL.
pub(super) fn fixup(acl: &[Acl], ids: &Identities) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        match (a.scheme.as_str(), a.id.as_str()) {
            ("world", "anyone") => out.push(a.clone()),
            ("auth", _) => {
                let before = out.len();
                for (scheme, id) in ids.iter().filter(|(s, _)| is_authenticated(s)) {
                    out.push(Acl::new(a.perms, scheme.clone(), id.clone()));
                }
                if out.len() == before {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            ("digest", id) if java_split_len(id, ':') == 2 => out.push(a.clone()),
            ("ip", id) if parse_ip_acl(id).is_some() => out.push(a.clone()),
            ("sasl", id) if !id.is_empty() => out.push(a.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

/// The length of Java's `id.split(":")`: trailing empty parts are dropped, so `a:b:` has two
/// parts and `user:` one (the digest provider accepts exactly two).
fn java_split_len(s: &str, sep: char) -> usize {
    let parts: Vec<&str> = s.split(sep).collect();
    let trailing_empty = parts.iter().rev().take_while(|p| p.is_empty()).count();
    if trailing_empty == parts.len() && s.is_empty() {
        // "".split(":") is [""] in Java: one (empty) part.
        return 1;
    }
    parts.len() - trailing_empty
}

/// An `ip` ACL id: an address with an optional `/bits` prefix length.
fn parse_ip_acl(id: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match id.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (id, None),
    };
    let addr = parse_addr(addr)?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => width,
        Some(b) => b.parse::<u32>().ok().filter(|&b| b <= width)?,
    };
    Some((addr, bits))
}

/// A v4 address as Java's `IPAuthenticationProvider` parses it (four decimal parts 0..=255),
/// or any IPv6 address (newer releases accept those too).
fn parse_addr(s: &str) -> Option<IpAddr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() == 4 {
        let mut b = [0u8; 4];
        for (slot, p) in b.iter_mut().zip(&parts) {
            // Java's Integer.parseInt: optional sign, any number of digits.
            *slot = p.parse::<i64>().ok().and_then(|v| u8::try_from(v).ok())?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(b)));
    }
    // A v4-mapped v6 connection address compares as v4.
    s.contains(':').then(|| s.parse::<IpAddr>().ok().map(|a| a.to_canonical())).flatten()
}

/// Whether the connection address `remote` falls in the ACL's address/prefix.
fn ip_matches(remote: &str, acl_id: &str) -> bool {
    let (Some((net, bits)), Some(remote)) = (parse_ip_acl(acl_id), parse_addr(remote)) else {
        return false;
    };
    let (a, b) = match (net, remote) {
        (IpAddr::V4(n), IpAddr::V4(r)) => (u128::from(u32::from(n)) << 96, u128::from(u32::from(r)) << 96),
        (IpAddr::V6(n), IpAddr::V6(r)) => (u128::from(n), u128::from(r)),
        _ => return false,
    };
    let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits.min(128) as usize) };
    // v4 values sit in the top 32 bits, so the same mask arithmetic applies.
    a & mask == b & mask
}

/// The §9.2 check: allowed if the list is empty, the connection is a super user (holds a
/// `super` identity, which [`State::add_identity`](super::State::add_identity) grants), or
/// some entry granting any bit of `perm` is `world:anyone` or matches one of the connection's
/// identities.
pub(super) fn allowed(acl: &[Acl], ids: &Identities, perm: Perms) -> bool {
    if acl.is_empty() || ids.iter().any(|(s, _)| s == "super") {
        return true;
    }
    acl.iter().filter(|a| a.perms.0 & perm.0 != 0).any(|a| match a.scheme.as_str() {
        "world" => a.id == "anyone",
        "digest" => ids.iter().any(|(s, id)| s == "digest" && *id == a.id),
        "ip" => ids.iter().any(|(s, id)| s == "ip" && ip_matches(id, &a.id)),
        "sasl" => ids.iter().any(|(s, id)| s == "sasl" && *id == a.id),
        _ => false,
    })
}

/// getACL's view for a caller without ADMIN: every digest id becomes `user:x` (§4.3).
pub(super) fn masked(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| match (a.scheme.as_str(), a.id.split_once(':')) {
            ("digest", Some((user, _))) => Acl::new(a.perms, "digest", format!("{user}:x")),
            _ => a.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(s, i)| (s.to_string(), i.to_string())).collect()
    }

    #[test]
    fn digest_id_matches_zookeeper() {
        // Printed by ZooKeeper's own DigestAuthenticationProvider (see the conformance suite).
        assert_eq!(digest_id("user:pw"), "user:2Om+GBbT2q/tS6pdvACZbbm7/1A=");
        assert!(digest_id("nocolon").starts_with("nocolon:"));
        assert!(digest_id("a:b:c").starts_with("a:"));
    }

    #[test]
    fn fixup_rules() {
        let anon = ids(&[("ip", "127.0.0.1")]);
        let authed = ids(&[("ip", "127.0.0.1"), ("digest", "u:h"), ("super", ""), ("digest", "v:g")]);
        let bad = |acl: Vec<Acl>, who: &Identities| {
            assert_eq!(fixup(&acl, who), Err(ErrorCode::InvalidAcl), "{acl:?}")
        };
        bad(vec![], &anon);
        bad(vec![Acl::new(Perms::ALL, "world", "someone")], &anon);
        bad(vec![Acl::new(Perms::ALL, "world", "")], &anon);
        bad(vec![Acl::new(Perms::ALL, "digest", "nocolon")], &anon);
        bad(vec![Acl::new(Perms::ALL, "digest", "a:b:c")], &anon);
        bad(vec![Acl::new(Perms::ALL, "digest", "user:")], &anon);
        bad(vec![Acl::new(Perms::ALL, "ip", "not-an-address")], &anon);
        bad(vec![Acl::new(Perms::ALL, "ip", "10.0.0.1/33")], &anon);
        bad(vec![Acl::new(Perms::ALL, "ip", "256.0.0.1")], &anon);
        bad(vec![Acl::new(Perms::ALL, "nosuchscheme", "x")], &anon);
        bad(vec![Acl::new(Perms::ALL, "super", "")], &anon);
        bad(vec![Acl::new(Perms::ALL, "", "")], &anon);
        bad(Acl::creator_all(), &anon);
        bad(vec![Acl::world_anyone(Perms::ALL), Acl::new(Perms::READ, "world", "nobody")], &anon);
        // Duplicates are removed, order kept.
        let twice = [Acl::open_unsafe(), Acl::read_unsafe(), Acl::open_unsafe()].concat();
        assert_eq!(fixup(&twice, &anon), Ok([Acl::open_unsafe(), Acl::read_unsafe()].concat()));
        // `auth` expands to every authenticated identity: digest, not ip nor super.
        let got = fixup(&[Acl::new(Perms::READ, "auth", "ignored")], &authed).unwrap();
        assert_eq!(got, vec![Acl::new(Perms::READ, "digest", "u:h"), Acl::new(Perms::READ, "digest", "v:g")]);
        for ok in ["10.0.0.1", "10.0.0.0/8", "0.0.0.0/0", "127.000.0.1", "::1", "fe80::/10"] {
            assert!(fixup(&[Acl::new(Perms::ALL, "ip", ok)], &anon).is_ok(), "{ok}");
        }
        // Java's split drops trailing empty parts: "a:b:" has two.
        assert!(fixup(&[Acl::new(Perms::ALL, "digest", "a:b:")], &anon).is_ok());
        assert!(fixup(&[Acl::new(Perms::ALL, "digest", ":h")], &anon).is_ok());
    }

    #[test]
    fn check_rules() {
        let acl = vec![Acl::new(Perms::READ, "digest", "u:h"), Acl::new(Perms::WRITE, "ip", "10.1.0.0/16")];
        let u = ids(&[("ip", "127.0.0.1"), ("digest", "u:h")]);
        let net = ids(&[("ip", "10.1.200.3")]);
        let other = ids(&[("ip", "10.2.0.1")]);
        assert!(allowed(&acl, &u, Perms::READ));
        assert!(!allowed(&acl, &u, Perms::WRITE));
        assert!(allowed(&acl, &net, Perms::WRITE));
        assert!(!allowed(&acl, &other, Perms::WRITE));
        // Any bit of a multi-bit request is enough (getACL asks READ|ADMIN).
        assert!(allowed(&acl, &u, Perms::READ | Perms::ADMIN));
        assert!(allowed(&[], &other, Perms::ALL), "an empty list allows everything");
        assert!(allowed(&acl, &ids(&[("super", "")]), Perms::ADMIN));
        // A digest equal to the configured super digest is made `super` by `add_identity`
        // (see `tests::acls::super_digest_is_decided_at_auth`); a bare digest is not super.
        assert!(!allowed(&acl, &ids(&[("digest", "super:D")]), Perms::ADMIN));
        assert!(allowed(&Acl::read_unsafe(), &other, Perms::READ));
        assert!(!allowed(&Acl::read_unsafe(), &other, Perms::WRITE));
        assert!(ip_matches("::1", "::1") && !ip_matches("::1", "127.0.0.1"));
        assert!(ip_matches("192.168.5.5", "192.168.0.0/16") && ip_matches("1.2.3.4", "0.0.0.0/0"));
    }

    #[test]
    fn masking_and_interning() {
        let acl = vec![Acl::world_anyone(Perms::READ), Acl::new(Perms::ALL, "digest", "user:abc=")];
        let want = vec![Acl::world_anyone(Perms::READ), Acl::new(Perms::ALL, "digest", "user:x")];
        assert_eq!(masked(&acl), want);
        let mut t = AclTable::default();
        let a = t.intern(&Acl::open_unsafe());
        let b = t.intern(&Acl::open_unsafe());
        let c = t.intern(&acl);
        assert_eq!((a, t.len()), (b, 2));
        t.release(a);
        assert_eq!(&t.get(a)[..], &Acl::open_unsafe()[..]);
        t.release(b);
        assert_eq!(t.len(), 1);
        assert!(t.get(a).is_empty());
        // The freed number is reused.
        assert_eq!(t.intern(&Acl::read_unsafe()), a);
        assert_eq!(&t.get(c)[..], &acl[..]);
    }
}
