//! closeSession (§5.5, §11) and the container/TTL reaper (§5.7, §5.8).

use zk_core::proto::{
    Acl, CreateTtlRequest, DeleteRequest, EventType, GetChildrenRequest, Request, SetDataRequest,
};

use super::*;

fn ttl(t: &mut T, path: &str, ms: i64) {
    let r = CreateTtlRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 5, ttl: ms };
    assert_eq!(t.s.process(1, Request::CreateTtl(r), NOW).reply.err, 0);
}

#[test]
fn close_session_deletes_its_ephemerals_in_one_transaction() {
    let mut t = T::new();
    t.mk("/p");
    t.create("/p/e1", 1);
    t.create("/p/e2", 3);
    t.create("/top", 1);
    t.run(2, Request::Create(creq("/p/other", None, 1)));
    let p0 = t.stat("/p");
    t.watch_exists(2, "/top");
    t.run(2, Request::GetChildren(GetChildrenRequest { path: "/p".into(), watch: true }));
    t.run(2, Request::AddWatch(zk_core::proto::AddWatchRequest { path: "/p".into(), mode: 0 }));
    let zxid = t.s.last_zxid() + 1;
    let notes = t.s.close_session(S1);
    assert_eq!(t.s.last_zxid(), zxid, "one zxid for all of them");
    assert_eq!(t.s.ephemerals(S1), Vec::<String>::new());
    assert_eq!(t.s.ephemerals(S2), ["/p/other"]);
    assert!(!t.exists("/p/e1") && !t.exists("/top") && t.exists("/p/other"));
    let p1 = t.stat("/p");
    assert_eq!((p1.pzxid, p1.cversion, p1.num_children), (zxid, p0.cversion + 2, 1));
    let want = [
        ev(2, EventType::NodeChildrenChanged, "/p"),
        ev(2, EventType::NodeChildrenChanged, "/p"),
        ev(2, EventType::NodeDeleted, "/top"),
    ];
    assert_eq!(events(&notes), want, "per deletion: the one-shot fires once, the persistent each time");
    // A session without ephemerals still makes a transaction.
    assert!(t.s.close_session(S1).is_empty());
    assert_eq!(t.s.last_zxid(), zxid + 1);
}

#[test]
fn reaper_takes_used_containers_and_expired_ttl_nodes() {
    let mut t = T::new();
    t.run(1, Request::CreateContainer(creq("/used", None, 4)));
    t.run(1, Request::CreateContainer(creq("/unused", None, 4)));
    t.mk("/used/kid");
    ttl(&mut t, "/t", 1_000);
    ttl(&mut t, "/busy", 1_000);
    t.mk("/busy/kid");
    assert!(t.s.reap(NOW + 10_000, 100).is_empty(), "the used container still has its child");
    assert!(!t.exists("/t"), "TTL expired and childless");
    assert!(t.exists("/busy"));
    t.watch_exists(2, "/used");
    let zxid = t.s.last_zxid();
    t.run(1, Request::Delete(DeleteRequest { path: "/used/kid".into(), version: -1 }));
    let notes = t.s.reap(NOW + 10_000, 100);
    assert_eq!(events(&notes), [ev(2, EventType::NodeDeleted, "/used")]);
    assert_eq!(t.s.last_zxid(), zxid + 2, "the delete, then the reaper's own transaction");
    assert!(t.exists("/unused"), "never-used containers stay (3.8/3.9)");
}

#[test]
fn ttl_is_measured_from_mtime_and_reaping_is_bounded() {
    let mut t = T::new();
    ttl(&mut t, "/a", 500);
    ttl(&mut t, "/b", 500);
    ttl(&mut t, "/c", 500);
    assert!(t.s.reap(NOW + 500, 10).is_empty(), "now - mtime must exceed the TTL");
    assert_eq!(t.s.node_count(), 7);
    // setData renews /c.
    let set = SetDataRequest { path: "/c".into(), data: None, version: -1 };
    t.s.process(1, Request::SetData(set), NOW + 400);
    let zxid = t.s.last_zxid();
    t.s.reap(NOW + 501, 1);
    assert_eq!((t.exists("/a"), t.exists("/b"), t.s.last_zxid()), (false, true, zxid + 1));
    t.s.reap(NOW + 501, 10);
    assert_eq!((t.exists("/b"), t.exists("/c"), t.s.last_zxid()), (false, true, zxid + 2));
    t.s.reap(NOW + 901, 10);
    assert!(!t.exists("/c"));
    assert_eq!(t.stat("/").pzxid, t.s.last_zxid());
}

#[test]
fn identities_and_unknown_connections() {
    let mut t = T::new();
    assert_eq!(t.s.identities(1), [("ip".to_owned(), "127.0.0.1".to_owned())]);
    assert_eq!(t.s.identities(99), vec![]);
    t.s.add_identity(99, "digest", "u:h");
    // A request from a connection the shell never announced works as an anonymous one.
    assert_eq!(t.run(99, Request::Create(creq("/anon", None, 0))).reply.err, 0);
    assert!(t.get(99, "/anon").is_ok());
}
