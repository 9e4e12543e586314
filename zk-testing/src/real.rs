//! A real standalone ZooKeeper 3.8 server, run from Debian's `zookeeper` package.
//!
//! The server is a child JVM that must never outlive the test process, even when that process
//! is killed or when the server sits in a `static` that is never dropped. So the JVM is not our
//! child: it is the child of a tiny `sh` guard ([`GUARD_SCRIPT`]) whose stdin is a pipe only
//! we hold. Whenever our process goes away, for any reason, the kernel closes the pipe, the
//! guard's `read` returns and the guard SIGKILLs the one PID it started (its own, not yet reaped
//! child, so the PID cannot have been reused) and reaps it. Dropping the handle closes the pipe
//! the same way. `PR_SET_PDEATHSIG` was rejected: it needs `unsafe`, and it fires when the
//! *thread* that spawned the child exits, which with one tokio runtime per test is far too early.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio::time::{sleep, timeout, Instant};

use crate::java::{not_found, INSTALL_HINT, ZOOKEEPER_JAR};

/// An SLF4J binding, so the server log says something (without one, SLF4J drops everything).
const LOGGER_JAR: &str = "/usr/share/java/slf4j-simple.jar";
const MAIN_CLASS: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
/// Netty's codec and resolver, which the Netty connection factory needs besides what
/// zookeeper.jar's manifest names.
const NETTY_JARS: &[&str] = &["/usr/share/java/netty-codec.jar", "/usr/share/java/netty-resolver.jar"];

/// The `zoo.cfg` lines every server a test starts wants, standalone or ensemble member.
// Tests connect from one address, often more than the default 60 times; a throwaway data
// directory does not need an fsync per transaction (a killed JVM still loses nothing: the
// writes are in the kernel's page cache).
pub(crate) const TEST_CFG: &str =
    "maxClientCnxns=0\nforceSync=no\nadmin.enableServer=false\n4lw.commands.whitelist=*\n";

/// Names an already running server for [`RealZooKeeper::shared`] to use instead of starting one.
const CONNECT_ENV: &str = "ZK_TEST_REAL_CONNECT";

const START_ATTEMPTS: u32 = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const READY_POLL: Duration = Duration::from_millis(100);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_POLL: Duration = Duration::from_millis(10);
const LOG_TAIL_BYTES: u64 = 4096;

/// `sh -c` script: `$1` is the PID file, the rest is the java command line.
///
/// INT/QUIT/HUP/TERM are ignored *after* the fork so that a Ctrl-C aimed at the test's process
/// group cannot kill the guard before it has killed the server; the server keeps its default
/// TERM handling. An asynchronous list gets `/dev/null` as stdin anyway, the redirect says so.
const GUARD_SCRIPT: &str = r#"pidfile=$1; shift
"$@" </dev/null &
zk=$!
trap '' INT QUIT HUP TERM
echo "$zk" >"$pidfile"
read -r _ || :
kill -9 "$zk" 2>/dev/null
wait "$zk"
"#;

static SHARED: OnceCell<RealZooKeeper> = OnceCell::const_new();

/// A real ZooKeeper server: started and owned by this handle, or external (see
/// [`RealZooKeeper::shared`]).
///
/// An owned server listens on `127.0.0.1` on a free port, keeps its data, `zoo.cfg` and log in a
/// temporary directory, and is killed (and the directory removed) when the handle is dropped or
/// [`stop`](RealZooKeeper::stop)ped. It is a separate process: it does not depend on the tokio
/// runtime that started it, so one server can serve many `#[tokio::test]` runtimes.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let zk = zk_testing::RealZooKeeper::shared().await?;
/// assert_eq!(zk.four_letter_word("ruok").await?, "imok");
/// let connect: String = zk.connect_string(); // hand this to a client
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct RealZooKeeper {
    addr: SocketAddr,
    connect: String,
    /// The `secureClientPort`'s address, when started with TLS.
    secure_addr: Option<SocketAddr>,
    owned: Option<OwnedServer>,
}

