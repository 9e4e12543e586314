//! Running Java programs from tests: the JDK's tools, Debian's ZooKeeper and Curator jars,
//! compiling a `.java` file and running a JVM (or any program) with a hard time limit.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// What to run when Java, ZooKeeper or Curator is missing.
pub const INSTALL_HINT: &str = "run `bash scripts/zookeeper.sh` to install Java, ZooKeeper and Curator";

/// How long [`compile`] lets `javac` run before killing it.
pub const COMPILE_TIMEOUT: Duration = Duration::from_secs(90);

/// Where Debian's `zookeeper` package puts ZooKeeper (client and server); its manifest pulls
/// in the dependencies.
pub(crate) const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// ZooKeeper's client and SLF4J's no-op binding (log lines would only bury the output).
const ZOOKEEPER_JARS: &[&str] = &[ZOOKEEPER_JAR, "/usr/share/java/slf4j-nop.jar"];

/// Curator, ZooKeeper and their dependencies, as Debian's packages install them.
const CURATOR_JARS: &[&str] = &[
    "/usr/share/java/curator-recipes.jar",
    "/usr/share/java/curator-framework.jar",
    "/usr/share/java/curator-client.jar",
    ZOOKEEPER_JAR,
    "/usr/share/java/zookeeper-jute.jar",
    "/usr/share/java/guava.jar",
    "/usr/share/java/slf4j-api.jar",
    // SLF4J's no-op binding: the clients' log lines would only bury the program's output.
    "/usr/share/java/slf4j-nop.jar",
];

/// Environment variables that would inject options into every JVM.
const JVM_OPTION_VARS: &[&str] = &["JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS"];

/// `$JAVA_HOME/bin/<tool>`, else the first `<tool>` on `$PATH`.
///
/// # Errors
///
/// [`io::ErrorKind::NotFound`] naming `bash scripts/zookeeper.sh` when there is none.
pub fn jdk_tool(tool: &str) -> io::Result<PathBuf> {
    let home = std::env::var_os("JAVA_HOME").map(|home| Path::new(&home).join("bin").join(tool));
    let path = std::env::var_os("PATH").unwrap_or_default();
    home.into_iter()
        .chain(std::env::split_paths(&path).map(|dir| dir.join(tool)))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| not_found(format!("no {tool} on PATH or in JAVA_HOME; {INSTALL_HINT}")))
}

/// The `java` launcher (see [`jdk_tool`]).
///
/// # Errors
///
/// As [`jdk_tool`].
pub fn java() -> io::Result<PathBuf> {
    jdk_tool("java")
}

/// The `javac` compiler (see [`jdk_tool`]).
///
/// # Errors
///
/// As [`jdk_tool`].
pub fn javac() -> io::Result<PathBuf> {
    jdk_tool("javac")
}

/// The jars a ZooKeeper client program (e.g. `org.apache.zookeeper.ZooKeeperMain`) needs.
///
/// # Errors
///
/// [`io::ErrorKind::NotFound`] naming the missing jar and `bash scripts/zookeeper.sh`.
pub fn zookeeper_classpath() -> io::Result<Vec<PathBuf>> {
    existing(ZOOKEEPER_JARS)
}

/// The jars a Curator program needs: Curator's recipes, framework and client, ZooKeeper,
/// Guava and SLF4J (with its no-op binding).
///
/// # Errors
///
/// [`io::ErrorKind::NotFound`] naming the missing jar and `bash scripts/zookeeper.sh`.
pub fn curator_classpath() -> io::Result<Vec<PathBuf>> {
    existing(CURATOR_JARS)
}

/// `entries` joined with `:`, for `-cp`.
pub fn join_classpath<P: AsRef<Path>>(entries: impl IntoIterator<Item = P>) -> String {
    let entries: Vec<String> = entries.into_iter().map(|e| e.as_ref().display().to_string()).collect();
    entries.join(":")
}

/// The fast-start JVM flags the tests use: class-data sharing, C1 only, serial GC, no perf
/// data file, IPv4, no SASL (for a command line built by hand; [`jvm`] adds them itself).
pub const JVM_FLAGS: &[&str] = &[
    "-Xshare:auto",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",
    "-Djava.net.preferIPv4Stack=true",
    "-Dzookeeper.sasl.client=false",
];

