//! Scenarios F and L: one member dies under a client that reads and writes without pause, and
//! how long each library takes to notice, reconnect, and read and write again.
//!
//! - **F**: the member the client is on, a follower, dies (the others keep the quorum).
//! - **L**: the quorum leader dies (every member stops serving until a new one is elected).
//!
//! Per library, one probe: ours in this process, Curator's (`scripts/bench-clients/
//! CuratorProbe.java`) and kazoo's (`kazoo_probe.py`) as child programs, each on the full
//! connect string with its library's defaults but a 10 s session timeout, all three through
//! the same kill. In F every probe must be on the same follower: a probe that lands elsewhere
//! is replaced (at most [`PLACEMENT_TRIES`] times). Two loops, 10 ms apart, read and write one
//! node; a failed operation is tried again. Times are from the kill (`t0`, taken just before
//! it): the first disconnection the library reported, its reconnection, and the end of the
//! first read and of the first write that started after `t0` and succeeded. The killed member
//! is restarted before the next scenario.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout};
use zk_core::{Client, CreateMode, SessionEvent};
use zk_examples::BoxError;
use zk_testing::RealEnsemble;

use crate::peers::{now_us, raw, text, Lib, Setup};

/// Probes started before one lands on the scenario's member (each lands on one of the three
/// at random: 16 misses in a row happen once in 650 runs).
const PLACEMENT_TRIES: usize = 16;
/// Starting a probe (a JVM on a busy machine), and its answer after the kill.
const START_LIMIT: Duration = Duration::from_secs(60);
const RESULT_LIMIT: Duration = Duration::from_secs(60);
/// How long the probes wait for the four moments (they report what they have then).
const MEASURE_LIMIT: Duration = Duration::from_secs(40);
/// Steady reading and writing before the kill.
const WARM: Duration = Duration::from_secs(1);
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
const PACE: Duration = Duration::from_millis(10);

/// Which member dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    Follower,
    Leader,
}

impl Kill {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kill::Follower => "F",
            Kill::Leader => "L",
        }
    }
}

/// One library's figures in one scenario, in ms from the kill.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    kill: Kill,
    lib: Lib,
    /// The member the probe was on, and the one killed.
    on: usize,
    victim: usize,
    disconnected: Option<f64>,
    reconnected: Option<f64>,
    read: Option<f64>,
    write: Option<f64>,
}

impl Row {
    pub(crate) fn json(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("null".to_owned(), |v| format!("{v:.1}"));
        format!(
            "{{\"scenario\":\"{}\",\"lib\":\"{}\",\"on\":{},\"victim\":{},\"disconnected_ms\":{},\"reconnected_ms\":{},\"first_read_ms\":{},\"first_write_ms\":{}}}",
            self.kill.name(),
            self.lib.name(),
            self.on,
            self.victim,
            ms(self.disconnected),
            ms(self.reconnected),
            ms(self.read),
            ms(self.write)
        )
    }
}

/// The rows as a Markdown table.
pub(crate) fn table(rows: &[Row]) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let mut out = String::from(
        "| scenario | library | disconnect seen | reconnected | first read | first write |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let scenario = match r.kill {
            Kill::Follower => "F: its follower dies",
            Kill::Leader => "L: the leader dies",
        };
        out += &format!(
            "| {scenario} | {} | {} | {} | {} | {} |\n",
            r.lib.name(),
            ms(r.disconnected),
            ms(r.reconnected),
            ms(r.read),
            ms(r.write)
        );
    }
    out
}

