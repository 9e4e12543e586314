//! The connection I/O, on its own: framing, the handshake's first frame, a reader that hands
//! each request frame to the server's synchronous core, and a writer draining an ordered
//! outgoing queue (events before the reply that observes them, §7.7). It knows the server
//! only through [`Endpoint`], so a standalone server and each member of an ensemble share it.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::BytesMut;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, timeout, Instant};
use zk_core::proto::{four_letter_word, peek_frame, ConnectRequest, Record};
use zk_core::{BoxReader, BoxWriter, Connector};

use crate::proxy::ACCEPT_BACKOFF;
use crate::state::ConnId;

/// What the connection I/O needs of a server: the synchronous core behind it.
pub(crate) trait Endpoint: Send + Sync + 'static {
    /// The largest frame accepted.
    fn max_frame(&self) -> usize;
    /// Whether new connections are accepted at all (false while down).
    fn accepting(&self) -> bool;
    /// The text answer to a four-letter word.
    fn four_letter_word(&self, word: &str) -> String;
    /// Until when a connect request of `session` is held (a partition), if it is.
    fn held_until(&self, session: i64) -> Option<Instant>;
    /// Signalled when partitions start or are extended.
    fn partition_changes(&self) -> watch::Receiver<()>;
    /// Settles the session of a new connection (§2.4); `None` = close without a reply.
    fn handshake(&self, handle: ConnHandle, req: &ConnectRequest) -> Option<ConnId>;
    /// One request frame of `conn`.
    fn dispatch(&self, conn: ConnId, body: &[u8]) -> Flow;
    /// The connection's reader ended (its session lives on until expiry).
    fn connection_gone(&self, conn: ConnId, flow: Flow);
}

/// A frame or a graceful close, in the order they must reach the client.
#[derive(Debug)]
pub(crate) enum Out {
    Frame {
        bytes: Vec<u8>,
        not_before: Instant,
    },
    /// Close after everything queued before it.
    Close,
}

/// The server's handle on a live connection.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    pub(crate) tx: mpsc::UnboundedSender<Out>,
    pub(crate) session: i64,
    pub(crate) peer: String,
    /// Abrupt close: both directions stop at once, queued frames are lost (a network cut).
    pub(crate) kill: watch::Sender<bool>,
    /// While set and in the future, no bytes move in either direction (a partition).
    pub(crate) paused_until: watch::Sender<Option<Instant>>,
    pub(crate) received: u64,
    pub(crate) sent: u64,
    pub(crate) last_op: &'static str,
    pub(crate) established: Instant,
}

impl ConnHandle {
    /// Queues a frame for the client.
    pub(crate) fn send(&mut self, bytes: Vec<u8>, not_before: Instant) {
        self.sent += 1;
        let _ = self.tx.send(Out::Frame { bytes, not_before });
    }

    /// Closes after the frames already queued.
    pub(crate) fn close(&self) {
        let _ = self.tx.send(Out::Close);
    }

    /// Freezes the connection until `until`, or longer if it already is: overlapping pauses
    /// and partitions add up to the latest of their deadlines, none shortens another.
    pub(crate) fn freeze_until(&self, until: Instant) {
        self.paused_until.send_if_modified(|current| {
            let later = current.is_none_or(|t| t < until);
            if later {
                *current = Some(until);
            }
            later
        });
    }
}

/// What happens to a connection after one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep reading.
    Continue,
    /// Stop reading; close after the frames already queued (a reply, then close).
    Close,
    /// Cut now; queued frames are lost (a network failure).
    Kill,
}

