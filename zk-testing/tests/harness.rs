//! The real-server harness and the fault-injecting proxy, checked against a real ZooKeeper.

use std::io;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};
use zk_testing::{four_letter_word, RealZooKeeper, TcpProxy};

const WAIT: Duration = Duration::from_secs(10);

/// Polls `condition` every 10 ms for at most [`WAIT`].
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    for _ in 0..1000 {
        if condition() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(10)).await;
    }
    panic!("gave up waiting for {what}");
}

/// Reads until end-of-file, an error, or [`WAIT`]; returns what arrived and whether it ended.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    match timeout(WAIT, stream.read_to_end(&mut received)).await {
        Ok(Ok(_)) | Ok(Err(_)) => (received, true),
        Err(_) => (received, false),
    }
}

async fn proxy_to_shared() -> io::Result<TcpProxy> {
    TcpProxy::start(RealZooKeeper::shared().await?.addr()).await
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn shared_server_answers_four_letter_words() -> io::Result<()> {
    let zk = RealZooKeeper::shared().await?;
    assert_eq!(zk.four_letter_word("ruok").await?, "imok");
    let srvr = zk.four_letter_word("srvr").await?;
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    if !zk.is_external() {
        assert_eq!(zk.connect_string(), format!("127.0.0.1:{}", zk.port()));
        assert!(zk.addr().ip().is_loopback());
    }
    Ok(())
}

#[tokio::test]
async fn shared_server_is_one_server() -> io::Result<()> {
    let first = RealZooKeeper::shared().await?;
    let second = RealZooKeeper::shared().await?;
    assert!(std::ptr::eq(first, second));
    Ok(())
}

#[tokio::test]
async fn four_letter_word_rejects_other_lengths() {
    let addr = "127.0.0.1:9".parse().unwrap();
    let error = four_letter_word(addr, "ruokk").await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn proxy_forwards_both_ways() -> io::Result<()> {
    let proxy = proxy_to_shared().await?;
    assert_eq!(four_letter_word(proxy.addr(), "ruok").await?, "imok");
    let srvr = four_letter_word(proxy.addr(), "srvr").await?;
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    assert_eq!(proxy.total_accepted(), 2);
    eventually("the proxied connections to close", || proxy.connections() == 0).await;
    Ok(())
}

#[tokio::test]
async fn cut_all_closes_open_connections() -> io::Result<()> {
    let proxy = proxy_to_shared().await?;
    let mut first = TcpStream::connect(proxy.addr()).await?;
    let mut second = TcpStream::connect(proxy.addr()).await?;
    eventually("two open connections", || proxy.connections() == 2).await;

    proxy.cut_all();
    let (bytes, closed) = read_until_closed(&mut first).await;
    assert!(closed && bytes.is_empty(), "first: closed={closed}, got {bytes:?}");
    let (bytes, closed) = read_until_closed(&mut second).await;
    assert!(closed && bytes.is_empty(), "second: closed={closed}, got {bytes:?}");
    eventually("no open connections", || proxy.connections() == 0).await;

    // The proxy itself keeps working.
    assert_eq!(four_letter_word(proxy.addr(), "ruok").await?, "imok");
    Ok(())
}

#[tokio::test]
async fn stalled_proxy_holds_bytes_until_resumed() -> io::Result<()> {
    let proxy = proxy_to_shared().await?;
    proxy.set_stalled(true);
    let mut stream = TcpStream::connect(proxy.addr()).await?;
    stream.write_all(b"ruok").await?;
    let mut buffer = [0; 16];
    let early = timeout(Duration::from_millis(300), stream.read(&mut buffer)).await;
    assert!(early.is_err(), "a stalled proxy delivered {early:?}");
    assert_eq!(proxy.connections(), 1, "a stall keeps the connection open");

    proxy.set_stalled(false);
    let (bytes, closed) = read_until_closed(&mut stream).await;
    assert!(closed, "no end-of-file after resuming");
    assert_eq!(bytes, b"imok");
    Ok(())
}

#[tokio::test]
async fn refusing_proxy_closes_new_connections() -> io::Result<()> {
    let proxy = proxy_to_shared().await?;
    let mut kept = TcpStream::connect(proxy.addr()).await?;
    eventually("one open connection", || proxy.connections() == 1).await;

    proxy.set_refusing(true);
    let mut refused = TcpStream::connect(proxy.addr()).await?;
    let _ = refused.write_all(b"ruok").await;
    let (bytes, closed) = read_until_closed(&mut refused).await;
    assert!(closed && bytes.is_empty(), "closed={closed}, got {bytes:?}");
    assert_eq!(proxy.total_accepted(), 2);
    assert_eq!(proxy.connections(), 1, "refusal leaves current connections alone");

    kept.write_all(b"ruok").await?;
    let (bytes, _) = read_until_closed(&mut kept).await;
    assert_eq!(bytes, b"imok");

    proxy.set_refusing(false);
    assert_eq!(four_letter_word(proxy.addr(), "ruok").await?, "imok");
    Ok(())
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_connections() -> io::Result<()> {
    let proxy = proxy_to_shared().await?;
    let mut stream = TcpStream::connect(proxy.addr()).await?;
    eventually("one open connection", || proxy.connections() == 1).await;
    drop(proxy);
    let (_, closed) = read_until_closed(&mut stream).await;
    assert!(closed, "the connection outlived the proxy");
    Ok(())
}

#[tokio::test]
async fn own_server_honours_options_and_stops() -> io::Result<()> {
    let zk = RealZooKeeper::builder().tick_ms(500).max_session_timeout_ms(Some(5000)).start().await?;
    let shared = RealZooKeeper::shared().await?;
    assert_ne!(zk.port(), shared.port());
    assert!(!zk.is_external());
    let conf = zk.four_letter_word("conf").await?;
    assert!(conf.contains("tickTime=500"), "{conf}");
    assert!(conf.contains("maxSessionTimeout=5000"), "{conf}");
    let data_dir = zk.data_dir().expect("an owned server has a data dir").to_owned();
    assert!(data_dir.is_dir());
    assert!(zk.log_file().is_some_and(Path::is_file));

    let pid = zk.pid().expect("an owned server has a pid");
    assert!(process_exists(pid));
    let addr = zk.addr();
    zk.stop().await;
    assert!(!process_exists(pid), "java {pid} survived stop()");
    assert!(!data_dir.exists(), "stop() left {}", data_dir.display());
    assert!(four_letter_word(addr, "ruok").await.is_err());
    Ok(())
}

#[tokio::test]
async fn dropping_an_own_server_kills_it() -> io::Result<()> {
    let zk = RealZooKeeper::start().await?;
    let pid = zk.pid().expect("an owned server has a pid");
    assert_eq!(zk.four_letter_word("ruok").await?, "imok");
    drop(zk);
    assert!(!process_exists(pid), "java {pid} survived drop");
    Ok(())
}

#[tokio::test]
async fn external_server_is_left_alone() -> io::Result<()> {
    let shared = RealZooKeeper::shared().await?;
    let external = RealZooKeeper::external(&shared.connect_string()).await?;
    assert!(external.is_external());
    assert_eq!(external.addr(), shared.addr());
    assert_eq!((external.pid(), external.data_dir()), (None, None));
    assert_eq!(external.four_letter_word("ruok").await?, "imok");
    external.stop().await;
    assert_eq!(shared.four_letter_word("ruok").await?, "imok");
    Ok(())
}
