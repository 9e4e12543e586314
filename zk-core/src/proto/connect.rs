//! The handshake records: the first frame each way, with no header (§2).

use bytes::BufMut;

use super::record::Wire;
use super::{read_bool, write_bool, DecodeResult, Record};

/// The first client frame (§2.1).
///
/// `read_only` is optional on the wire (§2.3): decoding yields `Some` iff a byte remains after
/// `passwd`, and encoding writes it iff `Some`. Because of that, trailing bytes after a
/// `ConnectRequest` are read as the flag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ConnectRequest {
    /// Always 0.
    pub protocol_version: i32,
    /// Highest zxid the client saw in a reply header; 0 for a new client.
    pub last_zxid_seen: i64,
    /// Requested session timeout, ms.
    pub timeout_ms: i32,
    /// 0 to create a session, else the session to resume.
    pub session_id: i64,
    /// Session password (16 zero bytes for a new session); a null buffer reads as empty.
    pub passwd: Vec<u8>,
    /// "I accept a read-only server"; `None` when the client did not send the byte.
    pub read_only: Option<bool>,
}

/// The first server frame (§2.2). A `timeout_ms` of 0 or less means the session is invalid or
/// expired.
///
/// `read_only` follows the same optional-byte rule as [`ConnectRequest::read_only`]; a server
/// sends it iff the request carried it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// Negotiated session timeout, ms; 0 = session invalid/expired.
    pub timeout_ms: i32,
    /// Assigned or confirmed session id; 0 when invalid.
    pub session_id: i64,
    /// 16-byte session password.
    pub passwd: Vec<u8>,
    /// Whether the server is read-only; `None` when the byte is absent.
    pub read_only: Option<bool>,
}

fn put_read_only(buf: &mut impl BufMut, read_only: Option<bool>) {
    if let Some(ro) = read_only {
        write_bool(buf, ro);
    }
}

fn get_read_only(buf: &mut &[u8], what: &'static str) -> DecodeResult<Option<bool>> {
    if buf.is_empty() {
        Ok(None)
    } else {
        read_bool(buf, what).map(Some)
    }
}

impl Record for ConnectRequest {
    fn encode(&self, buf: &mut impl BufMut) {
        self.protocol_version.wire_put(buf);
        self.last_zxid_seen.wire_put(buf);
        self.timeout_ms.wire_put(buf);
        self.session_id.wire_put(buf);
        self.passwd.wire_put(buf);
        put_read_only(buf, self.read_only);
    }

    fn encoded_len(&self) -> usize {
        4 + 8 + 4 + 8 + self.passwd.wire_len() + usize::from(self.read_only.is_some())
    }

    fn decode(buf: &mut &[u8]) -> DecodeResult<Self> {
        Ok(ConnectRequest {
            protocol_version: i32::wire_get(buf, "ConnectRequest.protocol_version")?,
            last_zxid_seen: i64::wire_get(buf, "ConnectRequest.last_zxid_seen")?,
            timeout_ms: i32::wire_get(buf, "ConnectRequest.timeout_ms")?,
            session_id: i64::wire_get(buf, "ConnectRequest.session_id")?,
            passwd: Vec::wire_get(buf, "ConnectRequest.passwd")?,
            read_only: get_read_only(buf, "ConnectRequest.read_only")?,
        })
    }
}

impl Record for ConnectResponse {
    fn encode(&self, buf: &mut impl BufMut) {
        self.protocol_version.wire_put(buf);
        self.timeout_ms.wire_put(buf);
        self.session_id.wire_put(buf);
        self.passwd.wire_put(buf);
        put_read_only(buf, self.read_only);
    }

    fn encoded_len(&self) -> usize {
        4 + 4 + 8 + self.passwd.wire_len() + usize::from(self.read_only.is_some())
    }

    fn decode(buf: &mut &[u8]) -> DecodeResult<Self> {
        Ok(ConnectResponse {
            protocol_version: i32::wire_get(buf, "ConnectResponse.protocol_version")?,
            timeout_ms: i32::wire_get(buf, "ConnectResponse.timeout_ms")?,
            session_id: i64::wire_get(buf, "ConnectResponse.session_id")?,
            passwd: Vec::wire_get(buf, "ConnectResponse.passwd")?,
            read_only: get_read_only(buf, "ConnectResponse.read_only")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::round_trip;
    use crate::proto::{write_frame, DecodeError};

    fn new_session() -> ConnectRequest {
        ConnectRequest {
            timeout_ms: 30_000,
            passwd: vec![0; 16],
            read_only: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn connect_request_golden_bytes() {
        // §2.1: new session, 30 s timeout, readOnly=false → 45-byte payload.
        let mut frame = Vec::new();
        write_frame(&mut frame, |b| new_session().encode(b));
        let mut want = vec![0, 0, 0, 0x2d];
        want.extend_from_slice(&[0; 4]);
        want.extend_from_slice(&[0; 8]);
        want.extend_from_slice(&[0, 0, 0x75, 0x30]);
        want.extend_from_slice(&[0; 8]);
        want.extend_from_slice(&[0, 0, 0, 0x10]);
        want.extend_from_slice(&[0; 16]);
        want.push(0);
        assert_eq!(frame, want);
        assert_eq!(frame.len(), 49);
    }

    #[test]
    fn connect_request_round_trip() {
        let with_flag = round_trip(&new_session());
        assert_eq!(with_flag.len(), 45);
        let resume = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x1_0000_0007,
            timeout_ms: 6_000,
            session_id: 0x0100_0000_0000_0042,
            passwd: (0..16).collect(),
            read_only: Some(true),
        };
        round_trip(&resume);
        // Without the flag every strict prefix fails and trailing bytes become the flag.
        let old = ConnectRequest { read_only: None, ..resume };
        let mut bytes = round_trip(&old);
        for cut in 0..bytes.len() {
            assert!(ConnectRequest::decode(&mut &bytes[..cut]).is_err(), "prefix {cut}");
        }
        bytes.push(1);
        let got = ConnectRequest::decode(&mut &bytes[..]).unwrap();
        assert_eq!(got.read_only, Some(true));
    }

    #[test]
    fn connect_response_round_trip() {
        let ok = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 30_000,
            session_id: 0x0100_0000_0000_0001,
            passwd: vec![7; 16],
            read_only: Some(false),
        };
        assert_eq!(round_trip(&ok).len(), 37);
        let legacy = ConnectResponse { read_only: None, ..ok };
        round_trip(&ConnectResponse { passwd: vec![], ..legacy.clone() });
        assert_eq!(round_trip(&legacy).len(), 36);
        // The prefix that drops only the flag is the legacy form; shorter ones are errors.
        let bytes = round_trip(&ConnectResponse { read_only: Some(true), ..legacy.clone() });
        assert_eq!(ConnectResponse::decode(&mut &bytes[..36]).unwrap(), legacy);
        for cut in 0..36 {
            assert!(ConnectResponse::decode(&mut &bytes[..cut]).is_err(), "prefix {cut}");
        }
    }

    #[test]
    fn hostile_password_length() {
        let mut b = vec![0; 24];
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xfe]);
        let e = ConnectRequest::decode(&mut &b[..]);
        assert!(matches!(e, Err(DecodeError::BadLength { len: -2, .. })));
        let mut b = vec![0; 16];
        b.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        let e = ConnectResponse::decode(&mut &b[..]);
        assert!(matches!(e, Err(DecodeError::BadLength { .. })));
    }
}
