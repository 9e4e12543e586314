//! multi and multiRead (§6).

use zk_core::proto::{
    CheckVersionRequest, Create2Response, CreateResponse, CreateTtlRequest, DeleteRequest, ErrorCode,
    EventType, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse, MultiOp,
    MultiRequest, MultiResponse, MultiResult, OpCode, Request, SetDataRequest, SetDataResponse,
};

use super::*;

fn create(path: &str, flags: i32) -> MultiOp {
    MultiOp::Create { op: OpCode::Create, req: creq(path, Some(b"m"), flags) }
}

fn create2(op: OpCode, path: &str, flags: i32) -> MultiOp {
    MultiOp::Create { op, req: creq(path, None, flags) }
}

fn delete(path: &str, version: i32) -> MultiOp {
    MultiOp::Delete(DeleteRequest { path: path.into(), version })
}

fn set(path: &str, data: &[u8], version: i32) -> MultiOp {
    MultiOp::SetData(SetDataRequest { path: path.into(), data: Some(data.to_vec()), version })
}

fn check(path: &str, version: i32) -> MultiOp {
    MultiOp::Check(CheckVersionRequest { path: path.into(), version })
}

fn multi(t: &mut T, ops: Vec<MultiOp>) -> (Outcome, Vec<MultiResult>) {
    let o = t.run(1, Request::Multi(MultiRequest { ops }));
    let r: MultiResponse = body(&o);
    (o, r.results)
}

#[test]
fn every_op_applies_with_one_zxid() {
    let mut t = T::new();
    for p in ["/x", "/gone", "/q", "/q/first"] {
        t.mk(p);
    }
    let ttl = MultiOp::CreateTtl(CreateTtlRequest {
        path: "/t".into(),
        data: None,
        acl: zk_core::proto::Acl::open_unsafe(),
        flags: 5,
        ttl: 60_000,
    });
    let ops = vec![
        create("/m", 0),
        create2(OpCode::Create2, "/q/s-", 2),
        create2(OpCode::CreateContainer, "/c", 4),
        ttl,
        set("/x", b"x1", 0),
        check("/x", 1),
        delete("/gone", 0),
        create2(OpCode::Create2, "/e", 1),
    ];
    let (o, results) = multi(&mut t, ops);
    let zxid = o.reply.zxid;
    assert_eq!(zxid, 5);
    assert_eq!(t.s.last_zxid(), 5);
    assert_eq!(results[0], MultiResult::Create(CreateResponse { path: "/m".into() }));
    let stat_of = |t: &T, p: &str| t.stat(p);
    assert_eq!(
        results[1],
        MultiResult::Create2(Create2Response {
            path: "/q/s-0000000001".into(),
            stat: stat_of(&t, "/q/s-0000000001")
        })
    );
    assert_eq!(
        results[2],
        MultiResult::Create2(Create2Response { path: "/c".into(), stat: stat_of(&t, "/c") })
    );
    assert_eq!(
        results[3],
        MultiResult::Create2(Create2Response { path: "/t".into(), stat: stat_of(&t, "/t") })
    );
    assert_eq!(results[4], MultiResult::SetData(SetDataResponse { stat: stat_of(&t, "/x") }));
    assert_eq!(results[5..7], [MultiResult::Check, MultiResult::Delete]);
    let MultiResult::Create2(e) = &results[7] else { panic!("{:?}", results[7]) };
    assert_eq!(e.stat.ephemeral_owner, S1);
    for p in ["/m", "/q/s-0000000001", "/c", "/t", "/e"] {
        assert_eq!(t.stat(p).czxid, zxid, "{p}");
    }
    assert_eq!(t.stat("/x").mzxid, zxid);
    assert_eq!(t.stat("/").pzxid, zxid);
    assert!(!t.exists("/gone"));
}

