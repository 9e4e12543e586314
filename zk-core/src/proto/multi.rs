//! multi (14) and multiRead (22) bodies: `(MultiHeader, record)` pairs and a terminator (§6).

use bytes::BufMut;

use super::{
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest, DecodeError,
    DecodeResult, DeleteRequest, ErrorResponse, GetChildrenRequest, GetChildrenResponse, GetDataRequest,
    GetDataResponse, MultiHeader, OpCode, Record, SetDataRequest, SetDataResponse,
};

/// One operation of a multi request (§6.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultiOp {
    /// `op` is [`OpCode::Create`], [`OpCode::Create2`] or [`OpCode::CreateContainer`]; it is
    /// written as the op's type (and decides the result type) and is not otherwise checked.
    Create {
        /// Which create opcode.
        op: OpCode,
        /// The create body.
        req: CreateRequest,
    },
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13).
    Check(CheckVersionRequest),
    /// getChildren (8), multiRead only.
    GetChildren(GetChildrenRequest),
    /// getData (4), multiRead only.
    GetData(GetDataRequest),
}

impl MultiOp {
    /// The opcode written in this op's header.
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create { op, .. } => *op,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
            MultiOp::GetData(_) => OpCode::GetData,
        }
    }

    /// Whether this op belongs in a multiRead (22) rather than a multi (14).
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren(_) | MultiOp::GetData(_))
    }

    fn encode_body(&self, buf: &mut impl BufMut) {
        match self {
            MultiOp::Create { req, .. } => req.encode(buf),
            MultiOp::CreateTtl(r) => r.encode(buf),
            MultiOp::Delete(r) => r.encode(buf),
            MultiOp::SetData(r) => r.encode(buf),
            MultiOp::Check(r) => r.encode(buf),
            MultiOp::GetChildren(r) => r.encode(buf),
            MultiOp::GetData(r) => r.encode(buf),
        }
    }

    fn body_len(&self) -> usize {
        match self {
            MultiOp::Create { req, .. } => req.encoded_len(),
            MultiOp::CreateTtl(r) => r.encoded_len(),
            MultiOp::Delete(r) => r.encoded_len(),
            MultiOp::SetData(r) => r.encoded_len(),
            MultiOp::Check(r) => r.encoded_len(),
            MultiOp::GetChildren(r) => r.encoded_len(),
            MultiOp::GetData(r) => r.encoded_len(),
        }
    }

    fn decode(op_type: i32, buf: &mut &[u8]) -> DecodeResult<Self> {
        let unknown = DecodeError::UnknownValue { what: "multi op type", value: op_type };
        let op = OpCode::try_from(op_type).map_err(|_| unknown.clone())?;
        Ok(match op {
            OpCode::Create | OpCode::Create2 | OpCode::CreateContainer => {
                MultiOp::Create { op, req: CreateRequest::decode(buf)? }
            }
            OpCode::CreateTtl => MultiOp::CreateTtl(CreateTtlRequest::decode(buf)?),
            OpCode::Delete => MultiOp::Delete(DeleteRequest::decode(buf)?),
            OpCode::SetData => MultiOp::SetData(SetDataRequest::decode(buf)?),
            OpCode::Check => MultiOp::Check(CheckVersionRequest::decode(buf)?),
            OpCode::GetChildren => MultiOp::GetChildren(GetChildrenRequest::decode(buf)?),
            OpCode::GetData => MultiOp::GetData(GetDataRequest::decode(buf)?),
            _ => return Err(unknown),
        })
    }
}

/// Body of multi (14) and multiRead (22).
///
/// Decoding accepts any mix of op kinds; [`Request::decode`](super::Request::decode) rejects
/// read ops in a multi and write ops in a multiRead.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MultiRequest {
    /// The operations, in order.
    pub ops: Vec<MultiOp>,
}

impl Record for MultiRequest {
    fn encode(&self, buf: &mut impl BufMut) {
        for op in &self.ops {
            MultiHeader { op_type: op.op_code().code(), done: false, err: -1 }.encode(buf);
            op.encode_body(buf);
        }
        MultiHeader::TERMINATOR.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        let ops: usize = self.ops.iter().map(|op| MULTI_HEADER_LEN + op.body_len()).sum();
        ops + MULTI_HEADER_LEN
    }

