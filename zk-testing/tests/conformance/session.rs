//! Conformance scenarios: sessions (§2 handshake, §7.5 watch catch-up, §11 server sessions,
//! §13.8-11 of the protocol reference).
//!
//! The fault scenarios put a [`zk_testing::TcpProxy`] between the client under test ("A") and
//! the server, and watch from a second client ("B") connected directly.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::AsyncWrite;
use tokio::sync::watch;
use tokio::time::Instant;
use zk_core::proto::{peek_frame, OpCode, Record, RequestHeader};
use zk_core::{
    AddWatchMode, BoxReader, BoxWriter, Client, Connector, CreateMode, Error, EventType, OnExpiry,
    SessionEvent, SessionEvents, SessionState, TcpConnector, WatcherType,
};

use crate::support::{assert_event, fired, short_client, within, Backend};

zk_testing::both_backends!(
    ephemerals_vanish_after_close,
    dropping_the_last_handle_closes_the_session,
    session_resumes_after_connection_cut,
    session_events_see_a_change_right_after_subscribing,
    watches_catch_up_on_changes_made_while_disconnected,
    in_flight_requests_fail_with_connection_loss,
    requests_issued_while_disconnected_run_after_reconnect,
    session_closed_by_another_client_is_expired,
    partition_longer_than_session_timeout_expires,
    expired_client_opens_a_new_session,
    partition_longer_than_session_timeout_renews,
    requests_wait_for_a_connection_at_most_the_queue_timeout,
    connect_to_refusing_address_fails,
    pings_keep_an_idle_session_alive,
);

// Not on the shared ensemble: these scenarios cut connections through a proxy in front of
// one server and count on the standalone harness's session timeouts (the ensemble's tick is
// 500 ms, so sessions of at most 10 s). The ensemble's session scenarios are in
// tests/ensemble.rs and zk-recipes' ensemble_failover.rs, on ensembles of their own.

/// A bound for anything that should happen promptly (reconnects, watch events).
const PROMPT_SECS: u64 = 5;

async fn next_event(events: &mut SessionEvents, what: &str) -> SessionEvent {
    within(PROMPT_SECS, what, events.next_event()).await.unwrap_or_else(|| panic!("{what}: stream ended"))
}

/// The next session events are exactly `expected`, each within [`PROMPT_SECS`].
async fn expect_events(events: &mut SessionEvents, expected: &[SessionEvent], what: &str) {
    for want in expected {
        let got = next_event(events, &format!("{what}: waiting for {want:?}")).await;
        assert_eq!(got, *want, "{what}: session events out of order");
    }
}

fn assert_no_event(events: &mut SessionEvents, what: &str) {
    if let Some(ev) = events.next_event().now_or_never() {
        panic!("{what}: unexpected session event {ev:?}");
    }
}

/// A client with its session event stream, subscribed before anything else happens, past its
/// first event (the current state, `Connected`).
async fn with_events(c: Client) -> (Client, SessionEvents) {
    let mut events = c.session_events();
    expect_events(&mut events, &[SessionEvent::Connected], "the stream starts with the state").await;
    c.sync("/").await.unwrap();
    (c, events)
}

/// [`short_client`] that ends with its session instead of opening a new one.
async fn short_ending_client(connect: &str) -> Client {
    Client::builder(connect)
        .session_timeout(Duration::from_secs(4))
        .on_expiry(OnExpiry::End)
        .connect()
        .await
        .expect("connect")
}

async fn create(c: &Client, path: &str, mode: CreateMode) {
    c.create(path, b"", mode).await.unwrap_or_else(|e| panic!("create {path}: {e}"));
}

/// TCP, recording the op code of every request the client has handed to the kernel, so a test
/// can wait until requests are on the wire instead of sleeping and hoping they are.
#[derive(Debug, Clone)]
struct WireLog(Arc<watch::Sender<Vec<i32>>>);

impl WireLog {
    fn new() -> WireLog {
        WireLog(Arc::new(watch::Sender::new(Vec::new())))
    }

    /// How many requests have been written so far.
    fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// Waits until the requests written after the first `since` include `ops`, in this order.
    async fn written(&self, since: usize, ops: &[OpCode]) {
        let wanted: Vec<i32> = ops.iter().map(|op| op.code()).collect();
        let mut log = self.0.subscribe();
        let _ = log
            .wait_for(|written| {
                let mut rest = written[since.min(written.len())..].iter();
                wanted.iter().all(|op| rest.any(|w| w == op))
            })
            .await;
    }
}

