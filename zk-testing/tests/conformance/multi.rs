//! Conformance scenarios: multi and multi_read (protocol reference §6).

use zk_core::{Client, CreateMode, Error, Op, OpResult, ReadOp, ReadResult, Stat};

use crate::support::Backend;

// On the real server, the embedded one and the shared real 3-member ensemble.
zk_testing::all_backends!(
    multi_applies_every_op,
    multi_creates_every_mode,
    multi_failure_applies_nothing,
    multi_reports_the_first_failing_op,
    multi_ops_see_earlier_ops,
    multi_rejects_invalid_ops_client_side,
    multi_read_mixes_results,
    empty_multi,
);

/// The path of a create result. ZooKeeper 3.8.0 answers a create inside multi with a type-1
/// result without stat (3.8.2+ send the stat, §14), so `stat` may be `None`. When present it
/// is the node's stat as the create left it (later ops of the same multi may have changed the
/// node since): it must agree with the node's current stat on what never changes.
async fn created(c: &Client, r: &OpResult) -> String {
    let OpResult::Create { path, stat } = r else { panic!("expected a create result, got {r:?}") };
    if let Some(stat) = stat {
        let now = c.exists(path).await.unwrap().unwrap_or_else(|| panic!("{path} should exist"));
        let fixed = |s: &Stat| (s.czxid, s.ctime, s.ephemeral_owner);
        assert_eq!(fixed(stat), fixed(&now), "stat of {path}");
        assert_eq!((stat.mzxid, stat.pzxid), (stat.czxid, stat.czxid), "fresh node {path}: {stat:?}");
        assert_eq!(
            (stat.version, stat.cversion, stat.num_children),
            (0, 0, 0),
            "fresh node {path}: {stat:?}"
        );
    }
    path.clone()
}

async fn stat_of(c: &Client, path: &str) -> Stat {
    c.exists(path).await.unwrap().unwrap_or_else(|| panic!("{path} should exist"))
}

async fn multi_applies_every_op(b: &Backend) {
    let sb = b.sandbox("conformance-multi_ok").await;
    let c = sb.client().await;
    for (path, data) in [("/x", &b"x0"[..]), ("/gone", b""), ("/q", b""), ("/q/first", b"")] {
        c.create(path, data, CreateMode::Persistent).await.unwrap();
    }
    let ops = [
        Op::create("/m", b"m", CreateMode::Persistent),
        Op::create("/q/s-", b"", CreateMode::PersistentSequential),
        Op::set_data("/x", b"x1", Some(0)),
        Op::check("/x", Some(1)),
        Op::delete("/gone", Some(0)),
    ];
    let results = c.multi(&ops).await.unwrap();
    assert_eq!(results.len(), 5, "{results:?}");
    assert_eq!(created(&c, &results[0]).await, "/m");
    assert_eq!(created(&c, &results[1]).await, "/q/s-0000000001");
    if let Some(version) = b.server_version().await {
        let has_stat = matches!(results[0], OpResult::Create { stat: Some(_), .. });
        assert_eq!(has_stat, version >= (3, 8, 2), "create result stat from server {version:?}");
    }
    let OpResult::SetData { stat: set } = results[2] else { panic!("set_data result: {:?}", results[2]) };
    assert_eq!((set.version, set.data_length), (1, 2));
    assert_eq!(results[3], OpResult::Check);
    assert_eq!(results[4], OpResult::Delete);

    assert_eq!(c.get_data("/m").await.unwrap().0, b"m");
    assert_eq!(c.get_data("/x").await.unwrap(), (b"x1".to_vec(), set));
    assert_eq!(c.exists("/gone").await.unwrap(), None);
    // Every op of one multi shares one zxid (§5.1, §6.3).
    let (m, seq) = (stat_of(&c, "/m").await, stat_of(&c, "/q/s-0000000001").await);
    assert_eq!((m.czxid, seq.czxid), (set.mzxid, set.mzxid));
    assert_eq!(stat_of(&c, "/").await.pzxid, set.mzxid, "the delete of /gone and create of /m");
    c.close().await;
}

