//! The three libraries' latch groups behind one interface: a [`Group`] runs N participants of
//! one election, each on its own session, reports what they observe as timestamped [`Ev`]s and
//! answers `status`. Curator and kazoo run as child programs (scripts/bench-clients/
//! CuratorLatch.java and kazoo_latch.py, one JSON object per stdout line, commands on stdin);
//! ours runs in-process as a task speaking the same protocol over channels.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};
use zk_core::{Client, SessionEvent};
use zk_examples::BoxError;
use zk_recipes::{LatchEvent, LeaderLatch};

/// Starting a group: a JVM, three sessions and three latches, on a busy 2-core machine.
const START_LIMIT: Duration = Duration::from_secs(60);
/// One `status` round trip (the peers bound each of their reads to 3 s).
const STATUS_LIMIT: Duration = Duration::from_secs(15);
/// A peer closing its latches and sessions and exiting.
const QUIT_LIMIT: Duration = Duration::from_secs(20);
/// Between two looks while waiting for a group to settle.
const POLL: Duration = Duration::from_millis(250);

/// A leader-election library under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lib {
    Ours,
    Curator,
    Kazoo,
}

impl Lib {
    pub(crate) const ALL: [Lib; 3] = [Lib::Ours, Lib::Curator, Lib::Kazoo];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Lib::Ours => "ours",
            Lib::Curator => "curator",
            Lib::Kazoo => "kazoo",
        }
    }
}

/// What a group reports, in the peers' JSON vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ev {
    /// Participant `p`'s connection changed: the library's state name, and whether it can
    /// serve requests now.
    Conn {
        p: usize,
        state: String,
        up: bool,
        session: Option<String>,
    },
    /// Participant `p` became (or stopped being) the leader in its library's view.
    Leader {
        p: usize,
        leader: bool,
        node: Option<String>,
    },
    /// A latch event without a leadership change (ours: `Suspended`, `Lost`).
    Latch {
        p: usize,
        event: String,
    },
    Ready,
    Status(Part),
    StatusEnd {
        first: Option<String>,
    },
    Error(String),
    Bye,
}

/// One participant in a `status` answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub(crate) p: usize,
    pub(crate) session: Option<String>,
    pub(crate) up: bool,
    pub(crate) leader: bool,
    pub(crate) node: Option<String>,
    /// Whether `node` exists and the participant's current session owns it (`None`: unknown).
    pub(crate) owned: Option<bool>,
}

/// An [`Ev`] with the wall-clock time (µs since the epoch) its peer saw it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stamped {
    pub(crate) t_us: i64,
    pub(crate) ev: Ev,
}

/// A whole `status` answer.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) parts: Vec<Part>,
    /// The first node of the election on the server, in the library's order.
    pub(crate) first: Option<String>,
}

impl Snapshot {
    /// The participant that says it leads, if exactly one does.
    pub(crate) fn leader(&self) -> Option<&Part> {
        let mut leaders = self.parts.iter().filter(|p| p.leader);
        leaders.next().filter(|_| leaders.next().is_none())
    }
}

/// Wall-clock µs since the epoch: the peers stamp their events with the same clock.
pub(crate) fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// How to start the child peers: the compiled Java class and the Python with kazoo.
#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) classpath: String,
    pub(crate) python: PathBuf,
    pub(crate) scripts: PathBuf,
    /// Holds the compiled class and the peers' stderr logs; removed on drop.
    pub(crate) dir: tempfile::TempDir,
}

/// One library's group of participants.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) lib: Lib,
    /// Every event received so far, in arrival order.
    pub(crate) log: Vec<Stamped>,
    rx: mpsc::UnboundedReceiver<Stamped>,
    peer: Peer,
}