/// Runs one scenario: every library's probe on the same member (F) or anywhere (L), one kill.
pub(crate) async fn scenario(
    zk: &mut RealEnsemble,
    setup: &Setup,
    libs: &[Lib],
    kill: Kill,
) -> Result<Vec<Row>, BoxError> {
    let leader = zk.leader().await.ok_or("no leader before the kill")?;
    let mut target = match kill {
        Kill::Follower => None,
        Kill::Leader => Some(leader),
    };
    let mut probes = Vec::new();
    for &lib in libs {
        let path = format!("/member-failover-{}-{}-{}", std::process::id(), kill.name(), lib.name());
        let (probe, on) = place(zk, setup, lib, kill, leader, target, &path).await?;
        // In F the first probe's follower is everyone's.
        target.get_or_insert(on);
        probes.push((lib, on, probe));
    }
    let victim = target.ok_or("no library to run")?;
    sleep(WARM).await;
    let t0 = now_us();
    zk.kill(victim).await;
    for (_, _, probe) in &mut probes {
        probe.killed(t0).await?;
    }
    let mut rows = Vec::new();
    for (lib, on, probe) in probes {
        let times = timeout(RESULT_LIMIT, probe.result())
            .await
            .map_err(|_| format!("{}: no result", lib.name()))??;
        let since = |t: Option<i64>| t.map(|t| (t - t0) as f64 / 1000.0);
        let row = Row {
            kill,
            lib,
            on,
            victim,
            disconnected: since(times.disconnected),
            reconnected: since(times.reconnected),
            read: since(times.read),
            write: since(times.write),
        };
        eprintln!("quorum_failover: {}", row.json());
        rows.push(row);
    }
    zk.restart(victim).await?;
    zk.wait_for_quorum(Duration::from_secs(90)).await?;
    Ok(rows)
}

/// Starts probes of `lib` until one is where the scenario needs it: in F on a follower (on
/// `target` once chosen), in L anywhere; returns it and its member.
async fn place(
    zk: &RealEnsemble,
    setup: &Setup,
    lib: Lib,
    kill: Kill,
    leader: usize,
    target: Option<usize>,
    path: &str,
) -> Result<(Probe, usize), BoxError> {
    for _ in 0..PLACEMENT_TRIES {
        let (probe, server) = timeout(START_LIMIT, Probe::start(lib, setup, &zk.connect_string(), path))
            .await
            .map_err(|_| format!("{}: the probe did not start", lib.name()))??;
        let on = (0..zk.size())
            .find(|&i| zk.member_addr(i).to_string() == server)
            .ok_or_else(|| format!("{}: on {server}, not a member", lib.name()))?;
        let fits = kill == Kill::Leader || (on != leader && target.is_none_or(|t| t == on));
        if fits {
            return Ok((probe, on));
        }
        probe.stop().await;
    }
    Err(format!("{}: no probe landed where the scenario needs it", lib.name()).into())
}

/// The four moments a probe reports, in µs since the epoch.
#[derive(Debug, Default)]
struct Times {
    disconnected: Option<i64>,
    reconnected: Option<i64>,
    read: Option<i64>,
    write: Option<i64>,
}

enum Probe {
    Child { child: Box<Child>, stdin: ChildStdin, lines: Lines<BufReader<ChildStdout>> },
    Ours { t0: Option<oneshot::Sender<i64>>, result: tokio::task::JoinHandle<Result<Times, String>> },
}

impl Probe {
    /// Starts a probe; returns it with the server it is connected to.
    async fn start(lib: Lib, setup: &Setup, connect: &str, path: &str) -> Result<(Probe, String), BoxError> {
        let ms = SESSION_TIMEOUT.as_millis().to_string();
        let args = ["--connect", connect, "--path", path, "--session-timeout-ms", &ms];
        let mut command = match lib {
            Lib::Ours => return ours(connect, path).await,
            Lib::Curator => {
                let mut jvm = zk_testing::java::jvm(&setup.classpath, "CuratorProbe")?;
                jvm.args(args);
                jvm
            }
            Lib::Kazoo => {
                let mut python = Command::new(&setup.python);
                python.arg("-u").arg(setup.scripts.join("kazoo_probe.py")).args(args);
                python.env_remove("PYTHONPATH").env("PYTHONDONTWRITEBYTECODE", "1");
                python
            }
        };
        let log = std::fs::File::create(setup.dir.path().join(format!("{}-probe.stderr", lib.name())))?;
        let mut child =
            command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(log).kill_on_drop(true).spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let first = lines.next_line().await?.ok_or("the probe ended before connecting")?;
        let server = text(&first, "server").ok_or_else(|| format!("not a probe line: {first}"))?.to_owned();
        Ok((Probe::Child { child: Box::new(child), stdin, lines }, server))
    }

