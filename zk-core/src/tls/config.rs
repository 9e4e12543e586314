//! [`TlsConfig`] and [`TlsConnector`] (feature `tls`), on rustls with the ring provider.

use std::fmt;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_rustls::rustls::client::ClientConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, CertificateError, RootCertStore};

use super::{TlsError, TlsErrorKind};
use crate::error::{Error, Result};
use crate::transport::{BoxReader, BoxWriter, Connector};

/// How a client speaks TLS: the CAs it trusts, its own certificate (for servers that ask for
/// one, and ZooKeeper's `x509` ACL scheme) and the name it checks the server's certificate
/// against. Hand it to [`ClientBuilder::tls`](crate::ClientBuilder::tls).
///
/// ```no_run
/// # async fn f() -> zk_core::Result<()> {
/// use zk_core::{tls::TlsConfig, Client};
/// let tls = TlsConfig::new()
///     .ca_pem_file("/etc/zookeeper/ca.pem")?
///     .client_cert_pem_files("/etc/myapp/client.pem", "/etc/myapp/client.key")?;
/// let zk = Client::builder("tls://zk1:2281,zk2:2281").tls(tls).connect().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct TlsConfig {
    roots: Vec<CertificateDer<'static>>,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    server_name: Option<String>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots.len())
            .field("client_certificate", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl TlsConfig {
    /// A configuration that trusts no CA yet: add one with [`ca_pem`](Self::ca_pem).
    pub fn new() -> Self {
        TlsConfig::default()
    }

    /// Trusts the CA certificates in `pem` (one or more `CERTIFICATE` items).
    ///
    /// # Errors
    /// [`Error::Tls`] of kind [`TlsErrorKind::Config`] when `pem` holds no certificate or
    /// one that does not parse.
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<Self> {
        let certs = certificates(pem, "CA")?;
        self.roots.extend(certs);
        Ok(self)
    }

    /// Trusts the CA certificates in the PEM file at `path`.
    ///
    /// # Errors
    /// [`Error::Tls`] of kind [`TlsErrorKind::Config`] when the file cannot be read, or as
    /// [`ca_pem`](Self::ca_pem).
    pub fn ca_pem_file(self, path: impl AsRef<Path>) -> Result<Self> {
        let pem = read(path.as_ref())?;
        self.ca_pem(&pem)
    }

    /// Presents this certificate chain (leaf first) and private key (PKCS#8, PKCS#1 or SEC1)
    /// to servers that ask for one. ZooKeeper then knows the client as `x509:<subject DN>`.
    ///
    /// # Errors
    /// [`Error::Tls`] of kind [`TlsErrorKind::Config`] when either holds no usable item.
    pub fn client_cert_pem(mut self, cert_chain: &[u8], key: &[u8]) -> Result<Self> {
        let chain = certificates(cert_chain, "client")?;
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| config_error(format!("no usable private key in the PEM: {e}")))?;
        self.identity = Some((chain, Arc::new(key)));
        Ok(self)
    }

    /// As [`client_cert_pem`](Self::client_cert_pem), from PEM files.
    ///
    /// # Errors
    /// As [`client_cert_pem`](Self::client_cert_pem), or when a file cannot be read.
    pub fn client_cert_pem_files(self, cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self> {
        let chain = read(cert_chain.as_ref())?;
        let key = read(key.as_ref())?;
        self.client_cert_pem(&chain, &key)
    }

    /// Checks every server's certificate against `name` (a DNS name or an IP address)
    /// instead of the host of its `host:port` in the connect string: for servers reached by
    /// an address their certificate does not name.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The connector for this configuration.
    ///
    /// # Errors
    /// [`Error::Tls`] of kind [`TlsErrorKind::Config`] when no CA was added, the client key
    /// does not match its certificate, or the server name is neither a DNS name nor an IP
    /// address.
    pub fn connector(&self) -> Result<TlsConnector> {
        if self.roots.is_empty() {
            return Err(config_error("no CA to trust: add one with TlsConfig::ca_pem"));
        }
        let mut roots = RootCertStore::empty();
        for cert in &self.roots {
            roots.add(cert.clone()).map_err(|e| config_error(format!("CA certificate: {e}")))?;
        }
        // ring, deprecated by rustls 0.23.48 for its lack of post-quantum key exchange, which
        // ZooKeeper's Java servers do not offer anyway; unlike aws-lc-rs it builds with a C
        // compiler alone. The provider is passed explicitly: no process-wide default is set.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(e.to_string()))?
            .with_root_certificates(roots);
        let config = match &self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| config_error(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        let server_name = match &self.server_name {
            Some(name) => Some(server_name(name)?),
            None => None,
        };
        Ok(TlsConnector { inner: tokio_rustls::TlsConnector::from(Arc::new(config)), server_name })
    }
}

/// A [`Connector`] speaking TLS over TCP (feature `tls`). Build it with
/// [`TlsConfig::connector`], or let [`ClientBuilder::tls`](crate::ClientBuilder::tls) do it.
///
/// Handshake failures are I/O errors carrying a [`TlsError`] ([`TlsError::from_io`]).
#[derive(Clone)]
pub struct TlsConnector {
    inner: tokio_rustls::TlsConnector,
    server_name: Option<ServerName<'static>>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

impl Connector for TlsConnector {
    fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<(BoxReader, BoxWriter)>> {
        Box::pin(async move {
            let name = match &self.server_name {
                Some(name) => name.clone(),
                None => {
                    server_name(host_of(host)).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
                }
            };
            let tcp = tokio::net::TcpStream::connect(host).await?;
            tcp.set_nodelay(true)?;
            let stream = self.inner.connect(name, tcp).await.map_err(classify)?;
            let (r, w) = tokio::io::split(stream);
            Ok((Box::new(Reader(r)) as BoxReader, Box::new(w) as BoxWriter))
        })
    }
}

/// The host of `host:port` (`[v6]:port` gives `v6`).
fn host_of(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host_port.rsplit_once(':').map_or(host_port, |(host, _)| host)
}

fn server_name(name: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned())
        .map_err(|_| config_error(format!("server name {name:?} is neither a DNS name nor an IP address")))
}

/// A handshake's I/O error as a [`TlsError`]: what rustls said, or, for a reset or an EOF
/// from a peer that does not speak TLS, that the handshake failed.
fn classify(e: io::Error) -> io::Error {
    if TlsError::from_io(&e).is_some() {
        return e;
    }
    let kind = e.kind();
    let tls = tls_error(&e).unwrap_or_else(|| TlsError::new(TlsErrorKind::Handshake, e.to_string()));
    io::Error::new(kind, tls)
}

/// The [`TlsError`] of an I/O error that carries a rustls error.
fn tls_error(e: &io::Error) -> Option<TlsError> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    let kind = match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsErrorKind::UnknownIssuer,
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsErrorKind::Expired,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsErrorKind::NotValidForName
            }
            _ => TlsErrorKind::BadCertificate,
        },
        rustls::Error::AlertReceived(_) => TlsErrorKind::Rejected,
        _ => TlsErrorKind::Handshake,
    };
    Some(TlsError::new(kind, tls.to_string()))
}

