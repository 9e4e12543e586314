//! [`ClientBuilder`]: every connection option, with documented defaults.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::path::Chroot;
use crate::proto::{Acl, DEFAULT_MAX_FRAME};
use crate::retry::RetryPolicy;
use crate::session::endpoints::ConnectString;
use crate::session::state::{OnExpiry, SessionState};
use crate::session::{self, Config};
use crate::transport::{Connector, TcpConnector};

use super::Client;

/// Builds a [`Client`]. Start from [`Client::builder`].
///
/// | option | default |
/// |---|---|
/// | session timeout | 30 s (the server clamps it to its 2..20 ticks range) |
/// | connect timeout per attempt | negotiated session timeout / number of hosts |
/// | queue timeout (a request issued while disconnected) | the connect timeout |
/// | on expiry | [`OnExpiry::NewSession`]: open a new session and carry on |
/// | local expiry deadline | none: only a server decides that a session expired |
/// | retry policy (recipes, [`Client::retrying`]) | [`RetryPolicy::default`] |
/// | seed of the client's randomness (host order, jitter) | random |
/// | read-only servers allowed | no |
/// | authentication | none (`auth` for schemes such as `digest`, `sasl_digest_md5` for SASL) |
/// | ACL of creates that name none | world:anyone, every permission (`OPEN_ACL_UNSAFE`) |
/// | chroot | from the connect string, else none |
/// | max frame size | 1,048,575 bytes (ZooKeeper's `jute.maxbuffer`) |
/// | transport | TCP; TLS with `tls` (feature `tls`) |
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    connect_string: String,
    session_timeout: Duration,
    connect_timeout: Option<Duration>,
    queue_timeout: Option<Duration>,
    on_expiry: OnExpiry,
    local_expiry: bool,
    retry_policy: RetryPolicy,
    seed: Option<u64>,
    read_only: bool,
    auths: Vec<(String, Vec<u8>)>,
    sasl: Option<(String, String)>,
    default_acl: Vec<Acl>,
    chroot: Option<String>,
    max_frame: usize,
    resume: Option<(i64, Vec<u8>)>,
    connector: Arc<dyn Connector>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConfig>,
}

