//! The differential test: seeded random operation sequences from several sessions run through
//! zk-core, in lockstep, against Debian's real ZooKeeper 3.8.0 and the embedded server in its
//! 3.8.0 mode. After every operation the outcome (reply, or error) and the watch events every
//! session received must be the same; at the end, the two trees. What must differ is
//! normalised first: zxids become their order of first appearance in the run, session ids the
//! index of the session, times are dropped.
//!
//! Operations: create in every mode but the timed ones (persistent, ephemeral, sequential,
//! ephemeral sequential; containers and TTL nodes are reaped on timers that differ by design),
//! delete and setData with and without versions, exists / getData / getChildren with and
//! without watches, getACL / setACL with four ACLs (open, read-only, creator-all, a digest
//! user's), multi with creates, deletes, setData and checks (some failing), digest auth,
//! sync, getEphemerals, getAllChildrenNumber, persistent and recursive watches, and a session
//! closed and reopened.
//!
//! `ZK_DIFF_SEEDS` (default 3) seeds of `ZK_DIFF_OPS` (default 1,000) operations run in the
//! default test run; `ZK_DIFF_SEEDS=20 ZK_DIFF_OPS=2000` is the long run. A divergence panics
//! with the seed, the operation's index and both outcomes; `ZK_DIFF_FIRST_SEED` starts the
//! seeds elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;
use zk_core::{Acl, AddWatchMode, Client, CreateMode, Error, Op, OpResult, Perms, Stat};
use zk_testing::{Backend, Sandbox};

/// Nodes the operations aim at (relative to the sandbox), parents before children.
const PATHS: [&str; 8] = ["/a", "/a/b", "/a/b/c", "/a/d", "/b", "/b/x", "/c", "/c/y"];
const USERS: [(&str, &str); 2] = [("u1", "p1"), ("u2", "p2")];
const SESSIONS: usize = 3;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// One session on one backend: its client, the events its watchers delivered since the last
/// look, and the tasks that collect them.
struct Session {
    client: Client,
    events: Arc<Mutex<Vec<String>>>,
    watchers: Vec<JoinHandle<()>>,
}

impl Session {
    async fn open(sandbox: &Sandbox) -> Session {
        let client = Client::builder(&sandbox.connect_string())
            .session_timeout(Duration::from_secs(30))
            .connect()
            .await
            .expect("connect");
        Session { client, events: Arc::default(), watchers: Vec::new() }
    }

    async fn close(self) {
        for w in self.watchers {
            w.abort();
        }
        self.client.close().await;
    }

    fn collect_one(&mut self, label: String, watcher: zk_core::OneshotWatcher) {
        let events = self.events.clone();
        self.watchers.push(tokio::spawn(async move {
            if let Ok(ev) = watcher.await {
                events.lock().unwrap().push(format!("{label}:{:?} {}", ev.event_type, ev.path));
            }
        }));
    }

    fn collect_stream(&mut self, label: String, mut watcher: zk_core::PersistentWatcher) {
        let events = self.events.clone();
        self.watchers.push(tokio::spawn(async move {
            while let Some(Ok(ev)) = watcher.next_event().await {
                events.lock().unwrap().push(format!("{label}:{:?} {}", ev.event_type, ev.path));
            }
        }));
    }
}

/// What differs between two servers by nature, mapped away: zxids to their order of first
/// appearance, session ids to the session's index.
#[derive(Default)]
struct Normal {
    zxids: HashMap<i64, usize>,
    sessions: HashMap<i64, usize>,
}

impl Normal {
    fn zxid(&mut self, z: i64) -> String {
        if z <= 0 {
            return z.to_string();
        }
        let n = self.zxids.len();
        format!("z{}", self.zxids.entry(z).or_insert(n))
    }

    fn owner(&self, id: i64) -> String {
        if id == 0 {
            return "0".to_owned();
        }
        self.sessions.get(&id).map_or_else(|| "unknown session".to_owned(), |s| format!("s{s}"))
    }

    fn stat(&mut self, s: &Stat) -> String {
        format!(
            "[c{} m{} p{} v{} cv{} av{} o{} len{} n{}]",
            self.zxid(s.czxid),
            self.zxid(s.mzxid),
            self.zxid(s.pzxid),
            s.version,
            s.cversion,
            s.aversion,
            self.owner(s.ephemeral_owner),
            s.data_length,
            s.num_children
        )
    }

    fn error(e: &Error) -> String {
        match e {
            Error::MultiFailed { .. } => format!("{e:?}"),
            other => format!("err {other:?}"),
        }
    }
}

