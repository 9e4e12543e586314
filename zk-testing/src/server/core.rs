//! The server's synchronous core: everything behind the server lock. It settles handshakes,
//! applies requests to the state machine, answers auth and SASL, and queues replies and
//! notifications on the connections in the order the client must see them. It does no I/O:
//! the connection tasks (`conn.rs`) hand it frames, and it hands them bytes to send.

use std::collections::{BTreeMap, HashMap, VecDeque};

use rand::rngs::StdRng;
use tokio::time::Instant;
use zk_core::proto::{
    encode_frame, encode_reply, write_frame, ConnectRequest, ConnectResponse, ErrorCode, OpCode, Record,
    ReplyHeader, Request, RequestHeader, WatcherEvent, XID_NOTIFICATION,
};

use super::conn::{ConnHandle, Flow};
use crate::fault::{is_write, Action, Faults};
use crate::sessions::SessionTable;
use crate::state::{ConnId, Notification, State};

/// A transaction: what changes the tree or the sessions, applied by every replica in the
/// same order. A standalone server applies each at once; a member of an ensemble queues it
/// for the leader, and applies it when the ensemble commits it (`crate::ensemble`).
#[derive(Debug, Clone)]
pub(crate) struct Txn {
    /// The connection it came from: the one member that replies to it.
    pub(crate) origin: Option<ConnId>,
    pub(crate) op: TxnOp,
    /// The wall clock at the leader (ctime, mtime, TTLs): the same on every replica.
    pub(crate) now_ms: i64,
}

/// What a [`Txn`] does.
#[derive(Debug, Clone)]
pub(crate) enum TxnOp {
    /// A new session; the origin is sent `connect`, the connect response.
    CreateSession { connect: Vec<u8> },
    /// A closed (`xid` of the closeSession request) or expired (`None`) session.
    CloseSession { session: i64, xid: Option<i32> },
    /// A write-class request, checked against the identities its connection had.
    Request { session: i64, ids: Vec<(String, String)>, xid: i32, req: Request, lose_reply: bool },
    /// Deletes the containers and TTL nodes due, at most `max`.
    Reap { max: usize },
    /// A `sync`: the origin replies when it reaches it, so after everything committed before.
    Sync { xid: i32, path: String },
    /// A new leader's epoch: later zxids carry it in their high 32 bits.
    NewEpoch(u32),
}

/// Where a server's transactions go.
#[derive(Debug)]
pub(crate) enum Commit {
    /// Applied at once (a standalone server).
    Now,
    /// Queued for the ensemble (a member); it drains them after each call into the core.
    Queue(Vec<Txn>),
}

/// A connection waiting for its own transactions: replies go out in request order, so its
/// later frames wait until the member has applied them (as ZooKeeper's commit processor
/// holds a session's requests behind its pending writes).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    txns: usize,
    frames: VecDeque<Vec<u8>>,
}

/// Everything behind the server lock.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) state: State,
    pub(crate) sessions: SessionTable,
    /// Where transactions go.
    pub(crate) commit: Commit,
    /// Connections waiting for their own transactions (members only).
    pub(crate) pending: HashMap<ConnId, Pending>,
    /// By id: iterated in order (a kill of every connection wakes their tasks in the same
    /// order in every run of a seed).
    pub(crate) conns: BTreeMap<ConnId, ConnHandle>,
    pub(crate) faults: Faults,
    pub(crate) rng: StdRng,
    pub(crate) next_conn: ConnId,
    pub(crate) packets_received: u64,
    pub(crate) packets_sent: u64,
    /// Watch notifications queued to connections, ever.
    pub(crate) notifications_sent: u64,
    /// False while the server is down (between stop and start of a restart).
    pub(crate) up: bool,
    /// Handshakes refused because the client had seen a newer zxid than this server's.
    pub(crate) refused_behind: u64,
    /// Sessions cut off from the server until the given time.
    pub(crate) partitions: HashMap<i64, Instant>,
    /// Serving as a read-only server (§2.6): only read-only-aware clients, no writes.
    pub(crate) read_only: bool,
    /// SASL DIGEST-MD5 users and their passwords (none: SASL is refused).
    pub(crate) sasl_users: HashMap<String, String>,
    /// The DIGEST-MD5 exchanges that sent their challenge, by connection.
    pub(crate) sasl_exchanges: HashMap<ConnId, zk_core::sasl::DigestMd5Server>,
}

