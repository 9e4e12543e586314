//! Writes seed inputs, encoded with the codec itself, for both fuzz targets:
//! `corpus/decode_frame/` and `corpus/decode_records/` beside this crate's Cargo.toml (or
//! under the directory given as the first argument). The corpus is not committed.
//!
//! cargo run --example gen_corpus

use std::path::{Path, PathBuf};

use zk_core::proto::{
    encode_frame, encode_reply, encode_request, write_frame, AddWatchRequest, AuthPacket,
    CheckVersionRequest, ClientInfo, ConnectRequest, ConnectResponse, Create2Response, CreateRequest,
    CreateResponse, CreateTtlRequest, DeleteContainerRequest, DeleteRequest, ErrorResponse, EventType,
    ExistsRequest, ExistsResponse, GetAclRequest, GetAclResponse, GetAllChildrenNumberRequest,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenRequest, GetChildrenResponse,
    GetDataRequest, GetDataResponse, GetEphemeralsRequest, GetEphemeralsResponse, GetSaslRequest,
    KeeperState, MultiHeader, MultiOp, MultiRequest, MultiResponse, MultiResult, OpCode, ReconfigRequest,
    Record, RemoveWatchesRequest, ReplyHeader, Request, RequestHeader, SetAclRequest, SetAclResponse,
    SetDataRequest, SetDataResponse, SetSaslResponse, SetWatches, SetWatches2, Stat, SyncRequest,
    SyncResponse, WatcherEvent, WhoAmIResponse, FOUR_LETTER_WORDS, XID_AUTH, XID_NOTIFICATION, XID_PING,
};
use zk_core::{Acl, Perms};
use zk_core_fuzz::{record_kind, request_kind};

fn stat() -> Stat {
    Stat {
        czxid: 1,
        mzxid: 2,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_001,
        version: 3,
        cversion: -1,
        aversion: 4,
        ephemeral_owner: 0x0100_0000_0000_0001,
        data_length: 5,
        num_children: 6,
        pzxid: 7,
    }
}

fn create() -> CreateRequest {
    CreateRequest {
        path: "/app/n".into(),
        data: Some(b"data".to_vec()),
        acl: vec![Acl::world_anyone(Perms::ALL), Acl::new(Perms::READ, "digest", "u:h=")],
        flags: 2,
    }
}

fn create_ttl() -> CreateTtlRequest {
    CreateTtlRequest { path: "/t".into(), data: None, acl: Acl::open_unsafe(), flags: 5, ttl: 60_000 }
}

fn connect_requests() -> Vec<ConnectRequest> {
    let new = ConnectRequest {
        timeout_ms: 30_000,
        passwd: vec![0; 16],
        read_only: Some(false),
        ..Default::default()
    };
    let resume = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0x1_0000_0007,
        timeout_ms: 6_000,
        session_id: 0x0100_0000_0000_0042,
        passwd: (0..16).collect(),
        read_only: Some(true),
    };
    let legacy = ConnectRequest { read_only: None, ..resume.clone() };
    vec![new, resume, legacy]
}

fn connect_response() -> ConnectResponse {
    ConnectResponse {
        protocol_version: 0,
        timeout_ms: 30_000,
        session_id: 0x0100_0000_0000_0001,
        passwd: vec![7; 16],
        read_only: Some(false),
    }
}

