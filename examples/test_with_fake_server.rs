//! How to test coordination code deterministically with zk-testing: an in-process embedded
//! server, tokio's paused clock (a 10 s session expiry takes milliseconds of real time) and
//! faults on command or drawn from a seeded RNG.
//!
//! ```text
//! cargo run --example test_with_fake_server                    # runs the scenarios, exit 1 on failure
//! cargo test -p zk-examples --example test_with_fake_server    # the same scenarios as #[tokio::test]s
//! ZK_TEST_SEED=7 cargo run --example test_with_fake_server     # replay one seed
//! ```
//!
//! The code under test is [`run_service`]: a service that keeps an ephemeral registration
//! node while it runs and registers again, in a new session, when its session expires. In your
//! own crate, put the scenarios in `tests/` and add zk-testing (and tokio's `test-util`
//! feature) as dev-dependencies.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout, Instant};
use zk_core::proto::{ErrorCode, OpCode};
use zk_core::{Client, ClientBuilder, CreateMode, Error, SessionEvent};
use zk_testing::{Chaos, RequestMatcher, TestServer};

// ---------------------------------------------------------------------------------------------
// The code under test. In a real project this lives in your library, written against
// `zk_core::ClientBuilder` so a test can hand it `server.client_builder()` and production code
// `Client::builder("zk1:2181,zk2:2181")`.
// ---------------------------------------------------------------------------------------------

/// What the service reports, so a test can follow it step by step without sleeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceEvent {
    /// The registration node exists and is owned by this session.
    Registered {
        /// The session that owns the node.
        session: i64,
    },
    /// The session expired; the node is gone with it.
    SessionExpired {
        /// The session that expired.
        session: i64,
    },
}

/// Sessions (one per expiry) before the service gives up.
const MAX_SESSIONS: u32 = 100;
/// Attempts at each registration step before giving up on retryable errors.
const MAX_ATTEMPTS: u32 = 50;

/// Keeps the ephemeral node `/services/<name>` while running; after an expiry, registers again
/// in a new session. Returns when `stop` turns true.
///
/// # Errors
/// A non-retryable ZooKeeper error (e.g. `NoAuth`), or retryable ones more than
/// `MAX_ATTEMPTS` times in a row.
pub async fn run_service(
    builder: ClientBuilder,
    name: &str,
    events: mpsc::UnboundedSender<ServiceEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let path = format!("/services/{name}");
    // One client for the service's lifetime: when its session expires it opens a new one by
    // itself and says so with `NewSession`.
    let zk = builder.connect().await?;
    let mut session = zk.session_events(); // starts with `Connected`
    let mut current = zk.session_id();
    register(&zk, &path).await?;
    let _ = events.send(ServiceEvent::Registered { session: current });
    let mut sessions = 1;
    loop {
        let event = tokio::select! {
            _ = stop.wait_for(|s| *s) => None,
            event = session.next_event() => Some(event),
        };
        match event {
            None => {
                zk.close().await; // deletes the ephemeral node at once
                return Ok(());
            }
            Some(Some(SessionEvent::Expired)) => {
                let _ = events.send(ServiceEvent::SessionExpired { session: current });
            }
            Some(Some(SessionEvent::NewSession { session_id })) => {
                sessions += 1;
                if sessions > MAX_SESSIONS {
                    return Err(Error::Closed);
                }
                current = session_id;
                register(&zk, &path).await?;
                let _ = events.send(ServiceEvent::Registered { session: current });
            }
            // Connected, Disconnected, TimeoutElapsed, Reconnected: the session (and our
            // node) may live on.
            Some(Some(e)) if !matches!(e, SessionEvent::Closed | SessionEvent::AuthFailed) => continue,
            Some(_) => return Err(zk.state().terminal_error()),
        }
    }
}

