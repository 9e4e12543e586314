//! Length-prefixed framing (§1.1) and four-letter-word detection (§12).
//!
//! [`peek_frame`] tells "incomplete, read more" (`Ok(None)`) from "invalid, close the
//! connection" (`Err`) by looking at the length prefix alone, before any payload is buffered
//! or allocated.

use super::{Record, ReplyHeader, RequestHeader};

/// The default `jute.maxbuffer`: the largest frame payload either side accepts.
pub const DEFAULT_MAX_FRAME: usize = 0xFFFFF;

/// Why a length prefix is not acceptable; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix was negative.
    #[error("negative frame length {0}")]
    Negative(i32),
    /// The length prefix exceeded the limit.
    #[error("frame length {len} exceeds the maximum {max}")]
    TooLarge {
        /// The length found.
        len: usize,
        /// The limit in force.
        max: usize,
    },
}

/// Looks at the front of `buf` for one frame whose payload is at most `max` bytes.
///
/// Returns `Some(n)` when a whole frame is present, where `n` counts the 4-byte prefix and the
/// payload (the payload is `buf[4..n]`), and `None` when more bytes are needed.
///
/// # Errors
/// [`FrameError::Negative`] or [`FrameError::TooLarge`] as soon as the 4 prefix bytes are
/// present, whatever follows them. A four-letter word (§12) also reads as
/// [`FrameError::TooLarge`]; check [`four_letter_word`] first on a fresh server connection.
pub fn peek_frame(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = i32::from_be_bytes(*prefix);
    let len = usize::try_from(len).map_err(|_| FrameError::Negative(len))?;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let total = 4 + len;
    Ok((buf.len() >= total).then_some(total))
}

/// Appends one frame to `buf`: reserves the length prefix, lets `f` append the payload, then
/// patches the prefix with the payload's length.
///
/// A payload over `i32::MAX` bytes cannot be framed; its prefix saturates at `i32::MAX`, which
/// every receiver rejects as too large.
pub fn write_frame(buf: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    f(buf);
    // `f` only appends; the checked forms merely keep a misbehaving `f` from panicking here.
    let len = i32::try_from(buf.len().saturating_sub(start + 4)).unwrap_or(i32::MAX);
    if let Some(prefix) = buf.get_mut(start..start + 4) {
        prefix.copy_from_slice(&len.to_be_bytes());
    }
}

/// Appends a frame holding only `body`: the handshake's [`ConnectRequest`] and
/// [`ConnectResponse`](super::ConnectResponse).
///
/// [`ConnectRequest`]: super::ConnectRequest
pub fn encode_frame<R: Record>(buf: &mut Vec<u8>, body: &R) {
    buf.reserve(4 + body.encoded_len());
    write_frame(buf, |b| body.encode(b));
}

/// Appends a client frame: `header` then `body` (use `&()` for an empty body).
pub fn encode_request<R: Record>(buf: &mut Vec<u8>, header: &RequestHeader, body: &R) {
    buf.reserve(4 + header.encoded_len() + body.encoded_len());
    write_frame(buf, |b| {
        header.encode(b);
        body.encode(b);
    });
}

/// Appends a server frame: `header` then `body` (use `&()` for an empty body).
pub fn encode_reply<R: Record>(buf: &mut Vec<u8>, header: &ReplyHeader, body: &R) {
    buf.reserve(4 + header.encoded_len() + body.encoded_len());
    write_frame(buf, |b| {
        header.encode(b);
        body.encode(b);
    });
}

/// The four-letter words a server may receive instead of a `ConnectRequest` (§12).
pub const FOUR_LETTER_WORDS: &[&str] = &[
    "ruok", "srvr", "stat", "envi", "mntr", "conf", "cons", "wchs", "wchc", "wchp", "dump", "isro", "crst",
    "srst", "dirs", "gtmk", "stmk", "hash",
];