    fn decode(buf: &mut &[u8]) -> DecodeResult<Self> {
        // Each pass consumes at least a 9-byte header, so the loop is bounded by the input.
        let mut ops = Vec::new();
        loop {
            let h = MultiHeader::decode(buf)?;
            if h.done {
                return Ok(MultiRequest { ops });
            }
            ops.push(MultiOp::decode(h.op_type, buf)?);
        }
    }
}

const MULTI_HEADER_LEN: usize = 9;

/// The outcome of one op in a multi response (§6.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultiResult {
    /// Type 1: a create op.
    Create(CreateResponse),
    /// Type 15: a create2, createContainer or createTTL op.
    Create2(Create2Response),
    /// Type 2: a delete op.
    Delete,
    /// Type 5: a setData op.
    SetData(SetDataResponse),
    /// Type 13: a check op.
    Check,
    /// Type 8: a getChildren op (multiRead).
    GetChildren(GetChildrenResponse),
    /// Type 4: a getData op (multiRead).
    GetData(GetDataResponse),
    /// Type -1 with this code: 0 for ops rolled back before the failure, the failing op's
    /// code, -2 (RUNTIMEINCONSISTENCY) for ops after it (§6.3). Decoded from the
    /// `ErrorResponse` body, which repeats the header's code.
    Error(i32),
}

impl MultiResult {
    /// The `type` written in this result's header.
    pub fn op_type(&self) -> i32 {
        match self {
            MultiResult::Create(_) => OpCode::Create.code(),
            MultiResult::Create2(_) => OpCode::Create2.code(),
            MultiResult::Delete => OpCode::Delete.code(),
            MultiResult::SetData(_) => OpCode::SetData.code(),
            MultiResult::Check => OpCode::Check.code(),
            MultiResult::GetChildren(_) => OpCode::GetChildren.code(),
            MultiResult::GetData(_) => OpCode::GetData.code(),
            MultiResult::Error(_) => OpCode::Error.code(),
        }
    }

    /// The `err` written in this result's header: the code for errors, else 0.
    pub fn err(&self) -> i32 {
        match self {
            MultiResult::Error(code) => *code,
            _ => 0,
        }
    }

    fn encode_body(&self, buf: &mut impl BufMut) {
        match self {
            MultiResult::Create(r) => r.encode(buf),
            MultiResult::Create2(r) => r.encode(buf),
            MultiResult::SetData(r) => r.encode(buf),
            MultiResult::GetChildren(r) => r.encode(buf),
            MultiResult::GetData(r) => r.encode(buf),
            MultiResult::Error(err) => ErrorResponse { err: *err }.encode(buf),
            MultiResult::Delete | MultiResult::Check => {}
        }
    }

    fn body_len(&self) -> usize {
        match self {
            MultiResult::Create(r) => r.encoded_len(),
            MultiResult::Create2(r) => r.encoded_len(),
            MultiResult::SetData(r) => r.encoded_len(),
            MultiResult::GetChildren(r) => r.encoded_len(),
            MultiResult::GetData(r) => r.encoded_len(),
            MultiResult::Error(_) => 4,
            MultiResult::Delete | MultiResult::Check => 0,
        }
    }

    fn decode(op_type: i32, buf: &mut &[u8]) -> DecodeResult<Self> {
        const CREATE: i32 = OpCode::Create.code();
        const CREATE2: i32 = OpCode::Create2.code();
        const DELETE: i32 = OpCode::Delete.code();
        const SET_DATA: i32 = OpCode::SetData.code();
        const CHECK: i32 = OpCode::Check.code();
        const GET_CHILDREN: i32 = OpCode::GetChildren.code();
        const GET_DATA: i32 = OpCode::GetData.code();
        const ERROR: i32 = OpCode::Error.code();
        Ok(match op_type {
            CREATE => MultiResult::Create(CreateResponse::decode(buf)?),
            CREATE2 => MultiResult::Create2(Create2Response::decode(buf)?),
            DELETE => MultiResult::Delete,
            SET_DATA => MultiResult::SetData(SetDataResponse::decode(buf)?),
            CHECK => MultiResult::Check,
            GET_CHILDREN => MultiResult::GetChildren(GetChildrenResponse::decode(buf)?),
            GET_DATA => MultiResult::GetData(GetDataResponse::decode(buf)?),
            ERROR => MultiResult::Error(ErrorResponse::decode(buf)?.err),
            value => return Err(DecodeError::UnknownValue { what: "multi result type", value }),
        })
    }
}

