//! zk-core against a real 3-member ZooKeeper 3.8 ensemble ([`RealEnsemble`]): replication
//! between members, a change of leader, and the loss and return of the quorum.
//!
//! Every client call is bounded (`CALL_LIMIT`), so a client that hangs fails the test instead
//! of stalling it.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use tokio::time::{sleep, timeout, Instant};
use zk_core::{Client, CreateMode, Error};
use zk_testing::{MemberMode, RealEnsemble};

type TestResult = Result<(), Box<dyn StdError>>;

/// One client call; generous, since a call may span a reconnection.
const CALL_LIMIT: Duration = Duration::from_secs(15);
/// A new leader at 500 ms ticks takes about a second; this is for a loaded machine.
const ELECTION_LIMIT: Duration = Duration::from_secs(30);
/// How long a write may take to fail once the quorum is gone (see the quorum test).
const NO_QUORUM_WRITE_LIMIT: Duration = Duration::from_secs(3);
const RETRY_LIMIT: Duration = Duration::from_secs(20);
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// `future`, or an error naming `what` if it takes longer than [`CALL_LIMIT`].
async fn bounded<T, E>(what: &str, future: impl Future<Output = Result<T, E>>) -> Result<T, Box<dyn StdError>>
where
    E: StdError + 'static,
{
    match timeout(CALL_LIMIT, future).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(format!("{what}: no answer within {CALL_LIMIT:?}").into()),
    }
}

/// Creates `path`, retrying while the client reconnects (at most [`RETRY_LIMIT`]). A
/// `NodeExists` after a failed attempt (here, or before the call: `failed_before`) counts as
/// success: a write that ended in `ConnectionLoss` may have been applied anyway.
async fn create_eventually(client: &Client, path: &str, data: &[u8], mut failed_before: bool) -> TestResult {
    let deadline = Instant::now() + RETRY_LIMIT;
    for _ in 0..(RETRY_LIMIT.as_millis() / RETRY_PAUSE.as_millis()) {
        match timeout(CALL_LIMIT, client.create(path, data, CreateMode::Persistent)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(Error::NodeExists)) if failed_before => return Ok(()),
            Ok(Err(e)) if !e.is_retryable() => return Err(format!("create {path}: {e}").into()),
            Ok(Err(_)) | Err(_) => failed_before = true,
        }
        if Instant::now() >= deadline {
            break;
        }
        sleep(RETRY_PAUSE).await;
    }
    Err(format!("create {path}: still failing after {RETRY_LIMIT:?}").into())
}

/// Polls member `i` until it reports `mode` (at most [`ELECTION_LIMIT`]).
async fn wait_for_mode(zk: &RealEnsemble, i: usize, mode: MemberMode) -> TestResult {
    let deadline = Instant::now() + ELECTION_LIMIT;
    let mut last = None;
    for _ in 0..(ELECTION_LIMIT.as_millis() / RETRY_PAUSE.as_millis()) {
        last = Some(zk.mode(i).await);
        if matches!(last, Some(Ok(m)) if m == mode) || Instant::now() >= deadline {
            break;
        }
        sleep(RETRY_PAUSE).await;
    }
    match last {
        Some(Ok(m)) if m == mode => Ok(()),
        _ => Err(format!("member {i} is not {mode:?} but {last:?}").into()),
    }
}

