//! Mixed contention with real Apache Curator: two Curator clients (Debian's
//! `libcurator-*-java` 5.4, in one JVM running `CuratorLocker.java`) and two zk-recipes
//! sessions loop on the SAME lock path, each acquisition updating a shared counter node
//! non-atomically (read, sleep, write back plus one, no version check) and appending
//! "<who> acquired" / "<who> released" to one shared log file. On both backends:
//!
//! - the counter ends exactly at the total (a lost update would mean two holders);
//! - the log is a strict sequence of acquired/released pairs by the same participant;
//! - Curator's nodes and ours form one queue: a participant list seen while we held the lock
//!   contains nodes of both (`_c_<uuid>-lock-<seq>`, told apart by their data), sorted by
//!   sequence, and Curator's own `getParticipantNodes()` listed one of our nodes.
//!
//! The JVM is run by `zk_testing::java::run`, which kills it by PID after `JVM_TIMEOUT`.
//! A missing Java or Curator fails the test with the command that installs them.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zk_core::CreateMode;
use zk_recipes::{layout, InterProcessMutex};
use zk_testing::java;

use crate::backend::{children, Backend};
use crate::support::await_jvm_ready;

zk_testing::both_backends!(worker_threads = 4; curator_and_us_on_one_lock);

/// Iterations per participant (2 Curator clients + 2 of ours).
const ITERATIONS: u64 = 15;
/// The JVM is killed (by PID) if it runs longer; its own watchdog fires at 40 s.
const JVM_TIMEOUT: Duration = Duration::from_secs(45);

/// Appends one line to the shared log with a single `O_APPEND` write.
fn log_line(file: &Path, line: &str) {
    let mut f =
        std::fs::OpenOptions::new().create(true).append(true).open(file).expect("open the shared log");
    f.write_all(format!("{line}\n").as_bytes()).expect("append to the shared log");
}

fn seq_of(node_name: &str) -> u64 {
    layout::sort_key(node_name, layout::MUTEX_LOCK_NAME)
        .parse()
        .unwrap_or_else(|_| panic!("no sequence in {node_name}"))
}

