//! Shared checks for the zk-core codec fuzz targets (see README.md).
//!
//! Every decode goes through [`decode_checked`] or [`decode_request_checked`], which
//! * measure the heap the decode allocates (a tracking global allocator) and assert it is
//!   bounded by the input size ([`assert_alloc_bounded`]);
//! * assert that decoding only ever advances the cursor over a suffix of the input;
//! * when the decode succeeds, assert the round-trip properties of [`check_round_trip`] /
//!   [`check_request`]: `encoded_len` is the number of bytes `encode` writes, re-decoding the
//!   encoding gives an equal value and consumes it exactly, trailing bytes are left alone and
//!   a truncated encoding is an error.
//!
//! A violated property panics, which libFuzzer reports as a crash.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use zk_core::proto::{
    peek_frame, AddWatchRequest, AuthPacket, CheckVersionRequest, ClientInfo, ConnectRequest,
    ConnectResponse, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest, DecodeError,
    DeleteContainerRequest, DeleteRequest, ErrorCode, ErrorResponse, ExistsRequest, ExistsResponse,
    FrameError, GetAclRequest, GetAclResponse, GetAllChildrenNumberRequest, GetAllChildrenNumberResponse,
    GetChildren2Response, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse,
    GetEphemeralsRequest, GetEphemeralsResponse, GetSaslRequest, MultiHeader, MultiRequest, MultiResponse,
    OpCode, ReconfigRequest, Record, RemoveWatchesRequest, ReplyHeader, Request, RequestHeader,
    SetAclRequest, SetAclResponse, SetDataRequest, SetDataResponse, SetSaslResponse, SetWatches, SetWatches2,
    Stat, SyncRequest, SyncResponse, WatcherEvent, WhoAmIResponse,
};
use zk_core::Acl;

// ---------------------------------------------------------------------------------------------
// Allocation tracking
// ---------------------------------------------------------------------------------------------

/// The system allocator, counting live bytes and their high-water mark.
#[derive(Debug)]
pub struct Tracking;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Runs `f` and returns its result with the peak number of heap bytes live during `f` beyond
/// those live before it (what the result still holds counts too).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Relaxed);
    PEAK.store(base, Relaxed);
    let out = f();
    (out, PEAK.load(Relaxed).saturating_sub(base))
}

/// Heap bytes a decode may use per input byte. The largest legitimate amplification is a
/// vector of tiny wire elements that are big in memory (a bodiless multi result is 9 wire
/// bytes and ~100 bytes in memory, doubled by `Vec` growth): ~25x. Anything driven by a
/// length prefix rather than by bytes present would blow far past this.
pub const ALLOC_PER_INPUT_BYTE: usize = 64;
/// Fixed allowance on top of [`ALLOC_PER_INPUT_BYTE`].
pub const ALLOC_SLACK: usize = 64 * 1024;

/// Asserts a decode of `input_len` bytes allocated at most
/// `ALLOC_PER_INPUT_BYTE * input_len + ALLOC_SLACK` bytes at its peak.
pub fn assert_alloc_bounded(what: &str, input_len: usize, peak: usize) {
    let limit = ALLOC_PER_INPUT_BYTE * input_len + ALLOC_SLACK;
    assert!(peak <= limit, "{what}: decoding {input_len} bytes allocated {peak} bytes (limit {limit})");
}

// ---------------------------------------------------------------------------------------------
// Round-trip checks
// ---------------------------------------------------------------------------------------------

/// Asserts `rest` (what a decode left) is a suffix of `input`.
fn assert_suffix(what: &str, input: &[u8], rest: &[u8]) {
    assert!(rest.len() <= input.len(), "{what}: cursor grew");
    let tail = &input[input.len() - rest.len()..];
    assert!(std::ptr::eq(tail, rest), "{what}: cursor is not a suffix of the input");
}