impl Connector for WireLog {
    fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<(BoxReader, BoxWriter)>> {
        Box::pin(async move {
            let (reader, inner) = TcpConnector.connect(host).await?;
            let writer = RecordingWriter { inner, log: self.clone(), bytes: Vec::new(), handshake: true };
            Ok((reader, Box::new(writer) as BoxWriter))
        })
    }
}

/// One connection's writer: parses what was written into frames and logs their op codes (the
/// first frame, the handshake, has none).
struct RecordingWriter {
    inner: BoxWriter,
    log: WireLog,
    bytes: Vec<u8>,
    handshake: bool,
}

impl AsyncWrite for RecordingWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.bytes.extend_from_slice(&buf[..n]);
            while let Some(end) = peek_frame(&this.bytes, usize::MAX).expect("the client wrote a bad frame") {
                if !std::mem::take(&mut this.handshake) {
                    let header = RequestHeader::decode(&mut &this.bytes[4..end]).expect("a request header");
                    this.log.0.send_modify(|ops| ops.push(header.op_type));
                }
                this.bytes.drain(..end);
            }
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The node exists and is owned by `session`.
async fn assert_ephemeral_of(c: &Client, path: &str, session: i64) {
    let stat = c.exists(path).await.unwrap().unwrap_or_else(|| panic!("{path} is gone"));
    assert_eq!(stat.ephemeral_owner, session, "{path} owner");
}

async fn ephemerals_vanish_after_close(b: &Backend) {
    let sb = b.sandbox("conformance-s-close").await;
    let (a, mut events) = with_events(sb.client().await).await;
    let other = sb.client().await;
    create(&a, "/e", CreateMode::Ephemeral).await;
    let (stat, gone) = other.exists_and_watch("/e").await.unwrap();
    assert_eq!(stat.map(|s| s.ephemeral_owner), Some(a.session_id()));
    within(PROMPT_SECS, "close", a.close()).await;
    assert_event(&fired(gone, "ephemeral deleted").await, EventType::NodeDeleted, "/e");
    assert_eq!(other.exists("/e").await.unwrap(), None);
    assert_eq!(a.state(), SessionState::Closed);
    expect_events(&mut events, &[SessionEvent::Closed], "after close").await;
    assert_eq!(within(PROMPT_SECS, "event stream end", events.next_event()).await, None);
    assert_eq!(a.get_data("/e").await.err(), Some(Error::Closed));
    assert_eq!(a.create("/f", b"", CreateMode::Persistent).await.err(), Some(Error::Closed));
    assert_eq!(a.exists_and_watch("/e").await.err(), Some(Error::Closed));
    within(PROMPT_SECS, "second close", a.close()).await;
}

/// Dropping every handle closes the session at once (CloseSession), not after the timeout; a
/// watcher that outlives the handles learns that the client is closed.
async fn dropping_the_last_handle_closes_the_session(b: &Backend) {
    let sb = b.sandbox("conformance-s-drop").await;
    let a = sb.client().await;
    let observer = sb.client().await;
    assert_eq!(a.session_timeout(), Duration::from_secs(30));
    create(&a, "/eph", CreateMode::Ephemeral).await;
    create(&a, "/n", CreateMode::Persistent).await;
    let (_, gone) = observer.exists_and_watch("/eph").await.unwrap();
    // On a node the close does not touch (A's own watch on /eph may see its NodeDeleted).
    let (_, _, held) = a.get_data_and_watch("/n").await.unwrap();
    let clone = a.clone();
    drop(a);
    clone.exists("/eph").await.unwrap().expect("a clone keeps the session");
    drop(clone);
    assert_event(&fired(gone, "ephemeral deleted").await, EventType::NodeDeleted, "/eph");
    assert_eq!(within(PROMPT_SECS, "held watcher", held).await.err(), Some(Error::Closed));
}

