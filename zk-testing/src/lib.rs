//! zk-testing: fast, deterministic tests of ZooKeeper code, and the real thing when needed.
//!
//! - [`TestServer`]: an embedded, in-memory, ZooKeeper-compatible server. Real TCP clients
//!   (zk-core, the Java client and zkCli, Curator, kazoo) talk to it on loopback; zk-core
//!   clients can also connect in-process ([`TestServer::client`]) over an in-memory duplex that
//!   runs on tokio's clock, so under `#[tokio::test(start_paused = true)]` a 30 s session expiry
//!   takes microseconds of real time and replays exactly. Faults on command
//!   ([`TestServer::expire_session`], [`TestServer::partition_session`],
//!   [`TestServer::fail_next`], [`TestServer::lose_next_reply`], [`TestServer::set_latency`],
//!   ...) or drawn from its seeded RNG ([`TestServer::set_chaos`]; the seed comes from
//!   [`TestServerBuilder::seed`], else `ZK_TEST_SEED`, else random, and a panicking test prints
//!   it). Inspection: [`TestServer::sessions`], [`TestServer::watches`], [`TestServer::tree`].
//!   The `zk-testing-server` binary serves it to tests in any language.
//! - [`RealZooKeeper`]: a real standalone ZooKeeper 3.8 server (Debian's `zookeeper` package,
//!   installed by `bash scripts/zookeeper.sh`) on a private loopback port, or one shared per
//!   test process with [`RealZooKeeper::shared`]. The server never outlives the test process.
//! - [`TestEnsemble`]: an embedded ensemble of 3 or 5 members over one replicated history, on
//!   tokio's clock: members lag (reads are stale until `sync`), are killed, restarted and
//!   partitioned; the leader is lost and elected again in a new epoch; a member behind a
//!   client's zxid refuses it; read-only mode serves a cut-off member's read-only clients.
//! - [`RealEnsemble`]: a real 3- or 5-member ZooKeeper 3.8 ensemble on loopback whose members
//!   can be killed and restarted, to lose and regain the leader or the quorum.
//! - [`TcpProxy`]: a loopback TCP proxy in front of any server that can cut, stall (partition)
//!   and refuse connections on demand.
//! - [`Backend`] and [`both_backends!`]: one scenario run against the real ZooKeeper and an
//!   embedded server, each test in its own sandbox subtree.
//! - [`java`]: finds the JDK and Debian's ZooKeeper/Curator jars, compiles and runs Java
//!   programs with a time limit (Curator and zkCli interoperability tests).
//! - [`four_letter_word`]: sends `ruok`, `srvr`, `mntr`, ... to any server address.
//!
//! # Layout
//!
//! - `server/`: the [`TestServer`] handle (`mod.rs`), its builder, inspection and faults; its
//!   synchronous core, which applies requests under the server lock (`core.rs`); the async
//!   connection I/O (`conn.rs`: framing, the handshake's frame, ordered replies), which
//!   reaches the core only through a trait; four-letter words (`fourlw.rs`).
//!   `sessions.rs`: the session table and its expiry. `ensemble.rs`: [`TestEnsemble`], members
//!   that are the same core with their transactions committed through one log.
//! - `state/`: the server's state machine, pure (no I/O, no clock): the node store
//!   (`tree.rs`, `node.rs`, `index.rs`), requests (`ops.rs`, `multi.rs`), ACLs, watches and
//!   snapshots; its behaviour tests in `state/tests/`.
//! - `fault.rs`: typed and seeded faults ([`Chaos`], [`RequestMatcher`]); `proxy.rs`:
//!   [`TcpProxy`]; `trace.rs`: [`TraceCapture`], to assert on what code logged.
//! - [`plan`]: fault plans as data ([`FaultPlan`]): drawn from a seed, printed, parsed, applied.
//! - `real.rs`, `real_ensemble.rs`: a real ZooKeeper 3.8 server and ensemble; `backend.rs`:
//!   one scenario on both kinds of server ([`Backend`]); [`java`]: the JDK and the Java jars.
//! - `bin/zk-testing-server.rs`: the embedded server as a process.
//! - [`prop`]: the property runner: a scenario run under many drawn fault plans, the first
//!   failing plan shrunk and printed ([`prop::Runner`]); with the `proptest` feature, a
//!   proptest strategy over plans.
//! - `check/`: histories ([`check::Recorder`]) and pure checkers over them (mutual exclusion,
//!   one leader, delivery guarantees, counter exactness, cache convergence); `check/linear/`:
//!   the linearizability checker (model, search, tests).
//!
//! `§N.M` in comments refers to `docs/protocol.md`, section N.M (the ZooKeeper protocol notes).
//!
//! # Writing a deterministic test
//!
//! Start a [`TestServer`] without TCP (`no_tcp()`), take in-process clients from it, and run the
//! test on tokio's paused clock: time only moves when every task is idle, jumping straight to
//! the next timer, so session timeouts, backoffs and timeouts cost no real time and happen in
//! the same order on every run. Add `zkrs-testing` to your `[dev-dependencies]` together
//! with tokio's `test-util` feature. The example program `examples/test_with_fake_server.rs` is a
//! complete, commented version of what follows.
//!
//! ```
//! use std::time::Duration;
//! use zk_core::{CreateMode, EventType, SessionEvent};
//! use zk_testing::TestServer;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In a test: #[tokio::test(start_paused = true)]
//! let server = TestServer::builder().no_tcp().seed(7).start().await?;
//! let worker = server.client_builder().session_timeout(Duration::from_secs(30)).connect().await?;
//! let watcher = server.client().await?;
//! watcher.create("/workers", b"", CreateMode::Persistent).await?;
//! worker.create("/workers/w1", b"", CreateMode::Ephemeral).await?;
//! let (_, gone) = watcher.exists_and_watch("/workers/w1").await?;
//!
//! // Cut the worker off for a minute: its session expires after 30 s of virtual time.
//! let mut events = worker.session_events();
//! assert_eq!(events.next_event().await, Some(SessionEvent::Connected));
//! let cut = tokio::time::Instant::now();
//! server.partition_session(worker.session_id(), Duration::from_secs(60));
//! assert_eq!(events.next_event().await, Some(SessionEvent::Disconnected));
//! assert_eq!(events.next_event().await, Some(SessionEvent::TimeoutElapsed));
//! assert_eq!(events.next_event().await, Some(SessionEvent::Expired));
//! assert_eq!(gone.await?.event_type, EventType::NodeDeleted);
//! assert!(cut.elapsed() >= Duration::from_secs(30)); // virtual seconds, real microseconds
//!
//! // Inspect the server directly, without a client.
//! assert_eq!(server.children("/workers"), Vec::<String>::new());
//! // The worker's client opened a new session by itself.
//! assert!(matches!(events.next_event().await, Some(SessionEvent::NewSession { .. })));
//! assert_eq!(server.sessions().len(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Faults
//!
//! Faults are typed methods on the server, aimed at the requests a [`RequestMatcher`] selects:
//! fail a request with an error code without applying it ([`TestServer::fail_next`],
//! [`TestServer::fail_times`]), apply a write and lose its reply (the client sees
//! `ConnectionLoss` for a write that happened: [`TestServer::lose_next_reply`]), cut a
//! connection ([`TestServer::drop_connection`], [`TestServer::drop_on_next`]), freeze it
//! ([`TestServer::pause_connection`], [`TestServer::partition_session`]), expire a session now
//! ([`TestServer::expire_session`]), delay replies ([`TestServer::set_latency`]), or draw
//! faults at random from the server's seeded RNG ([`TestServer::set_chaos`]). The seed comes
//! from [`TestServerBuilder::seed`], else `ZK_TEST_SEED`, else at random; a panicking test prints
//! it, so `ZK_TEST_SEED=<seed> cargo test <name>` replays a failure.
//!
//! ```
//! use zk_core::proto::{ErrorCode, OpCode};
//! use zk_core::{CreateMode, Error};
//! use zk_testing::{RequestMatcher, TestServer};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TestServer::builder().no_tcp().seed(1).start().await?;
//! let zk = server.client().await?;
//!
//! // The next create under /locks/ is refused, and nothing is applied.
//! server.fail_next(RequestMatcher::op(OpCode::Create2).path_prefix("/locks/"), ErrorCode::NoAuth);
//! zk.create("/locks", b"", CreateMode::Persistent).await?;
//! assert_eq!(zk.create("/locks/a", b"", CreateMode::Persistent).await, Err(Error::NoAuth));
//! assert_eq!(zk.exists("/locks/a").await?, None);
//!
//! // The next create is applied, but its reply is lost: code that retries a create after
//! // ConnectionLoss must expect NodeExists.
//! server.lose_next_reply(RequestMatcher::op(OpCode::Create2));
//! let lost = zk.create("/locks/b", b"", CreateMode::Persistent).await;
//! assert_eq!(lost, Err(Error::ConnectionLoss));
//! assert_eq!(zk.create("/locks/b", b"", CreateMode::Persistent).await, Err(Error::NodeExists));
//! # Ok(())
//! # }
//! ```
//!
//! # Fault plans
//!
//! A [`FaultPlan`] is a list of faults at virtual times, aimed at participants ("client 2")
//! rather than session ids, so it can be drawn from a seed ([`FaultPlanConfig::draw`]),
//! printed by a failing run, pasted into a regression test and parsed back, and shrunk
//! ([`FaultPlan::without`], [`FaultPlan::shortened`]). [`FaultPlan::apply`] applies it to a
//! server beside the scenario. Its expiry is the realistic one
//! ([`TestServer::partition_until_expiry`]); the instant one is opt-in and marked adversarial.
//! The [`plan`] module documents the text form and every kind. To run a scenario under many
//! drawn plans and shrink a failing one to the faults that matter, see [`prop`]
//! ("Property-testing your coordination code").
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = zk_testing::TestServer::builder().no_tcp().seed(3).start().await?;
//! let clients = [server.client().await?, server.client().await?];
//! let plan: zk_testing::FaultPlan = "at 1s: partition client 1 for 2s; at 5s: restart".parse()?;
//! let (report, stat) = tokio::join!(plan.apply(&server, &clients), clients[0].exists("/"));
//! assert!(report.all_applied() && stat?.is_some());
//! # Ok(())
//! # }
//! ```
//!
//! # Against a real ZooKeeper too
//!
//! [`RealZooKeeper`] starts Debian's ZooKeeper 3.8 on a free loopback port (a JVM: about a
//! second), and [`both_backends!`] turns `async fn scenario(b: &Backend)` functions into one
//! test per backend, `real::scenario` and `embedded::scenario`, each chrooted into its own
//! [`Sandbox`]. Setting `ZK_TEST_REAL_CONNECT=host:port` uses an already running server
//! instead. A [`TcpProxy`] in front of either cuts, stalls or refuses connections:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use zk_testing::{RealZooKeeper, TcpProxy};
//!
//! let zk = RealZooKeeper::shared().await?;
//! let proxy = TcpProxy::start(zk.addr()).await?;
//! assert_eq!(zk_testing::four_letter_word(proxy.addr(), "ruok").await?, "imok");
//! # Ok::<(), std::io::Error>(()) }).unwrap();
//! ```
//!
//! # From tests in other languages
//!
//! The `zk-testing-server` binary serves the embedded server over TCP to any client (the Java
//! client and zkCli, Curator, kazoo, ...):
//!
//! ```text
//! cargo run -p zkrs-testing --features cli --bin zk-testing-server -- --port 2181
//!     [--addr 127.0.0.1] [--seed N] [--tick-ms 2000] [--snapshot FILE] [--no-ttl]
//!     [--reap-interval-ms 1000] [--read-only]
//! ```
//!
//! It is built with the crate's `cli` feature (off by default, so tests that use the library
//! do not compile its argument parser): `cargo install zkrs-testing --features cli`.
//!
//! It prints `connect string: 127.0.0.1:2181` once it serves and runs until SIGINT or
//! SIGTERM; with `--snapshot FILE` it loads the tree from FILE if it exists and saves it there
//! on shutdown.
//!
//! # How the embedded server differs from ZooKeeper 3.8
//!
//! The conformance suite (`zk-testing/tests/conformance`) runs every scenario against both a
//! real ZooKeeper 3.8 and [`TestServer`]; these differences are intentional:
//!
//! | topic | ZooKeeper (Debian's 3.8.0) | embedded | why |
//! |---|---|---|---|
//! | version | 3.8.0 | behaves as 3.8.0 by default, or as 3.8.6 or 3.9.3 ([`ServerVersion`], `--zk-version`): multi create results, `exists` without READ, persistent watcher types in check/removeWatches, a standard and a persistent watch on one path and connection (3.8 keeps the last registered, 3.9 both) | users' production servers run different releases |
//! | authentication | digest, SASL, x509, ... | digest and SASL DIGEST-MD5 (plus the implicit `ip` identity and an optional super digest); other schemes get AUTHFAILED and the connection closes | a test server needs no Kerberos |
//! | TLS (feature `tls`) | `secureClientPort` with the Netty factory; a client certificate becomes an `x509:<subject DN>` identity | a TLS listener ([`TestServerBuilder`]'s `tls`) that checks client certificates (none, want, need) but does not turn them into identities: ACLs cannot name an `x509` id | reading a certificate's subject needs an X.509 parser the server does without; `zk-testing/tests/tls.rs` runs the `x509` ACL against real ZooKeeper only |
//! | SASL | DIGEST-MD5 and GSSAPI through JAAS; 3.8.0's DIGEST-MD5 callback handler keeps the last user it looked up, so an unknown user presenting that user's password gets in | DIGEST-MD5 only ([`TestServerBuilder::sasl_user`]); an unknown user is refused | the 3.8.0 behaviour is a security bug, not a contract; a test server needs no Kerberos |
//! | auth replies | answered on receipt, may overtake earlier replies | answered in order | kazoo matches the -4 reply with its oldest pending request (§3.3) |
//! | read-only mode | only a partitioned member with `readonlymode.enabled=true`; its sessions are local and not resumable elsewhere | on command ([`TestServer::set_read_only`], or the builder), with the §2.6 behaviour (refuses clients that do not accept it, NOTREADONLY for writes and `sync`); one session table, so sessions resume across the switch | lets a test reach ConnectedReadOnly without an ensemble |
//! | four-letter words | `srvr` only unless whitelisted | all of `ruok srvr stat cons mntr conf envi wchs dump isro` | nothing to hide in a test |
//! | container/TTL reaper | every 60 s by default, at most 10,000 a minute | every 1 s by default ([`TestServerBuilder::reap_interval`]), at most 10,000 a run | tests should not wait a minute |
//! | session ids and passwords | from the start time and `java.util.Random` | from the seed | reproducible traces |
//! | durability | transaction log and snapshots | memory; [`TestServer::snapshot`] / [`TestServerBuilder::start_from`] and the binary's `--snapshot` file | a test server restarts in microseconds |
//! | quotas, reconfig, observers | supported | not implemented (reconfig answers RECONFIGDISABLED as a standalone server does) | out of scope for a single test server |
//!
//! [`TestEnsemble`] adds these, against a real 3-member ensemble
//! (`zk-testing/tests/ensemble.rs` and `embedded_ensemble.rs` run the same key scenarios):
//!
//! | topic | ZooKeeper ensemble | embedded ensemble | why |
//! |---|---|---|---|
//! | elections | a vote over the members' last zxids and ids, taking a few ticks | the highest-numbered member of the majority wins (all hold the whole log), after [`TestEnsembleBuilder::election`] (200 ms by default) | the outcome a real vote reaches when every member has the log, at a chosen time |
//! | follower lag | whatever the network and disks make it | none, or per member ([`TestEnsembleBuilder::lag`], or drawn from the seed) | a stale read on demand |
//! | a killed member | refuses connections; its log on disk survives | its listener closes new connections at once; it keeps what it had applied and catches up from the leader when restarted | a restart in microseconds |
//! | read-only member | local sessions only, not resumable elsewhere | the one session table: a session opened read-only resumes on the majority | as [`TestServer::set_read_only`] |
//! | dynamic reconfiguration, observers | supported | not implemented | not needed by the scenarios yet |
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod backend;
pub mod check;
mod ensemble;
mod fault;
pub mod java;
pub mod plan;
pub mod prop;
mod proxy;
mod real;
mod real_ensemble;
mod server;
mod sessions;
mod state;
#[cfg(feature = "tls")]
pub mod tls;
mod trace;
mod version;

pub use backend::{Backend, BackendKind, Sandbox};
pub use ensemble::{TestEnsemble, TestEnsembleBuilder};
pub use fault::{Chaos, RequestMatcher};
pub use plan::{
    Fault, FaultKind, FaultOutcome, FaultPlan, FaultPlanConfig, FaultWeights, ParsePlanError,
    ParsePlanErrorKind, Participant, PlanReport,
};
pub use proxy::TcpProxy;
pub use real::{four_letter_word, RealZooKeeper, RealZooKeeperBuilder};
pub use real_ensemble::{MemberMode, RealEnsemble, RealEnsembleBuilder};
pub use server::{NodeInfo, SessionInfo, TestServer, TestServerBuilder};
pub use trace::{Fields, TraceCapture};
pub use version::ServerVersion;

/// The crate's own README (its crates.io page), compiled as doc tests so its example cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;