/// Round-trip properties of a successfully decoded record `v`:
/// * `encode` writes exactly `encoded_len` bytes, and appends (a non-empty buffer keeps its
///   contents);
/// * decoding the encoding yields a value equal to `v` and consumes every byte.
///
/// With `strict` (every record but the handshake ones, whose optional trailing `read_only`
/// byte makes both properties false by design):
/// * a trailing byte after the encoding is left unread and the value is unchanged;
/// * the encoding minus its last byte does not decode.
pub fn check_round_trip<R: Record + PartialEq + Debug>(what: &str, v: &R, strict: bool) {
    let bytes = v.to_bytes();
    assert_eq!(bytes.len(), v.encoded_len(), "{what}: encoded_len differs from bytes written for {v:?}");
    let mut appended = vec![0xEE; 3];
    v.encode(&mut appended);
    assert_eq!(&appended[..3], &[0xEE; 3], "{what}: encode overwrote the buffer");
    assert_eq!(&appended[3..], &bytes[..], "{what}: encode is not deterministic");

    let mut rest = &bytes[..];
    let again = R::decode(&mut rest)
        .unwrap_or_else(|e| panic!("{what}: re-decoding {v:?} from {bytes:02x?} failed: {e}"));
    assert_eq!(&again, v, "{what}: round trip changed the value (bytes {bytes:02x?})");
    assert!(rest.is_empty(), "{what}: re-decode left {} of {} bytes for {v:?}", rest.len(), bytes.len());

    if strict {
        let mut longer = bytes.clone();
        longer.push(0xA5);
        let mut rest = &longer[..];
        let again = R::decode(&mut rest)
            .unwrap_or_else(|e| panic!("{what}: decoding {v:?} with a trailing byte failed: {e}"));
        assert_eq!(&again, v, "{what}: a trailing byte changed the value");
        assert_eq!(rest, &[0xA5], "{what}: a trailing byte was consumed");
        if let Some((_, short)) = bytes.split_last() {
            let mut r = short;
            let got = R::decode(&mut r);
            assert!(got.is_err(), "{what}: truncated encoding {short:02x?} decoded as {got:?}");
        }
    }
}

/// Decodes an `R` from the front of `input` with every check of this module. Returns the value
/// and the unread rest on success.
pub fn decode_checked<'a, R: Record + PartialEq + Debug>(
    what: &str,
    input: &'a [u8],
    strict: bool,
) -> Option<(R, &'a [u8])> {
    let mut rest = input;
    let (res, peak) = measure(|| R::decode(&mut rest));
    assert_alloc_bounded(what, input.len(), peak);
    assert_suffix(what, input, rest);
    let v = res.ok()?;
    check_round_trip(what, &v, strict);
    Some((v, rest))
}

/// Round-trip properties of a request decoded with opcode `op` (and sent with `xid`):
/// * `op_code()` is `op`;
/// * `encode_body` writes `body_len` bytes, which decode with `op` to an equal request and are
///   consumed exactly; a trailing byte is left alone; the body minus its last byte is an error;
/// * `encode_frame` writes one frame that `peek_frame` accepts whole, holding
///   `RequestHeader::new(xid, op)` then the same body.
pub fn check_request(op: OpCode, xid: i32, req: &Request) {
    assert_eq!(req.op_code(), op, "Request::decode({op:?}) gave {req:?}");
    let mut body = Vec::new();
    req.encode_body(&mut body);
    assert_eq!(body.len(), req.body_len(), "body_len differs from bytes written for {req:?}");

    let mut rest = &body[..];
    let again = Request::decode(op, &mut rest)
        .unwrap_or_else(|e| panic!("re-decoding {req:?} from {body:02x?} failed: {e}"));
    assert_eq!(&again, req, "request round trip changed the value (body {body:02x?})");
    assert!(rest.is_empty(), "re-decode left {} bytes for {req:?}", rest.len());

    let mut longer = body.clone();
    longer.push(0xA5);
    let mut rest = &longer[..];
    let again = Request::decode(op, &mut rest).expect("decode with a trailing byte");
    assert_eq!(&again, req, "a trailing byte changed {req:?}");
    assert_eq!(rest, &[0xA5], "a trailing byte was consumed for {req:?}");
    if let Some((_, short)) = body.split_last() {
        let got = Request::decode(op, &mut &short[..]);
        assert!(got.is_err(), "truncated body {short:02x?} of {op:?} decoded as {got:?}");
    }

    let mut frame = Vec::new();
    req.encode_frame(xid, &mut frame);
    assert_eq!(peek_frame(&frame, usize::MAX), Ok(Some(frame.len())), "encode_frame of {req:?}");
    let mut payload = &frame[4..];
    let header = RequestHeader::decode(&mut payload).expect("header of an encoded frame");
    assert_eq!(header, RequestHeader::new(xid, op));
    assert_eq!(header.op_code(), Ok(op));
    let again = Request::decode(op, &mut payload).expect("body of an encoded frame");
    assert_eq!(&again, req);
    assert!(payload.is_empty());
}

