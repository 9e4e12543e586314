//! Apache ZooKeeper's own command-line client (`zkCli`, `org.apache.zookeeper.ZooKeeperMain`
//! from Debian's `zookeeper` package) runs one script against a fresh real ZooKeeper 3.8 and
//! against a fresh embedded [`TestServer`]; the two transcripts must be identical once the few
//! things that differ between any two server processes are normalized (see [`normalize`]).
//!
//! One JVM per backend: without a terminal (and without JLine, which Debian's jar manifest
//! names but the package does not ship) `ZooKeeperMain` reads commands line by line from stdin.
//! `-waitforconnection` makes it print the `SyncConnected` event before it runs the first
//! command, so the transcript has no race between the event thread and the command thread.
//!
//! Missing Java or ZooKeeper is a failure, not a skip: run `bash scripts/zookeeper.sh`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::time::timeout;
use zk_testing::{java, RealZooKeeper, TestServer};

const MAIN_CLASS: &str = "org.apache.zookeeper.ZooKeeperMain";
const INSTALL_HINT: &str = "run `bash scripts/zookeeper.sh` to install Java and ZooKeeper";

/// One CLI run: JVM start, connect, the whole script, exit. Usually well under 2 s.
const CLI_TIMEOUT: Duration = Duration::from_secs(90);
/// Starting a real server (a JVM) or the embedded one.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// `digest:bob:<base64(sha1("bob:secret"))>`, what `addauth digest bob:secret` authenticates as.
const BOB_DIGEST: &str = "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=";

/// Marker paths: before each command the script runs `ls /zkcli-step-N` on a path that never
/// exists. A read changes no zxid, version or counter, and its "Node does not exist" line is
/// turned back into `### <command>` by [`annotate`], so a diff says which command printed what.
const MARKER: &str = "/zkcli-step-";

/// The zkCli script. Every command's output is printed under a `### command` heading.
fn script() -> Vec<String> {
    let acl_digest_world = format!("setAcl /acl digest:{BOB_DIGEST}:cdrwa,world:anyone:r");
    let lines: Vec<&str> = vec![
        // The initial tree (§5.9): root stat has cversion -1, /zookeeper/config aversion -1.
        "ls /",
        "ls -s /",
        "ls /zookeeper",
        "stat /zookeeper/config",
        "getAcl /zookeeper/config",
        "get /zookeeper/config",
        "config",
        // Plain creates, get, get -s, set (version bump, even with identical data), stat.
        "create /plain",
        "create /data hello",
        "get /data",
        "get -s /data",
        "set /data world",
        "get -s /data",
        "set -s /data world",
        "stat /data",
        // Creating an existing node.
        "create /data again",
        "create /plain",
        // Ephemeral: owner is the session; no children allowed.
        "create -e /eph ephemeral-data",
        "stat /eph",
        "create /eph/child x",
        // Sequential: one counter per parent, advanced by every child create (§5.3).
        "create /seq",
        "create -s /seq/item- a",
        "create -s /seq/item- b",
        "create /seq/other",
        "create -s /seq/item- c",
        "create -e -s /seq/eph- e",
        "ls /seq",
        "ls -s /seq",
        "create -s /nope/x- d",
        // Container (ephemeralOwner reported as 0).
        "create -c /cont",
        "create /cont/kid",
        "stat /cont",
        // TTL (an hour, far longer than any run: both servers reap expired TTL nodes every
        // second, so a run outlasting the TTL would end with a tree that depends on timing;
        // ephemeralOwner reported as 0).
        "create -t 3600000 /ttl ttl-data",
        "stat /ttl",
        "get -s /ttl",
        "create -s -t 3600000 /ttlseq- x",
        // ACLs: digest + world, NoAuth, addauth, redacted vs full digest in getAcl, bad
        // version, invalid ACLs.
        "getAcl /data",
        "create /acl secret-data",
        &acl_digest_world,
        "getAcl /acl",
        "getAcl -s /acl",
        "get /acl",
        "set /acl changed",
        "create /acl/child x",
        "addauth digest bob:secret",
        "whoami",
        "getAcl /acl",
        "set /acl changed",
        "get -s /acl",
        "create /acl/child x",
        "setAcl -v 0 /acl world:anyone:cdrwa",
        "setAcl -s /acl world:anyone:cdrwa",
        "getAcl /acl",
        "setAcl /data ip:not-an-ip:r",
        "setAcl /data auth::cdrwa",
        "setAcl /zookeeper/quota ip:not-an-ip:r",
        "create /ip ip-data ip:1.2.3.4:rw",
        "getAcl /ip",
        "get /ip",
        // Deleting a node with children, ls -R (a chain: the order of siblings is unspecified),
        // getAllChildrenNumber, deleteall.
        "create /parent",
        "create /parent/c1",
        "create /parent/c2 two",
        "create /parent/c1/g",
        "delete /parent",
        "ls -R /parent/c1",
        "getAllChildrenNumber /parent",
        "getAllChildrenNumber /",
        "deleteall /parent",
        "ls /parent",
        // Versions on set/delete.
        "delete -v 5 /data",
        "set -v 5 /data nope",
        "delete -v 2 /data",
        "delete /plain",
        // Missing nodes.
        "get /missing",
        "get -s /missing",
        "set /missing x",
        "delete /missing",
        "deleteall /missing",
        "ls /missing",
        "ls -s /missing",
        "stat /missing",
        "getAcl /missing",
        "setAcl /missing world:anyone:r",
        "create /missing/child",
        // Reserved nodes.
        "delete /zookeeper",
        "delete /",
        // Ephemerals of this session (one per prefix: the order of several is unspecified).
        "getEphemerals /seq",
        "getEphemerals /eph",
        "sync /",
        // The final tree.
        "ls /",
        "ls -s /",
        "stat /",
        "stat /seq",
    ];
    lines.into_iter().map(str::to_owned).collect()
}