async fn curator_and_us_on_one_lock(b: &Backend) {
    let classpath = crate::support::curator_program("locks/CuratorLocker.java", "CuratorLocker").await;
    let root = b.create_root("locks-curator-mix").await;
    let lock = format!("{root}/lock");
    let counter = format!("{root}/counter");
    let setup = b.client().await;
    setup.create(&counter, b"0", CreateMode::Persistent).await.expect("create the counter");
    let log_file =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("mix-{}.log", root.trim_start_matches('/')));
    let _ = std::fs::remove_file(&log_file);

    let mut jvm = java::jvm(&classpath, "CuratorLocker").unwrap_or_else(|e| panic!("{e}"));
    jvm.args([&b.connect_string(), &root, &ITERATIONS.to_string()]).arg(&log_file);
    let mut jvm = tokio::spawn(java::run(jvm, None, JVM_TIMEOUT));

    // Wait for the JVM's clients, then start everyone at once.
    await_jvm_ready(&setup, &root, &mut jvm, &format!("{}: CuratorLocker", b.name())).await;

    // Our two sessions.
    let mut ours = Vec::new();
    for i in 0..2 {
        let who = format!("rust-{i}");
        let client = b.client().await;
        let mutex = InterProcessMutex::new(client.clone(), &lock).unwrap().with_id(who.as_bytes());
        ours.push((who, client, mutex));
    }
    let our_nodes = Arc::new(Mutex::new(BTreeSet::new()));
    let mixed_queues = Arc::new(Mutex::new(Vec::<Vec<(String, String)>>::new()));
    setup.create(&format!("{root}/go"), b"", CreateMode::Persistent).await.expect("create go");

    let mut tasks = Vec::new();
    for (who, client, mutex) in ours {
        let (counter, log_file, lock) = (counter.clone(), log_file.clone(), lock.clone());
        let (our_nodes, mixed_queues) = (our_nodes.clone(), mixed_queues.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..ITERATIONS {
                let guard = mutex.acquire().await.expect("acquire");
                our_nodes.lock().unwrap().insert(guard.path().rsplit('/').next().unwrap().to_owned());
                log_line(&log_file, &format!("{who} acquired"));
                let (data, _) = client.get_data(&counter).await.expect("read the counter");
                let value: u64 = String::from_utf8(data).unwrap().trim().parse().expect("a number");
                tokio::time::sleep(Duration::from_millis(3)).await;
                client
                    .set_data(&counter, (value + 1).to_string().as_bytes(), None)
                    .await
                    .expect("write the counter");
                let queue: Vec<(String, String)> = mutex
                    .participants()
                    .await
                    .expect("participants")
                    .into_iter()
                    .map(|p| {
                        (
                            p.node.rsplit('/').next().unwrap().to_owned(),
                            String::from_utf8_lossy(&p.id).into_owned(),
                        )
                    })
                    .collect();
                assert_eq!(
                    queue.first().map(|(n, _)| format!("{lock}/{n}")),
                    Some(guard.path().to_owned()),
                    "we hold it: {queue:?}"
                );
                if queue.iter().any(|(_, id)| id.starts_with("curator-"))
                    && queue.iter().any(|(_, id)| id.starts_with("rust-"))
                {
                    mixed_queues.lock().unwrap().push(queue);
                }
                log_line(&log_file, &format!("{who} released"));
                guard.release().await.expect("release");
            }
            client.close().await;
        }));
    }

    let ours = tokio::time::timeout(JVM_TIMEOUT, async {
        for t in tasks {
            t.await.expect("our task");
        }
    })
    .await;
    let out = jvm.await.expect("the JVM task").unwrap_or_else(|e| panic!("{}: {e}", b.name()));
    let describe = || {
        format!(
            "{}: CuratorLocker exited {}\nstdout:\n{}\nstderr:\n{}",
            b.name(),
            out.status,
            out.stdout,
            out.stderr
        )
    };
    assert!(ours.is_ok(), "{}: our sessions did not finish within {JVM_TIMEOUT:?}; {}", b.name(), describe());
    assert!(out.status.success() && out.stdout.lines().last() == Some("DONE"), "{}", describe());

    // Exactly the total: no two holders ever read-modify-wrote the counter at once.
    let (data, _) = setup.get_data(&counter).await.unwrap();
    let total = String::from_utf8(data).unwrap();
    assert_eq!(total, (4 * ITERATIONS).to_string(), "{}: lost updates on the counter", b.name());

    // The shared log: strict acquired/released pairs by one participant at a time.
    let log = std::fs::read_to_string(&log_file).expect("read the shared log");
    let log: Vec<&str> = log.lines().collect();
    assert_eq!(log.len() as u64, 2 * 4 * ITERATIONS, "{}: log\n{}", b.name(), log.join("\n"));
    for (i, pair) in log.chunks(2).enumerate() {
        let who =
            pair[0].strip_suffix(" acquired").unwrap_or_else(|| panic!("{}: entry {i}: {pair:?}", b.name()));
        assert_eq!(pair[1], format!("{who} released"), "{}: two holders at once around entry {i}", b.name());
    }
    let whos: BTreeSet<&str> = log.iter().filter_map(|l| l.strip_suffix(" acquired")).collect();
    assert_eq!(whos, BTreeSet::from(["curator-0", "curator-1", "rust-0", "rust-1"]));

    // One queue: seen from our side, with nodes of both kinds in sequence order ...
    let mixed = mixed_queues.lock().unwrap().clone();
    assert!(!mixed.is_empty(), "{}: never saw Curator's nodes and ours in one queue", b.name());
    for queue in &mixed {
        let names: Vec<String> = queue.iter().map(|(n, _)| n.clone()).collect();
        for n in &names {
            assert!(layout::is_protected(n) && layout::strip_protected(n).starts_with("lock-"), "{n}");
            assert_eq!(n.len(), "_c_".len() + 36 + "-lock-".len() + 10, "Curator's layout: {n}");
        }
        let seqs: Vec<u64> = names.iter().map(|n| seq_of(n)).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{}: queue not in sequence order: {names:?}", b.name());
        let mut sorted = names.clone();
        layout::sort_nodes(&mut sorted, layout::MUTEX_LOCK_NAME);
        assert_eq!(sorted, names);
    }
    println!("{}: {} mixed queues seen by us, e.g. {:?}", b.name(), mixed.len(), mixed[0]);

    // ... and from Curator's side: its participant list held one of our nodes.
    let our_nodes = our_nodes.lock().unwrap().clone();
    let curator_saw_ours = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("QUEUE "))
        .filter(|q| {
            q.split_once(' ').is_some_and(|(_, nodes)| {
                nodes.split(',').any(|n| our_nodes.contains(n.rsplit('/').next().unwrap_or(n)))
            })
        })
        .count();
    assert!(curator_saw_ours > 0, "{}: Curator never listed one of our nodes; {}", b.name(), describe());
    println!("{}: Curator listed our nodes in {curator_saw_ours} of its queues", b.name());

    assert!(children(&setup, &lock).await.is_empty(), "{}: leaked lock nodes", b.name());
    setup.close().await;
    let _ = std::fs::remove_file(&log_file);
}
