//! TLS for tests (feature `tls`): certificates made on the spot ([`TestCerts`]) and the
//! embedded server's TLS listener ([`ServerTls`], [`TestServerBuilder::tls`]), so TLS code
//! is tested without a JVM; [`RealZooKeeperBuilder::tls`](crate::RealZooKeeperBuilder::tls)
//! gives a real ZooKeeper a `secureClientPort` with the same certificates.
//!
//! [`TestServerBuilder::tls`]: crate::TestServerBuilder::tls

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use zk_core::tls::TlsConfig;

use crate::server::conn::Endpoint;

/// How long the TLS listener waits for a client's handshake before dropping the connection.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate and its private key, in PEM.
#[derive(Clone)]
pub struct CertPair {
    /// The certificate (`CERTIFICATE`).
    pub cert_pem: String,
    /// Its private key (`PRIVATE KEY`, PKCS#8, ECDSA P-256).
    pub key_pem: String,
}

impl fmt::Debug for CertPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertPair").field("cert_pem", &self.cert_pem.len()).finish_non_exhaustive()
    }
}

/// A throwaway CA and certificates it signs, for TLS tests on loopback: a server certificate
/// for `localhost` and `127.0.0.1`, client certificates by common name, and the broken ones
/// tests need (expired, for another name, from another CA).
pub struct TestCerts {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    server: CertPair,
}

impl fmt::Debug for TestCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCerts").finish_non_exhaustive()
    }
}

impl TestCerts {
    /// A new CA (common name `name`) and its server certificate for `localhost` and
    /// `127.0.0.1`.
    ///
    /// # Errors
    /// When a key or certificate cannot be made (`Other`, with rcgen's reason).
    pub fn generate(name: &str) -> io::Result<TestCerts> {
        let key = KeyPair::generate().map_err(other)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_pem = params.self_signed(&key).map_err(other)?.pem();
        let issuer = Issuer::new(params, key);
        let mut certs = TestCerts {
            ca_pem,
            issuer,
            server: CertPair { cert_pem: String::new(), key_pem: String::new() },
        };
        certs.server = certs.server_for(&["localhost", "127.0.0.1"])?;
        Ok(certs)
    }

    /// The CA certificate, for clients and servers to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server certificate (for `localhost` and `127.0.0.1`).
    pub fn server(&self) -> &CertPair {
        &self.server
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    ///
    /// # Errors
    /// As [`generate`](Self::generate), or for a name that is neither.
    pub fn server_for(&self, names: &[&str]) -> io::Result<CertPair> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).map_err(other)?;
        params.distinguished_name.push(DnType::CommonName, "zk-testing server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A server certificate for `localhost` and `127.0.0.1` that expired in 2001.
    ///
    /// # Errors
    /// As [`generate`](Self::generate).
    pub fn expired_server(&self) -> io::Result<CertPair> {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).map_err(other)?;
        params.distinguished_name.push(DnType::CommonName, "zk-testing expired server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        self.sign(params)
    }

    /// A client certificate whose subject is `CN=<common_name>`: ZooKeeper knows its holder
    /// as `x509:CN=<common_name>`.
    ///
    /// # Errors
    /// As [`generate`](Self::generate).
    pub fn client(&self, common_name: &str) -> io::Result<CertPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    /// A client configuration that trusts this CA.
    ///
    /// # Errors
    /// When the CA does not parse (it always does).
    pub fn client_config(&self) -> zk_core::Result<TlsConfig> {
        TlsConfig::new().ca_pem(self.ca_pem.as_bytes())
    }

    fn sign(&self, mut params: CertificateParams) -> io::Result<CertPair> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let key = KeyPair::generate().map_err(other)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(other)?;
        Ok(CertPair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

/// Whether the embedded server's TLS listener asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// Does not ask (ZooKeeper's `ssl.clientAuth=none`).
    None,
    /// Asks, verifies a certificate it gets, takes a client without one
    /// (`ssl.clientAuth=want`).
    Want,
    /// Refuses a client without a certificate its CA signed (`ssl.clientAuth=need`,
    /// ZooKeeper's default).
    Need,
}

/// The embedded server's TLS settings: its certificate and key, and the CA its client
/// certificates must come from. Give it to [`TestServerBuilder::tls`](crate::TestServerBuilder::tls).
#[derive(Clone)]
pub struct ServerTls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Serves `server` (certificate chain and key, PEM), verifying client certificates
    /// against `client_ca_pem` as `client_auth` says (the CA is unused with
    /// [`ClientAuth::None`]).
    ///
    /// # Errors
    /// `InvalidInput` when a PEM item is missing or does not parse, or the key does not
    /// match the certificate.
    pub fn new(server: &CertPair, client_ca_pem: &str, client_auth: ClientAuth) -> io::Result<ServerTls> {
        let chain = CertificateDer::pem_slice_iter(server.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).map_err(invalid)?;
        #[allow(deprecated)] // ring: see zk-core's tls::config, the same choice.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?;
        let builder = match client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Want | ClientAuth::Need => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
                    roots.add(cert.map_err(invalid)?).map_err(invalid)?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match client_auth {
                    ClientAuth::Want => verifier.allow_unauthenticated(),
                    _ => verifier,
                };
                builder.with_client_cert_verifier(verifier.build().map_err(invalid)?)
            }
        };
        let config = builder.with_single_cert(chain, key).map_err(invalid)?;
        Ok(ServerTls { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) })
    }

    /// [`new`](Self::new) with `certs`' server certificate and CA.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn from_certs(certs: &TestCerts, client_auth: ClientAuth) -> io::Result<ServerTls> {
        ServerTls::new(certs.server(), certs.ca_pem(), client_auth)
    }
}

/// Serves a TLS connection on a task of its own: the handshake (bounded), then the protocol.
pub(crate) fn serve<E: Endpoint + ?Sized>(
    tls: &ServerTls,
    shared: Arc<E>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let acceptor = tls.acceptor.clone();
    tokio::spawn(async move {
        let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake refused");
                return;
            }
            Err(_) => return,
        };
        let (r, w) = tokio::io::split(stream);
        crate::server::conn::serve(shared, r, w, peer.ip().to_string()).await;
    });
}

fn other(e: rcgen::Error) -> io::Error {
    io::Error::other(e.to_string())
}

fn invalid(e: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}
