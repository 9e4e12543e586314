//! Establishing a connection (handshake, host rotation, backoff) and serving it.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::{sleep, sleep_until, timeout, Instant};

use super::observe;
use super::{Command, ReplyTx, Request, Session, Terminal, Unwatch};
use crate::error::{Error, Result};
use crate::proto::{
    peek_frame, write_frame, AuthPacket, ConnectRequest, ConnectResponse, ErrorCode, EventType,
    GetSaslRequest, OpCode, Record, ReplyHeader, RequestHeader, SetSaslResponse, WatcherEvent, WatcherType,
    XID_AUTH, XID_NOTIFICATION, XID_PING,
};
use crate::sasl::DigestMd5Client;
use crate::session::state::{SessionEvent, SessionState};
use crate::session::watches::{SetWatchesReq, WatchReg};
use crate::tls::TlsError;
use crate::transport::{BoxReader, BoxWriter, Connector};

/// Stop taking new commands while this much is waiting to be written (backpressure).
const WRITE_HIGH_WATER: usize = 4 << 20;

/// How one connection ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The connection broke; the session may live on.
    Lost(String),
    /// The session is over.
    End(Terminal),
}

#[derive(Debug)]
struct Pending {
    xid: i32,
    op: OpCode,
    /// When it was written, for its latency.
    sent_at: Instant,
    /// Its path, only while its trace event is enabled ([`observe::request_path`]).
    path: Option<Box<str>>,
    reply: Option<ReplyTx>,
    watch: Option<WatchReg>,
    remove: Option<(String, WatcherType)>,
}

/// One live connection.
pub(crate) struct Conn {
    reader: BoxReader,
    writer: BoxWriter,
    rbuf: BytesMut,
    wbuf: BytesMut,
    pending: VecDeque<Pending>,
    auth_pending: VecDeque<Option<oneshot::Sender<Result<()>>>>,
    last_send: Instant,
    last_recv: Instant,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("pending", &self.pending.len()).finish_non_exhaustive()
    }
}

impl Conn {
    fn write_ping(&mut self) {
        let hdr = RequestHeader { xid: XID_PING, op_type: OpCode::Ping.code() };
        let mut v = Vec::with_capacity(12);
        write_frame(&mut v, |b| hdr.encode(b));
        self.wbuf.extend_from_slice(&v);
        self.last_send = Instant::now();
    }

    fn write_auth(&mut self, scheme: &str, auth: &[u8], waiter: Option<oneshot::Sender<Result<()>>>) {
        let hdr = RequestHeader { xid: XID_AUTH, op_type: OpCode::Auth.code() };
        let body = AuthPacket { auth_type: 0, scheme: scheme.to_owned(), auth: auth.to_vec() };
        let mut v = Vec::new();
        write_frame(&mut v, |b| {
            hdr.encode(b);
            body.encode(b);
        });
        self.wbuf.extend_from_slice(&v);
        self.auth_pending.push_back(waiter);
        self.last_send = Instant::now();
    }

    /// Whether a request setting a watch on `path` is written but not yet answered.
    ///
    /// A linear scan: only asked when a watcher is dropped or a deferred removal waits.
    fn watch_in_flight(&self, path: &str) -> bool {
        self.pending.iter().any(|p| p.watch.as_ref().is_some_and(|w| w.path() == path))
    }

    fn fail_pending(&mut self, err: &Error) {
        for p in self.pending.drain(..) {
            let code = err.code().unwrap_or(crate::proto::ErrorCode::ConnectionLoss) as i32;
            observe::request_done(p.op, p.xid, 0, code, p.sent_at, p.path.as_deref());
            if let Some(tx) = p.reply {
                let _ = tx.send(Err(err.clone()));
            }
        }
        for tx in self.auth_pending.drain(..).flatten() {
            let _ = tx.send(Err(err.clone()));
        }
    }
}

