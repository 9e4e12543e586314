//! A real ZooKeeper 3.8 ensemble (3 or 5 members on loopback), run from Debian's `zookeeper`
//! package with the same process guard as the standalone [`RealZooKeeper`](crate::RealZooKeeper):
//! every member's JVM is the child of its own `sh` guard, so no member outlives the test
//! process (see [`crate::real`]'s module docs for why and how).
//!
//! Members are numbered from 0; member `i` has `myid` `i + 1`. Each has its own directory
//! (`m<myid>/` with `data/myid`, `zoo.cfg` and `server.log`, which every run of the member
//! appends to) under one temporary directory.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::join_all;
use tempfile::TempDir;
use tokio::time::{sleep, Instant};

use crate::java::{not_found, INSTALL_HINT, ZOOKEEPER_JAR};
use crate::real::{
    free_ports, invalid_input, jvm_args, log_tail, poll_count, probe, process_exited, read_pid,
    says_port_taken, Failure, Guard, TEST_CFG,
};

const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
const START_ATTEMPTS: u32 = 3;
/// How long [`RealEnsembleBuilder::start`], [`RealEnsemble::restart`] and
/// [`RealEnsemble::restart_all`] wait.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(100);
/// How long the guard may take to write the JVM's PID (it does so right after forking).
const PID_TIMEOUT: Duration = Duration::from_secs(5);
const PID_POLL: Duration = Duration::from_millis(10);
/// In ticks: a follower has 5 s (at 500 ms ticks) to sync with a new leader and is dropped
/// after 2.5 s of silence. A killed member's sockets close at once, so these only matter for
/// a hung member.
const INIT_LIMIT: u32 = 10;
const SYNC_LIMIT: u32 = 5;
/// What a member answers to a four-letter word while it has no quorum (it still listens).
const NOT_SERVING: &str = "not currently serving requests";

/// A real ZooKeeper 3.8 ensemble of 3 (default) or 5 members on `127.0.0.1`, started and owned
/// by this handle.
///
/// Members can be killed and restarted (same data directory, same ports) to lose and regain
/// the leader or the quorum. Dropping the handle kills every member and removes the directory.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use zk_testing::{MemberMode, RealEnsemble};
///
/// let mut zk = RealEnsemble::start().await?;
/// let connect: String = zk.connect_string(); // all three members
/// let leader = zk.leader().await.expect("start waits for a leader");
/// zk.kill(leader).await;
/// let new_leader = zk.wait_for_quorum(std::time::Duration::from_secs(30)).await?;
/// assert_ne!(new_leader, leader);
/// assert_eq!(zk.restart(leader).await?, MemberMode::Follower);
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct RealEnsemble {
    // Dropped first: the processes die before their directories.
    members: Vec<Member>,
    _dir: TempDir,
}

/// Options for starting a [`RealEnsemble`]; see [`RealEnsemble::builder`].
#[derive(Debug, Clone)]
pub struct RealEnsembleBuilder {
    members: usize,
    tick_ms: u32,
    properties: Vec<(String, String)>,
    reconfig: bool,
}

/// What a member says it is, from the `Mode:` line of its `srvr` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberMode {
    /// `Mode: leader`.
    Leader,
    /// `Mode: follower`.
    Follower,
    /// `Mode: observer`.
    Observer,
    /// `Mode: standalone` (not one of ours: something else answers on the port).
    Standalone,
    /// `Mode: read-only` (a partitioned member with `readonlymode.enabled`).
    ReadOnly,
    /// Up and listening, but "not currently serving requests": electing, or no quorum.
    NotServing,
}

#[derive(Debug)]
struct Member {
    client: SocketAddr,
    data_dir: PathBuf,
    log_file: PathBuf,
    pid_file: PathBuf,
    /// The whole `java ...` command line, the same for every run.
    command: Vec<OsString>,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    guard: Guard,
    java_pid: u32,
}

impl RealEnsemble {
    /// Returns a builder; see [`RealEnsembleBuilder`] for the options and their defaults.
    pub fn builder() -> RealEnsembleBuilder {
        RealEnsembleBuilder::default()
    }