async fn session_resumes_after_connection_cut(b: &Backend) {
    let sb = b.sandbox("conformance-s-cut").await;
    let proxy = b.proxy().await;
    let (a, mut events) = with_events(Client::connect(&sb.via(&proxy)).await.unwrap()).await;
    let other = sb.client().await;
    let id = a.session_id();
    create(&a, "/w", CreateMode::Persistent).await;
    create(&a, "/eph", CreateMode::Ephemeral).await;
    let (_, _, w) = a.get_data_and_watch("/w").await.unwrap();
    let mut persistent = a.add_watch("/p", AddWatchMode::Persistent).await.unwrap();
    let mut recursive = a.add_watch("/r", AddWatchMode::PersistentRecursive).await.unwrap();

    proxy.cut_all();
    expect_events(&mut events, &[SessionEvent::Disconnected, SessionEvent::Reconnected], "cut").await;
    assert_eq!(a.state(), SessionState::Connected);
    assert_eq!(a.session_id(), id);
    assert_eq!(proxy.total_accepted(), 2, "one reconnection");
    assert_ephemeral_of(&other, "/eph", id).await;
    assert_ephemeral_of(&a, "/eph", id).await;
    // The data watch was re-registered on the new connection (SetWatches) and still works.
    a.check_watches("/w", WatcherType::Data).await.unwrap();
    other.set_data("/w", b"x", None).await.unwrap();
    assert_event(&fired(w, "watch after reconnect").await, EventType::NodeDataChanged, "/w");
    // Persistent watches are re-registered too (SetWatches2).
    create(&other, "/p", CreateMode::Persistent).await;
    let ev = within(PROMPT_SECS, "persistent watch", persistent.next_event()).await.unwrap().unwrap();
    assert_event(&ev, EventType::NodeCreated, "/p");
    create(&other, "/r", CreateMode::Persistent).await;
    create(&other, "/r/c", CreateMode::Persistent).await;
    for path in ["/r", "/r/c"] {
        let ev = within(PROMPT_SECS, "recursive watch", recursive.next_event()).await.unwrap().unwrap();
        assert_event(&ev, EventType::NodeCreated, path);
    }
    assert_no_event(&mut events, "after the reconnect");
}

/// `session_events()` promises every change after the call, even one that follows at once.
async fn session_events_see_a_change_right_after_subscribing(b: &Backend) {
    let sb = b.sandbox("conformance-s-subscribe").await;
    let proxy = b.proxy().await;
    let a = Client::connect(&sb.via(&proxy)).await.unwrap();
    // Racy by nature: several rounds make a lost first event show up reliably.
    for round in 0..10 {
        let mut events = a.session_events();
        proxy.cut_all();
        let what = format!("round {round}: cut right after subscribing");
        let expected = [SessionEvent::Connected, SessionEvent::Disconnected, SessionEvent::Reconnected];
        expect_events(&mut events, &expected, &what).await;
        a.sync("/").await.unwrap();
    }
}

/// §7.5: standard watches are re-sent with lastZxidSeen, and the server reports what changed
/// while the client was away.
async fn watches_catch_up_on_changes_made_while_disconnected(b: &Backend) {
    let sb = b.sandbox("conformance-s-catch-up").await;
    let proxy = b.proxy().await;
    let (a, mut events) = with_events(Client::connect(&sb.via(&proxy)).await.unwrap()).await;
    let other = sb.client().await;
    let id = a.session_id();
    for path in ["/data", "/children", "/deleted", "/quiet", "/dropped"] {
        create(&a, path, CreateMode::Persistent).await;
    }
    create(&a, "/eph", CreateMode::Ephemeral).await;
    let (_, _, data) = a.get_data_and_watch("/data").await.unwrap();
    let (_, _, children) = a.get_children_and_watch("/children").await.unwrap();
    let (_, _, deleted) = a.get_data_and_watch("/deleted").await.unwrap();
    let (missing, created) = a.exists_and_watch("/created").await.unwrap();
    assert_eq!(missing, None);
    let (_, _, mut quiet) = a.get_data_and_watch("/quiet").await.unwrap();
    let (_, _, dropped) = a.get_data_and_watch("/dropped").await.unwrap();

    proxy.set_refusing(true);
    proxy.cut_all();
    expect_events(&mut events, &[SessionEvent::Disconnected], "cut while refusing").await;
    // Dropped while disconnected: must not be re-registered.
    drop(dropped);
    other.set_data("/data", b"x", None).await.unwrap();
    create(&other, "/children/c", CreateMode::Persistent).await;
    other.delete("/deleted", None).await.unwrap();
    create(&other, "/created", CreateMode::Persistent).await;
    assert_eq!(a.state(), SessionState::Disconnected);
    proxy.set_refusing(false);
    expect_events(&mut events, &[SessionEvent::Reconnected], "refusal lifted").await;

    assert_eq!(a.session_id(), id);
    assert_ephemeral_of(&other, "/eph", id).await;
    assert_event(&fired(data, "data watch").await, EventType::NodeDataChanged, "/data");
    assert_event(&fired(children, "child watch").await, EventType::NodeChildrenChanged, "/children");
    assert_event(&fired(deleted, "data watch on deleted").await, EventType::NodeDeleted, "/deleted");
    assert_event(&fired(created, "exist watch").await, EventType::NodeCreated, "/created");
    // An unchanged node's watch is re-registered, not fired.
    a.check_watches("/quiet", WatcherType::Data).await.unwrap();
    if let Some(r) = (&mut quiet).now_or_never() {
        panic!("watch on an unchanged node fired on reconnect: {r:?}");
    }
    other.set_data("/quiet", b"x", None).await.unwrap();
    assert_event(&fired(quiet, "quiet watch").await, EventType::NodeDataChanged, "/quiet");
    assert_eq!(a.check_watches("/dropped", WatcherType::Data).await, Err(Error::NoWatcher));
}

