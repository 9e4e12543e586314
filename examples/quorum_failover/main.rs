//! Failover on a real 3-member ZooKeeper 3.8 ensemble, ours next to Curator and kazoo in the
//! same run on the same ensemble: leader latches across a quorum loss (scenarios A and B:
//! `zk_recipes::LeaderLatch`, Curator's `LeaderLatch`, kazoo's `Election`), and a client that
//! reads and writes without pause while the follower it is on dies or the quorum leader dies
//! (scenarios F and L, `probes.rs`: disconnect seen, reconnected, first read, first write).
//!
//! ```text
//! cargo run --release --example quorum_failover
//! cargo run --release --example quorum_failover -- --a-session-timeout-ms 4000 --a-down-ms 6000 \
//!     --b-session-timeout-ms 10000 --b-down-ms 3333 [--scenarios A,B,F,L] [--libs ours,curator,kazoo] \
//!     [--events FILE]
//! ```
//!
//! The example starts a [`RealEnsemble`] (tickTime 500 ms: sessions of 1 s to 10 s). For each
//! scenario, each library runs its own group of three participants, each on its own session,
//! on its own election path: ours in this process, Curator as a Java child program
//! (scripts/bench-clients/CuratorLatch.java, compiled here with `javac`), kazoo as a Python
//! child program (scripts/bench-clients/kazoo_latch.py, run by the venv that
//! `scripts/python-deps.sh` makes, or `$ZK_TEST_PYTHON`). Once every group has one leader, the
//! example kills a quorum (`kill_quorum`: both followers; the surviving leader stops serving),
//! waits, restarts them (`restart_all`; "quorum back" is when the first restarted member
//! answers `srvr` as leader or follower, polled every 20 ms meanwhile) and watches the
//! groups for at least the session timeout plus 3 s (so that sessions nobody resumed expire
//! on the servers, with their nodes), then until in each group every participant is connected
//! and one leads, for 3 s (at most 30 s in all):
//!
//! - **A**: down for longer than the session timeout (default 6 s, sessions of 4 s);
//! - **B**: down for a third of the session timeout (default 3.33 s, sessions of 10 s).
//!
//! "Down" is how long the example waits between `kill_quorum` and `restart_all`; restarting
//! two JVMs and electing a leader adds 1.2 s to 3 s on a busy 2-core machine (`outage_ms` is the
//! whole time without a quorum). That is why B uses 10 s sessions by default: with 4 s ones,
//! a third (1.33 s) plus the restart came to 3.4 s to 4.3 s, as long as the session timeout,
//! and Curator's simulated expiry fired.
//!
//! It prints one JSON line per library and scenario, then a table; `--events FILE` writes
//! every event the groups reported, in ms from the quorum loss. `leader_again_ms` is the time
//! from the quorum back until a participant is connected and leader in its library's view;
//! `settled_ms` until the participant that leads at the end (in its view, and its node first
//! on the server) last became so. The run fails (exit 1) when the ensemble or a peer breaks (a
//! peer that does not start or answer), never because a library behaves badly: that is what
//! is measured.

mod peers;
mod probes;
mod report;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use futures::future::join_all;
use peers::{now_us, Group, Lib, Setup, Snapshot};
use report::{Outcome, Timeline};
use tokio::time::{sleep, sleep_until, timeout, Instant};
use zk_examples::BoxError;
use zk_testing::RealEnsemble;

const PARTICIPANTS: usize = 3;
/// The whole run, ensemble start and Java compilation included.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// Until every group has one leader, before the quorum loss.
const LEADER_LIMIT: Duration = Duration::from_secs(30);
/// After the quorum is back: at least a session timeout and `SETTLE` (sessions that nobody
/// resumed expire on the servers a session timeout after the new ZooKeeper leader starts,
/// and their nodes with them), then until in every group all participants are connected and
/// one leads, for `SETTLE`.
const OBSERVE_LIMIT: Duration = Duration::from_secs(30);
const SETTLE: Duration = Duration::from_secs(3);
/// Quiet time between the groups settling and the quorum loss.
const QUIET: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(100);
/// How often, and how long at most, the restarted members are asked whether they serve
/// (`restart_all` itself looks every 100 ms and waits for every member).
const SERVING_POLL: Duration = Duration::from_millis(20);
const SERVING_LIMIT: Duration = Duration::from_secs(90);