/// Reply body of multi (14) and multiRead (22). The reply header's `err` is 0 even when an
/// op failed; failures are [`MultiResult::Error`] entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MultiResponse {
    /// One result per op, in op order.
    pub results: Vec<MultiResult>,
}

impl MultiResponse {
    /// The index and code of the first error result with a non-zero code: the op that made a
    /// multi fail (§6.3).
    pub fn first_error(&self) -> Option<(usize, i32)> {
        self.results.iter().enumerate().find_map(|(i, r)| match r {
            MultiResult::Error(code) if *code != 0 => Some((i, *code)),
            _ => None,
        })
    }
}

impl Record for MultiResponse {
    fn encode(&self, buf: &mut impl BufMut) {
        for r in &self.results {
            MultiHeader { op_type: r.op_type(), done: false, err: r.err() }.encode(buf);
            r.encode_body(buf);
        }
        MultiHeader::TERMINATOR.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        let results: usize = self.results.iter().map(|r| MULTI_HEADER_LEN + r.body_len()).sum();
        results + MULTI_HEADER_LEN
    }

    fn decode(buf: &mut &[u8]) -> DecodeResult<Self> {
        // Bounded like `MultiRequest::decode`: every pass consumes a header.
        let mut results = Vec::new();
        loop {
            let h = MultiHeader::decode(buf)?;
            if h.done {
                return Ok(MultiResponse { results });
            }
            results.push(MultiResult::decode(h.op_type, buf)?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::{assert_record, hex, sample_stat};
    use crate::proto::{encode_reply, encode_request, Acl, ReplyHeader, RequestHeader};

    fn all_ops() -> Vec<MultiOp> {
        let req = CreateRequest { path: "/a".into(), data: None, acl: Acl::open_unsafe(), flags: 0 };
        vec![
            MultiOp::Create { op: OpCode::Create, req: req.clone() },
            MultiOp::Create { op: OpCode::Create2, req: req.clone() },
            MultiOp::Create { op: OpCode::CreateContainer, req: CreateRequest { flags: 4, ..req } },
            MultiOp::CreateTtl(CreateTtlRequest {
                path: "/t".into(),
                flags: 5,
                ttl: 1000,
                ..Default::default()
            }),
            MultiOp::Delete(DeleteRequest { path: "/d".into(), version: -1 }),
            MultiOp::SetData(SetDataRequest { path: "/s".into(), data: Some(vec![1]), version: 2 }),
            MultiOp::Check(CheckVersionRequest { path: "/c".into(), version: 0 }),
            MultiOp::GetChildren(GetChildrenRequest { path: "/".into(), watch: false }),
            MultiOp::GetData(GetDataRequest { path: "/g".into(), watch: true }),
        ]
    }

    #[test]
    fn multi_request_round_trip() {
        let ops = all_ops();
        let codes: Vec<i32> = ops.iter().map(|o| o.op_code().code()).collect();
        assert_eq!(codes, [1, 15, 19, 21, 2, 5, 13, 8, 4]);
        assert_eq!(ops.iter().filter(|o| o.is_read()).count(), 2);
        assert_record(&MultiRequest { ops });
        assert_record(&MultiRequest::default());
    }

    #[test]
    fn multi_response_round_trip() {
        let stat = sample_stat();
        let results = vec![
            MultiResult::Create(CreateResponse { path: "/a".into() }),
            MultiResult::Create2(Create2Response { path: "/b".into(), stat }),
            MultiResult::Delete,
            MultiResult::SetData(SetDataResponse { stat }),
            MultiResult::Check,
            MultiResult::GetChildren(GetChildrenResponse { children: vec!["x".into()] }),
            MultiResult::GetData(GetDataResponse { data: None, stat }),
            MultiResult::Error(-101),
            MultiResult::Error(0),
        ];
        let resp = MultiResponse { results };
        assert_record(&resp);
        assert_eq!(resp.first_error(), Some((7, -101)));
        assert_record(&MultiResponse::default());
    }

    #[test]
    fn multi_golden_frames_with_failed_op() {
        let create =
            CreateRequest { path: "/a".into(), data: Some(b"x".to_vec()), acl: Acl::open_unsafe(), flags: 0 };
        let req = MultiRequest {
            ops: vec![
                MultiOp::Create { op: OpCode::Create, req: create },
                MultiOp::Check(CheckVersionRequest { path: "/b".into(), version: 3 }),
                MultiOp::Delete(DeleteRequest { path: "/c".into(), version: -1 }),
            ],
        };
        let mut frame = Vec::new();
        encode_request(&mut frame, &RequestHeader::new(9, OpCode::Multi), &req);
        let want = hex("0000006a 00000009 0000000e
             00000001 00 ffffffff
               00000002 2f61 00000001 78
               00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000000
             0000000d 00 ffffffff 00000002 2f62 00000003
             00000002 00 ffffffff 00000002 2f63 ffffffff
             ffffffff 01 ffffffff");
        assert_eq!(frame, want);
        assert_eq!(MultiRequest::decode(&mut &frame[12..]).unwrap(), req);

        // §6.3: before the failure 0, the failing check BADVERSION (-103), after it -2.
        let resp = MultiResponse {
            results: vec![MultiResult::Error(0), MultiResult::Error(-103), MultiResult::Error(-2)],
        };
        let mut frame = Vec::new();
        encode_reply(&mut frame, &ReplyHeader { xid: 9, zxid: 0x10, err: 0 }, &resp);
        let want = hex("00000040 00000009 0000000000000010 00000000
             ffffffff 00 00000000 00000000
             ffffffff 00 ffffff99 ffffff99
             ffffffff 00 fffffffe fffffffe
             ffffffff 01 ffffffff");
        assert_eq!(frame, want);
        let got = MultiResponse::decode(&mut &frame[20..]).unwrap();
        assert_eq!(got, resp);
        assert_eq!(got.first_error(), Some((1, -103)));
    }

    #[test]
    fn unknown_types_are_errors() {
        // An exists (3) op is not allowed in a multi.
        let bytes = hex("00000003 00 ffffffff 00000002 2f61 00");
        let e = MultiRequest::decode(&mut &bytes[..]);
        assert_eq!(e, Err(DecodeError::UnknownValue { what: "multi op type", value: 3 }));
        let bytes = hex("00000063 00 ffffffff");
        assert!(matches!(
            MultiRequest::decode(&mut &bytes[..]),
            Err(DecodeError::UnknownValue { value: 99, .. })
        ));
        let bytes = hex("00000007 00 00000000");
        let e = MultiResponse::decode(&mut &bytes[..]);
        assert_eq!(e, Err(DecodeError::UnknownValue { what: "multi result type", value: 7 }));
    }

    #[test]
    fn missing_terminator_is_truncated() {
        let bytes = hex("0000000d 00 ffffffff 00000000 00000000 0000000d 00 ffffffff");
        let e = MultiRequest::decode(&mut &bytes[..]);
        assert!(matches!(e, Err(DecodeError::Truncated { .. })));
        // Many bodiless results and no terminator: bounded by the input, then an error.
        let bytes = hex("00000002 00 00000000").repeat(1000);
        assert!(MultiResponse::decode(&mut &bytes[..]).is_err());
    }

    #[test]
    fn decode_stops_at_done_whatever_its_type() {
        let bytes = hex("00000002 00 00000000 00000000 01 00000000 ab");
        let mut r = &bytes[..];
        assert_eq!(MultiResponse::decode(&mut r).unwrap().results, vec![MultiResult::Delete]);
        assert_eq!(r, &[0xab]);
    }
}
