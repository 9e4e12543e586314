//! Initial tree (§5.9), zxid accounting (§4.3), create semantics (§5.2–§5.8, §4.3, §10.2).

use zk_core::proto::{
    Acl, CheckVersionRequest, Create2Response, CreateResponse, CreateTtlRequest, ErrorCode,
    GetChildrenRequest, Perms, ReconfigRequest, Request, Stat, SyncRequest,
};

use super::*;

fn ttl_req(path: &str, flags: i32, ttl: i64) -> Request {
    Request::CreateTtl(CreateTtlRequest {
        path: path.into(),
        data: Some(vec![]),
        acl: Acl::open_unsafe(),
        flags,
        ttl,
    })
}

#[test]
fn fresh_tree_is_the_reference_one() {
    let t = T::new();
    let paths: Vec<String> = t.s.dump().into_iter().map(|d| d.0).collect();
    assert_eq!(paths, ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]);
    let root = Stat { cversion: -1, num_children: 1, ..Stat::default() };
    assert_eq!(t.stat("/"), root);
    assert_eq!(t.stat("/zookeeper"), Stat { cversion: -2, num_children: 2, ..Stat::default() });
    assert_eq!(t.stat("/zookeeper/quota"), Stat::default());
    assert_eq!(t.stat("/zookeeper/config"), Stat { aversion: -1, ..Stat::default() });
    let cfg = t.s.tree.node(t.s.tree.lookup("/zookeeper/config").unwrap());
    assert_eq!(&t.s.tree.acls.get(cfg.acl)[..], &Acl::read_unsafe()[..]);
    assert!(t.s.dump().iter().all(|d| d.2.as_deref() == Some(&[][..])), "empty, not null, data");
    assert_eq!((t.s.last_zxid(), t.s.node_count()), (0, 4));
}

#[test]
fn zxids_are_consumed_by_writes_even_failed_ones() {
    let mut t = T::new();
    assert_eq!(t.s.create_session(), 1);
    let o = t.create("/a", 0);
    assert_eq!(o.reply.zxid, 2);
    let o = t.create("/a", 0);
    fails(&o, ErrorCode::NodeExists);
    assert_eq!(o.reply.zxid, 3, "a failed write still takes a zxid");
    // Reads, sync and watch ops take none; their reply carries the last zxid.
    for req in [
        Request::GetChildren(GetChildrenRequest { path: "/".into(), watch: true }),
        Request::Sync(SyncRequest { path: "/nowhere".into() }),
        Request::Exists(zk_core::proto::ExistsRequest { path: "/nope".into(), watch: true }),
    ] {
        assert_eq!(t.run(1, req).reply.zxid, 3);
    }
    let o = t.run(1, Request::Reconfig(ReconfigRequest::default()));
    assert_eq!((code(&o), o.reply.zxid), (ErrorCode::ReconfigDisabled, 4));
    // A standalone check is not a write: UNIMPLEMENTED, connection closed, no zxid.
    let o = t.run(1, Request::Check(CheckVersionRequest { path: "/a".into(), version: 0 }));
    assert_eq!((code(&o), o.reply.zxid, o.reply.close_connection), (ErrorCode::Unimplemented, 4, true));
    assert_eq!(t.s.last_zxid(), 4);
    // The shell's own requests are refused here.
    for req in [Request::Ping, Request::WhoAmI, Request::CloseSession] {
        let o = t.run(1, req);
        assert_eq!((code(&o), o.reply.zxid), (ErrorCode::Unimplemented, 4));
    }
}

#[test]
fn fresh_stat_and_responses() {
    let mut t = T::new();
    let o = t.run(1, Request::Create(creq("/a", Some(b"hello"), 0)));
    assert_eq!(body::<CreateResponse>(&o).path, "/a", "create (1) carries only the path");
    let want =
        Stat { czxid: 1, mzxid: 1, ctime: NOW, mtime: NOW, data_length: 5, pzxid: 1, ..Stat::default() };
    assert_eq!(t.stat("/a"), want);
    let r: Create2Response = body(&t.create("/b", 1));
    assert_eq!((r.path.as_str(), r.stat.ephemeral_owner, r.stat.czxid), ("/b", S1, 2));
    assert_eq!(r.stat, t.stat("/b"));
    // Parent bookkeeping: C, numChildren, pzxid; data fields untouched.
    let root = t.stat("/");
    assert_eq!((root.cversion, root.num_children, root.pzxid, root.mzxid), (1, 3, 2, 0));
}

