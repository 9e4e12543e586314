//! What every zk-recipes test binary starts from: an embedded server on a paused clock, its
//! clients, and a pause that lets background work finish. Included by each binary's
//! `main.rs` (`#[path = "../support/mod.rs"] mod support;`).

// Each test binary uses a subset.
#![allow(dead_code)]

use std::time::Duration;

use zk_core::Client;
use zk_testing::TestServer;

/// A fresh embedded server (in-process clients only), seeded.
pub(crate) async fn server(seed: u64) -> TestServer {
    TestServer::builder().no_tcp().seed(seed).start().await.expect("server starts")
}

/// A client with a 30 s session timeout.
pub(crate) async fn client(server: &TestServer) -> Client {
    server.client_builder().session_timeout(Duration::from_secs(30)).connect().await.expect("connects")
}

/// Lets every in-flight request and background task finish (the paused clock jumps ahead).
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// `fut`, or a panic naming `what` after `secs` seconds.
pub(crate) async fn within<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out ({secs} s): {what}"))
}

/// Polls `cond` every 20 ms for at most `secs` seconds; panics with `what` if it never holds.
pub(crate) async fn eventually<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Compiles the Curator program `tests/<source>` (class `class`), with the
/// `CuratorSupport` class it uses, once per test process
/// (javac is bounded and killed by PID by `zk_testing::java::compile`) and returns the
/// classpath to run it with: its classes directory, then Curator's jars.
pub(crate) async fn curator_program(source: &str, class: &str) -> String {
    static CLASSES: tokio::sync::OnceCell<std::path::PathBuf> = tokio::sync::OnceCell::const_new();
    use zk_testing::java::{self, INSTALL_HINT};
    let jars = || java::curator_classpath().unwrap_or_else(|e| panic!("{e}"));
    let classes = CLASSES
        .get_or_init(|| async {
            let dir = format!("{}-{}", class.to_lowercase(), std::process::id());
            let classes = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
            std::fs::create_dir_all(&classes).expect("create the classes directory");
            let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
            let (source, support) = (tests.join(source), tests.join("support/CuratorSupport.java"));
            java::compile(&[&source, &support], &classes, &jars()).await.unwrap_or_else(|e| panic!("{e}"));
            let class_file = classes.join(format!("{class}.class"));
            assert!(class_file.is_file(), "javac wrote no {class}.class; {INSTALL_HINT}");
            classes
        })
        .await;
    // One program per test binary: the classes directory is compiled once.
    assert!(classes.join(format!("{class}.class")).is_file(), "{class} is not this binary's Curator program");
    java::join_classpath(std::iter::once(classes.clone()).chain(jars()))
}

/// A Curator program run by `zk_testing::java::run` on a task.
pub(crate) type Jvm = tokio::task::JoinHandle<std::io::Result<zk_testing::java::Output>>;

/// Waits (at most 30 s) until the Curator program `jvm` has created `<root>/jvm-ready`
/// (`CuratorSupport.awaitGo`, just before it waits for `<root>/go`); panics with its output,
/// naming `what`, if it exits or times out first.
pub(crate) async fn await_jvm_ready(client: &Client, root: &str, jvm: &mut Jvm, what: &str) {
    let ready = format!("{root}/jvm-ready");
    for _ in 0..600 {
        if client.exists(&ready).await.expect("exists").is_some() || jvm.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if client.exists(&ready).await.expect("exists").is_none() {
        let out = jvm.await.expect("the JVM task");
        panic!("{what} never got ready: {out:?}; {}", zk_testing::java::INSTALL_HINT);
    }
}
