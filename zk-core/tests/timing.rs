//! Session timers on tokio's paused clock, over an in-memory transport: pings at a third of
//! the negotiated timeout, a read timeout at two thirds, reconnect with the same session.
//!
//! A scripted fake server answers the handshake and pings; the test reads the paused clock
//! when each frame arrives, so the assertions are exact and the test takes milliseconds.
//! Another one answers with malformed replies, as a hostile server would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use zk_core::proto::{
    peek_frame, write_frame, ConnectRequest, ConnectResponse, MultiResponse, OpCode, Record, ReplyHeader,
    RequestHeader, XID_PING,
};
use zk_core::{
    BoxReader, BoxWriter, Client, Connector, OnExpiry, Op, ReadOp, SessionEvent, SessionEvents, SessionState,
};

/// Hands each new connection's server side to the test.
#[derive(Debug)]
struct Duplexes(mpsc::UnboundedSender<DuplexStream>);

impl Connector for Duplexes {
    fn connect<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, std::io::Result<(BoxReader, BoxWriter)>> {
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(64 * 1024);
            self.0.send(server).map_err(|_| std::io::Error::other("no server"))?;
            let (r, w) = tokio::io::split(client);
            Ok((Box::new(r) as BoxReader, Box::new(w) as BoxWriter))
        })
    }
}

async fn read_frame(s: &mut DuplexStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(n) = peek_frame(buf, 1 << 20).unwrap() {
            let frame = buf[4..n].to_vec();
            buf.drain(..n);
            return Some(frame);
        }
        let mut chunk = [0u8; 4096];
        let k = s.read(&mut chunk).await.ok()?;
        if k == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..k]);
    }
}

/// Reads the client's connect request from `s` and grants session `session_id` with
/// `timeout_ms`; returns the request.
async fn handshake(
    s: &mut DuplexStream,
    buf: &mut Vec<u8>,
    session_id: i64,
    timeout_ms: i32,
) -> ConnectRequest {
    let hello = read_frame(s, buf).await.expect("connect request");
    let req = ConnectRequest::decode(&mut &hello[..]).unwrap();
    let resp = ConnectResponse {
        protocol_version: 0,
        timeout_ms,
        session_id,
        passwd: vec![7; 16],
        read_only: req.read_only.map(|_| false),
    };
    let mut out = Vec::new();
    write_frame(&mut out, |b| resp.encode(b));
    s.write_all(&out).await.unwrap();
    req
}

/// The client's session events, after the first one, which says it is connected.
async fn events_of(client: &Client) -> SessionEvents {
    let mut events = client.session_events();
    assert_eq!(events.next_event().await, Some(SessionEvent::Connected), "the stream starts with the state");
    events
}

