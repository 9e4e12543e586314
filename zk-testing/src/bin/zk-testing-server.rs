//! The embedded ZooKeeper-compatible server as a process, for tests in any language.
//!
//! ```text
//! cargo run -p zkrs-testing --bin zk-testing-server -- --port 2181
//!     [--addr 127.0.0.1] [--tick-ms 2000] [--seed N] [--snapshot FILE] [--no-ttl]
//!     [--reap-interval-ms 1000] [--read-only]
//! ```
//!
//! Prints `connect string: 127.0.0.1:PORT` once it is serving, then serves until it gets
//! SIGINT or SIGTERM. With `--snapshot FILE` it loads the tree from FILE when the file exists
//! and writes the tree back to it on shutdown.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use zk_testing::TestServer;

#[derive(Debug)]
struct Args {
    addr: IpAddr,
    port: u16,
    tick_ms: u64,
    seed: Option<u64>,
    snapshot: Option<PathBuf>,
    ttl: bool,
    reap_ms: u64,
    read_only: bool,
}

const USAGE: &str = "usage: zk-testing-server [--addr IP] [--port N] [--tick-ms MS] [--seed N] \
                     [--snapshot FILE] [--no-ttl] [--reap-interval-ms MS] [--read-only]";

fn parse() -> Result<Args, String> {
    let mut a = Args {
        addr: IpAddr::from([127, 0, 0, 1]),
        port: 2181,
        tick_ms: 2000,
        seed: None,
        snapshot: None,
        ttl: true,
        reap_ms: 1000,
        read_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let bad = |v: &str| format!("{flag}: invalid value {v:?}");
        match flag.as_str() {
            "--addr" => {
                let v = value()?;
                a.addr = v.parse().map_err(|_| bad(&v))?;
            }
            "--port" => {
                let v = value()?;
                a.port = v.parse().map_err(|_| bad(&v))?;
            }
            "--tick-ms" => {
                let v = value()?;
                a.tick_ms = v.parse().ok().filter(|t| *t > 0).ok_or_else(|| bad(&v))?;
            }
            "--seed" => {
                let v = value()?;
                a.seed = Some(v.parse().map_err(|_| bad(&v))?);
            }
            "--snapshot" => a.snapshot = Some(PathBuf::from(value()?)),
            "--no-ttl" => a.ttl = false,
            "--read-only" => a.read_only = true,
            "--reap-interval-ms" => {
                let v = value()?;
                a.reap_ms = v.parse().ok().filter(|t| *t > 0).ok_or_else(|| bad(&v))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

async fn run(a: Args) -> Result<(), String> {
    let mut b = TestServer::builder()
        .addr(SocketAddr::new(a.addr, a.port))
        .tick(Duration::from_millis(a.tick_ms))
        .extended_types(a.ttl)
        .read_only(a.read_only)
        .reap_interval(Duration::from_millis(a.reap_ms));
    if let Some(seed) = a.seed {
        b = b.seed(seed);
    }
    let server = match &a.snapshot {
        Some(path) if path.exists() => {
            let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            b.start_from(&bytes).await.map_err(|e| format!("loading {}: {e}", path.display()))?
        }
        _ => b.start().await.map_err(|e| format!("listening on {}:{}: {e}", a.addr, a.port))?,
    };
    // Handlers first: a SIGTERM sent as soon as the connect string is read must save and exit
    // cleanly, not meet the default action.
    let stop = stop_signals()?;
    println!("zk-testing-server: seed {}", server.seed());
    println!("connect string: {}", server.connect_string());
    stop.await;
    if let Some(path) = &a.snapshot {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, server.snapshot())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("saving {}: {e}", path.display()))?;
        println!("zk-testing-server: saved {} znodes to {}", server.node_count(), path.display());
    }
    server.shutdown().await;
    Ok(())
}

/// Registers SIGTERM and SIGINT handlers now; the future resolves at the first of them.
fn stop_signals() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("zk-testing-server: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zk-testing-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zk-testing-server: {e}");
            ExitCode::FAILURE
        }
    }
}