#[test]
fn ops_see_the_earlier_ops() {
    let mut t = T::new();
    let (_, r) =
        multi(&mut t, vec![create("/a", 0), create("/a/b", 0), set("/a/b", b"b1", 0), check("/a/b", 1)]);
    assert_eq!(r.len(), 4);
    let first = t.stat("/a");
    // The create results carry the stat at the time of the op, not after the whole multi.
    let (_, r) = multi(&mut t, vec![create2(OpCode::Create2, "/n", 0), create("/n/k", 0)]);
    let MultiResult::Create2(n) = &r[0] else { panic!("{r:?}") };
    assert_eq!((n.stat.num_children, t.stat("/n").num_children), (0, 1));
    let (_, r) = multi(&mut t, vec![delete("/a/b", 1), delete("/a", -1), create("/a", 0)]);
    assert_eq!(r[..2], [MultiResult::Delete, MultiResult::Delete]);
    assert!(t.stat("/a").czxid > first.czxid);
    t.mk("/q");
    let (_, r) = multi(&mut t, vec![create("/q/s-", 2), create("/q/s-", 2), create("/q/t-", 2)]);
    let paths: Vec<_> = r
        .iter()
        .map(|x| match x {
            MultiResult::Create(c) => c.path.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(paths, ["/q/s-0000000000", "/q/s-0000000001", "/q/t-0000000002"]);
}

#[test]
fn a_failed_multi_changes_nothing_at_all() {
    let mut t = T::new();
    t.mk("/x");
    t.mk("/q");
    t.mk("/q/old");
    t.mk("/del");
    t.create("/eph", 1);
    t.run(1, Request::CreateContainer(creq("/box", None, 4)));
    let before_dump = t.s.dump();
    let before = (t.s.approximate_data_size(), t.s.tree.acls.len(), t.s.ephemerals(S1), t.s.node_count());
    let timed_before: Vec<_> = t.s.tree.timed().collect();
    let q_cseq = t.s.tree.node(t.s.tree.lookup("/q").unwrap()).cseq;
    t.watch_exists(2, "/a1");
    t.run(2, Request::GetChildren(GetChildrenRequest { path: "/q".into(), watch: true }));
    let ops = vec![
        create("/a1", 0),
        create("/q/s-", 2),
        set("/x", b"x1", -1),
        delete("/del", -1),
        delete("/q/old", -1),
        create("/q/old", 3),
        create2(OpCode::CreateContainer, "/box/k", 0),
        delete("/box/k", -1),
        create("/e2", 1),
        MultiOp::Create {
            op: OpCode::Create,
            req: zk_core::proto::CreateRequest {
                acl: zk_core::proto::Acl::read_unsafe(),
                ..creq("/r", None, 0)
            },
        },
        check("/x", 0),
        create("/a2", 0),
    ];
    let (o, results) = multi(&mut t, ops);
    assert_eq!(o.reply.zxid, t.s.last_zxid(), "a failed multi consumes its zxid");
    let mut want = vec![MultiResult::Error(0); 10];
    want.push(MultiResult::Error(ErrorCode::BadVersion.code()));
    want.push(MultiResult::Error(ErrorCode::RuntimeInconsistency.code()));
    assert_eq!(results, want);
    assert!(o.notifications.is_empty(), "no watch fired");
    assert_eq!(t.s.watch_count(), 2, "and none was consumed");
    assert_eq!(t.s.dump(), before_dump, "every node, stat and datum as before");
    assert_eq!(
        (t.s.approximate_data_size(), t.s.tree.acls.len(), t.s.ephemerals(S1), t.s.node_count()),
        before
    );
    assert_eq!(t.s.tree.timed().collect::<Vec<_>>(), timed_before);
    assert_eq!(t.s.tree.node(t.s.tree.lookup("/q").unwrap()).cseq, q_cseq);
    let r: Create2Response = body(&t.create("/q/s-", 2));
    assert_eq!(r.path, "/q/s-0000000001", "the counter did not move");
}

#[test]
fn first_failure_decides_the_code() {
    let mut t = T::new();
    t.mk("/x");
    for (ops, i, code) in [
        (vec![create("/x", 0), delete("/nope", -1)], 0, ErrorCode::NodeExists),
        (vec![check("/x", 0), delete("/nope", -1), create("/x", 0)], 1, ErrorCode::NoNode),
        (vec![set("/x/", b"", -1)], 0, ErrorCode::BadArguments),
        (vec![create("/y", 0), delete("/y", 3)], 1, ErrorCode::BadVersion),
        (vec![create("/y", 1), create("/y/z", 0)], 1, ErrorCode::NoChildrenForEphemerals),
        (vec![create("/y", 0), create("/y/z", 0), delete("/y", -1)], 2, ErrorCode::NotEmpty),
    ] {
        let n = ops.len();
        let (_, r) = multi(&mut t, ops);
        let failed: Vec<_> = r
            .iter()
            .map(|x| match x {
                MultiResult::Error(c) => *c,
                other => panic!("{other:?}"),
            })
            .collect();
        let want: Vec<i32> = (0..n)
            .map(|j| {
                if j < i {
                    0
                } else if j == i {
                    code.code()
                } else {
                    -2
                }
            })
            .collect();
        assert_eq!(failed, want);
    }
    assert!(!t.exists("/y"));
}

#[test]
fn watches_fire_per_op_in_op_order() {
    let mut t = T::new();
    t.mk("/w");
    t.watch_exists(2, "/w/a");
    t.run(2, Request::GetChildren(GetChildrenRequest { path: "/w".into(), watch: true }));
    t.run(2, Request::AddWatch(zk_core::proto::AddWatchRequest { path: "/w".into(), mode: 0 }));
    t.run(1, Request::GetData(GetDataRequest { path: "/w".into(), watch: true }));
    let (o, _) =
        multi(&mut t, vec![create("/w/a", 0), set("/w", b"1", -1), create("/w/b", 0), set("/w", b"2", -1)]);
    let (created, kids, changed) =
        (EventType::NodeCreated, EventType::NodeChildrenChanged, EventType::NodeDataChanged);
    let want = [
        ev(2, created, "/w/a"),
        ev(2, kids, "/w"),
        ev(2, changed, "/w"),
        ev(1, changed, "/w"),
        ev(2, kids, "/w"),
        ev(2, changed, "/w"),
    ];
    assert_eq!(events(&o.notifications), want);
}

#[test]
fn kinds_are_not_mixed_and_empty_is_fine() {
    let mut t = T::new();
    let read = MultiOp::GetData(GetDataRequest { path: "/".into(), watch: false });
    let o = t.run(1, Request::Multi(MultiRequest { ops: vec![create("/a", 0), read.clone()] }));
    fails(&o, ErrorCode::MarshallingError);
    assert_eq!(o.reply.zxid, 1);
    assert!(!t.exists("/a"));
    let o = t.run(1, Request::MultiRead(MultiRequest { ops: vec![read, create("/a", 0)] }));
    fails(&o, ErrorCode::MarshallingError);
    assert_eq!(o.reply.zxid, 1, "multiRead is a read");
    let (o, r) = multi(&mut t, vec![]);
    assert_eq!((r.len(), o.reply.zxid), (0, 2));
    let o = t.run(1, Request::MultiRead(MultiRequest::default()));
    assert_eq!(body::<MultiResponse>(&o).results, vec![]);
}

#[test]
fn multi_read_answers_each_op_and_sets_no_watch() {
    let mut t = T::new();
    t.run(1, Request::Create(creq("/r", Some(b"data"), 0)));
    t.mk("/r/k");
    let locked = zk_core::proto::CreateRequest {
        acl: vec![zk_core::proto::Acl::world_anyone(zk_core::proto::Perms::WRITE)],
        ..creq("/l", None, 0)
    };
    t.run(1, Request::Create(locked));
    let gd = |p: &str| MultiOp::GetData(GetDataRequest { path: p.into(), watch: true });
    let gc = |p: &str| MultiOp::GetChildren(GetChildrenRequest { path: p.into(), watch: true });
    let o = t.run(
        1,
        Request::MultiRead(MultiRequest {
            ops: vec![gd("/r"), gd("/missing"), gc("/r"), gc("/l"), gd("/l")],
        }),
    );
    let r = body::<MultiResponse>(&o).results;
    assert_eq!(
        r[0],
        MultiResult::GetData(GetDataResponse { data: Some(b"data".to_vec()), stat: t.stat("/r") })
    );
    assert_eq!(r[1], MultiResult::Error(ErrorCode::NoNode.code()));
    assert_eq!(r[2], MultiResult::GetChildren(GetChildrenResponse { children: vec!["k".into()] }));
    assert_eq!(
        r[3..],
        [MultiResult::Error(ErrorCode::NoAuth.code()), MultiResult::Error(ErrorCode::NoAuth.code())]
    );
    assert_eq!((o.reply.zxid, t.s.watch_count()), (t.s.last_zxid(), 0));
}
