//! Mixed elections with real Apache Curator (Debian's `libcurator-*-java` 5.4, one JVM running
//! `CuratorLeader.java`): two Curator participants and two of ours on the SAME election path,
//! over both backends in real time.
//!
//! - `latch_mix`: Curator's `LeaderLatch` and our [`LeaderLatch`] (`_c_<uuid>-latch-<seq>`);
//! - `selector_mix`: Curator's `LeaderSelector` and our [`Election`] (`_c_<uuid>-lock-<seq>`).
//!
//! Whoever leads runs one term and leaves; a new participant of the same kind joins in its
//! place, for `ROUNDS` terms, then the last four lead in turn. In every term the leader takes
//! the shared node `<root>/owner` from "" to its id, counts the term and logs it (one multi
//! with version checks), holds a little, checks it still leads and resets the owner with a
//! version check: a non-empty owner or a failed check means two leaders at once. Then:
//!
//! - the term log names every participant of both kinds once, in election-node sequence
//!   order (leadership passes in sequence order across both kinds);
//! - a participant list we saw while leading held nodes of both kinds, in Curator's layout and
//!   order, and Curator's participant list held our ids.
//!
//! The JVM is run by [`zk_testing::java::run`], which kills it by PID after `JVM_TIMEOUT`.
//! A missing Java or Curator fails the test with the command that installs them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zk_core::{Client, CreateMode, Op};
use zk_recipes::{layout, Election, LeaderLatch, Participant, LATCH_NAME};
use zk_testing::java;
use zk_testing::Backend;

use crate::support::await_jvm_ready;
use crate::within;

zk_testing::both_backends!(worker_threads = 4; latch_mix, selector_mix);

/// Terms after which the leader is replaced by a new participant of its kind.
const ROUNDS: u64 = 8;
/// Participants of each kind at a time.
const SLOTS: usize = 2;
/// How long a leader holds before leaving.
const HOLD: Duration = Duration::from_millis(60);
/// The JVM is killed (by PID) if it runs longer; its own watchdog fires at 40 s.
const JVM_TIMEOUT: Duration = Duration::from_secs(45);
/// How long (seconds) a ZooKeeper call of the test itself may take.
const CALL: u64 = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Latch,
    Selector,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Latch => "latch",
            Mode::Selector => "selector",
        }
    }

    /// The node name after the protected prefix.
    fn node_name(self) -> &'static str {
        match self {
            Mode::Latch => LATCH_NAME,
            Mode::Selector => layout::MUTEX_LOCK_NAME,
        }
    }
}

/// What our participants share within the test process.
struct Shared {
    root: String,
    mode: Mode,
    /// How many of our participants believe they lead right now.
    leaders: AtomicUsize,
    /// The next id number (`rust-<n>`).
    next_id: AtomicUsize,
    /// Participant lists (node name, id) seen while we led with both kinds in them.
    mixed: Mutex<Vec<Vec<(String, String)>>>,
}

/// One term of leadership of `who` (election node `node`); returns whether to start a new
/// participant in its place.
async fn term(
    client: &Client,
    shared: &Shared,
    who: &str,
    node: &str,
    queue: Vec<Participant>,
    still_leader: impl Fn() -> bool,
) -> bool {
    let root = &shared.root;
    assert_eq!(shared.leaders.fetch_add(1, Ordering::SeqCst), 0, "two of our participants lead ({who})");
    let owner_path = format!("{root}/owner");
    let terms_path = format!("{root}/terms");
    let (owner, owner_stat) =
        within(CALL, "read owner", client.get_data(&owner_path)).await.expect("read owner");
    assert!(owner.is_empty(), "two leaders: {who} leads while owner is {}", String::from_utf8_lossy(&owner));
    let (terms, terms_stat) =
        within(CALL, "read terms", client.get_data(&terms_path)).await.expect("read terms");
    let terms: u64 = String::from_utf8(terms).unwrap().trim().parse().expect("a number");
    let leaf = node.rsplit('/').next().unwrap();
    let ops = [
        Op::set_data(&owner_path, who.as_bytes(), Some(owner_stat.version)),
        Op::set_data(&terms_path, (terms + 1).to_string().as_bytes(), Some(terms_stat.version)),
        Op::create(
            &format!("{root}/log/t-"),
            format!("{who} {leaf}").as_bytes(),
            CreateMode::PersistentSequential,
        ),
    ];
    if let Err(e) = within(CALL, "take owner", client.multi(&ops)).await {
        panic!("two leaders: {who} could not take the owner node: {e}");
    }
    let queue: Vec<(String, String)> = queue
        .into_iter()
        .map(|p| (p.node.rsplit('/').next().unwrap().to_owned(), String::from_utf8_lossy(&p.id).into_owned()))
        .collect();
    assert_eq!(queue.first().map(|(_, id)| id.as_str()), Some(who), "we lead: {queue:?}");
    if queue.iter().any(|(_, id)| id.starts_with("curator-"))
        && queue.iter().any(|(_, id)| id.starts_with("rust-"))
    {
        shared.mixed.lock().unwrap().push(queue);
    }
    tokio::time::sleep(HOLD).await;
    assert!(still_leader(), "{who} lost leadership during its term");
    let (owner, after) = within(CALL, "read owner", client.get_data(&owner_path)).await.expect("read owner");
    assert_eq!(owner, who.as_bytes(), "two leaders: the owner changed during {who}'s term");
    if let Err(e) = within(CALL, "reset owner", client.set_data(&owner_path, b"", Some(after.version))).await
    {
        panic!("two leaders: {who} could not reset the owner node: {e}");
    }
    assert_eq!(shared.leaders.fetch_sub(1, Ordering::SeqCst), 1);
    terms < ROUNDS
}