/// How long a connection may stay without a session (§11).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection until it closes. `peer` is the client's IP (for the `ip` ACL
/// scheme and `whoAmI`).
pub(crate) async fn serve<E, R, W>(server: Arc<E>, mut reader: R, mut writer: W, peer: String)
where
    E: Endpoint + ?Sized,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let max = server.max_frame();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let first = match timeout(HANDSHAKE_TIMEOUT, read_first(&mut reader, &mut buf, max)).await {
        Ok(Ok(First::Word(word))) => {
            let text = server.four_letter_word(word);
            let _ = writer.write_all(text.as_bytes()).await;
            let _ = writer.shutdown().await;
            return;
        }
        Ok(Ok(First::Connect(req))) => req,
        _ => return,
    };
    // A partitioned session's connect request does not reach the server until the partition
    // heals (by then the session may have expired).
    if !held_while_partitioned(&*server, first.session_id).await {
        return;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let (kill_tx, kill_rx) = watch::channel(false);
    let (pause_tx, pause_rx) = watch::channel(None);
    let handle = ConnHandle {
        tx,
        session: 0,
        peer: peer.clone(),
        kill: kill_tx,
        paused_until: pause_tx,
        received: 1,
        sent: 0,
        last_op: "NA",
        established: Instant::now(),
    };
    let Some(conn) = server.handshake(handle, &first) else {
        // Refused without a reply (zxid ahead of ours, or shutting down): just close.
        return;
    };
    let writer_task = tokio::spawn(write_loop(writer, rx, kill_rx.clone(), pause_rx.clone()));
    let flow = read_loop(&*server, conn, &mut reader, buf, kill_rx, pause_rx).await;
    server.connection_gone(conn, flow);
    let _ = writer_task.await;
}

/// How many times a held connect request follows a change of the partitions before it gives
/// up and closes (each change wakes every held request, so this bounds the loop, not time).
const MAX_PARTITION_CHANGES: usize = 100_000;

/// Holds a connect request of a partitioned session until its partition heals, following
/// partitions that are extended meanwhile. False if it gave up: the connection is closed,
/// never let through early.
async fn held_while_partitioned<E: Endpoint + ?Sized>(server: &E, session: i64) -> bool {
    let mut changes = server.partition_changes();
    for _ in 0..MAX_PARTITION_CHANGES {
        let until = server.held_until(session);
        match until {
            Some(t) if t > Instant::now() => {
                tokio::select! {
                    () = sleep_until(t) => {}
                    r = changes.changed() => if r.is_err() { return false },
                }
            }
            _ => return true,
        }
    }
    false
}