/// Options for starting a [`RealZooKeeper`]; see [`RealZooKeeper::builder`].
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let zk = zk_testing::RealZooKeeper::builder().tick_ms(500).start().await?;
/// assert!(zk.four_letter_word("conf").await?.contains("tickTime=500"));
/// zk.stop().await;
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct RealZooKeeperBuilder {
    tick_ms: u32,
    max_session_timeout_ms: Option<u32>,
    container_check_interval_ms: u64,
    properties: Vec<(String, String)>,
    sasl_users: Vec<(String, String)>,
    #[cfg(feature = "tls")]
    tls: Option<RealTls>,
}

/// A real server's TLS settings ([`RealZooKeeperBuilder::tls`]).
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
struct RealTls {
    ca_pem: String,
    server: crate::tls::CertPair,
    client_auth: crate::tls::ClientAuth,
}

/// What only an owned server has. Fields drop in order: the process dies before its directory.
#[derive(Debug)]
struct OwnedServer {
    guard: Guard,
    java_pid: u32,
    data_dir: PathBuf,
    log_file: PathBuf,
    _dir: TempDir,
}

/// The `sh` guard process and the write end of its stdin pipe.
#[derive(Debug)]
pub(crate) struct Guard {
    child: Child,
}

/// One start attempt that did not produce a server.
pub(crate) enum Failure {
    /// Someone else bound the port between our probe and the server's bind: worth a retry.
    PortTaken(io::Error),
    Fatal(io::Error),
}

impl RealZooKeeper {
    /// Returns a builder; see [`RealZooKeeperBuilder`] for the options and their defaults.
    pub fn builder() -> RealZooKeeperBuilder {
        RealZooKeeperBuilder::default()
    }

    /// Starts a server with the default options.
    ///
    /// # Errors
    ///
    /// As [`RealZooKeeperBuilder::start`].
    pub async fn start() -> io::Result<RealZooKeeper> {
        Self::builder().start().await
    }

    /// The server shared by every test of this process, started on first use.
    ///
    /// If the environment variable `ZK_TEST_REAL_CONNECT` is set (for example to
    /// `127.0.0.1:2181`), that external server is used instead and nothing is started. A started
    /// server lives in a `static`, so it is never dropped: the process guard kills it when the
    /// test process exits.
    ///
    /// # Errors
    ///
    /// As [`RealZooKeeperBuilder::start`] or [`RealZooKeeper::external`]. A failed start is not
    /// cached: the next call tries again.
    pub async fn shared() -> io::Result<&'static RealZooKeeper> {
        SHARED
            .get_or_try_init(|| async {
                match std::env::var(CONNECT_ENV) {
                    Ok(connect) if !connect.trim().is_empty() => Self::external(&connect).await,
                    _ => Self::start().await,
                }
            })
            .await
    }

    /// A handle on a server that someone else runs; [`stop`](Self::stop) and drop leave it alone.
    ///
    /// `connect` is a ZooKeeper connect string; [`addr`](Self::addr) is its first host.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `connect` names no `host:port`; resolution errors otherwise.
    pub async fn external(connect: &str) -> io::Result<RealZooKeeper> {
        let hosts = connect.split('/').next().unwrap_or_default();
        let first = hosts.split(',').map(str::trim).find(|h| !h.is_empty());
        let first = first.ok_or_else(|| invalid_input(format!("no host in {connect:?}")))?;
        let addr = tokio::net::lookup_host(first).await?.next();
        let addr = addr.ok_or_else(|| invalid_input(format!("{first:?} resolves to nothing")))?;
        Ok(RealZooKeeper { addr, connect: connect.trim().to_owned(), secure_addr: None, owned: None })
    }

    /// The connect string for clients, e.g. `"127.0.0.1:40123"`.
    pub fn connect_string(&self) -> String {
        self.connect.clone()
    }

    /// The `secureClientPort`'s address, for a server started with TLS
    /// (`RealZooKeeperBuilder::tls`, feature `tls`).
    pub fn secure_addr(&self) -> Option<SocketAddr> {
        self.secure_addr
    }

    /// The server's client address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's client port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server's `dataDir`; `None` for an external server.
    pub fn data_dir(&self) -> Option<&Path> {
        self.owned.as_ref().map(|o| o.data_dir.as_path())
    }

    /// The file receiving the server's stdout and stderr; `None` for an external server.
    pub fn log_file(&self) -> Option<&Path> {
        self.owned.as_ref().map(|o| o.log_file.as_path())
    }

    /// The PID of the server's JVM; `None` for an external server.
    pub fn pid(&self) -> Option<u32> {
        self.owned.as_ref().map(|o| o.java_pid)
    }

    /// Whether this handle only points at a server it does not own.
    pub fn is_external(&self) -> bool {
        self.owned.is_none()
    }

    /// Sends a four-letter word (`ruok`, `srvr`, `conf`, `mntr`, ...) and returns the reply.
    ///
    /// # Errors
    ///
    /// As [`four_letter_word`].
    pub async fn four_letter_word(&self, word: &str) -> io::Result<String> {
        four_letter_word(self.addr, word).await
    }

    /// Kills an owned server, waits (at most 10 s) until it is gone, and removes its directory.
    /// Does nothing to an external server.
    pub async fn stop(mut self) {
        let Some(mut owned) = self.owned.take() else {
            return;
        };
        owned.guard.kill().await;
        drop(owned);
    }
}