/// The ACLs the operations choose from.
fn acl(choice: u32) -> Vec<Acl> {
    match choice {
        0 => Acl::open_unsafe(),
        1 => Acl::read_unsafe(),
        2 => Acl::creator_all(),
        _ => {
            let (user, password) = USERS[0];
            vec![
                Acl::world_anyone(Perms::READ),
                Acl::digest(Perms::ALL, user, password).expect("a digest ACL"),
            ]
        }
    }
}

fn create_mode(choice: u32) -> CreateMode {
    match choice {
        0 => CreateMode::Persistent,
        1 => CreateMode::Ephemeral,
        2 => CreateMode::PersistentSequential,
        _ => CreateMode::EphemeralSequential,
    }
}

/// One drawn operation, the same for both backends.
#[derive(Debug, Clone)]
enum Step {
    Create { s: usize, path: String, data: Vec<u8>, mode: u32, acl: u32 },
    Delete { s: usize, path: String, version: Option<i32> },
    SetData { s: usize, path: String, data: Vec<u8>, version: Option<i32> },
    Exists { s: usize, path: String, watch: bool },
    GetData { s: usize, path: String, watch: bool },
    GetChildren { s: usize, path: String, watch: bool },
    GetAcl { s: usize, path: String },
    SetAcl { s: usize, path: String, acl: u32, version: Option<i32> },
    Multi { s: usize, ops: Vec<(u32, String, Option<i32>)> },
    AddAuth { s: usize, user: usize },
    Sync { s: usize, path: String },
    GetEphemerals { s: usize, prefix: String },
    AllChildren { s: usize, path: String },
    AddWatch { s: usize, path: String, recursive: bool },
    Reopen { s: usize },
}

fn draw(rng: &mut StdRng, known: &[String]) -> Step {
    let s = rng.random_range(0..SESSIONS);
    let path = if !known.is_empty() && rng.random_bool(0.3) {
        known[rng.random_range(0..known.len())].clone()
    } else {
        PATHS[rng.random_range(0..PATHS.len())].to_owned()
    };
    let version = if rng.random_bool(0.5) { None } else { Some(rng.random_range(-1..3)) };
    let data = format!("d{}", rng.random_range(0..100)).into_bytes();
    match rng.random_range(0..100) {
        0..=24 => Step::Create { s, path, data, mode: rng.random_range(0..4), acl: rng.random_range(0..4) },
        25..=34 => Step::Delete { s, path, version },
        35..=44 => Step::SetData { s, path, data, version },
        45..=52 => Step::Exists { s, path, watch: rng.random_bool(0.5) },
        53..=60 => Step::GetData { s, path, watch: rng.random_bool(0.5) },
        61..=67 => Step::GetChildren { s, path, watch: rng.random_bool(0.5) },
        68..=70 => Step::GetAcl { s, path },
        71..=74 => Step::SetAcl { s, path, acl: rng.random_range(0..4), version },
        75..=81 => {
            let n = rng.random_range(1..4);
            let ops = (0..n)
                .map(|_| {
                    let p = PATHS[rng.random_range(0..PATHS.len())].to_owned();
                    let v = if rng.random_bool(0.6) { None } else { Some(rng.random_range(0..2)) };
                    (rng.random_range(0..4), p, v)
                })
                .collect();
            Step::Multi { s, ops }
        }
        82..=85 => Step::AddAuth { s, user: rng.random_range(0..USERS.len()) },
        86..=87 => Step::Sync { s, path },
        88..=89 => Step::GetEphemerals { s, prefix: PATHS[rng.random_range(0..PATHS.len())].to_owned() },
        90..=91 => Step::AllChildren { s, path },
        92..=95 => Step::AddWatch { s, path, recursive: rng.random_bool(0.5) },
        _ => Step::Reopen { s },
    }
}

/// One backend's side of the run.
struct Side {
    sandbox: Sandbox,
    sessions: Vec<Session>,
    normal: Normal,
    watch_labels: usize,
}

impl Side {
    async fn start(backend: &Backend) -> Side {
        let sandbox = backend.sandbox("diff").await;
        let mut side = Side { sandbox, sessions: Vec::new(), normal: Normal::default(), watch_labels: 0 };
        for i in 0..SESSIONS {
            let session = Session::open(&side.sandbox).await;
            side.normal.sessions.insert(session.client.session_id(), i);
            side.sessions.push(session);
        }
        side
    }

