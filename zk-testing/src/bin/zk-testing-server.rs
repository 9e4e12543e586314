//! The embedded ZooKeeper-compatible server as a process, for tests in any language.
//!
//! ```text
//! cargo run -p zkrs-testing --features cli --bin zk-testing-server -- --port 2181
//!     [--addr 127.0.0.1] [--tick-ms 2000] [--seed N] [--snapshot FILE] [--no-ttl]
//!     [--reap-interval-ms 1000] [--read-only] [--zk-version 3.8.0]
//!     [--tls-port N --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]
//!      [--tls-client-auth none|want|need]]
//! ```
//!
//! `--help` documents every flag. Prints `connect string: 127.0.0.1:PORT` once it is serving,
//! then serves until it gets SIGINT or SIGTERM (Ctrl-C or Ctrl-Break on Windows). With
//! `--snapshot FILE` it loads the tree and the sessions from FILE when the file exists and
//! writes them back to it on shutdown, so clients resume their sessions across a restart. A bad flag or value exits with status 2 and a usage line.
//!
//! Built only with the crate's `cli` feature (clap, tokio's signals), so that the library's
//! users compile neither.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use zk_testing::TestServer;

/// Serves zk-testing's embedded ZooKeeper-compatible server over TCP, to the Java client and
/// zkCli, Curator, kazoo, or any other ZooKeeper client.
///
/// Prints `connect string: HOST:PORT` once it serves, then runs until SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "zk-testing-server", version)]
struct Args {
    /// The address to listen on.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    addr: IpAddr,
    /// The port to listen on; 0 picks a free one (the connect string names it).
    #[arg(long, value_name = "N", default_value_t = 2181)]
    port: u16,
    /// ZooKeeper's tickTime in milliseconds: session timeouts are kept within 2 to 20 ticks.
    #[arg(long, value_name = "MS", default_value_t = 2000, value_parser = positive)]
    tick_ms: u64,
    /// The seed of every random choice (session ids, passwords) [default: ZK_TEST_SEED, else
    /// random]. Printed at start.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Load the tree and sessions from FILE at start if it exists; save them to FILE on shutdown.
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// Refuse TTL nodes, as ZooKeeper does without zookeeper.extendedTypesEnabled.
    #[arg(long)]
    no_ttl: bool,
    /// How often containers and expired TTL nodes are removed, in milliseconds.
    #[arg(long = "reap-interval-ms", value_name = "MS", default_value_t = 1000, value_parser = positive)]
    reap_ms: u64,
    /// Start as a read-only server: only clients that allow read-only mode get a session.
    #[arg(long)]
    read_only: bool,
    /// The ZooKeeper release to behave as where releases differ: 3.8.0, 3.8.6 or 3.9.3.
    #[arg(long = "zk-version", value_name = "VERSION", default_value = "3.8.0")]
    zk_version: zk_testing::ServerVersion,
    /// TLS options (feature `tls`).
    #[cfg(feature = "tls")]
    #[command(flatten)]
    tls: TlsArgs,
}

/// Serving TLS besides plain TCP, as ZooKeeper's `secureClientPort` does.
#[cfg(feature = "tls")]
#[derive(Debug, clap::Args)]
struct TlsArgs {
    /// Also serve TLS on this port (0 picks a free one), on the --addr address; needs
    /// --tls-cert and --tls-key.
    #[arg(long, value_name = "N", requires_all = ["tls_cert", "tls_key"])]
    tls_port: Option<u16>,
    /// The server's certificate chain, PEM.
    #[arg(long, value_name = "FILE", requires = "tls_port")]
    tls_cert: Option<PathBuf>,
    /// The server's private key, PEM.
    #[arg(long, value_name = "FILE", requires = "tls_port")]
    tls_key: Option<PathBuf>,
    /// The CA whose client certificates are accepted, PEM (needed unless --tls-client-auth none).
    #[arg(long, value_name = "FILE", requires = "tls_port")]
    tls_client_ca: Option<PathBuf>,
    /// Whether clients must present a certificate.
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = ["none", "want", "need"])]
    tls_client_auth: String,
}

#[cfg(feature = "tls")]
impl TlsArgs {
    /// The TLS listener's address and settings, when asked for.
    fn server_tls(&self, ip: IpAddr) -> Result<Option<(SocketAddr, zk_testing::tls::ServerTls)>, String> {
        use zk_testing::tls::{CertPair, ClientAuth, ServerTls};
        let (Some(port), Some(cert), Some(key)) = (self.tls_port, &self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
        };
        let pair = CertPair { cert_pem: read(cert)?, key_pem: read(key)? };
        let client_auth = match self.tls_client_auth.as_str() {
            "want" => ClientAuth::Want,
            "need" => ClientAuth::Need,
            _ => ClientAuth::None,
        };
        let ca = match (&self.tls_client_ca, client_auth) {
            (Some(path), _) => read(path)?,
            (None, ClientAuth::None) => String::new(),
            (None, _) => return Err("--tls-client-auth want or need needs --tls-client-ca".into()),
        };
        let tls = ServerTls::new(&pair, &ca, client_auth).map_err(|e| format!("TLS settings: {e}"))?;
        Ok(Some((SocketAddr::new(ip, port), tls)))
    }
}

/// A number of milliseconds, at least 1.
fn positive(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

async fn run(a: Args) -> Result<(), String> {
    let mut b = TestServer::builder()
        .addr(SocketAddr::new(a.addr, a.port))
        .tick(Duration::from_millis(a.tick_ms))
        .extended_types(!a.no_ttl)
        .read_only(a.read_only)
        .version(a.zk_version)
        .reap_interval(Duration::from_millis(a.reap_ms));
    if let Some(seed) = a.seed {
        b = b.seed(seed);
    }
    #[cfg(feature = "tls")]
    if let Some((addr, tls)) = a.tls.server_tls(a.addr)? {
        b = b.tls_at(addr, tls);
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
    #[cfg(feature = "tls")]
    if let Some(addr) = server.tls_addr() {
        println!("tls connect string: tls://{addr}");
    }
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
#[cfg(unix)]
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

/// Windows has no SIGTERM: registers Ctrl-C and Ctrl-Break handlers now; the future resolves
/// at the first of them.
#[cfg(windows)]
fn stop_signals() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::windows::{ctrl_break, ctrl_c};
    let mut c = ctrl_c().map_err(|e| e.to_string())?;
    let mut brk = ctrl_break().map_err(|e| e.to_string())?;
    Ok(async move {
        tokio::select! {
            _ = c.recv() => {}
            _ = brk.recv() => {}
        }
    })
}

fn main() -> ExitCode {
    // A bad flag or value: clap prints the error and a usage line, and exits with status 2.
    let args = Args::parse();
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
