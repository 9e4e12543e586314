//! [`Request`]: every client → server request body, tagged by its opcode.

use bytes::BufMut;

use super::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest, CreateTtlRequest,
    DecodeError, DecodeResult, DeleteContainerRequest, DeleteRequest, ExistsRequest, GetAclRequest,
    GetAllChildrenNumberRequest, GetChildrenRequest, GetDataRequest, GetEphemeralsRequest, GetSaslRequest,
    MultiRequest, OpCode, ReconfigRequest, Record, RemoveWatchesRequest, RequestHeader, SetAclRequest,
    SetDataRequest, SetWatches, SetWatches2, SyncRequest,
};

/// A request body together with the opcode that selects its layout (§4.1).
///
/// This is what an embedded server decodes after the [`RequestHeader`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    /// create (1).
    Create(CreateRequest),
    /// create2 (15).
    Create2(CreateRequest),
    /// createContainer (19).
    CreateContainer(CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// deleteContainer (20).
    DeleteContainer(DeleteContainerRequest),
    /// exists (3).
    Exists(ExistsRequest),
    /// getData (4).
    GetData(GetDataRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// getACL (6).
    GetAcl(GetAclRequest),
    /// setACL (7).
    SetAcl(SetAclRequest),
    /// getChildren (8).
    GetChildren(GetChildrenRequest),
    /// getChildren2 (12).
    GetChildren2(GetChildrenRequest),
    /// sync (9).
    Sync(SyncRequest),
    /// ping (11), no body.
    Ping,
    /// check (13).
    Check(CheckVersionRequest),
    /// multi (14): write ops only.
    Multi(MultiRequest),
    /// multiRead (22): getChildren / getData ops only.
    MultiRead(MultiRequest),
    /// reconfig (16).
    Reconfig(ReconfigRequest),
    /// checkWatches (17).
    CheckWatches(CheckWatchesRequest),
    /// removeWatches (18).
    RemoveWatches(RemoveWatchesRequest),
    /// auth (100).
    Auth(AuthPacket),
    /// setWatches (101).
    SetWatches(SetWatches),
    /// setWatches2 (105).
    SetWatches2(SetWatches2),
    /// sasl (102).
    Sasl(GetSaslRequest),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsRequest),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// addWatch (106).
    AddWatch(AddWatchRequest),
    /// whoAmI (107), no body.
    WhoAmI,
    /// closeSession (-11), no body.
    CloseSession,
}

/// Applies `$f` to the body record of a request, or evaluates `$empty` for the bodiless ones.
macro_rules! with_body {
    ($req:expr, $r:ident => $f:expr, $empty:expr) => {
        match $req {
            Request::Create($r) | Request::Create2($r) | Request::CreateContainer($r) => $f,
            Request::CreateTtl($r) => $f,
            Request::Delete($r) => $f,
            Request::DeleteContainer($r) => $f,
            Request::Exists($r) => $f,
            Request::GetData($r) => $f,
            Request::SetData($r) => $f,
            Request::GetAcl($r) => $f,
            Request::SetAcl($r) => $f,
            Request::GetChildren($r) | Request::GetChildren2($r) => $f,
            Request::Sync($r) => $f,
            Request::Check($r) => $f,
            Request::Multi($r) | Request::MultiRead($r) => $f,
            Request::Reconfig($r) => $f,
            Request::CheckWatches($r) | Request::RemoveWatches($r) => $f,
            Request::Auth($r) => $f,
            Request::SetWatches($r) => $f,
            Request::SetWatches2($r) => $f,
            Request::Sasl($r) => $f,
            Request::GetEphemerals($r) => $f,
            Request::GetAllChildrenNumber($r) => $f,
            Request::AddWatch($r) => $f,
            Request::Ping | Request::WhoAmI | Request::CloseSession => $empty,
        }
    };
}