    /// The shared ensemble of this test process (3 members, started on first use and killed
    /// when the process exits), for tests that only connect to it: [`Backend::real_ensemble`](crate::Backend::real_ensemble).
    /// Tests that kill or restart members start their own.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start). A failed start is not cached: the next call tries again.
    pub async fn shared() -> io::Result<&'static RealEnsemble> {
        static SHARED: tokio::sync::OnceCell<RealEnsemble> = tokio::sync::OnceCell::const_new();
        SHARED.get_or_try_init(RealEnsemble::start).await
    }

    /// Starts a 3-member ensemble with the default options.
    ///
    /// # Errors
    ///
    /// As [`RealEnsembleBuilder::start`].
    pub async fn start() -> io::Result<RealEnsemble> {
        Self::builder().start().await
    }

    /// The number of members, running or not.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// How many members a quorum needs: a strict majority of [`size`](Self::size).
    pub fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }

    /// The connect string naming every member, e.g. `"127.0.0.1:40123,127.0.0.1:40127,..."`.
    pub fn connect_string(&self) -> String {
        let hosts: Vec<_> = self.members.iter().map(|m| m.client.to_string()).collect();
        hosts.join(",")
    }

    /// The connect string naming only member `i`.
    ///
    /// # Panics
    ///
    /// If `i >= self.size()` (as every method taking a member index).
    pub fn member_connect_string(&self, i: usize) -> String {
        self.members[i].client.to_string()
    }

    /// Member `i`'s client address (it stays the same across restarts).
    pub fn member_addr(&self, i: usize) -> SocketAddr {
        self.members[i].client
    }

    /// The PID of member `i`'s JVM; `None` while it is killed.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].running.as_ref().map(|r| r.java_pid)
    }

    /// Whether member `i` was started and not killed, and its JVM has not exited.
    pub fn is_running(&self, i: usize) -> bool {
        self.pid(i).is_some_and(|pid| !process_exited(pid))
    }

    /// Member `i`'s `dataDir` (with its `myid` file).
    pub fn data_dir(&self, i: usize) -> &Path {
        &self.members[i].data_dir
    }

    /// The file receiving member `i`'s stdout and stderr, across all its runs.
    pub fn log_file(&self, i: usize) -> &Path {
        &self.members[i].log_file
    }

    /// Sends a four-letter word to member `i` and returns the reply.
    ///
    /// # Errors
    ///
    /// As [`four_letter_word`](crate::four_letter_word); a killed member refuses the connection.
    pub async fn four_letter_word(&self, i: usize, word: &str) -> io::Result<String> {
        crate::four_letter_word(self.members[i].client, word).await
    }

    /// What member `i` answers to `srvr` (within 2 s).
    ///
    /// # Errors
    ///
    /// Connection errors (`ConnectionRefused` for a killed member), `TimedOut`, or
    /// `InvalidData` for an answer without a known `Mode:` line.
    pub async fn mode(&self, i: usize) -> io::Result<MemberMode> {
        let srvr = probe(self.members[i].client, "srvr").await?;
        parse_mode(&srvr)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no mode in {srvr:?}")))
    }

    /// The member that answers `srvr` with `Mode: leader`, asking every running member; `None`
    /// when none does, or (for a moment during a change of leader) more than one.
    pub async fn leader(&self) -> Option<usize> {
        only_leader(&self.running_modes().await)
    }

    /// Waits until a quorum serves: every running member answers `srvr` with `Mode: leader` or
    /// `Mode: follower`, exactly one of them is the leader, and they are a majority. Returns
    /// the leader.
    ///
    /// # Errors
    ///
    /// `Other` at once if fewer than a majority of members run, or when a member's JVM exits
    /// (with the tail of its log); `TimedOut` (with every member's mode) after `limit`.
    pub async fn wait_for_quorum(&self, limit: Duration) -> io::Result<usize> {
        let running = self.running().count();
        if running < self.majority() {
            let why = format!("only {running} of {} members run: no quorum possible", self.size());
            return Err(io::Error::other(why));
        }
        let deadline = Instant::now() + limit;
        let mut last = Vec::new();
        for _ in 0..poll_count(limit, POLL) {
            self.check_alive()?;
            last = self.running_modes().await;
            if let Some(leader) = serving_leader(&last) {
                return Ok(leader);
            }
            if Instant::now() >= deadline {
                break;
            }
            sleep(POLL).await;
        }
        let mut why = format!("no quorum after {limit:?}:");
        for (i, mode) in &last {
            let _ = write!(why, " member {i}: {mode:?};");
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, why))
    }

    /// SIGKILLs member `i`'s JVM (its guard does, by the PID it started) and waits (at most
    /// 10 s) until it is reaped. Its data directory stays for [`restart`](Self::restart).
    /// Does nothing to a member that is already killed.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut running) = self.members[i].running.take() {
            running.guard.kill().await;
        }
    }

    /// Stops member `i`: the same SIGKILL as [`kill`](Self::kill). Nothing is lost by it: the
    /// transaction log is written before a write is acknowledged (`forceSync=no` skips only
    /// the fsync, and the kernel keeps what a killed process wrote).
    pub async fn stop(&mut self, i: usize) {
        self.kill(i).await;
    }

    /// Kills running members until fewer than a majority run, followers first (highest index
    /// first), so that the leader, if there is one, survives: the harder case, as it must notice
    /// that it lost its quorum and step down. Returns the members it killed, for
    /// [`restart_all`](Self::restart_all) or [`restart`](Self::restart).
    pub async fn kill_quorum(&mut self) -> Vec<usize> {
        let leader = self.leader().await;
        let mut order: Vec<_> = self.running().filter(|&i| Some(i) != leader).rev().collect();
        order.extend(leader);
        let mut killed = Vec::new();
        for i in order {
            if self.running().count() < self.majority() {
                break;
            }
            self.kill(i).await;
            killed.push(i);
        }
        killed
    }

    /// Starts member `i` again with the same data directory and ports (killing it first if it
    /// runs) and waits (at most 90 s) until:
    ///
    /// - it serves (`Mode: leader` or `follower`, returned), if with it a majority of members
    ///   run, so that a quorum is possible;
    /// - else, until its client port answers `srvr` with "not currently serving requests"
    ///   ([`MemberMode::NotServing`], returned): the JVM is up and listening, looking for peers.
    ///
    /// # Errors
    ///
    /// `Other` if its JVM exits (with the tail of its log, e.g. when someone else took one of
    /// its ports meanwhile); `TimedOut` if it is not ready in time. On error the member stays
    /// killed.
    pub async fn restart(&mut self, i: usize) -> io::Result<MemberMode> {
        self.kill(i).await;
        self.spawn(i).await?;
        let quorum_possible = self.running().count() >= self.majority();
        let result = self.wait_member(i, quorum_possible).await;
        if result.is_err() {
            self.kill(i).await;
        }
        result
    }

    /// Starts every killed member (all at once) and waits (at most 90 s) for a quorum, as
    /// [`wait_for_quorum`](Self::wait_for_quorum). Returns the leader.
    ///
    /// # Errors
    ///
    /// As [`restart`](Self::restart) and [`wait_for_quorum`](Self::wait_for_quorum).
    pub async fn restart_all(&mut self) -> io::Result<usize> {
        for i in 0..self.size() {
            if self.members[i].running.is_none() {
                self.spawn(i).await?;
            }
        }
        self.wait_for_quorum(READY_TIMEOUT).await
    }

    /// Starts member `i`'s JVM under a fresh guard and learns its PID.
    async fn spawn(&mut self, i: usize) -> io::Result<()> {
        let member = &mut self.members[i];
        // The guard truncates and rewrites it, but a stale PID must not be read in between.
        match fs::remove_file(&member.pid_file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut guard = Guard::spawn(&member.command, &member.pid_file, &member.log_file)?;
        for _ in 0..poll_count(PID_TIMEOUT, PID_POLL) {
            if let Some(java_pid) = read_pid(&member.pid_file) {
                member.running = Some(Running { guard, java_pid });
                return Ok(());
            }
            if guard.has_exited() {
                break;
            }
            sleep(PID_POLL).await;
        }
        // Dropping the guard kills whatever it started.
        Err(io::Error::other(format!(
            "member {i}'s guard wrote no PID; log:\n{}",
            log_tail(&member.log_file)
        )))
    }

    /// Polls member `i` until it serves (or, without `serving`, just answers); see `restart`.
    async fn wait_member(&self, i: usize, serving: bool) -> io::Result<MemberMode> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = Err(io::ErrorKind::NotConnected.into());
        for _ in 0..poll_count(READY_TIMEOUT, POLL) {
            self.check_alive()?;
            last = self.mode(i).await;
            match last {
                Ok(MemberMode::Leader | MemberMode::Follower) => return last,
                Ok(MemberMode::NotServing) if !serving => return last,
                _ => {}
            }
            if Instant::now() >= deadline {
                break;
            }
            sleep(POLL).await;
        }
        let why = format!("member {i} not ready after {READY_TIMEOUT:?}; last answer: {last:?}");
        Err(io::Error::new(io::ErrorKind::TimedOut, why))
    }

    /// Whether every member's `conf` names its own `dataDir`: otherwise another ZooKeeper
    /// answers on one of our client ports (and ours could not bind it).
    async fn check_own_members(&self) -> Result<(), Failure> {
        for (i, member) in self.members.iter().enumerate() {
            let conf = probe(member.client, "conf").await.map_err(Failure::Fatal)?;
            if !conf.contains(&member.data_dir.display().to_string()) {
                let why = format!("another ZooKeeper answers on member {i}'s port {}", member.client);
                return Err(Failure::PortTaken(io::Error::new(io::ErrorKind::AddrInUse, why)));
            }
        }
        Ok(())
    }

    fn running(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        (0..self.size()).filter(|&i| self.members[i].running.is_some())
    }

    /// `srvr` to every running member at once.
    async fn running_modes(&self) -> Vec<(usize, io::Result<MemberMode>)> {
        let running: Vec<_> = self.running().collect();
        let modes = join_all(running.iter().map(|&i| self.mode(i))).await;
        running.into_iter().zip(modes).collect()
    }

    /// An error naming the first running member whose JVM has exited, with its log.
    fn check_alive(&self) -> io::Result<()> {
        match self.running().find(|&i| !self.is_running(i)) {
            None => Ok(()),
            Some(i) => {
                let tail = log_tail(&self.members[i].log_file);
                Err(io::Error::other(format!("ensemble member {i} exited; its log:\n{tail}")))
            }
        }
    }
}