/// What the CLI reads on stdin: each command preceded by its marker, then `quit`.
fn stdin_text(script: &[String]) -> String {
    let mut text = String::new();
    for (step, command) in script.iter().enumerate() {
        let _ = writeln!(text, "ls {MARKER}{step}");
        let _ = writeln!(text, "{command}");
    }
    text.push_str("quit\n");
    text
}

/// Raw result of one CLI run.
struct Transcript {
    /// stdout and stderr merged in write order (zkCli prints e.g. "Created /x" and every error
    /// on stderr, results on stdout).
    output: String,
    status: ExitStatus,
}

/// The `java` launcher and the classpath of ZooKeeper's client (with SLF4J's no-op binding:
/// the CLI's log lines would only add timestamps and thread names).
fn check_installation() -> (PathBuf, String) {
    let jars = java::zookeeper_classpath().unwrap_or_else(|e| panic!("{e}"));
    (java::java().unwrap_or_else(|e| panic!("{e}")), java::join_classpath(jars))
}

/// Runs the script through one zkCli JVM against `connect`, bounded by [`CLI_TIMEOUT`].
async fn run_cli((java_bin, classpath): &(PathBuf, String), connect: &str, stdin: &str) -> Transcript {
    // `sh` only merges stderr into stdout and then `exec`s the JVM, so the child's PID is the
    // JVM's own: the timeout kill (and kill_on_drop) hits the JVM itself.
    let mut command = Command::new("sh");
    command.arg("-c").arg(r#"exec "$@" 2>&1"#).arg("sh").arg(java_bin).args(java::JVM_FLAGS).args([
        // Fixed so the epoch dates of the initial tree print the same everywhere.
        "-Duser.timezone=UTC",
        "-Duser.language=en",
        "-Duser.country=US",
        "-cp",
        classpath,
        MAIN_CLASS,
        "-server",
        connect,
        "-waitforconnection",
    ]);
    java::clean_env(&mut command);
    match java::run(command, Some(stdin.as_bytes()), CLI_TIMEOUT).await {
        Ok(out) => Transcript { output: out.stdout + &out.stderr, status: out.status },
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => panic!("zkCli against {connect}: {e}"),
        Err(e) => panic!("cannot start {} for zkCli: {e}; {INSTALL_HINT}", java_bin.display()),
    }
}

