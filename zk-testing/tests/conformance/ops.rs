//! Conformance scenarios: ops. The success path of every single-node operation and each
//! documented error (protocol reference §4.3 error precedence, §5 data model, §10 paths, §13).

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use tokio::time::{sleep, Instant};
use zk_core::{Client, CreateMode, Error, Op, Stat};

use crate::support::{expect_err, within, Backend};

// On the real server, the embedded one and the shared real 3-member ensemble.
zk_testing::all_backends!(
    create_persistent_returns_fresh_stat,
    create_ephemeral_is_owned_by_session,
    sequential_suffix_comes_from_parent_counter,
    container_is_reaped_after_last_child,
    ttl_nodes_are_reaped_when_childless,
    ttl_out_of_range_is_rejected_client_side,
    parent_stat_tracks_children,
    create_errors,
    delete_errors_and_precedence,
    delete_reserved_paths_is_bad_arguments,
    missing_node_errors,
    bad_version_errors,
    invalid_paths_rejected_client_side,
    oversized_data_rejected_client_side,
    exists_get_data_set_data,
    children_and_stat,
    sync_returns_without_checks,
    get_ephemerals_filters_by_prefix,
    all_children_number_counts_descendants,
    who_am_i_lists_identities,
    ten_thousand_requests_in_call_order,
);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// The Stat of a node that was just created (§5.2).
fn assert_fresh(stat: &Stat, data_length: i32) {
    assert!(stat.czxid > 0, "{stat:?}");
    assert_eq!((stat.mzxid, stat.pzxid), (stat.czxid, stat.czxid), "{stat:?}");
    assert_eq!(stat.ctime, stat.mtime, "{stat:?}");
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0), "{stat:?}");
    assert_eq!((stat.data_length, stat.num_children), (data_length, 0), "{stat:?}");
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn expect_bad_arguments<T: Debug>(what: &str, r: Result<T, Error>) {
    assert!(matches!(r, Err(Error::BadArguments(_))), "{what}: expected BadArguments, got {r:?}");
}