/// §13.10: requests on the wire when the connection drops fail with CONNECTIONLOSS; the
/// session survives and later requests succeed.
async fn in_flight_requests_fail_with_connection_loss(b: &Backend) {
    let sb = b.sandbox("conformance-s-in-flight").await;
    let proxy = b.proxy().await;
    let wire = WireLog::new();
    let a = Client::builder(&sb.via(&proxy)).connector(Arc::new(wire.clone())).connect().await.unwrap();
    let (a, mut events) = with_events(a).await;
    create(&a, "/n", CreateMode::Persistent).await;
    let id = a.session_id();

    proxy.set_stalled(true);
    let before = wire.len();
    let read = a.get_data("/n");
    let write = a.set_data("/n", b"lost?", None);
    // Cut only once the session task has put both on the (stalled) wire: a request still queued
    // in the client is sent on the next connection instead (and would hang here, as the
    // reconnection goes through the same stalled proxy).
    within(
        PROMPT_SECS,
        "both requests on the wire",
        wire.written(before, &[OpCode::GetData, OpCode::SetData]),
    )
    .await;
    proxy.cut_all();
    assert_eq!(within(PROMPT_SECS, "in-flight read", read).await.err(), Some(Error::ConnectionLoss));
    assert_eq!(within(PROMPT_SECS, "in-flight write", write).await.err(), Some(Error::ConnectionLoss));
    proxy.set_stalled(false);

    expect_events(&mut events, &[SessionEvent::Disconnected, SessionEvent::Reconnected], "cut").await;
    assert_eq!(a.session_id(), id);
    let (_, stat) = within(PROMPT_SECS, "read after reconnect", a.get_data("/n")).await.unwrap();
    // The stalled bytes were dropped by the cut, so the write never reached the server.
    assert_eq!(stat.version, 0);
    a.set_data("/n", b"ok", None).await.unwrap();
}