#[derive(Debug)]
enum Peer {
    Child { child: Box<Child>, stdin: ChildStdin, stderr: PathBuf },
    Ours { cmds: mpsc::UnboundedSender<&'static str>, task: JoinHandle<()> },
}

impl Group {
    /// Starts `n` participants of the election at `path` and waits until the peer is ready.
    pub(crate) async fn start(
        lib: Lib,
        setup: &Setup,
        connect: &str,
        path: &str,
        n: usize,
        session_timeout: Duration,
    ) -> Result<Group, BoxError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let ms = session_timeout.as_millis().to_string();
        let n_arg = n.to_string();
        let args =
            ["--connect", connect, "--path", path, "--participants", &n_arg, "--session-timeout-ms", &ms];
        let peer = match lib {
            Lib::Ours => {
                let (cmds, cmd_rx) = mpsc::unbounded_channel();
                let run = ours(connect.to_owned(), path.to_owned(), n, session_timeout, tx, cmd_rx);
                Peer::Ours { cmds, task: tokio::spawn(run) }
            }
            Lib::Curator => {
                let mut jvm = zk_testing::java::jvm(&setup.classpath, "CuratorLatch")?;
                jvm.args(args);
                spawn_child(jvm, &setup.dir.path().join("curator.stderr"), tx)?
            }
            Lib::Kazoo => {
                let mut python = Command::new(&setup.python);
                python.arg("-u").arg(setup.scripts.join("kazoo_latch.py")).args(args);
                python.env_remove("PYTHONPATH").env("PYTHONDONTWRITEBYTECODE", "1");
                spawn_child(python, &setup.dir.path().join("kazoo.stderr"), tx)?
            }
        };
        let mut group = Group { lib, log: Vec::new(), rx, peer };
        let deadline = Instant::now() + START_LIMIT;
        loop {
            match group.next_until(deadline).await? {
                Some(Ev::Ready) => return Ok(group),
                Some(Ev::Error(e)) => return Err(group.failure(&format!("did not start: {e}"))),
                Some(_) => {}
                None => return Err(group.failure(&format!("not ready within {START_LIMIT:?}"))),
            }
        }
    }

    /// The next event (logged), `None` at `deadline`; an error if the peer has gone away.
    async fn next_until(&mut self, deadline: Instant) -> Result<Option<Ev>, BoxError> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Err(_) => Ok(None),
            Ok(None) => Err(self.failure("the peer exited")),
            Ok(Some(stamped)) => {
                self.record(stamped.clone());
                Ok(Some(stamped.ev))
            }
        }
    }

    /// Logs an event; a peer's error report is worth seeing at once, too.
    fn record(&mut self, stamped: Stamped) {
        if let Ev::Error(e) = &stamped.ev {
            eprintln!("quorum_failover: {} peer reports: {e}", self.lib.name());
        }
        self.log.push(stamped);
    }

    /// Logs every event that has arrived; an error if the peer has gone away.
    pub(crate) fn drain(&mut self) -> Result<(), BoxError> {
        loop {
            match self.rx.try_recv() {
                Ok(stamped) => self.record(stamped),
                Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(self.failure("the peer exited")),
            }
        }
    }

    async fn send(&mut self, command: &'static str) -> Result<(), BoxError> {
        match &mut self.peer {
            Peer::Child { stdin, .. } => {
                stdin.write_all(format!("{command}\n").as_bytes()).await?;
                stdin.flush().await?;
            }
            Peer::Ours { cmds, .. } => cmds.send(command).map_err(|_| "our group's task has ended")?,
        }
        Ok(())
    }

    /// Asks every participant where it stands.
    pub(crate) async fn status(&mut self) -> Result<Snapshot, BoxError> {
        self.send("status").await?;
        let deadline = Instant::now() + STATUS_LIMIT;
        let mut parts = Vec::new();
        loop {
            match self.next_until(deadline).await? {
                Some(Ev::Status(part)) => parts.push(part),
                Some(Ev::StatusEnd { first }) => return Ok(Snapshot { parts, first }),
                Some(_) => {}
                None => return Err(self.failure(&format!("no status within {STATUS_LIMIT:?}"))),
            }
        }
    }

    /// Waits until exactly one participant leads, every one is connected with a node, and the
    /// leader's node is the first on the server; returns that status.
    pub(crate) async fn settled(&mut self, n: usize, limit: Duration) -> Result<Snapshot, BoxError> {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.status().await?;
            let all_in = s.parts.len() == n && s.parts.iter().all(|p| p.up && p.node.is_some());
            if all_in && s.leader().is_some_and(|l| l.node == s.first) {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!("no single leader within {limit:?}: {s:?}")));
            }
            sleep(POLL).await;
        }
    }

    /// Stops the peer: `quit`, then (after [`QUIT_LIMIT`]) a kill by its PID.
    pub(crate) async fn quit(mut self) -> Result<(), BoxError> {
        let _ = self.send("quit").await;
        match self.peer {
            Peer::Ours { task, .. } => {
                timeout(QUIT_LIMIT, task).await.map_err(|_| "our group did not stop")??
            }
            Peer::Child { mut child, stdin, .. } => {
                drop(stdin);
                let Ok(status) = timeout(QUIT_LIMIT, child.wait()).await else {
                    // Child::kill signals the PID it spawned (and reaps it).
                    child.kill().await?;
                    let name = self.lib.name();
                    return Err(format!("{name} peer did not exit within {QUIT_LIMIT:?}; killed").into());
                };
                // A peer whose library took too long to close (its watchdog's exit 3) still
                // measured what it measured.
                if !status?.success() {
                    eprintln!("quorum_failover: {} peer did not close cleanly", self.lib.name());
                }
            }
        }
        Ok(())
    }

    /// An error naming the library, with the tail of a child's stderr.
    fn failure(&self, what: &str) -> BoxError {
        let tail = match &self.peer {
            Peer::Child { stderr, .. } => log_tail(stderr),
            Peer::Ours { .. } => String::new(),
        };
        format!("{} group: {what}{tail}", self.lib.name()).into()
    }
}