/// Serves one connection: handshake with `timeout_ms`, then answers the first `answer` pings
/// and ignores the rest (a server gone silent), recording the clock time of each ping. Any
/// other request is answered NONODE (an `exists` then returns `None`).
async fn serve(
    mut s: DuplexStream,
    session_id: i64,
    timeout_ms: i32,
    pings: Arc<Mutex<Vec<Instant>>>,
    answer: usize,
) {
    let mut buf = Vec::new();
    let req = handshake(&mut s, &mut buf, session_id, timeout_ms).await;
    assert!(req.session_id == 0 || req.session_id == session_id, "resumes our session");
    while let Some(frame) = read_frame(&mut s, &mut buf).await {
        let hdr = RequestHeader::decode(&mut &frame[..]).unwrap();
        if hdr.xid == XID_PING && hdr.op_type == OpCode::Ping.code() {
            let n = {
                let mut p = pings.lock().unwrap();
                p.push(Instant::now());
                p.len()
            };
            if n <= answer {
                let mut out = Vec::new();
                write_frame(&mut out, |b| ReplyHeader { xid: XID_PING, zxid: 0, err: 0 }.encode(b));
                s.write_all(&out).await.unwrap();
            }
        } else {
            let mut out = Vec::new();
            write_frame(&mut out, |b| ReplyHeader { xid: hdr.xid, zxid: 1, err: -101 }.encode(b));
            s.write_all(&out).await.unwrap();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn pings_at_a_third_and_read_timeout_at_two_thirds() {
    let (tx, mut conns) = mpsc::unbounded_channel();
    let pings = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let connect = {
        let c = Client::builder("in-memory:2181")
            .session_timeout(Duration::from_secs(30))
            .connector(Arc::new(Duplexes(tx)))
            .connect();
        tokio::spawn(c)
    };
    // First connection: answers three pings, then goes silent without closing.
    let first = conns.recv().await.unwrap();
    let _server = tokio::spawn(serve(first, 0x42, 30_000, pings.clone(), 3));
    let client = connect.await.unwrap().unwrap();
    assert_eq!((client.session_id(), client.session_timeout()), (0x42, Duration::from_secs(30)));
    let mut events = events_of(&client).await;

    // Idle connection: a ping every T/3 = 10 s.
    tokio::time::sleep(Duration::from_secs(35)).await;
    let seen: Vec<Duration> = pings.lock().unwrap().iter().map(|t| *t - start).collect();
    assert_eq!(seen, vec![Duration::from_secs(10), Duration::from_secs(20), Duration::from_secs(30)]);
    assert_eq!(client.state(), SessionState::Connected);

    // The last reply came at 30 s; with nothing heard for 2T/3 = 20 s the connection is given
    // up at exactly 50 s (the unanswered ping at 40 s changes nothing).
    assert_eq!(events.next_event().await, Some(SessionEvent::Disconnected));
    assert_eq!(Instant::now() - start, Duration::from_secs(50));
    assert_eq!(pings.lock().unwrap().len(), 4);

    // The client reconnects at once and resumes the same session.
    let second = conns.recv().await.unwrap();
    let pings2 = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve(second, 0x42, 30_000, pings2.clone(), usize::MAX));
    assert_eq!(events.next_event().await, Some(SessionEvent::Reconnected));
    assert_eq!(Instant::now() - start, Duration::from_secs(50));
    assert_eq!(client.session_id(), 0x42);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(pings2.lock().unwrap().len(), 1, "pings resume on the new connection");
}

#[tokio::test(start_paused = true)]
async fn unreachable_session_expires_locally_after_the_session_timeout() {
    let (tx, mut conns) = mpsc::unbounded_channel();
    let start = Instant::now();
    let connect = tokio::spawn(
        Client::builder("in-memory:2181")
            .session_timeout(Duration::from_secs(12))
            .connector(Arc::new(Duplexes(tx)))
            .local_expiry()
            .on_expiry(OnExpiry::End)
            .connect(),
    );
    let first = conns.recv().await.unwrap();
    let pings = Arc::new(Mutex::new(Vec::new()));
    let server = tokio::spawn(serve(first, 7, 12_000, pings, usize::MAX));
    let client = connect.await.unwrap().unwrap();
    let mut events = events_of(&client).await;
    // The server dies; every reconnect attempt is then accepted by the transport but the
    // handshake is never answered (the test drops each new server side at once).
    server.abort();
    assert_eq!(events.next_event().await, Some(SessionEvent::Disconnected));
    let lost_at = Instant::now();
    let drain = tokio::spawn(async move { while conns.recv().await.is_some() {} });
    assert_eq!(events.next_event().await, Some(SessionEvent::Expired));
    // Nothing heard since the handshake at time 0... the last reply was at connect time, so
    // the session is declared expired one session timeout after it.
    assert_eq!(Instant::now() - start, Duration::from_secs(12));
    assert!(lost_at - start < Duration::from_secs(1));
    assert_eq!(client.state(), SessionState::Expired);
    assert_eq!(client.exists("/").await, Err(zk_core::Error::SessionExpired));
    assert_eq!(events.next_event().await, None, "the stream ends after a terminal event");
    drain.abort();
}

/// Connects a client with a 12 s session timeout to a scripted server granting session 7,
/// whose server task is returned so the test can kill it.
async fn client_of_session_7(
    tx: mpsc::UnboundedSender<DuplexStream>,
    conns: &mut mpsc::UnboundedReceiver<DuplexStream>,
    builder: impl FnOnce(zk_core::ClientBuilder) -> zk_core::ClientBuilder,
) -> (Client, tokio::task::JoinHandle<()>) {
    let b = Client::builder("in-memory:2181").session_timeout(Duration::from_secs(12));
    let connect = tokio::spawn(builder(b.connector(Arc::new(Duplexes(tx)))).connect());
    let first = conns.recv().await.unwrap();
    let server = tokio::spawn(serve(first, 7, 12_000, Arc::new(Mutex::new(Vec::new())), usize::MAX));
    (connect.await.unwrap().unwrap(), server)
}

/// Refuses every connection (drops its server side at once) until `until`, then serves the
/// next one as a server granting `session_id`.
async fn refuse_until(mut conns: mpsc::UnboundedReceiver<DuplexStream>, until: Instant, session_id: i64) {
    while let Some(c) = conns.recv().await {
        if Instant::now() >= until {
            serve(c, session_id, 12_000, Arc::new(Mutex::new(Vec::new())), usize::MAX).await;
            return;
        }
    }
}

/// No server answers for longer than the session timeout: the client does not decide the
/// session expired, says when the timeout has passed, fails requests after the queue timeout,
/// and resumes the same session when a server that kept it answers again (as an ensemble
/// that lost its quorum does).
#[tokio::test(start_paused = true)]
async fn an_unreachable_session_is_kept_and_the_timeout_announced() {
    let (tx, mut conns) = mpsc::unbounded_channel();
    let start = Instant::now();
    let queue = Duration::from_secs(3);
    let (client, server) = client_of_session_7(tx, &mut conns, |b| b.queue_timeout(queue)).await;
    let mut events = events_of(&client).await;
    server.abort();
    assert_eq!(events.next_event().await, Some(SessionEvent::Disconnected));
    let back_at = start + Duration::from_secs(40);
    tokio::spawn(refuse_until(conns, back_at, 7));
    // Issued while disconnected: fails after exactly the queue timeout, never waits longer.
    let issued = Instant::now();
    assert_eq!(client.exists("/").await, Err(zk_core::Error::ConnectionLoss));
    assert_eq!(Instant::now() - issued, queue);
    // Nothing heard since the handshake at 0: announced at one session timeout, no expiry.
    assert_eq!(events.next_event().await, Some(SessionEvent::TimeoutElapsed));
    assert_eq!(Instant::now() - start, Duration::from_secs(12));
    assert_eq!(client.state(), SessionState::TimeoutElapsed);
    assert_eq!(client.session_id(), 7);
    // The server is back with the session: resumed, same id, same epoch.
    assert_eq!(events.next_event().await, Some(SessionEvent::Reconnected));
    assert!(Instant::now() >= back_at);
    let status = client.status();
    assert_eq!((status.state, status.session_id, status.epoch), (SessionState::Connected, 7, 0));
    assert_eq!(client.exists("/").await, Ok(None));
}

/// With the opt-in local deadline, the client declares the expiry itself at one session
/// timeout, then (renewing by default) opens a new session.
#[tokio::test(start_paused = true)]
async fn a_local_expiry_is_followed_by_a_new_session() {
    let (tx, mut conns) = mpsc::unbounded_channel();
    let start = Instant::now();
    let (client, server) = client_of_session_7(tx, &mut conns, |b| b.local_expiry()).await;
    let mut events = events_of(&client).await;
    let mut states = client.state_watch();
    server.abort();
    assert_eq!(events.next_event().await, Some(SessionEvent::Disconnected));
    tokio::spawn(refuse_until(conns, start + Duration::from_secs(20), 8));
    assert_eq!(events.next_event().await, Some(SessionEvent::Expired));
    assert_eq!(Instant::now() - start, Duration::from_secs(12));
    let expired = client.status();
    assert_eq!((expired.state, expired.session_id, expired.epoch), (SessionState::Connecting, 0, 1));
    assert!(expired.has_ended(0) && !expired.has_ended(1));
    assert_eq!(events.next_event().await, Some(SessionEvent::NewSession { session_id: 8 }));
    assert_eq!(client.exists("/").await, Ok(None));
    let now = states.wait_for(|s| s.state == SessionState::Connected).await.unwrap();
    assert_eq!((now.session_id, now.epoch), (8, 1));
}

/// Serves one connection: handshake, then answers every multi and multiRead with no results
/// at all (a reply that cannot be matched to the ops sent).
async fn serve_empty_multis(mut s: DuplexStream) {
    let mut buf = Vec::new();
    handshake(&mut s, &mut buf, 9, 30_000).await;
    while let Some(frame) = read_frame(&mut s, &mut buf).await {
        let hdr = RequestHeader::decode(&mut &frame[..]).unwrap();
        if hdr.op_type == OpCode::Multi.code() || hdr.op_type == OpCode::MultiRead.code() {
            let mut out = Vec::new();
            write_frame(&mut out, |b| {
                ReplyHeader { xid: hdr.xid, zxid: 1, err: 0 }.encode(b);
                MultiResponse { results: Vec::new() }.encode(b);
            });
            s.write_all(&out).await.unwrap();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_multi_reply_without_one_result_per_op_is_a_protocol_error() {
    let (tx, mut conns) = mpsc::unbounded_channel();
    let connect = tokio::spawn(Client::builder("in-memory:2181").connector(Arc::new(Duplexes(tx))).connect());
    tokio::spawn(serve_empty_multis(conns.recv().await.unwrap()));
    let client = connect.await.unwrap().unwrap();
    let r = client.multi(&[Op::check("/lock", None), Op::delete("/a", None)]).await;
    assert!(matches!(r, Err(zk_core::Error::Protocol(_))), "{r:?}");
    let r = client.multi_read(&[ReadOp::GetData("/a".into())]).await;
    assert!(matches!(r, Err(zk_core::Error::Protocol(_))), "{r:?}");
    // No ops, no results: that one is right.
    assert_eq!(client.multi(&[]).await, Ok(Vec::new()));
}

/// A reader that fails with ConnectionReset once `reset` is set (a server that closed the
/// socket with data unread, as ZooKeeper does after answering closeSession).
struct Resetting {
    inner: tokio::io::ReadHalf<DuplexStream>,
    reset: Arc<std::sync::atomic::AtomicBool>,
}

impl tokio::io::AsyncRead for Resetting {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.reset.load(std::sync::atomic::Ordering::SeqCst) {
            return std::task::Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// One connection whose reader resets on command; later connections are refused (counted).
#[derive(Debug)]
struct ResetOnce {
    server: Mutex<Option<mpsc::UnboundedSender<DuplexStream>>>,
    reset: Arc<std::sync::atomic::AtomicBool>,
    attempts: Arc<std::sync::atomic::AtomicUsize>,
}

impl std::fmt::Debug for Resetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resetting")
    }
}

impl Connector for ResetOnce {
    fn connect<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, std::io::Result<(BoxReader, BoxWriter)>> {
        Box::pin(async move {
            self.attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let tx = self.server.lock().unwrap().take().ok_or(std::io::ErrorKind::ConnectionRefused)?;
            let (client, server) = tokio::io::duplex(64 * 1024);
            tx.send(server).map_err(|_| std::io::Error::other("no server"))?;
            let (r, w) = tokio::io::split(client);
            let r = Resetting { inner: r, reset: self.reset.clone() };
            Ok((Box::new(r) as BoxReader, Box::new(w) as BoxWriter))
        })
    }
}

/// The connection fails (a reset, not a clean close) after `close` sent closeSession: the
/// close is over. The client must not reconnect, find its session closed and, renewing as
/// clients do by default, open another while `close` waits: a close that never returned,
/// found by the differential test against a real server, which closes the socket after
/// answering closeSession (a removeWatches written after it drew the reset).
#[tokio::test(start_paused = true)]
async fn a_connection_reset_while_closing_ends_the_close() {
    let (tx, mut conns) = mpsc::unbounded_channel();
    let reset = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let connector =
        ResetOnce { server: Mutex::new(Some(tx)), reset: reset.clone(), attempts: attempts.clone() };
    let connecting = Client::builder("zk-test:2181").connector(Arc::new(connector)).connect();
    let server = tokio::spawn(async move {
        let mut s = conns.recv().await.unwrap();
        let mut buf = Vec::new();
        handshake(&mut s, &mut buf, 7, 6000).await;
        // Until closeSession: then reset instead of answering.
        while let Some(frame) = read_frame(&mut s, &mut buf).await {
            let hdr = RequestHeader::decode(&mut &frame[..]).unwrap();
            if hdr.op_type == OpCode::CloseSession.code() {
                reset.store(true, std::sync::atomic::Ordering::SeqCst);
                drop(s);
                return;
            }
        }
    });
    let client = connecting.await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), client.close()).await.expect("close returns");
    server.await.unwrap();
    assert_eq!(client.state(), SessionState::Closed);
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 1, "no reconnect after the close");
}