/// Polls `exists(path)` every 100 ms until the node is gone; false if it is still there after
/// `limit`.
async fn gone_within(c: &Client, path: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    for _ in 0..1_000 {
        if c.exists(path).await.expect("exists while polling").is_none() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn create_persistent_returns_fresh_stat(b: &Backend) {
    let sb = b.sandbox("conformance-create_persistent").await;
    let c = sb.client().await;
    let before = now_ms();
    let (path, stat) = c.create("/a", b"hello", CreateMode::Persistent).await.unwrap();
    assert_eq!(path, "/a");
    assert_fresh(&stat, 5);
    assert_eq!(stat.ephemeral_owner, 0);
    // ctime is the server's wall clock in ms; the server runs on this machine.
    assert!((before - 5_000..=now_ms() + 5_000).contains(&stat.ctime), "ctime {}", stat.ctime);
    assert_eq!(c.exists("/a").await.unwrap(), Some(stat));
    assert_eq!(c.get_data("/a").await.unwrap(), (b"hello".to_vec(), stat));
    c.close().await;
}

async fn create_ephemeral_is_owned_by_session(b: &Backend) {
    let sb = b.sandbox("conformance-create_ephemeral").await;
    let (c, other) = (sb.client().await, sb.client().await);
    assert_ne!(c.session_id(), 0);
    let (path, stat) = c.create("/e", b"", CreateMode::Ephemeral).await.unwrap();
    assert_eq!(path, "/e");
    assert_fresh(&stat, 0);
    assert_eq!(stat.ephemeral_owner, c.session_id());
    let seen = other.exists("/e").await.unwrap().expect("visible to another session");
    assert_eq!(seen.ephemeral_owner, c.session_id());
    let (seq, seq_stat) = c.create("/es-", b"x", CreateMode::EphemeralSequential).await.unwrap();
    assert_eq!(seq, "/es-0000000001");
    assert_eq!(seq_stat.ephemeral_owner, c.session_id());
    // Closing the session deletes its ephemerals (§5.5) before the close is acknowledged.
    c.close().await;
    assert_eq!(other.exists("/e").await.unwrap(), None);
    assert_eq!(other.exists(&seq).await.unwrap(), None);
    other.close().await;
}

async fn sequential_suffix_comes_from_parent_counter(b: &Backend) {
    let sb = b.sandbox("conformance-sequential").await;
    let c = sb.client().await;
    let create = |path: &'static str, mode: CreateMode| {
        let c = c.clone();
        async move { c.create(path, b"", mode).await.unwrap().0 }
    };
    create("/s", CreateMode::Persistent).await;
    // A non-sequential child advances the counter too (§5.3).
    create("/s/plain", CreateMode::Persistent).await;
    assert_eq!(create("/s/a-", CreateMode::PersistentSequential).await, "/s/a-0000000001");
    // Different prefixes share one counter.
    assert_eq!(create("/s/b-", CreateMode::PersistentSequential).await, "/s/b-0000000002");
    c.delete("/s/b-0000000002", None).await.unwrap();
    // Deletion never rolls it back: the number is not reused.
    assert_eq!(create("/s/b-", CreateMode::PersistentSequential).await, "/s/b-0000000003");
    assert_eq!(create("/s/e-", CreateMode::EphemeralSequential).await, "/s/e-0000000004");
    // A failed create does not advance it.
    expect_err("duplicate", c.create("/s/plain", b"", CreateMode::Persistent).await, Error::NodeExists);
    // The suffix is appended to the whole path, so a trailing '/' is fine for sequential modes.
    assert_eq!(create("/s/", CreateMode::PersistentSequential).await, "/s/0000000005");
    let (children, stat) = c.get_children_and_stat("/s").await.unwrap();
    assert_eq!(sorted(children), ["0000000005", "a-0000000001", "b-0000000003", "e-0000000004", "plain"]);
    // cversion = creations + deletions = 2·C − numChildren = 2·6 − 5.
    assert_eq!((stat.cversion, stat.num_children), (7, 5));
    c.close().await;
}

async fn container_is_reaped_after_last_child(b: &Backend) {
    let sb = b.sandbox("conformance-container").await;
    let c = sb.client().await;
    let (path, stat) = c.create("/ct", b"box", CreateMode::Container).await.unwrap();
    assert_eq!(path, "/ct");
    assert_fresh(&stat, 3);
    // The internal container marker is hidden from clients (§5.2).
    assert_eq!(stat.ephemeral_owner, 0);
    c.create("/unused", b"", CreateMode::Container).await.unwrap();
    c.create("/ct/child", b"", CreateMode::Persistent).await.unwrap();
    c.delete("/ct/child", None).await.unwrap();
    // The harness runs the reaper every second.
    assert!(gone_within(&c, "/ct", Duration::from_secs(10)).await, "container not reaped");
    // The reaper passed at least once since /unused was created. ZooKeeper 3.8/3.9 never reap
    // a container that never had a child; master (3.10) does after 5 minutes (§5.8, §14).
    assert!(c.exists("/unused").await.unwrap().is_some(), "never-used container was reaped");
    c.close().await;
}

async fn ttl_nodes_are_reaped_when_childless(b: &Backend) {
    let sb = b.sandbox("conformance-ttl").await;
    let c = sb.client().await;
    let ttl = Duration::from_millis(300);
    let (path, stat) = c.create("/ttl", b"t", CreateMode::PersistentWithTtl(ttl)).await.unwrap();
    assert_eq!(path, "/ttl");
    assert_fresh(&stat, 1);
    assert_eq!(stat.ephemeral_owner, 0, "the TTL marker is hidden from clients");
    let (seq, seq_stat) = c.create("/ts-", b"", CreateMode::PersistentSequentialWithTtl(ttl)).await.unwrap();
    assert_eq!(seq, "/ts-0000000001");
    assert_eq!(seq_stat.ephemeral_owner, 0);
    // In one multi: as two creates, a stall of more than the TTL between them would let the
    // reaper take the parent (childless and old enough) before its child arrives.
    let parent = [
        Op::create("/parent", b"", CreateMode::PersistentWithTtl(ttl)),
        Op::create("/parent/child", b"", CreateMode::Persistent),
    ];
    c.multi(&parent).await.unwrap();
    // Reaped once childless and older than the TTL: up to TTL + one check interval (§5.7).
    assert!(gone_within(&c, "/ttl", Duration::from_secs(10)).await, "TTL node not reaped");
    assert!(gone_within(&c, &seq, Duration::from_secs(10)).await, "sequential TTL node not reaped");
    // A TTL node with a child is kept.
    assert!(c.exists("/parent").await.unwrap().is_some(), "TTL node with a child was reaped");
    c.close().await;
}

async fn ttl_out_of_range_is_rejected_client_side(b: &Backend) {
    let sb = b.sandbox("conformance-ttl_range").await;
    let c = sb.client().await;
    let zero = c.create("/z", b"", CreateMode::PersistentWithTtl(Duration::ZERO)).await;
    expect_bad_arguments("TTL 0", zero);
    let huge = CreateMode::PersistentSequentialWithTtl(Duration::from_millis(1 << 40));
    expect_bad_arguments("TTL 2^40 ms", c.create("/z", b"", huge).await);
    assert_eq!(c.exists("/z").await.unwrap(), None);
    // The largest valid TTL is accepted by the server.
    let max = CreateMode::PersistentWithTtl(Duration::from_millis((1 << 40) - 1));
    assert_eq!(c.create("/z", b"", max).await.unwrap().0, "/z");
    c.close().await;
}

async fn parent_stat_tracks_children(b: &Backend) {
    let sb = b.sandbox("conformance-parent_stat").await;
    let c = sb.client().await;
    let (_, p0) = c.create("/p", b"data", CreateMode::Persistent).await.unwrap();
    let (_, c1) = c.create("/p/c1", b"", CreateMode::Persistent).await.unwrap();
    let p1 = c.exists("/p").await.unwrap().unwrap();
    assert_eq!((p1.cversion, p1.num_children, p1.pzxid), (1, 1, c1.czxid));
    let (_, c2) = c.create("/p/c2", b"", CreateMode::Persistent).await.unwrap();
    let p2 = c.exists("/p").await.unwrap().unwrap();
    assert_eq!((p2.cversion, p2.num_children, p2.pzxid), (2, 2, c2.czxid));
    c.delete("/p/c1", None).await.unwrap();
    let p3 = c.exists("/p").await.unwrap().unwrap();
    assert_eq!((p3.cversion, p3.num_children), (3, 1));
    // pzxid moves to the delete's zxid, which lies between c2's creation and a later write.
    let (_, later) = c.create("/later", b"", CreateMode::Persistent).await.unwrap();
    assert!(c2.czxid < p3.pzxid && p3.pzxid < later.czxid, "pzxid {} after delete", p3.pzxid);
    // Child changes leave the parent's data fields alone.
    for p in [p1, p2, p3] {
        assert_eq!((p.mzxid, p.mtime, p.version, p.data_length), (p0.mzxid, p0.mtime, 0, 4));
    }
    c.close().await;
}

async fn create_errors(b: &Backend) {
    let sb = b.sandbox("conformance-create_errors").await;
    let c = sb.client().await;
    c.create("/a", b"first", CreateMode::Persistent).await.unwrap();
    expect_err("existing", c.create("/a", b"second", CreateMode::Persistent).await, Error::NodeExists);
    assert_eq!(c.get_data("/a").await.unwrap().0, b"first");
    expect_err("missing parent", c.create("/missing/x", b"", CreateMode::Persistent).await, Error::NoNode);
    let eph = c.create("/missing/x", b"", CreateMode::Ephemeral).await;
    expect_err("missing parent, ephemeral", eph, Error::NoNode);
    assert_eq!(c.exists("/missing").await.unwrap(), None);
    c.create("/eph", b"", CreateMode::Ephemeral).await.unwrap();
    for mode in [CreateMode::Persistent, CreateMode::EphemeralSequential, CreateMode::Container] {
        let r = c.create("/eph/x", b"", mode).await;
        expect_err(&format!("child of ephemeral, {mode:?}"), r, Error::NoChildrenForEphemerals);
    }
    assert_eq!(c.get_children("/eph").await.unwrap(), Vec::<String>::new());
    c.close().await;
}

async fn delete_errors_and_precedence(b: &Backend) {
    let sb = b.sandbox("conformance-delete_errors").await;
    let c = sb.client().await;
    c.create("/d", b"", CreateMode::Persistent).await.unwrap();
    c.create("/d/child", b"", CreateMode::Persistent).await.unwrap();
    expect_err("with children", c.delete("/d", None).await, Error::NotEmpty);
    // §4.3: the version is checked before emptiness.
    expect_err("with children, bad version", c.delete("/d", Some(5)).await, Error::BadVersion);
    expect_err("missing", c.delete("/nope", None).await, Error::NoNode);
    expect_err("missing parent", c.delete("/nope/x", None).await, Error::NoNode);
    expect_err("missing, with version", c.delete("/nope", Some(3)).await, Error::NoNode);
    expect_err("bad version", c.delete("/d/child", Some(1)).await, Error::BadVersion);
    assert!(c.exists("/d/child").await.unwrap().is_some());
    c.delete("/d/child", Some(0)).await.unwrap();
    c.delete("/d", Some(0)).await.unwrap();
    assert_eq!(c.exists("/d").await.unwrap(), None);
    expect_err("deleted twice", c.delete("/d", None).await, Error::NoNode);
    c.close().await;
}

async fn delete_reserved_paths_is_bad_arguments(b: &Backend) {
    // No chroot: the reserved paths are only reachable from the real root (§10.3).
    let c = Client::connect(&b.connect_string()).await.unwrap();
    for path in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/"] {
        expect_bad_arguments(&format!("delete {path}"), c.delete(path, None).await);
        assert!(c.exists(path).await.unwrap().is_some(), "{path} must survive");
    }
    c.close().await;
}