    async fn killed(&mut self, t0: i64) -> Result<(), BoxError> {
        match self {
            Probe::Child { stdin, .. } => stdin.write_all(format!("killed {t0}\n").as_bytes()).await?,
            Probe::Ours { t0: tx, .. } => {
                let _ = tx.take().map(|tx| tx.send(t0));
            }
        }
        Ok(())
    }

    async fn result(self) -> Result<Times, BoxError> {
        match self {
            Probe::Child { mut child, mut lines, .. } => {
                let line = lines.next_line().await?.ok_or("the probe ended without a result")?;
                let _ = child.kill().await;
                // A moment the probe did not see is null, which parses as no number.
                let at = |key| raw(&line, key).and_then(|v| v.parse().ok());
                Ok(Times {
                    disconnected: at("disconnected"),
                    reconnected: at("reconnected"),
                    read: at("read"),
                    write: at("write"),
                })
            }
            Probe::Ours { result, .. } => Ok(result.await??),
        }
    }

    async fn stop(self) {
        match self {
            Probe::Child { mut child, .. } => {
                let _ = child.kill().await;
            }
            Probe::Ours { result, .. } => result.abort(),
        }
    }
}

/// Our probe, on a task of this process.
async fn ours(connect: &str, path: &str) -> Result<(Probe, String), BoxError> {
    let client = Client::builder(connect).session_timeout(SESSION_TIMEOUT).connect().await?;
    match client.create(path, b"", CreateMode::Persistent).await {
        Ok(_) | Err(zk_core::Error::NodeExists) => {}
        Err(e) => return Err(e.into()),
    }
    let server = client.connected_server().ok_or("not connected")?;
    let states: Arc<Mutex<Vec<(i64, bool)>>> = Arc::default();
    let ops: Arc<Mutex<Vec<(bool, i64, i64)>>> = Arc::default();
    let mut events = client.session_events();
    let recorder = {
        let states = states.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.next_event().await {
                let up = match ev {
                    SessionEvent::Disconnected => false,
                    SessionEvent::Reconnected | SessionEvent::Connected => true,
                    _ => continue,
                };
                states.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((now_us(), up));
            }
        })
    };
    let mut loops = Vec::new();
    for read in [true, false] {
        let (client, ops, path) = (client.clone(), ops.clone(), path.to_owned());
        loops.push(tokio::spawn(async move {
            loop {
                let started = now_us();
                let ok = if read {
                    client.get_data(&path).await.is_ok()
                } else {
                    client.set_data(&path, b"x", None).await.is_ok()
                };
                if ok {
                    ops.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((
                        read,
                        started,
                        now_us(),
                    ));
                }
                sleep(PACE).await;
            }
        }));
    }
    let (tx, rx) = oneshot::channel();
    let result = tokio::spawn(async move {
        let t0 = rx.await.map_err(|_| "no kill".to_owned())?;
        let deadline = tokio::time::Instant::now() + MEASURE_LIMIT;
        let mut times = Times::default();
        while tokio::time::Instant::now() < deadline {
            let seen = states.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            let done = ops.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            times.disconnected = seen.iter().find(|(t, up)| *t >= t0 && !up).map(|(t, _)| *t);
            times.reconnected =
                times.disconnected.and_then(|d| seen.iter().find(|(t, up)| *t > d && *up).map(|(t, _)| *t));
            let first =
                |kind: bool| done.iter().filter(|(k, s, _)| *k == kind && *s >= t0).map(|op| op.2).min();
            times.read = first(true);
            times.write = first(false);
            if times.disconnected.is_some()
                && times.reconnected.is_some()
                && times.read.is_some()
                && times.write.is_some()
            {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        for l in loops {
            l.abort();
        }
        recorder.abort();
        client.close().await;
        Ok(times)
    });
    Ok((Probe::Ours { t0: Some(tx), result }, server))
}