impl Drop for RealEnsemble {
    fn drop(&mut self) {
        // Release every guard before `Guard::drop` waits for each: the JVMs die in parallel.
        for running in self.members.iter_mut().filter_map(|m| m.running.as_mut()) {
            running.guard.release();
        }
    }
}

impl Default for RealEnsembleBuilder {
    fn default() -> Self {
        RealEnsembleBuilder { members: 3, tick_ms: 500, properties: Vec::new(), reconfig: false }
    }
}

impl RealEnsembleBuilder {
    /// The number of members: 3 (the default) or 5.
    pub fn members(mut self, members: usize) -> Self {
        self.members = members;
        self
    }

    /// `tickTime` in milliseconds (default 500, so that elections and syncs are quick).
    /// `initLimit` is 10 ticks and `syncLimit` 5; session timeouts are clamped by the servers
    /// to `[2 * tick, 20 * tick]`, so 1 s to 10 s by default.
    pub fn tick_ms(mut self, tick_ms: u32) -> Self {
        self.tick_ms = tick_ms;
        self
    }

    /// Adds a `-Dkey=value` JVM system property to every member, after (so overriding) the
    /// harness's own.
    pub fn extra_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }

    /// Dynamic reconfiguration on (`reconfigEnabled=true`), with ACLs skipped
    /// (`zookeeper.skipACL=yes`) so any client may `reconfig`; every `server.<id>` line then
    /// names its client address, so `/zookeeper/config` tells clients where members serve.
    pub fn reconfig_enabled(mut self, enabled: bool) -> Self {
        self.reconfig = enabled;
        self
    }

    /// Starts every member and waits (at most 90 s) until a quorum serves (see
    /// [`RealEnsemble::wait_for_quorum`]).
    ///
    /// Each member listens on `127.0.0.1` on three ports (client, quorum, election) that were
    /// free a moment before; if another process takes one first, the whole start is retried on
    /// new ports, three times at most.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a member count other than 3 or 5; `NotFound` if ZooKeeper or java is
    /// not installed (the message says to run `bash scripts/zookeeper.sh`); `TimedOut` if no
    /// quorum forms in time; `Other` if a member exits (with the tail of its log).
    pub async fn start(self) -> io::Result<RealEnsemble> {
        if !matches!(self.members, 3 | 5) {
            return Err(invalid_input(format!("{} members: an ensemble has 3 or 5", self.members)));
        }
        let java = crate::java::java()?;
        if !Path::new(ZOOKEEPER_JAR).is_file() {
            return Err(not_found(format!("{ZOOKEEPER_JAR} not found; {INSTALL_HINT}")));
        }
        let mut last = None;
        for attempt in 1..=START_ATTEMPTS {
            match self.start_once(&java).await {
                Ok(ensemble) => return Ok(ensemble),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::PortTaken(e)) => {
                    tracing::debug!(attempt, error = %e, "ZooKeeper ensemble port taken, retrying");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("ZooKeeper ensemble did not start")))
    }

    async fn start_once(&self, java: &Path) -> Result<RealEnsemble, Failure> {
        let dir = tempfile::Builder::new().prefix("zk-ensemble-").tempdir().map_err(Failure::Fatal)?;
        let ports = free_ports(3 * self.members).map_err(Failure::Fatal)?;
        // Member i: client port ports[3i], quorum port ports[3i + 1], election port ports[3i + 2].
        let servers: String = (0..self.members)
            .map(|i| {
                let (client, quorum, election) = (ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]);
                if self.reconfig {
                    format!("server.{}=127.0.0.1:{quorum}:{election}:participant;127.0.0.1:{client}\n", i + 1)
                } else {
                    format!("server.{}=127.0.0.1:{quorum}:{election}\n", i + 1)
                }
            })
            .collect();
        let mut members = Vec::new();
        for i in 0..self.members {
            let member = self.write_member(dir.path(), i, ports[3 * i], &servers, java);
            members.push(member.map_err(Failure::Fatal)?);
        }
        let mut ensemble = RealEnsemble { members, _dir: dir };
        let started = Instant::now();
        for i in 0..self.members {
            ensemble.spawn(i).await.map_err(Failure::Fatal)?;
        }
        let leader = match ensemble.wait_for_quorum(READY_TIMEOUT).await {
            Ok(leader) => leader,
            Err(e) if (0..self.members).any(|i| says_port_taken(&log_tail(ensemble.log_file(i)))) => {
                return Err(Failure::PortTaken(e));
            }
            Err(e) => return Err(Failure::Fatal(e)),
        };
        ensemble.check_own_members().await?;
        tracing::debug!(connect = %ensemble.connect_string(), leader, elapsed = ?started.elapsed(), "ZooKeeper ensemble ready");
        Ok(ensemble)
    }

    /// Creates member `i`'s directory, `myid` and `zoo.cfg`.
    fn write_member(
        &self,
        root: &Path,
        i: usize,
        port: u16,
        servers: &str,
        java: &Path,
    ) -> io::Result<Member> {
        let dir = root.join(format!("m{}", i + 1));
        let data_dir = dir.join("data");
        fs::create_dir_all(&data_dir)?;
        fs::write(data_dir.join("myid"), format!("{}\n", i + 1))?;
        let config = dir.join("zoo.cfg");
        fs::write(&config, self.zoo_cfg(&data_dir, port, servers))?;
        let mut command = vec![java.as_os_str().to_owned()];
        // Containers and expired TTL nodes reaped every second, as the standalone harness
        // does (the server's default is a minute).
        let mut properties = vec![("znode.container.checkIntervalMs".to_owned(), "1000".to_owned())];
        if self.reconfig {
            properties.push(("zookeeper.skipACL".to_owned(), "yes".to_owned()));
        }
        properties.extend(self.properties.iter().cloned());
        command.extend(jvm_args(MAIN_CLASS, &properties, &config));
        Ok(Member {
            client: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            log_file: dir.join("server.log"),
            pid_file: dir.join("java.pid"),
            data_dir,
            command,
            running: None,
        })
    }

    fn zoo_cfg(&self, data_dir: &Path, port: u16, servers: &str) -> String {
        let reconfig = if self.reconfig { "reconfigEnabled=true\n" } else { "" };
        format!(
            "tickTime={}\ninitLimit={INIT_LIMIT}\nsyncLimit={SYNC_LIMIT}\ndataDir={}\n\
             clientPort={port}\nclientPortAddress=127.0.0.1\n{reconfig}{servers}{TEST_CFG}",
            self.tick_ms,
            data_dir.display()
        )
    }
}