async fn missing_node_errors(b: &Backend) {
    let sb = b.sandbox("conformance-missing_node").await;
    let c = sb.client().await;
    assert_eq!(c.exists("/m").await.unwrap(), None);
    expect_err("get_data", c.get_data("/m").await, Error::NoNode);
    expect_err("set_data", c.set_data("/m", b"x", None).await, Error::NoNode);
    // §4.3: existence is checked before the version.
    expect_err("set_data with version", c.set_data("/m", b"x", Some(3)).await, Error::NoNode);
    expect_err("delete", c.delete("/m", None).await, Error::NoNode);
    expect_err("get_children", c.get_children("/m").await, Error::NoNode);
    expect_err("get_children_and_stat", c.get_children_and_stat("/m").await, Error::NoNode);
    expect_err("get_acl", c.get_acl("/m").await, Error::NoNode);
    let open = zk_core::Acl::open_unsafe();
    expect_err("set_acl", c.set_acl("/m", &open, None).await, Error::NoNode);
    expect_err("get_all_children_number", c.get_all_children_number("/m").await, Error::NoNode);
    expect_err("set_data creates nothing", c.get_data("/m").await, Error::NoNode);
    c.close().await;
}

async fn bad_version_errors(b: &Backend) {
    let sb = b.sandbox("conformance-bad_version").await;
    let c = sb.client().await;
    c.create("/v", b"v0", CreateMode::Persistent).await.unwrap();
    expect_err("set_data", c.set_data("/v", b"v1", Some(1)).await, Error::BadVersion);
    assert_eq!(c.get_data("/v").await.unwrap().0, b"v0");
    assert_eq!(c.set_data("/v", b"v1", Some(0)).await.unwrap().version, 1);
    // -1 means "any version" (§13.6), the same as None.
    assert_eq!(c.set_data("/v", b"v2", Some(-1)).await.unwrap().version, 2);
    expect_err("delete", c.delete("/v", Some(1)).await, Error::BadVersion);
    let open = zk_core::Acl::open_unsafe();
    expect_err("set_acl", c.set_acl("/v", &open, Some(1)).await, Error::BadVersion);
    let stat = c.exists("/v").await.unwrap().expect("still there");
    assert_eq!((stat.version, stat.aversion), (2, 0));
    c.close().await;
}