/// The four-letter word at the start of `prefix`, if its first 4 bytes are exactly one of
/// [`FOUR_LETTER_WORDS`] (lower-case ASCII). `None` when fewer than 4 bytes are present.
pub fn four_letter_word(prefix: &[u8]) -> Option<&'static str> {
    let word = prefix.first_chunk::<4>()?;
    FOUR_LETTER_WORDS.iter().copied().find(|w| w.as_bytes() == word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::hex;
    use crate::proto::{
        EventType, GetDataRequest, KeeperState, OpCode, WatcherEvent, XID_NOTIFICATION, XID_PING,
    };

    #[test]
    fn peek_incomplete_exact_and_invalid() {
        assert_eq!(peek_frame(&[], DEFAULT_MAX_FRAME), Ok(None));
        assert_eq!(peek_frame(&[0, 0, 0], DEFAULT_MAX_FRAME), Ok(None));
        assert_eq!(peek_frame(&[0, 0, 0, 2, 9], DEFAULT_MAX_FRAME), Ok(None));
        assert_eq!(peek_frame(&[0, 0, 0, 2, 9, 9], DEFAULT_MAX_FRAME), Ok(Some(6)));
        assert_eq!(peek_frame(&[0, 0, 0, 2, 9, 9, 1, 2], DEFAULT_MAX_FRAME), Ok(Some(6)));
        assert_eq!(peek_frame(&[0, 0, 0, 0], DEFAULT_MAX_FRAME), Ok(Some(4)));
        assert_eq!(peek_frame(&[0xff, 0xff, 0xff, 0xfe], 10), Err(FrameError::Negative(-2)));
        assert_eq!(peek_frame(&[0x80, 0, 0, 0], 10), Err(FrameError::Negative(i32::MIN)));
        // Too large is reported from the prefix alone, before the payload arrives.
        let e = peek_frame(&[0, 0, 0, 11], 10);
        assert_eq!(e, Err(FrameError::TooLarge { len: 11, max: 10 }));
        assert_eq!(peek_frame(&[0, 0, 0, 10], 10), Ok(None));
        let e = peek_frame(&[0x00, 0x10, 0x00, 0x00], DEFAULT_MAX_FRAME);
        assert_eq!(e, Err(FrameError::TooLarge { len: 0x100000, max: DEFAULT_MAX_FRAME }));
        let e = peek_frame(b"ruok", DEFAULT_MAX_FRAME);
        assert!(matches!(e, Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn write_frame_appends() {
        let mut buf = vec![0xaa];
        write_frame(&mut buf, |b| b.extend_from_slice(b"abc"));
        write_frame(&mut buf, |_| {});
        assert_eq!(buf, [0xaa, 0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 0]);
        assert_eq!(peek_frame(&buf[1..], DEFAULT_MAX_FRAME), Ok(Some(7)));
    }

    #[test]
    fn golden_ping_and_close() {
        // §3.4 worked frames.
        let mut buf = Vec::new();
        encode_request(&mut buf, &RequestHeader::new(XID_PING, OpCode::Ping), &());
        assert_eq!(buf, hex("00000008 fffffffe 0000000b"));
        buf.clear();
        encode_reply(&mut buf, &ReplyHeader { xid: XID_PING, zxid: 0x1234, err: 0 }, &());
        assert_eq!(buf, hex("00000010 fffffffe 0000000000001234 00000000"));
        buf.clear();
        encode_request(&mut buf, &RequestHeader::new(7, OpCode::CloseSession), &());
        assert_eq!(buf, hex("00000008 00000007 fffffff5"));
    }

    #[test]
    fn golden_get_data_and_notification() {
        let mut buf = Vec::new();
        let req = GetDataRequest { path: "/a".into(), watch: true };
        encode_request(&mut buf, &RequestHeader::new(5, OpCode::GetData), &req);
        assert_eq!(buf, hex("0000000f 00000005 00000004 00000002 2f61 01"));
        let n = peek_frame(&buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
        let mut payload = &buf[4..n];
        let h = RequestHeader::decode(&mut payload).unwrap();
        assert_eq!(h.op_code(), Ok(OpCode::GetData));
        assert_eq!(GetDataRequest::decode(&mut payload).unwrap(), req);

        buf.clear();
        let header = ReplyHeader { xid: XID_NOTIFICATION, zxid: 0x0102_0304_0506_0708, err: 0 };
        let event = WatcherEvent {
            event_type: EventType::NodeDataChanged.code(),
            state: KeeperState::SyncConnected.code(),
            path: "/a".into(),
        };
        encode_reply(&mut buf, &header, &event);
        let want = "0000001e ffffffff 0102030405060708 00000000 00000003 00000003 00000002 2f61";
        assert_eq!(buf, hex(want));
        let mut payload = &buf[4..];
        assert_eq!(ReplyHeader::decode(&mut payload).unwrap(), header);
        assert_eq!(WatcherEvent::decode(&mut payload).unwrap(), event);
    }

    #[test]
    fn four_letter_words() {
        for w in FOUR_LETTER_WORDS {
            assert_eq!(four_letter_word(w.as_bytes()), Some(*w));
        }
        assert_eq!(four_letter_word(b"ruok\n"), Some("ruok"));
        assert_eq!(four_letter_word(b"ruo"), None);
        assert_eq!(four_letter_word(b"RUOK"), None);
        assert_eq!(four_letter_word(b"xyzw"), None);
        assert_eq!(four_letter_word(&[0, 0, 0, 0x2d]), None);
        assert_eq!(FOUR_LETTER_WORDS.len(), 18);
    }
}