impl Request {
    /// The opcode for the request header.
    pub fn op_code(&self) -> OpCode {
        use Request as R;
        match self {
            R::Create(_) => OpCode::Create,
            R::Create2(_) => OpCode::Create2,
            R::CreateContainer(_) => OpCode::CreateContainer,
            R::CreateTtl(_) => OpCode::CreateTtl,
            R::Delete(_) => OpCode::Delete,
            R::DeleteContainer(_) => OpCode::DeleteContainer,
            R::Exists(_) => OpCode::Exists,
            R::GetData(_) => OpCode::GetData,
            R::SetData(_) => OpCode::SetData,
            R::GetAcl(_) => OpCode::GetAcl,
            R::SetAcl(_) => OpCode::SetAcl,
            R::GetChildren(_) => OpCode::GetChildren,
            R::GetChildren2(_) => OpCode::GetChildren2,
            R::Sync(_) => OpCode::Sync,
            R::Ping => OpCode::Ping,
            R::Check(_) => OpCode::Check,
            R::Multi(_) => OpCode::Multi,
            R::MultiRead(_) => OpCode::MultiRead,
            R::Reconfig(_) => OpCode::Reconfig,
            R::CheckWatches(_) => OpCode::CheckWatches,
            R::RemoveWatches(_) => OpCode::RemoveWatches,
            R::Auth(_) => OpCode::Auth,
            R::SetWatches(_) => OpCode::SetWatches,
            R::SetWatches2(_) => OpCode::SetWatches2,
            R::Sasl(_) => OpCode::Sasl,
            R::GetEphemerals(_) => OpCode::GetEphemerals,
            R::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            R::AddWatch(_) => OpCode::AddWatch,
            R::WhoAmI => OpCode::WhoAmI,
            R::CloseSession => OpCode::CloseSession,
        }
    }

    /// Appends the body (nothing for ping, whoAmI and closeSession).
    pub fn encode_body(&self, buf: &mut impl BufMut) {
        with_body!(self, r => r.encode(buf), ())
    }

    /// The exact number of bytes [`Request::encode_body`] writes.
    pub fn body_len(&self) -> usize {
        with_body!(self, r => r.encoded_len(), 0)
    }

    /// Appends a whole frame: length prefix, `RequestHeader { xid, op_code }`, body.
    pub fn encode_frame(&self, xid: i32, buf: &mut Vec<u8>) {
        let header = RequestHeader::new(xid, self.op_code());
        buf.reserve(4 + header.encoded_len() + self.body_len());
        super::write_frame(buf, |b| {
            header.encode(b);
            self.encode_body(b);
        });
    }