async fn invalid_paths_rejected_client_side(b: &Backend) {
    let sb = b.sandbox("conformance-invalid_paths").await;
    let c = sb.client().await;
    let bad = ["", "a", "/a/", "/a//b", "/a/.", "/a/..", "/\u{1}", "/a\u{0}b", "/\u{7f}", "/\u{1F600}"];
    for path in bad {
        // InvalidPath is produced only by the client; the server would answer BADARGUMENTS
        // or NONODE (§10.2).
        let check = |op: &str, r: Result<(), Error>| match r {
            Err(Error::InvalidPath { path: p, .. }) => assert_eq!(p, path, "{op}"),
            other => panic!("{op}({path:?}): expected InvalidPath, got {other:?}"),
        };
        check("create", c.create(path, b"", CreateMode::Persistent).await.map(drop));
        check("delete", c.delete(path, None).await);
        check("exists", c.exists(path).await.map(drop));
        check("get_data", c.get_data(path).await.map(drop));
        check("set_data", c.set_data(path, b"", None).await.map(drop));
        check("get_children", c.get_children(path).await.map(drop));
        check("get_acl", c.get_acl(path).await.map(drop));
        check("sync", c.sync(path).await);
    }
    // Unusual but valid names are accepted by both sides (§10.1).
    for path in ["/a.b", "/...", "/with space", "/é"] {
        assert_eq!(c.create(path, b"", CreateMode::Persistent).await.unwrap().0, path);
    }
    assert_eq!(sorted(c.get_children("/").await.unwrap()), ["...", "a.b", "with space", "é"]);
    c.close().await;
}

