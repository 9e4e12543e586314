//! The ZooKeeper wire codec: frames, headers and every request and response record.
//!
//! Pure and synchronous: nothing here does I/O. The same types serve the client and the
//! embedded server, each implementing [`Record`] (encode, encoded length, decode). Section
//! numbers (§) refer to `docs/protocol.md`, the repository's protocol reference.
//!
//! A client frame is a 4-byte length, a [`RequestHeader`] and a request record; a server frame
//! is a length, a [`ReplyHeader`] and a response record (see [`encode_request`] and
//! [`peek_frame`]). The first frame each way is a bare [`ConnectRequest`] / [`ConnectResponse`].

// `record` first: it defines the `record!` and `wire_enum!` macros the other files use.
#[macro_use]
mod record;

mod acl;
mod auth;
mod connect;
mod data;
mod error_code;
mod frame;
mod header;
mod multi;
mod op_code;
mod request;
mod stat;
mod watch;

pub use acl::{
    acl_vec_len, read_acl_vec, write_acl_vec, Acl, GetAclRequest, GetAclResponse, Perms, SetAclRequest,
    SetAclResponse,
};
pub use auth::{AuthPacket, ClientInfo, GetSaslRequest, SetSaslResponse, WhoAmIResponse};
pub use connect::{ConnectRequest, ConnectResponse};
pub use data::{
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest,
    DeleteContainerRequest, DeleteRequest, ErrorResponse, ExistsRequest, ExistsResponse,
    GetAllChildrenNumberRequest, GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenRequest,
    GetChildrenResponse, GetDataRequest, GetDataResponse, GetEphemeralsRequest, GetEphemeralsResponse,
    ReconfigRequest, SetDataRequest, SetDataResponse, SyncRequest, SyncResponse,
};
pub use error_code::ErrorCode;
pub use frame::{
    encode_frame, encode_reply, encode_request, four_letter_word, peek_frame, write_frame, FrameError,
    DEFAULT_MAX_FRAME, FOUR_LETTER_WORDS,
};
pub use header::{
    MultiHeader, ReplyHeader, RequestHeader, XID_AUTH, XID_NOTIFICATION, XID_PING, XID_SET_WATCHES,
};
pub use multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
pub use op_code::OpCode;
pub use record::{
    buffer_len, read_bool, read_buffer, read_i32, read_i64, read_string, read_string_vec, read_vec,
    string_len, string_vec_len, write_bool, write_buffer, write_string, write_string_vec, DecodeError,
    DecodeResult, Record,
};
pub use request::Request;
pub use stat::Stat;
pub use watch::{
    AddWatchMode, AddWatchRequest, CheckWatchesRequest, EventType, KeeperState, RemoveWatchesRequest,
    SetWatches, SetWatches2, WatcherEvent, WatcherType,
};