    /// Decodes the body that follows a request header of opcode `op`. Bodies of ping, whoAmI
    /// and closeSession are ignored, as are trailing bytes.
    ///
    /// # Errors
    /// * [`DecodeError::UnknownValue`] for opcodes that are never requests (notification,
    ///   error, createSession) and for unknown multi op types;
    /// * [`DecodeError::Invalid`] for a read op in a multi or a write op in a multiRead;
    /// * [`DecodeError::Truncated`] / [`DecodeError::BadLength`] for malformed bodies.
    pub fn decode(op: OpCode, body: &mut &[u8]) -> DecodeResult<Request> {
        use Request as R;
        let b = body;
        Ok(match op {
            OpCode::Create => R::Create(Record::decode(b)?),
            OpCode::Create2 => R::Create2(Record::decode(b)?),
            OpCode::CreateContainer => R::CreateContainer(Record::decode(b)?),
            OpCode::CreateTtl => R::CreateTtl(Record::decode(b)?),
            OpCode::Delete => R::Delete(Record::decode(b)?),
            OpCode::DeleteContainer => R::DeleteContainer(Record::decode(b)?),
            OpCode::Exists => R::Exists(Record::decode(b)?),
            OpCode::GetData => R::GetData(Record::decode(b)?),
            OpCode::SetData => R::SetData(Record::decode(b)?),
            OpCode::GetAcl => R::GetAcl(Record::decode(b)?),
            OpCode::SetAcl => R::SetAcl(Record::decode(b)?),
            OpCode::GetChildren => R::GetChildren(Record::decode(b)?),
            OpCode::GetChildren2 => R::GetChildren2(Record::decode(b)?),
            OpCode::Sync => R::Sync(Record::decode(b)?),
            OpCode::Ping => R::Ping,
            OpCode::Check => R::Check(Record::decode(b)?),
            OpCode::Multi => R::Multi(decode_multi(b, false)?),
            OpCode::MultiRead => R::MultiRead(decode_multi(b, true)?),
            OpCode::Reconfig => R::Reconfig(Record::decode(b)?),
            OpCode::CheckWatches => R::CheckWatches(Record::decode(b)?),
            OpCode::RemoveWatches => R::RemoveWatches(Record::decode(b)?),
            OpCode::Auth => R::Auth(Record::decode(b)?),
            OpCode::SetWatches => R::SetWatches(Record::decode(b)?),
            OpCode::SetWatches2 => R::SetWatches2(Record::decode(b)?),
            OpCode::Sasl => R::Sasl(Record::decode(b)?),
            OpCode::GetEphemerals => R::GetEphemerals(Record::decode(b)?),
            OpCode::GetAllChildrenNumber => R::GetAllChildrenNumber(Record::decode(b)?),
            OpCode::AddWatch => R::AddWatch(Record::decode(b)?),
            OpCode::WhoAmI => R::WhoAmI,
            OpCode::CloseSession => R::CloseSession,
            OpCode::Notification | OpCode::Error | OpCode::CreateSession => {
                return Err(DecodeError::UnknownValue { what: "request op code", value: op.code() })
            }
        })
    }
}

