//! delete / deleteContainer / setData and the read ops (§4.3, §5.2, §10.2, §13).

use zk_core::proto::{
    Acl, DeleteContainerRequest, DeleteRequest, ErrorCode, ExistsRequest, ExistsResponse,
    GetAllChildrenNumberRequest, GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenRequest,
    GetChildrenResponse, GetEphemeralsRequest, GetEphemeralsResponse, Perms, Request, SetAclRequest,
    SetDataRequest, SetDataResponse,
};

use super::*;

fn delete(t: &mut T, path: &str, version: i32) -> Outcome {
    t.run(1, Request::Delete(DeleteRequest { path: path.into(), version }))
}

fn set(t: &mut T, path: &str, data: Option<&[u8]>, version: i32) -> Outcome {
    t.run(1, Request::SetData(SetDataRequest { path: path.into(), data: data.map(<[u8]>::to_vec), version }))
}

#[test]
fn delete_error_precedence() {
    let mut t = T::new();
    for path in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config", "noslash", "/a\0"] {
        fails(&delete(&mut t, path, -1), ErrorCode::BadArguments);
    }
    assert_eq!(t.s.node_count(), 4);
    fails(&delete(&mut t, "/missing/x", -1), ErrorCode::NoNode);
    fails(&delete(&mut t, "/missing", 3), ErrorCode::NoNode);
    // No full validation: an invalid but well-formed-enough path is just missing.
    fails(&delete(&mut t, "/a/", -1), ErrorCode::NoNode);
    t.mk("/d");
    t.mk("/d/child");
    fails(&delete(&mut t, "/d", 5), ErrorCode::BadVersion);
    fails(&delete(&mut t, "/d", -1), ErrorCode::NotEmpty);
    // DELETE on the parent, checked before the node's existence and version.
    let no_delete = vec![Acl::world_anyone(Perms(Perms::ALL.0 & !Perms::DELETE.0))];
    t.run(1, Request::SetAcl(SetAclRequest { path: "/d".into(), acl: no_delete, version: -1 }));
    fails(&delete(&mut t, "/d/missing", -1), ErrorCode::NoAuth);
    fails(&delete(&mut t, "/d/child", 9), ErrorCode::NoAuth);
    t.run(1, Request::SetAcl(SetAclRequest { path: "/d".into(), acl: Acl::open_unsafe(), version: -1 }));
    let before = t.stat("/d");
    let o = delete(&mut t, "/d/child", 0);
    assert_eq!((o.reply.err, o.reply.body.len()), (0, 0));
    let after = t.stat("/d");
    assert_eq!((after.cversion, after.num_children, after.pzxid), (before.cversion + 1, 0, o.reply.zxid));
    assert_eq!(after.mzxid, before.mzxid);
    assert!(!t.exists("/d/child"));
    fails(&delete(&mut t, "/d/child", -1), ErrorCode::NoNode);
}

#[test]
fn delete_container_request() {
    let mut t = T::new();
    let dc = |p: &str| Request::DeleteContainer(DeleteContainerRequest { path: p.into() });
    t.run(1, Request::CreateContainer(creq("/c", None, 4)));
    t.mk("/c/x");
    t.create("/e", 1);
    t.mk("/p");
    fails(&t.run(1, dc("/zookeeper")), ErrorCode::BadArguments);
    fails(&t.run(1, dc("/none")), ErrorCode::NoNode);
    fails(&t.run(1, dc("/c")), ErrorCode::NotEmpty);
    fails(&t.run(1, dc("/e")), ErrorCode::BadVersion);
    // No ACL, no version check; any non-ephemeral node goes, as in the reference.
    assert_eq!(t.run(1, dc("/c/x")).reply.err, 0);
    assert_eq!(t.run(1, dc("/c")).reply.err, 0);
    assert_eq!(t.run(1, dc("/p")).reply.err, 0);
    assert!(!t.exists("/c") && !t.exists("/p") && t.exists("/e"));
}

