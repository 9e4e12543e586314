//! A fault-injecting TCP proxy on the loopback interface.
//!
//! Every accepted connection gets its own task that opens a connection to the upstream server
//! and pumps bytes both ways. The tasks live in a `JoinSet` owned by the accept task, and the
//! accept task is aborted when the [`TcpProxy`] is dropped: aborting it drops the set, which
//! aborts every connection task and so closes every socket.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep, timeout};

const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (say, out of file descriptors) so the loop cannot spin.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
const BUFFER_SIZE: usize = 16 * 1024;

/// A loopback TCP proxy in front of one server, with switches for the faults a client must
/// survive: dropped connections, a network partition, and a server that turns clients away.
///
/// Point clients at [`connect_string`](TcpProxy::connect_string) instead of the server. Every
/// control takes `&self` and acts on live connections. The proxy runs as tasks on the tokio
/// runtime that started it; dropping it closes the listener and every proxied connection.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let zk = zk_testing::RealZooKeeper::shared().await?;
/// let proxy = zk_testing::TcpProxy::start(zk.addr()).await?;
/// // ... connect a client to proxy.connect_string() ...
/// proxy.set_stalled(true); // the client hears nothing: its session starts to time out
/// proxy.set_stalled(false);
/// proxy.cut_all(); // the client sees a connection loss and reconnects
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

/// State shared by the handle, the accept task and the connection tasks.
#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    stalled: watch::Sender<bool>,
    /// Bumped by `cut_all`; each connection ends at the first bump after it was accepted.
    cuts: watch::Sender<u64>,
    refusing: AtomicBool,
    open: AtomicUsize,
    accepted: AtomicU64,
}

/// Counts a connection as open for as long as its task (or the task's unpolled future) lives.
#[derive(Debug)]
struct OpenConnection(Arc<Shared>);