/// One request of every opcode, with the xid a client would use.
fn requests() -> Vec<(i32, Request)> {
    let get_data = GetDataRequest { path: "/g".into(), watch: true };
    let children = GetChildrenRequest { path: "/".into(), watch: false };
    let rw = RemoveWatchesRequest { path: "/w".into(), watcher_type: 3 };
    let write_ops = vec![
        MultiOp::Create { op: OpCode::Create, req: create() },
        MultiOp::Create { op: OpCode::Create2, req: CreateRequest { data: None, ..create() } },
        MultiOp::Create { op: OpCode::CreateContainer, req: CreateRequest { flags: 4, ..create() } },
        MultiOp::CreateTtl(create_ttl()),
        MultiOp::Delete(DeleteRequest { path: "/d".into(), version: -1 }),
        MultiOp::SetData(SetDataRequest { path: "/s".into(), data: Some(vec![1, 2]), version: 2 }),
        MultiOp::Check(CheckVersionRequest { path: "/c".into(), version: 0 }),
    ];
    let read_ops = vec![MultiOp::GetData(get_data.clone()), MultiOp::GetChildren(children.clone())];
    let list = vec![
        Request::Create(create()),
        Request::Create2(create()),
        Request::CreateContainer(CreateRequest { flags: 4, ..create() }),
        Request::CreateTtl(create_ttl()),
        Request::Delete(DeleteRequest { path: "/d".into(), version: 2 }),
        Request::DeleteContainer(DeleteContainerRequest { path: "/c".into() }),
        Request::Exists(ExistsRequest { path: "/e".into(), watch: true }),
        Request::GetData(get_data),
        Request::SetData(SetDataRequest { path: "/s".into(), data: None, version: -1 }),
        Request::GetAcl(GetAclRequest { path: "/a".into() }),
        Request::SetAcl(SetAclRequest { path: "/a".into(), acl: Acl::read_unsafe(), version: 0 }),
        Request::GetChildren(children.clone()),
        Request::GetChildren2(GetChildrenRequest { watch: true, ..children }),
        Request::Sync(SyncRequest { path: "/".into() }),
        Request::Ping,
        Request::Check(CheckVersionRequest { path: "/v".into(), version: 1 }),
        Request::Multi(MultiRequest { ops: write_ops }),
        Request::MultiRead(MultiRequest { ops: read_ops }),
        Request::Reconfig(ReconfigRequest {
            joining_servers: "server.4=h:2888:3888;2181".into(),
            leaving_servers: "2,3".into(),
            new_members: String::new(),
            cur_config_id: -1,
        }),
        Request::CheckWatches(rw.clone()),
        Request::RemoveWatches(rw),
        Request::Auth(AuthPacket { auth_type: 0, scheme: "digest".into(), auth: b"u:p".to_vec() }),
        Request::SetWatches(SetWatches {
            relative_zxid: 9,
            data_watches: vec!["/x".into()],
            exist_watches: vec!["/y".into()],
            child_watches: vec!["/".into()],
        }),
        Request::SetWatches2(SetWatches2 {
            relative_zxid: 9,
            persistent_watches: vec!["/p".into()],
            persistent_recursive_watches: vec!["/r".into()],
            ..Default::default()
        }),
        Request::Sasl(GetSaslRequest { token: vec![1, 2, 3] }),
        Request::GetEphemerals(GetEphemeralsRequest { prefix_path: "/".into() }),
        Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: "/".into() }),
        Request::AddWatch(AddWatchRequest { path: "/w".into(), mode: 1 }),
        Request::WhoAmI,
        Request::CloseSession,
    ];
    list.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let xid = match r {
                Request::Ping => XID_PING,
                Request::Auth(_) => XID_AUTH,
                _ => i as i32 + 1,
            };
            (xid, r)
        })
        .collect()
}

