//! One client connection: framing, the handshake, request dispatch under the server lock and
//! an ordered outgoing queue (events before the reply that observes them, §7.7).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, timeout, Instant};
use zk_core::proto::{
    encode_frame, encode_reply, four_letter_word, peek_frame, write_frame, ConnectRequest, ConnectResponse,
    ErrorCode, OpCode, Record, ReplyHeader, Request, RequestHeader, WatcherEvent, XID_NOTIFICATION,
};

use crate::fault::{is_write, Action};
use crate::server::{Core, Shared};
use crate::state::{ConnId, Notification, Reply};

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
pub(crate) async fn serve<R, W>(shared: Arc<Shared>, mut reader: R, mut writer: W, peer: String)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let max = shared.config.max_frame;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let first = match timeout(HANDSHAKE_TIMEOUT, read_first(&mut reader, &mut buf, max)).await {
        Ok(Ok(First::Word(word))) => {
            let text = crate::fourlw::answer(&shared, word);
            let _ = writer.write_all(text.as_bytes()).await;
            let _ = writer.shutdown().await;
            return;
        }
        Ok(Ok(First::Connect(req))) => req,
        _ => return,
    };
    // A partitioned session's connect request does not reach the server until the partition
    // heals (by then the session may have expired).
    if !held_while_partitioned(&shared, first.session_id).await {
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
    let Some(conn) = shared.handshake(handle, &first) else {
        // Refused without a reply (zxid ahead of ours, or shutting down): just close.
        return;
    };
    let writer_task = tokio::spawn(write_loop(writer, rx, kill_rx.clone(), pause_rx.clone()));
    let flow = read_loop(&shared, conn, &mut reader, buf, kill_rx, pause_rx).await;
    shared.connection_gone(conn, flow);
    let _ = writer_task.await;
}

/// How many times a held connect request follows a change of the partitions before it gives
/// up and closes (each change wakes every held request, so this bounds the loop, not time).
const MAX_PARTITION_CHANGES: usize = 100_000;