async fn oversized_data_rejected_client_side(b: &Backend) {
    let sb = b.sandbox("conformance-oversized").await;
    let c = sb.client().await;
    c.create("/n", b"small", CreateMode::Persistent).await.unwrap();
    let big = vec![7u8; (1 << 20) + 1];
    expect_bad_arguments("set_data 1 MiB + 1", c.set_data("/n", &big, None).await);
    expect_bad_arguments("create 1 MiB + 1", c.create("/big", &big, CreateMode::Persistent).await);
    // Nothing was sent, so the connection survived and nothing changed.
    let (data, stat) = c.get_data("/n").await.unwrap();
    assert_eq!((data.as_slice(), stat.version), (&b"small"[..], 0));
    assert_eq!(c.exists("/big").await.unwrap(), None);
    // Data well under the frame limit round-trips.
    let large: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
    assert_eq!(c.set_data("/n", &large, None).await.unwrap().data_length, 1_000_000);
    assert_eq!(c.get_data("/n").await.unwrap().0, large);
    // The limit is on the request frame's payload (§1.1): header (8) + path (4 + len) + data
    // (4 + n) + version (4). Exactly 1,048,575 bytes is sent and accepted, one more is not.
    // (The node is not read back: that reply would exceed the limit.)
    let fits = 1_048_575 - (8 + 4 + sb.root().len() + "/n".len() + 4 + 4);
    expect_bad_arguments("one byte over", c.set_data("/n", &vec![1; fits + 1], None).await);
    assert_eq!(c.set_data("/n", &vec![1; fits], None).await.unwrap().data_length, fits as i32);
    assert_eq!(c.exists("/n").await.unwrap().map(|s| s.data_length), Some(fits as i32));
    c.close().await;
}

