//! Conformance scenarios on the server's watch table, over a raw connection: zk-core keeps one
//! registration per path (the strongest any watcher needs), so it never sends what these send,
//! a standard and a persistent registration for one path on one connection.
//!
//! What ZooKeeper 3.6-3.8 does (Debian's 3.8.0 here; protocol reference §7.2): each table keeps
//! one mode per connection and path, and the last registration's replaces the one before, so
//! a getData watch after a persistent watch turns the data-table entry into a one-shot one.
//! 3.9 keeps both (ZOOKEEPER-4466). The embedded server follows its [`ServerVersion`]; here it
//! runs as 3.8.0, the default.
//!
//! [`ServerVersion`]: zk_testing::ServerVersion

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_core::proto::{
    peek_frame, write_frame, AddWatchMode, AddWatchRequest, ConnectRequest, ConnectResponse, EventType,
    GetChildrenRequest, GetDataRequest, OpCode, Record, ReplyHeader, RequestHeader, WatcherEvent,
    XID_NOTIFICATION,
};
use zk_core::CreateMode;

use crate::support::Backend;

// On the real server and the embedded one (the ensemble adds nothing to one connection's table).
zk_testing::both_backends!(
    a_one_shot_watch_replaces_a_persistent_one_in_the_data_table,
    a_persistent_watch_keeps_firing_after_a_one_shot_one_replaced_by_it,
    a_recursive_watch_replaces_a_child_watch_on_a_3_8_server,
);

/// One connection speaking the protocol by hand: requests in order, the replies' error codes,
/// and the watch events that came in meanwhile.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    xid: i32,
    events: Vec<(EventType, String)>,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 10_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        let mut frame = Vec::new();
        write_frame(&mut frame, |b| req.encode(b));
        stream.write_all(&frame).await.expect("send the connect request");
        let mut raw = Raw { stream, buf: Vec::new(), xid: 0, events: Vec::new() };
        let reply = raw.frame().await;
        let resp = ConnectResponse::decode(&mut &reply[..]).expect("a connect response");
        assert_ne!(resp.session_id, 0, "a session");
        raw
    }

    /// The next frame's body, within 10 s.
    async fn frame(&mut self) -> Vec<u8> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(n) = peek_frame(&self.buf, 1 << 20).expect("a sane frame") {
                    let body = self.buf[4..n].to_vec();
                    self.buf.drain(..n);
                    return body;
                }
                let mut chunk = [0u8; 4096];
                let k = self.stream.read(&mut chunk).await.expect("read");
                assert!(k > 0, "the server closed the connection");
                self.buf.extend_from_slice(&chunk[..k]);
            }
        })
        .await
        .expect("a frame within 10 s")
    }

    /// Sends one request and waits for its reply, keeping the events before it; returns the
    /// reply's error code.
    async fn call(&mut self, op: OpCode, body: &impl Record) -> i32 {
        self.xid += 1;
        let hdr = RequestHeader { xid: self.xid, op_type: op.code() };
        let mut frame = Vec::new();
        write_frame(&mut frame, |b| {
            hdr.encode(b);
            body.encode(b);
        });
        self.stream.write_all(&frame).await.expect("send");
        // Bounded: events are few here.
        for _ in 0..1_000 {
            let reply = self.frame().await;
            let mut rest = &reply[..];
            let rh = ReplyHeader::decode(&mut rest).expect("a reply header");
            if rh.xid == XID_NOTIFICATION {
                let ev = WatcherEvent::decode(&mut rest).expect("a watch event");
                self.events.push((EventType::try_from(ev.event_type).expect("a known event"), ev.path));
            } else {
                assert_eq!(rh.xid, self.xid, "replies come in order");
                return rh.err;
            }
        }
        panic!("no reply among 1,000 frames");
    }

    async fn get_data_watch(&mut self, path: &str) {
        assert_eq!(
            self.call(OpCode::GetData, &GetDataRequest { path: path.to_owned(), watch: true }).await,
            0
        );
    }

    async fn add_watch(&mut self, path: &str, mode: AddWatchMode) {
        let req = AddWatchRequest { path: path.to_owned(), mode: mode.code() };
        assert_eq!(self.call(OpCode::AddWatch, &req).await, 0);
    }

    /// The events that came in since the last look, after a round trip (a change another
    /// session made before is notified before this reply, §7.7).
    async fn events(&mut self) -> Vec<(EventType, String)> {
        let _ = self.call(OpCode::GetData, &GetDataRequest { path: "/".to_owned(), watch: false }).await;
        std::mem::take(&mut self.events)
    }
}