/// Encodes a whole request frame with a zero xid placeholder.
pub(crate) fn encode_request<R: Record>(op: OpCode, body: &R) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + body.encoded_len());
    write_frame(&mut v, |b| {
        RequestHeader { xid: 0, op_type: op.code() }.encode(b);
        body.encode(b);
    });
    v
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Opens a connection and performs the handshake (§2).
async fn handshake(
    connector: Arc<dyn Connector>,
    host: String,
    req: ConnectRequest,
    max_frame: usize,
) -> io::Result<(BoxReader, BoxWriter, BytesMut, ConnectResponse)> {
    let (mut r, mut w) = connector.connect(&host).await?;
    let mut out = Vec::with_capacity(64);
    write_frame(&mut out, |b| req.encode(b));
    w.write_all(&out).await?;
    w.flush().await?;
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    loop {
        if let Some(n) = peek_frame(&rbuf, max_frame).map_err(invalid)? {
            let frame = rbuf.split_to(n);
            let resp = ConnectResponse::decode(&mut &frame[4..]).map_err(invalid)?;
            return Ok((r, w, rbuf, resp));
        }
        if r.read_buf(&mut rbuf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection during the handshake",
            ));
        }
    }
}

/// How a SASL exchange failed.
enum SaslFailure {
    /// The server rejected the credentials (AUTHFAILED, or it hung up on our digest), or it
    /// could not prove it knows the password: the session cannot go on.
    Rejected,
    /// The connection failed: try another.
    Io(io::Error),
}

