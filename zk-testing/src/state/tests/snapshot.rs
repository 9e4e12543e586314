//! Snapshot → restore round trips; garbage is refused without panicking.

use zk_core::proto::{Acl, CreateRequest, CreateTtlRequest, Perms, Request, SetAclRequest};

use super::*;

/// A tree with every kind of node, null data, non-default ACLs and counters.
fn busy_state() -> T {
    let mut t = T::new();
    t.mk("/a");
    t.mk("/a/b");
    t.run(1, Request::Create(creq("/null", None, 0)));
    t.create("/a/seq-", 2);
    t.create("/a/seq-", 2);
    t.run(1, Request::Delete(zk_core::proto::DeleteRequest { path: "/a/b".into(), version: -1 }));
    t.create("/eph", 1);
    t.run(2, Request::Create(creq("/eph2", Some(b"\0\xff"), 3)));
    t.run(1, Request::CreateContainer(creq("/box", None, 4)));
    t.mk("/box/x");
    let ttl = CreateTtlRequest {
        path: "/ttl".into(),
        data: Some(vec![1; 300]),
        acl: Acl::open_unsafe(),
        flags: 5,
        ttl: 777,
    };
    t.run(1, Request::CreateTtl(ttl));
    let acl = vec![Acl::new(Perms::READ, "digest", "u:h"), Acl::new(Perms::ALL, "ip", "10.0.0.0/8")];
    t.run(1, Request::Create(CreateRequest { acl, ..creq("/locked", Some(b"s"), 0) }));
    t.run(1, Request::SetAcl(SetAclRequest { path: "/null".into(), acl: Acl::read_unsafe(), version: 0 }));
    t.run(
        1,
        Request::SetData(zk_core::proto::SetDataRequest {
            path: "/a".into(),
            data: Some(vec![]),
            version: 0,
        }),
    );
    t
}

#[test]
fn round_trip_keeps_everything() {
    let t = busy_state();
    let bytes = t.s.snapshot();
    let r = State::restore(&bytes, StateConfig::default()).expect("restore");
    assert_eq!(r.dump(), t.s.dump());
    assert_eq!(r.last_zxid(), t.s.last_zxid());
    assert_eq!((r.ephemerals(S1), r.ephemerals(S2)), (t.s.ephemerals(S1), t.s.ephemerals(S2)));
    assert_eq!((r.ephemeral_count(), r.node_count()), (t.s.ephemeral_count(), t.s.node_count()));
    assert_eq!(r.approximate_data_size(), t.s.approximate_data_size());
    assert_eq!(r.snapshot(), bytes, "a restored state snapshots identically");
    for p in ["/null", "/locked", "/zookeeper/config"] {
        let acl = |s: &State| s.tree.acls.get(s.tree.node(s.tree.lookup(p).unwrap()).acl).to_vec();
        assert_eq!(acl(&r), acl(&t.s), "{p}");
    }
    // Internal counters and kinds come back too: sequence numbers continue, TTL and
    // containers are reaped, ephemerals vanish with their session.
    let mut r = T { s: r };
    r.s.connection_opened(1, S1, "127.0.0.1");
    let seq: zk_core::proto::Create2Response = body(&r.create("/a/seq-", 2));
    assert_eq!(seq.path, "/a/seq-0000000003");
    r.run(1, Request::Delete(zk_core::proto::DeleteRequest { path: "/box/x".into(), version: -1 }));
    r.s.reap(NOW + 1_000, 10);
    assert!(!r.exists("/box") && !r.exists("/ttl"));
    let eph2 = r.s.ephemerals(S2);
    assert_eq!(eph2.len(), 1);
    r.s.close_session(S2);
    assert!(!r.exists(&eph2[0]) && r.exists("/eph"));
}

#[test]
fn garbage_is_refused() {
    let good = busy_state().s.snapshot();
    assert!(State::restore(&[], StateConfig::default()).is_err());
    assert!(State::restore(b"ZKTSTATE", StateConfig::default()).is_err());
    assert!(State::restore(&[0u8; 1000], StateConfig::default()).is_err());
    let mut noise = 0x2545_F491_4F6C_DD1Du64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            noise as u8
        })
        .collect();
    assert!(State::restore(&random, StateConfig::default()).is_err());
    for cut in (0..good.len()).step_by(7) {
        assert!(State::restore(&good[..cut], StateConfig::default()).is_err(), "prefix {cut}");
    }
    for i in (0..good.len()).step_by(11) {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        assert!(State::restore(&bad, StateConfig::default()).is_err(), "flipped byte {i}");
    }
    assert!(State::restore(&good, StateConfig::default()).is_ok());
}

