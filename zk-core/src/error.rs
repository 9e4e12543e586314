//! The one error type of zk-core.

use crate::proto::ErrorCode;

/// Everything that can go wrong talking to ZooKeeper: every server error code by name, plus the
/// conditions the client itself detects.
///
/// `Clone + Eq` so one failure can be handed to every waiter and compared in tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- server codes (KeeperException.Code) ----
    /// SYSTEMERROR (-1).
    #[error("system error (SYSTEMERROR)")]
    SystemError,
    /// RUNTIMEINCONSISTENCY (-2): a multi op after the failing one.
    #[error("runtime inconsistency (RUNTIMEINCONSISTENCY)")]
    RuntimeInconsistency,
    /// DATAINCONSISTENCY (-3).
    #[error("data inconsistency (DATAINCONSISTENCY)")]
    DataInconsistency,
    /// CONNECTIONLOSS (-4): the connection was lost while the request was in flight; a write
    /// may or may not have been applied.
    #[error("connection lost; the request may or may not have been applied (CONNECTIONLOSS)")]
    ConnectionLoss,
    /// MARSHALLINGERROR (-5): the server could not decode the request.
    #[error("the server could not decode the request (MARSHALLINGERROR)")]
    MarshallingError,
    /// UNIMPLEMENTED (-6): the server lacks this operation or feature (e.g. TTL nodes disabled).
    #[error("operation not implemented by the server (UNIMPLEMENTED)")]
    Unimplemented,
    /// OPERATIONTIMEOUT (-7).
    #[error("operation timed out (OPERATIONTIMEOUT)")]
    OperationTimeout,
    /// BADARGUMENTS (-8), from the server or detected before sending; the text says what.
    #[error("bad arguments: {0}")]
    BadArguments(String),
    /// UNKNOWNSESSION (-12).
    #[error("unknown session (UNKNOWNSESSION)")]
    UnknownSession,
    /// NEWCONFIGNOQUORUM (-13).
    #[error("new config has no quorum (NEWCONFIGNOQUORUM)")]
    NewConfigNoQuorum,
    /// RECONFIGINPROGRESS (-14).
    #[error("reconfig in progress (RECONFIGINPROGRESS)")]
    ReconfigInProgress,
    /// APIERROR (-100).
    #[error("API error (APIERROR)")]
    ApiError,
    /// NONODE (-101).
    #[error("no node (NONODE)")]
    NoNode,
    /// NOAUTH (-102): the ACL denies this operation.
    #[error("not authorized (NOAUTH)")]
    NoAuth,
    /// BADVERSION (-103): the expected version did not match.
    #[error("version mismatch (BADVERSION)")]
    BadVersion,
    /// NOCHILDRENFOREPHEMERALS (-108).
    #[error("ephemeral nodes may not have children (NOCHILDRENFOREPHEMERALS)")]
    NoChildrenForEphemerals,
    /// NODEEXISTS (-110).
    #[error("node exists (NODEEXISTS)")]
    NodeExists,
    /// NOTEMPTY (-111).
    #[error("node has children (NOTEMPTY)")]
    NotEmpty,
    /// SESSIONEXPIRED (-112): the session is gone for good and its ephemerals are deleted;
    /// the request was cut by the expiry (a write in flight may or may not have been applied;
    /// one queued while disconnected was not sent). A client that renews sessions (the
    /// default, [`OnExpiry`](crate::OnExpiry)) serves later requests on a new session; with
    /// `OnExpiry::End` it cannot be used again.
    #[error("session expired (SESSIONEXPIRED)")]
    SessionExpired,
    /// INVALIDCALLBACK (-113).
    #[error("invalid callback (INVALIDCALLBACK)")]
    InvalidCallback,
    /// INVALIDACL (-114).
    #[error("invalid ACL (INVALIDACL)")]
    InvalidAcl,
    /// AUTHFAILED (-115): the server rejected an authentication; the client is dead.
    #[error("authentication failed (AUTHFAILED)")]
    AuthFailed,
    /// SESSIONMOVED (-118).
    #[error("session moved to another server (SESSIONMOVED)")]
    SessionMoved,
    /// NOTREADONLY (-119): a write sent to a read-only server.
    #[error("server is read-only (NOTREADONLY)")]
    NotReadOnly,
    /// EPHEMERALONLOCALSESSION (-120).
    #[error("ephemeral on a local session (EPHEMERALONLOCALSESSION)")]
    EphemeralOnLocalSession,
    /// NOWATCHER (-121): no such watch to check or remove.
    #[error("no such watcher (NOWATCHER)")]
    NoWatcher,
    /// REQUESTTIMEOUT (-122).
    #[error("request timed out (REQUESTTIMEOUT)")]
    RequestTimeout,
    /// RECONFIGDISABLED (-123).
    #[error("reconfig disabled (RECONFIGDISABLED)")]
    ReconfigDisabled,
    /// SESSIONCLOSEDREQUIRESASLAUTH (-124).
    #[error("session closed: server requires authentication (SESSIONCLOSEDREQUIRESASLAUTH)")]
    SessionClosedRequireSaslAuth,
    /// QUOTAEXCEEDED (-125).
    #[error("quota exceeded (QUOTAEXCEEDED)")]
    QuotaExceeded,
    /// THROTTLEDOP (-127).
    #[error("operation throttled by the server (THROTTLEDOP)")]
    ThrottledOp,

    // ---- client conditions ----
    /// A path was rejected before sending.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An operation of a multi failed; nothing was applied.
    #[error("multi failed at op {index}: {error}")]
    MultiFailed {
        /// Index of the first failing op.
        index: usize,
        /// Its error.
        error: Box<Error>,
    },
    /// The client was closed (by `close()` or because every handle was dropped).
    #[error("client closed")]
    Closed,
    /// A client-side deadline passed (connect, acquire, ...).
    #[error("timed out")]
    Timeout,
    /// No server in the connect string could be reached or accepted us in time.
    #[error("could not connect: {0}")]
    ConnectFailed(String),
    /// TLS failed: a certificate the client or the server rejected, or a TLS configuration
    /// that cannot be used (see [`TlsError::kind`](crate::tls::TlsError::kind)).
    #[error("TLS: {0}")]
    Tls(crate::tls::TlsError),
    /// The peer sent bytes that do not follow the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The server answered with an error code this client does not know.
    #[error("unknown server error code {0}")]
    UnknownCode(i32),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True for errors where retrying the same operation may succeed: connection loss,
    /// timeouts and throttling. A retried non-idempotent write may find its own earlier
    /// effect (e.g. `NodeExists` after a create that was applied before the connection broke).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::ConnectionLoss
                | Error::OperationTimeout
                | Error::RequestTimeout
                | Error::ThrottledOp
                | Error::SessionMoved
        )
    }

    /// True for the errors that end a session: `SessionExpired`, `AuthFailed`, `Closed`.
    /// After `SessionExpired` a renewing client (the default) carries on with a new session;
    /// after the others it cannot be used again.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Error::SessionExpired | Error::AuthFailed | Error::Closed)
    }

    /// Maps a server error code (non-zero) to an [`Error`].
    pub fn from_code(code: i32) -> Error {
        match ErrorCode::try_from(code) {
            Ok(c) => Error::from(c),
            Err(_) => Error::UnknownCode(code),
        }
    }

    /// The server error code this error corresponds to, if it is one.
    pub fn code(&self) -> Option<ErrorCode> {
        use ErrorCode as C;
        Some(match self {
            Error::SystemError => C::SystemError,
            Error::RuntimeInconsistency => C::RuntimeInconsistency,
            Error::DataInconsistency => C::DataInconsistency,
            Error::ConnectionLoss => C::ConnectionLoss,
            Error::MarshallingError => C::MarshallingError,
            Error::Unimplemented => C::Unimplemented,
            Error::OperationTimeout => C::OperationTimeout,
            Error::BadArguments(_) | Error::InvalidPath { .. } => C::BadArguments,
            Error::UnknownSession => C::UnknownSession,
            Error::NewConfigNoQuorum => C::NewConfigNoQuorum,
            Error::ReconfigInProgress => C::ReconfigInProgress,
            Error::ApiError => C::ApiError,
            Error::NoNode => C::NoNode,
            Error::NoAuth => C::NoAuth,
            Error::BadVersion => C::BadVersion,
            Error::NoChildrenForEphemerals => C::NoChildrenForEphemerals,
            Error::NodeExists => C::NodeExists,
            Error::NotEmpty => C::NotEmpty,
            Error::SessionExpired => C::SessionExpired,
            Error::InvalidCallback => C::InvalidCallback,
            Error::InvalidAcl => C::InvalidAcl,
            Error::AuthFailed => C::AuthFailed,
            Error::SessionMoved => C::SessionMoved,
            Error::NotReadOnly => C::NotReadOnly,
            Error::EphemeralOnLocalSession => C::EphemeralOnLocalSession,
            Error::NoWatcher => C::NoWatcher,
            Error::RequestTimeout => C::RequestTimeout,
            Error::ReconfigDisabled => C::ReconfigDisabled,
            Error::SessionClosedRequireSaslAuth => C::SessionClosedRequireSaslAuth,
            Error::QuotaExceeded => C::QuotaExceeded,
            Error::ThrottledOp => C::ThrottledOp,
            Error::MultiFailed { error, .. } => return error.code(),
            _ => return None,
        })
    }
}

