//! Interop with Curator's InterProcessMutex layout: node names, sort order, container parents.

use std::time::Duration;

use zk_recipes::layout::{is_protected, sort_key, sort_nodes, strip_protected, MUTEX_LOCK_NAME};
use zk_recipes::InterProcessMutex;

use crate::{client, server};

#[test]
fn curator_children_sort_by_the_sequence_after_lock_regardless_of_uuid() {
    // As Curator 5 names them: _c_<uuid>-lock-<%010d>.
    let mut children: Vec<String> = [
        "_c_f3a4c1d2-8b7e-4d6a-9c1b-2e3f4a5b6c7d-lock-0000000003",
        "_c_00000000-1111-4222-8333-444444444444-lock-0000000010",
        "_c_9e8d7c6b-5a49-4382-b716-05f4e3d2c1b0-lock-0000000001",
        "_c_a0b1c2d3-e4f5-4a6b-8c7d-8e9f0a1b2c3d-lock-0000000002",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sort_nodes(&mut children, MUTEX_LOCK_NAME);
    let seqs: Vec<&str> = children.iter().map(|c| sort_key(c, MUTEX_LOCK_NAME)).collect();
    assert_eq!(seqs, ["0000000001", "0000000002", "0000000003", "0000000010"]);
    assert_eq!(children[0], "_c_9e8d7c6b-5a49-4382-b716-05f4e3d2c1b0-lock-0000000001");
    // Unprotected names (old Curator, or no protection) sort by the same key.
    let mut mixed = vec!["lock-0000000005".to_string(), children[3].clone(), "lock-0000000004".to_string()];
    sort_nodes(&mut mixed, MUTEX_LOCK_NAME);
    assert_eq!(mixed, ["lock-0000000004", "lock-0000000005", &children[3]]);
    assert!(is_protected(&children[0]));
    assert_eq!(strip_protected(&children[0]), "lock-0000000001");
}

#[tokio::test(start_paused = true)]
async fn our_nodes_have_curators_names_and_container_parents() {
    let server = server(31).await;
    let zk = client(&server).await;
    let mutex = InterProcessMutex::new(zk.clone(), "/curator/locks/m").unwrap();
    let guard = mutex.acquire().await.unwrap();
    let name = guard.path().strip_prefix("/curator/locks/m/").unwrap();
    // _c_ + 36-char v4 uuid + - + lock- + 10 digits.
    assert_eq!(name.len(), 3 + 36 + 1 + 5 + 10, "{name}");
    assert!(name.starts_with("_c_"));
    let uuid = uuid_of(name);
    assert_eq!(uuid.len(), 36);
    assert!(uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    assert_eq!(uuid.as_bytes()[14], b'4', "a v4 uuid");
    assert_eq!(&name[40..45], "lock-");
    assert_eq!(&name[45..], "0000000000");
    let (_, stat) = zk.get_data(guard.path()).await.unwrap();
    assert_eq!(stat.ephemeral_owner, zk.session_id());
    guard.release().await.unwrap();

    // The parents are containers: with no children left, the server reaps them.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(zk.exists("/curator/locks/m").await.unwrap(), None);
    assert_eq!(zk.exists("/curator/locks").await.unwrap(), None);
    assert_eq!(zk.exists("/curator").await.unwrap(), None);

    // A container that vanished is created again.
    let guard = mutex.acquire().await.unwrap();
    assert!(guard.path().ends_with("lock-0000000000"));
    guard.release().await.unwrap();
}

fn uuid_of(name: &str) -> &str {
    &name[3..39]
}