/// Holds a connect request of a partitioned session until its partition heals, following
/// partitions that are extended meanwhile. False if it gave up: the connection is closed,
/// never let through early.
async fn held_while_partitioned(shared: &Shared, session: i64) -> bool {
    let mut changes = shared.partitions_changed.subscribe();
    for _ in 0..MAX_PARTITION_CHANGES {
        let until = shared.lock().partitions.get(&session).copied();
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

async fn read_loop<R: AsyncRead + Unpin>(
    shared: &Arc<Shared>,
    conn: ConnId,
    reader: &mut R,
    mut buf: BytesMut,
    mut kill: watch::Receiver<bool>,
    mut pause: watch::Receiver<Option<Instant>>,
) -> Flow {
    let max = shared.config.max_frame;
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
                    match shared.dispatch(conn, &frame[4..]) {
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

/// The requests a read-only server answers with NOTREADONLY (§2.6): the writes, and the
/// write-class requests that change nothing here.
fn refused_when_read_only(op: OpCode) -> bool {
    is_write(op) || matches!(op, OpCode::Check | OpCode::Sync | OpCode::Reconfig)
}

/// Encodes a reply frame.
pub(crate) fn reply_frame(xid: i32, zxid: i64, err: i32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(20 + body.len());
    write_frame(&mut v, |b| {
        ReplyHeader { xid, zxid, err }.encode(b);
        b.extend_from_slice(body);
    });
    v
}

/// Encodes a watch notification (zxid -1, as ZooKeeper 3.8 sends).
pub(crate) fn notification_frame(ev: &WatcherEvent) -> Vec<u8> {
    let mut v = Vec::new();
    encode_reply(&mut v, &ReplyHeader { xid: XID_NOTIFICATION, zxid: -1, err: 0 }, ev);
    v
}

/// The connect response for a session, or the "invalid session" answer (§2.4).
pub(crate) fn connect_frame(
    req: &ConnectRequest,
    timeout_ms: i32,
    session_id: i64,
    passwd: &[u8],
    server_read_only: bool,
) -> Vec<u8> {
    let resp = ConnectResponse {
        protocol_version: 0,
        timeout_ms,
        session_id,
        passwd: passwd.to_vec(),
        read_only: req.read_only.map(|_| server_read_only),
    };
    let mut v = Vec::new();
    encode_frame(&mut v, &resp);
    v
}

/// Request handling, under the server lock: replies and notifications are queued in the
/// order the client must see them.
impl Core {
    /// Delivers notifications to their connections (before any reply queued after them).
    pub(crate) fn deliver(&mut self, notes: Vec<Notification>, now: Instant) {
        for n in notes {
            let delay = self.faults.reply_delay(now, &mut self.rng);
            let frame = notification_frame(&n.event);
            if let Some(c) = self.conns.get_mut(&n.conn) {
                self.notifications_sent += 1;
                c.send(frame, now + delay);
            }
        }
    }

    /// Handles one request frame of `conn`.
    pub(crate) fn handle_frame(&mut self, conn: ConnId, mut body: &[u8], now: Instant, now_ms: i64) -> Flow {
        self.packets_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else { return Flow::Kill };
        c.received += 1;
        let hdr = RequestHeader::decode(&mut body);
        // The operation, if the frame is a request a client may send.
        let op = hdr
            .as_ref()
            .ok()
            .and_then(|h| OpCode::try_from(h.op_type).ok())
            .filter(|op| !matches!(op, OpCode::Notification | OpCode::CreateSession | OpCode::Error));
        // Frames of a session that is gone are dropped without a reply (§11). Pings and
        // frames that are no request are not counted.
        let session = c.session;
        // A frame that arrives at the instant its session's deadline passes, before the expiry
        // timer ran, must not revive it: the session is expired here and now. (A partition
        // until expiry ends at that very instant.)
        if self.sessions.is_due(session, now) {
            self.expire(session, now);
            return Flow::Close;
        }
        if !self.sessions.touch(session, now, op.is_some_and(|op| op != OpCode::Ping)) {
            return Flow::Close;
        }
        if let Some(op) = op {
            c.last_op = op_name(op);
        }
        let Ok(hdr) = hdr else { return Flow::Close };
        let Some(op) = op else {
            self.reply(conn, hdr.xid, ErrorCode::Unimplemented.code(), &[], now);
            return Flow::Close;
        };
        let req = match Request::decode(op, &mut body) {
            Ok(r) => r,
            Err(_) => {
                self.reply(conn, hdr.xid, ErrorCode::MarshallingError.code(), &[], now);
                return Flow::Continue;
            }
        };
        if self.read_only && refused_when_read_only(op) {
            self.reply(conn, hdr.xid, ErrorCode::NotReadOnly.code(), &[], now);
            return Flow::Continue;
        }
        match self.faults.on_request(&req, &mut self.rng) {
            Some(Action::Fail(code)) => {
                self.reply(conn, hdr.xid, code.code(), &[], now);
                Flow::Continue
            }
            Some(Action::Drop) => Flow::Kill,
            // Applied and its notifications delivered, then cut before any reply is queued, so
            // the lost reply cannot reach the client.
            Some(Action::LoseReply) => {
                self.apply(conn, req, now, now_ms);
                Flow::Kill
            }
            None => self.handle_request(conn, session, hdr.xid, req, now, now_ms),
        }
    }

    fn handle_request(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        req: Request,
        now: Instant,
        now_ms: i64,
    ) -> Flow {
        match req {
            Request::Ping => self.reply(conn, xid, 0, &[], now),
            Request::Auth(p) => return self.auth(conn, xid, &p.scheme, &p.auth, now),
            Request::Sasl(r) => return self.sasl(conn, xid, &r.token, now),
            Request::WhoAmI => {
                let infos = self
                    .state
                    .identities(conn)
                    .into_iter()
                    .map(|(auth_scheme, user)| zk_core::proto::ClientInfo { auth_scheme, user })
                    .collect();
                let body = zk_core::proto::WhoAmIResponse { client_info: infos }.to_bytes();
                self.reply(conn, xid, 0, &body, now);
            }
            Request::CloseSession => {
                let notes = self.state.close_session(session);
                self.deliver(notes, now);
                self.sessions.remove(session);
                self.reply(conn, xid, 0, &[], now);
                return Flow::Close;
            }
            req => {
                let r = self.apply(conn, req, now, now_ms);
                self.reply_with_zxid(conn, xid, r.zxid, r.err, &r.body, now);
                if r.close_connection {
                    return Flow::Close;
                }
            }
        }
        Flow::Continue
    }

    /// Runs `req` through the state machine and delivers the notifications it fired (before
    /// the reply, §7.7); returns the reply for the caller to send or lose.
    fn apply(&mut self, conn: ConnId, req: Request, now: Instant, now_ms: i64) -> Reply {
        let out = self.state.process(conn, req, now_ms);
        self.deliver(out.notifications, now);
        out.reply
    }

    fn auth(&mut self, conn: ConnId, xid: i32, scheme: &str, auth: &[u8], now: Instant) -> Flow {
        if scheme != "digest" {
            self.reply_with_zxid(conn, xid, 0, ErrorCode::AuthFailed.code(), &[], now);
            return Flow::Close;
        }
        let id = crate::state::digest_id(&String::from_utf8_lossy(auth));
        // Also makes the connection a super user when `id` is the configured super digest.
        self.state.add_identity(conn, "digest", &id);
        // Answered in order with the other replies (kazoo-safe, §3.3).
        self.reply_with_zxid(conn, xid, 0, 0, &[], now);
        Flow::Continue
    }

    /// One step of a SASL DIGEST-MD5 exchange (§9.4): the challenge, then the check of the
    /// client's digest, which adds the `sasl:<user>` identity and proves the server knows the
    /// password (`rspauth`). A failure, or SASL on a server without users (as on a server
    /// without a JAAS `Server` section), is AUTHFAILED and the connection closes, as
    /// ZooKeeper 3.8 does.
    fn sasl(&mut self, conn: ConnId, xid: i32, token: &[u8], now: Instant) -> Flow {
        let step = match self.sasl_exchanges.remove(&conn) {
            _ if self.sasl_users.is_empty() => None,
            None => {
                let nonce = format!(
                    "{:016x}{:016x}",
                    rand::Rng::random::<u64>(&mut self.rng),
                    rand::Rng::random::<u64>(&mut self.rng)
                );
                let exchange = zk_core::sasl::DigestMd5Server::new(&nonce);
                let challenge = exchange.challenge();
                self.sasl_exchanges.insert(conn, exchange);
                Some(challenge)
            }
            Some(exchange) => match exchange.verify(token, |user| self.sasl_users.get(user).cloned()) {
                Ok((user, rspauth)) => {
                    self.state.add_identity(conn, "sasl", &user);
                    Some(rspauth)
                }
                Err(_) => None,
            },
        };
        match step {
            Some(token) => {
                let body = zk_core::proto::SetSaslResponse { token }.to_bytes();
                self.reply(conn, xid, 0, &body, now);
                Flow::Continue
            }
            None => {
                let body = zk_core::proto::SetSaslResponse { token: Vec::new() }.to_bytes();
                self.reply(conn, xid, ErrorCode::AuthFailed.code(), &body, now);
                Flow::Close
            }
        }
    }

    fn reply(&mut self, conn: ConnId, xid: i32, err: i32, body: &[u8], now: Instant) {
        let zxid = self.state.last_zxid();
        self.reply_with_zxid(conn, xid, zxid, err, body, now);
    }

    fn reply_with_zxid(&mut self, conn: ConnId, xid: i32, zxid: i64, err: i32, body: &[u8], now: Instant) {
        self.packets_sent += 1;
        let delay = self.faults.reply_delay(now, &mut self.rng);
        let frame = reply_frame(xid, zxid, err, body);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.send(frame, now + delay);
        }
    }
}

fn op_name(op: OpCode) -> &'static str {
    match op {
        OpCode::Ping => "PING",
        OpCode::Create | OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => "CREA",
        OpCode::Delete => "DELE",
        OpCode::Exists => "EXIS",
        OpCode::GetData => "GETD",
        OpCode::SetData => "SETD",
        OpCode::GetChildren | OpCode::GetChildren2 => "GETC",
        OpCode::Multi | OpCode::MultiRead => "MULT",
        OpCode::CloseSession => "CLOS",
        OpCode::Auth => "AUTH",
        _ => "OTHR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_and_connect_frames_are_byte_exact() {
        let ev = WatcherEvent { event_type: 3, state: 3, path: "/a/b".into() };
        let mut expected = Vec::new();
        write_frame(&mut expected, |b| {
            ReplyHeader { xid: XID_NOTIFICATION, zxid: -1, err: 0 }.encode(b);
            ev.encode(b);
        });
        assert_eq!(notification_frame(&ev), expected);

        for read_only in [None, Some(false), Some(true)] {
            let req = ConnectRequest { read_only, ..ConnectRequest::default() };
            let resp = ConnectResponse {
                protocol_version: 0,
                timeout_ms: 4000,
                session_id: 0x0100_0000_0000_0007,
                passwd: vec![7; 16],
                read_only: read_only.map(|_| true),
            };
            let mut expected = Vec::new();
            write_frame(&mut expected, |b| resp.encode(b));
            assert_eq!(connect_frame(&req, 4000, 0x0100_0000_0000_0007, &[7; 16], true), expected);
        }
    }
}