async fn multi_creates_every_mode(b: &Backend) {
    let sb = b.sandbox("conformance-multi_modes").await;
    let c = sb.client().await;
    let ttl = std::time::Duration::from_secs(3600);
    let ops = [
        Op::create("/p", b"", CreateMode::Persistent),
        Op::create("/e", b"", CreateMode::Ephemeral),
        Op::create("/ps-", b"", CreateMode::PersistentSequential),
        Op::create("/es-", b"", CreateMode::EphemeralSequential),
        Op::create("/ct", b"", CreateMode::Container),
        Op::create("/t", b"", CreateMode::PersistentWithTtl(ttl)),
        Op::create("/ts-", b"", CreateMode::PersistentSequentialWithTtl(ttl)),
    ];
    let results = c.multi(&ops).await.unwrap();
    let mut paths = Vec::new();
    for r in &results {
        paths.push(created(&c, r).await);
    }
    let expected = ["/p", "/e", "/ps-0000000002", "/es-0000000003", "/ct", "/t", "/ts-0000000006"];
    assert_eq!(paths, expected);
    let mut owners = Vec::new();
    for p in &paths {
        owners.push(stat_of(&c, p).await.ephemeral_owner);
    }
    let id = c.session_id();
    assert_eq!(owners, [0, id, 0, id, 0, 0, 0]);
    c.close().await;
}

async fn multi_failure_applies_nothing(b: &Backend) {
    let sb = b.sandbox("conformance-multi_atomic").await;
    let c = sb.client().await;
    let (_, x0) = c.create("/x", b"x0", CreateMode::Persistent).await.unwrap();
    c.create("/q", b"", CreateMode::Persistent).await.unwrap();
    c.create("/del", b"", CreateMode::Persistent).await.unwrap();
    let ops = [
        Op::create("/a1", b"", CreateMode::Persistent),
        Op::create("/q/s-", b"", CreateMode::PersistentSequential),
        Op::set_data("/x", b"x1", None),
        Op::delete("/del", None),
        // /x is at version 1 once the set_data above applies: this check fails.
        Op::check("/x", Some(0)),
        Op::create("/a2", b"", CreateMode::Persistent),
    ];
    let failed = c.multi(&ops).await;
    assert_eq!(failed, Err(Error::MultiFailed { index: 4, error: Box::new(Error::BadVersion) }));
    assert_eq!(c.exists("/a1").await.unwrap(), None);
    assert_eq!(c.exists("/a2").await.unwrap(), None);
    assert_eq!(c.get_data("/x").await.unwrap(), (b"x0".to_vec(), x0));
    assert!(c.exists("/del").await.unwrap().is_some());
    assert_eq!(c.get_children("/q").await.unwrap(), Vec::<String>::new());
    // The rolled-back sequential create did not advance the counter (§5.3).
    let (seq, _) = c.create("/q/s-", b"", CreateMode::PersistentSequential).await.unwrap();
    assert_eq!(seq, "/q/s-0000000000");
    c.close().await;
}

async fn multi_reports_the_first_failing_op(b: &Backend) {
    let sb = b.sandbox("conformance-multi_errors").await;
    let c = sb.client().await;
    c.create("/x", b"", CreateMode::Persistent).await.unwrap();
    c.create("/x/child", b"", CreateMode::Persistent).await.unwrap();
    c.create("/eph", b"", CreateMode::Ephemeral).await.unwrap();
    let new = || Op::create("/new", b"", CreateMode::Persistent);
    let cases = [
        (vec![Op::check("/missing", None), new()], 0, Error::NoNode),
        (vec![new(), Op::create("/x", b"", CreateMode::Persistent)], 1, Error::NodeExists),
        (vec![new(), new()], 1, Error::NodeExists),
        (vec![new(), Op::delete("/x", None), Op::check("/missing", None)], 1, Error::NotEmpty),
        (vec![new(), Op::set_data("/x", b"", Some(3))], 1, Error::BadVersion),
        (vec![new(), Op::delete("/x/child", Some(2))], 1, Error::BadVersion),
        (vec![new(), Op::set_data("/missing", b"", None)], 1, Error::NoNode),
        (vec![new(), Op::create("/missing/y", b"", CreateMode::Persistent)], 1, Error::NoNode),
        (vec![new(), Op::create("/eph/y", b"", CreateMode::Persistent)], 1, Error::NoChildrenForEphemerals),
    ];
    for (ops, index, error) in cases {
        let r = c.multi(&ops).await;
        assert_eq!(r, Err(Error::MultiFailed { index, error: Box::new(error) }), "{ops:?}");
        assert_eq!(c.exists("/new").await.unwrap(), None, "{ops:?} was partly applied");
    }
    assert_eq!(stat_of(&c, "/x").await.version, 0);
    c.close().await;
}