/// The member whose client address is not the one `client` is connected to.
fn another_member(zk: &RealEnsemble, client: &Client) -> usize {
    let connected = client.connected_server();
    let is_other = |&i: &usize| connected.as_deref() != Some(zk.member_connect_string(i).as_str());
    (0..zk.size()).find(is_other).expect("three members, one connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_read_through_another_member_and_survives_the_leader() -> TestResult {
    let mut zk = RealEnsemble::start().await?;
    let writer = bounded("connect", Client::connect(&zk.connect_string())).await?;
    bounded("create", writer.create("/replicated", b"v1", CreateMode::Persistent)).await?;

    // Another member may lag behind the one that took the write until `sync`.
    let other = another_member(&zk, &writer);
    let reader = bounded("connect", Client::connect(&zk.member_connect_string(other))).await?;
    bounded("sync", reader.sync("/replicated")).await?;
    assert_eq!(bounded("get_data", reader.get_data("/replicated")).await?.0, b"v1");

    let leader = zk.leader().await.ok_or("no leader after start")?;
    zk.kill(leader).await;
    let new_leader = zk.wait_for_quorum(ELECTION_LIMIT).await?;
    assert_ne!(new_leader, leader);
    create_eventually(&writer, "/after-election", b"v2", false).await?;

    // The old leader comes back as a follower and catches up from the new one.
    assert_eq!(zk.restart(leader).await?, MemberMode::Follower);
    let rejoined = bounded("connect", Client::connect(&zk.member_connect_string(leader))).await?;
    bounded("sync", rejoined.sync("/after-election")).await?;
    assert_eq!(bounded("get_data", rejoined.get_data("/after-election")).await?.0, b"v2");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_fails_without_quorum_and_succeeds_once_it_is_back() -> TestResult {
    let mut zk = RealEnsemble::start().await?;
    let client = bounded("connect", Client::connect(&zk.connect_string())).await?;
    bounded("create", client.create("/before", b"", CreateMode::Persistent)).await?;

    // The leader survives: it has to notice that its followers are gone and step down.
    let leader = zk.leader().await.ok_or("no leader after start")?;
    let killed = zk.kill_quorum().await;
    assert_eq!(killed.len(), 2);
    assert!(!killed.contains(&leader), "{killed:?} includes the leader {leader}");
    let write = timeout(NO_QUORUM_WRITE_LIMIT, client.create("/during", b"x", CreateMode::Persistent)).await;
    match write {
        Ok(Ok(_)) => panic!("a write succeeded without a quorum"),
        Ok(Err(e)) => assert_eq!(e, Error::ConnectionLoss),
        // The client kept the request queued instead of failing it: a client bug being fixed
        // elsewhere. What matters here is that the write did not succeed.
        Err(_) => {}
    }
    // A surviving leader steps down within a tick of losing its followers (~0.4 s at 500 ms).
    wait_for_mode(&zk, leader, MemberMode::NotServing).await?;

    zk.restart_all().await?;
    // A write that failed with ConnectionLoss may still be committed: the old leader logged the
    // proposal before stepping down, has the highest zxid and is usually elected again.
    create_eventually(&client, "/during", b"x", true).await?;
    assert_eq!(bounded("get_data", client.get_data("/during")).await?.0, b"x");
    Ok(())
}

/// The next session event within `limit`, or an error naming `what`.
async fn next_session_event(
    events: &mut zk_core::SessionEvents,
    limit: Duration,
    what: &str,
) -> Result<zk_core::SessionEvent, Box<dyn StdError>> {
    match timeout(limit, events.next_event()).await {
        Ok(Some(ev)) => Ok(ev),
        Ok(None) => Err(format!("{what}: the event stream ended").into()),
        Err(_) => Err(format!("{what}: no session event within {limit:?}").into()),
    }
}

/// The quorum is down for longer than the session timeout, then back: the ensemble kept the
/// session (a newly elected leader restarts every session's timer), so the client must not
/// give it up on its own. It announces the elapsed timeout, then resumes the same session,
/// whose ephemeral node is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_a_quorum_loss_longer_than_its_timeout() -> TestResult {
    use zk_core::SessionEvent;
    let mut zk = RealEnsemble::start().await?;
    let session_timeout = Duration::from_secs(4);
    let client = Client::builder(&zk.connect_string()).session_timeout(session_timeout).connect().await?;
    assert_eq!(client.session_timeout(), session_timeout, "negotiated timeout");
    let mut events = client.session_events();
    assert_eq!(next_session_event(&mut events, CALL_LIMIT, "first").await?, SessionEvent::Connected);
    let id = client.session_id();
    bounded("create the ephemeral", client.create("/eph", b"", CreateMode::Ephemeral)).await?;

    let down_at = Instant::now();
    zk.kill_quorum().await;
    // The surviving member may serve for a moment before it notices the quorum is gone: the
    // client may reconnect to it and lose it again before the timeout is announced.
    let mut announced = false;
    for _ in 0..10 {
        match next_session_event(&mut events, 3 * session_timeout, "quorum lost").await? {
            SessionEvent::Disconnected | SessionEvent::Reconnected => {}
            SessionEvent::TimeoutElapsed => {
                announced = true;
                break;
            }
            other => return Err(format!("while the quorum is down: unexpected {other:?}").into()),
        }
    }
    assert!(announced, "no TimeoutElapsed while the quorum was down");
    assert_eq!(client.session_id(), id, "the client did not give the session up");
    // Down for one and a half session timeouts in all.
    sleep((session_timeout * 3 / 2).saturating_sub(down_at.elapsed())).await;
    zk.restart_all().await?;
    let back = next_session_event(&mut events, ELECTION_LIMIT, "quorum back").await?;
    assert_eq!(back, SessionEvent::Reconnected, "the same session resumed, not a new one");
    assert_eq!(client.session_id(), id);
    let stat = bounded("read the ephemeral", client.exists("/eph")).await?.ok_or("the ephemeral is gone")?;
    assert_eq!(stat.ephemeral_owner, id);
    Ok(())
}