/// Whether `b` behaves as a 3.6-3.8 server (the real one is Debian's 3.8.0; the embedded one
/// defaults to that).
async fn replaces_modes(b: &Backend) -> bool {
    b.server_version().await.is_some_and(|v| v < (3, 9, 0))
}

async fn a_one_shot_watch_replaces_a_persistent_one_in_the_data_table(b: &Backend) {
    let sb = b.sandbox("conformance-watch-table-replace").await;
    let writer = sb.client().await;
    writer.create("/p", b"", CreateMode::Persistent).await.unwrap();
    let p = format!("{}/p", sb.root());
    let mut raw = Raw::connect(b.addr()).await;
    raw.add_watch(&p, AddWatchMode::Persistent).await;
    raw.get_data_watch(&p).await;

    writer.set_data("/p", b"1", None).await.unwrap();
    assert_eq!(raw.events().await, [(EventType::NodeDataChanged, p.clone())]);
    writer.set_data("/p", b"2", None).await.unwrap();
    let second = raw.events().await;
    if replaces_modes(b).await {
        // The data-table entry was one-shot and is gone: the persistent watch lost its data events.
        assert_eq!(second, [], "{}", b.name());
    } else {
        assert_eq!(second, [(EventType::NodeDataChanged, p.clone())], "{}", b.name());
    }
    // The child table still holds the persistent entry.
    writer.create("/p/c", b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(raw.events().await, [(EventType::NodeChildrenChanged, p.clone())]);
    writer.close().await;
}

async fn a_persistent_watch_keeps_firing_after_a_one_shot_one_replaced_by_it(b: &Backend) {
    let sb = b.sandbox("conformance-watch-table-upgrade").await;
    let writer = sb.client().await;
    writer.create("/q", b"", CreateMode::Persistent).await.unwrap();
    let q = format!("{}/q", sb.root());
    let mut raw = Raw::connect(b.addr()).await;
    raw.get_data_watch(&q).await;
    raw.add_watch(&q, AddWatchMode::Persistent).await;
    for data in [&b"1"[..], b"2", b"3"] {
        writer.set_data("/q", data, None).await.unwrap();
        assert_eq!(raw.events().await, [(EventType::NodeDataChanged, q.clone())], "{}", b.name());
    }
    writer.close().await;
}

/// On 3.6-3.8 a recursive watch is filed in the child table too (§7.1), where it replaces a
/// getChildren watch of the same connection; as recursive watches never get
/// NodeChildrenChanged, the child watch's event is lost. (Alone, a recursive watch gets no
/// NodeChildrenChanged on either version.)
async fn a_recursive_watch_replaces_a_child_watch_on_a_3_8_server(b: &Backend) {
    let sb = b.sandbox("conformance-watch-table-recursive").await;
    let writer = sb.client().await;
    writer.create("/r", b"", CreateMode::Persistent).await.unwrap();
    let r = format!("{}/r", sb.root());
    let mut raw = Raw::connect(b.addr()).await;
    let children = GetChildrenRequest { path: r.clone(), watch: true };
    assert_eq!(raw.call(OpCode::GetChildren, &children).await, 0);
    raw.add_watch(&r, AddWatchMode::PersistentRecursive).await;
    writer.create("/r/c", b"", CreateMode::Persistent).await.unwrap();
    let mut events = raw.events().await;
    events.sort_by_key(|(t, p)| (t.code(), p.clone()));
    let created = (EventType::NodeCreated, format!("{r}/c"));
    if replaces_modes(b).await {
        assert_eq!(events, [created], "{}", b.name());
    } else {
        assert_eq!(events, [created, (EventType::NodeChildrenChanged, r.clone())], "{}", b.name());
    }
    // Alone, a recursive watch gets no NodeChildrenChanged.
    writer.create("/r/d", b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(raw.events().await, [(EventType::NodeCreated, format!("{r}/d"))], "{}", b.name());
    writer.close().await;
}
