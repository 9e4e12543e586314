//! The standalone `zk-testing-server` binary: serves real TCP clients, saves and reloads its
//! snapshot, documents its flags and rejects bad ones. Built with the `cli` feature, which the
//! workspace's examples crate enables for every workspace build.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use zk_core::{Client, CreateMode};

const BIN: &str = env!("CARGO_BIN_EXE_zk-testing-server");

/// Starts the binary on a port the system picks (`--port 0`: no window in which another
/// test could take a port picked beforehand); returns the child and its connect string.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn zk-testing-server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let connect = loop {
        let line = lines.next().expect("server exited before serving").unwrap();
        if let Some(cs) = line.strip_prefix("connect string: ") {
            break cs.to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, connect)
}

/// SIGTERM by PID, then wait (bounded) for a clean exit.
fn terminate(mut child: Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("zk-testing-server did not exit within 5 s of SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_and_keeps_its_snapshot_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("tree.snap");
    let snap_arg = snap.to_str().unwrap();
    let (child, cs) = start(&["--snapshot", snap_arg, "--seed", "5", "--tick-ms", "500"]);
    assert!(cs.starts_with("127.0.0.1:"), "{cs}");
    let c = Client::connect(&cs).await.unwrap();
    // tick 500 ms: session timeouts are clamped to 1..10 s.
    assert_eq!(c.session_timeout(), Duration::from_secs(10));
    c.create("/kept", b"data", CreateMode::Persistent).await.unwrap();
    c.create("/kept/s-", b"", CreateMode::PersistentSequential).await.unwrap();
    c.close().await;
    assert_eq!(zk_testing::four_letter_word(cs.parse().unwrap(), "ruok").await.unwrap(), "imok");
    terminate(child);
    assert!(snap.exists(), "snapshot written on SIGTERM");

    let (child, cs) = start(&["--snapshot", snap_arg]);
    let c = Client::connect(&cs).await.unwrap();
    assert_eq!(c.get_data("/kept").await.unwrap().0, b"data");
    assert_eq!(
        c.create("/kept/s-", b"", CreateMode::PersistentSequential).await.unwrap().0,
        "/kept/s-0000000001"
    );
    c.close().await;
    terminate(child);
}

/// A bad flag or value exits with status 2 and an error naming the flag (and, for an unknown
/// flag, the usage line).
#[test]
fn bad_flags_exit_with_status_2_and_say_why() {
    for (args, says) in [
        (&["--port", "notaport"][..], "invalid value 'notaport' for '--port <N>'"),
        (&["--port", "65536"], "invalid value '65536' for '--port <N>'"),
        (&["--tick-ms", "0"], "invalid value '0' for '--tick-ms <MS>': must be at least 1"),
        (&["--reap-interval-ms", "0"], "invalid value '0' for '--reap-interval-ms <MS>': must be at least 1"),
        (&["--addr", "localhost"], "invalid value 'localhost' for '--addr <IP>'"),
        (&["--seed", "x"], "invalid value 'x' for '--seed <N>'"),
        (&["--bogus"], "Usage: zk-testing-server"),
        (&["--port"], "a value is required for '--port <N>'"),
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: ") && stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// `--help` names every flag with its default, and exits 0.
#[test]
fn help_documents_the_flags_and_defaults() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "--addr <IP>",
        "[default: 127.0.0.1]",
        "--port <N>",
        "[default: 2181]",
        "--tick-ms <MS>",
        "[default: 2000]",
        "--seed <N>",
        "--snapshot <FILE>",
        "--no-ttl",
        "--reap-interval-ms <MS>",
        "[default: 1000]",
        "--read-only",
    ] {
        assert!(help.contains(expected), "{expected:?} is missing from --help:\n{help}");
    }
}

#[test]
fn a_corrupt_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("bad.snap");
    std::fs::write(&snap, b"definitely not a snapshot").unwrap();
    let out = Command::new(BIN).args(["--port", "0", "--snapshot", snap.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("loading"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--read-only` starts a read-only server: it says so, and a plain client gets no session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_flag_serves_read_only() {
    let (child, connect) = start(&["--read-only"]);
    let addr: std::net::SocketAddr = connect.parse().unwrap();
    assert_eq!(zk_testing::four_letter_word(addr, "isro").await.unwrap(), "ro");
    let ro = zk_core::Client::builder(&connect).read_only(true).connect().await.unwrap();
    assert_eq!(ro.state(), zk_core::SessionState::ConnectedReadOnly);
    assert_eq!(
        ro.create("/x", b"", zk_core::CreateMode::Persistent).await.err(),
        Some(zk_core::Error::NotReadOnly)
    );
    ro.close().await;
    terminate(child);
}

/// A SIGTERM sent the moment the connect string is printed (as a supervisor may) still saves
/// the snapshot and exits cleanly: the handlers are in place before the line is printed.
#[test]
fn sigterm_right_after_start_saves_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let snap = dir.path().join(format!("tree-{round}.snap"));
        let (child, _) = start(&["--snapshot", snap.to_str().unwrap()]);
        terminate(child);
        assert!(snap.exists(), "round {round}: snapshot written on SIGTERM");
    }
}

/// `--tls-port` serves TLS besides TCP with the given certificate, here needing client
/// certificates from the given CA; TLS flags without their companions are refused.
#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_flags_serve_tls_with_client_certificates() {
    use zk_core::tls::TlsErrorKind;
    use zk_core::Error;
    use zk_testing::tls::TestCerts;

    let certs = TestCerts::generate("binary test CA").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (cert, key, ca) = (
        file("server.pem", &certs.server().cert_pem),
        file("server.key", &certs.server().key_pem),
        file("ca.pem", certs.ca_pem()),
    );
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--tls-port", "0", "--tls-cert", &cert, "--tls-key", &key])
        .args(["--tls-client-ca", &ca, "--tls-client-auth", "need"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn zk-testing-server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let tls_connect = loop {
        let line = lines.next().expect("server exited before serving TLS").unwrap();
        if let Some(cs) = line.strip_prefix("tls connect string: ") {
            break cs.to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));

    let client = certs.client("carol").unwrap();
    let tls = certs
        .client_config()
        .unwrap()
        .client_cert_pem(client.cert_pem.as_bytes(), client.key_pem.as_bytes())
        .unwrap();
    let zk = Client::builder(&tls_connect).tls(tls).connect().await.expect("a TLS session");
    zk.create("/over-tls", b"x", CreateMode::Persistent).await.expect("create over TLS");
    zk.close().await;
    let without_cert = Client::builder(&tls_connect).tls(certs.client_config().unwrap()).connect().await;
    assert!(
        matches!(&without_cert, Err(Error::Tls(e)) if e.kind() == TlsErrorKind::Rejected),
        "{without_cert:?}"
    );
    terminate(child);

    for (args, says) in
        [(&["--tls-port", "0"][..], "--tls-cert <FILE>"), (&["--tls-cert", "a.pem"], "--tls-port <N>")]
    {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let out = Command::new(BIN)
        .args([
            "--port",
            "0",
            "--tls-port",
            "0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-client-auth",
            "want",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --tls-client-ca"), "{out:?}");
}