/// One of our participants: joins, leads one term, leaves. Returns whether to go again.
async fn participant(connect_string: &str, shared: &Shared) -> bool {
    let who = format!("rust-{}", shared.next_id.fetch_add(1, Ordering::SeqCst));
    let client = within(CALL, "connect", Client::connect(connect_string)).await.expect("connect");
    let election = format!("{}/election", shared.root);
    let again = match shared.mode {
        Mode::Latch => {
            let latch = LeaderLatch::new(client.clone(), &election, &who).unwrap();
            latch.start().unwrap();
            assert!(
                latch.await_leadership_timeout(Duration::from_secs(20)).await.unwrap(),
                "{who} did not lead in 20 s"
            );
            let node = latch.node().expect("our node");
            let queue = within(CALL, "participants", latch.participants()).await.expect("participants");
            let again = term(&client, shared, &who, &node, queue, || latch.is_leader()).await;
            within(CALL, "close", latch.close()).await.expect("close");
            again
        }
        Mode::Selector => {
            let e = Election::new(client.clone(), &election, who.as_bytes()).unwrap();
            let leadership = tokio::time::timeout(Duration::from_secs(20), e.campaign())
                .await
                .unwrap_or_else(|_| panic!("{who} did not lead in 20 s"))
                .expect("campaign");
            let queue = within(CALL, "participants", e.participants()).await.expect("participants");
            let node = leadership.path().to_owned();
            let again = term(&client, shared, &who, &node, queue, || leadership.is_leader()).await;
            within(CALL, "resign", leadership.resign()).await.expect("resign");
            again
        }
    };
    client.close().await;
    again
}

async fn latch_mix(b: &Backend) {
    mix(b, Mode::Latch).await;
}

async fn selector_mix(b: &Backend) {
    mix(b, Mode::Selector).await;
}

