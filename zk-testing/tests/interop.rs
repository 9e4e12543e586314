//! Real third-party ZooKeeper clients run one scenario against both backends: a fresh embedded
//! [`TestServer`] and the shared real ZooKeeper 3.8 ([`Backend::real`]).
//!
//! * [`curator`]: Apache Curator (Debian's `libcurator-*-java`), through the Java program
//!   `tests/interop/CuratorSmoke.java`, compiled with `javac` into a temporary directory.
//! * [`kazoo`]: kazoo (PyPI, pinned by `scripts/python-deps.sh`), through the Python program
//!   `tests/interop/kazoo_smoke.py`.
//!
//! Each program prints `OK <step>` after every step and `FAIL <step>: <exception>` (then exits
//! with a non-zero status) at the first failure. A test runs its program against both backends
//! at once (one JVM or Python process per backend) and asserts that both print the same,
//! complete step list and exit with status 0.
//!
//! A missing dependency is a failure, not a skip: `bash scripts/zookeeper.sh` installs Java,
//! ZooKeeper and Curator, `bash scripts/python-deps.sh` the kazoo venv.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::time::timeout;
use zk_testing::{java, Backend, TestServer};

/// One client program run against one backend. The programs' own watchdogs fire at 45 s.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Starting the embedded server (the real one has [`Backend::real`]'s limit).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the interop programs live.
fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// What one program printed and how it ended.
struct Run {
    backend: &'static str,
    connect: String,
    stdout: String,
    stderr: String,
    status: ExitStatus,
    elapsed: Duration,
}

impl Run {
    /// The steps reported `OK`, in order.
    fn ok_steps(&self) -> Vec<&str> {
        self.stdout.lines().filter_map(|l| l.strip_prefix("OK ")).collect()
    }

    /// The first `FAIL` line, if any.
    fn failure(&self) -> Option<&str> {
        self.stdout.lines().find(|l| l.starts_with("FAIL "))
    }

    fn describe(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "--- {} ({}): {:?} in {:.2?}; steps OK: {:?}",
            self.backend,
            self.connect,
            self.status.code(),
            self.elapsed,
            self.ok_steps()
        );
        if let Some(failure) = self.failure() {
            let _ = writeln!(text, "{failure}");
        }
        let _ = writeln!(text, "stdout:\n{}stderr:\n{}", self.stdout, self.stderr);
        text
    }
}

/// Runs `command` (already given its program and arguments) to completion, capturing stdout
/// and stderr; kills it by PID after [`RUN_TIMEOUT`].
async fn run(command: Command, backend: &'static str, connect: String, hint: &str) -> Run {
    match java::run(command, None, RUN_TIMEOUT).await {
        Ok(out) => Run {
            backend,
            connect,
            stdout: out.stdout,
            stderr: out.stderr,
            status: out.status,
            elapsed: out.elapsed,
        },
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => panic!("{e} (against {backend}, {connect})"),
        Err(e) => panic!("cannot start the client program: {e}; {hint}"),
    }
}

/// Runs `program(connect)` against a fresh embedded server and the shared real ZooKeeper at
/// once, and asserts that both print exactly `expected` and exit with status 0. `hint` says how
/// to install what the program needs.
async fn run_on_both_backends<F>(client: &str, expected: &[&str], hint: &str, program: F)
where
    F: Fn(&str) -> Command,
{
    let started = Instant::now();
    let real = Backend::real().await;
    let embedded = timeout(START_TIMEOUT, TestServer::start())
        .await
        .expect("the embedded TestServer did not start in time")
        .expect("cannot start the embedded TestServer");
    let (real_connect, embedded_connect) = (real.connect_string(), embedded.connect_string());
    let (real_run, embedded_run) = tokio::join!(
        run(program(&real_connect), "real ZooKeeper 3.8", real_connect.clone(), hint),
        run(program(&embedded_connect), "embedded TestServer", embedded_connect.clone(), hint),
    );
    println!(
        "{client}: real {:.2?}, embedded {:.2?} (seed {}), test {:.2?}; steps {expected:?}",
        real_run.elapsed,
        embedded_run.elapsed,
        embedded.seed(),
        started.elapsed()
    );
    let passed = |run: &Run| run.status.success() && run.ok_steps() == expected && run.failure().is_none();
    let (real_ok, embedded_ok) = (passed(&real_run), passed(&embedded_run));
    let verdict = match (real_ok, embedded_ok) {
        (true, true) => return,
        (true, false) => "fails only on the embedded TestServer: a bug in zk-testing's server",
        (false, true) => "fails only on the real ZooKeeper: check the scenario or the installation",
        (false, false) => "fails on both backends: check the scenario or the installation",
    };
    panic!(
        "{client} {verdict} (expected steps {expected:?}; embedded seed {}; if something is not installed, {hint})\n{}{}",
        embedded.seed(),
        real_run.describe(),
        embedded_run.describe()
    );
}

