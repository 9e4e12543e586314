//! zk-core: a lean async ZooKeeper client speaking the real wire protocol.
//!
//! - [`Client`]: a cheap, cloneable handle to one session. Every ZooKeeper operation is a
//!   method that enqueues its request at once and returns a future, so requests are pipelined
//!   on one connection and go out in call order.
//! - Watches are values: a one-shot watch is a future ([`OneshotWatcher`]), a persistent watch
//!   a stream ([`PersistentWatcher`]); dropping one unregisters it.
//! - Session state is a value ([`Client::state`], [`Client::state_watch`]) and a stream
//!   ([`Client::session_events`]): `Connected`, `Disconnected`, `Reconnected`, `Expired`,
//!   `NewSession`, ...
//! - On connection loss the client tries the other hosts with jittered backoff, resumes the
//!   session and re-registers its watches; only the requests in flight fail, with
//!   [`Error::ConnectionLoss`]. Only a server decides that a session expired; the client
//!   then opens a new one by itself ([`OnExpiry`]).
//! - Whole-path helpers: [`Client::create_with_parents`], [`Client::ensure_path`],
//!   [`Client::delete_recursive`]; protected creates that survive a lost reply
//!   ([`Retrying::create_protected`]).
//! - ACLs: [`Acl::digest`] builds a `digest` identity's entry from a user and password;
//!   [`ClientBuilder::default_acl`] is the ACL of every create that names none, the
//!   recipes' included.
//! - [`Error`] names every ZooKeeper error code; bad paths and oversized requests are
//!   rejected before anything is sent. [`retry`] retries what is retryable.
//! - [`proto`] is the wire codec (no I/O), shared with zk-testing's server.
//! - Time comes only from `tokio::time` and the transport is pluggable ([`Connector`]), so
//!   tests can run on a paused clock.
//!
//! Coordination recipes (locks, leader election, ...) are in the `zkrs-recipes` package
//! (library `zk_recipes`); an embedded server for tests is in `zkrs-testing` (`zk_testing`),
//! and every example below runs against it.
//!
//! # Layout
//!
//! - `client/`: the [`Client`] handle (`mod.rs`) and its [`ClientBuilder`] (`builder.rs`),
//!   every operation (`ops.rs`), create modes and `multi` (`multi.rs`), watchers as values
//!   (`watcher.rs`), the whole-path helpers (`tree.rs`), retried operations (`retrying.rs`).
//! - `session/`: the one task that owns the connection (`mod.rs`): connecting and serving it
//!   (`connection.rs`), the host list (`endpoints.rs`), session states and events
//!   (`state.rs`), the client-side watch registry (`watches.rs`).
//! - [`proto`]: the wire codec, no I/O, one file per record family (shared with zk-testing).
//! - `transport.rs`: how the session gets a byte stream ([`Connector`], [`TcpConnector`]).
//! - `error.rs`: [`Error`]; [`path`]: path validation and chroot; `retry.rs`: [`RetryPolicy`]
//!   and [`retry`]; `digest.rs`: the `digest` scheme's ids ([`digest_id`]).
//!
//! `§N.M` in comments refers to `docs/protocol.md`, section N.M (the ZooKeeper protocol notes).
//!
//! # Observing
//!
//! The session task runs in a `zk_session` span whose `session_id` and `epoch` fields name
//! the current session, and logs connection losses, new sessions and expiries. Each request
//! ends with a `TRACE` event of target `zk_core::request` (`op`, `path`, `xid`, `zxid`,
//! `latency_us`, `outcome`): enable it with a filter such as `zk_core::request=trace`. With
//! the `metrics` feature the client also counts through the `metrics` facade, for whatever
//! exporter the application installs: `zk_requests_total{op,outcome}`,
//! `zk_request_seconds{op}` (histogram), `zk_session_events_total{event}` and
//! `zk_watch_events_total{type}`. Nobody listening costs a cached check per request.
//!
//! # Connecting
//!
//! A connect string lists the servers and an optional chroot:
//! `"zk1:2181,zk2:2181,zk3:2181/my-app"`. [`Client::connect`] returns once the session is
//! established; [`Client::builder`] sets the rest (defaults in [`ClientBuilder`]): session
//! timeout, `digest` authentication, read-only mode, a chroot, a custom transport, or an
//! existing session to resume.
//!
//! [`ClientBuilder::sasl_digest_md5`] logs every connection in with SASL DIGEST-MD5 (the
//! mechanism of ZooKeeper's JAAS `DigestLoginModule`, see [`sasl`]) before any request.
//!
//! With the `tls` feature, `ClientBuilder::tls` speaks TLS (rustls) to servers'
//! `secureClientPort`s, trusting the CAs of a `tls::TlsConfig` and presenting its client
//! certificate (ZooKeeper's `x509` identity) if it has one; a connect string that starts with
//! `tls://` insists on it. A rejected certificate fails the first connect at once with
//! [`Error::Tls`], whose [`tls::TlsError::kind`] says why.
//!
//! ```
//! use std::time::Duration;
//! use zk_core::{Client, CreateMode, SessionState};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = zk_testing::TestServer::start().await?; // an embedded server on loopback
//! let connect_string = server.connect_string(); // "127.0.0.1:<port>"
//!
//! let zk = Client::connect(&connect_string).await?;
//! assert_eq!(zk.state(), SessionState::Connected);
//! zk.create("/app", b"", CreateMode::Persistent).await?;
//!
//! // Chrooted: this client sees `/app` as `/`.
//! let app = Client::builder(&format!("{connect_string}/app"))
//!     .session_timeout(Duration::from_secs(10))
//!     .connect()
//!     .await?;
//! app.create("/jobs", b"", CreateMode::Persistent).await?;
//! assert!(zk.exists("/app/jobs").await?.is_some());
//! app.close().await; // ends the session now (dropping the last handle does it too)
//! zk.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Reading, writing, watching
//!
//! Versions are `Option<i32>`: `None` means "any version", `Some(v)` makes the write
//! conditional (optimistic concurrency). A one-shot watch is set with the `*_and_watch` reads
//! and fires once; [`Client::add_watch`] sets a persistent (optionally recursive) one.
//!
//! ```
//! use futures::StreamExt;
//! use zk_core::{AddWatchMode, Client, CreateMode, Error, EventType};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
//! # let zk = server.client().await?;
//! let (path, stat) = zk.create("/config", b"v1", CreateMode::Persistent).await?;
//! assert_eq!((path.as_str(), stat.version), ("/config", 0));
//!
//! // Watch the node, change it, see the event.
//! let (data, _, watcher) = zk.get_data_and_watch("/config").await?;
//! assert_eq!(data, b"v1");
//! zk.set_data("/config", b"v2", Some(0)).await?;
//! assert_eq!(watcher.await?.event_type, EventType::NodeDataChanged);
//!
//! // A stale version is refused; so is a bad path, before anything is sent.
//! assert_eq!(zk.set_data("/config", b"v3", Some(0)).await, Err(Error::BadVersion));
//! assert!(matches!(zk.get_data("config").await, Err(Error::InvalidPath { .. })));
//!
//! // Sequential ephemeral nodes: numbered by the server, deleted with the session.
//! let (w, _) = zk.create("/config/w-", b"", CreateMode::EphemeralSequential).await?;
//! assert_eq!(w, "/config/w-0000000000");
//!
//! // A persistent recursive watch is a stream of every change below a path.
//! let mut changes = zk.add_watch("/config", AddWatchMode::PersistentRecursive).await?;
//! zk.delete(&w, None).await?;
//! let event = changes.next().await.expect("an event")?;
//! assert_eq!((event.event_type, event.path.as_str()), (EventType::NodeDeleted, w.as_str()));
//! # Ok(())
//! # }
//! ```
//!
//! # Pipelining and transactions
//!
//! Each call sends its request before returning the future, so issuing many calls and then
//! awaiting them keeps them all in flight on one connection; replies come back in call order.
//! [`Client::multi`] applies a list of [`Op`]s atomically: all or nothing.
//!
//! ```
//! use zk_core::{Client, CreateMode, Error, Op, OpResult};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
//! # let zk = server.client().await?;
//! zk.create("/counter", b"0", CreateMode::Persistent).await?;
//! let writes: Vec<_> =
//!     (1..=100).map(|i| zk.set_data("/counter", format!("{i}").as_bytes(), None)).collect();
//! for w in writes {
//!     w.await?;
//! }
//! assert_eq!(zk.get_data("/counter").await?.0, b"100");
//!
//! // A transaction: the check fails, so the create is not applied either.
//! let err = zk
//!     .multi(&[Op::create("/a", b"", CreateMode::Persistent), Op::check("/counter", Some(0))])
//!     .await
//!     .unwrap_err();
//! assert!(matches!(err, Error::MultiFailed { index: 1, .. }));
//! assert_eq!(zk.exists("/a").await?, None);
//!
//! let ops = [Op::create("/a", b"", CreateMode::Persistent), Op::check("/counter", None)];
//! let results = zk.multi(&ops).await?;
//! assert!(matches!(&results[0], OpResult::Create { path, .. } if path == "/a"));
//! # Ok(())
//! # }
//! ```
//!
//! # Sessions and failures
//!
//! A lost connection is not a lost session: the client reconnects (to another server if the
//! connect string has several) and resumes the session within its timeout; ephemeral nodes and
//! watches survive. Requests in flight at that moment fail with [`Error::ConnectionLoss`] (a
//! write may or may not have been applied); requests issued while disconnected wait for a
//! connection at most [`ClientBuilder::queue_timeout`]. [`retry`] retries such retryable errors
//! under a [`RetryPolicy`].
//!
//! While no server answers, the client keeps trying to resume its session: an ensemble that
//! lost its quorum keeps its sessions, so only a server can say that one expired. Once the
//! session timeout has passed without contact the client says so
//! ([`SessionEvent::TimeoutElapsed`], Curator's LOST moment: treat locks and leadership as
//! lost). When a server answers that the session expired, the client reports
//! [`SessionEvent::Expired`]: the old session's requests and watchers end with
//! [`Error::SessionExpired`], and the client opens a new session on the same connect string,
//! chroot and credentials ([`SessionEvent::NewSession`]) and serves requests again. The
//! session's [`SessionStatus::epoch`] counts the expiries, so code can tell that the session
//! it started on is gone. With [`OnExpiry::End`] the expiry ends the client instead. Recipes
//! in `zk-recipes` document what each of them does on these events.
//!
//! ```
//! use std::time::Duration;
//! use zk_core::{retry, CreateMode, Error, RetryPolicy, SessionEvent};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = zk_testing::TestServer::builder().no_tcp().seed(1).start().await?;
//! let zk = server.client_builder().session_timeout(Duration::from_secs(10)).connect().await?;
//! let mut events = zk.session_events();
//! assert_eq!(events.next_event().await, Some(SessionEvent::Connected)); // where it stands now
//!
//! // The connection drops; the session lives on.
//! server.drop_connection(zk.session_id());
//! assert_eq!(events.next_event().await, Some(SessionEvent::Disconnected));
//! assert_eq!(events.next_event().await, Some(SessionEvent::Reconnected));
//! let policy = RetryPolicy::NTimes { n: 3, delay: Duration::from_millis(100) };
//! retry(&policy, || zk.exists("/")).await?;
//!
//! // Cut off for longer than the session timeout (virtual time): the server expires the
//! // session, and the client hears so once the partition ends.
//! zk.create("/eph", b"", CreateMode::Ephemeral).await?;
//! let (_, _, watcher) = zk.get_data_and_watch("/eph").await?;
//! let old = zk.session_id();
//! server.partition_session(old, Duration::from_secs(60));
//! assert_eq!(events.next_event().await, Some(SessionEvent::Disconnected));
//! assert_eq!(events.next_event().await, Some(SessionEvent::TimeoutElapsed));
//! assert_eq!(events.next_event().await, Some(SessionEvent::Expired));
//! assert_eq!(watcher.await, Err(Error::SessionExpired));
//! let Some(SessionEvent::NewSession { session_id }) = events.next_event().await else { panic!() };
//! assert_ne!(session_id, old);
//! assert_eq!(zk.status().epoch, 1);
//! assert_eq!(zk.exists("/eph").await?, None); // the old session's ephemeral is gone
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod client;
mod digest;
mod error;
pub mod path;
pub mod proto;
mod retry;
pub mod sasl;
mod session;
pub mod tls;
mod transport;

pub use client::{
    Client, ClientBuilder, ClientStats, CreateMode, CreateOptions, EnsembleConfig, OneshotWatcher, Op,
    OpResult, PersistentWatcher, ReadOp, ReadResult, Reconfig, Retrying, ServerSpec, SessionEvents,
    StateWatcher, CONFIG_NODE,
};
pub use digest::{digest_id, digest_id_of_auth};
pub use error::{Error, Result};
pub use proto::{Acl, AddWatchMode, ClientInfo, EventType, Perms, Stat, WatcherType};
pub use retry::{retry, RetryPolicy};
pub use session::state::{OnExpiry, SessionEvent, SessionState, SessionStatus};
pub use session::watches::WatchedEvent;
pub use transport::{BoxReader, BoxWriter, Connector, TcpConnector};

/// The crate's own README (its crates.io page), compiled as doc tests so its example cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;