    /// Runs `step`; returns its normalised outcome.
    async fn run(&mut self, step: &Step) -> String {
        self.watch_labels += 1;
        let label = format!("w{}", self.watch_labels);
        match step {
            Step::Create { s, path, data, mode, acl: a } => {
                let options = create_mode(*mode).with_acl(acl(*a));
                match self.sessions[*s].client.create(path, data, options).await {
                    Ok((p, stat)) => format!("created {p} {}", self.normal.stat(&stat)),
                    Err(e) => Normal::error(&e),
                }
            }
            Step::Delete { s, path, version } => {
                match self.sessions[*s].client.delete(path, *version).await {
                    Ok(()) => "deleted".to_owned(),
                    Err(e) => Normal::error(&e),
                }
            }
            Step::SetData { s, path, data, version } => {
                match self.sessions[*s].client.set_data(path, data, *version).await {
                    Ok(stat) => format!("set {}", self.normal.stat(&stat)),
                    Err(e) => Normal::error(&e),
                }
            }
            Step::Exists { s, path, watch } => {
                let session = &mut self.sessions[*s];
                let r = if *watch {
                    session.client.exists_and_watch(path).await.map(|(stat, w)| {
                        session.collect_one(label, w);
                        stat
                    })
                } else {
                    session.client.exists(path).await
                };
                match r {
                    Ok(Some(stat)) => format!("exists {}", self.normal.stat(&stat)),
                    Ok(None) => "absent".to_owned(),
                    Err(e) => Normal::error(&e),
                }
            }
            Step::GetData { s, path, watch } => {
                let session = &mut self.sessions[*s];
                let r = if *watch {
                    session.client.get_data_and_watch(path).await.map(|(d, stat, w)| {
                        session.collect_one(label, w);
                        (d, stat)
                    })
                } else {
                    session.client.get_data(path).await
                };
                match r {
                    Ok((d, stat)) => {
                        format!("data {:?} {}", String::from_utf8_lossy(&d), self.normal.stat(&stat))
                    }
                    Err(e) => Normal::error(&e),
                }
            }
            Step::GetChildren { s, path, watch } => {
                let session = &mut self.sessions[*s];
                let r = if *watch {
                    session.client.get_children_and_watch(path).await.map(|(c, _, w)| {
                        session.collect_one(label, w);
                        c
                    })
                } else {
                    session.client.get_children(path).await
                };
                match r {
                    Ok(mut c) => {
                        c.sort();
                        format!("children {c:?}")
                    }
                    Err(e) => Normal::error(&e),
                }
            }
            Step::GetAcl { s, path } => match self.sessions[*s].client.get_acl(path).await {
                Ok((a, stat)) => format!("acl {a:?} {}", self.normal.stat(&stat)),
                Err(e) => Normal::error(&e),
            },
            Step::SetAcl { s, path, acl: a, version } => {
                match self.sessions[*s].client.set_acl(path, &acl(*a), *version).await {
                    Ok(stat) => format!("acl set {}", self.normal.stat(&stat)),
                    Err(e) => Normal::error(&e),
                }
            }
            Step::Multi { s, ops } => {
                let ops: Vec<Op> = ops
                    .iter()
                    .map(|(kind, p, v)| match kind {
                        0 => Op::create(p, b"m", CreateMode::Persistent),
                        1 => Op::delete(p, *v),
                        2 => Op::set_data(p, b"m2", *v),
                        _ => Op::check(p, *v),
                    })
                    .collect();
                match self.sessions[*s].client.multi(&ops).await {
                    Ok(results) => {
                        let out: Vec<String> = results
                            .iter()
                            .map(|r| match r {
                                OpResult::Create { path, stat } => {
                                    format!("create {path} {:?}", stat.as_ref().map(|s| self.normal.stat(s)))
                                }
                                OpResult::SetData { stat } => format!("set {}", self.normal.stat(stat)),
                                other => format!("{other:?}"),
                            })
                            .collect();
                        format!("multi {out:?}")
                    }
                    Err(e) => Normal::error(&e),
                }
            }
            Step::AddAuth { s, user } => {
                let (u, p) = USERS[*user];
                match self.sessions[*s].client.add_auth("digest", format!("{u}:{p}").as_bytes()).await {
                    Ok(()) => format!("auth {u}"),
                    Err(e) => Normal::error(&e),
                }
            }
            Step::Sync { s, path } => match self.sessions[*s].client.sync(path).await {
                Ok(()) => "synced".to_owned(),
                Err(e) => Normal::error(&e),
            },
            Step::GetEphemerals { s, prefix } => {
                match self.sessions[*s].client.get_ephemerals(prefix).await {
                    Ok(mut e) => {
                        e.sort();
                        format!("ephemerals {e:?}")
                    }
                    Err(e) => Normal::error(&e),
                }
            }
            Step::AllChildren { s, path } => {
                match self.sessions[*s].client.get_all_children_number(path).await {
                    Ok(n) => format!("all children {n}"),
                    Err(e) => Normal::error(&e),
                }
            }
            Step::AddWatch { s, path, recursive } => {
                let mode =
                    if *recursive { AddWatchMode::PersistentRecursive } else { AddWatchMode::Persistent };
                let session = &mut self.sessions[*s];
                match session.client.add_watch(path, mode).await {
                    Ok(w) => {
                        session.collect_stream(label, w);
                        "watching".to_owned()
                    }
                    Err(e) => Normal::error(&e),
                }
            }
            Step::Reopen { s } => {
                let fresh = Session::open(&self.sandbox).await;
                let old = std::mem::replace(&mut self.sessions[*s], fresh);
                old.close().await;
                self.normal
                    .sessions
                    .insert(self.sessions[*s].client.session_id(), self.normal.sessions.len());
                "reopened".to_owned()
            }
        }
    }