impl ClientBuilder {
    pub(crate) fn new(connect_string: &str) -> Self {
        ClientBuilder {
            connect_string: connect_string.to_owned(),
            session_timeout: Duration::from_secs(30),
            connect_timeout: None,
            queue_timeout: None,
            on_expiry: OnExpiry::default(),
            local_expiry: false,
            retry_policy: RetryPolicy::default(),
            seed: None,
            read_only: false,
            auths: Vec::new(),
            sasl: None,
            default_acl: Acl::open_unsafe(),
            chroot: None,
            max_frame: DEFAULT_MAX_FRAME,
            resume: None,
            connector: Arc::new(TcpConnector),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The session timeout to ask for. The server clamps it; read the result with
    /// [`Client::session_timeout`].
    pub fn session_timeout(mut self, t: Duration) -> Self {
        self.session_timeout = t;
        self
    }

    /// The limit for one connection attempt (TCP connect plus handshake).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = Some(t);
        self
    }

    /// How long a request issued while no connection is up waits for one before failing with
    /// [`Error::ConnectionLoss`] (default: the connect timeout). Requests never wait for a
    /// whole outage.
    pub fn queue_timeout(mut self, t: Duration) -> Self {
        self.queue_timeout = Some(t);
        self
    }

    /// What to do when the server says the session expired: open a new one (the default) or
    /// end the client ([`OnExpiry`]).
    pub fn on_expiry(mut self, on_expiry: OnExpiry) -> Self {
        self.on_expiry = on_expiry;
        self
    }

    /// Declare the session expired locally once no server was heard for the negotiated
    /// session timeout, as the client did before it left that decision to the servers (and
    /// as Java clients from 3.9.3 do after 4/3 of it). Off by default: an ensemble that loses
    /// its quorum keeps its sessions, and a client that gives its session up early loses its
    /// ephemerals for nothing. Without it the client announces the moment with
    /// [`SessionState::TimeoutElapsed`] and keeps trying.
    pub fn local_expiry(mut self) -> Self {
        self.local_expiry = true;
        self
    }

    /// The policy under which the recipes of zk-recipes retry their steps, and
    /// [`Client::retrying`] its operations (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// Seeds the client's randomness: the order in which it tries the hosts, the jitter of
    /// its reconnects and of [`Client::retry_schedule`]. Tests on a paused clock then replay
    /// exactly (zk-testing's `client_builder` seeds its clients from the server's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Accept read-only servers (a partitioned ensemble member with `readonlymode.enabled`).
    /// Writes then fail with [`Error::NotReadOnly`] until a read-write server is found.
    pub fn read_only(mut self, allowed: bool) -> Self {
        self.read_only = allowed;
        self
    }

    /// Authenticate every connection with this scheme and payload (for `digest`:
    /// `b"user:password"`), before any request.
    pub fn auth(mut self, scheme: &str, auth: &[u8]) -> Self {
        self.auths.push((scheme.to_owned(), auth.to_vec()));
        self
    }

    /// Authenticate every connection with SASL DIGEST-MD5 as `username` (ZooKeeper's JAAS
    /// `DigestLoginModule`, whose `Server` section lists `user_<name>="<password>"`), before
    /// any request; the connection is then known as `sasl:<username>` (ACLs name it so).
    /// A rejected password fails [`connect`](Self::connect) with [`Error::AuthFailed`], as it
    /// ends a client that reconnects later.
    pub fn sasl_digest_md5(mut self, username: &str, password: &str) -> Self {
        self.sasl = Some((username.to_owned(), password.to_owned()));
        self
    }

    /// The ACL of every create that names none: this client's creates with a bare
    /// [`CreateMode`](crate::CreateMode), and every node the recipes create with it
    /// (Curator's `ACLProvider`, kazoo's `default_acl`). Pair an ACL for an identity with
    /// [`auth`](Self::auth) for it, e.g. [`Acl::digest`] with `auth("digest", b"user:pw")`;
    /// [`Acl::creator_all`] gives every permission to whoever created the node.
    pub fn default_acl(mut self, acl: Vec<Acl>) -> Self {
        self.default_acl = acl;
        self
    }

    /// Run every operation below this path (overrides a chroot in the connect string).
    pub fn chroot(mut self, chroot: &str) -> Self {
        self.chroot = Some(chroot.to_owned());
        self
    }

    /// The largest frame sent or accepted, in bytes (must match the server's
    /// `jute.maxbuffer`). Larger requests fail with [`Error::BadArguments`] before sending.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Resume an existing session instead of creating one (its id and password come from
    /// [`Client::session_id`] and [`Client::session_password`] of another client).
    pub fn session(mut self, id: i64, password: &[u8]) -> Self {
        self.resume = Some((id, password.to_vec()));
        self
    }

    /// Use another transport (zk-testing's in-memory duplex, a TLS wrapper...).
    pub fn connector(mut self, c: Arc<dyn Connector>) -> Self {
        self.connector = c;
        self
    }

    /// Speak TLS to every server, as this configuration says (feature `tls`). It takes the
    /// place of any [`connector`](Self::connector). Servers serve TLS on their
    /// `secureClientPort`: name those ports in the connect string (a `tls://` in front of it
    /// makes a client without this option fail to build).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::tls::TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// The connector: TLS when configured, else the one set (TCP by default).
    fn connector_for(&self, cs: &ConnectString) -> Result<Arc<dyn Connector>> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return Ok(Arc::new(tls.connector()?));
        }
        if cs.tls {
            let why = if cfg!(feature = "tls") {
                "the connect string asks for TLS (tls://) but the builder has no TLS configuration (ClientBuilder::tls)"
            } else {
                "the connect string asks for TLS (tls://): build zk-core with its `tls` feature and use ClientBuilder::tls"
            };
            return Err(Error::BadArguments(why.into()));
        }
        Ok(self.connector.clone())
    }

    fn config(&self) -> Result<Config> {
        let cs = ConnectString::parse(&self.connect_string)?;
        let connector = self.connector_for(&cs)?;
        let chroot = match &self.chroot {
            Some(c) => Chroot::new(c)?,
            None => cs.chroot,
        };
        if self.session_timeout.is_zero() || self.session_timeout.as_millis() > i32::MAX as u128 {
            return Err(Error::BadArguments(format!(
                "session timeout {:?} is out of range",
                self.session_timeout
            )));
        }
        if self.max_frame < 1024 || self.max_frame > i32::MAX as usize {
            return Err(Error::BadArguments(format!(
                "max frame size {} is out of range (1 KiB ..= 2 GiB)",
                self.max_frame
            )));
        }
        if self.default_acl.is_empty() {
            return Err(Error::BadArguments("the default ACL must not be empty".into()));
        }
        if let Some((_, pw)) = &self.resume {
            if pw.len() != 16 {
                return Err(Error::BadArguments(format!(
                    "session password must be 16 bytes, got {}",
                    pw.len()
                )));
            }
        }
        Ok(Config {
            hosts: cs.hosts,
            chroot,
            session_timeout: self.session_timeout,
            connect_timeout: self.connect_timeout,
            queue_timeout: self.queue_timeout,
            on_expiry: self.on_expiry,
            local_expiry: self.local_expiry,
            seed: self.seed.unwrap_or_else(rand::random),
            read_only: self.read_only,
            auths: self.auths.clone(),
            sasl: self.sasl.clone(),
            max_frame: self.max_frame,
            resume: self.resume.clone(),
            connector,
        })
    }

    /// Connects and waits for the session to be established.
    ///
    /// # Errors
    /// - [`Error::BadArguments`] / [`Error::InvalidPath`] for a bad connect string or option
    ///   (an empty default ACL included);
    /// - [`Error::ConnectFailed`] when no host accepted within the session timeout;
    /// - [`Error::SessionExpired`] when resuming a session the server no longer knows;
    /// - [`Error::AuthFailed`] when the server rejected the configured authentication;
    /// - [`Error::Tls`] when the TLS configuration cannot be used, or every server's
    ///   certificate was rejected (or every server rejected the client's), at once rather
    ///   than after the session timeout.
    pub async fn connect(self) -> Result<Client> {
        let config = self.config()?;
        let chroot = config.chroot.clone();
        let max_frame = config.max_frame;
        // The client's own stream of seeds, apart from the session task's.
        let retry_seed = config.seed ^ 0x5DEE_CE66_D1CE_4E5B;
        let handles = session::spawn(config);
        let mut state_rx = handles.state_rx.clone();
        let auth_configured = !self.auths.is_empty();
        let retry = (self.retry_policy.clone(), retry_seed);
        let client = Client::from_handles(
            handles,
            (chroot, self.default_acl.clone()),
            max_frame,
            auth_configured,
            retry,
        );
        loop {
            let (state, error) = {
                let s = state_rx.borrow_and_update();
                (s.state, s.error.clone())
            };
            match state {
                SessionState::Connected | SessionState::ConnectedReadOnly => break,
                s if s.is_terminal() => return Err(error.unwrap_or_else(|| s.terminal_error())),
                _ => {}
            }
            if state_rx.changed().await.is_err() {
                return Err(client.terminal_error());
            }
        }
        // Authentication is sent right after the handshake; make sure it was accepted before
        // handing out the client, so a bad credential fails here and not on a later call.
        if !client.inner.auth_configured {
            return Ok(client);
        }
        client.sync("/").await.map(|()| client)
    }
}