impl Default for RealZooKeeperBuilder {
    fn default() -> Self {
        RealZooKeeperBuilder {
            tick_ms: 2000,
            max_session_timeout_ms: None,
            container_check_interval_ms: 1000,
            properties: Vec::new(),
            sasl_users: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

#[cfg(feature = "tls")]
impl RealTls {
    /// Writes the key store (key and certificate in one PEM file, as ZooKeeper's PEM loader
    /// reads it) and the trust store into `dir`; returns the `zoo.cfg` lines serving TLS on
    /// `secure_port`.
    fn write(&self, dir: &Path, secure_port: u16) -> io::Result<String> {
        use crate::tls::ClientAuth;
        let key_store = dir.join("server.pem");
        let trust_store = dir.join("ca.pem");
        fs::write(&key_store, format!("{}{}", self.server.key_pem, self.server.cert_pem))?;
        fs::write(&trust_store, &self.ca_pem)?;
        let client_auth = match self.client_auth {
            ClientAuth::None => "none",
            ClientAuth::Want => "want",
            _ => "need",
        };
        Ok(format!(
            "secureClientPort={secure_port}\nsecureClientPortAddress=127.0.0.1\n\
             serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             ssl.keyStore.location={}\nssl.keyStore.type=PEM\n\
             ssl.trustStore.location={}\nssl.trustStore.type=PEM\n\
             ssl.clientAuth={client_auth}\n",
            key_store.display(),
            trust_store.display()
        ))
    }
}

impl RealZooKeeperBuilder {
    /// `tickTime` in milliseconds (default 2000). Session timeouts are clamped by the server to
    /// `[2 * tick, 20 * tick]` unless [`max_session_timeout_ms`](Self::max_session_timeout_ms)
    /// says otherwise.
    pub fn tick_ms(mut self, tick_ms: u32) -> Self {
        self.tick_ms = tick_ms;
        self
    }

    /// `maxSessionTimeout` in milliseconds; `None` (the default) keeps the server's `20 * tick`.
    pub fn max_session_timeout_ms(mut self, max: Option<u32>) -> Self {
        self.max_session_timeout_ms = max;
        self
    }

    /// How often, in milliseconds, empty container (and expired TTL) nodes are deleted
    /// (`znode.container.checkIntervalMs`, default 1000; the server's own default is a minute).
    pub fn container_check_interval_ms(mut self, interval_ms: u64) -> Self {
        self.container_check_interval_ms = interval_ms;
        self
    }

    /// Also serve TLS on a `secureClientPort` (on `127.0.0.1`, a free port:
    /// [`RealZooKeeper::secure_addr`]) with the `server` certificate, trusting `client_ca_pem`
    /// for client certificates as `client_auth` says (feature `tls`; see
    /// [`TestCerts`](crate::tls::TestCerts)). The server then runs ZooKeeper's Netty
    /// connection factory, with its keys in PEM files, and knows a client by its certificate
    /// as `x509:<subject DN>`.
    #[cfg(feature = "tls")]
    pub fn tls(
        mut self,
        server: &crate::tls::CertPair,
        client_ca_pem: &str,
        client_auth: crate::tls::ClientAuth,
    ) -> Self {
        self.tls = Some(RealTls { ca_pem: client_ca_pem.to_owned(), server: server.clone(), client_auth });
        self
    }

    /// Accepts SASL DIGEST-MD5 logins of `username` with `password`: the server gets a JAAS
    /// `Server` section with ZooKeeper's `DigestLoginModule` and `user_<username>` entries,
    /// and the `sasl` ACL scheme. Names are ASCII letters, digits, `_` and `-`; the start
    /// fails (`InvalidInput`) for others, or for a password with `"`, `\`, `;` or a newline.
    pub fn sasl_user(mut self, username: &str, password: &str) -> Self {
        self.sasl_users.push((username.to_owned(), password.to_owned()));
        self
    }

    /// Adds a `-Dkey=value` JVM system property, after (so overriding) the harness's own.
    pub fn extra_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }

    /// Starts the server and waits (at most 60 s) until `srvr` reports `Mode: standalone`.
    ///
    /// The server listens on `127.0.0.1` on a port that was free a moment before; if another
    /// process takes that port first, the start is retried on a new one, three times at most.
    ///
    /// # Errors
    ///
    /// `NotFound` if ZooKeeper or java is not installed (the message says to run
    /// `bash scripts/zookeeper.sh`); `TimedOut` if the server is not ready in time; `Other` if
    /// it exits. The last two carry the tail of the server log.
    pub async fn start(self) -> io::Result<RealZooKeeper> {
        let java = crate::java::java()?;
        if !Path::new(ZOOKEEPER_JAR).is_file() {
            return Err(not_found(format!("{ZOOKEEPER_JAR} not found; {INSTALL_HINT}")));
        }
        let mut last = None;
        for attempt in 1..=START_ATTEMPTS {
            match self.start_once(&java).await {
                Ok(server) => return Ok(server),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::PortTaken(e)) => {
                    tracing::debug!(attempt, error = %e, "ZooKeeper port taken, retrying");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("ZooKeeper did not start")))
    }

    async fn start_once(&self, java: &Path) -> Result<RealZooKeeper, Failure> {
        let dir = tempfile::Builder::new().prefix("zk-real-").tempdir();
        let dir = dir.map_err(Failure::Fatal)?;
        let port = free_port().map_err(Failure::Fatal)?;
        let data_dir = dir.path().join("data");
        let config = dir.path().join("zoo.cfg");
        let log_file = dir.path().join("server.log");
        let pid_file = dir.path().join("java.pid");
        fs::create_dir(&data_dir).map_err(Failure::Fatal)?;
        #[allow(unused_mut)] // without feature `tls`, nothing is added
        let mut cfg = self.zoo_cfg(&data_dir, port);
        #[cfg(feature = "tls")]
        let secure_addr = match &self.tls {
            Some(tls) => {
                let secure_port = free_port().map_err(Failure::Fatal)?;
                cfg.push_str(&tls.write(dir.path(), secure_port).map_err(Failure::Fatal)?);
                Some(SocketAddr::from((Ipv4Addr::LOCALHOST, secure_port)))
            }
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        let secure_addr = None;
        fs::write(&config, cfg).map_err(Failure::Fatal)?;
        let mut command = vec![java.as_os_str().to_owned()];
        command.extend(self.jvm_args(&config, &self.write_jaas(dir.path()).map_err(Failure::Fatal)?));
        let guard = Guard::spawn(&command, &pid_file, &log_file).map_err(Failure::Fatal)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        let ready = wait_ready(guard, &pid_file, &data_dir, addr).await;
        let (guard, java_pid) = ready.map_err(|why| why.with_log(&log_file))?;
        tracing::debug!(%addr, java_pid, elapsed = ?started.elapsed(), "ZooKeeper ready");
        let owned = OwnedServer { guard, java_pid, data_dir, log_file, _dir: dir };
        Ok(RealZooKeeper { addr, connect: addr.to_string(), secure_addr, owned: Some(owned) })
    }

    fn zoo_cfg(&self, data_dir: &Path, port: u16) -> String {
        let mut cfg = format!(
            "tickTime={}\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n",
            self.tick_ms,
            data_dir.display()
        );
        cfg.push_str(TEST_CFG);
        if let Some(max) = self.max_session_timeout_ms {
            cfg.push_str(&format!("maxSessionTimeout={max}\n"));
        }
        cfg
    }

    /// With SASL users, writes a JAAS file whose `Server` section is ZooKeeper's
    /// `DigestLoginModule` with them, and returns the system properties that load it and make
    /// `sasl` a scheme ACLs can name.
    fn write_jaas(&self, dir: &Path) -> io::Result<Vec<(String, String)>> {
        if self.sasl_users.is_empty() {
            return Ok(Vec::new());
        }
        let mut jaas =
            String::from("Server {\n    org.apache.zookeeper.server.auth.DigestLoginModule required");
        for (user, password) in &self.sasl_users {
            let bad = |s: &str| s.contains(['"', '\\', '\n', ';']) || s.is_empty();
            if bad(user)
                || bad(password)
                || !user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid_input(format!(
                    "SASL user {user:?} or its password cannot go in a JAAS file"
                )));
            }
            jaas.push_str(&format!("\n    user_{user}=\"{password}\""));
        }
        jaas.push_str(";\n};\n");
        let path = dir.join("jaas.conf");
        fs::write(&path, jaas)?;
        Ok(vec![
            ("java.security.auth.login.config".to_owned(), path.display().to_string()),
            (
                "zookeeper.authProvider.sasl".to_owned(),
                "org.apache.zookeeper.server.auth.SASLAuthenticationProvider".to_owned(),
            ),
        ])
    }

    fn jvm_args(&self, config: &Path, extra: &[(String, String)]) -> Vec<OsString> {
        let interval = self.container_check_interval_ms;
        let mut properties = vec![("znode.container.checkIntervalMs".to_owned(), interval.to_string())];
        properties.extend(extra.iter().cloned());
        properties.extend(self.properties.iter().cloned());
        jvm_args(MAIN_CLASS, &properties, config)
    }
}

/// The `java` arguments that run `main_class` on `config`: the harness's JVM options and system
/// properties, then `properties` (so they override), the class path and the class.
pub(crate) fn jvm_args(main_class: &str, properties: &[(String, String)], config: &Path) -> Vec<OsString> {
    // A small heap and the serial collector start fastest. C1-only JIT
    // (-XX:TieredStopAtLevel=1) was measured: ~90 ms faster to start but ~40% fewer
    // operations per second once warm, so it is left out.
    let mut args: Vec<OsString> = ["-Xmx256m", "-XX:+UseSerialGC", "-Xshare:auto"]
        .into_iter()
        .chain(["-XX:-UsePerfData", "-Djava.net.preferIPv4Stack=true"])
        .map(OsString::from)
        .collect();
    let base = [
        ("zookeeper.extendedTypesEnabled", "true"),
        ("zookeeper.admin.enableServer", "false"),
        ("org.slf4j.simpleLogger.showDateTime", "true"),
    ];
    args.extend(base.iter().map(|(k, v)| format!("-D{k}={v}").into()));
    args.extend(properties.iter().map(|(k, v)| format!("-D{k}={v}").into()));
    let mut class_path = OsString::from(ZOOKEEPER_JAR);
    // The Netty connection factory (secureClientPort) needs two jars the manifest of
    // Debian's zookeeper.jar leaves out.
    for jar in NETTY_JARS.iter().filter(|jar| Path::new(jar).is_file()) {
        class_path.push(format!(":{jar}"));
    }
    if Path::new(LOGGER_JAR).is_file() {
        class_path.push(format!(":{LOGGER_JAR}"));
    }
    args.extend([OsString::from("-cp"), class_path, main_class.into()]);
    args.push(config.as_os_str().to_owned());
    args
}

/// Why a readiness wait ended without a server; the log tail is added by [`Self::with_log`].
enum NotReady {
    Exited,
    TimedOut,
    /// A ZooKeeper answered on our port, but with someone else's `dataDir`.
    Impostor,
    Io(io::Error),
}

impl NotReady {
    fn with_log(self, log_file: &Path) -> Failure {
        let tail = log_tail(log_file);
        let port_taken = says_port_taken(&tail);
        let error = |kind, what: &str| io::Error::new(kind, format!("{what}; server log:\n{tail}"));
        match self {
            NotReady::Impostor => {
                Failure::PortTaken(error(io::ErrorKind::AddrInUse, "another ZooKeeper took the port"))
            }
            NotReady::Exited if port_taken => {
                Failure::PortTaken(error(io::ErrorKind::AddrInUse, "ZooKeeper could not bind its port"))
            }
            NotReady::Exited => Failure::Fatal(error(io::ErrorKind::Other, "ZooKeeper exited")),
            NotReady::TimedOut => {
                Failure::Fatal(error(io::ErrorKind::TimedOut, "ZooKeeper not ready after 60 s"))
            }
            NotReady::Io(e) => Failure::Fatal(error(e.kind(), &e.to_string())),
        }
    }
}

/// Polls until the server answers `srvr` with `Mode: standalone` and `conf` with our `dataDir`.
/// On failure the guard is dropped, which kills the server.
async fn wait_ready(
    mut guard: Guard,
    pid_file: &Path,
    data_dir: &Path,
    addr: SocketAddr,
) -> Result<(Guard, u32), NotReady> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut java_pid = None;
    for _ in 0..poll_count(READY_TIMEOUT, READY_POLL) {
        if java_pid.is_none() {
            java_pid = read_pid(pid_file);
        }
        if guard.has_exited() || java_pid.is_some_and(process_exited) {
            return Err(NotReady::Exited);
        }
        if let (Some(pid), Ok(srvr)) = (java_pid, probe(addr, "srvr").await) {
            if srvr.lines().any(|l| l.trim() == "Mode: standalone") {
                let conf = probe(addr, "conf").await.map_err(NotReady::Io)?;
                if !conf.contains(&data_dir.display().to_string()) {
                    return Err(NotReady::Impostor);
                }
                return Ok((guard, pid));
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        sleep(READY_POLL).await;
    }
    Err(NotReady::TimedOut)
}

/// [`four_letter_word`] with a 2 s limit, for polling.
pub(crate) async fn probe(addr: SocketAddr, word: &str) -> io::Result<String> {
    match timeout(PROBE_TIMEOUT, four_letter_word(addr, word)).await {
        Ok(reply) => reply,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// Sends a four-letter word to the server at `addr` over a fresh TCP connection and returns
/// everything the server writes before closing it.
///
/// # Errors
///
/// `InvalidInput` if `word` is not four ASCII characters; `TimedOut` if the exchange takes more
/// than 10 s; connection errors as they come.
pub async fn four_letter_word(addr: SocketAddr, word: &str) -> io::Result<String> {
    if word.len() != 4 || !word.is_ascii() {
        return Err(invalid_input(format!("{word:?} is not a four-letter word")));
    }
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(word.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    match timeout(FOUR_LETTER_TIMEOUT, exchange).await {
        Ok(reply) => reply,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no reply to {word:?} from {addr} within 10 s"),
        )),
    }
}

impl Guard {
    /// Starts `command` under the guard script, its output (and the guard's) appended to `log`
    /// (a restarted ensemble member keeps its earlier runs' lines).
    pub(crate) fn spawn(command: &[OsString], pid_file: &Path, log: &Path) -> io::Result<Guard> {
        let log = OpenOptions::new().create(true).append(true).open(log)?;
        // std creates the pipe close-on-exec: no other child of ours inherits its write end.
        let child = Command::new("sh")
            .arg("-c")
            .arg(GUARD_SCRIPT)
            .arg("zk-guard")
            .arg(pid_file)
            .args(command)
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Guard { child })
    }

    /// Closes the pipe: the guard kills the server, reaps it and exits.
    pub(crate) fn release(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Releases the guard and waits (at most 10 s) until it has killed and reaped the server.
    /// Anything left is handled, synchronously, by `Guard::drop`.
    pub(crate) async fn kill(&mut self) {
        self.release();
        for _ in 0..poll_count(STOP_TIMEOUT, STOP_POLL) {
            if self.has_exited() {
                break;
            }
            sleep(STOP_POLL).await;
        }
    }

    pub(crate) fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.release();
        // Synchronous by necessity; SIGKILL makes this a matter of milliseconds.
        for _ in 0..poll_count(STOP_TIMEOUT, STOP_POLL) {
            if self.has_exited() {
                return;
            }
            std::thread::sleep(STOP_POLL);
        }
        tracing::warn!(guard_pid = self.child.id(), "ZooKeeper guard did not exit; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free when we looked; see the retry in [`RealZooKeeperBuilder::start`].
fn free_port() -> io::Result<u16> {
    Ok(free_ports(1)?[0])
}

/// `count` distinct loopback ports that were free when we looked (all bound at once, so the
/// kernel cannot hand out one twice).
pub(crate) fn free_ports(count: usize) -> io::Result<Vec<u16>> {
    let listeners: Vec<_> =
        (0..count).map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0))).collect::<io::Result<_>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// The PID the guard wrote, once the whole line is there.
pub(crate) fn read_pid(pid_file: &Path) -> Option<u32> {
    let text = fs::read_to_string(pid_file).ok()?;
    text.strip_suffix('\n')?.trim().parse().ok()
}

/// Whether `pid` is gone or a zombie (Linux `/proc`; the guard reaps it only when told to).
pub(crate) fn process_exited(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state letter follows the parenthesised command name, which may contain spaces.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// The last few KiB of the server log, for error messages.
pub(crate) fn log_tail(log_file: &Path) -> String {
    let Ok(bytes) = fs::read(log_file) else {
        return format!("({} unreadable)", log_file.display());
    };
    let start = bytes.len().saturating_sub(LOG_TAIL_BYTES as usize);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

pub(crate) fn poll_count(total: Duration, every: Duration) -> u128 {
    total.as_millis() / every.as_millis().max(1) + 1
}

/// Whether a server log tail says a port was already bound by someone else.
pub(crate) fn says_port_taken(log_tail: &str) -> bool {
    log_tail.contains("Address already in use") || log_tail.contains("BindException")
}

pub(crate) fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoo_cfg_has_the_options() {
        let builder = RealZooKeeper::builder().tick_ms(500).max_session_timeout_ms(Some(3000));
        let cfg = builder.zoo_cfg(Path::new("/tmp/x"), 4242);
        for line in ["tickTime=500", "dataDir=/tmp/x", "clientPort=4242"] {
            assert!(cfg.lines().any(|l| l == line), "{line} missing from {cfg}");
        }
        assert!(cfg.contains("clientPortAddress=127.0.0.1\n"));
        assert!(cfg.contains("maxSessionTimeout=3000\n"));
        assert!(!RealZooKeeper::builder().zoo_cfg(Path::new("/d"), 1).contains("maxSessionTimeout"));
    }

    #[test]
    fn extra_properties_come_last() {
        let builder = RealZooKeeper::builder()
            .container_check_interval_ms(250)
            .extra_property("znode.container.checkIntervalMs", "99");
        let args = builder.jvm_args(Path::new("/c/zoo.cfg"), &[]);
        let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        let first = args.iter().position(|a| a == "-Dznode.container.checkIntervalMs=250");
        let extra = args.iter().position(|a| a == "-Dznode.container.checkIntervalMs=99");
        assert!(first.unwrap() < extra.unwrap(), "{args:?}");
        assert_eq!(args.last().map(|a| a.as_ref()), Some("/c/zoo.cfg"));
    }

    #[test]
    fn pid_file_needs_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pid");
        assert_eq!(read_pid(&file), None);
        fs::write(&file, "123").unwrap();
        assert_eq!(read_pid(&file), None);
        fs::write(&file, "123\n").unwrap();
        assert_eq!(read_pid(&file), Some(123));
    }

    #[test]
    fn own_process_is_alive() {
        assert!(!process_exited(std::process::id()));
    }
}