/// The read half of a TLS stream, whose rustls errors carry a [`TlsError`]: under TLS 1.3 a
/// server that refuses the client's certificate says so after the client's side of the
/// handshake is done, on the first read.
struct Reader<R>(R);

impl<R: AsyncRead + Unpin> AsyncRead for Reader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf).map_err(|e| match tls_error(&e) {
            Some(tls) => io::Error::new(e.kind(), tls),
            None => e,
        })
    }
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(format!("{what} certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(format!("no {what} certificate in the PEM")));
    }
    Ok(certs)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| config_error(format!("{}: {e}", path.display())))
}

fn config_error(message: impl Into<String>) -> Error {
    Error::Tls(TlsError::new(TlsErrorKind::Config, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_the_port_and_brackets() {
        assert_eq!(host_of("zk1.example:2281"), "zk1.example");
        assert_eq!(host_of("127.0.0.1:2281"), "127.0.0.1");
        assert_eq!(host_of("[::1]:2281"), "::1");
    }

    #[test]
    fn a_config_without_a_ca_or_with_garbage_is_a_config_error() {
        let kind = |r: Result<_>| match r {
            Err(Error::Tls(e)) => e.kind(),
            other => panic!("expected a TLS error, got {other:?}"),
        };
        assert_eq!(kind(TlsConfig::new().connector().map(|_| ())), TlsErrorKind::Config);
        assert_eq!(kind(TlsConfig::new().ca_pem(b"not a pem").map(|_| ())), TlsErrorKind::Config);
        assert_eq!(
            kind(TlsConfig::new().ca_pem_file("/nonexistent/ca.pem").map(|_| ())),
            TlsErrorKind::Config
        );
        let pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let config = TlsConfig::new().ca_pem(pem).expect("a PEM item, whatever it holds");
        assert_eq!(kind(config.connector().map(|_| ())), TlsErrorKind::Config, "an unparsable CA");
        assert_eq!(kind(TlsConfig::new().client_cert_pem(pem, b"").map(|_| ())), TlsErrorKind::Config);
    }
}
