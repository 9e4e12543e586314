//! Error codes carried in [`ReplyHeader::err`](super::ReplyHeader) (§8).

use std::fmt;

wire_enum! {
    /// A `KeeperException.Code`, as carried in a reply header or a multi error result (§8).
    ///
    /// Only these codes may be sent: the Java client cannot map any other value.
    pub enum ErrorCode ("error code") {
        /// Success.
        Ok = 0,
        /// Base marker for system errors; not normally sent.
        SystemError = -1,
        /// Multi ops after the failing one.
        RuntimeInconsistency = -2,
        /// Data inconsistency.
        DataInconsistency = -3,
        /// Client-side: the connection was lost with the request in flight.
        ConnectionLoss = -4,
        /// The server could not decode or process the request.
        MarshallingError = -5,
        /// Unknown or disabled operation.
        Unimplemented = -6,
        /// Client-side operation timeout.
        OperationTimeout = -7,
        /// Invalid path, flags, TTL or reserved-path delete.
        BadArguments = -8,
        /// The session is not tracked.
        UnknownSession = -12,
        /// Reconfig: the new configuration has no quorum.
        NewConfigNoQuorum = -13,
        /// Reconfig: another reconfig is in progress.
        ReconfigInProgress = -14,
        /// Base marker for API errors; not sent.
        ApiError = -100,
        /// The node does not exist.
        NoNode = -101,
        /// An ACL check failed.
        NoAuth = -102,
        /// Version or aversion mismatch.
        BadVersion = -103,
        /// Ephemeral nodes cannot have children.
        NoChildrenForEphemerals = -108,
        /// The node already exists.
        NodeExists = -110,
        /// The node has children.
        NotEmpty = -111,
        /// The session has expired or is closing.
        SessionExpired = -112,
        /// Client-side: invalid callback.
        InvalidCallback = -113,
        /// Bad or empty ACL, or `auth` scheme without authenticated ids.
        InvalidAcl = -114,
        /// Authentication was rejected.
        AuthFailed = -115,
        /// The session moved to another server.
        SessionMoved = -118,
        /// Write on a read-only server.
        NotReadOnly = -119,
        /// Ephemeral node on a local session.
        EphemeralOnLocalSession = -120,
        /// checkWatches/removeWatches found nothing.
        NoWatcher = -121,
        /// Client-side request timeout.
        RequestTimeout = -122,
        /// Reconfig while disabled.
        ReconfigDisabled = -123,
        /// The server enforces authentication and the client has none.
        SessionClosedRequireSaslAuth = -124,
        /// Quota enforcement is on and the quota is exceeded.
        QuotaExceeded = -125,
        /// The server throttled the request.
        ThrottledOp = -127,
    }
}

impl ErrorCode {
    /// The Java `KeeperException.Code` name, e.g. `"NONODE"`.
    pub const fn name(self) -> &'static str {
        use ErrorCode as E;
        match self {
            E::Ok => "OK",
            E::SystemError => "SYSTEMERROR",
            E::RuntimeInconsistency => "RUNTIMEINCONSISTENCY",
            E::DataInconsistency => "DATAINCONSISTENCY",
            E::ConnectionLoss => "CONNECTIONLOSS",
            E::MarshallingError => "MARSHALLINGERROR",
            E::Unimplemented => "UNIMPLEMENTED",
            E::OperationTimeout => "OPERATIONTIMEOUT",
            E::BadArguments => "BADARGUMENTS",
            E::UnknownSession => "UNKNOWNSESSION",
            E::NewConfigNoQuorum => "NEWCONFIGNOQUORUM",
            E::ReconfigInProgress => "RECONFIGINPROGRESS",
            E::ApiError => "APIERROR",
            E::NoNode => "NONODE",
            E::NoAuth => "NOAUTH",
            E::BadVersion => "BADVERSION",
            E::NoChildrenForEphemerals => "NOCHILDRENFOREPHEMERALS",
            E::NodeExists => "NODEEXISTS",
            E::NotEmpty => "NOTEMPTY",
            E::SessionExpired => "SESSIONEXPIRED",
            E::InvalidCallback => "INVALIDCALLBACK",
            E::InvalidAcl => "INVALIDACL",
            E::AuthFailed => "AUTHFAILED",
            E::SessionMoved => "SESSIONMOVED",
            E::NotReadOnly => "NOTREADONLY",
            E::EphemeralOnLocalSession => "EPHEMERALONLOCALSESSION",
            E::NoWatcher => "NOWATCHER",
            E::RequestTimeout => "REQUESTTIMEOUT",
            E::ReconfigDisabled => "RECONFIGDISABLED",
            E::SessionClosedRequireSaslAuth => "SESSIONCLOSEDREQUIRESASLAUTH",
            E::QuotaExceeded => "QUOTAEXCEEDED",
            E::ThrottledOp => "THROTTLEDOP",
        }
    }
}

/// Writes the Java name and the code, e.g. `NONODE (-101)`.
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::record::testing::assert_enum;
    use std::collections::HashSet;

    #[test]
    fn error_codes_round_trip() {
        // §8: "There is no -9…-11, -104…-107, -109, -116/-117 or -126."
        let gaps = [-9, -10, -11, -104, -105, -106, -107, -109, -116, -117, -126, -128, 1];
        assert_enum(ErrorCode::ALL, &gaps);
        assert_eq!(ErrorCode::ALL.len(), 32);
    }

    #[test]
    fn names_are_java_style_and_distinct() {
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for c in ErrorCode::ALL {
            assert!(c.name().chars().all(|ch| ch.is_ascii_uppercase()), "{c:?}");
        }
        assert_eq!(ErrorCode::NoNode.name(), "NONODE");
        assert_eq!(ErrorCode::NoNode.to_string(), "NONODE (-101)");
    }
}