#[test]
fn null_and_empty_data_are_kept_apart() {
    let mut t = T::new();
    t.run(1, Request::Create(creq("/null", None, 0)));
    t.run(1, Request::Create(creq("/empty", Some(b""), 0)));
    let null = t.get(1, "/null").unwrap();
    assert_eq!((null.data, null.stat.data_length), (None, 0));
    let empty = t.get(1, "/empty").unwrap();
    assert_eq!((empty.data, empty.stat.data_length), (Some(vec![]), 0));
    let dump = t.s.dump();
    assert_eq!(dump.iter().find(|d| d.0 == "/null").unwrap().2, None);
}

#[test]
fn sequence_suffix_comes_from_the_parent_counter() {
    let mut t = T::new();
    t.mk("/s");
    t.mk("/s/plain");
    assert_eq!(t.mk_seq("/s/a-"), "/s/a-0000000001", "a plain child advanced the counter");
    assert_eq!(t.mk_seq("/s/b-"), "/s/b-0000000002", "prefixes share it");
    t.run(1, Request::Delete(zk_core::proto::DeleteRequest { path: "/s/b-0000000002".into(), version: -1 }));
    assert_eq!(t.mk_seq("/s/b-"), "/s/b-0000000003", "deletions never roll it back");
    fails(&t.create("/s/plain", 0), ErrorCode::NodeExists);
    fails(&t.create("/missing/x-", 2), ErrorCode::NoNode);
    assert_eq!(t.mk_seq("/s/"), "/s/0000000004", "failures did not advance it; trailing / is fine");
    let s = t.stat("/s");
    assert_eq!((s.cversion, s.num_children), (2 * 5 - 4, 4));
    // Sequential ephemerals and TTL nodes use the same counter.
    let r: Create2Response = body(&t.create("/s/e-", 3));
    assert_eq!(r.path, "/s/e-0000000005");
    let r: Create2Response = body(&t.run(1, ttl_req("/s/t-", 6, 1000)));
    assert_eq!(r.path, "/s/t-0000000006");
}

#[test]
fn sequence_counter_overflows_like_java() {
    let mut t = T::new();
    t.mk("/o");
    let idx = t.s.tree.lookup("/o").unwrap();
    t.s.tree.node_mut_for_tests(idx).cseq = i32::MAX;
    assert_eq!(t.mk_seq("/o/n-"), "/o/n-2147483647");
    assert_eq!(t.mk_seq("/o/n-"), "/o/n--2147483648");
    assert_eq!(t.mk_seq("/o/n-"), "/o/n--2147483647");
    t.s.tree.node_mut_for_tests(idx).cseq = -1;
    assert_eq!(t.mk_seq("/o/n-"), "/o/n--000000001");
}

#[test]
fn flags_and_ttl_are_checked_in_order() {
    let mut t = T::new();
    for flags in [-1, 7, 100] {
        fails(&t.create("/x", flags), ErrorCode::BadArguments);
    }
    // TTL flags through create2 have no TTL (-1): invalid.
    fails(&t.create("/x", 5), ErrorCode::BadArguments);
    for ttl in [0, -5, 1 << 40] {
        fails(&t.run(1, ttl_req("/x", 5, ttl)), ErrorCode::BadArguments);
    }
    fails(&t.run(1, ttl_req("/x", 0, 10)), ErrorCode::BadArguments);
    let r: Create2Response = body(&t.run(1, ttl_req("/max", 5, (1 << 40) - 1)));
    assert_eq!((r.path.as_str(), r.stat.ephemeral_owner), ("/max", 0), "the TTL marker is hidden");
    // Flags are checked before BADARGUMENTS-for-path; TTL values before the parent.
    fails(&t.run(1, Request::Create2(creq("no-slash", None, 9))), ErrorCode::BadArguments);
    fails(&t.run(1, ttl_req("/missing/x", 5, 0)), ErrorCode::BadArguments);

    let mut off = T::with(StateConfig { extended_types: false, ..StateConfig::default() });
    // Disabled TTL: UNIMPLEMENTED comes before the TTL value check, after the flags check.
    fails(&off.run(1, ttl_req("/x", 5, 0)), ErrorCode::Unimplemented);
    fails(&off.run(1, ttl_req("/x", 6, 10)), ErrorCode::Unimplemented);
    fails(&off.create("/x", 5), ErrorCode::Unimplemented);
    fails(&off.run(1, ttl_req("/x", 8, 10)), ErrorCode::BadArguments);
    assert_eq!(off.s.last_zxid(), 4);
}

