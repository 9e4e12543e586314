//! TLS: the typed error every build knows, and (feature `tls`) the rustls-based
//! `TlsConfig` and `TlsConnector`.
//!
//! ZooKeeper serves TLS on its `secureClientPort` (with the Netty connection factory); the
//! frames inside are the same as on the plain port. A client asks for TLS explicitly: with
//! `ClientBuilder::tls`, and a connect string may say `tls://`
//! in front to insist on it (building such a client without a TLS configuration fails).
//!
//! A certificate the client rejects (unknown CA, expired, issued for another name), or a
//! client certificate the server rejects, fails the first connect at once with
//! [`Error::Tls`](crate::Error::Tls) once every host was tried: a certificate does not get
//! better by waiting. After a session was established, the client keeps trying, as it does
//! through any outage (certificates may be rotated while it waits).

#[cfg(feature = "tls")]
mod config;

#[cfg(feature = "tls")]
pub use config::{TlsConfig, TlsConnector};

use std::fmt;

/// What went wrong in a TLS handshake or configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The server's certificate is not signed by a trusted CA.
    UnknownIssuer,
    /// The server's certificate expired (or is not valid yet).
    Expired,
    /// The server's certificate was issued for another name than the one checked (the host
    /// of the connect string, or the server name the TLS configuration sets).
    NotValidForName,
    /// The server's certificate was rejected for another reason (revoked, bad signature,
    /// wrong usage, unparsable).
    BadCertificate,
    /// The server ended the handshake with an alert: typically it requires a client
    /// certificate and got none, or did not trust the one it got.
    Rejected,
    /// The configuration could not be used: no PEM item where one was needed, a key that
    /// does not parse or does not match, a server name that is not a DNS name or IP address.
    Config,
    /// Any other handshake failure (no common protocol version or cipher suite, a peer that
    /// does not speak TLS).
    Handshake,
}

/// A TLS failure: its [`kind`](Self::kind) and what the TLS library said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    kind: TlsErrorKind,
    message: String,
}

impl TlsError {
    /// A TLS error of `kind`, described by `message`.
    pub fn new(kind: TlsErrorKind, message: impl Into<String>) -> Self {
        TlsError { kind, message: message.into() }
    }

    /// What went wrong.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// The description.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the error comes from the certificates or the configuration, not from the
    /// transport: waiting will not fix it.
    pub fn is_permanent(&self) -> bool {
        self.kind != TlsErrorKind::Handshake
    }

    /// The TLS error an I/O error of a connector carries, if any (the `TlsConnector` of
    /// feature `tls` wraps its handshake failures so; a custom connector can do the same with
    /// `io::Error::new(kind, tls_error)`).
    pub fn from_io(e: &std::io::Error) -> Option<&TlsError> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<TlsError>())
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for TlsError {}
