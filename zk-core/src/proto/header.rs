//! Request, reply and multi headers, and the special xids (§3.1, §3.2).

use super::{DecodeResult, ErrorCode, OpCode};

/// Reply xid of a watch notification (server → client only).
pub const XID_NOTIFICATION: i32 = -1;
/// Xid of a ping and its reply.
pub const XID_PING: i32 = -2;
/// Xid of an auth packet and its reply.
pub const XID_AUTH: i32 = -4;
/// Xid the C client uses for SetWatches; a server echoes whatever xid it receives.
pub const XID_SET_WATCHES: i32 = -8;

record! {
    /// Precedes every client request body after the handshake.
    ///
    /// `op_type` stays a raw `i32` so a server can answer an unknown opcode with UNIMPLEMENTED.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RequestHeader {
        /// Request id, echoed by the reply (§3.2 for the negative ones).
        pub xid: i32,
        /// The [`OpCode`] value.
        pub op_type: i32,
    }
}

record! {
    /// Precedes every server frame after the handshake.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ReplyHeader {
        /// The request's xid, or [`XID_NOTIFICATION`].
        pub xid: i32,
        /// The server's last processed zxid when the reply was produced.
        pub zxid: i64,
        /// The [`ErrorCode`] value; when non-zero the reply normally has no body.
        pub err: i32,
    }
}

record! {
    /// Precedes each op and each result inside a multi body (§6).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct MultiHeader {
        /// The op's [`OpCode`] value, or -1 for an error result / the terminator.
        pub op_type: i32,
        /// True only on the terminator.
        pub done: bool,
        /// -1 on request ops, the result's code on responses.
        pub err: i32,
    }
}

impl RequestHeader {
    /// A header for `op` with `xid`.
    pub const fn new(xid: i32, op: OpCode) -> Self {
        RequestHeader { xid, op_type: op.code() }
    }

    /// The opcode, if known.
    ///
    /// # Errors
    /// [`DecodeError::UnknownValue`](super::DecodeError::UnknownValue) for an undefined opcode.
    pub fn op_code(&self) -> DecodeResult<OpCode> {
        OpCode::try_from(self.op_type)
    }
}

impl ReplyHeader {
    /// The error code, if known.
    ///
    /// # Errors
    /// [`DecodeError::UnknownValue`](super::DecodeError::UnknownValue) for an undefined code.
    pub fn error_code(&self) -> DecodeResult<ErrorCode> {
        ErrorCode::try_from(self.err)
    }
}

impl MultiHeader {
    /// The header that ends a multi request or response: `{-1, true, -1}`.
    pub const TERMINATOR: MultiHeader = MultiHeader { op_type: -1, done: true, err: -1 };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::assert_record;
    use crate::proto::{DecodeError, Record};

    #[test]
    fn headers_round_trip() {
        assert_record(&RequestHeader::new(7, OpCode::CloseSession));
        assert_record(&RequestHeader { xid: i32::MIN, op_type: 12345 });
        assert_record(&ReplyHeader { xid: XID_NOTIFICATION, zxid: -1, err: 0 });
        assert_record(&ReplyHeader { xid: 3, zxid: i64::MAX, err: -101 });
        assert_record(&MultiHeader { op_type: 1, done: false, err: -1 });
        assert_record(&MultiHeader::TERMINATOR);
        assert_eq!(RequestHeader::default().encoded_len(), 8);
        assert_eq!(ReplyHeader::default().encoded_len(), 16);
        assert_eq!(MultiHeader::default().encoded_len(), 9);
    }

    #[test]
    fn header_golden_bytes() {
        let h = RequestHeader::new(XID_PING, OpCode::Ping);
        assert_eq!(h.to_bytes(), [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0x0b]);
        assert_eq!(MultiHeader::TERMINATOR.to_bytes(), [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn typed_accessors() {
        assert_eq!(RequestHeader::new(1, OpCode::GetData).op_code(), Ok(OpCode::GetData));
        assert!(matches!(
            RequestHeader { xid: 1, op_type: 10 }.op_code(),
            Err(DecodeError::UnknownValue { value: 10, .. })
        ));
        let r = ReplyHeader { xid: 1, zxid: 2, err: -110 };
        assert_eq!(r.error_code(), Ok(ErrorCode::NodeExists));
        assert!(ReplyHeader { err: -9, ..r }.error_code().is_err());
    }
}