#[test]
fn create_error_precedence() {
    let mut t = T::new();
    let no_create = vec![Acl::world_anyone(Perms(Perms::ALL.0 & !Perms::CREATE.0))];
    t.run(1, Request::Create(zk_core::proto::CreateRequest { acl: no_create, ..creq("/locked", None, 0) }));
    fails(&t.create("noslash", 0), ErrorCode::BadArguments);
    fails(&t.create("/a\0b", 0), ErrorCode::BadArguments);
    // INVALIDACL before the parent's existence.
    let bad_acl = zk_core::proto::CreateRequest { acl: vec![], ..creq("/missing/x", None, 0) };
    fails(&t.run(1, Request::Create(bad_acl)), ErrorCode::InvalidAcl);
    fails(&t.create("/missing/x", 0), ErrorCode::NoNode);
    // NOAUTH on the parent before full validation and existence.
    fails(&t.create("/locked/bad/", 0), ErrorCode::NoNode);
    fails(&t.create("/locked/x", 0), ErrorCode::NoAuth);
    fails(&t.create("/locked/", 0), ErrorCode::NoAuth);
    // Full validation after the suffix: "/a/" without sequence is invalid, "//x" too.
    t.mk("/a");
    fails(&t.create("/a/", 0), ErrorCode::BadArguments);
    fails(&t.create("//x", 0), ErrorCode::BadArguments);
    fails(&t.create("/a/.", 0), ErrorCode::BadArguments);
    fails(&t.create("/a/\u{1}", 0), ErrorCode::BadArguments);
    fails(&t.create("/", 0), ErrorCode::NodeExists);
    // NODEEXISTS before NOCHILDRENFOREPHEMERALS: the ephemeral itself exists.
    t.create("/e", 1);
    fails(&t.create("/e", 0), ErrorCode::NodeExists);
    for flags in [0, 1, 2, 3, 4] {
        fails(&t.create("/e/x", flags), ErrorCode::NoChildrenForEphemerals);
    }
    assert_eq!(t.stat("/e").cversion, 0, "nothing advanced");
}

#[test]
fn containers_and_ttl_nodes_may_have_children() {
    let mut t = T::new();
    let c = t.run(1, Request::CreateContainer(creq("/c", Some(b"box"), 4)));
    let r: Create2Response = body(&c);
    assert_eq!((r.path.as_str(), r.stat.ephemeral_owner, r.stat.data_length), ("/c", 0, 3));
    t.run(1, ttl_req("/t", 5, 50));
    assert_eq!(t.mk("/c/x"), "/c/x");
    assert_eq!(t.mk("/t/x"), "/t/x");
    // createContainer decides the kind whatever the flags; flags 4 via create2 is a plain node.
    t.run(1, Request::CreateContainer(creq("/c2", None, 0)));
    t.create("/p4", 4);
    assert!(t.s.tree.timed().any(|i| t.s.tree.node(i).path() == "/c2"));
    assert!(!t.s.tree.timed().any(|i| t.s.tree.node(i).path() == "/p4"));
}

impl T {
    fn mk_seq(&mut self, prefix: &str) -> String {
        let r: Create2Response = body(&self.create(prefix, 2));
        r.path
    }
}

#[test]
fn node_and_children_agree_with_the_dump() {
    let mut t = T::new();
    for p in ["/w", "/w/b", "/w/a", "/w/a/deep", "/wx"] {
        t.mk(p);
    }
    let dump = t.s.dump();
    for (path, stat, data) in &dump {
        assert_eq!(t.s.node(path), Some((*stat, data.clone())), "{path}");
        // The direct children, as a filter over the sorted dump finds them.
        let prefix = if path == "/" { "/".to_owned() } else { format!("{path}/") };
        let kids: Vec<String> = dump
            .iter()
            .map(|d| d.0.clone())
            .filter(|p| p.len() > prefix.len() && p.starts_with(&prefix) && !p[prefix.len()..].contains('/'))
            .collect();
        assert_eq!(t.s.children(path), kids, "{path}");
    }
    assert_eq!(t.s.children("/w"), ["/w/a", "/w/b"]);
    assert_eq!(t.s.children(""), t.s.children("/"));
    assert!(t.s.node("/missing").is_none() && t.s.children("/missing").is_empty());
    assert!(t.s.children("/w/").is_empty() && t.s.node("/w/").is_none());
}