/// A reply body: its name and its encoding.
fn responses() -> Vec<(&'static str, Vec<u8>)> {
    let event = WatcherEvent {
        event_type: EventType::NodeDataChanged.code(),
        state: KeeperState::SyncConnected.code(),
        path: "/a".into(),
    };
    let multi = MultiResponse {
        results: vec![
            MultiResult::Create(CreateResponse { path: "/a".into() }),
            MultiResult::Create2(Create2Response { path: "/b".into(), stat: stat() }),
            MultiResult::Delete,
            MultiResult::SetData(SetDataResponse { stat: stat() }),
            MultiResult::Check,
            MultiResult::GetChildren(GetChildrenResponse { children: vec!["x".into()] }),
            MultiResult::GetData(GetDataResponse { data: None, stat: stat() }),
            MultiResult::Error(-101),
            MultiResult::Error(0),
        ],
    };
    let failed = MultiResponse {
        results: vec![MultiResult::Error(0), MultiResult::Error(-103), MultiResult::Error(-2)],
    };
    vec![
        ("WatcherEvent", event.to_bytes()),
        ("MultiResponse", multi.to_bytes()),
        ("MultiResponse-failed", failed.to_bytes()),
        ("CreateResponse", CreateResponse { path: "/q/0000000003".into() }.to_bytes()),
        ("Create2Response", Create2Response { path: "/c".into(), stat: stat() }.to_bytes()),
        ("ExistsResponse", ExistsResponse { stat: stat() }.to_bytes()),
        ("GetDataResponse", GetDataResponse { data: Some(b"hello".to_vec()), stat: stat() }.to_bytes()),
        ("SetDataResponse", SetDataResponse { stat: stat() }.to_bytes()),
        ("GetAclResponse", GetAclResponse { acl: Acl::open_unsafe(), stat: stat() }.to_bytes()),
        ("SetAclResponse", SetAclResponse { stat: stat() }.to_bytes()),
        ("GetChildrenResponse", GetChildrenResponse { children: vec!["a".into(), "b".into()] }.to_bytes()),
        (
            "GetChildren2Response",
            GetChildren2Response { children: vec!["zookeeper".into()], stat: stat() }.to_bytes(),
        ),
        ("SyncResponse", SyncResponse { path: "/".into() }.to_bytes()),
        ("SetSaslResponse", SetSaslResponse { token: vec![9; 8] }.to_bytes()),
        ("GetEphemeralsResponse", GetEphemeralsResponse { ephemerals: vec!["/e/1".into()] }.to_bytes()),
        ("GetAllChildrenNumberResponse", GetAllChildrenNumberResponse { total_number: 3 }.to_bytes()),
        ("ErrorResponse", ErrorResponse { err: 0 }.to_bytes()),
        (
            "WhoAmIResponse",
            WhoAmIResponse {
                client_info: vec![
                    ClientInfo { auth_scheme: "ip".into(), user: "127.0.0.1".into() },
                    ClientInfo { auth_scheme: "digest".into(), user: "u".into() },
                ],
            }
            .to_bytes(),
        ),
    ]
}

struct Out {
    dir: PathBuf,
    count: usize,
}

impl Out {
    fn new(root: &Path, target: &str) -> Out {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        Out { dir, count: 0 }
    }

    fn write(&mut self, name: &str, bytes: &[u8]) {
        let file = self.dir.join(format!("seed-{:03}-{name}", self.count));
        std::fs::write(&file, bytes).expect("write seed");
        self.count += 1;
    }
}

fn frame_seeds(out: &mut Out) {
    let connect = &connect_requests()[0];
    let mut hello = Vec::new();
    encode_frame(&mut hello, connect);

    for (i, c) in connect_requests().iter().enumerate() {
        let mut s = Vec::new();
        encode_frame(&mut s, c);
        out.write(&format!("connect-{i}"), &s);
    }
    // A session: handshake then one request each, and all of them in one stream.
    let mut all = hello.clone();
    for (xid, req) in requests() {
        let mut s = hello.clone();
        req.encode_frame(xid, &mut s);
        req.encode_frame(xid, &mut all);
        out.write(&format!("request-{:?}", req.op_code()), &s);
    }
    out.write("session-all-requests", &all);
    // An unknown opcode (a server answers UNIMPLEMENTED).
    let mut s = hello.clone();
    encode_request(&mut s, &RequestHeader { xid: 3, op_type: 10 }, &());
    out.write("request-unknown-op", &s);

    // The client's view: ConnectResponse, then replies.
    let mut hello_back = Vec::new();
    encode_frame(&mut hello_back, &connect_response());
    out.write("connect-response", &hello_back);
    for (i, (name, body)) in responses().into_iter().enumerate() {
        let xid = if name == "WatcherEvent" { XID_NOTIFICATION } else { i as i32 + 1 };
        let header = ReplyHeader { xid, zxid: 0x1_0000_0000 + i as i64, err: 0 };
        let mut s = hello_back.clone();
        write_frame(&mut s, |b| {
            header.encode(b);
            b.extend_from_slice(&body);
        });
        out.write(&format!("reply-{name}"), &s);
    }
    let mut s = hello_back.clone();
    encode_reply(&mut s, &ReplyHeader { xid: 4, zxid: 0x10, err: -101 }, &());
    encode_reply(&mut s, &ReplyHeader { xid: XID_PING, zxid: 0x10, err: 0 }, &());
    out.write("reply-error-and-ping", &s);

    for w in FOUR_LETTER_WORDS.iter().take(4) {
        out.write(&format!("4lw-{w}"), format!("{w}\n").as_bytes());
    }
}

