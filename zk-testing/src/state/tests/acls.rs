//! ACL checks per operation (§9.5), super, `auth` expansion, getACL masking, event filtering.

use zk_core::proto::{
    Acl, CheckVersionRequest, CreateRequest, ErrorCode, EventType, ExistsRequest, GetAclRequest,
    GetAclResponse, GetAllChildrenNumberRequest, GetChildrenRequest, MultiOp, MultiRequest, MultiResponse,
    MultiResult, Perms, Request, SetAclRequest, SetAclResponse, SetDataRequest,
};

use super::*;
use crate::state::digest_id;

fn with_acl(t: &mut T, path: &str, acl: Vec<Acl>) -> Outcome {
    t.run(1, Request::Create(CreateRequest { acl, ..creq(path, Some(b"x"), 0) }))
}

fn set_acl(t: &mut T, conn: ConnId, path: &str, acl: Vec<Acl>, version: i32) -> Outcome {
    t.run(conn, Request::SetAcl(SetAclRequest { path: path.into(), acl, version }))
}

fn only(perms: i32) -> Vec<Acl> {
    vec![Acl::world_anyone(Perms(perms))]
}

#[test]
fn each_operation_needs_its_permission() {
    let mut t = T::new();
    let all = Perms::ALL.0;
    for (name, perms) in
        [("r", all & !1), ("w", all & !2), ("c", all & !4), ("d", all & !8), ("a", all & !16)]
    {
        with_acl(&mut t, &format!("/{name}"), only(perms));
    }
    t.mk("/d/kid");
    let read = |p: &str| Request::GetData(zk_core::proto::GetDataRequest { path: p.into(), watch: true });
    fails(&t.run(1, read("/r")), ErrorCode::NoAuth);
    let kids = Request::GetChildren(GetChildrenRequest { path: "/r".into(), watch: true });
    fails(&t.run(1, kids), ErrorCode::NoAuth);
    fails(
        &t.run(1, Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: "/r".into() })),
        ErrorCode::NoAuth,
    );
    // exists checks READ on an existing node (3.8.4+) and then sets no watch.
    fails(&t.run(1, Request::Exists(ExistsRequest { path: "/r".into(), watch: true })), ErrorCode::NoAuth);
    assert_eq!(t.s.watch_count(), 0, "no watch after NOAUTH");
    let write = Request::SetData(SetDataRequest { path: "/w".into(), data: None, version: 7 });
    fails(&t.run(1, write), ErrorCode::NoAuth);
    fails(&t.create("/c/x", 0), ErrorCode::NoAuth);
    fails(
        &t.run(1, Request::Delete(zk_core::proto::DeleteRequest { path: "/d/kid".into(), version: -1 })),
        ErrorCode::NoAuth,
    );
    // ADMIN before the aversion check.
    fails(&set_acl(&mut t, 1, "/a", Acl::open_unsafe(), 9), ErrorCode::NoAuth);
    // getACL needs READ or ADMIN: /r (ADMIN, no READ) and /a (READ, no ADMIN) are readable.
    assert_eq!(
        body::<GetAclResponse>(&t.run(1, Request::GetAcl(GetAclRequest { path: "/r".into() }))).acl,
        only(all & !1)
    );
    let none = only(Perms::WRITE.0);
    with_acl(&mut t, "/none", none);
    fails(&t.run(1, Request::GetAcl(GetAclRequest { path: "/none".into() })), ErrorCode::NoAuth);
    // check in a multi needs READ.
    let check = MultiOp::Check(CheckVersionRequest { path: "/r".into(), version: -1 });
    let r: MultiResponse = body(&t.run(1, Request::Multi(MultiRequest { ops: vec![check] })));
    assert_eq!(r.results, [MultiResult::Error(ErrorCode::NoAuth.code())]);
    // Everything else succeeds where the bit is present.
    assert!(t.get(1, "/w").is_ok());
    assert_eq!(t.create("/w/x", 0).reply.err, 0);
}