/// Spawns a child peer (killed on drop) and a task turning its stdout lines into events.
fn spawn_child(
    mut command: Command,
    stderr: &Path,
    tx: mpsc::UnboundedSender<Stamped>,
) -> Result<Peer, BoxError> {
    let log = std::fs::File::create(stderr)?;
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(log).kill_on_drop(true).spawn()?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        // Ends at the child's end of output (or when the group is gone).
        while let Ok(Some(line)) = lines.next_line().await {
            let Some(stamped) = parse(&line) else {
                eprintln!("quorum_failover: ignoring a peer's line: {line}");
                continue;
            };
            if tx.send(stamped).is_err() {
                break;
            }
        }
    });
    Ok(Peer::Child { child: Box::new(child), stdin, stderr: stderr.to_owned() })
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its stderr ends with:\n{tail}")
    }
}

/// One line of a peer's output. The peers print flat objects whose strings need no escapes
/// (paths, hex session ids, state names), so a field is found by its key.
fn parse(line: &str) -> Option<Stamped> {
    let t_us = raw(line, "t_us")?.parse().ok()?;
    let p = || raw(line, "p").and_then(|v| v.parse().ok());
    let flag = |key| raw(line, key) == Some("true");
    let ev = match text(line, "ev")? {
        "conn" => Ev::Conn {
            p: p()?,
            state: text(line, "state")?.to_owned(),
            up: flag("up"),
            session: owned(line, "session"),
        },
        "leader" => Ev::Leader { p: p()?, leader: flag("leader"), node: owned(line, "node") },
        "ready" => Ev::Ready,
        "status" => Ev::Status(Part {
            p: p()?,
            session: owned(line, "session"),
            up: flag("up"),
            leader: flag("leader"),
            node: owned(line, "node"),
            owned: raw(line, "owned").and_then(|v| v.parse().ok()),
        }),
        "status_end" => Ev::StatusEnd { first: owned(line, "first") },
        "error" => Ev::Error(text(line, "what").unwrap_or("?").to_owned()),
        "bye" => Ev::Bye,
        _ => return None,
    };
    Some(Stamped { t_us, ev })
}

/// A field's value as written (a string keeps its quotes).
pub(crate) fn raw<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[start..];
    let end = match rest.strip_prefix('"') {
        Some(string) => string.find('"')? + 2,
        None => rest.find([',', '}'])?,
    };
    Some(rest[..end].trim())
}

/// A string field's text; `None` for `null` (or anything not a string).
pub(crate) fn text<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    raw(line, key)?.strip_prefix('"')?.strip_suffix('"')
}

fn owned(line: &str, key: &str) -> Option<String> {
    text(line, key).map(str::to_owned)
}

fn hex(id: i64) -> Option<String> {
    Some(format!("{id:#x}"))
}