async fn multi_ops_see_earlier_ops(b: &Backend) {
    let sb = b.sandbox("conformance-multi_sequence").await;
    let c = sb.client().await;
    // §6.3: each op is validated against the state left by the earlier ops.
    let ops = [
        Op::create("/a", b"one", CreateMode::Persistent),
        Op::create("/a/b", b"", CreateMode::Persistent),
        Op::set_data("/a/b", b"b1", Some(0)),
        Op::check("/a/b", Some(1)),
    ];
    let results = c.multi(&ops).await.unwrap();
    assert_eq!(created(&c, &results[0]).await, "/a");
    assert_eq!(created(&c, &results[1]).await, "/a/b");
    assert!(matches!(results[2], OpResult::SetData { stat } if stat.version == 1), "{results:?}");
    assert_eq!(results[3], OpResult::Check);
    let first = stat_of(&c, "/a").await;
    assert_eq!((first.num_children, c.get_data("/a/b").await.unwrap().0), (1, b"b1".to_vec()));

    // Delete then re-create in one multi.
    let ops = [
        Op::delete("/a/b", Some(1)),
        Op::delete("/a", None),
        Op::create("/a", b"two", CreateMode::Persistent),
    ];
    let results = c.multi(&ops).await.unwrap();
    assert_eq!(results[..2], [OpResult::Delete, OpResult::Delete]);
    assert_eq!(created(&c, &results[2]).await, "/a");
    let (data, again) = c.get_data("/a").await.unwrap();
    assert_eq!((data, again.num_children), (b"two".to_vec(), 0));
    assert!(again.czxid > first.czxid);

    // Sequence numbers advance within the multi.
    c.create("/q", b"", CreateMode::Persistent).await.unwrap();
    let seq = |prefix: &str| Op::create(prefix, b"", CreateMode::PersistentSequential);
    let results = c.multi(&[seq("/q/s-"), seq("/q/s-"), seq("/q/t-")]).await.unwrap();
    let mut paths = Vec::new();
    for r in &results {
        paths.push(created(&c, r).await);
    }
    assert_eq!(paths, ["/q/s-0000000000", "/q/s-0000000001", "/q/t-0000000002"]);
    c.close().await;
}

async fn multi_rejects_invalid_ops_client_side(b: &Backend) {
    let sb = b.sandbox("conformance-multi_invalid").await;
    let c = sb.client().await;
    let r = c.multi(&[Op::create("/ok", b"", CreateMode::Persistent), Op::delete("/bad/", None)]).await;
    assert!(matches!(&r, Err(Error::InvalidPath { path, .. }) if path == "/bad/"), "{r:?}");
    let huge = vec![0u8; (1 << 20) + 1];
    let r =
        c.multi(&[Op::create("/ok", b"", CreateMode::Persistent), Op::set_data("/ok", &huge, None)]).await;
    assert!(matches!(r, Err(Error::BadArguments(_))), "{r:?}");
    let no_acl = CreateMode::Persistent.with_acl(Vec::new());
    let r = c.multi(&[Op::create("/ok", b"", CreateMode::Persistent), Op::create("/e", b"", no_acl)]).await;
    assert_eq!(r, Err(Error::InvalidAcl));
    // Nothing was sent: the client still works and /ok was never created.
    assert_eq!(c.exists("/ok").await.unwrap(), None);
    c.close().await;
}

async fn multi_read_mixes_results(b: &Backend) {
    let sb = b.sandbox("conformance-multi_read").await;
    let c = sb.client().await;
    c.create("/r", b"data", CreateMode::Persistent).await.unwrap();
    c.create("/r/k2", b"", CreateMode::Persistent).await.unwrap();
    c.create("/r/k1", b"", CreateMode::Persistent).await.unwrap();
    let reads = [
        ReadOp::GetData("/r".into()),
        ReadOp::GetData("/missing".into()),
        ReadOp::GetChildren("/r".into()),
        ReadOp::GetChildren("/missing".into()),
        ReadOp::GetData("/r/k1".into()),
    ];
    let results = c.multi_read(&reads).await.unwrap();
    assert_eq!(results.len(), 5, "{results:?}");
    let stat = stat_of(&c, "/r").await;
    assert_eq!(results[0], Ok(ReadResult::Data { data: b"data".to_vec(), stat }));
    // Each read fails on its own; the others still answer (§6.3).
    assert_eq!(results[1], Err(Error::NoNode));
    let Ok(ReadResult::Children(mut children)) = results[2].clone() else {
        panic!("children result: {:?}", results[2])
    };
    children.sort();
    assert_eq!(children, ["k1", "k2"]);
    assert_eq!(results[3], Err(Error::NoNode));
    let k1 = stat_of(&c, "/r/k1").await;
    assert_eq!(results[4], Ok(ReadResult::Data { data: Vec::new(), stat: k1 }));
    c.close().await;
}

async fn empty_multi(b: &Backend) {
    let sb = b.sandbox("conformance-multi_empty").await;
    let c = sb.client().await;
    assert_eq!(c.multi(&[]).await, Ok(Vec::new()));
    assert_eq!(c.multi_read(&[]).await, Ok(Vec::new()));
    // The connection is still usable afterwards.
    assert_eq!(c.create("/after", b"", CreateMode::Persistent).await.unwrap().0, "/after");
    c.close().await;
}