async fn exists_get_data_set_data(b: &Backend) {
    let sb = b.sandbox("conformance-data").await;
    let c = sb.client().await;
    assert_eq!(c.exists("/x").await.unwrap(), None);
    let (_, s0) = c.create("/x", b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(c.exists("/x").await.unwrap(), Some(s0));
    // The client sends empty (not null) data; it reads back empty with dataLength 0. Null data
    // (length -1, §1.2) also reads as empty through this API, so the two cannot be told apart.
    assert_eq!(c.get_data("/x").await.unwrap(), (Vec::new(), s0));
    let s1 = c.set_data("/x", b"v", None).await.unwrap();
    assert_eq!((s1.version, s1.data_length, s1.czxid, s1.ctime), (1, 1, s0.czxid, s0.ctime));
    assert!(s1.mzxid > s0.mzxid && s1.mtime >= s0.mtime);
    // Identical bytes still bump the version (§13.7).
    let s2 = c.set_data("/x", b"v", Some(1)).await.unwrap();
    assert_eq!((s2.version, s2.data_length), (2, 1));
    assert!(s2.mzxid > s1.mzxid);
    assert_eq!(c.get_data("/x").await.unwrap(), (b"v".to_vec(), s2));
    let s3 = c.set_data("/x", b"", None).await.unwrap();
    assert_eq!((s3.version, s3.data_length), (3, 0));
    assert_eq!(c.get_data("/x").await.unwrap(), (Vec::new(), s3));
    assert_eq!(c.exists("/x").await.unwrap(), Some(s3));
    c.close().await;
}

async fn children_and_stat(b: &Backend) {
    let sb = b.sandbox("conformance-children").await;
    let c = sb.client().await;
    c.create("/c", b"", CreateMode::Persistent).await.unwrap();
    for name in ["/c/b", "/c/a", "/c/c", "/c/a/deep"] {
        c.create(name, b"", CreateMode::Persistent).await.unwrap();
    }
    // Order is unspecified (§13.1): compare sorted.
    assert_eq!(sorted(c.get_children("/c").await.unwrap()), ["a", "b", "c"]);
    let (children, stat) = c.get_children_and_stat("/c").await.unwrap();
    assert_eq!(sorted(children), ["a", "b", "c"]);
    assert_eq!(Some(stat), c.exists("/c").await.unwrap());
    assert_eq!((stat.num_children, stat.cversion), (3, 3));
    assert_eq!(c.get_children("/c/b").await.unwrap(), Vec::<String>::new());
    // The chroot's root lists the sandbox's children, names only.
    assert_eq!(c.get_children("/").await.unwrap(), ["c"]);
    c.close().await;
}

async fn sync_returns_without_checks(b: &Backend) {
    let sb = b.sandbox("conformance-sync").await;
    let (c, writer) = (sb.client().await, sb.client().await);
    writer.create("/s", b"w", CreateMode::Persistent).await.unwrap();
    c.sync("/s").await.unwrap();
    assert_eq!(c.get_data("/s").await.unwrap().0, b"w");
    // sync checks nothing (§13.18).
    c.sync("/missing").await.unwrap();
    c.sync("/").await.unwrap();
    c.close().await;
    writer.close().await;
}

async fn get_ephemerals_filters_by_prefix(b: &Backend) {
    let sb = b.sandbox("conformance-ephemerals").await;
    let (c, other) = (sb.client().await, sb.client().await);
    c.create("/p", b"", CreateMode::Persistent).await.unwrap();
    c.create("/ep", b"", CreateMode::Persistent).await.unwrap();
    for path in ["/e1", "/e2", "/p/e3", "/x", "/ep/y"] {
        c.create(path, b"", CreateMode::Ephemeral).await.unwrap();
    }
    other.create("/e9", b"", CreateMode::Ephemeral).await.unwrap();
    // Paths come back relative to the chroot, only this session's.
    let all = sorted(c.get_ephemerals("/").await.unwrap());
    assert_eq!(all, ["/e1", "/e2", "/ep/y", "/p/e3", "/x"]);
    // A plain string prefix, not a path (§4.3).
    assert_eq!(sorted(c.get_ephemerals("/e").await.unwrap()), ["/e1", "/e2", "/ep/y"]);
    assert_eq!(c.get_ephemerals("/p/").await.unwrap(), ["/p/e3"]);
    assert_eq!(c.get_ephemerals("/nothing").await.unwrap(), Vec::<String>::new());
    assert_eq!(other.get_ephemerals("/").await.unwrap(), ["/e9"]);
    expect_bad_arguments("relative prefix", c.get_ephemerals("e").await);
    c.close().await;
    other.close().await;
}

async fn all_children_number_counts_descendants(b: &Backend) {
    let sb = b.sandbox("conformance-all_children").await;
    let c = sb.client().await;
    for path in ["/t", "/t/a", "/t/b", "/t/a/c", "/t/a/c/d"] {
        c.create(path, b"", CreateMode::Persistent).await.unwrap();
    }
    assert_eq!(c.get_all_children_number("/t").await.unwrap(), 4);
    assert_eq!(c.get_all_children_number("/t/a").await.unwrap(), 2);
    assert_eq!(c.get_all_children_number("/t/b").await.unwrap(), 0);
    assert_eq!(c.get_all_children_number("/").await.unwrap(), 5);
    c.close().await;
}

async fn who_am_i_lists_identities(b: &Backend) {
    let sb = b.sandbox("conformance-who_am_i").await;
    let c = sb.client().await;
    let ids: Vec<(String, String)> =
        c.who_am_i().await.unwrap().into_iter().map(|i| (i.auth_scheme, i.user)).collect();
    assert_eq!(ids, [("ip".to_owned(), "127.0.0.1".to_owned())]);
    c.add_auth("digest", b"user:pw").await.unwrap();
    let mut ids: Vec<(String, String)> =
        c.who_am_i().await.unwrap().into_iter().map(|i| (i.auth_scheme, i.user)).collect();
    ids.sort();
    // The digest provider reports the user name, the part before ':'.
    assert_eq!(ids, [("digest".to_owned(), "user".to_owned()), ("ip".to_owned(), "127.0.0.1".to_owned())]);
    c.close().await;
}

async fn ten_thousand_requests_in_call_order(b: &Backend) {
    const N: u32 = 10_000;
    let sb = b.sandbox("conformance-ten_thousand").await;
    let c = sb.client().await;
    c.create("/n", b"", CreateMode::Persistent).await.unwrap();
    // Each call enqueues its request before returning, so all N are issued in this order
    // with no await in between.
    let futures: Vec<_> = (0..N).map(|i| c.set_data("/n", &i.to_be_bytes(), None)).collect();
    let results = within(120, "10,000 concurrent set_data", join_all(futures)).await;
    let mut last_mzxid = 0;
    for (i, r) in results.into_iter().enumerate() {
        let stat = r.unwrap_or_else(|e| panic!("set_data #{i}: {e}"));
        assert_eq!(stat.version, i as i32 + 1, "set_data #{i} applied out of order");
        assert!(stat.mzxid > last_mzxid, "set_data #{i}: mzxid went backwards");
        last_mzxid = stat.mzxid;
    }
    let (data, stat) = c.get_data("/n").await.unwrap();
    assert_eq!(data, (N - 1).to_be_bytes());
    assert_eq!((stat.version, stat.mzxid), (N as i32, last_mzxid));
    c.close().await;
}