fn record_seeds(out: &mut Out) {
    let mut put = |name: &str, bytes: Vec<u8>| {
        let mut v = vec![record_kind(name)];
        v.extend_from_slice(&bytes);
        out.write(name, &v);
    };
    for c in connect_requests() {
        put("ConnectRequest", c.to_bytes());
    }
    put("ConnectResponse", connect_response().to_bytes());
    put("RequestHeader", RequestHeader::new(7, OpCode::GetData).to_bytes());
    put("ReplyHeader", ReplyHeader { xid: 7, zxid: 0x10, err: -101 }.to_bytes());
    put("MultiHeader", MultiHeader::TERMINATOR.to_bytes());
    put("Stat", stat().to_bytes());
    put("Acl", Acl::world_anyone(Perms::ALL).to_bytes());
    put("ClientInfo", ClientInfo { auth_scheme: "ip".into(), user: "::1".into() }.to_bytes());
    put("CreateRequest", create().to_bytes());
    put("CreateTtlRequest", create_ttl().to_bytes());
    put("DeleteRequest", DeleteRequest { path: "/d".into(), version: 1 }.to_bytes());
    put("DeleteContainerRequest", DeleteContainerRequest { path: "/c".into() }.to_bytes());
    put("ExistsRequest", ExistsRequest { path: "/e".into(), watch: true }.to_bytes());
    put("GetDataRequest", GetDataRequest { path: "/g".into(), watch: false }.to_bytes());
    put(
        "SetDataRequest",
        SetDataRequest { path: "/s".into(), data: Some(vec![0; 3]), version: 1 }.to_bytes(),
    );
    put("GetAclRequest", GetAclRequest { path: "/a".into() }.to_bytes());
    put(
        "SetAclRequest",
        SetAclRequest { path: "/a".into(), acl: Acl::creator_all(), version: -1 }.to_bytes(),
    );
    put("GetChildrenRequest", GetChildrenRequest { path: "/".into(), watch: true }.to_bytes());
    put("SyncRequest", SyncRequest { path: "/".into() }.to_bytes());
    put("CheckVersionRequest", CheckVersionRequest { path: "/v".into(), version: 2 }.to_bytes());
    put("ReconfigRequest", ReconfigRequest { leaving_servers: "2".into(), ..Default::default() }.to_bytes());
    put("GetEphemeralsRequest", GetEphemeralsRequest { prefix_path: "/e".into() }.to_bytes());
    put("GetAllChildrenNumberRequest", GetAllChildrenNumberRequest { path: "/".into() }.to_bytes());
    put("AuthPacket", AuthPacket { auth_type: 0, scheme: "digest".into(), auth: b"u:p".to_vec() }.to_bytes());
    put("GetSaslRequest", GetSaslRequest { token: vec![1] }.to_bytes());
    put(
        "SetWatches",
        SetWatches { relative_zxid: 1, data_watches: vec!["/d".into()], ..Default::default() }.to_bytes(),
    );
    put(
        "SetWatches2",
        SetWatches2 { persistent_watches: vec!["/p".into()], ..Default::default() }.to_bytes(),
    );
    put("RemoveWatchesRequest", RemoveWatchesRequest { path: "/w".into(), watcher_type: 1 }.to_bytes());
    put("AddWatchRequest", AddWatchRequest { path: "/w".into(), mode: 0 }.to_bytes());
    for (name, body) in responses() {
        put(name.trim_end_matches("-failed"), body);
    }
    for (_, req) in requests() {
        let mut v = vec![request_kind(req.op_code())];
        req.encode_body(&mut v);
        out.write(&format!("Request-{:?}", req.op_code()), &v);
    }
    // Multi requests as bare records, one read and one write.
    for (_, req) in requests() {
        if let Request::Multi(m) | Request::MultiRead(m) = req {
            let mut v = vec![record_kind("MultiRequest")];
            v.extend_from_slice(&m.to_bytes());
            out.write("MultiRequest", &v);
        }
    }
}

fn main() {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let mut frames = Out::new(&root, "decode_frame");
    frame_seeds(&mut frames);
    let mut records = Out::new(&root, "decode_records");
    record_seeds(&mut records);
    println!(
        "wrote {} decode_frame seeds and {} decode_records seeds under {}",
        frames.count,
        records.count,
        root.display()
    );
}