/// Our group: `n` [`LeaderLatch`]es, each on its own [`Client`], in this process. Answers
/// `status` and `quit` as the child peers do.
async fn ours(
    connect: String,
    path: String,
    n: usize,
    session_timeout: Duration,
    tx: mpsc::UnboundedSender<Stamped>,
    mut cmds: mpsc::UnboundedReceiver<&'static str>,
) {
    let emit = |ev| {
        let _ = tx.send(Stamped { t_us: now_us(), ev });
    };
    let mut members = Vec::new();
    for p in 0..n {
        match join(p, &connect, &path, session_timeout, &tx).await {
            Ok(member) => members.push(member),
            Err(e) => return emit(Ev::Error(format!("participant {p}: {e}"))),
        }
    }
    emit(Ev::Ready);
    // Bounded by the driver: it sends `quit` (or drops the sender) within its own limits.
    while let Some(command) = cmds.recv().await {
        if command == "quit" {
            break;
        }
        for (p, (client, latch)) in members.iter().enumerate() {
            let session = hex(client.session_id());
            let (up, leader, node) = (client.state().is_connected(), latch.is_leader(), latch.node());
            let owned = match &node {
                Some(node) if up => owns(client, node).await,
                _ => None,
            };
            emit(Ev::Status(Part { p, session, up, leader, node, owned }));
        }
        emit(Ev::StatusEnd { first: first_node(&members, &path).await });
    }
    for (client, latch) in &members {
        let _ = timeout(QUIT_LIMIT / 2, latch.close()).await;
        client.close().await;
    }
    emit(Ev::Bye);
}

/// Connects participant `p` and starts its latch, forwarding its session and latch events.
async fn join(
    p: usize,
    connect: &str,
    path: &str,
    session_timeout: Duration,
    tx: &mpsc::UnboundedSender<Stamped>,
) -> Result<(Client, Arc<LeaderLatch>), BoxError> {
    let client =
        timeout(START_LIMIT / 2, Client::builder(connect).session_timeout(session_timeout).connect())
            .await
            .map_err(|_| "no session within the start limit")??;
    let latch = LeaderLatch::new(client.clone(), path, format!("p{p}"))?;
    let mut events = latch.events();
    let mut sessions = client.session_events();
    let (tx1, tx2, watched) = (tx.clone(), tx.clone(), client.clone());
    // Both end with the latch's and the client's event streams.
    tokio::spawn(async move {
        while let Some(event) = sessions.next_event().await {
            let up = matches!(
                event,
                SessionEvent::Connected | SessionEvent::Reconnected | SessionEvent::NewSession { .. }
            );
            let state = format!("{event:?}");
            let ev = Ev::Conn { p, state, up, session: hex(watched.session_id()) };
            let _ = tx1.send(Stamped { t_us: now_us(), ev });
        }
    });
    let latch = Arc::new(latch);
    let weak = Arc::downgrade(&latch);
    let node_of = move || weak.upgrade().and_then(|l| l.node());
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let ev = match event {
                LatchEvent::Elected => Ev::Leader { p, leader: true, node: node_of() },
                LatchEvent::NotLeader => Ev::Leader { p, leader: false, node: node_of() },
                other => Ev::Latch { p, event: format!("{other:?}") },
            };
            let _ = tx2.send(Stamped { t_us: now_us(), ev });
        }
    });
    latch.start()?;
    Ok((client, latch))
}

/// Whether `node` exists and `client`'s current session owns it; `None` when the read fails.
async fn owns(client: &Client, node: &str) -> Option<bool> {
    let stat = timeout(Duration::from_secs(3), client.exists(node)).await.ok()?.ok()?;
    Some(stat.is_some_and(|s| s.ephemeral_owner == client.session_id()))
}

/// The first latch node on the server, read through a connected participant's session.
async fn first_node(members: &[(Client, Arc<LeaderLatch>)], path: &str) -> Option<String> {
    for (client, _) in members.iter().filter(|(c, _)| c.state().is_connected()) {
        if let Ok(Ok(children)) = timeout(Duration::from_secs(3), client.get_children(path)).await {
            let key = |name: &String| name.rsplit("latch-").next().unwrap_or(name).to_owned();
            return children.iter().min_by_key(|c| key(c)).map(|c| format!("{path}/{c}"));
        }
    }
    None
}