/// Decodes a request body for `op` with the allocation bound, and checks it with
/// [`check_request`] when it decodes.
pub fn decode_request_checked(op: OpCode, xid: i32, body: &[u8]) -> Option<Request> {
    let mut rest = body;
    let (res, peak) = measure(|| Request::decode(op, &mut rest));
    assert_alloc_bounded("Request", body.len(), peak);
    assert_suffix("Request", body, rest);
    match res {
        Ok(req) => {
            check_request(op, xid, &req);
            Some(req)
        }
        Err(DecodeError::UnknownValue { what: "request op code", value }) => {
            assert_eq!(value, op.code());
            assert!(matches!(op, OpCode::Notification | OpCode::Error | OpCode::CreateSession));
            None
        }
        Err(_) => None,
    }
}

/// Decodes a request header and, when its opcode is known, the request body after it.
pub fn request_frame(payload: &[u8]) -> Option<Request> {
    let (header, body) = decode_checked::<RequestHeader>("RequestHeader", payload, true)?;
    match OpCode::try_from(header.op_type) {
        Ok(op) => {
            assert_eq!(op.code(), header.op_type);
            assert_eq!(header.op_code(), Ok(op));
            decode_request_checked(op, header.xid, body)
        }
        Err(e) => {
            assert!(
                matches!(e, DecodeError::UnknownValue { value, .. } if value == header.op_type),
                "unexpected error {e:?} for op {}",
                header.op_type
            );
            assert!(header.op_code().is_err());
            None
        }
    }
}

/// Decodes a reply header, then the body after it as every response record a client decodes
/// (the client picks one by the pending request; here every one is tried).
pub fn reply_frame(payload: &[u8]) {
    let Some((header, body)) = decode_checked::<ReplyHeader>("ReplyHeader", payload, true) else {
        return;
    };
    if let Ok(code) = header.error_code() {
        assert_eq!(code.code(), header.err);
        assert_eq!(ErrorCode::try_from(code.code()), Ok(code));
    }
    every_response(body);
}

/// Decodes `body` as each response record type.
pub fn every_response(body: &[u8]) {
    macro_rules! each {
        ($($t:ident),* $(,)?) => {
            $( decode_checked::<$t>(stringify!($t), body, true); )*
        };
    }
    each!(
        WatcherEvent,
        MultiResponse,
        CreateResponse,
        Create2Response,
        ExistsResponse,
        GetDataResponse,
        SetDataResponse,
        GetAclResponse,
        SetAclResponse,
        GetChildrenResponse,
        GetChildren2Response,
        SyncResponse,
        SetSaslResponse,
        GetEphemeralsResponse,
        GetAllChildrenNumberResponse,
        ErrorResponse,
        WhoAmIResponse,
    );
}