impl Core {
    /// A server (or member) serving, with no connection yet.
    pub(crate) fn new(
        state: State,
        sessions: SessionTable,
        commit: Commit,
        rng: StdRng,
        sasl_users: HashMap<String, String>,
    ) -> Core {
        Core {
            state,
            sessions,
            commit,
            pending: HashMap::new(),
            conns: BTreeMap::new(),
            faults: Faults::default(),
            rng,
            next_conn: 0,
            packets_received: 0,
            packets_sent: 0,
            notifications_sent: 0,
            up: true,
            refused_behind: 0,
            partitions: HashMap::new(),
            read_only: false,
            sasl_users,
            sasl_exchanges: HashMap::new(),
        }
    }

    /// Settles the session of a new connection (§2.4); `None` = close without a reply.
    pub(crate) fn handshake(
        &mut self,
        mut handle: ConnHandle,
        req: &ConnectRequest,
        now: Instant,
        now_ms: i64,
    ) -> Option<ConnId> {
        // A read-only server closes on clients that do not accept one, without a reply (§2.4).
        let refused_read_only = self.read_only && req.read_only != Some(true);
        if !self.up || refused_read_only {
            return None;
        }
        // So does a server behind the client (it would show it an older state).
        if req.last_zxid_seen > self.state.last_zxid() {
            self.refused_behind += 1;
            return None;
        }
        let read_only = self.read_only;
        self.next_conn += 1;
        let conn = self.next_conn;
        let timeout = self.sessions.lock().negotiate(req.timeout_ms);
        let timeout_ms = timeout.as_millis() as i32;
        let peer = handle.peer.clone();
        if req.session_id == 0 {
            let (id, pw) = self.sessions.lock().create(timeout, conn, now, &mut self.rng);
            handle.session = id;
            self.conns.insert(conn, handle);
            self.state.connection_opened(conn, id, &peer);
            // The connect response goes out once the session is committed.
            let connect = connect_frame(req, timeout_ms, id, &pw, read_only);
            let txn = Txn { origin: Some(conn), op: TxnOp::CreateSession { connect }, now_ms };
            self.commit(txn, now);
            return Some(conn);
        }
        // A session past its deadline is expired here, even if the expiry timer has not run
        // yet at this instant: the client learns it no earlier than the others.
        let due = self.sessions.lock().is_due(req.session_id, now);
        if due {
            self.expire(req.session_id, now, now_ms);
        }
        let resumed = self.sessions.lock().resume(req.session_id, &req.passwd, timeout, conn, now);
        let old = match &resumed {
            Ok(old) | Err(old) => *old,
        };
        if let Some(old) = old.and_then(|c| self.conns.get(&c)) {
            let _ = old.kill.send(true);
        }
        match resumed {
            Ok(_) => {
                handle.session = req.session_id;
                handle.send(connect_frame(req, timeout_ms, req.session_id, &req.passwd, read_only), now);
                self.conns.insert(conn, handle);
                self.state.connection_opened(conn, req.session_id, &peer);
            }
            Err(_) => {
                // Invalid session: answer "timeout 0", then close (§2.4 step 7).
                handle.send(connect_frame(req, 0, 0, &[0; 16], read_only), now);
                handle.close();
                self.conns.insert(conn, handle);
            }
        }
        Some(conn)
    }