#[test]
fn structurally_bad_images_are_refused_even_with_a_valid_checksum() {
    use bytes::BufMut;
    let seal = |mut body: Vec<u8>| {
        let sum = crate::state::index::hash_path(&body);
        body.put_u64(sum);
        body
    };
    let image = |nodes: &[(&str, i32)], lists: i32| {
        let mut b = b"ZKTSTATE".to_vec();
        b.put_i32(1);
        b.put_i64(5);
        b.put_i32(lists);
        for _ in 0..lists {
            zk_core::proto::write_acl_vec(&mut b, &Acl::open_unsafe());
        }
        b.put_i32(nodes.len() as i32);
        for &(path, kind) in nodes {
            zk_core::proto::write_string(&mut b, path);
            zk_core::proto::write_buffer(&mut b, Some(b""));
            b.put_i32(0);
            for _ in 0..6 {
                b.put_i64(0);
            }
            for v in [0, 0, 0, kind] {
                b.put_i32(v);
            }
        }
        seal(b)
    };
    let ok = image(&[("/", 0), ("/a", 1)], 1);
    assert!(State::restore(&ok, StateConfig::default()).is_ok());
    for (bad, why) in [
        (image(&[], 1), "no root"),
        (image(&[("/a", 0)], 1), "root not first"),
        (image(&[("/", 0), ("/a/b", 0)], 1), "orphan"),
        (image(&[("/", 0), ("/a", 0), ("/a", 0)], 1), "duplicate"),
        (image(&[("/", 0), ("/a/", 0)], 1), "invalid path"),
        (image(&[("/", 0), ("/a", 1), ("/a/b", 0)], 1), "child of an ephemeral"),
        (image(&[("/", 0), ("/a", 9)], 1), "unknown kind"),
        (image(&[("/", 0)], 0), "unknown ACL list"),
    ] {
        assert!(State::restore(&bad, StateConfig::default()).is_err(), "{why}");
    }
    let mut trailing = ok[..ok.len() - 8].to_vec();
    trailing.push(0);
    assert!(State::restore(&seal(trailing), StateConfig::default()).is_err(), "trailing bytes");
    let mut version = ok[..ok.len() - 8].to_vec();
    version[11] = 2;
    assert!(State::restore(&seal(version), StateConfig::default()).is_err(), "future format");
}

#[test]
fn sessions_round_trip_and_tree_only_snapshots_still_load() {
    use crate::state::SavedSession;
    let t = busy_state();
    let sessions = [
        SavedSession { id: S1, password: [1; 16], timeout_ms: 4_000 },
        SavedSession { id: S2, password: [2; 16], timeout_ms: 30_000 },
    ];
    let bytes = t.s.snapshot_with(&sessions);
    let (r, back) = State::restore_with(&bytes, StateConfig::default()).expect("restore");
    assert_eq!(back, sessions);
    assert_eq!(r.dump(), t.s.dump());

    // A format 1 file (the tree alone, as written before sessions were saved) loads with none:
    // the same bytes without the session count, format 1, and their own hash.
    let plain = t.s.snapshot();
    let body = &plain[..plain.len() - 8 - 4];
    let mut old = body.to_vec();
    old[8..12].copy_from_slice(&1i32.to_be_bytes());
    let sum = crate::state::index::hash_path(&old);
    old.extend_from_slice(&sum.to_be_bytes());
    let (r, none) = State::restore_with(&old, StateConfig::default()).expect("a format 1 snapshot");
    assert!(none.is_empty());
    assert_eq!(r.dump(), t.s.dump());

    // A session count the bytes cannot hold is refused.
    let mut bad = body.to_vec();
    bad.extend_from_slice(&1_000i32.to_be_bytes());
    let sum = crate::state::index::hash_path(&bad);
    bad.extend_from_slice(&sum.to_be_bytes());
    let err = State::restore_with(&bad, StateConfig::default()).expect_err("an impossible count");
    assert!(err.contains("session count"), "{err}");
}