async fn requests_issued_while_disconnected_run_after_reconnect(b: &Backend) {
    let sb = b.sandbox("conformance-s-queued").await;
    let proxy = b.proxy().await;
    let (a, mut events) = with_events(Client::connect(&sb.via(&proxy)).await.unwrap()).await;
    create(&a, "/n", CreateMode::Persistent).await;

    proxy.set_refusing(true);
    proxy.cut_all();
    expect_events(&mut events, &[SessionEvent::Disconnected], "cut while refusing").await;
    // Issued in this order while no connection is up; they must run in this order afterwards.
    let created = tokio::spawn(a.create("/q", b"", CreateMode::Persistent));
    let set = tokio::spawn(a.set_data("/n", b"2", None));
    let read = tokio::spawn(a.get_data("/n"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!created.is_finished() && !set.is_finished() && !read.is_finished(), "answered while refused");
    proxy.set_refusing(false);
    expect_events(&mut events, &[SessionEvent::Reconnected], "refusal lifted").await;

    assert_eq!(within(PROMPT_SECS, "queued create", created).await.unwrap().unwrap().0, "/q");
    assert_eq!(within(PROMPT_SECS, "queued set_data", set).await.unwrap().unwrap().version, 1);
    let (data, stat) = within(PROMPT_SECS, "queued get_data", read).await.unwrap().unwrap();
    assert_eq!((data.as_slice(), stat.version), (&b"2"[..], 1));
}

/// §2.4 step 7 and §11: another client attaching to A's session takes its connection away;
/// when that client closes the session, A's next handshake is answered "expired".
///
/// A goes through a proxy that refuses A's reconnections while B holds the session: otherwise
/// A would take the session back at once (the server closes the other connection again) and
/// B's close would race with A's reconnection.
async fn session_closed_by_another_client_is_expired(b: &Backend) {
    let sb = b.sandbox("conformance-s-taken-over").await;
    let proxy = b.proxy().await;
    let (a, mut events) = with_events(short_ending_client(&sb.via(&proxy)).await).await;
    create(&a, "/eph", CreateMode::Ephemeral).await;
    let (id, password) = (a.session_id(), a.session_password());
    assert_eq!(password.len(), 16);

    proxy.set_refusing(true);
    let takeover = Client::builder(&sb.connect_string()).session(id, &password).connect();
    let b_client = within(PROMPT_SECS, "attach to A's session", takeover).await.unwrap();
    assert_eq!(b_client.session_id(), id);
    expect_events(&mut events, &[SessionEvent::Disconnected], "server closed A's connection").await;
    assert_ephemeral_of(&b_client, "/eph", id).await;
    within(PROMPT_SECS, "close the shared session", b_client.close()).await;
    proxy.set_refusing(false);
    let healed = Instant::now();

    expect_events(&mut events, &[SessionEvent::Expired], "session closed elsewhere").await;
    // From the server's answer to A's next handshake (§2.4), not from A's own deadline.
    assert!(healed.elapsed() < Duration::from_millis(2500), "Expired only after {:?}", healed.elapsed());
    assert_eq!(a.state(), SessionState::Expired);
    assert_eq!(within(PROMPT_SECS, "event stream end", events.next_event()).await, None);
    let observer = sb.client().await;
    assert_eq!(observer.exists("/eph").await.unwrap(), None);
    assert_eq!(a.exists("/eph").await.err(), Some(Error::SessionExpired));
    assert_eq!(a.get_data_and_watch("/eph").await.err(), Some(Error::SessionExpired));
    assert_eq!(a.create("/x", b"", CreateMode::Persistent).await.err(), Some(Error::SessionExpired));
    // The session cannot be resumed any more (§2.4: the server answers timeOut 0).
    let resume = Client::builder(&sb.connect_string()).session(id, &password).connect();
    assert_eq!(
        within(PROMPT_SECS, "resume an expired session", resume).await.err(),
        Some(Error::SessionExpired)
    );
}

/// §2.5 and §11: a partition longer than the session timeout. A notices the silence after the
/// read timeout (2T/3), the server expires the session after T (plus up to a tick), and A
/// reports Expired: on its own deadline, or from the server's answer once the partition heals.
async fn partition_longer_than_session_timeout_expires(b: &Backend) {
    let sb = b.sandbox("conformance-s-partition").await;
    let proxy = b.proxy().await;
    let (a, mut events) = with_events(short_ending_client(&sb.via(&proxy)).await).await;
    let timeout = a.session_timeout();
    assert_eq!(timeout, Duration::from_secs(4), "negotiated timeout");
    let observer = sb.client().await;
    create(&a, "/eph", CreateMode::Ephemeral).await;
    let (_, gone) = observer.exists_and_watch("/eph").await.unwrap();
    let (_, _, a_watch) = a.get_data_and_watch("/eph").await.unwrap();

    let start = Instant::now();
    proxy.set_stalled(true);
    expect_events(&mut events, &[SessionEvent::Disconnected], "read timeout").await;
    assert!(start.elapsed() < timeout, "Disconnected only after {:?}", start.elapsed());
    // Issued while disconnected; must fail with the session once it is known to be expired.
    let queued = a.get_data("/eph");
    // The server expires the session T..T+tick after A's last packet; observed from B.
    let deleted = within(3 * PROMPT_SECS, "server-side expiry", gone).await.unwrap();
    assert_event(&deleted, EventType::NodeDeleted, "/eph");
    // Heal only now: bytes held by the proxy must not revive the session before it expired.
    proxy.set_stalled(false);
    expect_events(&mut events, &[SessionEvent::TimeoutElapsed, SessionEvent::Expired], "after the partition")
        .await;
    assert_eq!(a.state(), SessionState::Expired);
    assert_eq!(within(PROMPT_SECS, "A's watcher", a_watch).await.err(), Some(Error::SessionExpired));
    assert_eq!(within(PROMPT_SECS, "request queued", queued).await.err(), Some(Error::SessionExpired));
    assert_eq!(a.exists("/eph").await.err(), Some(Error::SessionExpired));
    assert_eq!(observer.exists("/eph").await.unwrap(), None);
}

/// The same takeover as [`session_closed_by_another_client_is_expired`], with a client that
/// renews its session (the default): everything of the old session ends with
/// `SessionExpired`, then the client serves requests on a new session.
async fn expired_client_opens_a_new_session(b: &Backend) {
    let sb = b.sandbox("conformance-s-renewed").await;
    let proxy = b.proxy().await;
    let (a, mut events) = with_events(short_client(&sb.via(&proxy)).await).await;
    create(&a, "/w", CreateMode::Persistent).await;
    create(&a, "/eph", CreateMode::Ephemeral).await;
    let (_, _, oneshot) = a.get_data_and_watch("/w").await.unwrap();
    let mut persistent = a.add_watch("/w", AddWatchMode::Persistent).await.unwrap();
    let (id, password) = (a.session_id(), a.session_password());
    assert_eq!(a.status().epoch, 0);

    proxy.set_refusing(true);
    let takeover = Client::builder(&sb.connect_string()).session(id, &password).connect();
    let b_client = within(PROMPT_SECS, "attach to A's session", takeover).await.unwrap();
    expect_events(&mut events, &[SessionEvent::Disconnected], "server closed A's connection").await;
    // Issued while disconnected, for the old session: it must not run on the new one.
    let queued = a.create("/queued", b"", CreateMode::Ephemeral);
    within(PROMPT_SECS, "close the shared session", b_client.close()).await;
    proxy.set_refusing(false);

    expect_events(&mut events, &[SessionEvent::Expired], "session closed elsewhere").await;
    let new_id = match next_event(&mut events, "the new session").await {
        SessionEvent::NewSession { session_id } => session_id,
        other => panic!("expected NewSession, got {other:?}"),
    };
    assert_ne!(new_id, id);
    let status = a.status();
    assert_eq!((status.state, status.session_id, status.epoch), (SessionState::Connected, new_id, 1));
    assert_eq!(within(PROMPT_SECS, "queued request", queued).await.err(), Some(Error::SessionExpired));
    assert_eq!(within(PROMPT_SECS, "old one-shot watcher", oneshot).await.err(), Some(Error::SessionExpired));
    let ended = within(PROMPT_SECS, "old persistent watcher", persistent.next_event()).await;
    assert_eq!(ended, Some(Err(Error::SessionExpired)));
    assert_eq!(within(PROMPT_SECS, "persistent watcher end", persistent.next_event()).await, None);
    // The old session's ephemerals are gone; the client works on the new session.
    assert_eq!(a.exists("/eph").await.unwrap(), None);
    assert_eq!(a.exists("/queued").await.unwrap(), None);
    create(&a, "/eph", CreateMode::Ephemeral).await;
    assert_ephemeral_of(&sb.client().await, "/eph", new_id).await;
    assert_no_event(&mut events, "after the new session");
}

/// A partition longer than the session timeout, with a renewing client: the timeout is
/// announced (the client does not decide the expiry itself), the server expires the session,
/// and once the partition heals the client hears so and opens a new session.
async fn partition_longer_than_session_timeout_renews(b: &Backend) {
    let sb = b.sandbox("conformance-s-partition-renews").await;
    let proxy = b.proxy().await;
    let (a, mut events) = with_events(short_client(&sb.via(&proxy)).await).await;
    let timeout = a.session_timeout();
    let observer = sb.client().await;
    create(&a, "/eph", CreateMode::Ephemeral).await;
    let (_, gone) = observer.exists_and_watch("/eph").await.unwrap();
    let old = a.session_id();

    let start = Instant::now();
    proxy.set_stalled(true);
    expect_events(&mut events, &[SessionEvent::Disconnected], "read timeout").await;
    expect_events(&mut events, &[SessionEvent::TimeoutElapsed], "session timeout without contact").await;
    assert!(start.elapsed() >= timeout * 2 / 3, "TimeoutElapsed after only {:?}", start.elapsed());
    assert_eq!(a.state(), SessionState::TimeoutElapsed);
    assert_eq!(a.session_id(), old, "still the old session: only the server decides");
    let deleted = within(3 * PROMPT_SECS, "server-side expiry", gone).await.unwrap();
    assert_event(&deleted, EventType::NodeDeleted, "/eph");
    proxy.set_stalled(false);
    expect_events(&mut events, &[SessionEvent::Expired], "after the partition").await;
    assert!(matches!(next_event(&mut events, "new session").await, SessionEvent::NewSession { .. }));
    assert_ne!(a.session_id(), old);
    assert_eq!(a.exists("/eph").await.unwrap(), None);
    create(&a, "/eph", CreateMode::Ephemeral).await;
}

/// A request issued while no server can be reached fails with ConnectionLoss after the queue
/// timeout instead of waiting for the whole outage; the session itself lives on.
async fn requests_wait_for_a_connection_at_most_the_queue_timeout(b: &Backend) {
    let sb = b.sandbox("conformance-s-queue-timeout").await;
    let proxy = b.proxy().await;
    let wait = Duration::from_millis(500);
    let a = Client::builder(&sb.via(&proxy)).queue_timeout(wait).connect().await.unwrap();
    let (a, mut events) = with_events(a).await;
    proxy.set_refusing(true);
    proxy.cut_all();
    expect_events(&mut events, &[SessionEvent::Disconnected], "cut while refusing").await;
    let issued = Instant::now();
    assert_eq!(within(PROMPT_SECS, "queued request", a.exists("/")).await, Err(Error::ConnectionLoss));
    let waited = issued.elapsed();
    assert!(waited >= wait && waited < wait * 4, "failed after {waited:?}");
    proxy.set_refusing(false);
    expect_events(&mut events, &[SessionEvent::Reconnected], "refusal lifted").await;
    assert!(a.exists("/").await.unwrap().is_some());
}

/// A brand-new client that reaches no server gives up with ConnectFailed within its session
/// timeout, whether connections are refused by the OS or accepted and closed at once.
async fn connect_to_refusing_address_fails(b: &Backend) {
    let proxy = b.proxy().await;
    proxy.set_refusing(true);
    // A port that refuses connections: bound (without SO_REUSEADDR) but never listening, and
    // held until the end, so no other test or process can start listening on it meanwhile.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed_port = reserved.local_addr().unwrap().to_string();
    let timeout = Duration::from_secs(4);
    let attempt = |connect: String| async move {
        let start = Instant::now();
        let result = Client::builder(&connect).session_timeout(timeout).connect().await;
        (result, start.elapsed())
    };
    let (refused, closed) = within(
        3 * PROMPT_SECS,
        "connect attempts",
        futures::future::join(attempt(proxy.connect_string()), attempt(closed_port)),
    )
    .await;
    for (what, (result, elapsed)) in [("proxy closing connections", refused), ("closed port", closed)] {
        assert!(matches!(result, Err(Error::ConnectFailed(_))), "{what}: {result:?}");
        assert!(elapsed <= timeout + Duration::from_secs(1), "{what}: gave up after {elapsed:?}");
    }
    assert!(proxy.total_accepted() >= 2, "the client retried ({} attempts)", proxy.total_accepted());
    assert_eq!(proxy.connections(), 0);
    drop(reserved);
}

/// §2.5: pings every T/3 keep an idle session (and its connection) alive well past T.
async fn pings_keep_an_idle_session_alive(b: &Backend) {
    let sb = b.sandbox("conformance-s-pings").await;
    let proxy = b.proxy().await;
    let (a, mut events) = with_events(short_client(&sb.via(&proxy)).await).await;
    let id = a.session_id();
    create(&a, "/eph", CreateMode::Ephemeral).await;

    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(a.state(), SessionState::Connected);
    assert_no_event(&mut events, "idle session");
    assert_eq!(a.session_id(), id);
    assert_eq!((proxy.total_accepted(), proxy.connections()), (1, 1), "the first connection lived on");
    let observer = sb.client().await;
    assert_ephemeral_of(&observer, "/eph", id).await;
    a.set_data("/eph", b"still here", None).await.unwrap();
}
