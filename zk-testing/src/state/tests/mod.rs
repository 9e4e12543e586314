//! Behaviour tests of the state machine, one file per area; each names the § it checks.

mod acls;
mod create;
mod delete_data;
mod memory;
mod multi;
mod sessions;
mod snapshot;
mod watch;

use zk_core::proto::{
    Acl, CreateRequest, ErrorCode, EventType, ExistsRequest, GetDataRequest, GetDataResponse, Record,
    Request, Stat,
};

use super::{ConnId, Outcome, State, StateConfig};

/// Wall clock of the tests, ms.
pub(super) const NOW: i64 = 1_700_000_000_000;
/// Session of connection 1.
pub(super) const S1: i64 = 0x0100_0000_0000_0001;
/// Session of connection 2.
pub(super) const S2: i64 = 0x0100_0000_0000_0002;

/// A state with connections 1 (session S1) and 2 (session S2), both from 127.0.0.1.
pub(super) struct T {
    pub(super) s: State,
}

impl T {
    pub(super) fn new() -> T {
        T::with(StateConfig::default())
    }

    pub(super) fn with(config: StateConfig) -> T {
        let mut s = State::new(config);
        s.connection_opened(1, S1, "127.0.0.1");
        s.connection_opened(2, S2, "127.0.0.1");
        T { s }
    }

    pub(super) fn run(&mut self, conn: ConnId, req: Request) -> Outcome {
        self.s.process(conn, req, NOW)
    }

    /// create2 by connection 1 with data `d` and an open ACL.
    pub(super) fn create(&mut self, path: &str, flags: i32) -> Outcome {
        self.run(1, Request::Create2(creq(path, Some(b"d"), flags)))
    }

    /// A persistent node that must be created; returns its actual path.
    pub(super) fn mk(&mut self, path: &str) -> String {
        let o = self.create(path, 0);
        let r: zk_core::proto::Create2Response = body(&o);
        r.path
    }

    pub(super) fn stat(&self, path: &str) -> Stat {
        let idx = self.s.tree.lookup(path).unwrap_or_else(|| panic!("{path} missing"));
        self.s.tree.node(idx).stat()
    }

    pub(super) fn exists(&self, path: &str) -> bool {
        self.s.tree.lookup(path).is_some()
    }

    pub(super) fn get(&mut self, conn: ConnId, path: &str) -> Result<GetDataResponse, ErrorCode> {
        let o = self.run(conn, Request::GetData(GetDataRequest { path: path.into(), watch: false }));
        if o.reply.err == 0 {
            Ok(body(&o))
        } else {
            Err(code(&o))
        }
    }

    /// exists with a watch from `conn`.
    pub(super) fn watch_exists(&mut self, conn: ConnId, path: &str) -> Outcome {
        self.run(conn, Request::Exists(ExistsRequest { path: path.into(), watch: true }))
    }
}

pub(super) fn creq(path: &str, data: Option<&[u8]>, flags: i32) -> CreateRequest {
    CreateRequest { path: path.into(), data: data.map(<[u8]>::to_vec), acl: Acl::open_unsafe(), flags }
}

/// The reply body decoded; panics unless err is 0.
pub(super) fn body<R: Record>(o: &Outcome) -> R {
    assert_eq!(o.reply.err, 0, "expected success, got {:?}", ErrorCode::try_from(o.reply.err));
    let mut b = &o.reply.body[..];
    let r = R::decode(&mut b).expect("decodable body");
    assert!(b.is_empty(), "{} trailing bytes", b.len());
    r
}

pub(super) fn code(o: &Outcome) -> ErrorCode {
    ErrorCode::try_from(o.reply.err).expect("a known code")
}

/// Asserts the reply failed with `want` and carried no body.
pub(super) fn fails(o: &Outcome, want: ErrorCode) {
    assert_eq!(code(o), want);
    assert!(o.reply.body.is_empty(), "error replies have no body");
}

/// Notifications as `(conn, event type, path)`.
pub(super) fn events(o: &[super::Notification]) -> Vec<(ConnId, EventType, String)> {
    o.iter()
        .map(|n| {
            assert_eq!(n.event.state, 3, "SyncConnected");
            (n.conn, EventType::try_from(n.event.event_type).expect("event type"), n.event.path.clone())
        })
        .collect()
}

pub(super) fn ev(conn: ConnId, t: EventType, path: &str) -> (ConnId, EventType, String) {
    (conn, t, path.to_owned())
}