/// Replaces what must differ between two server processes, nothing else:
///
/// * the connect string (`Connecting to 127.0.0.1:PORT`): each server has its own free port;
/// * `ctime`/`mtime` values: wall-clock time of the transaction, so two runs can only agree by
///   luck. The epoch (`Thu Jan 01 00:00:00 UTC 1970`, the time of the nodes a server creates
///   itself) is data, not a clock reading, and is kept;
/// * non-zero `ephemeralOwner` values: session ids are chosen by each server (the real one
///   derives them from its start time). They become `<session N>`, numbered by first
///   appearance, so "the same session owns both nodes" is still checked, and 0 (persistent,
///   container and TTL nodes) stays 0;
/// * the trailing `WATCHER:: / WatchedEvent state:Closed` block: `quit` closes the client and
///   calls `System.exit` at once, so whether the event thread prints the Closed event first is
///   a race inside the JVM.
///
/// zxids, versions, cversion, dataLength, numChildren, sequence suffixes, ACLs and error texts
/// are deliberately kept: any difference there is a difference between the servers.
fn normalize(output: &str, connect: &str) -> String {
    let mut lines: Vec<String> = output.lines().map(|l| l.replace(connect, "<server>")).collect();
    let closed = ["", "WATCHER::", "", "WatchedEvent state:Closed type:None path:null"];
    if lines.len() >= closed.len() && lines[lines.len() - closed.len()..] == closed {
        lines.truncate(lines.len() - closed.len());
    }
    let mut sessions: Vec<String> = Vec::new();
    for line in &mut lines {
        if let Some((key @ ("ctime" | "mtime"), value)) = line.split_once(" = ") {
            if value != "Thu Jan 01 00:00:00 UTC 1970" {
                *line = format!("{key} = <wall clock>");
            }
        } else if let Some(owner) = line.strip_prefix("ephemeralOwner = ") {
            if owner != "0x0" {
                let n = match sessions.iter().position(|s| s == owner) {
                    Some(i) => i + 1,
                    None => {
                        sessions.push(owner.to_owned());
                        sessions.len()
                    }
                };
                *line = format!("ephemeralOwner = <session {n}>");
            }
        }
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Turns the marker lines back into `### <command>` headings.
fn annotate(normalized: &str, script: &[String]) -> String {
    let mut out = String::new();
    for line in normalized.lines() {
        let step = line
            .strip_prefix("Node does not exist: ")
            .and_then(|p| p.strip_prefix(MARKER))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| script.get(n));
        match step {
            Some(command) => writeln!(out, "### {command}"),
            None => writeln!(out, "{line}"),
        }
        .expect("writing to a String");
    }
    out
}

/// A line diff (longest common subsequence): `-` real only, `+` embedded only.
fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    // Each changed line is printed under the `### command` heading it belongs to.
    let (mut i, mut j, mut out) = (0, 0, String::new());
    let (mut heading, mut printed): (Option<usize>, Option<usize>) = (None, None);
    while i < a.len() || j < b.len() {
        let change = if i < a.len() && j < b.len() && a[i] == b[j] {
            if a[i].starts_with("### ") {
                heading = Some(i);
            }
            i += 1;
            j += 1;
            continue;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            i += 1;
            format!("- {}", a[i - 1])
        } else {
            j += 1;
            format!("+ {}", b[j - 1])
        };
        if heading != printed {
            printed = heading;
            let _ = writeln!(out, "@ {}", heading.map_or("(start)", |h| a[h]));
        }
        let _ = writeln!(out, "{change}");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_transcripts_match_real_zookeeper() {
    let started = Instant::now();
    let java = check_installation();
    let script = script();
    let stdin = stdin_text(&script);

    let real = timeout(START_TIMEOUT, RealZooKeeper::start())
        .await
        .expect("real ZooKeeper did not start in time")
        .unwrap_or_else(|e| panic!("cannot start a real ZooKeeper: {e}; {INSTALL_HINT}"));
    let embedded = timeout(START_TIMEOUT, TestServer::start())
        .await
        .expect("TestServer did not start in time")
        .expect("cannot start the embedded TestServer");
    let (real_connect, embedded_connect) = (real.connect_string(), embedded.connect_string());

    let cli_started = Instant::now();
    let (real_run, embedded_run) =
        tokio::join!(run_cli(&java, &real_connect, &stdin), run_cli(&java, &embedded_connect, &stdin));
    let cli_time = cli_started.elapsed();
    real.stop().await;

    let render = |run: &Transcript, connect: &str| {
        let mut text = annotate(&normalize(&run.output, connect), &script);
        let _ = writeln!(text, "### exit code: {:?}", run.status.code());
        text
    };
    let real_text = render(&real_run, &real_connect);
    let embedded_text = render(&embedded_run, &embedded_connect);
    println!(
        "zkCli transcripts: {} lines, both CLIs in {cli_time:.2?}, test {:.2?} (embedded seed {})",
        real_text.lines().count(),
        started.elapsed(),
        embedded.seed()
    );
    assert!(
        real_text.contains("### stat /seq") && real_run.status.success(),
        "the real ZooKeeper transcript is incomplete; raw output:\n{}",
        real_run.output
    );
    if real_text != embedded_text {
        panic!(
            "zkCli transcripts differ (- real ZooKeeper, + embedded TestServer):\n{}\n\
             ===== real ZooKeeper (normalized) =====\n{real_text}\n\
             ===== embedded TestServer (normalized) =====\n{embedded_text}\n\
             ===== real ZooKeeper (raw) =====\n{}\n\
             ===== embedded TestServer (raw) =====\n{}",
            line_diff(&real_text, &embedded_text),
            real_run.output,
            embedded_run.output
        );
    }
}

/// zkCli logs in with SASL DIGEST-MD5 (a JAAS `Client` section) on a real ZooKeeper and on
/// the embedded server with the same user: Java's own DIGEST-MD5 against the embedded
/// server's, which shares no code with it. Both then know the CLI as `sasl: alice` and let
/// it read a node only `sasl:alice` may read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkcli_logs_in_with_sasl_digest_md5() {
    let (java_bin, classpath) = check_installation();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let jaas = dir.path().join("client-jaas.conf");
    std::fs::write(
        &jaas,
        "Client {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    \
         username=\"alice\"\n    password=\"alice-pw\";\n};\n",
    )
    .expect("JAAS file");
    let real = timeout(START_TIMEOUT, RealZooKeeper::builder().sasl_user("alice", "alice-pw").start())
        .await
        .expect("real ZooKeeper did not start in time")
        .unwrap_or_else(|e| panic!("cannot start a real ZooKeeper: {e}; {INSTALL_HINT}"));
    let embedded =
        TestServer::builder().sasl_user("alice", "alice-pw").start().await.expect("embedded server");
    let stdin = "whoami\ncreate /sasl-cli secret sasl:alice:cdrwa\ngetAcl /sasl-cli\nget /sasl-cli\nquit\n";
    let run = |connect: String| {
        let mut command = Command::new("sh");
        command.arg("-c").arg(r#"exec "$@" 2>&1"#).arg("sh").arg(&java_bin).args(java::JVM_FLAGS).args([
            // After JVM_FLAGS, so they override its `zookeeper.sasl.client=false`.
            "-Dzookeeper.sasl.client=true".to_owned(),
            format!("-Djava.security.auth.login.config={}", jaas.display()),
            "-cp".to_owned(),
            classpath.clone(),
            MAIN_CLASS.to_owned(),
            "-server".to_owned(),
            connect,
            "-waitforconnection".to_owned(),
        ]);
        java::clean_env(&mut command);
        async move {
            let out = java::run(command, Some(stdin.as_bytes()), CLI_TIMEOUT).await.expect("zkCli ran");
            out.stdout + &out.stderr
        }
    };
    let (real_out, embedded_out) = tokio::join!(run(real.connect_string()), run(embedded.connect_string()));
    real.stop().await;
    for (name, out) in [("real ZooKeeper", &real_out), ("embedded", &embedded_out)] {
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        assert!(lines.contains(&"sasl: alice"), "{name}: whoami does not list sasl: alice:\n{out}");
        assert!(lines.contains(&"'sasl,'alice"), "{name}: getAcl does not show the sasl ACL:\n{out}");
        assert!(lines.contains(&"secret"), "{name}: alice cannot read her node:\n{out}");
    }
}