enum First {
    Word(&'static str),
    Connect(ConnectRequest),
}

async fn read_first<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> std::io::Result<First> {
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    while buf.len() < 4 {
        if r.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    if let Some(word) = four_letter_word(&buf[..4]) {
        return Ok(First::Word(word));
    }
    loop {
        if let Some(n) = peek_frame(buf, max).map_err(|e| invalid(e.to_string()))? {
            let frame = buf.split_to(n);
            return ConnectRequest::decode(&mut &frame[4..])
                .map(First::Connect)
                .map_err(|e| invalid(e.to_string()));
        }
        if r.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Resolves once the connection is killed; never if its handle went away without a kill
/// (a graceful close lets the writer flush what is queued).
async fn killed(kill: &mut watch::Receiver<bool>) {
    loop {
        if *kill.borrow_and_update() {
            return;
        }
        if kill.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Waits while the connection is paused.
async fn unpaused(pause: &mut watch::Receiver<Option<Instant>>) {
    loop {
        let until = *pause.borrow_and_update();
        match until {
            Some(t) if t > Instant::now() => {
                tokio::select! {
                    () = sleep_until(t) => {}
                    r = pause.changed() => if r.is_err() { return },
                }
            }
            _ => return,
        }
    }
}

async fn read_loop<E: Endpoint + ?Sized, R: AsyncRead + Unpin>(
    server: &E,
    conn: ConnId,
    reader: &mut R,
    mut buf: BytesMut,
    mut kill: watch::Receiver<bool>,
    mut pause: watch::Receiver<Option<Instant>>,
) -> Flow {
    let max = server.max_frame();
    loop {
        // Whole frames already buffered (clients pipeline right after the handshake).
        loop {
            match peek_frame(&buf, max) {
                Ok(Some(n)) => {
                    unpaused(&mut pause).await;
                    if *kill.borrow() {
                        return Flow::Kill;
                    }
                    let frame = buf.split_to(n);
                    match server.dispatch(conn, &frame[4..]) {
                        Flow::Continue => {}
                        stop => return stop,
                    }
                }
                Ok(None) => break,
                // A bad length closes the connection with no reply (§1.1).
                Err(_) => return Flow::Close,
            }
        }
        tokio::select! {
            r = reader.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => return Flow::Close,
                Ok(_) => {}
            },
            () = killed(&mut kill) => return Flow::Kill,
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut w: W,
    mut rx: mpsc::UnboundedReceiver<Out>,
    mut kill: watch::Receiver<bool>,
    mut pause: watch::Receiver<Option<Instant>>,
) {
    let mut batch = Vec::with_capacity(64 * 1024);
    let mut held: Option<Out> = None;
    loop {
        let out = match held.take() {
            Some(o) => o,
            None => tokio::select! {
                o = rx.recv() => match o { Some(o) => o, None => break },
                () = killed(&mut kill) => return,
            },
        };
        let (bytes, not_before) = match out {
            Out::Close => break,
            Out::Frame { bytes, not_before } => (bytes, not_before),
        };
        if not_before > Instant::now() {
            tokio::select! {
                () = sleep_until(not_before) => {}
                () = killed(&mut kill) => return,
            }
        }
        batch.extend_from_slice(&bytes);
        // Gather what is ready so a pipelined burst goes out in few writes.
        let mut closing = false;
        while batch.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(Out::Frame { bytes, not_before }) if not_before <= Instant::now() => {
                    batch.extend_from_slice(&bytes)
                }
                Ok(Out::Close) => {
                    closing = true;
                    break;
                }
                Ok(other) => {
                    held = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        tokio::select! {
            () = unpaused(&mut pause) => {}
            () = killed(&mut kill) => return,
        }
        if *kill.borrow() {
            return;
        }
        let ok = tokio::select! {
            r = w.write_all(&batch) => r.is_ok(),
            () = killed(&mut kill) => return,
        };
        batch.clear();
        if !ok || closing {
            break;
        }
    }
    let _ = w.shutdown().await;
}

/// Accepts connections until aborted, handing each (with `TCP_NODELAY`) to `serve`: the plain
/// listener's [`serve_plain`], the TLS listener's handshake first.
pub(crate) async fn accept_loop<E, F>(server: Weak<E>, listener: TcpListener, serve: F)
where
    E: Endpoint + ?Sized,
    F: Fn(Arc<E>, TcpStream, SocketAddr),
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Say, out of file descriptors: pause so the loop cannot spin.
                tracing::warn!(error = %e, "test server accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(server) = server.upgrade() else { return };
        if !server.accepting() {
            // Down (a killed ensemble member): closed at once, as a refused connection is.
            continue;
        }
        let _ = stream.set_nodelay(true);
        serve(server, stream, peer);
    }
}

/// Serves a plain TCP connection on a task of its own.
pub(crate) fn serve_plain<E: Endpoint + ?Sized>(server: Arc<E>, stream: TcpStream, peer: SocketAddr) {
    let (r, w) = stream.into_split();
    tokio::spawn(serve(server, r, w, peer.ip().to_string()));
}

/// Connects zk-core clients to a server through in-memory pipes (no sockets; tokio's clock).
/// `pick` chooses the server for the host name the client asks for (`None`: refused).
pub(crate) struct InProcess<F>(pub(crate) F);

impl<F> std::fmt::Debug for InProcess<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcess")
    }
}

impl<F> Connector for InProcess<F>
where
    F: Fn(&str) -> Option<Arc<dyn Endpoint>> + Send + Sync + 'static,
{
    fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<(BoxReader, BoxWriter)>> {
        Box::pin(async move {
            let server = (self.0)(host).filter(|s| s.accepting()).ok_or(io::ErrorKind::ConnectionRefused)?;
            let (client, end) = tokio::io::duplex(256 * 1024);
            let (sr, sw) = tokio::io::split(end);
            tokio::spawn(serve(server, sr, sw, "127.0.0.1".to_owned()));
            let (cr, cw) = tokio::io::split(client);
            Ok((Box::new(cr) as BoxReader, Box::new(cw) as BoxWriter))
        })
    }
}