#[derive(Debug, Clone)]
struct Args {
    a_timeout: Duration,
    a_down: Duration,
    b_timeout: Duration,
    b_down: Option<Duration>,
    scenarios: Vec<String>,
    libs: Vec<Lib>,
    /// Where to write every group's events as a timeline (`--events FILE`).
    events: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        a_timeout: Duration::from_secs(4),
        a_down: Duration::from_secs(6),
        b_timeout: Duration::from_secs(10),
        b_down: None,
        scenarios: vec!["A".into(), "B".into(), "F".into(), "L".into()],
        libs: Lib::ALL.to_vec(),
        events: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let millis =
            |v: &str| v.parse().map(Duration::from_millis).map_err(|_| format!("{flag}: not a number: {v}"));
        match flag.as_str() {
            "--a-session-timeout-ms" => a.a_timeout = millis(&val)?,
            "--a-down-ms" => a.a_down = millis(&val)?,
            "--b-session-timeout-ms" => a.b_timeout = millis(&val)?,
            "--b-down-ms" => a.b_down = Some(millis(&val)?),
            "--scenarios" => a.scenarios = val.split(',').map(str::to_uppercase).collect(),
            "--libs" => a.libs = val.split(',').map(lib).collect::<Result<_, _>>()?,
            "--events" => a.events = Some(PathBuf::from(val)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if let Some(s) = a.scenarios.iter().find(|s| !matches!(s.as_str(), "A" | "B" | "F" | "L")) {
        return Err(format!("unknown scenario {s} (A, B, F, L)"));
    }
    Ok(a)
}

fn lib(name: &str) -> Result<Lib, String> {
    Lib::ALL.into_iter().find(|l| l.name() == name).ok_or_else(|| format!("unknown library {name}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("quorum_failover: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    // Dropping the run on timeout kills the ensemble's members and the child peers.
    let result = timeout(RUN_LIMIT, run(&args)).await.unwrap_or_else(|_| Err("the run took too long".into()));
    eprintln!("quorum_failover: ran for {:.1} s", started.elapsed().as_secs_f64());
    match result {
        Ok((outcomes, rows)) => {
            if !outcomes.is_empty() {
                println!("\n{}", report::table(&outcomes));
            }
            if !rows.is_empty() {
                println!("\n{}", probes::table(&rows));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("quorum_failover: broken run: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(Vec<Outcome>, Vec<probes::Row>), BoxError> {
    let setup = prepare(&args.libs).await?;
    let mut zk = RealEnsemble::start().await?;
    eprintln!("quorum_failover: ensemble {} (leader: member {:?})", zk.connect_string(), zk.leader().await);
    let mut outcomes = Vec::new();
    let mut rows = Vec::new();
    let mut events = String::new();
    for scenario in &args.scenarios {
        let kill = match scenario.as_str() {
            "F" => Some(probes::Kill::Follower),
            "L" => Some(probes::Kill::Leader),
            _ => None,
        };
        if let Some(kill) = kill {
            for row in probes::scenario(&mut zk, &setup, &args.libs, kill).await? {
                println!("{}", row.json());
                rows.push(row);
            }
            continue;
        }
        let plan = match scenario.as_str() {
            "A" => Plan { name: "A", session_timeout: args.a_timeout, down: args.a_down },
            _ => Plan {
                name: "B",
                session_timeout: args.b_timeout,
                down: args.b_down.unwrap_or(args.b_timeout / 3),
            },
        };
        for outcome in scenario_run(&mut zk, &setup, &args.libs, plan, &mut events).await? {
            println!("{}", outcome.json());
            outcomes.push(outcome);
        }
    }
    if let Some(path) = &args.events {
        std::fs::write(path, events)?;
    }
    Ok((outcomes, rows))
}

/// A scenario: the participants' session timeout and how long the quorum is held down.
#[derive(Debug, Clone, Copy)]
struct Plan {
    name: &'static str,
    session_timeout: Duration,
    down: Duration,
}

/// One quorum loss, with a fresh group per library; appends the groups' events to `events`.
async fn scenario_run(
    zk: &mut RealEnsemble,
    setup: &Setup,
    libs: &[Lib],
    plan: Plan,
    events: &mut String,
) -> Result<Vec<Outcome>, BoxError> {
    let Plan { name, session_timeout, .. } = plan;
    let root = format!("/quorum-failover-{}-{name}", std::process::id());
    let connect = zk.connect_string();
    let mut groups = Vec::new();
    for &lib in libs {
        let path = format!("{root}/{}", lib.name());
        groups.push(Group::start(lib, setup, &connect, &path, PARTICIPANTS, session_timeout).await?);
    }
    let mut before = Vec::new();
    for g in &mut groups {
        g.settled(PARTICIPANTS, LEADER_LIMIT).await?;
    }
    sleep(QUIET).await;
    for g in &mut groups {
        before.push(g.status().await?);
    }
    let mut timeline = lose_quorum(zk, plan).await?;
    observe(&mut groups, session_timeout + SETTLE).await?;
    timeline.end = now_us();
    let mut after = Vec::new();
    for g in &mut groups {
        after.push(g.status().await?);
    }
    let limits = (session_timeout.as_millis(), plan.down.as_millis());
    let outcomes = groups
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(g, (b, a)): (&Group, (&Snapshot, &Snapshot))| {
            Outcome::new((name, g.lib), limits, timeline, &g.log, b, a)
        })
        .collect();
    for g in &groups {
        *events += &report::timeline(name, g, timeline);
    }
    for g in groups {
        g.quit().await?;
    }
    Ok(outcomes)
}

/// Kills a quorum, holds it down for `plan.down` and restarts it; returns when what happened
/// (`end` still to be set).
async fn lose_quorum(zk: &mut RealEnsemble, plan: Plan) -> Result<Timeline, BoxError> {
    let Plan { name, session_timeout, down } = plan;
    let what = format!("quorum down for {down:?} (sessions {session_timeout:?})");
    eprintln!("quorum_failover: {name}: every group has a leader; {what}");
    let (down_at, t_down) = (Instant::now(), now_us());
    let killed = zk.kill_quorum().await;
    sleep_until(down_at + down).await;
    let t_restart = now_us();
    let restarted = killed.iter().map(|&i| zk.member_addr(i)).collect();
    let serving = tokio::spawn(first_serving(restarted));
    zk.restart_all().await?;
    let t_back = now_us();
    // It saw a restarted member serve before restart_all did (or gave up, bounded).
    let t_serving =
        timeout(SERVING_LIMIT, serving).await.ok().and_then(Result::ok).flatten().unwrap_or(t_back);
    eprintln!(
        "quorum_failover: {name}: killed members {killed:?}; quorum back after {:.2} s (restart {:.2} s)",
        (t_serving - t_down) as f64 / 1e6,
        (t_serving - t_restart) as f64 / 1e6
    );
    Ok(Timeline { down: t_down, restart: t_restart, serving: t_serving, back: t_back, end: t_back })
}

/// Polls the restarted members' `srvr` until one serves (says leader or follower: a quorum has
/// formed with it) and returns when, in µs since the epoch; `None` after [`SERVING_LIMIT`].
async fn first_serving(restarted: Vec<SocketAddr>) -> Option<i64> {
    let deadline = Instant::now() + SERVING_LIMIT;
    while Instant::now() < deadline {
        let probe = |addr| timeout(SERVING_POLL * 25, zk_testing::four_letter_word(addr, "srvr"));
        let replies = join_all(restarted.iter().map(|&addr| probe(addr))).await;
        let serves = |r: &Result<std::io::Result<String>, _>| match r {
            Ok(Ok(srvr)) => srvr.contains("Mode: leader") || srvr.contains("Mode: follower"),
            _ => false,
        };
        if replies.iter().any(serves) {
            return Some(now_us());
        }
        sleep(SERVING_POLL).await;
    }
    None
}

/// Watches every group for at least `min`, then until in each every participant is connected
/// and one leads (in its own view) for [`SETTLE`], or [`OBSERVE_LIMIT`]: a group without a
/// leader by then is a figure, not an error.
async fn observe(groups: &mut [Group], min: Duration) -> Result<(), BoxError> {
    let started = Instant::now();
    let deadline = started + OBSERVE_LIMIT;
    let mut since: Vec<Option<Instant>> = vec![None; groups.len()];
    while Instant::now() < deadline {
        for (g, since) in groups.iter_mut().zip(&mut since) {
            g.drain()?;
            let leads = settled(g);
            *since = match (*since, leads) {
                (_, false) => None,
                (None, true) => Some(Instant::now()),
                (s, true) => s,
            };
        }
        let settled = since.iter().all(|s| s.is_some_and(|at| at.elapsed() >= SETTLE));
        if settled && started.elapsed() >= min {
            return Ok(());
        }
        sleep(POLL).await;
    }
    Ok(())
}

/// Whether every participant is connected and one of them leads, by the group's events so far.
fn settled(g: &Group) -> bool {
    let mut up = [false; PARTICIPANTS];
    let mut leader = [false; PARTICIPANTS];
    for s in &g.log {
        match s.ev {
            peers::Ev::Conn { p, up: u, .. } if p < PARTICIPANTS => up[p] = u,
            peers::Ev::Leader { p, leader: l, .. } if p < PARTICIPANTS => leader[p] = l,
            _ => {}
        }
    }
    up.iter().all(|u| *u) && leader.iter().any(|l| *l)
}

/// Compiles the Curator peer and finds the Python with kazoo, for the libraries asked for.
async fn prepare(libs: &[Lib]) -> Result<Setup, BoxError> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("examples/ is in a workspace")?;
    let scripts = workspace.join("scripts/bench-clients");
    let dir = tempfile::Builder::new().prefix("quorum-failover-").tempdir()?;
    let mut classpath = String::new();
    if libs.contains(&Lib::Curator) {
        let jars = zk_testing::java::curator_classpath()?;
        let (latch, probe) = (scripts.join("CuratorLatch.java"), scripts.join("CuratorProbe.java"));
        zk_testing::java::compile(&[&latch, &probe], dir.path(), &jars).await?;
        let entries = std::iter::once(dir.path().to_owned()).chain(jars);
        classpath = zk_testing::java::join_classpath(entries);
    }
    let python = if libs.contains(&Lib::Kazoo) { python(workspace)? } else { PathBuf::new() };
    Ok(Setup { classpath, python, scripts, dir })
}

/// `$ZK_TEST_PYTHON`, else `py-venv/bin/python` in the target directory that
/// `scripts/python-deps.sh` fills (`$CARGO_TARGET_DIR`, an ancestor of this program, or
/// `target`), as the interop tests find it.
fn python(workspace: &Path) -> Result<PathBuf, BoxError> {
    if let Some(python) = std::env::var_os("ZK_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(python));
    }
    let venv = |dir: &Path| dir.join("py-venv/bin/python");
    let from_env = std::env::var_os("CARGO_TARGET_DIR").map(|dir| venv(&workspace.join(dir)));
    let exe = std::env::current_exe()?;
    let from_exe = exe.ancestors().skip(1).map(venv).collect::<Vec<_>>();
    let candidates = from_env.into_iter().chain(from_exe).chain([venv(&workspace.join("target"))]);
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        "no Python with kazoo: run `bash scripts/python-deps.sh` (or set ZK_TEST_PYTHON)".into()
    })
}