    /// The connection's reader ended: forget it (its session lives on until expiry). With
    /// `Flow::Kill` the writer stops at once; otherwise it sends what is queued, then closes.
    pub(crate) fn connection_gone(&mut self, conn: ConnId, flow: Flow) {
        if let Some(h) = self.conns.remove(&conn) {
            if flow == Flow::Kill {
                let _ = h.kill.send(true);
            } else {
                h.close();
            }
            self.sessions.lock().detach(h.session, conn);
            self.state.connection_closed(conn);
            self.sasl_exchanges.remove(&conn);
            self.pending.remove(&conn);
        }
    }

    /// Expires every session whose deadline passed.
    pub(crate) fn expire_due(&mut self, now: Instant, now_ms: i64) {
        let due = self.sessions.lock().expired(now);
        for id in due {
            self.expire(id, now, now_ms);
        }
    }

    /// Deletes the containers and TTL nodes due (at most `max`).
    pub(crate) fn reap(&mut self, now: Instant, now_ms: i64, max: usize) {
        self.commit(Txn { origin: None, op: TxnOp::Reap { max }, now_ms }, now);
    }

    /// Ends a session: its connection is closed, then its ephemerals go in one transaction.
    ///
    /// The connection is closed first, so a client still connected learns that its session is
    /// gone (it sees the close at once and the expiry on its next handshake) no later than
    /// other clients learn of the deleted ephemerals.
    pub(crate) fn expire(&mut self, id: i64, now: Instant, now_ms: i64) {
        self.sessions.lock().remove(id);
        let txn = Txn { origin: None, op: TxnOp::CloseSession { session: id, xid: None }, now_ms };
        self.commit(txn, now);
    }

    /// The connection currently bound to `session` on this server, if any.
    pub(crate) fn conn_of(&self, session: i64) -> Option<&ConnHandle> {
        let conn = self.sessions.lock().get(session)?.conn?;
        self.conns.get(&conn)
    }

    pub(crate) fn kill_all(&mut self) {
        for c in self.conns.values() {
            let _ = c.kill.send(true);
        }
    }
}