#[test]
fn set_acl_semantics() {
    let mut t = T::new();
    let v = t.mk("/v");
    let s0 = t.stat(&v);
    fails(&set_acl(&mut t, 1, "/v/", Acl::open_unsafe(), -1), ErrorCode::BadArguments);
    // INVALIDACL before the node's existence.
    fails(&set_acl(&mut t, 1, "/missing", vec![], -1), ErrorCode::InvalidAcl);
    fails(&set_acl(&mut t, 1, "/missing", Acl::open_unsafe(), -1), ErrorCode::NoNode);
    fails(&set_acl(&mut t, 1, "/v", Acl::open_unsafe(), 1), ErrorCode::BadVersion);
    let o = set_acl(&mut t, 1, "/v", Acl::read_unsafe(), 0);
    let s1 = body::<SetAclResponse>(&o).stat;
    assert_eq!((s1.aversion, s1.version, s1.mzxid, s1.mtime, s1.pzxid), (1, 0, s0.mzxid, s0.mtime, s0.pzxid));
    assert!(o.notifications.is_empty());
}

#[test]
fn auth_scheme_expands_to_digest_identities() {
    let mut t = T::new();
    fails(&with_acl(&mut t, "/c", Acl::creator_all()), ErrorCode::InvalidAcl);
    let id = digest_id("user:pw");
    t.s.add_identity(1, "digest", &id);
    t.s.add_identity(1, "digest", &digest_id("second:pw2"));
    t.s.add_identity(1, "digest", &id);
    // In the Java server's order (see `push_unique`); the set is what matters here.
    let mut ids = t.s.identities(1);
    ids.sort();
    assert_eq!(
        ids,
        [("digest", "second"), ("digest", "user"), ("ip", "127.0.0.1")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    with_acl(&mut t, "/c", Acl::creator_all());
    let acl = body::<GetAclResponse>(&t.run(1, Request::GetAcl(GetAclRequest { path: "/c".into() }))).acl;
    // The identities' order, which the conformance suite compares with the real server's.
    let second = digest_id("second:pw2");
    assert_eq!(acl, vec![Acl::new(Perms::ALL, "digest", &second), Acl::new(Perms::ALL, "digest", &id)]);
    // Another connection: NOAUTH until it authenticates as one of them.
    assert_eq!(t.get(2, "/c"), Err(ErrorCode::NoAuth));
    t.s.add_identity(2, "digest", &digest_id("user:wrong"));
    assert_eq!(t.get(2, "/c"), Err(ErrorCode::NoAuth));
    t.s.add_identity(2, "digest", &id);
    assert!(t.get(2, "/c").is_ok());
}

#[test]
fn get_acl_masks_digest_ids_without_admin() {
    let mut t = T::new();
    let id = digest_id("user:pw");
    let acl = vec![Acl::world_anyone(Perms::READ), Acl::new(Perms::ALL, "digest", &id)];
    with_acl(&mut t, "/m", acl.clone());
    let get = |t: &mut T, c| {
        body::<GetAclResponse>(&t.run(c, Request::GetAcl(GetAclRequest { path: "/m".into() })))
    };
    let masked = vec![Acl::world_anyone(Perms::READ), Acl::new(Perms::ALL, "digest", "user:x")];
    let r = get(&mut t, 2);
    assert_eq!((r.acl, r.stat), (masked, t.stat("/m")));
    t.s.add_identity(2, "digest", &id);
    assert_eq!(get(&mut t, 2).acl, acl);
}

#[test]
fn super_users_bypass_every_check() {
    let secret = digest_id("super:secret");
    let mut t = T::with(StateConfig { super_digest: Some(secret.clone()), ..StateConfig::default() });
    with_acl(&mut t, "/locked", vec![Acl::new(Perms::ALL, "digest", digest_id("owner:pw"))]);
    assert_eq!(t.get(2, "/locked"), Err(ErrorCode::NoAuth));
    t.s.add_identity(2, "digest", &secret);
    assert!(t.get(2, "/locked").is_ok());
    assert_eq!(t.run(2, Request::Create(creq("/locked/kid", None, 0))).reply.err, 0);
    // A `super` identity added by the shell works the same without any configuration.
    let mut u = T::new();
    with_acl(&mut u, "/locked", only(0));
    u.s.add_identity(2, "super", "super");
    assert!(u.get(2, "/locked").is_ok());
    assert_eq!(u.get(1, "/locked"), Err(ErrorCode::NoAuth));
}

#[test]
fn super_digest_is_decided_at_auth() {
    let secret = digest_id("super:secret");
    let mut t = T::with(StateConfig { super_digest: Some(secret.clone()), ..StateConfig::default() });
    with_acl(&mut t, "/locked", vec![Acl::new(Perms::ALL, "digest", digest_id("owner:pw"))]);
    // Another digest of the same user is not the super digest.
    t.s.add_identity(2, "digest", &digest_id("super:wrong"));
    assert_eq!(t.get(2, "/locked"), Err(ErrorCode::NoAuth));
    // whoAmI shows `super` (named after the digest's user) and the digest itself, once each
    // (in the Java server's order; the set is what matters here).
    t.s.add_identity(2, "digest", &secret);
    t.s.add_identity(2, "digest", &secret);
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    let mut ids = t.s.identities(2);
    ids.sort();
    let expected =
        [pair("digest", "super"), pair("digest", "super"), pair("ip", "127.0.0.1"), pair("super", "super")];
    assert_eq!(ids, expected);
    assert!(t.get(2, "/locked").is_ok());
    // Without a configured super digest the same digest is an ordinary identity.
    let mut u = T::new();
    with_acl(&mut u, "/locked", vec![Acl::new(Perms::ALL, "digest", digest_id("owner:pw"))]);
    u.s.add_identity(2, "digest", &secret);
    let mut ids = u.s.identities(2);
    ids.sort();
    assert_eq!(ids, [pair("digest", "super"), pair("ip", "127.0.0.1")]);
    assert_eq!(u.get(2, "/locked"), Err(ErrorCode::NoAuth));
}

#[test]
fn ip_acls_match_the_connection_address() {
    let mut t = T::new();
    t.s.connection_opened(3, S2, "10.1.2.3");
    with_acl(&mut t, "/local", vec![Acl::new(Perms::ALL, "ip", "127.0.0.1")]);
    with_acl(&mut t, "/net", vec![Acl::new(Perms::ALL, "ip", "10.1.0.0/16")]);
    assert!(t.get(1, "/local").is_ok());
    assert_eq!(t.get(3, "/local"), Err(ErrorCode::NoAuth));
    assert!(t.get(3, "/net").is_ok());
    assert_eq!(t.get(1, "/net"), Err(ErrorCode::NoAuth));
}

#[test]
fn events_are_dropped_without_read_but_the_watch_is_consumed() {
    let mut t = T::new();
    t.mk("/n");
    t.watch_exists(2, "/n");
    set_acl(&mut t, 1, "/n", only(Perms::ALL.0 & !1), -1);
    let o = t.run(1, Request::SetData(SetDataRequest { path: "/n".into(), data: None, version: -1 }));
    assert!(o.notifications.is_empty(), "conn 2 lacks READ on /n");
    assert_eq!(t.s.watch_count(), 0, "the one-shot watch was consumed anyway");
    set_acl(&mut t, 1, "/n", Acl::open_unsafe(), -1);
    let o = t.run(1, Request::SetData(SetDataRequest { path: "/n".into(), data: None, version: -1 }));
    assert!(o.notifications.is_empty());
    // NodeChildrenChanged is filtered by the parent's ACL, NodeCreated by the new node's.
    with_acl(&mut t, "/p", only(Perms::ALL.0 & !1));
    t.s.add_identity(1, "super", "");
    t.run(2, Request::GetChildren(GetChildrenRequest { path: "/p".into(), watch: true }));
    assert_eq!(t.s.watch_count(), 0, "NOAUTH: no watch");
    t.run(2, Request::Exists(ExistsRequest { path: "/p/kid".into(), watch: true }));
    let o = t.run(1, Request::Create(creq("/p/kid", None, 0)));
    assert_eq!(events(&o.notifications), [ev(2, EventType::NodeCreated, "/p/kid")]);
    t.run(1, Request::CreateContainer(CreateRequest { acl: only(Perms::ALL.0 & !1), ..creq("/q", None, 4) }));
    t.watch_exists(2, "/q/hidden");
    t.run(2, Request::GetChildren(GetChildrenRequest { path: "/".into(), watch: true }));
    let hidden = CreateRequest { acl: only(Perms::WRITE.0), ..creq("/q/hidden", None, 0) };
    assert!(t.run(1, Request::Create(hidden)).notifications.is_empty());
}