impl TcpProxy {
    /// Listens on `127.0.0.1` on a free port and forwards every connection to `upstream`.
    ///
    /// Must be called within a tokio runtime with I/O and time enabled.
    ///
    /// # Errors
    ///
    /// Errors from binding the listening socket.
    pub async fn start(upstream: SocketAddr) -> io::Result<TcpProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            stalled: watch::Sender::new(false),
            cuts: watch::Sender::new(0),
            refusing: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        tracing::debug!(%addr, %upstream, "proxy started");
        Ok(TcpProxy { addr, upstream, shared, accept_task })
    }

    /// The address clients should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connect string for clients, e.g. `"127.0.0.1:40124"`.
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// The server behind the proxy.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Closes every current connection, on both sides, without forwarding anything still in
    /// flight. Clients see end-of-file (a connection loss); the server sees the client leave.
    /// Connections accepted afterwards are not affected.
    pub fn cut_all(&self) {
        tracing::debug!(open = self.connections(), "proxy cutting all connections");
        self.shared.cuts.send_modify(|generation| *generation += 1);
    }

    /// Stops (`true`) or resumes (`false`) forwarding in both directions, on current and new
    /// connections, while keeping every socket open: a network partition. Bytes read while
    /// stalled are held and delivered, in order, on resumption; so is an end-of-file.
    pub fn set_stalled(&self, stalled: bool) {
        tracing::debug!(stalled, "proxy stall switched");
        self.shared.stalled.send_replace(stalled);
    }

    /// While `true`, new connections are accepted and closed at once, before anything is
    /// forwarded. Current connections are not affected.
    pub fn set_refusing(&self, refusing: bool) {
        tracing::debug!(refusing, "proxy refusal switched");
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Ends the session of `client`, a client connected through this proxy, as an expiry on
    /// the server behind it would: works on a real ZooKeeper, which has no call for it.
    ///
    /// While the proxy refuses new connections (so `client` cannot win its session back by
    /// reconnecting), a second client attaches to the session directly with its id and
    /// password, which makes the server close `client`'s connection, and closes the session.
    /// Then refusals stop: `client` reconnects and hears that its session expired, and its
    /// ephemeral nodes are gone. On [`TestServer`](crate::TestServer),
    /// [`TestServer::expire_session`](crate::TestServer::expire_session) is simpler.
    ///
    /// # Errors
    /// The second client's connect error (for example [`zk_core::Error::SessionExpired`]
    /// when the session had already ended).
    pub async fn expire_session(&self, client: &zk_core::Client) -> zk_core::Result<()> {
        let out = self.expire_session_and_refuse(client).await;
        self.set_refusing(false);
        out
    }

    /// As [`TcpProxy::expire_session`], but the proxy goes on refusing new connections:
    /// `client` stays away (and does not hear of the expiry) until
    /// [`set_refusing(false)`](TcpProxy::set_refusing), so a test can change things or
    /// watch others react first.
    ///
    /// # Errors
    /// As [`TcpProxy::expire_session`].
    pub async fn expire_session_and_refuse(&self, client: &zk_core::Client) -> zk_core::Result<()> {
        self.set_refusing(true);
        let attach = zk_core::Client::builder(&self.upstream.to_string())
            .session(client.session_id(), &client.session_password())
            .connect()
            .await;
        let out = match attach {
            Ok(twin) => {
                twin.close().await;
                Ok(())
            }
            Err(e) => Err(e),
        };
        out
    }

    /// How many proxied connections are open now (refused ones never count).
    pub fn connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// How many connections the proxy has accepted so far, refused ones included.
    pub fn total_accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl OpenConnection {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.open.fetch_add(1, Ordering::SeqCst);
        OpenConnection(Arc::clone(shared))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts until aborted by `TcpProxy::drop`, which also ends every connection task.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    shared.accepted.fetch_add(1, Ordering::SeqCst);
                    if shared.refusing.load(Ordering::SeqCst) {
                        tracing::debug!(%peer, "proxy refused a connection");
                        drop(client);
                        continue;
                    }
                    let open = OpenConnection::new(&shared);
                    // Subscribing here marks the current generation as seen: only later cuts count.
                    let cuts = shared.cuts.subscribe();
                    connections.spawn(forward(client, open, cuts));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "proxy accept failed");
                    sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reap finished tasks so the set does not grow with every connection.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Connects to the upstream server and pumps bytes both ways until either side closes or
/// fails, or a cut arrives; then drops (closes) both sockets.
async fn forward(client: TcpStream, open: OpenConnection, mut cuts: watch::Receiver<u64>) {
    let shared = Arc::clone(&open.0);
    let connect = timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(shared.upstream));
    let server = tokio::select! {
        connected = connect => match connected {
            Ok(Ok(server)) => server,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "proxy upstream connect failed");
                return;
            }
            Err(_) => {
                tracing::debug!("proxy upstream connect timed out");
                return;
            }
        },
        _ = cuts.changed() => return,
    };
    // Small frames are the norm for ZooKeeper: do not let Nagle add latency the test didn't ask for.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, shared.stalled.subscribe());
    let down = pump(server_read, client_write, shared.stalled.subscribe());
    tokio::select! {
        done = async { tokio::try_join!(up, down) } => {
            if let Err(e) = done {
                tracing::debug!(error = %e, "proxied connection failed");
            }
        }
        _ = cuts.changed() => tracing::debug!("proxied connection cut"),
    }
}

/// Copies one direction until end-of-file (passed on as a write shutdown) or an error,
/// holding everything while the proxy is stalled.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut buffer = vec![0; BUFFER_SIZE];
    loop {
        wait_until_flowing(&mut stalled).await;
        let n = from.read(&mut buffer).await?;
        // A read that was under way when the stall began is held here until it ends.
        wait_until_flowing(&mut stalled).await;
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buffer[..n]).await?;
    }
}

async fn wait_until_flowing(stalled: &mut watch::Receiver<bool>) {
    // An error means the proxy is gone, and this task is about to be aborted anyway.
    let _ = stalled.wait_for(|stalled| !stalled).await;
}