/// The first of `candidates` that is a file.
fn first_file(candidates: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    candidates.into_iter().find(|c| c.is_file())
}

mod curator {
    use super::*;

    use zk_testing::java::INSTALL_HINT;

    /// The steps of `CuratorSmoke.java`, in order.
    const STEPS: &[&str] = &[
        "connect",
        "crud",
        "ephemeral_sequential",
        "transaction",
        "mutex",
        "leader_latch",
        "node_cache",
        "path_children_cache",
        "curator_cache",
        "reconnect",
        "close",
    ];

    /// Curator's jars and the classes directory, joined for `-cp`.
    fn classpath(classes: &Path) -> String {
        let jars = java::curator_classpath().unwrap_or_else(|e| panic!("{e}"));
        java::join_classpath(std::iter::once(classes.to_path_buf()).chain(jars))
    }

    /// Compiles `CuratorSmoke.java` into `classes`, bounded by [`java::COMPILE_TIMEOUT`].
    async fn compile(classes: &Path) {
        let source = interop_dir().join("CuratorSmoke.java");
        let jars = java::curator_classpath().unwrap_or_else(|e| panic!("{e}"));
        java::compile(&[&source], classes, &jars).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            classes.join("CuratorSmoke.class").is_file(),
            "javac wrote no CuratorSmoke.class; {INSTALL_HINT}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn curator_works_on_both_backends() {
        let classes = tempfile::Builder::new()
            .prefix("curator-smoke-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("creating a directory for the compiled CuratorSmoke");
        compile(classes.path()).await;
        let cp = classpath(classes.path());
        run_on_both_backends("Curator", STEPS, INSTALL_HINT, |connect| {
            let mut jvm = java::jvm(&cp, "CuratorSmoke").unwrap_or_else(|e| panic!("{e}"));
            jvm.arg(connect);
            jvm
        })
        .await;
    }
}

mod kazoo {
    use super::*;

    const INSTALL_HINT: &str =
        "run `bash scripts/python-deps.sh` to create the venv with kazoo, or point ZK_TEST_PYTHON at a Python that has kazoo 2.11";

    /// The steps of `kazoo_smoke.py`, in order.
    const STEPS: &[&str] = &[
        "connect",
        "crud",
        "ensure_path",
        "ephemeral_sequence",
        "transaction",
        "data_watch",
        "children_watch",
        "auth_acl",
        "lock",
        "election",
        "counter",
        "reconnect",
        "close",
    ];

    /// `$ZK_TEST_PYTHON`, else `py-venv/bin/python` in the target directory that
    /// `scripts/python-deps.sh` fills: `$CARGO_TARGET_DIR`, or the one this test binary was
    /// built into (an ancestor of the executable), or the workspace's `target`.
    fn python() -> PathBuf {
        if let Some(python) = std::env::var_os("ZK_TEST_PYTHON").filter(|p| !p.is_empty()) {
            return PathBuf::from(python);
        }
        let venv_python = |dir: &Path| dir.join("py-venv/bin/python");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("zk-testing is in a workspace");
        let from_env = std::env::var_os("CARGO_TARGET_DIR").map(|dir| venv_python(&workspace.join(dir)));
        let exe = std::env::current_exe().expect("the test's own path");
        let from_exe = exe.ancestors().skip(1).map(venv_python).collect::<Vec<_>>();
        let default = venv_python(&workspace.join("target"));
        first_file(from_env.into_iter().chain(from_exe).chain([default.clone()]))
            .unwrap_or_else(|| panic!("{} does not exist; {INSTALL_HINT}", default.display()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kazoo_works_on_both_backends() {
        let python = python();
        let script = interop_dir().join("kazoo_smoke.py");
        run_on_both_backends("kazoo", STEPS, INSTALL_HINT, |connect| {
            let mut process = Command::new(&python);
            process
                .arg("-u")
                .arg(&script)
                .arg(connect)
                .env_remove("PYTHONPATH")
                .env_remove("PYTHONSTARTUP")
                .env("PYTHONDONTWRITEBYTECODE", "1");
            process
        })
        .await;
    }
}