    /// The events each session received since the last call, sorted per session (events of
    /// one change to several watchers of a session may reach their tasks in any order).
    async fn events(&mut self) -> Vec<Vec<String>> {
        // A round trip on every session: notifications precede the reply (§7.7).
        for s in &self.sessions {
            let _ = s.client.exists("/").await;
        }
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        self.sessions
            .iter()
            .map(|s| {
                let mut v = std::mem::take(&mut *s.events.lock().unwrap());
                v.sort();
                v
            })
            .collect()
    }

    /// The sandbox's tree, normalised, read by the first session (which may lack READ on some
    /// nodes: then it records the error, the same on both servers).
    async fn tree(&mut self) -> Vec<String> {
        let client = self.sessions[0].client.clone();
        let mut out = Vec::new();
        let mut todo = vec!["/".to_owned()];
        // Bounded: the tree has at most the nodes the run created.
        for _ in 0..100_000 {
            let Some(path) = todo.pop() else { break };
            let line = match client.get_data(&path).await {
                Ok((d, stat)) => {
                    format!("{path} {:?} {}", String::from_utf8_lossy(&d), self.normal.stat(&stat))
                }
                Err(e) => format!("{path} {}", Normal::error(&e)),
            };
            out.push(line);
            if let Ok(mut kids) = client.get_children(&path).await {
                kids.sort();
                for k in kids.into_iter().rev() {
                    todo.push(if path == "/" { format!("/{k}") } else { format!("{path}/{k}") });
                }
            }
        }
        out
    }

    async fn close(self) {
        for s in self.sessions {
            s.close().await;
        }
    }
}

/// `fut`, or a panic naming the operation after 30 s (a server that never answers).
async fn bounded<T>(
    (seed, i, side): (u64, usize, &str),
    step: &Step,
    fut: impl std::future::Future<Output = T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("seed {seed}, operation {i}: {step:?} did not complete in 30 s on {side}"))
}

/// One seed: `ops` operations in lockstep on both backends.
async fn one_seed(real: &Backend, embedded: &Backend, seed: u64, ops: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut a = Side::start(real).await;
    let mut b = Side::start(embedded).await;
    let mut known: Vec<String> = Vec::new();
    for i in 0..ops {
        let step = draw(&mut rng, &known);
        let (ra, rb) = (
            bounded((seed, i, "real"), &step, a.run(&step)).await,
            bounded((seed, i, "embedded"), &step, b.run(&step)).await,
        );
        if std::env::var_os("ZK_DIFF_TRACE").is_some() {
            eprintln!("{i} w{}: {step:?} -> {ra}", a.watch_labels);
        }
        assert_eq!(ra, rb, "seed {seed}, operation {i}: {step:?}\n  real: {ra}\n  embedded: {rb}");
        if let Some(created) = ra.strip_prefix("created ") {
            if let Some(path) = created.split(' ').next() {
                known.push(path.to_owned());
            }
        }
        let (ea, eb) = (
            bounded((seed, i, "real"), &step, a.events()).await,
            bounded((seed, i, "embedded"), &step, b.events()).await,
        );
        assert_eq!(ea, eb, "seed {seed}, events after operation {i}: {step:?}");
    }
    let (ta, tb) = (a.tree().await, b.tree().await);
    assert_eq!(ta, tb, "seed {seed}: the trees differ");
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn the_embedded_server_answers_as_zookeeper_3_8_0() {
    let seeds = env_number("ZK_DIFF_SEEDS", 3);
    let ops = env_number("ZK_DIFF_OPS", 1_000) as usize;
    let first = env_number("ZK_DIFF_FIRST_SEED", 1);
    let real = Backend::real().await;
    let embedded = Backend::embedded().await;
    assert_eq!(real.server_version().await, Some((3, 8, 0)), "the reference is Debian's 3.8.0");
    assert_eq!(embedded.server_version().await, Some((3, 8, 0)), "the embedded server in 3.8.0 mode");
    for seed in first..first + seeds {
        one_seed(&real, &embedded, seed, ops).await;
    }
    eprintln!("differential: {seeds} seeds x {ops} operations from seed {first}, no divergence");
}