/// Creates the node, coping with ConnectionLoss: a create whose reply was lost may have been
/// applied, so a `NodeExists` for a node our session owns is a success.
async fn register(zk: &Client, path: &str) -> Result<(), Error> {
    let mut last = Error::ConnectionLoss;
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            sleep(Duration::from_millis(10 * u64::from(attempt.min(20)))).await;
        }
        let created = match zk.create("/services", b"", CreateMode::Persistent).await {
            Ok(_) | Err(Error::NodeExists) => zk.create(path, b"", CreateMode::Ephemeral).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match created {
            Ok(()) => return Ok(()),
            Err(Error::NodeExists) => match zk.exists(path).await {
                Ok(Some(stat)) if stat.ephemeral_owner == zk.session_id() => return Ok(()),
                Ok(_) => last = Error::NodeExists, // someone else's: wait for it to go
                Err(e) if e.is_retryable() => last = e,
                Err(e) => return Err(e),
            },
            Err(e) if e.is_retryable() => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

// ---------------------------------------------------------------------------------------------
// The scenarios. Each is an ordinary async fn returning an error message on failure, so the
// same code runs from `main` and from `#[tokio::test(start_paused = true)]`.
// ---------------------------------------------------------------------------------------------

/// A fail-fast check that returns the message instead of panicking.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// The longest (virtual) time any step may take.
const STEP: Duration = Duration::from_secs(120);

/// The service under test, started on `server`, with a handle to follow and stop it.
struct Harness {
    events: mpsc::UnboundedReceiver<ServiceEvent>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

impl Harness {
    fn start(server: &TestServer, name: &'static str) -> Harness {
        let (tx, events) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let builder = server.client_builder().session_timeout(Duration::from_secs(10));
        let task = tokio::spawn(async move { run_service(builder, name, tx, stop_rx).await });
        Harness { events, stop, task }
    }

    async fn next(&mut self) -> Result<ServiceEvent, String> {
        match timeout(STEP, self.events.recv()).await {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err("the service stopped early".to_owned()),
            Err(_) => Err(format!("no service event within {STEP:?}")),
        }
    }

    async fn finish(self) -> Result<(), String> {
        let _ = self.stop.send(true);
        match timeout(STEP, self.task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            other => Err(format!("the service did not stop cleanly: {other:?}")),
        }
    }
}

/// The owner of `/services/<name>` as the server sees it, if the node exists.
fn owner(server: &TestServer, name: &str) -> Option<i64> {
    let path = format!("/services/{name}");
    server.node(&path).map(|n| n.stat.ephemeral_owner)
}

/// The session is cut off for a minute: it expires after its 10 s timeout (virtual time), the
/// node goes with it, and the service registers again in a new session.
async fn survives_session_expiry(seed: u64) -> Result<(), String> {
    let server = TestServer::builder().no_tcp().seed(seed).start().await.map_err(|e| e.to_string())?;
    let mut service = Harness::start(&server, "billing");
    let ServiceEvent::Registered { session: first } = service.next().await? else {
        return Err("expected a registration first".to_owned());
    };
    ensure!(owner(&server, "billing") == Some(first), "the node is not owned by session {first:x}");

    let cut_at = Instant::now();
    ensure!(server.partition_session(first, Duration::from_secs(60)), "no session {first:x}");
    ensure!(service.next().await? == ServiceEvent::SessionExpired { session: first }, "expected an expiry");
    // Virtual time: the server waited out the whole session timeout, in no real time at all.
    ensure!(cut_at.elapsed() >= Duration::from_secs(10), "expired early, after {:?}", cut_at.elapsed());
    let ServiceEvent::Registered { session: second } = service.next().await? else {
        return Err("expected a new registration".to_owned());
    };
    ensure!(second != first, "the expired session came back");
    ensure!(owner(&server, "billing") == Some(second), "the node is not owned by the new session");
    service.finish().await?;
    ensure!(owner(&server, "billing").is_none(), "the node outlived the service");
    Ok(())
}

/// The create is applied but its reply is lost: the service sees ConnectionLoss, retries, finds
/// its own node and does not create a second one.
async fn survives_a_lost_reply(seed: u64) -> Result<(), String> {
    let server = TestServer::builder().no_tcp().seed(seed).start().await.map_err(|e| e.to_string())?;
    server.lose_next_reply(RequestMatcher::op(OpCode::Create2).path_prefix("/services/"));
    let mut service = Harness::start(&server, "search");
    let ServiceEvent::Registered { session } = service.next().await? else {
        return Err("expected a registration".to_owned());
    };
    ensure!(
        server.children("/services") == ["/services/search"],
        "nodes: {:?}",
        server.children("/services")
    );
    ensure!(owner(&server, "search") == Some(session), "the node is not ours");
    service.finish().await
}

/// A non-retryable error is reported, not retried forever.
async fn reports_a_permanent_error(seed: u64) -> Result<(), String> {
    let server = TestServer::builder().no_tcp().seed(seed).start().await.map_err(|e| e.to_string())?;
    server.fail_next(RequestMatcher::op(OpCode::Create2).path_prefix("/services/"), ErrorCode::NoAuth);
    let service = Harness::start(&server, "audit");
    let result = timeout(STEP, service.task).await.map_err(|_| "the service hung".to_owned())?;
    ensure!(matches!(result, Ok(Err(Error::NoAuth))), "expected NoAuth, got {result:?}");
    Ok(())
}

/// Random dropped connections, lost replies and latency, drawn from the seed: the service
/// still ends up registered exactly once. A failure replays with the same seed.
async fn survives_chaos(seed: u64) -> Result<(), String> {
    let server = TestServer::builder().no_tcp().seed(seed).start().await.map_err(|e| e.to_string())?;
    server.set_chaos(Some(Chaos {
        drop_connection: 0.1,
        lose_reply: 0.2,
        max_latency: Duration::from_millis(50),
    }));
    let mut service = Harness::start(&server, "mail");
    let ServiceEvent::Registered { session } = service.next().await? else {
        return Err("expected a registration".to_owned());
    };
    server.set_chaos(None);
    ensure!(owner(&server, "mail") == Some(session), "the node is not ours");
    ensure!(server.children("/services") == ["/services/mail"], "nodes: {:?}", server.children("/services"));
    service.finish().await
}

/// Runs every scenario with `seed`, printing one line each; the first failure is returned.
async fn run_all(seed: u64) -> Result<(), String> {
    let started = std::time::Instant::now(); // wall clock, only to show how fast this is
    let virtual_start = Instant::now();
    for (name, result) in [
        ("survives_session_expiry", survives_session_expiry(seed).await),
        ("survives_a_lost_reply", survives_a_lost_reply(seed).await),
        ("reports_a_permanent_error", reports_a_permanent_error(seed).await),
        ("survives_chaos", survives_chaos(seed).await),
    ] {
        match result {
            Ok(()) => println!("ok   {name}"),
            Err(why) => return Err(format!("FAIL {name}: {why} (rerun with ZK_TEST_SEED={seed})")),
        }
    }
    println!(
        "all scenarios passed with seed {seed}: {:?} of virtual time in {:?} of real time",
        virtual_start.elapsed(),
        started.elapsed()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let seed = std::env::var("ZK_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(42);
    // What `#[tokio::test(start_paused = true)]` does: a current-thread runtime whose clock
    // only moves when every task is idle, jumping straight to the next timer.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run_all(seed)),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("{why}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    //! The same scenarios as tests: `cargo test -p zk-examples --example test_with_fake_server`.
    use super::*;

    const SEED: u64 = 42;

    #[tokio::test(start_paused = true)]
    async fn session_expiry() {
        survives_session_expiry(SEED).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn lost_reply() {
        survives_a_lost_reply(SEED).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_error() {
        reports_a_permanent_error(SEED).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn chaos_over_many_seeds() {
        for seed in 0..20 {
            survives_chaos(seed).await.unwrap();
        }
    }
}