/// The `Mode:` of a `srvr` answer.
fn parse_mode(srvr: &str) -> Option<MemberMode> {
    if srvr.contains(NOT_SERVING) {
        return Some(MemberMode::NotServing);
    }
    let mode = srvr.lines().find_map(|l| l.trim().strip_prefix("Mode:"))?;
    match mode.trim() {
        "leader" => Some(MemberMode::Leader),
        "follower" => Some(MemberMode::Follower),
        "observer" => Some(MemberMode::Observer),
        "standalone" => Some(MemberMode::Standalone),
        "read-only" => Some(MemberMode::ReadOnly),
        _ => None,
    }
}

/// The leader, if every member asked serves and exactly one leads.
fn serving_leader(modes: &[(usize, io::Result<MemberMode>)]) -> Option<usize> {
    let serving = |m: &io::Result<MemberMode>| matches!(m, Ok(MemberMode::Leader | MemberMode::Follower));
    if modes.iter().all(|(_, m)| serving(m)) {
        only_leader(modes)
    } else {
        None
    }
}

/// The one member that says it leads, if exactly one does.
fn only_leader(modes: &[(usize, io::Result<MemberMode>)]) -> Option<usize> {
    let mut leaders = modes.iter().filter(|(_, m)| matches!(m, Ok(MemberMode::Leader)));
    match (leaders.next(), leaders.next()) {
        (Some((i, _)), None) => Some(*i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoo_cfg_names_every_server() {
        let builder = RealEnsemble::builder().tick_ms(250);
        let servers = "server.1=127.0.0.1:11:12\nserver.2=127.0.0.1:21:22\n";
        let cfg = builder.zoo_cfg(Path::new("/d/m1/data"), 10, servers);
        let expected = ["tickTime=250", "initLimit=10", "syncLimit=5", "dataDir=/d/m1/data", "clientPort=10"];
        for line in expected.into_iter().chain(["clientPortAddress=127.0.0.1", "server.2=127.0.0.1:21:22"]) {
            assert!(cfg.lines().any(|l| l == line), "{line} missing from {cfg}");
        }
        assert!(cfg.ends_with(TEST_CFG), "{cfg}");
    }

    #[test]
    fn modes_are_parsed() {
        let srvr = "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n";
        assert_eq!(parse_mode(srvr), Some(MemberMode::Follower));
        assert_eq!(parse_mode("Mode: leader\n"), Some(MemberMode::Leader));
        let looking = "This ZooKeeper instance is not currently serving requests\n";
        assert_eq!(parse_mode(looking), Some(MemberMode::NotServing));
        assert_eq!(parse_mode("Mode: confused\n"), None);
    }

    #[test]
    fn a_quorum_has_exactly_one_leader_and_no_laggard() {
        use MemberMode::{Follower, Leader, NotServing};
        let modes = |list: &[MemberMode]| list.iter().map(|m| Ok(*m)).enumerate().collect::<Vec<_>>();
        assert_eq!(serving_leader(&modes(&[Follower, Leader, Follower])), Some(1));
        assert_eq!(serving_leader(&modes(&[Follower, Follower])), None);
        assert_eq!(serving_leader(&modes(&[Leader, Leader])), None);
        assert_eq!(serving_leader(&modes(&[Leader, NotServing])), None);
        let refused = vec![(0, Ok(Leader)), (1, Err(io::ErrorKind::ConnectionRefused.into()))];
        assert_eq!(serving_leader(&refused), None);
        assert_eq!(serving_leader(&[]), None);
    }

    #[tokio::test]
    async fn only_three_or_five_members() {
        let error = RealEnsemble::builder().members(4).start().await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