/// `peek_frame` with the consistency checks against its documented contract; returns the
/// frame's total length when a whole frame is present.
pub fn checked_peek(buf: &[u8], max: usize) -> Option<usize> {
    let got = peek_frame(buf, max);
    let Some(prefix) = buf.first_chunk::<4>() else {
        assert_eq!(got, Ok(None), "peek_frame on {} bytes", buf.len());
        return None;
    };
    let len = i32::from_be_bytes(*prefix);
    match got {
        Ok(Some(n)) => {
            assert!(len >= 0 && len as usize <= max, "accepted prefix {len} with max {max}");
            assert_eq!(n, 4 + len as usize);
            assert!(n <= buf.len(), "frame of {n} bytes reported in {} bytes", buf.len());
            Some(n)
        }
        Ok(None) => {
            assert!(len >= 0 && len as usize <= max, "incomplete for prefix {len} with max {max}");
            assert!(buf.len() < 4 + len as usize);
            None
        }
        Err(FrameError::Negative(n)) => {
            assert!(len < 0 && n == len);
            None
        }
        Err(FrameError::TooLarge { len: l, max: m }) => {
            assert!(len >= 0 && l == len as usize && m == max && l > max);
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Record kinds, for decode_records and the corpus generator
// ---------------------------------------------------------------------------------------------

macro_rules! record_kinds {
    ($($t:ident),* $(,)?) => {
        /// The record types `decode_records` selects from, by index.
        pub const RECORD_NAMES: &[&str] = &[$(stringify!($t)),*];

        fn decode_record_kind(index: usize, bytes: &[u8]) {
            let mut k = 0usize;
            $(
                if index == k {
                    let strict = !matches!(stringify!($t), "ConnectRequest" | "ConnectResponse");
                    decode_checked::<$t>(stringify!($t), bytes, strict);
                    return;
                }
                k += 1;
            )*
            let _ = k;
            unreachable!("record kind {index}");
        }
    };
}

record_kinds!(
    ConnectRequest,
    ConnectResponse,
    RequestHeader,
    ReplyHeader,
    MultiHeader,
    Stat,
    Acl,
    ClientInfo,
    CreateRequest,
    CreateTtlRequest,
    CreateResponse,
    Create2Response,
    DeleteRequest,
    DeleteContainerRequest,
    ExistsRequest,
    ExistsResponse,
    GetDataRequest,
    GetDataResponse,
    SetDataRequest,
    SetDataResponse,
    GetAclRequest,
    GetAclResponse,
    SetAclRequest,
    SetAclResponse,
    GetChildrenRequest,
    GetChildrenResponse,
    GetChildren2Response,
    SyncRequest,
    SyncResponse,
    CheckVersionRequest,
    ReconfigRequest,
    GetEphemeralsRequest,
    GetEphemeralsResponse,
    GetAllChildrenNumberRequest,
    GetAllChildrenNumberResponse,
    ErrorResponse,
    AuthPacket,
    GetSaslRequest,
    SetSaslResponse,
    WhoAmIResponse,
    MultiRequest,
    MultiResponse,
    WatcherEvent,
    SetWatches,
    SetWatches2,
    RemoveWatchesRequest,
    AddWatchRequest,
);

/// Number of selectable kinds: every record type, then `Request::decode` with each opcode.
pub fn kind_count() -> usize {
    RECORD_NAMES.len() + OpCode::ALL.len()
}

/// Index of the record type `name` (panics if unknown).
pub fn record_kind(name: &str) -> u8 {
    let i = RECORD_NAMES.iter().position(|n| *n == name).unwrap_or_else(|| panic!("no kind {name}"));
    u8::try_from(i).expect("fewer than 256 kinds")
}

/// Index of `Request::decode` with `op`.
pub fn request_kind(op: OpCode) -> u8 {
    let i = OpCode::ALL.iter().position(|o| *o == op).expect("op in ALL");
    u8::try_from(RECORD_NAMES.len() + i).expect("fewer than 256 kinds")
}

/// Decodes `bytes` as the kind `selector` picks (modulo [`kind_count`]), with every check.
pub fn decode_kind(selector: u8, bytes: &[u8]) {
    let index = usize::from(selector) % kind_count();
    match index.checked_sub(RECORD_NAMES.len()) {
        None => decode_record_kind(index, bytes),
        Some(op_index) => {
            decode_request_checked(OpCode::ALL[op_index], 1, bytes);
        }
    }
}