/// A multi body whose ops are all reads (`read == true`) or all writes (§6.1).
fn decode_multi(body: &mut &[u8], read: bool) -> DecodeResult<MultiRequest> {
    let multi = MultiRequest::decode(body)?;
    if multi.ops.iter().any(|op| op.is_read() != read) {
        let why = if read { "write op in a multiRead" } else { "read op in a multi" };
        return Err(DecodeError::Invalid(why));
    }
    Ok(multi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::hex;
    use crate::proto::{Acl, MultiOp, Perms, XID_PING};

    fn create() -> CreateRequest {
        CreateRequest { path: "/n".into(), data: Some(b"d".to_vec()), acl: Acl::open_unsafe(), flags: 1 }
    }

    fn every_request() -> Vec<Request> {
        let get_data = GetDataRequest { path: "/g".into(), watch: true };
        let write = MultiOp::Create { op: OpCode::Create2, req: create() };
        let rw = RemoveWatchesRequest { path: "/w".into(), watcher_type: 3 };
        vec![
            Request::Create(create()),
            Request::Create2(create()),
            Request::CreateContainer(CreateRequest { flags: 4, ..create() }),
            Request::CreateTtl(CreateTtlRequest {
                path: "/t".into(),
                flags: 5,
                ttl: 5,
                ..Default::default()
            }),
            Request::Delete(DeleteRequest { path: "/d".into(), version: 2 }),
            Request::DeleteContainer(DeleteContainerRequest { path: "/c".into() }),
            Request::Exists(ExistsRequest { path: "/e".into(), watch: true }),
            Request::GetData(get_data.clone()),
            Request::SetData(SetDataRequest { path: "/s".into(), data: None, version: -1 }),
            Request::GetAcl(GetAclRequest { path: "/a".into() }),
            Request::SetAcl(SetAclRequest { path: "/a".into(), acl: Acl::read_unsafe(), version: 0 }),
            Request::GetChildren(GetChildrenRequest { path: "/".into(), watch: false }),
            Request::GetChildren2(GetChildrenRequest { path: "/".into(), watch: true }),
            Request::Sync(SyncRequest { path: "/".into() }),
            Request::Ping,
            Request::Check(CheckVersionRequest { path: "/v".into(), version: 1 }),
            Request::Multi(MultiRequest { ops: vec![write] }),
            Request::MultiRead(MultiRequest { ops: vec![MultiOp::GetData(get_data)] }),
            Request::Reconfig(ReconfigRequest { cur_config_id: -1, ..Default::default() }),
            Request::CheckWatches(rw.clone()),
            Request::RemoveWatches(rw),
            Request::Auth(AuthPacket { auth_type: 0, scheme: "digest".into(), auth: b"u:p".to_vec() }),
            Request::SetWatches(SetWatches {
                relative_zxid: 9,
                data_watches: vec!["/x".into()],
                ..Default::default()
            }),
            Request::SetWatches2(SetWatches2 { persistent_watches: vec!["/p".into()], ..Default::default() }),
            Request::Sasl(GetSaslRequest { token: vec![1, 2] }),
            Request::GetEphemerals(GetEphemeralsRequest { prefix_path: "/".into() }),
            Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: "/".into() }),
            Request::AddWatch(AddWatchRequest { path: "/w".into(), mode: 1 }),
            Request::WhoAmI,
            Request::CloseSession,
        ]
    }

    #[test]
    fn every_request_round_trips() {
        let all = every_request();
        assert_eq!(all.len(), 30);
        for req in &all {
            let mut body = Vec::new();
            req.encode_body(&mut body);
            assert_eq!(body.len(), req.body_len(), "{req:?}");
            let mut r = &body[..];
            assert_eq!(&Request::decode(req.op_code(), &mut r).unwrap(), req);
            assert!(r.is_empty(), "{req:?}");
            // Truncated bodies are errors, never panics.
            for cut in 0..body.len() {
                assert!(Request::decode(req.op_code(), &mut &body[..cut]).is_err(), "{req:?} cut {cut}");
            }
        }
        // Every client opcode is covered exactly once.
        let mut codes: Vec<i32> = all.iter().map(|r| r.op_code().code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn encode_frame_matches_golden_ping() {
        let mut buf = Vec::new();
        Request::Ping.encode_frame(XID_PING, &mut buf);
        assert_eq!(buf, hex("00000008 fffffffe 0000000b"));
        buf.clear();
        Request::GetData(GetDataRequest { path: "/a".into(), watch: true }).encode_frame(5, &mut buf);
        assert_eq!(buf, hex("0000000f 00000005 00000004 00000002 2f61 01"));
    }

    #[test]
    fn non_request_opcodes_are_errors() {
        for op in [OpCode::Notification, OpCode::Error, OpCode::CreateSession] {
            let e = Request::decode(op, &mut &[][..]);
            assert_eq!(e, Err(DecodeError::UnknownValue { what: "request op code", value: op.code() }));
        }
    }

    #[test]
    fn multi_kinds_are_not_mixed() {
        let read = MultiOp::GetChildren(GetChildrenRequest { path: "/".into(), watch: false });
        let write = MultiOp::Delete(DeleteRequest { path: "/d".into(), version: -1 });
        let mixed = MultiRequest { ops: vec![write, read] }.to_bytes();
        assert!(matches!(Request::decode(OpCode::Multi, &mut &mixed[..]), Err(DecodeError::Invalid(_))));
        assert!(matches!(Request::decode(OpCode::MultiRead, &mut &mixed[..]), Err(DecodeError::Invalid(_))));
        let empty = MultiRequest::default().to_bytes();
        assert_eq!(
            Request::decode(OpCode::Multi, &mut &empty[..]),
            Ok(Request::Multi(MultiRequest::default()))
        );
    }

    #[test]
    fn bodiless_requests_ignore_trailing_bytes() {
        let mut r: &[u8] = &[1, 2, 3];
        assert_eq!(Request::decode(OpCode::Ping, &mut r), Ok(Request::Ping));
        let acl = Request::SetAcl(SetAclRequest {
            acl: vec![Acl::new(Perms::ALL, "ip", "::1")],
            ..Default::default()
        });
        let mut body = Vec::new();
        acl.encode_body(&mut body);
        body.push(0xff);
        assert_eq!(Request::decode(OpCode::SetAcl, &mut &body[..]), Ok(acl));
    }
}