async fn mix(b: &Backend, mode: Mode) {
    let name = b.name();
    let cp = crate::support::curator_program("leader/CuratorLeader.java", "CuratorLeader").await;
    let root = b.create_root(&format!("leader-curator-{}", mode.arg())).await;
    let setup = b.client().await;
    for (node, data) in [("owner", ""), ("terms", "0"), ("log", ""), ("election", "")] {
        setup
            .create(&format!("{root}/{node}"), data.as_bytes(), CreateMode::Persistent)
            .await
            .expect("setup");
    }

    let mut jvm = java::jvm(&cp, "CuratorLeader").unwrap_or_else(|e| panic!("{e}"));
    jvm.args([mode.arg(), &b.connect_string(), &root, &ROUNDS.to_string()]);
    let mut jvm = tokio::spawn(java::run(jvm, None, JVM_TIMEOUT));

    // Wait for the JVM's clients, then start everyone at once.
    await_jvm_ready(&setup, &root, &mut jvm, &format!("{name}: CuratorLeader")).await;
    let shared = Arc::new(Shared {
        root: root.clone(),
        mode,
        leaders: AtomicUsize::new(0),
        next_id: AtomicUsize::new(0),
        mixed: Mutex::new(Vec::new()),
    });
    setup.create(&format!("{root}/go"), b"", CreateMode::Persistent).await.expect("create go");
    let mut slots = Vec::new();
    for _ in 0..SLOTS {
        let (shared, connect_string) = (shared.clone(), b.connect_string());
        slots.push(tokio::spawn(async move { while participant(&connect_string, &shared).await {} }));
    }
    let ours = tokio::time::timeout(JVM_TIMEOUT, async {
        for s in slots {
            s.await.expect("our participant");
        }
    })
    .await;
    let out = jvm.await.expect("the JVM task").unwrap_or_else(|e| panic!("{name}: {e}"));
    let describe = || {
        format!(
            "{name}: CuratorLeader exited {}\nstdout:\n{}\nstderr:\n{}",
            out.status, out.stdout, out.stderr
        )
    };
    assert!(ours.is_ok(), "{name}: our participants did not finish in time; {}", describe());
    assert!(out.status.success() && out.stdout.lines().last() == Some("DONE"), "{}", describe());

    // The term log: every participant once, in election-node sequence order.
    let mut entries = setup.get_children(&format!("{root}/log")).await.expect("log");
    entries.sort();
    let mut terms = Vec::new();
    for e in &entries {
        let (data, _) = setup.get_data(&format!("{root}/log/{e}")).await.expect("log entry");
        let text = String::from_utf8(data).unwrap();
        let (who, node) = text.split_once(' ').expect("<who> <node>");
        terms.push((who.to_owned(), node.to_owned()));
    }
    let total = ROUNDS as usize + 2 * SLOTS;
    assert_eq!(terms.len(), total, "{name}: terms {terms:?}");
    let whos: BTreeSet<&str> = terms.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(whos.len(), total, "{name}: someone led twice: {terms:?}");
    for kind in ["curator-", "rust-"] {
        assert!(
            whos.iter().filter(|w| w.starts_with(kind)).count() >= SLOTS,
            "{name}: {kind} terms: {terms:?}"
        );
    }
    let seqs: Vec<u64> = terms
        .iter()
        .map(|(_, n)| {
            assert!(
                layout::is_protected(n) && layout::strip_protected(n).starts_with(mode.node_name()),
                "{n}"
            );
            assert_eq!(
                n.len(),
                "_c_".len() + 36 + "-".len() + mode.node_name().len() + 10,
                "Curator's layout: {n}"
            );
            layout::sort_key(n, mode.node_name()).parse().unwrap()
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{name}: leadership out of sequence order: {terms:?}");
    let switches =
        terms.windows(2).filter(|w| w[0].0.starts_with("rust-") != w[1].0.starts_with("rust-")).count();
    assert!(switches > 0, "{name}: leadership never passed between the kinds: {terms:?}");

    // One election: we saw both kinds in Curator's layout and order ...
    let mixed = shared.mixed.lock().unwrap().clone();
    assert!(!mixed.is_empty(), "{name}: never saw Curator's nodes and ours in one election");
    for queue in &mixed {
        let names: Vec<String> = queue.iter().map(|(n, _)| n.clone()).collect();
        let mut sorted = names.clone();
        layout::sort_nodes(&mut sorted, mode.node_name());
        assert_eq!(sorted, names, "{name}: not in Curator's order");
        for n in &names {
            assert!(layout::strip_protected(n).starts_with(mode.node_name()), "{n}");
        }
    }
    // ... and Curator saw our ids.
    let curator_saw_ours = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("QUEUE "))
        .filter(|q| {
            q.split_once(' ').is_some_and(|(_, ids)| ids.split(',').any(|id| id.starts_with("rust-")))
        })
        .count();
    assert!(curator_saw_ours > 0, "{}: Curator never listed one of our participants; {}", name, describe());
    println!(
        "{name} {}: {} terms {:?}; {} mixed lists seen by us, {curator_saw_ours} by Curator",
        mode.arg(),
        terms.len(),
        terms.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>(),
        mixed.len()
    );

    let left = setup.get_children(&format!("{root}/election")).await.expect("election");
    assert!(left.is_empty(), "{name}: election nodes left: {left:?}");
    let (owner, _) = setup.get_data(&format!("{root}/owner")).await.unwrap();
    assert!(owner.is_empty(), "{name}: owner left set");
    setup.close().await;
}