/// Runs the SASL DIGEST-MD5 exchange on a fresh connection, before any other request (§9.4):
/// sasl requests (op 102) with ordinary xids, each answered in turn.
async fn sasl_exchange(
    mut client: DigestMd5Client,
    xids: [i32; 3],
    (reader, writer, rbuf): (&mut BoxReader, &mut BoxWriter, &mut BytesMut),
    max_frame: usize,
) -> Result<(), SaslFailure> {
    let mut token = client.initial();
    for (round, xid) in xids.into_iter().enumerate() {
        let mut out = Vec::with_capacity(64 + token.len());
        let header = RequestHeader { xid, op_type: OpCode::Sasl.code() };
        crate::proto::encode_request(
            &mut out,
            &header,
            &GetSaslRequest { token: std::mem::take(&mut token) },
        );
        writer.write_all(&out).await.map_err(SaslFailure::Io)?;
        writer.flush().await.map_err(SaslFailure::Io)?;
        let frame = loop {
            if let Some(n) = peek_frame(rbuf, max_frame).map_err(|e| SaslFailure::Io(invalid(e)))? {
                break rbuf.split_to(n);
            }
            match reader.read_buf(rbuf).await {
                Ok(0) if round > 0 => {
                    // It read our digest and hung up: ZooKeeper before 3.8 closes without
                    // an AUTHFAILED reply.
                    tracing::warn!("the server closed the connection on our SASL response");
                    return Err(SaslFailure::Rejected);
                }
                Ok(0) => return Err(SaslFailure::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {}
                Err(e) => return Err(SaslFailure::Io(e)),
            }
        };
        let mut body = &frame[4..];
        let reply = ReplyHeader::decode(&mut body).map_err(|e| SaslFailure::Io(invalid(e)))?;
        if reply.xid != xid {
            return Err(SaslFailure::Io(invalid(format!("SASL reply xid {} for request {xid}", reply.xid))));
        }
        if reply.err != 0 {
            tracing::warn!(code = reply.err, "the server rejected the SASL credentials");
            return Err(SaslFailure::Rejected);
        }
        let server_token = SetSaslResponse::decode(&mut body).map_err(|e| SaslFailure::Io(invalid(e)))?.token;
        token = client.step(&server_token).map_err(|_| SaslFailure::Rejected)?;
        if client.is_complete() {
            return Ok(());
        }
    }
    tracing::warn!("the SASL exchange did not complete in two round trips");
    Err(SaslFailure::Rejected)
}

impl Session {
    /// Runs `fut` while still taking commands (held for later) and watcher drops, failing
    /// held requests that wait too long and announcing when the session timeout passed.
    async fn while_handling_commands<F: Future>(&mut self, fut: F) -> Result<F::Output, Terminal> {
        tokio::pin!(fut);
        loop {
            let due = self.next_due();
            tokio::select! {
                out = &mut fut => return Ok(out),
                cmd = self.cmd_rx.recv() => self.hold(cmd)?,
                Some(u) = self.unwatch_rx.recv() => {
                    // The next connection's SetWatches simply leaves it out; with no
                    // connection, nothing is in flight.
                    self.unwatch(u, |_| false);
                }
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.on_due(Instant::now());
                }
            }
        }
    }

    /// Connects to some host of the ensemble: resuming the session if there is one, else
    /// opening a new one.
    ///
    /// The first connect of a client gives up after the configured session timeout. Later
    /// ones try for as long as it takes: only a server can say that a session expired (the
    /// ensemble may have kept it through an outage longer than its timeout), unless the
    /// builder asked for a local expiry deadline (`last heard + session timeout`).
    pub(super) async fn connect(&mut self) -> Result<Conn, Terminal> {
        let resuming = self.ever_connected && self.session_id != 0;
        let deadline = if !self.ever_connected {
            Some(Instant::now() + self.config.session_timeout)
        } else if resuming && self.config.local_expiry {
            Some(self.last_heard + self.negotiated)
        } else {
            None
        };
        let per_attempt = self.attempt_timeout();
        // Passes over the hosts back off to at most 400 ms (plus jitter): an ensemble back from
        // a quorum loss is found within a second, as Curator's clients find it.
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(10))
            .with_max_delay(Duration::from_millis(400))
            .with_jitter()
            .with_jitter_seed(self.hosts.jitter_seed())
            .without_max_times()
            .build();
        let mut last_err = String::from("no host tried");
        let mut attempts = 0u32;
        // The TLS error of this pass over the hosts while every attempt of it failed with
        // one that waiting will not fix (a certificate rejected, on either side).
        let mut pass_tls: Option<Option<TlsError>> = Some(None);
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(if resuming { Terminal::Expired } else { Terminal::ConnectFailed(last_err) });
            }
            let left = deadline.map_or(Duration::MAX, |d| d - now);
            let (host, new_pass) = self.hosts.next_host();
            if new_pass {
                // A first connect that every host refused over certificates ends at once:
                // the caller learns why instead of waiting out the session timeout. Later,
                // the session is worth waiting for (certificates may be rotated meanwhile).
                if let Some(Some(tls)) = pass_tls.take() {
                    if !self.ever_connected {
                        return Err(Terminal::Tls(tls));
                    }
                    tracing::warn!(error = %tls, "every server refused TLS; still trying");
                }
                pass_tls = Some(None);
            }
            if new_pass && attempts > 0 {
                let delay = backoff.next().unwrap_or(Duration::from_secs(1)).min(left);
                self.while_handling_commands(sleep(delay)).await?;
            }
            attempts += 1;
            let req = ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: self.last_zxid,
                timeout_ms: i32::try_from(self.config.session_timeout.as_millis()).unwrap_or(i32::MAX),
                session_id: self.session_id,
                passwd: self.password.clone(),
                read_only: Some(self.config.read_only),
            };
            let budget = per_attempt
                .min(deadline.map_or(per_attempt, |d| d.saturating_duration_since(Instant::now())));
            let attempt = timeout(
                budget,
                handshake(self.config.connector.clone(), host.clone(), req, self.config.max_frame),
            );
            match self.while_handling_commands(attempt).await? {
                Err(_) => {
                    pass_tls = None;
                    last_err = format!("{host}: no handshake within {budget:?}");
                }
                Ok(Err(e)) => {
                    pass_tls = match (pass_tls, TlsError::from_io(&e)) {
                        (Some(_), Some(tls)) if tls.is_permanent() => Some(Some(tls.clone())),
                        _ => None,
                    };
                    last_err = format!("{host}: {e}");
                }
                Ok(Ok((reader, writer, rbuf, resp))) => {
                    pass_tls = None;
                    if resp.timeout_ms <= 0 {
                        if self.session_id != 0 {
                            return Err(Terminal::Expired);
                        }
                        last_err = format!("{host}: server refused a new session");
                        continue;
                    }
                    let (mut reader, mut writer, mut rbuf) = (reader, writer, rbuf);
                    if let Some((user, password)) = self.config.sasl.clone() {
                        let cnonce =
                            format!("{:016x}{:016x}", self.hosts.jitter_seed(), self.hosts.jitter_seed());
                        let client = DigestMd5Client::new(&user, &password, &cnonce);
                        let xids = [self.next_xid(), self.next_xid(), self.next_xid()];
                        let io = (&mut reader, &mut writer, &mut rbuf);
                        let exchange =
                            timeout(budget, sasl_exchange(client, xids, io, self.config.max_frame));
                        match self.while_handling_commands(exchange).await? {
                            Ok(Ok(())) => {}
                            Ok(Err(SaslFailure::Rejected)) => return Err(Terminal::AuthFailed),
                            Ok(Err(SaslFailure::Io(e))) => {
                                last_err = format!("{host}: SASL: {e}");
                                continue;
                            }
                            Err(_) => {
                                last_err = format!("{host}: no SASL answer within {budget:?}");
                                continue;
                            }
                        }
                    }
                    tracing::debug!(%host, attempts, "connected");
                    return Ok(self.established(host, reader, writer, rbuf, resp, resuming));
                }
            }
        }
    }

    fn established(
        &mut self,
        host: String,
        reader: BoxReader,
        writer: BoxWriter,
        rbuf: BytesMut,
        resp: ConnectResponse,
        resumed: bool,
    ) -> Conn {
        let renewed = self.ever_connected && !resumed;
        self.session_id = resp.session_id;
        self.password = resp.passwd;
        self.negotiated = Duration::from_millis(resp.timeout_ms as u64);
        self.ever_connected = true;
        self.timeout_elapsed_at = None;
        let now = Instant::now();
        self.last_heard = now;
        let (state, event) = match (resp.read_only == Some(true), resumed, renewed) {
            (true, _, _) => (SessionState::ConnectedReadOnly, SessionEvent::ConnectedReadOnly),
            (false, true, _) => (SessionState::Connected, SessionEvent::Reconnected),
            (false, false, true) => {
                tracing::info!(session_id = format_args!("{:#x}", resp.session_id), "new session");
                (SessionState::Connected, SessionEvent::NewSession { session_id: resp.session_id })
            }
            (false, false, false) => (SessionState::Connected, SessionEvent::Connected),
        };
        self.state_tx.send_modify(|s| s.server = Some(host));
        self.publish(state, event);
        Conn {
            reader,
            writer,
            rbuf,
            wbuf: BytesMut::with_capacity(64 * 1024),
            pending: VecDeque::new(),
            auth_pending: VecDeque::new(),
            last_send: now,
            last_recv: now,
        }
    }

    /// Serves one connection until it breaks or the session ends.
    pub(super) async fn serve(&mut self, mut conn: Conn) -> Outcome {
        let outcome = self.serve_inner(&mut conn).await;
        let err = match &outcome {
            Outcome::Lost(why) => {
                // Published before the requests in flight fail, so a caller that sees their
                // ConnectionLoss also sees the client disconnected.
                tracing::info!(%why, "connection lost; reconnecting");
                if !self.config.local_expiry {
                    self.timeout_elapsed_at = Some(self.last_heard + self.negotiated);
                }
                self.publish(SessionState::Disconnected, SessionEvent::Disconnected);
                Error::ConnectionLoss
            }
            Outcome::End(end) => end.error(),
        };
        conn.fail_pending(&err);
        self.registry.connection_lost();
        outcome
    }

    /// Re-sends auth and watches after (re)connecting, then what was queued meanwhile
    /// (§3.3: auth, then SetWatches, then user requests).
    fn replay(&mut self, conn: &mut Conn) {
        for (scheme, auth) in &self.auths {
            conn.write_auth(scheme, auth, None);
        }
        let set_watches = self.registry.set_watches(self.last_zxid);
        self.registry.plan.catching_up(set_watches.len() as u32);
        for sw in set_watches {
            let (op, frame) = match sw {
                SetWatchesReq::V1(r) => (OpCode::SetWatches, encode_request(OpCode::SetWatches, &r)),
                SetWatchesReq::V2(r) => (OpCode::SetWatches2, encode_request(OpCode::SetWatches2, &r)),
            };
            self.write_request(conn, Request { op, frame, reply: None, watch: None, remove: None });
        }
        let queued = std::mem::take(&mut self.queued);
        for (_, cmd) in queued {
            self.handle(conn, cmd);
        }
    }

    async fn serve_inner(&mut self, conn: &mut Conn) -> Outcome {
        self.replay(conn);
        let read_timeout = self.negotiated * 2 / 3;
        let ping_every = self.negotiated / 3;
        let mut closing: Option<Instant> = None;
        let timer = sleep_until((conn.last_recv + read_timeout).min(conn.last_send + ping_every));
        tokio::pin!(timer);
        loop {
            tokio::select! {
                biased;
                r = conn.reader.read_buf(&mut conn.rbuf) => match r {
                    Ok(0) => return lost_unless_closing(closing, "server closed the connection".into()),
                    Err(e) => return lost_unless_closing(closing, format!("read failed: {e}")),
                    Ok(_) => {
                        let now = Instant::now();
                        conn.last_recv = now;
                        self.last_heard = now;
                        if let Some(out) = self.process(conn) {
                            return out;
                        }
                    }
                },
                r = conn.writer.write_buf(&mut conn.wbuf), if !conn.wbuf.is_empty() => match r {
                    Ok(0) => return lost_unless_closing(closing, "connection closed while writing".into()),
                    Err(e) => return lost_unless_closing(closing, format!("write failed: {e}")),
                    Ok(_) => {
                        if conn.wbuf.is_empty() {
                            if let Err(e) = conn.writer.flush().await {
                                return lost_unless_closing(closing, format!("flush failed: {e}"));
                            }
                        }
                    }
                },
                cmd = self.cmd_rx.recv(), if closing.is_none() && conn.wbuf.len() < WRITE_HIGH_WATER => match cmd {
                    None => closing = Some(self.start_close(conn, read_timeout)),
                    Some(Command::Close(tx)) => {
                        self.closers.push(tx);
                        closing = Some(self.start_close(conn, read_timeout));
                    }
                    Some(cmd) => {
                        // Watchers dropped before this command was issued are removed first, so a
                        // caller that drops its watcher and then changes the node is not notified.
                        while let Ok(u) = self.unwatch_rx.try_recv() {
                            self.apply_unwatch(conn, u);
                        }
                        self.handle(conn, cmd)
                    }
                },
                // Once closeSession is sent, the session's watches go with it: nothing follows it.
                Some(u) = self.unwatch_rx.recv(), if closing.is_none() => self.apply_unwatch(conn, u),
                () = &mut timer => {
                    let now = Instant::now();
                    if now >= conn.last_recv + read_timeout {
                        return Outcome::Lost(format!("nothing heard from the server for {read_timeout:?}"));
                    }
                    if closing.is_some_and(|d| now >= d) {
                        return Outcome::End(Terminal::Closed);
                    }
                    if now >= conn.last_send + ping_every {
                        conn.write_ping();
                    }
                    let mut next = (conn.last_recv + read_timeout).min(conn.last_send + ping_every);
                    if let Some(d) = closing {
                        next = next.min(d);
                    }
                    timer.as_mut().reset(next);
                }
            }
        }
    }

    /// Sends CloseSession after everything already issued; returns the deadline for its reply.
    /// From then on the connection ending, however it ends, ends the session task: the server
    /// closes the connection after answering, and a connection lost meanwhile must not send the
    /// client back to reconnect (it would find its session closed and, renewing, open another
    /// while `close` waits).
    fn start_close(&mut self, conn: &mut Conn, wait: Duration) -> Instant {
        let frame = encode_request(OpCode::CloseSession, &());
        self.write_request(
            conn,
            Request { op: OpCode::CloseSession, frame, reply: None, watch: None, remove: None },
        );
        Instant::now() + wait.min(Duration::from_secs(5))
    }

    /// Drops a watcher whose handle is gone, removing the server's watch when no other local
    /// watcher (nor a registration in flight) still needs it.
    fn apply_unwatch(&mut self, conn: &mut Conn, u: Unwatch) {
        if let Some((path, wt)) = self.unwatch(u, |p| conn.watch_in_flight(p)) {
            self.send_remove_watches(conn, path, wt);
        }
    }

    fn send_remove_watches(&mut self, conn: &mut Conn, path: String, wt: WatcherType) {
        let body = crate::proto::RemoveWatchesRequest { path, watcher_type: wt.code() };
        let frame = encode_request(OpCode::RemoveWatches, &body);
        self.write_request(
            conn,
            Request { op: OpCode::RemoveWatches, frame, reply: None, watch: None, remove: None },
        );
    }

    fn handle(&mut self, conn: &mut Conn, cmd: Command) {
        match cmd {
            Command::Request(r) => self.write_request(conn, r),
            Command::Auth { scheme, auth, reply } => {
                // Remembered at once so a reconnect re-sends it, as the Java client does.
                conn.write_auth(&scheme, &auth, Some(reply));
                self.auths.push((scheme, auth));
            }
            Command::Close(tx) => self.closers.push(tx),
            Command::Stats(tx) => {
                let _ = tx.send(self.stats(conn.pending.len()));
            }
            Command::SetHosts(hosts) => self.set_hosts(hosts),
        }
    }

    fn write_request(&mut self, conn: &mut Conn, mut r: Request) {
        if let Some(w) = r.watch.as_mut() {
            self.registry.prepare(w, &mut r.frame);
        }
        let xid = self.next_xid();
        r.frame[4..8].copy_from_slice(&xid.to_be_bytes());
        conn.wbuf.extend_from_slice(&r.frame);
        conn.last_send = Instant::now();
        let path = observe::request_path(r.op, &r.frame);
        let (sent_at, op) = (conn.last_send, r.op);
        conn.pending.push_back(Pending {
            xid,
            op,
            sent_at,
            path,
            reply: r.reply,
            watch: r.watch,
            remove: r.remove,
        });
    }

    /// Handles every whole frame in the read buffer.
    fn process(&mut self, conn: &mut Conn) -> Option<Outcome> {
        loop {
            let n = match peek_frame(&conn.rbuf, self.config.max_frame) {
                Ok(Some(n)) => n,
                Ok(None) => return None,
                Err(e) => return Some(Outcome::Lost(format!("bad frame from the server: {e}"))),
            };
            let frame = conn.rbuf.split_to(n).freeze();
            match self.on_frame(conn, frame) {
                Ok(None) => {}
                Ok(Some(end)) => return Some(Outcome::End(end)),
                Err(why) => return Some(Outcome::Lost(why)),
            }
        }
    }

    fn on_frame(&mut self, conn: &mut Conn, frame: bytes::Bytes) -> Result<Option<Terminal>, String> {
        let mut body = &frame[4..];
        let hdr = ReplyHeader::decode(&mut body).map_err(|e| format!("bad reply header: {e}"))?;
        match hdr.xid {
            XID_NOTIFICATION => {
                let ev = WatcherEvent::decode(&mut body).map_err(|e| format!("bad watch event: {e}"))?;
                match EventType::try_from(ev.event_type) {
                    Ok(t) => {
                        observe::watch_event(t);
                        self.registry.dispatch(t, &ev.path, hdr.zxid, &self.config.chroot);
                    }
                    Err(_) => tracing::warn!(event_type = ev.event_type, "ignoring unknown watch event type"),
                }
                Ok(None)
            }
            XID_PING => Ok(None),
            XID_AUTH => {
                let waiter = conn.auth_pending.pop_front().flatten();
                let result = if hdr.err == 0 { Ok(()) } else { Err(Error::from_code(hdr.err)) };
                if let Some(tx) = waiter {
                    let _ = tx.send(result);
                }
                Ok((hdr.err == ErrorCode::AuthFailed.code()).then_some(Terminal::AuthFailed))
            }
            xid => {
                let p = conn
                    .pending
                    .pop_front()
                    .ok_or_else(|| format!("reply xid {xid} with nothing pending"))?;
                if p.xid != xid {
                    return Err(format!("xid out of order: expected {}, got {xid}", p.xid));
                }
                if hdr.zxid > 0 && hdr.zxid > self.last_zxid {
                    self.last_zxid = hdr.zxid;
                }
                observe::request_done(p.op, xid, hdr.zxid, hdr.err, p.sent_at, p.path.as_deref());
                if matches!(p.op, OpCode::SetWatches | OpCode::SetWatches2) {
                    self.registry.plan.caught_up();
                }
                if let Some(w) = p.watch {
                    // `p` is already popped: only other registrations count as in flight.
                    let in_flight = |path: &str| conn.watch_in_flight(path);
                    if let Some((path, wt)) = self.registry.register(w, hdr.err, in_flight) {
                        self.send_remove_watches(conn, path, wt);
                    }
                }
                if hdr.err == 0 {
                    if let Some((path, wt)) = p.remove {
                        self.registry.remove_local(&path, wt, &self.config.chroot);
                    }
                }
                if let Some(tx) = p.reply {
                    let result = if hdr.err == 0 {
                        Ok(super::Reply { body: frame.slice(20..) })
                    } else {
                        Err(Error::from_code(hdr.err))
                    };
                    let _ = tx.send(result);
                }
                Ok((p.op == OpCode::CloseSession).then_some(Terminal::Closed))
            }
        }
    }
}

/// A connection that ended: lost (the client reconnects), unless the client was closing its
/// session, which is then over.
fn lost_unless_closing(closing: Option<Instant>, why: String) -> Outcome {
    match closing {
        Some(_) => Outcome::End(Terminal::Closed),
        None => Outcome::Lost(why),
    }
}