/// A `java` command for `main_class` on `classpath`, with [`JVM_FLAGS`] and without the
/// environment variables that inject JVM options. Add the program's arguments and pass it to
/// [`run`].
///
/// # Errors
///
/// As [`java`].
pub fn jvm(classpath: &str, main_class: &str) -> io::Result<Command> {
    let mut command = Command::new(java()?);
    command.args(JVM_FLAGS).args(["-cp", classpath, main_class]);
    clean_env(&mut command);
    Ok(command)
}

/// Removes the environment variables that would inject options into a JVM.
pub fn clean_env(command: &mut Command) -> &mut Command {
    for var in JVM_OPTION_VARS {
        command.env_remove(var);
    }
    command
}

/// Compiles `java_files` (together, so they may use each other) with `javac` into `out_dir`
/// against `classpath` (plus `out_dir`), killing `javac` after [`COMPILE_TIMEOUT`].
///
/// # Errors
///
/// When `javac` is missing, cannot start, times out or fails (the error holds its output).
pub async fn compile<P: AsRef<Path>>(
    java_files: &[&Path],
    out_dir: &Path,
    classpath: &[P],
) -> io::Result<()> {
    let cp = join_classpath(std::iter::once(out_dir).chain(classpath.iter().map(AsRef::as_ref)));
    let mut command = Command::new(javac()?);
    command.args(["-nowarn", "-Xlint:none", "-encoding", "UTF-8", "-d"]).arg(out_dir).arg("-cp").arg(cp);
    clean_env(command.args(java_files));
    let output = run(command, None, COMPILE_TIMEOUT).await?;
    if output.status.success() {
        return Ok(());
    }
    let files: Vec<String> = java_files.iter().map(|f| f.display().to_string()).collect();
    Err(io::Error::other(format!(
        "javac {} failed ({}); {INSTALL_HINT}\nstdout:\n{}\nstderr:\n{}",
        files.join(" "),
        output.status,
        output.stdout,
        output.stderr
    )))
}

/// What a program printed and how it ended.
#[derive(Debug)]
pub struct Output {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output (lossy UTF-8).
    pub stdout: String,
    /// Its standard error (lossy UTF-8).
    pub stderr: String,
    /// From spawning to exit.
    pub elapsed: Duration,
}

/// Runs `command` to completion with `stdin` as its input (none: `/dev/null`), capturing
/// stdout and stderr. The child is killed on drop and, after `limit`, by its PID.
///
/// # Errors
///
/// When it cannot start (the spawn error), or [`io::ErrorKind::TimedOut`] (naming the PID)
/// when it ran longer than `limit` and was killed.
pub async fn run(mut command: Command, stdin: Option<&[u8]>, limit: Duration) -> io::Result<Output> {
    let started = Instant::now();
    let input = if stdin.is_some() { Stdio::piped() } else { Stdio::null() };
    let mut child =
        command.stdin(input).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn()?;
    let pid = child.id().unwrap_or_default();
    let feed = {
        let pipe = child.stdin.take();
        async move {
            if let (Some(mut pipe), Some(bytes)) = (pipe, stdin) {
                // The program may exit before reading everything only if it dies.
                let _ = pipe.write_all(bytes).await;
                let _ = pipe.shutdown().await;
            }
        }
    };
    let out = read_all(child.stdout.take());
    let err = read_all(child.stderr.take());
    match tokio::time::timeout(limit, async { tokio::join!(feed, out, err, child.wait()) }).await {
        Ok(((), stdout, stderr, status)) => {
            Ok(Output { status: status?, stdout, stderr, elapsed: started.elapsed() })
        }
        Err(_) => {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{command:?} (pid {pid}) did not finish within {limit:?}; killed it"),
            ))
        }
    }
}

/// Everything `pipe` yields until end-of-file or an error, as (lossy) UTF-8.
async fn read_all(pipe: Option<impl AsyncRead + Unpin>) -> String {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes).await;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn existing(jars: &[&str]) -> io::Result<Vec<PathBuf>> {
    jars.iter()
        .map(|jar| match Path::new(jar).is_file() {
            true => Ok(PathBuf::from(jar)),
            false => Err(not_found(format!("{jar} is missing; {INSTALL_HINT}"))),
        })
        .collect()
}

pub(crate) fn not_found(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, message)
}