/// The requests that are transactions: the writes, and reconfig (which consumes a zxid to
/// fail when reconfiguration is off, §4.3).
fn is_txn(req: &Request) -> bool {
    let op = req.op_code();
    is_write(op) || op == OpCode::Reconfig
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
        if let Some(p) = self.pending.get_mut(&conn).filter(|p| p.txns > 0) {
            p.frames.push_back(body.to_vec());
            return Flow::Continue;
        }
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
        let due = self.sessions.lock().is_due(session, now);
        if due {
            self.expire(session, now, now_ms);
            return Flow::Close;
        }
        let live = self.sessions.lock().touch(session, now, op.is_some_and(|op| op != OpCode::Ping));
        if !live {
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
                if is_txn(&req) {
                    let txn = self.request_txn(conn, session, hdr.xid, req, true, now_ms);
                    self.commit(txn, now);
                } else {
                    self.read(conn, req, now, now_ms);
                }
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
                self.sessions.lock().remove(session);
                let op = TxnOp::CloseSession { session, xid: Some(xid) };
                return self.commit(Txn { origin: Some(conn), op, now_ms }, now);
            }
            // A member syncs through the leader; a standalone server is always in sync.
            Request::Sync(r) if matches!(self.commit, Commit::Queue(_)) => {
                let op = TxnOp::Sync { xid, path: r.path };
                return self.commit(Txn { origin: Some(conn), op, now_ms }, now);
            }
            req if is_txn(&req) => {
                let txn = self.request_txn(conn, session, xid, req, false, now_ms);
                return self.commit(txn, now);
            }
            req => {
                let r = self.read(conn, req, now, now_ms);
                self.reply_with_zxid(conn, xid, r.zxid, r.err, &r.body, now);
                if r.close_connection {
                    return Flow::Close;
                }
            }
        }
        Flow::Continue
    }

    /// Serves a read from this server's own state (a member's may be behind), delivering what
    /// it fired first; returns the reply for the caller to send or lose.
    fn read(&mut self, conn: ConnId, req: Request, now: Instant, now_ms: i64) -> crate::state::Reply {
        let out = self.state.process(conn, req, now_ms);
        self.deliver(out.notifications, now);
        out.reply
    }

    /// A write-class request as a transaction, with the identities its connection has now.
    fn request_txn(
        &self,
        conn: ConnId,
        session: i64,
        xid: i32,
        req: Request,
        lose_reply: bool,
        now_ms: i64,
    ) -> Txn {
        let ids = self.state.raw_identities(conn);
        Txn { origin: Some(conn), op: TxnOp::Request { session, ids, xid, req, lose_reply }, now_ms }
    }

    /// Applies `txn` now or queues it for the ensemble. Applied now, what its origin's
    /// connection must do next is returned; queued, the connection waits for it.
    pub(crate) fn commit(&mut self, txn: Txn, now: Instant) -> Flow {
        match &mut self.commit {
            Commit::Now => self.apply_txn(txn, now),
            Commit::Queue(out) => {
                if let Some(conn) = txn.origin {
                    self.pending.entry(conn).or_default().txns += 1;
                }
                out.push(txn);
                Flow::Continue
            }
        }
    }

    /// Applies a committed transaction to this server's state, delivering the notifications
    /// to its own connections, and answers the origin if it is connected here. Returns what the
    /// origin's connection does next.
    pub(crate) fn apply_txn(&mut self, txn: Txn, now: Instant) -> Flow {
        let Txn { origin, op, now_ms } = txn;
        let here = origin.filter(|c| self.conns.contains_key(c));
        match op {
            TxnOp::CreateSession { connect } => {
                self.state.create_session();
                if let Some(c) = here.and_then(|c| self.conns.get_mut(&c)) {
                    c.send(connect, now);
                }
            }
            TxnOp::CloseSession { session, xid } => {
                if xid.is_none() {
                    // An expiry closes the session's connection first, so its client learns
                    // of it no later than others learn of its deleted ephemerals.
                    for c in self.conns.values().filter(|c| c.session == session) {
                        c.close();
                    }
                }
                let notes = self.state.close_session(session);
                self.deliver(notes, now);
                if let (Some(conn), Some(xid)) = (here, xid) {
                    self.reply(conn, xid, 0, &[], now);
                    return Flow::Close;
                }
            }
            TxnOp::Request { session, ids, xid, req, lose_reply } => {
                let conn = origin.unwrap_or_default();
                let out = self.state.process_as(conn, session, &ids, req, now_ms);
                self.deliver(out.notifications, now);
                let r = out.reply;
                match here {
                    Some(_) if lose_reply => return Flow::Kill,
                    Some(conn) => {
                        self.reply_with_zxid(conn, xid, r.zxid, r.err, &r.body, now);
                        if r.close_connection {
                            return Flow::Close;
                        }
                    }
                    None => {}
                }
            }
            TxnOp::Reap { max } => {
                let notes = self.state.reap(now_ms, max);
                self.deliver(notes, now);
            }
            TxnOp::Sync { xid, path } => {
                if let Some(conn) = here {
                    let body = zk_core::proto::SyncResponse { path }.to_bytes();
                    self.reply(conn, xid, 0, &body, now);
                }
            }
            TxnOp::NewEpoch(epoch) => self.state.begin_epoch(epoch),
        }
        Flow::Continue
    }

    /// A member applied one of `conn`'s own transactions: once it has none left, the frames
    /// that waited behind them are handled, in order, until one waits again. A connection
    /// that must close or be cut is, here (its reader learns on its next frame).
    pub(crate) fn txn_applied(&mut self, conn: ConnId, flow: Flow, now: Instant, now_ms: i64) {
        let Some(p) = self.pending.get_mut(&conn) else { return };
        p.txns = p.txns.saturating_sub(1);
        let mut flow = flow;
        while flow == Flow::Continue {
            let Some(p) = self.pending.get_mut(&conn).filter(|p| p.txns == 0) else { return };
            let Some(frame) = p.frames.pop_front() else { return };
            flow = self.handle_frame(conn, &frame, now, now_ms);
        }
        self.connection_gone(conn, flow);
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