impl From<ErrorCode> for Error {
    fn from(c: ErrorCode) -> Self {
        use ErrorCode as C;
        match c {
            // OK is never turned into an error by the client; map it defensively.
            C::Ok => Error::Protocol("error code 0 used as an error".into()),
            C::SystemError => Error::SystemError,
            C::RuntimeInconsistency => Error::RuntimeInconsistency,
            C::DataInconsistency => Error::DataInconsistency,
            C::ConnectionLoss => Error::ConnectionLoss,
            C::MarshallingError => Error::MarshallingError,
            C::Unimplemented => Error::Unimplemented,
            C::OperationTimeout => Error::OperationTimeout,
            C::BadArguments => Error::BadArguments("rejected by the server".into()),
            C::UnknownSession => Error::UnknownSession,
            C::NewConfigNoQuorum => Error::NewConfigNoQuorum,
            C::ReconfigInProgress => Error::ReconfigInProgress,
            C::ApiError => Error::ApiError,
            C::NoNode => Error::NoNode,
            C::NoAuth => Error::NoAuth,
            C::BadVersion => Error::BadVersion,
            C::NoChildrenForEphemerals => Error::NoChildrenForEphemerals,
            C::NodeExists => Error::NodeExists,
            C::NotEmpty => Error::NotEmpty,
            C::SessionExpired => Error::SessionExpired,
            C::InvalidCallback => Error::InvalidCallback,
            C::InvalidAcl => Error::InvalidAcl,
            C::AuthFailed => Error::AuthFailed,
            C::SessionMoved => Error::SessionMoved,
            C::NotReadOnly => Error::NotReadOnly,
            C::EphemeralOnLocalSession => Error::EphemeralOnLocalSession,
            C::NoWatcher => Error::NoWatcher,
            C::RequestTimeout => Error::RequestTimeout,
            C::ReconfigDisabled => Error::ReconfigDisabled,
            C::SessionClosedRequireSaslAuth => Error::SessionClosedRequireSaslAuth,
            C::QuotaExceeded => Error::QuotaExceeded,
            C::ThrottledOp => Error::ThrottledOp,
        }
    }
}

impl From<crate::proto::DecodeError> for Error {
    fn from(e: crate::proto::DecodeError) -> Self {
        Error::Protocol(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_code_maps_back_to_itself() {
        for code in -130..=0 {
            let Ok(c) = ErrorCode::try_from(code) else { continue };
            if c == ErrorCode::Ok {
                continue;
            }
            assert_eq!(Error::from(c).code(), Some(c), "code {code}");
        }
        assert_eq!(Error::from_code(-9), Error::UnknownCode(-9));
    }

    #[test]
    fn retryable_classification() {
        assert!(Error::ConnectionLoss.is_retryable());
        assert!(!Error::NoNode.is_retryable());
        assert!(!Error::SessionExpired.is_retryable());
        assert!(Error::SessionExpired.is_terminal());
    }
}