#[test]
fn set_data_semantics() {
    let mut t = T::new();
    let x = t.mk("/x");
    let s0 = t.stat(&x);
    fails(&set(&mut t, "/x/", None, -1), ErrorCode::BadArguments);
    fails(&set(&mut t, "/missing", None, 3), ErrorCode::NoNode);
    fails(&set(&mut t, "/x", None, 1), ErrorCode::BadVersion);
    let o = set(&mut t, "/x", Some(b"v"), 0);
    let s1 = body::<SetDataResponse>(&o).stat;
    assert_eq!((s1.version, s1.data_length, s1.mzxid, s1.mtime), (1, 1, o.reply.zxid, NOW));
    assert_eq!((s1.czxid, s1.ctime, s1.pzxid, s1.cversion), (s0.czxid, s0.ctime, s0.pzxid, 0));
    // Identical bytes still bump the version; null data reads back null.
    let s2 = body::<SetDataResponse>(&set(&mut t, "/x", Some(b"v"), 1)).stat;
    assert_eq!(s2.version, 2);
    let s3 = body::<SetDataResponse>(&set(&mut t, "/x", None, -1)).stat;
    assert_eq!((s3.version, s3.data_length), (3, 0));
    assert_eq!(t.get(1, "/x").unwrap().data, None);
    // Versions wrap like Java ints (3.8/3.9 do not skip -1).
    let idx = t.s.tree.lookup("/x").unwrap();
    t.s.tree.node_mut_for_tests(idx).version = i32::MAX;
    assert_eq!(body::<SetDataResponse>(&set(&mut t, "/x", None, i32::MAX)).stat.version, i32::MIN);
    t.s.tree.node_mut_for_tests(idx).version = -2;
    assert_eq!(body::<SetDataResponse>(&set(&mut t, "/x", None, -2)).stat.version, -1);
    assert_eq!(
        t.s.approximate_data_size(),
        t.s.dump().iter().map(|d| d.0.len() + d.1.data_length as usize).sum()
    );
}

#[test]
fn reads_do_no_path_validation_exists_checks_nul() {
    let mut t = T::new();
    t.mk("/a");
    let exists = |p: &str| Request::Exists(ExistsRequest { path: p.into(), watch: false });
    fails(&t.run(1, exists("/a\0")), ErrorCode::BadArguments);
    for bad in ["/a/", "a", "", "/a//b"] {
        fails(&t.run(1, exists(bad)), ErrorCode::NoNode);
        assert_eq!(t.get(1, bad), Err(ErrorCode::NoNode));
    }
    assert_eq!(body::<ExistsResponse>(&t.run(1, exists("/a"))).stat, t.stat("/a"));
    assert_eq!(t.get(1, "/a").unwrap().stat, t.stat("/a"));
    let r = t.run(1, Request::GetChildren(GetChildrenRequest { path: "/a/".into(), watch: true }));
    fails(&r, ErrorCode::NoNode);
    assert_eq!(t.s.watch_count(), 0, "no watch on a missing node for getChildren");
}

#[test]
fn children_and_counts() {
    let mut t = T::new();
    for p in ["/c", "/c/b", "/c/a", "/c/a/deep"] {
        t.mk(p);
    }
    let mut kids = body::<GetChildrenResponse>(
        &t.run(1, Request::GetChildren(GetChildrenRequest { path: "/c".into(), watch: false })),
    )
    .children;
    kids.sort();
    assert_eq!(kids, ["a", "b"]);
    let r: GetChildren2Response =
        body(&t.run(1, Request::GetChildren2(GetChildrenRequest { path: "/".into(), watch: false })));
    let mut root = r.children;
    root.sort();
    assert_eq!((root, r.stat), (vec!["c".to_owned(), "zookeeper".to_owned()], t.stat("/")));
    let count = |t: &mut T, p: &str| {
        let o = t.run(1, Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: p.into() }));
        body::<GetAllChildrenNumberResponse>(&o).total_number
    };
    assert_eq!((count(&mut t, "/c"), count(&mut t, "/c/b")), (3, 0));
    assert_eq!(count(&mut t, "/"), 7, "includes /zookeeper, quota and config");
    let o = t.run(1, Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: "/none".into() }));
    fails(&o, ErrorCode::NoNode);
}

#[test]
fn get_ephemerals_is_a_string_prefix_filter_over_this_session() {
    let mut t = T::new();
    t.mk("/p");
    t.mk("/ep");
    for p in ["/e1", "/e2", "/p/e3", "/x", "/ep/y"] {
        t.create(p, 1);
    }
    t.run(2, Request::Create(creq("/e9", None, 1)));
    let get = |t: &mut T, conn: ConnId, prefix: &str| {
        let o = t.run(conn, Request::GetEphemerals(GetEphemeralsRequest { prefix_path: prefix.into() }));
        body::<GetEphemeralsResponse>(&o).ephemerals
    };
    let all = ["/e1", "/e2", "/ep/y", "/p/e3", "/x"];
    for prefix in ["", "/", "  ", " / "] {
        assert_eq!(get(&mut t, 1, prefix), all, "{prefix:?}");
    }
    assert_eq!(get(&mut t, 1, "/e"), ["/e1", "/e2", "/ep/y"]);
    assert_eq!(get(&mut t, 1, "/p/"), ["/p/e3"]);
    assert_eq!(get(&mut t, 1, "nothing"), Vec::<String>::new());
    assert_eq!(get(&mut t, 2, "/"), ["/e9"]);
    assert_eq!((t.s.ephemeral_count(), t.s.ephemerals(S2)), (6, vec!["/e9".to_owned()]));
}
